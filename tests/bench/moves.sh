#!/usr/bin/env bash
# Benchmark: 1,000 messages filed locally from INBOX into 10 folders, synced
# as moves (UID MOVE on the server, nothing uploaded), against the same change
# done the way a tool without move detection does it: 1,000 deletions plus
# 1,000 uploads. Same Dovecot, same corpus, one run; prints medians and the ratio.
#
#   tests/bench/moves.sh [FERRY] [RUNS]      (root; Dovecot from tests/fixtures)
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FERRY=${1:-$here/../../build/ferry}
RUNS=${2:-5}
N=1000
. "$here/../integration/lib.sh"
. "$here/../integration/sync_lib.sh"

sync_setup >/dev/null

now() { date +%s.%N; }

# one_run MODE: a fresh INBOX of N messages synced, then the change, then the timed sync.
one_run() {
	local mode=$1 i=0 f to t0 t1 mark
	rm -rf "$MAILDIR" "$WORK/state"
	for d in "$DOVECOT_DIR"/mail/alice/Maildir/.F*; do
		[[ -d $d ]] && dovecot_doveadm mailbox delete -u alice "${d##*/.}" >/dev/null 2>&1
	done
	dovecot_doveadm mailbox delete -u alice Bench >/dev/null 2>&1
	dovecot_bulk_seed alice Bench "$N" 1 4000
	"$FERRY" -q -c "$CONF" sync test || return 1
	for f in "$(md_dir Bench)"/cur/* "$(md_dir Bench)"/new/*; do
		[[ -f $f ]] || continue
		to=$(md_dir "F$((i % 10))")
		mkdir -p "$to/cur" "$to/new" "$to/tmp"
		if [[ $mode == move ]]; then
			mv "$f" "$to/${f#"$(md_dir Bench)"/}"
		else
			# A different identity: what a delete + upload has to send.
			{ printf 'X-Refiled: %d\n' "$i"; cat "$f"; } >"$to/new/refiled.$i"
			rm "$f"
		fi
		i=$((i + 1))
	done
	mark=$(dovecot_log_mark)
	t0=$(now)
	# --force-delete: emptying Bench is the point of the change, in both modes.
	"$FERRY" -q -c "$CONF" sync --force-delete test || return 1
	t1=$(now)
	printf '%s %s\n' "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" \
		"$(dovecot_log_since "$mark" | grep -c ': save:')"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

declare -A times saves
for mode in move reupload; do
	for ((r = 0; r < RUNS; r++)); do
		read -r t s < <(one_run "$mode") || { echo "run failed" >&2; exit 1; }
		times[$mode]+="$t"$'\n'
		saves[$mode]=$s
	done
done
m=$(printf '%s' "${times[move]}" | median)
d=$(printf '%s' "${times[reupload]}" | median)
printf '%-34s %10s %10s\n' "1,000 local refilings ($RUNS runs)" "median s" "uploads"
printf '%-34s %10.3f %10s\n' "ferry, as moves" "$m" "${saves[move]}"
printf '%-34s %10.3f %10s\n' "ferry, as deletions + uploads" "$d" "${saves[reupload]}"
printf '%-34s %10.2f\n' "ratio moves / delete+upload" "$(awk -v a="$m" -v b="$d" 'BEGIN {print a / b}')"
