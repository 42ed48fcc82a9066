/* The per-channel state: one SQLite database (WAL, 0600). It is the only
 * commit point of a sync (DESIGN rule 13): a side effect counts as done once
 * the transaction recording it has committed.
 *
 * Per folder pair: both sides' UIDVALIDITY, UIDNEXT and modseq at the last
 * sync. Per message pair: far uid, near uid (either may be 0: gone but not
 * propagated), status, base flags and keywords, CRLF size, identities.
 * The journal holds batches started but not yet confirmed. */
#ifndef FERRY_STATE_H
#define FERRY_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "store/error.h"
#include "sync/pair.h"
#include "sync/side.h"

struct state;

struct state_folder {
	int64_t id;
	char *name;				    /* canonical */
	uint32_t far_uidvalidity, near_uidvalidity; /* 0: never synced */
	uint32_t far_uidnext, near_uidnext;
	uint64_t far_modseq, near_modseq;
	int64_t last_sync; /* seconds since the epoch, 0 = never */
	/* The channel policy (engine_policy) under which the last sync of this
	 * folder finished with nothing left to do; "" when it did not. Only then
	 * may an unchanged folder be skipped (rule 4). */
	char clean[80];
};

enum journal_action { J_DOWNLOAD, J_UPLOAD, J_FLAGS, J_DELETE, J_MOVE };

struct journal_entry {
	int64_t id;
	int64_t folder_id;
	enum journal_action action;
	bool to_far;	  /* the side the effects happen on */
	uint32_t uidnext; /* that side's UIDNEXT before the batch */
	size_t count;	  /* messages in the batch */
};

/* Takes flock(LOCK_EX|LOCK_NB) on <path>.lock, creating its directory
 * (0700): held until *fd is closed or the process exits, so no lock goes
 * stale. A held lock is FERRY_LOCKED. */
int state_lock(const char *path, int *fd, struct ferry_error *err);

/* Opens (creating with 0600 in a 0700 directory) and migrates the schema. A
 * file that is not a ferry state database or fails its integrity check is an
 * error naming it. */
int state_open(const char *path, struct state **out, struct ferry_error *err);
/* Opens an existing state for reading only (`ferry verify`): no schema
 * change, no seal touched, no file created beside it. The caller holds the
 * channel's lock (state_lock). Returns 1 when there is no state file yet. */
int state_open_readonly(const char *path, struct state **out, struct ferry_error *err);
/* Opens a copy in memory of the state as it is (empty when there is none):
 * a --dry-run goes through every step of a run, writes included, and the
 * file is never written. */
int state_open_scratch(const char *path, struct state **out, struct ferry_error *err);
void state_close(struct state *st);

int state_begin(struct state *st, struct ferry_error *err);
int state_commit(struct state *st, struct ferry_error *err);
void state_rollback(struct state *st);

/* The folder row for name, created when missing. Free name with free(). */
int state_get_folder(struct state *st, const char *name, struct state_folder *out,
		     struct ferry_error *err);
int state_put_folder(struct state *st, const struct state_folder *f, struct ferry_error *err);
/* Whether a folder row exists and was synced at least once (*synced). */
int state_folder_synced(struct state *st, const char *name, bool *synced, struct ferry_error *err);
/* Drops a folder row with its pairs (the folder was removed on both sides). */
int state_drop_folder(struct state *st, const char *name, struct ferry_error *err);
/* The folder from is now called to (rule 11's renames): its row, pairs
 * and conflicts follow; a row already named to is dropped first. */
int state_rename_folder(struct state *st, const char *from, const char *to,
			struct ferry_error *err);
/* Every folder row (for `ferry list`, `status`, and vanished folders). */
int state_list_folders(struct state *st, struct state_folder **out, size_t *n,
		       struct ferry_error *err);
void state_folders_free(struct state_folder *v, size_t n);

/* All pairs of a folder; free with state_pairs_free. */
int state_load_pairs(struct state *st, int64_t folder_id, struct pair **out, size_t *n,
		     struct ferry_error *err);
void state_pairs_free(struct pair *v, size_t n);
/* Appends to *v (*n used, *cap allocated) the pairs whose far (or near) uid
 * lies in lo..hi; on error *v keeps what it had, for state_pairs_free. */
int state_append_pairs_between(struct state *st, int64_t folder_id, bool far_side, uint32_t lo,
			       uint32_t hi, struct pair **v, size_t *n, size_t *cap,
			       struct ferry_error *err);
/* How many pairs of a folder have a far uid, and how many a near uid. */
int state_count_pairs(struct state *st, int64_t folder_id, size_t *far, size_t *near,
		      struct ferry_error *err);
/* The pair holding far_uid (if nonzero) or near_uid: *found and *out (free
 * out->base_keywords), or not *found. */
int state_get_pair(struct state *st, int64_t folder_id, uint32_t far_uid, uint32_t near_uid,
		   struct pair *out, bool *found, struct ferry_error *err);
/* Drops every pair of a folder (UIDVALIDITY change: rule 7 re-pairs). */
int state_clear_pairs(struct state *st, int64_t folder_id, struct ferry_error *err);

/* Inserts or replaces the pair, keyed by far uid and by near uid. */
int state_put_pair(struct state *st, int64_t folder_id, const struct pair *p,
		   struct ferry_error *err);
/* Removes the pair holding far_uid (if nonzero) or near_uid. */
int state_forget_pair(struct state *st, int64_t folder_id, uint32_t far_uid, uint32_t near_uid,
		      struct ferry_error *err);
int state_set_base(struct state *st, int64_t folder_id, uint32_t far_uid, uint32_t near_uid,
		   unsigned flags, const char *keywords, struct ferry_error *err);

/* The keywords side of a folder took no more of, as state_add_dropped_keywords
 * recorded them: *out malloc'd (caller frees), NULL when none. */
int state_dropped_keywords(struct state *st, int64_t folder_id, enum side side, char **out,
			   struct ferry_error *err);
/* Adds keywords (space-separated) to those side of a folder took no more of:
 * there their absence is not a removal (rule 9) and they are not sent. */
int state_add_dropped_keywords(struct state *st, int64_t folder_id, enum side side,
			       const char *keywords, struct ferry_error *err);

int state_journal_add(struct state *st, struct journal_entry *e, struct ferry_error *err);
int state_journal_done(struct state *st, int64_t id, struct ferry_error *err);
int state_journal_pending(struct state *st, struct journal_entry **out, size_t *n,
			  struct ferry_error *err);

/* For `ferry status`: the conflicts recorded, newest last. */
struct state_conflict {
	char *folder, *text;
	int64_t at;
};
int state_list_conflicts(struct state *st, struct state_conflict **out, size_t *n,
			 struct ferry_error *err);
void state_conflicts_free(struct state_conflict *v, size_t n);

/* Conflicts (rule 10) are kept for `ferry status`. */
int state_add_conflict(struct state *st, const char *folder, const char *text,
		       struct ferry_error *err);

/* What max_delete held back (rules 5 and 11), kept for `ferry status`
 * until a run plans that folder again. */
enum held_kind {
	HELD_DELETIONS, /* count messages not deleted on side */
	HELD_REMOVAL,	/* the folder not removed on side; count its messages */
};
struct state_held {
	char *folder;
	enum side side;
	enum held_kind kind;
	size_t count;
	int64_t at;
};
/* Records a hold on folder's side; for deletions a count of 0 clears it
 * (removals are cleared all at once by state_clear_held_removals). */
int state_set_held(struct state *st, const char *folder, enum side side, enum held_kind kind,
		   size_t count, struct ferry_error *err);
/* Clears every held removal: each run decides its folder removals anew. */
int state_clear_held_removals(struct state *st, struct ferry_error *err);
/* Every hold, by folder; free with state_held_free. */
int state_list_held(struct state *st, struct state_held **out, size_t *n, struct ferry_error *err);
void state_held_free(struct state_held *v, size_t n);

/* Folders paired by role under different names (sync/roles.c), by far
 * name; role is sync/roles.h's enum role. */
struct state_role_pair {
	char *far, *near;
	int role;
};
int state_list_role_pairs(struct state *st, struct state_role_pair **out, size_t *n,
			  struct ferry_error *err);
/* Replaces every remembered pair with v[0..n), in a transaction of its own. */
int state_set_role_pairs(struct state *st, const struct state_role_pair *v, size_t n,
			 struct ferry_error *err);
void state_role_pairs_free(struct state_role_pair *v, size_t n);

#endif
