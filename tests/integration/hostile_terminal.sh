#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Nothing from the outside reaches the terminal raw (issue 13, item 12): a scripted server
# (tests/hostile/server.pl) whose greeting, ALERT, folder names, NO to SELECT and NO to LOGIN
# carry an OSC that sets the window title, CSI 2 J that clears the screen, and the C1 CSI
# (U+009B). ferry runs sync, list and check against it, with -v and without: its stdout and
# stderr hold none of ESC, BEL or C1, and the escaped form shows where the text was quoted.
#
# Needs perl (core modules only) and sqlite3; no Dovecot.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
# shellcheck source=hostile_lib.sh
. "$here/hostile_lib.sh"

hostile_init terminal
T_TIMEOUT=45

# case_setup NAME SCENARIO: a fresh Maildir, state and config for SCENARIO's server.
case_setup() {
	CASE=$1
	local dir=$top/$CASE
	ROOT=$dir/Mail
	STATE=$dir/state/test.sqlite
	CONF=$dir/ferry.conf
	mkdir -p "$ROOT" "$dir/state"
	server_stop
	hostile_server_start "$dir" "$2" none && hostile_conf_finish
}

# run_clean DESC FERRY-ARGS...: runs ferry with stdout and stderr in files of their own; both
# must hold no ESC, BEL, raw C1 byte or UTF-8-encoded C1 character. Leaves the output in OUT.
run_clean() {
	local desc=$1 out=$top/$CASE/out err=$top/$CASE/err raw
	shift
	timeout -k 5 "$T_TIMEOUT" "$FERRY" -c "$CONF" "$@" </dev/null >"$out" 2>"$err"
	OUT=$(cat "$out" "$err")
	for f in "$out" "$err"; do
		# C1 as UTF-8 is C2 80..C2 9F; every other byte 0x80-0x9f seen here would be raw C1
		# (this output has no other non-ASCII text).
		raw=$(LC_ALL=C tr -dc '\000-\010\013-\037\177\200-\237' <"$f" | od -An -tx1 | tr -d ' \n')
		t_equal "$desc: $(basename "$f") holds no control character" "" "$raw"
	done
}

case_setup escapes terminal-escapes
for v in "" -v; do
	run_clean "sync $v" ${v:+"$v"} sync
	# The response text already drops C0 controls; C1 is what is left to escape.
	t_contains "sync $v: the refused SELECT is quoted, escaped" "$OUT" \
		'\xc2\x9b2J\x9b2J cannot select'
	t_contains "sync $v: the folder with a raw ESC is named, escaped" "$OUT" 'osc\x1b]0;pwned'
done
t_contains "sync -v: the greeting is traced, escaped" "$OUT" \
	'\e]0;pwned\x07\e[2J\xc2\x9b2J\x9b2J hostile test server ready'
t_contains "sync -v: the ALERT is traced, escaped" "$OUT" '[ALERT] \e]0;pwned\x07\e[2J\xc2\x9b2J\x9b2J read this'
run_clean "list" list
run_clean "status" status
run_clean "check -v" -v check hostile
t_contains "check -v: the greeting is traced, escaped" "$OUT" \
	'\e]0;pwned\x07\e[2J\xc2\x9b2J\x9b2J hostile test server ready'

case_setup login terminal-login-no
for v in "" -v; do
	run_clean "check $v, login refused" ${v:+"$v"} check hostile
	t_contains "check $v: the NO is quoted, escaped" "$OUT" '\xc2\x9b2J\x9b2J no entry'
	run_clean "sync $v, login refused" ${v:+"$v"} sync
done
server_stop

# Folder names from disk: a Maildir folder whose name holds U+009B (valid UTF-8, a C1 control)
# next to a clean one, Maildir against Maildir. The dry run prints the plan with the names.
CASE=disk
mkdir -p "$top/disk/a/Clean"/{cur,new,tmp} "$top/disk/a/c1"$'\xc2\x9b'"2J"/{cur,new,tmp} \
	"$top/disk/b"
CONF=$top/disk/ferry.conf
cat >"$CONF" <<CONF
[maildir a]
path = $top/disk/a

[maildir b]
path = $top/disk/b

[channel disk]
far = a
near = b
state = $top/disk/state.sqlite
CONF
for v in "" -v; do
	run_clean "sync --dry-run $v of a name with U+009B" ${v:+"$v"} sync --dry-run
	t_contains "sync --dry-run $v: the clean folder is planned" "$OUT" "Clean"
done
run_clean "sync of a name with U+009B" sync
t_contains "sync: the name is named, escaped" "$OUT" 'c1\xc2\x9b2J'
t_equal "sync: the folder was not copied" no \
	"$([[ -e $top/disk/b/c1$'\xc2\x9b'2J ]] && echo yes || echo no)"
run_clean "list with a name with U+009B" list
run_clean "status with a name with U+009B" status

t_done
