/* Finishing one prepared folder. Internal to sync/. */
#ifndef FERRY_FINISH_H
#define FERRY_FINISH_H

#include "sync/engine.h"

/* Selects both sides again (unless still selected), identifies unpaired
 * messages, plans and applies, then records the folder's state. On error
 * the folder is reported failed and the state holds what was done. */
int finish_folder(struct engine *e, struct folder_work *w, struct ferry_error *err);

#endif
