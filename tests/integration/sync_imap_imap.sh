#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# IMAP <-> IMAP: channel "mirror" keeps alice's account (far) and bob's (near,
# the same Dovecot) in step. The initial sync copies alice's folders, nested and
# non-ASCII, with their flags; then new messages, flags (system flags and a
# keyword, $Label1) and deletions on each side reach the other account; and a
# sync after that changes nothing on either server.
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

# mirror_sync: one run of channel "mirror" only.
mirror_sync() {
	t_run "$FERRY" -c "$CONF" sync mirror
}

# subjects USER FOLDER: the Subject lines of a folder, sorted.
subjects() {
	dovecot_doveadm -f tab fetch -u "$1" hdr.subject mailbox "$2" all | sed 1d | sort
}

# flags_of USER FOLDER SUBJECT: like srv_flags, but sorted words (order is not meaning).
flags_of() {
	srv_flags "$@" | tr ' ' '\n' | sed '/^$/d' | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//'
}

# shellcheck disable=SC2317 # called through t_ok
# same_message FOLDER SUBJECT: alice's and bob's copies are the same bytes (CRLF-normalised).
same_message() {
	local ua ub
	ua=$(srv_uid alice "$1" "$2")
	ub=$(srv_uid bob "$1" "$2")
	[[ -n $ua && -n $ub ]] || return 1
	cmp -s <(dovecot_doveadm fetch -u alice text mailbox "$1" uid "$ua" | sed -e 1d -e 's/\r$//') \
		<(dovecot_doveadm fetch -u bob text mailbox "$1" uid "$ub" | sed -e 1d -e 's/\r$//')
}

# changes_since MARK: the mail_log lines of what IMAP clients changed on the server since
# dovecot_log_mark printed MARK: saves (uploads), copies, expunges, flag changes, folders.
changes_since() {
	dovecot_log_since "$1" |
		grep -E 'imap\([a-z]+\)<[^>]*><[^>]*>: Info: (save|copy|expunge|flag_change|mailbox_[a-z]+): '
}

seed 1 INBOX "Inbox one"
seed 2 INBOX "Inbox two"
seed 3 INBOX "Inbox three"
seed 4 Work/Projects "Project plan"
seed 5 Work/Projects/2024 "Deeply nested" 5000
seed 6 "Entwürfe" "Entwurf eins"
seed 7 "Café/Ménu" "Non-ASCII nested"
dovecot_doveadm flags add -u alice '\Seen' mailbox INBOX uid "$(srv_uid alice INBOX 'Inbox one')"
dovecot_doveadm flags add -u alice '\Answered \Flagged' mailbox INBOX \
	uid "$(srv_uid alice INBOX 'Inbox two')"
dovecot_doveadm flags add -u alice "\$Label2" mailbox Work/Projects \
	uid "$(srv_uid alice Work/Projects 'Project plan')"

# --- initial sync -----------------------------------------------------------------
mirror_sync
t_is "initial mirror sync exits 0" "$T_RC" 0 || printf '%s\n' "$T_OUT" | t__indent
for f in INBOX Work/Projects Work/Projects/2024 "Entwürfe" "Café/Ménu"; do
	t_ok "bob has folder $f" dovecot_has_folder bob "$f"
	t_is "$f: bob has the same messages as alice" "$(subjects bob "$f")" "$(subjects alice "$f")"
done
t_is "INBOX: 3 messages at bob" "$(dovecot_count bob INBOX)" 3
t_is "\\Seen copied" "$(flags_of bob INBOX 'Inbox one')" '\Seen'
t_is "\\Answered \\Flagged copied" "$(flags_of bob INBOX 'Inbox two')" '\Answered \Flagged'
t_is "keyword \$Label2 copied" "$(flags_of bob Work/Projects 'Project plan')" "\$Label2"
t_ok "the nested 5 KB message is identical at bob" same_message Work/Projects/2024 "Deeply nested"
t_ok "the non-ASCII folder's message is identical at bob" same_message "Café/Ménu" \
	"Non-ASCII nested"

# --- a second sync changes nothing ------------------------------------------------
mark=$(dovecot_log_mark)
mirror_sync
t_is "second sync exits 0" "$T_RC" 0
t_contains "second sync: nothing moved" "$T_OUT" "mirror: far->near +0 ~0 -0, near->far +0 ~0 -0"
t_is "second sync: nothing saved, expunged or flagged on either account" \
	"$(changes_since "$mark")" ""

# --- changes on both accounts ------------------------------------------------------
seed 10 INBOX "New at alice"
make_message 11 "New at bob" | dovecot_seed bob INBOX
make_message 12 "New at bob, nested" | dovecot_seed bob Work/Projects/2024
# flags: alice flags one, bob labels another with a keyword and reads a third
dovecot_doveadm flags add -u alice '\Flagged' mailbox INBOX uid "$(srv_uid alice INBOX 'Inbox three')"
dovecot_doveadm flags add -u bob "\$Label1" mailbox INBOX uid "$(srv_uid bob INBOX 'Inbox one')"
dovecot_doveadm flags add -u bob '\Seen' mailbox Work/Projects \
	uid "$(srv_uid bob Work/Projects 'Project plan')"
dovecot_doveadm flags remove -u alice '\Answered' mailbox INBOX uid "$(srv_uid alice INBOX 'Inbox two')"
# deletions: alice expunges one, bob expunges another
dovecot_doveadm expunge -u alice mailbox Work/Projects/2024 \
	uid "$(srv_uid alice Work/Projects/2024 'Deeply nested')"
dovecot_doveadm expunge -u bob mailbox "Entwürfe" uid "$(srv_uid bob "Entwürfe" 'Entwurf eins')"

mirror_sync
t_is "sync of changes exits 0" "$T_RC" 0 || printf '%s\n' "$T_OUT" | t__indent
t_ok "alice's new message reached bob" test -n "$(srv_uid bob INBOX 'New at alice')"
t_ok "bob's new message reached alice" test -n "$(srv_uid alice INBOX 'New at bob')"
t_ok "bob's new nested message reached alice" \
	test -n "$(srv_uid alice Work/Projects/2024 'New at bob, nested')"
t_ok "and it is identical" same_message Work/Projects/2024 "New at bob, nested"
t_is "alice's \\Flagged reached bob" "$(flags_of bob INBOX 'Inbox three')" '\Flagged'
t_is "bob's keyword \$Label1 reached alice" "$(flags_of alice INBOX 'Inbox one')" "\$Label1 \\Seen"
t_is "bob's \\Seen reached alice (keyword kept)" \
	"$(flags_of alice Work/Projects 'Project plan')" "\$Label2 \\Seen"
t_is "alice's removal of \\Answered reached bob" "$(flags_of bob INBOX 'Inbox two')" '\Flagged'
t_is "alice's expunge reached bob" "$(srv_uid bob Work/Projects/2024 'Deeply nested')" ""
t_is "bob's expunge reached alice" "$(srv_uid alice "Entwürfe" 'Entwurf eins')" ""
for f in INBOX Work/Projects Work/Projects/2024 "Entwürfe" "Café/Ménu"; do
	t_is "$f: both accounts hold the same messages" "$(subjects bob "$f")" \
		"$(subjects alice "$f")"
done
t_is "INBOX: 5 messages at alice" "$(dovecot_count alice INBOX)" 5
t_is "INBOX: 5 messages at bob" "$(dovecot_count bob INBOX)" 5

# --- and a sync after that changes nothing --------------------------------------------
mark=$(dovecot_log_mark)
mirror_sync
t_is "final sync exits 0" "$T_RC" 0
t_contains "final sync: nothing moved" "$T_OUT" "mirror: far->near +0 ~0 -0, near->far +0 ~0 -0"
t_is "final sync: nothing saved, expunged or flagged on either account" \
	"$(changes_since "$mark")" ""

# --- flags only, on both accounts: planned over the changed messages alone -----------
dovecot_doveadm flags add -u alice '\Seen' mailbox INBOX uid "$(srv_uid alice INBOX 'Inbox three')"
dovecot_doveadm flags add -u bob '\Answered' mailbox INBOX uid "$(srv_uid bob INBOX 'Inbox three')"
dovecot_doveadm flags remove -u bob '\Seen' mailbox INBOX uid "$(srv_uid bob INBOX 'Inbox one')"
t_run "$FERRY" -v -c "$CONF" sync mirror
t_is "flags only: exits 0" "$T_RC" 0
t_contains "flags only: INBOX planned over its two changed messages" "$T_OUT" \
	"INBOX: planned over 2 changed pair(s) and 0 new message(s), without the other 3 pair(s)"
t_is "flags only: both changes to one message merged at alice" \
	"$(flags_of alice INBOX 'Inbox three')" '\Answered \Flagged \Seen'
t_is "flags only: and at bob" "$(flags_of bob INBOX 'Inbox three')" '\Answered \Flagged \Seen'
t_is "flags only: bob's removal of \Seen reached alice" "$(flags_of alice INBOX 'Inbox one')" \
	"\$Label1"
t_is "flags only: INBOX holds 5 messages on both" \
	"$(dovecot_count alice INBOX) $(dovecot_count bob INBOX)" "5 5"
t_done
