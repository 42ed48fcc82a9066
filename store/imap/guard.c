#include "store/imap/guard.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/log.h"

/* Bytes read from the stream below at a time: what libetpan asks for. */
#define GUARD_BUFFER 65536
/* The start of each response kept to tell its kind and show an [ALERT]. */
#define HEAD_MAX 512
/* The end of each line kept to find a literal's announcement: "{" up to
 * 20 digits, "+}", CRLF and the character before. */
#define TAIL_MAX 32
/* "* PREAUTH ": what decides the fate of a line before the first answer. */
#define PREFIX_MAX 10
/* Untagged NO lines dropped before the greeting. */
#define BEFORE_GREETING_MAX 100

enum state {
	AT_LINE,    /* at the start of a response, nothing of it seen */
	IN_LINE,    /* in a line, passing it on */
	IN_LITERAL, /* in a literal's bytes */
	DROPPING,   /* in a line before the greeting, not passed on */
};

enum kind { K_NONE, K_TAGGED, K_CONT, K_FETCH, K_UNTAGGED };

/* Where the session is in its first exchange (see late greetings, below). */
enum phase {
	P_GREETING,	/* no greeting yet */
	P_FIRST_ANSWER, /* greeted with "* OK", nothing tagged yet */
	P_SESSION,	/* from the first tagged answer on */
};

struct guard {
	mailstream_low *inner; /* owned */
	enum state state;
	enum kind kind; /* of the current response, once its first line ends */
	enum phase phase;
	bool first_segment; /* the line being read starts a response */
	bool late_preauth;
	bool failed;
	uint64_t line_len;     /* bytes of the current line so far */
	uint64_t literal_left; /* IN_LITERAL: bytes still to come */
	size_t untagged;       /* untagged non-FETCH responses since the last tagged */
	uint64_t untagged_bytes;
	uint64_t sections_max; /* guard_expect_sections, 0: the default */
	size_t untagged_max;   /* guard_expect_untagged, 0: the default */
	unsigned dropped;      /* lines dropped before the greeting */
	size_t head_len, tail_len;
	char head[HEAD_MAX];
	char tail[TAIL_MAX];
	char who[64];
	char why[256];
	size_t in_off, in_len;
	unsigned char in[GUARD_BUFFER];
};

static mailstream_low_driver guard_driver;

__attribute__((format(printf, 2, 3))) static ssize_t fail(struct guard *g, const char *fmt, ...)
{
	va_list ap;

	if (!g->failed) {
		g->failed = true;
		va_start(ap, fmt);
		vsnprintf(g->why, sizeof(g->why), fmt, ap);
		va_end(ap);
	}
	return -1;
}

static void pass_timeout(mailstream_low *s, struct guard *g)
{
	if (s->timeout)
		g->inner->timeout = s->timeout;
}

static bool head_starts(const struct guard *g, const char *word)
{
	size_t n = strlen(word);

	return g->head_len >= n && strncasecmp(g->head, word, n) == 0;
}

/* Reads more from below until the input holds PREFIX_MAX bytes of the line
 * or its end. Only at the start of a line, and only while nothing is passed
 * on yet in this call: it may wait. */
static int fill_prefix(struct guard *g)
{
	for (;;) {
		size_t have = g->in_len - g->in_off;
		ssize_t got;

		if (have >= PREFIX_MAX || memchr(g->in + g->in_off, '\n', have))
			return 0;
		memmove(g->in, g->in + g->in_off, have);
		g->in_off = 0;
		g->in_len = have;
		got = mailstream_low_read(g->inner, g->in + have, sizeof(g->in) - have);
		if (got <= 0)
			return -1;
		g->in_len += (size_t)got;
	}
}

static bool prefix_is(const struct guard *g, const char *word)
{
	size_t n = strlen(word);

	return g->in_len - g->in_off >= n &&
	       strncasecmp((const char *)g->in + g->in_off, word, n) == 0;
}

/* Takes span bytes of the current line into the counts, head and tail. */
static ssize_t account(struct guard *g, const unsigned char *p, size_t span)
{
	g->line_len += span;
	if (g->line_len > GUARD_LINE_MAX)
		return fail(g, "the server sent a response line over %u MB", GUARD_LINE_MAX >> 20);
	if (g->first_segment && g->head_len < HEAD_MAX) {
		size_t n = span < HEAD_MAX - g->head_len ? span : HEAD_MAX - g->head_len;

		memcpy(g->head + g->head_len, p, n);
		g->head_len += n;
	}
	if (span >= TAIL_MAX) {
		memcpy(g->tail, p + span - TAIL_MAX, TAIL_MAX);
		g->tail_len = TAIL_MAX;
	} else {
		size_t keep = g->tail_len + span > TAIL_MAX ? TAIL_MAX - span : g->tail_len;

		memmove(g->tail, g->tail + g->tail_len - keep, keep);
		memcpy(g->tail + keep, p, span);
		g->tail_len = keep + span;
	}
	return 0;
}

static void classify(struct guard *g)
{
	size_t i = 2;

	if (head_starts(g, "+")) {
		g->kind = K_CONT;
		return;
	}
	if (!head_starts(g, "* ")) {
		g->kind = K_TAGGED;
		return;
	}
	g->kind = K_UNTAGGED;
	if (i < g->head_len && isdigit((unsigned char)g->head[i])) {
		while (i < g->head_len && isdigit((unsigned char)g->head[i]))
			i++;
		if (g->head_len - i > 6 && strncasecmp(g->head + i, " FETCH", 6) == 0 &&
		    (g->head[i + 6] == ' ' || g->head[i + 6] == '('))
			g->kind = K_FETCH;
	}
}

/* The text of the response in head, after "<tag> <word> ", control
 * characters shown as '?', CR LF dropped: at most len-1 bytes. */
static void head_text(const struct guard *g, size_t from, char *out, size_t len)
{
	size_t o = 0, end = g->head_len;

	while (end > from && (g->head[end - 1] == '\n' || g->head[end - 1] == '\r'))
		end--;
	for (size_t i = from; i < end && o + 4 < len; i++) {
		unsigned char c = (unsigned char)g->head[i];

		out[o++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	if (g->line_len > g->head_len && o + 4 < len) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

/* RFC 3501 7.1: "the human-readable text contains a special alert that MUST
 * be presented to the user". In any status response, tagged or not:
 * "<tag> OK|NO|BAD|PREAUTH|BYE [ALERT] text". Shown once per line, as the
 * guard sees each line once. Returns the offset of the text after the
 * status word, for the caller's own use, or 0. */
static size_t status_text(const struct guard *g)
{
	static const char *const words[] = {"OK ", "NO ", "BAD ", "PREAUTH ", "BYE "};
	const char *sp = memchr(g->head, ' ', g->head_len);
	size_t at;

	if (!sp)
		return 0;
	at = (size_t)(sp - g->head) + 1;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		size_t n = strlen(words[i]);

		if (g->head_len - at >= n && strncasecmp(g->head + at, words[i], n) == 0)
			return at + n;
	}
	return 0;
}

static void show_alert(const struct guard *g)
{
	size_t at = status_text(g);
	char text[HEAD_MAX + 8];

	if (!at || g->head_len - at < 7 || strncasecmp(g->head + at, "[ALERT]", 7) != 0)
		return;
	at += 7;
	if (at < g->head_len && g->head[at] == ' ')
		at++;
	head_text(g, at, text, sizeof(text));
	log_warn("%s: server alert: %s", g->who[0] ? g->who : "IMAP", text);
}

/* The size a line's end announces ("{N}" or "{N+}" then CRLF), or -1.
 * *section: a FETCH item's section comes before it ("BODY[] {N}",
 * "BODY[HEADER]<0> {N}"). */
static int64_t announced(const struct guard *g, bool *section)
{
	size_t i = g->tail_len;
	uint64_t n = 0, scale = 1;
	size_t digits = 0;

	*section = false;
	if (i >= 1 && g->tail[i - 1] == '\n')
		i--;
	if (i >= 1 && g->tail[i - 1] == '\r')
		i--;
	if (i < 1 || g->tail[--i] != '}')
		return -1;
	if (i >= 1 && g->tail[i - 1] == '+')
		i--;
	while (i >= 1 && isdigit((unsigned char)g->tail[i - 1])) {
		uint64_t d = (uint64_t)(g->tail[--i] - '0');

		/* More than 19 digits is more than any cap: saturate. */
		if (++digits > 19)
			n = UINT64_MAX;
		else
			n += d * scale;
		scale *= 10;
	}
	if (!digits || i < 1 || g->tail[--i] != '{')
		return -1;
	if (i >= 2 && g->tail[i - 1] == ' ' && (g->tail[i - 2] == ']' || g->tail[i - 2] == '>'))
		*section = true;
	return n > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)n;
}

static void next_response(struct guard *g)
{
	g->state = AT_LINE;
	g->kind = K_NONE;
	g->first_segment = true;
	g->line_len = 0;
	g->head_len = g->tail_len = 0;
}

static ssize_t check_untagged(struct guard *g)
{
	size_t max = g->untagged_max ? g->untagged_max : GUARD_UNTAGGED_MAX;

	if (g->untagged > max)
		return fail(g, "the server sent over %zu untagged responses to one command", max);
	if (g->untagged_bytes > GUARD_UNTAGGED_BYTES_MAX)
		return fail(g, "the server sent over %u MB of untagged responses to one command",
			    GUARD_UNTAGGED_BYTES_MAX >> 20);
	return 0;
}

/* The end of a line: a literal follows, or the response is complete. */
static ssize_t line_end(struct guard *g)
{
	bool dropping = g->state == DROPPING, section;
	int64_t lit;

	if (g->first_segment) {
		classify(g);
		show_alert(g);
		if (g->kind == K_TAGGED) {
			g->untagged = 0;
			g->untagged_bytes = 0;
			g->phase = P_SESSION;
		} else if (g->phase == P_GREETING && !dropping) {
			g->phase = head_starts(g, "* OK ") ? P_FIRST_ANSWER : P_SESSION;
		}
	}
	if (g->kind == K_UNTAGGED)
		g->untagged_bytes += g->line_len;
	lit = announced(g, &section);
	if (lit >= 0) {
		uint64_t max = GUARD_LITERAL_SMALL_MAX;

		if (dropping)
			return fail(g, "the server sent a literal before its greeting");
		if (g->kind == K_FETCH && section && g->sections_max)
			max = g->sections_max;
		if (max > GUARD_LITERAL_HARD_MAX)
			max = GUARD_LITERAL_HARD_MAX;
		if ((uint64_t)lit > max)
			return fail(g,
				    "the server announced a literal of %lld bytes, over the %llu "
				    "bytes this command may receive",
				    (long long)lit, (unsigned long long)max);
		if (g->kind == K_UNTAGGED)
			g->untagged_bytes += (uint64_t)lit;
		g->state = lit ? IN_LITERAL : IN_LINE;
		g->literal_left = (uint64_t)lit;
		g->first_segment = false;
		g->line_len = 0;
		g->tail_len = 0;
		return check_untagged(g);
	}
	if (g->kind == K_UNTAGGED)
		g->untagged++;
	if (dropping) {
		size_t at = status_text(g);
		char text[HEAD_MAX + 8];

		if (++g->dropped > BEFORE_GREETING_MAX)
			return fail(g, "the server sent over %d lines before its greeting",
				    BEFORE_GREETING_MAX);
		if (at &&
		    !(g->head_len - at >= 7 && strncasecmp(g->head + at, "[ALERT]", 7) == 0)) {
			head_text(g, at, text, sizeof(text));
			log_warn("%s: before its greeting the server said: NO %s",
				 g->who[0] ? g->who : "IMAP", text);
		}
	}
	next_response(g);
	return check_untagged(g);
}

/* Passes on (or drops) bytes of a line or a literal into out. Returns the
 * bytes put into out, or -1. */
static ssize_t step(struct guard *g, unsigned char *out, size_t room)
{
	const unsigned char *p = g->in + g->in_off;
	size_t avail = g->in_len - g->in_off, span;
	const unsigned char *nl;

	if (g->state == IN_LITERAL) {
		span = avail < room ? avail : room;
		if (span > g->literal_left)
			span = (size_t)g->literal_left;
		memcpy(out, p, span);
		g->in_off += span;
		g->literal_left -= span;
		if (g->literal_left == 0)
			g->state = IN_LINE;
		return (ssize_t)span;
	}
	nl = memchr(p, '\n', avail);
	span = nl ? (size_t)(nl - p) + 1 : avail;
	if (g->state != DROPPING && span > room)
		span = room;
	if (account(g, p, span) != 0)
		return -1;
	g->in_off += span;
	if (g->state != DROPPING)
		memcpy(out, p, span);
	else
		room = 0;
	if (p[span - 1] == '\n' && line_end(g) != 0)
		return -1;
	return room ? (ssize_t)span : 0;
}

/* Late greetings. Courier-IMAP sends "* OK [ALERT] ..." and then its real
 * greeting, "* PREAUTH ...", when its file-notification setup fails; other
 * servers may send an untagged NO first. A first line "* OK [ALERT] text"
 * is also a complete greeting on its own, and waiting to see whether
 * another line follows would cost every connection a fixed delay. So the
 * decision is made by the first exchange, deterministically:
 *  - before any greeting, an untagged NO is no greeting: it is shown and
 *    dropped, and the next line is the greeting;
 *  - after a greeting of "* OK", a "* PREAUTH" before the first tagged
 *    answer means the server greeted late: it is passed on as "* OK" (which
 *    libetpan takes as any untagged status, with its response code) and
 *    guard_late_preauth() tells the session it is logged in. The session
 *    asks CAPABILITY first whenever it has none from the greeting, so that
 *    the answer is read before anything is sent that needs a login.
 * Returns the bytes put into out (0 or 5), or -1; *wait: the line's start
 * has not arrived and out holds something: return that first. */
static ssize_t at_line(struct guard *g, unsigned char *out, size_t room, bool can_wait, bool *wait)
{
	*wait = false;
	g->state = IN_LINE;
	if (g->phase == P_SESSION)
		return 0;
	if (g->in_len - g->in_off < PREFIX_MAX &&
	    !memchr(g->in + g->in_off, '\n', g->in_len - g->in_off)) {
		if (!can_wait) {
			g->state = AT_LINE;
			*wait = true;
			return 0;
		}
		if (fill_prefix(g) != 0)
			return -1;
	}
	if (g->phase == P_GREETING && prefix_is(g, "* NO ")) {
		g->state = DROPPING;
		return 0;
	}
	if (g->phase == P_FIRST_ANSWER && prefix_is(g, "* PREAUTH ")) {
		if (room < 5) {
			g->state = AT_LINE;
			*wait = true;
			return 0;
		}
		if (account(g, g->in + g->in_off, PREFIX_MAX) != 0)
			return -1;
		g->in_off += PREFIX_MAX;
		memcpy(out, "* OK ", 5);
		g->late_preauth = true;
		return 5;
	}
	return 0;
}

static ssize_t guard_read(mailstream_low *s, void *buf, size_t len)
{
	struct guard *g = s->data;
	unsigned char *out = buf;
	size_t n = 0;

	if (g->failed || len == 0)
		return -1;
	pass_timeout(s, g);
	while (n < len) {
		ssize_t r;

		if (g->in_off == g->in_len) {
			if (n > 0)
				break;
			r = mailstream_low_read(g->inner, g->in, sizeof(g->in));
			if (r <= 0)
				return -1; /* the timeout, error or end of stream below */
			g->in_off = 0;
			g->in_len = (size_t)r;
		}
		if (g->state == AT_LINE) {
			bool wait;

			r = at_line(g, out + n, len - n, n == 0, &wait);
			if (r < 0)
				return -1;
			if (wait) {
				if (n > 0)
					break;
				return fail(g, "the read buffer is too small");
			}
			n += (size_t)r;
			continue;
		}
		r = step(g, out + n, len - n);
		if (r < 0)
			return -1;
		n += (size_t)r;
	}
	return (ssize_t)n;
}

static ssize_t guard_write(mailstream_low *s, const void *buf, size_t len)
{
	struct guard *g = s->data;

	pass_timeout(s, g);
	/* libetpan marks private writes (a password) on the top of the stack;
	 * the layer below traces them. */
	g->inner->privacy = s->privacy;
	return mailstream_low_write(g->inner, buf, len);
}

static int guard_close(mailstream_low *s)
{
	return mailstream_low_close(((struct guard *)s->data)->inner);
}

static int guard_get_fd(mailstream_low *s)
{
	return mailstream_low_get_fd(((struct guard *)s->data)->inner);
}

/* As the transport's free: the fd is closed by close, not here. */
static void guard_free(mailstream_low *s)
{
	struct guard *g = s->data;

	if (g) {
		mailstream_low_free(g->inner);
		free(g);
	}
	free(s);
}

static mailstream_low_driver guard_driver = {
    .mailstream_read = guard_read,
    .mailstream_write = guard_write,
    .mailstream_close = guard_close,
    .mailstream_get_fd = guard_get_fd,
    .mailstream_free = guard_free,
};

mailstream_low *guard_open(mailstream_low *inner, struct ferry_error *err)
{
	struct guard *g = calloc(1, sizeof(*g));
	mailstream_low *low;

	if (!g) {
		ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		return NULL;
	}
	g->inner = inner;
	next_response(g);
	low = mailstream_low_new(g, &guard_driver);
	if (!low) {
		free(g);
		ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		return NULL;
	}
	mailstream_low_set_timeout(low, mailstream_low_get_timeout(inner));
	return low;
}

bool guard_is_layer(const mailstream_low *low)
{
	return low && low->driver == &guard_driver;
}

mailstream_low *guard_inner(mailstream_low *low)
{
	return ((struct guard *)low->data)->inner;
}

void guard_set_inner(mailstream_low *low, mailstream_low *inner)
{
	((struct guard *)low->data)->inner = inner;
}

bool guard_pending(mailstream_low *low)
{
	const struct guard *g = low->data;

	return g->failed || g->in_off < g->in_len;
}

void guard_set_name(mailstream_low *low, const char *name)
{
	struct guard *g = low->data;

	snprintf(g->who, sizeof(g->who), "%s", name ? name : "");
}

const char *guard_error(mailstream_low *low)
{
	return ((struct guard *)low->data)->why;
}

bool guard_late_preauth(mailstream_low *low)
{
	return ((struct guard *)low->data)->late_preauth;
}

bool guard_awaiting_first_answer(mailstream_low *low)
{
	return ((struct guard *)low->data)->phase == P_FIRST_ANSWER;
}

void guard_expect_sections(mailstream_low *low, uint64_t sections)
{
	((struct guard *)low->data)->sections_max = sections;
}

void guard_expect_untagged(mailstream_low *low, size_t untagged)
{
	((struct guard *)low->data)->untagged_max = untagged;
}
