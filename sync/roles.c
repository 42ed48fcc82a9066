#include "sync/roles.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/base/grow.h"
#include "store/log.h"

static const struct {
	const char *attr;
	unsigned bit;
	const char *name; /* a Maildir's default */
} role_table[ROLE_COUNT] = {
    [ROLE_SENT] = {"\\Sent", FA_SENT, "Sent"},
    [ROLE_DRAFTS] = {"\\Drafts", FA_DRAFTS, "Drafts"},
    [ROLE_TRASH] = {"\\Trash", FA_TRASH, "Trash"},
    [ROLE_JUNK] = {"\\Junk", FA_JUNK, "Junk"},
    [ROLE_ARCHIVE] = {"\\Archive", FA_ARCHIVE, "Archive"},
};

_Static_assert(ROLE_COUNT == MAILDIR_ROLES, "a Maildir names every role");

const char *roles_attr(enum role r)
{
	return role_table[r].attr;
}

const char *roles_maildir_name(const struct store_conf *conf, enum role r)
{
	char *const *names = store_conf_role_names(conf);

	return names && names[r] ? names[r] : role_table[r].name;
}

static bool listed(const struct roles_side *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->folders[i].name, name) == 0)
			return true;
	return false;
}

static bool has_role(const struct roles_side *s, const struct store_folder *f, enum role r)
{
	if (f->attrs & FA_NOSELECT)
		return false;
	if (s->role_names)
		return strcmp(f->name, s->role_names[r]) == 0;
	return (f->attrs & role_table[r].bit) != 0;
}

const struct role_pair *roles_find(const struct roles_result *r, enum side side, const char *name)
{
	for (size_t i = 0; i < r->npairs; i++)
		if (strcmp(r->pairs[i].name[side], name) == 0)
			return &r->pairs[i];
	return NULL;
}

static bool dropped(const struct roles_result *r, enum side side, const char *name)
{
	for (size_t i = 0; i < r->ndrops; i++)
		if (r->drops[i].side == side && strcmp(r->drops[i].name, name) == 0)
			return true;
	return false;
}

static int add_pair(struct roles_result *r, const char *far, const char *near, enum pair_reason why,
		    enum role role)
{
	size_t cap = r->npairs;
	struct role_pair *v = grow_array(r->pairs, &cap, r->npairs + 1, sizeof(*v));

	if (!v)
		return -1;
	r->pairs = v;
	v[r->npairs] = (struct role_pair){{strdup(far), strdup(near)}, why, role};
	if (!v[r->npairs].name[FAR] || !v[r->npairs].name[NEAR]) {
		free(v[r->npairs].name[FAR]);
		free(v[r->npairs].name[NEAR]);
		return -1;
	}
	r->npairs++;
	return 0;
}

static int add_drop(struct roles_result *r, enum side side, const char *name, enum drop_reason why,
		    const char *by)
{
	size_t cap = r->ndrops;
	struct role_drop *v = grow_array(r->drops, &cap, r->ndrops + 1, sizeof(*v));

	if (!v)
		return -1;
	r->drops = v;
	v[r->ndrops] = (struct role_drop){side, strdup(name), why, by ? strdup(by) : NULL};
	if (!v[r->ndrops].name || (by && !v[r->ndrops].by)) {
		free(v[r->ndrops].name);
		free(v[r->ndrops].by);
		return -1;
	}
	r->ndrops++;
	return 0;
}

/* \All holds every message again and a virtual \Flagged the flagged ones:
 * synced, each message would be copied twice. */
static int drop_all_mail(const struct roles_side side[2], struct roles_result *r)
{
	for (enum side k = FAR; k <= NEAR; k++)
		for (size_t i = 0; i < side[k].n; i++) {
			const struct store_folder *f = &side[k].folders[i];

			if ((f->attrs & (FA_ALL | FA_FLAGGED)) && !roles_find(r, k, f->name) &&
			    add_drop(r, k, f->name, DROP_ALL_MAIL, NULL) != 0)
				return -1;
		}
	return 0;
}

/* The name role `role` has on side k (NULL: none, or several). */
static const char *role_name(const struct roles_side *s, enum side k, enum role role,
			     const struct roles_result *r, bool *real)
{
	const char *found = NULL;
	size_t count = 0;

	for (size_t i = 0; i < s->n; i++) {
		const struct store_folder *f = &s->folders[i];

		if (has_role(s, f, role) && !roles_find(r, k, f->name) && !dropped(r, k, f->name)) {
			found = f->name;
			count++;
		}
	}
	*real = count == 1;
	if (count > 1)
		return NULL; /* which one? */
	if (count == 1)
		return found;
	return s->role_names ? s->role_names[role] : NULL;
}

static bool several(const struct roles_side *s, enum side k, enum role role,
		    const struct roles_result *r)
{
	size_t count = 0;

	for (size_t i = 0; i < s->n; i++)
		count += has_role(s, &s->folders[i], role) && !roles_find(r, k, s->folders[i].name);
	return count > 1;
}

static int pair_role(const struct roles_side side[2], enum role role, struct roles_result *r)
{
	const char *name[2];
	bool real[2];

	for (enum side k = FAR; k <= NEAR; k++) {
		name[k] = role_name(&side[k], k, role, r, &real[k]);
		if (!name[k] && !real[k] && !side[k].role_names && several(&side[k], k, role, r))
			r->ambiguous[k] |= 1u << role;
	}
	if (!name[FAR] || !name[NEAR] || (!real[FAR] && !real[NEAR]) ||
	    strcmp(name[FAR], name[NEAR]) == 0)
		return 0;
	if (roles_find(r, FAR, name[FAR]) || roles_find(r, NEAR, name[NEAR]))
		return 0; /* a map took the name the role would be created under */
	if (listed(&side[NEAR], name[FAR]) || listed(&side[FAR], name[NEAR])) {
		/* Said only when both sides hold a folder of the role: a far Sent
		 * Items synced by name to a Maildir without Sent is the usual case
		 * of a state from before role pairing, not worth a line a run. */
		if (real[FAR] && real[NEAR])
			r->clash |= 1u << role;
		return 0;
	}
	return add_pair(r, name[FAR], name[NEAR], PAIR_ROLE, role);
}

/* A folder whose name a pair gave to a folder of another name on the other
 * side cannot pair by name: both would be synced into one. */
static int drop_taken(const struct roles_side side[2], struct roles_result *r)
{
	for (enum side k = FAR; k <= NEAR; k++)
		for (size_t i = 0; i < side[k].n; i++) {
			const char *name = side[k].folders[i].name;
			const struct role_pair *p = roles_find(r, side_other(k), name);

			if (roles_find(r, k, name) || dropped(r, k, name) || !p ||
			    strcmp(p->name[k], name) == 0)
				continue;
			if (add_drop(r, k, name, DROP_TAKEN, p->name[k]) != 0)
				return -1;
		}
	return 0;
}

static int make_aliases(struct roles_result *r)
{
	r->aliases = calloc(r->npairs + 1, sizeof(*r->aliases));
	if (!r->aliases)
		return -1;
	for (size_t i = 0; i < r->npairs; i++)
		if (strcmp(r->pairs[i].name[FAR], r->pairs[i].name[NEAR]) != 0)
			r->aliases[r->naliases++] =
			    (struct store_alias){r->pairs[i].name[FAR], r->pairs[i].name[NEAR]};
	return 0;
}

/* A remembered pair holds while either folder is listed, unless a map now
 * takes one of them. */
static int recall(const struct roles_side side[2], const struct roles_input *in,
		  struct roles_result *r)
{
	for (size_t i = 0; i < in->nremembered; i++) {
		const struct state_role_pair *m = &in->remembered[i];

		if (strcmp(m->far, m->near) == 0 || m->role < 0 || m->role >= ROLE_COUNT ||
		    roles_find(r, FAR, m->far) || roles_find(r, NEAR, m->near) ||
		    (!listed(&side[FAR], m->far) && !listed(&side[NEAR], m->near)))
			continue;
		if (add_pair(r, m->far, m->near, PAIR_ROLE, (enum role)m->role) != 0)
			return -1;
	}
	return 0;
}

int roles_pair(const struct roles_side *side, const struct roles_input *in,
	       struct roles_result *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < in->nmap; i++)
		if (add_pair(out, in->map[i].far, in->map[i].near, PAIR_MAP, ROLE_SENT) != 0)
			goto oom;
	if (recall(side, in, out) != 0)
		goto oom;
	if (!in->all_mail && drop_all_mail(side, out) != 0)
		goto oom;
	for (enum role role = ROLE_SENT; role < ROLE_COUNT; role++)
		if (pair_role(side, role, out) != 0)
			goto oom;
	if (drop_taken(side, out) != 0 || make_aliases(out) != 0)
		goto oom;
	return 0;
oom:
	roles_result_free(out);
	return -1;
}

void roles_result_free(struct roles_result *r)
{
	for (size_t i = 0; i < r->npairs; i++) {
		free(r->pairs[i].name[FAR]);
		free(r->pairs[i].name[NEAR]);
	}
	for (size_t i = 0; i < r->ndrops; i++) {
		free(r->drops[i].name);
		free(r->drops[i].by);
	}
	free(r->pairs);
	free(r->drops);
	free(r->aliases);
	memset(r, 0, sizeof(*r));
}

/* ---- a run's listings ---- */

/* The role names of a Maildir store, or NULL for a server. */
static const char *const *side_role_names(const struct store_conf *conf,
					  const char *names[ROLE_COUNT])
{
	if (!store_conf_role_names(conf))
		return NULL;
	for (enum role r = ROLE_SENT; r < ROLE_COUNT; r++)
		names[r] = roles_maildir_name(conf, r);
	return names;
}

/* Removes listed[k][i], freeing its name. */
static void remove_folder(struct store_folder *v, size_t *n, size_t i)
{
	free(v[i].name);
	memmove(&v[i], &v[i + 1], (*n - i - 1) * sizeof(*v));
	(*n)--;
}

static void log_notices(const struct channel_conf *ch, const struct roles_result *r)
{
	char left[1024] = "";

	for (size_t i = 0; i < r->ndrops; i++) {
		const struct role_drop *d = &r->drops[i];

		if (d->why == DROP_ALL_MAIL) {
			size_t len = strlen(left);

			snprintf(left + len, sizeof(left) - len, "%s%s \"%s\"", len ? ", " : "",
				 side_str(d->side), d->name);
		} else if (d->side == NEAR && store_conf_download_only(ch->far))
			/* `folder` took the local INBOX's place: asked for. */
			log_trace("%s: near \"%s\" not synced: \"%s\" is the folder mail goes "
				  "into",
				  ch->name, d->name, d->by);
		else
			log_warn("%s: %s \"%s\" not synced: the other side's \"%s\" pairs with "
				 "\"%s\" here (map, or a pair by role)",
				 ch->name, side_str(d->side), d->name, d->name, d->by);
	}
	if (left[0])
		log_info("%s: not synced: %s (\\All or \\Flagged: every message again); "
			 "all_mail = yes takes them in",
			 ch->name, left);
	for (enum role role = ROLE_SENT; role < ROLE_COUNT; role++) {
		for (enum side k = FAR; k <= NEAR; k++)
			if (r->ambiguous[k] & (1u << role))
				log_info("%s: several %s folders carry %s: they pair by name (map "
					 "pairs one)",
					 ch->name, side_str(k), roles_attr(role));
		if (r->clash & (1u << role))
			log_info("%s: the %s folders pair by name: a name of one is found on the "
				 "other side too (map pairs them)",
				 ch->name, roles_attr(role));
	}
}

int roles_apply(const struct channel_conf *ch, const struct state_role_pair *remembered,
		size_t nremembered, struct store_folder *listed[2], size_t nlisted[2],
		struct roles_result *out, struct ferry_error *err)
{
	const char *names[2][ROLE_COUNT];
	const struct roles_side side[2] = {
	    {listed[FAR], nlisted[FAR], side_role_names(ch->far, names[FAR])},
	    {listed[NEAR], nlisted[NEAR], side_role_names(ch->near, names[NEAR])},
	};

	const struct roles_input in = {ch->map, ch->nmap, ch->all_mail, remembered, nremembered};

	if (roles_pair(side, &in, out) != 0)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	log_notices(ch, out);
	for (enum side k = FAR; k <= NEAR; k++)
		for (size_t i = nlisted[k]; i-- > 0;) {
			struct store_folder *f = &listed[k][i];
			const struct role_pair *p;
			char *name;

			if (dropped(out, k, f->name)) {
				remove_folder(listed[k], &nlisted[k], i);
				continue;
			}
			p = roles_find(out, k, f->name);
			if (k != NEAR || !p || strcmp(p->name[FAR], f->name) == 0)
				continue;
			if (!(name = strdup(p->name[FAR]))) {
				roles_result_free(out);
				return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
			}
			free(f->name);
			f->name = name;
		}
	return 0;
}

int roles_remember(struct state *state, const struct roles_result *r, struct ferry_error *err)
{
	struct state_role_pair *v = calloc(r->npairs + 1, sizeof(*v));
	size_t n = 0;
	int rc;

	if (!v)
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	for (size_t i = 0; i < r->npairs; i++)
		if (r->pairs[i].why == PAIR_ROLE)
			v[n++] = (struct state_role_pair){
			    r->pairs[i].name[FAR], r->pairs[i].name[NEAR], (int)r->pairs[i].role};
	rc = state_set_role_pairs(state, v, n, err);
	free(v); /* the names are r's */
	return rc;
}

int roles_recall_near(struct state *state, struct store *near, struct store_folder *listed,
		      size_t nlisted, struct roles_near *out, struct ferry_error *err)
{
	struct ferry_error ignored = {0};

	memset(out, 0, sizeof(*out));
	/* A state from before role_pairs, opened read-only, has no table. */
	if (state_list_role_pairs(state, &out->pairs, &out->npairs, &ignored) != 0)
		return 0;
	out->aliases = calloc(out->npairs + 1, sizeof(*out->aliases));
	if (!out->aliases) {
		roles_near_free(out);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
	}
	for (size_t i = 0; i < out->npairs; i++) {
		out->aliases[i] = (struct store_alias){out->pairs[i].far, out->pairs[i].near};
		for (size_t k = 0; k < nlisted; k++) {
			char *name;

			if (strcmp(listed[k].name, out->pairs[i].near) != 0)
				continue;
			if (!(name = strdup(out->pairs[i].far))) {
				roles_near_free(out);
				return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
			}
			free(listed[k].name);
			listed[k].name = name;
		}
	}
	near->aliases = out->aliases;
	near->naliases = out->npairs;
	return 0;
}

void roles_near_free(struct roles_near *r)
{
	state_role_pairs_free(r->pairs, r->npairs);
	free(r->aliases);
	memset(r, 0, sizeof(*r));
}
