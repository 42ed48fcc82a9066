/* The IMAP store driver: the one table store.c knows of store/imap. */
#ifndef FERRY_IMAP_DRIVER_H
#define FERRY_IMAP_DRIVER_H

#include "store/store.h"

extern const struct store_driver imap_driver;

#endif
