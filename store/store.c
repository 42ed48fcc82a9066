#include "store/store.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "store/imap/driver.h"
#include "store/maildir/maildir.h"
#include "store/pop3/driver.h"

static const struct store_driver *driver_for(const struct store_conf *conf)
{
	switch (conf->kind) {
	case STORE_IMAP:
		return &imap_driver;
	case STORE_POP3:
		return &pop3_driver;
	case STORE_MAILDIR:
		break;
	}
	return &maildir_driver;
}

int store_open(const struct store_conf *conf, const char *secret, struct store **out,
	       struct ferry_error *err)
{
	return driver_for(conf)->open(conf, secret, out, err);
}

void store_close(struct store *store)
{
	if (store)
		store->driver->close(store);
}

void store_folders_free(struct store_folder *folders, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(folders[i].name);
	free(folders);
}

const char *store_kind(const struct store *s)
{
	return s->driver->kind;
}

/* The error of an operation the driver does not have. */
static int unsupported(const struct store *s, const char *what, struct ferry_error *err)
{
	return ferry_error_set(err, FERRY_CAUSE_REFUSED, "%s: a %s store cannot %s",
			       s->conf ? s->conf->name : s->driver->kind, s->driver->kind, what);
}

int store_list_folders(struct store *s, struct store_folder **out, size_t *n,
		       struct ferry_error *err)
{
	return s->driver->list_folders(s, out, n, err);
}

/* A store set read-only (--dry-run) refuses every change: reaching one is
 * the engine's bug, and a loud one rather than a silent write. */
static int refused_read_only(struct store *s, const char *what, struct ferry_error *err)
{
	return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "%s: asked to %s during a dry run",
			       s->conf->name, what);
}

const char *store_folder_name(const struct store *s, const char *name)
{
	for (size_t i = 0; name && i < s->naliases; i++)
		if (strcmp(s->aliases[i].as, name) == 0)
			return s->aliases[i].name;
	return name;
}

/* names[0..n) as the store spells them: names itself, or *copy (freed by
 * the caller) when an alias applies; NULL when out of memory. */
static const char *const *store_names(const struct store *s, const char *const *names, size_t n,
				      const char ***copy)
{
	*copy = NULL;
	if (s->naliases == 0)
		return names;
	*copy = calloc(n + 1, sizeof(**copy));
	if (!*copy)
		return NULL;
	for (size_t i = 0; i < n; i++)
		(*copy)[i] = store_folder_name(s, names[i]);
	return *copy;
}

void store_set_read_only(struct store *s)
{
	s->read_only = true;
}

int store_create_folder(struct store *s, const char *name, struct ferry_error *err)
{
	if (s->read_only)
		return refused_read_only(s, "create a folder", err);
	if (!s->driver->create_folder)
		return unsupported(s, "create folders", err);
	return s->driver->create_folder(s, store_folder_name(s, name), err);
}

int store_delete_folder(struct store *s, const char *name, struct ferry_error *err)
{
	if (s->read_only)
		return refused_read_only(s, "delete a folder", err);
	if (!s->driver->delete_folder)
		return unsupported(s, "delete folders", err);
	return s->driver->delete_folder(s, store_folder_name(s, name), err);
}

int store_rename_folder(struct store *s, const char *from, const char *to, struct ferry_error *err)
{
	if (s->read_only)
		return refused_read_only(s, "rename a folder", err);
	if (!s->driver->rename_folder)
		return unsupported(s, "rename folders", err);
	return s->driver->rename_folder(s, store_folder_name(s, from), store_folder_name(s, to),
					err);
}

int store_subscribed(struct store *s, struct store_folder **out, size_t *n, struct ferry_error *err)
{
	*out = NULL;
	*n = 0;
	if (!s->driver->subscribed)
		return 1;
	return s->driver->subscribed(s, out, n, err);
}

int store_status(struct store *s, const char *const *names, size_t n, struct folder_state *out,
		 bool *ok, struct ferry_error *err)
{
	const char *const *own;
	const char **copy;
	int r;

	if (!s->driver->status) {
		for (size_t i = 0; i < n; i++)
			ok[i] = false;
		return 0;
	}
	own = store_names(s, names, n, &copy);
	if (!own)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	r = s->driver->status(s, own, n, out, ok, err);
	free(copy);
	return r;
}

int store_select(struct store *s, const char *name, struct folder_state *out,
		 struct ferry_error *err)
{
	return s->driver->select(s, store_folder_name(s, name), out, err);
}

int store_list(struct store *s, struct msg_list *out, struct ferry_error *err)
{
	return s->driver->list(s, out, err);
}

int store_list_changed(struct store *s, uint64_t since, struct msg_list *changed,
		       uint32_t **vanished, size_t *nranges, struct ferry_error *err)
{
	if (!s->driver->list_changed) {
		*vanished = NULL;
		*nranges = 0;
		return 1;
	}
	return s->driver->list_changed(s, since, changed, vanished, nranges, err);
}

void store_own_state(struct store *s, const char *name, const struct folder_state *seen,
		     struct folder_state *out)
{
	if (!s->driver->own_state) {
		*out = *seen;
		return;
	}
	s->driver->own_state(s, store_folder_name(s, name), seen, out);
}

bool store_can_prefetch(const struct store *s)
{
	return s->driver->prefetch != NULL;
}

int store_prefetch(struct store *s, const char *const *names, const uint64_t *since, size_t n,
		   struct ferry_error *err)
{
	const char *const *own;
	const char **copy;
	int r;

	if (!s->driver->prefetch)
		return 0;
	own = store_names(s, names, n, &copy);
	if (!own)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	r = s->driver->prefetch(s, own, since, n, err);
	free(copy);
	return r;
}

int store_identify(struct store *s, struct msg *msgs, size_t n, struct ferry_error *err)
{
	return s->driver->identify(s, msgs, n, err);
}

int store_fetch(struct store *s, const uint32_t *uids, size_t n, const struct fetch_sink *sink,
		struct ferry_error *err)
{
	return s->driver->fetch(s, uids, n, sink, err);
}

int store_fetch_headers(struct store *s, const uint32_t *uids, size_t n,
			const struct fetch_sink *sink, struct ferry_error *err)
{
	if (!s->driver->fetch_headers)
		return unsupported(s, "read headers alone", err);
	return s->driver->fetch_headers(s, uids, n, sink, err);
}

int store_replace_begin(struct store *s, uint32_t uid, struct store_new_msg **out,
			struct ferry_error *err)
{
	if (s->read_only)
		return refused_read_only(s, "replace a message", err);
	if (!s->driver->replace_begin)
		return unsupported(s, "replace a message in place", err);
	return s->driver->replace_begin(s, uid, out, err);
}

int store_replace_commit(struct store *s, struct store_new_msg *m, struct msg_id *id,
			 uint64_t *size, struct ferry_error *err)
{
	return s->driver->replace_commit(m, id, size, err);
}

int store_add_begin(struct store *s, struct store_new_msg **out, struct ferry_error *err)
{
	if (s->read_only)
		return refused_read_only(s, "add a message", err);
	if (!s->driver->add_begin)
		return unsupported(s, "take new messages", err);
	return s->driver->add_begin(s, out, err);
}

int store_add_write(struct store *s, struct store_new_msg *m, const char *buf, size_t len,
		    struct ferry_error *err)
{
	return s->driver->add_write(m, buf, len, err);
}

int store_add_commit(struct store *s, struct store_new_msg *m, unsigned flags, const char *keywords,
		     int64_t date, uint32_t *uid, struct ferry_error *err)
{
	return s->driver->add_commit(m, flags, keywords, date, uid, err);
}

void store_add_abort(struct store *s, struct store_new_msg *m)
{
	s->driver->add_abort(m);
}

bool store_add_deferred(const struct store *s)
{
	return s->driver->add_flush != NULL;
}

int store_add_flush(struct store *s,
		    void (*done)(void *ctx, size_t seq, uint32_t uid, const struct msg_id *stored),
		    void (*refused)(void *ctx, size_t seq, const char *why), void *ctx,
		    struct ferry_error *err)
{
	if (!s->driver->add_flush)
		return 0;
	return s->driver->add_flush(s, done, refused, ctx, err);
}

const char *store_keywords_dropped(struct store *s)
{
	return s->driver->keywords_dropped ? s->driver->keywords_dropped(s) : NULL;
}

int store_set_flags(struct store *s, const uint32_t *uids, size_t n, unsigned add, unsigned remove,
		    const char *add_keywords, const char *remove_keywords, struct ferry_error *err)
{
	if (s->read_only)
		return refused_read_only(s, "change flags", err);
	return s->driver->set_flags(s, uids, n, add, remove, add_keywords, remove_keywords, err);
}

int store_delete_msgs(struct store *s, const uint32_t *uids, size_t n, struct ferry_error *err)
{
	if (s->read_only)
		return refused_read_only(s, "delete messages", err);
	return s->driver->delete_msgs(s, uids, n, err);
}

int store_move_msgs(struct store *s, const uint32_t *uids, size_t n, const char *to,
		    uint32_t *new_uids, struct ferry_error *err)
{
	if (s->read_only)
		return refused_read_only(s, "move messages", err);
	if (!s->driver->move_msgs)
		return unsupported(s, "move messages", err);
	return s->driver->move_msgs(s, uids, n, store_folder_name(s, to), new_uids, err);
}

bool store_can_wait(const struct store *s)
{
	return s->driver->wait != NULL;
}

int store_wait(struct store *s, const char *folder, int timeout_ms, int stop_fd,
	       store_changed_fn *changed, void *ctx, struct ferry_error *err)
{
	struct pollfd p = {.fd = stop_fd, .events = POLLIN};

	if (s->driver->wait)
		return s->driver->wait(s, store_folder_name(s, folder), timeout_ms, stop_fd,
				       changed, ctx, err);
	while (poll(&p, 1, timeout_ms) < 0)
		if (errno != EINTR)
			return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "poll: %s",
					       strerror(errno));
	return 0;
}
