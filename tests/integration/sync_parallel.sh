#!/usr/bin/env bash
# `connections`: a channel with enough to copy finishes its folders on several
# connections at once, each with its own state handle; the result is the same
# as one connection gives, with no message lost or duplicated, also when a
# worker is killed, and `connections = 1` keeps to one.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

sync_setup
FOLDERS=(Alpha Beta Gamma Delta Epsilon)
n=0
for f in "${FOLDERS[@]}"; do
	dovecot_bulk_seed alice "$f" 120 $((n * 1000 + 1)) 3000
	n=$((n + 1))
done

# logins TEXT: how many sessions a -v trace shows logging in.
logins() {
	printf '%s\n' "$1" | grep -c '^S: [0-9]* OK \[CAPABILITY' || true
}

# --- downloads on four connections ---------------------------------------------------
t_run "$FERRY" -v -c "$CONF" sync test
out=$T_OUT
t_equal "initial sync exits 0" 0 "$T_RC"
t_contains "the folders were finished on 4 connections" "$out" "folders on 4 connections"
t_equal "five sessions: the channel's and four workers'" 5 "$(logins "$out")"
t_equal "each folder has one summary line" 5 \
	"$(printf '%s\n' "$out" | grep -cE '^(Alpha|Beta|Gamma|Delta|Epsilon): far->near \+120')"
t_contains "the summary counts every download" "$out" "far->near +600"
for f in "${FOLDERS[@]}"; do converged "$f" 120; done
ferry_sync test
t_equal "second sync exits 0" 0 "$T_RC"
t_contains "second sync: every pair was recorded, nothing copied again" "$T_OUT" \
	"far->near +0 ~0 -0, near->far +0 ~0 -0"

# --- uploads on several connections ----------------------------------------------------------
for f in Alpha Beta Gamma; do
	for ((i = 1; i <= 80; i++)); do md_write "$f" "$((9000 + i))" "$f upload $i"; done
done
t_run "$FERRY" -v -c "$CONF" sync test
t_equal "uploads: exits 0" 0 "$T_RC"
t_contains "uploads: on 3 connections (3 folders have work)" "$T_OUT" "folders on 3 connections"
for f in Alpha Beta Gamma; do converged "$f" 200; done

# --- a worker killed mid-download: the run dies, the next one converges -------------------
for f in "${FOLDERS[@]}"; do
	dovecot_bulk_seed alice "$f" 60 $((n * 1000 + 1)) 3000
	n=$((n + 1))
done
t_run env FERRY_CRASH_AT=download:30 "$FERRY" -c "$CONF" sync test
t_equal "killed worker: the run fails" 1 "$T_RC"
t_contains "killed worker: reported as a crash of the channel" "$T_OUT" "crashed (signal 9"
sleep 0.5
t_equal "killed worker: no worker outlives the run" "" "$(pgrep -f -- "-c $CONF sync test")"
flock -w 10 "$STATE.lock" true
ferry_sync test
t_equal "after the kill: a clean run exits 0" 0 "$T_RC"
for f in Delta Epsilon; do converged "$f" 180; done
for f in Alpha Beta Gamma; do converged "$f" 260; done

# --- connections = 1 -----------------------------------------------------------------------
sed -i '/^\[imap server\]/a connections = 1' "$CONF"
for f in "${FOLDERS[@]}"; do
	dovecot_bulk_seed alice "$f" 50 $((n * 1000 + 1)) 3000
	n=$((n + 1))
done
t_run "$FERRY" -v -c "$CONF" sync test
t_equal "connections = 1: exits 0" 0 "$T_RC"
t_equal "connections = 1: one session" 1 "$(logins "$T_OUT")"
for f in Delta Epsilon; do converged "$f" 230; done
t_done
