/* Canonical folder names: what may become a path. Pure functions.
 *
 * A canonical name is UTF-8 with '/' between levels (DESIGN rule 3). Both
 * stores and the engine refuse a name that could not be a safe relative path
 * before it reaches the file system or the wire, so that nothing is ever
 * written outside a Maildir root, whatever a server sends. */
#ifndef FERRY_STORE_NAMES_H
#define FERRY_STORE_NAMES_H

#include <stdbool.h>
#include <stddef.h>

/* Whether canonical may be used as a folder name: not empty, no leading '/',
 * no empty level (a//b, trailing /), no level "." or "..", no control
 * character (< 0x20 or 0x7f, so no CR or LF), valid UTF-8 (no overlong forms,
 * surrogates or code points above U+10FFFF). When it may not, *why (if why
 * is not NULL) is a static phrase for the warning, e.g. "has an empty level". */
bool folder_name_is_safe(const char *canonical, const char **why);

/* Whether name is INBOX, which matches case-insensitively (RFC 3501 5.1). */
bool folder_name_is_inbox(const char *name);

/* How many levels a canonical name has: "Work/Projects" has 2. */
unsigned folder_name_depth(const char *name);

/* Writes name into buf for a message, every byte that is a control
 * character, a non-ASCII byte of invalid UTF-8 or a '"' replaced by '?', so
 * that a hostile name cannot forge log lines. Truncates to len; returns buf. */
char *folder_name_printable(const char *name, char *buf, size_t len);

#endif
