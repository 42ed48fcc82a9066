/* `ferry fetch`: placeholders (`placeholders = yes|flagged`) replaced by
 * their messages, in place: the same Maildir file name and uid, flags
 * kept, the same pair, its placeholder mark cleared. Also what a sync with
 * `placeholders = flagged` calls for the placeholders flagged \Flagged. */
#ifndef FERRY_FETCH_H
#define FERRY_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "sync/config.h"
#include "sync/state.h"

/* Replaces the placeholders of the pairs whose far uids are far_uids[0..n)
 * in folder `folder` (the state's folder_id) by the far messages: each
 * body is streamed into the near store's replace_begin/add_write/
 * replace_commit, then the pair is recorded whole. Selects the folder on
 * both sides. A uid whose pair is no placeholder is named and skipped
 * (*skipped). Adds to *fetched the messages replaced. */
int fetch_placeholders(struct store *far, struct store *near, struct state *state,
		       int64_t folder_id, const char *folder, const uint32_t *far_uids, size_t n,
		       size_t *fetched, size_t *skipped, struct ferry_error *err);

/* The command: CHANNEL:FOLDER's placeholders with far uids uids[0..n), or
 * every one of the folder with all. In a child, holding the channel's
 * lock. */
enum ferry_status fetch_run(const struct channel_conf *ch, const char *folder, const uint32_t *uids,
			    size_t n, bool all);

#endif
