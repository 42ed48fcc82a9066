/* Copying a plan's new messages to one side: bodies streamed from the
 * source's fetch into the target's add_* calls, identity hashed on the way,
 * each batch settled on the target before it is recorded in the state. */
#include "sync/copy.h"

#include <stdio.h>
#include <stdlib.h>

#include "store/identity.h"
#include "store/log.h"
#include "sync/crashpoint.h"

/* Messages committed to the state per transaction while copying. */
#define COPY_BATCH 100
/* Uids per fetch command: bounds a batch's work lost to an interruption. */
#define FETCH_BATCH 500

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
	} pend[COPY_BATCH];
	size_t npend, done, unrecorded;
	const char *folder;
	size_t undelivered; /* rule 17: asked for, never arrived whole */
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
	return store_add_write(c->to, c->cur, buf, len, err);
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
	r = store_add_flush(c->to, copy_settled, c, e);
	for (size_t i = 0; i < c->npend; i++)
		recorded += c->pend[i].settled && c->pend[i].uid;
	if (recorded) {
		rs = state_begin(c->e->state, r == 0 ? e : &local);
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
			pr.far_id = pr.near_id = p->id.known ? p->id : p->m->id;
			if (p->stored.known)
				*(c->side == FAR ? &pr.far_id : &pr.near_id) = p->stored;
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
	if (store_add_commit(c->to, cur, a->add, a->add_keywords, m->date, &new_uid, err) != 0)
		return -1;
	c->pend[c->npend++] = (struct copied){.a = a,
					      .m = m,
					      .id = id,
					      .size = size,
					      .uid = new_uid,
					      .settled = !store_add_deferred(c->to)};
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
	      size_t *undelivered, struct ferry_error *err)
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
	struct journal_entry j = {.folder_id = folder_id,
				  .action = to == FAR ? J_UPLOAD : J_DOWNLOAD,
				  .to_far = to == FAR};
	uint32_t *uids;
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
	for (size_t i = 0; i < c.nacts; i++)
		uids[i] = src_uid(&c, c.acts[i]);
	j.count = c.nacts;
	if (c.nacts && state_journal_add(e->state, &j, err) != 0)
		r = -1;
	for (size_t i = 0; r == 0 && i < c.nacts && !engine_interrupted; i += FETCH_BATCH) {
		size_t n = c.nacts - i < FETCH_BATCH ? c.nacts - i : FETCH_BATCH;

		r = store_fetch(from, uids + i, n, &sink, err);
		copy_abort(&c);
		/* What arrived whole is recorded even when the fetch failed. */
		if (copy_settle(&c, r == 0 ? err : NULL) != 0)
			r = -1;
	}
	if (r == 0 && c.nacts && state_journal_done(e->state, j.id, err) != 0)
		r = -1;
	*copied += c.done;
	*unrecorded += c.unrecorded;
	*undelivered += c.undelivered;
	free(c.acts);
	free(uids);
	return r;
}
