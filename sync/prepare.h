/* Preparing a channel's folders, before anything changes: which can be
 * skipped (rule 4), the stores' prefetch, and each folder selected, checked
 * against the state, listed and its pairs loaded. Internal to sync/. */
#ifndef FERRY_PREPARE_H
#define FERRY_PREPARE_H

#include <stdbool.h>
#include <stddef.h>

#include "sync/engine.h"

/* Rule 4: asks both stores what each folder on both sides holds (one
 * pipelined round trip on IMAP), fills v[i].now, and marks skip[i] for the
 * folders unchanged since a clean sync under the same policy. The side whose
 * store can prefetch is asked to ready at once the folders changed on it
 * (sent[side][i]). Any trouble only means fewer folders skipped; a reconnect
 * that failed leaves a store NULL. */
void prepare_find_unchanged(struct engine *e, struct channel_folder *v, size_t n, bool *skip,
			    bool *sent[2]);

/* Asks each store that can to ready the select (and the changes since the
 * last clean sync) of every folder about to be prepared and not asked for
 * yet (sent), in one round trip. */
void prepare_prefetch(struct engine *e, const struct channel_folder *v, size_t n, const bool *skip,
		      bool *sent[2]);

/* Drops what a prefetch brought and the prepare pass did not use. */
void prepare_prefetch_drop(struct engine *e);

/* Selects both sides, checks UIDVALIDITY, UIDNEXT and modseq against the
 * state (rules 7, 16), lists both sides (rule 4's cheap way where it
 * applies) and loads the pairs. */
int prepare_folder(struct engine *e, struct folder_work *w, struct ferry_error *err);

/* Whether a prepared folder can take no part in the move pass: every
 * message on both sides is paired and every pair's messages are there, so
 * nothing vanished from it or is new in it (only flags may have changed). Such
 * a folder is finished at once, while it is still selected. */
bool prepare_move_neutral(const struct folder_work *w);

#endif
