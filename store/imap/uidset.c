/* Uid lists as commands want them: sorted, unique, and cut into sets of
 * ranges. */
#include "store/imap/uidset.h"

#include <stdlib.h>

int imap_cmp_uid(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* A sorted copy of uids[0..n) without zeros and duplicates (caller frees),
 * or NULL on allocation failure. */
uint32_t *imap_sorted_uids(const uint32_t *uids, size_t n, size_t *out_n)
{
	uint32_t *v = malloc((n + 1) * sizeof(*v));
	size_t k = 0;

	if (!v)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (uids[i])
			v[k++] = uids[i];
	qsort(v, k, sizeof(*v), imap_cmp_uid);
	*out_n = 0;
	for (size_t i = 0; i < k; i++)
		if (*out_n == 0 || v[*out_n - 1] != v[i])
			v[(*out_n)++] = v[i];
	return v;
}

bool imap_uid_in(const uint32_t *sorted, size_t n, uint32_t uid, size_t *at)
{
	const uint32_t *p = bsearch(&uid, sorted, n, sizeof(*sorted), imap_cmp_uid);

	if (p && at)
		*at = (size_t)(p - sorted);
	return p != NULL;
}

/* A set of ranges ("1:5,9,12:14") from sorted unique uids, taking at most
 * max_uids uids and max_ranges ranges; *used says how many it took. */
struct mailimap_set *imap_uid_set(const uint32_t *uids, size_t n, size_t max_uids,
				  size_t max_ranges, size_t *used)
{
	struct mailimap_set *set = mailimap_set_new_empty();
	size_t i = 0, ranges = 0;

	if (!set)
		return NULL;
	while (i < n && i < max_uids && ranges < max_ranges) {
		size_t j = i;

		while (j + 1 < n && j + 1 < max_uids && uids[j + 1] == uids[j] + 1)
			j++;
		if (mailimap_set_add_interval(set, uids[i], uids[j]) != MAILIMAP_NO_ERROR) {
			mailimap_set_free(set);
			return NULL;
		}
		ranges++;
		i = j + 1;
	}
	*used = i;
	return set;
}
