/* A download-only store's `keep` (POP3): after a folder is finished, the far
 * messages whose pair is old enough are deleted from the far store. Internal
 * to sync/. */
#ifndef FERRY_KEEP_H
#define FERRY_KEEP_H

#include <stddef.h>
#include <stdint.h>

#include "store/message.h"
#include "sync/engine.h"
#include "sync/pair.h"

/* PURE: the far uids of pairs due for deletion at time now under
 * keep_seconds (-1: none ever; 0: every pair): the far message is in
 * far_list (sorted by uid), was downloaded (a pair skipped for its size was
 * not), and the pair was made at least keep_seconds before now. A pair whose
 * local copy is gone still counts: the message is not downloaded again.
 * Writes up to npairs uids to out, sorted; returns how many. */
size_t keep_due(const struct pair *pairs, size_t npairs, const struct msg_list *far_list,
		int64_t keep_seconds, int64_t now, uint32_t *out);

/* PURE: how many far messages of pairs still wait for their keep (on the far
 * store, downloaded), and in *first the earliest time one was made (0: none). */
size_t keep_waiting(const struct pair *pairs, size_t npairs, int64_t *first);

/* After w is finished and recorded: the due pairs removed from the state
 * and committed, then the far messages deleted (the store commits them when
 * it closes). A kill in between leaves them on the far store unpaired; the
 * next run pairs them again with their local copies by identity (rule 7).
 * On --dry-run says what it would delete. Counts into w->rep.deleted[FAR]. */
int keep_folder(struct engine *e, struct folder_work *w, struct ferry_error *err);

#endif
