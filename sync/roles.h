/* Folder pairing beyond equal names (DESIGN rule 11): an explicit `map`
 * pair beats a special-use role (RFC 6154 on a server, the configured role
 * names in a Maildir), which beats the name. roles_pair is pure: listings
 * in, pairs out, so a table of cases tests it; roles_apply fits a run's
 * listings to the pairs.
 *
 * The engine knows a folder by one name, its far name: a near folder paired
 * with a far one of another name is listed under the far name, and the near
 * store translates it back (store_alias). A folder the other side lacks is
 * created there under that side's name for the role: a Maildir's role name,
 * or else the name it has (a server has no default names).
 *
 * A pair by role is remembered in the state (role_pairs) and holds while
 * either folder is listed: a role moved or a name appearing later does not
 * undo it (which would copy its mail into a second folder).
 *
 * Pairing by role happens only when it is unambiguous: one folder of the
 * role on each side (or one, and a Maildir's role name on the other), and
 * neither name found on the other side (a server listing both Sent and
 * Sent Items keeps pairing by name: those folders were synced by name
 * before, and pairing one of them elsewhere would copy its mail again). */
#ifndef FERRY_SYNC_ROLES_H
#define FERRY_SYNC_ROLES_H

#include <stdbool.h>
#include <stddef.h>

#include "store/store.h"
#include "sync/config.h"
#include "sync/side.h"
#include "sync/state.h"

enum role { ROLE_SENT, ROLE_DRAFTS, ROLE_TRASH, ROLE_JUNK, ROLE_ARCHIVE, ROLE_COUNT };

enum pair_reason { PAIR_NAME, PAIR_ROLE, PAIR_MAP };

/* A pair the names alone would not make. */
struct role_pair {
	char *name[2]; /* by side */
	enum pair_reason why;
	enum role role; /* PAIR_ROLE */
};

/* A folder left out of the channel. */
enum drop_reason {
	DROP_ALL_MAIL, /* \All or \Flagged, without all_mail = yes */
	DROP_TAKEN,    /* its name pairs elsewhere on the other side (map, role) */
};

struct role_drop {
	enum side side;
	char *name;
	enum drop_reason why;
	char *by; /* DROP_TAKEN: the folder of this side that pairs with it */
};

/* One side's listing; role_names: a Maildir's names by role, NULL for a
 * server (its roles are the LIST attributes). */
struct roles_side {
	const struct store_folder *folders;
	size_t n;
	const char *const *role_names;
};

struct roles_result {
	struct role_pair *pairs;
	size_t npairs;
	struct role_drop *drops;
	size_t ndrops;
	/* By side, roles held by several folders: paired by name. */
	unsigned ambiguous[2];
	/* Roles held on both sides but not paired because a name was found on
	 * the other side. */
	unsigned clash;
	/* The near store's aliases, one per pair whose names differ; point
	 * into pairs. */
	struct store_alias *aliases;
	size_t naliases;
};

/* "\Sent" ... */
const char *roles_attr(enum role r);
/* A Maildir's folder name for role r: its configured one or the default. */
const char *roles_maildir_name(const struct store_conf *conf, enum role r);

/* What a channel pairs beyond names: its map, whether \All is taken in,
 * and the pairs by role the state remembers. */
struct roles_input {
	const struct folder_map *map;
	size_t nmap;
	bool all_mail;
	const struct state_role_pair *remembered;
	size_t nremembered;
};

/* Pairs side[FAR] and side[NEAR] by map, remembered role, then role.
 * Returns 0, or -1 when out of memory. *out is freed with
 * roles_result_free. */
int roles_pair(const struct roles_side *side, const struct roles_input *in,
	       struct roles_result *out);
void roles_result_free(struct roles_result *r);

/* The pair that names `name` on side, or NULL (paired by name, if at all). */
const struct role_pair *roles_find(const struct roles_result *r, enum side side, const char *name);

/* For a run of channel ch: pairs the listings (of the stores conf[]),
 * drops the folders left out, renames near folders to their far partner's
 * name, and logs a notice for what was left out or not paired by role.
 * Returns 0, or -1 with err set. */
int roles_apply(const struct channel_conf *ch, const struct state_role_pair *remembered,
		size_t nremembered, struct store_folder *listed[2], size_t nlisted[2],
		struct roles_result *out, struct ferry_error *err);

/* For commands that read one side alone (ferry status): the near
 * listing's folders the state remembers paired by role, renamed to their
 * far names, and the near store given their aliases. *out (the remembered
 * pairs, which the aliases point into) is freed with roles_near_free after
 * the store is closed. A state without them is no error. */
struct roles_near {
	struct state_role_pair *pairs;
	size_t npairs;
	struct store_alias *aliases;
};
int roles_recall_near(struct state *state, struct store *near, struct store_folder *listed,
		      size_t nlisted, struct roles_near *out, struct ferry_error *err);
void roles_near_free(struct roles_near *r);

/* Records r's pairs by role in the state, in place of those before. */
int roles_remember(struct state *state, const struct roles_result *r, struct ferry_error *err);

#endif
