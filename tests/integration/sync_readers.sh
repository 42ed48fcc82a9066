#!/usr/bin/env bash
# Other readers of the Maildir do not see ferry's files as mail: Dovecot,
# pointed at a ferry Maildir in either layout (verbatim = LAYOUT=fs, and
# maildir++), lists no mailbox of ferry's; notmuch with the one `new.ignore`
# the man page gives reads the mail and no file of ferry's. An index of an
# older ferry in <root>/.ferry/ moves to the root on the first run, and a run
# killed in the middle of that move loses no index and leaves no second one.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

sync_setup maildir++
seed 1 INBOX "Inbox one"
seed 2 Work "Work two"
seed 3 Work/Projects "Projects three"
ferry_sync test
t_equal "maildir++: the sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent

# A verbatim Maildir of the same account: a second store and channel.
VERBATIM=$WORK/Verbatim
sed -e "s|^path = $MAILDIR\$|path = $VERBATIM|" -e 's/^layout = maildir++$/layout = verbatim/' \
	-e "s|^state = $STATE\$|state = $WORK/state/verbatim.sqlite|" "$CONF" >"$WORK/verbatim.conf"
t_run "$FERRY" -c "$WORK/verbatim.conf" sync test
t_equal "verbatim: the sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent

# dovecot_sees DIR LAYOUT_SUFFIX: the mailboxes a Dovecot reading a copy of DIR
# lists (the copy is the mail user's; the Maildir stays root's).
dovecot_sees() {
	local view=$WORK/view
	rm -rf "$view"
	cp -a "$1" "$view"
	chown -R nobody:nogroup "$view"
	dovecot_doveadm -o "mail_location=maildir:$view$2" mailbox list -u alice | LC_ALL=C sort
}

for layout in maildir++ verbatim; do
	if [[ $layout == maildir++ ]]; then
		seen=$(dovecot_sees "$MAILDIR" "")
	else
		seen=$(dovecot_sees "$VERBATIM" ":LAYOUT=fs")
	fi
	t_contains "$layout: Dovecot lists the synced folders" "$seen" "Work/Projects"
	t_equal "$layout: Dovecot lists no mailbox of ferry's" "" "$(grep -i ferry <<<"$seen")"
done

# --- notmuch ---------------------------------------------------------------------
# notmuch_new ROOT [plain]: `notmuch new` over ROOT with the man page's
# new.ignore (plain: without), into a new database each time. The database
# lives outside ROOT: one left in ROOT/.notmuch by an earlier call would see
# the directories unchanged and read no file at all.
notmuch_new() {
	local db=$WORK/notmuch
	rm -rf "$db"
	mkdir -p "$db/db"
	printf '[database]\npath=%s\nmail_root=%s\n' "$db/db" "$1" >"$db/config"
	[[ ${2-} == plain ]] || NOTMUCH_CONFIG=$db/config notmuch config set new.ignore '/[.][.]ferry-/'
	NOTMUCH_CONFIG=$db/config notmuch new 2>&1
	NOTMUCH_CONFIG=$db/config notmuch new 2>&1
	NOTMUCH_CONFIG=$db/config notmuch count '*' 2>&1
}
if command -v notmuch >/dev/null; then
	for root in "$MAILDIR" "$VERBATIM"; do
		out=$(notmuch_new "$root")
		t_equal "notmuch over ${root##*/}: no note about ferry's files" "" \
			"$(grep -i 'ferry\|non-mail' <<<"$out")"
		t_equal "notmuch over ${root##*/}: indexes the 3 messages" 3 "$(tail -n 1 <<<"$out")"
	done
	t_contains "notmuch without new.ignore reads the index" "$(notmuch_new "$MAILDIR" plain)" \
		"..ferry-index.sqlite"
else
	t_fail "notmuch is installed (contrib/common.sh lists it)"
fi

# --- an index from an older ferry ----------------------------------------------------
# What ferry wrote before: <root>/.ferry/index.sqlite, its seal and lock.
uidvalidity() {
	sqlite3 -readonly "$1" "SELECT uidvalidity FROM folders WHERE name = 'Work/Projects'"
}
before=$(uidvalidity "$MAILDIR/..ferry-index.sqlite")
t_ok "the index is a file of the root, with Work/Projects in it" test -n "$before"
mkdir "$MAILDIR/.ferry"
for f in index.sqlite index.sqlite.seal; do
	mv "$MAILDIR/..ferry-$f" "$MAILDIR/.ferry/$f"
done
mv "$MAILDIR/..ferry-lock" "$MAILDIR/.ferry/lock"
seed 4 Work "Work four"
t_contains "old layout: Dovecot lists .ferry/ as a mailbox" "$(dovecot_sees "$MAILDIR" "")" ferry

indexes() {
	local n=0
	[[ -e $MAILDIR/.ferry/index.sqlite ]] && n=$((n + 1))
	[[ -e $MAILDIR/..ferry-index.sqlite ]] && n=$((n + 1))
	printf '%s\n' "$n"
}
for step in 1 2; do
	t_run env FERRY_CRASH_AT="migrate:$step" "$FERRY" -c "$CONF" sync test
	t_contains "killed at step $step of the move: the run was killed" "$T_OUT" "signal 9"
	t_equal "killed at step $step of the move: one index" 1 "$(indexes)"
done
t_ok "the index was moved by step 2" test -e "$MAILDIR/..ferry-index.sqlite"

ferry_sync test
t_equal "the run after the kills exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_not_contains "the index was kept, not rebuilt" "$T_OUT" "UIDVALIDITY"
t_equal "the index kept its UIDVALIDITY" "$before" "$(uidvalidity "$MAILDIR/..ferry-index.sqlite")"
t_ok "no .ferry/ is left" test ! -e "$MAILDIR/.ferry"
t_equal "Dovecot lists no mailbox of ferry's after the move" "" \
	"$(dovecot_sees "$MAILDIR" "" | grep -i ferry)"
t_equal "after the move: both messages of Work are local" 2 \
	"$(find "$MAILDIR/.Work/cur" "$MAILDIR/.Work/new" -type f | wc -l)"
t_equal "after the move: both are on the server" 2 "$(dovecot_count alice Work)"

t_done
