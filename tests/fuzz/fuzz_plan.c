/* The plan step (sync/plan.c) on folders decoded from arbitrary bytes.
 *
 * Input, one byte per field, 0 once the input runs out:
 *   options  bit 0 far_complete, 1 near_complete, 2 have_state,
 *            3 far_keywords_ok, 4 near_keywords_ok, 5 max_delete_is_percent,
 *            6 force_delete, 7 listings out of uid order (rotated by one)
 *   policy   sync (bits 0-1: both, pull, push, both), delete (bits 2-3),
 *            max_size (bits 4-5, a table)
 *   max_delete (% 101 when a percentage)
 *   nfar, nnear, npairs (each % 65)
 *   a message, 3 bytes: uid gap 1-4 (bits 0-1) and keywords (bits 4-7, a
 *            table); flags (MF_ALL) and identity known (bit 6); identity
 *            (bits 0-3, so that copies meet) and size (bits 4-5, a table)
 *   a pair, 4 bytes: far uid, near uid (0: none; listing uids run up to
 *            about 256, so about half of them exist); status (% 3) and base
 *            flags (bits 2-7); base keywords (bits 0-3) and size (bits 4-5).
 *            A pair reusing a uid is dropped: the state never holds one.
 *
 * The checks are DESIGN.md's rules read as invariants of the output: every
 * action names messages and pairs that exist; nothing goes against the
 * direction or the delete policy; only a complete listing with a usable
 * state deletes; nothing is both kept (copied, flagged, paired) and deleted;
 * every new message is copied, skipped by size or deliberately left; every
 * proven deletion is carried out, kept, copied back or blocked; pairs end
 * with the flags rule 9 says; the order is the one plan.h promises;
 * plan_free frees it all (LeakSanitizer checks the rest). The first bytes
 * also check plan_merge_flags bit by bit. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/flags.h"
#include "store/message.h"
#include "sync/plan.h"
#include "tests/fuzz/fuzz.h"

#define MAX_MSGS 64
#define UID_ROOM 512 /* above any uid the input can make */

static const char *const keyword_sets[] = {
    NULL, "a", "b", "a b", "A", "$label1", "$label1 a b", "B", "", " a  b ",
};
#define NKEYWORD_SETS (sizeof(keyword_sets) / sizeof(keyword_sets[0]))

static const uint64_t sizes[] = {1000, 100, 2000, 5000};
static const uint64_t max_sizes[] = {0, 0, 1500, 3000};

struct reader {
	const uint8_t *p;
	size_t n;
};

static unsigned next(struct reader *r)
{
	if (r->n == 0)
		return 0;
	r->n--;
	return *r->p++;
}

struct folder {
	struct msg far[MAX_MSGS], near[MAX_MSGS];
	struct msg_ident far_ident[MAX_MSGS], near_ident[MAX_MSGS];
	struct pair pairs[MAX_MSGS];
	struct plan_input in;
};

static size_t read_listing(struct reader *r, struct msg *v, struct msg_ident *ident, size_t n,
			   bool rotate)
{
	uint32_t uid = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned a = next(r), b = next(r), c = next(r);

		uid += 1 + (a & 3);
		v[i] = (struct msg){
		    .uid = uid,
		    .flags = b & MF_ALL,
		    .keywords = (char *)keyword_sets[(a >> 4) % NKEYWORD_SETS],
		    .size = sizes[(c >> 4) & 3],
		    .date = 1700000000,
		};
		ident[i] = (struct msg_ident){.hash[0] = (unsigned char)(c & 15)};
		if (b & 0x40)
			v[i].ident = &ident[i];
	}
	/* plan.h asks for uid order; plan.c sorts rather than trusts. */
	if (rotate && n > 1) {
		struct msg first = v[0];

		memmove(v, v + 1, (n - 1) * sizeof(*v));
		v[n - 1] = first;
	}
	return n;
}

static bool uid_used(const struct pair *pairs, size_t n, uint32_t uid, enum side_set s)
{
	for (size_t i = 0; uid && i < n; i++)
		if ((s == SIDE_FAR ? pairs[i].far_uid : pairs[i].near_uid) == uid)
			return true;
	return false;
}

static size_t read_pairs(struct reader *r, struct pair *pairs, size_t n)
{
	size_t kept = 0;

	for (size_t i = 0; i < n; i++) {
		uint32_t far_uid = next(r), near_uid = next(r);
		unsigned a = next(r), b = next(r);

		if (uid_used(pairs, kept, far_uid, SIDE_FAR) ||
		    uid_used(pairs, kept, near_uid, SIDE_NEAR))
			continue;
		pairs[kept++] = (struct pair){
		    .far_uid = far_uid,
		    .near_uid = near_uid,
		    .status = (enum pair_status)(a % 3),
		    .base_flags = (a >> 2) & MF_ALL,
		    .base_keywords = (char *)keyword_sets[(b & 15) % NKEYWORD_SETS],
		    .size = sizes[(b >> 4) & 3],
		};
	}
	return kept;
}

static void read_folder(struct reader *r, struct folder *f)
{
	unsigned options = next(r), policy = next(r), max_delete = next(r);
	size_t nfar = next(r) % (MAX_MSGS + 1), nnear = next(r) % (MAX_MSGS + 1);
	size_t npairs = next(r) % (MAX_MSGS + 1);
	bool percent = options & 32;

	f->in = (struct plan_input){
	    .far = f->far,
	    .near = f->near,
	    .pairs = f->pairs,
	    .far_complete = options & 1,
	    .near_complete = options & 2,
	    .have_state = options & 4,
	    .far_keywords_ok = options & 8,
	    .near_keywords_ok = options & 16,
	    .policy = {.sync = (enum sync_dir)((policy & 3) % 3),
		       .delete = (enum side_set)((policy >> 2) & 3),
		       .max_size = max_sizes[(policy >> 4) & 3],
		       .max_delete_is_percent = percent,
		       .max_delete = percent ? max_delete % 101 : max_delete,
		       .force_delete = options & 64},
	};
	f->in.nfar = read_listing(r, f->far, f->far_ident, nfar, options & 128);
	f->in.nnear = read_listing(r, f->near, f->near_ident, nnear, options & 128);
	f->in.npairs = read_pairs(r, f->pairs, npairs);
}

/* ---- looking things up in the input ---- */

static const struct msg *find_msg(const struct plan_input *in, enum side_set s, uint32_t uid)
{
	const struct msg *v = s == SIDE_FAR ? in->far : in->near;
	size_t n = s == SIDE_FAR ? in->nfar : in->nnear;

	for (size_t i = 0; uid && i < n; i++)
		if (v[i].uid == uid)
			return &v[i];
	return NULL;
}

/* The pair of the state holding uid on side s, or NULL. */
static const struct pair *find_pair(const struct plan_input *in, enum side_set s, uint32_t uid)
{
	for (size_t i = 0; uid && i < in->npairs; i++)
		if ((s == SIDE_FAR ? in->pairs[i].far_uid : in->pairs[i].near_uid) == uid)
			return &in->pairs[i];
	return NULL;
}

static const struct pair *find_exact_pair(const struct plan_input *in, uint32_t far_uid,
					  uint32_t near_uid)
{
	for (size_t i = 0; i < in->npairs; i++)
		if (in->pairs[i].far_uid == far_uid && in->pairs[i].near_uid == near_uid)
			return &in->pairs[i];
	return NULL;
}

static bool flows_into(enum sync_dir sync, enum side_set to)
{
	return sync == SYNC_BOTH || (to == SIDE_NEAR ? sync == SYNC_PULL : sync == SYNC_PUSH);
}

static bool complete(const struct plan_input *in, enum side_set s)
{
	return s == SIDE_FAR ? in->far_complete : in->near_complete;
}

static enum side_set other(enum side_set s)
{
	return s == SIDE_FAR ? SIDE_NEAR : SIDE_FAR;
}

static uint32_t pair_uid(const struct pair *pr, enum side_set s)
{
	return s == SIDE_FAR ? pr->far_uid : pr->near_uid;
}

static uint32_t uid_on(const struct action *a, enum side_set s)
{
	return s == SIDE_FAR ? a->far_uid : a->near_uid;
}

static int side_index(enum side_set s)
{
	return s == SIDE_FAR ? 0 : 1;
}

/* ---- what the actions did, per side and uid ---- */

enum role { R_PAIRED, R_COPIED, R_FLAGGED, R_DELETED, R_KEPT, R_BASE, R_SKIPPED, NROLES };

struct seen {
	const struct plan_input *in;
	unsigned char role[2][NROLES][UID_ROOM]; /* [far, near][role][uid] */
	uint32_t partner[2][UID_ROOM];		 /* of a PAIR action */
	unsigned flags_after[2][UID_ROOM];	 /* the flags once the plan ran */
	unsigned base_after[UID_ROOM];		 /* by far uid, of SET_BASE and PAIR */
	size_t conflicts, forgets;
};

static unsigned char *role_at(struct seen *seen, enum side_set s, enum role r, uint32_t uid)
{
	FUZZ_CHECK(uid > 0 && uid < UID_ROOM, "uid %u is in no listing", uid);
	return &seen->role[side_index(s)][r][uid];
}

/* Each role at most once per message: one copy, one flag change... */
static void note(struct seen *seen, enum side_set s, enum role r, uint32_t uid)
{
	unsigned char *c = role_at(seen, s, r, uid);

	FUZZ_CHECK(*c == 0, "%s uid %u has role %d twice", s == SIDE_FAR ? "far" : "near", uid,
		   (int)r);
	*c = 1;
}

static bool has(struct seen *seen, enum side_set s, enum role r, uint32_t uid)
{
	return uid > 0 && uid < UID_ROOM && seen->role[side_index(s)][r][uid];
}

/* ---- each kind of action ---- */

/* ACT_PAIR (rule 7): two messages no pair holds, of the same identity. */
static void check_pair(struct seen *seen, const struct action *a)
{
	const struct plan_input *in = seen->in;
	const struct msg *far = find_msg(in, SIDE_FAR, a->far_uid);
	const struct msg *near = find_msg(in, SIDE_NEAR, a->near_uid);

	FUZZ_CHECK(far && near, "PAIR %u/%u of missing messages", a->far_uid, a->near_uid);
	FUZZ_CHECK(!find_pair(in, SIDE_FAR, a->far_uid) && !find_pair(in, SIDE_NEAR, a->near_uid),
		   "PAIR %u/%u of messages the state pairs already", a->far_uid, a->near_uid);
	FUZZ_CHECK(far->ident && near->ident &&
		       !memcmp(far->ident->hash, near->ident->hash, sizeof(far->ident->hash)) &&
		       far->size == near->size,
		   "PAIR %u/%u of different messages", a->far_uid, a->near_uid);
	note(seen, SIDE_FAR, R_PAIRED, a->far_uid);
	note(seen, SIDE_NEAR, R_PAIRED, a->near_uid);
	seen->partner[0][a->far_uid] = a->near_uid;
	seen->partner[1][a->near_uid] = a->far_uid;
	seen->base_after[a->far_uid] = a->base_flags;
}

/* A copy from side `from`: of a message there that the other side lacks,
 * in the direction and within the size the channel allows. Only a new
 * message, a pair skipped by size before, or a survivor of rule 10 is
 * copied: any other would be a duplicate. */
static void check_copy(struct seen *seen, const struct action *a, enum side_set from)
{
	const struct plan_input *in = seen->in;
	enum side_set to = other(from);
	uint32_t uid = uid_on(a, from);
	const struct msg *m = find_msg(in, from, uid);
	const struct pair *pr = find_pair(in, from, uid);

	FUZZ_CHECK(flows_into(in->policy.sync, to), "COPY against sync %d", (int)in->policy.sync);
	FUZZ_CHECK(m, "COPY of missing uid %u", uid);
	FUZZ_CHECK(uid_on(a, to) == 0, "COPY of uid %u names a target uid", uid);
	FUZZ_CHECK(a->add == m->flags && a->base_flags == m->flags,
		   "COPY of uid %u gives flags %#x (base %#x) to a message with %#x", uid, a->add,
		   a->base_flags, m->flags);
	FUZZ_CHECK(!pr || !find_msg(in, to, pair_uid(pr, to)),
		   "COPY of uid %u whose counterpart exists", uid);
	if (a->conflict) {
		/* Rule 10: the survivor of a proven deletion, copied back. */
		FUZZ_CHECK(pr && pair_uid(pr, to) && in->have_state && complete(in, to),
			   "conflict COPY of uid %u without a proven deletion", uid);
		FUZZ_CHECK(flows_into(in->policy.sync, from) && (in->policy.delete &from),
			   "conflict COPY of uid %u where the deletion could not go", uid);
		seen->conflicts++;
	} else {
		FUZZ_CHECK(!pr || (!pair_uid(pr, to) && pr->status == PAIR_SKIPPED_SIZE),
			   "COPY of uid %u which a pair holds", uid);
		/* Rule 9: a backup (a side that does not carry out deletions)
		 * holds \Deleted messages too, flag and all. */
		FUZZ_CHECK(!(m->flags & MF_DELETED) || !(in->policy.delete &to),
			   "COPY of \\Deleted uid %u to a side that carries out deletions", uid);
		FUZZ_CHECK(!in->policy.max_size || m->size <= in->policy.max_size,
			   "COPY of uid %u over max_size", uid);
	}
	note(seen, from, R_COPIED, uid);
}

/* Flags change on side s only for a pair present on both sides, only in
 * the direction that lets changes into s, and only as a real change. */
static void check_flags(struct seen *seen, const struct action *a, enum side_set s)
{
	const struct plan_input *in = seen->in;
	uint32_t uid = uid_on(a, s), other_uid = uid_on(a, other(s));
	const struct msg *m = find_msg(in, s, uid);
	bool keywords_ok = s == SIDE_FAR ? in->far_keywords_ok : in->near_keywords_ok;

	FUZZ_CHECK(flows_into(in->policy.sync, s), "FLAGS against sync %d", (int)in->policy.sync);
	FUZZ_CHECK(m && find_msg(in, other(s), other_uid), "FLAGS on %u/%u, not both present",
		   a->far_uid, a->near_uid);
	FUZZ_CHECK(find_exact_pair(in, a->far_uid, a->near_uid) ||
		       (has(seen, SIDE_FAR, R_PAIRED, a->far_uid) &&
			seen->partner[0][a->far_uid] == a->near_uid),
		   "FLAGS on %u/%u, which is no pair", a->far_uid, a->near_uid);
	FUZZ_CHECK(!(a->add & a->remove) && !((a->add | a->remove) & ~MF_ALL),
		   "FLAGS add %#x remove %#x", a->add, a->remove);
	FUZZ_CHECK(!(a->add & m->flags) && !(a->remove & ~m->flags),
		   "FLAGS add %#x remove %#x on flags %#x", a->add, a->remove, m->flags);
	FUZZ_CHECK(a->add || a->remove || a->add_keywords || a->remove_keywords,
		   "FLAGS on %u/%u that change nothing", a->far_uid, a->near_uid);
	FUZZ_CHECK(keywords_ok || (!a->add_keywords && !a->remove_keywords),
		   "keywords for a side that cannot store them");
	/* Rule 9: without a base, \Deleted needs both sides; never spread. */
	FUZZ_CHECK(!(a->add & MF_DELETED) || !has(seen, s, R_PAIRED, uid),
		   "\\Deleted given to uid %u on a first pairing", uid);
	note(seen, s, R_FLAGGED, uid);
	seen->flags_after[side_index(s)][uid] = (m->flags | a->add) & ~a->remove;
}

/* A deletion on side s carries out one on the other side (rule 10): a pair
 * of the state whose other message a complete listing no longer shows, in
 * a run with a usable state (rules 5 and 7), as direction and policy allow. */
static void check_delete(struct seen *seen, const struct action *a, enum side_set s)
{
	const struct plan_input *in = seen->in;
	enum side_set gone = other(s);

	FUZZ_CHECK(in->have_state, "DELETE without a usable state");
	FUZZ_CHECK(complete(in, gone), "DELETE on %s from an incomplete listing",
		   s == SIDE_FAR ? "far" : "near");
	FUZZ_CHECK(flows_into(in->policy.sync, s), "DELETE against sync %d", (int)in->policy.sync);
	FUZZ_CHECK(in->policy.delete &s, "DELETE against delete policy %d", (int)in->policy.delete);
	FUZZ_CHECK(find_msg(in, s, uid_on(a, s)), "DELETE of missing uid %u", uid_on(a, s));
	FUZZ_CHECK(find_exact_pair(in, a->far_uid, a->near_uid) && uid_on(a, gone) &&
		       !find_msg(in, gone, uid_on(a, gone)),
		   "DELETE of %u/%u, no pair gone on the other side", a->far_uid, a->near_uid);
	note(seen, s, R_DELETED, uid_on(a, s));
}

/* FORGET: a pair of the state gone on every side a complete listing shows. */
static void check_forget(struct seen *seen, const struct action *a)
{
	const struct plan_input *in = seen->in;

	FUZZ_CHECK(find_exact_pair(in, a->far_uid, a->near_uid), "FORGET of no pair %u/%u",
		   a->far_uid, a->near_uid);
	for (enum side_set s = SIDE_FAR; s <= SIDE_NEAR; s++)
		FUZZ_CHECK(!uid_on(a, s) || (complete(in, s) && !find_msg(in, s, uid_on(a, s))),
			   "FORGET of %u/%u, present or not known gone", a->far_uid, a->near_uid);
	seen->forgets++;
}

/* KEEP: a deletion proven on one side and deliberately not carried out on
 * the other; the gone side's uid is dropped. */
static void check_keep(struct seen *seen, const struct action *a)
{
	const struct plan_input *in = seen->in;
	enum side_set kept = a->far_uid ? SIDE_FAR : SIDE_NEAR, gone = other(kept);
	const struct pair *pr = find_pair(in, kept, uid_on(a, kept));

	FUZZ_CHECK(!a->far_uid != !a->near_uid, "KEEP %u/%u", a->far_uid, a->near_uid);
	FUZZ_CHECK(pr && pair_uid(pr, gone) && !find_msg(in, gone, pair_uid(pr, gone)) &&
		       find_msg(in, kept, uid_on(a, kept)),
		   "KEEP of %u/%u, no pair gone on one side", a->far_uid, a->near_uid);
	FUZZ_CHECK(in->have_state && complete(in, gone), "KEEP of an unproven deletion");
	note(seen, kept, R_KEPT, uid_on(a, kept));
}

static void check_set_base(struct seen *seen, const struct action *a)
{
	const struct plan_input *in = seen->in;

	FUZZ_CHECK(find_exact_pair(in, a->far_uid, a->near_uid) &&
		       find_msg(in, SIDE_FAR, a->far_uid) && find_msg(in, SIDE_NEAR, a->near_uid),
		   "SET_BASE of %u/%u, no pair present on both sides", a->far_uid, a->near_uid);
	FUZZ_CHECK(!(a->base_flags & ~MF_ALL), "SET_BASE %#x", a->base_flags);
	note(seen, SIDE_FAR, R_BASE, a->far_uid);
	seen->base_after[a->far_uid] = a->base_flags;
}

static void check_skip(struct seen *seen, const struct action *a)
{
	const struct plan_input *in = seen->in;
	enum side_set s = a->far_uid ? SIDE_FAR : SIDE_NEAR;
	const struct msg *m = find_msg(in, s, uid_on(a, s));

	FUZZ_CHECK(!a->far_uid != !a->near_uid, "SKIP_SIZE %u/%u", a->far_uid, a->near_uid);
	FUZZ_CHECK(m && in->policy.max_size && m->size > in->policy.max_size && a->size == m->size,
		   "SKIP_SIZE of uid %u within the limit", uid_on(a, s));
	FUZZ_CHECK(flows_into(in->policy.sync, other(s)), "SKIP_SIZE against sync %d",
		   (int)in->policy.sync);
	note(seen, s, R_SKIPPED, uid_on(a, s));
}

static void check_action(struct seen *seen, const struct action *a)
{
	switch (a->kind) {
	case ACT_PAIR:
		check_pair(seen, a);
		break;
	case ACT_COPY_TO_NEAR:
		check_copy(seen, a, SIDE_FAR);
		break;
	case ACT_COPY_TO_FAR:
		check_copy(seen, a, SIDE_NEAR);
		break;
	case ACT_FLAGS_FAR:
		check_flags(seen, a, SIDE_FAR);
		break;
	case ACT_FLAGS_NEAR:
		check_flags(seen, a, SIDE_NEAR);
		break;
	case ACT_DELETE_FAR:
		check_delete(seen, a, SIDE_FAR);
		break;
	case ACT_DELETE_NEAR:
		check_delete(seen, a, SIDE_NEAR);
		break;
	case ACT_FORGET:
		check_forget(seen, a);
		break;
	case ACT_SET_BASE:
		check_set_base(seen, a);
		break;
	case ACT_SKIP_SIZE:
		check_skip(seen, a);
		break;
	case ACT_KEEP:
		check_keep(seen, a);
		break;
	default:
		FUZZ_CHECK(0, "action kind %d", (int)a->kind);
	}
}

/* ---- the plan as a whole ---- */

/* plan.h: PAIR, FORGET, KEEP, SKIP_SIZE, FLAGS, SET_BASE, COPY, DELETE. */
static int rank(enum action_kind k)
{
	static const int ranks[] = {
	    [ACT_PAIR] = 0,	  [ACT_FORGET] = 1,	  [ACT_KEEP] = 2,
	    [ACT_SKIP_SIZE] = 3,  [ACT_FLAGS_FAR] = 4,	  [ACT_FLAGS_NEAR] = 4,
	    [ACT_SET_BASE] = 5,	  [ACT_COPY_TO_NEAR] = 6, [ACT_COPY_TO_FAR] = 6,
	    [ACT_DELETE_FAR] = 7, [ACT_DELETE_NEAR] = 7,
	};

	return ranks[k];
}

/* What is deleted is nothing else: not copied, flagged, paired or based. */
static void check_exclusive_roles(struct seen *seen, enum side_set s, const struct msg *m)
{
	if (has(seen, s, R_DELETED, m->uid))
		FUZZ_CHECK(!has(seen, s, R_COPIED, m->uid) && !has(seen, s, R_FLAGGED, m->uid) &&
			       !has(seen, s, R_PAIRED, m->uid) && !has(seen, s, R_BASE, m->uid) &&
			       !has(seen, s, R_KEPT, m->uid),
			   "uid %u deleted and kept", m->uid);
	if (has(seen, s, R_PAIRED, m->uid))
		FUZZ_CHECK(!has(seen, s, R_COPIED, m->uid) && !has(seen, s, R_SKIPPED, m->uid),
			   "uid %u paired and copied", m->uid);
}

/* Nothing new is lost: a message no pair holds is paired, copied, skipped
 * by size, or left by design (direction, \Deleted towards a side that
 * deletes). */
static void check_new_message(struct seen *seen, enum side_set s, const struct msg *m)
{
	const struct plan_input *in = seen->in;
	/* A \Deleted message goes only to a side that does not carry out
	 * deletions (rule 9: a backup holds everything). */
	bool wanted = flows_into(in->policy.sync, other(s)) &&
		      (!(m->flags & MF_DELETED) || !(in->policy.delete &other(s)));
	bool too_big = in->policy.max_size && m->size > in->policy.max_size;

	if (find_pair(in, s, m->uid) || has(seen, s, R_PAIRED, m->uid))
		return;
	FUZZ_CHECK(has(seen, s, R_COPIED, m->uid) == (wanted && !too_big),
		   "new %s uid %u: copied %d", s == SIDE_FAR ? "far" : "near", m->uid,
		   has(seen, s, R_COPIED, m->uid));
	FUZZ_CHECK(has(seen, s, R_SKIPPED, m->uid) == (wanted && too_big),
		   "new %s uid %u: skipped %d", s == SIDE_FAR ? "far" : "near", m->uid,
		   has(seen, s, R_SKIPPED, m->uid));
}

static void check_listing(struct seen *seen, enum side_set s)
{
	const struct plan_input *in = seen->in;
	const struct msg *v = s == SIDE_FAR ? in->far : in->near;
	size_t n = s == SIDE_FAR ? in->nfar : in->nnear;

	for (size_t i = 0; i < n; i++) {
		check_exclusive_roles(seen, s, &v[i]);
		check_new_message(seen, s, &v[i]);
	}
}

/* Rule 9: in both directions the two sides of a pair end with the same
 * flags, which become the base; in one direction the source side's flags
 * are the base. */
static void check_converged(struct seen *seen, uint32_t far_uid, uint32_t near_uid,
			    unsigned old_base, bool based)
{
	const struct plan_input *in = seen->in;
	unsigned far = seen->flags_after[0][far_uid], near = seen->flags_after[1][near_uid];
	unsigned base = based ? seen->base_after[far_uid] : old_base;

	if (in->policy.sync == SYNC_BOTH)
		FUZZ_CHECK(far == near, "pair %u/%u ends with %#x / %#x", far_uid, near_uid, far,
			   near);
	FUZZ_CHECK(base == (in->policy.sync == SYNC_PUSH ? near : far),
		   "pair %u/%u: base %#x, flags %#x / %#x", far_uid, near_uid, base, far, near);
}

static void check_pairs_converged(struct seen *seen)
{
	const struct plan_input *in = seen->in;

	for (size_t i = 0; i < in->npairs; i++) {
		const struct pair *pr = &in->pairs[i];

		if (find_msg(in, SIDE_FAR, pr->far_uid) && find_msg(in, SIDE_NEAR, pr->near_uid))
			check_converged(seen, pr->far_uid, pr->near_uid, pr->base_flags,
					has(seen, SIDE_FAR, R_BASE, pr->far_uid));
	}
	for (size_t i = 0; i < in->nfar; i++) {
		uint32_t uid = in->far[i].uid;

		if (has(seen, SIDE_FAR, R_PAIRED, uid))
			check_converged(seen, uid, seen->partner[0][uid], 0, true);
	}
}

/* Every deletion proven on one side ends as a deletion on the other, a
 * KEEP, a conflict copy, or one of the deletions max_delete blocked. */
static void check_deletions_decided(struct seen *seen, const struct plan *plan)
{
	const struct plan_input *in = seen->in;
	size_t undecided[2] = {0, 0};

	for (size_t i = 0; in->have_state && i < in->npairs; i++) {
		const struct pair *pr = &in->pairs[i];
		bool far = find_msg(in, SIDE_FAR, pr->far_uid) != NULL;
		bool near = find_msg(in, SIDE_NEAR, pr->near_uid) != NULL;
		enum side_set kept = far ? SIDE_FAR : SIDE_NEAR;
		uint32_t uid = pair_uid(pr, kept);

		if (!pr->far_uid || !pr->near_uid || far == near || !complete(in, other(kept)))
			continue;
		if (!has(seen, kept, R_DELETED, uid) && !has(seen, kept, R_KEPT, uid) &&
		    !has(seen, kept, R_COPIED, uid))
			undecided[side_index(kept)]++;
	}
	FUZZ_CHECK(undecided[0] == plan->blocked_far && undecided[1] == plan->blocked_near,
		   "undecided deletions %zu/%zu, blocked %zu/%zu", undecided[0], undecided[1],
		   plan->blocked_far, plan->blocked_near);
}

/* Rule 5: what max_delete lets through. */
static void check_max_delete(const struct plan_input *in, size_t count, size_t listed,
			     size_t blocked)
{
	if (blocked)
		FUZZ_CHECK(count == 0 && !in->policy.force_delete, "blocked %zu, deleting %zu",
			   blocked, count);
	if (in->policy.force_delete || count == 0)
		return;
	if (in->policy.max_delete_is_percent)
		FUZZ_CHECK(count <= 10 || count * 100 <= (size_t)in->policy.max_delete * listed,
			   "%zu of %zu deleted, max_delete %u%%", count, listed,
			   in->policy.max_delete);
	else
		FUZZ_CHECK(count <= in->policy.max_delete, "%zu deleted, max_delete %u", count,
			   in->policy.max_delete);
}

static void check_plan(struct seen *seen, const struct plan *plan)
{
	const struct plan_input *in = seen->in;
	size_t deletes[2] = {0, 0};

	for (size_t i = 0; i < in->nfar; i++)
		if (in->far[i].uid < UID_ROOM)
			seen->flags_after[0][in->far[i].uid] = in->far[i].flags;
	for (size_t i = 0; i < in->nnear; i++)
		if (in->near[i].uid < UID_ROOM)
			seen->flags_after[1][in->near[i].uid] = in->near[i].flags;
	FUZZ_CHECK(plan->n <= plan->cap && (plan->n == 0 || plan->v), "plan of %zu/%zu", plan->n,
		   plan->cap);
	for (size_t i = 0; i < plan->n; i++) {
		FUZZ_CHECK(i == 0 || rank(plan->v[i - 1].kind) <= rank(plan->v[i].kind),
			   "action %zu (kind %d) after kind %d", i, (int)plan->v[i].kind,
			   (int)plan->v[i - 1].kind);
		check_action(seen, &plan->v[i]);
		deletes[0] += plan->v[i].kind == ACT_DELETE_FAR;
		deletes[1] += plan->v[i].kind == ACT_DELETE_NEAR;
	}
	FUZZ_CHECK(seen->conflicts == plan->conflicts, "conflicts %zu, counted %zu",
		   plan->conflicts, seen->conflicts);
	check_listing(seen, SIDE_FAR);
	check_listing(seen, SIDE_NEAR);
	check_pairs_converged(seen);
	check_deletions_decided(seen, plan);
	check_max_delete(in, deletes[0], in->nfar, plan->blocked_far);
	check_max_delete(in, deletes[1], in->nnear, plan->blocked_near);
}

/* plan_unpaired: exactly the messages of each side no pair holds, in
 * listing order. */
static void check_unpaired(const struct plan_input *in)
{
	size_t *idx[2] = {NULL, NULL}, n[2] = {0, 0};

	FUZZ_CHECK(plan_unpaired(in, &idx[0], &n[0], &idx[1], &n[1]) == 0, "plan_unpaired");
	for (enum side_set s = SIDE_FAR; s <= SIDE_NEAR; s++) {
		const struct msg *v = s == SIDE_FAR ? in->far : in->near;
		size_t count = s == SIDE_FAR ? in->nfar : in->nnear, j = 0;

		for (size_t i = 0; i < count; i++) {
			if (find_pair(in, s, v[i].uid))
				continue;
			FUZZ_CHECK(j < n[side_index(s)] && idx[side_index(s)][j] == i,
				   "unpaired %s message %zu not reported",
				   s == SIDE_FAR ? "far" : "near", i);
			j++;
		}
		FUZZ_CHECK(j == n[side_index(s)], "%zu unpaired reported, %zu expected",
			   n[side_index(s)], j);
	}
	free(idx[0]);
	free(idx[1]);
}

/* plan_merge_flags (rule 9): agreeing bits stay, differing bits take the
 * value that is not the base. */
static void check_merge(unsigned base, unsigned far, unsigned near)
{
	unsigned merged = plan_merge_flags(base, far, near);

	for (unsigned bit = 1; bit <= MF_DELETED; bit <<= 1) {
		unsigned want = (far & bit) == (near & bit)   ? far & bit
				: (far & bit) != (base & bit) ? far & bit
							      : near & bit;

		FUZZ_CHECK((merged & bit) == want, "merge %#x %#x %#x = %#x", base, far, near,
			   merged);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct folder f;
	static struct seen seen;
	struct reader r = {data, size};
	struct plan plan;

	memset(&seen, 0, sizeof(seen));
	read_folder(&r, &f);
	seen.in = &f.in;
	check_unpaired(&f.in);
	FUZZ_CHECK(plan_folder(&f.in, &plan) == 0, "plan_folder failed");
	check_plan(&seen, &plan);
	plan_free(&plan);
	FUZZ_CHECK(!plan.v && !plan.n && !plan.cap, "plan_free left actions");
	if (size >= 3)
		check_merge(data[0] & MF_ALL, data[1] & MF_ALL, data[2] & MF_ALL);
	return 0;
}
