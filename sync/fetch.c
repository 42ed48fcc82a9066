/* Placeholders replaced by their messages (sync/fetch.h): one far message
 * at a time streamed into the near store's replace operation, so that a
 * message is begun knowing which placeholder it replaces. */
#include "sync/fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/identity.h"
#include "store/log.h"
#include "sync/child.h"
#include "sync/connect.h"
#include "sync/crashpoint.h"
#include "sync/roles.h"
#include "sync/side.h"

/* One placeholder being replaced: the far body streamed into near. */
struct replace {
	struct store *near;
	const struct pair *pair;
	struct store_new_msg *cur;
	struct ident ident; /* of the far message, checked against the pair's far_id */
	bool ident_open;
	bool done; /* replaced: near_id and near_size are the message's */
	struct msg_id near_id;
	uint64_t near_size;
	char why[160]; /* not replaced: what came instead */
};

static void replace_abort(void *ctx)
{
	struct replace *r = ctx;

	if (r->ident_open)
		ident_discard(&r->ident);
	r->ident_open = false;
	if (r->cur)
		store_add_abort(r->near, r->cur);
	r->cur = NULL;
}

static int replace_begin(void *ctx, struct ferry_error *err)
{
	struct replace *r = ctx;

	replace_abort(r);
	if (ident_init(&r->ident) != 0)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "SHA-256 unavailable");
	r->ident_open = true;
	return store_replace_begin(r->near, r->pair->near_uid, &r->cur, err);
}

static int replace_write(void *ctx, const char *buf, size_t len, struct ferry_error *err)
{
	struct replace *r = ctx;

	if (ident_feed(&r->ident, buf, len) != 0)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "SHA-256 failed");
	return store_add_write(r->near, r->cur, buf, len, err);
}

/* The whole message is in: it replaces the placeholder, then the pair is
 * recorded whole. A crash between leaves the message in place and the
 * pair still marked: a later fetch replaces it again, nothing is lost. */
static int replace_end(void *ctx, uint32_t uid, struct ferry_error *err)
{
	struct replace *r = ctx;
	struct store_new_msg *cur = r->cur;
	struct msg_id id = {0};
	uint64_t size = 0;

	r->cur = NULL;
	r->ident_open = false;
	if (ident_final(&r->ident, &id, &size) != 0) {
		store_add_abort(r->near, cur);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "SHA-256 failed");
	}
	if (uid != r->pair->far_uid) {
		store_add_abort(r->near, cur);
		snprintf(r->why, sizeof(r->why), "the server sent uid %u instead", uid);
		return 0;
	}
	/* An IMAP message never changes: one that differs from what the
	 * placeholder stands for is not its message (a server that reused
	 * uids). */
	if (r->pair->far_id.known && memcmp(id.hash, r->pair->far_id.hash, sizeof(id.hash)) != 0) {
		store_add_abort(r->near, cur);
		snprintf(r->why, sizeof(r->why),
			 "its header is not the one the placeholder stands for");
		return 0;
	}
	(void)size;
	crashpoint("fetch", false);
	if (store_replace_commit(r->near, cur, &r->near_id, &r->near_size, err) != 0)
		return -1;
	r->done = true;
	return 0;
}

static void replace_undelivered(void *ctx, uint32_t uid, const char *why)
{
	struct replace *r = ctx;

	(void)uid;
	snprintf(r->why, sizeof(r->why), "%s", why);
}

/* Replaces one placeholder; 1 when replaced, 0 when the far message did
 * not come (named), -1. */
static int replace_one(struct store *far, struct store *near, struct state *state,
		       int64_t folder_id, const char *folder, const struct pair *pair,
		       struct ferry_error *err)
{
	struct replace r = {.near = near, .pair = pair};
	struct fetch_sink sink = {.ctx = &r,
				  .begin = replace_begin,
				  .write = replace_write,
				  .end = replace_end,
				  .abort = replace_abort,
				  .undelivered = replace_undelivered};
	struct pair whole = *pair;
	int rc = store_fetch(far, &pair->far_uid, 1, &sink, err);

	replace_abort(&r);
	if (rc != 0)
		return -1;
	if (!r.done) {
		log_error("%s: far uid %u: not fetched: %s", folder, pair->far_uid,
			  r.why[0] ? r.why : "the server did not send it (gone?)");
		return 0;
	}
	/* The whole message is in place, the pair still says placeholder. */
	crashpoint("fetch", true);
	whole.placeholder = false;
	whole.placeholder_size = 0;
	whole.near_id = r.near_id;
	whole.size = r.near_size;
	if (state_begin(state, err) != 0)
		return -1;
	if (state_put_pair(state, folder_id, &whole, err) != 0 || state_commit(state, err) != 0) {
		state_rollback(state);
		return -1;
	}
	log_info("%s: far uid %u fetched in place of its placeholder (near uid %u, %llu bytes)",
		 folder, pair->far_uid, pair->near_uid, (unsigned long long)r.near_size);
	return 1;
}

int fetch_placeholders(struct store *far, struct store *near, struct state *state,
		       int64_t folder_id, const char *folder, const uint32_t *far_uids, size_t n,
		       size_t *fetched, size_t *skipped, struct ferry_error *err)
{
	struct folder_state fs;
	int r = 0;

	if (n == 0)
		return 0;
	if (store_select(far, folder, &fs, err) != 0 || store_select(near, folder, &fs, err) != 0)
		return -1;
	for (size_t i = 0; r >= 0 && i < n; i++) {
		struct pair pair;
		bool found = false;

		if (state_get_pair(state, folder_id, far_uids[i], 0, &pair, &found, err) != 0)
			return -1;
		if (!found || !pair.placeholder || !pair.near_uid) {
			log_error("%s: far uid %u: %s", folder, far_uids[i],
				  found ? "not a placeholder (its message is here whole)"
					: "no message of this folder's pairs has that uid");
			++*skipped;
		} else {
			r = replace_one(far, near, state, folder_id, folder, &pair, err);
			if (r > 0)
				++*fetched;
			else if (r == 0)
				++*skipped;
		}
		free(pair.base_keywords);
	}
	return r < 0 ? -1 : 0;
}

/* ---- the command ---- */

struct fetch_cmd {
	const struct channel_conf *ch;
	const char *folder;
	const uint32_t *uids;
	size_t n;
	bool all;
};

/* The state's row of the folder, by the engine's name for it. */
static int find_folder(struct state *state, const char *name, struct state_folder *out,
		       struct ferry_error *err)
{
	struct state_folder *v = NULL;
	size_t n = 0;
	int r = -1;

	if (state_list_folders(state, &v, &n, err) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i].name, name) != 0)
			continue;
		*out = v[i];
		out->name = NULL; /* freed with v */
		r = 0;
	}
	state_folders_free(v, n);
	if (r != 0)
		ferry_error_set(err, FERRY_CAUSE_CONFIG,
				"no folder '%s' in the state: sync it first (`ferry sync`)", name);
	return r;
}

/* The far uids of every placeholder of the folder; malloc'd. */
static int all_placeholders(struct state *state, int64_t folder_id, uint32_t **out, size_t *n,
			    struct ferry_error *err)
{
	struct pair *pairs = NULL;
	size_t np = 0;

	*n = 0;
	if (state_load_pairs(state, folder_id, &pairs, &np, err) != 0)
		return -1;
	*out = malloc((np + 1) * sizeof(**out));
	if (!*out) {
		state_pairs_free(pairs, np);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	for (size_t i = 0; i < np; i++)
		if (pairs[i].placeholder && pairs[i].far_uid && pairs[i].near_uid)
			(*out)[(*n)++] = pairs[i].far_uid;
	state_pairs_free(pairs, np);
	return 0;
}

/* Near folders paired by role or `map` under another name are known by
 * the far name: the near store translates it, as in a sync. */
static int pair_names(const struct channel_conf *ch, struct state *state, struct store *store[2],
		      struct roles_result *roles, struct ferry_error *err)
{
	struct store_folder *f[2] = {NULL, NULL};
	size_t nf[2] = {0, 0}, nmem = 0;
	struct state_role_pair *mem = NULL;
	int r = -1;

	if (state_list_role_pairs(state, &mem, &nmem, err) == 0 &&
	    store_list_folders(store[FAR], &f[FAR], &nf[FAR], err) == 0 &&
	    store_list_folders(store[NEAR], &f[NEAR], &nf[NEAR], err) == 0 &&
	    roles_apply(ch, mem, nmem, f, nf, roles, err) == 0) {
		store[NEAR]->aliases = roles->aliases;
		store[NEAR]->naliases = roles->naliases;
		r = 0;
	}
	store_folders_free(f[FAR], nf[FAR]);
	store_folders_free(f[NEAR], nf[NEAR]);
	state_role_pairs_free(mem, nmem);
	return r;
}

/* Pairs recorded under another UIDVALIDITY name other messages. */
static int check_uidvalidity(struct store *store[2], const struct state_folder *sf,
			     const char *folder, struct ferry_error *err)
{
	uint32_t recorded[2] = {sf->far_uidvalidity, sf->near_uidvalidity};

	for (enum side s = FAR; s <= NEAR; s++) {
		struct folder_state fs;

		if (store_select(store[s], folder, &fs, err) != 0)
			return -1;
		if (recorded[s] && fs.uidvalidity != recorded[s])
			return ferry_error_set(err, FERRY_CAUSE_INCOMPLETE,
					       "%s: UIDVALIDITY changed on %s since the last sync: "
					       "sync first",
					       folder, side_str(s));
	}
	return 0;
}

static int fetch_channel(void *arg, struct ferry_error *err)
{
	const struct fetch_cmd *cmd = arg;
	const struct channel_conf *ch = cmd->ch;
	struct store *store[2] = {NULL, NULL};
	struct roles_result roles = {0};
	struct state *state = NULL;
	struct state_folder sf = {0};
	uint32_t *every = NULL;
	const uint32_t *uids = cmd->uids;
	size_t n = cmd->n, fetched = 0, skipped = 0;
	int lockfd = -1, r = -1;

	if (state_lock(ch->state, &lockfd, err) != 0)
		return -1;
	if (state_open(ch->state, &state, err) != 0 ||
	    find_folder(state, cmd->folder, &sf, err) != 0)
		goto out;
	if (cmd->all) {
		if (all_placeholders(state, sf.id, &every, &n, err) != 0)
			goto out;
		uids = every;
	}
	if (connect_store(ch->far, &store[FAR], err) != 0 ||
	    connect_store(ch->near, &store[NEAR], err) != 0 ||
	    pair_names(ch, state, store, &roles, err) != 0 ||
	    check_uidvalidity(store, &sf, cmd->folder, err) != 0)
		goto out;
	if (fetch_placeholders(store[FAR], store[NEAR], state, sf.id, cmd->folder, uids, n,
			       &fetched, &skipped, err) != 0)
		goto out;
	log_info("%s: %s: %zu placeholder%s replaced by %s message", ch->name, cmd->folder, fetched,
		 fetched == 1 ? "" : "s", fetched == 1 ? "its" : "their");
	r = 0;
	if (skipped)
		r = ferry_error_set(err, FERRY_CAUSE_INCOMPLETE,
				    "%zu uid%s not fetched (named above)", skipped,
				    skipped == 1 ? "" : "s");
out:
	free(every);
	if (store[NEAR])
		store[NEAR]->naliases = 0;
	roles_result_free(&roles);
	store_close(store[NEAR]);
	store_close(store[FAR]);
	state_close(state);
	if (lockfd >= 0)
		close(lockfd);
	return r;
}

enum ferry_status fetch_run(const struct channel_conf *ch, const char *folder, const uint32_t *uids,
			    size_t n, bool all)
{
	struct fetch_cmd cmd = {ch, folder, uids, n, all};
	struct ferry_error err = {0};

	if (ch->placeholders == PLACEHOLDERS_NO)
		log_warn("%s: placeholders are off: only placeholders made before are fetched",
			 ch->name);
	if (child_run(fetch_channel, &cmd, &err) != 0) {
		if (err.msg[0])
			log_error("%s: %s", ch->name, err.msg);
		return err.status;
	}
	return FERRY_OK;
}
