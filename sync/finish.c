/* Finishing one prepared folder: selected again, its unpaired messages
 * identified, planned (sync/plan.c), the plan applied (sync/apply.c) or, on
 * --dry-run, printed; then the folder's state recorded, clean when nothing
 * was left for the next run. */
#include "sync/finish.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "store/base/grow.h"
#include "store/flags.h"
#include "store/log.h"
#include "sync/apply.h"
#include "sync/crashpoint.h"
#include "sync/fetch.h"
#include "sync/identify.h"
#include "sync/keep.h"
#include "sync/plan.h"
#include "sync/subject.h"

/* A size as people read it: "512 B", "2.1 KB", "3.4 MB". */
static void size_text(uint64_t bytes, char *buf, size_t len)
{
	if (bytes < 1024)
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
	else if (bytes < 1024 * 1024)
		snprintf(buf, len, "%.1f KB", (double)bytes / 1024);
	else
		snprintf(buf, len, "%.1f MB", (double)bytes / (1024 * 1024));
}

/* The IMAP names of flags and the keywords, space-separated. */
static void flag_names(unsigned flags, const char *keywords, struct strbuf *out)
{
	for (size_t i = 0; i < flag_table_len; i++)
		if (flags & flag_table[i].bit)
			strbuf_addf(out, "%s%s", out->len ? " " : "", flag_table[i].imap);
	if (keywords && *keywords)
		strbuf_addf(out, "%s%s", out->len ? " " : "", keywords);
}

/* "far uid 3", "near uid 5", or both: a plan's uid 0 means "none there". */
static void uids_text(const struct action *a, char *buf, size_t len)
{
	if (a->far_uid && a->near_uid)
		snprintf(buf, len, "far uid %u and near uid %u", a->far_uid, a->near_uid);
	else
		snprintf(buf, len, "%s uid %u", a->far_uid ? "far" : "near",
			 a->far_uid ? a->far_uid : a->near_uid);
}

/* "add \Seen to", "remove \Flagged from", or both, before the uid. */
static void say_flags(const char *name, const struct action *a, enum side on)
{
	struct strbuf add = {0}, rm = {0}, what = {0};

	flag_names(a->add, a->add_keywords, &add);
	flag_names(a->remove, a->remove_keywords, &rm);
	if (add.len)
		strbuf_addf(&what, "add %s to", add.s);
	if (rm.len)
		strbuf_addf(&what, "%sremove %s from", what.len ? " and " : "", rm.s);
	if (!add.oom && !rm.oom && !what.oom && what.len)
		log_info("%s: would %s %s uid %u", name, what.s, side_str(on),
			 side_action_uid(a, on));
	strbuf_free(&add);
	strbuf_free(&rm);
	strbuf_free(&what);
}

/* --dry-run -v: one action in plain words. State-only bookkeeping that
 * changes no message (new bases, the pairs the move pass took along) is
 * left out. */
static void say_action(const char *name, const struct action *a, const struct subjects subj[2])
{
	char size[32], uids[64];
	enum side from = a->kind == ACT_COPY_TO_NEAR ? FAR : NEAR;
	const char *subject = subjects_find(&subj[from], side_action_uid(a, from));

	size_text(a->size, size, sizeof(size));
	uids_text(a, uids, sizeof(uids));
	switch (a->kind) {
	case ACT_COPY_TO_NEAR:
	case ACT_COPY_TO_FAR:
		log_info("%s: would copy %s uid %u (%s%s%s%s) to %s%s%s", name, side_str(from),
			 side_action_uid(a, from), subject ? "Subject \"" : "",
			 subject ? subject : "", subject ? "\", " : "", size,
			 side_str(side_other(from)),
			 a->placeholder ? " as a placeholder (its header and a note)" : "",
			 a->conflict ? ": deleted there, but flagged or labelled here since (a "
				       "conflict)"
				     : "");
		break;
	case ACT_FLAGS_FAR:
	case ACT_FLAGS_NEAR:
		say_flags(name, a, a->kind == ACT_FLAGS_FAR ? FAR : NEAR);
		break;
	case ACT_DELETE_FAR:
	case ACT_DELETE_NEAR: {
		enum side on = a->kind == ACT_DELETE_FAR ? FAR : NEAR;

		log_info("%s: would delete %s uid %u (deleted on %s)", name, side_str(on),
			 side_action_uid(a, on), side_str(side_other(on)));
		break;
	}
	case ACT_PAIR:
		log_info("%s: would pair %s: the same message on both sides", name, uids);
		break;
	case ACT_FORGET:
		if (a->far_uid || a->near_uid)
			log_info("%s: would forget %s: gone from both sides", name, uids);
		break;
	case ACT_KEEP:
		log_info("%s: would keep %s, not deleting it there (the `delete` setting)", name,
			 uids);
		break;
	case ACT_SKIP_SIZE:
		log_info("%s: would skip %s (%s, larger than max_size)", name, uids, size);
		break;
	case ACT_SET_BASE:
		break;
	}
}

/* --dry-run -v names the copies by Subject, which costs their bodies: only
 * of messages up to this size, and this many a folder and side. */
#define SUBJECT_SIZE_MAX (64 * 1024)
#define SUBJECTS_MAX	 50

/* The Subjects of the copies p would make from each side, within those
 * bounds; a store that cannot tell leaves them out. */
static void read_copy_subjects(struct engine *e, const struct plan *p, struct subjects subj[2])
{
	for (enum side from = FAR; from <= NEAR; from++) {
		enum action_kind kind = from == FAR ? ACT_COPY_TO_NEAR : ACT_COPY_TO_FAR;
		uint32_t uids[SUBJECTS_MAX];
		struct ferry_error err = {0};
		size_t n = 0;

		for (size_t i = 0; i < p->n && n < SUBJECTS_MAX; i++)
			if (p->v[i].kind == kind && p->v[i].size <= SUBJECT_SIZE_MAX)
				uids[n++] = side_action_uid(&p->v[i], from);
		if (subjects_read(e->store[from], uids, n, &subj[from], &err) != 0)
			log_trace("Subjects not read: %s", err.msg);
	}
}

/* --dry-run: what the plan would do, counted as the real run counts what
 * it did (apply.c, copy.c), so the folder's line is the one the real run
 * prints; at -v each action in plain words. */
static void count_plan(struct engine *e, const char *name, const struct plan *p,
		       struct folder_report *rep)
{
	bool verbose = log_get_level() >= LOG_VERBOSE;
	struct subjects subj[2] = {{0}, {0}};

	if (verbose)
		read_copy_subjects(e, p, subj);

	for (size_t i = 0; i < p->n; i++) {
		const struct action *a = &p->v[i];

		switch (a->kind) {
		case ACT_COPY_TO_NEAR:
		case ACT_COPY_TO_FAR: {
			enum side to = a->kind == ACT_COPY_TO_NEAR ? NEAR : FAR;

			rep->added[to]++;
			if (!a->placeholder) /* a placeholder costs its header */
				rep->bytes[to] += a->size;
			break;
		}
		case ACT_FLAGS_FAR:
		case ACT_FLAGS_NEAR:
			rep->flags[a->kind == ACT_FLAGS_FAR ? FAR : NEAR]++;
			break;
		case ACT_DELETE_FAR:
		case ACT_DELETE_NEAR:
			rep->deleted[a->kind == ACT_DELETE_FAR ? FAR : NEAR]++;
			break;
		case ACT_PAIR:
			rep->paired++;
			break;
		case ACT_SKIP_SIZE:
			rep->skipped_size++;
			break;
		default:
			break;
		}
		if (verbose)
			say_action(name, a, subj);
	}
	subjects_free(&subj[FAR]);
	subjects_free(&subj[NEAR]);
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

		now[side] = w->seen[side];
		if (w->absent[side]) /* a dry run's folder yet to be created there */
			continue;
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
		char text[160], uids[64];

		if (!plan->v[i].conflict)
			continue;
		uids_text(&plan->v[i], uids, sizeof(uids));
		snprintf(text, sizeof(text),
			 "%s: deleted on one side, flagged or labelled on the other; kept and "
			 "copied back",
			 uids);
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

/* Plans in and carries the plan out (or counts it: --dry-run); adds the
 * deletions max_delete held back to *blocked. */
static int plan_apply(struct engine *e, struct folder_work *w, const struct plan_input *in,
		      size_t *blocked, struct ferry_error *err)
{
	struct folder_report *rep = &w->rep;
	const char *name = w->name;
	struct plan plan = {0};
	int r = -1;

	if (plan_folder(in, &plan) != 0) {
		ferry_error_set(err, FERRY_CAUSE_INTERNAL, "%s: out of memory while planning",
				name);
		goto out;
	}
	rep->conflicts += plan.conflicts;
	if (plan.outside_window)
		log_trace("%s: %zu message(s) older than max_age (%u days) left alone", name,
			  plan.outside_window, e->ch->max_age);
	rep->blocked_deletes += plan.blocked_far + plan.blocked_near;
	*blocked += plan.blocked_far + plan.blocked_near;
	if (plan.blocked_far + plan.blocked_near)
		log_error("%s: would delete %zu message(s) on far and %zu on near, more than "
			  "max_delete; deleting none until 'ferry sync --force-delete'",
			  name, plan.blocked_far, plan.blocked_near);
	/* Conflicts are said as the real run says them (a dry run records
	 * them in its copy of the state only). */
	if (record_conflicts(e, name, &plan, err) != 0 || record_held(e, name, &plan, err) != 0)
		goto out;
	if (e->opts->dry_run) {
		count_plan(e, name, &plan, rep);
		r = 0;
		goto out;
	}
	if (apply_plan(e, name, w->sf.id, &plan, w->list, rep, err) != 0) {
		ferry_error_prefix(err, "%s", name);
		goto out;
	}
	r = 0;
out:
	plan_free(&plan);
	return r;
}

/* One plan for the folder; or, for a first sync into an empty side, one a
 * window of uids: a plan costs 64 bytes an action, and a first sync plans
 * one a message (a million-message folder: 64 MB held at once). */
static int plan_apply_windows(struct engine *e, struct folder_work *w, const struct plan_input *in,
			      size_t *blocked, struct ferry_error *err)
{
	size_t window = crashpoint_plan_window(PLAN_WINDOW);
	bool from_far = in->nfar > 0;
	size_t n = from_far ? in->nfar : in->nnear;
	struct plan_input part = *in;

	if (!plan_by_windows(in) || n <= window)
		return plan_apply(e, w, in, blocked, err);
	for (size_t at = 0; at < n; at += window) {
		size_t k = n - at < window ? n - at : window;

		if (engine_interrupted && !e->opts->dry_run)
			break; /* as one plan would: the copies stop */
		if (from_far) {
			part.far = in->far + at;
			part.nfar = k;
		} else {
			part.near = in->near + at;
			part.nnear = k;
		}
		if (plan_apply(e, w, &part, blocked, err) != 0)
			return -1;
	}
	return 0;
}

/* placeholders = flagged: a placeholder flagged on either side (its
 * flags merged as the plan merged them) is replaced by its message. */
static int fetch_flagged(struct engine *e, struct folder_work *w, const struct plan_input *in,
			 struct ferry_error *err)
{
	uint32_t *uids;
	size_t n, fetched = 0, skipped = 0;
	int r;

	if (!in->policy.fetch_flagged || !in->npairs)
		return 0;
	uids = malloc(in->npairs * sizeof(*uids));
	if (!uids)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	n = plan_flagged_placeholders(in, uids);
	r = fetch_placeholders(e->store[FAR], e->store[NEAR], e->state, w->sf.id, w->name, uids, n,
			       &fetched, &skipped, err);
	free(uids);
	w->rep.undelivered += skipped; /* the next run tries again */
	if (r != 0)
		ferry_error_prefix(err, "%s", w->name);
	return r;
}

int finish_folder(struct engine *e, struct folder_work *w, struct ferry_error *err)
{
	struct folder_report *rep = &w->rep;
	const char *name = w->name;
	struct plan_input in;
	char *dropped[2] = {NULL, NULL};
	size_t blocked = 0;
	int r = -1;

	if (!w->still_selected && reselect(e, w, err) != 0)
		return -1;
	w->still_selected = false;
	fill_input(e, &in, w);
	if (state_dropped_keywords(e->state, w->sf.id, FAR, &dropped[FAR], err) != 0 ||
	    state_dropped_keywords(e->state, w->sf.id, NEAR, &dropped[NEAR], err) != 0)
		goto out;
	in.far_kw_dropped = dropped[FAR];
	in.near_kw_dropped = dropped[NEAR];
	if (identify_placeholders(e, &in, w->list, err) != 0 ||
	    identify_unpaired(e, &in, w->list, err) != 0) {
		ferry_error_prefix(err, "%s", name);
		goto out;
	}
	if (plan_apply_windows(e, w, &in, &blocked, err) != 0)
		goto out;
	if (e->opts->dry_run) {
		r = keep_folder(e, w, err);
		goto out;
	}
	if (fetch_flagged(e, w, &in, err) != 0)
		goto out;
	recorded_state(e->store[FAR], name, &w->seen[FAR], &w->sf.far_uidnext, &w->sf.far_modseq);
	recorded_state(e->store[NEAR], name, &w->seen[NEAR], &w->sf.near_uidnext,
		       &w->sf.near_modseq);
	w->sf.last_sync = (int64_t)time(NULL);
	w->sf.clean[0] = '\0';
	if (blocked == 0 && rep->unrecorded == 0 && rep->undelivered == 0 && rep->refused == 0 &&
	    !engine_interrupted)
		engine_policy(e, w->sf.clean, sizeof(w->sf.clean));
	r = state_put_folder(e->state, &w->sf, err);
	/* Only what a whole run recorded: an interrupted one stops here. */
	if (r == 0 && !engine_interrupted)
		r = keep_folder(e, w, err);
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
	free(dropped[FAR]);
	free(dropped[NEAR]);
	return r;
}
