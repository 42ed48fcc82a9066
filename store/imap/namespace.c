/* The personal namespace (NAMESPACE, else LIST "" ""), and the server's
 * spelling of canonical folder names in it. */
#include "store/imap/namespace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/imap/queue.h"
#include "store/imap/utf7.h"

/* Appends the non-empty prefixes of a namespace item to st->ns_foreign;
 * -1 on allocation failure. */
static int add_foreign(struct imap_store *st, const struct mailimap_namespace_item *item)
{
	size_t n = 0;

	if (!item || !item->ns_data_list)
		return 0;
	while (st->ns_foreign && st->ns_foreign[n])
		n++;
	for (clistiter *it = clist_begin(item->ns_data_list); it; it = clist_next(it)) {
		const struct mailimap_namespace_info *info = clist_content(it);
		char **v;

		if (!info->ns_prefix || !*info->ns_prefix)
			continue;
		v = realloc(st->ns_foreign, (n + 2) * sizeof(*v));
		if (!v)
			return -1;
		st->ns_foreign = v;
		v[n] = strdup(info->ns_prefix);
		v[n + 1] = NULL;
		if (!v[n])
			return -1;
		n++;
	}
	return 0;
}

/* Whether a server name lies in another user's or a shared namespace (or is
 * the root of one): with Dovecot's personal prefix "" such names would
 * otherwise pass for the account's own folders. */
bool imap_in_foreign_namespace(const struct imap_store *st, const char *name)
{
	size_t own = strlen(st->ns_prefix ? st->ns_prefix : "");

	for (char **p = st->ns_foreign; p && *p; p++) {
		size_t len = strlen(*p);

		if (len <= own)
			continue;
		if (strncmp(name, *p, len) == 0)
			return true;
		if (strncmp(name, *p, len - 1) == 0 && name[len - 1] == '\0')
			return true; /* "Users" for "Users/" */
	}
	return false;
}

/* Takes the personal prefix and delimiter, and the foreign prefixes, from a
 * NAMESPACE answer; *found when it named a personal namespace. */
int imap_take_namespace(struct imap_store *st, const struct mailimap_namespace_data *ns,
			char *delimiter, bool *found, struct ferry_error *err)
{
	if (ns && ns->ns_personal && ns->ns_personal->ns_data_list &&
	    clist_begin(ns->ns_personal->ns_data_list)) {
		struct mailimap_namespace_info *info =
		    clist_content(clist_begin(ns->ns_personal->ns_data_list));

		free(st->ns_prefix);
		st->ns_prefix = strdup(info->ns_prefix ? info->ns_prefix : "");
		*delimiter = info->ns_delimiter;
		*found = true;
		if (!st->ns_prefix)
			return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	if (ns && (add_foreign(st, ns->ns_other) != 0 || add_foreign(st, ns->ns_shared) != 0))
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	return 0;
}

/* Settles what take_namespace learnt: without a personal namespace, the
 * prefix is "" and the delimiter comes from LIST "" "" (RFC 3501 6.3.8). */
int imap_settle_namespace(struct imap_store *st, char delimiter, bool found,
			  struct ferry_error *err)
{
	char shown[256];
	clist *list = NULL;
	int r;

	if (!found) {
		r = mailimap_list(st->imap, "", "", &list);
		if (r != MAILIMAP_NO_ERROR)
			return imap_fail(st, r, err, "LIST \"\" \"\" (the hierarchy delimiter)");
		if (list && clist_begin(list))
			delimiter =
			    ((struct mailimap_mailbox_list *)clist_content(clist_begin(list)))
				->mb_delimiter;
		mailimap_list_result_free(list);
		free(st->ns_prefix);
		st->ns_prefix = strdup("");
		if (!st->ns_prefix)
			return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	/* The prefix goes into every command: printable ASCII only. */
	for (const char *p = st->ns_prefix; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			return ferry_error_set(
			    err, FERRY_CAUSE_PROTOCOL,
			    "the server's personal namespace prefix \"%s\" is not usable",
			    imap_sanitize(st->ns_prefix, shown, sizeof(shown)));
	st->ns_delimiter = delimiter;
	st->ns_known = true;
	return 0;
}

/* Learns the personal namespace prefix and the hierarchy delimiter once:
 * NAMESPACE where offered, else LIST "" "". */
static int learn_namespace(struct imap_store *st, struct ferry_error *err)
{
	char delimiter = 0;
	bool found = false;
	int r;

	if (st->ns_known)
		return 0;
	if (st->base.caps & CAP_NAMESPACE) {
		struct mailimap_namespace_data *ns = NULL;

		r = imap_result(st, mailimap_namespace(st->imap, &ns));
		if (r != MAILIMAP_NO_ERROR && imap_error_is_fatal(r))
			return imap_fail(st, r, err, "NAMESPACE");
		r = imap_take_namespace(st, r == MAILIMAP_NO_ERROR ? ns : NULL, &delimiter, &found,
					err);
		if (ns)
			mailimap_namespace_data_free(ns);
		if (r != 0)
			return -1;
	}
	return imap_settle_namespace(st, delimiter, found, err);
}

int imap_server_name(struct imap_store *st, const char *name, const char *what, char **out,
		     struct ferry_error *err)
{
	if (imap_namespace_ready(st, err) != 0)
		return -1;
	return imap_map_name(st, name, what, out, err);
}

int imap_namespace_ready(struct imap_store *st, struct ferry_error *err)
{
	if (imap_usable(st, err) != 0 || learn_namespace(st, err) != 0)
		return -1;
	return 0;
}

int imap_map_name(struct imap_store *st, const char *name, const char *what, char **out,
		  struct ferry_error *err)
{
	char shown[512];
	int status;

	*out = NULL;
	status = canonical_to_imap_name(name, st->ns_delimiter, st->ns_prefix, out);
	if (status == IMAP_NAME_NOMEM)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	if (status != IMAP_NAME_OK)
		return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
				       "%s folder \"%s\": the name cannot be used on this server "
				       "(hierarchy delimiter '%c')",
				       what, imap_sanitize(name, shown, sizeof(shown)),
				       st->ns_delimiter ? st->ns_delimiter : ' ');
	if (imap_in_foreign_namespace(st, *out)) {
		free(*out);
		*out = NULL;
		return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
				       "%s folder \"%s\": the name belongs to another user's or a "
				       "shared namespace on this server",
				       what, imap_sanitize(name, shown, sizeof(shown)));
	}
	return 0;
}

/* "name" with \ and " escaped, as libetpan itself sends mailbox names;
 * NULL for a name that cannot go out as a quoted string. */
char *imap_quoted(const char *name)
{
	size_t len = strlen(name), o = 0;
	char *q = malloc(2 * len + 3);

	if (!q)
		return NULL;
	q[o++] = '"';
	for (const char *p = name; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c >= 0x7f) {
			free(q);
			return NULL;
		}
		if (c == '"' || c == '\\')
			q[o++] = '\\';
		q[o++] = (char)c;
	}
	q[o++] = '"';
	q[o] = '\0';
	return q;
}
