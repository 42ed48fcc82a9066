#!/usr/bin/env bash
# store.h is the only door between sync/ and the stores: sync/ calls the store_*() functions,
# never the driver table (s->driver->x), and never reads a driver's configuration or
# capability bits, which belong to the drivers (store/imap/conf.h, caps.h,
# store/maildir/conf.h). sync/config.c fills the configuration and is the exception.
#
#	bash tests/lint/store_door.sh [REPO]
set -uo pipefail

repo=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
cd "$repo" || exit 2

# Files still being moved onto the store_*() functions; each leaves this list when it does
# ('^$' matches no grep -n line: none left).
pending='^$'

found=$(grep -nE -- '->driver->|[.>](imap|maildir)\.[a-z_]+|STORE_(IMAP|MAILDIR)\b|\bCAP_[A-Z_]+\b|->caps\b' \
	sync/*.c sync/*.h | grep -v '^sync/config\.c:' | grep -vE "$pending")
if [[ -n $found ]]; then
	printf 'sync/ goes past store.h (use the store_*() and store_conf_*() functions):\n%s\n' \
		"$found"
	exit 1
fi
echo "sync/ sees the stores through store.h only"
