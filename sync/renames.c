/* Folder renames, the matching half (DESIGN.md rule 11): see renames.h. */
#include "sync/renames.h"

#include <stdlib.h>
#include <string.h>

#include "store/names.h"

bool renames_below(const char *name, const char *parent)
{
	size_t len = strlen(parent);

	return strncmp(name, parent, len) == 0 && name[len] == '/';
}

static const struct rename_seen *seen_named(const struct rename_seen *seen, size_t nseen,
					    const char *name)
{
	for (size_t i = 0; i < nseen; i++)
		if (strcmp(seen[i].name, name) == 0)
			return &seen[i];
	return NULL;
}

static bool is_known(const struct rename_known *known, size_t nknown, const char *name)
{
	for (size_t i = 0; i < nknown; i++)
		if (strcmp(known[i].name, name) == 0)
			return true;
	return false;
}

static bool listed_on(const struct rename_seen *seen, size_t nseen, const char *name, enum side k)
{
	for (size_t i = 0; i < nseen; i++)
		if (seen[i].on[k] && strcmp(seen[i].name, name) == 0)
			return true;
	return false;
}

/* Whether uidvalidity v on side k names one folder only, among the folders
 * that vanished there and those new to the state: a server that reuses a
 * UIDVALIDITY (or two Maildir folders that came from one) tells nothing.
 * A folder still where it was takes no part: Cyrus gives folders made in
 * the same second the same UIDVALIDITY (INBOX and one ferry made with it),
 * and that one stayed. */
static bool uidvalidity_unique(const struct rename_known *known, size_t nknown,
			       const struct rename_seen *seen, size_t nseen, enum side k,
			       uint32_t v)
{
	size_t gone = 0, fresh = 0;

	for (size_t i = 0; i < nknown; i++)
		gone += known[i].uidvalidity[k] == v && !listed_on(seen, nseen, known[i].name, k);
	for (size_t i = 0; i < nseen; i++)
		fresh += seen[i].on[k] && seen[i].uidvalidity[k] == v &&
			 !is_known(known, nknown, seen[i].name);
	return gone == 1 && fresh == 1;
}

/* Whether s, new to the state, holds what k held on side k (or on both
 * sides, when k vanished from both). */
static bool holds(const struct rename_known *k, const struct rename_seen *s, bool both,
		  enum side on)
{
	for (enum side x = FAR; x <= NEAR; x++) {
		bool wanted = both || x == on;

		if (!wanted) {
			if (s->on[x])
				return false; /* the other side has a folder of that name */
			continue;
		}
		if (!s->on[x] || !k->uidvalidity[x] || s->uidvalidity[x] != k->uidvalidity[x])
			return false;
	}
	return true;
}

/* The one folder that k became, or NULL when there is none or more than one. */
static const struct rename_seen *successor(const struct rename_known *known, size_t nknown,
					   const struct rename_seen *seen, size_t nseen,
					   const struct rename_known *k, bool both, enum side on)
{
	const struct rename_seen *hit = NULL;

	for (size_t i = 0; i < nseen; i++) {
		if (is_known(known, nknown, seen[i].name) || folder_name_is_inbox(seen[i].name) ||
		    !holds(k, &seen[i], both, on))
			continue;
		if (hit)
			return NULL;
		hit = &seen[i];
	}
	for (enum side x = FAR; hit && x <= NEAR; x++)
		if ((both || x == on) &&
		    !uidvalidity_unique(known, nknown, seen, nseen, x, k->uidvalidity[x]))
			return NULL;
	return hit;
}

/* Whether child's name under parent's `to` is what it was under `from`. */
static bool follows(const struct rename *child, const struct rename *parent)
{
	size_t from_len = strlen(parent->from), to_len = strlen(parent->to);

	return renames_below(child->from, parent->from) && renames_below(child->to, parent->to) &&
	       strcmp(child->from + from_len, child->to + to_len) == 0;
}

/* Whether every folder below m's old name on the side it is to be renamed
 * on moves with it as it moved on the side it was renamed on: a store
 * renames a folder with its children. */
static bool children_follow(const struct rename *m, const struct rename *v, size_t n,
			    const struct rename_seen *seen, size_t nseen)
{
	enum side other = side_other(m->renamed_on);

	for (size_t i = 0; i < nseen; i++) {
		bool moved = false;

		if (!seen[i].on[other] || !renames_below(seen[i].name, m->from))
			continue;
		for (size_t j = 0; j < n && !moved; j++)
			moved = !v[j].both && v[j].renamed_on == m->renamed_on &&
				strcmp(v[j].from, seen[i].name) == 0 && follows(&v[j], m);
		if (!moved)
			return false;
	}
	return true;
}

static int by_from(const void *a, const void *b)
{
	return strcmp(((const struct rename *)a)->from, ((const struct rename *)b)->from);
}

/* Drops renames whose children would not follow, until none is left to
 * drop (a dropped child may leave its parent without a follower). */
static void drop_partial(struct rename *v, size_t *n, const struct rename_seen *seen, size_t nseen)
{
	bool dropped = true;

	while (dropped) {
		size_t k = 0;

		dropped = false;
		for (size_t i = 0; i < *n; i++) {
			if (!v[i].both && !children_follow(&v[i], v, *n, seen, nseen)) {
				dropped = true;
				continue;
			}
			v[k++] = v[i];
		}
		*n = k;
	}
}

int renames_match(const struct rename_known *known, size_t nknown, const struct rename_seen *seen,
		  size_t nseen, struct rename **out, size_t *n)
{
	struct rename *v = calloc(nknown + 1, sizeof(*v));
	size_t k = 0;

	*out = NULL;
	*n = 0;
	if (!v)
		return -1;
	for (size_t i = 0; i < nknown; i++) {
		const struct rename_seen *now = seen_named(seen, nseen, known[i].name), *to;
		bool gone[2] = {!now || !now->on[FAR], !now || !now->on[NEAR]};
		bool both = gone[FAR] && gone[NEAR];
		enum side on = gone[FAR] ? FAR : NEAR;

		if ((!gone[FAR] && !gone[NEAR]) || folder_name_is_inbox(known[i].name))
			continue;
		to = successor(known, nknown, seen, nseen, &known[i], both, on);
		if (to)
			v[k++] = (struct rename){
			    .from = known[i].name, .to = to->name, .renamed_on = on, .both = both};
	}
	qsort(v, k, sizeof(*v), by_from);
	drop_partial(v, &k, seen, nseen);
	for (size_t i = 0; i < k; i++)
		for (size_t j = 0; j < k && !v[i].child; j++)
			v[i].child = j != i && !v[j].both && !v[i].both &&
				     v[j].renamed_on == v[i].renamed_on && follows(&v[i], &v[j]);
	if (k == 0) {
		free(v);
		v = NULL;
	}
	*out = v;
	*n = k;
	return 0;
}
