#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# An upload's identity is that of the copy the server stored (DESIGN rule 6), against a real
# Cyrus 3.6 in its default configuration (tests/fixtures/cyrus.sh): Cyrus turns every 8-bit
# byte of a header into "X" on APPEND, and names alice's folders "INBOX.Name".
#   1. A local message with raw UTF-8 in its Subject goes up; the state records, as its far
#      identity, the hash of the header block Cyrus stored (read back with BODY.PEEK[HEADER]),
#      and as its near identity the local file's.
#   2. Another client moves it on the server into Archive: ferry moves the good local file
#      (rename, same bytes) and neither deletes it nor downloads Cyrus's damaged copy.
#   3. Another 8-bit message goes up, then the state is lost (deleted): ferry pairs both sides
#      again, each local file with Cyrus's rewritten copy, and copies nothing on either side;
#      the good local files stay as they are.
#   4. A run killed after Cyrus stored two uploads and before ferry recorded them: the next
#      run pairs them with the local files (by the hash with 8-bit header bytes read as X)
#      and uploads only the third.
# shellcheck source=cyrus_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/cyrus_lib.sh"

# md_files FOLDER: the local message files of a folder, one a line.
md_files() {
	find "$MAILDIR/$1/cur" "$MAILDIR/$1/new" -maxdepth 1 -type f 2>/dev/null | sort
}

# md_sums FOLDER: SHA-256 of each local message file of a folder, sorted.
md_sums() {
	md_files "$1" | while read -r f; do sha256sum <"$f"; done | cut -c1-64 | sort
}

# header_id: the identity hash of the message on stdin, as store/identity.c computes it:
# SHA-256 of the header block with bare LFs made CRLF. Upper-case hex, as SQLite's hex().
header_id() {
	perl -MDigest::SHA=sha256_hex -0777 -ne '
		s/(?<!\r)\n/\r\n/g;
		my $end = index($_, "\r\n\r\n");
		print uc sha256_hex($end < 0 ? $_ : substr($_, 0, $end + 4)), "\n";'
}

# pair_ids FOLDER: "FAR_ID NEAR_ID" of each pair the state holds for FOLDER, sorted.
pair_ids() {
	sqlite3 "$STATE" "SELECT hex(p.far_id) || ' ' || hex(p.near_id) FROM pairs p
		JOIN folders f ON f.id = p.folder_id WHERE f.name = '$1' ORDER BY 1;"
}

# The local message: raw UTF-8 in Subject and From (no RFC 2047 encoding), LF line endings.
umlaut_msg() {
	printf 'From: =?UTF-8?Q?J=C3=BCrgen?= <juergen@example.org>\n'
	printf 'To: Alice <alice@example.org>\n'
	printf 'Subject: Gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln\n'
	printf 'X-Sender-Name: J\xc3\xbcrgen M\xc3\xbcller\n'
	printf 'Date: Mon, 01 Jan 2024 10:00:00 +0000\n'
	printf 'Message-ID: <umlaut.1@ferry.test>\n'
	printf 'MIME-Version: 1.0\n'
	printf 'Content-Type: text/plain; charset=utf-8\n'
	printf 'Content-Transfer-Encoding: 8bit\n\n'
	printf 'Sch\xc3\xb6ne Gr\xc3\xbc\xc3\x9fe, the body keeps its 8-bit bytes.\n'
}
ascii_msg() {
	printf 'From: Bob <bob@example.org>\nTo: Alice <alice@example.org>\n'
	printf 'Subject: Plain ASCII\nDate: Mon, 01 Jan 2024 11:00:00 +0000\n'
	printf 'Message-ID: <ascii.1@ferry.test>\n\nNothing to rewrite here.\n'
}

umlaut_msg | md_write INBOX 1700000000.M1P1.laptop
ascii_msg | md_write INBOX 1700000001.M2P2.laptop
mkdir -p "$MAILDIR/Archive/cur" "$MAILDIR/Archive/new" "$MAILDIR/Archive/tmp"
good_sum=$(umlaut_msg | sha256sum | cut -c1-64)
local_id=$(umlaut_msg | header_id)

# --- 1: the upload records the identity of what Cyrus stored -----------------------------
ferry_sync
t_equal "upload: ferry exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_equal "upload: both messages are on the server" 2 "$(cyrus_count alice INBOX)"
t_equal "upload: Archive made on the server as INBOX.Archive" 0 "$(cyrus_count alice INBOX.Archive)"
uid=
for u in $(cyrus_uids alice INBOX); do
	if cyrus_header alice INBOX "$u" | grep -q '^Message-ID: <umlaut.1@'; then
		uid=$u
	fi
done
t_ok "upload: the 8-bit message is on the server" test -n "$uid"
stored=$(cyrus_header alice INBOX "$uid")
t_contains "upload: Cyrus stored the Subject with X for each 8-bit byte" "$stored" \
	"Subject: GrXXXXe aus KXXln"
stored_id=$(cyrus_header alice INBOX "$uid" | header_id)
t_ok "upload: the stored header differs from the local one" test "$stored_id" != "$local_id"
ids=$(pair_ids INBOX)
t_contains "upload: the pair's far identity is the stored copy's, its near one the file's" \
	"$ids" "$stored_id $local_id"
ferry_sync
t_equal "upload: the next sync exits 0" 0 "$T_RC"
t_equal "upload: the next sync changes nothing" 2 "$(md_files INBOX | grep -c .)"

# --- 2: moved on the server: the good local copy moves along ---------------------------
before=$(md_files INBOX | xargs -n1 basename | sed 's/:2,.*//' | sort)
t_ok "move: another client moves it into INBOX.Archive" cyrus_move alice INBOX "$uid" \
	INBOX.Archive
ferry_sync
t_equal "move: ferry exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_equal "move: one message left in the local INBOX" 1 "$(md_files INBOX | grep -c .)"
t_equal "move: one message in the local Archive" 1 "$(md_files Archive | grep -c .)"
t_equal "move: the local Archive holds the good file, byte for byte" "$good_sum" \
	"$(md_sums Archive)"
after=$( (md_files INBOX && md_files Archive) | xargs -n1 basename | sed 's/:2,.*//' | sort)
t_equal "move: the same files (renamed, not deleted and downloaded)" "$before" "$after"
t_equal "move: server INBOX holds 1" 1 "$(cyrus_count alice INBOX)"
t_equal "move: server Archive holds 1 (nothing uploaded again)" 1 \
	"$(cyrus_count alice INBOX.Archive)"
ferry_sync
t_equal "move: the next sync exits 0" 0 "$T_RC"
t_equal "move: the next sync leaves 1 + 1 locally" "1 1" \
	"$(md_files INBOX | grep -c .) $(md_files Archive | grep -c .)"

# --- 3: the state is lost after an upload: pair again, copy nothing ------------------
# A second 8-bit message goes up, then the state is lost: both sides hold one copy of it,
# the local file as written and Cyrus's with X in its header.
umlaut_msg | sed 's/umlaut\.1@/umlaut.2@/; s/K\xc3\xb6ln/Wien/' | md_write INBOX 1700000002.M3P3.laptop
ferry_sync
t_equal "lost state: the second 8-bit message goes up" "0 2" "$T_RC $(cyrus_count alice INBOX)"
sums_before=$( (md_sums INBOX && md_sums Archive) | sort)
names_before=$( (md_files INBOX && md_files Archive) | xargs -n1 basename | sed 's/:2,.*//' | sort)
rm -f "$STATE" "$STATE-wal" "$STATE-shm"
ferry_sync
t_equal "lost state: ferry exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_equal "lost state: local INBOX and Archive still 2 and 1" "2 1" \
	"$(md_files INBOX | grep -c .) $(md_files Archive | grep -c .)"
t_equal "lost state: server INBOX and Archive still 2 and 1" "2 1" \
	"$(cyrus_count alice INBOX) $(cyrus_count alice INBOX.Archive)"
t_equal "lost state: the local files are the good ones, byte for byte" "$sums_before" \
	"$( (md_sums INBOX && md_sums Archive) | sort)"
t_equal "lost state: under the same names" "$names_before" \
	"$( (md_files INBOX && md_files Archive) | xargs -n1 basename | sed 's/:2,.*//' | sort)"
t_contains "lost state: the Archive pair is recorded again with both identities" \
	"$(pair_ids Archive)" "$stored_id $local_id"
ferry_sync
t_equal "lost state: the next sync exits 0" 0 "$T_RC"
t_equal "lost state: then still 2 + 1 on each side" "2 1 2 1" \
	"$(md_files INBOX | grep -c .) $(md_files Archive | grep -c .) $(cyrus_count alice INBOX) $(cyrus_count alice INBOX.Archive)"

# --- 4: killed after APPENDs, before the record: pair again, copy nothing ---------------
# The run dies before the third message's APPEND: Cyrus has stored the first two (their
# headers rewritten), the state records none. The next run pairs them with the local files.
for i in 1 2 3; do
	umlaut_msg | sed "s/umlaut\\.1@/killed.$i@/" | md_write Killed "1700000100.M${i}P4.laptop"
done
killed_sums=$(md_sums Killed)
t_run env FERRY_CRASH_AT=upload:3 "$FERRY" -c "$CONF" sync test:Killed
t_contains "kill: the run was killed before the third upload" "$T_OUT" "crashed (signal 9"
t_ok "kill: Cyrus stored the first two, unrecorded" test "$(cyrus_count alice INBOX.Killed)" -ge 1
ferry_sync
t_equal "kill: the next sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_equal "kill: 3 messages on the server" 3 "$(cyrus_count alice INBOX.Killed)"
t_equal "kill: each Message-ID once on the server" "<killed.1@ferry.test> <killed.2@ferry.test> <killed.3@ferry.test>" \
	"$(cyrus_imap alice 'EXAMINE "INBOX.Killed"' 'UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])' |
		grep -aoE '<killed\.[0-9]@ferry\.test>' | sort | tr '\n' ' ' | sed 's/ $//')"
t_equal "kill: the 3 local files as they were, nothing downloaded" "$killed_sums" "$(md_sums Killed)"

t_done
