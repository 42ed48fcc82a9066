#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# A server that refuses an APPEND, against a real Cyrus 3.6 (tests/fixtures/cyrus.sh) whose
# maxmessagesize is 20000 bytes and whose user alice has a storage quota:
#   1. One batch of local messages: five small ones, one over the quota, one with a NUL
#      byte, one over maxmessagesize. Cyrus refuses the last three (NO): each is named with
#      the server's words, the run exits 1, the five small ones are uploaded and recorded,
#      and the journal holds nothing.
#   2. The next run tries the three again, once each, without "resuming an interrupted
#      upload" (nor the wait for the server to settle that goes with it); nothing is
#      uploaded twice.
#   3. With the quota raised, the next run uploads the message that was over it, once.
#   4. Keyword limit: Cyrus keeps 100 keywords per mailbox (a NO "Too many user flags" for
#      more, although PERMANENTFLAGS says \*). Six local messages with 20 keywords each, 120
#      in all: the run uploads all six with the keywords that fit, warns once naming the
#      others and exits 0; the local messages keep all their keywords, and the next run is
#      quiet: nothing copied, nothing removed on either side, no warning.
#   5. The same for a STORE: a server folder that holds 100 keywords already and a message
#      that pairs with a local one (by identity) carrying keywords the folder takes no more
#      of: the run stores those that fit, warns once, exits 0; the next run is quiet.
# shellcheck source=cyrus_lib.sh
CYRUS_EXTRA_CONF="maxmessagesize: 20000" . "$(dirname "${BASH_SOURCE[0]}")/cyrus_lib.sh"

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
ferry_sync
t_equal "again: the run exits 1" 1 "$T_RC"
t_not_contains "again: no interrupted upload to resume" "$T_OUT" "resuming an interrupted"
t_matches "again: the message over quota is tried again" "$T_OUT" '<quota@ferry\.test>'
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

# index_files: the Maildir's files read into its index, nothing synced.
index_files() {
	"$FERRY" -c "$CONF" verify >/dev/null 2>&1 || true
}

# --- 4: more keywords than the folder takes ---------------------------------------------
INDEX=$MAILDIR/..ferry-index.sqlite
for i in 1 2 3 4 5 6; do
	msg "tags.$i" | md_write Tags "1700000100.M${i}P1.laptop"
done
# Keywords live in the Maildir index (rule 15): the files are indexed by a verify (the
# folder on both sides; a listing refreshes the index, and a dry run writes nothing), then
# given keywords there, as ferry would have recorded them.
cyrus_create alice INBOX.Tags || t_fail "INBOX.Tags created" "CREATE refused"
index_files
for i in 1 2 3 4 5 6; do
	kws=$(seq -f "tag%03g" $(((i - 1) * 20 + 1)) $((i * 20)) | tr '\n' ' ')
	# The last one also carries one that fits: it must arrive.
	[[ $i == 6 ]] && kws="tag001 $kws"
	sqlite3 "$INDEX" "UPDATE messages SET keywords = '${kws% }', keywords_known = 1
		WHERE uniq = '1700000100.M${i}P1.laptop';"
done
local_kws() {
	sqlite3 "$INDEX" "SELECT group_concat(m.keywords, ' ') FROM messages m JOIN folders f
		ON f.id = m.folder WHERE f.name = 'Tags';" | tr ' ' '\n' | sed '/^$/d' | sort -u | wc -l
}
# server_kws: the distinct keywords the server's Tags messages carry.
server_kws() {
	cyrus_imap alice 'EXAMINE "INBOX.Tags"' 'UID FETCH 1:* (FLAGS)' | grep -a 'FETCH' |
		grep -aoE 'tag[0-9]+' | sort -u | wc -l
}
t_equal "keywords: 120 distinct keywords on the local messages" 120 "$(local_kws)"
ferry_sync
t_equal "keywords: the run exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_equal "keywords: all six messages are on the server" 6 "$(cyrus_count alice INBOX.Tags)"
t_equal "keywords: the 100 keywords that fit are on the server" 100 "$(server_kws)"
t_equal "keywords: one warning names the keywords left out" 1 \
	"$(grep -c 'tag120' <<<"$T_OUT")"
t_contains "keywords: the warning names the folder" "$(grep 'tag120' <<<"$T_OUT")" Tags
t_equal "keywords: the local messages keep all 120" 120 "$(local_kws)"
t_matches "keywords: the message over the limit carries the keyword that fits" \
	"$(cyrus_imap alice 'EXAMINE "INBOX.Tags"' 'UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])' |
		tr -d '\r' | tr '\n' ' ' | grep -aoE 'FLAGS \([^)]*\)[^*]*tags\.6@')" 'FLAGS \((.* )?tag001[ )]'
ferry_sync
t_equal "keywords: the next run exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_not_contains "keywords: the next run warns no more" "$T_OUT" "tag1"
t_not_contains "keywords: the next run copies nothing" "$T_OUT" "Tags: "
t_equal "keywords: still six on the server" 6 "$(cyrus_count alice INBOX.Tags)"
t_equal "keywords: the local messages still keep all 120" 120 "$(local_kws)"
t_equal "keywords: the server still has 100" 100 "$(server_kws)"

# --- 5: a STORE of keywords the folder takes no more of ---------------------------------
all=$(seq -f "tag%03g" 1 100 | tr '\n' ' ')
msg full | sed 's/$/\r/' >"$WORK/full.eml"
msg pairme | sed 's/$/\r/' >"$WORK/pairme.eml"
if ! { cyrus_create alice INBOX.Tags2 &&
	cyrus_imap alice "APPEND \"INBOX.Tags2\" (${all% }) {0+}" "@$WORK/full.eml" >/dev/null &&
	cyrus_imap alice 'APPEND "INBOX.Tags2" () {0+}' "@$WORK/pairme.eml" >/dev/null; }; then
	t_fail "Tags2 seeded" "CREATE or APPEND refused"
fi
msg pairme | md_write Tags2 1700000200.M1P1.laptop
index_files
sqlite3 "$INDEX" "UPDATE messages SET keywords = 'tag001 tag201 tag202', keywords_known = 1
	WHERE uniq = '1700000200.M1P1.laptop';"
pairme_kws() {
	sqlite3 "$INDEX" "SELECT keywords FROM messages WHERE uniq = '1700000200.M1P1.laptop';"
}
ferry_sync
t_equal "store: the run exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_equal "store: one warning names the keywords left out" 1 "$(grep -c 'tag201 tag202' <<<"$T_OUT")"
t_matches "store: the keyword that fits is stored on the server" \
	"$(cyrus_imap alice 'EXAMINE "INBOX.Tags2"' 'UID FETCH 2 (FLAGS)' | grep -a FETCH)" \
	'FLAGS \((.* )?tag001[ )]'
t_equal "store: the local message keeps all three" "tag001 tag201 tag202" "$(pairme_kws)"
ferry_sync
t_equal "store: the next run exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_not_contains "store: the next run warns no more" "$T_OUT" "tag201"
t_not_contains "store: the next run changes nothing in Tags2" "$T_OUT" "Tags2: "
t_equal "store: the local message still keeps all three" "tag001 tag201 tag202" "$(pairme_kws)"

t_done
