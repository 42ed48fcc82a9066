/* Copying a plan's new messages to one side: bodies streamed from the
 * source's fetch into the target's add_* calls, identity hashed on the way,
 * each batch settled on the target before it is recorded in the state. */
#include "sync/copy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/identity.h"
#include "store/log.h"
#include "sync/crashpoint.h"
#include "sync/placeholder.h"
#include "sync/progress.h"

/* Messages committed to the state per transaction while copying. */
#define COPY_BATCH 100
/* Uids per fetch command: bounds a batch's work lost to an interruption. */
#define FETCH_BATCH 500
/* The start of each message kept to name it when the target refuses it. */
#define HEAD_KEPT 4096
/* The largest header block a placeholder is made of: more is no header. */
#define PLACEHOLDER_HEAD_MAX (1u << 20)

/* Copying: the source streams bodies into the target's add_* calls. */
struct copy {
	struct engine *e;
	int64_t folder_id;
	enum side side; /* the target's */
	struct store *to;
	const struct msg_list *src;
	const struct action **acts; /* sorted by source uid */
	size_t nacts;
	struct store_new_msg *cur;
	/* Identity of the message being copied, so both sides' ids are in the
	 * state and a later move of it can be recognised (rule 8). */
	struct ident ident;
	bool ident_open;
	/* Committed to the target since the last settle, in commit order:
	 * recorded in the state only once the target says they are settled. */
	struct copied {
		const struct action *a;
		const struct msg *m;
		struct msg_id id;
		struct msg_id stored; /* the target's copy, where it differs (rule 6) */
		uint64_t size;	      /* id's size: without the lines rule 6 leaves out */
		uint32_t uid;
		bool settled;
		bool refused;
		/* A placeholder of the far message whose identity is orig. */
		bool placeholder;
		struct msg_id orig;
		uint64_t orig_size;
		char label[224]; /* Message-ID and Subject, to name it if refused */
	} pend[COPY_BATCH];
	size_t npend, done, unrecorded;
	const char *folder;
	size_t undelivered; /* rule 17: asked for, never arrived whole */
	size_t refused;	    /* the target said no: not stored, tried again next run */
	char head[HEAD_KEPT];
	size_t nhead;
	/* Placeholders: the far message's header block as it arrives, and
	 * what the placeholder being committed stands for. */
	struct strbuf hdr;
	bool hdr_over;
	bool ph_on;
	struct msg_id ph_id;
	uint64_t ph_size;
};

static uint32_t src_uid(const struct copy *c, const struct action *a)
{
	return side_action_uid(a, side_other(c->side));
}

static const struct action *find_action(const struct copy *c, uint32_t uid)
{
	size_t lo = 0, hi = c->nacts;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		uint32_t u = src_uid(c, c->acts[mid]);

		if (u == uid)
			return c->acts[mid];
		if (u < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void copy_abort(void *ctx);

static int copy_begin(void *ctx, struct ferry_error *err)
{
	struct copy *c = ctx;

	copy_abort(c);
	c->nhead = 0;
	if (ident_init(&c->ident) != 0)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "SHA-256 unavailable");
	c->ident_open = true;
	return store_add_begin(c->to, &c->cur, err);
}

static int copy_write(void *ctx, const char *buf, size_t len, struct ferry_error *err)
{
	struct copy *c = ctx;

	if (ident_feed(&c->ident, buf, len) != 0)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "SHA-256 failed");
	if (c->nhead < sizeof(c->head)) {
		size_t n = len < sizeof(c->head) - c->nhead ? len : sizeof(c->head) - c->nhead;

		memcpy(c->head + c->nhead, buf, n);
		c->nhead += n;
	}
	return store_add_write(c->to, c->cur, buf, len, err);
}

/* The value of header field `name` in the first bytes of a message, up to
 * the end of its first line, at most outlen - 1 bytes with control
 * characters as '?'; "" when it is not there. */
static void header_field(const char *head, size_t len, const char *name, char *out, size_t outlen)
{
	size_t nlen = strlen(name), o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < len;) {
		const char *eol = memchr(head + i, '\n', len - i);
		size_t end = eol ? (size_t)(eol - head) : len;

		if (end == i || (end == i + 1 && head[i] == '\r'))
			return; /* the end of the header */
		if (end - i > nlen && head[i + nlen] == ':' &&
		    strncasecmp(head + i, name, nlen) == 0) {
			size_t v = i + nlen + 1;

			while (v < end && (head[v] == ' ' || head[v] == '\t'))
				v++;
			while (v < end && head[end - 1] == '\r')
				end--;
			for (; v < end && o + 1 < outlen; v++)
				out[o++] = (unsigned char)head[v] < 0x20 || head[v] == 0x7f
					       ? '?'
					       : head[v];
			out[o] = '\0';
			return;
		}
		i = end + 1;
	}
}

/* "Message-ID <x@y>, Subject \"...\"" of the message just streamed, what of it
 * there is, for naming it in an error. */
static void copy_label(const struct copy *c, char *out, size_t outlen)
{
	char id[100], subject[80];

	header_field(c->head, c->nhead, "Message-ID", id, sizeof(id));
	header_field(c->head, c->nhead, "Subject", subject, sizeof(subject));
	snprintf(out, outlen, "%s%s%s%s%s%s", id[0] ? "Message-ID " : "", id,
		 id[0] && subject[0] ? ", " : "", subject[0] ? "Subject \"" : "", subject,
		 subject[0] ? "\"" : "");
}

/* The target refused the message (a NO: over quota, too large, a NUL in
 * it): it holds nothing of it, so it is not recorded, and the next run
 * tries again. Named here, as only the engine knows where it came from. */
static void copy_refused(struct copy *c, uint32_t src, const char *label, const char *why)
{
	c->refused++;
	log_error("%s: %s uid %u%s%s%s not copied: %s; the next run tries again", c->folder,
		  side_str(side_other(c->side)), src, label[0] ? " (" : "", label,
		  label[0] ? ")" : "", why);
}

static void copy_refused_at(void *ctx, size_t seq, const char *why)
{
	struct copy *c = ctx;

	if (seq >= c->npend || c->pend[seq].settled || c->pend[seq].refused)
		return; /* a driver bug; never index past the batch */
	c->pend[seq].refused = true;
	copy_refused(c, src_uid(c, c->pend[seq].a), c->pend[seq].label, why);
}

static void copy_settled(void *ctx, size_t seq, uint32_t uid, const struct msg_id *stored)
{
	struct copy *c = ctx;

	if (seq >= c->npend) /* a driver bug; never index past the batch */
		return;
	c->pend[seq].settled = true;
	if (!c->pend[seq].uid)
		c->pend[seq].uid = uid;
	if (!stored)
		return;
	/* A copy the target may have rewritten and could not read back: its
	 * identity is unknown, so it is paired by identity next run (rule 7)
	 * rather than recorded with the identity of what was sent. */
	c->pend[seq].stored = *stored;
	if (!stored->known)
		c->pend[seq].uid = 0;
}

/* Settles the batch on the target (pipelined APPENDs answered, Maildir
 * directories and index synced), then records what settled with a uid in
 * one state transaction. What settled without a uid (no UIDPLUS) is paired
 * by identity next run (rule 7). err may be NULL after an earlier error. */
static int copy_settle(struct copy *c, struct ferry_error *err)
{
	const char *action = c->side == FAR ? "upload" : "download";
	struct ferry_error local = {0};
	struct ferry_error *e = err ? err : &local;
	int r = 0, rs = 0;
	size_t recorded = 0;

	if (c->npend == 0)
		return 0;
	r = store_add_flush(c->to, copy_settled, copy_refused_at, c, e);
	/* Refusals only (add_flush's contract): the store holds none of them,
	 * each was named, and the rest of the copy goes on. */
	if (r != 0 && e->cause == FERRY_CAUSE_REFUSED && !c->to->broken) {
		r = 0;
		ferry_error_clear(e);
	}
	for (size_t i = 0; i < c->npend; i++)
		recorded += c->pend[i].settled && c->pend[i].uid;
	if (recorded) {
		rs = state_begin(c->e->state, r == 0 ? e : &local);
		/* In the pairs' transaction: their bases hold keywords the
		 * target may have taken no more of (rule 9). */
		if (rs == 0)
			rs = state_add_dropped_keywords(c->e->state, c->folder_id, c->side,
							store_keywords_dropped(c->to),
							r == 0 ? e : &local);
		for (size_t i = 0; rs == 0 && i < c->npend; i++) {
			const struct copied *p = &c->pend[i];
			struct pair pr;

			if (!p->settled || !p->uid)
				continue;
			pr = (struct pair){.far_uid = c->side == FAR ? p->uid : src_uid(c, p->a),
					   .near_uid = c->side == FAR ? src_uid(c, p->a) : p->uid,
					   .status = PAIR_SYNCED,
					   .base_flags = p->a->base_flags,
					   .base_keywords = p->a->base_keywords,
					   .size = p->id.known ? p->size : p->m->size};
			pr.far_id = pr.near_id = p->id.known ? p->id : msg_get_id(p->m);
			if (p->stored.known)
				*(c->side == FAR ? &pr.far_id : &pr.near_id) = p->stored;
			if (p->placeholder) {
				/* The far side holds the original, near its
				 * placeholder (as the near store identifies it). */
				pr.far_id = p->orig;
				pr.size = p->orig_size;
				pr.placeholder = true;
				pr.placeholder_size = p->size;
			}
			rs = state_put_pair(c->e->state, c->folder_id, &pr, r == 0 ? e : &local);
		}
		if (rs == 0)
			rs = state_commit(c->e->state, r == 0 ? e : &local);
		else
			state_rollback(c->e->state);
	}
	for (size_t i = 0; i < c->npend; i++) {
		if (!c->pend[i].settled)
			continue;
		c->done++;
		c->unrecorded += !c->pend[i].uid;
		if (rs == 0 && c->pend[i].uid)
			crashpoint(action, true);
	}
	c->npend = 0;
	return r != 0 || rs != 0 ? -1 : 0;
}

/* Rule 17: the message is not copied, and the folder will not be
 * recorded clean, so that the next run tries it again. */
static void copy_undelivered(void *ctx, uint32_t uid, const char *why)
{
	struct copy *c = ctx;

	c->undelivered++;
	log_error("%s: %s uid %u: %s; not copied, the next run tries again", c->folder,
		  side_str(side_other(c->side)), uid, why);
}

static int copy_end(void *ctx, uint32_t uid, struct ferry_error *err)
{
	struct copy *c = ctx;
	const struct action *a = find_action(c, uid);
	const struct msg *m = engine_find_msg(c->src, uid);
	struct store_new_msg *cur = c->cur;
	const char *action = c->side == FAR ? "upload" : "download";
	struct msg_id id = {0};
	char label[sizeof(c->pend[0].label)];
	uint64_t size = 0;
	bool header_ended = !c->ident_open || !c->ident.in_header;
	uint32_t new_uid = 0;

	c->cur = NULL;
	if (c->ident_open) {
		c->ident_open = false;
		if (ident_final(&c->ident, &id, &size) != 0)
			id.known = false;
	}
	if (!a || !m) {
		/* A FETCH for a uid never asked for: drop it (hostile or buggy server). */
		log_warn("ignoring a message the server sent unasked (uid %u)", uid);
		store_add_abort(c->to, cur);
		return 0;
	}
	/* Shorter than the listing said and not even a whole header: a cut,
	 * not a message. (A size that is merely off, as some servers announce,
	 * with a whole header, is taken as it came.) */
	if (id.known && size < m->size && !header_ended) {
		char why[128];

		store_add_abort(c->to, cur);
		snprintf(why, sizeof(why),
			 "cut short: %llu of %llu bytes, and no end of its header",
			 (unsigned long long)size, (unsigned long long)m->size);
		copy_undelivered(c, uid, why);
		return 0;
	}
	crashpoint(action, false);
	copy_label(c, label, sizeof(label));
	if (store_add_commit(c->to, cur, a->add, a->add_keywords, m->date, &new_uid, err) != 0) {
		if (err->cause != FERRY_CAUSE_REFUSED || c->to->broken)
			return -1;
		copy_refused(c, uid, label, err->msg);
		ferry_error_clear(err);
		return 0;
	}
	progress_copied(size);
	c->pend[c->npend] = (struct copied){.a = a,
					    .m = m,
					    .id = id,
					    .size = size,
					    .uid = new_uid,
					    .settled = !store_add_deferred(c->to),
					    .placeholder = c->ph_on,
					    .orig = c->ph_id,
					    .orig_size = c->ph_size};
	memcpy(c->pend[c->npend++].label, label, sizeof(label));
	if (c->npend == COPY_BATCH)
		return copy_settle(c, err);
	return 0;
}

static void copy_abort(void *ctx)
{
	struct copy *c = ctx;

	if (c->ident_open)
		ident_discard(&c->ident);
	c->ident_open = false;
	if (c->cur)
		store_add_abort(c->to, c->cur);
	c->cur = NULL;
}

/* ---- placeholders: the far message's header block in, a note out ---- */

static int ph_begin(void *ctx, struct ferry_error *err)
{
	struct copy *c = ctx;

	(void)err;
	c->hdr.len = 0;
	c->hdr_over = false;
	return 0;
}

static int ph_write(void *ctx, const char *buf, size_t len, struct ferry_error *err)
{
	struct copy *c = ctx;

	(void)err;
	if (c->hdr.len + len > PLACEHOLDER_HEAD_MAX)
		c->hdr_over = true; /* told at its end: no placeholder of it */
	else
		strbuf_add(&c->hdr, buf, len);
	return 0;
}

static void ph_abort(void *ctx)
{
	struct copy *c = ctx;

	c->hdr.len = 0;
}

/* The original's identity (rule 6) from its header block and listed size,
 * as identify would read it. */
static int ph_identity(struct copy *c, const struct msg *m, struct ferry_error *err)
{
	struct ident id;
	uint64_t dropped;

	if (ident_init(&id) != 0)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "SHA-256 unavailable");
	if (ident_feed(&id, c->hdr.s ? c->hdr.s : "", c->hdr.len) != 0) {
		ident_discard(&id);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "SHA-256 failed");
	}
	dropped = ident_dropped(&id);
	if (ident_final(&id, &c->ph_id, NULL) != 0)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "SHA-256 failed");
	c->ph_size = m->size >= dropped ? m->size - dropped : m->size;
	return 0;
}

/* The far message's header block is in: its placeholder goes to the
 * target as a copy would, through copy_begin/write/end. */
static int ph_end(void *ctx, uint32_t uid, struct ferry_error *err)
{
	struct copy *c = ctx;
	const struct msg *m = engine_find_msg(c->src, uid);
	struct strbuf text = {0};
	struct placeholder_of of;
	int r;

	if (!find_action(c, uid) || !m) {
		log_warn("ignoring a message the server sent unasked (uid %u)", uid);
		return 0;
	}
	if (c->hdr_over || c->hdr.oom) {
		copy_undelivered(c, uid, "its header block is over 1 MB: no placeholder made");
		return 0;
	}
	if (ph_identity(c, m, err) != 0)
		return -1;
	of = (struct placeholder_of){.channel = c->e->ch->name,
				     .folder = c->folder,
				     .uid = uid,
				     .size = c->ph_size,
				     .id = &c->ph_id,
				     .flagged = c->e->ch->placeholders == PLACEHOLDERS_FLAGGED};
	placeholder_build(c->hdr.s ? c->hdr.s : "", c->hdr.len, &of, &text);
	if (text.oom)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	c->ph_on = true;
	r = copy_begin(c, err);
	if (r == 0)
		r = copy_write(c, text.s, text.len, err);
	if (r == 0)
		r = copy_end(c, uid, err);
	else
		copy_abort(c);
	c->ph_on = false;
	strbuf_free(&text);
	return r;
}

static int cmp_copy_far(const void *a, const void *b)
{
	const struct action *x = *(const struct action *const *)a;
	const struct action *y = *(const struct action *const *)b;

	return (x->far_uid > y->far_uid) - (x->far_uid < y->far_uid);
}

static int cmp_copy_near(const void *a, const void *b)
{
	const struct action *x = *(const struct action *const *)a;
	const struct action *y = *(const struct action *const *)b;

	return (x->near_uid > y->near_uid) - (x->near_uid < y->near_uid);
}

int copy_msgs(struct engine *e, const char *name, int64_t folder_id, const struct plan *p,
	      enum side to, const struct msg_list *src, size_t *copied, size_t *unrecorded,
	      size_t *undelivered, size_t *refused, struct ferry_error *err)
{
	static const enum action_kind kinds[2] = {
	    [FAR] = ACT_COPY_TO_FAR, [NEAR] = ACT_COPY_TO_NEAR};
	/* The actions sorted by source uid, the order find_action searches. */
	static int (*const by_source[2])(const void *, const void *) = {
	    [FAR] = cmp_copy_near, [NEAR] = cmp_copy_far};
	enum action_kind kind = kinds[to];
	struct store *from = e->store[side_other(to)];
	struct copy c = {.e = e, .folder_id = folder_id, .side = to, .src = src, .folder = name};
	struct fetch_sink sink = {.ctx = &c,
				  .begin = copy_begin,
				  .write = copy_write,
				  .end = copy_end,
				  .abort = copy_abort,
				  .undelivered = copy_undelivered};
	struct fetch_sink ph_sink = {.ctx = &c,
				     .begin = ph_begin,
				     .write = ph_write,
				     .end = ph_end,
				     .abort = ph_abort,
				     .undelivered = copy_undelivered};
	struct journal_entry j = {.folder_id = folder_id,
				  .action = to == FAR ? J_UPLOAD : J_DOWNLOAD,
				  .to_far = to == FAR};
	const struct action **all;
	uint32_t *uids;
	uint64_t bytes = 0;
	size_t total, nwhole = 0;
	int r = 0;

	c.to = e->store[to];
	c.acts = malloc((p->n + 1) * sizeof(*c.acts));
	uids = malloc((p->n + 1) * sizeof(*uids));
	if (!c.acts || !uids) {
		free(c.acts);
		free(uids);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].kind == kind)
			c.acts[c.nacts++] = &p->v[i];
	qsort(c.acts, c.nacts, sizeof(*c.acts), by_source[to]);
	/* Whole messages first, then placeholders (only their headers are
	 * read), each run in source uid order, as find_action searches it. */
	all = c.acts;
	total = c.nacts;
	for (size_t i = 0; i < total; i++)
		nwhole += !all[i]->placeholder;
	if (nwhole < total) {
		const struct action **v = malloc(total * sizeof(*v));

		if (!v) {
			free(all);
			free(uids);
			return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		}
		for (size_t i = 0, w = 0, ph = nwhole; i < total; i++)
			v[all[i]->placeholder ? ph++ : w++] = all[i];
		memcpy(all, v, total * sizeof(*v));
		free(v);
	}
	for (size_t i = 0; i < total; i++) {
		const struct msg *m;

		uids[i] = src_uid(&c, c.acts[i]);
		if (!c.acts[i]->placeholder && (m = engine_find_msg(src, uids[i])))
			bytes += m->size;
	}
	if (c.nacts)
		progress_planned(folder_id, c.nacts, bytes);
	j.count = c.nacts;
	if (c.nacts && state_journal_add(e->state, &j, err) != 0)
		r = -1;
	for (int pass = 0; r == 0 && pass < 2; pass++) {
		size_t at = pass ? nwhole : 0;

		c.acts = all + at;
		c.nacts = pass ? total - nwhole : nwhole;
		for (size_t i = 0; r == 0 && i < c.nacts && !engine_interrupted; i += FETCH_BATCH) {
			size_t n = c.nacts - i < FETCH_BATCH ? c.nacts - i : FETCH_BATCH;

			if (pass)
				r = store_fetch_headers(from, uids + at + i, n, &ph_sink, err);
			else
				r = store_fetch(from, uids + at + i, n, &sink, err);
			copy_abort(&c);
			/* What arrived whole is recorded even when the fetch failed. */
			if (copy_settle(&c, r == 0 ? err : NULL) != 0)
				r = -1;
		}
	}
	c.acts = all;
	c.nacts = total;
	strbuf_free(&c.hdr);
	if (r == 0 && c.nacts && state_journal_done(e->state, j.id, err) != 0)
		r = -1;
	*copied += c.done;
	*unrecorded += c.unrecorded;
	*undelivered += c.undelivered;
	*refused += c.refused;
	free(c.acts);
	free(uids);
	return r;
}
