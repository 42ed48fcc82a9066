/* The Subject of a few messages, for people reading what a run would do
 * (--dry-run -v). It costs their bodies (a store reads whole messages), so
 * the caller asks only for small ones, and few. */
#ifndef FERRY_SUBJECT_H
#define FERRY_SUBJECT_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define SUBJECT_LEN 80

struct subjects {
	uint32_t *uids; /* as asked, in any order */
	char (*text)[SUBJECT_LEN];
	size_t n;
};

/* Reads the Subject of uids[0..n) in the folder selected on s, one fetch
 * for all. A message that cannot be read keeps an empty Subject; only a
 * lost connection is an error (-1, err set). Free with subjects_free. */
int subjects_read(struct store *s, const uint32_t *uids, size_t n, struct subjects *out,
		  struct ferry_error *err);

/* The Subject read for uid, or NULL when none was. */
const char *subjects_find(const struct subjects *s, uint32_t uid);

void subjects_free(struct subjects *s);

#endif
