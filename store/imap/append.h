/* Adding messages to the selected folder: APPEND, sent ahead in batches
 * with LITERAL+, the stored copies read back at add_flush. */
#ifndef FERRY_IMAP_APPEND_H
#define FERRY_IMAP_APPEND_H

#include <stddef.h>
#include <stdint.h>

#include "store/imap/session.h"

/* The driver's add_* operations. */
int imap_add_begin(struct store *store, struct store_new_msg **out, struct ferry_error *err);
int imap_add_write(struct store_new_msg *m, const char *buf, size_t len, struct ferry_error *err);
int imap_add_commit(struct store_new_msg *m, unsigned flags, const char *keywords, int64_t date,
		    uint32_t *uid, struct ferry_error *err);
void imap_add_abort(struct store_new_msg *m);
int imap_add_flush(struct store *store,
		   void (*done)(void *ctx, size_t seq, uint32_t uid, const struct msg_id *stored),
		   void (*refused)(void *ctx, size_t seq, const char *why), void *ctx,
		   struct ferry_error *err);

/* For the driver's close: reads the answers to the APPENDs still in flight
 * if the session still works, and frees st->appends. */
void imap_appends_close(struct imap_store *st);

#endif
