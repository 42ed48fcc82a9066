#include "store/base/termsafe.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

/* Length of the valid UTF-8 sequence at s (2-4 bytes, at most len), or 0.
 * RFC 3629's ranges: no overlong forms, surrogates, or code points above
 * U+10FFFF. */
size_t termsafe_utf8_seq(const unsigned char *s, size_t len)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t n;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (n > len)
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

/* Appends piece (n bytes) when it fits whole, keeping room for the NUL. */
static bool put(char *out, size_t cap, size_t *at, const char *piece, size_t n)
{
	if (*at + n + 1 > cap)
		return false;
	memcpy(out + *at, piece, n);
	*at += n;
	return true;
}

static bool put_hex(char *out, size_t cap, size_t *at, unsigned char c)
{
	char hex[5];

	if (c == 0x1b)
		return put(out, cap, at, "\\e", 2);
	snprintf(hex, sizeof(hex), "\\x%02x", c);
	return put(out, cap, at, hex, 4);
}

size_t termsafe_escape(const char *s, size_t len, char *out, size_t cap)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t at = 0, i = 0;
	bool room = true;

	if (cap == 0)
		return 0;
	while (i < len && room) {
		size_t n = u[i] < 0x80 ? 1 : termsafe_utf8_seq(u + i, len - i);

		if (n == 0 || u[i] < 0x20 || u[i] == 0x7f) {
			room = put_hex(out, cap, &at, u[i]);
			n = 1;
		} else if (n == 2 && u[i] == 0xc2 && u[i + 1] <= 0x9f) {
			/* U+0080..U+009F: C1 controls, CSI (U+009B) among them. */
			room = put_hex(out, cap, &at, u[i]) && put_hex(out, cap, &at, u[i + 1]);
		} else {
			room = put(out, cap, &at, s + i, n);
		}
		i += n;
	}
	out[at] = '\0';
	return at;
}

/* One column per character: what a terminal shows for text whose width the
 * locale cannot tell (UTF-8 lead and ASCII bytes counted). */
static size_t count_chars(const char *s)
{
	size_t n = 0;

	for (const unsigned char *u = (const unsigned char *)s; *u; u++)
		if ((*u & 0xc0) != 0x80)
			n++;
	return n;
}

size_t termsafe_width(const char *s)
{
	size_t n = mbstowcs(NULL, s, 0), cols = 0;
	wchar_t *w;

	if (n == (size_t)-1 || MB_CUR_MAX == 1)
		return count_chars(s);
	w = malloc((n + 1) * sizeof(*w));
	if (!w)
		return count_chars(s);
	mbstowcs(w, s, n + 1);
	for (size_t i = 0; i < n; i++) {
		int c = wcwidth(w[i]);

		cols += c < 0 ? 1 : (size_t)c;
	}
	free(w);
	return cols;
}

char *termsafe_column(const char *s, size_t width)
{
	size_t len = strlen(s), cap = TERMSAFE_ROOM(len) + width, at, cols;
	char *out = malloc(cap);

	if (!out)
		return NULL;
	at = termsafe_escape(s, len, out, cap);
	for (cols = termsafe_width(out); cols < width; cols++)
		out[at++] = ' ';
	out[at] = '\0';
	return out;
}
