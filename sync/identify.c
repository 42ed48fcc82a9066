/* Rule 7's identities of unpaired messages, read from the stores only where
 * a pair is possible: the unpaired messages of one side whose size also
 * occurs unpaired on the other, and the munged hash (rule 6) where a server
 * rewrote what it stored. */
#include "sync/identify.h"

#include <stdlib.h>
#include <string.h>

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Identifies the unpaired messages of one side whose size also occurs among
 * the other side's unpaired messages: only those can pair (rule 7), and the
 * common case, new mail on one side only, then costs no header fetch. */
static int identify_side(struct store *store, struct msg_list *mine, const size_t *idx, size_t n,
			 const struct msg_list *other, const size_t *oidx, size_t on,
			 struct ferry_error *err)
{
	uint64_t *sizes;
	struct msg *want;
	size_t nwant = 0;
	int r = 0;

	if (!n || !on)
		return 0;
	sizes = malloc(on * sizeof(*sizes));
	want = malloc(n * sizeof(*want));
	if (!sizes || !want) {
		free(sizes);
		free(want);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	for (size_t i = 0; i < on; i++)
		sizes[i] = other->v[oidx[i]].size;
	qsort(sizes, on, sizeof(*sizes), cmp_u64);
	for (size_t i = 0; i < n; i++) {
		const struct msg *m = &mine->v[idx[i]];

		if (!m->id.known && bsearch(&m->size, sizes, on, sizeof(*sizes), cmp_u64))
			want[nwant++] = *m; /* shallow: identify only fills id */
	}
	if (nwant)
		r = store->driver->identify(store, want, nwant, err);
	for (size_t i = 0; r == 0 && i < nwant; i++) {
		struct msg *m = engine_find_msg(mine, want[i].uid);

		if (m)
			m->id = want[i].id;
	}
	free(sizes);
	free(want);
	return r;
}

#define HASH_LEN sizeof(((struct msg_id *)0)->hash)

static int cmp_hash(const void *a, const void *b)
{
	return memcmp(a, b, HASH_LEN);
}

/* The header hashes of l's messages idx[0..n) whose identity is known,
 * sorted, HASH_LEN bytes each; malloc'd, NULL on allocation failure. */
static unsigned char *sorted_hashes(const struct msg_list *l, const size_t *idx, size_t n,
				    size_t *count)
{
	unsigned char *v = malloc(n * HASH_LEN + 1);

	*count = 0;
	if (!v)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (l->v[idx[i]].id.known)
			memcpy(v + HASH_LEN * (*count)++, l->v[idx[i]].id.hash, HASH_LEN);
	qsort(v, *count, HASH_LEN, cmp_hash);
	return v;
}

static bool has_hash(const unsigned char *v, size_t n, const unsigned char *hash)
{
	return n && bsearch(hash, v, n, HASH_LEN, cmp_hash);
}

/* The sizes of l's messages idx[0..n) whose known identity is not among
 * the other side's hashes, sorted; malloc'd. */
static uint64_t *unmatched_sizes(const struct msg_list *l, const size_t *idx, size_t n,
				 const unsigned char *other, size_t nother, size_t *count)
{
	uint64_t *v = malloc((n + 1) * sizeof(*v));

	*count = 0;
	if (!v)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const struct msg *m = &l->v[idx[i]];

		if (m->id.known && !has_hash(other, nother, m->id.hash))
			v[(*count)++] = m->size;
	}
	qsort(v, *count, sizeof(*v), cmp_u64);
	return v;
}

/* Reads the munged hash of mine's messages idx[0..n) whose identity the
 * other side lacks while their size is among sizes. */
static int munge_side(struct store *store, struct msg_list *mine, const size_t *idx, size_t n,
		      const unsigned char *other, size_t nother, const uint64_t *sizes,
		      size_t nsizes, struct ferry_error *err)
{
	struct msg *want;
	size_t nwant = 0;
	int r = 0;

	if (!nsizes)
		return 0;
	want = malloc((n + 1) * sizeof(*want));
	if (!want)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const struct msg *m = &mine->v[idx[i]];

		if (m->id.known && !m->id.munged_known && !has_hash(other, nother, m->id.hash) &&
		    bsearch(&m->size, sizes, nsizes, sizeof(*sizes), cmp_u64)) {
			want[nwant] = *m; /* shallow: identify only fills id */
			want[nwant++].id = (struct msg_id){0};
		}
	}
	if (nwant)
		r = store->driver->identify(store, want, nwant, err);
	for (size_t i = 0; r == 0 && i < nwant; i++) {
		struct msg *m = engine_find_msg(mine, want[i].uid);

		if (m && want[i].id.known && memcmp(m->id.hash, want[i].id.hash, HASH_LEN) == 0)
			m->id = want[i].id;
	}
	free(want);
	return r;
}

/* Rule 7 where a server rewrote what it stored (rule 6: Cyrus turns 8-bit
 * header bytes into 'X'): unpaired messages whose identity the other
 * side's unpaired messages lack, while their size they have, get their
 * munged hash too, so that plan_folder can pair a local message with the
 * server's copy of it after a lost state or an unrecorded upload. Ids from
 * the state or the Maildir index lack it: those are read again. Costs
 * nothing where identities match. */
static int identify_munged(struct engine *e, struct msg_list *far, const size_t *fi, size_t nf,
			   struct msg_list *near, const size_t *ni, size_t nn,
			   struct ferry_error *err)
{
	size_t nfh = 0, nnh = 0, nfs = 0, nns = 0;
	unsigned char *fh = NULL, *nh = NULL;
	uint64_t *fs = NULL, *ns = NULL;
	int r = 0;

	if (!nf || !nn)
		return 0;
	fh = sorted_hashes(far, fi, nf, &nfh);
	nh = sorted_hashes(near, ni, nn, &nnh);
	if (fh && nh) {
		fs = unmatched_sizes(far, fi, nf, nh, nnh, &nfs);
		ns = unmatched_sizes(near, ni, nn, fh, nfh, &nns);
	}
	if (!fs || !ns)
		r = ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	if (r == 0)
		r = munge_side(e->store[FAR], far, fi, nf, nh, nnh, ns, nns, err);
	if (r == 0)
		r = munge_side(e->store[NEAR], near, ni, nn, fh, nfh, fs, nfs, err);
	free(fh);
	free(nh);
	free(fs);
	free(ns);
	return r;
}

int identify_unpaired(struct engine *e, const struct plan_input *in, struct msg_list *far,
		      struct msg_list *near, struct ferry_error *err)
{
	size_t *fi = NULL, *ni = NULL, nf = 0, nn = 0;
	int r;

	if (plan_unpaired(in, &fi, &nf, &ni, &nn) != 0)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	r = identify_side(e->store[FAR], far, fi, nf, near, ni, nn, err);
	if (r == 0)
		r = identify_side(e->store[NEAR], near, ni, nn, far, fi, nf, err);
	if (r == 0)
		r = identify_munged(e, far, fi, nf, near, ni, nn, err);
	free(fi);
	free(ni);
	return r;
}
