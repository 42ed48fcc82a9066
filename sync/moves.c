/* The replay half of the move pass (DESIGN rule 8). sync/movematch.c finds
 * the moves from the prepared folders' listings and pairs; this file fetches
 * the headers the matcher asks for, replays each move on the other side as
 * a journaled move (UID MOVE there, rename() in a Maildir), moves its pair
 * in the state from folder A to folder B, and patches the in-memory
 * listings so that A's and B's plans see neither a deletion nor a new
 * message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/log.h"
#include "sync/crashpoint.h"
#include "sync/engine.h"
#include "sync/movematch.h"

static enum side other_side(enum side s)
{
	return s == FAR ? NEAR : FAR;
}

static const char *const side_name[2] = {[FAR] = "far", [NEAR] = "near"};

/* The folders as the matcher reads them. Replays patch the listings, so a
 * view lasts only until the next replay. Free with free(). */
static struct movematch_folder *match_view(struct folder_work *v, size_t n)
{
	struct movematch_folder *m = calloc(n + 1, sizeof(*m));

	if (!m)
		return NULL;
	for (size_t f = 0; f < n; f++)
		m[f] = (struct movematch_folder){.side = {{v[f].list[FAR].v, v[f].list[FAR].n},
							  {v[f].list[NEAR].v, v[f].list[NEAR].n}},
						 .pairs = v[f].pairs,
						 .npairs = v[f].npairs,
						 .prepared = v[f].prepared,
						 .have_state = v[f].have_state};
	return m;
}

/* The new messages of side `moved` whose size some candidate of `sizes`
 * has, into fresh: no other can match one of them. */
static int collect_fresh(const struct movematch_folder *view, size_t n, enum side moved,
			 const struct move_cands *sizes, struct move_cands *fresh)
{
	uint64_t *v = NULL;
	size_t nv = 0;
	int r = movematch_sizes(sizes, &v, &nv);

	if (r == 0)
		r = movematch_collect_fresh(view, n, moved, v, nv, fresh);
	free(v);
	return r;
}

/* Identifies the new messages of side `moved` whose size some candidate of
 * `sizes` has (the matcher's choice: the common case fetches no header),
 * in fresh and in their listings. */
static int identify_fresh(struct engine *e, struct folder_work *v, enum side moved,
			  const struct move_cands *sizes, struct move_cands *fresh,
			  struct ferry_error *err)
{
	struct store *s = e->store[moved];
	size_t *idx = NULL, nidx = 0;
	struct msg *want = NULL;
	int r = 0;

	if (movematch_to_identify(sizes, fresh, &idx, &nidx) != 0 ||
	    !(want = malloc((nidx + 1) * sizeof(*want)))) {
		r = ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		goto out;
	}
	/* idx comes in fresh's order, which is by folder: one select each. */
	for (size_t i = 0; i < nidx && r == 0;) {
		size_t f = fresh->v[idx[i]].folder, k = 0;
		struct folder_state fs;

		for (; i + k < nidx && fresh->v[idx[i + k]].folder == f; k++) {
			want[k] = *engine_find_msg(&v[f].list[moved], fresh->v[idx[i + k]].uid);
			want[k].ident = NULL; /* shallow: identify fills its own */
			want[k].munged_known = false;
		}
		r = store_select(s, v[f].name, &fs, err);
		if (r == 0)
			r = store_identify(s, want, k, err);
		for (size_t x = 0; r == 0 && x < k; x++) {
			struct msg *m = engine_find_msg(&v[f].list[moved], want[x].uid);

			msg_take_id(m, &want[x]);
			fresh->v[idx[i + x]].id = msg_get_id(m);
			fresh->v[idx[i + x]].size = m->size = want[x].size; /* the identity's */
		}
		for (size_t x = 0; x < k; x++)
			free(want[x].ident); /* those not taken (an error) */
		i += k;
	}
out:
	free(idx);
	free(want);
	return r;
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
	free(m->ident);
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

/* A batch of k messages moved on one side from folder a to folder b. */
struct batch {
	struct folder_work *a, *b;
	size_t k;
	uint32_t *uids;	    /* in a */
	uint32_t *new_uids; /* in b; 0: not known */
	struct journal_entry j;
};

static int batch_begin(struct batch *bt, struct folder_work *a, struct folder_work *b, size_t k,
		       struct ferry_error *err)
{
	*bt = (struct batch){.a = a,
			     .b = b,
			     .k = k,
			     .uids = malloc(k * sizeof(*bt->uids)),
			     .new_uids = calloc(k, sizeof(*bt->new_uids))};
	if (!bt->uids || !bt->new_uids)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	return 0;
}

/* Frees the batch and names it in an error; returns r. */
static int batch_end(struct batch *bt, int r, struct ferry_error *err)
{
	free(bt->uids);
	free(bt->new_uids);
	if (r != 0)
		ferry_error_prefix(err, "moving from %s to %s", bt->a->name, bt->b->name);
	return r;
}

/* Records the moves in the state and patches the listings and pairs so the
 * folders' plans see the pair in its new folder. new_uids[i]: where move i
 * landed on the other side (0: not known). */
static int follow(struct engine *e, struct folder_work *v, const struct move *mv,
		  const uint32_t *new_uids, size_t k, enum side moved, struct ferry_error *err)
{
	enum side other = other_side(moved);

	if (!e->opts->dry_run && state_begin(e->state, err) != 0)
		return -1;
	for (size_t i = 0; i < k; i++) {
		struct folder_work *a = &v[mv[i].gone.folder], *b = &v[mv[i].fresh.folder];
		struct pair *old = &a->pairs[mv[i].gone.pair];
		struct pair moved_pair = *old;
		struct msg *m = engine_find_msg(&a->list[other], mv[i].gone.uid);
		struct msg copy;
		int r = 0;

		moved_pair.far_uid = moved == FAR ? mv[i].fresh.uid : new_uids[i];
		moved_pair.near_uid = moved == FAR ? new_uids[i] : mv[i].fresh.uid;
		if (!e->opts->dry_run) {
			r = state_forget_pair(e->state, a->sf.id, old->far_uid, old->near_uid, err);
			if (r == 0 && new_uids[i])
				r = state_put_pair(e->state, b->sf.id, &moved_pair, err);
		}
		if (r != 0) {
			state_rollback(e->state);
			return -1;
		}
		if (new_uids[i] && m) {
			copy = *m;
			copy.uid = new_uids[i];
			if (insert_msg(&b->list[other], &copy) != 0 ||
			    add_pair(b, &moved_pair) != 0)
				goto oom;
		} else {
			/* Not known where it landed: leave it to next run's rule 7
			 * pairing rather than copy it a second time now. */
			remove_msg(&b->list[moved], mv[i].fresh.uid);
		}
		remove_msg(&a->list[other], mv[i].gone.uid);
		old = &a->pairs[mv[i].gone.pair]; /* add_pair may have moved it (a == b) */
		old->far_uid = old->near_uid = 0; /* the plan forgets it */
		b->rep.moved[other]++;
	}
	return e->opts->dry_run ? 0 : state_commit(e->state, err);
oom:
	if (!e->opts->dry_run)
		state_rollback(e->state);
	return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
}

/* Moves bt's uids from folder a to folder b on side s, journaled as a move
 * into b first (rule 13): what the move pass replays and what a refile
 * does. bt->new_uids gets where they landed (0 where not known); the
 * journal entry bt->j stays open until the caller has recorded the result. */
static int move_on_side(struct engine *e, enum side s, struct batch *bt, struct ferry_error *err)
{
	const struct folder_work *a = bt->a, *b = bt->b;
	struct store *st = e->store[s];
	struct folder_state fs;

	bt->j = (struct journal_entry){.folder_id = b->sf.id,
				       .action = J_MOVE,
				       .to_far = s == FAR,
				       .count = bt->k,
				       .uidnext = b->seen[s].uidnext};
	if (state_journal_add(e->state, &bt->j, err) != 0 ||
	    store_select(st, a->name, &fs, err) != 0)
		return -1;
	if (fs.uidvalidity != a->seen[s].uidvalidity) {
		ferry_error_set(err, FERRY_CAUSE_INCOMPLETE, "%s: renumbered during the run",
				a->name);
		return -1;
	}
	crashpoint("move", false);
	if (store_move_msgs(st, bt->uids, bt->k, b->name, bt->new_uids, err) != 0)
		return -1;
	crashpoint("move", true);
	return 0;
}

/* Replays bt, moves mv made on side `moved`, on the other side. */
static int replay_batch(struct engine *e, struct folder_work *v, const struct move *mv,
			struct batch *bt, enum side moved, struct ferry_error *err)
{
	if (e->opts->dry_run) {
		if (log_get_level() >= LOG_VERBOSE)
			log_info("%s: would move %zu message(s) on %s from %s, as on %s",
				 bt->b->name, bt->k, side_name[other_side(moved)], bt->a->name,
				 side_name[moved]);
		return follow(e, v, mv, bt->new_uids, bt->k, moved, err);
	}
	/* Rewritten under a new name in the same folder: only the pair moves. */
	if (bt->a == bt->b)
		return follow(e, v, mv, bt->uids, bt->k, moved, err);
	if (move_on_side(e, other_side(moved), bt, err) != 0 ||
	    follow(e, v, mv, bt->new_uids, bt->k, moved, err) != 0)
		return -1;
	return state_journal_done(e->state, bt->j.id, err);
}

/* Replays a group of moves made on side `moved` from folder A to folder B
 * on the other side. */
static int replay(struct engine *e, struct folder_work *v, const struct move *mv, size_t k,
		  enum side moved, struct ferry_error *err)
{
	struct batch bt;
	int r = batch_begin(&bt, &v[mv[0].gone.folder], &v[mv[0].fresh.folder], k, err);

	for (size_t i = 0; r == 0 && i < k; i++)
		bt.uids[i] = mv[i].gone.uid;
	if (r == 0)
		r = replay_batch(e, v, mv, &bt, moved, err);
	return batch_end(&bt, r, err);
}

/* Finds and replays the moves made on side `moved`. */
static int moves_of_side(struct engine *e, struct folder_work *v, size_t n, enum side moved,
			 struct ferry_error *err)
{
	struct sync_policy policy = channel_policy(e->ch, e->dir, e->opts->force_delete);
	struct move_cands gone = {0}, fresh = {0};
	struct movematch_folder *view = NULL;
	struct move *mv = NULL;
	size_t nmv = 0;
	int r = -1;

	/* Replayed only where that direction syncs and that side may delete;
	 * otherwise the plans make it a copy (rule 8). */
	if (!movematch_may_move_on(&policy, other_side(moved)))
		return 0;
	/* Vanished pairs first: without one (a first sync) no new message is
	 * gathered, and with some only those of their sizes. */
	if (!(view = match_view(v, n)) || movematch_collect_gone(view, n, moved, &gone) != 0) {
		ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		goto out;
	}
	if (gone.n == 0) {
		r = 0;
		goto out;
	}
	if (collect_fresh(view, n, moved, &gone, &fresh) != 0) {
		ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		goto out;
	}
	/* The replay below changes the listings the view points into. */
	free(view);
	view = NULL;
	if (identify_fresh(e, v, moved, &gone, &fresh, err) != 0)
		goto out;
	if (movematch_moves(&gone, &fresh, &mv, &nmv) != 0) {
		ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		goto out;
	}
	r = 0;
	for (size_t i = 0; i < nmv && r == 0;) {
		size_t j = i;

		while (j < nmv && mv[j].gone.folder == mv[i].gone.folder &&
		       mv[j].fresh.folder == mv[i].fresh.folder)
			j++;
		r = replay(e, v, mv + i, j - i, moved, err);
		i = j;
	}
out:
	free(view);
	move_cands_free(&gone);
	move_cands_free(&fresh);
	free(mv);
	return r;
}

/* Rule 8: both sides moved a message, to different folders. Nothing is
 * undone (it ends in both, each plan copies it across); the run reports a
 * conflict so the user can pick one. */
static int report_split_moves(struct engine *e, struct folder_work *v, size_t n,
			      struct ferry_error *err)
{
	struct move_cands gone = {0}, fresh[2] = {{0}};
	struct movematch_folder *view = match_view(v, n);
	struct split_move *split = NULL;
	size_t nsplit = 0;
	int r = -1;

	if (!view || movematch_collect_both_gone(view, n, &gone) != 0) {
		ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		goto out;
	}
	r = 0;
	if (!gone.n)
		goto out;
	if (collect_fresh(view, n, FAR, &gone, &fresh[FAR]) != 0 ||
	    collect_fresh(view, n, NEAR, &gone, &fresh[NEAR]) != 0) {
		r = ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		goto out;
	}
	if (identify_fresh(e, v, FAR, &gone, &fresh[FAR], err) != 0 ||
	    identify_fresh(e, v, NEAR, &gone, &fresh[NEAR], err) != 0) {
		r = -1;
		goto out;
	}
	if (movematch_split_moves(&gone, fresh, &split, &nsplit) != 0) {
		r = ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < nsplit && r == 0; i++) {
		char text[600];

		snprintf(text, sizeof(text),
			 "a message of %s was moved to %s on far and to %s on near; kept in both",
			 v[split[i].from].name, v[split[i].to[FAR]].name,
			 v[split[i].to[NEAR]].name);
		log_warn("conflict: %s", text);
		v[split[i].to[FAR]].rep.conflicts++;
		if (!e->opts->dry_run)
			r = state_add_conflict(e->state, v[split[i].from].name, text, err);
	}
out:
	free(view);
	free(split);
	move_cands_free(&gone);
	move_cands_free(&fresh[FAR]);
	move_cands_free(&fresh[NEAR]);
	return r;
}

/* The killed run's batches into prepared folders, as movematch_refile_cut
 * reads them; *nout is 0 when there are none. */
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

/* b's plan must not copy the other side's copy of m there when the refiled
 * one's new uid is not known (or in a dry run): the next run pairs them. */
static void drop_other_copy(struct folder_work *b, enum side s, const struct msg *m)
{
	struct msg_list *l = &b->list[other_side(s)];

	for (size_t x = 0; x < l->n; x++) {
		struct msg *o = &l->v[x];

		if (msg_id_known(o) && msg_id_known(m) && o->size == m->size &&
		    memcmp(o->ident->hash, m->ident->hash, sizeof(o->ident->hash)) == 0) {
			remove_msg(l, o->uid);
			return;
		}
	}
}

/* Moves bt's copies that stayed, on side s from folder a to folder b, and
 * puts them in b's listing unpaired: b's plan pairs them by identity with
 * the copies filed there (rule 7), flags merged as for any new pair. */
static int refile_copies(struct engine *e, enum side s, struct batch *bt, struct ferry_error *err)
{
	struct folder_work *a = bt->a, *b = bt->b;

	if (e->opts->dry_run) {
		if (log_get_level() >= LOG_VERBOSE)
			log_info("%s: would move %zu message(s) on %s from %s (copied by an "
				 "interrupted run, filed here since)",
				 b->name, bt->k, side_name[s], a->name);
	} else if (move_on_side(e, s, bt, err) != 0)
		return -1;
	for (size_t i = 0; i < bt->k; i++) {
		struct msg *m = engine_find_msg(&a->list[s], bt->uids[i]);
		struct msg moved;

		if (!m)
			continue;
		moved = *m;
		moved.uid = bt->new_uids[i];
		if (moved.uid && insert_msg(&b->list[s], &moved) != 0)
			return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		if (!moved.uid)
			drop_other_copy(b, s, m);
		remove_msg(&a->list[s], bt->uids[i]);
		b->rep.moved[s]++;
	}
	return e->opts->dry_run ? 0 : state_journal_done(e->state, bt->j.id, err);
}

/* A group of refiles, all on one side from one folder to another. */
static int refile_group(struct engine *e, struct folder_work *v, const struct refile *rf, size_t k,
			struct ferry_error *err)
{
	struct batch bt;
	int r = batch_begin(&bt, &v[rf[0].from], &v[rf[0].to], k, err);

	for (size_t i = 0; r == 0 && i < k; i++)
		bt.uids[i] = rf[i].uid;
	if (r == 0)
		r = refile_copies(e, rf[0].on_far ? FAR : NEAR, &bt, err);
	return batch_end(&bt, r, err);
}

/* Rules 8 and 13: copies a killed run made but did not record, then filed
 * into another folder on one side. Left to the plans, each folder would
 * copy its half across and the message would end in both folders on both
 * sides; instead the copy that stayed follows the one that was filed. Only
 * after a killed run, so an ordinary run fetches no header for this. */
static int refile_orphans(struct engine *e, struct folder_work *v, size_t n,
			  struct ferry_error *err)
{
	struct sync_policy policy = channel_policy(e->ch, e->dir, e->opts->force_delete);
	struct move_cands fresh[2] = {{0}};
	struct refile_cand *fc = NULL, *nc = NULL;
	struct refile *rf = NULL;
	struct refile_batch *cut = NULL;
	struct movematch_folder *view = NULL;
	uint64_t *sizes[2] = {NULL, NULL};
	size_t nrf = 0, ncut = 0, nsizes[2] = {0, 0};
	int r = -1;

	if (cut_batches(e, v, n, &cut, &ncut) != 0)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	if (!ncut) {
		r = 0;
		goto out;
	}
	/* Only sizes unpaired on the other side can match: gather those. */
	if (!(view = match_view(v, n)) ||
	    movematch_unpaired_sizes(view, n, FAR, &sizes[FAR], &nsizes[FAR]) != 0 ||
	    movematch_unpaired_sizes(view, n, NEAR, &sizes[NEAR], &nsizes[NEAR]) != 0 ||
	    movematch_collect_fresh(view, n, FAR, sizes[NEAR], nsizes[NEAR], &fresh[FAR]) != 0 ||
	    movematch_collect_fresh(view, n, NEAR, sizes[FAR], nsizes[FAR], &fresh[NEAR]) != 0) {
		ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		goto out;
	}
	free(view);
	view = NULL;
	if (identify_fresh(e, v, FAR, &fresh[NEAR], &fresh[FAR], err) != 0 ||
	    identify_fresh(e, v, NEAR, &fresh[FAR], &fresh[NEAR], err) != 0)
		goto out;
	if (movematch_refile_cands(&fresh[FAR], true, cut, ncut, &fc) != 0 ||
	    movematch_refile_cands(&fresh[NEAR], false, cut, ncut, &nc) != 0 ||
	    movematch_refiles(fc, fresh[FAR].n, nc, fresh[NEAR].n, &rf, &nrf) != 0) {
		ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		goto out;
	}
	r = 0;
	for (size_t i = 0; i < nrf && r == 0;) {
		size_t j = i;

		while (j < nrf && rf[j].on_far == rf[i].on_far && rf[j].from == rf[i].from &&
		       rf[j].to == rf[i].to)
			j++;
		if (movematch_may_move_on(&policy, rf[i].on_far ? FAR : NEAR))
			r = refile_group(e, v, rf + i, j - i, err);
		i = j;
	}
out:
	free(cut);
	free(view);
	free(sizes[FAR]);
	free(sizes[NEAR]);
	move_cands_free(&fresh[FAR]);
	move_cands_free(&fresh[NEAR]);
	free(fc);
	free(nc);
	free(rf);
	return r;
}

int engine_moves(struct engine *e, struct folder_work *v, size_t n, struct ferry_error *err)
{
	if (moves_of_side(e, v, n, NEAR, err) != 0 || moves_of_side(e, v, n, FAR, err) != 0 ||
	    refile_orphans(e, v, n, err) != 0)
		return -1;
	return report_split_moves(e, v, n, err);
}
