#include "store/message.h"

#include <stdlib.h>
#include <string.h>

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
