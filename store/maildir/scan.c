/* Reading a folder into the index (DESIGN rules 4, 5, 12, 14).
 *
 * A scan reads cur/ and new/ completely (never tmp/), matches the files to
 * the index by unique part, and turns what differs into index changes: new
 * files get new uids in name order, vanished files lose their rows, renamed
 * files (flags changed, moved from new/ to cur/ by another program) update
 * theirs, and a file whose content changed under the same name is a new
 * message plus the deletion of the old one. A failed readdir fails the scan:
 * an incomplete listing must never look like deletions. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/base/grow.h"
#include "store/identity.h"
#include "store/log.h"
#include "store/maildir/filename.h"
#include "store/maildir/internal.h"
#include "store/names.h"

#define CHUNK	 65536
#define NS_PER_S 1000000000LL
/* Margin for a file system with sub-second stamps: ten times the coarsest
 * kernel tick (HZ = 100). */
#define FINE_TICK_NS (100 * 1000000LL)
/* Stray files in tmp/ older than this are dead deliveries (the Maildir
 * specification's 36 hours). */
#define TMP_MAX_AGE_S (36 * 3600)

static const char *const subdir_name[2] = {"new", "cur"};

/* A file found by readdir. */
struct entry {
	char *name;
	size_t uniq_len;
	bool in_cur;
	uint64_t ino;	/* readdir's d_ino */
	char *keywords; /* carried over when the entry replaces an edited message; borrowed */
	/* carried over with them */
	bool keywords_known;
};

struct entries {
	struct entry *v;
	size_t n, cap;
};

static void entries_free(struct entries *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i].name);
	free(e->v);
}

static int64_t ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * NS_PER_S + t->tv_nsec;
}

static int uniq_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	return c ? c : (alen > blen) - (alen < blen);
}

/* By unique part; of two files with the same unique part, cur/ first. */
static int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = uniq_cmp(x->name, x->uniq_len, y->name, y->uniq_len);

	return c ? c : (int)y->in_cur - (int)x->in_cur;
}

static int row_cmp(const void *a, const void *b)
{
	const struct mdindex_msg *x = *(struct mdindex_msg *const *)a;
	const struct mdindex_msg *y = *(struct mdindex_msg *const *)b;

	return uniq_cmp(x->uniq, strlen(x->uniq), y->uniq, strlen(y->uniq));
}

/* Name order, digits compared as numbers: deliveries are named after their
 * time, so new uids follow delivery order. */
static int fresh_cmp(const void *a, const void *b)
{
	const struct entry *x = *(struct entry *const *)a, *y = *(struct entry *const *)b;

	return strverscmp(x->name, y->name);
}

static int push(struct entries *e, const char *name, size_t uniq_len, bool in_cur, uint64_t ino)
{
	struct entry *v = grow_array(e->v, &e->cap, e->n + 1, sizeof(*v));

	if (!v)
		return -1;
	e->v = v;
	e->v[e->n] = (struct entry){
	    .name = strdup(name), .uniq_len = uniq_len, .in_cur = in_cur, .ino = ino};
	if (!e->v[e->n].name)
		return -1;
	e->n++;
	return 0;
}

/* Reads one of cur/ and new/ completely: into e, or, with e NULL, only
 * into the sum of mdindex_file_hash (which holds nothing per file: a folder
 * of 880,000 files held as entries took 84 MB). Malformed names are skipped,
 * with a warning when warn is set; a failed readdir is an error (rule 5). */
static int read_subdir(struct maildir_store *st, int sub, struct entries *e, uint64_t sum[2],
		       bool warn, struct ferry_error *err)
{
	DIR *d = maildir_dir_stream(st->sel.sub[sub]);
	struct dirent *de;
	int r = 0;

	if (!d)
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: %s/: %s", st->sel.name,
				       subdir_name[sub], strerror(errno));
	for (;;) {
		struct maildir_name parsed;
		char shown[NAME_MAX + 1];
		const char *why;

		errno = 0;
		if (!(de = readdir(d))) {
			if (errno)
				r = ferry_error_set(err, FERRY_CAUSE_LOCAL_IO,
						    "%s: %s/: readdir: %s", st->sel.name,
						    subdir_name[sub], strerror(errno));
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (de->d_type == DT_DIR || de->d_type == DT_LNK) {
			if (warn)
				log_warn("%s: %s/%s: not a message file: skipped", st->sel.name,
					 subdir_name[sub],
					 folder_name_printable(de->d_name, shown, sizeof(shown)));
			continue;
		}
		if (maildir_name_parse(de->d_name, &parsed, &why) != 0) {
			if (warn)
				log_warn("%s: %s/%s: skipped: %s", st->sel.name, subdir_name[sub],
					 folder_name_printable(de->d_name, shown, sizeof(shown)),
					 why);
			continue;
		}
		if (!e) {
			uint64_t h[2];

			if ((r = mdindex_file_hash(sub == SUB_CUR, de->d_name, de->d_ino, h,
						   err)) != 0)
				break;
			sum[0] += h[0];
			sum[1] += h[1];
			continue;
		}
		if (push(e, de->d_name, parsed.uniq_len, sub == SUB_CUR, de->d_ino) != 0) {
			r = ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
			break;
		}
	}
	closedir(d);
	return r;
}

int maildir_read_file(int dirfd, const char *name, struct msg_id *id, uint64_t *size,
		      struct stat *sb)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct ident ident;
	char *buf = NULL;
	ssize_t got = 0;
	int saved;

	if (fd < 0)
		return -1;
	if (fstat(fd, sb) != 0)
		goto fail;
	if (!S_ISREG(sb->st_mode)) {
		errno = EINVAL;
		goto fail;
	}
	if (!(buf = malloc(CHUNK)))
		goto fail;
	if (ident_init(&ident) != 0) {
		errno = ENOMEM;
		goto fail;
	}
	for (;;) {
		got = read(fd, buf, CHUNK);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		if (ident_feed(&ident, buf, (size_t)got) != 0) {
			ident_discard(&ident);
			errno = ENOMEM;
			goto fail;
		}
	}
	if (got < 0) {
		saved = errno;
		ident_discard(&ident);
		errno = saved;
		goto fail;
	}
	free(buf);
	close(fd);
	if (ident_final(&ident, id, size) != 0) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
fail:
	saved = errno;
	free(buf);
	close(fd);
	errno = saved;
	return -1;
}

/* Takes over the name, place and letters of the file e for m. */
static int take_name(struct mdindex_msg *m, const char *name, bool in_cur)
{
	struct maildir_name parsed;
	const char *why;
	char *dup_name, *dup_info;

	if (maildir_name_parse(name, &parsed, &why) != 0)
		return 0; /* cannot happen: e was parsed before */
	dup_name = strdup(name);
	dup_info = strdup(parsed.other);
	if (!dup_name || !dup_info) {
		free(dup_name);
		free(dup_info);
		return -1;
	}
	free(m->name);
	free(m->info);
	m->name = dup_name;
	m->info = dup_info;
	m->in_cur = in_cur;
	m->flags = parsed.flags;
	return 0;
}

enum known_result { KNOWN_KEPT, KNOWN_EDITED };

/* Compares the file e with its index row m and updates the row. Returns
 * KNOWN_EDITED when the content changed under the same name (rule 12), or -1.
 * The same inode as indexed is the same file, renamed at most (a flag
 * change): no stat. Content is replaced by writing a new file and renaming
 * it over the old name, which gives a new inode; that is looked at.
 * A file gone since readdir keeps its row for now: it may have been renamed
 * after readdir, and cur/ or new/ has a newer mtime, so the next select scans
 * again and settles it. */
static int update_known(struct maildir_store *st, const struct entry *e, struct mdindex_msg *m,
			struct ferry_error *err)
{
	int dirfd = st->sel.sub[e->in_cur];
	bool changed = false;
	struct stat sb;

	if (e->ino && e->ino == m->ino) {
		if (strcmp(e->name, m->name) == 0 && e->in_cur == m->in_cur)
			return KNOWN_KEPT;
		if (take_name(m, e->name, e->in_cur) != 0)
			return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		m->modseq = maildir_tx_change(st);
		return mdindex_msg_update(st->index, st->sel.ix.id, m, err) ? -1 : KNOWN_KEPT;
	}
	if (fstatat(dirfd, e->name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno != ENOENT)
			log_warn("%s: %s/%s: %s: left as it was", st->sel.name,
				 subdir_name[e->in_cur], e->name, strerror(errno));
		return KNOWN_KEPT;
	}
	if (!S_ISREG(sb.st_mode)) {
		log_warn("%s: %s/%s: not a regular file: left as it was", st->sel.name,
			 subdir_name[e->in_cur], e->name);
		return KNOWN_KEPT;
	}
	if (strcmp(e->name, m->name) != 0 || e->in_cur != m->in_cur) {
		if (take_name(m, e->name, e->in_cur) != 0)
			return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		changed = true;
	}
	if (sb.st_size != m->fsize || ns(&sb.st_mtim) != m->mtime) {
		struct msg_id id;
		uint64_t size;

		if (maildir_read_file(dirfd, e->name, &id, &size, &sb) != 0) {
			if (errno != ENOENT)
				log_warn("%s: %s/%s: %s: left as it was", st->sel.name,
					 subdir_name[e->in_cur], e->name, strerror(errno));
			return KNOWN_KEPT;
		}
		if (m->id.known && (size != m->size || memcmp(id.hash, m->id.hash, 32) != 0))
			return KNOWN_EDITED;
		m->id = id;
		m->size = size;
		m->fsize = sb.st_size;
		m->mtime = ns(&sb.st_mtim);
		changed = true;
	}
	if (m->ino != e->ino) {
		m->ino = e->ino;
		changed = true;
	}
	if (!changed)
		return KNOWN_KEPT;
	m->modseq = maildir_tx_change(st);
	if (mdindex_msg_update(st->index, st->sel.ix.id, m, err) != 0)
		return -1;
	return KNOWN_KEPT;
}

/* Indexes a file seen for the first time, reading it once for its identity.
 * A file gone since readdir is just gone; one that cannot be read is skipped
 * with a warning (it was never listed, so nothing is deleted because of it).
 * Its keywords are not known: a file refiled by another program (mv, or
 * rewritten under a new name as mutt does) left them in its old row. */
static int add_fresh(struct maildir_store *st, const struct entry *e, struct ferry_error *err)
{
	struct mdindex_msg m = {
	    .in_cur = e->in_cur, .keywords = e->keywords, .keywords_known = e->keywords_known};
	struct maildir_name parsed;
	const char *why;
	struct stat sb;
	char uniq[NAME_MAX + 1];

	if (maildir_read_file(st->sel.sub[e->in_cur], e->name, &m.id, &m.size, &sb) != 0) {
		if (errno != ENOENT)
			log_warn("%s: %s/%s: %s: skipped", st->sel.name, subdir_name[e->in_cur],
				 e->name, errno == EINVAL ? "not a regular file" : strerror(errno));
		return 0;
	}
	if (maildir_name_parse(e->name, &parsed, &why) != 0 || e->uniq_len > NAME_MAX)
		return 0;
	memcpy(uniq, e->name, e->uniq_len);
	uniq[e->uniq_len] = '\0';
	m.uniq = uniq;
	m.name = e->name;
	m.info = parsed.other;
	m.flags = parsed.flags;
	m.fsize = sb.st_size;
	m.mtime = ns(&sb.st_mtim);
	m.ino = e->ino;
	if (maildir_tx_uid(st, &m.uid, err) != 0)
		return -1;
	m.modseq = maildir_tx_change(st);
	return mdindex_msg_add(st->index, st->sel.ix.id, &m, err);
}

static bool same_uniq(const struct entry *a, const struct entry *b)
{
	return uniq_cmp(a->name, a->uniq_len, b->name, b->uniq_len) == 0;
}

/* Merges the sorted files e with the sorted rows; collects the files that
 * need new uids into fresh. */
static int merge(struct maildir_store *st, struct entries *e, struct mdindex_msg **rows,
		 size_t nrows, struct entry **fresh, size_t *nfresh, struct ferry_error *err)
{
	size_t i = 0, j = 0;

	while (i < e->n || j < nrows) {
		int c;

		if (i < e->n && i > 0 && same_uniq(&e->v[i], &e->v[i - 1])) {
			log_warn("%s: %s/%s: skipped: same unique part as %s/%s", st->sel.name,
				 subdir_name[e->v[i].in_cur], e->v[i].name,
				 subdir_name[e->v[i - 1].in_cur], e->v[i - 1].name);
			i++;
			continue;
		}
		if (i == e->n)
			c = 1;
		else if (j == nrows)
			c = -1;
		else
			c = uniq_cmp(e->v[i].name, e->v[i].uniq_len, rows[j]->uniq,
				     strlen(rows[j]->uniq));
		if (c < 0) {
			fresh[(*nfresh)++] = &e->v[i++];
			continue;
		}
		if (c == 0) {
			int r = update_known(st, &e->v[i], rows[j], err);

			if (r < 0)
				return -1;
			if (r == KNOWN_KEPT) {
				i++;
				j++;
				continue;
			}
			/* Edited in place: the old message goes, the file is new. */
			e->v[i].keywords = rows[j]->keywords;
			e->v[i].keywords_known = rows[j]->keywords_known;
			fresh[(*nfresh)++] = &e->v[i++];
		}
		if (mdindex_msg_delete(st->index, st->sel.ix.id, rows[j]->uid,
				       maildir_tx_change(st), err) != 0)
			return -1;
		j++;
	}
	return 0;
}

/* The directory changed, but readdir finds exactly the files the index
 * has, by name and inode (its rows sum): ferry's own renames, deliveries
 * and deletions, say. Nothing to read or merge; the mtimes are taken as a
 * scan would. 1 when the sums differ or are not known. */
static int scan_matches_index(struct maildir_store *st, const uint64_t got[2],
			      const int64_t mtime[2], int64_t started, struct ferry_error *err)
{
	uint64_t want[2];
	bool known;

	if (mdindex_rows_sum(st->index, st->sel.ix.id, &known, want, err) != 0)
		return -1;
	if (!known || got[0] != want[0] || got[1] != want[1])
		return 1;
	if (maildir_tx_begin(st, err) != 0)
		return -1;
	st->sel.ix.new_mtime = mtime[SUB_NEW];
	st->sel.ix.cur_mtime = mtime[SUB_CUR];
	st->sel.ix.scanned_at = started;
	log_trace("%s: new/ or cur/ changed, but holds the indexed files", st->sel.name);
	return maildir_tx_commit(st, err);
}

static int scan_now(struct maildir_store *st, int64_t mtime[2], int64_t started,
		    struct ferry_error *err)
{
	struct entries e = {0};
	struct mdindex_msg *rows = NULL, **byuniq = NULL;
	struct entry **fresh = NULL;
	size_t nrows = 0, nfresh = 0;
	uint64_t base[2] = {0, 0}, got[2] = {0, 0};
	int r = -1;

	/* Most often the files are those indexed (ferry's own changes): a
	 * first pass only sums them; the second, which keeps every name,
	 * only when they differ. A change between the two passes is after the
	 * mtimes taken, so the next scan reads it. */
	if (read_subdir(st, SUB_NEW, NULL, got, true, err) != 0 ||
	    read_subdir(st, SUB_CUR, NULL, got, true, err) != 0)
		goto out;
	r = scan_matches_index(st, got, mtime, started, err);
	if (r != 1)
		goto out;
	r = -1;
	if (read_subdir(st, SUB_NEW, &e, NULL, false, err) != 0 ||
	    read_subdir(st, SUB_CUR, &e, NULL, false, err) != 0)
		goto out;
	log_trace("%s: new/ or cur/ changed: %zu file(s) read again", st->sel.name, e.n);
	if (mdindex_msgs(st->index, st->sel.ix.id, &rows, &nrows, err) != 0)
		goto out;
	/* The sum restarts from the rows as read, and the merge keeps it. */
	for (size_t i = 0; i < nrows; i++) {
		uint64_t h[2];

		if (mdindex_file_hash(rows[i].in_cur, rows[i].name, rows[i].ino, h, err) != 0)
			goto out;
		base[0] += h[0];
		base[1] += h[1];
	}
	byuniq = malloc((nrows ? nrows : 1) * sizeof(*byuniq));
	fresh = malloc((e.n ? e.n : 1) * sizeof(*fresh));
	if (!byuniq || !fresh) {
		ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < nrows; i++)
		byuniq[i] = &rows[i];
	if (nrows > 1)
		qsort(byuniq, nrows, sizeof(*byuniq), row_cmp);
	if (e.n > 1)
		qsort(e.v, e.n, sizeof(*e.v), entry_cmp);
	if (maildir_tx_begin(st, err) != 0)
		goto out;
	if (mdindex_rows_sum_set(st->index, st->sel.ix.id, base, err) != 0 ||
	    merge(st, &e, byuniq, nrows, fresh, &nfresh, err) != 0)
		goto abort;
	if (nfresh > 1)
		qsort(fresh, nfresh, sizeof(*fresh), fresh_cmp);
	for (size_t i = 0; i < nfresh; i++)
		if (add_fresh(st, fresh[i], err) != 0)
			goto abort;
	st->sel.ix.new_mtime = mtime[SUB_NEW];
	st->sel.ix.cur_mtime = mtime[SUB_CUR];
	st->sel.ix.scanned_at = started;
	st->tx.foreign = true;
	r = maildir_tx_commit(st, err);
	goto out;
abort:
	maildir_tx_abort(st);
out:
	free(fresh);
	free(byuniq);
	mdindex_msgs_free(rows, nrows);
	entries_free(&e);
	return r;
}

int maildir_scan(struct maildir_store *st, struct ferry_error *err)
{
	struct mdindex_folder *ix = &st->sel.ix;
	struct timespec now;
	struct stat sb[2];
	int64_t mtime[2], newest;

	/* The clock, then the mtimes, both before readdir (rule 4): a change
	 * made during the scan leaves a newer mtime and is read next time. */
	if (clock_gettime(CLOCK_REALTIME, &now) != 0)
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "clock_gettime: %s",
				       strerror(errno));
	for (int i = SUB_NEW; i <= SUB_CUR; i++) {
		if (fstat(st->sel.sub[i], &sb[i]) != 0)
			return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: %s/: %s",
					       st->sel.name, subdir_name[i], strerror(errno));
		mtime[i] = ns(&sb[i].st_mtim);
	}
	/* Unchanged, and old enough at the last scan that a change in the same
	 * clock tick as that scan would have left a different mtime. A file
	 * system with sub-second stamps ticks with the kernel's coarse clock
	 * (10 ms at most); one without has a whole second. */
	newest = mtime[SUB_NEW] > mtime[SUB_CUR] ? mtime[SUB_NEW] : mtime[SUB_CUR];
	if (ix->new_mtime == mtime[SUB_NEW] && ix->cur_mtime == mtime[SUB_CUR] &&
	    ix->scanned_at - newest >= (newest % NS_PER_S ? FINE_TICK_NS : NS_PER_S))
		return 0;
	return scan_now(st, mtime, ns(&now), err);
}

void maildir_clean_tmp(struct maildir_store *st)
{
	int fd = openat(st->sel.fd, "tmp", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	time_t limit = time(NULL) - TMP_MAX_AGE_S;
	struct dirent *de;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return; /* no tmp/ yet: delivery creates it */
	}
	while ((de = readdir(d))) {
		struct stat sb;

		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(sb.st_mode))
			continue;
		/* ctime too: a delivery sets mtime to an old date before rename. */
		if (sb.st_mtime >= limit || sb.st_ctime >= limit)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) != 0 && errno != ENOENT)
			log_warn("%s: tmp/%s: %s", st->sel.name, de->d_name, strerror(errno));
		else
			log_info("%s: removed tmp/%s, a delivery older than 36 hours", st->sel.name,
				 de->d_name);
	}
	closedir(d);
}

int maildir_refind(struct maildir_store *st, struct mdindex_msg *m, struct ferry_error *err)
{
	size_t len = strlen(m->uniq);

	for (int sub = SUB_CUR; sub >= SUB_NEW; sub--) {
		DIR *d = maildir_dir_stream(st->sel.sub[sub]);
		struct dirent *de;
		bool found = false;

		if (!d)
			return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: %s/: %s",
					       st->sel.name, subdir_name[sub], strerror(errno));
		for (;;) {
			errno = 0;
			if (!(de = readdir(d)))
				break;
			if (strncmp(de->d_name, m->uniq, len) == 0 &&
			    (de->d_name[len] == '\0' ||
			     strncmp(de->d_name + len, MAILDIR_INFO, strlen(MAILDIR_INFO)) == 0)) {
				found = true;
				break;
			}
		}
		if (!found && errno) {
			int saved = errno;

			closedir(d);
			return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: %s/: readdir: %s",
					       st->sel.name, subdir_name[sub], strerror(saved));
		}
		if (found && take_name(m, de->d_name, sub == SUB_CUR) != 0) {
			closedir(d);
			return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		}
		closedir(d);
		if (found) {
			st->tx.foreign = true; /* another program renamed it */
			m->modseq = maildir_tx_change(st);
			return mdindex_msg_update(st->index, st->sel.ix.id, m, err) ? -1 : 1;
		}
	}
	return 0;
}
