/* `ferry sync`: each channel in a child process, holding the channel's lock. */
#ifndef FERRY_CHANNEL_H
#define FERRY_CHANNEL_H

#include "store/error.h"
#include "sync/config.h"
#include "sync/engine.h"

/* Syncs one channel, optionally only one folder (NULL for all). Prints one
 * line per folder that changed and a summary; returns the exit status. */
enum ferry_status channel_sync(const struct channel_conf *ch, const char *folder,
			       const struct sync_opts *opts);

/* Syncs the folders names[0..n) of a channel (`watch`: those a change
 * concerns), or all of them when names is NULL. The other folders are left
 * alone: neither statused, listed nor created or removed. The whole channel
 * is synced instead when a killed run's journal is pending, or when a
 * folder named is not on both sides (made, removed or renamed: rule 11's
 * guards need every folder). A message gone from one of the folders with
 * nothing of its size new in them may have moved to another folder: the
 * run widens to the whole channel before it plans anything, so the move
 * pass finds it. */
enum ferry_status channel_sync_folders(const struct channel_conf *ch, const char *const *names,
				       size_t n, const struct sync_opts *opts);

#endif
