#!/usr/bin/env bash
# A kill between the store's write and ferry's record, then a refile (DESIGN
# rules 7, 8, 13): ferry is SIGKILLed after a copy reached the other side but
# before the pair was recorded, and before the next run the message is filed
# into another folder, locally (mv, or a new file and the old one deleted, as
# mutt does) or on the server (UID MOVE by another client). The next run must
# leave exactly one copy on each side, in the folder it was filed into.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

t_expect_exit 0 "ferry is built with the crash hook" "$FERRY" --version
t_contains "--version says test hooks" "$T_OUT" "test hooks"

sync_setup

# srv_mv FROM TO SUBJECT: another client moves it on the server (UID MOVE).
srv_mv() {
	dovecot_has_folder alice "$2" || dovecot_doveadm mailbox create -u alice "$2"
	dovecot_doveadm move -u alice "$2" mailbox "$1" uid "$(srv_uid alice "$1" "$3")"
}
# copies SUBJECT: how many copies of it each side holds, in any folder: "LOCAL SERVER".
copies() {
	printf '%s %s\n' \
		"$(grep -rl -F "Subject: $1" "$MAILDIR" --exclude-dir=.ferry | wc -l)" \
		"$(dovecot_doveadm search -u alice mailbox '*' header Subject "$1" | wc -l)"
}
# orphan_on SIDE FOLDER TAG: the subject of the one message of FOLDER on SIDE
# (local or server) after a kill, waiting up to 5 s for the server to store it.
orphan_on() {
	local side=$1 folder=$2 tag=$3 i n
	for ((i = 0; i < 50; i++)); do
		if [[ $side == local ]]; then
			n=$(md_count "$folder")
		else
			n=$(dovecot_count alice "$folder" 2>/dev/null || echo 0)
		fi
		((n >= 1)) && break
		sleep 0.1
	done
	if [[ $side == local ]]; then
		grep -h -m1 '^Subject: ' "$(md_dir "$folder")"/new/* "$(md_dir "$folder")"/cur/* 2>/dev/null
	else
		dovecot_doveadm -f tab fetch -u alice hdr.subject mailbox "$folder" all | sed 1d
	fi | sed 's/^Subject: //; s/\r$//' | grep -F "$tag" | head -n 1
}

# kill_then_refile COPY REFILE [SPEC]: two messages in folder A on the source
# side; the run copying them is killed before the second is written, so the
# first is on the target side but unpaired. Then REFILE (md_mv, md_rewrite or
# srv_mv) moves the first, on either side, from A to B before the next run.
# With SPEC, that next run is killed too (FERRY_CRASH_AT=SPEC) before a clean one.
kill_then_refile() {
	local copy=$1 refile=$2 spec=${3:-} a="K-$1-$2${3:+-twice}" b="K-$1-$2${3:+-twice}-B"
	local tag="$1 $2${3:+ then $3}" x y
	# An empty folder synced first, so that the killed run is an ordinary one.
	dovecot_doveadm mailbox create -u alice "$a"
	ferry_sync test
	if [[ $copy == upload ]]; then
		md_write "$a" "$((RANDOM + 1000))" "$tag one"
		md_write "$a" "$((RANDOM + 1000))" "$tag two" S
	else
		seed "$((RANDOM + 1000))" "$a" "$tag one"
		seed "$((RANDOM + 1000))" "$a" "$tag two"
	fi
	t_run env FERRY_CRASH_AT="$copy:2" "$FERRY" -c "$CONF" sync "test:$a"
	t_contains "$tag: the $copy was killed" "$T_OUT" "crashed (signal 9"
	if [[ $copy == upload ]]; then
		x=$(orphan_on server "$a" "$tag")
	else
		x=$(orphan_on local "$a" "$tag")
	fi
	if ! t_ok "$tag: one message reached the other side before the kill" test -n "$x"; then
		return
	fi
	y="$tag one"
	[[ $x == "$y" ]] && y="$tag two"
	$refile "$a" "$b" "$x"
	if [[ -n $spec ]]; then
		t_run env FERRY_CRASH_AT="$spec" "$FERRY" -c "$CONF" sync test
		t_contains "$tag: the run after the refile was killed too" "$T_OUT" "crashed (signal 9"
	fi
	ferry_sync test
	t_equal "$tag: the next run exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
	t_equal "$tag: the refiled message once on each side" "1 1" "$(copies "$x")"
	t_equal "$tag: the other message once on each side" "1 1" "$(copies "$y")"
	t_ok "$tag: refiled into B on the server" test -n "$(srv_uid alice "$b" "$x")"
	t_ok "$tag: refiled into B locally" test -n "$(md_file "$b" "$x")"
	converged "$a" 1 "$tag: A"
	converged "$b" 1 "$tag: B"
	ferry_sync test
	t_contains "$tag: the run after changes nothing" "$T_OUT" \
		"far->near +0 ~0 -0, near->far +0 ~0 -0"
}

for copy in upload download; do
	for refile in md_mv md_rewrite srv_mv; do
		kill_then_refile "$copy" "$refile"
	done
done
# The run after the refile killed before and after moving the copy that
# stayed: the killed run's batch is still known to the one after.
kill_then_refile upload md_mv move:1
kill_then_refile download srv_mv move:1:after
t_done
