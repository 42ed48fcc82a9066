#!/usr/bin/env bash
# A POP3 far store (Dovecot's pop3 listeners) into a Maildir: keep = no
# (the server is emptied once the mail is local), yes (nothing deleted on
# the server), 2d (deleted once the pairs are two days old: their time is
# moved back in the state); a local deletion is not downloaded again; a
# message another client expunged stays local; folder = NAME delivers
# there; --dry-run deletes nothing; --push is refused.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

sync_setup
# The POP3 store's uid map lives under the state directory.
export XDG_STATE_HOME=$WORK/xdg

# pop3_conf NAME KEEP [FOLDER] [TLS]: store isp-NAME and channel NAME (its own
# Maildir $WORK/NAME, state $WORK/state/NAME.sqlite) in $CONF.
pop3_conf() {
	local name=$1 keep=$2 folder=${3:-} tls=${4:-implicit} port=$DOVECOT_POP3S_PORT
	[[ $tls == starttls ]] && port=$DOVECOT_POP3_PORT
	cat >>"$CONF" <<CONF

[pop3 isp-$name]
host = 127.0.0.1
port = $port
tls = $tls
user = alice
password = secret
ca_file = $DOVECOT_CA
timeout = 20
keep = $keep

[maildir md-$name]
path = $WORK/$name

[channel $name]
far = isp-$name
near = md-$name
sync = pull
state = $WORK/state/$name.sqlite
${folder:+folder = $folder}
CONF
}

# fresh NAME: an empty server INBOX and a new channel's Maildir.
fresh() {
	dovecot_doveadm expunge -u alice mailbox INBOX all
	MAILDIR=$WORK/$1
}
srv_count() {
	dovecot_count alice INBOX
}
pop_sync() {
	t_run "$FERRY" -c "$CONF" sync "$@"
}

pop3_conf gone no
pop3_conf kept yes "" starttls
pop3_conf later 2d
pop3_conf lists no Lists/isp
pop3_conf dry no
pop3_conf other yes

# --- keep = no -----------------------------------------------------------------
fresh gone
for i in 1 2 3; do seed "$i" INBOX "Gone $i"; done
pop_sync gone
t_equal "keep = no: the sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_equal "keep = no: the Maildir holds all 3" 3 "$(md_count INBOX)"
t_equal "keep = no: the server holds nothing" 0 "$(srv_count)"
pop_sync gone
t_equal "keep = no: a re-run exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_equal "keep = no: a re-run changes nothing locally" 3 "$(md_count INBOX)"
t_equal "keep = no: no duplicate Message-ID" "" "$(ids_local INBOX | uniq -d)"
seed 4 INBOX "Gone 4"
pop_sync gone
t_equal "keep = no: new mail arrives" 4 "$(md_count INBOX)"
t_equal "keep = no: and leaves the server" 0 "$(srv_count)"
t_run "$FERRY" -c "$CONF" status gone
t_not_contains "keep = no: ferry status shows no local change waiting to go up" "$T_OUT" "waiting"

# --- keep = yes, over STLS; a local deletion is not downloaded again -----------
fresh kept
for i in 1 2 3; do seed "$((10 + i))" INBOX "Kept $i"; done
pop_sync kept
t_equal "keep = yes: the sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_equal "keep = yes: the Maildir holds all 3" 3 "$(md_count INBOX)"
t_equal "keep = yes: the server still holds all 3" 3 "$(srv_count)"
pop_sync kept
t_equal "keep = yes: a re-run downloads nothing again" 3 "$(md_count INBOX)"
rm -f "$(md_file INBOX "Kept 2")"
pop_sync kept
t_equal "keep = yes: the sync after a local deletion exits 0" 0 "$T_RC" ||
	printf '%s\n' "$T_OUT" | t__indent
t_equal "keep = yes: a message deleted locally is not downloaded again" 2 "$(md_count INBOX)"
t_equal "keep = yes: nor deleted on the server" 3 "$(srv_count)"

# --- a message another client expunged stays local ------------------------------
fresh other
for i in 1 2; do seed "$((20 + i))" INBOX "Other $i"; done
pop_sync other
t_equal "another client: both arrive" 2 "$(md_count INBOX)"
dovecot_doveadm expunge -u alice mailbox INBOX header Subject "Other 1"
pop_sync other
t_equal "another client: the sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_equal "another client: the expunged message stays in the Maildir" 2 "$(md_count INBOX)"
t_ok "another client: its file is still there" test -n "$(md_file INBOX "Other 1")"

# --- keep = 2d ------------------------------------------------------------------
fresh later
for i in 1 2 3; do seed "$((30 + i))" INBOX "Later $i"; done
pop_sync later
t_equal "keep = 2d: the sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_equal "keep = 2d: the Maildir holds all 3" 3 "$(md_count INBOX)"
t_equal "keep = 2d: nothing deleted at first" 3 "$(srv_count)"
t_run "$FERRY" -c "$CONF" status later
t_contains "keep = 2d: ferry status says how many wait for their keep" "$T_OUT" \
	"keep: INBOX: 3 message(s) stay on far until their keep is over"
rm -f "$(md_file INBOX "Later 3")"
pop_sync later
t_equal "keep = 2d: a message deleted locally before its keep is not downloaded again" 2 \
	"$(md_count INBOX)"
t_equal "keep = 2d: and still on the server" 3 "$(srv_count)"
sqlite3 "$WORK/state/later.sqlite" "UPDATE pairs SET made = made - 3 * 86400"
pop_sync --dry-run later
t_contains "keep = 2d: 3 days on, --dry-run says what it would delete" "$T_OUT" \
	"would delete 3 message(s) from far (keep)"
t_equal "keep = 2d: and deletes nothing" 3 "$(srv_count)"
pop_sync later
t_equal "keep = 2d: the sync 3 days on exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_equal "keep = 2d: 3 days on, the server holds nothing" 0 "$(srv_count)"
t_equal "keep = 2d: the Maildir keeps its 2" 2 "$(md_count INBOX)"
pop_sync later
t_equal "keep = 2d: a re-run changes nothing" 2 "$(md_count INBOX)"

# --- folder = Lists/isp -------------------------------------------------------------
fresh lists
for i in 1 2; do seed "$((40 + i))" INBOX "Lists $i"; done
# The Maildir's own INBOX, whose name the POP3 INBOX would have had.
md_write INBOX 49 "Local 49"
pop_sync lists
t_equal "folder: the sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_not_contains "folder: no warning that the local INBOX is not synced" "$T_OUT" "not synced"
t_equal "folder: mail goes into Lists/isp" 2 "$(md_count Lists/isp)"
t_equal "folder: none into INBOX" 1 "$(md_count INBOX)"
t_equal "folder: and leaves the server (keep = no)" 0 "$(srv_count)"
t_run "$FERRY" -c "$CONF" status lists
t_contains "folder: ferry status shows the folder synced" "$T_OUT" "INBOX"
t_not_contains "folder: and no local change waiting (nothing goes to a POP3 server)" "$T_OUT" \
	"waiting"
t_not_contains "folder: nor a Maildir index rebuilt" "$T_OUT" "rebuilt"
t_run "$FERRY" -c "$CONF" list lists
t_matches "folder: ferry list shows INBOX paired with Lists/isp" "$T_OUT" "INBOX.*Lists/isp"

# --- --dry-run, --push ------------------------------------------------------------
fresh dry
for i in 1 2; do seed "$((50 + i))" INBOX "Dry $i"; done
pop_sync --dry-run dry
t_equal "--dry-run: exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_contains "--dry-run: says what keep would delete" "$T_OUT" \
	"would delete from far (keep) the 2 message(s) it would download"
t_equal "--dry-run: the server keeps both" 2 "$(srv_count)"
t_equal "--dry-run: nothing downloaded" 0 "$(md_count INBOX)"
pop_sync --push dry
t_equal "--push: refused as a usage error" 2 "$T_RC"
t_contains "--push: it says why" "$T_OUT" "no --push"
t_equal "--push: the server keeps both" 2 "$(srv_count)"

t_done
