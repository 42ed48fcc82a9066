/* The sync of one channel: folders paired, each folder planned and applied.
 * Internal interface between channel.c (folders, lock, stores) and apply.c
 * (one folder pair: listings, identity, plan, side effects, state). */
#ifndef FERRY_ENGINE_H
#define FERRY_ENGINE_H

#include <stdbool.h>
#include <stddef.h>

#include "store/store.h"
#include "sync/config.h"
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
	size_t paired, skipped_size, conflicts, blocked_deletes, failed;
};

struct engine {
	const struct channel_conf *ch;
	const struct sync_opts *opts;
	enum sync_dir dir; /* effective for this run */
	struct store *far, *near;
	struct state *state;
};

/* Syncs one folder present on both sides (both already created). On error
 * the folder is reported failed and the state holds what was done. */
int engine_sync_folder(struct engine *e, const char *name, bool forget_state,
		       struct folder_report *rep, struct ferry_error *err);

/* Removes a folder that vanished on the other side (rule 11, `remove`) if
 * it holds only messages that were paired; *removed says whether it did. */
int engine_remove_folder(struct engine *e, const char *name, bool on_far, bool *removed,
			 struct ferry_error *err);

/* Test-only crash hook (FERRY_CRASH_AT=<action>:<n>[:after]); a no-op unless
 * built with FERRY_TEST_HOOKS. */
void engine_crash_point(const char *action, bool after);
void engine_crash_scope(const char *channel);

/* Set by SIGINT/SIGTERM: finish the current batch, commit, stop. */
extern volatile int engine_interrupted;

#endif
