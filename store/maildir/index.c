#include "store/maildir/index.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "store/base/db.h"
#include "store/base/grow.h"
#include "store/log.h"

/* "Fery": marks the file as a ferry index, so that a foreign database put
 * there is refused rather than altered. Stamped by every migration step. */
#define INDEX_APPLICATION_ID 1181053561
_Static_assert(INDEX_APPLICATION_ID == 0x46657279, "the application_id spells Fery");
#define STRINGIFY(x)  #x
#define STAMP(id)     "PRAGMA application_id = " STRINGIFY(id)
#define LOCK_WAIT_MS  30000
#define LOCK_RETRY_MS 100

/* Plain files of the root, not a directory: Dovecot lists any directory of
 * a Maildir as a mailbox, in both layouts, and no file. A name starting with
 * ".." is no folder's directory in either layout (path.c escapes a level's
 * leading '.' in verbatim, every '.' in maildir++). */
#define INDEX_FILE "..ferry-index.sqlite"
#define LOCK_FILE  "..ferry-lock"
/* Where the index lived before: <root>/.ferry/index.sqlite, and its lock. */
#define OLD_DIR "/.ferry"

/* Schema migrations: migrations[v] takes a database at user_version v to
 * v + 1. Append only; never edit a released step. */
static const char *const migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE folders ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE," /* canonical name */
    "  dir TEXT NOT NULL,"	   /* the directory it came from, relative to the root */
    "  uidvalidity INTEGER NOT NULL,"
    "  uidnext INTEGER NOT NULL,"
    "  modseq INTEGER NOT NULL,"
    "  cur_mtime INTEGER NOT NULL," /* ns, read before the last scan; -1: never */
    "  new_mtime INTEGER NOT NULL,"
    "  scanned_at INTEGER NOT NULL" /* ns, clock before the last scan */
    ");"
    "CREATE TABLE messages ("
    "  folder INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,"
    "  uid INTEGER NOT NULL,"
    "  uniq TEXT NOT NULL," /* file name up to ':2,' */
    "  name TEXT NOT NULL," /* file name as last seen */
    "  subdir TEXT NOT NULL CHECK (subdir IN ('cur', 'new')),"
    "  info TEXT NOT NULL,"	/* info letters ferry does not manage */
    "  flags INTEGER NOT NULL," /* enum msg_flag bits */
    "  keywords TEXT,"		/* space-separated, sorted; NULL: none */
    "  size INTEGER NOT NULL,"	/* CRLF size */
    "  fsize INTEGER NOT NULL," /* bytes on disk, to notice edits in place */
    "  mtime INTEGER NOT NULL," /* ns */
    "  hash BLOB,"		/* SHA-256 of the CRLF header block; NULL: unknown */
    "  modseq INTEGER NOT NULL,"
    "  PRIMARY KEY (folder, uid),"
    "  UNIQUE (folder, uniq)"
    ") WITHOUT ROWID;",
    /* 1 -> 2: the inode a rescan compares with readdir's d_ino, so that a
     * file merely renamed (flags) needs no stat; 0: not known yet. */
    "ALTER TABLE messages ADD COLUMN ino INTEGER NOT NULL DEFAULT 0;",
    /* 2 -> 3: what changed since a modseq, as a QRESYNC server tells it:
     * rows by modseq, and a tombstone per expunged uid. Tombstones are
     * complete only above a folder's expunged_floor (older ones are trimmed;
     * an index from before this step has none). */
    "CREATE TABLE expunged ("
    "  folder INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,"
    "  uid INTEGER NOT NULL,"
    "  modseq INTEGER NOT NULL,"
    "  PRIMARY KEY (folder, uid)"
    ") WITHOUT ROWID;"
    "CREATE INDEX messages_modseq ON messages (folder, modseq);"
    "ALTER TABLE folders ADD COLUMN expunged_floor INTEGER NOT NULL DEFAULT 0;"
    "UPDATE folders SET expunged_floor = modseq;",
    /* 3 -> 4: per folder, the sum of a hash of each row's (subdir, file
     * name, inode), so that a rescan can tell from readdir alone that the
     * directory holds exactly what the index says (NULL: not known). */
    "ALTER TABLE folders ADD COLUMN rows_sum BLOB;",
    /* 4 -> 5: whether a row's keywords are known. A file that another
     * program wrote or moved into the folder (a scan found it) left its
     * keywords behind in its old row, so they are not known: the engine
     * takes the pair's instead of "none" (rule 15). Rows from before this
     * step count as not known, which never removes a keyword. */
    "ALTER TABLE messages ADD COLUMN keywords_known INTEGER NOT NULL DEFAULT 0;",
    /* 5 -> 6: the modseqs each folder went through (rule 16). Their lower
     * bits are random, so a copy of the index restored from a backup, once
     * it changes, goes through modseqs the original never had: changes
     * since a modseq the folder never was at are refused, not made up. */
    "CREATE TABLE modseqs ("
    "  folder INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,"
    "  modseq INTEGER NOT NULL,"
    "  PRIMARY KEY (folder, modseq)"
    ") WITHOUT ROWID;"
    "INSERT INTO modseqs (folder, modseq) SELECT id, modseq FROM folders;",
    /* 6 -> 7: hashes and sizes from here on are of identity version 2
     * (rule 6), which leaves out the header lines other synchronisers add.
     * Older hashes are dropped: a file with such a line would keep one
     * that matches nothing. The next look at each file that needs its
     * identity reads it again (its row's size with it). */
    "UPDATE messages SET hash = NULL;",
};

static int check_ours(struct db *db, struct ferry_error *err);

static const struct db_kind index_kind = {
    .recover = "the index is a cache of the Maildir: delete the file and ferry rebuilds it "
	       "(local keywords are then taken from the other side)",
    .check_ours = check_ours,
    .stamp = STAMP(INDEX_APPLICATION_ID),
    .migrations = migrations,
    .nmigrations = sizeof(migrations) / sizeof(migrations[0]),
};

enum stmt {
	S_FOLDER_GET,
	S_FOLDER_ADD,
	S_FOLDER_SAVE,
	S_FOLDER_DELETE,
	S_FOLDER_DELETE_MSGS,
	S_FOLDER_DIRS,
	S_MSGS,
	S_MSG_GET,
	S_MSG_ADD,
	S_MSG_UPDATE,
	S_MSG_DELETE,
	S_MSG_COUNT,
	S_MSGS_SINCE,
	S_EXPUNGED_ADD,
	S_EXPUNGED_SINCE,
	S_EXPUNGED_FLOOR,
	S_EXPUNGED_COUNT,
	S_EXPUNGED_NTH,
	S_EXPUNGED_TRIM,
	S_EXPUNGED_RAISE,
	S_FOLDER_DELETE_EXPUNGED,
	S_MSG_FILE,
	S_SUM_GET,
	S_SUM_SET,
	S_MODSEQ_ADD,
	S_MODSEQ_TRIM,
	S_MODSEQ_KNOWN,
	S_FOLDER_DELETE_MODSEQS,
	S_FOLDER_RENAME,
	S_COUNT
};

#define MSG_COLUMNS                                                                                \
	"uid, uniq, name, subdir, info, flags, keywords, size, fsize, mtime, hash, modseq, ino,"   \
	" keywords_known"

static const char *const stmt_sql[S_COUNT] = {
    [S_FOLDER_GET] = "SELECT id, dir, uidvalidity, uidnext, modseq, cur_mtime, new_mtime,"
		     " scanned_at FROM folders WHERE name = ?1",
    [S_FOLDER_ADD] = "INSERT INTO folders (name, dir, uidvalidity, uidnext, modseq, cur_mtime,"
		     " new_mtime, scanned_at) VALUES (?1, ?2, ?3, 1, 1, -1, -1, 0)",
    [S_FOLDER_SAVE] = "UPDATE folders SET dir = ?2, uidnext = ?3, modseq = ?4, cur_mtime = ?5,"
		      " new_mtime = ?6, scanned_at = ?7 WHERE id = ?1",
    [S_FOLDER_DELETE] = "DELETE FROM folders WHERE id = ?1",
    [S_FOLDER_DELETE_MSGS] = "DELETE FROM messages WHERE folder = ?1",
    [S_FOLDER_DIRS] = "SELECT name, dir FROM folders ORDER BY name",
    [S_MSGS] = "SELECT " MSG_COLUMNS " FROM messages WHERE folder = ?1 ORDER BY uid",
    [S_MSG_GET] = "SELECT " MSG_COLUMNS " FROM messages WHERE folder = ?1 AND uid = ?2",
    [S_MSG_ADD] = "INSERT INTO messages (folder, " MSG_COLUMNS ") VALUES"
		  " (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    [S_MSG_UPDATE] = "UPDATE messages SET uniq = ?3, name = ?4, subdir = ?5, info = ?6,"
		     " flags = ?7, keywords = ?8, size = ?9, fsize = ?10, mtime = ?11,"
		     " hash = ?12, modseq = ?13, ino = ?14, keywords_known = ?15"
		     " WHERE folder = ?1 AND uid = ?2",
    [S_MSG_DELETE] = "DELETE FROM messages WHERE folder = ?1 AND uid = ?2",
    [S_MSG_COUNT] = "SELECT count(*) FROM messages WHERE folder = ?1",
    [S_MSGS_SINCE] = "SELECT " MSG_COLUMNS " FROM messages WHERE folder = ?1 AND modseq > ?2"
		     " ORDER BY uid",
    [S_EXPUNGED_ADD] = "INSERT OR REPLACE INTO expunged (folder, uid, modseq) VALUES (?1, ?2, ?3)",
    [S_EXPUNGED_SINCE] = "SELECT uid FROM expunged WHERE folder = ?1 AND modseq > ?2 ORDER BY uid",
    [S_EXPUNGED_FLOOR] = "SELECT expunged_floor FROM folders WHERE id = ?1",
    [S_EXPUNGED_COUNT] = "SELECT count(*) FROM expunged WHERE folder = ?1",
    [S_EXPUNGED_NTH] = "SELECT modseq FROM expunged WHERE folder = ?1 ORDER BY modseq DESC"
		       " LIMIT 1 OFFSET ?2",
    [S_EXPUNGED_TRIM] = "DELETE FROM expunged WHERE folder = ?1 AND modseq <= ?2",
    [S_EXPUNGED_RAISE] =
	"UPDATE folders SET expunged_floor = max(expunged_floor, ?2) WHERE id = ?1",
    [S_FOLDER_DELETE_EXPUNGED] = "DELETE FROM expunged WHERE folder = ?1",
    [S_MSG_FILE] = "SELECT subdir, name, ino FROM messages WHERE folder = ?1 AND uid = ?2",
    [S_SUM_GET] = "SELECT rows_sum FROM folders WHERE id = ?1",
    [S_SUM_SET] = "UPDATE folders SET rows_sum = ?2 WHERE id = ?1",
    [S_MODSEQ_ADD] = "INSERT OR IGNORE INTO modseqs (folder, modseq) VALUES (?1, ?2)",
    [S_MODSEQ_TRIM] = "DELETE FROM modseqs WHERE folder = ?1 AND modseq < (SELECT modseq FROM"
		      " modseqs WHERE folder = ?1 ORDER BY modseq DESC LIMIT 1 OFFSET ?2)",
    /* Whether since is a modseq of the folder's, and the oldest one kept. */
    [S_MODSEQ_KNOWN] = "SELECT EXISTS (SELECT 1 FROM modseqs WHERE folder = ?1 AND modseq = ?2),"
		       " (SELECT min(modseq) FROM modseqs WHERE folder = ?1)",
    [S_FOLDER_DELETE_MODSEQS] = "DELETE FROM modseqs WHERE folder = ?1",
    [S_FOLDER_RENAME] = "UPDATE folders SET name = ?2, dir = ?3 WHERE id = ?1",
};

/* Tombstones kept per folder when trimmed (a run whose last sync is older
 * than that many expunges lists the folder in full), and how many deletions
 * pass between checks after a handle's first deletion in a folder. */
#define EXPUNGED_KEEP	     4096
#define EXPUNGED_CHECK_EVERY 1024
/* Modseqs remembered per folder (a run whose last sync is older than that
 * many changes lists the folder in full), and the random lower bits of each. */
#define MODSEQS_KEEP	   4096
#define MODSEQ_RANDOM_BITS 20

/* A folder's rows_sum as this transaction left it: written at commit, in
 * the same transaction as the rows, so the two never disagree. */
struct rows_sum {
	int64_t folder;
	uint64_t v[2];
	bool known;
};

struct mdindex {
	struct db *db;
	char *path; /* of the index file, for messages */
	int lockfd;
	bool in_tx;
	unsigned deletes; /* counts toward the next tombstone trim */
	int64_t *trimmed; /* folders whose tombstones this handle checked */
	size_t ntrimmed, trimmed_cap;
	struct rows_sum *sums; /* of the folders this transaction changed */
	size_t nsums, sums_cap;
	sqlite3_stmt *stmt[S_COUNT];
};

static int fail(struct mdindex *ix, int rc, const char *what, struct ferry_error *err)
{
	return db_fail(ix->db, rc, what, err);
}

static sqlite3_stmt *stmt(struct mdindex *ix, enum stmt s)
{
	sqlite3_stmt *st = ix->stmt[s];

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

/* Runs a statement that returns no rows. */
static int run(struct mdindex *ix, sqlite3_stmt *st, const char *what, struct ferry_error *err)
{
	return db_run(ix->db, st, what, err);
}

/* The roots this process locked. A sync's parallel workers are forked
 * from the process that holds the lock and inherit its descriptor: they
 * share that lock (flock belongs to the open file description) instead of
 * waiting for it, since they are the same run. */
static struct held_lock {
	dev_t dev;
	ino_t ino;
	int fd;
	pid_t owner;
} held[8];

static int share_inherited_lock(int fd)
{
	struct stat sb;

	if (fstat(fd, &sb) != 0)
		return -1;
	for (size_t i = 0; i < sizeof(held) / sizeof(held[0]); i++) {
		struct stat hs;

		if (held[i].owner == 0 || held[i].owner == getpid() || held[i].dev != sb.st_dev ||
		    held[i].ino != sb.st_ino)
			continue;
		if (fstat(held[i].fd, &hs) == 0 && hs.st_dev == sb.st_dev && hs.st_ino == sb.st_ino)
			return fcntl(held[i].fd, F_DUPFD_CLOEXEC, 0);
	}
	return -1;
}

static void remember_lock(int fd)
{
	struct stat sb;

	if (fstat(fd, &sb) != 0)
		return;
	for (size_t i = 0; i < sizeof(held) / sizeof(held[0]); i++)
		if (held[i].owner == 0 || held[i].owner != getpid()) {
			held[i] = (struct held_lock){sb.st_dev, sb.st_ino, fd, getpid()};
			return;
		}
}

static void forget_lock(int fd)
{
	for (size_t i = 0; i < sizeof(held) / sizeof(held[0]); i++)
		if (held[i].owner == getpid() && held[i].fd == fd)
			held[i] = (struct held_lock){0};
}

static int lock_root(struct mdindex *ix, const char *root, bool scratch, struct ferry_error *err)
{
	char path[PATH_MAX];
	int waited = 0, shared;

	if (snprintf(path, sizeof(path), "%s/" LOCK_FILE, root) >= (int)sizeof(path))
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: path too long", root);
	/* A dry run creates no lock file: where there is none, no ferry ever
	 * wrote the index, and a dry run writes nothing to guard. */
	ix->lockfd = open(path, O_RDWR | (scratch ? 0 : O_CREAT) | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (ix->lockfd < 0 && scratch && errno == ENOENT)
		return 0;
	if (ix->lockfd < 0)
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: %s", path, strerror(errno));
	if ((shared = share_inherited_lock(ix->lockfd)) >= 0) {
		close(ix->lockfd);
		ix->lockfd = shared;
		return 0;
	}
	/* Bounded: a channel sharing the root finishes in a while; a hung one
	 * must not make every later run wait for ever. */
	while (flock(ix->lockfd, LOCK_EX | LOCK_NB) != 0) {
		struct timespec pause = {0, LOCK_RETRY_MS * 1000000L};

		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK)
			return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: %s", path,
					       strerror(errno));
		if (waited >= LOCK_WAIT_MS)
			return ferry_error_set(err, FERRY_CAUSE_LOCKED,
					       "maildir %s is in use by another ferry", root);
		nanosleep(&pause, NULL);
		waited += LOCK_RETRY_MS;
	}
	remember_lock(ix->lockfd);
	return 0;
}

#ifdef FERRY_TEST_HOOKS
/* FERRY_CRASH_AT=migrate:<n> kills the process at step n of moving an old
 * index (1: its -wal folded in, 2: renamed), for the crash tests. */
static void migrate_crash_point(int step)
{
	const char *spec = getenv("FERRY_CRASH_AT");

	if (spec && strncmp(spec, "migrate:", 8) == 0 && atoi(spec + 8) == step)
		kill(getpid(), SIGKILL);
}
#else
static void migrate_crash_point(int step)
{
	(void)step;
}
#endif

static int fsync_dir(const char *dir, struct ferry_error *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = fd >= 0 ? fsync(fd) : -1;

	if (r != 0)
		ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: fsync: %s", dir, strerror(errno));
	if (fd >= 0)
		close(fd);
	return r;
}

/* Folds the old index's -wal, if any, into its file: the rename that moves
 * it takes one file, and a committed transaction left in the -wal must
 * not stay behind. SQLite removes the -wal at the last close. */
static int fold_wal(const char *old, struct ferry_error *err)
{
	char wal[PATH_MAX];
	struct stat sb;
	sqlite3 *db = NULL;
	int rc;

	if (snprintf(wal, sizeof(wal), "%s-wal", old) >= (int)sizeof(wal))
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: path too long", old);
	if (lstat(wal, &sb) != 0)
		return errno == ENOENT ? 0
				       : ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: %s", wal,
							 strerror(errno));
	rc = sqlite3_open_v2(old, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: folding in its -wal: %s", old,
				db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return -1;
	}
	if (sqlite3_close(db) != SQLITE_OK)
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: cannot close", old);
	if (lstat(wal, &sb) == 0 && sb.st_size != 0)
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: still holds changes", wal);
	return 0;
}

/* Removes what is left of the old directory: the lock, the seal (the file
 * it sealed moved), an empty -wal or -shm. A file ferry did not put there
 * keeps the directory, said once. */
static void remove_old_dir(const char *dir)
{
	static const char *const left[] = {"index.sqlite-wal", "index.sqlite-shm",
					   "index.sqlite.seal", "lock"};
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(left) / sizeof(left[0]); i++) {
		if (snprintf(path, sizeof(path), "%s/%s", dir, left[i]) >= (int)sizeof(path))
			return; /* a path that long cannot exist */
		if (unlink(path) != 0 && errno != ENOENT)
			log_warn("%s: %s", path, strerror(errno));
	}
	if (rmdir(dir) != 0 && errno != ENOENT)
		log_warn("%s: %s: left as it is (ferry's index is %s now)", dir, strerror(errno),
			 INDEX_FILE);
}

/* An index from before this version lives in <root>/.ferry/, which maildir++
 * readers show as a mailbox: it moves to <root>/INDEX_FILE by one rename(),
 * under the root's lock. Killed at any point, the next open finds the index
 * at one of the two places, never both, and goes on from there. */
static int move_old_index(const char *root, const char *path, struct ferry_error *err)
{
	char dir[PATH_MAX], old[PATH_MAX];
	struct stat sb;

	if (snprintf(dir, sizeof(dir), "%s" OLD_DIR, root) >= (int)sizeof(dir) ||
	    snprintf(old, sizeof(old), "%s/index.sqlite", dir) >= (int)sizeof(old))
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: path too long", root);
	if (lstat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
		return 0;
	if (lstat(old, &sb) != 0) {
		if (errno != ENOENT)
			return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: %s", old,
					       strerror(errno));
	} else if (lstat(path, &sb) == 0) {
		/* Not a move of ours, that leaves one: an older ferry ran since.
		 * The index here is the one this ferry kept up to date. */
		log_warn("%s: an index left by an older ferry: removed (%s is the index)", old,
			 path);
		if (unlink(old) != 0)
			return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: %s", old,
					       strerror(errno));
	} else {
		if (fold_wal(old, err) != 0)
			return -1;
		migrate_crash_point(1);
		if (rename(old, path) != 0)
			return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "moving %s to %s: %s",
					       old, path, strerror(errno));
		if (fsync_dir(root, err) != 0)
			return -1;
		migrate_crash_point(2);
	}
	remove_old_dir(dir);
	return 0;
}

/* A file that is not a ferry index is refused before anything writes to
 * it: an empty one is new, any other needs the application_id. */
static int check_ours(struct db *db, struct ferry_error *err)
{
	return db_check_app_id(db, INDEX_APPLICATION_ID, "not a ferry index", err);
}

static int open_db(struct mdindex *ix, bool scratch, struct ferry_error *err)
{
	if (db_open(ix->path, &index_kind, scratch ? DB_SCRATCH : DB_WRITE_NOFOLLOW, &ix->db,
		    err) != 0)
		return -1;
	for (int i = 0; i < S_COUNT; i++)
		if (db_prepare(ix->db, stmt_sql[i], true, &ix->stmt[i], err) != 0)
			return -1;
	return 0;
}

int mdindex_open(const char *root, bool scratch, struct mdindex **out, struct ferry_error *err)
{
	struct mdindex *ix = calloc(1, sizeof(*ix));

	if (!ix)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	ix->lockfd = -1;
	if (asprintf(&ix->path, "%s/" INDEX_FILE, root) < 0) {
		ix->path = NULL;
		free(ix);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	/* A dry run leaves an older ferry's index where it is: it reads the
	 * index a real run would have moved, or none. */
	if (lock_root(ix, root, scratch, err) != 0 ||
	    (!scratch && move_old_index(root, ix->path, err) != 0) ||
	    open_db(ix, scratch, err) != 0) {
		mdindex_close(ix);
		return -1;
	}
	*out = ix;
	return 0;
}

void mdindex_close(struct mdindex *ix)
{
	if (!ix)
		return;
	for (int i = 0; i < S_COUNT; i++)
		sqlite3_finalize(ix->stmt[i]);
	db_close(ix->db);
	if (ix->lockfd >= 0) {
		/* Releases the flock, unless a parent still holds it (a worker's
		 * copy goes without touching the lock). */
		forget_lock(ix->lockfd);
		close(ix->lockfd);
	}
	free(ix->trimmed);
	free(ix->sums);
	free(ix->path);
	free(ix);
}

int mdindex_begin(struct mdindex *ix, struct ferry_error *err)
{
	if (db_begin(ix->db, err) != 0)
		return -1;
	ix->in_tx = true;
	return 0;
}

static int sums_flush(struct mdindex *ix, struct ferry_error *err);

int mdindex_commit(struct mdindex *ix, struct ferry_error *err)
{
	if (sums_flush(ix, err) != 0 || db_commit(ix->db, err) != 0) {
		mdindex_rollback(ix);
		return -1;
	}
	ix->in_tx = false;
	return 0;
}

void mdindex_rollback(struct mdindex *ix)
{
	if (!ix->in_tx)
		return;
	db_rollback(ix->db);
	ix->in_tx = false;
	ix->nsums = 0;
}

int mdindex_file_hash(bool in_cur, const char *name, uint64_t ino, uint64_t out[2],
		      struct ferry_error *err)
{
	/* Fetched once: a rescan hashes every file, and an implicit fetch per
	 * digest (SHA256(), EVP_sha256()) costs more than the hash. */
	static EVP_MD *md_sha256;
	static EVP_MD_CTX *ctx;
	unsigned char buf[1 + NAME_MAX + 1 + 8], md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	size_t len = strnlen(name, NAME_MAX);

	buf[0] = in_cur ? 'c' : 'n';
	memcpy(buf + 1, name, len);
	buf[1 + len] = '\0';
	for (int i = 0; i < 8; i++)
		buf[2 + len + i] = (unsigned char)(ino >> (8 * i));
	if ((!md_sha256 && !(md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL))) ||
	    (!ctx && !(ctx = EVP_MD_CTX_new())) || EVP_DigestInit_ex2(ctx, md_sha256, NULL) != 1 ||
	    EVP_DigestUpdate(ctx, buf, 2 + len + 8) != 1 ||
	    EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen < 2 * sizeof(*out))
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO,
				       "cannot hash a file name (SHA-256)");
	memcpy(out, md, 2 * sizeof(*out));
	return 0;
}

/* The pending sum of a folder, read from its row the first time. */
static struct rows_sum *sum_slot(struct mdindex *ix, int64_t folder, struct ferry_error *err)
{
	sqlite3_stmt *st;
	struct rows_sum *v;
	int rc;

	for (size_t i = 0; i < ix->nsums; i++)
		if (ix->sums[i].folder == folder)
			return &ix->sums[i];
	v = grow_array(ix->sums, &ix->sums_cap, ix->nsums + 1, sizeof(*v));
	if (!v) {
		ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		return NULL;
	}
	ix->sums = v;
	v = &ix->sums[ix->nsums];
	*v = (struct rows_sum){.folder = folder};
	st = stmt(ix, S_SUM_GET);
	if ((rc = sqlite3_bind_int64(st, 1, folder)) != SQLITE_OK) {
		fail(ix, rc, "reading a folder's sum", err);
		return NULL;
	}
	if ((rc = sqlite3_step(st)) == SQLITE_ROW &&
	    sqlite3_column_bytes(st, 0) == (int)sizeof(v->v)) {
		memcpy(v->v, sqlite3_column_blob(st, 0), sizeof(v->v));
		v->known = true;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		fail(ix, rc, "reading a folder's sum", err);
		return NULL;
	}
	ix->nsums++;
	return v;
}

static int sums_flush(struct mdindex *ix, struct ferry_error *err)
{
	for (size_t i = 0; i < ix->nsums; i++) {
		sqlite3_stmt *st = stmt(ix, S_SUM_SET);
		int rc = sqlite3_bind_int64(st, 1, ix->sums[i].folder);

		if (rc == SQLITE_OK)
			rc = ix->sums[i].known
				 ? sqlite3_bind_blob(st, 2, ix->sums[i].v, sizeof(ix->sums[i].v),
						     SQLITE_TRANSIENT)
				 : sqlite3_bind_null(st, 2);
		if (rc != SQLITE_OK)
			return fail(ix, rc, "saving a folder's sum", err);
		if (run(ix, st, "saving a folder's sum", err) != 0)
			return -1;
	}
	ix->nsums = 0;
	return 0;
}

/* Outside a transaction a sum is written at once, and never left pending. */
static int sums_write_through(struct mdindex *ix, struct ferry_error *err)
{
	int r = sums_flush(ix, err);

	ix->nsums = 0;
	return r;
}

/* Adds (sign 1) or takes away (-1) one file's hash; written through at
 * once outside a transaction. */
static int sum_change(struct mdindex *ix, int64_t folder, bool in_cur, const char *name,
		      uint64_t ino, int sign, struct ferry_error *err)
{
	struct rows_sum *s = sum_slot(ix, folder, err);
	uint64_t h[2];

	if (!s)
		return -1;
	if (mdindex_file_hash(in_cur, name, ino, h, err) != 0)
		return -1;
	for (int i = 0; i < 2; i++)
		s->v[i] = sign > 0 ? s->v[i] + h[i] : s->v[i] - h[i];
	return ix->in_tx ? 0 : sums_write_through(ix, err);
}

/* Takes the hash of uid's file as the index has it out of the sum; *found
 * tells whether the index has that uid at all. */
static int sum_remove_row(struct mdindex *ix, int64_t folder, uint32_t uid, bool *found,
			  struct ferry_error *err)
{
	sqlite3_stmt *st = stmt(ix, S_MSG_FILE);
	const unsigned char *sub, *name;
	int rc, r = 0;

	*found = false;
	if ((rc = sqlite3_bind_int64(st, 1, folder)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 2, uid)) != SQLITE_OK)
		return fail(ix, rc, "reading a message", err);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && (sub = sqlite3_column_text(st, 0)) &&
	    (name = sqlite3_column_text(st, 1))) {
		*found = true;
		r = sum_change(ix, folder, strcmp((const char *)sub, "cur") == 0,
			       (const char *)name, (uint64_t)sqlite3_column_int64(st, 2), -1, err);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return fail(ix, rc, "reading a message", err);
	return r;
}

int mdindex_rows_sum(struct mdindex *ix, int64_t folder, bool *known, uint64_t v[2],
		     struct ferry_error *err)
{
	bool pending = false;
	struct rows_sum *s;

	for (size_t i = 0; i < ix->nsums; i++)
		pending |= ix->sums[i].folder == folder;
	/* A slot read outside a transaction would go stale: none is kept. */
	if (!(s = sum_slot(ix, folder, err)))
		return -1;
	*known = s->known;
	memcpy(v, s->v, sizeof(s->v));
	if (!pending && !ix->in_tx)
		ix->nsums--;
	return 0;
}

int mdindex_rows_sum_set(struct mdindex *ix, int64_t folder, const uint64_t v[2],
			 struct ferry_error *err)
{
	struct rows_sum *s = sum_slot(ix, folder, err);

	if (!s)
		return -1;
	memcpy(s->v, v, sizeof(s->v));
	s->known = true;
	return ix->in_tx ? 0 : sums_write_through(ix, err);
}

static char *column_strdup(sqlite3_stmt *st, int col, bool *oom)
{
	const unsigned char *v = sqlite3_column_text(st, col);
	char *s;

	if (!v)
		return NULL;
	s = strdup((const char *)v);
	if (!s)
		*oom = true;
	return s;
}

void mdindex_folder_clear(struct mdindex_folder *f)
{
	free(f->dir);
	*f = (struct mdindex_folder){0};
}

int mdindex_folder_get(struct mdindex *ix, const char *name, struct mdindex_folder *out,
		       struct ferry_error *err)
{
	sqlite3_stmt *st = stmt(ix, S_FOLDER_GET);
	bool oom = false;
	int rc;

	*out = (struct mdindex_folder){0};
	if ((rc = sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC)) != SQLITE_OK)
		return fail(ix, rc, "folder lookup", err);
	if ((rc = db_step_row(ix->db, st, "folder lookup", err)) <= 0)
		return rc;
	out->id = sqlite3_column_int64(st, 0);
	out->dir = column_strdup(st, 1, &oom);
	out->uidvalidity = (uint32_t)sqlite3_column_int64(st, 2);
	out->uidnext = (uint32_t)sqlite3_column_int64(st, 3);
	out->modseq = (uint64_t)sqlite3_column_int64(st, 4);
	out->cur_mtime = sqlite3_column_int64(st, 5);
	out->new_mtime = sqlite3_column_int64(st, 6);
	out->scanned_at = sqlite3_column_int64(st, 7);
	sqlite3_reset(st);
	if (oom || !out->dir) {
		mdindex_folder_clear(out);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	return 1;
}

static int random_uidvalidity(uint32_t *out, struct ferry_error *err)
{
	uint32_t v = 0;

	/* Random rather than the clock: a rebuilt index must never reuse the
	 * UIDVALIDITY of the one it replaces, even within the same second. */
	while (v == 0) {
		ssize_t n = getrandom(&v, sizeof(v), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(v))
			return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "getrandom: %s",
					       n < 0 ? strerror(errno) : "short read");
	}
	*out = v;
	return 0;
}

int mdindex_folder_add(struct mdindex *ix, const char *name, const char *dir,
		       struct mdindex_folder *out, struct ferry_error *err)
{
	sqlite3_stmt *st = stmt(ix, S_FOLDER_ADD);
	uint32_t uidvalidity = 0;
	int rc;

	*out = (struct mdindex_folder){0};
	if (random_uidvalidity(&uidvalidity, err) != 0)
		return -1;
	if ((rc = sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(st, 2, dir, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 3, uidvalidity)) != SQLITE_OK)
		return fail(ix, rc, "adding a folder", err);
	if (run(ix, st, "adding a folder", err) != 0)
		return -1;
	if (mdindex_folder_get(ix, name, out, err) != 1)
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO,
				       "%s: folder %s vanished from the index", ix->path, name);
	/* Its first modseq is a point of its history too (rule 16). */
	if (mdindex_folder_save(ix, out, err) != 0) {
		mdindex_folder_clear(out);
		return -1;
	}
	return 0;
}

int mdindex_folder_save(struct mdindex *ix, const struct mdindex_folder *f, struct ferry_error *err)
{
	sqlite3_stmt *st = stmt(ix, S_FOLDER_SAVE);
	int rc;

	if ((rc = sqlite3_bind_int64(st, 1, f->id)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(st, 2, f->dir, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 3, f->uidnext)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 4, (int64_t)f->modseq)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 5, f->cur_mtime)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 6, f->new_mtime)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 7, f->scanned_at)) != SQLITE_OK)
		return fail(ix, rc, "saving a folder", err);
	if (run(ix, st, "saving a folder", err) != 0)
		return -1;
	for (int k = 0; k < 2; k++) {
		st = stmt(ix, k == 0 ? S_MODSEQ_ADD : S_MODSEQ_TRIM);
		if ((rc = sqlite3_bind_int64(st, 1, f->id)) != SQLITE_OK ||
		    (rc = sqlite3_bind_int64(st, 2, k == 0 ? (int64_t)f->modseq : MODSEQS_KEEP)) !=
			SQLITE_OK)
			return fail(ix, rc, "saving a folder's modseq", err);
		if (run(ix, st, "saving a folder's modseq", err) != 0)
			return -1;
		if (k == 0 && sqlite3_changes(db_handle(ix->db)) == 0)
			break; /* a modseq it had: nothing to trim */
	}
	return 0;
}

uint64_t mdindex_modseq_after(uint64_t modseq)
{
	uint32_t r = 0;

	/* Never fails: where the kernel cannot give random bytes at once, the
	 * clock and the pid still make two copies' draws differ. */
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
		struct timespec ts = {0, 0};

		if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
			ts.tv_nsec = 0;
		r = (uint32_t)ts.tv_nsec ^ ((uint32_t)getpid() << 12);
	}
	return (((modseq >> MODSEQ_RANDOM_BITS) + 1) << MODSEQ_RANDOM_BITS) |
	       (r & ((1u << MODSEQ_RANDOM_BITS) - 1));
}

int mdindex_folder_delete(struct mdindex *ix, int64_t id, struct ferry_error *err)
{
	sqlite3_stmt *st;
	int rc;

	/* Its pending sum goes too: SQLite may give the id to the next folder. */
	for (size_t i = 0; i < ix->nsums; i++)
		if (ix->sums[i].folder == id)
			ix->sums[i] = ix->sums[--ix->nsums];
	for (int k = 0; k < 3; k++) {
		static const enum stmt del[3] = {S_FOLDER_DELETE_MSGS, S_FOLDER_DELETE_EXPUNGED,
						 S_FOLDER_DELETE_MODSEQS};

		st = stmt(ix, del[k]);
		if ((rc = sqlite3_bind_int64(st, 1, id)) != SQLITE_OK)
			return fail(ix, rc, "deleting a folder", err);
		if (run(ix, st, "deleting a folder", err) != 0)
			return -1;
	}
	st = stmt(ix, S_FOLDER_DELETE);
	if ((rc = sqlite3_bind_int64(st, 1, id)) != SQLITE_OK)
		return fail(ix, rc, "deleting a folder", err);
	return run(ix, st, "deleting a folder", err);
}

int mdindex_folder_rename(struct mdindex *ix, int64_t id, const char *name, const char *dir,
			  struct ferry_error *err)
{
	sqlite3_stmt *st = stmt(ix, S_FOLDER_RENAME);
	int rc;

	if ((rc = sqlite3_bind_int64(st, 1, id)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(st, 3, dir, -1, SQLITE_TRANSIENT)) != SQLITE_OK)
		return fail(ix, rc, "renaming a folder", err);
	return run(ix, st, "renaming a folder", err);
}

void mdindex_names_free(char **names, char **dirs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(names[i]);
		free(dirs[i]);
	}
	free(names);
	free(dirs);
}

int mdindex_folder_dirs(struct mdindex *ix, char ***names, char ***dirs, size_t *n,
			struct ferry_error *err)
{
	sqlite3_stmt *st = stmt(ix, S_FOLDER_DIRS);
	char **vn = NULL, **vd = NULL;
	size_t count = 0, capn = 0, capd = 0;
	bool oom = false;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char **a = grow_array(vn, &capn, count + 1, sizeof(*a));

		if (!a) {
			oom = true;
			break;
		}
		vn = a;
		if (!(a = grow_array(vd, &capd, count + 1, sizeof(*a)))) {
			oom = true;
			break;
		}
		vd = a;
		vn[count] = column_strdup(st, 0, &oom);
		vd[count] = column_strdup(st, 1, &oom);
		count++;
		if (oom)
			break;
	}
	sqlite3_reset(st);
	if (oom || (rc != SQLITE_DONE && rc != SQLITE_ROW)) {
		mdindex_names_free(vn, vd, count);
		if (oom)
			return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		return fail(ix, rc, "listing folders", err);
	}
	*names = vn;
	*dirs = vd;
	*n = count;
	return 0;
}

void mdindex_msg_clear(struct mdindex_msg *m)
{
	free(m->uniq);
	free(m->name);
	free(m->info);
	free(m->keywords);
	*m = (struct mdindex_msg){0};
}

void mdindex_msgs_free(struct mdindex_msg *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		mdindex_msg_clear(&v[i]);
	free(v);
}

/* Reads the MSG_COLUMNS of the current row; -1 on allocation failure. */
static int read_msg(sqlite3_stmt *st, void *elem)
{
	struct mdindex_msg *m = elem;
	const unsigned char *subdir;
	bool oom = false;
	const void *hash;

	*m = (struct mdindex_msg){0};
	m->uid = (uint32_t)sqlite3_column_int64(st, 0);
	m->uniq = column_strdup(st, 1, &oom);
	m->name = column_strdup(st, 2, &oom);
	subdir = sqlite3_column_text(st, 3);
	m->in_cur = subdir && strcmp((const char *)subdir, "cur") == 0;
	m->info = column_strdup(st, 4, &oom);
	m->flags = (unsigned)sqlite3_column_int64(st, 5);
	m->keywords = column_strdup(st, 6, &oom);
	m->size = (uint64_t)sqlite3_column_int64(st, 7);
	m->fsize = sqlite3_column_int64(st, 8);
	m->mtime = sqlite3_column_int64(st, 9);
	hash = sqlite3_column_blob(st, 10);
	if (hash && sqlite3_column_bytes(st, 10) == (int)sizeof(m->id.hash)) {
		memcpy(m->id.hash, hash, sizeof(m->id.hash));
		m->id.known = true;
	}
	m->modseq = (uint64_t)sqlite3_column_int64(st, 11);
	m->ino = (uint64_t)sqlite3_column_int64(st, 12);
	m->keywords_known = sqlite3_column_int64(st, 13) != 0;
	if (oom || !m->uniq || !m->name || !m->info) {
		mdindex_msg_clear(m);
		return -1;
	}
	return 0;
}

/* The rows of statement s (S_MSGS, or S_MSGS_SINCE with since). */
static int msgs_where(struct mdindex *ix, enum stmt s, int64_t folder, uint64_t since,
		      struct mdindex_msg **out, size_t *n, struct ferry_error *err)
{
	sqlite3_stmt *st = stmt(ix, s);
	struct mdindex_msg *v = NULL;
	size_t count = 0, cap = 0;
	int rc;

	if ((rc = sqlite3_bind_int64(st, 1, folder)) != SQLITE_OK ||
	    (s == S_MSGS_SINCE && (rc = sqlite3_bind_int64(st, 2, (int64_t)since)) != SQLITE_OK))
		return fail(ix, rc, "listing messages", err);
	if (db_rows(ix->db, st, &v, &count, &cap, sizeof(*v), read_msg, "listing messages", err) !=
	    0) {
		mdindex_msgs_free(v, count);
		return -1;
	}
	*out = v;
	*n = count;
	return 0;
}

int mdindex_msgs(struct mdindex *ix, int64_t folder, struct mdindex_msg **out, size_t *n,
		 struct ferry_error *err)
{
	return msgs_where(ix, S_MSGS, folder, 0, out, n, err);
}

int mdindex_msg_get(struct mdindex *ix, int64_t folder, uint32_t uid, struct mdindex_msg *out,
		    struct ferry_error *err)
{
	sqlite3_stmt *st = stmt(ix, S_MSG_GET);
	int rc;

	*out = (struct mdindex_msg){0};
	if ((rc = sqlite3_bind_int64(st, 1, folder)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 2, uid)) != SQLITE_OK)
		return fail(ix, rc, "reading a message", err);
	if ((rc = db_step_row(ix->db, st, "reading a message", err)) <= 0)
		return rc;
	rc = read_msg(st, out);
	sqlite3_reset(st);
	if (rc != 0)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	return 1;
}

/* Binds ?1 folder and ?2.. the MSG_COLUMNS of m, in their order. */
static int bind_msg(sqlite3_stmt *st, int64_t folder, const struct mdindex_msg *m)
{
	int rc;

	if ((rc = sqlite3_bind_int64(st, 1, folder)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 2, m->uid)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(st, 3, m->uniq, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(st, 4, m->name, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(st, 5, m->in_cur ? "cur" : "new", -1, SQLITE_STATIC)) !=
		SQLITE_OK ||
	    (rc = sqlite3_bind_text(st, 6, m->info ? m->info : "", -1, SQLITE_STATIC)) !=
		SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 7, m->flags)) != SQLITE_OK ||
	    (rc = m->keywords ? sqlite3_bind_text(st, 8, m->keywords, -1, SQLITE_STATIC)
			      : sqlite3_bind_null(st, 8)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 9, (int64_t)m->size)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 10, m->fsize)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 11, m->mtime)) != SQLITE_OK ||
	    (rc = m->id.known
		      ? sqlite3_bind_blob(st, 12, m->id.hash, sizeof(m->id.hash), SQLITE_STATIC)
		      : sqlite3_bind_null(st, 12)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 13, (int64_t)m->modseq)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 14, (int64_t)m->ino)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int(st, 15, m->keywords_known)) != SQLITE_OK)
		return rc;
	return SQLITE_OK;
}

int mdindex_msg_add(struct mdindex *ix, int64_t folder, const struct mdindex_msg *m,
		    struct ferry_error *err)
{
	sqlite3_stmt *st = stmt(ix, S_MSG_ADD);
	int rc = bind_msg(st, folder, m);

	if (rc != SQLITE_OK)
		return fail(ix, rc, "adding a message", err);
	if (run(ix, st, "adding a message", err) != 0)
		return -1;
	return sum_change(ix, folder, m->in_cur, m->name, m->ino, 1, err);
}

int mdindex_msg_update(struct mdindex *ix, int64_t folder, const struct mdindex_msg *m,
		       struct ferry_error *err)
{
	sqlite3_stmt *st;
	bool found;
	int rc;

	if (sum_remove_row(ix, folder, m->uid, &found, err) != 0)
		return -1;
	st = stmt(ix, S_MSG_UPDATE);
	if ((rc = bind_msg(st, folder, m)) != SQLITE_OK)
		return fail(ix, rc, "updating a message", err);
	if (run(ix, st, "updating a message", err) != 0)
		return -1;
	return found ? sum_change(ix, folder, m->in_cur, m->name, m->ino, 1, err) : 0;
}

/* The integer statement s answers for folder (and arg, its ?2 if it has
 * one): 1 with *out, 0 when it returns no row, -1 on error. */
static int folder_int(struct mdindex *ix, enum stmt s, int64_t folder, int64_t arg, int64_t *out,
		      const char *what, struct ferry_error *err)
{
	sqlite3_stmt *st = stmt(ix, s);
	int rc;

	if ((rc = sqlite3_bind_int64(st, 1, folder)) != SQLITE_OK ||
	    (sqlite3_bind_parameter_count(st) > 1 &&
	     (rc = sqlite3_bind_int64(st, 2, arg)) != SQLITE_OK))
		return fail(ix, rc, what, err);
	if ((rc = db_step_row(ix->db, st, what, err)) == 1) {
		*out = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
	}
	return rc;
}

/* Keeps a folder's newest EXPUNGED_KEEP tombstones once it has twice as
 * many, and raises its floor to the newest modseq trimmed. */
static int trim_expunged(struct mdindex *ix, int64_t folder, struct ferry_error *err)
{
	const char *what = "trimming tombstones";
	int64_t count = 0, cut = 0;
	sqlite3_stmt *st;
	int rc;

	if (folder_int(ix, S_EXPUNGED_COUNT, folder, 0, &count, what, err) < 0)
		return -1;
	if (count <= 2 * EXPUNGED_KEEP)
		return 0;
	if (folder_int(ix, S_EXPUNGED_NTH, folder, EXPUNGED_KEEP, &cut, what, err) < 0)
		return -1;
	for (int k = 0; k < 2; k++) {
		st = stmt(ix, k == 0 ? S_EXPUNGED_TRIM : S_EXPUNGED_RAISE);
		if ((rc = sqlite3_bind_int64(st, 1, folder)) != SQLITE_OK ||
		    (rc = sqlite3_bind_int64(st, 2, cut)) != SQLITE_OK)
			return fail(ix, rc, what, err);
		if (run(ix, st, what, err) != 0)
			return -1;
	}
	return 0;
}

int mdindex_msg_delete(struct mdindex *ix, int64_t folder, uint32_t uid, uint64_t modseq,
		       struct ferry_error *err)
{
	sqlite3_stmt *st;
	bool found;
	int rc;

	if (sum_remove_row(ix, folder, uid, &found, err) != 0)
		return -1;
	st = stmt(ix, S_MSG_DELETE);
	if ((rc = sqlite3_bind_int64(st, 1, folder)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 2, uid)) != SQLITE_OK)
		return fail(ix, rc, "deleting a message", err);
	if (run(ix, st, "deleting a message", err) != 0)
		return -1;
	st = stmt(ix, S_EXPUNGED_ADD);
	if ((rc = sqlite3_bind_int64(st, 1, folder)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 2, uid)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 3, (int64_t)modseq)) != SQLITE_OK)
		return fail(ix, rc, "deleting a message", err);
	if (run(ix, st, "deleting a message", err) != 0)
		return -1;
	/* Each folder once per handle, as a run may delete only a few, and
	 * then every so many deletions. */
	for (size_t i = 0; i < ix->ntrimmed; i++)
		if (ix->trimmed[i] == folder)
			return ++ix->deletes % EXPUNGED_CHECK_EVERY
				   ? 0
				   : trim_expunged(ix, folder, err);
	int64_t *v = grow_array(ix->trimmed, &ix->trimmed_cap, ix->ntrimmed + 1, sizeof(*v));

	if (!v)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	ix->trimmed = v;
	v[ix->ntrimmed++] = folder;
	return trim_expunged(ix, folder, err);
}

/* 0 when the folder was at modseq since; 1 when that is too old to tell; 2
 * when it never was (rule 16); -1 on error. */
static int since_known(struct mdindex *ix, int64_t folder, uint64_t since, struct ferry_error *err)
{
	sqlite3_stmt *st = stmt(ix, S_MODSEQ_KNOWN);
	bool known = false, kept = false;
	int64_t oldest = 0;
	int rc;

	if ((rc = sqlite3_bind_int64(st, 1, folder)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 2, (int64_t)since)) != SQLITE_OK)
		return fail(ix, rc, "reading changes", err);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		known = sqlite3_column_int64(st, 0) != 0;
		kept = sqlite3_column_type(st, 1) != SQLITE_NULL;
		oldest = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return fail(ix, rc, "reading changes", err);
	if (known)
		return 0;
	return !kept || (int64_t)since < oldest ? 1 : 2;
}

static int read_uid(sqlite3_stmt *st, void *elem)
{
	*(uint32_t *)elem = (uint32_t)sqlite3_column_int64(st, 0);
	return 0;
}

int mdindex_changes(struct mdindex *ix, int64_t folder, uint64_t since, struct mdindex_msg **msgs,
		    size_t *nmsgs, uint32_t **gone, size_t *ngone, struct ferry_error *err)
{
	sqlite3_stmt *st;
	size_t cap = 0;
	int64_t floor = INT64_MAX;
	int rc;

	*msgs = NULL;
	*gone = NULL;
	*nmsgs = *ngone = 0;
	rc = folder_int(ix, S_EXPUNGED_FLOOR, folder, 0, &floor, "reading changes", err);
	if (rc < 0)
		return -1;
	if (rc == 0 || since > INT64_MAX || (int64_t)since < floor)
		return 1;
	if ((rc = since_known(ix, folder, since, err)) != 0)
		return rc;
	st = stmt(ix, S_EXPUNGED_SINCE);
	if ((rc = sqlite3_bind_int64(st, 1, folder)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 2, (int64_t)since)) != SQLITE_OK)
		return fail(ix, rc, "reading changes", err);
	if (db_rows(ix->db, st, gone, ngone, &cap, sizeof(**gone), read_uid, "reading changes",
		    err) != 0 ||
	    msgs_where(ix, S_MSGS_SINCE, folder, since, msgs, nmsgs, err) != 0) {
		free(*gone);
		*gone = NULL;
		*ngone = 0;
		return -1;
	}
	return 0;
}

int mdindex_msg_count(struct mdindex *ix, int64_t folder, uint32_t *n, struct ferry_error *err)
{
	int64_t count = 0;

	if (folder_int(ix, S_MSG_COUNT, folder, 0, &count, "counting messages", err) < 0)
		return -1;
	*n = (uint32_t)count;
	return 0;
}
