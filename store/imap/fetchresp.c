/* FETCH responses: what ferry asks for and reads of them, streamed.
 *
 * Large answers are streamed: libetpan calls a msg_att handler per FETCH
 * response and a body handler per chunk of a literal, so neither a 100k
 * listing nor a 50 MB body is ever held whole. Both handlers are
 * session-wide and 1.9.4 ignores them unless a progress callback is set too
 * (libetpan.md, section 4); they are installed only around the command that
 * needs them. */
#include "store/imap/fetchresp.h"

static void no_progress(size_t current, size_t maximum, void *ctx)
{
	(void)current;
	(void)maximum;
	(void)ctx;
}

void imap_handlers_on(mailimap *imap, mailimap_msg_att_handler *att,
		      mailimap_msg_body_handler *body, void *ctx)
{
	/* Without a progress callback 1.9.4 takes the parser path that never
	 * calls the handlers. */
	mailimap_set_progress_callback(imap, no_progress, no_progress, NULL);
	mailimap_set_msg_att_handler(imap, att, ctx);
	mailimap_set_msg_body_handler(imap, body, ctx);
}

void imap_handlers_off(mailimap *imap)
{
	mailimap_set_msg_att_handler(imap, NULL, NULL);
	mailimap_set_msg_body_handler(imap, NULL, NULL);
	mailimap_set_progress_callback(imap, NULL, NULL, NULL);
}

void imap_read_items(const struct mailimap_msg_att *att, struct imap_fetched *f)
{
	*f = (struct imap_fetched){0};
	for (clistiter *it = att->att_list ? clist_begin(att->att_list) : NULL; it;
	     it = clist_next(it)) {
		const struct mailimap_msg_att_item *item = clist_content(it);
		const struct mailimap_msg_att_static *s;

		if (item->att_type == MAILIMAP_MSG_ATT_ITEM_DYNAMIC) {
			f->has_flags = true;
			f->flags = item->att_data.att_dyn ? item->att_data.att_dyn->att_list : NULL;
			continue;
		}
		if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC || !item->att_data.att_static)
			continue;
		s = item->att_data.att_static;
		switch (s->att_type) {
		case MAILIMAP_MSG_ATT_UID:
			f->has_uid = true;
			f->uid = s->att_data.att_uid;
			break;
		case MAILIMAP_MSG_ATT_RFC822_SIZE:
			f->has_size = true;
			f->size = s->att_data.att_rfc822_size;
			break;
		case MAILIMAP_MSG_ATT_INTERNALDATE:
			f->has_date = s->att_data.att_internal_date != NULL;
			f->date = s->att_data.att_internal_date;
			break;
		case MAILIMAP_MSG_ATT_BODY_SECTION:
			f->body = s->att_data.att_body_section;
			break;
		default:
			break;
		}
	}
}

struct mailimap_fetch_type *imap_fetch_type(struct mailimap_fetch_att *(*const atts[])(void),
					    size_t n, struct mailimap_section *section)
{
	struct mailimap_fetch_type *ft = mailimap_fetch_type_new_fetch_att_list_empty();

	if (!ft)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		struct mailimap_fetch_att *a = atts[i]();

		if (!a)
			goto fail;
		if (mailimap_fetch_type_new_fetch_att_list_add(ft, a) != MAILIMAP_NO_ERROR) {
			mailimap_fetch_att_free(a);
			goto fail;
		}
	}
	if (section) {
		/* BODY.PEEK: fetching must not set \Seen. */
		struct mailimap_fetch_att *a = mailimap_fetch_att_new_body_peek_section(section);

		section = NULL; /* owned by a, or freed below */
		if (!a)
			goto fail;
		if (mailimap_fetch_type_new_fetch_att_list_add(ft, a) != MAILIMAP_NO_ERROR) {
			mailimap_fetch_att_free(a);
			goto fail;
		}
	}
	return ft;
fail:
	if (section)
		mailimap_section_free(section);
	if (ft)
		mailimap_fetch_type_free(ft);
	return NULL;
}

/* Runs UID FETCH with the handlers installed; frees set and ft. */
int imap_uid_fetch(struct imap_store *st, struct mailimap_set *set, struct mailimap_fetch_type *ft,
		   mailimap_msg_att_handler *att, mailimap_msg_body_handler *body, void *ctx)
{
	clist *result = NULL;
	int r;

	imap_handlers_on(st->imap, att, body, ctx);
	r = mailimap_uid_fetch(st->imap, set, ft, &result);
	imap_handlers_off(st->imap);
	if (result)
		mailimap_fetch_list_free(result); /* empty: the handler took every response */
	mailimap_set_free(set);
	mailimap_fetch_type_free(ft);
	return r;
}
