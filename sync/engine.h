/* The sync of one channel: folders paired, each folder planned and applied.
 * Internal interface between channel.c (folders, lock, stores) and apply.c
 * (one folder pair: listings, identity, plan, side effects, state). */
#ifndef FERRY_ENGINE_H
#define FERRY_ENGINE_H

#include <stdbool.h>
#include <stddef.h>

#include "store/store.h"
#include "sync/config.h"
#include "sync/side.h"
#include "sync/state.h"

struct sync_opts {
	bool dry_run;
	bool force_delete;
	bool has_dir_override; /* --pull / --push */
	enum sync_dir dir_override;
};

/* What moved in one folder, for the per-folder line and the summary. */
struct folder_report {
	size_t to_near_new, to_near_flags, to_near_deleted;
	size_t to_far_new, to_far_flags, to_far_deleted;
	size_t to_near_moved, to_far_moved; /* moved into this folder */
	size_t paired, skipped_size, conflicts, blocked_deletes, failed;
	size_t unrecorded;  /* copied, but the target gave no uid: paired next run */
	size_t undelivered; /* rule 17: the source did not deliver them; tried next run */
};

struct engine {
	const struct channel_conf *ch;
	const struct sync_opts *opts;
	enum sync_dir dir;	/* effective for this run */
	struct store *store[2]; /* indexed by enum side */
	struct state *state;
	/* The batches a killed run left in the journal: the move pass takes the
	 * folders they copied or moved into for where unrecorded copies stayed. */
	const struct journal_entry *cut;
	size_t ncut;
};

/* One folder pair through a run: prepared (selected, listed, pairs loaded)
 * for every folder first, so the move pass can look across folders, then
 * finished (identified, planned, applied) one by one. */
struct folder_work {
	const char *name; /* owned by the caller */
	bool forget;	  /* just created on one side: pair again by identity */
	bool prepared;
	bool have_state;
	bool still_selected; /* nothing was selected since prepare: finish need not reselect */
	bool sparse;	     /* pairs and listings hold only what changed (rule 4) */
	struct folder_state fs, ns;
	struct state_folder sf;
	struct msg_list far, near;
	struct pair *pairs;
	size_t npairs;
	struct folder_report rep;
};

/* Rule 4: whether a folder can be skipped, given what both stores' status
 * say of it now: both sides as the last sync of it recorded them, modseqs
 * known on both, and that sync finished clean under the same policy. With
 * fs or ns NULL, that side is not looked at: false then means the folder
 * will be synced whatever the other side says. */
int engine_folder_unchanged(struct engine *e, const char *name, const struct folder_state *fs,
			    const struct folder_state *ns, bool *unchanged,
			    struct ferry_error *err);

/* The modseqs rule 4's cheap listing will ask each side about (list_changed
 * since), for the stores' prefetch: 0 when the folder's last sync did not
 * finish clean under the same policy. */
int engine_prefetch_since(struct engine *e, const char *name, uint64_t *far_since,
			  uint64_t *near_since, struct ferry_error *err);

/* Selects both sides, checks UIDVALIDITY against the state, lists both
 * sides and loads the pairs. */
int engine_prepare_folder(struct engine *e, struct folder_work *w, struct ferry_error *err);

/* Whether a prepared folder can take no part in the move pass: every
 * message on both sides is paired and every pair's messages are there, so
 * nothing vanished from it or is new in it (only flags may have changed). Such
 * a folder is finished at once, while it is still selected. */
bool engine_folder_move_neutral(const struct folder_work *w);

/* Selects both sides again, identifies unpaired messages, plans and applies.
 * On error the folder is reported failed and the state holds what was done. */
int engine_finish_folder(struct engine *e, struct folder_work *w, struct ferry_error *err);

void engine_folder_free(struct folder_work *w);

/* The move pass (rule 8) over every prepared folder: a message that vanished
 * from one folder and appeared in another on the same side is moved on the
 * other side (UID MOVE, rename) instead of deleted and copied again. Patches
 * the listings and pairs in v so the folders' plans see the moved pairs. */
int engine_moves(struct engine *e, struct folder_work *v, size_t n, struct ferry_error *err);

/* Finds a message by uid in a listing sorted by uid; NULL if absent. */
struct msg *engine_find_msg(const struct msg_list *l, uint32_t uid);

/* Removes a folder that vanished on the other side (rule 11, `remove`) if
 * it holds only messages that were paired; *removed says whether it did.
 * INBOX is never removed. */
int engine_remove_folder(struct engine *e, const char *name, bool on_far, bool *removed,
			 struct ferry_error *err);

/* Whether engine_remove_folder would remove the folder now (*removable),
 * and the messages that would go with it, for max_delete. Selects it. */
int engine_folder_removable(struct engine *e, const char *name, bool on_far, bool *removable,
			    size_t *messages, struct ferry_error *err);

/* Test-only crash hook (FERRY_CRASH_AT=<action>:<n>[:after]); a no-op unless
 * built with FERRY_TEST_HOOKS. */
void engine_crash_point(const char *action, bool after);
void engine_crash_scope(const char *channel);
/* In a parallel worker: the crash hook kills the channel's process too, as
 * a real kill of the run would. */
void engine_crash_scope_worker(void);

/* Set by SIGINT/SIGTERM: finish the current batch, commit, stop. */
extern volatile int engine_interrupted;

#endif
