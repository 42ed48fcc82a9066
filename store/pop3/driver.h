/* The POP3 store driver: the one table store.c knows of store/pop3. */
#ifndef FERRY_POP3_DRIVER_H
#define FERRY_POP3_DRIVER_H

#include "store/store.h"

extern const struct store_driver pop3_driver;

#endif
