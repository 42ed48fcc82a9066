# shellcheck shell=bash
# Shared by hostile.sh and hostile_bodies.sh: the scripted IMAP server (tests/hostile/server.pl)
# on a free port of 127.0.0.1, started and waited for within 10 s, stopped by its pid, and the
# ferry config that points at it. Source after lib.sh; call hostile_init first.

HOSTILE_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FERRY=${FERRY:-$HOSTILE_REPO/build/ferry}
SERVER=$HOSTILE_REPO/tests/hostile/server.pl
export LC_ALL=C

# hostile_init NAME: checks that perl, sqlite3 and the ferry binary are there; makes $top
# (ferry-NAME.XXXXXX under TMPDIR), which the EXIT trap removes after stopping the server, and
# points HOME and the XDG directories inside it.
hostile_init() {
	local tool
	for tool in perl sqlite3; do
		if ! command -v "$tool" >/dev/null; then
			t_fail "$tool is installed" "this test needs $tool"
			t_done
		fi
	done
	t_need_ferry
	top=$(mktemp -d "${TMPDIR:-/tmp}/ferry-$1.XXXXXX") || exit 1
	SRV_PID=
	trap hostile_cleanup EXIT
	# Nothing of the user's, and nothing ferry could write outside $top unseen.
	export HOME=$top/home XDG_CONFIG_HOME=$top/home/.config XDG_STATE_HOME=$top/home/.local/state
	unset FERRY_CONFIG
	mkdir -p "$HOME"
}

# shellcheck disable=SC2317 # run by the trap
hostile_cleanup() {
	[[ -n $SRV_PID ]] && kill "$SRV_PID" 2>/dev/null && wait "$SRV_PID" 2>/dev/null
	rm -rf "$top"
}

# hostile_server_start DIR SCENARIO TLS [ARGS...]: starts the scripted server for SCENARIO (more
# ARGS go to it) on a free port of 127.0.0.1, with its port file, log and stderr in DIR; waits
# up to 10 s for it to listen; writes the [imap hostile] section of $CONF with tls = TLS.
# The server's pid is SRV_PID.
hostile_server_start() {
	local dir=$1 scenario=$2 tls=$3 portfile=$1/$2.port i
	shift 3
	rm -f "$portfile"
	perl "$SERVER" --scenario "$scenario" --port-file "$portfile" --log "$dir/$scenario.log" \
		"$@" --max-time 40 >/dev/null 2>"$dir/$scenario.err" &
	SRV_PID=$!
	for ((i = 0; i < 200; i++)); do
		[[ -s $portfile ]] && break
		sleep 0.05
	done
	if [[ ! -s $portfile ]]; then
		t_fail "$CASE: the scripted server listens" "$(cat "$dir/$scenario.err")"
		return 1
	fi
	cat >"$CONF" <<CONF
[imap hostile]
host = 127.0.0.1
port = $(cat "$portfile")
tls = $tls
user = tester
password = secret
CONF
}

# hostile_conf_finish: the rest of $CONF: a 10 s timeout, the Maildir $ROOT and channel "test"
# with its state in $STATE.
hostile_conf_finish() {
	cat >>"$CONF" <<CONF
timeout = 10

[maildir local]
path = $ROOT

[channel test]
far = hostile
near = local
state = $STATE
CONF
	chmod 600 "$CONF"
}

server_stop() {
	if [[ -n $SRV_PID ]]; then
		kill "$SRV_PID" 2>/dev/null
		wait "$SRV_PID" 2>/dev/null
	fi
	SRV_PID=
}

# For the memory suites (hostile_memory.sh, hostile_pop3.sh), which set KILL_KB and KILL_TIME.
# rss_of PID: the peak RSS (VmHWM, kB) of PID so far, 0 when it is gone.
rss_of() {
	local k v rest
	{
		while read -r k v rest; do
			if [[ $k == VmHWM: ]]; then
				echo "$v"
				return
			fi
		done <"/proc/$1/status"
	} 2>/dev/null
	echo 0
}

# measured_run COMMAND [ARGS...]: `ferry -c $CONF COMMAND ARGS` under GNU time and the watchdog.
# Sets T_RC, T_OUT, SECONDS_TAKEN, PEAK_KB (the larger of time's %M and what the watchdog saw)
# and KILLED (why the watchdog killed it, or empty).
measured_run() {
	local sid p kb seen=0 t0 rc
	t0=$EPOCHREALTIME
	KILLED=
	rm -f "$CASEDIR/rss"
	setsid /usr/bin/time -f %M -o "$CASEDIR/rss" env TMPDIR="$CASEDIR/tmp" \
		"$FERRY" -c "$CONF" "$@" </dev/null >"$CASEDIR/out" 2>&1 &
	sid=$!
	while kill -0 "$sid" 2>/dev/null; do
		for p in $(pgrep -s "$sid"); do
			kb=$(rss_of "$p")
			((kb > seen)) && seen=$kb
		done
		if ((seen > KILL_KB)); then
			KILLED="peak RSS ${seen} kB over ${KILL_KB} kB"
		elif awk -v a="$t0" -v b="$EPOCHREALTIME" -v l="$KILL_TIME" 'BEGIN { exit !(b - a > l) }'; then
			KILLED="still running after ${KILL_TIME} s"
		fi
		if [[ -n $KILLED ]]; then
			kill -KILL -- "-$sid" 2>/dev/null
			break
		fi
		sleep 0.05
	done
	wait "$sid" 2>/dev/null
	rc=$?
	SECONDS_TAKEN=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
	T_RC=$rc
	T_OUT=$(cat "$CASEDIR/out")
	kb=$(tail -n 1 "$CASEDIR/rss" 2>/dev/null)
	[[ $kb =~ ^[0-9]+$ ]] || kb=0
	PEAK_KB=$((kb > seen ? kb : seen))
}
