/* `ferry list`: the folders of both stores of each channel and how they
 * pair, as the next sync would see them, as text or JSON (schema in
 * ferry(1)). Each channel in a child process, like every network session. */
#include "sync/list.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/base/termsafe.h"
#include "store/base/grow.h"
#include "store/log.h"
#include "sync/child.h"
#include "sync/connect.h"
#include "sync/json.h"
#include "sync/names.h"
#include "sync/roles.h"

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

/* How a folder pairs, as the next sync sees it; names[] and the JSON
 * `pairing` values in one table. */
enum pairing { PAIRED, EXCLUDED, PARENT, PLACEHOLDER, CREATE_FAR, CREATE_NEAR, ONE_SIDE };

static const char *const pairing_key[] = {
    [PAIRED] = "paired",	   [EXCLUDED] = "excluded",	[PARENT] = "parent",
    [PLACEHOLDER] = "placeholder", [CREATE_FAR] = "create-far", [CREATE_NEAR] = "create-near",
    [ONE_SIDE] = "one-side",
};

static const char *const pairing_note[] = {
    [PAIRED] = "",
    [EXCLUDED] = "excluded by folders",
    [PARENT] = "holds folders only",
    [PLACEHOLDER] = "a placeholder (\\Noselect) on one side: not synced",
    [CREATE_FAR] = "created on the other side at the next sync (as create allows)",
    [CREATE_NEAR] = "created on the other side at the next sync (as create allows)",
    [ONE_SIDE] = "on one side only; not created on the other (create)",
};

static bool selectable(const struct store_folder *f)
{
	return f && !(f->attrs & FA_NOSELECT);
}

static enum pairing pairing_of(const struct channel_conf *ch, const char *name,
			       const struct store_folder *f, const struct store_folder *g)
{
	if (!names_selected(ch, name))
		return EXCLUDED;
	if (!selectable(f) && !selectable(g))
		return PARENT;
	if (f && g)
		return selectable(f) && selectable(g) ? PAIRED : PLACEHOLDER;
	if (!g)
		return ch->create & SIDE_NEAR ? CREATE_NEAR : ONE_SIDE;
	return ch->create & SIDE_FAR ? CREATE_FAR : ONE_SIDE;
}

/* Why a folder pairs as it does: " by name", or the near name and role
 * or map when that differs; "" for a folder that does not pair. */
static void why_of(const struct roles_result *roles, const char *name, enum pairing pairing,
		   char *buf, size_t size)
{
	const struct role_pair *p = roles_find(roles, FAR, name);

	buf[0] = '\0';
	if (p && p->why == PAIR_MAP)
		snprintf(buf, size, " with near \"%s\" by map", p->name[NEAR]);
	else if (p)
		snprintf(buf, size, " with near \"%s\" by role %s", p->name[NEAR],
			 roles_attr(p->role));
	else if (pairing == PAIRED)
		snprintf(buf, size, " by name");
}

static void print_drops(const struct roles_result *roles)
{
	for (size_t i = 0; i < roles->ndrops; i++) {
		const struct role_drop *d = &roles->drops[i];
		char *col = termsafe_column(d->name, NAME_COLUMNS);

		if (d->why == DROP_ALL_MAIL)
			printf(
			    "  %s %-9s %-9s left out: \\All or \\Flagged (all_mail = yes takes it "
			    "in)\n",
			    col ? col : "(out of memory)", d->side == FAR ? "yes" : "-",
			    d->side == NEAR ? "yes" : "-");
		else
			printf("  %s %-9s %-9s left out: the other side's folder of this name "
			       "pairs with \"%s\" (map, or role)\n",
			       col ? col : "(out of memory)", d->side == FAR ? "yes" : "-",
			       d->side == NEAR ? "yes" : "-", d->by);
		free(col);
	}
}

static void print_folders(const struct channel_conf *ch, const struct store_folder *ff, size_t nf,
			  const struct store_folder *nfo, size_t nn, char **names, size_t n,
			  const struct roles_result *roles)
{
	printf("%s: far = %s, near = %s\n", ch->name, ch->far->name, ch->near->name);
	printf("  %-*s %-9s %s\n", NAME_COLUMNS, "folder", "far", "near");
	for (size_t i = 0; i < n; i++) {
		const struct store_folder *f = find(ff, nf, names[i]), *g = find(nfo, nn, names[i]);
		enum pairing pairing;
		const char *note;
		char why[1024], *col;

		if (i && strcmp(names[i], names[i - 1]) == 0)
			continue;
		pairing = pairing_of(ch, names[i], f, g);
		note = pairing_note[pairing];
		why_of(roles, names[i], pairing, why, sizeof(why));
		col = termsafe_column(names[i], NAME_COLUMNS);
		printf("  %s %-9s %-9s%s%s%s\n", col ? col : "(out of memory)", presence(f),
		       presence(g), note[0] ? " " : "", note, why);
		free(col);
	}
	print_drops(roles);
}

/* A pair by role or map: its near name, why, and the role. */
static void add_json_why(struct strbuf *sb, const struct roles_result *roles, const char *name)
{
	const struct role_pair *p = roles_find(roles, FAR, name);

	if (!p)
		return;
	strbuf_adds(sb, ",\"near_name\":");
	json_add_string(sb, p->name[NEAR]);
	if (p->why == PAIR_MAP) {
		strbuf_adds(sb, ",\"why\":\"map\"");
		return;
	}
	strbuf_adds(sb, ",\"why\":\"role\",\"role\":");
	json_add_string(sb, roles_attr(p->role));
}

/* One object, one line: {"channel", "far", "near", "folders": [{"name",
 * "on_far", "on_near", "far_noselect", "near_noselect", "pairing", and for
 * a pair by role or map "near_name", "why" ("role" or "map"), "role"}],
 * "left_out": [{"side", "name"}]}. */
static int print_json(const struct channel_conf *ch, const struct store_folder *ff, size_t nf,
		      const struct store_folder *nfo, size_t nn, char **names, size_t n,
		      const struct roles_result *roles, struct ferry_error *err)
{
	struct strbuf sb = {0};
	bool first = true;
	char *out;

	strbuf_adds(&sb, "{\"channel\":");
	json_add_string(&sb, ch->name);
	strbuf_adds(&sb, ",\"far\":");
	json_add_string(&sb, ch->far->name);
	strbuf_adds(&sb, ",\"near\":");
	json_add_string(&sb, ch->near->name);
	strbuf_adds(&sb, ",\"folders\":[");
	for (size_t i = 0; i < n; i++) {
		const struct store_folder *f = find(ff, nf, names[i]), *g = find(nfo, nn, names[i]);

		if (i && strcmp(names[i], names[i - 1]) == 0)
			continue;
		strbuf_adds(&sb, first ? "{\"name\":" : ",{\"name\":");
		first = false;
		json_add_string(&sb, names[i]);
		strbuf_addf(&sb,
			    ",\"on_far\":%s,\"on_near\":%s,\"far_noselect\":%s,"
			    "\"near_noselect\":%s,\"pairing\":\"%s\"",
			    f ? "true" : "false", g ? "true" : "false",
			    f && !selectable(f) ? "true" : "false",
			    g && !selectable(g) ? "true" : "false",
			    pairing_key[pairing_of(ch, names[i], f, g)]);
		add_json_why(&sb, roles, names[i]);
		strbuf_adds(&sb, "}");
	}
	strbuf_adds(&sb, "],\"left_out\":[");
	for (size_t i = 0; i < roles->ndrops; i++) {
		strbuf_addf(&sb, "%s{\"side\":\"%s\",\"name\":", i ? "," : "",
			    side_str(roles->drops[i].side));
		json_add_string(&sb, roles->drops[i].name);
		strbuf_adds(&sb, "}");
	}
	strbuf_adds(&sb, "]}\n");
	out = strbuf_take(&sb);
	if (!out)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	fputs(out, stdout);
	free(out);
	return 0;
}

/* The pairs by role the last sync made: none without a state yet, or with
 * one older than them (read-only here, so not migrated). */
static void recall_role_pairs(const struct channel_conf *ch, struct state_role_pair **v, size_t *n)
{
	struct ferry_error err = {0};
	struct state *st = NULL;

	if (state_open_readonly(ch->state, &st, &err) != 0)
		return;
	if (state_list_role_pairs(st, v, n, &err) != 0)
		*n = 0;
	state_close(st);
}

struct list_run {
	const struct channel_conf *ch;
	bool json;
};

static int list_channel(void *arg, struct ferry_error *err)
{
	const struct list_run *run = arg;
	const struct channel_conf *ch = run->ch;
	struct store *far = NULL, *near = NULL;
	struct store_folder *ff = NULL, *nfo = NULL;
	size_t nf = 0, nn = 0, n = 0;
	char **names = NULL;
	struct roles_result roles = {0};
	int r = -1;

	if (connect_store(ch->far, &far, err) != 0 || connect_store(ch->near, &near, err) != 0)
		goto out;
	if (store_list_folders(far, &ff, &nf, err) != 0 ||
	    store_list_folders(near, &nfo, &nn, err) != 0)
		goto out;
	{
		struct store_folder *listed[2] = {ff, nfo};
		size_t nlisted[2] = {nf, nn};
		struct state_role_pair *remembered = NULL;
		size_t nremembered = 0;
		int applied;

		recall_role_pairs(ch, &remembered, &nremembered);
		applied = roles_apply(ch, remembered, nremembered, listed, nlisted, &roles, err);
		state_role_pairs_free(remembered, nremembered);
		if (applied != 0)
			goto out;
		nf = nlisted[FAR];
		nn = nlisted[NEAR];
	}
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
	if (run->json)
		r = print_json(ch, ff, nf, nfo, nn, names, n, &roles, err);
	else {
		print_folders(ch, ff, nf, nfo, nn, names, n, &roles);
		r = 0;
	}
out:
	roles_result_free(&roles);
	free(names);
	store_folders_free(ff, nf);
	store_folders_free(nfo, nn);
	store_close(near);
	store_close(far);
	return r;
}

enum ferry_status list_run(const struct config *cfg, const char *channel, bool json)
{
	enum ferry_status worst = FERRY_OK;

	for (size_t i = 0; i < cfg->nchannels; i++) {
		struct list_run run = {&cfg->channels[i], json};
		struct ferry_error err = {0};

		if (channel && strcmp(channel, cfg->channels[i].name) != 0)
			continue;
		if (child_run(list_channel, &run, &err) != 0) {
			log_error("%s: %s", cfg->channels[i].name, err.msg);
			worst = ferry_status_worst(worst, err.status);
		}
	}
	return worst;
}
