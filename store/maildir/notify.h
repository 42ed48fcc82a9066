/* inotify on a Maildir tree: the Maildir store's wait for a change, for
 * `ferry watch`. */
#ifndef FERRY_MAILDIR_NOTIFY_H
#define FERRY_MAILDIR_NOTIFY_H

#include "store/store.h"

struct md_notify;

/* The driver's wait: watches new/ and cur/ of every folder under the root
 * and every directory for new folders (the first call sets it up; the
 * watches stay until md_notify_free). folder is ignored: the whole store
 * is watched. A change in new/ or cur/ is reported as that folder's (its
 * directory read back by the layout's rules); a directory made, removed or
 * renamed, or lost events, as NULL. */
int maildir_wait(struct store *store, const char *folder, int timeout_ms, int stop_fd,
		 store_changed_fn *changed, void *ctx, struct ferry_error *err);

void md_notify_free(struct md_notify *n);

#endif
