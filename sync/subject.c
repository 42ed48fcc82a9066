/* The Subject of a few messages (sync/subject.h). */
#include "sync/subject.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The header block of the message being fetched, as far as it fits. */
struct header_sink {
	struct subjects *out;
	char buf[4096];
	size_t len;
	bool done; /* the header block ended, or the buffer is full */
};

static int header_begin(void *ctx, struct ferry_error *err)
{
	struct header_sink *h = ctx;

	(void)err;
	h->len = 0;
	h->done = false;
	h->buf[0] = '\0';
	return 0;
}

static int header_write(void *ctx, const char *buf, size_t len, struct ferry_error *err)
{
	struct header_sink *h = ctx;
	size_t room = sizeof(h->buf) - 1 - h->len, take = len < room ? len : room;

	(void)err;
	if (h->done)
		return 0;
	memcpy(h->buf + h->len, buf, take);
	h->len += take;
	h->buf[h->len] = '\0';
	h->done =
	    h->len == sizeof(h->buf) - 1 || strstr(h->buf, "\n\n") || strstr(h->buf, "\r\n\r\n");
	return 0;
}

/* The first line of the Subject: field of the header block in buf, control
 * characters replaced (log.c escapes the rest where the line is written). */
static void find_subject(const char *buf, char *out, size_t len)
{
	const char *p = buf;

	out[0] = '\0';
	while (*p && *p != '\n' && !(p[0] == '\r' && p[1] == '\n')) {
		if (strncasecmp(p, "Subject:", 8) == 0) {
			p += 8;
			p += strspn(p, " \t");
			snprintf(out, len, "%.*s", (int)strcspn(p, "\r\n"), p);
			for (char *c = out; *c; c++)
				if ((unsigned char)*c < 0x20 || *c == 0x7f)
					*c = '?';
			return;
		}
		p += strcspn(p, "\n");
		if (*p)
			p++;
	}
}

static int header_end(void *ctx, uint32_t uid, struct ferry_error *err)
{
	struct header_sink *h = ctx;
	struct subjects *s = h->out;

	(void)err;
	for (size_t i = 0; i < s->n; i++)
		if (s->uids[i] == uid) {
			find_subject(h->buf, s->text[i], sizeof(s->text[i]));
			break;
		}
	return 0;
}

static void header_abort(void *ctx)
{
	((struct header_sink *)ctx)->len = 0;
}

/* A message the server did not deliver keeps no Subject: nothing to do. */
static void header_undelivered(void *ctx, uint32_t uid, const char *why)
{
	(void)ctx;
	(void)uid;
	(void)why;
}

int subjects_read(struct store *s, const uint32_t *uids, size_t n, struct subjects *out,
		  struct ferry_error *err)
{
	struct header_sink *h;
	struct fetch_sink sink;
	int r;

	*out = (struct subjects){0};
	if (!n)
		return 0;
	out->uids = malloc(n * sizeof(*out->uids));
	out->text = calloc(n, sizeof(*out->text));
	h = calloc(1, sizeof(*h));
	if (!out->uids || !out->text || !h) {
		free(h);
		subjects_free(out);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	memcpy(out->uids, uids, n * sizeof(*uids));
	out->n = n;
	h->out = out;
	sink = (struct fetch_sink){h,	       header_begin, header_write,
				   header_end, header_abort, header_undelivered};
	r = store_fetch(s, uids, n, &sink, err);
	free(h);
	return r;
}

const char *subjects_find(const struct subjects *s, uint32_t uid)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->uids[i] == uid)
			return s->text[i][0] ? s->text[i] : NULL;
	return NULL;
}

void subjects_free(struct subjects *s)
{
	free(s->uids);
	free(s->text);
	*s = (struct subjects){0};
}
