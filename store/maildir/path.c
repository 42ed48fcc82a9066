#include "store/maildir/path.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "store/names.h"

/* A bounded output buffer: every append checks room, the caller checks ok. */
struct out {
	char *buf;
	size_t len, o;
	bool ok;
};

static void put(struct out *w, const char *s, size_t n)
{
	if (!w->ok || w->o + n >= w->len) {
		w->ok = false;
		return;
	}
	memcpy(w->buf + w->o, s, n);
	w->o += n;
	w->buf[w->o] = '\0';
}

static void put_escaped(struct out *w, unsigned char c)
{
	char hex[4];

	snprintf(hex, sizeof(hex), "%%%02X", c);
	put(w, hex, 3);
}

static bool is_maildir_subdir(const char *level, size_t n)
{
	return n == 3 &&
	       (!memcmp(level, "cur", 3) || !memcmp(level, "new", 3) || !memcmp(level, "tmp", 3));
}

/* Encodes one level (the first of the name or a later one); returns its
 * encoded length (for the NAME_MAX check). */
static size_t encode_level(struct out *w, const char *level, size_t n, enum maildir_layout layout,
			   bool only_level, bool first)
{
	size_t start = w->o;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)level[i];
		bool esc = c == '%';

		switch (layout) {
		case LAYOUT_VERBATIM:
			esc = esc || (i == 0 && (c == '.' || is_maildir_subdir(level, n)));
			break;
		case LAYOUT_LEGACY: /* later levels follow a '.' of the layout's own */
			esc =
			    esc || (i == 0 && (c == '.' || (first && is_maildir_subdir(level, n))));
			break;
		case LAYOUT_MAILDIRPP:
			esc = esc || c == '.' ||
			      (i == 0 && only_level && n == 5 && !memcmp(level, "ferry", 5));
			break;
		case LAYOUT_OFFLINEIMAP:
			esc = esc || c == '.' ||
			      (i == 0 && only_level && is_maildir_subdir(level, n));
			break;
		}
		if (esc)
			put_escaped(w, c);
		else
			put(w, (const char *)&c, 1);
	}
	return w->o - start;
}

int maildir_path_from_name(const char *name, enum maildir_layout layout, char *buf, size_t len)
{
	struct out w = {buf, len, 0, len > 0};
	size_t component = 0; /* length of the current path component */
	bool only_level = !strchr(name, '/');

	if (len > 0)
		buf[0] = '\0';
	if (folder_name_is_inbox(name)) {
		if (layout != LAYOUT_MAILDIRPP)
			put(&w, "INBOX", 5);
		return w.ok ? (int)w.o : -1;
	}
	if (layout == LAYOUT_MAILDIRPP) {
		put(&w, ".", 1);
		component = 1;
	}
	for (const char *p = name;;) {
		size_t n = strcspn(p, "/");

		component += encode_level(&w, p, n, layout, only_level, p == name);
		if (component > NAME_MAX)
			return -1;
		if (!p[n])
			break;
		if (layout == LAYOUT_VERBATIM) {
			put(&w, "/", 1);
			component = 0;
		} else if (layout == LAYOUT_LEGACY) {
			put(&w, "/.", 2);
			component = 1;
		} else {
			put(&w, ".", 1);
			component++;
		}
		p += n + 1;
	}
	return w.ok ? (int)w.o : -1;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes s[0..n) into w, %XX as the byte, anything else literally. */
static void decode_level(struct out *w, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			char c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));

			if (c != '\0' && c != '/') {
				put(w, &c, 1);
				i += 2;
				continue;
			}
		}
		put(w, s + i, 1);
	}
}

int maildir_path_to_name(const char *dir, enum maildir_layout layout, char *buf, size_t len)
{
	struct out w = {buf, len, 0, len > 0};
	char sep = layout == LAYOUT_VERBATIM || layout == LAYOUT_LEGACY ? '/' : '.';
	const char *p = dir;

	if (len > 0)
		buf[0] = '\0';
	if (layout == LAYOUT_MAILDIRPP) {
		if (!*dir) {
			put(&w, "INBOX", 5);
			return w.ok ? (int)w.o : -1;
		}
		if (dir[0] != '.')
			return -1;
		p++;
	}
	/* The tools' layouts: the root is no folder; offlineimap's are flat
	 * and not hidden. */
	if ((layout == LAYOUT_LEGACY || layout == LAYOUT_OFFLINEIMAP) && !*dir)
		return -1;
	if (layout == LAYOUT_OFFLINEIMAP && (dir[0] == '.' || strchr(dir, '/')))
		return -1;
	for (;;) {
		const char *end = strchr(p, sep);
		size_t n = end ? (size_t)(end - p) : strlen(p);

		decode_level(&w, p, n);
		if (!end)
			break;
		put(&w, "/", 1);
		p = end + 1;
		if (layout == LAYOUT_LEGACY) { /* a later level: .name */
			if (*p != '.')
				return -1;
			p++;
		}
	}
	if (w.ok && folder_name_is_inbox(buf)) {
		w.o = 0;
		put(&w, "INBOX", 5);
	}
	return w.ok ? (int)w.o : -1;
}
