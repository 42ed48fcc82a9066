#!/usr/bin/env bash
# Crash safety (DESIGN rule 13): ferry killed with SIGKILL before and after
# every kind of action, and at random moments of a 2,000-message initial sync
# and a 300-message upload; each time a clean re-run converges with nothing
# lost and nothing duplicated. Also: a crash in one channel's child is that
# channel's error and the other channels still sync.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

KILLS=${FERRY_TEST_KILLS:-20}

t_expect_exit 0 "ferry is built with the crash hook" "$FERRY" --version
t_contains "--version says test hooks" "$T_OUT" "test hooks"

sync_setup

# crash_then_converge NAME SPEC FOLDER: a run killed at SPEC, then a clean run.
crash_then_converge() {
	local name=$1 spec=$2 folder=$3
	t_run env FERRY_CRASH_AT="$spec" "$FERRY" -c "$CONF" sync "test:$folder"
	t_equal "$name: the run was killed at $spec" 1 "$T_RC"
	t_contains "$name: reported as a crash of the channel" "$T_OUT" "crashed (signal 9"
	ferry_sync "test:$folder"
	t_equal "$name: the clean re-run exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
}

# --- every kind of action, killed before and after --------------------------
for when in "" ":after"; do
	tag=${when:-:before}
	tag=${tag#:}
	f="Down-$tag"
	for i in 1 2 3 4 5; do seed "$((100 + i))" "$f" "Download $i $tag"; done
	crash_then_converge "download ($tag)" "download:3$when" "$f"
	converged "$f" 5

	f="Up-$tag"
	for i in 1 2 3 4 5; do md_write "$f" "$((200 + i))" "Upload $i $tag"; done
	crash_then_converge "upload ($tag)" "upload:3$when" "$f"
	converged "$f" 5

	f="Flags-$tag"
	for i in 1 2 3; do seed "$((300 + i))" "$f" "Flag $i $tag"; done
	ferry_sync "test:$f"
	dovecot_doveadm flags add -u alice '\Flagged' mailbox "$f" all
	crash_then_converge "flag change ($tag)" "flags:1$when" "$f"
	for i in 1 2 3; do
		t_equal "flags ($tag): message $i flagged locally" F "$(md_letters "$f" "Flag $i $tag")"
	done

	f="Del-$tag"
	for i in 1 2 3 4; do seed "$((400 + i))" "$f" "Delete $i $tag"; done
	ferry_sync "test:$f"
	rm "$(md_file "$f" "Delete 1 $tag")" "$(md_file "$f" "Delete 2 $tag")"
	crash_then_converge "delete ($tag)" "delete:1$when" "$f"
	converged "$f" 2
done

# --- random SIGKILLs ------------------------------------------------------------
# kill_loop FOLDER: runs killed at random moments (10 to 200 ms in) until one
# finishes on its own (at most 60 runs), then a clean run. Adds to KILLED.
KILLED=0
kill_loop() {
	local folder=$1 i pid killed=0 rc=1
	for ((i = 0; i < 60; i++)); do
		setsid "$FERRY" -q -c "$CONF" sync "test:$folder" >/dev/null 2>&1 &
		pid=$!
		sleep "$(printf '0.%03d' $((RANDOM % 190 + 10)))"
		if ! kill -9 -- "-$pid" 2>/dev/null; then
			wait "$pid" 2>/dev/null
			rc=$?
			((rc == 0)) && break # it had finished on its own: the job is done
			continue             # e.g. 4: a killed run's child still held the lock
		fi
		killed=$((killed + 1))
		wait "$pid" 2>/dev/null
		# A killed run's child may still be in fsync holding the channel lock.
		flock -w 10 "$STATE.lock" true
	done
	ferry_sync "test:$folder"
	rc=$T_RC
	t_equal "$folder: a clean run finishes after $killed kills" 0 "$rc"
	KILLED=$((KILLED + killed))
}
dovecot_bulk_seed alice Big 2000 1 2000
kill_loop Big
converged Big 2000

for ((i = 1; i <= 300; i++)); do md_write Upload300 "$((5000 + i))" "Local message $i"; done
kill_loop Upload300
converged Upload300 300
# The kills land at random: top them up with more downloads until there were enough.
for ((extra = 1; KILLED < KILLS && extra <= 3; extra++)); do
	dovecot_bulk_seed alice "More$extra" 1000 $((10000 * extra)) 2000
	kill_loop "More$extra"
	converged "More$extra" 1000
done
t_ok "at least $KILLS runs were killed mid-sync in all ($KILLED)" test "$KILLED" -ge "$KILLS"

# --- Ctrl-C: the current batch is committed, exit 130, the next run finishes ---------
dovecot_bulk_seed alice Interrupted 3000 50000 4000
setsid "$FERRY" -c "$CONF" sync test:Interrupted >"$WORK/int.out" 2>&1 &
pid=$!
sleep 0.3
kill -INT -- "-$pid" 2>/dev/null
wait "$pid"
rc=$?
t_equal "SIGINT: exit 130" 130 "$rc" || t__indent <"$WORK/int.out"
t_contains "SIGINT: says what was kept" "$(cat "$WORK/int.out")" "interrupted"
ferry_sync test:Interrupted
t_equal "SIGINT: the next run exits 0" 0 "$T_RC"
converged Interrupted 3000

# --- a crashed channel does not stop the others ------------------------------------
seed 900 INBOX "For both channels"
t_run env FERRY_CRASH_AT=download:1 FERRY_CRASH_CHANNEL=test "$FERRY" -c "$CONF" sync test:INBOX mirror:INBOX
t_equal "one channel crashed: exit 1" 1 "$T_RC"
t_contains "the crash is named as that channel's error" "$T_OUT" "crashed (signal 9"
t_ok "the other channel synced all the same" \
	test "$(dovecot_count bob INBOX)" = "$(dovecot_count alice INBOX)"
t_done
