#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Moving in from mbsync and offlineimap: the real tools (Debian's isync and
# offlineimap3) keep a Maildir in step with the fixture Dovecot first, flags
# changed on both sides and local messages uploaded through them (so that the
# server holds their X-TUID / X-OfflineIMAP copies); then ferry, pointed at
# the same server and the same Maildir with the matching layout and no state,
# pairs every message: no APPEND, no body fetched, counts unchanged on both
# sides, and the flags of each message the same on both; then a move each
# way of the messages whose copies differ by such a line is a move. For
# mbsync with each SubFolders style (Verbatim, Maildir++, Legacy) and for
# offlineimap3. First, a state and an index from before identity version 2
# (rule 6) holding X-TUID messages: nothing copied, deleted or duplicated,
# also after a move and after the state is lost. FERRY_OLD=<a ferry built
# from before> writes them for real; without it they are made by rewriting
# this ferry's into the old schemas with version 1 identities.
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=sync_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

# A missing tool fails the test: it is what the test is about.
for tool in mbsync offlineimap; do
	if ! command -v "$tool" >/dev/null; then
		t_fail "$tool is not installed (contrib/common.sh installs isync and offlineimap3)"
		t_done
	fi
done

dovecot_start || exit 1
WORK=$DOVECOT_DIR/work
mkdir -p "$WORK"
TIMEOUT=120 # seconds for one run of a tool

# The folders of the test and their messages (subjects are unique).
FOLDERS=(INBOX Work Work/Projects)

# dir STYLE ROOT FOLDER: where the tool keeps FOLDER in that style.
dir() {
	local style=$1 root=$2 folder=$3
	if [[ $folder == INBOX ]]; then
		case $style in
		maildir++) printf '%s\n' "$root" ;;
		*) printf '%s/INBOX\n' "$root" ;;
		esac
		return
	fi
	case $style in
	verbatim) printf '%s/%s\n' "$root" "$folder" ;;
	maildir++) printf '%s/.%s\n' "$root" "${folder//\//.}" ;;
	legacy) printf '%s/%s\n' "$root" "${folder//\//\/.}" ;;
	offlineimap) printf '%s/%s\n' "$root" "${folder//\//.}" ;;
	esac
}

# local_count DIR: message files in DIR's cur/ and new/.
local_count() {
	find "$1/cur" "$1/new" -maxdepth 1 -type f 2>/dev/null | wc -l
}

# local_file DIR SUBJECT: the file of the message with that subject.
local_file() {
	grep -l -m1 -F "Subject: $2" "$1"/cur/* "$1"/new/* 2>/dev/null | head -n 1
}

# local_flags DIR SUBJECT: its flags as IMAP names, sorted, space-separated.
local_flags() {
	local f letters c out=()
	f=$(local_file "$1" "$2")
	[[ -n $f ]] || return 1
	letters=
	[[ $f == *:2,* ]] && letters=${f##*:2,}
	for ((i = 0; i < ${#letters}; i++)); do
		c=${letters:i:1}
		case $c in
		S) out+=('\Seen') ;;
		F) out+=('\Flagged') ;;
		R) out+=('\Answered') ;;
		T) out+=('\Deleted') ;;
		D) out+=('\Draft') ;;
		esac
	done
	printf '%s\n' "${out[@]}" | LC_ALL=C sort | tr '\n' ' ' | sed 's/ *$//'
}

# server_flags FOLDER SUBJECT: the same for the server's copy.
server_flags() {
	srv_flags alice "$1" "$2" | tr ' ' '\n' | grep -v '^$' | LC_ALL=C sort | tr '\n' ' ' |
		sed 's/ *$//'
}

# set_local_letters DIR SUBJECT LETTERS: the message gets exactly these flag
# letters, as a mail client does (moved into cur/).
set_local_letters() {
	local f base
	f=$(local_file "$1" "$2")
	base=$(basename "${f%%:2,*}")
	mv "$f" "$1/cur/$base:2,$3"
}

# local_new DIR N SUBJECT: a new local message, delivered into new/.
local_new() {
	local name
	mkdir -p "$1/tmp" "$1/new" "$1/cur"
	name="$(date +%s).M${RANDOM}P$$Q$2.testhost"
	make_message "$2" "$3" >"$1/tmp/$name"
	mv "$1/tmp/$name" "$1/new/$name"
}

# reset_server: alice's account empty again for the next tool.
reset_server() {
	dovecot_doveadm mailbox delete -u alice -r -s Work 2>/dev/null
	dovecot_doveadm expunge -u alice mailbox '*' all
}

# seed_server: three folders, nested, two of the messages flagged.
seed_server() {
	seed 1 INBOX "Inbox one"
	seed 2 INBOX "Inbox two"
	seed 3 Work "Work one"
	seed 4 Work/Projects "Project plan"
	seed 5 Work/Projects "Project budget"
	dovecot_doveadm flags add -u alice '\Seen' mailbox INBOX \
		uid "$(srv_uid alice INBOX 'Inbox one')"
	dovecot_doveadm flags add -u alice '\Flagged' mailbox Work/Projects \
		uid "$(srv_uid alice Work/Projects 'Project budget')"
}

# tool_run NAME CMD...: one run of a tool, which must succeed.
tool_run() {
	local name=$1
	shift
	t_run timeout "$TIMEOUT" "$@"
	if [[ $T_RC != 0 ]]; then
		t_fail "$name exits 0 (got $T_RC)"
		printf '%s\n' "$T_OUT" | tail -n 20 | t__indent
		return 1
	fi
}

# mbsync_conf STYLE ROOT FILE: an .mbsyncrc for alice and ROOT in that SubFolders style.
mbsync_conf() {
	local style=$1 root=$2 where
	case $style in
	verbatim) where="Path $root/
Inbox $root/INBOX
SubFolders Verbatim" ;;
	maildir++) where="Inbox $root
SubFolders Maildir++" ;;
	legacy) where="Path $root/
Inbox $root/INBOX
SubFolders Legacy" ;;
	esac
	cat >"$3" <<RC
IMAPAccount alice
Host localhost
Port $DOVECOT_IMAPS_PORT
User alice
Pass secret
SSLType IMAPS
CertificateFile $DOVECOT_CA

IMAPStore far
Account alice

MaildirStore near
$where

Channel test
Far :far:
Near :near:
Patterns *
Create Both
Expunge Both
SyncState *
RC
}

# offlineimap_conf ROOT FILE: an .offlineimaprc for alice and ROOT (its defaults: sep = .).
offlineimap_conf() {
	cat >"$2" <<RC
[general]
accounts = alice
metadata = $WORK/offlineimap-meta

[Account alice]
localrepository = near
remoterepository = far

[Repository near]
type = Maildir
localfolders = $1

[Repository far]
type = IMAP
remotehost = localhost
remoteport = $DOVECOT_IMAPS_PORT
ssl = yes
sslcacertfile = $DOVECOT_CA
remoteuser = alice
remotepass = secret
RC
}

# Dovecot without UIDPLUS: offlineimap3 marks what it uploads with an
# X-OfflineIMAP header only where it cannot learn the new uid otherwise.
CAPS_BEGIN='# sync_movein: no UIDPLUS'
no_uidplus() {
	cat >>"$DOVECOT_CONF" <<EOF
$CAPS_BEGIN
protocol imap {
  imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ NAMESPACE
}
EOF
	dovecot_doveadm reload
}
uidplus_again() {
	sed -i "/^$CAPS_BEGIN\$/,\$d" "$DOVECOT_CONF"
	dovecot_doveadm reload
}

# snapshot STYLE ROOT: per folder, the message counts and each message's
# flags on both sides, one line each.
snapshot() {
	local style=$1 root=$2 folder d
	for folder in "${FOLDERS[@]}"; do
		d=$(dir "$style" "$root" "$folder")
		printf '%s: server %s, local %s\n' "$folder" "$(dovecot_count alice "$folder")" \
			"$(local_count "$d")"
	done
}

# movein STYLE TOOL_CMD...: the whole story for one tool and style. The
# command syncs everything once.
movein() {
	local style=$1 root=$WORK/$1 layout=$1 folder d s before after trace mark
	shift
	[[ $style == verbatim || $style == maildir++ || $style == legacy ]] || layout=offlineimap
	reset_server
	seed_server
	mkdir -p "$root"

	tool_run "$style: first sync" "$@" || return
	t_equal "$style: the tool brought INBOX" 2 "$(local_count "$(dir "$style" "$root" INBOX)")"
	t_equal "$style: the tool brought Work/Projects" 2 \
		"$(local_count "$(dir "$style" "$root" Work/Projects)")"

	# Flags changed on both sides, and new local messages, through the tool.
	dovecot_doveadm flags add -u alice '\Flagged' mailbox INBOX \
		uid "$(srv_uid alice INBOX 'Inbox two')"
	set_local_letters "$(dir "$style" "$root" Work/Projects)" "Project plan" RS
	local_new "$(dir "$style" "$root" INBOX)" 21 "Local to inbox"
	local_new "$(dir "$style" "$root" Work/Projects)" 22 "Local to projects"
	set_local_letters "$(dir "$style" "$root" Work/Projects)" "Local to projects" F
	tool_run "$style: second sync" "$@" || return
	tool_run "$style: third sync" "$@" || return
	t_equal "$style: the tool took the server's flag" '\Flagged' \
		"$(local_flags "$(dir "$style" "$root" INBOX)" "Inbox two")"
	t_equal "$style: the tool took the local flags" '\Answered \Seen' \
		"$(server_flags Work/Projects "Project plan")"
	t_ok "$style: the tool uploaded the local messages" \
		test -n "$(srv_uid alice Work/Projects 'Local to projects')"
	t_ok "$style: and marked the server's copies ($MARKER)" \
		test -n "$(dovecot_doveadm -f flow fetch -u alice hdr mailbox Work/Projects \
			header Subject 'Local to projects' | grep -i "^$MARKER:")"
	[[ $style == offlineimap ]] && uidplus_again
	before=$(snapshot "$style" "$root")

	# ferry on the same server and Maildir, without a state.
	cat >"$WORK/$style.conf" <<CONF
[imap server]
host = 127.0.0.1
port = $DOVECOT_IMAPS_PORT
user = alice
password = secret
ca_file = $DOVECOT_CA
timeout = 20

[maildir laptop]
path = $root
layout = $layout

[channel test]
far = server
near = laptop
state = $WORK/$style.sqlite
CONF
	chmod 600 "$WORK/$style.conf"
	mark=$(dovecot_log_mark)
	t_run "$FERRY" -v -c "$WORK/$style.conf" sync test
	trace=$T_OUT
	t_equal "$style: ferry exits 0" 0 "$T_RC" || printf '%s\n' "$trace" | tail -n 20 | t__indent
	t_equal "$style: no APPEND in the trace" 0 \
		"$(grep -cE '^C: [^ ]+ (UID )?APPEND' <<<"$trace" || true)"
	t_equal "$style: no message saved on the server" 0 "$(saves_since "$mark")"
	t_equal "$style: no body asked for" 0 \
		"$(grep -cE '^C: .*BODY(\.PEEK)?\[\]' <<<"$trace" || true)"
	after=$(snapshot "$style" "$root")
	t_equal "$style: message counts unchanged on both sides" "$before" "$after"
	for folder in "${FOLDERS[@]}"; do
		d=$(dir "$style" "$root" "$folder")
		while IFS= read -r s; do
			[[ -n $s ]] || continue
			t_equal "$style: $folder '$s': flags equal on both sides" \
				"$(server_flags "$folder" "$s")" "$(local_flags "$d" "$s")"
		done < <(dovecot_doveadm -f tab fetch -u alice hdr.subject mailbox "$folder" all |
			sed 1d)
	done
	t_run "$FERRY" -c "$WORK/$style.conf" sync test
	t_contains "$style: a second ferry sync has nothing to do" "$T_OUT" \
		"test: far->near +0 ~0 -0, near->far +0 ~0 -0"

	# Moves of the messages whose copies differ by the tool's line, each way:
	# moved on the other side too, nothing sent again.
	dovecot_doveadm move -u alice Work mailbox Work/Projects header Subject "Local to projects"
	s=$(local_file "$(dir "$style" "$root" INBOX)" "Inbox one")
	d=$(dir "$style" "$root" Work)
	mv "$s" "$d/cur/$(basename "$s")"
	mark=$(dovecot_log_mark)
	t_run "$FERRY" -v -c "$WORK/$style.conf" sync test
	trace=$T_OUT
	t_equal "$style: moves: ferry exits 0" 0 "$T_RC" || printf '%s\n' "$trace" | tail | t__indent
	t_equal "$style: moves: no APPEND" 0 "$(grep -cE '^C: [^ ]+ (UID )?APPEND' <<<"$trace" || true)"
	t_equal "$style: moves: no body" 0 \
		"$(grep -cE '^C: .*BODY(\.PEEK)?\[\]' <<<"$trace" || true)" ||
		grep -E '^C: .*(BODY|FETCH|MOVE)|test:' <<<"$trace" | t__indent
	t_ok "$style: moves: the server's move was made locally" \
		test -n "$(local_file "$d" "Local to projects")"
	t_ok "$style: moves: the local move was made on the server" \
		test -n "$(srv_uid alice Work 'Inbox one')"
	t_equal "$style: moves: counts" "INBOX: server 2, local 2
Work: server 3, local 3
Work/Projects: server 2, local 2" "$(snapshot "$style" "$root")"
}

# v1_identity FILE: "HASH SIZE" of identity version 1 (rule 6 before the
# lines of other synchronisers were left out): SHA-256 of the CRLF header
# block and the CRLF size, every line counted.
v1_identity() {
	local hash size
	hash=$(sed -e 's/\r$//' "$1" | sed -n '1,/^$/p' | sed 's/$/\r/' | sha256sum)
	size=$(sed -e 's/\r$//' "$1" | sed 's/$/\r/' | wc -c)
	printf '%s %s\n' "${hash:0:64}" "$size"
}

# as_written_by_main ROOT STATE: the index and the state as the ferry before
# identity version 2 wrote them (schemas 6 and 3, version 1 identities), from
# what this ferry wrote. FERRY_OLD, a ferry built from before, writes them
# for real instead.
as_written_by_main() {
	local root=$1 state=$2 index=$1/..ferry-index.sqlite folder dir uid name sub v
	while IFS='|' read -r folder dir uid name sub; do
		v=$(v1_identity "$root/$dir/$sub/$name")
		sqlite3 "$index" "UPDATE messages SET hash = X'${v% *}', size = ${v#* }
			WHERE uid = $uid AND folder = (SELECT id FROM folders WHERE name = '$folder')"
		sqlite3 "$state" "UPDATE pairs SET far_id = X'${v% *}', near_id = X'${v% *}',
			size = ${v#* } WHERE near_uid = $uid
			AND folder_id = (SELECT id FROM folders WHERE name = '$folder')"
	done < <(sqlite3 "$index" "SELECT f.name, f.dir, m.uid, m.name, m.subdir
		FROM messages m JOIN folders f ON f.id = m.folder")
	sqlite3 "$index" "PRAGMA user_version = 6"
	sqlite3 "$state" "ALTER TABLE pairs DROP COLUMN id_version; ALTER TABLE pairs DROP COLUMN made; ALTER TABLE pairs DROP COLUMN placeholder; PRAGMA user_version = 3"
}

# A state and an index of the ferry before identity version 2, holding
# messages with X-TUID lines (mbsync's uploads, downloaded by that ferry):
# this ferry copies, deletes and duplicates nothing, and a move on the
# server still loses nothing.
upgrade() {
	local root=$WORK/upgrade conf=$WORK/upgrade.conf state=$WORK/upgrade.sqlite mark trace
	reset_server
	for n in 31 32 33; do
		make_message "$n" "Tuid $n" | sed "1a X-TUID: tuid${n}abcdefg" |
			dovecot_seed alice "$([[ $n == 33 ]] && echo Work || echo INBOX)"
	done
	seed 34 INBOX "Plain 34"
	cat >"$conf" <<CONF
[imap server]
host = 127.0.0.1
port = $DOVECOT_IMAPS_PORT
user = alice
password = secret
ca_file = $DOVECOT_CA
timeout = 20

[maildir laptop]
path = $root

[channel test]
far = server
near = laptop
state = $state
CONF
	chmod 600 "$conf"
	if [[ -n ${FERRY_OLD:-} ]]; then
		t_run "$FERRY_OLD" -c "$conf" sync test
	else
		t_run "$FERRY" -c "$conf" sync test
	fi
	t_equal "upgrade: the first sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
	[[ -n ${FERRY_OLD:-} ]] || as_written_by_main "$root" "$state"
	t_equal "upgrade: the old state is at schema 3" 3 \
		"$(sqlite3 "$state" 'PRAGMA user_version')"
	t_equal "upgrade: the old index is at schema 6" 6 \
		"$(sqlite3 "$root/..ferry-index.sqlite" 'PRAGMA user_version')"
	before="INBOX: server 3, local 3
Work: server 1, local 1"

	mark=$(dovecot_log_mark)
	t_run "$FERRY" -v -c "$conf" sync test
	trace=$T_OUT
	t_equal "upgrade: the new ferry exits 0" 0 "$T_RC" || printf '%s\n' "$trace" | tail | t__indent
	t_contains "upgrade: nothing to do" "$trace" "test: far->near +0 ~0 -0, near->far +0 ~0 -0"
	t_equal "upgrade: no APPEND" 0 "$(grep -cE '^C: [^ ]+ (UID )?APPEND' <<<"$trace" || true)"
	t_equal "upgrade: no body" 0 "$(grep -cE '^C: .*BODY(\.PEEK)?\[\]' <<<"$trace" || true)"
	t_equal "upgrade: nothing saved or expunged on the server" "" \
		"$(dovecot_log_since "$mark" | grep -E ': (save|expunge):')"
	FOLDERS=(INBOX Work)
	t_equal "upgrade: counts unchanged" "$before" "$(snapshot verbatim "$root")"
	# The state's version is said once for the tests, in its unit test.
	t_equal "upgrade: the state is at the new schema" \
		"$(sed -n 's/^#define STATE_VERSION //p' "$FERRY_SRC/tests/unit/test_state.c")" \
		"$(sqlite3 "$state" 'PRAGMA user_version')"

	# A move on the server and a flag locally, with pairs of version 1.
	dovecot_doveadm move -u alice Work mailbox INBOX header Subject "Tuid 31"
	set_local_letters "$root/Work" "Tuid 33" FS
	t_run "$FERRY" -c "$conf" sync test
	t_equal "upgrade: a sync after a move exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
	t_equal "upgrade: after the move, one copy of each on both sides" "INBOX: server 2, local 2
Work: server 2, local 2" "$(snapshot verbatim "$root")"
	t_ok "upgrade: the moved message is in the local Work" \
		test -n "$(local_file "$root/Work" "Tuid 31")"
	t_equal "upgrade: the local flags reached the server" '\Flagged \Seen' \
		"$(server_flags Work "Tuid 33")"

	# The state lost (its documented recovery: move it away): rule 7 pairs
	# again by identity, which the index must not give in version 1.
	mv "$state" "$state.lost"
	mark=$(dovecot_log_mark)
	t_run "$FERRY" -v -c "$conf" sync test
	trace=$T_OUT
	t_equal "upgrade: without the state, ferry exits 0" 0 "$T_RC" ||
		printf '%s\n' "$trace" | tail | t__indent
	t_equal "upgrade: without the state, no APPEND" 0 \
		"$(grep -cE '^C: [^ ]+ (UID )?APPEND' <<<"$trace" || true)"
	t_equal "upgrade: without the state, no body" 0 \
		"$(grep -cE '^C: .*BODY(\.PEEK)?\[\]' <<<"$trace" || true)"
	t_equal "upgrade: without the state, one copy of each on both sides" "INBOX: server 2, local 2
Work: server 2, local 2" "$(snapshot verbatim "$root")"
	FOLDERS=(INBOX Work Work/Projects)
}
upgrade

MARKER=X-TUID
for style in verbatim maildir++ legacy; do
	mbsync_conf "$style" "$WORK/$style" "$WORK/$style.mbsyncrc"
	movein "$style" mbsync -c "$WORK/$style.mbsyncrc" -a
done

MARKER=X-OfflineIMAP
offlineimap_conf "$WORK/offlineimap" "$WORK/offlineimaprc"
no_uidplus
movein offlineimap offlineimap -c "$WORK/offlineimaprc" -o -u basic
t_done
