# shellcheck shell=bash
# Shared set-up for the sync tests: a Dovecot from the fixture, a ferry config
# for alice's account and a local Maildir, and ways to look at both sides.
# Source after lib.sh; call sync_setup first.

# shellcheck source=../fixtures/dovecot.sh
. "$(dirname "${BASH_SOURCE[0]}")/../fixtures/dovecot.sh"

: "${FERRY:?FERRY must point at the ferry binary}"

# sync_setup [LAYOUT]: starts Dovecot, writes $CONF for channel "test": far =
# alice over implicit TLS, near = the Maildir $MAILDIR.
sync_setup() {
	local layout=${1:-verbatim}
	dovecot_start || exit 1
	WORK=$DOVECOT_DIR/work
	MAILDIR=$WORK/Mail
	STATE=$WORK/state/test.sqlite
	CONF=$WORK/ferry.conf
	mkdir -p "$WORK"
	cat >"$CONF" <<CONF
[imap server]
host = 127.0.0.1
port = $DOVECOT_IMAPS_PORT
user = alice
password = secret
ca_file = $DOVECOT_CA
timeout = 20

[imap mirror]
host = 127.0.0.1
port = $DOVECOT_IMAPS_PORT
user = bob
password = secret
ca_file = $DOVECOT_CA
timeout = 20

[maildir laptop]
path = $MAILDIR
layout = $layout

[channel test]
far = server
near = laptop
state = $STATE

[channel mirror]
far = server
near = mirror
state = $WORK/state/mirror.sqlite
CONF
	chmod 600 "$CONF"
}

# ferry_sync ARGS...: runs `ferry -c $CONF sync ARGS...` as an assertion-free step.
ferry_sync() {
	t_run "$FERRY" -c "$CONF" sync "$@"
}

# md_dir FOLDER: the directory of a folder in the verbatim layout.
md_dir() {
	printf '%s/%s\n' "$MAILDIR" "$1"
}

# md_count FOLDER: messages in cur/ and new/ of a local folder.
md_count() {
	local d
	d=$(md_dir "$1")
	find "$d/cur" "$d/new" -maxdepth 1 -type f 2>/dev/null | wc -l
}

# md_file FOLDER SUBJECT: the path of the local message with that subject.
md_file() {
	local d
	d=$(md_dir "$1")
	grep -l -m1 -F "Subject: $2" "$d"/cur/* "$d"/new/* 2>/dev/null | head -n 1
}

# md_letters FOLDER SUBJECT: the Maildir flag letters of that message.
md_letters() {
	local f
	f=$(md_file "$1" "$2")
	[[ -n $f ]] || return 1
	case $f in
	*:2,*) printf '%s\n' "${f##*:2,}" ;;
	*) printf '\n' ;;
	esac
}

# md_mv FROM TO SUBJECT: refiles the local message as `mv` (and notmuch, afew) do: the same
# file name in the other folder.
md_mv() {
	local f to
	f=$(md_file "$1" "$3")
	to=$(md_dir "$2")
	mkdir -p "$to/cur" "$to/new" "$to/tmp"
	mv "$f" "$to/${f#"$(md_dir "$1")"/}"
}

# md_rewrite FROM TO SUBJECT: refiles it as mutt does: a new file under a new unique name
# (written in tmp/, then renamed into cur/ with the same flag letters), the old one deleted.
# FROM and TO may be the same folder.
md_rewrite() {
	local f to info='' name
	f=$(md_file "$1" "$3")
	to=$(md_dir "$2")
	[[ $f == *:2,* ]] && info=${f##*:2,}
	name="$(date +%s).M${RANDOM}P$$.mutt"
	mkdir -p "$to/cur" "$to/new" "$to/tmp"
	cp "$f" "$to/tmp/$name"
	mv "$to/tmp/$name" "$to/cur/$name:2,$info"
	rm "$f"
}

# saves_since MARK: uploads (APPEND) the server logged since dovecot_log_mark printed MARK.
saves_since() {
	dovecot_log_since "$1" | grep -c ': save:' || true
}

# srv_uid USER FOLDER SUBJECT: the uid of the server message with that subject.
srv_uid() {
	dovecot_doveadm -f tab search -u "$1" mailbox "$2" header Subject "$3" | awk 'NR>1{print $2}' | head -n 1
}

# srv_flags USER FOLDER SUBJECT: the flags of that server message, \Recent left out.
srv_flags() {
	local uid
	uid=$(srv_uid "$1" "$2" "$3")
	[[ -n $uid ]] || return 1
	dovecot_doveadm -f tab fetch -u "$1" flags mailbox "$2" uid "$uid" | sed -e 1d -e 's/\\Recent//g' -e 's/  */ /g' -e 's/^ //' -e 's/ $//'
}

# seed N FOLDER SUBJECT [BODY_BYTES]: one generated message on alice's server.
seed() {
	make_message "$1" "$3" "${4:-0}" | dovecot_seed alice "$2"
}

# md_write FOLDER N SUBJECT [INFO]: a new local message written as a mail client
# would (tmp/ then rename), in cur/ with ":2,INFO" or in new/ without INFO.
md_write() {
	local d name
	d=$(md_dir "$1")
	mkdir -p "$d/tmp" "$d/cur" "$d/new"
	name="$(date +%s).M${RANDOM}P$$Q$2.testhost"
	make_message "$2" "$3" >"$d/tmp/$name"
	if [[ $# -ge 4 ]]; then
		mv "$d/tmp/$name" "$d/cur/$name:2,$4"
	else
		mv "$d/tmp/$name" "$d/new/$name"
	fi
}

# same_content FOLDER SUBJECT: the local file and the server message are equal
# after line-ending normalisation.
same_content() {
	local f uid
	f=$(md_file "$1" "$2")
	uid=$(srv_uid alice "$1" "$2")
	[[ -n $f && -n $uid ]] || return 1
	cmp -s <(sed 's/\r$//' "$f") \
		<(dovecot_doveadm fetch -u alice text mailbox "$1" uid "$uid" | sed -e '1d' -e 's/\r$//')
}

# ids_local FOLDER / ids_server FOLDER: the Message-IDs of a folder on each side
# (alice's account), sorted.
ids_local() {
	local d
	d=$(md_dir "$1")
	find "$d/cur" "$d/new" -maxdepth 1 -type f -exec grep -h -m1 -i '^Message-ID:' {} + 2>/dev/null |
		sed 's/^[^:]*: *//; s/\r$//' | sort
}
ids_server() {
	dovecot_doveadm -f tab fetch -u alice hdr.message-id mailbox "$1" all | sed 1d |
		sed 's/\r$//' | sort
}

# converged FOLDER COUNT [WHEN]: both sides hold exactly COUNT distinct messages, the same
# ones (WHEN names the moment in the assertions; default the folder).
converged() {
	local folder=$1 count=$2 when=${3:-$1} l s
	l=$(ids_local "$folder")
	s=$(ids_server "$folder")
	t_equal "$when: $count messages locally" "$count" "$(grep -c . <<<"$l")"
	t_equal "$when: $count messages on the server" "$count" "$(grep -c . <<<"$s")"
	t_equal "$when: no duplicate Message-ID locally" "" "$(uniq -d <<<"$l")"
	t_equal "$when: no duplicate Message-ID on the server" "" "$(uniq -d <<<"$s")"
	t_ok "$when: the same messages on both sides" test "$l" = "$s"
}

# big_message N SUBJECT BYTES: a message of about BYTES bytes (LF line endings).
big_message() {
	make_message "$1" "$2"
	awk -v n="$3" -v tag="$1" 'BEGIN {
		for (i = 0; bytes < n; i++) {
			line = sprintf("big %s line %08d ........................................................", tag, i)
			print line
			bytes += length(line) + 1
		}
	}'
}

# sync_kill_at_random MIN SPAN ARGS...: `ferry -q -c $CONF ARGS` in a session of its own, killed
# with SIGKILL after MIN to MIN+SPAN-1 ms (one $RANDOM: a seed replays it); KILLS counts a kill
# that came in time, and say (the caller's) tells which. Then waits (10 s at most) for the
# channel lock a killed run's child may still hold in fsync.
sync_kill_at_random() {
	local min=$1 span=$2 pid ms
	shift 2
	setsid "$FERRY" -q -c "$CONF" "$@" >/dev/null 2>&1 &
	pid=$!
	ms=$((RANDOM % span + min))
	sleep "$(printf '0.%03d' "$ms")"
	if kill -9 -- "-$pid" 2>/dev/null; then
		KILLS=$((KILLS + 1))
		say "kill -9 after $ms ms"
	else
		say "kill -9 came too late"
	fi
	wait "$pid" 2>/dev/null
	flock -w 10 "$STATE.lock" true
}
