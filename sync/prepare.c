/* Preparing a channel's folders, before anything changes: rule 4's skip of
 * unchanged folders and the stores' prefetch, then each folder selected on
 * both sides, checked against the state (rules 7, 16), listed (in full, or
 * the cheap way from the pairs and the changes) and its pairs loaded. */
#include "sync/prepare.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/log.h"
#include "sync/connect.h"

static int list_side(struct engine *e, enum side side, const char *name, struct msg_list *out,
		     struct ferry_error *err)
{
	struct store *s = e->store[side];

	if (store_list(s, out, err) != 0) {
		ferry_error_prefix(err, "%s: listing %s", name, side_str(side));
		return -1;
	}
	engine_sort_msgs(out);
	return 0;
}

/* Rule 16: a side that shows a lower UIDNEXT or modseq than the state
 * recorded of it, under the same UIDVALIDITY, is an older copy of what the
 * last sync saw (a Maildir restored from a backup with its index): its uids
 * may have been handed out again since. A value the store does not know (0)
 * tells nothing. */
static const char *side_behind(const struct state_folder *sf, const struct folder_state now[2])
{
	const struct folder_state *fs = &now[FAR], *ns = &now[NEAR];

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
static int restart_pairing(struct engine *e, struct state_folder *sf,
			   const struct folder_state now[2], bool clear, struct ferry_error *err)
{
	const struct folder_state *fs = &now[FAR], *ns = &now[NEAR];

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
			     const struct folder_state now[2], bool forget_state, bool *have_state,
			     struct ferry_error *err)
{
	const struct folder_state *fs = &now[FAR], *ns = &now[NEAR];
	bool first = sf->far_uidvalidity == 0 && sf->near_uidvalidity == 0;
	bool changed = !first && (sf->far_uidvalidity != fs->uidvalidity ||
				  sf->near_uidvalidity != ns->uidvalidity);
	const char *behind = first || changed ? NULL : side_behind(sf, now);

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
	return restart_pairing(e, sf, now, !first, err);
}

/* Rule 16: a pair whose message a listing shows under its uid with another
 * identity than the state recorded means that side's uids were handed out
 * again (a restored Maildir index whose counters have caught up since).
 * Returns the side, or NULL. */
static const char *pairs_contradicted(const struct folder_work *w)
{
	for (size_t i = 0; i < w->npairs; i++)
		for (enum side side = FAR; side <= NEAR; side++) {
			uint32_t uid = side_uid(&w->pairs[i], side);
			const struct msg_id *id = side_id(&w->pairs[i], side);
			const struct msg *m = uid ? engine_find_msg(&w->list[side], uid) : NULL;

			if (m && msg_id_known(m) && id->known &&
			    memcmp(m->ident->hash, id->hash, sizeof(id->hash)) != 0)
				return side_str(side);
		}
	return NULL;
}

/* Rule 4: whether a folder can be skipped, given what both stores' status
 * say of it now: both sides as the last sync of it recorded them, modseqs
 * known on both, and that sync finished clean under the same policy. A side
 * whose now[] is NULL is not looked at: false then means the folder will be
 * synced whatever the other side says. */
static int folder_unchanged(struct engine *e, const char *name,
			    const struct folder_state *const now[2], bool *unchanged,
			    struct ferry_error *err)
{
	const struct folder_state *fs = now[FAR], *ns = now[NEAR];
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

/* The modseqs rule 4's cheap listing will ask each side about (list_changed
 * since), for the stores' prefetch: 0 when the folder's last sync did not
 * finish clean under the same policy. */
static int prefetch_since(struct engine *e, const char *name, uint64_t since[2],
			  struct ferry_error *err)
{
	struct state_folder sf = {0};
	char policy[sizeof(sf.clean)];

	since[FAR] = since[NEAR] = 0;
	/* max_age lists changed folders in full (side_changes says why). */
	if (e->ch->max_age || e->opts->force_delete || !engine_policy(e, policy, sizeof(policy)))
		return 0;
	if (state_get_folder(e->state, name, &sf, err) != 0)
		return -1;
	if (sf.clean[0] && strcmp(sf.clean, policy) == 0) {
		since[FAR] = sf.far_modseq;
		since[NEAR] = sf.near_modseq;
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
		if (msg_id_known(c)) {
			struct msg_id id = msg_get_id(c);

			if (msg_set_id(m, &id) != 0)
				return -1;
		}
	}
	if (l->n > n0)
		engine_sort_msgs(l);
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

static int side_changes(struct engine *e, struct folder_work *w, enum side side,
			struct side_changes *c, struct ferry_error *err)
{
	struct store *s = e->store[side];
	const struct folder_state *now = &w->seen[side];
	uint32_t rec_next = side == FAR ? w->sf.far_uidnext : w->sf.near_uidnext;
	uint64_t rec_mod = side == FAR ? w->sf.far_modseq : w->sf.near_modseq;
	char policy[sizeof(w->sf.clean)];
	int r;

	*c = (struct side_changes){0};
	/* max_age needs every message's date, which the pairs do not keep:
	 * a folder that changed is listed in full. */
	if (e->ch->max_age || !w->have_state || e->opts->force_delete ||
	    !engine_policy(e, policy, sizeof(policy)) || strcmp(w->sf.clean, policy) != 0 ||
	    !rec_mod || !now->highestmodseq || !now->keywords_ok)
		return 0;
	if (now->uidnext != rec_next || now->highestmodseq != rec_mod) {
		r = store_list_changed(s, rec_mod, &c->changed, &c->van, &c->nvan, err);
		if (r != 0) {
			side_changes_free(c);
			return r == 1 ? 0 : r; /* 1: cannot tell, list in full; 2: rule 16 */
		}
	}
	c->usable = true;
	return 0;
}

/* A side's listing built from the pairs, less its vanished uids, with its
 * changes merged in; sorted. -1 when out of memory. */
static int list_from_pairs(const struct folder_work *w, enum side side,
			   const struct side_changes *c, struct msg_list *out)
{
	for (size_t i = 0; i < w->npairs; i++) {
		const struct pair *p = &w->pairs[i];
		uint32_t uid = side_uid(p, side);
		struct msg m = {.uid = uid,
				.flags = p->base_flags,
				.keywords = p->base_keywords,
				.size = p->size};

		if (uid && !in_ranges(c->van, c->nvan, uid) &&
		    (msg_list_push(out, &m) != 0 ||
		     msg_set_id(&out->v[out->n - 1], side_id(p, side)) != 0))
			return -1;
	}
	engine_sort_msgs(out);
	return merge_changed(out, &c->changed);
}

/* Rule 4's cheap listing of one side from the pairs and its changes. After a
 * clean sync under the same policy, a side holds exactly its paired messages
 * with their base flags, except what changed. The result must count what
 * SELECT counted, or the side is listed in full after all. Returns 1 then,
 * 0 with *out filled, -1 on error. */
static int list_from_changes(struct folder_work *w, enum side side, const struct side_changes *c,
			     struct msg_list *out, struct ferry_error *err)
{
	const struct folder_state *now = &w->seen[side];

	if (list_from_pairs(w, side, c, out) != 0) {
		msg_list_free(out);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "%s: out of memory", w->name);
	}
	if (out->n != now->exists) {
		log_trace("%s: %s: %zu messages from the state and changes, %u by SELECT; "
			  "listing in full",
			  w->name, side_str(side), out->n, now->exists);
		msg_list_free(out);
		return 1;
	}
	log_trace("%s: %s listed from the state and %zu change(s)", w->name, side_str(side),
		  c->nvan + c->changed.n);
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
static int touch_side(struct engine *e, struct folder_work *w, enum side side,
		      const struct side_changes *c, size_t limit, size_t *cap, size_t *fresh,
		      struct ferry_error *err)
{
	for (size_t i = 0; i < c->nvan; i++) {
		if (state_append_pairs_between(e->state, w->sf.id, side == FAR, c->van[2 * i],
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

		if (state_get_pair(e->state, w->sf.id, side == FAR ? uid : 0, side == FAR ? 0 : uid,
				   &p, &found, err) != 0)
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
	for (enum side side = FAR; r == 0 && side <= NEAR; side++)
		r = touch_side(e, w, side, &c[side], limit, &cap, &fresh[side], err);
	if (r == 0) {
		unique_pairs(w);
		for (size_t i = 0; i < w->npairs; i++)
			for (enum side side = FAR; side <= NEAR; side++) {
				uint32_t uid = side_uid(&w->pairs[i], side);

				gone[side] += uid && in_ranges(c[side].van, c[side].nvan, uid);
			}
		for (enum side side = FAR; side <= NEAR; side++)
			if (paired[side] - gone[side] + fresh[side] != w->seen[side].exists)
				r = 1;
	}
	for (enum side side = FAR; r == 0 && side <= NEAR; side++)
		if (list_from_pairs(w, side, &c[side], &w->list[side]) != 0)
			r = ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	if (r != 0) {
		state_pairs_free(w->pairs, w->npairs);
		w->pairs = NULL;
		w->npairs = 0;
		for (enum side side = FAR; side <= NEAR; side++)
			msg_list_free(&w->list[side]);
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
	const char *contradicted = pairs_contradicted(w);

	if (!contradicted)
		return 0;
	log_warn("%s: a message on the %s side is not the one the last sync paired under its "
		 "uid (restored from a backup?); matching messages again by identity, deleting "
		 "nothing this run",
		 w->name, contradicted);
	if (restart_pairing(e, &w->sf, w->seen, true, err) != 0)
		return -1;
	w->have_state = false;
	w->sparse = false;
	state_pairs_free(w->pairs, w->npairs);
	w->pairs = NULL;
	w->npairs = 0;
	for (enum side side = FAR; side <= NEAR; side++)
		msg_list_free(&w->list[side]);
	for (enum side side = FAR; side <= NEAR; side++)
		if (list_side(e, side, w->name, &w->list[side], err) != 0)
			return -1;
	return 0;
}

int prepare_folder(struct engine *e, struct folder_work *w, struct ferry_error *err)
{
	const char *name = w->name;
	struct side_changes c[2] = {0};
	int r = -1;

	for (enum side side = FAR; side <= NEAR; side++) {
		struct store *s = e->store[side];

		/* A dry run's folder yet to be created there: as a new one is. */
		if (w->absent[side]) {
			w->seen[side] = (struct folder_state){.uidnext = 1, .keywords_ok = true};
			continue;
		}
		if (store_select(s, name, &w->seen[side], err) != 0) {
			ferry_error_prefix(err, "%s: %s", name, side_str(side));
			return -1;
		}
	}
	if (state_get_folder(e->state, name, &w->sf, err) != 0 ||
	    check_uidvalidity(e, &w->sf, w->seen, w->forget, &w->have_state, err) != 0)
		return -1;
	for (enum side side = FAR; side <= NEAR; side++) {
		int k = side_changes(e, w, side, &c[side], err);

		if (k < 0) {
			ferry_error_prefix(err, "%s: listing %s", name, side_str(side));
			goto out;
		}
		if (k == 2) {
			log_warn("%s: the %s side never was where the last sync left it (restored "
				 "from a backup?); matching messages again by identity, deleting "
				 "nothing this run",
				 name, side_str(side));
			side_changes_free(&c[FAR]);
			side_changes_free(&c[NEAR]);
			if (restart_pairing(e, &w->sf, w->seen, true, err) != 0)
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
	for (enum side side = FAR; r == 1 && side <= NEAR; side++) {
		struct msg_list *l = &w->list[side];
		int k = c[side].usable ? list_from_changes(w, side, &c[side], l, err) : 1;

		if (k < 0) {
			ferry_error_prefix(err, "%s: listing %s", name, side_str(side));
			r = -1;
			goto out;
		}
		if (k == 1 && !w->absent[side] && list_side(e, side, name, l, err) != 0) {
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
	side_changes_free(&c[FAR]);
	side_changes_free(&c[NEAR]);
	return r;
}

static bool side_neutral(const struct folder_work *w, enum side side)
{
	const struct msg_list *l = &w->list[side];
	size_t paired = 0;

	for (size_t i = 0; i < w->npairs; i++) {
		uint32_t uid = side_uid(&w->pairs[i], side);

		if (!uid)
			continue;
		if (!engine_find_msg(l, uid))
			return false; /* vanished: maybe moved */
		paired++;
	}
	return paired == l->n; /* else some message is new: maybe moved here */
}

bool prepare_move_neutral(const struct folder_work *w)
{
	return w->prepared && w->have_state && side_neutral(w, FAR) && side_neutral(w, NEAR);
}

/* Asks side k's store (if it can) to ready the select and changes of the
 * folders names[0..m) (indexes at[] into v), marking them sent[]. Any
 * trouble only means the usual way. */
static void prefetch_some(struct engine *e, enum side k, const char *const *names, const size_t *at,
			  size_t m, bool *sent)
{
	struct store *s = e->store[k];
	uint64_t *since = calloc(m + 1, sizeof(*since)), both[2];
	struct ferry_error err = {0};

	if (!since || !s || !store_can_prefetch(s) || !m)
		goto out;
	for (size_t j = 0; j < m; j++) {
		if (prefetch_since(e, names[j], both, &err) != 0) {
			log_warn("%s", err.msg);
			goto out;
		}
		since[j] = both[k];
	}
	if (store_prefetch(s, names, since, m, &err) != 0) {
		log_warn("%s; selecting folders one by one", err.msg);
		if (connect_again(e->store, &e->reconnects, &err) != 0)
			log_warn("%s", err.msg);
		goto out;
	}
	for (size_t j = 0; j < m; j++)
		sent[at[j]] = true;
out:
	free(since);
}

/* Rule 4: asks both stores what each folder on both sides holds (one
 * pipelined round trip on IMAP) and marks skip[i] for those unchanged since
 * a clean sync. A store that can prefetch answers first, and is at once
 * asked to ready the folders that changed on its side (those are synced
 * whatever the other side says): the server works on them while the other
 * store (a Maildir reading the directories that moved) answers. Those go
 * in sent[side][i]. Any trouble only means fewer folders skipped. */
void prepare_find_unchanged(struct engine *e, struct channel_folder *v, size_t n, bool *skip,
			    bool *sent[2])
{
	const char **names = calloc(n + 1, sizeof(*names)), **early = calloc(n + 1, sizeof(*early));
	struct folder_state *st[2] = {calloc(n + 1, sizeof(*st[0])), calloc(n + 1, sizeof(*st[1]))};
	bool *ok[2] = {calloc(n + 1, sizeof(*ok[0])), calloc(n + 1, sizeof(*ok[1]))};
	size_t *at = calloc(n + 1, sizeof(*at)), *early_at = calloc(n + 1, sizeof(*early_at));
	size_t m = 0, nearly = 0;
	/* The side that can prefetch goes first (far when both or neither can). */
	enum side first =
	    !store_can_prefetch(e->store[FAR]) && store_can_prefetch(e->store[NEAR]) ? NEAR : FAR;
	struct store *s = e->store[first];
	struct ferry_error err = {0};

	if (!names || !early || !st[0] || !st[1] || !ok[0] || !ok[1] || !at || !early_at)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (v[i].on[FAR] && v[i].on[NEAR]) {
			at[m] = i;
			names[m++] = v[i].name;
		}
	if (store_status(s, names, m, st[first], ok[first], &err) != 0)
		goto failed;
	for (size_t k = 0; k < m && store_can_prefetch(s); k++) {
		const struct folder_state *now[2] = {NULL, NULL};
		bool same = false;

		now[first] = &st[first][k];
		if (ok[first][k] && folder_unchanged(e, names[k], now, &same, &err) != 0) {
			log_warn("%s", err.msg);
			goto out;
		}
		if (!same) {
			early_at[nearly] = at[k];
			early[nearly++] = names[k];
		}
	}
	/* A failed prefetch may have reconnected that side (or lost it): the
	 * store is looked up again, never kept across. */
	prefetch_some(e, first, early, early_at, nearly, sent[first]);
	s = e->store[side_other(first)];
	if (!e->store[FAR] || !e->store[NEAR] ||
	    store_status(s, names, m, st[side_other(first)], ok[side_other(first)], &err) != 0)
		goto failed;
	for (size_t k = 0; k < m; k++) {
		const struct folder_state *now[2] = {&st[FAR][k], &st[NEAR][k]};
		bool same = false;

		for (enum side side = FAR; side <= NEAR; side++) {
			v[at[k]].now[side] = st[side][k];
			v[at[k]].now_ok[side] = ok[side][k];
		}
		if (ok[FAR][k] && ok[NEAR][k] &&
		    folder_unchanged(e, names[k], now, &same, &err) != 0) {
			log_warn("%s", err.msg);
			break;
		}
		skip[at[k]] = same;
	}
	goto out;
failed:
	if (e->store[FAR] && e->store[NEAR]) {
		log_warn("%s; checking every folder in full", err.msg);
		if (connect_again(e->store, &e->reconnects, &err) != 0)
			log_warn("%s", err.msg);
	}
out:
	free(names);
	free(early);
	free(st[0]);
	free(st[1]);
	free(ok[0]);
	free(ok[1]);
	free(at);
	free(early_at);
}

/* Asks each store that can to ready the SELECT (and the changes since the
 * last clean sync) of every folder about to be prepared and not asked for
 * yet (sent), in one round trip instead of two per folder. */
void prepare_prefetch(struct engine *e, const struct channel_folder *v, size_t n, const bool *skip,
		      bool *sent[2])
{
	const char **names = calloc(n + 1, sizeof(*names));
	size_t *at = calloc(n + 1, sizeof(*at));

	for (enum side k = FAR; k <= NEAR && names && at; k++) {
		size_t m = 0;

		for (size_t i = 0; i < n; i++)
			if (!skip[i] && v[i].on[FAR] && v[i].on[NEAR] && !sent[k][i]) {
				at[m] = i;
				names[m++] = v[i].name;
			}
		prefetch_some(e, k, names, at, m, sent[k]);
	}
	free(names);
	free(at);
}

/* What a prefetch brought and the prepare pass did not use is dropped: a
 * later select must ask the server. */
void prepare_prefetch_drop(struct engine *e)
{
	struct ferry_error err = {0};

	for (enum side side = FAR; side <= NEAR; side++) {
		struct store *s = e->store[side];

		(void)store_prefetch(s, NULL, NULL, 0, &err);
	}
}
