/* Growing arrays and strings: the one place that doubles a capacity and
 * checks the multiplication, instead of a realloc idiom in every module. */
#ifndef FERRY_BASE_GROW_H
#define FERRY_BASE_GROW_H

#include <stdbool.h>
#include <stddef.h>

/* Returns v when it has room for `want` elements of `size` bytes (*cap is
 * its capacity in elements), else v reallocated to at least twice *cap (and
 * at least 8) with *cap updated. NULL when out of memory or the byte count
 * overflows; v is then untouched and still the caller's. Usage:
 *
 *	struct x *nv = grow_array(l->v, &l->cap, l->n + 1, sizeof(*nv));
 *	if (!nv)
 *		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
 *	l->v = nv;
 */
void *grow_array(void *v, size_t *cap, size_t want, size_t size);

/* A NUL-terminated string built by appending. After an allocation failure
 * `oom` is set and later appends do nothing, so a caller checks once at the
 * end. Zero-initialised is empty; s stays NULL until the first append. */
struct strbuf {
	char *s;
	size_t len, cap;
	bool oom;
};

void strbuf_add(struct strbuf *sb, const void *p, size_t n);
void strbuf_adds(struct strbuf *sb, const char *s);
void strbuf_addf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Hands the string over (never NULL unless out of memory: an empty buffer
 * gives ""), leaving sb empty. */
char *strbuf_take(struct strbuf *sb);
void strbuf_free(struct strbuf *sb);

#endif
