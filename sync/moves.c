/* The move pass (DESIGN rule 8). After every folder of a channel has been
 * listed, a message that vanished from folder A and appeared in folder B on
 * one side, with the same identity (header hash + size) and exactly one
 * candidate each way, is one move: it is replayed on the other side as a
 * move (UID MOVE there, rename() in a Maildir), its pair follows it from A to
 * B, and the in-memory listings are patched so that A's and B's plans see
 * neither a deletion nor a new message. Everything else is left to the
 * per-folder plans: no candidate or several means no move. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/log.h"
#include "sync/engine.h"
#include "sync/plan.h"

/* One side of a message in one folder. For a vanished message, uid is its
 * pair's uid on the other side (the message to move there); for a new one,
 * the uid on this side. */
struct cand {
	struct msg_id id;
	uint64_t size;
	size_t folder;
	uint32_t uid;
	size_t pair; /* vanished only: index into v[folder].pairs */
};

struct cands {
	struct cand *v;
	size_t n, cap;
};

static int push(struct cands *c, const struct cand *x)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct cand *nv = realloc(c->v, cap * sizeof(*nv));

		if (!nv)
			return -1;
		c->v = nv;
		c->cap = cap;
	}
	c->v[c->n++] = *x;
	return 0;
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

/* side_far: the side the messages moved on is far (replayed on near). */
static uint32_t uid_on(const struct pair *p, bool far)
{
	return far ? p->far_uid : p->near_uid;
}

static struct msg_list *listing(struct folder_work *w, bool far)
{
	return far ? &w->far : &w->near;
}

/* Vanished and new messages of one side in every prepared folder. */
static int collect(struct folder_work *v, size_t n, bool moved_far, struct cands *gone,
		   struct cands *fresh)
{
	for (size_t f = 0; f < n; f++) {
		struct folder_work *w = &v[f];
		uint32_t *paired;
		size_t np = 0;

		if (!w->prepared)
			continue;
		paired = malloc((w->npairs + 1) * sizeof(*paired));
		if (!paired)
			return -1;
		for (size_t i = 0; i < w->npairs; i++) {
			const struct pair *p = &w->pairs[i];
			uint32_t mine = uid_on(p, moved_far), other = uid_on(p, !moved_far);
			struct cand c = {.size = p->size, .folder = f, .uid = other, .pair = i};

			if (mine)
				paired[np++] = mine;
			/* Only a folder with usable state says what vanished (rule 7). */
			if (!w->have_state || p->status != PAIR_SYNCED || !mine || !other)
				continue;
			if (engine_find_msg(listing(w, moved_far), mine) ||
			    !engine_find_msg(listing(w, !moved_far), other))
				continue;
			/* The identity on the side it moved on: a server's copy may
			 * differ from the local file (rule 6). */
			c.id = moved_far ? p->far_id : p->near_id;
			if (!c.id.known)
				c.id = moved_far ? p->near_id : p->far_id;
			if (c.id.known && push(gone, &c) != 0) {
				free(paired);
				return -1;
			}
		}
		qsort(paired, np, sizeof(*paired), cmp_u32);
		for (size_t i = 0; i < listing(w, moved_far)->n; i++) {
			const struct msg *m = &listing(w, moved_far)->v[i];
			struct cand c = {.id = m->id, .size = m->size, .folder = f, .uid = m->uid};

			if (np && bsearch(&m->uid, paired, np, sizeof(*paired), cmp_u32))
				continue;
			if (push(fresh, &c) != 0) {
				free(paired);
				return -1;
			}
		}
		free(paired);
	}
	return 0;
}

/* Identifies new messages whose size some vanished message has: only those
 * can be moves, so the common case costs no header fetch at all. */
static int identify_fresh(struct engine *e, struct folder_work *v, bool moved_far,
			  const struct cands *gone, struct cands *fresh, struct ferry_error *err)
{
	struct store *s = moved_far ? e->far : e->near;
	uint64_t *sizes = malloc((gone->n + 1) * sizeof(*sizes));
	struct msg *want = malloc((fresh->n + 1) * sizeof(*want));
	size_t *idx = malloc((fresh->n + 1) * sizeof(*idx));
	int r = 0;

	if (!sizes || !want || !idx) {
		r = ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < gone->n; i++)
		sizes[i] = gone->v[i].size;
	qsort(sizes, gone->n, sizeof(*sizes), cmp_u64);
	for (size_t i = 0; i < fresh->n && r == 0;) {
		size_t f = fresh->v[i].folder, k = 0, j;
		struct folder_state fs;

		for (j = i; j < fresh->n && fresh->v[j].folder == f; j++) {
			const struct cand *c = &fresh->v[j];

			if (!c->id.known && gone->n &&
			    bsearch(&c->size, sizes, gone->n, sizeof(*sizes), cmp_u64)) {
				want[k] = *engine_find_msg(listing(&v[f], moved_far), c->uid);
				idx[k++] = j;
			}
		}
		if (k) {
			r = s->driver->select(s, v[f].name, &fs, err);
			if (r == 0)
				r = s->driver->identify(s, want, k, err);
			for (size_t x = 0; r == 0 && x < k; x++) {
				fresh->v[idx[x]].id = want[x].id;
				engine_find_msg(listing(&v[f], moved_far), want[x].uid)->id =
				    want[x].id;
			}
		}
		i = j;
	}
out:
	free(sizes);
	free(want);
	free(idx);
	return r;
}

static int cmp_cand(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	int c = memcmp(x->id.hash, y->id.hash, sizeof(x->id.hash));

	if (c)
		return c;
	return (x->size > y->size) - (x->size < y->size);
}

/* A move found: vanished g (in folder g.folder) and new f (in f.folder). */
struct move {
	struct cand gone, fresh;
	uint32_t new_uid; /* on the other side, in the target folder; 0 unknown */
};

/* Keys with exactly one vanished and exactly one new message. */
static int match(struct cands *gone, struct cands *fresh, struct move **out, size_t *n)
{
	size_t i = 0, j = 0, cap = 0;

	*out = NULL;
	*n = 0;
	if (!gone->n || !fresh->n) /* also keeps NULL away from qsort */
		return 0;
	qsort(gone->v, gone->n, sizeof(*gone->v), cmp_cand);
	qsort(fresh->v, fresh->n, sizeof(*fresh->v), cmp_cand);
	while (i < gone->n && j < fresh->n) {
		int c = fresh->v[j].id.known ? cmp_cand(&gone->v[i], &fresh->v[j]) : 1;
		size_t gi, fj;

		if (!fresh->v[j].id.known) {
			j++;
			continue;
		}
		if (c < 0) {
			i++;
			continue;
		}
		if (c > 0) {
			j++;
			continue;
		}
		for (gi = i; gi < gone->n && cmp_cand(&gone->v[i], &gone->v[gi]) == 0; gi++)
			;
		for (fj = j; fj < fresh->n && cmp_cand(&fresh->v[j], &fresh->v[fj]) == 0; fj++)
			;
		if (gi - i == 1 && fj - j == 1) {
			if (*n == cap) {
				struct move *nv =
				    realloc(*out, (cap = cap ? cap * 2 : 32) * sizeof(*nv));

				if (!nv)
					return -1;
				*out = nv;
			}
			(*out)[(*n)++] = (struct move){gone->v[i], fresh->v[j], 0};
		}
		i = gi;
		j = fj;
	}
	return 0;
}

static int insert_msg(struct msg_list *l, const struct msg *m)
{
	size_t pos = l->n;

	if (msg_list_push(l, m) != 0)
		return -1;
	while (pos > 0 && l->v[pos - 1].uid > m->uid)
		pos--;
	if (pos < l->n - 1) {
		struct msg tmp = l->v[l->n - 1];

		memmove(&l->v[pos + 1], &l->v[pos], (l->n - 1 - pos) * sizeof(*l->v));
		l->v[pos] = tmp;
	}
	return 0;
}

static void remove_msg(struct msg_list *l, uint32_t uid)
{
	struct msg *m = engine_find_msg(l, uid);

	if (!m)
		return;
	free(m->keywords);
	memmove(m, m + 1, (size_t)(l->v + l->n - (m + 1)) * sizeof(*m));
	l->n--;
}

static int add_pair(struct folder_work *w, const struct pair *p)
{
	struct pair *nv = realloc(w->pairs, (w->npairs + 1) * sizeof(*nv));

	if (!nv)
		return -1;
	w->pairs = nv;
	w->pairs[w->npairs] = *p;
	if (p->base_keywords && !(w->pairs[w->npairs].base_keywords = strdup(p->base_keywords)))
		return -1;
	w->npairs++;
	return 0;
}

/* Records the moves in the state and patches the listings and pairs so the
 * folders' plans see the pair in its new folder. */
static int follow(struct engine *e, struct folder_work *v, const struct move *mv, size_t k,
		  bool moved_far, struct ferry_error *err)
{
	if (!e->opts->dry_run && state_begin(e->state, err) != 0)
		return -1;
	for (size_t i = 0; i < k; i++) {
		struct folder_work *a = &v[mv[i].gone.folder], *b = &v[mv[i].fresh.folder];
		struct pair *old = &a->pairs[mv[i].gone.pair];
		struct pair moved = *old;
		struct msg *m = engine_find_msg(listing(a, !moved_far), mv[i].gone.uid);
		struct msg copy;
		int r = 0;

		if (moved_far) {
			moved.far_uid = mv[i].fresh.uid;
			moved.near_uid = mv[i].new_uid;
		} else {
			moved.near_uid = mv[i].fresh.uid;
			moved.far_uid = mv[i].new_uid;
		}
		if (!e->opts->dry_run) {
			r = state_forget_pair(e->state, a->sf.id, old->far_uid, old->near_uid, err);
			if (r == 0 && mv[i].new_uid)
				r = state_put_pair(e->state, b->sf.id, &moved, err);
		}
		if (r != 0) {
			state_rollback(e->state);
			return -1;
		}
		if (mv[i].new_uid && m) {
			copy = *m;
			copy.uid = mv[i].new_uid;
			if (insert_msg(listing(b, !moved_far), &copy) != 0 ||
			    add_pair(b, &moved) != 0)
				goto oom;
		} else {
			/* Not known where it landed: leave it to next run's rule 7
			 * pairing rather than copy it a second time now. */
			remove_msg(listing(b, moved_far), mv[i].fresh.uid);
		}
		remove_msg(listing(a, !moved_far), mv[i].gone.uid);
		old = &a->pairs[mv[i].gone.pair]; /* add_pair may have moved it (a == b) */
		old->far_uid = old->near_uid = 0; /* the plan forgets it */
		if (moved_far)
			b->rep.to_near_moved++;
		else
			b->rep.to_far_moved++;
	}
	return e->opts->dry_run ? 0 : state_commit(e->state, err);
oom:
	if (!e->opts->dry_run)
		state_rollback(e->state);
	return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
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

/* Moves uids from folder a to folder b on one side (on_far), journaled as a
 * move into b first (rule 13): what the move pass replays and what a refile
 * does. new_uids gets where they landed (0 where not known); the journal
 * entry in *j stays open until the caller has recorded the result. */
static int move_on_side(struct engine *e, bool on_far, const struct folder_work *a,
			const struct folder_work *b, const uint32_t *uids, size_t k,
			uint32_t *new_uids, struct journal_entry *j, struct ferry_error *err)
{
	struct store *s = on_far ? e->far : e->near;
	struct folder_state fs;

	*j = (struct journal_entry){.folder_id = b->sf.id,
				    .action = J_MOVE,
				    .to_far = on_far,
				    .count = k,
				    .uidnext = on_far ? b->fs.uidnext : b->ns.uidnext};
	if (state_journal_add(e->state, j, err) != 0 ||
	    s->driver->select(s, a->name, &fs, err) != 0)
		return -1;
	if (fs.uidvalidity != (on_far ? a->fs.uidvalidity : a->ns.uidvalidity)) {
		ferry_error_set(err, FERRY_CAUSE_INCOMPLETE, "%s: renumbered during the run",
				a->name);
		return -1;
	}
	engine_crash_point("move", false);
	if (s->driver->move_msgs(s, uids, k, b->name, new_uids, err) != 0)
		return -1;
	engine_crash_point("move", true);
	return 0;
}

/* Replays a group of moves from folder A to folder B on the other side. */
static int replay(struct engine *e, struct folder_work *v, struct move *mv, size_t k,
		  bool moved_far, struct ferry_error *err)
{
	struct folder_work *a = &v[mv[0].gone.folder], *b = &v[mv[0].fresh.folder];
	struct journal_entry j = {0};
	uint32_t *uids = malloc(k * sizeof(*uids)), *new_uids = calloc(k, sizeof(*new_uids));
	int r = -1;

	if (!uids || !new_uids) {
		ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < k; i++)
		uids[i] = mv[i].gone.uid;
	if (e->opts->dry_run) {
		printf("%s: move %zu message(s) on %s from %s\n", b->name, k,
		       moved_far ? "near" : "far", a->name);
		r = follow(e, v, mv, k, moved_far, err);
		goto out;
	}
	if (a == b) {
		/* Rewritten under a new name in the same folder: only the pair moves. */
		for (size_t i = 0; i < k; i++)
			mv[i].new_uid = mv[i].gone.uid;
		r = follow(e, v, mv, k, moved_far, err);
		goto out;
	}
	if (move_on_side(e, !moved_far, a, b, uids, k, new_uids, &j, err) != 0)
		goto out;
	for (size_t i = 0; i < k; i++)
		mv[i].new_uid = new_uids[i];
	if (follow(e, v, mv, k, moved_far, err) != 0)
		goto out;
	r = state_journal_done(e->state, j.id, err);
out:
	free(uids);
	free(new_uids);
	if (r != 0)
		ferry_error_prefix(err, "moving from %s to %s", a->name, b->name);
	return r;
}

/* Finds and replays the moves made on one side. */
static int moves_of_side(struct engine *e, struct folder_work *v, size_t n, bool moved_far,
			 struct ferry_error *err)
{
	enum side_set del = moved_far ? SIDE_NEAR : SIDE_FAR;
	enum sync_dir dir = moved_far ? SYNC_PULL : SYNC_PUSH;
	struct cands gone = {0}, fresh = {0};
	struct move *mv = NULL;
	size_t nmv = 0;
	int r = -1;

	/* Replayed only where that direction syncs and that side may delete;
	 * otherwise the plans make it a copy (rule 8). */
	if ((e->dir != SYNC_BOTH && e->dir != dir) || !(e->ch->delete &del))
		return 0;
	if (collect(v, n, moved_far, &gone, &fresh) != 0) {
		ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		goto out;
	}
	if (gone.n == 0) {
		r = 0;
		goto out;
	}
	if (identify_fresh(e, v, moved_far, &gone, &fresh, err) != 0)
		goto out;
	if (match(&gone, &fresh, &mv, &nmv) != 0) {
		ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		goto out;
	}
	if (nmv)
		qsort(mv, nmv, sizeof(*mv), cmp_move);
	r = 0;
	for (size_t i = 0; i < nmv && r == 0;) {
		size_t j = i;

		while (j < nmv && mv[j].gone.folder == mv[i].gone.folder &&
		       mv[j].fresh.folder == mv[i].fresh.folder)
			j++;
		r = replay(e, v, mv + i, j - i, moved_far, err);
		i = j;
	}
out:
	free(gone.v);
	free(fresh.v);
	free(mv);
	return r;
}

/* Pairs whose message left folder A on both sides. */
static int collect_both_gone(struct folder_work *v, size_t n, struct cands *gone)
{
	for (size_t f = 0; f < n; f++) {
		struct folder_work *w = &v[f];

		if (!w->prepared || !w->have_state)
			continue;
		for (size_t i = 0; i < w->npairs; i++) {
			const struct pair *p = &w->pairs[i];
			struct cand c = {.size = p->size, .folder = f, .pair = i};

			if (p->status != PAIR_SYNCED || !p->far_uid || !p->near_uid ||
			    engine_find_msg(&w->far, p->far_uid) ||
			    engine_find_msg(&w->near, p->near_uid))
				continue;
			c.id = p->near_id.known ? p->near_id : p->far_id;
			if (c.id.known && push(gone, &c) != 0)
				return -1;
		}
	}
	return 0;
}

/* The one new message with gone's identity in fresh, or NULL. */
static const struct cand *unique_match(const struct cands *fresh, const struct cand *gone)
{
	const struct cand *hit = NULL;

	for (size_t i = 0; i < fresh->n; i++) {
		if (!fresh->v[i].id.known || cmp_cand(gone, &fresh->v[i]) != 0)
			continue;
		if (hit)
			return NULL;
		hit = &fresh->v[i];
	}
	return hit;
}

/* Rule 8: both sides moved a message, to different folders. Nothing is
 * undone (it ends in both, each plan copies it across); the run reports a
 * conflict so the user can pick one. */
static int report_split_moves(struct engine *e, struct folder_work *v, size_t n,
			      struct ferry_error *err)
{
	struct cands gone = {0}, far_new = {0}, near_new = {0}, unused = {0};
	int r = -1;

	if (collect_both_gone(v, n, &gone) != 0 || collect(v, n, true, &unused, &far_new) != 0 ||
	    collect(v, n, false, &unused, &near_new) != 0) {
		ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		goto out;
	}
	r = 0;
	if (!gone.n)
		goto out;
	if (identify_fresh(e, v, true, &gone, &far_new, err) != 0 ||
	    identify_fresh(e, v, false, &gone, &near_new, err) != 0) {
		r = -1;
		goto out;
	}
	for (size_t i = 0; i < gone.n && r == 0; i++) {
		const struct cand *f = unique_match(&far_new, &gone.v[i]);
		const struct cand *nn = unique_match(&near_new, &gone.v[i]);
		char text[600];

		if (!f || !nn || f->folder == nn->folder)
			continue;
		snprintf(text, sizeof(text),
			 "a message of %s was moved to %s on far and to %s on near; kept in both",
			 v[gone.v[i].folder].name, v[f->folder].name, v[nn->folder].name);
		log_warn("conflict: %s", text);
		v[f->folder].rep.conflicts++;
		if (!e->opts->dry_run)
			r = state_add_conflict(e->state, v[gone.v[i].folder].name, text, err);
	}
out:
	free(gone.v);
	free(far_new.v);
	free(near_new.v);
	free(unused.v);
	return r;
}

/* The killed run's batches into prepared folders, as plan_refile_cut reads
 * them; *n is 0 when there are none. */
static int cut_batches(const struct engine *e, const struct folder_work *v, size_t n,
		       struct refile_batch **out, size_t *nout)
{
	*nout = 0;
	*out = malloc((e->ncut + 1) * sizeof(**out));
	if (!*out)
		return -1;
	for (size_t i = 0; i < e->ncut; i++) {
		const struct journal_entry *j = &e->cut[i];

		if (j->action != J_DOWNLOAD && j->action != J_UPLOAD && j->action != J_MOVE)
			continue;
		for (size_t f = 0; f < n; f++)
			if (v[f].prepared && v[f].sf.id == j->folder_id)
				(*out)[(*nout)++] =
				    (struct refile_batch){.folder = f,
							  .move = j->action == J_MOVE,
							  .on_far = j->to_far,
							  .uidnext = j->uidnext};
	}
	return 0;
}

/* Whether the copy that stayed on that side may follow the other: that
 * direction syncs and that side may delete, as for a move (rule 8). */
static bool may_refile_on(const struct engine *e, bool on_far)
{
	enum sync_dir dir = on_far ? SYNC_PUSH : SYNC_PULL;
	enum side_set del = on_far ? SIDE_FAR : SIDE_NEAR;

	return (e->dir == SYNC_BOTH || e->dir == dir) && (e->ch->delete &del);
}

static int to_refile_cands(const struct cands *c, bool on_far, const struct refile_batch *b,
			   size_t nb, struct refile_cand **out)
{
	*out = malloc((c->n + 1) * sizeof(**out));
	if (!*out)
		return -1;
	for (size_t i = 0; i < c->n; i++)
		(*out)[i] = (struct refile_cand){
		    .folder = c->v[i].folder,
		    .uid = c->v[i].uid,
		    .size = c->v[i].size,
		    .id = c->v[i].id,
		    .cut = plan_refile_cut(b, nb, c->v[i].folder, on_far, c->v[i].uid)};
	return 0;
}

/* Moves k copies that stayed, all on one side from folder a to folder b,
 * and puts them in b's listing unpaired: b's plan pairs them by identity
 * with the copies filed there (rule 7), flags merged as for any new pair. */
static int refile_group(struct engine *e, struct folder_work *v, const struct refile *rf, size_t k,
			struct ferry_error *err)
{
	bool on_far = rf[0].on_far;
	struct folder_work *a = &v[rf[0].from], *b = &v[rf[0].to];
	struct journal_entry j = {0};
	uint32_t *uids = malloc(k * sizeof(*uids)), *new_uids = calloc(k, sizeof(*new_uids));
	int r = -1;

	if (!uids || !new_uids) {
		ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < k; i++)
		uids[i] = rf[i].uid;
	if (e->opts->dry_run) {
		printf("%s: move %zu message(s) on %s from %s (copied by an interrupted run, "
		       "filed here since)\n",
		       b->name, k, on_far ? "far" : "near", a->name);
	} else if (move_on_side(e, on_far, a, b, uids, k, new_uids, &j, err) != 0) {
		goto out;
	}
	for (size_t i = 0; i < k; i++) {
		struct msg *m = engine_find_msg(listing(a, on_far), uids[i]);
		struct msg moved;

		if (!m)
			continue;
		moved = *m;
		moved.uid = new_uids[i];
		if (new_uids[i] && insert_msg(listing(b, on_far), &moved) != 0) {
			ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
			goto out;
		}
		if (!new_uids[i]) {
			/* Not known where it landed (or a dry run): b's plan must not
			 * copy the other one there; the next run pairs them. */
			for (size_t x = 0; x < listing(b, !on_far)->n; x++) {
				struct msg *o = &listing(b, !on_far)->v[x];

				if (o->id.known && o->size == m->size &&
				    memcmp(o->id.hash, m->id.hash, sizeof(o->id.hash)) == 0) {
					remove_msg(listing(b, !on_far), o->uid);
					break;
				}
			}
		}
		remove_msg(listing(a, on_far), uids[i]);
		if (on_far)
			b->rep.to_far_moved++;
		else
			b->rep.to_near_moved++;
	}
	r = e->opts->dry_run ? 0 : state_journal_done(e->state, j.id, err);
out:
	free(uids);
	free(new_uids);
	if (r != 0)
		ferry_error_prefix(err, "moving from %s to %s", a->name, b->name);
	return r;
}

/* Rules 8 and 13: copies a killed run made but did not record, then filed
 * into another folder on one side. Left to the plans, each folder would
 * copy its half across and the message would end in both folders on both
 * sides; instead the copy that stayed follows the one that was filed. Only
 * after a killed run, so an ordinary run fetches no header for this. */
static int refile_orphans(struct engine *e, struct folder_work *v, size_t n,
			  struct ferry_error *err)
{
	struct cands unused = {0}, far_new = {0}, near_new = {0};
	struct refile_cand *fc = NULL, *nc = NULL;
	struct refile *rf = NULL;
	struct refile_batch *cut = NULL;
	size_t nrf = 0, ncut = 0;
	int r = -1;

	if (cut_batches(e, v, n, &cut, &ncut) != 0)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	if (!ncut) {
		r = 0;
		goto out;
	}
	if (collect(v, n, true, &unused, &far_new) != 0 ||
	    collect(v, n, false, &unused, &near_new) != 0) {
		ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		goto out;
	}
	/* Only sizes unpaired on the other side can match: identify those. */
	if (identify_fresh(e, v, true, &near_new, &far_new, err) != 0 ||
	    identify_fresh(e, v, false, &far_new, &near_new, err) != 0)
		goto out;
	if (to_refile_cands(&far_new, true, cut, ncut, &fc) != 0 ||
	    to_refile_cands(&near_new, false, cut, ncut, &nc) != 0 ||
	    plan_refiles(fc, far_new.n, nc, near_new.n, &rf, &nrf) != 0) {
		ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		goto out;
	}
	r = 0;
	for (size_t i = 0; i < nrf && r == 0;) {
		size_t j = i;

		while (j < nrf && rf[j].on_far == rf[i].on_far && rf[j].from == rf[i].from &&
		       rf[j].to == rf[i].to)
			j++;
		if (may_refile_on(e, rf[i].on_far))
			r = refile_group(e, v, rf + i, j - i, err);
		i = j;
	}
out:
	free(cut);
	free(unused.v);
	free(far_new.v);
	free(near_new.v);
	free(fc);
	free(nc);
	free(rf);
	return r;
}

int engine_moves(struct engine *e, struct folder_work *v, size_t n, struct ferry_error *err)
{
	if (moves_of_side(e, v, n, false, err) != 0 || moves_of_side(e, v, n, true, err) != 0 ||
	    refile_orphans(e, v, n, err) != 0)
		return -1;
	return report_split_moves(e, v, n, err);
}
