/* The personal namespace (NAMESPACE, else LIST "" ""), and the server's
 * spelling of canonical folder names in it. */
#include "store/imap/namespace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/imap/queue.h"
#include "store/imap/utf7.h"
#include "store/names.h"

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
	/* A configured prefix wins over the server's: it is there for servers
	 * without NAMESPACE (RFC 3501 only: Courier's INBOX.), and one that has
	 * NAMESPACE but names the wrong place is better overruled than obeyed.
	 * The delimiter stays the server's. */
	if (st->base.conf->imap.prefix) {
		free(st->ns_prefix);
		st->ns_prefix = strdup(st->base.conf->imap.prefix);
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

/* One listed folder: its canonical name, and the server's. */
struct imap_spelling {
	char *name;
	char *server;
	char delimiter;
	size_t order; /* in the server's answer: the first listed wins */
};

static int cmp_spelling(const void *a, const void *b)
{
	const struct imap_spelling *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return (x->order > y->order) - (x->order < y->order);
}

void imap_spellings_clear(struct imap_store *st)
{
	for (size_t i = 0; i < st->nspell; i++) {
		free(st->spell[i].name);
		free(st->spell[i].server);
	}
	free(st->spell);
	st->spell = NULL;
	st->nspell = 0;
	st->spell_known = false;
}

int imap_take_spellings(struct imap_store *st, clist *list, struct ferry_error *err)
{
	struct imap_spelling *v;
	size_t n = 0, order = 0, kept = 0;

	imap_spellings_clear(st);
	v = calloc((list ? (size_t)clist_count(list) : 0) + 1, sizeof(*v));
	if (!v)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	for (clistiter *it = list ? clist_begin(list) : NULL; it; it = clist_next(it), order++) {
		const struct mailimap_mailbox_list *mb = clist_content(it);
		char *name = NULL;
		int status;

		if (!mb->mb_name || imap_in_foreign_namespace(st, mb->mb_name))
			continue;
		status =
		    imap_name_to_canonical(mb->mb_name, mb->mb_delimiter, st->ns_prefix, &name);
		if (status == IMAP_NAME_NOMEM)
			goto oom;
		if (status != IMAP_NAME_OK)
			continue; /* folders.c warns of it */
		v[n] = (struct imap_spelling){.name = name,
					      .server = strdup(mb->mb_name),
					      .delimiter = mb->mb_delimiter,
					      .order = order};
		if (!v[n++].server)
			goto oom;
	}
	qsort(v, n, sizeof(*v), cmp_spelling);
	for (size_t i = 0; i < n; i++) {
		if (kept && strcmp(v[kept - 1].name, v[i].name) == 0) {
			free(v[i].name);
			free(v[i].server);
			continue;
		}
		v[kept++] = v[i];
	}
	st->spell = v;
	st->nspell = kept;
	st->spell_known = true;
	return 0;
oom:
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].server);
	}
	free(v);
	return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
}

static const struct imap_spelling *find_spelling(const struct imap_store *st, const char *name,
						 size_t len)
{
	size_t lo = 0, hi = st->nspell;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strncmp(st->spell[mid].name, name, len);

		if (c == 0 && st->spell[mid].name[len])
			c = 1;
		if (c == 0)
			return &st->spell[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The spelling of a folder below a listed one (not the inbox): the
 * parent's server name, its delimiter, the rest encoded; NULL when there
 * is none, or the result would not read back as name. */
static char *spell_below_parent(const struct imap_store *st, const char *name)
{
	for (size_t len = strlen(name); len > 0; len--) {
		const struct imap_spelling *p;
		char *rest = NULL, *out, *back = NULL;
		size_t size;
		bool same;

		if (name[len] != '/' || !(p = find_spelling(st, name, len)) ||
		    folder_name_is_inbox(p->name))
			continue;
		if (!p->delimiter || strncasecmp(name + len + 1, "INBOX", 5) == 0 ||
		    canonical_to_imap_name(name + len + 1, p->delimiter, "", &rest) != IMAP_NAME_OK)
			return NULL;
		size = strlen(p->server) + strlen(rest) + 2;
		out = malloc(size);
		if (out)
			snprintf(out, size, "%s%c%s", p->server, p->delimiter, rest);
		free(rest);
		same = out &&
		       imap_name_to_canonical(out, p->delimiter, st->ns_prefix, &back) ==
			   IMAP_NAME_OK &&
		       strcmp(back, name) == 0;
		free(back);
		if (!same) {
			free(out);
			return NULL;
		}
		return out;
	}
	return NULL;
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

int imap_learn_namespace(struct imap_store *st, struct ferry_error *err)
{
	return learn_namespace(st, err);
}

/* A session that has not listed (a reconnect, a parallel worker) lists
 * once, so that it names folders as the server spells them. */
int imap_namespace_ready(struct imap_store *st, struct ferry_error *err)
{
	clist *list = NULL;
	int r;

	if (imap_usable(st, err) != 0 || learn_namespace(st, err) != 0)
		return -1;
	if (st->spell_known)
		return 0;
	r = mailimap_list(st->imap, "", "*", &list);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(st, r, err, "LIST \"\" \"*\"");
	r = imap_take_spellings(st, list, err);
	mailimap_list_result_free(list);
	return r;
}

int imap_map_name(struct imap_store *st, const char *name, const char *what, char **out,
		  struct ferry_error *err)
{
	char shown[512];
	int status;

	*out = NULL;
	/* As listed: the canonical name pairs, the server's names the folder
	 * ("Inbox/Sub2" below "INBOX/"; a delimiter other than the namespace's). */
	if (!folder_name_is_inbox(name)) {
		const struct imap_spelling *sp = find_spelling(st, name, strlen(name));

		if (sp)
			*out = strdup(sp->server);
		else
			*out = spell_below_parent(st, name);
		if (*out)
			return 0;
	}
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
