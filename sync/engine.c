/* What every step of a channel's run shares (sync/engine.h): the stop
 * flag, lookups in listings, the policy a clean finish is recorded under,
 * and freeing a folder's work. */
#include "sync/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

volatile int engine_interrupted;

static int cmp_msg_uid(const void *a, const void *b)
{
	const struct msg *x = a, *y = b;

	return (x->uid > y->uid) - (x->uid < y->uid);
}

void engine_sort_msgs(struct msg_list *l)
{
	/* Stores list in uid order as a rule: sorting is then skipped, and with
	 * it qsort's scratch memory for a listing of a million messages. */
	for (size_t i = 1; i < l->n; i++)
		if (l->v[i - 1].uid > l->v[i].uid) {
			qsort(l->v, l->n, sizeof(*l->v), cmp_msg_uid);
			break;
		}
}

struct msg *engine_find_msg(const struct msg_list *l, uint32_t uid)
{
	struct msg key = {.uid = uid};

	return l->n ? bsearch(&key, l->v, l->n, sizeof(*l->v), cmp_msg_uid) : NULL;
}

/* What a clean finish is recorded under: the settings that decide what a
 * sync does with an unchanged folder. A one-way run leaves the other
 * direction's changes behind, so it is never clean. */
bool engine_policy(const struct engine *e, char *buf, size_t len)
{
	if (e->dir != SYNC_BOTH || e->opts->has_dir_override)
		return false;
	/* max_age only when set: a state written before the key existed stays
	 * clean. A window that moves with the clock keeps the same policy: a
	 * message that ages out of it changes nothing on either side. */
	if (e->ch->max_age)
		snprintf(buf, len, "v1 delete=%d max_size=%llu max_age=%u", (int)e->ch->delete,
			 (unsigned long long)e->ch->max_size, e->ch->max_age);
	else
		snprintf(buf, len, "v1 delete=%d max_size=%llu", (int)e->ch->delete,
			 (unsigned long long)e->ch->max_size);
	/* The same for placeholders: turned on, the messages skipped by size
	 * are to be copied as placeholders. */
	if (e->ch->placeholders != PLACEHOLDERS_NO) {
		size_t used = strlen(buf);

		snprintf(buf + used, len - used, " placeholders=%d", (int)e->ch->placeholders);
	}
	return true;
}

void engine_folder_free(struct folder_work *w)
{
	state_pairs_free(w->pairs, w->npairs);
	msg_list_free(&w->list[FAR]);
	msg_list_free(&w->list[NEAR]);
	free(w->sf.name);
	w->pairs = NULL;
	w->npairs = 0;
	w->sparse = false;
	w->sf.name = NULL;
}
