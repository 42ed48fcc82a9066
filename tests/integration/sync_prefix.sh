#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# A server without NAMESPACE (issue 13, items 7 and 8), against a real Courier-IMAP 5.0 that
# announces only IMAP4rev1 (tests/fixtures/courier.sh): every folder of the account is
# INBOX.<name>, and a top-level CREATE is refused.
#   1. Without `prefix`, a local top-level folder cannot be created on the server: the run
#      fails for it, and does so on every run.
#   2. With `prefix = INBOX.`, the server's INBOX.Work pairs with the local Work, the local
#      top-level Local and Local/Deep are created as INBOX.Local and INBOX.Local.Deep, INBOX
#      stays INBOX; a second run has nothing to do.
#   3. A nested local folder a/b is created as INBOX.a.b, which leaves INBOX.a \Noselect:
#      with no local a, nothing is said and nothing is created again; with a local a holding
#      mail, one error a run says it stays unsynced, and INBOX.a is never CREATEd.
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=../fixtures/courier.sh
. "$(dirname "${BASH_SOURCE[0]}")/../fixtures/courier.sh"

: "${FERRY:?FERRY must point at the ferry binary}"
T_TIMEOUT=60

COURIER_CAPABILITY=IMAP4rev1 courier_start || exit 1
WORK=$COURIER_DIR/work
MAILDIR=$WORK/Mail
STATE=$WORK/state/test.sqlite
CONF=$WORK/ferry.conf
mkdir -p "$WORK"

# write_conf [PREFIX]: $CONF for channel "test", with `prefix = PREFIX` when given.
write_conf() {
	{
		printf '[imap courier]\ntunnel = %s\ntimeout = 20\n' "$COURIER_TUNNEL"
		[[ -n ${1:-} ]] && printf 'prefix = %s\n' "$1"
		printf '\n[maildir laptop]\npath = %s\n\n[channel test]\nfar = courier\n' "$MAILDIR"
		printf 'near = laptop\nstate = %s\n' "$STATE"
	} >"$CONF"
	chmod 600 "$CONF"
}

# md_put FOLDER NAME: a new local message, written as a mail client would.
md_put() {
	local d=$MAILDIR/$1
	mkdir -p "$d/tmp" "$d/cur" "$d/new"
	printf 'From: me@local.test\nSubject: %s\nMessage-ID: <%s@local.test>\n\nbody\n' "$2" "$2" \
		>"$d/tmp/$2"
	mv "$d/tmp/$2" "$d/new/$2"
}

md_count() {
	find "$MAILDIR/$1/cur" "$MAILDIR/$1/new" -type f 2>/dev/null | wc -l | tr -d ' '
}

# creates: the CREATE commands of the last run's trace (-v), one a line.
creates() {
	grep -aE '(^|[^A-Za-z])[0-9]+ CREATE ' <<<"$T_OUT" | sed -E 's/.* CREATE //' | tr -d '\r'
}

t_ok "the server offers no NAMESPACE" bash -c \
	"! perl '$COURIER_IMAPC' --tunnel '$COURIER_TUNNEL' CAPABILITY | grep -q NAMESPACE"
printf 'From: s@courier.test\r\nSubject: in\r\nMessage-ID: <in@courier.test>\r\n\r\nx\r\n' |
	courier_seed INBOX
printf 'From: s@courier.test\r\nSubject: w\r\nMessage-ID: <w@courier.test>\r\n\r\nx\r\n' |
	courier_seed INBOX.Work
md_put Local local1
md_put Local/Deep deep1

# --- 1. without prefix ---------------------------------------------------------------------
write_conf
t_expect_exit 1 "no prefix: the run fails" "$FERRY" -c "$CONF" sync
t_matches "no prefix: the top-level CREATE of Local is refused" "$T_OUT" \
	'^ferry: error: Local: creating on far: cannot create folder "Local"'
t_equal "no prefix: nothing of Local on the server" "" \
	"$(courier_imap 'LIST "" "*"' | grep -a 'Local')"
# Without a prefix the server's INBOX.Work was taken for INBOX/Work: start afresh.
rm -rf "$WORK/state" "${MAILDIR:?}"
md_put Local local1
md_put Local/Deep deep1

# --- 2. prefix = INBOX. ----------------------------------------------------------------------
write_conf INBOX.
t_expect_exit 0 "prefix: the run exits 0" "$FERRY" -c "$CONF" sync
t_equal "prefix: INBOX.Local created and holds the local message" 1 \
	"$(courier_count INBOX.Local)"
t_equal "prefix: INBOX.Local.Deep created and holds the local message" 1 \
	"$(courier_count INBOX.Local.Deep)"
t_equal "prefix: INBOX.Work paired with the local Work" 1 "$(md_count Work)"
t_equal "prefix: INBOX stays INBOX" 1 "$(md_count INBOX)"
t_equal "prefix: nothing of INBOX/Work" "" "$(ls -d "$MAILDIR/INBOX/Work" 2>/dev/null)"
t_expect_exit 0 "prefix: a second run exits 0" "$FERRY" -v -c "$CONF" sync
t_matches "prefix: and changes nothing" "$T_OUT" \
	'^test: far->near \+0 ~0 -0, near->far \+0 ~0 -0'
t_equal "prefix: and creates nothing" "" "$(creates)"

# --- 3. a \Noselect parent -------------------------------------------------------------------
md_put a/b ab1
t_expect_exit 0 "noselect: a/b is created" "$FERRY" -v -c "$CONF" sync
t_matches "noselect: the trace shows its CREATE" "$(creates)" '^"?INBOX\.a\.b"?$'
t_equal "noselect: as INBOX.a.b, holding its message" 1 "$(courier_count INBOX.a.b)"
t_matches "noselect: which leaves INBOX.a \\Noselect" "$(courier_imap 'LIST "" "INBOX.a"')" \
	'Noselect'
t_expect_exit 0 "noselect: the next run exits 0" "$FERRY" -v -c "$CONF" sync
t_equal "noselect: and creates nothing" "" "$(creates)"
md_put a a1
for run in 1 2; do
	t_expect_exit 1 "noselect: local a with mail, run $run exits 1" "$FERRY" -v -c "$CONF" sync
	t_equal "noselect: run $run: one error for a" 1 "$(grep -c '^ferry: error: a: ' <<<"$T_OUT")"
	t_matches "noselect: run $run: it says the server's folder holds no mail" "$T_OUT" \
		'^ferry: error: a: on far \(courier\) this folder cannot hold mail'
	t_equal "noselect: run $run: nothing CREATEd" "" "$(creates)"
	t_equal "noselect: run $run: the local message of a is kept" 1 "$(md_count a)"
done

t_done
