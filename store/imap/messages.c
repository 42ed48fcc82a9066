/* IMAP messages of the selected folder: listing, identity, bodies, APPEND,
 * flags, expunge and moves.
 *
 * Large answers are streamed: libetpan calls a msg_att handler per FETCH
 * response and a body handler per chunk of a literal, so neither a 100k
 * listing nor a 50 MB body is ever held whole. Both handlers are
 * session-wide and 1.9.4 ignores them unless a progress callback is set too
 * (libetpan.md, section 4); they are installed only around the command that
 * needs them. */
#include "store/imap/session.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/fdio.h"
#include "store/flags.h"
#include "store/identity.h"
#include "store/imap/utf7.h"
#include "store/log.h"

/* Uids per UID FETCH of headers and of bodies: a failed command loses at
 * most that much work. */
#define IDENTIFY_BATCH 500
#define FETCH_BATCH    200
/* Ranges per command: keeps a command line of scattered uids well under
 * the 64 KiB servers accept (Dovecot's limit). */
#define SET_MAX_RANGES 1000
/* Uids per UID MOVE or UID COPY: what one failed command leaves unsure. */
#define MOVE_BATCH 1000

/* ---- helpers ---------------------------------------------------------- */

static void no_progress(size_t current, size_t maximum, void *ctx)
{
	(void)current;
	(void)maximum;
	(void)ctx;
}

static void handlers_on(mailimap *imap, mailimap_msg_att_handler *att,
			mailimap_msg_body_handler *body, void *ctx)
{
	/* Without a progress callback 1.9.4 takes the parser path that never
	 * calls the handlers. */
	mailimap_set_progress_callback(imap, no_progress, no_progress, NULL);
	mailimap_set_msg_att_handler(imap, att, ctx);
	mailimap_set_msg_body_handler(imap, body, ctx);
}

static void handlers_off(mailimap *imap)
{
	mailimap_set_msg_att_handler(imap, NULL, NULL);
	mailimap_set_msg_body_handler(imap, NULL, NULL);
	mailimap_set_progress_callback(imap, NULL, NULL, NULL);
}

/* imap_need_selected, after the answers to APPENDs in flight: a command sent
 * now would take their tagged answers for its own. The engine flushes before
 * anything else; this keeps the session in step for a caller that does not. */
static int need_selected(struct imap_store *st, const char *what, struct ferry_error *err)
{
	if (imap_appends_settle(st, err) != 0)
		return -1;
	return imap_need_selected(st, what, err);
}

static int cmp_uid(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* A sorted copy of uids[0..n) without zeros and duplicates (caller frees),
 * or NULL on allocation failure. */
static uint32_t *sorted_uids(const uint32_t *uids, size_t n, size_t *out_n)
{
	uint32_t *v = malloc((n + 1) * sizeof(*v));
	size_t k = 0;

	if (!v)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (uids[i])
			v[k++] = uids[i];
	qsort(v, k, sizeof(*v), cmp_uid);
	*out_n = 0;
	for (size_t i = 0; i < k; i++)
		if (*out_n == 0 || v[*out_n - 1] != v[i])
			v[(*out_n)++] = v[i];
	return v;
}

static bool uid_in(const uint32_t *sorted, size_t n, uint32_t uid, size_t *at)
{
	const uint32_t *p = bsearch(&uid, sorted, n, sizeof(*sorted), cmp_uid);

	if (p && at)
		*at = (size_t)(p - sorted);
	return p != NULL;
}

/* A set of ranges ("1:5,9,12:14") from sorted unique uids, taking at most
 * max_uids uids and max_ranges ranges; *used says how many it took. */
static struct mailimap_set *uid_set(const uint32_t *uids, size_t n, size_t max_uids,
				    size_t max_ranges, size_t *used)
{
	struct mailimap_set *set = mailimap_set_new_empty();
	size_t i = 0, ranges = 0;

	if (!set)
		return NULL;
	while (i < n && i < max_uids && ranges < max_ranges) {
		size_t j = i;

		while (j + 1 < n && j + 1 < max_uids && uids[j + 1] == uids[j] + 1)
			j++;
		if (mailimap_set_add_interval(set, uids[i], uids[j]) != MAILIMAP_NO_ERROR) {
			mailimap_set_free(set);
			return NULL;
		}
		ranges++;
		i = j + 1;
	}
	*used = i;
	return set;
}

/* The items of one FETCH response ferry reads. */
struct fetched {
	uint32_t uid;
	bool has_uid, has_flags, has_size, has_date;
	clist *flags; /* of struct mailimap_flag_fetch; may be NULL for "FLAGS ()" */
	uint32_t size;
	const struct mailimap_date_time *date;
	const struct mailimap_msg_att_body_section *body;
};

static void read_items(const struct mailimap_msg_att *att, struct fetched *f)
{
	*f = (struct fetched){0};
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

/* Appends a word and a space to a growing keyword buffer; -1 on allocation
 * failure. */
static int words_add(char **buf, size_t *len, size_t *cap, const char *w, size_t n)
{
	if (*len + n + 2 > *cap) {
		size_t c = *cap ? *cap * 2 : 64;
		char *b;

		while (c < *len + n + 2)
			c *= 2;
		b = realloc(*buf, c);
		if (!b)
			return -1;
		*buf = b;
		*cap = c;
	}
	memcpy(*buf + *len, w, n);
	*len += n;
	(*buf)[(*len)++] = ' ';
	(*buf)[*len] = '\0';
	return 0;
}

/* Flag bits and the normalised keyword set (NULL when none) of a FETCH
 * FLAGS list. \Recent and system flags ferry does not manage are ignored,
 * and so are keywords that are not valid atoms. -1 on allocation failure. */
static int read_flags(clist *list, unsigned *flags, char **keywords)
{
	static const struct {
		int type;
		unsigned bit;
	} system[] = {
	    {MAILIMAP_FLAG_ANSWERED, MF_ANSWERED}, {MAILIMAP_FLAG_FLAGGED, MF_FLAGGED},
	    {MAILIMAP_FLAG_DELETED, MF_DELETED},   {MAILIMAP_FLAG_SEEN, MF_SEEN},
	    {MAILIMAP_FLAG_DRAFT, MF_DRAFT},
	};
	char *buf = NULL;
	size_t len = 0, cap = 0;
	bool oom = false;

	*flags = 0;
	*keywords = NULL;
	for (clistiter *it = list ? clist_begin(list) : NULL; it; it = clist_next(it)) {
		const struct mailimap_flag_fetch *ff = clist_content(it);
		const struct mailimap_flag *fl = ff->fl_flag;

		if (ff->fl_type != MAILIMAP_FLAG_FETCH_OTHER || !fl)
			continue;
		for (size_t i = 0; i < sizeof(system) / sizeof(system[0]); i++)
			if (fl->fl_type == system[i].type)
				*flags |= system[i].bit;
		if (fl->fl_type == MAILIMAP_FLAG_KEYWORD && fl->fl_data.fl_keyword) {
			const char *kw = fl->fl_data.fl_keyword;
			unsigned bit = flag_from_imap(kw); /* $Forwarded */

			if (bit)
				*flags |= bit;
			else if (kw_valid(kw, strlen(kw)) &&
				 words_add(&buf, &len, &cap, kw, strlen(kw)) != 0)
				goto oom;
		}
	}
	if (buf) {
		*keywords = kw_normalize(buf, &oom);
		free(buf);
		if (oom)
			return -1;
	}
	return 0;
oom:
	free(buf);
	return -1;
}

static int64_t date_to_epoch(const struct mailimap_date_time *d)
{
	struct tm tm = {
	    .tm_year = d->dt_year - 1900,
	    .tm_mon = d->dt_month - 1,
	    .tm_mday = d->dt_day,
	    .tm_hour = d->dt_hour,
	    .tm_min = d->dt_min,
	    .tm_sec = d->dt_sec,
	};
	/* The zone is the +HHMM value as a decimal number: -530 is -05:30. */
	int zone = d->dt_zone < 0 ? -d->dt_zone : d->dt_zone;
	int64_t offset = (int64_t)(zone / 100) * 3600 + (int64_t)(zone % 100) * 60;

	return (int64_t)timegm(&tm) - (d->dt_zone < 0 ? -offset : offset);
}

/* ---- list ------------------------------------------------------------- */

/* A FETCH response of the listing. A server may split one message's items
 * over several responses, and other sessions' flag changes arrive as
 * unsolicited FETCH responses: entries are merged by uid afterwards. */
struct entry {
	struct msg m;
	uint32_t arrival;
	bool has_flags, has_size, has_date;
};

struct listing {
	struct entry *v;
	size_t n, cap;
	bool oom;
	bool without_uid; /* an answer carried RFC822.SIZE but no UID */
};

static void listing_free(struct listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].m.keywords);
	free(l->v);
	*l = (struct listing){0};
}

static void on_list_att(struct mailimap_msg_att *att, void *ctx)
{
	struct listing *l = ctx;
	struct fetched f;
	struct entry e = {0};

	read_items(att, &f);
	if (!f.has_uid) {
		/* Another session's flag change (by sequence number) is harmless;
		 * an answer to UID FETCH without its UID loses a message. */
		if (f.has_size || f.has_date)
			l->without_uid = true;
		return;
	}
	if (l->oom)
		return;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		struct entry *v = realloc(l->v, cap * sizeof(*v));

		if (!v) {
			l->oom = true;
			return;
		}
		l->v = v;
		l->cap = cap;
	}
	e.m.uid = f.uid;
	e.arrival = (uint32_t)l->n;
	e.has_flags = f.has_flags;
	e.has_size = f.has_size;
	e.has_date = f.has_date;
	e.m.size = f.size;
	if (f.has_date)
		e.m.date = date_to_epoch(f.date);
	if (f.has_flags && read_flags(f.flags, &e.m.flags, &e.m.keywords) != 0) {
		l->oom = true;
		return;
	}
	l->v[l->n++] = e;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->m.uid != y->m.uid)
		return (x->m.uid > y->m.uid) - (x->m.uid < y->m.uid);
	return (x->arrival > y->arrival) - (x->arrival < y->arrival);
}

/* Merges the responses of one uid (sorted by uid, then arrival) into
 * l->v[0..*kept): the latest flags win. Rejects what a complete and honest
 * listing cannot contain (rule 5); uidnext 0 means the server did not say. */
static int merge_listing(struct listing *l, uint32_t uidnext, const char *folder, size_t *kept,
			 struct ferry_error *err)
{
	size_t k = 0;

	for (size_t i = 0; i < l->n; i++) {
		struct entry *e = &l->v[i];

		if (k && l->v[k - 1].m.uid == e->m.uid) {
			struct entry *to = &l->v[k - 1];

			if (e->has_size && to->has_size)
				return ferry_error_set(
				    err, FERRY_CAUSE_PROTOCOL,
				    "folder \"%s\": the server listed uid %u twice "
				    "(or a uid above 2^32 wrapped around); not "
				    "trusting this listing",
				    folder, e->m.uid);
			if (e->has_flags) {
				free(to->m.keywords);
				to->m.flags = e->m.flags;
				to->m.keywords = e->m.keywords;
				e->m.keywords = NULL;
				to->has_flags = true;
			}
			if (e->has_size) {
				to->m.size = e->m.size;
				to->has_size = true;
			}
			if (e->has_date) {
				to->m.date = e->m.date;
				to->has_date = true;
			}
			continue;
		}
		if (k != i) {
			l->v[k] = *e;
			e->m.keywords = NULL;
		}
		k++;
	}
	/* Entries k..n only hold NULL keywords now; listing_free stays right. */
	l->n = k;
	*kept = 0;
	for (size_t i = 0; i < k; i++) {
		struct entry *e = &l->v[i];

		if (e->m.uid == 0)
			return ferry_error_set(
			    err, FERRY_CAUSE_PROTOCOL,
			    "folder \"%s\": the server listed uid 0; not trusting "
			    "this listing",
			    folder);
		if (uidnext && e->m.uid >= uidnext) {
			if (!e->has_size) {
				/* Another session's flag change on a message that arrived
				 * after SELECT: not part of this listing. */
				free(e->m.keywords);
				e->m.keywords = NULL;
				continue;
			}
			return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
					       "folder \"%s\": the server listed uid %u, not below "
					       "UIDNEXT %u (a uid above 2^32 wrapped around?); not "
					       "trusting this listing",
					       folder, e->m.uid, uidnext);
		}
		if (!e->has_size || !e->has_flags || !e->has_date)
			return ferry_error_set(
			    err, FERRY_CAUSE_PROTOCOL,
			    "folder \"%s\": the server's answer for uid %u lacks "
			    "%s; not trusting this listing",
			    folder, e->m.uid,
			    !e->has_size    ? "RFC822.SIZE"
			    : !e->has_flags ? "FLAGS"
					    : "INTERNALDATE");
		if (*kept != i) {
			l->v[*kept] = *e;
			e->m.keywords = NULL;
		}
		(*kept)++;
	}
	l->n = *kept;
	return 0;
}

/* A listing's answers, checked (rule 5), sorted by uid and merged into
 * l->v[0..*kept). */
static int settle_listing(struct listing *l, uint32_t uidnext, const char *folder, size_t *kept,
			  struct ferry_error *err)
{
	if (l->oom)
		return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
				       "folder \"%s\": listing messages: out of memory", folder);
	if (l->without_uid)
		return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
				       "folder \"%s\": the server answered UID FETCH without UIDs; "
				       "not trusting this listing",
				       folder);
	if (l->n)
		qsort(l->v, l->n, sizeof(*l->v), cmp_entry);
	return merge_listing(l, uidnext, folder, kept, err);
}

static struct mailimap_fetch_type *fetch_type(struct mailimap_fetch_att *(*const atts[])(void),
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
static int uid_fetch(struct imap_store *st, struct mailimap_set *set,
		     struct mailimap_fetch_type *ft, mailimap_msg_att_handler *att,
		     mailimap_msg_body_handler *body, void *ctx)
{
	clist *result = NULL;
	int r;

	handlers_on(st->imap, att, body, ctx);
	r = mailimap_uid_fetch(st->imap, set, ft, &result);
	handlers_off(st->imap);
	if (result)
		mailimap_fetch_list_free(result); /* empty: the handler took every response */
	mailimap_set_free(set);
	mailimap_fetch_type_free(ft);
	return r;
}

/* What a listing asks for: UID FLAGS RFC822.SIZE INTERNALDATE of
 * 1:UIDNEXT-1 rather than 1:*, so the listing is exactly what SELECT saw
 * (plus what ferry appended since), and mail arriving meanwhile is not
 * confused with a wrapped uid. */
static int listing_request(struct imap_store *st, struct mailimap_set **set,
			   struct mailimap_fetch_type **ft, struct ferry_error *err)
{
	static struct mailimap_fetch_att *(*const atts[])(void) = {
	    mailimap_fetch_att_new_uid,
	    mailimap_fetch_att_new_flags,
	    mailimap_fetch_att_new_rfc822_size,
	    mailimap_fetch_att_new_internaldate,
	};

	*set = mailimap_set_new_interval(1, st->uidnext > 1 ? st->uidnext - 1 : 0);
	*ft = fetch_type(atts, sizeof(atts) / sizeof(atts[0]), NULL);
	if (*set && *ft)
		return 0;
	if (*set)
		mailimap_set_free(*set);
	if (*ft)
		mailimap_fetch_type_free(*ft);
	return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
}

int imap_list(struct store *store, struct msg_list *out, struct ferry_error *err)
{
	struct imap_store *st = (struct imap_store *)store;
	struct listing l = {0};
	struct mailimap_fetch_type *ft;
	struct mailimap_set *set;
	size_t kept = 0;
	int r;

	if (need_selected(st, "listing messages", err) != 0)
		return -1;
	/* Nothing to ask for; an empty answer would say the same. A server that
	 * sent no EXISTS at all is asked anyway (rule 5). */
	if (st->exists_known && st->exists == 0)
		return 0;
	if (listing_request(st, &set, &ft, err) != 0)
		return -1;
	r = uid_fetch(st, set, ft, on_list_att, NULL, &l);
	if (r != MAILIMAP_NO_ERROR) {
		listing_free(&l);
		return imap_fail(st, r, err, "folder \"%s\": listing messages (UID FETCH)",
				 st->selected);
	}
	if (settle_listing(&l, st->uidnext, st->selected, &kept, err) != 0) {
		listing_free(&l);
		return -1;
	}
	if (out->n + kept > out->cap) {
		size_t cap = out->n + kept;
		struct msg *v = realloc(out->v, (cap + 1) * sizeof(*v));

		if (!v) {
			listing_free(&l);
			return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		}
		out->v = v;
		out->cap = cap;
	}
	for (size_t i = 0; i < kept; i++) {
		out->v[out->n++] = l.v[i].m; /* keywords change owner */
		l.v[i].m.keywords = NULL;
	}
	listing_free(&l);
	return 0;
}

/* Appends the ranges of a VANISHED set; -1 on allocation failure. */
static int vanished_add(const struct mailimap_set *set, uint32_t **v, size_t *n, size_t *cap)
{
	for (clistiter *it = set && set->set_list ? clist_begin(set->set_list) : NULL; it;
	     it = clist_next(it)) {
		const struct mailimap_set_item *item = clist_content(it);
		uint32_t a = item->set_first, b = item->set_last;

		if (*n == *cap) {
			size_t c = *cap ? *cap * 2 : 16;
			uint32_t *nv = realloc(*v, 2 * c * sizeof(**v));

			if (!nv)
				return -1;
			*v = nv;
			*cap = c;
		}
		/* "*" is 0 in libetpan; a range means the same either way round. */
		(*v)[2 * *n] = a < b || b == 0 ? a : b;
		(*v)[2 * *n + 1] = b == 0 ? UINT32_MAX : (a < b ? b : a);
		(*n)++;
	}
	return 0;
}

/* Every VANISHED of the last response, from its extension data. */
static int vanished_all(mailimap *imap, uint32_t **vanished, size_t *nranges, size_t *cap)
{
	const struct mailimap_response_info *info = imap->imap_response_info;
	bool oom = false;

	for (clistiter *it =
		 info && info->rsp_extension_list ? clist_begin(info->rsp_extension_list) : NULL;
	     it; it = clist_next(it)) {
		const struct mailimap_extension_data *ext = clist_content(it);

		if (ext && ext->ext_extension &&
		    ext->ext_extension->ext_id == MAILIMAP_EXTENSION_QRESYNC &&
		    ext->ext_type == MAILIMAP_QRESYNC_TYPE_VANISHED && ext->ext_data) {
			const struct mailimap_qresync_vanished *v = ext->ext_data;

			oom |= vanished_add(v->qr_known_uids, vanished, nranges, cap) != 0;
		}
	}
	return oom ? -1 : 0;
}

/* Checks a changes listing (rule 5) and hands its messages to changed; on
 * failure also drops the VANISHED ranges. Frees l either way. */
static int take_changes(struct listing *l, uint32_t uidnext, const char *folder,
			struct msg_list *changed, uint32_t **vanished, size_t *nranges,
			struct ferry_error *err)
{
	size_t kept = 0;
	int r = settle_listing(l, uidnext, folder, &kept, err);

	for (size_t i = 0; r == 0 && i < kept; i++)
		if (msg_list_push(changed, &l->v[i].m) != 0)
			r = ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	listing_free(l);
	if (r != 0) {
		free(*vanished);
		*vanished = NULL;
		*nranges = 0;
	}
	return r;
}

int imap_list_changed(struct store *store, uint64_t since, struct msg_list *changed,
		      uint32_t **vanished, size_t *nranges, struct ferry_error *err)
{
	struct imap_store *st = (struct imap_store *)store;
	struct mailimap_qresync_vanished *first = NULL;
	struct listing l = {0};
	struct mailimap_fetch_type *ft;
	struct mailimap_set *set;
	clist *result = NULL;
	size_t cap = 0;
	bool oom = false;
	int r;

	*vanished = NULL;
	*nranges = 0;
	if (st->selected && imap_prefetched_changes(st, since, changed, vanished, nranges) == 0)
		return 0;
	if (need_selected(st, "listing changes", err) != 0)
		return -1;
	if (!st->qresync || since == 0)
		return 1;
	if (st->uidnext <= 1)
		return 0; /* nothing was ever here */
	if (listing_request(st, &set, &ft, err) != 0)
		return -1;
	handlers_on(st->imap, on_list_att, NULL, &l);
	r = mailimap_uid_fetch_qresync(st->imap, set, ft, since, &result, &first);
	handlers_off(st->imap);
	if (result)
		mailimap_fetch_list_free(result);
	mailimap_set_free(set);
	mailimap_fetch_type_free(ft);
	if (r != MAILIMAP_NO_ERROR) {
		if (first)
			mailimap_qresync_vanished_free(first);
		listing_free(&l);
		return imap_fail(st, r, err,
				 "folder \"%s\": listing changes (UID FETCH CHANGEDSINCE VANISHED)",
				 st->selected);
	}
	/* libetpan hands over the first VANISHED; any further ones are still
	 * in the response's extension data. */
	if (first) {
		oom |= vanished_add(first->qr_known_uids, vanished, nranges, &cap) != 0;
		mailimap_qresync_vanished_free(first);
	}
	oom |= vanished_all(st->imap, vanished, nranges, &cap) != 0;
	l.oom |= oom;
	return take_changes(&l, st->uidnext, st->selected, changed, vanished, nranges, err);
}

int imap_read_changes(struct imap_store *st, int tag, uint32_t uidnext, const char *folder,
		      struct msg_list *changed, uint32_t **vanished, size_t *nranges,
		      struct ferry_error *err)
{
	struct listing l = {0};
	size_t cap = 0;
	bool ok = false;
	int r;

	*vanished = NULL;
	*nranges = 0;
	handlers_on(st->imap, on_list_att, NULL, &l);
	r = imap_parse_answer(st, tag, &ok);
	handlers_off(st->imap);
	if (r != MAILIMAP_NO_ERROR || !ok) {
		listing_free(&l);
		/* A BAD is what a FETCH gets after its SELECT failed. */
		if (r == MAILIMAP_NO_ERROR || r == MAILIMAP_ERROR_PROTOCOL)
			return 1;
		return imap_fail(st, r, err, "folder \"%s\": listing changes", folder);
	}
	if (vanished_all(st->imap, vanished, nranges, &cap) != 0)
		l.oom = true;
	/* Arrived between the SELECT and the FETCH: the SELECT's counts do not
	 * include them, and the next run lists them. */
	for (size_t i = 0; uidnext && i < l.n; i++)
		if (l.v[i].m.uid >= uidnext)
			l.v[i].has_size = false;
	return take_changes(&l, uidnext, folder, changed, vanished, nranges, err);
}

/* ---- identify --------------------------------------------------------- */

struct wanted {
	uint32_t uid;
	size_t index; /* into msgs */
};

struct identify {
	struct msg *msgs;
	const struct wanted *want; /* sorted by uid */
	size_t nwant;
	bool sizes;  /* RFC822.SIZE asked for too: it replaces msgs[].size */
	bool failed; /* OpenSSL failed */
};

static int cmp_wanted(const void *a, const void *b)
{
	const struct wanted *x = a, *y = b;

	return (x->uid > y->uid) - (x->uid < y->uid);
}

static void on_header_att(struct mailimap_msg_att *att, void *ctx)
{
	struct identify *c = ctx;
	struct wanted key, *w;
	struct fetched f;
	struct ident id;
	struct msg_id out;

	read_items(att, &f);
	if (!f.uid || !f.body || !f.body->sec_body_part)
		return; /* a flag change, or NIL: not an identity */
	key.uid = f.uid;
	w = bsearch(&key, c->want, c->nwant, sizeof(*c->want), cmp_wanted);
	if (!w)
		return;
	if (ident_init(&id) != 0) {
		c->failed = true;
		return;
	}
	if (ident_feed(&id, f.body->sec_body_part, f.body->sec_length) != 0) {
		ident_discard(&id);
		c->failed = true;
		return;
	}
	if (ident_final(&id, &out, NULL) != 0) {
		c->failed = true;
		return;
	}
	out.known = true;
	c->msgs[w->index].id = out; /* size stays the listing's RFC822.SIZE */
	if (c->sizes && f.has_size)
		c->msgs[w->index].size = f.size;
}

/* Fills the ids of msgs that lack one from their headers, and with sizes
 * their sizes too, in one UID FETCH per IDENTIFY_BATCH uids. */
static int identify_msgs(struct imap_store *st, struct msg *msgs, size_t n, bool sizes,
			 struct ferry_error *err)
{
	static struct mailimap_fetch_att *(*const atts[])(void) = {
	    mailimap_fetch_att_new_uid, mailimap_fetch_att_new_rfc822_size};
	size_t natts = sizes ? 2 : 1;
	struct wanted *want;
	uint32_t *uids;
	size_t nwant = 0;
	int r = 0;

	if (need_selected(st, "reading message headers", err) != 0)
		return -1;
	want = malloc((n + 1) * sizeof(*want));
	uids = malloc((n + 1) * sizeof(*uids));
	if (!want || !uids) {
		free(want);
		free(uids);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		if (!msgs[i].id.known && msgs[i].uid)
			want[nwant++] = (struct wanted){msgs[i].uid, i};
	qsort(want, nwant, sizeof(*want), cmp_wanted);
	for (size_t i = 0; i < nwant; i++)
		uids[i] = want[i].uid;
	for (size_t done = 0; done < nwant;) {
		struct identify c = {.msgs = msgs, .want = want, .nwant = nwant, .sizes = sizes};
		struct mailimap_section *section = mailimap_section_new_header();
		struct mailimap_fetch_type *ft = section ? fetch_type(atts, natts, section) : NULL;
		size_t used = 0;
		struct mailimap_set *set =
		    uid_set(uids + done, nwant - done, IDENTIFY_BATCH, SET_MAX_RANGES, &used);

		if (!ft || !set) {
			if (ft)
				mailimap_fetch_type_free(ft);
			if (set)
				mailimap_set_free(set);
			r = ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
			break;
		}
		r = uid_fetch(st, set, ft, on_header_att, NULL, &c);
		if (r != MAILIMAP_NO_ERROR) {
			r = imap_fail(
			    st, r, err,
			    "folder \"%s\": reading the headers of %zu messages from uid %u",
			    st->selected, used, uids[done]);
			break;
		}
		if (c.failed) {
			r = ferry_error_set(
			    err, FERRY_CAUSE_PROTOCOL,
			    "folder \"%s\": hashing message headers failed (OpenSSL)",
			    st->selected);
			break;
		}
		done += used;
	}
	/* A uid that did not come back is gone (rule 12): its id stays unknown. */
	free(want);
	free(uids);
	return r;
}

int imap_identify(struct store *store, struct msg *msgs, size_t n, struct ferry_error *err)
{
	return identify_msgs((struct imap_store *)store, msgs, n, false, err);
}

/* ---- fetch ------------------------------------------------------------ */

struct bodies {
	struct imap_store *st;
	const struct fetch_sink *sink;
	const uint32_t *batch; /* sorted uids asked for in this command */
	bool *answered;	       /* per batch uid: delivered, or told undelivered */
	size_t nbatch;
	bool begun;  /* sink->begin called, end/abort not yet */
	bool failed; /* the sink failed: stop delivering */
	uint32_t failed_uid;
	size_t unasked;	      /* bodies the server sent that were not asked for */
	uint32_t unasked_uid; /* the last of them */
	struct ferry_error sink_err;
};

static bool on_body_chunk(int type, struct mailimap_msg_att_body_section *section,
			  const char *bytes, size_t len, void *ctx)
{
	struct bodies *c = ctx;

	(void)type;
	(void)section;
	if (c->failed)
		return false; /* aborts the parse: the session is lost, as it must be */
	if (!c->begun) {
		if (c->sink->begin(c->sink->ctx, &c->sink_err) != 0) {
			c->failed = true;
			return false;
		}
		c->begun = true;
	}
	if (len && c->sink->write(c->sink->ctx, bytes, len, &c->sink_err) != 0) {
		c->failed = true;
		return false;
	}
	return true;
}

/* The end of a FETCH response: the body (if any) is complete and its uid
 * is known at last. */
static void on_body_att(struct mailimap_msg_att *att, void *ctx)
{
	struct bodies *c = ctx;
	struct fetched f;
	size_t at = 0;
	bool wanted;

	read_items(att, &f);
	if (!f.body) {
		/* Another session's flag change; a body is never split from it. */
		if (c->begun) {
			c->sink->abort(c->sink->ctx);
			c->begun = false;
		}
		return;
	}
	wanted = f.uid && uid_in(c->batch, c->nbatch, f.uid, &at) && !c->answered[at];
	if (!wanted || !f.body->sec_body_part || c->failed) {
		/* Not asked for, a second copy, or NIL: nothing is delivered. */
		if (c->begun)
			c->sink->abort(c->sink->ctx);
		c->begun = false;
		if (!wanted) {
			c->unasked++;
			c->unasked_uid = f.uid;
		} else if (!c->failed) {
			/* Rule 17: an answer, but not the message. */
			c->answered[at] = true;
			c->sink->undelivered(c->sink->ctx, f.uid, "the server sent BODY[] NIL");
		}
		return;
	}
	if (!c->begun && c->sink->begin(c->sink->ctx, &c->sink_err) != 0) {
		/* An empty body: no chunk came, so begin was not called yet. */
		c->failed = true;
		c->failed_uid = f.uid;
		return;
	}
	c->begun = false;
	if (c->sink->end(c->sink->ctx, f.uid, &c->sink_err) != 0) {
		c->failed = true;
		c->failed_uid = f.uid;
		return;
	}
	c->answered[at] = true;
}

/* Rule 17: a uid the command's OK came without a body for (no FETCH
 * response, one without BODY[], or its body under another uid) did not
 * arrive; it may be gone, or the server may have failed to read it. */
static void report_missing(struct bodies *c)
{
	char why[160];

	if (c->unasked == 1)
		snprintf(why, sizeof(why),
			 "no body came for it (the server answered OK, and sent one under uid %u, "
			 "not asked for)",
			 c->unasked_uid);
	else if (c->unasked)
		snprintf(why, sizeof(why),
			 "no body came for it (the server answered OK, and sent %zu under uids not "
			 "asked for, the last under uid %u)",
			 c->unasked, c->unasked_uid);
	else
		snprintf(why, sizeof(why), "no body came for it (the server answered OK)");
	for (size_t i = 0; i < c->nbatch; i++)
		if (!c->answered[i])
			c->sink->undelivered(c->sink->ctx, c->batch[i], why);
}

static int fetch_batch(struct imap_store *st, const uint32_t *uids, size_t n,
		       const struct fetch_sink *sink, size_t *used, struct ferry_error *err)
{
	static struct mailimap_fetch_att *(*const atts[])(void) = {mailimap_fetch_att_new_uid};
	struct bodies c = {.st = st, .sink = sink, .batch = uids};
	struct mailimap_section *section = mailimap_section_new(NULL); /* BODY.PEEK[] */
	struct mailimap_fetch_type *ft =
	    section ? fetch_type(atts, sizeof(atts) / sizeof(atts[0]), section) : NULL;
	struct mailimap_set *set = uid_set(uids, n, FETCH_BATCH, SET_MAX_RANGES, used);
	int r;

	c.nbatch = *used;
	c.answered = calloc(*used + 1, sizeof(*c.answered));
	if (!ft || !set || !c.answered) {
		if (ft)
			mailimap_fetch_type_free(ft);
		if (set)
			mailimap_set_free(set);
		free(c.answered);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	r = uid_fetch(st, set, ft, on_body_att, on_body_chunk, &c);
	if (c.begun) {
		/* Cut off inside a literal: the partial message is dropped. */
		sink->abort(sink->ctx);
		c.begun = false;
	}
	if (r == MAILIMAP_NO_ERROR && !c.failed)
		report_missing(&c);
	free(c.answered);
	if (c.unasked)
		log_warn("folder \"%s\": ignored %zu message(s) the server sent unasked",
			 st->selected, c.unasked);
	if (c.failed) {
		bool lost = r != MAILIMAP_NO_ERROR;

		if (c.failed_uid)
			ferry_error_set(err, FERRY_CAUSE_PROTOCOL, "folder \"%s\": uid %u: %s",
					st->selected, c.failed_uid, c.sink_err.msg);
		else
			ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
					"folder \"%s\": storing a message: %s%s", st->selected,
					c.sink_err.msg,
					lost ? " (the IMAP session had to be given up)" : "");
		/* A sink that failed inside a body made libetpan stop reading
		 * (MAILIMAP_ERROR_MEMORY): the rest of the answer is unread. This
		 * comes last, as it forgets the selected folder. */
		if (lost)
			imap_fail(st, r, NULL, "fetch aborted");
		return -1;
	}
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(st, r, err, "folder \"%s\": fetching %zu messages from uid %u",
				 st->selected, *used, uids[0]);
	return 0;
}

int imap_fetch(struct store *store, const uint32_t *uids, size_t n, const struct fetch_sink *sink,
	       struct ferry_error *err)
{
	struct imap_store *st = (struct imap_store *)store;
	uint32_t *sorted;
	size_t count = 0;
	int r = 0;

	if (need_selected(st, "fetching messages", err) != 0)
		return -1;
	sorted = sorted_uids(uids, n, &count);
	if (!sorted)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	for (size_t done = 0; done < count && r == 0;) {
		size_t used = 0;

		r = fetch_batch(st, sorted + done, count - done, sink, &used, err);
		done += used;
	}
	free(sorted);
	return r;
}

/* ---- flags ------------------------------------------------------------ */

/* The next space-separated word of a keyword set at *p, or 0 at the end. */
static size_t next_word(const char **p, const char **word)
{
	size_t len;

	while (**p == ' ')
		(*p)++;
	len = strcspn(*p, " ");
	*word = *p;
	*p += len;
	return len;
}

/* The flag bit of a word ("$Forwarded" may come as a keyword), or 0. */
static unsigned word_flag(const char *w, size_t len)
{
	for (size_t i = 0; i < flag_table_len; i++)
		if (strlen(flag_table[i].imap) == len &&
		    strncasecmp(flag_table[i].imap, w, len) == 0)
			return flag_table[i].bit;
	return 0;
}

/* Whether every word of a keyword set is a valid atom; *bad is the first
 * that is not. */
static bool keywords_valid(const char *set, const char **bad, size_t *badlen)
{
	const char *w;
	size_t len;

	for (const char *p = set ? set : ""; (len = next_word(&p, &w)) > 0;)
		if (!kw_valid(w, len)) {
			*bad = w;
			*badlen = len;
			return false;
		}
	return true;
}

/* Adds a flag by its IMAP name: "\Seen" as the extension flag "Seen", which
 * libetpan sends as \Seen; anything else as a keyword. -1 on allocation
 * failure. */
static int flag_list_add_named(struct mailimap_flag_list *list, const char *name, size_t len)
{
	bool system = name[0] == '\\';
	char *s = strndup(name + system, len - system);
	struct mailimap_flag *f = NULL;

	if (s)
		f = system ? mailimap_flag_new_flag_extension(s)
			   : mailimap_flag_new_flag_keyword(s);
	if (!f) {
		free(s);
		return -1;
	}
	if (mailimap_flag_list_add(list, f) != MAILIMAP_NO_ERROR) {
		mailimap_flag_free(f); /* frees s */
		return -1;
	}
	return 0;
}

/* A flag list for flags and keywords (validated by the caller), or NULL on
 * allocation failure. */
static struct mailimap_flag_list *flag_list(unsigned flags, const char *keywords)
{
	struct mailimap_flag_list *list = mailimap_flag_list_new_empty();
	const char *w;
	size_t len;

	if (!list)
		return NULL;
	for (const char *p = keywords ? keywords : ""; (len = next_word(&p, &w)) > 0;)
		flags |= word_flag(w, len);
	for (size_t i = 0; i < flag_table_len; i++)
		if ((flags & flag_table[i].bit) &&
		    flag_list_add_named(list, flag_table[i].imap, strlen(flag_table[i].imap)) != 0)
			goto fail;
	for (const char *p = keywords ? keywords : ""; (len = next_word(&p, &w)) > 0;)
		if (!word_flag(w, len) && flag_list_add_named(list, w, len) != 0)
			goto fail;
	return list;
fail:
	mailimap_flag_list_free(list);
	return NULL;
}

static bool flag_list_empty(const struct mailimap_flag_list *list)
{
	return !list->fl_list || clist_count(list->fl_list) == 0;
}

/* UID STORE <set> +FLAGS.SILENT or -FLAGS.SILENT, in commands of at most
 * SET_MAX_RANGES ranges. Never absolute FLAGS: a concurrent change by
 * another client to other flags must survive (rule 9). */
static int store_flags(struct imap_store *st, const uint32_t *uids, size_t n, bool add,
		       unsigned flags, const char *keywords, struct ferry_error *err)
{
	for (size_t done = 0; done < n;) {
		/* The store_att takes the list, and is freed per command. */
		struct mailimap_flag_list *list = flag_list(flags, keywords);
		struct mailimap_store_att_flags *att = NULL;
		struct mailimap_set *set = NULL;
		size_t used = 0;
		int r;

		if (list && flag_list_empty(list)) {
			mailimap_flag_list_free(list);
			return 0;
		}
		if (list) {
			att = add ? mailimap_store_att_flags_new_add_flags_silent(list)
				  : mailimap_store_att_flags_new_remove_flags_silent(list);
			if (!att)
				mailimap_flag_list_free(list);
		}
		if (att)
			set = uid_set(uids + done, n - done, n - done, SET_MAX_RANGES, &used);
		if (!set) {
			if (att)
				mailimap_store_att_flags_free(att);
			return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		}
		r = mailimap_uid_store(st->imap, set, att);
		mailimap_set_free(set);
		mailimap_store_att_flags_free(att);
		if (r != MAILIMAP_NO_ERROR)
			return imap_fail(
			    st, r, err, "folder \"%s\": %s flags on %zu messages from uid %u",
			    st->selected, add ? "adding" : "removing", used, uids[done]);
		done += used;
	}
	return 0;
}

static int check_keywords(const char *set, const char *folder, struct ferry_error *err)
{
	const char *bad = NULL;
	size_t len = 0;

	if (keywords_valid(set, &bad, &len))
		return 0;
	return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
			       "folder \"%s\": \"%.*s\" is not a valid IMAP keyword", folder,
			       (int)(len > 200 ? 200 : len), bad);
}

int imap_set_flags(struct store *store, const uint32_t *uids, size_t n, unsigned add,
		   unsigned remove, const char *add_keywords, const char *remove_keywords,
		   struct ferry_error *err)
{
	struct imap_store *st = (struct imap_store *)store;
	uint32_t *sorted;
	size_t count = 0;
	int r = 0;

	if (need_selected(st, "changing flags", err) != 0)
		return -1;
	if (check_keywords(add_keywords, st->selected, err) != 0 ||
	    check_keywords(remove_keywords, st->selected, err) != 0)
		return -1;
	sorted = sorted_uids(uids, n, &count);
	if (!sorted)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	if (count && ((add & MF_ALL) || !kw_empty(add_keywords)))
		r = store_flags(st, sorted, count, true, add & MF_ALL, add_keywords, err);
	if (r == 0 && count && ((remove & MF_ALL) || !kw_empty(remove_keywords)))
		r = store_flags(st, sorted, count, false, remove & MF_ALL, remove_keywords, err);
	free(sorted);
	return r;
}

/* ---- delete ----------------------------------------------------------- */

/* Without UIDPLUS, EXPUNGE removes every \Deleted message, also those
 * another client marked: run it only if there are none (rule 10). */
static int expunge_without_uidplus(struct imap_store *st, const uint32_t *uids, size_t n,
				   struct ferry_error *err)
{
	struct mailimap_search_key *key = mailimap_search_key_new(
	    MAILIMAP_SEARCH_KEY_DELETED, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	    NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL);
	clist *found = NULL;
	size_t others = 0;
	uint32_t example = 0;
	int r;

	if (!key)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	r = mailimap_uid_search(st->imap, NULL, key, &found);
	mailimap_search_key_free(key);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(st, r, err, "folder \"%s\": UID SEARCH DELETED", st->selected);
	for (clistiter *it = found ? clist_begin(found) : NULL; it; it = clist_next(it)) {
		uint32_t *uid = clist_content(it);

		if (uid && !uid_in(uids, n, *uid, NULL)) {
			others++;
			example = *uid;
		}
	}
	if (found)
		mailimap_search_result_free(found);
	if (others)
		return ferry_error_set(
		    err, FERRY_CAUSE_PROTOCOL,
		    "folder \"%s\": not expunging: the server has no UIDPLUS and "
		    "%zu other message(s) (e.g. uid %u) are marked \\Deleted too; "
		    "ferry's %zu message(s) stay marked \\Deleted",
		    st->selected, others, example, n);
	r = mailimap_expunge(st->imap);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(st, r, err, "folder \"%s\": EXPUNGE", st->selected);
	return 0;
}

int imap_delete_msgs(struct store *store, const uint32_t *uids, size_t n, struct ferry_error *err)
{
	struct imap_store *st = (struct imap_store *)store;
	uint32_t *sorted;
	size_t count = 0;
	int r;

	if (need_selected(st, "deleting messages", err) != 0)
		return -1;
	sorted = sorted_uids(uids, n, &count);
	if (!sorted)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	r = count ? store_flags(st, sorted, count, true, MF_DELETED, NULL, err) : 0;
	if (r == 0 && count && !(st->base.caps & CAP_UIDPLUS))
		r = expunge_without_uidplus(st, sorted, count, err);
	for (size_t done = 0; r == 0 && count && (st->base.caps & CAP_UIDPLUS) && done < count;) {
		size_t used = 0;
		struct mailimap_set *set =
		    uid_set(sorted + done, count - done, count - done, SET_MAX_RANGES, &used);

		if (!set) {
			r = ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
			break;
		}
		r = mailimap_uid_expunge(st->imap, set);
		mailimap_set_free(set);
		if (r != MAILIMAP_NO_ERROR)
			r = imap_fail(st, r, err,
				      "folder \"%s\": UID EXPUNGE of %zu messages from uid %u",
				      st->selected, used, sorted[done]);
		done += used;
	}
	free(sorted);
	return r;
}

/* ---- move ------------------------------------------------------------- */

/* Whether a server name lies in another user's or a shared namespace: the
 * same test as folders.c applies to CREATE and SELECT. */
static bool foreign_mailbox(const struct imap_store *st, const char *name)
{
	size_t own = strlen(st->ns_prefix ? st->ns_prefix : "");

	for (char **p = st->ns_foreign; p && *p; p++) {
		size_t len = strlen(*p);

		if (len <= own)
			continue;
		if (strncmp(name, *p, len) == 0 ||
		    (strncmp(name, *p, len - 1) == 0 && name[len - 1] == '\0'))
			return true;
	}
	return false;
}

/* The server's spelling of the target folder, in *out (caller frees),
 * refused as CREATE and SELECT refuse it. A folder is selected, so the
 * namespace has been learnt. */
static int move_target(struct imap_store *st, const char *name, char **out, struct ferry_error *err)
{
	char shown[512];
	int status = IMAP_NAME_INVALID;

	*out = NULL;
	if (st->ns_known)
		status = canonical_to_imap_name(name, st->ns_delimiter, st->ns_prefix, out);
	if (status == IMAP_NAME_NOMEM)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	if (status != IMAP_NAME_OK)
		return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
				       "cannot move to folder \"%s\": the name cannot be used on "
				       "this server (hierarchy delimiter '%c')",
				       imap_sanitize(name, shown, sizeof(shown)),
				       st->ns_delimiter ? st->ns_delimiter : ' ');
	if (foreign_mailbox(st, *out)) {
		free(*out);
		*out = NULL;
		return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
				       "cannot move to folder \"%s\": the name belongs to another "
				       "user's or a shared namespace on this server",
				       imap_sanitize(name, shown, sizeof(shown)));
	}
	return 0;
}

/* Walks a uid set in order, each range from its lower end up ("4:2" is
 * 2:4, RFC 4315). */
struct set_walk {
	clistiter *it;
	uint64_t next, last; /* next > last: take the next range */
};

static uint64_t set_count(const struct mailimap_set *set, bool *valid)
{
	uint64_t n = 0;

	*valid = set && set->set_list;
	for (clistiter *it = *valid ? clist_begin(set->set_list) : NULL; it; it = clist_next(it)) {
		const struct mailimap_set_item *item = clist_content(it);

		/* 0 is "*", which has no place in COPYUID. */
		if (!item || item->set_first == 0 || item->set_last == 0) {
			*valid = false;
			return 0;
		}
		n += item->set_first <= item->set_last ? item->set_last - item->set_first + 1
						       : item->set_first - item->set_last + 1;
	}
	return n;
}

static uint32_t set_next(struct set_walk *w)
{
	while (w->next > w->last) {
		const struct mailimap_set_item *item;

		if (!w->it)
			return 0;
		item = clist_content(w->it);
		w->it = clist_next(w->it);
		w->next = item->set_first < item->set_last ? item->set_first : item->set_last;
		w->last = item->set_first < item->set_last ? item->set_last : item->set_first;
	}
	return (uint32_t)w->next++;
}

/* Records COPYUID's pairs for the uids of one batch (sorted uids
 * batch[0..k), their new uids in to[0..k)). Returns how many of them the
 * server confirms as moved (or copied) that the last SELECT counted. */
static size_t copyuid_pairs(struct imap_store *st, const uint32_t *batch, size_t k, uint32_t *to,
			    uint32_t uidvalidity, struct mailimap_set *src,
			    struct mailimap_set *dst)
{
	struct set_walk ws = {0}, wd = {0};
	bool src_ok, dst_ok;
	uint64_t ns, nd;
	size_t confirmed = 0;

	if (!uidvalidity || !src || !dst)
		return 0; /* no COPYUID: the new uids are unknown */
	ns = set_count(src, &src_ok);
	nd = set_count(dst, &dst_ok);
	if (!src_ok || !dst_ok || ns != nd || ns > k) {
		log_warn(
		    "%s: folder \"%s\": the server's COPYUID for %zu message(s) from uid %u does "
		    "not pair up; their new uids stay unknown",
		    st->base.conf->name, st->selected, k, batch[0]);
		return 0;
	}
	ws.it = clist_begin(src->set_list);
	wd.it = clist_begin(dst->set_list);
	ws.next = wd.next = 1; /* > last: start with the first range */
	for (uint64_t i = 0; i < ns; i++) {
		uint32_t s = set_next(&ws), d = set_next(&wd);
		size_t at;

		if (!s || !d || !uid_in(batch, k, s, &at) || to[at])
			continue; /* not asked for, or named twice */
		to[at] = d;
		if (!st->uidnext || s < st->uidnext)
			confirmed++;
	}
	return confirmed;
}

/* The error of a failed UID MOVE or UID COPY: the target missing
 * ([TRYCREATE]) is said in plain words. */
static int move_failed(struct imap_store *st, int r, const char *verb, const uint32_t *batch,
		       size_t k, const char *to, struct ferry_error *err)
{
	const struct mailimap_response_info *info = st->imap->imap_response_info;

	/* Only a NO leaves this command's response codes in info. */
	if ((r == MAILIMAP_ERROR_UID_MOVE || r == MAILIMAP_ERROR_UID_COPY) && info &&
	    info->rsp_trycreate)
		return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
				       "folder \"%s\": cannot move %zu messages from uid %u to "
				       "folder \"%s\": that folder does not exist",
				       st->selected, k, batch[0], to);
	return imap_fail(st, r, err,
			 "folder \"%s\": %s of %zu messages from uid %u to folder \"%s\"",
			 st->selected, verb, k, batch[0], to);
}

/* Times a UID MOVE or UID COPY is sent again after [EXPUNGEISSUED]. */
#define EXPUNGEISSUED_RETRIES 3

/* UID MOVE (move) or UID COPY of set to mailbox, with COPYUID's answer in
 * *uidvalidity, *src and *dst (the caller frees the sets). A message that
 * another session expunged but this one was not yet told of makes the
 * whole command fail with NO [EXPUNGEISSUED] (RFC 5530; Dovecot then sends
 * the EXPUNGE responses): the command is sent again, and the uids gone
 * meanwhile are simply not found. */
static int copy_or_move(struct imap_store *st, bool move, struct mailimap_set *set,
			const char *mailbox, uint32_t *uidvalidity, struct mailimap_set **src,
			struct mailimap_set **dst)
{
	int r;

	for (int attempt = 0;; attempt++) {
		const struct mailimap_response_info *info;

		*uidvalidity = 0;
		*src = *dst = NULL;
		r = move ? mailimap_uidplus_uid_move(st->imap, set, mailbox, uidvalidity, src, dst)
			 : mailimap_uidplus_uid_copy(st->imap, set, mailbox, uidvalidity, src, dst);
		if (*src && r != MAILIMAP_NO_ERROR) {
			mailimap_set_free(*src);
			*src = NULL;
		}
		if (*dst && r != MAILIMAP_NO_ERROR) {
			mailimap_set_free(*dst);
			*dst = NULL;
		}
		/* Only a NO leaves this command's response codes in info. */
		info = st->imap->imap_response_info;
		if (r != (move ? MAILIMAP_ERROR_UID_MOVE : MAILIMAP_ERROR_UID_COPY) ||
		    attempt == EXPUNGEISSUED_RETRIES || !info || !info->rsp_atom ||
		    strcasecmp(info->rsp_atom, "EXPUNGEISSUED") != 0)
			return r;
	}
}

/* One batch by UID MOVE: removed from the source by the server itself. */
static int move_batch(struct imap_store *st, struct mailimap_set *set, const char *mailbox,
		      const uint32_t *batch, size_t k, uint32_t *to, const char *folder,
		      size_t *gone, struct ferry_error *err)
{
	struct mailimap_set *src = NULL, *dst = NULL;
	uint32_t uidvalidity = 0;
	int r;

	r = copy_or_move(st, true, set, mailbox, &uidvalidity, &src, &dst);
	if (r == MAILIMAP_NO_ERROR)
		*gone += copyuid_pairs(st, batch, k, to, uidvalidity, src, dst);
	if (src)
		mailimap_set_free(src);
	if (dst)
		mailimap_set_free(dst);
	if (r != MAILIMAP_NO_ERROR)
		return move_failed(st, r, "UID MOVE", batch, k, folder, err);
	return 0;
}

/* One batch by UID COPY, then \Deleted and, with UIDPLUS, UID EXPUNGE of
 * exactly these uids. Without UIDPLUS the expunge waits for the end. */
static int copy_batch(struct imap_store *st, struct mailimap_set *set, const char *mailbox,
		      const uint32_t *batch, size_t k, uint32_t *to, const char *folder,
		      size_t *gone, struct ferry_error *err)
{
	struct mailimap_set *src = NULL, *dst = NULL;
	uint32_t uidvalidity = 0;
	size_t copied = 0;
	int r;

	r = copy_or_move(st, false, set, mailbox, &uidvalidity, &src, &dst);
	if (r == MAILIMAP_NO_ERROR)
		copied = copyuid_pairs(st, batch, k, to, uidvalidity, src, dst);
	if (src)
		mailimap_set_free(src);
	if (dst)
		mailimap_set_free(dst);
	if (r != MAILIMAP_NO_ERROR)
		return move_failed(st, r, "UID COPY", batch, k, folder, err);
	if (store_flags(st, batch, k, true, MF_DELETED, NULL, err) != 0) {
		ferry_error_prefix(err, "moving to folder \"%s\" (copied; the originals stay)",
				   folder);
		goto unmoved;
	}
	if (!(st->base.caps & CAP_UIDPLUS))
		return 0;
	r = mailimap_uid_expunge(st->imap, set);
	if (r != MAILIMAP_NO_ERROR) {
		imap_fail(st, r, err,
			  "folder \"%s\": moving to folder \"%s\" (copied): UID EXPUNGE of %zu "
			  "messages from uid %u (they may stay, marked \\Deleted)",
			  st->selected, folder, k, batch[0]);
		goto unmoved;
	}
	*gone += copied;
	return 0;
unmoved:
	/* Copied but not moved: no new uid says "moved". */
	memset(to, 0, k * sizeof(*to));
	return -1;
}

int imap_move_msgs(struct store *store, const uint32_t *uids, size_t n, const char *to,
		   uint32_t *new_uids, struct ferry_error *err)
{
	struct imap_store *st = (struct imap_store *)store;
	bool by_move = (st->base.caps & CAP_MOVE) != 0;
	uint32_t *sorted = NULL, *moved = NULL;
	size_t count = 0, gone = 0;
	char *mailbox = NULL;
	int r = 0;

	for (size_t i = 0; i < n; i++)
		new_uids[i] = 0;
	if (need_selected(st, "moving messages", err) != 0 ||
	    move_target(st, to, &mailbox, err) != 0)
		return -1;
	if (strcmp(to, st->selected) == 0) {
		free(mailbox);
		return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
				       "folder \"%s\": cannot move messages into the folder itself",
				       st->selected);
	}
	sorted = sorted_uids(uids, n, &count);
	moved = calloc(count + 1, sizeof(*moved));
	if (!sorted || !moved) {
		r = ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		goto done;
	}
	for (size_t done = 0; done < count && r == 0;) {
		size_t used = 0;
		struct mailimap_set *set =
		    uid_set(sorted + done, count - done, MOVE_BATCH, SET_MAX_RANGES, &used);

		if (!set) {
			r = ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
			break;
		}
		r = (by_move ? move_batch : copy_batch)(st, set, mailbox, sorted + done, used,
							moved + done, to, &gone, err);
		mailimap_set_free(set);
		done += used;
	}
	/* Without UIDPLUS only a plain EXPUNGE is left, and only if it removes
	 * nothing but these (rule 10). */
	if (r == 0 && count && !by_move && !(st->base.caps & CAP_UIDPLUS)) {
		r = expunge_without_uidplus(st, sorted, count, err);
		if (r != 0) {
			ferry_error_prefix(err, "moving to folder \"%s\" (copied)", to);
			memset(moved, 0, count * sizeof(*moved));
		}
	}
	/* Only what the server confirmed is taken off: a count too high would
	 * make list() skip a folder that still holds messages. */
	if (!st->broken)
		st->exists -= gone < st->exists ? (uint32_t)gone : st->exists;
	for (size_t i = 0; i < n; i++) {
		size_t at;

		if (uids[i] && uid_in(sorted, count, uids[i], &at))
			new_uids[i] = moved[at];
	}
done:
	free(sorted);
	free(moved);
	free(mailbox);
	return r;
}

/* ---- add -------------------------------------------------------------- */

/* With LITERAL+ (RFC 7888) an APPEND goes out whole, literal included,
 * without waiting for the server's "+": add_commit sends it and returns,
 * and the answers are read later, oldest first, when the window is full,
 * at add_flush, or before any other command. Without LITERAL+ each APPEND
 * waits for "+" and then for its answer, as before. Either way the message
 * is streamed from its spool file; libetpan's APPEND would want it whole. */

/* APPENDs in flight at most; then add_commit first reads the oldest
 * answer. The answers are small, so the server never blocks writing them
 * while ferry is still writing messages. */
#define APPEND_WINDOW 64
/* Bytes per write to the spool and per read back from it: with the
 * stream's own buffer, all the memory a message of any size costs. */
#define APPEND_CHUNK 16384

/* A message being appended: spooled to an unlinked temporary file with its
 * line endings already turned into CRLF, so that the literal's size is
 * known before a byte of it is sent, and a 50 MB message never sits on the
 * heap. */
struct store_new_msg {
	struct imap_store *st;
	int fd;
	uint64_t size; /* bytes spooled, CRLF */
	bool prev_cr;  /* the last byte written was CR: an LF next is not bare */
	char *folder;  /* canonical, for messages */
	char *mailbox; /* the server's spelling */
	uint32_t uidvalidity;
	bool write_failed;
};

enum append_state { APPEND_IN_FLIGHT, APPEND_DONE, APPEND_REFUSED, APPEND_LOST };

/* One add_commit of the batch. */
struct imap_append {
	enum append_state state;
	int tag;	      /* libetpan's number for the APPEND's tag */
	uint32_t uidvalidity; /* the folder's at add_begin */
	uint32_t uid;	      /* from APPENDUID; 0 when unknown */
	uint64_t size;
	struct msg_id stored; /* what the server made of it, read back at add_flush */
	bool into_selected;   /* appended to the selected folder: counted in exists */
	char *folder;	      /* canonical, for messages */
};

/* The add_commits since the last add_flush; seq is the index. */
struct imap_appends {
	struct imap_append *v;
	size_t n, cap;
	size_t oldest; /* nothing before v[oldest] is in flight */
	size_t in_flight;
	size_t failed;		  /* refused, or lost with the session */
	struct ferry_error first; /* why the first of them failed */
};

static void new_msg_free(struct store_new_msg *m)
{
	if (!m)
		return;
	if (m->fd >= 0)
		close(m->fd);
	free(m->folder);
	free(m->mailbox);
	free(m);
}

static void batch_reset(struct imap_appends *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->v[i].folder);
	b->n = b->oldest = b->in_flight = b->failed = 0;
	ferry_error_clear(&b->first);
}

static void batch_failed(struct imap_appends *b, const struct ferry_error *why)
{
	if (b->failed++ == 0)
		b->first = *why;
}

/* Every APPEND in flight goes with the session: the server may or may not
 * have stored it, and the next run finds it by identity if it did (rule 7). */
static void batch_lose(struct imap_appends *b, const struct ferry_error *why)
{
	for (size_t i = b->oldest; i < b->n; i++)
		if (b->v[i].state == APPEND_IN_FLIGHT) {
			b->v[i].state = APPEND_LOST;
			batch_failed(b, why);
		}
	b->in_flight = 0;
	b->oldest = b->n;
}

/* st->appends with room for one more entry, or NULL on allocation failure. */
static struct imap_appends *batch_room(struct imap_store *st)
{
	struct imap_appends *b = st->appends;

	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b)
			return NULL;
		st->appends = b;
	}
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 128;
		struct imap_append *v = realloc(b->v, cap * sizeof(*v));

		if (!v)
			return NULL;
		b->v = v;
		b->cap = cap;
	}
	return b;
}

/* What imap_usable() says of a broken session. Not imap_usable() itself
 * here: it may settle the APPENDs in flight, which is what calls this. */
static int session_gone(const struct imap_store *st, struct ferry_error *err)
{
	return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
			       "the IMAP session is no longer usable after an earlier error (%s); "
			       "reconnect",
			       st->broken_why);
}

/* The session is lost in the middle of an APPEND, and so is everything in
 * flight. Returns -1. */
static int append_lost(struct imap_store *st, int r, const struct store_new_msg *m,
		       struct ferry_error *err)
{
	struct ferry_error e = {0};

	imap_fail(st, r, &e, "folder \"%s\": APPEND of a message of %llu bytes", m->folder,
		  (unsigned long long)m->size);
	if (st->appends)
		batch_lose(st->appends, &e);
	if (err)
		*err = e;
	return -1;
}

/* The APPENDUID of the answer just parsed: the last in the list, since
 * untagged responses come before the tagged one. *uid stays 0 unless it
 * names exactly one uid. */
static void appenduid(mailimap *imap, uint32_t *uidvalidity, uint32_t *uid)
{
	const struct mailimap_response_info *info = imap->imap_response_info;

	*uidvalidity = *uid = 0;
	for (clistiter *it =
		 info && info->rsp_extension_list ? clist_begin(info->rsp_extension_list) : NULL;
	     it; it = clist_next(it)) {
		const struct mailimap_extension_data *ext = clist_content(it);
		const struct mailimap_uidplus_resp_code_apnd *apnd;
		const struct mailimap_set_item *item = NULL;

		if (!ext || ext->ext_extension != &mailimap_extension_uidplus ||
		    ext->ext_type != MAILIMAP_UIDPLUS_RESP_CODE_APND || !ext->ext_data)
			continue;
		apnd = ext->ext_data;
		if (apnd->uid_set && apnd->uid_set->set_list &&
		    clist_count(apnd->uid_set->set_list) == 1)
			item = clist_content(clist_begin(apnd->uid_set->set_list));
		*uidvalidity = apnd->uid_uidvalidity;
		*uid = item && item->set_first == item->set_last ? item->set_first : 0;
	}
}

/* Reads the answer to the command tagged with number tag, and whatever
 * untagged data comes before it (kept in imap_response_info as for any
 * command). have_line: its first line is read already. libetpan compares
 * the tagged answer with imap_tag, which is set to tag meanwhile and put
 * back after, so that the next command still gets a fresh tag
 * (libetpan.md, section 6). *ok tells OK from NO; a BAD is
 * MAILIMAP_ERROR_PROTOCOL. */
static int read_answer(struct imap_store *st, int tag, bool have_line, bool *ok,
		       uint32_t *uidvalidity, uint32_t *uid)
{
	mailimap *imap = st->imap;
	struct mailimap_response *resp = NULL;
	int last = imap->imap_tag, r;

	*ok = false;
	*uidvalidity = *uid = 0;
	imap->imap_tag = tag;
	if (!have_line && !mailimap_read_line(imap))
		r = MAILIMAP_ERROR_STREAM;
	else
		r = mailimap_parse_response(imap, &resp);
	imap->imap_tag = last;
	if (r != MAILIMAP_NO_ERROR)
		return r;
	*ok = resp->rsp_resp_done->rsp_data.rsp_tagged->rsp_cond_state->rsp_type ==
	      MAILIMAP_RESP_COND_STATE_OK;
	mailimap_response_free(resp);
	if (*ok)
		appenduid(imap, uidvalidity, uid);
	return MAILIMAP_NO_ERROR;
}

static void refusal(struct imap_store *st, const char *folder, uint64_t size,
		    struct ferry_error *err)
{
	const struct mailimap_response_info *info = st->imap->imap_response_info;
	char text[512];

	ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
			"folder \"%s\": the server refused to append a message of %llu bytes%s: %s",
			folder, (unsigned long long)size,
			info && info->rsp_trycreate ? " (the folder does not exist)" : "",
			imap_response_text(st->imap, text, sizeof(text)));
}

/* A settled APPEND: its uid, and the selected folder's counts kept as SELECT
 * would give them, so that list() shows the message. */
static void appended(struct imap_store *st, struct imap_append *a, uint32_t uidvalidity,
		     uint32_t uid)
{
	/* APPENDUID of another UIDVALIDITY (the folder was recreated meanwhile)
	 * names a uid ferry cannot place. */
	a->state = APPEND_DONE;
	a->uid = uidvalidity && uidvalidity == a->uidvalidity ? uid : 0;
	if (a->into_selected && st->selected && st->uidvalidity == a->uidvalidity) {
		st->exists++;
		if (a->uid && st->uidnext && a->uid >= st->uidnext)
			st->uidnext = a->uid + 1;
	}
}

/* Reads the answer to the oldest APPEND in flight. A NO fails that message
 * only; -1 (err set, if not NULL) when the session is lost, and everything
 * in flight with it. */
static int read_oldest(struct imap_store *st, struct ferry_error *err)
{
	struct imap_appends *b = st->appends;
	struct ferry_error e = {0};
	struct imap_append *a;
	uint32_t uidvalidity, uid;
	bool ok;
	int r;

	while (b->v[b->oldest].state != APPEND_IN_FLIGHT)
		b->oldest++;
	a = &b->v[b->oldest];
	if (st->broken) {
		r = session_gone(st, &e);
	} else {
		r = read_answer(st, a->tag, false, &ok, &uidvalidity, &uid);
		if (r != MAILIMAP_NO_ERROR)
			imap_fail(st, r, &e,
				  "folder \"%s\": reading the answers to %zu APPEND(s) sent ahead",
				  a->folder, b->in_flight);
	}
	if (r != MAILIMAP_NO_ERROR) {
		batch_lose(b, &e);
		if (err)
			*err = e;
		return -1;
	}
	b->oldest++;
	b->in_flight--;
	if (ok) {
		appended(st, a, uidvalidity, uid);
		return 0;
	}
	a->state = APPEND_REFUSED;
	refusal(st, a->folder, a->size, &e);
	batch_failed(b, &e);
	return 0;
}

int imap_appends_settle(struct imap_store *st, struct ferry_error *err)
{
	struct imap_appends *b = st->appends;

	while (b && b->in_flight > 0)
		if (read_oldest(st, err) != 0)
			return -1;
	return 0;
}

void imap_appends_close(struct imap_store *st)
{
	if (!st->appends)
		return;
	/* The answers are lost with the results; the server still gets to
	 * finish the APPENDs, and the next run finds them by identity. */
	(void)imap_appends_settle(st, NULL);
	batch_reset(st->appends);
	free(st->appends->v);
	free(st->appends);
	st->appends = NULL;
}

/* An unlinked file in $TMPDIR or /tmp: O_TMPFILE where the file system has
 * it, else mkstemp + unlink. Returns the fd, or -1 with errno set. */
static int spool_open(const char **dir)
{
	const char *tmp = getenv("TMPDIR");
	char path[4096];
	int fd;

	*dir = tmp && *tmp ? tmp : "/tmp";
	fd = open(*dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	if (snprintf(path, sizeof(path), "%s/ferry-append-XXXXXX", *dir) >= (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = mkostemp(path, O_CLOEXEC);
	if (fd >= 0)
		unlink(path);
	return fd;
}

int imap_add_begin(struct store *store, struct store_new_msg **out, struct ferry_error *err)
{
	struct imap_store *st = (struct imap_store *)store;
	struct store_new_msg *m;
	const char *dir;

	*out = NULL;
	/* Not need_selected: APPENDs in flight stay so, more may follow. */
	if (st->broken)
		return session_gone(st, err);
	if (imap_prefetch_settle(st, err) != 0)
		return -1;
	if (!st->selected)
		return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
				       "adding a message: no folder is selected");
	m = calloc(1, sizeof(*m));
	if (!m)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	m->st = st;
	m->fd = -1;
	m->uidvalidity = st->uidvalidity;
	m->folder = strdup(st->selected);
	m->mailbox = strdup(st->selected_imap);
	if (!m->folder || !m->mailbox) {
		new_msg_free(m);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	m->fd = spool_open(&dir);
	if (m->fd < 0) {
		int e = errno;

		new_msg_free(m);
		return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
				       "folder \"%s\": cannot create a temporary file in %s: %s",
				       st->selected, dir, strerror(e));
	}
	*out = m;
	return 0;
}

/* Copies bytes into the chunk buffer out (*o used), spooling it when full. */
static int spool_put(struct store_new_msg *m, char *out, size_t *o, const char *p, size_t len)
{
	while (len > 0) {
		size_t n = len < APPEND_CHUNK - *o ? len : APPEND_CHUNK - *o;

		memcpy(out + *o, p, n);
		*o += n;
		p += n;
		len -= n;
		m->size += n;
		if (*o == APPEND_CHUNK) {
			if (fd_write_all(m->fd, out, *o) != 0)
				return -1;
			*o = 0;
		}
	}
	return 0;
}

/* Spools buf with every bare LF turned into CRLF, as libetpan's APPEND did
 * on the wire and as identity.c counts the CRLF size; a lone CR stays. A CR
 * that ends one write and an LF that starts the next are one CRLF. */
int imap_add_write(struct store_new_msg *m, const char *buf, size_t len, struct ferry_error *err)
{
	char out[APPEND_CHUNK];
	size_t o = 0;

	if (m->write_failed)
		return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
				       "folder \"%s\": spooling a message to append failed before",
				       m->folder);
	while (len > 0) {
		const char *lf = memchr(buf, '\n', len);
		size_t seg = lf ? (size_t)(lf - buf) + 1 : len;
		bool bare = lf && (lf > buf ? lf[-1] != '\r' : !m->prev_cr);

		m->prev_cr = buf[seg - 1] == '\r';
		if (spool_put(m, out, &o, buf, bare ? seg - 1 : seg) != 0 ||
		    (bare && spool_put(m, out, &o, "\r\n", 2) != 0))
			goto fail;
		buf += seg;
		len -= seg;
	}
	if (o && fd_write_all(m->fd, out, o) != 0)
		goto fail;
	return 0;
fail:
	m->write_failed = true;
	return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
			       "folder \"%s\": spooling a message to append: %s", m->folder,
			       strerror(errno));
}

/* Appends n bytes of s to the command being built in buf (room ensured by
 * the caller). */
static void cat(char *buf, size_t *o, const char *s, size_t n)
{
	memcpy(buf + *o, s, n);
	*o += n;
	buf[*o] = '\0';
}

/* The internal date as RFC 3501 date-time in UTC, quoted, in out; false for
 * a date no four-digit year holds. */
static bool date_text(int64_t date, char *out, size_t len)
{
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t t = (time_t)date;
	struct tm tm;

	if ((int64_t)t != date || !gmtime_r(&t, &tm) || tm.tm_year < 1 - 1900 ||
	    tm.tm_year > 9999 - 1900)
		return false;
	snprintf(out, len, "\"%02d-%s-%04d %02d:%02d:%02d +0000\"", tm.tm_mday, months[tm.tm_mon],
		 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return true;
}

/* `APPEND "mailbox" (flags) "date" {N+}` and CRLF, in *out (caller frees):
 * 0, -1 on allocation failure, -2 for a mailbox name that cannot be sent as
 * a quoted string. The name came out of canonical_to_imap_name() (printable
 * ASCII), and a name that would need a literal or could inject a command is
 * never sent. Flags and keywords (checked as atoms) as flag_list() gives
 * them to STORE: a keyword naming a flag ("$Forwarded") once, as the flag. */
static int append_command(const struct store_new_msg *m, unsigned flags, const char *keywords,
			  int64_t date, bool nonsync, char **out)
{
	char when[64] = "", size[40];
	const char *w;
	size_t len, cap, o = 0;
	char *cmd;

	*out = NULL;
	for (const char *p = m->mailbox; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			return -2;
	if (date && !date_text(date, when, sizeof(when)))
		log_warn("folder \"%s\": internal date %lld cannot be sent; the server will use "
			 "the time of arrival",
			 m->folder, (long long)date);
	/* APPEND "name" (, each flag and keyword with a space, ) date {size}
	 * CRLF NUL: every character of the name may need a backslash, and a
	 * keyword set holds its words and at least one space less. */
	cap = 8 + 2 * strlen(m->mailbox) + 3 + (keywords ? strlen(keywords) + 1 : 0) + 1 + 1 +
	      strlen(when) + sizeof(size) + 1;
	for (size_t i = 0; i < flag_table_len; i++)
		cap += strlen(flag_table[i].imap) + 1;
	cmd = malloc(cap);
	if (!cmd)
		return -1;
	cat(cmd, &o, "APPEND \"", 8);
	for (const char *p = m->mailbox; *p; p++) {
		if (*p == '"' || *p == '\\')
			cat(cmd, &o, "\\", 1);
		cat(cmd, &o, p, 1);
	}
	cat(cmd, &o, "\" (", 3);
	for (const char *p = keywords ? keywords : ""; (len = next_word(&p, &w)) > 0;)
		flags |= word_flag(w, len);
	for (size_t i = 0; i < flag_table_len; i++)
		if (flags & flag_table[i].bit) {
			if (cmd[o - 1] != '(')
				cat(cmd, &o, " ", 1);
			cat(cmd, &o, flag_table[i].imap, strlen(flag_table[i].imap));
		}
	for (const char *p = keywords ? keywords : ""; (len = next_word(&p, &w)) > 0;)
		if (!word_flag(w, len)) {
			if (cmd[o - 1] != '(')
				cat(cmd, &o, " ", 1);
			cat(cmd, &o, w, len);
		}
	cat(cmd, &o, ")", 1);
	if (when[0]) {
		cat(cmd, &o, " ", 1);
		cat(cmd, &o, when, strlen(when));
	}
	snprintf(size, sizeof(size), " {%llu%s}\r\n", (unsigned long long)m->size,
		 nonsync ? "+" : "");
	cat(cmd, &o, size, strlen(size));
	*out = cmd;
	return 0;
}

/* Sends the spooled message as the literal's bytes and the CRLF that ends
 * the command, and flushes. 0, MAILIMAP_ERROR_STREAM, or -1 (errno set)
 * when the spool cannot be read back: the literal is then cut short. */
static int send_literal(struct imap_store *st, const struct store_new_msg *m)
{
	mailstream *s = st->imap->imap_stream;
	/* The -v trace shows the command, not the message: trace.c prints a
	 * private write as "<redacted>", and the command line is flushed
	 * before so that it is shown. */
	bool hide = log_get_level() >= LOG_VERBOSE;
	char buf[APPEND_CHUNK];
	uint64_t off = 0;
	int r = 0;

	if (hide) {
		if (mailstream_flush(s) == -1)
			return MAILIMAP_ERROR_STREAM;
		mailstream_set_privacy(s, 0);
	}
	while (r == 0 && off < m->size) {
		size_t want = m->size - off < sizeof(buf) ? (size_t)(m->size - off) : sizeof(buf);
		ssize_t n = pread(m->fd, buf, want, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO; /* shorter than it was at commit */
			r = -1;
		} else if (mailstream_write(s, buf, (size_t)n) == -1) {
			r = MAILIMAP_ERROR_STREAM;
		} else {
			off += (uint64_t)n;
		}
	}
	if (r == 0 && (mailstream_write(s, "\r\n", 2) == -1 || mailstream_flush(s) == -1))
		r = MAILIMAP_ERROR_STREAM;
	if (hide)
		mailstream_set_privacy(s, 1);
	return r;
}

/* The literal announced could not be sent whole: the server now reads
 * whatever comes next as message bytes, so the session is given up. */
static int literal_cut(struct imap_store *st, const struct store_new_msg *m,
		       struct ferry_error *err)
{
	struct ferry_error e;
	int errnum = errno;

	st->broken = st->base.broken = true;
	snprintf(st->broken_why, sizeof(st->broken_why),
		 "a message could not be read back from its spool file during APPEND");
	imap_unselect(st);
	ferry_error_set(&e, FERRY_CAUSE_PROTOCOL,
			"folder \"%s\": reading back the spooled message to append: %s; the "
			"session is no longer usable",
			m->folder, strerror(errnum));
	if (st->appends)
		batch_lose(st->appends, &e);
	if (err)
		*err = e;
	return -1;
}

/* Without LITERAL+: waits for "+", sends the message, waits for the answer.
 * 0 with *a settled, or -1. */
static int append_sync(struct imap_store *st, const struct store_new_msg *m, int tag,
		       struct imap_append *a, struct ferry_error *err)
{
	uint32_t uidvalidity, uid;
	const char *line;
	bool ok;
	int r;

	if (mailstream_flush(st->imap->imap_stream) == -1)
		return append_lost(st, MAILIMAP_ERROR_STREAM, m, err);
	line = mailimap_read_line(st->imap);
	if (!line)
		return append_lost(st, MAILIMAP_ERROR_STREAM, m, err);
	if (line[0] != '+') {
		/* Refused before the message was sent ([TRYCREATE], too large):
		 * the first line of the answer is read already. */
		r = read_answer(st, tag, true, &ok, &uidvalidity, &uid);
		if (r != MAILIMAP_NO_ERROR)
			return append_lost(st, r, m, err);
		refusal(st, m->folder, m->size, err);
		return -1;
	}
	r = send_literal(st, m);
	if (r == -1)
		return literal_cut(st, m, err);
	if (r == MAILIMAP_NO_ERROR)
		r = read_answer(st, tag, false, &ok, &uidvalidity, &uid);
	if (r != MAILIMAP_NO_ERROR)
		return append_lost(st, r, m, err);
	if (!ok) {
		refusal(st, m->folder, m->size, err);
		return -1;
	}
	appended(st, a, uidvalidity, uid);
	return 0;
}

/* The APPEND itself; m stays the caller's. */
static int append(struct store_new_msg *m, unsigned flags, const char *keywords, int64_t date,
		  uint32_t *uid, struct ferry_error *err)
{
	struct imap_store *st = m->st;
	bool nonsync = (st->base.caps & CAP_LITERAL_PLUS) != 0;
	struct imap_append a = {.uidvalidity = m->uidvalidity, .size = m->size};
	struct imap_appends *b;
	struct stat sb;
	char *cmd = NULL;
	int r;

	if (st->broken)
		return session_gone(st, err);
	if (check_keywords(keywords, m->folder, err) != 0)
		return -1;
	if (m->write_failed || fstat(m->fd, &sb) != 0 || (uint64_t)sb.st_size != m->size)
		return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
				       "folder \"%s\": the message to append was not spooled whole",
				       m->folder);
	b = batch_room(st);
	r = b ? append_command(m, flags & MF_ALL, keywords, date, nonsync, &cmd) : -1;
	if (r == -2)
		return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
				       "folder \"%s\": the server's name for it cannot be sent",
				       m->folder);
	if (r != 0)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	while (nonsync && b->in_flight >= APPEND_WINDOW)
		if (read_oldest(st, err) != 0) {
			free(cmd);
			return -1;
		}
	r = mailimap_send_current_tag(st->imap);
	a.tag = st->imap->imap_tag;
	if (r == MAILIMAP_NO_ERROR &&
	    mailstream_write(st->imap->imap_stream, cmd, strlen(cmd)) == -1)
		r = MAILIMAP_ERROR_STREAM;
	free(cmd);
	if (r != MAILIMAP_NO_ERROR)
		return append_lost(st, r, m, err);
	a.into_selected = st->selected_imap && strcmp(st->selected_imap, m->mailbox) == 0 &&
			  st->uidvalidity == m->uidvalidity;
	if (nonsync) {
		r = send_literal(st, m);
		if (r == -1)
			return literal_cut(st, m, err);
		if (r != MAILIMAP_NO_ERROR)
			return append_lost(st, r, m, err);
		a.state = APPEND_IN_FLIGHT;
		b->in_flight++;
	} else if (append_sync(st, m, a.tag, &a, err) != 0) {
		return -1;
	}
	a.folder = m->folder; /* changes owner */
	m->folder = NULL;
	b->v[b->n++] = a;
	*uid = a.uid;
	return 0;
}

int imap_add_commit(struct store_new_msg *m, unsigned flags, const char *keywords, int64_t date,
		    uint32_t *uid, struct ferry_error *err)
{
	int r;

	*uid = 0;
	r = append(m, flags, keywords, date, uid, err);
	new_msg_free(m); /* committed or not, m is used up */
	return r;
}

void imap_add_abort(struct store_new_msg *m)
{
	new_msg_free(m);
}

/* Rule 6: an upload's identity is that of the copy the server stored, which
 * is not always what was sent (Cyrus turns 8-bit header bytes into 'X').
 * Reads back the header and size of every settled APPEND with a uid, in
 * one UID FETCH for the batch. A message not read back keeps an unknown
 * identity: it is then paired by identity, not by uid. -1 (err set) when
 * the session is lost. */
static int read_back(struct imap_store *st, struct imap_appends *b, struct ferry_error *err)
{
	struct msg *msgs = malloc((b->n + 1) * sizeof(*msgs));
	size_t *of = malloc((b->n + 1) * sizeof(*of));
	size_t n = 0;
	int r = 0;

	if (!msgs || !of) {
		free(msgs);
		free(of);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	for (size_t i = 0; i < b->n; i++) {
		const struct imap_append *a = &b->v[i];

		/* Only into the folder still selected: uids are the selected
		 * folder's. */
		if (a->state == APPEND_DONE && a->uid && a->into_selected && st->selected &&
		    st->uidvalidity == a->uidvalidity) {
			msgs[n] = (struct msg){.uid = a->uid, .size = a->size};
			of[n++] = i;
		}
	}
	if (n)
		r = identify_msgs(st, msgs, n, true, err);
	for (size_t k = 0; r == 0 && k < n; k++) {
		struct imap_append *a = &b->v[of[k]];

		a->stored = msgs[k].id;
		if (a->stored.known && msgs[k].size != a->size)
			log_warn(
			    "folder \"%s\": the server stored uid %u with %llu bytes where %llu "
			    "were sent; a later move of it may not be recognised",
			    a->folder, a->uid, (unsigned long long)msgs[k].size,
			    (unsigned long long)a->size);
	}
	free(msgs);
	free(of);
	return r;
}

int imap_add_flush(struct store *store,
		   void (*done)(void *ctx, size_t seq, uint32_t uid, const struct msg_id *stored),
		   void *ctx, struct ferry_error *err)
{
	struct imap_store *st = (struct imap_store *)store;
	struct imap_appends *b = st->appends;
	struct ferry_error lost = {0};
	int r = 0;

	if (!b || b->n == 0)
		return 0;
	/* A lost session loses what is in flight; what settled is reported. */
	(void)imap_appends_settle(st, NULL);
	if (!st->broken && read_back(st, b, &lost) != 0)
		batch_failed(b, &lost);
	for (size_t i = 0; i < b->n; i++)
		if (b->v[i].state == APPEND_DONE)
			done(ctx, i, b->v[i].uid, &b->v[i].stored);
	if (b->failed == 1 && err)
		*err = b->first;
	else if (b->failed > 1)
		ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
				"%s (and %zu more message(s) of this batch not appended or not "
				"confirmed)",
				b->first.msg, b->failed - 1);
	if (b->failed)
		r = -1;
	batch_reset(b);
	return r;
}
