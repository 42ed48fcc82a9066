/* Folder names <-> directories under the Maildir root, for every layout.
 * Pure functions (DESIGN rule 3).
 *
 *   canonical        verbatim             maildir++
 *   INBOX            INBOX/               the root itself
 *   Work/Projects    Work/Projects/       .Work.Projects/
 *   a/cur            a/%63ur/             .a.cur/
 *   .hidden          %2Ehidden/           .%2Ehidden/
 *   v1.2             v1.2/                .v1%2E2/
 *   100%             100%25/              .100%25/
 *
 * The mapping is reversible and collision-free: whatever would be read back
 * differently is escaped as %XX (hex), never split into levels. Verbatim
 * escapes a level named cur, new or tmp (it would be taken for the parent's
 * own subdirectory) and a leading '.' (hidden, and .ferry held the index);
 * maildir++ escapes every '.' inside a level (its level separator) and the
 * single level "ferry" (.ferry held the index). Both escape '%'. cur, new and
 * tmp need no escape in maildir++: ".cur" cannot be taken for anything.
 *
 * Decoding is lenient, because other programs made some of the directories:
 * a '%' not followed by two hex digits stays literal, and so do %00 and %2F
 * (a NUL or a '/' inside a level could not be encoded back). Such
 * directories decode to names that encode to a different directory; the
 * index remembers where each name came from.
 *
 * Two more layouts are those of the tools people move in from:
 *
 *   canonical        legacy (mbsync)      offlineimap (sep = .)
 *   INBOX            INBOX/               INBOX/
 *   Work/Projects    Work/.Projects/      Work.Projects/
 *   v1.2             v1.2/                v1%2E2/
 *
 * legacy escapes as verbatim does in the first level, and a leading '.' in
 * later ones (each follows the layout's own '.'); offlineimap escapes every
 * '.' inside a level, and cur, new and tmp as the only level. */
#ifndef FERRY_MAILDIR_PATH_H
#define FERRY_MAILDIR_PATH_H

#include <stddef.h>

#include "store/store.h"

/* Writes the directory of the canonical name, relative to the root ("" for
 * the root itself). name must pass folder_name_is_safe; INBOX in any case is
 * INBOX. Returns the length, or -1 when a path component would be longer
 * than NAME_MAX or the path would not fit len. */
int maildir_path_from_name(const char *name, enum maildir_layout layout, char *buf, size_t len);

/* Writes the canonical name of a folder directory: verbatim, a path relative
 * to the root ("Work/Projects"); maildir++, an entry of the root
 * (".Work.Projects") or "" for the root itself. A name equal to INBOX in any
 * case comes out as "INBOX". Returns the length, or -1 when dir is not a
 * maildir++ folder entry or the name would not fit len. The result may still
 * be unsafe (".." or empty levels from other programs' directories): check
 * it with folder_name_is_safe. */
int maildir_path_to_name(const char *dir, enum maildir_layout layout, char *buf, size_t len);

#endif
