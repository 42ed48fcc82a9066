/* A channel: lock, journal recovery, both stores opened, folders paired by
 * canonical name and created where `create` allows, then each folder synced.
 * Runs in a child process (sync/child.c) so that a crash inside libetpan is
 * this channel's error only. */
#include "sync/channel.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/log.h"
#include "store/names.h"
#include "sync/child.h"
#include "sync/connect.h"
#include "sync/crashpoint.h"
#include "sync/finish.h"
#include "sync/hook.h"
#include "sync/movematch.h"
#include "sync/names.h"
#include "sync/parallel.h"
#include "sync/plan.h"
#include "sync/prepare.h"
#include "sync/progress.h"
#include "sync/remove.h"
#include "sync/rename_replay.h"
#include "sync/roles.h"

struct channel_run {
	const struct channel_conf *ch;
	const char *folder; /* CHANNEL:FOLDER: the others listed for the move pass */
	/* channel_sync_folders: only these, the others left alone (scoped). */
	const char *const *scope;
	size_t nscope;
	bool scoped;
	const struct sync_opts *opts;
};

static volatile sig_atomic_t stopped_by;

static void on_signal(int sig)
{
	if (!stopped_by)
		stopped_by = sig;
	engine_interrupted = 1;
}

/* Batches left in the journal by a run that was killed. Rule 13: copies
 * that were not committed are paired by identity (rule 7), flag stores and
 * deletions are replanned; here they are reported and cleared. */
/* The batches a killed run left open; rule 7 finds what they did, and the
 * move pass where a copy was filed into another folder since. They are
 * cleared only by a run that synced their folders without error, so a run
 * killed meanwhile leaves them, and the wait for the stores to settle, to the
 * next one. */
static int recover_journal(struct state *state, const char *channel, struct journal_entry **v,
			   size_t *n, struct ferry_error *err)
{
	static const char *const names[] = {"download", "upload", "flag change", "deletion",
					    "move"};

	if (state_journal_pending(state, v, n, err) != 0)
		return -1;
	for (size_t i = 0; i < *n; i++)
		log_info("%s: resuming an interrupted %s of %zu message(s)", channel,
			 names[(*v)[i].action], (*v)[i].count);
	return 0;
}

/* Clears the killed run's batches; after a run of one folder
 * (CHANNEL:FOLDER), only those of that folder. */
static int clear_journal(struct state *state, const char *folder, const struct journal_entry *v,
			 size_t n, struct ferry_error *err)
{
	struct state_folder *folders = NULL;
	size_t nfolders = 0;
	int r = 0;

	if (n == 0)
		return 0;
	if (folder && state_list_folders(state, &folders, &nfolders, err) != 0)
		return -1;
	for (size_t i = 0; i < n && r == 0; i++) {
		bool covered = !folder;

		for (size_t k = 0; k < nfolders && !covered; k++)
			covered =
			    folders[k].id == v[i].folder_id && strcmp(folders[k].name, folder) == 0;
		if (covered)
			r = state_journal_done(state, v[i].id, err);
	}
	state_folders_free(folders, nfolders);
	return r;
}

/* A run killed with APPENDs in flight leaves the server storing them for a
 * moment longer: their bytes were already in its socket buffer. A listing
 * taken meanwhile would miss them and they would be uploaded twice. So after
 * such a kill, wait until each folder it was adding to has the same UIDNEXT
 * and count twice in a row, 150 ms apart (at most 6 s). */
static void settle_cut_folders(struct engine *e, const struct journal_entry *cut, size_t ncut)
{
	struct state_folder *folders = NULL;
	struct ferry_error err = {0};
	size_t nfolders = 0;

	if (ncut == 0 || state_list_folders(e->state, &folders, &nfolders, &err) != 0)
		return;
	for (size_t i = 0; i < ncut; i++) {
		struct store *s = e->store[cut[i].to_far ? FAR : NEAR];
		const char *name = NULL;
		struct folder_state prev = {0}, now;
		int stable = 0;

		if (cut[i].action != J_DOWNLOAD && cut[i].action != J_UPLOAD)
			continue;
		for (size_t k = 0; k < nfolders && !name; k++)
			if (folders[k].id == cut[i].folder_id)
				name = folders[k].name;
		for (int round = 0; name && round < 40 && stable < 2; round++) {
			struct timespec pause = {0, 150 * 1000 * 1000};
			bool ok = false;

			if (store_status(s, &name, 1, &now, &ok, &err) != 0 || !ok)
				break;
			stable = round && now.uidnext == prev.uidnext && now.exists == prev.exists
				     ? stable + 1
				     : 0;
			prev = now;
			if (stable < 2)
				nanosleep(&pause, NULL);
		}
	}
	state_folders_free(folders, nfolders);
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct channel_folder *)a)->name,
		      ((const struct channel_folder *)b)->name);
}

/* The side_set bit of one side. */
static enum side_set side_bit(enum side side)
{
	return side == FAR ? SIDE_FAR : SIDE_NEAR;
}

/* Merges both sides' folders (listed[side][0..nlisted[side])) into one
 * sorted list of selected names. */
static int pair_folders(const struct channel_run *run, struct store_folder *const listed[2],
			const size_t nlisted[2], struct channel_folder **out, size_t *n,
			struct ferry_error *err)
{
	struct channel_folder *v = calloc(nlisted[FAR] + nlisted[NEAR] + 1, sizeof(*v));
	size_t k = 0;

	if (!v)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	for (enum side side = FAR; side <= NEAR; side++) {
		const struct store_folder *f = listed[side];

		for (size_t i = 0; i < nlisted[side]; i++) {
			struct channel_folder *hit = NULL;

			if (!names_selected(run->ch, f[i].name))
				continue;
			for (size_t j = 0; j < k && !hit; j++)
				if (strcmp(v[j].name, f[i].name) == 0)
					hit = &v[j];
			if (!hit) {
				hit = &v[k++];
				hit->name = f[i].name;
				/* Rule 8: the other folders are still listed, so a
				 * message moved out of the one synced is not deleted. */
				hit->listed_only =
				    run->folder && strcmp(run->folder, f[i].name) != 0;
			}
			hit->on[side] = !(f[i].attrs & FA_NOSELECT);
			hit->placeholder[side] = !hit->on[side];
		}
	}
	qsort(v, k, sizeof(*v), cmp_entry);
	*out = v;
	*n = k;
	return 0;
}

/* The side whose store lists folders the least deep (0: neither limits). */
static unsigned depth_limit(const struct engine *e, const char **side, const char **store)
{
	unsigned far = e->store[FAR]->max_depth, near = e->store[NEAR]->max_depth;
	enum side by = near && (!far || near <= far) ? NEAR : FAR;

	*side = side_str(by);
	*store = engine_conf(e, by)->name;
	return e->store[by]->max_depth;
}

/* Rule 11: one depth limit both ways. A folder deeper than a side can list
 * would be created there and then, unseen, taken as deleted: it is left out
 * of the channel altogether, with a warning. */
static void drop_too_deep(const struct engine *e, struct channel_folder *v, size_t *n)
{
	const char *side, *store;
	unsigned limit = depth_limit(e, &side, &store);
	size_t k = 0;

	for (size_t i = 0; i < *n; i++) {
		unsigned depth = folder_name_depth(v[i].name);
		char shown[512];

		if (limit && depth > limit && (v[i].on[FAR] || v[i].on[NEAR])) {
			log_warn("%s: %u levels deep, but %s (%s) lists folders only %u levels "
				 "deep: not synced (neither created there nor taken as deleted)",
				 folder_name_printable(v[i].name, shown, sizeof(shown)), depth,
				 side, store, limit);
			continue;
		}
		v[k++] = v[i];
	}
	*n = k;
}

static const struct channel_folder *find_entry(const struct channel_folder *v, size_t n,
					       const char *name)
{
	struct channel_folder key = {.name = (char *)name};

	return bsearch(&key, v, n, sizeof(*v), cmp_entry);
}

/* Counts in fresh[side] a folder synced last time (sf) that status found
 * renumbered and never written to (UIDNEXT 1) on that side, though mail was
 * synced there: a new, empty folder of the same name, as a fresh account
 * has (Sent, Trash...). A rebuilt Maildir index renumbers too, but keeps the
 * mail: that is no evidence, and rule 7 pairs it again. */
static int count_fresh(struct engine *e, const struct channel_folder *f,
		       const struct state_folder *sf, size_t fresh[2], struct ferry_error *err)
{
	const uint32_t was[2] = {sf->far_uidvalidity, sf->near_uidvalidity};
	size_t held[2] = {0, 0};
	bool renumbered[2];

	for (enum side k = FAR; k <= NEAR; k++)
		renumbered[k] = f->now_ok[k] && was[k] && f->now[k].uidvalidity != was[k] &&
				f->now[k].uidnext <= 1;
	if (!renumbered[FAR] && !renumbered[NEAR])
		return 0;
	if (state_count_pairs(e->state, sf->id, &held[FAR], &held[NEAR], err) != 0)
		return -1;
	for (enum side k = FAR; k <= NEAR; k++)
		fresh[k] += renumbered[k] && held[k] > 0;
	return 0;
}

/* The error of check_lost_folders for side k. */
static int lost_folders_error(struct engine *e, enum side k, bool empty, size_t synced, size_t gone,
			      size_t fresh, struct ferry_error *err)
{
	const struct store_conf *conf = engine_conf(e, k);
	char found[64] = "holds none", renumbered[64] = "";

	if (gone < synced)
		snprintf(found, sizeof(found), "lists only %zu", synced - gone);
	if (fresh)
		snprintf(renumbered, sizeof(renumbered), ", %zu of those new and empty", fresh);
	if (empty)
		return ferry_error_set(err, FERRY_CAUSE_GUARD,
				       "%s: %s: %s (%s) %s of the %zu folders synced last time; "
				       "not mounted, or a wrong path? Nothing created or removed. "
				       "To start it afresh, move the state %s away",
				       e->ch->name, side_str(k), conf->name, store_conf_place(conf),
				       found, synced, e->ch->state);
	return ferry_error_set(err, FERRY_CAUSE_GUARD,
			       "%s: %s: %s (%s) %s of the %zu folders synced last time%s; a wrong "
			       "path, or another account? Nothing created or removed. If that is "
			       "meant, 'ferry sync --force-delete' goes on (and removes or "
			       "recreates them as `remove` says)",
			       e->ch->name, side_str(k), conf->name, store_conf_place(conf), found,
			       synced, renumbered);
}

/* Rule 11: a side whose listing lost all or most of the folders synced last
 * time (plan_folders_lost), gone or found new and empty (count_fresh), is a
 * Maildir root missing, empty or another tree, or a server listing another
 * account: the channel stops before anything is created or removed.
 * --force-delete lets the user confirm deliberate deletions, but never for a
 * side that lists no folder at all (an unmounted disk is never taken for an
 * empty account). Folders gone from both sides tell nothing about either
 * listing and are not counted. */
static int check_lost_folders(struct engine *e, const struct channel_folder *v, size_t n,
			      const size_t listed[2], struct ferry_error *err)
{
	struct state_folder *sf = NULL;
	size_t nsf = 0, synced = 0, gone[2] = {0, 0}, fresh[2] = {0, 0};
	int r = 0;

	if (state_list_folders(e->state, &sf, &nsf, err) != 0)
		return -1;
	for (size_t i = 0; i < nsf && r == 0; i++) {
		const struct channel_folder *f;

		if (!sf[i].last_sync || !names_selected(e->ch, sf[i].name))
			continue;
		f = find_entry(v, n, sf[i].name);
		if (!f || (!f->on[FAR] && !f->on[NEAR]))
			continue;
		synced++;
		for (enum side side = FAR; side <= NEAR; side++)
			gone[side] += !f->on[side];
		r = count_fresh(e, f, &sf[i], fresh, err);
	}
	state_folders_free(sf, nsf);
	for (enum side k = FAR; k <= NEAR && r == 0; k++) {
		bool empty = listed[k] == 0 && synced > 0;

		if (empty ||
		    (!e->opts->force_delete && plan_folders_lost(synced, gone[k] + fresh[k])))
			r = lost_folders_error(e, k, empty, synced, gone[k], fresh[k], err);
	}
	return r;
}

/* How many messages the folders synced last time held on each side, by the
 * state: what max_delete's percentage of folder removals is of. */
static int synced_messages(struct engine *e, const struct channel_folder *v, size_t n,
			   size_t *folders, size_t held[2], struct ferry_error *err)
{
	struct state_folder *sf = NULL;
	size_t nsf = 0;
	int r = 0;

	*folders = held[FAR] = held[NEAR] = 0;
	if (state_list_folders(e->state, &sf, &nsf, err) != 0)
		return -1;
	for (size_t i = 0; i < nsf && r == 0; i++) {
		const struct channel_folder *f = find_entry(v, n, sf[i].name);
		size_t count[2] = {0, 0};

		if (!sf[i].last_sync || !names_selected(e->ch, sf[i].name) || !f ||
		    (!f->on[FAR] && !f->on[NEAR]))
			continue;
		r = state_count_pairs(e->state, sf[i].id, &count[FAR], &count[NEAR], err);
		(*folders)++;
		for (enum side side = FAR; side <= NEAR; side++)
			held[side] += count[side];
	}
	state_folders_free(sf, nsf);
	return r;
}

/* Each run that sees every folder decides its removals anew: those it
 * holds are recorded again for `ferry status`. A run of one folder
 * (CHANNEL:FOLDER, the others listed only) leaves the record alone. */
static void forget_held_removals(struct engine *e, const struct channel_folder *v, size_t n)
{
	struct ferry_error err = {0};

	if (e->opts->dry_run)
		return;
	for (size_t i = 0; i < n; i++)
		if (v[i].listed_only)
			return;
	if (state_clear_held_removals(e->state, &err) != 0)
		log_warn("%s: %s", e->ch->name, err.msg);
}

/* A removal held on side k of folder `name` (holding `messages`), for
 * `ferry status`; not being able to record it stops nothing. */
static void record_held_removal(struct engine *e, const char *name, enum side k, size_t messages)
{
	struct ferry_error err = {0};

	if (!e->opts->dry_run &&
	    state_set_held(e->state, name, k, HELD_REMOVAL, messages, &err) != 0)
		log_warn("%s: %s", e->ch->name, err.msg);
}

/* Rule 11: folder removals count against max_delete, per side: each folder
 * and each message in it, out of the folders synced last time and their
 * messages. Beyond it every removal on that side is held (neither removed
 * nor recreated) until --force-delete. Returns how many were held. */
static size_t hold_removals(struct engine *e, struct channel_folder *v, size_t n)
{
	bool *candidate = calloc(n + 1, sizeof(*candidate));
	size_t *in_folder = calloc(n + 1, sizeof(*in_folder));
	size_t folders[2] = {0, 0}, messages[2] = {0, 0}, synced = 0, total[2] = {0, 0}, held = 0;
	struct ferry_error err = {0};
	bool unknown = false;

	forget_held_removals(e, v, n);
	if (e->opts->force_delete) {
		free(candidate);
		free(in_folder);
		return 0;
	}
	if (!candidate || !in_folder) {
		free(in_folder);
		free(candidate);
		log_error("%s: out of memory", e->ch->name);
		for (size_t i = 0; i < n; i++) {
			v[i].held = v[i].on[FAR] != v[i].on[NEAR];
			held += v[i].held;
		}
		return held;
	}
	for (size_t i = 0; i < n; i++) {
		struct channel_folder *f = &v[i];
		enum side remaining = f->on[FAR] ? FAR : NEAR;
		bool synced_before = false, removable = false;
		size_t count = 0;

		if (f->on[FAR] == f->on[NEAR] || f->listed_only ||
		    !(e->ch->remove & side_bit(remaining)) || folder_name_is_inbox(f->name))
			continue;
		ferry_error_clear(&err);
		if (state_folder_synced(e->state, f->name, &synced_before, &err) != 0 ||
		    (synced_before && remove_folder_removable(e, f->name, remaining, &removable,
							      &count, &err) != 0)) {
			log_error("%s: %s; neither removed nor recreated this run", f->name,
				  err.msg);
			f->held = true;
			held++;
			continue;
		}
		if (!removable)
			continue;
		candidate[i] = true;
		in_folder[i] = count;
		folders[remaining]++;
		messages[remaining] += count;
	}
	if ((folders[FAR] || folders[NEAR]) &&
	    synced_messages(e, v, n, &synced, total, &err) != 0) {
		log_error("%s: %s", e->ch->name, err.msg);
		unknown = true; /* no measure: hold them all */
	}
	for (enum side k = FAR; k <= NEAR; k++) {
		if (!folders[k] || (!unknown && !plan_exceeds_max_delete(
						    e->ch->max_delete_is_percent, e->ch->max_delete,
						    folders[k] + messages[k], synced + total[k])))
			continue;
		log_error("%s: removing %zu folder(s) holding %zu message(s) on %s is more than "
			  "max_delete; removing none, and recreating none, until 'ferry sync "
			  "--force-delete'",
			  e->ch->name, folders[k], messages[k], side_str(k));
		for (size_t i = 0; i < n; i++) {
			if (!candidate[i] || (v[i].on[FAR] ? FAR : NEAR) != k)
				continue;
			v[i].held = true;
			held++;
			log_info(
			    "%s: deleted on %s; neither removed on %s nor recreated (max_delete)",
			    v[i].name, side_str(side_other(k)), side_str(k));
			record_held_removal(e, v[i].name, k, in_folder[i]);
		}
	}
	free(candidate);
	free(in_folder);
	return held;
}

/* What changed on side `to`: "far->near +new ~flags -deleted", and
 * " >moved" when messages moved in. */
static void direction_part(char *buf, size_t len, const struct folder_report *r, enum side to)
{
	int o = snprintf(buf, len, "%s +%zu ~%zu -%zu", to == NEAR ? "far->near" : "near->far",
			 r->added[to], r->flags[to], r->deleted[to]);

	if (r->moved[to] && o > 0 && (size_t)o < len)
		snprintf(buf + o, len - (size_t)o, " >%zu", r->moved[to]);
}

/* --dry-run: the mark on a line that says what the real run would do, with
 * the bytes its copies would move ("" on a real run). */
static void dry_mark(const struct engine *e, const struct folder_report *r, char *buf, size_t len)
{
	char size[2][24];

	buf[0] = '\0';
	if (!e->opts->dry_run)
		return;
	for (enum side to = FAR; to <= NEAR; to++) {
		uint64_t b = r->bytes[to];

		if (b < 1024)
			snprintf(size[to], sizeof(size[to]), "%llu B", (unsigned long long)b);
		else if (b < 1024 * 1024)
			snprintf(size[to], sizeof(size[to]), "%.1f KB", (double)b / 1024);
		else
			snprintf(size[to], sizeof(size[to]), "%.1f MB", (double)b / (1024 * 1024));
	}
	if (r->added[NEAR] && r->added[FAR])
		snprintf(buf, len, " [dry run: copies %s far->near, %s near->far]", size[NEAR],
			 size[FAR]);
	else if (r->added[NEAR] || r->added[FAR])
		snprintf(buf, len, " [dry run: copies %s %s]", size[r->added[NEAR] ? NEAR : FAR],
			 r->added[NEAR] ? "far->near" : "near->far");
	else
		snprintf(buf, len, " [dry run]");
}

static void report_line(const struct engine *e, const char *name, const struct folder_report *r)
{
	/* far->near (changes on near) first */
	char part[2][96] = {"", ""}, mark[128];

	for (enum side to = FAR; to <= NEAR; to++)
		if (r->added[to] || r->flags[to] || r->deleted[to] || r->moved[to])
			direction_part(part[to], sizeof(part[to]), r, to);
	dry_mark(e, r, mark, sizeof(mark));
	if (part[NEAR][0] || part[FAR][0])
		log_info("%s: %s%s%s%s", name, part[NEAR],
			 part[NEAR][0] && part[FAR][0] ? ", " : "", part[FAR], mark);
}

static void add_report(struct folder_report *sum, const struct folder_report *r);

/* One folder done: its line, the sum, and where new mail arrived. */
static void tally(struct engine *e, struct folder_report *sum, const struct folder_work *w)
{
	report_line(e, w->name, &w->rep);
	add_report(sum, &w->rep);
	for (enum side to = FAR; to <= NEAR; to++)
		if (w->rep.added[to])
			strbuf_addf(&e->arrived[to], "%s%s", e->arrived[to].len ? "\n" : "",
				    w->name);
}

static void add_report(struct folder_report *sum, const struct folder_report *r)
{
	for (enum side to = FAR; to <= NEAR; to++) {
		sum->added[to] += r->added[to];
		sum->flags[to] += r->flags[to];
		sum->deleted[to] += r->deleted[to];
		sum->moved[to] += r->moved[to];
		sum->bytes[to] += r->bytes[to];
	}
	sum->paired += r->paired;
	sum->conflicts += r->conflicts;
	sum->blocked_deletes += r->blocked_deletes;
}

/* A folder that vanished on one side after it was synced: with `remove`
 * covering the other side, it goes there too if it holds nothing but paired
 * messages. Returns 1 when it was removed, 0 to recreate it, -1 on error. */
static int remove_vanished(struct engine *e, const struct channel_folder *f,
			   struct ferry_error *err)
{
	enum side remaining = f->on[FAR] ? FAR : NEAR;
	const char *where = side_str(remaining), *gone = side_str(side_other(remaining));
	bool synced = false, removed = false;

	if (state_folder_synced(e->state, f->name, &synced, err) != 0)
		return -1;
	if (!synced)
		return 0;
	if (!(e->ch->remove & side_bit(remaining))) {
		log_info("%s: deleted on %s; recreating it (remove does not include %s)", f->name,
			 gone, where);
		return 0;
	}
	if (folder_name_is_inbox(f->name)) {
		log_warn("INBOX: deleted on %s; INBOX is never removed: recreating it", gone);
		return 0;
	}
	if (remove_folder(e, f->name, remaining, &removed, err) != 0) {
		ferry_error_prefix(err, "%s: removing on %s", f->name, where);
		return -1;
	}
	if (removed) {
		log_info("%s: removed on %s (it was deleted on %s)%s", f->name, where, gone,
			 e->opts->dry_run ? " [dry run]" : "");
		return 1;
	}
	log_warn("%s: deleted on %s, but the %s folder holds messages that were never synced; "
		 "recreating it instead of removing it",
		 f->name, gone, where);
	return 0;
}

/* Whether the folder name holds messages on store s (a select: a status
 * need not count them). -1 on error. */
static int holds_mail(struct store *s, const char *name, bool *mail, struct ferry_error *err)
{
	struct folder_state now = {0};

	if (store_select(s, name, &now, err) != 0)
		return -1;
	*mail = now.exists > 0;
	return 0;
}

/* A folder selectable on one side whose twin on side `missing` is listed
 * but cannot hold mail (\Noselect, \NonExistent; Courier leaves the parent
 * of a nested CREATE so): it is neither created there (the name exists, and
 * a CREATE would be refused, or accepted and changing nothing, on every
 * run) nor removed on the other side. Its messages stay where they are:
 * one error a run says so while there are any; an empty twin is skipped
 * quietly (`ferry list` shows the folder as a parent). */
static int placeholder_twin(struct engine *e, const struct channel_folder *f, enum side missing,
			    struct ferry_error *err)
{
	enum side other = side_other(missing);
	enum sync_dir into = missing == FAR ? SYNC_PUSH : SYNC_PULL;
	bool mail = true;

	if (e->dir != SYNC_BOTH && e->dir != into)
		return 1; /* nothing would be copied there anyway */
	if (holds_mail(e->store[other], f->name, &mail, err) != 0) {
		ferry_error_prefix(err, "%s: %s", f->name, side_str(other));
		return -1;
	}
	if (!mail)
		return 1;
	return ferry_error_set(err, FERRY_CAUSE_REFUSED,
			       "%s: on %s (%s) this folder cannot hold mail (\\Noselect or "
			       "\\NonExistent): not created there, and its messages on %s are not "
			       "synced; move them to another folder",
			       f->name, side_str(missing), engine_conf(e, missing)->name,
			       side_str(other));
}

/* Creates a folder missing on one side, as `create` allows. A folder the
 * state knows was synced before has vanished on that side: it is removed on
 * the other side if `remove` says so (and nothing unsynced is in it), else
 * recreated (rule 11: a vanished folder never deletes its messages) and its
 * pairs matched again by identity. Returns 1 when the folder is to be
 * skipped. */
static int ensure_folder(struct engine *e, const struct channel_folder *f, struct folder_work *w,
			 struct ferry_error *err)
{
	enum side missing = f->on[NEAR] ? FAR : NEAR;
	struct store *s = e->store[missing];
	int r;

	if (f->on[FAR] && f->on[NEAR])
		return 0;
	if (f->placeholder[missing])
		return placeholder_twin(e, f, missing, err);
	r = remove_vanished(e, f, err);
	if (r != 0)
		return r;
	if (!(e->ch->create & side_bit(missing))) {
		log_info("%s: exists only on %s; not created (create = %s)", f->name,
			 side_str(side_other(missing)),
			 e->ch->create == SIDE_NONE ? "none" : side_str(side_other(missing)));
		return 1;
	}
	/* A dry run plans the folder as the real run would find it once
	 * created: empty on that side. */
	if (e->opts->dry_run)
		w->absent[missing] = true;
	else if (store_create_folder(s, f->name, err) != 0) {
		ferry_error_prefix(err, "%s: creating on %s", f->name, side_str(missing));
		return -1;
	}
	log_info("%s: created on %s%s", f->name, side_str(missing),
		 e->opts->dry_run ? " [dry run]" : "");
	w->forget = true;
	return 0;
}

/* Finishes one prepared folder and reports it. Returns -1 when the
 * connections are lost for good (err says why). */
static int finish_one(struct engine *e, struct folder_work *w, struct folder_report *sum,
		      enum ferry_status *status, struct ferry_error *err)
{
	int r = 0;

	ferry_error_clear(err);
	if (finish_folder(e, w, err) != 0) {
		log_error("%s", err->msg);
		*status = ferry_status_worst(*status, FERRY_PARTIAL);
		/* The folder is done for this run (the next one finishes it); the
		 * others go on over a new connection. */
		if (connect_broken(e->store) && connect_again(e->store, &e->reconnects, err) != 0)
			r = -1;
	}
	if (w->rep.blocked_deletes)
		*status = ferry_status_worst(*status, FERRY_PARTIAL);
	tally(e, sum, w);
	progress_folder_done();
	engine_folder_free(w);
	w->prepared = false;
	return r;
}

/* The progress line's totals: each folder's unpaired messages, at the
 * average size of its listing, until its plan says exactly. */
static void start_progress(struct engine *e, const struct channel_folder *v,
			   const struct folder_work *works, size_t n)
{
	size_t nfolders = 0;

	for (size_t i = 0; i < n; i++)
		nfolders += works[i].prepared && !v[i].listed_only;
	if (e->opts->dry_run || nfolders == 0)
		return;
	progress_start(e->ch->name, nfolders);
	for (size_t i = 0; i < n; i++) {
		const struct folder_work *w = &works[i];
		uint64_t msgs = 0, bytes = 0;

		if (!w->prepared || v[i].listed_only)
			continue;
		for (enum side s = FAR; s <= NEAR; s++) {
			size_t paired = 0;
			uint64_t sum = 0;

			for (size_t k = 0; k < w->npairs; k++)
				paired += side_uid(&w->pairs[k], s) != 0;
			if (w->list[s].n <= paired)
				continue;
			for (size_t k = 0; k < w->list[s].n; k++)
				sum += w->list[s].v[k].size;
			msgs += w->list[s].n - paired;
			bytes += sum / w->list[s].n * (w->list[s].n - paired);
		}
		progress_estimate(w->sf.id, msgs, bytes);
	}
}

/* Finishes the prepared folders on several connections when that is worth
 * it (sync/parallel.c). Returns 0 when it did, 1 when the folders are to be
 * finished here one by one. */
static int finish_parallel(struct engine *e, const struct channel_folder *v,
			   struct folder_work *works, size_t n, struct folder_report *sum,
			   enum ferry_status *status)
{
	size_t *todo = calloc(n + 1, sizeof(*todo)), m = 0;
	bool *failed = calloc(n + 1, sizeof(*failed));
	struct ferry_error err = {0};
	unsigned workers;
	int r = 1;

	if (!todo || !failed)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (works[i].prepared && !v[i].listed_only)
			todo[m++] = i;
	workers = parallel_workers(e, works, todo, m);
	if (workers < 2)
		goto out;
	if (parallel_finish(e, works, todo, m, workers, failed, &err) != 0) {
		log_warn("%s; finishing the folders one by one", err.msg);
		goto out;
	}
	for (size_t k = 0; k < m; k++) {
		struct folder_work *w = &works[todo[k]];

		if (failed[todo[k]] || w->rep.blocked_deletes)
			*status = ferry_status_worst(*status, FERRY_PARTIAL);
		tally(e, sum, w);
	}
	r = 0;
out:
	free(todo);
	free(failed);
	return r;
}

static bool in_scope(const struct channel_run *run, const char *name)
{
	for (size_t i = 0; i < run->nscope; i++)
		if (strcmp(run->scope[i], name) == 0 ||
		    (folder_name_is_inbox(name) && folder_name_is_inbox(run->scope[i])))
			return true;
	return false;
}

/* A scoped run keeps in v only the folders of its scope. false, v as it
 * was: a folder of the scope the channel syncs is not a pair of selectable
 * folders on both sides (made, removed or renamed, on one side or both):
 * creating, removing and rule 11's guards need every folder, so the whole
 * channel is synced. */
static bool narrow_to_scope(const struct engine *e, const struct channel_run *run,
			    struct channel_folder *v, size_t *n)
{
	size_t k = 0;

	for (size_t i = 0; i < run->nscope; i++) {
		const char *name = folder_name_is_inbox(run->scope[i]) ? "INBOX" : run->scope[i];
		const struct channel_folder *f;

		if (!names_selected(e->ch, name))
			continue;
		f = find_entry(v, *n, name);
		if (!f || !f->on[FAR] || !f->on[NEAR]) {
			log_trace("%s: %s is not on both sides: syncing every folder", e->ch->name,
				  name);
			return false;
		}
	}
	for (size_t i = 0; i < *n; i++)
		if (in_scope(run, v[i].name))
			v[k++] = v[i];
	log_trace("%s: syncing %zu of %zu folders", e->ch->name, k, *n);
	*n = k;
	return true;
}

/* Whether a sorted array of sizes holds size. */
static bool has_size(const uint64_t *v, size_t n, uint64_t size)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v[mid] == size)
			return true;
		if (v[mid] < size)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* Whether side `moved` of a scoped run's prepared folders lost a message
 * with nothing new of its size on that side in them: it may have moved to
 * a folder outside the scope (a server's IDLE reports the folder it left at
 * once, NOTIFY the one it went to later, if at all). -1: out of memory. */
static int side_leaks(const struct movematch_folder *view, size_t n, enum side moved)
{
	struct move_cands gone = {0}, fresh = {0};
	uint64_t *sizes = NULL, *have = NULL;
	size_t nsizes = 0, nhave = 0;
	int r = -1;

	if (movematch_collect_gone(view, n, moved, &gone) != 0)
		goto out;
	if (gone.n == 0) {
		r = 0;
		goto out;
	}
	if (movematch_sizes(&gone, &sizes, &nsizes) != 0 ||
	    movematch_collect_fresh(view, n, moved, sizes, nsizes, &fresh) != 0 ||
	    movematch_sizes(&fresh, &have, &nhave) != 0)
		goto out;
	r = 0;
	for (size_t i = 0; i < gone.n && r == 0; i++)
		r = !has_size(have, nhave, gone.v[i].size);
out:
	move_cands_free(&gone);
	move_cands_free(&fresh);
	free(sizes);
	free(have);
	return r;
}

/* Whether a scoped run must widen to the whole channel before its move
 * pass: a message left one of its folders, on one side (side_leaks) or on
 * both (each side may have moved it elsewhere), and may be in a folder
 * outside the scope. Without the others listed, its pair would be taken
 * for a deletion and the message copied again from where it went. */
static bool scope_leaks(const struct folder_work *works, size_t n)
{
	struct movematch_folder *view = calloc(n + 1, sizeof(*view));
	struct move_cands both = {0};
	bool leaks = true; /* out of memory: the whole channel is always right */

	if (!view)
		return true;
	for (size_t f = 0; f < n; f++)
		view[f] = (struct movematch_folder){
		    .side = {{works[f].list[FAR].v, works[f].list[FAR].n},
			     {works[f].list[NEAR].v, works[f].list[NEAR].n}},
		    .pairs = works[f].pairs,
		    .npairs = works[f].npairs,
		    .prepared = works[f].prepared,
		    .have_state = works[f].have_state};
	if (movematch_collect_both_gone(view, n, &both) == 0) {
		int far = both.n ? 1 : side_leaks(view, n, FAR);
		int near = far ? far : side_leaks(view, n, NEAR);

		leaks = far != 0 || near != 0;
	}
	move_cands_free(&both);
	free(view);
	return leaks;
}

/* Both stores' folders (IMAP: NAMESPACE and LIST in one write). */
static int list_both(struct engine *e, struct store_folder *listed[2], size_t nlisted[2],
		     struct ferry_error *err)
{
	for (enum side side = FAR; side <= NEAR; side++) {
		struct store *s = e->store[side];

		if (store_list_folders(s, &listed[side], &nlisted[side], err) != 0)
			return -1;
	}
	return 0;
}

/* `subscribed = yes`: a folder a side with subscriptions lists but has not
 * subscribed to is left out on both sides, neither synced nor created on
 * the other (nor removed: rule 11 counts it neither here nor gone). */
static int drop_unsubscribed(struct engine *e, struct store_folder *listed[2], size_t nlisted[2],
			     struct ferry_error *err)
{
	for (enum side side = FAR; side <= NEAR; side++) {
		struct store_folder *sub;
		size_t nsub;
		int r = store_subscribed(e->store[side], &sub, &nsub, err);

		if (r == 1)
			continue;
		if (r != 0)
			return -1;
		for (size_t i = 0; i < nlisted[side]; i++) {
			const char *name = listed[side][i].name;
			bool is_sub = folder_name_is_inbox(name); /* always there */

			for (size_t k = 0; k < nsub && !is_sub; k++)
				is_sub = strcmp(sub[k].name, name) == 0;
			if (is_sub)
				continue;
			log_trace("%s: not subscribed on %s: left out", name, side_str(side));
			for (enum side s = FAR; s <= NEAR; s++)
				for (size_t k = 0; k < nlisted[s]; k++)
					if ((s != side || k != i) &&
					    strcmp(listed[s][k].name, name) == 0)
						listed[s][k].attrs |= FA_UNSUBSCRIBED;
			listed[side][i].attrs |= FA_UNSUBSCRIBED;
		}
		store_folders_free(sub, nsub);
	}
	for (enum side side = FAR; side <= NEAR; side++) {
		size_t kept = 0;

		for (size_t i = 0; i < nlisted[side]; i++) {
			if (listed[side][i].attrs & FA_UNSUBSCRIBED)
				free(listed[side][i].name);
			else
				listed[side][kept++] = listed[side][i];
		}
		nlisted[side] = kept;
	}
	return 0;
}

/* Lists both sides, applies role pairing and map (sync/roles.c: the near
 * store learns their aliases, the engine names a pair by its far name), and
 * pairs the folders. */
static int list_and_pair(struct engine *e, const struct channel_run *run,
			 struct store_folder *listed[2], size_t nlisted[2],
			 struct roles_result *roles, struct channel_folder **v, size_t *n,
			 struct ferry_error *err)
{
	struct state_role_pair *remembered = NULL;
	size_t nremembered = 0;
	int r = -1;

	if (list_both(e, listed, nlisted, err) == 0 &&
	    (!run->ch->subscribed || drop_unsubscribed(e, listed, nlisted, err) == 0) &&
	    state_list_role_pairs(e->state, &remembered, &nremembered, err) == 0 &&
	    roles_apply(run->ch, remembered, nremembered, listed, nlisted, roles, err) == 0 &&
	    (e->opts->dry_run || roles_remember(e->state, roles, err) == 0) &&
	    pair_folders(run, listed, nlisted, v, n, err) == 0) {
		e->store[NEAR]->aliases = roles->aliases;
		e->store[NEAR]->naliases = roles->naliases;
		r = 0;
	}
	state_role_pairs_free(remembered, nremembered);
	return r;
}

/* Syncs the run's folders. A scoped run that finds a message may have
 * left its folders stops before its move pass with *widen set: nothing was
 * planned yet, and the caller syncs the whole channel. */
static enum ferry_status sync_folders(struct engine *e, const struct channel_run *run,
				      struct folder_report *sum, bool *widen)
{
	struct store_folder *listed[2] = {NULL, NULL};
	struct channel_folder *v = NULL;
	struct folder_work *works = NULL;
	bool *skip = NULL, *sent[2] = {NULL, NULL};
	size_t nlisted[2] = {0, 0}, n = 0;
	struct ferry_error err = {0};
	enum ferry_status status = FERRY_OK;
	struct roles_result roles = {0};

	if (list_and_pair(e, run, listed, nlisted, &roles, &v, &n, &err) != 0) {
		log_error("%s: %s", run->ch->name, err.msg);
		status = FERRY_PARTIAL;
		goto out;
	}
	drop_too_deep(e, v, &n);
	/* Rule 11: folders renamed on one side are renamed on the other first,
	 * and both sides listed again. */
	if (!run->folder && !run->scoped && rename_replay(e, v, n) > 0 && e->store[FAR] &&
	    e->store[NEAR]) {
		free(v);
		v = NULL;
		for (enum side side = FAR; side <= NEAR; side++) {
			store_folders_free(listed[side], nlisted[side]);
			listed[side] = NULL;
			nlisted[side] = 0;
		}
		e->store[NEAR]->naliases = 0;
		roles_result_free(&roles);
		if (list_and_pair(e, run, listed, nlisted, &roles, &v, &n, &err) != 0) {
			log_error("%s: %s", run->ch->name, err.msg);
			status = FERRY_PARTIAL;
			goto out;
		}
		drop_too_deep(e, v, &n);
	}
	if (!e->store[FAR] || !e->store[NEAR]) { /* a reconnect while renaming failed */
		ferry_error_set(&err, FERRY_CAUSE_NETWORK,
				"%s: connection lost; no reconnect left this run", run->ch->name);
		goto lost;
	}
	if (run->scoped && !narrow_to_scope(e, run, v, &n)) {
		*widen = true;
		goto out;
	}
	if (run->folder) {
		size_t named = 0;

		for (size_t i = 0; i < n; i++)
			named += !v[i].listed_only;
		if (!named) {
			log_error("%s: no folder '%s' on either side", run->ch->name, run->folder);
			status = FERRY_PARTIAL;
		}
	}
	works = calloc(n + 1, sizeof(*works));
	skip = calloc(n + 1, sizeof(*skip));
	sent[0] = calloc(n + 1, sizeof(*sent[0]));
	sent[1] = calloc(n + 1, sizeof(*sent[1]));
	if (!works || !skip || !sent[0] || !sent[1]) {
		log_error("%s: out of memory", run->ch->name);
		status = FERRY_PARTIAL;
		goto out;
	}
	/* Status changes nothing: it comes first so that rule 11's check sees
	 * folders that are new and empty as well as those gone. */
	prepare_find_unchanged(e, v, n, skip, sent);
	/* A scoped run's folders are all on both sides: nothing is created or
	 * removed, and the record of held removals stays as it is. */
	if (!run->scoped && e->store[FAR] && e->store[NEAR] &&
	    check_lost_folders(e, v, n, nlisted, &err) != 0) {
		log_error("%s", err.msg);
		status = FERRY_PARTIAL;
		goto out;
	}
	if (!run->scoped && e->store[FAR] && e->store[NEAR] && hold_removals(e, v, n))
		status = FERRY_PARTIAL;
	prepare_prefetch(e, v, n, skip, sent);
	if (!e->store[FAR] || !e->store[NEAR]) { /* a reconnect on the way failed */
		ferry_error_set(&err, FERRY_CAUSE_NETWORK,
				"%s: connection lost; no reconnect left this run",
				engine_conf(e, e->store[FAR] ? NEAR : FAR)->name);
		goto lost;
	}
	/* Every folder is listed before any is changed, so that the move pass
	 * can see a message leave one folder and arrive in another. A folder
	 * unchanged on both sides takes part in no move. */
	for (size_t i = 0; i < n && !engine_interrupted; i++) {
		int r;

		works[i].name = v[i].name;
		if (!v[i].on[FAR] && !v[i].on[NEAR])
			continue; /* a \Noselect parent: it holds folders, not mail */
		if (skip[i])
			continue;
		if ((v[i].listed_only && !(v[i].on[FAR] && v[i].on[NEAR])) || v[i].held)
			continue;
		ferry_error_clear(&err);
		r = v[i].listed_only ? 0 : ensure_folder(e, &v[i], &works[i], &err);
		if (r == 0)
			r = prepare_folder(e, &works[i], &err);
		if (r < 0 && connect_broken(e->store)) {
			/* Reconnect, then select and list this folder again once. */
			log_warn("%s", err.msg);
			engine_folder_free(&works[i]);
			ferry_error_clear(&err);
			if (connect_again(e->store, &e->reconnects, &err) != 0) {
				ferry_error_prefix(&err, "%s: not synced", works[i].name);
				goto lost;
			}
			r = prepare_folder(e, &works[i], &err);
		}
		if (r < 0) {
			log_error("%s", err.msg);
			status = ferry_status_worst(status, FERRY_PARTIAL);
			engine_folder_free(&works[i]);
			works[i].prepared = false;
			if (connect_broken(e->store) &&
			    connect_again(e->store, &e->reconnects, &err) != 0)
				goto lost;
			continue;
		}
		/* Only flags changed here: finish it while it is still selected. */
		if (!v[i].listed_only && !e->opts->dry_run && prepare_move_neutral(&works[i])) {
			works[i].still_selected = true;
			if (finish_one(e, &works[i], sum, &status, &err) != 0)
				goto lost;
		}
	}
	prepare_prefetch_drop(e);
	if (run->scoped && !engine_interrupted && scope_leaks(works, n)) {
		log_trace("%s: a message left its folder: syncing every folder", run->ch->name);
		*widen = true;
		goto out;
	}
	ferry_error_clear(&err);
	if (!engine_interrupted && engine_moves(e, works, n, &err) != 0) {
		/* Listings may no longer match the servers: plan nothing this run. */
		log_error("%s: %s; nothing else synced this run", run->ch->name, err.msg);
		status = ferry_status_worst(status, FERRY_PARTIAL);
		goto out;
	}
	start_progress(e, v, works, n);
	if (!engine_interrupted && finish_parallel(e, v, works, n, sum, &status) == 0)
		goto out;
	for (size_t i = 0; i < n && !engine_interrupted; i++) {
		if (!works[i].prepared || v[i].listed_only)
			continue;
		if (finish_one(e, &works[i], sum, &status, &err) != 0)
			goto lost;
	}
	goto out;
lost:
	log_error("%s", err.msg);
	status = ferry_status_worst(status, FERRY_PARTIAL);
out:
	for (size_t i = 0; works && i < n; i++)
		engine_folder_free(&works[i]);
	free(works);
	free(skip);
	free(sent[0]);
	free(sent[1]);
	free(v);
	for (enum side side = FAR; side <= NEAR; side++)
		store_folders_free(listed[side], nlisted[side]);
	if (e->store[NEAR])
		e->store[NEAR]->naliases = 0;
	roles_result_free(&roles);
	return status;
}

/* A hook that indexes a big mail store the first time may take minutes; one
 * that hangs must not hold the channel (and `watch`) for ever. */
#define POST_SYNC_TIMEOUT 600

/* After the lock is released, so that the hook may run ferry itself. */
static void run_post_sync(struct engine *e, const struct folder_report *sum, bool complete)
{
	struct hook_run run = {
	    .channel = e->ch->name, .command = e->ch->post_sync, .sum = sum, .complete = complete};
	struct ferry_error err = {0};

	if (e->ch->post_sync && !e->opts->dry_run && !engine_interrupted &&
	    hook_worth_running(sum)) {
		for (enum side s = FAR; s <= NEAR; s++)
			run.arrived[s] = e->arrived[s].oom ? "" : e->arrived[s].s;
		if (hook_run(&run, POST_SYNC_TIMEOUT, &err) != 0)
			log_warn("%s: %s", e->ch->name, err.msg);
	}
	for (enum side s = FAR; s <= NEAR; s++)
		strbuf_free(&e->arrived[s]);
}

static int run_channel(void *arg, struct ferry_error *err)
{
	const struct channel_run *run = arg;
	const struct channel_conf *ch = run->ch;
	struct engine e = {.ch = ch, .opts = run->opts, .dir = ch->sync};
	struct folder_report sum = {0};
	struct sigaction sa = {.sa_handler = on_signal};
	enum ferry_status status;
	struct timespec t0, t1;
	struct journal_entry *cut = NULL;
	struct channel_run scoped = *run;
	size_t ncut = 0;
	int lockfd = -1;
	bool widen = false;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	crashpoint_scope(ch->name);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (run->opts->has_dir_override)
		e.dir = run->opts->dir_override;
	if (channel_check_dir(ch, e.dir, err) != 0)
		return -1;
	/* A dry run before the first sync creates neither the state's
	 * directory nor its lock: with no state there is nothing to guard. */
	if (!(run->opts->dry_run && access(ch->state, F_OK) != 0 && errno == ENOENT) &&
	    state_lock(ch->state, &lockfd, err) != 0) {
		ferry_error_prefix(err, "channel '%s'", ch->name);
		return -1;
	}
	/* A dry run goes through every step on a copy of the state in memory,
	 * and the stores change nothing (store_set_read_only). */
	if ((run->opts->dry_run ? state_open_scratch(ch->state, &e.state, err)
				: state_open(ch->state, &e.state, err)) != 0 ||
	    recover_journal(e.state, ch->name, &cut, &ncut, err) != 0 ||
	    connect_both(ch, e.store, err) != 0) {
		free(cut);
		state_close(e.state);
		if (lockfd >= 0)
			close(lockfd);
		return -1;
	}
	if (run->opts->dry_run)
		for (enum side side = FAR; side <= NEAR; side++)
			store_set_read_only(e.store[side]);
	settle_cut_folders(&e, cut, ncut);
	e.cut = cut;
	e.ncut = ncut;
	/* A killed run's batches are found again across every folder. */
	scoped.scoped = run->scope && ncut == 0;
	status = sync_folders(&e, &scoped, &sum, &widen);
	if (widen && !engine_interrupted) {
		scoped.scoped = false;
		widen = false;
		status = ferry_status_worst(status, sync_folders(&e, &scoped, &sum, &widen));
	}
	if (status == FERRY_OK && !engine_interrupted && !run->opts->dry_run) {
		struct ferry_error cerr = {0};

		if (clear_journal(e.state, run->folder, cut, ncut, &cerr) != 0) {
			log_error("%s: %s", ch->name, cerr.msg);
			status = FERRY_PARTIAL;
		}
	}
	free(cut);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (!run->opts->quiet_unchanged || status != FERRY_OK || hook_worth_running(&sum)) {
		char far_part[96], near_part[96], mark[128];

		direction_part(far_part, sizeof(far_part), &sum, NEAR);
		direction_part(near_part, sizeof(near_part), &sum, FAR);
		dry_mark(&e, &sum, mark, sizeof(mark));
		log_info("%s: %s, %s%s (%.1f s)%s", ch->name, far_part, near_part,
			 sum.conflicts ? ", conflicts reported" : "",
			 (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
			 mark);
	}
	progress_end();
	connect_close_both(e.store);
	state_close(e.state);
	if (lockfd >= 0)
		close(lockfd);
	run_post_sync(&e, &sum, status == FERRY_OK);
	if (engine_interrupted) {
		ferry_error_set(err, FERRY_CAUSE_INTERRUPTED,
				"%s: interrupted; what was done is "
				"saved",
				ch->name);
		err->status = child_stop_status(stopped_by);
		return -1;
	}
	if (status != FERRY_OK)
		return ferry_error_set(err, FERRY_CAUSE_INCOMPLETE,
				       "%s: some folders failed (see above)", ch->name);
	return 0;
}

static enum ferry_status sync_run(const struct channel_run *run);

enum ferry_status channel_sync(const struct channel_conf *ch, const char *folder,
			       const struct sync_opts *opts)
{
	struct channel_run run = {.ch = ch, .folder = folder, .opts = opts};

	return sync_run(&run);
}

enum ferry_status channel_sync_folders(const struct channel_conf *ch, const char *const *names,
				       size_t n, const struct sync_opts *opts)
{
	struct channel_run run = {.ch = ch, .scope = names, .nscope = names ? n : 0, .opts = opts};

	return sync_run(&run);
}

static enum ferry_status sync_run(const struct channel_run *run)
{
	const struct channel_conf *ch = run->ch;
	struct ferry_error err = {0};

	/* The parent only waits: a stop signal is passed on to the child
	 * (child_run), which handles it between batches. */
	if (child_run(run_channel, (void *)run, &err) != 0) {
		size_t len = strlen(ch->name);

		/* The channel's own errors name it; a crash report from child_run does not. */
		if (strncmp(err.msg, ch->name, len) == 0 && err.msg[len] == ':')
			log_error("%s", err.msg);
		else
			log_error("%s: %s", ch->name, err.msg);
		return err.status;
	}
	return FERRY_OK;
}
