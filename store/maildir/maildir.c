/* The Maildir store: the driver table, opening, and the operations on the
 * messages of the selected folder. Folders are in folder.c, reading a folder
 * into the index in scan.c, delivery in deliver.c. */
#include "store/maildir/maildir.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/flags.h"
#include "store/log.h"
#include "store/maildir/filename.h"
#include "store/maildir/internal.h"
#include "store/names.h"

#define CHUNK 65536

static struct maildir_store *md(struct store *store)
{
	return (struct maildir_store *)store;
}

/* Opening checks the root only. A root that does not exist yet is fine: the
 * first sync creates it. A root that exists but is not a writable directory
 * is an error, found before anything is planned. The index and its lock are
 * taken by the first operation that reads the tree (maildir_ready), so that
 * `ferry check` neither writes into the Maildir nor waits for a running sync. */
static int maildir_open(const struct store_conf *conf, const char *secret, struct store **out,
			struct ferry_error *err)
{
	const char *path = conf->maildir.path;
	const char *layout = conf->maildir.layout == LAYOUT_MAILDIRPP ? "maildir++" : "verbatim";
	struct maildir_store *st;
	struct stat sb;
	char desc[4200];

	(void)secret;
	if (stat(path, &sb) == 0) {
		if (!S_ISDIR(sb.st_mode))
			return ferry_error_set(err, FERRY_PARTIAL, "%s: not a directory", path);
		if (access(path, R_OK | W_OK | X_OK) != 0)
			return ferry_error_set(err, FERRY_PARTIAL, "%s: %s", path, strerror(errno));
		snprintf(desc, sizeof(desc), "%s (%s layout)", path, layout);
	} else if (errno == ENOENT) {
		snprintf(desc, sizeof(desc), "%s (%s layout; does not exist yet, sync creates it)",
			 path, layout);
	} else {
		return ferry_error_set(err, FERRY_PARTIAL, "%s: %s", path, strerror(errno));
	}
	st = calloc(1, sizeof(*st));
	if (!st || !(st->base.description = strdup(desc))) {
		free(st);
		return ferry_error_set(err, FERRY_PARTIAL, "out of memory");
	}
	st->base.driver = &maildir_driver;
	st->base.conf = conf;
	st->root = path;
	st->layout = conf->maildir.layout;
	st->rootfd = -1;
	st->sel.fd = st->sel.sub[SUB_NEW] = st->sel.sub[SUB_CUR] = st->sel.tmp = -1;
	if (gethostname(st->host, sizeof(st->host)) != 0 || !st->host[0])
		snprintf(st->host, sizeof(st->host), "localhost");
	st->host[sizeof(st->host) - 1] = '\0';
	*out = &st->base;
	return 0;
}

static void maildir_close(struct store *store)
{
	struct maildir_store *st = md(store);

	maildir_folder_close(&st->sel);
	mdindex_close(st->index);
	if (st->rootfd >= 0)
		close(st->rootfd);
	free(store->description);
	free(st);
}

static int mkdir_p(const char *path, struct ferry_error *err)
{
	char buf[PATH_MAX];

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return ferry_error_set(err, FERRY_PARTIAL, "%s: path too long", path);
	for (char *p = buf + 1;; p++) {
		char c = *p;

		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST)
			return ferry_error_set(err, FERRY_PARTIAL, "%s: %s", buf, strerror(errno));
		*p = c;
		if (!c)
			return 0;
	}
}

int maildir_ready(struct maildir_store *st, bool create, struct ferry_error *err)
{
	if (st->index)
		return 0;
	if (create && mkdir_p(st->root, err) != 0)
		return -1;
	if (st->rootfd < 0) {
		st->rootfd = open(st->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (st->rootfd < 0) {
			if (errno == ENOENT && !create)
				return 1;
			return ferry_error_set(err, FERRY_PARTIAL, "%s: %s", st->root,
					       strerror(errno));
		}
	}
	if (mdindex_open(st->root, &st->index, err) != 0) {
		st->index = NULL;
		return -1;
	}
	return 0;
}

int maildir_tx_begin(struct maildir_store *st, struct ferry_error *err)
{
	if (mdindex_begin(st->index, err) != 0)
		return -1;
	st->tx.uidnext = st->sel.ix.uidnext;
	st->tx.modseq = st->sel.ix.modseq;
	st->tx.cur_mtime = st->sel.ix.cur_mtime;
	st->tx.new_mtime = st->sel.ix.new_mtime;
	st->tx.scanned_at = st->sel.ix.scanned_at;
	st->tx.changed = false;
	return 0;
}

uint64_t maildir_tx_change(struct maildir_store *st)
{
	if (!st->tx.changed) {
		st->sel.ix.modseq++;
		st->tx.changed = true;
	}
	return st->sel.ix.modseq;
}

int maildir_tx_uid(struct maildir_store *st, uint32_t *uid, struct ferry_error *err)
{
	if (st->sel.ix.uidnext == 0 || st->sel.ix.uidnext == UINT32_MAX)
		return ferry_error_set(
		    err, FERRY_PARTIAL,
		    "%s: no uid left in this index; delete %s/.ferry to rebuild it", st->sel.name,
		    st->root);
	*uid = st->sel.ix.uidnext++;
	return 0;
}

int maildir_tx_commit(struct maildir_store *st, struct ferry_error *err)
{
	if (mdindex_folder_save(st->index, &st->sel.ix, err) != 0 ||
	    mdindex_commit(st->index, err) != 0) {
		maildir_tx_abort(st);
		return -1;
	}
	return 0;
}

void maildir_tx_abort(struct maildir_store *st)
{
	mdindex_rollback(st->index);
	st->sel.ix.uidnext = st->tx.uidnext;
	st->sel.ix.modseq = st->tx.modseq;
	st->sel.ix.cur_mtime = st->tx.cur_mtime;
	st->sel.ix.new_mtime = st->tx.new_mtime;
	st->sel.ix.scanned_at = st->tx.scanned_at;
	st->tx.changed = false;
}

static int need_selected(struct maildir_store *st, struct ferry_error *err)
{
	if (!st->sel.name)
		return ferry_error_set(err, FERRY_PARTIAL, "%s: no folder selected", st->root);
	return 0;
}

static int maildir_select(struct store *store, const char *name, struct folder_state *out,
			  struct ferry_error *err)
{
	struct maildir_store *st = md(store);
	char shown[256];
	const char *why;
	uint32_t exists;
	int r;

	maildir_folder_close(&st->sel);
	st->generation++;
	if (!folder_name_is_safe(name, &why))
		return ferry_error_set(err, FERRY_PARTIAL, "folder \"%s\" refused: the name %s",
				       folder_name_printable(name, shown, sizeof(shown)), why);
	if (folder_name_is_inbox(name))
		name = "INBOX";
	r = maildir_ready(st, false, err);
	if (r < 0)
		return -1;
	if (r == 1)
		return ferry_error_set(err, FERRY_PARTIAL,
				       "folder %s does not exist: %s is missing", name, st->root);
	if (maildir_folder_open(st, name, &st->sel, err) != 0)
		return -1;
	if (maildir_scan(st, err) != 0 ||
	    mdindex_msg_count(st->index, st->sel.ix.id, &exists, err)) {
		maildir_folder_close(&st->sel);
		return -1;
	}
	maildir_clean_tmp(st);
	*out = (struct folder_state){
	    .uidvalidity = st->sel.ix.uidvalidity,
	    .uidnext = st->sel.ix.uidnext,
	    .highestmodseq = st->sel.ix.modseq,
	    .exists = exists,
	    .keywords_ok = true, /* keywords live in the index (rule 15) */
	};
	return 0;
}

static int maildir_list(struct store *store, struct msg_list *out, struct ferry_error *err)
{
	struct maildir_store *st = md(store);
	struct mdindex_msg *v;
	size_t n;

	if (need_selected(st, err) != 0 || mdindex_msgs(st->index, st->sel.ix.id, &v, &n, err) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct msg m = {
		    .uid = v[i].uid,
		    .flags = v[i].flags,
		    .keywords = v[i].keywords,
		    .size = v[i].size,
		    .date = v[i].mtime / 1000000000,
		    .id = v[i].id,
		};

		if (msg_list_push(out, &m) != 0) {
			mdindex_msgs_free(v, n);
			return ferry_error_set(err, FERRY_PARTIAL, "out of memory");
		}
	}
	mdindex_msgs_free(v, n);
	return 0;
}

/* Opens m's file for reading; on ENOENT looks for it again once (another
 * program renamed it). Returns the fd, -2 when the file is gone, or -1 with
 * err set. */
static int open_msg(struct maildir_store *st, struct mdindex_msg *m, struct ferry_error *err)
{
	for (int attempt = 0;; attempt++) {
		int fd = openat(st->sel.sub[m->in_cur], m->name,
				O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		struct stat sb;
		int r;

		if (fd >= 0) {
			if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
				close(fd);
				log_warn("%s: %s/%s is not a regular file: skipped", st->sel.name,
					 m->in_cur ? "cur" : "new", m->name);
				return -2;
			}
			return fd;
		}
		if (errno != ENOENT || attempt > 0) {
			if (errno == ENOENT)
				return -2;
			return ferry_error_set(err, FERRY_PARTIAL, "%s: %s/%s: %s", st->sel.name,
					       m->in_cur ? "cur" : "new", m->name, strerror(errno));
		}
		r = maildir_refind(st, m, err);
		if (r <= 0)
			return r < 0 ? -1 : -2;
	}
}

static int read_all(int fd, char *buf, size_t len, ssize_t *got)
{
	do
		*got = read(fd, buf, len);
	while (*got < 0 && errno == EINTR);
	return *got < 0 ? -1 : 0;
}

/* Streams one file into the sink. Returns 0, 1 when the file is gone
 * (skipped, DESIGN rule 12), or -1. */
static int fetch_one(struct maildir_store *st, struct mdindex_msg *m, const struct fetch_sink *sink,
		     char *buf, struct ferry_error *err)
{
	int fd = open_msg(st, m, err);
	ssize_t got;

	if (fd == -2) {
		log_warn("%s: uid %u (%s) vanished: not fetched", st->sel.name, m->uid, m->uniq);
		return 1;
	}
	if (fd < 0)
		return -1;
	if (sink->begin(sink->ctx, err) != 0) {
		close(fd);
		return -1;
	}
	while (read_all(fd, buf, CHUNK, &got) == 0 && got > 0)
		if (sink->write(sink->ctx, buf, (size_t)got, err) != 0)
			goto abort;
	if (got < 0) {
		ferry_error_set(err, FERRY_PARTIAL, "%s: %s/%s: %s", st->sel.name,
				m->in_cur ? "cur" : "new", m->name, strerror(errno));
		goto abort;
	}
	close(fd);
	return sink->end(sink->ctx, m->uid, err);
abort:
	sink->abort(sink->ctx);
	close(fd);
	return -1;
}

/* The files are sent as they are, with LF line endings; the sink (or the
 * other store's add_write) takes any convention. */
static int maildir_fetch(struct store *store, const uint32_t *uids, size_t n,
			 const struct fetch_sink *sink, struct ferry_error *err)
{
	struct maildir_store *st = md(store);
	char *buf;
	int r = 0;

	if (need_selected(st, err) != 0)
		return -1;
	buf = malloc(CHUNK);
	if (!buf)
		return ferry_error_set(err, FERRY_PARTIAL, "out of memory");
	if (maildir_tx_begin(st, err) != 0) {
		free(buf);
		return -1;
	}
	for (size_t i = 0; i < n && r == 0; i++) {
		struct mdindex_msg m;

		r = mdindex_msg_get(st->index, st->sel.ix.id, uids[i], &m, err);
		if (r == 0) {
			log_warn("%s: uid %u is not in the folder: not fetched", st->sel.name,
				 uids[i]);
			continue;
		}
		if (r > 0)
			r = fetch_one(st, &m, sink, buf, err) < 0 ? -1 : 0;
		mdindex_msg_clear(&m);
	}
	free(buf);
	if (r != 0) {
		maildir_tx_abort(st);
		return -1;
	}
	return maildir_tx_commit(st, err);
}

/* Fills the identity of one message: from the index, else from its file. */
static int identify_one(struct maildir_store *st, struct msg *msg, struct ferry_error *err)
{
	struct mdindex_msg m;
	struct stat sb;
	int r = mdindex_msg_get(st->index, st->sel.ix.id, msg->uid, &m, err);

	if (r <= 0)
		return r;
	for (int attempt = 0; !m.id.known && attempt < 2; attempt++) {
		if (maildir_read_file(st->sel.sub[m.in_cur], m.name, &m.id, &m.size, &sb) == 0) {
			m.fsize = sb.st_size;
			r = mdindex_msg_update(st->index, st->sel.ix.id, &m, err);
			break;
		}
		if (errno != ENOENT) {
			log_warn("%s: %s/%s: %s: not identified", st->sel.name,
				 m.in_cur ? "cur" : "new", m.name, strerror(errno));
			break;
		}
		if (attempt > 0 || (r = maildir_refind(st, &m, err)) <= 0)
			break;
	}
	if (r >= 0 && m.id.known)
		msg->id = m.id;
	mdindex_msg_clear(&m);
	return r < 0 ? -1 : 0;
}

static int maildir_identify(struct store *store, struct msg *msgs, size_t n,
			    struct ferry_error *err)
{
	struct maildir_store *st = md(store);

	if (need_selected(st, err) != 0 || maildir_tx_begin(st, err) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (msgs[i].id.known)
			continue;
		if (identify_one(st, &msgs[i], err) != 0) {
			maildir_tx_abort(st);
			return -1;
		}
	}
	return maildir_tx_commit(st, err);
}

/* fsyncs the subdirectories whose entries an op changed (DESIGN rule 13:
 * files and their directory are synced before the state commits). */
static int sync_dirs(struct maildir_store *st, const bool touched[2], struct ferry_error *err)
{
	for (int i = SUB_NEW; i <= SUB_CUR; i++)
		if (touched[i] && fsync(st->sel.sub[i]) != 0)
			return ferry_error_set(err, FERRY_PARTIAL, "%s: fsync %s/: %s",
					       st->sel.name, i == SUB_CUR ? "cur" : "new",
					       strerror(errno));
	return 0;
}

/* Renames m's file to carry flags, in cur/ (a file in new/ moves there).
 * Returns 1 when renamed (m updated), 0 when the file is gone, -1. */
static int rename_flags(struct maildir_store *st, struct mdindex_msg *m, unsigned add,
			unsigned remove, bool touched[2], struct ferry_error *err)
{
	for (int attempt = 0;; attempt++) {
		unsigned flags = ((m->flags | add) & ~remove) & MF_ALL;
		char name[NAME_MAX + 1];
		char *dup;
		int r;

		if (flags == m->flags)
			return 1;
		if (maildir_name_build(m->uniq, strlen(m->uniq), true, flags, m->info, name,
				       sizeof(name)) < 0)
			return ferry_error_set(err, FERRY_PARTIAL, "%s: %s: file name too long",
					       st->sel.name, m->uniq);
		if (renameat(st->sel.sub[m->in_cur], m->name, st->sel.sub[SUB_CUR], name) == 0) {
			if (!(dup = strdup(name)))
				return ferry_error_set(err, FERRY_PARTIAL, "out of memory");
			touched[m->in_cur] = touched[SUB_CUR] = true;
			free(m->name);
			m->name = dup;
			m->in_cur = true;
			m->flags = flags;
			return 1;
		}
		if (errno != ENOENT)
			return ferry_error_set(err, FERRY_PARTIAL, "%s: rename %s/%s: %s",
					       st->sel.name, m->in_cur ? "cur" : "new", m->name,
					       strerror(errno));
		if (attempt > 0)
			return 0;
		r = maildir_refind(st, m, err);
		if (r <= 0)
			return r;
	}
}

static int set_flags_one(struct maildir_store *st, uint32_t uid, unsigned add, unsigned remove,
			 const char *add_kw, const char *remove_kw, bool touched[2],
			 struct ferry_error *err)
{
	struct mdindex_msg m;
	unsigned before;
	char *kw = NULL, *with = NULL;
	bool oom = false, changed;
	int r = mdindex_msg_get(st->index, st->sel.ix.id, uid, &m, err);

	if (r <= 0) {
		if (r == 0)
			log_warn("%s: uid %u is not in the folder: flags not set", st->sel.name,
				 uid);
		return r;
	}
	before = m.flags;
	r = rename_flags(st, &m, add, remove, touched, err);
	if (r == 0)
		log_warn("%s: uid %u (%s) vanished: flags not set", st->sel.name, uid, m.uniq);
	if (r <= 0)
		goto out;
	with = kw_union(m.keywords, add_kw, &oom);
	kw = oom ? NULL : kw_minus(with, remove_kw, &oom);
	if (oom) {
		r = ferry_error_set(err, FERRY_PARTIAL, "out of memory");
		goto out;
	}
	changed = m.flags != before || !kw_equal(kw, m.keywords);
	free(m.keywords);
	m.keywords = kw;
	kw = NULL;
	r = 0;
	if (changed) {
		m.modseq = maildir_tx_change(st);
		r = mdindex_msg_update(st->index, st->sel.ix.id, &m, err);
	}
out:
	free(with);
	free(kw);
	mdindex_msg_clear(&m);
	return r < 0 ? -1 : 0;
}

/* Flags are renames (DESIGN rule 14); keywords live only in the index (15). */
static int maildir_set_flags(struct store *store, const uint32_t *uids, size_t n, unsigned add,
			     unsigned remove, const char *add_keywords, const char *remove_keywords,
			     struct ferry_error *err)
{
	struct maildir_store *st = md(store);
	bool touched[2] = {false, false};

	if (need_selected(st, err) != 0 || maildir_tx_begin(st, err) != 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (set_flags_one(st, uids[i], add, remove, add_keywords, remove_keywords, touched,
				  err) != 0)
			goto fail;
	if (sync_dirs(st, touched, err) != 0)
		goto fail;
	return maildir_tx_commit(st, err);
fail:
	maildir_tx_abort(st);
	return -1;
}

static int delete_one(struct maildir_store *st, uint32_t uid, bool touched[2],
		      struct ferry_error *err)
{
	struct mdindex_msg m;
	int r = mdindex_msg_get(st->index, st->sel.ix.id, uid, &m, err);

	if (r <= 0)
		return r; /* already gone: deleting is idempotent */
	for (int attempt = 0; attempt < 2; attempt++) {
		if (unlinkat(st->sel.sub[m.in_cur], m.name, 0) == 0) {
			touched[m.in_cur] = true;
			break;
		}
		if (errno != ENOENT) {
			r = ferry_error_set(err, FERRY_PARTIAL, "%s: unlink %s/%s: %s",
					    st->sel.name, m.in_cur ? "cur" : "new", m.name,
					    strerror(errno));
			goto out;
		}
		/* Renamed by another program since the scan? Then that file is
		 * the message, and it goes too. */
		if (attempt > 0 || (r = maildir_refind(st, &m, err)) <= 0)
			break;
	}
	if (r >= 0) {
		maildir_tx_change(st);
		r = mdindex_msg_delete(st->index, st->sel.ix.id, uid, err);
	}
out:
	mdindex_msg_clear(&m);
	return r < 0 ? -1 : 0;
}

static int maildir_delete_msgs(struct store *store, const uint32_t *uids, size_t n,
			       struct ferry_error *err)
{
	struct maildir_store *st = md(store);
	bool touched[2] = {false, false};

	if (need_selected(st, err) != 0 || maildir_tx_begin(st, err) != 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (delete_one(st, uids[i], touched, err) != 0)
			goto fail;
	if (sync_dirs(st, touched, err) != 0)
		goto fail;
	return maildir_tx_commit(st, err);
fail:
	maildir_tx_abort(st);
	return -1;
}

const struct store_driver maildir_driver = {
    .kind = "maildir",
    .open = maildir_open,
    .close = maildir_close,
    .list_folders = maildir_list_folders,
    .create_folder = maildir_create_folder,
    .delete_folder = maildir_delete_folder,
    .select = maildir_select,
    .list = maildir_list,
    .identify = maildir_identify,
    .fetch = maildir_fetch,
    .add_begin = maildir_add_begin,
    .add_write = maildir_add_write,
    .add_commit = maildir_add_commit,
    .add_abort = maildir_add_abort,
    .set_flags = maildir_set_flags,
    .delete_msgs = maildir_delete_msgs,
};
