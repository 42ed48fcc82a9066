/* `ferry list`: the folders of both stores of each channel and how they
 * pair, as the next sync would see them. Each channel in a child process,
 * like every network session. */
#include "sync/list.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/base/termsafe.h"
#include "store/log.h"
#include "sync/child.h"
#include "sync/connect.h"
#include "sync/names.h"

/* The folder column: names are padded by the columns they take on the
 * terminal, not by bytes, so that "Entwürfe" lines up with "Sent". */
#define NAME_COLUMNS 40

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static const struct store_folder *find(const struct store_folder *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return &v[i];
	return NULL;
}

static const char *presence(const struct store_folder *f)
{
	if (!f)
		return "-";
	return f->attrs & FA_NOSELECT ? "(parent)" : "yes";
}

static void print_folders(const struct channel_conf *ch, const struct store_folder *ff, size_t nf,
			  const struct store_folder *nfo, size_t nn, char **names, size_t n)
{
	printf("%s: far = %s, near = %s\n", ch->name, ch->far->name, ch->near->name);
	printf("  %-*s %-9s %s\n", NAME_COLUMNS, "folder", "far", "near");
	for (size_t i = 0; i < n; i++) {
		const struct store_folder *f = find(ff, nf, names[i]), *g = find(nfo, nn, names[i]);
		const char *note = "";
		char *col;

		if (i && strcmp(names[i], names[i - 1]) == 0)
			continue;
		if (!names_selected(ch, names[i]))
			note = "excluded by folders";
		else if ((!f || f->attrs & FA_NOSELECT) && (!g || g->attrs & FA_NOSELECT))
			note = "holds folders only";
		else if (!f || !g)
			note = "created on the other side at the next sync (as create allows)";
		col = termsafe_column(names[i], NAME_COLUMNS);
		printf("  %s %-9s %-9s%s%s\n", col ? col : "(out of memory)", presence(f),
		       presence(g), note[0] ? " " : "", note);
		free(col);
	}
}

static int list_channel(void *arg, struct ferry_error *err)
{
	const struct channel_conf *ch = arg;
	struct store *far = NULL, *near = NULL;
	struct store_folder *ff = NULL, *nfo = NULL;
	size_t nf = 0, nn = 0, n = 0;
	char **names = NULL;
	int r = -1;

	if (connect_store(ch->far, &far, err) != 0 || connect_store(ch->near, &near, err) != 0)
		goto out;
	if (store_list_folders(far, &ff, &nf, err) != 0 ||
	    store_list_folders(near, &nfo, &nn, err) != 0)
		goto out;
	names = malloc((nf + nn + 1) * sizeof(*names));
	if (!names) {
		ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < nf; i++)
		names[n++] = ff[i].name;
	for (size_t i = 0; i < nn; i++)
		names[n++] = nfo[i].name;
	qsort(names, n, sizeof(*names), cmp_name);
	print_folders(ch, ff, nf, nfo, nn, names, n);
	r = 0;
out:
	free(names);
	store_folders_free(ff, nf);
	store_folders_free(nfo, nn);
	store_close(near);
	store_close(far);
	return r;
}

enum ferry_status list_run(const struct config *cfg, const char *channel)
{
	enum ferry_status worst = FERRY_OK;

	for (size_t i = 0; i < cfg->nchannels; i++) {
		struct ferry_error err = {0};

		if (channel && strcmp(channel, cfg->channels[i].name) != 0)
			continue;
		if (child_run(list_channel, &cfg->channels[i], &err) != 0) {
			log_error("%s: %s", cfg->channels[i].name, err.msg);
			worst = ferry_status_worst(worst, err.status);
		}
	}
	return worst;
}
