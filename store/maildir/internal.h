/* What the files of the Maildir driver share; nothing outside
 * store/maildir/ includes this. The driver is split by job:
 *
 *   maildir.c   the driver table, open/close, select and the message ops
 *   folder.c    the folder tree: listing, creating, deleting, opening a folder
 *   scan.c      reading a folder into the index; finding a renamed file again
 *   deliver.c   adding a message through tmp/
 *
 * Every directory below the root is opened relative to the one above it with
 * O_NOFOLLOW, so no symlink, whatever its origin, leads ferry out of the root. */
#ifndef FERRY_MAILDIR_INTERNAL_H
#define FERRY_MAILDIR_INTERNAL_H

#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "store/maildir/index.h"
#include "store/store.h"

enum { SUB_NEW = 0, SUB_CUR = 1 };

/* Verbatim trees are walked this many levels deep, no deeper: below is a
 * loop of bind mounts or a mistake, not mail. The engine learns it from
 * store.max_depth and neither creates nor removes a deeper folder. */
#define MAILDIR_MAX_DEPTH 64

/* An open folder: its directories and its index row. */
struct md_folder {
	char *name; /* canonical; NULL when no folder is open */
	int fd;	    /* the folder directory */
	int sub[2]; /* new/ and cur/, by SUB_NEW and SUB_CUR */
	int tmp;    /* tmp/, opened when first needed; -1 until then */
	struct mdindex_folder ix;
};

struct maildir_store {
	struct store base;
	const char *root; /* conf->maildir.path */
	enum maildir_layout layout;
	int rootfd;		  /* -1 until the index is open */
	struct mdindex *index;	  /* opened by the first operation that needs it */
	struct md_folder sel;	  /* the selected folder */
	unsigned long generation; /* bumped by each select; a delivery checks it */
	char host[256];		  /* gethostname(), for unique names */
	struct md_notify *notify; /* `ferry watch`'s inotify (notify.c); NULL until waited on */

	/* sel's counters when the open transaction began, restored if it rolls
	 * back, and whether it changed anything (one modseq bump per change). */
	struct {
		uint32_t uidnext;
		uint64_t modseq;
		int64_t cur_mtime, new_mtime, scanned_at;
		bool changed;
		bool foreign; /* it records what other programs did (a scan, a refind) */
	} tx;

	/* Per folder, a stretch of modseqs [from, to] in which every change was
	 * made by this handle's own operations, begun when a select saw the
	 * folder at `from` (own_state). */
	struct own_span {
		int64_t folder;
		uint64_t from, to;
	} * own;
	size_t nown, own_cap;

	/* Deliveries since the last add_flush: one fsync per directory and one
	 * short index transaction for the batch, not per message. The rows wait
	 * in memory: a transaction held open while the bodies arrive would keep
	 * parallel workers waiting on the index for the whole batch. */
	struct {
		bool open;		  /* a batch is begun (its counters in tx) */
		bool dirty[2];		  /* new/, cur/ got a file not yet fsynced */
		size_t n;		  /* add_commits in the batch, = rows */
		struct mdindex_msg *rows; /* their index rows, owned */
		size_t cap;
	} add;
};

/* ---- maildir.c ---- */

/* Opens the index (and the root's fd) if not done yet. With create, a
 * missing root is created first. Returns 0, 1 when the root does not exist
 * (create false), or -1 with err set. */
int maildir_ready(struct maildir_store *st, bool create, struct ferry_error *err);

/* One index transaction per scan or op call on the selected folder. change()
 * marks the transaction as changing the folder and returns the modseq to give
 * what changed: the folder's modseq is bumped once per transaction. */
int maildir_tx_begin(struct maildir_store *st, struct ferry_error *err);
/* Notes sel's counters for a rollback without opening a transaction: a
 * batch of deliveries counts its uids and modseq in memory (deliver.c). */
void maildir_tx_mark(struct maildir_store *st);
/* Forgets a batch's rows (deliver.c); its files stay for the next scan. */
void maildir_batch_drop(struct maildir_store *st);
/* Settles the open batch of deliveries: directories fsynced, index
 * committed. Every other operation calls it first. */
int maildir_settle_adds(struct maildir_store *st, struct ferry_error *err);
uint64_t maildir_tx_change(struct maildir_store *st);
/* Takes the next uid from UIDNEXT; -1 when the uid space is exhausted. */
int maildir_tx_uid(struct maildir_store *st, uint32_t *uid, struct ferry_error *err);
int maildir_tx_commit(struct maildir_store *st, struct ferry_error *err);
/* Folder's modseq went from before to after by this handle's own doing
 * (committed): the folder's own stretch goes on if it ended at before. */
void maildir_own_change(struct maildir_store *st, int64_t folder, uint64_t before, uint64_t after);
void maildir_tx_abort(struct maildir_store *st);

/* ---- folder.c ---- */

int maildir_list_folders(struct store *store, struct store_folder **out, size_t *n,
			 struct ferry_error *err);
int maildir_create_folder(struct store *store, const char *name, struct ferry_error *err);
int maildir_delete_folder(struct store *store, const char *name, struct ferry_error *err);
int maildir_rename_folder(struct store *store, const char *from, const char *to,
			  struct ferry_error *err);

/* Opens the existing folder name (canonical, safe) into *f, with its index
 * row (added on first sight). A folder is a directory with cur/ and new/. */
int maildir_folder_open(struct maildir_store *st, const char *name, struct md_folder *f,
			struct ferry_error *err);
void maildir_folder_close(struct md_folder *f);
/* Opens tmp/ of f, creating it if missing. */
int maildir_folder_tmp(struct md_folder *f, struct ferry_error *err);
/* A directory stream on a descriptor of its own, so that closedir() leaves
 * fd open; NULL with errno on failure. */
DIR *maildir_dir_stream(int fd);

/* ---- scan.c ---- */

/* Reads cur/ and new/ of the selected folder into the index, unless both
 * mtimes are unchanged since the last scan and were at least 1 s old then
 * (DESIGN rule 4). */
int maildir_scan(struct maildir_store *st, struct ferry_error *err);
/* Removes ferry's stray deliveries from tmp/: files older than 36 hours. */
void maildir_clean_tmp(struct maildir_store *st);
/* Reads the file name in dirfd once: its identity, CRLF size and stat.
 * Returns 0, or -1 with errno set (ENOENT when it is gone, EINVAL when it is
 * not a regular file). */
int maildir_read_file(int dirfd, const char *name, struct msg_id *id, uint64_t *size,
		      struct stat *sb);
/* Another program renamed (or deleted) m's file: looks for its unique part
 * in cur/ and new/ of the selected folder. Found: updates m and its index row
 * (inside the open transaction) and returns 1. Gone: returns 0. */
int maildir_refind(struct maildir_store *st, struct mdindex_msg *m, struct ferry_error *err);

/* ---- deliver.c ---- */

int maildir_add_begin(struct store *store, struct store_new_msg **out, struct ferry_error *err);
int maildir_add_write(struct store_new_msg *m, const char *buf, size_t len,
		      struct ferry_error *err);
int maildir_add_commit(struct store_new_msg *m, unsigned flags, const char *keywords, int64_t date,
		       uint32_t *uid, struct ferry_error *err);
void maildir_add_abort(struct store_new_msg *m);
/* Replacing a message in place (store.h's replace_begin, replace_commit). */
int maildir_replace_begin(struct store *store, uint32_t uid, struct store_new_msg **out,
			  struct ferry_error *err);
int maildir_replace_commit(struct store_new_msg *m, struct msg_id *id, uint64_t *size,
			   struct ferry_error *err);
int maildir_add_flush(struct store *store,
		      void (*done)(void *ctx, size_t seq, uint32_t uid,
				   const struct msg_id *stored),
		      void (*refused)(void *ctx, size_t seq, const char *why), void *ctx,
		      struct ferry_error *err);

#endif
