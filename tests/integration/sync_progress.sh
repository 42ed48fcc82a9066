#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The progress line: on a terminal, stderr shows "CHANNEL: folder i/n, done/total msgs, MB,
# rate, ETA", redrawn in place ("\r\e[K"), taken off before any other line is printed, and
# counted also when parallel workers do the copying (they send their counts over their pipe).
# Nothing of it when stderr is not a terminal or with -q; the per-folder lines stay as they are.
# The terminal is a pseudo-terminal made by script(1).
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=sync_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

sync_setup
n=0
for f in Alpha Beta Gamma; do
	dovecot_bulk_seed alice "$f" 150 $((n * 1000 + 1)) 20000
	n=$((n + 1))
done

# on_tty ARGS...: ferry ARGS with stdout and stderr on a pseudo-terminal; T_OUT gets what the
# terminal received, with each "\r\e[K" (the line taken back) turned into a line break.
ESC=$'\033'
on_tty() {
	local cmd
	printf -v cmd '%q ' "$FERRY" "$@"
	T_RAW=$(script -qec "$cmd" /dev/null)
	T_RC=$?
	T_OUT=${T_RAW//$'\r'"$ESC[K"/$'\n'}
	T_OUT=${T_OUT//$'\r'/}
}

# --- parallel workers: their counts reach the line (nine folders: the fixture has six more) ---
on_tty -c "$CONF" sync test
t_equal "the sync exits 0" 0 "$T_RC"
t_contains "a progress line was drawn in place" "$T_RAW" $'\r'"$ESC[Ktest: folder "
# Redraws are throttled: the last state need not be drawn before the line goes.
t_matches "the workers' messages were counted" "$T_OUT" 'test: folder [0-9]/9, [1-9][0-9]*/450 msgs'

t_contains "the megabytes too" "$T_OUT" "/9 MB"
t_contains "the per-folder lines are as they were" "$T_OUT" "Alpha: far->near +150 ~0 -0"
t_equal "no line holds both progress and another message" "" \
	"$(grep -E 'msgs, .*(far->near|error|warning)' <<<"$T_OUT")"
converged Alpha 150

# --- one connection, uploads ----------------------------------------------------------------------
sed -i "s/^\[imap server\]$/[imap server]\nconnections = 1/" "$CONF"
for ((i = 1; i <= 40; i++)); do md_write Beta "$((5000 + i))" "upload $i"; done
on_tty -c "$CONF" sync test
t_equal "the upload exits 0" 0 "$T_RC"
t_matches "uploads are counted" "$T_OUT" 'test: folder 0/1, [0-9]+/40 msgs'
t_contains "the folder line" "$T_OUT" "Beta: near->far +40 ~0 -0"

# --- no terminal, -q: no line ---------------------------------------------------------------------
dovecot_bulk_seed alice Gamma 30 5001 2000
"$FERRY" -c "$CONF" sync test >"$WORK/out" 2>"$WORK/err"
t_equal "without a terminal: exit 0" 0 "$?"
t_equal "without a terminal: no escape sequence on stderr" "" "$(grep -c "$ESC" "$WORK/err" | grep -v '^0$')"
t_contains "and the folder line on stdout" "$(cat "$WORK/out")" "Gamma: far->near +30 ~0 -0"
dovecot_bulk_seed alice Gamma 30 6001 2000
on_tty -q -c "$CONF" sync test
t_equal "-q: exit 0" 0 "$T_RC"
t_not_contains "-q: no progress line" "$T_RAW" "msgs,"

t_done
