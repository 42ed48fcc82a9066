#include "sync/policy.h"

#include "sync/config.h"

struct sync_policy sync_policy_of(const struct channel_conf *ch, enum sync_dir dir,
				  bool force_delete)
{
	return (struct sync_policy){
	    .sync = dir,
	    .delete = ch->delete,
	    .max_size = ch->max_size,
	    .max_delete_is_percent = ch->max_delete_is_percent,
	    .max_delete = ch->max_delete,
	    .force_delete = force_delete,
	};
}
