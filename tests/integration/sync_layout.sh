#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# layout = maildir++: INBOX is the Maildir root itself (cur/ new/ tmp/ at the
# root), other folders are dot-separated directories at the root
# (Work/Projects -> .Work.Projects). The initial sync and a change each way,
# checked on disk; nothing is written in the verbatim places (<root>/INBOX,
# <root>/Work/Projects).
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=sync_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

# t_is DESC ACTUAL EXPECTED: t_equal (DESC EXPECTED ACTUAL) in the order this script writes it.
t_is() {
	t_equal "$1" "$3" "$2"
}

sync_setup maildir++

# The maildir++ directory of a folder (sync_lib's md_dir is the verbatim layout's).
md_dir() {
	case $1 in
	INBOX) printf '%s\n' "$MAILDIR" ;;
	*) printf '%s/.%s\n' "$MAILDIR" "${1//\//.}" ;;
	esac
}

# tree: the directories under the Maildir root (not the index), sorted.
tree() {
	(cd "$MAILDIR" && find . -type d -print | LC_ALL=C sort)
}

seed 1 INBOX "Inbox one"
seed 2 INBOX "Inbox two"
seed 3 Work/Projects "Project plan"
seed 4 "Entwürfe" "Entwurf eins"
dovecot_doveadm flags add -u alice '\Seen' mailbox INBOX uid "$(srv_uid alice INBOX 'Inbox one')"

# --- initial sync -----------------------------------------------------------------
ferry_sync test
t_is "initial sync exits 0" "$T_RC" 0 || printf '%s\n' "$T_OUT" | t__indent
t_is "INBOX is the root: 2 messages in <root>/cur and <root>/new" "$(md_count INBOX)" 2
t_ok "INBOX: the read message is in <root>/cur with :2,S" \
	test -n "$(find "$MAILDIR/cur" -maxdepth 1 -type f -name '*:2,S')"
t_ok "INBOX: the unread one is in <root>/new" \
	test -n "$(find "$MAILDIR/new" -maxdepth 1 -type f)"
t_ok "<root>/tmp exists" test -d "$MAILDIR/tmp"
t_is "Work/Projects is .Work.Projects" "$(md_count Work/Projects)" 1
t_ok ".Work.Projects has cur, new and tmp" \
	test -d "$MAILDIR/.Work.Projects/cur" -a -d "$MAILDIR/.Work.Projects/new" \
	-a -d "$MAILDIR/.Work.Projects/tmp"
t_is "Entwürfe is .Entwürfe" "$(md_count "Entwürfe")" 1
t_ok "no <root>/INBOX directory" test ! -e "$MAILDIR/INBOX"
t_ok "no <root>/Work directory" test ! -e "$MAILDIR/Work"
t_ok "no <root>/Entwürfe directory" test ! -e "$MAILDIR/Entwürfe"
t_ok "the special-use folders are dot folders too (.Sent)" test -d "$MAILDIR/.Sent/cur"
t_is "every folder directory is a dot folder at the root, or the root's own cur/new/tmp" \
	"$(tree | grep -v -E '^\.(/\.[^/]+)?(/(cur|new|tmp))?$')" ""
for s in "Inbox one" "Inbox two"; do
	t_ok "INBOX '$s': same content both sides" same_content INBOX "$s"
done
t_ok "Work/Projects: same content both sides" same_content Work/Projects "Project plan"

# --- a second sync changes nothing --------------------------------------------------
ferry_sync test
t_contains "second sync: nothing moved" "$T_OUT" "test: far->near +0 ~0 -0, near->far +0 ~0 -0"

# --- a change each way ---------------------------------------------------------------
seed 10 INBOX "New on the server"
seed 11 Work/Projects "New project on the server"
dovecot_doveadm flags add -u alice '\Flagged' mailbox Work/Projects \
	uid "$(srv_uid alice Work/Projects 'Project plan')"
md_write INBOX 12 "New in the root"
md_write Work/Projects 13 "New in .Work.Projects" S
f=$(md_file INBOX "Inbox two")
mv "$f" "$MAILDIR/cur/$(basename "${f%%:2,*}"):2,R"
rm "$(md_file "Entwürfe" "Entwurf eins")"
# A new local folder, maildir++ style.
md_write Local/Sub 14 "Filed in .Local.Sub"
ferry_sync test
t_is "sync of changes exits 0" "$T_RC" 0 || printf '%s\n' "$T_OUT" | t__indent
t_ok "server -> root: the new INBOX message is in <root>/new" \
	grep -q -l -F "Subject: New on the server" "$MAILDIR"/new/* "$MAILDIR"/cur/*
t_is "INBOX: 4 messages at the root" "$(md_count INBOX)" 4
t_is "Work/Projects: 3 messages in .Work.Projects" "$(md_count Work/Projects)" 3
t_is "server flag reached .Work.Projects" "$(md_letters Work/Projects 'Project plan')" F
t_ok "root -> server: the new root message is in INBOX" \
	test -n "$(srv_uid alice INBOX 'New in the root')"
t_ok ".Work.Projects -> server: in Work/Projects" \
	test -n "$(srv_uid alice Work/Projects 'New in .Work.Projects')"
t_is "its \\Seen went along" "$(srv_flags alice Work/Projects 'New in .Work.Projects')" '\Seen'
t_is "a flag set in <root>/cur reached the server" "$(srv_flags alice INBOX 'Inbox two')" \
	'\Answered'
t_is "a deletion in .Entwürfe reached the server" "$(srv_uid alice "Entwürfe" 'Entwurf eins')" ""
t_ok "the local folder .Local.Sub is Local/Sub on the server" \
	test -n "$(srv_uid alice Local/Sub 'Filed in .Local.Sub')"
t_ok "still no <root>/INBOX" test ! -e "$MAILDIR/INBOX"
t_ok "still no <root>/Work" test ! -e "$MAILDIR/Work"
t_is "still every folder directory a dot folder at the root" \
	"$(tree | grep -v -E '^\.(/\.[^/]+)?(/(cur|new|tmp))?$')" ""

ferry_sync test
t_contains "final sync: nothing moved" "$T_OUT" "test: far->near +0 ~0 -0, near->far +0 ~0 -0"
t_done
