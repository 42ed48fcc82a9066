/* Prefetch: the SELECT of every folder about to be synced, and where the
 * engine knows a modseq the UID FETCH ... (CHANGEDSINCE m VANISHED) of its
 * changes, written in one go and read back in order (libetpan.md, section 6).
 * A run whose folders changed a little then costs one round trip for all
 * of them instead of two per folder. The answers are read lazily: the
 * engine goes on with local work (the Maildir's status) while the server
 * answers, and a select reads only up to its folder's answers. Any other
 * command reads them all first (imap_usable). They wait here until the
 * engine selects each folder and asks for its changes; the folder is then
 * selected only on paper (sel_virtual), and the first command that needs it
 * really selected sends a SELECT (select.c, imap_need_selected).
 *
 * The commands go through the queue (queue.c) with a handler each, ENABLE
 * QRESYNC ahead of the first SELECT. */
#include "store/imap/prefetch.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/base/grow.h"
#include "store/imap/listing.h"
#include "store/imap/namespace.h"
#include "store/imap/queue.h"
#include "store/imap/select.h"

/* libetpan's ENABLE data has one type, 0, in an enum its headers do not
 * install (enable.c, MAILIMAP_ENABLE_TYPE_ENABLE). */
#define ENABLE_DATA_TYPE 0

/* At most this many folders' answers are left unread while more commands
 * are written: beyond it, the server could block writing answers nobody
 * reads while ferry blocks writing commands it does not read. */
#define PREFETCH_WINDOW 64

struct imap_prefetched {
	char *name;		/* canonical */
	char *mb;		/* the server's spelling */
	int sel_tag, fetch_tag; /* -1: not sent */
	bool selected;		/* the SELECT answered OK with a UIDVALIDITY; not taken yet */
	struct folder_state fs;
	bool exists_known;
	uint64_t since; /* what the changes are since; 0: none asked for */
	bool changes;	/* the UID FETCH answered OK; not taken yet */
	struct msg_list changed;
	uint32_t *vanished;
	size_t nvanished;
};

void imap_prefetch_clear(struct imap_store *st)
{
	for (size_t i = 0; i < st->npf; i++) {
		free(st->pf[i].name);
		free(st->pf[i].mb);
		msg_list_free(&st->pf[i].changed);
		free(st->pf[i].vanished);
	}
	free(st->pf);
	st->pf = NULL;
	st->npf = st->pf_read = st->pf_cap = 0;
}

static int settle_upto(struct imap_store *st, size_t upto, struct ferry_error *err);

static struct imap_prefetched *find(struct imap_store *st, const char *name)
{
	for (size_t i = 0; name && i < st->npf; i++)
		if (st->pf[i].name && strcmp(st->pf[i].name, name) == 0)
			return &st->pf[i];
	return NULL;
}

/* The prefetched answer to the SELECT of name: 0 when taken from the
 * prefetch, 1 when not prefetched (or not usable). */
static int prefetched_select(struct imap_store *st, const char *name, struct folder_state *out)
{
	struct imap_prefetched *p = find(st, name);

	if (!p || st->broken)
		return 1;
	/* The answers up to this folder's, not the rest: the server is still
	 * writing them while the engine works on this one. */
	if (settle_upto(st, (size_t)(p - st->pf) + 1, NULL) != 0 || !p->selected)
		return 1;
	imap_unselect(st);
	st->selected = strdup(name);
	st->selected_imap = strdup(p->mb);
	if (!st->selected || !st->selected_imap) {
		imap_unselect(st);
		return 1;
	}
	st->uidvalidity = p->fs.uidvalidity;
	st->uidnext = p->fs.uidnext;
	st->exists = p->fs.exists;
	st->exists_known = p->exists_known;
	st->sel_virtual = true;
	p->selected = false; /* once: a second select asks the server again */
	*out = p->fs;
	return 0;
}

/* The prefetched changes of the selected folder since since, as
 * prefetched_select. */
static int prefetched_changes(struct imap_store *st, uint64_t since, struct msg_list *changed,
			      uint32_t **vanished, size_t *nranges)
{
	struct imap_prefetched *p = find(st, st->selected);

	/* Only for the selection the prefetch itself gave. */
	if (!p || !p->changes || p->since != since || !st->sel_virtual)
		return 1;
	for (size_t i = 0; i < p->changed.n; i++)
		if (msg_list_push(changed, &p->changed.v[i]) != 0)
			return 1; /* asked the long way */
	*vanished = p->vanished;
	*nranges = p->nvanished;
	p->vanished = NULL;
	p->nvanished = 0;
	p->changes = false;
	msg_list_free(&p->changed);
	return 0;
}

/* The values of a SELECT's answer just parsed (as mailimap_select_condstore
 * reads them). */
static void take_select(struct imap_store *st, struct imap_prefetched *p)
{
	const struct mailimap_selection_info *info = st->imap->imap_selection_info;
	const struct mailimap_response_info *resp = st->imap->imap_response_info;
	uint64_t modseq = 0;

	for (clistiter *it =
		 resp && resp->rsp_extension_list ? clist_begin(resp->rsp_extension_list) : NULL;
	     it; it = clist_next(it)) {
		const struct mailimap_extension_data *ext = clist_content(it);
		const struct mailimap_condstore_resptextcode *code;

		if (!ext || !ext->ext_extension ||
		    ext->ext_extension->ext_id != MAILIMAP_EXTENSION_CONDSTORE ||
		    ext->ext_type != MAILIMAP_CONDSTORE_TYPE_RESP_TEXT_CODE || !ext->ext_data)
			continue;
		code = ext->ext_data;
		if (code->cs_type == MAILIMAP_CONDSTORE_RESPTEXTCODE_HIGHESTMODSEQ)
			modseq = code->cs_data.cs_modseq_value;
		else if (code->cs_type == MAILIMAP_CONDSTORE_RESPTEXTCODE_NOMODSEQ)
			modseq = 0;
	}
	if (!info || info->sel_uidvalidity == 0)
		return; /* selected the usual way, which says what is wrong */
	p->fs = (struct folder_state){
	    .uidvalidity = info->sel_uidvalidity,
	    .uidnext = info->sel_uidnext,
	    .highestmodseq = modseq,
	    .exists = info->sel_exists,
	    .keywords_ok = imap_keywords_storable(info),
	};
	p->exists_known = info->sel_has_exists;
	p->selected = true;
}

/* Whether the answer to ENABLE just parsed enabled QRESYNC. */
static bool qresync_enabled(const mailimap *imap)
{
	const struct mailimap_response_info *resp = imap->imap_response_info;

	for (clistiter *it =
		 resp && resp->rsp_extension_list ? clist_begin(resp->rsp_extension_list) : NULL;
	     it; it = clist_next(it)) {
		const struct mailimap_extension_data *ext = clist_content(it);
		const struct mailimap_capability_data *caps;

		if (!ext || !ext->ext_extension ||
		    ext->ext_extension->ext_id != MAILIMAP_EXTENSION_ENABLE ||
		    ext->ext_type != ENABLE_DATA_TYPE || !(caps = ext->ext_data))
			continue;
		for (clistiter *c = caps->cap_list ? clist_begin(caps->cap_list) : NULL; c;
		     c = clist_next(c)) {
			const struct mailimap_capability *cap = clist_content(c);

			if (cap->cap_type == MAILIMAP_CAPABILITY_NAME && cap->cap_data.cap_name &&
			    strcasecmp(cap->cap_data.cap_name, "QRESYNC") == 0)
				return true;
		}
	}
	return false;
}

/* Parses the answer to one pipelined SELECT, with a fresh selection info
 * as libetpan's own SELECT does; the session's state follows the answer. */
static int read_select(struct imap_store *st, int tag, struct imap_prefetched *p)
{
	mailimap *imap = st->imap;
	bool ok = false;
	int r;

	if (imap->imap_selection_info)
		mailimap_selection_info_free(imap->imap_selection_info);
	imap->imap_selection_info = mailimap_selection_info_new();
	if (!imap->imap_selection_info)
		return MAILIMAP_ERROR_MEMORY;
	r = imap_parse_answer(st, tag, false, &ok);
	if (r != MAILIMAP_NO_ERROR)
		return r;
	if (ok) {
		imap->imap_state = MAILIMAP_STATE_SELECTED;
		take_select(st, p);
	} else {
		/* A failed SELECT leaves no folder selected on the server. */
		mailimap_selection_info_free(imap->imap_selection_info);
		imap->imap_selection_info = NULL;
		imap->imap_state = MAILIMAP_STATE_AUTHENTICATED;
	}
	return MAILIMAP_NO_ERROR;
}

/* The answer to ENABLE QRESYNC. */
static int read_enable(struct imap_store *st, int tag, void *ctx, size_t arg,
		       struct ferry_error *err)
{
	bool ok = false;
	int r;

	(void)ctx;
	(void)arg;
	st->enable_unread = false;
	r = imap_parse_answer(st, tag, false, &ok);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(st, r, err, "ENABLE QRESYNC");
	st->qresync = ok && qresync_enabled(st->imap);
	return 0;
}

static void lost_enable(struct imap_store *st, void *ctx, size_t arg, const struct ferry_error *why)
{
	(void)ctx;
	(void)arg;
	(void)why;
	st->enable_unread = false;
}

/* The answer to pf[arg]'s SELECT. A folder whose answers are refused or not
 * trusted is selected and listed the usual way; -1 only when the session
 * broke. */
static int read_prefetched_select(struct imap_store *st, int tag, void *ctx, size_t arg,
				  struct ferry_error *err)
{
	struct imap_prefetched *p = &st->pf[arg];
	int r;

	(void)ctx;
	r = read_select(st, tag, p);
	if (r != MAILIMAP_NO_ERROR && imap_error_is_fatal(r))
		return imap_fail(st, r, err, "folder \"%s\": SELECT", p->name);
	if (r != MAILIMAP_NO_ERROR)
		p->selected = false;
	if (p->fetch_tag < 0)
		st->pf_read = arg + 1;
	return 0;
}

/* The answer to pf[arg]'s UID FETCH ... (CHANGEDSINCE m VANISHED). */
static int read_prefetched_changes(struct imap_store *st, int tag, void *ctx, size_t arg,
				   struct ferry_error *err)
{
	struct imap_prefetched *p = &st->pf[arg];
	struct ferry_error one = {0};
	int r;

	(void)ctx;
	r = imap_read_changes(st, tag, p->fs.uidnext, p->name, &p->changed, &p->vanished,
			      &p->nvanished, &one);
	if (r < 0 && st->broken) {
		*err = one;
		return -1;
	}
	/* Refused or not trusted: list_changed asks again, the usual way. */
	p->changes = r == 0 && p->selected && st->qresync;
	st->pf_read = arg + 1;
	return 0;
}

static const struct imap_handler enable_answer = {.read = read_enable, .lost = lost_enable};
static const struct imap_handler select_answer = {.read = read_prefetched_select};
static const struct imap_handler changes_answer = {.read = read_prefetched_changes};

/* Reads the answers in flight up to those of pf[upto - 1] (the last folder
 * before it that was sent), ENABLE's and all before them too. -1 only when
 * the session broke (err set where given). */
static int settle_upto(struct imap_store *st, size_t upto, struct ferry_error *err)
{
	for (size_t i = upto; i-- > st->pf_read;) {
		const struct imap_prefetched *p = &st->pf[i];
		int tag = p->fetch_tag >= 0 ? p->fetch_tag : p->sel_tag;

		if (tag >= 0)
			return imap_queue_settle_through(st, tag, err);
	}
	return 0;
}

/* Writes SELECT and, where since is known, UID FETCH ... CHANGEDSINCE for
 * pf[i], leaving the answers unread. */
static int send_one(struct imap_store *st, size_t i, uint64_t since, bool qresync,
		    struct ferry_error *err)
{
	struct imap_prefetched *p = &st->pf[i];
	char line[128], *q = imap_quoted(p->mb), *select;
	size_t len;

	if (!q)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	len = strlen(q) + 32;
	select = malloc(len);
	if (!select) {
		free(q);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	snprintf(select, len, "SELECT %s (CONDSTORE)\r\n", q);
	free(q);
	p->sel_tag = imap_queue_send(st, select, &select_answer, NULL, i, "SELECT", err);
	free(select);
	if (p->sel_tag < 0)
		return -1;
	if (!since || !qresync)
		return 0;
	snprintf(line, sizeof(line),
		 "UID FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE) (CHANGEDSINCE %" PRIu64
		 " VANISHED)\r\n",
		 since);
	p->since = since;
	p->fetch_tag = imap_queue_send(st, line, &changes_answer, NULL, i, "UID FETCH", err);
	return p->fetch_tag < 0 ? -1 : 0;
}

int imap_prefetch(struct store *store, const char *const *names, const uint64_t *since, size_t n,
		  struct ferry_error *err)
{
	struct imap_store *st = (struct imap_store *)store;
	struct imap_prefetched *v;
	size_t first = st->npf;
	bool qresync;
	int r;

	if (n == 0) { /* the drop: what was not taken goes, read first */
		r = imap_queue_settle(st, err);
		imap_prefetch_clear(st);
		return r;
	}
	if (!(st->base.caps & CAP_CONDSTORE))
		return 0;
	/* Not imap_usable: the answers of an earlier prefetch stay unread. */
	if (st->broken)
		return imap_session_gone(st, err);
	if (!st->ns_known && imap_namespace_ready(st, err) != 0)
		return -1;
	v = grow_array(st->pf, &st->pf_cap, st->npf + n, sizeof(*v));
	if (!v)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	st->pf = v;
	memset(v + first, 0, n * sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[first + i].sel_tag = v[first + i].fetch_tag = -1;
	st->npf += n;
	/* Nothing is selected for the caller from here on: the server's
	 * selection moves from folder to folder. */
	imap_unselect(st);
	/* QRESYNC is enabled before the first SELECT, in the same write. */
	qresync = st->qresync || st->enable_unread;
	if ((st->base.caps & CAP_QRESYNC) && (st->base.caps & CAP_ENABLE) && !st->enable_sent) {
		st->enable_sent = true;
		if (imap_queue_send(st, "ENABLE QRESYNC\r\n", &enable_answer, NULL, 0,
				    "ENABLE QRESYNC", err) < 0) {
			r = -1;
			goto out;
		}
		st->enable_unread = true;
		qresync = true; /* expected; the FETCHes are not sent otherwise */
	}
	for (size_t i = 0; i < n; i++) {
		struct imap_prefetched *p = &st->pf[first + i];
		struct ferry_error one = {0};

		/* A name this server cannot take is selected (and reported) the usual way. */
		if (imap_map_name(st, names[i], "cannot select", &p->mb, &one) != 0)
			continue;
		if (!(p->name = strdup(names[i]))) {
			r = ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
			goto out;
		}
		if (first + i - st->pf_read >= PREFETCH_WINDOW &&
		    (imap_queue_flush(st, "SELECT and UID FETCH", err) != 0 ||
		     settle_upto(st, first + i - PREFETCH_WINDOW + 1, err) != 0)) {
			r = -1;
			goto out;
		}
		if ((r = send_one(st, first + i, since[i], qresync, err)) != 0)
			goto out;
	}
	r = imap_queue_flush(st, "SELECT and UID FETCH", err);
out:
	if (r != 0) {
		/* What was sent is still answered: read it before the next command. */
		(void)imap_queue_settle(st, NULL);
		imap_prefetch_clear(st);
	}
	return r;
}

/* The driver's select and list_changed: what a prefetch brought, once, else
 * asked of the server. */
int imap_select(struct store *store, const char *name, struct folder_state *out,
		struct ferry_error *err)
{
	struct imap_store *st = (struct imap_store *)store;

	if (prefetched_select(st, name, out) == 0)
		return 0;
	return imap_select_now(st, name, out, err);
}

int imap_list_changed(struct store *store, uint64_t since, struct msg_list *changed,
		      uint32_t **vanished, size_t *nranges, struct ferry_error *err)
{
	struct imap_store *st = (struct imap_store *)store;

	*vanished = NULL;
	*nranges = 0;
	if (st->selected && prefetched_changes(st, since, changed, vanished, nranges) == 0)
		return 0;
	return imap_list_changes(store, since, changed, vanished, nranges, err);
}
