/* `keep` of a download-only far store (sync/keep.h). The order is what makes
 * a kill safe: the pairs leave the state (committed) before DELE, and DELE
 * takes effect only at the store's close. Killed before the close, the
 * messages stay on the server and pair again by identity; killed after, the
 * state no longer expects them. Never the other way round: a pair whose far
 * message is gone would be a deletion (not carried to near, policy), but a
 * far message whose pair is gone is found again. */
#include "sync/keep.h"

#include <stdlib.h>
#include <time.h>

#include "store/log.h"
#include "sync/crashpoint.h"
#include "sync/state.h"

static int cmp_uint32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

size_t keep_due(const struct pair *pairs, size_t npairs, const struct msg_list *far_list,
		int64_t keep_seconds, int64_t now, uint32_t *out)
{
	size_t n = 0;

	if (keep_seconds < 0)
		return 0;
	for (size_t i = 0; i < npairs; i++) {
		const struct pair *p = &pairs[i];

		if (!p->far_uid || p->status == PAIR_SKIPPED_SIZE)
			continue;
		if (p->made > now - keep_seconds)
			continue;
		if (!engine_find_msg(far_list, p->far_uid))
			continue;
		out[n++] = p->far_uid;
	}
	qsort(out, n, sizeof(*out), cmp_uint32);
	return n;
}

size_t keep_waiting(const struct pair *pairs, size_t npairs, int64_t *first)
{
	size_t n = 0;

	*first = 0;
	for (size_t i = 0; i < npairs; i++) {
		if (!pairs[i].far_uid || pairs[i].status == PAIR_SKIPPED_SIZE)
			continue;
		if (!n++ || pairs[i].made < *first)
			*first = pairs[i].made;
	}
	return n;
}

/* --dry-run: the pairs of the state that are due, and (keep 0) what this run
 * would download. */
static void say_due(struct engine *e, struct folder_work *w, size_t due)
{
	size_t now = store_conf_keep_seconds(e->ch->far) == 0 ? w->rep.added[NEAR] : 0;

	if (due + now == 0)
		return;
	if (due && now)
		log_info("%s: would delete %zu message(s) from far (keep), and the %zu it would "
			 "download",
			 w->name, due, now);
	else if (now)
		log_info("%s: would delete from far (keep) the %zu message(s) it would download",
			 w->name, now);
	else
		log_info("%s: would delete %zu message(s) from far (keep)", w->name, due);
	w->rep.deleted[FAR] += due + now;
}

int keep_folder(struct engine *e, struct folder_work *w, struct ferry_error *err)
{
	int64_t keep = store_conf_keep_seconds(e->ch->far);
	struct pair *pairs = NULL;
	size_t npairs = 0, n;
	uint32_t *uids = NULL;
	int r = -1;

	if (keep < 0 || w->absent[FAR])
		return 0;
	/* The state's pairs as the folder was recorded: those this run made
	 * too (a dry run's copy of the state has only the old ones). */
	if (state_load_pairs(e->state, w->sf.id, &pairs, &npairs, err) != 0)
		goto out;
	uids = malloc((npairs + 1) * sizeof(*uids));
	if (!uids) {
		ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		goto out;
	}
	n = keep_due(pairs, npairs, &w->list[FAR], keep, (int64_t)time(NULL), uids);
	if (e->opts->dry_run) {
		say_due(e, w, n);
		r = 0;
		goto out;
	}
	if (n == 0) {
		r = 0;
		goto out;
	}
	if (state_begin(e->state, err) != 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (state_forget_pair(e->state, w->sf.id, uids[i], 0, err) != 0) {
			state_rollback(e->state);
			goto out;
		}
	if (state_commit(e->state, err) != 0) {
		state_rollback(e->state);
		goto out;
	}
	crashpoint("keep", false);
	if (store_delete_msgs(e->store[FAR], uids, n, err) != 0)
		goto out;
	crashpoint("keep", true);
	log_trace("%s: %zu message(s) deleted from far (keep)", w->name, n);
	w->rep.deleted[FAR] += n;
	r = 0;
out:
	if (r != 0)
		ferry_error_prefix(err, "%s: keep", w->name);
	state_pairs_free(pairs, npairs);
	free(uids);
	return r;
}
