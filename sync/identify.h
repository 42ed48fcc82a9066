/* Rule 7's identities of a folder's unpaired messages. Internal to sync/. */
#ifndef FERRY_IDENTIFY_H
#define FERRY_IDENTIFY_H

#include "sync/engine.h"
#include "sync/plan.h"

/* Identifies the unpaired messages of both listings (list, by side: in's)
 * that may pair: those whose size also occurs unpaired on the other side
 * (headers only), and, where identities differ but sizes match, their
 * munged hash too, so that plan_folder can pair a message with a server's
 * rewritten copy of it. */
int identify_unpaired(struct engine *e, const struct plan_input *in, struct msg_list list[2],
		      struct ferry_error *err);

/* With `placeholders`: marks the unpaired near messages that are
 * placeholders (msg.placeholder, by their X-Ferry-Placeholder header,
 * read alone), giving each the original's identity and size, so that rule
 * 7 pairs it with the original and it is never uploaded (a lost state, a
 * placeholder moved by hand). Only messages within max_size are read: a
 * placeholder is a header block and a note. Also with placeholders off,
 * unless the run only pulls: one made before is never uploaded. */
int identify_placeholders(struct engine *e, const struct plan_input *in, struct msg_list list[2],
			  struct ferry_error *err);

#endif
