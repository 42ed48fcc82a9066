#!/usr/bin/env bash
# DESIGN rule 17: nothing is "done" that did not arrive. The scripted server
# (tests/hostile/server.pl) answers a body FETCH with a tagged OK but does not deliver uid 2:
# BODY[] NIL, its body under another uid, a response with no body, no response at all, or a
# body cut inside its header while RFC822.SIZE announces the whole message. A real server never
# sends these; some broken ones do.
#
# For each: the run exits 1 and names the folder and uid, nothing of uid 2 is delivered (no
# empty or truncated file, nothing left in tmp/), uids 1 and 3 are copied and recorded, the
# folder is not recorded clean, and the next run against a well-behaved server copies uid 2
# and exits 0.
#
# Needs perl (core modules only) and sqlite3; no Dovecot. Run by ctest, or by hand:
#	FERRY=/path/to/ferry bash tests/integration/hostile_bodies.sh
set -uo pipefail # not -e: a failed assertion must not hide the ones after it

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
# shellcheck source=hostile_lib.sh
. "$here/hostile_lib.sh"

T_TIMEOUT=45
hostile_init hostile-bodies

# server_start SCENARIO: the scripted server on a free port of 127.0.0.1, and $CONF for it.
server_start() {
	hostile_server_start "$CASEDIR" "$1" none || return 1
	hostile_conf_finish
}

# pairs: the far uids the state records as synced, in order, space-separated.
pairs() {
	[[ -f $STATE ]] || return 0
	sqlite3 "$STATE" 'SELECT far_uid FROM pairs ORDER BY far_uid' | tr '\n' ' ' | sed 's/ $//'
}

# clean_mark: the policy INBOX's last sync was recorded clean under ('' when not clean).
clean_mark() {
	sqlite3 "$STATE" "SELECT clean FROM folders WHERE name = 'INBOX'"
}

# delivered: "uid SIZE" of each file in INBOX's cur/ and new/, by the uid in its Subject, sorted.
delivered() {
	local f
	for f in "$ROOT"/INBOX/cur/* "$ROOT"/INBOX/new/*; do
		[[ -f $f ]] || continue
		printf '%s %s\n' "$(sed -n 's/^Subject: message \([0-9]*\).*/\1/p' "$f" | head -n 1)" \
			"$(wc -c <"$f")"
	done | sort | tr '\n' ' ' | sed 's/ $//'
}

# A message of server.pl, as a Maildir file holds it (LF line endings).
size_of() {
	printf 'From: Hostile Server <server@hostile.test>\nTo: Test <test@hostile.test>\nSubject: message %s\nMessage-ID: <uid%s@hostile.test>\nDate: Mon, 01 Jan 2024 00:00:00 +0000\n\nThis is the body of message uid %s.\n' \
		"$1" "$1" "$1" | wc -c
}
full="1 $(size_of 1) 3 $(size_of 3)"
all="1 $(size_of 1) 2 $(size_of 2) 3 $(size_of 3)"

# undelivered SCENARIO WHY: uid 2 is not delivered in SCENARIO; the error says WHY (a regex).
undelivered() {
	CASE=$1
	CASEDIR=$top/$CASE
	ROOT=$CASEDIR/Mail
	STATE=$CASEDIR/state/test.sqlite
	CONF=$CASEDIR/ferry.conf
	mkdir -p "$CASEDIR/state"
	server_start "$CASE" || return
	t_expect_exit 1 "$CASE: the run exits 1" "$FERRY" -c "$CONF" sync
	t_matches "$CASE: the error names the folder and uid 2, and why" "$T_OUT" \
		"^ferry: error: INBOX: far uid 2: $2"
	t_matches "$CASE: the folder fails" "$T_OUT" \
		'^ferry: error: INBOX: 1 message\(s\) did not arrive and were not copied'
	t_equal "$CASE: uids 1 and 3 delivered whole, nothing of uid 2" "$full" "$(delivered)"
	t_equal "$CASE: nothing left in INBOX/tmp" "" "$(find "$ROOT/INBOX/tmp" -type f 2>/dev/null)"
	t_equal "$CASE: uids 1 and 3 recorded, not uid 2" "1 3" "$(pairs)"
	t_equal "$CASE: INBOX is not recorded clean" "" "$(clean_mark)"
	server_stop

	server_start clean || return
	t_expect_exit 0 "$CASE: the next run against a well-behaved server exits 0" \
		"$FERRY" -c "$CONF" sync
	t_matches "$CASE: it copies uid 2" "$T_OUT" '^INBOX: far->near \+1 ~0 -0'
	t_equal "$CASE: then all three are delivered whole" "$all" "$(delivered)"
	t_equal "$CASE: and recorded" "1 2 3" "$(pairs)"
	t_matches "$CASE: and INBOX is recorded clean" "$(clean_mark)" '^v[0-9]+ '
	server_stop
}

undelivered body-nil 'the server sent BODY\[\] NIL'
undelivered body-other-uid 'no body came for it'
undelivered body-missing 'no body came for it'
undelivered body-omitted 'no body came for it'
undelivered body-short 'cut short: 30 of [0-9]+ bytes'

t_done
