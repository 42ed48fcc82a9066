/* One folder pair: listings, identity of unpaired messages, the plan, and
 * its side effects, each batch journaled and committed to the state. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/flags.h"
#include "store/identity.h"
#include "store/log.h"
#include "store/names.h"
#include "sync/engine.h"
#include "sync/plan.h"

/* Messages committed to the state per transaction while copying. */
#define COPY_BATCH 100
/* Uids per fetch command: bounds a batch's work lost to an interruption. */
#define FETCH_BATCH 500

volatile int engine_interrupted;

#ifdef FERRY_TEST_HOOKS
static const char *crash_channel;

void engine_crash_scope(const char *channel)
{
	crash_channel = channel;
}

static pid_t crash_also; /* the channel's process, seen from a worker */

void engine_crash_scope_worker(void)
{
	crash_also = getppid();
}

/* FERRY_CRASH_AT=<action>:<n>[:after] kills this process before (or after)
 * the n-th batch or message of that action; FERRY_CRASH_CHANNEL limits it to
 * one channel. */
void engine_crash_point(const char *action, bool after)
{
	static long count[2]; /* before, after: batches settle after several befores */
	const char *spec = getenv("FERRY_CRASH_AT");
	const char *only = getenv("FERRY_CRASH_CHANNEL");
	size_t len = strlen(action);
	char *end;
	long n;

	if (!spec || strncmp(spec, action, len) != 0 || spec[len] != ':')
		return;
	if (only && crash_channel && strcmp(only, crash_channel) != 0)
		return;
	n = strtol(spec + len + 1, &end, 10);
	if (after == (strcmp(end, ":after") == 0) && ++count[after] == n) {
		fflush(NULL);
		if (crash_also)
			kill(crash_also, SIGKILL);
		kill(getpid(), SIGKILL);
	}
}
#else
void engine_crash_scope(const char *channel)
{
	(void)channel;
}

void engine_crash_point(const char *action, bool after)
{
	(void)action;
	(void)after;
}

void engine_crash_scope_worker(void)
{
}
#endif

static int cmp_msg_uid(const void *a, const void *b)
{
	const struct msg *x = a, *y = b;

	return (x->uid > y->uid) - (x->uid < y->uid);
}

struct msg *engine_find_msg(const struct msg_list *l, uint32_t uid)
{
	struct msg key = {.uid = uid};

	return l->n ? bsearch(&key, l->v, l->n, sizeof(*l->v), cmp_msg_uid) : NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Identifies the unpaired messages of one side whose size also occurs among
 * the other side's unpaired messages: only those can pair (rule 7), and the
 * common case, new mail on one side only, then costs no header fetch. */
static int identify_side(struct store *store, struct msg_list *mine, const size_t *idx, size_t n,
			 const struct msg_list *other, const size_t *oidx, size_t on,
			 struct ferry_error *err)
{
	uint64_t *sizes;
	struct msg *want;
	size_t nwant = 0;
	int r = 0;

	if (!n || !on)
		return 0;
	sizes = malloc(on * sizeof(*sizes));
	want = malloc(n * sizeof(*want));
	if (!sizes || !want) {
		free(sizes);
		free(want);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	for (size_t i = 0; i < on; i++)
		sizes[i] = other->v[oidx[i]].size;
	qsort(sizes, on, sizeof(*sizes), cmp_u64);
	for (size_t i = 0; i < n; i++) {
		const struct msg *m = &mine->v[idx[i]];

		if (!m->id.known && bsearch(&m->size, sizes, on, sizeof(*sizes), cmp_u64))
			want[nwant++] = *m; /* shallow: identify only fills id */
	}
	if (nwant)
		r = store->driver->identify(store, want, nwant, err);
	for (size_t i = 0; r == 0 && i < nwant; i++) {
		struct msg *m = engine_find_msg(mine, want[i].uid);

		if (m)
			m->id = want[i].id;
	}
	free(sizes);
	free(want);
	return r;
}

#define HASH_LEN sizeof(((struct msg_id *)0)->hash)

static int cmp_hash(const void *a, const void *b)
{
	return memcmp(a, b, HASH_LEN);
}

/* The header hashes of l's messages idx[0..n) whose identity is known,
 * sorted, HASH_LEN bytes each; malloc'd, NULL on allocation failure. */
static unsigned char *sorted_hashes(const struct msg_list *l, const size_t *idx, size_t n,
				    size_t *count)
{
	unsigned char *v = malloc(n * HASH_LEN + 1);

	*count = 0;
	if (!v)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (l->v[idx[i]].id.known)
			memcpy(v + HASH_LEN * (*count)++, l->v[idx[i]].id.hash, HASH_LEN);
	qsort(v, *count, HASH_LEN, cmp_hash);
	return v;
}

static bool has_hash(const unsigned char *v, size_t n, const unsigned char *hash)
{
	return n && bsearch(hash, v, n, HASH_LEN, cmp_hash);
}

/* The sizes of l's messages idx[0..n) whose known identity is not among
 * the other side's hashes, sorted; malloc'd. */
static uint64_t *unmatched_sizes(const struct msg_list *l, const size_t *idx, size_t n,
				 const unsigned char *other, size_t nother, size_t *count)
{
	uint64_t *v = malloc((n + 1) * sizeof(*v));

	*count = 0;
	if (!v)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const struct msg *m = &l->v[idx[i]];

		if (m->id.known && !has_hash(other, nother, m->id.hash))
			v[(*count)++] = m->size;
	}
	qsort(v, *count, sizeof(*v), cmp_u64);
	return v;
}

/* Reads the munged hash of mine's messages idx[0..n) whose identity the
 * other side lacks while their size is among sizes. */
static int munge_side(struct store *store, struct msg_list *mine, const size_t *idx, size_t n,
		      const unsigned char *other, size_t nother, const uint64_t *sizes,
		      size_t nsizes, struct ferry_error *err)
{
	struct msg *want;
	size_t nwant = 0;
	int r = 0;

	if (!nsizes)
		return 0;
	want = malloc((n + 1) * sizeof(*want));
	if (!want)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const struct msg *m = &mine->v[idx[i]];

		if (m->id.known && !m->id.munged_known && !has_hash(other, nother, m->id.hash) &&
		    bsearch(&m->size, sizes, nsizes, sizeof(*sizes), cmp_u64)) {
			want[nwant] = *m; /* shallow: identify only fills id */
			want[nwant++].id = (struct msg_id){0};
		}
	}
	if (nwant)
		r = store->driver->identify(store, want, nwant, err);
	for (size_t i = 0; r == 0 && i < nwant; i++) {
		struct msg *m = engine_find_msg(mine, want[i].uid);

		if (m && want[i].id.known && memcmp(m->id.hash, want[i].id.hash, HASH_LEN) == 0)
			m->id = want[i].id;
	}
	free(want);
	return r;
}

/* Rule 7 where a server rewrote what it stored (rule 6: Cyrus turns 8-bit
 * header bytes into 'X'): unpaired messages whose identity the other
 * side's unpaired messages lack, while their size they have, get their
 * munged hash too, so that plan_folder can pair a local message with the
 * server's copy of it after a lost state or an unrecorded upload. Ids from
 * the state or the Maildir index lack it: those are read again. Costs
 * nothing where identities match. */
static int identify_munged(struct engine *e, struct msg_list *far, const size_t *fi, size_t nf,
			   struct msg_list *near, const size_t *ni, size_t nn,
			   struct ferry_error *err)
{
	size_t nfh = 0, nnh = 0, nfs = 0, nns = 0;
	unsigned char *fh = NULL, *nh = NULL;
	uint64_t *fs = NULL, *ns = NULL;
	int r = 0;

	if (!nf || !nn)
		return 0;
	fh = sorted_hashes(far, fi, nf, &nfh);
	nh = sorted_hashes(near, ni, nn, &nnh);
	if (fh && nh) {
		fs = unmatched_sizes(far, fi, nf, nh, nnh, &nfs);
		ns = unmatched_sizes(near, ni, nn, fh, nfh, &nns);
	}
	if (!fs || !ns)
		r = ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	if (r == 0)
		r = munge_side(e->store[FAR], far, fi, nf, nh, nnh, ns, nns, err);
	if (r == 0)
		r = munge_side(e->store[NEAR], near, ni, nn, fh, nfh, fs, nfs, err);
	free(fh);
	free(nh);
	free(fs);
	free(ns);
	return r;
}

static int identify_unpaired(struct engine *e, const struct plan_input *in, struct msg_list *far,
			     struct msg_list *near, struct ferry_error *err)
{
	size_t *fi = NULL, *ni = NULL, nf = 0, nn = 0;
	int r;

	if (plan_unpaired(in, &fi, &nf, &ni, &nn) != 0)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	r = identify_side(e->store[FAR], far, fi, nf, near, ni, nn, err);
	if (r == 0)
		r = identify_side(e->store[NEAR], near, ni, nn, far, fi, nf, err);
	if (r == 0)
		r = identify_munged(e, far, fi, nf, near, ni, nn, err);
	free(fi);
	free(ni);
	return r;
}

/* PAIR, FORGET, KEEP and SKIP_SIZE change only the state: one transaction. */
static int apply_state_only(struct engine *e, int64_t folder_id, const struct plan *p,
			    const struct msg_list *far, const struct msg_list *near,
			    struct folder_report *rep, struct ferry_error *err)
{
	if (state_begin(e->state, err) != 0)
		return -1;
	for (size_t i = 0; i < p->n; i++) {
		const struct action *a = &p->v[i];
		struct pair pr = {.far_uid = a->far_uid,
				  .near_uid = a->near_uid,
				  .base_flags = a->base_flags,
				  .base_keywords = a->base_keywords,
				  .size = a->size};
		const struct msg *fm = a->far_uid ? engine_find_msg(far, a->far_uid) : NULL;
		const struct msg *nm = a->near_uid ? engine_find_msg(near, a->near_uid) : NULL;
		int r = 0;

		if (fm)
			pr.far_id = fm->id;
		if (nm)
			pr.near_id = nm->id;
		switch (a->kind) {
		case ACT_PAIR:
			pr.status = PAIR_SYNCED;
			r = state_put_pair(e->state, folder_id, &pr, err);
			rep->paired++;
			break;
		case ACT_FORGET:
			r = state_forget_pair(e->state, folder_id, a->far_uid, a->near_uid, err);
			break;
		case ACT_KEEP:
			pr.status = PAIR_KEPT;
			r = state_put_pair(e->state, folder_id, &pr, err);
			break;
		case ACT_SKIP_SIZE:
			pr.status = PAIR_SKIPPED_SIZE;
			r = state_put_pair(e->state, folder_id, &pr, err);
			rep->skipped_size++;
			log_info("skipped a message of %llu bytes (larger than max_size)",
				 (unsigned long long)a->size);
			break;
		default:
			break;
		}
		if (r != 0) {
			state_rollback(e->state);
			return -1;
		}
	}
	return state_commit(e->state, err);
}

static int cmp_flag_actions(const void *a, const void *b)
{
	const struct action *x = *(const struct action *const *)a;
	const struct action *y = *(const struct action *const *)b;
	int c;

	if (x->add != y->add)
		return x->add < y->add ? -1 : 1;
	if (x->remove != y->remove)
		return x->remove < y->remove ? -1 : 1;
	c = strcmp(x->add_keywords ? x->add_keywords : "", y->add_keywords ? y->add_keywords : "");
	if (c)
		return c;
	return strcmp(x->remove_keywords ? x->remove_keywords : "",
		      y->remove_keywords ? y->remove_keywords : "");
}

/* Flag changes go out grouped by identical change: one STORE per group. */
static int apply_flags(struct engine *e, const struct plan *p, bool to_far, size_t *changed,
		       struct ferry_error *err)
{
	enum action_kind kind = to_far ? ACT_FLAGS_FAR : ACT_FLAGS_NEAR;
	struct store *store = to_far ? e->store[FAR] : e->store[NEAR];
	const struct action **v = malloc((p->n + 1) * sizeof(*v));
	uint32_t *uids = malloc((p->n + 1) * sizeof(*uids));
	size_t n = 0;
	int r = 0;

	if (!v || !uids) {
		free(v);
		free(uids);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].kind == kind)
			v[n++] = &p->v[i];
	qsort(v, n, sizeof(*v), cmp_flag_actions);
	for (size_t i = 0; i < n && r == 0;) {
		size_t j = i, k = 0;

		while (j < n && cmp_flag_actions(&v[i], &v[j]) == 0) {
			uids[k++] = to_far ? v[j]->far_uid : v[j]->near_uid;
			j++;
		}
		engine_crash_point("flags", false);
		r = store->driver->set_flags(store, uids, k, v[i]->add, v[i]->remove,
					     v[i]->add_keywords, v[i]->remove_keywords, err);
		engine_crash_point("flags", true);
		if (r == 0)
			*changed += k;
		i = j;
	}
	free(v);
	free(uids);
	return r;
}

static int apply_set_base(struct engine *e, int64_t folder_id, const struct plan *p,
			  struct ferry_error *err)
{
	if (state_begin(e->state, err) != 0)
		return -1;
	for (size_t i = 0; i < p->n; i++) {
		const struct action *a = &p->v[i];

		if (a->kind == ACT_SET_BASE &&
		    state_set_base(e->state, folder_id, a->far_uid, a->near_uid, a->base_flags,
				   a->base_keywords, err) != 0) {
			state_rollback(e->state);
			return -1;
		}
	}
	return state_commit(e->state, err);
}

/* Copying: the source streams bodies into the target's add_* calls. */
struct copy {
	struct engine *e;
	int64_t folder_id;
	bool to_far;
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
		uint32_t uid;
		bool settled;
	} pend[COPY_BATCH];
	size_t npend, done, unrecorded;
	const char *folder;
	size_t undelivered; /* rule 17: asked for, never arrived whole */
};

static uint32_t src_uid(const struct copy *c, const struct action *a)
{
	return c->to_far ? a->near_uid : a->far_uid;
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
	return c->to->driver->add_begin(c->to, &c->cur, err);
}

static int copy_write(void *ctx, const char *buf, size_t len, struct ferry_error *err)
{
	struct copy *c = ctx;

	if (ident_feed(&c->ident, buf, len) != 0)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "SHA-256 failed");
	return c->to->driver->add_write(c->cur, buf, len, err);
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
	const char *action = c->to_far ? "upload" : "download";
	struct ferry_error local = {0};
	struct ferry_error *e = err ? err : &local;
	int r = 0, rs = 0;
	size_t recorded = 0;

	if (c->npend == 0)
		return 0;
	if (c->to->driver->add_flush)
		r = c->to->driver->add_flush(c->to, copy_settled, c, e);
	for (size_t i = 0; i < c->npend; i++)
		recorded += c->pend[i].settled && c->pend[i].uid;
	if (recorded) {
		rs = state_begin(c->e->state, r == 0 ? e : &local);
		for (size_t i = 0; rs == 0 && i < c->npend; i++) {
			const struct copied *p = &c->pend[i];
			struct pair pr;

			if (!p->settled || !p->uid)
				continue;
			pr = (struct pair){.far_uid = c->to_far ? p->uid : src_uid(c, p->a),
					   .near_uid = c->to_far ? src_uid(c, p->a) : p->uid,
					   .status = PAIR_SYNCED,
					   .base_flags = p->a->base_flags,
					   .base_keywords = p->a->base_keywords,
					   .size = p->m->size};
			pr.far_id = pr.near_id = p->id.known ? p->id : p->m->id;
			if (p->stored.known)
				*(c->to_far ? &pr.far_id : &pr.near_id) = p->stored;
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
			engine_crash_point(action, true);
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
		  c->to_far ? "near" : "far", uid, why);
}

static int copy_end(void *ctx, uint32_t uid, struct ferry_error *err)
{
	struct copy *c = ctx;
	const struct action *a = find_action(c, uid);
	const struct msg *m = engine_find_msg(c->src, uid);
	struct store_new_msg *cur = c->cur;
	const char *action = c->to_far ? "upload" : "download";
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
		c->to->driver->add_abort(cur);
		return 0;
	}
	/* Shorter than the listing said and not even a whole header: a cut,
	 * not a message. (A size that is merely off, as some servers announce,
	 * with a whole header, is taken as it came.) */
	if (id.known && size < m->size && !header_ended) {
		char why[128];

		c->to->driver->add_abort(cur);
		snprintf(why, sizeof(why),
			 "cut short: %llu of %llu bytes, and no end of its header",
			 (unsigned long long)size, (unsigned long long)m->size);
		copy_undelivered(c, uid, why);
		return 0;
	}
	engine_crash_point(action, false);
	if (c->to->driver->add_commit(cur, a->add, a->add_keywords, m->date, &new_uid, err) != 0)
		return -1;
	c->pend[c->npend++] = (struct copied){
	    .a = a, .m = m, .id = id, .uid = new_uid, .settled = !c->to->driver->add_flush};
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
		c->to->driver->add_abort(c->cur);
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

static int apply_copies(struct engine *e, const char *name, int64_t folder_id, const struct plan *p,
			bool to_far, const struct msg_list *src, size_t *copied, size_t *unrecorded,
			size_t *undelivered, struct ferry_error *err)
{
	enum action_kind kind = to_far ? ACT_COPY_TO_FAR : ACT_COPY_TO_NEAR;
	struct store *from = to_far ? e->store[NEAR] : e->store[FAR];
	struct copy c = {
	    .e = e, .folder_id = folder_id, .to_far = to_far, .src = src, .folder = name};
	struct fetch_sink sink = {.ctx = &c,
				  .begin = copy_begin,
				  .write = copy_write,
				  .end = copy_end,
				  .abort = copy_abort,
				  .undelivered = copy_undelivered};
	struct journal_entry j = {
	    .folder_id = folder_id, .action = to_far ? J_UPLOAD : J_DOWNLOAD, .to_far = to_far};
	uint32_t *uids;
	int r = 0;

	c.to = to_far ? e->store[FAR] : e->store[NEAR];
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
	qsort(c.acts, c.nacts, sizeof(*c.acts), to_far ? cmp_copy_near : cmp_copy_far);
	for (size_t i = 0; i < c.nacts; i++)
		uids[i] = src_uid(&c, c.acts[i]);
	j.count = c.nacts;
	if (c.nacts && state_journal_add(e->state, &j, err) != 0)
		r = -1;
	for (size_t i = 0; r == 0 && i < c.nacts && !engine_interrupted; i += FETCH_BATCH) {
		size_t n = c.nacts - i < FETCH_BATCH ? c.nacts - i : FETCH_BATCH;

		r = from->driver->fetch(from, uids + i, n, &sink, err);
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

static int apply_deletes(struct engine *e, int64_t folder_id, const struct plan *p, bool on_far,
			 size_t *deleted, struct ferry_error *err)
{
	enum action_kind kind = on_far ? ACT_DELETE_FAR : ACT_DELETE_NEAR;
	struct store *store = on_far ? e->store[FAR] : e->store[NEAR];
	struct journal_entry j = {.folder_id = folder_id, .action = J_DELETE, .to_far = on_far};
	uint32_t *uids = malloc((p->n + 1) * sizeof(*uids));
	size_t n = 0;

	if (!uids)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].kind == kind)
			uids[n++] = on_far ? p->v[i].far_uid : p->v[i].near_uid;
	if (!n) {
		free(uids);
		return 0;
	}
	j.count = n;
	if (state_journal_add(e->state, &j, err) != 0)
		goto fail;
	engine_crash_point("delete", false);
	if (store->driver->delete_msgs(store, uids, n, err) != 0)
		goto fail;
	engine_crash_point("delete", true);
	if (state_begin(e->state, err) != 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		if (state_forget_pair(e->state, folder_id, on_far ? uids[i] : 0,
				      on_far ? 0 : uids[i], err) != 0) {
			state_rollback(e->state);
			goto fail;
		}
	}
	if (state_journal_done(e->state, j.id, err) != 0 || state_commit(e->state, err) != 0) {
		state_rollback(e->state);
		goto fail;
	}
	*deleted += n;
	free(uids);
	return 0;
fail:
	free(uids);
	return -1;
}

static const char *kind_name(enum action_kind k)
{
	static const char *const names[] = {
	    [ACT_PAIR] = "pair",
	    [ACT_COPY_TO_NEAR] = "copy far->near",
	    [ACT_COPY_TO_FAR] = "copy near->far",
	    [ACT_FLAGS_FAR] = "flags on far",
	    [ACT_FLAGS_NEAR] = "flags on near",
	    [ACT_DELETE_FAR] = "delete on far",
	    [ACT_DELETE_NEAR] = "delete on near",
	    [ACT_FORGET] = "forget pair",
	    [ACT_SET_BASE] = "record flags",
	    [ACT_SKIP_SIZE] = "skip (max_size)",
	    [ACT_KEEP] = "keep one side",
	};

	return names[k];
}

static void flags_text(unsigned flags, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < flag_table_len && o + 1 < len; i++)
		if (flags & flag_table[i].bit)
			buf[o++] = flag_table[i].letter;
	buf[o] = '\0';
}

/* --dry-run: the plan itself, one line per action that changes something. */
static void print_plan(const char *name, const struct plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct action *a = &p->v[i];
		char add[16], rm[16];

		if (a->kind == ACT_SET_BASE)
			continue;
		flags_text(a->add, add, sizeof(add));
		flags_text(a->remove, rm, sizeof(rm));
		printf("%s: %s far uid %u near uid %u", name, kind_name(a->kind), a->far_uid,
		       a->near_uid);
		if (add[0] || a->add_keywords)
			printf(" +%s%s%s", add, a->add_keywords ? " " : "",
			       a->add_keywords ? a->add_keywords : "");
		if (rm[0] || a->remove_keywords)
			printf(" -%s%s%s", rm, a->remove_keywords ? " " : "",
			       a->remove_keywords ? a->remove_keywords : "");
		printf("%s\n", a->conflict ? " (conflict)" : "");
	}
}

static int list_side(struct store *s, const char *side, const char *name, struct msg_list *out,
		     struct ferry_error *err)
{
	if (s->driver->list(s, out, err) != 0) {
		ferry_error_prefix(err, "%s: listing %s", name, side);
		return -1;
	}
	if (out->n) /* qsort(NULL, 0, ...) is undefined */
		qsort(out->v, out->n, sizeof(*out->v), cmp_msg_uid);
	return 0;
}

/* Rule 16: a side that shows a lower UIDNEXT or modseq than the state
 * recorded of it, under the same UIDVALIDITY, is an older copy of what the
 * last sync saw (a Maildir restored from a backup with its index): its uids
 * may have been handed out again since. A value the store does not know (0)
 * tells nothing. */
static const char *side_behind(const struct state_folder *sf, const struct folder_state *fs,
			       const struct folder_state *ns)
{
	if ((fs->uidnext && fs->uidnext < sf->far_uidnext) ||
	    (fs->highestmodseq && fs->highestmodseq < sf->far_modseq))
		return "far";
	if ((ns->uidnext && ns->uidnext < sf->near_uidnext) ||
	    (ns->highestmodseq && ns->highestmodseq < sf->near_modseq))
		return "near";
	return NULL;
}

/* Makes the folder one without usable state (rule 7): its pairs dropped,
 * both sides recorded as they are now, not clean. Committed at once, so that
 * an interrupted run resumes with the pairs it made since. */
static int restart_pairing(struct engine *e, struct state_folder *sf, const struct folder_state *fs,
			   const struct folder_state *ns, bool clear, struct ferry_error *err)
{
	sf->far_uidvalidity = fs->uidvalidity;
	sf->near_uidvalidity = ns->uidvalidity;
	sf->far_uidnext = fs->uidnext;
	sf->near_uidnext = ns->uidnext;
	sf->far_modseq = fs->highestmodseq;
	sf->near_modseq = ns->highestmodseq;
	sf->clean[0] = '\0';
	if (state_begin(e->state, err) != 0)
		return -1;
	if ((clear && state_clear_pairs(e->state, sf->id, err) != 0) ||
	    state_put_folder(e->state, sf, err) != 0) {
		state_rollback(e->state);
		return -1;
	}
	return state_commit(e->state, err);
}

/* Checks both sides' UIDVALIDITY, UIDNEXT and modseq against the state. A
 * first sync, a lost state, a changed UIDVALIDITY or a side behind the state
 * (rule 16) all mean: pair again by identity and delete nothing this run
 * (rule 7). */
static int check_uidvalidity(struct engine *e, struct state_folder *sf,
			     const struct folder_state *fs, const struct folder_state *ns,
			     bool forget_state, bool *have_state, struct ferry_error *err)
{
	bool first = sf->far_uidvalidity == 0 && sf->near_uidvalidity == 0;
	bool changed = !first && (sf->far_uidvalidity != fs->uidvalidity ||
				  sf->near_uidvalidity != ns->uidvalidity);
	const char *behind = first || changed ? NULL : side_behind(sf, fs, ns);

	*have_state = !first && !changed && !behind && !forget_state;
	if (*have_state)
		return 0;
	if (changed)
		log_info("%s: UIDVALIDITY changed on the %s side; matching messages again by "
			 "identity, deleting nothing this run",
			 sf->name, sf->far_uidvalidity != fs->uidvalidity ? "far" : "near");
	if (behind)
		log_warn("%s: the %s side is behind what the last sync recorded (restored from "
			 "a backup?); matching messages again by identity, deleting nothing this "
			 "run",
			 sf->name, behind);
	return restart_pairing(e, sf, fs, ns, !first, err);
}

/* Rule 16: a pair whose message a listing shows under its uid with another
 * identity than the state recorded means that side's uids were handed out
 * again (a restored Maildir index whose counters have caught up since).
 * Returns the side, or NULL. */
static const char *pairs_contradicted(const struct folder_work *w)
{
	for (size_t i = 0; i < w->npairs; i++)
		for (int side = 0; side < 2; side++) {
			const struct pair *p = &w->pairs[i];
			uint32_t uid = side == 0 ? p->far_uid : p->near_uid;
			const struct msg_id *id = side == 0 ? &p->far_id : &p->near_id;
			const struct msg *m =
			    uid ? engine_find_msg(side == 0 ? &w->far : &w->near, uid) : NULL;

			if (m && m->id.known && id->known &&
			    memcmp(m->id.hash, id->hash, sizeof(id->hash)) != 0)
				return side == 0 ? "far" : "near";
		}
	return NULL;
}

static void fill_input(struct engine *e, struct plan_input *in, const struct folder_work *w)
{
	const struct msg_list *far = &w->far, *near = &w->near;
	const struct folder_state *fs = &w->fs, *ns = &w->ns;

	*in = (struct plan_input){
	    .far = far->v,
	    .near = near->v,
	    .nfar = far->n,
	    .nnear = near->n,
	    .pairs = w->pairs,
	    .npairs = w->npairs,
	    .far_complete = true, /* list() returns 0 only for complete listings */
	    .near_complete = true,
	    .have_state = w->have_state,
	    .far_keywords_ok = fs->keywords_ok,
	    .near_keywords_ok = ns->keywords_ok,
	    .policy = sync_policy_of(e->ch, e->dir, e->opts->force_delete),
	    .far_size = w->sparse ? fs->exists : 0,
	    .near_size = w->sparse ? ns->exists : 0,
	};
}

/* Side effects in the plan's order; a failed step stops the folder, and
 * what was committed stays committed. */
static int apply_plan(struct engine *e, const char *name, int64_t folder_id, const struct plan *p,
		      const struct msg_list *far, const struct msg_list *near,
		      struct folder_report *rep, struct ferry_error *err)
{
	if (apply_state_only(e, folder_id, p, far, near, rep, err) != 0)
		return -1;
	if (apply_flags(e, p, true, &rep->to_far_flags, err) != 0 ||
	    apply_flags(e, p, false, &rep->to_near_flags, err) != 0)
		return -1;
	if (apply_set_base(e, folder_id, p, err) != 0)
		return -1;
	if (apply_copies(e, name, folder_id, p, false, far, &rep->to_near_new, &rep->unrecorded,
			 &rep->undelivered, err) != 0 ||
	    apply_copies(e, name, folder_id, p, true, near, &rep->to_far_new, &rep->unrecorded,
			 &rep->undelivered, err) != 0)
		return -1;
	if (apply_deletes(e, folder_id, p, true, &rep->to_far_deleted, err) != 0 ||
	    apply_deletes(e, folder_id, p, false, &rep->to_near_deleted, err) != 0)
		return -1;
	return 0;
}

/* What a clean finish is recorded under: the settings that decide what a
 * sync does with an unchanged folder. A one-way run leaves the other
 * direction's changes behind, so it is never clean. */
static bool engine_policy(const struct engine *e, char *buf, size_t len)
{
	if (e->dir != SYNC_BOTH || e->opts->has_dir_override)
		return false;
	snprintf(buf, len, "v1 delete=%d max_size=%llu", (int)e->ch->delete,
		 (unsigned long long)e->ch->max_size);
	return true;
}

int engine_folder_unchanged(struct engine *e, const char *name, const struct folder_state *fs,
			    const struct folder_state *ns, bool *unchanged, struct ferry_error *err)
{
	struct state_folder sf = {0};
	char policy[sizeof(sf.clean)];

	*unchanged = false;
	if (e->opts->force_delete || !engine_policy(e, policy, sizeof(policy)))
		return 0;
	if (state_get_folder(e->state, name, &sf, err) != 0)
		return -1;
	*unchanged =
	    sf.clean[0] && strcmp(sf.clean, policy) == 0 && sf.far_modseq && sf.near_modseq &&
	    (!fs || (sf.far_uidvalidity == fs->uidvalidity && sf.far_uidnext == fs->uidnext &&
		     sf.far_modseq == fs->highestmodseq)) &&
	    (!ns || (sf.near_uidvalidity == ns->uidvalidity && sf.near_uidnext == ns->uidnext &&
		     sf.near_modseq == ns->highestmodseq));
	free(sf.name);
	return 0;
}

int engine_prefetch_since(struct engine *e, const char *name, uint64_t *far_since,
			  uint64_t *near_since, struct ferry_error *err)
{
	struct state_folder sf = {0};
	char policy[sizeof(sf.clean)];

	*far_since = *near_since = 0;
	if (e->opts->force_delete || !engine_policy(e, policy, sizeof(policy)))
		return 0;
	if (state_get_folder(e->state, name, &sf, err) != 0)
		return -1;
	if (sf.clean[0] && strcmp(sf.clean, policy) == 0) {
		*far_since = sf.far_modseq;
		*near_since = sf.near_modseq;
	}
	free(sf.name);
	return 0;
}

static bool in_ranges(const uint32_t *r, size_t n, uint32_t uid)
{
	for (size_t i = 0; i < n; i++)
		if (uid >= r[2 * i] && uid <= r[2 * i + 1])
			return true;
	return false;
}

/* Applies what changed since the last sync to a listing built from the
 * pairs: new flags for known uids, new messages added. Keeps l sorted. */
static int merge_changed(struct msg_list *l, const struct msg_list *changed)
{
	size_t n0 = l->n;

	for (size_t i = 0; i < changed->n; i++) {
		const struct msg *c = &changed->v[i];
		struct msg *m = engine_find_msg(&(struct msg_list){l->v, n0, n0}, c->uid);

		if (!m) {
			if (msg_list_push(l, c) != 0)
				return -1;
			continue;
		}
		char *kw = c->keywords ? strdup(c->keywords) : NULL;

		if (c->keywords && !kw)
			return -1;
		free(m->keywords);
		m->keywords = kw;
		m->keywords_unknown = c->keywords_unknown;
		m->flags = c->flags;
		m->date = c->date;
		/* The store's word over the pair's: a differing identity is rule 16's
		 * sign of uids handed out again. */
		if (c->id.known)
			m->id = c->id;
	}
	if (l->n > n0)
		qsort(l->v, l->n, sizeof(*l->v), cmp_msg_uid);
	return 0;
}

/* What changed on one side since the last clean sync, when the cheap way
 * applies (rule 4): nothing when UIDNEXT and modseq stand still, else what
 * list_changed reports (CHANGEDSINCE with VANISHED on IMAP). Returns 2 when
 * the side never was at the modseq recorded (rule 16). */
struct side_changes {
	bool usable; /* false: list the side in full */
	struct msg_list changed;
	uint32_t *van; /* vanished uid ranges, van[2k]..van[2k+1] */
	size_t nvan;
};

static void side_changes_free(struct side_changes *c)
{
	msg_list_free(&c->changed);
	free(c->van);
	*c = (struct side_changes){0};
}

static int side_changes(struct engine *e, struct folder_work *w, bool far_side,
			struct side_changes *c, struct ferry_error *err)
{
	struct store *s = far_side ? e->store[FAR] : e->store[NEAR];
	const struct folder_state *now = far_side ? &w->fs : &w->ns;
	uint32_t rec_next = far_side ? w->sf.far_uidnext : w->sf.near_uidnext;
	uint64_t rec_mod = far_side ? w->sf.far_modseq : w->sf.near_modseq;
	char policy[sizeof(w->sf.clean)];
	int r;

	*c = (struct side_changes){0};
	if (!w->have_state || e->opts->force_delete || !engine_policy(e, policy, sizeof(policy)) ||
	    strcmp(w->sf.clean, policy) != 0 || !rec_mod || !now->highestmodseq ||
	    !now->keywords_ok)
		return 0;
	if (now->uidnext != rec_next || now->highestmodseq != rec_mod) {
		if (!s->driver->list_changed)
			return 0;
		r = s->driver->list_changed(s, rec_mod, &c->changed, &c->van, &c->nvan, err);
		if (r != 0) {
			side_changes_free(c);
			return r == 1 ? 0 : r; /* 2: rule 16 */
		}
	}
	c->usable = true;
	return 0;
}

/* Rule 4's cheap listing of one side from the pairs and its changes. After a
 * clean sync under the same policy, a side holds exactly its paired messages
 * with their base flags, except what changed. The result must count what
 * SELECT counted, or the side is listed in full after all. Returns 1 then,
 * 0 with *out filled, -1 on error. */
static int list_from_changes(struct folder_work *w, bool far_side, const struct side_changes *c,
			     struct msg_list *out, struct ferry_error *err)
{
	const struct folder_state *now = far_side ? &w->fs : &w->ns;
	int r = 0;

	for (size_t i = 0; r == 0 && i < w->npairs; i++) {
		const struct pair *p = &w->pairs[i];
		uint32_t uid = far_side ? p->far_uid : p->near_uid;
		struct msg m = {.uid = uid,
				.flags = p->base_flags,
				.keywords = p->base_keywords,
				.size = p->size,
				.id = far_side ? p->far_id : p->near_id};

		if (uid && !in_ranges(c->van, c->nvan, uid) && msg_list_push(out, &m) != 0)
			r = -1;
	}
	if (r == 0 && out->n)
		qsort(out->v, out->n, sizeof(*out->v), cmp_msg_uid);
	if (r == 0 && merge_changed(out, &c->changed) != 0)
		r = -1;
	if (r != 0) {
		msg_list_free(out);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "%s: out of memory", w->name);
	}
	if (out->n != now->exists) {
		log_trace("%s: %s: %zu messages from the state and changes, %u by SELECT; "
			  "listing in full",
			  w->name, far_side ? "far" : "near", out->n, now->exists);
		msg_list_free(out);
		return 1;
	}
	log_trace("%s: %s listed from the state and %zu change(s)", w->name,
		  far_side ? "far" : "near", c->nvan + c->changed.n);
	return 0;
}

static int cmp_pair_uids(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;

	if (x->far_uid != y->far_uid)
		return x->far_uid < y->far_uid ? -1 : 1;
	return (x->near_uid > y->near_uid) - (x->near_uid < y->near_uid);
}

/* Sorts w->pairs and drops pairs loaded twice (vanished on one side and
 * changed on the other, say). */
static void unique_pairs(struct folder_work *w)
{
	size_t o = 0;

	if (w->npairs)
		qsort(w->pairs, w->npairs, sizeof(*w->pairs), cmp_pair_uids);
	for (size_t i = 0; i < w->npairs; i++) {
		if (o && cmp_pair_uids(&w->pairs[o - 1], &w->pairs[i]) == 0) {
			free(w->pairs[i].base_keywords);
			continue;
		}
		w->pairs[o++] = w->pairs[i];
	}
	w->npairs = o;
}

/* Loads the pairs a side's changes touch: those of its vanished uids and of
 * its changed uids; a changed uid without a pair is new (*fresh counts
 * them). Stops with 1 once more than limit pairs are loaded. */
static int touch_side(struct engine *e, struct folder_work *w, bool far_side,
		      const struct side_changes *c, size_t limit, size_t *cap, size_t *fresh,
		      struct ferry_error *err)
{
	for (size_t i = 0; i < c->nvan; i++) {
		if (state_append_pairs_between(e->state, w->sf.id, far_side, c->van[2 * i],
					       c->van[2 * i + 1], &w->pairs, &w->npairs, cap,
					       err) != 0)
			return -1;
		if (w->npairs > limit)
			return 1;
	}
	for (size_t i = 0; i < c->changed.n; i++) {
		uint32_t uid = c->changed.v[i].uid;
		struct pair p;
		bool found;

		if (state_get_pair(e->state, w->sf.id, far_side ? uid : 0, far_side ? 0 : uid, &p,
				   &found, err) != 0)
			return -1;
		if (!found) {
			(*fresh)++;
			continue;
		}
		if (w->npairs == *cap) {
			size_t ncap = *cap ? *cap * 2 : 64;
			struct pair *v = realloc(w->pairs, ncap * sizeof(*v));

			if (!v) {
				free(p.base_keywords);
				return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
			}
			w->pairs = v;
			*cap = ncap;
		}
		w->pairs[w->npairs++] = p;
		if (w->npairs > limit)
			return 1;
	}
	return 0;
}

/* A folder whose both sides are listed the cheap way is planned over what
 * changed alone: the pairs of its changed and vanished messages, and its new
 * messages; the other pairs are not even loaded. An unchanged pair plans
 * nothing, and an untouched pair takes part in no move, so the plan and the
 * move pass come out as over every pair. Applies when each side's pairs,
 * less the vanished ones, plus the new messages count what its SELECT
 * counted (so the changes are all there is), and the touched pairs are few
 * (each costs a lookup: up to 64, or an eighth of the pairs). Returns 1 when
 * it does not apply (w->pairs empty), 0 with the sparse pairs and listings. */
static int prepare_sparse(struct engine *e, struct folder_work *w, struct side_changes c[2],
			  struct ferry_error *err)
{
	size_t paired[2], fresh[2] = {0, 0}, gone[2] = {0, 0}, cap = 0, limit;
	int r = 0;

	if (!c[0].usable || !c[1].usable)
		return 1;
	if (state_count_pairs(e->state, w->sf.id, &paired[0], &paired[1], err) != 0)
		return -1;
	limit = (paired[0] + paired[1]) / 8;
	if (limit < 64)
		limit = 64;
	for (int side = 0; r == 0 && side < 2; side++)
		r = touch_side(e, w, side == 0, &c[side], limit, &cap, &fresh[side], err);
	if (r == 0) {
		unique_pairs(w);
		for (size_t i = 0; i < w->npairs; i++)
			for (int side = 0; side < 2; side++) {
				uint32_t uid =
				    side == 0 ? w->pairs[i].far_uid : w->pairs[i].near_uid;

				gone[side] += uid && in_ranges(c[side].van, c[side].nvan, uid);
			}
		for (int side = 0; side < 2; side++)
			if (paired[side] - gone[side] + fresh[side] !=
			    (side == 0 ? w->fs.exists : w->ns.exists))
				r = 1;
	}
	for (int side = 0; r == 0 && side < 2; side++) {
		struct msg_list *l = side == 0 ? &w->far : &w->near;

		for (size_t i = 0; r == 0 && i < w->npairs; i++) {
			const struct pair *p = &w->pairs[i];
			uint32_t uid = side == 0 ? p->far_uid : p->near_uid;
			struct msg m = {.uid = uid,
					.flags = p->base_flags,
					.keywords = p->base_keywords,
					.size = p->size,
					.id = side == 0 ? p->far_id : p->near_id};

			if (uid && !in_ranges(c[side].van, c[side].nvan, uid) &&
			    msg_list_push(l, &m) != 0)
				r = ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		}
		if (r == 0 && l->n)
			qsort(l->v, l->n, sizeof(*l->v), cmp_msg_uid);
		if (r == 0 && merge_changed(l, &c[side].changed) != 0)
			r = ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	if (r != 0) {
		state_pairs_free(w->pairs, w->npairs);
		w->pairs = NULL;
		w->npairs = 0;
		msg_list_free(&w->far);
		msg_list_free(&w->near);
		return r;
	}
	w->sparse = true;
	log_trace("%s: planned over %zu changed pair(s) and %zu new message(s), without the other "
		  "%zu pair(s)",
		  w->name, w->npairs, fresh[0] + fresh[1],
		  paired[0] > w->npairs ? paired[0] - w->npairs : 0);
	return 0;
}

/* Rule 16 once the listings are there: a contradicted pair makes the folder
 * one without usable state, listed again in full on both sides (a listing
 * built from the pairs holds what they said). */
static int relist_if_contradicted(struct engine *e, struct folder_work *w, struct ferry_error *err)
{
	const char *side = pairs_contradicted(w);

	if (!side)
		return 0;
	log_warn("%s: a message on the %s side is not the one the last sync paired under its "
		 "uid (restored from a backup?); matching messages again by identity, deleting "
		 "nothing this run",
		 w->name, side);
	if (restart_pairing(e, &w->sf, &w->fs, &w->ns, true, err) != 0)
		return -1;
	w->have_state = false;
	w->sparse = false;
	state_pairs_free(w->pairs, w->npairs);
	w->pairs = NULL;
	w->npairs = 0;
	msg_list_free(&w->far);
	msg_list_free(&w->near);
	if (list_side(e->store[FAR], "far", w->name, &w->far, err) != 0 ||
	    list_side(e->store[NEAR], "near", w->name, &w->near, err) != 0)
		return -1;
	return 0;
}

int engine_prepare_folder(struct engine *e, struct folder_work *w, struct ferry_error *err)
{
	const char *name = w->name;
	struct side_changes c[2] = {0};
	int r = -1;

	if (e->store[FAR]->driver->select(e->store[FAR], name, &w->fs, err) != 0) {
		ferry_error_prefix(err, "%s: far", name);
		return -1;
	}
	if (e->store[NEAR]->driver->select(e->store[NEAR], name, &w->ns, err) != 0) {
		ferry_error_prefix(err, "%s: near", name);
		return -1;
	}
	if (state_get_folder(e->state, name, &w->sf, err) != 0 ||
	    check_uidvalidity(e, &w->sf, &w->fs, &w->ns, w->forget, &w->have_state, err) != 0)
		return -1;
	for (int side = 0; side < 2; side++) {
		int k = side_changes(e, w, side == 0, &c[side], err);

		if (k < 0) {
			ferry_error_prefix(err, "%s: listing %s", name, side == 0 ? "far" : "near");
			goto out;
		}
		if (k == 2) {
			log_warn("%s: the %s side never was where the last sync left it (restored "
				 "from a backup?); matching messages again by identity, deleting "
				 "nothing this run",
				 name, side == 0 ? "far" : "near");
			side_changes_free(&c[0]);
			side_changes_free(&c[1]);
			if (restart_pairing(e, &w->sf, &w->fs, &w->ns, true, err) != 0)
				goto out;
			w->have_state = false;
			break;
		}
	}
	r = prepare_sparse(e, w, c, err);
	if (r < 0)
		goto out;
	if (r == 1 && state_load_pairs(e->state, w->sf.id, &w->pairs, &w->npairs, err) != 0) {
		r = -1;
		goto out;
	}
	for (int side = 0; r == 1 && side < 2; side++) {
		bool far_side = side == 0;
		struct msg_list *l = far_side ? &w->far : &w->near;
		int k = c[side].usable ? list_from_changes(w, far_side, &c[side], l, err) : 1;

		if (k < 0) {
			ferry_error_prefix(err, "%s: listing %s", name, far_side ? "far" : "near");
			r = -1;
			goto out;
		}
		if (k == 1 && list_side(far_side ? e->store[FAR] : e->store[NEAR],
					far_side ? "far" : "near", name, l, err) != 0) {
			r = -1;
			goto out;
		}
	}
	if (w->have_state && relist_if_contradicted(e, w, err) != 0) {
		r = -1;
		goto out;
	}
	w->prepared = true;
	r = 0;
out:
	side_changes_free(&c[0]);
	side_changes_free(&c[1]);
	return r;
}

static bool side_neutral(const struct msg_list *l, const struct pair *pairs, size_t npairs,
			 bool far_side)
{
	size_t paired = 0;

	for (size_t i = 0; i < npairs; i++) {
		uint32_t uid = far_side ? pairs[i].far_uid : pairs[i].near_uid;

		if (!uid)
			continue;
		if (!engine_find_msg(l, uid))
			return false; /* vanished: maybe moved */
		paired++;
	}
	return paired == l->n; /* else some message is new: maybe moved here */
}

bool engine_folder_move_neutral(const struct folder_work *w)
{
	return w->prepared && w->have_state && side_neutral(&w->far, w->pairs, w->npairs, true) &&
	       side_neutral(&w->near, w->pairs, w->npairs, false);
}

/* The move pass may have selected other folders since: select this one
 * again, and stop if it was renumbered in between. */
static int reselect(struct engine *e, struct folder_work *w, struct ferry_error *err)
{
	struct folder_state fs, ns;

	if (e->store[FAR]->driver->select(e->store[FAR], w->name, &fs, err) != 0 ||
	    e->store[NEAR]->driver->select(e->store[NEAR], w->name, &ns, err) != 0) {
		ferry_error_prefix(err, "%s", w->name);
		return -1;
	}
	if (fs.uidvalidity != w->fs.uidvalidity || ns.uidvalidity != w->ns.uidvalidity)
		return ferry_error_set(err, FERRY_CAUSE_INCOMPLETE,
				       "%s: UIDVALIDITY changed during the run; next run re-pairs",
				       w->name);
	return 0;
}

static int record_conflicts(struct engine *e, const char *name, const struct plan *plan,
			    struct ferry_error *err)
{
	for (size_t i = 0; i < plan->n; i++) {
		char text[160];

		if (!plan->v[i].conflict)
			continue;
		snprintf(text, sizeof(text),
			 "far uid %u / near uid %u: deleted on one side, flagged or "
			 "labelled on the other; kept and copied back",
			 plan->v[i].far_uid, plan->v[i].near_uid);
		log_warn("%s: conflict: %s", name, text);
		if (state_add_conflict(e->state, name, text, err) != 0)
			return -1;
	}
	return 0;
}

/* What a side is recorded at: what its select said, or what it holds now
 * where the store can tell that every change since was this run's. */
static void recorded_state(struct store *s, const char *name, const struct folder_state *seen,
			   uint32_t *uidnext, uint64_t *modseq)
{
	struct folder_state now = *seen;

	if (s->driver->own_state)
		s->driver->own_state(s, name, seen, &now);
	*uidnext = now.uidnext;
	*modseq = now.highestmodseq;
}

int engine_finish_folder(struct engine *e, struct folder_work *w, struct ferry_error *err)
{
	struct folder_report *rep = &w->rep;
	const char *name = w->name;
	struct plan plan = {0};
	struct plan_input in;
	int r = -1;

	if (!e->opts->dry_run && !w->still_selected && reselect(e, w, err) != 0)
		return -1;
	w->still_selected = false;
	fill_input(e, &in, w);
	if (identify_unpaired(e, &in, &w->far, &w->near, err) != 0) {
		ferry_error_prefix(err, "%s", name);
		goto out;
	}
	if (plan_folder(&in, &plan) != 0) {
		ferry_error_set(err, FERRY_CAUSE_INTERNAL, "%s: out of memory while planning",
				name);
		goto out;
	}
	rep->conflicts += plan.conflicts;
	rep->blocked_deletes += plan.blocked_far + plan.blocked_near;
	if (plan.blocked_far + plan.blocked_near)
		log_error("%s: would delete %zu message(s) on far and %zu on near, more than "
			  "max_delete; deleting none until 'ferry sync --force-delete'",
			  name, plan.blocked_far, plan.blocked_near);
	if (e->opts->dry_run) {
		print_plan(name, &plan);
		r = 0;
		goto out;
	}
	if (record_conflicts(e, name, &plan, err) != 0)
		goto out;
	if (apply_plan(e, name, w->sf.id, &plan, &w->far, &w->near, rep, err) != 0) {
		ferry_error_prefix(err, "%s", name);
		goto out;
	}
	recorded_state(e->store[FAR], name, &w->fs, &w->sf.far_uidnext, &w->sf.far_modseq);
	recorded_state(e->store[NEAR], name, &w->ns, &w->sf.near_uidnext, &w->sf.near_modseq);
	w->sf.last_sync = (int64_t)time(NULL);
	w->sf.clean[0] = '\0';
	if (plan.blocked_far + plan.blocked_near == 0 && rep->unrecorded == 0 &&
	    rep->undelivered == 0 && !engine_interrupted)
		engine_policy(e, w->sf.clean, sizeof(w->sf.clean));
	r = state_put_folder(e->state, &w->sf, err);
	if (r == 0 && rep->undelivered)
		r = ferry_error_set(err, FERRY_CAUSE_INCOMPLETE,
				    "%s: %zu message(s) did not arrive and were not copied (named "
				    "above); the next run tries again",
				    name, rep->undelivered);
out:
	plan_free(&plan);
	return r;
}

void engine_folder_free(struct folder_work *w)
{
	state_pairs_free(w->pairs, w->npairs);
	msg_list_free(&w->far);
	msg_list_free(&w->near);
	free(w->sf.name);
	w->pairs = NULL;
	w->npairs = 0;
	w->sparse = false;
	w->sf.name = NULL;
}

/* Rule 11: the uids of a folder that vanished on the other side after a
 * sync, in *uids (the caller frees it), when every message in it is one that
 * was paired (and so is gone on the other side): mail that never reached the
 * other side is never deleted because of that side. *removable is false
 * otherwise, and for INBOX, which is never removed. Leaves the folder
 * selected. */
static int removal_uids(struct engine *e, const char *name, bool on_far, uint32_t **uids, size_t *n,
			bool *removable, struct ferry_error *err)
{
	struct store *s = on_far ? e->store[FAR] : e->store[NEAR];
	struct folder_state fs = {0};
	struct msg_list list = {0};
	struct state_folder sf = {0};
	struct pair *pairs = NULL;
	size_t npairs = 0, paired = 0, npu = 0;
	uint32_t *pair_uids = NULL;
	int r = -1;

	*uids = NULL;
	*n = 0;
	*removable = false;
	if (folder_name_is_inbox(name))
		return 0;
	if (s->driver->select(s, name, &fs, err) != 0 || s->driver->list(s, &list, err) != 0 ||
	    state_get_folder(e->state, name, &sf, err) != 0)
		goto out;
	if ((on_far ? sf.far_uidvalidity : sf.near_uidvalidity) != fs.uidvalidity) {
		r = 0; /* renumbered since: nothing here is known to be paired */
		goto out;
	}
	if (state_load_pairs(e->state, sf.id, &pairs, &npairs, err) != 0)
		goto out;
	*uids = malloc((list.n + 1) * sizeof(**uids));
	pair_uids = malloc((npairs + 1) * sizeof(*pair_uids));
	if (!*uids || !pair_uids) {
		ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		goto out;
	}
	/* Which listed uids are paired: the pairs' uids sorted, then a lookup each. */
	for (size_t j = 0; j < npairs; j++)
		pair_uids[npu++] = on_far ? pairs[j].far_uid : pairs[j].near_uid;
	if (npu)
		qsort(pair_uids, npu, sizeof(*pair_uids), cmp_u32);
	for (size_t i = 0; i < list.n; i++)
		if (npu && bsearch(&list.v[i].uid, pair_uids, npu, sizeof(*pair_uids), cmp_u32))
			(*uids)[paired++] = list.v[i].uid;
	*n = paired;
	*removable = paired == list.n;
	r = 0;
out:
	if (r != 0) {
		free(*uids);
		*uids = NULL;
	}
	free(pair_uids);
	state_pairs_free(pairs, npairs);
	msg_list_free(&list);
	free(sf.name);
	return r;
}

int engine_folder_removable(struct engine *e, const char *name, bool on_far, bool *removable,
			    size_t *messages, struct ferry_error *err)
{
	uint32_t *uids = NULL;
	int r = removal_uids(e, name, on_far, &uids, messages, removable, err);

	free(uids);
	return r;
}

int engine_remove_folder(struct engine *e, const char *name, bool on_far, bool *removed,
			 struct ferry_error *err)
{
	struct store *s = on_far ? e->store[FAR] : e->store[NEAR];
	uint32_t *uids = NULL;
	size_t n = 0;
	bool removable = false;
	int r;

	*removed = false;
	r = removal_uids(e, name, on_far, &uids, &n, &removable, err);
	if (r != 0 || !removable)
		goto out;
	if (e->opts->dry_run) {
		printf("%s: remove folder on %s (%zu messages)\n", name, on_far ? "far" : "near",
		       n);
		*removed = true;
		goto out;
	}
	r = -1;
	if ((n && s->driver->delete_msgs(s, uids, n, err) != 0) ||
	    s->driver->delete_folder(s, name, err) != 0)
		goto out;
	if (state_begin(e->state, err) != 0)
		goto out;
	if (state_drop_folder(e->state, name, err) != 0) {
		state_rollback(e->state);
		goto out;
	}
	r = state_commit(e->state, err);
	*removed = r == 0;
out:
	free(uids);
	return r;
}
