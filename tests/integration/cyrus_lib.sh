# shellcheck shell=bash
# shellcheck source-path=SCRIPTDIR
# Shared by the sync tests against a real Cyrus 3.6 (tests/fixtures/cyrus.sh): a Cyrus of
# their own, a ferry config with one channel `test` between alice's account and a Maildir
# (nothing in it says "Cyrus": ferry takes the INBOX. prefix and the "." separator from
# NAMESPACE), and the helpers every such test uses. CYRUS_EXTRA_CONF, when set, goes into
# imapd.conf (see the fixture).
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=../fixtures/cyrus.sh
. "$(dirname "${BASH_SOURCE[0]}")/../fixtures/cyrus.sh"

: "${FERRY:?FERRY must point at the ferry binary}"
T_TIMEOUT=120

cyrus_start || exit 1
WORK=$CYRUS_DIR/work
MAILDIR=$WORK/Mail
STATE=$WORK/state/test.sqlite
CONF=$WORK/ferry.conf
mkdir -p "$WORK"
cat >"$CONF" <<CONF
[imap cyrus]
host = 127.0.0.1
port = $CYRUS_IMAPS_PORT
user = alice
password = secret
ca_file = $CYRUS_CA
timeout = 20

[maildir laptop]
path = $MAILDIR

[channel test]
far = cyrus
near = laptop
state = $STATE
CONF
chmod 600 "$CONF"

ferry_sync() {
	t_run "$FERRY" -c "$CONF" sync
}

# md_write FOLDER NAME: stdin becomes a new local message, written as a mail client would.
md_write() {
	local d=$MAILDIR/$1
	mkdir -p "$d/tmp" "$d/cur" "$d/new"
	cat >"$d/tmp/$2" && mv "$d/tmp/$2" "$d/new/$2"
}
