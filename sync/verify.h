/* `ferry verify`: reads both sides of every folder pair of a channel and its
 * state, and reports every message missing, extra or different on either
 * side, changing nothing. Each channel in a child process, holding the
 * channel's lock so that no sync runs meanwhile. */
#ifndef FERRY_VERIFY_H
#define FERRY_VERIFY_H

#include <stdbool.h>

#include "store/error.h"
#include "sync/config.h"

/* Verifies the channel named by arg ("CHANNEL" or "CHANNEL:FOLDER"), or
 * every channel when arg is NULL. bodies: also compare the SHA-256 of every
 * pair's whole messages, read from both sides. Prints a line per folder, the
 * first differences by name, and a summary per channel. Returns FERRY_OK
 * only when both sides are in step. */
enum ferry_status verify_run(const struct config *cfg, const char *arg, bool bodies);

#endif
