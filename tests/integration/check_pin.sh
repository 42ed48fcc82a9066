#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Pinning a self-signed server is one copy and paste: `ferry check` on a store without
# ca_file fails (exit 3) and prints `fingerprint = sha256:...`, the certificate's real
# SHA-256 as `openssl x509 -noout -fingerprint -sha256` prints it; that line pasted into
# the config makes the same check pass. For EC and RSA certificates, implicit TLS and STARTTLS.
#
# Run by ctest (FERRY = the binary), or by hand as root: tests/integration/check_pin.sh
set -uo pipefail # not -e: a failed assertion must not hide the ones after it

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
# shellcheck source=../fixtures/dovecot.sh
. "$repo/tests/fixtures/dovecot.sh"

t_need_ferry

# Nothing of the user's: no config, state or home directory outside a temp dir.
home=$(mktemp -d "${TMPDIR:-/tmp}/ferry-check-pin.XXXXXX") || exit 1
trap 'rm -rf -- "$home"' EXIT # dovecot_start adds its own stop to this trap
export HOME=$home XDG_CONFIG_HOME=$home/.config XDG_STATE_HOME=$home/.local/state
unset FERRY_CONFIG

# store NAME < BODY: writes $HOME/NAME.ini holding one [imap NAME] section.
store() {
	{
		printf '[imap %s]\n' "$1"
		cat
		printf 'timeout = 10\n'
	} >"$HOME/$1.ini"
	chmod 600 "$HOME/$1.ini" # it holds a password
}

# pin_by_copy NAME TLS PORT: the whole round, on the Dovecot running now.
pin_by_copy() {
	local name=$1 tls=$2 port=$3 line openssl_fp
	store "$name" <<-EOF
		host = 127.0.0.1
		port = $port
		tls = $tls
		user = alice
		password = secret
	EOF
	t_expect_exit 3 "$name: a self-signed certificate without ca_file exits 3" \
		"$FERRY" -c "$HOME/$name.ini" check "$name"
	t_matches "$name: says it is not trusted" "$T_OUT" "^ferry: error: $name: .*not trusted"
	line=$(grep -oE 'fingerprint = sha256:[0-9A-Fa-f:]+' <<<"$T_OUT" | head -n 1)
	if ! t_matches "$name: prints the line to paste" "$line" \
		'^fingerprint = sha256:([0-9A-F]{2}:){31}[0-9A-F]{2}$'; then
		t__indent <<<"$T_OUT"
		return 1
	fi
	openssl_fp=$(openssl x509 -noout -fingerprint -sha256 -in "$DOVECOT_CA")
	t_equal "$name: it is the certificate's, as openssl prints it" \
		"fingerprint = sha256:${openssl_fp#*=}" "$line"

	store "$name-pinned" <<-EOF
		host = 127.0.0.1
		port = $port
		tls = $tls
		user = alice
		password = secret
		$line
	EOF
	t_expect_exit 0 "$name: the pasted line makes the check pass" \
		"$FERRY" -c "$HOME/$name-pinned.ini" check "$name-pinned"
	t_contains "$name: pinned, it logs in and prints the capabilities" "$T_OUT" "IMAP4rev1"
}

for key in ec rsa; do
	if ! DOVECOT_CERT_KEY=$key dovecot_start; then
		t_fail "a throwaway Dovecot with an $key certificate starts" "see the messages above"
		continue
	fi
	case $key in
	ec) algorithm=id-ecPublicKey ;;
	rsa) algorithm=rsaEncryption ;;
	esac
	t_contains "the server certificate is $key" \
		"$(openssl x509 -noout -text -in "$DOVECOT_CA")" "Public Key Algorithm: $algorithm"
	pin_by_copy "$key-implicit" implicit "$DOVECOT_IMAPS_PORT"
	pin_by_copy "$key-starttls" starttls "$DOVECOT_IMAP_PORT"
	dovecot_stop "$DOVECOT_DIR"
done

t_done
