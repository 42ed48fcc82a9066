#!/usr/bin/env bash
# ferry against mbsync and offlineimap on the same corpus, same Dovecot, same machine.
#
#   tests/bench/run.sh SIZE [--latency MS] [--runs N] [--runs-for TOOL=N]
#                      [--tools ferry,mbsync,offlineimap] [--scenarios LIST]
#                      [--ferry PATH] [--out DIR] [--timeout S] [--keep] [--messages N]
#
# SIZE: small (2,000 messages), medium (20,000), large (100,000), huge (1,000,000 small
# ones, most in one folder; --messages N for fewer while trying things); see corpus.sh.
# Runs as root (Dovecot needs it). Installs isync and offlineimap with apt-get if missing.
# Not part of ctest. README.md in this directory explains the scenarios and the table.
#
# What it does: starts a throwaway Dovecot (tests/fixtures/dovecot.sh), one account per
# tool seeded with the same corpus (ferry: alice, mbsync: bob, offlineimap: carol, added to
# the fixture's users file here), writes each tool's config (implicit TLS to 127.0.0.1,
# verified against the fixture's certificate) syncing into its own empty Maildir, and per
# scenario runs each tool N times under /usr/bin/time (wall, user+sys CPU and peak RSS,
# children included), after the same change to each tool's copy. Prints Markdown tables of
# the medians and the ratios ferry/mbsync and ferry/offlineimap, `cp -r` of the server
# Maildir as the physical reference, and at the end compares every tool's Maildir with its
# account on the server: folder, Message-ID and flags of every message.
#
# Options:
#   --latency MS       MS ms of round-trip delay between the tools and Dovecot: a relay on
#                      127.0.0.1 (lagrelay.c, built here) holds every byte MS/2 ms each way
#   --runs N           timed runs per tool and scenario (default 3); the table shows medians
#   --runs-for T=N     another count for one tool, e.g. --runs-for offlineimap=1
#   --tools LIST       comma-separated subset of ferry,mbsync,offlineimap (default all three)
#   --scenarios LIST   comma-separated subset of initial,noop,flags,new200,move1000 (default
#                      all, in this order: each starts from the state the previous left)
#   --ferry PATH       the ferry binary (default $FERRY, else build/ferry of this tree)
#   --out DIR          where raw results go (default a new /tmp/ferry-bench-out.XXXXXX):
#                      runs.tsv (one line per timed run), each run's output, the configs,
#                      table.md; nothing of it belongs in git
#   --timeout S        a timed run taking longer is killed and marked failed (default 3600)
#   --keep             keep the work directory (Maildirs, Dovecot) after the run
#   --messages N       N messages instead of the size's count, same folders and mix
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The command as recorded with the results: --ferry and --out name paths of this machine and
# change nothing measured, so they are left out.
cmdline="tests/bench/run.sh"
skip=0
for a in "$@"; do
	if ((skip)); then
		skip=0
		continue
	fi
	case $a in
	--ferry | --out) skip=1 ;;
	*) cmdline+=" $a" ;;
	esac
done

usage() {
	sed -n '3,6p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}
say() { printf 'bench: %s\n' "$*" >&2; }
die() {
	say "$*"
	exit 1
}

SIZE=${1:-}
[[ $SIZE =~ ^(small|medium|large|huge)$ ]] || usage
shift
LATENCY=0
RUNS=3
TOOLS=ferry,mbsync,offlineimap
SCENARIOS=initial,noop,flags,new200,move1000
FERRY=${FERRY:-$here/../../build/ferry}
OUT=""
TIMEOUT=3600
KEEP=0
declare -A RUNS_FOR=()
while [[ $# -gt 0 ]]; do
	case $1 in
	--latency) LATENCY=${2:?}; shift 2 ;;
	--runs) RUNS=${2:?}; shift 2 ;;
	--runs-for) RUNS_FOR[${2%%=*}]=${2#*=}; shift 2 ;;
	--tools) TOOLS=${2:?}; shift 2 ;;
	--scenarios) SCENARIOS=${2:?}; shift 2 ;;
	--ferry) FERRY=${2:?}; shift 2 ;;
	--out) OUT=${2:?}; shift 2 ;;
	--timeout) TIMEOUT=${2:?}; shift 2 ;;
	--keep) KEEP=1; shift ;;
	--messages) export CORPUS_MESSAGES=${2:?}; shift 2 ;;
	*) usage ;;
	esac
done
[[ $LATENCY =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--latency wants milliseconds"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs wants a positive number"
[[ ${CORPUS_MESSAGES:-1} =~ ^[1-9][0-9]*$ ]] || die "--messages wants a positive number"
IFS=, read -r -a tools <<<"$TOOLS"
IFS=, read -r -a scenarios <<<"$SCENARIOS"
for t in "${tools[@]}"; do
	[[ $t == ferry || $t == mbsync || $t == offlineimap ]] || die "unknown tool $t"
done
for s in "${scenarios[@]}"; do
	[[ $s =~ ^(initial|noop|flags|new200|move1000)$ ]] || die "unknown scenario $s"
done
for t in "${!RUNS_FOR[@]}"; do
	[[ ${RUNS_FOR[$t]} =~ ^[1-9][0-9]*$ ]] || die "--runs-for $t: not a positive number"
done
runs_of() { printf '%s\n' "${RUNS_FOR[$1]:-$RUNS}"; }

[[ $EUID -eq 0 ]] || die "run as root (Dovecot's privilege separation needs it)"
[[ $(getent ahosts localhost | awk 'NR == 1 { print $1 }') == 127.0.0.1 ]] ||
	die "localhost does not resolve to 127.0.0.1 first here; the tools connect to localhost"

declare -A USER_OF=([ferry]=alice [mbsync]=bob [offlineimap]=carol)

# ---- what the bench needs ----

need() { # COMMAND PACKAGE
	command -v "$1" >/dev/null 2>&1 && return 0
	say "installing $2 (apt-get)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null 2>&1 ||
		{ apt-get update -q >/dev/null 2>&1 &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null 2>&1; } ||
		die "could not install $2"
	command -v "$1" >/dev/null 2>&1 || die "$2 installed but $1 not found"
}
need /usr/sbin/dovecot dovecot-imapd
need /usr/bin/time time
need cc gcc
need iconv libc-bin
for t in "${tools[@]}"; do
	case $t in
	mbsync) need mbsync isync ;;
	offlineimap) need offlineimap offlineimap ;;
	ferry) [[ -x $FERRY ]] || die "no ferry binary at $FERRY (build it, or --ferry PATH)" ;;
	esac
done

# ---- work directories; everything started here is stopped at exit ----

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench.XXXXXX") || exit 1
if [[ -z $OUT ]]; then
	OUT=$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench-out.XXXXXX") || exit 1
else
	mkdir -p "$OUT" || exit 1
fi
RELAY_PID=""
MEASURE_PID=""
cleanup() {
	if [[ -n $MEASURE_PID ]]; then
		kill -TERM "$MEASURE_PID" 2>/dev/null
		wait "$MEASURE_PID" 2>/dev/null
	fi
	if [[ -n $RELAY_PID ]]; then
		kill -TERM "$RELAY_PID" 2>/dev/null
		wait "$RELAY_PID" 2>/dev/null
	fi
	if [[ $KEEP == 1 ]]; then
		say "kept $WORK"
	else
		rm -rf -- "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# Dovecot's auth and mail processes (dovecot, nobody) must reach the fixture's directory.
chmod 0755 "$WORK"
mkdir -p "$WORK/bin" "$WORK/home"
: >"$OUT/runs.tsv"

# The fixture stops Dovecot from its own EXIT trap (chained before cleanup) and, should this
# script be killed, from its watchdog; a bench may run for hours.
export DOVECOT_TTL=${DOVECOT_TTL:-43200}
# shellcheck source=../fixtures/dovecot.sh
. "$here/../fixtures/dovecot.sh"
# shellcheck source=corpus.sh
. "$here/corpus.sh"

GEN=$(corpus_build_gen "$WORK/bin") || die "cannot build corpusgen"
if [[ $LATENCY != 0 ]]; then
	cc -O2 -std=c11 -o "$WORK/bin/lagrelay" "$here/lagrelay.c" || die "cannot build lagrelay"
fi

say "starting Dovecot"
dovecot_start "$WORK/dovecot" >/dev/null || die "Dovecot did not start"
# A third account, only for this run: the fixture has alice and bob.
printf '%s\n' 'carol:{PLAIN}secret::::::' >>"$DOVECOT_DIR/users"
if [[ $SIZE == huge ]]; then
	# Seen: Dovecot's imap process ran out of its default 256 MB (vsz_limit) syncing the
	# uidlist of a Maildir folder of 880,000 messages. Room for it, before any client.
	printf 'service imap {\n  vsz_limit = 2G\n}\n' >>"$DOVECOT_CONF"
	dovecot_doveadm reload || die "Dovecot did not reload"
	sleep 1
fi

say "seeding the $SIZE corpus for: ${tools[*]}"
for t in "${tools[@]}"; do
	u=${USER_OF[$t]}
	corpus_seed "$SIZE" "$u" "$WORK/bin" >"$OUT/corpus.$u.tsv" || die "seeding $u failed"
	# Let Dovecot index the new files now (uids, sizes, dates), so that no tool pays for it.
	dovecot_doveadm fetch -u "$u" 'uid flags size.virtual date.received' all >/dev/null ||
		die "doveadm fetch for $u failed"
done
first_user=${USER_OF[${tools[0]}]}
corpus_msgs=$(awk -F'\t' '{n += $1} END {print n}' "$OUT/corpus.$first_user.tsv")
corpus_bytes=$(awk -F'\t' '{n += $2} END {print n}' "$OUT/corpus.$first_user.tsv")
corpus_folders=$(wc -l <"$OUT/corpus.$first_user.tsv")

PORT=$DOVECOT_IMAPS_PORT
if [[ $LATENCY != 0 ]]; then
	"$WORK/bin/lagrelay" -d "$LATENCY" -t "$DOVECOT_TTL" "$DOVECOT_IMAPS_PORT" \
		>"$WORK/relay.out" 2>"$OUT/relay.err" &
	RELAY_PID=$!
	for ((i = 0; i < 50; i++)); do
		[[ -s $WORK/relay.out ]] && break
		sleep 0.1
	done
	read -r _ PORT <"$WORK/relay.out" || die "the relay did not start"
	[[ $PORT =~ ^[0-9]+$ ]] || die "the relay did not start"
	say "relay on 127.0.0.1:$PORT adds $LATENCY ms round trip"
fi

# ---- configurations: same account data, TLS to 127.0.0.1, verified ----
# The host is "localhost" (127.0.0.1 here, and a DNS name of the fixture's certificate):
# mbsync 1.4 and offlineimap match the certificate against DNS names only, not IP addresses.

write_configs() {
	mkdir -p "$WORK/ferry" "$WORK/mbsync" "$WORK/offlineimap"
	cat >"$WORK/ferry/ferry.conf" <<EOF
[imap server]
host = localhost
port = $PORT
tls = implicit
user = alice
password = secret
ca_file = $DOVECOT_CA
timeout = 120

[maildir local]
path = $WORK/ferry/Mail
layout = verbatim

[channel bench]
far = server
near = local
state = $WORK/ferry/state/bench.sqlite
EOF
	cat >"$WORK/mbsync/mbsyncrc" <<EOF
IMAPAccount bench
Host localhost
Port $PORT
User bob
Pass secret
SSLType IMAPS
CertificateFile $DOVECOT_CA

IMAPStore bench-far
Account bench

MaildirStore bench-near
Path $WORK/mbsync/Mail/
Inbox $WORK/mbsync/Mail/INBOX
SubFolders Verbatim

Channel bench
Far :bench-far:
Near :bench-near:
Patterns *
Create Both
Expunge Both
SyncState *
EOF
	cat >"$WORK/offlineimap/offlineimaprc" <<EOF
[general]
accounts = bench
metadata = $WORK/offlineimap/meta
ui = quiet

[Account bench]
localrepository = bench-local
remoterepository = bench-remote

[Repository bench-local]
type = Maildir
localfolders = $WORK/offlineimap/Mail
sep = /

[Repository bench-remote]
type = IMAP
remotehost = localhost
remoteport = $PORT
remoteuser = carol
remotepass = secret
ssl = yes
sslcacertfile = $DOVECOT_CA
EOF
	chmod 600 "$WORK/ferry/ferry.conf" "$WORK/mbsync/mbsyncrc" "$WORK/offlineimap/offlineimaprc"
	# Kept with the results, the password being the fixture's.
	cp "$WORK/ferry/ferry.conf" "$WORK/mbsync/mbsyncrc" "$WORK/offlineimap/offlineimaprc" "$OUT/"
}
write_configs

tool_cmd() { # TOOL: sets the array cmd
	case $1 in
	ferry) cmd=("$FERRY" -q -c "$WORK/ferry/ferry.conf" sync bench) ;;
	mbsync) cmd=(mbsync -q -c "$WORK/mbsync/mbsyncrc" bench) ;;
	offlineimap) cmd=(offlineimap -c "$WORK/offlineimap/offlineimaprc" -o -u quiet) ;;
	esac
}

local_root() { printf '%s\n' "$WORK/$1/Mail"; }

reset_local() { # TOOL: an empty Maildir and no state
	rm -rf -- "$WORK/$1/Mail" "$WORK/$1/state" "$WORK/$1/meta"
	mkdir -p "$WORK/$1/Mail"
}

# ---- the changes made before a timed run ----

# toggle_flags USER: \Flagged toggled on every 100th message of the account (all folders,
# sorted by folder and uid): the same 1% every time, set on one run, cleared on the next.
toggle_flags() {
	local user=$1 op mb uids n=0
	while IFS=$'\t' read -r op mb uids; do
		dovecot_doveadm flags "$op" -u "$user" '\Flagged' mailbox "$mb" uid "$uids" ||
			return 1
		n=$((n + $(tr ',' '\n' <<<"$uids" | wc -l)))
	done < <(dovecot_doveadm -f tab fetch -u "$user" 'mailbox uid flags' all | tail -n +2 |
		LC_ALL=C sort -t $'\t' -k1,1 -k2,2n |
		awk -F'\t' 'NR % 100 == 50 {
			op = index($3, "\\Flagged") ? "remove" : "add"
			k = op "\t" $1
			if (!(k in set)) { order[++n] = k; set[k] = $2 }
			else set[k] = set[k] "," $2
		} END { for (i = 1; i <= n; i++) print order[i] "\t" set[order[i]] }')
	FLAG_CHANGES=$n
}

# add_local TOOL RUN: 200 new messages written as a mail client does: 100 received into
# INBOX/new, 100 sent into Sent/cur (:2,S). The same messages for every tool.
add_local() {
	local root first
	root=$(local_root "$1")
	first=$((1000000 + $2 * 1000))
	[[ -d $root/INBOX/cur && -d $root/Sent/cur ]] || {
		say "$1: no INBOX or Sent in $root"
		return 1
	}
	"$GEN" local "$root/INBOX" "$first" 100 new >/dev/null &&
		"$GEN" local "$root/Sent" "$((first + 500))" 100 sent >/dev/null
}

# msgnums DIR: "NUMBER<TAB>FILE" for each message of a Maildir folder (NUMBER from the
# corpus Message-ID <bench.NUMBER.xxx@ferry.bench>).
msgnums() {
	# shellcheck disable=SC2016 # an awk program
	find "$1/cur" "$1/new" -maxdepth 1 -type f -print0 2>/dev/null |
		xargs -0 -r awk 'FNR == 1 { found = 0 }
			!found && tolower($0) ~ /^message-id:/ {
				if (match($0, /bench\.[0-9]+\./))
					print substr($0, RSTART + 6, RLENGTH - 7) "\t" FILENAME
				found = 1; nextfile
			}
			/^$/ { nextfile }'
}

# move_local TOOL K: the K-th move run: 1,000 messages moved Archive -> Archive/2023 (odd K)
# or back (even K) with mv, as a mail client files them. The same 1,000 messages for every
# tool: the lowest-numbered ones in Archive at the first move run. For mbsync the ,U=<uid>
# part of the name is dropped, as mbsync asks of a client that moves files (its uids are
# per folder); ferry and offlineimap get the file under its own name.
move_local() {
	local tool=$1 k=$2 root src dst set f name moved=0
	root=$(local_root "$tool")
	set=$WORK/$tool/moveset
	if [[ $k == 1 ]]; then
		msgnums "$root/Archive" | sort -n | head -n 1000 | cut -f1 >"$set"
	fi
	if ((k % 2)); then
		src=$root/Archive dst=$root/Archive/2023
	else
		src=$root/Archive/2023 dst=$root/Archive
	fi
	[[ -d $dst/cur && -d $dst/new ]] || {
		say "$tool: no $dst"
		return 1
	}
	while IFS=$'\t' read -r _ f; do
		name=${f##*/}
		[[ $tool == mbsync ]] && name=$(sed -E 's/,U=[0-9]+//' <<<"$name")
		mv -- "$f" "$dst/$(basename "$(dirname "$f")")/$name" || return 1
		moved=$((moved + 1))
	done < <(msgnums "$src" | awk -F'\t' -v set="$set" '
		BEGIN { while ((getline l < set) > 0) want[l] = 1 }
		$1 in want')
	[[ $moved == 1000 ]] || {
		say "$tool: moved $moved messages, not 1000"
		return 1
	}
}

# ---- timing ----

# anon_peak NAME PID OUT: until PID ends, samples every 0.1 s the RssAnon (heap and other
# private memory; the file-backed pages of an mmap'd message do not count) of every process
# called NAME, and writes the largest seen, in KB, to OUT. A run shorter than one interval
# may show 0.
anon_peak() {
	local name=$1 pid=$2 out=$3 peak=0 v
	while kill -0 "$pid" 2>/dev/null; do
		# Through cat: awk given the files stops at the first that vanished since the
		# glob (any process ending on the machine), and the sample is lost.
		v=$(cat /proc/[0-9]*/status 2>/dev/null | awk -v n="$name" '/^Name:/ { c = $2 }
			/^RssAnon:/ && c == n && $2 > m { m = $2 } END { print m + 0 }')
		((v > peak)) && peak=$v
		sleep 0.1
	done
	echo "$peak" >"$out"
}

# measure SCENARIO TOOL RUN: one timed run; appends a line to runs.tsv.
measure() {
	local scen=$1 tool=$2 run=$3 tf log rc wall usr sys rss anon sampler cmd
	tool_cmd "$tool"
	tf=$OUT/time.$scen.$tool.$run
	log=$OUT/log.$scen.$tool.$run
	# In the background and waited for, so that a signal to this script is handled at once
	# (cleanup stops the run: timeout passes the signal on to the tool's process group).
	HOME=$WORK/home timeout -k 10 "$TIMEOUT" /usr/bin/time -f '%e %U %S %M' -o "$tf" \
		"${cmd[@]}" >"$log" 2>&1 </dev/null &
	MEASURE_PID=$!
	anon_peak "$(basename "${cmd[0]}")" "$MEASURE_PID" "$tf.anon" &
	sampler=$!
	wait "$MEASURE_PID"
	rc=$?
	MEASURE_PID=""
	wait "$sampler"
	anon=$(cat "$tf.anon" 2>/dev/null || echo NA)
	if read -r wall usr sys rss < <(tail -n 1 "$tf" 2>/dev/null) && [[ $wall =~ ^[0-9.]+$ ]]; then
		:
	else
		wall=NA usr=0 sys=0 rss=NA
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$scen" "$tool" "$run" "$wall" \
		"$(awk -v a="$usr" -v b="$sys" 'BEGIN { printf "%.2f", a + b }')" "$rss" "$rc" "$anon" \
		>>"$OUT/runs.tsv"
	if [[ $rc != 0 ]]; then
		say "$tool, $scen, run $run: exit $rc (see $log)"
	fi
	printf '  %-11s %-9s run %s: %6s s wall, %s s user, %s s sys, %s KB peak (%s KB anon), exit %s\n' \
		"$tool" "$scen" "$run" "$wall" "$usr" "$sys" "$rss" "$anon" "$rc" >&2
}

# ---- the physical reference: cp -r of the server's Maildir, as seeded ----

say "reference: cp -r of the server Maildir"
src=$DOVECOT_DIR/mail/$first_user/Maildir
for ((run = 1; run <= RUNS; run++)); do
	rm -rf -- "$WORK/cpref"
	/usr/bin/time -f '%e %U %S %M' -o "$OUT/time.cp.$run" cp -r "$src" "$WORK/cpref"
	read -r w u s m < <(tail -n 1 "$OUT/time.cp.$run")
	/usr/bin/time -f '%e' -o "$OUT/time.cpsync.$run" sync -f "$WORK/cpref"
	printf 'cp\tcp\t%s\t%s\t%s\t%s\t0\t%s\n' "$run" "$w" \
		"$(awk -v a="$u" -v b="$s" 'BEGIN { printf "%.2f", a + b }')" "$m" \
		"$(tail -n 1 "$OUT/time.cpsync.$run")" >>"$OUT/cp.tsv"
	rm -rf -- "$WORK/cpref"
done
cp_bytes=$(du -sb "$src" | cut -f1)

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
maxruns=$RUNS
for t in "${tools[@]}"; do
	r=$(runs_of "$t")
	((r > maxruns)) && maxruns=$r
done

declare -A MOVES_DONE=()
FLAG_CHANGES=0
for scen in "${scenarios[@]}"; do
	say "scenario $scen"
	for ((run = 1; run <= maxruns; run++)); do
		for t in "${tools[@]}"; do
			((run <= $(runs_of "$t"))) || continue
			case $scen in
			initial) reset_local "$t" ;;
			flags) toggle_flags "${USER_OF[$t]}" || die "flag change failed" ;;
			new200) add_local "$t" "$run" || die "adding local messages failed" ;;
			move1000)
				MOVES_DONE[$t]=$((${MOVES_DONE[$t]:-0} + 1))
				move_local "$t" "${MOVES_DONE[$t]}" || die "local moves failed"
				;;
			esac
			# Real re-syncs come more than a second after the last one: directory mtimes
			# are then older than a second, which ferry's skip rule (DESIGN rule 4) wants.
			[[ $scen == initial ]] || sleep 1.1
			measure "$scen" "$t" "$run"
		done
	done
	[[ $scen == flags ]] && echo "$FLAG_CHANGES" >"$OUT/flag_changes"
done

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- correctness: every tool's Maildir against its account on the server ----

# server_list USER: "FOLDER<TAB>MESSAGE-ID<TAB>LETTERS" per message, sorted.
server_list() {
	dovecot_doveadm -f tab fetch -u "$1" 'mailbox flags hdr.message-id' all | tail -n +2 |
		awk -F'\t' '{
			l = ""
			if (index($2, "\\Draft")) l = l "D"
			if (index($2, "\\Flagged")) l = l "F"
			if (index($2, "\\Answered")) l = l "R"
			if (index($2, "\\Seen")) l = l "S"
			if (index($2, "\\Deleted")) l = l "T"
			id = $3; if (match(id, /<[^>]*>/)) id = substr(id, RSTART, RLENGTH)
			print $1 "\t" id "\t" l
		}' | LC_ALL=C sort
}

# local_list ROOT: the same for a Maildir in the verbatim layout; folder directories named
# in modified UTF-7 (mbsync and offlineimap keep the server's encoding) are decoded.
local_list() {
	local root=$1 d rel name level dec IFS_save
	while IFS= read -r -d '' d; do
		d=${d%/cur}
		rel=${d#"$root"/}
		[[ $d == "$root" ]] && continue
		name=""
		IFS_save=$IFS
		IFS=/
		for level in $rel; do
			if dec=$(printf '%s' "$level" | iconv -f UTF-7-IMAP -t UTF-8 2>/dev/null); then
				level=$dec
			fi
			name+=${name:+/}$level
		done
		IFS=$IFS_save
		[[ -z $name ]] && name=$rel
		# shellcheck disable=SC2016 # an awk program
		find "$d/cur" "$d/new" -maxdepth 1 -type f -print0 2>/dev/null |
			xargs -0 -r awk -v folder="$name" 'FNR == 1 { found = 0 }
				!found && tolower($0) ~ /^message-id:/ {
					id = $0; if (match(id, /<[^>]*>/)) id = substr(id, RSTART, RLENGTH)
					n = split(FILENAME, p, "/"); f = p[n]; l = ""
					if ((i = index(f, ":2,")) > 0) {
						s = substr(f, i + 3)
						if (index(s, "D")) l = l "D"
						if (index(s, "F")) l = l "F"
						if (index(s, "R")) l = l "R"
						if (index(s, "S")) l = l "S"
						if (index(s, "T")) l = l "T"
					}
					print folder "\t" id "\t" l; found = 1; nextfile
				}
				/^$/ { print folder "\t(no Message-ID)\t"; found = 1; nextfile }'
	done < <(find "$root" -name .ferry -prune -o -type d -name cur -print0) | LC_ALL=C sort
}

say "checking every Maildir against the server"
: >"$OUT/check.txt"
for t in "${tools[@]}"; do
	u=${USER_OF[$t]}
	server_list "$u" >"$OUT/server.$t.lst"
	# The level decoding above cannot tell a verbatim "&" from modified UTF-7; the corpus
	# has none. A literal iconv failure keeps the name as it is (ferry writes UTF-8).
	local_list "$(local_root "$t")" >"$OUT/local.$t.lst"
	ns=$(wc -l <"$OUT/server.$t.lst")
	nl=$(wc -l <"$OUT/local.$t.lst")
	nd=$(LC_ALL=C comm -3 "$OUT/server.$t.lst" "$OUT/local.$t.lst" | wc -l)
	nc=$(LC_ALL=C comm -3 <(cut -f1,2 "$OUT/server.$t.lst") <(cut -f1,2 "$OUT/local.$t.lst") | wc -l)
	if [[ $nd == 0 ]]; then
		verdict="same messages, folders and flags on both sides"
	elif [[ $nc == 0 ]]; then
		verdict="same messages and folders; flags differ on $nd lines (comm -3)"
	else
		verdict="DIFFERENT: $nc lines differ in folder/Message-ID, $nd counting flags"
	fi
	printf '%s (%s): server %s messages, Maildir %s: %s\n' "$t" "$u" "$ns" "$nl" "$verdict" \
		>>"$OUT/check.txt"
	if [[ $nd != 0 ]]; then
		LC_ALL=C comm -3 "$OUT/server.$t.lst" "$OUT/local.$t.lst" | head -n 5 |
			sed 's/^/    /' >>"$OUT/check.txt"
	fi
done

# ---- the tables ----

label_of() {
	case $1 in
	initial) echo "initial sync into an empty Maildir" ;;
	noop) echo "no-change re-sync" ;;
	flags) echo "re-sync after $(sed -E ':a; s/([0-9])([0-9]{3})($|,)/\1,\2\3/; ta' "$OUT/flag_changes" 2>/dev/null || echo 1%) server flag changes (1%)" ;;
	new200) echo "re-sync after 200 new local messages" ;;
	move1000) echo "re-sync after 1,000 local moves" ;;
	esac
}

table() { # METRIC_COLUMN TITLE UNIT_DIVISOR FORMAT [SPREAD]
	local col=$1 title=$2 div=$3 fmt=$4 showspread=${5:-0} scen labels=""
	for scen in "${scenarios[@]}"; do
		labels+="$scen=$(label_of "$scen")"$'\n'
	done
	awk -F'\t' -v col="$col" -v title="$title" -v div="$div" -v fmt="$fmt" \
		-v tools="${tools[*]}" -v scens="${scenarios[*]}" -v labels="$labels" -v nruns="$RUNS" -v showspread="$showspread" '
	function spread(list,   a, n, i, lo, hi) {
		n = split(list, a, " ")
		if (n < 2) return ""
		lo = hi = a[1] + 0
		for (i = 2; i <= n; i++) { if (a[i] + 0 < lo) lo = a[i] + 0; if (a[i] + 0 > hi) hi = a[i] + 0 }
		return sprintf(" [" fmt "-" fmt "]", lo / div, hi / div)
	}
	function median(list,   a, n, i, j, t) {
		n = split(list, a, " ")
		for (i = 2; i <= n; i++) {
			t = a[i] + 0
			for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]
			a[j + 1] = t
		}
		if (n == 0) return ""
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	{
		k = $1 SUBSEP $2
		if ($col != "NA") vals[k] = vals[k] " " $col
		runs[k]++
		if ($7 != 0) bad[k] = 1
	}
	END {
		nt = split(tools, T, " "); ns = split(scens, S, " ")
		nl = split(labels, L, "\n")
		for (i = 1; i <= nl; i++) { p = index(L[i], "="); if (p) lab[substr(L[i], 1, p - 1)] = substr(L[i], p + 1) }
		hdr = "| " title " |"; sep = "|---|"
		for (i = 1; i <= nt; i++) { hdr = hdr " " T[i] " |"; sep = sep "---:|" }
		hasf = 0
		for (i = 1; i <= nt; i++) if (T[i] == "ferry") hasf = 1
		for (i = 1; i <= nt; i++) if (hasf && T[i] != "ferry") { hdr = hdr " ferry/" T[i] " |"; sep = sep "---:|" }
		print hdr; print sep
		for (s = 1; s <= ns; s++) {
			line = "| " lab[S[s]] " |"
			for (i = 1; i <= nt; i++) {
				k = S[s] SUBSEP T[i]
				m = median(vals[k])
				med[i] = m
				if (m == "") cell = "n/a"
				else cell = sprintf(fmt, m / div) (showspread ? spread(vals[k]) : "")
				if (k in bad) cell = cell " (failed)"
				if (runs[k] < nruns) cell = cell " (" runs[k] (runs[k] == 1 ? " run)" : " runs)")
				line = line " " cell " |"
			}
			for (i = 1; i <= nt; i++) if (hasf && T[i] != "ferry") {
				for (j = 1; j <= nt; j++) if (T[j] == "ferry") f = med[j]
				if (f == "" || med[i] == "" || med[i] + 0 == 0) line = line " n/a |"
				else line = line sprintf(" %.2f |", f / med[i])
			}
			print line
		}
	}' "$OUT/runs.tsv"
}

cp_med() { # COLUMN of cp.tsv
	cut -f"$1" "$OUT/cp.tsv" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'
}

{
	printf '### %s: %s messages in %s folders, %.0f MB; %s\n\n' "$SIZE" "$corpus_msgs" \
		"$corpus_folders" "$(awk -v b="$corpus_bytes" 'BEGIN { print b / 1e6 }')" \
		"$([[ $LATENCY == 0 ]] && echo "loopback (no added latency)" || echo "$LATENCY ms round trip added (lagrelay)")"
	# shellcheck disable=SC2016 # Markdown backquotes
	printf 'Command: `%s`  \n' "$cmdline"
	printf 'Runs per scenario:'
	for t in "${tools[@]}"; do printf ' %s %s,' "$t" "$(runs_of "$t")"; done
	printf ' medians shown.  \n'
	printf 'Load average (1, 5, 15 min) before the timed runs: %s; after: %s.  \n' \
		"$LOAD_BEFORE" "$LOAD_AFTER"
	printf 'Machine: %s CPUs (%s), %.0f GB RAM, kernel %s, work directory on %s; %s.  \n' \
		"$(nproc)" "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
		"$(awk '/^MemTotal/ { print $2 / 1048576 }' /proc/meminfo)" "$(uname -r)" \
		"$(stat -f -c %T "$WORK")" "$(date -u '+%Y-%m-%d %H:%M UTC')"
	printf '%s; %s; %s; Dovecot %s.\n\n' \
		"$( ("$FERRY" --version 2>/dev/null || echo 'ferry ?') | head -n 1)" \
		"$(mbsync --version 2>/dev/null | head -n 1 || echo 'mbsync not run')" \
		"offlineimap $(offlineimap --version 2>/dev/null | tail -n 1 || echo '?')" \
		"$(/usr/sbin/dovecot --version 2>/dev/null | cut -d' ' -f1)"
	table 4 "wall time, s: median [min-max]" 1 "%.2f" 1
	echo
	table 5 "CPU time (user+sys), s" 1 "%.2f"
	echo
	table 6 "peak RSS, MB" 1024 "%.1f"
	echo
	table 8 "peak anonymous memory (RssAnon, largest process, sampled every 0.1 s), MB" 1024 "%.1f"
	echo
	# shellcheck disable=SC2016 # Markdown backquotes
	printf 'Physical reference, `cp -r` of the server Maildir (%.0f MB with Dovecot'\''s index files, warm cache, runs: %s): %.2f s wall, %.2f s CPU; then `sync -f`: %.2f s more.\n\n' \
		"$(awk -v b="$cp_bytes" 'BEGIN { print b / 1e6 }')" "$RUNS" "$(cp_med 4)" "$(cp_med 5)" "$(cp_med 8)"
	echo 'Check after the last scenario (each Maildir against its account: folder, Message-ID, flags):'
	echo
	sed 's/^/    /' "$OUT/check.txt"
} | tee "$OUT/table.md"
say "raw results in $OUT"
