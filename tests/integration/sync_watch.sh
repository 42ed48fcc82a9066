#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2317 # helpers run by within, eval and the trap
# `ferry watch` against the fixture Dovecot, started as a service's ExecStart line would start
# it (`ferry -c CONFIG watch CHANNEL`): a first sync, then a server delivery (IDLE) and a local
# write (inotify) each reach the other side within seconds, flags both ways; SIGHUP reads the
# configuration again (a bad one is refused and the old one kept); a cut connection and a
# restarted Dovecot are survived; SIGTERM ends it with exit 143 and nothing left to sync.
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=sync_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

sync_setup

# shellcheck source=watch_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/watch_lib.sh"

# A service manager's notify socket (Type=notify): what ferry sends there is kept in
# $WORK/notify.out, one message a line. The receiver ends by itself after 300 s.
NOTIFY_SOCK=$WORK/notify.sock
perl -MIO::Socket::UNIX -e '
	my $s = IO::Socket::UNIX->new(Type => SOCK_DGRAM(), Local => $ARGV[0]) or die "$!";
	alarm 300;
	$| = 1;
	while (defined $s->recv(my $m, 4096)) { print "$m\n" }' "$NOTIFY_SOCK" >"$WORK/notify.out" 2>&1 &
NPID=$!
stop_receiver() { kill "$NPID" 2>/dev/null; }
WATCH_CLEANUP=stop_receiver
for ((i = 0; i < 50; i++)); do
	[[ -S $NOTIFY_SOCK ]] && break
	sleep 0.1
done

watch_start() {
	NOTIFY_SOCKET=$NOTIFY_SOCK "$FERRY" -c "$CONF" watch test >>"$WLOG" 2>&1 </dev/null &
	WPID=$!
}


local_letters_have() { [[ $(md_letters "$1" "$2") == *"$3"* ]]; }
server_flags_have() { [[ $(srv_flags alice "$1" "$2") == *"$3"* ]]; }
# syncing: one of watch's syncs runs (a child of watch's in a process group of its own).
syncing() { ps -o pid=,pgid= --ppid "$WPID" | awk '$1 == $2 { found = 1 } END { exit !found }'; }
# settled: no sync ran for 1.5 s (a local change's sync starts 1 s after it).
settled() {
	local i
	for ((i = 0; i < 15; i++)); do
		syncing && return 1
		sleep 0.1
	done
	return 0
}

seed 1 INBOX "before watch"
watch_start
t_ok "the first sync brings the server's message" within 20 has_local INBOX "before watch"
t_ok "the service manager is told it is ready (READY=1)" within 10 grep -q '^READY=1' "$WORK/notify.out"

seed 2 INBOX "server two"
t_ok "a server delivery arrives locally within 10 s (IDLE)" within 10 has_local INBOX "server two"

md_write INBOX 3 "local three"
t_ok "a local write reaches the server within 10 s (inotify)" within 10 has_server INBOX "local three"

uid=$(srv_uid alice INBOX "server two")
dovecot_doveadm flags add -u alice '\Flagged' mailbox INBOX uid "$uid"
t_ok "a flag set on the server arrives within 10 s" within 10 local_letters_have INBOX "server two" F

f=$(md_file INBOX "local three")
mv "$f" "$(md_dir INBOX)/cur/$(basename "${f%%:2,*}"):2,S"
t_ok "a flag set locally reaches the server within 10 s" within 10 server_flags_have INBOX "local three" '\Seen'

# NOTIFY (RFC 5465, which Dovecot offers): a delivery to a folder outside `watch` is seen on
# the same connection. (First the syncs that the flag changes' own echoes started are let
# finish: one of them would take Work along.)
sleep 3
seed 4 Work "work four"
t_ok "NOTIFY: a delivery to a folder outside watch arrives within 10 s" \
	within 10 has_local Work "work four"

# SIGHUP with a post_sync hook added: the configuration read again is the one in use.
sed -i "/^\[channel test\]/a post_sync = touch $WORK/hooked" "$CONF"
kill -HUP "$WPID"
t_ok "the reload is logged" within 10 grep -q "configuration read again" "$WLOG"
seed 5 Work "work five"
t_ok "a delivery after the reload arrives" within 10 has_local Work "work five"
t_ok "and the hook of the new configuration ran" within 10 test -e "$WORK/hooked"

# A broken configuration is refused; the one in use stays.
cp "$CONF" "$WORK/good.conf"
printf '[channel test]\nbogus = 1\n' >>"$CONF"
kill -HUP "$WPID"
t_ok "a bad configuration is reported" within 10 grep -q "keeping the configuration in use" "$WLOG"
t_ok "and watch goes on" alive
seed 6 INBOX "after bad config"
t_ok "with the old configuration" within 10 has_local INBOX "after bad config"
cp "$WORK/good.conf" "$CONF"

# The server cuts every connection of alice's: the watchers reconnect and sync.
dovecot_doveadm kick alice >/dev/null 2>&1
sleep 1
seed 7 INBOX "after kick"
t_ok "after a cut connection a delivery arrives within 15 s" within 15 has_local INBOX "after kick"

# Dovecot restarted on the same ports.
dovecot__stop_master "$DOVECOT_DIR"
md_write INBOX 8 "local while down"
sleep 2
dovecot__launch "$DOVECOT_DIR" "$DOVECOT_IMAP_PORT" "$DOVECOT_IMAPS_PORT"
t_ok "after a restart, what was written while it was down reaches the server" \
	within 20 has_server INBOX "local while down"
seed 9 INBOX "after restart"
t_ok "and a delivery arrives" within 10 has_local INBOX "after restart"
t_ok "watch is still running" alive

# SIGTERM: exit 143, and a sync afterwards finds nothing to do.
watch_term
t_equal "SIGTERM ends watch with 143" 143 "$rc"
t_ok "and it said it was stopping (STOPPING=1)" grep -q '^STOPPING=1' "$WORK/notify.out"
ferry_sync test
t_equal "a sync afterwards exits 0" 0 "$T_RC"
t_contains "and changes nothing" "$T_OUT" "far->near +0 ~0 -0, near->far +0 ~0 -0"
converged INBOX 7 "after watch"
converged Work 2 "Work after watch"

# SIGTERM in the middle of a sync (SIGHUP starts a full one, which finds Big's 3000
# messages): the channel's process finishes its batch, watch ends with 143, and the next
# sync takes up where it stopped, without duplicates.
readies=$(grep -c '^READY=1' "$WORK/notify.out")
watch_start
# Ready (its signals handled, its first sync done) before the SIGHUP, as systemd waits for
# READY=1 too; Big's messages arrive after that, for the SIGHUP's sync to find.
t_ok "watch started again" within 30 eval '(($(grep -c "^READY=1" "$WORK/notify.out") > readies))'
dovecot_bulk_seed alice Big 3000 1000 8000
kill -HUP "$WPID"
within 60 test -d "$(md_dir Big)/cur"
for ((i = 0; i < 300; i++)); do
	[[ $(md_count Big) -gt 0 ]] && break
	sleep 0.05
done
kill -TERM "$WPID"
if within 60 eval '! alive'; then
	wait "$WPID"
	rc=$?
	WPID=
else
	rc=timeout
fi
t_equal "SIGTERM during a sync ends watch with 143" 143 "$rc"
got=$(md_count Big)
t_ok "the sync was cut short ($got of 3000 copied)" test "$got" -lt 3000
t_contains "the channel's process said so" "$(cat "$WLOG")" "interrupted; what was done is saved"
ferry_sync test
t_equal "the next sync exits 0" 0 "$T_RC"
converged Big 3000 "Big after the interrupted sync"
ferry_sync test
t_contains "and the one after changes nothing" "$T_OUT" "far->near +0 ~0 -0, near->far +0 ~0 -0"

# `interval`: a folder nobody watches is synced when the interval is up.
# A file put straight into the server's Maildir is news to Dovecot only when the folder is next
# looked at: neither IDLE nor NOTIFY tells it. With 20 s: the first sync at once (and the syncs
# its own changes start), the file once they are over, the next sync 20 s after the last. (The
# margin is wide: on a loaded machine seeding alone can take seconds.)
sed -i 's/^interval = 1h$/interval = 20s/' "$CONF"
dovecot_doveadm mailbox create -u alice Other
watch_start
t_ok "watch's first syncs are over" within 30 settled
dovecot_bulk_seed alice Other 1 9000
sleep 1
t_ok "a message no watch sees waits for the interval" test -z "$(md_file Other "Bulk message 9000")"
t_ok "with interval = 20s it is synced within 25 s" within 25 has_local Other "Bulk message 9000"
kill -TERM "$WPID"
within 30 eval '! alive'
wait "$WPID"
t_equal "and SIGTERM ends it with 143" 143 "$?"
WPID=
t_not_contains "no crash was reported" "$(cat "$WLOG")" "crashed"
# Its own deliveries wake the other side's watcher; those syncs change nothing and say nothing.
t_not_contains "a sync that changed nothing logs no line" "$(cat "$WLOG")" \
	"far->near +0 ~0 -0, near->far +0 ~0 -0"
t_contains "a sync that changed something logs its line" "$(cat "$WLOG")" "INBOX: far->near +1"
if [[ $T_FAILED -gt 0 ]]; then
	echo "# watch's log:"
	t__indent <"$WLOG"
fi

t_done
