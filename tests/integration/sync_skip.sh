#!/usr/bin/env bash
# DESIGN rule 4: a folder unchanged on both sides since a clean sync is
# skipped: one pipelined STATUS per folder on the server, no SELECT, no FETCH,
# and no read of its Maildir directories. A change on either side, a one-way
# run, a blocked deletion or --force-delete brings the folder back.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

sync_setup

for f in INBOX Work Archive/2024 Lists; do
	for i in 1 2 3; do
		seed "$i" "$f" "$f message $i"
	done
done

# trace_count TEXT REGEX: lines of a -v trace that ferry sent matching REGEX.
trace_count() {
	printf '%s\n' "$1" | grep -cE "^C: [^ ]+ $2" || true
}
# selected TEXT: the folders a -v trace SELECTed, sorted, one line.
selected() {
	printf '%s\n' "$1" | sed -En 's/^C: [^ ]+ SELECT "?([^" ]*)"? .*/\1/p' | sort -u | tr '\n' ' '
}
# quiet_run: a sync after the directories' mtimes have aged past the 1 s rule.
quiet_run() {
	sleep 1.1
	t_run "$FERRY" -v -c "$CONF" sync "$@" test
}

ferry_sync test
t_equal "initial sync exits 0" 0 "$T_RC"
# The initial sync's deliveries changed the Maildir after it listed it; the
# index tells they were ferry's own, so the next run skips every folder.
quiet_run
t_equal "second sync exits 0" 0 "$T_RC"
t_equal "second sync: the first run's own changes are no changes (no SELECT)" 0 \
	"$(trace_count "$T_OUT" SELECT)"

# --- nothing changed -----------------------------------------------------------
quiet_run
t_equal "no-change sync exits 0" 0 "$T_RC"
nfolders=$(printf '%s\n' "$T_OUT" | grep -c '^S: \* LIST ')
t_equal "no-change: one STATUS per folder" "$nfolders" "$(trace_count "$T_OUT" STATUS)"
t_equal "no-change: no SELECT" 0 "$(trace_count "$T_OUT" SELECT)"
t_equal "no-change: no FETCH" 0 "$(trace_count "$T_OUT" 'UID FETCH')"
t_equal "no-change: the STATUS commands go out before the first reply" "$nfolders" \
	"$(printf '%s\n' "$T_OUT" | awk '/^C: [^ ]+ STATUS / { n++; next } n { exit } END { print n + 0 }')"
t_contains "no-change: summary says nothing moved" "$T_OUT" "far->near +0 ~0 -0, near->far +0 ~0 -0"
t_equal "no-change: NAMESPACE and LIST go out together" 2 \
	"$(printf '%s\n' "$T_OUT" | awk '/^C: [^ ]+ (NAMESPACE|LIST)/ { n++; next } n { exit } END { print n + 0 }')"
strace_ok=0
if command -v strace >/dev/null; then
	sleep 1.1
	strace -f -qq -y -e trace=getdents64 -o "$WORK/strace.txt" "$FERRY" -c "$CONF" sync test \
		>/dev/null 2>&1
	strace_ok=1
	t_ok "no-change: the trace shows directories being read" grep -q getdents64 "$WORK/strace.txt"
	t_equal "no-change: no cur/ or new/ directory read" "" \
		"$(grep -E '/(cur|new)>' "$WORK/strace.txt")"
	sleep 1.1
	touch "$(md_dir Work)/cur"
	strace -f -qq -y -e trace=getdents64 -o "$WORK/strace.txt" "$FERRY" -c "$CONF" sync test \
		>/dev/null 2>&1
	t_ok "a touched cur/ is read again" grep -qE '/Work/cur>' "$WORK/strace.txt"
fi

# --- a flag changed on the server: only that folder -------------------------------
uid=$(srv_uid alice Work "Work message 2")
dovecot_doveadm flags add -u alice '\Flagged' mailbox Work uid "$uid"
quiet_run
t_equal "server flag: sync exits 0" 0 "$T_RC"
t_equal "server flag: only Work selected" "Work " "$(selected "$T_OUT")"
t_equal "server flag: selected once, finished while still selected" 1 \
	"$(trace_count "$T_OUT" SELECT)"
t_equal "server flag: reached the Maildir" F "$(md_letters Work 'Work message 2')"
quiet_run
t_equal "server flag: the next run skips Work (renaming the file was ferry's own)" 0 \
	"$(trace_count "$T_OUT" SELECT)"

# --- changed folders are listed from the state and CHANGEDSINCE ----------------------
quiet_run # the flag stored locally changed the Maildir: checked once more
dovecot_doveadm expunge -u alice mailbox Work uid "$(srv_uid alice Work 'Work message 1')"
seed 4 Work "Work message 4"
dovecot_doveadm flags add -u alice '\Seen' mailbox Work uid "$(srv_uid alice Work 'Work message 3')"
quiet_run
t_equal "server changes: sync exits 0" 0 "$T_RC"
t_equal "server changes: one UID FETCH ... CHANGEDSINCE ... VANISHED" 1 \
	"$(trace_count "$T_OUT" 'UID FETCH .*CHANGEDSINCE [0-9]+ VANISHED')"
t_equal "server changes: no full listing of the folder" 0 \
	"$(printf '%s\n' "$T_OUT" | grep -E '^C: [^ ]+ UID FETCH .*RFC822.SIZE' | grep -vc CHANGEDSINCE || true)"
t_contains "server changes: planned over the expunged, the flagged and the new message only" \
	"$T_OUT" "Work: planned over 2 changed pair(s) and 1 new message(s), without the other 1 pair(s)"
t_equal "server changes: the expunge reached the Maildir" "" "$(md_file Work 'Work message 1')"
t_ok "server changes: the new message arrived" test -n "$(md_file Work 'Work message 4')"
t_equal "server changes: the flag arrived" S "$(md_letters Work 'Work message 3')"
t_equal "server changes: Work holds 3 messages" 3 "$(md_count Work)"

# --- several changed folders: one round trip for all (prefetch) -----------------------
quiet_run # the changes stored locally changed the Maildir: checked once more
for f in INBOX Archive/2024; do
	dovecot_doveadm flags add -u alice '\Answered' mailbox "$f" \
		uid "$(srv_uid alice "$f" "$f message 2")"
done
quiet_run
t_equal "two changed folders: sync exits 0" 0 "$T_RC"
t_equal "two changed folders: ENABLE, then SELECT and UID FETCH of both, before any answer" 5 \
	"$(printf '%s\n' "$T_OUT" |
		awk '/^C: [^ ]+ (ENABLE|SELECT|UID FETCH)/ { n++; next } n { exit } END { print n + 0 }')"
t_equal "two changed folders: each selected once" 2 "$(trace_count "$T_OUT" SELECT)"
t_contains "two changed folders: INBOX planned over its changed message only" "$T_OUT" \
	"INBOX: planned over 1 changed pair(s) and 0 new message(s), without the other 2 pair(s)"
t_equal "two changed folders: INBOX's flag arrived" R "$(md_letters INBOX 'INBOX message 2')"
t_equal "two changed folders: Archive/2024's flag arrived" R \
	"$(md_letters Archive/2024 'Archive/2024 message 2')"

# --- a folder the server cannot open stops only itself ---------------------------------
quiet_run
dovecot_doveadm flags add -u alice '\Answered' mailbox INBOX \
	uid "$(srv_uid alice INBOX 'INBOX message 3')"
work_dir=$DOVECOT_DIR/mail/alice/Maildir/.Work
chmod 000 "$work_dir"
quiet_run
chmod 700 "$work_dir"
t_equal "unopenable folder: exits 1 (a folder failed)" 1 "$T_RC"
t_contains "unopenable folder: the error names it" "$T_OUT" 'Work: far: cannot select folder "Work"'
t_equal "unopenable folder: its SELECT went out with the others, and once more alone" 2 \
	"$(trace_count "$T_OUT" 'SELECT "?Work"? ')"
t_equal "unopenable folder: INBOX's change arrived all the same" R \
	"$(md_letters INBOX 'INBOX message 3')"
t_equal "unopenable folder: nothing deleted from it locally" 3 "$(md_count Work)"
quiet_run
t_equal "unopenable folder: once readable, the next run exits 0" 0 "$T_RC"

# --- a flag changed locally: only that folder ----------------------------------------
quiet_run # the flag stored locally changed the Maildir: checked once more
f=$(md_file Lists "Lists message 1")
mv "$f" "$(md_dir Lists)/cur/$(basename "${f%%:2,*}"):2,S"
quiet_run
t_equal "local flag: sync exits 0" 0 "$T_RC"
t_equal "local flag: only Lists selected" "Lists " "$(selected "$T_OUT")"
t_contains "local flag: reached the server" "$(srv_flags alice Lists 'Lists message 1')" '\Seen'
t_contains "local flag: the Maildir told its change from its index (no full listing)" "$T_OUT" \
	"Lists: planned over 1 changed pair(s) and 0 new message(s), without the other 2 pair(s)"

# --- a new local message after a --pull run is still uploaded -------------------------
quiet_run
quiet_run
md_write INBOX 20 "Written during a pull"
quiet_run --pull
t_equal "--pull: exits 0" 0 "$T_RC"
t_equal "--pull: nothing uploaded" "" "$(srv_uid alice INBOX 'Written during a pull')"
quiet_run
t_equal "after --pull: every folder synced again (a one-way run is never clean)" "$nfolders" \
	"$(selected "$T_OUT" | wc -w)"
t_ok "after --pull: the local message reached the server" test -n "$(srv_uid alice INBOX 'Written during a pull')"

# --- a folder whose deletions were blocked is not skipped ------------------------------
quiet_run
quiet_run
sed -i '/^state = .*test.sqlite$/a max_delete = 1' "$CONF"
for i in 1 2; do rm "$(md_file Archive/2024 "Archive/2024 message $i")"; done
quiet_run
t_equal "blocked deletion: sync reports it" 1 "$T_RC"
quiet_run
t_equal "blocked deletion: the next run looks at the folder again" "Archive/2024 " "$(selected "$T_OUT")"
quiet_run --force-delete
t_equal "--force-delete: exits 0" 0 "$T_RC"
t_equal "--force-delete: the deletions reached the server" "" \
	"$(srv_uid alice Archive/2024 'Archive/2024 message 1')$(srv_uid alice Archive/2024 'Archive/2024 message 2')"

# --- a changed policy is not skipped -----------------------------------------------------
quiet_run
quiet_run
t_equal "settled again: no SELECT" 0 "$(trace_count "$T_OUT" SELECT)"
sed -i '/^max_delete = 1$/a max_size = 10M' "$CONF"
quiet_run
t_equal "max_size changed: every folder looked at again" "$nfolders" "$(selected "$T_OUT" | wc -w)"

# --- a bigger folder: local deletions planned sparsely, max_delete still of the whole --
sed -i '/^max_delete = 1$/d' "$CONF" # back to the default, 50%
for i in $(seq 1 80); do md_write Big "$i" "Big message $i"; done
quiet_run
quiet_run
quiet_run
t_equal "big folder: uploaded" 80 "$(dovecot_doveadm -f tab search -u alice mailbox Big all | sed 1d | wc -l)"
for i in $(seq 69 80); do rm "$(md_file Big "Big message $i")"; done # subjects no other one extends
md_write Big 81 "Big message 81"
quiet_run
t_equal "local deletions: sync exits 0 (12 of 80 is under max_delete's 50%)" 0 "$T_RC"
t_contains "local deletions: planned over the deleted and the new message only" "$T_OUT" \
	"Big: planned over 12 changed pair(s) and 1 new message(s), without the other 68 pair(s)"
t_equal "local deletions: reached the server" 69 \
	"$(dovecot_doveadm -f tab search -u alice mailbox Big all | sed 1d | wc -l)"
t_ok "local deletions: the new message reached the server" \
	test -n "$(srv_uid alice Big 'Big message 81')"
quiet_run
dovecot_doveadm flags add -u alice '\Flagged' mailbox Big all
quiet_run
t_equal "many changes: sync exits 0" 0 "$T_RC"
t_contains "many changes: every pair loaded, the far side listed from the state" "$T_OUT" \
	"Big: far listed from the state and 69 change(s)"
t_equal "many changes: every flag arrived" 69 \
	"$(find "$(md_dir Big)/cur" -name '*:2,*F*' | wc -l)"

# --- the server works while the Maildir is read ------------------------------------------
# A folder changed on the server is prefetched (SELECT, UID FETCH) before the Maildir
# reads its changed directories; a folder changed only locally follows.
quiet_run
dovecot_doveadm flags add -u alice '\Answered' mailbox INBOX \
	uid "$(srv_uid alice INBOX 'INBOX message 1')"
f=$(md_file Work 'Work message 3')
mv "$f" "${f%%:2,*}:2,F${f##*:2,}" # another program flags it
quiet_run
t_equal "both sides changed: sync exits 0" 0 "$T_RC"
lines=$(printf '%s\n' "$T_OUT" | grep -nE '^C: [^ ]+ SELECT "?(INBOX|Work)"? |^Work: new/ or cur/ changed: ' |
	sed -E 's/^([0-9]+):(C: [^ ]+ SELECT "?([A-Za-z]+).*|Work: .*)/\3/; s/^$/scan/' | tr '\n' ' ')
# Work's second SELECT is the real one its STORE needs (the first was prefetched).
t_equal "both sides changed: INBOX's SELECT before the Maildir reads Work, then Work's" \
	"INBOX scan Work Work " "$lines"
t_equal "both sides changed: INBOX's flag arrived" R "$(md_letters INBOX 'INBOX message 1' | tr -d S)"
t_contains "both sides changed: Work's flag reached the server" \
	"$(srv_flags alice Work 'Work message 3')" '\Flagged'

# --- more changed folders than the prefetch leaves unanswered ----------------------------
for i in $(seq 1 70); do seed 1 "Many/f$i" "Many $i"; done
quiet_run
quiet_run
for i in $(seq 1 70); do dovecot_doveadm flags add -u alice '\Flagged' mailbox "Many/f$i" all; done
quiet_run
t_equal "70 changed folders: sync exits 0" 0 "$T_RC"
t_equal "70 changed folders: 64 SELECTs out before the first answer is read" 64 \
	"$(printf '%s\n' "$T_OUT" |
		awk '/^S: [^ ]+ OK \[READ-WRITE\]/ { exit } /^C: [^ ]+ SELECT / { n++ } END { print n + 0 }')"
t_equal "70 changed folders: each selected once" 70 "$(trace_count "$T_OUT" SELECT)"
t_equal "70 changed folders: each planned over its prefetched change" 70 \
	"$(printf '%s\n' "$T_OUT" | grep -cE '^Many/f[0-9]+: planned over 1 changed pair\(s\)')"
t_equal "70 changed folders: every flag arrived" 70 \
	"$(find "$MAILDIR" -path '*Many*' -name '*:2,*F*' -type f | wc -l)"

[[ $strace_ok == 1 ]] || t_fail "strace is needed for the directory check (apt-get install strace)"
t_done
