/* The side effects of one folder's plan. Internal to sync/. */
#ifndef FERRY_APPLY_H
#define FERRY_APPLY_H

#include <stdint.h>

#include "sync/engine.h"
#include "sync/plan.h"

/* Applies p in its order: state-only actions, flag stores grouped by
 * identical change, new bases, copies (sync/copy.c), deletions. Each
 * side-effecting batch is journaled first; a failed step stops the folder,
 * and what was committed stays committed. list holds the folder's
 * listings, by side; rep counts what was done. */
int apply_plan(struct engine *e, const char *name, int64_t folder_id, const struct plan *p,
	       const struct msg_list list[2], struct folder_report *rep, struct ferry_error *err);

#endif
