# fish completion for ferry(1): commands, options, channel and store names from the
# configuration, and CHANNEL:FOLDER from the channel's state (with sqlite3).
# cmake --install puts it in share/fish/vendor_completions.d; or copy it to
# ~/.config/fish/completions/.

# The configuration ferry would read: -c FILE, $FERRY_CONFIG, then the XDG default.
function __ferry_config
    set -l tokens (commandline -opc)
    set -l file
    for i in (seq (count $tokens))
        switch $tokens[$i]
            case -c --config
                set -l next (math $i + 1)
                if test $next -le (count $tokens)
                    set file $tokens[$next]
                end
            case '--config=*'
                set file (string replace -- --config= '' $tokens[$i])
        end
    end
    if test -z "$file"
        if set -q FERRY_CONFIG
            set file $FERRY_CONFIG
        else if set -q XDG_CONFIG_HOME
            set file $XDG_CONFIG_HOME/ferry/config
        else
            set file $HOME/.config/ferry/config
        end
    end
    string replace -r '^~/' "$HOME/" -- $file
end

# Names of the sections of one kind: [channel NAME], [imap NAME], [maildir NAME].
function __ferry_sections
    set -l file (__ferry_config)
    test -r "$file"; or return
    string replace -rf '^\s*\[\s*'$argv[1]'\s+([A-Za-z0-9._-]+)\s*\].*' '$1' <$file
end

# CHANNEL and CHANNEL:FOLDER, the folders from the state's folders table.
function __ferry_channel_folders
    set -l cur (commandline -ct)
    if string match -q '*:*' -- $cur
        command -q sqlite3; or return
        set -l channel (string split -m1 : -- $cur)[1]
        set -l file (__ferry_config)
        set -l state (awk -v want=$channel '
            /^[[:space:]]*\[/ { line = $0; gsub(/[][]/, " ", line); split(line, f, " ");
                in_ch = (f[1] == "channel" && f[2] == want); next }
            in_ch && /^[[:space:]]*state[[:space:]]*=/ {
                sub(/^[^=]*=[[:space:]]*/, ""); sub(/[[:space:]]+;.*$/, ""); print; exit }' \
            $file 2>/dev/null)
        if test -z "$state"
            if set -q XDG_STATE_HOME
                set state $XDG_STATE_HOME/ferry/$channel.sqlite
            else
                set state $HOME/.local/state/ferry/$channel.sqlite
            end
        end
        set state (string replace -r '^~/' "$HOME/" -- $state)
        test -r "$state"; or return
        for folder in (sqlite3 -readonly $state 'SELECT name FROM folders ORDER BY name' 2>/dev/null)
            echo $channel:$folder
        end
    else
        __ferry_sections channel
    end
end

set -l commands sync list status check watch verify fetch import help
complete -c ferry -f
complete -c ferry -n "not __fish_seen_subcommand_from $commands" -s c -l config -r -F -d 'config file'
complete -c ferry -n "not __fish_seen_subcommand_from $commands" -s q -l quiet -d 'print errors only'
complete -c ferry -n "not __fish_seen_subcommand_from $commands" -s v -l verbose -d 'trace the protocol'
complete -c ferry -n "not __fish_seen_subcommand_from $commands" -s V -l version -d 'print the version'
complete -c ferry -n "not __fish_seen_subcommand_from $commands" -s h -l help -d 'print help'

complete -c ferry -n "not __fish_seen_subcommand_from $commands" -a sync -d 'sync channels both ways'
complete -c ferry -n "not __fish_seen_subcommand_from $commands" -a list -d 'folders on both sides and how they pair'
complete -c ferry -n "not __fish_seen_subcommand_from $commands" -a status -d 'last sync, pending local changes, counts'
complete -c ferry -n "not __fish_seen_subcommand_from $commands" -a check -d 'check config, connection, TLS, login'
complete -c ferry -n "not __fish_seen_subcommand_from $commands" -a watch -d 'stay connected, sync on change'
complete -c ferry -n "not __fish_seen_subcommand_from $commands" -a verify -d 'compare both sides; change nothing'
complete -c ferry -n "not __fish_seen_subcommand_from $commands" -a fetch -d 'replace placeholders by their messages'
complete -c ferry -n "not __fish_seen_subcommand_from $commands" -a import -d 'convert an mbsync or offlineimap configuration'
complete -c ferry -n "not __fish_seen_subcommand_from $commands" -a help -d 'this help, or a command\'s'

complete -c ferry -n "__fish_seen_subcommand_from $commands" -s h -l help -d 'print help'
complete -c ferry -n '__fish_seen_subcommand_from sync' -l dry-run -d 'print the plan; change nothing'
complete -c ferry -n '__fish_seen_subcommand_from sync' -l pull -d 'copy far -> near only'
complete -c ferry -n '__fish_seen_subcommand_from sync' -l push -d 'copy near -> far only'
complete -c ferry -n '__fish_seen_subcommand_from sync' -l force-delete -d 'deletions beyond max_delete'
complete -c ferry -n '__fish_seen_subcommand_from verify' -l bodies -d 'also compare whole messages'
complete -c ferry -n '__fish_seen_subcommand_from fetch' -l all -d 'every placeholder of the folder'
complete -c ferry -n '__fish_seen_subcommand_from list status' -l json -d 'print JSON for programs'
complete -c ferry -n '__fish_seen_subcommand_from import' -s o -l output -r -F -d 'write to this file'
complete -c ferry -n '__fish_seen_subcommand_from sync verify fetch' -a '(__ferry_channel_folders)'
complete -c ferry -n '__fish_seen_subcommand_from list status watch' -a '(__ferry_sections channel)'
complete -c ferry -n '__fish_seen_subcommand_from check' -a '(__ferry_sections imap; __ferry_sections maildir; __ferry_sections pop3)'
complete -c ferry -n '__fish_seen_subcommand_from import' -a 'mbsync offlineimap'
complete -c ferry -n '__fish_seen_subcommand_from help' -a "$commands"
