#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# ferry against a hostile IMAP server (tests/hostile/server.pl): malformed responses, huge and
# lying literals, bad uids, unsafe folder names, a BYE or an EOF in the middle of a FETCH,
# STARTTLS injection (CVE-2020-15953), the PERMANENTFLAGS line that crashes libetpan 1.9.4,
# COMPRESS=DEFLATE followed by data that is not deflate.
#
# For every scenario: ferry's exit status (0 when the bad item is skipped, 1 for a failed
# folder or a contained crash, 3 for a refused connection), the message that names the
# problem, that nothing outside the Maildir root and the state directory changed, that ferry
# finished well before its time limit without burning CPU (libetpan 1.9.4 spins for ever on
# an EOF inside a literal unless the transport returns -1), and that nothing unsynced was
# recorded as synced (the state's pairs, and a follow-up run against a clean server that
# still copies what the hostile run could not).
#
# Needs perl (core modules only) and sqlite3; no Dovecot. Run by ctest, or by hand:
#	FERRY=/path/to/ferry bash tests/integration/hostile.sh
set -uo pipefail # not -e: a failed assertion must not hide the ones after it

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
# shellcheck source=hostile_lib.sh
. "$here/hostile_lib.sh"

hostile_init hostile

# The harness's own temporary files go to $top/harness, which the snapshots leave out; ferry's
# TMPDIR is $top/tmp, which they include.
export TMPDIR=$top/harness
mkdir -p "$TMPDIR" "$top/tmp"
ulimit -c 0 # the contained crash must not leave a core file that looks like a stray write

# Each ferry run: killed after T_TIMEOUT, expected to finish within LIMIT seconds, with at most
# CPU_LIMIT seconds of CPU. ferry's own read timeout is 10 s.
T_TIMEOUT=45
LIMIT=25
CPU_LIMIT=5
started=$EPOCHREALTIME

# --- one scenario's directories, server and config ---------------------------------------------

# case_setup NAME: $top/NAME/srv holds the server's files and the config; the Maildir root and
# the state sit three levels down in $top/NAME/work, so that "../" names would land inside $top.
case_setup() {
	CASE=$1
	SRVDIR=$top/$CASE/srv
	WORK=$top/$CASE/work
	ROOT=$WORK/a/b/c/Mail
	STATEDIR=$WORK/a/b/c/state
	STATE=$STATEDIR/test.sqlite
	CONF=$SRVDIR/ferry.conf
	mkdir -p "$SRVDIR" "$ROOT" "$STATEDIR"
}

# server_start SCENARIO [--stdio]: starts the scripted server on a free port of 127.0.0.1 (or,
# with --stdio, writes a config that reaches it through `tunnel =`) and writes $CONF. TLS and
# COMPRESS, when set, give the config's tls and compress keys.
server_start() {
	local scenario=$1 mode=${2:-tcp} tls=${TLS:-none}
	SRV_LOG=$SRVDIR/$scenario.log
	if [[ $mode == --stdio ]]; then
		# A script, so the config line stays short whatever the checkout's path
		# (config lines are limited to 199 bytes).
		printf 'exec perl %q --stdio --scenario %q --log %q --abs %q\n' \
			"$SERVER" "$scenario" "$SRV_LOG" "$WORK/absolute" >"$SRVDIR/tunnel.sh"
		printf '[imap hostile]\ntunnel = sh %q\n' "$SRVDIR/tunnel.sh" >"$CONF"
	else
		hostile_server_start "$SRVDIR" "$scenario" "$tls" --abs "$WORK/absolute" || return 1
	fi
	if [[ -n ${COMPRESS:-} ]]; then
		printf 'compress = %s\n' "$COMPRESS" >>"$CONF"
	fi
	hostile_conf_finish
}

# --- what a run may change, and what it recorded -----------------------------------------------

# Everything under $top except the servers' files, the Maildir root and the state directory.
snapshot() {
	find "$top" \( -path "$top/harness" -o -path "$top/*/srv" -o -path "$ROOT" -o -path "$STATEDIR" \) -prune \
		-o -printf '%y %m %s %T@ %p\n' | sort
}

# cpu_mark: the CPU seconds (user + system) the children of this shell have used so far. `times`
# must run in this shell, not in a $(...) subshell, or it counts the subshell's children.
cpu_mark() {
	times >"$TMPDIR/times"
	CPU_MARK=$(awk 'NR == 2 {
		t = 0
		for (i = 1; i <= 2; i++) { split($i, p, /[ms]/); t += p[1] * 60 + p[2] }
		printf "%.2f\n", t
	}' "$TMPDIR/times")
}

# run_ferry CODE COMMAND [ARGS...]: `ferry -c $CONF COMMAND ARGS` (with the variables of RUN_ENV
# set) exits CODE, finishes within LIMIT s using at most CPU_LIMIT s of CPU, and changes nothing
# outside the Maildir root and the state directory. The output is left in OUT.
RUN_ENV=()
run_ferry() {
	local code=$1 before after cpu0 cpu1 t0 t1 elapsed cpu changed
	shift
	before=$(snapshot)
	cpu_mark
	cpu0=$CPU_MARK
	t0=$EPOCHREALTIME
	t_expect_exit "$code" "$CASE: ferry $* exits $code" \
		env TMPDIR="$top/tmp" "${RUN_ENV[@]}" "$FERRY" -c "$CONF" "$@"
	t1=$EPOCHREALTIME
	cpu_mark
	cpu1=$CPU_MARK
	OUT=$T_OUT
	after=$(snapshot)
	elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	cpu=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }')
	if awk -v e="$elapsed" -v l="$LIMIT" 'BEGIN { exit !(e < l) }'; then
		t_pass "$CASE: ferry $1 did not hang (${elapsed} s)"
	else
		t_fail "$CASE: ferry $1 did not hang" "took ${elapsed} s, limit ${LIMIT} s"
	fi
	if awk -v c="$cpu" -v l="$CPU_LIMIT" 'BEGIN { exit !(c < l) }'; then
		t_pass "$CASE: ferry $1 did not spin (${cpu} s of CPU)"
	else
		t_fail "$CASE: ferry $1 did not spin" "used ${cpu} s of CPU, limit ${CPU_LIMIT} s"
	fi
	changed=$(diff <(printf '%s\n' "$before") <(printf '%s\n' "$after"))
	t_equal "$CASE: nothing outside the Maildir root and the state changed" "" "$changed"
}

# says DESC REGEX: the last run's output has a line matching REGEX.
says() {
	t_matches "$CASE: $1" "$OUT" "$2"
}

# pairs: the far uids the state records as synced, in order, space-separated.
pairs() {
	[[ -f $STATE ]] || return 0
	sqlite3 "$STATE" 'SELECT far_uid FROM pairs ORDER BY far_uid' | tr '\n' ' ' | sed 's/ $//'
}

# local_messages FOLDER: the files in cur/ and new/ of a local folder.
local_messages() {
	find "$ROOT/$1/cur" "$ROOT/$1/new" -maxdepth 1 -type f 2>/dev/null | wc -l
}

# nothing_synced: no pair recorded, no message delivered, no file left in tmp/.
nothing_synced() {
	t_equal "$CASE: no message recorded as synced" "" "$(pairs)"
	t_equal "$CASE: no message delivered" 0 "$(local_messages INBOX)"
	t_equal "$CASE: nothing left in INBOX/tmp" "" "$(find "$ROOT/INBOX/tmp" -type f 2>/dev/null)"
}

# follow_up COPIED PAIRS: a run against a clean server copies what the hostile run did not
# (COPIED messages) and then records PAIRS: nothing had been marked synced without its data.
follow_up() {
	local copied=$1 want=$2
	server_start clean || return
	run_ferry 0 sync
	says "a clean run afterwards copies the $copied message(s) still missing" \
		"^INBOX: far->near \+$copied ~0 -0"
	t_equal "$CASE: after the clean run the state pairs uids $want" "$want" "$(pairs)"
	t_equal "$CASE: after the clean run INBOX holds 3 messages" 3 "$(local_messages INBOX)"
	server_stop
}

# --- baseline: the well-behaved scenario, over TCP and through a tunnel -------------------------

case_setup clean
server_start clean
run_ferry 0 sync
says "the baseline copies 3 messages" '^INBOX: far->near \+3 ~0 -0'
t_equal "$CASE: uids 1 2 3 recorded" "1 2 3" "$(pairs)"
server_stop

case_setup clean-tunnel
server_start clean --stdio
run_ferry 0 sync
says "the baseline copies 3 messages (tunnel)" '^INBOX: far->near \+3 ~0 -0'

# --- the greeting and STARTTLS: refused before anything else (exit 3) --------------------------

case_setup greeting-garbage
server_start greeting-garbage
run_ferry 3 check hostile
says "a greeting that is not IMAP is named" \
	'^ferry: error: hostile: 127\.0\.0\.1: no IMAP greeting: the server sent a response that cannot be parsed'
run_ferry 3 sync
says "sync: the same refusal" 'no IMAP greeting: the server sent a response that cannot be parsed'
t_equal "$CASE: no message recorded as synced" "" "$(pairs)"
server_stop

case_setup greeting-bye
server_start greeting-bye
run_ferry 3 check hostile
says "a BYE greeting is named" \
	'^ferry: error: hostile: 127\.0\.0\.1: no IMAP greeting: the server refused the connection \(BYE in greeting\)'
run_ferry 3 sync
says "sync: the same refusal" 'refused the connection \(BYE in greeting\)'
server_stop

# CVE-2020-15953: data after STARTTLS's OK, in the same segment, before any handshake.
case_setup starttls-inject
TLS=starttls server_start starttls-inject
run_ferry 3 check hostile
says "the injection is refused, naming STARTTLS" \
	'^ferry: error: hostile: STARTTLS: .*(data injected after the OK|data before the TLS handshake)'
run_ferry 3 sync
says "sync: the same refusal" 'STARTTLS: .*(data injected after the OK|data before the TLS handshake)'
t_equal "$CASE: the server saw STARTTLS and nothing else (no LOGIN in the clear)" \
	"STARTTLS STARTTLS" "$(grep -v '^#' "$SRV_LOG" | cut -d' ' -f2 | tr '\n' ' ' | sed 's/ $//')"
server_stop

# The same line arriving after the client started its handshake: OpenSSL gets it as a record.
case_setup starttls-inject-late
TLS=starttls server_start starttls-inject-late
run_ferry 3 check hostile
says "the late injection breaks the handshake, and that is said" \
	'^ferry: error: hostile: TLS handshake with 127\.0\.0\.1:[0-9]+ failed'
t_equal "$CASE: the server saw STARTTLS and nothing else (no LOGIN in the clear)" \
	"STARTTLS" "$(grep -v '^#' "$SRV_LOG" | cut -d' ' -f2 | tr '\n' ' ' | sed 's/ $//')"
server_stop

# --- COMPRESS=DEFLATE: refused at connection time (exit 3), or declined and done without --------

# The OK, then bytes that are no deflate stream: named at once, neither a hang nor a crash.
case_setup compress-garbage
COMPRESS=yes server_start compress-garbage
run_ferry 3 check hostile
says "data that is not deflate is named" \
	"^ferry: error: hostile: COMPRESS DEFLATE: the first command after it failed: the server's compressed data is not valid deflate \(invalid block type\)"
t_matches "$CASE: ferry did send COMPRESS DEFLATE" "$(cat "$SRV_LOG")" '^[0-9]+ COMPRESS DEFLATE$'
t_matches "$CASE: and then deflated bytes, no clear text" "$(cat "$SRV_LOG")" '^\{deflated bytes\}$'
run_ferry 3 sync
says "sync: the same refusal" "COMPRESS DEFLATE: .*not valid deflate"
nothing_synced
server_stop

# Clear text in the same write as the OK, where only deflate data may follow: an injection.
case_setup compress-inject
COMPRESS=yes server_start compress-inject
run_ferry 3 check hostile
says "the clear text after the OK is refused" \
	'^ferry: error: hostile: COMPRESS DEFLATE: the server sent data right after its OK; refusing the session'
server_stop

# A NO to COMPRESS leaves the session as it was: a warning, then an uncompressed sync.
case_setup compress-no
COMPRESS=yes server_start compress-no
run_ferry 0 sync
says "the refusal is a warning" \
	'^ferry: warning: hostile: the server refused COMPRESS DEFLATE \(not now\); going on uncompressed'
says "and the sync goes on without compression" '^INBOX: far->near \+3 ~0 -0'
t_equal "$CASE: uids 1 2 3 recorded" "1 2 3" "$(pairs)"
server_stop

# compress = no (and auto, on 127.0.0.1): COMPRESS=DEFLATE offered, never asked for.
case_setup compress-off
for mode in no auto; do
	COMPRESS=$mode server_start compress-garbage
	run_ferry 0 check hostile
	says "compress = $mode: the session is not compressed" '^hostile: imap 127\.0\.0\.1:[0-9]+, plain, logged in as tester \(LOGIN\)$'
	t_equal "$CASE: compress = $mode: no COMPRESS sent" "" "$(grep COMPRESS "$SRV_LOG")"
	server_stop
done
COMPRESS=yes server_start clean
run_ferry 0 check hostile
says "compress = yes, not offered: check says so" \
	'^hostile: imap .*\(LOGIN\), not compressed \(the server does not offer COMPRESS=DEFLATE\)$'
t_equal "$CASE: compress = yes, not offered: no COMPRESS sent" "" "$(grep COMPRESS "$SRV_LOG")"
server_stop

# --- malformed responses (exit 1: the folder or the channel fails) ------------------------------

case_setup malformed-list
server_start malformed-list
run_ferry 1 sync
says "an unparseable LIST is named" \
	'^ferry: error: test: LIST "" "\*": the server sent a response that cannot be parsed'
nothing_synced
server_stop

case_setup malformed-fetch
server_start malformed-fetch
run_ferry 1 sync
says "an unparseable listing is named" \
	'INBOX: listing far: folder "INBOX": listing messages \(UID FETCH\): the server sent a response that cannot be parsed'
nothing_synced
server_stop

# --- literals ----------------------------------------------------------------------------------

# A 2 MB folder name: that folder fails (or is skipped), and the message must still say why.
case_setup huge-literal
server_start huge-literal
run_ferry 1 sync
says "the 2 MB folder name is reported with its reason" 'too long'
t_equal "$CASE: no directory was made for it" "" "$(find "$top/$CASE" -name 'HHHHHHHH*' -print -quit)"
t_equal "$CASE: INBOX still synced" "1 2 3" "$(pairs)"
server_stop

# A 30 MB BODY[] literal inside the listing, asked for by nobody: libetpan would hold it
# whole, so the guard refuses it (over its 8 MB for literals other than bodies being fetched).
case_setup huge-literal-body
server_start huge-literal-body
run_ferry 1 sync
says "the stray literal is refused with its size" \
	'^ferry: warning: INBOX: listing far: folder "INBOX": listing messages \(UID FETCH\): the server announced a literal of 30000000 bytes, over the 8388608 bytes this command may receive'
says "and no new connection is tried" 'hostile: not reconnecting: the server broke the protocol'
nothing_synced
t_equal "$CASE: the stray literal was written nowhere" "" \
	"$(grep -rl BBBBBBBBBBBBBBBB "$top/$CASE/work" 2>/dev/null)"
server_stop
follow_up 3 "1 2 3"

# EOF 20 bytes into a 500-byte literal: 1.9.4 spins unless the transport says -1.
case_setup literal-eof
server_start literal-eof
run_ferry 1 sync
says "the cut is reported as a lost connection while fetching" \
	'INBOX: folder "INBOX": fetching 3 messages from uid 1: connection lost'
t_equal "$CASE: only the complete message 1 is recorded" "1" "$(pairs)"
t_equal "$CASE: only message 1 was delivered" 1 "$(local_messages INBOX)"
t_equal "$CASE: nothing of the cut message 2 was kept" "" \
	"$(grep -rl 'Subject: message 2' "$ROOT" 2>/dev/null)"
server_stop
follow_up 2 "1 2 3"

# A literal announced as {4000000000}, then a hang-up: far over the RFC822.SIZE listed.
case_setup literal-4g
server_start literal-4g
run_ferry 1 sync
says "the announced size is refused while fetching" \
	'INBOX: folder "INBOX": fetching 3 messages from uid 1: the server announced a literal of 4000000000 bytes, over the [0-9]+ bytes this command may receive'
nothing_synced
server_stop
follow_up 3 "1 2 3"

case_setup literal-4g-list
server_start literal-4g-list
run_ferry 1 sync
says "a {4000000000} folder name is refused with its size" \
	'^ferry: error: test: LIST "" "\*": the server announced a literal of 4000000000 bytes, over the 8388608 bytes'
nothing_synced
server_stop

# --- uids (rule 5: only a complete and honest listing is used) ---------------------------------

case_setup uid-zero
server_start uid-zero
run_ferry 1 sync
says "UID 0 is named" 'INBOX: listing far: folder "INBOX": the server listed uid 0; not trusting this listing'
nothing_synced
server_stop

case_setup uid-dup
server_start uid-dup
run_ferry 1 sync
says "the duplicate uid is named" 'folder "INBOX": the server listed uid 2 twice'
nothing_synced
server_stop

case_setup uid-above-uidnext
server_start uid-above-uidnext
run_ferry 1 sync
says "the uid above UIDNEXT is named" 'folder "INBOX": the server listed uid 7, not below UIDNEXT 4'
nothing_synced
server_stop

# Decreasing order is legal: every body must still go with its own uid's flags.
case_setup uid-decreasing
server_start uid-decreasing
run_ferry 0 sync
says "all 3 messages copied" '^INBOX: far->near \+3 ~0 -0'
t_equal "$CASE: uids 1 2 3 recorded" "1 2 3" "$(pairs)"
t_matches "$CASE: message 1 carries uid 1's \\Seen" \
	"$(grep -l 'Subject: message 1' "$ROOT"/INBOX/cur/* 2>/dev/null)" ':2,S$'
t_matches "$CASE: message 2 carries uid 2's \\Flagged" \
	"$(grep -l 'Subject: message 2' "$ROOT"/INBOX/cur/* 2>/dev/null)" ':2,F$'
t_matches "$CASE: message 3 (no flags) is in new/" \
	"$(grep -l 'Subject: message 3' "$ROOT"/INBOX/new/* 2>/dev/null)" '/new/[^/:]+$'
server_stop

# A body FETCH response for uid 99, never asked for: skipped and said.
case_setup unasked-fetch
server_start unasked-fetch
run_ferry 0 sync
says "the unasked message is reported" 'folder "INBOX": ignored 1 message\(s\) the server sent unasked'
says "the asked ones are copied" '^INBOX: far->near \+3 ~0 -0'
t_equal "$CASE: only uids 1 2 3 recorded" "1 2 3" "$(pairs)"
t_equal "$CASE: the unasked message was written nowhere" "" \
	"$(grep -rl 'uid 99' "$top/$CASE/work" 2>/dev/null)"
server_stop

# --- folder names ------------------------------------------------------------------------------

case_setup unsafe-names
server_start unsafe-names
run_ferry 0 sync
for name in '../escape' 'a/../../../outside' "$WORK/absolute" '&AC4ALg-/mutf7dots' '..dots'; do
	t_contains "$CASE: \"$name\" is skipped with a warning" "$OUT" \
		"skipping folder \"$name\": its name cannot be mapped to a safe folder name"
done
for name in 'ctl\x01name' 'esc\x1b[31mred' 'del\x7fname'; do
	t_contains "$CASE: \"$name\" is skipped, shown escaped" "$OUT" "skipping folder \"$name\""
done
for c in $'\x01' $'\x1b' $'\x7f'; do
	t_not_contains "$CASE: no raw $(printf '%q' "$c") reaches the terminal" "$OUT" "$c"
done
t_equal "$CASE: nothing named escape, outside, absolute or mutf7dots anywhere" "" \
	"$(find "$top" \( -name escape -o -name outside -o -name absolute -o -name mutf7dots \) -print)"
t_equal "$CASE: only the safe folders were selected" "SELECT Good SELECT INBOX" \
	"$(grep -E '^[0-9]+ (SELECT|EXAMINE|CREATE|DELETE)' "$SRV_LOG" | cut -d' ' -f2- | sort -u |
		tr '\n' ' ' | sed 's/ $//')"
t_equal "$CASE: Good and INBOX synced" "1 1 2 2 3 3" "$(pairs)"
server_stop

# A name with CR LF in it (sent as a literal) would inject a command if ever sent back.
case_setup crlf-name
server_start crlf-name
run_ferry 0 sync
t_contains "$CASE: the CR LF name is skipped, shown escaped" "$OUT" \
	'skipping folder "evil\x0d\x0aX1 DELETE INBOX": its name cannot be mapped to a safe folder name'
t_contains "$CASE: the bare LF name is skipped, shown escaped" "$OUT" \
	'skipping folder "bare\x0aX2 DELETE INBOX"'
t_not_contains "$CASE: no raw CR reaches the terminal" "$OUT" $'\r'
t_equal "$CASE: every line the server received is a command of ferry's (nothing injected)" "" \
	"$(grep -Ev '^(# connection [0-9]+|[0-9]+ [A-Z]+( .*)?)$' "$SRV_LOG"; grep -E 'DELETE|^X' "$SRV_LOG")"
t_equal "$CASE: Good and INBOX synced" "1 1 2 2 3 3" "$(pairs)"
server_stop

# --- the session ends in the middle of a FETCH -------------------------------------------------

case_setup bye-mid-fetch
server_start bye-mid-fetch
run_ferry 1 sync
says "the BYE is reported as the end of the session while fetching" \
	'INBOX: folder "INBOX": fetching 3 messages from uid 1: (connection lost|the server closed the session)'
t_equal "$CASE: only the complete message 1 is recorded" "1" "$(pairs)"
t_equal "$CASE: only message 1 was delivered" 1 "$(local_messages INBOX)"
server_stop
follow_up 2 "1 2 3"

# --- the parser crash of libetpan 1.9.4: contained in the channel's child ----------------------

# In a sanitizer build, AddressSanitizer would catch the SIGSEGV and exit 1 instead: let the
# signal kill the child, as it does in a normal build.
case_setup permanentflags
server_start permanentflags
RUN_ENV=("ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}handle_segv=0")
run_ferry 1 sync
RUN_ENV=()
says "the crash is reported" 'crashed \(signal 11'
says "the crash report names the channel" '^ferry: error: test: .*crashed \(signal 11'
nothing_synced
server_stop
follow_up 3 "1 2 3"

# --- IDLE ----------------------------------------------------------------------------------------
# The idle-untagged scenario (untagged data before "+ idling") needs `ferry watch`, which
# sends IDLE: hostile_watch.sh runs it.

awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { printf "# took %.1f s\n", b - a }'
t_done
