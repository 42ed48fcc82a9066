/* The folder tree of a Maildir root: which directories are folders, under
 * which canonical names, and creating and deleting them (DESIGN rules 3, 11).
 *
 * A folder is a directory with cur/ and new/. Directories are always opened
 * one component at a time with O_NOFOLLOW below the root's descriptor, so
 * neither a hostile folder name nor a symlink planted in the tree can make
 * ferry read or write outside the root. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/base/grow.h"
#include "store/log.h"
#include "store/maildir/filename.h"
#include "store/maildir/internal.h"
#include "store/maildir/path.h"
#include "store/names.h"

static struct maildir_store *md(struct store *store)
{
	return (struct maildir_store *)store;
}

/* Opens the directory name of dirfd, never through a symlink. Linux says
 * ENOTDIR for a symlink opened with O_DIRECTORY | O_NOFOLLOW; it becomes
 * ELOOP here, so that the warning can say what it is. */
static int open_nofollow(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat sb;

	if (fd < 0 && errno == ENOTDIR) {
		bool link =
		    fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(sb.st_mode);

		errno = link ? ELOOP : ENOTDIR;
	}
	return fd;
}

/* open_nofollow, creating the directory (0700, then syncing dirfd) when
 * create is set and it does not exist. Returns the fd or -1 with errno set:
 * ELOOP for a symlink, ENOTDIR for anything else that is no directory. */
static int open_dir_at(int dirfd, const char *name, bool create)
{
	int fd = open_nofollow(dirfd, name);

	if (fd >= 0 || errno != ENOENT || !create)
		return fd;
	if (mkdirat(dirfd, name, 0700) != 0) {
		if (errno != EEXIST)
			return -1;
	} else if (fsync(dirfd) != 0) {
		return -1;
	}
	return open_nofollow(dirfd, name);
}

/* Opens rel, a '/'-separated path below base ("" is base itself), one
 * component at a time as open_dir_at does. Returns the fd or -1 with errno. */
static int open_below(int base, const char *rel, bool create)
{
	int fd = openat(base, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	while (fd >= 0 && *rel) {
		char comp[NAME_MAX + 1];
		size_t n = strcspn(rel, "/");
		int next, saved;

		if (n == 0 || n > NAME_MAX) {
			close(fd);
			errno = n ? ENAMETOOLONG : EINVAL;
			return -1;
		}
		memcpy(comp, rel, n);
		comp[n] = '\0';
		next = open_dir_at(fd, comp, create);
		saved = errno;
		close(fd);
		errno = saved;
		fd = next;
		rel += n + (rel[n] == '/');
	}
	return fd;
}

static const char *open_error(int e)
{
	return e == ELOOP ? "a symbolic link on the way (not followed)" : strerror(e);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Whether dir reads as name in this layout. The index remembers a directory
 * only to choose among those that decode to the same name; one that does not
 * (left from the other layout, say) means nothing. */
static bool dir_means(struct maildir_store *st, const char *dir, const char *name)
{
	char decoded[PATH_MAX];

	return maildir_path_to_name(dir, st->layout, decoded, sizeof(decoded)) >= 0 &&
	       strcmp(decoded, name) == 0;
}

void maildir_folder_close(struct md_folder *f)
{
	close_fd(&f->fd);
	close_fd(&f->sub[SUB_NEW]);
	close_fd(&f->sub[SUB_CUR]);
	close_fd(&f->tmp);
	free(f->name);
	f->name = NULL;
	mdindex_folder_clear(&f->ix);
}

/* Opens dir and its cur/ and new/ into f; -1 with errno when it is not a
 * folder (or not there). */
static int open_folder_dir(struct maildir_store *st, const char *dir, struct md_folder *f)
{
	int saved;

	f->fd = open_below(st->rootfd, dir, false);
	if (f->fd < 0)
		return -1;
	f->sub[SUB_CUR] = open_dir_at(f->fd, "cur", false);
	if (f->sub[SUB_CUR] >= 0)
		f->sub[SUB_NEW] = open_dir_at(f->fd, "new", false);
	if (f->sub[SUB_CUR] >= 0 && f->sub[SUB_NEW] >= 0)
		return 0;
	saved = errno;
	close_fd(&f->fd);
	close_fd(&f->sub[SUB_CUR]);
	close_fd(&f->sub[SUB_NEW]);
	errno = saved;
	return -1;
}

int maildir_folder_open(struct maildir_store *st, const char *name, struct md_folder *f,
			struct ferry_error *err)
{
	struct mdindex_folder row;
	char canon[PATH_MAX];
	const char *dir = NULL, *where;
	int known, e = ENOENT;

	*f = (struct md_folder){.fd = -1, .sub = {-1, -1}, .tmp = -1};
	if (maildir_path_from_name(name, st->layout, canon, sizeof(canon)) < 0)
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO,
				       "folder %.200s: name too long for a path", name);
	where = canon;
	known = mdindex_folder_get(st->index, name, &row, err);
	if (known < 0)
		return -1;
	/* The directory the name came from first, for names read from other
	 * programs' directories; then the one ferry would make. Of two
	 * failures, the one that is not "no such directory" says more. */
	if (known && dir_means(st, row.dir, name)) {
		if (open_folder_dir(st, row.dir, f) == 0)
			dir = row.dir;
		else if ((e = errno) != ENOENT)
			where = row.dir;
	}
	if (!dir && (!known || strcmp(row.dir, canon) != 0)) {
		if (open_folder_dir(st, canon, f) == 0) {
			dir = canon;
		} else if (errno != ENOENT) {
			e = errno;
			where = canon;
		}
	}
	if (!dir) {
		if (e == ENOENT || e == ENOTDIR)
			ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "folder %s does not exist in %s",
					name, st->root);
		else
			ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "folder %s: %s/%s: %s", name,
					st->root, where, open_error(e));
		mdindex_folder_clear(&row);
		return -1;
	}
	if (!known) {
		if (mdindex_folder_add(st->index, name, dir, &row, err) != 0)
			goto fail;
	} else if (dir != row.dir) {
		char *moved = strdup(dir);

		if (!moved) {
			ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
			goto fail;
		}
		free(row.dir);
		row.dir = moved;
		if (mdindex_folder_save(st->index, &row, err) != 0)
			goto fail;
	}
	f->ix = row;
	if (!(f->name = strdup(name))) {
		ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		maildir_folder_close(f);
		return -1;
	}
	return 0;
fail:
	mdindex_folder_clear(&row);
	maildir_folder_close(f);
	return -1;
}

int maildir_folder_tmp(struct md_folder *f, struct ferry_error *err)
{
	if (f->tmp >= 0)
		return 0;
	f->tmp = open_dir_at(f->fd, "tmp", true);
	if (f->tmp < 0)
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: tmp/: %s", f->name,
				       open_error(errno));
	return 0;
}

/* ---- listing ---- */

struct candidate {
	char *name; /* canonical */
	char *dir;  /* relative to the root */
};

struct candidates {
	struct candidate *v;
	size_t n, cap;
};

static void candidates_free(struct candidates *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].name);
		free(c->v[i].dir);
	}
	free(c->v);
}

/* Whether the directory fd (rel below the root) is a folder. cur/ or new/
 * as a symlink would lead out of the tree: not a folder, and said so. */
static bool is_folder(struct maildir_store *st, int fd, const char *rel)
{
	struct stat cur, new;

	if (fstatat(fd, "cur", &cur, AT_SYMLINK_NOFOLLOW) != 0 ||
	    fstatat(fd, "new", &new, AT_SYMLINK_NOFOLLOW) != 0)
		return false;
	if (S_ISLNK(cur.st_mode) || S_ISLNK(new.st_mode)) {
		log_warn("%s/%s: cur/ or new/ is a symbolic link: not a folder, skipped", st->root,
			 rel);
		return false;
	}
	return S_ISDIR(cur.st_mode) && S_ISDIR(new.st_mode);
}

/* Adds the folder directory dir under its canonical name, unless the name
 * is unsafe (other programs' directories can decode to "..", empty levels or
 * control characters): those are skipped with a warning (rule 3). */
static int add_candidate(struct maildir_store *st, struct candidates *c, const char *dir,
			 struct ferry_error *err)
{
	char name[PATH_MAX], shown[PATH_MAX];
	const char *why = "is too long";
	struct candidate *v;

	if (maildir_path_to_name(dir, st->layout, name, sizeof(name)) < 0 ||
	    !folder_name_is_safe(name, &why)) {
		log_warn("%s/%s: skipped: its folder name %s", st->root,
			 folder_name_printable(dir, shown, sizeof(shown)), why);
		return 0;
	}
	v = grow_array(c->v, &c->cap, c->n + 1, sizeof(*v));
	if (!v)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	c->v = v;
	c->v[c->n].name = strdup(name);
	c->v[c->n].dir = strdup(dir);
	c->n++;
	if (!c->v[c->n - 1].name || !c->v[c->n - 1].dir)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	return 0;
}

static bool is_maildir_subdir(const char *name)
{
	return !strcmp(name, "cur") || !strcmp(name, "new") || !strcmp(name, "tmp");
}

/* Opens the subdirectory ent of d for the walk; -1 (after a warning where
 * one is due) when it is not a directory to look into. */
static int open_child(struct maildir_store *st, DIR *d, const struct dirent *de, const char *rel)
{
	char shown[PATH_MAX];
	int fd;

	if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN && de->d_type != DT_LNK)
		return -1;
	fd = open_nofollow(dirfd(d), de->d_name);
	if (fd >= 0)
		return fd;
	folder_name_printable(rel, shown, sizeof(shown));
	if (errno == ELOOP)
		log_warn("%s/%s: a symbolic link: not followed, skipped", st->root, shown);
	else if (errno != ENOTDIR && errno != ENOENT)
		log_warn("%s/%s: %s: skipped", st->root, shown, strerror(errno));
	return -1;
}

DIR *maildir_dir_stream(int fd)
{
	int own = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = own >= 0 ? fdopendir(own) : NULL;

	if (!d && own >= 0) {
		int saved = errno;

		close(own);
		errno = saved;
	}
	return d;
}

/* Verbatim: every directory below the root with cur/ and new/ is a folder,
 * and so may be its subdirectories; intermediate directories without them
 * are no folders, but their children may be. */
static int walk(struct maildir_store *st, int fd, const char *rel, int depth, struct candidates *c,
		struct ferry_error *err)
{
	DIR *d = maildir_dir_stream(fd);
	struct dirent *de;
	int r = 0;

	if (!d)
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s/%s: %s", st->root, rel,
				       strerror(errno));
	while (r == 0) {
		char child_rel[PATH_MAX];
		int child;

		errno = 0;
		if (!(de = readdir(d))) {
			if (errno)
				r = ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s/%s: readdir: %s",
						    st->root, rel, strerror(errno));
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    (depth == 0 && !strcmp(de->d_name, ".ferry")) || is_maildir_subdir(de->d_name))
			continue;
		if (snprintf(child_rel, sizeof(child_rel), "%s%s%s", rel, *rel ? "/" : "",
			     de->d_name) >= (int)sizeof(child_rel))
			continue;
		if ((child = open_child(st, d, de, child_rel)) < 0)
			continue;
		/* child_rel is depth + 1 levels deep. */
		if (depth + 1 > MAILDIR_MAX_DEPTH)
			log_warn("%s/%s: deeper than %d levels: not listed", st->root, child_rel,
				 MAILDIR_MAX_DEPTH);
		else if (is_folder(st, child, child_rel))
			r = add_candidate(st, c, child_rel, err);
		if (r == 0 && depth + 1 <= MAILDIR_MAX_DEPTH)
			r = walk(st, child, child_rel, depth + 1, c, err);
		close(child);
	}
	closedir(d);
	return r;
}

/* maildir++: the root is INBOX, every .Name directory of the root another
 * folder; the tree is flat. offlineimap: the same without the root, and
 * with Name directories. */
static int list_maildirpp(struct maildir_store *st, struct candidates *c, struct ferry_error *err)
{
	DIR *d = maildir_dir_stream(st->rootfd);
	bool dotted = st->layout == LAYOUT_MAILDIRPP;
	struct dirent *de;
	int r = 0;

	if (!d)
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: %s", st->root,
				       strerror(errno));
	if (dotted && is_folder(st, st->rootfd, "."))
		r = add_candidate(st, c, "", err);
	while (r == 0) {
		int child;

		errno = 0;
		if (!(de = readdir(d))) {
			if (errno)
				r = ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: readdir: %s",
						    st->root, strerror(errno));
			break;
		}
		if ((de->d_name[0] == '.') != dotted || !strcmp(de->d_name, ".") ||
		    !strcmp(de->d_name, "..") || !strcmp(de->d_name, ".ferry") ||
		    is_maildir_subdir(de->d_name))
			continue;
		if ((child = open_child(st, d, de, de->d_name)) < 0)
			continue;
		if (is_folder(st, child, de->d_name))
			r = add_candidate(st, c, de->d_name, err);
		close(child);
	}
	closedir(d);
	return r;
}

static int candidate_cmp(const void *a, const void *b)
{
	const struct candidate *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->dir, y->dir);
}

/* Which of the directories v[0..n) that decode to the same name is the
 * folder: the one the index remembers for it, else the one ferry would
 * create, else the first. */
static size_t pick(struct maildir_store *st, const struct candidate *v, size_t n,
		   const char *remembered)
{
	char canon[PATH_MAX];
	bool have_canon = maildir_path_from_name(v[0].name, st->layout, canon, sizeof(canon)) >= 0;

	for (size_t i = 0; remembered && i < n; i++)
		if (!strcmp(v[i].dir, remembered))
			return i;
	for (size_t i = 0; have_canon && i < n; i++)
		if (!strcmp(v[i].dir, canon))
			return i;
	return 0;
}

static const char *remembered_dir(char **names, char **dirs, size_t n, const char *name)
{
	size_t lo = 0, hi = n;

	while (lo < hi) { /* names are sorted by the index (ORDER BY name) */
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(names[mid], name);

		if (c == 0)
			return dirs[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Records name -> dir in the index: a folder gets its UIDVALIDITY when it
 * is first seen, and a name read from another program's directory keeps
 * meaning that directory. */
static int remember(struct maildir_store *st, const char *name, const char *dir,
		    const char *known_dir, struct ferry_error *err)
{
	struct mdindex_folder row;
	int r;

	if (known_dir && !strcmp(known_dir, dir))
		return 0;
	if (!known_dir) {
		r = mdindex_folder_add(st->index, name, dir, &row, err);
		mdindex_folder_clear(&row);
		return r;
	}
	if (mdindex_folder_get(st->index, name, &row, err) != 1)
		return -1;
	free(row.dir);
	row.dir = strdup(dir);
	r = row.dir ? mdindex_folder_save(st->index, &row, err)
		    : ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	mdindex_folder_clear(&row);
	return r;
}

/* Sums mdindex_file_hash over the message files of the folder directory
 * dir, as a scan reads them; *files counts them. */
static int dir_sum(struct maildir_store *st, const char *dir, uint64_t sum[2], size_t *files,
		   struct ferry_error *err)
{
	struct md_folder f = {.fd = -1, .sub = {-1, -1}, .tmp = -1};
	int r = 0;

	sum[0] = sum[1] = 0;
	*files = 0;
	if (open_folder_dir(st, dir, &f) != 0)
		return 1;
	for (int sub = SUB_NEW; r == 0 && sub <= SUB_CUR; sub++) {
		DIR *d = maildir_dir_stream(f.sub[sub]);
		struct dirent *de;

		if (!d) {
			r = 1;
			break;
		}
		while (r == 0 && (errno = 0, de = readdir(d))) {
			struct maildir_name parsed;
			const char *why;
			uint64_t h[2];

			if (de->d_name[0] == '.' || de->d_type == DT_DIR || de->d_type == DT_LNK ||
			    maildir_name_parse(de->d_name, &parsed, &why) != 0)
				continue;
			if (mdindex_file_hash(sub == SUB_CUR, de->d_name, de->d_ino, h, err) != 0) {
				r = -1;
				break;
			}
			sum[0] += h[0];
			sum[1] += h[1];
			(*files)++;
		}
		if (r == 0 && errno)
			r = 1;
		closedir(d);
	}
	maildir_folder_close(&f);
	return r;
}

/* Whether name is listed now (c->v[0..n) sorted by name). */
static bool listed_now(const struct candidates *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->v[i].name, name))
			return true;
	return false;
}

/* A directory another program moved within the root (mv Work Old/Work)
 * keeps its files, their names and inodes: when the files of dir, a name
 * new to the index, are exactly those of one indexed folder no longer
 * listed (by its rows sum), dir is that folder under a new name, and keeps
 * its row: its UIDVALIDITY and uids, as a server keeps them across RENAME,
 * so that the engine can rename it on the other side (rule 11). A folder
 * with no message says nothing. 1 when adopted, 0 when not, -1 on error. */
static int adopt_moved(struct maildir_store *st, const struct candidates *c, char **names,
		       size_t nknown, const char *name, const char *dir, struct ferry_error *err)
{
	int64_t hit = 0;
	uint64_t got[2];
	size_t files, matches = 0, orphans = 0;
	int r = 0;

	for (size_t i = 0; i < nknown; i++)
		orphans += !listed_now(c, names[i]);
	if (orphans == 0)
		return 0; /* the usual case: nothing to read */
	if ((r = dir_sum(st, dir, got, &files, err)) != 0 || files == 0)
		return r < 0 ? -1 : 0;
	for (size_t i = 0; i < nknown; i++) {
		struct mdindex_folder row;
		uint64_t want[2];
		bool known = false;

		if (listed_now(c, names[i]))
			continue;
		if ((r = mdindex_folder_get(st->index, names[i], &row, err)) <= 0) {
			if (r < 0)
				return -1;
			continue; /* adopted by another directory already */
		}
		if (mdindex_rows_sum(st->index, row.id, &known, want, err) != 0) {
			mdindex_folder_clear(&row);
			return -1;
		}
		if (known && want[0] == got[0] && want[1] == got[1]) {
			matches++;
			hit = row.id;
		}
		mdindex_folder_clear(&row);
	}
	if (matches != 1)
		return 0;
	log_trace("%s/%s: the directory of a folder moved: it keeps its UIDVALIDITY", st->root,
		  dir);
	return mdindex_folder_rename(st->index, hit, name, dir, err) == 0 ? 1 : -1;
}

/* Keeps one directory per name (warning about the others) and records the
 * choice; the survivors are moved to the front of c, sorted by name. */
static int resolve(struct maildir_store *st, struct candidates *c, struct ferry_error *err)
{
	char **names = NULL, **dirs = NULL;
	size_t nknown = 0, out = 0;
	int r;

	if (c->n > 1)
		qsort(c->v, c->n, sizeof(*c->v), candidate_cmp);
	if (mdindex_folder_dirs(st->index, &names, &dirs, &nknown, err) != 0)
		return -1;
	if ((r = mdindex_begin(st->index, err)) != 0)
		goto out;
	for (size_t i = 0, j; r == 0 && i < c->n; i = j) {
		const char *known = remembered_dir(names, dirs, nknown, c->v[i].name);
		struct candidate kept;
		size_t keep;

		for (j = i + 1; j < c->n && !strcmp(c->v[j].name, c->v[i].name); j++)
			;
		keep = i + pick(st, c->v + i, j - i, known);
		for (size_t k = i; k < j; k++)
			if (k != keep)
				log_warn("%s/%s: skipped: folder %s is %s/%s", st->root,
					 c->v[k].dir, c->v[k].name, st->root, c->v[keep].dir);
		if (!known)
			r = adopt_moved(st, c, names, nknown, c->v[keep].name, c->v[keep].dir, err);
		if (r == 0)
			r = remember(st, c->v[keep].name, c->v[keep].dir, known, err);
		else if (r == 1)
			r = 0;
		kept = c->v[keep];
		c->v[keep] = c->v[out];
		c->v[out++] = kept;
	}
	if (r == 0)
		r = mdindex_commit(st->index, err);
	else
		mdindex_rollback(st->index);
out:
	mdindex_names_free(names, dirs, nknown);
	/* The dropped duplicates are beyond out; free them now. */
	for (size_t k = out; k < c->n; k++) {
		free(c->v[k].name);
		free(c->v[k].dir);
	}
	c->n = out;
	return r;
}

/* Whether the root exists and holds nothing at all: an empty mount point
 * (a disk not mounted) is listed without writing the index into it. */
static bool root_is_empty(const char *root)
{
	DIR *d = opendir(root);
	struct dirent *de;
	bool empty = d != NULL;

	while (d && (errno = 0, de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			empty = false;
			break;
		}
	if (d && errno)
		empty = false; /* a failed readdir: maildir_ready says why */
	if (d)
		closedir(d);
	return empty;
}

int maildir_list_folders(struct store *store, struct store_folder **out, size_t *n,
			 struct ferry_error *err)
{
	struct maildir_store *st = md(store);
	struct candidates c = {0};
	struct store_folder *v;
	int r = maildir_settle_adds(st, err) ? -1 : 0;

	*out = NULL;
	*n = 0;
	if (r == 0)
		r = !st->index && root_is_empty(st->root) ? 1 : maildir_ready(st, false, err);
	if (r != 0)
		return r < 0 ? -1 : 0; /* no root yet, or an empty one: no folders */
	if (st->layout == LAYOUT_VERBATIM || st->layout == LAYOUT_LEGACY)
		r = walk(st, st->rootfd, "", 0, &c, err);
	else
		r = list_maildirpp(st, &c, err);
	if (r == 0)
		r = resolve(st, &c, err);
	if (r != 0) {
		candidates_free(&c);
		return -1;
	}
	v = calloc(c.n ? c.n : 1, sizeof(*v));
	if (!v) {
		candidates_free(&c);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	for (size_t i = 0; i < c.n; i++) {
		v[i].name = c.v[i].name; /* moved */
		free(c.v[i].dir);
	}
	free(c.v);
	*out = v;
	*n = c.n;
	return 0;
}

/* ---- creating and deleting ---- */

static int refuse_unsafe(const char *what, const char *name, struct ferry_error *err)
{
	char shown[256];
	const char *why;

	if (folder_name_is_safe(name, &why))
		return 0;
	return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "cannot %s folder \"%s\": the name %s",
			       what, folder_name_printable(name, shown, sizeof(shown)), why);
}

/* The directory create_folder uses for name: the one the index remembers if
 * it still is a folder, else the canonical one. *dir is the caller's. */
static int create_dir_for(struct maildir_store *st, const char *name, char **dir,
			  struct ferry_error *err)
{
	struct mdindex_folder row;
	struct md_folder probe = {.fd = -1, .sub = {-1, -1}, .tmp = -1};
	char canon[PATH_MAX];
	int known;

	if (maildir_path_from_name(name, st->layout, canon, sizeof(canon)) < 0)
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO,
				       "folder %.200s: name too long for a path", name);
	known = mdindex_folder_get(st->index, name, &row, err);
	if (known < 0)
		return -1;
	if (known && dir_means(st, row.dir, name) && open_folder_dir(st, row.dir, &probe) == 0) {
		maildir_folder_close(&probe);
		*dir = row.dir; /* moved */
		return 0;
	}
	mdindex_folder_clear(&row);
	if (!(*dir = strdup(canon)))
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	return 0;
}

int maildir_create_folder(struct store *store, const char *name, struct ferry_error *err)
{
	static const char *const subs[] = {"cur", "new", "tmp"};
	struct maildir_store *st = md(store);
	struct md_folder f;
	char *dir = NULL;
	int fd;

	if (maildir_settle_adds(st, err) != 0 || refuse_unsafe("create", name, err) != 0)
		return -1;
	if (folder_name_is_inbox(name))
		name = "INBOX";
	if (store->max_depth && folder_name_depth(name) > store->max_depth)
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO,
				       "cannot create folder %.200s: %u levels deep, deeper than "
				       "the %u levels a Maildir is listed",
				       name, folder_name_depth(name), store->max_depth);
	if (maildir_ready(st, true, err) != 0 || create_dir_for(st, name, &dir, err) != 0)
		return -1;
	fd = open_below(st->rootfd, dir, true);
	if (fd < 0) {
		ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "cannot create folder %s: %s/%s: %s",
				name, st->root, dir, open_error(errno));
		free(dir);
		return -1;
	}
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		int sub = open_dir_at(fd, subs[i], true);

		if (sub < 0) {
			ferry_error_set(err, FERRY_CAUSE_LOCAL_IO,
					"cannot create folder %s: %s/%s/%s: %s", name, st->root,
					dir, subs[i], open_error(errno));
			close(fd);
			free(dir);
			return -1;
		}
		close(sub);
	}
	close(fd);
	free(dir);
	/* Opening records the folder, and its UIDVALIDITY, in the index. */
	if (maildir_folder_open(st, name, &f, err) != 0)
		return -1;
	maildir_folder_close(&f);
	return 0;
}

/* Whether the directory name of fd has any entry; -1 on error. */
static int has_entries(int fd, const char *name)
{
	int sub = open_dir_at(fd, name, false);
	DIR *d = sub >= 0 ? fdopendir(sub) : NULL;
	struct dirent *de;
	int r = 0;

	if (!d) {
		if (sub >= 0)
			close(sub);
		return -1;
	}
	for (;;) {
		errno = 0;
		if (!(de = readdir(d))) {
			r = errno ? -1 : 0;
			break;
		}
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			r = 1;
			break;
		}
	}
	closedir(d);
	return r;
}

/* Removes ferry's and others' leftovers in tmp/ and tmp/ itself. Failing
 * here leaves a directory that is no folder any more: a warning. */
static void remove_tmp(int fd, const char *name)
{
	int sub = open_dir_at(fd, "tmp", false);
	DIR *d = sub >= 0 ? fdopendir(sub) : NULL;
	struct dirent *de;

	if (!d) {
		if (sub >= 0)
			close(sub);
		else if (errno != ENOENT)
			log_warn("%s: tmp/: %s", name, strerror(errno));
		return;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
		    unlinkat(dirfd(d), de->d_name, 0) != 0 && errno != ENOENT)
			log_warn("%s: tmp/%s: %s", name, de->d_name, strerror(errno));
	closedir(d);
	if (unlinkat(fd, "tmp", AT_REMOVEDIR) != 0 && errno != ENOENT)
		log_warn("%s: tmp/: %s", name, strerror(errno));
}

/* Removes the folder's own directory when nothing else is in it; child
 * folders or other programs' files keep it (it is no folder any more). */
static void remove_folder_dir(struct maildir_store *st, const char *dir)
{
	char parent[PATH_MAX];
	const char *slash = strrchr(dir, '/');
	const char *last = slash ? slash + 1 : dir;
	int fd;

	if (!*dir)
		return; /* the root itself */
	snprintf(parent, sizeof(parent), "%.*s", slash ? (int)(slash - dir) : 0, dir);
	fd = open_below(st->rootfd, parent, false);
	if (fd < 0)
		return;
	if (unlinkat(fd, last, AT_REMOVEDIR) != 0 && errno != ENOTEMPTY && errno != EEXIST)
		log_warn("%s/%s: %s", st->root, dir, strerror(errno));
	close(fd);
}

int maildir_delete_folder(struct store *store, const char *name, struct ferry_error *err)
{
	struct maildir_store *st = md(store);
	struct md_folder f;
	const char *sub = NULL;
	int r;

	if (maildir_settle_adds(st, err) != 0 || refuse_unsafe("delete", name, err) != 0)
		return -1;
	if (folder_name_is_inbox(name))
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "INBOX cannot be deleted");
	if ((r = maildir_ready(st, false, err)) != 0)
		return r < 0 ? -1
			     : ferry_error_set(err, FERRY_CAUSE_LOCAL_IO,
					       "folder %s does not exist: %s is "
					       "missing",
					       name, st->root);
	if (st->sel.name && !strcmp(st->sel.name, name))
		maildir_folder_close(&st->sel);
	if (maildir_folder_open(st, name, &f, err) != 0)
		return -1;
	sub = "cur";
	if ((r = has_entries(f.fd, sub)) == 0) {
		sub = "new";
		r = has_entries(f.fd, sub);
	}
	if (r != 0) {
		if (r > 0)
			ferry_error_set(err, FERRY_CAUSE_LOCAL_IO,
					"cannot delete folder %s: %s/ holds "
					"messages",
					name, sub);
		else
			ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "folder %s: %s/: %s", name, sub,
					strerror(errno));
		maildir_folder_close(&f);
		return -1;
	}
	/* cur/ first: if a message arrives in new/ meanwhile, rmdir fails and
	 * cur/ comes back, so that nothing is lost or hidden. */
	if (unlinkat(f.fd, "cur", AT_REMOVEDIR) != 0) {
		ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "cannot delete folder %s: cur/: %s",
				name, strerror(errno));
		maildir_folder_close(&f);
		return -1;
	}
	if (unlinkat(f.fd, "new", AT_REMOVEDIR) != 0) {
		ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "cannot delete folder %s: new/: %s",
				name, strerror(errno));
		if (mkdirat(f.fd, "cur", 0700) != 0)
			log_warn("%s: cannot recreate cur/: %s", name, strerror(errno));
		maildir_folder_close(&f);
		return -1;
	}
	remove_tmp(f.fd, name);
	if (unlinkat(f.fd, "maildirfolder", 0) != 0 && errno != ENOENT)
		log_warn("%s: maildirfolder: %s", name, strerror(errno));
	remove_folder_dir(st, f.ix.dir);
	r = mdindex_folder_delete(st->index, f.ix.id, err);
	maildir_folder_close(&f);
	return r;
}

/* ---- renaming ---- */

/* Splits rel into its parent ("" for the root) and its last component. */
static int split_dir(const char *rel, char *parent, size_t len, const char **last)
{
	const char *slash = strrchr(rel, '/');

	*last = slash ? slash + 1 : rel;
	return snprintf(parent, len, "%.*s", slash ? (int)(slash - rel) : 0, rel) < (int)len ? 0
											     : -1;
}

/* Moves the directory from to to (both relative to the root, never
 * replacing anything), creating to's parents; fsyncs both parents. */
static int move_dir(struct maildir_store *st, const char *from, const char *to,
		    struct ferry_error *err)
{
	char from_parent[PATH_MAX], to_parent[PATH_MAX];
	const char *from_last, *to_last;
	int ffd = -1, tfd = -1, r = -1;

	if (!*from || !*to || split_dir(from, from_parent, sizeof(from_parent), &from_last) != 0 ||
	    split_dir(to, to_parent, sizeof(to_parent), &to_last) != 0)
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "cannot move %s/%s to %s/%s",
				       st->root, from, st->root, to);
	if ((ffd = open_below(st->rootfd, from_parent, false)) < 0 ||
	    (tfd = open_below(st->rootfd, to_parent, true)) < 0) {
		ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "cannot move %s/%s to %s/%s: %s",
				st->root, from, st->root, to, open_error(errno));
		goto out;
	}
	if (renameat2(ffd, from_last, tfd, to_last, RENAME_NOREPLACE) != 0) {
		struct stat sb;

		/* A file system without RENAME_NOREPLACE: a look first; the
		 * root is locked against other ferries. */
		if ((errno != EINVAL && errno != ENOSYS) ||
		    fstatat(tfd, to_last, &sb, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT ||
		    renameat(ffd, from_last, tfd, to_last) != 0) {
			ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "cannot move %s/%s to %s/%s: %s",
					st->root, from, st->root, to,
					errno == ENOENT ? "the target exists" : strerror(errno));
			goto out;
		}
	}
	if (fsync(tfd) != 0 || fsync(ffd) != 0) {
		ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: fsync after moving %s to %s: %s",
				st->root, from, to, strerror(errno));
		goto out;
	}
	r = 0;
out:
	if (ffd >= 0)
		close(ffd);
	if (tfd >= 0)
		close(tfd);
	return r;
}

/* The new name of old (from or below it) once from is to: *out is malloc'd. */
static int renamed_name(const char *old, const char *from, const char *to, char **out,
			struct ferry_error *err)
{
	size_t flen = strlen(from);

	if (asprintf(out, "%s%s", to, old + flen) < 0) {
		*out = NULL;
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	return 0;
}

/* Whether name is from or below it. */
static bool in_subtree(const char *name, const char *from)
{
	size_t len = strlen(from);

	return strncmp(name, from, len) == 0 && (name[len] == '\0' || name[len] == '/');
}

/* The index row of old (moved to name, dir) follows; a stale row already
 * holding the new name (a directory gone behind ferry's back) goes first. */
static int index_follows(struct maildir_store *st, const char *old, const char *name,
			 const char *dir, struct ferry_error *err)
{
	struct mdindex_folder row;
	int known = mdindex_folder_get(st->index, name, &row, err);
	int r = 0;

	if (known < 0)
		return -1;
	if (known) {
		r = mdindex_folder_delete(st->index, row.id, err);
		mdindex_folder_clear(&row);
		if (r != 0)
			return -1;
	}
	known = mdindex_folder_get(st->index, old, &row, err);
	if (known <= 0)
		return known; /* never indexed: found anew by the next listing */
	r = mdindex_folder_rename(st->index, row.id, name, dir, err);
	mdindex_folder_clear(&row);
	return r;
}

/* The directory of new name `name` for a folder whose directory was old_dir
 * below from_dir: in a tree layout the children moved with their parent. */
static int renamed_dir(struct maildir_store *st, const char *name, const char *old_dir,
		       const char *from_dir, const char *to_dir, char *out, size_t len)
{
	size_t flen = strlen(from_dir);
	bool tree = st->layout == LAYOUT_VERBATIM || st->layout == LAYOUT_LEGACY;

	if (tree && strncmp(old_dir, from_dir, flen) == 0 &&
	    (old_dir[flen] == '/' || old_dir[flen] == '\0'))
		return snprintf(out, len, "%s%s", to_dir, old_dir + flen) < (int)len ? 0 : -1;
	return maildir_path_from_name(name, st->layout, out, len) < 0 ? -1 : 0;
}

/* Renames from to to with its children. A tree layout (verbatim, legacy)
 * moves one directory; a flat one (maildir++, offlineimap) moves each
 * folder's. The directories move first, then the index rows follow in one
 * transaction: a kill between the two leaves directories the index knows by
 * their files (maildir_list_folders finds them moved). */
int maildir_rename_folder(struct store *store, const char *from, const char *to,
			  struct ferry_error *err)
{
	struct maildir_store *st = md(store);
	bool tree = st->layout == LAYOUT_VERBATIM || st->layout == LAYOUT_LEGACY;
	char **names = NULL, **dirs = NULL, to_dir[PATH_MAX];
	struct md_folder f;
	size_t n = 0;
	int r, probe;

	if (maildir_settle_adds(st, err) != 0 || refuse_unsafe("rename", from, err) != 0 ||
	    refuse_unsafe("rename to", to, err) != 0)
		return -1;
	if (folder_name_is_inbox(from) || folder_name_is_inbox(to))
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "INBOX cannot be renamed");
	if (in_subtree(to, from))
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO,
				       "cannot rename folder %s into itself (%s)", from, to);
	if (maildir_path_from_name(to, st->layout, to_dir, sizeof(to_dir)) < 0)
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO,
				       "folder %.200s: name too long for a path", to);
	if ((r = maildir_ready(st, false, err)) != 0)
		return r < 0 ? -1
			     : ferry_error_set(err, FERRY_CAUSE_LOCAL_IO,
					       "folder %s does not exist: %s is missing", from,
					       st->root);
	if ((probe = open_below(st->rootfd, to_dir, false)) >= 0 || errno != ENOENT) {
		if (probe >= 0)
			close(probe);
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO,
				       "cannot rename folder %s to %s: %s/%s exists", from, to,
				       st->root, to_dir);
	}
	if (st->sel.name && in_subtree(st->sel.name, from))
		maildir_folder_close(&st->sel);
	if (maildir_folder_open(st, from, &f, err) != 0)
		return -1;
	r = mdindex_folder_dirs(st->index, &names, &dirs, &n, err);
	if (r == 0)
		r = move_dir(st, f.ix.dir, to_dir, err);
	for (size_t i = 0; r == 0 && !tree && i < n; i++) {
		char *name = NULL, dir[PATH_MAX];

		if (!in_subtree(names[i], from) || !strcmp(names[i], from))
			continue;
		if ((r = renamed_name(names[i], from, to, &name, err)) != 0)
			break;
		if (maildir_path_from_name(name, st->layout, dir, sizeof(dir)) < 0)
			r = ferry_error_set(err, FERRY_CAUSE_LOCAL_IO,
					    "folder %.200s: name too long for a path", name);
		else
			r = move_dir(st, dirs[i], dir, err);
		free(name);
	}
	/* What moved is recorded even when a later move failed. */
	if (mdindex_begin(st->index, err) == 0) {
		int ir = 0;

		for (size_t i = 0; ir == 0 && i < n; i++) {
			char *name = NULL, dir[PATH_MAX];
			struct stat sb;

			if (!in_subtree(names[i], from))
				continue;
			if ((ir = renamed_name(names[i], from, to, &name, err)) != 0)
				break;
			if (renamed_dir(st, name, dirs[i], f.ix.dir, to_dir, dir, sizeof(dir)) ==
				0 &&
			    fstatat(st->rootfd, dir, &sb, AT_SYMLINK_NOFOLLOW) == 0)
				ir = index_follows(st, names[i], name, dir, err);
			free(name);
		}
		if (ir == 0)
			ir = mdindex_commit(st->index, err);
		else
			mdindex_rollback(st->index);
		if (r == 0)
			r = ir;
	} else if (r == 0) {
		r = -1;
	}
	mdindex_names_free(names, dirs, n);
	maildir_folder_close(&f);
	return r;
}
