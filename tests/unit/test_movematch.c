/* sync/movematch.c: the matching half of the move pass (DESIGN.md rules 8
 * and 13). The table walks channels of a few folders through both sides'
 * matching, as the engine runs it; the named tests pin down what the table
 * cannot show (which new messages are worth a header fetch, split moves,
 * refiles after a kill). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync/movematch.h"

#define MAX_FOLDERS 3
#define MAX_ROWS    4

/* An identity (rule 6): the same number is the same message, 0 not
 * identified yet. Every message is 1000 bytes unless a size is given. */
static struct msg_id identity(unsigned n)
{
	struct msg_id id = {0};

	if (n) {
		memcpy(id.hash, &n, sizeof(n));
		id.known = true;
	}
	return id;
}

/* Its identity, if any, is written to *ident. */
static struct msg message(uint32_t uid, unsigned n, uint64_t size, struct msg_ident *ident)
{
	struct msg m = {.uid = uid, .size = size ? size : 1000};

	if (n) {
		memset(ident, 0, sizeof(*ident));
		memcpy(ident->hash, &n, sizeof(n));
		m.ident = ident;
	}
	return m;
}

/* ---- the table ---- */

struct row_msg {
	uint32_t uid; /* 0 ends the listing */
	unsigned identity;
	uint64_t size; /* 0: 1000 */
};

struct row_pair {
	uint32_t far_uid, near_uid; /* both 0 ends the pairs */
	unsigned far_identity, near_identity;
	enum pair_status status;
};

struct row_folder {
	struct row_msg listing[2][MAX_ROWS]; /* indexed by enum side, uid order */
	struct row_pair pairs[MAX_ROWS];
	bool unprepared, no_state;
};

struct row_move {
	enum side moved;
	size_t from, to;
	uint32_t gone_uid;  /* the pair's uid on the other side */
	uint32_t fresh_uid; /* where it appeared on the side it moved on */
};

struct match_case {
	const char *what;
	enum sync_dir sync;
	enum side_set delete;
	struct row_folder folders[MAX_FOLDERS];
	struct row_move want[MAX_ROWS];
	size_t nwant;
};

/* The pair (far 1, near 1) of identity 7, gone on side `moved` of one folder
 * and new at uid 5 in another: the one move every case starts from. */
#define SYNCED_PAIR                                                                                \
	{                                                                                          \
		1, 1, 7, 7, PAIR_SYNCED                                                            \
	}
#define ONLY_FAR                                                                                   \
	{                                                                                          \
		{{1, 7, 0}},                                                                       \
		{                                                                                  \
			{                                                                          \
				0                                                                  \
			}                                                                          \
		}                                                                                  \
	}
#define ONLY_NEAR                                                                                  \
	{                                                                                          \
		{{0}},                                                                             \
		{                                                                                  \
			{                                                                          \
				1, 7, 0                                                            \
			}                                                                          \
		}                                                                                  \
	}

static const struct match_case match_cases[] = {
    {"one identity vanished on near and one new elsewhere on near is a move",
     SYNC_BOTH,
     SIDE_BOTH,
     {{.listing = ONLY_FAR, .pairs = {SYNCED_PAIR}}, {.listing = {{{0}}, {{5, 7, 0}}}}},
     {{NEAR, 0, 1, 1, 5}},
     1},
    {"the same on far",
     SYNC_BOTH,
     SIDE_BOTH,
     {{.listing = ONLY_NEAR, .pairs = {SYNCED_PAIR}}, {.listing = {{{5, 7, 0}}, {{0}}}}},
     {{FAR, 0, 1, 1, 5}},
     1},
    {"two new candidates: no move",
     SYNC_BOTH,
     SIDE_BOTH,
     {{.listing = ONLY_FAR, .pairs = {SYNCED_PAIR}},
      {.listing = {{{0}}, {{5, 7, 0}}}},
      {.listing = {{{0}}, {{9, 7, 0}}}}},
     {{0}},
     0},
    {"two vanished candidates: no move",
     SYNC_BOTH,
     SIDE_BOTH,
     {{.listing = {{{1, 7, 0}, {2, 7, 0}}, {{0}}},
       .pairs = {SYNCED_PAIR, {2, 2, 7, 7, PAIR_SYNCED}}},
      {.listing = {{{0}}, {{5, 7, 0}}}}},
     {{0}},
     0},
    {"pull does not replay a move made on near",
     SYNC_PULL,
     SIDE_BOTH,
     {{.listing = ONLY_FAR, .pairs = {SYNCED_PAIR}}, {.listing = {{{0}}, {{5, 7, 0}}}}},
     {{0}},
     0},
    {"pull replays a move made on far",
     SYNC_PULL,
     SIDE_BOTH,
     {{.listing = ONLY_NEAR, .pairs = {SYNCED_PAIR}}, {.listing = {{{5, 7, 0}}, {{0}}}}},
     {{FAR, 0, 1, 1, 5}},
     1},
    {"push does not replay a move made on far",
     SYNC_PUSH,
     SIDE_BOTH,
     {{.listing = ONLY_NEAR, .pairs = {SYNCED_PAIR}}, {.listing = {{{5, 7, 0}}, {{0}}}}},
     {{0}},
     0},
    {"far may not delete: a move made on near is not replayed there",
     SYNC_BOTH,
     SIDE_NEAR,
     {{.listing = ONLY_FAR, .pairs = {SYNCED_PAIR}}, {.listing = {{{0}}, {{5, 7, 0}}}}},
     {{0}},
     0},
    {"near may not delete: a move made on far is not replayed there",
     SYNC_BOTH,
     SIDE_FAR,
     {{.listing = ONLY_NEAR, .pairs = {SYNCED_PAIR}}, {.listing = {{{5, 7, 0}}, {{0}}}}},
     {{0}},
     0},
    {"the same size with another identity is no move",
     SYNC_BOTH,
     SIDE_BOTH,
     {{.listing = ONLY_FAR, .pairs = {SYNCED_PAIR}}, {.listing = {{{0}}, {{5, 8, 0}}}}},
     {{0}},
     0},
    {"the same header hash with another size is no move",
     SYNC_BOTH,
     SIDE_BOTH,
     {{.listing = ONLY_FAR, .pairs = {SYNCED_PAIR}}, {.listing = {{{0}}, {{5, 7, 999}}}}},
     {{0}},
     0},
    {"a new message not identified yet is no move",
     SYNC_BOTH,
     SIDE_BOTH,
     {{.listing = ONLY_FAR, .pairs = {SYNCED_PAIR}}, {.listing = {{{0}}, {{5, 0, 0}}}}},
     {{0}},
     0},
    {"moves in both directions at once, near's first",
     SYNC_BOTH,
     SIDE_BOTH,
     {{.listing = {{{1, 7, 0}, {2, 8, 0}}, {{2, 8, 0}}},
       .pairs = {SYNCED_PAIR, {2, 2, 8, 8, PAIR_SYNCED}}},
      {.listing = {{{0}}, {{3, 9, 0}, {5, 7, 0}}}, .pairs = {{3, 3, 9, 9, PAIR_SYNCED}}},
      {.listing = {{{4, 9, 0}}, {{0}}}}},
     {{NEAR, 0, 1, 1, 5}, {FAR, 1, 2, 3, 4}},
     2},
    {"a folder not prepared takes no part, neither as source nor as target",
     SYNC_BOTH,
     SIDE_BOTH,
     {{.listing = ONLY_FAR, .pairs = {SYNCED_PAIR}},
      {.listing = {{{0}}, {{5, 7, 0}}}, .unprepared = true},
      {.listing = {{{2, 8, 0}}, {{0}}}, .pairs = {{2, 2, 8, 8, PAIR_SYNCED}}, .unprepared = true}},
     {{0}},
     0},
    {"a folder without usable state says nothing vanished (rule 7)",
     SYNC_BOTH,
     SIDE_BOTH,
     {{.listing = ONLY_FAR, .pairs = {SYNCED_PAIR}, .no_state = true},
      {.listing = {{{0}}, {{5, 7, 0}}}}},
     {{0}},
     0},
    {"a pair whose message is missing from the other listing too did not move",
     SYNC_BOTH,
     SIDE_BOTH,
     {{.listing = {{{0}}, {{0}}}, .pairs = {SYNCED_PAIR}}, {.listing = {{{0}}, {{5, 7, 0}}}}},
     {{0}},
     0},
    {"a pair kept one-sided or skipped by size is no candidate",
     SYNC_BOTH,
     SIDE_BOTH,
     {{.listing = {{{1, 7, 0}, {2, 8, 0}}, {{0}}},
       .pairs = {{1, 1, 7, 7, PAIR_KEPT}, {2, 2, 8, 8, PAIR_SKIPPED_SIZE}}},
      {.listing = {{{0}}, {{5, 7, 0}, {6, 8, 0}}}}},
     {{0}},
     0},
    {"a pair with no identity on either side takes no part",
     SYNC_BOTH,
     SIDE_BOTH,
     {{.listing = ONLY_FAR, .pairs = {{1, 1, 0, 0, PAIR_SYNCED}}},
      {.listing = {{{0}}, {{5, 0, 0}}}}},
     {{0}},
     0},
    {"the identity of the side it moved on, else the other side's (rule 6)",
     SYNC_BOTH,
     SIDE_BOTH,
     {{.listing = {{{1, 7, 0}, {2, 9, 0}}, {{0}}},
       .pairs = {{1, 1, 7, 0, PAIR_SYNCED}, {2, 2, 8, 9, PAIR_SYNCED}}},
      {.listing = {{{0}}, {{5, 7, 0}, {6, 8, 0}, {7, 9, 0}}}}},
     {{NEAR, 0, 1, 1, 5}, {NEAR, 0, 1, 2, 7}},
     2},
    {"rewritten under a new uid in the same folder: the pair follows",
     SYNC_BOTH,
     SIDE_BOTH,
     {{.listing = {{{1, 7, 0}}, {{4, 7, 0}}}, .pairs = {SYNCED_PAIR}}},
     {{NEAR, 0, 0, 1, 4}},
     1},
    {"moves come grouped by source and target folder, in uid order",
     SYNC_BOTH,
     SIDE_BOTH,
     {{.listing = {{{1, 7, 0}, {2, 8, 0}, {3, 9, 0}}, {{0}}},
       .pairs = {{3, 3, 9, 9, PAIR_SYNCED}, SYNCED_PAIR, {2, 2, 8, 8, PAIR_SYNCED}}},
      {.listing = {{{0}}, {{4, 9, 0}, {6, 7, 0}}}},
      {.listing = {{{0}}, {{5, 8, 0}}}}},
     {{NEAR, 0, 1, 1, 6}, {NEAR, 0, 1, 3, 4}, {NEAR, 0, 2, 2, 5}},
     3},
};

/* The folders of a case as the engine hands them over. */
struct channel {
	struct msg msgs[MAX_FOLDERS][2][MAX_ROWS];
	struct msg_ident idents[MAX_FOLDERS][2][MAX_ROWS];
	struct pair pairs[MAX_FOLDERS][MAX_ROWS];
	struct movematch_folder v[MAX_FOLDERS];
};

static void build(struct channel *ch, const struct row_folder *rows)
{
	memset(ch, 0, sizeof(*ch));
	for (size_t f = 0; f < MAX_FOLDERS; f++) {
		const struct row_folder *r = &rows[f];
		struct movematch_folder *w = &ch->v[f];

		for (int s = FAR; s <= NEAR; s++) {
			size_t n = 0;

			for (; n < MAX_ROWS && r->listing[s][n].uid; n++)
				ch->msgs[f][s][n] =
				    message(r->listing[s][n].uid, r->listing[s][n].identity,
					    r->listing[s][n].size, &ch->idents[f][s][n]);
			w->side[s] = (struct movematch_listing){ch->msgs[f][s], n};
		}
		for (; w->npairs < MAX_ROWS; w->npairs++) {
			const struct row_pair *p = &r->pairs[w->npairs];

			if (!p->far_uid && !p->near_uid)
				break;
			ch->pairs[f][w->npairs] =
			    (struct pair){.far_uid = p->far_uid,
					  .near_uid = p->near_uid,
					  .status = p->status,
					  .size = 1000,
					  .far_id = identity(p->far_identity),
					  .near_id = identity(p->near_identity)};
		}
		w->pairs = ch->pairs[f];
		w->prepared = !r->unprepared;
		w->have_state = !r->no_state;
	}
}

static enum side other(enum side s)
{
	return s == FAR ? NEAR : FAR;
}

/* The engine's order: moves made on near first, then far's. */
START_TEST(test_moves_follow_the_table)
{
	const struct match_case *c = &match_cases[_i];
	struct sync_policy policy = {.sync = c->sync, .delete = c->delete};
	struct channel ch;
	size_t got = 0;

	build(&ch, c->folders);
	for (enum side moved = NEAR;; moved = FAR) {
		struct move_cands gone = {0}, fresh = {0};
		struct move *mv = NULL;
		size_t n = 0;

		if (movematch_may_move_on(&policy, other(moved))) {
			ck_assert_int_eq(movematch_collect(ch.v, MAX_FOLDERS, moved, &gone, &fresh),
					 0);
			ck_assert_int_eq(movematch_moves(&gone, &fresh, &mv, &n), 0);
		}
		for (size_t i = 0; i < n; i++, got++) {
			const struct row_move *w = &c->want[got];

			ck_assert_msg(got < c->nwant, "%s: move %zu is one too many", c->what, got);
			ck_assert_msg(w->moved == moved && w->from == mv[i].gone.folder &&
					  w->to == mv[i].fresh.folder &&
					  w->gone_uid == mv[i].gone.uid &&
					  w->fresh_uid == mv[i].fresh.uid,
				      "%s: move %zu is %s %zu->%zu uid %u->%u", c->what, got,
				      moved == FAR ? "far" : "near", mv[i].gone.folder,
				      mv[i].fresh.folder, mv[i].gone.uid, mv[i].fresh.uid);
		}
		free(mv);
		move_cands_free(&gone);
		move_cands_free(&fresh);
		if (moved == FAR)
			break;
	}
	ck_assert_msg(got == c->nwant, "%s: %zu moves, want %zu", c->what, got, c->nwant);
}
END_TEST

/* The moves of side `moved` as the engine gathers them: the vanished pairs
 * first, then only the new messages of their sizes. */
static void stepped_moves(const struct channel *ch, enum side moved, struct move **mv, size_t *n)
{
	struct move_cands gone = {0}, fresh = {0};
	uint64_t *sizes;
	size_t nsizes;

	ck_assert_int_eq(movematch_collect_gone(ch->v, MAX_FOLDERS, moved, &gone), 0);
	ck_assert_int_eq(movematch_sizes(&gone, &sizes, &nsizes), 0);
	ck_assert_int_eq(movematch_collect_fresh(ch->v, MAX_FOLDERS, moved, sizes, nsizes, &fresh),
			 0);
	ck_assert_int_eq(movematch_moves(&gone, &fresh, mv, n), 0);
	free(sizes);
	move_cands_free(&gone);
	move_cands_free(&fresh);
}

/* Gathering fewer candidates loses no move. */
START_TEST(test_stepped_collection_finds_the_same_moves)
{
	const struct match_case *c = &match_cases[_i];
	struct channel ch;

	build(&ch, c->folders);
	for (enum side moved = FAR; moved <= NEAR; moved++) {
		struct move_cands gone = {0}, fresh = {0};
		struct move *all = NULL, *mv = NULL;
		size_t nall = 0, n = 0;

		ck_assert_int_eq(movematch_collect(ch.v, MAX_FOLDERS, moved, &gone, &fresh), 0);
		ck_assert_int_eq(movematch_moves(&gone, &fresh, &all, &nall), 0);
		stepped_moves(&ch, moved, &mv, &n);
		ck_assert_msg(n == nall, "%s: %zu moves stepped, %zu whole", c->what, n, nall);
		for (size_t i = 0; i < n; i++)
			ck_assert_msg(mv[i].gone.folder == all[i].gone.folder &&
					  mv[i].fresh.folder == all[i].fresh.folder &&
					  mv[i].gone.uid == all[i].gone.uid &&
					  mv[i].fresh.uid == all[i].fresh.uid,
				      "%s: move %zu differs", c->what, i);
		free(all);
		free(mv);
		move_cands_free(&gone);
		move_cands_free(&fresh);
	}
}
END_TEST

/* ---- the policy ---- */

START_TEST(test_a_move_is_carried_out_only_where_changes_flow_and_deletions_may)
{
	static const enum sync_dir dirs[] = {SYNC_BOTH, SYNC_PULL, SYNC_PUSH};

	for (size_t d = 0; d < 3; d++)
		for (unsigned del = SIDE_NONE; del <= SIDE_BOTH; del++) {
			struct sync_policy p = {.sync = dirs[d], .delete = (enum side_set)del};

			ck_assert(movematch_may_move_on(&p, FAR) ==
				  ((dirs[d] != SYNC_PULL) && (del & SIDE_FAR)));
			ck_assert(movematch_may_move_on(&p, NEAR) ==
				  ((dirs[d] != SYNC_PUSH) && (del & SIDE_NEAR)));
		}
}
END_TEST

/* ---- which new messages are worth a header fetch ---- */

START_TEST(test_only_new_messages_of_a_vanished_size_are_identified)
{
	struct move_cands sizes = {0}, fresh = {0};
	struct move_cand c[] = {
	    {.size = 1000, .uid = 1},			     /* a size that vanished */
	    {.size = 2000, .uid = 2},			     /* none vanished */
	    {.size = 1000, .uid = 3, .id = {.known = true}}, /* known already */
	    {.size = 3000, .uid = 4},
	};
	size_t *idx, n;

	sizes.v = (struct move_cand[]){{.size = 3000}, {.size = 1000}};
	sizes.n = 2;
	fresh.v = c;
	fresh.n = 4;
	ck_assert_int_eq(movematch_to_identify(&sizes, &fresh, &idx, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(idx[0], 0);
	ck_assert_uint_eq(idx[1], 3);
	free(idx);
	/* Nothing vanished: no fetch at all. */
	sizes.n = 0;
	ck_assert_int_eq(movematch_to_identify(&sizes, &fresh, &idx, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(idx);
}
END_TEST

START_TEST(test_unpaired_messages_are_collected_in_folder_order)
{
	static const struct row_folder rows[MAX_FOLDERS] = {
	    {.listing = {{{1, 7, 0}, {2, 0, 0}}, {{0}}}, .pairs = {SYNCED_PAIR}},
	    {.listing = {{{3, 0, 0}}, {{0}}}, .unprepared = true},
	    {.listing = {{{1, 0, 0}}, {{0}}}},
	};
	struct channel ch;
	struct move_cands gone = {0}, fresh = {0};

	build(&ch, rows);
	ck_assert_int_eq(movematch_collect(ch.v, MAX_FOLDERS, FAR, &gone, &fresh), 0);
	ck_assert_uint_eq(gone.n, 0); /* far 1 is still there */
	ck_assert_uint_eq(fresh.n, 2);
	ck_assert(fresh.v[0].folder == 0 && fresh.v[0].uid == 2);
	ck_assert(fresh.v[1].folder == 2 && fresh.v[1].uid == 1);
	move_cands_free(&gone);
	move_cands_free(&fresh);
}
END_TEST

START_TEST(test_only_new_messages_of_a_wanted_size_are_collected)
{
	static const struct row_folder rows[MAX_FOLDERS] = {
	    {.listing = {{{1, 7, 0}, {2, 8, 2000}}, {{1, 7, 0}, {5, 9, 3000}}},
	     .pairs = {SYNCED_PAIR}},
	    {.listing = {{{4, 9, 1000}}, {{0}}}},
	};
	static const uint64_t want[] = {1000, 1500};
	struct channel ch;
	struct move_cands fresh = {0};
	uint64_t *sizes;
	size_t n;

	build(&ch, rows);
	ck_assert_int_eq(movematch_collect_fresh(ch.v, MAX_FOLDERS, FAR, want, 2, &fresh), 0);
	ck_assert_uint_eq(fresh.n, 1);
	ck_assert(fresh.v[0].folder == 1 && fresh.v[0].uid == 4);
	move_cands_free(&fresh);
	/* No size wanted: nothing gathered (a first sync copies no listing). */
	ck_assert_int_eq(movematch_collect_fresh(ch.v, MAX_FOLDERS, FAR, want, 0, &fresh), 0);
	ck_assert_uint_eq(fresh.n, 0);
	/* The sizes near has unpaired, sorted. */
	ck_assert_int_eq(movematch_unpaired_sizes(ch.v, MAX_FOLDERS, NEAR, &sizes, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(sizes[0], 3000);
	free(sizes);
	ck_assert_int_eq(movematch_unpaired_sizes(ch.v, MAX_FOLDERS, FAR, &sizes, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert(sizes[0] == 1000 && sizes[1] == 2000);
	free(sizes);
}
END_TEST

/* ---- both sides moved it ---- */

START_TEST(test_moved_to_different_folders_on_each_side_is_a_split_move)
{
	static const struct row_folder rows[MAX_FOLDERS] = {
	    {.pairs = {SYNCED_PAIR, {2, 2, 8, 8, PAIR_SYNCED}}},
	    {.listing = {{{5, 7, 0}}, {{6, 8, 0}}}},
	    {.listing = {{{6, 8, 0}}, {{5, 7, 0}}}},
	};
	struct channel ch;
	struct move_cands gone = {0}, fresh[2] = {{0}}, unused = {0};
	struct split_move *split;
	size_t n;

	build(&ch, rows);
	ck_assert_int_eq(movematch_collect_both_gone(ch.v, MAX_FOLDERS, &gone), 0);
	ck_assert_uint_eq(gone.n, 2);
	ck_assert_int_eq(movematch_collect(ch.v, MAX_FOLDERS, FAR, &unused, &fresh[FAR]), 0);
	ck_assert_int_eq(movematch_collect(ch.v, MAX_FOLDERS, NEAR, &unused, &fresh[NEAR]), 0);
	ck_assert_int_eq(movematch_split_moves(&gone, fresh, &split, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert(split[0].from == 0 && split[0].to[FAR] == 1 && split[0].to[NEAR] == 2);
	ck_assert(split[1].from == 0 && split[1].to[FAR] == 2 && split[1].to[NEAR] == 1);
	free(split);
	/* Moved to the same folder on both sides: nothing to report. */
	fresh[NEAR].v[0].folder = 2; /* identity 8, where far has it */
	fresh[NEAR].v[1].folder = 1; /* identity 7 */
	ck_assert_int_eq(movematch_split_moves(&gone, fresh, &split, &n), 0);
	ck_assert_uint_eq(n, 0);
	move_cands_free(&gone);
	move_cands_free(&fresh[FAR]);
	move_cands_free(&fresh[NEAR]);
	move_cands_free(&unused);
}
END_TEST

/* ---- refiles across folders after a kill (movematch_refiles) ---- */

/* An unpaired message of 1000 bytes in folder, identity as identity() has it. */
static struct refile_cand candidate(size_t folder, uint32_t uid, unsigned n, bool cut)
{
	return (struct refile_cand){
	    .folder = folder, .uid = uid, .size = 1000, .id = identity(n), .cut = cut};
}

START_TEST(test_refile_after_kill_moves_the_copy_that_stayed_in_the_cut_folder)
{
	/* Uploaded into folder 0 by a killed run (far uid 7, unrecorded), then
	 * moved locally into folder 3: far follows, from 0 to 3. */
	struct refile_cand far[] = {candidate(0, 7, 42, true)};
	struct refile_cand near[] = {candidate(3, 12, 42, false)};
	struct refile *r;
	size_t n;

	ck_assert_int_eq(movematch_refiles(far, 1, near, 1, &r, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert(r[0].on_far);
	ck_assert_uint_eq(r[0].from, 0);
	ck_assert_uint_eq(r[0].to, 3);
	ck_assert_uint_eq(r[0].uid, 7);
	free(r);

	/* The same, moved on the server instead: near follows. */
	far[0] = candidate(3, 9, 42, false);
	near[0] = candidate(0, 5, 42, true);
	ck_assert_int_eq(movematch_refiles(far, 1, near, 1, &r, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert(!r[0].on_far);
	ck_assert_uint_eq(r[0].from, 0);
	ck_assert_uint_eq(r[0].to, 3);
	ck_assert_uint_eq(r[0].uid, 5);
	free(r);
}
END_TEST

START_TEST(test_refile_makes_no_guess_without_exactly_one_cut_folder)
{
	struct refile_cand far[] = {candidate(0, 7, 42, false)};
	struct refile_cand near[] = {candidate(3, 12, 42, false)};
	struct refile *r;
	size_t n;

	/* Neither folder had a killed batch: which side refiled is unknown. */
	ck_assert_int_eq(movematch_refiles(far, 1, near, 1, &r, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(r);
	/* Both had one: unknown too. */
	far[0].cut = near[0].cut = true;
	ck_assert_int_eq(movematch_refiles(far, 1, near, 1, &r, &n), 0);
	ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(test_refile_leaves_same_folder_copies_and_unknown_identities_to_the_plan)
{
	struct refile_cand far[] = {candidate(0, 7, 42, true), candidate(1, 8, 0, true)};
	struct refile_cand near[] = {candidate(0, 12, 42, true), candidate(2, 13, 0, false)};
	struct refile *r;
	size_t n;

	/* Same folder: rule 7 pairs them there. No identity: nothing to match. */
	ck_assert_int_eq(movematch_refiles(far, 2, near, 2, &r, &n), 0);
	ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(test_refile_makes_no_guess_when_copies_are_counted)
{
	/* Two unpaired copies on near (rule 6 counts copies): no guess. */
	struct refile_cand far[] = {candidate(0, 7, 42, true)};
	struct refile_cand near[] = {candidate(3, 12, 42, false), candidate(4, 2, 42, false)};
	struct refile *r;
	size_t n;

	ck_assert_int_eq(movematch_refiles(far, 1, near, 2, &r, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(movematch_refiles(near, 2, far, 1, &r, &n), 0);
	ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(test_refile_cut_is_where_the_killed_batch_left_a_message)
{
	/* A copy (upload, near -> far) into folder 2, far UIDNEXT 50 before it;
	 * a move on near into folder 5, near UIDNEXT 9 before it. */
	struct refile_batch b[] = {{.folder = 2, .move = false, .on_far = true, .uidnext = 50},
				   {.folder = 5, .move = true, .on_far = false, .uidnext = 9}};

	/* The copy's folder, either side, any uid: the source was there too. */
	ck_assert(movematch_refile_cut(b, 2, 2, true, 50));
	ck_assert(movematch_refile_cut(b, 2, 2, true, 3));
	ck_assert(movematch_refile_cut(b, 2, 2, false, 7));
	/* The move's folder: only what it moved there, on the side it changed. */
	ck_assert(movematch_refile_cut(b, 2, 5, false, 9));
	ck_assert(!movematch_refile_cut(b, 2, 5, false, 8));
	ck_assert(!movematch_refile_cut(b, 2, 5, true, 100));
	/* Other folders. */
	ck_assert(!movematch_refile_cut(b, 2, 3, true, 100));
	ck_assert(!movematch_refile_cut(b, 0, 2, true, 100));
}
END_TEST

START_TEST(test_refiles_come_sorted_by_side_and_folders)
{
	struct refile_cand far[] = {candidate(5, 30, 3, false), candidate(0, 7, 2, true),
				    candidate(0, 6, 1, true), candidate(1, 9, 4, false),
				    candidate(2, 1, 9, false)};
	struct refile_cand near[] = {candidate(2, 12, 1, false), candidate(2, 11, 2, false),
				     candidate(1, 40, 3, true), candidate(6, 41, 4, true),
				     candidate(7, 1, 8, true)};
	struct refile *r;
	size_t n;

	ck_assert_int_eq(movematch_refiles(far, 5, near, 5, &r, &n), 0);
	ck_assert_uint_eq(n, 4);
	ck_assert(r[0].on_far && r[0].from == 0 && r[0].to == 2 && r[0].uid == 6);
	ck_assert(r[1].on_far && r[1].from == 0 && r[1].to == 2 && r[1].uid == 7);
	ck_assert(!r[2].on_far && r[2].from == 1 && r[2].to == 5 && r[2].uid == 40);
	ck_assert(!r[3].on_far && r[3].from == 6 && r[3].to == 1 && r[3].uid == 41);
	free(r);
}
END_TEST

START_TEST(test_refile_candidates_are_marked_cut_by_the_killed_batches)
{
	struct refile_batch b[] = {{.folder = 1, .move = true, .on_far = true, .uidnext = 10}};
	struct move_cand c[] = {
	    {.folder = 1, .uid = 12}, {.folder = 1, .uid = 9}, {.folder = 0, .uid = 30}};
	struct move_cands fresh = {.v = c, .n = 3};
	struct refile_cand *out;

	ck_assert_int_eq(movematch_refile_cands(&fresh, true, b, 1, &out), 0);
	ck_assert(out[0].cut && !out[1].cut && !out[2].cut);
	ck_assert(out[0].folder == 1 && out[0].uid == 12);
	free(out);
	ck_assert_int_eq(movematch_refile_cands(&fresh, false, b, 1, &out), 0);
	ck_assert(!out[0].cut && !out[1].cut && !out[2].cut);
	free(out);
}
END_TEST

static Suite *movematch_suite(void)
{
	Suite *s = suite_create("movematch");
	TCase *table = tcase_create("moves"), *rest = tcase_create("candidates");
	TCase *refile = tcase_create("refiles after a kill");

	tcase_add_loop_test(table, test_moves_follow_the_table, 0,
			    (int)(sizeof(match_cases) / sizeof(match_cases[0])));
	tcase_add_loop_test(table, test_stepped_collection_finds_the_same_moves, 0,
			    (int)(sizeof(match_cases) / sizeof(match_cases[0])));
	tcase_add_test(table, test_a_move_is_carried_out_only_where_changes_flow_and_deletions_may);
	tcase_add_test(rest, test_only_new_messages_of_a_vanished_size_are_identified);
	tcase_add_test(rest, test_unpaired_messages_are_collected_in_folder_order);
	tcase_add_test(rest, test_only_new_messages_of_a_wanted_size_are_collected);
	tcase_add_test(rest, test_moved_to_different_folders_on_each_side_is_a_split_move);
	tcase_add_test(refile, test_refile_after_kill_moves_the_copy_that_stayed_in_the_cut_folder);
	tcase_add_test(refile, test_refile_makes_no_guess_without_exactly_one_cut_folder);
	tcase_add_test(refile,
		       test_refile_leaves_same_folder_copies_and_unknown_identities_to_the_plan);
	tcase_add_test(refile, test_refile_makes_no_guess_when_copies_are_counted);
	tcase_add_test(refile, test_refile_cut_is_where_the_killed_batch_left_a_message);
	tcase_add_test(refile, test_refiles_come_sorted_by_side_and_folders);
	tcase_add_test(refile, test_refile_candidates_are_marked_cut_by_the_killed_batches);
	suite_add_tcase(s, table);
	suite_add_tcase(s, rest);
	suite_add_tcase(s, refile);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(movematch_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
