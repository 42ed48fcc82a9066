#include "store/flags.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/base/grow.h"
#include "store/store.h"

const struct flag_name flag_table[] = {
    {MF_DRAFT, 'D', "\\Draft"},	       {MF_FLAGGED, 'F', "\\Flagged"},
    {MF_FORWARDED, 'P', "$Forwarded"}, {MF_ANSWERED, 'R', "\\Answered"},
    {MF_SEEN, 'S', "\\Seen"},	       {MF_DELETED, 'T', "\\Deleted"},
};
const size_t flag_table_len = sizeof(flag_table) / sizeof(flag_table[0]);

unsigned flag_from_imap(const char *name)
{
	for (size_t i = 0; i < flag_table_len; i++)
		if (strcasecmp(name, flag_table[i].imap) == 0)
			return flag_table[i].bit;
	return 0;
}

unsigned flag_from_letter(char letter)
{
	for (size_t i = 0; i < flag_table_len; i++)
		if (letter == flag_table[i].letter)
			return flag_table[i].bit;
	return 0;
}

bool kw_valid(const char *kw, size_t len)
{
	if (len == 0 || kw[0] == '\\')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)kw[i];

		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c))
			return false;
	}
	return true;
}

/* A keyword as a (pointer, length) view into a set string. */
struct word {
	const char *p;
	size_t len;
};

static int word_cmp(const void *a, const void *b)
{
	const struct word *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = strncasecmp(x->p, y->p, n);

	if (c)
		return c;
	return (x->len > y->len) - (x->len < y->len);
}

/* Splits s into words; returns the count, or -1 on allocation failure. */
static long split(const char *s, struct word **out)
{
	size_t n = 0, cap = 0;
	struct word *v = NULL;

	*out = NULL;
	if (!s)
		return 0;
	while (*s) {
		struct word *nv;
		size_t len;

		while (*s == ' ')
			s++;
		len = strcspn(s, " ");
		if (!len)
			break;
		nv = grow_array(v, &cap, n + 1, sizeof(*v));
		if (!nv) {
			free(v);
			return -1;
		}
		v = nv;
		v[n++] = (struct word){s, len};
		s += len;
	}
	*out = v;
	return (long)n;
}

/* Joins sorted words without duplicates; NULL for none. */
static char *join(struct word *v, size_t n, bool *oom)
{
	size_t total = 0, o = 0;
	char *s;

	qsort(v, n, sizeof(*v), word_cmp);
	for (size_t i = 0; i < n; i++)
		total += v[i].len + 1;
	if (!total)
		return NULL;
	s = malloc(total);
	if (!s) {
		if (oom)
			*oom = true;
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		if (i && word_cmp(&v[i - 1], &v[i]) == 0)
			continue;
		if (o)
			s[o++] = ' ';
		memcpy(s + o, v[i].p, v[i].len);
		o += v[i].len;
	}
	s[o] = '\0';
	return s;
}

static bool in(const struct word *w, const struct word *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (word_cmp(w, &set[i]) == 0)
			return true;
	return false;
}

enum setop { OP_UNION, OP_MINUS, OP_INTERSECT };

static char *combine(const char *a, const char *b, enum setop op, bool *oom)
{
	struct word *va, *vb, *vr;
	long na = split(a, &va), nb = split(b, &vb);
	size_t nr = 0;
	char *r = NULL;

	if (na < 0 || nb < 0)
		goto fail;
	vr = malloc(((size_t)na + (size_t)nb + 1) * sizeof(*vr));
	if (!vr)
		goto fail;
	for (long i = 0; i < na; i++) {
		bool inb = in(&va[i], vb, (size_t)nb);

		if (op == OP_UNION || (op == OP_MINUS && !inb) || (op == OP_INTERSECT && inb))
			vr[nr++] = va[i];
	}
	if (op == OP_UNION)
		for (long i = 0; i < nb; i++)
			vr[nr++] = vb[i];
	r = join(vr, nr, oom);
	free(vr);
	free(va);
	free(vb);
	return r;
fail:
	free(va);
	free(vb);
	if (oom)
		*oom = true;
	return NULL;
}

char *kw_normalize(const char *in_set, bool *oom)
{
	return combine(in_set, NULL, OP_UNION, oom);
}

char *kw_union(const char *a, const char *b, bool *oom)
{
	return combine(a, b, OP_UNION, oom);
}

char *kw_minus(const char *a, const char *b, bool *oom)
{
	return combine(a, b, OP_MINUS, oom);
}

char *kw_intersect(const char *a, const char *b, bool *oom)
{
	return combine(a, b, OP_INTERSECT, oom);
}

bool kw_empty(const char *set)
{
	if (!set)
		return true;
	while (*set == ' ')
		set++;
	return *set == '\0';
}

bool kw_contains(const char *set, const char *kw, size_t kwlen)
{
	struct word w = {kw, kwlen}, *v;
	long n = split(set, &v);
	bool found;

	if (n < 0)
		return false;
	found = in(&w, v, (size_t)n);
	free(v);
	return found;
}

bool kw_equal(const char *a, const char *b)
{
	bool oom = false;
	char *x = kw_minus(a, b, &oom), *y = kw_minus(b, a, &oom);
	bool eq = !oom && !x && !y;

	free(x);
	free(y);
	return eq;
}
