#!/usr/bin/env bash
# What a user installs around the binary: the systemd units (systemd-analyze verify), the
# example configurations (each loads in ferry's reader), the bash completion (commands,
# options, channels, CHANNEL:FOLDER from the state), `ferry help`, and a build without
# Check and without test hooks that installs all of it. Needs no server.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

t_need_ferry
src=${FERRY_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# Nothing of the user's: the completion and ferry look only here.
export HOME=$dir/home XDG_CONFIG_HOME=$dir/home/.config XDG_STATE_HOME=$dir/home/.local/state
unset FERRY_CONFIG
mkdir -p "$HOME"

# --- systemd units ---------------------------------------------------------------------
units=$src/contrib/systemd
for u in ferry-watch@.service ferry-sync.service ferry-sync.timer; do
	t_ok "contrib/systemd/$u exists" test -f "$units/$u"
done
t_matches "the watch unit starts ferry watch for its instance" \
	"$(cat "$units/ferry-watch@.service" 2>/dev/null)" '^ExecStart=ferry watch %i$'
t_matches "the watch unit waits for READY=1" \
	"$(cat "$units/ferry-watch@.service" 2>/dev/null)" '^Type=notify$'
t_matches "the sync unit syncs every channel" \
	"$(cat "$units/ferry-sync.service" 2>/dev/null)" '^ExecStart=ferry( -q)? sync$'
t_matches "the timer catches up after the machine was off" \
	"$(cat "$units/ferry-sync.timer" 2>/dev/null)" '^Persistent=true$'
if command -v systemd-analyze >/dev/null 2>&1; then
	# systemd finds a bare `ferry` in /usr/local/bin or /usr/bin, where it is not installed
	# here: the copies verified run this build's ferry instead, nothing else changed.
	mkdir -p "$dir/units" "$dir/run"
	for u in ferry-watch@.service ferry-sync.service ferry-sync.timer; do
		sed "s|^ExecStart=ferry |ExecStart=$FERRY |" "$units/$u" >"$dir/units/$u"
	done
	# systemd-analyze only warns about a setting it cannot parse ("ignoring"): any output
	# is a failure too.
	for mode in --system --user; do
		t_ok "systemd-analyze verify $mode: the units" env XDG_RUNTIME_DIR="$dir/run" \
			systemd-analyze "$mode" verify --man=no "$dir/units/ferry-watch@work.service" \
			"$dir/units/ferry-sync.service" "$dir/units/ferry-sync.timer"
		t_equal "systemd-analyze verify $mode: no warning" "" "$T_OUT"
	done
else
	echo "# systemd-analyze not found: the units were not verified"
fi

# --- example configurations ------------------------------------------------------------
# `ferry status` reads the configuration through config_load and opens no connection: a
# valid file exits 0 (never synced), any error in it exits 2 naming file, line and key.
n=0
for f in "$src"/contrib/examples/*.conf; do
	[[ -e $f ]] || continue
	n=$((n + 1))
	name=${f##*/}
	t_expect_exit 0 "examples/$name loads" "$FERRY" -c "$f" status
	t_contains "examples/$name: its channel is there" "$T_OUT" "never synced"
	t_equal "examples/$name: no line over 199 bytes" "" "$(awk 'length > 199' "$f")"
done
t_equal "five example configurations" 5 "$n"
for provider in gmail fastmail microsoft365 icloud dovecot; do
	t_ok "examples/$provider.conf exists" test -f "$src/contrib/examples/$provider.conf"
done
# The check is worth something: a broken copy is refused.
sed 's/^port = 993$/port = 99999/' "$src/contrib/examples/gmail.conf" >"$dir/broken.conf"
t_expect_exit 2 "a broken example is refused" "$FERRY" -c "$dir/broken.conf" status

# --- ferry help ------------------------------------------------------------------------
t_ok "ferry help" "$FERRY" help
help=$T_OUT
t_not_contains "ferry help lists nothing not built" "$help" "not built"
commands=$(sed -n 's/^  \([a-z][a-z]*\)  .*/\1/p' <<<"$help" | tr '\n' ' ')
for c in $commands; do
	t_ok "ferry help $c" "$FERRY" help "$c"
	t_not_contains "ferry help $c: nothing not built" "$T_OUT" "not built"
done

# --- bash completion -------------------------------------------------------------------
mkdir -p "$XDG_CONFIG_HOME/ferry" "$XDG_STATE_HOME/ferry"
cat >"$XDG_CONFIG_HOME/ferry/config" <<CONF
[imap work]
host = 127.0.0.1
user = me
password = x
[maildir laptop]
path = $dir/mail
[pop3 isp]
host = 127.0.0.1
user = me
password = x
[channel work]
far = work
near = laptop
[channel lists]
far = work
near = laptop
state = ~/elsewhere.sqlite
CONF
chmod 600 "$XDG_CONFIG_HOME/ferry/config"
sqlite3 "$XDG_STATE_HOME/ferry/work.sqlite" \
	"CREATE TABLE folders (id INTEGER PRIMARY KEY, name TEXT);
	 INSERT INTO folders (name) VALUES ('INBOX'), ('Archive/2024'), ('Sent Items');"
sqlite3 "$HOME/elsewhere.sqlite" \
	"CREATE TABLE folders (id INTEGER PRIMARY KEY, name TEXT);
	 INSERT INTO folders (name) VALUES ('INBOX'), ('lkml');"
printf '[channel other]\nfar = a\nnear = b\n' >"$dir/other.conf"

# complete WORD...: what the completion offers for the last WORD, one a line, sorted.
complete_ferry() {
	bash --norc --noprofile -c '
		source "$1" || exit 1
		shift
		COMP_WORDS=("$@")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMP_LINE="$*"
		COMP_POINT=${#COMP_LINE}
		_ferry ferry "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}" || exit 1
		printf "%s\n" "${COMPREPLY[@]}" | sort' \
		complete "$src/contrib/completion/ferry.bash" "$@"
}

t_ok "bash completion: the commands" complete_ferry ferry ""
for c in $commands; do
	t_matches "bash completion: offers $c" "$T_OUT" "^$c\$"
done
t_ok "bash completion: global options" complete_ferry ferry -
for o in -c --config -q --quiet -v --verbose -V --version -h --help; do
	t_matches "bash completion: offers $o" "$T_OUT" "^$o\$"
done
# Every option `ferry help COMMAND` names, the completion offers.
for c in $commands; do
	[[ $c == help ]] && continue
	t_run "$FERRY" help "$c"
	opts=$(grep -oE '(^|[[ ,])--?[a-z][a-z-]*' <<<"$T_OUT" | tr -d '[ ,' | sort -u)
	t_ok "bash completion: $c's options" complete_ferry ferry "$c" -
	for o in $opts --help; do
		t_matches "bash completion: $c offers $o" "$T_OUT" "^$o\$"
	done
done
t_ok "bash completion: channel names" complete_ferry ferry sync ""
t_equal "bash completion: sync offers the channels" "lists work" "$(paste -sd" " <<<"$T_OUT")"
t_ok "bash completion: a channel by its start" complete_ferry ferry status w
t_equal "bash completion: w is work" "work" "$T_OUT"
t_ok "bash completion: -c FILE's channels" complete_ferry ferry -c "$dir/other.conf" watch ""
t_equal "bash completion: channels of the -c file" "other" "$T_OUT"
FERRY_CONFIG=$dir/other.conf t_ok "bash completion: \$FERRY_CONFIG's channels" \
	complete_ferry ferry list ""
t_equal "bash completion: channels of \$FERRY_CONFIG" "other" "$T_OUT"
t_ok "bash completion: store names for check" complete_ferry ferry check ""
t_equal "bash completion: check offers the stores" "isp laptop work" "$(paste -sd" " <<<"$T_OUT")"
# bash splits "work:IN" into work, :, IN; what it inserts replaces only the part after ':'.
t_ok "bash completion: CHANNEL:FOLDER from the state" complete_ferry ferry sync work : ""
t_equal "bash completion: the folders of work" "Archive/2024|INBOX|Sent Items" \
	"$(paste -sd'|' <<<"$T_OUT")"
t_ok "bash completion: CHANNEL:FOLDER by its start" complete_ferry ferry verify work : A
t_equal "bash completion: work:A is Archive/2024" "Archive/2024" "$T_OUT"
t_ok "bash completion: a channel's own state key" complete_ferry ferry sync lists : ""
t_equal "bash completion: the folders of lists" "INBOX|lkml" "$(paste -sd'|' <<<"$T_OUT")"
t_ok "bash completion: import's tools" complete_ferry ferry import ""
t_equal "bash completion: import offers the tools" "mbsync offlineimap" "$(paste -sd" " <<<"$T_OUT")"
if command -v zsh >/dev/null 2>&1; then
	t_ok "zsh completion parses" zsh -n "$src/contrib/completion/_ferry"
fi
if command -v fish >/dev/null 2>&1; then
	t_ok "fish completion parses" fish -n "$src/contrib/completion/ferry.fish"
	t_ok "fish completion: CHANNEL:FOLDER" fish -c \
		"source $src/contrib/completion/ferry.fish; complete -C 'ferry sync work:'"
	t_contains "fish completion: offers work:INBOX" "$T_OUT" "work:INBOX"
fi

# --- a build without Check, installed --------------------------------------------------
# pkg-config sees every module here but check: as on a machine without it.
mkdir -p "$dir/pc"
for d in $(pkg-config --variable pc_path pkg-config | tr : ' '); do
	for pc in "$d"/*.pc; do
		[[ -e $pc && ${pc##*/} != check.pc && ! -e $dir/pc/${pc##*/} ]] &&
			ln -s "$pc" "$dir/pc/${pc##*/}"
	done
done
# Check is hidden indeed: with the tests, the configure step fails.
T_TIMEOUT=120 t_expect_exit 1 "configure with the tests but no Check fails" \
	env PKG_CONFIG_LIBDIR="$dir/pc" PKG_CONFIG_PATH= cmake -S "$src" -B "$dir/with-tests"
t_contains "configure with the tests: Check is what is missing" "$T_OUT" "'check'"
T_TIMEOUT=120 t_ok "configure with -DFERRY_TESTS=OFF and no Check" \
	env PKG_CONFIG_LIBDIR="$dir/pc" PKG_CONFIG_PATH= cmake -S "$src" -B "$dir/build" \
	-DFERRY_TESTS=OFF -DCMAKE_INSTALL_PREFIX="$dir/inst"
t_not_contains "the configure step looked for no Check" "$T_OUT" "'check'"
t_equal "no Check in the cache" "" "$(grep '^CHECK_' "$dir/build/CMakeCache.txt")"
T_TIMEOUT=500 t_ok "build with -DFERRY_TESTS=OFF" cmake --build "$dir/build" -j2
t_ok "install" cmake --install "$dir/build"
t_ok "the installed ferry runs" "$dir/inst/bin/ferry" --version
t_not_contains "the installed ferry has no test hooks" "$T_OUT" "test hooks"
for f in share/man/man1/ferry.1 lib/systemd/user/ferry-watch@.service \
	lib/systemd/user/ferry-sync.service lib/systemd/user/ferry-sync.timer \
	share/bash-completion/completions/ferry share/zsh/site-functions/_ferry \
	share/fish/vendor_completions.d/ferry.fish share/doc/ferry/examples/gmail.conf bin/ferry-oauth2; do
	t_ok "installed: $f" test -f "$dir/inst/$f"
done

t_done
