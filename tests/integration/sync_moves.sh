#!/usr/bin/env bash
# shellcheck disable=SC2016 # $Label3 is an IMAP keyword, not a variable
# Moves between folders travel as moves (DESIGN rule 8): a local move (mv, or
# a new file plus deletion as mutt does) becomes UID MOVE on the server with
# no upload; a server-side move becomes a rename() of the local file (same
# inode, no download). Also: 1,000 local moves into 10 folders upload nothing,
# a move into a folder the server lacks creates it, a kill mid-move leaves
# exactly one copy, a renumbered server folder re-pairs without downloading,
# and keywords reach the local index and a mirrored second account.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

sync_setup

# bodies_fetched OUTPUT: FETCH responses carrying a whole body in a -v trace.
bodies_fetched() {
	grep -c 'S: \* [0-9]* FETCH (.*BODY\[\] {' <<<"$1" || true
}

for i in 1 2 3 4; do seed "$i" INBOX "Move me $i"; done
dovecot_doveadm flags add -u alice '\Seen \Flagged' mailbox INBOX uid 1
dovecot_doveadm flags add -u alice '\Seen' mailbox INBOX uid 2
ferry_sync test
t_equal "initial sync exits 0" 0 "$T_RC"

# --- local moves, both styles ----------------------------------------------------
md_mv INBOX Archive "Move me 1"
md_rewrite INBOX Archive "Move me 2"
mark=$(dovecot_log_mark)
ferry_sync test
t_equal "local moves: sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_contains "local moves: reported as moved in" "$T_OUT" "Archive: near->far +0 ~0 -0 >2"
t_equal "local moves: nothing uploaded" 0 "$(saves_since "$mark")"
t_equal "mv style: on the server in Archive" "\\Flagged \\Seen" "$(srv_flags alice Archive 'Move me 1')"
t_equal "mutt style: on the server in Archive" "\\Seen" "$(srv_flags alice Archive 'Move me 2')"
t_equal "local moves: gone from the server's INBOX" 2 "$(dovecot_count alice INBOX)"
ferry_sync test
t_contains "local moves: the next sync changes nothing" "$T_OUT" \
	"far->near +0 ~0 -0, near->far +0 ~0 -0"

# --- a server-side move ------------------------------------------------------------
inode=$(stat -c %i "$(md_file INBOX 'Move me 3')")
dovecot_doveadm move -u alice Archive mailbox INBOX uid "$(srv_uid alice INBOX 'Move me 3')"
t_run "$FERRY" -v -c "$CONF" sync test
t_equal "server move: sync exits 0" 0 "$T_RC"
t_equal "server move: no body downloaded" 0 "$(bodies_fetched "$T_OUT")"
t_equal "server move: the local file is in Archive" 3 "$(md_count Archive)"
t_equal "server move: the same inode (renamed, not downloaded)" "$inode" \
	"$(stat -c %i "$(md_file Archive 'Move me 3')" 2>/dev/null)"
t_equal "server move: gone from the local INBOX" 1 "$(md_count INBOX)"

# --- a move into a folder the server does not have yet -----------------------------
md_mv INBOX "Projects/New" "Move me 4"
mark=$(dovecot_log_mark)
ferry_sync test
t_equal "move into a new folder: sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_contains "move into a new folder: created first" "$T_OUT" "Projects/New: created on far"
t_ok "move into a new folder: the message is there" \
	test -n "$(srv_uid alice Projects/New 'Move me 4')"
t_equal "move into a new folder: nothing uploaded" 0 "$(saves_since "$mark")"

# --- CHANNEL:FOLDER: a message moved out of the synced folder is not deleted -----
seed 60 INBOX "Filtered move"
ferry_sync test
md_mv INBOX Archive "Filtered move"
mark=$(dovecot_log_mark)
ferry_sync test:INBOX
t_equal "test:INBOX: sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_ok "test:INBOX: the moved message is in the server's Archive, not deleted" \
	test -n "$(srv_uid alice Archive 'Filtered move')"
t_equal "test:INBOX: nothing uploaded" 0 "$(saves_since "$mark")"

# --- both sides moved it, to different folders: it ends in both, a conflict ---------
seed 65 INBOX "Moved twice"
ferry_sync test
dovecot_doveadm move -u alice ServerBox mailbox INBOX uid "$(srv_uid alice INBOX 'Moved twice')" 2>/dev/null ||
	{ dovecot_doveadm mailbox create -u alice ServerBox &&
		dovecot_doveadm move -u alice ServerBox mailbox INBOX uid "$(srv_uid alice INBOX 'Moved twice')"; }
md_mv INBOX LocalBox "Moved twice"
ferry_sync test
t_equal "split move: sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_contains "split move: reported as a conflict" "$T_OUT" "conflict"
t_ok "split move: in LocalBox on the server" test -n "$(srv_uid alice LocalBox 'Moved twice')"
t_ok "split move: in ServerBox on the server" test -n "$(srv_uid alice ServerBox 'Moved twice')"
t_ok "split move: in ServerBox locally" test -n "$(md_file ServerBox 'Moved twice')"
t_ok "split move: in LocalBox locally" test -n "$(md_file LocalBox 'Moved twice')"

# --- killed mid-move: exactly one copy, in the target ---------------------------------
for when in "" ":after"; do
	seed "$((50 + ${#when}))" INBOX "Crash move${when}"
	ferry_sync test
	md_mv INBOX Archive "Crash move${when}"
	t_run env FERRY_CRASH_AT="move:1$when" "$FERRY" -c "$CONF" sync test
	t_contains "kill ${when:-before} the move: ferry was killed" "$T_OUT" "crashed (signal 9"
	ferry_sync test
	t_equal "kill ${when:-before} the move: the re-run exits 0" 0 "$T_RC"
	t_equal "kill ${when:-before} the move: one copy on the server, in Archive" 1 \
		"$(dovecot_doveadm search -u alice mailbox '*' header Subject "Crash move${when}" | wc -l)"
	t_ok "kill ${when:-before} the move: it is in Archive" \
		test -n "$(srv_uid alice Archive "Crash move${when}")"
	t_equal "kill ${when:-before} the move: one copy locally" 1 \
		"$(grep -rl -F "Subject: Crash move${when}" "$MAILDIR" --exclude='..ferry-*' | wc -l)"
done

# --- 1,000 local moves into 10 folders: zero uploads -----------------------------
dovecot_bulk_seed alice Bulk 1000
ferry_sync test
t_equal "1,000 messages down" 1000 "$(md_count Bulk)"
i=0
for f in "$(md_dir Bulk)"/cur/* "$(md_dir Bulk)"/new/*; do
	[[ -f $f ]] || continue
	to=$(md_dir "Sorted/F$((i % 10))")
	mkdir -p "$to/cur" "$to/new" "$to/tmp"
	mv "$f" "$to/${f#"$(md_dir Bulk)"/}"
	i=$((i + 1))
done
mark=$(dovecot_log_mark)
ferry_sync test
t_equal "1,000 moves: sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_equal "1,000 moves: nothing uploaded" 0 "$(saves_since "$mark")"
t_equal "1,000 moves: Bulk is empty on the server" 0 "$(dovecot_count alice Bulk)"
total=0
for ((k = 0; k < 10; k++)); do
	total=$((total + $(dovecot_count alice "Sorted/F$k")))
done
t_equal "1,000 moves: all 1,000 in the 10 folders on the server" 1000 "$total"

# --- a renumbered server folder (new UIDVALIDITY): re-paired, nothing downloaded ---
dovecot_bulk_seed alice Renumber 500 20000
ferry_sync test
dir=$DOVECOT_DIR/mail/alice/Maildir/.Renumber
cp -a "$dir" "$WORK/renumber.bak"
dovecot_doveadm mailbox delete -u alice Renumber
dovecot_doveadm mailbox create -u alice Renumber
cp "$WORK/renumber.bak/cur/"* "$WORK/renumber.bak/new/"* "$dir/new/" 2>/dev/null
chown -R nobody:nogroup "$dir"
t_run "$FERRY" -v -c "$CONF" sync test
t_equal "renumbered: sync exits 0" 0 "$T_RC"
t_contains "renumbered: one line says what happened" "$T_OUT" "UIDVALIDITY changed"
t_equal "renumbered: no body downloaded" 0 "$(bodies_fetched "$T_OUT")"
t_equal "renumbered: no duplicate locally" 500 "$(md_count Renumber)"
t_equal "renumbered: nothing duplicated on the server" 500 "$(dovecot_count alice Renumber)"

# --- keywords: server -> local index -> a second server --------------------------------
seed 70 INBOX "Labelled"
ferry_sync test
dovecot_doveadm flags add -u alice '$Label3' mailbox INBOX uid "$(srv_uid alice INBOX Labelled)"
ferry_sync test
t_contains "keyword: in the local index" \
	"$(sqlite3 "$MAILDIR/..ferry-index.sqlite" 'SELECT keywords FROM messages' 2>&1)" '$Label3'
ferry_sync mirror
t_contains "keyword: on the mirrored second account" "$(srv_flags bob INBOX Labelled)" '$Label3'

# --- IMAP <-> IMAP: a move on one server is a move on the other ------------------------
ferry_sync mirror
t_equal "mirror: initial sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
dovecot_doveadm move -u alice Archive mailbox INBOX uid "$(srv_uid alice INBOX Labelled)"
mark=$(dovecot_log_mark)
ferry_sync mirror
t_equal "mirror move: sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_ok "mirror move: in bob's Archive" test -n "$(srv_uid bob Archive Labelled)"
t_equal "mirror move: not in bob's INBOX any more" "" "$(srv_uid bob INBOX Labelled)"
t_equal "mirror move: nothing uploaded to bob" 0 \
	"$(dovecot_log_since "$mark" | grep 'imap(bob)' | grep -c ': save:' || true)"
t_contains "mirror move: the keyword moved with it" "$(srv_flags bob Archive Labelled)" '$Label3'
t_done
