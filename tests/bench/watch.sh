#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Benchmark of `ferry watch` (issue 14) against the fixture Dovecot on 127.0.0.1, one channel
# (alice's account <-> a local Maildir, default `watch` = INBOX, default interval):
#
#   latency   WATCH_N (50) deliveries each way, one at a time: from the start of a server
#             delivery (`doveadm save`, timed from before it starts, so its own run counts) to
#             the file in the local INBOX's new/ or cur/; and from a local write (tmp/, then
#             the rename into new/, timed from the rename) to the file in the server's Maildir.
#             p50, p95 (nearest rank) and max for each direction;
#   RSS       VmRSS of the watch parent and of its watchers after 10 sync cycles and after
#             WATCH_CYCLES (1000); a cycle is a sync the parent forks (counted by strace on
#             the parent alone), a whole channel_sync: connect, log in, select, fetch, write,
#             record. They are driven by server deliveries, each waited for until it is in
#             the local Maildir: an IDLE wake-up, a sync that copies one message, and the
#             syncs its echo starts, as daily use does;
#   idle      WATCH_IDLE_MIN (10) minutes with nothing happening: context switches
#             (voluntary + involuntary, /proc/PID/status) and CPU (utime + stime,
#             /proc/PID/stat) of the parent and each watcher, with a timeline of every
#             10 s in which a process woke, to tell periodic wake-ups from none.
#
# The deliveries are spaced (WATCH_GAP, 3 s after each arrival): a change that comes while
# the previous one's sync still runs waits for it, and local events within a second are
# merged by the debounce; spaced, each figure is one change's latency, not a batch's. The gap
# is that long for the echo: a message ferry writes into the Maildir wakes its inotify
# watcher (a sync 1 s later, which changes nothing), one it uploads wakes its IDLE watcher
# (a sync at once); the gap lets that sync end before the next change.
#
#   tests/bench/watch.sh [FERRY]      (root, for Dovecot; default $FERRY, else build/ferry)
#   WATCH_IDLE_MIN=3 WATCH_CYCLES=200 tests/bench/watch.sh     (shorter)
#
# Prints a table against the targets of issue 14: server->local p95 <= 1 s, local->server
# p95 <= 2 s, no periodic wake-up besides the IDLE refresh and the interval, no RSS growth.
# Raw figures go to WATCH_OUT (default a new directory under /tmp), which is kept.
set -uo pipefail
shopt -s nullglob
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FERRY=${1:-${FERRY:-$here/../../build/ferry}}
N=${WATCH_N:-50}
CYCLES=${WATCH_CYCLES:-1000}
IDLE_MIN=${WATCH_IDLE_MIN:-10}
GAP=${WATCH_GAP:-3}
OUT=${WATCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench-watch.XXXXXX")}
# shellcheck source=../integration/lib.sh
. "$here/../integration/lib.sh"
# shellcheck source=../integration/sync_lib.sh
. "$here/../integration/sync_lib.sh"

command -v strace >/dev/null || {
	echo "$0: strace is needed (it counts the syncs)" >&2
	exit 2
}
[[ -x $FERRY ]] || {
	echo "$0: no ferry at $FERRY" >&2
	exit 2
}
mkdir -p "$OUT" || exit 2
# The fixture stops a Dovecot older than DOVECOT_TTL (30 min by default): longer than a run.
export DOVECOT_TTL=${DOVECOT_TTL:-10800}
# shellcheck disable=SC2119 # its argument is the layout
sync_setup >/dev/null || exit 2

WPID=
SPID=
old_trap=$(trap -p EXIT)
eval "old_words=($old_trap)"
# shellcheck disable=SC2064 # expand now: the fixture's command is kept as it was
trap "[[ -n \$SPID ]] && kill \$SPID 2>/dev/null; [[ -n \$WPID ]] && kill -KILL \$WPID 2>/dev/null; ${old_words[2]:-}" EXIT
WLOG=$OUT/watch.log
SRV=$DOVECOT_DIR/mail/alice/Maildir
LOC=$MAILDIR/INBOX
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# nap SECONDS: sleeps without a fork (a read that times out on a pipe nobody writes to),
# so that the polling below costs the machine little.
exec {NAP_FD}<> <(:)
nap() { read -r -t "$1" -u "$NAP_FD" _; }
# files DIR...: the number of files in the new/ and cur/ of each Maildir folder DIR.
files() {
	local n=0 d f
	for d; do
		f=("$d"/new/* "$d"/cur/*)
		n=$((n + ${#f[@]}))
	done
	echo "$n"
}
# await_more DIR COUNT SECONDS: waits until DIR holds more than COUNT files; prints the
# time it saw it (EPOCHREALTIME), or nothing after SECONDS.
await_more() {
	local dir=$1 count=$2 end
	end=$(awk -v t="$EPOCHREALTIME" -v s="$3" 'BEGIN { printf "%.3f", t + s }')
	while :; do
		if (($(files "$dir") > count)); then
			echo "$EPOCHREALTIME"
			return 0
		fi
		awk -v a="$EPOCHREALTIME" -v b="$end" 'BEGIN { exit !(a > b) }' && return 1
		nap 0.01
	done
}
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%d\n", (b - a) * 1000 }'; }
# pctl P < numbers: the P-th percentile, nearest rank.
pctl() { sort -n | awk -v p="$1" '{ a[NR] = $1 } END { i = int(NR * p / 100 + 0.999999); if (i < 1) i = 1; print a[i] }'; }
kids() { ps -o pid= --ppid "$WPID" | tr -d ' '; }
# stat_of PID: "rss_kb ctxt_switches cpu_ticks" of PID.
stat_of() {
	local rss=0 ctx=0 k v rest cpu
	[[ -r /proc/$1/stat ]] || {
		echo "0 0 0"
		return
	}
	while read -r k v rest; do
		case $k in
		VmRSS:) rss=$v ;;
		voluntary_ctxt_switches: | nonvoluntary_ctxt_switches:) ctx=$((ctx + v)) ;;
		esac
	done <"/proc/$1/status"
	# utime and stime are fields 14 and 15; the name (field 2) may hold spaces.
	rest=$(<"/proc/$1/stat")
	rest=${rest##*) }
	read -r -a cpu <<<"$rest"
	echo "$rss $ctx $((cpu[11] + cpu[12]))"
}
# what PID: parent, IMAP watcher or Maildir watcher (by the connection it holds).
what() {
	local fd
	if [[ $1 == "$WPID" ]]; then
		echo parent
		return
	fi
	for fd in /proc/"$1"/fd/*; do
		if [[ $(readlink "$fd") == socket:* ]]; then
			echo "IMAP watcher"
			return
		fi
	done
	echo "Maildir watcher"
}
# syncs: the sync cycles so far: the processes the watch parent started (a sync of the
# channel each, but the first watchers), as strace, attached to the parent alone until the
# idle period, saw them forked. A sync logs one line only when it changed something.
syncs() { grep -c '^[0-9]* *clone' "$OUT/forks"; }
# A message made once; each copy gets its own number (subject, sender, Message-ID) by a
# substitution in the shell, so that no fork delays the timing.
TMPL=$(make_message 999999 "bench 999999" 2000)
n_msg=0
message() {
	n_msg=$((n_msg + 1))
	printf '%s\n' "${TMPL//999999/$((500000 + n_msg))}"
}
# deliver: one message saved on the server, waited for locally; prints the latency in ms
# from the start of the save and from its end.
deliver() {
	local before t0 ts t1
	before=$(files "$LOC")
	message >"$OUT/msg"
	t0=$EPOCHREALTIME
	dovecot_doveadm save -u alice -m INBOX <"$OUT/msg" || return 1
	ts=$EPOCHREALTIME
	t1=$(await_more "$LOC" "$before" 30) || return 1
	echo "$(ms "$t0" "$t1") $(ms "$ts" "$t1")"
}
# The watchers: the parent's children once the first sync is done. A sync's process is not
# one of them; one restarted shows as gone (its VmRSS 0).
rss_snapshot() {
	local p line="$1:"
	for p in $WPID $WATCHERS; do
		line+=" $(what "$p")=$(stat_of "$p" | cut -d' ' -f1)kB"
	done
	echo "$line"
}

echo "# ferry watch benchmark; raw figures in $OUT" >&2
"$FERRY" -c "$CONF" watch test >"$WLOG" 2>&1 </dev/null &
WPID=$!
strace -qq -e trace=clone,clone3,fork,vfork -o "$OUT/forks" -p "$WPID" &
SPID=$!
echo "# first sync" >&2
seed 0 INBOX "bench first" || exit 1
await_more "$LOC" 0 60 >/dev/null || {
	echo "$0: the first sync brought nothing in 60 s" >&2
	exit 1
}
nap 3
WATCHERS=$(kids | tr '\n' ' ')

# ---- RSS after 10 cycles ----
while (($(syncs) < 10)); do
	deliver >/dev/null || exit 1
	nap "$GAP"
done
rss10=$(rss_snapshot "after $(syncs) syncs")

# ---- latency, server -> local ----
echo "# $N deliveries server -> local" >&2
: >"$OUT/s2l.ms"
for ((i = 0; i < N; i++)); do
	deliver >>"$OUT/s2l.ms" || {
		echo "$0: delivery $i did not arrive in 30 s" >&2
		exit 1
	}
	nap "$GAP"
done

# ---- latency, local -> server ----
echo "# $N writes local -> server" >&2
: >"$OUT/l2s.ms"
mkdir -p "$LOC/tmp"
for ((i = 0; i < N; i++)); do
	before=$(files "$SRV")
	name="$(date +%s).M${i}P$$.benchhost"
	message >"$LOC/tmp/$name"
	t0=$EPOCHREALTIME
	mv "$LOC/tmp/$name" "$LOC/new/$name"
	t1=$(await_more "$SRV" "$before" 30) || {
		echo "$0: local write $i did not reach the server in 30 s" >&2
		exit 1
	}
	ms "$t0" "$t1" >>"$OUT/l2s.ms"
	nap "$GAP"
done

# ---- RSS after CYCLES cycles ----
echo "# sync cycles up to $CYCLES" >&2
: >"$OUT/rss.txt"
t0=$EPOCHREALTIME
cycles0=$(syncs)
marks=(100 250 500 750)
ndel=0
while (($(syncs) < CYCLES)); do
	deliver >/dev/null || exit 1
	ndel=$((ndel + 1))
	if ((${#marks[@]} && $(syncs) >= marks[0])); then
		((marks[0] < CYCLES)) && rss_snapshot "after $(syncs) syncs" >>"$OUT/rss.txt"
		marks=("${marks[@]:1}")
	fi
done
cycle_s=$(awk -v a="$t0" -v b="$EPOCHREALTIME" -v n="$(($(syncs) - cycles0))" \
	'BEGIN { if (n > 0) printf "%.2f", (b - a) / n; else printf "-" }')
nap 3
rss_end=$(rss_snapshot "after $(syncs) syncs")
{
	echo "$rss10"
	cat "$OUT/rss.txt"
	echo "$rss_end"
} >"$OUT/rss.all"

# ---- idle ----
echo "# idle for $IDLE_MIN min" >&2
kill "$SPID"
wait "$SPID"
SPID=
nap 5
pids="$WPID $WATCHERS"
declare -A c0 t0s last
for p in $pids; do
	read -r _ c t < <(stat_of "$p")
	c0[$p]=$c
	t0s[$p]=$t
	last[$p]=$c
done
: >"$OUT/idle.timeline"
for ((s = 10; s <= IDLE_MIN * 60; s += 10)); do
	nap 10
	for p in $pids; do
		read -r _ c _ < <(stat_of "$p" 2>/dev/null || echo "0 0 0")
		if ((c != last[$p])); then
			echo "${s}s $(what "$p") $p +$((c - last[$p]))" >>"$OUT/idle.timeline"
		fi
		last[$p]=$c
	done
done
idle_rows=
idle_total_c=0
idle_total_t=0
hz=$(getconf CLK_TCK)
for p in $pids; do
	read -r _ c t < <(stat_of "$p")
	dc=$((c - c0[$p]))
	dt=$((t - t0s[$p]))
	idle_total_c=$((idle_total_c + dc))
	idle_total_t=$((idle_total_t + dt))
	times=$(awk -v p="$p" '$4 == p { printf "%s%s", sep, $1; sep = " " }' "$OUT/idle.timeline")
	idle_rows+="| $(what "$p") | $dc | $(awk -v t="$dt" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }') | ${times:-none} |"$'\n'
done
[[ $(kids | tr '\n' ' ') == "$WATCHERS" ]] ||
	idle_rows+="(the watchers changed: $WATCHERS at the start, $(kids | tr '\n' ' ') at the end)"$'\n'
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

kill -TERM "$WPID"
for ((i = 0; i < 300; i++)); do
	kill -0 "$WPID" 2>/dev/null || break
	nap 0.1
done
wait "$WPID"
rc=$?
WPID=

# ---- the table ----
row() { # NAME FILE TARGET_MS
	local p50 p95 max verdict n v
	v=$(<"$2")
	n=$(grep -c . <<<"$v")
	p50=$(pctl 50 <<<"$v")
	p95=$(pctl 95 <<<"$v")
	max=$(pctl 100 <<<"$v")
	verdict=met
	((p95 > $3)) && verdict="MISSED"
	echo "| $1 | $n | $p50 | $p95 | $max | p95 <= $3 | $verdict |"
}
rss_kb() { sed -n "s/.*$2=\([0-9]*\)kB.*/\1/p" <<<"$1"; }
{
	echo "Machine: $(nproc) CPUs, kernel $(uname -r), load average before $load_before, after $load_after; $(date -u '+%Y-%m-%d %H:%M') UTC."
	echo "$("$FERRY" --version); Dovecot $("$DOVECOT_BIN" --version)."
	echo
	echo "| latency, ms | n | p50 | p95 | max | target | |"
	echo "|---|---:|---:|---:|---:|---|---|"
	row "server -> local, from the end of \`doveadm save\` to the file in new/" <(cut -d' ' -f2 "$OUT/s2l.ms") 1000
	row "server -> local, from the start of \`doveadm save\`" <(cut -d' ' -f1 "$OUT/s2l.ms") 1000
	row "local -> server (rename into new/ to file on the server)" "$OUT/l2s.ms" 2000
	echo
	echo "Idle, $IDLE_MIN min (target: no periodic wake-up but the IDLE refresh, every 25 min, and the interval, 15 min by default):"
	echo
	echo "| process | context switches | CPU s | 10-s slots in which it woke |"
	echo "|---|---:|---:|---|"
	printf '%s' "$idle_rows"
	echo "| all | $idle_total_c | $(awk -v t="$idle_total_t" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }') | |"
	echo
	echo "RSS (VmRSS, kB) by sync cycles (syncs the parent forked); driven by $ndel server deliveries one after the other (each a sync that copies it, then the syncs its echo starts, which change nothing); $cycle_s s a cycle:"
	echo
	echo "| when | parent | IMAP watcher | Maildir watcher |"
	echo "|---|---:|---:|---:|"
	while read -r line; do
		echo "| ${line%%:*} | $(rss_kb "$line" parent) | $(rss_kb "$line" "IMAP watcher") | $(rss_kb "$line" "Maildir watcher") |"
	done <"$OUT/rss.all"
	echo
	echo "watch ended with $rc on SIGTERM."
} | tee "$OUT/table.md"
