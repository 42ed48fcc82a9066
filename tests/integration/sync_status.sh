#!/usr/bin/env bash
# `ferry status` tells the truth (issue 14, item 5): folders a killed run did
# not finish (the journal), deletions and folder removals max_delete held
# back, folders waiting to be created or recreated, conflicts; `status --json`
# and `list --json` give the same facts as one JSON object per channel.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

t_expect_exit 0 "ferry is built with the crash hook" "$FERRY" --version
t_contains "--version says test hooks" "$T_OUT" "test hooks"

sync_setup

# json_check DESC JSON PYTHON: PYTHON (an expression over `docs`, the JSON
# objects of JSON one a line, and `ch`, the first) is true.
json_check() {
	local desc=$1 json=$2 expr=$3 out
	if out=$(python3 -c '
import json, sys
docs = [json.loads(l) for l in sys.argv[1].splitlines() if l.strip()]
ch = docs[0] if docs else None
sys.exit(0 if eval(sys.argv[2]) else 1)
' "$json" "$expr" 2>&1); then
		t_pass "$desc"
	else
		t_fail "$desc" "expected: $expr" "in:" "$json" "$out"
	fi
}

status_text() { t_run "$FERRY" -c "$CONF" status test; }
status_json() {
	# stdout only: the JSON must parse on its own, whatever stderr says.
	T_OUT=$(timeout -k 5 60 "$FERRY" -c "$CONF" status --json test 2>/dev/null)
	T_RC=$?
}

seed 1 INBOX "Hello"
ferry_sync test
t_equal "first sync exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent

# --- a killed run: its folder shows as unfinished --------------------------------
for i in 1 2 3 4 5; do seed "$((100 + i))" Cut "Cut $i"; done
t_run env FERRY_CRASH_AT=download:3 "$FERRY" -c "$CONF" sync test:Cut
t_equal "the run was killed in Cut's download" 1 "$T_RC"
status_text
t_equal "status after the kill exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_matches "status: Cut was not finished" "$T_OUT" '^  interrupted: Cut: a download of [0-9]+ message\(s\) to near'
status_json
t_equal "status --json after the kill exits 0" 0 "$T_RC"
json_check "status --json: one object, for channel test" "$T_OUT" \
	'len(docs) == 1 and ch["channel"] == "test" and ch["synced"] is True'
json_check "status --json: Cut interrupted, a download to near" "$T_OUT" \
	'[(x["folder"], x["action"], x["to"]) for x in ch["interrupted"]] == [("Cut", "download", "near")]'
json_check "status --json: folders carry their last sync" "$T_OUT" \
	'any(f["name"] == "INBOX" and f["last_sync"] > 0 for f in ch["folders"])'
json_check "status --json: Cut is not taken for a new local folder" "$T_OUT" \
	'not any(w["folder"] == "Cut" for w in ch["waiting"])'
ferry_sync test:Cut
t_equal "the clean run after the kill exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
status_text
t_not_contains "status: Cut finished now" "$T_OUT" "interrupted"
status_json
json_check "status --json: nothing interrupted any more" "$T_OUT" 'ch["interrupted"] == []'

# --- deletions held back by max_delete ----------------------------------------------
dovecot_bulk_seed alice Del 20 1
ferry_sync test
t_equal "Del synced" 20 "$(md_count Del)"
find "$(md_dir Del)/cur" "$(md_dir Del)/new" -maxdepth 1 -type f | sort | head -n 12 | xargs -r rm --
ferry_sync test
t_equal "12 of 20 deleted locally: held back, exit 1" 1 "$T_RC"
status_text
t_contains "status: the held deletions of Del" "$T_OUT" \
	"held: Del: 12 deletion(s) on far held back by max_delete"
t_contains "status: says how to carry them out" "$T_OUT" "--force-delete"
status_json
json_check "status --json: Del holds 12 deletions on far" "$T_OUT" \
	'[(h["folder"], h["what"], h["side"], h["messages"]) for h in ch["held"]] == [("Del", "deletions", "far", 12)]'
ferry_sync --force-delete test
t_equal "--force-delete exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
status_json
json_check "status --json: nothing held after --force-delete" "$T_OUT" 'ch["held"] == []'

# --- folders waiting to be created or recreated ---------------------------------------
md_write 'Say "hi"' 40 "Quoted name"
seed 41 Gone "Gone one"
ferry_sync test
rm -r "$(md_dir Gone)"
md_write Fresh 42 "A new local folder"
status_text
t_equal "status with a folder gone locally exits 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
t_contains "status: Fresh waits to be created on far" "$T_OUT" \
	"waiting: Fresh: new on near; created on far at the next sync"
t_contains "status: Gone waits to be recreated on near (remove = none)" "$T_OUT" \
	"waiting: Gone: gone from near; recreated there at the next sync"
status_json
json_check "status --json: Fresh to create on far, Gone on near" "$T_OUT" \
	'sorted((w["folder"], w["action"], w["side"]) for w in ch["waiting"]) == [("Fresh", "create", "far"), ("Gone", "create", "near")]'
json_check "status --json: Gone is not read locally, and no error" "$T_OUT" \
	'[(f["local"], "error" in f) for f in ch["folders"] if f["name"] == "Gone"] == [(None, False)]'
json_check "status --json: a quote in a name parses" "$T_OUT" \
	'any(f["name"] == "Say \"hi\"" for f in ch["folders"])'

# --- a conflict is listed ------------------------------------------------------------
sqlite3 "$STATE" "INSERT INTO conflicts(folder, text, at) VALUES ('Del', 'kept: flagged \"here\"', 1)"
status_json
json_check "status --json: the conflict, text escaped" "$T_OUT" \
	'[(c["folder"], c["text"], c["at"]) for c in ch["conflicts"]] == [("Del", "kept: flagged \"here\"", 1)]'

# --- list --json: both sides' folders and their pairing ---------------------------------
seed 50 OnlyFar "Only on the server"
T_OUT=$(timeout -k 5 60 "$FERRY" -c "$CONF" list --json test 2>/dev/null)
T_RC=$?
t_equal "list --json exits 0" 0 "$T_RC"
json_check "list --json: one object, channel and stores named" "$T_OUT" \
	'len(docs) == 1 and ch["channel"] == "test" and ch["far"] == "server" and ch["near"] == "laptop"'
json_check "list --json: INBOX on both sides, paired" "$T_OUT" \
	'any(f["name"] == "INBOX" and f["on_far"] and f["on_near"] and f["pairing"] == "paired" for f in ch["folders"])'
json_check "list --json: OnlyFar only on far, to create on near" "$T_OUT" \
	'any(f["name"] == "OnlyFar" and f["on_far"] and not f["on_near"] and f["pairing"] == "create-near" for f in ch["folders"])'
json_check "list --json: Fresh only on near, to create on far" "$T_OUT" \
	'any(f["name"] == "Fresh" and not f["on_far"] and f["on_near"] and f["pairing"] == "create-far" for f in ch["folders"])'
t_expect_exit 2 "list: an unknown option is a usage error" "$FERRY" -c "$CONF" list --jsno test

# --- a folder removal held back by max_delete ---------------------------------------------
for i in 1 2 3 4 5; do seed "$((60 + i))" Work "Work $i"; done
ferry_sync test
t_equal "Work synced" 5 "$(md_count Work)"
sed -i 's/^state = \(.*test.sqlite\)$/state = \1\nremove = both\nmax_delete = 4/' "$CONF"
rm -r "$(md_dir Work)"
ferry_sync test
t_equal "removing Work is more than max_delete: exit 1" 1 "$T_RC"
status_text
t_contains "status: Work's removal on far is held" "$T_OUT" \
	"held: Work: removal on far (5 message(s)) held back by max_delete"
status_json
json_check "status --json: Work's removal held, not also waiting" "$T_OUT" \
	'[(h["folder"], h["what"], h["side"], h["messages"]) for h in ch["held"]] == [("Work", "removal", "far", 5)] and not any(w["folder"] == "Work" for w in ch["waiting"])'
ferry_sync --force-delete test
t_equal "--force-delete removes Work: exit 0" 0 "$T_RC" || printf '%s\n' "$T_OUT" | t__indent
status_json
json_check "status --json: nothing held after the removal" "$T_OUT" 'ch["held"] == []'
t_done
