/* Opening a store, and opening it again after its connection broke: one
 * policy for a channel's run, its parallel workers and the commands that
 * only look (list, verify). */
#ifndef FERRY_CONNECT_H
#define FERRY_CONNECT_H

#include <stdbool.h>

#include "store/error.h"
#include "store/store.h"
#include "sync/config.h"

/* Opens a store with its password or token (password_command run here);
 * the error is prefixed with the store's name. */
int connect_store(const struct store_conf *conf, struct store **out, struct ferry_error *err);

/* Opens both stores of a channel, indexed by side (sync/side.h); on error
 * neither is left open. */
int connect_both(const struct channel_conf *ch, struct store *store[2], struct ferry_error *err);

/* Closes both stores (either may be NULL) and forgets them. */
void connect_close_both(struct store *store[2]);

/* Whether either store's connection broke. */
bool connect_broken(struct store *const store[2]);

/* DESIGN's reconnect policy: each store whose connection broke is opened
 * again, at most 3 times per run (*attempts counts them, for both sides),
 * waiting 1, 4 and 16 s; only a network failure is retried (not TLS, not a
 * refused login: ferry_error_retryable). Returns 0 when both stores are
 * usable again; on -1 a store may be NULL and the run stops. */
int connect_again(struct store *store[2], unsigned *attempts, struct ferry_error *err);

#endif
