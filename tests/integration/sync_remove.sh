#!/usr/bin/env bash
# Folder removal never empties an account (DESIGN rule 11, `remove = both`):
# a Maildir root missing, empty or another tree, and a server that suddenly
# lists only INBOX, stop the channel with nothing created or removed; folder
# removals count against max_delete; INBOX is never removed; a folder deeper
# than the Maildir side lists is neither created nor taken as deleted.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

sync_setup
sed -i 's/^state = \(.*test.sqlite\)$/state = \1\nremove = both/' "$CONF"

# server_view: every folder of alice's account with its message count.
server_view() {
	local f
	dovecot_doveadm mailbox list -u alice | sort | while IFS= read -r f; do
		printf '%s %s\n' "$f" "$(dovecot_count alice "$f")"
	done
}

# tree_view DIR: every file and directory below DIR but ferry's own index.
tree_view() {
	(cd "$1" && find . -name "..ferry-*" -prune -o -print | sort)
}

# deep_name ROOT LEVELS: ROOT/b/b/... with LEVELS levels in all.
deep_name() {
	local name=$1 i
	for ((i = 1; i < $2; i++)); do
		name+=/b
	done
	printf '%s\n' "$name"
}

seed 1 INBOX "Inbox one"
seed 2 INBOX "Inbox two"
for i in 1 2 3 4 5; do
	seed "1$i" Work "Work $i"
done
n=20
for f in Lists Archive Family Travel; do
	seed $((n++)) "$f" "$f one"
	seed $((n++)) "$f" "$f two"
done
ferry_sync test
t_equal "first sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
converged Work 5 "first sync"
server_before=$(server_view)
local_before=$(tree_view "$MAILDIR")

# --- (a) the Maildir root is missing, empty or another tree ---------------------------
mv "$MAILDIR" "$WORK/Mail.away"
sed -i 's/^remove = both$/remove = none/' "$CONF"
ferry_sync test
t_equal "missing root, remove = none: exit 1" 1 "$T_RC"
t_contains "missing root, remove = none: says why" "$T_OUT" \
	"none of the 10 folders synced last time"
t_ok "missing root, remove = none: nothing is downloaded again" test ! -e "$MAILDIR"
sed -i 's/^remove = none$/remove = both/' "$CONF"
ferry_sync test
t_equal "missing root: exit 1" 1 "$T_RC"
t_contains "missing root: says why" "$T_OUT" "none of the 10 folders synced last time"
t_equal "missing root: the server is unchanged" "$server_before" "$(server_view)"
t_ok "missing root: nothing is created locally" test ! -e "$MAILDIR"
ferry_sync --force-delete test
t_equal "missing root, --force-delete: still exit 1" 1 "$T_RC"
t_equal "missing root, --force-delete: the server is unchanged" "$server_before" "$(server_view)"
t_ok "missing root, --force-delete: nothing is created locally" test ! -e "$MAILDIR"

mkdir "$MAILDIR"
ferry_sync test
t_equal "empty root (not mounted): exit 1" 1 "$T_RC"
t_contains "empty root: says why" "$T_OUT" "none of the 10 folders synced last time"
t_equal "empty root: the server is unchanged" "$server_before" "$(server_view)"
t_equal "empty root: nothing is written into it" "" "$(ls -A "$MAILDIR")"
rmdir "$MAILDIR"

other=$WORK/OtherAccount
for f in Projects Notes; do
	mkdir -p "$other/$f/cur" "$other/$f/new" "$other/$f/tmp"
	make_message $((n++)) "Other $f" >"$other/$f/new/1.M1P1.otherhost"
done
other_before=$(tree_view "$other")
sed -i "s|^path = $MAILDIR\$|path = $other|" "$CONF"
ferry_sync test
t_equal "another tree: exit 1" 1 "$T_RC"
t_contains "another tree: says why" "$T_OUT" "none of the 10 folders synced last time"
t_equal "another tree: the server is unchanged" "$server_before" "$(server_view)"
t_equal "another tree: nothing is created or removed in it" "$other_before" "$(tree_view "$other")"
sed -i "s|^path = $other\$|path = $MAILDIR|" "$CONF"
mv "$WORK/Mail.away" "$MAILDIR"
ferry_sync test
t_equal "root back: exit 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_equal "root back: the server is unchanged" "$server_before" "$(server_view)"
t_equal "root back: the Maildir is unchanged" "$local_before" "$(tree_view "$MAILDIR")"

# --- (d) INBOX is never removed ----------------------------------------------------------
rm -r "$(md_dir INBOX)"
ferry_sync test
t_equal "INBOX deleted locally: exit 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_contains "INBOX deleted locally: says INBOX is not removed" "$T_OUT" "INBOX is never removed"
t_equal "INBOX deleted locally: the server INBOX keeps its mail" 2 "$(dovecot_count alice INBOX)"
converged INBOX 2 "INBOX deleted locally"

# The same from a Maildir far side, its INBOX spelt "inbox".
m1=$WORK/M1
m2=$WORK/M2
for m in "$m1" "$m2"; do
	mkdir -p "$m"
done
mkdir -p "$m1/inbox/cur" "$m1/inbox/new" "$m1/inbox/tmp" "$m1/Keep/cur" "$m1/Keep/new"
make_message 51 "Local inbox one" >"$m1/inbox/new/1.M1P1.host"
make_message 52 "Local inbox two" >"$m1/inbox/new/2.M2P1.host"
make_message 53 "Local keep" >"$m1/Keep/new/3.M3P1.host"
cat >>"$CONF" <<CONF

[maildir m1]
path = $m1

[maildir m2]
path = $m2

[channel local]
far = m1
near = m2
remove = both
state = $WORK/state/local.sqlite
CONF
t_run "$FERRY" -c "$CONF" sync local
t_equal "maildir<->maildir: first sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_equal "maildir<->maildir: INBOX copied" 2 "$(find "$m2/INBOX" -type f | wc -l)"
rm -r "$m1/inbox"
t_run "$FERRY" -c "$CONF" sync local
t_equal "maildir<->maildir, far inbox deleted: exit 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_contains "maildir<->maildir, far inbox deleted: says INBOX is not removed" "$T_OUT" \
	"INBOX is never removed"
t_equal "maildir<->maildir, far inbox deleted: the near INBOX keeps its mail" 2 \
	"$(find "$m2/INBOX/cur" "$m2/INBOX/new" -type f | wc -l)"

# --- (e) one depth limit both ways ---------------------------------------------------------
deep64=$(deep_name Deep 64)
deep65=$(deep_name Deeper 65)
seed 61 "$deep64" "64 levels"
seed 62 "$deep65" "65 levels"
ferry_sync test
t_equal "deep folders: exit 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_contains "deep folders: the too deep one is named" "$T_OUT" "${deep65:0:20}"
t_contains "deep folders: says why" "$T_OUT" "65 levels deep"
t_equal "64 levels: created locally with its message" 1 "$(md_count "$deep64")"
t_ok "65 levels: not created locally" test ! -e "$MAILDIR/Deeper/b/b"
ferry_sync test
t_equal "deep folders, again: exit 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_equal "65 levels: the server folder is not taken as deleted" 1 "$(dovecot_count alice "$deep65")"
t_equal "64 levels: still on the server" 1 "$(dovecot_count alice "$deep64")"
t_equal "64 levels: still local" 1 "$(md_count "$deep64")"
md_write "$(deep_name Local 65)" 63 "Local 65 levels"
ferry_sync test
t_equal "local 65 levels: exit 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_ok "local 65 levels: not created on the server" eval \
	"! dovecot_has_folder alice '$(deep_name Local 65)'"
rm -r "$MAILDIR/Local"
dovecot_doveadm mailbox delete -u alice "$deep65"

# --- (c) folder removals count against max_delete -----------------------------------------
sed -i 's/^remove = both$/remove = both\nmax_delete = 4/' "$CONF"
rm -r "$(md_dir Work)"
ferry_sync test
t_equal "max_delete: exit 1" 1 "$T_RC"
t_contains "max_delete: says why" "$T_OUT" "max_delete"
t_equal "max_delete: the server folder keeps its mail" 5 "$(dovecot_count alice Work)"
t_ok "max_delete: the local folder is not recreated" test ! -e "$(md_dir Work)"
ferry_sync --force-delete test
t_equal "max_delete, --force-delete: exit 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_ok "max_delete, --force-delete: the server folder is removed" eval \
	'! dovecot_has_folder alice Work'
sed -i '/^max_delete = 4$/d' "$CONF"

# --- (b) the server suddenly lists a fresh account ------------------------------------------
# Its folders gone but INBOX and the special-use ones Dovecot creates at login, new and empty.
ferry_sync test
local_before=$(tree_view "$MAILDIR")
rm -r "$DOVECOT_DIR/mail/alice/Maildir"
server_before=$(server_view)
sed -i 's/^remove = both$/remove = none/' "$CONF"
ferry_sync test
t_equal "fresh account, remove = none: exit 1" 1 "$T_RC"
t_equal "fresh account, remove = none: nothing is uploaded again" "$server_before" \
	"$(server_view)"
sed -i 's/^remove = none$/remove = both/' "$CONF"
ferry_sync test
t_equal "fresh account: exit 1" 1 "$T_RC"
t_contains "fresh account: says why" "$T_OUT" "lists only 6 of the 10 folders synced last time"
t_equal "fresh account: the Maildir is unchanged" "$local_before" "$(tree_view "$MAILDIR")"
t_equal "fresh account: nothing is created on the server" "$server_before" "$(server_view)"
ferry_sync --force-delete test
t_equal "fresh account, --force-delete: exit 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_ok "fresh account, --force-delete: the folders gone there are removed locally" \
	test ! -e "$(md_dir Lists)/cur"
converged INBOX 2 "fresh account, --force-delete"
t_done
