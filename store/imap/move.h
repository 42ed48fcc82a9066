/* Moving messages of the selected folder to another. */
#ifndef FERRY_IMAP_MOVE_H
#define FERRY_IMAP_MOVE_H

#include <stddef.h>
#include <stdint.h>

#include "store/imap/session.h"

/* The driver's move_msgs: UID MOVE, or UID COPY + \Deleted + UID EXPUNGE
 * of those uids. On failure new_uids[i] is non-zero only for messages moved
 * completely. */
int imap_move_msgs(struct store *store, const uint32_t *uids, size_t n, const char *to,
		   uint32_t *new_uids, struct ferry_error *err);

#endif
