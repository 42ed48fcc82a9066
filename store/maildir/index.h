/* The Maildir index, <root>/..ferry-index.sqlite: what makes a Maildir look
 * like an IMAP folder (DESIGN "The shape", rules 4, 14, 15).
 *
 * Per folder it keeps the directory the name came from, UIDVALIDITY,
 * UIDNEXT, a modseq and the cur/ and new/ mtimes read before the last scan;
 * per message a stable uid, where the file is, its flags and other letters,
 * its keywords (which live only here), CRLF size, mtime and header hash. It
 * is a cache of the directory: deleting the file makes the next run rebuild it
 * with fresh UIDVALIDITYs, and the engine matches messages again by identity.
 *
 * The index also holds an exclusive flock on <root>/..ferry-lock from open to
 * close: several channels may share a root, one at a time. Both are plain
 * files of the root, no directory, so that no reader of the Maildir shows
 * them as a mailbox; an index of an older ferry in <root>/.ferry/ moves
 * there on the first open. */
#ifndef FERRY_MAILDIR_INDEX_H
#define FERRY_MAILDIR_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/error.h"
#include "store/store.h"

struct mdindex;

struct mdindex_folder {
	int64_t id;
	char *dir; /* relative to the root, "" for the root itself; owned */
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t modseq;
	int64_t cur_mtime, new_mtime; /* ns, read before the last scan; -1: never scanned */
	int64_t scanned_at;	      /* ns, the clock before the last scan; 0: never */
};

struct mdindex_msg {
	uint32_t uid;
	char *uniq;	/* unique part: the file name up to ":2,"; owned */
	char *name;	/* the whole file name as last seen; owned */
	bool in_cur;	/* in cur/ (else new/) */
	char *info;	/* info letters ferry does not manage, sorted; owned, never NULL */
	unsigned flags; /* enum msg_flag bits */
	char *keywords; /* normalised keyword set, NULL for none; owned */
	uint64_t size;	/* CRLF size */
	int64_t fsize;	/* size of the file on disk */
	int64_t mtime;	/* ns; the message's internal date */
	struct msg_id id;
	uint64_t modseq; /* the folder's modseq of the last change to this message */
	uint64_t ino;	 /* inode number as readdir or fstat saw it; 0: unknown */
	/* false: the file came from another program (a scan found it), and a
	 * file cannot carry keywords, so keywords says nothing (rule 15) */
	bool keywords_known;
};

/* Opens the index of the Maildir at root (which must exist): takes the lock
 * (waiting up to 30 s, then "maildir ROOT is in use by another ferry",
 * FERRY_LOCKED), moves an index out of an older ferry's .ferry/, creates the
 * database (0600) if missing, and creates or migrates the schema. A file that is not a ferry index
 * or fails its integrity check is an error naming it and saying it may be deleted. Close with
 * mdindex_close. */
/* With scratch (--dry-run), the index is a copy in memory of the file and
 * nothing is written into the Maildir: no file created, moved or sealed. */
int mdindex_open(const char *root, bool scratch, struct mdindex **out, struct ferry_error *err);
/* Closes the database and releases the lock. NULL is fine. */
void mdindex_close(struct mdindex *ix);

/* One write transaction per scan or op call. rollback is safe to call when
 * no transaction is open. */
int mdindex_begin(struct mdindex *ix, struct ferry_error *err);
int mdindex_commit(struct mdindex *ix, struct ferry_error *err);
void mdindex_rollback(struct mdindex *ix);

/* Looks a folder up by canonical name: 1 and *out (free with
 * mdindex_folder_clear), 0 if the index does not know it, -1 on error. */
int mdindex_folder_get(struct mdindex *ix, const char *name, struct mdindex_folder *out,
		       struct ferry_error *err);
/* Records a new folder with a random nonzero UIDVALIDITY, UIDNEXT 1,
 * modseq 1, never scanned; fills *out (free with mdindex_folder_clear). */
int mdindex_folder_add(struct mdindex *ix, const char *name, const char *dir,
		       struct mdindex_folder *out, struct ferry_error *err);
/* Writes back dir, uidnext, modseq, the mtimes and scanned_at of f. */
int mdindex_folder_save(struct mdindex *ix, const struct mdindex_folder *f,
			struct ferry_error *err);
/* The modseq a folder's next change takes after modseq (rule 16): one more
 * in the upper bits, random lower bits. A copy of the index restored from a
 * backup, once it changes, so goes through modseqs the original never had. */
uint64_t mdindex_modseq_after(uint64_t modseq);
/* Forgets a folder and its messages. */
int mdindex_folder_delete(struct mdindex *ix, int64_t id, struct ferry_error *err);
void mdindex_folder_clear(struct mdindex_folder *f);
/* Gives folder id a new name and directory; its UIDVALIDITY, uids and
 * messages stay (a folder renamed, or its directory moved). */
int mdindex_folder_rename(struct mdindex *ix, int64_t id, const char *name, const char *dir,
			  struct ferry_error *err);

/* Every folder name the index knows with its directory: names[i] came from
 * dirs[i]. Both arrays and their strings are malloc'd and the caller's; free
 * them with mdindex_names_free. */
int mdindex_folder_dirs(struct mdindex *ix, char ***names, char ***dirs, size_t *n,
			struct ferry_error *err);
void mdindex_names_free(char **names, char **dirs, size_t n);

/* All messages of a folder, ordered by uid; *out is the caller's (free with
 * mdindex_msgs_free). */
int mdindex_msgs(struct mdindex *ix, int64_t folder, struct mdindex_msg **out, size_t *n,
		 struct ferry_error *err);
/* One message: 1 and *out (free with mdindex_msg_clear), 0 if no such uid. */
int mdindex_msg_get(struct mdindex *ix, int64_t folder, uint32_t uid, struct mdindex_msg *out,
		    struct ferry_error *err);
/* Inserts m with m->uid as given (the caller takes it from UIDNEXT). */
int mdindex_msg_add(struct mdindex *ix, int64_t folder, const struct mdindex_msg *m,
		    struct ferry_error *err);
/* Rewrites every column of the row of m->uid. */
int mdindex_msg_update(struct mdindex *ix, int64_t folder, const struct mdindex_msg *m,
		       struct ferry_error *err);
/* Deletes the row of uid and leaves a tombstone at modseq (the folder's
 * modseq after the change), for mdindex_changes. */
int mdindex_msg_delete(struct mdindex *ix, int64_t folder, uint32_t uid, uint64_t modseq,
		       struct ferry_error *err);
/* What changed in a folder after modseq since: its rows with a greater
 * modseq (*msgs, by uid; free with mdindex_msgs_free) and the uids expunged
 * after it (*gone, ascending, malloc'd). 1 when the tombstones do not reach
 * back that far (trimmed, or an index from before they were kept). 2 when
 * the folder never was at modseq since: the index is an older copy of the
 * one that gave it (restored from a backup, rule 16). */
int mdindex_changes(struct mdindex *ix, int64_t folder, uint64_t since, struct mdindex_msg **msgs,
		    size_t *nmsgs, uint32_t **gone, size_t *ngone, struct ferry_error *err);
int mdindex_msg_count(struct mdindex *ix, int64_t folder, uint32_t *n, struct ferry_error *err);
/* A folder's rows sum: lane-wise, the sum of mdindex_file_hash over its
 * rows, kept up to date by every row change (in the same transaction). A
 * rescan whose readdir sums to the same holds exactly the indexed files.
 * Not *known for a folder indexed before the sum was kept, until a scan
 * sets it. */
int mdindex_rows_sum(struct mdindex *ix, int64_t folder, bool *known, uint64_t v[2],
		     struct ferry_error *err);
int mdindex_rows_sum_set(struct mdindex *ix, int64_t folder, const uint64_t v[2],
			 struct ferry_error *err);
/* The hash of one file as a row or readdir has it: where, name, inode.
 * -1 (err set) only when OpenSSL cannot compute SHA-256. */
int mdindex_file_hash(bool in_cur, const char *name, uint64_t ino, uint64_t out[2],
		      struct ferry_error *err);
void mdindex_msg_clear(struct mdindex_msg *m);
void mdindex_msgs_free(struct mdindex_msg *v, size_t n);

#endif
