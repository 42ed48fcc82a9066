/* Rule 11: removing a folder that vanished on the other side after a sync,
 * when it holds nothing but messages that were paired. */
#include "sync/remove.h"

#include <stdio.h>
#include <stdlib.h>

#include "store/log.h"
#include "store/names.h"

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Rule 11: the uids of a folder that vanished on the other side after a
 * sync, in *uids (the caller frees it), when every message in it is one that
 * was paired (and so is gone on the other side): mail that never reached the
 * other side is never deleted because of that side. *removable is false
 * otherwise, and for INBOX, which is never removed. Leaves the folder
 * selected. */
static int removal_uids(struct engine *e, const char *name, enum side side, uint32_t **uids,
			size_t *n, bool *removable, struct ferry_error *err)
{
	struct store *s = e->store[side];
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
	if (store_select(s, name, &fs, err) != 0 || store_list(s, &list, err) != 0 ||
	    state_get_folder(e->state, name, &sf, err) != 0)
		goto out;
	if ((side == FAR ? sf.far_uidvalidity : sf.near_uidvalidity) != fs.uidvalidity) {
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
		pair_uids[npu++] = side_uid(&pairs[j], side);
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

int remove_folder_removable(struct engine *e, const char *name, enum side side, bool *removable,
			    size_t *messages, struct ferry_error *err)
{
	uint32_t *uids = NULL;
	int r = removal_uids(e, name, side, &uids, messages, removable, err);

	free(uids);
	return r;
}

int remove_folder(struct engine *e, const char *name, enum side side, bool *removed,
		  struct ferry_error *err)
{
	struct store *s = e->store[side];
	uint32_t *uids = NULL;
	size_t n = 0;
	bool removable = false;
	int r;

	*removed = false;
	r = removal_uids(e, name, side, &uids, &n, &removable, err);
	if (r != 0 || !removable)
		goto out;
	if (e->opts->dry_run) {
		if (log_get_level() >= LOG_VERBOSE)
			log_info("%s: would remove the folder on %s with its %zu message(s)", name,
				 side_str(side), n);
		*removed = true;
		goto out;
	}
	r = -1;
	if ((n && store_delete_msgs(s, uids, n, err) != 0) ||
	    store_delete_folder(s, name, err) != 0)
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
