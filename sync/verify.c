/* `ferry verify`: how a user proves a mirror. Both sides of every folder
 * pair are listed with their identities (rule 6: header hash and CRLF size)
 * and held against the state's pairs; with --bodies the whole messages of
 * every pair are read from both sides and their SHA-256 compared, streamed,
 * never held. Nothing is written: the state is opened read-only, no flag,
 * message or folder is touched (a listing refreshes the Maildir index, as
 * any listing does). The channel's lock is held so no sync runs meanwhile. */
#include "sync/verify.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "store/base/grow.h"
#include "store/base/termsafe.h"
#include "store/log.h"
#include "sync/child.h"
#include "sync/connect.h"
#include "sync/engine.h"
#include "sync/names.h"
#include "sync/roles.h"
#include "sync/state.h"
#include "sync/subject.h"

static const char *const side_name[2] = {"far", "near"};

enum verdict {
	V_MISSING_FAR, /* paired in the state, gone from far */
	V_MISSING_NEAR,
	V_EXTRA_FAR, /* on far only, paired with nothing */
	V_EXTRA_NEAR,
	V_DIFFERENT, /* on both sides, not the same message */
	V_POLICY,    /* deliberately not copied: max_size, delete, sync direction */
	V_KINDS
};

static const char *const verdict_name[V_KINDS] = {
    [V_MISSING_FAR] = "missing far", [V_MISSING_NEAR] = "missing near", [V_EXTRA_FAR] = "extra far",
    [V_EXTRA_NEAR] = "extra near",   [V_DIFFERENT] = "different",	[V_POLICY] = "by policy",
};

/* Differences named per folder; the counts hold them all. */
#define NAMED_MAX 5
/* A Subject is read only from messages up to this size: it costs the body. */
#define SUBJECT_READ_MAX (1024 * 1024)

struct named {
	enum verdict verdict;
	uint32_t uid[2];   /* 0: none on that side */
	int from;	   /* side whose message gives the Subject, -1: none */
	uint32_t from_uid; /* that message's uid there */
	char what[200];
	char subject[100];
};

struct tally {
	size_t in_step;
	size_t n[V_KINDS];
	size_t folders, failed;
};

/* A pair present on both sides with the same identity: its bodies are
 * compared with --bodies. */
struct body_pair {
	uint32_t uid[2];
	unsigned char hash[2][32];
	bool got[2];
};

struct folder_check {
	const char *name;
	const struct channel_conf *ch;
	struct store *store[2];
	bool present[2];
	uint32_t uidvalidity[2]; /* what the select said */
	struct msg_list list[2]; /* sorted by uid */
	bool *seen[2];		 /* list[s].v[i] is accounted for */
	struct pair *pairs;
	size_t npairs;
	struct tally tally;
	struct named named[NAMED_MAX];
	size_t nnamed;
	struct body_pair *bodies;
	size_t nbodies, bodies_cap;
};

struct verify_run {
	const struct channel_conf *ch;
	const char *folder; /* NULL: all */
	bool bodies;
};

static int cmp_msg_uid(const void *a, const void *b)
{
	const struct msg *x = a, *y = b;

	return (x->uid > y->uid) - (x->uid < y->uid);
}

/* Counts a verdict and names it while there is room; returns the name
 * recorded, or NULL. */
static struct named *note(struct folder_check *fc, enum verdict v, uint32_t far_uid,
			  uint32_t near_uid, int from, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static struct named *note(struct folder_check *fc, enum verdict v, uint32_t far_uid,
			  uint32_t near_uid, int from, const char *fmt, ...)
{
	struct named *n;
	va_list ap;

	fc->tally.n[v]++;
	if (fc->nnamed == NAMED_MAX)
		return NULL;
	n = &fc->named[fc->nnamed++];
	*n = (struct named){.verdict = v, .uid = {far_uid, near_uid}, .from = from};
	if (from >= 0)
		n->from_uid = n->uid[from];
	va_start(ap, fmt);
	vsnprintf(n->what, sizeof(n->what), fmt, ap);
	va_end(ap);
	return n;
}

static size_t msg_index(const struct msg_list *l, const struct msg *m)
{
	return (size_t)(m - l->v);
}

/* Why two present messages of a pair are not the same one, or NULL. Each
 * side is held against the identity the state recorded for it (a server
 * may store a rewritten header: rule 6); without one, against the other. */
/* m's header hash; zeros when unknown (sorted first, as before). */
static const unsigned char *hash_of(const struct msg *m)
{
	static const unsigned char none[32];

	return m->ident ? m->ident->hash : none;
}

static const char *pair_difference(const struct pair *p, const struct msg *m[2], char *buf,
				   size_t len)
{
	const struct msg_id *recorded[2] = {&p->far_id, &p->near_id};

	for (int s = FAR; s <= NEAR; s++) {
		if (!msg_id_known(m[s])) {
			snprintf(buf, len, "the %s message could not be read", side_name[s]);
			return buf;
		}
		if (recorded[s]->known && memcmp(recorded[s]->hash, hash_of(m[s]), 32) != 0) {
			snprintf(buf, len, "the %s header differs from the one recorded",
				 side_name[s]);
			return buf;
		}
	}
	if (!recorded[FAR]->known && !recorded[NEAR]->known &&
	    memcmp(hash_of(m[FAR]), hash_of(m[NEAR]), 32) != 0) {
		snprintf(buf, len, "headers differ");
		return buf;
	}
	/* A placeholder's size is its own: its header was checked above. */
	if (!p->placeholder && m[FAR]->size != m[NEAR]->size) {
		snprintf(buf, len, "sizes differ (far %ju, near %ju)", (uintmax_t)m[FAR]->size,
			 (uintmax_t)m[NEAR]->size);
		return buf;
	}
	return NULL;
}

static int add_body_pair(struct folder_check *fc, uint32_t far_uid, uint32_t near_uid)
{
	struct body_pair *nv =
	    grow_array(fc->bodies, &fc->bodies_cap, fc->nbodies + 1, sizeof(*nv));

	if (!nv)
		return -1;
	fc->bodies = nv;
	fc->bodies[fc->nbodies++] = (struct body_pair){.uid = {far_uid, near_uid}};
	return 0;
}

/* The pairs of the state against both listings. Pairs with a side gone are
 * left in gone[s] (indexes into pairs), for check_unpaired to tell a
 * message changed under the same name from a missing one. */
static int check_pairs(struct folder_check *fc, bool bodies, size_t *gone[2], size_t ngone[2])
{
	for (size_t i = 0; i < fc->npairs; i++) {
		const struct pair *p = &fc->pairs[i];
		uint32_t uid[2] = {p->far_uid, p->near_uid};
		const struct msg *m[2];
		char why[200];
		const char *diff;

		for (int s = FAR; s <= NEAR; s++) {
			m[s] = uid[s] ? engine_find_msg(&fc->list[s], uid[s]) : NULL;
			if (m[s])
				fc->seen[s][msg_index(&fc->list[s], m[s])] = true;
		}
		if (p->status == PAIR_SKIPPED_SIZE || p->status == PAIR_KEPT) {
			note(fc, V_POLICY, uid[FAR], uid[NEAR],
			     m[FAR]    ? FAR
			     : m[NEAR] ? NEAR
				       : -1,
			     p->status == PAIR_KEPT
				 ? "kept on one side: its deletion is not carried out (delete)"
				 : "skipped by max_size");
			continue;
		}
		if (!m[FAR] && !m[NEAR])
			continue; /* gone from both: the next sync forgets the pair */
		if (!m[FAR] || !m[NEAR]) {
			int s = m[FAR] ? NEAR : FAR;

			gone[s][ngone[s]++] = i;
			continue;
		}
		diff = pair_difference(p, m, why, sizeof(why));
		/* A placeholder is its own message by design: only its header
		 * is held against the one recorded, and its body never. */
		if (p->placeholder && !diff) {
			note(fc, V_POLICY, uid[FAR], uid[NEAR], FAR,
			     "a placeholder near (placeholders): the message stays on far");
			continue;
		}
		if (diff) {
			note(fc, V_DIFFERENT, uid[FAR], uid[NEAR], FAR, "%s", diff);
			continue;
		}
		fc->tally.in_step++;
		if (bodies && add_body_pair(fc, uid[FAR], uid[NEAR]) != 0)
			return -1;
	}
	return 0;
}

/* A message on side s that replaced a gone one of a pair with the same
 * header: its file was edited (a Maildir gives it a new uid, rule 12). */
static bool changed_under_pair(struct folder_check *fc, int s, const struct msg *m,
			       const size_t *gone, size_t ngone, bool *taken)
{
	for (size_t k = 0; k < ngone; k++) {
		const struct pair *p = &fc->pairs[gone[k]];
		const struct msg_id *rec = s == FAR ? &p->far_id : &p->near_id;

		if (taken[k] || !rec->known || !msg_id_known(m) ||
		    memcmp(rec->hash, hash_of(m), 32))
			continue;
		taken[k] = true;
		struct named *n = note(
		    fc, V_DIFFERENT, p->far_uid, p->near_uid, -1,
		    "%s message changed (same header, size %ju -> %ju), now %s uid %u",
		    side_name[s], (uintmax_t)p->size, (uintmax_t)m->size, side_name[s], m->uid);

		if (n) { /* its Subject is the new message's */
			n->from = s;
			n->from_uid = m->uid;
		}
		return true;
	}
	return false;
}

static int cmp_identity(const void *a, const void *b)
{
	const struct msg *x = *(const struct msg *const *)a, *y = *(const struct msg *const *)b;
	int c = memcmp(hash_of(x), hash_of(y), 32);

	return c ? c : (x->size > y->size) - (x->size < y->size);
}

/* Whether the sync direction copies messages from side s at all. */
static bool copies_from(const struct channel_conf *ch, int s)
{
	return ch->sync == SYNC_BOTH || (ch->sync == SYNC_PULL) == (s == FAR);
}

/* Messages no pair accounts for. One with the identity of an unpaired one on
 * the other side is in step (rule 7 pairs them at the next sync); one the
 * policy keeps from copying is counted so; the rest are extra. */
static int check_unpaired(struct folder_check *fc, size_t *gone[2], size_t ngone[2])
{
	const struct msg **left[2] = {NULL, NULL};
	size_t nleft[2] = {0, 0};
	bool *taken[2] = {NULL, NULL}, *matched = NULL;
	int r = -1;

	for (int s = FAR; s <= NEAR; s++) {
		left[s] = malloc((fc->list[s].n + 1) * sizeof(*left[s]));
		taken[s] = calloc(ngone[s] + 1, sizeof(*taken[s]));
		if (!left[s] || !taken[s])
			goto out;
		for (size_t i = 0; i < fc->list[s].n; i++) {
			const struct msg *m = &fc->list[s].v[i];

			if (fc->seen[s][i])
				continue;
			if (fc->ch->max_size && m->size > fc->ch->max_size)
				note(fc, V_POLICY, s == FAR ? m->uid : 0, s == NEAR ? m->uid : 0, s,
				     "larger than max_size: not copied");
			else if (!changed_under_pair(fc, s, m, gone[s], ngone[s], taken[s]))
				left[s][nleft[s]++] = m;
		}
	}
	matched = calloc(nleft[NEAR] + 1, sizeof(*matched));
	if (!matched)
		goto out;
	/* Sorted by identity, the near leftovers are searched, not scanned: a
	 * lost state leaves every message unpaired. */
	if (nleft[NEAR])
		qsort(left[NEAR], nleft[NEAR], sizeof(*left[NEAR]), cmp_identity);
	for (size_t i = 0; i < nleft[FAR]; i++) {
		const struct msg *m = left[FAR][i];
		const struct msg **hit;
		size_t at;

		if (!msg_id_known(m) || !nleft[NEAR])
			continue;
		hit = bsearch(&left[FAR][i], left[NEAR], nleft[NEAR], sizeof(*left[NEAR]),
			      cmp_identity);
		if (!hit)
			continue;
		/* Back to the first equal one, then on to the first not taken. */
		for (at = (size_t)(hit - left[NEAR]);
		     at > 0 && !cmp_identity(&left[NEAR][at - 1], &m); at--)
			;
		for (; at < nleft[NEAR] && !cmp_identity(&left[NEAR][at], &m) && matched[at]; at++)
			;
		if (at == nleft[NEAR] || cmp_identity(&left[NEAR][at], &m) ||
		    !msg_id_known(left[NEAR][at]))
			continue;
		matched[at] = true;
		left[FAR][i] = NULL;
		fc->tally.in_step++;
	}
	for (int s = FAR; s <= NEAR; s++) {
		for (size_t i = 0; i < nleft[s]; i++) {
			const struct msg *m = left[s][i];
			uint32_t far_uid = s == FAR && m ? m->uid : 0,
				 near_uid = s == NEAR && m ? m->uid : 0;

			if (!m || (s == NEAR && matched[i]))
				continue;
			if (!copies_from(fc->ch, s))
				note(fc, V_POLICY, far_uid, near_uid, s, "not copied: sync = %s",
				     fc->ch->sync == SYNC_PULL ? "pull" : "push");
			else
				note(fc, s == FAR ? V_EXTRA_FAR : V_EXTRA_NEAR, far_uid, near_uid,
				     s, "not paired, not on %s", side_name[!s]);
		}
		for (size_t k = 0; k < ngone[s]; k++) {
			const struct pair *p = &fc->pairs[gone[s][k]];

			if (!taken[s][k])
				note(fc, s == FAR ? V_MISSING_FAR : V_MISSING_NEAR, p->far_uid,
				     p->near_uid, !s, "paired in the state, gone from %s",
				     side_name[s]);
		}
	}
	r = 0;
out:
	for (int s = FAR; s <= NEAR; s++) {
		free(left[s]);
		free(taken[s]);
	}
	free(matched);
	return r;
}

/* ---- reading whole messages ------------------------------------------- */

struct body_sink {
	struct body_pair *v;
	size_t n;
	int side;
	EVP_MD_CTX *md; /* the message being read */
	bool prev_cr;
	bool failed; /* OpenSSL failed */
};

static int body_begin(void *ctx, struct ferry_error *err)
{
	struct body_sink *b = ctx;

	EVP_MD_CTX_free(b->md);
	b->prev_cr = false;
	b->md = EVP_MD_CTX_new();
	if (!b->md || EVP_DigestInit_ex(b->md, EVP_sha256(), NULL) != 1)
		return ferry_error_set(err, FERRY_CAUSE_INCOMPLETE, "SHA-256: OpenSSL failed");
	return 0;
}

/* Hashes the message as CRLF (rule 14): a Maildir file has bare LFs, the
 * server's copy CRLFs, and the same message must hash the same. */
static int body_write(void *ctx, const char *buf, size_t len, struct ferry_error *err)
{
	struct body_sink *b = ctx;
	size_t start = 0;

	for (size_t i = 0; i < len; i++) {
		if (buf[i] == '\n' && !(i ? buf[i - 1] == '\r' : b->prev_cr)) {
			if (EVP_DigestUpdate(b->md, buf + start, i - start) != 1 ||
			    EVP_DigestUpdate(b->md, "\r", 1) != 1)
				return ferry_error_set(err, FERRY_CAUSE_INCOMPLETE,
						       "SHA-256: OpenSSL failed");
			start = i;
		}
	}
	if (len && EVP_DigestUpdate(b->md, buf + start, len - start) != 1)
		return ferry_error_set(err, FERRY_CAUSE_INCOMPLETE, "SHA-256: OpenSSL failed");
	if (len)
		b->prev_cr = buf[len - 1] == '\r';
	return 0;
}

static int body_end(void *ctx, uint32_t uid, struct ferry_error *err)
{
	struct body_sink *b = ctx;
	unsigned char hash[32];
	unsigned int n = 0;
	int ok = EVP_DigestFinal_ex(b->md, hash, &n) == 1 && n == sizeof(hash);

	EVP_MD_CTX_free(b->md);
	b->md = NULL;
	if (!ok)
		return ferry_error_set(err, FERRY_CAUSE_INCOMPLETE, "SHA-256: OpenSSL failed");
	/* Few pairs are read per call (see read_bodies): a scan is enough. */
	for (size_t i = 0; i < b->n; i++)
		if (b->v[i].uid[b->side] == uid) {
			memcpy(b->v[i].hash[b->side], hash, sizeof(hash));
			b->v[i].got[b->side] = true;
		}
	return 0;
}

static void body_abort(void *ctx)
{
	struct body_sink *b = ctx;

	EVP_MD_CTX_free(b->md);
	b->md = NULL;
}

#define BODY_BATCH 100

/* Reads both sides' messages of every pair in step, BODY_BATCH at a time,
 * and turns those whose whole messages differ into differences. */
static int read_bodies(struct folder_check *fc, struct ferry_error *err)
{
	uint32_t uids[BODY_BATCH];

	for (size_t done = 0; done < fc->nbodies; done += BODY_BATCH) {
		size_t n = fc->nbodies - done < BODY_BATCH ? fc->nbodies - done : BODY_BATCH;

		for (int s = FAR; s <= NEAR; s++) {
			struct body_sink b = {.v = fc->bodies + done, .n = n, .side = s};
			struct fetch_sink sink = {&b, body_begin, body_write, body_end, body_abort};
			int r;

			for (size_t i = 0; i < n; i++)
				uids[i] = fc->bodies[done + i].uid[s];
			r = store_fetch(fc->store[s], uids, n, &sink, err);
			EVP_MD_CTX_free(b.md);
			if (r != 0)
				return -1;
		}
	}
	for (size_t i = 0; i < fc->nbodies; i++) {
		const struct body_pair *p = &fc->bodies[i];
		const char *why = NULL;

		if (!p->got[FAR] || !p->got[NEAR])
			why = !p->got[FAR] ? "the far message could not be read"
					   : "the near message could not be read";
		else if (memcmp(p->hash[FAR], p->hash[NEAR], 32) != 0)
			why = "bodies differ (same header and size)";
		if (!why)
			continue;
		fc->tally.in_step--;
		note(fc, V_DIFFERENT, p->uid[FAR], p->uid[NEAR], FAR, "%s", why);
	}
	return 0;
}

/* ---- naming the differences ----------------------------------------- */

/* A Subject as the report prints it: quotes wrap it, so none inside; 8-bit
 * bytes too are made safe (C1 controls, raw or as UTF-8). */
static void quote_subject(const char *subject, char *out, size_t len)
{
	char raw[SUBJECT_LEN];

	snprintf(raw, sizeof(raw), "%s", subject);
	for (char *c = raw; *c; c++)
		if (*c == '"')
			*c = '?';
	termsafe_escape(raw, strlen(raw), out, len);
}

/* The Subject of each named message, read from the side that holds it;
 * a message that cannot be read is named by its uids only. */
static void read_subjects(struct folder_check *fc)
{
	for (size_t i = 0; i < fc->nnamed; i++) {
		struct named *n = &fc->named[i];
		struct ferry_error err = {0};
		struct subjects read;
		const struct msg *m;
		const char *subject;
		int s = n->from;

		if (s < 0 || !n->from_uid || fc->store[s]->broken)
			continue;
		m = engine_find_msg(&fc->list[s], n->from_uid);
		if (!m || m->size > SUBJECT_READ_MAX)
			continue;
		if (subjects_read(fc->store[s], &n->from_uid, 1, &read, &err) != 0)
			continue;
		subject = subjects_find(&read, n->from_uid);
		if (subject)
			quote_subject(subject, n->subject, sizeof(n->subject));
		subjects_free(&read);
	}
}

/* ---- one folder ----------------------------------------------------- */

static int list_side(struct folder_check *fc, int s, struct ferry_error *err)
{
	struct store *st = fc->store[s];
	struct folder_state fs;

	if (!fc->present[s])
		return 0;
	if (store_select(st, fc->name, &fs, err) != 0 || store_list(st, &fc->list[s], err) != 0)
		return -1;
	fc->uidvalidity[s] = fs.uidvalidity;
	if (fc->list[s].n)
		qsort(fc->list[s].v, fc->list[s].n, sizeof(*fc->list[s].v), cmp_msg_uid);
	/* Headers only (a Maildir has them in its index): never bodies. */
	if (fc->list[s].n && store_identify(st, fc->list[s].v, fc->list[s].n, err) != 0)
		return -1;
	fc->seen[s] = calloc(fc->list[s].n + 1, sizeof(*fc->seen[s]));
	if (!fc->seen[s])
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	return 0;
}

static void print_folder(const struct folder_check *fc)
{
	const struct tally *t = &fc->tally;

	printf("%s: %zu in step, %zu missing far, %zu missing near, %zu extra far, %zu extra "
	       "near, %zu different, %zu by policy\n",
	       fc->name, t->in_step, t->n[V_MISSING_FAR], t->n[V_MISSING_NEAR], t->n[V_EXTRA_FAR],
	       t->n[V_EXTRA_NEAR], t->n[V_DIFFERENT], t->n[V_POLICY]);
	for (size_t i = 0; i < fc->nnamed; i++) {
		const struct named *n = &fc->named[i];
		char uid[2][16];

		for (int s = FAR; s <= NEAR; s++) {
			if (n->uid[s])
				snprintf(uid[s], sizeof(uid[s]), "%u", n->uid[s]);
			else
				snprintf(uid[s], sizeof(uid[s]), "-");
		}
		printf("  %s: %s: far uid %s, near uid %s: %s", fc->name, verdict_name[n->verdict],
		       uid[FAR], uid[NEAR], n->what);
		if (n->subject[0])
			printf("; Subject \"%s\"", n->subject);
		printf("\n");
	}
	if (fc->nnamed == NAMED_MAX) {
		size_t all = 0;

		for (int v = 0; v < V_KINDS; v++)
			all += t->n[v];
		if (all > NAMED_MAX)
			printf("  %s: and %zu more\n", fc->name, all - NAMED_MAX);
	}
}

static void folder_check_free(struct folder_check *fc)
{
	for (int s = FAR; s <= NEAR; s++) {
		msg_list_free(&fc->list[s]);
		free(fc->seen[s]);
	}
	state_pairs_free(fc->pairs, fc->npairs);
	free(fc->bodies);
}

static const struct state_folder *find_state_folder(const struct state_folder *v, size_t n,
						    const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return &v[i];
	return NULL;
}

static bool same_uidvalidity(const struct folder_check *fc, const struct state_folder *sf)
{
	uint32_t recorded[2] = {sf->far_uidvalidity, sf->near_uidvalidity};

	for (int s = FAR; s <= NEAR; s++)
		if (fc->present[s] && recorded[s] && recorded[s] != fc->uidvalidity[s])
			return false;
	return true;
}

static int verify_folder(struct folder_check *fc, struct state *state,
			 const struct state_folder *sf, bool bodies, struct ferry_error *err)
{
	size_t *gone[2] = {NULL, NULL}, ngone[2] = {0, 0};
	int r = -1;

	if (list_side(fc, FAR, err) != 0 || list_side(fc, NEAR, err) != 0)
		return -1;
	/* Pairs recorded under another UIDVALIDITY name other messages: the
	 * next sync drops them and pairs by identity (rule 7), and so does this. */
	if (sf && !same_uidvalidity(fc, sf))
		log_warn("%s: %s: UIDVALIDITY changed since the last sync (a rebuilt index or "
			 "a recreated folder): messages matched by identity only",
			 fc->ch->name, fc->name);
	else if (sf && state_load_pairs(state, sf->id, &fc->pairs, &fc->npairs, err) != 0)
		return -1;
	gone[FAR] = malloc((fc->npairs + 1) * sizeof(*gone[FAR]));
	gone[NEAR] = malloc((fc->npairs + 1) * sizeof(*gone[NEAR]));
	if (!gone[FAR] || !gone[NEAR]) {
		ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		goto out;
	}
	if (check_pairs(fc, bodies, gone, ngone) != 0 || check_unpaired(fc, gone, ngone) != 0) {
		ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		goto out;
	}
	if (bodies && read_bodies(fc, err) != 0)
		goto out;
	read_subjects(fc);
	r = 0;
out:
	free(gone[FAR]);
	free(gone[NEAR]);
	return r;
}

/* ---- one channel ---------------------------------------------------- */

struct folder_entry {
	const char *name;
	bool present[2];
};

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct folder_entry *)a)->name,
		      ((const struct folder_entry *)b)->name);
}

/* Both sides' selectable folders the channel (and CHANNEL:FOLDER) selects,
 * merged by canonical name and sorted. */
static int merge_folders(const struct verify_run *run, struct store_folder *f[2], size_t nf[2],
			 struct folder_entry **out, size_t *n, struct ferry_error *err)
{
	struct folder_entry *v = calloc(nf[FAR] + nf[NEAR] + 1, sizeof(*v));
	size_t k = 0;

	if (!v)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	for (int s = FAR; s <= NEAR; s++) {
		for (size_t i = 0; i < nf[s]; i++) {
			struct folder_entry *hit = NULL;

			if (f[s][i].attrs & FA_NOSELECT || !names_selected(run->ch, f[s][i].name) ||
			    (run->folder && strcmp(run->folder, f[s][i].name) != 0))
				continue;
			for (size_t j = 0; j < k && !hit; j++)
				if (strcmp(v[j].name, f[s][i].name) == 0)
					hit = &v[j];
			if (!hit) {
				hit = &v[k++];
				hit->name = f[s][i].name;
			}
			hit->present[s] = true;
		}
	}
	if (k)
		qsort(v, k, sizeof(*v), cmp_entry);
	*out = v;
	*n = k;
	return 0;
}

static void add_tally(struct tally *sum, const struct tally *t)
{
	sum->in_step += t->in_step;
	for (int v = 0; v < V_KINDS; v++)
		sum->n[v] += t->n[v];
}

/* The channel's last line: in step or not, and the counts behind it. */
static void print_summary(const struct channel_conf *ch, const struct tally *t)
{
	size_t differences = 0;
	char parts[256] = "";
	size_t used = 0;

	for (int v = 0; v < V_POLICY; v++) {
		if (!t->n[v])
			continue;
		differences += t->n[v];
		used += (size_t)snprintf(parts + used, sizeof(parts) - used, "%s%zu %s",
					 used ? ", " : "", t->n[v], verdict_name[v]);
		if (used >= sizeof(parts))
			used = sizeof(parts) - 1;
	}
	if (!differences && !t->failed) {
		printf("%s: in step: %zu folder%s, %zu messages in step, %zu by policy\n", ch->name,
		       t->folders, t->folders == 1 ? "" : "s", t->in_step, t->n[V_POLICY]);
		return;
	}
	printf("%s: NOT in step: %zu difference%s%s%s%s in %zu folder%s, %zu messages in step, "
	       "%zu by policy",
	       ch->name, differences, differences == 1 ? "" : "s", used ? " (" : "", parts,
	       used ? ")" : "", t->folders, t->folders == 1 ? "" : "s", t->in_step, t->n[V_POLICY]);
	if (t->failed)
		printf("; %zu folder%s could not be read", t->failed, t->failed == 1 ? "" : "s");
	printf("\n");
}

static int verify_folders(const struct verify_run *run, struct store *store[2], struct state *state,
			  struct tally *sum, struct ferry_error *err)
{
	struct store_folder *f[2] = {NULL, NULL};
	size_t nf[2] = {0, 0}, n = 0, nsf = 0;
	struct state_folder *sf = NULL;
	struct folder_entry *v = NULL;
	struct roles_result roles = {0};
	struct state_role_pair *mem = NULL;
	size_t nmem = 0;
	struct ferry_error ignored = {0};
	int r = -1;

	/* Pairs by role or map, as sync pairs them (a state from before them,
	 * read-only here, remembers none). */
	if (state && state_list_role_pairs(state, &mem, &nmem, &ignored) != 0)
		nmem = 0;
	if (store_list_folders(store[FAR], &f[FAR], &nf[FAR], err) != 0 ||
	    store_list_folders(store[NEAR], &f[NEAR], &nf[NEAR], err) != 0 ||
	    roles_apply(run->ch, mem, nmem, f, nf, &roles, err) != 0 ||
	    (state && state_list_folders(state, &sf, &nsf, err) != 0) ||
	    merge_folders(run, f, nf, &v, &n, err) != 0)
		goto out;
	store[NEAR]->aliases = roles.aliases;
	store[NEAR]->naliases = roles.naliases;
	if (run->folder && !n) {
		ferry_error_set(err, FERRY_CAUSE_INCOMPLETE, "no folder '%s' on either side",
				run->folder);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct folder_check fc = {.name = v[i].name,
					  .ch = run->ch,
					  .store = {store[FAR], store[NEAR]},
					  .present = {v[i].present[FAR], v[i].present[NEAR]}};
		struct ferry_error ferr = {0};

		sum->folders++;
		if (verify_folder(&fc, state, find_state_folder(sf, nsf, v[i].name), run->bodies,
				  &ferr) != 0) {
			log_error("%s: %s: not verified: %s", run->ch->name, v[i].name, ferr.msg);
			sum->failed++;
			folder_check_free(&fc);
			if (store[FAR]->broken || store[NEAR]->broken) {
				ferry_error_set(err, FERRY_CAUSE_INCOMPLETE,
						"connection lost at %s: the folders after it were "
						"not verified",
						v[i].name);
				goto out;
			}
			continue;
		}
		print_folder(&fc);
		add_tally(sum, &fc.tally);
		folder_check_free(&fc);
	}
	r = 0;
out:
	free(v);
	state_folders_free(sf, nsf);
	store_folders_free(f[FAR], nf[FAR]);
	store_folders_free(f[NEAR], nf[NEAR]);
	store[NEAR]->naliases = 0;
	roles_result_free(&roles);
	state_role_pairs_free(mem, nmem);
	return r;
}

static int verify_channel(void *arg, struct ferry_error *err)
{
	const struct verify_run *run = arg;
	const struct channel_conf *ch = run->ch;
	struct store *store[2] = {NULL, NULL};
	struct journal_entry *cut = NULL;
	struct state *state = NULL;
	struct tally sum = {0};
	size_t ncut = 0;
	int lockfd = -1, r = -1;

	/* The sync's own lock: a sync running now would make both sides and
	 * the state move under the comparison. */
	if (state_lock(ch->state, &lockfd, err) != 0)
		return -1;
	r = state_open_readonly(ch->state, &state, err);
	if (r < 0)
		goto out;
	if (r == 1)
		log_warn("%s: never synced (no state %s): messages are matched by identity only",
			 ch->name, ch->state);
	r = -1;
	if (state && state_journal_pending(state, &cut, &ncut, err) != 0)
		goto out;
	if (ncut)
		log_warn("%s: the last sync was interrupted; the next one settles what it left",
			 ch->name);
	if (connect_store(ch->far, &store[FAR], err) != 0 ||
	    connect_store(ch->near, &store[NEAR], err) != 0)
		goto out;
	if (verify_folders(run, store, state, &sum, err) != 0)
		goto out;
	print_summary(ch, &sum);
	r = 0;
	for (int v = 0; v < V_POLICY; v++)
		if (sum.n[v])
			r = -1;
	if (sum.failed)
		r = -1;
	if (r != 0) /* the summary said it; no message of its own */
		ferry_error_set(err, FERRY_CAUSE_INCOMPLETE, "%s", "");
out:
	free(cut);
	store_close(store[NEAR]);
	store_close(store[FAR]);
	state_close(state);
	close(lockfd);
	return r;
}

enum ferry_status verify_run(const struct config *cfg, const char *arg, bool bodies)
{
	enum ferry_status worst = FERRY_OK;
	size_t len = arg ? strcspn(arg, ":") : 0;

	for (size_t i = 0; i < cfg->nchannels; i++) {
		struct verify_run run = {&cfg->channels[i], NULL, bodies};
		struct ferry_error err = {0};

		if (arg && (strlen(cfg->channels[i].name) != len ||
			    strncmp(arg, cfg->channels[i].name, len) != 0))
			continue;
		if (arg && arg[len] == ':')
			run.folder = arg + len + 1;
		if (child_run(verify_channel, &run, &err) != 0) {
			if (err.msg[0])
				log_error("%s: %s", cfg->channels[i].name, err.msg);
			worst = ferry_status_worst(worst, err.status);
		}
	}
	if (cfg->nchannels == 0) {
		log_error("%s: no channels configured", cfg->path);
		return FERRY_USAGE;
	}
	return worst;
}
