#!/usr/bin/env bash
# Random kills with changes on both sides (DESIGN rules 7, 8, 13). Each round
# changes both sides (new messages, flag changes, deletions, moves locally and
# on the server), runs a sync that is SIGKILLed at a random point (a
# FERRY_CRASH_AT hook at a random action, or kill -9 after a random delay),
# then moves messages again on either side, among them copies the killed run
# may have made without recording them, sometimes kills one more run, and
# ends with a clean run. After every round: nothing lost (each message is in
# the folder it should be, on both sides), nothing duplicated (Message-IDs
# counted per side and folder), both sides equal (folders and flags).
#
# CI mode (default): at least FERRY_TEST_KILLS kills (default 12). Nightly
# mode, FERRY_NIGHTLY=1: at least 100. FERRY_TEST_SEED replays a run. The
# last line says: kills, losses, duplicates.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

if [[ ${FERRY_NIGHTLY:-0} == 1 ]]; then
	WANT_KILLS=${FERRY_TEST_KILLS:-100}
else
	WANT_KILLS=${FERRY_TEST_KILLS:-12}
fi
MAX_ROUNDS=$((WANT_KILLS * 3 + 10))
SEED=${FERRY_TEST_SEED:-$(((RANDOM << 15) | RANDOM))}
RANDOM=$SEED
echo "# seed $SEED (FERRY_TEST_SEED=$SEED replays this run), $WANT_KILLS kills wanted"

t_expect_exit 0 "ferry is built with the crash hook" "$FERRY" --version
t_contains "--version says test hooks" "$T_OUT" "test hooks"

sync_setup

FOLDERS=(INBOX Work Archive Lists/Dev)
declare -A WHERE=() FLAGS=() TOUCHED=()
NEXT=1000
ACTIONS=$WORK/actions.log
: >"$ACTIONS"

say() {
	printf '%(%T)T %s\n' -1 "$*" >>"$ACTIONS"
}
# pick WORD...: one of them in REPLY. Never in a subshell: bash reseeds
# RANDOM there, and FERRY_TEST_SEED would no longer replay a run.
pick() {
	local a=("$@")
	REPLY=${a[RANDOM % ${#a[@]}]}
}
subject() {
	printf 'Rnd %s end\n' "$1"
}
# sorted_letters LETTERS: F and S of LETTERS, in Maildir order.
sorted_letters() {
	local out=
	[[ $1 == *F* ]] && out+=F
	[[ $1 == *S* ]] && out+=S
	printf '%s\n' "$out"
}

# --- the two sides as lines "FOLDER N LETTERS" ---------------------------------
local_lines() {
	local d folder
	while IFS= read -r d; do
		d=${d%/cur}
		folder=${d#"$MAILDIR"/}
		grep -H -m1 -i '^Message-ID:' "$d"/cur/* "$d"/new/* 2>/dev/null |
			awk -v folder="$folder" '{
				i = index($0, ":Message-ID:"); if (!i) i = index($0, ":Message-Id:")
				path = substr($0, 1, i - 1); id = substr($0, i + 13)
				sub(/^ *</, "", id); sub(/\..*/, "", id)
				info = ""; j = index(path, ":2,"); if (j) info = substr(path, j + 3)
				l = ""; if (info ~ /F/) l = l "F"; if (info ~ /S/) l = l "S"
				print folder, id, l
			}'
	done < <(find "$MAILDIR" -path "$MAILDIR/.ferry" -prune -o -type d -name cur -print)
}
server_lines() {
	dovecot_doveadm -f tab fetch -u alice 'mailbox flags hdr.message-id' all | sed 1d |
		awk -F '\t' '{
			id = $3; sub(/^ *</, "", id); sub(/\..*/, "", id)
			l = ""; if ($2 ~ /\\Flagged/) l = l "F"; if ($2 ~ /\\Seen/) l = l "S"
			print $1, id, l
		}'
}
model_lines() {
	local n
	for n in "${!WHERE[@]}"; do
		printf '%s %s %s\n' "${WHERE[$n]}" "$n" "${FLAGS[$n]}"
	done
}

# --- changes as a user and other clients make them ----------------------------
new_local() {
	local f n=$NEXT info
	NEXT=$((NEXT + 1))
	pick "${FOLDERS[@]}"
	f=$REPLY
	pick "" S FS F
	info=$REPLY
	if [[ -n $info ]]; then md_write "$f" "$n" "$(subject "$n")" "$info"; else md_write "$f" "$n" "$(subject "$n")"; fi
	WHERE[$n]=$f FLAGS[$n]=$info TOUCHED[$n]=new
	say "new local $n in $f ($info)"
}
new_server() {
	local f n=$NEXT
	NEXT=$((NEXT + 1))
	pick "${FOLDERS[@]}"
	f=$REPLY
	make_message "$n" "$(subject "$n")" | dovecot_doveadm save -u alice -m "$f"
	WHERE[$n]=$f FLAGS[$n]='' TOUCHED[$n]=new
	say "new server $n in $f"
}
# untouched: in REPLY, a message no change of this round touched yet; false if none.
untouched() {
	local ns=() n
	for n in "${!WHERE[@]}"; do [[ -z ${TOUCHED[$n]:-} ]] && ns+=("$n"); done
	((${#ns[@]})) && pick "${ns[@]}"
}
local_file() { # local_file N: its path in the folder the model says
	md_file "${WHERE[$1]}" "$(subject "$1")"
}
# on_server N: the server holds N where the model says. Before the killed run
# both sides are as the model says; after it, SNAPSHOT tells.
SNAPSHOT=
on_server() {
	[[ -z $SNAPSHOT ]] || grep -q -x -F "${WHERE[$1]} $1" <<<"$SNAPSHOT"
}
# srv N ARGS...: doveadm ARGS... on message N where the model says it is.
srv() {
	local n=$1
	shift
	dovecot_doveadm "$@" mailbox "${WHERE[$n]}" header Subject "$(subject "$n")"
}
flag_local() {
	local n f dir base info letter
	untouched || return 0
	n=$REPLY
	f=$(local_file "$n")
	[[ -n $f ]] || return 0
	pick F S
	letter=$REPLY
	info=${FLAGS[$n]}
	if [[ $info == *$letter* ]]; then info=${info//$letter/}; else info=$(sorted_letters "$info$letter"); fi
	dir=$(dirname "$(dirname "$f")")
	base=$(basename "$f")
	mv "$f" "$dir/cur/${base%%:2,*}:2,$info"
	FLAGS[$n]=$info TOUCHED[$n]=flags
	say "flags local $n -> '$info'"
}
flag_server() {
	local n letter flag info op
	untouched || return 0
	n=$REPLY
	pick F S
	letter=$REPLY
	flag='\Seen'
	[[ $letter == F ]] && flag='\Flagged'
	info=${FLAGS[$n]}
	if [[ $info == *$letter* ]]; then op=remove info=${info//$letter/}; else op=add info=$(sorted_letters "$info$letter"); fi
	srv "$n" flags "$op" -u alice "$flag"
	FLAGS[$n]=$info TOUCHED[$n]=flags
	say "flags server $n -> '$info'"
}
delete_local() {
	local n f
	untouched || return 0
	n=$REPLY
	f=$(local_file "$n")
	[[ -n $f ]] || return 0
	rm "$f"
	unset "WHERE[$n]" "FLAGS[$n]"
	TOUCHED[$n]=deleted
	say "delete local $n"
}
delete_server() {
	local n
	untouched || return 0
	n=$REPLY
	srv "$n" expunge -u alice
	unset "WHERE[$n]" "FLAGS[$n]"
	TOUCHED[$n]=deleted
	say "delete server $n"
}
# move_local N: mv (same name) or as mutt does (a new file, the old one deleted).
move_local() {
	local n=$1 f to dir base info=
	f=$(local_file "$n")
	[[ -n $f ]] || return 1
	pick "${FOLDERS[@]}"
	to=$REPLY
	[[ $to == "${WHERE[$n]}" ]] && return 0
	dir=$(md_dir "$to")
	mkdir -p "$dir/cur" "$dir/new" "$dir/tmp"
	base=$(basename "$f")
	if ((RANDOM % 2)); then
		mv "$f" "$dir/$(basename "$(dirname "$f")")/$base"
		say "move local (mv) $n ${WHERE[$n]} -> $to"
	else
		[[ $base == *:2,* ]] && info=${base##*:2,}
		cp "$f" "$dir/tmp/rewrite.$n"
		mv "$dir/tmp/rewrite.$n" "$dir/cur/$(date +%s).R$RANDOM.mutt:2,$info"
		rm "$f"
		say "move local (rewrite) $n ${WHERE[$n]} -> $to"
	fi
	WHERE[$n]=$to TOUCHED[$n]=${TOUCHED[$n]:-moved}
}
move_server() {
	local n=$1 to
	on_server "$n" || return 1
	pick "${FOLDERS[@]}"
	to=$REPLY
	[[ $to == "${WHERE[$n]}" ]] && return 0
	srv "$n" move -u alice "$to"
	say "move server $n ${WHERE[$n]} -> $to"
	WHERE[$n]=$to TOUCHED[$n]=${TOUCHED[$n]:-moved}
}
changes_before() {
	local i k n
	TOUCHED=() SNAPSHOT=
	NEW_LOCAL=$((RANDOM % 3 + 1)) NEW_SERVER=$((RANDOM % 3 + 1))
	for ((i = 0; i < NEW_LOCAL; i++)); do new_local; done
	for ((i = 0; i < NEW_SERVER; i++)); do new_server; done
	for ((i = 0, k = RANDOM % 4 + 2; i < k; i++)); do
		case $((RANDOM % 6)) in
		0) flag_local ;;
		1) flag_server ;;
		2) delete_local ;;
		3) delete_server ;;
		4) untouched && { move_local "$REPLY" || true; } ;;
		5) untouched && { move_server "$REPLY" || true; } ;;
		esac
	done
}
# After the killed run: refile messages on either side, most of those new
# this round that are on both sides now (copied by the killed run, recorded
# or not), and maybe one more.
changes_after() {
	local n fresh=()
	SNAPSHOT=$(server_lines | cut -d' ' -f1,2)
	for n in "${!TOUCHED[@]}"; do
		[[ ${TOUCHED[$n]} == new ]] && on_server "$n" && [[ -n $(local_file "$n") ]] &&
			fresh+=("$n")
	done
	for n in "${fresh[@]}"; do
		((RANDOM % 4)) || continue
		TOUCHED[$n]=new-moved
		if ((RANDOM % 2)); then move_server "$n" || true; else move_local "$n" || true; fi
	done
	if ((RANDOM % 2)) && untouched; then
		n=$REPLY
		if ((RANDOM % 2)); then move_server "$n" || true; else move_local "$n" || true; fi
	fi
}

# --- killed runs ----------------------------------------------------------------
KILLS=0
# killed_run: one sync, killed at a random point. Adds to KILLS if it was.
killed_run() {
	local spec
	if ((RANDOM % 3)); then
		# Often before the second message or later of a batch, so that a
		# copy is made but not recorded.
		pick download upload flags delete move
		spec=$REPLY:1
		pick "" :after
		spec+=$REPLY
		if ((RANDOM % 2 && NEW_LOCAL > 1)); then
			spec=upload:$((RANDOM % (NEW_LOCAL - 1) + 2))
		elif ((RANDOM % 2 && NEW_SERVER > 1)); then
			spec=download:$((RANDOM % (NEW_SERVER - 1) + 2))
		fi
		t_run env FERRY_CRASH_AT="$spec" "$FERRY" -q -c "$CONF" sync test
		if [[ $T_OUT == *"crashed (signal 9"* ]]; then
			KILLS=$((KILLS + 1))
			say "killed at $spec"
		else
			say "not killed at $spec (exit $T_RC)"
		fi
		return
	fi
	sync_kill_at_random 20 250 sync test
}

# --- the check of a round ---------------------------------------------------------
LOSSES=0 DUPLICATES=0 UNEXPECTED=0
# check_side NAME LINES: counts losses and duplicates of one side against the model.
check_side() {
	local name=$1 lines=$2 n count lost=0 dup=0 extra=0
	declare -A seen=()
	while read -r folder n _; do
		[[ -n $n ]] || continue
		seen[$folder $n]=$((${seen[$folder $n]:-0} + 1))
	done <<<"$lines"
	for n in "${!WHERE[@]}"; do
		count=${seen[${WHERE[$n]} $n]:-0}
		((count == 0)) && lost=$((lost + 1)) && say "LOST on $name: $n (in ${WHERE[$n]})"
		((count > 1)) && dup=$((dup + count - 1)) && say "DUPLICATE on $name: $n in ${WHERE[$n]} x$count"
	done
	while read -r folder n _; do
		[[ -n $n ]] || continue
		if [[ -z ${WHERE[$n]:-} ]]; then
			extra=$((extra + 1))
			say "UNEXPECTED on $name: $n in $folder (deleted)"
		elif [[ ${WHERE[$n]} != "$folder" ]]; then
			dup=$((dup + 1))
			say "DUPLICATE on $name: $n also in $folder (belongs in ${WHERE[$n]})"
		fi
	done <<<"$lines"
	LOSSES=$((LOSSES + lost)) DUPLICATES=$((DUPLICATES + dup)) UNEXPECTED=$((UNEXPECTED + extra))
	((lost + dup + extra == 0))
}
check_round() {
	local round=$1 l s m ok=0
	l=$(local_lines | sort)
	s=$(server_lines | sort)
	m=$(model_lines | sort)
	check_side local "$l" || ok=1
	check_side server "$s" || ok=1
	if [[ $l != "$s" ]] || [[ $l != "$m" ]]; then
		ok=1
		say "sides differ (model, local, server):"
		diff <(printf '%s\n' "$m") <(printf '%s\n' "$l") | sed 's/^/  local: /' >>"$ACTIONS"
		diff <(printf '%s\n' "$m") <(printf '%s\n' "$s") | sed 's/^/  server: /' >>"$ACTIONS"
	fi
	if ((ok != 0)); then
		t_fail "round $round: nothing lost, nothing duplicated, both sides equal" \
			"$(tail -n 60 "$ACTIONS")"
		return 1
	fi
}

# --- the rounds ----------------------------------------------------------------------
for f in "${FOLDERS[@]}"; do
	for ((i = 0; i < 3; i++)); do
		seed "$NEXT" "$f" "$(subject "$NEXT")"
		WHERE[$NEXT]=$f FLAGS[$NEXT]=
		NEXT=$((NEXT + 1))
	done
done
ferry_sync test
t_equal "the first sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
check_round 0 && t_pass "round 0: both sides as seeded"

failed=0
for ((round = 1; KILLS < WANT_KILLS && round <= MAX_ROUNDS; round++)); do
	say "--- round $round"
	changes_before
	killed_run
	changes_after
	if ((RANDOM % 3 == 0)); then
		killed_run
	fi
	ferry_sync test
	if [[ $T_RC != 0 ]]; then
		say "the converge run exited $T_RC:" "$T_OUT"
		t_fail "round $round: the converge run exits 0" "$(tail -n 40 "$ACTIONS")" "$T_OUT"
		failed=1
		break
	fi
	check_round "$round" || {
		failed=1
		break
	}
done
((failed)) || t_pass "$((round - 1)) rounds converged with nothing lost or duplicated"
t_ok "at least $WANT_KILLS runs were killed ($KILLS)" test "$KILLS" -ge "$WANT_KILLS"
t_equal "no message lost" 0 "$LOSSES"
t_equal "no message duplicated" 0 "$DUPLICATES"
t_equal "no deleted message back" 0 "$UNEXPECTED"
echo "# random kills: $KILLS kills, $LOSSES losses, $DUPLICATES duplicates ($UNEXPECTED deleted messages back) in $((round - 1)) rounds, ${SECONDS} s, seed $SEED"
t_done
