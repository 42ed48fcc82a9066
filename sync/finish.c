/* Finishing one prepared folder: selected again, its unpaired messages
 * identified, planned (sync/plan.c), the plan applied (sync/apply.c) or, on
 * --dry-run, printed; then the folder's state recorded, clean when nothing
 * was left for the next run. */
#include "sync/finish.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "store/flags.h"
#include "store/log.h"
#include "sync/apply.h"
#include "sync/identify.h"
#include "sync/plan.h"

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

static void fill_input(struct engine *e, struct plan_input *in, const struct folder_work *w)
{
	const struct msg_list *far = &w->list[FAR], *near = &w->list[NEAR];
	const struct folder_state *fs = &w->seen[FAR], *ns = &w->seen[NEAR];

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
	    .policy = channel_policy(e->ch, e->dir, e->opts->force_delete),
	    .far_size = w->sparse ? fs->exists : 0,
	    .near_size = w->sparse ? ns->exists : 0,
	};
}

/* The move pass may have selected other folders since: select this one
 * again, and stop if it was renumbered in between. */
static int reselect(struct engine *e, struct folder_work *w, struct ferry_error *err)
{
	struct folder_state now[2];

	for (enum side side = FAR; side <= NEAR; side++) {
		struct store *s = e->store[side];

		if (store_select(s, w->name, &now[side], err) != 0) {
			ferry_error_prefix(err, "%s", w->name);
			return -1;
		}
	}
	for (enum side side = FAR; side <= NEAR; side++)
		if (now[side].uidvalidity != w->seen[side].uidvalidity)
			return ferry_error_set(
			    err, FERRY_CAUSE_INCOMPLETE,
			    "%s: UIDVALIDITY changed during the run; next run re-pairs", w->name);
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

/* What max_delete held back stays for `ferry status` until a run plans
 * this folder again (then it is replaced, or cleared). */
static int record_held(struct engine *e, const char *name, const struct plan *plan,
		       struct ferry_error *err)
{
	if (state_set_held(e->state, name, FAR, HELD_DELETIONS, plan->blocked_far, err) != 0 ||
	    state_set_held(e->state, name, NEAR, HELD_DELETIONS, plan->blocked_near, err) != 0)
		return -1;
	return 0;
}

/* What a side is recorded at: what its select said, or what it holds now
 * where the store can tell that every change since was this run's. */
static void recorded_state(struct store *s, const char *name, const struct folder_state *seen,
			   uint32_t *uidnext, uint64_t *modseq)
{
	struct folder_state now = *seen;

	store_own_state(s, name, seen, &now);
	*uidnext = now.uidnext;
	*modseq = now.highestmodseq;
}

int finish_folder(struct engine *e, struct folder_work *w, struct ferry_error *err)
{
	struct folder_report *rep = &w->rep;
	const char *name = w->name;
	struct plan plan = {0};
	struct plan_input in;
	char *dropped[2] = {NULL, NULL};
	int r = -1;

	if (!e->opts->dry_run && !w->still_selected && reselect(e, w, err) != 0)
		return -1;
	w->still_selected = false;
	fill_input(e, &in, w);
	if (state_dropped_keywords(e->state, w->sf.id, FAR, &dropped[FAR], err) != 0 ||
	    state_dropped_keywords(e->state, w->sf.id, NEAR, &dropped[NEAR], err) != 0)
		goto out;
	in.far_kw_dropped = dropped[FAR];
	in.near_kw_dropped = dropped[NEAR];
	if (identify_unpaired(e, &in, w->list, err) != 0) {
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
	if (record_conflicts(e, name, &plan, err) != 0 || record_held(e, name, &plan, err) != 0)
		goto out;
	if (apply_plan(e, name, w->sf.id, &plan, w->list, rep, err) != 0) {
		ferry_error_prefix(err, "%s", name);
		goto out;
	}
	recorded_state(e->store[FAR], name, &w->seen[FAR], &w->sf.far_uidnext, &w->sf.far_modseq);
	recorded_state(e->store[NEAR], name, &w->seen[NEAR], &w->sf.near_uidnext,
		       &w->sf.near_modseq);
	w->sf.last_sync = (int64_t)time(NULL);
	w->sf.clean[0] = '\0';
	if (plan.blocked_far + plan.blocked_near == 0 && rep->unrecorded == 0 &&
	    rep->undelivered == 0 && rep->refused == 0 && !engine_interrupted)
		engine_policy(e, w->sf.clean, sizeof(w->sf.clean));
	r = state_put_folder(e->state, &w->sf, err);
	if (r == 0 && rep->undelivered)
		r = ferry_error_set(err, FERRY_CAUSE_INCOMPLETE,
				    "%s: %zu message(s) did not arrive and were not copied (named "
				    "above); the next run tries again",
				    name, rep->undelivered);
	if (r == 0 && rep->refused)
		r = ferry_error_set(
		    err, FERRY_CAUSE_INCOMPLETE,
		    "%s: %zu message(s) refused by the server and not copied (named "
		    "above); the next run tries again",
		    name, rep->refused);
out:
	plan_free(&plan);
	free(dropped[FAR]);
	free(dropped[NEAR]);
	return r;
}
