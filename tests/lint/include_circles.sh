#!/usr/bin/env bash
# No include circle inside sync/ or store/imap/ (a module is a .c and its .h): each module
# includes only modules below it, so a file can be read, tested and replaced on its own.
# tsort(1) finds the circles.
#
#	bash tests/lint/include_circles.sh [REPO]
set -uo pipefail

repo=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
cd "$repo" || exit 2

status=0
for dir in sync store/imap; do
	edges=$(for f in "$dir"/*.[ch]; do
		from=${f%.*}
		sed -n "s|^#include \"\\($dir/[^/\"]*\\)\\.h\".*|\\1|p" "$f" |
			while read -r to; do
				[[ $to != "$from" ]] && printf '%s %s\n' "$from" "$to"
			done
	done)
	if ! out=$(printf '%s\n' "$edges" | tsort 2>&1 >/dev/null) || [[ -n $out ]]; then
		printf '%s/: modules include each other:\n%s\n' "$dir" "$out"
		status=1
	fi
done
[[ $status == 0 ]] && echo "no include circle in sync/ or store/imap/"
exit $status
