/* Reading messages of the selected folder: header identities and bodies. */
#ifndef FERRY_IMAP_FETCH_H
#define FERRY_IMAP_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/imap/session.h"

/* Fills the ids of msgs that lack one from their headers, and with sizes
 * their sizes too, in one UID FETCH per batch of uids. A uid that does not
 * come back keeps an unknown id. */
int imap_identify_msgs(struct imap_store *st, struct msg *msgs, size_t n, bool sizes,
		       struct ferry_error *err);

/* The driver's identify and fetch. */
int imap_identify(struct store *store, struct msg *msgs, size_t n, struct ferry_error *err);
int imap_fetch(struct store *store, const uint32_t *uids, size_t n, const struct fetch_sink *sink,
	       struct ferry_error *err);
/* The same, BODY.PEEK[HEADER] only (placeholders). */
int imap_fetch_headers(struct store *store, const uint32_t *uids, size_t n,
		       const struct fetch_sink *sink, struct ferry_error *err);

#endif
