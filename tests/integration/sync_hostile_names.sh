#!/usr/bin/env bash
# A server whose folder names decode to unsafe paths ("../escape", "/abs",
# "a/./b", a control character, a modified UTF-7 spelling of "..") must not make
# ferry write anything outside the Maildir root: those folders are skipped with
# a warning naming them, and the rest of the account still syncs.
#
# `sync_hostile_names.sh --server LOG` is the scripted server itself, reached
# through `tunnel =`; Dovecot refuses such names, so a real server cannot serve them.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ ${1:-} == --server ]]; then
	log=$2
	say() { printf '%s\r\n' "$@"; }
	say '* PREAUTH [CAPABILITY IMAP4rev1 UIDPLUS] scripted hostile server'
	while IFS= read -r line; do
		line=${line%$'\r'}
		printf '%s\n' "$line" >>"$log"
		tag=${line%% *}
		rest=${line#* }
		case ${rest^^} in
		CAPABILITY*) say '* CAPABILITY IMAP4rev1 UIDPLUS' "$tag OK done" ;;
		'LIST "" ""'*) say '* LIST (\Noselect) "/" ""' "$tag OK done" ;;
		LIST*)
			say '* LIST (\HasNoChildren) "/" INBOX' \
				'* LIST (\HasNoChildren) "/" "../escape"' \
				'* LIST (\HasNoChildren) "/" "/abs"' \
				'* LIST (\HasNoChildren) "/" "a/./b"' \
				'* LIST (\HasNoChildren) "/" "a/../../../outside"' \
				'* LIST (\HasNoChildren) "/" &AC4ALg-/x' \
				$'* LIST (\\HasNoChildren) "/" "ctl\x01name"' \
				'* LIST (\HasNoChildren) "/" Good' \
				"$tag OK done"
			;;
		SELECT* | EXAMINE*)
			say '* 0 EXISTS' '* 0 RECENT' '* FLAGS (\Seen \Answered \Flagged \Deleted \Draft)' \
				'* OK [PERMANENTFLAGS (\Seen \Answered \Flagged \Deleted \Draft \*)] ok' \
				'* OK [UIDVALIDITY 7] ok' '* OK [UIDNEXT 1] ok' "$tag OK [READ-WRITE] done"
			;;
		LOGOUT*) say '* BYE bye' "$tag OK done" && exit 0 ;;
		*) say "$tag OK done" ;;
		esac
	done
	exit 0
fi

: "${FERRY:?FERRY must point at the ferry binary}"
top=$(mktemp -d)
trap 'rm -rf "$top"' EXIT
mkdir -p "$top/inside"
log=$top/server.log
# A script, so the config line stays short whatever the checkout's path.
printf 'exec bash %q --server %q\n' "$(realpath "${BASH_SOURCE[0]}")" "$log" >"$top/tunnel.sh"
cat >"$top/ferry.conf" <<CONF
[imap hostile]
tunnel = sh $top/tunnel.sh
timeout = 10

[maildir laptop]
path = $top/inside/Mail

[channel test]
far = hostile
near = laptop
state = $top/inside/state.sqlite
CONF

touch "$top/marker"
sleep 1
t_expect_exit 0 "a sync against the hostile names finishes" "$FERRY" -c "$top/ferry.conf" sync
out=$T_OUT
for name in "../escape" "/abs" "a/./b" "a/../../../outside"; do
	t_contains "a warning names $name" "$out" "$name"
done
t_contains "the control character is shown escaped, not sent to the terminal" "$out" 'ctl\x01name'
t_ok "the safe folder Good was synced" test -d "$top/inside/Mail/Good/cur"
t_ok "INBOX was synced" test -d "$top/inside/Mail/INBOX/cur"
t_equal "nothing was written outside the Maildir root and the state" "" \
	"$(find "$top" -mindepth 1 -newer "$top/marker" ! -path "$top/inside*" ! -path "$log" -print)"
t_equal "no folder named escape or outside anywhere" "" \
	"$(find "$top" \( -name escape -o -name outside -o -name abs \) -print)"
t_not_contains "the server never saw a CREATE for an unsafe name" "$(cat "$log")" "CREATE"
t_done
