/* The folder operations of the IMAP driver: LIST, CREATE, DELETE, and the
 * STATUS of many folders in one round trip. */
#ifndef FERRY_IMAP_FOLDERS_H
#define FERRY_IMAP_FOLDERS_H

#include "store/imap/session.h"

int imap_list_folders(struct store *store, struct store_folder **out, size_t *n,
		      struct ferry_error *err);
int imap_create_folder(struct store *store, const char *name, struct ferry_error *err);
int imap_delete_folder(struct store *store, const char *name, struct ferry_error *err);
int imap_subscribed(struct store *store, struct store_folder **out, size_t *n,
		    struct ferry_error *err);
int imap_rename_folder(struct store *store, const char *from, const char *to,
		       struct ferry_error *err);
int imap_status(struct store *store, const char *const *names, size_t n, struct folder_state *out,
		bool *ok, struct ferry_error *err);

#endif
