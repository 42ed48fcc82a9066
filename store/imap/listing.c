/* Listing the selected folder: UID FLAGS RFC822.SIZE INTERNALDATE of every
 * message, or of those changed since a modseq (CHANGEDSINCE, with VANISHED
 * under QRESYNC), checked before it is trusted (rule 5). */
#include "store/imap/listing.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/base/grow.h"
#include "store/flags.h"
#include "store/imap/fetchresp.h"
#include "store/imap/queue.h"
#include "store/imap/select.h"

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
	struct strbuf words = {0};
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

			if (bit) {
				*flags |= bit;
			} else if (kw_valid(kw, strlen(kw))) {
				strbuf_adds(&words, kw);
				strbuf_adds(&words, " ");
			}
		}
	}
	if (words.oom) {
		strbuf_free(&words);
		return -1;
	}
	if (words.s) {
		*keywords = kw_normalize(words.s, &oom);
		strbuf_free(&words);
		if (oom)
			return -1;
	}
	return 0;
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
	bool without_uid;   /* an answer carried RFC822.SIZE but no UID */
	uint32_t *size_max; /* the session's largest RFC822.SIZE, raised here */
};

static void listing_free(struct listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].m.keywords);
	free(l->v);
	*l = (struct listing){.size_max = l->size_max};
}

static void on_list_att(struct mailimap_msg_att *att, void *ctx)
{
	struct listing *l = ctx;
	struct imap_fetched f;
	struct entry e = {0}, *v;

	imap_read_items(att, &f);
	if (!f.has_uid) {
		/* Another session's flag change (by sequence number) is harmless;
		 * an answer to UID FETCH without its UID loses a message. */
		if (f.has_size || f.has_date)
			l->without_uid = true;
		return;
	}
	if (f.has_size && l->size_max && f.size > *l->size_max)
		*l->size_max = f.size;
	if (l->oom)
		return;
	v = grow_array(l->v, &l->cap, l->n + 1, sizeof(*v));
	if (!v) {
		l->oom = true;
		return;
	}
	l->v = v;
	e.m.uid = f.uid;
	e.arrival = (uint32_t)l->n;
	e.has_flags = f.has_flags;
	e.has_size = f.has_size;
	e.has_date = f.has_date;
	e.m.size = f.size;
	if (f.has_date)
		e.m.date = date_to_epoch(f.date);
	if (f.has_flags) {
		unsigned flags;

		if (read_flags(f.flags, &flags, &e.m.keywords) != 0) {
			l->oom = true;
			return;
		}
		e.m.flags = (uint8_t)flags;
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
	/* Answers come in uid order as a rule: no qsort, and none of its
	 * scratch memory for a listing of a million messages. */
	for (size_t i = 1; i < l->n; i++)
		if (cmp_entry(&l->v[i - 1], &l->v[i]) > 0) {
			qsort(l->v, l->n, sizeof(*l->v), cmp_entry);
			break;
		}
	return merge_listing(l, uidnext, folder, kept, err);
}

/* Hands l->v[0..kept) over to an empty out as messages, in the same memory:
 * a listing of a million messages is not held twice (rule 5 needs it whole
 * before it is trusted, so it cannot be built in out directly). Each
 * message moves down to its place in an array of struct msg, which is never
 * beyond its entry, the entries above it not yet moved. */
static void listing_to_msgs(struct listing *l, size_t kept, struct msg_list *out)
{
	struct msg *v = (struct msg *)(void *)l->v, *shrunk;

	_Static_assert(sizeof(struct msg) <= sizeof(struct entry), "a msg fits in an entry");
	for (size_t i = 0; i < kept; i++)
		memmove(&v[i], &l->v[i].m, sizeof(*v));
	/* Shrinking gives the entries' tail back; failing to is harmless. */
	shrunk = kept ? realloc(v, kept * sizeof(*v)) : NULL;
	if (shrunk)
		v = shrunk;
	else if (!kept) {
		free(v);
		v = NULL;
	}
	msg_list_free(out);
	*out = (struct msg_list){.v = v, .n = kept, .cap = kept};
	*l = (struct listing){0};
}

/* What a listing asks for: UID FLAGS RFC822.SIZE INTERNALDATE of
 * first:last, within 1:UIDNEXT-1 rather than 1:*, so the listing is exactly
 * what SELECT saw (plus what ferry appended since), and mail arriving
 * meanwhile is not confused with a wrapped uid. last 0: "*". */
static int listing_request(uint32_t first, uint32_t last, struct mailimap_set **set,
			   struct mailimap_fetch_type **ft, struct ferry_error *err)
{
	static struct mailimap_fetch_att *(*const atts[])(void) = {
	    mailimap_fetch_att_new_uid,
	    mailimap_fetch_att_new_flags,
	    mailimap_fetch_att_new_rfc822_size,
	    mailimap_fetch_att_new_internaldate,
	};

	*set = mailimap_set_new_interval(first, last);
	*ft = imap_fetch_type(atts, sizeof(atts) / sizeof(atts[0]), NULL);
	if (*set && *ft)
		return 0;
	if (*set)
		mailimap_set_free(*set);
	if (*ft)
		mailimap_fetch_type_free(*ft);
	return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
}

/* Uids a listing asks for in one UID FETCH. libetpan holds a command's
 * whole answer as text until its tagged reply (about 90 bytes a message):
 * 880,000 messages in one command cost 80 MB; in runs of LIST_UIDS, 5 MB,
 * for one round trip more each. */
#define LIST_UIDS 50000u

static uint32_t list_uids = LIST_UIDS;

void imap_set_list_uids(uint32_t uids)
{
	list_uids = uids ? uids : LIST_UIDS;
}

/* Lists uids 1:UIDNEXT-1 into l in runs of list_uids (1:* in one when the
 * server gave no UIDNEXT). */
static int listing_fetch(struct imap_store *st, struct listing *l, struct ferry_error *err)
{
	uint32_t last = st->uidnext > 1 ? st->uidnext - 1 : 0;
	uint32_t first = 1;

	do {
		uint32_t to = last && last - first >= list_uids ? first + list_uids - 1 : last;
		struct mailimap_fetch_type *ft;
		struct mailimap_set *set;
		int r;

		if (listing_request(first, to, &set, &ft, err) != 0)
			return -1;
		r = imap_uid_fetch(st, set, ft, on_list_att, NULL, l);
		if (r != MAILIMAP_NO_ERROR)
			return imap_fail(st, r, err, "folder \"%s\": listing messages (UID FETCH)",
					 st->selected);
		first = to + 1;
	} while (last && first <= last && first != 0);
	return 0;
}

/* Room for the messages SELECT counted, at most one a uid below UIDNEXT:
 * grown by doubling instead, the entries of 880,000 messages would take
 * room for 1,048,576 (50 MB, not 42). Failing to reserve is harmless (a
 * server's EXISTS is not trusted with more than that). */
static void reserve_listing(const struct imap_store *st, struct listing *l)
{
	size_t want = st->exists;

	if (!st->exists_known || st->uidnext <= 1)
		return;
	if (want > st->uidnext - 1)
		want = st->uidnext - 1;
	if (want > 1000 && (l->v = malloc(want * sizeof(*l->v))))
		l->cap = want;
}

int imap_list(struct store *store, struct msg_list *out, struct ferry_error *err)
{
	struct imap_store *st = (struct imap_store *)store;
	struct listing l = {.size_max = &st->size_max};
	size_t kept = 0;

	if (imap_need_selected(st, "listing messages", err) != 0)
		return -1;
	/* Nothing to ask for; an empty answer would say the same. A server that
	 * sent no EXISTS at all is asked anyway (rule 5). */
	if (st->exists_known && st->exists == 0)
		return 0;
	reserve_listing(st, &l);
	if (listing_fetch(st, &l, err) != 0) {
		listing_free(&l);
		return -1;
	}
	if (settle_listing(&l, st->uidnext, st->selected, &kept, err) != 0) {
		listing_free(&l);
		return -1;
	}
	if (out->n == 0) {
		listing_to_msgs(&l, kept, out);
		return 0;
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

		uint32_t *nv = grow_array(*v, cap, *n + 1, 2 * sizeof(**v)); /* a range: 2 uids */

		if (!nv)
			return -1;
		*v = nv;
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

int imap_list_changes(struct store *store, uint64_t since, struct msg_list *changed,
		      uint32_t **vanished, size_t *nranges, struct ferry_error *err)
{
	struct imap_store *st = (struct imap_store *)store;
	struct mailimap_qresync_vanished *first = NULL;
	struct listing l = {.size_max = &st->size_max};
	struct mailimap_fetch_type *ft;
	struct mailimap_set *set;
	clist *result = NULL;
	size_t cap = 0;
	bool oom = false;
	int r;

	*vanished = NULL;
	*nranges = 0;
	if (imap_need_selected(st, "listing changes", err) != 0)
		return -1;
	if (!st->qresync || since == 0)
		return 1;
	if (st->uidnext <= 1)
		return 0; /* nothing was ever here */
	if (listing_request(1, st->uidnext - 1, &set, &ft, err) != 0)
		return -1;
	imap_handlers_on(st->imap, on_list_att, NULL, &l);
	r = mailimap_uid_fetch_qresync(st->imap, set, ft, since, &result, &first);
	imap_handlers_off(st->imap);
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
	struct listing l = {.size_max = &st->size_max};
	size_t cap = 0;
	bool ok = false;
	int r;

	*vanished = NULL;
	*nranges = 0;
	imap_handlers_on(st->imap, on_list_att, NULL, &l);
	r = imap_parse_answer(st, tag, false, &ok);
	imap_handlers_off(st->imap);
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
