/* Flags and expunge on the selected folder: UID STORE +FLAGS / -FLAGS,
 * \Deleted and UID EXPUNGE; and the keyword words both STORE and APPEND
 * send. */
#ifndef FERRY_IMAP_FLAGS_H
#define FERRY_IMAP_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/imap/session.h"

/* The driver's set_flags and delete_msgs. */
int imap_set_flags(struct store *store, const uint32_t *uids, size_t n, unsigned add,
		   unsigned remove, const char *add_keywords, const char *remove_keywords,
		   struct ferry_error *err);
int imap_delete_msgs(struct store *store, const uint32_t *uids, size_t n, struct ferry_error *err);

/* UID STORE <set> +FLAGS.SILENT (add) or -FLAGS.SILENT of flags and
 * keywords on sorted unique uids, in commands of at most SET_MAX_RANGES
 * ranges. */
int imap_store_flags(struct imap_store *st, const uint32_t *uids, size_t n, bool add,
		     unsigned flags, const char *keywords, struct ferry_error *err);
/* Without UIDPLUS: EXPUNGE, only if no message but the sorted uids[0..n)
 * is marked \Deleted (rule 10). */
int imap_expunge_deleted(struct imap_store *st, const uint32_t *uids, size_t n,
			 struct ferry_error *err);

/* -1 (err set, naming folder) unless every word of a keyword set is a
 * valid atom. */
/* Sets *kept to the words of keywords the set defined holds (or that name
 * flags) and *dropped to the others; malloc'd, NULL when none. -1 out of
 * memory. */
int imap_split_keywords(const char *keywords, const char *defined, char **kept, char **dropped);
int imap_check_keywords(const char *set, const char *folder, struct ferry_error *err);
/* The next space-separated word of a keyword set at *p, or 0 at the end. */
size_t imap_next_word(const char **p, const char **word);
/* The flag bit of a word ("$Forwarded" may come as a keyword), or 0. */
unsigned imap_word_flag(const char *w, size_t len);

#endif
