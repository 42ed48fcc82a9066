/* Adding a message to the selected folder (DESIGN rules 13, 14): written to
 * tmp/ with LF line endings, fsynced, dated, renamed into new/ (no flags) or
 * cur/ (":2," and the sorted letters), the directory fsynced, then indexed.
 * A crash at any point leaves either a stray tmp/ file (removed after 36
 * hours) or a complete message that the next scan indexes and the engine
 * pairs by identity (rule 7). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/base/grow.h"
#include "store/fdio.h"
#include "store/flags.h"
#include "store/identity.h"
#include "store/log.h"
#include "store/maildir/filename.h"
#include "store/maildir/internal.h"

#define CHUNK 65536
/* Room left in a file name after the unique part for ":2," and letters. */
#define INFO_ROOM 32

struct store_new_msg {
	struct maildir_store *st;
	unsigned long generation; /* of the selection it was begun in */
	int tmp;		  /* tmp/ of that folder */
	int fd;			  /* the file in tmp/ */
	char uniq[NAME_MAX + 1 - INFO_ROOM];
	struct ident ident; /* of the bytes as written, as a rescan would read them */
	bool ident_live;
	bool held_cr; /* the last chunk ended in CR: is it part of a CRLF? */
	uint64_t written;
	uint64_t ino;	   /* of the file, kept across the rename into new/ or cur/ */
	uint32_t replaces; /* replace_begin's uid: the message it takes the place of */
	size_t used;
	char buf[CHUNK];
};

/* Unique within the process; pid and time make it unique on the host. */
static unsigned long deliveries;

static int flush(struct store_new_msg *m, struct ferry_error *err)
{
	if (m->used == 0)
		return 0;
	if (fd_write_all(m->fd, m->buf, m->used) != 0)
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: tmp/%s: %s", m->st->sel.name,
				       m->uniq, strerror(errno));
	if (ident_feed(&m->ident, m->buf, m->used) != 0)
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "hashing a message failed");
	m->written += m->used;
	m->used = 0;
	return 0;
}

static int out(struct store_new_msg *m, const char *p, size_t n, struct ferry_error *err)
{
	while (n > 0) {
		size_t room = CHUNK - m->used, take = n < room ? n : room;

		memcpy(m->buf + m->used, p, take);
		m->used += take;
		p += take;
		n -= take;
		if (m->used == CHUNK && flush(m, err) != 0)
			return -1;
	}
	return 0;
}

int maildir_add_begin(struct store *store, struct store_new_msg **out_msg, struct ferry_error *err)
{
	struct maildir_store *st = (struct maildir_store *)store;
	struct store_new_msg *m;
	struct timespec now;

	if (!st->sel.name)
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: no folder selected",
				       st->root);
	if (maildir_folder_tmp(&st->sel, err) != 0)
		return -1;
	if (clock_gettime(CLOCK_REALTIME, &now) != 0)
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "clock_gettime: %s",
				       strerror(errno));
	/* malloc, not calloc: zeroing the 64 KiB buffer per message showed in
	 * profiles. Every field before buf is set here. */
	if (!(m = malloc(sizeof(*m))))
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	memset(m, 0, offsetof(struct store_new_msg, buf));
	m->st = st;
	m->generation = st->generation;
	m->fd = -1;
	m->tmp = fcntl(st->sel.tmp, F_DUPFD_CLOEXEC, 0);
	if (m->tmp < 0) {
		free(m);
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: tmp/: %s", st->sel.name,
				       strerror(errno));
	}
	/* The counter makes names unique within the process, so EEXIST means
	 * a stray file of a process that had our pid: take the next number. */
	for (int tries = 0; m->fd < 0; tries++) {
		if (maildir_name_unique(m->uniq, sizeof(m->uniq), (int64_t)now.tv_sec,
					now.tv_nsec / 1000, (long)getpid(), ++deliveries,
					st->host) < 0) {
			ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "host name too long: %s",
					st->host);
			goto fail;
		}
		m->fd = openat(m->tmp, m->uniq,
			       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (m->fd < 0 && (errno != EEXIST || tries >= 100)) {
			ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: tmp/%s: %s", st->sel.name,
					m->uniq, strerror(errno));
			goto fail;
		}
	}
	if (ident_init(&m->ident) != 0) {
		ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "hashing a message failed");
		goto fail;
	}
	m->ident_live = true;
	*out_msg = m;
	return 0;
fail:
	if (m->fd < 0)
		m->uniq[0] = '\0'; /* nothing of ours in tmp/ */
	maildir_add_abort(m);
	return -1;
}

/* CRLF becomes LF, as mbsync and Dovecot write Maildir files; a CR not
 * before LF stays. A CR ending one chunk waits for the next. */
int maildir_add_write(struct store_new_msg *m, const char *buf, size_t len, struct ferry_error *err)
{
	while (len > 0) {
		const char *cr;
		size_t span;

		if (m->held_cr) {
			m->held_cr = false;
			if (*buf != '\n' && out(m, "\r", 1, err) != 0)
				return -1;
		}
		cr = memchr(buf, '\r', len);
		span = cr ? (size_t)(cr - buf) : len;
		if (out(m, buf, span, err) != 0)
			return -1;
		if (!cr)
			break;
		m->held_cr = true;
		buf += span + 1;
		len -= span + 1;
	}
	return 0;
}

/* Closes the file with its date set and on disk. */
static int finish_file(struct store_new_msg *m, int64_t date, struct ferry_error *err)
{
	const char *folder = m->st->sel.name;
	struct timespec times[2] = {{.tv_sec = (time_t)date}, {.tv_sec = (time_t)date}};
	int fd = m->fd;

	if (m->held_cr && out(m, "\r", 1, err) != 0)
		return -1;
	m->held_cr = false;
	if (flush(m, err) != 0)
		return -1;
	/* The mtime is the internal date (rule 14), set before the fsync so
	 * that it is on disk with the content. */
	struct stat sb;

	if (futimens(fd, times) != 0 || fsync(fd) != 0 || fstat(fd, &sb) != 0)
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: tmp/%s: %s", folder, m->uniq,
				       strerror(errno));
	m->ino = sb.st_ino;
	m->fd = -1;
	if (close(fd) != 0)
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: tmp/%s: %s", folder, m->uniq,
				       strerror(errno));
	return 0;
}

/* Moves the file from tmp/ to new/ or cur/ under *name; the directory is
 * fsynced when the batch settles (maildir_settle_adds). */
static int publish(struct store_new_msg *m, unsigned flags, char *name, struct ferry_error *err)
{
	struct md_folder *f = &m->st->sel;
	int sub = flags ? SUB_CUR : SUB_NEW;

	if (maildir_name_build(m->uniq, strlen(m->uniq), flags != 0, flags, "", name,
			       NAME_MAX + 1) < 0)
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: %s: file name too long",
				       f->name, m->uniq);
	if (renameat(m->tmp, m->uniq, f->sub[sub], name) != 0)
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: rename tmp/%s: %s", f->name,
				       m->uniq, strerror(errno));
	m->st->add.dirty[sub] = true;
	return 0;
}

/* Gives a delivered file its uid and keeps its index row for the batch,
 * beginning one with the first delivery. */
static int index_new(struct maildir_store *st, struct mdindex_msg *row, struct ferry_error *err)
{
	struct mdindex_msg *rows, *copy;

	if (!st->add.open) {
		maildir_tx_mark(st);
		st->add.open = true;
	}
	rows = grow_array(st->add.rows, &st->add.cap, st->add.n + 1, sizeof(*rows));
	if (!rows)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	st->add.rows = rows;
	if (maildir_tx_uid(st, &row->uid, err) != 0)
		return -1;
	row->modseq = maildir_tx_change(st);
	copy = &st->add.rows[st->add.n];
	*copy = *row;
	copy->uniq = strdup(row->uniq);
	copy->name = strdup(row->name);
	copy->info = strdup(row->info ? row->info : "");
	copy->keywords = row->keywords ? strdup(row->keywords) : NULL;
	if (!copy->uniq || !copy->name || !copy->info || (row->keywords && !copy->keywords)) {
		mdindex_msg_clear(copy);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	return 0;
}

void maildir_batch_drop(struct maildir_store *st)
{
	for (size_t i = 0; i < st->add.n; i++)
		mdindex_msg_clear(&st->add.rows[i]);
	st->add.open = false;
	st->add.n = 0;
}

int maildir_settle_adds(struct maildir_store *st, struct ferry_error *err)
{
	static const char *const sub_name[2] = {"new", "cur"};

	if (!st->add.open)
		return 0;
	/* The renames reach the disk before the index and the engine's state
	 * say the messages are there. */
	for (int sub = 0; sub < 2; sub++) {
		if (!st->add.dirty[sub])
			continue;
		if (fsync(st->sel.sub[sub]) != 0) {
			ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: fsync %s/: %s",
					st->sel.name, sub_name[sub], strerror(errno));
			maildir_tx_abort(st);
			return -1;
		}
		st->add.dirty[sub] = false;
	}
	if (mdindex_begin(st->index, err) != 0) {
		maildir_tx_abort(st);
		return -1;
	}
	for (size_t i = 0; i < st->add.n; i++)
		if (mdindex_msg_add(st->index, st->sel.ix.id, &st->add.rows[i], err) != 0) {
			maildir_tx_abort(st);
			return -1;
		}
	maildir_batch_drop(st);
	return maildir_tx_commit(st, err);
}

int maildir_add_flush(struct store *store,
		      void (*done)(void *ctx, size_t seq, uint32_t uid,
				   const struct msg_id *stored),
		      void (*refused)(void *ctx, size_t seq, const char *why), void *ctx,
		      struct ferry_error *err)
{
	struct maildir_store *st = (struct maildir_store *)store;
	size_t n = st->add.n;

	(void)refused; /* a Maildir refuses no message at the flush */
	if (maildir_settle_adds(st, err) != 0)
		return -1;
	/* add_commit already gave each its uid; the file is the bytes written. */
	for (size_t i = 0; i < n; i++)
		done(ctx, i, 0, NULL);
	return 0;
}

/* Ends m whether it succeeds or fails: m is freed either way. */
int maildir_add_commit(struct store_new_msg *m, unsigned flags, const char *keywords, int64_t date,
		       uint32_t *uid, struct ferry_error *err)
{
	struct mdindex_msg row = {.info = "", .keywords_known = true};
	char name[NAME_MAX + 1], uniq[NAME_MAX + 1];
	bool oom = false;
	int r = -1;

	*uid = 0;
	flags &= MF_ALL;
	if (m->generation != m->st->generation || !m->st->sel.name) {
		ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "a message was begun in another folder");
		goto out;
	}
	if (date == 0)
		date = (int64_t)time(NULL);
	if (finish_file(m, date, err) != 0)
		goto out;
	m->ident_live = false;
	if (ident_final(&m->ident, &row.id, &row.size) != 0) {
		ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "hashing a message failed");
		goto out;
	}
	row.keywords = kw_normalize(keywords, &oom);
	if (oom) {
		ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		goto out;
	}
	if (publish(m, flags, name, err) != 0)
		goto out;
	/* Delivered: from here a failure leaves a message that the next scan
	 * finds (and rule 7 pairs), and abort must not look for it in tmp/. */
	memcpy(uniq, m->uniq, sizeof(m->uniq));
	m->uniq[0] = '\0';
	row.uniq = uniq;
	row.name = name;
	row.in_cur = flags != 0;
	row.flags = flags;
	row.fsize = (int64_t)m->written;
	row.ino = m->ino;
	row.mtime = date * 1000000000LL;
	r = index_new(m->st, &row, err);
	if (r == 0) {
		*uid = row.uid;
		m->st->add.n++;
	}
out:
	free(row.keywords);
	maildir_add_abort(m);
	return r;
}

void maildir_add_abort(struct store_new_msg *m)
{
	if (!m)
		return;
	if (m->fd >= 0)
		close(m->fd);
	/* A file that cannot be removed is left to the 36-hour cleanup. */
	if (m->uniq[0] && unlinkat(m->tmp, m->uniq, 0) != 0 && errno != ENOENT)
		log_warn("tmp/%s: %s", m->uniq, strerror(errno));
	if (m->tmp >= 0)
		close(m->tmp);
	if (m->ident_live)
		ident_discard(&m->ident);
	free(m);
}

int maildir_replace_begin(struct store *store, uint32_t uid, struct store_new_msg **out_msg,
			  struct ferry_error *err)
{
	struct maildir_store *st = (struct maildir_store *)store;

	/* Deliveries settled first: the row replaced must be in the index. */
	if (maildir_settle_adds(st, err) != 0 || maildir_add_begin(store, out_msg, err) != 0)
		return -1;
	(*out_msg)->replaces = uid;
	return 0;
}

/* The file of row, as it is named now: another program (a mail reader
 * setting a flag) may have renamed it since the index saw it. 1 when
 * there, 0 when gone, -1. */
static int replaced_file(struct maildir_store *st, struct mdindex_msg *row, struct ferry_error *err)
{
	struct stat sb;

	if (fstatat(st->sel.sub[row->in_cur], row->name, &sb, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	if (errno != ENOENT)
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: %s/%s: %s", st->sel.name,
				       row->in_cur ? "cur" : "new", row->name, strerror(errno));
	return maildir_refind(st, row, err);
}

/* The new file takes the old one's name by rename(), which replaces it
 * atomically: a reader sees the one or the other, never neither, and a
 * crash before the rename leaves the old one (and a stray tmp/ file).
 * Ends m either way. */
int maildir_replace_commit(struct store_new_msg *m, struct msg_id *id, uint64_t *size,
			   struct ferry_error *err)
{
	struct maildir_store *st = m->st;
	struct mdindex_msg row = {0};
	int r = -1, found;

	if (m->generation != st->generation || !st->sel.name) {
		ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "a message was begun in another folder");
		maildir_add_abort(m);
		return -1;
	}
	if (maildir_tx_begin(st, err) != 0) {
		maildir_add_abort(m);
		return -1;
	}
	found = mdindex_msg_get(st->index, st->sel.ix.id, m->replaces, &row, err);
	if (found > 0)
		found = replaced_file(st, &row, err);
	if (found == 0)
		ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: uid %u is not in the folder",
				st->sel.name, m->replaces);
	if (found <= 0)
		goto out;
	/* Its date stays the message's internal date (rule 14). */
	if (finish_file(m, row.mtime / 1000000000LL, err) != 0)
		goto out;
	m->ident_live = false;
	if (ident_final(&m->ident, &row.id, &row.size) != 0) {
		ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "hashing a message failed");
		goto out;
	}
	if (renameat(m->tmp, m->uniq, st->sel.sub[row.in_cur], row.name) != 0) {
		ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: rename tmp/%s over %s/%s: %s",
				st->sel.name, m->uniq, row.in_cur ? "cur" : "new", row.name,
				strerror(errno));
		goto out;
	}
	m->uniq[0] = '\0'; /* renamed: nothing of ours left in tmp/ */
	if (fsync(st->sel.sub[row.in_cur]) != 0) {
		ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: fsync %s/: %s", st->sel.name,
				row.in_cur ? "cur" : "new", strerror(errno));
		goto out;
	}
	row.fsize = (int64_t)m->written;
	row.ino = m->ino;
	row.modseq = maildir_tx_change(st);
	r = mdindex_msg_update(st->index, st->sel.ix.id, &row, err);
	if (r == 0) {
		*id = row.id;
		id->known = true;
		*size = row.size;
	}
out:
	if (r == 0)
		r = maildir_tx_commit(st, err);
	else
		maildir_tx_abort(st);
	mdindex_msg_clear(&row);
	maildir_add_abort(m);
	return r;
}
