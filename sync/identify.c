/* Rule 7's identities of unpaired messages, read from the stores only where
 * a pair is possible: the unpaired messages of one side whose size also
 * occurs unpaired on the other, and the munged hash (rule 6) where a server
 * rewrote what it stored. */
#include "sync/identify.h"

#include <stdlib.h>
#include <string.h>

#include "store/identity.h"
#include "sync/placeholder.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Identifies the unpaired messages of one side whose size also occurs among
 * the other side's unpaired messages, give or take the lines identity
 * version 2 leaves out: only those can pair (rule 7), and the common case,
 * new mail on one side only, then costs no header fetch. */
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

		if (!msg_id_known(m) && ident_size_near(sizes, on, m->size))
			want[nwant++] = *m; /* shallow: identify fills id and size */
	}
	if (nwant)
		r = store_identify(store, want, nwant, err);
	for (size_t i = 0; r == 0 && i < nwant; i++) {
		struct msg *m = engine_find_msg(mine, want[i].uid);

		if (m) {
			msg_take_id(m, &want[i]);
			m->size = want[i].size; /* the identity's (rule 6) */
		}
	}
	for (size_t i = 0; i < nwant; i++)
		free(want[i].ident); /* those not taken (an error) */
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
		if (msg_id_known(&l->v[idx[i]]))
			memcpy(v + HASH_LEN * (*count)++, l->v[idx[i]].ident->hash, HASH_LEN);
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

		if (msg_id_known(m) && !has_hash(other, nother, m->ident->hash))
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

		if (msg_id_known(m) && !m->munged_known &&
		    !has_hash(other, nother, m->ident->hash) &&
		    bsearch(&m->size, sizes, nsizes, sizeof(*sizes), cmp_u64)) {
			want[nwant] = *m; /* shallow, without the identity identify fills */
			want[nwant].ident = NULL;
			want[nwant++].munged_known = false;
		}
	}
	if (nwant)
		r = store_identify(store, want, nwant, err);
	for (size_t i = 0; r == 0 && i < nwant; i++) {
		struct msg *m = engine_find_msg(mine, want[i].uid);

		if (m && msg_id_known(&want[i]) &&
		    memcmp(m->ident->hash, want[i].ident->hash, HASH_LEN) == 0)
			msg_take_id(m, &want[i]);
	}
	for (size_t i = 0; i < nwant; i++)
		free(want[i].ident);
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
static int identify_munged(struct engine *e, struct msg_list list[2], size_t *const idx[2],
			   const size_t n[2], struct ferry_error *err)
{
	size_t nhashes[2] = {0, 0}, nsizes[2] = {0, 0};
	unsigned char *hashes[2] = {NULL, NULL};
	uint64_t *sizes[2] = {NULL, NULL};
	int r = 0;

	if (!n[FAR] || !n[NEAR])
		return 0;
	for (enum side s = FAR; s <= NEAR; s++)
		hashes[s] = sorted_hashes(&list[s], idx[s], n[s], &nhashes[s]);
	if (hashes[FAR] && hashes[NEAR])
		for (enum side s = FAR; s <= NEAR; s++) {
			enum side o = side_other(s);

			sizes[s] = unmatched_sizes(&list[s], idx[s], n[s], hashes[o], nhashes[o],
						   &nsizes[s]);
		}
	if (!sizes[FAR] || !sizes[NEAR])
		r = ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	for (enum side s = FAR; r == 0 && s <= NEAR; s++) {
		enum side o = side_other(s);

		r = munge_side(e->store[s], &list[s], idx[s], n[s], hashes[o], nhashes[o], sizes[o],
			       nsizes[o], err);
	}
	for (enum side s = FAR; s <= NEAR; s++) {
		free(hashes[s]);
		free(sizes[s]);
	}
	return r;
}

int identify_unpaired(struct engine *e, const struct plan_input *in, struct msg_list list[2],
		      struct ferry_error *err)
{
	size_t *idx[2] = {NULL, NULL}, n[2] = {0, 0};
	int r = 0;

	if (plan_unpaired(in, &idx[FAR], &n[FAR], &idx[NEAR], &n[NEAR]) != 0)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	for (enum side s = FAR; r == 0 && s <= NEAR; s++) {
		enum side o = side_other(s);

		r = identify_side(e->store[s], &list[s], idx[s], n[s], &list[o], idx[o], n[o], err);
	}
	if (r == 0)
		r = identify_munged(e, list, idx, n, err);
	free(idx[FAR]);
	free(idx[NEAR]);
	return r;
}

/* ---- placeholders among the unpaired near messages ---- */

/* A header block larger than this is no placeholder's. */
#define PLACEHOLDER_SCAN_MAX (1u << 20)

struct ph_scan {
	struct msg_list *near;
	struct strbuf hdr;
	bool over;
	bool oom;
};

static int scan_begin(void *ctx, struct ferry_error *err)
{
	struct ph_scan *c = ctx;

	(void)err;
	c->hdr.len = 0;
	c->over = false;
	return 0;
}

static int scan_write(void *ctx, const char *buf, size_t len, struct ferry_error *err)
{
	struct ph_scan *c = ctx;

	(void)err;
	if (c->hdr.len + len > PLACEHOLDER_SCAN_MAX)
		c->over = true;
	else
		strbuf_add(&c->hdr, buf, len);
	return 0;
}

static int scan_end(void *ctx, uint32_t uid, struct ferry_error *err)
{
	struct ph_scan *c = ctx;
	struct msg *m = engine_find_msg(c->near, uid);
	struct msg_id id;
	uint64_t size;

	(void)err;
	if (!m || c->over || c->hdr.oom)
		return 0;
	if (placeholder_parse(c->hdr.s ? c->hdr.s : "", c->hdr.len, &id, &size) != 1)
		return 0;
	m->placeholder = true;
	if (id.known) {
		if (msg_set_id(m, &id) != 0)
			c->oom = true;
		m->size = size;
		m->munged_known = false;
	}
	return 0;
}

static void scan_abort(void *ctx)
{
	struct ph_scan *c = ctx;

	c->hdr.len = 0;
}

static void scan_undelivered(void *ctx, uint32_t uid, const char *why)
{
	(void)ctx;
	(void)uid;
	(void)why; /* gone meanwhile: nothing to mark */
}

int identify_placeholders(struct engine *e, const struct plan_input *in, struct msg_list list[2],
			  struct ferry_error *err)
{
	struct ph_scan c = {.near = &list[NEAR]};
	struct fetch_sink sink = {.ctx = &c,
				  .begin = scan_begin,
				  .write = scan_write,
				  .end = scan_end,
				  .abort = scan_abort,
				  .undelivered = scan_undelivered};
	size_t *idx[2] = {NULL, NULL}, n[2] = {0, 0}, nwant = 0;
	uint32_t *uids;
	int r = 0;

	/* Also where placeholders are off now, if near messages may go up
	 * from a local store (where ferry made placeholders): one made before
	 * (a lost state since) must not. Their headers cost less than the
	 * uploads that would follow. */
	if (e->ch->placeholders == PLACEHOLDERS_NO &&
	    (in->policy.sync == SYNC_PULL || !store_conf_local(e->ch->near)))
		return 0;
	if (plan_unpaired(in, &idx[FAR], &n[FAR], &idx[NEAR], &n[NEAR]) != 0)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	uids = malloc((n[NEAR] + 1) * sizeof(*uids));
	if (!uids)
		r = ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	for (size_t i = 0; r == 0 && i < n[NEAR]; i++) {
		const struct msg *m = &list[NEAR].v[idx[NEAR][i]];

		if (!in->policy.max_size || m->size <= in->policy.max_size)
			uids[nwant++] = m->uid;
	}
	if (r == 0 && nwant)
		r = store_fetch_headers(e->store[NEAR], uids, nwant, &sink, err);
	if (r == 0 && (c.oom || c.hdr.oom))
		r = ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	strbuf_free(&c.hdr);
	free(uids);
	free(idx[FAR]);
	free(idx[NEAR]);
	return r;
}
