#!/usr/bin/env bash
# `ferry verify` proves a mirror: it reads both sides of every folder pair and
# the state, reports every message missing, extra or different, and changes
# nothing anywhere (mail files, server, state). Each damage is made on its own
# behind ferry's back, checked, then repaired with a sync:
#   a local file removed, a server message expunged (doveadm), a body edited
#   keeping its size (found with --bodies only: the identity is header + size)
#   and changing it, a byte changed in place (same inode: --bodies only), a
#   message new on the server, one new locally; after a killed sync; an
#   IMAP <-> IMAP channel. Also: a
#   message skipped by max_size is "by policy", not a difference; exit 4 while
#   the channel is locked, 2 for usage, 3 when the server cannot be reached.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

sync_setup
sed -i "/^\[channel test\]/a max_size = 20K" "$CONF"

# snapshot: every mail file (name and content, not the index), the server's
# folders with their uids, flags, GUIDs and UIDVALIDITY/UIDNEXT, and every
# file beside the state (its bytes, and no -wal or -shm left behind).
snapshot() {
	(cd "$MAILDIR" && find . -name "..ferry-*" -prune -o -type f -print0 | sort -z |
		xargs -0 -r sha256sum)
	local f
	while IFS= read -r f; do
		printf '== %s\n' "$f"
		dovecot_doveadm -f tab mailbox status -u alice 'messages uidvalidity uidnext' "$f"
		dovecot_doveadm -f tab fetch -u alice 'uid flags guid' mailbox "$f" all |
			sed -e 's/\\Recent//g' -e 's/[[:space:]]\+/ /g'
	done < <(dovecot_doveadm mailbox list -u alice | sort)
	(cd "$(dirname "$STATE")" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum)
}

# verify_unchanged CODE DESC ARGS...: `ferry verify ARGS` exits CODE and
# leaves the snapshot as it was.
verify_unchanged() {
	local code=$1 desc=$2 before after
	shift 2
	before=$(snapshot)
	t_expect_exit "$code" "$desc: exits $code" "$FERRY" -c "$CONF" verify "$@"
	local out=$T_OUT
	printf "%s\n" "$out" | t__indent
	after=$(snapshot)
	if [[ $before == "$after" ]]; then
		t_pass "$desc: nothing changed on either side nor in the state"
	else
		t_fail "$desc: nothing changed on either side nor in the state" \
			"$(diff <(printf '%s\n' "$before") <(printf '%s\n' "$after"))"
	fi
	T_OUT=$out
}

# repair DESC: a sync, then verify (with --bodies) finds both sides in step.
repair() {
	ferry_sync test
	t_equal "$1: repaired by a sync" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
	t_expect_exit 0 "$1: in step again after the sync" "$FERRY" -c "$CONF" verify --bodies test
}

for i in 1 2 3 4; do seed "$i" INBOX "Verify $i" 2000; done
seed 5 Archive "Archived 5"
seed 6 Archive "Archived 6"
seed 7 INBOX "Too big" 30000
ferry_sync test
t_equal "initial sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent

# --- a clean mirror ---------------------------------------------------------------------
verify_unchanged 0 "clean mirror" test
t_contains "clean mirror: INBOX counted" "$T_OUT" \
	"INBOX: 4 in step, 0 missing far, 0 missing near, 0 extra far, 0 extra near, 0 different, 1 by policy"
t_contains "clean mirror: Archive counted" "$T_OUT" \
	"Archive: 2 in step, 0 missing far, 0 missing near, 0 extra far, 0 extra near, 0 different, 0 by policy"
t_matches "clean mirror: the max_size skip is named as policy" "$T_OUT" \
	'INBOX: by policy: far uid [0-9]+, near uid -: skipped by max_size; Subject "Too big"'
t_contains "clean mirror: the summary says in step" "$T_OUT" "test: in step: 6 folders, 6 messages in step, 1 by policy"
verify_unchanged 0 "clean mirror, --bodies" --bodies test
t_contains "clean mirror, --bodies: INBOX counted" "$T_OUT" "INBOX: 4 in step, 0 missing far"
verify_unchanged 0 "CHANNEL:FOLDER" test:Archive
t_contains "CHANNEL:FOLDER: Archive counted" "$T_OUT" "Archive: 2 in step"
t_not_contains "CHANNEL:FOLDER: INBOX left out" "$T_OUT" "INBOX"
t_contains "CHANNEL:FOLDER: summary" "$T_OUT" "test: in step: 1 folder, 2 messages in step, 0 by policy"

# --- a local file removed ---------------------------------------------------------------
f=$(md_file INBOX "Verify 2")
mv "$f" "$WORK/removed"
verify_unchanged 1 "local file removed" test
t_contains "local file removed: counted" "$T_OUT" \
	"INBOX: 3 in step, 0 missing far, 1 missing near, 0 extra far, 0 extra near, 0 different, 1 by policy"
t_matches "local file removed: named" "$T_OUT" \
	"INBOX: missing near: far uid $(srv_uid alice INBOX 'Verify 2'), near uid [0-9]+: paired in the state, gone from near; Subject \"Verify 2\""
t_contains "local file removed: summary" "$T_OUT" "test: NOT in step: 1 difference (1 missing near)"
mv "$WORK/removed" "$f"
repair "local file removed"

# --- a server message expunged behind ferry's back --------------------------------------
uid=$(srv_uid alice Archive "Archived 5")
dovecot_doveadm expunge -u alice mailbox Archive uid "$uid"
verify_unchanged 1 "server message expunged" test
t_contains "server message expunged: counted" "$T_OUT" \
	"Archive: 1 in step, 1 missing far, 0 missing near, 0 extra far, 0 extra near, 0 different, 0 by policy"
t_matches "server message expunged: named" "$T_OUT" \
	"Archive: missing far: far uid $uid, near uid [0-9]+: paired in the state, gone from far; Subject \"Archived 5\""
t_contains "server message expunged: INBOX still in step" "$T_OUT" "INBOX: 4 in step, 0 missing far, 0 missing near"
repair "server message expunged"
seed 5 Archive "Archived 5"
repair "Archived 5 back"

# restore_original: puts the saved copy of "Verify 3" back as an editor
# would (a new file renamed over the name), so the Maildir index sees it.
restore_original() {
	cp -p "$WORK/original" "$(md_dir INBOX)/tmp/restored"
	mv "$(md_dir INBOX)/tmp/restored" "$f"
}

# --- a body edited below the header, keeping its size ------------------------------------
f=$(md_file INBOX "Verify 3")
cp -p "$f" "$WORK/original"
perl -i -pe 's/^This is a test/This IS a test/' "$f"
t_ok "same-size edit: the file changed, same size" test "$(stat -c %s "$f")" = "$(stat -c %s "$WORK/original")" -a \
	"$(sha256sum <"$f")" != "$(sha256sum <"$WORK/original")"
# Without --bodies the identity (header hash and size) is all that is read: the
# same header and size look in step. That is what --bodies is for.
verify_unchanged 0 "same-size edit, without --bodies" test
t_contains "same-size edit, without --bodies: in step by identity" "$T_OUT" "INBOX: 4 in step, 0 missing far"
verify_unchanged 1 "same-size edit, --bodies" --bodies test
t_contains "same-size edit, --bodies: counted" "$T_OUT" \
	"INBOX: 3 in step, 0 missing far, 0 missing near, 0 extra far, 0 extra near, 1 different, 1 by policy"
t_matches "same-size edit, --bodies: named" "$T_OUT" \
	'INBOX: different: far uid [0-9]+, near uid [0-9]+: bodies differ \(same header and size\); Subject "Verify 3"'
t_contains "same-size edit, --bodies: summary" "$T_OUT" "test: NOT in step: 1 difference (1 different)"
restore_original
t_expect_exit 0 "same-size edit undone: --bodies in step" "$FERRY" -c "$CONF" verify --bodies test

# --- a byte of a body changed in place (the same inode, as dd conv=notrunc) --------------
f=$(md_file INBOX "Verify 4")
inode=$(stat -c %i "$f")
offset=$(($(stat -c %s "$f") - 10))
byte=$(dd if="$f" bs=1 skip="$offset" count=1 2>/dev/null)
printf '#' | dd of="$f" bs=1 seek="$offset" conv=notrunc 2>/dev/null
t_equal "in-place edit: the same inode" "$inode" "$(stat -c %i "$f")"
# Without --bodies a local message is what the Maildir index knows of its
# file, and a file rewritten in place keeps name and inode.
verify_unchanged 0 "in-place edit, without --bodies" test
verify_unchanged 1 "in-place edit, --bodies" --bodies test
t_matches "in-place edit, --bodies: named" "$T_OUT" \
	'INBOX: different: far uid [0-9]+, near uid [0-9]+: bodies differ \(same header and size\); Subject "Verify 4"'
printf '%s' "$byte" | dd of="$f" bs=1 seek="$offset" conv=notrunc 2>/dev/null
t_expect_exit 0 "in-place edit undone: --bodies in step" "$FERRY" -c "$CONF" verify --bodies test
f=$(md_file INBOX "Verify 3")

# --- a body edited below the header, growing --------------------------------------------
perl -i -pe 's/^This is a test/This is a longer test/' "$f"
verify_unchanged 1 "edit that grows the file" test
t_contains "edit that grows the file: counted" "$T_OUT" \
	"INBOX: 3 in step, 0 missing far, 0 missing near, 0 extra far, 0 extra near, 1 different, 1 by policy"
t_matches "edit that grows the file: named" "$T_OUT" \
	'INBOX: different: far uid [0-9]+, near uid [0-9]+: near message changed \(same header, size [0-9]+ -> [0-9]+\), now near uid [0-9]+; Subject "Verify 3"'
verify_unchanged 1 "edit that grows the file, --bodies" --bodies test
t_contains "edit that grows the file, --bodies: counted" "$T_OUT" \
	"INBOX: 3 in step, 0 missing far, 0 missing near, 0 extra far, 0 extra near, 1 different, 1 by policy"
restore_original
repair "edit undone"

# --- a message new on one side, not synced yet -------------------------------------------
seed 8 Archive "New on the server"
verify_unchanged 1 "new on the server" test
t_contains "new on the server: counted" "$T_OUT" \
	"Archive: 2 in step, 0 missing far, 0 missing near, 1 extra far, 0 extra near, 0 different, 0 by policy"
t_matches "new on the server: named" "$T_OUT" \
	"Archive: extra far: far uid $(srv_uid alice Archive 'New on the server'), near uid -: not paired, not on near; Subject \"New on the server\""
repair "new on the server"

md_write INBOX 9 "New locally"
verify_unchanged 1 "new locally" test
t_contains "new locally: counted" "$T_OUT" \
	"INBOX: 4 in step, 0 missing far, 0 missing near, 0 extra far, 1 extra near, 0 different, 1 by policy"
t_matches "new locally: named" "$T_OUT" \
	'INBOX: extra near: far uid -, near uid [0-9]+: not paired, not on far; Subject "New locally"'
repair "new locally"

# --- after a sync killed mid-download ----------------------------------------------------
# The killed run leaves its journal and a -wal beside the state: verify reads
# them (read-only, not as immutable) and says the next sync settles it. The
# message delivered but not recorded is on both sides with one identity: in
# step (the next sync pairs it by identity, rule 7), not extra.
seed 10 Archive "Killed download"
t_run env FERRY_CRASH_AT=download:1:after "$FERRY" -c "$CONF" sync test
t_contains "killed sync: ferry was killed" "$T_OUT" "crashed (signal 9"
t_ok "killed sync: a -wal is left beside the state" test -e "$STATE-wal"
t_ok "killed sync: the message was delivered" test -n "$(md_file Archive 'Killed download')"
state_before=$(sha256sum <"$STATE")
t_expect_exit 0 "after a killed sync: verify exits 0" "$FERRY" -c "$CONF" verify test
t_contains "after a killed sync: says the last sync was interrupted" "$T_OUT" \
	"the last sync was interrupted"
t_contains "after a killed sync: the unrecorded copy is in step by identity" "$T_OUT" \
	"Archive: 4 in step, 0 missing far, 0 missing near, 0 extra far, 0 extra near"
t_equal "after a killed sync: the state file's bytes unchanged" "$state_before" "$(sha256sum <"$STATE")"
repair "killed sync"

# --- IMAP <-> IMAP: channel "mirror", alice's account (far) and bob's (near) --------------
t_run "$FERRY" -c "$CONF" sync mirror
t_equal "mirror: initial sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_expect_exit 0 "mirror: in step" "$FERRY" -c "$CONF" verify --bodies mirror
t_contains "mirror: Archive counted" "$T_OUT" "Archive: 4 in step, 0 missing far, 0 missing near"
uid=$(srv_uid bob Archive "Archived 6")
dovecot_doveadm expunge -u bob mailbox Archive uid "$uid"
t_expect_exit 1 "mirror: a message expunged from bob's account" "$FERRY" -c "$CONF" verify mirror
t_matches "mirror: named" "$T_OUT" \
	"Archive: missing near: far uid [0-9]+, near uid $uid: paired in the state, gone from near; Subject \"Archived 6\""

# --- locked, usage, unreachable ------------------------------------------------------------
t_expect_exit 4 "verify while a sync holds the channel lock exits 4" \
	flock "$STATE.lock" "$FERRY" -c "$CONF" verify test
t_contains "locked: says so" "$T_OUT" "being synced by another ferry"
t_expect_exit 2 "verify of an unknown channel exits 2" "$FERRY" -c "$CONF" verify nosuch
t_expect_exit 2 "verify with an unknown option exits 2" "$FERRY" -c "$CONF" verify --nosuch test
t_expect_exit 2 "verify with two channels exits 2" "$FERRY" -c "$CONF" verify test mirror
t_expect_exit 0 "verify --help" "$FERRY" verify --help
t_contains "verify --help names --bodies" "$T_OUT" "--bodies"
t_expect_exit 0 "help lists the commands" "$FERRY" help
t_matches "help lists verify" "$T_OUT" '^  verify +compare both sides'
DOWN=$WORK/down.conf
sed "s/^port = $DOVECOT_IMAPS_PORT/port = 1/" "$CONF" >"$DOWN"
chmod 600 "$DOWN"
t_expect_exit 3 "verify with the server unreachable exits 3" "$FERRY" -c "$DOWN" verify test

t_done
