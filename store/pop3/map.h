/* The UIDL -> uid map of a POP3 store: the engine pairs by uid, POP3 names
 * messages by UIDL (or, without UIDL, by identity), so each key seen gets a
 * uid, increasing in the order first seen and never given again. A SQLite
 * file of its own (store/base/db.c, mode 0600) at pop3_conf.map, with the
 * folder's uidvalidity: made at random with the file, so a lost map is a
 * new uidvalidity and the engine re-pairs by identity (rule 16). */
#ifndef FERRY_POP3_MAP_H
#define FERRY_POP3_MAP_H

#include <stdbool.h>

#include "store/base/db.h"
#include "store/pop3/session.h"

/* Opens the map at path, creating it and its directory; scratch: a copy in
 * memory that is never written back (--dry-run). */
int pop3_map_open(const char *path, bool scratch, struct db **out, struct ferry_error *err);

/* Gives msgs[0..n) their uids by key, new keys the next ones in order,
 * drops the keys no longer on the server, and fills state's uidvalidity
 * and uidnext. A key given twice is the server's error (PROTOCOL). */
int pop3_map_assign(struct db *db, struct pop3_msg *msgs, size_t n, struct folder_state *state,
		    struct ferry_error *err);

#endif
