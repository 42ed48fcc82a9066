/* One suite of cases for every store driver: what the engine relies on of a
 * store, through store.h's functions only, run against the in-memory fake,
 * a Maildir in a temp dir, and IMAP on a real server.
 *
 *	store_conformance fake | fake-minimal | maildir | imap
 *
 * imap takes the server from the environment: CONFORMANCE_IMAP_PORT
 * (implicit TLS on 127.0.0.1), CONFORMANCE_IMAP_CA, CONFORMANCE_USER and
 * CONFORMANCE_PASSWORD (tests/integration/store_conformance.sh starts
 * Dovecot and Cyrus and sets them). A case that depends on what a store may
 * legitimately lack reads the store's own declaration (a driver operation it
 * leaves out, a select without modseqs, keywords_ok) and checks the
 * documented default instead: nothing is skipped silently. */
#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/flags.h"
#include "store/identity.h"
#include "store/log.h"
#include "store/store.h"
#include "tests/store/fake_store.h"

#define DATE 1600000000

static const char *const MSGS[] = {
    "From: a@example.org\r\nSubject: first\r\nMessage-ID: <1@c>\r\n\r\nHello\r\nWorld\r\n",
    "From: b@example.org\nSubject: second, LF only\nMessage-ID: <2@c>\n\nBody\n",
    "From: c@example.org\r\nSubject: third\r\nMessage-ID: <3@c>\r\n\r\n",
};

static const char *backend;
static struct store_conf conf;
static struct store *store;
static struct ferry_error err;
static char root[64]; /* the Maildir's temp dir */

static const char *need_env(const char *name)
{
	const char *v = getenv(name);

	ck_assert_msg(v && *v, "%s is not set", name);
	return v;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void setup(void)
{
	log_set_level(LOG_QUIET);
	ferry_error_clear(&err);
	store = NULL;
	if (strncmp(backend, "fake", 4) == 0) {
		conf = (struct store_conf){.name = (char *)"fake", .file = "test"};
		ck_assert_int_eq(
		    fake_store_open(&conf, strcmp(backend, "fake-minimal") == 0, &store, &err), 0);
		return;
	}
	if (strcmp(backend, "maildir") == 0) {
		snprintf(root, sizeof(root), "/tmp/ferry-conformance-XXXXXX");
		ck_assert_ptr_nonnull(mkdtemp(root));
		conf = (struct store_conf){.kind = STORE_MAILDIR, .name = (char *)"maildir"};
		conf.maildir = (struct maildir_conf){.path = root, .layout = LAYOUT_VERBATIM};
	} else {
		conf =
		    (struct store_conf){.kind = STORE_IMAP, .name = (char *)"imap", .file = "test"};
		conf.imap = (struct imap_conf){
		    .host = (char *)"127.0.0.1",
		    .port = atoi(need_env("CONFORMANCE_IMAP_PORT")),
		    .tls = TLS_IMPLICIT,
		    .user = (char *)need_env("CONFORMANCE_USER"),
		    .auth = AUTH_AUTO,
		    .ca_file = (char *)need_env("CONFORMANCE_IMAP_CA"),
		    .connections = 1,
		    .timeout = 20,
		};
	}
	ck_assert_msg(store_open(&conf, getenv("CONFORMANCE_PASSWORD"), &store, &err) == 0,
		      "store_open: %s", err.msg);
}

static void teardown(void)
{
	store_close(store);
	store = NULL;
	if (strcmp(backend, "maildir") == 0)
		nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A folder name of this case's own: a server keeps what earlier cases left. */
static const char *folder(const char *what)
{
	static char bufs[4][64];
	static int next;
	char *b = bufs[next++ % 4];

	snprintf(b, sizeof(bufs[0]), "Conf%d%s", (int)getpid(), what);
	return b;
}

static void create(const char *name)
{
	ck_assert_msg(store_create_folder(store, name, &err) == 0, "create %s: %s", name, err.msg);
}

static struct folder_state select_ok(const char *name)
{
	struct folder_state fs = {0};

	ck_assert_msg(store_select(store, name, &fs, &err) == 0, "select %s: %s", name, err.msg);
	return fs;
}

static void list_ok(struct msg_list *l)
{
	*l = (struct msg_list){0};
	ck_assert_msg(store_list(store, l, &err) == 0, "list: %s", err.msg);
}

static const struct msg *by_uid(const struct msg_list *l, uint32_t uid)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].uid == uid)
			return &l->v[i];
	return NULL;
}

/* What the store says about add_flush's settling of commit seq. */
struct settled {
	uint32_t uid[8];
	size_t n;
};

static void on_settled(void *ctx, size_t seq, uint32_t uid, const struct msg_id *stored)
{
	struct settled *s = ctx;

	(void)stored;
	ck_assert_uint_lt(seq, 8);
	if (uid)
		s->uid[seq] = uid;
	s->n++;
}

/* Adds msgs[0..n) to the selected folder, flags and keywords on each, and
 * settles them. uids[i] is the new uid, or 0 where the store cannot tell. */
static void add_all(const char *const *msgs, size_t n, unsigned flags, const char *keywords,
		    uint32_t *uids)
{
	struct settled s = {{0}, 0};

	ck_assert_uint_le(n, 8);
	for (size_t i = 0; i < n; i++) {
		struct store_new_msg *m = NULL;
		size_t len = strlen(msgs[i]), half = len / 2;

		ck_assert_msg(store_add_begin(store, &m, &err) == 0, "add_begin: %s", err.msg);
		/* in two writes, split anywhere */
		ck_assert_int_eq(store_add_write(store, m, msgs[i], half, &err), 0);
		ck_assert_int_eq(store_add_write(store, m, msgs[i] + half, len - half, &err), 0);
		ck_assert_msg(store_add_commit(store, m, flags, keywords, DATE + (int64_t)i,
					       &s.uid[i], &err) == 0,
			      "add_commit: %s", err.msg);
	}
	ck_assert_msg(store_add_flush(store, on_settled, NULL, &s, &err) == 0, "add_flush: %s",
		      err.msg);
	if (store_add_deferred(store))
		ck_assert_uint_eq(s.n, n);
	for (size_t i = 0; i < n; i++)
		uids[i] = s.uid[i];
}

/* The uid of the message with identity id in the selected folder. */
static uint32_t find_by_identity(const char *text)
{
	struct msg_list l;
	struct ident id;
	struct msg_id want;
	uint64_t size;
	uint32_t uid = 0;

	ck_assert_int_eq(ident_init(&id), 0);
	ck_assert_int_eq(ident_feed(&id, text, strlen(text)), 0);
	ck_assert_int_eq(ident_final(&id, &want, &size), 0);
	list_ok(&l);
	ck_assert_msg(store_identify(store, l.v, l.n, &err) == 0, "identify: %s", err.msg);
	for (size_t i = 0; i < l.n; i++)
		if (msg_id_known(&l.v[i]) && memcmp(l.v[i].ident->hash, want.hash, 32) == 0)
			uid = l.v[i].uid;
	msg_list_free(&l);
	return uid;
}

/* Adds msgs and returns their uids, found by identity where the store could
 * not tell them at commit. */
static void add_found(const char *const *msgs, size_t n, unsigned flags, const char *keywords,
		      uint32_t *uids)
{
	add_all(msgs, n, flags, keywords, uids);
	for (size_t i = 0; i < n; i++)
		if (!uids[i])
			uids[i] = find_by_identity(msgs[i]);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(uids[i], "message %zu is not in the folder", i);
}

/* The message with every bare LF turned into CRLF, as both sides compare. */
static char *crlf(const char *text, size_t len, size_t *out_len)
{
	char *out = malloc(2 * len + 1);
	size_t k = 0;

	ck_assert_ptr_nonnull(out);
	for (size_t i = 0; i < len; i++) {
		if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r'))
			out[k++] = '\r';
		out[k++] = text[i];
	}
	out[k] = 0;
	*out_len = k;
	return out;
}

/* --- fetch into memory ------------------------------------------------------------------ */

struct body {
	char buf[4096];
	size_t len;
	uint32_t uid;
};

struct bodies {
	struct body v[8];
	size_t n;
	bool open;
	uint32_t undelivered[8];
	size_t nundelivered;
};

static int b_begin(void *ctx, struct ferry_error *e)
{
	struct bodies *b = ctx;

	(void)e;
	ck_assert(!b->open);
	ck_assert_uint_lt(b->n, 8);
	b->v[b->n] = (struct body){.len = 0};
	b->open = true;
	return 0;
}

static int b_write(void *ctx, const char *buf, size_t len, struct ferry_error *e)
{
	struct bodies *b = ctx;
	struct body *cur = &b->v[b->n];

	(void)e;
	ck_assert(b->open);
	ck_assert_uint_le(cur->len + len, sizeof(cur->buf));
	memcpy(cur->buf + cur->len, buf, len);
	cur->len += len;
	return 0;
}

static int b_end(void *ctx, uint32_t uid, struct ferry_error *e)
{
	struct bodies *b = ctx;

	(void)e;
	ck_assert(b->open);
	b->v[b->n++].uid = uid;
	b->open = false;
	return 0;
}

static void b_abort(void *ctx)
{
	((struct bodies *)ctx)->open = false;
}

static void b_undelivered(void *ctx, uint32_t uid, const char *why)
{
	struct bodies *b = ctx;

	(void)why;
	ck_assert_uint_lt(b->nundelivered, 8);
	b->undelivered[b->nundelivered++] = uid;
}

static void fetch_ok(const uint32_t *uids, size_t n, struct bodies *b)
{
	struct fetch_sink sink = {.ctx = b,
				  .begin = b_begin,
				  .write = b_write,
				  .end = b_end,
				  .abort = b_abort,
				  .undelivered = b_undelivered};

	*b = (struct bodies){.n = 0};
	ck_assert_msg(store_fetch(store, uids, n, &sink, &err) == 0, "fetch: %s", err.msg);
	ck_assert(!b->open);
}

static bool has_folder(const char *name)
{
	struct store_folder *f = NULL;
	size_t n = 0;
	bool found = false;

	ck_assert_msg(store_list_folders(store, &f, &n, &err) == 0, "list_folders: %s", err.msg);
	for (size_t i = 0; i < n; i++)
		found |= strcmp(f[i].name, name) == 0;
	store_folders_free(f, n);
	return found;
}

/* --- the cases ------------------------------------------------------------------------- */

START_TEST(test_created_folders_are_listed_and_deleted_ones_are_gone)
{
	const char *a = folder("a"), *b = folder("b");
	struct folder_state fs;

	create(a);
	create(b);
	ck_assert(has_folder(a));
	ck_assert(has_folder(b));
	ck_assert_msg(store_delete_folder(store, b, &err) == 0, "delete %s: %s", b, err.msg);
	ck_assert(!has_folder(b));
	ck_assert(has_folder(a));
	ck_assert_int_eq(store_select(store, b, &fs, &err), -1);
	ck_assert_msg(err.cause != FERRY_CAUSE_NONE, "a failure has a cause");
}
END_TEST

/* Rule 11's renames rest on this: the folder keeps its UIDVALIDITY and
 * uids, so the state's pairs stay good, and its children go with it. */
START_TEST(test_renamed_folders_keep_uidvalidity_uids_and_children)
{
	const char *a = folder("ren"), *b = folder("renamed");
	char child[96], moved[96];
	struct folder_state before, after;
	struct msg_list l;
	uint32_t uid;
	int r;

	snprintf(child, sizeof(child), "%s/kid", a);
	snprintf(moved, sizeof(moved), "%s/kid", b);
	create(a);
	create(child);
	before = select_ok(a);
	add_found(MSGS, 1, MF_FLAGGED, NULL, &uid);
	r = store_rename_folder(store, a, b, &err);
	if (!store->driver->rename_folder) { /* declared: the engine falls back */
		ck_assert_int_eq(r, -1);
		ck_assert_int_eq(err.cause, FERRY_CAUSE_REFUSED);
		return;
	}
	ck_assert_msg(r == 0, "rename: %s", err.msg);
	ck_assert(!has_folder(a));
	ck_assert(!has_folder(child));
	ck_assert(has_folder(b));
	ck_assert(has_folder(moved));
	after = select_ok(b);
	ck_assert_uint_eq(after.uidvalidity, before.uidvalidity);
	list_ok(&l);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(l.v[0].uid, uid);
	ck_assert_uint_eq(l.v[0].flags, MF_FLAGGED);
	msg_list_free(&l);
	select_ok(moved);
}
END_TEST

START_TEST(test_added_messages_read_back_byte_for_byte)
{
	const char *a = folder("add");
	uint32_t uids[3];
	struct msg_list l;
	struct bodies b;

	create(a);
	select_ok(a);
	add_found(MSGS, 3, 0, NULL, uids);
	list_ok(&l);
	ck_assert_uint_eq(l.n, 3);
	ck_assert_msg(store_identify(store, l.v, l.n, &err) == 0, "identify: %s", err.msg);
	fetch_ok(uids, 3, &b);
	ck_assert_uint_eq(b.n, 3);
	for (size_t i = 0; i < 3; i++) {
		const struct msg *m = by_uid(&l, uids[i]);
		size_t want_len, got_len, k;
		char *want = crlf(MSGS[i], strlen(MSGS[i]), &want_len), *got;
		struct ident id;
		struct msg_id want_id;
		uint64_t size;

		ck_assert_msg(m, "uid %u is listed", uids[i]);
		for (k = 0; k < b.n && b.v[k].uid != uids[i]; k++)
			;
		ck_assert_msg(k < b.n, "uid %u is fetched", uids[i]);
		got = crlf(b.v[k].buf, b.v[k].len, &got_len);
		ck_assert_uint_eq(got_len, want_len);
		ck_assert_mem_eq(got, want, want_len);
		ck_assert_uint_eq(m->size, want_len); /* CRLF size */
		ck_assert_int_eq(m->date, DATE + (int64_t)i);
		ck_assert_int_eq(ident_init(&id), 0);
		ck_assert_int_eq(ident_feed(&id, MSGS[i], strlen(MSGS[i])), 0);
		ck_assert_int_eq(ident_final(&id, &want_id, &size), 0);
		ck_assert(msg_id_known(m));
		ck_assert_mem_eq(m->ident->hash, want_id.hash, 32);
		free(want);
		free(got);
	}
	msg_list_free(&l);
}
END_TEST

START_TEST(test_aborted_add_leaves_nothing)
{
	const char *a = folder("abort");
	struct store_new_msg *m = NULL;
	struct msg_list l;

	create(a);
	select_ok(a);
	ck_assert_msg(store_add_begin(store, &m, &err) == 0, "add_begin: %s", err.msg);
	ck_assert_int_eq(store_add_write(store, m, MSGS[0], 20, &err), 0);
	store_add_abort(store, m);
	list_ok(&l);
	ck_assert_uint_eq(l.n, 0);
	msg_list_free(&l);
}
END_TEST

START_TEST(test_flags_and_keywords_are_set_cleared_and_listed)
{
	const char *a = folder("flags");
	struct folder_state fs;
	uint32_t uids[2];
	struct msg_list l;
	const struct msg *m;

	create(a);
	fs = select_ok(a);
	add_found(MSGS, 2, MF_DRAFT, NULL, uids);
	if (!fs.keywords_ok) /* declared by select: no keyword set is stored */
		fprintf(stderr, "%s: keywords not stored (keywords_ok false)\n", backend);
	ck_assert_msg(store_set_flags(store, uids, 2, MF_SEEN | MF_FLAGGED, 0,
				      fs.keywords_ok ? "Alpha $Label1" : NULL, NULL, &err) == 0,
		      "set_flags: %s", err.msg);
	ck_assert_msg(store_set_flags(store, &uids[1], 1, MF_ANSWERED, MF_FLAGGED | MF_DRAFT, NULL,
				      fs.keywords_ok ? "alpha" : NULL, &err) == 0,
		      "set_flags: %s", err.msg);
	select_ok(a);
	list_ok(&l);
	ck_assert_uint_eq(l.n, 2);
	m = by_uid(&l, uids[0]);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->flags, MF_DRAFT | MF_SEEN | MF_FLAGGED);
	if (fs.keywords_ok)
		ck_assert_msg(kw_equal(m->keywords, "$Label1 Alpha"), "keywords: %s",
			      m->keywords ? m->keywords : "(none)");
	m = by_uid(&l, uids[1]);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->flags, MF_SEEN | MF_ANSWERED);
	if (fs.keywords_ok)
		ck_assert_msg(kw_equal(m->keywords, "$Label1"), "keywords: %s",
			      m->keywords ? m->keywords : "(none)");
	msg_list_free(&l);
}
END_TEST

START_TEST(test_flags_given_at_add_are_kept)
{
	const char *a = folder("addflags");
	struct folder_state fs;
	uint32_t uid;
	struct msg_list l;

	create(a);
	fs = select_ok(a);
	add_found(MSGS, 1, MF_SEEN | MF_ANSWERED, fs.keywords_ok ? "work Later" : NULL, &uid);
	list_ok(&l);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(l.v[0].flags, MF_SEEN | MF_ANSWERED);
	if (fs.keywords_ok)
		ck_assert_msg(kw_equal(l.v[0].keywords, "Later work"), "keywords: %s",
			      l.v[0].keywords ? l.v[0].keywords : "(none)");
	msg_list_free(&l);
}
END_TEST

START_TEST(test_expunged_messages_leave_the_listing)
{
	const char *a = folder("del");
	uint32_t uids[3];
	struct msg_list l;

	create(a);
	select_ok(a);
	add_found(MSGS, 3, 0, NULL, uids);
	ck_assert_msg(store_delete_msgs(store, &uids[1], 1, &err) == 0, "delete: %s", err.msg);
	list_ok(&l);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_ptr_nonnull(by_uid(&l, uids[0]));
	ck_assert_ptr_null(by_uid(&l, uids[1]));
	ck_assert_ptr_nonnull(by_uid(&l, uids[2]));
	msg_list_free(&l);
	/* what is gone stays gone after a new select */
	select_ok(a);
	list_ok(&l);
	ck_assert_uint_eq(l.n, 2);
	msg_list_free(&l);
}
END_TEST

START_TEST(test_moved_messages_keep_flags_keywords_and_bytes)
{
	const char *a = folder("from"), *b = folder("to");
	struct folder_state fs;
	uint32_t uids[2], new_uid = 0;
	struct msg_list l;
	int r;

	create(a);
	create(b);
	fs = select_ok(a);
	add_found(MSGS, 2, MF_FLAGGED, fs.keywords_ok ? "Moved" : NULL, uids);
	r = store_move_msgs(store, &uids[0], 1, b, &new_uid, &err);
	if (!store->driver->move_msgs) { /* declared: the driver cannot move */
		ck_assert_int_eq(r, -1);
		ck_assert_int_eq(err.cause, FERRY_CAUSE_REFUSED);
		return;
	}
	ck_assert_msg(r == 0, "move: %s", err.msg);
	list_ok(&l); /* the source stays selected */
	ck_assert_uint_eq(l.n, 1);
	ck_assert_ptr_nonnull(by_uid(&l, uids[1]));
	msg_list_free(&l);
	select_ok(b);
	if (!new_uid) /* the store could not tell (no COPYUID) */
		new_uid = find_by_identity(MSGS[0]);
	list_ok(&l);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(l.v[0].uid, new_uid);
	ck_assert_uint_eq(l.v[0].flags, MF_FLAGGED);
	if (fs.keywords_ok)
		ck_assert(kw_equal(l.v[0].keywords, "Moved"));
	ck_assert_msg(store_identify(store, l.v, l.n, &err) == 0, "identify: %s", err.msg);
	ck_assert_uint_eq(find_by_identity(MSGS[0]), new_uid);
	msg_list_free(&l);
}
END_TEST

START_TEST(test_status_and_select_tell_uidvalidity_and_uidnext)
{
	const char *a = folder("status");
	const char *names[2] = {a, "INBOX"};
	struct folder_state st[2], before, after;
	bool ok[2] = {false, false};
	uint32_t uid;

	create(a);
	before = select_ok(a);
	ck_assert_uint_ne(before.uidvalidity, 0);
	ck_assert_uint_ne(before.uidnext, 0);
	add_found(MSGS, 1, 0, NULL, &uid);
	ck_assert_uint_ge(uid, before.uidnext);
	ck_assert_msg(store_status(store, names, 2, st, ok, &err) == 0, "status: %s", err.msg);
	after = select_ok(a);
	ck_assert_uint_eq(after.uidvalidity, before.uidvalidity);
	ck_assert_uint_gt(after.uidnext, uid);
	ck_assert_uint_eq(after.exists, 1);
	if (before.highestmodseq) /* a store with modseqs counts the change */
		ck_assert_uint_gt(after.highestmodseq, before.highestmodseq);
	if (!store->driver->status) { /* declared: no cheap answer, never a wrong one */
		ck_assert(!ok[0] && !ok[1]);
		return;
	}
	ck_assert_msg(ok[0], "status of %s", a);
	ck_assert_uint_eq(st[0].uidvalidity, after.uidvalidity);
	ck_assert_uint_eq(st[0].uidnext, after.uidnext);
	ck_assert_uint_eq(st[0].highestmodseq, after.highestmodseq);
}
END_TEST

START_TEST(test_list_changed_tells_flag_changes_and_expunges)
{
	const char *a = folder("changed");
	struct folder_state fs;
	uint32_t uids[3], *van = NULL;
	size_t nvan = 0;
	struct msg_list changed = {0};
	bool gone = false;
	int r;

	create(a);
	select_ok(a);
	add_found(MSGS, 3, 0, NULL, uids);
	fs = select_ok(a);
	ck_assert_msg(store_set_flags(store, &uids[0], 1, MF_SEEN, 0, NULL, NULL, &err) == 0,
		      "set_flags: %s", err.msg);
	ck_assert_msg(store_delete_msgs(store, &uids[1], 1, &err) == 0, "delete: %s", err.msg);
	select_ok(a);
	r = store_list_changed(store, fs.highestmodseq, &changed, &van, &nvan, &err);
	if (!fs.highestmodseq || !store->driver->list_changed) {
		/* declared: no modseqs, so no changes to tell: "list in full" */
		ck_assert_int_eq(r, 1);
		msg_list_free(&changed);
		free(van);
		return;
	}
	ck_assert_msg(r == 0, "list_changed: %d %s", r, err.msg);
	ck_assert_ptr_nonnull(by_uid(&changed, uids[0]));
	ck_assert_uint_eq(by_uid(&changed, uids[0])->flags, MF_SEEN);
	ck_assert_ptr_null(by_uid(&changed, uids[2])); /* untouched */
	for (size_t i = 0; i < nvan; i++)
		gone |= van[2 * i] <= uids[1] && uids[1] <= van[2 * i + 1];
	ck_assert_msg(gone, "uid %u reported vanished", uids[1]);
	msg_list_free(&changed);
	free(van);
}
END_TEST

START_TEST(test_own_state_is_what_select_saw_or_after_own_changes)
{
	const char *a = folder("own");
	struct folder_state seen, now;
	uint32_t uid;

	create(a);
	seen = select_ok(a);
	add_found(MSGS, 1, 0, NULL, &uid);
	store_own_state(store, a, &seen, &now);
	ck_assert_uint_eq(now.uidvalidity, seen.uidvalidity);
	if (!store->driver->own_state) { /* declared: it cannot tell whose a change was */
		ck_assert_uint_eq(now.uidnext, seen.uidnext);
		ck_assert_uint_eq(now.highestmodseq, seen.highestmodseq);
		return;
	}
	/* every change since the select was this handle's: what it holds now */
	ck_assert_uint_gt(now.uidnext, uid);
	if (seen.highestmodseq)
		ck_assert_uint_gt(now.highestmodseq, seen.highestmodseq);
}
END_TEST

START_TEST(test_fetch_of_a_missing_uid_delivers_nothing_for_it)
{
	const char *a = folder("missing");
	uint32_t uids[2];
	struct bodies b;

	create(a);
	select_ok(a);
	add_found(MSGS, 1, 0, NULL, uids);
	uids[1] = uids[0] + 1000;
	fetch_ok(uids, 2, &b);
	ck_assert_uint_eq(b.n, 1); /* rule 12: gone, not empty */
	ck_assert_uint_eq(b.v[0].uid, uids[0]);
}
END_TEST

START_TEST(test_select_of_a_missing_folder_fails)
{
	struct folder_state fs;
	struct msg_list l = {0};

	ck_assert_int_eq(store_select(store, folder("nowhere"), &fs, &err), -1);
	ck_assert_msg(err.cause != FERRY_CAUSE_NONE, "a failure has a cause");
	/* nothing stays selected: a listing now is an error, never "empty" */
	ck_assert_int_eq(store_list(store, &l, &err), -1);
	msg_list_free(&l);
}
END_TEST

static long mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The folders store_wait reported, the last one ("*" for somewhere). */
static char reported[256];

static void report_change(void *ctx, const char *folder)
{
	(void)ctx;
	snprintf(reported, sizeof(reported), "%s", folder ? folder : "*");
}

/* `ferry watch`'s door: nothing changed is 0 after the timeout, a stop
 * descriptor that hangs up is 0 at once, and a message added through another
 * handle between two waits is 1 from the next. A store without the operation
 * only waits (its default). */
START_TEST(test_wait_tells_another_handles_change)
{
	const char *name = folder("wait");
	struct store *mine = store, *other = NULL;
	uint32_t uid;
	int pipefd[2];
	long t0;

	create(name);
	select_ok(name);
	t0 = mono_ms();
	ck_assert_msg(store_wait(store, name, 300, -1, NULL, NULL, &err) == 0, "wait: %s", err.msg);
	ck_assert_int_ge(mono_ms() - t0, 250);
	ck_assert_int_eq(pipe(pipefd), 0);
	close(pipefd[1]);
	t0 = mono_ms();
	ck_assert_msg(store_wait(store, name, 10000, pipefd[0], NULL, NULL, &err) == 0, "wait: %s",
		      err.msg);
	ck_assert_int_lt(mono_ms() - t0, 3000);
	close(pipefd[0]);
	if (!store_can_wait(store))
		return;
	if (strcmp(backend, "maildir") == 0) {
		/* Another program's delivery: a second handle could not take
		 * the index's lock while this one holds it. */
		char path[256];
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s/new/1.another.host", root, name);
		f = fopen(path, "w");
		ck_assert_ptr_nonnull(f);
		fputs(MSGS[0], f);
		ck_assert_int_eq(fclose(f), 0);
	} else {
		ck_assert_msg(store_open(&conf, getenv("CONFORMANCE_PASSWORD"), &other, &err) == 0,
			      "store_open: %s", err.msg);
		store = other;
		select_ok(name);
		add_all(MSGS, 1, 0, NULL, &uid);
		store_close(other);
		store = mine;
	}
	t0 = mono_ms();
	reported[0] = '\0';
	ck_assert_msg(store_wait(store, name, 10000, -1, report_change, NULL, &err) == 1,
		      "wait: %s", err.msg);
	ck_assert_int_lt(mono_ms() - t0, 5000);
	/* `ferry watch` syncs only the folder named. */
	ck_assert_str_eq(reported, name);
}
END_TEST

int main(int argc, char **argv)
{
	Suite *s;
	TCase *tc;
	SRunner *sr;
	int failed;

	if (argc != 2 || (strcmp(argv[1], "fake") != 0 && strcmp(argv[1], "fake-minimal") != 0 &&
			  strcmp(argv[1], "maildir") != 0 && strcmp(argv[1], "imap") != 0)) {
		fprintf(stderr, "usage: store_conformance fake|fake-minimal|maildir|imap\n");
		return 2;
	}
	backend = argv[1];
	s = suite_create(backend);
	tc = tcase_create("conformance");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_created_folders_are_listed_and_deleted_ones_are_gone);
	tcase_add_test(tc, test_renamed_folders_keep_uidvalidity_uids_and_children);
	tcase_add_test(tc, test_added_messages_read_back_byte_for_byte);
	tcase_add_test(tc, test_aborted_add_leaves_nothing);
	tcase_add_test(tc, test_flags_and_keywords_are_set_cleared_and_listed);
	tcase_add_test(tc, test_flags_given_at_add_are_kept);
	tcase_add_test(tc, test_expunged_messages_leave_the_listing);
	tcase_add_test(tc, test_moved_messages_keep_flags_keywords_and_bytes);
	tcase_add_test(tc, test_status_and_select_tell_uidvalidity_and_uidnext);
	tcase_add_test(tc, test_list_changed_tells_flag_changes_and_expunges);
	tcase_add_test(tc, test_own_state_is_what_select_saw_or_after_own_changes);
	tcase_add_test(tc, test_fetch_of_a_missing_uid_delivers_nothing_for_it);
	tcase_add_test(tc, test_select_of_a_missing_folder_fails);
	tcase_add_test(tc, test_wait_tells_another_handles_change);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
