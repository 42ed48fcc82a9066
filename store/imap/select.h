/* SELECT: the folder the message operations work on. */
#ifndef FERRY_IMAP_SELECT_H
#define FERRY_IMAP_SELECT_H

#include <stdbool.h>

#include "store/imap/session.h"

/* SELECT (CONDSTORE where offered; QRESYNC enabled before the first), then
 * what it said, in *out. */
int imap_select_now(struct imap_store *st, const char *name, struct folder_state *out,
		    struct ferry_error *err);
/* -1 unless a folder is selected (and the session usable). A folder a
 * prefetch selected only on paper is selected for real here. */
int imap_need_selected(struct imap_store *st, const char *what, struct ferry_error *err);
/* Selects the folder a prefetch selected only on paper, and checks that
 * its UIDVALIDITY still stands. */
int imap_select_for_real(struct imap_store *st, struct ferry_error *err);
/* The keywords the selected folder defines now, from a new SELECT of it
 * (FLAGS and PERMANENTFLAGS list them): *out malloc'd, NULL when none. */
int imap_defined_keywords(struct imap_store *st, char **out, struct ferry_error *err);
/* The selected folder took no more of `words` (a limit of keywords per
 * folder): remembered, and a warning names those not named before. */
void imap_keywords_note_dropped(struct imap_store *st, const char *words);
/* The driver's keywords_dropped: what the selected folder took no more of. */
const char *imap_keywords_dropped(struct store *store);
/* \* in PERMANENTFLAGS of a SELECT's answer. */
bool imap_keywords_storable(const struct mailimap_selection_info *info);

#endif
