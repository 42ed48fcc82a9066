#!/usr/bin/env bash
# shellcheck disable=SC2016 # $Label1 and friends are IMAP keywords, not variables
# Keywords live in the Maildir index, not in file names (DESIGN rule 15), and
# none is removed on the server because a file name cannot show it: not when a
# message is refiled locally (mv of the file, or a new file under a new name
# and the old one deleted, as mutt does), not when a mail reader renames it in
# place (flags), not when the index is lost and rebuilt. The refiled message's
# row in the index shows its keywords again after the sync.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

sync_setup

INDEX=$MAILDIR/..ferry-index.sqlite

# md_rename FOLDER SUBJECT INFO: a mail reader changes the flag letters in place.
md_rename() {
	local f
	f=$(md_file "$1" "$2")
	mv "$f" "${f%%:2,*}:2,$3"
}
# idx_keywords FOLDER SUBJECT: the keywords the Maildir index holds for that
# message's file (by folder and unique part).
idx_keywords() {
	local f uniq
	f=$(md_file "$1" "$2")
	[[ -n $f ]] || return 1
	uniq=${f##*/}
	uniq=${uniq%%:2,*}
	sqlite3 "$INDEX" "SELECT coalesce(m.keywords, '') FROM messages m JOIN folders f
		ON f.id = m.folder WHERE f.name = '$1' AND m.uniq = '$uniq'"
}
# has_keywords DESC USER FOLDER SUBJECT KEYWORD...: the server message carries each keyword.
has_keywords() {
	local desc=$1 user=$2 folder=$3 subject=$4 flags kw missing=
	shift 4
	flags=$(srv_flags "$user" "$folder" "$subject")
	for kw in "$@"; do
		grep -qiF -- " $kw " <<<" $flags " || missing+=" $kw"
	done
	if [[ -z $missing ]]; then
		t_pass "$desc"
	else
		t_fail "$desc" "missing:$missing" "server flags: $flags"
	fi
}

# --- messages with keywords on the server, synced down ------------------------------
seed 1 INBOX "Kw mv"
seed 2 INBOX "Kw mutt"
seed 3 Archive "Kw back"
seed 4 INBOX "Kw renamed"
seed 5 INBOX "Kw moved then read"
seed 6 Archive "Kw plain"
seed 7 INBOX "Kw rewritten here"
kw() { dovecot_doveadm flags add -u alice "$3" mailbox "$1" uid "$(srv_uid alice "$1" "$2")"; }
kw INBOX "Kw mv" '\Seen $Label1 Important'
kw INBOX "Kw mutt" '\Seen $Label2'
kw Archive "Kw back" '\Seen $Label3 $Forwarded'
kw INBOX "Kw renamed" '\Seen Important'
kw INBOX "Kw moved then read" '\Seen $Label4 Work'
kw Archive "Kw plain" '\Seen $Label5'
kw INBOX "Kw rewritten here" '\Seen $Label6'
ferry_sync test
t_equal "initial sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_equal "keywords reach the index" '$Label1 Important' "$(idx_keywords INBOX 'Kw mv')"

# --- refiled locally, both ways, by mv and as mutt does -----------------------------
md_mv INBOX Archive "Kw mv"
md_rewrite INBOX Archive "Kw mutt"
md_rewrite Archive INBOX "Kw back"
md_mv INBOX Archive "Kw moved then read"
md_rewrite INBOX INBOX "Kw rewritten here"
mark=$(dovecot_log_mark)
ferry_sync test
t_equal "refile: sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_equal "refile: moved on the server, nothing uploaded" 0 "$(saves_since "$mark")"
t_ok "refile: mv style is in the server's Archive" test -n "$(srv_uid alice Archive 'Kw mv')"
has_keywords "mv INBOX -> Archive: the server keeps \$Label1 and Important" \
	alice Archive "Kw mv" '$Label1' Important '\Seen'
has_keywords "mutt INBOX -> Archive: the server keeps \$Label2" alice Archive "Kw mutt" '$Label2'
has_keywords "mutt Archive -> INBOX: the server keeps \$Label3 and \$Forwarded" \
	alice INBOX "Kw back" '$Label3' '$Forwarded'
has_keywords "mv INBOX -> Archive: the server keeps \$Label4 and Work" \
	alice Archive "Kw moved then read" '$Label4' Work
has_keywords "mutt, same folder: the server keeps \$Label6" alice INBOX "Kw rewritten here" '$Label6'
t_equal "mv style: the index shows the keywords in Archive" '$Label1 Important' \
	"$(idx_keywords Archive 'Kw mv')"
t_equal "mutt style: the index shows the keyword in Archive" '$Label2' \
	"$(idx_keywords Archive 'Kw mutt')"
t_equal "mutt style back: the index shows the keyword in INBOX" '$Label3' \
	"$(idx_keywords INBOX 'Kw back')"
t_equal "mutt, same folder: the index shows the keyword" '$Label6' \
	"$(idx_keywords INBOX 'Kw rewritten here')"

ferry_sync test
t_equal "after the refile: the next sync exits 0" 0 "$T_RC"
t_contains "after the refile: the next sync changes nothing" "$T_OUT" \
	"far->near +0 ~0 -0, near->far +0 ~0 -0"
has_keywords "after the refile: still on the server" alice Archive "Kw mv" '$Label1' Important

# --- renamed in place by a mail reader ------------------------------------------------
md_rename INBOX "Kw renamed" RS
md_rename Archive "Kw moved then read" FS
ferry_sync test
t_equal "renamed in place: sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
has_keywords "renamed in place: \\Answered goes up, Important stays" \
	alice INBOX "Kw renamed" '\Answered' '\Seen' Important
has_keywords "refiled, then flagged: \\Flagged goes up, the keywords stay" \
	alice Archive "Kw moved then read" '\Flagged' '$Label4' Work
t_equal "renamed in place: the index keeps the keyword" Important \
	"$(idx_keywords INBOX 'Kw renamed')"

# --- the index lost: rebuilt, keywords taken from the server ----------------------------
rm -f "$MAILDIR"/..ferry-index.sqlite*
mark=$(dovecot_log_mark)
ferry_sync test
t_equal "index lost: sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_equal "index lost: nothing uploaded" 0 "$(saves_since "$mark")"
has_keywords "index lost: mv-refiled keeps its keywords" alice Archive "Kw mv" '$Label1' Important
has_keywords "index lost: mutt-refiled keeps its keyword" alice Archive "Kw mutt" '$Label2'
has_keywords "index lost: refiled back keeps its keywords" alice INBOX "Kw back" '$Label3' '$Forwarded'
has_keywords "index lost: renamed keeps its keyword" alice INBOX "Kw renamed" Important
has_keywords "index lost: untouched keeps its keyword" alice Archive "Kw plain" '$Label5'
t_equal "index lost: the rebuilt index has the keywords again" '$Label1 Important' \
	"$(idx_keywords Archive 'Kw mv')"

# --- refiled after the rebuild: the keywords still follow ----------------------------
md_rewrite Archive INBOX "Kw plain"
ferry_sync test
t_equal "refile after rebuild: sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
has_keywords "refile after rebuild: the server keeps \$Label5" alice INBOX "Kw plain" '$Label5'
t_equal "refile after rebuild: the index shows it" '$Label5' "$(idx_keywords INBOX 'Kw plain')"
t_done
