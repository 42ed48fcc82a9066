/* What a channel lets a run do, as plain values: the planner and the move
 * matcher read these, never the configuration they came from. */
#ifndef FERRY_POLICY_H
#define FERRY_POLICY_H

#include <stdbool.h>
#include <stdint.h>

/* Which sides an action may touch: create, delete, remove. */
enum side_set { SIDE_NONE = 0, SIDE_FAR = 1, SIDE_NEAR = 2, SIDE_BOTH = 3 };

/* The directions a channel copies in. */
enum sync_dir { SYNC_BOTH, SYNC_PULL, SYNC_PUSH };

/* One run's policy for a channel's folders. */
struct sync_policy {
	enum sync_dir sync;   /* effective direction of this run */
	enum side_set delete; /* sides where deletions may be carried out */
	uint64_t max_size;    /* 0: no limit */
	/* A far message over max_size is copied to near as a placeholder
	 * (headers and a note) instead of skipped. */
	bool placeholders;
	/* placeholders = flagged: a far message flagged \Flagged is copied
	 * whole whatever its size, and a placeholder flagged is fetched. */
	bool fetch_flagged;
	/* max_age's window: a message dated before this (seconds since the
	 * epoch) is neither copied nor deleted; 0: no window. */
	int64_t min_date;
	bool max_delete_is_percent;
	unsigned max_delete;
	bool force_delete;
};

#endif
