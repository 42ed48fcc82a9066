/* Folder renames (DESIGN.md rule 11), the matching half: PURE, no I/O.
 *
 * A folder the last sync knew that vanished on one side while a folder new
 * to the state appeared on that side with the same UIDVALIDITY (a server
 * keeps it across RENAME; the Maildir store keeps it for a directory moved
 * within its root) was renamed there: it is renamed on the other side,
 * children included. Where anything is in doubt there is no rename, and the
 * folders are synced as before (created, copied, removed as rule 11 says):
 * nothing is lost either way. The replay is sync/rename_replay.c. */
#ifndef FERRY_RENAMES_H
#define FERRY_RENAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sync/side.h"

/* A folder the state synced last time, with each side's UIDVALIDITY then. */
struct rename_known {
	const char *name;
	uint32_t uidvalidity[2];
};

/* A folder listed now (selectable on side k where on[k]), with its
 * UIDVALIDITY there (0: not known). */
struct rename_seen {
	const char *name;
	bool on[2];
	uint32_t uidvalidity[2];
};

struct rename {
	const char *from, *to; /* borrowed from the inputs */
	/* The side it was renamed on; the replay renames it on the other. */
	enum side renamed_on;
	/* Renamed on both sides already (a run killed between the rename and
	 * its record): only the state follows. */
	bool both;
	/* Moved by the rename of an ancestor in the list (a store renames a
	 * folder with its children): only the state follows. */
	bool child;
};

/* The renames of known[0..nknown) among seen[0..nseen), sorted by from, so
 * that a parent comes before its children. *out is malloc'd, the caller's
 * (NULL when n is 0). Returns 0, or -1 when out of memory. */
int renames_match(const struct rename_known *known, size_t nknown, const struct rename_seen *seen,
		  size_t nseen, struct rename **out, size_t *n);

/* Whether name is below parent ("A/B" is below "A"). */
bool renames_below(const char *name, const char *parent);

#endif
