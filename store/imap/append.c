/* Adding messages: APPEND, streamed from a spool file.
 *
 * With LITERAL+ (RFC 7888) an APPEND goes out whole, literal included,
 * without waiting for the server's "+": add_commit sends it and returns,
 * and the answers are read later, oldest first, when the window is full,
 * at add_flush, or before any other command. Without LITERAL+ each APPEND
 * waits for "+" and then for its answer, as before. Either way the message
 * is streamed from its spool file; libetpan's APPEND would want it whole.
 * The APPENDs sent ahead are commands in flight on the queue (queue.c). */
#include "store/imap/append.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/base/grow.h"
#include "store/fdio.h"
#include "store/flags.h"
#include "store/imap/fetch.h"
#include "store/imap/flags.h"
#include "store/imap/queue.h"
#include "store/imap/select.h"
#include "store/log.h"

/* APPENDs in flight at most; then add_commit first reads the oldest
 * answer. The answers are small, so the server never blocks writing them
 * while ferry is still writing messages. */
#define APPEND_WINDOW 64
/* Bytes per write to the spool and per read back from it: with the
 * stream's own buffer, all the memory a message of any size costs. */
#define APPEND_CHUNK 16384

/* A message being appended: spooled to an unlinked temporary file with its
 * line endings already turned into CRLF, so that the literal's size is
 * known before a byte of it is sent, and a 50 MB message never sits on the
 * heap. */
struct store_new_msg {
	struct imap_store *st;
	int fd;
	uint64_t size; /* bytes spooled, CRLF */
	bool prev_cr;  /* the last byte written was CR: an LF next is not bare */
	char *folder;  /* canonical, for messages */
	char *mailbox; /* the server's spelling */
	uint32_t uidvalidity;
	bool write_failed;
};

enum append_state { APPEND_IN_FLIGHT, APPEND_DONE, APPEND_REFUSED, APPEND_LOST };

/* One add_commit of the batch. */
struct imap_append {
	enum append_state state;
	int tag;	      /* libetpan's number for the APPEND's tag */
	uint32_t uidvalidity; /* the folder's at add_begin */
	uint32_t uid;	      /* from APPENDUID; 0 when unknown */
	uint64_t size;
	struct msg_id stored; /* what the server made of it, read back at add_flush */
	bool into_selected;   /* appended to the selected folder: counted in exists */
	char *folder;	      /* canonical, for messages */
	char *why;	      /* APPEND_REFUSED: the refusal, with the server's words */
	/* With keywords: the message kept until its answer, to be sent again
	 * without those the folder takes no more of, should that be the NO. */
	struct store_new_msg *spool;
	unsigned flags;
	char *keywords;
	int64_t date;
};

/* The add_commits since the last add_flush; seq is the index. */
struct imap_appends {
	struct imap_append *v;
	size_t n, cap;
	size_t in_flight;
	size_t failed;		  /* refused, or lost with the session */
	size_t lost;		  /* of those, lost: the server may have stored them */
	struct ferry_error first; /* why the first of them failed */
};

static void new_msg_free(struct store_new_msg *m)
{
	if (!m)
		return;
	if (m->fd >= 0)
		close(m->fd);
	free(m->folder);
	free(m->mailbox);
	free(m);
}

static void batch_reset(struct imap_appends *b)
{
	for (size_t i = 0; i < b->n; i++) {
		free(b->v[i].folder);
		free(b->v[i].why);
		new_msg_free(b->v[i].spool);
		free(b->v[i].keywords);
	}
	b->n = b->in_flight = b->failed = b->lost = 0;
	ferry_error_clear(&b->first);
}

static void batch_failed(struct imap_appends *b, const struct ferry_error *why)
{
	if (why->cause != FERRY_CAUSE_REFUSED)
		b->lost++;
	if (b->failed++ == 0)
		b->first = *why;
}

/* st->appends with room for one more entry, or NULL on allocation failure. */
static struct imap_appends *batch_room(struct imap_store *st)
{
	struct imap_appends *b = st->appends;
	struct imap_append *v;

	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b)
			return NULL;
		st->appends = b;
	}
	v = grow_array(b->v, &b->cap, b->n + 1, sizeof(*v));
	if (!v)
		return NULL;
	b->v = v;
	return b;
}

/* The session is lost in the middle of an APPEND, and so is everything in
 * flight. Returns -1. */
static int append_lost(struct imap_store *st, int r, const struct store_new_msg *m,
		       struct ferry_error *err)
{
	struct ferry_error e = {0};

	imap_fail(st, r, &e, "folder \"%s\": APPEND of a message of %llu bytes", m->folder,
		  (unsigned long long)m->size);
	imap_queue_lose(st, &e);
	if (err)
		*err = e;
	return -1;
}

/* The APPENDUID of the answer just parsed: the last in the list, since
 * untagged responses come before the tagged one. *uid stays 0 unless it
 * names exactly one uid. */
static void appenduid(mailimap *imap, uint32_t *uidvalidity, uint32_t *uid)
{
	const struct mailimap_response_info *info = imap->imap_response_info;

	*uidvalidity = *uid = 0;
	for (clistiter *it =
		 info && info->rsp_extension_list ? clist_begin(info->rsp_extension_list) : NULL;
	     it; it = clist_next(it)) {
		const struct mailimap_extension_data *ext = clist_content(it);
		const struct mailimap_uidplus_resp_code_apnd *apnd;
		const struct mailimap_set_item *item = NULL;

		if (!ext || ext->ext_extension != &mailimap_extension_uidplus ||
		    ext->ext_type != MAILIMAP_UIDPLUS_RESP_CODE_APND || !ext->ext_data)
			continue;
		apnd = ext->ext_data;
		if (apnd->uid_set && apnd->uid_set->set_list &&
		    clist_count(apnd->uid_set->set_list) == 1)
			item = clist_content(clist_begin(apnd->uid_set->set_list));
		*uidvalidity = apnd->uid_uidvalidity;
		*uid = item && item->set_first == item->set_last ? item->set_first : 0;
	}
}

/* Reads the answer to the APPEND tagged tag (have_line: its first line is
 * read already), with APPENDUID's values when it is OK. */
static int read_answer(struct imap_store *st, int tag, bool have_line, bool *ok,
		       uint32_t *uidvalidity, uint32_t *uid)
{
	int r = imap_parse_answer(st, tag, have_line, ok);

	*uidvalidity = *uid = 0;
	if (r == MAILIMAP_NO_ERROR && *ok)
		appenduid(st->imap, uidvalidity, uid);
	return r;
}

static void refusal(struct imap_store *st, const char *folder, uint64_t size,
		    struct ferry_error *err)
{
	const struct mailimap_response_info *info = st->imap->imap_response_info;
	char text[512];

	/* A NO: the server stored nothing of it, so the engine may forget it
	 * and try again next run. */
	ferry_error_set(err, FERRY_CAUSE_REFUSED,
			"folder \"%s\": the server refused to append a message of %llu bytes%s: %s",
			folder, (unsigned long long)size,
			info && info->rsp_trycreate ? " (the folder does not exist)" : "",
			imap_response_text(st->imap, text, sizeof(text)));
}

/* A settled APPEND: its uid, and the selected folder's counts kept as SELECT
 * would give them, so that list() shows the message. */
static void appended(struct imap_store *st, struct imap_append *a, uint32_t uidvalidity,
		     uint32_t uid)
{
	/* APPENDUID of another UIDVALIDITY (the folder was recreated meanwhile)
	 * names a uid ferry cannot place. */
	a->state = APPEND_DONE;
	a->uid = uidvalidity && uidvalidity == a->uidvalidity ? uid : 0;
	if (a->into_selected && st->selected && st->uidvalidity == a->uidvalidity) {
		st->exists++;
		if (a->uid && st->uidnext && a->uid >= st->uidnext)
			st->uidnext = a->uid + 1;
	}
}

/* The answer to an APPEND sent ahead, b->v[arg]'s. A NO fails that message
 * only; -1 (err set) when the session is lost, and everything in flight
 * with it (the queue then calls lost_append for the rest). */
static int read_append(struct imap_store *st, int tag, void *ctx, size_t arg,
		       struct ferry_error *err)
{
	struct imap_appends *b = st->appends;
	struct imap_append *a = &b->v[arg];
	struct ferry_error e = {0};
	uint32_t uidvalidity, uid;
	bool ok;
	int r;

	(void)ctx;
	r = read_answer(st, tag, false, &ok, &uidvalidity, &uid);
	if (r != MAILIMAP_NO_ERROR) {
		imap_fail(st, r, &e,
			  "folder \"%s\": reading the answers to %zu APPEND(s) sent ahead",
			  a->folder, b->in_flight);
		a->state = APPEND_LOST;
		b->in_flight--;
		batch_failed(b, &e);
		*err = e;
		return -1;
	}
	b->in_flight--;
	if (ok) {
		appended(st, a, uidvalidity, uid);
		return 0;
	}
	a->state = APPEND_REFUSED;
	refusal(st, a->folder, a->size, &e);
	a->why = strdup(e.msg); /* NULL: said in the batch's error only */
	batch_failed(b, &e);
	return 0;
}

/* Every APPEND in flight goes with the session: the server may or may not
 * have stored it, and the next run finds it by identity if it did (rule 7). */
static void lost_append(struct imap_store *st, void *ctx, size_t arg, const struct ferry_error *why)
{
	struct imap_appends *b = st->appends;

	(void)ctx;
	b->v[arg].state = APPEND_LOST;
	b->in_flight--;
	batch_failed(b, why);
}

static const struct imap_handler append_answer = {.read = read_append, .lost = lost_append};

void imap_appends_close(struct imap_store *st)
{
	free(st->kw_dropped);
	free(st->kw_dropped_folder);
	st->kw_dropped = st->kw_dropped_folder = NULL;
	if (!st->appends)
		return;
	/* The answers are lost with the results; the server still gets to
	 * finish the APPENDs, and the next run finds them by identity. */
	if (st->appends->in_flight)
		(void)imap_queue_settle(st, NULL);
	batch_reset(st->appends);
	free(st->appends->v);
	free(st->appends);
	st->appends = NULL;
}

/* An unlinked file in $TMPDIR or /tmp: O_TMPFILE where the file system has
 * it, else mkstemp + unlink. Returns the fd, or -1 with errno set. */
static int spool_open(const char **dir)
{
	const char *tmp = getenv("TMPDIR");
	char path[4096];
	int fd;

	*dir = tmp && *tmp ? tmp : "/tmp";
	fd = open(*dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	if (snprintf(path, sizeof(path), "%s/ferry-append-XXXXXX", *dir) >= (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = mkostemp(path, O_CLOEXEC);
	if (fd >= 0)
		unlink(path);
	return fd;
}

int imap_add_begin(struct store *store, struct store_new_msg **out, struct ferry_error *err)
{
	struct imap_store *st = (struct imap_store *)store;
	struct store_new_msg *m;
	const char *dir;

	*out = NULL;
	/* Not imap_usable: APPENDs in flight stay so, more may follow. */
	if (st->broken)
		return imap_session_gone(st, err);
	if (imap_queue_settle_others(st, &append_answer, err) != 0)
		return -1;
	if (!st->selected)
		return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
				       "adding a message: no folder is selected");
	m = calloc(1, sizeof(*m));
	if (!m)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	m->st = st;
	m->fd = -1;
	m->uidvalidity = st->uidvalidity;
	m->folder = strdup(st->selected);
	m->mailbox = strdup(st->selected_imap);
	if (!m->folder || !m->mailbox) {
		new_msg_free(m);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	m->fd = spool_open(&dir);
	if (m->fd < 0) {
		int e = errno;

		new_msg_free(m);
		return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
				       "folder \"%s\": cannot create a temporary file in %s: %s",
				       st->selected, dir, strerror(e));
	}
	*out = m;
	return 0;
}

/* Copies bytes into the chunk buffer out (*o used), spooling it when full. */
static int spool_put(struct store_new_msg *m, char *out, size_t *o, const char *p, size_t len)
{
	while (len > 0) {
		size_t n = len < APPEND_CHUNK - *o ? len : APPEND_CHUNK - *o;

		memcpy(out + *o, p, n);
		*o += n;
		p += n;
		len -= n;
		m->size += n;
		if (*o == APPEND_CHUNK) {
			if (fd_write_all(m->fd, out, *o) != 0)
				return -1;
			*o = 0;
		}
	}
	return 0;
}

/* Spools buf with every bare LF turned into CRLF, as libetpan's APPEND did
 * on the wire and as identity.c counts the CRLF size; a lone CR stays. A CR
 * that ends one write and an LF that starts the next are one CRLF. */
int imap_add_write(struct store_new_msg *m, const char *buf, size_t len, struct ferry_error *err)
{
	char out[APPEND_CHUNK];
	size_t o = 0;

	if (m->write_failed)
		return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
				       "folder \"%s\": spooling a message to append failed before",
				       m->folder);
	while (len > 0) {
		const char *lf = memchr(buf, '\n', len);
		size_t seg = lf ? (size_t)(lf - buf) + 1 : len;
		bool bare = lf && (lf > buf ? lf[-1] != '\r' : !m->prev_cr);

		m->prev_cr = buf[seg - 1] == '\r';
		if (spool_put(m, out, &o, buf, bare ? seg - 1 : seg) != 0 ||
		    (bare && spool_put(m, out, &o, "\r\n", 2) != 0))
			goto fail;
		buf += seg;
		len -= seg;
	}
	if (o && fd_write_all(m->fd, out, o) != 0)
		goto fail;
	return 0;
fail:
	m->write_failed = true;
	return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
			       "folder \"%s\": spooling a message to append: %s", m->folder,
			       strerror(errno));
}

/* Appends n bytes of s to the command being built in buf (room ensured by
 * the caller). */
static void cat(char *buf, size_t *o, const char *s, size_t n)
{
	memcpy(buf + *o, s, n);
	*o += n;
	buf[*o] = '\0';
}

/* The internal date as RFC 3501 date-time in UTC, quoted, in out; false for
 * a date no four-digit year holds. */
static bool date_text(int64_t date, char *out, size_t len)
{
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t t = (time_t)date;
	struct tm tm;

	if ((int64_t)t != date || !gmtime_r(&t, &tm) || tm.tm_year < 1 - 1900 ||
	    tm.tm_year > 9999 - 1900)
		return false;
	snprintf(out, len, "\"%02d-%s-%04d %02d:%02d:%02d +0000\"", tm.tm_mday, months[tm.tm_mon],
		 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return true;
}

/* `APPEND "mailbox" (flags) "date" {N+}` and CRLF, in *out (caller frees):
 * 0, -1 on allocation failure, -2 for a mailbox name that cannot be sent as
 * a quoted string. The name came out of canonical_to_imap_name() (printable
 * ASCII), and a name that would need a literal or could inject a command is
 * never sent. Flags and keywords (checked as atoms) as flag_list() gives
 * them to STORE: a keyword naming a flag ("$Forwarded") once, as the flag. */
static int append_command(const struct store_new_msg *m, unsigned flags, const char *keywords,
			  int64_t date, bool nonsync, char **out)
{
	char when[64] = "", size[40];
	const char *w;
	size_t len, cap, o = 0;
	char *cmd;

	*out = NULL;
	for (const char *p = m->mailbox; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			return -2;
	if (date && !date_text(date, when, sizeof(when)))
		log_warn("folder \"%s\": internal date %lld cannot be sent; the server will use "
			 "the time of arrival",
			 m->folder, (long long)date);
	/* APPEND "name" (, each flag and keyword with a space, ) date {size}
	 * CRLF NUL: every character of the name may need a backslash, and a
	 * keyword set holds its words and at least one space less. */
	cap = 8 + 2 * strlen(m->mailbox) + 3 + (keywords ? strlen(keywords) + 1 : 0) + 1 + 1 +
	      strlen(when) + sizeof(size) + 1;
	for (size_t i = 0; i < flag_table_len; i++)
		cap += strlen(flag_table[i].imap) + 1;
	cmd = malloc(cap);
	if (!cmd)
		return -1;
	cat(cmd, &o, "APPEND \"", 8);
	for (const char *p = m->mailbox; *p; p++) {
		if (*p == '"' || *p == '\\')
			cat(cmd, &o, "\\", 1);
		cat(cmd, &o, p, 1);
	}
	cat(cmd, &o, "\" (", 3);
	for (const char *p = keywords ? keywords : ""; (len = imap_next_word(&p, &w)) > 0;)
		flags |= imap_word_flag(w, len);
	for (size_t i = 0; i < flag_table_len; i++)
		if (flags & flag_table[i].bit) {
			if (cmd[o - 1] != '(')
				cat(cmd, &o, " ", 1);
			cat(cmd, &o, flag_table[i].imap, strlen(flag_table[i].imap));
		}
	for (const char *p = keywords ? keywords : ""; (len = imap_next_word(&p, &w)) > 0;)
		if (!imap_word_flag(w, len)) {
			if (cmd[o - 1] != '(')
				cat(cmd, &o, " ", 1);
			cat(cmd, &o, w, len);
		}
	cat(cmd, &o, ")", 1);
	if (when[0]) {
		cat(cmd, &o, " ", 1);
		cat(cmd, &o, when, strlen(when));
	}
	snprintf(size, sizeof(size), " {%llu%s}\r\n", (unsigned long long)m->size,
		 nonsync ? "+" : "");
	cat(cmd, &o, size, strlen(size));
	*out = cmd;
	return 0;
}

/* Sends the spooled message as the literal's bytes and the CRLF that ends
 * the command, and flushes. 0, MAILIMAP_ERROR_STREAM, or -1 (errno set)
 * when the spool cannot be read back: the literal is then cut short. */
static int send_literal(struct imap_store *st, const struct store_new_msg *m)
{
	mailstream *s = st->imap->imap_stream;
	/* The -v trace shows the command, not the message: trace.c prints a
	 * private write as "<redacted>", and the command line is flushed
	 * before so that it is shown. */
	bool hide = log_get_level() >= LOG_VERBOSE;
	char buf[APPEND_CHUNK];
	uint64_t off = 0;
	int r = 0;

	if (hide) {
		if (mailstream_flush(s) == -1)
			return MAILIMAP_ERROR_STREAM;
		mailstream_set_privacy(s, 0);
	}
	while (r == 0 && off < m->size) {
		size_t want = m->size - off < sizeof(buf) ? (size_t)(m->size - off) : sizeof(buf);
		ssize_t n = pread(m->fd, buf, want, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO; /* shorter than it was at commit */
			r = -1;
		} else if (mailstream_write(s, buf, (size_t)n) == -1) {
			r = MAILIMAP_ERROR_STREAM;
		} else {
			off += (uint64_t)n;
		}
	}
	if (r == 0 && (mailstream_write(s, "\r\n", 2) == -1 || mailstream_flush(s) == -1))
		r = MAILIMAP_ERROR_STREAM;
	if (hide)
		mailstream_set_privacy(s, 1);
	return r;
}

/* The literal announced could not be sent whole: the server now reads
 * whatever comes next as message bytes, so the session is given up. */
static int literal_cut(struct imap_store *st, const struct store_new_msg *m,
		       struct ferry_error *err)
{
	struct ferry_error e;
	int errnum = errno;

	st->broken = st->base.broken = true;
	snprintf(st->broken_why, sizeof(st->broken_why),
		 "a message could not be read back from its spool file during APPEND");
	imap_unselect(st);
	ferry_error_set(&e, FERRY_CAUSE_PROTOCOL,
			"folder \"%s\": reading back the spooled message to append: %s; the "
			"session is no longer usable",
			m->folder, strerror(errnum));
	imap_queue_lose(st, &e);
	if (err)
		*err = e;
	return -1;
}

/* Without LITERAL+: waits for "+", sends the message, waits for the answer.
 * 0 with *a settled, or -1. */
static int append_sync(struct imap_store *st, const struct store_new_msg *m, int tag,
		       struct imap_append *a, struct ferry_error *err)
{
	uint32_t uidvalidity, uid;
	const char *line;
	bool ok;
	int r;

	if (mailstream_flush(st->imap->imap_stream) == -1)
		return append_lost(st, MAILIMAP_ERROR_STREAM, m, err);
	line = mailimap_read_line(st->imap);
	if (!line)
		return append_lost(st, MAILIMAP_ERROR_STREAM, m, err);
	if (line[0] != '+') {
		/* Refused before the message was sent ([TRYCREATE], too large):
		 * the first line of the answer is read already. */
		r = read_answer(st, tag, true, &ok, &uidvalidity, &uid);
		if (r != MAILIMAP_NO_ERROR)
			return append_lost(st, r, m, err);
		refusal(st, m->folder, m->size, err);
		return -1;
	}
	r = send_literal(st, m);
	if (r == -1)
		return literal_cut(st, m, err);
	if (r == MAILIMAP_NO_ERROR)
		r = read_answer(st, tag, false, &ok, &uidvalidity, &uid);
	if (r != MAILIMAP_NO_ERROR)
		return append_lost(st, r, m, err);
	if (!ok) {
		refusal(st, m->folder, m->size, err);
		return -1;
	}
	appended(st, a, uidvalidity, uid);
	return 0;
}

/* The largest message the server takes, from APPENDLIMIT=N in its
 * capabilities (RFC 7889); 0 when it did not say. */
static uint64_t append_limit(const struct imap_store *st)
{
	static const char word[] = "APPENDLIMIT=";
	const char *caps = st->base.capabilities;

	for (const char *p = caps ? caps : ""; *p;) {
		size_t len = strcspn(p, " ");

		if (len > sizeof(word) - 1 && strncasecmp(p, word, sizeof(word) - 1) == 0) {
			char *end;
			unsigned long long n = strtoull(p + sizeof(word) - 1, &end, 10);

			if (end == p + len && n > 0)
				return n;
		}
		p += len;
		p += strspn(p, " ");
	}
	return 0;
}

/* After a NO to an APPEND of m with keywords: a folder that takes no more
 * keywords (Cyrus: 100 a folder, although PERMANENTFLAGS says \*) refuses
 * the message for them. Selected again, the folder shows those it defines
 * now; if some of the message's are not among them, it is sent again
 * without those (*dropped, malloc'd). 0 when stored (a settled); 1 when that
 * was not it or the server still says no (err: its answer, if it came); -1
 * when the session is lost. */
static int append_without_new_keywords(struct imap_store *st, struct store_new_msg *m,
				       struct imap_append *a, unsigned flags, const char *keywords,
				       int64_t date, char **dropped, struct ferry_error *err)
{
	struct ferry_error e = {0};
	char *defined = NULL, *kept = NULL, *cmd = NULL;
	int tag;

	*dropped = NULL;
	if (imap_defined_keywords(st, &defined, &e) != 0) {
		if (!st->broken)
			return 1;
		*err = e;
		return -1;
	}
	if (imap_split_keywords(keywords, defined, &kept, dropped) != 0 || !*dropped ||
	    append_command(m, flags, kept, date, false, &cmd) != 0) {
		free(defined);
		free(kept);
		free(*dropped);
		*dropped = NULL;
		return 1;
	}
	free(defined);
	free(kept);
	tag = imap_queue_write(st, cmd);
	free(cmd);
	if (tag < 0 || append_sync(st, m, tag, a, &e) != 0) {
		free(*dropped);
		*dropped = NULL;
		if (tag < 0)
			return append_lost(st, MAILIMAP_ERROR_STREAM, m, err);
		*err = e;
		return st->broken ? -1 : 1;
	}
	return 0;
}

/* At add_flush: each APPEND refused that kept its message goes again
 * without the keywords its folder takes no more of; one warning names
 * them all. */
static void retry_refused_keywords(struct imap_store *st, struct imap_appends *b)
{
	char *all = NULL;
	bool oom = false;

	for (size_t i = 0; i < b->n && !st->broken; i++) {
		struct imap_append *a = &b->v[i];
		struct ferry_error e = {0};
		char *dropped = NULL, *grown;
		int r;

		if (a->state != APPEND_REFUSED || !a->spool || !st->selected_imap ||
		    strcmp(st->selected_imap, a->spool->mailbox) != 0)
			continue;
		a->spool->folder = a->folder; /* borrowed, for messages */
		r = append_without_new_keywords(st, a->spool, a, a->flags, a->keywords, a->date,
						&dropped, &e);
		a->spool->folder = NULL;
		if (r == 0) {
			b->failed--;
			grown = kw_union(all, dropped, &oom);
			free(all);
			all = grown;
		} else if (r < 0) {
			a->state = APPEND_LOST;
			b->lost++;
		} else if (e.cause == FERRY_CAUSE_REFUSED) {
			free(a->why);
			a->why = strdup(e.msg);
		}
		free(dropped);
	}
	imap_keywords_note_dropped(st, all);
	free(all);
}

/* The APPEND itself; m stays the caller's unless *kept (then the batch's). */
static int append(struct store_new_msg *m, unsigned flags, const char *keywords, int64_t date,
		  uint32_t *uid, bool *kept, struct ferry_error *err)
{
	struct imap_store *st = m->st;
	bool nonsync = (st->base.caps & CAP_LITERAL_PLUS) != 0;
	struct imap_append a = {.uidvalidity = m->uidvalidity, .size = m->size};
	struct imap_appends *b;
	struct stat sb;
	char *cmd = NULL;
	uint64_t limit;
	int r;

	if (st->broken)
		return imap_session_gone(st, err);
	if (imap_check_keywords(keywords, m->folder, err) != 0)
		return -1;
	/* Never sent: a literal over the limit may cost the session (Cyrus drops
	 * the connection on a LITERAL+ one), and the answer would be NO anyway. */
	limit = append_limit(st);
	if (limit && m->size > limit)
		return ferry_error_set(err, FERRY_CAUSE_REFUSED,
				       "folder \"%s\": a message of %llu bytes is larger than the "
				       "server takes (APPENDLIMIT=%llu); not sent",
				       m->folder, (unsigned long long)m->size,
				       (unsigned long long)limit);
	if (m->write_failed || fstat(m->fd, &sb) != 0 || (uint64_t)sb.st_size != m->size)
		return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
				       "folder \"%s\": the message to append was not spooled whole",
				       m->folder);
	b = batch_room(st);
	r = b ? append_command(m, flags & MF_ALL, keywords, date, nonsync, &cmd) : -1;
	if (r == -2)
		return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
				       "folder \"%s\": the server's name for it cannot be sent",
				       m->folder);
	if (r != 0)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	while (nonsync && b->in_flight >= APPEND_WINDOW && imap_queue_unread(st) > 0)
		if (imap_queue_read_one(st, err) != 0) {
			free(cmd);
			return -1;
		}
	if (nonsync && imap_queue_reserve(st, err) != 0) {
		free(cmd);
		return -1;
	}
	a.tag = imap_queue_write(st, cmd);
	free(cmd);
	if (a.tag < 0)
		return append_lost(st, MAILIMAP_ERROR_STREAM, m, err);
	a.into_selected = st->selected_imap && strcmp(st->selected_imap, m->mailbox) == 0 &&
			  st->uidvalidity == m->uidvalidity;
	if (nonsync) {
		r = send_literal(st, m);
		if (r == -1)
			return literal_cut(st, m, err);
		if (r != MAILIMAP_NO_ERROR)
			return append_lost(st, r, m, err);
		a.state = APPEND_IN_FLIGHT;
		b->in_flight++;
	} else if (append_sync(st, m, a.tag, &a, err) != 0) {
		char *dropped = NULL;

		if (err->cause != FERRY_CAUSE_REFUSED || st->broken || kw_empty(keywords) ||
		    append_without_new_keywords(st, m, &a, flags & MF_ALL, keywords, date, &dropped,
						err) != 0)
			return -1;
		imap_keywords_note_dropped(st, dropped);
		free(dropped);
	}
	if (nonsync && !kw_empty(keywords)) {
		a.keywords = strdup(keywords);
		if (a.keywords) {
			a.spool = m;
			a.flags = flags & MF_ALL;
			a.date = date;
			*kept = true;
		}
	}
	a.folder = m->folder; /* changes owner */
	m->folder = NULL;
	if (nonsync)
		imap_queue_push(st, a.tag, &append_answer, NULL, b->n);
	b->v[b->n++] = a;
	*uid = a.uid;
	return 0;
}

int imap_add_commit(struct store_new_msg *m, unsigned flags, const char *keywords, int64_t date,
		    uint32_t *uid, struct ferry_error *err)
{
	bool kept = false;
	int r;

	*uid = 0;
	r = append(m, flags, keywords, date, uid, &kept, err);
	if (!kept)
		new_msg_free(m); /* committed or not, m is used up */
	return r;
}

void imap_add_abort(struct store_new_msg *m)
{
	new_msg_free(m);
}

/* Rule 6: an upload's identity is that of the copy the server stored, which
 * is not always what was sent (Cyrus turns 8-bit header bytes into 'X').
 * Reads back the header and size of every settled APPEND with a uid, in
 * one UID FETCH for the batch. A message not read back keeps an unknown
 * identity: it is then paired by identity, not by uid. -1 (err set) when
 * the session is lost. */
static bool all_known(const struct msg *msgs, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (!msg_id_known(&msgs[k]))
			return false;
	return true;
}

static int read_back(struct imap_store *st, struct imap_appends *b, struct ferry_error *err)
{
	struct msg *msgs = malloc((b->n + 1) * sizeof(*msgs));
	size_t *of = malloc((b->n + 1) * sizeof(*of));
	size_t n = 0;
	int r = 0;

	if (!msgs || !of) {
		free(msgs);
		free(of);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	for (size_t i = 0; i < b->n; i++) {
		const struct imap_append *a = &b->v[i];

		/* Only into the folder still selected: uids are the selected
		 * folder's. */
		if (a->state == APPEND_DONE && a->uid && a->into_selected && st->selected &&
		    st->uidvalidity == a->uidvalidity) {
			msgs[n] = (struct msg){.uid = a->uid, .size = a->size};
			of[n++] = i;
		}
	}
	if (n)
		r = imap_identify_msgs(st, msgs, n, true, err);
	if (r == 0 && n && !all_known(msgs, n)) {
		/* Courier tells a session of an APPENDed message only at its next
		 * command that checks the mailbox (RFC 3501 6.3.11 only recommends
		 * the EXISTS before the OK): until then a UID FETCH of the new uid
		 * answers nothing, and the upload would stay unpaired for a run.
		 * One NOOP lets the server catch up. */
		int nr = mailimap_noop(st->imap);

		r = nr == MAILIMAP_NO_ERROR
			? imap_identify_msgs(st, msgs, n, true, err)
			: imap_fail(st, nr, err, "folder \"%s\": NOOP after APPEND",
				    b->v[of[0]].folder);
	}
	for (size_t k = 0; r == 0 && k < n; k++) {
		struct imap_append *a = &b->v[of[k]];

		a->stored = msg_get_id(&msgs[k]);
		if (a->stored.known && msgs[k].size != a->size)
			log_warn(
			    "folder \"%s\": the server stored uid %u with %llu bytes where %llu "
			    "were sent; a later move of it may not be recognised",
			    a->folder, a->uid, (unsigned long long)msgs[k].size,
			    (unsigned long long)a->size);
	}
	for (size_t k = 0; k < n; k++)
		free(msgs[k].ident);
	free(msgs);
	free(of);
	return r;
}

int imap_add_flush(struct store *store,
		   void (*done)(void *ctx, size_t seq, uint32_t uid, const struct msg_id *stored),
		   void (*refused)(void *ctx, size_t seq, const char *why), void *ctx,
		   struct ferry_error *err)
{
	struct imap_store *st = (struct imap_store *)store;
	struct imap_appends *b = st->appends;
	struct ferry_error lost = {0};
	int r = 0;

	if (!b || b->n == 0)
		return 0;
	/* A lost session loses what is in flight; what settled is reported. */
	(void)imap_queue_settle(st, NULL);
	if (!st->broken)
		retry_refused_keywords(st, b);
	if (!st->broken && read_back(st, b, &lost) != 0) {
		batch_failed(b, &lost);
		/* Not a refusal of a message: every APPEND of the batch settled. */
		b->lost += lost.cause == FERRY_CAUSE_REFUSED;
	}
	for (size_t i = 0; i < b->n; i++)
		if (b->v[i].state == APPEND_DONE)
			done(ctx, i, b->v[i].uid, &b->v[i].stored);
		else if (b->v[i].state == APPEND_REFUSED && refused)
			refused(ctx, i, b->v[i].why ? b->v[i].why : b->first.msg);
	/* REFUSED only when each failure was a NO: add_flush's contract says the
	 * store then holds none of the messages done was not called for. */
	if (b->failed == 1 && err)
		*err = b->first;
	else if (b->failed > 1 && b->lost == 0)
		ferry_error_set(err, FERRY_CAUSE_REFUSED,
				"%s (and %zu more message(s) of this batch refused)", b->first.msg,
				b->failed - 1);
	else if (b->failed > 1)
		ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
				"%s (and %zu more message(s) of this batch not appended or not "
				"confirmed)",
				b->first.msg, b->failed - 1);
	if (b->failed)
		r = -1;
	batch_reset(b);
	return r;
}
