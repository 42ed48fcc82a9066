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

/* Opens a store with its password or token (password_command run here);
 * the error is prefixed with the store's name. */
int channel_open_store(const struct store_conf *conf, struct store **out, struct ferry_error *err);

#endif
