/* SELECT: the folder the message operations work on, QRESYNC enabled
 * before the first, and the real SELECT of a folder a prefetch selected only
 * on paper. */
#include "store/imap/select.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/flags.h"
#include "store/imap/namespace.h"
#include "store/imap/queue.h"
#include "store/log.h"

int imap_need_selected(struct imap_store *st, const char *what, struct ferry_error *err)
{
	if (imap_usable(st, err) != 0)
		return -1;
	if (!st->selected)
		return ferry_error_set(err, FERRY_CAUSE_PROTOCOL, "%s: no folder is selected",
				       what);
	if (st->sel_virtual)
		return imap_select_for_real(st, err);
	return 0;
}

/* \* in PERMANENTFLAGS: new keywords are kept. Without PERMANENTFLAGS at all
 * nothing says they are, so they count as not storable (rule 9). */
bool imap_keywords_storable(const struct mailimap_selection_info *info)
{
	if (!info->sel_perm_flags || info->sel_perm == MAILIMAP_MAILBOX_READONLY)
		return false;
	for (clistiter *it = clist_begin(info->sel_perm_flags); it; it = clist_next(it)) {
		const struct mailimap_flag_perm *f = clist_content(it);

		if (f->fl_type == MAILIMAP_FLAG_PERM_ALL)
			return true;
	}
	return false;
}

/* Adds a flag's keyword to the set *set (space-separated); -1 out of memory. */
static int add_defined(char **set, const struct mailimap_flag *f)
{
	bool oom = false;
	char *grown;

	if (!f || f->fl_type != MAILIMAP_FLAG_KEYWORD || !f->fl_data.fl_keyword ||
	    !kw_valid(f->fl_data.fl_keyword, strlen(f->fl_data.fl_keyword)))
		return 0;
	grown = kw_union(*set, f->fl_data.fl_keyword, &oom);
	if (oom)
		return -1;
	free(*set);
	*set = grown;
	return 0;
}

int imap_defined_keywords(struct imap_store *st, char **out, struct ferry_error *err)
{
	const struct mailimap_selection_info *info;
	char *set = NULL;
	int r = 0;

	*out = NULL;
	/* Selected again: a refused command may have defined some (Cyrus
	 * defines what fits of a refused APPEND's keywords). */
	if (!st->selected)
		return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
				       "reading the folder's keywords: no folder is selected");
	if (imap_usable(st, err) != 0 || imap_select_for_real(st, err) != 0)
		return -1;
	info = st->imap->imap_selection_info;
	for (clistiter *it = info && info->sel_perm_flags ? clist_begin(info->sel_perm_flags)
							  : NULL;
	     it && r == 0; it = clist_next(it)) {
		const struct mailimap_flag_perm *f = clist_content(it);

		if (f && f->fl_type == MAILIMAP_FLAG_PERM_FLAG)
			r = add_defined(&set, f->fl_flag);
	}
	for (clistiter *it = info && info->sel_flags && info->sel_flags->fl_list
				 ? clist_begin(info->sel_flags->fl_list)
				 : NULL;
	     it && r == 0; it = clist_next(it))
		r = add_defined(&set, clist_content(it));
	if (r != 0) {
		free(set);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	*out = set;
	return 0;
}

void imap_keywords_note_dropped(struct imap_store *st, const char *words)
{
	bool oom = false;
	char *fresh, *all;

	if (kw_empty(words) || !st->selected)
		return;
	if (!st->kw_dropped_folder || strcmp(st->kw_dropped_folder, st->selected) != 0) {
		free(st->kw_dropped);
		free(st->kw_dropped_folder);
		st->kw_dropped = NULL;
		st->kw_dropped_folder = strdup(st->selected);
	}
	fresh = kw_minus(words, st->kw_dropped, &oom);
	all = kw_union(st->kw_dropped, words, &oom);
	if (fresh)
		log_warn("folder \"%s\": the server takes no more keywords there; messages are "
			 "stored without %s (kept on the other side)",
			 st->selected, fresh);
	if (st->kw_dropped_folder && !oom) {
		free(st->kw_dropped);
		st->kw_dropped = all;
		all = NULL;
	}
	free(fresh);
	free(all);
}

const char *imap_keywords_dropped(struct store *store)
{
	const struct imap_store *st = (const struct imap_store *)store;

	if (!st->selected || !st->kw_dropped_folder ||
	    strcmp(st->kw_dropped_folder, st->selected) != 0)
		return NULL;
	return st->kw_dropped;
}

/* QRESYNC makes UID FETCH ... (CHANGEDSINCE m VANISHED) report expunges;
 * it has to be enabled before the first SELECT. A refusal only costs full
 * listings. */
static int enable_qresync(struct imap_store *st, struct ferry_error *err)
{
	struct mailimap_capability_data *want = mailimap_capability_data_new(clist_new());
	struct mailimap_capability_data *got = NULL;
	struct mailimap_capability *cap = NULL;
	char *name = strdup("QRESYNC");
	int r;

	st->enable_sent = true;
	if (!want || !want->cap_list || !name ||
	    !(cap = mailimap_capability_new(MAILIMAP_CAPABILITY_NAME, NULL, name))) {
		free(name);
		if (want)
			mailimap_capability_data_free(want);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	if (clist_append(want->cap_list, cap) != 0) {
		mailimap_capability_free(cap);
		mailimap_capability_data_free(want);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	r = imap_result(st, mailimap_enable(st->imap, want, &got));
	mailimap_capability_data_free(want);
	if (r != MAILIMAP_NO_ERROR) {
		if (imap_error_is_fatal(r))
			return imap_fail(st, r, err, "ENABLE QRESYNC");
		return 0;
	}
	for (clistiter *it = got && got->cap_list ? clist_begin(got->cap_list) : NULL; it;
	     it = clist_next(it)) {
		const struct mailimap_capability *c = clist_content(it);

		if (c->cap_type == MAILIMAP_CAPABILITY_NAME && c->cap_data.cap_name &&
		    strcasecmp(c->cap_data.cap_name, "QRESYNC") == 0)
			st->qresync = true;
	}
	if (got)
		mailimap_capability_data_free(got);
	return 0;
}

int imap_select_for_real(struct imap_store *st, struct ferry_error *err)
{
	struct folder_state fs;
	uint32_t uidvalidity = st->uidvalidity;
	char *name = strdup(st->selected);
	int r;

	if (!name)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	r = imap_select_now(st, name, &fs, err);
	if (r == 0 && fs.uidvalidity != uidvalidity)
		r = ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
				    "folder \"%s\": UIDVALIDITY changed during the run; the next "
				    "run re-pairs",
				    name);
	free(name);
	return r;
}

int imap_select_now(struct imap_store *st, const char *name, struct folder_state *out,
		    struct ferry_error *err)
{
	const struct mailimap_selection_info *info;
	uint64_t modseq = 0;
	char *mb = NULL;
	int r;

	if (imap_server_name(st, name, "cannot select", &mb, err) != 0)
		return -1;
	/* A SELECT that fails leaves no folder selected on the server either. */
	imap_unselect(st);
	if ((st->base.caps & CAP_QRESYNC) && (st->base.caps & CAP_ENABLE) && !st->enable_sent &&
	    enable_qresync(st, err) != 0) {
		free(mb);
		return -1;
	}
	if (st->base.caps & CAP_CONDSTORE)
		r = mailimap_select_condstore(st->imap, mb, &modseq);
	else
		r = mailimap_select(st->imap, mb);
	if (r != MAILIMAP_NO_ERROR) {
		free(mb);
		return imap_fail(st, r, err, "cannot select folder \"%s\"", name);
	}
	info = st->imap->imap_selection_info;
	if (!info || info->sel_uidvalidity == 0) {
		free(mb);
		return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
				       "folder \"%s\": the server sent no UIDVALIDITY; its uids "
				       "cannot be trusted from one session to the next",
				       name);
	}
	st->selected = strdup(name);
	if (!st->selected) {
		free(mb);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	st->selected_imap = mb;
	st->uidvalidity = info->sel_uidvalidity;
	st->uidnext = info->sel_uidnext; /* 0: the server did not say */
	st->exists = info->sel_exists;
	st->exists_known = info->sel_has_exists;
	*out = (struct folder_state){
	    .uidvalidity = info->sel_uidvalidity,
	    .uidnext = info->sel_uidnext,
	    .highestmodseq = modseq,
	    .exists = info->sel_exists,
	    .keywords_ok = imap_keywords_storable(info),
	};
	return 0;
}
