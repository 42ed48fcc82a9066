#include "sync/state.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/base/db.h"
#include "store/base/grow.h"
#include "store/flags.h"
#include "store/identity.h"
#include "sync/side.h"

/* The two sides of a pair, as its columns name them. */
static const char *const uid_column[2] = {[FAR] = "far_uid", [NEAR] = "near_uid"};

/* Statements kept prepared, by SQL text: a sync runs the same few for every
 * message (three per recorded copy), and preparing costs more than running. */
#define STMT_CACHE 32

struct state {
	struct db *db;
	struct {
		char *sql; /* NULL: a free slot */
		sqlite3_stmt *stmt;
		bool busy; /* handed out and not released yet */
	} cache[STMT_CACHE];
	int bind_rc; /* the first bind that failed since the last step, or SQLITE_OK */
};

static const char schema_v1[] =
    "CREATE TABLE folders ("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " far_uidvalidity INTEGER NOT NULL DEFAULT 0,"
    " near_uidvalidity INTEGER NOT NULL DEFAULT 0,"
    " far_uidnext INTEGER NOT NULL DEFAULT 0,"
    " near_uidnext INTEGER NOT NULL DEFAULT 0,"
    " far_modseq INTEGER NOT NULL DEFAULT 0,"
    " near_modseq INTEGER NOT NULL DEFAULT 0,"
    " last_sync INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE pairs ("
    " folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,"
    " far_uid INTEGER," /* NULL: none on that side */
    " near_uid INTEGER,"
    " status INTEGER NOT NULL,"
    " base_flags INTEGER NOT NULL,"
    " base_keywords TEXT,"
    " size INTEGER NOT NULL,"
    " far_id BLOB,"
    " near_id BLOB);"
    "CREATE UNIQUE INDEX pairs_far ON pairs(folder_id, far_uid) WHERE far_uid IS NOT NULL;"
    "CREATE UNIQUE INDEX pairs_near ON pairs(folder_id, near_uid) WHERE near_uid IS NOT NULL;"
    "CREATE TABLE journal ("
    " id INTEGER PRIMARY KEY,"
    " folder_id INTEGER NOT NULL,"
    " action INTEGER NOT NULL,"
    " to_far INTEGER NOT NULL,"
    " uidnext INTEGER NOT NULL,"
    " count INTEGER NOT NULL,"
    " started INTEGER NOT NULL);"
    "CREATE TABLE conflicts ("
    " id INTEGER PRIMARY KEY,"
    " folder TEXT NOT NULL,"
    " text TEXT NOT NULL,"
    " at INTEGER NOT NULL);";

/* v2: the policy under which the folder's last sync finished clean (rule 4
 * skips a folder only when it is unchanged and this matches). */
static const char schema_v2[] = "ALTER TABLE folders ADD COLUMN clean TEXT NOT NULL DEFAULT '';";

/* v3: a folder's pairs by folder alone (loading, counting and clearing
 * them scanned every folder's pairs: a run over many changed folders grew
 * with their number times the account's size). */
static const char schema_v3[] = "CREATE INDEX pairs_folder ON pairs(folder_id);";

/* v4: per folder and side, the keywords that side took no more of (a
 * server's limit of keywords per folder): there, their absence is not a
 * removal (rule 9), and they are not sent again. */
static const char schema_v4[] =
    "CREATE TABLE IF NOT EXISTS dropped_keywords ("
    " folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,"
    " side INTEGER NOT NULL,"
    " keywords TEXT NOT NULL,"
    " PRIMARY KEY (folder_id, side));";

/* v5: the identity version (rule 6) each pair's far_id, near_id and size
 * were computed in; pairs from before are version 1. Version 2 leaves out
 * the header lines other synchronisers add, so a version 1 identity differs
 * only for a message with such a line, and then matches no message of
 * version 2 at all: it can miss a move (seen as a deletion and a new
 * message, nothing lost), never make a wrong one. The pairs themselves go
 * by uid and stay good. */
static const char schema_v5[] =
    "ALTER TABLE pairs ADD COLUMN id_version INTEGER NOT NULL DEFAULT 1;";

/* v6: what a run held back under max_delete, for `ferry status`: per folder
 * and side, messages not deleted (rule 5) or the folder not removed (rule
 * 11). By name, as conflicts are: a removal concerns a folder that may have
 * no row by the time it is shown. */
static const char schema_v6[] = "CREATE TABLE IF NOT EXISTS held ("
				" folder TEXT NOT NULL,"
				" side INTEGER NOT NULL,"
				" kind INTEGER NOT NULL,"
				" count INTEGER NOT NULL,"
				" at INTEGER NOT NULL,"
				" PRIMARY KEY (folder, side, kind));";

/* v7: folders paired by special-use role under different names
 * (sync/roles.c), by far name: the pair holds while either folder is
 * listed, so a role moved to another folder or a name appearing on the
 * other side later does not pair them anew (and copy their mail again). */
static const char schema_v7[] = "CREATE TABLE IF NOT EXISTS role_pairs ("
				" far TEXT PRIMARY KEY,"
				" near TEXT NOT NULL UNIQUE,"
				" role INTEGER NOT NULL);";

/* schema_pair_made: when each pair was made (seconds since the epoch), for
 * a POP3 store's `keep` (sync/keep.c). Pairs from before count as made long
 * ago: no store that keeps for a while existed then. */
static const char schema_pair_made[] =
    "ALTER TABLE pairs ADD COLUMN made INTEGER NOT NULL DEFAULT 0;";

/* schema_placeholders: whether a pair's near copy is a placeholder for
 * the far message (`placeholders`): never uploaded, replaced by `ferry
 * fetch`. 0: it is not; else the placeholder's own size (1: not known),
 * which the move pass looks for (the pair's size is the original's). */
static const char schema_placeholders[] =
    "ALTER TABLE pairs ADD COLUMN placeholder INTEGER NOT NULL DEFAULT 0;";

/* Migrations, index = version they lead from. Append only: the version is
 * the array's length, so a step cannot be added without being run. */
static const char *const migrations[] = {schema_v1, schema_v2,	      schema_v3,
					 schema_v4, schema_v5,	      schema_v6,
					 schema_v7, schema_pair_made, schema_placeholders};

static int check_ours(struct db *db, struct ferry_error *err);

static const struct db_kind state_kind = {
    .noun = "state",
    .recover = "move it away and run again: ferry then re-pairs messages by identity, "
	       "duplicating nothing",
    .check_ours = check_ours,
    .migrations = migrations,
    .nmigrations = sizeof(migrations) / sizeof(migrations[0]),
};

static int db_error(struct state *st, struct ferry_error *err, const char *what)
{
	return db_fail(st->db, 0, what, err);
}

/* A statement for sql, from the cache when one is there and not in use (a
 * nested use of the same text gets one of its own); give it back with
 * release(). */
static int prepare(struct state *st, const char *sql, sqlite3_stmt **stmt, struct ferry_error *err)
{
	int slot = -1;

	for (int i = 0; i < STMT_CACHE; i++) {
		if (!st->cache[i].sql) {
			if (slot < 0)
				slot = i;
		} else if (!st->cache[i].busy && strcmp(st->cache[i].sql, sql) == 0) {
			st->cache[i].busy = true;
			*stmt = st->cache[i].stmt;
			return 0;
		}
	}
	if (db_prepare(st->db, sql, slot >= 0, stmt, err) != 0)
		return -1;
	if (slot >= 0 && (st->cache[slot].sql = strdup(sql))) {
		st->cache[slot].stmt = *stmt;
		st->cache[slot].busy = true;
	}
	return 0;
}

/* Gives a statement back: reset for its next use if cached, else finalized. */
static void release(struct state *st, sqlite3_stmt *stmt)
{
	for (int i = 0; i < STMT_CACHE; i++)
		if (st->cache[i].sql && st->cache[i].stmt == stmt) {
			sqlite3_reset(stmt);
			sqlite3_clear_bindings(stmt);
			st->cache[i].busy = false;
			return;
		}
	sqlite3_finalize(stmt);
}

/* Runs a statement that returns no rows and releases it. */
/* Every bind goes through bind(): one that fails (out of memory, a value
 * too big) is remembered, and the next step fails with it (step(),
 * bound()) instead of running the statement with that parameter NULL. */
static void bind(struct state *st, int rc)
{
	if (rc != SQLITE_OK && st->bind_rc == SQLITE_OK)
		st->bind_rc = rc;
}

/* 0, or the failed bind's error (forgotten once told). */
static int bound(struct state *st, struct ferry_error *err)
{
	int rc = st->bind_rc;

	st->bind_rc = SQLITE_OK;
	return rc == SQLITE_OK ? 0 : db_fail(st->db, rc, "bind", err);
}

/* sqlite3_step, unless a bind for it failed: then that bind's code. */
static int step(struct state *st, sqlite3_stmt *stmt)
{
	int rc = st->bind_rc;

	st->bind_rc = SQLITE_OK;
	return rc == SQLITE_OK ? sqlite3_step(stmt) : rc;
}

static int step_done(struct state *st, sqlite3_stmt *stmt, struct ferry_error *err)
{
	int r = step(st, stmt);

	release(st, stmt);
	if (r != SQLITE_DONE)
		return db_fail(st->db, r, "write", err);
	return 0;
}

/* Another program's database (a wrong `state =`) is refused before anything
 * writes to it: an empty file is a new state, anything else needs ferry's tables. */
static int check_ours(struct db *db, struct ferry_error *err)
{
	int64_t ours = 0, tables = 0;

	if (db_int(db, "SELECT count(*) FROM sqlite_master", &tables, err) != 0 ||
	    db_int(db,
		   "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN"
		   " ('folders', 'pairs', 'journal')",
		   &ours, err) != 0)
		return -1;
	if (tables == 0 || ours == 3)
		return 0;
	return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO,
			       "state %s is not ferry's (an SQLite database of something else); "
			       "check `state =`, or move it away and run again: ferry then "
			       "re-pairs messages by identity, duplicating nothing",
			       db_path(db));
}

int state_lock(const char *path, int *fd, struct ferry_error *err)
{
	size_t len = strlen(path) + 6;
	char *lock = malloc(len);

	if (!lock)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	snprintf(lock, len, "%s.lock", path);
	if (db_make_parent(lock, err) != 0) {
		free(lock);
		return -1;
	}
	*fd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (*fd < 0) {
		if (errno == ELOOP)
			ferry_error_set(err, FERRY_CAUSE_LOCAL_IO,
					"%s: is a symbolic link; refused (ferry writes its files "
					"only where it was told, never through a link)",
					lock);
		else
			ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: %s", lock, strerror(errno));
		free(lock);
		return -1;
	}
	if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;

		close(*fd);
		*fd = -1;
		if (e == EWOULDBLOCK)
			ferry_error_set(err, FERRY_CAUSE_LOCKED,
					"being synced by another ferry (lock %s)", lock);
		else
			ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: flock: %s", lock,
					strerror(e));
		free(lock);
		return -1;
	}
	free(lock);
	return 0;
}

static int open_as(const char *path, enum db_mode mode, struct state **out, struct ferry_error *err)
{
	struct state *st = calloc(1, sizeof(*st));

	*out = NULL;
	if (!st)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	if (db_open(path, &state_kind, mode, &st->db, err) != 0) {
		free(st);
		return -1;
	}
	*out = st;
	return 0;
}

int state_open(const char *path, struct state **out, struct ferry_error *err)
{
	*out = NULL;
	if (db_make_parent(path, err) != 0)
		return -1;
	/* A link planted at the state path would make ferry write elsewhere. */
	return open_as(path, DB_WRITE_NOFOLLOW, out, err);
}

int state_open_scratch(const char *path, struct state **out, struct ferry_error *err)
{
	*out = NULL;
	return open_as(path, DB_SCRATCH, out, err);
}

int state_open_readonly(const char *path, struct state **out, struct ferry_error *err)
{
	*out = NULL;
	if (access(path, F_OK) != 0) {
		if (errno == ENOENT)
			return 1;
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "state %s: %s", path,
				       strerror(errno));
	}
	return open_as(path, DB_READ, out, err);
}

void state_close(struct state *st)
{
	if (!st)
		return;
	for (int i = 0; i < STMT_CACHE; i++) {
		if (st->cache[i].sql)
			sqlite3_finalize(st->cache[i].stmt);
		free(st->cache[i].sql);
	}
	db_close(st->db);
	free(st);
}

int state_begin(struct state *st, struct ferry_error *err)
{
	return db_begin(st->db, err);
}

int state_commit(struct state *st, struct ferry_error *err)
{
	return db_commit(st->db, err);
}

void state_rollback(struct state *st)
{
	db_rollback(st->db);
}

static void read_folder(sqlite3_stmt *stmt, struct state_folder *f)
{
	f->id = sqlite3_column_int64(stmt, 0);
	f->far_uidvalidity = (uint32_t)sqlite3_column_int64(stmt, 2);
	f->near_uidvalidity = (uint32_t)sqlite3_column_int64(stmt, 3);
	f->far_uidnext = (uint32_t)sqlite3_column_int64(stmt, 4);
	f->near_uidnext = (uint32_t)sqlite3_column_int64(stmt, 5);
	f->far_modseq = (uint64_t)sqlite3_column_int64(stmt, 6);
	f->near_modseq = (uint64_t)sqlite3_column_int64(stmt, 7);
	f->last_sync = sqlite3_column_int64(stmt, 8);
	snprintf(f->clean, sizeof(f->clean), "%s",
		 sqlite3_column_text(stmt, 9) ? (const char *)sqlite3_column_text(stmt, 9) : "");
}

#define FOLDER_COLUMNS                                                                             \
	"id, name, far_uidvalidity, near_uidvalidity, far_uidnext, near_uidnext, far_modseq, "     \
	"near_modseq, last_sync, clean"

int state_get_folder(struct state *st, const char *name, struct state_folder *out,
		     struct ferry_error *err)
{
	sqlite3_stmt *stmt;
	int r;

	if (prepare(st, "INSERT OR IGNORE INTO folders(name) VALUES (?)", &stmt, err) != 0)
		return -1;
	bind(st, sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC));
	if (step_done(st, stmt, err) != 0)
		return -1;
	if (prepare(st, "SELECT " FOLDER_COLUMNS " FROM folders WHERE name = ?", &stmt, err) != 0)
		return -1;
	bind(st, sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC));
	r = step(st, stmt);
	if (r != SQLITE_ROW) {
		release(st, stmt);
		return db_error(st, err, "read folder");
	}
	*out = (struct state_folder){0};
	read_folder(stmt, out);
	out->name = strdup(name);
	release(st, stmt);
	if (!out->name)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	return 0;
}

int state_put_folder(struct state *st, const struct state_folder *f, struct ferry_error *err)
{
	sqlite3_stmt *stmt;

	if (prepare(st,
		    "UPDATE folders SET far_uidvalidity=?, near_uidvalidity=?, far_uidnext=?, "
		    "near_uidnext=?, far_modseq=?, near_modseq=?, last_sync=?, clean=? WHERE id=?",
		    &stmt, err) != 0)
		return -1;
	bind(st, sqlite3_bind_int64(stmt, 1, f->far_uidvalidity));
	bind(st, sqlite3_bind_int64(stmt, 2, f->near_uidvalidity));
	bind(st, sqlite3_bind_int64(stmt, 3, f->far_uidnext));
	bind(st, sqlite3_bind_int64(stmt, 4, f->near_uidnext));
	bind(st, sqlite3_bind_int64(stmt, 5, (sqlite3_int64)f->far_modseq));
	bind(st, sqlite3_bind_int64(stmt, 6, (sqlite3_int64)f->near_modseq));
	bind(st, sqlite3_bind_int64(stmt, 7, f->last_sync));
	bind(st, sqlite3_bind_text(stmt, 8, f->clean, -1, SQLITE_STATIC));
	bind(st, sqlite3_bind_int64(stmt, 9, f->id));
	return step_done(st, stmt, err);
}

int state_folder_synced(struct state *st, const char *name, bool *synced, struct ferry_error *err)
{
	sqlite3_stmt *stmt;
	int r;

	if (prepare(st, "SELECT last_sync FROM folders WHERE name = ?", &stmt, err) != 0)
		return -1;
	bind(st, sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC));
	r = step(st, stmt);
	*synced = r == SQLITE_ROW && sqlite3_column_int64(stmt, 0) != 0;
	release(st, stmt);
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		return db_error(st, err, "read folder");
	return 0;
}

int state_drop_folder(struct state *st, const char *name, struct ferry_error *err)
{
	sqlite3_stmt *stmt;

	if (prepare(st,
		    "DELETE FROM pairs WHERE folder_id IN (SELECT id FROM folders WHERE name = ?)",
		    &stmt, err) != 0)
		return -1;
	bind(st, sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC));
	if (step_done(st, stmt, err) != 0)
		return -1;
	if (prepare(st, "DELETE FROM folders WHERE name = ?", &stmt, err) != 0)
		return -1;
	bind(st, sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC));
	return step_done(st, stmt, err);
}

int state_rename_folder(struct state *st, const char *from, const char *to, struct ferry_error *err)
{
	static const char *const sql[] = {
	    /* A row of the new name from a sync that never finished: its
	     * pairs, if any, are found again by identity (rule 7). */
	    "DELETE FROM pairs WHERE folder_id IN (SELECT id FROM folders WHERE name = ?2)",
	    "DELETE FROM folders WHERE name = ?2",
	    "UPDATE folders SET name = ?2 WHERE name = ?1",
	    "UPDATE conflicts SET folder = ?2 WHERE folder = ?1",
	    /* A pair by role keeps its partner (sync/roles.c). */
	    "UPDATE role_pairs SET far = ?2 WHERE far = ?1",
	    /* Held removals are decided anew by every run. */
	    "DELETE FROM held WHERE folder = ?1",
	};

	for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
		sqlite3_stmt *stmt;
		int n;

		if (prepare(st, sql[i], &stmt, err) != 0)
			return -1;
		/* ?1 and ?2 as each statement has them (a count of 1: only ?1). */
		n = sqlite3_bind_parameter_count(stmt);
		if (n >= 1)
			bind(st, sqlite3_bind_text(stmt, 1, from, -1, SQLITE_STATIC));
		if (n >= 2)
			bind(st, sqlite3_bind_text(stmt, 2, to, -1, SQLITE_STATIC));
		if (step_done(st, stmt, err) != 0)
			return -1;
	}
	return 0;
}

static int read_folder_row(sqlite3_stmt *stmt, void *elem)
{
	struct state_folder *f = elem;

	*f = (struct state_folder){0};
	read_folder(stmt, f);
	return (f->name = strdup((const char *)sqlite3_column_text(stmt, 1))) ? 0 : -1;
}

int state_list_folders(struct state *st, struct state_folder **out, size_t *n,
		       struct ferry_error *err)
{
	sqlite3_stmt *stmt;
	struct state_folder *v = NULL;
	size_t cap = 0;
	int r;

	*n = 0;
	if (prepare(st, "SELECT " FOLDER_COLUMNS " FROM folders ORDER BY name", &stmt, err) != 0)
		return -1;
	r = bound(st, err);
	if (r == 0)
		r = db_rows(st->db, stmt, &v, n, &cap, sizeof(*v), read_folder_row, "list folders",
			    err);
	release(st, stmt);
	if (r != 0) {
		state_folders_free(v, *n);
		return -1;
	}
	*out = v;
	return 0;
}

void state_folders_free(struct state_folder *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

static void read_id(sqlite3_stmt *stmt, int col, struct msg_id *id)
{
	const void *blob = sqlite3_column_blob(stmt, col);

	id->known = blob && sqlite3_column_bytes(stmt, col) == (int)sizeof(id->hash);
	if (id->known)
		memcpy(id->hash, blob, sizeof(id->hash));
}

#define PAIR_COLUMNS                                                                               \
	"far_uid, near_uid, status, base_flags, base_keywords, size, far_id, near_id, made, "      \
	"placeholder"

/* One row of PAIR_COLUMNS into a struct pair; -1 on allocation failure
 * (nothing to free). */
static int read_pair(sqlite3_stmt *stmt, void *elem)
{
	const unsigned char *kw = sqlite3_column_text(stmt, 4);
	struct pair *p = elem;

	*p = (struct pair){
	    .far_uid = (uint32_t)sqlite3_column_int64(stmt, 0),
	    .near_uid = (uint32_t)sqlite3_column_int64(stmt, 1),
	    .status = (enum pair_status)sqlite3_column_int(stmt, 2),
	    .base_flags = (unsigned)sqlite3_column_int(stmt, 3),
	    .size = (uint64_t)sqlite3_column_int64(stmt, 5),
	    .made = sqlite3_column_int64(stmt, 8),
	    .placeholder = sqlite3_column_int64(stmt, 9) != 0,
	};
	if (sqlite3_column_int64(stmt, 9) > 1)
		p->placeholder_size = (uint64_t)sqlite3_column_int64(stmt, 9);
	if (kw && !(p->base_keywords = strdup((const char *)kw)))
		return -1;
	read_id(stmt, 6, &p->far_id);
	read_id(stmt, 7, &p->near_id);
	return 0;
}

int state_count_pairs(struct state *st, int64_t folder_id, size_t *far, size_t *near,
		      struct ferry_error *err)
{
	sqlite3_stmt *stmt;
	int r;

	/* Each count from its side's covering index. */
	if (prepare(
		st,
		"SELECT (SELECT count(*) FROM pairs WHERE folder_id = ?1 AND far_uid IS NOT NULL),"
		" (SELECT count(*) FROM pairs WHERE folder_id = ?1 AND near_uid IS NOT NULL)",
		&stmt, err) != 0)
		return -1;
	bind(st, sqlite3_bind_int64(stmt, 1, folder_id));
	r = step(st, stmt);
	*far = (size_t)sqlite3_column_int64(stmt, 0);
	*near = (size_t)sqlite3_column_int64(stmt, 1);
	release(st, stmt);
	return r == SQLITE_ROW ? 0 : db_error(st, err, "count pairs");
}

/* Appends the rows of a prepared PAIR_COLUMNS statement to *v. */
static int append_pairs(struct state *st, sqlite3_stmt *stmt, struct pair **v, size_t *n,
			size_t *cap, struct ferry_error *err)
{
	int r = bound(st, err);

	if (r == 0)
		r = db_rows(st->db, stmt, v, n, cap, sizeof(**v), read_pair, "load pairs", err);
	release(st, stmt);
	return r;
}

int state_load_pairs(struct state *st, int64_t folder_id, struct pair **out, size_t *n,
		     struct ferry_error *err)
{
	sqlite3_stmt *stmt;
	struct pair *v = NULL;
	size_t cap = 0;

	*n = 0;
	if (prepare(st, "SELECT " PAIR_COLUMNS " FROM pairs WHERE folder_id = ?", &stmt, err) != 0)
		return -1;
	bind(st, sqlite3_bind_int64(stmt, 1, folder_id));
	if (append_pairs(st, stmt, &v, n, &cap, err) != 0) {
		state_pairs_free(v, *n);
		*n = 0;
		return -1;
	}
	*out = v;
	return 0;
}

int state_append_pairs_between(struct state *st, int64_t folder_id, bool far_side, uint32_t lo,
			       uint32_t hi, struct pair **v, size_t *n, size_t *cap,
			       struct ferry_error *err)
{
	static const char *const between[2] = {
	    [FAR] = "SELECT " PAIR_COLUMNS " FROM pairs WHERE folder_id = ?"
		    " AND far_uid BETWEEN ? AND ?",
	    [NEAR] = "SELECT " PAIR_COLUMNS " FROM pairs WHERE folder_id = ?"
		     " AND near_uid BETWEEN ? AND ?",
	};
	sqlite3_stmt *stmt;

	if (prepare(st, between[far_side ? FAR : NEAR], &stmt, err) != 0)
		return -1;
	bind(st, sqlite3_bind_int64(stmt, 1, folder_id));
	bind(st, sqlite3_bind_int64(stmt, 2, lo));
	bind(st, sqlite3_bind_int64(stmt, 3, hi));
	return append_pairs(st, stmt, v, n, cap, err);
}

void state_pairs_free(struct pair *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].base_keywords);
	free(v);
}

int state_clear_pairs(struct state *st, int64_t folder_id, struct ferry_error *err)
{
	sqlite3_stmt *stmt;

	if (prepare(st, "DELETE FROM pairs WHERE folder_id = ?", &stmt, err) != 0)
		return -1;
	bind(st, sqlite3_bind_int64(stmt, 1, folder_id));
	return step_done(st, stmt, err);
}

static void bind_uid(struct state *st, sqlite3_stmt *stmt, int col, uint32_t uid)
{
	if (uid)
		bind(st, sqlite3_bind_int64(stmt, col, uid));
	else
		bind(st, sqlite3_bind_null(stmt, col));
}

static void bind_id(struct state *st, sqlite3_stmt *stmt, int col, const struct msg_id *id)
{
	if (id->known)
		bind(st, sqlite3_bind_blob(stmt, col, id->hash, sizeof(id->hash), SQLITE_STATIC));
	else
		bind(st, sqlite3_bind_null(stmt, col));
}

/* When the pair holding far_uid was made; 0 when there is none. */
static int far_pair_made(struct state *st, int64_t folder_id, uint32_t far_uid, int64_t *made,
			 struct ferry_error *err)
{
	sqlite3_stmt *stmt;
	int r;

	*made = 0;
	if (!far_uid)
		return 0;
	if (prepare(st, "SELECT made FROM pairs WHERE folder_id = ? AND far_uid = ?", &stmt, err) !=
	    0)
		return -1;
	bind(st, sqlite3_bind_int64(stmt, 1, folder_id));
	bind(st, sqlite3_bind_int64(stmt, 2, far_uid));
	r = step(st, stmt);
	if (r == SQLITE_ROW)
		*made = sqlite3_column_int64(stmt, 0);
	release(st, stmt);
	return r == SQLITE_ROW || r == SQLITE_DONE ? 0 : db_error(st, err, "read a pair");
}

int state_put_pair(struct state *st, int64_t folder_id, const struct pair *p,
		   struct ferry_error *err)
{
	sqlite3_stmt *stmt;
	int64_t made = p->made;

	/* A pair written again (new status, moved) keeps its age. */
	if (!made && far_pair_made(st, folder_id, p->far_uid, &made, err) != 0)
		return -1;
	if (!made)
		made = (int64_t)time(NULL);
	if (state_forget_pair(st, folder_id, p->far_uid, 0, err) != 0 ||
	    state_forget_pair(st, folder_id, 0, p->near_uid, err) != 0)
		return -1;
	if (prepare(st,
		    "INSERT INTO pairs(folder_id, far_uid, near_uid, status, base_flags, "
		    "base_keywords, size, far_id, near_id, id_version, made, placeholder) "
		    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
		    &stmt, err) != 0)
		return -1;
	bind(st, sqlite3_bind_int64(stmt, 1, folder_id));
	bind_uid(st, stmt, 2, p->far_uid);
	bind_uid(st, stmt, 3, p->near_uid);
	bind(st, sqlite3_bind_int(stmt, 4, (int)p->status));
	bind(st, sqlite3_bind_int(stmt, 5, (int)p->base_flags));
	if (p->base_keywords)
		bind(st, sqlite3_bind_text(stmt, 6, p->base_keywords, -1, SQLITE_STATIC));
	else
		bind(st, sqlite3_bind_null(stmt, 6));
	bind(st, sqlite3_bind_int64(stmt, 7, (sqlite3_int64)p->size));
	bind_id(st, stmt, 8, &p->far_id);
	bind_id(st, stmt, 9, &p->near_id);
	bind(st, sqlite3_bind_int(stmt, 10, IDENT_VERSION));
	bind(st, sqlite3_bind_int64(stmt, 11, made));
	bind(st, sqlite3_bind_int64(stmt, 12,
				    !p->placeholder	      ? 0
				    : p->placeholder_size > 1 ? (sqlite3_int64)p->placeholder_size
							      : 1));
	return step_done(st, stmt, err);
}

/* WHERE clause for "the pair holding far_uid, or else near_uid". */
static int prepare_by_uid(struct state *st, const char *head, int64_t folder_id, uint32_t far_uid,
			  uint32_t near_uid, int first_col, sqlite3_stmt **stmt,
			  struct ferry_error *err)
{
	const uint32_t uid[2] = {[FAR] = far_uid, [NEAR] = near_uid};
	const enum side side = far_uid ? FAR : NEAR;
	char sql[256];

	snprintf(sql, sizeof(sql), "%s WHERE folder_id = ? AND %s = ?", head, uid_column[side]);
	if (prepare(st, sql, stmt, err) != 0)
		return -1;
	bind(st, sqlite3_bind_int64(*stmt, first_col, folder_id));
	bind(st, sqlite3_bind_int64(*stmt, first_col + 1, uid[side]));
	return 0;
}

int state_get_pair(struct state *st, int64_t folder_id, uint32_t far_uid, uint32_t near_uid,
		   struct pair *out, bool *found, struct ferry_error *err)
{
	sqlite3_stmt *stmt;
	int r;

	*found = false;
	if (!far_uid && !near_uid)
		return 0;
	if (prepare_by_uid(st, "SELECT " PAIR_COLUMNS " FROM pairs", folder_id, far_uid, near_uid,
			   1, &stmt, err) != 0)
		return -1;
	r = step(st, stmt);
	if (r == SQLITE_ROW) {
		if (read_pair(stmt, out) != 0) {
			release(st, stmt);
			return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		}
		*found = true;
	}
	release(st, stmt);
	return r == SQLITE_ROW || r == SQLITE_DONE ? 0 : db_error(st, err, "read a pair");
}

int state_forget_pair(struct state *st, int64_t folder_id, uint32_t far_uid, uint32_t near_uid,
		      struct ferry_error *err)
{
	sqlite3_stmt *stmt;

	if (!far_uid && !near_uid)
		return 0;
	if (prepare_by_uid(st, "DELETE FROM pairs", folder_id, far_uid, near_uid, 1, &stmt, err) !=
	    0)
		return -1;
	return step_done(st, stmt, err);
}

int state_set_base(struct state *st, int64_t folder_id, uint32_t far_uid, uint32_t near_uid,
		   unsigned flags, const char *keywords, struct ferry_error *err)
{
	sqlite3_stmt *stmt;

	if (prepare_by_uid(st, "UPDATE pairs SET base_flags = ?, base_keywords = ?", folder_id,
			   far_uid, near_uid, 3, &stmt, err) != 0)
		return -1;
	bind(st, sqlite3_bind_int(stmt, 1, (int)flags));
	if (keywords)
		bind(st, sqlite3_bind_text(stmt, 2, keywords, -1, SQLITE_STATIC));
	else
		bind(st, sqlite3_bind_null(stmt, 2));
	return step_done(st, stmt, err);
}

int state_dropped_keywords(struct state *st, int64_t folder_id, enum side side, char **out,
			   struct ferry_error *err)
{
	sqlite3_stmt *stmt;
	int r;

	*out = NULL;
	if (prepare(st, "SELECT keywords FROM dropped_keywords WHERE folder_id = ? AND side = ?",
		    &stmt, err) != 0)
		return -1;
	bind(st, sqlite3_bind_int64(stmt, 1, folder_id));
	bind(st, sqlite3_bind_int(stmt, 2, (int)side));
	r = step(st, stmt);
	if (r == SQLITE_ROW && sqlite3_column_text(stmt, 0) &&
	    !(*out = strdup((const char *)sqlite3_column_text(stmt, 0)))) {
		release(st, stmt);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	release(st, stmt);
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		return db_fail(st->db, r, "read dropped keywords", err);
	return 0;
}

int state_add_dropped_keywords(struct state *st, int64_t folder_id, enum side side,
			       const char *keywords, struct ferry_error *err)
{
	sqlite3_stmt *stmt;
	char *had = NULL, *now;
	bool oom = false;
	int r;

	if (kw_empty(keywords))
		return 0;
	if (state_dropped_keywords(st, folder_id, side, &had, err) != 0)
		return -1;
	now = kw_union(had, keywords, &oom);
	free(had);
	if (oom || !now) {
		free(now);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	if (prepare(st,
		    "INSERT OR REPLACE INTO dropped_keywords(folder_id, side, keywords) "
		    "VALUES (?,?,?)",
		    &stmt, err) != 0) {
		free(now);
		return -1;
	}
	bind(st, sqlite3_bind_int64(stmt, 1, folder_id));
	bind(st, sqlite3_bind_int(stmt, 2, (int)side));
	bind(st, sqlite3_bind_text(stmt, 3, now, -1, SQLITE_TRANSIENT));
	r = step_done(st, stmt, err);
	free(now);
	return r;
}

int state_journal_add(struct state *st, struct journal_entry *e, struct ferry_error *err)
{
	sqlite3_stmt *stmt;

	if (prepare(st,
		    "INSERT INTO journal(folder_id, action, to_far, uidnext, count, started) "
		    "VALUES (?,?,?,?,?,?)",
		    &stmt, err) != 0)
		return -1;
	bind(st, sqlite3_bind_int64(stmt, 1, e->folder_id));
	bind(st, sqlite3_bind_int(stmt, 2, (int)e->action));
	bind(st, sqlite3_bind_int(stmt, 3, e->to_far));
	bind(st, sqlite3_bind_int64(stmt, 4, e->uidnext));
	bind(st, sqlite3_bind_int64(stmt, 5, (sqlite3_int64)e->count));
	bind(st, sqlite3_bind_int64(stmt, 6, (sqlite3_int64)time(NULL)));
	if (step_done(st, stmt, err) != 0)
		return -1;
	e->id = sqlite3_last_insert_rowid(db_handle(st->db));
	return 0;
}

int state_journal_done(struct state *st, int64_t id, struct ferry_error *err)
{
	sqlite3_stmt *stmt;

	if (prepare(st, "DELETE FROM journal WHERE id = ?", &stmt, err) != 0)
		return -1;
	bind(st, sqlite3_bind_int64(stmt, 1, id));
	return step_done(st, stmt, err);
}

static int read_journal_entry(sqlite3_stmt *stmt, void *elem)
{
	*(struct journal_entry *)elem = (struct journal_entry){
	    .id = sqlite3_column_int64(stmt, 0),
	    .folder_id = sqlite3_column_int64(stmt, 1),
	    .action = (enum journal_action)sqlite3_column_int(stmt, 2),
	    .to_far = sqlite3_column_int(stmt, 3) != 0,
	    .uidnext = (uint32_t)sqlite3_column_int64(stmt, 4),
	    .count = (size_t)sqlite3_column_int64(stmt, 5),
	};
	return 0;
}

int state_journal_pending(struct state *st, struct journal_entry **out, size_t *n,
			  struct ferry_error *err)
{
	sqlite3_stmt *stmt;
	struct journal_entry *v = NULL;
	size_t cap = 0;
	int r;

	*n = 0;
	if (prepare(st,
		    "SELECT id, folder_id, action, to_far, uidnext, count FROM journal ORDER BY id",
		    &stmt, err) != 0)
		return -1;
	r = bound(st, err);
	if (r == 0)
		r = db_rows(st->db, stmt, &v, n, &cap, sizeof(*v), read_journal_entry,
			    "read journal", err);
	release(st, stmt);
	if (r != 0) {
		free(v);
		*n = 0;
		return -1;
	}
	*out = v;
	return 0;
}

int state_add_conflict(struct state *st, const char *folder, const char *text,
		       struct ferry_error *err)
{
	sqlite3_stmt *stmt;

	if (prepare(st, "INSERT INTO conflicts(folder, text, at) VALUES (?,?,?)", &stmt, err) != 0)
		return -1;
	bind(st, sqlite3_bind_text(stmt, 1, folder, -1, SQLITE_STATIC));
	bind(st, sqlite3_bind_text(stmt, 2, text, -1, SQLITE_STATIC));
	bind(st, sqlite3_bind_int64(stmt, 3, (sqlite3_int64)time(NULL)));
	return step_done(st, stmt, err);
}

static int read_conflict(sqlite3_stmt *stmt, void *elem)
{
	struct state_conflict *c = elem;

	c->folder = strdup((const char *)sqlite3_column_text(stmt, 0));
	c->text = strdup((const char *)sqlite3_column_text(stmt, 1));
	c->at = sqlite3_column_int64(stmt, 2);
	if (c->folder && c->text)
		return 0;
	free(c->folder);
	free(c->text);
	return -1;
}

int state_list_conflicts(struct state *st, struct state_conflict **out, size_t *n,
			 struct ferry_error *err)
{
	sqlite3_stmt *stmt;
	struct state_conflict *v = NULL;
	size_t cap = 0;
	int r;

	*n = 0;
	*out = NULL;
	if (prepare(st, "SELECT folder, text, at FROM conflicts ORDER BY id", &stmt, err) != 0)
		return -1;
	r = bound(st, err);
	if (r == 0)
		r = db_rows(st->db, stmt, &v, n, &cap, sizeof(*v), read_conflict, "read conflicts",
			    err);
	release(st, stmt);
	if (r != 0) {
		state_conflicts_free(v, *n);
		return -1;
	}
	*out = v;
	return 0;
}

void state_conflicts_free(struct state_conflict *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].folder);
		free(v[i].text);
	}
	free(v);
}

int state_set_held(struct state *st, const char *folder, enum side side, enum held_kind kind,
		   size_t count, struct ferry_error *err)
{
	sqlite3_stmt *stmt;

	if (count == 0 && kind == HELD_DELETIONS) {
		if (prepare(st, "DELETE FROM held WHERE folder = ? AND side = ? AND kind = ?",
			    &stmt, err) != 0)
			return -1;
	} else if (prepare(st,
			   "INSERT OR REPLACE INTO held(folder, side, kind, count, at) "
			   "VALUES (?,?,?,?,?)",
			   &stmt, err) != 0) {
		return -1;
	}
	bind(st, sqlite3_bind_text(stmt, 1, folder, -1, SQLITE_STATIC));
	bind(st, sqlite3_bind_int(stmt, 2, (int)side));
	bind(st, sqlite3_bind_int(stmt, 3, (int)kind));
	if (count || kind == HELD_REMOVAL) {
		bind(st, sqlite3_bind_int64(stmt, 4, (sqlite3_int64)count));
		bind(st, sqlite3_bind_int64(stmt, 5, (sqlite3_int64)time(NULL)));
	}
	return step_done(st, stmt, err);
}

int state_clear_held_removals(struct state *st, struct ferry_error *err)
{
	sqlite3_stmt *stmt;

	if (prepare(st, "DELETE FROM held WHERE kind = ?", &stmt, err) != 0)
		return -1;
	bind(st, sqlite3_bind_int(stmt, 1, (int)HELD_REMOVAL));
	return step_done(st, stmt, err);
}

static int read_held(sqlite3_stmt *stmt, void *elem)
{
	struct state_held *h = elem;

	*h = (struct state_held){
	    .folder = strdup((const char *)sqlite3_column_text(stmt, 0)),
	    .side = sqlite3_column_int(stmt, 1) == (int)FAR ? FAR : NEAR,
	    .kind =
		sqlite3_column_int(stmt, 2) == (int)HELD_REMOVAL ? HELD_REMOVAL : HELD_DELETIONS,
	    .count = (size_t)sqlite3_column_int64(stmt, 3),
	    .at = sqlite3_column_int64(stmt, 4),
	};
	return h->folder ? 0 : -1;
}

int state_list_held(struct state *st, struct state_held **out, size_t *n, struct ferry_error *err)
{
	sqlite3_stmt *stmt;
	struct state_held *v = NULL;
	size_t cap = 0;
	int r;

	*n = 0;
	*out = NULL;
	if (prepare(st,
		    "SELECT folder, side, kind, count, at FROM held ORDER BY folder, kind, side",
		    &stmt, err) != 0)
		return -1;
	r = bound(st, err);
	if (r == 0)
		r = db_rows(st->db, stmt, &v, n, &cap, sizeof(*v), read_held, "read held deletions",
			    err);
	release(st, stmt);
	if (r != 0) {
		state_held_free(v, *n);
		*n = 0;
		return -1;
	}
	*out = v;
	return 0;
}

void state_held_free(struct state_held *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].folder);
	free(v);
}

static int read_role_pair(sqlite3_stmt *stmt, void *elem)
{
	struct state_role_pair *p = elem;

	*p = (struct state_role_pair){
	    .far = strdup((const char *)sqlite3_column_text(stmt, 0)),
	    .near = strdup((const char *)sqlite3_column_text(stmt, 1)),
	    .role = sqlite3_column_int(stmt, 2),
	};
	if (p->far && p->near)
		return 0;
	free(p->far);
	free(p->near);
	return -1;
}

int state_list_role_pairs(struct state *st, struct state_role_pair **out, size_t *n,
			  struct ferry_error *err)
{
	sqlite3_stmt *stmt;
	struct state_role_pair *v = NULL;
	size_t cap = 0;
	int r;

	*n = 0;
	*out = NULL;
	if (prepare(st, "SELECT far, near, role FROM role_pairs ORDER BY far", &stmt, err) != 0)
		return -1;
	r = db_rows(st->db, stmt, &v, n, &cap, sizeof(*v), read_role_pair, "read role pairs", err);
	release(st, stmt);
	if (r != 0) {
		state_role_pairs_free(v, *n);
		*n = 0;
		return -1;
	}
	*out = v;
	return 0;
}

int state_set_role_pairs(struct state *st, const struct state_role_pair *v, size_t n,
			 struct ferry_error *err)
{
	sqlite3_stmt *stmt;

	if (state_begin(st, err) != 0)
		return -1;
	if (prepare(st, "DELETE FROM role_pairs", &stmt, err) != 0 || step_done(st, stmt, err) != 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		if (prepare(st, "INSERT INTO role_pairs(far, near, role) VALUES (?,?,?)", &stmt,
			    err) != 0)
			goto fail;
		bind(st, sqlite3_bind_text(stmt, 1, v[i].far, -1, SQLITE_STATIC));
		bind(st, sqlite3_bind_text(stmt, 2, v[i].near, -1, SQLITE_STATIC));
		bind(st, sqlite3_bind_int(stmt, 3, v[i].role));
		if (step_done(st, stmt, err) != 0)
			goto fail;
	}
	return state_commit(st, err);
fail:
	state_rollback(st);
	return -1;
}

void state_role_pairs_free(struct state_role_pair *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].far);
		free(v[i].near);
	}
	free(v);
}
