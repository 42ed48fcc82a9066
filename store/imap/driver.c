/* The IMAP store driver's table: each operation lives in the module of its
 * kind (folders, select and prefetch, listing, fetch, flags, move, append);
 * opening and closing tie the session to them. */
#include "store/imap/driver.h"

#include "store/imap/append.h"
#include "store/imap/fetch.h"
#include "store/imap/flags.h"
#include "store/imap/folders.h"
#include "store/imap/idle.h"
#include "store/imap/listing.h"
#include "store/imap/move.h"
#include "store/imap/namespace.h"
#include "store/imap/prefetch.h"
#include "store/imap/queue.h"
#include "store/imap/select.h"
#include "store/imap/session.h"

static int imap_open(const struct store_conf *conf, const char *secret, struct store **out,
		     struct ferry_error *err)
{
	if (imap_session_open(conf, secret, out, err) != 0)
		return -1;
	(*out)->driver = &imap_driver;
	return 0;
}

static void imap_close(struct store *store)
{
	struct imap_store *st = (struct imap_store *)store;

	imap_appends_close(st); /* LOGOUT's answer must not be taken for an APPEND's */
	imap_prefetch_clear(st);
	imap_queue_free(st);
	imap_spellings_clear(st);
	imap_session_close(st);
}

const struct store_driver imap_driver = {
    .kind = "imap",
    .open = imap_open,
    .close = imap_close,
    .list_folders = imap_list_folders,
    .create_folder = imap_create_folder,
    .delete_folder = imap_delete_folder,
    .rename_folder = imap_rename_folder,
    .subscribed = imap_subscribed,
    .status = imap_status,
    .select = imap_select,
    .list = imap_list,
    .list_changed = imap_list_changed,
    .prefetch = imap_prefetch,
    .identify = imap_identify,
    .fetch = imap_fetch,
    .fetch_headers = imap_fetch_headers,
    .add_begin = imap_add_begin,
    .add_write = imap_add_write,
    .add_commit = imap_add_commit,
    .add_abort = imap_add_abort,
    .add_flush = imap_add_flush,
    .keywords_dropped = imap_keywords_dropped,
    .set_flags = imap_set_flags,
    .delete_msgs = imap_delete_msgs,
    .move_msgs = imap_move_msgs,
    .wait = imap_wait,
};
