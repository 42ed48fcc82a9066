/* The matching half of the move pass (DESIGN rules 8 and 13). Pure: no
 * I/O, no store, no state handle, no globals. In: every prepared folder's
 * listings and pairs as plain arrays; out: which messages moved between
 * folders. tests/unit/test_movematch.c walks its cases as a table; sync/moves.c
 * identifies what it is asked to between the steps, then replays the moves.
 *
 * A move on side s: a synced pair whose message vanished from folder A on s
 * (still in A on the other side), and one unpaired message new in folder B
 * on s with the same identity (header hash + CRLF size), exactly one
 * candidate each way. No candidate or several means no move: the folders'
 * plans copy and delete instead. */
#ifndef FERRY_MOVEMATCH_H
#define FERRY_MOVEMATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/message.h"
#include "sync/pair.h"
#include "sync/policy.h"
#include "sync/side.h"

/* One side's listing of a folder, sorted by uid. */
struct movematch_listing {
	const struct msg *v;
	size_t n;
};

/* One folder of the channel as the matcher reads it. */
struct movematch_folder {
	struct movematch_listing side[2]; /* indexed by enum side */
	const struct pair *pairs;
	size_t npairs;
	bool prepared;	 /* listed and its pairs loaded; else it takes no part */
	bool have_state; /* only a usable state says what vanished (rule 7) */
};

/* One message of one side in one folder that may have moved. For a
 * vanished one, uid is its pair's uid on the other side (the message to
 * move there) and pair its index in the folder's pairs; for a new one, uid
 * is its uid on the side it appeared on. */
struct move_cand {
	struct msg_id id;
	uint64_t size;
	size_t folder; /* index into the caller's folders */
	uint32_t uid;
	size_t pair;
};

struct move_cands {
	struct move_cand *v;
	size_t n, cap;
};

void move_cands_free(struct move_cands *c);

/* A move on one side: the pair gone.pair of folder gone.folder follows its
 * message into folder fresh.folder, where it is fresh.uid. */
struct move {
	struct move_cand gone, fresh;
};

/* Whether a move may be carried out on side s (replayed there, or a copy
 * that stayed there follows the other): this run's direction carries
 * changes into s and the delete policy lets s lose a message from a folder
 * (rule 8); otherwise the plans make it a copy. */
bool movematch_may_move_on(const struct sync_policy *policy, enum side s);

/* Appends the vanished pairs (to gone) and the unpaired messages (to
 * fresh) of side `moved` in every prepared folder; fresh comes in folder
 * order. A vanished pair whose identity is not known takes no part.
 * Returns 0, or -1 on allocation failure. */
int movematch_collect(const struct movematch_folder *v, size_t n, enum side moved,
		      struct move_cands *gone, struct move_cands *fresh);

/* The same in steps, so that a large account is not copied whole into
 * candidates: a new message can only match one of its own size (the
 * identity includes it). movematch_collect_gone appends the vanished pairs
 * of side `moved`; movematch_sizes gives the sizes of some candidates,
 * sorted, and movematch_unpaired_sizes those of the unpaired messages of
 * side s (*sizes malloc'd, NULL when none); movematch_collect_fresh appends
 * the unpaired messages of side `moved` whose size is among sizes (none
 * when there are none), in folder order. Each returns 0, or -1 on
 * allocation failure. */
int movematch_collect_gone(const struct movematch_folder *v, size_t n, enum side moved,
			   struct move_cands *gone);
int movematch_sizes(const struct move_cands *c, uint64_t **sizes, size_t *n);
int movematch_unpaired_sizes(const struct movematch_folder *v, size_t n, enum side s,
			     uint64_t **sizes, size_t *nsizes);
int movematch_collect_fresh(const struct movematch_folder *v, size_t n, enum side moved,
			    const uint64_t *sizes, size_t nsizes, struct move_cands *fresh);

/* Appends the pairs whose message left their folder on both sides (rule 8's
 * split: each side moved it, to different folders). */
int movematch_collect_both_gone(const struct movematch_folder *v, size_t n,
				struct move_cands *gone);

/* The candidates of fresh worth identifying (the identity of a new message
 * costs a header fetch): those not identified whose size some message in
 * `sizes` has. *idx (malloc'd, NULL when none) holds indexes into fresh, in
 * its order. Returns 0, or -1 on allocation failure. */
int movematch_to_identify(const struct move_cands *sizes, const struct move_cands *fresh,
			  size_t **idx, size_t *n);

/* The moves: identities held by exactly one vanished pair and one new
 * message. Sorts gone and fresh in place. *out (malloc'd, NULL when none)
 * comes sorted by source folder, target folder, then uid, so that each
 * group is one batch to replay. Returns 0, or -1 on allocation failure. */
int movematch_moves(struct move_cands *gone, struct move_cands *fresh, struct move **out,
		    size_t *n);

/* A pair moved on both sides to different folders: from folder `from` to
 * to[FAR] on far and to[NEAR] on near. */
struct split_move {
	size_t from, to[2];
};

/* The split moves among pairs gone on both sides (movematch_collect_both_gone)
 * and the new messages of each side, indexed by enum side: an identity held
 * by exactly one new message on each side, in different folders. Nothing is
 * undone: each plan copies it across and the run reports a conflict.
 * *out is malloc'd (NULL when none). Returns 0, or -1 on allocation failure. */
int movematch_split_moves(const struct move_cands *gone, const struct move_cands fresh[2],
			  struct split_move **out, size_t *n);

/* Rules 8 and 13 together: a copy a killed run made but did not record,
 * then filed into another folder on one side before this run. Both copies
 * are unpaired, in different folders. The one still where the killed run
 * left it ("cut") is the one that stayed: it follows the other into its
 * folder. One unpaired message of one side, across the channel's folders: */
struct refile_cand {
	size_t folder; /* the caller's index */
	uint32_t uid;
	uint64_t size;
	struct msg_id id; /* not known: takes no part */
	bool cut;	  /* movematch_refile_cut */
};

/* A batch a killed run left in the journal, into one folder. */
struct refile_batch {
	size_t folder;	  /* the caller's index */
	bool move;	  /* a move (rule 8); else a copy (download, upload) */
	bool on_far;	  /* the side it changed */
	uint32_t uidnext; /* that side's UIDNEXT before it */
};

/* Whether a killed run left the message where it is: in the folder of a
 * copy batch, on either side (the source was there, the copy was made
 * there); or, for a move batch, on the side it changed at a uid from its
 * UIDNEXT on (the move was made; the other side's copy in that folder is
 * the one the move followed, or was filed there since). */
bool movematch_refile_cut(const struct refile_batch *b, size_t n, size_t folder, bool on_far,
			  uint32_t uid);

/* The new messages of side on_far as refile candidates, each marked cut
 * or not by the killed run's batches b. *out is malloc'd. */
int movematch_refile_cands(const struct move_cands *fresh, bool on_far,
			   const struct refile_batch *b, size_t nb, struct refile_cand **out);

/* Move uid, on far (on_far) or near, from folder from to folder to. */
struct refile {
	bool on_far;
	size_t from, to;
	uint32_t uid;
};

/* The refiles among the unpaired messages of both sides: an identity held
 * by exactly one unpaired message on each side, in different folders, one
 * of them cut and the other not (otherwise no guess: the plans copy).
 * *out (malloc'd, NULL when none) comes sorted by side, from, to, uid.
 * Sorts far and near in place. Returns 0, or -1 on allocation failure. */
int movematch_refiles(struct refile_cand *far, size_t nfar, struct refile_cand *near, size_t nnear,
		      struct refile **out, size_t *n);

#endif
