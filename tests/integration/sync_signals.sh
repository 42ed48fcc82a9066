#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Signals as documented: SIGTERM or SIGINT sent to ferry's own pid (as systemd or `kill PID`
# do), not only to its process group, stops the run after the current batch: exit 143 or 130,
# the channels after it are not started, and the next run converges with nothing lost or
# duplicated. Ctrl-C (SIGINT to the whole process group) stops the whole run too.
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=sync_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

sync_setup

# run_and_signal WHAT SIG: starts `ferry sync` (both channels: test, then mirror) in a session
# of its own, waits until the test channel has delivered something locally, sends SIG to WHAT
# ("pid": ferry's pid only; "group": its process group, as a terminal's Ctrl-C does), and
# waits for it (60 s at most). Sets RC and OUT.
run_and_signal() {
	local what=$1 sig=$2 pid i start
	start=$(($(md_count INBOX) + $(md_count Work)))
	# A shell without job control starts a background command with SIGINT ignored; perl
	# gives ferry the default back, as a terminal or systemd would.
	perl -e '$SIG{INT} = "DEFAULT"; exec @ARGV or die' setsid "$FERRY" -c "$CONF" sync \
		>"$WORK/run.out" 2>&1 &
	pid=$!
	# Signalled once it is copying (its handlers are set by then).
	for ((i = 0; i < 300; i++)); do
		(($(md_count INBOX) + $(md_count Work) > start + 20)) && break
		sleep 0.1
	done
	if [[ $what == group ]]; then
		kill "-$sig" -- "-$pid"
	else
		kill "-$sig" "$pid"
	fi
	for ((i = 0; i < 600; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL -- "-$pid" 2>/dev/null
		t_fail "$what $sig: ferry ended within 60 s"
	fi
	wait "$pid"
	RC=$?
	OUT=$(cat "$WORK/run.out")
}

# The mirror channel copies alice's mail to bob: it must not start after a stop. Prints
# "started" or "not started".
mirror() {
	if [[ $OUT == *"mirror:"* ]] || (($(dovecot_count bob INBOX 2>/dev/null || echo 0) > 0)); then
		echo started
	else
		echo "not started"
	fi
}

dovecot_bulk_seed alice INBOX 1500 1 20000

run_and_signal pid TERM
t_equal "SIGTERM to ferry's pid: exit 143" 143 "$RC"
t_equal "SIGTERM: the mirror channel" "not started" "$(mirror)"
t_contains "SIGTERM: it says what was saved" "$OUT" "interrupted; what was done is saved"
local_now=$(md_count INBOX)
t_ok "SIGTERM: it stopped before the end ($local_now of 1500)" test "$local_now" -lt 1500

dovecot_bulk_seed alice Work 1500 5001 20000
run_and_signal pid INT
t_equal "SIGINT to ferry's pid: exit 130" 130 "$RC"
t_equal "SIGINT: the mirror channel" "not started" "$(mirror)"

run_and_signal group INT
t_equal "Ctrl-C (SIGINT to the process group): exit 130" 130 "$RC"
t_equal "Ctrl-C: the mirror channel" "not started" "$(mirror)"

ferry_sync test
t_equal "the next run exits 0" 0 "$T_RC"
converged INBOX 1500
converged Work 1500
ferry_sync test
t_contains "and a run after it changes nothing" "$T_OUT" "far->near +0 ~0 -0, near->far +0 ~0 -0"

t_done
