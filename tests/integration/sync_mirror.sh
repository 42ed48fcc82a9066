#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# A real mirror between two providers: alice on Cyrus 3.6 (far: "INBOX." prefix, "."
# separator, sent mail in INBOX.Sent made \Sent with CREATE ... (USE (\Sent))) and alice on
# Dovecot (near: no prefix, "/" separator, sent mail in "Sent Items" \Sent). The first sync
# brings every folder, flag and keyword to both sides and pairs the two sent folders by role
# (no extra Sent, no extra Sent Items), and the two trash folders (Cyrus's made \Trash with
# SETMETADATA, Dovecot's "Deleted Messages"); then new mail, flag and keyword changes, moves and
# deletions go both ways, a move as a move; and a sync after that changes nothing. Each
# result is read on both servers, and no folder holds a Message-ID twice.
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=../fixtures/dovecot.sh
. "$(dirname "${BASH_SOURCE[0]}")/../fixtures/dovecot.sh"
# shellcheck source=../fixtures/cyrus.sh
. "$(dirname "${BASH_SOURCE[0]}")/../fixtures/cyrus.sh"

: "${FERRY:?FERRY must point at the ferry binary}"
T_TIMEOUT=60

# Dovecot's alice has only the folders made for her; "Sent Items" is \Sent and "Deleted
# Messages" \Trash when they exist.
export DOVECOT_MAILBOXES='  mailbox "Sent Items" {
    special_use = \Sent
  }
  mailbox "Deleted Messages" {
    special_use = \Trash
  }'
dovecot_start || exit 1
cyrus_start || exit 1
WORK=$DOVECOT_DIR/work
CONF=$WORK/ferry.conf
mkdir -p "$WORK"
cat >"$CONF" <<CONF
[imap cyrus]
host = 127.0.0.1
port = $CYRUS_IMAPS_PORT
user = alice
password = secret
ca_file = $CYRUS_CA
timeout = 20

[imap dovecot]
host = 127.0.0.1
port = $DOVECOT_IMAPS_PORT
user = alice
password = secret
ca_file = $DOVECOT_CA
timeout = 20

[channel mirror]
far = cyrus
near = dovecot
state = $WORK/state/mirror.sqlite
CONF
chmod 600 "$CONF"

# mirror_sync: one sync with the -v protocol trace, in T_OUT.
mirror_sync() {
	t_run "$FERRY" -v -c "$CONF" sync mirror
}

# appends OUTPUT: the APPEND commands in a -v trace (uploads, to either server).
appends() {
	grep -c 'C: [0-9A-Za-z]* APPEND' <<<"$1" || true
}

# moves OUTPUT, bodies OUTPUT: UID MOVE commands, and FETCH responses with a whole body, in a
# -v trace.
moves() {
	grep -c 'C: [0-9A-Za-z]* UID MOVE' <<<"$1" || true
}
bodies() {
	grep -c 'S: \* [0-9]* FETCH (.*BODY\[\] {' <<<"$1" || true
}

# c_seed N FOLDER SUBJECT [FLAGS]: one generated message in Cyrus's FOLDER (server spelling).
c_seed() {
	local tmp rc=0
	cyrus_create alice "$2" || return 1
	tmp=$(mktemp) || return 1
	make_message "$1" "$3" | sed 's/\r*$/\r/' >"$tmp" &&
		cyrus__as alice "APPEND $(cyrus__quote "$2") (${4:-}) {0+}" "@$tmp" >/dev/null || rc=1
	rm -f "$tmp"
	return "$rc"
}

# d_seed N FOLDER SUBJECT [FLAGS]: one generated message in Dovecot's FOLDER.
d_seed() {
	make_message "$1" "$3" | dovecot_seed alice "$2" || return 1
	[[ -z ${4:-} ]] || dovecot_doveadm flags add -u alice "$4" mailbox "$2" header Subject "$3"
}

# c_list FOLDER: "SUBJECT|FLAGS|MESSAGE-ID" per message of a Cyrus folder (server spelling),
# flags sorted, \Recent left out; sorted.
c_list() {
	cyrus__as alice "EXAMINE $(cyrus__quote "$1")" \
		'UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT MESSAGE-ID)])' |
		perl -ne '
			s/\r$//;
			if (/^\* \d+ FETCH .*FLAGS \(([^)]*)\)/) {
				$f = join " ", sort grep { $_ ne "\\Recent" } split " ", $1;
				($s, $m) = ("", "");
			} elsif (/^Subject: (.*)/i) { $s = $1 }
			elsif (/^Message-ID: (.*)/i) { $m = $1 }
			elsif (/^\)$/ && defined $f) { print "$s|$f|$m\n"; undef $f }' | LC_ALL=C sort
}

# d_list FOLDER: the same for a Dovecot folder.
d_list() {
	dovecot_doveadm -f tab fetch -u alice 'hdr.subject flags hdr.message-id' mailbox "$1" all |
		sed 1d | perl -ne '
			chomp; s/\r//g;
			my ($s, $f, $m) = split /\t/;
			$f = join " ", sort grep { $_ ne "\\Recent" } split " ", $f // "";
			print "$s|$f|$m\n"' | LC_ALL=C sort
}

# c_folders / d_folders: the folders of each account, one a line, sorted.
c_folders() {
	cyrus__as alice 'LIST "" "*"' | sed -n 's/^\* LIST ([^)]*) "." //p' | tr -d '\r"' |
		LC_ALL=C sort
}
d_folders() {
	dovecot_doveadm -f tab mailbox list -u alice | sed 1d | LC_ALL=C sort
}

# same_folder CYRUS_FOLDER DOVECOT_FOLDER COUNT WHEN: both hold the same COUNT messages with the
# same flags and keywords, no Message-ID twice on either side.
same_folder() {
	local c d
	c=$(c_list "$1")
	d=$(d_list "$2")
	t_equal "$4: $2 has $3 messages on Cyrus" "$3" "$(grep -c . <<<"$c")"
	t_equal "$4: $2 has $3 messages on Dovecot" "$3" "$(grep -c . <<<"$d")"
	t_equal "$4: $2: no Message-ID twice on Cyrus" "" "$(cut -d'|' -f3 <<<"$c" | sort | uniq -d)"
	t_equal "$4: $2: no Message-ID twice on Dovecot" "" \
		"$(cut -d'|' -f3 <<<"$d" | sort | uniq -d)"
	t_equal "$4: $2: the same messages, flags and keywords on both" "$c" "$d"
}

# flags_on SIDE FOLDER SUBJECT: the sorted flags of one message on c(yrus) or d(ovecot).
flags_on() {
	"${1}_list" "$2" | awk -F'|' -v s="$3" '$1 == s { print $2 }'
}

# --- the accounts ------------------------------------------------------------------
# Cyrus takes a role both ways: RFC 6154's CREATE-SPECIAL-USE and RFC 5464 metadata.
cyrus__as alice 'CREATE "INBOX.Sent" (USE (\Sent))' >/dev/null || exit 1
cyrus__as alice 'CREATE "INBOX.Trash"' \
	'SETMETADATA "INBOX.Trash" (/private/specialuse "\\Trash")' >/dev/null || exit 1
c_seed 1 INBOX "Inbox one" '\Seen'
c_seed 2 INBOX "Inbox two" '\Answered \Flagged'
c_seed 3 INBOX "Inbox three"
c_seed 4 INBOX "Inbox four"
c_seed 5 INBOX "Delete at far"
c_seed 6 INBOX "Delete at near"
c_seed 7 INBOX.Work.Projects "Project plan" "\$Label1"
c_seed 8 INBOX.Sent "Sent from Cyrus" '\Seen'
c_seed 9 INBOX.Trash "Trashed at Cyrus" '\Seen'
d_seed 20 INBOX "Dovecot hello"
d_seed 21 "Sent Items" "Sent from Dovecot" '\Seen'
d_seed 22 "Deleted Messages" "Trashed at Dovecot" '\Seen'

# --- 1. the first sync -------------------------------------------------------------
C_FOLDERS=$(printf '%s\n' INBOX INBOX.Sent INBOX.Trash INBOX.Work INBOX.Work.Projects)
D_FOLDERS=$(printf '%s\n' INBOX 'Deleted Messages' 'Sent Items' Work Work/Projects | LC_ALL=C sort)
mirror_sync
t_equal "first sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_equal "Cyrus: every folder, no Sent Items or Deleted Messages" "$C_FOLDERS" "$(c_folders)"
t_equal "Dovecot: every folder, no Sent or Trash" "$D_FOLDERS" "$(d_folders)"
same_folder INBOX INBOX 7 "first sync"
same_folder INBOX.Work.Projects Work/Projects 1 "first sync"
same_folder INBOX.Sent "Sent Items" 2 "first sync"
same_folder INBOX.Trash "Deleted Messages" 2 "first sync"
t_equal "\\Seen on Dovecot" '\Seen' "$(flags_on d INBOX "Inbox one")"
t_equal "\\Answered \\Flagged on Dovecot" '\Answered \Flagged' "$(flags_on d INBOX "Inbox two")"
t_equal "\$Label1 on Dovecot" "\$Label1" "$(flags_on d Work/Projects "Project plan")"
t_equal "\\Seen on Cyrus for Dovecot's sent message" '\Seen' \
	"$(flags_on c INBOX.Sent "Sent from Dovecot")"
t_equal "first sync: 12 uploads, 9 to Dovecot and 3 to Cyrus" 12 "$(appends "$T_OUT")"
t_equal "first sync: 12 bodies downloaded, each message once" 12 "$(bodies "$T_OUT")"

# --- 2. changes both ways ----------------------------------------------------------
c_seed 30 INBOX "New at Cyrus"
d_seed 31 INBOX "New at Dovecot"
cyrus__as alice 'SELECT "INBOX"' 'UID SEARCH HEADER Subject "Inbox two"' |
	sed -n 's/^\* SEARCH \([0-9]*\).*/\1/p' | tr -d '\r' >"$WORK/uid" || true
cyrus__as alice 'SELECT "INBOX"' "UID STORE $(cat "$WORK/uid") +FLAGS (\\Seen \$Label2)" >/dev/null
dovecot_doveadm flags add -u alice "\\Flagged \$Label3" mailbox INBOX header Subject "Inbox one"
dovecot_doveadm flags remove -u alice "\$Label1" mailbox Work/Projects header Subject \
	"Project plan"
cyrus__as alice 'SELECT "INBOX"' 'UID SEARCH HEADER Subject "Inbox three"' |
	sed -n 's/^\* SEARCH \([0-9]*\).*/\1/p' | tr -d '\r' >"$WORK/uid" || true
cyrus_move alice INBOX "$(cat "$WORK/uid")" INBOX.Work.Projects
dovecot_doveadm move -u alice "Deleted Messages" mailbox INBOX header Subject "Inbox four"
cyrus__as alice 'SELECT "INBOX"' 'UID SEARCH HEADER Subject "Delete at far"' |
	sed -n 's/^\* SEARCH \([0-9]*\).*/\1/p' | tr -d '\r' >"$WORK/uid" || true
cyrus__as alice 'SELECT "INBOX"' "UID STORE $(cat "$WORK/uid") +FLAGS (\\Deleted)" EXPUNGE \
	>/dev/null
dovecot_doveadm expunge -u alice mailbox INBOX header Subject "Delete at near"

mirror_sync
t_equal "second sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_equal "second sync: two uploads, the two new messages; the moves are not uploads" 2 \
	"$(appends "$T_OUT")"
t_equal "second sync: two bodies downloaded, the two new messages" 2 "$(bodies "$T_OUT")"
t_equal "second sync: each move is a UID MOVE on the other server" 2 "$(moves "$T_OUT")"
t_contains "second sync: one move each way" "$T_OUT" \
	"mirror: far->near +1 ~1 -1 >1, near->far +1 ~2 -1 >1"
# INBOX: one two + Dovecot hello + the two new; three and four moved out, two deleted.
same_folder INBOX INBOX 5 "changes"
same_folder INBOX.Work.Projects Work/Projects 2 "changes"
same_folder INBOX.Sent "Sent Items" 2 "changes"
same_folder INBOX.Trash "Deleted Messages" 3 "changes"
for s in "New at Cyrus" "New at Dovecot"; do
	t_equal "$s is in INBOX on Cyrus" 1 "$(c_list INBOX | grep -c "^$s|")"
	t_equal "$s is in INBOX on Dovecot" 1 "$(d_list INBOX | grep -c "^$s|")"
done
t_equal "Cyrus's \\Seen and \$Label2 reached Dovecot" "\$Label2 \\Answered \\Flagged \\Seen" \
	"$(flags_on d INBOX "Inbox two")"
t_equal "Dovecot's \\Flagged and \$Label3 reached Cyrus" "\$Label3 \\Flagged \\Seen" \
	"$(flags_on c INBOX "Inbox one")"
t_equal "Dovecot's removal of \$Label1 reached Cyrus" "" \
	"$(flags_on c INBOX.Work.Projects "Project plan")"
t_equal "Inbox three moved into Work.Projects on Cyrus" 1 \
	"$(c_list INBOX.Work.Projects | grep -c "^Inbox three|")"
t_equal "Inbox three moved into Work/Projects on Dovecot" 1 \
	"$(d_list Work/Projects | grep -c "^Inbox three|")"
t_equal "Inbox four moved into INBOX.Trash on Cyrus" 1 \
	"$(c_list INBOX.Trash | grep -c "^Inbox four|")"
t_equal "Inbox four moved into Deleted Messages on Dovecot" 1 \
	"$(d_list "Deleted Messages" | grep -c "^Inbox four|")"
for s in "Delete at far" "Delete at near"; do
	t_equal "$s is gone from Cyrus" 0 "$(c_list INBOX | grep -c "^$s|")"
	t_equal "$s is gone from Dovecot" 0 "$(d_list INBOX | grep -c "^$s|")"
done

# --- 3. a sync after that changes nothing -------------------------------------------
mirror_sync
t_equal "third sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_contains "third sync changes nothing" "$T_OUT" "mirror: far->near +0 ~0 -0, near->far +0 ~0 -0"
t_equal "third sync uploads nothing" 0 "$(appends "$T_OUT")"
t_equal "Cyrus's folders are unchanged" "$C_FOLDERS" "$(c_folders)"
t_equal "Dovecot's folders are unchanged" "$D_FOLDERS" "$(d_folders)"

t_done
