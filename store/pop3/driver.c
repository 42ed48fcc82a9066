/* The POP3 store driver's table and the maildrop as a folder: one folder,
 * INBOX; select reads LIST and UIDL (or, without UIDL, every header with
 * TOP n 0) once per session, the maildrop being locked while it lasts;
 * fetch streams RETR; delete_msgs sends DELE, which QUIT makes final. */
#include "store/pop3/driver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/base/termsafe.h"
#include "store/identity.h"
#include "store/pop3/map.h"
#include "store/pop3/session.h"

static int pop3_open(const struct store_conf *conf, const char *secret, struct store **out,
		     struct ferry_error *err)
{
	struct pop3_store *st;

	if (pop3_session_open(conf, secret, &st, err) != 0)
		return -1;
	st->base.driver = &pop3_driver;
	*out = &st->base;
	return 0;
}

static void pop3_close(struct store *store)
{
	pop3_session_close((struct pop3_store *)store);
}

static int pop3_list_folders(struct store *store, struct store_folder **out, size_t *n,
			     struct ferry_error *err)
{
	(void)store;
	*n = 0;
	*out = calloc(1, sizeof(**out));
	if (!*out || !((*out)[0].name = strdup("INBOX"))) {
		free(*out);
		*out = NULL;
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	*n = 1;
	return 0;
}

/* A number as POP3 writes it: digits only, at most max. *s moves past it. */
static bool read_number(const char **s, uint64_t max, uint64_t *out)
{
	const char *p = *s;
	uint64_t v = 0;

	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > max)
			return false;
	}
	*s = p;
	*out = v;
	return true;
}

static int malformed(struct pop3_store *st, const char *cmd, struct ferry_error *err)
{
	char shown[TERMSAFE_ROOM(200)];
	size_t len = strlen(st->line);

	termsafe_escape(st->line, len > 200 ? 200 : len, shown, sizeof(shown));
	pop3_broken(st, true);
	return ferry_error_set(err, FERRY_CAUSE_PROTOCOL, "%s: %s: a malformed line: \"%s\"",
			       st->where, cmd, shown);
}

/* LIST: "n size" per message, numbers increasing. */
static int read_list(struct pop3_store *st, struct ferry_error *err)
{
	size_t cap = 0;
	int r;

	if (pop3_send(st, false, err, "LIST") != 0 || (r = pop3_status(st, "LIST", err)) < 0)
		return -1;
	if (r > 0)
		return pop3_refused(st, FERRY_CAUSE_PROTOCOL, "LIST", err);
	while ((r = pop3_data_line(st, "LIST", err)) > 0) {
		const char *p = st->line;
		uint64_t num, size;
		struct pop3_msg *m;

		if (!read_number(&p, UINT32_MAX, &num) || *p++ != ' ' ||
		    !read_number(&p, UINT64_MAX / 2, &size) || (*p && *p != ' ') || num == 0 ||
		    (st->nmsgs > 0 && num <= st->msgs[st->nmsgs - 1].num))
			return malformed(st, "LIST", err);
		if (st->nmsgs == cap) {
			size_t ncap = cap ? 2 * cap : 64;
			struct pop3_msg *v = realloc(st->msgs, ncap * sizeof(*v));

			if (!v)
				return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
			st->msgs = v;
			cap = ncap;
		}
		m = memset(&st->msgs[st->nmsgs++], 0, sizeof(*m));
		m->num = (uint32_t)num;
		m->size = size;
	}
	return r;
}

static struct pop3_msg *by_num(struct pop3_store *st, uint64_t num)
{
	size_t lo = 0, hi = st->nmsgs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (st->msgs[mid].num == num)
			return &st->msgs[mid];
		if (st->msgs[mid].num < num)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* RFC 1939 7: a UIDL is 1 to 70 characters from 0x21 to 0x7E. */
static bool valid_uidl(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if ((unsigned char)s[n] < 0x21 || (unsigned char)s[n] > 0x7e)
			return false;
	return n >= 1 && n <= 70;
}

/* UIDL: "n uidl" per message. 1: the server has no UIDL. */
static int read_uidl(struct pop3_store *st, struct ferry_error *err)
{
	int r;

	if (pop3_send(st, false, err, "UIDL") != 0 || (r = pop3_status(st, "UIDL", err)) < 0)
		return -1;
	if (r > 0)
		return 1;
	while ((r = pop3_data_line(st, "UIDL", err)) > 0) {
		const char *p = st->line;
		uint64_t num;
		struct pop3_msg *m;

		if (!read_number(&p, UINT32_MAX, &num) || *p++ != ' ' || !valid_uidl(p) ||
		    !(m = by_num(st, num)) || m->key)
			return malformed(st, "UIDL", err);
		if (!(m->key = strdup(p)))
			return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	if (r < 0)
		return -1;
	for (size_t i = 0; i < st->nmsgs; i++) {
		if (!st->msgs[i].key) {
			pop3_broken(st, true);
			return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
					       "%s: UIDL: no UIDL for message %u", st->where,
					       st->msgs[i].num);
		}
	}
	return 0;
}

/* TOP num 0: the header block, its identity into m (rule 6). The answer is
 * bounded as RETR's is. */
static int top_identity(struct pop3_store *st, struct pop3_msg *m, struct ferry_error *err)
{
	uint64_t cap = m->size + POP3_RETR_SLACK(m->size), got = 0;
	struct ident id;
	char cmd[32];
	bool ok = true;
	int r;

	snprintf(cmd, sizeof(cmd), "TOP %u 0", m->num);
	if (pop3_send(st, false, err, "%s", cmd) != 0 || (r = pop3_status(st, cmd, err)) < 0)
		return -1;
	if (r > 0)
		return pop3_refused(st, FERRY_CAUSE_PROTOCOL, cmd, err);
	if (ident_init(&id) != 0)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "identity: OpenSSL failed");
	for (;;) {
		const char *buf;
		size_t len;
		bool bol, eol;

		r = pop3_data_piece(st, &buf, &len, &bol, &eol, err);
		if (r <= 0)
			break;
		got += len + (eol ? 2 : 0);
		if (got > cap) {
			ident_discard(&id);
			pop3_broken(st, true);
			return ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
					       "%s: %s: the header block goes past the size LIST "
					       "gave (%llu bytes)",
					       st->where, cmd, (unsigned long long)m->size);
		}
		if (ok &&
		    (ident_feed(&id, buf, len) != 0 || (eol && ident_feed(&id, "\r\n", 2) != 0)))
			ok = false;
	}
	if (r < 0 || !ok) {
		ident_discard(&id);
		return r < 0 ? -1 : ferry_error_set(err, FERRY_CAUSE_INTERNAL, "identity failed");
	}
	{
		uint64_t dropped = ident_dropped(&id);

		if (ident_final(&id, &m->id, NULL) != 0)
			return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "identity failed");
		m->id.known = true;
		m->id_size = m->size >= dropped ? m->size - dropped : m->size;
	}
	return 0;
}

/* Without UIDL a message is known by its identity, and identical ones by
 * how many came before it (msgs are in server order). */
static int identity_keys(struct pop3_store *st, struct ferry_error *err)
{
	for (size_t i = 0; i < st->nmsgs; i++) {
		struct pop3_msg *m = &st->msgs[i];
		char hex[65];
		unsigned same = 0;

		if (top_identity(st, m, err) != 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			same += memcmp(st->msgs[j].id.hash, m->id.hash, 32) == 0 &&
				st->msgs[j].id_size == m->id_size;
		for (int k = 0; k < 32; k++)
			snprintf(hex + 2 * k, 3, "%02x", m->id.hash[k]);
		if (asprintf(&m->key, "id:%s:%llu:%u", hex, (unsigned long long)m->id_size, same) <
		    0) {
			m->key = NULL;
			return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		}
	}
	return 0;
}

static int cmp_by_uid(const void *a, const void *b, void *ctx)
{
	const struct pop3_store *st = ctx;
	uint32_t x = st->msgs[*(const size_t *)a].uid;
	uint32_t y = st->msgs[*(const size_t *)b].uid;

	return (x > y) - (x < y);
}

struct pop3_msg *pop3_find(struct pop3_store *st, uint32_t uid)
{
	size_t lo = 0, hi = st->nmsgs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct pop3_msg *m = &st->msgs[st->by_uid[mid]];

		if (m->uid == uid)
			return m->deleted ? NULL : m;
		if (m->uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The maildrop as this session sees it: read once (the server locks it
 * for the session), keyed, and given uids. */
static int scan(struct pop3_store *st, struct ferry_error *err)
{
	int r;

	if (read_list(st, err) != 0)
		return -1;
	r = read_uidl(st, err);
	if (r < 0)
		return -1;
	st->no_uidl = r > 0;
	if (st->no_uidl && identity_keys(st, err) != 0)
		return -1;
	if (!st->map &&
	    pop3_map_open(st->base.conf->pop3.map, st->base.read_only, &st->map, err) != 0)
		return -1;
	if (pop3_map_assign(st->map, st->msgs, st->nmsgs, &st->state, err) != 0) {
		if (err->cause == FERRY_CAUSE_PROTOCOL)
			pop3_broken(st, true);
		return -1;
	}
	st->by_uid = malloc((st->nmsgs + 1) * sizeof(*st->by_uid));
	if (!st->by_uid)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	for (size_t i = 0; i < st->nmsgs; i++)
		st->by_uid[i] = i;
	qsort_r(st->by_uid, st->nmsgs, sizeof(*st->by_uid), cmp_by_uid, st);
	st->state.exists = (uint32_t)st->nmsgs;
	st->state.highestmodseq = 0;
	st->state.keywords_ok = false;
	st->selected = true;
	st->base.note = st->no_uidl ? "no UIDL: messages known by their headers and size"
				    : "UIDL: messages known by their unique ids";
	return 0;
}

static int pop3_select(struct store *store, const char *name, struct folder_state *out,
		       struct ferry_error *err)
{
	struct pop3_store *st = (struct pop3_store *)store;
	uint32_t exists = 0;

	if (strcmp(name, "INBOX") != 0)
		return ferry_error_set(err, FERRY_CAUSE_REFUSED,
				       "%s: a POP3 store has one folder, INBOX, not %s",
				       store->conf->name, name);
	if (!st->selected && scan(st, err) != 0)
		return -1;
	*out = st->state;
	for (size_t i = 0; i < st->nmsgs; i++)
		exists += !st->msgs[i].deleted;
	out->exists = exists;
	return 0;
}

/* Every message still there: uid, LIST's size, no flags, keywords or
 * date (POP3 has none), the identity where select read it (no UIDL). */
static int pop3_list(struct store *store, struct msg_list *out, struct ferry_error *err)
{
	struct pop3_store *st = (struct pop3_store *)store;

	if (!st->selected)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "%s: list before select",
				       store->conf->name);
	for (size_t i = 0; i < st->nmsgs; i++) {
		const struct pop3_msg *pm = &st->msgs[st->by_uid[i]];
		struct msg m = {.uid = pm->uid, .size = pm->size};

		if (pm->deleted)
			continue;
		if (pm->id.known) {
			if (msg_set_id(&m, &pm->id) != 0)
				return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
			m.size = pm->id_size;
		}
		if (msg_list_push(out, &m) != 0) {
			free(m.ident);
			return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		}
		free(m.ident);
	}
	return 0;
}

static int pop3_identify(struct store *store, struct msg *msgs, size_t n, struct ferry_error *err)
{
	struct pop3_store *st = (struct pop3_store *)store;

	for (size_t i = 0; i < n; i++) {
		struct pop3_msg *m;

		if (msg_id_known(&msgs[i]))
			continue;
		m = pop3_find(st, msgs[i].uid);
		if (!m)
			continue; /* not here: stays unknown, as for a vanished IMAP uid */
		if (!m->id.known && top_identity(st, m, err) != 0)
			return -1;
		if (msg_set_id(&msgs[i], &m->id) != 0)
			return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		msgs[i].size = m->id_size;
	}
	return 0;
}

/* RETR, streamed: libetpan's mailpop3_retr would hold the whole message and
 * read until "." without a bound. Here each piece goes to the sink as it
 * comes, dot-unstuffed, each read bounded by the transport's timeout and the
 * whole by LIST's size plus slack. A line is not capped on its own: it is
 * never held whole (pieces of at most POP3_READ_BUF), so an endless line
 * costs no memory and ends at the total cap, while a real message with an
 * overlong line (HTML without line breaks) still arrives. */
static int retr(struct pop3_store *st, struct pop3_msg *m, const struct fetch_sink *sink,
		struct ferry_error *err)
{
	uint64_t cap = m->size + POP3_RETR_SLACK(m->size), got = 0;
	char cmd[32];
	int r;

	snprintf(cmd, sizeof(cmd), "RETR %u", m->num);
	if (pop3_send(st, false, err, "%s", cmd) != 0 || (r = pop3_status(st, cmd, err)) < 0)
		return -1;
	if (r > 0) {
		char why[TERMSAFE_ROOM(200) + 16];
		size_t len = strlen(st->line);

		memcpy(why, "-ERR ", 5);
		termsafe_escape(st->line, len > 200 ? 200 : len, why + 5, sizeof(why) - 5);
		if (sink->undelivered)
			sink->undelivered(sink->ctx, m->uid, why);
		return 0;
	}
	if (sink->begin(sink->ctx, err) != 0) {
		pop3_broken(st, false); /* the answer is still coming */
		return -1;
	}
	for (;;) {
		const char *buf;
		size_t len;
		bool bol, eol;

		r = pop3_data_piece(st, &buf, &len, &bol, &eol, err);
		if (r <= 0)
			break;
		got += len + (eol ? 2 : 0);
		if (got > cap) {
			pop3_broken(st, true);
			r = ferry_error_set(err, FERRY_CAUSE_PROTOCOL,
					    "%s: %s: the message goes past the size LIST gave "
					    "(%llu bytes)",
					    st->where, cmd, (unsigned long long)m->size);
			break;
		}
		if ((len > 0 && sink->write(sink->ctx, buf, len, err) != 0) ||
		    (eol && sink->write(sink->ctx, "\r\n", 2, err) != 0)) {
			pop3_broken(st, false);
			r = -1;
			break;
		}
	}
	if (r != 0) {
		sink->abort(sink->ctx);
		return -1;
	}
	return sink->end(sink->ctx, m->uid, err);
}

static int pop3_fetch(struct store *store, const uint32_t *uids, size_t n,
		      const struct fetch_sink *sink, struct ferry_error *err)
{
	struct pop3_store *st = (struct pop3_store *)store;

	for (size_t i = 0; i < n; i++) {
		struct pop3_msg *m = pop3_find(st, uids[i]);

		if (!m) {
			if (sink->undelivered)
				sink->undelivered(sink->ctx, uids[i], "not on the server");
			continue;
		}
		if (retr(st, m, sink, err) != 0)
			return -1;
	}
	return 0;
}

/* DELE: marked in this session, gone at QUIT (close). */
static int pop3_delete_msgs(struct store *store, const uint32_t *uids, size_t n,
			    struct ferry_error *err)
{
	struct pop3_store *st = (struct pop3_store *)store;

	for (size_t i = 0; i < n; i++) {
		struct pop3_msg *m = pop3_find(st, uids[i]);
		char cmd[32];
		int r;

		if (!m)
			continue;
		snprintf(cmd, sizeof(cmd), "DELE %u", m->num);
		if (pop3_send(st, false, err, "%s", cmd) != 0 ||
		    (r = pop3_status(st, cmd, err)) < 0)
			return -1;
		if (r > 0)
			return pop3_refused(st, FERRY_CAUSE_REFUSED, cmd, err);
		m->deleted = true;
	}
	return 0;
}

const struct store_driver pop3_driver = {
    .kind = "pop3",
    .open = pop3_open,
    .close = pop3_close,
    .list_folders = pop3_list_folders,
    .select = pop3_select,
    .list = pop3_list,
    .identify = pop3_identify,
    .fetch = pop3_fetch,
    .delete_msgs = pop3_delete_msgs,
};
