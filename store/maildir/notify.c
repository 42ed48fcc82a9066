/* inotify on the Maildir tree. Messages change in new/ and cur/ (a delivery
 * renamed in from tmp/, a flag renamed, a file removed or written in
 * place); folders appear and vanish as directories anywhere in the tree.
 * Files beside the folders (the index, its journal) are ferry's own and not
 * watched for. */
#include "store/maildir/notify.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include "store/log.h"
#include "store/maildir/internal.h"
#include "store/maildir/path.h"
#include "store/names.h"

/* Messages: renamed in or out, created, written, removed. */
#define LEAF_MASK                                                                                  \
	(IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ONLYDIR |       \
	 IN_DONT_FOLLOW)
/* Folders: directories created, renamed or removed (files are filtered out). */
#define TREE_MASK                                                                                  \
	(IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ONLYDIR | IN_DONT_FOLLOW)

/* A new/ or cur/ directory watched, and its folder's directory relative
 * to the root ("" for the root itself), to tell which folder changed. */
struct md_leaf {
	int wd;
	char *dir;
};

/* The folders one wait saw change, at most this many; more is "somewhere". */
#define CHANGED_MAX 64

struct md_notify {
	int fd;	   /* -1: not watching yet (no root) */
	bool late; /* a wait returned before the watches were set up */
	size_t rootlen;
	struct md_leaf *leaf;
	size_t nleaf, cap;
};

static long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

#ifdef FERRY_TEST_HOOKS
/* FERRY_TEST_WATCH_LATE_MS=<n>: the watches are set up n ms after the wait
 * that would set them up began, as after a slow walk of a big tree or a
 * poll that came late; for the tests of what is written before then. */
static void late_setup(int stop_fd)
{
	const char *v = getenv("FERRY_TEST_WATCH_LATE_MS");
	struct pollfd p = {.fd = stop_fd, .events = POLLIN};

	if (v && atoi(v) > 0)
		(void)poll(&p, stop_fd >= 0 ? 1 : 0, atoi(v));
}
#else
static void late_setup(int stop_fd)
{
	(void)stop_fd;
}
#endif

static const struct md_leaf *find_leaf(const struct md_notify *n, int wd)
{
	for (size_t i = 0; i < n->nleaf; i++)
		if (n->leaf[i].wd == wd)
			return &n->leaf[i];
	return NULL;
}

/* folder: the directory holding path (a new/ or cur/), for a leaf. */
static int add(struct md_notify *n, const char *path, const char *folder, bool leaf,
	       struct ferry_error *err)
{
	int wd = inotify_add_watch(n->fd, path, leaf ? LEAF_MASK : TREE_MASK);

	if (wd < 0) {
		/* Gone meanwhile, or not a directory: nothing to watch there. */
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return ferry_error_set(
		    err, FERRY_CAUSE_LOCAL_IO, "%s: cannot watch: %s%s", path, strerror(errno),
		    errno == ENOSPC ? " (raise fs.inotify.max_user_watches)" : "");
	}
	if (leaf) {
		struct md_leaf *known = (struct md_leaf *)find_leaf(n, wd);
		const char *rel = folder + n->rootlen;

		while (*rel == '/')
			rel++;
		if (known && strcmp(known->dir, rel) != 0) {
			/* Its folder was renamed: the watch followed it. */
			char *dir = strdup(rel);

			if (!dir)
				return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
			free(known->dir);
			known->dir = dir;
		}
		if (known)
			return 0;
		if (n->nleaf == n->cap) {
			size_t cap = n->cap ? n->cap * 2 : 16;
			struct md_leaf *v = realloc(n->leaf, cap * sizeof(*v));

			if (!v)
				return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
			n->leaf = v;
			n->cap = cap;
		}
		n->leaf[n->nleaf] = (struct md_leaf){wd, strdup(rel)};
		if (!n->leaf[n->nleaf++].dir)
			return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	return 0;
}

/* Watches dir and everything below it; re-adding a watched directory
 * changes nothing, so a new folder is taken in by walking again. */
static int walk(struct md_notify *n, const char *dir, unsigned depth, struct ferry_error *err)
{
	DIR *d;
	struct dirent *de;
	int r = 0;

	if (depth > MAILDIR_MAX_DEPTH)
		return 0;
	if (add(n, dir, NULL, false, err) != 0)
		return -1;
	d = opendir(dir);
	if (!d)
		return errno == ENOENT || errno == ENOTDIR
			   ? 0
			   : ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: %s", dir,
					     strerror(errno));
	while (r == 0 && (de = readdir(d))) {
		char path[PATH_MAX];

		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue; /* never a symlink: ferry does not follow them either */
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, "tmp") == 0)
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= sizeof(path))
			continue;
		if (strcmp(de->d_name, "new") == 0 || strcmp(de->d_name, "cur") == 0)
			r = add(n, path, dir, true, err);
		else
			r = walk(n, path, depth + 1, err);
	}
	closedir(d);
	return r;
}

void md_notify_free(struct md_notify *n)
{
	if (!n)
		return;
	if (n->fd >= 0)
		close(n->fd);
	for (size_t i = 0; i < n->nleaf; i++)
		free(n->leaf[i].dir);
	free(n->leaf);
	free(n);
}

static int setup(struct md_notify *n, const char *root, struct ferry_error *err)
{
	n->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (n->fd < 0)
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "inotify: %s", strerror(errno));
	n->rootlen = strlen(root);
	if (walk(n, root, 0, err) != 0) {
		close(n->fd);
		n->fd = -1;
		for (size_t i = 0; i < n->nleaf; i++)
			free(n->leaf[i].dir);
		n->nleaf = 0;
		return -1;
	}
	log_trace("%s: watched (%zu new/ and cur/ directories)", root, n->nleaf);
	return 0;
}

/* What one wait saw: the leaves that changed, or a change it cannot place
 * (a directory made, removed or renamed; events lost; too many folders). */
struct md_seen {
	int wd[CHANGED_MAX];
	size_t n;
	bool somewhere;
};

static void seen_leaf(struct md_seen *seen, int wd)
{
	for (size_t i = 0; i < seen->n; i++)
		if (seen->wd[i] == wd)
			return;
	if (seen->n == CHANGED_MAX)
		seen->somewhere = true;
	else
		seen->wd[seen->n++] = wd;
}

/* Reads the queued events. 1: one of them is a change (in seen); *rewalk:
 * a directory came or the queue overflowed. */
static int drain(struct md_notify *n, bool *rewalk, struct md_seen *seen, struct ferry_error *err)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	int changed = 0;

	for (;;) {
		ssize_t len = read(n->fd, buf, sizeof(buf));

		if (len < 0 && errno == EINTR)
			continue;
		if (len < 0 && errno == EAGAIN)
			return changed;
		if (len <= 0)
			return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "inotify: %s",
					       len < 0 ? strerror(errno) : "end of file");
		for (char *p = buf; p < buf + len;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			if (ev->mask & IN_Q_OVERFLOW) {
				*rewalk = true;
				seen->somewhere = true;
				changed = 1;
			} else if (ev->mask & IN_ISDIR) {
				*rewalk = *rewalk || (ev->mask & (IN_CREATE | IN_MOVED_TO));
				seen->somewhere = true;
				changed = 1;
			} else if (!(ev->mask & IN_IGNORED) && find_leaf(n, ev->wd)) {
				seen_leaf(seen, ev->wd);
				changed = 1;
			}
			p += sizeof(*ev) + ev->len;
		}
	}
}

/* Tells changed which folders the leaves in seen belong to, each once, by
 * the layout's own names (path.c); a directory that is no folder of this
 * layout, or a name that is not safe, is "somewhere". */
static void report(struct maildir_store *st, const struct md_seen *seen, store_changed_fn *changed,
		   void *ctx)
{
	bool somewhere = seen->somewhere;

	for (size_t i = 0; i < seen->n && changed; i++) {
		const struct md_leaf *leaf = find_leaf(st->notify, seen->wd[i]);
		char name[PATH_MAX];
		const char *why;
		bool told = false;

		if (!leaf || maildir_path_to_name(leaf->dir, st->layout, name, sizeof(name)) < 0 ||
		    !folder_name_is_safe(name, &why)) {
			somewhere = true;
			continue;
		}
		for (size_t k = 0; k < i && !told; k++) {
			const struct md_leaf *before = find_leaf(st->notify, seen->wd[k]);

			told = before && strcmp(before->dir, leaf->dir) == 0; /* new/ and cur/ */
		}
		if (!told)
			changed(ctx, name);
	}
	if (somewhere && changed)
		changed(ctx, NULL);
}

int maildir_wait(struct store *store, const char *folder, int timeout_ms, int stop_fd,
		 store_changed_fn *changed, void *ctx, struct ferry_error *err)
{
	struct maildir_store *st = (struct maildir_store *)store;
	long deadline = now_ms() + (timeout_ms < 0 ? 0 : timeout_ms);

	(void)folder;
	if (!st->notify) {
		if (!(st->notify = calloc(1, sizeof(*st->notify))))
			return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		st->notify->fd = -1;
	}
	if (st->notify->fd < 0) {
		if (access(st->root, F_OK) != 0 && errno == ENOENT) {
			/* The first sync creates the root: look again in a second. */
			struct pollfd p = {.fd = stop_fd, .events = POLLIN};
			int wait_ms = timeout_ms < 1000 ? timeout_ms : 1000;

			st->notify->late = true;
			if (poll(&p, stop_fd >= 0 ? 1 : 0, wait_ms) < 0 && errno != EINTR)
				return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "poll: %s",
						       strerror(errno));
			return 0;
		}
		late_setup(stop_fd);
		if (setup(st->notify, st->root, err) != 0)
			return -1;
		/* What was written since the last wait returned went unseen, and
		 * a sync that began before may have missed it: a change made
		 * between two calls is reported by the next (store.h), and where
		 * is not known. */
		if (st->notify->late) {
			if (changed)
				changed(ctx, NULL);
			return 1;
		}
	}
	for (;;) {
		struct pollfd p[2] = {{.fd = st->notify->fd, .events = POLLIN},
				      {.fd = stop_fd, .events = POLLIN}};
		long left = deadline - now_ms();
		struct md_seen seen = {.n = 0};
		bool rewalk = false;
		int r;

		if (left <= 0)
			return 0;
		r = poll(p, stop_fd >= 0 ? 2 : 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "poll: %s",
					       strerror(errno));
		if (r == 0 || (p[1].revents && !p[0].revents))
			return 0;
		r = drain(st->notify, &rewalk, &seen, err);
		if (r >= 0 && rewalk && walk(st->notify, st->root, 0, err) != 0)
			r = -1;
		if (r == 1)
			report(st, &seen, changed, ctx);
		if (r != 0)
			return r;
	}
}
