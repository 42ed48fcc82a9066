#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Rule 5, "only complete listings delete": a connection cut off in the middle
# of the server's listing of a 3,000-message folder deletes nothing. The server
# store is reached through tests/tools/relay (a TCP relay; TLS passes through
# and the certificate still verifies for 127.0.0.1), which closes the connection
# once the server has sent half of what a whole sync takes. ferry must fail
# (non-zero, naming the folder), both sides must still hold the 3,000, and a
# normal sync afterwards converges with nothing deleted. Then the relay stalls
# instead: with timeout = 3, ferry gives up within a bounded time, non-zero,
# with nothing lost.
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=sync_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

# t_is DESC ACTUAL EXPECTED: t_equal (DESC EXPECTED ACTUAL) in the order this script writes it.
t_is() {
	t_equal "$1" "$3" "$2"
}

: "${RELAY:?RELAY must point at the relay test tool (tests/tools/relay.c)}"
T_TIMEOUT=120
COUNT=3000
FOLDER=Big

# The relay and the TLS server are stopped on exit too (dovecot_start adds its own stop to
# this trap).
TLS_PID=
tls_stop() {
	if [[ -n $TLS_PID ]]; then
		kill "$TLS_PID" 2>/dev/null
		wait "$TLS_PID" 2>/dev/null
		TLS_PID=
	fi
}
trap 'relay_stop; tls_stop' EXIT
# shellcheck disable=SC2119 # its argument is the layout, not this script's
sync_setup

# A config whose server store goes through the relay: port RELAY_PORT. max_delete = 100%:
# only rule 5 may keep a cut listing from deleting, not the mass-deletion guard.
relay_conf() {
	sed -e "0,/^port = .*/s//port = $1/" -e "/^\[imap server\]/a connections = 1" \
		-e "s/^timeout = 20$/timeout = $2/" "$CONF" |
		sed "/^\[channel test\]/a max_delete = 100%" >"$RCONF"
	chmod 600 "$RCONF"
}

RELAY_PID=
# relay_start ARGS...: starts the relay on an ephemeral port; sets RELAY_PORT.
relay_start() {
	local i
	: >"$RELAY_OUT"
	"$RELAY" -t 100 "$@" "$DOVECOT_IMAPS_PORT" >"$RELAY_OUT" 2>&1 &
	RELAY_PID=$!
	RELAY_PORT=
	for ((i = 0; i < 50; i++)); do
		RELAY_PORT=$(sed -n 's/^port //p' "$RELAY_OUT")
		[[ -n $RELAY_PORT ]] && return 0
		sleep 0.1
	done
	echo "# the relay did not start: $(cat "$RELAY_OUT")"
	return 1
}
relay_stop() {
	if [[ -n $RELAY_PID ]]; then
		kill "$RELAY_PID" 2>/dev/null
		wait "$RELAY_PID" 2>/dev/null
		RELAY_PID=
	fi
}
# relay_server_bytes: the largest number of bytes the server sent on one relayed connection.
relay_server_bytes() {
	sed -n 's/^conn [0-9]*: server->client \([0-9]*\) .*/\1/p' "$RELAY_OUT" | sort -n | tail -n 1
}

# all_there WHEN: both sides hold the 3,000 messages, the same ones.
all_there() {
	local l s
	l=$(ids_local "$FOLDER")
	s=$(ids_server "$FOLDER")
	t_is "$1: $COUNT messages locally" "$(grep -c . <<<"$l")" "$COUNT"
	t_is "$1: $COUNT messages on the server" "$(grep -c . <<<"$s")" "$COUNT"
	t_ok "$1: the same messages on both sides" test "$l" = "$s"
}

# changes_since MARK: the mail_log lines of what IMAP clients changed on the server since
# dovecot_log_mark printed MARK: saves (uploads), copies, expunges, flag changes, folders.
changes_since() {
	dovecot_log_since "$1" |
		grep -E 'imap\([a-z]+\)<[^>]*><[^>]*>: Info: (save|copy|expunge|flag_change|mailbox_[a-z]+): '
}

# touch_server N: a flag change on the server, so that the next sync lists the folder
# (a folder whose STATUS did not change may be skipped, rule 4), and in full: the
# folder's "clean" mark is dropped, else only the change since the last sync would be
# fetched (CHANGEDSINCE) and there would be no long listing to cut.
touch_server() {
	dovecot_doveadm flags add -u alice '\Seen' mailbox "$FOLDER" uid "$1"
	sqlite3 "$STATE" "UPDATE folders SET clean = ''"
}

dovecot_bulk_seed alice "$FOLDER" "$COUNT" 1
ferry_sync test
t_is "initial sync of $COUNT messages exits 0" "$T_RC" 0 || printf '%s\n' "$T_OUT" | t__indent
all_there "after the initial sync"
RCONF=$WORK/relay.conf
RELAY_OUT=$WORK/relay.out

# --- a whole sync through the relay, to measure it -----------------------------------
touch_server 1
relay_start || exit 1
relay_conf "$RELAY_PORT" 20
t_ok "a sync through the relay (no cut) exits 0" "$FERRY" -c "$RCONF" sync test
relay_stop
t_ok "the relay passed TLS through (certificate verified for 127.0.0.1)" \
	grep -q "^conn 1: server->client [1-9]" "$RELAY_OUT"
total=$(relay_server_bytes)
t_ok "the server sent more than 100 KB in that sync (the listing; got ${total:-0})" \
	test "${total:-0}" -gt 100000
echo "# a whole sync of the $COUNT-message folder: the server sent ${total:-0} bytes"
t_is "its flag change arrived" "$(md_letters "$FOLDER" 'Bulk message 1')" S

# --- cut at half ------------------------------------------------------------------------
touch_server 2
mark=$(dovecot_log_mark)
files_before=$(cd "$MAILDIR" && find . -name '..ferry-*' -prune -o -type f -print | sed 's/:2,.*//' | sort)
cut=$((${total:-0} / 2))
relay_start -n "$cut" || exit 1
relay_conf "$RELAY_PORT" 20
t_run "$FERRY" -c "$RCONF" sync test
rc=$T_RC out=$T_OUT
relay_stop
printf '# ferry through the cut relay, exit %s:\n' "$rc"
printf '%s\n' "$out" | t__indent
t_ok "the relay cut the connection at $cut bytes" grep -q "(cut)" "$RELAY_OUT"
t_ok "ferry exits non-zero when the listing is cut (got $rc)" test "$rc" -ne 0
t_ok "and not by a crash or a timeout (got $rc)" test "$rc" -lt 124
t_matches "an error names the folder" "$out" "^ferry: error: .*$FOLDER"
t_not_contains "the channel did not crash" "$out" "crashed"
all_there "after the cut"
t_is "after the cut: not one local file went away" \
	"$(cd "$MAILDIR" && find . -name '..ferry-*' -prune -o -type f -print | sed 's/:2,.*//' | sort)" \
	"$files_before"
t_is "after the cut: nothing expunged on the server" \
	"$(changes_since "$mark" | grep ': expunge: ')" ""

mark=$(dovecot_log_mark)
ferry_sync test
t_is "a normal sync afterwards exits 0" "$T_RC" 0 || printf '%s\n' "$T_OUT" | t__indent
t_matches "it copied and deleted nothing" "$T_OUT" \
	'^test: far->near \+0 ~[0-9]+ -0, near->far \+0 ~0 -0 \('

all_there "after the normal sync"
t_is "after the normal sync: nothing expunged on the server" \
	"$(changes_since "$mark" | grep ': expunge: ')" ""
t_is "the flag change of the cut run arrived" "$(md_letters "$FOLDER" 'Bulk message 2')" S

# --- stall at half ---------------------------------------------------------------------------
touch_server 3
mark=$(dovecot_log_mark)
# One connection only: were ferry to reconnect (DESIGN: up to 3 times, 1, 4, 16 s), the next
# ones are refused, as when the network is gone; the run still ends within the bound.
relay_start -n "$cut" -s -m 1 || exit 1
relay_conf "$RELAY_PORT" 3
start=$(date +%s.%N)
t_run "$FERRY" -c "$RCONF" sync test
rc=$T_RC out=$T_OUT
elapsed=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
relay_stop
echo "# stalled at $cut bytes with timeout = 3: ferry gave up after $elapsed s (exit $rc):"
printf '%s\n' "$out" | t__indent
t_ok "the relay stalled the connection" grep -q "(stalled)" "$RELAY_OUT"
t_ok "ferry gives up on a stalled server with a non-zero exit (got $rc)" test "$rc" -ne 0
t_ok "and not killed by the test's timeout (got $rc)" test "$rc" -lt 124
t_ok "within 30 s (took $elapsed s)" awk -v e="$elapsed" 'BEGIN { exit !(e < 30) }'
t_matches "an error names the folder" "$out" "^ferry: error: .*$FOLDER"
t_not_contains "the channel did not crash" "$out" "crashed"
all_there "after the stall"
t_is "after the stall: nothing expunged on the server" \
	"$(changes_since "$mark" | grep ': expunge: ')" ""
ferry_sync test
t_is "a normal sync after the stall exits 0" "$T_RC" 0 || printf '%s\n' "$T_OUT" | t__indent
all_there "after the stall and a normal sync"

# --- cut once, then reconnect: the other folders still sync in the same run ------------
# DESIGN's reconnect policy: after a lost connection ferry opens it again (1, 4, 16 s),
# selects and lists the folder again, and goes on: one cut costs nothing but a warning.
seed 9001 Other "Arrived in another folder"
touch_server 4
mark=$(dovecot_log_mark)
relay_start -n "$cut" -c 1 || exit 1
relay_conf "$RELAY_PORT" 20
t_run "$FERRY" -c "$RCONF" sync test
rc=$T_RC out=$T_OUT
relay_stop
printf '%s\n' "$out" | t__indent
t_ok "reconnect: the relay cut the first connection" grep -q "(cut)" "$RELAY_OUT"
t_ok "reconnect: ferry connected again" \
	test "$(grep -c '^conn ' "$RELAY_OUT")" -ge 2
t_contains "reconnect: it says so" "$out" "reconnecting"
t_is "reconnect: the run still finishes everything (exit 0)" "$rc" 0
t_matches "reconnect: the cut is a warning naming the folder" "$out" "^ferry: warning: $FOLDER: listing far"
t_ok "reconnect: the other folder synced in the same run" \
	test -n "$(md_file Other 'Arrived in another folder')"
all_there "after the reconnect"
ferry_sync test
t_is "reconnect: the next run exits 0" "$T_RC" 0 || printf '%s\n' "$T_OUT" | t__indent

# --- cut while prefetched answers are being read --------------------------------------------
# Flags changed in six folders after a clean sync: their SELECT and UID FETCH ... CHANGEDSINCE
# go out together and ferry reads the answers lazily, folder by folder, while it reads the
# Maildir and plans the first folders. The relay cuts the first connection at points spread
# over such a run: every run ends by itself (0 after reconnecting, or 1 naming a folder),
# nothing is lost, and a normal run afterwards brings every flag.
for i in 1 2 3 4 5 6; do
	seed 1 "Pf$i" "Prefetched $i"
	seed 2 "Pf$i" "Prefetched $i again"
done
ferry_sync test
ferry_sync test
pf_op=add
pf_touch() {
	local i
	for i in 1 2 3 4 5 6; do
		dovecot_doveadm flags "$pf_op" -u alice '\Flagged' mailbox "Pf$i" all
	done
}
pf_touch
relay_start || exit 1
relay_conf "$RELAY_PORT" 20
t_run "$FERRY" -v -c "$RCONF" sync test
relay_stop
t_is "prefetch: a run through the relay exits 0" "$T_RC" 0 || printf '%s\n' "$T_OUT" | t__indent
t_is "prefetch: the six folders were prefetched together" \
	"$(printf '%s\n' "$T_OUT" | awk '/^S: / && n { exit } /^C: [^ ]+ SELECT "?Pf/ { n++ } END { print n + 0 }')" 6
pf_total=$(relay_server_bytes)
reconnects=0
for pct in 55 65 75 85 95; do
	[[ $pf_op == add ]] && pf_op=remove || pf_op=add
	pf_touch
	relay_start -n $((pf_total * pct / 100)) -c 1 || exit 1
	relay_conf "$RELAY_PORT" 20
	t_run "$FERRY" -c "$RCONF" sync test
	rc=$T_RC out=$T_OUT
	relay_stop
	t_ok "prefetch, cut at $pct%: exits 0 or 1 (got $rc)" test "$rc" -le 1
	t_not_contains "prefetch, cut at $pct%: no crash" "$out" "crashed"
	grep -q "reconnecting" <<<"$out" && reconnects=$((reconnects + 1))
done
t_ok "prefetch: at least one cut fell inside what ferry read (reconnected $reconnects times)" \
	test "$reconnects" -ge 1
# The same cut with no second connection to be had: the run stops, failed, not crashed.
[[ $pf_op == add ]] && pf_op=remove || pf_op=add
pf_touch
relay_start -n $((pf_total * 75 / 100)) -m 1 || exit 1
relay_conf "$RELAY_PORT" 20
t_run "$FERRY" -c "$RCONF" sync test
rc=$T_RC out=$T_OUT
relay_stop
t_is "prefetch, cut with no reconnect possible: exits 1" "$rc" 1
t_contains "prefetch, cut with no reconnect possible: says so" "$out" "no reconnect left this run"
t_not_contains "prefetch, cut with no reconnect possible: no crash" "$out" "crashed"
ferry_sync test
t_is "prefetch: a normal run afterwards exits 0" "$T_RC" 0 || printf '%s\n' "$T_OUT" | t__indent
want=$([[ $pf_op == add ]] && echo 12 || echo 0)
t_is "prefetch: every message has the server's last \\Flagged" \
	"$(for i in 1 2 3 4 5 6; do find "$(md_dir "Pf$i")" -type f -name '*:2,*F*'; done | wc -l)" "$want"
t_is "prefetch: every message still here" \
	"$(for i in 1 2 3 4 5 6; do md_count "Pf$i"; done | awk '{ n += $1 } END { print n }')" 12
t_is "prefetch: every message still on the server" \
	"$(for i in 1 2 3 4 5 6; do
		dovecot_doveadm -f tab search -u alice mailbox "Pf$i" all | sed 1d
	done | wc -l)" 12
all_there "after the prefetch cuts"

# --- a reconnect that meets a certificate ferry does not trust ------------------------------
# DESIGN's reconnect policy retries a lost connection, never a TLS failure: the server that
# answers the reconnect shows another certificate, so trying again (1, 4, 16 s) could only
# wait for nothing or talk to the wrong server. One cut, one reconnect, then the run stops.
tls_port=$(instance_free_port dovecot) || exit 1
openssl s_server -quiet -accept "127.0.0.1:$tls_port" -cert "$DOVECOT_DIR/wrong-cert.pem" \
	-key "$DOVECOT_DIR/wrong-key.pem" >"$WORK/s_server.log" 2>&1 </dev/null &
TLS_PID=$!
for ((i = 0; i < 50; i++)); do
	instance__port_open "$tls_port" && break
	sleep 0.1
done
touch_server 5
relay_start -n "$cut" -c 1 -r "$tls_port" || exit 1
relay_conf "$RELAY_PORT" 20
start=$(date +%s.%N)
t_run "$FERRY" -c "$RCONF" sync test
rc=$T_RC out=$T_OUT
elapsed=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
relay_stop
tls_stop
echo "# reconnect to an untrusted certificate: exit $rc after $elapsed s:"
printf '%s\n' "$out" | t__indent
t_ok "TLS on reconnect: the relay cut the first connection" grep -q "(cut)" "$RELAY_OUT"
t_is "TLS on reconnect: one reconnect, not retried after the TLS failure" \
	"$(grep -c 'reconnecting' <<<"$out")" 1
t_is "TLS on reconnect: two connections in all" "$(grep -c '^conn ' "$RELAY_OUT")" 2
t_matches "TLS on reconnect: the error says what TLS refused" "$out" "certificate|TLS"
t_ok "TLS on reconnect: exits non-zero (got $rc)" test "$rc" -ne 0
t_ok "TLS on reconnect: and not by a crash or a timeout (got $rc)" test "$rc" -lt 124
all_there "after the TLS failure on reconnect"
t_done
