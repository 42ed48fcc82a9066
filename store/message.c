#include "store/message.h"

#include <stdlib.h>
#include <string.h>

struct msg_id msg_get_id(const struct msg *m)
{
	struct msg_id id = {0};

	if (!m->ident)
		return id;
	id.known = true;
	memcpy(id.hash, m->ident->hash, sizeof(id.hash));
	id.munged_known = m->munged_known;
	if (m->munged_known)
		memcpy(id.munged, m->ident->munged, sizeof(id.munged));
	return id;
}

int msg_set_id(struct msg *m, const struct msg_id *id)
{
	if (!id->known) {
		free(m->ident);
		m->ident = NULL;
		m->munged_known = false;
		return 0;
	}
	if (!m->ident && !(m->ident = malloc(sizeof(*m->ident))))
		return -1;
	memcpy(m->ident->hash, id->hash, sizeof(m->ident->hash));
	memcpy(m->ident->munged, id->munged, sizeof(m->ident->munged));
	m->munged_known = id->munged_known;
	return 0;
}

void msg_take_id(struct msg *to, struct msg *from)
{
	if (to == from)
		return;
	if (to->ident != from->ident)
		free(to->ident);
	to->ident = from->ident;
	to->munged_known = from->munged_known;
	from->ident = NULL;
	from->munged_known = false;
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
	if (m->ident) {
		if (!(copy.ident = malloc(sizeof(*copy.ident)))) {
			free(copy.keywords);
			return -1;
		}
		*copy.ident = *m->ident;
	}
	list->v[list->n++] = copy;
	return 0;
}

void msg_list_free(struct msg_list *list)
{
	for (size_t i = 0; i < list->n; i++) {
		free(list->v[i].keywords);
		free(list->v[i].ident);
	}
	free(list->v);
	*list = (struct msg_list){0};
}
