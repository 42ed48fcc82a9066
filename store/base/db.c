#include "store/base/db.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/base/grow.h"
#include "store/dbseal.h"

/* Another connection (a parallel worker, `ferry verify`) holds the write
 * lock at most for one short transaction. */
#define BUSY_TIMEOUT_MS 10000

enum { TX_BEGIN, TX_COMMIT, TX_ROLLBACK, TX_COUNT };

static const char *const tx_sql[TX_COUNT] = {"BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"};

struct db {
	sqlite3 *h;
	char *path;
	const struct db_kind *kind;
	bool writable;
	bool sealable; /* opened and checked, no damage seen since */
	sqlite3_stmt *tx[TX_COUNT];
};

sqlite3 *db_handle(struct db *db)
{
	return db->h;
}

const char *db_path(const struct db *db)
{
	return db->path;
}

static bool is_damage(int rc)
{
	return (rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB;
}

/* The file as messages name it: "state <path>" or "<path>". */
#define NAME_FMT     "%s%s%s"
#define NAME_ARGS(d) (d)->kind->noun ? (d)->kind->noun : "", (d)->kind->noun ? " " : "", (d)->path

int db_damaged(struct db *db, const char *why, struct ferry_error *err)
{
	db->sealable = false;
	return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, NAME_FMT " is damaged (%s); %s",
			       NAME_ARGS(db), why, db->kind->recover);
}

int db_fail(struct db *db, int rc, const char *what, struct ferry_error *err)
{
	if (rc == 0 && db->h)
		rc = sqlite3_extended_errcode(db->h);
	if (is_damage(rc))
		return db_damaged(db, sqlite3_errstr(rc), err);
	return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, NAME_FMT ": %s: %s", NAME_ARGS(db), what,
			       db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc));
}

int db_prepare(struct db *db, const char *sql, bool persistent, sqlite3_stmt **stmt,
	       struct ferry_error *err)
{
	int rc = sqlite3_prepare_v3(db->h, sql, -1, persistent ? SQLITE_PREPARE_PERSISTENT : 0,
				    stmt, NULL);

	if (rc != SQLITE_OK)
		return db_fail(db, rc, "prepare", err);
	return 0;
}

int db_run(struct db *db, sqlite3_stmt *stmt, const char *what, struct ferry_error *err)
{
	int rc = sqlite3_step(stmt);

	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE)
		return db_fail(db, rc, what, err);
	return 0;
}

int db_step_row(struct db *db, sqlite3_stmt *stmt, const char *what, struct ferry_error *err)
{
	int rc = sqlite3_step(stmt);

	if (rc == SQLITE_ROW)
		return 1;
	sqlite3_reset(stmt);
	return rc == SQLITE_DONE ? 0 : db_fail(db, rc, what, err);
}

int db_rows(struct db *db, sqlite3_stmt *stmt, void *arrayp, size_t *n, size_t *cap, size_t size,
	    int (*read)(sqlite3_stmt *stmt, void *elem), const char *what, struct ferry_error *err)
{
	char *v;
	int rc;

	/* The caller's typed pointer, read and written as bytes: one function
	 * for arrays of any element type. */
	memcpy(&v, arrayp, sizeof(v));
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		char *nv = grow_array(v, cap, *n + 1, size);

		if (!nv)
			break;
		v = nv;
		memcpy(arrayp, &v, sizeof(v));
		if (read(stmt, v + *n * size) != 0)
			break;
		(*n)++;
	}
	sqlite3_reset(stmt);
	if (rc == SQLITE_ROW)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	return rc == SQLITE_DONE ? 0 : db_fail(db, rc, what, err);
}

int db_exec(struct db *db, const char *sql, const char *what, struct ferry_error *err)
{
	int rc = sqlite3_exec(db->h, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return db_fail(db, rc, what, err);
	return 0;
}

/* The first row of sql, handed to read (which may be NULL). */
static int one_row(struct db *db, const char *sql, void (*read)(sqlite3_stmt *, void *), void *arg,
		   struct ferry_error *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if (db_prepare(db, sql, false, &stmt, err) != 0)
		return -1;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		read(stmt, arg);
	sqlite3_finalize(stmt);
	if (rc == SQLITE_DONE)
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, NAME_FMT ": %s: no row",
				       NAME_ARGS(db), sql);
	if (rc != SQLITE_ROW)
		return db_fail(db, rc, sql, err);
	return 0;
}

static void read_int(sqlite3_stmt *stmt, void *out)
{
	*(int64_t *)out = sqlite3_column_int64(stmt, 0);
}

int db_int(struct db *db, const char *sql, int64_t *out, struct ferry_error *err)
{
	return one_row(db, sql, read_int, out, err);
}

struct text_is {
	const char *want;
	bool equal;
};

static void read_text_is(sqlite3_stmt *stmt, void *arg)
{
	struct text_is *t = arg;
	const unsigned char *v = sqlite3_column_text(stmt, 0);

	t->equal = v && strcmp((const char *)v, t->want) == 0;
}

/* Whether the first column of sql's one row is the text want. */
static int text_is(struct db *db, const char *sql, const char *want, bool *equal,
		   struct ferry_error *err)
{
	struct text_is t = {want, false};

	if (one_row(db, sql, read_text_is, &t, err) != 0)
		return -1;
	*equal = t.equal;
	return 0;
}

/* Transactions run often (a Maildir batch, every state write): their
 * statements are prepared once. */
static int tx(struct db *db, int which, struct ferry_error *err)
{
	if (!db->tx[which] && db_prepare(db, tx_sql[which], true, &db->tx[which], err) != 0)
		return -1;
	return db_run(db, db->tx[which], tx_sql[which], err);
}

int db_begin(struct db *db, struct ferry_error *err)
{
	return tx(db, TX_BEGIN, err);
}

int db_commit(struct db *db, struct ferry_error *err)
{
	return tx(db, TX_COMMIT, err);
}

void db_rollback(struct db *db)
{
	(void)tx(db, TX_ROLLBACK, NULL);
}

/* A damaged database must be named, never used silently. */
static int check_integrity(struct db *db, struct ferry_error *err)
{
	bool ok = false;
	struct ferry_error why = {0};

	if (text_is(db, "PRAGMA quick_check", "ok", &ok, &why) != 0) {
		if (why.cause == FERRY_CAUSE_INTERNAL) {
			if (err)
				*err = why;
			return -1;
		}
		/* Damage that stops the check itself is damage too. */
		return db_damaged(db, sqlite3_errmsg(db->h), err);
	}
	return ok ? 0 : db_damaged(db, "the integrity check failed", err);
}

static int migrate(struct db *db, struct ferry_error *err)
{
	const int current = (int)db->kind->nmigrations;
	int64_t version;

	if (db_int(db, "PRAGMA user_version", &version, err) != 0)
		return -1;
	if (version > current)
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO,
				       NAME_FMT ": schema version %lld is newer than this ferry "
						"understands (%d); upgrade ferry",
				       NAME_ARGS(db), (long long)version, current);
	for (int v = (int)version; v < current; v++) {
		char bump[64];

		snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", v + 1);
		if (db_begin(db, err) != 0)
			return -1;
		if (db_exec(db, db->kind->migrations[v], "migrating the schema", err) != 0 ||
		    (db->kind->stamp &&
		     db_exec(db, db->kind->stamp, "migrating the schema", err) != 0) ||
		    db_exec(db, bump, "migrating the schema", err) != 0 ||
		    db_commit(db, err) != 0) {
			db_rollback(db);
			return -1;
		}
	}
	return 0;
}

/* A read-only reader at the current version only: an older file is
 * migrated by the next writer, a newer one is not understood. */
static int check_version(struct db *db, struct ferry_error *err)
{
	int64_t version;

	if (db_int(db, "PRAGMA user_version", &version, err) != 0)
		return -1;
	if (version != (int64_t)db->kind->nmigrations)
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO,
				       NAME_FMT ": schema version %lld, this ferry reads %zu: run "
						"`ferry sync` with this version first",
				       NAME_ARGS(db), (long long)version, db->kind->nmigrations);
	return 0;
}

/* A WAL database opened read-only still creates -wal and -shm files and
 * leaves them behind. With no -wal left by a killed run the file is all
 * there is (the caller keeps writers away), and SQLite may read it as
 * immutable, creating nothing. Free with free(). */
static char *readonly_uri(const char *path)
{
	struct strbuf uri = {0}, wal = {0};
	bool has_wal;

	strbuf_addf(&wal, "%s-wal", path);
	if (wal.oom)
		return NULL;
	has_wal = access(wal.s, F_OK) == 0;
	strbuf_free(&wal);
	/* file: URI: '%', '?' and '#' are escaped; everything else as it is. */
	strbuf_adds(&uri, "file:");
	for (const char *p = path; *p; p++) {
		if (*p == '%' || *p == '?' || *p == '#')
			strbuf_addf(&uri, "%%%02X", (unsigned char)*p);
		else
			strbuf_add(&uri, p, 1);
	}
	strbuf_adds(&uri, has_wal ? "?mode=ro" : "?mode=ro&immutable=1");
	return strbuf_take(&uri);
}

/* SQLite creates files with 0644 less the umask, and gives its -wal and -shm
 * files the mode of the database: creating the file first makes all 0600. */
static int create_private(struct db *db, bool nofollow, struct ferry_error *err)
{
	int fd = open(db->path, O_RDWR | O_CREAT | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0), 0600);

	if (fd < 0 && nofollow && errno == ELOOP)
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO,
				       NAME_FMT
				       ": is a symbolic link; refused (ferry writes its "
				       "files only where it was told, never through a link)",
				       NAME_ARGS(db));
	if (fd < 0)
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, NAME_FMT ": %s", NAME_ARGS(db),
				       strerror(errno));
	close(fd);
	return 0;
}

/* DB_SCRATCH: the file, if there is one, copied into a database in memory
 * (SQLite's online backup reads it through its -wal, if any, unchanged). */
static int open_scratch(struct db *db, struct ferry_error *err)
{
	sqlite3 *src = NULL;
	sqlite3_backup *b;
	char *uri;
	int rc;

	rc = sqlite3_open_v2(":memory:", &db->h, SQLITE_OPEN_READWRITE, NULL);
	if (rc != SQLITE_OK)
		return db_fail(db, rc, "cannot open a copy in memory", err);
	sqlite3_extended_result_codes(db->h, 1);
	if (access(db->path, F_OK) != 0) {
		if (errno == ENOENT)
			return 0; /* nothing yet: an empty copy, as a first run starts */
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, NAME_FMT ": %s", NAME_ARGS(db),
				       strerror(errno));
	}
	if (!(uri = readonly_uri(db->path)))
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	rc = sqlite3_open_v2(uri, &src, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
	free(uri);
	if (rc == SQLITE_OK)
		rc = sqlite3_busy_timeout(src, BUSY_TIMEOUT_MS);
	if (rc == SQLITE_OK) {
		if (!(b = sqlite3_backup_init(db->h, "main", src, "main")))
			rc = sqlite3_extended_errcode(db->h);
		else if ((rc = sqlite3_backup_step(b, -1)) == SQLITE_DONE)
			rc = sqlite3_backup_finish(b);
		else
			(void)sqlite3_backup_finish(b);
	}
	if (rc != SQLITE_OK) {
		ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, NAME_FMT ": reading it: %s",
				NAME_ARGS(db), src ? sqlite3_errmsg(src) : sqlite3_errstr(rc));
		sqlite3_close(src);
		return -1;
	}
	if (sqlite3_close(src) != SQLITE_OK)
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, NAME_FMT ": cannot close",
				       NAME_ARGS(db));
	return 0;
}

static int open_file(struct db *db, enum db_mode mode, struct ferry_error *err)
{
	char *uri = NULL;
	int flags, rc;

	switch (mode) {
	case DB_SCRATCH:
		return open_scratch(db, err);
	case DB_READ:
		if (!(uri = readonly_uri(db->path)))
			return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_URI;
		break;
	case DB_WRITE_NOFOLLOW:
		flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW;
		break;
	default:
		flags = SQLITE_OPEN_READWRITE;
		break;
	}
	if (mode != DB_READ && create_private(db, mode == DB_WRITE_NOFOLLOW, err) != 0)
		return -1;
	rc = sqlite3_open_v2(uri ? uri : db->path, &db->h, flags, NULL);
	free(uri);
	if (rc != SQLITE_OK)
		return db_fail(db, rc, "cannot open", err);
	sqlite3_extended_result_codes(db->h, 1);
	if ((rc = sqlite3_busy_timeout(db->h, BUSY_TIMEOUT_MS)) != SQLITE_OK)
		return db_fail(db, rc, "busy timeout", err);
	return 0;
}

/* The file's own settings, once it is known to be ours and checked. NORMAL
 * keeps a WAL database consistent across a crash; a committed transaction
 * may be lost at a power cut, which rule 7 (identity) recovers from. */
static int configure(struct db *db, struct ferry_error *err)
{
	bool wal = false;

	if (text_is(db, "PRAGMA journal_mode = WAL", "wal", &wal, err) != 0)
		return -1;
	if (!wal)
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO,
				       NAME_FMT ": cannot switch to WAL mode", NAME_ARGS(db));
	return db_exec(db, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON", "pragmas", err);
}

int db_open(const char *path, const struct db_kind *kind, enum db_mode mode, struct db **out,
	    struct ferry_error *err)
{
	struct db *db = calloc(1, sizeof(*db));

	*out = NULL;
	if (!db || !(db->path = strdup(path))) {
		free(db);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	db->kind = kind;
	db->writable = mode == DB_WRITE || mode == DB_WRITE_NOFOLLOW;
	if (open_file(db, mode, err) != 0)
		goto fail;
	/* The full check only when the file changed since ferry last closed it. */
	if (!db_seal_holds(path) && check_integrity(db, err) != 0)
		goto fail;
	if (kind->check_ours && kind->check_ours(db, err) != 0)
		goto fail;
	if (mode == DB_READ) {
		if (check_version(db, err) != 0)
			goto fail;
	} else if (mode == DB_SCRATCH) {
		/* In memory: no WAL, no seal; the schema brought up to date there. */
		if (migrate(db, err) != 0 ||
		    db_exec(db, "PRAGMA foreign_keys = ON", "pragmas", err) != 0)
			goto fail;
	} else {
		/* Broken before the first write: a run killed from here on leaves
		 * no seal, so the next open checks. */
		db_seal_break(path);
		if (configure(db, err) != 0 || migrate(db, err) != 0)
			goto fail;
		db->sealable = true;
	}
	*out = db;
	return 0;
fail:
	db_close(db);
	return -1;
}

void db_close(struct db *db)
{
	if (!db)
		return;
	for (int i = 0; i < TX_COUNT; i++)
		sqlite3_finalize(db->tx[i]);
	/* Closing fails only with statements left unfinalized; the last close
	 * checkpoints the WAL and removes it. */
	if (sqlite3_close(db->h) == SQLITE_OK && db->writable && db->sealable)
		db_seal_make(db->path);
	free(db->path);
	free(db);
}

int db_make_parent(const char *path, struct ferry_error *err)
{
	char *copy = strdup(path), *dir;
	int r = 0;

	if (!copy)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	dir = dirname(copy);
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST)
			r = -1;
		*p = '/';
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		r = -1;
	if (r != 0)
		ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "cannot create %s: %s", dir,
				strerror(errno));
	free(copy);
	return r;
}

int db_check_app_id(struct db *db, int64_t app_id, const char *why, struct ferry_error *err)
{
	int64_t version, app, tables;

	if (db_int(db, "PRAGMA user_version", &version, err) != 0 ||
	    db_int(db, "PRAGMA application_id", &app, err) != 0 ||
	    db_int(db, "SELECT count(*) FROM sqlite_master", &tables, err) != 0)
		return -1;
	if ((version == 0 && tables != 0) || (version != 0 && app != app_id))
		return db_damaged(db, why, err);
	return 0;
}
