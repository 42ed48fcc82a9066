#include "sync/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/base/termsafe.h"
#include "store/log.h"
#include "sync/engine.h"
#include "sync/state.h"

static void when(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!t || !localtime_r(&tt, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M", &tm))
		snprintf(buf, len, "never");
}

static int cmp_uid(const void *a, const void *b)
{
	const struct msg *x = a, *y = b;

	return (x->uid > y->uid) - (x->uid < y->uid);
}

/* What changed in a Maildir folder since the last sync: new files, files
 * gone, flags changed. The store scans only folders whose directories moved. */
static int local_pending(struct store *md, bool is_far, const struct state_folder *sf,
			 struct state *state, char *out, size_t len, struct ferry_error *err)
{
	struct folder_state fs;
	struct msg_list list = {0};
	struct pair *pairs = NULL;
	size_t npairs = 0, fresh = 0, gone = 0, flags = 0, paired = 0;

	if (store_select(md, sf->name, &fs, err) != 0 || store_list(md, &list, err) != 0 ||
	    state_load_pairs(state, sf->id, &pairs, &npairs, err) != 0) {
		msg_list_free(&list);
		return -1;
	}
	if (list.n)
		qsort(list.v, list.n, sizeof(*list.v), cmp_uid);
	for (size_t i = 0; i < npairs; i++) {
		uint32_t uid = is_far ? pairs[i].far_uid : pairs[i].near_uid;
		const struct msg *m = uid ? engine_find_msg(&list, uid) : NULL;

		if (!uid)
			continue;
		if (!m) {
			gone++;
			continue;
		}
		paired++;
		if (m->flags != pairs[i].base_flags)
			flags++;
	}
	fresh = list.n - paired;
	if ((is_far ? sf->far_uidvalidity : sf->near_uidvalidity) != fs.uidvalidity)
		snprintf(out, len, "index rebuilt since: %zu messages to match again", list.n);
	else if (fresh || gone || flags)
		snprintf(out, len, "local +%zu ~%zu -%zu waiting", fresh, flags, gone);
	else
		snprintf(out, len, "no local change");
	state_pairs_free(pairs, npairs);
	msg_list_free(&list);
	return 0;
}

/* Names and texts in the state came from the stores (a server's folder
 * name, the text of a conflict): escaped, and the name column padded by the
 * columns it takes on the terminal, so that non-ASCII names line up. */
#define NAME_COLUMNS 40

static void print_folder(const char *name, const char *when, const char *pending)
{
	char *col = termsafe_column(name, NAME_COLUMNS), *safe = termsafe_column(pending, 0);

	printf("  %s synced %s%s%s\n", col ? col : "(out of memory)", when, pending[0] ? "; " : "",
	       safe ? safe : "");
	free(col);
	free(safe);
}

static void print_conflict(const char *when, const char *folder, const char *text)
{
	char *f = termsafe_column(folder, 0), *t = termsafe_column(text, 0);

	printf("  conflict %s in %s: %s\n", when, f ? f : "(out of memory)",
	       t ? t : "(out of memory)");
	free(f);
	free(t);
}

static enum ferry_status status_channel(const struct channel_conf *ch)
{
	const struct store_conf *md_conf = store_conf_local(ch->near)  ? ch->near
					   : store_conf_local(ch->far) ? ch->far
								       : NULL;
	struct ferry_error err = {0};
	struct state_folder *folders = NULL;
	struct state_conflict *conflicts = NULL;
	size_t nfolders = 0, nconflicts = 0;
	struct state *state = NULL;
	struct store *md = NULL;
	enum ferry_status status = FERRY_OK;
	int64_t last = 0;
	int lockfd = -1;
	char buf[64];

	if (access(ch->state, F_OK) != 0) {
		printf("%s: never synced (no state at %s)\n", ch->name, ch->state);
		return FERRY_OK;
	}
	/* Reading the Maildir takes its lock; not while a sync holds the channel. */
	if (state_lock(ch->state, &lockfd, &err) != 0) {
		if (err.cause != FERRY_CAUSE_LOCKED)
			goto fail;
		printf("%s: a sync is running now\n", ch->name);
		md_conf = NULL;
		ferry_error_clear(&err);
	}
	if (state_open(ch->state, &state, &err) != 0 ||
	    state_list_folders(state, &folders, &nfolders, &err) != 0 ||
	    state_list_conflicts(state, &conflicts, &nconflicts, &err) != 0)
		goto fail;
	if (md_conf && store_open(md_conf, NULL, &md, &err) != 0)
		goto fail;
	for (size_t i = 0; i < nfolders; i++)
		if (folders[i].last_sync > last)
			last = folders[i].last_sync;
	when(last, buf, sizeof(buf));
	printf("%s: last sync %s, %zu folders\n", ch->name, buf, nfolders);
	for (size_t i = 0; i < nfolders; i++) {
		char pending[128] = "";

		when(folders[i].last_sync, buf, sizeof(buf));
		if (md && local_pending(md, md_conf == ch->far, &folders[i], state, pending,
					sizeof(pending), &err) != 0) {
			snprintf(pending, sizeof(pending), "cannot read: %.100s", err.msg);
			status = ferry_status_worst(status, FERRY_PARTIAL);
		}
		print_folder(folders[i].name, buf, pending);
	}
	for (size_t i = 0; i < nconflicts; i++) {
		when(conflicts[i].at, buf, sizeof(buf));
		print_conflict(buf, conflicts[i].folder, conflicts[i].text);
	}
	goto out;
fail:
	log_error("%s: %s", ch->name, err.msg);
	status = err.status ? err.status : FERRY_PARTIAL;
out:
	store_close(md);
	state_conflicts_free(conflicts, nconflicts);
	state_folders_free(folders, nfolders);
	state_close(state);
	if (lockfd >= 0)
		close(lockfd);
	return status;
}

enum ferry_status status_run(const struct config *cfg, const char *channel)
{
	enum ferry_status worst = FERRY_OK;

	for (size_t i = 0; i < cfg->nchannels; i++)
		if (!channel || strcmp(channel, cfg->channels[i].name) == 0)
			worst = ferry_status_worst(worst, status_channel(&cfg->channels[i]));
	return worst;
}
