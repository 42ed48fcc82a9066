/* Flags and keywords: the table between ferry's flag bits, IMAP system flags
 * and Maildir letters, and keyword sets as sorted strings. Pure functions. */
#ifndef FERRY_FLAGS_H
#define FERRY_FLAGS_H

#include <stdbool.h>
#include <stddef.h>

struct flag_name {
	unsigned bit;	  /* enum msg_flag */
	char letter;	  /* Maildir info letter */
	const char *imap; /* IMAP flag, e.g. "\\Seen", "$Forwarded" */
};

/* In Maildir letter order (D F P R S T). */
extern const struct flag_name flag_table[];
extern const size_t flag_table_len;

/* The bit for an IMAP flag name (case-insensitive), or 0 if it is a keyword. */
unsigned flag_from_imap(const char *name);
/* The bit for a Maildir letter, or 0 if ferry does not manage it. */
unsigned flag_from_letter(char letter);

/* Keyword sets are strings of space-separated keywords, sorted and compared
 * case-insensitively, without duplicates; NULL is the empty set. Functions
 * returning char * return a malloc'd set (NULL when empty); on allocation
 * failure they set *oom when oom is not NULL. */
char *kw_normalize(const char *in, bool *oom);
char *kw_union(const char *a, const char *b, bool *oom);
char *kw_minus(const char *a, const char *b, bool *oom); /* in a, not in b */
char *kw_intersect(const char *a, const char *b, bool *oom);
bool kw_equal(const char *a, const char *b);
bool kw_contains(const char *set, const char *kw, size_t kwlen);
bool kw_empty(const char *set);
/* An IMAP flag-keyword atom: printable ASCII, none of ( ) { % * " \ ] and no
 * space or control character, and not starting with a backslash. */
bool kw_valid(const char *kw, size_t len);

#endif
