#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Special-use pairing (DESIGN rule 11): folders of one role pair across the two sides though
# their names differ. Alice's server calls her sent mail "Sent Items" (\Sent) and her drafts
# "Brouillons" (\Drafts), and has a Gmail-style "[Gmail]/All Mail" (\All); bob's calls his sent
# mail "[Gmail]/Sent Mail"; a Maildir calls it "Sent". Moving in (the same messages already on
# both sides) copies nothing; new mail flows both ways between the role folders; a folder made
# for a role takes the other side's name for it; \All is left out with a notice; `map` pairs
# explicitly; `ferry list` says why each pair paired.
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=sync_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

# Each user has only the folders made for them; the attributes come with the names.
export DOVECOT_MAILBOXES='  mailbox "Sent Items" {
    special_use = \Sent
  }
  mailbox "[Gmail]/Sent Mail" {
    special_use = \Sent
  }
  mailbox "[Gmail]/All Mail" {
    special_use = \All
  }
  mailbox Brouillons {
    special_use = \Drafts
  }'

# shellcheck disable=SC2119 # its argument is the layout, not this script's
sync_setup
MAILDIR2=$WORK/Mail2
cat >>"$CONF" <<CONF

[maildir mapped]
path = $MAILDIR2
drafts = "Mes brouillons"

[channel mapped]
far = server
near = mapped
state = $WORK/state/mapped.sqlite
map = Projects = "Old Mail", "Sent Items" = "Sent Archive"
CONF

# subjects USER FOLDER: the Subject lines of a server folder, sorted.
subjects() {
	dovecot_doveadm -f tab fetch -u "$1" hdr.subject mailbox "$2" all | sed 1d | sort
}

# md_subjects DIR FOLDER: the Subject lines of a local folder, sorted.
md_subjects() {
	find "$1/$2/cur" "$1/$2/new" -maxdepth 1 -type f -exec grep -h -m1 '^Subject:' {} + \
		2>/dev/null | sed 's/^Subject: //; s/\r$//' | sort
}

# shellcheck disable=SC2317 # called through t_ok
# no_folder USER FOLDER: the account has no such folder.
no_folder() {
	! folders "$1" | grep -qxF -- "$2"
}

# bob_seed N FOLDER SUBJECT: one generated message in bob's account.
bob_seed() {
	make_message "$1" "$3" | dovecot_seed bob "$2"
}

# folders USER: the folders of an account, one a line, sorted.
folders() {
	dovecot_doveadm -f tab mailbox list -u "$1" | sed 1d | sort
}

seed 1 "Sent Items" "Sent one"
seed 2 "Sent Items" "Sent two"
seed 3 "[Gmail]/All Mail" "Everything again"
seed 4 INBOX "Inbox one"
seed 5 Brouillons "Draft one"
md_write Sent 1 "Sent one" S
md_write Sent 2 "Sent two" S
md_write Junk 6 "Local junk"

# --- IMAP <-> Maildir: moving in --------------------------------------------------
mark=$(dovecot_log_mark)
ferry_sync test
first=$T_OUT
t_equal "first sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_equal "moving in: the sent messages pair, nothing is uploaded but the local Junk" 1 \
	"$(saves_since "$mark")"
t_equal "Sent Items pairs with local Sent: nothing downloaded into it" \
	"$(printf 'Sent one\nSent two')" "$(md_subjects "$MAILDIR" Sent)"
t_ok "no local Sent Items is made" test ! -e "$MAILDIR/Sent Items"
t_ok "no Sent is made on the server" no_folder alice Sent
t_equal "alice's folders: no Sent, Junk made under the local name" \
	"$(printf '%s\n' Brouillons INBOX Junk 'Sent Items' '[Gmail]' '[Gmail]/All Mail' | sort)" \
	"$(folders alice)"
t_equal "Brouillons (\\Drafts) is made locally as Drafts" "Draft one" \
	"$(md_subjects "$MAILDIR" Drafts)"
t_ok "no local Brouillons" test ! -e "$MAILDIR/Brouillons"
t_ok "\\All is not synced" test ! -e "$MAILDIR/[Gmail]/All Mail"
t_matches "one notice names the \\All folder" "$first" 'not synced: far "\[Gmail\]/All Mail"'
t_equal "the notice comes once" 1 "$(grep -c "All Mail" <<<"$first")"
t_equal "local Junk reached the server as Junk" "Local junk" "$(subjects alice Junk)"

# --- new mail both ways between the role folders ------------------------------------
seed 7 "Sent Items" "Sent from the server"
md_write Sent 8 "Sent from the laptop" S
md_write Drafts 9 "Local draft"
mark=$(dovecot_log_mark)
ferry_sync test
t_equal "second sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_equal "two uploads: the laptop's sent mail and draft" 2 "$(saves_since "$mark")"
t_equal "the server's new sent mail reached local Sent" \
	"$(printf 'Sent from the laptop\nSent from the server\nSent one\nSent two')" \
	"$(md_subjects "$MAILDIR" Sent)"
t_equal "the laptop's sent mail reached Sent Items" \
	"$(printf 'Sent from the laptop\nSent from the server\nSent one\nSent two')" \
	"$(subjects alice "Sent Items")"
t_equal "the local draft reached Brouillons" "$(printf 'Draft one\nLocal draft')" \
	"$(subjects alice Brouillons)"
mark=$(dovecot_log_mark)
ferry_sync test
t_contains "a third sync changes nothing" "$T_OUT" "test: far->near +0 ~0 -0, near->far +0 ~0 -0"
t_run "$FERRY" -c "$CONF" status test
t_equal "status exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_not_contains "status: nothing waits to be created (Sent is Sent Items' pair)" "$T_OUT" "created"
t_run "$FERRY" -c "$CONF" verify test
t_equal "verify checks the pairs by role as pairs: exit 0" 0 "$T_RC" ||
	printf '%s\n' "$T_OUT" | t__indent

# --- ferry list says why ----------------------------------------------------------
t_run "$FERRY" -c "$CONF" list test
t_equal "list exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_matches "Sent Items pairs with Sent by role" "$T_OUT" 'Sent Items .*near "Sent".*role \\Sent'
t_matches "Brouillons pairs with Drafts by role" "$T_OUT" 'Brouillons .*near "Drafts".*role \\Drafts'
t_matches "INBOX pairs by name" "$T_OUT" 'INBOX .* yes +yes +by name'
t_matches "All Mail is left out" "$T_OUT" 'All Mail.*\\All'
t_run "$FERRY" -c "$CONF" list --json test
t_contains "list --json: the pair and why" "$T_OUT" \
	'"name":"Sent Items","on_far":true,"on_near":true,"far_noselect":false,"near_noselect":false,"pairing":"paired","near_name":"Sent","why":"role","role":"\\Sent"'

# --- IMAP <-> IMAP ---------------------------------------------------------------
bob_seed 1 "[Gmail]/Sent Mail" "Sent one"
bob_seed 2 "[Gmail]/Sent Mail" "Sent two"
bob_seed 10 "[Gmail]/Sent Mail" "Sent by bob"
mark=$(dovecot_log_mark)
t_run "$FERRY" -c "$CONF" sync mirror
t_equal "mirror sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_ok "bob gets no Sent Items" no_folder bob "Sent Items"
t_equal "bob's folders: the role folder kept its name, Brouillons made under its name" \
	"$(printf '%s\n' Brouillons INBOX Junk '[Gmail]' '[Gmail]/Sent Mail' | sort)" \
	"$(folders bob)"
t_equal "[Gmail]/Sent Mail and Sent Items hold the same" "$(subjects alice "Sent Items")" \
	"$(subjects bob "[Gmail]/Sent Mail")"
t_equal "Sent one and Sent two were not copied: one upload each way for bob's own" \
	"Sent by bob" "$(subjects alice "Sent Items" | grep -x 'Sent by bob')"
t_equal "uploads: bob's one to alice, alice's 2 sent + INBOX + Junk + 2 drafts to bob" 7 \
	"$(saves_since "$mark")"
bob_seed 11 "[Gmail]/Sent Mail" "Later by bob"
seed 12 "Sent Items" "Later by alice"
t_run "$FERRY" -c "$CONF" sync mirror
t_equal "mirror: new mail both ways" "$(subjects alice "Sent Items")" \
	"$(subjects bob "[Gmail]/Sent Mail")"
t_equal "mirror: bob's later message at alice" "Later by bob" \
	"$(subjects alice "Sent Items" | grep -x 'Later by bob')"

# --- map ------------------------------------------------------------------------
seed 13 Projects "Project plan"
mkdir -p "$MAILDIR2"
MAILDIR=$MAILDIR2 md_write "Old Mail" 13 "Project plan"
MAILDIR=$MAILDIR2 md_write "Old Mail" 14 "Old local"
mark=$(dovecot_log_mark)
t_run "$FERRY" -c "$CONF" sync mapped
t_equal "mapped sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_equal "map: Projects holds both, Project plan not copied again" \
	"$(printf 'Old local\nProject plan')" "$(subjects alice Projects)"
t_equal "map: Old Mail holds both" "$(printf 'Old local\nProject plan')" \
	"$(md_subjects "$MAILDIR2" "Old Mail")"
t_ok "map: no local Projects" test ! -e "$MAILDIR2/Projects"
t_ok "map: no Old Mail on the server" no_folder alice "Old Mail"
t_equal "map beats role: Sent Items went to Sent Archive, not Sent" \
	"$(subjects alice "Sent Items")" "$(md_subjects "$MAILDIR2" "Sent Archive")"
t_ok "map beats role: no local Sent" test ! -e "$MAILDIR2/Sent"
t_equal "a configured role name: Brouillons went to Mes brouillons" \
	"$(subjects alice Brouillons)" "$(md_subjects "$MAILDIR2" "Mes brouillons")"
t_run "$FERRY" -c "$CONF" list mapped
t_matches "list: Projects pairs by map" "$T_OUT" 'Projects .*near "Old Mail".*map'

# --- a pair by role holds when a name appears ------------------------------------
# Another client makes a plain Sent on the server: Sent Items stays paired with the local
# Sent (the state remembers the pair); the server's Sent is left out, with a warning,
# rather than synced into the local Sent or Sent Items' mail copied to a new folder.
make_message 15 "Another client's sent" | dovecot_seed alice Sent
mark=$(dovecot_log_mark)
ferry_sync test
t_equal "sync after a Sent appeared exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_matches "a warning names the server's Sent" "$T_OUT" 'far "Sent" not synced'
t_ok "still no local Sent Items" test ! -e "$MAILDIR/Sent Items"
t_equal "local Sent still holds what Sent Items holds" "$(subjects alice "Sent Items")" \
	"$(md_subjects "$MAILDIR" Sent)"
t_equal "nothing uploaded" 0 "$(saves_since "$mark")"

# --- a move into a role folder is a move on the other side -----------------------
md_mv INBOX Sent "Inbox one"
mark=$(dovecot_log_mark)
ferry_sync test
t_equal "sync after a local move exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_equal "the move into Sent moved Inbox one into Sent Items on the server" "Inbox one" \
	"$(subjects alice "Sent Items" | grep -x 'Inbox one')"
t_equal "and out of INBOX" "" "$(subjects alice INBOX | grep -x 'Inbox one')"
t_equal "moved, not uploaded" 0 "$(saves_since "$mark")"

t_done
