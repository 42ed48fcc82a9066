/* Folder renames (DESIGN.md rule 11), the replay: what renames.c matched
 * is carried out on the other side and recorded in the state. Internal to
 * sync/. */
#ifndef FERRY_RENAME_REPLAY_H
#define FERRY_RENAME_REPLAY_H

#include <stddef.h>

#include "sync/engine.h"

/* Renames on the other side each folder of v[0..n) (both sides' listing,
 * sorted by name) renamed on one side since the last sync, its children
 * with it, and moves its row and pairs in the state. A rename that fails
 * is reported and left out: the folders are then synced as if there had
 * been none (nothing is lost). Returns how many folders changed name (the
 * caller lists both sides again), 0 when none did. */
size_t rename_replay(struct engine *e, const struct channel_folder *v, size_t n);

#endif
