# shellcheck shell=bash
# shellcheck disable=SC2317 # helpers run by within, eval and the trap
# Shared by the tests of `ferry watch`, sourced after sync_lib.sh's sync_setup: the watch's pid
# (WPID, set by the test's own watch_start) and log (WLOG), killed from the EXIT trap before
# the fixture stops Dovecot, even when an assertion failed or the script dies; a channel
# interval of an hour, so that whatever arrives within seconds came from a watcher; and the
# bounded waits the tests use. WATCH_CLEANUP, when set, names a function the trap runs first
# (a receiver to stop, stopped processes to let go).

WPID=
# shellcheck disable=SC2034 # the tests write and read it
WLOG=$WORK/watch.log
WATCH_CLEANUP=
watch_kill() {
	[[ -n $WATCH_CLEANUP ]] && "$WATCH_CLEANUP"
	if [[ -n $WPID ]]; then
		kill -KILL "$WPID" 2>/dev/null
		wait "$WPID" 2>/dev/null
		WPID=
	fi
}
old_trap=$(trap -p EXIT)
eval "old_words=($old_trap)"
# shellcheck disable=SC2064 # expand now: the fixture's command is kept as it was
trap "watch_kill; ${old_words[2]:-}" EXIT

sed -i "/^\[channel test\]/a interval = 1h" "$CONF"

# within SECONDS CMD...: CMD succeeds within SECONDS (checked every 0.1 s).
within() {
	local limit=$(($1 * 10)) i
	shift
	for ((i = 0; i < limit; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

has_local() { [[ -n $(md_file "$1" "$2") ]]; }
has_server() { [[ -n $(srv_uid alice "$1" "$2") ]]; }
alive() { kill -0 "$WPID" 2>/dev/null; }

# watch_term: SIGTERM to watch; rc is its exit status, or "timeout" after 30 s.
# shellcheck disable=SC2034 # rc is for the test that calls it
watch_term() {
	kill -TERM "$WPID"
	if within 30 eval '! alive'; then
		wait "$WPID"
		rc=$?
		WPID=
	else
		rc=timeout
	fi
}
