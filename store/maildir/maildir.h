/* A tree of Maildir folders under one root, as a store. Internal to store/. */
#ifndef FERRY_MAILDIR_H
#define FERRY_MAILDIR_H

#include "store/store.h"

extern const struct store_driver maildir_driver;

#endif
