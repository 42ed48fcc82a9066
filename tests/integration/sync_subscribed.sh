#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# subscribed = yes: only the server's subscribed folders are synced. Against the fixture Dovecot:
#   1. A subscribed server folder is synced; an unsubscribed one is left alone: not copied, not
#      created locally, and a local folder of the same name is not uploaded into it.
#   2. A folder new locally is created on the server and subscribed to.
#   3. Without the key, every folder is synced again, the unsubscribed one too.
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=sync_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

sync_setup
sed -i "/^\[channel test\]/a subscribed = yes" "$CONF"
has_local() { [[ -n $(md_file "$1" "$2") ]]; }
has_server() { [[ -n $(srv_uid alice "$1" "$2") ]]; }
subscribed() { dovecot_doveadm mailbox list -u alice -s | grep -qx "$1"; }

seed 1 INBOX "Inbox one"
seed 2 Lists "Lists two"
dovecot_doveadm mailbox subscribe -u alice Lists
seed 3 Hidden "Hidden three"
dovecot_doveadm mailbox unsubscribe -u alice Hidden 2>/dev/null
md_write Hidden 4 "Local hidden four"
md_write Notes 5 "Local notes five"
t_ok "Hidden is not subscribed on the server" eval '! subscribed Hidden'

t_run "$FERRY" -c "$CONF" -v sync test
t_equal "the sync exits 0" 0 "$T_RC"
t_ok "INBOX is synced" has_local INBOX "Inbox one"
t_ok "a subscribed folder is synced" has_local Lists "Lists two"
t_ok "an unsubscribed one is not copied" eval '! has_local Hidden "Hidden three"'
t_ok "nor is the local folder of its name uploaded into it" eval '! has_server Hidden "Local hidden four"'
t_ok "a folder new locally is created on the server" has_server Notes "Local notes five"
t_ok "and subscribed to" subscribed Notes
ferry_sync test
t_equal "the next sync exits 0" 0 "$T_RC"
t_contains "and changes nothing" "$T_OUT" "far->near +0 ~0 -0, near->far +0 ~0 -0"

sed -i '/^subscribed = yes$/d' "$CONF"
ferry_sync test
t_equal "without the key the sync exits 0" 0 "$T_RC"
t_ok "the unsubscribed folder is synced too" has_local Hidden "Hidden three"
t_ok "both ways" has_server Hidden "Local hidden four"

t_done
