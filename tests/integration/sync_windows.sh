#!/usr/bin/env bash
# A first sync into an empty side is planned and applied in windows of uids
# (sync/finish.c; issue 17: a million-message folder is never planned whole).
# The test hook FERRY_PLAN_WINDOW=4 cuts 11 messages into three windows: each
# way everything arrives once and the next run has nothing to do; a run killed
# in the second window converges; a dry run counts every window; where both
# sides hold the messages (moving in) they pair, nothing is copied.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

sync_setup

# windowed ARGS...: a sync of channel test in windows of 4 messages.
windowed() {
	t_run env FERRY_PLAN_WINDOW=4 "$FERRY" -c "$CONF" sync "$@"
}

for i in $(seq 1 11); do seed "$i" Down "Down $i"; done
for i in $(seq 1 11); do md_write Up "$((100 + i))" "Up $i"; done

windowed --dry-run test:Down
t_equal "dry run exits 0" 0 "$T_RC"
t_contains "dry run: every window counted" "$T_OUT" "far->near +11"
t_equal "dry run: nothing copied" 0 "$(md_count Down)"

windowed test:Down
t_equal "download in windows exits 0" 0 "$T_RC"
t_contains "download: 11 copied" "$T_OUT" "far->near +11 ~0 -0"
converged Down 11 "download in windows"

windowed test:Up
t_equal "upload in windows exits 0" 0 "$T_RC"
t_contains "upload: 11 copied" "$T_OUT" "near->far +11 ~0 -0"
converged Up 11 "upload in windows"

sleep 1.1
windowed test
t_equal "re-sync exits 0" 0 "$T_RC"
t_contains "re-sync: every message was paired" "$T_OUT" \
	"far->near +0 ~0 -0, near->far +0 ~0 -0"

for i in $(seq 1 11); do seed "$((200 + i))" Kill "Kill $i"; done
t_run env FERRY_PLAN_WINDOW=4 FERRY_CRASH_AT=download:6 "$FERRY" -c "$CONF" sync test:Kill
t_equal "killed in the second window" 1 "$T_RC"
windowed test:Kill
t_equal "the clean re-run exits 0" 0 "$T_RC"
converged Kill 11 "after a kill in the second window"

# Moving in: the state is lost, both sides hold the same 11 messages; they
# pair by identity (one plan: both sides hold messages), nothing is copied.
rm -f "$STATE"
windowed test:Down
t_equal "lost state exits 0" 0 "$T_RC"
t_contains "lost state: nothing copied" "$T_OUT" "far->near +0 ~0 -0, near->far +0 ~0 -0"
converged Down 11 "lost state"

t_done
