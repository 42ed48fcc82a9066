#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# A POP3 account pulled into a Maildir, against Dovecot's POP3 server (the fixture's pop3s and
# pop3 listeners): `[channel isp] far = isp near = local sync = pull`.
#   1. ferry check: TLS, login, CAPA, UIDL and the message count, writing nothing.
#   2. pop3s (implicit TLS, verified against the fixture's CA): 3 messages downloaded with
#      exactly the bytes the server holds; a re-run downloads nothing (no RETR in the -v trace);
#      a fourth message arriving is downloaded alone; keep = yes (the default) leaves all 4 on
#      the server; with the uid map lost, nothing is downloaded again (a new uidvalidity, the
#      messages paired by identity).
#   3. STLS on the plain port; auth = user, apop and plain, each named in check's description.
#   4. A wrong password exits with the login failure's code and names the store; a wrong
#      ca_file fails TLS verification, a wrong pin too; a pin alone and password_command work.
#   5. A server without UIDL (Dovecot behind a tunnel that refuses UIDL): check says so, and
#      messages known by their headers and size are downloaded once, identical ones too.
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=../fixtures/dovecot.sh
. "$(dirname "${BASH_SOURCE[0]}")/../fixtures/dovecot.sh"

t_need_ferry
dovecot_start || exit 1
WORK=$DOVECOT_DIR/work
MAILDIR=$WORK/Mail
CONF=$WORK/ferry.conf
mkdir -p "$WORK"
# The uid map goes beside the states, under XDG_STATE_HOME.
export XDG_STATE_HOME=$WORK/xdg
MAP=$XDG_STATE_HOME/ferry/pop3-isp.sqlite

# write_conf [KEY = VALUE...]: the config, with extra lines in [pop3 isp] (the pop3s port
# unless a line gives another).
write_conf() {
	local port="port = $DOVECOT_POP3S_PORT"
	[[ " $* " == *" port = "* ]] && port=
	{
		printf '[pop3 isp]\nhost = 127.0.0.1\n%s\nuser = alice\npassword = secret\n' "$port"
		printf 'ca_file = %s\ntimeout = 20\n' "$DOVECOT_CA"
		printf '%s\n' "$@"
		printf '\n[maildir local]\npath = %s\n' "$MAILDIR"
		printf '\n[channel isp]\nfar = isp\nnear = local\nsync = pull\nstate = %s\n' \
			"$WORK/state/isp.sqlite"
	} >"$CONF"
	chmod 600 "$CONF"
}

seed() {
	make_message "$1" "$2" | dovecot_doveadm save -u alice
}

# The sha256 of each message, sorted: on the server (doveadm's text, after its "text:" line)
# and in the Maildir.
server_sums() {
	local uid
	for uid in $(dovecot_doveadm search -u alice mailbox INBOX all | awk '{print $2}'); do
		dovecot_doveadm fetch -u alice text mailbox INBOX uid "$uid" | tail -n +2 | sha256sum
	done | sort
}
local_sums() {
	local f
	for f in "$MAILDIR"/INBOX/new/* "$MAILDIR"/INBOX/cur/*; do
		[[ -f $f ]] && sha256sum <"$f"
	done | sort
}
local_count() {
	find "$MAILDIR/INBOX/new" "$MAILDIR/INBOX/cur" -type f 2>/dev/null | wc -l
}
retrs() {
	grep -c '^C: RETR ' <<<"$1"
}

seed 1 "First"
seed 2 "Second"
# Lines that POP3 must dot-stuff, a lone "." among them.
{
	make_message 3 "Third" 3000
	printf '.a line that starts with a dot\n..and two\n.\n'
} | dovecot_doveadm save -u alice

# --- 1: check ----------------------------------------------------------------------------
write_conf
t_ok "ferry check on pop3s exits 0" "$FERRY" -c "$CONF" check isp
t_contains "it says TLS and the login" "$T_OUT" "isp: pop3 127.0.0.1:$DOVECOT_POP3S_PORT, TLS"
t_contains "it shows CAPA" "$T_OUT" "isp: capabilities: CAPA TOP UIDL"
t_contains "it counts the messages" "$T_OUT" "isp: INBOX: 3 messages"
t_contains "it says UIDL works" "$T_OUT" "isp: UIDL: messages known by their unique ids"
t_ok "check writes no uid map" test ! -e "$MAP"

# --- 2: downloads over pop3s -------------------------------------------------------------
t_run "$FERRY" -c "$CONF" -v sync isp
out=$T_OUT
t_equal "the first sync exits 0" 0 "$T_RC"
t_equal "it downloads the 3 messages with 3 RETRs" 3 "$(retrs "$out")"
t_equal "3 messages in the Maildir" 3 "$(local_count)"
t_equal "with exactly the server's bytes" "$(server_sums)" "$(local_sums)"
t_ok "the uid map is made, mode 0600" test "$(stat -c %a "$MAP")" = 600
t_run "$FERRY" -c "$CONF" -v sync isp
t_equal "the second sync exits 0" 0 "$T_RC"
t_equal "and downloads nothing" 0 "$(retrs "$T_OUT")"
t_equal "still 3 in the Maildir" 3 "$(local_count)"
seed 4 "Fourth"
t_run "$FERRY" -c "$CONF" -v sync isp
t_equal "the sync after a fourth message exits 0" 0 "$T_RC"
t_equal "it downloads that one alone" 1 "$(retrs "$T_OUT")"
t_contains "by its number" "$T_OUT" "C: RETR 4"
t_equal "4 in the Maildir" 4 "$(local_count)"
t_equal "all with the server's bytes" "$(server_sums)" "$(local_sums)"
t_equal "keep = yes leaves all 4 on the server" 4 "$(dovecot_count alice INBOX)"
uidvalidity=$(sqlite3 "$MAP" 'SELECT uidvalidity FROM meta')
rm -f "$MAP" "$MAP".*
t_run "$FERRY" -c "$CONF" -v sync --dry-run isp
t_equal "a dry run without the uid map exits 0" 0 "$T_RC"
t_equal "it downloads nothing" 0 "$(retrs "$T_OUT")"
t_ok "and writes no uid map" test ! -e "$MAP"
t_run "$FERRY" -c "$CONF" -v sync isp
t_equal "with the uid map lost, the sync exits 0" 0 "$T_RC"
t_equal "and downloads nothing again (paired by identity)" 0 "$(retrs "$T_OUT")"
t_equal "still 4 in the Maildir" 4 "$(local_count)"
t_ok "the new map has a new uidvalidity" \
	test "$(sqlite3 "$MAP" 'SELECT uidvalidity FROM meta')" != "$uidvalidity"

# --- 3: STLS and the login mechanisms ----------------------------------------------------
write_conf "tls = starttls" "port = $DOVECOT_POP3_PORT"
t_ok "check over STLS on the plain port exits 0" "$FERRY" -c "$CONF" check isp
t_contains "it logged in over TLS" "$T_OUT" "isp: pop3 127.0.0.1:$DOVECOT_POP3_PORT, TLS"
t_contains "and counts 4" "$T_OUT" "isp: INBOX: 4 messages"
t_run "$FERRY" -c "$CONF" -v sync isp
t_equal "a sync over STLS exits 0" 0 "$T_RC"
t_contains "STLS was sent" "$T_OUT" "C: STLS"
t_equal "and downloads nothing new" 0 "$(retrs "$T_OUT")"
for how in "user USER" "apop APOP" "plain AUTH PLAIN"; do
	write_conf "auth = ${how%% *}"
	t_ok "auth = ${how%% *}: check exits 0" "$FERRY" -c "$CONF" check isp
	t_contains "auth = ${how%% *}: logged in with ${how#* }" "$T_OUT" \
		"logged in as alice (${how#* })"
done
write_conf "auth = apop"
t_run "$FERRY" -c "$CONF" -v check isp
t_not_contains "APOP's digest is not traced" "$T_OUT" "C: APOP alice"
write_conf "auth = plain"
t_run "$FERRY" -c "$CONF" -v check isp
t_not_contains "AUTH PLAIN's response is not traced" "$T_OUT" "C: AUTH PLAIN"

# --- 4: refusals -------------------------------------------------------------------------
write_conf
sed -i 's/^password = secret$/password = wrong/' "$CONF"
t_expect_exit 3 "a wrong password exits 3 (login refused)" "$FERRY" -c "$CONF" sync isp
t_contains "naming the store" "$T_OUT" "isp"
t_contains "and what the server refused" "$T_OUT" "isp: 127.0.0.1: login (AUTH PLAIN) refused: -ERR"
write_conf "auth = user"
sed -i 's/^password = secret$/password = wrong/' "$CONF"
t_expect_exit 3 "the same with USER/PASS" "$FERRY" -c "$CONF" sync isp
t_contains "naming PASS" "$T_OUT" "isp: 127.0.0.1: login (PASS) refused: -ERR"
t_expect_exit 3 "check with a wrong password exits 3 too" "$FERRY" -c "$CONF" check isp
write_conf
sed -i "s|^ca_file = .*|ca_file = $DOVECOT_WRONG_CA|" "$CONF"
t_expect_exit 3 "a wrong ca_file fails the TLS verification" "$FERRY" -c "$CONF" check isp
t_contains "it says the certificate is not trusted" "$T_OUT" "is not trusted"
write_conf "tls = starttls" "port = $DOVECOT_POP3_PORT"
sed -i "s|^ca_file = .*|ca_file = $DOVECOT_WRONG_CA|" "$CONF"
t_expect_exit 3 "so does STLS with a wrong ca_file" "$FERRY" -c "$CONF" check isp
t_contains "the same way" "$T_OUT" "is not trusted"
t_equal "nothing was lost meanwhile" 4 "$(local_count)"
write_conf "fingerprint = $DOVECOT_FINGERPRINT"
sed -i "/^ca_file = /d" "$CONF"
t_ok "a fingerprint pin alone is trusted" "$FERRY" -c "$CONF" check isp
write_conf "fingerprint = $DOVECOT_WRONG_FINGERPRINT"
sed -i "/^ca_file = /d" "$CONF"
t_expect_exit 3 "a wrong pin is refused" "$FERRY" -c "$CONF" check isp
t_contains "naming the pin" "$T_OUT" "does not match the pinned fingerprint"
write_conf "password_command = printf secret"
sed -i "/^password = /d" "$CONF"
t_ok "password_command gives the password" "$FERRY" -c "$CONF" check isp

# --- 5: a server without UIDL ------------------------------------------------------------
# Dovecot always has UIDL, so a tunnel relays its plain POP3 port and answers UIDL itself with
# -ERR (and leaves UIDL out of CAPA): everything else is Dovecot's own.
cat >"$WORK/no_uidl.pl" <<'PERL'
use strict;
use warnings;
use IO::Select;
use IO::Socket::INET;
my $server = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $ARGV[0], Timeout => 10)
	or die "connect: $!";
my $sel = IO::Select->new(\*STDIN, $server);
my %buf = (client => '', server => '');
my $deadline = time + 120;
sub out { my ($fh, $s) = @_; syswrite($fh, $s) == length $s or exit 1 }
while (time < $deadline) {
	for my $fh ($sel->can_read(1)) {
		my $from = $fh == $server ? 'server' : 'client';
		sysread($fh, $buf{$from}, 65536, length $buf{$from}) or exit 0;
		while ($buf{$from} =~ s/^([^\n]*\n)//) {
			my $line = $1;
			if ($from eq 'server') {
				out(\*STDOUT, $line) unless $line =~ /^UIDL\r?\n$/;
			} elsif ($line =~ /^UIDL/i) {
				out(\*STDOUT, "-ERR this server has no UIDL\r\n");
			} else {
				out($server, $line);
			}
		}
	}
}
PERL
cat >"$CONF" <<CONF
[pop3 old]
tunnel = perl $WORK/no_uidl.pl $DOVECOT_POP3_PORT
user = alice
password = secret
auth = user

[maildir local]
path = $WORK/Old

[channel old]
far = old
near = local
sync = pull
state = $WORK/state/old.sqlite
CONF
chmod 600 "$CONF"
MAILDIR=$WORK/Old
# Two messages alike in every byte: told apart by how many came before.
seed 9 "Twin"
seed 9 "Twin"
t_ok "check without UIDL exits 0" "$FERRY" -c "$CONF" check old
t_contains "it says the server has no UIDL" "$T_OUT" \
	"old: no UIDL: messages known by their headers and size"
t_contains "and counts 6" "$T_OUT" "old: INBOX: 6 messages"
t_run "$FERRY" -c "$CONF" -v sync old
t_equal "a sync without UIDL exits 0" 0 "$T_RC"
t_contains "it asked UIDL" "$T_OUT" "C: UIDL"
t_equal "it downloads all 6, both twins" 6 "$(retrs "$T_OUT")"
t_equal "with exactly the server's bytes" "$(server_sums)" "$(local_sums)"
t_run "$FERRY" -c "$CONF" -v sync old
t_equal "the next sync exits 0" 0 "$T_RC"
t_equal "and downloads nothing" 0 "$(retrs "$T_OUT")"
seed 10 "After"
t_run "$FERRY" -c "$CONF" -v sync old
t_equal "a new message without UIDL" 1 "$(retrs "$T_OUT")"
t_equal "is downloaded alone" 7 "$(local_count)"

t_done
