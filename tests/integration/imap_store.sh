#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The IMAP store's operations (store/imap: folders, select, list, identify, fetch, append, flags,
# expunge, move) against a real Dovecot, plus a scripted fake server for answers Dovecot never
# gives.
# This script starts Dovecot, seeds the folders, and runs the Check program
# tests/integration/imap_store.c, whose path is in IMAP_STORE_TEST.
#
# Run by ctest, or by hand as root:
#	IMAP_STORE_TEST=/tmp/imap_store_test bash tests/integration/imap_store.sh
#
# `imap_store.sh --fake-server SCENARIO LOG` is the fake server itself: it speaks IMAP on
# stdin/stdout (ferry reaches it as a `tunnel`), logs each command line it receives to LOG and
# answers as SCENARIO says.
set -uo pipefail # not -e: a failed assertion must not hide the ones after it

# --- the fake server ---------------------------------------------------------------------------

fake__say() {
	printf '%s\r\n' "$@"
}

# fake__literal TEXT: TEXT as an IMAP literal ({N} CRLF TEXT), without a line end.
fake__literal() {
	printf '{%d}\r\n%s' "${#1}" "$1"
}

fake__list() {
	local scenario=$1 tag=$2
	if [[ $scenario == shared ]]; then # Dovecot's layout: personal "", others below Users/
		fake__say '* LIST (\HasNoChildren) "/" INBOX' \
			'* LIST (\HasNoChildren) "/" Work' \
			'* LIST (\Noselect \HasChildren) "/" Users' \
			'* LIST (\Noselect \HasChildren) "/" Users/bob' \
			'* LIST (\HasNoChildren) "/" Users/bob/INBOX' \
			'* LIST (\HasNoChildren) "/" Shared/team' \
			'* LIST (\HasNoChildren) "/" Usersdata' \
			"$tag OK LIST done"
		return
	fi
	fake__say '* LIST (\HasNoChildren) "." INBOX' \
		'* LIST (\HasNoChildren \Sent) "." INBOX.Sent' \
		'* LIST (\HasChildren) "." "INBOX.Entw&APw-rfe"' \
		'* LIST (\Noselect \HasChildren) "." "INBOX.Entw&APw-rfe.Sub"' \
		'* LIST (\HasNoChildren) "." "INBOX.bad&AAo-"'
	printf '* LIST (\\HasNoChildren) "." '
	fake__literal $'INBOX.a\r\nb'
	fake__say '' \
		'* LIST (\Noselect) "." "#shared"' \
		'* LIST (\HasNoChildren) "." "#shared.x"' \
		'* LIST () NIL "Flat"' \
		"$tag OK LIST done"
}

# The answer to UID FETCH (UID FLAGS RFC822.SIZE INTERNALDATE), by scenario; $3 the
# command after its tag.
fake__listing() {
	local scenario=$1 tag=$2 d1='"01-Jan-2024 00:00:00 +0000"'
	case $scenario in
	merge)
		fake__say "* 1 FETCH (UID 1 FLAGS (\\Seen \$Label1) RFC822.SIZE 100 INTERNALDATE $d1)" \
			'* 2 FETCH (UID 2 FLAGS (\Flagged) RFC822.SIZE 200 INTERNALDATE "01-Jan-2024 03:00:00 +0100")' \
			'* 2 FETCH (FLAGS (\Seen))' \
			'* 2 FETCH (UID 2 FLAGS (\Answered \Recent))' \
			'* 3 FETCH (UID 5 FLAGS (\Draft))' \
			'* 3 FETCH (UID 5 RFC822.SIZE 500 INTERNALDATE "02-Jan-2024 00:00:00 -0530")' \
			'* 4 FETCH (UID 12 FLAGS (\Seen))'
		;;
	dup)
		fake__say "* 1 FETCH (UID 2 FLAGS () RFC822.SIZE 100 INTERNALDATE $d1)" \
			"* 2 FETCH (UID 2 FLAGS () RFC822.SIZE 100 INTERNALDATE $d1)"
		;;
	zero)
		fake__say "* 1 FETCH (UID 0 FLAGS () RFC822.SIZE 100 INTERNALDATE $d1)"
		;;
	wrap) # 2^32 + 10: libetpan 1.9.4 reads 10, which is UIDNEXT
		fake__say "* 1 FETCH (UID 1 FLAGS () RFC822.SIZE 100 INTERNALDATE $d1)" \
			"* 2 FETCH (UID 4294967306 FLAGS () RFC822.SIZE 100 INTERNALDATE $d1)"
		;;
	nouid)
		fake__say "* 1 FETCH (FLAGS () RFC822.SIZE 100 INTERNALDATE $d1)"
		;;
	cut-list)
		fake__say "* 1 FETCH (UID 1 FLAGS () RFC822.SIZE 100 INTERNALDATE $d1)"
		exit 0
		;;
	many) # as many messages as SELECT announced, two keywords each, those asked for
		local set=${3#*FETCH } from to
		set=${set%% *}
		from=${set%%:*}
		to=${set#*:}
		[[ $to == '*' ]] && to=$FAKE_MANY
		awk -v n="$FAKE_MANY" -v d="$d1" -v from="$from" -v to="$to" 'BEGIN {
			for (i = from; i <= n && i <= to; i++)
				printf "* %d FETCH (UID %d FLAGS (\\Seen Work $Label%d) RFC822.SIZE %d INTERNALDATE %s)\r\n", i, i, i % 7, 1000 + i, d
		}'
		;;
	esac
	fake__say "$tag OK FETCH done"
}

# The answer to UID FETCH (UID BODY.PEEK[]), by scenario.
fake__bodies() {
	local scenario=$1 tag=$2 body=$'From: x\r\n\r\nhello\r\n'
	case $scenario in
	cut-body)
		printf '* 1 FETCH (UID 1 BODY[] '
		fake__literal "$body"
		fake__say ')'
		printf '* 2 FETCH (UID 2 BODY[] {100}\r\n%s' "${body:0:10}"
		exit 0
		;;
	bodies)
		fake__say '* 1 FETCH (UID 1 BODY[] {0}' ')' \
			'* 2 FETCH (UID 2 BODY[] "")'
		printf '* 3 FETCH (UID 7 BODY[] '
		fake__literal "$body"
		fake__say ')' '* 4 FETCH (UID 3 BODY[] NIL)'
		printf '* 5 FETCH (UID 4 BODY[] '
		fake__literal $'From: y\r\n\r\n'
		fake__say ')'
		;;
	esac
	fake__say "$tag OK FETCH done"
}

# The answer to UID MOVE: COPYUID in the server's order, or one that does not pair up.
fake__move() {
	local tag=$1 set=$2
	case $set in
	1:3) fake__say '* OK [COPYUID 9 3,1:2 20,11:12] Moved UIDs.' '* 1 EXPUNGE' '* 1 EXPUNGE' \
		'* 1 EXPUNGE' ;;
	5) fake__say '* OK [COPYUID 9 5 30:31] Moved UIDs.' ;;
	esac
	fake__say "$tag OK Move completed"
}

fake_server() {
	local scenario=$1 log=$2 line tag rest cmd caps='IMAP4rev1 UIDPLUS CONDSTORE'
	local exists=3 uidnext=10
	export LC_ALL=C # ${#var} counts bytes
	[[ $scenario == courier || $scenario == shared ]] && caps+=' NAMESPACE'
	[[ $scenario == copyuid ]] && caps+=' MOVE'
	if [[ $scenario == many ]]; then
		FAKE_MANY=100000
		exists=$FAKE_MANY
		uidnext=$((FAKE_MANY + 1))
	fi
	: >"$log"
	fake__say "* PREAUTH [CAPABILITY $caps] fake server for ferry's tests"
	while IFS= read -r line; do
		line=${line%$'\r'}
		printf '%s\n' "$line" >>"$log"
		tag=${line%% *}
		rest=${line#* }
		cmd=${rest%% *}
		case ${cmd^^} in
		CAPABILITY) fake__say "* CAPABILITY $caps" "$tag OK CAPABILITY done" ;;
		NAMESPACE)
			if [[ $scenario == shared ]]; then
				fake__say '* NAMESPACE (("" "/")) (("Users/" "/")) (("Shared/" "/"))'
			else
				fake__say '* NAMESPACE (("INBOX." ".")) NIL (("#shared." "."))'
			fi
			fake__say "$tag OK done"
			;;
		LIST)
			if [[ $rest == 'LIST "" ""' ]]; then
				fake__say '* LIST (\Noselect) "/" ""' "$tag OK LIST done"
			else
				fake__list "$scenario" "$tag"
			fi
			;;
		SELECT)
			fake__say "* $exists EXISTS" '* 0 RECENT' '* FLAGS (\Seen \Answered \Flagged \Deleted \Draft)' \
				'* OK [PERMANENTFLAGS (\Seen \Answered \Flagged \Deleted \Draft \*)] ok' \
				'* OK [UIDVALIDITY 7] ok' "* OK [UIDNEXT $uidnext] ok" '* OK [HIGHESTMODSEQ 3] ok' \
				"$tag OK [READ-WRITE] SELECT done"
			;;
		CREATE) fake__say "$tag OK CREATE done" ;;
		UID)
			if [[ ${rest^^} == 'UID MOVE '* ]]; then
				rest=${rest#* }
				rest=${rest#* }
				fake__move "$tag" "${rest%% *}"
			elif [[ $rest == *BODY.PEEK* ]]; then
				fake__bodies "$scenario" "$tag"
			else
				fake__listing "$scenario" "$tag" "$rest"
			fi
			;;
		LOGOUT)
			fake__say '* BYE bye' "$tag OK LOGOUT done"
			exit 0
			;;
		*) fake__say "$tag BAD not in this fake server" ;;
		esac
	done
}

if [[ ${1:-} == --fake-server ]]; then
	fake_server "$2" "$3"
	exit 0
fi

# --- the test ----------------------------------------------------------------------------------

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
# shellcheck source=../fixtures/dovecot.sh
. "$repo/tests/fixtures/dovecot.sh"

# seed FOLDER KEY N SUBJECT [BODY_BYTES]: make_message N into FOLDER, kept as SEED_DIR/KEY/UID.eml
# (the folders start empty, so the uids are 1, 2, ...).
# shellcheck disable=SC2317 # run by seeding, run by t_ok: shellcheck cannot follow
seed() {
	local folder=$1 dir=$SEED_DIR/$2 n=$3 subject=$4 bytes=${5:-0} uid
	mkdir -p "$dir"
	uid=$(($(find "$dir" -name '*.eml' | wc -l) + 1))
	make_message "$n" "$subject" "$bytes" >"$dir/$uid.eml" &&
		dovecot_seed alice "$folder" "$dir/$uid.eml"
}

# flags FOLDER UID FLAGS...: what another client would set.
# shellcheck disable=SC2317 # run by seeding, run by t_ok: shellcheck cannot follow
flags() {
	local folder=$1 uid=$2
	shift 2
	dovecot_doveadm flags add -u alice "$*" mailbox "$folder" uid "$uid"
}

# shellcheck disable=SC2016,SC2317 # $Label1, $Forwarded: IMAP keywords; run by t_ok
seeding() {
	seed Work Work 1 "Hello" &&
		seed Work Work 2 "Keywords" &&
		seed Work Work 3 "Big" 5000000 &&
		seed Work Work 4 "Replied" &&
		flags Work 1 '\Seen' &&
		flags Work 2 '$Label1' ProjectX &&
		flags Work 4 '\Flagged' '\Answered' '$Forwarded' &&
		seed Entwürfe Entwurf 5 "Grüße aus München" &&
		seed Flags Flags 6 "one" && seed Flags Flags 7 "two" && seed Flags Flags 8 "three" &&
		seed Del Del 9 "a" && seed Del Del 10 "b" && seed Del Del 11 "c" && seed Del Del 12 "d" &&
		flags Del 4 '\Deleted' &&
		seed Del2 Del2 13 "a" && seed Del2 Del2 14 "b" && seed Del2 Del2 15 "c" &&
		flags Del2 3 '\Deleted' &&
		seed Move Move 16 "m1" && seed Move Move 17 "m2" && seed Move Move 18 "m3" &&
		seed Move Move 19 "m4" &&
		flags Move 1 '\Seen' && flags Move 2 '\Flagged' '$Label1' &&
		flags Move 3 '\Answered' '$Forwarded' '$Label1' ProjectX &&
		seed Move2 Move2 20 "a" && seed Move2 Move2 21 "b" && seed Move2 Move2 22 "c" &&
		seed Move2 Move2 23 "d" &&
		flags Move2 1 '\Flagged' '$Label1' && flags Move2 3 '\Deleted' &&
		seed Move3 Move3 24 "a" && seed Move3 Move3 25 "b" &&
		seed Move4 Move4 26 "a" && seed Move4 Move4 27 "b" && seed Move4 Move4 28 "c" &&
		seed Move4 Move4 29 "d" &&
		dovecot_doveadm mailbox create -u alice Up Empty 'Ablage/Übersicht/日本' Moved2 Moved4 \
			Pipe Pipe2 Pipe3 Pipe4 Sync &&
		seed_tuid
}

# seed_tuid: a message as mbsync uploads it, with its X-TUID line (identity version 2).
# shellcheck disable=SC2317 # run by seeding
seed_tuid() {
	mkdir -p "$SEED_DIR/Tuid" &&
		make_message 30 "Uploaded by mbsync" | sed '1a X-TUID: abcdefghijkl' \
			>"$SEED_DIR/Tuid/1.eml" &&
		dovecot_seed alice Tuid "$SEED_DIR/Tuid/1.eml"
}

IMAP_STORE_TEST=${IMAP_STORE_TEST:-${FERRY_BUILD:-$repo/build}/tests/imap_store_test}
if [[ ! -x $IMAP_STORE_TEST ]]; then
	t_fail "the test program exists" "expected an executable at $IMAP_STORE_TEST" \
		"(set IMAP_STORE_TEST=...)"
	t_done
fi

dovecot_start || {
	t_fail "a throwaway Dovecot starts" "see the messages above"
	t_done
}

export SEED_DIR=$DOVECOT_DIR/seed
mkdir -p "$SEED_DIR"

t_ok "the folders are seeded" seeding

export IMAP_STORE_FAKE="bash $here/imap_store.sh --fake-server"
export DOVECOT_IMAPS_PORT DOVECOT_CA DOVECOT_CONF DOVECOT_LOG
started=$EPOCHREALTIME
T_TIMEOUT=300 t_ok "the IMAP store's operations (Check program)" "$IMAP_STORE_TEST"
printf '%s\n' "$T_OUT" | grep -E '^(Running|[0-9]+%|.*:(E|F):|# )' | sed 's/^# //; s/^/# /'
awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { printf "# took %.1f s\n", b - a }'

# The warnings of list_folders (the fake Courier server's unsafe names), sanitised.
t_contains "an undecodable name is skipped with a warning" "$T_OUT" \
	'fake: skipping folder "INBOX.bad&AAo-"'
t_contains "a name with CR LF is shown escaped, not raw" "$T_OUT" \
	'fake: skipping folder "INBOX.a\x0d\x0ab"'
t_contains "a COPYUID that does not pair up is reported" "$T_OUT" \
	"fake: folder \"Work\": the server's COPYUID for 1 message(s) from uid 5 does not pair up"

t_done
