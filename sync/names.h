/* Folder names on the engine's side: which folders a channel syncs. */
#ifndef FERRY_SYNC_NAMES_H
#define FERRY_SYNC_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#include "sync/config.h"

/* Whether the channel's `folders` patterns select name. Patterns are globs
 * on canonical names ('*' also matches '/'); the last pattern that matches
 * decides, so `* !Junk` selects everything but Junk. INBOX matches
 * case-insensitively. */
bool names_selected(const struct channel_conf *ch, const char *name);

#endif
