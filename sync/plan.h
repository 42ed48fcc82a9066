/* The plan: what to do in one folder pair, from the two listings and the
 * state of the last sync. Pure: no I/O, no globals, no clock, so every rule
 * of DESIGN.md "The sync, per channel" is tested by a table of cases.
 *
 * Rules implemented here: 5 (only complete listings delete; max_delete),
 * 7 (unpaired before copied, copies counted), 9 (flags three-way per flag,
 * union without a base, \Deleted needs both), 10 (deletion vs concurrent
 * change), sync direction, delete policy, max_size. The caller fills msg.id
 * for unpaired messages first (plan_unpaired tells which) so rule 7 can pair
 * them by identity. A near message marked placeholder (msg.placeholder) is
 * never copied to far; with policy.placeholders a far message over max_size
 * is copied to near as a placeholder. */
#ifndef FERRY_PLAN_H
#define FERRY_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/message.h"
#include "sync/pair.h"
#include "sync/policy.h"

struct plan_input {
	const struct msg *far, *near; /* listings, sorted by uid */
	size_t nfar, nnear;
	const struct pair *pairs;
	size_t npairs;
	bool far_complete, near_complete; /* listing finished: may delete from it */
	bool have_state; /* false: first sync, lost state, UIDVALIDITY change: delete nothing */
	bool far_keywords_ok, near_keywords_ok;
	/* Keywords the side took no more of in this folder (a server's limit):
	 * there their absence is not a removal, and they are not sent. */
	const char *far_kw_dropped, *near_kw_dropped;
	struct sync_policy policy;
	/* How many messages each side holds, when the listings hold only the
	 * changed ones (max_delete's percentage is of these); 0: the listing's
	 * length. */
	size_t far_size, near_size;
};

enum action_kind {
	ACT_PAIR,	  /* identity match: record (far_uid, near_uid) with base */
	ACT_COPY_TO_NEAR, /* copy far_uid to near with flags/keywords */
	ACT_COPY_TO_FAR,  /* copy near_uid to far with flags/keywords */
	ACT_FLAGS_FAR,	  /* add/remove on far_uid */
	ACT_FLAGS_NEAR,	  /* add/remove on near_uid */
	ACT_DELETE_FAR,	  /* delete far_uid (its pair was deleted near) */
	ACT_DELETE_NEAR,  /* delete near_uid */
	ACT_FORGET,	  /* drop the pair: gone on both sides */
	ACT_SET_BASE,	  /* record base flags/keywords of the pair (after flag actions) */
	ACT_SKIP_SIZE,	  /* record far_uid or near_uid as skipped by max_size */
	ACT_KEEP,	  /* record the pair as one-sided: deletion not propagated */
};

/* Members by size, widest first: a first sync plans one action a message
 * (64 bytes, not 72). */
struct action {
	char *add_keywords;    /* FLAGS/COPY: keywords to add/give */
	char *remove_keywords; /* FLAGS: keywords to remove */
	char *base_keywords;
	uint64_t size;
	enum action_kind kind;
	uint32_t far_uid, near_uid;
	unsigned add, remove; /* FLAGS: bits to add/remove. COPY: add = flags to give */
	unsigned base_flags;  /* PAIR, SET_BASE, COPY: the new base */
	bool conflict;	      /* rule 10: kept and copied back; reported */
	/* COPY_TO_NEAR: a placeholder, not the message (over max_size);
	 * PAIR: the near message is a placeholder of the far one. */
	bool placeholder;
};

struct plan {
	struct action *v;
	size_t n, cap;
	/* Deletions the plan would have made on each side but did not because
	 * they exceed max_delete (the folder stops until --force-delete). */
	size_t blocked_far, blocked_near;
	size_t conflicts;
	size_t outside_window; /* older than max_age: left alone, neither copied nor deleted */
};

/* Which messages lack a pair; the caller identifies those (store identify)
 * before plan_folder. *far_idx and *near_idx are malloc'd arrays of indexes
 * into in->far / in->near. Returns -1 on allocation failure. */
int plan_unpaired(const struct plan_input *in, size_t **far_idx, size_t *nfar, size_t **near_idx,
		  size_t *nnear);

/* Plans one folder pair. Returns 0, or -1 on allocation failure. Actions come
 * in an order safe to execute: PAIR, FORGET, KEEP, SKIP_SIZE, FLAGS, SET_BASE,
 * COPY, DELETE. */
int plan_folder(const struct plan_input *in, struct plan *out);

void plan_free(struct plan *p);

/* placeholders = flagged: the far uids of the pairs whose near copy is a
 * placeholder and whose flags, merged (rule 9), hold \Flagged: someone
 * wants the message. far_uids has room for in->npairs. Returns how many
 * (0 on allocation failure: none fetched this run). */
size_t plan_flagged_placeholders(const struct plan_input *in, uint32_t *far_uids);

/* How many messages a first sync into an empty side plans at once. */
#define PLAN_WINDOW 50000

/* Whether in may be planned in windows of uids (cut in->far or in->near
 * into consecutive runs, each planned and applied alone) with the same
 * actions as one plan: no pairs and one side empty, so that every action
 * concerns one message alone (a copy, or max_size's skip). A first sync into
 * an empty folder, a lost state beside an empty side; never where both sides
 * hold messages, which rule 7 pairs across the whole folder. */
bool plan_by_windows(const struct plan_input *in);

/* Rule 5: whether deleting count of total exceeds max_delete (a percentage
 * of total, never for 10 or fewer; or an absolute count). --force-delete is
 * the caller's. */
bool plan_exceeds_max_delete(bool is_percent, unsigned max_delete, size_t count, size_t total);

/* Rule 11: whether a side whose listing lacks gone of the synced folders
 * synced last time (those still on the other side) lost "all or most" of
 * them: more than half, and at least 3. Such a listing is a wrong path, an
 * unmounted disk or another account, not a user's deletions: the channel
 * stops with nothing created or removed (until --force-delete). */
bool plan_folders_lost(size_t synced, size_t gone);

/* The merged value of one flag set (rule 9): bits that differ between far
 * and near take the value that is not the base. */
unsigned plan_merge_flags(unsigned base, unsigned far, unsigned near);

#endif
