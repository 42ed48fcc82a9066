/* The configuration file (INI, see DESIGN.md and ferry(1)) as plain structs. */
#ifndef FERRY_CONFIG_H
#define FERRY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "sync/policy.h"

/* A folder pattern of `folders`: a glob on canonical names, `!` excludes. */
struct folder_pattern {
	char *glob;
	bool exclude;
};

/* One explicit pair of `map`: the far folder and the near one. */
struct folder_map {
	char *far, *near;
	int line;
};

/* `placeholders`: what a far message over max_size becomes on a Maildir
 * near side. */
enum placeholder_mode { PLACEHOLDERS_NO, PLACEHOLDERS_YES, PLACEHOLDERS_FLAGGED };

struct channel_conf {
	char *name;
	const char *file;
	int line;
	struct store_conf *far; /* points into struct config.stores */
	struct store_conf *near;
	struct folder_pattern *folders; /* in file order; default: one "*" */
	size_t nfolders;
	enum sync_dir sync;
	enum side_set create, delete, remove;
	bool max_delete_is_percent; /* "50%" or an absolute count "200" */
	unsigned max_delete;
	char *state;	   /* path of the state database, expanded */
	uint64_t max_size; /* bytes; 0 = no limit */
	unsigned max_age;  /* days: older messages are neither copied nor deleted; 0: all */
	char *post_sync;   /* run by /bin/sh -c after a sync that changed something */
	/* `ferry watch`: the folders whose server side is watched (IDLE), NULL
	 * for INBOX alone; and the seconds between full syncs (0: the default). */
	char **watch;
	size_t nwatch;
	unsigned interval;
	/* `map`: explicit pairs, which beat special-use roles and names. */
	struct folder_map *map;
	size_t nmap;
	bool all_mail;	 /* `all_mail = yes`: \All and \Flagged folders are synced too */
	bool subscribed; /* `subscribed = yes`: only a server's subscribed folders */
	/* `folder`: the near folder a download-only far store's INBOX goes
	 * into (config.c makes it a map entry); NULL: INBOX. */
	char *folder;
	/* A far message over max_size arrives as a placeholder (headers and a
	 * note); FLAGGED: \Flagged on one fetches it whole at the next sync. */
	enum placeholder_mode placeholders;
};

struct config {
	char *path; /* the file that was read */
	struct store_conf *stores;
	size_t nstores;
	struct channel_conf *channels;
	size_t nchannels;
};

/* Which file to read: cli_path (-c) if given, else $FERRY_CONFIG, else
 * $XDG_CONFIG_HOME/ferry/config, else ~/.config/ferry/config.
 * Returns a malloc'd string the caller frees, or NULL with err set. */
char *config_default_path(const char *cli_path, struct ferry_error *err);

/* Parses path into cfg. On any error returns -1 with err->status = FERRY_USAGE
 * and err->msg = "FILE:LINE: KEY: reason" (or "FILE:LINE: [section]: reason"),
 * and cfg is left empty. The caller calls config_free() on success. */
int config_load(const char *path, struct config *cfg, struct ferry_error *err);

/* Same, from a string (unit tests, fuzzing); name is used in messages. */
int config_load_string(const char *name, const char *text, struct config *cfg,
		       struct ferry_error *err);

void config_free(struct config *cfg);

struct store_conf *config_find_store(const struct config *cfg, const char *name);
struct channel_conf *config_find_channel(const struct config *cfg, const char *name);

/* The password (or XOAUTH2 token) for an IMAP store: the literal `password`,
 * or the first line of `password_command`'s stdout (run by /bin/sh -c).
 * Returns a malloc'd string the caller wipes and frees, or NULL with err set
 * (FERRY_CONNECT: the command failed, or printed nothing). */
char *config_password(const struct store_conf *store, struct ferry_error *err);

/* Expands a leading ~ and $VAR / ${VAR} in a path. Returns a malloc'd string,
 * or NULL with why set to a static reason ("$FOO is not set"). */
char *config_expand_path(const char *in, const char **why);

/* Whether a run of ch may go in direction dir (--push): a download-only far
 * store (POP3) takes nothing. 0, or -1 with err set (FERRY_CAUSE_CONFIG). */
int channel_check_dir(const struct channel_conf *ch, enum sync_dir dir, struct ferry_error *err);

/* A channel's policy for a run in direction dir (its own, or --pull/--push). */
struct sync_policy channel_policy(const struct channel_conf *ch, enum sync_dir dir,
				  bool force_delete);

#endif
