/* `ferry watch`: stays connected and syncs each channel when either side
 * changes, and every `interval`. */
#ifndef FERRY_WATCH_H
#define FERRY_WATCH_H

#include "store/error.h"
#include "sync/config.h"

/* Watches channels names[0..n) of cfg (all of them if n is 0) until SIGTERM
 * or SIGINT (143, 130); SIGHUP reads config_path again. Takes cfg: it is
 * freed on return. */
int watch_run(const char *config_path, struct config *cfg, char **names, size_t n);

#endif
