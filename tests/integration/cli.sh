#!/usr/bin/env bash
# The command line as a user meets it: version, help, usage errors, and every
# kind of config error through the real binary (file:line: key: reason, exit 2).
# Needs no server.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

: "${FERRY:?FERRY must point at the ferry binary}"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

t_expect_exit 0 "--version prints the version" "$FERRY" --version
t_matches "--version: ferry N.N.N" "$T_OUT" '^ferry [0-9]+\.[0-9]+\.[0-9]+( \(test hooks\))?$'
t_expect_exit 0 "help lists the commands" "$FERRY" help
for c in sync list status check watch; do
	t_contains "help: names $c" "$T_OUT" "$c"
done
t_expect_exit 0 "help sync explains sync" "$FERRY" help sync
t_contains "help sync: --dry-run" "$T_OUT" "--dry-run"
t_expect_exit 0 "sync --help is help sync" "$FERRY" sync --help
t_contains "sync --help: --force-delete" "$T_OUT" "--force-delete"
t_expect_exit 2 "help of an unknown command exits 2" "$FERRY" help frobnicate
t_expect_exit 2 "no command exits 2" "$FERRY"
t_expect_exit 2 "an unknown command exits 2" "$FERRY" frobnicate
t_contains "unknown command: says so" "$T_OUT" "unknown command 'frobnicate'"
t_expect_exit 2 "an unknown global option exits 2" "$FERRY" --frobnicate help
t_expect_exit 2 "-c without a file exits 2" "$FERRY" -c

good=$dir/good.conf
cat >"$good" <<CONF
[imap work]
host = 127.0.0.1
user = alice
password = secret

[maildir laptop]
path = $dir/mail

[channel work]
far = work
near = laptop
state = $dir/work.sqlite
CONF
chmod 600 "$good"

t_expect_exit 2 "sync --pull --push exits 2" "$FERRY" -c "$good" sync --pull --push
t_expect_exit 2 "sync --bogus exits 2" "$FERRY" -c "$good" sync --bogus
t_contains "sync --bogus: names the option" "$T_OUT" "--bogus"
t_expect_exit 2 "sync of an unknown channel exits 2" "$FERRY" -c "$good" sync nosuch
t_contains "unknown channel: names it" "$T_OUT" "no channel 'nosuch'"
t_expect_exit 2 "list takes channels, not CHANNEL:FOLDER" "$FERRY" -c "$good" list work:INBOX
t_expect_exit 2 "status takes at most one channel" "$FERRY" -c "$good" status work work
t_expect_exit 2 "the config file from FERRY_CONFIG is read" \
	env FERRY_CONFIG="$dir/none.conf" "$FERRY" sync
t_contains "FERRY_CONFIG: names the file" "$T_OUT" "$dir/none.conf"

# One bad config per rule: the binary reports file:line: key: reason and exits 2.
bad() { # bad DESC LINE KEY CONFIG-TEXT
	local desc=$1 line=$2 key=$3 file
	file=$dir/bad-$RANDOM.conf
	printf '%s\n' "$4" >"$file"
	t_expect_exit 2 "config: $desc" "$FERRY" -c "$file" sync
	t_contains "config: $desc: file:line: key:" "$T_OUT" "$file:$line: $key:"
}
store='[imap work]
host = 127.0.0.1
user = alice
password = secret'
bad "unknown key" 5 colour "$store
colour = blue"
bad "bad value" 2 tls "[imap work]
tls = sometimes
host = h"
bad "port 143 with implicit TLS" 3 port "[imap work]
host = h
port = 143
user = u
password = p"
bad "port 993 with STARTTLS" 4 port "[imap work]
host = h
tls = starttls
port = 993
user = u
password = p"
bad "unknown store in a channel" 6 far "$store
[channel c]
far = nowhere
near = work"
bad "far and near the same store" 7 near "$store
[channel c]
far = work
near = work"
bad "unknown section kind" 1 "[pop3 x]" "[pop3 x]"
bad "a key given twice" 5 host "$store
host = again"
bad "missing host" 1 "[imap work]" "[imap work]
user = u
password = p"
bad "bad fingerprint" 5 fingerprint "$store
fingerprint = sha256:zz"
bad "bad max_delete" 10 max_delete "$store
[maildir m]
path = /tmp/x
[channel c]
far = work
near = m
max_delete = lots"

# Columns line up by display width, not bytes, with non-ASCII folder names (a
# Maildir on both sides: no server). col2 prints, per folder line, the display
# column where the text after the name starts.
col2() { # col2 OUTPUT NAME...
	python3 - "$@" <<'PY'
import sys, unicodedata
def width(s):
    return sum(0 if unicodedata.combining(c) else
               2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)
out, names = sys.argv[1], sys.argv[2:]
for line in out.splitlines():
    for n in names:
        if line.startswith("  " + n + " "):
            rest = line[2 + len(n):]
            print(width("  " + n) + len(rest) - len(rest.lstrip(" ")))
PY
}
wide=$dir/wide.conf
mkdir -p "$dir/wa" "$dir/wb"
for f in INBOX Sent Entwürfe 送信済み Ελληνικά; do
	mkdir -p "$dir/wa/$f"/{cur,new,tmp}
done
cat >"$wide" <<CONF
[maildir wa]
path = $dir/wa

[maildir wb]
path = $dir/wb

[channel wide]
far = wa
near = wb
state = $dir/wide.sqlite
CONF
t_ok "a sync of non-ASCII folder names" "$FERRY" -c "$wide" sync
for cmd in list status; do
	t_ok "$cmd with non-ASCII folder names" env LC_ALL=C.UTF-8 "$FERRY" -c "$wide" "$cmd"
	t_equal "$cmd: the second column starts at the same place on every line" 1 \
		"$(col2 "$T_OUT" INBOX Sent Entwürfe 送信済み Ελληνικά | sort -u | wc -l)"
	t_equal "$cmd: every folder has its line" 5 \
		"$(col2 "$T_OUT" INBOX Sent Entwürfe 送信済み Ελληνικά | wc -l)"
done

t_done
