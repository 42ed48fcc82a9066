#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Fault injection (issue 5): the local disk refuses writes (RLIMIT_FSIZE, a full
# tmpfs, a read-only mount), the state database or the Maildir index is damaged
# or foreign, and a SIGKILL leaves SQLite's -wal/-shm files behind. Each time
# ferry says what failed and where, changes nothing it should not on either
# side, records nothing it did not write, and a later run converges with no
# duplicate, no second download of a body and no upload.
#
# The mounts are made in a private mount namespace (unshare -m): they vanish
# with the test, even when it is killed.
if [[ -z ${FERRY_FAULTS_NS:-} ]] && unshare -m --propagation private true 2>/dev/null; then
	FERRY_FAULTS_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=sync_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

sync_setup verbatim
TINY=$WORK/Tiny
cat >>"$CONF" <<CONF

[maildir tiny]
path = $TINY

[channel tiny]
far = server
near = tiny
folders = Full
state = $WORK/state/tiny.sqlite
CONF

# --- helpers ---------------------------------------------------------------------

# ids_local FOLDER [ROOT] / ids_server FOLDER: the Message-IDs on each side, sorted.
ids_local() {
	local d=${2:-$MAILDIR}/$1
	find "$d/cur" "$d/new" -maxdepth 1 -type f -exec grep -h -m1 -i '^Message-ID:' {} + 2>/dev/null |
		sed 's/^[^:]*: *//; s/\r$//' | sort
}
ids_server() {
	dovecot_doveadm -f tab fetch -u alice hdr.message-id mailbox "$1" all | sed 1d | sed 's/\r$//' | sort
}

# converged FOLDER COUNT [ROOT]: both sides hold exactly COUNT distinct messages, the same ones.
converged() {
	local folder=$1 count=$2 root=${3:-$MAILDIR} l s
	l=$(ids_local "$folder" "$root")
	s=$(ids_server "$folder")
	t_equal "$folder: $count messages locally" "$count" "$(grep -c . <<<"$l")"
	t_equal "$folder: $count messages on the server" "$count" "$(grep -c . <<<"$s")"
	t_equal "$folder: no duplicate locally" "" "$(uniq -d <<<"$l")"
	t_equal "$folder: no duplicate on the server" "" "$(uniq -d <<<"$s")"
	t_equal "$folder: the same messages on both sides" "$s" "$l"
}

# mail_files ROOT: every file of the Maildir but ferry's own (..ferry-*), with its size.
mail_files() {
	find "$1" -name '..ferry-*' -prune -o -type f -printf '%P %s\n' | sort
}

# sessions_ended MARK: waits (up to 5 s) until every IMAP login since MARK has its
# "Disconnected" line in the log, i.e. Dovecot has logged all those sessions did.
sessions_ended() {
	local i log
	for ((i = 0; i < 50; i++)); do
		log=$(dovecot_log_since "$1")
		(($(grep -c 'Login: user=' <<<"$log") <= $(grep -c ': Disconnected' <<<"$log"))) &&
			return 0
		sleep 0.1
	done
	return 1
}

# server_changes MARK: the mail_log lines (save, copy, expunge, flag change, folder
# create/delete/rename) of IMAP sessions since dovecot_log_mark printed MARK.
server_changes() {
	sessions_ended "$1"
	dovecot_log_since "$1" |
		grep -E 'Info: (save|copy|expunge|flag_change|mailbox_create|mailbox_delete|mailbox_rename):' ||
		true
}

# server_bodies MARK: how many message bodies the server sent since MARK, by its own
# count (body_count of each session's "Disconnected" line).
server_bodies() {
	sessions_ended "$1"
	dovecot_log_since "$1" | sed -n 's/.*: Disconnected.* body_count=\([0-9]*\).*/\1/p' |
		awk '{n += $1} END {print n + 0}'
}

# bodies_fetched TEXT: how many message bodies a -v trace shows coming in.
bodies_fetched() {
	grep -cE '^S: \* [0-9]+ FETCH \(.*BODY\[\] \{' <<<"$1" || true
}

# incomplete FOLDER [ROOT]: the local files of FOLDER (cur/ and new/) that are not,
# byte for byte after line-ending normalisation, a message of the server's FOLDER.
incomplete() {
	local folder=$1 root=${2:-$MAILDIR} f id uid
	for f in "$root/$folder"/cur/* "$root/$folder"/new/*; do
		[[ -f $f ]] || continue
		id=$(grep -h -m1 -i '^Message-ID:' "$f" | sed 's/^[^:]*: *//; s/\r$//')
		uid=$(dovecot_doveadm -f tab search -u alice mailbox "$folder" header Message-ID "$id" |
			awk 'NR>1{print $2}' | head -n 1)
		if [[ -z $uid ]] || ! cmp -s <(sed 's/\r$//' "$f") \
			<(dovecot_doveadm fetch -u alice text mailbox "$folder" uid "$uid" |
				sed -e '1d' -e 's/\r$//'); then
			printf '%s\n' "${f#"$root"/}"
		fi
	done
}

# pairs STATE FOLDER: "far_uid near_uid" per pair of FOLDER in that state database.
pairs() {
	sqlite3 -separator ' ' "$1" "SELECT p.far_uid, p.near_uid FROM pairs p JOIN folders f
		ON f.id = p.folder_id WHERE f.name = '$2' ORDER BY p.far_uid"
}

# server_uids FOLDER SUBJECT...: the server uids of those messages, sorted, one a line.
server_uids() {
	local folder=$1 s
	shift
	for s in "$@"; do srv_uid alice "$folder" "$s"; done | sort -n
}

# local_far_uids FOLDER [ROOT]: the server uids of the messages present locally.
local_far_uids() {
	local id
	ids_local "$1" "${2:-$MAILDIR}" | while read -r id; do
		dovecot_doveadm -f tab search -u alice mailbox "$1" header Message-ID "$id" |
			awk 'NR>1{print $2}'
	done | sort -n
}

# write_refused NAME FOLDER ROOT STATE COUNT ERROR [BIG...]: the assertions after a
# run ($T_RC, $T_OUT) whose local writes failed while downloading the COUNT messages
# of FOLDER; MARK is the server log mark taken before it, ERROR what the message must
# say, BIG the subjects that cannot have been written.
write_refused() {
	local name=$1 folder=$2 root=$3 state=$4 count=$5 text=$6 s
	shift 6
	t_equal "$name: exit 1 (some folders failed), not a signal" 1 "$T_RC" ||
		printf '%s\n' "$T_OUT" | t__indent
	t_contains "$name: the error names the folder" "$T_OUT" "\"$folder\""
	t_contains "$name: the error says why ($text)" "$T_OUT" "$text"
	t_not_contains "$name: no crash" "$T_OUT" "crashed"
	t_equal "$name: the server still holds all $count" "$count" "$(dovecot_count alice "$folder")"
	t_equal "$name: nothing changed on the server" "" "$(server_changes "$MARK")"
	t_equal "$name: no partial file in cur/ or new/" "" "$(incomplete "$folder" "$root")"
	t_equal "$name: nothing left in tmp/" "" "$(find "$root/$folder/tmp" -type f)"
	for s in "$@"; do
		t_equal "$name: '$s' is not local" "" "$(md_file_in "$root" "$folder" "$s")"
	done
	t_equal "$name: the state pairs only messages that are local" "" \
		"$(pairs "$state" "$folder" | cut -d' ' -f1 | grep -vFx -f <(local_far_uids "$folder" "$root"))"
	if (($# > 0)); then
		t_equal "$name: no pair for a message not written" "" \
			"$(pairs "$state" "$folder" | cut -d' ' -f1 | grep -Fx -f <(server_uids "$folder" "$@"))"
	fi
}

# md_file_in ROOT FOLDER SUBJECT: md_file for another Maildir root.
md_file_in() {
	grep -l -m1 -F "Subject: $3" "$1/$2"/cur/* "$1/$2"/new/* 2>/dev/null | head -n 1
}

# seed_mixed FOLDER BIG_BYTES: five messages, 2 and 4 of BIG_BYTES, the others small.
seed_mixed() {
	seed 1 "$1" "Small 1" 500
	seed 2 "$1" "Big 2" "$2"
	seed 3 "$1" "Small 3" 500
	seed 4 "$1" "Big 4" "$2"
	seed 5 "$1" "Small 5" 500
}

# --- 1. the local side refuses writes ----------------------------------------------

# RLIMIT_FSIZE: a file may not grow past 256 KiB, two of the messages are 400 KB.
seed_mixed Fsize 400000
MARK=$(dovecot_log_mark)
t_run prlimit --fsize=262144 "$FERRY" -c "$CONF" sync test:Fsize
write_refused "file size limit" Fsize "$MAILDIR" "$STATE" 5 "File too large" "Big 2" "Big 4"

# What a killed run leaves in tmp/ is no message: half of Big 2 there is neither
# listed nor uploaded.
make_message 2 "Big 2" 400000 | head -c 100000 >"$(md_dir Fsize)/tmp/1700000000.M1P1Q1.crashed"
MARK=$(dovecot_log_mark)
ferry_sync test:Fsize
t_equal "limit lifted: the next run exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
converged Fsize 5
t_equal "limit lifted: nothing uploaded" "" "$(server_changes "$MARK" | grep 'save:')"
t_ok "limit lifted: the big ones arrived whole" test -z "$(incomplete Fsize)"
t_equal "limit lifted: every message paired once" "1 2 3 4 5" \
	"$(pairs "$STATE" Fsize | cut -d' ' -f1 | paste -sd' ')"

# The same limit at 64 KiB stops the SQLite files first (the Maildir index and the
# state grow through their -wal files): messages already delivered into new/ but
# not recorded are found again by identity (rule 7), none downloaded twice.
dovecot_bulk_seed alice Grow 300 1000 100
MARK=$(dovecot_log_mark)
t_run prlimit --fsize=65536 "$FERRY" -c "$CONF" sync test:Grow
write_refused "SQLite files at the limit" Grow "$MAILDIR" "$STATE" 300 "disk I/O error"
had=$(md_count Grow)
t_ok "SQLite files at the limit: some messages were delivered ($had)" test "$had" -gt 0
MARK=$(dovecot_log_mark)
ferry_sync test:Grow
t_equal "limit lifted (SQLite): the next run exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
converged Grow 300
t_equal "limit lifted (SQLite): no body downloaded twice" "$((300 - had))" "$(server_bodies "$MARK")"
t_equal "limit lifted (SQLite): nothing changed on the server" "" "$(server_changes "$MARK")"
t_equal "limit lifted (SQLite): 300 pairs, one per message" "300 300" \
	"$(sqlite3 "$STATE" "SELECT count(*), count(DISTINCT far_uid) FROM pairs p JOIN folders f
		ON f.id = p.folder_id WHERE f.name = 'Grow'" | tr '|' ' ')"

# A full disk: the Maildir on a 1 MiB tmpfs with 200 KiB free, two messages of 300 KB.
mkdir -p "$TINY"
if mount -t tmpfs -o size=1m,mode=0700 tmpfs "$TINY" 2>/dev/null; then
	head -c $((800 * 1024)) /dev/zero >"$TINY/filler"
	seed_mixed Full 300000
	MARK=$(dovecot_log_mark)
	t_run "$FERRY" -c "$CONF" sync tiny
	write_refused "disk full" Full "$TINY" "$WORK/state/tiny.sqlite" 5 \
		"No space left on device" "Big 2" "Big 4"
	rm "$TINY/filler"
	MARK=$(dovecot_log_mark)
	ferry_sync tiny
	t_equal "disk freed: the next run exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
	converged Full 5 "$TINY"
	t_equal "disk freed: nothing uploaded" "" "$(server_changes "$MARK" | grep 'save:')"
	t_ok "disk freed: the big ones arrived whole" test -z "$(incomplete Full "$TINY")"
	umount "$TINY"
else
	echo "# no full-disk case: this host does not let the test mount a tmpfs"
fi

# A read-only Maildir (a read-only bind mount over it): a clear error, nothing
# changed on the server, and a normal run afterwards.
seed 6 Fsize "After read-only"
if mount --bind "$MAILDIR" "$MAILDIR" 2>/dev/null; then
	if mount -o remount,bind,ro "$MAILDIR" 2>/dev/null; then
		before=$(mail_files "$MAILDIR")
		MARK=$(dovecot_log_mark)
		t_expect_exit 1 "read-only Maildir: exit 1" "$FERRY" -c "$CONF" sync test
		t_contains "read-only Maildir: says why" "$T_OUT" "Read-only file system"
		t_contains "read-only Maildir: names the Maildir" "$T_OUT" "$MAILDIR"
		t_equal "read-only Maildir: nothing changed on the server" "" "$(server_changes "$MARK")"
		t_equal "read-only Maildir: the files are as they were" "$before" "$(mail_files "$MAILDIR")"
	else
		echo "# no read-only case: this host does not let the test remount a bind mount read-only"
	fi
	umount "$MAILDIR"
	ferry_sync test
	t_equal "writable again: the next run exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
	converged Fsize 6
else
	echo "# no read-only case: this host does not let the test bind-mount"
fi

# --- 2. a damaged or foreign state database -------------------------------------------

for i in 1 2 3; do seed "$((20 + i))" Kept "Kept server $i" 2000; done
md_write Kept 24 "Kept local 4" S
md_write Kept 25 "Kept local 5"
ferry_sync test
t_equal "state: the channel is synced first" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_ok "state: closed cleanly (no -wal left)" test ! -e "$STATE-wal"
t_ok "state: sealed, so the next open skips the full check" test -s "$STATE.seal"
cp "$STATE" "$WORK/state.good"
size=$(stat -c %s "$STATE")

# refused_state NAME: a run on the damaged $STATE is refused and touches nothing.
refused_state() {
	local name=$1 before
	cp "$STATE" "$WORK/state.damaged"
	before=$(mail_files "$MAILDIR")
	MARK=$(dovecot_log_mark)
	t_expect_exit 1 "state $name: refused with exit 1" "$FERRY" -c "$CONF" sync test
	t_contains "state $name: the message names the state file" "$T_OUT" "$STATE"
	t_contains "state $name: it says how to recover" "$T_OUT" "move it away and run again"
	t_equal "state $name: nothing changed on the server" "" "$(server_changes "$MARK")"
	t_equal "state $name: the Maildir is as it was" "$before" "$(mail_files "$MAILDIR")"
	t_ok "state $name: the file itself is left as it was" cmp -s "$STATE" "$WORK/state.damaged"
}

truncate -s $((size / 2)) "$STATE"
refused_state "truncated to half"

cp "$WORK/state.good" "$STATE"
head -c 100 /dev/urandom | dd of="$STATE" conv=notrunc status=none
refused_state "with 100 bytes of garbage at the start"

rm -f "$STATE"
sqlite3 "$STATE" "CREATE TABLE contacts (name TEXT, email TEXT);
	INSERT INTO contacts VALUES ('Alice', 'alice@example.org');"
refused_state "that is another program's SQLite database"

# Moved away as told: the next run re-pairs everything by identity.
mv "$STATE" "$WORK/state.moved-away"
before=$(mail_files "$MAILDIR")
MARK=$(dovecot_log_mark)
t_ok "state moved away: the next run exits 0" "$FERRY" -v -c "$CONF" sync test
t_equal "state moved away: no body in the -v trace" 0 "$(bodies_fetched "$T_OUT")"
t_equal "state moved away: no body sent, says the server" 0 "$(server_bodies "$MARK")"
t_equal "state moved away: nothing changed on the server (no upload)" "" "$(server_changes "$MARK")"
t_equal "state moved away: the Maildir files are the same" "$before" "$(mail_files "$MAILDIR")"
converged Kept 5
converged Fsize 6
t_equal "state moved away: every message paired again" "1 2 3 4 5" \
	"$(pairs "$STATE" Kept | cut -d' ' -f1 | paste -sd' ')"

# --- 3. a damaged Maildir index --------------------------------------------------------

INDEX=$MAILDIR/..ferry-index.sqlite
t_ok "index: closed cleanly (no -wal left)" test ! -e "$INDEX-wal"
t_ok "index: sealed, so the next open skips the full check" test -s "$INDEX.seal"
cp "$INDEX" "$WORK/index.good"

# refused_index NAME: a run on the damaged index stops and touches nothing.
refused_index() {
	local name=$1 before
	cp "$INDEX" "$WORK/index.damaged"
	before=$(mail_files "$MAILDIR")
	MARK=$(dovecot_log_mark)
	t_expect_exit 1 "index $name: the run stops with exit 1" "$FERRY" -c "$CONF" sync test
	t_contains "index $name: the message names the index" "$T_OUT" "$INDEX"
	t_contains "index $name: it says it can be deleted" "$T_OUT" "delete the file and ferry rebuilds it"
	t_equal "index $name: nothing changed on the server" "" "$(server_changes "$MARK")"
	t_equal "index $name: the Maildir is as it was" "$before" "$(mail_files "$MAILDIR")"
	t_ok "index $name: the file itself is left as it was" cmp -s "$INDEX" "$WORK/index.damaged"
}

size=$(stat -c %s "$INDEX")
head -c "$size" /dev/urandom >"$INDEX"
refused_index "overwritten with garbage"

cp "$WORK/index.good" "$INDEX"
truncate -s $(($(stat -c %s "$INDEX") / 2)) "$INDEX"
refused_index "truncated to half"

rm -f "$INDEX" "$INDEX".seal
before=$(mail_files "$MAILDIR")
MARK=$(dovecot_log_mark)
t_ok "index deleted: the next run exits 0" "$FERRY" -v -c "$CONF" sync test
t_ok "index deleted: it was rebuilt" test -s "$INDEX"
t_equal "index deleted: no body in the -v trace" 0 "$(bodies_fetched "$T_OUT")"
t_equal "index deleted: no body sent, says the server" 0 "$(server_bodies "$MARK")"
t_equal "index deleted: nothing changed on the server (no upload)" "" "$(server_changes "$MARK")"
t_equal "index deleted: the Maildir files are the same" "$before" "$(mail_files "$MAILDIR")"
converged Kept 5
converged Fsize 6

# A SIGKILL in mid-sync leaves -wal and -shm files: no damage, the next run finishes.
dovecot_bulk_seed alice Killed 1500 1 1000
setsid "$FERRY" -q -c "$CONF" sync test:Killed >/dev/null 2>&1 &
pid=$!
for ((i = 0; i < 200; i++)); do
	(($(md_count Killed) >= 50)) && break
	sleep 0.05
done
killed=0
kill -9 -- "-$pid" 2>/dev/null && killed=1
wait "$pid" 2>/dev/null
# wait returns when ferry is dead; its channel child may still be finishing an
# fsync() with the channel's lock held (a next run would exit 4): wait for the lock.
flock -w 10 "$STATE.lock" true
t_equal "SIGKILL: the run was killed" 1 "$killed"
t_ok "SIGKILL: in mid-sync ($(md_count Killed) of 1500 local)" test "$(md_count Killed)" -lt 1500
t_ok "SIGKILL: it left the index's -wal and -shm files" test -e "$INDEX-wal" -a -e "$INDEX-shm"
t_ok "SIGKILL: it left the state's -wal and -shm files" test -e "$STATE-wal" -a -e "$STATE-shm"
t_ok "SIGKILL: no seal on the state or the index (both get the full check)" \
	test ! -e "$STATE.seal" -a ! -e "$INDEX.seal"
ferry_sync test:Killed
t_equal "SIGKILL: the next run exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_not_contains "SIGKILL: no damage reported (state)" "$T_OUT" "damaged"
t_not_contains "SIGKILL: no damage reported (index)" "$T_OUT" "rebuilds it"
converged Killed 1500

t_done
