#!/usr/bin/env bash
# shellcheck disable=SC2016 # \Deleted and \Seen are IMAP flags, not variables
# DESIGN rule 9, last sentences: a backup holds everything the server holds. A new server
# message already flagged \Deleted is copied, with its flag (T in the file name), where the
# receiving side does not carry out deletions (`delete = none` with `sync = pull`, or
# `delete = far`); where it does (`delete = both`), it is not copied.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

sync_setup
cat >>"$CONF" <<CONF

[maildir backup]
path = $WORK/Backup

[maildir keepnear]
path = $WORK/KeepNear

[channel backup]
far = server
near = backup
sync = pull
delete = none
state = $WORK/state/backup.sqlite

[channel keepnear]
far = server
near = keepnear
delete = far
state = $WORK/state/keepnear.sqlite
CONF

seed 1 INBOX "Kept message"
seed 2 INBOX "Deleted on the server"
dovecot_doveadm flags add -u alice '\Seen \Deleted' mailbox INBOX uid "$(srv_uid alice INBOX 'Deleted on the server')"
t_equal "the server holds the message flagged \\Deleted" '\Deleted \Seen' \
	"$(srv_flags alice INBOX 'Deleted on the server')"

# letters_in ROOT SUBJECT: the Maildir flag letters of that message in INBOX under ROOT.
letters_in() {
	MAILDIR=$1 md_letters INBOX "$2"
}
count_in() {
	MAILDIR=$1 md_count INBOX
}

# --- a backup: sync = pull, delete = none -------------------------------------------
ferry_sync backup
t_equal "backup: sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_contains "backup: both messages copied" "$T_OUT" "INBOX: far->near +2 ~0 -0"
t_equal "backup: both messages are in the backup" 2 "$(count_in "$WORK/Backup")"
t_equal "backup: the \\Deleted message carries T (and S)" "ST" \
	"$(letters_in "$WORK/Backup" 'Deleted on the server')"
# shellcheck disable=SC2097,SC2098 # MAILDIR is meant for the function only
MAILDIR=$WORK/Backup t_ok "backup: its content is the server's" same_content INBOX "Deleted on the server"
ferry_sync backup
t_equal "backup: second sync exits 0" 0 "$T_RC"
t_contains "backup: the second sync copies nothing" "$T_OUT" "backup: far->near +0 ~0 -0"

# --- delete = far: the local side keeps what the server deletes ---------------------
ferry_sync keepnear
t_equal "delete = far: sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_equal "delete = far: both messages are local" 2 "$(count_in "$WORK/KeepNear")"
t_equal "delete = far: the \\Deleted message carries T (and S)" "ST" \
	"$(letters_in "$WORK/KeepNear" 'Deleted on the server')"
ferry_sync keepnear
t_equal "delete = far: second sync exits 0" 0 "$T_RC"
t_contains "delete = far: the second sync changes nothing" "$T_OUT" \
	"far->near +0 ~0 -0, near->far +0 ~0 -0"
t_equal "delete = far: the server still holds both, flags untouched" \
	'2 \Deleted \Seen' \
	"$(dovecot_count alice INBOX) $(srv_flags alice INBOX 'Deleted on the server')"

# --- delete = both: a side that deletes does not get a message on its way out -------
ferry_sync test
t_equal "delete = both: sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_equal "delete = both: only the kept message is copied" 1 "$(md_count INBOX)"
t_equal "delete = both: the \\Deleted message is not local" "" "$(md_file INBOX 'Deleted on the server')"

# --- the server expunges it: the backup keeps it, T and all -------------------------
dovecot_doveadm expunge -u alice mailbox INBOX deleted
t_equal "the server expunged the \\Deleted message" 1 "$(dovecot_count alice INBOX)"
ferry_sync backup
t_equal "backup after the expunge: sync exits 0" 0 "$T_RC"
t_equal "backup after the expunge: still both messages" 2 "$(count_in "$WORK/Backup")"
t_equal "backup after the expunge: still with T" "ST" \
	"$(letters_in "$WORK/Backup" 'Deleted on the server')"

t_done
