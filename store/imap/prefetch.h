/* Prefetch: the SELECT and UID FETCH ... CHANGEDSINCE of many folders in one
 * write, their answers served to the next select and list_changed of each. */
#ifndef FERRY_IMAP_PREFETCH_H
#define FERRY_IMAP_PREFETCH_H

#include <stddef.h>
#include <stdint.h>

#include "store/imap/session.h"

/* The driver's prefetch (n == 0: the drop of what was not taken). */
int imap_prefetch(struct store *store, const char *const *names, const uint64_t *since, size_t n,
		  struct ferry_error *err);
/* The driver's select and list_changed: the prefetched answer once, else
 * asked of the server (select.c, listing.c). */
int imap_select(struct store *store, const char *name, struct folder_state *out,
		struct ferry_error *err);
int imap_list_changed(struct store *store, uint64_t since, struct msg_list *changed,
		      uint32_t **vanished, size_t *nranges, struct ferry_error *err);
/* Frees what the prefetches brought; nothing of theirs may be in flight. */
void imap_prefetch_clear(struct imap_store *st);

#endif
