#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# ferry import mbsync, then ferry sync: moving in from mbsync with nothing copied.
#   1. Two accounts (alice and bob on the fixture Dovecot) kept in step by the real mbsync
#      (Debian's isync) with a .mbsyncrc as people write them: an IMAPAccount and IMAPStore per
#      account, Maildir stores, channels with Patterns, a Group; mail both ways, flags changed.
#   2. `ferry import mbsync` converts that file: exit 0, the settings it cannot map listed with
#      their lines (SyncState, PipelineDepth), the result 0600 when written with -o, and an
#      existing file never overwritten.
#   3. The first `ferry sync` on the converted config, with no ferry state, pairs everything:
#      no APPEND, no body downloaded, the message counts unchanged on both sides.
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=../fixtures/dovecot.sh
. "$(dirname "${BASH_SOURCE[0]}")/../fixtures/dovecot.sh"

: "${FERRY:?FERRY must point at the ferry binary}"
if ! command -v mbsync >/dev/null; then
	t_fail "mbsync is installed (contrib/test installs isync)"
	t_done
fi

dovecot_start || exit 1
WORK=$DOVECOT_DIR/work
mkdir -p "$WORK/mail/alice" "$WORK/mail/bob" "$WORK/mbsync"
RC=$WORK/mbsyncrc

for i in 1 2 3; do
	make_message "$i" "alice inbox $i" | dovecot_seed alice INBOX
	make_message "$((i + 10))" "alice work $i" | dovecot_seed alice Work
	make_message "$((i + 20))" "bob inbox $i" | dovecot_seed bob INBOX
done
make_message 30 "alice nested" | dovecot_seed alice Lists/ferry

cat >"$RC" <<RC
# What a user of two accounts writes.
Create Both
Expunge Both
SyncState *

IMAPAccount alice
Host localhost
Port $DOVECOT_IMAPS_PORT
User alice
PassCmd "echo secret"
SSLType IMAPS
CertificateFile $DOVECOT_CA
PipelineDepth 50

IMAPStore alice-remote
Account alice

MaildirStore alice-local
Path $WORK/mail/alice/
Inbox $WORK/mail/alice/INBOX
SubFolders Verbatim

Channel alice
Far :alice-remote:
Near :alice-local:
Patterns *
Sync All

IMAPAccount bob
Host localhost
Port $DOVECOT_IMAPS_PORT
User bob
Pass secret
SSLType IMAPS
CertificateFile $DOVECOT_CA

IMAPStore bob-remote
Account bob

MaildirStore bob-local
Path $WORK/mail/bob/
Inbox $WORK/mail/bob/INBOX
SubFolders Verbatim

Channel bob
Far :bob-remote:
Near :bob-local:
Patterns *

Group everyone
Channel alice
Channel bob
RC

# mbsync keeps its own state under ~/.mbsync unless told; SyncState * puts it in the Maildir.
export HOME=$WORK/home
mkdir -p "$HOME"

t_run mbsync -c "$RC" -a
t_equal "mbsync: the first run exits 0" 0 "$T_RC" || printf "%s\n" "$T_OUT" | head -n 20

# A message written locally goes up through mbsync (with its X-TUID header); flags change on
# both sides and travel through mbsync too.
d=$WORK/mail/alice/Work
name="$(date +%s).M1P$$.local"
make_message 40 "alice local upload" >"$d/tmp/$name" && mv "$d/tmp/$name" "$d/new/$name"
f=$(grep -rl "Subject: alice inbox 1" "$WORK"/mail/alice/INBOX/{cur,new} | head -n 1)
base=${f##*/}
mv "$f" "$WORK/mail/alice/INBOX/cur/${base%%:2,*}:2,FS"
uid=$(dovecot_doveadm -f tab search -u bob mailbox INBOX header Subject "bob inbox 2" | awk 'NR>1{print $2}')
dovecot_doveadm flags add -u bob '\Answered' mailbox INBOX uid "$uid"
t_run mbsync -c "$RC" -a
t_equal "mbsync: the second run exits 0" 0 "$T_RC"
t_equal "the local message is on the server" 4 "$(dovecot_count alice Work)"

count_local() { find "$WORK/mail/$1" -path '*/cur/*' -o -path '*/new/*' | grep -c -v '/\(cur\|new\)$'; }
before_alice_local=$(count_local alice)
before_bob_local=$(count_local bob)
before_server="$(dovecot_count alice INBOX) $(dovecot_count alice Work) $(dovecot_count alice Lists/ferry) $(dovecot_count bob INBOX)"
t_equal "mbsync put every message in alice's Maildir" 8 "$before_alice_local"

# --- the conversion -----------------------------------------------------------------------------

t_run "$FERRY" import mbsync "$RC"
t_equal "import to stdout exits 0" 0 "$T_RC"
t_contains "SyncState is listed with its line" "$T_OUT" "mbsyncrc:4: SyncState: not mapped"
t_contains "PipelineDepth is listed with its line" "$T_OUT" "mbsyncrc:13: PipelineDepth: not mapped"
t_contains "the group becomes a note on the command line" "$T_OUT" "ferry sync alice bob"

CONF=$WORK/ferry.conf
t_run "$FERRY" import -o "$CONF" mbsync "$RC"
t_equal "import -o exits 0" 0 "$T_RC"
t_equal "the result is 0600" 600 "$(stat -c %a "$CONF")"
t_run "$FERRY" import -o "$CONF" mbsync "$RC"
t_equal "an existing file is not overwritten: exit 2" 2 "$T_RC"
t_contains "and it says so" "$T_OUT" "already exists"
t_run "$FERRY" import mbsync "$WORK/no-such-file"
t_equal "a missing file: exit 2" 2 "$T_RC"
t_contains "named" "$T_OUT" "no-such-file: No such file or directory"

# --- the first ferry sync copies nothing ----------------------------------------------------------

sed -i "s|^\[channel alice\]|[channel alice]\nstate = $WORK/state/alice.sqlite|; s|^\[channel bob\]|[channel bob]\nstate = $WORK/state/bob.sqlite|" "$CONF"
t_run "$FERRY" -v -c "$CONF" sync
t_equal "the first ferry sync exits 0" 0 "$T_RC"
t_equal "no APPEND" 0 "$(grep -cE '^C: [^ ]+ APPEND' <<<"$T_OUT")"
t_equal "no body downloaded" 0 "$(grep -cE '^S: \* [0-9]+ FETCH .*BODY\[\] \{[0-9]+\}' <<<"$T_OUT")"
t_equal "alice's Maildir unchanged" "$before_alice_local" "$(count_local alice)"
t_equal "bob's Maildir unchanged" "$before_bob_local" "$(count_local bob)"
t_equal "the server unchanged" "$before_server" \
	"$(dovecot_count alice INBOX) $(dovecot_count alice Work) $(dovecot_count alice Lists/ferry) $(dovecot_count bob INBOX)"
t_run "$FERRY" -c "$CONF" sync
t_equal "a second ferry sync exits 0" 0 "$T_RC"
t_equal "and changes nothing" "" "$(grep -E '(far->near|near->far) \+[1-9]' <<<"$T_OUT")"

t_done
