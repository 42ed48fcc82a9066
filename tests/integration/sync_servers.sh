#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# One sync suite, the same cases on every real server: sync_servers.sh SERVER, with SERVER
#	dovecot         Dovecot 2.3 as the other tests see it (CONDSTORE, QRESYNC, MOVE, UIDPLUS)
#	dovecot-plain   the same Dovecot announcing none of CONDSTORE, QRESYNC, MOVE, UIDPLUS,
#	                ENABLE (DOVECOT_CAPABILITY)
#	cyrus           Cyrus 3.6 (tests/fixtures/cyrus.sh): INBOX. prefix, "." separator
#	courier         Courier-IMAP 5.0 (tests/fixtures/courier.sh) through `tunnel =`: no
#	                CONDSTORE, QRESYNC, MOVE or LITERAL+; INBOX. prefix, "." separator
# The server side is seen and changed only through tests/tools/imapc.pl, an IMAP client, as
# another mail client would; nothing here knows a server's own tools. Each case asserts the
# result on both sides:
#	1. new messages both ways
#	2. flags both ways, and a keyword set on the server (all four keep keywords)
#	3. deletions both ways (delete = both)
#	4. a move between folders both ways: on the server UID MOVE where offered, else COPY,
#	   STORE \Deleted, EXPUNGE; locally a rename
#	5. new folders both ways, a nested one on each side
#	6. a UIDVALIDITY change: a folder deleted and made again on the server with the same mail
#	   (Courier also: its courierimapuiddb removed)
#	7. kills: rounds of changes on both sides, each followed by a sync SIGKILLed at a random
#	   point (FERRY_CRASH_AT, or kill -9 after a random delay) and a clean one; then nothing
#	   lost, nothing duplicated, both sides as the model says (folder, Message-ID, flags).
#	   CI: at least FERRY_TEST_KILLS (default 3) kills; nightly (FERRY_NIGHTLY=1): 30.
#	   FERRY_TEST_SEED replays a run.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# md_* helpers and make_message; sync_setup (Dovecot only) is not used here.
# shellcheck source=sync_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

T_TIMEOUT=120
SERVER=${1:-}
IMAPC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../tools" && pwd)/imapc.pl

if [[ ${FERRY_NIGHTLY:-0} == 1 ]]; then
	WANT_KILLS=${FERRY_TEST_KILLS:-30}
else
	WANT_KILLS=${FERRY_TEST_KILLS:-3}
fi
SEED=${FERRY_TEST_SEED:-$(((RANDOM << 15) | RANDOM))}
RANDOM=$SEED
echo "# $SERVER: seed $SEED (FERRY_TEST_SEED=$SEED replays this run), $WANT_KILLS kills wanted"

# --- the server -------------------------------------------------------------------------
# SV_CONN: imapc.pl's arguments to reach alice; SV_PREFIX, SV_SEP: how the server spells a
# folder; STORE_CONF: the [imap server] section's keys.
case $SERVER in
dovecot | dovecot-plain)
	if [[ $SERVER == dovecot-plain ]]; then
		export DOVECOT_CAPABILITY=$DOVECOT_PLAIN_CAPABILITY
	fi
	dovecot_start || exit 1
	DIR=$DOVECOT_DIR
	SV_CONN=(--port "$DOVECOT_IMAP_PORT" --user alice --pass secret)
	SV_PREFIX='' SV_SEP=/
	STORE_CONF="host = 127.0.0.1
port = $DOVECOT_IMAPS_PORT
user = alice
password = secret
ca_file = $DOVECOT_CA"
	;;
cyrus)
	# shellcheck source=../fixtures/cyrus.sh
	. "$(dirname "${BASH_SOURCE[0]}")/../fixtures/cyrus.sh"
	cyrus_start || exit 1
	DIR=$CYRUS_DIR
	SV_CONN=(--port "$CYRUS_IMAP_PORT" --user alice --pass "$CYRUS_PASSWORD")
	SV_PREFIX=$CYRUS_PREFIX SV_SEP=$CYRUS_SEPARATOR
	STORE_CONF="host = 127.0.0.1
port = $CYRUS_IMAPS_PORT
user = alice
password = $CYRUS_PASSWORD
ca_file = $CYRUS_CA"
	;;
courier)
	# shellcheck source=../fixtures/courier.sh
	. "$(dirname "${BASH_SOURCE[0]}")/../fixtures/courier.sh"
	courier_start || exit 1
	DIR=$COURIER_DIR
	SV_CONN=(--tunnel "$COURIER_TUNNEL")
	SV_PREFIX=$COURIER_PREFIX SV_SEP=$COURIER_SEPARATOR
	STORE_CONF="tunnel = $COURIER_TUNNEL"
	;;
*)
	echo "usage: $0 dovecot | dovecot-plain | cyrus | courier" >&2
	exit 2
	;;
esac

WORK=$DIR/work
MAILDIR=$WORK/Mail
CONF=$WORK/ferry.conf
mkdir -p "$WORK" "$MAILDIR"
cat >"$CONF" <<CONF
[imap server]
$STORE_CONF
timeout = 20

[maildir laptop]
path = $MAILDIR

[channel test]
far = server
near = laptop
state = $WORK/state/test.sqlite
create = both
delete = both
max_delete = 1000
CONF
chmod 600 "$CONF"

# sync_ok WHAT: a clean sync; asserts exit 0 and shows the output if not; then snap.
sync_ok() {
	t_run "$FERRY" -c "$CONF" sync test
	t_equal "$1: ferry sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
	snap
}

# --- the server side, through imapc.pl ----------------------------------------------------
sv() {
	perl "$IMAPC" "${SV_CONN[@]}" "$@"
}
# sv_name FOLDER: the server's spelling of a canonical folder name (Lists/Dev).
sv_name() {
	if [[ ${1^^} == INBOX ]]; then
		printf 'INBOX\n'
	else
		printf '%s%s\n' "$SV_PREFIX" "${1//\//$SV_SEP}"
	fi
}
# sv_q FOLDER: the server name of FOLDER as a quoted string.
sv_q() {
	local v
	v=$(sv_name "$1")
	v=${v//\\/\\\\}
	printf '"%s"' "${v//\"/\\\"}"
}
sv_has_cap() {
	sv CAPABILITY | grep -a '^\* CAPABILITY' | grep -qw -- "$1"
}
# sv_folders: the canonical names of the server's selectable folders, sorted.
sv_folders() {
	sv 'LIST "" "*"' | tr -d '\r' | perl -ne '
		next unless /^\* LIST \(([^)]*)\) (?:"(?:[^"\\]|\\.)*"|NIL) (?:"((?:[^"\\]|\\.)*)"|(\S+))$/;
		next if $1 =~ /\\Noselect|\\NonExistent/i;
		my $n = defined $2 ? $2 : $3; $n =~ s/\\(.)/$1/g;
		if (uc $n ne "INBOX") { $n = substr($n, length $ENV{SV_PREFIX})
			if $ENV{SV_PREFIX} ne "" && index($n, $ENV{SV_PREFIX}) == 0;
			$n = join "/", split /\Q$ENV{SV_SEP}\E/, $n }
		print "$n\n"' | sort
}
export SV_PREFIX SV_SEP
# The FETCH answers of a session of EXAMINE and UID FETCH pairs, one pair per folder named in
# the arguments, as lines "FOLDER UID N LETTERS [KEYWORDS...]": N is the number of the
# message's Message-ID (<N.hash@ferry.test>), LETTERS its flags as Maildir letters (D F R S)
# or "-".
# shellcheck disable=SC2016 # Perl, not shell
SV_PARSE='
my @folders = @ARGV; @ARGV = (); local $/; my $all = <STDIN>; my @msgs;
my %sys = ("\\Draft" => "D", "\\Flagged" => "F", "\\Answered" => "R", "\\Seen" => "S");
for my $l (split /(?<=\r\n)(?=\* |C\d+ )/, $all) {
	if ($l =~ /^C(\d+) OK/) {
		my $f = $folders[int(($1 - 1) / 2)];
		print map { "$f $_\n" } @msgs; @msgs = (); next;
	}
	$l =~ /^\* \d+ FETCH \((.*)\)\r\n\z/s or next;
	my $x = $1; my ($uid) = $x =~ /UID (\d+)/; my ($fl) = $x =~ /FLAGS \(([^)]*)\)/;
	my ($id) = $x =~ /Message-ID:\s*<(\d+)\./i; $id //= "?";
	my (@l, @kw);
	for (split / /, $fl // "") {
		next if /^\\(Recent|Deleted)$/i;
		if (exists $sys{$_}) { push @l, $sys{$_} } elsif (!/^\\/) { push @kw, $_ }
	}
	push @msgs, sprintf("%s %s %s%s", $uid, $id, (join("", sort @l) || "-"),
		join("", map { " $_" } sort @kw));
}'
# sv_fetch FOLDER...: "FOLDER UID N LETTERS [KEYWORDS...]" for each message of each FOLDER, in
# one session.
sv_fetch() {
	local f
	local -a cmds=()
	for f in "$@"; do
		cmds+=("EXAMINE $(sv_q "$f")"
			'UID FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])')
	done
	sv "${cmds[@]}" | perl -e "$SV_PARSE" "$@"
}
# sv_lines: "FOLDER N LETTERS" for every message on the server.
sv_lines() {
	local -a folders
	mapfile -t folders < <(sv_folders)
	sv_fetch "${folders[@]}" | awk '{ print $1, $3, $4 }'
}
# sv_uid FOLDER N: the uid of message N in FOLDER.
sv_uid() {
	sv_fetch "$1" | awk -v n="$2" '$3 == n { print $2; exit }'
}
# sv_append FOLDER N SUBJECT [FLAGS]: a generated message, stored as another client would.
sv_append() {
	local tmp rc=0
	tmp=$(mktemp) || return 1
	make_message "$2" "$3" | sed 's/$/\r/' >"$tmp"
	sv "APPEND $(sv_q "$1") (${4:-}) {0}" "@$tmp" >/dev/null || rc=1
	rm -f "$tmp"
	return "$rc"
}
sv_create() {
	sv "CREATE $(sv_q "$1")" >/dev/null
}
# sv_store FOLDER N +FLAGS|-FLAGS FLAG...
sv_store() {
	local uid
	uid=$(sv_uid "$1" "$2")
	[[ -n $uid ]] || return 1
	sv "SELECT $(sv_q "$1")" "UID STORE $uid $3 (${*:4})" >/dev/null
}
# sv_expunge FOLDER N: deleted by another client (no UID EXPUNGE: not every server has UIDPLUS).
sv_expunge() {
	local uid
	uid=$(sv_uid "$1" "$2")
	[[ -n $uid ]] || return 1
	sv "SELECT $(sv_q "$1")" "UID STORE $uid +FLAGS.SILENT (\\Deleted)" EXPUNGE >/dev/null
}
# sv_move FOLDER N TO: UID MOVE where the server offers it, else COPY, STORE, EXPUNGE.
SV_MOVE=0
sv_has_cap MOVE && SV_MOVE=1
sv_move() {
	local uid
	uid=$(sv_uid "$1" "$2")
	[[ -n $uid ]] || return 1
	if ((SV_MOVE)); then
		sv "SELECT $(sv_q "$1")" "UID MOVE $uid $(sv_q "$3")" >/dev/null
	else
		sv "SELECT $(sv_q "$1")" "UID COPY $uid $(sv_q "$3")" \
			"UID STORE $uid +FLAGS.SILENT (\\Deleted)" EXPUNGE >/dev/null
	fi
}
# sv_uidvalidity FOLDER
sv_uidvalidity() {
	sv "STATUS $(sv_q "$1") (UIDVALIDITY)" | tr -d '\r' |
		sed -n 's/^\* STATUS .*UIDVALIDITY \([0-9]*\).*/\1/p'
}
# sv_recreate FOLDER: the folder deleted and made again, with the same messages and flags.
sv_recreate() {
	local tmp f flags rc=0
	local -a cmds
	tmp=$(mktemp -d) || return 1
	sv "EXAMINE $(sv_q "$1")" 'UID FETCH 1:* (FLAGS BODY.PEEK[])' | perl -0777 -e '
		my $dir = shift; my $all = <STDIN>; my $i = 0;
		while ($all =~ /^\* \d+ FETCH \(/mg) {
			my $rest = substr($all, pos($all));
			my ($fl) = $rest =~ /^[^\r\n{]*FLAGS \(([^)]*)\)/;
			$rest =~ /BODY\[\] \{(\d+)\}\r\n/ or next;
			my $body = substr($rest, $+[0], $1);
			$fl = join " ", grep { !/^\\Recent$/i } split / /, $fl // "";
			$i++;
			open(my $m, ">:raw", "$dir/$i.eml") or die; print $m $body; close $m;
			open(my $g, ">", "$dir/$i.flags") or die; print $g $fl; close $g;
		}' "$tmp" || rc=1
	cmds=("DELETE $(sv_q "$1")" "CREATE $(sv_q "$1")")
	for f in "$tmp"/*.eml; do
		[[ -e $f ]] || continue
		flags=$(cat "${f%.eml}.flags")
		cmds+=("APPEND $(sv_q "$1") ($flags) {0}" "@$f")
	done
	((rc)) || sv "${cmds[@]}" >/dev/null || rc=1
	rm -rf "$tmp"
	return "$rc"
}

# --- the local side ------------------------------------------------------------------------
# md_lines: "FOLDER N LETTERS" for every local message, sorted.
md_lines() {
	local d folder
	while IFS= read -r d; do
		d=${d%/cur}
		folder=${d#"$MAILDIR"/}
		grep -H -m1 -i '^Message-ID:' "$d"/cur/* "$d"/new/* 2>/dev/null |
			awk -v folder="$folder" '{
				i = index(tolower($0), ":message-id:")
				path = substr($0, 1, i - 1); id = substr($0, i + 12)
				sub(/^ *</, "", id); sub(/\..*/, "", id)
				info = ""; j = index(path, ":2,"); if (j) info = substr(path, j + 3)
				gsub(/[^DFRS]/, "", info); if (info == "") info = "-"
				print folder, id, info
			}'
	done < <(find "$MAILDIR" -name '.*' -prune -o -type d -name cur -print)
}
md_folders() {
	find "$MAILDIR" -name '.*' -prune -o -type d -name cur -print |
		sed -e "s|^$MAILDIR/||" -e 's|/cur$||' | sort
}
# md_path FOLDER N: the local file of message N in FOLDER.
md_path() {
	local d
	d=$(md_dir "$1")
	grep -l -m1 -i "^Message-ID: <$2\\." "$d"/cur/* "$d"/new/* 2>/dev/null | head -n 1
}
# md_setflags FOLDER N LETTERS: a mail reader changes the flags in place.
md_setflags() {
	local f d
	f=$(md_path "$1" "$2")
	[[ -n $f ]] || return 1
	d=$(dirname "$(dirname "$f")")
	mv "$f" "$d/cur/$(basename "${f%%:2,*}"):2,$3"
}
md_delete() {
	local f
	f=$(md_path "$1" "$2")
	[[ -n $f ]] && rm -- "$f"
}
# md_move FROM N TO: refiled with mv, same file name.
md_move() {
	local f to
	f=$(md_path "$1" "$2")
	[[ -n $f ]] || return 1
	to=$(md_dir "$3")
	mkdir -p "$to/cur" "$to/new" "$to/tmp"
	mv -- "$f" "$to/$(basename "$(dirname "$f")")/$(basename "$f")"
}
subj() {
	printf 'Message %s on %s\n' "$1" "$SERVER"
}
# md_new FOLDER N [LETTERS]
md_new() {
	if [[ $# -ge 3 ]]; then md_write "$1" "$2" "$(subj "$2")" "$3"; else md_write "$1" "$2" "$(subj "$2")"; fi
}
sv_new() {
	sv_append "$1" "$2" "$(subj "$2")" "${3:-}"
}

# snap: both sides now, as sorted "FOLDER N LETTERS" lines in SNAP_L and SNAP_S.
snap() {
	SNAP_L=$(md_lines | sort)
	SNAP_S=$(sv_lines | sort)
}
# both FOLDER N LETTERS WHAT: message N is in FOLDER on both sides, with those flags (snap);
# LETTERS "*": whatever its flags.
both() {
	local line="$1 $2 $3" end=$'\n'
	if [[ $3 == "*" ]]; then
		line="$1 $2 " end=
	fi
	t_contains "$4: locally" $'\n'"$SNAP_L"$'\n' $'\n'"$line$end"
	t_contains "$4: on the server" $'\n'"$SNAP_S"$'\n' $'\n'"$line$end"
}
# neither FOLDER N WHAT: message N is in FOLDER on neither side (snap).
neither() {
	t_not_contains "$3: not locally" $'\n'"$SNAP_L" $'\n'"$1 $2 "
	t_not_contains "$3: not on the server" $'\n'"$SNAP_S" $'\n'"$1 $2 "
}
# same_sides WHAT: both sides hold the same messages (folder, Message-ID, flags), each once
# (snap).
same_sides() {
	t_equal "$1: no duplicate locally" "" "$(cut -d' ' -f2 <<<"$SNAP_L" | sort | uniq -d)"
	t_equal "$1: no duplicate on the server" "" "$(cut -d' ' -f2 <<<"$SNAP_S" | sort | uniq -d)"
	t_equal "$1: the same messages and flags on both sides" "$SNAP_L" "$SNAP_S"
}

t_expect_exit 0 "ferry is built with the crash hook" "$FERRY" --version
t_contains "--version says test hooks" "$T_OUT" "test hooks"
t_run "$FERRY" -c "$CONF" check server
t_equal "check: the server answers" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
if [[ $SERVER == dovecot-plain ]]; then
	for cap in CONDSTORE QRESYNC MOVE UIDPLUS ENABLE; do
		t_not_contains "check: the server does not announce $cap" \
			"$(grep capabilities <<<"$T_OUT")" " $cap"
	done
fi
echo "# server side: MOVE=$SV_MOVE; $(grep capabilities <<<"$T_OUT")"

# --- 1: new messages both ways -------------------------------------------------------------
echo "# case 1 at ${SECONDS} s"
sv_create Work
sv_new INBOX 1
sv_new INBOX 2 '\Seen'
sv_new Work 3
md_new INBOX 4
md_new Work 5 S
sync_ok "new"
both INBOX 1 - "new: server message 1"
both INBOX 2 S "new: server message 2 (seen)"
both Work 3 - "new: server message 3 in Work"
both INBOX 4 - "new: local message 4"
both Work 5 S "new: local message 5 (seen) in Work"
same_sides "new"

# --- 2: flags both ways, a keyword from the server ------------------------------------------
echo "# case 2 at ${SECONDS} s"
t_ok "flags: the server flags message 1" sv_store INBOX 1 +FLAGS '\Flagged'
t_ok "flags: the server sets a keyword on message 3" sv_store Work 3 +FLAGS '$Label1'
# 5 went up in the last run: its pair must be recorded then (on Courier too, whose APPEND
# announces nothing: case 3), or a first pairing now would merge the flags of both sides.
t_ok "flags: the server clears \Seen on message 5 (uploaded in the last run)" \
	sv_store Work 5 -FLAGS '\Seen'
t_ok "flags: message 4 is read locally" md_setflags INBOX 4 S
t_ok "flags: message 2 is flagged and marked replied locally" md_setflags INBOX 2 FRS
sync_ok "flags"
both INBOX 1 F "flags: server's \\Flagged on 1"
both INBOX 4 S "flags: local seen on 4"
both INBOX 2 FRS "flags: local flagged and replied on 2"
both Work 5 - "flags: server's removal of \Seen on 5"
t_contains "flags: the keyword stays on the server" "$(sv_fetch Work)" '$Label1'
kw=$(sqlite3 "$MAILDIR/..ferry-index.sqlite" "SELECT coalesce(m.keywords, '') FROM messages m
	JOIN folders f ON f.id = m.folder WHERE f.name = 'Work'" 2>&1)
t_contains "flags: the keyword is in the local index" "$kw" '$Label1'
t_ok "flags: message 3 is read locally" md_setflags Work 3 S
sync_ok "flags again"
t_contains "flags: a local change keeps the server's keyword" "$(sv_fetch Work)" 'S $Label1'
both Work 3 S "flags: local seen on 3"
same_sides "flags"

# --- 3: deletions both ways ---------------------------------------------------------------
echo "# case 3 at ${SECONDS} s"
# 7 goes up in the set-up run and is deleted locally: the next run deletes it on the server.
# Courier tells a session of an APPENDed message only at its next command that checks the
# mailbox (no "* N EXISTS" before the APPEND's OK; RFC 3501 6.3.11 says SHOULD): ferry's read
# back of the upload needs a NOOP first there, or 7 stays unpaired and comes back.
sv_new INBOX 6
md_new INBOX 7
sync_ok "deletions: setup"
t_ok "deletions: message 6 is deleted on the server" sv_expunge INBOX 6
t_ok "deletions: message 7 is deleted locally" md_delete INBOX 7
sync_ok "deletions"
neither INBOX 6 "deletions: 6"
neither INBOX 7 "deletions: 7"
same_sides "deletions"

# --- 4: moves both ways ---------------------------------------------------------------------
echo "# case 4 at ${SECONDS} s"
before=$(basename "$(md_path INBOX 1)")
t_ok "moves: message 1 is moved into Work on the server" sv_move INBOX 1 Work
t_ok "moves: message 5 is moved into INBOX locally" md_move Work 5 INBOX
sync_ok "moves"
both Work 1 F "moves: 1 in Work"
neither INBOX 1 "moves: 1 out of INBOX"
both INBOX 5 "*" "moves: 5 in INBOX"
neither Work 5 "moves: 5 out of Work"
t_equal "moves: the local file of 1 was renamed, not downloaded again" "$before" \
	"$(basename "$(md_path Work 1)")"
same_sides "moves"

# --- 5: new folders both ways, nested ones ---------------------------------------------------
echo "# case 5 at ${SECONDS} s"
sv_create Projects
sv_new Projects 8
sv_create Lists/Dev
sv_new Lists/Dev 9
md_new Local 10
md_new Local/Sub 11 F
sync_ok "folders"
t_contains "folders: Projects made locally" "$(md_folders)" Projects
t_contains "folders: Lists/Dev made locally" "$(md_folders)" Lists/Dev
t_contains "folders: Local made on the server" "$(sv_folders)" Local
t_contains "folders: Local/Sub made on the server" "$(sv_folders)" Local/Sub
both Projects 8 - "folders: 8 in Projects"
both Lists/Dev 9 - "folders: 9 in Lists/Dev"
both Local 10 - "folders: 10 in Local"
both Local/Sub 11 F "folders: 11 in Local/Sub"
same_sides "folders"
sync_ok "folders: the next run"
same_sides "folders: the next run"

# --- 6: UIDVALIDITY changes ------------------------------------------------------------------
echo "# case 6 at ${SECONDS} s"
sv_new Work 12 '\Seen'
sync_ok "uidvalidity: setup"
want=$SNAP_L
old=$(sv_uidvalidity Work)
t_ok "uidvalidity: Work is deleted and made again on the server" sv_recreate Work
new=$(sv_uidvalidity Work)
t_ok "uidvalidity: a new UIDVALIDITY ($old -> $new)" test -n "$new" -a "$old" != "$new"
sync_ok "uidvalidity"
t_equal "uidvalidity: nothing lost or duplicated locally" "$want" "$SNAP_L"
t_equal "uidvalidity: nothing lost or duplicated on the server" "$want" "$SNAP_S"
sync_ok "uidvalidity: the next run"
same_sides "uidvalidity: the next run"
if [[ $SERVER == courier ]]; then
	# Courier's own way: its uid database of the folder removed, the folder renumbered.
	old=$(sv_uidvalidity Work)
	t_ok "uidvalidity: Courier's courierimapuiddb of Work removed" \
		rm "$COURIER_MAILDIR/.Work/courierimapuiddb"
	new=$(sv_uidvalidity Work)
	t_ok "uidvalidity: a new UIDVALIDITY ($old -> $new)" test -n "$new" -a "$old" != "$new"
	sync_ok "uidvalidity: uiddb"
	t_equal "uidvalidity: uiddb: nothing lost or duplicated locally" "$want" "$SNAP_L"
	t_equal "uidvalidity: uiddb: nothing lost or duplicated on the server" "$want" "$SNAP_S"
fi

# --- 7: kills with work both ways -----------------------------------------------------------
echo "# case 7 at ${SECONDS} s"
FOLDERS=(INBOX Work Lists/Dev)
declare -A WHERE=() FLAGS=() TOUCHED=()
while read -r f n l; do
	[[ $l == - ]] && l=
	WHERE[$n]=$f FLAGS[$n]=$l
done < <(md_lines)
NEXT=100
ACTIONS=$WORK/actions.log
: >"$ACTIONS"
say() {
	printf '%s s: %s\n' "$SECONDS" "$*" >>"$ACTIONS"
}
# pick WORD...: one of them in REPLY; never in a subshell (RANDOM would be reseeded).
pick() {
	local a=("$@")
	REPLY=${a[RANDOM % ${#a[@]}]}
}
# untouched: in REPLY, a message no change of this round touched yet; false if none.
untouched() {
	local ns=() n
	for n in "${!WHERE[@]}"; do [[ -z ${TOUCHED[$n]:-} ]] && ns+=("$n"); done
	((${#ns[@]})) && pick "${ns[@]}"
}
toggle() { # toggle LETTERS LETTER: LETTERS with LETTER added or removed, in order
	local s=$1
	if [[ $s == *"$2"* ]]; then s=${s//$2/}; else s+=$2; fi
	printf '%s\n' "$(fold -w1 <<<"$s" | sort | tr -d '\n')"
}
changes() {
	local i n f l to flag
	TOUCHED=()
	for ((i = 0; i < 2; i++)); do
		n=$NEXT NEXT=$((NEXT + 1))
		pick "${FOLDERS[@]}"
		f=$REPLY
		pick "" S F FS
		l=$REPLY
		if [[ -n $l ]]; then md_new "$f" "$n" "$l"; else md_new "$f" "$n"; fi
		WHERE[$n]=$f FLAGS[$n]=$l TOUCHED[$n]=new
		say "new local $n in $f ($l)"
		n=$NEXT NEXT=$((NEXT + 1))
		pick "${FOLDERS[@]}"
		f=$REPLY
		sv_new "$f" "$n" || say "FAILED: sv_new $f $n"
		WHERE[$n]=$f FLAGS[$n]='' TOUCHED[$n]=new
		say "new server $n in $f"
	done
	for ((i = 0; i < 4; i++)); do
		untouched || break
		n=$REPLY f=${WHERE[$REPLY]}
		case $((RANDOM % 6)) in
		0)
			pick F S
			l=$(toggle "${FLAGS[$n]}" "$REPLY")
			md_setflags "$f" "$n" "$l" || say "FAILED: md_setflags $f $n $l"
			FLAGS[$n]=$l
			say "flags local $n -> '$l'"
			;;
		1)
			pick F S
			flag='\Seen'
			[[ $REPLY == F ]] && flag='\Flagged'
			l=$(toggle "${FLAGS[$n]}" "$REPLY")
			if [[ ${#l} -gt ${#FLAGS[$n]} ]]; then
				sv_store "$f" "$n" +FLAGS "$flag" || say "FAILED: sv_store $f $n +$flag"
			else
				sv_store "$f" "$n" -FLAGS "$flag" || say "FAILED: sv_store $f $n -$flag"
			fi
			FLAGS[$n]=$l
			say "flags server $n -> '$l'"
			;;
		2)
			md_delete "$f" "$n" || say "FAILED: md_delete $f $n"
			unset "WHERE[$n]" "FLAGS[$n]"
			say "delete local $n"
			;;
		3)
			sv_expunge "$f" "$n" || say "FAILED: sv_expunge $f $n"
			unset "WHERE[$n]" "FLAGS[$n]"
			say "delete server $n"
			;;
		4 | 5)
			pick "${FOLDERS[@]}"
			to=$REPLY
			[[ $to != "$f" ]] || continue
			if ((RANDOM % 2)); then
				md_move "$f" "$n" "$to" || say "FAILED: md_move $f $n $to"
				say "move local $n $f -> $to"
			else
				sv_move "$f" "$n" "$to" || say "FAILED: sv_move $f $n $to"
				say "move server $n $f -> $to"
			fi
			WHERE[$n]=$to
			;;
		esac
		TOUCHED[$n]=changed
	done
}
model_lines() {
	local n
	for n in "${!WHERE[@]}"; do
		printf '%s %s %s\n' "${WHERE[$n]}" "$n" "${FLAGS[$n]:--}"
	done
}
KILLS=0
# killed_run: one sync killed at a random point: mostly a FERRY_CRASH_AT hook at a random
# action, sometimes kill -9 of its process group (with the tunnel) after a random delay.
killed_run() {
	local spec pid ms
	if ((RANDOM % 3 == 0)); then
		setsid "$FERRY" -q -c "$CONF" sync test </dev/null >/dev/null 2>&1 &
		pid=$!
		ms=$((RANDOM % 400 + 50))
		sleep "$(printf '0.%03d' "$ms")"
		if kill -9 -- "-$pid" 2>/dev/null; then
			KILLS=$((KILLS + 1))
			KILLED="kill -9 after $ms ms"
		else
			KILLED="kill -9 came too late ($ms ms)"
		fi
		say "$KILLED"
		wait "$pid" 2>/dev/null
		# A killed run's child may still hold the channel lock for a moment.
		flock -w 10 "$WORK/state/test.sqlite.lock" true
		return
	fi
	pick download upload flags delete move
	spec=$REPLY:$((RANDOM % 2 + 1))
	pick "" :after
	spec+=$REPLY
	t_run env FERRY_CRASH_AT="$spec" "$FERRY" -q -c "$CONF" sync test
	if [[ $T_OUT == *"crashed (signal 9"* ]]; then
		KILLS=$((KILLS + 1))
		KILLED="killed at $spec"
	else
		KILLED="not killed at $spec (exit $T_RC)"
	fi
	say "$KILLED"
}
for ((round = 1; KILLS < WANT_KILLS && round <= WANT_KILLS * 4; round++)); do
	say "--- round $round"
	changes
	killed_run
	say "after the killed run"
	t_run "$FERRY" -q -c "$CONF" sync test
	if [[ $T_RC != 0 ]]; then
		t_fail "kills: round $round: the run after the kill exits 0" "$T_OUT" \
			"$(tail -n 30 "$ACTIONS")"
		break
	fi
	say "after the clean run"
	m=$(model_lines | sort)
	l=$(md_lines | sort)
	s=$(sv_lines | sort)
	SNAP_L=$l SNAP_S=$s
	if [[ $m != "$l" ]] || [[ $m != "$s" ]]; then
		t_fail "kills: round $round: both sides as the model says" "$(tail -n 30 "$ACTIONS")" \
			"local:" "$(diff <(echo "$m") <(echo "$l"))" "server:" \
			"$(diff <(echo "$m") <(echo "$s"))"
		break
	fi
	t_pass "kills: round $round ($KILLED): nothing lost, nothing duplicated, both sides as the model says"
done
t_ok "kills: at least $WANT_KILLS runs were killed ($KILLS in $((round - 1)) rounds)" \
	test "$KILLS" -ge "$WANT_KILLS"
snap
same_sides "kills: at the end"

echo "# $SERVER: $KILLS kills, ${SECONDS} s, seed $SEED"
t_done
