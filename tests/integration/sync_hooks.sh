#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The channel key post_sync: a command run (/bin/sh -c) after each sync of the channel that
# changed something, with what changed in FERRY_* environment variables, after the channel's
# lock is released. A run that changed nothing, a --dry-run and a run of another channel do
# not run it; a failing hook is reported and never fails the sync.
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=sync_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

sync_setup

HOOKS=$WORK/hooks
mkdir -p "$HOOKS"
# The hook records its environment, one run per file, and proves the lock is free by running
# ferry's status on the same channel.
cat >"$HOOKS/record.sh" <<'HOOK'
n=$(ls "$HOOKS" | grep -c '^run')
env | grep '^FERRY_' | sort >"$HOOKS/run$n"
# The folder lists hold one name per line: here on one line, sorted.
for side in NEAR FAR; do
	eval "list=\$FERRY_NEW_MAIL_FOLDERS_$side"
	printf 'folders_%s=%s\n' "$side" "$(printf '%s\n' "$list" | sort | tr '\n' ' ' | sed 's/^ *//; s/ *$//')"
done >>"$HOOKS/run$n"
"$FERRY" -c "$CONF" status test >/dev/null 2>&1 && echo unlocked >>"$HOOKS/run$n"
HOOK
export HOOKS FERRY CONF
# post_sync goes into channel test only; mirror has none.
sed -i "/^\[channel test\]/a post_sync = sh $HOOKS/record.sh" "$CONF"

runs() { find "$HOOKS" -name 'run*' | wc -l; }
# var N NAME: the value of NAME in run N.
var() { sed -n "s/^$2=//p" "$HOOKS/run$1"; }

seed 1 INBOX "inbox one"
seed 2 INBOX "inbox two"
seed 3 Work "work three"
md_write Lists 4 "local four"

ferry_sync test
t_equal "first sync exits 0" 0 "$T_RC"
t_equal "the hook ran once" 1 "$(runs)"
t_equal "FERRY_CHANNEL" test "$(var 0 FERRY_CHANNEL)"
t_equal "FERRY_STATUS" 0 "$(var 0 FERRY_STATUS)"
t_equal "FERRY_NEW_NEAR: three messages arrived locally" 3 "$(var 0 FERRY_NEW_NEAR)"
t_equal "FERRY_NEW_FAR: one went up" 1 "$(var 0 FERRY_NEW_FAR)"
t_equal "folders with new local mail" "INBOX Work" \
	"$(var 0 folders_NEAR)"
t_equal "folders with new server mail" Lists "$(var 0 folders_FAR)"
t_contains "the hook ran after the lock was released" "$(cat "$HOOKS/run0")" unlocked

ferry_sync test
t_equal "a sync that changed nothing exits 0" 0 "$T_RC"
t_equal "and does not run the hook" 1 "$(runs)"

# A flag changed on the server: one flag change arrives locally.
uid=$(srv_uid alice INBOX "inbox one")
dovecot_doveadm flags add -u alice '\Flagged' mailbox INBOX uid "$uid"
ferry_sync test
t_equal "flag sync exits 0" 0 "$T_RC"
t_equal "the hook ran again" 2 "$(runs)"
t_equal "FERRY_FLAGGED_NEAR" 1 "$(var 1 FERRY_FLAGGED_NEAR)"
t_equal "FERRY_NEW_NEAR is 0" 0 "$(var 1 FERRY_NEW_NEAR)"
t_equal "no folder got new mail" "" "$(var 1 folders_NEAR)"

# A dry run changes nothing, so it runs no hook.
seed 5 INBOX "inbox five"
t_run "$FERRY" -c "$CONF" sync --dry-run test
t_equal "dry run exits 0" 0 "$T_RC"
t_equal "a dry run does not run the hook" 2 "$(runs)"

# A count in ferry's own environment is replaced by this run's; other variables pass on.
FERRY_NEW_NEAR=999 FERRY_BOGUS=1 ferry_sync test
t_equal "sync exits 0" 0 "$T_RC"
t_equal "the hook ran" 3 "$(runs)"
t_equal "the count is ferry's" 1 "$(var 2 FERRY_NEW_NEAR)"
t_equal "another variable is passed on" 1 "$(var 2 FERRY_BOGUS)"

# A failing hook is reported; the sync still exits 0.
sed -i "s|^post_sync = .*|post_sync = echo hook-output; exit 7|" "$CONF"
seed 6 INBOX "inbox six"
ferry_sync test
t_equal "a failing hook does not fail the sync" 0 "$T_RC"
t_contains "the hook's failure is reported" "$T_OUT" "post_sync: exited with status 7"
t_contains "the hook's output reaches the user" "$T_OUT" "hook-output"
t_equal "the messages still arrived" 4 "$(md_count INBOX)"


t_done
