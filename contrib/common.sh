# shellcheck shell=bash
# Shared by contrib/test and contrib/demo: the packages ferry needs (Debian 12 names), and how
# to build it. Source it; it finds the repository from its own location.

FERRY_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Build, unit tests (Check), integration tests (a throwaway Dovecot), formatting.
FERRY_PACKAGES=(
	build-essential cmake pkg-config
	libetpan-dev libssl-dev libsqlite3-dev libinih-dev zlib1g-dev
	check libsubunit-dev
	dovecot-imapd dovecot-core openssl libsasl2-modules
	iproute2 procps ca-certificates time sqlite3 valgrind strace notmuch
	clang-format
	# The libFuzzer targets (tests/fuzz): clang; libclang-rt-14-dev, the fuzzer and
	# sanitizer runtimes -fsanitize=fuzzer,address,undefined links, which clang only
	# recommends (and recommends are not installed here); libfuzzer-14-dev, libFuzzer as a
	# library of its own.
	clang libclang-rt-14-dev libfuzzer-14-dev
)

# A header line for the user: "==> building ferry".
ferry_say() {
	printf '==> %s\n' "$*"
}

ferry_warn() {
	printf 'warning: %s\n' "$*" >&2
}

# Prints the packages of the arguments that are not installed, one per line.
ferry_missing_packages() {
	local pkg status
	for pkg in "$@"; do
		# shellcheck disable=SC2016 # ${Status} is dpkg-query's format, not a shell variable
		status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) || status=
		if [[ $status != "install ok installed" ]]; then
			printf '%s\n' "$pkg"
		fi
	done
}

# Installs what is missing of FERRY_PACKAGES; nothing (not even apt-get update) if all are there.
# As another user than root it says what to install and exits 1.
ferry_install_deps() {
	local -a missing
	if ! command -v dpkg-query >/dev/null 2>&1; then
		ferry_warn "not a Debian-like system: make sure the equivalents of these are installed:"
		ferry_warn "  ${FERRY_PACKAGES[*]}"
		return 0
	fi
	mapfile -t missing < <(ferry_missing_packages "${FERRY_PACKAGES[@]}")
	if ((${#missing[@]} == 0)); then
		return 0
	fi
	if [[ $EUID -ne 0 ]]; then
		printf 'ferry needs these packages, which are not installed:\n  %s\n' "${missing[*]}" >&2
		printf 'install them as root:\n  apt-get install --no-install-recommends %s\n' \
			"${missing[*]}" >&2
		exit 1
	fi
	ferry_say "installing ${missing[*]}"
	# dovecot-core's postinst tries to start the system's Dovecot; in a container that fails
	# harmlessly. The tests never use it: they run their own (tests/fixtures/dovecot.sh).
	apt-get update || return 1
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

# ferry_build DIR [CMAKE_ARGS...]: configures and builds ferry in DIR (relative to the
# repository, or absolute).
ferry_build() {
	local dir=$1
	shift
	[[ $dir == /* ]] || dir=$FERRY_ROOT/$dir
	cmake -S "$FERRY_ROOT" -B "$dir" "$@" || return 1
	cmake --build "$dir" -j"$(nproc)"
}
