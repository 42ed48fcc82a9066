#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# OAuth2 logins against a Dovecot that checks every token for real: its oauth2 passdb asks a
# stub authorization server (tests/tools/oauth_stub.py) to introspect the token. ferry logs in
# with auth = xoauth2 and auth = oauthbearer (RFC 7628; with SASL-IR, then on a Dovecot that
# does not announce it), its password_command being contrib/ferry-oauth2, which gets access
# tokens from the same stub and caches them until they expire. A revoked refresh token and a
# wrong access token end in exit 3 (AUTH), without a retry; no token shows in the -v trace.
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=sync_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

SRC=${FERRY_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
HELPER=$SRC/contrib/ferry-oauth2
REFRESH=refresh-token-of-alice
EXPIRES=300 # seconds an access token lives
MARGIN=30 # ferry-oauth2 asks for a new one this long before

OA=$(mktemp -d) || exit 1
STUB_PID=
HOSTILE_PID=
ROTATING_PID=
SLOW_PID=
# shellcheck disable=SC2317 # run by the trap
cleanup() {
	[[ -n $STUB_PID ]] && kill "$STUB_PID" 2>/dev/null
	[[ -n $HOSTILE_PID ]] && kill "$HOSTILE_PID" 2>/dev/null
	[[ -n $ROTATING_PID ]] && kill "$ROTATING_PID" 2>/dev/null
	[[ -n $SLOW_PID ]] && kill "$SLOW_PID" 2>/dev/null
	rm -rf -- "$OA"
}
trap cleanup EXIT # dovecot_start adds its own stop to this trap
chmod 0755 "$OA"  # Dovecot's auth process reads the oauth2 settings file in it

python3 "$SRC/tests/tools/oauth_stub.py" --state-dir "$OA" --refresh-token "$REFRESH" \
	--client-id ferry-test --user alice --expires-in "$EXPIRES" --ttl 600 &
STUB_PID=$!
for ((i = 0; i < 100; i++)); do
	[[ -s $OA/port ]] && break
	sleep 0.1
done
STUB_PORT=$(cat "$OA/port" 2>/dev/null) || {
	t_fail "the stub token endpoint starts" "no port in $OA/port after 10 s"
	t_done
}
cat >"$OA/oauth2.conf.ext" <<EOF
introspection_mode = post
introspection_url = http://127.0.0.1:$STUB_PORT/introspect
username_attribute = username
active_attribute = active
active_value = true
EOF
chmod 0644 "$OA/oauth2.conf.ext"
OAUTH_CONF="auth_mechanisms = plain login xoauth2 oauthbearer
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $OA/oauth2.conf.ext
}"
export DOVECOT_EXTRA_CONF=$OAUTH_CONF
sync_setup

export XDG_CACHE_HOME=$OA/cache
MAILDIR=$OA/Mail
CONF=$OA/ferry.conf
printf '%s\n' "$REFRESH" >"$OA/refresh"
chmod 0600 "$OA/refresh"
HELPER_CMD="$HELPER --token-url http://127.0.0.1:$STUB_PORT/token --client-id ferry-test \
--refresh-token-file $OA/refresh --margin $MARGIN"

# write_conf AUTH PASSWORD_COMMAND: channel test, alice on Dovecot and the Maildir $MAILDIR.
write_conf() {
	cat >"$CONF" <<CONF
[imap server]
host = 127.0.0.1
port = $DOVECOT_IMAPS_PORT
user = alice
auth = $1
password_command = $2
ca_file = $DOVECOT_CA
timeout = 20

[maildir laptop]
path = $MAILDIR
layout = verbatim

[channel test]
far = server
near = laptop
state = $OA/state/test.sqlite
CONF
	chmod 600 "$CONF"
}

count() { cat "$OA/$1"; }
logins() { dovecot_log_since "$1" | grep -c "Login: user=<alice>, method=$2" || true; }

seed 1 INBOX "first"
write_conf xoauth2 "$HELPER_CMD"
mark=$(dovecot_log_mark)
ferry_sync test
t_equal "xoauth2 with ferry-oauth2: the sync exits 0" 0 "$T_RC" || echo "$T_OUT" | t__indent
t_equal "the message arrived" 1 "$(md_count INBOX)"
t_equal "Dovecot logged alice in by XOAUTH2" 1 "$(logins "$mark" XOAUTH2)"
t_equal "one request to the token endpoint" 1 "$(count token_requests)"
t_equal "Dovecot had the token introspected" 1 "$(count introspect_requests)"
cache=$(find "$XDG_CACHE_HOME/ferry" -name "*.json" 2>/dev/null | head -n 1)
t_equal "the access token is cached in a 0600 file under XDG_CACHE_HOME/ferry" 600 \
	"$(stat -c %a "$cache" 2>/dev/null)"
t_not_contains "the cache does not hold the refresh token" "$(cat "$cache" 2>/dev/null)" "$REFRESH"

seed 2 INBOX "second"
ferry_sync test
t_equal "a second sync within the token's life exits 0" 0 "$T_RC"
t_equal "it uses the cached token: still one token request" 1 "$(count token_requests)"

write_conf oauthbearer "$HELPER_CMD"
seed 3 INBOX "third"
mark=$(dovecot_log_mark)
t_run "$FERRY" -v -c "$CONF" sync test
t_equal "oauthbearer (SASL-IR): the sync exits 0" 0 "$T_RC" || echo "$T_OUT" | t__indent
t_equal "the three messages are here" 3 "$(md_count INBOX)"
t_equal "Dovecot logged alice in by OAUTHBEARER" 1 "$(logins "$mark" OAUTHBEARER)"
t_equal "the cached token again" 1 "$(count token_requests)"
token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' \
	"$cache" 2>/dev/null)
t_matches "the cache holds the token the stub issued" "$token" '^stub-at-'
t_contains "-v traces the login command" "$T_OUT" "AUTHENTICATE"
t_not_contains "but not the access token" "$T_OUT" "$token"
t_not_contains "nor the base64 response that carries it" "$T_OUT" "$(printf \
	'n,a=alice,\001host=127.0.0.1\001port=%s\001auth=Bearer %s\001\001' "$DOVECOT_IMAPS_PORT" \
	"$token" | base64 -w0)"

# When the cached token has less than the margin left, ferry-oauth2 asks for a new one. The
# cache says so (a token that lived its life here would make the test wait that long).
python3 -c 'import json, sys, time
d = json.load(open(sys.argv[1])); d["expires_at"] = time.time() + int(sys.argv[2]) - 1
json.dump(d, open(sys.argv[1], "w"))' "$cache" "$MARGIN"
ferry_sync test
t_equal "with the cached token about to expire the sync exits 0" 0 "$T_RC" || echo "$T_OUT" | t__indent
t_equal "with a new token: two token requests" 2 "$(count token_requests)"

# The same with time passing: with a margin of EXPIRES-LIFE a token is good for LIFE seconds
# here (long enough for a Python to start on a loaded machine: seconds).
LIFE=30
short=("$HELPER" --token-url "http://127.0.0.1:$STUB_PORT/token" --client-id ferry-test \
	--refresh-token-file "$OA/refresh" --margin $((EXPIRES - LIFE)) --cache "$OA/short.json")
before=$(count token_requests)
t_run "${short[@]}"
first=$T_OUT
t_run "${short[@]}"
t_equal "ferry-oauth2 run twice at once prints the same token" "$first" "$T_OUT"
t_equal "and asked the endpoint once" $((before + 1)) "$(count token_requests)"
expires_at=$(python3 -c 'import json, sys; print(int(json.load(open(sys.argv[1]))["expires_at"]))' \
	"$OA/short.json" 2>/dev/null)
wait_for=$((${expires_at:-0} - (EXPIRES - LIFE) - $(date +%s) + 1))
((wait_for > 0 && wait_for <= LIFE + 1)) && sleep "$wait_for"
t_run "${short[@]}"
t_equal "after the token's life it exits 0" 0 "$T_RC"
t_matches "with a new token" "$T_OUT" '^stub-at-'
[[ $T_OUT != "$first" ]] || t_fail "the token after expiry differs from the first"
t_equal "got from the endpoint" $((before + 2)) "$(count token_requests)"

# Several logins at once (ferry's connections, parallel channels): one refresh between them.
# The endpoint takes 8 s to answer, so that all three find no token in the cache.
mkdir -p "$OA/slow"
python3 "$SRC/tests/tools/oauth_stub.py" --state-dir "$OA/slow" --refresh-token "$REFRESH" \
	--client-id ferry-test --user alice --token-delay 8 --ttl 300 &
SLOW_PID=$!
for ((i = 0; i < 100; i++)); do
	[[ -s $OA/slow/port ]] && break
	sleep 0.1
done
pids=()
for n in 1 2 3; do
	timeout 60 "$HELPER" --token-url "http://127.0.0.1:$(cat "$OA/slow/port")/token" \
		--client-id ferry-test --refresh-token-file "$OA/refresh" --cache "$OA/together.json" \
		>"$OA/together.$n" 2>&1 &
	pids+=($!)
done
wait_ok=0
for pid in "${pids[@]}"; do
	wait "$pid" || wait_ok=1
done
t_equal "three ferry-oauth2 at once all exit 0" 0 "$wait_ok"
t_equal "they asked the endpoint once" 1 "$(count slow/token_requests)"
t_equal "and print the same token" 1 "$(sort -u "$OA"/together.[123] | wc -l)"
kill "$SLOW_PID" 2>/dev/null

# A provider that rotates refresh tokens (as Microsoft does): the file gets the new one.
mkdir -p "$OA/rotating"
python3 "$SRC/tests/tools/oauth_stub.py" --state-dir "$OA/rotating" --refresh-token first-rt \
	--client-id ferry-test --user alice --rotate --ttl 300 &
ROTATING_PID=$!
for ((i = 0; i < 100; i++)); do
	[[ -s $OA/rotating/port ]] && break
	sleep 0.1
done
printf '%s\n' first-rt >"$OA/rotating.rt"
chmod 0600 "$OA/rotating.rt"
rotating=("$HELPER" --token-url "http://127.0.0.1:$(cat "$OA/rotating/port")/token" \
	--client-id ferry-test --refresh-token-file "$OA/rotating.rt" --cache "$OA/rotating.json")
t_run "${rotating[@]}"
t_equal "a rotating provider: ferry-oauth2 exits 0" 0 "$T_RC" || echo "$T_OUT" | t__indent
t_matches "the refresh token file holds the new refresh token" "$(cat "$OA/rotating.rt")" \
	'^rotated-'
t_equal "still readable by its owner only" 600 "$(stat -c %a "$OA/rotating.rt")"
rm -f "$OA/rotating.json"
t_run "${rotating[@]}"
t_equal "the next refresh, with the rotated token, works" 0 "$T_RC" || echo "$T_OUT" | t__indent
t_equal "two requests" 2 "$(cat "$OA/rotating/token_requests")"
kill "$ROTATING_PID" 2>/dev/null

# A wrong access token: AUTH, exit 3, one attempt only.
for mech in xoauth2 oauthbearer; do
	write_conf "$mech" "echo stub-at-not-issued"
	before=$(count introspect_requests)
	start=$(date +%s)
	ferry_sync test
	t_equal "$mech with a wrong access token exits 3" 3 "$T_RC"
	t_contains "$mech: it says the login was refused" "$T_OUT" "login refused"
	[[ $mech == xoauth2 ]] ||
		t_contains "$mech: and the status of the server's challenge" "$T_OUT" \
			"(token status: invalid_token)"
	t_equal "$mech: one login attempt, no retry" $((before + 1)) "$(count introspect_requests)"
	t_not_contains "$mech: the error does not show the token" "$T_OUT" "stub-at-not-issued"
	(($(date +%s) - start < 30)) || t_fail "$mech: the refusal took $(($(date +%s) - start)) s"
done

# What is no bearer token (RFC 6750: no spaces, no control characters) is not sent at all.
write_conf oauthbearer "printf 'two words'"
before=$(count introspect_requests)
ferry_sync test
t_equal "a token with a space: exit 3" 3 "$T_RC"
t_contains "ferry says what is wrong with it" "$T_OUT" "printed no OAuth2 access token"
t_equal "the server was not asked" "$before" "$(count introspect_requests)"

# A revoked refresh token: ferry-oauth2 says what the endpoint said; ferry exits 3.
rm -rf -- "${XDG_CACHE_HOME:?}/ferry"
printf '%s\n' "revoked-refresh-token" >"$OA/refresh"
write_conf oauthbearer "$HELPER_CMD"
before=$(count token_requests)
ferry_sync test
t_equal "a revoked refresh token: exit 3" 3 "$T_RC"
t_contains "the endpoint's error is shown" "$T_OUT" "invalid_grant"
t_contains "with its description" "$T_OUT" "Token has been expired or revoked"
t_contains "and the HTTP status" "$T_OUT" "400"
t_not_contains "the refresh token is never printed" "$T_OUT" "revoked-refresh-token"
t_equal "one request, no retry" $((before + 1)) "$(count token_requests)"

# A Dovecot without SASL-IR: OAUTHBEARER sends its response after the "+" continuation, and
# answers the error challenge with a single 0x01.
printf '%s\n' "$REFRESH" >"$OA/refresh"
dovecot_stop
export DOVECOT_EXTRA_CONF="$OAUTH_CONF
imap_capability = ${DOVECOT_PLAIN_CAPABILITY/SASL-IR /}"
dovecot_start || exit 1
write_conf oauthbearer "$HELPER_CMD"
rm -rf -- "$MAILDIR" "$OA/state"
seed 1 INBOX "first"
mark=$(dovecot_log_mark)
t_run "$FERRY" -v -c "$CONF" sync test
t_equal "oauthbearer without SASL-IR: the sync exits 0" 0 "$T_RC" || echo "$T_OUT" | t__indent
t_equal "Dovecot logged alice in by OAUTHBEARER" 1 "$(logins "$mark" OAUTHBEARER)"
t_equal "the message arrived" 1 "$(md_count INBOX)"
token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' \
	"$(find "$XDG_CACHE_HOME/ferry" -name "*.json" | head -n 1)" 2>/dev/null)
t_not_contains "the trace does not show the token" "$T_OUT" "$token"
t_not_contains "nor the base64 response, a line of its own here" "$T_OUT" "$(printf \
	'n,a=alice,\001host=127.0.0.1\001port=%s\001auth=Bearer %s\001\001' "$DOVECOT_IMAPS_PORT" \
	"$token" | base64 -w0)"
t_contains "the trace shows it redacted" "$T_OUT" "C: <redacted>"
write_conf oauthbearer "echo stub-at-not-issued"
ferry_sync test
t_equal "without SASL-IR a wrong token exits 3" 3 "$T_RC"
t_contains "it says the login was refused" "$T_OUT" "login refused"
t_contains "and the status of the server's challenge" "$T_OUT" "(token status: invalid_token)"

# A server that answers every line with another challenge (no real one does: the scripted
# server): ferry sends its response, the 0x01, a cancel, and gives up; it does not loop.
perl "$SRC/tests/hostile/server.pl" --scenario oauth-endless-challenge --port-file "$OA/hostile.port" \
	--log "$OA/hostile.log" --connections 4 --max-time 60 >/dev/null 2>"$OA/hostile.err" &
HOSTILE_PID=$!
for ((i = 0; i < 100; i++)); do
	[[ -s $OA/hostile.port ]] && break
	sleep 0.1
done
cat >"$OA/hostile.conf" <<CONF
[imap hostile]
host = 127.0.0.1
port = $(cat "$OA/hostile.port" 2>/dev/null)
tls = none
user = tester
auth = oauthbearer
password_command = echo stub-at-whatever
timeout = 10
CONF
chmod 600 "$OA/hostile.conf"
start=$(date +%s)
t_run "$FERRY" -c "$OA/hostile.conf" check hostile
t_equal "endless challenges: refused, exit 3" 3 "$T_RC" || echo "$T_OUT" | t__indent
(($(date +%s) - start < 10)) || t_fail "endless challenges: it took $(($(date +%s) - start)) s"
t_equal "the client answered three times: response, 0x01, cancel" \
	"sasl: <response> sasl: AQ== sasl: *" \
	"$(grep '^sasl: ' "$OA/hostile.log" | sed 's/^sasl: bix.*/sasl: <response>/' | tr '\n' ' ' |
		sed 's/ $//')"
kill "$HOSTILE_PID" 2>/dev/null

t_done
