#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# A server that refuses an APPEND, against a real Cyrus 3.6 (tests/fixtures/cyrus.sh) whose
# maxmessagesize is 20000 bytes and whose user alice has a storage quota:
#   1. One batch of local messages: five small ones, one over the quota, one with a NUL
#      byte, one over maxmessagesize. Cyrus refuses the last three (NO): each is named with
#      the server's words, the run exits 1, the five small ones are uploaded and recorded,
#      and the journal holds nothing.
#   2. The next run tries the three again, once each, without "resuming an interrupted
#      upload" and without waiting for the server to settle; nothing is uploaded twice.
#   3. With the quota raised, the next run uploads the message that was over it, once.
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=../fixtures/cyrus.sh
. "$(dirname "${BASH_SOURCE[0]}")/../fixtures/cyrus.sh"

: "${FERRY:?FERRY must point at the ferry binary}"
T_TIMEOUT=120

CYRUS_EXTRA_CONF="maxmessagesize: 20000" cyrus_start || exit 1
WORK=$CYRUS_DIR/work
MAILDIR=$WORK/Mail
STATE=$WORK/state/test.sqlite
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

[maildir laptop]
path = $MAILDIR

[channel test]
far = cyrus
near = laptop
state = $STATE
CONF

ferry_sync() {
	t_run "$FERRY" -c "$CONF" sync "$@"
}

# md_write FOLDER NAME: stdin becomes a new local message, written as a mail client would.
md_write() {
	local d=$MAILDIR/$1
	mkdir -p "$d/tmp" "$d/cur" "$d/new"
	cat >"$d/tmp/$2" && mv "$d/tmp/$2" "$d/new/$2"
}

# msg ID [BODY_BYTES]: a message with Message-ID <ID@ferry.test>, its body BODY_BYTES long
# (lines of 71 bytes; default one short line).
msg() {
	printf 'From: Bob <bob@example.org>\nTo: Alice <alice@example.org>\n'
	printf 'Subject: Message %s\nDate: Mon, 01 Jan 2024 10:00:00 +0000\n' "$1"
	printf 'Message-ID: <%s@ferry.test>\n\n' "$1"
	if [[ -n ${2:-} ]]; then
		head -c "$2" /dev/zero | tr '\0' x | fold -w 70
		printf '\n'
	else
		printf 'A short one.\n'
	fi
}

# server_ids FOLDER: the Message-IDs on the server, sorted, space-separated.
server_ids() {
	cyrus_imap alice "EXAMINE \"$1\"" 'UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])' |
		grep -aoE '<[a-z0-9.]+@ferry\.test>' | sort | tr '\n' ' ' | sed 's/ $//'
}

journal_rows() {
	sqlite3 "$STATE" 'SELECT count(*) FROM journal;'
}

pairs() {
	sqlite3 "$STATE" "SELECT count(*) FROM pairs p JOIN folders f ON f.id = p.folder_id
		WHERE f.name = '$1';"
}

# --- 1: one batch, three refusals ------------------------------------------------------
# 12 KB of storage: the five small messages fit, the one of 15000 bytes does not.
cyrus_imap "$CYRUS_ADMIN" 'SETQUOTA "user.alice" (STORAGE 12)' >/dev/null ||
	t_fail "quota set" "SETQUOTA refused"
for i in 1 2 3 4 5; do
	msg "small.$i" | md_write INBOX "1700000000.M${i}P1.laptop"
done
msg quota 15000 | md_write INBOX 1700000010.M10P1.laptop
{ msg nul | head -n 6 && printf 'a NUL \0 in the body\n'; } | md_write INBOX 1700000011.M11P1.laptop
msg huge 30000 | md_write INBOX 1700000012.M12P1.laptop

ferry_sync
t_equal "refused: the run exits 1" 1 "$T_RC"
t_matches "refused: the message over quota is named, with the server's text" "$T_OUT" \
	'<quota@ferry\.test>.*(quota|Quota)'
t_matches "refused: the message with a NUL is named, with the server's text" "$T_OUT" \
	'<nul@ferry\.test>.*NUL'
t_matches "refused: the message over maxmessagesize is named, with the server's text" \
	"$T_OUT" '<huge@ferry\.test>.*(TOOBIG|APPENDLIMIT)'
t_equal "refused: the five small ones are on the server" \
	"<small.1@ferry.test> <small.2@ferry.test> <small.3@ferry.test> <small.4@ferry.test> <small.5@ferry.test>" \
	"$(server_ids INBOX)"
t_equal "refused: the five are recorded" 5 "$(pairs INBOX)"
t_equal "refused: the journal holds nothing" 0 "$(journal_rows)"

# --- 2: the next run tries again, once, without waiting -------------------------------
start=$(date +%s%N)
ferry_sync
took=$((($(date +%s%N) - start) / 1000000))
t_equal "again: the run exits 1" 1 "$T_RC"
t_not_contains "again: no interrupted upload to resume" "$T_OUT" "resuming an interrupted"
t_matches "again: the message over quota is tried again" "$T_OUT" '<quota@ferry\.test>'
t_ok "again: no wait for the server to settle (${took} ms)" test "$took" -lt 3000
t_equal "again: nothing uploaded twice" 5 "$(cyrus_count alice INBOX)"
t_equal "again: the journal holds nothing" 0 "$(journal_rows)"

# --- 3: quota raised: uploaded once ---------------------------------------------------
cyrus_imap "$CYRUS_ADMIN" 'SETQUOTA "user.alice" (STORAGE 100000)' >/dev/null ||
	t_fail "quota raised" "SETQUOTA refused"
ferry_sync
t_equal "raised: the run exits 1 (the NUL and the huge one are still refused)" 1 "$T_RC"
t_not_contains "raised: the message once over quota is not refused" "$T_OUT" '<quota@ferry.test>'
t_equal "raised: it is on the server, once" \
	"<quota@ferry.test> <small.1@ferry.test> <small.2@ferry.test> <small.3@ferry.test> <small.4@ferry.test> <small.5@ferry.test>" \
	"$(server_ids INBOX)"
t_equal "raised: six recorded" 6 "$(pairs INBOX)"
rm -f "$MAILDIR"/INBOX/new/1700000011.* "$MAILDIR"/INBOX/new/1700000012.*
ferry_sync
t_equal "raised: without the refused files, the run exits 0" 0 "$T_RC" ||
	printf '%s\n' "$T_OUT" | t__indent
t_equal "raised: still six on the server" 6 "$(cyrus_count alice INBOX)"

t_done
