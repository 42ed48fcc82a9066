/* IMAP folders: LIST, CREATE, DELETE, and STATUS of many at once. */
#include "store/imap/folders.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/imap/namespace.h"
#include "store/imap/queue.h"
#include "store/imap/utf7.h"
#include "store/log.h"

/* What the answers to NAMESPACE and LIST "" "*" brought. */
struct listing_answers {
	char delimiter;
	bool found;
	clist *list;
	bool failed; /* err holds a failure that left the session usable */
	struct ferry_error err;
};

/* A BAD or a reply that does not parse leaves the LIST answer unread: the
 * session cannot go on (imap_fail marks it broken). */
static int read_namespace(struct imap_store *st, int tag, void *ctx, size_t arg,
			  struct ferry_error *err)
{
	struct listing_answers *c = ctx;
	const struct mailimap_namespace_data *ns = NULL;
	bool ok = false;
	int r;

	(void)arg;
	r = imap_parse_answer(st, tag, false, &ok);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(st, r, err, "NAMESPACE");
	for (clistiter *it = st->imap->imap_response_info->rsp_extension_list
				 ? clist_begin(st->imap->imap_response_info->rsp_extension_list)
				 : NULL;
	     ok && it && !ns; it = clist_next(it)) {
		const struct mailimap_extension_data *ext = clist_content(it);

		if (ext && ext->ext_extension &&
		    ext->ext_extension->ext_id == MAILIMAP_EXTENSION_NAMESPACE &&
		    ext->ext_type == MAILIMAP_NAMESPACE_TYPE_NAMESPACE)
			ns = ext->ext_data;
	}
	/* Read in place: the next parse frees the extension data. */
	if (!c->failed && imap_take_namespace(st, ns, &c->delimiter, &c->found, &c->err) != 0)
		c->failed = true;
	return 0;
}

static int read_list(struct imap_store *st, int tag, void *ctx, size_t arg, struct ferry_error *err)
{
	struct listing_answers *c = ctx;
	bool ok = false;
	int r;

	(void)arg;
	r = imap_parse_answer(st, tag, false, &ok);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(st, r, err, "LIST \"\" \"*\"");
	if (c->failed)
		return 0;
	if (!ok) {
		imap_fail(st, MAILIMAP_ERROR_LIST, &c->err, "LIST \"\" \"*\"");
		c->failed = true;
		return 0;
	}
	c->list = st->imap->imap_response_info->rsp_mailbox_list;
	st->imap->imap_response_info->rsp_mailbox_list = NULL;
	if (!c->list) {
		ferry_error_set(&c->err, FERRY_CAUSE_INTERNAL, "listing folders: out of memory");
		c->failed = true;
	}
	return 0;
}

static const struct imap_handler namespace_answer = {.read = read_namespace};
static const struct imap_handler list_answer = {.read = read_list};

/* LIST "" "*" into *list. The first time, on a server with NAMESPACE, both
 * go out in one write and cost one round trip; the LIST does not depend on
 * the answer, which only tells which listed names are the account's own. */
static int list_all(struct imap_store *st, clist **list, struct ferry_error *err)
{
	static const char ns_cmd[] = "NAMESPACE\r\n", list_cmd[] = "LIST \"\" \"*\"\r\n";
	static const char what[] = "NAMESPACE and LIST";
	struct listing_answers c = {0};
	int r;

	*list = NULL;
	if (st->ns_known || !(st->base.caps & CAP_NAMESPACE)) {
		if (imap_usable(st, err) != 0 || imap_learn_namespace(st, err) != 0)
			return -1;
		r = mailimap_list(st->imap, "", "*", list);
		return r == MAILIMAP_NO_ERROR ? 0 : imap_fail(st, r, err, "LIST \"\" \"*\"");
	}
	r = imap_queue_send(st, ns_cmd, &namespace_answer, &c, 0, what, err) < 0 ||
		    imap_queue_send(st, list_cmd, &list_answer, &c, 0, what, err) < 0 ||
		    imap_queue_flush(st, what, err) != 0
		? -1
		: 0;
	/* Read before c goes, whatever happened. */
	if (imap_queue_settle(st, r == 0 ? err : NULL) != 0 || r != 0) {
		if (c.list)
			mailimap_list_result_free(c.list);
		return -1;
	}
	if (c.failed) {
		if (c.list)
			mailimap_list_result_free(c.list);
		if (err)
			*err = c.err;
		return -1;
	}
	if (imap_settle_namespace(st, c.delimiter, c.found, err) != 0) {
		mailimap_list_result_free(c.list);
		return -1;
	}
	*list = c.list;
	return 0;
}

/* Special-use attributes (RFC 6154), which libetpan hands over as
 * extension flags without the backslash. */
static const struct {
	const char *name;
	unsigned attr;
} attr_table[] = {
    {"Noselect", FA_NOSELECT}, {"NonExistent", FA_NOSELECT},
    {"Sent", FA_SENT},	       {"Trash", FA_TRASH},
    {"Drafts", FA_DRAFTS},     {"Junk", FA_JUNK},
    {"Archive", FA_ARCHIVE},   {"All", FA_ALL},
    {"Flagged", FA_FLAGGED},
};

static unsigned list_attrs(const struct mailimap_mbx_list_flags *f)
{
	unsigned attrs = 0;

	if (!f)
		return 0;
	if (f->mbf_type == MAILIMAP_MBX_LIST_FLAGS_SFLAG &&
	    f->mbf_sflag == MAILIMAP_MBX_LIST_SFLAG_NOSELECT)
		attrs |= FA_NOSELECT;
	for (clistiter *it = f->mbf_oflags ? clist_begin(f->mbf_oflags) : NULL; it;
	     it = clist_next(it)) {
		const struct mailimap_mbx_list_oflag *o = clist_content(it);

		if (o->of_type != MAILIMAP_MBX_LIST_OFLAG_FLAG_EXT || !o->of_flag_ext)
			continue;
		for (size_t i = 0; i < sizeof(attr_table) / sizeof(attr_table[0]); i++)
			if (strcasecmp(o->of_flag_ext, attr_table[i].name) == 0)
				attrs |= attr_table[i].attr;
	}
	return attrs;
}

struct listed {
	struct store_folder folder;
	size_t order; /* position in the server's answer */
	char *server; /* for warnings */
};

static int cmp_listed(const void *a, const void *b)
{
	const struct listed *x = a, *y = b;
	int c = strcmp(x->folder.name, y->folder.name);

	if (c)
		return c;
	return (x->order > y->order) - (x->order < y->order);
}

/* Maps one LIST entry; 1 when it is to be skipped, -1 on allocation failure. */
static int map_entry(struct imap_store *st, const struct mailimap_mailbox_list *mb,
		     struct listed *out)
{
	char shown[512];
	int status;

	if (imap_in_foreign_namespace(st, mb->mb_name))
		return 1; /* other users' or shared folders */
	status =
	    imap_name_to_canonical(mb->mb_name, mb->mb_delimiter, st->ns_prefix, &out->folder.name);
	if (status == IMAP_NAME_NOMEM)
		return -1;
	if (status == IMAP_NAME_OUTSIDE)
		return 1; /* outside the personal prefix */
	if (status != IMAP_NAME_OK) {
		log_warn("%s: skipping folder \"%s\": its name cannot be mapped to a safe folder "
			 "name",
			 st->base.conf->name, imap_sanitize(mb->mb_name, shown, sizeof(shown)));
		return 1;
	}
	out->folder.attrs = list_attrs(mb->mb_flag);
	out->server = strdup(mb->mb_name);
	if (!out->server) {
		free(out->folder.name);
		return -1;
	}
	return 0;
}

int imap_list_folders(struct store *store, struct store_folder **out, size_t *n,
		      struct ferry_error *err)
{
	struct imap_store *st = (struct imap_store *)store;
	struct listed *v = NULL;
	struct store_folder *folders;
	size_t count = 0, kept = 0, order = 0;
	clist *list = NULL;

	*out = NULL;
	*n = 0;
	/* Plain LIST only: 1.9.4 cannot parse LIST-EXTENDED items. */
	if (imap_usable(st, err) != 0 || list_all(st, &list, err) != 0)
		return -1;
	if (imap_take_spellings(st, list, err) != 0) {
		mailimap_list_result_free(list);
		return -1;
	}
	v = calloc((size_t)clist_count(list) + 1, sizeof(*v));
	if (!v)
		goto oom;
	for (clistiter *it = clist_begin(list); it; it = clist_next(it), order++) {
		int m = map_entry(st, clist_content(it), &v[count]);

		if (m < 0)
			goto oom;
		if (m == 0)
			v[count++].order = order;
	}
	mailimap_list_result_free(list);
	list = NULL;
	qsort(v, count, sizeof(*v), cmp_listed);
	folders = calloc(count + 1, sizeof(*folders));
	if (!folders)
		goto oom;
	for (size_t i = 0, first = 0; i < count; i++) {
		char a[512], b[512];

		if (kept && strcmp(folders[kept - 1].name, v[i].folder.name) == 0) {
			/* Two spellings of one folder ("INBOX" and "Inbox"): the first
			 * the server listed wins. */
			log_warn("%s: skipping folder \"%s\": it maps to the same name as \"%s\"",
				 st->base.conf->name, imap_sanitize(v[i].server, a, sizeof(a)),
				 imap_sanitize(v[first].server, b, sizeof(b)));
			free(v[i].folder.name);
		} else {
			folders[kept++] = v[i].folder;
			first = i;
		}
	}
	for (size_t i = 0; i < count; i++)
		free(v[i].server);
	free(v);
	*out = folders;
	*n = kept;
	return 0;
oom:
	if (list)
		mailimap_list_result_free(list);
	for (size_t i = 0; v && i < count; i++) {
		free(v[i].folder.name);
		free(v[i].server);
	}
	free(v);
	return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "listing folders: out of memory");
}

/* LSUB "" "*", named as LIST names them (the server's spelling mapped the
 * same way); a name that cannot be mapped is left out, as from LIST. */
int imap_subscribed(struct store *store, struct store_folder **out, size_t *n,
		    struct ferry_error *err)
{
	struct imap_store *st = (struct imap_store *)store;
	struct store_folder *v;
	clist *list = NULL;
	size_t count = 0;
	int r;

	*out = NULL;
	*n = 0;
	if (imap_usable(st, err) != 0)
		return -1;
	r = mailimap_lsub(st->imap, "", "*", &list);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(st, r, err, "LSUB \"\" \"*\"");
	v = calloc((size_t)clist_count(list) + 1, sizeof(*v));
	if (!v) {
		mailimap_list_result_free(list);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "LSUB: out of memory");
	}
	for (clistiter *it = clist_begin(list); it; it = clist_next(it)) {
		struct listed one = {0};
		int m = map_entry(st, clist_content(it), &one);

		if (m < 0) {
			mailimap_list_result_free(list);
			store_folders_free(v, count);
			return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "LSUB: out of memory");
		}
		if (m == 0) {
			free(one.server);
			v[count++] = one.folder;
		}
	}
	mailimap_list_result_free(list);
	*out = v;
	*n = count;
	return 0;
}

int imap_create_folder(struct store *store, const char *name, struct ferry_error *err)
{
	struct imap_store *st = (struct imap_store *)store;
	char *mb = NULL;
	int r;

	if (imap_server_name(st, name, "cannot create", &mb, err) != 0)
		return -1;
	r = mailimap_create(st->imap, mb);
	if (r != MAILIMAP_NO_ERROR) {
		free(mb);
		return imap_fail(st, r, err, "cannot create folder \"%s\"", name);
	}
	/* Subscribed, as a mail client subscribes what it creates: many show
	 * only subscribed folders, and `subscribed = yes` syncs only those. */
	r = mailimap_subscribe(st->imap, mb);
	free(mb);
	if (r == MAILIMAP_ERROR_STREAM || r == MAILIMAP_ERROR_PARSE)
		return imap_fail(st, r, err, "cannot subscribe to folder \"%s\"", name);
	if (r != MAILIMAP_NO_ERROR)
		log_warn("%s: folder \"%s\" created, but the server refused to subscribe to it",
			 st->base.conf->name, name);
	return 0;
}

int imap_delete_folder(struct store *store, const char *name, struct ferry_error *err)
{
	struct imap_store *st = (struct imap_store *)store;
	char *mb = NULL;
	bool was_selected;
	int r;

	if (imap_server_name(st, name, "cannot delete", &mb, err) != 0)
		return -1;
	was_selected = st->selected_imap && strcmp(st->selected_imap, mb) == 0;
	if (was_selected && strcasecmp(mb, "INBOX") != 0) {
		/* Dovecot answers the DELETE of the selected folder with BYE and
		 * hangs up. libetpan has no UNSELECT, and CLOSE would expunge:
		 * EXAMINE (read-only) moves the selection away instead. */
		imap_unselect(st);
		r = mailimap_examine(st->imap, "INBOX");
		if (r != MAILIMAP_NO_ERROR) {
			free(mb);
			return imap_fail(st, r, err, "cannot delete folder \"%s\": EXAMINE INBOX",
					 name);
		}
	}
	r = mailimap_delete(st->imap, mb);
	free(mb);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(st, r, err, "cannot delete folder \"%s\"", name);
	if (was_selected)
		imap_unselect(st);
	return 0;
}

int imap_rename_folder(struct store *store, const char *from, const char *to,
		       struct ferry_error *err)
{
	struct imap_store *st = (struct imap_store *)store;
	char *old = NULL, *new = NULL;
	int r;

	if (imap_server_name(st, from, "cannot rename", &old, err) != 0)
		return -1;
	if (imap_server_name(st, to, "cannot rename to", &new, err) != 0) {
		free(old);
		return -1;
	}
	/* The selection would follow the folder on one server and not on
	 * another: nothing stays selected across a RENAME (as for a DELETE,
	 * EXAMINE moves the selection away without an expunge). */
	if (st->selected_imap && strcmp(st->selected_imap, old) == 0) {
		imap_unselect(st);
		r = mailimap_examine(st->imap, "INBOX");
		if (r != MAILIMAP_NO_ERROR) {
			free(old);
			free(new);
			return imap_fail(st, r, err, "cannot rename folder \"%s\": EXAMINE INBOX",
					 from);
		}
		imap_unselect(st);
	}
	r = mailimap_rename(st->imap, old, new);
	free(old);
	free(new);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(st, r, err, "cannot rename folder \"%s\" to \"%s\"", from, to);
	return 0;
}

/* Reads one STATUS reply into *out; *ok only when it gave all four values. */
static void status_values(const struct mailimap_mailbox_data_status *s, struct folder_state *out,
			  bool *ok)
{
	bool uv = false, un = false, ms = false, msgs = false;

	*out = (struct folder_state){0};
	for (clistiter *it = s && s->st_info_list ? clist_begin(s->st_info_list) : NULL; it;
	     it = clist_next(it)) {
		const struct mailimap_status_info *i = clist_content(it);

		switch (i->st_att) {
		case MAILIMAP_STATUS_ATT_UIDVALIDITY:
			out->uidvalidity = i->st_value;
			uv = true;
			break;
		case MAILIMAP_STATUS_ATT_UIDNEXT:
			out->uidnext = i->st_value;
			un = true;
			break;
		case MAILIMAP_STATUS_ATT_MESSAGES:
			out->exists = i->st_value;
			msgs = true;
			break;
		case MAILIMAP_STATUS_ATT_EXTENSION:
			if (i->st_ext_data && i->st_ext_data->ext_extension &&
			    i->st_ext_data->ext_extension->ext_id == MAILIMAP_EXTENSION_CONDSTORE &&
			    i->st_ext_data->ext_data) {
				const struct mailimap_condstore_status_info *c =
				    i->st_ext_data->ext_data;

				out->highestmodseq = c->cs_highestmodseq_value;
				ms = out->highestmodseq != 0;
			}
			break;
		default:
			break;
		}
	}
	*ok = uv && un && ms && msgs && out->uidvalidity != 0;
}

/* Where the STATUS answers go. */
struct status_answers {
	struct folder_state *out;
	bool *ok;
	size_t sent;
};

/* Drops "HIGHESTMODSEQ NIL" from a STATUS line just read (the stream
 * buffer): libetpan's parser fails the whole response on it, and with it
 * the session, though it only means that the folder has no modseq. Looked
 * for after the last "(" only: a folder's name may hold anything. */
static void drop_nil_modseq(mailimap *imap)
{
	static const char item[] = "HIGHESTMODSEQ NIL";
	MMAPString *b = imap->imap_stream_buffer;
	const char *open;

	if (!b || !b->str || strncasecmp(b->str, "* STATUS ", 9) != 0 ||
	    !(open = strrchr(b->str, '(')))
		return;
	for (const char *p = open + 1; *p && *p != ')'; p++) {
		size_t pos = (size_t)(p - b->str), len = sizeof(item) - 1;

		if ((p[-1] != ' ' && p[-1] != '(') || strncasecmp(p, item, len) != 0 ||
		    (p[len] != ' ' && p[len] != ')'))
			continue;
		if (p[len] == ' ')
			len++; /* "(HIGHESTMODSEQ NIL UIDNEXT 4)" */
		else if (p[-1] == ' ')
			pos--, len++; /* "(UIDNEXT 4 HIGHESTMODSEQ NIL)" */
		mmap_string_erase(b, pos, len);
		return;
	}
}

/* The answer to the STATUS of folder i. A reply that does not parse leaves
 * the others unread: the session cannot go on. */
static int read_status(struct imap_store *st, int tag, void *ctx, size_t i, struct ferry_error *err)
{
	struct status_answers *c = ctx;
	const struct mailimap_response_info *info;
	bool ok = false;
	int r;

	if (!mailimap_read_line(st->imap))
		return imap_fail(st, MAILIMAP_ERROR_STREAM, err, "STATUS of %zu folders", c->sent);
	drop_nil_modseq(st->imap);
	r = imap_parse_answer(st, tag, true, &ok);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(st, r, err, "STATUS of %zu folders", c->sent);
	info = st->imap->imap_response_info;
	if (ok && info)
		status_values(info->rsp_status, &c->out[i], &c->ok[i]);
	return 0;
}

static const struct imap_handler status_answer = {.read = read_status};

/* Writes the STATUS of mbs[i] for every folder the server can take. */
static int send_status(struct imap_store *st, char *const *mbs, size_t n, struct status_answers *c,
		       struct ferry_error *err)
{
	static const char atts[] = " (UIDVALIDITY UIDNEXT MESSAGES HIGHESTMODSEQ)\r\n";

	for (size_t i = 0; i < n; i++) {
		size_t len;
		char *line;
		int tag;

		if (!mbs[i])
			continue;
		len = 7 + strlen(mbs[i]) + sizeof(atts);
		line = malloc(len);
		if (!line)
			return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		snprintf(line, len, "STATUS %s%s", mbs[i], atts);
		tag = imap_queue_send(st, line, &status_answer, c, i, "STATUS", err);
		free(line);
		if (tag < 0)
			return -1;
		c->sent++;
	}
	return 0;
}

/* All STATUS commands are written before the first reply is read: one
 * round trip for every folder. Without CONDSTORE a STATUS cannot see flag
 * changes, so nothing is known. */
int imap_status(struct store *store, const char *const *names, size_t n, struct folder_state *out,
		bool *ok, struct ferry_error *err)
{
	struct imap_store *st = (struct imap_store *)store;
	struct status_answers c = {.out = out, .ok = ok};
	char **mbs = NULL;
	int r = 0;

	for (size_t i = 0; i < n; i++)
		ok[i] = false;
	if (n == 0 || !(st->base.caps & CAP_CONDSTORE))
		return 0;
	if (imap_usable(st, err) != 0)
		return -1;
	mbs = calloc(n, sizeof(*mbs));
	if (!mbs)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct ferry_error one = {0};
		char *mb = NULL;

		/* A name this server cannot take is synced (and reported) the long way. */
		if (imap_server_name(st, names[i], "cannot check", &mb, &one) != 0) {
			if (st->broken) {
				r = ferry_error_set(err, FERRY_CAUSE_PROTOCOL, "%s", one.msg);
				goto out;
			}
			continue;
		}
		mbs[i] = imap_quoted(mb);
		free(mb);
	}
	r = send_status(st, mbs, n, &c, err);
	if (r == 0 && c.sent)
		r = imap_queue_flush(st, "STATUS", err);
	/* Read before c goes, whatever happened. */
	if (imap_queue_settle(st, r == 0 ? err : NULL) != 0)
		r = -1;
out:
	for (size_t i = 0; i < n; i++)
		free(mbs[i]);
	free(mbs);
	return r;
}
