/* The Maildir store against a real directory: folders in both layouts,
 * delivery, the index (uids, modseq, rescans, rebuild, corruption), other
 * programs renaming and deleting files between and during syncs, and names
 * that must never lead outside the root. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "store/identity.h"
#include "store/log.h"
#include "store/maildir/index.h"
#include "store/store.h"

#define MSG_A	 "From: a@example.org\r\nSubject: first\r\n\r\nHello\r\nWorld\r\n"
#define MSG_A_LF "From: a@example.org\nSubject: first\n\nHello\nWorld\n"
#define MSG_B	 "From: b@example.org\r\nSubject: second\r\n\r\nBody\r\n"
#define MSG_C	 "From: c@example.org\nSubject: third\n\nLF only\n"
#define DATE	 1600000000

static char base[64];  /* the test's own directory */
static char root[128]; /* base/Mail, the store's root */
static struct store_conf conf;
static struct store *store;
static struct ferry_error err;

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_rf(const char *path)
{
	nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A path below root, formatted; each call gets one of a few buffers. */
static const char *at(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static const char *at(const char *fmt, ...)
{
	static char bufs[8][PATH_MAX];
	static int next;
	char *b = bufs[next++ % 8], rel[PATH_MAX - 256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	snprintf(b, PATH_MAX, "%s/%s", root, rel);
	return b;
}

static bool exists(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0;
}

static void open_store(enum maildir_layout layout)
{
	conf = (struct store_conf){.kind = STORE_MAILDIR, .name = "local"};
	conf.maildir.path = root;
	conf.maildir.layout = layout;
	ck_assert_msg(store_open(&conf, NULL, &store, &err) == 0, "%s", err.msg);
}

static void reopen(void)
{
	enum maildir_layout layout = conf.maildir.layout;

	store_close(store);
	store = NULL;
	open_store(layout);
}

static void setup(void)
{
	snprintf(base, sizeof(base), "/tmp/ferry-maildir-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(base));
	snprintf(root, sizeof(root), "%s/Mail", base);
	log_set_level(LOG_QUIET);
	ferry_error_clear(&err);
	store = NULL;
}

static void teardown(void)
{
	store_close(store);
	store = NULL;
	rm_rf(base);
}

static void create_ok(const char *name)
{
	ck_assert_msg(store->driver->create_folder(store, name, &err) == 0, "%s: %s", name,
		      err.msg);
}

static struct folder_state select_ok(const char *name)
{
	struct folder_state fs;

	ck_assert_msg(store->driver->select(store, name, &fs, &err) == 0, "%s: %s", name, err.msg);
	return fs;
}

/* The folder names, sorted, joined with '|'. */
static const char *folders(void)
{
	static char joined[4096];
	struct store_folder *v;
	size_t n;

	ck_assert_msg(store->driver->list_folders(store, &v, &n, &err) == 0, "%s", err.msg);
	joined[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_eq(v[i].attrs, 0);
		if (i)
			strcat(joined, "|");
		strcat(joined, v[i].name);
	}
	store_folders_free(v, n);
	return joined;
}

static uint32_t deliver_chunks(const char *const *chunks, unsigned flags, const char *keywords,
			       int64_t date)
{
	struct store_new_msg *m;
	uint32_t uid = 0;

	ck_assert_msg(store->driver->add_begin(store, &m, &err) == 0, "%s", err.msg);
	for (; *chunks; chunks++)
		ck_assert_msg(store->driver->add_write(m, *chunks, strlen(*chunks), &err) == 0,
			      "%s", err.msg);
	ck_assert_msg(store->driver->add_commit(m, flags, keywords, date, &uid, &err) == 0, "%s",
		      err.msg);
	ck_assert_uint_ne(uid, 0);
	return uid;
}

static uint32_t deliver(const char *text, unsigned flags, const char *keywords, int64_t date)
{
	const char *chunks[] = {text, NULL};

	return deliver_chunks(chunks, flags, keywords, date);
}

static void list_ok(struct msg_list *l)
{
	*l = (struct msg_list){0};
	ck_assert_msg(store->driver->list(store, l, &err) == 0, "%s", err.msg);
}

static const struct msg *find_uid(const struct msg_list *l, uint32_t uid)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].uid == uid)
			return &l->v[i];
	return NULL;
}

/* The only entry of dir other than . and .. (malloc'd), or NULL if it has
 * none; fails the test if it has several. */
static char *only_file(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char *found = NULL;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		ck_assert_msg(!found, "%s holds %s and %s", dir, found, de->d_name);
		found = strdup(de->d_name);
	}
	closedir(d);
	return found;
}

/* The one file in dir whose name ends in suffix (caller frees). */
static char *file_ending(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char *found = NULL;
	size_t sl = strlen(suffix);

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);

		if (len <= sl || strcmp(de->d_name + len - sl, suffix) != 0)
			continue;
		ck_assert_msg(!found, "%s holds %s and %s", dir, found, de->d_name);
		found = strdup(de->d_name);
	}
	closedir(d);
	return found;
}

static size_t count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = calloc(1, 1 << 16);
	size_t n;

	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, (1 << 16) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void spit(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

static void make_maildir(const char *dir)
{
	char cmd[PATH_MAX + 32];

	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/cur' '%s/new' '%s/tmp'", dir, dir, dir);
	ck_assert_int_eq(system(cmd), 0);
}

static struct msg_id identity_of(const char *text, uint64_t *size)
{
	struct ident id;
	struct msg_id out;

	ck_assert_int_eq(ident_init(&id), 0);
	ck_assert_int_eq(ident_feed(&id, text, strlen(text)), 0);
	ck_assert_int_eq(ident_final(&id, &out, size), 0);
	return out;
}

static void set_mtime(const char *path, time_t when)
{
	struct timespec t[2] = {{.tv_sec = when}, {.tv_sec = when}};

	ck_assert_int_eq(utimensat(AT_FDCWD, path, t, AT_SYMLINK_NOFOLLOW), 0);
}

/* ---- folders ---- */

START_TEST(test_verbatim_folders_are_created_and_listed)
{
	struct stat sb;

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	create_ok("Work/Projects");
	create_ok("Entwürfe");
	create_ok("a/cur");
	create_ok(".hidden");
	ck_assert_str_eq(folders(), ".hidden|Entwürfe|INBOX|Work/Projects|a/cur");
	ck_assert(exists(at("INBOX/cur")) && exists(at("INBOX/new")) && exists(at("INBOX/tmp")));
	ck_assert(exists(at("Work/Projects/new")));
	ck_assert(!exists(at("Work/cur"))); /* Work is only an intermediate directory */
	ck_assert(exists(at("Entwürfe/tmp")));
	ck_assert(exists(at("a/%%63ur/cur")));
	ck_assert(exists(at("%%2Ehidden/cur")));
	ck_assert_int_eq(stat(at("Work/Projects/cur"), &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0700);
	/* The index is there, private, a file (no directory a reader could
	 * take for a mailbox). */
	ck_assert(!exists(at(".ferry")));
	ck_assert_int_eq(stat(at("..ferry-index.sqlite"), &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);
}
END_TEST

START_TEST(test_maildirpp_folders_are_created_and_listed)
{
	open_store(LAYOUT_MAILDIRPP);
	create_ok("inbox");
	create_ok("Work/Projects");
	create_ok("Entwürfe");
	create_ok("v1.2");
	create_ok("ferry");
	ck_assert(exists(at("cur")) && exists(at("new")) && exists(at("tmp")));
	ck_assert(exists(at(".Work.Projects/cur")));
	ck_assert(!exists(at(".Work")));
	ck_assert(exists(at(".Entwürfe/new")));
	ck_assert(exists(at(".v1%%2E2/cur")));
	ck_assert(exists(at(".%%66erry/cur")));
	ck_assert_str_eq(folders(), "Entwürfe|INBOX|Work/Projects|ferry|v1.2");
}
END_TEST

/* mbsync's SubFolders Legacy: later levels are .Name inside their parent. */
START_TEST(test_legacy_folders_are_created_and_listed)
{
	open_store(LAYOUT_LEGACY);
	create_ok("inbox");
	create_ok("Work/Projects/2024");
	create_ok("v1.2");
	ck_assert(exists(at("INBOX/cur")));
	ck_assert(exists(at("Work/.Projects/.2024/cur")));
	ck_assert(exists(at("v1.2/new")));
	ck_assert(!exists(at("cur")));
	/* a directory mbsync would not make there is no folder of the layout */
	make_maildir(at("Work/Plain"));
	ck_assert_str_eq(folders(), "INBOX|Work/Projects/2024|v1.2");
}
END_TEST

/* offlineimap (sep = .): one directory per folder under the root. */
START_TEST(test_offlineimap_folders_are_created_and_listed)
{
	open_store(LAYOUT_OFFLINEIMAP);
	create_ok("INBOX");
	create_ok("Work/Projects");
	create_ok("v1.2");
	ck_assert(exists(at("INBOX/cur")));
	ck_assert(exists(at("Work.Projects/cur")));
	ck_assert(!exists(at("Work")));
	ck_assert(exists(at("v1%%2E2/cur")));
	ck_assert(!exists(at("cur")));
	make_maildir(at(".Hidden"));
	ck_assert_str_eq(folders(), "INBOX|Work/Projects|v1.2");
}
END_TEST

START_TEST(test_intermediate_directories_are_no_folders_but_their_children_are)
{
	open_store(LAYOUT_VERBATIM);
	make_maildir(at("Archive/2023/Q1"));
	make_maildir(at("Archive/2024"));
	ck_assert_int_eq(mkdir(at("Archive/2024/Notes"), 0700), 0); /* no cur/new */
	make_maildir(at("Archive/2024/Notes/Old"));
	ck_assert_str_eq(folders(), "Archive/2023/Q1|Archive/2024|Archive/2024/Notes/Old");
}
END_TEST

START_TEST(test_create_is_idempotent_and_keeps_uidvalidity)
{
	struct folder_state a, b;

	open_store(LAYOUT_VERBATIM);
	create_ok("Work");
	a = select_ok("Work");
	ck_assert_uint_ne(a.uidvalidity, 0);
	ck_assert_uint_eq(a.uidnext, 1);
	ck_assert(a.keywords_ok);
	create_ok("Work");
	b = select_ok("Work");
	ck_assert_uint_eq(a.uidvalidity, b.uidvalidity);
}
END_TEST

START_TEST(test_missing_root_lists_nothing_and_is_created_by_create_folder)
{
	struct folder_state fs;

	open_store(LAYOUT_VERBATIM);
	ck_assert(!exists(root));
	ck_assert_str_eq(folders(), "");
	ck_assert(!exists(root)); /* listing creates nothing */
	ck_assert_int_eq(store->driver->select(store, "INBOX", &fs, &err), -1);
	create_ok("INBOX");
	ck_assert(exists(at("INBOX/cur")));
}
END_TEST

START_TEST(test_open_alone_writes_nothing)
{
	ck_assert_int_eq(mkdir(root, 0700), 0);
	open_store(LAYOUT_VERBATIM);
	ck_assert(!exists(at("..ferry-index.sqlite"))); /* `ferry check` leaves the Maildir alone */
}
END_TEST

/* --dry-run: a read-only store scans and lists as usual, into a copy of
 * its index in memory; the index file, the lock and the files stay as they
 * are, and every change is refused. */
START_TEST(test_read_only_store_writes_nothing_and_refuses_changes)
{
	struct folder_state fs;
	struct msg_list l = {0};
	struct stat before, after;
	char *index_before, *index_after;
	uint32_t uid;

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	select_ok("INBOX");
	uid = deliver("Subject: one\n\nbody\n", 0, NULL, 1700000000);
	reopen(); /* closed: the index is sealed as a sync leaves it */
	spit(at("INBOX/new/1700000001.M1P1.other"), "Subject: two\n\nbody\n");
	reopen();
	store_set_read_only(store);
	index_before = slurp(at("..ferry-index.sqlite"));
	ck_assert_int_eq(stat(at("INBOX/new"), &before), 0);
	fs = select_ok("INBOX");
	ck_assert_uint_eq(fs.exists, 2); /* the new file scanned, in memory */
	list_ok(&l);
	ck_assert_uint_eq(l.n, 2);
	msg_list_free(&l);
	ck_assert_int_eq(store_set_flags(store, &uid, 1, MF_SEEN, 0, NULL, NULL, &err), -1);
	ck_assert_int_eq(err.cause, FERRY_CAUSE_INTERNAL);
	ck_assert_int_eq(store_delete_msgs(store, &uid, 1, &err), -1);
	ck_assert_int_eq(store_create_folder(store, "Other", &err), -1);
	ck_assert(!exists(at("Other")));
	store_close(store);
	store = NULL;
	index_after = slurp(at("..ferry-index.sqlite"));
	ck_assert_int_eq(memcmp(index_after, index_before, 1 << 16), 0);
	ck_assert_int_eq(stat(at("INBOX/new"), &after), 0);
	ck_assert_int_eq(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
	ck_assert(!exists(at("..ferry-index.sqlite-wal")));
	free(index_before);
	free(index_after);
}
END_TEST

START_TEST(test_selecting_a_missing_folder_is_an_error)
{
	struct folder_state fs;

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	ck_assert_int_eq(store->driver->select(store, "Nope", &fs, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "Nope"));
}
END_TEST

START_TEST(test_delete_folder_only_when_empty_and_never_its_children)
{
	open_store(LAYOUT_VERBATIM);
	create_ok("Work");
	create_ok("Work/Projects");
	create_ok("Full");
	select_ok("Full");
	deliver(MSG_A, 0, NULL, DATE);
	ck_assert_int_eq(store->driver->delete_folder(store, "Full", &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "Full"));
	ck_assert_int_eq(count_files(at("Full/new")), 1);
	ck_assert_int_eq(store->driver->delete_folder(store, "Work", &err), 0);
	ck_assert(!exists(at("Work/cur")));
	ck_assert(exists(at("Work/Projects/cur")));
	ck_assert_str_eq(folders(), "Full|Work/Projects");
	ck_assert_int_eq(store->driver->delete_folder(store, "Work/Projects", &err), 0);
	ck_assert(!exists(at("Work/Projects")));
	ck_assert_int_eq(store->driver->delete_folder(store, "INBOX", &err), -1);
	ck_assert_str_eq(folders(), "Full");
}
END_TEST

static const char *const unsafe_names[] = {
    "../escape", "a/../../escape", "..",   ".",	  "/escape", "/",     "",	 "a//b",
    "a/",	 "a/./b",	   "x\ny", "x\r", "\xff",    "tab\t", "del\x7f",
};

START_TEST(test_unsafe_names_are_refused_and_nothing_leaves_the_root)
{
	struct folder_state fs;

	for (int layout = LAYOUT_VERBATIM; layout <= LAYOUT_MAILDIRPP; layout++) {
		store_close(store);
		store = NULL;
		rm_rf(root);
		open_store((enum maildir_layout)layout);
		create_ok("INBOX");
		ck_assert_int_eq(store->driver->create_folder(store, unsafe_names[_i], &err), -1);
		ck_assert_int_eq(store->driver->select(store, unsafe_names[_i], &fs, &err), -1);
		ck_assert_int_eq(store->driver->delete_folder(store, unsafe_names[_i], &err), -1);
		ck_assert(!exists(at("../escape")));
		ck_assert(!exists("/escape"));
		ck_assert_int_eq(count_files(base), 1); /* Mail only */
		ck_assert_str_eq(folders(), "INBOX");
	}
}
END_TEST

START_TEST(test_symlinks_are_never_followed_out_of_the_root)
{
	char outside[256];
	struct folder_state fs;

	snprintf(outside, sizeof(outside), "%s/outside", base);
	make_maildir(outside);
	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	ck_assert_int_eq(symlink(outside, at("Link")), 0);
	ck_assert_int_eq(mkdir(at("Half"), 0700), 0);
	ck_assert_int_eq(mkdir(at("Half/new"), 0700), 0);
	ck_assert_int_eq(symlink(outside, at("Half/cur")), 0);
	ck_assert_str_eq(folders(), "INBOX");
	ck_assert_int_eq(store->driver->select(store, "Link", &fs, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "symbolic link"));
	ck_assert_int_eq(store->driver->create_folder(store, "Link/Sub", &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "symbolic link"));
	ck_assert_int_eq(store->driver->create_folder(store, "Link", &err), -1);
	ck_assert_int_eq(store->driver->select(store, "Half", &fs, &err), -1);
	ck_assert_int_eq(count_files(outside), 3); /* cur new tmp, nothing added */
}
END_TEST

START_TEST(test_switching_layout_never_reuses_the_other_layouts_directories)
{
	struct folder_state fs;

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	create_ok("Work");
	store_close(store);
	store = NULL;
	open_store(LAYOUT_MAILDIRPP);
	ck_assert_str_eq(folders(), "");
	ck_assert_int_eq(store->driver->select(store, "Work", &fs, &err), -1);
	create_ok("INBOX");
	create_ok("Work");
	ck_assert(exists(at("cur")));
	ck_assert(exists(at(".Work/cur")));
	ck_assert_str_eq(folders(), "INBOX|Work");
}
END_TEST

START_TEST(test_directories_of_other_programs_keep_their_names)
{
	struct msg_list l;

	open_store(LAYOUT_VERBATIM);
	make_maildir(at("%%66oo"));  /* decodes to "foo", which ferry would write foo/ */
	make_maildir(at("odd%%zz")); /* an invalid escape stays literal */
	ck_assert_str_eq(folders(), "foo|odd%zz");
	select_ok("foo");
	deliver(MSG_A, 0, NULL, DATE);
	ck_assert_int_eq(count_files(at("%%66oo/new")), 1);
	ck_assert(!exists(at("foo")));
	/* A second directory decoding to the same name is skipped; the one
	 * the index remembers stays the folder. */
	make_maildir(at("foo"));
	ck_assert_str_eq(folders(), "foo|odd%zz");
	reopen();
	select_ok("foo");
	list_ok(&l);
	ck_assert_uint_eq(l.n, 1);
	msg_list_free(&l);
	select_ok("odd%zz");
}
END_TEST

/* ---- delivery ---- */

START_TEST(test_delivery_without_flags_lands_in_new_with_lf_and_its_date)
{
	struct folder_state fs;
	struct msg_list l;
	struct msg_id want;
	uint64_t size;
	struct stat sb;
	char *name, *text;
	uint32_t uid;

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	fs = select_ok("INBOX");
	uid = deliver(MSG_A, 0, NULL, DATE);
	ck_assert_uint_eq(uid, fs.uidnext);
	ck_assert_int_eq(count_files(at("INBOX/cur")), 0);
	ck_assert_int_eq(count_files(at("INBOX/tmp")), 0);
	name = only_file(at("INBOX/new"));
	ck_assert_ptr_nonnull(name);
	ck_assert_ptr_null(strstr(name, ":2,"));
	ck_assert_ptr_null(strchr(name, '/'));
	ck_assert_ptr_nonnull(strstr(name, ".M"));
	text = slurp(at("INBOX/new/%s", name));
	ck_assert_str_eq(text, MSG_A_LF);
	ck_assert_int_eq(stat(at("INBOX/new/%s", name), &sb), 0);
	ck_assert_int_eq(sb.st_mtime, DATE);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);

	want = identity_of(MSG_A, &size);
	ck_assert_uint_eq(size, strlen(MSG_A));
	list_ok(&l);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(l.v[0].uid, uid);
	ck_assert_uint_eq(l.v[0].flags, 0);
	ck_assert_ptr_null(l.v[0].keywords);
	ck_assert_uint_eq(l.v[0].size, strlen(MSG_A));
	ck_assert_int_eq(l.v[0].date, DATE);
	ck_assert(msg_id_known(&l.v[0]));
	ck_assert_mem_eq(l.v[0].ident->hash, want.hash, 32);
	msg_list_free(&l);
	free(name);
	free(text);
}
END_TEST

START_TEST(test_delivery_with_flags_lands_in_cur_with_sorted_letters)
{
	struct msg_list l;
	char *name, *suffix;
	uint32_t uid;

	open_store(LAYOUT_MAILDIRPP);
	create_ok("Work");
	select_ok("Work");
	uid = deliver(MSG_B, MF_SEEN | MF_FLAGGED | MF_ANSWERED | MF_DRAFT | MF_FORWARDED,
		      "work $Label1", DATE);
	ck_assert_int_eq(count_files(at(".Work/new")), 0);
	name = only_file(at(".Work/cur"));
	suffix = strstr(name, ":2,");
	ck_assert_ptr_nonnull(suffix);
	ck_assert_str_eq(suffix, ":2,DFPRS");
	list_ok(&l);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(l.v[0].uid, uid);
	ck_assert_uint_eq(l.v[0].flags,
			  MF_SEEN | MF_FLAGGED | MF_ANSWERED | MF_DRAFT | MF_FORWARDED);
	ck_assert_str_eq(l.v[0].keywords, "$Label1 work");
	msg_list_free(&l);
	free(name);
}
END_TEST

/* The identity's CRLF size skips from LF to LF: it must not depend on where
 * the chunks end, whatever mix of CR, LF and CRLF the bytes hold. */
START_TEST(test_identity_is_the_same_however_the_bytes_are_split)
{
	static const char alphabet[] = "\r\n\nab:";
	unsigned seed = 1;

	for (int round = 0; round < 300; round++) {
		char text[200];
		size_t len = (size_t)(rand_r(&seed) % (sizeof(text) - 1)) + 1;
		uint64_t want = 0, whole_size = 0, split_size = 0;
		struct msg_id whole, split;
		struct ident id;

		for (size_t i = 0; i < len; i++)
			text[i] = alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
		for (size_t i = 0; i < len; i++) /* one CR per bare LF */
			want += 1 + (text[i] == '\n' && (i == 0 || text[i - 1] != '\r'));
		ck_assert_int_eq(ident_init(&id), 0);
		ck_assert_int_eq(ident_feed(&id, text, len), 0);
		ck_assert_int_eq(ident_final(&id, &whole, &whole_size), 0);
		ck_assert_int_eq(ident_init(&id), 0);
		for (size_t at = 0; at < len;) {
			size_t n = (size_t)(rand_r(&seed) % 4);

			n = n > len - at ? len - at : n;
			ck_assert_int_eq(ident_feed(&id, text + at, n), 0);
			at += n;
		}
		ck_assert_int_eq(ident_final(&id, &split, &split_size), 0);
		ck_assert_uint_eq(whole_size, want);
		ck_assert_uint_eq(split_size, want);
		ck_assert_mem_eq(whole.hash, split.hash, sizeof(whole.hash));
	}
}
END_TEST

/* Cyrus stores a header with each 8-bit byte turned into 'X' (munge8bit):
 * the munged hash sees through that, and nothing else. */
START_TEST(test_munged_hash_reads_8bit_header_bytes_as_x)
{
	static const char sent[] = "Subject: Gr\xc3\xbc\xc3\x9f"
				   "e\nFrom: a@b\n\nK\xc3\xb6ln\n";
	static const char stored[] = "Subject: GrXXXXe\r\nFrom: a@b\r\n\r\nK\xc3\xb6ln\r\n";
	static const char ascii[] = "Subject: Hello\n\nK\xc3\xb6ln\n";
	uint64_t sent_size, stored_size;
	struct msg_id a = identity_of(sent, &sent_size), b = identity_of(stored, &stored_size);
	struct msg_id c = identity_of(ascii, NULL);

	ck_assert(a.munged_known && b.munged_known && c.munged_known);
	ck_assert_uint_eq(sent_size, stored_size);
	ck_assert_mem_ne(a.hash, b.hash, sizeof(a.hash));
	ck_assert_mem_eq(a.munged, b.munged, sizeof(a.munged));
	/* An ASCII header: the munged hash is the hash (8-bit in the body counts not). */
	ck_assert_mem_eq(c.munged, c.hash, sizeof(c.munged));
	ck_assert_mem_ne(c.munged, a.munged, sizeof(c.munged));
	/* Fed a byte at a time, 8-bit bytes straddling the feeds: the same. */
	struct ident id;
	struct msg_id split;
	ck_assert_int_eq(ident_init(&id), 0);
	for (size_t i = 0; i < sizeof(sent) - 1; i++)
		ck_assert_int_eq(ident_feed(&id, sent + i, 1), 0);
	ck_assert_int_eq(ident_final(&id, &split, NULL), 0);
	ck_assert_mem_eq(split.hash, a.hash, sizeof(a.hash));
	ck_assert_mem_eq(split.munged, a.munged, sizeof(a.munged));
}
END_TEST

START_TEST(test_delivery_converts_crlf_split_across_chunks)
{
	static const char *const chunks[] = {"Subject: x\r", "\n\r", "\nline\r", "\nbare\rcr\r",
					     "\r",	     "\n",   "end\r",	 NULL};
	char *name, *text;

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	select_ok("INBOX");
	deliver_chunks(chunks, 0, NULL, DATE);
	name = only_file(at("INBOX/new"));
	text = slurp(at("INBOX/new/%s", name));
	/* A CR before LF goes, even across writes; other CRs stay. */
	ck_assert_str_eq(text, "Subject: x\n\nline\nbare\rcr\r\nend\r");
	free(name);
	free(text);
}
END_TEST

START_TEST(test_delivery_date_zero_means_now)
{
	struct msg_list l;
	time_t before = time(NULL);

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	select_ok("INBOX");
	deliver(MSG_A, 0, NULL, 0);
	list_ok(&l);
	ck_assert_int_ge(l.v[0].date, before);
	ck_assert_int_le(l.v[0].date, time(NULL));
	msg_list_free(&l);
}
END_TEST

START_TEST(test_aborted_delivery_leaves_nothing)
{
	struct store_new_msg *m;
	struct folder_state fs;

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	select_ok("INBOX");
	ck_assert_int_eq(store->driver->add_begin(store, &m, &err), 0);
	ck_assert_int_eq(store->driver->add_write(m, MSG_A, 10, &err), 0);
	ck_assert_int_eq(count_files(at("INBOX/tmp")), 1);
	store->driver->add_abort(m);
	ck_assert_int_eq(count_files(at("INBOX/tmp")), 0);
	ck_assert_int_eq(count_files(at("INBOX/new")), 0);
	fs = select_ok("INBOX");
	ck_assert_uint_eq(fs.exists, 0);
}
END_TEST

START_TEST(test_uids_grow_and_select_reports_the_folder)
{
	struct folder_state a, b;
	uint32_t u1, u2, u3;

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	a = select_ok("INBOX");
	u1 = deliver(MSG_A, 0, NULL, DATE);
	u2 = deliver(MSG_B, MF_SEEN, NULL, DATE);
	u3 = deliver(MSG_C, 0, NULL, DATE);
	ck_assert(u1 < u2 && u2 < u3);
	b = select_ok("INBOX");
	ck_assert_uint_eq(b.uidvalidity, a.uidvalidity);
	ck_assert_uint_eq(b.exists, 3);
	ck_assert_uint_eq(b.uidnext, u3 + 1);
	ck_assert_uint_gt(b.highestmodseq, a.highestmodseq);
	/* Selecting again with nothing changed changes nothing. */
	a = select_ok("INBOX");
	ck_assert_uint_eq(a.highestmodseq, b.highestmodseq);
	ck_assert_uint_eq(a.uidnext, b.uidnext);
}
END_TEST

/* ---- other programs ---- */

START_TEST(test_renames_and_deletions_by_other_programs_are_seen)
{
	struct folder_state before, after;
	struct msg_list l;
	char *a, *b;
	uint32_t ua, ub, uc;
	const struct msg *m;

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	before = select_ok("INBOX");
	ua = deliver(MSG_A, 0, NULL, DATE);
	a = only_file(at("INBOX/new"));
	ub = deliver(MSG_B, MF_FLAGGED, "kw", DATE);
	b = only_file(at("INBOX/cur"));
	before = select_ok("INBOX");
	/* A mail reader reads A (new/ -> cur/ with S), deletes B, and
	 * another delivery agent drops C in cur/ with a keyword letter. */
	ck_assert_int_eq(rename(at("INBOX/new/%s", a), at("INBOX/cur/%s:2,S", a)), 0);
	ck_assert_int_eq(unlink(at("INBOX/cur/%s", b)), 0);
	spit(at("INBOX/cur/1700000000.M1P1.other:2,Ra"), MSG_C);
	after = select_ok("INBOX");
	ck_assert_uint_eq(after.uidvalidity, before.uidvalidity);
	ck_assert_uint_gt(after.highestmodseq, before.highestmodseq);
	ck_assert_uint_eq(after.exists, 2);
	list_ok(&l);
	ck_assert_uint_eq(l.n, 2);
	m = find_uid(&l, ua);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->flags, MF_SEEN);
	ck_assert_ptr_null(find_uid(&l, ub));
	uc = l.v[1].uid;
	ck_assert_uint_gt(uc, ub);
	ck_assert_uint_eq(l.v[1].flags, MF_ANSWERED);
	ck_assert(msg_id_known(&l.v[1]));
	msg_list_free(&l);
	/* Setting a flag keeps the letter ferry does not manage. */
	ck_assert_int_eq(store->driver->set_flags(store, &uc, 1, MF_FLAGGED, 0, NULL, NULL, &err),
			 0);
	ck_assert(exists(at("INBOX/cur/1700000000.M1P1.other:2,FRa")));
	free(a);
	free(b);
}
END_TEST

START_TEST(test_malformed_file_names_are_skipped)
{
	struct folder_state fs;
	struct msg_list l;

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	spit(at("INBOX/cur/.hidden"), MSG_A);
	spit(at("INBOX/cur/bad\nname"), MSG_A);
	spit(at("INBOX/cur/:2,S"), MSG_A);
	spit(at("INBOX/new/ctrl\x01"), MSG_A);
	ck_assert_int_eq(mkdir(at("INBOX/cur/subdir"), 0700), 0);
	ck_assert_int_eq(mkfifo(at("INBOX/new/fifo"), 0600), 0);
	ck_assert_int_eq(symlink("/etc/passwd", at("INBOX/new/link")), 0);
	spit(at("INBOX/cur/good:2,S"), MSG_B);
	spit(at("INBOX/cur/weird:2,S!x,"), MSG_C); /* odd letters are kept, not an error */
	fs = select_ok("INBOX");
	ck_assert_uint_eq(fs.exists, 2);
	list_ok(&l);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_uint_eq(l.v[0].flags, MF_SEEN);
	msg_list_free(&l);
}
END_TEST

START_TEST(test_missing_subdirectory_is_an_error_not_an_empty_folder)
{
	struct folder_state fs;
	struct msg_list l;
	uint32_t uid;

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	select_ok("INBOX");
	uid = deliver(MSG_A, MF_SEEN, "kw", DATE);
	select_ok("INBOX");
	ck_assert_int_eq(rename(at("INBOX/cur"), at("INBOX/cur.away")), 0);
	ck_assert_int_eq(store->driver->select(store, "INBOX", &fs, &err), -1);
	ck_assert_int_eq(rename(at("INBOX/cur.away"), at("INBOX/cur")), 0);
	select_ok("INBOX");
	list_ok(&l);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(l.v[0].uid, uid); /* nothing was forgotten meanwhile */
	ck_assert_str_eq(l.v[0].keywords, "kw");
	msg_list_free(&l);
}
END_TEST

START_TEST(test_tmp_is_never_read)
{
	struct folder_state fs;

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	spit(at("INBOX/tmp/1700000000.M1P1.other"), MSG_A); /* a delivery under way */
	fs = select_ok("INBOX");
	ck_assert_uint_eq(fs.exists, 0);
	ck_assert(exists(at("INBOX/tmp/1700000000.M1P1.other"))); /* and not removed: it is fresh */
}
END_TEST

START_TEST(test_new_files_get_uids_in_name_order)
{
	static const char *const names[] = {"1600000010.x", "1600000002.x", "1600000001.x",
					    "1600000100.x"};
	static const char *const order[] = {"1600000001.x", "1600000002.x", "1600000010.x",
					    "1600000100.x"};
	struct msg_list l;
	struct msg_id want;
	char text[128];

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	for (int i = 0; i < 4; i++) {
		snprintf(text, sizeof(text), "Subject: %s\n\nx\n", names[i]);
		spit(at("INBOX/new/%s", names[i]), text);
	}
	select_ok("INBOX");
	list_ok(&l);
	ck_assert_uint_eq(l.n, 4);
	for (size_t i = 0; i < 4; i++) {
		snprintf(text, sizeof(text), "Subject: %s\n\nx\n", order[i]);
		want = identity_of(text, NULL);
		ck_assert_uint_eq(l.v[i].uid, i + 1);
		ck_assert_mem_eq(l.v[i].ident->hash, want.hash, 32);
	}
	msg_list_free(&l);
}
END_TEST

START_TEST(test_file_edited_in_place_is_a_new_message)
{
	struct msg_list l;
	char *name;
	uint32_t uid;

	open_store(LAYOUT_VERBATIM);
	create_ok("Drafts");
	select_ok("Drafts");
	uid = deliver(MSG_A, MF_DRAFT, "todo", DATE);
	name = only_file(at("Drafts/cur"));
	/* Same name, new content, written as editors and mail clients do: a new
	 * file renamed over the old one. */
	spit(at("Drafts/edited"), MSG_C);
	ck_assert_int_eq(rename(at("Drafts/edited"), at("Drafts/cur/%s", name)), 0);
	set_mtime(at("Drafts/cur"), time(NULL) + 5);
	select_ok("Drafts");
	list_ok(&l);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_gt(l.v[0].uid, uid);
	ck_assert_uint_eq(l.v[0].flags, MF_DRAFT);
	ck_assert_str_eq(l.v[0].keywords, "todo");
	ck_assert_uint_eq(l.v[0].size, strlen(MSG_C) + 4); /* 4 LFs become CRLF */
	msg_list_free(&l);
	free(name);
}
END_TEST

/* ---- flags, deletion, fetch ---- */

/* Runs one SQL text against the index behind the store's back. */
static void index_exec(const char *sql)
{
	sqlite3 *db;
	char *msg = NULL;

	ck_assert_int_eq(sqlite3_open(at("..ferry-index.sqlite"), &db), SQLITE_OK);
	ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK, "%s", msg);
	ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
}

static int64_t index_int(const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v;

	ck_assert_int_eq(sqlite3_open(at("..ferry-index.sqlite"), &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
	return v;
}

/* Takes an index back to what ferry wrote before schema 3: no tombstones
 * (nor, from schema 4, rows sums, nor, from schema 5, keywords_known, nor, from 6, modseqs). */
#define UNDO_SCHEMA_3                                                                              \
	"DROP TABLE modseqs; ALTER TABLE messages DROP COLUMN keywords_known; "                    \
	"ALTER TABLE folders DROP COLUMN rows_sum; "                                               \
	"DROP TABLE expunged; DROP INDEX messages_modseq; "                                        \
	"ALTER TABLE folders DROP COLUMN expunged_floor; "

START_TEST(test_index_of_version_1_is_upgraded_and_learns_inodes)
{
	struct msg_list l;
	char *name;
	uint32_t uid;

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	select_ok("INBOX");
	uid = deliver(MSG_A, 0, NULL, DATE);
	store_close(store);
	store = NULL;
	ck_assert_int_gt(index_int("SELECT ino FROM messages"), 0);
	/* What ferry 0.1's index looked like: no tombstones, no inode column. */
	index_exec(UNDO_SCHEMA_3 "ALTER TABLE messages DROP COLUMN ino; PRAGMA user_version = 1");
	open_store(LAYOUT_VERBATIM);
	/* A mail client marks it read: the rescan stats it and keeps its uid. */
	name = only_file(at("INBOX/new"));
	ck_assert_int_eq(rename(at("INBOX/new/%s", name), at("INBOX/cur/%s:2,S", name)), 0);
	free(name);
	set_mtime(at("INBOX/cur"), time(NULL) + 5);
	select_ok("INBOX");
	ck_assert_int_eq(index_int("PRAGMA user_version"), 7);
	list_ok(&l);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(l.v[0].uid, uid);
	ck_assert_uint_eq(l.v[0].flags, MF_SEEN);
	msg_list_free(&l);
	ck_assert_int_gt(index_int("SELECT ino FROM messages"), 0);
}
END_TEST

/* own_state: the folder as it is now, or as seen when anything but this
 * handle's own operations changed it since. */
static void settled(void *ctx, size_t seq, uint32_t uid, const struct msg_id *stored)
{
	(void)ctx;
	(void)seq;
	(void)uid;		    /* a Maildir gave the uid at add_commit */
	ck_assert_ptr_null(stored); /* the file is the bytes written */
}

static struct folder_state own_state_of(const char *name, const struct folder_state *seen)
{
	struct folder_state out;

	store->driver->own_state(store, name, seen, &out);
	return out;
}

/* Rows from before schema 5 may be files another program refiled (whose
 * keywords were left behind), so they count as unknown: taking the pair's
 * keywords never removes one anywhere (rule 15). */
START_TEST(test_rows_from_before_schema_5_have_unknown_keywords)
{
	struct msg_list l;

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	select_ok("INBOX");
	deliver(MSG_A, MF_SEEN, "kw", DATE);
	store_close(store);
	store = NULL;
	index_exec("DROP TABLE modseqs; ALTER TABLE messages DROP COLUMN keywords_known; "
		   "PRAGMA user_version = 4");
	open_store(LAYOUT_VERBATIM);
	select_ok("INBOX");
	ck_assert_int_eq(index_int("PRAGMA user_version"), 7);
	list_ok(&l);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_str_eq(l.v[0].keywords, "kw");
	ck_assert(l.v[0].keywords_unknown);
	msg_list_free(&l);
}
END_TEST

/* Hashes from before schema 7 are of identity version 1, which counted
 * the header lines mbsync and offlineimap add (rule 6): they are dropped,
 * and the file is read again for its version 2 identity and size. */
START_TEST(test_index_from_before_identity_version_2_reads_files_again)
{
	static const char with_tuid[] = "From: a@example.org\nX-TUID: abcdefghijkl\n"
					"Subject: moved in\n\nbody\n";
	static const char without[] = "From: a@example.org\nSubject: moved in\n\nbody\n";
	uint64_t want_size;
	struct msg_id want = identity_of(without, &want_size);
	struct msg_list l;

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	select_ok("INBOX");
	deliver(with_tuid, MF_SEEN, NULL, DATE);
	store_close(store);
	store = NULL;
	/* what schema 6 held: the hash and size with the X-TUID line */
	index_exec("UPDATE messages SET hash = zeroblob(32), size = size + 22; "
		   "PRAGMA user_version = 6");
	open_store(LAYOUT_VERBATIM);
	select_ok("INBOX");
	ck_assert_int_eq(index_int("PRAGMA user_version"), 7);
	list_ok(&l);
	ck_assert_uint_eq(l.n, 1);
	ck_assert(!msg_id_known(&l.v[0]));
	ck_assert_int_eq(store_identify(store, l.v, l.n, &err), 0);
	ck_assert(msg_id_known(&l.v[0]));
	ck_assert_mem_eq(l.v[0].ident->hash, want.hash, sizeof(want.hash));
	ck_assert_uint_eq(l.v[0].size, want_size);
	msg_list_free(&l);
	/* and the index has them now */
	ck_assert_int_eq(index_int("SELECT size FROM messages"), (int64_t)want_size);
	ck_assert_int_eq(index_int("SELECT count(*) FROM messages WHERE hash IS NOT NULL"), 1);
}
END_TEST

START_TEST(test_own_changes_are_told_from_other_programs)
{
	struct folder_state seen, now, after;
	uint32_t a, b;
	char *name;

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	select_ok("INBOX");
	a = deliver(MSG_A, 0, NULL, DATE);
	b = deliver(MSG_B, 0, NULL, DATE);
	ck_assert_msg(store->driver->add_flush(store, settled, NULL, NULL, &err) == 0, "%s",
		      err.msg);

	/* Only its own changes since the select: the state now. */
	seen = select_ok("INBOX");
	ck_assert_int_eq(store->driver->set_flags(store, &a, 1, MF_SEEN, 0, NULL, NULL, &err), 0);
	deliver(MSG_C, MF_SEEN, NULL, DATE);
	ck_assert_msg(store->driver->add_flush(store, settled, NULL, NULL, &err) == 0, "%s",
		      err.msg);
	now = own_state_of("INBOX", &seen);
	ck_assert_uint_gt(now.highestmodseq, seen.highestmodseq);
	ck_assert_uint_eq(now.uidnext, seen.uidnext + 1);
	/* Selecting again finds nothing new: still its own. */
	after = select_ok("INBOX");
	ck_assert_uint_eq(own_state_of("INBOX", &seen).highestmodseq, after.highestmodseq);

	/* A mail client's change found by a rescan: as seen. */
	seen = select_ok("INBOX");
	name = only_file(at("INBOX/new"));
	ck_assert_int_eq(rename(at("INBOX/new/%s", name), at("INBOX/cur/%s:2,F", name)), 0);
	set_mtime(at("INBOX/cur"), time(NULL) + 5);
	select_ok("INBOX");
	ck_assert_int_eq(store->driver->set_flags(store, &a, 1, MF_ANSWERED, 0, NULL, NULL, &err),
			 0);
	now = own_state_of("INBOX", &seen);
	ck_assert_uint_eq(now.highestmodseq, seen.highestmodseq);
	ck_assert_uint_eq(now.uidnext, seen.uidnext);
	free(name);

	/* A file another program renamed, found again by an operation of ours
	 * without a rescan in between: as seen. */
	seen = select_ok("INBOX");
	name = file_ending(at("INBOX/cur"), ":2,F");
	ck_assert_int_eq(rename(at("INBOX/cur/%s", name),
				at("INBOX/cur/%.*s:2,FS", (int)strlen(name) - 4, name)),
			 0);
	free(name);
	ck_assert_int_eq(store->driver->set_flags(store, &b, 1, MF_ANSWERED, 0, NULL, NULL, &err),
			 0);
	name = file_ending(at("INBOX/cur"), ":2,FRS");
	ck_assert_ptr_nonnull(name);
	free(name);
	now = own_state_of("INBOX", &seen);
	ck_assert_uint_eq(now.highestmodseq, seen.highestmodseq);
}
END_TEST

/* Parallel workers share the index: a batch of deliveries waiting for its
 * flush must not hold the index's write lock while the bodies arrive. */
START_TEST(test_a_batch_of_deliveries_leaves_the_index_writable)
{
	struct msg_list l;

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	select_ok("INBOX");
	deliver(MSG_A, 0, NULL, DATE);
	deliver(MSG_B, MF_SEEN, NULL, DATE);
	index_exec("BEGIN IMMEDIATE; COMMIT"); /* SQLITE_BUSY at once if held */
	list_ok(&l);
	ck_assert_uint_eq(l.n, 2);
	msg_list_free(&l);
}
END_TEST

START_TEST(test_set_flags_renames_and_keywords_stay_in_the_index)
{
	struct folder_state a, b;
	struct msg_list l;
	char *name, *uniq;
	uint32_t uid;

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	select_ok("INBOX");
	uid = deliver(MSG_A, 0, NULL, DATE);
	uniq = only_file(at("INBOX/new"));
	a = select_ok("INBOX");
	ck_assert_int_eq(
	    store->driver->set_flags(store, &uid, 1, MF_SEEN | MF_ANSWERED, 0, NULL, NULL, &err),
	    0);
	ck_assert_int_eq(count_files(at("INBOX/new")), 0);
	ck_assert(exists(at("INBOX/cur/%s:2,RS", uniq)));
	ck_assert_int_eq(store->driver->set_flags(store, &uid, 1, MF_DELETED, MF_SEEN,
						  "$Junk later", NULL, &err),
			 0);
	ck_assert(exists(at("INBOX/cur/%s:2,RT", uniq)));
	ck_assert_int_eq(store->driver->set_flags(store, &uid, 1, 0, MF_ALL, NULL, "later", &err),
			 0);
	name = only_file(at("INBOX/cur"));
	ck_assert_str_eq(strstr(name, ":2,"), ":2,");
	b = select_ok("INBOX");
	ck_assert_uint_gt(b.highestmodseq, a.highestmodseq);
	list_ok(&l);
	ck_assert_uint_eq(l.v[0].flags, 0);
	ck_assert_str_eq(l.v[0].keywords, "$Junk");
	msg_list_free(&l);
	/* Nothing to change: no rename, no modseq. */
	ck_assert_int_eq(store->driver->set_flags(store, &uid, 1, 0, MF_SEEN, NULL, "absent", &err),
			 0);
	a = select_ok("INBOX");
	ck_assert_uint_eq(a.highestmodseq, b.highestmodseq);
	free(name);
	free(uniq);
}
END_TEST

/* Rule 15: a file name cannot carry keywords. A file another program
 * refiled (mv into another folder, or rewritten under a new name) arrives
 * with its keywords unknown, not "none", until ferry sets them; a rename in
 * place (flags) keeps the row and its keywords. */
START_TEST(test_keywords_of_files_refiled_by_other_programs_are_unknown_until_set)
{
	struct msg_list l;
	const struct msg *m;
	char *name;
	uint32_t ua, ub, moved, dropped;

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	create_ok("Archive");
	select_ok("INBOX");
	ua = deliver(MSG_A, MF_SEEN, "$Label1 work", DATE);
	ub = deliver(MSG_B, MF_FLAGGED, "kept", DATE);
	list_ok(&l);
	ck_assert(!find_uid(&l, ua)->keywords_unknown);
	msg_list_free(&l);

	/* A mail reader marks B answered: the same row, keywords known. */
	name = file_ending(at("INBOX/cur"), ":2,F");
	ck_assert_ptr_nonnull(name);
	ck_assert_int_eq(rename(at("INBOX/cur/%s", name),
				at("INBOX/cur/%.*s:2,FR", (int)(strlen(name) - 4), name)),
			 0);
	free(name);
	set_mtime(at("INBOX/cur"), time(NULL) + 5);
	select_ok("INBOX");
	list_ok(&l);
	m = find_uid(&l, ub);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->flags, MF_FLAGGED | MF_ANSWERED);
	ck_assert_str_eq(m->keywords, "kept");
	ck_assert(!m->keywords_unknown);
	msg_list_free(&l);

	/* A is moved to Archive with mv, and another program drops a file. */
	name = file_ending(at("INBOX/cur"), ":2,S");
	ck_assert_ptr_nonnull(name);
	ck_assert_int_eq(rename(at("INBOX/cur/%s", name), at("Archive/cur/%s", name)), 0);
	free(name);
	spit(at("Archive/cur/1700000000.M1P1.other:2,S"), MSG_C);
	select_ok("Archive");
	list_ok(&l);
	ck_assert_uint_eq(l.n, 2);
	for (size_t i = 0; i < l.n; i++) {
		ck_assert_ptr_null(l.v[i].keywords);
		ck_assert(l.v[i].keywords_unknown);
	}
	moved = l.v[0].size == strlen(MSG_A) ? l.v[0].uid : l.v[1].uid;
	dropped = l.v[0].size == strlen(MSG_A) ? l.v[1].uid : l.v[0].uid;
	msg_list_free(&l);

	/* ferry gives A its keywords back; a flag change on the other says
	 * it has none: both known from then on, also after a reopen. */
	ck_assert_int_eq(
	    store->driver->set_flags(store, &moved, 1, 0, 0, "$Label1 work", NULL, &err), 0);
	ck_assert_int_eq(
	    store->driver->set_flags(store, &dropped, 1, MF_FLAGGED, 0, NULL, NULL, &err), 0);
	store_close(store);
	store = NULL;
	open_store(LAYOUT_VERBATIM);
	select_ok("Archive");
	list_ok(&l);
	m = find_uid(&l, moved);
	ck_assert_str_eq(m->keywords, "$Label1 work");
	ck_assert(!m->keywords_unknown);
	m = find_uid(&l, dropped);
	ck_assert_ptr_null(m->keywords);
	ck_assert(!m->keywords_unknown);
	msg_list_free(&l);
}
END_TEST

START_TEST(test_set_flags_after_another_program_renamed_the_file)
{
	struct msg_list l;
	char *uniq, *gone;
	uint32_t uids[2];

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	select_ok("INBOX");
	uids[0] = deliver(MSG_A, 0, NULL, DATE);
	uniq = only_file(at("INBOX/new"));
	uids[1] = deliver(MSG_B, MF_SEEN, NULL, DATE);
	gone = only_file(at("INBOX/cur"));
	select_ok("INBOX");
	/* Between ferry's scan and its flag change, a reader flags A and
	 * another deletes B. */
	ck_assert_int_eq(rename(at("INBOX/new/%s", uniq), at("INBOX/cur/%s:2,F", uniq)), 0);
	ck_assert_int_eq(unlink(at("INBOX/cur/%s", gone)), 0);
	ck_assert_int_eq(store->driver->set_flags(store, uids, 2, MF_SEEN, 0, NULL, NULL, &err), 0);
	ck_assert(exists(at("INBOX/cur/%s:2,FS", uniq)));
	select_ok("INBOX");
	list_ok(&l);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(l.v[0].flags, MF_FLAGGED | MF_SEEN);
	msg_list_free(&l);
	free(uniq);
	free(gone);
}
END_TEST

START_TEST(test_delete_unlinks_and_tolerates_files_already_gone)
{
	struct folder_state fs;
	struct msg_list l;
	char *uniq;
	uint32_t uids[3];

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	select_ok("INBOX");
	uids[0] = deliver(MSG_A, 0, NULL, DATE);
	uniq = only_file(at("INBOX/new"));
	uids[1] = deliver(MSG_B, MF_SEEN, NULL, DATE);
	uids[2] = deliver(MSG_C, MF_SEEN, NULL, DATE);
	select_ok("INBOX");
	/* A is renamed by a reader since the scan: the renamed file goes. */
	ck_assert_int_eq(rename(at("INBOX/new/%s", uniq), at("INBOX/cur/%s:2,S", uniq)), 0);
	ck_assert_int_eq(store->driver->delete_msgs(store, uids, 2, &err), 0);
	ck_assert(!exists(at("INBOX/cur/%s:2,S", uniq)));
	ck_assert_int_eq(count_files(at("INBOX/cur")), 1);
	ck_assert_int_eq(store->driver->delete_msgs(store, uids, 2, &err), 0); /* again: fine */
	fs = select_ok("INBOX");
	ck_assert_uint_eq(fs.exists, 1);
	list_ok(&l);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(l.v[0].uid, uids[2]);
	msg_list_free(&l);
	free(uniq);
}
END_TEST

/* A sink that keeps the last message and counts begun/ended ones. */
struct collect {
	char buf[4096];
	size_t len;
	int begun, ended, aborted;
	uint32_t last_uid;
};

static int collect_begin(void *ctx, struct ferry_error *e)
{
	struct collect *c = ctx;

	(void)e;
	c->len = 0;
	c->begun++;
	return 0;
}

static int collect_write(void *ctx, const char *buf, size_t len, struct ferry_error *e)
{
	struct collect *c = ctx;

	(void)e;
	ck_assert_uint_lt(c->len + len, sizeof(c->buf));
	memcpy(c->buf + c->len, buf, len);
	c->len += len;
	c->buf[c->len] = '\0';
	return 0;
}

static int collect_end(void *ctx, uint32_t uid, struct ferry_error *e)
{
	struct collect *c = ctx;

	(void)e;
	c->ended++;
	c->last_uid = uid;
	return 0;
}

static void collect_abort(void *ctx)
{
	((struct collect *)ctx)->aborted++;
}

START_TEST(test_fetch_streams_files_and_follows_or_skips_vanished_ones)
{
	struct collect c = {0};
	struct fetch_sink sink = {&c, collect_begin, collect_write, collect_end, collect_abort};
	char *uniq;
	uint32_t uid, missing = 999;

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	select_ok("INBOX");
	uid = deliver(MSG_A, 0, NULL, DATE);
	uniq = only_file(at("INBOX/new"));
	ck_assert_int_eq(store->driver->fetch(store, &uid, 1, &sink, &err), 0);
	ck_assert_int_eq(c.ended, 1);
	ck_assert_uint_eq(c.last_uid, uid);
	ck_assert_str_eq(c.buf, MSG_A_LF);
	/* Renamed by a reader: found again by its unique part. */
	ck_assert_int_eq(rename(at("INBOX/new/%s", uniq), at("INBOX/cur/%s:2,S", uniq)), 0);
	ck_assert_int_eq(store->driver->fetch(store, &uid, 1, &sink, &err), 0);
	ck_assert_int_eq(c.ended, 2);
	ck_assert_str_eq(c.buf, MSG_A_LF);
	/* Deleted, or never there: skipped, not an error (rule 12). */
	ck_assert_int_eq(unlink(at("INBOX/cur/%s:2,S", uniq)), 0);
	ck_assert_int_eq(store->driver->fetch(store, &uid, 1, &sink, &err), 0);
	ck_assert_int_eq(store->driver->fetch(store, &missing, 1, &sink, &err), 0);
	ck_assert_int_eq(c.begun, 2);
	ck_assert_int_eq(c.aborted, 0);
	free(uniq);
}
END_TEST

START_TEST(test_identify_fills_missing_identities)
{
	struct msg_list l;
	struct msg_id want = identity_of(MSG_B, NULL);

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	select_ok("INBOX");
	deliver(MSG_B, 0, NULL, DATE);
	list_ok(&l);
	ck_assert_int_eq(msg_set_id(&l.v[0], &(struct msg_id){0}), 0);
	ck_assert_int_eq(store->driver->identify(store, l.v, l.n, &err), 0);
	ck_assert(msg_id_known(&l.v[0]));
	ck_assert_mem_eq(l.v[0].ident->hash, want.hash, 32);
	msg_list_free(&l);
}
END_TEST

/* ---- moves (rule 8) ---- */

/* A folder's directory below root in the store's layout, for the two
 * folders the move tests use. */
static const char *dir_of(const char *name)
{
	bool pp = conf.maildir.layout == LAYOUT_MAILDIRPP;

	if (!strcmp(name, "INBOX"))
		return pp ? "." : "INBOX";
	if (!strcmp(name, "Archiv/Entwürfe"))
		return pp ? ".Archiv.Entwürfe" : "Archiv/Entwürfe";
	ck_abort_msg("no directory known for %s", name);
	return NULL;
}

static void move_ok(const uint32_t *uids, size_t n, const char *to, uint32_t *new_uids)
{
	ck_assert_msg(store->driver->move_msgs(store, uids, n, to, new_uids, &err) == 0, "%s: %s",
		      to, err.msg);
}

static ino_t inode_of(const char *path)
{
	struct stat sb;

	ck_assert_msg(stat(path, &sb) == 0, "%s: %s", path, strerror(errno));
	return sb.st_ino;
}

START_TEST(test_move_renames_files_and_keeps_flags_keywords_and_inodes)
{
	static const char to[] = "Archiv/Entwürfe";
	struct folder_state before, after, again;
	struct msg_list l;
	const struct msg *m;
	struct msg_id id_a = identity_of(MSG_A, NULL);
	uint32_t uids[3], new_uids[2] = {99, 99};
	char *a, *b;
	ino_t ino_a, ino_b;
	const char *in, *out;

	open_store((enum maildir_layout)_i);
	in = dir_of("INBOX");
	out = dir_of(to);
	create_ok("INBOX");
	create_ok(to);
	before = select_ok(to);
	select_ok("INBOX");
	uids[0] = deliver(MSG_A, 0, NULL, DATE); /* new/ */
	a = only_file(at("%s/new", in));
	uids[1] = deliver(MSG_B, MF_SEEN | MF_FLAGGED, "$Label1 work", DATE); /* cur/ */
	b = only_file(at("%s/cur", in));
	uids[2] = deliver(MSG_C, MF_SEEN, "stays", DATE);
	select_ok("INBOX");
	ino_a = inode_of(at("%s/new/%s", in, a));
	ino_b = inode_of(at("%s/cur/%s", in, b));

	move_ok(uids, 2, to, new_uids);
	ck_assert_uint_eq(new_uids[0], before.uidnext);
	ck_assert_uint_eq(new_uids[1], before.uidnext + 1);
	/* Renamed, same subdirectory, same name, same inode: never copied. */
	ck_assert(!exists(at("%s/new/%s", in, a)));
	ck_assert(!exists(at("%s/cur/%s", in, b)));
	ck_assert_uint_eq(inode_of(at("%s/new/%s", out, a)), ino_a);
	ck_assert_uint_eq(inode_of(at("%s/cur/%s", out, b)), ino_b);
	ck_assert_str_eq(strstr(b, ":2,"), ":2,FS");
	ck_assert_int_eq(count_files(at("%s/tmp", out)), 0);

	/* The source stays selected and lists only what stayed. */
	list_ok(&l);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(l.v[0].uid, uids[2]);
	ck_assert_str_eq(l.v[0].keywords, "stays");
	msg_list_free(&l);

	/* The target's scan finds the moved files as the rows the move made:
	 * no new uids, and no change beyond the move's own modseq. */
	after = select_ok(to);
	ck_assert_uint_eq(after.uidvalidity, before.uidvalidity);
	ck_assert_uint_eq(after.exists, 2);
	ck_assert_uint_eq(after.uidnext, before.uidnext + 2);
	/* One change: one more in the modseq's upper bits (above its 20
	 * random ones). */
	ck_assert_uint_eq(after.highestmodseq >> 20, (before.highestmodseq >> 20) + 1);
	list_ok(&l);
	ck_assert_uint_eq(l.n, 2);
	m = find_uid(&l, new_uids[0]);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->flags, 0);
	ck_assert_ptr_null(m->keywords);
	ck_assert_uint_eq(m->size, strlen(MSG_A));
	ck_assert_int_eq(m->date, DATE);
	ck_assert(msg_id_known(m));
	ck_assert_mem_eq(m->ident->hash, id_a.hash, 32);
	m = find_uid(&l, new_uids[1]);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->flags, MF_SEEN | MF_FLAGGED);
	ck_assert_str_eq(m->keywords, "$Label1 work");
	msg_list_free(&l);

	/* Read through again, in a new process: still no duplicate. */
	set_mtime(at("%s/cur", out), time(NULL) - 50);
	set_mtime(at("%s/new", out), time(NULL) - 50);
	reopen();
	again = select_ok(to);
	ck_assert_uint_eq(again.exists, 2);
	ck_assert_uint_eq(again.uidnext, after.uidnext);
	ck_assert_uint_eq(again.highestmodseq, after.highestmodseq);
	list_ok(&l);
	ck_assert_uint_eq(l.v[0].uid, new_uids[0]);
	ck_assert_uint_eq(l.v[1].uid, new_uids[1]);
	ck_assert_str_eq(l.v[1].keywords, "$Label1 work");
	msg_list_free(&l);
	after = select_ok("INBOX");
	ck_assert_uint_eq(after.exists, 1);
	free(a);
	free(b);
}
END_TEST

START_TEST(test_move_follows_a_renamed_file_and_skips_a_vanished_one)
{
	struct folder_state fs;
	struct msg_list l;
	uint32_t uids[3], new_uids[3];
	char *a, *b;

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	create_ok("Target");
	select_ok("INBOX");
	uids[0] = deliver(MSG_A, 0, "kw", DATE);
	a = only_file(at("INBOX/new"));
	uids[1] = deliver(MSG_B, MF_SEEN, NULL, DATE);
	b = only_file(at("INBOX/cur"));
	uids[2] = 999; /* never there */
	select_ok("INBOX");
	/* Between the scan and the move, a reader flags A and another deletes B. */
	ck_assert_int_eq(rename(at("INBOX/new/%s", a), at("INBOX/cur/%s:2,FS", a)), 0);
	ck_assert_int_eq(unlink(at("INBOX/cur/%s", b)), 0);
	move_ok(uids, 3, "Target", new_uids);
	ck_assert_uint_ne(new_uids[0], 0);
	ck_assert_uint_eq(new_uids[1], 0);
	ck_assert_uint_eq(new_uids[2], 0);
	ck_assert(exists(at("Target/cur/%s:2,FS", a)));
	ck_assert_int_eq(count_files(at("INBOX/cur")), 0);
	fs = select_ok("Target");
	ck_assert_uint_eq(fs.exists, 1);
	list_ok(&l);
	ck_assert_uint_eq(l.v[0].uid, new_uids[0]);
	ck_assert_uint_eq(l.v[0].flags, MF_FLAGGED | MF_SEEN);
	ck_assert_str_eq(l.v[0].keywords, "kw");
	msg_list_free(&l);
	fs = select_ok("INBOX");
	ck_assert_uint_eq(fs.exists, 0);
	free(a);
	free(b);
}
END_TEST

START_TEST(test_move_never_overwrites_a_message_of_the_same_name)
{
	struct msg_list l;
	uint32_t uids[3], new_uids[3], stale;
	char *a, *b, *c, *text;

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	create_ok("Target");
	select_ok("INBOX");
	/* C goes to Target, and its file is then removed there behind the
	 * index's back; a file of that name comes back in INBOX. */
	stale = deliver(MSG_C, 0, NULL, DATE);
	c = only_file(at("INBOX/new"));
	move_ok(&stale, 1, "Target", new_uids);
	ck_assert_int_eq(unlink(at("Target/new/%s", c)), 0);
	uids[0] = deliver(MSG_A, 0, NULL, DATE);
	a = only_file(at("INBOX/new"));
	uids[1] = deliver(MSG_B, MF_SEEN, NULL, DATE);
	b = only_file(at("INBOX/cur"));
	spit(at("INBOX/cur/%s:2,S", c), MSG_C);
	/* Another program left a file with A's unique part in Target. */
	spit(at("Target/cur/%s:2,S", a), MSG_C);
	select_ok("INBOX");
	list_ok(&l);
	ck_assert_uint_eq(l.n, 3);
	uids[2] = l.v[2].uid; /* C again, under a new uid */
	msg_list_free(&l);

	move_ok(uids, 3, "Target", new_uids);
	ck_assert_uint_eq(new_uids[0], 0); /* a file of that name is there */
	ck_assert_uint_ne(new_uids[1], 0);
	ck_assert_uint_eq(new_uids[2], 0); /* the index still has that name there */
	ck_assert(exists(at("INBOX/new/%s", a)));
	ck_assert(exists(at("INBOX/cur/%s:2,S", c)));
	ck_assert(exists(at("Target/cur/%s", b)));
	text = slurp(at("Target/cur/%s:2,S", a));
	ck_assert_str_eq(text, MSG_C); /* untouched */
	list_ok(&l);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_ptr_nonnull(find_uid(&l, uids[0]));
	ck_assert_ptr_nonnull(find_uid(&l, uids[2]));
	msg_list_free(&l);
	free(a);
	free(b);
	free(c);
	free(text);
}
END_TEST

START_TEST(test_move_to_a_missing_folder_or_its_own_is_an_error)
{
	struct msg_list l;
	uint32_t uid, new_uid = 99;

	open_store(LAYOUT_MAILDIRPP);
	create_ok("INBOX");
	select_ok("INBOX");
	uid = deliver(MSG_A, MF_SEEN, NULL, DATE);
	ck_assert_int_eq(store->driver->move_msgs(store, &uid, 1, "Nope/Nowhere", &new_uid, &err),
			 -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "Nope/Nowhere"));
	ck_assert_uint_eq(new_uid, 0);
	ck_assert(!exists(at(".Nope.Nowhere")));
	ck_assert_int_eq(store->driver->move_msgs(store, &uid, 1, "inbox", &new_uid, &err), -1);
	ck_assert_int_eq(count_files(at("cur")), 1);
	list_ok(&l);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(l.v[0].uid, uid);
	msg_list_free(&l);
	ck_assert_str_eq(folders(), "INBOX");
}
END_TEST

START_TEST(test_move_to_an_unsafe_name_is_refused_and_nothing_leaves_the_root)
{
	struct msg_list l;
	uint32_t uid, new_uid;

	for (int layout = LAYOUT_VERBATIM; layout <= LAYOUT_MAILDIRPP; layout++) {
		store_close(store);
		store = NULL;
		rm_rf(root);
		open_store((enum maildir_layout)layout);
		create_ok("INBOX");
		select_ok("INBOX");
		uid = deliver(MSG_A, 0, NULL, DATE);
		new_uid = 99;
		ck_assert_int_eq(
		    store->driver->move_msgs(store, &uid, 1, unsafe_names[_i], &new_uid, &err), -1);
		ck_assert_uint_eq(new_uid, 0);
		ck_assert(!exists(at("../escape")));
		ck_assert(!exists("/escape"));
		ck_assert_int_eq(count_files(base), 1); /* Mail only */
		ck_assert_str_eq(folders(), "INBOX");
		list_ok(&l);
		ck_assert_uint_eq(l.n, 1);
		msg_list_free(&l);
	}
}
END_TEST

/* Sets a folder's UIDNEXT in the index behind the store's back. */
static void force_uidnext(const char *name, uint32_t uidnext)
{
	sqlite3 *db;
	sqlite3_stmt *st;

	ck_assert_int_eq(sqlite3_open(at("..ferry-index.sqlite"), &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "UPDATE folders SET uidnext = ?1 WHERE name = ?2",
					    -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_int64(st, 1, uidnext);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
	ck_assert_int_eq(sqlite3_changes(db), 1);
	sqlite3_finalize(st);
	ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
}

START_TEST(test_move_failing_midway_puts_the_moved_files_back)
{
	struct folder_state fs;
	struct msg_list l;
	uint32_t uids[2], new_uids[2];
	char *a, *b;

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	create_ok("Target");
	select_ok("INBOX");
	uids[0] = deliver(MSG_A, 0, "kw", DATE);
	a = only_file(at("INBOX/new"));
	uids[1] = deliver(MSG_B, MF_SEEN, NULL, DATE);
	b = only_file(at("INBOX/cur"));
	store_close(store);
	store = NULL;
	/* Room for one uid in Target: the second message fails after the
	 * first was renamed. */
	force_uidnext("Target", UINT32_MAX - 1);
	open_store(LAYOUT_VERBATIM);
	select_ok("INBOX");
	ck_assert_int_eq(store->driver->move_msgs(store, uids, 2, "Target", new_uids, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "no uid left"));
	ck_assert_uint_eq(new_uids[0], 0);
	ck_assert_uint_eq(new_uids[1], 0);
	ck_assert(exists(at("INBOX/new/%s", a)));
	ck_assert(exists(at("INBOX/cur/%s", b)));
	ck_assert_int_eq(count_files(at("Target/new")) + count_files(at("Target/cur")), 0);
	list_ok(&l);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_str_eq(l.v[0].keywords, "kw");
	msg_list_free(&l);
	fs = select_ok("Target");
	ck_assert_uint_eq(fs.exists, 0);
	ck_assert_uint_eq(fs.uidnext, UINT32_MAX - 1);
	free(a);
	free(b);
}
END_TEST

/* ---- rescans (rule 4) ---- */

START_TEST(test_unchanged_old_directories_are_not_read_again)
{
	time_t old = time(NULL) - 100;
	struct folder_state fs;

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	select_ok("INBOX");
	deliver(MSG_A, 0, NULL, DATE);
	set_mtime(at("INBOX/cur"), old);
	set_mtime(at("INBOX/new"), old);
	fs = select_ok("INBOX"); /* scans; the mtimes are old enough to trust */
	ck_assert_uint_eq(fs.exists, 1);
	/* A file slipped in with the directory's mtime put back: no scan can
	 * see it, so none took place. */
	spit(at("INBOX/new/1700000000.sneaked"), MSG_B);
	set_mtime(at("INBOX/new"), old);
	fs = select_ok("INBOX");
	ck_assert_uint_eq(fs.exists, 1);
	/* The directory changes: read again. */
	set_mtime(at("INBOX/new"), old + 1);
	fs = select_ok("INBOX");
	ck_assert_uint_eq(fs.exists, 2);
}
END_TEST

START_TEST(test_directories_changed_within_a_second_of_the_scan_are_read_again)
{
	struct timespec t[2];
	struct stat sb;
	struct folder_state fs;

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	select_ok("INBOX");
	deliver(MSG_A, 0, NULL, DATE);
	fs = select_ok("INBOX"); /* new/ changed just now */
	ck_assert_uint_eq(fs.exists, 1);
	ck_assert_int_eq(stat(at("INBOX/new"), &sb), 0);
	spit(at("INBOX/new/1700000000.sametick"), MSG_B);
	t[0] = t[1] = sb.st_mtim; /* as if in the same clock tick */
	ck_assert_int_eq(utimensat(AT_FDCWD, at("INBOX/new"), t, 0), 0);
	fs = select_ok("INBOX");
	ck_assert_uint_eq(fs.exists, 2);
}
END_TEST

/* ---- rows sums: a rescan that readdir alone can settle ---- */

#define QUICK_LINE "%s: new/ or cur/ changed, but holds the indexed files"

/* The rows_sum of a folder as the index has it, read behind the store's
 * back: false when it is NULL (not known). */
static bool index_rows_sum(const char *folder, uint64_t v[2])
{
	sqlite3 *db;
	sqlite3_stmt *st;
	bool known;

	ck_assert_int_eq(sqlite3_open(at("..ferry-index.sqlite"), &db), SQLITE_OK);
	ck_assert_int_eq(
	    sqlite3_prepare_v2(db, "SELECT rows_sum FROM folders WHERE name = ?1", -1, &st, NULL),
	    SQLITE_OK);
	ck_assert_int_eq(sqlite3_bind_text(st, 1, folder, -1, SQLITE_STATIC), SQLITE_OK);
	ck_assert_msg(sqlite3_step(st) == SQLITE_ROW, "%s: no such folder in the index", folder);
	known = sqlite3_column_type(st, 0) != SQLITE_NULL;
	v[0] = v[1] = 0;
	if (known) {
		ck_assert_int_eq(sqlite3_column_type(st, 0), SQLITE_BLOB);
		ck_assert_int_eq(sqlite3_column_bytes(st, 0), 2 * sizeof(uint64_t));
		memcpy(v, sqlite3_column_blob(st, 0), 2 * sizeof(uint64_t));
	}
	sqlite3_finalize(st);
	ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
	return known;
}

/* The sum of mdindex_file_hash over the files in dir/new and dir/cur. */
static void files_sum(const char *dir, uint64_t v[2])
{
	v[0] = v[1] = 0;
	for (int in_cur = 0; in_cur < 2; in_cur++) {
		DIR *d = opendir(at("%s/%s", dir, in_cur ? "cur" : "new"));
		struct dirent *de;

		ck_assert_ptr_nonnull(d);
		while ((de = readdir(d))) {
			uint64_t h[2];

			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			ck_assert_int_eq(mdindex_file_hash(in_cur, de->d_name, de->d_ino, h, &err),
					 0);
			v[0] += h[0];
			v[1] += h[1];
		}
		closedir(d);
	}
}

/* The index's rows_sum of folder is known and sums exactly the files in
 * its directory dir. */
static void assert_rows_sum(const char *folder, const char *dir, const char *when)
{
	uint64_t got[2], want[2];

	ck_assert_msg(index_rows_sum(folder, got), "after %s: %s: rows_sum is NULL", when, folder);
	files_sum(dir, want);
	ck_assert_msg(got[0] == want[0] && got[1] == want[1],
		      "after %s: %s: rows_sum %016llx%016llx, but its files sum to %016llx%016llx",
		      when, folder, (unsigned long long)got[0], (unsigned long long)got[1],
		      (unsigned long long)want[0], (unsigned long long)want[1]);
}

/* Selects name with the trace on and stderr in a file: true when the
 * rescan found the directory holding exactly the indexed files. */
static bool select_quick(const char *name, struct folder_state *fs)
{
	enum log_level was = log_get_level();
	char path[sizeof(base) + 32], line[256];
	int fd, saved, r;
	char *text;
	bool quick;

	snprintf(path, sizeof(path), "%s/stderr.log", base);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);
	log_set_level(LOG_VERBOSE);
	r = store->driver->select(store, name, fs, &err);
	log_set_level(was);
	fflush(stderr);
	ck_assert_int_eq(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	ck_assert_msg(r == 0, "%s: %s", name, err.msg);
	text = slurp(path);
	snprintf(line, sizeof(line), QUICK_LINE, name);
	quick = strstr(text, line) != NULL;
	free(text);
	return quick;
}

/* uid:flags:keywords of every message of the selected folder. */
static const char *listing(void)
{
	static char out[4096];
	struct msg_list l;
	size_t len = 0;

	list_ok(&l);
	out[0] = '\0';
	for (size_t i = 0; i < l.n && len < sizeof(out); i++)
		len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%u:%u:%s", i ? "|" : "",
					l.v[i].uid, l.v[i].flags,
					l.v[i].keywords ? l.v[i].keywords : "");
	ck_assert_uint_lt(len, sizeof(out));
	msg_list_free(&l);
	return out;
}

/* Where uid's file is as the index has it: "cur/NAME" or "new/NAME". */
static char *file_of(const char *folder, uint32_t uid)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	char *path;

	ck_assert_int_eq(sqlite3_open(at("..ferry-index.sqlite"), &db), SQLITE_OK);
	ck_assert_int_eq(
	    sqlite3_prepare_v2(db,
			       "SELECT subdir || '/' || name FROM messages WHERE uid = ?2"
			       " AND folder = (SELECT id FROM folders WHERE name = ?1)",
			       -1, &st, NULL),
	    SQLITE_OK);
	ck_assert_int_eq(sqlite3_bind_text(st, 1, folder, -1, SQLITE_STATIC), SQLITE_OK);
	ck_assert_int_eq(sqlite3_bind_int64(st, 2, uid), SQLITE_OK);
	ck_assert_msg(sqlite3_step(st) == SQLITE_ROW, "%s: uid %u is not indexed", folder, uid);
	path = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
	return path;
}

static int64_t folder_modseq(const char *folder)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "SELECT modseq FROM folders WHERE name = '%s'", folder);
	return index_int(sql);
}

/* Delivers a message of its own content (nth) and settles it. */
static uint32_t deliver_nth(int nth, unsigned flags, const char *keywords)
{
	char text[128];
	uint32_t uid;

	snprintf(text, sizeof(text),
		 "From: n%d@example.org\r\nSubject: number %d\r\n\r\nBody %d\r\n", nth, nth, nth);
	uid = deliver(text, flags, keywords, DATE);
	ck_assert_msg(store->driver->add_flush(store, settled, NULL, NULL, &err) == 0, "%s",
		      err.msg);
	return uid;
}

/* Moves cur/ and new/ of dir to a mtime no scan has seen (old enough to be
 * trusted afterwards), so that the next select rescans. */
static void touch_dirs(const char *dir, time_t when)
{
	set_mtime(at("%s/cur", dir), when);
	set_mtime(at("%s/new", dir), when);
}

/* Indexes keep sums made by earlier versions: the hash stays the first 16
 * bytes of SHA-256 over 'c' or 'n', the name, a NUL and the inode (LE). */
START_TEST(test_file_hash_is_sha256_of_where_name_and_inode)
{
	static const unsigned char input[] = "c1700000000.M1P2Q3.host:2,S\0"
					     "\x08\x07\x06\x05\x04\x03\x02\x01";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	uint64_t want[2], got[2], other[2];

	ck_assert_int_eq(EVP_Digest(input, sizeof(input) - 1, md, &mdlen, EVP_sha256(), NULL), 1);
	memcpy(want, md, sizeof(want));
	for (int round = 0; round < 2; round++) { /* the second from the cached context */
		ck_assert_int_eq(mdindex_file_hash(true, "1700000000.M1P2Q3.host:2,S",
						   0x0102030405060708u, got, &err),
				 0);
		ck_assert(got[0] == want[0] && got[1] == want[1]);
	}
	ck_assert_int_eq(mdindex_file_hash(false, "1700000000.M1P2Q3.host:2,S", 0x0102030405060708u,
					   other, &err),
			 0);
	ck_assert(other[0] != want[0] || other[1] != want[1]);
}
END_TEST

START_TEST(test_rows_sum_matches_the_files_after_every_change)
{
	uint32_t u[6], moved[2], to_move[2];
	struct folder_state fs;
	char *f;

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	create_ok("Archive");
	select_ok("Archive");
	assert_rows_sum("Archive", "Archive", "the first scan");
	select_ok("INBOX");
	assert_rows_sum("INBOX", "INBOX", "the first scan");

	u[0] = deliver_nth(0, 0, NULL); /* new/ */
	u[1] = deliver_nth(1, MF_SEEN, NULL);
	u[2] = deliver_nth(2, MF_FLAGGED, "kw");
	u[3] = deliver_nth(3, 0, NULL); /* new/ */
	u[4] = deliver_nth(4, MF_ANSWERED, NULL);
	u[5] = deliver_nth(5, MF_SEEN, NULL);
	assert_rows_sum("INBOX", "INBOX", "deliveries");

	/* Renames: new/ to cur/, within cur/; a keyword alone renames nothing. */
	ck_assert_int_eq(store->driver->set_flags(store, &u[0], 1, MF_SEEN, 0, NULL, NULL, &err),
			 0);
	assert_rows_sum("INBOX", "INBOX", "set_flags new/ -> cur/");
	ck_assert_int_eq(
	    store->driver->set_flags(store, &u[1], 1, MF_FLAGGED, MF_SEEN, NULL, NULL, &err), 0);
	assert_rows_sum("INBOX", "INBOX", "set_flags in cur/");
	ck_assert_int_eq(store->driver->set_flags(store, &u[2], 1, 0, 0, "more", NULL, &err), 0);
	assert_rows_sum("INBOX", "INBOX", "set_flags of a keyword");

	ck_assert_int_eq(store->driver->delete_msgs(store, &u[1], 1, &err), 0);
	assert_rows_sum("INBOX", "INBOX", "delete_msgs");

	to_move[0] = u[2]; /* cur/ */
	to_move[1] = u[3]; /* new/ */
	move_ok(to_move, 2, "Archive", moved);
	assert_rows_sum("INBOX", "INBOX", "move_msgs (source)");
	assert_rows_sum("Archive", "Archive", "move_msgs (target)");

	/* Other programs: a reader flags u[4], deletes u[0]; a delivery agent
	 * drops one file in new/ and one in cur/. */
	f = file_of("INBOX", u[4]);
	ck_assert_int_eq(rename(at("INBOX/%s", f), at("INBOX/%.*sFR", (int)strlen(f) - 1, f)), 0);
	free(f);
	f = file_of("INBOX", u[0]);
	ck_assert_int_eq(unlink(at("INBOX/%s", f)), 0);
	free(f);
	spit(at("INBOX/new/1700000000.M1P1.other"), MSG_C);
	spit(at("INBOX/cur/1700000001.M2P2.other:2,S"), MSG_B);
	touch_dirs("INBOX", time(NULL) - 60);
	ck_assert(!select_quick("INBOX", &fs));
	ck_assert_uint_eq(fs.exists, 4);
	assert_rows_sum("INBOX", "INBOX", "a rescan of other programs' changes");

	/* ... and a file moved and renamed in the target. */
	select_ok("Archive");
	f = file_of("Archive", moved[1]);
	ck_assert_msg(strncmp(f, "new/", 4) == 0, "%s", f);
	ck_assert_int_eq(rename(at("Archive/%s", f), at("Archive/cur/%s:2,S", f + 4)), 0);
	free(f);
	touch_dirs("Archive", time(NULL) - 60);
	ck_assert(!select_quick("Archive", &fs));
	assert_rows_sum("Archive", "Archive", "a rescan of the target");

	/* Nothing changed since: readdir alone settles the next rescan. */
	touch_dirs("INBOX", time(NULL) - 70);
	ck_assert(select_quick("INBOX", &fs));
	ck_assert_uint_eq(fs.exists, 4);
	assert_rows_sum("INBOX", "INBOX", "a quick rescan");
}
END_TEST

START_TEST(test_rescan_after_own_changes_needs_only_readdir)
{
	struct folder_state fs;
	uint32_t a, b, c, d, moved;
	time_t when = time(NULL) - 100, before;
	int64_t modseq, old_cur;
	char listed[4096];

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	create_ok("Archive");
	select_ok("INBOX");
	a = deliver_nth(0, 0, NULL); /* new/ */
	b = deliver_nth(1, MF_SEEN, NULL);
	c = deliver_nth(2, 0, "kw"); /* new/ */
	touch_dirs("INBOX", when);
	select_ok("INBOX");

	for (int round = 0; round < 4; round++) {
		switch (round) {
		case 0: /* a flag: new/ -> cur/ */
			ck_assert_int_eq(
			    store->driver->set_flags(store, &a, 1, MF_SEEN, 0, NULL, NULL, &err),
			    0);
			ck_assert_int_eq(count_files(at("INBOX/cur")), 2);
			break;
		case 1: /* a flag in cur/, and a delivery */
			ck_assert_int_eq(store->driver->set_flags(store, &b, 1, MF_FLAGGED, MF_SEEN,
								  NULL, NULL, &err),
					 0);
			d = deliver_nth(3, MF_DRAFT, NULL);
			ck_assert_uint_gt(d, c);
			break;
		case 2:
			ck_assert_int_eq(store->driver->delete_msgs(store, &a, 1, &err), 0);
			break;
		default:
			move_ok(&c, 1, "Archive", &moved);
			break;
		}
		modseq = folder_modseq("INBOX");
		snprintf(listed, sizeof(listed), "%s", listing());
		old_cur = index_int("SELECT cur_mtime FROM folders WHERE name = 'INBOX'");
		when++;
		touch_dirs("INBOX", when);
		/* As if the last scan were long ago: this one must say when it was. */
		index_exec("UPDATE folders SET scanned_at = 1 WHERE name = 'INBOX'");
		before = time(NULL);
		ck_assert_msg(select_quick("INBOX", &fs), "round %d: the rescan read the rows",
			      round);
		ck_assert_int_ge(index_int("SELECT scanned_at FROM folders WHERE name = 'INBOX'"),
				 (int64_t)before * 1000000000);
		ck_assert_uint_eq(fs.highestmodseq, (uint64_t)modseq);
		ck_assert_int_eq(folder_modseq("INBOX"), modseq);
		ck_assert_str_eq(listing(), listed);
		/* The mtimes are taken as a full scan would: not read again. */
		ck_assert_int_ne(old_cur, (int64_t)when * 1000000000);
		ck_assert_int_eq(index_int("SELECT cur_mtime FROM folders WHERE name = 'INBOX'"),
				 (int64_t)when * 1000000000);
		ck_assert_int_eq(index_int("SELECT new_mtime FROM folders WHERE name = 'INBOX'"),
				 (int64_t)when * 1000000000);
		ck_assert(!select_quick("INBOX", &fs));
		ck_assert_uint_eq(fs.highestmodseq, (uint64_t)modseq);
		assert_rows_sum("INBOX", "INBOX", "a quick rescan");
	}
}
END_TEST

/* What another program does after ferry's own change in the same folder. */
enum other_change {
	OTHER_FLAGS,	/* renames another message's file to add a flag */
	OTHER_ADDS,	/* drops a new file in cur/ */
	OTHER_REMOVES,	/* unlinks another message's file */
	OTHER_REWRITES, /* a new file renamed over another message's: same name, new inode */
	OTHER_RENAMES,	/* renames the file ferry just renamed */
	OTHER_CUR,	/* moves a file from new/ to cur/ under the same name */
	OTHER_COUNT
};

START_TEST(test_changes_of_other_programs_after_own_ones_are_found)
{
	struct folder_state seen, fs;
	const struct msg *m;
	struct msg_list l;
	uint32_t a, b, c, d;
	int64_t modseq;
	char *f;

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	select_ok("INBOX");
	a = deliver_nth(0, 0, NULL); /* new/ */
	b = deliver_nth(1, MF_SEEN, NULL);
	c = deliver_nth(2, MF_SEEN, "kw");
	d = deliver_nth(3, 0, NULL); /* new/ */
	touch_dirs("INBOX", time(NULL) - 100);
	seen = select_ok("INBOX");

	/* Ferry's own change, then the other program's. */
	ck_assert_int_eq(store->driver->set_flags(store, &a, 1, MF_ANSWERED, 0, NULL, NULL, &err),
			 0);
	modseq = folder_modseq("INBOX");
	ck_assert_int_gt(modseq, (int64_t)seen.highestmodseq);
	switch (_i) {
	case OTHER_FLAGS:
		f = file_of("INBOX", b);
		ck_assert_int_eq(
		    rename(at("INBOX/%s", f), at("INBOX/%.*sFS", (int)strlen(f) - 1, f)), 0);
		break;
	case OTHER_ADDS:
		f = NULL;
		spit(at("INBOX/cur/1700000000.M1P1.other:2,S"), MSG_C);
		break;
	case OTHER_REMOVES:
	case OTHER_REWRITES:
		f = file_of("INBOX", c);
		if (_i == OTHER_REMOVES) {
			ck_assert_int_eq(unlink(at("INBOX/%s", f)), 0);
			break;
		}
		spit(at("INBOX/tmp/edited"), MSG_C);
		ck_assert_int_eq(rename(at("INBOX/tmp/edited"), at("INBOX/%s", f)), 0);
		break;
	case OTHER_RENAMES:
		f = file_of("INBOX", a);
		ck_assert_int_eq(
		    rename(at("INBOX/%s", f), at("INBOX/%.*sFR", (int)strlen(f) - 1, f)), 0);
		break;
	default:
		f = file_of("INBOX", d);
		ck_assert_msg(strncmp(f, "new/", 4) == 0, "%s", f);
		ck_assert_int_eq(rename(at("INBOX/%s", f), at("INBOX/cur/%s", f + 4)), 0);
		break;
	}
	touch_dirs("INBOX", time(NULL) - 90);
	ck_assert_msg(!select_quick("INBOX", &fs), "another program's change went unseen");
	ck_assert_uint_gt(fs.highestmodseq, (uint64_t)modseq);
	list_ok(&l);
	m = find_uid(&l, a);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->flags, _i == OTHER_RENAMES ? MF_ANSWERED | MF_FLAGGED : MF_ANSWERED);
	switch (_i) {
	case OTHER_FLAGS:
		ck_assert_uint_eq(l.n, 4);
		ck_assert_uint_eq(find_uid(&l, b)->flags, MF_FLAGGED | MF_SEEN);
		break;
	case OTHER_ADDS:
		ck_assert_uint_eq(l.n, 5);
		ck_assert_uint_gt(l.v[4].uid, d);
		ck_assert_uint_eq(l.v[4].flags, MF_SEEN);
		break;
	case OTHER_REMOVES:
		ck_assert_uint_eq(l.n, 3);
		ck_assert_ptr_null(find_uid(&l, c));
		break;
	case OTHER_REWRITES:
		/* Edited in place: a new message under a new uid. */
		ck_assert_uint_eq(l.n, 4);
		ck_assert_ptr_null(find_uid(&l, c));
		ck_assert_uint_gt(l.v[3].uid, d);
		ck_assert_uint_eq(l.v[3].flags, MF_SEEN);
		ck_assert_str_eq(l.v[3].keywords, "kw");
		break;
	case OTHER_RENAMES:
		ck_assert_uint_eq(l.n, 4);
		break;
	default:
		ck_assert_uint_eq(l.n, 4);
		free(f);
		f = file_of("INBOX", d);
		ck_assert_msg(strncmp(f, "cur/", 4) == 0, "%s", f);
		break;
	}
	msg_list_free(&l);
	assert_rows_sum("INBOX", "INBOX", "the rescan");
	free(f);
}
END_TEST

/* An index from before rows sums (the column added NULL), or a sum set
 * NULL: the first rescan reads the rows, and sets it. */
START_TEST(test_unknown_rows_sum_is_set_by_a_full_scan)
{
	struct folder_state fs;
	uint64_t v[2];
	uint32_t a, b;
	int64_t modseq;

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	select_ok("INBOX");
	a = deliver_nth(0, 0, NULL); /* new/ */
	b = deliver_nth(1, MF_SEEN, NULL);
	touch_dirs("INBOX", time(NULL) - 100);
	select_ok("INBOX");
	assert_rows_sum("INBOX", "INBOX", "deliveries");
	store_close(store);
	store = NULL;
	if (_i == 0)
		index_exec("UPDATE folders SET rows_sum = NULL");
	else
		index_exec("DROP TABLE modseqs; ALTER TABLE messages DROP COLUMN keywords_known; "
			   "ALTER TABLE folders DROP COLUMN rows_sum; PRAGMA user_version = 3");
	open_store(LAYOUT_VERBATIM);

	/* Nothing to rescan yet; an own change keeps the sum unknown. */
	ck_assert(!select_quick("INBOX", &fs));
	ck_assert_int_eq(index_int("PRAGMA user_version"), 7);
	ck_assert(!index_rows_sum("INBOX", v));
	ck_assert_int_eq(store->driver->set_flags(store, &a, 1, MF_SEEN, 0, NULL, NULL, &err), 0);
	ck_assert(!index_rows_sum("INBOX", v));

	/* The directory holds what the index has, but without a sum that is
	 * for a full scan to tell: it finds nothing new and sets the sum. */
	modseq = folder_modseq("INBOX");
	touch_dirs("INBOX", time(NULL) - 90);
	ck_assert(!select_quick("INBOX", &fs));
	ck_assert_uint_eq(fs.highestmodseq, (uint64_t)modseq);
	ck_assert_uint_eq(fs.exists, 2);
	assert_rows_sum("INBOX", "INBOX", "the full scan");

	/* From there on, own changes need only readdir. */
	ck_assert_int_eq(store->driver->set_flags(store, &b, 1, MF_FLAGGED, 0, NULL, NULL, &err),
			 0);
	modseq = folder_modseq("INBOX");
	touch_dirs("INBOX", time(NULL) - 80);
	ck_assert(select_quick("INBOX", &fs));
	ck_assert_uint_eq(fs.highestmodseq, (uint64_t)modseq);
	assert_rows_sum("INBOX", "INBOX", "a quick rescan");
}
END_TEST

/* A move that fails midway rolls the rows back, and their sums with them:
 * nothing of it reaches the next commit. */
START_TEST(test_a_failed_move_leaves_the_rows_sums_as_they_were)
{
	struct folder_state fs;
	uint32_t uids[2], new_uids[2];

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	create_ok("Target");
	select_ok("Target");
	select_ok("INBOX");
	uids[0] = deliver_nth(0, 0, NULL); /* new/ */
	uids[1] = deliver_nth(1, MF_SEEN, NULL);
	store_close(store);
	store = NULL;
	force_uidnext("Target", UINT32_MAX - 1); /* room for one uid */
	open_store(LAYOUT_VERBATIM);
	select_ok("INBOX");
	ck_assert_int_eq(store->driver->move_msgs(store, uids, 2, "Target", new_uids, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "no uid left"));
	/* The next commits, in both folders, write only what they changed. */
	ck_assert_int_eq(
	    store->driver->set_flags(store, &uids[1], 1, MF_FLAGGED, 0, NULL, NULL, &err), 0);
	assert_rows_sum("INBOX", "INBOX", "a failed move and set_flags");
	assert_rows_sum("Target", "Target", "a failed move and set_flags");
	touch_dirs("INBOX", time(NULL) - 100);
	ck_assert(select_quick("INBOX", &fs));
	ck_assert_uint_eq(fs.exists, 2);
	touch_dirs("Target", time(NULL) - 100);
	ck_assert(select_quick("Target", &fs));
	ck_assert_uint_eq(fs.exists, 0);
	assert_rows_sum("Target", "Target", "a quick rescan");
}
END_TEST

/* ---- changes since a modseq (rule 4's cheap listing) ---- */

#define MSG_D "From: d@example.org\r\nSubject: fourth\r\n\r\nNew\r\n"

/* list_changed(since) on the selected folder: 0, or 1 (cannot tell). */
static int changes_since(uint64_t since, struct msg_list *changed, uint32_t **vanished,
			 size_t *nranges)
{
	int r;

	*changed = (struct msg_list){0};
	r = store->driver->list_changed(store, since, changed, vanished, nranges, &err);
	ck_assert_msg(r == 0 || r == 1, "since %llu: %s", (unsigned long long)since, err.msg);
	return r;
}

/* Formatted text; each call gets one of a few buffers. */
static const char *str(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static const char *str(const char *fmt, ...)
{
	static char bufs[4][256];
	static int next;
	char *b = bufs[next++ % 4];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b, sizeof(bufs[0]), fmt, ap);
	va_end(ap);
	return b;
}

/* The uids of l, in its order, joined with ','. */
static const char *uids_of(const struct msg_list *l)
{
	static char joined[4096];
	size_t len = 0;

	joined[0] = '\0';
	for (size_t i = 0; i < l->n; i++) {
		len += (size_t)snprintf(joined + len, sizeof(joined) - len, "%s%u", i ? "," : "",
					l->v[i].uid);
		ck_assert_uint_lt(len, sizeof(joined));
	}
	return joined;
}

/* Vanished ranges as "first:last" (or "uid" alone), joined with ','. */
static const char *ranges_of(const uint32_t *v, size_t nranges)
{
	static char joined[4096];
	size_t len = 0;

	joined[0] = '\0';
	for (size_t k = 0; k < nranges; k++) {
		ck_assert_uint_le(v[2 * k], v[2 * k + 1]);
		if (v[2 * k] == v[2 * k + 1])
			len += (size_t)snprintf(joined + len, sizeof(joined) - len, "%s%u",
						k ? "," : "", v[2 * k]);
		else
			len += (size_t)snprintf(joined + len, sizeof(joined) - len, "%s%u:%u",
						k ? "," : "", v[2 * k], v[2 * k + 1]);
		ck_assert_uint_lt(len, sizeof(joined));
	}
	return joined;
}

/* What list_changed(since) says when no message changed and some may have
 * gone: the vanished ranges as ranges_of gives them ("" for none). */
static const char *only_vanished_since(uint64_t since)
{
	struct msg_list l;
	uint32_t *van;
	size_t nvan;
	const char *ranges;

	ck_assert_int_eq(changes_since(since, &l, &van, &nvan), 0);
	ck_assert_uint_eq(l.n, 0);
	ranges = ranges_of(van, nvan);
	msg_list_free(&l);
	free(van);
	return ranges;
}

START_TEST(test_list_changed_tells_own_flag_changes_deliveries_and_deletions)
{
	struct folder_state seen, mid, now;
	struct msg_list l;
	const struct msg *m;
	struct msg_id id_d = identity_of(MSG_D, NULL);
	uint32_t *van, a, b, c, d;
	size_t nvan;

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	select_ok("INBOX");
	a = deliver(MSG_A, 0, NULL, DATE);
	b = deliver(MSG_B, MF_SEEN, NULL, DATE);
	c = deliver(MSG_C, MF_SEEN, "old", DATE);
	seen = select_ok("INBOX");
	ck_assert_int_eq(store->driver->set_flags(store, &a, 1, MF_FLAGGED, 0, "kw", NULL, &err),
			 0);
	mid = select_ok("INBOX");
	ck_assert_uint_gt(mid.highestmodseq, seen.highestmodseq);
	d = deliver(MSG_D, MF_SEEN | MF_ANSWERED, "new", DATE);
	ck_assert_msg(store->driver->add_flush(store, settled, NULL, NULL, &err) == 0, "%s",
		      err.msg);
	ck_assert_int_eq(store->driver->delete_msgs(store, &b, 1, &err), 0);

	/* Since the select: the flagged and the delivered one as they are now,
	 * and the deleted uid; not c, which nothing touched. */
	ck_assert_int_eq(changes_since(seen.highestmodseq, &l, &van, &nvan), 0);
	ck_assert_str_eq(uids_of(&l), str("%u,%u", a, d));
	m = find_uid(&l, a);
	ck_assert_uint_eq(m->flags, MF_FLAGGED);
	ck_assert_str_eq(m->keywords, "kw");
	ck_assert_uint_eq(m->size, strlen(MSG_A));
	ck_assert_int_eq(m->date, DATE);
	ck_assert(msg_id_known(m));
	m = find_uid(&l, d);
	ck_assert_uint_eq(m->flags, MF_SEEN | MF_ANSWERED);
	ck_assert_str_eq(m->keywords, "new");
	ck_assert_uint_eq(m->size, strlen(MSG_D));
	ck_assert_int_eq(m->date, DATE);
	ck_assert(msg_id_known(m));
	ck_assert_mem_eq(m->ident->hash, id_d.hash, 32);
	ck_assert_str_eq(ranges_of(van, nvan), str("%u", b));
	msg_list_free(&l);
	free(van);

	/* Since the flag change: only what came after it. */
	ck_assert_int_eq(changes_since(mid.highestmodseq, &l, &van, &nvan), 0);
	ck_assert_str_eq(uids_of(&l), str("%u", d));
	ck_assert_str_eq(ranges_of(van, nvan), str("%u", b));
	msg_list_free(&l);
	free(van);

	/* Since the state now: nothing. */
	now = select_ok("INBOX");
	ck_assert_uint_gt(now.highestmodseq, mid.highestmodseq);
	ck_assert_str_eq(only_vanished_since(now.highestmodseq), "");
	(void)c;
}
END_TEST

START_TEST(test_list_changed_tells_what_other_programs_did_once_a_rescan_saw_it)
{
	struct folder_state seen, now;
	struct msg_list l;
	uint32_t *van, a, b, c, e, f;
	size_t nvan;
	char *na, *nb, *nc, *nf;

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	select_ok("INBOX");
	a = deliver(MSG_A, 0, NULL, DATE); /* new/ */
	na = only_file(at("INBOX/new"));
	c = deliver(MSG_C, MF_DRAFT, "todo", DATE);
	nc = only_file(at("INBOX/cur"));
	b = deliver(MSG_B, MF_SEEN, NULL, DATE);
	nb = file_ending(at("INBOX/cur"), ":2,S");
	e = deliver(MSG_D, MF_FLAGGED, NULL, DATE); /* left alone */
	f = deliver(MSG_B, MF_ANSWERED, NULL, DATE);
	nf = file_ending(at("INBOX/cur"), ":2,R");
	seen = select_ok("INBOX");
	/* A mail reader reads A and deletes B and F; an editor rewrites C in
	 * place, which makes it a new message under a new uid. */
	ck_assert_int_eq(rename(at("INBOX/new/%s", na), at("INBOX/cur/%s:2,S", na)), 0);
	ck_assert_int_eq(unlink(at("INBOX/cur/%s", nb)), 0);
	ck_assert_int_eq(unlink(at("INBOX/cur/%s", nf)), 0);
	spit(at("INBOX/edited"), MSG_D);
	ck_assert_int_eq(rename(at("INBOX/edited"), at("INBOX/cur/%s", nc)), 0);

	set_mtime(at("INBOX/cur"), time(NULL) + 5);
	set_mtime(at("INBOX/new"), time(NULL) + 5);
	now = select_ok("INBOX");
	ck_assert_uint_gt(now.highestmodseq, seen.highestmodseq);
	ck_assert_uint_eq(now.exists, 3);
	ck_assert_int_eq(changes_since(seen.highestmodseq, &l, &van, &nvan), 0);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_uint_eq(l.v[0].uid, a);
	ck_assert_uint_eq(l.v[0].flags, MF_SEEN);
	ck_assert_uint_gt(l.v[1].uid, f); /* C's new uid */
	ck_assert_uint_eq(l.v[1].flags, MF_DRAFT);
	ck_assert_str_eq(l.v[1].keywords, "todo");
	ck_assert_uint_eq(l.v[1].size, strlen(MSG_D));
	/* c and b are consecutive uids: one range; e stays, so f is another. */
	ck_assert_uint_eq(b, c + 1);
	ck_assert_uint_eq(f, e + 1);
	ck_assert_str_eq(ranges_of(van, nvan), str("%u:%u,%u", c, b, f));
	ck_assert_uint_eq(nvan, 2);
	msg_list_free(&l);
	free(van);

	ck_assert_str_eq(only_vanished_since(now.highestmodseq), "");
	free(na);
	free(nb);
	free(nc);
	free(nf);
}
END_TEST

START_TEST(test_list_changed_tells_a_move_as_vanished_here_and_new_there)
{
	struct folder_state from_seen, to_seen;
	struct msg_list l;
	const struct msg *m;
	uint32_t *van, uids[3], moved[2], new_uids[2];
	size_t nvan;

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	create_ok("Archive");
	select_ok("Archive");
	deliver(MSG_D, 0, NULL, DATE); /* already there, not moved */
	to_seen = select_ok("Archive");
	select_ok("INBOX");
	uids[0] = deliver(MSG_A, MF_SEEN, "kw", DATE);
	uids[1] = deliver(MSG_B, 0, NULL, DATE); /* stays */
	uids[2] = deliver(MSG_C, MF_FLAGGED, NULL, DATE);
	from_seen = select_ok("INBOX");
	moved[0] = uids[0];
	moved[1] = uids[2];
	move_ok(moved, 2, "Archive", new_uids);
	ck_assert_uint_ne(new_uids[0], 0);
	ck_assert_uint_ne(new_uids[1], 0);

	/* The source, still selected: both uids gone, nothing changed. */
	ck_assert_str_eq(only_vanished_since(from_seen.highestmodseq),
			 str("%u,%u", uids[0], uids[2]));

	/* The target: the new uids, with their flags and keywords. */
	select_ok("Archive");
	ck_assert_int_eq(changes_since(to_seen.highestmodseq, &l, &van, &nvan), 0);
	ck_assert_str_eq(uids_of(&l), str("%u,%u", new_uids[0], new_uids[1]));
	m = find_uid(&l, new_uids[0]);
	ck_assert_uint_eq(m->flags, MF_SEEN);
	ck_assert_str_eq(m->keywords, "kw");
	ck_assert_uint_eq(m->size, strlen(MSG_A));
	m = find_uid(&l, new_uids[1]);
	ck_assert_uint_eq(m->flags, MF_FLAGGED);
	ck_assert_uint_eq(nvan, 0);
	msg_list_free(&l);
	free(van);

	/* Selected again later, the source still tells the same. */
	select_ok("INBOX");
	ck_assert_str_eq(only_vanished_since(from_seen.highestmodseq),
			 str("%u,%u", uids[0], uids[2]));
}
END_TEST

/* Rule 16: a copy of the index restored from a backup, once it changes,
 * goes through other modseqs than the original did. Changes since a modseq
 * the copy never was at are refused (2), not made up from its own history;
 * since its own earlier modseqs they are told as usual. */
START_TEST(test_restored_index_refuses_changes_since_a_modseq_it_never_had)
{
	struct folder_state backed_up, seen;
	struct msg_list l = {0};
	uint32_t *van = NULL;
	size_t nvan = 0;
	char cmd[2 * PATH_MAX + 32];

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	select_ok("INBOX");
	deliver(MSG_A, 0, NULL, DATE);
	backed_up = select_ok("INBOX");
	store_close(store);
	store = NULL;
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s.backup'", at("..ferry-index.sqlite"), root);
	ck_assert_int_eq(system(cmd), 0);

	open_store(LAYOUT_VERBATIM);
	select_ok("INBOX");
	deliver(MSG_B, 0, NULL, DATE);
	seen = select_ok("INBOX"); /* what a sync records */
	store_close(store);
	store = NULL;
	snprintf(cmd, sizeof(cmd), "cp '%s.backup' '%s'", root, at("..ferry-index.sqlite"));
	ck_assert_int_eq(system(cmd), 0);

	open_store(LAYOUT_VERBATIM);
	select_ok("INBOX");
	deliver(MSG_C, 0, NULL, DATE);
	select_ok("INBOX");
	ck_assert_int_eq(
	    store->driver->list_changed(store, seen.highestmodseq, &l, &van, &nvan, &err), 2);
	ck_assert_int_eq(changes_since(backed_up.highestmodseq, &l, &van, &nvan), 0);
	msg_list_free(&l);
	free(van);
}
END_TEST

START_TEST(test_index_upgraded_from_before_tombstones_cannot_tell_older_changes)
{
	struct folder_state before, upgraded;
	struct msg_list l;
	uint32_t *van, a, b;
	size_t nvan;

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	select_ok("INBOX");
	a = deliver(MSG_A, 0, NULL, DATE);
	b = deliver(MSG_B, MF_SEEN, NULL, DATE);
	before = select_ok("INBOX");
	/* A deletion by a ferry from before tombstones: no trace of it. */
	ck_assert_int_eq(store->driver->delete_msgs(store, &b, 1, &err), 0);
	deliver(MSG_C, 0, NULL, DATE);
	store_close(store);
	store = NULL;
	index_exec(UNDO_SCHEMA_3 "PRAGMA user_version = 2");
	open_store(LAYOUT_VERBATIM);
	upgraded = select_ok("INBOX");
	ck_assert_int_eq(index_int("PRAGMA user_version"), 7);
	ck_assert_uint_gt(upgraded.highestmodseq, before.highestmodseq);

	/* Below the modseq of the upgrade: cannot tell (list in full). */
	ck_assert_int_eq(changes_since(before.highestmodseq, &l, &van, &nvan), 1);
	msg_list_free(&l);
	free(van);
	ck_assert_int_eq(changes_since(upgraded.highestmodseq - 1, &l, &van, &nvan), 1);
	msg_list_free(&l);
	free(van);

	/* From there on it can. */
	ck_assert_str_eq(only_vanished_since(upgraded.highestmodseq), "");
	ck_assert_int_eq(store->driver->delete_msgs(store, &a, 1, &err), 0);
	ck_assert_str_eq(only_vanished_since(upgraded.highestmodseq), str("%u", a));
	ck_assert_int_eq(changes_since(before.highestmodseq, &l, &van, &nvan), 1);
	msg_list_free(&l);
	free(van);
}
END_TEST

/* Tombstones are kept per folder up to twice EXPUNGED_KEEP (4096), looked at
 * every 1024 deletions; then the newest 4096 stay, and older modseqs cannot
 * be told from. */
START_TEST(test_list_changed_keeps_the_newest_tombstones_and_cannot_tell_older_ones)
{
	enum { BATCH = 1024, BATCHES = 9, N = BATCH * BATCHES };
	struct folder_state seen;
	struct msg_list l;
	uint64_t mark[BATCHES + 1];
	uint32_t *van, *uids;
	size_t nvan;

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	/* Hard links of one file: creating thousands of files is slow on some
	 * file systems, adding names is not. */
	spit(at("INBOX/one"), MSG_C);
	for (unsigned i = 0; i < N; i++)
		ck_assert_int_eq(
		    link(at("INBOX/one"), at("INBOX/cur/%u.M%uP1.test:2,S", 1600000000u + i, i)),
		    0);
	seen = select_ok("INBOX");
	ck_assert_uint_eq(seen.exists, N);
	list_ok(&l);
	ck_assert_uint_eq(l.n, N);
	uids = malloc(N * sizeof(*uids));
	ck_assert_ptr_nonnull(uids);
	for (size_t i = 0; i < N; i++) {
		uids[i] = l.v[i].uid;
		ck_assert_uint_eq(uids[i], i + 1);
	}
	msg_list_free(&l);

	mark[0] = seen.highestmodseq;
	for (int k = 0; k < BATCHES; k++) {
		ck_assert_msg(store->driver->delete_msgs(store, uids + k * BATCH, BATCH, &err) == 0,
			      "%s", err.msg);
		mark[k + 1] = own_state_of("INBOX", &seen).highestmodseq;
		ck_assert_uint_gt(mark[k + 1], mark[k]);
		if (k + 1 == BATCHES - 1) {
			/* 8192 tombstones: all kept. */
			ck_assert_str_eq(only_vanished_since(mark[0]), "1:8192");
		}
	}
	/* 9216: the newest 4096 (the last four batches) stay. */
	ck_assert_str_eq(only_vanished_since(mark[5]), str("%u:%u", 5 * BATCH + 1, N));
	ck_assert_int_eq(changes_since(mark[8], &l, &van, &nvan), 0);
	ck_assert_str_eq(ranges_of(van, nvan), str("%u:%u", 8 * BATCH + 1, N));
	msg_list_free(&l);
	free(van);
	ck_assert_int_eq(changes_since(mark[5] - 1, &l, &van, &nvan), 1);
	msg_list_free(&l);
	free(van);
	ck_assert_int_eq(changes_since(mark[0], &l, &van, &nvan), 1);
	msg_list_free(&l);
	free(van);
	free(uids);
}
END_TEST

/* ---- the index ---- */

START_TEST(test_deleted_index_is_rebuilt_with_a_new_uidvalidity)
{
	struct folder_state a, b;
	struct msg_list la, lb;

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	select_ok("INBOX");
	deliver(MSG_A, MF_SEEN, "kw", DATE);
	deliver(MSG_B, 0, NULL, DATE);
	a = select_ok("INBOX");
	list_ok(&la);
	store_close(store);
	store = NULL;
	rm_rf(at("..ferry-index.sqlite"));
	open_store(LAYOUT_VERBATIM);
	ck_assert_str_eq(folders(), "INBOX");
	b = select_ok("INBOX");
	ck_assert_uint_ne(b.uidvalidity, a.uidvalidity);
	ck_assert_uint_eq(b.exists, 2);
	list_ok(&lb);
	ck_assert_uint_eq(lb.n, 2);
	for (size_t i = 0; i < la.n; i++) {
		size_t j = 0;

		while (j < lb.n && memcmp(lb.v[j].ident->hash, la.v[i].ident->hash, 32) != 0)
			j++;
		ck_assert_uint_lt(j, lb.n);
		ck_assert_uint_eq(lb.v[j].flags, la.v[i].flags);
		ck_assert_uint_eq(lb.v[j].size, la.v[i].size);
		ck_assert_int_eq(lb.v[j].date, la.v[i].date);
		ck_assert_ptr_null(lb.v[j].keywords); /* rule 15: unknown after a rebuild */
	}
	msg_list_free(&la);
	msg_list_free(&lb);
}
END_TEST

START_TEST(test_index_survives_reopen)
{
	struct folder_state a, b;
	struct msg_list l;
	uint32_t uid;

	open_store(LAYOUT_MAILDIRPP);
	create_ok("INBOX");
	select_ok("INBOX");
	uid = deliver(MSG_A, 0, "kept", DATE);
	a = select_ok("INBOX");
	reopen();
	b = select_ok("INBOX");
	ck_assert_uint_eq(a.uidvalidity, b.uidvalidity);
	ck_assert_uint_eq(a.uidnext, b.uidnext);
	list_ok(&l);
	ck_assert_uint_eq(l.v[0].uid, uid);
	ck_assert_str_eq(l.v[0].keywords, "kept");
	msg_list_free(&l);
}
END_TEST

/* An index from before it moved lives in <root>/.ferry/, which maildir++
 * readers show as a mailbox; its last transaction may still be in its -wal
 * (a killed run). The first open moves it to the root whole: same
 * UIDVALIDITY, the -wal's transaction kept, no .ferry/ left. */
START_TEST(test_index_in_old_directory_moves_to_the_root)
{
	struct folder_state a, b;
	sqlite3 *db;
	pid_t pid;
	int status;

	open_store(LAYOUT_MAILDIRPP);
	create_ok("INBOX");
	select_ok("INBOX");
	deliver(MSG_A, MF_SEEN, NULL, DATE);
	a = select_ok("INBOX");
	store_close(store);
	store = NULL;
	ck_assert_int_eq(mkdir(at(".ferry"), 0700), 0);
	ck_assert_int_eq(rename(at("..ferry-index.sqlite"), at(".ferry/index.sqlite")), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* Commits to the -wal and dies without the checkpoint of a close. */
		if (sqlite3_open(at(".ferry/index.sqlite"), &db) != SQLITE_OK ||
		    sqlite3_exec(db,
				 "PRAGMA wal_autocheckpoint = 0; "
				 "UPDATE folders SET uidnext = uidnext + 5",
				 NULL, NULL, NULL) != SQLITE_OK)
			_exit(1);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert(exists(at(".ferry/index.sqlite-wal")));

	open_store(LAYOUT_MAILDIRPP);
	ck_assert_str_eq(folders(), "INBOX");
	b = select_ok("INBOX");
	ck_assert_uint_eq(b.uidvalidity, a.uidvalidity);
	ck_assert_uint_eq(b.uidnext, a.uidnext + 5);
	ck_assert(!exists(at(".ferry")));
	ck_assert(exists(at("..ferry-index.sqlite")));
}
END_TEST

START_TEST(test_corrupt_index_is_an_error_naming_the_file)
{
	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	store_close(store);
	store = NULL;
	rm_rf(at("..ferry-index.sqlite-wal"));
	rm_rf(at("..ferry-index.sqlite-shm"));
	spit(at("..ferry-index.sqlite"), "this is not an SQLite database, not even close......"
					 "................................................");
	open_store(LAYOUT_VERBATIM);
	{
		struct store_folder *v;
		size_t n;

		ck_assert_int_eq(store->driver->list_folders(store, &v, &n, &err), -1);
	}
	ck_assert_ptr_nonnull(strstr(err.msg, "index.sqlite"));
	ck_assert_ptr_nonnull(strstr(err.msg, "delete"));
}
END_TEST

START_TEST(test_unknown_sqlite_database_is_refused)
{
	char cmd[PATH_MAX + 128];

	ck_assert_int_eq(mkdir(root, 0700), 0);
	snprintf(cmd, sizeof(cmd), "sqlite3 '%s' 'CREATE TABLE t(x)' 2>/dev/null",
		 at("..ferry-index.sqlite"));
	if (system(cmd) != 0)
		return; /* no sqlite3 shell: nothing to test with */
	open_store(LAYOUT_VERBATIM);
	{
		struct store_folder *v;
		size_t n;

		ck_assert_int_eq(store->driver->list_folders(store, &v, &n, &err), -1);
	}
	ck_assert_ptr_nonnull(strstr(err.msg, "not a ferry index"));
}
END_TEST

START_TEST(test_operations_need_a_selected_folder)
{
	struct msg_list l = {0};
	struct store_new_msg *m;
	uint32_t uid = 1, new_uid;

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	ck_assert_int_eq(store->driver->list(store, &l, &err), -1);
	ck_assert_int_eq(store->driver->add_begin(store, &m, &err), -1);
	ck_assert_int_eq(store->driver->delete_msgs(store, &uid, 1, &err), -1);
	ck_assert_int_eq(store->driver->move_msgs(store, &uid, 1, "INBOX", &new_uid, &err), -1);
}
END_TEST

static TCase *tcase(Suite *s, const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return tc;
}

/* ---- replacing a message in place (`ferry fetch`) ---- */

START_TEST(test_replace_keeps_name_uid_flags_and_date_and_the_rows_sum)
{
	struct store_new_msg *m;
	struct msg_id id, want;
	uint64_t size, want_size;
	struct msg_list l;
	char *before, *after, *text;
	struct stat sb;
	uint32_t uid;

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	select_ok("INBOX");
	uid = deliver(MSG_A, MF_SEEN | MF_FLAGGED, "todo", DATE);
	before = only_file(at("INBOX/cur"));
	ck_assert_msg(store_replace_begin(store, uid, &m, &err) == 0, "%s", err.msg);
	ck_assert_msg(store_add_write(store, m, MSG_B, strlen(MSG_B), &err) == 0, "%s", err.msg);
	ck_assert_msg(store_replace_commit(store, m, &id, &size, &err) == 0, "%s", err.msg);
	after = only_file(at("INBOX/cur"));
	ck_assert_str_eq(after, before);
	text = slurp(at("INBOX/cur/%s", after));
	ck_assert_str_eq(text, "From: b@example.org\nSubject: second\n\nBody\n");
	want = identity_of(MSG_B, &want_size);
	ck_assert(id.known);
	ck_assert_mem_eq(id.hash, want.hash, sizeof(want.hash));
	ck_assert_uint_eq(size, want_size);
	ck_assert_uint_eq(count_files(at("INBOX/tmp")), 0);
	ck_assert_int_eq(stat(at("INBOX/cur/%s", after), &sb), 0);
	ck_assert_int_eq(sb.st_mtime, DATE);
	/* The index follows: a rescan finds the files it holds (rows sum). */
	assert_rows_sum("INBOX", "INBOX", "a replace");
	select_ok("INBOX");
	list_ok(&l);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(l.v[0].uid, uid);
	ck_assert_uint_eq(l.v[0].flags, MF_SEEN | MF_FLAGGED);
	ck_assert_str_eq(l.v[0].keywords, "todo");
	ck_assert_uint_eq(l.v[0].size, want_size);
	msg_list_free(&l);
	free(text);
	free(before);
	free(after);
}
END_TEST

/* A mail reader renamed the file (a flag) since the index saw it: the
 * message replaces that file, never lands beside it. */
START_TEST(test_replace_follows_a_file_another_program_renamed)
{
	struct store_new_msg *m;
	struct msg_id id;
	uint64_t size;
	char *name, *renamed, *text;
	uint32_t uid;

	open_store(LAYOUT_VERBATIM);
	create_ok("INBOX");
	select_ok("INBOX");
	uid = deliver(MSG_A, MF_SEEN, NULL, DATE);
	name = only_file(at("INBOX/cur"));
	renamed = strdup(name);
	ck_assert_ptr_nonnull(renamed);
	renamed[strlen(renamed) - 1] = 'F'; /* ":2,S" -> ":2,F" */
	ck_assert_int_eq(rename(at("INBOX/cur/%s", name), at("INBOX/cur/%s", renamed)), 0);
	ck_assert_msg(store_replace_begin(store, uid, &m, &err) == 0, "%s", err.msg);
	ck_assert_msg(store_add_write(store, m, MSG_C, strlen(MSG_C), &err) == 0, "%s", err.msg);
	ck_assert_msg(store_replace_commit(store, m, &id, &size, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(count_files(at("INBOX/cur")), 1);
	text = slurp(at("INBOX/cur/%s", renamed));
	ck_assert_str_eq(text, MSG_C);
	free(text);
	free(name);
	free(renamed);
}
END_TEST

static Suite *maildir_suite(void)
{
	Suite *s = suite_create("maildir_store");
	TCase *tc = tcase(s, "folders");

	tcase_add_test(tc, test_verbatim_folders_are_created_and_listed);
	tcase_add_test(tc, test_maildirpp_folders_are_created_and_listed);
	tcase_add_test(tc, test_legacy_folders_are_created_and_listed);
	tcase_add_test(tc, test_offlineimap_folders_are_created_and_listed);
	tcase_add_test(tc, test_intermediate_directories_are_no_folders_but_their_children_are);
	tcase_add_test(tc, test_create_is_idempotent_and_keeps_uidvalidity);
	tcase_add_test(tc, test_missing_root_lists_nothing_and_is_created_by_create_folder);
	tcase_add_test(tc, test_open_alone_writes_nothing);
	tcase_add_test(tc, test_read_only_store_writes_nothing_and_refuses_changes);
	tcase_add_test(tc, test_selecting_a_missing_folder_is_an_error);
	tcase_add_test(tc, test_delete_folder_only_when_empty_and_never_its_children);
	tcase_add_loop_test(tc, test_unsafe_names_are_refused_and_nothing_leaves_the_root, 0,
			    (int)(sizeof(unsafe_names) / sizeof(unsafe_names[0])));
	tcase_add_test(tc, test_symlinks_are_never_followed_out_of_the_root);
	tcase_add_test(tc, test_switching_layout_never_reuses_the_other_layouts_directories);
	tcase_add_test(tc, test_directories_of_other_programs_keep_their_names);

	tc = tcase(s, "delivery");
	tcase_add_test(tc, test_delivery_without_flags_lands_in_new_with_lf_and_its_date);
	tcase_add_test(tc, test_delivery_with_flags_lands_in_cur_with_sorted_letters);
	tcase_add_test(tc, test_delivery_converts_crlf_split_across_chunks);
	tcase_add_test(tc, test_identity_is_the_same_however_the_bytes_are_split);
	tcase_add_test(tc, test_munged_hash_reads_8bit_header_bytes_as_x);
	tcase_add_test(tc, test_delivery_date_zero_means_now);
	tcase_add_test(tc, test_aborted_delivery_leaves_nothing);
	tcase_add_test(tc, test_uids_grow_and_select_reports_the_folder);

	tc = tcase(s, "other programs");
	tcase_add_test(tc, test_renames_and_deletions_by_other_programs_are_seen);
	tcase_add_test(tc, test_malformed_file_names_are_skipped);
	tcase_add_test(tc, test_missing_subdirectory_is_an_error_not_an_empty_folder);
	tcase_add_test(tc, test_tmp_is_never_read);
	tcase_add_test(tc, test_new_files_get_uids_in_name_order);
	tcase_add_test(tc, test_file_edited_in_place_is_a_new_message);
	tcase_add_test(tc, test_index_of_version_1_is_upgraded_and_learns_inodes);
	tcase_add_test(tc, test_own_changes_are_told_from_other_programs);
	tcase_add_test(tc, test_rows_from_before_schema_5_have_unknown_keywords);
	tcase_add_test(tc, test_index_from_before_identity_version_2_reads_files_again);
	tcase_add_test(tc, test_a_batch_of_deliveries_leaves_the_index_writable);

	tc = tcase(s, "messages");
	tcase_add_test(tc, test_set_flags_renames_and_keywords_stay_in_the_index);
	tcase_add_test(tc, test_set_flags_after_another_program_renamed_the_file);
	tcase_add_test(tc, test_keywords_of_files_refiled_by_other_programs_are_unknown_until_set);
	tcase_add_test(tc, test_delete_unlinks_and_tolerates_files_already_gone);
	tcase_add_test(tc, test_fetch_streams_files_and_follows_or_skips_vanished_ones);
	tcase_add_test(tc, test_identify_fills_missing_identities);
	tcase_add_test(tc, test_operations_need_a_selected_folder);

	tc = tcase(s, "moves");
	tcase_add_loop_test(tc, test_move_renames_files_and_keeps_flags_keywords_and_inodes,
			    LAYOUT_VERBATIM, LAYOUT_MAILDIRPP + 1);
	tcase_add_test(tc, test_move_follows_a_renamed_file_and_skips_a_vanished_one);
	tcase_add_test(tc, test_move_never_overwrites_a_message_of_the_same_name);
	tcase_add_test(tc, test_move_to_a_missing_folder_or_its_own_is_an_error);
	tcase_add_loop_test(tc, test_move_to_an_unsafe_name_is_refused_and_nothing_leaves_the_root,
			    0, (int)(sizeof(unsafe_names) / sizeof(unsafe_names[0])));
	tcase_add_test(tc, test_move_failing_midway_puts_the_moved_files_back);

	tc = tcase(s, "rescans");
	tcase_add_test(tc, test_unchanged_old_directories_are_not_read_again);
	tcase_add_test(tc, test_directories_changed_within_a_second_of_the_scan_are_read_again);
	tcase_add_test(tc, test_file_hash_is_sha256_of_where_name_and_inode);
	tcase_add_test(tc, test_rows_sum_matches_the_files_after_every_change);
	tcase_add_test(tc, test_rescan_after_own_changes_needs_only_readdir);
	tcase_add_loop_test(tc, test_changes_of_other_programs_after_own_ones_are_found, 0,
			    OTHER_COUNT);
	tcase_add_loop_test(tc, test_unknown_rows_sum_is_set_by_a_full_scan, 0, 2);
	tcase_add_test(tc, test_a_failed_move_leaves_the_rows_sums_as_they_were);

	tc = tcase(s, "changes since a modseq");
	tcase_add_test(tc, test_list_changed_tells_own_flag_changes_deliveries_and_deletions);
	tcase_add_test(tc, test_list_changed_tells_what_other_programs_did_once_a_rescan_saw_it);
	tcase_add_test(tc, test_list_changed_tells_a_move_as_vanished_here_and_new_there);
	tcase_add_test(tc, test_index_upgraded_from_before_tombstones_cannot_tell_older_changes);
	tcase_add_test(tc, test_restored_index_refuses_changes_since_a_modseq_it_never_had);
	tcase_add_test(tc,
		       test_list_changed_keeps_the_newest_tombstones_and_cannot_tell_older_ones);

	tc = tcase(s, "index");
	tcase_add_test(tc, test_deleted_index_is_rebuilt_with_a_new_uidvalidity);
	tcase_add_test(tc, test_index_survives_reopen);
	tcase_add_test(tc, test_corrupt_index_is_an_error_naming_the_file);
	tcase_add_test(tc, test_index_in_old_directory_moves_to_the_root);
	tcase_add_test(tc, test_unknown_sqlite_database_is_refused);
	tcase_add_test(tc, test_replace_keeps_name_uid_flags_and_date_and_the_rows_sum);
	tcase_add_test(tc, test_replace_follows_a_file_another_program_renamed);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(maildir_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
