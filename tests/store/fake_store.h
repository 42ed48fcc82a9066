/* A store that lives in memory: folders, uids, flags, keywords, bodies,
 * UIDVALIDITY and modseqs, with nothing on disk or on the wire. For tests of
 * the engine that need a store they can look into, and as the reference
 * driver of the store conformance suite (tests/store/conformance.c). */
#ifndef FERRY_FAKE_STORE_H
#define FERRY_FAKE_STORE_H

#include "store/store.h"

#include <stdbool.h>

extern const struct store_driver fake_driver;
/* The same store with none of the optional operations (status,
 * list_changed, own_state, move_msgs; prefetch and add_flush it never has):
 * what store.h's defaults give a driver that leaves them out. */
extern const struct store_driver fake_minimal_driver;

/* Opens an empty fake store holding INBOX, driven by fake_minimal_driver
 * when minimal; close it with store_close. conf may be NULL. Returns 0, or
 * -1 with err set when out of memory. */
int fake_store_open(const struct store_conf *conf, bool minimal, struct store **out,
		    struct ferry_error *err);

#endif
