#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Crash safety of placeholders (`max_size = 200k`, `placeholders = flagged`) against Dovecot:
# three folders of small messages and big ones (200 KB-2 MB, base64 attachments), then rounds
# of a change (new mail on the server; \Flagged or \Seen on a placeholder locally or on the
# server; a placeholder moved or deleted locally; `ferry fetch CH:FOLDER UID` or `--all`)
# followed by `ferry sync` or `ferry fetch` SIGKILLed at a random moment (a FERRY_CRASH_AT
# hook, among them fetch's around the replace, or kill -9 after a random delay). After clean
# runs: the server holds exactly the messages it should (nothing uploaded from a placeholder,
# nothing duplicated, the moves and deletions done); each of them is in the Maildir once, whole
# (the server's bytes) or as a placeholder (and whole if flagged); no file in tmp/; `ferry
# verify` exits 0; a last sync changes nothing. FERRY_TEST_KILLS (default 40) and
# FERRY_TEST_SEED as in sync_random_kills.sh.
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=sync_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

WANT_KILLS=${FERRY_TEST_KILLS:-40}
MAX_ROUNDS=$((WANT_KILLS * 5))
SEED=${FERRY_TEST_SEED:-$(((RANDOM << 15) | RANDOM))}
RANDOM=$SEED
echo "# seed $SEED (FERRY_TEST_SEED=$SEED replays this run), $WANT_KILLS kills wanted"

t_expect_exit 0 "ferry is built with the crash hook" "$FERRY" --version
t_contains "--version says test hooks" "$T_OUT" "test hooks"

# shellcheck disable=SC2119 # its argument is the layout, not this script's
sync_setup
FOLDERS=(INBOX Archive Work)
sed -i '/^\[channel test\]/a max_size = 200k\nplaceholders = flagged\nfolders = INBOX Archive Work' "$CONF"
ACTIONS=$WORK/actions.log
RUNS=$WORK/runs.log # every run's -v output, shown on failure
: >"$ACTIONS"
say() {
	printf '%(%T)T %s\n' -1 "$*" >>"$ACTIONS"
}
# pick WORD...: one of them in REPLY (never in a subshell: see sync_random_kills.sh).
pick() {
	local a=("$@")
	REPLY=${a[RANDOM % ${#a[@]}]}
}

# attachment_message N SUBJECT BYTES: a multipart/mixed message with a base64 attachment of
# about BYTES bytes of encoded text, Message-ID <big.N@ferry.test>.
attachment_message() {
	printf 'From: Sender %s <sender%s@example.org>\n' "$1" "$1"
	printf 'To: Alice <alice@imap.test.local>\n'
	printf 'Subject: %s\n' "$2"
	printf 'Date: Mon, 01 Jan 2024 10:00:00 +0000\n'
	printf 'Message-ID: <big.%s@ferry.test>\n' "$1"
	printf 'MIME-Version: 1.0\n'
	printf 'Content-Type: multipart/mixed; boundary="b-%s"\n\n' "$1"
	printf -- '--b-%s\nContent-Type: text/plain; charset=utf-8\n\nAttached.\n\n' "$1"
	printf -- '--b-%s\nContent-Type: application/octet-stream; name="a.bin"\n' "$1"
	printf 'Content-Transfer-Encoding: base64\n\n'
	head -c $(($3 * 3 / 4)) /dev/urandom | base64 -w 76
	printf -- '--b-%s--\n' "$1"
}

# The model: WHERE[Message-ID] is the folder the server should hold it in.
declare -A WHERE=()
NEXT=1
# new_mail: a few small messages and now and then a big one, in random folders.
new_mail() {
	local k f id
	for ((k = RANDOM % 4 + 1; k > 0; k--)); do
		pick "${FOLDERS[@]}"
		f=$REPLY
		if ((RANDOM % 4 == 0)); then
			attachment_message "$NEXT" "Big $NEXT" $(((RANDOM % 1800 + 210) * 1024)) |
				dovecot_seed alice "$f"
			id="<big.$NEXT@ferry.test>"
		else
			make_message "$NEXT" "Small $NEXT" | dovecot_seed alice "$f"
			id=$(make_message "$NEXT" "Small $NEXT" | grep -m1 '^Message-ID:' | sed 's/^[^:]*: *//')
		fi
		WHERE[$id]=$f
		say "new $id in $f"
		NEXT=$((NEXT + 1))
	done
}

# recorded_placeholder FOLDER: the far uid of a pair of FOLDER the state marks a placeholder
# (a random one; "" when none). Only such pairs are touched: a file a killed run delivered but
# did not record is not yet ferry's to know, and deleting it is a race with the server's copy.
recorded_placeholder() {
	sqlite3 "$STATE" "SELECT p.far_uid FROM pairs p JOIN folders g ON g.id = p.folder_id
		WHERE g.name = '$1' AND p.placeholder != 0 AND p.near_uid != 0
		ORDER BY random() LIMIT 1" 2>/dev/null
}
# local_file FOLDER UID: the local file of the server message UID of FOLDER (by Message-ID).
local_file() {
	local id d
	id=$(dovecot_doveadm -f tab fetch -u alice hdr.message-id mailbox "$1" uid "$2" | sed 1d |
		sed 's/\r$//')
	[[ -n $id ]] || return
	d=$(md_dir "$1")
	grep -l -i -m1 -F "Message-ID: $id" "$d"/cur/* "$d"/new/* 2>/dev/null | head -n 1
}
# placeholder_ids FOLDER: the Message-IDs of the server messages whose pairs the state marks
# placeholders, sorted.
placeholder_ids() {
	local uid
	for uid in $(sqlite3 "$STATE" "SELECT p.far_uid FROM pairs p JOIN folders g
		ON g.id = p.folder_id WHERE g.name = '$1' AND p.placeholder != 0"); do
		dovecot_doveadm -f tab fetch -u alice hdr.message-id mailbox "$1" uid "$uid" | sed 1d |
			sed 's/\r$//'
	done | sort
}
# msgid FILE: its Message-ID.
msgid() {
	grep -m1 -i '^Message-ID:' "$1" | sed 's/^[^:]*: *//; s/\r$//'
}

# change: one random change between runs. Sets CMD (the ferry arguments of the run to kill).
change() {
	local f file id to d name uid
	CMD=(sync test)
	pick new new flag_local flag_server move delete fetch fetch_all
	case $REPLY in
	new)
		new_mail
		;;
	flag_local | move | delete)
		local what=$REPLY
		pick "${FOLDERS[@]}"
		f=$REPLY
		uid=$(recorded_placeholder "$f")
		[[ -n $uid ]] && file=$(local_file "$f" "$uid")
		[[ -n $uid && -n $file ]] || {
			new_mail
			return
		}
		id=$(msgid "$file")
		case $what in
		flag_local)
			name=${file##*/}
			[[ $name == *:2,*F* ]] && return
			mv "$file" "$(md_dir "$f")/cur/${name%%:2,*}:2,F"
			say "flagged placeholder $id in $f locally"
			;;
		move)
			pick "${FOLDERS[@]}"
			to=$REPLY
			[[ $to == "$f" ]] && return
			d=$(md_dir "$to")
			mkdir -p "$d/cur" "$d/new" "$d/tmp"
			mv "$file" "$d/${file#"$(md_dir "$f")"/}"
			WHERE[$id]=$to
			say "moved placeholder $id from $f to $to locally"
			;;
		delete)
			# Flagged on the server, a deletion here is a conflict the flag wins (kept).
			dovecot_doveadm -f tab fetch -u alice flags mailbox "$f" uid "$uid" |
				grep -qF '\Flagged' && return
			rm -f "$file"
			unset "WHERE[$id]"
			say "deleted placeholder $id in $f locally"
			;;
		esac
		;;
	flag_server)
		pick "${FOLDERS[@]}"
		f=$REPLY
		uid=$(recorded_placeholder "$f")
		[[ -n $uid ]] || return
		pick '\Flagged' '\Seen'
		dovecot_doveadm flags add -u alice "$REPLY" mailbox "$f" uid "$uid"
		say "flag $REPLY on the server's $f uid $uid"
		;;
	fetch)
		pick "${FOLDERS[@]}"
		f=$REPLY
		uid=$(recorded_placeholder "$f")
		[[ -n $uid ]] || return
		CMD=(fetch "test:$f" "$uid")
		say "ferry fetch test:$f $uid"
		;;
	fetch_all)
		pick "${FOLDERS[@]}"
		CMD=(fetch --all "test:$REPLY")
		say "ferry fetch --all test:$REPLY"
		;;
	esac
}

KILLS=0
declare -A HITS=()
# killed_run: the run CMD names, killed at a random point.
killed_run() {
	local spec pid ms
	if ((RANDOM % 3)); then
		if [[ ${CMD[0]} == fetch ]]; then
			pick fetch:1 fetch:1:after
		else
			pick download:1 download:2 download:1:after fetch:1 fetch:1:after move:1 \
				move:1:after delete:1 delete:1:after flags:1 flags:1:after
		fi
		spec=$REPLY
		t_run env FERRY_CRASH_AT="$spec" "$FERRY" -v -c "$CONF" "${CMD[@]}"
		printf '%s\n' "== ${CMD[*]} killed at $spec" "$T_OUT" >>"$RUNS"
		if [[ $T_OUT == *"crashed (signal 9"* || $T_RC == 137 ]]; then
			KILLS=$((KILLS + 1))
			HITS[$spec]=$((${HITS[$spec]:-0} + 1))
			say "killed at $spec (${CMD[*]})"
		else
			say "not killed at $spec (${CMD[*]}: exit $T_RC)"
		fi
		return
	fi
	printf '%s\n' "== ${CMD[*]} killed by kill -9" >>"$RUNS"
	setsid "$FERRY" -v -c "$CONF" "${CMD[@]}" >>"$RUNS" 2>&1 &
	pid=$!
	ms=$((RANDOM % 400 + 10))
	sleep "$(printf '0.%03d' "$ms")"
	if kill -9 -- "-$pid" 2>/dev/null; then
		KILLS=$((KILLS + 1))
		HITS[sleep]=$((${HITS[sleep]:-0} + 1))
		say "kill -9 after $ms ms (${CMD[*]})"
	else
		say "kill -9 came too late (${CMD[*]})"
	fi
	wait "$pid" 2>/dev/null
	# A killed run's child may still be in fsync holding the channel lock.
	flock -w 10 "$STATE.lock" true
}

# changes OUTPUT: the summary's counts that are not zero ("" when the run changed nothing).
changes() {
	grep -oE '(far->near|near->far) \+[0-9]+ ~[0-9]+ -[0-9]+' <<<"$1" | grep -vE '\+0 ~0 -0$' || true
}

for f in "${FOLDERS[@]}"; do
	dovecot_doveadm mailbox create -u alice "$f" 2>/dev/null
done
new_mail
new_mail
attachment_message "$NEXT" "Big $NEXT" $((2 * 1024 * 1024)) | dovecot_seed alice INBOX
WHERE["<big.$NEXT@ferry.test>"]=INBOX
NEXT=$((NEXT + 1))
MARK=$(dovecot_log_mark)
ferry_sync test
t_equal "the first sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent

# At least once a placeholder delivered and not recorded: two big messages, the run killed
# before the second is delivered (the first is then found again by what it stands for).
for k in 1 2; do
	attachment_message "$NEXT" "Big $NEXT" $((300 * 1024)) | dovecot_seed alice Work
	WHERE["<big.$NEXT@ferry.test>"]=Work
	NEXT=$((NEXT + 1))
done
CMD=(sync test:Work)
t_run env FERRY_CRASH_AT=download:2 "$FERRY" -v -c "$CONF" sync test:Work
printf '%s\n' "== sync test:Work killed at download:2" "$T_OUT" >>"$RUNS"
t_contains "a run killed between two placeholders' deliveries" "$T_OUT" "crashed (signal 9"
KILLS=1
HITS[download:2]=1
say "killed at download:2 (two big messages in Work)"

round=0
while ((KILLS < WANT_KILLS && round < MAX_ROUNDS)); do
	round=$((round + 1))
	change
	killed_run
done

for ((i = 1; i <= 3; i++)); do
	t_run "$FERRY" -v -c "$CONF" sync test
	printf '%s\n' "== clean run $i" "$T_OUT" >>"$RUNS"
	t_equal "clean run $i exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
	[[ -z $(changes "$T_OUT") ]] && break
done

# (1) the server holds exactly the model.
for f in "${FOLDERS[@]}"; do
	want=$(for id in "${!WHERE[@]}"; do [[ ${WHERE[$id]} == "$f" ]] && printf '%s\n' "$id"; done | sort)
	t_equal "$f: the server holds exactly the messages it should" "$want" "$(ids_server "$f")"
done
t_equal "nothing was uploaded in the whole run" 0 "$(saves_since "$MARK")"

# (2) every server message in the Maildir once, whole or as a placeholder.
WHOLE=0 PLACEHOLDERS=0 BAD=0
for f in "${FOLDERS[@]}"; do
	t_equal "$f: the Maildir holds each server message once" "$(ids_server "$f")" "$(ids_local "$f")"
	declare -A UID_OF=()
	while IFS=$'\t' read -r uid id; do
		UID_OF[${id%$'\r'}]=$uid
	done < <(dovecot_doveadm -f tab fetch -u alice 'uid hdr.message-id' mailbox "$f" all | sed 1d)
	d=$(md_dir "$f")
	for file in "$d"/cur/* "$d"/new/*; do
		[[ -f $file ]] || continue
		id=$(msgid "$file")
		if grep -q -m1 '^X-Ferry-Placeholder:' "$file"; then
			PLACEHOLDERS=$((PLACEHOLDERS + 1))
			if (($(stat -c %s "$file") > 16384)); then
				t_fail "$f: placeholder $id is $(stat -c %s "$file") bytes"
				BAD=$((BAD + 1))
			fi
			if [[ ${file##*/} == *:2,*F* ]]; then
				t_fail "$f: placeholder $id is flagged, yet not fetched whole"
				BAD=$((BAD + 1))
			fi
		elif cmp -s <(sed 's/\r$//' "$file") <(dovecot_doveadm fetch -u alice text mailbox "$f" \
			uid "${UID_OF[$id]:-0}" | sed -e 1d -e 's/\r$//'); then
			WHOLE=$((WHOLE + 1))
		else
			t_fail "$f: $id is neither the server's message nor a placeholder (${file##*/})"
			BAD=$((BAD + 1))
		fi
	done
	unset UID_OF
	t_equal "$f: the state marks as placeholders exactly the placeholder files" \
		"$(placeholder_ids "$f")" "$(grep -l -m1 '^X-Ferry-Placeholder:' "$d"/cur/* "$d"/new/* 2>/dev/null |
			while read -r file; do msgid "$file"; done | sort)"
done
t_equal "every local file whole or a placeholder ($WHOLE whole, $PLACEHOLDERS placeholders)" 0 "$BAD"

# (3) nothing in tmp/ but the strays of killed deliveries under ferry's names (the maildir
# store removes them once they are 36 hours old: another program may be writing in tmp/).
STRAYS=$(for f in "${FOLDERS[@]}"; do find "$(md_dir "$f")/tmp" -type f; done)
t_equal "no file in any tmp/ but a killed delivery's" "" \
	"$(grep -vE '/tmp/[0-9]+\.M[0-9]+P[0-9]+Q[0-9]+\.[^/]+$' <<<"$STRAYS" || true)"
STRAYS=$(grep -c . <<<"$STRAYS" || true)
# (4) verify.
t_run "$FERRY" -c "$CONF" verify test
t_equal "ferry verify exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
# (5) a last sync changes nothing.
t_run "$FERRY" -c "$CONF" sync test
t_equal "a last sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_equal "... and changes nothing" "" "$(changes "$T_OUT")"

t_ok "at least $WANT_KILLS runs were killed ($KILLS)" test "$KILLS" -ge "$WANT_KILLS"
t_ok "some of them around fetch's replace (${HITS[fetch:1]:-0} + ${HITS[fetch:1:after]:-0})" \
	test $((${HITS[fetch:1]:-0} + ${HITS[fetch:1:after]:-0})) -gt 0
if ((T_FAILED)); then
	echo "# actions:"
	t__indent <"$ACTIONS"
	echo "# what the runs said of placeholders, moves and fetches:"
	grep -E '^==|placeholder|fetch|mov' "$RUNS" | grep -v 'BODY\[' | cut -c1-200 | t__indent
fi
points=""
for p in "${!HITS[@]}"; do
	points+=" $p=${HITS[$p]}"
done
echo "# placeholder kills: $KILLS kills in $round rounds, points hit:$points; $WHOLE whole, $PLACEHOLDERS placeholders, $STRAYS strays in tmp/, ${SECONDS} s, seed $SEED"
t_done
