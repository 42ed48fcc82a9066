/* Folder renames, the replay (DESIGN.md rule 11): see rename_replay.h.
 *
 * Crash safety: the store's rename comes first, the state's record after
 * it. A run killed between the two finds the folder renamed on both sides
 * with the UIDVALIDITYs the state knows, which renames.c matches as
 * renamed on both: only the state follows then. */
#include "sync/rename_replay.h"

#include <stdlib.h>
#include <string.h>

#include "store/log.h"
#include "sync/connect.h"
#include "sync/crashpoint.h"
#include "sync/names.h"
#include "sync/renames.h"

static int cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct channel_folder *)a)->name,
		      ((const struct channel_folder *)b)->name);
}

static const struct channel_folder *entry(const struct channel_folder *v, size_t n,
					  const char *name)
{
	struct channel_folder key = {.name = (char *)name};

	return bsearch(&key, v, n, sizeof(*v), cmp_name);
}

/* The folders the state synced that the channel still selects; *any_gone
 * says whether one of them vanished on a side (nothing else to do if not). */
static int known_folders(struct engine *e, const struct channel_folder *v, size_t n,
			 struct state_folder **sf, size_t *nsf, struct rename_known **out,
			 size_t *nknown, bool *any_gone, struct ferry_error *err)
{
	struct rename_known *k;

	*nknown = 0;
	*any_gone = false;
	if (state_list_folders(e->state, sf, nsf, err) != 0)
		return -1;
	if (!(k = calloc(*nsf + 1, sizeof(*k))))
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	for (size_t i = 0; i < *nsf; i++) {
		const struct state_folder *f = &(*sf)[i];
		const struct channel_folder *now = entry(v, n, f->name);

		if (!f->last_sync || !names_selected(e->ch, f->name))
			continue;
		k[(*nknown)++] = (struct rename_known){
		    .name = f->name, .uidvalidity = {f->far_uidvalidity, f->near_uidvalidity}};
		*any_gone |= !now || !now->on[FAR] || !now->on[NEAR];
	}
	*out = k;
	return 0;
}

/* Whether the state has a row for name, synced or not. */
static bool in_state(const struct state_folder *sf, size_t nsf, const char *name)
{
	for (size_t i = 0; i < nsf; i++)
		if (strcmp(sf[i].name, name) == 0)
			return true;
	return false;
}

/* The folders listed now. Those the state knows keep the UIDVALIDITYs it
 * recorded (a reused one is then seen); the others are asked for theirs,
 * on each side that lists them (one STATUS each, pipelined). */
static int seen_folders(struct engine *e, const struct channel_folder *v, size_t n,
			const struct state_folder *sf, size_t nsf, struct rename_seen *seen,
			struct ferry_error *err)
{
	for (size_t i = 0; i < n; i++) {
		seen[i] =
		    (struct rename_seen){.name = v[i].name, .on = {v[i].on[FAR], v[i].on[NEAR]}};
		for (size_t j = 0; j < nsf; j++)
			if (strcmp(sf[j].name, v[i].name) == 0) {
				seen[i].uidvalidity[FAR] = sf[j].far_uidvalidity;
				seen[i].uidvalidity[NEAR] = sf[j].near_uidvalidity;
			}
	}
	for (enum side k = FAR; k <= NEAR; k++) {
		const char **names = calloc(n + 1, sizeof(*names));
		size_t *at = calloc(n + 1, sizeof(*at)), m = 0;
		struct folder_state *st = calloc(n + 1, sizeof(*st));
		bool *ok = calloc(n + 1, sizeof(*ok));
		int r = 0;

		if (!names || !at || !st || !ok)
			r = ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		for (size_t i = 0; r == 0 && i < n; i++)
			if (v[i].on[k] && !in_state(sf, nsf, v[i].name)) {
				at[m] = i;
				names[m++] = v[i].name;
			}
		if (r == 0 && m)
			r = store_status(e->store[k], names, m, st, ok, err);
		for (size_t j = 0; r == 0 && j < m; j++)
			seen[at[j]].uidvalidity[k] = ok[j] ? st[j].uidvalidity : 0;
		free(names);
		free(at);
		free(st);
		free(ok);
		if (r != 0)
			return -1;
	}
	return 0;
}

/* Whether changes may flow into side `to` this run. */
static bool flows_into(const struct engine *e, enum side to)
{
	return e->dir == SYNC_BOTH || e->dir == (to == FAR ? SYNC_PUSH : SYNC_PULL);
}

/* Records r and the renames of its children that moved with it. */
static int record(struct engine *e, const struct rename *v, size_t n, size_t i,
		  struct ferry_error *err)
{
	if (state_begin(e->state, err) != 0)
		return -1;
	for (size_t j = i; j < n; j++) {
		if (j != i && !(v[j].child && renames_below(v[j].from, v[i].from)))
			continue;
		if (state_rename_folder(e->state, v[j].from, v[j].to, err) != 0) {
			state_rollback(e->state);
			return -1;
		}
	}
	return state_commit(e->state, err);
}

/* Carries out v[i] and records it with its children; how many folders
 * changed name, or 0 when it was left out. */
static size_t replay_one(struct engine *e, const struct rename *v, size_t n, size_t i)
{
	const struct rename *r = &v[i];
	enum side other = side_other(r->renamed_on);
	struct ferry_error err = {0};
	size_t moved = 1;
	const char *dry = e->opts->dry_run ? " [dry run]" : "";

	for (size_t j = i + 1; j < n; j++)
		moved += v[j].child && renames_below(v[j].from, r->from);
	if (r->both) {
		log_info("%s: renamed to %s on both sides; the state follows%s", r->from, r->to,
			 dry);
	} else if (!flows_into(e, other)) {
		log_info("%s: renamed to %s on %s; not renamed on %s (sync = %s)", r->from, r->to,
			 side_str(r->renamed_on), side_str(other),
			 e->dir == SYNC_PUSH ? "push" : "pull");
		return 0;
	} else {
		log_info("%s: renamed to %s on %s; renaming it on %s%s%s", r->from, r->to,
			 side_str(r->renamed_on), side_str(other),
			 moved > 1 ? " with the folders below it" : "", dry);
		if (e->opts->dry_run)
			return 0; /* the dry run's plan shows what today's sync would do */
		if (store_rename_folder(e->store[other], r->from, r->to, &err) != 0) {
			log_warn(
			    "%s: not renamed on %s (%s); synced as a folder gone and a new one",
			    r->from, side_str(other), err.msg);
			if (connect_broken(e->store) &&
			    connect_again(e->store, &e->reconnects, &err) != 0)
				log_error("%s", err.msg);
			return 0;
		}
		crashpoint("rename", true);
	}
	if (e->opts->dry_run)
		return 0;
	if (record(e, v, n, i, &err) != 0) {
		/* The next run finds it renamed on both sides and records it. */
		log_error("%s: renamed, but not recorded: %s", r->from, err.msg);
		return 0;
	}
	return moved;
}

size_t rename_replay(struct engine *e, const struct channel_folder *v, size_t n)
{
	struct state_folder *sf = NULL;
	struct rename_known *known = NULL;
	struct rename_seen *seen = NULL;
	struct rename *renames = NULL;
	size_t nsf = 0, nknown = 0, nrenames = 0, done = 0;
	struct ferry_error err = {0};
	bool any_gone = false;

	if (known_folders(e, v, n, &sf, &nsf, &known, &nknown, &any_gone, &err) != 0)
		goto failed;
	if (!any_gone)
		goto out;
	if (!(seen = calloc(n + 1, sizeof(*seen)))) {
		ferry_error_set(&err, FERRY_CAUSE_INTERNAL, "out of memory");
		goto failed;
	}
	if (seen_folders(e, v, n, sf, nsf, seen, &err) != 0)
		goto failed;
	if (renames_match(known, nknown, seen, n, &renames, &nrenames) != 0) {
		ferry_error_set(&err, FERRY_CAUSE_INTERNAL, "out of memory");
		goto failed;
	}
	for (size_t i = 0; i < nrenames && e->store[FAR] && e->store[NEAR]; i++)
		if (!renames[i].child)
			done += replay_one(e, renames, nrenames, i);
	goto out;
failed:
	/* Renames are an economy: without them the folders sync as before. */
	log_warn("%s: looking for renamed folders: %s", e->ch->name, err.msg);
	if (connect_broken(e->store) && connect_again(e->store, &e->reconnects, &err) != 0)
		log_error("%s", err.msg);
out:
	free(renames);
	free(seen);
	free(known);
	state_folders_free(sf, nsf);
	return done;
}
