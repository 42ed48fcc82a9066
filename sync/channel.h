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

#endif
