#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2016 # $Label1, $Forwarded: IMAP keywords, not variables
# Uploads go out as pipelined APPENDs with LITERAL+ (Dovecot offers it): many
# in flight, each literal counted in CRLF form before it is sent, the message
# streamed from its spool file.
#   1. 300 new local messages of mixed sizes and line endings (LF, CRLF, no final
#      newline, a lone CR, a 20 MB one) go up in one sync and arrive intact, with
#      RFC822.SIZE = their CRLF size, their flags and internal dates, and are
#      recorded as pairs: the next sync moves nothing. Keywords go up too (from a
#      second account, as a Maildir has none of its own for a new file).
#   2. The -v trace shows {N+} literals, several APPENDs sent before the first
#      APPEND's answer, and no message text.
#   3. A message the server refuses in the middle of a batch (Dovecot's quota plugin,
#      quota_max_mail_size) fails alone: the others are recorded, and once the limit
#      is lifted the next run uploads that one only, nothing twice.
#   4. Uploading a 50 MB message keeps the peak RSS small: no mapping, no copy.
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=sync_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

# t_is DESC ACTUAL EXPECTED: t_equal (DESC EXPECTED ACTUAL) in the order this script writes it.
t_is() {
	t_equal "$1" "$3" "$2"
}

T_TIMEOUT=300
TIME=/usr/bin/time
RSS_LIMIT_KB=$((30 * 1024))

t_ok "/usr/bin/time is installed (package time)" test -x "$TIME"

# shellcheck disable=SC2119 # its argument is the layout, not this script's
sync_setup

# md_put FOLDER NAME INFO EPOCH: moves $WORK/msg into the folder as a mail client would,
# in cur/ with ":2,INFO" (new/ if INFO is "-"), with mtime (the internal date) EPOCH.
md_put() {
	local d
	d=$(md_dir "$1")
	mkdir -p "$d/tmp" "$d/cur" "$d/new"
	touch -d "@$4" "$WORK/msg"
	if [[ $3 == - ]]; then
		mv "$WORK/msg" "$d/new/$2"
	else
		mv "$WORK/msg" "$d/cur/$2:2,$3"
	fi
}

# What ferry's Maildir letters mean on the server (flags are compared sorted).
letters_to_flags() {
	local out=() c
	for ((c = 0; c < ${#1}; c++)); do
		case ${1:c:1} in
		D) out+=('\Draft') ;;
		F) out+=('\Flagged') ;;
		R) out+=('\Answered') ;;
		S) out+=('\Seen') ;;
		esac
	done
	((${#out[@]})) || return 0
	printf '%s\n' "${out[@]}" | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//'
}

# local_digest FOLDER: per local message "Message-ID CRLF-size flags mtime SHA-256", sorted;
# the SHA-256 is of the text with CRLF turned into LF.
local_digest() {
	local d f info
	d=$(md_dir "$1")
	for f in "$d"/cur/* "$d"/new/*; do
		[[ -f $f ]] || continue
		info=
		[[ $f == *:2,* ]] && info=${f##*:2,}
		FLAGS=$(letters_to_flags "$info") MTIME=$(stat -c %Y "$f") \
			perl -MDigest::SHA=sha256_hex -0777 -ne '
			my ($id) = /^Message-ID: (\S+)/mi;
			(my $crlf = $_) =~ s/(?<!\r)\n/\r\n/g;
			(my $lf = $_) =~ s/\r\n/\n/g;
			my $flags = $ENV{FLAGS} eq "" ? "-" : $ENV{FLAGS} =~ s/ /_/gr;
			print join(" ", $id, length($crlf), $flags, $ENV{MTIME}, sha256_hex($lf)), "\n";
		' "$f"
	done | LC_ALL=C sort
}

# server_digest USER FOLDER: the same for every message of the server's folder (size is
# RFC822.SIZE, the date the internal date), \Recent left out.
server_digest() {
	dovecot_doveadm -f pager fetch -u "$1" 'flags date.received.unixtime size.virtual text' \
		mailbox "$2" all | perl -MDigest::SHA=sha256_hex -0777 -ne '
		for my $m (split /\f\n/) {
			my ($flags, $date, $size, $text) =
			    $m =~ /^flags: ?(.*)\ndate\.received\.unixtime: (\d+)\nsize\.virtual: (\d+)\ntext:\n(.*)\z/s
			    or next;
			my ($id) = $text =~ /^Message-ID: (\S+)/mi;
			my @f = sort grep { $_ ne "\\Recent" && $_ ne "" } split / /, $flags;
			(my $lf = $text) =~ s/\r\n/\n/g;
			print join(" ", $id, $size, (@f ? join("_", @f) : "-"), $date, sha256_hex($lf)), "\n";
		}' | LC_ALL=C sort
}

# saves_since MARK: how many messages IMAP clients saved (uploaded) since dovecot_log_mark
# printed MARK.
saves_since() {
	dovecot_log_since "$1" | grep -cE 'imap\(alice\)<[^>]*><[^>]*>: Info: save: ' || true
}

# --- 1 and 2: 300 messages in one sync, traced ------------------------------------------
for ((i = 1; i <= 300; i++)); do
	case $i in
	7) printf '%s' "$(make_message "$i" "Upload $i" 500)" >"$WORK/msg" ;; # no final newline
	11) { make_message "$i" "Upload $i" && printf 'a lone\rCR\n'; } >"$WORK/msg" ;;
	150) big_message "$i" "Upload $i" $((20 * 1024 * 1024)) >"$WORK/msg" ;;
	*) make_message "$i" "Upload $i" $((i * 7919 % 30000)) >"$WORK/msg" ;;
	esac
	if ((i % 10 == 3)); then
		sed -i 's/$/\r/' "$WORK/msg" # CRLF line endings
	fi
	case $((i % 6)) in
	0) info=S ;;
	1) info=FS ;;
	2) info=- ;;
	3) info=R ;;
	4) info=DS ;;
	*) info= ;;
	esac
	md_put Upload "$((1600000000 + i)).M${i}P$$.testhost" "$info" $((1500000000 + i * 3607))
done
t_is "300 local messages written" "$(md_count Upload)" 300

mark=$(dovecot_log_mark)
started=$EPOCHREALTIME
t_run "$FERRY" -v -c "$CONF" sync test:Upload
took=$(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
trace=$T_OUT
t_is "upload of 300: ferry exits 0" "$T_RC" 0 || printf '%s\n' "$trace" | tail -n 20 | t__indent
t_contains "upload of 300: all 300 went up" "$trace" "near->far +300 ~0 -0"
t_is "upload of 300: 300 messages on the server" "$(dovecot_count alice Upload)" 300
t_is "upload of 300: 300 saves in the server's log" "$(saves_since "$mark")" 300
local_d=$(local_digest Upload)
server_d=$(server_digest alice Upload)
t_is "upload of 300: every message intact (content, RFC822.SIZE = CRLF size, flags, date)" \
	"$server_d" "$local_d" || diff <(printf '%s\n' "$local_d") <(printf '%s\n' "$server_d") |
	head -n 10 | t__indent
t_is "upload of 300: 300 distinct messages compared" \
	"$(printf '%s\n' "$local_d" | cut -d' ' -f1 | sort -u | grep -c .)" 300

# The trace: LITERAL+ literals, pipelining, no message text.
appends=$(grep -cE '^C: [0-9]+ APPEND "Upload" \([^)]*\)( "[^"]*")? \{[0-9]+\+\}$' <<<"$trace" || true)
t_is "trace: 300 APPENDs with a {N+} literal" "$appends" 300
first_tag=$(grep -m1 -oE '^C: [0-9]+ APPEND ' <<<"$trace" | cut -d' ' -f2)
ok_line=$(grep -n -m1 -E "^S: ${first_tag:-none} OK" <<<"$trace" | cut -d: -f1)
before_ok=$(head -n "$((${ok_line:-1} - 1))" <<<"$trace" | grep -cE '^C: [0-9]+ APPEND ' || true)
t_ok "trace: $before_ok APPENDs sent before the first one's tagged OK (pipelined)" \
	test -n "$ok_line" -a "$before_ok" -gt 1
t_is "trace: no message text on the client side" \
	"$(grep -cE '^C: .*(Message-ID|This is a test message|big 150 line)' <<<"$trace" || true)" 0
# Client lines only: the server's answers now include the headers read back after each batch.
t_ok "trace: the literals are shown as <redacted> chunks, not line by line ($(grep -c '^C: ' <<<"$trace") client lines)" \
	test "$(grep -c '^C: ' <<<"$trace")" -lt 3000
# Rule 6: the stored copies' identities are read back in one UID FETCH per batch of 100.
t_is "trace: the stored headers are read back once per batch, not per message" \
	"$(grep -cE '^C: [0-9]+ UID FETCH [0-9:,]+ \(UID RFC822\.SIZE BODY\.PEEK\[HEADER\]\)$' <<<"$trace" || true)" 3

mark=$(dovecot_log_mark)
ferry_sync test:Upload
t_is "second sync exits 0" "$T_RC" 0
t_contains "second sync: nothing moved (all were recorded as pairs)" "$T_OUT" \
	"far->near +0 ~0 -0, near->far +0 ~0 -0"
t_is "second sync: nothing saved again" "$(saves_since "$mark")" 0
t_is "second sync: nothing downloaded (300 local files)" "$(md_count Upload)" 300

# Keywords, flags and dates from another account (IMAP -> IMAP, same upload path).
for ((i = 1; i <= 12; i++)); do
	make_message $((400 + i)) "Labelled $i" $((i * 300)) | dovecot_seed bob Labels
done
dovecot_doveadm flags add -u bob '$Label1 ProjectX \Seen' mailbox Labels uid 1:6
dovecot_doveadm flags add -u bob '\Flagged $Forwarded' mailbox Labels uid 4:12
t_run "$FERRY" -c "$CONF" sync mirror:Labels
t_is "keywords: the mirror sync exits 0" "$T_RC" 0 || printf '%s\n' "$T_OUT" | t__indent
t_is "keywords: 12 messages reached alice" "$(dovecot_count alice Labels)" 12
t_is "keywords, flags, dates and sizes as on bob's side" \
	"$(server_digest alice Labels)" "$(server_digest bob Labels)"
t_run "$FERRY" -c "$CONF" sync mirror:Labels
t_contains "keywords: the next mirror sync moves nothing" "$T_OUT" \
	"far->near +0 ~0 -0, near->far +0 ~0 -0"

# --- 3: a refusal in the middle of a batch ----------------------------------------------
for ((i = 1; i <= 40; i++)); do
	if ((i == 17)); then
		make_message $((500 + i)) "Refused $i" 300000 >"$WORK/msg" # over the limit below
	else
		make_message $((500 + i)) "Refused $i" $((i * 500)) >"$WORK/msg"
	fi
	md_put Refuse "$((1700000000 + i)).M${i}P$$.testhost" S $((1500000000 + i * 60))
done
# Dovecot's quota plugin refuses a message over quota_max_mail_size with a NO for that
# APPEND; the literal is read and dropped, and the session goes on.
cp "$DOVECOT_CONF" "$WORK/dovecot.conf.orig"
cat >>"$DOVECOT_CONF" <<'EOF'
protocol imap {
  mail_plugins = notify mail_log quota
}
plugin {
  quota_max_mail_size = 200k
}
EOF
t_ok "Dovecot reloads with quota_max_mail_size = 200k" dovecot_doveadm reload
sleep 1
mark=$(dovecot_log_mark)
ferry_sync test:Refuse
t_is "refusal: ferry reports a partial sync (exit 1)" "$T_RC" 1
t_contains "refusal: the error names the folder and the server's reason" "$T_OUT" \
	'folder "Refuse": the server refused to append a message of'
t_contains "refusal: ... in the server's words" "$T_OUT" "maximum size allowed by server configuration"
t_is "refusal: the 39 others are on the server" "$(dovecot_count alice Refuse)" 39
t_is "refusal: 39 saves" "$(saves_since "$mark")" 39
cp "$WORK/dovecot.conf.orig" "$DOVECOT_CONF"
t_ok "Dovecot reloads without the limit" dovecot_doveadm reload
sleep 1
mark=$(dovecot_log_mark)
ferry_sync test:Refuse
t_is "after the limit is lifted: exit 0" "$T_RC" 0 || printf '%s\n' "$T_OUT" | t__indent
t_contains "after the limit is lifted: only the refused one goes up" "$T_OUT" \
	"near->far +1 ~0 -0"
t_is "after the limit is lifted: one save" "$(saves_since "$mark")" 1
t_is "after the limit is lifted: 40 on the server, none twice" \
	"$(server_digest alice Refuse)" "$(local_digest Refuse)"
ferry_sync test:Refuse
t_contains "then nothing moves" "$T_OUT" "far->near +0 ~0 -0, near->far +0 ~0 -0"

# --- 4: peak RSS of a 50 MB upload -------------------------------------------------------
# Under AddressSanitizer the runtime, shadow memory and quarantine cost more (as in
# sync_bigmsg.sh): a small quarantine and 15 MB more.
asan=0
if ldd "$FERRY" 2>/dev/null | grep -q libasan; then
	asan=1
	export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1
	RSS_LIMIT_KB=$((RSS_LIMIT_KB + 15 * 1024))
fi
big_message 600 "Fifty megabytes" $((50 * 1024 * 1024)) >"$WORK/msg"
md_put Huge "1800000000.M600P$$.testhost" S 1500000000
tfile=$WORK/time.txt
t_run "$TIME" -v -o "$tfile" "$FERRY" -c "$CONF" sync test:Huge
t_is "50 MB: ferry exits 0" "$T_RC" 0 || printf '%s\n' "$T_OUT" | t__indent
rss_kb=$(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): *//p' "$tfile")
t_is "50 MB: on the server, intact" "$(server_digest alice Huge)" "$(local_digest Huge)"
t_ok "50 MB: peak RSS ${rss_kb:-?} kB < $RSS_LIMIT_KB kB" test "${rss_kb:-999999999}" -lt "$RSS_LIMIT_KB"

printf '# 300 messages (20 MB among them) uploaded in %s s with -v; 50 MB upload peak RSS %s kB%s\n' \
	"$took" "${rss_kb:-?}" "$([[ $asan == 1 ]] && echo ' (AddressSanitizer build)')"
t_done
