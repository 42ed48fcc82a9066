#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Untagged lines before the greeting (RFC 3501 7.1.5, 7.1): Courier-IMAP 5.0 sends
#	* OK [ALERT] Filesystem notification initialization error -- contact your mail ...
# before "* PREAUTH" when libgamin cannot start its file-notification server (here on purpose:
# COURIER_GAMIN=off, see tests/fixtures/courier.sh). A client must show an ALERT's text to the
# user and carry on:
#	1. the server really sends the ALERT first (read from the tunnel itself);
#	2. ferry syncs anyway both ways (exit 0, the server's message copied down, a local one up);
#	3. the ALERT's text is on ferry's stderr, once per session, not on its stdout.
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=../fixtures/courier.sh
. "$(dirname "${BASH_SOURCE[0]}")/../fixtures/courier.sh"
# make_message
# shellcheck source=../fixtures/dovecot.sh
. "$(dirname "${BASH_SOURCE[0]}")/../fixtures/dovecot.sh"

: "${FERRY:?FERRY must point at the ferry binary}"
ALERT='Filesystem notification initialization error'

courier_start || exit 1
WORK=$COURIER_DIR/work
MAILDIR=$WORK/Mail
mkdir -p "$WORK"
cat >"$WORK/ferry.conf" <<CONF
[imap courier]
tunnel = COURIER_GAMIN=off $COURIER_TUNNEL
timeout = 20

[maildir laptop]
path = $MAILDIR

[channel test]
far = courier
near = laptop
state = $WORK/state/test.sqlite
CONF
chmod 600 "$WORK/ferry.conf"

make_message 1 "From the server" | courier_seed INBOX
mkdir -p "$MAILDIR/INBOX/cur" "$MAILDIR/INBOX/new" "$MAILDIR/INBOX/tmp"
make_message 2 "From the laptop" >"$MAILDIR/INBOX/tmp/1700000000.M1P1.laptop"
mv "$MAILDIR/INBOX/tmp/1700000000.M1P1.laptop" "$MAILDIR/INBOX/new/"

# --- 1: the server sends the ALERT before PREAUTH ------------------------------------------
first=$(printf 'a LOGOUT\r\n' | COURIER_GAMIN=off timeout 20 "$COURIER_TUNNEL" | head -n 2 |
	tr -d '\r')
t_matches "the server's first line is an untagged OK [ALERT]" "$(head -n 1 <<<"$first")" \
	"^\\* OK \\[ALERT\\] $ALERT"
t_matches "its second line is the greeting" "$(tail -n 1 <<<"$first")" '^\* PREAUTH'

# --- 2, 3: ferry syncs and shows the ALERT ----------------------------------------------------
out=$WORK/sync.out
err=$WORK/sync.err
timeout -k 5 60 "$FERRY" -c "$WORK/ferry.conf" sync test </dev/null >"$out" 2>"$err"
rc=$?
t_equal "sync: ferry exits 0" 0 "$rc" || sed 's/^/#     /' "$out" "$err"
t_equal "sync: the server's message is copied down" 1 \
	"$(grep -l -s 'Subject: From the server' "$MAILDIR"/INBOX/cur/* "$MAILDIR"/INBOX/new/* |
		grep -c .)"
t_equal "sync: the local message is copied up" 2 "$(courier_count INBOX)"
t_contains "sync: the ALERT's text is on stderr" "$(cat "$err")" "$ALERT"
t_equal "sync: once" 1 "$(grep -c -F "$ALERT" "$err")"
t_not_contains "sync: not on stdout" "$(cat "$out")" "$ALERT"

t_done
