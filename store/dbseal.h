/* Seals on SQLite files (the state, the Maildir index): a full integrity
 * check reads every page, which would make a run that changes nothing cost
 * in proportion to the number of messages. A seal, written beside the file
 * after ferry closed it cleanly, records what the file looked like then; while
 * the file still looks so, nothing has written to it and the check is
 * skipped. A crashed run leaves no seal (it is broken when the file is
 * opened), so the next run checks. */
#ifndef FERRY_DBSEAL_H
#define FERRY_DBSEAL_H

#include <stdbool.h>

/* Whether path still matches its seal: same file, size, times and first
 * page; or whether this process, or the one it was forked from, checked the
 * file already (db_seal_break). False when there is no seal or anything
 * differs. */
bool db_seal_holds(const char *path);

/* Removes the seal: call once the file is checked, before writing to it.
 * The file counts as checked for this process and its children from then
 * on (a parallel worker opens the files its parent holds open). */
void db_seal_break(const char *path);

/* Seals path after a clean close; not when a -wal file is left (another
 * connection still has it open, or the close did not checkpoint). Failure
 * only means the next open checks the file. */
void db_seal_make(const char *path);

#endif
