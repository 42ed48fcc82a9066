/* The sync of one channel: folders paired, each folder planned and applied.
 * Internal interface between channel.c (folders, lock, stores) and apply.c
 * (one folder pair: listings, identity, plan, side effects, state). */
#ifndef FERRY_ENGINE_H
#define FERRY_ENGINE_H

#include <stdbool.h>
#include <stddef.h>

#include "store/base/grow.h"
#include "store/store.h"
#include "sync/config.h"
#include "sync/plan.h"
#include "sync/side.h"
#include "sync/state.h"

struct sync_opts {
	bool dry_run;
	bool force_delete;
	bool has_dir_override; /* --pull / --push */
	enum sync_dir dir_override;
	bool quiet_unchanged; /* `watch`: no summary line for a run that changed nothing */
};

/* What moved in one folder, for the per-folder line and the summary. The
 * arrays are indexed by the side changed: added[NEAR] were copied far->near. */
struct folder_report {
	size_t added[2], flags[2], deleted[2];
	size_t moved[2];   /* moved into this folder */
	uint64_t bytes[2]; /* --dry-run: the size of the copies planned, by side */
	size_t paired, skipped_size, conflicts, blocked_deletes, failed;
	size_t unrecorded;  /* copied, but the target gave no uid: paired next run */
	size_t undelivered; /* rule 17: the source did not deliver them; tried next run */
	size_t refused;	    /* the target said no (quota, size); tried next run */
};

struct engine {
	const struct channel_conf *ch;
	const struct sync_opts *opts;
	enum sync_dir dir;	/* effective for this run */
	struct store *store[2]; /* indexed by enum side */
	struct state *state;
	unsigned reconnects; /* made this run: sync/connect.c */
	/* The batches a killed run left in the journal: the move pass takes the
	 * folders they copied or moved into for where unrecorded copies stayed. */
	const struct journal_entry *cut;
	size_t ncut;
	/* Per side, the folders that received new messages this run, one name
	 * per line: for the post_sync hook. */
	struct strbuf arrived[2];
};

/* One folder of the channel, as both sides list it (sync/channel.c). */
struct channel_folder {
	char *name;
	bool on[2];	  /* selectable there, by side */
	bool listed_only; /* outside CHANNEL:FOLDER: listed for the move pass only */
	bool held;	  /* its removal exceeds max_delete: neither removed nor recreated */
	struct folder_state now[2]; /* far, near: what status said, where now_ok */
	bool now_ok[2];
	/* Listed there, but \Noselect or \NonExistent: it holds no mail. */
	bool placeholder[2];
};

/* One folder pair through a run: prepared (selected, listed, pairs loaded)
 * for every folder first, so the move pass can look across folders, then
 * finished (identified, planned, applied) one by one. */
struct folder_work {
	const char *name; /* owned by the caller */
	bool forget;	  /* just created on one side: pair again by identity */
	bool prepared;
	bool have_state;
	bool still_selected; /* nothing was selected since prepare: finish need not reselect */
	bool sparse;	     /* pairs and listings hold only what changed (rule 4) */
	/* --dry-run: the folder is missing on that side, which the real run
	 * would create first; planned as empty there, never selected. */
	bool absent[2];
	struct folder_state seen[2]; /* what each side's select said in prepare */
	struct state_folder sf;
	struct msg_list list[2]; /* each side's listing, sorted by uid */
	struct pair *pairs;
	size_t npairs;
	struct folder_report rep;
};

/* Frees what preparing a folder loaded (pairs, listings); w can be
 * prepared again. */
void engine_folder_free(struct folder_work *w);

/* The move pass (rule 8) over every prepared folder: a message that vanished
 * from one folder and appeared in another on the same side is moved on the
 * other side (UID MOVE, rename) instead of deleted and copied again. Patches
 * the listings and pairs in v so the folders' plans see the moved pairs. */
int engine_moves(struct engine *e, struct folder_work *v, size_t n, struct ferry_error *err);

/* The configuration of one side's store. */
static inline const struct store_conf *engine_conf(const struct engine *e, enum side s)
{
	return s == FAR ? e->ch->far : e->ch->near;
}

/* A pair's uid and recorded identity on one side. */
static inline uint32_t side_uid(const struct pair *p, enum side s)
{
	return s == FAR ? p->far_uid : p->near_uid;
}

static inline const struct msg_id *side_id(const struct pair *p, enum side s)
{
	return s == FAR ? &p->far_id : &p->near_id;
}

/* A plan action's uid on one side. */
static inline uint32_t side_action_uid(const struct action *a, enum side s)
{
	return s == FAR ? a->far_uid : a->near_uid;
}

/* Finds a message by uid in a listing sorted by uid; NULL if absent. */
struct msg *engine_find_msg(const struct msg_list *l, uint32_t uid);

/* Sorts a listing by uid, as engine_find_msg needs it. */
void engine_sort_msgs(struct msg_list *l);

/* What a clean finish of a folder is recorded under (the settings that
 * decide what a sync does with an unchanged folder), in buf; false when
 * this run can finish no folder clean (a one-way run). */
bool engine_policy(const struct engine *e, char *buf, size_t len);

/* Set by SIGINT/SIGTERM: finish the current batch, commit, stop. */
extern volatile int engine_interrupted;

#endif
