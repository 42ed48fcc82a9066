# shellcheck shell=bash
# Assertions for ferry's integration scripts. Source it, assert, end with t_done:
#
#	. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#	t_expect_exit 3 "wrong password is refused" "$FERRY" -c "$cfg" check work
#	t_contains "it says why" "$T_OUT" "login refused"
#	t_done
#
# Every assertion prints "ok N - DESC" or "not ok N - DESC" followed by what was expected and
# what came out, and returns 0 or 1. Do not run the script under `set -e`: a failed assertion
# should not hide the ones after it. t_done prints "N passed, N failed" and exits non-zero if
# anything failed (or if nothing was asserted at all).
#
# Commands run with stdin from /dev/null and, unless they are shell functions, under
# `timeout $T_TIMEOUT` (default 60 s), so a hung command fails its assertion instead of the
# whole test hanging until ctest's timeout.

T_PASSED=0
T_FAILED=0
T_OUT=
T_RC=0
T_TIMEOUT=${T_TIMEOUT:-60}

t__indent() {
	sed 's/^/#     /'
}

t_pass() {
	T_PASSED=$((T_PASSED + 1))
	printf 'ok %d - %s\n' "$((T_PASSED + T_FAILED))" "$1"
	return 0
}

# t_fail DESC [DETAIL...]: records a failure; each DETAIL is printed on its own line.
t_fail() {
	local desc=$1 line
	shift
	T_FAILED=$((T_FAILED + 1))
	printf 'not ok %d - %s\n' "$((T_PASSED + T_FAILED))" "$desc"
	for line in "$@"; do
		printf '%s\n' "$line" | sed 's/^/#   /'
	done
	return 1
}

# t_run CMD...: runs CMD, leaves its stdout and stderr (in order) in T_OUT and its status in T_RC.
t_run() {
	local out
	out=$(mktemp) || return 1
	case $(type -t "$1") in
	function | builtin)
		"$@" </dev/null >"$out" 2>&1
		;;
	*)
		timeout -k 5 "$T_TIMEOUT" "$@" </dev/null >"$out" 2>&1
		;;
	esac
	T_RC=$?
	T_OUT=$(cat "$out")
	rm -f "$out"
	return 0
}

t__command_line() {
	local s
	s=$(printf '%q ' "$@")
	printf '%s\n' "${s% }"
}

t__details() {
	local expected=$1
	shift
	local got="exit $T_RC"
	if [[ $T_RC == 124 ]]; then
		got="exit 124 (killed by timeout after ${T_TIMEOUT} s?)"
	elif [[ $T_RC -gt 128 && $T_RC -lt 160 ]]; then
		got="exit $T_RC (signal $((T_RC - 128)))"
	fi
	printf '%s\n' "command:  $(t__command_line "$@")" "expected: $expected" "got:      $got" \
		"output:"
	if [[ -n $T_OUT ]]; then
		printf '%s\n' "$T_OUT" | t__indent
	else
		printf '#     (nothing)\n'
	fi
}

t__fail_with_details() {
	local desc=$1 details
	shift
	details=$(t__details "$@")
	T_FAILED=$((T_FAILED + 1))
	printf 'not ok %d - %s\n' "$((T_PASSED + T_FAILED))" "$desc"
	# Lines from t__indent already start with "#"; the others get "#   ".
	printf '%s\n' "$details" | sed '/^#/!s/^/#   /'
	return 1
}

# t_ok DESC CMD...: CMD exits 0. Its output is left in T_OUT.
t_ok() {
	local desc=$1
	shift
	t_run "$@"
	if [[ $T_RC == 0 ]]; then
		t_pass "$desc"
	else
		t__fail_with_details "$desc" "exit 0" "$@"
	fi
}

# t_expect_exit CODE DESC CMD...: CMD exits CODE. Its output is left in T_OUT.
t_expect_exit() {
	local code=$1 desc=$2
	shift 2
	t_run "$@"
	if [[ $T_RC == "$code" ]]; then
		t_pass "$desc"
	else
		t__fail_with_details "$desc" "exit $code" "$@"
	fi
}

t__text_failure() {
	local desc=$1 expected=$2 text=$3
	if [[ -z $text ]]; then
		text="(nothing)"
	fi
	t_fail "$desc" "expected: $expected" "in:" "$(printf '%s\n' "$text" | sed 's/^/  /')"
}

# t_contains DESC TEXT STRING: TEXT contains STRING (a plain substring, not a pattern).
t_contains() {
	if [[ $2 == *"$3"* ]]; then
		t_pass "$1"
	else
		t__text_failure "$1" "to contain \"$3\"" "$2"
	fi
}

# t_not_contains DESC TEXT STRING: TEXT does not contain STRING.
t_not_contains() {
	if [[ $2 != *"$3"* ]]; then
		t_pass "$1"
	else
		t__text_failure "$1" "not to contain \"$3\"" "$2"
	fi
}

# t_matches DESC TEXT REGEX: some line of TEXT matches the extended regular expression REGEX.
t_matches() {
	if grep -Eq -- "$3" <<<"$2"; then
		t_pass "$1"
	else
		t__text_failure "$1" "a line matching /$3/" "$2"
	fi
}

# t_equal DESC EXPECTED ACTUAL
t_equal() {
	if [[ $2 == "$3" ]]; then
		t_pass "$1"
	else
		t_fail "$1" "expected: \"$2\"" "got:      \"$3\""
	fi
}

# t_need_ferry: FERRY is the binary under test (default: build/ferry of this repository);
# without it the script ends at once, failed.
t_need_ferry() {
	FERRY=${FERRY:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/ferry}
	if [[ ! -x $FERRY ]]; then
		t_fail "the ferry binary exists" "expected an executable at $FERRY (set FERRY=...)"
		t_done
	fi
}

# t_done: the closing line, and the exit status of the script.
t_done() {
	if ((T_PASSED + T_FAILED == 0)); then
		echo "# no assertion ran: that is a failure too"
		echo "0 passed, 0 failed"
		exit 1
	fi
	echo "$T_PASSED passed, $T_FAILED failed"
	if ((T_FAILED > 0)); then
		exit 1
	fi
	exit 0
}
