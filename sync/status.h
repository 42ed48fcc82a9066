/* `ferry status [CHANNEL]`: last sync, local changes waiting, counts,
 * conflicts. Reads the state and any Maildir side; no network. */
#ifndef FERRY_STATUS_H
#define FERRY_STATUS_H

#include "store/error.h"
#include "sync/config.h"

enum ferry_status status_run(const struct config *cfg, const char *channel);

#endif
