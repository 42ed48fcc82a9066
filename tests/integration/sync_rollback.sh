#!/usr/bin/env bash
# Rule 16: a Maildir restored from a backup brings its older index back while
# the channel state stays new. The index then hands out again uids the state
# has paired with other messages, and misses messages the state has paired:
# neither may delete server mail or pair a message with one it is not. The
# folder is synced as with a lost state (rule 7): paired again by identity,
# nothing deleted that run. Two ways the index shows it: counters behind the
# state's, and (once they have caught up) a paired uid holding another message.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

sync_setup
BACKUP=$WORK/backup

# sql DB QUERY: one value, read only.
sql() {
	sqlite3 -readonly "$1" "$2"
}
md_index() {
	printf '%s\n' "$MAILDIR/..ferry-index.sqlite"
}

# has_id SIDE FOLDER N SUBJECT: the message make_message N SUBJECT is on SIDE.
has_id() {
	local id
	id=$(make_message "$3" "$4" | sed -n 's/^Message-ID: //p')
	if [[ $1 == server ]]; then
		ids_server "$2" | grep -qxF "$id"
	else
		ids_local "$2" | grep -qxF "$id"
	fi
}

# history FOLDER BASE: a first sync, the backup, then a week of mail on both
# sides over several runs: new on the server and locally, deleted on each.
# Leaves SERVER_HAD: the Message-IDs the server holds before the restore.
history() {
	local f=$1 b=$2
	for i in 1 2 3 4; do seed "$((b + i))" "$f" "Old $i"; done
	ferry_sync test
	t_equal "$f: first sync exits 0" 0 "$T_RC"
	converged "$f" 4 "$f: before the backup"
	rm -rf "$BACKUP"
	cp -a "$MAILDIR" "$BACKUP"

	seed "$((b + 5))" "$f" "Server 5"
	seed "$((b + 6))" "$f" "Server 6"
	md_write "$f" "$((b + 7))" "Local 7"
	dovecot_doveadm expunge -u alice mailbox "$f" header Subject "Old 1"
	rm "$(md_file "$f" "Old 2")"
	ferry_sync test
	seed "$((b + 8))" "$f" "Server 8"
	md_write "$f" "$((b + 9))" "Local 9" S
	ferry_sync test
	ferry_sync test
	t_equal "$f: the week's last sync exits 0" 0 "$T_RC"
	converged "$f" 7 "$f: before the restore"
	SERVER_HAD=$(ids_server "$f")
}

restore() {
	rm -rf "$MAILDIR"
	cp -a "$BACKUP" "$MAILDIR"
}

# after_restore FOLDER COUNT WHAT N...: the server lost nothing, the new local
# messages N... (subjects "WHAT N") reached it, its week of mail is local
# again, and each side holds COUNT distinct messages, the same ones.
after_restore() {
	local f=$1 count=$2 what=$3 missing n
	shift 3
	missing=$(comm -23 <(printf '%s\n' "$SERVER_HAD") <(ids_server "$f"))
	t_equal "$f: the server lost none of its messages" "" "$missing"
	for n in "$@"; do
		t_ok "$f: $what $n reached the server" has_id server "$f" "$n" "$what $n"
	done
	for s in "Server 5:5" "Server 6:6" "Local 7:7" "Server 8:8" "Local 9:9"; do
		t_ok "$f: ${s%%:*} (newer than the backup) is local again" \
			has_id local "$f" "$((BASE + ${s##*:}))" "${s%%:*}"
	done
	# The deletions made after the backup come back from it: a folder
	# without usable state deletes nothing (rule 7), it copies.
	converged "$f" "$count" "$f: after the restore"
}

# --- the index is behind the state --------------------------------------------
F=Restored
BASE=100
history "$F" "$BASE"
restore
md_write "$F" 120 "Written after the restore 120"
ferry_sync test
t_equal "behind: the sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_contains "behind: the run says why it re-pairs" "$T_OUT" "the near side is behind what the last sync recorded"
after_restore "$F" 10 "Written after the restore" 120

# The state is usable again: the next runs sync and delete as usual.
ferry_sync test
t_equal "behind: the next sync exits 0" 0 "$T_RC"
converged "$F" 10 "$F: the run after"
rm "$(md_file "$F" "Server 8")"
ferry_sync test
t_ok "behind: a later local deletion reaches the server" \
	test -z "$(ids_server "$F" | grep -F "$((BASE + 8))." || true)"
converged "$F" 9 "$F: after a deletion"

# --- the index caught up: paired uids hold other messages -----------------------
# After the restore, new local mail and `ferry status` runs (each rescans the
# folder) bring the index's UIDNEXT and modseq up to the state's before the
# next sync: nothing is behind any more, but the uids given to the new
# messages are the ones the state paired with the week's mail.
# caught_up FOLDER BASE WHY [SYNC_ARGS...]: SYNC_ARGS for the week's last run;
# WHY: what the sync after the restore says.
caught_up() {
	local f=$1 why=$3 k next mod state_next state_mod new=()
	BASE=$2
	shift 3
	history "$f" "$BASE"
	if (($#)); then
		ferry_sync "$@"
		t_equal "$f: the week's last run ($*) exits 0" 0 "$T_RC"
	fi
	restore
	state_next=$(sql "$STATE" "SELECT near_uidnext FROM folders WHERE name = '$f'")
	state_mod=$(sql "$STATE" "SELECT near_modseq FROM folders WHERE name = '$f'")
	for ((k = 0; k < 40; k++)); do
		next=$(sql "$(md_index)" "SELECT uidnext FROM folders WHERE name = '$f'")
		mod=$(sql "$(md_index)" "SELECT modseq FROM folders WHERE name = '$f'")
		((next >= state_next && mod >= state_mod)) && break
		md_write "$f" "$((BASE + 30 + k))" "Since the restore $((BASE + 30 + k))"
		new+=("$((BASE + 30 + k))")
		t_run "$FERRY" -c "$CONF" status test
	done
	t_ok "$f: the index's counters reached the state's ($next/$state_next, $mod/$state_mod)" \
		test "$next" -ge "$state_next" -a "$mod" -ge "$state_mod"
	ferry_sync test
	t_equal "$f: the sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
	t_contains "$f: the run says why it re-pairs" "$T_OUT" "$why"
	after_restore "$f" $((9 + ${#new[@]})) "Since the restore" "${new[@]}"
	ferry_sync test
	converged "$f" $((9 + ${#new[@]})) "$f: the run after"
}

# After a clean sync the index is asked for its changes since the modseq
# recorded: a modseq the restored copy never went through.
caught_up Caught 200 "the near side never was where the last sync left it"
# After a one-way run the folder is listed in full: a paired uid listed with
# another message's identity.
caught_up Unclean 300 "is not the one the last sync paired" --pull test

t_done
