/* Rule 11: removing a folder that vanished on the other side. Internal to
 * sync/. */
#ifndef FERRY_REMOVE_H
#define FERRY_REMOVE_H

#include <stdbool.h>
#include <stddef.h>

#include "sync/engine.h"

/* Removes a folder that vanished on the other side (rule 11, `remove`) if
 * it holds only messages that were paired; *removed says whether it did.
 * INBOX is never removed. */
int remove_folder(struct engine *e, const char *name, enum side side, bool *removed,
		  struct ferry_error *err);

/* Whether remove_folder would remove the folder now (*removable), and the
 * messages that would go with it, for max_delete. Selects it. */
int remove_folder_removable(struct engine *e, const char *name, enum side side, bool *removable,
			    size_t *messages, struct ferry_error *err);

#endif
