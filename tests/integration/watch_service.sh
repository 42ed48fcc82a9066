#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2317 # helpers run by within, eval and the trap
# The command contrib/systemd/ferry-watch@.service starts, run as the unit runs it: its
# ExecStart= line with %i the channel and the bare `ferry` the built binary, in an environment
# as bare as a user manager's, with no -c (the unit relies on $XDG_CONFIG_HOME/ferry/config,
# falling back to ~/.config/ferry/config: HOME is a directory of the test's). Against the
# fixture Dovecot: a server delivery and a local write each reach the other side; a cut
# connection and a restarted Dovecot are survived; a resume from suspend (the test hook
# FERRY_TEST_BOOTTIME_FILE moves CLOCK_BOOTTIME ahead) syncs at once and reconnects the
# watchers; SIGTERM ends it with 143 and a sync afterwards changes nothing.
# The unit files themselves are checked with systemd-analyze verify by packaging.sh.
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=sync_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

UNIT=${FERRY_SRC:-$(dirname "${BASH_SOURCE[0]}")/../..}/contrib/systemd/ferry-watch@.service

# shellcheck disable=SC2119 # its argument is the layout, not this script's
sync_setup

# shellcheck source=watch_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/watch_lib.sh"
# Any Dovecot process this test stopped is let go before Dovecot is stopped.
STOPPED=
let_go() {
	if [[ -n $STOPPED ]]; then
		# shellcheck disable=SC2086 # a list of pids
		kill -CONT $STOPPED 2>/dev/null
		STOPPED=
	fi
}
WATCH_CLEANUP=let_go
# The unit passes no -c: the configuration is where ferry looks by default.
SVC_HOME=$WORK/home
mkdir -p "$SVC_HOME/.config/ferry"
mv "$CONF" "$SVC_HOME/.config/ferry/config"
CONF=$SVC_HOME/.config/ferry/config
BOOT_FILE=$WORK/boottime-offset
echo 0 >"$BOOT_FILE"

# The unit's command line, word by word, as systemd splits it (no quotes in it).
exec_start=$(sed -n 's/^ExecStart=//p' "$UNIT")
t_ok "the unit has one ExecStart= line" test "$(grep -c '^ExecStart=' "$UNIT")" -eq 1
read -r -a cmd <<<"$exec_start"
t_equal "it starts a bare ferry, found on systemd's PATH" ferry "${cmd[0]:-}"
t_contains "it names the channel by the instance" "$exec_start" " %i"
cmd[0]=$FERRY
for i in "${!cmd[@]}"; do
	cmd[i]=${cmd[i]//%i/test}
done

# A user manager's environment: HOME, PATH, LANG; no FERRY_CONFIG, no XDG_CONFIG_HOME.
# The test hook and a sanitizer's options are the only additions.
watch_start() {
	env -i HOME="$SVC_HOME" PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 \
		FERRY_TEST_BOOTTIME_FILE="$BOOT_FILE" ${LSAN_OPTIONS:+LSAN_OPTIONS="$LSAN_OPTIONS"} \
		${ASAN_OPTIONS:+ASAN_OPTIONS="$ASAN_OPTIONS"} \
		"${cmd[@]}" >>"$WLOG" 2>&1 </dev/null &
	WPID=$!
}

# sessions: the pids of alice's IMAP sessions (ferry is her only IMAP client here).
sessions() {
	dovecot_doveadm who -1 alice 2>/dev/null | awk '$2 == "imap" {print $3}' | sort -n
}
one_session() { [[ $(sessions | wc -l) -eq 1 ]]; }
# stable_session: one session, the same a second later (a sync's own session has come and gone).
stable_session() {
	local a
	a=$(sessions)
	[[ -n $a && $(wc -l <<<"$a") -eq 1 ]] || return 1
	sleep 1
	[[ $(sessions) == "$a" ]]
}

seed 1 INBOX "before watch"
watch_start
t_ok "the first sync brings the server's message" within 20 has_local INBOX "before watch"

seed 2 INBOX "server two"
t_ok "a server delivery arrives locally within 10 s" within 10 has_local INBOX "server two"
md_write INBOX 3 "local three"
t_ok "a local write reaches the server within 10 s" within 10 has_server INBOX "local three"

dovecot_doveadm kick alice >/dev/null 2>&1
sleep 1
seed 4 INBOX "after kick"
t_ok "after a cut connection a delivery arrives within 15 s" within 15 has_local INBOX "after kick"

dovecot__stop_master "$DOVECOT_DIR"
md_write INBOX 5 "local while down"
sleep 2
dovecot__launch "$DOVECOT_DIR" "$DOVECOT_IMAP_PORT" "$DOVECOT_IMAPS_PORT"
t_ok "after a restart, what was written while it was down reaches the server" \
	within 20 has_server INBOX "local while down"
seed 6 INBOX "after restart"
t_ok "and a delivery arrives" within 10 has_local INBOX "after restart"

# Suspend and resume. The syncs done, the one session left is the watcher's IDLE; stopping
# its Dovecot process makes the connection silent, as one is after a suspend: a delivery
# now is told to nobody. Then the clock jumps, as CLOCK_BOOTTIME does against
# CLOCK_MONOTONIC on a resume, and watch is woken (SIGCHLD, which it otherwise ignores).
t_ok "only the watcher's session is left" within 20 stable_session
STOPPED=$(sessions)
# shellcheck disable=SC2086 # one pid
kill -STOP $STOPPED
seed 7 INBOX "while suspended"
sleep 2
t_ok "a delivery while the connection is silent is not seen" eval '! has_local INBOX "while suspended"'
echo 60000 >"$BOOT_FILE"
kill -CHLD "$WPID"
t_ok "the resume is logged" within 5 grep -q "resumed from suspend" "$WLOG"
t_ok "and the delivery arrives within 5 s (synced at once)" within 5 has_local INBOX "while suspended"
new_session() { sessions | grep -vqx "$STOPPED"; }
t_ok "the watcher connects again (a new session)" within 10 new_session
# shellcheck disable=SC2086 # one pid
kill -CONT $STOPPED
STOPPED=
seed 8 INBOX "after resume"
t_ok "and a delivery after the resume arrives by IDLE within 10 s" within 10 has_local INBOX "after resume"
t_ok "watch is still running" alive

watch_term
t_equal "SIGTERM ends it with 143 (the unit's SuccessExitStatus)" 143 "$rc"
t_ok "and 143 is what the unit takes as a clean stop" grep -qx 'SuccessExitStatus=143' "$UNIT"
ferry_sync test
t_equal "a sync afterwards exits 0" 0 "$T_RC"
t_contains "and changes nothing" "$T_OUT" "far->near +0 ~0 -0, near->far +0 ~0 -0"
converged INBOX 8 "after watch"
t_not_contains "no crash was reported" "$(cat "$WLOG")" "crashed"
if [[ $T_FAILED -gt 0 ]]; then
	echo "# watch's log:"
	t__indent <"$WLOG"
fi

t_done
