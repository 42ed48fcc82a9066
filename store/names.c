#include "store/names.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "store/base/termsafe.h"

/* Length of the UTF-8 sequence at s (1-4, NUL-terminated), or 0 if it is
 * not valid UTF-8 (RFC 3629's ranges, termsafe_utf8_seq). */
static size_t utf8_len(const unsigned char *s)
{
	return s[0] < 0x80 ? 1 : termsafe_utf8_seq(s, strlen((const char *)s));
}

static bool set_why(const char **why, const char *text)
{
	if (why)
		*why = text;
	return false;
}

bool folder_name_is_safe(const char *canonical, const char **why)
{
	const unsigned char *s = (const unsigned char *)canonical;
	const unsigned char *level = s;

	if (!s || !*s)
		return set_why(why, "is empty");
	if (*s == '/')
		return set_why(why, "starts with /");
	for (;;) {
		if (*s == '/' || *s == '\0') {
			size_t len = (size_t)(s - level);

			if (len == 0)
				return set_why(why, "has an empty level");
			if ((len == 1 && level[0] == '.') ||
			    (len == 2 && level[0] == '.' && level[1] == '.'))
				return set_why(why, "has a level . or ..");
			if (*s == '\0')
				return true;
			level = ++s;
			continue;
		}
		if (*s < 0x20 || *s == 0x7f)
			return set_why(why, "contains a control character");
		size_t n = utf8_len(s);

		if (n == 0)
			return set_why(why, "is not valid UTF-8");
		/* U+0080..U+009F: C1 controls, refused as the IMAP side does. */
		if (n == 2 && s[0] == 0xc2 && s[1] <= 0x9f)
			return set_why(why, "contains a control character");
		s += n;
	}
}

bool folder_name_is_inbox(const char *name)
{
	return strcasecmp(name, "INBOX") == 0;
}

unsigned folder_name_depth(const char *name)
{
	unsigned levels = 1;

	for (const char *p = name; *p; p++)
		levels += *p == '/';
	return levels;
}

char *folder_name_printable(const char *name, char *buf, size_t len)
{
	const unsigned char *s = (const unsigned char *)name;
	size_t o = 0;

	if (len == 0)
		return buf;
	while (*s && o + 1 < len) {
		size_t n = utf8_len(s);

		if (n == 0 || *s < 0x20 || *s == 0x7f || *s == '"') {
			buf[o++] = '?';
			s++;
			continue;
		}
		if (o + n >= len)
			break;
		memcpy(buf + o, s, n);
		o += n;
		s += n;
	}
	buf[o] = '\0';
	return buf;
}
