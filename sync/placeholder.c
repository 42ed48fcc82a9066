/* Placeholders: a far message over max_size as its header block and a
 * note (sync/placeholder.h). */
#include "sync/placeholder.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/identity.h"

/* One header field, its continuation lines included: [start, end) of the
 * block, end past its last newline (or at len). */
struct field {
	size_t start, end;
};

/* The header block's next field from *at; false at the empty line or the
 * end of head. */
static bool next_field(const char *head, size_t len, size_t *at, struct field *f)
{
	size_t i = *at;

	if (i >= len || head[i] == '\n' || (head[i] == '\r' && i + 1 < len && head[i + 1] == '\n'))
		return false;
	f->start = i;
	for (;;) {
		const char *nl = memchr(head + i, '\n', len - i);

		i = nl ? (size_t)(nl - head) + 1 : len;
		if (i >= len || (head[i] != ' ' && head[i] != '\t'))
			break;
	}
	f->end = *at = i;
	return true;
}

static bool field_is(const char *head, const struct field *f, const char *name)
{
	size_t n = strlen(name);

	return f->end - f->start > n && head[f->start + n] == ':' &&
	       strncasecmp(head + f->start, name, n) == 0;
}

/* The body's MIME fields, which the note replaces (RFC 2045: MIME-Version
 * and every Content-* field describe the body), and a placeholder field
 * the far message may carry already. */
static bool field_dropped(const char *head, const struct field *f)
{
	size_t n = f->end - f->start;

	return field_is(head, f, "MIME-Version") || field_is(head, f, PLACEHOLDER_FIELD) ||
	       (n > 8 && strncasecmp(head + f->start, "Content-", 8) == 0);
}

/* A field's bytes with LF line endings. */
static void add_lf(struct strbuf *out, const char *p, size_t n)
{
	size_t from = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\r' && (i + 1 == n || p[i + 1] == '\n')) {
			strbuf_add(out, p + from, i - from);
			from = i + 1;
		}
	}
	strbuf_add(out, p + from, n - from);
	if (!n || p[n - 1] != '\n')
		strbuf_adds(out, "\n");
}

static void size_words(uint64_t size, char *buf, size_t len)
{
	if (size >= 1024 * 1024)
		snprintf(buf, len, "%.1f MB", (double)size / (1024 * 1024));
	else
		snprintf(buf, len, "%.1f KB", (double)size / 1024);
}

/* CHANNEL:FOLDER as a shell word: quoted unless it is plain. */
static void add_target(struct strbuf *out, const char *channel, const char *folder)
{
	bool plain = true;

	for (const char *p = folder; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("-_./+@", *p)))
			plain = false;
	strbuf_addf(out, plain ? "%s:%s" : "'%s:%s'", channel, folder);
}

void placeholder_build(const char *head, size_t len, const struct placeholder_of *of,
		       struct strbuf *out)
{
	struct field f;
	size_t at = 0;
	char size[32];

	while (next_field(head, len, &at, &f))
		if (!field_dropped(head, &f))
			add_lf(out, head + f.start, f.end - f.start);
	strbuf_adds(out, "MIME-Version: 1.0\n"
			 "Content-Type: text/plain; charset=utf-8\n"
			 "Content-Transfer-Encoding: 8bit\n");
	strbuf_addf(out, PLACEHOLDER_FIELD ": size=%" PRIu64 "; uid=%" PRIu32, of->size, of->uid);
	if (of->id && of->id->known) {
		strbuf_addf(out, "; id=%d:", IDENT_VERSION);
		for (size_t i = 0; i < sizeof(of->id->hash); i++)
			strbuf_addf(out, "%02x", of->id->hash[i]);
	}
	size_words(of->size, size, sizeof(size));
	strbuf_addf(out,
		    "\n\n"
		    "This message is %s (%" PRIu64 " bytes), more than this mailbox's\n"
		    "max_size: only its header was downloaded, and the message stays whole\n"
		    "on the server.\n\n"
		    "To download it, run\n\n"
		    "    ferry fetch ",
		    size, of->size);
	add_target(out, of->channel, of->folder);
	strbuf_addf(out, " %" PRIu32 "\n\n", of->uid);
	if (of->flagged)
		strbuf_adds(out, "or flag it (\\Flagged, a star) and sync again.\n");
	strbuf_adds(out, "The message replaces this note in place, with its flags.\n");
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* id=2:<64 hex digits> at p (up to end). */
static bool parse_id(const char *p, const char *end, struct msg_id *id)
{
	char prefix[8];
	int n = snprintf(prefix, sizeof(prefix), "%d:", IDENT_VERSION);

	if (end - p < n + 64 || memcmp(p, prefix, (size_t)n) != 0)
		return false;
	p += n;
	for (size_t i = 0; i < sizeof(id->hash); i++) {
		int hi = hex_digit(p[2 * i]), lo = hex_digit(p[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		id->hash[i] = (unsigned char)(hi << 4 | lo);
	}
	return true;
}

int placeholder_parse(const char *head, size_t len, struct msg_id *id, uint64_t *size)
{
	struct field f;
	size_t at = 0;
	bool found = false, have_size = false, have_id = false;
	const char *p, *end;

	*id = (struct msg_id){0};
	*size = 0;
	while (!found && next_field(head, len, &at, &f))
		found = field_is(head, &f, PLACEHOLDER_FIELD);
	if (!found)
		return 0;
	end = head + f.end;
	for (p = head + f.start + strlen(PLACEHOLDER_FIELD) + 1; p < end; p++) {
		if (p[-1] != ' ' && p[-1] != ';' && p[-1] != ':')
			continue; /* parameters start after a separator */
		if ((size_t)(end - p) > 5 && strncmp(p, "size=", 5) == 0) {
			char *stop;
			unsigned long long v = strtoull(p + 5, &stop, 10);

			have_size = stop > p + 5 && stop <= end;
			*size = v;
		} else if ((size_t)(end - p) > 3 && strncmp(p, "id=", 3) == 0) {
			have_id = parse_id(p + 3, end, id);
		}
	}
	id->known = have_size && have_id;
	return 1;
}
