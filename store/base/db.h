/* ferry's SQLite files (the channel state, the Maildir index), opened,
 * checked, migrated and written one way.
 *
 * A file is created 0600 before SQLite sees it (SQLite would honour the
 * umask, and gives its -wal and -shm the database's mode), checked in full
 * unless its seal holds (store/dbseal.h), run in WAL mode with
 * synchronous=NORMAL, foreign keys and a 10 s busy timeout, and brought to
 * the current schema by one runner: an array of steps, steps[v] taking
 * user_version v to v + 1, so the version is the array's length. Every
 * failure is FERRY_CAUSE_LOCAL_IO (out of memory: INTERNAL) and names the
 * file. */
#ifndef FERRY_BASE_DB_H
#define FERRY_BASE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store/error.h"

struct db;

/* What a module's database is: how to name it, how to recover when it is
 * damaged, how to tell it from another program's, and its schema. */
struct db_kind {
	/* Said before the path in messages ("state" gives "state <path>: ...");
	 * NULL: the path alone. */
	const char *noun;
	/* How to recover, said after "<file> is damaged (<why>); ". */
	const char *recover;
	/* Refuses another program's database (0: ours, or empty to be created;
	 * -1: err set), run before anything writes to the file. NULL: any. */
	int (*check_ours)(struct db *db, struct ferry_error *err);
	/* SQL run in every step's transaction besides the step (an
	 * application_id), or NULL. */
	const char *stamp;
	const char *const *migrations;
	size_t nmigrations;
};

enum db_mode {
	DB_WRITE,	   /* created when missing, checked, migrated */
	DB_WRITE_NOFOLLOW, /* the same, refusing a symbolic link at path */
	/* An existing file for reading only, at the current version: nothing is
	 * written, no seal touched, no -wal or -shm left beside it (the caller
	 * keeps writers away). */
	DB_READ,
	/* A copy in memory of the file as it is (empty when there is none),
	 * migrated there, for a run that must write nothing (--dry-run): it
	 * reads and writes as usual, the file is read once and never written,
	 * no seal touched, no -wal or -shm left beside it. */
	DB_SCRATCH,
};

/* Opens path as kind; *out to db_close(). On error *out is NULL. */
int db_open(const char *path, const struct db_kind *kind, enum db_mode mode, struct db **out,
	    struct ferry_error *err);
/* Closes, and seals the file when it was opened for writing and no damage
 * was seen since. NULL is fine. */
void db_close(struct db *db);

sqlite3 *db_handle(struct db *db);
const char *db_path(const struct db *db);

/* Fills err for a failed SQLite call (rc, or 0 for the handle's last error)
 * naming the file and what was being done; damage (corrupt, not a
 * database) says how to recover and keeps the file from being sealed.
 * Returns -1. */
int db_fail(struct db *db, int rc, const char *what, struct ferry_error *err);
/* "<file> is damaged (<why>); <how to recover>", and no seal at close. */
int db_damaged(struct db *db, const char *why, struct ferry_error *err);
/* mkdir -p of path's parent directory, 0700 for what is made. */
int db_make_parent(const char *path, struct ferry_error *err);
/* A check_ours for a kind stamped with application_id app_id: an empty
 * file is new; any other needs that id, else db_damaged(why). */
int db_check_app_id(struct db *db, int64_t app_id, const char *why, struct ferry_error *err);

/* A statement for sql, kept prepared when persistent (run many times). */
int db_prepare(struct db *db, const char *sql, bool persistent, sqlite3_stmt **stmt,
	       struct ferry_error *err);
/* Steps a statement that returns no rows, and resets it. */
int db_run(struct db *db, sqlite3_stmt *stmt, const char *what, struct ferry_error *err);
/* Steps a statement that returns at most one row: 1 with the row to read
 * (the caller resets the statement after), 0 when there is none, -1 on
 * error (both reset). */
int db_step_row(struct db *db, sqlite3_stmt *stmt, const char *what, struct ferry_error *err);
/* Appends the rows of stmt to an array: arrayp is the address of its
 * pointer (struct x **), *n elements used and *cap allocated (grow_array),
 * each element size bytes and filled by read, which returns -1 when out of
 * memory, leaving nothing in its element to free. The statement is reset.
 * On error the rows read so far stay in the array for the caller to free. */
int db_rows(struct db *db, sqlite3_stmt *stmt, void *arrayp, size_t *n, size_t *cap, size_t size,
	    int (*read)(sqlite3_stmt *stmt, void *elem), const char *what, struct ferry_error *err);
/* Runs SQL text (one or more statements, no rows wanted). */
int db_exec(struct db *db, const char *sql, const char *what, struct ferry_error *err);
/* The integer in the first column of the one row sql returns. */
int db_int(struct db *db, const char *sql, int64_t *out, struct ferry_error *err);

/* BEGIN IMMEDIATE (the write lock now, waiting up to the busy timeout,
 * rather than a deadlock at the first write), COMMIT, ROLLBACK. A failed
 * ROLLBACK leaves nothing to do: SQLite has rolled back already when the
 * statement that failed ended the transaction. */
int db_begin(struct db *db, struct ferry_error *err);
int db_commit(struct db *db, struct ferry_error *err);
void db_rollback(struct db *db);

#endif
