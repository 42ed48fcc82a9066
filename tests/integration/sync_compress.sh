#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# COMPRESS=DEFLATE (RFC 4978) against a real Dovecot with its imap_zlib plugin
# (DOVECOT_COMPRESS=1 in the fixture). The server store is reached through
# tests/tools/relay, which counts the bytes on the wire (TLS passes through).
#
# With compress = yes: `ferry check` says the session is compressed; the -v
# trace shows COMPRESS DEFLATE, its OK, and readable IMAP after it (no deflate
# bytes, no password); a sync of 300 messages plus a 5 MB one down and 100 plus
# a 5 MB one up arrives intact both ways (every message's SHA-256, CRs
# stripped, on the server's disk and in the Maildir); and the wire carried far
# fewer bytes than Dovecot's own log says it sent and received, and than the
# same sync with compress = no. compress = no and compress = auto to 127.0.0.1
# or localhost send no COMPRESS although the server offers it; a tunnel
# compresses with compress = yes only.
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=sync_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

: "${RELAY:?RELAY must point at the relay test tool (tests/tools/relay.c)}"
T_TIMEOUT=240
DOWN=300
UP=100
BIG=$((5 * 1024 * 1024))

RELAY_PID=
# shellcheck disable=SC2317 # run by the trap
relay_stop() {
	if [[ -n $RELAY_PID ]]; then
		kill "$RELAY_PID" 2>/dev/null
		wait "$RELAY_PID" 2>/dev/null
	fi
	RELAY_PID=
}
# The relay is stopped on exit too (dovecot_start adds its own stop to this trap).
trap relay_stop EXIT

export DOVECOT_COMPRESS=1
dovecot_start || {
	t_fail "a throwaway Dovecot with imap_zlib starts" "see the messages above"
	t_done
}
WORK=$DOVECOT_DIR/work
RELAY_OUT=$WORK/relay.out
mkdir -p "$WORK"
export HOME=$WORK/home XDG_CONFIG_HOME=$WORK/home/.config XDG_STATE_HOME=$WORK/home/.local/state
unset FERRY_CONFIG
mkdir -p "$HOME"

"$RELAY" -t 550 "$DOVECOT_IMAPS_PORT" >"$RELAY_OUT" 2>&1 &
RELAY_PID=$!
RELAY_PORT=
for ((i = 0; i < 50; i++)); do
	RELAY_PORT=$(sed -n 's/^port //p' "$RELAY_OUT")
	[[ -n $RELAY_PORT ]] && break
	sleep 0.1
done
if [[ -z $RELAY_PORT ]]; then
	t_fail "the relay starts" "$(cat "$RELAY_OUT")"
	t_done
fi

# --- the data -------------------------------------------------------------------------------

# gen_messages DIR COUNT FIRST TAG: COUNT messages of 2 to 6 KB of mail-like text (words from
# a small vocabulary, picked by a generator seeded with the message number), as files in DIR.
gen_messages() {
	awk -v dir="$1" -v count="$2" -v first="$3" -v tag="$4" 'BEGIN {
		nw = split("the a meeting project report please find attached regarding " \
			"schedule tomorrow budget review thanks best regards team update " \
			"of to and in for with on is are we you our next week quarter " \
			"numbers draft final version comments agenda minutes action items", w, " ")
		for (n = first; n < first + count; n++) {
			f = sprintf("%s/%d.M%dP%d.%s", dir, 1704067200 + n, n, n, tag)
			printf "From: Sender %d <sender%d@example.org>\n", n % 17, n % 17 > f
			printf "To: Alice <alice@imap.test.local>\n" > f
			printf "Subject: %s message %d\n", tag, n > f
			printf "Date: Mon, 01 Jan 2024 00:00:00 +0000\n" > f
			printf "Message-ID: <%s.%d@ferry.test>\n\n", tag, n > f
			seed = n * 7919 + 17
			size = 2000 + (n * 37) % 4000
			for (bytes = 0; bytes < size;) {
				line = ""
				while (length(line) < 66) {
					seed = (seed * 1103515245 + 12345) % 2147483648
					line = line w[1 + int(seed / 65536) % nw] " "
				}
				print line > f
				bytes += length(line) + 1
			}
			close(f)
		}
	}'
}

# gen_big FILE TAG: a 5 MB message: 4 MB of text like the above, then a 1 MB attachment of
# random bytes in base64, which does not compress (a worst case for the deflate layer).
gen_big() {
	{
		printf 'From: Big <big@example.org>\nTo: Alice <alice@imap.test.local>\n'
		printf 'Subject: %s big message\nMessage-ID: <%s.big@ferry.test>\n' "$2" "$2"
		printf 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\n'
		awk -v size=$((BIG - 1100000)) -v seed="${#2}" 'BEGIN {
			nw = split("the a meeting project report please find attached regarding " \
				"schedule tomorrow budget review thanks best regards team update " \
				"of to and in for with on is are we you our next week quarter", w, " ")
			for (bytes = 0; bytes < size;) {
				line = ""
				while (length(line) < 66) {
					seed = (seed * 1103515245 + 12345) % 2147483648
					line = line w[1 + int(seed / 65536) % nw] " "
				}
				print line
				bytes += length(line) + 1
			}
		}'
		printf -- '--b\nContent-Transfer-Encoding: base64\n\n'
		head -c 786432 /dev/urandom | base64 -w 76
		printf -- '--b--\n'
	} >"$1"
}

# server_folder USER FOLDER: the folder's directory in the server's Maildir (created).
server_folder() {
	local dir=$DOVECOT_DIR/mail/$1/Maildir/.$2
	if ! dovecot_has_folder "$1" "$2"; then
		dovecot_doveadm mailbox create -u "$1" "$2" || return 1
	fi
	printf '%s\n' "$dir"
}

# digests DIR: the SHA-256 of every message in DIR's cur/ and new/, CRs stripped, sorted.
digests() {
	local f
	find "$1/cur" "$1/new" -maxdepth 1 -type f 2>/dev/null | while read -r f; do
		sed 's/\r$//' "$f" | sha256sum | cut -d' ' -f1
	done | sort
}

count_files() {
	find "$1/cur" "$1/new" -maxdepth 1 -type f 2>/dev/null | wc -l
}

# Down: the same messages for alice and bob on the server; Up: the same in two Maildirs.
big_down=$WORK/big-down.eml
big_up=$WORK/big-up.eml
gen_big "$big_down" down
gen_big "$big_up" up
t_ok "the big messages are about 5 MB" test "$(stat -c %s "$big_down")" -ge $((BIG - 200000)) \
	-a "$(stat -c %s "$big_up")" -ge $((BIG - 200000))
for user in alice bob; do
	dir=$(server_folder "$user" Down) || exit 1
	gen_messages "$dir/new" "$DOWN" 1 down
	cp "$big_down" "$dir/new/1704000000.Mbig.down"
	chown -R nobody:nogroup "$dir"
done
for md in A B; do
	dir=$WORK/$md/Up
	mkdir -p "$dir/tmp" "$dir/cur" "$dir/new"
	gen_messages "$dir/new" "$UP" 1001 up
	cp "$big_up" "$dir/new/1704000000.Mbig.up"
done
small=$(server_folder alice Small) || exit 1
gen_messages "$small/new" 3 2001 small
chown -R nobody:nogroup "$small"

# store NAME USER COMPRESS [HOST]: an [imap NAME] section reaching USER through the relay.
store() {
	printf '[imap %s]\nhost = %s\nport = %s\nuser = %s\npassword = secret\n' \
		"$1" "${4:-127.0.0.1}" "$RELAY_PORT" "$2"
	printf 'ca_file = %s\ntimeout = 30\n' "$DOVECOT_CA"
	[[ $3 == default ]] || printf 'compress = %s\n' "$3"
	printf '\n'
}
CONF=$WORK/ferry.conf
{
	store alice-yes alice yes
	store bob-no bob no
	store alice-no alice no
	store alice-auto alice default
	store alice-localhost alice auto localhost
	# doveadm exec leaves out the settings of `protocol imap`: the plugin is named here.
	tunnel="doveadm -c $DOVECOT_CONF exec imap -u alice -o mail_plugins=imap_zlib"
	printf '[imap tunnel-yes]\ntunnel = %s\ncompress = yes\n\n' "$tunnel"
	printf '[imap tunnel-auto]\ntunnel = %s\n\n' "$tunnel"
	printf '[maildir A]\npath = %s\n\n[maildir B]\npath = %s\n\n' "$WORK/A" "$WORK/B"
	printf '[channel zipped]\nfar = alice-yes\nnear = A\nfolders = Down Up Small\n'
	printf 'state = %s\n\n' "$WORK/zipped.sqlite"
	printf '[channel plain]\nfar = bob-no\nnear = B\nfolders = Down Up\n'
	printf 'state = %s\n\n' "$WORK/plain.sqlite"
} >"$CONF"
chmod 600 "$CONF"

# relay_since MARK: "S2C C2S", the bytes of the relay's connections that ended after MARK (a
# line count of its output), once at least one has ended (bounded wait).
relay_since() {
	local i
	for ((i = 0; i < 50; i++)); do
		if tail -n +"$(($1 + 1))" "$RELAY_OUT" | grep -q '^conn '; then
			sleep 0.3 # a second connection ending at the same time
			break
		fi
		sleep 0.1
	done
	tail -n +"$(($1 + 1))" "$RELAY_OUT" |
		awk '/^conn / { s += $4; c += $6 } END { printf "%d %d\n", s, c }'
}
relay_mark() {
	wc -l <"$RELAY_OUT"
}

# dovecot_bytes MARK USER: "OUT IN", what Dovecot logged for USER's sessions that ended after
# dovecot_log_mark printed MARK: the IMAP text it sent and received, before any compression.
dovecot_bytes() {
	dovecot_log_since "$1" | grep -F "imap($2)" | grep -F 'Logged out' |
		sed -E 's/.* in=([0-9]+) out=([0-9]+).*/\2 \1/' |
		awk '{ o += $1; i += $2 } END { printf "%d %d\n", o, i }'
}

# --- what check and the trace say ----------------------------------------------------------

t_ok "compress = yes: check succeeds" "$FERRY" -c "$CONF" check alice-yes
t_contains "compress = yes: check says the session is compressed" "$T_OUT" \
	"logged in as alice (LOGIN), compressed (COMPRESS=DEFLATE)"
t_contains "the server offers COMPRESS=DEFLATE (imap_zlib is loaded)" "$T_OUT" "COMPRESS=DEFLATE"

t_ok "compress = yes: check -v succeeds" "$FERRY" -v -c "$CONF" check alice-yes
trace=$T_OUT
t_matches "the trace shows COMPRESS DEFLATE going out" "$trace" '^C: [0-9]+ COMPRESS DEFLATE$'
t_matches "the trace shows Dovecot's OK to it" "$trace" '^S: [0-9]+ OK Begin compression'
after=$(sed -n '/^S: [0-9]* OK Begin compression/,$p' <<<"$trace")
t_matches "after it, the trace shows the commands as text" "$after" '^C: [0-9]+ NOOP$'
t_matches "after it, the trace shows the answers as text" "$after" '^S: [0-9]+ OK NOOP completed'
t_matches "after it, LOGOUT goes out as text (its answer is not awaited)" "$after" '^C: [0-9]+ LOGOUT$'
t_matches "the trace sums the compression up" "$trace" \
	'^compress: sent [0-9]+ bytes as [0-9]+, received [0-9]+ bytes as [0-9]+$'

for name in alice-no alice-auto alice-localhost; do
	t_ok "$name: check -v succeeds" "$FERRY" -v -c "$CONF" check "$name"
	t_not_contains "$name: no COMPRESS is sent" "$T_OUT" "COMPRESS DEFLATE"
	t_not_contains "$name: check does not say compressed" "$T_OUT" "compressed (COMPRESS"
	t_contains "$name: the server did offer it" "$T_OUT" "COMPRESS=DEFLATE"
done

t_ok "tunnel, compress = yes: check succeeds" "$FERRY" -c "$CONF" check tunnel-yes
t_contains "tunnel, compress = yes: compressed" "$T_OUT" "PREAUTH, compressed (COMPRESS=DEFLATE)"
t_ok "tunnel, compress = auto: check succeeds" "$FERRY" -c "$CONF" check tunnel-auto
t_not_contains "tunnel, compress = auto: not compressed" "$T_OUT" "compressed (COMPRESS"
t_contains "tunnel, compress = auto: although the server offers it" "$T_OUT" "COMPRESS=DEFLATE"

# A small folder with -v: fetched bodies show as text in the trace, nothing binary, no password.
t_ok "compress = yes: -v sync of a small folder" "$FERRY" -v -c "$CONF" sync zipped:Small
trace=$T_OUT
t_matches "the compressed sync sent COMPRESS DEFLATE" "$trace" '^C: [0-9]+ COMPRESS DEFLATE$'
t_matches "the compressed sync's FETCH is readable" "$trace" '^C: [0-9]+ UID FETCH '
t_matches "the fetched messages are readable" "$trace" '^S: Subject: small message 2001$'
t_equal "the trace has no binary bytes" "" "$(LC_ALL=C grep -n '[^[:print:][:space:]]' <<<"$trace")"
t_not_contains "the trace has no password" "$trace" "secret"
t_equal "the small folder arrived" 3 "$(count_files "$WORK/A/Small")"

# --- a compressed sync both ways, and the same uncompressed --------------------------------

mark=$(relay_mark)
log_mark=$(dovecot_log_mark)
t_ok "compress = yes: sync of $DOWN + 1 messages down and $UP + 1 up" \
	"$FERRY" -c "$CONF" sync zipped
t_contains "compress = yes: everything went down" "$T_OUT" "Down: far->near +$((DOWN + 1)) ~0 -0"
t_contains "compress = yes: everything went up" "$T_OUT" "Up: near->far +$((UP + 1)) ~0 -0"
read -r z_s2c z_c2s < <(relay_since "$mark")
read -r z_out z_in < <(dovecot_bytes "$log_mark" alice)

mark=$(relay_mark)
log_mark=$(dovecot_log_mark)
t_ok "compress = no: the same sync" "$FERRY" -c "$CONF" sync plain
t_contains "compress = no: everything went down" "$T_OUT" "Down: far->near +$((DOWN + 1)) ~0 -0"
read -r n_s2c n_c2s < <(relay_since "$mark")
read -r n_out n_in < <(dovecot_bytes "$log_mark" bob)

down=$(server_folder alice Down)
up=$(server_folder alice Up)
t_equal "compressed download: $((DOWN + 1)) messages arrived" $((DOWN + 1)) "$(count_files "$WORK/A/Down")"
t_equal "compressed download: every message intact (SHA-256)" "$(digests "$down")" \
	"$(digests "$WORK/A/Down")"
t_equal "compressed upload: $((UP + 1)) messages arrived" $((UP + 1)) "$(count_files "$up")"
t_equal "compressed upload: every message intact (SHA-256)" "$(digests "$WORK/A/Up")" \
	"$(digests "$up")"
t_ok "compressed download: the 5 MB message is there" \
	grep -q -F "$(sha256sum <"$big_down" | cut -d' ' -f1)" <(digests "$WORK/A/Down")
t_ok "compressed upload: the 5 MB message is there" \
	grep -q -F "$(sha256sum <"$big_up" | cut -d' ' -f1)" <(digests "$up")
t_equal "uncompressed sync: the same messages down" "$(digests "$WORK/A/Down")" \
	"$(digests "$WORK/B/Down")"
t_equal "uncompressed sync: the same messages up" "$(digests "$WORK/A/Up")" \
	"$(digests "$(server_folder bob Up)")"

pct() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%d", b ? 100 * a / b : 999 }'
}
echo "# wire bytes, compress = yes: server->client $z_s2c client->server $z_c2s"
echo "# wire bytes, compress = no:  server->client $n_s2c client->server $n_c2s"
echo "# Dovecot's IMAP text, compressed session: out $z_out in $z_in; plain session: out $n_out in $n_in"
echo "# compressed wire / plain wire: down $(pct "$z_s2c" "$n_s2c")%, up $(pct "$z_c2s" "$n_c2s")%"
t_ok "Dovecot logged the compressed session's traffic" test "$z_out" -gt "$BIG" -a "$z_in" -gt "$BIG"
# The text Dovecot counted went through deflate: the wire carried much less. The plain
# session's wire carried all of it (plus TLS).
t_ok "compress = yes: the wire carried < 75% of what Dovecot sent ($z_s2c of $z_out)" \
	test "$((z_s2c * 100))" -lt "$((z_out * 75))"
t_ok "compress = yes: the wire carried < 75% of what Dovecot received ($z_c2s of $z_in)" \
	test "$((z_c2s * 100))" -lt "$((z_in * 75))"
t_ok "compress = no: the wire carried all Dovecot sent ($n_s2c of $n_out)" \
	test "$n_s2c" -ge "$n_out"
t_ok "compress = no: the wire carried all Dovecot received ($n_c2s of $n_in)" \
	test "$n_c2s" -ge "$n_in"
t_ok "the compressed download took < 75% of the plain one's bytes" \
	test "$((z_s2c * 100))" -lt "$((n_s2c * 75))"
t_ok "the compressed upload took < 75% of the plain one's bytes" \
	test "$((z_c2s * 100))" -lt "$((n_c2s * 75))"

# Nothing left to do, compressed: the session still works after all that.
t_ok "compress = yes: a second sync" "$FERRY" -c "$CONF" sync zipped
t_contains "compress = yes: the second sync has nothing to do" "$T_OUT" \
	"zipped: far->near +0 ~0 -0, near->far +0 ~0 -0"

t_done
