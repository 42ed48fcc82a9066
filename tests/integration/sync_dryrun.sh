#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# `ferry sync --dry-run` tells the truth and writes nothing (issue 14, item 4):
#   with changes of every kind on both sides (new messages, flags, deletions, a move each
#   way, a new folder each way, a folder removed on each side with `remove = both`), the
#   dry run prints per folder and direction the very lines the real run prints afterwards,
#   marked "[dry run]", and the folders it would create or remove;
#   at -v it says each action in plain words (never "far uid 0 near uid 0");
#   the state, the Maildir index and every file and directory of the Maildir are
#   byte-identical afterwards (names, sizes, mtimes, sha256), and the server is untouched.
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=sync_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

# shellcheck disable=SC2119 # its argument is the layout, not this script's
sync_setup
sed -i 's/^state = \(.*test.sqlite\)$/state = \1\nremove = both/' "$CONF"

# tree_state DIR: every file and directory below DIR (ferry's own files included) with its
# type, size and mtime (nanoseconds), then the sha256 of every file.
tree_state() {
	(
		cd "$1" || exit 1
		find . -print0 | sort -z | xargs -0 stat -c '%n %F %s %y'
		find . -type f -print0 | sort -z | xargs -0 sha256sum
	)
}

# server_snapshot: every folder of alice's with its uids and flags.
server_snapshot() {
	local f
	while IFS= read -r f; do
		printf '== %s\n' "$f"
		dovecot_flags alice "$f"
	done < <(dovecot_doveadm mailbox list -u alice | sort)
}

# changes_since MARK: what IMAP clients changed on the server since MARK (mail_log).
changes_since() {
	dovecot_log_since "$1" |
		grep -E 'imap\([a-z]+\)<[^>]*><[^>]*>: Info: (save|copy|expunge|flag_change|mailbox_[a-z]+): ' ||
		true
}

# folder_lines OUTPUT: the per-folder lines of a run (what it did to each folder: counts,
# folders created or removed, conflicts), the dry run's mark taken off, sorted.
folder_lines() {
	grep -E '^(ferry: warning: )?[A-Za-z]+: ((far->near|near->far) \+|created on|removed on|conflict: )' <<<"$1" |
		sed -e 's/ \[dry run[^]]*\]$//' -e 's/ ([0-9.]* s)$//' | sort
}

for i in 1 2 3 4 5 6; do seed "$i" INBOX "Inbox $i"; done
seed 7 Work "Work 1"
seed 8 OldFar "Old far 1"
seed 9 OldFar "Old far 2"
seed 10 OldNear "Old near 1"
seed 11 OldNear "Old near 2"
seed 12 Clash "Clash 1"
ferry_sync test
t_equal "first sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
converged INBOX 6 "first sync"
# A second run, so that every folder is recorded clean (rule 4) before the changes.
ferry_sync test

# --- changes of every kind, on both sides ------------------------------------------------
seed 20 INBOX "New on the server"
md_write INBOX 21 "New locally"
dovecot_doveadm flags add -u alice '\Flagged' mailbox INBOX uid "$(srv_uid alice INBOX 'Inbox 1')"
f=$(md_file INBOX "Inbox 2")
mv "$f" "$(md_dir INBOX)/cur/$(basename "${f%%:2,*}"):2,S"
rm "$(md_file INBOX 'Inbox 3')"
dovecot_doveadm expunge -u alice mailbox INBOX uid "$(srv_uid alice INBOX 'Inbox 4')"
dovecot_doveadm move -u alice Work mailbox INBOX uid "$(srv_uid alice INBOX 'Inbox 5')"
md_mv INBOX Work "Inbox 6"
seed 22 NewFar "In a new server folder"
md_write NewNear 23 "In a new local folder"
dovecot_doveadm mailbox delete -u alice OldFar
rm -r "$(md_dir OldNear)"
# Rule 10's conflict: deleted locally, flagged on the server since: kept and copied back.
rm "$(md_file Clash 'Clash 1')"
dovecot_doveadm flags add -u alice '\Flagged' mailbox Clash uid "$(srv_uid alice Clash 'Clash 1')"

maildir_before=$(tree_state "$MAILDIR")
state_before=$(tree_state "$(dirname "$STATE")")
server_before=$(server_snapshot)
mark=$(dovecot_log_mark)

# --- the dry run -----------------------------------------------------------------------------
t_run "$FERRY" -c "$CONF" -v sync --dry-run test
t_equal "dry run exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
dry=$T_OUT
t_equal "dry run: every file and directory of the Maildir (and its index) unchanged" \
	"$maildir_before" "$(tree_state "$MAILDIR")"
t_equal "dry run: the state's files unchanged" "$state_before" "$(tree_state "$(dirname "$STATE")")"
t_equal "dry run: the server unchanged" "$server_before" "$(server_snapshot)"
t_equal "dry run: the server's log shows no change" "" "$(changes_since "$mark")"
t_not_contains "dry run: no plan line in the planner's terms" "$dry" "uid 0"
t_matches "dry run -v: a copy in plain words" "$dry" \
	'^INBOX: would copy far uid [0-9]+ \(Subject "New on the server", [0-9.]+ [KM]?B\) to near$'
t_matches "dry run -v: a deletion in plain words" "$dry" '^INBOX: would delete near uid [0-9]+'
t_matches "dry run -v: a flag change in plain words" "$dry" \
	'^INBOX: would add \\Flagged to near uid [0-9]+'
t_matches "dry run -v: a move in plain words" "$dry" \
	'^Work: would move 1 message\(s\) on near from INBOX'
t_matches "dry run: the lines are marked, with the bytes to copy" "$dry" \
	'^INBOX: far->near .* \[dry run: copies [0-9.]+ [KM]?B far->near, [0-9.]+ [KM]?B near->far\]$'
t_matches "dry run: a line without copies is marked" "$dry" \
	'^Work: far->near \+0 ~0 -0 >1, near->far \+0 ~0 -0 >1 \[dry run\]$'
t_matches "dry run: a folder to create" "$dry" '^NewFar: created on near \[dry run\]$'
t_matches "dry run: a folder to remove" "$dry" \
	'^OldFar: removed on near \(it was deleted on far\) \[dry run\]$'
t_matches "dry run -v: a folder removal in plain words" "$dry" \
	'^OldNear: would remove the folder on far with its 2 message\(s\)$'

# --- the real run, compared --------------------------------------------------------------
ferry_sync test
t_equal "the real run exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
real=$T_OUT
t_contains "real run: INBOX as expected" "$real" "INBOX: far->near +1 ~1 -1, near->far +1 ~1 -1"
t_contains "real run: the server's move replayed locally" "$real" "Work: far->near +0 ~0 -0 >1"
t_contains "real run: NewFar created locally" "$real" "NewFar: created on near"
t_contains "real run: OldFar removed locally" "$real" "OldFar: removed on near"
t_contains "real run: the conflict copied back" "$real" "Clash: far->near +1 ~0 -0"
t_contains "real run: the conflict reported" "$real" "Clash: conflict: "
t_equal "the dry run's per-folder lines are the real run's" "$(folder_lines "$real")" \
	"$(folder_lines "$dry")"
converged INBOX 4 "after the real run"
converged Work 3 "after the real run"
converged NewFar 1 "after the real run"
converged NewNear 1 "after the real run"
t_ok "OldNear gone from the server" eval '! dovecot_has_folder alice OldNear'
t_ok "OldFar gone locally" test ! -e "$(md_dir OldFar)"

# --- a dry run with nothing to do says so, and still writes nothing --------------------
maildir_before=$(tree_state "$MAILDIR")
state_before=$(tree_state "$(dirname "$STATE")")
t_run "$FERRY" -c "$CONF" sync --dry-run test
t_equal "idle dry run exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_equal "idle dry run: nothing but the channel's line" \
	"test: far->near +0 ~0 -0, near->far +0 ~0 -0" "$(folder_lines "$T_OUT")"
t_equal "idle dry run: the Maildir unchanged" "$maildir_before" "$(tree_state "$MAILDIR")"
t_equal "idle dry run: the state unchanged" "$state_before" "$(tree_state "$(dirname "$STATE")")"

# --- a first dry run, before any sync: it creates nothing, not even the state's directory
cat >>"$CONF" <<CONF

[maildir fresh]
path = $WORK/Fresh

[channel fresh]
far = server
near = fresh
state = $WORK/fresh-state/fresh.sqlite
CONF
t_run "$FERRY" -c "$CONF" sync --dry-run fresh
t_equal "first dry run exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
dry=$T_OUT
t_ok "first dry run: no Maildir created" test ! -e "$WORK/Fresh"
t_ok "first dry run: no state directory created" test ! -e "$WORK/fresh-state"
t_matches "first dry run: INBOX to create" "$dry" '^INBOX: created on near \[dry run\]$'
t_matches "first dry run: INBOX's messages to copy" "$dry" \
	'^INBOX: far->near \+4 ~0 -0 \[dry run: copies [0-9.]+ [KM]?B far->near\]$'
ferry_sync fresh
t_equal "first real run exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_equal "first run: the dry run's lines are the real run's" "$(folder_lines "$T_OUT")" \
	"$(folder_lines "$dry")"

t_done
