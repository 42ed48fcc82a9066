/* sync/plan.c: the plan of one folder pair (DESIGN.md "The sync, per
 * channel", rules 5, 7, 9, 10).
 *
 * The first test walks every case of one message through an oracle written
 * from DESIGN.md as a decision table; the named tests pin down the rules one
 * at a time on whole folders. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/flags.h"
#include "sync/plan.h"

/* ---- a folder to plan ---- */

struct folder {
	struct msg *far, *near;
	struct msg_ident *far_ident, *near_ident; /* the listings' identities */
	size_t nfar, nnear;
	struct pair *pairs;
	size_t npairs, cap;
	struct plan_input in;
	struct plan plan;
};

/* Complete listings, a usable state, keywords on both sides, sync and
 * delete both ways, max_delete 50%: the default channel. */
static void folder_init(struct folder *f, size_t cap)
{
	*f = (struct folder){.cap = cap};
	f->far = calloc(cap, sizeof(*f->far));
	f->near = calloc(cap, sizeof(*f->near));
	f->far_ident = calloc(cap, sizeof(*f->far_ident));
	f->near_ident = calloc(cap, sizeof(*f->near_ident));
	f->pairs = calloc(cap, sizeof(*f->pairs));
	ck_assert(f->far && f->near && f->far_ident && f->near_ident && f->pairs);
	f->in = (struct plan_input){
	    .far_complete = true,
	    .near_complete = true,
	    .have_state = true,
	    .far_keywords_ok = true,
	    .near_keywords_ok = true,
	    .policy = {.sync = SYNC_BOTH,
		       .delete = SIDE_BOTH,
		       .max_delete_is_percent = true,
		       .max_delete = 50},
	};
}

static void folder_free(struct folder *f)
{
	plan_free(&f->plan);
	free(f->far);
	free(f->near);
	free(f->far_ident);
	free(f->near_ident);
	free(f->pairs);
}

/* A message of 1000 bytes. The same identity means the same message
 * (rule 6); identity 0: not identified. Its identity lives in a scratch
 * until add_far or add_near copies it into the folder. */
static struct msg message(uint32_t uid, unsigned flags, const char *keywords, unsigned identity)
{
	static struct msg_ident scratch;
	struct msg m = {.uid = uid, .flags = flags, .keywords = (char *)keywords, .size = 1000};

	if (identity) {
		memset(&scratch, 0, sizeof(scratch));
		memcpy(scratch.hash, &identity, sizeof(identity));
		m.ident = &scratch;
	}
	return m;
}

/* The helpers below run 100k times in a test: they abort only on failure,
 * as every ck_assert also records a checkpoint through Check's pipe, which
 * would take most of the run. */
static struct msg *add_far(struct folder *f, struct msg m)
{
	if (f->nfar == f->cap)
		ck_abort_msg("far listing full");
	if (m.ident) {
		f->far_ident[f->nfar] = *m.ident;
		m.ident = &f->far_ident[f->nfar];
	}
	f->far[f->nfar] = m;
	return &f->far[f->nfar++];
}

static struct msg *add_near(struct folder *f, struct msg m)
{
	if (f->nnear == f->cap)
		ck_abort_msg("near listing full");
	if (m.ident) {
		f->near_ident[f->nnear] = *m.ident;
		m.ident = &f->near_ident[f->nnear];
	}
	f->near[f->nnear] = m;
	return &f->near[f->nnear++];
}

static struct pair *add_pair(struct folder *f, uint32_t far_uid, uint32_t near_uid,
			     unsigned base_flags, const char *base_keywords)
{
	struct pair *pr;

	if (f->npairs == f->cap)
		ck_abort_msg("state full");
	pr = &f->pairs[f->npairs++];
	*pr = (struct pair){
	    .far_uid = far_uid,
	    .near_uid = near_uid,
	    .status = PAIR_SYNCED,
	    .base_flags = base_flags,
	    .base_keywords = (char *)base_keywords,
	    .size = 1000,
	};
	return pr;
}

/* Plans the folder as it stands (again, if it was planned before). */
static void run(struct folder *f)
{
	plan_free(&f->plan);
	f->in.far = f->far;
	f->in.nfar = f->nfar;
	f->in.near = f->near;
	f->in.nnear = f->nnear;
	f->in.pairs = f->pairs;
	f->in.npairs = f->npairs;
	ck_assert_int_eq(plan_folder(&f->in, &f->plan), 0);
}

static size_t count(const struct plan *p, enum action_kind kind)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n; i++)
		n += p->v[i].kind == kind;
	return n;
}

/* The action of that kind on those uids, or NULL. */
static const struct action *find(const struct plan *p, enum action_kind kind, uint32_t far_uid,
				 uint32_t near_uid)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].kind == kind && p->v[i].far_uid == far_uid &&
		    p->v[i].near_uid == near_uid)
			return &p->v[i];
	return NULL;
}

static const struct action *must_find(const struct plan *p, enum action_kind kind, uint32_t far_uid,
				      uint32_t near_uid)
{
	const struct action *a = find(p, kind, far_uid, near_uid);

	ck_assert_msg(a, "no action %d on far %u near %u", (int)kind, far_uid, near_uid);
	return a;
}

static const char *const kind_names[] = {
    [ACT_PAIR] = "PAIR",
    [ACT_COPY_TO_NEAR] = "COPY_TO_NEAR",
    [ACT_COPY_TO_FAR] = "COPY_TO_FAR",
    [ACT_FLAGS_FAR] = "FLAGS_FAR",
    [ACT_FLAGS_NEAR] = "FLAGS_NEAR",
    [ACT_DELETE_FAR] = "DELETE_FAR",
    [ACT_DELETE_NEAR] = "DELETE_NEAR",
    [ACT_FORGET] = "FORGET",
    [ACT_SET_BASE] = "SET_BASE",
    [ACT_SKIP_SIZE] = "SKIP_SIZE",
    [ACT_KEEP] = "KEEP",
};

static void kinds_text(const enum action_kind *kinds, size_t n, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? " " : "", kind_names[kinds[i]]);
}

static void plan_text(const struct plan *p, char *buf, size_t len)
{
	enum action_kind kinds[16];
	size_t n = p->n < 16 ? p->n : 16;

	for (size_t i = 0; i < n; i++)
		kinds[i] = p->v[i].kind;
	kinds_text(kinds, n, buf, len);
}

/* ---- every case of one message ---- */

/* Each side's copy of the message relative to the base (\Answered): absent,
 * as the base, with \Seen added (an ordinary change) or with \Flagged added
 * (a change rule 10 protects from a deletion). */
enum state { ABSENT, SAME, SEEN, FLAGGED, NSTATES };

static const char *const state_names[] = {"absent", "same", "+seen", "+flagged"};

#define BASE_FLAGS MF_ANSWERED
#define FAR_UID	   7
#define NEAR_UID   9

static unsigned state_flags(enum state s)
{
	if (s == SEEN)
		return BASE_FLAGS | MF_SEEN;
	if (s == FLAGGED)
		return BASE_FLAGS | MF_FLAGGED;
	return BASE_FLAGS;
}

struct single {
	enum state far, near;
	bool paired; /* the state holds a pair (FAR_UID, NEAR_UID) */
	bool far_complete, near_complete, have_state;
	enum sync_dir sync;
	enum side_set delete;
};

#define NSETTINGS (3 * 4) /* sync x delete */
#define NSINGLE	  (NSETTINGS * NSTATES * NSTATES * 2 * 2 * 2 * 2)

/* Case i: the channel setting in the lowest digits, so that the cases
 * i, i + NSETTINGS, i + 2 * NSETTINGS... share one setting. */
static struct single single_case(int i)
{
	struct single c;

	c.sync = (enum sync_dir)(i % 3);
	i /= 3;
	c.delete = (enum side_set)(i % 4);
	i /= 4;
	c.far = (enum state)(i % NSTATES);
	i /= NSTATES;
	c.near = (enum state)(i % NSTATES);
	i /= NSTATES;
	c.paired = i % 2;
	i /= 2;
	c.far_complete = i % 2;
	i /= 2;
	c.near_complete = i % 2;
	i /= 2;
	c.have_state = i % 2;
	return c;
}

static void describe(const struct single *c, char *buf, size_t len)
{
	static const char *const syncs[] = {"both", "pull", "push"};
	static const char *const sides[] = {"none", "far", "near", "both"};

	snprintf(buf, len,
		 "far %s, near %s, %s, far listing %s, near listing %s, %s, sync %s, delete %s",
		 state_names[c->far], state_names[c->near], c->paired ? "paired" : "no pair",
		 c->far_complete ? "complete" : "cut", c->near_complete ? "complete" : "cut",
		 c->have_state ? "state" : "no state", syncs[c->sync], sides[c->delete]);
}

/* The oracle: what DESIGN.md says must happen, as a decision table. */
struct expected {
	enum action_kind kind[8];
	size_t n;
	bool conflict;
};

static void expect(struct expected *e, enum action_kind kind)
{
	e->kind[e->n++] = kind;
}

static bool into_near(enum sync_dir d)
{
	return d == SYNC_BOTH || d == SYNC_PULL;
}

static bool into_far(enum sync_dir d)
{
	return d == SYNC_BOTH || d == SYNC_PUSH;
}

static bool changed(enum state s)
{
	return s == SEEN || s == FLAGGED;
}

/* a holds a flag b lacks (each state is the base plus at most one flag). */
static bool has_more(enum state a, enum state b)
{
	return changed(a) && a != b;
}

/* Rule 9 with a base: what a side changed goes to the other side if the
 * direction carries it; the base follows what was synced. */
static void oracle_flags(const struct single *c, struct expected *e)
{
	bool base_moves = c->sync == SYNC_BOTH	 ? changed(c->far) || changed(c->near)
			  : c->sync == SYNC_PULL ? changed(c->far)
						 : changed(c->near);

	if (has_more(c->near, c->far) && into_far(c->sync))
		expect(e, ACT_FLAGS_FAR);
	if (has_more(c->far, c->near) && into_near(c->sync))
		expect(e, ACT_FLAGS_NEAR);
	if (base_moves)
		expect(e, ACT_SET_BASE);
}

/* Rules 5, 7, 10 and the delete policy: the message went from side `gone`. */
static void oracle_deletion(const struct single *c, enum side_set gone, struct expected *e)
{
	bool gone_complete = gone == SIDE_FAR ? c->far_complete : c->near_complete;
	enum side_set survivor_side = gone == SIDE_FAR ? SIDE_NEAR : SIDE_FAR;
	enum state survivor = gone == SIDE_FAR ? c->near : c->far;
	bool deletion_travels = gone == SIDE_FAR ? into_near(c->sync) : into_far(c->sync);
	bool copy_travels = gone == SIDE_FAR ? into_far(c->sync) : into_near(c->sync);
	enum side_set may_delete = c->delete; /* clang-format reads "delete &" as C++ */

	if (!gone_complete || !c->have_state)
		return; /* only complete listings delete; no state deletes nothing */
	if (!deletion_travels || !(may_delete & survivor_side)) {
		expect(e, ACT_KEEP); /* not propagated: recorded one-sided */
		return;
	}
	if (survivor == FLAGGED) { /* rule 10's exception */
		if (!copy_travels) {
			expect(e, ACT_KEEP);
			return;
		}
		expect(e, gone == SIDE_FAR ? ACT_COPY_TO_FAR : ACT_COPY_TO_NEAR);
		e->conflict = true;
		return;
	}
	expect(e, gone == SIDE_FAR ? ACT_DELETE_NEAR : ACT_DELETE_FAR);
}

static struct expected oracle(const struct single *c)
{
	struct expected e = {.n = 0};
	bool far = c->far != ABSENT, near = c->near != ABSENT;

	if (!c->paired) {
		/* Rule 7: the same message on both sides is paired, not copied;
		 * the union of flags goes where the direction lets it. */
		if (far && near) {
			expect(&e, ACT_PAIR);
			if (has_more(c->near, c->far) && into_far(c->sync))
				expect(&e, ACT_FLAGS_FAR);
			if (has_more(c->far, c->near) && into_near(c->sync))
				expect(&e, ACT_FLAGS_NEAR);
		} else if (far && into_near(c->sync)) {
			expect(&e, ACT_COPY_TO_NEAR);
		} else if (near && into_far(c->sync)) {
			expect(&e, ACT_COPY_TO_FAR);
		}
		return e;
	}
	if (far && near)
		oracle_flags(c, &e);
	else if (far)
		oracle_deletion(c, SIDE_NEAR, &e);
	else if (near)
		oracle_deletion(c, SIDE_FAR, &e);
	else if (c->far_complete && c->near_complete)
		expect(&e, ACT_FORGET); /* gone on both sides */
	return e;
}

/* The flags the synced side keeps as the base: both merged, or the source's. */
static unsigned expected_base(const struct single *c)
{
	unsigned far = state_flags(c->far), near = state_flags(c->near);

	if (c->sync == SYNC_PULL)
		return far;
	if (c->sync == SYNC_PUSH)
		return near;
	return far | near;
}

/* What each kind of action must say about the one message. */
static void check_single_action(const struct single *c, const struct action *a, const char *what)
{
	unsigned far = state_flags(c->far), near = state_flags(c->near);

	ck_assert_msg(a->far_uid == 0 || a->far_uid == FAR_UID, "%s: far uid %u", what, a->far_uid);
	ck_assert_msg(a->near_uid == 0 || a->near_uid == NEAR_UID, "%s: near uid %u", what,
		      a->near_uid);
	switch (a->kind) {
	case ACT_FLAGS_FAR:
		ck_assert_msg(a->far_uid == FAR_UID && a->add == (near & ~far) && !a->remove,
			      "%s: FLAGS_FAR +%#x -%#x", what, a->add, a->remove);
		break;
	case ACT_FLAGS_NEAR:
		ck_assert_msg(a->near_uid == NEAR_UID && a->add == (far & ~near) && !a->remove,
			      "%s: FLAGS_NEAR +%#x -%#x", what, a->add, a->remove);
		break;
	case ACT_PAIR:
	case ACT_SET_BASE:
		ck_assert_msg(a->far_uid == FAR_UID && a->near_uid == NEAR_UID &&
				  a->base_flags == expected_base(c),
			      "%s: base %#x", what, a->base_flags);
		break;
	case ACT_COPY_TO_NEAR:
		ck_assert_msg(a->far_uid == FAR_UID && a->add == far && a->base_flags == far,
			      "%s: COPY_TO_NEAR", what);
		break;
	case ACT_COPY_TO_FAR:
		ck_assert_msg(a->near_uid == NEAR_UID && a->add == near && a->base_flags == near,
			      "%s: COPY_TO_FAR", what);
		break;
	case ACT_KEEP:
		/* The side the message went from is dropped from the pair. */
		ck_assert_msg(c->far == ABSENT ? !a->far_uid && a->near_uid
					       : a->far_uid && !a->near_uid,
			      "%s: KEEP far %u near %u", what, a->far_uid, a->near_uid);
		break;
	case ACT_DELETE_FAR:
		ck_assert_msg(a->far_uid == FAR_UID, "%s: DELETE_FAR", what);
		break;
	case ACT_DELETE_NEAR:
		ck_assert_msg(a->near_uid == NEAR_UID, "%s: DELETE_NEAR", what);
		break;
	default:
		break;
	}
}

static void build_single(const struct single *c, struct folder *f)
{
	folder_init(f, 2);
	if (c->far != ABSENT)
		add_far(f, message(FAR_UID, state_flags(c->far), NULL, 42));
	if (c->near != ABSENT)
		add_near(f, message(NEAR_UID, state_flags(c->near), NULL, 42));
	if (c->paired)
		add_pair(f, FAR_UID, NEAR_UID, BASE_FLAGS, NULL);
	f->in.far_complete = c->far_complete;
	f->in.near_complete = c->near_complete;
	f->in.have_state = c->have_state;
	f->in.policy.sync = c->sync;
	f->in.policy.delete = c->delete;
}

static void check_single(int i)
{
	struct single c = single_case(i);
	struct expected e = oracle(&c);
	struct folder f;
	char what[256], got[256], want[256];

	describe(&c, what, sizeof(what));
	build_single(&c, &f);
	run(&f);
	plan_text(&f.plan, got, sizeof(got));
	kinds_text(e.kind, e.n, want, sizeof(want));
	ck_assert_msg(f.plan.n == e.n, "%s: got [%s], want [%s]", what, got, want);
	for (size_t k = 0; k < e.n; k++) {
		ck_assert_msg(f.plan.v[k].kind == e.kind[k], "%s: got [%s], want [%s]", what, got,
			      want);
		ck_assert_msg(f.plan.v[k].conflict == e.conflict, "%s: conflict", what);
		check_single_action(&c, &f.plan.v[k], what);
	}
	ck_assert_msg(f.plan.conflicts == (e.conflict ? 1u : 0u), "%s: conflicts", what);
	ck_assert_msg(!f.plan.blocked_far && !f.plan.blocked_near, "%s: blocked", what);
	folder_free(&f);
}

/* One test per channel setting (sync x delete), each walking the 256 cases
 * of the message's two sides, the pair, the listings and the state: a
 * forked test per case would spend minutes forking. */
START_TEST(test_every_case_of_one_message_follows_the_rules)
{
	for (int i = _i; i < NSINGLE; i += NSETTINGS)
		check_single(i);
}
END_TEST

/* ---- rule 9: flags ---- */

START_TEST(test_merge_flags_is_three_way_per_flag)
{
	for (unsigned base = 0; base <= MF_ALL; base++)
		for (unsigned far = 0; far <= MF_ALL; far++)
			for (unsigned near = 0; near <= MF_ALL; near++) {
				unsigned want = 0, got = plan_merge_flags(base, far, near);

				/* Per flag: agreeing sides keep it; otherwise the
				 * side that changed it from the base wins. */
				for (unsigned bit = 1; bit <= MF_ALL; bit <<= 1) {
					bool f = far & bit, n = near & bit, b = base & bit;

					if (f == n ? f : !b)
						want |= bit;
				}
				if (got != want)
					ck_abort_msg("base %#x far %#x near %#x: %#x", base, far,
						     near, got);
			}
}
END_TEST

START_TEST(test_different_flags_set_on_each_side_merge_to_the_union)
{
	struct folder f;
	const struct action *a;

	folder_init(&f, 4);
	add_far(&f, message(1, MF_SEEN | MF_FLAGGED, NULL, 1));
	add_near(&f, message(11, MF_SEEN | MF_ANSWERED, NULL, 1));
	add_pair(&f, 1, 11, MF_SEEN, NULL);
	run(&f);
	ck_assert_uint_eq(f.plan.n, 3);
	a = must_find(&f.plan, ACT_FLAGS_FAR, 1, 11);
	ck_assert_uint_eq(a->add, MF_ANSWERED);
	ck_assert_uint_eq(a->remove, 0);
	a = must_find(&f.plan, ACT_FLAGS_NEAR, 1, 11);
	ck_assert_uint_eq(a->add, MF_FLAGGED);
	ck_assert_uint_eq(a->remove, 0);
	a = must_find(&f.plan, ACT_SET_BASE, 1, 11);
	ck_assert_uint_eq(a->base_flags, MF_SEEN | MF_FLAGGED | MF_ANSWERED);
	folder_free(&f);
}
END_TEST

START_TEST(test_flag_removed_on_one_side_is_removed_on_the_other)
{
	struct folder f;
	const struct action *a;

	folder_init(&f, 4);
	add_far(&f, message(1, 0, NULL, 1));			   /* \Seen removed */
	add_near(&f, message(11, MF_SEEN | MF_ANSWERED, NULL, 1)); /* \Answered added */
	add_pair(&f, 1, 11, MF_SEEN, NULL);
	run(&f);
	a = must_find(&f.plan, ACT_FLAGS_NEAR, 1, 11);
	ck_assert_uint_eq(a->remove, MF_SEEN);
	ck_assert_uint_eq(a->add, 0);
	a = must_find(&f.plan, ACT_FLAGS_FAR, 1, 11);
	ck_assert_uint_eq(a->add, MF_ANSWERED);
	ck_assert_uint_eq(must_find(&f.plan, ACT_SET_BASE, 1, 11)->base_flags, MF_ANSWERED);
	folder_free(&f);
}
END_TEST

START_TEST(test_same_flag_changed_on_both_sides_agrees)
{
	struct folder f;

	folder_init(&f, 4);
	add_far(&f, message(1, MF_SEEN, NULL, 1)); /* both set \Seen */
	add_near(&f, message(11, MF_SEEN, NULL, 1));
	add_pair(&f, 1, 11, 0, NULL);
	add_far(&f, message(2, 0, NULL, 2)); /* both removed \Flagged */
	add_near(&f, message(12, 0, NULL, 2));
	add_pair(&f, 2, 12, MF_FLAGGED, NULL);
	run(&f);
	ck_assert_uint_eq(f.plan.n, 2);
	ck_assert_uint_eq(must_find(&f.plan, ACT_SET_BASE, 1, 11)->base_flags, MF_SEEN);
	ck_assert_uint_eq(must_find(&f.plan, ACT_SET_BASE, 2, 12)->base_flags, 0);
	folder_free(&f);
}
END_TEST

START_TEST(test_unchanged_pair_plans_nothing)
{
	struct folder f;

	folder_init(&f, 4);
	add_far(&f, message(1, MF_SEEN, "$Junk", 1));
	add_near(&f, message(11, MF_SEEN, "$junk", 1));
	add_pair(&f, 1, 11, MF_SEEN, "$JUNK");
	run(&f);
	ck_assert_uint_eq(f.plan.n, 0);
	folder_free(&f);
}
END_TEST

START_TEST(test_deleted_without_a_base_needs_both_sides)
{
	struct folder f;
	const struct action *a;

	folder_init(&f, 4);
	add_far(&f, message(1, MF_SEEN | MF_DELETED, NULL, 1));
	add_near(&f, message(11, MF_FLAGGED, NULL, 1));
	add_far(&f, message(2, MF_DELETED, NULL, 2));
	add_near(&f, message(12, MF_DELETED | MF_SEEN, NULL, 2));
	run(&f);
	a = must_find(&f.plan, ACT_PAIR, 1, 11);
	ck_assert_uint_eq(a->base_flags, MF_SEEN | MF_FLAGGED);
	a = must_find(&f.plan, ACT_FLAGS_FAR, 1, 11);
	ck_assert_uint_eq(a->add, MF_FLAGGED);
	ck_assert_uint_eq(a->remove, MF_DELETED);
	a = must_find(&f.plan, ACT_FLAGS_NEAR, 1, 11);
	ck_assert_uint_eq(a->add, MF_SEEN);
	ck_assert_uint_eq(a->remove, 0);
	a = must_find(&f.plan, ACT_PAIR, 2, 12);
	ck_assert_uint_eq(a->base_flags, MF_DELETED | MF_SEEN);
	ck_assert_uint_eq(must_find(&f.plan, ACT_FLAGS_FAR, 2, 12)->add, MF_SEEN);
	ck_assert_ptr_null(find(&f.plan, ACT_FLAGS_NEAR, 2, 12));
	folder_free(&f);
}
END_TEST

START_TEST(test_deleted_with_a_base_is_a_flag_like_any_other)
{
	struct folder f;

	folder_init(&f, 2);
	add_far(&f, message(1, MF_SEEN | MF_DELETED, NULL, 1));
	add_near(&f, message(11, MF_SEEN, NULL, 1));
	add_pair(&f, 1, 11, MF_SEEN, NULL);
	run(&f);
	ck_assert_uint_eq(must_find(&f.plan, ACT_FLAGS_NEAR, 1, 11)->add, MF_DELETED);
	ck_assert_uint_eq(must_find(&f.plan, ACT_SET_BASE, 1, 11)->base_flags,
			  MF_SEEN | MF_DELETED);
	folder_free(&f);
}
END_TEST

START_TEST(test_pull_never_changes_far_and_takes_its_flags_as_base)
{
	struct folder f;

	folder_init(&f, 2);
	add_far(&f, message(1, MF_SEEN, NULL, 1));
	add_near(&f, message(11, MF_FLAGGED, NULL, 1));
	add_pair(&f, 1, 11, 0, NULL);
	f.in.policy.sync = SYNC_PULL;
	run(&f);
	ck_assert_uint_eq(f.plan.n, 2);
	ck_assert_uint_eq(must_find(&f.plan, ACT_FLAGS_NEAR, 1, 11)->add, MF_SEEN);
	ck_assert_uint_eq(must_find(&f.plan, ACT_SET_BASE, 1, 11)->base_flags, MF_SEEN);

	/* Push is the mirror image. */
	f.in.policy.sync = SYNC_PUSH;
	run(&f);
	ck_assert_uint_eq(f.plan.n, 2);
	ck_assert_uint_eq(must_find(&f.plan, ACT_FLAGS_FAR, 1, 11)->add, MF_FLAGGED);
	ck_assert_uint_eq(must_find(&f.plan, ACT_SET_BASE, 1, 11)->base_flags, MF_FLAGGED);
	folder_free(&f);
}
END_TEST

START_TEST(test_pull_pairing_takes_far_as_base_and_gives_near_the_union)
{
	struct folder f;
	const struct action *a;

	folder_init(&f, 2);
	add_far(&f, message(1, MF_SEEN | MF_DELETED, "a", 1));
	add_near(&f, message(11, MF_FLAGGED, "b", 1));
	f.in.policy.sync = SYNC_PULL;
	f.in.have_state = false;
	run(&f);
	ck_assert_uint_eq(f.plan.n, 2);
	a = must_find(&f.plan, ACT_PAIR, 1, 11);
	ck_assert_uint_eq(a->base_flags, MF_SEEN | MF_DELETED);
	ck_assert(kw_equal(a->base_keywords, "a"));
	a = must_find(&f.plan, ACT_FLAGS_NEAR, 1, 11);
	ck_assert_uint_eq(a->add, MF_SEEN); /* \Deleted needs both sides */
	ck_assert_uint_eq(a->remove, 0);
	ck_assert(kw_equal(a->add_keywords, "a"));
	ck_assert_ptr_null(a->remove_keywords);
	folder_free(&f);
}
END_TEST

/* ---- rule 9: keywords ---- */

START_TEST(test_keywords_merge_three_way)
{
	struct folder f;
	const struct action *a;

	folder_init(&f, 2);
	add_far(&f, message(1, 0, "a b c", 1)); /* added c */
	add_near(&f, message(11, 0, "b", 1));	/* removed a */
	add_pair(&f, 1, 11, 0, "a b");
	run(&f);
	a = must_find(&f.plan, ACT_FLAGS_FAR, 1, 11);
	ck_assert_uint_eq(a->add | a->remove, 0);
	ck_assert_ptr_null(a->add_keywords);
	ck_assert(kw_equal(a->remove_keywords, "a"));
	a = must_find(&f.plan, ACT_FLAGS_NEAR, 1, 11);
	ck_assert(kw_equal(a->add_keywords, "c"));
	ck_assert_ptr_null(a->remove_keywords);
	ck_assert(kw_equal(must_find(&f.plan, ACT_SET_BASE, 1, 11)->base_keywords, "b c"));
	folder_free(&f);
}
END_TEST

START_TEST(test_keyword_removed_on_one_side_is_removed_on_the_other)
{
	struct folder f;
	const struct action *a;

	folder_init(&f, 2);
	add_far(&f, message(1, 0, "b", 1));
	add_near(&f, message(11, 0, "a b", 1));
	add_pair(&f, 1, 11, 0, "a b");
	run(&f);
	ck_assert_uint_eq(f.plan.n, 2);
	a = must_find(&f.plan, ACT_FLAGS_NEAR, 1, 11);
	ck_assert_ptr_null(a->add_keywords);
	ck_assert_str_eq(a->remove_keywords, "a");
	ck_assert_str_eq(must_find(&f.plan, ACT_SET_BASE, 1, 11)->base_keywords, "b");
	folder_free(&f);
}
END_TEST

START_TEST(test_keywords_compare_case_insensitively)
{
	struct folder f;
	const struct action *a;

	folder_init(&f, 2);
	add_far(&f, message(1, 0, "$label1", 1));
	add_near(&f, message(11, 0, "$LABEL1 x", 1));
	add_pair(&f, 1, 11, 0, "$Label1");
	run(&f);
	ck_assert_uint_eq(f.plan.n, 2);
	a = must_find(&f.plan, ACT_FLAGS_FAR, 1, 11);
	ck_assert_str_eq(a->add_keywords, "x");
	ck_assert_ptr_null(a->remove_keywords);
	ck_assert(kw_equal(must_find(&f.plan, ACT_SET_BASE, 1, 11)->base_keywords, "$label1 x"));
	folder_free(&f);
}
END_TEST

START_TEST(test_side_that_cannot_store_keywords_has_not_changed_them)
{
	struct folder f;

	/* The near side lists none: not a removal of the base's "a". */
	folder_init(&f, 2);
	add_far(&f, message(1, 0, "a b", 1));
	add_near(&f, message(11, 0, NULL, 1));
	add_pair(&f, 1, 11, 0, "a");
	f.in.near_keywords_ok = false;
	run(&f);
	ck_assert_uint_eq(f.plan.n, 1); /* and near is not asked to store keywords */
	ck_assert(kw_equal(must_find(&f.plan, ACT_SET_BASE, 1, 11)->base_keywords, "a b"));

	/* The far side the same: near's change still goes nowhere it cannot be
	 * stored, but is recorded in the base. */
	plan_free(&f.plan);
	f.far[0].keywords = NULL;
	f.near[0].keywords = "a c";
	f.in.near_keywords_ok = true;
	f.in.far_keywords_ok = false;
	run(&f);
	ck_assert_uint_eq(f.plan.n, 1);
	ck_assert(kw_equal(must_find(&f.plan, ACT_SET_BASE, 1, 11)->base_keywords, "a c"));
	folder_free(&f);
}
END_TEST

START_TEST(test_keywords_a_side_took_no_more_of_are_not_removed_nor_sent)
{
	struct folder f;
	const struct action *a;

	/* The server took "a" but not "b" (its limit of keywords per folder):
	 * the base holds both, far lists only "a". Not a removal of "b". */
	folder_init(&f, 3);
	add_far(&f, message(1, 0, "a", 1));
	add_near(&f, message(11, 0, "a b", 1));
	add_pair(&f, 1, 11, 0, "a b");
	f.in.far_kw_dropped = "b";
	run(&f);
	ck_assert_uint_eq(f.plan.n, 0);

	/* A keyword added near goes up, less the ones far took no more of. */
	plan_free(&f.plan);
	f.near[0].keywords = "a b c d";
	f.in.far_kw_dropped = "b d";
	run(&f);
	a = must_find(&f.plan, ACT_FLAGS_FAR, 1, 11);
	ck_assert_str_eq(a->add_keywords, "c");
	ck_assert(kw_equal(must_find(&f.plan, ACT_SET_BASE, 1, 11)->base_keywords, "a b c d"));

	/* A new message goes up without them, and keeps them in the base. */
	plan_free(&f.plan);
	add_near(&f, message(12, 0, "b c", 2));
	run(&f);
	a = must_find(&f.plan, ACT_COPY_TO_FAR, 0, 12);
	ck_assert_str_eq(a->add_keywords, "c");
	ck_assert(kw_equal(a->base_keywords, "b c"));
	folder_free(&f);
}
END_TEST

START_TEST(test_copy_to_a_side_without_keywords_keeps_them_in_the_base)
{
	struct folder f;
	const struct action *a;

	folder_init(&f, 2);
	add_near(&f, message(11, MF_SEEN, "$Work", 1));
	f.in.far_keywords_ok = false;
	run(&f);
	a = must_find(&f.plan, ACT_COPY_TO_FAR, 0, 11);
	ck_assert_ptr_null(a->add_keywords);
	ck_assert_str_eq(a->base_keywords, "$Work");
	ck_assert_uint_eq(a->add, MF_SEEN);
	folder_free(&f);
}
END_TEST

/* Rule 15: a message refiled locally by another program (mv, or mutt's
 * copy and delete) arrives in the Maildir with its keywords unknown; the
 * move pass gives its pair the far message, keywords intact. */
static struct msg lost_keywords(uint32_t uid, unsigned flags, unsigned identity)
{
	struct msg m = message(uid, flags, NULL, identity);

	m.keywords_unknown = true;
	return m;
}

START_TEST(test_keywords_a_store_lost_are_not_removed_but_given_back)
{
	struct folder f;
	const struct action *a;

	folder_init(&f, 2);
	add_far(&f, message(1, MF_SEEN, "$Label1 Important", 1));
	add_near(&f, lost_keywords(11, MF_SEEN, 1));
	add_pair(&f, 1, 11, MF_SEEN, "$Label1 Important");
	run(&f);
	ck_assert_uint_eq(f.plan.n, 1);
	a = must_find(&f.plan, ACT_FLAGS_NEAR, 1, 11);
	ck_assert_uint_eq(a->add | a->remove, 0);
	ck_assert(kw_equal(a->add_keywords, "$Label1 Important"));
	ck_assert_ptr_null(a->remove_keywords);
	folder_free(&f);
}
END_TEST

START_TEST(test_flag_change_on_a_message_with_lost_keywords_removes_no_keyword)
{
	struct folder f;
	const struct action *a;

	/* Read in the mail reader after the refile; meanwhile the server
	 * dropped "b" and added "c": the server's keyword changes win. */
	folder_init(&f, 2);
	add_far(&f, message(1, 0, "a c", 1));
	add_near(&f, lost_keywords(11, MF_SEEN | MF_ANSWERED, 1));
	add_pair(&f, 1, 11, 0, "a b");
	run(&f);
	a = must_find(&f.plan, ACT_FLAGS_FAR, 1, 11);
	ck_assert_uint_eq(a->add, MF_SEEN | MF_ANSWERED);
	ck_assert_ptr_null(a->add_keywords);
	ck_assert_ptr_null(a->remove_keywords);
	a = must_find(&f.plan, ACT_FLAGS_NEAR, 1, 11);
	ck_assert(kw_equal(a->add_keywords, "a c"));
	ck_assert_ptr_null(a->remove_keywords);
	a = must_find(&f.plan, ACT_SET_BASE, 1, 11);
	ck_assert_uint_eq(a->base_flags, MF_SEEN | MF_ANSWERED);
	ck_assert(kw_equal(a->base_keywords, "a c"));
	folder_free(&f);
}
END_TEST

START_TEST(test_lost_keywords_are_not_a_change_in_one_direction_either)
{
	static const enum sync_dir dirs[] = {SYNC_PUSH, SYNC_PULL};

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		struct folder f;

		folder_init(&f, 2);
		add_far(&f, message(1, 0, "a", 1));
		add_near(&f, lost_keywords(11, 0, 1));
		add_pair(&f, 1, 11, 0, "a");
		f.in.policy.sync = dirs[i];
		run(&f);
		ck_assert_ptr_null(find(&f.plan, ACT_FLAGS_FAR, 1, 11));
		ck_assert_ptr_null(find(&f.plan, ACT_SET_BASE, 1, 11));
		ck_assert(kw_equal(must_find(&f.plan, ACT_FLAGS_NEAR, 1, 11)->add_keywords, "a"));
		folder_free(&f);
	}
}
END_TEST

START_TEST(test_rebuilt_index_pairs_again_and_takes_the_far_keywords)
{
	struct folder f;
	const struct action *a;

	/* A lost index: no pair, every local row new, keywords unknown. */
	folder_init(&f, 2);
	add_far(&f, message(1, MF_SEEN, "$Label5", 1));
	add_near(&f, lost_keywords(21, MF_SEEN, 1));
	f.in.have_state = false;
	run(&f);
	ck_assert_ptr_null(find(&f.plan, ACT_FLAGS_FAR, 1, 21));
	ck_assert(kw_equal(must_find(&f.plan, ACT_PAIR, 1, 21)->base_keywords, "$Label5"));
	a = must_find(&f.plan, ACT_FLAGS_NEAR, 1, 21);
	ck_assert(kw_equal(a->add_keywords, "$Label5"));
	ck_assert_ptr_null(a->remove_keywords);
	folder_free(&f);
}
END_TEST

START_TEST(test_message_with_lost_keywords_copied_back_takes_the_base)
{
	struct folder f;
	const struct action *a;

	/* Expunged on the server, flagged locally after a refile (rule 10):
	 * it goes back up with the keywords it had. */
	folder_init(&f, 2);
	add_near(&f, lost_keywords(11, MF_FLAGGED, 1));
	add_pair(&f, 1, 11, 0, "$Label2");
	run(&f);
	a = must_find(&f.plan, ACT_COPY_TO_FAR, 0, 11);
	ck_assert(a->conflict);
	ck_assert(kw_equal(a->add_keywords, "$Label2"));
	ck_assert(kw_equal(a->base_keywords, "$Label2"));
	folder_free(&f);
}
END_TEST

/* ---- rule 10: deletion against a concurrent change ---- */

START_TEST(test_flagged_on_server_while_deleted_locally_is_copied_back)
{
	struct folder f;
	const struct action *a;

	folder_init(&f, 4);
	add_far(&f, message(1, MF_SEEN | MF_FLAGGED, "x", 1));
	add_pair(&f, 1, 11, MF_SEEN, "x");
	run(&f);
	ck_assert_uint_eq(f.plan.n, 1);
	a = must_find(&f.plan, ACT_COPY_TO_NEAR, 1, 0);
	ck_assert(a->conflict);
	ck_assert_uint_eq(a->add, MF_SEEN | MF_FLAGGED);
	ck_assert_uint_eq(a->base_flags, MF_SEEN | MF_FLAGGED);
	ck_assert_str_eq(a->add_keywords, "x");
	ck_assert_uint_eq(f.plan.conflicts, 1);
	folder_free(&f);
}
END_TEST

START_TEST(test_keyword_added_on_server_while_deleted_locally_is_copied_back)
{
	struct folder f;
	const struct action *a;

	folder_init(&f, 4);
	add_far(&f, message(1, 0, "$Important", 1));
	add_pair(&f, 1, 11, 0, NULL);
	run(&f);
	a = must_find(&f.plan, ACT_COPY_TO_NEAR, 1, 0);
	ck_assert(a->conflict);
	ck_assert_str_eq(a->add_keywords, "$Important");

	/* A server that cannot store keywords cannot have added one. */
	f.in.far_keywords_ok = false;
	run(&f);
	must_find(&f.plan, ACT_DELETE_FAR, 1, 11);
	ck_assert_uint_eq(f.plan.conflicts, 0);
	folder_free(&f);
}
END_TEST

START_TEST(test_flagged_locally_while_expunged_on_server_is_copied_back)
{
	struct folder f;

	folder_init(&f, 2);
	add_near(&f, message(11, MF_FLAGGED, NULL, 1));
	add_pair(&f, 1, 11, 0, NULL);
	run(&f);
	ck_assert_uint_eq(f.plan.n, 1);
	ck_assert(must_find(&f.plan, ACT_COPY_TO_FAR, 0, 11)->conflict);
	ck_assert_uint_eq(f.plan.conflicts, 1);
	folder_free(&f);
}
END_TEST

START_TEST(test_deletion_wins_over_other_changes)
{
	struct folder f;

	folder_init(&f, 4);
	add_far(&f, message(1, MF_SEEN | MF_ANSWERED, NULL, 1)); /* read and answered */
	add_pair(&f, 1, 11, 0, NULL);
	add_far(&f, message(2, MF_FLAGGED, "k", 2)); /* flagged before, not newly */
	add_pair(&f, 2, 12, MF_FLAGGED, "k");
	add_far(&f, message(3, 0, "a", 3)); /* a keyword removed, none added */
	add_pair(&f, 3, 13, 0, "a b");
	run(&f);
	ck_assert_uint_eq(f.plan.n, 3);
	ck_assert_uint_eq(count(&f.plan, ACT_DELETE_FAR), 3);
	ck_assert_uint_eq(f.plan.conflicts, 0);
	folder_free(&f);
}
END_TEST

/* ---- rule 7: unpaired before copied ---- */

START_TEST(test_first_sync_onto_two_full_sides_pairs_instead_of_copying)
{
	struct folder f;
	bool *far_seen = calloc(3000, 1), *near_seen = calloc(3000, 1);

	ck_assert(far_seen && near_seen);
	folder_init(&f, 600);
	/* 500 messages on both sides, listed in opposite orders of identity,
	 * plus 10 of each side's own. */
	for (unsigned i = 1; i <= 500; i++) {
		add_far(&f, message(i, MF_SEEN, NULL, i));
		add_near(&f, message(1000 + i, MF_SEEN, NULL, 501 - i));
	}
	for (unsigned i = 1; i <= 10; i++) {
		add_far(&f, message(500 + i, 0, NULL, 10000 + i));
		add_near(&f, message(1500 + i, 0, NULL, 20000 + i));
	}
	f.in.have_state = false;
	run(&f);
	ck_assert_uint_eq(count(&f.plan, ACT_PAIR), 500);
	ck_assert_uint_eq(count(&f.plan, ACT_COPY_TO_NEAR), 10);
	ck_assert_uint_eq(count(&f.plan, ACT_COPY_TO_FAR), 10);
	ck_assert_uint_eq(f.plan.n, 520);
	for (size_t i = 0; i < f.plan.n; i++) {
		const struct action *a = &f.plan.v[i];

		if (a->kind == ACT_PAIR) /* the same message: far i is near 1501 - i */
			ck_assert_uint_eq(a->near_uid, 1501 - a->far_uid);
		ck_assert_msg(!a->far_uid || !far_seen[a->far_uid], "far %u twice", a->far_uid);
		ck_assert_msg(!a->near_uid || !near_seen[a->near_uid], "near %u twice",
			      a->near_uid);
		far_seen[a->far_uid] = near_seen[a->near_uid] = true;
	}
	free(far_seen);
	free(near_seen);
	folder_free(&f);
}
END_TEST

START_TEST(test_identical_copies_are_counted)
{
	struct folder f;

	folder_init(&f, 4);
	add_far(&f, message(3, 0, NULL, 7));
	add_far(&f, message(1, 0, NULL, 7));
	add_far(&f, message(2, 0, NULL, 7));
	add_near(&f, message(11, 0, NULL, 7));
	add_near(&f, message(10, 0, NULL, 7));
	run(&f);
	ck_assert_uint_eq(f.plan.n, 3);
	must_find(&f.plan, ACT_PAIR, 1, 10);
	must_find(&f.plan, ACT_PAIR, 2, 11);
	must_find(&f.plan, ACT_COPY_TO_NEAR, 3, 0);
	folder_free(&f);
}
END_TEST

START_TEST(test_identity_is_header_hash_and_size)
{
	struct folder f;

	folder_init(&f, 4);
	add_far(&f, message(1, 0, NULL, 7));
	add_near(&f, message(11, 0, NULL, 7))->size = 1001; /* same headers, other body */
	add_far(&f, message(2, 0, NULL, 0));		    /* not identified */
	add_near(&f, message(12, 0, NULL, 0));
	run(&f);
	ck_assert_uint_eq(f.plan.n, 4);
	ck_assert_uint_eq(count(&f.plan, ACT_PAIR), 0);
	ck_assert_uint_eq(count(&f.plan, ACT_COPY_TO_NEAR), 2);
	ck_assert_uint_eq(count(&f.plan, ACT_COPY_TO_FAR), 2);
	folder_free(&f);
}
END_TEST

/* A message whose header a server rewrote (Cyrus: 8-bit bytes as 'X'):
 * the exact identities differ, the munged hashes agree (rule 6). */
static struct msg rewritten(uint32_t uid, unsigned identity, unsigned munged)
{
	struct msg m = message(uid, 0, NULL, identity);

	memcpy(m.ident->munged, &munged, sizeof(munged));
	m.munged_known = true;
	return m;
}

START_TEST(test_rewritten_copy_pairs_by_munged_hash_after_exact_identity)
{
	struct folder f;

	folder_init(&f, 4);
	f.in.have_state = false;	    /* a lost state */
	add_far(&f, rewritten(1, 7, 70));   /* Cyrus's copy of 11 */
	add_near(&f, rewritten(11, 8, 70)); /* the local file */
	add_far(&f, rewritten(2, 9, 90));   /* the same message exactly ... */
	add_near(&f, rewritten(12, 9, 90));
	add_near(&f, rewritten(13, 10, 90)); /* ... and one only munged alike: exact first */
	run(&f);
	ck_assert_uint_eq(f.plan.n, 3);
	must_find(&f.plan, ACT_PAIR, 1, 11);
	must_find(&f.plan, ACT_PAIR, 2, 12);
	must_find(&f.plan, ACT_COPY_TO_FAR, 0, 13);
	folder_free(&f);
}
END_TEST

START_TEST(test_munged_hash_needs_the_same_size_and_both_hashes_known)
{
	struct folder f;

	folder_init(&f, 4);
	add_far(&f, rewritten(1, 7, 70));
	add_near(&f, rewritten(11, 8, 70))->size = 1001;
	add_far(&f, rewritten(2, 9, 0));
	add_near(&f, message(12, 0, NULL, 10)); /* from the index: no munged hash */
	run(&f);
	ck_assert_uint_eq(count(&f.plan, ACT_PAIR), 0);
	ck_assert_uint_eq(count(&f.plan, ACT_COPY_TO_NEAR), 2);
	ck_assert_uint_eq(count(&f.plan, ACT_COPY_TO_FAR), 2);
	folder_free(&f);
}
END_TEST

START_TEST(test_new_message_already_deleted_is_not_copied)
{
	struct folder f;

	folder_init(&f, 2);
	add_far(&f, message(1, MF_DELETED | MF_SEEN, NULL, 1));
	add_near(&f, message(11, MF_DELETED, NULL, 2));
	run(&f);
	ck_assert_uint_eq(f.plan.n, 0);
	folder_free(&f);
}
END_TEST

/* Rule 9, last sentences: a new message already \Deleted goes, with the
 * flag, only to a side that does not carry out deletions (a backup holds
 * everything the server holds); a side that deletes never gets it. */
static const struct deleted_new_case {
	enum side_set from; /* where the new \Deleted message is */
	enum sync_dir sync;
	enum side_set delete;
	bool copied;
} deleted_new_cases[] = {
    {SIDE_FAR, SYNC_BOTH, SIDE_BOTH, false},  {SIDE_FAR, SYNC_BOTH, SIDE_NEAR, false},
    {SIDE_FAR, SYNC_BOTH, SIDE_FAR, true},    {SIDE_FAR, SYNC_BOTH, SIDE_NONE, true},
    {SIDE_FAR, SYNC_PULL, SIDE_NONE, true},   {SIDE_FAR, SYNC_PULL, SIDE_FAR, true},
    {SIDE_FAR, SYNC_PULL, SIDE_BOTH, false},  {SIDE_FAR, SYNC_PUSH, SIDE_NONE, false},
    {SIDE_NEAR, SYNC_BOTH, SIDE_BOTH, false}, {SIDE_NEAR, SYNC_BOTH, SIDE_FAR, false},
    {SIDE_NEAR, SYNC_BOTH, SIDE_NEAR, true},  {SIDE_NEAR, SYNC_BOTH, SIDE_NONE, true},
    {SIDE_NEAR, SYNC_PUSH, SIDE_NONE, true},  {SIDE_NEAR, SYNC_PUSH, SIDE_BOTH, false},
    {SIDE_NEAR, SYNC_PULL, SIDE_NONE, false},
};

START_TEST(test_new_deleted_message_is_copied_with_its_flag_only_where_nothing_is_deleted)
{
	static const char *const syncs[] = {"both", "pull", "push"};
	static const char *const sides[] = {"none", "far", "near", "both"};
	const struct deleted_new_case *c = &deleted_new_cases[_i];
	bool to_near = c->from == SIDE_FAR;
	enum action_kind kind = to_near ? ACT_COPY_TO_NEAR : ACT_COPY_TO_FAR;
	struct folder f;
	const struct action *a;

	folder_init(&f, 2);
	f.in.policy.sync = c->sync;
	f.in.policy.delete = c->delete;
	if (to_near)
		add_far(&f, message(3, MF_DELETED | MF_SEEN, "kept", 1));
	else
		add_near(&f, message(13, MF_DELETED | MF_SEEN, "kept", 1));
	run(&f);
	a = find(&f.plan, kind, to_near ? 3 : 0, to_near ? 0 : 13);
	ck_assert_msg((a != NULL) == c->copied && f.plan.n == (c->copied ? 1u : 0u),
		      "new \\Deleted on %s, sync %s, delete %s: %s, plan of %zu", sides[c->from],
		      syncs[c->sync], sides[c->delete], a ? "copied" : "not copied", f.plan.n);
	if (a) {
		ck_assert_uint_eq(a->add, MF_DELETED | MF_SEEN);
		ck_assert_uint_eq(a->base_flags, MF_DELETED | MF_SEEN);
		ck_assert_str_eq(a->add_keywords, "kept");
	}
	folder_free(&f);
}
END_TEST

START_TEST(test_copy_carries_flags_keywords_and_size)
{
	struct folder f;
	const struct action *a;

	folder_init(&f, 2);
	add_far(&f, message(5, MF_SEEN | MF_ANSWERED, "b A", 1))->size = 4321;
	run(&f);
	a = must_find(&f.plan, ACT_COPY_TO_NEAR, 5, 0);
	ck_assert_uint_eq(a->add, MF_SEEN | MF_ANSWERED);
	ck_assert_uint_eq(a->base_flags, MF_SEEN | MF_ANSWERED);
	ck_assert_str_eq(a->add_keywords, "A b");
	ck_assert_str_eq(a->base_keywords, "A b");
	ck_assert_uint_eq(a->size, 4321);
	ck_assert(!a->conflict);
	folder_free(&f);
}
END_TEST

/* ---- rule 5: max_delete ---- */

/* n pairs; the first `deleted` are gone from near (so deleted on far). */
static void folder_with_near_deletions(struct folder *f, unsigned n, unsigned deleted)
{
	folder_init(f, n + 1);
	for (unsigned i = 1; i <= n; i++) {
		add_far(f, message(i, 0, NULL, i));
		if (i > deleted)
			add_near(f, message(1000 + i, 0, NULL, i));
		add_pair(f, i, 1000 + i, 0, NULL);
	}
}

START_TEST(test_deleting_more_than_max_delete_stops_until_forced)
{
	struct folder f;

	folder_with_near_deletions(&f, 100, 60);
	f.far[99].flags = MF_SEEN; /* a survivor's change still goes */
	run(&f);
	ck_assert_uint_eq(count(&f.plan, ACT_DELETE_FAR), 0);
	ck_assert_uint_eq(f.plan.blocked_far, 60);
	ck_assert_uint_eq(f.plan.blocked_near, 0);
	must_find(&f.plan, ACT_FLAGS_NEAR, 100, 1100);
	must_find(&f.plan, ACT_SET_BASE, 100, 1100);
	ck_assert_uint_eq(f.plan.n, 2);

	f.in.policy.force_delete = true;
	run(&f);
	ck_assert_uint_eq(count(&f.plan, ACT_DELETE_FAR), 60);
	ck_assert_uint_eq(f.plan.blocked_far, 0);
	ck_assert_uint_eq(f.plan.n, 62);
	folder_free(&f);
}
END_TEST

START_TEST(test_deleting_exactly_max_delete_goes_through)
{
	struct folder f;

	folder_with_near_deletions(&f, 100, 50);
	run(&f);
	ck_assert_uint_eq(count(&f.plan, ACT_DELETE_FAR), 50);
	ck_assert_uint_eq(f.plan.blocked_far, 0);
	folder_free(&f);
}
END_TEST

START_TEST(test_max_delete_counts_each_side_on_its_own)
{
	struct folder f;

	/* 60 of 100 expunged on the server: near stops, far is not affected. */
	folder_init(&f, 101);
	for (unsigned i = 1; i <= 100; i++) {
		if (i > 60)
			add_far(&f, message(i, 0, NULL, i));
		add_near(&f, message(1000 + i, 0, NULL, i));
		add_pair(&f, i, 1000 + i, 0, NULL);
	}
	run(&f);
	ck_assert_uint_eq(f.plan.n, 0);
	ck_assert_uint_eq(f.plan.blocked_near, 60);
	ck_assert_uint_eq(f.plan.blocked_far, 0);
	folder_free(&f);
}
END_TEST

START_TEST(test_small_folders_never_stop)
{
	struct folder f;

	folder_with_near_deletions(&f, 20, 11); /* 55%, and more than 10 */
	run(&f);
	ck_assert_uint_eq(count(&f.plan, ACT_DELETE_FAR), 0);
	ck_assert_uint_eq(f.plan.blocked_far, 11);
	folder_free(&f);

	folder_with_near_deletions(&f, 10, 6); /* 60%, but only 6 */
	run(&f);
	ck_assert_uint_eq(count(&f.plan, ACT_DELETE_FAR), 6);
	ck_assert_uint_eq(f.plan.blocked_far, 0);
	folder_free(&f);

	folder_with_near_deletions(&f, 10, 10); /* everything, but only 10 */
	run(&f);
	ck_assert_uint_eq(count(&f.plan, ACT_DELETE_FAR), 10);
	folder_free(&f);
}
END_TEST

/* Rule 4's sparse plan lists only the changed messages: the percentage is
 * of the side's size, not of the listing's. */
START_TEST(test_max_delete_percent_is_of_the_side_when_listings_are_partial)
{
	struct folder f;

	folder_with_near_deletions(&f, 12, 12); /* only the 12 deleted pairs listed */
	f.in.far_size = 80;
	f.in.near_size = 68;
	run(&f);
	ck_assert_uint_eq(count(&f.plan, ACT_DELETE_FAR), 12);
	ck_assert_uint_eq(f.plan.blocked_far, 0);
	folder_free(&f);

	folder_with_near_deletions(&f, 12, 12);
	f.in.far_size = 20; /* 60% of the side */
	f.in.near_size = 8;
	run(&f);
	ck_assert_uint_eq(count(&f.plan, ACT_DELETE_FAR), 0);
	ck_assert_uint_eq(f.plan.blocked_far, 12);
	folder_free(&f);
}
END_TEST

START_TEST(test_absolute_max_delete_is_a_count)
{
	struct folder f;

	folder_with_near_deletions(&f, 100, 5);
	f.in.policy.max_delete_is_percent = false;
	f.in.policy.max_delete = 5;
	run(&f);
	ck_assert_uint_eq(count(&f.plan, ACT_DELETE_FAR), 5);
	folder_free(&f);

	folder_with_near_deletions(&f, 100, 6);
	f.in.policy.max_delete_is_percent = false;
	f.in.policy.max_delete = 5;
	run(&f);
	ck_assert_uint_eq(count(&f.plan, ACT_DELETE_FAR), 0);
	ck_assert_uint_eq(f.plan.blocked_far, 6);
	folder_free(&f);
}
END_TEST

/* ---- rules 5 and 7: what may not delete ---- */

START_TEST(test_incomplete_listing_deletes_nothing)
{
	struct folder f;

	folder_with_near_deletions(&f, 5, 3);
	f.in.near_complete = false;
	run(&f);
	ck_assert_uint_eq(f.plan.n, 0);
	folder_free(&f);

	/* Gone from both, but one listing was cut: not forgotten either. */
	folder_init(&f, 2);
	add_pair(&f, 1, 11, 0, NULL);
	f.in.far_complete = false;
	run(&f);
	ck_assert_uint_eq(f.plan.n, 0);
	f.in.far_complete = true;
	run(&f);
	must_find(&f.plan, ACT_FORGET, 1, 11);
	folder_free(&f);
}
END_TEST

START_TEST(test_folder_without_state_deletes_nothing)
{
	struct folder f;

	folder_with_near_deletions(&f, 5, 3);
	f.in.have_state = false;
	run(&f);
	ck_assert_uint_eq(f.plan.n, 0);
	folder_free(&f);
}
END_TEST

/* ---- pairs kept by policy or skipped by size ---- */

START_TEST(test_kept_pair_is_never_copied_and_forgotten_when_its_message_goes)
{
	struct folder f;

	folder_init(&f, 2);
	add_far(&f, message(5, MF_FLAGGED, "x", 1));
	add_pair(&f, 5, 0, 0, NULL)->status = PAIR_KEPT;
	run(&f);
	ck_assert_uint_eq(f.plan.n, 0);

	f.nfar = 0;
	f.in.far_complete = false;
	run(&f);
	ck_assert_uint_eq(f.plan.n, 0);
	f.in.far_complete = true;
	run(&f);
	ck_assert_uint_eq(f.plan.n, 1);
	must_find(&f.plan, ACT_FORGET, 5, 0);
	folder_free(&f);
}
END_TEST

START_TEST(test_deletion_not_propagated_is_kept_one_sided)
{
	struct folder f;

	folder_with_near_deletions(&f, 2, 1);
	f.in.policy.delete = SIDE_NEAR; /* far may not delete */
	run(&f);
	ck_assert_uint_eq(f.plan.n, 1);
	must_find(&f.plan, ACT_KEEP, 1, 0);
	folder_free(&f);
}
END_TEST

START_TEST(test_oversized_message_is_skipped_then_copied_when_the_limit_rises)
{
	struct folder f;
	const struct action *a;
	struct pair *pr;

	folder_init(&f, 2);
	add_far(&f, message(5, MF_SEEN, NULL, 1))->size = 5000;
	f.in.policy.max_size = 1000;
	run(&f);
	ck_assert_uint_eq(f.plan.n, 1);
	a = must_find(&f.plan, ACT_SKIP_SIZE, 5, 0);
	ck_assert_uint_eq(a->size, 5000);

	/* The executor records the skip; the next runs see the pair. */
	pr = add_pair(&f, 5, 0, 0, NULL);
	pr->status = PAIR_SKIPPED_SIZE;
	pr->size = 5000;
	run(&f);
	ck_assert_uint_eq(f.plan.n, 0);
	f.in.policy.max_size = 5000;
	run(&f);
	ck_assert_uint_eq(f.plan.n, 1);
	a = must_find(&f.plan, ACT_COPY_TO_NEAR, 5, 0);
	ck_assert_uint_eq(a->add, MF_SEEN);
	f.in.policy.max_size = 0;
	run(&f);
	must_find(&f.plan, ACT_COPY_TO_NEAR, 5, 0);
	f.in.policy.sync = SYNC_PUSH; /* not this direction any more */
	run(&f);
	ck_assert_uint_eq(f.plan.n, 0);
	f.nfar = 0; /* gone meanwhile */
	run(&f);
	must_find(&f.plan, ACT_FORGET, 5, 0);
	folder_free(&f);
}
END_TEST

/* max_age: a window. Older messages are neither copied nor deleted; one of
 * unknown date (0) counts as inside. */
START_TEST(test_max_age_copies_only_messages_inside_the_window)
{
	struct folder f;

	folder_init(&f, 4);
	add_far(&f, message(1, 0, NULL, 1))->date = 1000;	 /* old */
	add_far(&f, message(2, 0, NULL, 2))->date = 5000;	 /* inside */
	add_far(&f, message(3, 0, NULL, 3))->date = 0;		 /* unknown */
	add_near(&f, message(11, MF_SEEN, NULL, 4))->date = 999; /* old, local */
	f.in.policy.min_date = 2000;
	run(&f);
	ck_assert_ptr_null(find(&f.plan, ACT_COPY_TO_NEAR, 1, 0));
	must_find(&f.plan, ACT_COPY_TO_NEAR, 2, 0);
	must_find(&f.plan, ACT_COPY_TO_NEAR, 3, 0);
	ck_assert_ptr_null(find(&f.plan, ACT_COPY_TO_FAR, 0, 11));
	ck_assert_uint_eq(f.plan.outside_window, 2);
	ck_assert_uint_eq(f.plan.n, 2);
	f.in.policy.min_date = 0; /* no window: all of them */
	run(&f);
	ck_assert_uint_eq(count(&f.plan, ACT_COPY_TO_NEAR), 3);
	ck_assert_uint_eq(count(&f.plan, ACT_COPY_TO_FAR), 1);
	ck_assert_uint_eq(f.plan.outside_window, 0);
	folder_free(&f);
}
END_TEST

START_TEST(test_max_age_keeps_an_old_message_deleted_on_the_other_side)
{
	struct folder f;

	folder_with_near_deletions(&f, 4, 2); /* pairs 1 and 2 gone near */
	f.far[0].date = 1000;		      /* 1: old */
	f.far[1].date = 5000;		      /* 2: inside */
	f.in.policy.min_date = 2000;
	f.in.policy.max_delete = 100;
	run(&f);
	must_find(&f.plan, ACT_KEEP, 1, 0);
	must_find(&f.plan, ACT_DELETE_FAR, 2, 1002);
	ck_assert_ptr_null(find(&f.plan, ACT_DELETE_FAR, 1, 1001));
	ck_assert_uint_eq(f.plan.outside_window, 1);
	folder_free(&f);
	/* Old on the far side and gone there: the local copy stays too. */
	folder_init(&f, 2);
	add_near(&f, message(1001, 0, NULL, 1))->date = 1000;
	add_pair(&f, 1, 1001, 0, NULL);
	f.in.policy.min_date = 2000;
	run(&f);
	must_find(&f.plan, ACT_KEEP, 0, 1001);
	ck_assert_uint_eq(count(&f.plan, ACT_DELETE_NEAR), 0);
	folder_free(&f);
}
END_TEST

START_TEST(test_oversized_local_message_is_skipped_on_push)
{
	struct folder f;

	folder_init(&f, 2);
	add_near(&f, message(15, 0, NULL, 1))->size = 5000;
	f.in.policy.max_size = 4999;
	f.in.policy.sync = SYNC_PUSH;
	run(&f);
	must_find(&f.plan, ACT_SKIP_SIZE, 0, 15);
	f.in.policy.sync = SYNC_PULL;
	run(&f);
	ck_assert_uint_eq(f.plan.n, 0);
	folder_free(&f);
}
END_TEST

/* ---- windows: a first sync into an empty side ---- */

static int cmp_action(const void *a, const void *b)
{
	const struct action *x = a, *y = b;

	if (x->kind != y->kind)
		return (x->kind > y->kind) - (x->kind < y->kind);
	if (x->far_uid != y->far_uid)
		return (x->far_uid > y->far_uid) - (x->far_uid < y->far_uid);
	return (x->near_uid > y->near_uid) - (x->near_uid < y->near_uid);
}

static bool same_keywords(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Plans f whole, then in windows of window messages of its one non-empty
 * side, and checks that the two give the same actions. */
static void assert_windows_plan_alike(struct folder *f, size_t window)
{
	struct plan parts = {0};
	struct plan_input in;
	bool far = f->nfar > 0;
	size_t n = far ? f->nfar : f->nnear;

	run(f);
	in = f->in;
	ck_assert(plan_by_windows(&in));
	for (size_t at = 0; at < n; at += window) {
		struct plan p = {0};
		size_t k = n - at < window ? n - at : window;

		if (far) {
			in.far = f->far + at;
			in.nfar = k;
		} else {
			in.near = f->near + at;
			in.nnear = k;
		}
		ck_assert_int_eq(plan_folder(&in, &p), 0);
		parts.v = realloc(parts.v, (parts.n + p.n + 1) * sizeof(*parts.v));
		ck_assert(parts.v);
		memcpy(parts.v + parts.n, p.v, p.n * sizeof(*p.v));
		parts.n += p.n;
		free(p.v); /* the keywords now belong to parts */
	}
	ck_assert_uint_eq(parts.n, f->plan.n);
	qsort(parts.v, parts.n, sizeof(*parts.v), cmp_action);
	qsort(f->plan.v, f->plan.n, sizeof(*f->plan.v), cmp_action);
	for (size_t i = 0; i < parts.n; i++) {
		const struct action *x = &parts.v[i], *y = &f->plan.v[i];

		ck_assert_msg(x->kind == y->kind && x->far_uid == y->far_uid &&
				  x->near_uid == y->near_uid && x->add == y->add &&
				  x->remove == y->remove && x->base_flags == y->base_flags &&
				  x->size == y->size && x->conflict == y->conflict &&
				  same_keywords(x->add_keywords, y->add_keywords) &&
				  same_keywords(x->remove_keywords, y->remove_keywords) &&
				  same_keywords(x->base_keywords, y->base_keywords),
			      "action %zu differs in windows", i);
	}
	plan_free(&parts);
}

START_TEST(test_first_sync_into_an_empty_side_plans_alike_in_windows)
{
	static const char *const keywords[] = {NULL, "$label1", "a b"};

	for (int pull = 0; pull <= 1; pull++) {
		struct folder f;

		folder_init(&f, 100);
		f.in.have_state = false;
		f.in.policy.max_size = 4000;
		for (uint32_t uid = 1; uid <= 100; uid++) {
			struct msg m = message(uid * 3, uid % 2 ? MF_SEEN : MF_FLAGGED,
					       keywords[uid % 3], uid % 4 ? uid : 0);
			struct msg *added = pull ? add_far(&f, m) : add_near(&f, m);

			added->size = uid % 10 ? 1000 : 5000; /* every tenth over max_size */
		}
		assert_windows_plan_alike(&f, 7);
		assert_windows_plan_alike(&f, 1);
		folder_free(&f);
	}
}
END_TEST

START_TEST(test_only_a_folder_without_pairs_and_one_side_empty_plans_in_windows)
{
	struct folder f;

	folder_init(&f, 4);
	add_far(&f, message(1, 0, NULL, 1));
	run(&f);
	ck_assert(plan_by_windows(&f.in)); /* a first sync into an empty folder */
	add_near(&f, message(5, 0, NULL, 1));
	run(&f);
	ck_assert(!plan_by_windows(&f.in)); /* both hold messages: rule 7 pairs them */
	f.nnear = 0;
	add_pair(&f, 1, 5, 0, NULL);
	run(&f);
	ck_assert(!plan_by_windows(&f.in)); /* a pair: its deletion is planned */
	folder_free(&f);
}
END_TEST

/* ---- order ---- */

static void assert_in_order(const struct plan *p, const enum action_kind *kinds, size_t n)
{
	char got[512], want[512];

	plan_text(p, got, sizeof(got));
	kinds_text(kinds, n, want, sizeof(want));
	ck_assert_msg(p->n == n, "got [%s], want [%s]", got, want);
	for (size_t i = 0; i < n; i++) {
		const struct action *a = &p->v[i], *prev = i ? &p->v[i - 1] : NULL;
		bool on_near = a->kind == ACT_FLAGS_NEAR || a->kind == ACT_COPY_TO_FAR ||
			       a->kind == ACT_DELETE_NEAR;

		ck_assert_msg(a->kind == kinds[i], "got [%s], want [%s]", got, want);
		if (prev && prev->kind == a->kind)
			ck_assert_msg(on_near ? prev->near_uid < a->near_uid
					      : prev->far_uid < a->far_uid,
				      "%s out of uid order at %zu", kind_names[a->kind], i);
	}
}

START_TEST(test_actions_come_in_the_documented_order)
{
	static const enum action_kind want[] = {
	    ACT_PAIR,	      ACT_PAIR,	       ACT_FORGET,	ACT_FORGET,	 ACT_KEEP,
	    ACT_KEEP,	      ACT_SKIP_SIZE,   ACT_SKIP_SIZE,	ACT_FLAGS_FAR,	 ACT_FLAGS_FAR,
	    ACT_FLAGS_NEAR,   ACT_FLAGS_NEAR,  ACT_SET_BASE,	ACT_SET_BASE,	 ACT_COPY_TO_NEAR,
	    ACT_COPY_TO_NEAR, ACT_COPY_TO_FAR, ACT_COPY_TO_FAR, ACT_DELETE_NEAR, ACT_DELETE_NEAR,
	};
	struct folder f;

	/* Everything listed and paired in descending uid order. */
	folder_init(&f, 32);
	f.in.policy.delete = SIDE_NEAR;
	f.in.policy.max_size = 5000;
	add_near(&f, message(520, 0, NULL, 0))->size = 9000; /* SKIP_SIZE */
	add_far(&f, message(220, 0, NULL, 0))->size = 9000;  /* SKIP_SIZE */
	add_near(&f, message(510, 0, NULL, 8));		     /* COPY_TO_FAR */
	add_near(&f, message(500, 0, NULL, 7));		     /* COPY_TO_FAR */
	add_far(&f, message(310, 0, NULL, 2));		     /* PAIR with 400 */
	add_far(&f, message(300, 0, NULL, 1));		     /* PAIR with 410 */
	add_near(&f, message(410, 0, NULL, 1));
	add_near(&f, message(400, 0, NULL, 2));
	add_far(&f, message(210, 0, NULL, 6));		/* COPY_TO_NEAR */
	add_far(&f, message(200, 0, NULL, 5));		/* COPY_TO_NEAR */
	add_pair(&f, 90, 190, 0, NULL);			/* FORGET */
	add_pair(&f, 80, 180, 0, NULL);			/* FORGET */
	for (unsigned uid = 70; uid >= 60; uid -= 10) { /* KEEP */
		add_far(&f, message(uid, 0, NULL, uid));
		add_pair(&f, uid, 100 + uid, 0, NULL);
	}
	for (unsigned uid = 50; uid >= 40; uid -= 10) { /* DELETE_NEAR */
		add_near(&f, message(100 + uid, 0, NULL, uid));
		add_pair(&f, uid, 100 + uid, 0, NULL);
	}
	for (unsigned uid = 30; uid >= 20; uid -= 10) { /* FLAGS both, SET_BASE */
		add_far(&f, message(uid, MF_SEEN, NULL, uid));
		add_near(&f, message(100 + uid, MF_FLAGGED, NULL, uid));
		add_pair(&f, uid, 100 + uid, 0, NULL);
	}
	run(&f);
	assert_in_order(&f.plan, want, sizeof(want) / sizeof(want[0]));
	must_find(&f.plan, ACT_PAIR, 300, 410);
	must_find(&f.plan, ACT_PAIR, 310, 400);
	folder_free(&f);
}
END_TEST

START_TEST(test_far_deletions_come_before_near_deletions)
{
	static const enum action_kind want[] = {ACT_DELETE_FAR, ACT_DELETE_FAR, ACT_DELETE_NEAR,
						ACT_DELETE_NEAR};
	struct folder f;

	folder_init(&f, 8);
	add_near(&f, message(14, 0, NULL, 4));
	add_near(&f, message(13, 0, NULL, 3));
	add_far(&f, message(2, 0, NULL, 2));
	add_far(&f, message(1, 0, NULL, 1));
	for (unsigned i = 4; i >= 1; i--)
		add_pair(&f, i, 10 + i, 0, NULL);
	run(&f);
	assert_in_order(&f.plan, want, 4);
	must_find(&f.plan, ACT_DELETE_FAR, 1, 11);
	must_find(&f.plan, ACT_DELETE_NEAR, 3, 13);
	folder_free(&f);
}
END_TEST

/* ---- listings and the state ---- */

START_TEST(test_unsorted_listing_still_finds_every_pair)
{
	struct folder f;

	/* A listing out of order must not make present messages look deleted. */
	folder_init(&f, 64);
	for (unsigned i = 50; i >= 1; i--) {
		add_far(&f, message(i * 3, 0, NULL, i));
		add_near(&f, message(1000 - i, 0, NULL, i));
		add_pair(&f, i * 3, 1000 - i, 0, NULL);
	}
	run(&f);
	ck_assert_uint_eq(f.plan.n, 0);
	folder_free(&f);
}
END_TEST

START_TEST(test_pair_without_uids_is_forgotten)
{
	struct folder f;

	folder_init(&f, 2);
	add_pair(&f, 0, 0, 0, NULL)->status = PAIR_KEPT;
	f.in.far_complete = f.in.near_complete = false;
	run(&f);
	must_find(&f.plan, ACT_FORGET, 0, 0);
	folder_free(&f);
}
END_TEST

START_TEST(test_unpaired_lists_messages_without_a_pair)
{
	struct folder f;
	size_t *far_idx, *near_idx, nfar, nnear;

	folder_init(&f, 8);
	add_far(&f, message(3, 0, NULL, 0));
	add_far(&f, message(1, 0, NULL, 0));
	add_far(&f, message(2, 0, NULL, 0));
	add_far(&f, message(4, 0, NULL, 0));
	add_near(&f, message(10, 0, NULL, 0));
	add_near(&f, message(11, 0, NULL, 0));
	add_pair(&f, 1, 10, 0, NULL);
	add_pair(&f, 4, 0, 0, NULL)->status = PAIR_SKIPPED_SIZE;
	add_pair(&f, 9, 99, 0, NULL); /* gone from both */
	f.in.far = f.far;
	f.in.nfar = f.nfar;
	f.in.near = f.near;
	f.in.nnear = f.nnear;
	f.in.pairs = f.pairs;
	f.in.npairs = f.npairs;
	ck_assert_int_eq(plan_unpaired(&f.in, &far_idx, &nfar, &near_idx, &nnear), 0);
	ck_assert_uint_eq(nfar, 2);
	ck_assert_uint_eq(far_idx[0], 0); /* uid 3 */
	ck_assert_uint_eq(far_idx[1], 2); /* uid 2 */
	ck_assert_uint_eq(nnear, 1);
	ck_assert_uint_eq(near_idx[0], 1); /* uid 11 */
	free(far_idx);
	free(near_idx);

	f.in.nfar = f.in.nnear = 0;
	ck_assert_int_eq(plan_unpaired(&f.in, &far_idx, &nfar, &near_idx, &nnear), 0);
	ck_assert_uint_eq(nfar + nnear, 0);
	free(far_idx);
	free(near_idx);
	folder_free(&f);
}
END_TEST

START_TEST(test_empty_folder_plans_nothing_and_frees_twice)
{
	struct folder f;

	folder_init(&f, 1);
	run(&f);
	ck_assert_uint_eq(f.plan.n, 0);
	plan_free(&f.plan);
	plan_free(&f.plan);
	folder_free(&f);
}
END_TEST

/* Folders have 100k messages: the plan must not compare every pair with
 * every message (the Check timeout catches that). */
START_TEST(test_hundred_thousand_messages_plan_in_n_log_n)
{
	enum { N = 100000 };
	struct folder f;

	folder_init(&f, 2 * N);
	for (unsigned i = 1; i <= N; i++) {
		add_far(&f, message(i, MF_SEEN, NULL, i));
		add_near(&f, message(i + 5, MF_SEEN | (i % 100 ? 0 : MF_FLAGGED), NULL, i));
		add_pair(&f, i, i + 5, MF_SEEN, NULL);
	}
	for (unsigned i = 1; i <= N; i++) { /* unpaired, the same on both sides */
		add_far(&f, message(N + i, 0, NULL, N + i));
		add_near(&f, message(3 * N - i, 0, NULL, N + i));
	}
	run(&f);
	ck_assert_uint_eq(count(&f.plan, ACT_FLAGS_FAR), N / 100);
	ck_assert_uint_eq(count(&f.plan, ACT_SET_BASE), N / 100);
	ck_assert_uint_eq(count(&f.plan, ACT_PAIR), N);
	ck_assert_uint_eq(f.plan.n, N + 2 * (N / 100));
	folder_free(&f);
}
END_TEST

/* ---- rule 11: folder removals ---- */

START_TEST(test_listing_that_lost_most_folders_is_a_lost_listing)
{
	static const struct {
		size_t synced, gone;
		bool lost;
	} cases[] = {
	    {2, 1, false}, /* a 2-folder account may remove one */
	    {3, 2, false}, /* fewer than 3 gone never stops */
	    {4, 3, true},  /* most of them, and 3 */
	    {6, 3, false}, /* exactly half is not most */
	    {6, 4, true},     {10, 5, false}, {10, 6, true}, {100, 51, true},
	    {100, 50, false}, {5, 0, false},  {0, 0, false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(plan_folders_lost(cases[i].synced, cases[i].gone) == cases[i].lost,
			      "%zu gone of %zu", cases[i].gone, cases[i].synced);
}
END_TEST

START_TEST(test_folder_removals_weigh_against_max_delete_like_deletions)
{
	/* A percentage never stops 10 or fewer, and is of the total. */
	ck_assert(!plan_exceeds_max_delete(true, 50, 10, 10));
	ck_assert(!plan_exceeds_max_delete(true, 50, 11, 22));
	ck_assert(plan_exceeds_max_delete(true, 50, 12, 22));
	ck_assert(!plan_exceeds_max_delete(true, 100, 1000, 1000));
	ck_assert(plan_exceeds_max_delete(true, 0, 11, 1000000));
	/* An absolute count is a count. */
	ck_assert(!plan_exceeds_max_delete(false, 4, 4, 5));
	ck_assert(plan_exceeds_max_delete(false, 4, 5, 1000));
	ck_assert(!plan_exceeds_max_delete(false, 0, 0, 0));
	ck_assert(plan_exceeds_max_delete(false, 0, 1, 1));
}
END_TEST

/* ---- placeholders (`placeholders = yes`) ---- */

static void placeholders_on(struct folder *f)
{
	f->in.policy.max_size = 1000;
	f->in.policy.placeholders = true;
}

START_TEST(test_far_message_over_max_size_is_copied_near_as_a_placeholder)
{
	struct folder f;
	const struct action *a;

	folder_init(&f, 4);
	placeholders_on(&f);
	add_far(&f, message(5, MF_SEEN, NULL, 1))->size = 5000;
	add_far(&f, message(6, 0, NULL, 2));		   /* within the limit: a copy */
	add_near(&f, message(9, 0, NULL, 3))->size = 5000; /* near's own: never a placeholder */
	run(&f);
	a = must_find(&f.plan, ACT_COPY_TO_NEAR, 5, 0);
	ck_assert(a->placeholder);
	ck_assert_uint_eq(a->add, MF_SEEN);
	ck_assert_uint_eq(a->size, 5000);
	ck_assert(!must_find(&f.plan, ACT_COPY_TO_NEAR, 6, 0)->placeholder);
	must_find(&f.plan, ACT_SKIP_SIZE, 0, 9);
	ck_assert_uint_eq(count(&f.plan, ACT_COPY_TO_FAR), 0);
	folder_free(&f);
}
END_TEST

START_TEST(test_placeholder_is_never_uploaded)
{
	struct folder f;

	folder_init(&f, 4);
	placeholders_on(&f);
	add_near(&f, message(3, MF_FLAGGED, NULL, 7))->placeholder = true;
	run(&f);
	ck_assert_uint_eq(f.plan.n, 0);
	/* Nor in a push, nor where the state says nothing (a lost state). */
	f.in.policy.sync = SYNC_PUSH;
	f.in.have_state = false;
	run(&f);
	ck_assert_uint_eq(f.plan.n, 0);
	folder_free(&f);
}
END_TEST

START_TEST(test_placeholder_pairs_with_its_original_by_identity)
{
	struct folder f;
	const struct action *a;

	folder_init(&f, 4);
	placeholders_on(&f);
	add_far(&f, message(4, MF_ANSWERED, NULL, 7))->size = 5000;
	/* The caller gave the placeholder its original's identity and size. */
	struct msg *ph = add_near(&f, message(3, MF_SEEN, NULL, 7));
	ph->placeholder = true;
	ph->size = 5000;
	f.in.have_state = false;
	run(&f);
	a = must_find(&f.plan, ACT_PAIR, 4, 3);
	ck_assert(a->placeholder);
	ck_assert_uint_eq(count(&f.plan, ACT_COPY_TO_FAR), 0);
	ck_assert_uint_eq(count(&f.plan, ACT_COPY_TO_NEAR), 0);
	/* Without a base, the flags merge as for any pair. */
	ck_assert_uint_eq(must_find(&f.plan, ACT_FLAGS_FAR, 4, 3)->add, MF_SEEN);
	ck_assert_uint_eq(must_find(&f.plan, ACT_FLAGS_NEAR, 4, 3)->add, MF_ANSWERED);
	folder_free(&f);
}
END_TEST

START_TEST(test_placeholder_pair_syncs_flags_both_ways)
{
	struct folder f;
	struct pair *pr;

	folder_init(&f, 4);
	placeholders_on(&f);
	add_far(&f, message(4, MF_ANSWERED, NULL, 7))->size = 5000;
	add_near(&f, message(3, MF_SEEN, NULL, 8))->size = 700;
	pr = add_pair(&f, 4, 3, 0, NULL);
	pr->placeholder = true;
	pr->size = 5000;
	run(&f);
	ck_assert_uint_eq(must_find(&f.plan, ACT_FLAGS_FAR, 4, 3)->add, MF_SEEN);
	ck_assert_uint_eq(must_find(&f.plan, ACT_FLAGS_NEAR, 4, 3)->add, MF_ANSWERED);
	ck_assert_uint_eq(must_find(&f.plan, ACT_SET_BASE, 4, 3)->base_flags,
			  MF_SEEN | MF_ANSWERED);
	ck_assert_uint_eq(count(&f.plan, ACT_COPY_TO_FAR) + count(&f.plan, ACT_COPY_TO_NEAR), 0);
	folder_free(&f);
}
END_TEST

START_TEST(test_placeholder_deleted_deletes_the_original_as_delete_allows)
{
	struct folder f;
	struct pair *pr;

	folder_init(&f, 4);
	placeholders_on(&f);
	add_far(&f, message(4, 0, NULL, 7))->size = 5000;
	pr = add_pair(&f, 4, 3, 0, NULL);
	pr->placeholder = true;
	run(&f);
	must_find(&f.plan, ACT_DELETE_FAR, 4, 3);
	f.in.policy.delete = SIDE_NEAR;
	run(&f);
	ck_assert(must_find(&f.plan, ACT_KEEP, 4, 0)->placeholder);
	ck_assert_uint_eq(count(&f.plan, ACT_DELETE_FAR), 0);
	folder_free(&f);
}
END_TEST

/* Rule 10's exception copies a marked survivor back: a placeholder cannot
 * bring back the message it stands for. */
START_TEST(test_flagged_placeholder_of_a_deleted_original_is_kept_not_uploaded)
{
	struct folder f;
	struct pair *pr;

	folder_init(&f, 4);
	placeholders_on(&f);
	add_near(&f, message(3, MF_FLAGGED, NULL, 8))->size = 700;
	pr = add_pair(&f, 4, 3, 0, NULL);
	pr->placeholder = true;
	pr->size = 5000;
	run(&f);
	ck_assert_uint_eq(count(&f.plan, ACT_COPY_TO_FAR), 0);
	must_find(&f.plan, ACT_KEEP, 0, 3);
	folder_free(&f);
}
END_TEST

START_TEST(test_message_skipped_by_size_becomes_a_placeholder_when_they_are_turned_on)
{
	struct folder f;
	struct pair *pr;

	folder_init(&f, 2);
	f.in.policy.max_size = 1000;
	add_far(&f, message(5, 0, NULL, 1))->size = 5000;
	pr = add_pair(&f, 5, 0, 0, NULL);
	pr->status = PAIR_SKIPPED_SIZE;
	pr->size = 5000;
	run(&f);
	ck_assert_uint_eq(f.plan.n, 0);
	f.in.policy.placeholders = true;
	run(&f);
	ck_assert(must_find(&f.plan, ACT_COPY_TO_NEAR, 5, 0)->placeholder);
	folder_free(&f);
}
END_TEST

START_TEST(test_flagged_far_message_over_max_size_is_copied_whole_with_flagged)
{
	struct folder f;

	folder_init(&f, 4);
	placeholders_on(&f);
	f.in.policy.fetch_flagged = true;
	add_far(&f, message(5, MF_FLAGGED, NULL, 1))->size = 5000;
	add_far(&f, message(6, MF_SEEN, NULL, 2))->size = 5000;
	run(&f);
	ck_assert(!must_find(&f.plan, ACT_COPY_TO_NEAR, 5, 0)->placeholder);
	ck_assert(must_find(&f.plan, ACT_COPY_TO_NEAR, 6, 0)->placeholder);
	f.in.policy.fetch_flagged = false; /* placeholders = yes: a placeholder all the same */
	run(&f);
	ck_assert(must_find(&f.plan, ACT_COPY_TO_NEAR, 5, 0)->placeholder);
	folder_free(&f);
}
END_TEST

START_TEST(test_placeholders_flagged_on_either_side_are_to_be_fetched)
{
	struct folder f;
	uint32_t uids[8];
	struct pair *pr;

	folder_init(&f, 8);
	placeholders_on(&f);
	f.in.policy.fetch_flagged = true;
	/* 1: flagged near; 2: flagged far; 3: flagged nowhere; 4: unflagged far
	 * since the base, still flagged near (merged: not flagged); 5: flagged,
	 * but whole already. */
	add_far(&f, message(1, 0, NULL, 1));
	add_near(&f, message(11, MF_FLAGGED, NULL, 1));
	add_far(&f, message(2, MF_FLAGGED, NULL, 2));
	add_near(&f, message(12, 0, NULL, 2));
	add_far(&f, message(3, MF_SEEN, NULL, 3));
	add_near(&f, message(13, MF_SEEN, NULL, 3));
	add_far(&f, message(4, 0, NULL, 4));
	add_near(&f, message(14, MF_FLAGGED, NULL, 4));
	add_far(&f, message(5, MF_FLAGGED, NULL, 5));
	add_near(&f, message(15, MF_FLAGGED, NULL, 5));
	for (uint32_t u = 1; u <= 5; u++) {
		pr = add_pair(&f, u, 10 + u, u == 4 ? MF_FLAGGED : 0, NULL);
		pr->placeholder = u != 5;
	}
	f.pairs[4].base_flags = MF_FLAGGED;
	run(&f);
	ck_assert_uint_eq(plan_flagged_placeholders(&f.in, uids), 2);
	ck_assert_uint_eq(uids[0], 1);
	ck_assert_uint_eq(uids[1], 2);
	f.in.policy.fetch_flagged = false;
	ck_assert_uint_eq(plan_flagged_placeholders(&f.in, uids), 0);
	folder_free(&f);
}
END_TEST

static Suite *plan_suite(void)
{
	Suite *s = suite_create("plan");
	TCase *every = tcase_create("every case of one message");
	TCase *flags = tcase_create("flags and keywords"), *del = tcase_create("deletions");
	TCase *pairing = tcase_create("pairing and copies"), *misc = tcase_create("plan");

	tcase_add_loop_test(every, test_every_case_of_one_message_follows_the_rules, 0, NSETTINGS);

	tcase_add_test(flags, test_merge_flags_is_three_way_per_flag);
	tcase_add_test(flags, test_different_flags_set_on_each_side_merge_to_the_union);
	tcase_add_test(flags, test_flag_removed_on_one_side_is_removed_on_the_other);
	tcase_add_test(flags, test_same_flag_changed_on_both_sides_agrees);
	tcase_add_test(flags, test_unchanged_pair_plans_nothing);
	tcase_add_test(flags, test_deleted_without_a_base_needs_both_sides);
	tcase_add_test(flags, test_deleted_with_a_base_is_a_flag_like_any_other);
	tcase_add_test(flags, test_pull_never_changes_far_and_takes_its_flags_as_base);
	tcase_add_test(flags, test_pull_pairing_takes_far_as_base_and_gives_near_the_union);
	tcase_add_test(flags, test_keywords_merge_three_way);
	tcase_add_test(flags, test_keyword_removed_on_one_side_is_removed_on_the_other);
	tcase_add_test(flags, test_keywords_compare_case_insensitively);
	tcase_add_test(flags, test_side_that_cannot_store_keywords_has_not_changed_them);
	tcase_add_test(flags, test_keywords_a_side_took_no_more_of_are_not_removed_nor_sent);
	tcase_add_test(flags, test_copy_to_a_side_without_keywords_keeps_them_in_the_base);
	tcase_add_test(flags, test_keywords_a_store_lost_are_not_removed_but_given_back);
	tcase_add_test(flags, test_flag_change_on_a_message_with_lost_keywords_removes_no_keyword);
	tcase_add_test(flags, test_lost_keywords_are_not_a_change_in_one_direction_either);
	tcase_add_test(flags, test_rebuilt_index_pairs_again_and_takes_the_far_keywords);
	tcase_add_test(flags, test_message_with_lost_keywords_copied_back_takes_the_base);

	tcase_add_test(del, test_flagged_on_server_while_deleted_locally_is_copied_back);
	tcase_add_test(del, test_keyword_added_on_server_while_deleted_locally_is_copied_back);
	tcase_add_test(del, test_flagged_locally_while_expunged_on_server_is_copied_back);
	tcase_add_test(del, test_deletion_wins_over_other_changes);
	tcase_add_test(del, test_deleting_more_than_max_delete_stops_until_forced);
	tcase_add_test(del, test_deleting_exactly_max_delete_goes_through);
	tcase_add_test(del, test_max_delete_counts_each_side_on_its_own);
	tcase_add_test(del, test_small_folders_never_stop);
	tcase_add_test(del, test_absolute_max_delete_is_a_count);
	tcase_add_test(del, test_max_delete_percent_is_of_the_side_when_listings_are_partial);
	tcase_add_test(del, test_incomplete_listing_deletes_nothing);
	tcase_add_test(del, test_folder_without_state_deletes_nothing);
	tcase_add_test(del, test_kept_pair_is_never_copied_and_forgotten_when_its_message_goes);
	tcase_add_test(del, test_deletion_not_propagated_is_kept_one_sided);
	tcase_add_test(del, test_listing_that_lost_most_folders_is_a_lost_listing);
	tcase_add_test(del, test_folder_removals_weigh_against_max_delete_like_deletions);

	tcase_add_test(pairing, test_first_sync_onto_two_full_sides_pairs_instead_of_copying);
	tcase_add_test(pairing, test_identical_copies_are_counted);
	tcase_add_test(pairing, test_identity_is_header_hash_and_size);
	tcase_add_test(pairing, test_rewritten_copy_pairs_by_munged_hash_after_exact_identity);
	tcase_add_test(pairing, test_munged_hash_needs_the_same_size_and_both_hashes_known);
	tcase_add_test(pairing, test_new_message_already_deleted_is_not_copied);
	tcase_add_loop_test(
	    pairing, test_new_deleted_message_is_copied_with_its_flag_only_where_nothing_is_deleted,
	    0, (int)(sizeof(deleted_new_cases) / sizeof(deleted_new_cases[0])));
	tcase_add_test(pairing, test_copy_carries_flags_keywords_and_size);
	tcase_add_test(pairing, test_oversized_message_is_skipped_then_copied_when_the_limit_rises);
	tcase_add_test(pairing, test_oversized_local_message_is_skipped_on_push);
	tcase_add_test(pairing, test_max_age_copies_only_messages_inside_the_window);
	tcase_add_test(pairing, test_max_age_keeps_an_old_message_deleted_on_the_other_side);

	tcase_add_test(misc, test_actions_come_in_the_documented_order);
	tcase_add_test(misc, test_far_deletions_come_before_near_deletions);
	tcase_add_test(misc, test_unsorted_listing_still_finds_every_pair);
	tcase_add_test(misc, test_pair_without_uids_is_forgotten);
	tcase_add_test(misc, test_unpaired_lists_messages_without_a_pair);
	tcase_add_test(misc, test_empty_folder_plans_nothing_and_frees_twice);
	tcase_add_test(misc, test_hundred_thousand_messages_plan_in_n_log_n);
	tcase_add_test(misc, test_first_sync_into_an_empty_side_plans_alike_in_windows);
	tcase_add_test(misc, test_only_a_folder_without_pairs_and_one_side_empty_plans_in_windows);
	tcase_add_test(pairing, test_far_message_over_max_size_is_copied_near_as_a_placeholder);
	tcase_add_test(pairing, test_placeholder_is_never_uploaded);
	tcase_add_test(pairing, test_placeholder_pairs_with_its_original_by_identity);
	tcase_add_test(flags, test_placeholder_pair_syncs_flags_both_ways);
	tcase_add_test(del, test_placeholder_deleted_deletes_the_original_as_delete_allows);
	tcase_add_test(del, test_flagged_placeholder_of_a_deleted_original_is_kept_not_uploaded);
	tcase_add_test(pairing,
		       test_message_skipped_by_size_becomes_a_placeholder_when_they_are_turned_on);
	tcase_add_test(pairing,
		       test_flagged_far_message_over_max_size_is_copied_whole_with_flagged);
	tcase_add_test(flags, test_placeholders_flagged_on_either_side_are_to_be_fetched);
	tcase_set_timeout(misc, 60);
	tcase_set_timeout(flags, 60);

	suite_add_tcase(s, every);
	suite_add_tcase(s, flags);
	suite_add_tcase(s, del);
	suite_add_tcase(s, pairing);
	suite_add_tcase(s, misc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(plan_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
