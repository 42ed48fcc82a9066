/* Placeholders (`placeholders = yes|flagged`): what a far message over
 * max_size becomes on a Maildir near side. Its header block, without the
 * body's MIME fields, plus MIME fields of its own, an X-Ferry-Placeholder
 * field naming the original (identity and size), and a short text/plain
 * note saying how to get the message. Pure: bytes in, bytes out. */
#ifndef FERRY_PLACEHOLDER_H
#define FERRY_PLACEHOLDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/base/grow.h"
#include "store/message.h"

/* The field that marks a placeholder, and what it carries. */
#define PLACEHOLDER_FIELD "X-Ferry-Placeholder"

/* What a placeholder stands for and says. */
struct placeholder_of {
	const char *channel, *folder; /* for the command it names */
	uint32_t uid;		      /* the far uid, which `ferry fetch` takes */
	uint64_t size;		      /* the original's size (rule 6's CRLF size) */
	const struct msg_id *id;      /* the original's identity */
	bool flagged;		      /* placeholders = flagged: "or flag it" */
};

/* Appends the placeholder for the message whose header block is
 * head[0..len) (any line endings; what follows the first empty line is
 * ignored) to out, with LF line endings. out->oom on allocation failure. */
void placeholder_build(const char *head, size_t len, const struct placeholder_of *of,
		       struct strbuf *out);

/* Whether the header block head[0..len) is a placeholder's: 1 with *id and
 * *size the original's (id->known false when the field cannot be read: a
 * placeholder all the same), 0 when it has no X-Ferry-Placeholder field. */
int placeholder_parse(const char *head, size_t len, struct msg_id *id, uint64_t *size);

#endif
