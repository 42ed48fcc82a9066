/* The in-memory store (fake_store.h). It keeps what an IMAP server keeps and
 * the way the engine sees it: per folder a UIDVALIDITY, UIDNEXT and modseq,
 * per message a uid, flags, a normalised keyword set, the bytes as they were
 * written and the modseq of its last change, and a tombstone per expunged
 * uid so that list_changed can report it. It has no prefetch and settles
 * every add at commit: the engine's defaults for those are tested with it. */
#include "tests/store/fake_store.h"

#include <stdlib.h>
#include <string.h>

#include "store/flags.h"
#include "store/identity.h"

struct fake_msg {
	uint32_t uid;
	unsigned flags;
	char *keywords; /* kw_normalize'd; NULL is none */
	char *body;	/* the bytes as written */
	size_t len;
	uint64_t size; /* CRLF size */
	int64_t date;
	uint64_t modseq; /* of its last change */
};

/* An expunged uid, and when. */
struct fake_gone {
	uint32_t uid;
	uint64_t modseq;
};

struct fake_folder {
	char *name;
	uint32_t uidvalidity, uidnext;
	uint64_t modseq;
	struct fake_msg *v; /* by uid, ascending */
	size_t n, cap;
	struct fake_gone *gone;
	size_t ngone, gcap;
};

struct fake_store {
	struct store base;
	struct fake_folder **f;
	size_t nf, cap;
	struct fake_folder *sel;
	uint32_t next_uidvalidity;
};

struct store_new_msg {
	struct fake_store *st;
	char *buf;
	size_t len, cap;
};

static struct fake_store *fake(struct store *s)
{
	return (struct fake_store *)s;
}

static int oom(struct ferry_error *err)
{
	return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
}

/* Doubles *cap until n + 1 elements of size fit in *v. */
static int grow(void *v, size_t *cap, size_t n, size_t size)
{
	void **p = v;
	size_t c = *cap ? *cap : 8;
	void *nv;

	if (n < *cap)
		return 0;
	while (c <= n)
		c *= 2;
	if (!(nv = realloc(*p, c * size)))
		return -1;
	*p = nv;
	*cap = c;
	return 0;
}

static struct fake_folder *find_folder(struct fake_store *st, const char *name)
{
	for (size_t i = 0; i < st->nf; i++)
		if (strcmp(st->f[i]->name, name) == 0)
			return st->f[i];
	return NULL;
}

static struct fake_msg *find_msg(struct fake_folder *f, uint32_t uid)
{
	size_t lo = 0, hi = f->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->v[mid].uid == uid)
			return &f->v[mid];
		if (f->v[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void msg_free(struct fake_msg *m)
{
	free(m->keywords);
	free(m->body);
}

static void folder_free(struct fake_folder *f)
{
	for (size_t i = 0; i < f->n; i++)
		msg_free(&f->v[i]);
	free(f->v);
	free(f->gone);
	free(f->name);
	free(f);
}

static int add_folder(struct fake_store *st, const char *name, struct ferry_error *err)
{
	struct fake_folder *f;

	if (grow(&st->f, &st->cap, st->nf, sizeof(*st->f)) != 0 || !(f = calloc(1, sizeof(*f))))
		return oom(err);
	if (!(f->name = strdup(name))) {
		free(f);
		return oom(err);
	}
	f->uidvalidity = st->next_uidvalidity++;
	f->uidnext = 1;
	f->modseq = 1;
	st->f[st->nf++] = f;
	return 0;
}

/* Appends a message with the next uid; takes body and keywords. */
static int put_msg(struct fake_folder *f, struct fake_msg *m, struct ferry_error *err)
{
	if (grow(&f->v, &f->cap, f->n, sizeof(*f->v)) != 0)
		return oom(err);
	m->uid = f->uidnext++;
	m->modseq = ++f->modseq;
	f->v[f->n++] = *m;
	return 0;
}

/* Expunges the message at index i, leaving a tombstone. */
static int expunge_at(struct fake_folder *f, size_t i, struct ferry_error *err)
{
	if (grow(&f->gone, &f->gcap, f->ngone, sizeof(*f->gone)) != 0)
		return oom(err);
	f->gone[f->ngone++] = (struct fake_gone){.uid = f->v[i].uid, .modseq = ++f->modseq};
	msg_free(&f->v[i]);
	memmove(&f->v[i], &f->v[i + 1], (f->n - i - 1) * sizeof(*f->v));
	f->n--;
	return 0;
}

static struct fake_folder *selected(struct fake_store *st, struct ferry_error *err)
{
	if (!st->sel)
		ferry_error_set(err, FERRY_CAUSE_REFUSED, "%s: no folder is selected",
				st->base.conf ? st->base.conf->name : "fake");
	return st->sel;
}

static void folder_state_of(const struct fake_folder *f, struct folder_state *out)
{
	*out = (struct folder_state){.uidvalidity = f->uidvalidity,
				     .uidnext = f->uidnext,
				     .highestmodseq = f->modseq,
				     .exists = (uint32_t)f->n,
				     .keywords_ok = true};
}

int fake_store_open(const struct store_conf *conf, bool minimal, struct store **out,
		    struct ferry_error *err)
{
	struct fake_store *st = calloc(1, sizeof(*st));

	*out = NULL;
	if (!st)
		return oom(err);
	st->base.driver = minimal ? &fake_minimal_driver : &fake_driver;
	st->base.conf = conf;
	st->next_uidvalidity = 1000;
	if (!(st->base.description = strdup("in memory")) || add_folder(st, "INBOX", err) != 0) {
		free(st->base.description);
		free(st);
		return oom(err);
	}
	*out = &st->base;
	return 0;
}

static int fake_open(const struct store_conf *conf, const char *secret, struct store **out,
		     struct ferry_error *err)
{
	(void)secret;
	return fake_store_open(conf, false, out, err);
}

static void fake_close(struct store *s)
{
	struct fake_store *st = fake(s);

	for (size_t i = 0; i < st->nf; i++)
		folder_free(st->f[i]);
	free(st->f);
	free(st->base.description);
	free(st);
}

static int cmp_folder(const void *a, const void *b)
{
	return strcmp(((const struct store_folder *)a)->name,
		      ((const struct store_folder *)b)->name);
}

static int fake_list_folders(struct store *s, struct store_folder **out, size_t *n,
			     struct ferry_error *err)
{
	struct fake_store *st = fake(s);
	struct store_folder *v = calloc(st->nf + 1, sizeof(*v));

	if (!v)
		return oom(err);
	for (size_t i = 0; i < st->nf; i++)
		if (!(v[i].name = strdup(st->f[i]->name))) {
			store_folders_free(v, i);
			return oom(err);
		}
	qsort(v, st->nf, sizeof(*v), cmp_folder);
	*out = v;
	*n = st->nf;
	return 0;
}

static int fake_create_folder(struct store *s, const char *name, struct ferry_error *err)
{
	struct fake_store *st = fake(s);

	if (!*name || strchr(name, '\r') || strchr(name, '\n'))
		return ferry_error_set(err, FERRY_CAUSE_REFUSED, "cannot create folder \"%s\"",
				       name);
	if (find_folder(st, name))
		return ferry_error_set(err, FERRY_CAUSE_REFUSED, "%s: already exists", name);
	return add_folder(st, name, err);
}

static int fake_delete_folder(struct store *s, const char *name, struct ferry_error *err)
{
	struct fake_store *st = fake(s);

	if (strcmp(name, "INBOX") == 0)
		return ferry_error_set(err, FERRY_CAUSE_REFUSED, "cannot delete INBOX");
	for (size_t i = 0; i < st->nf; i++) {
		if (strcmp(st->f[i]->name, name) != 0)
			continue;
		if (st->sel == st->f[i])
			st->sel = NULL;
		folder_free(st->f[i]);
		st->f[i] = st->f[--st->nf];
		return 0;
	}
	return ferry_error_set(err, FERRY_CAUSE_REFUSED, "cannot delete \"%s\": no such folder",
			       name);
}

static int fake_status(struct store *s, const char *const *names, size_t n,
		       struct folder_state *out, bool *ok, struct ferry_error *err)
{
	(void)err;
	for (size_t i = 0; i < n; i++) {
		struct fake_folder *f = find_folder(fake(s), names[i]);

		ok[i] = f != NULL;
		if (f)
			folder_state_of(f, &out[i]);
	}
	return 0;
}

static int fake_select(struct store *s, const char *name, struct folder_state *out,
		       struct ferry_error *err)
{
	struct fake_store *st = fake(s);
	struct fake_folder *f = find_folder(st, name);

	st->sel = NULL;
	if (!f)
		return ferry_error_set(err, FERRY_CAUSE_REFUSED,
				       "cannot select \"%s\": no such folder", name);
	st->sel = f;
	folder_state_of(f, out);
	return 0;
}

static int push_msg(struct msg_list *out, const struct fake_msg *m, struct ferry_error *err)
{
	struct msg l = {.uid = m->uid,
			.flags = m->flags,
			.keywords = m->keywords,
			.size = m->size,
			.date = m->date};

	return msg_list_push(out, &l) == 0 ? 0 : oom(err);
}

static int fake_list(struct store *s, struct msg_list *out, struct ferry_error *err)
{
	struct fake_folder *f = selected(fake(s), err);

	if (!f)
		return -1;
	for (size_t i = 0; i < f->n; i++)
		if (push_msg(out, &f->v[i], err) != 0)
			return -1;
	return 0;
}

static int cmp_uid(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* The uids expunged after since, as ranges lo, hi, lo, hi... */
static int vanished_since(const struct fake_folder *f, uint64_t since, uint32_t **out,
			  size_t *nranges, struct ferry_error *err)
{
	uint32_t *uids = malloc((f->ngone + 1) * sizeof(*uids));
	uint32_t *r = malloc((2 * f->ngone + 2) * sizeof(*r));
	size_t n = 0, k = 0;

	if (!uids || !r) {
		free(uids);
		free(r);
		return oom(err);
	}
	for (size_t i = 0; i < f->ngone; i++)
		if (f->gone[i].modseq > since)
			uids[n++] = f->gone[i].uid;
	qsort(uids, n, sizeof(*uids), cmp_uid);
	for (size_t i = 0; i < n; i++) {
		if (k && r[k - 1] + 1 == uids[i]) {
			r[k - 1] = uids[i];
			continue;
		}
		r[k++] = uids[i];
		r[k++] = uids[i];
	}
	free(uids);
	*out = r;
	*nranges = k / 2;
	return 0;
}

static int fake_list_changed(struct store *s, uint64_t since, struct msg_list *changed,
			     uint32_t **vanished, size_t *nranges, struct ferry_error *err)
{
	struct fake_folder *f = selected(fake(s), err);

	*vanished = NULL;
	*nranges = 0;
	if (!f)
		return -1;
	if (since > f->modseq)
		return 2; /* never was there: this is an older copy of that store */
	for (size_t i = 0; i < f->n; i++)
		if (f->v[i].modseq > since && push_msg(changed, &f->v[i], err) != 0)
			return -1;
	return vanished_since(f, since, vanished, nranges, err);
}

/* Every change goes through this handle: what the folder holds now is the
 * caller's own doing. */
static void fake_own_state(struct store *s, const char *name, const struct folder_state *seen,
			   struct folder_state *out)
{
	struct fake_folder *f = find_folder(fake(s), name);

	*out = *seen;
	if (f && f->uidvalidity == seen->uidvalidity)
		folder_state_of(f, out);
}

static int fake_identify(struct store *s, struct msg *msgs, size_t n, struct ferry_error *err)
{
	struct fake_folder *f = selected(fake(s), err);

	if (!f)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct fake_msg *m = find_msg(f, msgs[i].uid);
		struct ident id;
		uint64_t size;

		struct msg_id got;

		if (!m || msg_id_known(&msgs[i]))
			continue;
		if (ident_init(&id) != 0)
			return oom(err);
		if (ident_feed(&id, m->body, m->len) != 0) {
			ident_discard(&id);
			return oom(err);
		}
		if (ident_final(&id, &got, &size) != 0 || msg_set_id(&msgs[i], &got) != 0)
			return oom(err);
		msgs[i].size = size;
	}
	return 0;
}

/* A uid not in the folder is skipped, as an expunged one would be. */
static int fake_fetch(struct store *s, const uint32_t *uids, size_t n,
		      const struct fetch_sink *sink, struct ferry_error *err)
{
	struct fake_folder *f = selected(fake(s), err);

	if (!f)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct fake_msg *m = find_msg(f, uids[i]);

		if (!m)
			continue;
		if (sink->begin(sink->ctx, err) != 0)
			return -1;
		if (sink->write(sink->ctx, m->body, m->len, err) != 0) {
			sink->abort(sink->ctx);
			return -1;
		}
		if (sink->end(sink->ctx, m->uid, err) != 0)
			return -1;
	}
	return 0;
}

static int fake_add_begin(struct store *s, struct store_new_msg **out, struct ferry_error *err)
{
	struct store_new_msg *m;

	*out = NULL;
	if (!selected(fake(s), err))
		return -1;
	if (!(m = calloc(1, sizeof(*m))))
		return oom(err);
	m->st = fake(s);
	*out = m;
	return 0;
}

static int fake_add_write(struct store_new_msg *m, const char *buf, size_t len,
			  struct ferry_error *err)
{
	if (m->len + len + 1 > m->cap) {
		size_t cap = m->cap ? m->cap : 256;
		char *nb;

		while (cap < m->len + len + 1)
			cap *= 2;
		if (!(nb = realloc(m->buf, cap)))
			return oom(err);
		m->buf = nb;
		m->cap = cap;
	}
	memcpy(m->buf + m->len, buf, len);
	m->len += len;
	return 0;
}

static void fake_add_abort(struct store_new_msg *m)
{
	if (!m)
		return;
	free(m->buf);
	free(m);
}

/* The CRLF size of the bytes: every LF not preceded by CR counts two. */
static uint64_t crlf_size(const char *buf, size_t len)
{
	uint64_t size = len;

	for (size_t i = 0; i < len; i++)
		size += buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r');
	return size;
}

static int fake_add_commit(struct store_new_msg *m, unsigned flags, const char *keywords,
			   int64_t date, uint32_t *uid, struct ferry_error *err)
{
	struct fake_folder *f = selected(m->st, err);
	struct fake_msg fm = {.flags = flags & MF_ALL, .date = date};
	bool no_memory = false;
	int r = -1;

	*uid = 0;
	if (!f)
		goto out;
	fm.keywords = kw_normalize(keywords, &no_memory);
	if (no_memory) {
		r = oom(err);
		goto out;
	}
	fm.body = m->buf ? m->buf : strdup("");
	if (!fm.body) {
		free(fm.keywords);
		r = oom(err);
		goto out;
	}
	m->buf = NULL;
	fm.len = m->len;
	fm.size = crlf_size(fm.body, fm.len);
	if ((r = put_msg(f, &fm, err)) != 0) {
		msg_free(&fm);
		goto out;
	}
	*uid = fm.uid;
out:
	fake_add_abort(m);
	return r;
}

/* Adds and removes on one message; bumps its modseq only on a change. */
static int change_flags(struct fake_folder *f, struct fake_msg *m, unsigned add, unsigned remove,
			const char *add_keywords, const char *remove_keywords,
			struct ferry_error *err)
{
	bool no_memory = false;
	char *plus = kw_union(m->keywords, add_keywords, &no_memory);
	char *kw = kw_minus(plus, remove_keywords, &no_memory);
	unsigned flags = ((m->flags | add) & ~remove) & MF_ALL;

	free(plus);
	if (no_memory) {
		free(kw);
		return oom(err);
	}
	if (flags == m->flags && kw_equal(kw, m->keywords)) {
		free(kw);
		return 0;
	}
	free(m->keywords);
	m->keywords = kw;
	m->flags = flags;
	m->modseq = ++f->modseq;
	return 0;
}

static int fake_set_flags(struct store *s, const uint32_t *uids, size_t n, unsigned add,
			  unsigned remove, const char *add_keywords, const char *remove_keywords,
			  struct ferry_error *err)
{
	struct fake_folder *f = selected(fake(s), err);

	if (!f)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct fake_msg *m = find_msg(f, uids[i]);

		if (m && change_flags(f, m, add, remove, add_keywords, remove_keywords, err) != 0)
			return -1;
	}
	return 0;
}

static int fake_delete_msgs(struct store *s, const uint32_t *uids, size_t n,
			    struct ferry_error *err)
{
	struct fake_folder *f = selected(fake(s), err);

	if (!f)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct fake_msg *m = find_msg(f, uids[i]);

		if (m && expunge_at(f, (size_t)(m - f->v), err) != 0)
			return -1;
	}
	return 0;
}

/* A copy of m for another folder: the same bytes, flags and keywords. */
static int copy_msg(const struct fake_msg *m, struct fake_msg *out, struct ferry_error *err)
{
	*out = *m;
	out->keywords = m->keywords ? strdup(m->keywords) : NULL;
	out->body = malloc(m->len + 1);
	if ((m->keywords && !out->keywords) || !out->body) {
		msg_free(out);
		return oom(err);
	}
	memcpy(out->body, m->body, m->len);
	return 0;
}

static int fake_move_msgs(struct store *s, const uint32_t *uids, size_t n, const char *to,
			  uint32_t *new_uids, struct ferry_error *err)
{
	struct fake_store *st = fake(s);
	struct fake_folder *f = selected(st, err), *t = find_folder(st, to);

	if (!f)
		return -1;
	if (!t)
		return ferry_error_set(err, FERRY_CAUSE_REFUSED,
				       "cannot move to \"%s\": no such folder", to);
	for (size_t i = 0; i < n; i++) {
		struct fake_msg *m = find_msg(f, uids[i]), copy;

		new_uids[i] = 0;
		if (!m)
			continue;
		if (copy_msg(m, &copy, err) != 0)
			return -1;
		if (put_msg(t, &copy, err) != 0) {
			msg_free(&copy);
			return -1;
		}
		new_uids[i] = copy.uid;
		/* find again: t may be f, whose array put_msg may have moved */
		m = find_msg(f, uids[i]);
		if (expunge_at(f, (size_t)(m - f->v), err) != 0)
			return -1;
	}
	return 0;
}

const struct store_driver fake_driver = {
    .kind = "fake",
    .open = fake_open,
    .close = fake_close,
    .list_folders = fake_list_folders,
    .create_folder = fake_create_folder,
    .delete_folder = fake_delete_folder,
    .status = fake_status,
    .select = fake_select,
    .list = fake_list,
    .list_changed = fake_list_changed,
    .own_state = fake_own_state,
    .identify = fake_identify,
    .fetch = fake_fetch,
    .add_begin = fake_add_begin,
    .add_write = fake_add_write,
    .add_commit = fake_add_commit,
    .add_abort = fake_add_abort,
    .set_flags = fake_set_flags,
    .delete_msgs = fake_delete_msgs,
    .move_msgs = fake_move_msgs,
};

const struct store_driver fake_minimal_driver = {
    .kind = "fake",
    .open = fake_open,
    .close = fake_close,
    .list_folders = fake_list_folders,
    .create_folder = fake_create_folder,
    .delete_folder = fake_delete_folder,
    .select = fake_select,
    .list = fake_list,
    .identify = fake_identify,
    .fetch = fake_fetch,
    .add_begin = fake_add_begin,
    .add_write = fake_add_write,
    .add_commit = fake_add_commit,
    .add_abort = fake_add_abort,
    .set_flags = fake_set_flags,
    .delete_msgs = fake_delete_msgs,
};
