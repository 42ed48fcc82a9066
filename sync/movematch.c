/* The move pass's matching: candidates from listings and pairs, moves,
 * split moves and refiles from candidates. Pure (see movematch.h). */
#include "sync/movematch.h"

#include <stdlib.h>
#include <string.h>

#include "store/base/grow.h"
#include "store/identity.h"

static enum side other_side(enum side s)
{
	return s == FAR ? NEAR : FAR;
}

static uint32_t pair_uid(const struct pair *p, enum side s)
{
	return s == FAR ? p->far_uid : p->near_uid;
}

static struct msg_id pair_id(const struct pair *p, enum side s)
{
	return s == FAR ? p->far_id : p->near_id;
}

/* The side_set bit of side s (SIDE_FAR for FAR, SIDE_NEAR for NEAR). */
static enum side_set side_bit(enum side s)
{
	return s == FAR ? SIDE_FAR : SIDE_NEAR;
}

bool movematch_may_move_on(const struct sync_policy *policy, enum side s)
{
	enum sync_dir into = s == FAR ? SYNC_PUSH : SYNC_PULL;
	enum side_set allowed = policy->delete; /* clang-format reads "delete &" as C++ */

	return (policy->sync == SYNC_BOTH || policy->sync == into) && (allowed & side_bit(s));
}

void move_cands_free(struct move_cands *c)
{
	free(c->v);
	*c = (struct move_cands){0};
}

static int push(struct move_cands *c, const struct move_cand *x)
{
	struct move_cand *nv = grow_array(c->v, &c->cap, c->n + 1, sizeof(*nv));

	if (!nv)
		return -1;
	c->v = nv;
	c->v[c->n++] = *x;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Where the listing (sorted by uid) holds uid, or l->n. */
static size_t find(const struct movematch_listing *l, uint32_t uid)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (l->v[mid].uid == uid)
			return mid;
		if (l->v[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return l->n;
}

static bool listed(const struct movematch_listing *l, uint32_t uid)
{
	return find(l, uid) < l->n;
}

/* The vanished pair i of folder f on side moved, if it is one, into gone. */
static int collect_vanished(const struct movematch_folder *w, size_t f, size_t i, enum side moved,
			    struct move_cands *gone)
{
	const struct pair *p = &w->pairs[i];
	enum side other = other_side(moved);
	uint32_t mine = pair_uid(p, moved), theirs = pair_uid(p, other);
	struct move_cand c = {.size = p->size, .folder = f, .uid = theirs, .pair = i};

	/* Only a folder with usable state says what vanished (rule 7). */
	if (!w->have_state || p->status != PAIR_SYNCED || !mine || !theirs)
		return 0;
	if (listed(&w->side[moved], mine) || !listed(&w->side[other], theirs))
		return 0;
	/* The identity on the side it moved on: a server's copy may differ
	 * from the local file (rule 6). */
	c.id = pair_id(p, moved);
	if (!c.id.known)
		c.id = pair_id(p, other);
	/* A placeholder near is its own message there, of its own size. */
	if (moved == NEAR && p->placeholder)
		c.size = p->placeholder_size;
	return c.id.known ? push(gone, &c) : 0;
}

/* Which messages of w's listing on side s a pair holds, by index
 * (malloc'd); NULL on allocation failure. */
static bool *paired_uids(const struct movematch_folder *w, enum side s)
{
	const struct movematch_listing *l = &w->side[s];
	bool *paired = calloc(l->n + 1, sizeof(*paired));

	for (size_t i = 0; paired && i < w->npairs; i++) {
		uint32_t uid = pair_uid(&w->pairs[i], s);

		if (uid)
			paired[find(l, uid)] = true; /* l->n when not listed: a spare slot */
	}
	return paired;
}

/* A listing's size may still count the header lines the identity leaves
 * out (rule 6), so a size near one of sizes may be the same message. */
static bool has_size(const uint64_t *sizes, size_t nsizes, uint64_t size)
{
	return ident_size_near(sizes, nsizes, size);
}

/* The messages of side moved in folder f that no pair holds, into fresh;
 * with sizes, only those of a size near one of them. */
static int collect_unpaired(const struct movematch_folder *w, size_t f, enum side moved,
			    const uint64_t *sizes, size_t nsizes, struct move_cands *fresh)
{
	const struct movematch_listing *l = &w->side[moved];
	bool *paired = paired_uids(w, moved);
	int r = 0;

	if (!paired)
		return -1;
	for (size_t i = 0; i < l->n && r == 0; i++) {
		const struct msg *m = &l->v[i];
		struct move_cand c = {
		    .id = msg_get_id(m), .size = m->size, .folder = f, .uid = m->uid};

		if (!paired[i] && (!sizes || has_size(sizes, nsizes, m->size)))
			r = push(fresh, &c);
	}
	free(paired);
	return r;
}

int movematch_collect(const struct movematch_folder *v, size_t n, enum side moved,
		      struct move_cands *gone, struct move_cands *fresh)
{
	for (size_t f = 0; f < n; f++) {
		if (!v[f].prepared)
			continue;
		for (size_t i = 0; i < v[f].npairs; i++)
			if (collect_vanished(&v[f], f, i, moved, gone) != 0)
				return -1;
		if (collect_unpaired(&v[f], f, moved, NULL, 0, fresh) != 0)
			return -1;
	}
	return 0;
}

int movematch_collect_gone(const struct movematch_folder *v, size_t n, enum side moved,
			   struct move_cands *gone)
{
	for (size_t f = 0; f < n; f++)
		for (size_t i = 0; v[f].prepared && i < v[f].npairs; i++)
			if (collect_vanished(&v[f], f, i, moved, gone) != 0)
				return -1;
	return 0;
}

int movematch_sizes(const struct move_cands *c, uint64_t **sizes, size_t *n)
{
	*n = 0;
	*sizes = NULL;
	if (!c->n)
		return 0;
	if (!(*sizes = malloc(c->n * sizeof(**sizes))))
		return -1;
	for (size_t i = 0; i < c->n; i++)
		(*sizes)[(*n)++] = c->v[i].size;
	qsort(*sizes, *n, sizeof(**sizes), cmp_u64);
	return 0;
}

int movematch_unpaired_sizes(const struct movematch_folder *v, size_t n, enum side s,
			     uint64_t **sizes, size_t *nsizes)
{
	size_t cap = 0;

	*sizes = NULL;
	*nsizes = 0;
	for (size_t f = 0; f < n; f++) {
		const struct movematch_listing *l = &v[f].side[s];
		bool *paired;

		if (!v[f].prepared)
			continue;
		if (!(paired = paired_uids(&v[f], s)))
			return -1;
		for (size_t i = 0; i < l->n; i++) {
			uint64_t *nv;

			if (paired[i])
				continue;
			if (!(nv = grow_array(*sizes, &cap, *nsizes + 1, sizeof(*nv)))) {
				free(paired);
				return -1;
			}
			*sizes = nv;
			(*sizes)[(*nsizes)++] = l->v[i].size;
		}
		free(paired);
	}
	if (*nsizes)
		qsort(*sizes, *nsizes, sizeof(**sizes), cmp_u64);
	return 0;
}

int movematch_collect_fresh(const struct movematch_folder *v, size_t n, enum side moved,
			    const uint64_t *sizes, size_t nsizes, struct move_cands *fresh)
{
	if (!nsizes)
		return 0;
	for (size_t f = 0; f < n; f++)
		if (v[f].prepared && collect_unpaired(&v[f], f, moved, sizes, nsizes, fresh) != 0)
			return -1;
	return 0;
}

int movematch_collect_both_gone(const struct movematch_folder *v, size_t n, struct move_cands *gone)
{
	for (size_t f = 0; f < n; f++) {
		const struct movematch_folder *w = &v[f];

		if (!w->prepared || !w->have_state)
			continue;
		for (size_t i = 0; i < w->npairs; i++) {
			const struct pair *p = &w->pairs[i];
			struct move_cand c = {.size = p->size, .folder = f, .pair = i};

			if (p->status != PAIR_SYNCED || !p->far_uid || !p->near_uid ||
			    listed(&w->side[FAR], p->far_uid) ||
			    listed(&w->side[NEAR], p->near_uid))
				continue;
			c.id = p->near_id.known ? p->near_id : p->far_id;
			if (c.id.known && push(gone, &c) != 0)
				return -1;
		}
	}
	return 0;
}

int movematch_to_identify(const struct move_cands *sizes, const struct move_cands *fresh,
			  size_t **idx, size_t *n)
{
	uint64_t *sorted;

	*idx = NULL;
	*n = 0;
	if (!sizes->n || !fresh->n)
		return 0;
	sorted = malloc(sizes->n * sizeof(*sorted));
	*idx = malloc(fresh->n * sizeof(**idx));
	if (!sorted || !*idx) {
		free(sorted);
		free(*idx);
		*idx = NULL;
		return -1;
	}
	for (size_t i = 0; i < sizes->n; i++)
		sorted[i] = sizes->v[i].size;
	qsort(sorted, sizes->n, sizeof(*sorted), cmp_u64);
	for (size_t i = 0; i < fresh->n; i++) {
		const struct move_cand *c = &fresh->v[i];

		if (!c->id.known && has_size(sorted, sizes->n, c->size))
			(*idx)[(*n)++] = i;
	}
	free(sorted);
	return 0;
}

/* Orders candidates by identity (rule 6: header hash and CRLF size). */
static int cmp_cand(const void *a, const void *b)
{
	const struct move_cand *x = a, *y = b;
	int c = memcmp(x->id.hash, y->id.hash, sizeof(x->id.hash));

	if (c)
		return c;
	return (x->size > y->size) - (x->size < y->size);
}

static int cmp_move(const void *a, const void *b)
{
	const struct move *x = a, *y = b;

	if (x->gone.folder != y->gone.folder)
		return x->gone.folder < y->gone.folder ? -1 : 1;
	if (x->fresh.folder != y->fresh.folder)
		return x->fresh.folder < y->fresh.folder ? -1 : 1;
	return (x->gone.uid > y->gone.uid) - (x->gone.uid < y->gone.uid);
}

/* How many candidates from v[i] on share its identity. */
static size_t same_cand(const struct move_cands *c, size_t i)
{
	size_t j = i;

	while (j < c->n && cmp_cand(&c->v[i], &c->v[j]) == 0)
		j++;
	return j - i;
}

int movematch_moves(struct move_cands *gone, struct move_cands *fresh, struct move **out, size_t *n)
{
	size_t i = 0, j = 0, cap = 0;

	*out = NULL;
	*n = 0;
	if (!gone->n || !fresh->n) /* also keeps NULL away from qsort */
		return 0;
	qsort(gone->v, gone->n, sizeof(*gone->v), cmp_cand);
	qsort(fresh->v, fresh->n, sizeof(*fresh->v), cmp_cand);
	while (i < gone->n && j < fresh->n) {
		int c = cmp_cand(&gone->v[i], &fresh->v[j]);
		size_t gk, fk;

		/* A new message not identified matches nothing. */
		if (!fresh->v[j].id.known || c > 0) {
			j++;
			continue;
		}
		if (c < 0) {
			i++;
			continue;
		}
		gk = same_cand(gone, i);
		fk = same_cand(fresh, j);
		if (gk == 1 && fk == 1) {
			struct move *nv = grow_array(*out, &cap, *n + 1, sizeof(*nv));

			if (!nv) {
				free(*out);
				*out = NULL;
				*n = 0;
				return -1;
			}
			*out = nv;
			(*out)[(*n)++] = (struct move){gone->v[i], fresh->v[j]};
		}
		i += gk;
		j += fk;
	}
	if (*n)
		qsort(*out, *n, sizeof(**out), cmp_move);
	return 0;
}

/* The one new message with gone's identity in fresh, or NULL. */
static const struct move_cand *unique_match(const struct move_cands *fresh,
					    const struct move_cand *gone)
{
	const struct move_cand *hit = NULL;

	for (size_t i = 0; i < fresh->n; i++) {
		if (!fresh->v[i].id.known || cmp_cand(gone, &fresh->v[i]) != 0)
			continue;
		if (hit)
			return NULL;
		hit = &fresh->v[i];
	}
	return hit;
}

int movematch_split_moves(const struct move_cands *gone, const struct move_cands fresh[2],
			  struct split_move **out, size_t *n)
{
	size_t cap = 0;

	*out = NULL;
	*n = 0;
	for (size_t i = 0; i < gone->n; i++) {
		const struct move_cand *f = unique_match(&fresh[FAR], &gone->v[i]);
		const struct move_cand *nn = unique_match(&fresh[NEAR], &gone->v[i]);
		struct split_move *nv;

		if (!f || !nn || f->folder == nn->folder)
			continue;
		nv = grow_array(*out, &cap, *n + 1, sizeof(*nv));
		if (!nv) {
			free(*out);
			*out = NULL;
			*n = 0;
			return -1;
		}
		*out = nv;
		(*out)[(*n)++] =
		    (struct split_move){.from = gone->v[i].folder, .to = {f->folder, nn->folder}};
	}
	return 0;
}

bool movematch_refile_cut(const struct refile_batch *b, size_t n, size_t folder, bool on_far,
			  uint32_t uid)
{
	for (size_t i = 0; i < n; i++) {
		if (b[i].folder != folder)
			continue;
		if (!b[i].move || (b[i].on_far == on_far && uid >= b[i].uidnext))
			return true;
	}
	return false;
}

int movematch_refile_cands(const struct move_cands *fresh, bool on_far,
			   const struct refile_batch *b, size_t nb, struct refile_cand **out)
{
	*out = malloc((fresh->n + 1) * sizeof(**out));
	if (!*out)
		return -1;
	for (size_t i = 0; i < fresh->n; i++) {
		const struct move_cand *c = &fresh->v[i];

		(*out)[i] = (struct refile_cand){
		    .folder = c->folder,
		    .uid = c->uid,
		    .size = c->size,
		    .id = c->id,
		    .cut = movematch_refile_cut(b, nb, c->folder, on_far, c->uid)};
	}
	return 0;
}

static int cmp_refile_cand(const void *a, const void *b)
{
	const struct refile_cand *x = a, *y = b;
	int c;

	/* Unknown identities last, where the walk below stops. */
	if (x->id.known != y->id.known)
		return x->id.known ? -1 : 1;
	c = memcmp(x->id.hash, y->id.hash, sizeof(x->id.hash));
	if (c)
		return c;
	return (x->size > y->size) - (x->size < y->size);
}

static int cmp_refile(const void *a, const void *b)
{
	const struct refile *x = a, *y = b;

	if (x->on_far != y->on_far)
		return x->on_far ? -1 : 1;
	if (x->from != y->from)
		return x->from < y->from ? -1 : 1;
	if (x->to != y->to)
		return x->to < y->to ? -1 : 1;
	return (x->uid > y->uid) - (x->uid < y->uid);
}

/* How many candidates from v[i] on share its identity. */
static size_t same_identity(const struct refile_cand *v, size_t n, size_t i)
{
	size_t j = i;

	while (j < n && v[j].id.known && cmp_refile_cand(&v[i], &v[j]) == 0)
		j++;
	return j - i;
}

int movematch_refiles(struct refile_cand *far, size_t nfar, struct refile_cand *near, size_t nnear,
		      struct refile **out, size_t *n)
{
	size_t i = 0, j = 0, cap = 0;

	*out = NULL;
	*n = 0;
	if (!nfar || !nnear)
		return 0;
	qsort(far, nfar, sizeof(*far), cmp_refile_cand);
	qsort(near, nnear, sizeof(*near), cmp_refile_cand);
	while (i < nfar && j < nnear && far[i].id.known && near[j].id.known) {
		int c = cmp_refile_cand(&far[i], &near[j]);
		size_t fk, nk;
		const struct refile_cand *stayed, *refiled;

		if (c < 0) {
			i += same_identity(far, nfar, i);
			continue;
		}
		if (c > 0) {
			j += same_identity(near, nnear, j);
			continue;
		}
		fk = same_identity(far, nfar, i);
		nk = same_identity(near, nnear, j);
		stayed = far[i].cut ? &far[i] : &near[j];
		refiled = far[i].cut ? &near[j] : &far[i];
		/* Copies are counted (rule 6): with two of it anywhere, no guess. */
		if (fk == 1 && nk == 1 && far[i].folder != near[j].folder &&
		    far[i].cut != near[j].cut) {
			struct refile *nv = grow_array(*out, &cap, *n + 1, sizeof(*nv));

			if (!nv) {
				free(*out);
				*out = NULL;
				*n = 0;
				return -1;
			}
			*out = nv;
			(*out)[(*n)++] = (struct refile){.on_far = stayed == &far[i],
							 .from = stayed->folder,
							 .to = refiled->folder,
							 .uid = stayed->uid};
		}
		i += fk;
		j += nk;
	}
	if (*n)
		qsort(*out, *n, sizeof(**out), cmp_refile);
	return 0;
}
