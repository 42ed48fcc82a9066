/* The plan of one folder pair: the two listings and the state of the last
 * sync in, actions out (DESIGN.md "The sync, per channel", rules 5, 7, 9,
 * 10). Pure: every case is a function of its input, so tests/unit/test_plan.c
 * can walk them all.
 *
 * Most rules are symmetric between far and near, so the code names a side by
 * enum side (FAR or NEAR), keeps what it knows of both in arrays indexed by
 * it, and writes each rule once. */
#include "sync/plan.h"

#include <stdlib.h>
#include <string.h>

#include "store/base/grow.h"
#include "store/flags.h"
#include "sync/side.h"

/* One side's listing, indexed by uid for the pairs of the state. */
struct listing {
	const struct msg *v;
	size_t n;
	const struct msg **by_uid; /* v in uid order, for binary search */
	bool *paired;		   /* v[i] belongs to a pair (state or rule 7) */
	bool complete;		   /* the listing finished: absence means deleted */
	bool keywords_ok;	   /* the side can store keywords */
	const char *dropped;	   /* keywords it took no more of (a limit per folder) */
};

struct planner {
	const struct plan_input *in;
	struct listing side[2]; /* indexed by enum side */
	struct plan *out;
	bool oom; /* set by the kw_* helpers when a keyword set cannot be built */
};

/* ---- sides and directions ---- */

static enum side other_side(enum side s)
{
	return s == FAR ? NEAR : FAR;
}

/* The one direction that carries changes into a side, besides both. */
static const enum sync_dir one_way_into[2] = {[FAR] = SYNC_PUSH, [NEAR] = SYNC_PULL};
static const enum side_set side_bit[2] = {[FAR] = SIDE_FAR, [NEAR] = SIDE_NEAR};
static const enum action_kind flags_on[2] = {[FAR] = ACT_FLAGS_FAR, [NEAR] = ACT_FLAGS_NEAR};
static const enum action_kind copy_into[2] = {[FAR] = ACT_COPY_TO_FAR, [NEAR] = ACT_COPY_TO_NEAR};
static const enum action_kind delete_on[2] = {[FAR] = ACT_DELETE_FAR, [NEAR] = ACT_DELETE_NEAR};

/* Whether this run's direction lets changes (new messages, flags,
 * deletions) travel into side `to`: pull only into near, push only into far. */
static bool flows_into(enum sync_dir sync, enum side to)
{
	return sync == SYNC_BOTH || sync == one_way_into[to];
}

/* Whether the `delete` policy lets deletions be carried out on side s. */
static bool may_delete_on(const struct plan_input *in, enum side s)
{
	enum side_set allowed = in->policy.delete; /* clang-format reads "delete &" as C++ */

	return (allowed & side_bit[s]) != 0;
}

static uint32_t pair_uid(const struct pair *pr, enum side s)
{
	return s == FAR ? pr->far_uid : pr->near_uid;
}

/* ---- indexing the listings ---- */

static int msg_uid_cmp(const void *a, const void *b)
{
	const struct msg *x = *(const struct msg *const *)a, *y = *(const struct msg *const *)b;

	return (x->uid > y->uid) - (x->uid < y->uid);
}

/* plan.h promises listings in uid order, but a listing out of order would make
 * a binary search miss present messages, and a missed message looks deleted:
 * so the index is sorted here rather than trusted. */
static int side_init(struct listing *s, const struct msg *v, size_t n, bool complete,
		     bool keywords_ok, const char *dropped)
{
	*s = (struct listing){v, n, NULL, NULL, complete, keywords_ok, dropped};
	if (n == 0)
		return 0;
	s->by_uid = malloc(n * sizeof(*s->by_uid));
	s->paired = calloc(n, sizeof(*s->paired));
	if (!s->by_uid || !s->paired)
		return -1;
	for (size_t i = 0; i < n; i++)
		s->by_uid[i] = &v[i];
	qsort(s->by_uid, n, sizeof(*s->by_uid), msg_uid_cmp);
	return 0;
}

static void side_free(struct listing *s)
{
	free(s->by_uid);
	free(s->paired);
}

/* The message with that uid in the listing, or NULL (uid 0: none). */
static const struct msg *side_find(const struct listing *s, uint32_t uid)
{
	size_t lo = 0, hi = s->n;

	if (uid == 0)
		return NULL;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->by_uid[mid]->uid == uid)
			return s->by_uid[mid];
		if (s->by_uid[mid]->uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void side_mark_pairs(struct listing *s, const struct pair *pairs, size_t npairs,
			    enum side which)
{
	for (size_t i = 0; i < npairs; i++) {
		const struct msg *m = side_find(s, pair_uid(&pairs[i], which));

		if (m)
			s->paired[m - s->v] = true;
	}
}

static int planner_init(struct planner *p, const struct plan_input *in, struct plan *out)
{
	*p = (struct planner){.in = in, .out = out};
	if (side_init(&p->side[FAR], in->far, in->nfar, in->far_complete, in->far_keywords_ok,
		      in->far_kw_dropped) < 0 ||
	    side_init(&p->side[NEAR], in->near, in->nnear, in->near_complete, in->near_keywords_ok,
		      in->near_kw_dropped) < 0)
		return -1;
	side_mark_pairs(&p->side[FAR], in->pairs, in->npairs, FAR);
	side_mark_pairs(&p->side[NEAR], in->pairs, in->npairs, NEAR);
	return 0;
}

static void planner_free(struct planner *p)
{
	side_free(&p->side[FAR]);
	side_free(&p->side[NEAR]);
}

/* ---- flags and keyword sets ---- */

/* Side `into` takes the changes `from` made since base: what from added is
 * added, what from removed is removed, the rest stays into's own. Applied in
 * both directions this is exactly the three-way merge of rule 9. */
static unsigned apply_flags(unsigned into, unsigned from, unsigned base)
{
	return (into | (from & ~base)) & ~(base & ~from);
}

unsigned plan_merge_flags(unsigned base, unsigned far, unsigned near)
{
	return (far & near) | ((far ^ near) & ~base);
}

/* The same on keyword sets; malloc'd, NULL when empty. */
static char *apply_keywords(const char *into, const char *from, const char *base, bool *oom)
{
	char *added = kw_minus(from, base, oom), *removed = kw_minus(base, from, oom);
	char *grown = kw_union(into, added, oom);
	char *r = kw_minus(grown, removed, oom);

	free(added);
	free(removed);
	free(grown);
	return r;
}

/* kw_equal cannot tell "different" from "out of memory"; this can. */
static bool keywords_same(const char *a, const char *b, bool *oom)
{
	char *x = kw_minus(a, b, oom), *y = kw_minus(b, a, oom);
	bool same = !x && !y;

	free(x);
	free(y);
	return same;
}

/* Rule 9: a side that cannot store keywords has not changed them. Nor has
 * a message whose store lost them (rule 15: a Maildir file refiled by
 * another program); plan_flags then gives it back the target's. Nor has a
 * side those keywords it took no more of (a server's limit per folder)
 * are missing from: the base's stand. malloc'd, NULL when none. */
static char *side_keywords(struct planner *p, enum side s, const struct msg *m,
			   const struct pair *pr)
{
	const struct listing *l = &p->side[s];
	char *kept, *held;

	if (!l->keywords_ok || m->keywords_unknown)
		return kw_normalize(pr->base_keywords, &p->oom);
	if (kw_empty(l->dropped))
		return kw_normalize(m->keywords, &p->oom);
	kept = kw_intersect(pr->base_keywords, l->dropped, &p->oom);
	held = kw_union(m->keywords, kept, &p->oom);
	free(kept);
	return held;
}

/* target_kw less what side s took no more of; malloc'd, NULL when none. */
static char *side_takes(struct planner *p, enum side s, const char *target_kw)
{
	return kw_minus(target_kw, p->side[s].dropped, &p->oom);
}

/* ---- building the plan ---- */

static void action_clear(struct action *a)
{
	free(a->add_keywords);
	free(a->remove_keywords);
	free(a->base_keywords);
}

/* Appends a, which hands its strings to the plan; on failure frees them. */
static int emit(struct planner *p, struct action *a)
{
	struct plan *out = p->out;

	if (p->oom)
		goto fail;
	if (out->n == out->cap) {
		struct action *v = grow_array(out->v, &out->cap, out->n + 1, sizeof(*v));

		if (!v)
			goto fail;
		out->v = v;
	}
	out->v[out->n++] = *a;
	return 0;
fail:
	action_clear(a);
	p->oom = true;
	return -1;
}

static void action_set_uid(struct action *a, enum side s, uint32_t uid)
{
	if (s == FAR)
		a->far_uid = uid;
	else
		a->near_uid = uid;
}

/* Brings side s's message m (of the pair far_uid/near_uid) to the flags
 * `target` and the keywords `target_kw`. A side that cannot store keywords
 * is never asked to. */
static int plan_flags(struct planner *p, enum side s, const struct action *pair_uids,
		      const struct msg *m, unsigned target, const char *target_kw)
{
	struct action a = {
	    .kind = flags_on[s],
	    .far_uid = pair_uids->far_uid,
	    .near_uid = pair_uids->near_uid,
	    .add = target & ~m->flags,
	    .remove = m->flags & ~target,
	    .size = m->size,
	};

	if (p->side[s].keywords_ok) {
		char *takes = side_takes(p, s, target_kw);

		a.add_keywords = kw_minus(takes, m->keywords, &p->oom);
		a.remove_keywords = kw_minus(m->keywords, target_kw, &p->oom);
		free(takes);
	}
	if (!a.add && !a.remove && !a.add_keywords && !a.remove_keywords && !p->oom)
		return 0;
	return emit(p, &a);
}

/* Where the flags of one pair go: each side's target and the new base. */
struct flag_targets {
	unsigned flags[2]; /* indexed by enum side */
	char *kw[2];	   /* malloc'd */
	unsigned base;
	char *base_kw; /* malloc'd */
};

static void flag_targets_free(struct flag_targets *t)
{
	free(t->kw[FAR]);
	free(t->kw[NEAR]);
	free(t->base_kw);
}

/* In one direction the base is the source side's value (see below). */
static void targets_base(struct planner *p, struct flag_targets *t)
{
	enum side source = p->in->policy.sync == SYNC_PUSH ? NEAR : FAR;

	t->base = t->flags[source];
	t->base_kw = kw_normalize(t->kw[source], &p->oom);
}

/* The flag actions of both sides, far first (the action order); m is
 * indexed by enum side. */
static int plan_both_flags(struct planner *p, const struct action *uids,
			   const struct msg *const m[2], const struct flag_targets *t)
{
	if (plan_flags(p, FAR, uids, m[FAR], t->flags[FAR], t->kw[FAR]) < 0)
		return -1;
	return plan_flags(p, NEAR, uids, m[NEAR], t->flags[NEAR], t->kw[NEAR]);
}

/* ---- pairs present on both sides: rule 9 with a base ---- */

/* Each side takes the other's changes where the direction lets them in.
 * The new base is what both now hold; in one direction it is the source
 * side's value, so the target's own changes stay pending (they go out if
 * the channel is later switched to both). */
static void targets_with_base(struct planner *p, const struct pair *pr,
			      const struct msg *const m[2], struct flag_targets *t)
{
	enum sync_dir sync = p->in->policy.sync;
	char *kw[2] = {side_keywords(p, FAR, m[FAR], pr), side_keywords(p, NEAR, m[NEAR], pr)};

	for (enum side s = FAR; s <= NEAR; s++) {
		enum side o = other_side(s);

		if (flows_into(sync, s)) {
			t->flags[s] = apply_flags(m[s]->flags, m[o]->flags, pr->base_flags);
			t->kw[s] = apply_keywords(kw[s], kw[o], pr->base_keywords, &p->oom);
		} else {
			t->flags[s] = m[s]->flags;
			t->kw[s] = kw_normalize(kw[s], &p->oom);
		}
	}
	free(kw[FAR]);
	free(kw[NEAR]);
	targets_base(p, t);
}

static int plan_synced(struct planner *p, const struct pair *pr, const struct msg *const m[2])
{
	struct flag_targets t = {0};
	struct action uids = {.far_uid = pr->far_uid, .near_uid = pr->near_uid};
	bool base_moved;
	int rc;

	targets_with_base(p, pr, m, &t);
	rc = plan_both_flags(p, &uids, m, &t);
	base_moved =
	    t.base != pr->base_flags || !keywords_same(t.base_kw, pr->base_keywords, &p->oom);
	if (rc == 0 && base_moved) {
		struct action a = {
		    .kind = ACT_SET_BASE,
		    .far_uid = pr->far_uid,
		    .near_uid = pr->near_uid,
		    .base_flags = t.base,
		    .base_keywords = t.base_kw,
		    .size = pr->size,
		};

		t.base_kw = NULL; /* handed to the action */
		rc = emit(p, &a);
	}
	flag_targets_free(&t);
	return rc;
}

/* ---- copies ---- */

static bool over_size(const struct plan_input *in, uint64_t size)
{
	return in->policy.max_size && size > in->policy.max_size;
}

/* How side `from`'s message m over max_size goes to the other side: not at
 * all, as a placeholder (placeholders are made far -> near only), or whole
 * (flagged, with placeholders = flagged: someone wants it). */
enum big_copy { BIG_SKIP, BIG_PLACEHOLDER, BIG_WHOLE };

static enum big_copy big_copy(const struct plan_input *in, const struct msg *m, enum side from)
{
	if (from != FAR || !in->policy.placeholders)
		return BIG_SKIP;
	if (in->policy.fetch_flagged && (m->flags & MF_FLAGGED))
		return BIG_WHOLE;
	return BIG_PLACEHOLDER;
}

/* Copies m from side `from` to the other side with its flags, which become
 * the base. A side that cannot store keywords gets none, but the base keeps
 * them: that side counts as holding the base (rule 9). */
static int plan_copy(struct planner *p, const struct msg *m, const char *keywords, enum side from,
		     bool conflict)
{
	enum side to = other_side(from);
	struct action a = {
	    .kind = copy_into[to],
	    .add = m->flags,
	    .base_flags = m->flags,
	    .base_keywords = kw_normalize(keywords, &p->oom),
	    .size = m->size,
	    .conflict = conflict,
	    .placeholder = to == NEAR && over_size(p->in, m->size) &&
			   big_copy(p->in, m, from) == BIG_PLACEHOLDER,
	};

	action_set_uid(&a, from, m->uid);
	if (p->side[to].keywords_ok)
		a.add_keywords = side_takes(p, to, keywords);
	if (emit(p, &a) < 0)
		return -1;
	if (conflict)
		p->out->conflicts++;
	return 0;
}

/* max_age: a message dated before the window. One whose date is not known
 * is inside: nothing says it is old. */
static bool outside_window(const struct plan_input *in, const struct msg *m)
{
	return in->policy.min_date && m->date > 0 && m->date < in->policy.min_date;
}

/* A message of side `from` that the other side never had (unpaired, or
 * skipped by size before). */
static int plan_new_message(struct planner *p, const struct msg *m, enum side from)
{
	const struct plan_input *in = p->in;

	if (!flows_into(in->policy.sync, other_side(from)))
		return 0;
	/* Rule 9: a new message already \Deleted is on its way out; copying it
	 * to a side that carries out deletions would only resurrect it there.
	 * A side that does not (a backup) holds everything, flag and all. */
	if ((m->flags & MF_DELETED) && may_delete_on(in, other_side(from)))
		return 0;
	/* A placeholder holds a note, not the message: never sent to a server. */
	if (m->placeholder)
		return 0;
	if (outside_window(in, m)) {
		p->out->outside_window++;
		return 0;
	}
	if (over_size(in, m->size) && big_copy(in, m, from) == BIG_SKIP) {
		struct action a = {.kind = ACT_SKIP_SIZE, .size = m->size};

		action_set_uid(&a, from, m->uid);
		return emit(p, &a);
	}
	return plan_copy(p, m, m->keywords, from, false);
}

/* ---- pairs present on one side: deletions, rule 10 ---- */

static struct action pair_action(enum action_kind kind, const struct pair *pr)
{
	return (struct action){
	    .kind = kind,
	    .far_uid = pr->far_uid,
	    .near_uid = pr->near_uid,
	    .base_flags = pr->base_flags,
	    .size = pr->size,
	    .placeholder = pr->placeholder,
	};
}

static int plan_pair_action(struct planner *p, enum action_kind kind, const struct pair *pr)
{
	struct action a = pair_action(kind, pr);

	return emit(p, &a);
}

/* KEEP records the pair one-sided: the gone side's uid is dropped so the
 * survivor is never copied back. */
static int plan_keep(struct planner *p, const struct pair *pr, enum side gone)
{
	struct action a = pair_action(ACT_KEEP, pr);

	action_set_uid(&a, gone, 0);
	return emit(p, &a);
}

/* Rule 10's exception: the survivor newly set \Flagged or added a keyword
 * since the last sync, which someone meant to keep. */
static bool survivor_marked(struct planner *p, const struct pair *pr, const struct msg *m,
			    enum side s)
{
	char *added;
	bool marked;

	if ((m->flags & MF_FLAGGED) && !(pr->base_flags & MF_FLAGGED))
		return true;
	if (!p->side[s].keywords_ok)
		return false;
	added = kw_minus(m->keywords, pr->base_keywords, &p->oom);
	marked = added != NULL;
	free(added);
	return marked;
}

/* The pair's message was deleted on side `gone` and is still on the other. */
static int plan_one_gone(struct planner *p, const struct pair *pr, const struct msg *survivor,
			 enum side gone)
{
	const struct plan_input *in = p->in;
	enum side kept = other_side(gone);

	/* Rule 5: only a complete listing proves a deletion; rule 7: a folder
	 * without usable state deletes nothing. Wait for a better run. */
	if (!p->side[gone].complete || !in->have_state)
		return 0;
	if (!flows_into(in->policy.sync, kept) || !may_delete_on(in, kept))
		return plan_keep(p, pr, gone);
	/* max_age: an old message deleted on one side (a laptop making room)
	 * stays on the other, and is not copied back. */
	if (outside_window(in, survivor)) {
		p->out->outside_window++;
		return plan_keep(p, pr, gone);
	}
	/* Only a deletion that would go through can lose a marked message:
	 * otherwise the survivor is kept above, and nothing is copied back. */
	if (survivor_marked(p, pr, survivor, kept)) {
		char *kw;
		int r;

		/* A placeholder cannot bring back the message it stands for. */
		if (!flows_into(in->policy.sync, gone) || (kept == NEAR && pr->placeholder))
			return plan_keep(p, pr, gone);
		kw = side_keywords(p, kept, survivor, pr);
		r = plan_copy(p, survivor, kw, kept, true);
		free(kw);
		return r;
	}
	return plan_pair_action(p, delete_on[kept], pr);
}

/* ---- one pair of the state ---- */

/* Gone on both sides. Absence counts only in complete listings: forgetting a
 * pair whose message an incomplete listing merely missed would make it an
 * unpaired message next run, copied back over the other side's deletion. */
static int plan_both_gone(struct planner *p, const struct pair *pr)
{
	if (!p->side[FAR].complete || !p->side[NEAR].complete)
		return 0;
	return plan_pair_action(p, ACT_FORGET, pr);
}

/* A pair with a message on side s only, by policy (KEPT) or size (SKIPPED). */
static int plan_one_sided(struct planner *p, const struct pair *pr, enum side s)
{
	const struct listing *side = &p->side[s];
	const struct msg *m = side_find(side, pair_uid(pr, s));

	if (!m)
		return side->complete ? plan_pair_action(p, ACT_FORGET, pr) : 0;
	if (pr->status != PAIR_SKIPPED_SIZE)
		return 0;
	/* Retried when the limit changed (DESIGN: the state per pair), or
	 * when placeholders were turned on. */
	if (over_size(p->in, pr->size) && big_copy(p->in, m, s) == BIG_SKIP)
		return 0;
	return plan_new_message(p, m, s);
}

static int plan_pair(struct planner *p, const struct pair *pr)
{
	const struct msg *m[2] = {side_find(&p->side[FAR], pr->far_uid),
				  side_find(&p->side[NEAR], pr->near_uid)};

	if (!pr->far_uid && !pr->near_uid)
		return plan_pair_action(p, ACT_FORGET, pr);
	if (!pr->far_uid || !pr->near_uid)
		return plan_one_sided(p, pr, pr->far_uid ? FAR : NEAR);
	if (m[FAR] && m[NEAR])
		return plan_synced(p, pr, m);
	for (enum side s = FAR; s <= NEAR; s++)
		if (m[s])
			return plan_one_gone(p, pr, m[s], other_side(s));
	return plan_both_gone(p, pr);
}

/* ---- unpaired messages: rule 7, then copies ---- */

/* Orders messages by identity (rule 6: header hash and CRLF size). */
static int identity_cmp(const struct msg *a, const struct msg *b)
{
	int c = memcmp(a->ident->hash, b->ident->hash, sizeof(a->ident->hash));

	if (c)
		return c;
	return (a->size > b->size) - (a->size < b->size);
}

/* The same by the munged hash (8-bit header bytes read as 'X'). */
static int munged_cmp(const struct msg *a, const struct msg *b)
{
	int c = memcmp(a->ident->munged, b->ident->munged, sizeof(a->ident->munged));

	if (c)
		return c;
	return (a->size > b->size) - (a->size < b->size);
}

/* For qsort: by identity, then uid, so the k-th copy meets the k-th. */
static int msg_identity_cmp(const void *a, const void *b)
{
	const struct msg *x = *(const struct msg *const *)a, *y = *(const struct msg *const *)b;
	int c = identity_cmp(x, y);

	return c ? c : (x->uid > y->uid) - (x->uid < y->uid);
}

static int msg_munged_cmp(const void *a, const void *b)
{
	const struct msg *x = *(const struct msg *const *)a, *y = *(const struct msg *const *)b;
	int c = munged_cmp(x, y);

	return c ? c : (x->uid > y->uid) - (x->uid < y->uid);
}

/* The unpaired messages of a side whose identity (munged: munged hash) is
 * known, by it then uid. *out is malloc'd (NULL when none). */
static int unpaired_by_identity(const struct listing *s, bool munged, const struct msg ***out,
				size_t *n)
{
	*out = NULL;
	*n = 0;
	if (s->n == 0)
		return 0;
	*out = malloc(s->n * sizeof(**out));
	if (!*out)
		return -1;
	for (size_t i = 0; i < s->n; i++)
		if (!s->paired[i] && msg_id_known(&s->v[i]) && (!munged || s->v[i].munged_known))
			(*out)[(*n)++] = &s->v[i];
	qsort(*out, *n, sizeof(**out), munged ? msg_munged_cmp : msg_identity_cmp);
	return 0;
}

/* No base yet: the union, except \Deleted which needs both sides (rule 9).
 * In one direction the target side takes the union and the source side
 * stays as it is, which is also the base, as for a synced pair. */
static void targets_without_base(struct planner *p, const struct msg *const m[2],
				 struct flag_targets *t)
{
	enum sync_dir sync = p->in->policy.sync;
	unsigned both = m[FAR]->flags & m[NEAR]->flags;

	for (enum side s = FAR; s <= NEAR; s++) {
		const struct msg *mine = m[s], *theirs = m[other_side(s)];

		if (sync == SYNC_BOTH)
			t->flags[s] =
			    ((mine->flags | theirs->flags) & ~MF_DELETED) | (both & MF_DELETED);
		else
			t->flags[s] =
			    mine->flags | (flows_into(sync, s) ? theirs->flags & ~MF_DELETED : 0);
		t->kw[s] = flows_into(sync, s) ? kw_union(mine->keywords, theirs->keywords, &p->oom)
					       : kw_normalize(mine->keywords, &p->oom);
	}
	targets_base(p, t);
}

/* Rule 7: far and near hold the same message; record the pair. */
static int plan_match(struct planner *p, const struct msg *far, const struct msg *near)
{
	const struct msg *const m[2] = {far, near};
	struct flag_targets t = {0};
	struct action a = {.kind = ACT_PAIR,
			   .far_uid = far->uid,
			   .near_uid = near->uid,
			   .placeholder = near->placeholder};
	int rc;

	for (enum side s = FAR; s <= NEAR; s++)
		p->side[s].paired[m[s] - p->side[s].v] = true;
	targets_without_base(p, m, &t);
	a.base_flags = t.base;
	a.base_keywords = t.base_kw;
	t.base_kw = NULL; /* handed to the action */
	a.size = far->size;
	rc = emit(p, &a);
	if (rc == 0)
		rc = plan_both_flags(p, &a, m, &t);
	flag_targets_free(&t);
	return rc;
}

/* Pairs the k-th far copy of an identity with the k-th near copy, in uid
 * order: identical messages may exist several times on a side (rule 6), and
 * only as many pairs as the smaller side holds are real. munged: by the
 * munged hash, for what the exact identity left unpaired (a server that
 * turned 8-bit header bytes into 'X'). */
static int match_by_identity(struct planner *p, bool munged)
{
	const struct msg **far = NULL, **near = NULL;
	size_t nfar = 0, nnear = 0, i = 0, j = 0;
	int rc = 0;

	if (unpaired_by_identity(&p->side[FAR], munged, &far, &nfar) < 0 ||
	    unpaired_by_identity(&p->side[NEAR], munged, &near, &nnear) < 0)
		rc = -1;
	while (rc == 0 && i < nfar && j < nnear) {
		int c = munged ? munged_cmp(far[i], near[j]) : identity_cmp(far[i], near[j]);

		if (c < 0)
			i++;
		else if (c > 0)
			j++;
		else
			rc = plan_match(p, far[i++], near[j++]);
	}
	free(far);
	free(near);
	return rc;
}

static int copy_unpaired(struct planner *p, enum side from)
{
	const struct listing *s = &p->side[from];

	for (size_t i = 0; i < s->n; i++)
		if (!s->paired[i] && plan_new_message(p, &s->v[i], from) < 0)
			return -1;
	return 0;
}

bool plan_by_windows(const struct plan_input *in)
{
	return in->npairs == 0 && (in->nfar == 0 || in->nnear == 0);
}

/* ---- rule 5: max_delete ---- */

bool plan_exceeds_max_delete(bool is_percent, unsigned max_delete, size_t count, size_t total)
{
	if (count == 0)
		return false;
	if (!is_percent)
		return count > max_delete;
	/* Small folders never stop: deleting 6 of 10 is an ordinary day. */
	return count > 10 && (uint64_t)count * 100 > (uint64_t)max_delete * total;
}

static bool too_many_deletions(const struct plan_input *in, size_t count, size_t listed)
{
	/* The listing is of the side that deletes, so it is the size before. */
	return !in->policy.force_delete &&
	       plan_exceeds_max_delete(in->policy.max_delete_is_percent, in->policy.max_delete,
				       count, listed);
}

/* ---- rule 11: a listing that lost most folders ---- */

bool plan_folders_lost(size_t synced, size_t gone)
{
	/* More than half, and at least 3: a 3-folder account may still lose 2
	 * folders in one run (max_delete then weighs their messages). */
	return gone >= 3 && gone * 2 > synced;
}

static size_t count_kind(const struct plan *out, enum action_kind kind)
{
	size_t n = 0;

	for (size_t i = 0; i < out->n; i++)
		n += out->v[i].kind == kind;
	return n;
}

static void drop_kind(struct plan *out, enum action_kind kind)
{
	size_t o = 0;

	for (size_t i = 0; i < out->n; i++) {
		if (out->v[i].kind == kind)
			action_clear(&out->v[i]);
		else
			out->v[o++] = out->v[i];
	}
	out->n = o;
}

/* The folder stops deleting (on that side) until --force-delete; the rest
 * of the plan still runs. */
static void limit_deletions(const struct plan_input *in, struct plan *out)
{
	size_t far = count_kind(out, ACT_DELETE_FAR), near = count_kind(out, ACT_DELETE_NEAR);

	if (too_many_deletions(in, far, in->far_size ? in->far_size : in->nfar)) {
		drop_kind(out, ACT_DELETE_FAR);
		out->blocked_far = far;
	}
	if (too_many_deletions(in, near, in->near_size ? in->near_size : in->nnear)) {
		drop_kind(out, ACT_DELETE_NEAR);
		out->blocked_near = near;
	}
}

/* ---- order ---- */

/* The order plan.h promises, safe to execute as it comes: records of the
 * state first (PAIR, FORGET, KEEP, SKIP_SIZE), flag stores before the base
 * that records them, then copies, and deletions last, so a run cut short
 * has deleted nothing while work that might have needed it was pending. */
static const unsigned kind_rank[] = {
    [ACT_PAIR] = 0,	   [ACT_FORGET] = 1,	 [ACT_KEEP] = 2,	 [ACT_SKIP_SIZE] = 3,
    [ACT_FLAGS_FAR] = 4,   [ACT_FLAGS_NEAR] = 5, [ACT_SET_BASE] = 6,	 [ACT_COPY_TO_NEAR] = 7,
    [ACT_COPY_TO_FAR] = 8, [ACT_DELETE_FAR] = 9, [ACT_DELETE_NEAR] = 10,
};

/* Actions on near order by near uid, the others by far uid (0 first). */
static bool near_first(enum action_kind k)
{
	return k == ACT_FLAGS_NEAR || k == ACT_COPY_TO_FAR || k == ACT_DELETE_NEAR;
}

static int cmp_uid(uint32_t a, uint32_t b)
{
	return (a > b) - (a < b);
}

static int action_cmp(const void *a, const void *b)
{
	const struct action *x = a, *y = b;
	int c = cmp_uid(kind_rank[x->kind], kind_rank[y->kind]);

	if (!c && near_first(x->kind))
		c = cmp_uid(x->near_uid, y->near_uid);
	if (!c)
		c = cmp_uid(x->far_uid, y->far_uid);
	if (!c)
		c = cmp_uid(x->near_uid, y->near_uid);
	return c;
}

/* ---- entry points ---- */

static int plan_all(struct planner *p)
{
	const struct plan_input *in = p->in;

	for (size_t i = 0; i < in->npairs; i++)
		if (plan_pair(p, &in->pairs[i]) < 0)
			return -1;
	if (match_by_identity(p, false) < 0 || match_by_identity(p, true) < 0 ||
	    copy_unpaired(p, FAR) < 0 || copy_unpaired(p, NEAR) < 0)
		return -1;
	return p->oom ? -1 : 0;
}

int plan_folder(const struct plan_input *in, struct plan *out)
{
	struct planner p;
	int rc;

	*out = (struct plan){0};
	rc = planner_init(&p, in, out);
	if (rc == 0)
		rc = plan_all(&p);
	planner_free(&p);
	if (rc < 0)
		return -1;
	limit_deletions(in, out);
	if (out->n)
		qsort(out->v, out->n, sizeof(*out->v), action_cmp);
	return 0;
}

/* The indexes of the unmarked messages of a side; malloc'd (NULL when none). */
static int unpaired_indexes(const struct listing *s, size_t **idx, size_t *n)
{
	*idx = NULL;
	*n = 0;
	if (s->n == 0)
		return 0;
	*idx = malloc(s->n * sizeof(**idx));
	if (!*idx)
		return -1;
	for (size_t i = 0; i < s->n; i++)
		if (!s->paired[i])
			(*idx)[(*n)++] = i;
	return 0;
}

int plan_unpaired(const struct plan_input *in, size_t **far_idx, size_t *nfar, size_t **near_idx,
		  size_t *nnear)
{
	struct planner p;
	struct plan unused = {0};
	int rc;

	*far_idx = *near_idx = NULL;
	*nfar = *nnear = 0;
	rc = planner_init(&p, in, &unused);
	if (rc == 0 && (unpaired_indexes(&p.side[FAR], far_idx, nfar) < 0 ||
			unpaired_indexes(&p.side[NEAR], near_idx, nnear) < 0))
		rc = -1;
	planner_free(&p);
	if (rc < 0) {
		free(*far_idx);
		free(*near_idx);
		*far_idx = *near_idx = NULL;
		*nfar = *nnear = 0;
	}
	return rc;
}

size_t plan_flagged_placeholders(const struct plan_input *in, uint32_t *far_uids)
{
	struct planner p;
	struct plan unused = {0};
	size_t n = 0;

	if (!in->policy.fetch_flagged)
		return 0;
	if (planner_init(&p, in, &unused) != 0) {
		planner_free(&p);
		return 0;
	}
	for (size_t i = 0; i < in->npairs; i++) {
		const struct pair *pr = &in->pairs[i];
		const struct msg *far = side_find(&p.side[FAR], pr->far_uid);
		const struct msg *near = side_find(&p.side[NEAR], pr->near_uid);

		if (pr->placeholder && far && near &&
		    (plan_merge_flags(pr->base_flags, far->flags, near->flags) & MF_FLAGGED))
			far_uids[n++] = pr->far_uid;
	}
	planner_free(&p);
	return n;
}

void plan_free(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		action_clear(&p->v[i]);
	free(p->v);
	*p = (struct plan){0};
}
