#include "store/pop3/map.h"

#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/base/termsafe.h"

/* "FerP": tells the map from another program's database. */
#define MAP_APPLICATION_ID 0x46657250
#define STRINGIFY(x)	   #x
#define STAMP(id)	   "PRAGMA application_id = " STRINGIFY(id)

static const char *const migrations[] = {
    /* 0 -> 1. SQLite's random() is seeded from the system's randomness. */
    "CREATE TABLE meta ("
    "  uidvalidity INTEGER NOT NULL,"
    "  uidnext INTEGER NOT NULL);"
    "INSERT INTO meta VALUES (max(1, random() & 4294967295), 1);"
    "CREATE TABLE uids ("
    "  key TEXT PRIMARY KEY,"
    "  uid INTEGER NOT NULL UNIQUE) WITHOUT ROWID;",
};

static int check_ours(struct db *db, struct ferry_error *err)
{
	return db_check_app_id(db, MAP_APPLICATION_ID, "not a ferry POP3 map", err);
}

static const struct db_kind map_kind = {
    .noun = "POP3 map",
    .recover = "delete it: the messages still on the server are then paired with their "
	       "local copies by identity, nothing downloaded twice",
    .check_ours = check_ours,
    .stamp = STAMP(MAP_APPLICATION_ID),
    .migrations = migrations,
    .nmigrations = sizeof(migrations) / sizeof(migrations[0]),
};

int pop3_map_open(const char *path, bool scratch, struct db **out, struct ferry_error *err)
{
	*out = NULL;
	if (!scratch && db_make_parent(path, err) != 0)
		return -1;
	return db_open(path, &map_kind, scratch ? DB_SCRATCH : DB_WRITE_NOFOLLOW, out, err);
}

/* The uid of msgs[i]'s key, a new one when the key is new; the key into
 * temp.seen, where a second time is the server's error. */
static int assign_one(struct db *db, sqlite3_stmt *const stmt[4], struct pop3_msg *m,
		      int64_t *uidnext, struct ferry_error *err)
{
	int r;

	sqlite3_bind_text(stmt[0], 1, m->key, -1, SQLITE_STATIC);
	if (db_run(db, stmt[0], "note a key", err) != 0)
		return -1;
	if (sqlite3_changes(db_handle(db)) == 0) {
		char shown[TERMSAFE_ROOM(80)];
		size_t len = strlen(m->key);

		termsafe_escape(m->key, len > 80 ? 80 : len, shown, sizeof(shown));
		return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
				       "the server gives two messages the same UIDL \"%s\"", shown);
	}
	sqlite3_bind_text(stmt[1], 1, m->key, -1, SQLITE_STATIC);
	r = db_step_row(db, stmt[1], "read a uid", err);
	if (r < 0)
		return -1;
	if (r > 0) {
		m->uid = (uint32_t)sqlite3_column_int64(stmt[1], 0);
		sqlite3_reset(stmt[1]);
		return 0;
	}
	if (*uidnext >= UINT32_MAX)
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO,
				       "the POP3 map ran out of uids; delete it (%s)", db_path(db));
	m->uid = (uint32_t)(*uidnext)++;
	sqlite3_bind_text(stmt[2], 1, m->key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt[2], 2, m->uid);
	return db_run(db, stmt[2], "add a uid", err);
}

int pop3_map_assign(struct db *db, struct pop3_msg *msgs, size_t n, struct folder_state *state,
		    struct ferry_error *err)
{
	static const char *const sql[4] = {
	    "INSERT OR IGNORE INTO temp.seen (key) VALUES (?1)",
	    "SELECT uid FROM uids WHERE key = ?1",
	    "INSERT INTO uids (key, uid) VALUES (?1, ?2)",
	    "UPDATE meta SET uidnext = ?1",
	};
	sqlite3_stmt *stmt[4] = {NULL};
	int64_t uidvalidity, uidnext;
	int r = -1;

	if (db_exec(db,
		    "CREATE TEMP TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY) WITHOUT ROWID;"
		    "DELETE FROM temp.seen",
		    "prepare", err) != 0 ||
	    db_begin(db, err) != 0)
		return -1;
	if (db_int(db, "SELECT uidvalidity FROM meta", &uidvalidity, err) != 0 ||
	    db_int(db, "SELECT uidnext FROM meta", &uidnext, err) != 0)
		goto out;
	for (size_t i = 0; i < 4; i++)
		if (db_prepare(db, sql[i], false, &stmt[i], err) != 0)
			goto out;
	for (size_t i = 0; i < n; i++)
		if (assign_one(db, stmt, &msgs[i], &uidnext, err) != 0)
			goto out;
	/* Gone from the server: their uids are never given again. */
	if (db_exec(db, "DELETE FROM uids WHERE key NOT IN (SELECT key FROM temp.seen)",
		    "drop keys", err) != 0)
		goto out;
	sqlite3_bind_int64(stmt[3], 1, uidnext);
	if (db_run(db, stmt[3], "note uidnext", err) != 0 || db_commit(db, err) != 0)
		goto out;
	state->uidvalidity = (uint32_t)uidvalidity;
	state->uidnext = (uint32_t)uidnext;
	r = 0;
out:
	if (r != 0)
		db_rollback(db);
	for (size_t i = 0; i < 4; i++)
		sqlite3_finalize(stmt[i]);
	return r;
}
