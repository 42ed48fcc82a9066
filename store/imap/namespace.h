/* The personal namespace (NAMESPACE, else LIST "" ""), learnt once per
 * session, and the server's spelling of canonical folder names in it. */
#ifndef FERRY_IMAP_NAMESPACE_H
#define FERRY_IMAP_NAMESPACE_H

#include <stdbool.h>

#include "store/imap/session.h"

/* The server's spelling of a canonical name, in *out (caller frees): as
 * LIST spelled it, or below a listed parent as that parent is spelled, else
 * built from the namespace. */
int imap_server_name(struct imap_store *st, const char *name, const char *what, char **out,
		     struct ferry_error *err);
/* imap_server_name in two steps: the session usable, its namespace and
 * its folders' spellings known (which may send NAMESPACE and LIST), then
 * the mapping alone (sends none). */
int imap_namespace_ready(struct imap_store *st, struct ferry_error *err);
int imap_map_name(struct imap_store *st, const char *name, const char *what, char **out,
		  struct ferry_error *err);

/* Whether a server name lies in another user's or a shared namespace (or is
 * the root of one). */
bool imap_in_foreign_namespace(const struct imap_store *st, const char *name);

/* A NAMESPACE answer read elsewhere (folders.c sends it with the first
 * LIST): take keeps its personal prefix and delimiter (*found when it named
 * a personal namespace) and the foreign prefixes; settle completes what was
 * learnt (LIST "" "" for the delimiter when nothing was found). */
int imap_take_namespace(struct imap_store *st, const struct mailimap_namespace_data *ns,
			char *delimiter, bool *found, struct ferry_error *err);
int imap_settle_namespace(struct imap_store *st, char delimiter, bool found,
			  struct ferry_error *err);

/* The namespace alone, without the LIST imap_namespace_ready adds when no
 * listing was read in this session (folders.c lists itself). */
int imap_learn_namespace(struct imap_store *st, struct ferry_error *err);

/* Takes the spellings of the account's folders from a LIST "" "*" answer
 * (the namespace known): for each canonical name, the server's name and
 * delimiter, the first listed winning. The list stays the caller's. */
int imap_take_spellings(struct imap_store *st, clist *list, struct ferry_error *err);
void imap_spellings_clear(struct imap_store *st);

/* "name" with \ and " escaped, as libetpan itself sends mailbox names;
 * NULL for a name that cannot go out as a quoted string (or no memory). */
char *imap_quoted(const char *name);

#endif
