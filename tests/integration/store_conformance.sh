#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The store conformance suite (tests/store/conformance.c) against IMAP: a throwaway Dovecot,
# then a throwaway Cyrus 3.6, each as alice over implicit TLS. The same cases run against the
# in-memory fake and a Maildir as unit/store_conformance_fake and _maildir.
#
# Run by ctest, or by hand as root:
#	STORE_CONFORMANCE=build/tests/store_conformance bash tests/integration/store_conformance.sh
set -uo pipefail # not -e: a failed assertion must not hide the ones after it

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
# shellcheck source=../fixtures/dovecot.sh
. "$repo/tests/fixtures/dovecot.sh"
# shellcheck source=../fixtures/cyrus.sh
. "$repo/tests/fixtures/cyrus.sh"

STORE_CONFORMANCE=${STORE_CONFORMANCE:-${FERRY_BUILD:-$repo/build}/tests/store_conformance}
if [[ ! -x $STORE_CONFORMANCE ]]; then
	t_fail "the test program exists" "expected an executable at $STORE_CONFORMANCE" \
		"(set STORE_CONFORMANCE=...)"
	t_done
fi

# conform SERVER PORT CA: the suite against that server.
conform() {
	CONFORMANCE_IMAP_PORT=$2 CONFORMANCE_IMAP_CA=$3 CONFORMANCE_USER=alice \
		CONFORMANCE_PASSWORD=secret T_TIMEOUT=300 \
		t_ok "the store conformance suite passes on $1" "$STORE_CONFORMANCE" imap
	printf '%s\n' "$T_OUT" | grep -E '^(Running|[0-9]+%|.*:(E|F):)' | sed 's/^/# /'
}

if dovecot_start; then
	conform Dovecot "$DOVECOT_IMAPS_PORT" "$DOVECOT_CA"
	dovecot_stop
else
	t_fail "a throwaway Dovecot starts" "see the messages above"
fi

if cyrus_start; then
	conform Cyrus "$CYRUS_IMAPS_PORT" "$CYRUS_CA"
	cyrus_stop
else
	t_fail "a throwaway Cyrus starts" "see the messages above"
fi

t_done
