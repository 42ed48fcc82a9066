#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Placeholders for big messages (`max_size = 1M`, `placeholders = yes`) against Dovecot:
#   a 20 MB message (a base64 attachment) arrives as its header block and a short note, and
#     no body of it is fetched (no BODY[] literal over 1 MB in the -v trace); two small ones
#     arrive whole;
#   flags sync both ways on the placeholder, and the server's copy stays as it was (its size
#     and its bytes, doveadm fetch);
#   a re-run changes nothing; a lost state (the state file moved away) pairs the placeholder
#     with its original again and uploads nothing;
#   `ferry verify` takes the placeholder for what it is, not for a mismatch;
#   `ferry fetch test:INBOX UID` puts the whole message in place of its placeholder (byte for
#     byte the server's, the same file name and flags), and the next sync changes nothing;
#   deleting a placeholder deletes the original on the server (delete allows it), and moving
#     it to another folder moves the original there (nothing uploaded);
#   `placeholders = flagged`: flagging a placeholder locally, or its original on the server,
#     brings the whole message at the next sync, in place; a big message already flagged
#     arrives whole;
#   with placeholders turned off and the state lost, a placeholder left is still not uploaded,
#     and `ferry fetch --all` replaces every placeholder of a folder.
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=sync_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

# t_is DESC ACTUAL EXPECTED: t_equal (DESC EXPECTED ACTUAL) in the order this script writes it.
t_is() {
	t_equal "$1" "$3" "$2"
}

T_TIMEOUT=180

# shellcheck disable=SC2119 # its argument is the layout, not this script's
sync_setup
sed -i '/^\[channel test\]/a max_size = 1M\nplaceholders = yes\nfolders = INBOX Archive' "$CONF"

# attachment_message N SUBJECT BYTES: a multipart/mixed message whose second part is a
# base64 attachment of about BYTES bytes of encoded text (LF line endings).
attachment_message() {
	printf 'From: Sender %s <sender%s@example.org>\n' "$1" "$1"
	printf 'To: Alice <alice@imap.test.local>\n'
	printf 'Subject: %s\n' "$2"
	printf 'Date: Mon, 01 Jan 2024 10:00:00 +0000\n'
	printf 'Message-ID: <big.%s@ferry.test>\n' "$1"
	printf 'MIME-Version: 1.0\n'
	printf 'Content-Type: multipart/mixed; boundary="b-%s"\n\n' "$1"
	printf -- '--b-%s\nContent-Type: text/plain; charset=utf-8\n\nThe report, attached.\n\n' "$1"
	printf -- '--b-%s\nContent-Type: application/octet-stream; name="report.bin"\n' "$1"
	printf 'Content-Transfer-Encoding: base64\n'
	printf 'Content-Disposition: attachment; filename="report.bin"\n\n'
	head -c $(($3 * 3 / 4)) /dev/urandom | base64 -w 76
	printf -- '--b-%s--\n' "$1"
}

# server_text FOLDER UID: the server's copy of a message, CRs stripped.
server_text() {
	dovecot_doveadm fetch -u alice text mailbox "$1" uid "$2" | sed -e 1d -e 's/\r$//'
}

# server_size FOLDER UID: its RFC822.SIZE.
server_size() {
	dovecot_doveadm -f tab fetch -u alice size.virtual mailbox "$1" uid "$2" | sed 1d
}

# big_bodies OUTPUT: how many BODY[] literals over 1 MB the -v trace shows coming in.
big_bodies() {
	grep -cE 'BODY\[\] \{[0-9]{7,}\}' <<<"$1" || true
}

# changes OUTPUT: the summary's counts that are not zero ("" when the run changed nothing).
changes() {
	grep -oE '(far->near|near->far) \+[0-9]+ ~[0-9]+ -[0-9]+' <<<"$1" | grep -vE '\+0 ~0 -0$' || true
}

# pair_placeholder FAR_UID [FOLDER]: 1 when the state marks the pair holding far uid FAR_UID
# in FOLDER (INBOX) a placeholder (the mark is the placeholder's size), else 0.
pair_placeholder() {
	sqlite3 "$STATE" "SELECT p.placeholder != 0 FROM pairs p JOIN folders f ON f.id = p.folder_id
		WHERE f.name = '${2:-INBOX}' AND p.far_uid = $1"
}

seed 1 INBOX "Small one"
seed 2 INBOX "Small two" 2000
attachment_message 3 "Big report" $((20 * 1024 * 1024)) | dovecot_seed alice INBOX
BIG_UID=$(srv_uid alice INBOX "Big report")
BIG_SIZE=$(server_size INBOX "$BIG_UID")
BIG_SHA=$(server_text INBOX "$BIG_UID" | sha256sum)
t_ok "the big message is over 20 MB on the server" test "${BIG_SIZE:-0}" -gt $((20 * 1000 * 1000))

# --- a placeholder, and no body of it fetched ----------------------------------------------
t_run "$FERRY" -v -c "$CONF" sync test
t_is "first sync exits 0" "$T_RC" 0 || printf '%s\n' "$T_OUT" | tail -n 20 | t__indent
t_is "no BODY[] over 1 MB came in (-v trace)" "$(big_bodies "$T_OUT")" 0
t_is "3 messages locally" "$(md_count INBOX)" 3
t_ok "the small ones arrived whole (1)" same_content INBOX "Small one"
t_ok "the small ones arrived whole (2)" same_content INBOX "Small two"
BIG_FILE=$(md_file INBOX "Big report")
t_ok "the big one is there by its Subject" test -n "$BIG_FILE"
t_ok "... as a file of a few KB" test "$(stat -c %s "$BIG_FILE" 2>/dev/null || echo 99999999)" -lt 16384
t_contains "... marked X-Ferry-Placeholder with the original's size" "$(cat "$BIG_FILE")" \
	"X-Ferry-Placeholder: size=$BIG_SIZE; uid=$BIG_UID; id=2:"
t_contains "... keeping its other header fields" "$(cat "$BIG_FILE")" "Message-ID: <big.3@ferry.test>"
t_not_contains "... without the multipart Content-Type" "$(cat "$BIG_FILE")" "multipart/mixed"
t_contains "... a text/plain note in UTF-8" "$(cat "$BIG_FILE")" "Content-Type: text/plain; charset=utf-8"
t_contains "... that says how to get it" "$(cat "$BIG_FILE")" "ferry fetch test:INBOX $BIG_UID"
t_is "the state marks its pair a placeholder" "$(pair_placeholder "$BIG_UID")" 1

# --- flags both ways; the server's copy unchanged --------------------------------------------
mv "$BIG_FILE" "${BIG_FILE%%:2,*}:2,S"
MARK=$(dovecot_log_mark)
ferry_sync test
t_is "sync after \\Seen set locally exits 0" "$T_RC" 0 || printf '%s\n' "$T_OUT" | t__indent
t_contains "\\Seen set on the placeholder reached the server" "$(srv_flags alice INBOX "Big report")" '\Seen'
t_is "nothing was uploaded" "$(saves_since "$MARK")" 0
dovecot_doveadm flags add -u alice '\Answered' mailbox INBOX uid "$BIG_UID"
ferry_sync test
t_is "sync after \\Answered set on the server exits 0" "$T_RC" 0 || printf '%s\n' "$T_OUT" | t__indent
t_is "\\Answered set on the server reached the placeholder" "$(md_letters INBOX "Big report")" RS
t_is "the server's copy keeps its size" "$(server_size INBOX "$BIG_UID")" "$BIG_SIZE"
t_is "the server's copy keeps its bytes" "$(server_text INBOX "$BIG_UID" | sha256sum)" "$BIG_SHA"
t_is "the server still holds 3 messages" "$(dovecot_count alice INBOX)" 3

# --- a re-run changes nothing ----------------------------------------------------------------
MARK=$(dovecot_log_mark)
ferry_sync test
t_is "a re-run exits 0" "$T_RC" 0
t_is "a re-run changes nothing" "$(changes "$T_OUT")" ""
t_is "a re-run uploads nothing" "$(saves_since "$MARK")" 0

# --- verify ----------------------------------------------------------------------------------
t_run "$FERRY" -c "$CONF" verify test
t_is "ferry verify exits 0" "$T_RC" 0 || printf '%s\n' "$T_OUT" | t__indent
t_contains "ferry verify counts the placeholder by policy, not as different" "$T_OUT" \
	"0 different, 1 by policy"

# --- a lost state: paired again, nothing uploaded --------------------------------------------
mv "$STATE" "$STATE.lost"
rm -f "$STATE-wal" "$STATE-shm"
MARK=$(dovecot_log_mark)
t_run "$FERRY" -v -c "$CONF" sync test
t_is "sync with the state lost exits 0" "$T_RC" 0 || printf '%s\n' "$T_OUT" | tail -n 20 | t__indent
t_is "... uploads nothing" "$(saves_since "$MARK")" 0
t_is "... fetches no big body" "$(big_bodies "$T_OUT")" 0
t_is "... the server still holds 3" "$(dovecot_count alice INBOX)" 3
t_is "... 3 messages locally (no second placeholder)" "$(md_count INBOX)" 3
t_is "... the placeholder paired with its original again" "$(pair_placeholder "$BIG_UID")" 1
ferry_sync test
t_is "the run after exits 0" "$T_RC" 0
t_is "... and changes nothing" "$(changes "$T_OUT")" ""

# --- ferry fetch: the whole message in place of its placeholder -----------------------------
BIG_FILE=$(md_file INBOX "Big report")
STEM=${BIG_FILE##*/}
STEM=${STEM%%:2,*}
t_run "$FERRY" -c "$CONF" fetch test:INBOX "$BIG_UID"
t_is "ferry fetch test:INBOX UID exits 0" "$T_RC" 0 || printf '%s\n' "$T_OUT" | t__indent
t_is "... one file of that name stem" "$(find "$(md_dir INBOX)" -name "$STEM*" -type f | wc -l)" 1
FETCHED=$(find "$(md_dir INBOX)" -name "$STEM*" -type f | head -n 1)
t_is "... under the same name (flags kept)" "$FETCHED" "$BIG_FILE"
t_is "... holding the whole message, byte for byte" "$(sed 's/\r$//' "$FETCHED" | sha256sum)" "$BIG_SHA"
t_is "... the flags kept" "$(md_letters INBOX "Big report")" RS
t_is "... the pair no placeholder any more" "$(pair_placeholder "$BIG_UID")" 0
t_is "... nothing left in tmp/" "$(find "$(md_dir INBOX)/tmp" -type f | wc -l)" 0
MARK=$(dovecot_log_mark)
ferry_sync test
t_is "the sync after the fetch exits 0" "$T_RC" 0 || printf '%s\n' "$T_OUT" | t__indent
t_is "... and changes nothing" "$(changes "$T_OUT")" ""
t_is "... and uploads nothing" "$(saves_since "$MARK")" 0
t_is "... 3 messages locally" "$(md_count INBOX)" 3
t_run "$FERRY" -c "$CONF" verify test
t_contains "ferry verify: all 3 in step" "$T_OUT" "3 messages in step, 0 by policy"
t_run "$FERRY" -c "$CONF" fetch test:INBOX "$BIG_UID"
t_is "fetching it again exits 1" "$T_RC" 1
t_contains "... saying it is no placeholder" "$T_OUT" "not a placeholder"
t_expect_exit 2 "fetch without CHANNEL:FOLDER is a usage error" "$FERRY" -c "$CONF" fetch test 3
t_expect_exit 2 "fetch with uids and --all is a usage error" "$FERRY" -c "$CONF" fetch --all test:INBOX 3

# --- a placeholder deleted locally deletes the original --------------------------------------
attachment_message 4 "Big slides" $((2 * 1024 * 1024)) | dovecot_seed alice INBOX
ferry_sync test
t_is "sync of a second big message exits 0" "$T_RC" 0
SLIDES_FILE=$(md_file INBOX "Big slides")
t_contains "it arrived as a placeholder" "$(cat "$SLIDES_FILE" 2>/dev/null)" "X-Ferry-Placeholder:"
rm -f "$SLIDES_FILE"
ferry_sync test
t_is "sync after deleting the placeholder exits 0" "$T_RC" 0 || printf '%s\n' "$T_OUT" | t__indent
t_is "the original is gone from the server" "$(srv_uid alice INBOX "Big slides")" ""
t_is "the server holds 3 again" "$(dovecot_count alice INBOX)" 3

# --- a placeholder moved locally moves the original on the server -----------------------------
attachment_message 8 "Big moved" $((2 * 1024 * 1024)) | dovecot_seed alice INBOX
dovecot_doveadm mailbox create -u alice Archive
ferry_sync test
t_is "move: sync of a third big message exits 0" "$T_RC" 0
MOVED_SHA=$(server_text INBOX "$(srv_uid alice INBOX "Big moved")" | sha256sum)
md_mv INBOX Archive "Big moved"
MARK=$(dovecot_log_mark)
ferry_sync test
t_is "move: sync after moving the placeholder to Archive exits 0" "$T_RC" 0 ||
	printf '%s\n' "$T_OUT" | t__indent
t_is "move: ... the original left INBOX on the server" "$(srv_uid alice INBOX "Big moved")" ""
MOVED_UID=$(srv_uid alice Archive "Big moved")
t_ok "move: ... and is in Archive" test -n "$MOVED_UID"
t_is "move: ... whole, the same bytes" "$(server_text Archive "$MOVED_UID" | sha256sum)" "$MOVED_SHA"
t_is "move: ... nothing uploaded" "$(saves_since "$MARK")" 0
t_is "move: ... the pair in Archive still a placeholder" \
	"$(pair_placeholder "$MOVED_UID" Archive)" 1
t_is "move: ... 1 message in local Archive" "$(md_count Archive)" 1

# --- placeholders = flagged: \Flagged on either side brings the whole message ---------------
sed -i 's/^placeholders = yes$/placeholders = flagged/' "$CONF"
attachment_message 5 "Big flag me" $((2 * 1024 * 1024)) | dovecot_seed alice INBOX
attachment_message 6 "Big starred" $((2 * 1024 * 1024)) | dovecot_seed alice INBOX
ferry_sync test
t_is "flagged: sync of two big messages exits 0" "$T_RC" 0 || printf '%s\n' "$T_OUT" | t__indent
FLAG_FILE=$(md_file INBOX "Big flag me")
FLAG_UID=$(srv_uid alice INBOX "Big flag me")
STAR_UID=$(srv_uid alice INBOX "Big starred")
t_contains "flagged: a placeholder whose note says to flag it" "$(cat "$FLAG_FILE" 2>/dev/null)" \
	"or flag it"
FLAG_STEM=${FLAG_FILE##*/}
FLAG_STEM=${FLAG_STEM%%:2,*}
mv "$FLAG_FILE" "$(md_dir INBOX)/cur/$FLAG_STEM:2,F"
ferry_sync test
t_is "flagged: sync after flagging a placeholder locally exits 0" "$T_RC" 0 ||
	printf '%s\n' "$T_OUT" | t__indent
FLAG_FILE=$(md_file INBOX "Big flag me")
t_is "flagged: ... the whole message in its place, byte for byte" \
	"$(sed 's/\r$//' "$FLAG_FILE" 2>/dev/null | sha256sum)" "$(server_text INBOX "$FLAG_UID" | sha256sum)"
t_is "flagged: ... under the same name, \\Flagged kept" "$FLAG_FILE" "$(md_dir INBOX)/cur/$FLAG_STEM:2,F"
t_contains "flagged: ... \\Flagged reached the server" "$(srv_flags alice INBOX "Big flag me")" '\Flagged'
t_is "flagged: ... the pair no placeholder any more" "$(pair_placeholder "$FLAG_UID")" 0
dovecot_doveadm flags add -u alice '\Flagged' mailbox INBOX uid "$STAR_UID"
ferry_sync test
t_is "flagged: sync after flagging the original on the server exits 0" "$T_RC" 0 ||
	printf '%s\n' "$T_OUT" | t__indent
t_is "flagged: ... the whole message locally, byte for byte" \
	"$(sed 's/\r$//' "$(md_file INBOX "Big starred")" 2>/dev/null | sha256sum)" \
	"$(server_text INBOX "$STAR_UID" | sha256sum)"
t_is "flagged: ... flagged locally" "$(md_letters INBOX "Big starred")" F
attachment_message 7 "Big wanted" $((2 * 1024 * 1024)) | dovecot_seed alice INBOX
WANTED_UID=$(srv_uid alice INBOX "Big wanted")
dovecot_doveadm flags add -u alice '\Flagged' mailbox INBOX uid "$WANTED_UID"
ferry_sync test
t_is "flagged: sync of a new big message flagged on the server exits 0" "$T_RC" 0
t_is "flagged: ... it arrives whole at once" \
	"$(sed 's/\r$//' "$(md_file INBOX "Big wanted")" 2>/dev/null | sha256sum)" \
	"$(server_text INBOX "$WANTED_UID" | sha256sum)"
ferry_sync test
t_is "flagged: the run after changes nothing" "$(changes "$T_OUT")" ""

# --- placeholders turned off, then the state lost: the one left is still never uploaded --------
sed -i 's/^placeholders = flagged$/placeholders = no/' "$CONF"
mv "$STATE" "$STATE.lost2"
rm -f "$STATE-wal" "$STATE-shm"
MARK=$(dovecot_log_mark)
ferry_sync test
t_is "off: sync with the state lost exits 0" "$T_RC" 0 || printf '%s\n' "$T_OUT" | t__indent
t_is "off: ... uploads nothing" "$(saves_since "$MARK")" 0
t_is "off: ... the server's Archive still holds 1" "$(dovecot_count alice Archive)" 1
t_is "off: ... the placeholder paired with its original again" "$(pair_placeholder "$MOVED_UID" Archive)" 1

# --- ferry fetch --all: every placeholder of a folder (placeholders off now) ------------------
t_run "$FERRY" -c "$CONF" fetch --all test:Archive
t_is "fetch --all test:Archive exits 0" "$T_RC" 0 || printf '%s\n' "$T_OUT" | t__indent
t_is "... the whole message in place of the placeholder, byte for byte" \
	"$(sed 's/\r$//' "$(md_file Archive "Big moved")" 2>/dev/null | sha256sum)" "$MOVED_SHA"
t_is "... the pair no placeholder any more" "$(pair_placeholder "$MOVED_UID" Archive)" 0

t_done
