#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Folders a server names oddly or cannot use, and survivable nonsense (issue 13, items 8-10),
# against the scripted server (tests/hostile/server.pl, scenarios folders-*):
#
# - folders-noselect: a \Noselect Parent (with a child) and a \NonExistent Gone, each with a
#   local folder of the same name holding mail: never CREATEd, never SELECTed, one error each
#   per run saying the server's folder holds no mail, the local mail kept; the child syncs.
#   With --pull nothing would go up: no error.
#   A \Noselect Hollow whose local twin is empty is skipped quietly.
# - folders-select-bad: a BAD to one SELECT and to one listing FETCH fails that folder with the
#   server's text; the other folders sync over the same connection (no reconnect).
# - folders-modseq-nil: SELECT says [HIGHESTMODSEQ NIL]: no modseq, quietly; no reconnect, and
#   the next run lists the folder in full.
# - folders-spelled: SELECT uses the name exactly as LIST spelled it (Inbox/Sub2 below the
#   namespace "INBOX/", INBOX/Other.Sub with "." where the namespace has "/").
#
# Needs perl (core modules only) and sqlite3; no Dovecot. Run by ctest, or by hand:
#	FERRY=/path/to/ferry bash tests/integration/hostile_folders.sh
set -uo pipefail # not -e: a failed assertion must not hide the ones after it

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
# shellcheck source=hostile_lib.sh
. "$here/hostile_lib.sh"

T_TIMEOUT=45
hostile_init hostile-folders

# case_start SCENARIO: fresh directories, the scripted server for SCENARIO, and $CONF.
case_start() {
	CASE=$1
	CASEDIR=$top/$CASE
	ROOT=$CASEDIR/Mail
	STATE=$CASEDIR/state/test.sqlite
	CONF=$CASEDIR/ferry.conf
	SRV_LOG=$CASEDIR/$CASE.log
	mkdir -p "$CASEDIR/state" "$ROOT"
	hostile_server_start "$CASEDIR" "$CASE" none || return 1
	hostile_conf_finish
}

# count DIR: the messages in a Maildir folder's cur/ and new/.
count() {
	find "$1/cur" "$1/new" -type f 2>/dev/null | wc -l | tr -d ' '
}

# connections: how many connections the server accepted.
connections() {
	grep -c '^# connection ' "$SRV_LOG"
}

# commands VERB: the arguments of every VERB the server received, quotes removed, one a line.
commands() {
	grep -E "^[0-9]+ $1 " "$SRV_LOG" | cut -d' ' -f3- | sed 's/ (CONDSTORE)$//; s/^"\(.*\)"$/\1/'
}

# A message in a local folder, written as another mail program would.
put_local() {
	mkdir -p "$1/cur" "$1/new" "$1/tmp"
	printf 'From: me@local.test\nSubject: %s\nMessage-ID: <%s@local.test>\n\nlocal mail\n' \
		"$2" "$2" >"$1/new/1700000000.$2.local"
}

# --- \Noselect and \NonExistent --------------------------------------------------------------
case_start folders-noselect || t_done
put_local "$ROOT/Parent" parent1
put_local "$ROOT/Gone" gone1
mkdir -p "$ROOT/Hollow/cur" "$ROOT/Hollow/new" "$ROOT/Hollow/tmp"
for run in 1 2; do
	t_expect_exit 1 "$CASE: run $run exits 1" "$FERRY" -c "$CONF" sync
	t_equal "$CASE: run $run: one error for Parent" 1 \
		"$(grep -c '^ferry: error: Parent: ' <<<"$T_OUT")"
	t_matches "$CASE: run $run: it says the server's folder holds no mail" "$T_OUT" \
		'^ferry: error: Parent: .*cannot hold mail.*\\Noselect'
	t_equal "$CASE: run $run: one error for Gone" 1 \
		"$(grep -c '^ferry: error: Gone: ' <<<"$T_OUT")"
	t_equal "$CASE: run $run: no error for Hollow (empty here)" 0 \
		"$(grep -c 'Hollow' <<<"$T_OUT")"
	t_equal "$CASE: run $run: nothing CREATEd" "" "$(commands CREATE)"
	t_equal "$CASE: run $run: no placeholder SELECTed" "" \
		"$(commands SELECT | grep -E '^(Parent|Gone|Hollow)$')"
	t_equal "$CASE: run $run: the local mail of Parent is kept" 1 "$(count "$ROOT/Parent")"
	t_equal "$CASE: run $run: the local mail of Gone is kept" 1 "$(count "$ROOT/Gone")"
	t_equal "$CASE: run $run: Parent/Child synced" 3 "$(count "$ROOT/Parent/Child")"
	t_equal "$CASE: run $run: INBOX synced" 3 "$(count "$ROOT/INBOX")"
	t_equal "$CASE: run $run: nothing APPENDed" "" "$(commands APPEND)"
done
t_not_contains "$CASE: no reconnect" "$T_OUT" 'reconnecting'
t_expect_exit 0 "$CASE: --pull (nothing would go up) exits 0" "$FERRY" -c "$CONF" sync --pull
t_equal "$CASE: --pull: no error" "" "$(grep '^ferry: error' <<<"$T_OUT")"
t_equal "$CASE: --pull: still nothing CREATEd" "" "$(commands CREATE)"
server_stop

# --- a BAD to one command ----------------------------------------------------------------------
case_start folders-select-bad || t_done
start=$EPOCHREALTIME
t_expect_exit 1 "$CASE: the run exits 1" "$FERRY" -c "$CONF" sync
took=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 10 }')
t_matches "$CASE: the SELECT's folder fails with the server's text" "$T_OUT" \
	'^ferry: error: Weird: .*BAD.*weird mailbox name'
t_matches "$CASE: the FETCH's folder fails with the server's text" "$T_OUT" \
	'^ferry: error: FetchBad: .*BAD.*unknown FETCH item'
t_not_contains "$CASE: the session is not declared dead" "$T_OUT" 'no longer usable'
t_not_contains "$CASE: no reconnect" "$T_OUT" 'reconnecting'
t_equal "$CASE: exactly one connection" 1 "$(connections)"
t_equal "$CASE: INBOX synced" 3 "$(count "$ROOT/INBOX")"
t_equal "$CASE: Good synced" 3 "$(count "$ROOT/Good")"
t_equal "$CASE: nothing of Weird" 0 "$(count "$ROOT/Weird")"
t_ok "$CASE: within 3 s (took $((took / 10)).$((took % 10)) s)" test "$took" -lt 30
server_stop

# --- HIGHESTMODSEQ NIL -------------------------------------------------------------------------
case_start folders-modseq-nil || t_done
t_expect_exit 0 "$CASE: the first run exits 0" "$FERRY" -c "$CONF" sync
t_not_contains "$CASE: no error" "$T_OUT" 'error'
t_not_contains "$CASE: no warning" "$T_OUT" 'warning'
t_equal "$CASE: one connection" 1 "$(connections)"
t_equal "$CASE: INBOX synced" 3 "$(count "$ROOT/INBOX")"
t_expect_exit 0 "$CASE: the second run exits 0" "$FERRY" -c "$CONF" sync
t_not_contains "$CASE: run 2: no error" "$T_OUT" 'error'
t_not_contains "$CASE: run 2: no warning" "$T_OUT" 'warning'
t_equal "$CASE: run 2: one more connection" 2 "$(connections)"
t_equal "$CASE: run 2: no CHANGEDSINCE (there is no modseq)" "" \
	"$(grep CHANGEDSINCE "$SRV_LOG")"
t_equal "$CASE: run 2: a full listing" 2 \
	"$(grep -cE '^[0-9]+ UID FETCH 1:[0-9]+ \(UID FLAGS RFC822.SIZE' "$SRV_LOG")"
server_stop

# --- names as the server spells them -----------------------------------------------------------
case_start folders-spelled || t_done
put_local "$ROOT/Sub2/New" new1
put_local "$ROOT/Other/Sub/Deep" deep1
t_expect_exit 0 "$CASE: the run exits 0" "$FERRY" -c "$CONF" sync
t_equal "$CASE: each SELECT names a folder exactly as LIST spelled it (or its parent)" \
	"INBOX INBOX/Other.Sub INBOX/Other.Sub.Deep Inbox/Sub2 Inbox/Sub2/New" \
	"$(commands SELECT | sort -u | tr '\n' ' ' | sed 's/ $//')"
t_equal "$CASE: a child is created below its parent as LIST spelled the parent" \
	"INBOX/Other.Sub.Deep Inbox/Sub2/New" "$(commands CREATE | sort | tr '\n' ' ' | sed 's/ $//')"
t_equal "$CASE: two APPENDs" 2 "$(commands APPEND | wc -l | tr -d ' ')"
t_equal "$CASE: Sub2 synced" 3 "$(count "$ROOT/Sub2")"
t_equal "$CASE: Other/Sub synced" 3 "$(count "$ROOT/Other/Sub")"
server_stop

t_done
