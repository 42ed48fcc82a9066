/* FETCH responses: the items ferry reads of them, and UID FETCH with
 * libetpan's streaming handlers installed around it. */
#ifndef FERRY_IMAP_FETCHRESP_H
#define FERRY_IMAP_FETCHRESP_H

#include <stdbool.h>
#include <stdint.h>

#include "store/imap/session.h"

/* The items of one FETCH response ferry reads. */
struct imap_fetched {
	uint32_t uid;
	bool has_uid, has_flags, has_size, has_date;
	clist *flags; /* of struct mailimap_flag_fetch; may be NULL for "FLAGS ()" */
	uint32_t size;
	const struct mailimap_date_time *date;
	const struct mailimap_msg_att_body_section *body;
};

void imap_read_items(const struct mailimap_msg_att *att, struct imap_fetched *f);

/* Installs libetpan's msg_att and body handlers (either may be NULL) for
 * the next parse, with the progress callback 1.9.4 needs to call them;
 * off removes them. */
void imap_handlers_on(mailimap *imap, mailimap_msg_att_handler *att,
		      mailimap_msg_body_handler *body, void *ctx);
void imap_handlers_off(mailimap *imap);

/* A fetch type of the attributes atts[0..n) made, and BODY.PEEK[section]
 * when section is not NULL (owned from here). NULL on allocation failure. */
struct mailimap_fetch_type *imap_fetch_type(struct mailimap_fetch_att *(*const atts[])(void),
					    size_t n, struct mailimap_section *section);

/* Runs UID FETCH with the handlers installed; frees set and ft. Returns
 * libetpan's result. */
int imap_uid_fetch(struct imap_store *st, struct mailimap_set *set, struct mailimap_fetch_type *ft,
		   mailimap_msg_att_handler *att, mailimap_msg_body_handler *body, void *ctx);

#endif
