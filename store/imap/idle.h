/* IDLE (RFC 2177) on one selected folder: the IMAP store's wait for a
 * change, for `ferry watch`, on a connection of its own. */
#ifndef FERRY_IMAP_IDLE_H
#define FERRY_IMAP_IDLE_H

#include "store/store.h"

/* The driver's wait: selects folder if it is not selected, then IDLE until
 * the server reports a change, timeout_ms passes or stop_fd is readable;
 * DONE ends it each time. A change is reported as folder's, or with NOTIFY
 * as the folder a STATUS names (NULL for a LIST: a folder made, removed or
 * renamed). */
int imap_wait(struct store *store, const char *folder, int timeout_ms, int stop_fd,
	      store_changed_fn *changed, void *ctx, struct ferry_error *err);

#endif
