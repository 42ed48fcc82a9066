#!/usr/bin/env bash
# Folder renames (DESIGN rule 11): a folder renamed on the server (RENAME
# keeps its UIDVALIDITY) is renamed locally, and a directory moved locally
# is renamed on the server, children included, with no upload, no body
# downloaded, messages and flags unchanged. Renamed differently on each
# side is ambiguous: synced as before, nothing lost. A kill between the
# rename and its record converges on the next run.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

sync_setup

# bodies_fetched OUTPUT: FETCH responses carrying a whole body in a -v trace.
bodies_fetched() {
	grep -c 'S: \* [0-9]* FETCH (.*BODY\[\] {' <<<"$1" || true
}

# inodes DIR: the inode and name of each message file below DIR, sorted.
inodes() {
	find "$1" -path '*/cur/*' -type f -printf '%i %f\n' 2>/dev/null | sort
}

seed 1 INBOX "Inbox one"
seed 2 Work "Work one"
seed 3 Work "Work two"
seed 4 Work/A "Work A one"
dovecot_doveadm flags add -u alice '\Flagged' mailbox Work uid 1
ferry_sync test
t_equal "initial sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_equal "initial sync: Work/A is local" 1 "$(md_count Work/A)"

# --- renamed on the server, with a child ---------------------------------------
before=$(inodes "$MAILDIR/Work")
dovecot_doveadm mailbox rename -u alice Work Projects/Work
t_run "$FERRY" -v -c "$CONF" sync test
t_equal "server rename: sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_contains "server rename: said" "$T_OUT" "Work: renamed to Projects/Work on far; renaming it on near"
t_equal "server rename: no body downloaded" 0 "$(bodies_fetched "$T_OUT")"
t_not_contains "server rename: nothing copied" "$T_OUT" "+1"
t_ok "server rename: the local Work is gone" test ! -e "$MAILDIR/Work"
t_equal "server rename: the same files, the same inodes" "$before" "$(inodes "$MAILDIR/Projects/Work")"
t_equal "server rename: the child moved with it" 1 "$(md_count Projects/Work/A)"
t_equal "server rename: flags kept" "F" "$(md_letters Projects/Work "Work one")"
converged Projects/Work 2 "server rename"
converged Projects/Work/A 1 "server rename, child"
ferry_sync test
t_contains "server rename: the next sync changes nothing" "$T_OUT" \
	"far->near +0 ~0 -0, near->far +0 ~0 -0"

# --- renamed locally (the directory moved), with a child -------------------------
mkdir -p "$MAILDIR/Old"
mv "$MAILDIR/Projects/Work" "$MAILDIR/Old/Work"
uidvalidity() {
	dovecot_doveadm -f flow mailbox status -u alice uidvalidity "$1" | sed 's/.*uidvalidity=//'
}
was=$(uidvalidity Projects/Work)
mark=$(dovecot_log_mark)
t_run "$FERRY" -v -c "$CONF" sync test
t_equal "local rename: sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_contains "local rename: said" "$T_OUT" "Projects/Work: renamed to Old/Work on near; renaming it on far"
t_equal "local rename: nothing uploaded" 0 "$(saves_since "$mark")"
t_equal "local rename: no body downloaded" 0 "$(bodies_fetched "$T_OUT")"
t_equal "local rename: Projects/Work is gone on the server" no \
	"$(dovecot_has_folder alice Projects/Work && echo yes || echo no)"
t_equal "local rename: the server's folder kept its UIDVALIDITY (renamed, not made anew)" \
	"$was" "$(uidvalidity Old/Work)"
t_equal "local rename: flags kept" "\\Flagged" "$(srv_flags alice Old/Work "Work one")"
converged Old/Work 2 "local rename"
converged Old/Work/A 1 "local rename, child"
ferry_sync test
t_contains "local rename: the next sync changes nothing" "$T_OUT" \
	"far->near +0 ~0 -0, near->far +0 ~0 -0"

# --- renamed differently on each side: no guess, nothing lost ----------------------
dovecot_doveadm mailbox rename -u alice Old/Work/A SrvA
mv "$MAILDIR/Old/Work/A" "$MAILDIR/LocA"
ferry_sync test
t_equal "renamed twice: sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_not_contains "renamed twice: no rename" "$T_OUT" "renamed to"
converged SrvA 1 "renamed twice, the server's name"
converged LocA 1 "renamed twice, the local name"

# --- killed between the rename and its record --------------------------------------
dovecot_doveadm mailbox rename -u alice Old/Work Kept
before=$(inodes "$MAILDIR/Old/Work")
t_run env FERRY_CRASH_AT=rename:1:after "$FERRY" -c "$CONF" sync test
t_ok "kill: the run was killed" test "$T_RC" -ne 0
t_ok "kill: renamed locally before the kill" test -d "$MAILDIR/Kept/cur"
mark=$(dovecot_log_mark)
t_run "$FERRY" -v -c "$CONF" sync test
t_equal "after the kill: sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_contains "after the kill: the state follows" "$T_OUT" "Old/Work: renamed to Kept on both sides"
t_equal "after the kill: nothing uploaded" 0 "$(saves_since "$mark")"
t_equal "after the kill: no body downloaded" 0 "$(bodies_fetched "$T_OUT")"
t_equal "after the kill: the same files" "$before" "$(inodes "$MAILDIR/Kept")"
converged Kept 2 "after the kill"
ferry_sync test
t_contains "after the kill: the next sync changes nothing" "$T_OUT" \
	"far->near +0 ~0 -0, near->far +0 ~0 -0"

# --- moved locally and written to before the sync: not the same files, no guess ---------
mv "$MAILDIR/Kept" "$MAILDIR/Moved"
md_write Moved 80 "Written after the move"
ferry_sync test
t_equal "moved and written: sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_not_contains "moved and written: no rename" "$T_OUT" "renamed to"
converged Moved 3 "moved and written, the new folder"
converged Kept 2 "moved and written, the old folder recreated"

# --- moved locally, killed after the server's RENAME and before its record ----------------
mv "$MAILDIR/Moved" "$MAILDIR/Again"
t_run env FERRY_CRASH_AT=rename:1:after "$FERRY" -c "$CONF" sync test
t_ok "kill after RENAME: the run was killed" test "$T_RC" -ne 0
t_equal "kill after RENAME: renamed on the server before the kill" 3 "$(dovecot_count alice Again)"
mark=$(dovecot_log_mark)
ferry_sync test
t_equal "after the kill after RENAME: sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_contains "after the kill after RENAME: the state follows" "$T_OUT" \
	"Moved: renamed to Again on both sides"
t_equal "after the kill after RENAME: nothing uploaded" 0 "$(saves_since "$mark")"
t_equal "after the kill after RENAME: Moved is not recreated" no \
	"$(dovecot_has_folder alice Moved && echo yes || echo no)"
converged Again 3 "after the kill after RENAME"

# --- maildir++: each folder its own directory of the root --------------------------
cat >>"$CONF" <<CONF

[maildir flat]
path = $WORK/Flat
layout = maildir++

[channel flat]
far = mirror
near = flat
state = $WORK/state/flat.sqlite
CONF
make_message 70 "Team one" 0 | dovecot_seed bob Team
make_message 71 "Team two" 0 | dovecot_seed bob Team
make_message 72 "Team sub" 0 | dovecot_seed bob Team/Sub
ferry_sync flat
t_equal "maildir++: initial sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
before=$(inodes "$WORK/Flat/.Team.Sub")
mv "$WORK/Flat/.Team" "$WORK/Flat/.Crew"
mv "$WORK/Flat/.Team.Sub" "$WORK/Flat/.Crew.Sub"
mark=$(dovecot_log_mark)
ferry_sync flat
t_equal "maildir++ local rename: sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_contains "maildir++ local rename: said" "$T_OUT" "Team: renamed to Crew on near; renaming it on far"
t_equal "maildir++ local rename: nothing uploaded" 0 "$(saves_since "$mark")"
t_equal "maildir++ local rename: on the server" "2 1" \
	"$(dovecot_count bob Crew) $(dovecot_count bob Crew/Sub)"
t_equal "maildir++ local rename: Team gone on the server" no \
	"$(dovecot_has_folder bob Team && echo yes || echo no)"
dovecot_doveadm mailbox rename -u bob Crew Group
t_run "$FERRY" -v -c "$CONF" sync flat
t_equal "maildir++ server rename: sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_equal "maildir++ server rename: no body downloaded" 0 "$(bodies_fetched "$T_OUT")"
t_ok "maildir++ server rename: .Crew is gone" test ! -e "$WORK/Flat/.Crew"
t_equal "maildir++ server rename: the child's files moved" "$before" \
	"$(inodes "$WORK/Flat/.Group.Sub")"
t_equal "maildir++ server rename: .Group holds two" 2 \
	"$(find "$WORK/Flat/.Group/cur" "$WORK/Flat/.Group/new" -type f | wc -l)"
ferry_sync flat
t_contains "maildir++: the next sync changes nothing" "$T_OUT" \
	"far->near +0 ~0 -0, near->far +0 ~0 -0"

t_done
