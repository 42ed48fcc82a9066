#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Issue 13, items 2 to 4: ferry's memory stays bounded whatever the server sends, untagged lines
# before the greeting are accepted, and every [ALERT] reaches the user.
#
# Against the scripted server (tests/hostile/server.pl): an endless greeting, LIST or listing
# FETCH line, a body literal far larger than the RFC822.SIZE listed, a 200 MB header literal
# nobody asked for, 1,000,000 "* N EXISTS" in a SELECT. For each: the exit status (3: the store
# cannot be opened, 1: a folder failed), a message that names what the server did, nothing
# recorded as synced, within 10 s, and a peak RSS of ferry and its children under 64 MB.
#
# Peak RSS: GNU time's %M, the largest ru_maxrss of ferry and the children it waited for (each
# session runs in a child). A watchdog polls every process of the run's session and kills the
# run above 512 MB or after 30 s, so that a run without bounds cannot eat the machine; what it
# saw counts too.
#
# Then: Courier's "* OK [ALERT] ..." before its PREAUTH (through a tunnel), a "* NO" line before
# the greeting, and an [ALERT] greeting (a valid greeting on its own) with another [ALERT] in a
# SELECT: each run syncs, and each alert is shown once, control characters escaped.
#
# Needs perl (core modules only), sqlite3, GNU time and setsid; no Dovecot. Run by ctest, or by
# hand:
#	FERRY=/path/to/ferry bash tests/integration/hostile_memory.sh
set -uo pipefail # not -e: a failed assertion must not hide the ones after it

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
# shellcheck source=hostile_lib.sh
. "$here/hostile_lib.sh"

T_TIMEOUT=45
RSS_LIMIT_KB=65536 # what the issue allows ferry and its children
KILL_KB=524288     # the watchdog's limit
TIME_LIMIT=10      # seconds a scenario may take
KILL_TIME=30

hostile_init hostile-memory
if [[ ! -x /usr/bin/time ]] || ! command -v setsid >/dev/null; then
	t_fail "GNU time and setsid are installed" "this test measures with /usr/bin/time under setsid"
	t_done
fi

# case_setup NAME: $top/NAME holds the server's files, the config, the Maildir and the state.
case_setup() {
	CASE=$1
	CASEDIR=$top/$CASE
	ROOT=$CASEDIR/Mail
	STATE=$CASEDIR/state/test.sqlite
	CONF=$CASEDIR/ferry.conf
	mkdir -p "$CASEDIR/state" "$CASEDIR/tmp"
}

# server_start SCENARIO [--stdio]: the scripted server on a free port of 127.0.0.1, or through
# `tunnel =` with --stdio, and $CONF for it.
server_start() {
	if [[ ${2:-} == --stdio ]]; then
		printf 'exec perl %q --stdio --scenario %q --log %q\n' \
			"$SERVER" "$1" "$CASEDIR/$1.log" >"$CASEDIR/tunnel.sh"
		printf '[imap hostile]\ntunnel = sh %q\n' "$CASEDIR/tunnel.sh" >"$CONF"
	else
		hostile_server_start "$CASEDIR" "$1" none || return 1
	fi
	hostile_conf_finish
}

# pairs: the far uids the state records as synced, in order, space-separated.
pairs() {
	[[ -f $STATE ]] || return 0
	sqlite3 "$STATE" 'SELECT far_uid FROM pairs ORDER BY far_uid' | tr '\n' ' ' | sed 's/ $//'
}

# delivered: the files in INBOX's cur/, new/ and tmp/.
delivered() {
	find "$ROOT/INBOX" -type f 2>/dev/null | wc -l
}

# bounded SCENARIO CODE REGEX: against SCENARIO, `ferry sync` exits CODE within TIME_LIMIT s with
# a peak RSS under RSS_LIMIT_KB, says REGEX, and records and delivers nothing.
bounded() {
	local scenario=$1 code=$2 regex=$3
	case_setup "$scenario"
	server_start "$scenario" || return
	measured_run sync
	echo "# $CASE: exit $T_RC, ${SECONDS_TAKEN} s, peak RSS $((PEAK_KB / 1024)) MB${KILLED:+, killed: $KILLED}"
	t_equal "$CASE: not killed by the watchdog" "" "$KILLED"
	t_equal "$CASE: ferry sync exits $code" "$code" "$T_RC"
	if ((PEAK_KB < RSS_LIMIT_KB)); then
		t_pass "$CASE: peak RSS under 64 MB (${PEAK_KB} kB)"
	else
		t_fail "$CASE: peak RSS under 64 MB" "peak RSS ${PEAK_KB} kB"
	fi
	if awk -v e="$SECONDS_TAKEN" -v l="$TIME_LIMIT" 'BEGIN { exit !(e < l) }'; then
		t_pass "$CASE: done within ${TIME_LIMIT} s (${SECONDS_TAKEN} s)"
	else
		t_fail "$CASE: done within ${TIME_LIMIT} s" "took ${SECONDS_TAKEN} s"
	fi
	t_matches "$CASE: the error says what the server did" "$T_OUT" "$regex"
	t_equal "$CASE: nothing recorded as synced" "" "$(pairs)"
	t_equal "$CASE: nothing delivered" 0 "$(delivered)"
	server_stop
}

# --- bounded memory -----------------------------------------------------------------------------

bounded endless-greeting 3 \
	'^ferry: error: test: hostile: 127\.0\.0\.1: no IMAP greeting: the server sent a response line over 2 MB'
bounded endless-capability 3 \
	'^ferry: error: test: hostile: CAPABILITY: the server sent a response line over 2 MB'
t_equal "$CASE: one connection only" 1 "$(grep -c '^# connection' "$CASEDIR/$CASE.log")"
bounded endless-list 1 \
	'LIST.*: the server sent a response line over 2 MB; the session is no longer usable'
bounded endless-fetch 1 \
	'^ferry: (warning|error): INBOX: .*listing.*: the server sent a response line over 2 MB'
bounded body-over-size 1 \
	'^ferry: (warning|error): INBOX: .*fetching.*: the server announced a literal of 64000000 bytes, over the [0-9]+ bytes this command may receive'
bounded huge-header-literal 1 \
	'^ferry: (warning|error): INBOX: .*listing.*: the server announced a literal of 200000000 bytes, over the [0-9]+ bytes this command may receive'
bounded exists-flood 1 \
	'^ferry: (warning|error): INBOX: .*select.*: the server sent over [0-9]+ untagged responses to one command'

# --- before the greeting, and [ALERT] -----------------------------------------------------------

# alerted SCENARIO MODE: against SCENARIO (tcp, or --stdio for a tunnel), `ferry sync` exits 0
# and copies the 3 messages, with no raw control character in its output.
alerted() {
	case_setup "$1"
	server_start "$1" "$2" || return
	measured_run sync
	t_equal "$CASE: ferry sync exits 0" 0 "$T_RC"
	t_matches "$CASE: it copies the 3 messages" "$T_OUT" '^INBOX: far->near \+3 ~0 -0'
	t_equal "$CASE: uids 1 2 3 recorded" "1 2 3" "$(pairs)"
	t_equal "$CASE: no raw control character reaches the output" "" \
		"$(tr -d '\n\t' <<<"$T_OUT" | LC_ALL=C grep -P '[\x00-\x1f\x7f]')"
	server_stop
}

# shown COUNT ALERT: the last run showed ALERT (a fixed string) COUNT times: once per line the
# server sent it in.
shown() {
	t_equal "$CASE: the alert \"$2\" is shown $1 time(s)" "$1" \
		"$(grep -cxF -- "ferry: warning: hostile: server alert: $2" <<<"$T_OUT")"
}

alerted alert-preauth --stdio
shown 1 'Filesystem notification initialization error -- contact your mail administrator'
t_equal "$CASE: no LOGIN after the late PREAUTH" "" "$(grep -E '^[^ ]+ (LOGIN|AUTHENTICATE)' "$CASEDIR/$CASE.log")"

alerted no-then-ok tcp
shown 1 'the index is being rebuilt'

alerted alerts tcp
shown 1 'greeting alert: maintenance at ?]0;midnight?'
shown "$(grep -cE '^[^ ]+ (SELECT|EXAMINE) ' "$CASEDIR/$CASE.log")" 'select alert: quota ?[31mexceeded?'

t_done
