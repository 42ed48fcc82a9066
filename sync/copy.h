/* Copying a plan's new messages to one side. Internal to sync/. */
#ifndef FERRY_COPY_H
#define FERRY_COPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sync/engine.h"
#include "sync/plan.h"

/* Copies the messages of p's copies to side `to` from the other side, src
 * being the source side's listing: bodies streamed from the source's
 * fetch into the target's add_*, identity hashed on the way so both ids land
 * in the state. The batch is journaled first; pairs are recorded per batch
 * of 100, once the target settled them. What arrived whole is recorded even
 * when the fetch failed; what never arrived whole is counted in
 * *undelivered (rule 17), what settled without a uid in *unrecorded, what
 * the target refused (named, not stored: tried again next run) in *refused;
 * neither stops the copy, and the batch leaves the journal. */
int copy_msgs(struct engine *e, const char *name, int64_t folder_id, const struct plan *p,
	      enum side to, const struct msg_list *src, size_t *copied, size_t *unrecorded,
	      size_t *undelivered, size_t *refused, struct ferry_error *err);

#endif
