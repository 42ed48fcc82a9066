#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Rule 7, "unpaired before copied": a first sync onto two full sides (a
# migration from mbsync or offlineimap). The server and the Maildir already
# hold the same 500 messages, and each side has 10 of its own. The sync pairs
# the 500 by identity: it uploads exactly the 10 local ones (10 saves in the
# server's log), downloads exactly the 10 server ones (10 bodies in the -v
# trace), and duplicates nothing. Then the Maildir index (..ferry-index.sqlite) is lost and
# a sync rebuilds it: nothing is duplicated and nothing uploaded.
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

# changes_since MARK: the mail_log lines of what IMAP clients changed on the server since
# dovecot_log_mark printed MARK: saves (uploads), copies, expunges, flag changes, folders.
changes_since() {
	dovecot_log_since "$1" |
		grep -E 'imap\([a-z]+\)<[^>]*><[^>]*>: Info: (save|copy|expunge|flag_change|mailbox_[a-z]+): '
}

# saves SINCE_MARK: the number of messages appended over IMAP (mail_log "save" events).
saves() {
	changes_since "$1" | grep -c ': save: '
}

# bodies TRACE: FETCH responses in a -v trace that carry a whole message (BODY[] {n}),
# as opposed to the listing (FLAGS, RFC822.SIZE) or the identity (BODY[HEADER]).
bodies() {
	grep -c -E '^S: \* [0-9]+ FETCH .*BODY\[\] \{[0-9]+\}' <<<"$1"
}

# --- both sides already hold the same 500 messages ------------------------------
dovecot_bulk_seed alice INBOX 500 1
# Dovecot indexes them (and may move them from new/ to cur/) before they are copied.
t_is "the server holds the 500" "$(dovecot_count alice INBOX)" 500
srvdir=$DOVECOT_DIR/mail/alice/Maildir
mkdir -p "$(md_dir INBOX)"/{cur,new,tmp}
n=0
for f in "$srvdir"/cur/* "$srvdir"/new/*; do
	[[ -f $f ]] || continue
	# The same content under the same unique name, no flags, as another tool left it.
	name=$(basename "$f")
	cp -p "$f" "$(md_dir INBOX)/new/${name%%:2,*}"
	n=$((n + 1))
done
t_is "the Maildir holds the same 500 files" "$n" 500

# --- and 10 different messages each ---------------------------------------------
dovecot_bulk_seed alice INBOX 10 501
for ((i = 1; i <= 10; i++)); do
	md_write INBOX "$((600 + i))" "Only local $i"
done
t_is "server: 510 before the first sync" "$(dovecot_count alice INBOX)" 510
t_is "local: 510 before the first sync" "$(md_count INBOX)" 510

# --- the first sync ----------------------------------------------------------------
mark=$(dovecot_log_mark)
t_ok "first sync onto two full sides exits 0" "$FERRY" -v -c "$CONF" sync test
trace=$T_OUT
converged INBOX 520 "first sync"
t_is "first sync: exactly 10 messages uploaded (server log)" "$(saves "$mark")" 10
t_is "first sync: exactly 10 bodies downloaded (-v trace)" "$(bodies "$trace")" 10
t_matches "first sync: the summary says +10 each way" "$trace" \
	'^test: far->near \+10 ~0 -0, near->far \+10 ~0 -0 \('
t_matches "first sync: the INBOX line says +10 each way" "$trace" \
	'^INBOX: far->near \+10 ~0 -0, near->far \+10 ~0 -0$'
t_not_contains "the -v trace shows no password" "$trace" "secret"
for i in 2 5; do
	t_ok "the local message 'Only local $i' is on the server as it is locally" \
		same_content INBOX "Only local $i"
done
t_ok "a server-only message arrived locally" test -n "$(md_file INBOX 'Bulk message 505')"

# --- a sync after that changes nothing ----------------------------------------------
mark=$(dovecot_log_mark)
ferry_sync test
t_is "second sync exits 0" "$T_RC" 0
t_contains "second sync: nothing to do" "$T_OUT" "test: far->near +0 ~0 -0, near->far +0 ~0 -0"
t_is "second sync: nothing saved, expunged or flagged" "$(changes_since "$mark")" ""

# --- the Maildir index is lost --------------------------------------------------------
t_ok "the Maildir index lives in ..ferry-index.sqlite" test -f "$MAILDIR/..ferry-index.sqlite"
rm -f -- "$MAILDIR"/..ferry-index.sqlite*
before=$(cd "$MAILDIR" && find . -name '..ferry-*' -prune -o -type f -print | sed 's/:2,.*//' | sort)
mark=$(dovecot_log_mark)
t_ok "sync after losing the index exits 0" "$FERRY" -v -c "$CONF" sync test
trace=$T_OUT
converged INBOX 520 "after losing the index"
t_is "after losing the index: nothing uploaded (no save in the server log)" \
	"$(saves "$mark")" 0
t_is "after losing the index: nothing expunged or otherwise changed on the server" \
	"$(changes_since "$mark")" ""
t_is "after losing the index: no body downloaded" "$(bodies "$trace")" 0
t_is "after losing the index: the same local files (by unique name)" \
	"$(cd "$MAILDIR" && find . -name '..ferry-*' -prune -o -type f -print | sed 's/:2,.*//' | sort)" \
	"$before"
t_ok "the index was rebuilt" test -f "$MAILDIR/..ferry-index.sqlite"

ferry_sync test
t_contains "and the next sync has nothing to do" "$T_OUT" \
	"test: far->near +0 ~0 -0, near->far +0 ~0 -0"
t_done
