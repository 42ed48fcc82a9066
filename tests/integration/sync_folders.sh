#!/usr/bin/env bash
# Folder deletion (rule 11, `remove`), Maildir <-> Maildir channels, and the
# -v protocol trace with the password redacted.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

sync_setup
seed 1 Old "Old one"
seed 2 Old "Old two"
ferry_sync test
t_equal "Old synced" 2 "$(md_count Old)"

# --- remove = none (default): a folder deleted locally comes back ----------
rm -r "$(md_dir Old)"
ferry_sync test
t_equal "remove = none: the sync exits 0" 0 "$T_RC"
t_equal "remove = none: the local folder is recreated with its mail" 2 "$(md_count Old)"
t_equal "remove = none: the server folder keeps its mail" 2 "$(dovecot_count alice Old)"

# --- remove = both: the server folder goes too --------------------------------
sed -i 's/^state = \(.*test.sqlite\)$/state = \1\nremove = both/' "$CONF"
rm -r "$(md_dir Old)"
ferry_sync test
t_equal "remove = both: the sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_contains "remove = both: says so" "$T_OUT" "Old: removed on far"
t_ok "remove = both: the server folder is gone" eval '! dovecot_has_folder alice Old'

# --- remove = both, but the server folder has mail never synced -----------------
seed 3 Keep "Keep one"
ferry_sync test
seed 4 Keep "Arrived after the last sync"
rm -r "$(md_dir Keep)"
ferry_sync test
t_contains "unsynced mail: the folder is recreated, not removed" "$T_OUT" "never synced"
t_equal "unsynced mail: nothing lost on the server" 2 "$(dovecot_count alice Keep)"
t_equal "unsynced mail: both messages are local again" 2 "$(md_count Keep)"

# --- the -v trace -----------------------------------------------------------------
t_run "$FERRY" -v -c "$CONF" sync test
t_contains "-v: shows what was sent" "$T_OUT" "C: "
t_contains "-v: shows what was received" "$T_OUT" "S: * "
t_contains "-v: the login is redacted" "$T_OUT" "<redacted>"
t_not_contains "-v: the password never appears" "$T_OUT" "secret"

# --- Maildir <-> Maildir --------------------------------------------------------
cat >>"$CONF" <<CONF

[maildir other]
path = $WORK/Other

[channel local]
far = laptop
near = other
state = $WORK/state/local.sqlite
CONF
t_run "$FERRY" -c "$CONF" sync local
t_equal "maildir<->maildir: initial sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_equal "maildir<->maildir: INBOX copied" "$(md_count Keep)" \
	"$(find "$WORK/Other/Keep/cur" "$WORK/Other/Keep/new" -type f | wc -l)"
md_write Keep 10 "Written in the first maildir" S
f=$(grep -l -m1 -F "Subject: Keep one" "$WORK"/Other/Keep/cur/* "$WORK"/Other/Keep/new/* 2>/dev/null | head -n1)
mv "$f" "$WORK/Other/Keep/cur/$(basename "${f%%:2,*}"):2,F"
t_run "$FERRY" -c "$CONF" sync local
t_equal "maildir<->maildir: second sync exits 0" 0 "$T_RC"
t_ok "maildir<->maildir: the new message crossed" \
	grep -q -r -F "Subject: Written in the first maildir" "$WORK/Other/Keep"
t_equal "maildir<->maildir: the flag crossed back" F "$(md_letters Keep 'Keep one')"

# --- list and status ---------------------------------------------------------------
ferry_sync test
t_run "$FERRY" -c "$CONF" list test
t_equal "list exits 0" 0 "$T_RC"
t_matches "list: Keep is on both sides" "$T_OUT" '^  Keep +yes +yes'
md_write Keep 30 "Waiting to be synced"
t_run "$FERRY" -c "$CONF" status test
t_equal "status exits 0" 0 "$T_RC"
t_matches "status: the local change is waiting" "$T_OUT" 'Keep .*local \+1 ~0 -0 waiting'
t_contains "status: the conflict-free channel names its last sync" "$T_OUT" "test: last sync"
t_done
