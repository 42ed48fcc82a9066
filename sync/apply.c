/* The side effects of one folder's plan (sync/apply.h): the state-only
 * actions, flag stores, new bases, copies and deletions, each batch
 * journaled and committed to the state. */
#include "sync/apply.h"

#include <stdlib.h>
#include <string.h>

#include "store/log.h"
#include "sync/copy.h"
#include "sync/crashpoint.h"

/* The identity the near store gives its placeholder near_uid (the listing
 * carries the original's, which paired it): the pair records it as its
 * near_id, which the move pass looks for (rule 8). */
static int placeholder_own_id(struct engine *e, struct pair *pr, struct ferry_error *err)
{
	struct msg m = {.uid = pr->near_uid};

	if (store_identify(e->store[NEAR], &m, 1, err) != 0)
		return -1;
	pr->near_id = msg_get_id(&m);
	pr->placeholder_size = m.size;
	free(m.ident);
	return 0;
}

/* PAIR, FORGET, KEEP and SKIP_SIZE change only the state: one transaction. */
static int apply_state_only(struct engine *e, int64_t folder_id, const struct plan *p,
			    const struct msg_list list[2], struct folder_report *rep,
			    struct ferry_error *err)
{
	if (state_begin(e->state, err) != 0)
		return -1;
	for (size_t i = 0; i < p->n; i++) {
		const struct action *a = &p->v[i];
		struct pair pr = {.far_uid = a->far_uid,
				  .near_uid = a->near_uid,
				  .base_flags = a->base_flags,
				  .base_keywords = a->base_keywords,
				  .size = a->size,
				  .placeholder = a->placeholder};
		const struct msg *fm = a->far_uid ? engine_find_msg(&list[FAR], a->far_uid) : NULL;
		const struct msg *nm =
		    a->near_uid ? engine_find_msg(&list[NEAR], a->near_uid) : NULL;
		int r = 0;

		if (fm)
			pr.far_id = msg_get_id(fm);
		if (nm)
			pr.near_id = msg_get_id(nm);
		switch (a->kind) {
		case ACT_PAIR:
			pr.status = PAIR_SYNCED;
			if (a->placeholder)
				r = placeholder_own_id(e, &pr, err);
			if (r == 0)
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

/* Flag changes go out grouped by identical change: one STORE per group.
 * Keywords the folder took no more of are recorded before the bases that
 * hold them, so that the next run does not take their absence for a
 * removal (rule 9). */
static int apply_flags(struct engine *e, int64_t folder_id, const struct plan *p, enum side on,
		       size_t *changed, struct ferry_error *err)
{
	static const enum action_kind kinds[2] = {[FAR] = ACT_FLAGS_FAR, [NEAR] = ACT_FLAGS_NEAR};
	enum action_kind kind = kinds[on];
	struct store *store = e->store[on];
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
			uids[k++] = side_action_uid(v[j], on);
			j++;
		}
		crashpoint("flags", false);
		r = store_set_flags(store, uids, k, v[i]->add, v[i]->remove, v[i]->add_keywords,
				    v[i]->remove_keywords, err);
		crashpoint("flags", true);
		if (r == 0)
			*changed += k;
		i = j;
	}
	if (r == 0 && n)
		r = state_add_dropped_keywords(e->state, folder_id, on,
					       store_keywords_dropped(store), err);
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

static int apply_deletes(struct engine *e, int64_t folder_id, const struct plan *p, enum side on,
			 size_t *deleted, struct ferry_error *err)
{
	static const enum action_kind kinds[2] = {[FAR] = ACT_DELETE_FAR, [NEAR] = ACT_DELETE_NEAR};
	enum action_kind kind = kinds[on];
	struct store *store = e->store[on];
	bool on_far = on == FAR;
	struct journal_entry j = {.folder_id = folder_id, .action = J_DELETE, .to_far = on_far};
	uint32_t *uids = malloc((p->n + 1) * sizeof(*uids));
	size_t n = 0;

	if (!uids)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].kind == kind)
			uids[n++] = side_action_uid(&p->v[i], on);
	if (!n) {
		free(uids);
		return 0;
	}
	j.count = n;
	if (state_journal_add(e->state, &j, err) != 0)
		goto fail;
	crashpoint("delete", false);
	if (store_delete_msgs(store, uids, n, err) != 0)
		goto fail;
	crashpoint("delete", true);
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

int apply_plan(struct engine *e, const char *name, int64_t folder_id, const struct plan *p,
	       const struct msg_list list[2], struct folder_report *rep, struct ferry_error *err)
{
	/* Copies far->near first, then near->far. */
	static const enum side copy_to[2] = {NEAR, FAR};

	if (apply_state_only(e, folder_id, p, list, rep, err) != 0)
		return -1;
	for (enum side on = FAR; on <= NEAR; on++)
		if (apply_flags(e, folder_id, p, on, &rep->flags[on], err) != 0)
			return -1;
	if (apply_set_base(e, folder_id, p, err) != 0)
		return -1;
	for (size_t k = 0; k < 2; k++) {
		enum side to = copy_to[k];

		if (copy_msgs(e, name, folder_id, p, to, &list[side_other(to)], &rep->added[to],
			      &rep->unrecorded, &rep->undelivered, &rep->refused, err) != 0)
			return -1;
	}
	for (enum side on = FAR; on <= NEAR; on++)
		if (apply_deletes(e, folder_id, p, on, &rep->deleted[on], err) != 0)
			return -1;
	return 0;
}
