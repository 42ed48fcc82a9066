#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Benchmark: ferry against each endless or flooding scenario of the scripted hostile server
# (tests/hostile/server.pl), one run each; prints scenario, exit status, seconds and the peak
# RSS of ferry and its children (GNU time's %M: the largest ru_maxrss of ferry and the
# children it waited for, the IMAP session among them; the larger of that and what a watchdog
# polling VmHWM of every process of the run saw). The watchdog kills a run above 512 MB or
# after 30 s, so a build without bounds can be measured too (its row then says "killed").
#
#   tests/bench/hostile_memory.sh [FERRY]     (perl, sqlite3, GNU time, setsid; no Dovecot)
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FERRY=${1:-${FERRY:-$here/../../build/ferry}}
KILL_KB=524288
KILL_TIME=30
SCENARIOS=(endless-greeting endless-capability endless-list endless-fetch body-over-size huge-header-literal
	exists-flood fetch-flood)
# shellcheck source=../integration/lib.sh
. "$here/../integration/lib.sh"
# shellcheck source=../integration/hostile_lib.sh
. "$here/../integration/hostile_lib.sh"

for tool in perl sqlite3 /usr/bin/time setsid; do
	command -v "$tool" >/dev/null || {
		echo "$0: $tool is needed" >&2
		exit 2
	}
done
[[ -x $FERRY ]] || {
	echo "$0: no ferry at $FERRY" >&2
	exit 2
}
# shellcheck disable=SC2034 # SRV_PID, CASE, ROOT and STATE are hostile_lib.sh's
top=$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench-hostile.XXXXXX") || exit 1
SRV_PID=
trap hostile_cleanup EXIT
export HOME=$top/home
mkdir -p "$HOME"

# peak_of PID: VmHWM of PID in kB, 0 when it is gone.
peak_of() {
	local k v rest
	{
		while read -r k v rest; do
			[[ $k == VmHWM: ]] && echo "$v" && return
		done <"/proc/$1/status"
	} 2>/dev/null
	echo 0
}

printf '%-22s %6s %9s %14s\n' scenario exit seconds "peak RSS (MB)"
for scenario in "${SCENARIOS[@]}"; do
	CASE=$scenario
	dir=$top/$scenario
	ROOT=$dir/Mail
	STATE=$dir/state.sqlite
	CONF=$dir/ferry.conf
	mkdir -p "$dir"
	hostile_server_start "$dir" "$scenario" none >/dev/null || continue
	hostile_conf_finish
	t0=$EPOCHREALTIME
	seen=0
	killed=
	setsid /usr/bin/time -f %M -o "$dir/rss" "$FERRY" -c "$CONF" sync </dev/null \
		>"$dir/out" 2>&1 &
	sid=$!
	while kill -0 "$sid" 2>/dev/null; do
		for p in $(pgrep -s "$sid"); do
			kb=$(peak_of "$p")
			((kb > seen)) && seen=$kb
		done
		if ((seen > KILL_KB)) ||
			awk -v a="$t0" -v b="$EPOCHREALTIME" -v l="$KILL_TIME" 'BEGIN { exit !(b - a > l) }'; then
			killed=" (killed)"
			kill -KILL -- "-$sid" 2>/dev/null
			break
		fi
		sleep 0.05
	done
	wait "$sid" 2>/dev/null
	rc=$?
	secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
	kb=$(tail -n 1 "$dir/rss" 2>/dev/null)
	[[ $kb =~ ^[0-9]+$ ]] || kb=0
	((seen > kb)) && kb=$seen
	printf '%-22s %6s %9s %14s\n' "$scenario" "$rc$killed" "$secs" \
		"$(awk -v k="$kb" 'BEGIN { printf "%.1f", k / 1024 }')"
	server_stop
done
