#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#include "store/imap/driver.h"
#include "store/maildir/maildir.h"

static const struct store_driver *driver_for(const struct store_conf *conf)
{
	return conf->kind == STORE_IMAP ? &imap_driver : &maildir_driver;
}

bool store_needs_secret(const struct store_conf *conf)
{
	return conf->kind == STORE_IMAP && (conf->imap.password || conf->imap.password_command);
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

int msg_list_push(struct msg_list *list, const struct msg *m)
{
	struct msg copy = *m;

	if (list->n == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 64;
		struct msg *v = realloc(list->v, cap * sizeof(*v));

		if (!v)
			return -1;
		list->v = v;
		list->cap = cap;
	}
	if (m->keywords && !(copy.keywords = strdup(m->keywords)))
		return -1;
	list->v[list->n++] = copy;
	return 0;
}

void msg_list_free(struct msg_list *list)
{
	for (size_t i = 0; i < list->n; i++)
		free(list->v[i].keywords);
	free(list->v);
	*list = (struct msg_list){0};
}
