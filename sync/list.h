/* `ferry list [--json] [CHANNEL]`: folders on both sides and how they pair. */
#ifndef FERRY_LIST_H
#define FERRY_LIST_H

#include <stdbool.h>

#include "store/error.h"
#include "sync/config.h"

enum ferry_status list_run(const struct config *cfg, const char *channel, bool json);

#endif
