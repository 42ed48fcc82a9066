#!/usr/bin/env bash
# Secrets on this machine (issue 13, item 11): no core dumps of a process that
# holds a password, password_command read until its own exit, a config file
# other users can write refused, state and lock files never opened through a
# symbolic link. Needs no server: the IMAP store points at a closed port of
# 127.0.0.1, and the sync runs Maildir against Maildir.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

t_need_ferry
dir=$(mktemp -d "${TMPDIR:-/tmp}/ferry-secrets.XXXXXX") || exit 1
bg_pids=()
cleanup() {
	local pid
	for pid in "${bg_pids[@]}"; do
		kill "$pid" 2>/dev/null
	done
	[[ -s $dir/bg.pid ]] && kill "$(cat "$dir/bg.pid")" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
export HOME=$dir/home XDG_STATE_HOME=$dir/home/state
unset FERRY_CONFIG
mkdir -p "$HOME"
# A port nobody listens on: bind one, note it, close it.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# imap_conf FILE PASSWORD_COMMAND: a config whose one store runs that command.
imap_conf() {
	cat >"$1" <<CONF
[imap work]
host = 127.0.0.1
port = $port
tls = none
user = alice
password_command = $2
timeout = 5
CONF
	chmod 644 "$1"
}

# --- 1. no core dumps: RLIMIT_CORE 0 and not dumpable, parent and child ---
# The files of /proc/PID turn to root's for a process that is not dumpable,
# and another process of the same user can no longer read them; to see that,
# ferry runs as another user (nobody), since root reads them anyway.
chmod 755 "$dir"
imap_conf "$dir/slow.conf" "sleep 5; echo x"
# prlimit: a soft limit of 0 inherited from the shell would prove nothing.
prlimit --core=unlimited:unlimited setpriv --reuid=65534 --regid=65534 --clear-groups \
	env HOME=/ "$FERRY" -c "$dir/slow.conf" \
	check work </dev/null >"$dir/slow.out" 2>&1 &
top_pid=$!
bg_pids+=("$top_pid")
child=
for ((i = 0; i < 100; i++)); do
	child=$(pgrep -P "$top_pid" -x ferry | head -n 1)
	[[ -n $child ]] && pgrep -P "$child" >/dev/null && break
	sleep 0.05
done
if [[ -z $child ]]; then
	t_fail "check forks a child that runs password_command" "$(cat "$dir/slow.out")"
else
	for pid in "$top_pid" "$child"; do
		what="ferry (pid $pid)"
		[[ $pid == "$child" ]] && what="ferry's child (pid $pid)"
		t_matches "$what: core file size limit 0" "$(cat "/proc/$pid/limits")" \
			'^Max core file size +0 +0 '
		t_equal "$what runs as nobody" 65534 \
			"$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")"
		t_equal "$what is not dumpable (its /proc/PID/fd belongs to root)" 0 \
			"$(stat -c %u "/proc/$pid/fd")"
		t_expect_exit 1 "$what: the same user cannot read its environment" \
			setpriv --reuid=65534 --regid=65534 --clear-groups cat "/proc/$pid/environ"
	done
fi
wait "$top_pid"
chmod 700 "$dir"

# --- 2. password_command: read until the command exits, not until EOF ---
# The command leaves a background process holding its stdout: ferry must not
# wait for it. The port is closed, so the login attempt fails fast (exit 3).
imap_conf "$dir/bg.conf" "echo secret; sleep 100 & echo \$! >$dir/bg.pid"
start=$SECONDS
T_TIMEOUT=30 t_expect_exit 3 "a background grandchild holding stdout: no wait" \
	"$FERRY" -c "$dir/bg.conf" check work
t_not_contains "the password was read (the connection failed, not the command)" "$T_OUT" \
	"password_command"
t_equal "it took under 10 s" 1 "$(((SECONDS - start) < 10))"
[[ -s $dir/bg.pid ]] && kill "$(cat "$dir/bg.pid")" 2>/dev/null
rm -f "$dir/bg.pid"

imap_conf "$dir/out.conf" "echo secret; exec >&-; sleep 1; exit 7"
t_expect_exit 3 "a command that closes stdout and fails later is still a failure" \
	"$FERRY" -c "$dir/out.conf" check work
t_contains "it names the status" "$T_OUT" "password_command exited with status 7"

if [[ ${FERRY_NIGHTLY:-0} == 1 ]]; then
	# 30 s is the timeout ferry gives a command: too long for every run.
	imap_conf "$dir/hang.conf" "sleep 45"
	start=$SECONDS
	T_TIMEOUT=60 t_expect_exit 3 "a command that never exits is stopped" \
		"$FERRY" -c "$dir/hang.conf" check work
	t_contains "the error names the key, file and line" "$T_OUT" \
		"$dir/hang.conf:1: store 'work': password_command did not exit within 30 s"
	t_equal "after 30 s, not 45" 1 "$(((SECONDS - start) < 40))"
fi

# --- 3. a config file that other users can write is refused ---
md=$dir/md.conf
cat >"$md" <<CONF
[maildir a]
path = $dir/a

[maildir b]
path = $dir/b

[channel ab]
far = a
near = b
state = $dir/state/ab.sqlite
CONF
mkdir -p "$dir/a/INBOX"/{cur,new,tmp} "$dir/b"
chmod 620 "$md"
t_expect_exit 2 "a group-writable config is refused" "$FERRY" -c "$md" status
t_contains "it says which file and what to run" "$T_OUT" "chmod go-w $md"
chmod 602 "$md"
t_expect_exit 2 "a world-writable config is refused" "$FERRY" -c "$md" sync
t_contains "it says what to run" "$T_OUT" "chmod go-w $md"
chmod 644 "$md"
chown 65534 "$md"
t_expect_exit 2 "a config owned by another user is refused" "$FERRY" -c "$md" status
t_contains "it names the owner" "$T_OUT" "owned by another user"
chown 0 "$md"
t_ok "a config only its owner can write is read" "$FERRY" -c "$md" status

imap_conf "$dir/pw.conf" "true"
sed -i 's/^password_command = true$/password = secret/' "$dir/pw.conf"
chmod 644 "$dir/pw.conf"
t_ok "a readable config with a password is read" "$FERRY" -c "$dir/pw.conf" status
t_contains "with a warning naming the chmod" "$T_OUT" "chmod 600 $dir/pw.conf"

# --- 4. state and lock files are never opened through a symbolic link ---
rm -rf "$dir/state" "$dir/b"
mkdir -p "$dir/state" "$dir/b"
ln -s "$dir/victim-state" "$dir/state/ab.sqlite"
t_expect_exit 1 "a symbolic link at the state path is refused" "$FERRY" -c "$md" sync
t_contains "it says so, naming the file" "$T_OUT" "$dir/state/ab.sqlite: is a symbolic link"
t_equal "the link's target was not created" no "$([[ -e $dir/victim-state ]] && echo yes || echo no)"
rm -f "$dir/state/ab.sqlite"

rm -f "$dir/state/ab.sqlite.lock"
printf 'keep me\n' >"$dir/victim-lock"
ln -s "$dir/victim-lock" "$dir/state/ab.sqlite.lock"
t_expect_exit 1 "a symbolic link at the lock path is refused" "$FERRY" -c "$md" sync
t_contains "it says so, naming the lock" "$T_OUT" "$dir/state/ab.sqlite.lock: is a symbolic link"
t_equal "the link's target is untouched" "keep me" "$(cat "$dir/victim-lock")"
rm -f "$dir/state/ab.sqlite.lock"
ln -s "$dir/victim-lock2" "$dir/state/ab.sqlite.lock"
t_expect_exit 1 "a dangling symbolic link at the lock path is refused" "$FERRY" -c "$md" sync
t_equal "its target was not created" no "$([[ -e $dir/victim-lock2 ]] && echo yes || echo no)"
rm -f "$dir/state/ab.sqlite.lock"

# SQLite opens the -wal beside the state by itself, and already refuses a link
# there (it did before ferry asked for NOFOLLOW): a guard that it stays so.
rm -f "$dir/state/ab.sqlite"
ln -s "$dir/victim-wal" "$dir/state/ab.sqlite-wal"
t_expect_exit 1 "a symbolic link at the state's -wal path is refused" "$FERRY" -c "$md" sync
t_equal "its target was not created" no "$([[ -e $dir/victim-wal ]] && echo yes || echo no)"
rm -f "$dir/state/ab.sqlite-wal" "$dir/state/ab.sqlite"

t_ok "without the links the sync runs" "$FERRY" -c "$md" sync
t_equal "the state file is private" 600 "$(stat -c %a "$dir/state/ab.sqlite")"
t_equal "the lock file is private" 600 "$(stat -c %a "$dir/state/ab.sqlite.lock")"

t_done
