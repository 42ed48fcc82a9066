/* A message pair as the state records it and the planner and the move pass
 * read it: which uid holds the message on each side, and what both sides
 * agreed on at the last sync. */
#ifndef FERRY_PAIR_H
#define FERRY_PAIR_H

#include <stdint.h>

#include "store/message.h"

enum pair_status {
	PAIR_SYNCED = 0,       /* both sides agreed at the last sync */
	PAIR_SKIPPED_SIZE = 1, /* far or near copy skipped: larger than max_size */
	PAIR_KEPT = 2,	       /* one side gone, deliberately not propagated (policy) */
};

/* One message pair from the state. A uid of 0 means "none on that side". */
struct pair {
	uint32_t far_uid, near_uid;
	enum pair_status status;
	unsigned base_flags; /* flags both sides agreed on */
	char *base_keywords; /* keyword set both sides agreed on (NULL: none) */
	uint64_t size;	     /* CRLF size */
	struct msg_id far_id, near_id;
	int64_t made; /* when the pair was made (seconds); 0 on a new one: now */
	/* The near copy is a placeholder for the far message (`placeholders`):
	 * far_id and size are the original's, near_id the placeholder's. */
	bool placeholder;
	/* Its own CRLF size, which the move pass looks for on the near side
	 * (rule 8); 0: not known. */
	uint64_t placeholder_size;
};

#endif
