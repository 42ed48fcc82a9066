/* Moving messages of the selected folder to another: UID MOVE, or UID COPY
 * + \Deleted + UID EXPUNGE where the server has no MOVE; the new uids from
 * COPYUID. */
#include "store/imap/move.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/flags.h"
#include "store/imap/flags.h"
#include "store/imap/namespace.h"
#include "store/imap/select.h"
#include "store/imap/uidset.h"
#include "store/log.h"

/* Uids per UID MOVE or UID COPY: what one failed command leaves unsure. */
#define MOVE_BATCH 1000

/* The server's spelling of the target folder, in *out (caller frees),
 * refused as CREATE and SELECT refuse it. A folder is selected, so the
 * namespace has been learnt: nothing is sent. */
static int move_target(struct imap_store *st, const char *name, char **out, struct ferry_error *err)
{
	char shown[512];

	*out = NULL;
	if (!st->ns_known)
		return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
				       "cannot move to folder \"%s\": the name cannot be used on "
				       "this server (hierarchy delimiter ' ')",
				       imap_sanitize(name, shown, sizeof(shown)));
	return imap_map_name(st, name, "cannot move to", out, err);
}

/* Walks a uid set in order, each range from its lower end up ("4:2" is
 * 2:4, RFC 4315). */
struct set_walk {
	clistiter *it;
	uint64_t next, last; /* next > last: take the next range */
};

static uint64_t set_count(const struct mailimap_set *set, bool *valid)
{
	uint64_t n = 0;

	*valid = set && set->set_list;
	for (clistiter *it = *valid ? clist_begin(set->set_list) : NULL; it; it = clist_next(it)) {
		const struct mailimap_set_item *item = clist_content(it);

		/* 0 is "*", which has no place in COPYUID. */
		if (!item || item->set_first == 0 || item->set_last == 0) {
			*valid = false;
			return 0;
		}
		n += item->set_first <= item->set_last ? item->set_last - item->set_first + 1
						       : item->set_first - item->set_last + 1;
	}
	return n;
}

static uint32_t set_next(struct set_walk *w)
{
	while (w->next > w->last) {
		const struct mailimap_set_item *item;

		if (!w->it)
			return 0;
		item = clist_content(w->it);
		w->it = clist_next(w->it);
		w->next = item->set_first < item->set_last ? item->set_first : item->set_last;
		w->last = item->set_first < item->set_last ? item->set_last : item->set_first;
	}
	return (uint32_t)w->next++;
}

/* Records COPYUID's pairs for the uids of one batch (sorted uids
 * batch[0..k), their new uids in to[0..k)). Returns how many of them the
 * server confirms as moved (or copied) that the last SELECT counted. */
static size_t copyuid_pairs(struct imap_store *st, const uint32_t *batch, size_t k, uint32_t *to,
			    uint32_t uidvalidity, struct mailimap_set *src,
			    struct mailimap_set *dst)
{
	struct set_walk ws = {0}, wd = {0};
	bool src_ok, dst_ok;
	uint64_t ns, nd;
	size_t confirmed = 0;

	if (!uidvalidity || !src || !dst)
		return 0; /* no COPYUID: the new uids are unknown */
	ns = set_count(src, &src_ok);
	nd = set_count(dst, &dst_ok);
	if (!src_ok || !dst_ok || ns != nd || ns > k) {
		log_warn(
		    "%s: folder \"%s\": the server's COPYUID for %zu message(s) from uid %u does "
		    "not pair up; their new uids stay unknown",
		    st->base.conf->name, st->selected, k, batch[0]);
		return 0;
	}
	ws.it = clist_begin(src->set_list);
	wd.it = clist_begin(dst->set_list);
	ws.next = wd.next = 1; /* > last: start with the first range */
	for (uint64_t i = 0; i < ns; i++) {
		uint32_t s = set_next(&ws), d = set_next(&wd);
		size_t at;

		if (!s || !d || !imap_uid_in(batch, k, s, &at) || to[at])
			continue; /* not asked for, or named twice */
		to[at] = d;
		if (!st->uidnext || s < st->uidnext)
			confirmed++;
	}
	return confirmed;
}

/* The error of a failed UID MOVE or UID COPY: the target missing
 * ([TRYCREATE]) is said in plain words. */
static int move_failed(struct imap_store *st, int r, const char *verb, const uint32_t *batch,
		       size_t k, const char *to, struct ferry_error *err)
{
	const struct mailimap_response_info *info = st->imap->imap_response_info;

	/* Only a NO leaves this command's response codes in info. */
	if ((r == MAILIMAP_ERROR_UID_MOVE || r == MAILIMAP_ERROR_UID_COPY) && info &&
	    info->rsp_trycreate)
		return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
				       "folder \"%s\": cannot move %zu messages from uid %u to "
				       "folder \"%s\": that folder does not exist",
				       st->selected, k, batch[0], to);
	return imap_fail(st, r, err,
			 "folder \"%s\": %s of %zu messages from uid %u to folder \"%s\"",
			 st->selected, verb, k, batch[0], to);
}

/* Times a UID MOVE or UID COPY is sent again after [EXPUNGEISSUED]. */
#define EXPUNGEISSUED_RETRIES 3

/* UID MOVE (move) or UID COPY of set to mailbox, with COPYUID's answer in
 * *uidvalidity, *src and *dst (the caller frees the sets). A message that
 * another session expunged but this one was not yet told of makes the
 * whole command fail with NO [EXPUNGEISSUED] (RFC 5530; Dovecot then sends
 * the EXPUNGE responses): the command is sent again, and the uids gone
 * meanwhile are simply not found. */
static int copy_or_move(struct imap_store *st, bool move, struct mailimap_set *set,
			const char *mailbox, uint32_t *uidvalidity, struct mailimap_set **src,
			struct mailimap_set **dst)
{
	int r;

	for (int attempt = 0;; attempt++) {
		const struct mailimap_response_info *info;

		*uidvalidity = 0;
		*src = *dst = NULL;
		r = move ? mailimap_uidplus_uid_move(st->imap, set, mailbox, uidvalidity, src, dst)
			 : mailimap_uidplus_uid_copy(st->imap, set, mailbox, uidvalidity, src, dst);
		if (*src && r != MAILIMAP_NO_ERROR) {
			mailimap_set_free(*src);
			*src = NULL;
		}
		if (*dst && r != MAILIMAP_NO_ERROR) {
			mailimap_set_free(*dst);
			*dst = NULL;
		}
		/* Only a NO leaves this command's response codes in info. */
		info = st->imap->imap_response_info;
		if (r != (move ? MAILIMAP_ERROR_UID_MOVE : MAILIMAP_ERROR_UID_COPY) ||
		    attempt == EXPUNGEISSUED_RETRIES || !info || !info->rsp_atom ||
		    strcasecmp(info->rsp_atom, "EXPUNGEISSUED") != 0)
			return r;
	}
}

/* One batch by UID MOVE: removed from the source by the server itself. */
static int move_batch(struct imap_store *st, struct mailimap_set *set, const char *mailbox,
		      const uint32_t *batch, size_t k, uint32_t *to, const char *folder,
		      size_t *gone, struct ferry_error *err)
{
	struct mailimap_set *src = NULL, *dst = NULL;
	uint32_t uidvalidity = 0;
	int r;

	r = copy_or_move(st, true, set, mailbox, &uidvalidity, &src, &dst);
	if (r == MAILIMAP_NO_ERROR)
		*gone += copyuid_pairs(st, batch, k, to, uidvalidity, src, dst);
	if (src)
		mailimap_set_free(src);
	if (dst)
		mailimap_set_free(dst);
	if (r != MAILIMAP_NO_ERROR)
		return move_failed(st, r, "UID MOVE", batch, k, folder, err);
	return 0;
}

/* One batch by UID COPY, then \Deleted and, with UIDPLUS, UID EXPUNGE of
 * exactly these uids. Without UIDPLUS the expunge waits for the end. */
static int copy_batch(struct imap_store *st, struct mailimap_set *set, const char *mailbox,
		      const uint32_t *batch, size_t k, uint32_t *to, const char *folder,
		      size_t *gone, struct ferry_error *err)
{
	struct mailimap_set *src = NULL, *dst = NULL;
	uint32_t uidvalidity = 0;
	size_t copied = 0;
	int r;

	r = copy_or_move(st, false, set, mailbox, &uidvalidity, &src, &dst);
	if (r == MAILIMAP_NO_ERROR)
		copied = copyuid_pairs(st, batch, k, to, uidvalidity, src, dst);
	if (src)
		mailimap_set_free(src);
	if (dst)
		mailimap_set_free(dst);
	if (r != MAILIMAP_NO_ERROR)
		return move_failed(st, r, "UID COPY", batch, k, folder, err);
	if (imap_store_flags(st, batch, k, true, MF_DELETED, NULL, err) != 0) {
		ferry_error_prefix(err, "moving to folder \"%s\" (copied; the originals stay)",
				   folder);
		goto unmoved;
	}
	if (!(st->base.caps & CAP_UIDPLUS))
		return 0;
	r = mailimap_uid_expunge(st->imap, set);
	if (r != MAILIMAP_NO_ERROR) {
		imap_fail(st, r, err,
			  "folder \"%s\": moving to folder \"%s\" (copied): UID EXPUNGE of %zu "
			  "messages from uid %u (they may stay, marked \\Deleted)",
			  st->selected, folder, k, batch[0]);
		goto unmoved;
	}
	*gone += copied;
	return 0;
unmoved:
	/* Copied but not moved: no new uid says "moved". */
	memset(to, 0, k * sizeof(*to));
	return -1;
}

int imap_move_msgs(struct store *store, const uint32_t *uids, size_t n, const char *to,
		   uint32_t *new_uids, struct ferry_error *err)
{
	struct imap_store *st = (struct imap_store *)store;
	bool by_move = (st->base.caps & CAP_MOVE) != 0;
	uint32_t *sorted = NULL, *moved = NULL;
	size_t count = 0, gone = 0;
	char *mailbox = NULL;
	int r = 0;

	for (size_t i = 0; i < n; i++)
		new_uids[i] = 0;
	if (imap_need_selected(st, "moving messages", err) != 0 ||
	    move_target(st, to, &mailbox, err) != 0)
		return -1;
	if (strcmp(to, st->selected) == 0) {
		free(mailbox);
		return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
				       "folder \"%s\": cannot move messages into the folder itself",
				       st->selected);
	}
	sorted = imap_sorted_uids(uids, n, &count);
	moved = calloc(count + 1, sizeof(*moved));
	if (!sorted || !moved) {
		r = ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		goto done;
	}
	for (size_t done = 0; done < count && r == 0;) {
		size_t used = 0;
		struct mailimap_set *set =
		    imap_uid_set(sorted + done, count - done, MOVE_BATCH, SET_MAX_RANGES, &used);

		if (!set) {
			r = ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
			break;
		}
		r = (by_move ? move_batch : copy_batch)(st, set, mailbox, sorted + done, used,
							moved + done, to, &gone, err);
		mailimap_set_free(set);
		done += used;
	}
	/* Without UIDPLUS only a plain EXPUNGE is left, and only if it removes
	 * nothing but these (rule 10). */
	if (r == 0 && count && !by_move && !(st->base.caps & CAP_UIDPLUS)) {
		r = imap_expunge_deleted(st, sorted, count, err);
		if (r != 0) {
			ferry_error_prefix(err, "moving to folder \"%s\" (copied)", to);
			memset(moved, 0, count * sizeof(*moved));
		}
	}
	/* Only what the server confirmed is taken off: a count too high would
	 * make list() skip a folder that still holds messages. */
	if (!st->broken)
		st->exists -= gone < st->exists ? (uint32_t)gone : st->exists;
	for (size_t i = 0; i < n; i++) {
		size_t at;

		if (uids[i] && imap_uid_in(sorted, count, uids[i], &at))
			new_uids[i] = moved[at];
	}
done:
	free(sorted);
	free(moved);
	free(mailbox);
	return r;
}
