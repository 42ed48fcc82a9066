/* JSON strings (sync/json.h). */
#include "sync/json.h"

#include <stdint.h>

/* The length of the valid UTF-8 sequence at s (1..4), or 0 when the bytes
 * there are not one: overlong forms, surrogates and code points beyond
 * U+10FFFF are refused (RFC 3629), as is a sequence cut by the end. The
 * code point goes to *cp. */
static size_t utf8_sequence(const unsigned char *s, uint32_t *cp)
{
	static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
	size_t len;
	uint32_t c;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		c = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		c = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80) /* also the NUL at the end */
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min[len] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

void json_add_string(struct strbuf *sb, const char *s)
{
	static const char short_escape[0x20] = {
	    ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't'};
	const unsigned char *p = (const unsigned char *)s;

	if (!s) {
		strbuf_adds(sb, "null");
		return;
	}
	strbuf_adds(sb, "\"");
	while (*p) {
		uint32_t cp;
		size_t len = utf8_sequence(p, &cp);

		if (len == 0) {
			strbuf_adds(sb, "\\ufffd"); /* one a byte: the rest is read anew */
			p++;
			continue;
		}
		if (cp == '"' || cp == '\\')
			strbuf_addf(sb, "\\%c", (char)cp);
		else if (cp < 0x20 && short_escape[cp])
			strbuf_addf(sb, "\\%c", short_escape[cp]);
		else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			strbuf_addf(sb, "\\u%04x", (unsigned)cp);
		else
			strbuf_add(sb, p, len);
		p += len;
	}
	strbuf_adds(sb, "\"");
}
