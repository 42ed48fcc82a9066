#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The limits and the run options of `ferry sync`:
#   max_delete (rule 5): a folder that would lose too much stops (exit 1, says
#     max_delete and --force-delete) until --force-delete; as a percentage and
#     as an absolute count;
#   max_size: a larger message is not copied and the run says so; it is copied
#     once the limit is raised;
#   --dry-run prints the plan and changes nothing on either side;
#   --pull / --push copy one way only for that run; CHANNEL:FOLDER syncs only
#     that folder;
#   the channel lock: a second ferry on a locked channel exits 4;
#   delete = none (a pull-only backup): server expunges never remove local files.
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=sync_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

# t_is DESC ACTUAL EXPECTED: t_equal (DESC EXPECTED ACTUAL) in the order this script writes it.
t_is() {
	t_equal "$1" "$3" "$2"
}

# shellcheck disable=SC2119 # its argument is the layout, not this script's
sync_setup
# Channel "test" leaves alone the folders of the channels this script adds below; and every
# run names its channel, so that sync_lib's "mirror" channel (alice -> bob) stays out of it.
sed -i '/^\[channel test\]/a folders = * !Pct !Abs !Keep' "$CONF"

# conf_with FILE LINE...: a copy of $CONF with LINEs added to [channel test].
conf_with() {
	local file=$1 line
	shift
	cp "$CONF" "$file"
	for line in "$@"; do
		sed -i "/^\[channel test\]/a $line" "$file"
	done
}

# local_files: every mail file under the Maildir (not the index), sorted.
local_files() {
	(cd "$MAILDIR" && find . -name '..ferry-*' -prune -o -type f -print | sort)
}

# server_snapshot USER: every folder with its uids and flags.
server_snapshot() {
	local f
	while IFS= read -r f; do
		printf '== %s\n' "$f"
		dovecot_flags "$1" "$f"
	done < <(dovecot_doveadm mailbox list -u "$1" | sort)
}

# changes_since MARK: the mail_log lines of what IMAP clients changed on the server since
# dovecot_log_mark printed MARK: saves (uploads), copies, expunges, flag changes, folders.
changes_since() {
	dovecot_log_since "$1" |
		grep -E 'imap\([a-z]+\)<[^>]*><[^>]*>: Info: (save|copy|expunge|flag_change|mailbox_[a-z]+): '
}

# rm_local FOLDER N: deletes N local messages of FOLDER.
rm_local() {
	local d
	d=$(md_dir "$1")
	find "$d/cur" "$d/new" -maxdepth 1 -type f | sort | head -n "$2" | xargs -r rm --
}

# --- max_delete, the default 50% ----------------------------------------------------
dovecot_bulk_seed alice Del 20 1
ferry_sync test
t_is "initial sync exits 0" "$T_RC" 0 || printf '%s\n' "$T_OUT" | t__indent
t_is "Del: 20 messages locally" "$(md_count Del)" 20
rm_local Del 12
ferry_sync test
t_is "12 of 20 deleted locally: the sync exits 1" "$T_RC" 1
t_contains "it says max_delete" "$T_OUT" "max_delete"
t_contains "it says how to go on" "$T_OUT" "--force-delete"
t_matches "it names the folder" "$T_OUT" "Del.*max_delete"
t_is "the server still has 20" "$(dovecot_count alice Del)" 20
ferry_sync test
t_is "and again on the next run (exit 1)" "$T_RC" 1
t_is "the server still has 20 after that run" "$(dovecot_count alice Del)" 20
ferry_sync --force-delete test
t_is "--force-delete exits 0" "$T_RC" 0 || printf '%s\n' "$T_OUT" | t__indent
t_is "--force-delete: the server has 8" "$(dovecot_count alice Del)" 8
t_is "locally still 8" "$(md_count Del)" 8

# --- max_delete = 50% and max_delete = 5, in their own channels -----------------------
CONF2=$WORK/limits.conf
sed '/^\[channel/,$d' "$CONF" >"$CONF2"
cat >>"$CONF2" <<CONF
[channel pct]
far = server
near = laptop
folders = Pct
max_delete = 50%
state = $WORK/state/pct.sqlite

[channel abs]
far = server
near = laptop
folders = Abs
max_delete = 5
state = $WORK/state/abs.sqlite
CONF
chmod 600 "$CONF2"
dovecot_bulk_seed alice Pct 20 101
dovecot_bulk_seed alice Abs 20 201
t_ok "channel pct: initial sync" "$FERRY" -c "$CONF2" sync pct
t_ok "channel abs: initial sync" "$FERRY" -c "$CONF2" sync abs
t_is "Pct: 20 locally" "$(md_count Pct)" 20
t_is "Abs: 20 locally" "$(md_count Abs)" 20

rm_local Pct 11
t_expect_exit 1 "max_delete = 50%: 11 of 20 deleted -> blocked" "$FERRY" -c "$CONF2" sync pct
t_contains "it says max_delete" "$T_OUT" "max_delete"
t_is "Pct: the server still has 20" "$(dovecot_count alice Pct)" 20
t_ok "max_delete = 50%: --force-delete" "$FERRY" -c "$CONF2" sync --force-delete pct
t_is "Pct: the server has 9" "$(dovecot_count alice Pct)" 9

rm_local Abs 5
t_ok "max_delete = 5: 5 of 20 deleted -> allowed" "$FERRY" -c "$CONF2" sync abs
t_is "Abs: the server has 15" "$(dovecot_count alice Abs)" 15
rm_local Abs 6
# 6 of 15 is 40%: a percentage would let it through, the count does not.
t_expect_exit 1 "max_delete = 5: 6 of 15 deleted -> blocked" "$FERRY" -c "$CONF2" sync abs
t_contains "it says max_delete" "$T_OUT" "max_delete"
t_is "Abs: the server still has 15" "$(dovecot_count alice Abs)" 15
t_ok "max_delete = 5: --force-delete" "$FERRY" -c "$CONF2" sync --force-delete abs
t_is "Abs: the server has 9" "$(dovecot_count alice Abs)" 9

# --- max_size ------------------------------------------------------------------------------
CONF_10K=$WORK/size10k.conf
CONF_50K=$WORK/size50k.conf
conf_with "$CONF_10K" "max_size = 10K"
conf_with "$CONF_50K" "max_size = 50K"
seed 300 Size "Small enough"
seed 301 Size "Thirty kilobytes" 30000
t_ok "max_size = 10K: sync exits 0" "$FERRY" -c "$CONF_10K" sync test
t_contains "max_size = 10K: the run says a message was skipped for max_size" "$T_OUT" "max_size"
t_is "max_size = 10K: only the small message arrived" "$(md_count Size)" 1
t_ok "max_size = 10K: the small one is there" test -n "$(md_file Size 'Small enough')"
t_ok "max_size = 10K: the 30 KB one is not" test -z "$(md_file Size 'Thirty kilobytes')"
t_ok "max_size = 10K: a second run" "$FERRY" -c "$CONF_10K" sync test
t_is "max_size = 10K: still not copied" "$(md_count Size)" 1
t_is "the server still has both" "$(dovecot_count alice Size)" 2
t_ok "max_size raised to 50K: sync exits 0" "$FERRY" -c "$CONF_50K" sync test
t_is "max_size = 50K: the 30 KB message is copied now" "$(md_count Size)" 2
t_ok "max_size = 50K: identical content" same_content Size "Thirty kilobytes"

# --- --dry-run -----------------------------------------------------------------------------
for i in 1 2 3 4 5 6; do seed "$((400 + i))" Dry "Dry $i"; done
ferry_sync test
t_is "Dry: synced" "$(md_count Dry)" 6
seed 410 Dry "Dry new on server"
md_write Dry 411 "Dry new locally"
dovecot_doveadm flags add -u alice '\Flagged' mailbox Dry uid "$(srv_uid alice Dry 'Dry 1')"
f=$(md_file Dry "Dry 2")
mv "$f" "$(md_dir Dry)/cur/$(basename "${f%%:2,*}"):2,S"
rm "$(md_file Dry 'Dry 3')"
dovecot_doveadm expunge -u alice mailbox Dry uid "$(srv_uid alice Dry 'Dry 4')"
seed 412 "DryNew" "In a new server folder"
files_before=$(local_files)
server_before=$(server_snapshot alice)
mark=$(dovecot_log_mark)
t_ok "--dry-run exits 0" "$FERRY" -c "$CONF" sync --dry-run test
plan=$T_OUT
t_matches "--dry-run: the folder's line the real run prints, marked" "$plan" \
	'^Dry: far->near \+1 ~1 -1, near->far \+1 ~1 -1 \[dry run: copies '
t_matches "--dry-run: plans the new folder" "$plan" '^DryNew: created on near \[dry run\]$'
t_matches "--dry-run: and the message in it" "$plan" '^DryNew: far->near \+1 ~0 -0 \[dry run: copies '
t_is "--dry-run: no local file changed" "$(local_files)" "$files_before"
t_is "--dry-run: nothing changed on the server" "$(server_snapshot alice)" "$server_before"
t_is "--dry-run: the server's log shows no change" "$(changes_since "$mark")" ""
t_ok "--dry-run: no folder DryNew locally" test ! -e "$(md_dir DryNew)"
ferry_sync test
t_is "the real run after --dry-run exits 0" "$T_RC" 0 || printf '%s\n' "$T_OUT" | t__indent
t_contains "the real run does what --dry-run planned" "$T_OUT" \
	"Dry: far->near +1 ~1 -1, near->far +1 ~1 -1"
t_is "Dry: 6 messages locally" "$(md_count Dry)" 6
t_is "Dry: 6 messages on the server" "$(dovecot_count alice Dry)" 6
t_is "DryNew: arrived" "$(md_count DryNew)" 1

# --- --pull, --push --------------------------------------------------------------------------
seed 500 Dir "Pulled from the server"
md_write Dir 501 "Written locally"
ferry_sync --pull test
t_is "--pull exits 0" "$T_RC" 0 || printf '%s\n' "$T_OUT" | t__indent
t_ok "--pull: the server's message arrived" test -n "$(md_file Dir 'Pulled from the server')"
t_is "--pull: the local message stays local" "$(srv_uid alice Dir 'Written locally')" ""
t_ok "--pull: the local file is still there" test -n "$(md_file Dir 'Written locally')"
seed 502 Dir "Second on the server"
ferry_sync --push test
t_is "--push exits 0" "$T_RC" 0 || printf '%s\n' "$T_OUT" | t__indent
t_ok "--push: the local message went up" test -n "$(srv_uid alice Dir 'Written locally')"
t_ok "--push: the server's new message did not come down" \
	test -z "$(md_file Dir 'Second on the server')"
ferry_sync test
t_ok "then a normal sync brings it" test -n "$(md_file Dir 'Second on the server')"
t_is "Dir: 3 on the server" "$(dovecot_count alice Dir)" 3
t_is "Dir: 3 locally" "$(md_count Dir)" 3

# --- CHANNEL:FOLDER -------------------------------------------------------------------------
seed 600 INBOX "Inbox only run"
seed 601 Other "Not this run, server"
md_write Other 602 "Not this run, local"
ferry_sync test:INBOX
t_is "test:INBOX exits 0" "$T_RC" 0 || printf '%s\n' "$T_OUT" | t__indent
t_ok "test:INBOX: the INBOX message arrived" test -n "$(md_file INBOX 'Inbox only run')"
t_ok "test:INBOX: Other's server message did not" test -z "$(md_file Other 'Not this run, server')"
t_is "test:INBOX: Other's local message was not uploaded" \
	"$(srv_uid alice Other 'Not this run, local')" ""
t_not_contains "test:INBOX: no line for another folder" "$T_OUT" "Other:"
ferry_sync test
t_ok "a full sync then syncs Other (down)" test -n "$(md_file Other 'Not this run, server')"
t_ok "a full sync then syncs Other (up)" test -n "$(srv_uid alice Other 'Not this run, local')"

# --- the channel lock -----------------------------------------------------------------------
seed 700 INBOX "While locked"
exec 9>>"$STATE.lock"
if flock -n 9; then
	t_pass "the test holds the channel lock"
else
	t_fail "the test holds the channel lock" "flock -n on $STATE.lock failed"
fi
start=$SECONDS
t_expect_exit 4 "a second ferry on a locked channel exits 4" "$FERRY" -c "$CONF" sync test
t_contains "it says another ferry is syncing" "$T_OUT" "being synced by another ferry"
t_ok "and it did not wait for the lock" test "$((SECONDS - start))" -lt 10
t_ok "and synced nothing" test -z "$(md_file INBOX 'While locked')"
exec 9>&-
ferry_sync test
t_is "lock released: the sync exits 0" "$T_RC" 0
t_ok "lock released: the message arrived" test -n "$(md_file INBOX 'While locked')"

# --- delete = none: a backup ------------------------------------------------------------------
CONF_BK=$WORK/backup.conf
BACKUP=$WORK/Backup
sed '/^\[channel/,$d' "$CONF" >"$CONF_BK"
cat >>"$CONF_BK" <<CONF
[maildir backup]
path = $BACKUP

[channel backup]
far = server
near = backup
folders = Keep
sync = pull
delete = none
state = $WORK/state/backup.sqlite
CONF
chmod 600 "$CONF_BK"
for i in 1 2 3 4; do seed "$((800 + i))" Keep "Kept $i"; done
t_ok "backup: first pull" "$FERRY" -c "$CONF_BK" sync
t_is "backup: 4 messages" "$(find "$BACKUP/Keep/cur" "$BACKUP/Keep/new" -type f | wc -l)" 4
dovecot_doveadm expunge -u alice mailbox Keep uid "$(srv_uid alice Keep 'Kept 1')"
dovecot_doveadm expunge -u alice mailbox Keep uid "$(srv_uid alice Keep 'Kept 2')"
seed 810 Keep "Kept 5"
t_ok "backup: pull after server expunges" "$FERRY" -c "$CONF_BK" sync
t_is "backup: expunged messages stay, the new one arrives (5)" \
	"$(find "$BACKUP/Keep/cur" "$BACKUP/Keep/new" -type f | wc -l)" 5
t_ok "backup: a third run" "$FERRY" -c "$CONF_BK" sync
t_is "backup: still 5 locally" "$(find "$BACKUP/Keep/cur" "$BACKUP/Keep/new" -type f | wc -l)" 5
t_is "backup: nothing went back to the server (3)" "$(dovecot_count alice Keep)" 3
t_done
