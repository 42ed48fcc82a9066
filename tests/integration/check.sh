#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# `ferry check STORE` against a real Dovecot: every way to reach a server (implicit TLS,
# STARTTLS, plaintext when asked for, a tunnel), every way to trust it (CA file, pinned
# fingerprint), and every way it fails (bad password, untrusted certificate, wrong pin,
# nothing listening, unknown store), with the exit status and message the user sees.
#
# Run by ctest (FERRY = the binary), or by hand as root: tests/integration/check.sh
set -uo pipefail # not -e: a failed assertion must not hide the ones after it

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
# shellcheck source=../fixtures/dovecot.sh
. "$repo/tests/fixtures/dovecot.sh"

t_need_ferry

dovecot_start || {
	t_fail "a throwaway Dovecot starts" "see the messages above"
	t_done
}

# Nothing of the user's: no config, state or home directory outside the temp dir.
export HOME=$DOVECOT_DIR/home XDG_CONFIG_HOME=$DOVECOT_DIR/home/.config
export XDG_STATE_HOME=$DOVECOT_DIR/home/.local/state
unset FERRY_CONFIG
mkdir -p "$HOME"

# store NAME < BODY: writes $DOVECOT_DIR/NAME.ini holding one [imap NAME] section.
store() {
	{
		printf '[imap %s]\n' "$1"
		cat
		printf 'timeout = 10\n'
	} >"$DOVECOT_DIR/$1.ini"
	chmod 600 "$DOVECOT_DIR/$1.ini" # it holds a password
}

# expect_check CODE DESC NAME: `ferry check NAME` with the config written by `store NAME`
# exits CODE; its output is left in T_OUT.
expect_check() {
	t_expect_exit "$1" "$2" "$FERRY" -c "$DOVECOT_DIR/$3.ini" check "$3"
}

# expect_failure NAME REASON: the last run printed "ferry: error: NAME: ...REASON...".
expect_failure() {
	t_matches "$1: says why, naming the store" "$T_OUT" "^ferry: error: $1: .*$2"
}

log_mark=$(dovecot_log_mark)

# --- ways in ---------------------------------------------------------------------------------

store implicit-ip <<EOF
host = 127.0.0.1
port = $DOVECOT_IMAPS_PORT
tls = implicit
user = alice
password = secret
ca_file = $DOVECOT_CA
EOF
expect_check 0 "implicit TLS to 127.0.0.1 with ca_file" implicit-ip
t_contains "implicit-ip: prints the capabilities" "$T_OUT" "IMAP4rev1"
t_contains "implicit-ip: capabilities are the ones after login" "$T_OUT" "QRESYNC"
t_not_contains "implicit-ip: no error" "$T_OUT" "ferry: error"

t_expect_exit 0 "check without a store name checks every store" \
	"$FERRY" -c "$DOVECOT_DIR/implicit-ip.ini" check
t_contains "check (all): prints the capabilities" "$T_OUT" "IMAP4rev1"

store implicit-localhost <<EOF
host = localhost
port = $DOVECOT_IMAPS_PORT
tls = implicit
user = alice
password = secret
ca_file = $DOVECOT_CA
EOF
expect_check 0 "implicit TLS to localhost (a name in the certificate)" implicit-localhost
t_contains "implicit-localhost: prints the capabilities" "$T_OUT" "IMAP4rev1"
t_contains "implicit-localhost: capabilities are the ones after login" "$T_OUT" "QRESYNC"

store starttls <<EOF
host = 127.0.0.1
port = $DOVECOT_IMAP_PORT
tls = starttls
user = alice
password = secret
ca_file = $DOVECOT_CA
EOF
expect_check 0 "STARTTLS with ca_file" starttls
t_contains "starttls: prints the capabilities" "$T_OUT" "IMAP4rev1"

store pinned <<EOF
host = 127.0.0.1
port = $DOVECOT_IMAPS_PORT
tls = implicit
user = alice
password = secret
fingerprint = sha256:$DOVECOT_FINGERPRINT
EOF
expect_check 0 "a pinned fingerprint that matches trusts the server without a CA" pinned
t_contains "pinned: prints the capabilities" "$T_OUT" "IMAP4rev1"

store password-command <<EOF
host = 127.0.0.1
port = $DOVECOT_IMAPS_PORT
tls = implicit
user = alice
password_command = echo secret
ca_file = $DOVECOT_CA
EOF
expect_check 0 "password_command supplies the password" password-command
t_contains "password-command: prints the capabilities" "$T_OUT" "IMAP4rev1"

# The tunnel's stdout must be a pipe: Dovecot's imap, started as root with a socket on fd 1 (a
# socketpair), refuses with "* BAD [ALERT] imap binary must not be started from inetd" (seen
# on 2.3.19; a socket on stdin is fine).
store tunnel <<EOF
tunnel = doveadm -c $DOVECOT_CONF exec imap -u alice
EOF
expect_check 0 "tunnel: IMAP over a command's stdin/stdout, PREAUTH" tunnel
t_contains "tunnel: prints the capabilities" "$T_OUT" "IMAP4rev1"

store plaintext <<EOF
host = 127.0.0.1
port = $DOVECOT_IMAP_PORT
tls = none
user = alice
password = secret
EOF
expect_check 0 "tls = none, explicitly configured, logs in in plaintext" plaintext
t_contains "plaintext: prints the capabilities" "$T_OUT" "IMAP4rev1"

# --- ways it fails ---------------------------------------------------------------------------

store wrong-password <<EOF
host = 127.0.0.1
port = $DOVECOT_IMAPS_PORT
tls = implicit
user = alice
password = not-the-secret-9f3a
ca_file = $DOVECOT_CA
EOF
expect_check 3 "a wrong password exits 3" wrong-password
expect_failure wrong-password "login refused"
t_not_contains "wrong-password: the password is not printed" "$T_OUT" "not-the-secret-9f3a"

store untrusted-system <<EOF
host = 127.0.0.1
port = $DOVECOT_IMAPS_PORT
tls = implicit
user = alice
password = secret
EOF
expect_check 3 "a self-signed certificate is not trusted by the system store" untrusted-system
expect_failure untrusted-system "not trusted"

store untrusted-wrong-ca <<EOF
host = 127.0.0.1
port = $DOVECOT_IMAPS_PORT
tls = implicit
user = alice
password = secret
ca_file = $DOVECOT_WRONG_CA
EOF
expect_check 3 "a certificate not signed by ca_file is not trusted" untrusted-wrong-ca
expect_failure untrusted-wrong-ca "not trusted"

store untrusted-starttls <<EOF
host = 127.0.0.1
port = $DOVECOT_IMAP_PORT
tls = starttls
user = alice
password = secret
ca_file = $DOVECOT_WRONG_CA
EOF
expect_check 3 "STARTTLS checks the certificate too" untrusted-starttls
expect_failure untrusted-starttls "not trusted"

store wrong-pin <<EOF
host = 127.0.0.1
port = $DOVECOT_IMAPS_PORT
tls = implicit
user = alice
password = secret
fingerprint = sha256:$DOVECOT_WRONG_FINGERPRINT
EOF
expect_check 3 "a pinned fingerprint that does not match exits 3" wrong-pin
expect_failure wrong-pin "does not match"

closed_port=$(dovecot_free_port)
store closed-port <<EOF
host = 127.0.0.1
port = $closed_port
tls = implicit
user = alice
password = secret
ca_file = $DOVECOT_CA
EOF
expect_check 3 "nothing listening on the port exits 3" closed-port
expect_failure closed-port "cannot connect"

t_expect_exit 2 "a store that is not in the config exits 2" \
	"$FERRY" -c "$DOVECOT_DIR/implicit-ip.ini" check no-such-store
t_contains "no-such-store: names the store" "$T_OUT" "no-such-store"

t_expect_exit 2 "a config file that does not exist exits 2" \
	"$FERRY" -c "$DOVECOT_DIR/no-such-file.ini" check

# --- and it changed nothing ------------------------------------------------------------------

changes=$(dovecot_log_since "$log_mark" | grep -cE ': (save|copy from [^:]*|expunge|flag_change): ')
t_equal "check saved, copied, expunged or flagged nothing on the server" 0 "$changes"

t_done
