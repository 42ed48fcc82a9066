#include "store/imap/utf7.h"

#include <errno.h>
#include <iconv.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/names.h"

/* A growing output string; on allocation failure oom is set and appends stop. */
struct out {
	char *s;
	size_t len, cap;
	bool oom;
};

static void out_add(struct out *o, const char *p, size_t n)
{
	if (o->oom)
		return;
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 64;
		char *s;

		while (cap < o->len + n + 1)
			cap *= 2;
		s = realloc(o->s, cap);
		if (!s) {
			o->oom = true;
			return;
		}
		o->s = s;
		o->cap = cap;
	}
	memcpy(o->s + o->len, p, n);
	o->len += n;
	o->s[o->len] = '\0';
}

static int out_finish(struct out *o, int status, char **result)
{
	if (status == IMAP_NAME_OK && o->oom)
		status = IMAP_NAME_NOMEM;
	if (status == IMAP_NAME_OK && !o->s)
		status = IMAP_NAME_INVALID; /* nothing was produced: an empty name */
	if (status != IMAP_NAME_OK) {
		free(o->s);
		*result = NULL;
		return status;
	}
	*result = o->s;
	return IMAP_NAME_OK;
}

static bool is_inbox(const char *s, size_t len)
{
	return len == 5 && strncasecmp(s, "INBOX", 5) == 0;
}

/* Printable ASCII other than '&' stands for itself in modified UTF-7. */
static bool is_direct(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e || s[i] == '&')
			return false;
	return true;
}

/* Converts one level with glibc's iconv ("UTF-7-IMAP" since 2.36). Returns
 * IMAP_NAME_OK and appends to o, or IMAP_NAME_INVALID / IMAP_NAME_NOMEM. */
static int convert(const char *to, const char *from, const char *in, size_t len, struct out *o)
{
	/* Every direction grows a level by less than 4x (a lone "&" becomes
	 * "&-", one BMP character three bytes or "&AOk-"). */
	size_t cap = 4 * len + 16, left = cap;
	char *buf = malloc(cap), *dst = buf, *src = (char *)in;
	size_t srclen = len;
	iconv_t cd;
	int status = IMAP_NAME_OK;

	if (!buf)
		return IMAP_NAME_NOMEM;
	cd = iconv_open(to, from);
	if (cd == (iconv_t)-1) {
		free(buf);
		return errno == ENOMEM ? IMAP_NAME_NOMEM : IMAP_NAME_INVALID;
	}
	/* The second call ends an open base64 run ("-"); glibc also reports a
	 * truncated run there, but not always: the caller compares round trips. */
	if (iconv(cd, &src, &srclen, &dst, &left) == (size_t)-1 ||
	    iconv(cd, NULL, NULL, &dst, &left) == (size_t)-1)
		status = errno == ENOMEM ? IMAP_NAME_NOMEM : IMAP_NAME_INVALID;
	else
		out_add(o, buf, (size_t)(dst - buf));
	iconv_close(cd);
	free(buf);
	return status;
}

/* Whether a decoded level holds a C0 or C1 control character or DEL. */
static bool has_control(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			return true;
		/* U+0080..U+009F are C2 80..C2 9F in UTF-8. */
		if (c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] >= 0x80 &&
		    (unsigned char)s[i + 1] <= 0x9f)
			return true;
	}
	return false;
}

static bool name_is_safe(const char *canonical)
{
	const char *why = NULL;

	return folder_name_is_safe(canonical, &why);
}

int canonical_to_imap_name(const char *canonical, char delimiter, const char *prefix, char **result)
{
	struct out o = {0};
	const char *p = canonical;
	bool first = true;

	*result = NULL;
	if (!prefix)
		prefix = "";
	if (!canonical || !name_is_safe(canonical))
		return IMAP_NAME_INVALID;
	if (is_inbox(canonical, strlen(canonical))) {
		out_add(&o, "INBOX", 5);
		return out_finish(&o, IMAP_NAME_OK, result);
	}
	if (!delimiter && strchr(canonical, '/'))
		return IMAP_NAME_INVALID; /* the server has no hierarchy */
	/* The delimiter comes from the server, unchecked: one that is a control
	 * or 8-bit byte would put it on the wire (an LF ends the command) and
	 * could never be decoded back. */
	if (strchr(canonical, '/') &&
	    ((unsigned char)delimiter < 0x20 || (unsigned char)delimiter > 0x7e))
		return IMAP_NAME_INVALID;
	out_add(&o, prefix, strlen(prefix));
	for (;;) {
		size_t len = strcspn(p, "/"), before = o.len;
		int status;

		if (first && is_inbox(p, len)) {
			/* INBOX/Sub exists on Dovecot; below "INBOX." it would be
			 * INBOX.INBOX.Sub, which the decoder refuses. */
			if (*prefix)
				return out_finish(&o, IMAP_NAME_INVALID, result);
			out_add(&o, "INBOX", 5);
		} else {
			/* The decoder refuses C1 controls ("&AIU-"): a name it
			 * cannot read back is one ferry must not create. */
			if (memchr(p, delimiter, len) || has_control(p, len))
				return out_finish(&o, IMAP_NAME_INVALID, result);
			if (is_direct(p, len))
				out_add(&o, p, len);
			else if ((status = convert("UTF-7-IMAP", "UTF-8", p, len, &o)) !=
				 IMAP_NAME_OK)
				return out_finish(&o, status, result);
		}
		/* INBOX too: a delimiter 'B' would split it into IN/OX. */
		if (!o.oom && memchr(o.s + before, delimiter, o.len - before))
			return out_finish(&o, IMAP_NAME_INVALID, result);
		first = false;
		p += len;
		if (!*p)
			break;
		p++;
		out_add(&o, &delimiter, 1);
	}
	/* A prefix that is the start of "INBOX" ("INBO", and a folder "X")
	 * would spell the inbox, which INBOX alone may (RFC 3501 5.1). */
	if (!o.oom && is_inbox(o.s, o.len))
		return out_finish(&o, IMAP_NAME_INVALID, result);
	return out_finish(&o, IMAP_NAME_OK, result);
}

/* Whether name starts with the namespace prefix. A prefix below INBOX
 * ("INBOX.") matches the inbox part in any case. */
static bool has_prefix(const char *name, const char *prefix, char delimiter)
{
	size_t skip = 0;

	if (strncasecmp(prefix, "INBOX", 5) == 0 && (prefix[5] == '\0' || prefix[5] == delimiter)) {
		if (strncasecmp(name, prefix, 5) != 0)
			return false;
		skip = 5;
	}
	return strncmp(name + skip, prefix + skip, strlen(prefix + skip)) == 0;
}

/* Whether two server spellings name the same mailbox: exact, except that a
 * leading INBOX level is case-insensitive. */
static bool same_spelling(const char *a, const char *b, char delimiter)
{
	if (strncasecmp(a, "INBOX", 5) == 0 && strncasecmp(b, "INBOX", 5) == 0 &&
	    (a[5] == '\0' || a[5] == delimiter))
		return strcmp(a + 5, b + 5) == 0;
	return strcmp(a, b) == 0;
}

/* Decodes the levels of rest (the name without prefix) into o. */
static int decode_levels(const char *rest, char delimiter, bool below_prefix, struct out *o)
{
	const char *p = rest;
	bool first = true;

	for (;;) {
		size_t len = delimiter ? strcspn(p, (char[]){delimiter, '\0'}) : strlen(p);
		size_t before = o->len;
		int status;

		if (len == 0)
			return IMAP_NAME_INVALID; /* "a..b", a trailing delimiter */
		if (first && !below_prefix && is_inbox(p, len)) {
			out_add(o, "INBOX", 5);
		} else {
			if (is_direct(p, len))
				out_add(o, p, len);
			else if ((status = convert("UTF-8", "UTF-7-IMAP", p, len, o)) !=
				 IMAP_NAME_OK)
				return status;
			if (o->oom)
				return IMAP_NAME_NOMEM;
			if (memchr(o->s + before, '/', o->len - before) ||
			    has_control(o->s + before, o->len - before))
				return IMAP_NAME_INVALID;
			/* Below "INBOX." a level INBOX would clash with the inbox. */
			if (first && below_prefix && is_inbox(o->s + before, o->len - before))
				return IMAP_NAME_INVALID;
		}
		first = false;
		p += len;
		if (!*p)
			return IMAP_NAME_OK;
		p++;
		out_add(o, "/", 1);
	}
}

int imap_name_to_canonical(const char *server_name, char delimiter, const char *prefix,
			   char **result)
{
	struct out o = {0};
	const char *rest = server_name;
	char *back = NULL;
	int status;

	*result = NULL;
	if (!prefix)
		prefix = "";
	if (!server_name)
		return IMAP_NAME_INVALID;
	for (const char *p = server_name; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			return IMAP_NAME_INVALID; /* control characters; 8-bit is not mUTF-7 */
	if (is_inbox(server_name, strlen(server_name))) {
		out_add(&o, "INBOX", 5);
		return out_finish(&o, IMAP_NAME_OK, result);
	}
	if (*prefix) {
		if (!has_prefix(server_name, prefix, delimiter))
			return IMAP_NAME_OUTSIDE;
		rest = server_name + strlen(prefix);
		if (!*rest)
			return IMAP_NAME_OUTSIDE; /* the namespace itself */
	}
	status = decode_levels(rest, delimiter, *prefix != '\0', &o);
	if (status != IMAP_NAME_OK)
		return out_finish(&o, status, result);
	if (o.oom)
		return out_finish(&o, IMAP_NAME_NOMEM, result);
	if (!name_is_safe(o.s))
		return out_finish(&o, IMAP_NAME_INVALID, result);
	/* Reversibility: glibc accepts non-canonical mUTF-7 ("&AGE-" for "a")
	 * and silently drops an unterminated run, so only a name that encodes
	 * back to the server's own spelling is one ferry can address. */
	status = canonical_to_imap_name(o.s, delimiter, prefix, &back);
	if (status == IMAP_NAME_OK && !same_spelling(back, server_name, delimiter))
		status = IMAP_NAME_INVALID;
	free(back);
	return out_finish(&o, status, result);
}
