/* `ferry check [STORE]`: is the config valid, can each store be reached,
 * does TLS verify, does login work, and what does the server offer. */
#ifndef FERRY_CHECK_H
#define FERRY_CHECK_H

#include "store/error.h"
#include "sync/config.h"

/* Checks one store (name) or all; prints results on stdout and each failure
 * on stderr. Returns the exit status of the run. */
enum ferry_status check_run(const struct config *cfg, const char *name);

#endif
