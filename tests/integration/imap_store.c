/* The IMAP store's operations against a real Dovecot, and against a scripted
 * fake server for what Dovecot never does (split or hostile answers, a
 * connection cut inside a literal, Courier's "INBOX." namespace).
 *
 * Run through tests/integration/imap_store.sh, which starts Dovecot, seeds
 * the folders below and sets the environment:
 *   DOVECOT_IMAPS_PORT, DOVECOT_CA, DOVECOT_CONF   the fixture's
 *   SEED_DIR         the seeded messages as files: SEED_DIR/<folder key>/<uid>.eml
 *   IMAP_STORE_FAKE  a command that runs the fake server: CMD SCENARIO LOGFILE
 *
 * Seeded folders (each test uses its own, so the order of tests is free):
 *   Work      1 \Seen; 2 keywords $Label1 ProjectX; 3 about 5 MB; 4 \Flagged \Answered $Forwarded
 *   Entwürfe  1 message (key "Entwurf")
 *   Flags     3 messages without flags
 *   Del       4 messages, 4 marked \Deleted "by someone else"
 *   Del2      3 messages, 3 marked \Deleted "by someone else"
 *   Move      4 messages: 1 \Seen; 2 \Flagged $Label1; 3 \Answered $Forwarded
 *             $Label1 ProjectX; 4 none
 *   Move2     4 messages: 1 \Flagged $Label1; 3 marked \Deleted "by someone else"
 *   Move3, Move4   2 and 4 messages
 *   Up, Empty, Ablage/Übersicht/日本, Moved2, Moved4, Pipe, Pipe2, Pipe3, Pipe4,
 *             Sync   empty
 *
 * DOVECOT_LOG (the fixture's log, with mail_log lines) shows what a move
 * made the server do. */
#include <check.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libetpan/libetpan.h>

#include "store/flags.h"
#include "store/identity.h"
#include "store/imap/listing.h"
#include "store/imap/session.h"
#include "store/log.h"
#include "store/store.h"

static struct store_conf conf;
static struct store *store;
static struct ferry_error err;
static char fake_log[256];

/* ---- helpers ---------------------------------------------------------- */

static const char *need_env(const char *name)
{
	const char *v = getenv(name);

	ck_assert_msg(v && *v, "%s is not set: run this through tests/integration/imap_store.sh",
		      name);
	return v;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, r;

	ck_assert_msg(f != NULL, "cannot open %s", path);
	do {
		if (n + 65536 + 1 > cap) {
			cap = (n + 65536 + 1) * 2;
			buf = realloc(buf, cap);
			ck_assert_ptr_nonnull(buf);
		}
		r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
	} while (r > 0);
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Every LF not preceded by CR becomes CRLF (DESIGN rule 14). */
static char *to_crlf(const char *s, size_t len, size_t *out_len)
{
	char *out = malloc(2 * len + 1);
	size_t o = 0;

	ck_assert_ptr_nonnull(out);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			out[o++] = '\r';
		out[o++] = s[i];
	}
	out[o] = '\0';
	*out_len = o;
	return out;
}

/* The seeded message folder_key/uid, in CRLF form. */
static char *seeded(const char *folder_key, uint32_t uid, size_t *len)
{
	char path[1024], *raw, *crlf;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s/%u.eml", need_env("SEED_DIR"), folder_key, uid);
	raw = slurp(path, &n);
	crlf = to_crlf(raw, n, len);
	free(raw);
	return crlf;
}

/* Runs a shell command and returns its stdout; it must exit 0. */
static char *run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *run(const char *fmt, ...)
{
	char cmd[2048], *out = NULL;
	size_t cap = 0, n = 0, r;
	va_list ap;
	FILE *p;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	p = popen(cmd, "r");
	ck_assert_msg(p != NULL, "cannot run %s", cmd);
	do {
		if (n + 4096 + 1 > cap) {
			cap = (n + 4096 + 1) * 2;
			out = realloc(out, cap);
			ck_assert_ptr_nonnull(out);
		}
		r = fread(out + n, 1, cap - n - 1, p);
		n += r;
	} while (r > 0);
	out[n] = '\0';
	ck_assert_msg(pclose(p) == 0, "command failed: %s", cmd);
	return out;
}

/* "uid flags" of every message of folder, one "UID FLAGS..." line each,
 * \Recent removed, as doveadm (not ferry) sees them. */
static char *server_flags(const char *folder)
{
	return run("doveadm -c '%s' -f tab fetch -u alice 'uid flags' mailbox '%s' all | sed -e 1d "
		   "-e 's/\\\\Recent//g' -e 's/[[:space:]]\\+/ /g' -e 's/ $//'",
		   need_env("DOVECOT_CONF"), folder);
}

static long server_status(const char *folder, const char *field)
{
	char *out = run("doveadm -c '%s' -f flow mailbox status -u alice '%s' '%s'",
			need_env("DOVECOT_CONF"), field, folder);
	char key[64], *at;
	long v;

	snprintf(key, sizeof(key), "%s=", field);
	at = strstr(out, key);
	ck_assert_msg(at != NULL, "no %s in \"%s\"", field, out);
	v = strtol(at + strlen(key), NULL, 10);
	free(out);
	return v;
}

/* What ferry wrote to the server since capture_on(). */
static char *sent;
static size_t sent_len;

static void capture(mailstream *s, int type, const char *str, size_t size, void *ctx)
{
	(void)s;
	(void)ctx;
	if (type != MAILSTREAM_LOG_TYPE_DATA_SENT && type != MAILSTREAM_LOG_TYPE_DATA_SENT_PRIVATE)
		return;
	sent = realloc(sent, sent_len + size + 1);
	ck_assert_ptr_nonnull(sent);
	memcpy(sent + sent_len, str, size);
	sent_len += size;
	sent[sent_len] = '\0';
}

static void capture_on(void)
{
	free(sent);
	sent = calloc(1, 1);
	sent_len = 0;
	mailstream_set_logger(((struct imap_store *)store)->imap->imap_stream, capture, NULL);
}

static void assert_sent(const char *what)
{
	ck_assert_msg(sent && strstr(sent, what), "expected \"%s\" on the wire, sent:\n%s", what,
		      sent ? sent : "");
}

static void assert_error(int r, const char *part)
{
	ck_assert_msg(r == -1, "expected a failure mentioning \"%s\"", part);
	ck_assert_msg(strstr(err.msg, part), "error \"%s\" does not mention \"%s\"", err.msg, part);
}

static void open_dovecot(void)
{
	conf = (struct store_conf){.kind = STORE_IMAP, .name = (char *)"dovecot", .file = "test"};
	conf.imap = (struct imap_conf){
	    .host = (char *)"127.0.0.1",
	    .port = atoi(need_env("DOVECOT_IMAPS_PORT")),
	    .tls = TLS_IMPLICIT,
	    .user = (char *)"alice",
	    .password = (char *)"secret",
	    .auth = AUTH_AUTO,
	    .ca_file = (char *)need_env("DOVECOT_CA"),
	    .connections = 1,
	    .timeout = 10,
	};
	ferry_error_clear(&err);
	ck_assert_msg(store_open(&conf, "secret", &store, &err) == 0, "store_open: %s", err.msg);
}

/* The fake server of imap_store.sh over a tunnel (PREAUTH), logging what it
 * receives to fake_log. */
static void open_fake(const char *scenario)
{
	static char command[1024];

	snprintf(fake_log, sizeof(fake_log), "%s/fake-%s-%d.log", need_env("SEED_DIR"), scenario,
		 (int)getpid());
	snprintf(command, sizeof(command), "%s %s %s", need_env("IMAP_STORE_FAKE"), scenario,
		 fake_log);
	conf = (struct store_conf){.kind = STORE_IMAP, .name = (char *)"fake", .file = "test"};
	conf.imap = (struct imap_conf){.tunnel = command, .connections = 1, .timeout = 5};
	ferry_error_clear(&err);
	ck_assert_msg(store_open(&conf, NULL, &store, &err) == 0, "store_open: %s", err.msg);
}

static char *fake_received(void)
{
	size_t len;

	return slurp(fake_log, &len);
}

static void close_store(void)
{
	store_close(store);
	store = NULL;
}

static struct folder_state select_ok(const char *name)
{
	struct folder_state fs;

	ck_assert_msg(store->driver->select(store, name, &fs, &err) == 0, "select %s: %s", name,
		      err.msg);
	return fs;
}

static void list_ok(struct msg_list *l)
{
	*l = (struct msg_list){0};
	ck_assert_msg(store->driver->list(store, l, &err) == 0, "list: %s", err.msg);
	for (size_t i = 1; i < l->n; i++)
		ck_assert_msg(l->v[i - 1].uid < l->v[i].uid, "listing not sorted by uid");
}

static const struct msg *find_msg(const struct msg_list *l, uint32_t uid)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].uid == uid)
			return &l->v[i];
	ck_abort_msg("uid %u is not in the listing", uid);
	return NULL;
}

static void assert_keywords(const struct msg *m, const char *want)
{
	if (!want)
		ck_assert_msg(m->keywords == NULL, "uid %u: unexpected keywords \"%s\"", m->uid,
			      m->keywords);
	else
		ck_assert_msg(m->keywords && strcmp(m->keywords, want) == 0,
			      "uid %u: keywords \"%s\", expected \"%s\"", m->uid,
			      m->keywords ? m->keywords : "(none)", want);
}

/* -1 if name is not among the folders, else its attributes. */
static long attrs_of(const struct store_folder *f, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(f[i].name, name) == 0)
			return (long)f[i].attrs;
	return -1;
}

/* A fetch sink that keeps every delivered message (tests only). */
#define MAX_BODIES 16
struct collected {
	char *cur;
	size_t cur_len;
	size_t chunks;
	int begins, ends, aborts;
	uint32_t uids[MAX_BODIES];
	char *bodies[MAX_BODIES];
	size_t lens[MAX_BODIES];
	size_t max_chunks[MAX_BODIES];
	size_t fail_after; /* write fails once this many bytes are in (0: never) */
	int undelivered;   /* uids answered without their message (rule 17) */
	uint32_t undelivered_uids[MAX_BODIES];
	char undelivered_why[MAX_BODIES][160];
};

static int c_begin(void *ctx, struct ferry_error *e)
{
	struct collected *c = ctx;

	(void)e;
	ck_assert_msg(c->cur == NULL, "begin twice without end or abort");
	c->cur = calloc(1, 1);
	c->cur_len = 0;
	c->chunks = 0;
	c->begins++;
	return 0;
}

static int c_write(void *ctx, const char *buf, size_t len, struct ferry_error *e)
{
	struct collected *c = ctx;

	ck_assert_msg(c->cur != NULL, "write before begin");
	if (c->fail_after && c->cur_len + len > c->fail_after)
		return ferry_error_set(e, FERRY_CAUSE_INCOMPLETE, "disk full (test)");
	c->cur = realloc(c->cur, c->cur_len + len + 1);
	ck_assert_ptr_nonnull(c->cur);
	memcpy(c->cur + c->cur_len, buf, len);
	c->cur_len += len;
	c->chunks++;
	return 0;
}

static int c_end(void *ctx, uint32_t uid, struct ferry_error *e)
{
	struct collected *c = ctx;

	(void)e;
	ck_assert_msg(c->cur != NULL, "end without begin");
	ck_assert_int_lt(c->ends, MAX_BODIES);
	c->uids[c->ends] = uid;
	c->bodies[c->ends] = c->cur;
	c->lens[c->ends] = c->cur_len;
	c->max_chunks[c->ends] = c->chunks;
	c->ends++;
	c->cur = NULL;
	return 0;
}

static void c_abort(void *ctx)
{
	struct collected *c = ctx;

	ck_assert_msg(c->cur != NULL, "abort without begin");
	free(c->cur);
	c->cur = NULL;
	c->aborts++;
}

static void c_undelivered(void *ctx, uint32_t uid, const char *why)
{
	struct collected *c = ctx;

	ck_assert_msg(c->cur == NULL, "undelivered uid %u while a body is begun", uid);
	ck_assert_int_lt(c->undelivered, MAX_BODIES);
	c->undelivered_uids[c->undelivered] = uid;
	snprintf(c->undelivered_why[c->undelivered], sizeof(c->undelivered_why[0]), "%s", why);
	c->undelivered++;
}

static int body_of(const struct collected *c, uint32_t uid)
{
	for (int i = 0; i < c->ends; i++)
		if (c->uids[i] == uid)
			return i;
	return -1;
}

static void collected_free(struct collected *c)
{
	for (int i = 0; i < c->ends; i++)
		free(c->bodies[i]);
	free(c->cur);
}

static int fetch(const uint32_t *uids, size_t n, struct collected *c)
{
	struct fetch_sink sink = {c, c_begin, c_write, c_end, c_abort, c_undelivered};

	return store->driver->fetch(store, uids, n, &sink, &err);
}

/* ---- folders ---------------------------------------------------------- */

START_TEST(test_list_folders_decodes_names_and_reports_special_use)
{
	struct store_folder *f = NULL;
	size_t n = 0;

	ck_assert_msg(store->driver->list_folders(store, &f, &n, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(attrs_of(f, n, "INBOX"), 0);
	ck_assert_int_eq(attrs_of(f, n, "Work"), 0);
	ck_assert_int_eq(attrs_of(f, n, "Entwürfe"), 0);
	ck_assert_int_eq(attrs_of(f, n, "Sent"), FA_SENT);
	ck_assert_int_eq(attrs_of(f, n, "Trash"), FA_TRASH);
	ck_assert_int_eq(attrs_of(f, n, "Drafts"), FA_DRAFTS);
	ck_assert_int_eq(attrs_of(f, n, "Junk"), FA_JUNK);
	ck_assert_int_eq(attrs_of(f, n, "Archive"), FA_ARCHIVE);
	ck_assert_int_eq(attrs_of(f, n, "Entw&APw-rfe"), -1);
	store_folders_free(f, n);
}
END_TEST

START_TEST(test_create_and_delete_a_nested_non_ascii_folder)
{
	const char *name = "Projekte/Übersicht/日本";
	struct store_folder *f = NULL;
	size_t n = 0;
	struct folder_state fs;
	char *on_server;

	capture_on();
	ck_assert_msg(store->driver->create_folder(store, name, &err) == 0, "%s", err.msg);
	assert_sent("CREATE \"Projekte/&ANw-bersicht/&ZeVnLA-\"\r\n");
	on_server = run("doveadm -c '%s' mailbox list -u alice", need_env("DOVECOT_CONF"));
	ck_assert_msg(strstr(on_server, "Projekte/Übersicht/日本\n"), "not on the server: %s",
		      on_server);
	free(on_server);

	ck_assert_msg(store->driver->list_folders(store, &f, &n, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(attrs_of(f, n, name), 0);
	ck_assert_int_eq(attrs_of(f, n, "Projekte") & FA_NOSELECT, FA_NOSELECT);
	store_folders_free(f, n);

	fs = select_ok(name);
	ck_assert_uint_eq(fs.exists, 0);
	ck_assert_uint_ne(fs.uidvalidity, 0);

	ck_assert_msg(store->driver->delete_folder(store, name, &err) == 0, "%s", err.msg);
	ck_assert_msg(store->driver->list_folders(store, &f, &n, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(attrs_of(f, n, name), -1);
	ck_assert_int_eq(attrs_of(f, n, "Projekte/Übersicht"), -1);
	store_folders_free(f, n);
	/* It was selected: nothing is selected any more. */
	assert_error(store->driver->list(store, &(struct msg_list){0}, &err),
		     "no folder is selected");
	assert_error(store->driver->select(store, name, &fs, &err), "日本");
}
END_TEST

START_TEST(test_folder_names_with_line_breaks_are_refused_before_anything_is_sent)
{
	static const char *const evil[] = {
	    "evil\r\nX1 CAPABILITY", "evil\nname", "tab\there", "a/../b", "/abs", "",
	};
	struct store_folder *f = NULL;
	struct folder_state fs;
	size_t n = 0;

	/* Learn the namespace first: that is the only thing allowed out. */
	ck_assert_msg(store->driver->list_folders(store, &f, &n, &err) == 0, "%s", err.msg);
	store_folders_free(f, n);
	capture_on();
	for (size_t i = 0; i < sizeof(evil) / sizeof(evil[0]); i++) {
		assert_error(store->driver->create_folder(store, evil[i], &err), "cannot create");
		/* The message shows the name without its line breaks. */
		ck_assert_msg(!strpbrk(err.msg, "\r\n\t"), "raw control characters in \"%s\"",
			      err.msg);
		assert_error(store->driver->delete_folder(store, evil[i], &err), "cannot delete");
		assert_error(store->driver->select(store, evil[i], &fs, &err), "cannot select");
	}
	ck_assert_msg(sent_len == 0, "sent although refused: %s", sent);
	/* The session is fine. */
	ck_assert_msg(store->driver->list_folders(store, &f, &n, &err) == 0, "%s", err.msg);
	store_folders_free(f, n);
	ck_assert(!((struct imap_store *)store)->broken);
}
END_TEST

START_TEST(test_select_reports_the_folder_state)
{
	struct folder_state fs = select_ok("Work");

	ck_assert_uint_eq(fs.uidvalidity, (uint32_t)server_status("Work", "uidvalidity"));
	ck_assert_uint_eq(fs.uidnext, (uint32_t)server_status("Work", "uidnext"));
	ck_assert_uint_eq(fs.exists, 4);
	ck_assert_uint_eq(fs.highestmodseq, (uint64_t)server_status("Work", "highestmodseq"));
	ck_assert(fs.keywords_ok);
}
END_TEST

START_TEST(test_select_of_a_missing_folder_fails_and_keeps_the_session)
{
	struct folder_state fs;

	select_ok("Work");
	assert_error(store->driver->select(store, "Nowhere", &fs, &err), "Nowhere");
	ck_assert(!((struct imap_store *)store)->broken);
	/* A failed SELECT deselects: the old folder is not silently used. */
	assert_error(store->driver->list(store, &(struct msg_list){0}, &err),
		     "no folder is selected");
	select_ok("Work");
}
END_TEST

/* ---- list, identify, fetch -------------------------------------------- */

START_TEST(test_list_gives_flags_keywords_sizes_and_dates)
{
	struct msg_list l;
	char *dates;

	select_ok("Work");
	list_ok(&l);
	ck_assert_uint_eq(l.n, 4);
	ck_assert_uint_eq(find_msg(&l, 1)->flags, MF_SEEN);
	assert_keywords(find_msg(&l, 1), NULL);
	ck_assert_uint_eq(find_msg(&l, 2)->flags, 0);
	assert_keywords(find_msg(&l, 2), "$Label1 ProjectX");
	ck_assert_uint_eq(find_msg(&l, 3)->flags, 0);
	ck_assert_uint_eq(find_msg(&l, 4)->flags, MF_FLAGGED | MF_ANSWERED | MF_FORWARDED);
	assert_keywords(find_msg(&l, 4), NULL);
	for (uint32_t uid = 1; uid <= 4; uid++) {
		size_t len;
		char *body = seeded("Work", uid, &len);

		ck_assert_msg(find_msg(&l, uid)->size == len, "uid %u: size %llu, CRLF size %zu",
			      uid, (unsigned long long)find_msg(&l, uid)->size, len);
		ck_assert(!msg_id_known(find_msg(&l, uid)));
		free(body);
	}
	ck_assert_uint_gt(find_msg(&l, 3)->size, 5000000);
	dates = run("doveadm -c '%s' -f tab fetch -u alice 'uid date.received.unixtime' mailbox "
		    "Work all | sed 1d",
		    need_env("DOVECOT_CONF"));
	for (const char *line = dates; *line; line = strchr(line, '\n') + 1) {
		unsigned uid;
		long long date;

		ck_assert_int_eq(sscanf(line, "%u %lld", &uid, &date), 2);
		ck_assert_int_eq(find_msg(&l, uid)->date, date);
		if (!strchr(line, '\n'))
			break;
	}
	free(dates);
	msg_list_free(&l);
}
END_TEST

/* A listing is asked for in runs of uids: libetpan holds each answer whole
 * as text, 80 MB for a folder of 880,000 messages in one UID FETCH. */
START_TEST(test_list_asks_in_runs_of_uids_and_loses_none)
{
	struct msg_list l;
	select_ok("Work");
	imap_set_list_uids(3);
	capture_on();
	list_ok(&l);
	imap_set_list_uids(0);
	assert_sent("UID FETCH 1:3 (UID FLAGS RFC822.SIZE INTERNALDATE)");
	assert_sent("UID FETCH 4"); /* 4:UIDNEXT-1 */
	ck_assert_uint_eq(l.n, 4);
	for (uint32_t uid = 1; uid <= 4; uid++)
		ck_assert_uint_eq(l.v[uid - 1].uid, uid);
	ck_assert_uint_eq(l.v[3].flags, MF_FLAGGED | MF_ANSWERED | MF_FORWARDED);
	msg_list_free(&l);
}
END_TEST

START_TEST(test_list_of_an_empty_folder_sends_nothing)
{
	struct msg_list l;

	select_ok("Empty");
	capture_on();
	list_ok(&l);
	ck_assert_uint_eq(l.n, 0);
	ck_assert_uint_eq(sent_len, 0);
	msg_list_free(&l);
}
END_TEST

static void ident_of(const char *text, size_t len, struct msg_id *id)
{
	struct ident ctx;

	ck_assert_int_eq(ident_init(&ctx), 0);
	ck_assert_int_eq(ident_feed(&ctx, text, len), 0);
	ck_assert_int_eq(ident_final(&ctx, id, NULL), 0);
}

START_TEST(test_identify_hashes_headers_as_identity_h_does)
{
	struct msg_list l;
	uint64_t sizes[5];

	select_ok("Work");
	list_ok(&l);
	for (size_t i = 0; i < l.n; i++)
		sizes[l.v[i].uid] = l.v[i].size;
	/* uid 1 counts as known already: it is not asked for again. */
	{
		struct msg_id ab = {.known = true};

		memset(ab.hash, 0xab, sizeof(ab.hash));
		ck_assert_int_eq(msg_set_id(&l.v[0], &ab), 0);
	}
	capture_on();
	ck_assert_msg(store->driver->identify(store, l.v, l.n, &err) == 0, "%s", err.msg);
	assert_sent("UID FETCH 2:4 (UID BODY.PEEK[HEADER])");
	ck_assert_uint_eq(l.v[0].ident->hash[0], 0xab);
	for (uint32_t uid = 2; uid <= 4; uid++) {
		const struct msg *m = find_msg(&l, uid);
		struct msg_id want;
		size_t len;
		char *body = seeded("Work", uid, &len);

		ident_of(body, len, &want);
		ck_assert_msg(msg_id_known(m), "uid %u not identified", uid);
		ck_assert_msg(memcmp(m->ident->hash, want.hash, 32) == 0, "uid %u: wrong hash",
			      uid);
		ck_assert_uint_eq(m->size, sizes[uid]);
		free(body);
	}
	msg_list_free(&l);
}
END_TEST

/* A server's copy with mbsync's X-TUID line: the identity leaves the line
 * out of the hash and out of the size, which is RFC822.SIZE less its 22
 * bytes (rule 6, version 2). */
START_TEST(test_identify_leaves_out_the_lines_other_synchronisers_add)
{
	struct msg_list l;
	struct msg_id want;
	uint64_t listed;
	size_t len;
	char *body = seeded("Tuid", 1, &len);

	ident_of(body, len, &want);
	select_ok("Tuid");
	list_ok(&l);
	ck_assert_uint_eq(l.n, 1);
	listed = l.v[0].size;
	ck_assert_uint_eq(listed, len);
	ck_assert_msg(store->driver->identify(store, l.v, l.n, &err) == 0, "%s", err.msg);
	ck_assert(msg_id_known(&l.v[0]));
	ck_assert_mem_eq(l.v[0].ident->hash, want.hash, sizeof(want.hash));
	ck_assert_uint_eq(l.v[0].size, listed - 22);
	msg_list_free(&l);
	free(body);
}
END_TEST

START_TEST(test_fetch_streams_bodies_identical_to_what_was_seeded)
{
	const uint32_t uids[] = {4, 3, 1, 2, 99, 3};
	struct collected c = {0};
	struct msg_list l;

	select_ok("Work");
	capture_on();
	ck_assert_msg(fetch(uids, sizeof(uids) / sizeof(uids[0]), &c) == 0, "%s", err.msg);
	assert_sent("UID FETCH 1:4,99 (UID BODY.PEEK[])");
	/* 99 does not exist: not delivered, not a failed fetch (rule 12), but
	 * told, as a message that did not arrive (rule 17). */
	ck_assert_int_eq(c.ends, 4);
	ck_assert_int_eq(c.undelivered, 1);
	ck_assert_uint_eq(c.undelivered_uids[0], 99);
	ck_assert_str_eq(c.undelivered_why[0], "no body came for it (the server answered OK)");
	ck_assert_int_eq(c.begins, 4);
	ck_assert_int_eq(c.aborts, 0);
	for (uint32_t uid = 1; uid <= 4; uid++) {
		int i = body_of(&c, uid);
		size_t len;
		char *want = seeded("Work", uid, &len);

		ck_assert_msg(i >= 0, "uid %u not delivered", uid);
		ck_assert_uint_eq(c.lens[i], len);
		ck_assert_msg(memcmp(c.bodies[i], want, len) == 0, "uid %u: body differs", uid);
		free(want);
	}
	/* The 5 MB message came in pieces, not as one buffer. */
	ck_assert_uint_gt(c.max_chunks[body_of(&c, 3)], 10);
	collected_free(&c);
	/* BODY.PEEK: reading did not mark anything \Seen. */
	list_ok(&l);
	ck_assert_uint_eq(find_msg(&l, 2)->flags, 0);
	msg_list_free(&l);
}
END_TEST

START_TEST(test_a_failing_sink_aborts_the_fetch_and_gives_up_the_session)
{
	const uint32_t uids[] = {3};
	struct collected c = {.fail_after = 1000000};
	struct folder_state fs;

	select_ok("Work");
	assert_error(fetch(uids, 1, &c), "folder \"Work\": storing a message: disk full (test)");
	ck_assert_int_eq(c.begins, 1);
	ck_assert_int_eq(c.aborts, 1);
	ck_assert_int_eq(c.ends, 0);
	ck_assert(((struct imap_store *)store)->broken);
	/* Every later call fails at once, saying why. */
	assert_error(store->driver->list(store, &(struct msg_list){0}, &err), "no longer usable");
	assert_error(store->driver->select(store, "Work", &fs, &err), "no longer usable");
	collected_free(&c);
}
END_TEST

/* ---- add -------------------------------------------------------------- */

/* What add_flush reported: done(seq, uid) per settled message. */
#define MAX_SETTLED 512
struct settled {
	size_t n;
	size_t seq[MAX_SETTLED];
	uint32_t uid[MAX_SETTLED];
	struct msg_id stored[MAX_SETTLED]; /* read back from the server */
};

static void on_settled(void *ctx, size_t seq, uint32_t uid, const struct msg_id *stored)
{
	struct settled *s = ctx;

	ck_assert_uint_lt(s->n, MAX_SETTLED);
	ck_assert_ptr_nonnull(stored); /* a server may rewrite: always read back */
	s->seq[s->n] = seq;
	s->stored[s->n] = *stored;
	s->uid[s->n++] = uid;
}

/* Begins, writes text in two halves and commits; the uid add_commit gave
 * (0 while the APPEND is in flight). */
static uint32_t commit_message(const char *text, size_t len, unsigned flags, const char *keywords,
			       int64_t date)
{
	struct store_new_msg *m = NULL;
	size_t half = len / 2;
	uint32_t uid = 0;

	ck_assert_msg(store->driver->add_begin(store, &m, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(store->driver->add_write(m, text, half, &err), 0);
	ck_assert_int_eq(store->driver->add_write(m, text + half, len - half, &err), 0);
	ck_assert_msg(store->driver->add_commit(m, flags, keywords, date, &uid, &err) == 0, "%s",
		      err.msg);
	return uid;
}

/* One message added and settled: its uid, as add_flush reports it. */
static uint32_t add_message(const char *text, unsigned flags, const char *keywords, int64_t date)
{
	struct settled s = {0};
	uint32_t uid = commit_message(text, strlen(text), flags, keywords, date);

	ck_assert_msg(store->driver->add_flush(store, on_settled, NULL, &s, &err) == 0, "%s",
		      err.msg);
	ck_assert_uint_eq(s.n, 1);
	ck_assert_uint_eq(s.seq[0], 0);
	ck_assert_msg(uid == 0 || uid == s.uid[0], "add_commit said uid %u, add_flush %u", uid,
		      s.uid[0]);
	/* Dovecot stores what it gets: the identity read back is the text's. */
	struct ident id;
	struct msg_id written;
	ck_assert_int_eq(ident_init(&id), 0);
	ck_assert_int_eq(ident_feed(&id, text, strlen(text)), 0);
	ck_assert_int_eq(ident_final(&id, &written, NULL), 0);
	ck_assert(s.stored[0].known);
	ck_assert_mem_eq(s.stored[0].hash, written.hash, sizeof(written.hash));
	return s.uid[0];
}

START_TEST(test_add_appends_with_flags_keyword_and_date)
{
	const char *text = "From: Bob <bob@example.org>\nSubject: appended by ferry\n\n"
			   "first line\nsecond line\n";
	struct folder_state fs = select_ok("Up");
	struct collected c = {0};
	struct msg_list l;
	size_t crlf_len;
	char *crlf = to_crlf(text, strlen(text), &crlf_len), *flags;
	uint32_t uid;

	uid = add_message(text, MF_SEEN | MF_FLAGGED | MF_FORWARDED, "ProjectX", 1700000000);
	ck_assert_uint_ge(uid, fs.uidnext);
	/* list shows it without a new SELECT. */
	list_ok(&l);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(l.v[0].uid, uid);
	ck_assert_uint_eq(l.v[0].flags, MF_SEEN | MF_FLAGGED | MF_FORWARDED);
	assert_keywords(&l.v[0], "ProjectX");
	ck_assert_int_eq(l.v[0].date, 1700000000);
	ck_assert_uint_eq(l.v[0].size, crlf_len);
	msg_list_free(&l);
	flags = server_flags("Up");
	ck_assert_msg(strstr(flags, "\\Seen") && strstr(flags, "\\Flagged") &&
			  strstr(flags, "$Forwarded") && strstr(flags, "ProjectX"),
		      "server flags: %s", flags);
	free(flags);
	ck_assert_int_eq(fetch(&uid, 1, &c), 0);
	ck_assert_int_eq(c.ends, 1);
	ck_assert_uint_eq(c.lens[0], crlf_len);
	ck_assert(memcmp(c.bodies[0], crlf, crlf_len) == 0);
	collected_free(&c);
	free(crlf);
}
END_TEST

START_TEST(test_add_without_date_or_flags_and_abort)
{
	struct store_new_msg *m = NULL;
	struct msg_list l;
	time_t before = time(NULL);
	uint32_t uid;

	select_ok("Up");
	uid = add_message("Subject: plain\r\n\r\nbody\r\n", 0, NULL, 0);
	ck_assert_uint_ne(uid, 0);
	list_ok(&l);
	ck_assert_uint_eq(find_msg(&l, uid)->flags, 0);
	assert_keywords(find_msg(&l, uid), NULL);
	ck_assert_int_ge(find_msg(&l, uid)->date, before - 5);
	ck_assert_int_le(find_msg(&l, uid)->date, time(NULL) + 5);
	msg_list_free(&l);

	/* Aborted: nothing reaches the server. */
	capture_on();
	ck_assert_int_eq(store->driver->add_begin(store, &m, &err), 0);
	ck_assert_int_eq(store->driver->add_write(m, "Subject: x\n\n", 12, &err), 0);
	store->driver->add_abort(m);
	/* An invalid keyword is refused before APPEND. */
	ck_assert_int_eq(store->driver->add_begin(store, &m, &err), 0);
	ck_assert_int_eq(store->driver->add_write(m, "Subject: y\n\n", 12, &err), 0);
	assert_error(store->driver->add_commit(m, 0, "good bad(kw", 0, &uid, &err),
		     "not a valid IMAP keyword");
	ck_assert_uint_eq(sent_len, 0);
}
END_TEST

static int count_of(const char *hay, const char *needle);

/* add_begin, add_write (if len), add_commit: add_commit's result. */
static int commit_may_fail(const char *text, size_t len)
{
	struct store_new_msg *m = NULL;
	uint32_t uid = 0;

	ck_assert_msg(store->driver->add_begin(store, &m, &err) == 0, "%s", err.msg);
	if (len)
		ck_assert_int_eq(store->driver->add_write(m, text, len, &err), 0);
	return store->driver->add_commit(m, 0, NULL, 0, &uid, &err);
}

/* The message of commit i of a pipelined batch, in the line-ending
 * convention i picks: LF, CRLF, no final newline, a lone CR, a CR that ends
 * one write and the LF that starts the next. Caller frees. */
static char *batch_text(int i, size_t *len)
{
	char *t = NULL;
	int n;

	switch (i % 5) {
	case 0:
		n = asprintf(&t, "Subject: pipelined %d\nX-Kind: lf\n\nline one\nline two %*s\n", i,
			     i * 37 % 3000, "");
		break;
	case 1:
		n = asprintf(&t, "Subject: pipelined %d\r\nX-Kind: crlf\r\n\r\nbody\r\n", i);
		break;
	case 2:
		n = asprintf(&t, "Subject: pipelined %d\nX-Kind: no final newline\n\nlast line", i);
		break;
	case 3:
		n = asprintf(&t, "Subject: pipelined %d\nX-Kind: lone cr\n\na\rb\n", i);
		break;
	default:
		n = asprintf(&t, "Subject: pipelined %d\nX-Kind: cr at the split\n\nab\r\ncd\n", i);
		break;
	}
	ck_assert_int_gt(n, 0);
	*len = (size_t)n;
	return t;
}

/* Commits text in writes split at every CR, so that a CRLF is cut between
 * two writes. */
static uint32_t commit_split_at_cr(const char *text, size_t len, unsigned flags,
				   const char *keywords, int64_t date)
{
	struct store_new_msg *m = NULL;
	uint32_t uid = 0;
	size_t from = 0;

	ck_assert_msg(store->driver->add_begin(store, &m, &err) == 0, "%s", err.msg);
	for (size_t i = 0; i < len; i++)
		if (text[i] == '\r' || i + 1 == len) {
			ck_assert_int_eq(
			    store->driver->add_write(m, text + from, i + 1 - from, &err), 0);
			from = i + 1;
		}
	ck_assert_msg(store->driver->add_commit(m, flags, keywords, date, &uid, &err) == 0, "%s",
		      err.msg);
	return uid;
}

#define BATCH 150 /* more than the window of APPENDs in flight */

START_TEST(test_appends_are_pipelined_and_settle_in_order)
{
	struct folder_state fs = select_ok("Pipe");
	struct settled s = {0};
	struct collected c = {0};
	struct msg_list l;
	uint32_t fetch_uids[5];
	char want[64];

	ck_assert_msg(store->caps & CAP_LITERAL_PLUS, "Dovecot offers LITERAL+");
	capture_on();
	for (int i = 0; i < BATCH; i++) {
		size_t len;
		char *text = batch_text(i, &len);
		uint32_t uid =
		    i % 5 == 4 ? commit_split_at_cr(text, len, MF_SEEN, "Batch", 0)
			       : commit_message(text, len, i % 2 ? MF_FLAGGED : 0,
						i % 3 ? NULL : "Batch $Forwarded", 1600000000 + i);

		ck_assert_msg(uid == 0, "commit %d: uid %u before add_flush", i, uid);
		free(text);
	}
	/* Sent with LITERAL+, each literal counted in its CRLF form. */
	ck_assert_int_eq(count_of(sent, " APPEND \"Pipe\" "), BATCH);
	ck_assert_int_eq(count_of(sent, "+}\r\n"), BATCH);
	assert_sent("APPEND \"Pipe\" (\\Flagged $Forwarded Batch) \"");
	assert_sent("APPEND \"Pipe\" (\\Seen Batch) {");
	snprintf(want, sizeof(want), " {%zu+}\r\n",
		 (size_t)strlen("Subject: pipelined 1\r\n"
				"X-Kind: crlf\r\n\r\nbody\r\n"));
	assert_sent(want);
	assert_sent(" \"13-Sep-2020 12:26:40 +0000\" {");

	ck_assert_msg(store->driver->add_flush(store, on_settled, NULL, &s, &err) == 0, "%s",
		      err.msg);
	ck_assert_uint_eq(s.n, BATCH);
	for (size_t i = 0; i < s.n; i++) {
		ck_assert_uint_eq(s.seq[i], i);
		ck_assert_uint_ge(s.uid[i], fs.uidnext);
		if (i)
			ck_assert_uint_gt(s.uid[i], s.uid[i - 1]);
	}
	/* Nothing left to settle: a second flush reports nothing. */
	ck_assert_int_eq(store->driver->add_flush(store, on_settled, NULL, &s, &err), 0);
	ck_assert_uint_eq(s.n, BATCH);

	/* list shows them without a new SELECT, with their CRLF sizes, flags
	 * and dates. */
	list_ok(&l);
	ck_assert_uint_eq(l.n, BATCH);
	for (int i = 0; i < BATCH; i++) {
		const struct msg *m = find_msg(&l, s.uid[i]);
		size_t len, crlf_len;
		char *text = batch_text(i, &len), *crlf = to_crlf(text, len, &crlf_len);

		ck_assert_msg(m->size == crlf_len, "commit %d: size %llu, expected %zu", i,
			      (unsigned long long)m->size, crlf_len);
		if (i % 5 == 4) {
			ck_assert_uint_eq(m->flags, MF_SEEN);
			assert_keywords(m, "Batch");
		} else {
			ck_assert_uint_eq(m->flags, (i % 2 ? MF_FLAGGED : 0u) |
							(i % 3 ? 0u : (unsigned)MF_FORWARDED));
			assert_keywords(m, i % 3 ? NULL : "Batch");
			ck_assert_int_eq(m->date, 1600000000 + i);
		}
		free(text);
		free(crlf);
	}
	msg_list_free(&l);
	/* One body of each kind, byte for byte in CRLF form. */
	for (int i = 0; i < 5; i++)
		fetch_uids[i] = s.uid[i];
	ck_assert_int_eq(fetch(fetch_uids, 5, &c), 0);
	ck_assert_int_eq(c.ends, 5);
	for (int i = 0; i < 5; i++) {
		size_t len, crlf_len;
		char *text = batch_text(i, &len), *crlf = to_crlf(text, len, &crlf_len);
		int at = body_of(&c, s.uid[i]);

		ck_assert_int_ge(at, 0);
		ck_assert_uint_eq(c.lens[at], crlf_len);
		ck_assert_msg(memcmp(c.bodies[at], crlf, crlf_len) == 0, "commit %d: body differs",
			      i);
		free(text);
		free(crlf);
	}
	collected_free(&c);
	ck_assert_int_eq(server_status("Pipe", "messages"), BATCH);
}
END_TEST

START_TEST(test_a_refused_append_fails_only_that_message)
{
	const char *a = "Subject: before\n\nbody\n", *b = "Subject: after\n\nbody\n";
	struct settled s = {0};
	struct msg_list l;

	select_ok("Pipe2");
	ck_assert_uint_eq(commit_message(a, strlen(a), 0, NULL, 0), 0);
	/* Dovecot refuses an empty message, with a NO for that APPEND only. */
	ck_assert_uint_eq(commit_message("", 0, 0, NULL, 0), 0);
	ck_assert_uint_eq(commit_message(b, strlen(b), 0, NULL, 0), 0);
	assert_error(store->driver->add_flush(store, on_settled, NULL, &s, &err),
		     "folder \"Pipe2\": the server refused to append a message of 0 bytes");
	ck_assert_msg(strstr(err.msg, "zero byte"), "the server's reason: %s", err.msg);
	ck_assert_uint_eq(s.n, 2);
	ck_assert_uint_eq(s.seq[0], 0);
	ck_assert_uint_eq(s.seq[1], 2);
	ck_assert_uint_gt(s.uid[1], s.uid[0]);
	/* The session stays in step. */
	ck_assert(!store->broken);
	list_ok(&l);
	ck_assert_uint_eq(l.n, 2);
	msg_list_free(&l);
}
END_TEST

START_TEST(test_other_calls_settle_appends_in_flight_first)
{
	const char *text = "Subject: in flight\n\nbody\n";
	struct settled s = {0};
	struct msg_list l;

	select_ok("Pipe3");
	for (int i = 0; i < 3; i++)
		ck_assert_uint_eq(commit_message(text, strlen(text), 0, NULL, 0), 0);
	/* Their answers are read before the listing's, and kept for add_flush. */
	list_ok(&l);
	ck_assert_uint_eq(l.n, 3);
	ck_assert_msg(store->driver->add_flush(store, on_settled, NULL, &s, &err) == 0, "%s",
		      err.msg);
	ck_assert_uint_eq(s.n, 3);
	for (size_t i = 0; i < 3; i++)
		ck_assert_uint_eq(s.uid[i], l.v[i].uid);
	msg_list_free(&l);
	/* Nothing committed: add_flush does nothing. */
	s.n = 0;
	ck_assert_int_eq(store->driver->add_flush(store, on_settled, NULL, &s, &err), 0);
	ck_assert_uint_eq(s.n, 0);
}
END_TEST

START_TEST(test_an_append_to_a_missing_folder_says_it_does_not_exist)
{
	const char *text = "Subject: nowhere\n\nbody\n";
	struct imap_store *st = (struct imap_store *)store;
	struct settled s = {0};

	select_ok("Pipe4");
	/* As if the folder had been deleted since (deleting a selected folder
	 * under Dovecot gives an internal error instead of [TRYCREATE]). */
	free(st->selected_imap);
	st->selected_imap = strdup("Nowhere");
	ck_assert_uint_eq(commit_message(text, strlen(text), 0, NULL, 0), 0);
	assert_error(store->driver->add_flush(store, on_settled, NULL, &s, &err),
		     "folder \"Pipe4\": the server refused to append a message of 26 bytes (the "
		     "folder does not exist)");
	ck_assert_uint_eq(s.n, 0);
	ck_assert(!store->broken);
	ck_assert_int_eq(server_status("Pipe4", "messages"), 0);
}
END_TEST

START_TEST(test_without_literal_plus_each_append_waits_for_its_answer)
{
	const char *text = "Subject: synchronous\nX: y\n\nbody\n";
	struct folder_state fs = select_ok("Sync");
	struct settled s = {0};
	size_t crlf_len;
	char *crlf = to_crlf(text, strlen(text), &crlf_len), want[64];
	uint32_t first, second;

	store->caps &= ~(unsigned)CAP_LITERAL_PLUS;
	capture_on();
	first = commit_message(text, strlen(text), MF_SEEN, NULL, 1700000000);
	ck_assert_uint_ge(first, fs.uidnext);
	snprintf(want, sizeof(want), " {%zu}\r\n", crlf_len);
	assert_sent(want);
	ck_assert_msg(!strstr(sent, "+}"), "no LITERAL+ without the capability:\n%s", sent);
	/* Refused at once, before the message is sent; the session goes on. */
	assert_error(commit_may_fail("", 0), "refused to append a message of 0 bytes");
	second = commit_message(text, strlen(text), 0, NULL, 0);
	ck_assert_uint_gt(second, first);
	/* add_flush reports what add_commit already said. */
	ck_assert_msg(store->driver->add_flush(store, on_settled, NULL, &s, &err) == 0, "%s",
		      err.msg);
	ck_assert_uint_eq(s.n, 2);
	ck_assert_uint_eq(s.seq[0], 0);
	ck_assert_uint_eq(s.uid[0], first);
	ck_assert_uint_eq(s.seq[1], 1);
	ck_assert_uint_eq(s.uid[1], second);
	ck_assert_int_eq(server_status("Sync", "messages"), 2);
	free(crlf);
}
END_TEST

/* ---- flags and deletion ----------------------------------------------- */

START_TEST(test_set_flags_adds_and_removes_flags_and_keywords)
{
	const uint32_t all[] = {3, 1, 2}, odd[] = {1, 3};
	struct msg_list l;
	char *flags;

	select_ok("Flags");
	capture_on();
	ck_assert_msg(store->driver->set_flags(store, all, 3, MF_SEEN | MF_FLAGGED, 0, "Alpha Beta",
					       NULL, &err) == 0,
		      "%s", err.msg);
	ck_assert_msg(store->driver->set_flags(store, odd, 2, 0, MF_FLAGGED, NULL, "alpha", &err) ==
			  0,
		      "%s", err.msg);
	assert_sent("UID STORE 1:3 +FLAGS.SILENT (\\Flagged \\Seen Alpha Beta)");
	assert_sent("UID STORE 1,3 -FLAGS.SILENT (\\Flagged alpha)");
	ck_assert_msg(!strstr(sent, " FLAGS ") && !strstr(sent, " FLAGS.SILENT"),
		      "absolute FLAGS sent: %s", sent);
	list_ok(&l);
	ck_assert_uint_eq(find_msg(&l, 1)->flags, MF_SEEN);
	assert_keywords(find_msg(&l, 1), "Beta");
	ck_assert_uint_eq(find_msg(&l, 2)->flags, MF_SEEN | MF_FLAGGED);
	assert_keywords(find_msg(&l, 2), "Alpha Beta");
	ck_assert_uint_eq(find_msg(&l, 3)->flags, MF_SEEN);
	assert_keywords(find_msg(&l, 3), "Beta");
	msg_list_free(&l);
	flags = server_flags("Flags");
	ck_assert_str_eq(flags, "1 \\Seen Beta\n2 \\Flagged \\Seen Alpha Beta\n3 \\Seen Beta\n");
	free(flags);
	/* A keyword that is not an atom never reaches the server. */
	assert_error(store->driver->set_flags(store, all, 3, 0, 0, "ok (bad", NULL, &err),
		     "not a valid IMAP keyword");
}
END_TEST

START_TEST(test_delete_msgs_expunges_only_those_uids)
{
	const uint32_t uids[] = {2, 1};
	struct msg_list l;
	char *flags;

	select_ok("Del");
	capture_on();
	ck_assert_msg(store->driver->delete_msgs(store, uids, 2, &err) == 0, "%s", err.msg);
	assert_sent("UID STORE 1:2 +FLAGS.SILENT (\\Deleted)");
	assert_sent("UID EXPUNGE 1:2");
	flags = server_flags("Del");
	ck_assert_str_eq(flags, "3\n4 \\Deleted\n");
	free(flags);
	list_ok(&l);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_uint_eq(find_msg(&l, 4)->flags, MF_DELETED);
	msg_list_free(&l);
}
END_TEST

START_TEST(test_delete_without_uidplus_leaves_others_deleted_messages_alone)
{
	const uint32_t one = 1, three = 3;
	char *flags;

	select_ok("Del2");
	store->caps &= ~CAP_UIDPLUS; /* as on a server without UIDPLUS */
	capture_on();
	assert_error(store->driver->delete_msgs(store, &one, 1, &err), "UIDPLUS");
	ck_assert_msg(strstr(err.msg, "uid 3"), "%s", err.msg);
	assert_sent("UID SEARCH DELETED");
	ck_assert_msg(!strstr(sent, "EXPUNGE"), "expunged anyway: %s", sent);
	flags = server_flags("Del2");
	ck_assert_str_eq(flags, "1 \\Deleted\n2\n3 \\Deleted\n");
	free(flags);
	/* Once nobody else's message is \Deleted, EXPUNGE is safe. */
	ck_assert_int_eq(
	    store->driver->set_flags(store, &three, 1, 0, MF_DELETED, NULL, NULL, &err), 0);
	ck_assert_msg(store->driver->delete_msgs(store, &one, 1, &err) == 0, "%s", err.msg);
	flags = server_flags("Del2");
	ck_assert_str_eq(flags, "2\n3\n");
	free(flags);
}
END_TEST

/* ---- move ------------------------------------------------------------- */

static const char move_target_name[] = "Ablage/Übersicht/日本";

/* What Dovecot's mail_log wrote since log_mark() (DOVECOT_LOG). */
static long log_mark(void)
{
	struct stat sb;

	ck_assert_int_eq(stat(need_env("DOVECOT_LOG"), &sb), 0);
	return (long)sb.st_size;
}

static char *log_since(long mark)
{
	size_t len;
	char *all = slurp(need_env("DOVECOT_LOG"), &len), *out;

	ck_assert_uint_ge(len, (size_t)mark);
	out = strdup(all + mark);
	ck_assert_ptr_nonnull(out);
	free(all);
	return out;
}

static int count_of(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* The log since mark once it holds `want` lines with `what` (Dovecot's log
 * process writes them a moment after the command's OK). */
static char *log_wait(long mark, const char *what, int want)
{
	char *log = NULL;

	for (int i = 0; i < 100; i++) {
		free(log);
		log = log_since(mark);
		if (count_of(log, what) >= want)
			break;
		usleep(50 * 1000);
	}
	return log;
}

static int move(const uint32_t *uids, size_t n, const char *to, uint32_t *new_uids)
{
	return store->driver->move_msgs(store, uids, n, to, new_uids, &err);
}

/* The moved messages are in `to` under new_uids, with what they had in the
 * source listing src; the source holds only `left` messages. */
static void assert_moved(const struct msg_list *src, const uint32_t *uids, const uint32_t *new_uids,
			 size_t n, const char *to, size_t left)
{
	const char *from = ((struct imap_store *)store)->selected;
	char *from_name = strdup(from);
	struct msg_list l;

	ck_assert_ptr_nonnull(from_name);
	/* The source stays selected and lists them no more. */
	list_ok(&l);
	ck_assert_uint_eq(l.n, left);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < l.n; j++)
			ck_assert_msg(l.v[j].uid != uids[i], "uid %u is still in %s", uids[i],
				      from_name);
	msg_list_free(&l);
	ck_assert_uint_eq(((struct imap_store *)store)->exists, left);

	select_ok(to);
	list_ok(&l);
	ck_assert_uint_eq(l.n, n);
	for (size_t i = 0; i < n; i++) {
		const struct msg *was = find_msg(src, uids[i]), *now;

		ck_assert_msg(new_uids[i] != 0, "no new uid for uid %u", uids[i]);
		now = find_msg(&l, new_uids[i]);
		ck_assert_uint_eq(now->flags, was->flags);
		assert_keywords(now, was->keywords);
		ck_assert_uint_eq(now->size, was->size);
		ck_assert_int_eq(now->date, was->date);
	}
	msg_list_free(&l);
	select_ok(from_name);
	free(from_name);
}

START_TEST(test_move_keeps_flags_and_keywords_and_sends_no_body)
{
	const uint32_t uids[] = {3, 1, 2};
	uint32_t new_uids[3] = {0};
	struct msg_list src;
	char line[256], *log;
	long mark;

	select_ok("Move");
	list_ok(&src);
	ck_assert_uint_eq(src.n, 4);
	ck_assert_uint_eq(find_msg(&src, 2)->flags, MF_FLAGGED);
	assert_keywords(find_msg(&src, 2), "$Label1");
	assert_keywords(find_msg(&src, 3), "$Label1 ProjectX");
	ck_assert(store->caps & CAP_MOVE);
	mark = log_mark();
	capture_on();
	ck_assert_msg(move(uids, 3, move_target_name, new_uids) == 0, "%s", err.msg);
	assert_sent("UID MOVE 1:3 \"Ablage/&ANw-bersicht/&ZeVnLA-\"\r\n");
	ck_assert_msg(!strstr(sent, "APPEND") && !strstr(sent, "COPY"), "sent:\n%s", sent);
	/* The uids the server gave, pairwise: 1 2 3 became the target's first
	 * three, in that order. */
	ck_assert_uint_eq(new_uids[1] + 1, new_uids[2]);
	ck_assert_uint_eq(new_uids[2] + 1, new_uids[0]);

	log = log_wait(mark, "copy from Move: ", 3);
	for (size_t i = 0; i < 3; i++) {
		snprintf(line, sizeof(line), "copy from Move: box=%s, uid=%u,", move_target_name,
			 new_uids[i]);
		ck_assert_msg(strstr(log, line), "no \"%s\" in the log:\n%s", line, log);
	}
	ck_assert_int_eq(count_of(log, "copy from Move: "), 3);
	ck_assert_int_eq(count_of(log, "expunge: box=Move, "), 3);
	ck_assert_msg(!strstr(log, ": save: "), "a message was saved, not moved:\n%s", log);
	free(log);

	assert_moved(&src, uids, new_uids, 3, move_target_name, 1);
	msg_list_free(&src);
}
END_TEST

START_TEST(test_move_without_move_copies_and_expunges_only_those_uids)
{
	const uint32_t uids[] = {2, 1}, four = 4;
	uint32_t new_uids[2] = {0}, new_four = 99;
	struct msg_list src, l;
	char *flags, *log;
	long mark;

	select_ok("Move2");
	store->caps &= ~CAP_MOVE; /* as on a server without MOVE */
	list_ok(&src);
	ck_assert_uint_eq(src.n, 4);
	ck_assert_uint_eq(find_msg(&src, 3)->flags, MF_DELETED); /* another client's */
	mark = log_mark();
	capture_on();
	ck_assert_msg(move(uids, 2, "Moved2", new_uids) == 0, "%s", err.msg);
	assert_sent("UID COPY 1:2 Moved2\r\n");
	assert_sent("UID STORE 1:2 +FLAGS.SILENT (\\Deleted)\r\n");
	assert_sent("UID EXPUNGE 1:2\r\n");
	ck_assert_msg(!strstr(sent, "MOVE") && !strstr(sent, "APPEND"), "sent:\n%s", sent);
	flags = server_flags("Move2");
	ck_assert_str_eq(flags, "3 \\Deleted\n4\n");
	free(flags);
	log = log_wait(mark, "copy from Move2: ", 2);
	ck_assert_int_eq(count_of(log, "copy from Move2: "), 2);
	ck_assert_msg(!strstr(log, ": save: "), "a message was saved, not copied:\n%s", log);
	free(log);
	assert_moved(&src, uids, new_uids, 2, "Moved2", 2);

	/* Without UIDPLUS either, EXPUNGE would take uid 3 as well: the copy is
	 * made, the original stays marked \Deleted, and the error says so. */
	store->caps &= ~CAP_UIDPLUS;
	capture_on();
	assert_error(move(&four, 1, "Moved2", &new_four), "UIDPLUS");
	ck_assert_msg(strstr(err.msg, "uid 3") && strstr(err.msg, "Moved2"), "%s", err.msg);
	ck_assert_uint_eq(new_four, 0);
	assert_sent("UID SEARCH DELETED");
	ck_assert_msg(!strstr(sent, "EXPUNGE"), "expunged anyway: %s", sent);
	flags = server_flags("Move2");
	ck_assert_str_eq(flags, "3 \\Deleted\n4 \\Deleted\n");
	free(flags);
	ck_assert(!((struct imap_store *)store)->broken);
	select_ok("Moved2");
	list_ok(&l);
	ck_assert_uint_eq(l.n, 3);
	msg_list_free(&l);
	msg_list_free(&src);
}
END_TEST

START_TEST(test_move_to_a_missing_or_unusable_folder_fails)
{
	const uint32_t one = 1;
	uint32_t new_uid = 7;
	struct msg_list l;

	select_ok("Move3");
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1)
			store->caps &= ~CAP_MOVE; /* UID COPY fails the same way */
		assert_error(move(&one, 1, "Nirgends/Übrig", &new_uid), "\"Nirgends/Übrig\"");
		ck_assert_msg(strstr(err.msg, "does not exist"), "%s", err.msg);
		ck_assert_uint_eq(new_uid, 0);
		ck_assert(!((struct imap_store *)store)->broken);
		list_ok(&l);
		ck_assert_uint_eq(l.n, 2);
		ck_assert_uint_eq(find_msg(&l, 1)->flags, 0);
		msg_list_free(&l);
	}
	/* Names CREATE would refuse are refused before anything is sent. */
	capture_on();
	assert_error(move(&one, 1, "evil\r\nX1 CAPABILITY", &new_uid), "cannot move to folder");
	ck_assert_msg(!strpbrk(err.msg, "\r\n"), "raw line break in \"%s\"", err.msg);
	assert_error(move(&one, 1, "a/../b", &new_uid), "cannot move to folder");
	assert_error(move(&one, 1, "Move3", &new_uid), "into the folder itself");
	ck_assert_msg(sent_len == 0, "sent although refused: %s", sent);
}
END_TEST

START_TEST(test_move_of_a_vanished_uid_yields_zero)
{
	const uint32_t uids[] = {2, 1, 99}, three = 3;
	uint32_t new_uids[3] = {7, 7, 7}, one = 7;
	struct msg_list l;
	char *out;

	select_ok("Move4");
	/* Another client expunges uid 2 after ferry listed it: Dovecot refuses
	 * the whole UID MOVE with NO [EXPUNGEISSUED] and reports the expunge;
	 * the second attempt moves the rest. */
	out = run("doveadm -c '%s' expunge -u alice mailbox Move4 uid 2", need_env("DOVECOT_CONF"));
	free(out);
	capture_on();
	ck_assert_msg(move(uids, 3, "Moved4", new_uids) == 0, "%s", err.msg);
	ck_assert_int_eq(count_of(sent, "UID MOVE 1:2,99 Moved4\r\n"), 2);
	ck_assert_uint_eq(new_uids[0], 0);
	ck_assert_uint_ne(new_uids[1], 0);
	ck_assert_uint_eq(new_uids[2], 0);
	/* Nothing left to move: OK, and 0. */
	ck_assert_msg(move(uids, 1, "Moved4", &one) == 0, "%s", err.msg);
	ck_assert_uint_eq(one, 0);
	/* The same by UID COPY. */
	store->caps &= ~CAP_MOVE;
	out = run("doveadm -c '%s' expunge -u alice mailbox Move4 uid 3", need_env("DOVECOT_CONF"));
	free(out);
	one = 7;
	ck_assert_msg(move(&three, 1, "Moved4", &one) == 0, "%s", err.msg);
	ck_assert_uint_eq(one, 0);
	ck_assert(!((struct imap_store *)store)->broken);
	list_ok(&l);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(l.v[0].uid, 4);
	msg_list_free(&l);
	select_ok("Moved4");
	list_ok(&l);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(l.v[0].uid, new_uids[1]);
	msg_list_free(&l);
}
END_TEST

START_TEST(test_message_calls_need_a_selected_folder)
{
	const uint32_t one = 1;
	struct store_new_msg *m = NULL;
	struct collected c = {0};

	assert_error(store->driver->list(store, &(struct msg_list){0}, &err),
		     "no folder is selected");
	assert_error(fetch(&one, 1, &c), "no folder is selected");
	assert_error(store->driver->set_flags(store, &one, 1, MF_SEEN, 0, NULL, NULL, &err),
		     "no folder is selected");
	assert_error(store->driver->delete_msgs(store, &one, 1, &err), "no folder is selected");
	assert_error(store->driver->move_msgs(store, &one, 1, "Work", &(uint32_t){0}, &err),
		     "no folder is selected");
	assert_error(store->driver->add_begin(store, &m, &err), "no folder is selected");
	assert_error(store->driver->identify(store, &(struct msg){.uid = 1}, 1, &err),
		     "no folder is selected");
}
END_TEST

/* ---- the fake server -------------------------------------------------- */

START_TEST(test_split_and_unsolicited_fetch_responses_are_merged)
{
	struct msg_list l;

	open_fake("merge");
	select_ok("Work");
	list_ok(&l);
	ck_assert_uint_eq(l.n, 3);
	ck_assert_uint_eq(find_msg(&l, 1)->flags, MF_SEEN);
	assert_keywords(find_msg(&l, 1), "$Label1");
	ck_assert_uint_eq(find_msg(&l, 1)->size, 100);
	ck_assert_int_eq(find_msg(&l, 1)->date, 1704067200);
	/* The later FLAGS of uid 2 win; \Recent is not a keyword. */
	ck_assert_uint_eq(find_msg(&l, 2)->flags, MF_ANSWERED);
	assert_keywords(find_msg(&l, 2), NULL);
	ck_assert_int_eq(find_msg(&l, 2)->date, 1704067200 + 2 * 3600);
	/* uid 5 came in two halves. */
	ck_assert_uint_eq(find_msg(&l, 5)->flags, MF_DRAFT);
	ck_assert_uint_eq(find_msg(&l, 5)->size, 500);
	ck_assert_int_eq(find_msg(&l, 5)->date, 1704153600 + 5 * 3600 + 30 * 60);
	msg_list_free(&l);
	close_store();
}
END_TEST

/* Peak resident memory in kB; reset_peak() starts a new peak (Linux 4.0+). */
static long peak_kb(void)
{
	size_t len;
	char *status = slurp("/proc/self/status", &len), *at = strstr(status, "VmHWM:");
	long kb = at ? strtol(at + 6, NULL, 10) : -1;

	free(status);
	return kb;
}

static void reset_peak(void)
{
	FILE *f = fopen("/proc/self/clear_refs", "w");

	ck_assert_ptr_nonnull(f);
	fputs("5", f);
	fclose(f);
}

START_TEST(test_a_listing_of_100k_messages_is_streamed)
{
	struct msg_list l;
	long before, growth;

	open_fake("many");
	select_ok("Work");
	reset_peak();
	before = peak_kb();
	list_ok(&l);
	growth = peak_kb() - before;
	ck_assert_uint_eq(l.n, 100000);
	ck_assert_uint_eq(l.v[99999].uid, 100000);
	ck_assert_uint_eq(l.v[99999].flags, MF_SEEN);
	assert_keywords(&l.v[99999], "$Label5 Work");
	ck_assert_uint_eq(l.v[99999].size, 101000);
	fprintf(stderr, "# listing 100000 messages: peak RSS +%ld kB\n", growth);
#ifndef __SANITIZE_ADDRESS__
	/* Measured (-O2): +29 MB, 11 MB of it libetpan's own (the whole answer
	 * stays in its buffer until the tagged OK); without the handler libetpan
	 * would keep every response: +113 MB. */
	ck_assert_msg(growth < 48 * 1024, "listing 100000 messages took %ld kB", growth);
#endif
	msg_list_free(&l);
	close_store();
}
END_TEST

struct refusal {
	const char *scenario;
	const char *says;
};

static const struct refusal refusals[] = {
    {"dup", "listed uid 2 twice"},    {"zero", "listed uid 0"},
    {"wrap", "not below UIDNEXT 10"}, {"nouid", "without UIDs"},
    {"cut-list", "connection lost"},
};

START_TEST(test_a_listing_that_cannot_be_complete_is_refused)
{
	const struct refusal *t = &refusals[_i];
	struct msg_list l = {0};

	open_fake(t->scenario);
	select_ok("Work");
	assert_error(store->driver->list(store, &l, &err), t->says);
	ck_assert_msg(strstr(err.msg, "Work"), "the folder is not named: %s", err.msg);
	ck_assert_uint_eq(l.n, 0);
	close_store();
}
END_TEST

START_TEST(test_connection_lost_inside_a_body_aborts_that_message)
{
	const uint32_t uids[] = {1, 2};
	struct collected c = {0};
	struct folder_state fs;

	open_fake("cut-body");
	select_ok("Work");
	assert_error(fetch(uids, 2, &c), "connection lost");
	/* uid 1 was complete and is delivered; uid 2 was begun and dropped. */
	ck_assert_int_eq(c.ends, 1);
	ck_assert_uint_eq(c.uids[0], 1);
	ck_assert_int_eq(c.begins, 2);
	ck_assert_int_eq(c.aborts, 1);
	assert_error(store->driver->select(store, "Work", &fs, &err), "no longer usable");
	collected_free(&c);
	close_store();
}
END_TEST

START_TEST(test_empty_nil_and_unasked_bodies)
{
	const uint32_t uids[] = {1, 2, 3, 4};
	struct collected c = {0};

	open_fake("bodies");
	select_ok("Work");
	ck_assert_msg(fetch(uids, 4, &c) == 0, "%s", err.msg);
	/* 1 ({0}) and 2 ("") are empty messages; 3 (NIL) is not delivered, and
	 * told; 7 was not asked for: begun by its chunk, then dropped. */
	ck_assert_int_eq(c.ends, 3);
	ck_assert_int_eq(c.undelivered, 1);
	ck_assert_uint_eq(c.undelivered_uids[0], 3);
	ck_assert_str_eq(c.undelivered_why[0], "the server sent BODY[] NIL");
	ck_assert_int_ge(body_of(&c, 1), 0);
	ck_assert_uint_eq(c.lens[body_of(&c, 1)], 0);
	ck_assert_int_ge(body_of(&c, 2), 0);
	ck_assert_uint_eq(c.lens[body_of(&c, 2)], 0);
	ck_assert_int_eq(body_of(&c, 3), -1);
	ck_assert_int_eq(body_of(&c, 7), -1);
	ck_assert_int_ge(body_of(&c, 4), 0);
	ck_assert_uint_eq(c.lens[body_of(&c, 4)], 11);
	ck_assert_int_eq(c.aborts, 1);
	collected_free(&c);
	close_store();
}
END_TEST

START_TEST(test_copyuid_pairs_source_and_destination_uids_in_order)
{
	const uint32_t uids[] = {2, 3, 1}, five = 5;
	uint32_t new_uids[3] = {0}, new_five = 7;

	open_fake("copyuid");
	select_ok("Work");
	/* COPYUID 9 3,1:2 20,11:12: 3 -> 20, 1 -> 11, 2 -> 12. */
	ck_assert_msg(move(uids, 3, "Archive", new_uids) == 0, "%s", err.msg);
	ck_assert_uint_eq(new_uids[0], 12);
	ck_assert_uint_eq(new_uids[1], 20);
	ck_assert_uint_eq(new_uids[2], 11);
	ck_assert_uint_eq(((struct imap_store *)store)->exists, 0);
	/* One source uid, two destination uids: nothing is guessed. */
	ck_assert_msg(move(&five, 1, "Archive", &new_five) == 0, "%s", err.msg);
	ck_assert_uint_eq(new_five, 0);
	close_store();
}
END_TEST

START_TEST(test_courier_namespace_prefix_and_unsafe_names)
{
	struct store_folder *f = NULL;
	struct folder_state fs;
	size_t n = 0;
	char *got;

	open_fake("courier");
	ck_assert_msg(store->driver->list_folders(store, &f, &n, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(attrs_of(f, n, "INBOX"), 0);
	ck_assert_int_eq(attrs_of(f, n, "Sent"), FA_SENT);
	ck_assert_int_eq(attrs_of(f, n, "Entwürfe"), 0);
	ck_assert_int_eq(attrs_of(f, n, "Entwürfe/Sub"), FA_NOSELECT);
	/* Other namespaces, the unsafe names and the NIL-delimited name
	 * outside the prefix are not there. */
	ck_assert_uint_eq(n, 4);
	store_folders_free(f, n);
	ck_assert_msg(store->driver->create_folder(store, "Neu/Übersicht", &err) == 0, "%s",
		      err.msg);
	select_ok("Entwürfe");
	assert_error(store->driver->create_folder(store, "a.b", &err), "cannot create");
	ck_assert_int_eq(store->driver->select(store, "INBOX", &fs, &err), 0);
	got = fake_received();
	ck_assert_msg(strstr(got, " CREATE \"INBOX.Neu.&ANw-bersicht\"\n"), "received:\n%s", got);
	ck_assert_msg(strstr(got, " SELECT \"INBOX.Entw&APw-rfe\" (CONDSTORE)\n"), "received:\n%s",
		      got);
	ck_assert_msg(strstr(got, " SELECT INBOX (CONDSTORE)\n"), "received:\n%s", got);
	ck_assert_msg(!strstr(got, "a.b"), "received:\n%s", got);
	free(got);
	close_store();
}
END_TEST

START_TEST(test_other_users_and_shared_namespaces_are_not_this_accounts)
{
	struct store_folder *f = NULL;
	size_t n = 0;
	char *got;

	open_fake("shared");
	ck_assert_msg(store->driver->list_folders(store, &f, &n, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(attrs_of(f, n, "INBOX"), 0);
	ck_assert_int_eq(attrs_of(f, n, "Work"), 0);
	ck_assert_int_eq(attrs_of(f, n, "Usersdata"), 0);
	ck_assert_uint_eq(n, 3);
	store_folders_free(f, n);
	assert_error(store->driver->create_folder(store, "Users/x", &err), "another user's");
	got = fake_received();
	ck_assert_msg(!strstr(got, "CREATE"), "received:\n%s", got);
	free(got);
	close_store();
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *imap_store_suite(void)
{
	Suite *s = suite_create("imap_store");
	TCase *dovecot = tcase_create("dovecot");
	TCase *fake = tcase_create("fake server");

	tcase_add_checked_fixture(dovecot, open_dovecot, close_store);
	tcase_set_timeout(dovecot, 120);
	tcase_add_test(dovecot, test_list_folders_decodes_names_and_reports_special_use);
	tcase_add_test(dovecot, test_create_and_delete_a_nested_non_ascii_folder);
	tcase_add_test(dovecot,
		       test_folder_names_with_line_breaks_are_refused_before_anything_is_sent);
	tcase_add_test(dovecot, test_select_reports_the_folder_state);
	tcase_add_test(dovecot, test_select_of_a_missing_folder_fails_and_keeps_the_session);
	tcase_add_test(dovecot, test_list_gives_flags_keywords_sizes_and_dates);
	tcase_add_test(dovecot, test_list_of_an_empty_folder_sends_nothing);
	tcase_add_test(dovecot, test_list_asks_in_runs_of_uids_and_loses_none);
	tcase_add_test(dovecot, test_identify_hashes_headers_as_identity_h_does);
	tcase_add_test(dovecot, test_identify_leaves_out_the_lines_other_synchronisers_add);
	tcase_add_test(dovecot, test_fetch_streams_bodies_identical_to_what_was_seeded);
	tcase_add_test(dovecot, test_a_failing_sink_aborts_the_fetch_and_gives_up_the_session);
	tcase_add_test(dovecot, test_add_appends_with_flags_keyword_and_date);
	tcase_add_test(dovecot, test_add_without_date_or_flags_and_abort);
	tcase_add_test(dovecot, test_appends_are_pipelined_and_settle_in_order);
	tcase_add_test(dovecot, test_a_refused_append_fails_only_that_message);
	tcase_add_test(dovecot, test_other_calls_settle_appends_in_flight_first);
	tcase_add_test(dovecot, test_an_append_to_a_missing_folder_says_it_does_not_exist);
	tcase_add_test(dovecot, test_without_literal_plus_each_append_waits_for_its_answer);
	tcase_add_test(dovecot, test_set_flags_adds_and_removes_flags_and_keywords);
	tcase_add_test(dovecot, test_delete_msgs_expunges_only_those_uids);
	tcase_add_test(dovecot, test_delete_without_uidplus_leaves_others_deleted_messages_alone);
	tcase_add_test(dovecot, test_move_keeps_flags_and_keywords_and_sends_no_body);
	tcase_add_test(dovecot, test_move_without_move_copies_and_expunges_only_those_uids);
	tcase_add_test(dovecot, test_move_to_a_missing_or_unusable_folder_fails);
	tcase_add_test(dovecot, test_move_of_a_vanished_uid_yields_zero);
	tcase_add_test(dovecot, test_message_calls_need_a_selected_folder);
	suite_add_tcase(s, dovecot);

	tcase_set_timeout(fake, 60);
	tcase_add_test(fake, test_split_and_unsolicited_fetch_responses_are_merged);
	tcase_add_test(fake, test_a_listing_of_100k_messages_is_streamed);
	tcase_add_loop_test(fake, test_a_listing_that_cannot_be_complete_is_refused, 0,
			    N(refusals));
	tcase_add_test(fake, test_connection_lost_inside_a_body_aborts_that_message);
	tcase_add_test(fake, test_empty_nil_and_unasked_bodies);
	tcase_add_test(fake, test_copyuid_pairs_source_and_destination_uids_in_order);
	tcase_add_test(fake, test_courier_namespace_prefix_and_unsafe_names);
	tcase_add_test(fake, test_other_users_and_shared_namespaces_are_not_this_accounts);
	suite_add_tcase(s, fake);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(imap_store_suite());
	int failed;

	/* A session that dies must not take the test program with it. */
	signal(SIGPIPE, SIG_IGN);
	srunner_run_all(sr, CK_VERBOSE);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
