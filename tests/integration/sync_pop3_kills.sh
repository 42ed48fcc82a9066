#!/usr/bin/env bash
# Crash safety of a POP3 far store with keep = no: ferry sync SIGKILLed at
# random points (a FERRY_CRASH_AT hook among the downloads, around keep's
# state commit and DELE, or kill -9 after a random delay), new mail put on
# the server between some runs. A kill between RETR, local delivery and DELE
# never loses and never duplicates a message: after a clean run, every
# message the server ever had is in the Maildir exactly once (Message-IDs),
# and the server holds nothing. FERRY_TEST_KILLS (default 50) and
# FERRY_TEST_SEED as in sync_random_kills.sh.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

WANT_KILLS=${FERRY_TEST_KILLS:-50}
MAX_ROUNDS=$((WANT_KILLS * 3))
SEED=${FERRY_TEST_SEED:-$(((RANDOM << 15) | RANDOM))}
RANDOM=$SEED
echo "# seed $SEED (FERRY_TEST_SEED=$SEED replays this run), $WANT_KILLS kills wanted"

t_expect_exit 0 "ferry is built with the crash hook" "$FERRY" --version
t_contains "--version says test hooks" "$T_OUT" "test hooks"

sync_setup
export XDG_STATE_HOME=$WORK/xdg
cat >>"$CONF" <<CONF

[pop3 isp]
host = 127.0.0.1
port = $DOVECOT_POP3S_PORT
user = alice
password = secret
ca_file = $DOVECOT_CA
timeout = 20
keep = no

[channel pop]
far = isp
near = laptop
sync = pull
state = $WORK/state/pop.sqlite
CONF
STATE=$WORK/state/pop.sqlite
ACTIONS=$WORK/actions.log
: >"$ACTIONS"
say() {
	printf '%(%T)T %s\n' -1 "$*" >>"$ACTIONS"
}
# pick WORD...: one of them in REPLY (never in a subshell: see sync_random_kills.sh).
pick() {
	local a=("$@")
	REPLY=${a[RANDOM % ${#a[@]}]}
}

NEXT=1
NEW=0
# deliver K: K new messages on the server.
deliver() {
	local i
	NEW=$1
	for ((i = 0; i < $1; i++)); do
		make_message "$NEXT" "Pop $NEXT" | dovecot_doveadm save -u alice -m INBOX
		NEXT=$((NEXT + 1))
	done
	say "delivered $1 (up to $((NEXT - 1)))"
}

KILLS=0 KEEP_KILLS=0
killed_run() {
	local spec
	if ((RANDOM % 3)); then
		pick download:1 download:1:after keep:1 keep:1:after
		spec=$REPLY
		if [[ $spec == download:* ]] && ((NEW > 1 && RANDOM % 2)); then
			spec=download:$((RANDOM % (NEW - 1) + 2))
		fi
		t_run env FERRY_CRASH_AT="$spec" "$FERRY" -q -c "$CONF" sync pop
		if [[ $T_OUT == *"crashed (signal 9"* ]]; then
			KILLS=$((KILLS + 1))
			[[ $spec == keep:* ]] && KEEP_KILLS=$((KEEP_KILLS + 1))
			say "killed at $spec"
		else
			say "not killed at $spec (exit $T_RC)"
		fi
		return
	fi
	sync_kill_at_random 10 200 sync pop
}

# expected: the Message-IDs of every message delivered so far, sorted.
expected() {
	local n
	for ((n = 1; n < NEXT; n++)); do
		make_message "$n" "Pop $n" | grep -m1 -i '^Message-ID:' | sed 's/^[^:]*: *//; s/\r$//'
	done | sort
}

LOST=0 DUPS=0
# check WHEN: after a clean run, every message once locally, none on the server.
check() {
	local l want
	l=$(ids_local INBOX)
	want=$(expected)
	LOST=$((LOST + $(comm -13 <(sort -u <<<"$l") <(printf '%s\n' "$want") | grep -c .)))
	DUPS=$((DUPS + $(uniq -d <<<"$l" | grep -c .)))
	t_equal "$1: every message in the Maildir exactly once" "$want" "$l"
	t_equal "$1: the server holds nothing" 0 "$(dovecot_count alice INBOX)"
}

deliver 5
round=0
while ((KILLS < WANT_KILLS && round < MAX_ROUNDS)); do
	round=$((round + 1))
	NEW=0
	((RANDOM % 2)) && deliver $((RANDOM % 4 + 1))
	killed_run
	# Now and then a clean run in between, checked.
	if ((round % 10 == 0)); then
		t_run "$FERRY" -q -c "$CONF" sync pop
		t_equal "round $round: the clean run exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
		check "round $round"
	fi
done
deliver 2
t_run "$FERRY" -q -c "$CONF" sync pop
t_equal "the final clean run exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
check "in the end"
t_ok "at least $WANT_KILLS runs were killed ($KILLS)" test "$KILLS" -ge "$WANT_KILLS"
t_ok "some of them around keep's commit and DELE ($KEEP_KILLS)" test "$KEEP_KILLS" -gt 0
if ((T_FAILED)); then
	echo "# actions:"
	t__indent <"$ACTIONS"
fi
echo "# pop3 kills: $KILLS kills ($KEEP_KILLS at keep), $LOST lost, $DUPS duplicates in $round rounds, ${SECONDS} s, seed $SEED"
t_done
