#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# max_age: a window onto a big account. Against the fixture Dovecot, with `max_age = 30d` on
# the channel, by internal date (the server's INTERNALDATE, a local file's mtime):
#   1. A first sync copies the messages inside the window both ways and leaves the older ones
#      where they are, on either side; -v says how many it left alone.
#   2. An old message deleted locally (a laptop making room) stays on the server and is not
#      copied back; a recent one deleted locally is deleted on the server, as without a window.
#      The same the other way: an old message expunged on the server keeps its local file.
#   3. Without the window again, the old messages are copied like any other.
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=sync_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

sync_setup
# Only the channel `test` (alice and the Maildir) is synced here.
IMAPC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../tools" && pwd)/imapc.pl

sv() {
	perl "$IMAPC" --port "$DOVECOT_IMAP_PORT" --user alice --pass secret "$@"
}
# sv_append FOLDER N SUBJECT DATE: a message APPENDed with that INTERNALDATE (an IMAP
# date-time, "01-Jan-2020 10:00:00 +0000").
sv_append() {
	local f=$WORK/append.eml
	make_message "$2" "$3" | sed 's/$/\r/' >"$f"
	sv "APPEND $1 \"$4\" {$(stat -c %s "$f")}" "@$f" >/dev/null
}
# md_old FOLDER N SUBJECT: a local message whose file is dated 2020 (a message that came long
# ago, as its mtime says).
md_old() {
	md_write "$1" "$2" "$3"
	touch -d '2020-01-01 10:00:00 UTC' "$(md_file "$1" "$3")"
}
OLD='01-Jan-2020 10:00:00 +0000'
has_local() { [[ -n $(md_file "$1" "$2") ]]; }
has_server() { [[ -n $(srv_uid alice "$1" "$2") ]]; }

# Archive is synced in full first, so that old and recent messages are paired there.
sv 'CREATE Archive' >/dev/null
sv_append Archive 1 "Archived old" "$OLD"
sv_append Archive 2 "Archived ancient" "$OLD"
sv_append Archive 3 "Archived new" "$(LC_ALL=C date -u '+%d-%b-%Y %H:%M:%S +0000')"
ferry_sync test
t_equal "without a window, the first sync exits 0" 0 "$T_RC"
t_equal "and brings all of Archive" 3 "$(md_count Archive)"

sed -i "/^\[channel test\]/a max_age = 30d" "$CONF"

# --- 1: a first sync of INBOX inside the window --------------------------------------------
sv_append INBOX 10 "Server aged" "$OLD"
seed 11 INBOX "Server new"
md_old INBOX 12 "Local aged"
md_write INBOX 13 "Local new"
t_run "$FERRY" -c "$CONF" -v sync test
out=$T_OUT
t_equal "with max_age = 30d the sync exits 0" 0 "$T_RC"
t_ok "a recent server message is copied" has_local INBOX "Server new"
t_ok "a recent local message is uploaded" has_server INBOX "Local new"
t_ok "an old server message is left on the server" eval '! has_local INBOX "Server aged"'
t_ok "an old local message is left local" eval '! has_server INBOX "Local aged"'
t_ok "both are still where they were" eval 'has_server INBOX "Server aged" && has_local INBOX "Local aged"'
t_contains "-v says what it left alone" "$out" "INBOX: 2 message(s) older than max_age (30 days) left alone"
ferry_sync test
t_equal "the next sync exits 0" 0 "$T_RC"
t_equal "and copies nothing" "3/3" "$(md_count INBOX)/$(dovecot_count alice INBOX)"

# --- 2: deletions ---------------------------------------------------------------------------
rm "$(md_file Archive "Archived old")" "$(md_file Archive "Archived new")"
uid=$(srv_uid alice Archive "Archived ancient")
dovecot_doveadm expunge -u alice mailbox Archive uid "$uid"
t_run "$FERRY" -c "$CONF" -v sync test
t_equal "the sync after the deletions exits 0" 0 "$T_RC"
t_ok "an old message deleted locally stays on the server" has_server Archive "Archived old"
t_ok "a recent one deleted locally is deleted on the server" eval '! has_server Archive "Archived new"'
t_ok "an old message expunged on the server keeps its local file" has_local Archive "Archived ancient"
t_run "$FERRY" -c "$CONF" -v sync test
t_equal "the next sync exits 0" 0 "$T_RC"
t_ok "and does not copy the old message back" eval '! has_local Archive "Archived old"'
t_ok "nor upload the other" eval '! has_server Archive "Archived ancient"'

# --- 3: the window removed ------------------------------------------------------------------
sed -i '/^max_age = 30d$/d' "$CONF"
ferry_sync test
t_equal "without the window the sync exits 0" 0 "$T_RC"
t_ok "the old server message is copied" has_local INBOX "Server aged"
t_ok "the old local message is uploaded" has_server INBOX "Local aged"
t_equal "INBOX holds the same four on both sides" "4/4" "$(md_count INBOX)/$(dovecot_count alice INBOX)"

t_done
