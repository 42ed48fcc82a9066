/* `ferry status`: what the state and any Maildir side say, offline. The
 * facts are gathered once per channel (struct facts), then printed as text
 * or as one JSON object (schema in ferry(1)). */
#include "sync/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/base/grow.h"
#include "store/base/termsafe.h"
#include "store/log.h"
#include "store/names.h"
#include "sync/engine.h"
#include "sync/json.h"
#include "sync/keep.h"
#include "sync/names.h"
#include "sync/roles.h"
#include "sync/state.h"

/* What changed in a folder's Maildir side since its last sync. */
struct local_change {
	bool read;    /* false: no Maildir side, or a sync holds it */
	bool rebuilt; /* the index was rebuilt: everything is matched again */
	size_t fresh, flags, gone, total;
	char error[128]; /* "" unless it could not be read */
	/* A POP3 far store's keep: messages still on it, the first due when. */
	size_t keep_wait;
	int64_t keep_due;
};

/* A folder the next sync creates, or removes, on `side`. */
enum waiting_action { WAIT_CREATE, WAIT_REMOVE };
struct waiting {
	const char *folder; /* the state's or the listing's: not owned */
	enum waiting_action action;
	enum side side;
};

struct facts {
	const struct channel_conf *ch;
	bool synced, running;
	int md_side; /* the Maildir's side, -1 when neither is one */
	struct state_folder *folders;
	struct local_change *local; /* per folder */
	struct journal_entry *journal;
	struct state_held *held;
	struct state_conflict *conflicts;
	struct store_folder *listed; /* the Maildir's folders */
	struct waiting *waiting;
	size_t nfolders, njournal, nheld, nconflicts, nlisted, nwaiting, capwaiting;
};

static const char *const journal_action_name[] = {
    [J_DOWNLOAD] = "download", [J_UPLOAD] = "upload", [J_FLAGS] = "flag change",
    [J_DELETE] = "deletion",   [J_MOVE] = "move",
};

/* The same, as the JSON names them. */
static const char *const journal_action_key[] = {
    [J_DOWNLOAD] = "download", [J_UPLOAD] = "upload", [J_FLAGS] = "flags",
    [J_DELETE] = "delete",     [J_MOVE] = "move",
};

static const char *journal_action(enum journal_action a, bool key)
{
	if ((unsigned)a >= sizeof(journal_action_key) / sizeof(journal_action_key[0]))
		return "unknown";
	return key ? journal_action_key[a] : journal_action_name[a];
}

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

static enum side_set side_bit(enum side side)
{
	return side == FAR ? SIDE_FAR : SIDE_NEAR;
}

/* What changed in a Maildir folder since the last sync: new files, files
 * gone, flags changed. The store scans only folders whose directories moved. */
static int local_change(struct store *md, enum side md_side, const struct state_folder *sf,
			struct state *state, struct local_change *out, struct ferry_error *err)
{
	struct folder_state fs;
	struct msg_list list = {0};
	struct pair *pairs = NULL;
	size_t npairs = 0, paired = 0;

	if (store_select(md, sf->name, &fs, err) != 0 || store_list(md, &list, err) != 0 ||
	    state_load_pairs(state, sf->id, &pairs, &npairs, err) != 0) {
		msg_list_free(&list);
		return -1;
	}
	if (list.n)
		qsort(list.v, list.n, sizeof(*list.v), cmp_uid);
	for (size_t i = 0; i < npairs; i++) {
		uint32_t uid = md_side == FAR ? pairs[i].far_uid : pairs[i].near_uid;
		const struct msg *m = uid ? engine_find_msg(&list, uid) : NULL;

		if (!uid)
			continue;
		if (!m) {
			out->gone++;
			continue;
		}
		paired++;
		if (m->flags != pairs[i].base_flags)
			out->flags++;
	}
	out->read = true;
	out->total = list.n;
	out->fresh = list.n - paired;
	out->rebuilt =
	    (md_side == FAR ? sf->far_uidvalidity : sf->near_uidvalidity) != fs.uidvalidity;
	state_pairs_free(pairs, npairs);
	msg_list_free(&list);
	return 0;
}

static const struct state_folder *state_folder_named(const struct facts *f, const char *name)
{
	for (size_t i = 0; i < f->nfolders; i++)
		if (strcmp(f->folders[i].name, name) == 0)
			return &f->folders[i];
	return NULL;
}

static const char *state_folder_name(const struct facts *f, int64_t id)
{
	for (size_t i = 0; i < f->nfolders; i++)
		if (f->folders[i].id == id)
			return f->folders[i].name;
	return NULL;
}

static bool removal_held(const struct facts *f, const char *name)
{
	for (size_t i = 0; i < f->nheld; i++)
		if (f->held[i].kind == HELD_REMOVAL && strcmp(f->held[i].folder, name) == 0)
			return true;
	return false;
}

static bool listed_here(const struct facts *f, const char *name)
{
	for (size_t i = 0; i < f->nlisted; i++)
		if (strcmp(f->listed[i].name, name) == 0)
			return true;
	return false;
}

static int add_waiting(struct facts *f, const char *folder, enum waiting_action action,
		       enum side side, struct ferry_error *err)
{
	struct waiting *v = grow_array(f->waiting, &f->capwaiting, f->nwaiting + 1, sizeof(*v));

	if (!v)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	f->waiting = v;
	v[f->nwaiting++] = (struct waiting){folder, action, side};
	return 0;
}

/* Rule 11 as far as the Maildir alone tells: a folder it lists that the
 * state does not know is created on the other side (as `create` allows); one synced
 * before that it lacks is removed there (`remove`) or recreated in it. What
 * the server lists needs the network: `ferry list` shows it. */
static int find_waiting(struct facts *f, struct ferry_error *err)
{
	enum side here = (enum side)f->md_side, there = side_other(here);

	for (size_t i = 0; i < f->nlisted; i++) {
		const struct store_folder *l = &f->listed[i];
		const struct state_folder *sf = state_folder_named(f, l->name);

		if (l->attrs & FA_NOSELECT || !names_selected(f->ch, l->name) || sf ||
		    !(f->ch->create & side_bit(there)))
			continue;
		if (add_waiting(f, l->name, WAIT_CREATE, there, err) != 0)
			return -1;
	}
	for (size_t i = 0; i < f->nfolders; i++) {
		const char *name = f->folders[i].name;
		int r = 0;

		if (!f->folders[i].last_sync || !names_selected(f->ch, name) ||
		    listed_here(f, name) || removal_held(f, name))
			continue;
		if (f->ch->remove & side_bit(there) && !folder_name_is_inbox(name))
			r = add_waiting(f, name, WAIT_REMOVE, there, err);
		else if (f->ch->create & side_bit(here))
			r = add_waiting(f, name, WAIT_CREATE, here, err);
		if (r != 0)
			return -1;
	}
	return 0;
}

/* Reads the Maildir side: each folder's changes and the folders it lists. */
static void read_maildir(struct facts *f, const struct store_conf *md_conf, struct state *state,
			 enum ferry_status *status)
{
	struct ferry_error err = {0};
	struct store *md = NULL;
	struct roles_near roles = {0};

	if (store_open(md_conf, NULL, &md, &err) != 0) {
		log_error("%s: %s", f->ch->name, err.msg);
		*status = ferry_status_worst(*status, err.status ? err.status : FERRY_PARTIAL);
		return;
	}
	if (store_list_folders(md, &f->listed, &f->nlisted, &err) != 0 ||
	    (f->md_side == NEAR &&
	     roles_recall_near(state, md, f->listed, f->nlisted, &roles, &err) != 0) ||
	    find_waiting(f, &err) != 0) {
		log_error("%s: %s", f->ch->name, err.msg);
		*status = ferry_status_worst(*status, FERRY_PARTIAL);
		store_close(md);
		roles_near_free(&roles);
		return;
	}
	/* A folder gone from the Maildir is waiting (find_waiting), not unreadable. */
	for (size_t i = 0; i < f->nfolders; i++) {
		if (!listed_here(f, f->folders[i].name))
			continue;
		ferry_error_clear(&err);
		if (local_change(md, (enum side)f->md_side, &f->folders[i], state, &f->local[i],
				 &err) != 0) {
			snprintf(f->local[i].error, sizeof(f->local[i].error), "%.100s", err.msg);
			*status = ferry_status_worst(*status, FERRY_PARTIAL);
		}
	}
	store_close(md);
	roles_near_free(&roles);
}

static void facts_free(struct facts *f)
{
	free(f->waiting);
	store_folders_free(f->listed, f->nlisted);
	state_conflicts_free(f->conflicts, f->nconflicts);
	state_held_free(f->held, f->nheld);
	free(f->journal);
	free(f->local);
	state_folders_free(f->folders, f->nfolders);
}

/* ---- text ---- */

/* Names and texts in the state came from the stores (a server's folder
 * name, the text of a conflict): escaped, and the name column padded by the
 * columns it takes on the terminal, so that non-ASCII names line up. */
#define NAME_COLUMNS 40

static void local_text(const struct local_change *l, char *buf, size_t len)
{
	if (l->error[0])
		snprintf(buf, len, "cannot read: %s", l->error);
	else if (!l->read)
		buf[0] = '\0';
	else if (l->rebuilt)
		snprintf(buf, len, "index rebuilt since: %zu messages to match again", l->total);
	else if (l->fresh || l->gone || l->flags)
		snprintf(buf, len, "local +%zu ~%zu -%zu waiting", l->fresh, l->flags, l->gone);
	else
		snprintf(buf, len, "no local change");
}

static void print_folder(const struct state_folder *sf, const struct local_change *l)
{
	char *col = termsafe_column(sf->name, NAME_COLUMNS), *safe, at[64], pending[192];

	when(sf->last_sync, at, sizeof(at));
	local_text(l, pending, sizeof(pending));
	safe = termsafe_column(pending, 0);
	printf("  %s synced %s%s%s\n", col ? col : "(out of memory)", at, pending[0] ? "; " : "",
	       safe ? safe : "");
	free(col);
	free(safe);
}

/* "  <label>: <name>: <text>", the name escaped for the terminal. */
static void print_note(const char *label, const char *name, const char *text)
{
	char *safe = termsafe_column(name, 0);

	printf("  %s: %s: %s\n", label, safe ? safe : "(out of memory)", text);
	free(safe);
}

static void print_held(const struct state_held *h)
{
	char text[256];

	if (h->kind == HELD_DELETIONS)
		snprintf(text, sizeof(text),
			 "%zu deletion(s) on %s held back by max_delete; 'ferry sync "
			 "--force-delete' carries them out",
			 h->count, side_str(h->side));
	else
		snprintf(text, sizeof(text),
			 "removal on %s (%zu message(s)) held back by max_delete; 'ferry sync "
			 "--force-delete' carries it out",
			 side_str(h->side), h->count);
	print_note("held", h->folder, text);
}

static void print_waiting(const struct facts *f, const struct waiting *w)
{
	enum side here = (enum side)f->md_side;
	char text[192];

	if (w->action == WAIT_REMOVE)
		snprintf(text, sizeof(text),
			 "gone from %s; removed on %s at the next sync, if nothing new is in it",
			 side_str(here), side_str(w->side));
	else if (w->side == here)
		snprintf(text, sizeof(text), "gone from %s; recreated there at the next sync",
			 side_str(here));
	else
		snprintf(text, sizeof(text), "new on %s; created on %s at the next sync",
			 side_str(here), side_str(w->side));
	print_note("waiting", w->folder, text);
}

static void print_text(const struct facts *f)
{
	int64_t last = 0;
	char buf[64];

	for (size_t i = 0; i < f->nfolders; i++)
		if (f->folders[i].last_sync > last)
			last = f->folders[i].last_sync;
	when(last, buf, sizeof(buf));
	printf("%s: last sync %s, %zu folders\n", f->ch->name, buf, f->nfolders);
	for (size_t i = 0; i < f->nfolders; i++)
		print_folder(&f->folders[i], &f->local[i]);
	for (size_t i = 0; i < f->njournal; i++) {
		const struct journal_entry *j = &f->journal[i];
		const char *name = state_folder_name(f, j->folder_id);
		char text[192];

		snprintf(text, sizeof(text),
			 "a %s of %zu message(s) to %s was cut off; the next sync finishes it",
			 journal_action(j->action, false), j->count, j->to_far ? "far" : "near");
		print_note("interrupted", name ? name : "(a folder since dropped)", text);
	}
	for (size_t i = 0; i < f->nfolders; i++) {
		char due[64], text[160];

		if (!f->local[i].keep_wait)
			continue;
		when(f->local[i].keep_due, due, sizeof(due));
		snprintf(text, sizeof(text),
			 "%zu message(s) stay on far until their keep is over (the first %s)",
			 f->local[i].keep_wait, due);
		print_note("keep", f->folders[i].name, text);
	}
	for (size_t i = 0; i < f->nheld; i++)
		print_held(&f->held[i]);
	for (size_t i = 0; i < f->nwaiting; i++)
		print_waiting(f, &f->waiting[i]);
	for (size_t i = 0; i < f->nconflicts; i++) {
		char *name = termsafe_column(f->conflicts[i].folder, 0),
		     *t = termsafe_column(f->conflicts[i].text, 0);

		when(f->conflicts[i].at, buf, sizeof(buf));
		printf("  conflict %s in %s: %s\n", buf, name ? name : "(out of memory)",
		       t ? t : "(out of memory)");
		free(name);
		free(t);
	}
}

/* ---- JSON (ferry(1), STATUS --json) ---- */

static void json_time(struct strbuf *sb, int64_t t)
{
	if (t)
		strbuf_addf(sb, "%lld", (long long)t);
	else
		strbuf_adds(sb, "null");
}

static void json_folders(struct strbuf *sb, const struct facts *f)
{
	strbuf_adds(sb, ",\"folders\":[");
	for (size_t i = 0; i < f->nfolders; i++) {
		const struct local_change *l = &f->local[i];

		strbuf_adds(sb, i ? ",{\"name\":" : "{\"name\":");
		json_add_string(sb, f->folders[i].name);
		strbuf_adds(sb, ",\"last_sync\":");
		json_time(sb, f->folders[i].last_sync);
		strbuf_addf(sb, ",\"clean\":%s", f->folders[i].clean[0] ? "true" : "false");
		if (l->read)
			strbuf_addf(sb,
				    ",\"local\":{\"new\":%zu,\"flags\":%zu,\"gone\":%zu,"
				    "\"rebuilt\":%s}",
				    l->fresh, l->flags, l->gone, l->rebuilt ? "true" : "false");
		else
			strbuf_adds(sb, ",\"local\":null");
		if (l->error[0]) {
			strbuf_adds(sb, ",\"error\":");
			json_add_string(sb, l->error);
		}
		strbuf_adds(sb, "}");
	}
	strbuf_adds(sb, "]");
}

static void json_rest(struct strbuf *sb, const struct facts *f)
{
	strbuf_adds(sb, ",\"interrupted\":[");
	for (size_t i = 0; i < f->njournal; i++) {
		const struct journal_entry *j = &f->journal[i];

		strbuf_adds(sb, i ? ",{\"folder\":" : "{\"folder\":");
		json_add_string(sb, state_folder_name(f, j->folder_id));
		strbuf_addf(sb, ",\"action\":\"%s\",\"to\":\"%s\",\"messages\":%zu}",
			    journal_action(j->action, true), j->to_far ? "far" : "near", j->count);
	}
	strbuf_adds(sb, "],\"held\":[");
	for (size_t i = 0; i < f->nheld; i++) {
		const struct state_held *h = &f->held[i];

		strbuf_adds(sb, i ? ",{\"folder\":" : "{\"folder\":");
		json_add_string(sb, h->folder);
		strbuf_addf(sb, ",\"what\":\"%s\",\"side\":\"%s\",\"messages\":%zu,\"at\":%lld}",
			    h->kind == HELD_DELETIONS ? "deletions" : "removal", side_str(h->side),
			    h->count, (long long)h->at);
	}
	strbuf_adds(sb, "],\"waiting\":[");
	for (size_t i = 0; i < f->nwaiting; i++) {
		strbuf_adds(sb, i ? ",{\"folder\":" : "{\"folder\":");
		json_add_string(sb, f->waiting[i].folder);
		strbuf_addf(sb, ",\"action\":\"%s\",\"side\":\"%s\"}",
			    f->waiting[i].action == WAIT_CREATE ? "create" : "remove",
			    side_str(f->waiting[i].side));
	}
	strbuf_adds(sb, "],\"conflicts\":[");
	for (size_t i = 0; i < f->nconflicts; i++) {
		strbuf_adds(sb, i ? ",{\"folder\":" : "{\"folder\":");
		json_add_string(sb, f->conflicts[i].folder);
		strbuf_adds(sb, ",\"text\":");
		json_add_string(sb, f->conflicts[i].text);
		strbuf_addf(sb, ",\"at\":%lld}", (long long)f->conflicts[i].at);
	}
	strbuf_adds(sb, "]");
}

static int print_json(const struct facts *f, struct ferry_error *err)
{
	struct strbuf sb = {0};
	int64_t last = 0;
	char *out;

	for (size_t i = 0; i < f->nfolders; i++)
		if (f->folders[i].last_sync > last)
			last = f->folders[i].last_sync;
	strbuf_adds(&sb, "{\"channel\":");
	json_add_string(&sb, f->ch->name);
	strbuf_adds(&sb, ",\"state\":");
	json_add_string(&sb, f->ch->state);
	strbuf_addf(&sb,
		    ",\"synced\":%s,\"running\":%s,\"last_sync\":", f->synced ? "true" : "false",
		    f->running ? "true" : "false");
	json_time(&sb, last);
	json_folders(&sb, f);
	json_rest(&sb, f);
	strbuf_adds(&sb, "}\n");
	out = strbuf_take(&sb);
	if (!out)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	fputs(out, stdout);
	free(out);
	return 0;
}

/* ---- one channel ---- */

/* Held deletions of a folder the state dropped since (removed on both
 * sides) concern nothing any more. */
static void drop_stale_holds(struct facts *f)
{
	size_t k = 0;

	for (size_t i = 0; i < f->nheld; i++) {
		if (f->held[i].kind == HELD_DELETIONS &&
		    !state_folder_named(f, f->held[i].folder)) {
			free(f->held[i].folder);
			continue;
		}
		f->held[k++] = f->held[i];
	}
	f->nheld = k;
}

/* A far store that keeps mail for a while: what still waits there. */
static int read_keep(struct facts *f, struct state *state, struct ferry_error *err)
{
	int64_t keep = store_conf_keep_seconds(f->ch->far);

	if (keep <= 0)
		return 0;
	for (size_t i = 0; i < f->nfolders; i++) {
		struct pair *pairs = NULL;
		size_t n = 0;
		int64_t first;

		if (state_load_pairs(state, f->folders[i].id, &pairs, &n, err) != 0)
			return -1;
		f->local[i].keep_wait = keep_waiting(pairs, n, &first);
		f->local[i].keep_due = first + keep;
		state_pairs_free(pairs, n);
	}
	return 0;
}

static int read_state(struct facts *f, struct state **state, struct ferry_error *err)
{
	if (state_open(f->ch->state, state, err) != 0 ||
	    state_list_folders(*state, &f->folders, &f->nfolders, err) != 0 ||
	    state_journal_pending(*state, &f->journal, &f->njournal, err) != 0 ||
	    state_list_held(*state, &f->held, &f->nheld, err) != 0 ||
	    state_list_conflicts(*state, &f->conflicts, &f->nconflicts, err) != 0)
		return -1;
	drop_stale_holds(f);
	f->local = calloc(f->nfolders + 1, sizeof(*f->local));
	if (!f->local)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	return read_keep(f, *state, err);
}

static enum ferry_status status_channel(const struct channel_conf *ch, bool json)
{
	/* A channel from a download-only store (POP3) sends nothing up: its
	 * Maildir's own changes wait for nothing. */
	struct facts f = {.ch = ch,
			  .md_side = store_conf_download_only(ch->far) ? -1
				     : store_conf_local(ch->near)      ? NEAR
				     : store_conf_local(ch->far)       ? FAR
								       : -1};
	struct ferry_error err = {0};
	struct state *state = NULL;
	enum ferry_status status = FERRY_OK;
	int lockfd = -1;

	if (access(ch->state, F_OK) != 0) {
		if (!json)
			printf("%s: never synced (no state at %s)\n", ch->name, ch->state);
		else if (print_json(&f, &err) != 0)
			goto fail;
		return FERRY_OK;
	}
	f.synced = true;
	/* Reading the Maildir takes its lock; not while a sync holds the channel. */
	if (state_lock(ch->state, &lockfd, &err) != 0) {
		if (err.cause != FERRY_CAUSE_LOCKED)
			goto fail;
		if (!json)
			printf("%s: a sync is running now\n", ch->name);
		f.running = true;
		ferry_error_clear(&err);
	}
	if (read_state(&f, &state, &err) != 0)
		goto fail;
	if (f.md_side >= 0 && !f.running)
		read_maildir(&f, f.md_side == FAR ? ch->far : ch->near, state, &status);
	if (!json)
		print_text(&f);
	else if (print_json(&f, &err) != 0)
		goto fail;
	goto out;
fail:
	log_error("%s: %s", ch->name, err.msg);
	status = err.status ? err.status : FERRY_PARTIAL;
out:
	facts_free(&f);
	state_close(state);
	if (lockfd >= 0)
		close(lockfd);
	return status;
}

enum ferry_status status_run(const struct config *cfg, const char *channel, bool json)
{
	enum ferry_status worst = FERRY_OK;

	for (size_t i = 0; i < cfg->nchannels; i++)
		if (!channel || strcmp(channel, cfg->channels[i].name) == 0)
			worst = ferry_status_worst(worst, status_channel(&cfg->channels[i], json));
	return worst;
}
