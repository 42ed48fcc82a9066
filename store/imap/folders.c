/* IMAP folders: the personal namespace, LIST, CREATE, DELETE, SELECT; and the
 * error and state helpers the message operations share. */
#include "store/imap/session.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/imap/utf7.h"
#include "store/log.h"

int imap_usable(struct imap_store *st, struct ferry_error *err)
{
	/* Prefetched answers and APPENDs still in flight are read first: their
	 * tagged replies must not be taken for the next command's. */
	if (!st->broken && imap_prefetch_settle(st, err) != 0)
		return -1;
	if (!st->broken && imap_appends_settle(st, err) != 0)
		return -1;
	if (!st->broken)
		return 0;
	return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
			       "the IMAP session is no longer usable after an earlier error (%s); "
			       "reconnect",
			       st->broken_why);
}

int imap_need_selected(struct imap_store *st, const char *what, struct ferry_error *err)
{
	if (imap_usable(st, err) != 0)
		return -1;
	if (!st->selected)
		return ferry_error_set(err, FERRY_CAUSE_PROTOCOL, "%s: no folder is selected",
				       what);
	if (st->sel_virtual)
		return imap_select_for_real(st, err);
	return 0;
}

void imap_unselect(struct imap_store *st)
{
	free(st->selected);
	free(st->selected_imap);
	st->selected = NULL;
	st->selected_imap = NULL;
	st->uidvalidity = st->uidnext = st->exists = 0;
	st->exists_known = false;
	st->sel_virtual = false;
}

/* Errors libetpan detects before or without a server response: the text in
 * imap_response is then an older command's. */
static bool has_server_text(int r)
{
	return r != MAILIMAP_ERROR_BAD_STATE && r != MAILIMAP_ERROR_INVAL &&
	       r != MAILIMAP_ERROR_MEMORY && r != MAILIMAP_ERROR_STREAM &&
	       r != MAILIMAP_ERROR_PARSE && r != MAILIMAP_ERROR_FATAL;
}

int imap_fail(struct imap_store *st, int r, struct ferry_error *err, const char *fmt, ...)
{
	char context[512], text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(context, sizeof(context), fmt, ap);
	va_end(ap);
	if (imap_error_is_fatal(r)) {
		/* libetpan never marks a session dead and keeps imap_state as it
		 * was: from here on ferry refuses to send on it. */
		st->broken = true;
		st->base.broken = true;
		snprintf(st->broken_why, sizeof(st->broken_why), "%s", imap_error_text(r));
		imap_unselect(st);
		if (r == MAILIMAP_ERROR_PROTOCOL)
			return ferry_error_set(err, imap_cause(r),
					       "%s: %s: %s; the session is no longer usable",
					       context, imap_error_text(r),
					       imap_response_text(st->imap, text, sizeof(text)));
		return ferry_error_set(err, imap_cause(r),
				       "%s: %s; the session is no longer usable", context,
				       imap_error_text(r));
	}
	if (!has_server_text(r))
		return ferry_error_set(err, imap_cause(r), "%s: %s", context, imap_error_text(r));
	return ferry_error_set(err, imap_cause(r), "%s: %s: %s", context, imap_error_text(r),
			       imap_response_text(st->imap, text, sizeof(text)));
}

const char *imap_sanitize(const char *s, char *buf, size_t len)
{
	size_t o = 0;

	for (; s && *s && o + 5 < len; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c < 0x7f && c != '\\')
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
	}
	if (s && *s && o + 4 < len)
		o += (size_t)snprintf(buf + o, len - o, "...");
	buf[o] = '\0';
	return buf;
}

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
static bool in_foreign_namespace(const struct imap_store *st, const char *name)
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
static int take_namespace(struct imap_store *st, const struct mailimap_namespace_data *ns,
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
static int settle_namespace(struct imap_store *st, char delimiter, bool found,
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

		r = mailimap_namespace(st->imap, &ns);
		if (r != MAILIMAP_NO_ERROR && imap_error_is_fatal(r))
			return imap_fail(st, r, err, "NAMESPACE");
		r = take_namespace(st, r == MAILIMAP_NO_ERROR ? ns : NULL, &delimiter, &found, err);
		if (ns)
			mailimap_namespace_data_free(ns);
		if (r != 0)
			return -1;
	}
	return settle_namespace(st, delimiter, found, err);
}

int imap_send_line(struct imap_store *st, const char *line)
{
	size_t len = strlen(line);

	if (mailimap_send_current_tag(st->imap) != MAILIMAP_NO_ERROR ||
	    mailstream_write(st->imap->imap_stream, line, len) != (ssize_t)len)
		return -1;
	return st->imap->imap_tag;
}

int imap_parse_answer(struct imap_store *st, int tag, bool *ok)
{
	struct mailimap_response *resp = NULL;
	int last = st->imap->imap_tag, r;

	st->imap->imap_tag = tag;
	if (!mailimap_read_line(st->imap))
		r = MAILIMAP_ERROR_STREAM;
	else
		r = mailimap_parse_response(st->imap, &resp);
	st->imap->imap_tag = last;
	if (r != MAILIMAP_NO_ERROR)
		return r;
	*ok = resp->rsp_resp_done->rsp_data.rsp_tagged->rsp_cond_state->rsp_type ==
	      MAILIMAP_RESP_COND_STATE_OK;
	mailimap_response_free(resp);
	return MAILIMAP_NO_ERROR;
}

/* LIST "" "*" into *list. The first time, on a server with NAMESPACE, both
 * go out in one write and cost one round trip; the LIST does not depend on
 * the answer, which only tells which listed names are the account's own. */
static int list_all(struct imap_store *st, clist **list, struct ferry_error *err)
{
	static const char ns_cmd[] = "NAMESPACE\r\n", list_cmd[] = "LIST \"\" \"*\"\r\n";
	const struct mailimap_namespace_data *ns = NULL;
	char delimiter = 0;
	bool found = false, ok = false;
	int ns_tag, list_tag, r;

	*list = NULL;
	if (st->ns_known || !(st->base.caps & CAP_NAMESPACE)) {
		if (learn_namespace(st, err) != 0)
			return -1;
		r = mailimap_list(st->imap, "", "*", list);
		return r == MAILIMAP_NO_ERROR ? 0 : imap_fail(st, r, err, "LIST \"\" \"*\"");
	}
	ns_tag = imap_send_line(st, ns_cmd);
	list_tag = ns_tag < 0 ? -1 : imap_send_line(st, list_cmd);
	if (list_tag < 0 || mailstream_flush(st->imap->imap_stream) != 0)
		return imap_fail(st, MAILIMAP_ERROR_STREAM, err, "sending NAMESPACE and LIST");
	/* A BAD or a reply that does not parse leaves the LIST answer unread:
	 * the session cannot go on (imap_fail marks it broken). */
	r = imap_parse_answer(st, ns_tag, &ok);
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
	if (take_namespace(st, ns, &delimiter, &found, err) != 0)
		return -1;
	r = imap_parse_answer(st, list_tag, &ok);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(st, r, err, "LIST \"\" \"*\"");
	if (!ok)
		return imap_fail(st, MAILIMAP_ERROR_LIST, err, "LIST \"\" \"*\"");
	*list = st->imap->imap_response_info->rsp_mailbox_list;
	st->imap->imap_response_info->rsp_mailbox_list = NULL;
	if (!*list)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "listing folders: out of memory");
	if (settle_namespace(st, delimiter, found, err) != 0) {
		mailimap_list_result_free(*list);
		*list = NULL;
		return -1;
	}
	return 0;
}

/* The server's spelling of a canonical name, in *out (caller frees). */
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
	if (in_foreign_namespace(st, *out)) {
		free(*out);
		*out = NULL;
		return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
				       "%s folder \"%s\": the name belongs to another user's or a "
				       "shared namespace on this server",
				       what, imap_sanitize(name, shown, sizeof(shown)));
	}
	return 0;
}

/* Special-use attributes (RFC 6154), which libetpan hands over as
 * extension flags without the backslash. */
static const struct {
	const char *name;
	unsigned attr;
} attr_table[] = {
    {"Noselect", FA_NOSELECT}, {"NonExistent", FA_NOSELECT}, {"Sent", FA_SENT},
    {"Trash", FA_TRASH},       {"Drafts", FA_DRAFTS},	     {"Junk", FA_JUNK},
    {"Archive", FA_ARCHIVE},
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

	if (in_foreign_namespace(st, mb->mb_name))
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

int imap_create_folder(struct store *store, const char *name, struct ferry_error *err)
{
	struct imap_store *st = (struct imap_store *)store;
	char *mb = NULL;
	int r;

	if (imap_server_name(st, name, "cannot create", &mb, err) != 0)
		return -1;
	r = mailimap_create(st->imap, mb);
	free(mb);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(st, r, err, "cannot create folder \"%s\"", name);
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

/* \* in PERMANENTFLAGS: new keywords are kept. Without PERMANENTFLAGS at all
 * nothing says they are, so they count as not storable (rule 9). */
bool imap_keywords_storable(const struct mailimap_selection_info *info)
{
	if (!info->sel_perm_flags || info->sel_perm == MAILIMAP_MAILBOX_READONLY)
		return false;
	for (clistiter *it = clist_begin(info->sel_perm_flags); it; it = clist_next(it)) {
		const struct mailimap_flag_perm *f = clist_content(it);

		if (f->fl_type == MAILIMAP_FLAG_PERM_ALL)
			return true;
	}
	return false;
}

/* QRESYNC makes UID FETCH ... (CHANGEDSINCE m VANISHED) report expunges;
 * it has to be enabled before the first SELECT. A refusal only costs full
 * listings. */
static int enable_qresync(struct imap_store *st, struct ferry_error *err)
{
	struct mailimap_capability_data *want = mailimap_capability_data_new(clist_new());
	struct mailimap_capability_data *got = NULL;
	struct mailimap_capability *cap = NULL;
	char *name = strdup("QRESYNC");
	int r;

	st->enable_sent = true;
	if (!want || !want->cap_list || !name ||
	    !(cap = mailimap_capability_new(MAILIMAP_CAPABILITY_NAME, NULL, name))) {
		free(name);
		if (want)
			mailimap_capability_data_free(want);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	if (clist_append(want->cap_list, cap) != 0) {
		mailimap_capability_free(cap);
		mailimap_capability_data_free(want);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	r = mailimap_enable(st->imap, want, &got);
	mailimap_capability_data_free(want);
	if (r != MAILIMAP_NO_ERROR) {
		if (imap_error_is_fatal(r))
			return imap_fail(st, r, err, "ENABLE QRESYNC");
		return 0;
	}
	for (clistiter *it = got && got->cap_list ? clist_begin(got->cap_list) : NULL; it;
	     it = clist_next(it)) {
		const struct mailimap_capability *c = clist_content(it);

		if (c->cap_type == MAILIMAP_CAPABILITY_NAME && c->cap_data.cap_name &&
		    strcasecmp(c->cap_data.cap_name, "QRESYNC") == 0)
			st->qresync = true;
	}
	if (got)
		mailimap_capability_data_free(got);
	return 0;
}

static int select_now(struct imap_store *st, const char *name, struct folder_state *out,
		      struct ferry_error *err);

int imap_select(struct store *store, const char *name, struct folder_state *out,
		struct ferry_error *err)
{
	struct imap_store *st = (struct imap_store *)store;

	if (imap_prefetched_select(st, name, out, err) == 0)
		return 0;
	return select_now(st, name, out, err);
}

int imap_select_for_real(struct imap_store *st, struct ferry_error *err)
{
	struct folder_state fs;
	uint32_t uidvalidity = st->uidvalidity;
	char *name = strdup(st->selected);
	int r;

	if (!name)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	r = select_now(st, name, &fs, err);
	if (r == 0 && fs.uidvalidity != uidvalidity)
		r = ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
				    "folder \"%s\": UIDVALIDITY changed during the run; the next "
				    "run re-pairs",
				    name);
	free(name);
	return r;
}

/* SELECT (CONDSTORE where offered), then what it said. */
static int select_now(struct imap_store *st, const char *name, struct folder_state *out,
		      struct ferry_error *err)
{
	const struct mailimap_selection_info *info;
	uint64_t modseq = 0;
	char *mb = NULL;
	int r;

	if (imap_server_name(st, name, "cannot select", &mb, err) != 0)
		return -1;
	/* A SELECT that fails leaves no folder selected on the server either. */
	imap_unselect(st);
	if ((st->base.caps & CAP_QRESYNC) && (st->base.caps & CAP_ENABLE) && !st->enable_sent &&
	    enable_qresync(st, err) != 0) {
		free(mb);
		return -1;
	}
	if (st->base.caps & CAP_CONDSTORE)
		r = mailimap_select_condstore(st->imap, mb, &modseq);
	else
		r = mailimap_select(st->imap, mb);
	if (r != MAILIMAP_NO_ERROR) {
		free(mb);
		return imap_fail(st, r, err, "cannot select folder \"%s\"", name);
	}
	info = st->imap->imap_selection_info;
	if (!info || info->sel_uidvalidity == 0) {
		free(mb);
		return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
				       "folder \"%s\": the server sent no UIDVALIDITY; its uids "
				       "cannot be trusted from one session to the next",
				       name);
	}
	st->selected = strdup(name);
	if (!st->selected) {
		free(mb);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	st->selected_imap = mb;
	st->uidvalidity = info->sel_uidvalidity;
	st->uidnext = info->sel_uidnext; /* 0: the server did not say */
	st->exists = info->sel_exists;
	st->exists_known = info->sel_has_exists;
	*out = (struct folder_state){
	    .uidvalidity = info->sel_uidvalidity,
	    .uidnext = info->sel_uidnext,
	    .highestmodseq = modseq,
	    .exists = info->sel_exists,
	    .keywords_ok = imap_keywords_storable(info),
	};
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

/* All STATUS commands are written before the first reply is read: one
 * round trip for every folder (libetpan.md, "Pipelining works": each
 * reply is parsed with imap_tag set to its command's tag). Without
 * CONDSTORE a STATUS cannot see flag changes, so nothing is known. */
int imap_status(struct store *store, const char *const *names, size_t n, struct folder_state *out,
		bool *ok, struct ferry_error *err)
{
	struct imap_store *st = (struct imap_store *)store;
	static const char atts[] = " (UIDVALIDITY UIDNEXT MESSAGES HIGHESTMODSEQ)\r\n";
	char **mbs = NULL;
	int *tags = NULL, last_tag, r = 0;
	size_t sent = 0;

	for (size_t i = 0; i < n; i++)
		ok[i] = false;
	if (n == 0 || !(st->base.caps & CAP_CONDSTORE))
		return 0;
	if (imap_usable(st, err) != 0)
		return -1;
	mbs = calloc(n, sizeof(*mbs));
	tags = calloc(n, sizeof(*tags));
	if (!mbs || !tags) {
		free(mbs);
		free(tags);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
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
	for (size_t i = 0; i < n; i++) {
		if (!mbs[i])
			continue;
		r = mailimap_send_current_tag(st->imap);
		if (r == MAILIMAP_NO_ERROR &&
		    (mailstream_write(st->imap->imap_stream, "STATUS ", 7) != 7 ||
		     mailstream_write(st->imap->imap_stream, mbs[i], strlen(mbs[i])) !=
			 (ssize_t)strlen(mbs[i]) ||
		     mailstream_write(st->imap->imap_stream, atts, sizeof(atts) - 1) !=
			 (ssize_t)(sizeof(atts) - 1)))
			r = MAILIMAP_ERROR_STREAM;
		if (r != MAILIMAP_NO_ERROR) {
			r = imap_fail(st, r, err, "sending STATUS");
			goto out;
		}
		tags[i] = st->imap->imap_tag;
		sent++;
	}
	if (sent == 0)
		goto out;
	if (mailstream_flush(st->imap->imap_stream) != 0) {
		r = imap_fail(st, MAILIMAP_ERROR_STREAM, err, "sending STATUS");
		goto out;
	}
	last_tag = st->imap->imap_tag;
	for (size_t i = 0; i < n; i++) {
		struct mailimap_response *resp = NULL;
		const struct mailimap_response_info *info;
		int cond;

		if (!mbs[i])
			continue;
		st->imap->imap_tag = tags[i];
		if (!mailimap_read_line(st->imap))
			r = MAILIMAP_ERROR_STREAM;
		else
			r = mailimap_parse_response(st->imap, &resp);
		if (r != MAILIMAP_NO_ERROR) {
			/* A reply that does not parse (or a BAD) leaves the others
			 * unread: the session cannot go on. */
			st->imap->imap_tag = last_tag;
			r = imap_fail(st, r == MAILIMAP_NO_ERROR ? MAILIMAP_ERROR_PROTOCOL : r, err,
				      "STATUS of %zu folders", sent);
			goto out;
		}
		cond = resp->rsp_resp_done && resp->rsp_resp_done->rsp_data.rsp_tagged &&
			       resp->rsp_resp_done->rsp_data.rsp_tagged->rsp_cond_state
			   ? resp->rsp_resp_done->rsp_data.rsp_tagged->rsp_cond_state->rsp_type
			   : MAILIMAP_RESP_COND_STATE_BAD;
		info = st->imap->imap_response_info;
		if (cond == MAILIMAP_RESP_COND_STATE_OK && info)
			status_values(info->rsp_status, &out[i], &ok[i]);
		mailimap_response_free(resp);
	}
	st->imap->imap_tag = last_tag;
	r = 0;
out:
	for (size_t i = 0; i < n; i++)
		free(mbs[i]);
	free(mbs);
	free(tags);
	return r;
}
