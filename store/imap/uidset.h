/* Uid lists as commands want them: sorted, unique, and cut into sets of
 * ranges ("1:5,9,12:14"). */
#ifndef FERRY_IMAP_UIDSET_H
#define FERRY_IMAP_UIDSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libetpan/libetpan.h>

/* Ranges per command: keeps a command line of scattered uids well under
 * the 64 KiB servers accept (Dovecot's limit). */
#define SET_MAX_RANGES 1000

/* qsort order of uint32_t uids. */
int imap_cmp_uid(const void *a, const void *b);
/* A sorted copy of uids[0..n) without zeros and duplicates (caller frees),
 * or NULL on allocation failure. */
uint32_t *imap_sorted_uids(const uint32_t *uids, size_t n, size_t *out_n);
/* Whether uid is in sorted[0..n), at *at (at may be NULL). */
bool imap_uid_in(const uint32_t *sorted, size_t n, uint32_t uid, size_t *at);
/* A set of ranges from sorted unique uids, taking at most max_uids uids and
 * max_ranges ranges; *used says how many it took. NULL on allocation
 * failure. */
struct mailimap_set *imap_uid_set(const uint32_t *uids, size_t n, size_t max_uids,
				  size_t max_ranges, size_t *used);

#endif
