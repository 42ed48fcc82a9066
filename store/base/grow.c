#include "store/base/grow.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *grow_array(void *v, size_t *cap, size_t want, size_t size)
{
	size_t ncap;
	void *nv;

	if (want <= *cap && v)
		return v;
	ncap = *cap > SIZE_MAX / 2 ? SIZE_MAX : *cap * 2;
	if (ncap < want)
		ncap = want;
	if (ncap < 8)
		ncap = 8;
	if (size && ncap > SIZE_MAX / size)
		return NULL;
	nv = realloc(v, ncap * size);
	if (!nv)
		return NULL;
	*cap = ncap;
	return nv;
}

void strbuf_add(struct strbuf *sb, const void *p, size_t n)
{
	char *ns;

	if (sb->oom)
		return;
	if (n > SIZE_MAX - sb->len - 1) {
		sb->oom = true;
		return;
	}
	ns = grow_array(sb->s, &sb->cap, sb->len + n + 1, 1);
	if (!ns) {
		sb->oom = true;
		return;
	}
	sb->s = ns;
	if (n)
		memcpy(sb->s + sb->len, p, n);
	sb->len += n;
	sb->s[sb->len] = '\0';
}

void strbuf_adds(struct strbuf *sb, const char *s)
{
	strbuf_add(sb, s, strlen(s));
}

void strbuf_addf(struct strbuf *sb, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		sb->oom = true;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		strbuf_add(sb, small, (size_t)n);
		return;
	}
	strbuf_add(sb, "", 0); /* room for the terminator at least */
	if (sb->oom)
		return;
	{
		char *ns = grow_array(sb->s, &sb->cap, sb->len + (size_t)n + 1, 1);

		if (!ns) {
			sb->oom = true;
			return;
		}
		sb->s = ns;
	}
	va_start(ap, fmt);
	vsnprintf(sb->s + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
}

char *strbuf_take(struct strbuf *sb)
{
	char *s;

	if (sb->oom) {
		strbuf_free(sb);
		return NULL;
	}
	s = sb->s ? sb->s : strdup("");
	*sb = (struct strbuf){0};
	return s;
}

void strbuf_free(struct strbuf *sb)
{
	free(sb->s);
	*sb = (struct strbuf){0};
}
