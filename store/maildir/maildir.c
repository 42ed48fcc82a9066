/* The Maildir store: the driver table, opening, and the operations on the
 * messages of the selected folder. Folders are in folder.c, reading a folder
 * into the index in scan.c, delivery in deliver.c. */
#include "store/base/grow.h"
#include "store/maildir/maildir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/flags.h"
#include "store/identity.h"
#include "store/log.h"
#include "store/maildir/filename.h"
#include "store/maildir/internal.h"
#include "store/maildir/notify.h"
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
	static const char *const layouts[] = {[LAYOUT_VERBATIM] = "verbatim",
					      [LAYOUT_MAILDIRPP] = "maildir++",
					      [LAYOUT_LEGACY] = "legacy",
					      [LAYOUT_OFFLINEIMAP] = "offlineimap"};
	const char *layout = layouts[conf->maildir.layout];
	struct maildir_store *st;
	struct stat sb;
	char desc[4200];

	(void)secret;
	if (stat(path, &sb) == 0) {
		if (!S_ISDIR(sb.st_mode))
			return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: not a directory",
					       path);
		if (access(path, R_OK | W_OK | X_OK) != 0)
			return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: %s", path,
					       strerror(errno));
		snprintf(desc, sizeof(desc), "%s (%s layout)", path, layout);
	} else if (errno == ENOENT) {
		snprintf(desc, sizeof(desc), "%s (%s layout; does not exist yet, sync creates it)",
			 path, layout);
	} else {
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: %s", path, strerror(errno));
	}
	st = calloc(1, sizeof(*st));
	if (!st || !(st->base.description = strdup(desc))) {
		free(st);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	st->base.driver = &maildir_driver;
	st->base.conf = conf;
	/* maildir++ and offlineimap are flat: their limit is the length of one
	 * directory name. */
	st->base.max_depth =
	    conf->maildir.layout == LAYOUT_VERBATIM || conf->maildir.layout == LAYOUT_LEGACY
		? MAILDIR_MAX_DEPTH
		: 0;
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
	struct ferry_error err = {0};

	if (maildir_settle_adds(st, &err) != 0)
		log_warn("%s", err.msg);

	md_notify_free(st->notify);
	maildir_folder_close(&st->sel);
	mdindex_close(st->index);
	if (st->rootfd >= 0)
		close(st->rootfd);
	free(store->description);
	free(st->own);
	maildir_batch_drop(st);
	free(st->add.rows);
	free(st);
}

static int mkdir_p(const char *path, struct ferry_error *err)
{
	char buf[PATH_MAX];

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: path too long", path);
	for (char *p = buf + 1;; p++) {
		char c = *p;

		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST)
			return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: %s", buf,
					       strerror(errno));
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
			return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: %s", st->root,
					       strerror(errno));
		}
	}
	if (mdindex_open(st->root, st->base.read_only, &st->index, err) != 0) {
		st->index = NULL;
		return -1;
	}
	return 0;
}

int maildir_tx_begin(struct maildir_store *st, struct ferry_error *err)
{
	if (maildir_settle_adds(st, err) != 0 || mdindex_begin(st->index, err) != 0)
		return -1;
	maildir_tx_mark(st);
	return 0;
}

void maildir_tx_mark(struct maildir_store *st)
{
	st->tx.uidnext = st->sel.ix.uidnext;
	st->tx.modseq = st->sel.ix.modseq;
	st->tx.cur_mtime = st->sel.ix.cur_mtime;
	st->tx.new_mtime = st->sel.ix.new_mtime;
	st->tx.scanned_at = st->sel.ix.scanned_at;
	st->tx.changed = false;
	st->tx.foreign = false;
}

uint64_t maildir_tx_change(struct maildir_store *st)
{
	if (!st->tx.changed) {
		st->sel.ix.modseq = mdindex_modseq_after(st->sel.ix.modseq);
		st->tx.changed = true;
	}
	return st->sel.ix.modseq;
}

int maildir_tx_uid(struct maildir_store *st, uint32_t *uid, struct ferry_error *err)
{
	if (st->sel.ix.uidnext == 0 || st->sel.ix.uidnext == UINT32_MAX)
		return ferry_error_set(
		    err, FERRY_CAUSE_LOCAL_IO,
		    "%s: no uid left in this index; delete %s/..ferry-index.sqlite to rebuild it",
		    st->sel.name, st->root);
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
	if (st->tx.changed && !st->tx.foreign)
		maildir_own_change(st, st->sel.ix.id, st->tx.modseq, st->sel.ix.modseq);
	st->tx.changed = st->tx.foreign = false;
	return 0;
}

static struct own_span *own_find(struct maildir_store *st, int64_t folder, bool create)
{
	struct own_span *v;

	for (size_t i = 0; i < st->nown; i++)
		if (st->own[i].folder == folder)
			return &st->own[i];
	if (!create || !(v = grow_array(st->own, &st->own_cap, st->nown + 1, sizeof(*v))))
		return NULL;
	st->own = v;
	v[st->nown] = (struct own_span){.folder = folder, .from = 0, .to = 0};
	return &v[st->nown++];
}

void maildir_own_change(struct maildir_store *st, int64_t folder, uint64_t before, uint64_t after)
{
	struct own_span *s = own_find(st, folder, false);

	if (s && s->to == before)
		s->to = after;
}

/* A select saw the folder at modseq m: a stretch that ends there goes on
 * (nothing else changed it since), any other starts again at m. */
static void own_seen(struct maildir_store *st, int64_t folder, uint64_t m)
{
	struct own_span *s = own_find(st, folder, true);

	if (s && (s->to != m || s->from == 0))
		s->from = s->to = m;
}

void maildir_tx_abort(struct maildir_store *st)
{
	/* A batch of deliveries rolls back with it: their files stay, and the
	 * next scan indexes them (the engine pairs them by identity). */
	maildir_batch_drop(st);
	mdindex_rollback(st->index);
	st->sel.ix.uidnext = st->tx.uidnext;
	st->sel.ix.modseq = st->tx.modseq;
	st->sel.ix.cur_mtime = st->tx.cur_mtime;
	st->sel.ix.new_mtime = st->tx.new_mtime;
	st->sel.ix.scanned_at = st->tx.scanned_at;
	st->tx.changed = false;
}

/* A folder is selected, and deliveries waiting in a batch are in the index
 * before anything reads it. */
static int need_selected(struct maildir_store *st, struct ferry_error *err)
{
	if (!st->sel.name)
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: no folder selected",
				       st->root);
	return maildir_settle_adds(st, err);
}

/* SELECT; the message count costs a pass over the folder's index rows, so
 * status, which does not need it, leaves it out. */
static int select_folder(struct store *store, const char *name, struct folder_state *out,
			 bool count, struct ferry_error *err)
{
	struct maildir_store *st = md(store);
	char shown[256];
	const char *why;
	uint32_t exists;
	int r;

	if (maildir_settle_adds(st, err) != 0)
		return -1;
	maildir_folder_close(&st->sel);
	st->generation++;
	if (!folder_name_is_safe(name, &why))
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO,
				       "folder \"%s\" refused: the name %s",
				       folder_name_printable(name, shown, sizeof(shown)), why);
	if (folder_name_is_inbox(name))
		name = "INBOX";
	r = maildir_ready(st, false, err);
	if (r < 0)
		return -1;
	if (r == 1)
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO,
				       "folder %s does not exist: %s is missing", name, st->root);
	if (maildir_folder_open(st, name, &st->sel, err) != 0)
		return -1;
	exists = 0;
	if (maildir_scan(st, err) != 0 ||
	    (count && mdindex_msg_count(st->index, st->sel.ix.id, &exists, err))) {
		maildir_folder_close(&st->sel);
		return -1;
	}
	if (!st->base.read_only)
		maildir_clean_tmp(st);
	own_seen(st, st->sel.ix.id, st->sel.ix.modseq);
	*out = (struct folder_state){
	    .uidvalidity = st->sel.ix.uidvalidity,
	    .uidnext = st->sel.ix.uidnext,
	    .highestmodseq = st->sel.ix.modseq,
	    .exists = exists,
	    .keywords_ok = true, /* keywords live in the index (rule 15) */
	};
	return 0;
}

static int maildir_select(struct store *store, const char *name, struct folder_state *out,
			  struct ferry_error *err)
{
	return select_folder(store, name, out, true, err);
}

/* The index's modseq moves with every change ferry makes or a rescan finds,
 * and select rescans only folders whose directories changed. exists is left
 * 0: counting would read every index row. */
static int maildir_status(struct store *store, const char *const *names, size_t n,
			  struct folder_state *out, bool *ok, struct ferry_error *err)
{
	(void)err; /* a folder that fails here fails again, with its error, when synced */
	for (size_t i = 0; i < n; i++) {
		struct ferry_error one = {0};

		ok[i] = select_folder(store, names[i], &out[i], false, &one) == 0;
	}
	return 0;
}

/* Every change since `seen` was this handle's when seen lies in the selected
 * folder's own stretch and the stretch reaches the index's modseq now. */
static void maildir_own_state(struct store *store, const char *name,
			      const struct folder_state *seen, struct folder_state *out)
{
	struct maildir_store *st = md(store);
	const struct own_span *s;

	*out = *seen;
	if (folder_name_is_inbox(name))
		name = "INBOX";
	if (!st->sel.name || strcmp(st->sel.name, name) != 0 || st->add.open || st->add.n ||
	    st->sel.ix.uidvalidity != seen->uidvalidity ||
	    !(s = own_find(st, st->sel.ix.id, false)))
		return;
	if (s->from <= seen->highestmodseq && seen->highestmodseq <= s->to &&
	    s->to == st->sel.ix.modseq) {
		out->uidnext = st->sel.ix.uidnext;
		out->highestmodseq = st->sel.ix.modseq;
	}
}

/* Appends index rows to a listing as messages (msg_list_push copies the
 * keywords). -1 when out of memory. */
static int push_rows(struct msg_list *out, const struct mdindex_msg *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct msg m = {
		    .uid = v[i].uid,
		    .flags = v[i].flags,
		    .keywords = v[i].keywords,
		    .keywords_unknown = !v[i].keywords_known,
		    .size = v[i].size,
		    .date = v[i].mtime / 1000000000,
		};

		if (msg_list_push(out, &m) != 0 || msg_set_id(&out->v[out->n - 1], &v[i].id) != 0)
			return -1;
	}
	return 0;
}

static int maildir_list(struct store *store, struct msg_list *out, struct ferry_error *err)
{
	struct maildir_store *st = md(store);
	struct mdindex_msg *v;
	size_t n;
	int r;

	if (need_selected(st, err) != 0 || mdindex_msgs(st->index, st->sel.ix.id, &v, &n, err) != 0)
		return -1;
	r = push_rows(out, v, n);
	mdindex_msgs_free(v, n);
	return r == 0 ? 0 : ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
}

/* Rule 4's cheap listing: the index rows changed since modseq `since` and
 * the tombstones of the uids expunged since, as QRESYNC gives them. */
static int maildir_list_changed(struct store *store, uint64_t since, struct msg_list *changed,
				uint32_t **vanished, size_t *nranges, struct ferry_error *err)
{
	struct maildir_store *st = md(store);
	struct mdindex_msg *v;
	uint32_t *gone;
	size_t n, ngone, k = 0;
	int r;

	*vanished = NULL;
	*nranges = 0;
	if (need_selected(st, err) != 0)
		return -1;
	r = mdindex_changes(st->index, st->sel.ix.id, since, &v, &n, &gone, &ngone, err);
	if (r != 0)
		return r;
	r = push_rows(changed, v, n);
	mdindex_msgs_free(v, n);
	/* Consecutive uids make one range. */
	uint32_t *ranges = r == 0 && ngone ? malloc(2 * ngone * sizeof(*ranges)) : NULL;

	if (r == 0 && ngone && !ranges)
		r = -1;
	for (size_t i = 0; r == 0 && i < ngone; i++) {
		if (k && ranges[2 * k - 1] + 1 == gone[i]) {
			ranges[2 * k - 1] = gone[i];
			continue;
		}
		ranges[2 * k] = ranges[2 * k + 1] = gone[i];
		k++;
	}
	free(gone);
	if (r != 0) {
		free(ranges);
		msg_list_free(changed);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	*vanished = ranges;
	*nranges = k;
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
			return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: %s/%s: %s",
					       st->sel.name, m->in_cur ? "cur" : "new", m->name,
					       strerror(errno));
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

/* Streams one file into the sink (headers: up to its header block's end).
 * Returns 0, 1 when the file is gone (skipped, DESIGN rule 12), or -1. */
static int fetch_one(struct maildir_store *st, struct mdindex_msg *m, bool headers,
		     const struct fetch_sink *sink, char *buf, struct ferry_error *err)
{
	int fd = open_msg(st, m, err);
	struct header_end h = {0};
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
	while (!h.ended && read_all(fd, buf, CHUNK, &got) == 0 && got > 0) {
		size_t take = headers ? header_end_feed(&h, buf, (size_t)got) : (size_t)got;

		if (sink->write(sink->ctx, buf, take, err) != 0)
			goto abort;
	}
	if (got < 0) {
		ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: %s/%s: %s", st->sel.name,
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
static int fetch_files(struct store *store, const uint32_t *uids, size_t n, bool headers,
		       const struct fetch_sink *sink, struct ferry_error *err)
{
	struct maildir_store *st = md(store);
	char *buf;
	int r = 0;

	if (need_selected(st, err) != 0)
		return -1;
	buf = malloc(CHUNK);
	if (!buf)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
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
			r = fetch_one(st, &m, headers, sink, buf, err) < 0 ? -1 : 0;
		mdindex_msg_clear(&m);
	}
	free(buf);
	if (r != 0) {
		maildir_tx_abort(st);
		return -1;
	}
	return maildir_tx_commit(st, err);
}

static int maildir_fetch(struct store *store, const uint32_t *uids, size_t n,
			 const struct fetch_sink *sink, struct ferry_error *err)
{
	return fetch_files(store, uids, n, false, sink, err);
}

static int maildir_fetch_headers(struct store *store, const uint32_t *uids, size_t n,
				 const struct fetch_sink *sink, struct ferry_error *err)
{
	return fetch_files(store, uids, n, true, sink, err);
}

/* Fills the identity of one message from its file, recording it in the
 * index if the index lacks it. The index keeps the hash only, not the
 * munged one (struct msg_id), which the engine asks for where a server may
 * have rewritten its copy: so the file is read even then. */
static int identify_one(struct maildir_store *st, struct msg *msg, struct ferry_error *err)
{
	struct mdindex_msg m;
	struct msg_id indexed;
	uint64_t indexed_size;
	struct stat sb;
	int r = mdindex_msg_get(st->index, st->sel.ix.id, msg->uid, &m, err);

	if (r <= 0)
		return r;
	indexed = m.id;
	indexed_size = m.size;
	for (int attempt = 0; !m.id.munged_known && attempt < 2; attempt++) {
		if (maildir_read_file(st->sel.sub[m.in_cur], m.name, &m.id, &m.size, &sb) == 0) {
			m.fsize = sb.st_size;
			if (!indexed.known)
				r = mdindex_msg_update(st->index, st->sel.ix.id, &m, err);
			else if (memcmp(indexed.hash, m.id.hash, sizeof(indexed.hash)) != 0) {
				m.id = indexed; /* changed since: the index's rescan decides */
				m.size = indexed_size;
			}
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
	if (r >= 0 && m.id.known) {
		if (msg_set_id(msg, &m.id) != 0)
			r = ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		msg->size = m.size; /* the identity's, from the index or the file */
	}
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
		if (msg_id_known(&msgs[i]))
			continue;
		if (identify_one(st, &msgs[i], err) != 0) {
			maildir_tx_abort(st);
			return -1;
		}
	}
	return maildir_tx_commit(st, err);
}

/* fsyncs the subdirectories of f whose entries an op changed (DESIGN rule
 * 13: files and their directory are synced before the state commits). */
static int sync_dirs(const struct md_folder *f, const bool touched[2], struct ferry_error *err)
{
	for (int i = SUB_NEW; i <= SUB_CUR; i++)
		if (touched[i] && fsync(f->sub[i]) != 0)
			return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: fsync %s/: %s",
					       f->name, i == SUB_CUR ? "cur" : "new",
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
			return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO,
					       "%s: %s: file name too long", st->sel.name, m->uniq);
		if (renameat(st->sel.sub[m->in_cur], m->name, st->sel.sub[SUB_CUR], name) == 0) {
			if (!(dup = strdup(name)))
				return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
			touched[m->in_cur] = touched[SUB_CUR] = true;
			free(m->name);
			m->name = dup;
			m->in_cur = true;
			m->flags = flags;
			return 1;
		}
		if (errno != ENOENT)
			return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: rename %s/%s: %s",
					       st->sel.name, m->in_cur ? "cur" : "new", m->name,
					       strerror(errno));
		if (attempt > 0)
			return 0;
		r = maildir_refind(st, m, err);
		if (r <= 0)
			return r;
	}
}

/* One set_flags call's change, for each of its messages. */
struct flag_change {
	unsigned add, remove;
	const char *add_kw, *remove_kw;
};

/* Runs one() on each uid of the selected folder in one index transaction,
 * then makes the renames and unlinks it did (touched) durable. */
static int each_msg(struct maildir_store *st, const uint32_t *uids, size_t n,
		    int (*one)(struct maildir_store *st, uint32_t uid, const void *arg,
			       bool touched[2], struct ferry_error *err),
		    const void *arg, struct ferry_error *err)
{
	bool touched[2] = {false, false};

	if (need_selected(st, err) != 0 || maildir_tx_begin(st, err) != 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (one(st, uids[i], arg, touched, err) != 0)
			goto fail;
	if (sync_dirs(&st->sel, touched, err) != 0)
		goto fail;
	return maildir_tx_commit(st, err);
fail:
	maildir_tx_abort(st);
	return -1;
}

static int set_flags_one(struct maildir_store *st, uint32_t uid, const void *arg, bool touched[2],
			 struct ferry_error *err)
{
	const struct flag_change *c = arg;
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
	r = rename_flags(st, &m, c->add, c->remove, touched, err);
	if (r == 0)
		log_warn("%s: uid %u (%s) vanished: flags not set", st->sel.name, uid, m.uniq);
	if (r <= 0)
		goto out;
	with = kw_union(m.keywords, c->add_kw, &oom);
	kw = oom ? NULL : kw_minus(with, c->remove_kw, &oom);
	if (oom) {
		r = ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		goto out;
	}
	/* The engine asks for changes knowing what the message should hold,
	 * so its keywords are known from here on (rule 15). */
	changed = m.flags != before || !kw_equal(kw, m.keywords) || !m.keywords_known;
	free(m.keywords);
	m.keywords = kw;
	m.keywords_known = true;
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
	const struct flag_change c = {add, remove, add_keywords, remove_keywords};

	return each_msg(md(store), uids, n, set_flags_one, &c, err);
}

static int delete_one(struct maildir_store *st, uint32_t uid, const void *arg, bool touched[2],
		      struct ferry_error *err)
{
	struct mdindex_msg m;
	int r = mdindex_msg_get(st->index, st->sel.ix.id, uid, &m, err);

	(void)arg;
	if (r <= 0)
		return r; /* already gone: deleting is idempotent */
	for (int attempt = 0; attempt < 2; attempt++) {
		if (unlinkat(st->sel.sub[m.in_cur], m.name, 0) == 0) {
			touched[m.in_cur] = true;
			break;
		}
		if (errno != ENOENT) {
			r = ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: unlink %s/%s: %s",
					    st->sel.name, m.in_cur ? "cur" : "new", m.name,
					    strerror(errno));
			goto out;
		}
		/* Renamed by another program since the scan? Then that file is
		 * the message, and it goes too. */
		if (attempt > 0 || (r = maildir_refind(st, &m, err)) <= 0)
			break;
	}
	if (r >= 0)
		r = mdindex_msg_delete(st->index, st->sel.ix.id, uid, maildir_tx_change(st), err);
out:
	mdindex_msg_clear(&m);
	return r < 0 ? -1 : 0;
}

static int maildir_delete_msgs(struct store *store, const uint32_t *uids, size_t n,
			       struct ferry_error *err)
{
	return each_msg(md(store), uids, n, delete_one, NULL, err);
}

/* ---- moving between folders (DESIGN rule 8: a move is a rename) ---- */

/* One move_msgs call: the target folder and what has been done so far. */
struct move {
	struct maildir_store *st;
	struct md_folder to; /* the target, opened for this call */
	char **taken;	     /* unique parts the target holds (rows and files), sorted */
	size_t ntaken, captaken;
	struct mdindex_msg *done; /* files renamed by this call, to put back on failure */
	size_t ndone;
	bool from_touched[2], to_touched[2];
	bool to_changed;    /* the target's modseq was bumped */
	uint64_t to_before; /* from this */
};

enum move_result { MOVE_GONE, MOVE_DONE, MOVE_TAKEN };

/* Adds a unique part to mv->taken (sorted later); it is mv's from now on. */
static int take_uniq(struct move *mv, char *uniq)
{
	char **v = grow_array(mv->taken, &mv->captaken, mv->ntaken + 1, sizeof(*v));

	if (!v) {
		free(uniq);
		return -1;
	}
	mv->taken = v;
	mv->taken[mv->ntaken++] = uniq;
	return 0;
}

/* The unique parts of every message file in one subdirectory of the target.
 * A failed readdir is an error: an unseen file could be overwritten. */
static int take_dir(struct move *mv, int sub, struct ferry_error *err)
{
	const char *subdir = sub == SUB_CUR ? "cur" : "new";
	int fd = openat(mv->to.sub[sub], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	int r = 0;

	if (!d) {
		r = ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: %s/: %s", mv->to.name, subdir,
				    strerror(errno));
		if (fd >= 0)
			close(fd);
		return r;
	}
	for (;;) {
		struct maildir_name parsed;
		struct dirent *de;
		const char *why;
		char *uniq;

		errno = 0;
		if (!(de = readdir(d))) {
			if (errno)
				r = ferry_error_set(err, FERRY_CAUSE_LOCAL_IO,
						    "%s: %s/: readdir: %s", mv->to.name, subdir,
						    strerror(errno));
			break;
		}
		/* Names the scan skips (".", "..", dot files) hold no message,
		 * and a rename keeps a message's name: no clash possible. */
		if (maildir_name_parse(de->d_name, &parsed, &why) != 0)
			continue;
		if (!(uniq = strndup(de->d_name, parsed.uniq_len)) || take_uniq(mv, uniq) != 0) {
			r = ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
			break;
		}
	}
	closedir(d);
	return r;
}

static int uniq_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Fills mv->taken, once per call, from the target's index rows (a row whose
 * file is gone still owns its unique part until the target is scanned) and
 * its files (other programs' too, not indexed yet). */
static int load_taken(struct move *mv, struct ferry_error *err)
{
	struct mdindex_msg *rows;
	size_t nrows;

	if (mdindex_msgs(mv->st->index, mv->to.ix.id, &rows, &nrows, err) != 0)
		return -1;
	for (size_t i = 0; i < nrows; i++) {
		if (take_uniq(mv, rows[i].uniq) != 0) {
			rows[i].uniq = NULL;
			mdindex_msgs_free(rows, nrows);
			return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		}
		rows[i].uniq = NULL; /* moved */
	}
	mdindex_msgs_free(rows, nrows);
	if (take_dir(mv, SUB_NEW, err) != 0 || take_dir(mv, SUB_CUR, err) != 0)
		return -1;
	if (mv->ntaken > 1)
		qsort(mv->taken, mv->ntaken, sizeof(*mv->taken), uniq_cmp);
	return 0;
}

static bool is_taken(const struct move *mv, const char *uniq)
{
	return mv->ntaken &&
	       bsearch(&uniq, mv->taken, mv->ntaken, sizeof(*mv->taken), uniq_cmp) != NULL;
}

/* Renames name of the directory from into the directory to, under the same
 * name, so the message keeps its inode and is never read or copied. It never
 * replaces a file already there (EEXIST then): RENAME_NOREPLACE, or, where
 * the file system lacks it (NFS, some FUSE), link() then unlink(), which
 * cannot replace either. Returns 0, or -1 with errno set. */
static int rename_noreplace(int from, const char *name, int to)
{
	int saved;

	if (renameat2(from, name, to, name, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (linkat(from, name, to, name, 0) != 0)
		return -1;
	if (unlinkat(from, name, 0) == 0)
		return 0;
	/* Renamed or removed under us between link and unlink: drop the link
	 * we added, so that the message keeps one name (on ENOENT the caller
	 * looks for it again). */
	saved = errno;
	if (unlinkat(to, name, 0) != 0)
		log_warn("cannot remove a second link to %s: %s", name, strerror(errno));
	errno = saved;
	return -1;
}

/* Renames m's file into the same subdirectory of the target, finding it
 * again once if another program renamed it since the scan. */
static int rename_into(struct move *mv, struct mdindex_msg *m, struct ferry_error *err)
{
	struct maildir_store *st = mv->st;

	for (int attempt = 0;; attempt++) {
		int r;

		if (rename_noreplace(st->sel.sub[m->in_cur], m->name, mv->to.sub[m->in_cur]) == 0)
			return MOVE_DONE;
		if (errno == EEXIST)
			return MOVE_TAKEN;
		if (errno != ENOENT)
			return ferry_error_set(
			    err, FERRY_CAUSE_LOCAL_IO, "%s: rename %s/%s into %s: %s", st->sel.name,
			    m->in_cur ? "cur" : "new", m->name, mv->to.name, strerror(errno));
		if (attempt > 0)
			return MOVE_GONE;
		r = maildir_refind(st, m, err);
		if (r <= 0)
			return r < 0 ? -1 : MOVE_GONE;
	}
}

/* Gives the moved message its row in the target, under a new uid, with
 * everything else as it was: flags, keywords (they live only in the index),
 * size, date and identity. The target's next scan finds the file under the
 * same name, size and mtime, so it sees this row, not a new message. */
static int index_moved(struct move *mv, const struct mdindex_msg *m, uint32_t *new_uid,
		       struct ferry_error *err)
{
	struct maildir_store *st = mv->st;
	struct mdindex_msg row = *m; /* borrows m's strings */

	if (mv->to.ix.uidnext == 0 || mv->to.ix.uidnext == UINT32_MAX)
		return ferry_error_set(
		    err, FERRY_CAUSE_LOCAL_IO,
		    "%s: no uid left in this index; delete %s/..ferry-index.sqlite to rebuild it",
		    mv->to.name, st->root);
	if (!mv->to_changed) {
		mv->to_before = mv->to.ix.modseq;
		mv->to.ix.modseq = mdindex_modseq_after(mv->to.ix.modseq);
		mv->to_changed = true;
	}
	row.uid = mv->to.ix.uidnext++;
	row.modseq = mv->to.ix.modseq;
	if (mdindex_msg_delete(st->index, st->sel.ix.id, m->uid, maildir_tx_change(st), err) != 0 ||
	    mdindex_msg_add(st->index, mv->to.ix.id, &row, err) != 0)
		return -1;
	*new_uid = row.uid;
	return 0;
}

/* Moves one uid. Returns 0 when moved or skipped with a warning (not in the
 * folder, vanished, name taken in the target), -1 on an error. */
static int move_one(struct move *mv, uint32_t uid, uint32_t *new_uid, struct ferry_error *err)
{
	struct maildir_store *st = mv->st;
	struct mdindex_msg m;
	int r = mdindex_msg_get(st->index, st->sel.ix.id, uid, &m, err);

	if (r <= 0) {
		if (r == 0)
			log_warn("%s: uid %u is not in the folder: not moved to %s", st->sel.name,
				 uid, mv->to.name);
		return r;
	}
	r = is_taken(mv, m.uniq) ? MOVE_TAKEN : rename_into(mv, &m, err);
	if (r == MOVE_DONE) {
		mv->from_touched[m.in_cur] = mv->to_touched[m.in_cur] = true;
		mv->done[mv->ndone++] = m; /* moved: put back from there on failure */
		return index_moved(mv, &mv->done[mv->ndone - 1], new_uid, err);
	}
	if (r == MOVE_TAKEN) {
		log_warn("%s: uid %u (%s): %s already holds a message of that name: not moved",
			 st->sel.name, uid, m.uniq, mv->to.name);
		r = 0;
	} else if (r == MOVE_GONE) {
		/* Its row stays: a reader renaming it between the readdirs of
		 * cur/ and new/ would look gone too. Its directory changed, so
		 * the next scan reads it through and settles it (rule 5). */
		log_warn("%s: uid %u (%s) vanished: not moved to %s", st->sel.name, uid, m.uniq,
			 mv->to.name);
		r = 0;
	}
	mdindex_msg_clear(&m);
	return r;
}

/* After a failure, renames the files this call moved back where the
 * (rolled back) index has them. What cannot go back is left where it is and
 * said: the next scans see it vanish from one folder and appear in the
 * other, and the engine pairs it again by identity (rule 7). */
static void put_back(struct move *mv)
{
	struct maildir_store *st = mv->st;
	struct ferry_error ignored = {0};

	for (size_t i = mv->ndone; i-- > 0;) {
		const struct mdindex_msg *m = &mv->done[i];

		if (rename_noreplace(mv->to.sub[m->in_cur], m->name, st->sel.sub[m->in_cur]) != 0)
			log_warn("%s: cannot put %s/%s back from %s: %s", st->sel.name,
				 m->in_cur ? "cur" : "new", m->name, mv->to.name, strerror(errno));
	}
	if (mv->ndone && (sync_dirs(&st->sel, mv->from_touched, &ignored) != 0 ||
			  sync_dirs(&mv->to, mv->to_touched, &ignored) != 0))
		log_warn("%s", ignored.msg);
}

/* The files go by rename() into the target's cur/ or new/, whichever they
 * were in, under the same name: a move on the server becomes a rename here,
 * never a download (rule 8). Directories are synced once per call and both
 * folders' rows change in one index transaction (rule 13). On an error the
 * files already moved are put back and nothing is recorded, so the call
 * either did everything it reports or nothing; the journal then finds the
 * messages still in the source and redoes the move. */
static int maildir_move_msgs(struct store *store, const uint32_t *uids, size_t n, const char *to,
			     uint32_t *new_uids, struct ferry_error *err)
{
	struct maildir_store *st = md(store);
	struct move mv = {.st = st, .to = {.fd = -1, .sub = {-1, -1}, .tmp = -1}};
	char shown[256];
	const char *why;
	int r = -1;

	for (size_t i = 0; i < n; i++)
		new_uids[i] = 0;
	if (need_selected(st, err) != 0)
		return -1;
	if (!folder_name_is_safe(to, &why))
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO,
				       "cannot move to folder \"%s\": the name %s",
				       folder_name_printable(to, shown, sizeof(shown)), why);
	if (folder_name_is_inbox(to))
		to = "INBOX";
	if (maildir_folder_open(st, to, &mv.to, err) != 0)
		return -1;
	if (mv.to.ix.id == st->sel.ix.id) {
		ferry_error_set(err, FERRY_CAUSE_LOCAL_IO,
				"%s: cannot move messages into their own folder", st->sel.name);
		goto out;
	}
	if (!(mv.done = calloc(n ? n : 1, sizeof(*mv.done)))) {
		ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		goto out;
	}
	if (maildir_tx_begin(st, err) != 0)
		goto out;
	if (load_taken(&mv, err) != 0)
		goto abort;
	for (size_t i = 0; i < n; i++)
		if (move_one(&mv, uids[i], &new_uids[i], err) != 0)
			goto abort;
	/* The target first: its new entries must be on disk before the
	 * source's loss of them. */
	if (sync_dirs(&mv.to, mv.to_touched, err) != 0 ||
	    sync_dirs(&st->sel, mv.from_touched, err) != 0 ||
	    (mv.to_changed && mdindex_folder_save(st->index, &mv.to.ix, err) != 0))
		goto abort;
	if (maildir_tx_commit(st, err) != 0)
		goto undo; /* rolled back by the commit */
	if (mv.to_changed)
		maildir_own_change(st, mv.to.ix.id, mv.to_before, mv.to.ix.modseq);
	r = 0;
	goto out;
abort:
	maildir_tx_abort(st);
undo:
	put_back(&mv);
	for (size_t i = 0; i < n; i++)
		new_uids[i] = 0;
out:
	for (size_t i = 0; i < mv.ndone; i++)
		mdindex_msg_clear(&mv.done[i]);
	free(mv.done);
	for (size_t i = 0; i < mv.ntaken; i++)
		free(mv.taken[i]);
	free(mv.taken);
	maildir_folder_close(&mv.to);
	return r;
}

const struct store_driver maildir_driver = {
    .kind = "maildir",
    .open = maildir_open,
    .close = maildir_close,
    .list_folders = maildir_list_folders,
    .create_folder = maildir_create_folder,
    .delete_folder = maildir_delete_folder,
    .rename_folder = maildir_rename_folder,
    .status = maildir_status,
    .select = maildir_select,
    .list = maildir_list,
    .list_changed = maildir_list_changed,
    .own_state = maildir_own_state,
    .identify = maildir_identify,
    .fetch_headers = maildir_fetch_headers,
    .fetch = maildir_fetch,
    .add_begin = maildir_add_begin,
    .add_write = maildir_add_write,
    .add_commit = maildir_add_commit,
    .add_abort = maildir_add_abort,
    .replace_begin = maildir_replace_begin,
    .replace_commit = maildir_replace_commit,
    .add_flush = maildir_add_flush,
    .set_flags = maildir_set_flags,
    .delete_msgs = maildir_delete_msgs,
    .move_msgs = maildir_move_msgs,
    .wait = maildir_wait,
};
