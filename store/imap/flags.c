/* Changing flags (UID STORE, never absolute FLAGS) and removing messages
 * (\Deleted, then UID EXPUNGE of exactly those uids). */
#include "store/imap/flags.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/flags.h"
#include "store/imap/guard.h"
#include "store/imap/select.h"
#include "store/imap/uidset.h"

/* Uids per UID EXPUNGE: half the untagged responses the guard allows. */
#define EXPUNGE_BATCH (GUARD_UNTAGGED_MAX / 2)

/* Flags and keywords. */

/* The next space-separated word of a keyword set at *p, or 0 at the end. */
size_t imap_next_word(const char **p, const char **word)
{
	size_t len;

	while (**p == ' ')
		(*p)++;
	len = strcspn(*p, " ");
	*word = *p;
	*p += len;
	return len;
}

/* The flag bit of a word ("$Forwarded" may come as a keyword), or 0. */
unsigned imap_word_flag(const char *w, size_t len)
{
	for (size_t i = 0; i < flag_table_len; i++)
		if (strlen(flag_table[i].imap) == len &&
		    strncasecmp(flag_table[i].imap, w, len) == 0)
			return flag_table[i].bit;
	return 0;
}

/* Whether every word of a keyword set is a valid atom; *bad is the first
 * that is not. */
static bool keywords_valid(const char *set, const char **bad, size_t *badlen)
{
	const char *w;
	size_t len;

	for (const char *p = set ? set : ""; (len = imap_next_word(&p, &w)) > 0;)
		if (!kw_valid(w, len)) {
			*bad = w;
			*badlen = len;
			return false;
		}
	return true;
}

/* Adds a flag by its IMAP name: "\Seen" as the extension flag "Seen", which
 * libetpan sends as \Seen; anything else as a keyword. -1 on allocation
 * failure. */
static int flag_list_add_named(struct mailimap_flag_list *list, const char *name, size_t len)
{
	bool system = name[0] == '\\';
	char *s = strndup(name + system, len - system);
	struct mailimap_flag *f = NULL;

	if (s)
		f = system ? mailimap_flag_new_flag_extension(s)
			   : mailimap_flag_new_flag_keyword(s);
	if (!f) {
		free(s);
		return -1;
	}
	if (mailimap_flag_list_add(list, f) != MAILIMAP_NO_ERROR) {
		mailimap_flag_free(f); /* frees s */
		return -1;
	}
	return 0;
}

/* A flag list for flags and keywords (validated by the caller), or NULL on
 * allocation failure. */
static struct mailimap_flag_list *flag_list(unsigned flags, const char *keywords)
{
	struct mailimap_flag_list *list = mailimap_flag_list_new_empty();
	const char *w;
	size_t len;

	if (!list)
		return NULL;
	for (const char *p = keywords ? keywords : ""; (len = imap_next_word(&p, &w)) > 0;)
		flags |= imap_word_flag(w, len);
	for (size_t i = 0; i < flag_table_len; i++)
		if ((flags & flag_table[i].bit) &&
		    flag_list_add_named(list, flag_table[i].imap, strlen(flag_table[i].imap)) != 0)
			goto fail;
	for (const char *p = keywords ? keywords : ""; (len = imap_next_word(&p, &w)) > 0;)
		if (!imap_word_flag(w, len) && flag_list_add_named(list, w, len) != 0)
			goto fail;
	return list;
fail:
	mailimap_flag_list_free(list);
	return NULL;
}

static bool flag_list_empty(const struct mailimap_flag_list *list)
{
	return !list->fl_list || clist_count(list->fl_list) == 0;
}

/* UID STORE <set> +FLAGS.SILENT or -FLAGS.SILENT, in commands of at most
 * SET_MAX_RANGES ranges. Never absolute FLAGS: a concurrent change by
 * another client to other flags must survive (rule 9). */
int imap_store_flags(struct imap_store *st, const uint32_t *uids, size_t n, bool add,
		     unsigned flags, const char *keywords, struct ferry_error *err)
{
	for (size_t done = 0; done < n;) {
		/* The store_att takes the list, and is freed per command. */
		struct mailimap_flag_list *list = flag_list(flags, keywords);
		struct mailimap_store_att_flags *att = NULL;
		struct mailimap_set *set = NULL;
		size_t used = 0;
		int r;

		if (list && flag_list_empty(list)) {
			mailimap_flag_list_free(list);
			return 0;
		}
		if (list) {
			att = add ? mailimap_store_att_flags_new_add_flags_silent(list)
				  : mailimap_store_att_flags_new_remove_flags_silent(list);
			if (!att)
				mailimap_flag_list_free(list);
		}
		if (att)
			set = imap_uid_set(uids + done, n - done, n - done, SET_MAX_RANGES, &used);
		if (!set) {
			if (att)
				mailimap_store_att_flags_free(att);
			return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		}
		r = mailimap_uid_store(st->imap, set, att);
		mailimap_set_free(set);
		mailimap_store_att_flags_free(att);
		if (r != MAILIMAP_NO_ERROR)
			return imap_fail(
			    st, r, err, "folder \"%s\": %s flags on %zu messages from uid %u",
			    st->selected, add ? "adding" : "removing", used, uids[done]);
		done += used;
	}
	return 0;
}

/* Sets *kept to the words of keywords the folder defines (or that name
 * flags) and *dropped to the others; malloc'd, NULL when none. -1 out of
 * memory. */
int imap_split_keywords(const char *keywords, const char *defined, char **kept, char **dropped)
{
	const char *w;
	size_t len;
	bool oom = false;

	*kept = *dropped = NULL;
	for (const char *p = keywords ? keywords : ""; (len = imap_next_word(&p, &w)) > 0;) {
		char *word = strndup(w, len), **into, *grown;

		if (!word)
			oom = true;
		into = imap_word_flag(w, len) || kw_contains(defined, w, len) ? kept : dropped;
		grown = word ? kw_union(*into, word, &oom) : NULL;
		free(word);
		if (oom)
			break;
		free(*into);
		*into = grown;
	}
	if (!oom)
		return 0;
	free(*kept);
	free(*dropped);
	*kept = *dropped = NULL;
	return -1;
}

/* After a NO to a STORE that adds keywords: a folder that takes no more
 * keywords (Cyrus: 100 a folder) refuses it for them. If some are not
 * among those the folder defines (selected again), the STORE goes again
 * without those, and a warning names them; err stays set otherwise. */
static int store_without_new_keywords(struct imap_store *st, const uint32_t *uids, size_t n,
				      unsigned flags, const char *keywords, struct ferry_error *err)
{
	struct ferry_error e = {0};
	char *defined = NULL, *kept = NULL, *dropped = NULL;
	int r = -1;

	if (imap_defined_keywords(st, &defined, &e) != 0) {
		if (st->broken)
			*err = e;
		return -1;
	}
	if (imap_split_keywords(keywords, defined, &kept, &dropped) == 0 && dropped) {
		r = flags || kept ? imap_store_flags(st, uids, n, true, flags, kept, &e) : 0;
		if (r == 0)
			imap_keywords_note_dropped(st, dropped);
		else
			*err = e;
	}
	free(defined);
	free(kept);
	free(dropped);
	return r;
}

int imap_check_keywords(const char *set, const char *folder, struct ferry_error *err)
{
	const char *bad = NULL;
	size_t len = 0;

	if (keywords_valid(set, &bad, &len))
		return 0;
	return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
			       "folder \"%s\": \"%.*s\" is not a valid IMAP keyword", folder,
			       (int)(len > 200 ? 200 : len), bad);
}

int imap_set_flags(struct store *store, const uint32_t *uids, size_t n, unsigned add,
		   unsigned remove, const char *add_keywords, const char *remove_keywords,
		   struct ferry_error *err)
{
	struct imap_store *st = (struct imap_store *)store;
	uint32_t *sorted;
	size_t count = 0;
	int r = 0;

	if (imap_need_selected(st, "changing flags", err) != 0)
		return -1;
	if (imap_check_keywords(add_keywords, st->selected, err) != 0 ||
	    imap_check_keywords(remove_keywords, st->selected, err) != 0)
		return -1;
	sorted = imap_sorted_uids(uids, n, &count);
	if (!sorted)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	if (count && ((add & MF_ALL) || !kw_empty(add_keywords)))
		r = imap_store_flags(st, sorted, count, true, add & MF_ALL, add_keywords, err);
	if (r != 0 && !st->broken && err && err->cause == FERRY_CAUSE_REFUSED &&
	    !kw_empty(add_keywords))
		r = store_without_new_keywords(st, sorted, count, add & MF_ALL, add_keywords, err);
	if (r == 0 && count && ((remove & MF_ALL) || !kw_empty(remove_keywords)))
		r = imap_store_flags(st, sorted, count, false, remove & MF_ALL, remove_keywords,
				     err);
	free(sorted);
	return r;
}

/* Expunge. */

/* Without UIDPLUS, EXPUNGE removes every \Deleted message, also those
 * another client marked: run it only if there are none (rule 10). */
int imap_expunge_deleted(struct imap_store *st, const uint32_t *uids, size_t n,
			 struct ferry_error *err)
{
	struct mailimap_search_key *key = mailimap_search_key_new(
	    MAILIMAP_SEARCH_KEY_DELETED, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	    NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL);
	clist *found = NULL;
	size_t others = 0;
	uint32_t example = 0;
	int r;

	if (!key)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	r = mailimap_uid_search(st->imap, NULL, key, &found);
	mailimap_search_key_free(key);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(st, r, err, "folder \"%s\": UID SEARCH DELETED", st->selected);
	for (clistiter *it = found ? clist_begin(found) : NULL; it; it = clist_next(it)) {
		uint32_t *uid = clist_content(it);

		if (uid && !imap_uid_in(uids, n, *uid, NULL)) {
			others++;
			example = *uid;
		}
	}
	if (found)
		mailimap_search_result_free(found);
	if (others)
		return ferry_error_set(
		    err, FERRY_CAUSE_PROTOCOL,
		    "folder \"%s\": not expunging: the server has no UIDPLUS and "
		    "%zu other message(s) (e.g. uid %u) are marked \\Deleted too; "
		    "ferry's %zu message(s) stay marked \\Deleted",
		    st->selected, others, example, n);
	/* One "* N EXPUNGE" for each of ferry's n, beyond the guard's default. */
	imap_expect_untagged(st, n + GUARD_UNTAGGED_MAX);
	r = mailimap_expunge(st->imap);
	imap_expect_untagged(st, 0);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(st, r, err, "folder \"%s\": EXPUNGE", st->selected);
	return 0;
}

int imap_delete_msgs(struct store *store, const uint32_t *uids, size_t n, struct ferry_error *err)
{
	struct imap_store *st = (struct imap_store *)store;
	uint32_t *sorted;
	size_t count = 0;
	int r;

	if (imap_need_selected(st, "deleting messages", err) != 0)
		return -1;
	sorted = imap_sorted_uids(uids, n, &count);
	if (!sorted)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	r = count ? imap_store_flags(st, sorted, count, true, MF_DELETED, NULL, err) : 0;
	if (r == 0 && count && !(st->base.caps & CAP_UIDPLUS))
		r = imap_expunge_deleted(st, sorted, count, err);
	for (size_t done = 0; r == 0 && count && (st->base.caps & CAP_UIDPLUS) && done < count;) {
		size_t used = 0;
		/* Each uid expunged is a "* N EXPUNGE" libetpan keeps until the
		 * tagged answer: batches stay under the guard's cap. */
		struct mailimap_set *set =
		    imap_uid_set(sorted + done, count - done, EXPUNGE_BATCH, SET_MAX_RANGES, &used);

		if (!set) {
			r = ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
			break;
		}
		r = mailimap_uid_expunge(st->imap, set);
		mailimap_set_free(set);
		if (r != MAILIMAP_NO_ERROR)
			r = imap_fail(st, r, err,
				      "folder \"%s\": UID EXPUNGE of %zu messages from uid %u",
				      st->selected, used, sorted[done]);
		done += used;
	}
	free(sorted);
	return r;
}
