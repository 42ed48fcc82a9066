#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2317,SC2016 # helpers run by within, eval and the trap; eval expands
# `ferry watch` syncs only the folders a change concerns: with 30 folders, a local write to one
# of them, or a server delivery NOTIFY reports, makes the sync it starts ask the server about
# that folder alone (no STATUS, SELECT or FETCH naming another one: ferry's -v trace of the
# commands it sends); a local move between two folders is still a move (no APPEND on the
# server, no body fetched). Then without NOTIFY (Dovecot announcing all but it), where only
# INBOX's IDLE reports: a server move out of INBOX is still a move (the scoped sync sees a
# message vanish with nothing of its size in its folders and widens to the whole channel); a
# server move into INBOX is copied, and the next full sync deletes the copy it left behind:
# never a loss or a duplicate.
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=sync_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

sync_setup verbatim

# shellcheck source=watch_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/watch_lib.sh"


gone_server() { [[ -z $(srv_uid alice "$1" "$2") ]]; }
gone_local() { [[ -z $(md_file "$1" "$2") ]]; }

# quiet SECONDS: the watch log grew by nothing for SECONDS (the syncs and their echoes done),
# within 60 s.
quiet() {
	local size i still=0
	size=$(stat -c %s "$WLOG")
	for ((i = 0; i < 600 && still < $1 * 10; i++)); do
		sleep 0.1
		if [[ $(stat -c %s "$WLOG") == "$size" ]]; then
			still=$((still + 1))
		else
			size=$(stat -c %s "$WLOG")
			still=0
		fi
	done
	((still >= $1 * 10))
}

# log_since MARK: what the watch log gained after byte MARK.
log_since() {
	tail -c +"$(($1 + 1))" "$WLOG"
}

# commands_naming TEXT FOLDER...: the commands ferry sent (trace lines "C: tag VERB ...") that
# name a folder among the 30 (F01..F30) other than those given.
commands_naming_others() {
	local text=$1 keep
	shift
	keep=$(printf '|%s' "$@")
	grep -E '(^|[^A-Za-z])C: [^ ]+ (STATUS|SELECT|EXAMINE|UID FETCH|FETCH) ' <<<"$text" |
		grep -E '"?F[0-9][0-9]"?' | grep -vE "\"?(${keep:1})\"? " | head -n 5 || true
}

# 30 folders on the server, one message in each.
for ((i = 1; i <= 30; i++)); do
	f=$(printf 'F%02d' "$i")
	seed "$((100 + i))" "$f" "in $f"
done
seed 1 INBOX "inbox one"
# A name the server spells quoted and in modified UTF-7 ("&AMk-t&AOk- 2026").
seed 2 "Été 2026" "summer one"

watch_start() {
	"$FERRY" -v -c "$CONF" watch test >>"$WLOG" 2>&1 </dev/null &
	WPID=$!
}

watch_stop() {
	kill -TERM "$WPID"
	if within 30 eval '! kill -0 "$WPID" 2>/dev/null'; then
		wait "$WPID"
		rc=$?
		WPID=
	else
		rc=timeout
	fi
	t_equal "SIGTERM ends watch with 143" 143 "$rc"
}

watch_start
t_ok "the first sync brings all 30 folders" within 60 has_local F30 "in F30"
t_ok "and settles" quiet 3

# NOTIFY names the folder a delivery went to: that one is synced alone.
mark=$(stat -c %s "$WLOG")
seed 3 F20 "server in F20"
t_ok "a server delivery to F20 (NOTIFY) arrives" within 40 has_local F20 "server in F20"
quiet 3
since=$(log_since "$mark")
t_matches "the sync asked the server about F20" "$since" 'C: [^ ]+ (STATUS|SELECT) "?F20"?'
t_equal "and about no other of the 30 folders" "" "$(commands_naming_others "$since" F20)"

mark=$(stat -c %s "$WLOG")
seed 4 "Été 2026" "summer two"
t_ok "a server delivery to \"Été 2026\" (NOTIFY) arrives" within 40 has_local "Été 2026" "summer two"
quiet 3
t_contains "NOTIFY's STATUS named it, mapped back to its name" "$(log_since "$mark")" \
	"syncing 1 folder(s): Été 2026"

# A local write to one folder: the sync it starts asks about that folder only.
mark=$(stat -c %s "$WLOG")
md_write F07 2 "local in F07"
t_ok "a local write to F07 reaches the server" within 15 has_server F07 "local in F07"
quiet 3
since=$(log_since "$mark")
t_matches "the sync asked the server about F07" "$since" 'C: [^ ]+ (STATUS|SELECT) "?F07"?'
others=$(commands_naming_others "$since" F07)
t_equal "and about no other of the 30 folders" "" "$others"

# A local move between two folders (as `mv` does): both report; still a move.
mark=$(stat -c %s "$WLOG")
dmark=$(dovecot_log_mark)
md_mv F03 F04 "in F03"
t_ok "a local move F03 -> F04 reaches the server" within 15 has_server F04 "in F03"
t_ok "and leaves F03 there" within 15 gone_server F03 "in F03"
quiet 3
since=$(log_since "$mark")
t_equal "the move was replayed, nothing uploaded (APPEND)" 0 "$(saves_since "$dmark")"
t_not_contains "no body was fetched" "$since" "BODY.PEEK[]"
t_equal "the syncs asked about F03 and F04 only" "" "$(commands_naming_others "$since" F03 F04)"
converged F03 0 "F03 after the local move"
converged F04 2 "F04 after the local move"

watch_stop

# Dovecot again, announcing all it did but NOTIFY: only INBOX's IDLE tells of the server.
dovecot__stop_master "$DOVECOT_DIR"
export DOVECOT_CAPABILITY="$DOVECOT_PLAIN_CAPABILITY CONDSTORE QRESYNC MOVE UIDPLUS ENABLE"
dovecot__launch "$DOVECOT_DIR" "$DOVECOT_IMAP_PORT" "$DOVECOT_IMAPS_PORT"
mark=$(stat -c %s "$WLOG")
watch_start
t_ok "watch starts again" within 30 eval 'log_since "$mark" | grep -q "C: idle IDLE"'
t_ok "and settles" quiet 3
t_not_contains "NOTIFY is not offered now" "$(log_since "$mark")" "NOTIFY SET"

# A server move out of INBOX into F12: only INBOX reports. The scoped sync finds a message
# gone from INBOX with nothing of its size in its folders and widens to the channel: a move.
mark=$(stat -c %s "$WLOG")
dovecot_doveadm move -u alice F12 mailbox INBOX header Subject "inbox one"
t_ok "a server move INBOX -> F12 arrives locally" within 15 has_local F12 "inbox one"
t_ok "and leaves INBOX locally" within 15 gone_local INBOX "inbox one"
quiet 3
since=$(log_since "$mark")
t_contains "the scoped sync widened" "$since" "syncing every folder"
t_not_contains "replayed as a move: no body fetched" "$since" "BODY.PEEK[]"
converged INBOX 0 "INBOX after the server move"
converged F12 2 "F12 after the server move"

# A server move from F14 into INBOX: only INBOX reports, and F14 is not synced. The message is
# copied into INBOX; F14 still holds it locally until a full sync (here SIGHUP's) deletes it.
mark=$(stat -c %s "$WLOG")
dovecot_doveadm move -u alice INBOX mailbox F14 header Subject "in F14"
t_ok "a server move F14 -> INBOX arrives locally" within 15 has_local INBOX "in F14"
quiet 3
t_ok "F14's copy waits for a full sync" has_local F14 "in F14"
kill -HUP "$WPID"
t_ok "which deletes it" within 20 gone_local F14 "in F14"
quiet 3
converged INBOX 1 "INBOX after the move in"
converged F14 0 "F14 after the move in"

watch_stop
ferry_sync test
t_contains "a sync afterwards changes nothing" "$T_OUT" "far->near +0 ~0 -0, near->far +0 ~0 -0"
if [[ $T_FAILED -gt 0 ]]; then
	echo "# watch's log (commands left out):"
	grep -vE '^[CS]: ' "$WLOG" | t__indent
fi

t_done
