#!/usr/bin/env bash
# shellcheck disable=SC2016 # $Label1 is an IMAP keyword
# No leak in a full sync: an initial sync, then changes and a move each way,
# under valgrind, which follows ferry into the channel's child process (where
# the sync runs) and checks both at exit; then a sync and a check with
# COMPRESS=DEFLATE on (Dovecot's imap_zlib). Definite and indirect leaks and
# memory errors fail the test.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

export T_TIMEOUT=300 # valgrind is slow; lib.sh reads it
export DOVECOT_COMPRESS=1 # offered; compress = auto leaves 127.0.0.1 uncompressed
sync_setup
for i in 1 2 3 4 5; do seed "$i" INBOX "Leak check $i"; done
seed 6 Work/Projects "Leak check big" 200000
dovecot_doveadm flags add -u alice '\Seen $Label1' mailbox INBOX uid 1
md_write Local 7 "Written locally" S

# valgrind cannot run an AddressSanitizer build: there LeakSanitizer checks
# both processes (the child calls it before _exit()).
asan=0
if ldd "$FERRY" 2>/dev/null | grep -q libasan; then
	asan=1
	echo "# AddressSanitizer build: LeakSanitizer instead of valgrind"
fi
vg() {
	if ((asan)); then
		t_run env ASAN_OPTIONS=detect_leaks=1:exitcode=99 "$FERRY" -c "${VG_CONF:-$CONF}" "$@"
	else
		t_run valgrind --leak-check=full --show-leak-kinds=definite,indirect \
			--errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
			"$FERRY" -c "${VG_CONF:-$CONF}" "$@"
	fi
}

vg sync test
t_equal "initial sync under valgrind: no leak, no memory error" 0 "$T_RC" ||
	printf '%s\n' "$T_OUT" | grep -E '==[0-9]+==' | head -40 | t__indent
if ((asan)); then
	t_not_contains "LeakSanitizer found nothing" "$T_OUT" "LeakSanitizer"
else
	t_equal "valgrind checked both processes" 2 "$(grep -c 'HEAP SUMMARY' <<<"$T_OUT")"
fi

seed 8 INBOX "Arrived later"
dovecot_doveadm flags add -u alice '\Flagged' mailbox INBOX uid 2
dovecot_doveadm expunge -u alice mailbox INBOX uid 3
f=$(md_file INBOX "Leak check 4")
mkdir -p "$(md_dir Archive)/cur"
mv "$f" "$(md_dir Archive)/cur/"
vg sync test
t_equal "sync of changes and a move under valgrind: no leak, no memory error" 0 "$T_RC" ||
	printf '%s\n' "$T_OUT" | grep -E '==[0-9]+==' | head -40 | t__indent
t_contains "the move happened" "$T_OUT" ">1"

vg check
t_equal "check under valgrind: no leak, no memory error" 0 "$T_RC" ||
	printf '%s\n' "$T_OUT" | grep -E '==[0-9]+==' | head -40 | t__indent

# The deflate layer: its zlib streams and buffers, through a sync and a check.
sed '/^\[imap server\]/a compress = yes' "$CONF" >"$CONF.compress"
chmod 600 "$CONF.compress"
seed 9 INBOX "Arrived compressed" 100000
VG_CONF=$CONF.compress vg sync test
t_equal "compressed sync under valgrind: no leak, no memory error" 0 "$T_RC" ||
	printf '%s\n' "$T_OUT" | grep -E '==[0-9]+==' | head -40 | t__indent
t_contains "the compressed sync copied the new message" "$T_OUT" "INBOX: far->near +1"
VG_CONF=$CONF.compress vg check server
t_equal "compressed check under valgrind: no leak, no memory error" 0 "$T_RC" ||
	printf '%s\n' "$T_OUT" | grep -E '==[0-9]+==' | head -40 | t__indent
t_contains "the check was compressed" "$T_OUT" "compressed (COMPRESS=DEFLATE)"
t_done
