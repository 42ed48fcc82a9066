#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2317 # helpers run by within and the trap
# `ferry watch`: a local write made before the Maildir is watched is synced too, without
# waiting for another change or the interval. The watch on the tree begins some time after
# the first sync started: up to a second after that sync created a missing root, or after
# the walk of a big tree. The test ferry's FERRY_TEST_WATCH_LATE_MS holds the watch back
# by that much, so that the write lands there every time.
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=sync_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

t_need_ferry
t_run "$FERRY" --version
t_contains "--version says test hooks" "$T_OUT" "test hooks"

sync_setup

LATE_MS=10000
# shellcheck source=watch_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/watch_lib.sh"

watch_start() {
	FERRY_TEST_WATCH_LATE_MS=$LATE_MS "$FERRY" -c "$CONF" watch test >>"$WLOG" 2>&1 </dev/null &
	WPID=$!
	STARTED=$(date +%s%N)
}

watch_stop() {
	kill -TERM "$WPID"
	within 30 eval '! kill -0 "$WPID" 2>/dev/null'
	wait "$WPID"
	WPID=
}


# before_watch: less than LATE_MS since the watch started, so its watches are not set up yet.
before_watch() { (($(date +%s%N) - STARTED < LATE_MS * 1000000)); }

# 1. No Maildir yet: the first sync creates the root, the watcher finds it a poll later.
seed 1 INBOX "before watch"
watch_start
t_ok "the first sync creates the Maildir" within 20 has_local INBOX "before watch"
md_write INBOX 2 "local, before the watch"
t_ok "the write came before the watch began" before_watch
t_ok "a write before the watch of a new Maildir reaches the server" \
	within $((LATE_MS / 1000 + 6)) has_server INBOX "local, before the watch"
watch_stop

# 2. The Maildir is there: the first sync runs while the watcher walks the tree.
seed 3 INBOX "server three"
watch_start
t_ok "the first sync brings the server's message" within 20 has_local INBOX "server three"
md_write INBOX 4 "local, before the walk"
t_ok "the write came before the watch began" before_watch
t_ok "a write before the watch of a Maildir reaches the server" \
	within $((LATE_MS / 1000 + 6)) has_server INBOX "local, before the walk"

# And once watched, a write is synced as ever.
sleep $((LATE_MS / 1000))
md_write INBOX 5 "local, watched"
t_ok "a write after the watch began reaches the server" within 10 has_server INBOX "local, watched"
watch_stop
t_not_contains "no crash was reported" "$(cat "$WLOG")" "crashed"
if [[ $T_FAILED -gt 0 ]]; then
	echo "# watch's log:"
	t__indent <"$WLOG"
fi

t_done
