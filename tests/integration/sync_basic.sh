#!/usr/bin/env bash
# The main job: an IMAP account and an empty Maildir kept in step both ways.
# Initial sync of nested and non-ASCII folders, a second sync that changes
# nothing, then new, flagged and deleted messages on each side, flag unions,
# deletion against a concurrent flag (rule 10), and new folders both ways.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

sync_setup

seed 1 INBOX "Hello one"
seed 2 INBOX "Hello two"
seed 3 INBOX "Hello three"
seed 4 INBOX "Hello four"
seed 5 Work/Projects "Project plan"
seed 6 Work/Projects "Project budget" 20000
seed 7 "Entwürfe" "Entwurf eins"
dovecot_doveadm flags add -u alice '\Seen' mailbox INBOX uid 1
dovecot_doveadm flags add -u alice '\Seen \Flagged' mailbox INBOX uid 2
dovecot_doveadm flags add -u alice '\Answered' mailbox Work/Projects uid 1

# --- initial sync -----------------------------------------------------------
ferry_sync test
t_equal "initial sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_equal "INBOX: 4 messages locally" 4 "$(md_count INBOX)"
t_equal "Work/Projects: 2 messages locally" 2 "$(md_count Work/Projects)"
t_equal "Entwürfe (non-ASCII) arrived" 1 "$(md_count Entwürfe)"
t_equal "\\Seen maps to S" S "$(md_letters INBOX 'Hello one')"
t_equal "\\Seen \\Flagged map to FS" FS "$(md_letters INBOX 'Hello two')"
t_equal "\\Answered maps to R" R "$(md_letters Work/Projects 'Project plan')"
t_ok "no flags: delivered to new/" test -n "$(find "$(md_dir INBOX)/new" -type f)"
for s in "Hello one" "Hello four"; do
	t_ok "INBOX '$s': same content both sides" same_content INBOX "$s"
done
t_ok "Work/Projects: 20 KB message identical" same_content Work/Projects "Project budget"
uid=$(srv_uid alice INBOX "Hello three")
srv_date=$(dovecot_doveadm -f tab fetch -u alice date.received.unixtime mailbox INBOX uid "$uid" | sed 1d)
t_equal "file mtime = internal date" "$srv_date" "$(stat -c %Y "$(md_file INBOX 'Hello three')")"
t_ok "the state file is 0600" test "$(stat -c %a "$STATE")" = 600

# --- a second sync changes nothing ------------------------------------------
before=$(cd "$MAILDIR" && find . -name '..ferry-*' -prune -o -type f -print | sort)
mark=$(dovecot_log_mark)
ferry_sync test
t_equal "second sync exits 0" 0 "$T_RC"
t_contains "second sync: nothing moved" "$T_OUT" "far->near +0 ~0 -0, near->far +0 ~0 -0"
t_equal "second sync: local files untouched" "$before" \
	"$(cd "$MAILDIR" && find . -name '..ferry-*' -prune -o -type f -print | sort)"
t_equal "second sync: nothing saved, copied, expunged or flagged on the server" "" \
	"$(dovecot_log_since "$mark" | grep -E ': (save|copy|expunge|flag_change|mailbox_create):')"

# --- changes on both sides --------------------------------------------------
seed 10 INBOX "New on server"
md_write INBOX 11 "New locally"
md_write INBOX 12 "New locally, read" S
dovecot_doveadm flags add -u alice '\Flagged' mailbox INBOX uid "$(srv_uid alice INBOX 'Hello three')"
f=$(md_file INBOX "Hello four")
mv "$f" "$(md_dir INBOX)/cur/$(basename "${f%%:2,*}"):2,RS"
rm "$(md_file INBOX 'Hello one')"
dovecot_doveadm expunge -u alice mailbox Work/Projects uid "$(srv_uid alice Work/Projects 'Project plan')"
ferry_sync test
t_equal "sync of changes exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_contains "per-folder line for INBOX" "$T_OUT" "INBOX: far->near"
t_equal "INBOX: 4 + 1 from the server + 2 local - 1 deleted" 6 "$(md_count INBOX)"
t_ok "local new message is on the server" test -n "$(srv_uid alice INBOX 'New locally')"
t_equal "local new message kept its \\Seen" '\Seen' "$(srv_flags alice INBOX 'New locally, read')"
t_equal "server flag reached the file" F "$(md_letters INBOX 'Hello three')"
t_equal "local flags reached the server" '\Answered \Seen' "$(srv_flags alice INBOX 'Hello four')"
t_equal "local deletion expunged on the server" "" "$(srv_uid alice INBOX 'Hello one')"
t_equal "server expunge removed the file" 1 "$(md_count Work/Projects)"

# --- both sides change different flags of one message: the union ----------
dovecot_doveadm flags add -u alice '\Flagged' mailbox INBOX uid "$(srv_uid alice INBOX 'Hello two')"
dovecot_doveadm flags remove -u alice '\Seen' mailbox INBOX uid "$(srv_uid alice INBOX 'New on server')"
f=$(md_file INBOX "New on server")
mv "$f" "$(md_dir INBOX)/cur/$(basename "${f%%:2,*}"):2,R"
ferry_sync test
t_equal "union: far removed \\Seen, near added \\Answered" '\Answered' \
	"$(srv_flags alice INBOX 'New on server')"
t_equal "union: the file agrees" R "$(md_letters INBOX 'New on server')"

# --- rule 10: flagged on the server while deleted locally -----------------
uid=$(srv_uid alice INBOX "Hello three")
dovecot_doveadm flags remove -u alice '\Flagged' mailbox INBOX uid "$uid"
ferry_sync test
dovecot_doveadm flags add -u alice '\Flagged' mailbox INBOX uid "$uid"
rm "$(md_file INBOX 'Hello three')"
ferry_sync test
rule10_out=$T_OUT
t_equal "rule 10 sync exits 0" 0 "$T_RC"
t_ok "rule 10: the flagged message stays on the server" test -n "$(srv_uid alice INBOX 'Hello three')"
t_ok "rule 10: and is copied back locally" test -n "$(md_file INBOX 'Hello three')"
t_contains "rule 10: a conflict is reported" "$rule10_out" "conflict"

# --- new folders both ways ---------------------------------------------------
md_write "Local/Only" 20 "Filed locally"
seed 21 "Server Only" "Filed on the server"
ferry_sync test
t_equal "new folders sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_ok "a new local folder is created on the server with its mail" \
	test -n "$(srv_uid alice Local/Only 'Filed locally')"
t_equal "a new server folder appears locally with its mail" 1 "$(md_count 'Server Only')"

# --- and a final sync finds both sides equal --------------------------------
ferry_sync test
t_contains "final sync: nothing moved" "$T_OUT" "far->near +0 ~0 -0, near->far +0 ~0 -0"
t_done
