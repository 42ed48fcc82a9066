#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# `ferry watch` against the scripted server's idle-untagged scenario: IDLE answered with
# "* 4 EXISTS" before "+ idling". libetpan 1.9.4's own IDLE would lose that line and block for a
# whole read timeout; ferry reads IDLE's lines itself, so it takes the EXISTS as a change, ends
# IDLE at once (DONE), does not take the same count again for news (no sync loop), and neither
# crashes nor spins.
#
# Needs perl (core modules only) and sqlite3; no Dovecot. Run by ctest, or by hand:
#	FERRY=/path/to/ferry bash tests/integration/hostile_watch.sh
set -uo pipefail # not -e: a failed assertion must not hide the ones after it

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
# shellcheck source=hostile_lib.sh
. "$here/hostile_lib.sh"

hostile_init hostile_watch

CASE=idle-untagged
SRVDIR=$top/srv
ROOT=$top/work/Mail
STATE=$top/work/state/test.sqlite
CONF=$SRVDIR/ferry.conf
WLOG=$top/watch.log
mkdir -p "$SRVDIR" "$ROOT" "${STATE%/*}"
hostile_server_start "$SRVDIR" idle-untagged none || t_done
hostile_conf_finish
SLOG=$SRVDIR/idle-untagged.log

WPID=
# shellcheck disable=SC2317 # run by the trap
watch_kill() {
	if [[ -n $WPID ]]; then
		kill -KILL "$WPID" 2>/dev/null
		wait "$WPID" 2>/dev/null
		WPID=
	fi
}
# shellcheck disable=SC2317 # run by the trap
cleanup() {
	watch_kill
	hostile_cleanup
}
trap cleanup EXIT

# cpu_ms PID: user + system CPU time of PID and its live children, in ms.
cpu_ms() {
	local tick total=0 p f
	tick=$(getconf CLK_TCK)
	for p in $1 $(ps -o pid= --ppid "$1" 2>/dev/null); do
		f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		f=${f##*) }
		# After the command name: state is field 3, utime 14, stime 15, cutime 16, cstime 17.
		read -r -a v <<<"$f"
		total=$((total + v[11] + v[12] + v[13] + v[14]))
	done
	echo $((total * 1000 / tick))
}

"$FERRY" -c "$CONF" watch test >"$WLOG" 2>&1 </dev/null &
WPID=$!

# IDLE's early EXISTS ends it at once: DONE follows IDLE within seconds, not a read timeout.
for ((i = 0; i < 80; i++)); do
	grep -q '^idle DONE\|^DONE' "$SLOG" 2>/dev/null && break
	sleep 0.1
done
t_ok "IDLE is sent" grep -q 'IDLE' "$SLOG"
t_ok "the EXISTS before '+ idling' ends IDLE within 8 s (DONE)" grep -q '^DONE' "$SLOG"
sleep 4
t_ok "watch is still running" kill -0 "$WPID"
cpu=$(cpu_ms "$WPID")
t_ok "and does not spin (${cpu} ms of CPU in about 8 s)" test "$cpu" -lt 2000
idles=$(grep -c ' IDLE$' "$SLOG")
t_ok "the repeated count is not news: IDLE is not re-issued in a loop ($idles)" test "$idles" -le 3

kill -INT "$WPID"
for ((i = 0; i < 200; i++)); do
	kill -0 "$WPID" 2>/dev/null || break
	sleep 0.1
done
wait "$WPID"
rc=$?
WPID=
t_equal "SIGINT ends it with 130" 130 "$rc"
t_not_contains "no crash" "$(cat "$WLOG")" "crashed"
if [[ $T_FAILED -gt 0 || -n ${SHOW_LOGS:-} ]]; then
	echo "# watch's log:"
	t__indent <"$WLOG"
	echo "# server's log:"
	t__indent <"$SLOG"
fi
t_done
