/* `ferry status [--json] [CHANNEL]`: last sync, local changes waiting,
 * folders a killed run did not finish, what max_delete held back, folders
 * waiting to be created or removed, conflicts. Reads the state and any
 * Maildir side; no network. */
#ifndef FERRY_STATUS_H
#define FERRY_STATUS_H

#include <stdbool.h>

#include "store/error.h"
#include "sync/config.h"

enum ferry_status status_run(const struct config *cfg, const char *channel, bool json);

#endif
