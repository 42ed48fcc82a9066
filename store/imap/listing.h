/* Listing the selected folder's messages: in full, or the changes since a
 * modseq (UID FETCH ... (CHANGEDSINCE m VANISHED)). */
#ifndef FERRY_IMAP_LISTING_H
#define FERRY_IMAP_LISTING_H

#include <stddef.h>
#include <stdint.h>

#include "store/imap/session.h"

/* The driver's list. */
int imap_list(struct store *store, struct msg_list *out, struct ferry_error *err);
/* How many uids imap_list asks for in one UID FETCH (0: the default,
 * 50,000); for tests, which cannot hold that many messages. */
void imap_set_list_uids(uint32_t uids);
/* The driver's list_changed, asked of the server (prefetch.c serves a
 * prefetched answer first). */
int imap_list_changes(struct store *store, uint64_t since, struct msg_list *changed,
		      uint32_t **vanished, size_t *nranges, struct ferry_error *err);
/* Reads the answer to a pipelined UID FETCH ... (CHANGEDSINCE m VANISHED)
 * tagged tag, for folder (canonical name, for messages) whose SELECT gave
 * uidnext: the changed messages below uidnext into changed, the VANISHED
 * ranges into *vanished. Returns 0, 1 when the server refused the command,
 * -1 with err set (the session broken where it is). */
int imap_read_changes(struct imap_store *st, int tag, uint32_t uidnext, const char *folder,
		      struct msg_list *changed, uint32_t **vanished, size_t *nranges,
		      struct ferry_error *err);

#endif
