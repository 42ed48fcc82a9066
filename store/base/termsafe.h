/* Text from outside (a server's greeting and answers, folder names, message
 * bytes in the trace) made safe to show on a terminal, and display widths
 * for columns. A terminal acts on control characters: ESC and CSI sequences
 * move the cursor, clear the screen or rewrite the window title, OSC 52
 * writes the clipboard. */
#ifndef FERRY_BASE_TERMSAFE_H
#define FERRY_BASE_TERMSAFE_H

#include <stddef.h>

/* Room termsafe_escape needs for len bytes: each may become "\xNN". */
#define TERMSAFE_ROOM(len) ((len)*4 + 1)

/* Copies the len bytes at s to out (cap bytes, NUL-terminated, cut at a
 * whole escape when too small) with every C0 control character and DEL
 * written as \xNN (ESC as \e), every byte that is not part of valid UTF-8
 * as \xNN, and the C1 controls U+0080..U+009F, whose UTF-8 form some
 * terminals obey too, as the \xNN of their two bytes. Valid UTF-8 otherwise
 * stays, so names like "Entwürfe" show as they are. Escaping twice changes
 * nothing more. Returns the length written. */
size_t termsafe_escape(const char *s, size_t len, char *out, size_t cap);

/* The columns s takes on the terminal under the current locale (LC_CTYPE):
 * wide characters count 2, combining ones 0. Outside a UTF-8 locale, or for
 * text the locale cannot convert, one column per character. */
size_t termsafe_width(const char *s);

/* s escaped, then padded with spaces to width columns (none when it is
 * wider; width 0: only escaped). Returns a string the caller frees, or NULL
 * when out of memory. */
char *termsafe_column(const char *s, size_t width);

/* Length of the valid UTF-8 sequence of 2-4 bytes at s (at most len), or 0
 * (RFC 3629: no overlong forms, surrogates or code points above U+10FFFF). */
size_t termsafe_utf8_seq(const unsigned char *s, size_t len);

#endif
