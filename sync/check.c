#include "sync/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/log.h"
#include "sync/child.h"
#include "sync/connect.h"

/* A store that is only downloaded from has one folder, INBOX: what it holds,
 * and how its messages are told apart (a POP3 server without UIDL). Read
 * only: check writes nothing, not even the store's own uid map. */
static int check_mailbox(struct store *store, struct ferry_error *err)
{
	const char *name = store->conf->name;
	struct folder_state fs;

	store_set_read_only(store);
	if (store_select(store, "INBOX", &fs, err) != 0)
		return -1;
	printf("%s: INBOX: %u message%s\n", name, fs.exists, fs.exists == 1 ? "" : "s");
	if (store->note)
		printf("%s: %s\n", name, store->note);
	return 0;
}

static int check_one(void *arg, struct ferry_error *err)
{
	const struct store_conf *conf = arg;
	struct store *store;

	if (connect_open(conf, &store, err) != 0)
		return -1;
	printf("%s: %s %s\n", conf->name, store_kind(store), store->description);
	if (store->capabilities)
		printf("%s: capabilities: %s\n", conf->name, store->capabilities);
	if (store_conf_download_only(conf) && check_mailbox(store, err) != 0) {
		store_close(store);
		return -1;
	}
	store_close(store);
	return 0;
}

enum ferry_status check_run(const struct config *cfg, const char *name)
{
	enum ferry_status worst = FERRY_OK;
	bool found = false;

	for (size_t i = 0; i < cfg->nstores; i++) {
		struct store_conf *conf = &cfg->stores[i];
		struct ferry_error err = {0};

		if (name && strcmp(name, conf->name) != 0)
			continue;
		found = true;
		/* A hostile server can crash libetpan: keep it in a child. */
		if (child_run(check_one, conf, &err) != 0) {
			log_error("%s: %s", conf->name, err.msg);
			worst = ferry_status_worst(worst, err.status);
		}
	}
	if (!found) {
		if (name)
			log_error("%s: no store '%s' (stores are [imap NAME], [maildir NAME] and "
				  "[pop3 NAME])",
				  cfg->path, name);
		else
			log_error("%s: no stores configured", cfg->path);
		return FERRY_USAGE;
	}
	return worst;
}
