#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Folder renames (DESIGN rule 11) against a real Cyrus 3.6 (tests/fixtures/cyrus.sh), whose
# RENAME keeps UIDVALIDITY as Dovecot's does, under its INBOX. prefix and "." separator: a
# folder renamed on the server, with a child, is renamed locally; a directory moved locally
# is renamed on the server; neither sends a message again.
# shellcheck source=cyrus_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/cyrus_lib.sh"

# sync_v: a sync with the -v trace, in T_OUT.
sync_v() {
	t_run "$FERRY" -v -c "$CONF" sync test
}

# appends OUTPUT, bodies OUTPUT: APPEND commands and FETCH responses with a whole body in a
# -v trace.
appends() {
	grep -c 'C: [0-9A-Za-z]* APPEND' <<<"$1" || true
}
bodies() {
	grep -c 'S: \* [0-9]* FETCH (.*BODY\[\] {' <<<"$1" || true
}

# local_count FOLDER: messages in a local folder.
local_count() {
	find "$MAILDIR/$1/cur" "$MAILDIR/$1/new" -maxdepth 1 -type f 2>/dev/null | wc -l
}

# Cyrus's UIDVALIDITY is the second a folder was made in: a parent and its child made in the
# same second cannot be told apart when both move, and ferry then makes no guess (renames.c).
# Each folder here is made in a second of its own, as folders made by hand are.
next_second() {
	local now
	now=$(date +%s)
	while (($(date +%s) == now)); do sleep 0.1; done
}
next_second
for i in 1 2; do
	printf 'From: a@example.org\nSubject: Team %s\nMessage-ID: <team%s@c>\n\nbody %s\n' \
		"$i" "$i" "$i" | cyrus_seed alice INBOX.Team
done
next_second
printf 'From: a@example.org\nSubject: Sub\nMessage-ID: <sub@c>\n\nsub\n' |
	cyrus_seed alice INBOX.Team.Sub
sync_v
t_equal "initial sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_equal "initial sync: both folders local" "2 1" "$(local_count Team) $(local_count Team/Sub)"

cyrus__as alice 'RENAME "INBOX.Team" "INBOX.Crew"' >/dev/null
sync_v
t_equal "server rename: sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_contains "server rename: said" "$T_OUT" "Team: renamed to Crew on far; renaming it on near"
t_equal "server rename: no body downloaded" 0 "$(bodies "$T_OUT")"
t_ok "server rename: the local Team is gone" test ! -e "$MAILDIR/Team"
t_equal "server rename: both folders renamed locally" "2 1" \
	"$(local_count Crew) $(local_count Crew/Sub)"

mkdir -p "$MAILDIR/Old"
mv "$MAILDIR/Crew" "$MAILDIR/Old/Crew"
sync_v
t_equal "local rename: sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_contains "local rename: said" "$T_OUT" "Crew: renamed to Old/Crew on near; renaming it on far"
t_equal "local rename: nothing uploaded" 0 "$(appends "$T_OUT")"
t_equal "local rename: both folders renamed on the server" "2 1" \
	"$(cyrus_count alice INBOX.Old.Crew) $(cyrus_count alice INBOX.Old.Crew.Sub)"
t_not_contains "local rename: INBOX.Crew is gone" \
	"$(cyrus__as alice 'LIST "" "INBOX.Crew*"')" "INBOX.Crew"
t_run "$FERRY" -c "$CONF" sync test
t_contains "the next sync changes nothing" "$T_OUT" "far->near +0 ~0 -0, near->far +0 ~0 -0"

t_done
