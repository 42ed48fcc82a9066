# bash completion for ferry(1): commands, options, channel and store names from the
# configuration, and CHANNEL:FOLDER from the channel's state (with sqlite3).
# cmake --install puts it in share/bash-completion/completions/ferry; or source it from ~/.bashrc.
# shellcheck shell=bash

_ferry_commands="sync list status check watch verify fetch import help"

# The configuration ferry would read: -c FILE, $FERRY_CONFIG, then the XDG default.
_ferry_config() {
	local file=$1
	if [[ -z $file ]]; then
		file=${FERRY_CONFIG:-${XDG_CONFIG_HOME:-$HOME/.config}/ferry/config}
	fi
	[[ $file == \~/* ]] && file=$HOME/${file#\~/}
	printf '%s\n' "$file"
}

# Names of the sections of one kind ([channel NAME], [imap NAME], [maildir NAME]).
_ferry_sections() {
	local kind=$1 file=$2
	[[ -r $file ]] || return 0
	sed -n "s/^[[:space:]]*\[[[:space:]]*${kind}[[:space:]][[:space:]]*\([A-Za-z0-9._-]*\)[[:space:]]*\].*/\1/p" \
		"$file" 2>/dev/null
}

# The folders a channel's state knows: its `state` key, or the default path.
_ferry_folders() {
	local channel=$1 file=$2 state
	command -v sqlite3 >/dev/null 2>&1 || return 0
	state=$(awk -v want="$channel" '
		/^[[:space:]]*\[/ { line = $0; gsub(/[][]/, " ", line); split(line, f, " ");
			in_ch = (f[1] == "channel" && f[2] == want); next }
		in_ch && /^[[:space:]]*state[[:space:]]*=/ {
			sub(/^[^=]*=[[:space:]]*/, ""); sub(/[[:space:]]+;.*$/, ""); print; exit }' \
		"$file" 2>/dev/null)
	if [[ -z $state ]]; then
		state=${XDG_STATE_HOME:-$HOME/.local/state}/ferry/$channel.sqlite
	fi
	[[ $state == \~/* ]] && state=$HOME/${state#\~/}
	state=${state//\$\{HOME\}/$HOME}
	state=${state//\$HOME/$HOME}
	[[ -r $state ]] || return 0
	sqlite3 -readonly "$state" 'SELECT name FROM folders ORDER BY name' 2>/dev/null
}

_ferry() {
	local -a words=()
	local i w cur prev cmd="" config="" want_config=0 joined=0
	COMPREPLY=()

	# bash splits "work:INBOX" at the colon (COMP_WORDBREAKS): join the pieces again.
	for ((i = 0; i <= COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		if ((${#words[@]} > 0)) && [[ $w == ":" || $joined == 1 ]]; then
			words[-1]+=$w
		else
			words+=("$w")
		fi
		[[ $w == ":" ]] && joined=1 || joined=0
	done
	cur=${words[-1]}
	prev=""
	((${#words[@]} > 1)) && prev=${words[-2]}

	# The command, and -c FILE before it.
	for ((i = 1; i < ${#words[@]} - 1; i++)); do
		w=${words[i]}
		if ((want_config)); then
			config=$w
			want_config=0
		elif [[ -z $cmd ]]; then
			case $w in
			-c | --config) want_config=1 ;;
			--config=*) config=${w#--config=} ;;
			-c?*) config=${w#-c} ;;
			-*) ;;
			*) cmd=$w ;;
			esac
		fi
	done
	config=$(_ferry_config "$config")

	if [[ -z $cmd ]]; then
		case $prev in
		-c | --config)
			compopt -o filenames 2>/dev/null
			mapfile -t COMPREPLY < <(compgen -f -- "$cur")
			return 0
			;;
		esac
		if [[ $cur == -* ]]; then
			mapfile -t COMPREPLY < <(compgen -W "-c --config -q --quiet -v --verbose \
				-V --version -h --help" -- "$cur")
		else
			mapfile -t COMPREPLY < <(compgen -W "$_ferry_commands" -- "$cur")
		fi
		return 0
	fi

	local opts="-h --help" args="" folders=0
	case $cmd in
	sync)
		opts+=" --dry-run --pull --push --force-delete"
		args=$(_ferry_sections channel "$config")
		folders=1
		;;
	verify)
		opts+=" --bodies"
		args=$(_ferry_sections channel "$config")
		folders=1
		;;
	fetch)
		opts+=" --all"
		args=$(_ferry_sections channel "$config")
		folders=1
		;;
	list | status)
		opts+=" --json"
		args=$(_ferry_sections channel "$config")
		;;
	watch) args=$(_ferry_sections channel "$config") ;;
	check) args="$(_ferry_sections imap "$config") $(_ferry_sections maildir "$config") $(_ferry_sections pop3 "$config")" ;;
	import)
		opts+=" -o --output"
		if [[ $prev == -o || $prev == --output ]]; then
			compopt -o filenames 2>/dev/null
			mapfile -t COMPREPLY < <(compgen -f -- "$cur")
			return 0
		fi
		args="mbsync offlineimap"
		;;
	help) args=$_ferry_commands ;;
	*) return 0 ;;
	esac

	if [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
	elif ((folders)) && [[ $cur == *:* ]]; then
		local channel=${cur%%:*} folder
		local -a names=()
		while IFS= read -r folder; do
			[[ -n $folder ]] && names+=("$channel:$folder")
		done < <(_ferry_folders "$channel" "$config")
		for w in "${names[@]}"; do
			[[ $w == "$cur"* ]] && COMPREPLY+=("$w")
		done
		# bash replaces only what follows the last colon when ':' breaks words.
		if [[ $COMP_WORDBREAKS == *:* ]]; then
			local strip=${cur%"${cur##*:}"}
			for i in "${!COMPREPLY[@]}"; do
				COMPREPLY[i]=${COMPREPLY[i]#"$strip"}
			done
		fi
		# Folder names may hold blanks: quote what is inserted.
		compopt -o filenames 2>/dev/null
	else
		mapfile -t COMPREPLY < <(compgen -W "$args" -- "$cur")
	fi
	return 0
}

complete -F _ferry ferry
