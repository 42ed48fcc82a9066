/* Finishing a channel's prepared folders on several connections at once
 * (`connections`). Internal to sync/. */
#ifndef FERRY_PARALLEL_H
#define FERRY_PARALLEL_H

#include <stdbool.h>
#include <stddef.h>

#include "sync/engine.h"

/* How many workers the folders todo[0..n) of works deserve: 1 (finish them
 * here, in order) unless both stores allow more connections and there is
 * enough to copy to be worth the extra logins. */
unsigned parallel_workers(const struct engine *e, const struct folder_work *works,
			  const size_t *todo, size_t n);

/* Finishes works[todo[0..n)] on `workers` child processes, each with its own
 * connections to both stores and its own handle on the state (SQLite
 * serialises the writers; each writes batched transactions). Folders go to
 * workers largest first, each to the least loaded. Every folder's report is
 * stored in its works[].rep and failed[todo[k]] says whether it failed; a
 * worker that dies fails the folders it had not reported. Returns -1 with
 * err set only when no worker could be started (finish here instead). */
int parallel_finish(struct engine *e, struct folder_work *works, const size_t *todo, size_t n,
		    unsigned workers, bool *failed, struct ferry_error *err);

#endif
