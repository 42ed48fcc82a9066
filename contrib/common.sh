# shellcheck shell=bash
# Shared by contrib/test and contrib/demo: the packages ferry needs (Debian 12 names), and how
# to build it. Source it; it finds the repository from its own location.

FERRY_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Build, unit tests (Check), integration tests (a throwaway Dovecot), formatting.
FERRY_PACKAGES=(
	build-essential cmake pkg-config
	libetpan-dev libssl-dev libsqlite3-dev libinih-dev zlib1g-dev
	check libsubunit-dev
	dovecot-imapd dovecot-pop3d dovecot-core openssl libsasl2-modules
	# A second real server for the tests (tests/fixtures/cyrus.sh): Cyrus's master and
	# saslpasswd2. Never cyrus-imapd: it conflicts with dovecot-imapd (both provide
	# imap-server); its imapd is unpacked privately instead, see ferry_install_deps.
	cyrus-common sasl2-bin
	# The synchronisers people move in from (tests/integration/sync_movein.sh).
	isync offlineimap3
	iproute2 procps ca-certificates time sqlite3 valgrind strace notmuch
	clang-format
	# tests/integration/packaging.sh: systemd-analyze verify on contrib/systemd (not run as
	# init, only the tool), and the zsh and fish completions parsed by their shells.
	systemd zsh fish
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
		ferry_unpack_cyrus_imapd
		ferry_unpack_courier
		return
	fi
	if [[ $EUID -ne 0 ]]; then
		printf 'ferry needs these packages, which are not installed:\n  %s\n' "${missing[*]}" >&2
		printf 'install them as root:\n  apt-get install --no-install-recommends %s\n' \
			"${missing[*]}" >&2
		exit 1
	fi
	ferry_say "installing ${missing[*]}"
	ferry_apt_install "${missing[@]}" || return 1
	ferry_unpack_cyrus_imapd
	ferry_unpack_courier
}

# Runs apt-get (update, then install ARGS), waiting up to 10 minutes for another apt or dpkg
# to let go of its lock. Postinst scripts may not start services: dovecot-core's would start
# the system's Dovecot and cyrus-common's a system Cyrus and Exim on public ports; the tests
# run their own (tests/fixtures/). A policy-rc.d already there is left as it is.
ferry_apt_install() {
	local policy=/usr/sbin/policy-rc.d own_policy=0 rc=0
	local -a wait=(-o DPkg::Lock::Timeout=600)
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\n# ferry: no service starts during the install\nexit 101\n' \
			>"$policy" && chmod 0755 "$policy" && own_policy=1
	fi
	apt-get "${wait[@]}" update &&
		DEBIAN_FRONTEND=noninteractive apt-get "${wait[@]}" install -y \
			--no-install-recommends "$@" || rc=$?
	if ((own_policy)); then
		rm -f "$policy"
	fi
	return "$rc"
}

# Cyrus's imapd comes from the cyrus-imapd .deb of cyrus-common's version, downloaded and
# unpacked into a cache directory (not installed: see FERRY_PACKAGES); nothing if it is there.
# Only the tests against Cyrus need it: a failure is a warning.
ferry_unpack_cyrus_imapd() {
	if ! bash "$FERRY_ROOT/tests/fixtures/cyrus.sh" unpack-imapd; then
		ferry_warn "could not unpack Cyrus's imapd; the tests against Cyrus will fail"
	fi
	return 0
}

# Courier-IMAP (tests/fixtures/courier.sh) comes from its .debs, downloaded and unpacked into
# a cache directory, never installed: courier-imap conflicts with dovecot-imapd. Nothing if it
# is there. Only the tests against Courier need it: a failure is a warning.
ferry_unpack_courier() {
	if ! bash "$FERRY_ROOT/tests/fixtures/courier.sh" unpack; then
		ferry_warn "could not unpack Courier-IMAP; the tests against Courier will fail"
	fi
	return 0
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
