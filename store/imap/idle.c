/* IDLE with ferry's own reading: libetpan 1.9.4's mailimap_idle() loses an
 * untagged response sent before "+ idling" and then blocks for a whole read
 * timeout (libetpan.md, section 7). Here every line is read from the
 * session's stream, so nothing is lost and the wait is poll()'s, on the
 * socket and the caller's stop descriptor. The counts the server sends are
 * hints: the caller syncs to learn what changed. */
#include "store/imap/idle.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "store/imap/namespace.h"
#include "store/imap/prefetch.h"
#include "store/imap/queue.h"
#include "store/imap/select.h"
#include "store/imap/session.h"
#include "store/imap/utf7.h"

/* A tag libetpan's numeric ones never take. */
#define IDLE_TAG "idle"
/* A response line with its literals, at most: names and flags, never bodies. */
#define LINE_MAX_BYTES (256 * 1024)

/* Where the changes a wait sees go: the folder IDLE is on, and the
 * caller's report (the folder's canonical name, or NULL for "somewhere"). */
struct idle_report {
	const char *folder;
	store_changed_fn *changed;
	void *ctx;
};

static long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

enum line_kind { LINE_NOTHING, LINE_CHANGE, LINE_CONTINUE, LINE_TAGGED, LINE_BYE };

/* Reads one response line, and the literals it carries ({N} at its end).
 * -1: the stream failed or timed out. */
static int read_line(struct imap_store *st, MMAPString *line)
{
	mailstream *s = st->imap->imap_stream;

	mmap_string_truncate(line, 0);
	for (;;) {
		size_t start = line->len, len;
		unsigned long lit;
		char *brace, *end;

		{
			MMAPString *part = mmap_string_new("");

			if (!part)
				return -1;
			if (!mailstream_read_line(s, part)) {
				mmap_string_free(part);
				return -1;
			}
			if (!mmap_string_append_len(line, part->str, part->len)) {
				mmap_string_free(part);
				return -1;
			}
			mmap_string_free(part);
		}
		len = line->len;
		if (len - start < 2 || line->str[len - 1] != '\n')
			return -1; /* end of stream inside a line */
		brace = len - start >= 4 && line->str[len - 3] == '}'
			    ? memrchr(line->str + start, '{', len - start)
			    : NULL;
		if (!brace)
			return 0;
		lit = strtoul(brace + 1, &end, 10);
		/* A literal in an untagged response during IDLE is a FETCH of
		 * flags or a name: small. A large one is not worth reading. */
		if (*end != '}' || lit > 65536 || line->len + lit > LINE_MAX_BYTES)
			return -1;
		/* Kept in the line: a NOTIFY STATUS may name its folder so. */
		while (lit > 0) {
			char buf[4096];
			ssize_t r = mailstream_read(s, buf, lit < sizeof(buf) ? lit : sizeof(buf));

			if (r <= 0 || !mmap_string_append_len(line, buf, (size_t)r))
				return -1;
			lit -= (size_t)r;
		}
	}
}

/* The mailbox a NOTIFY "* STATUS" line names (an atom, a quoted string or
 * a literal, kept in the line by read_line), in *out (caller frees); -1
 * when it cannot be read. */
static int status_mailbox(const char *p, const char *end, char **out)
{
	size_t len = 0;
	char *name;

	if (p < end && *p == '{') {
		char *close;
		unsigned long n = strtoul(p + 1, &close, 10);

		if (close >= end || *close != '}' || end - close < 3 || close[1] != '\r' ||
		    close[2] != '\n' || n > (size_t)(end - close - 3))
			return -1;
		name = strndup(close + 3, n);
		if (name && strlen(name) != n) { /* a NUL in a name */
			free(name);
			return -1;
		}
	} else if (p < end && *p == '"') {
		name = malloc((size_t)(end - p));
		if (!name)
			return -1;
		for (p++; p < end && *p != '"'; p++) {
			if (*p == '\\' && p + 1 < end)
				p++;
			name[len++] = *p;
		}
		name[len] = '\0';
		if (p >= end) {
			free(name);
			return -1;
		}
	} else {
		while (p + len < end && p[len] != ' ' && p[len] != '\r' && p[len] != '(')
			len++;
		name = len ? strndup(p, len) : NULL;
	}
	*out = name;
	return name ? 0 : -1;
}

static bool has_8bit(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

/* A server name sent in UTF-8 rather than modified UTF-7 (Dovecot 2.3's
 * NOTIFY STATUS does so) read as the canonical name it spells: the prefix
 * dropped, its delimiter made '/', accepted only when encoding that gives
 * a name that reads back as it. IMAP_NAME_INVALID when it does not. */
static int utf8_to_canonical(const struct imap_store *st, const char *server, char **out)
{
	const char *prefix = st->ns_prefix ? st->ns_prefix : "";
	char *name, *encoded = NULL, *back = NULL;
	int status;

	*out = NULL;
	if (strncmp(server, prefix, strlen(prefix)) == 0)
		server += strlen(prefix);
	if (!(name = strdup(server)))
		return IMAP_NAME_NOMEM;
	for (char *p = name; st->ns_delimiter && *p; p++)
		if (*p == st->ns_delimiter)
			*p = '/';
	status = canonical_to_imap_name(name, st->ns_delimiter, prefix, &encoded);
	if (status == IMAP_NAME_OK)
		status = imap_name_to_canonical(encoded, st->ns_delimiter, prefix, &back);
	if (status == IMAP_NAME_OK && strcmp(back, name) != 0)
		status = IMAP_NAME_INVALID;
	free(encoded);
	free(back);
	if (status == IMAP_NAME_OK)
		*out = name;
	else
		free(name);
	return status;
}

/* Reports the folder a NOTIFY STATUS line names. false: a mailbox ferry
 * does not sync (its name does not map, another namespace), nothing told. */
static bool report_status(struct imap_store *st, const struct idle_report *rep, const char *line,
			  size_t len)
{
	char *server = NULL, *name = NULL;
	int status;

	if (status_mailbox(line + 9, line + len, &server) != 0) {
		if (rep->changed)
			rep->changed(rep->ctx, NULL);
		return true;
	}
	if (imap_in_foreign_namespace(st, server)) {
		free(server);
		return false;
	}
	status = imap_name_to_canonical(server, st->ns_delimiter,
					st->ns_prefix ? st->ns_prefix : "", &name);
	if (status == IMAP_NAME_INVALID && has_8bit(server))
		status = utf8_to_canonical(st, server, &name);
	free(server);
	if (status == IMAP_NAME_OUTSIDE || status == IMAP_NAME_INVALID)
		return false; /* LIST leaves it out too */
	if (rep->changed)
		rep->changed(rep->ctx, name); /* NULL when out of memory: somewhere */
	free(name);
	return true;
}

/* What a line means to a watcher; a change is reported to rep (the folder
 * it names: NOTIFY's STATUS, or the selected one; LIST is a folder made,
 * removed or renamed). exists: what the server last counted. */
static enum line_kind classify(struct imap_store *st, const MMAPString *text,
			       const struct idle_report *rep)
{
	const char *line = text->str;
	unsigned long n;
	char word[16];

	if (strncmp(line, "+", 1) == 0)
		return LINE_CONTINUE;
	if (strncmp(line, IDLE_TAG " ", sizeof(IDLE_TAG)) == 0)
		return LINE_TAGGED;
	if (strncmp(line, "* ", 2) != 0)
		return LINE_NOTHING; /* another tag: not ours to read */
	if (strncasecmp(line + 2, "BYE", 3) == 0)
		return LINE_BYE;
	/* STATUS and LIST: NOTIFY's news of the other folders (new messages,
	 * flags; a folder made, gone or renamed). */
	if (strncasecmp(line + 2, "STATUS ", 7) == 0)
		return report_status(st, rep, line, text->len) ? LINE_CHANGE : LINE_NOTHING;
	if (strncasecmp(line + 2, "LIST ", 5) == 0) {
		if (rep->changed)
			rep->changed(rep->ctx, NULL);
		return LINE_CHANGE;
	}
	/* VANISHED: expunges with QRESYNC, a uid set not counted here: the
	 * next EXISTS is news even when it gives the count last seen (a
	 * message moved out, another in). The rest is the selected folder's. */
	if (strncasecmp(line + 2, "VANISHED", 8) == 0) {
		st->exists_known = false;
		goto selected;
	}
	if (sscanf(line + 2, "%lu %15s", &n, word) != 2)
		return LINE_NOTHING; /* OK "still here", FLAGS, CAPABILITY */
	if (strcasecmp(word, "EXISTS") == 0) {
		/* A server that repeats the count it gave is not news (one that
		 * says "* 4 EXISTS" at each IDLE would have us sync for ever). */
		bool news = !st->exists_known || n != st->exists;

		st->exists = (uint32_t)n;
		st->exists_known = true;
		if (!news)
			return LINE_NOTHING;
		goto selected;
	}
	if (strcasecmp(word, "EXPUNGE") == 0) {
		if (st->exists)
			st->exists--;
		goto selected;
	}
	if (strcasecmp(word, "FETCH") == 0)
		goto selected;
	return LINE_NOTHING; /* RECENT */
selected:
	if (rep->changed)
		rep->changed(rep->ctx, rep->folder);
	return LINE_CHANGE;
}

static int send_raw(struct imap_store *st, const char *text, const char *what,
		    struct ferry_error *err)
{
	mailstream *s = st->imap->imap_stream;

	if (mailstream_write(s, text, strlen(text)) < 0 || mailstream_flush(s) < 0)
		return imap_fail(st, MAILIMAP_ERROR_STREAM, err, "%s", what);
	return 0;
}

/* Reads until IDLE's tagged answer, after DONE or the server's own end. */
static int read_to_tag(struct imap_store *st, MMAPString *line, bool *changed,
		       const struct idle_report *rep, struct ferry_error *err)
{
	const char *folder = rep->folder;

	for (;;) {
		enum line_kind k;

		if (read_line(st, line) != 0)
			return imap_fail(st, MAILIMAP_ERROR_STREAM, err, "IDLE on \"%s\"", folder);
		k = classify(st, line, rep);
		if (k == LINE_TAGGED) {
			if (strncasecmp(line->str + sizeof(IDLE_TAG), "OK", 2) == 0)
				return 0;
			return imap_fail(st, MAILIMAP_ERROR_PROTOCOL, err,
					 "IDLE on \"%s\": the server ended it with: %.100s", folder,
					 line->str);
		}
		if (k == LINE_BYE)
			return imap_fail(st, MAILIMAP_ERROR_STREAM, err,
					 "IDLE on \"%s\": the server said BYE", folder);
		if (k == LINE_CHANGE)
			*changed = true;
	}
}

/* "+ idling", and whatever comes before it. 1: the server ended IDLE at
 * once (its tagged answer was read). */
static int begin(struct imap_store *st, MMAPString *line, bool *changed,
		 const struct idle_report *rep, struct ferry_error *err)
{
	const char *folder = rep->folder;

	if (send_raw(st, IDLE_TAG " IDLE\r\n", "sending IDLE", err) != 0)
		return -1;
	for (;;) {
		enum line_kind k;

		if (read_line(st, line) != 0)
			return imap_fail(st, MAILIMAP_ERROR_STREAM, err, "IDLE on \"%s\"", folder);
		k = classify(st, line, rep);
		if (k == LINE_CONTINUE)
			return 0;
		if (k == LINE_TAGGED) {
			if (strncasecmp(line->str + sizeof(IDLE_TAG), "OK", 2) == 0)
				return 1;
			return ferry_error_set(err, FERRY_CAUSE_REFUSED,
					       "IDLE on \"%s\" refused: %.100s", folder, line->str);
		}
		if (k == LINE_BYE)
			return imap_fail(st, MAILIMAP_ERROR_STREAM, err,
					 "IDLE on \"%s\": the server said BYE", folder);
		if (k == LINE_CHANGE)
			*changed = true;
	}
}

/* Whether the server's capabilities name word. */
static bool offers(const struct imap_store *st, const char *word)
{
	const char *caps = st->base.capabilities, *p = caps;
	size_t len = strlen(word);

	while (caps && (p = strcasestr(p, word))) {
		if ((p == caps || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\0'))
			return true;
		p += len;
	}
	return false;
}

/* NOTIFY (RFC 5465) where offered, once a connection: the changes of every
 * personal folder come to this one, during IDLE, as STATUS and LIST lines,
 * so one connection watches them all. A refusal leaves IDLE on the selected
 * folder, as without it. */
static int notify_set(struct imap_store *st, MMAPString *line, const char *folder,
		      struct ferry_error *err)
{
	/* What comes before its answer is not IDLE's: the sync that follows
	 * the watcher's start sees it. */
	const struct idle_report quiet = {folder, NULL, NULL};
	static const char cmd[] = "notify NOTIFY SET (selected (MessageNew MessageExpunge "
				  "FlagChange)) (personal (MessageNew MessageExpunge FlagChange "
				  "MailboxName))\r\n";

	st->notify_sent = true;
	if (send_raw(st, cmd, "sending NOTIFY", err) != 0)
		return -1;
	for (;;) {
		if (read_line(st, line) != 0)
			return imap_fail(st, MAILIMAP_ERROR_STREAM, err, "NOTIFY for \"%s\"",
					 folder);
		if (strncmp(line->str, "notify ", 7) == 0)
			return 0; /* OK, or NO: IDLE on the selected folder is what is left */
		if (classify(st, line, &quiet) == LINE_BYE)
			return imap_fail(st, MAILIMAP_ERROR_STREAM, err,
					 "NOTIFY for \"%s\": the server said BYE", folder);
	}
}

/* A connection that died unseen (a suspend, a NAT that forgot it) would
 * leave IDLE waiting for its refresh: the kernel probes it after 2 idle
 * minutes instead. Not a socket (a tunnel's pipe): nothing to do. */
static void keepalive(int fd)
{
	int on = 1, idle = 120, intvl = 30, cnt = 4;

	if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on)) != 0)
		return;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

/* Waits in IDLE: 1 a change, 0 timeout or stop, 2 the server ended IDLE. */
static int idle_wait(struct imap_store *st, MMAPString *line, long deadline, int stop_fd,
		     const struct idle_report *rep, struct ferry_error *err)
{
	const char *folder = rep->folder;
	int fd = mailstream_low_get_fd(mailstream_get_low(st->imap->imap_stream));

	for (;;) {
		struct pollfd p[2] = {{.fd = fd, .events = POLLIN},
				      {.fd = stop_fd, .events = POLLIN}};
		long left = deadline - now_ms();
		enum line_kind k;
		int r;

		if (!imap_data_pending(st)) {
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
		}
		if (read_line(st, line) != 0)
			return imap_fail(st, MAILIMAP_ERROR_STREAM, err, "IDLE on \"%s\"", folder);
		k = classify(st, line, rep);
		if (k == LINE_CHANGE)
			return 1;
		if (k == LINE_BYE)
			return imap_fail(st, MAILIMAP_ERROR_STREAM, err,
					 "IDLE on \"%s\": the server said BYE", folder);
		if (k == LINE_TAGGED)
			return 2;
	}
}

int imap_wait(struct store *store, const char *folder, int timeout_ms, int stop_fd,
	      store_changed_fn *report, void *ctx, struct ferry_error *err)
{
	struct imap_store *st = (struct imap_store *)store;
	long deadline = now_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
	const struct idle_report rep = {folder, report, ctx};
	bool changed = false;
	MMAPString *line;
	int r;

	if (!folder)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL,
				       "IDLE watches one folder per connection: none named");
	if (st->broken)
		return imap_session_gone(st, err);
	if (!(st->base.caps & CAP_IDLE))
		return ferry_error_set(err, FERRY_CAUSE_REFUSED,
				       "the server does not offer IDLE (RFC 2177)");
	if (!st->selected || st->sel_virtual || strcmp(st->selected, folder) != 0) {
		struct folder_state fs;

		if (imap_select(store, folder, &fs, err) != 0)
			return -1;
	}
	/* Nothing may be in flight before the raw lines below. */
	if (imap_usable(st, err) != 0 || (st->sel_virtual && imap_select_for_real(st, err) != 0))
		return -1;
	line = mmap_string_new("");
	if (!line)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	keepalive(mailstream_low_get_fd(mailstream_get_low(st->imap->imap_stream)));
	if (!st->notify_sent && offers(st, "NOTIFY") && notify_set(st, line, folder, err) != 0) {
		mmap_string_free(line);
		return -1;
	}
	r = begin(st, line, &changed, &rep, err);
	if (r == 0) {
		int w = changed ? 1 : idle_wait(st, line, deadline, stop_fd, &rep, err);

		changed = changed || w == 1;
		/* 2: the server ended IDLE itself, its answer read. */
		if (w < 0 || (w != 2 && (send_raw(st, "DONE\r\n", "sending DONE", err) != 0 ||
					 read_to_tag(st, line, &changed, &rep, err) != 0)))
			r = -1;
	}
	mmap_string_free(line);
	if (r < 0)
		return -1;
	return changed ? 1 : 0;
}
