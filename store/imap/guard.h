/* The guard: a mailstream_low driver on top of the stack (over the
 * transport, and over the deflate layer once COMPRESS is on, so that it sees
 * the IMAP text), which bounds what a server can make ferry hold.
 *
 * libetpan 1.9.4 keeps a response line, a literal that is not streamed, and
 * every untagged response until the tagged one, in memory, without limit
 * (libetpan.md): an endless line or 1,000,000 "* N EXISTS" grow ferry by
 * hundreds of MB a second. The guard follows lines and literals ("{N}" or
 * "{N+}" ending a line announces N bytes that are not a line) and fails the
 * read, as a lost connection would, when a line, a literal or the untagged
 * responses to one command pass their cap; guard_error then says why, and
 * the session code turns that into a PROTOCOL error. Nothing is retried:
 * the same server would do the same again.
 *
 * On the way it also shows the user every [ALERT] (RFC 3501 7.1), and
 * accepts untagged lines before the real greeting (see guard.c). */
#ifndef FERRY_IMAP_GUARD_H
#define FERRY_IMAP_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libetpan/libetpan.h>

#include "store/error.h"

/* A line outside literals: CAPABILITY, a FETCH with a thousand keywords or
 * a LIST line are a few KB to a few hundred; the longest real ones are UID
 * SEARCH and VANISHED (EARLIER) results, about 200,000 scattered uids in
 * 2 MB. libetpan holds such a line two or three times over while it parses. */
#define GUARD_LINE_MAX (2u << 20)
/* A literal that is not a body being fetched: folder names, a header block
 * (identity), a body nobody asked for. libetpan holds them whole. */
#define GUARD_LITERAL_SMALL_MAX (8u << 20)
/* Any literal at all. Bodies are streamed to disk, not held, so this only
 * ends an endless one; RFC822.SIZE is 32 bits anyway. */
#define GUARD_LITERAL_HARD_MAX (1u << 30)
/* Untagged responses other than FETCH (which ferry's handlers take one by
 * one) between two tagged ones: libetpan keeps each until the tagged
 * answer, some 200 bytes apiece. A LIST of thousands of folders is far
 * below; commands that may legitimately see more (EXPUNGE) say so with
 * guard_expect_untagged, or are cut into batches below it. */
#define GUARD_UNTAGGED_MAX	 100000
#define GUARD_UNTAGGED_BYTES_MAX (16u << 20)

/* Stacks the guard on inner. On success the new low stream owns inner:
 * closing it closes inner, freeing it frees inner. NULL with err set
 * (INTERNAL) when out of memory; inner is then still the caller's. */
mailstream_low *guard_open(mailstream_low *inner, struct ferry_error *err);

/* Whether low is a guard made by guard_open. */
bool guard_is_layer(const mailstream_low *low);

/* The stream under the guard, and replacing it (STARTTLS, COMPRESS): the
 * guard owns the new one; the old one is the caller's to free. Bytes the
 * guard read from the old one but did not pass on yet stay pending. */
mailstream_low *guard_inner(mailstream_low *low);
void guard_set_inner(mailstream_low *low, mailstream_low *inner);

/* Whether the guard holds bytes it read but did not pass on yet. */
bool guard_pending(mailstream_low *low);

/* The store's name, for "<name>: server alert: <text>". */
void guard_set_name(mailstream_low *low, const char *name);

/* Why the guard failed a read ("the server sent a response line over
 * 2 MB"), or "" when it did not. From then on every read fails. */
const char *guard_error(mailstream_low *low);

/* The greeting was "* OK" and a "* PREAUTH" came before the answer to the
 * first command: the server greeted late (see guard.c), and the session is
 * logged in. */
bool guard_late_preauth(mailstream_low *low);

/* Until the first tagged answer: whether the greeting was "* OK" (a late
 * PREAUTH may still come). */
bool guard_awaiting_first_answer(mailstream_low *low);

/* What the command about to be read may receive. sections: the largest
 * BODY[...] literal of a FETCH (0: GUARD_LITERAL_SMALL_MAX); untagged: the
 * untagged non-FETCH responses (0: GUARD_UNTAGGED_MAX). Both stay until set
 * back to 0, and GUARD_LITERAL_HARD_MAX always holds. */
void guard_expect_sections(mailstream_low *low, uint64_t sections);
void guard_expect_untagged(mailstream_low *low, size_t untagged);

#endif
