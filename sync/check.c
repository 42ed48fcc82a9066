#include "sync/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/log.h"
#include "sync/child.h"

static int check_one(void *arg, struct ferry_error *err)
{
	const struct store_conf *conf = arg;
	struct store *store;
	char *secret = NULL;
	int r;

	if (store_needs_secret(conf)) {
		secret = config_password(conf, err);
		if (!secret)
			return -1;
	}
	r = store_open(conf, secret, &store, err);
	if (secret) {
		explicit_bzero(secret, strlen(secret));
		free(secret);
	}
	if (r != 0)
		return -1;
	printf("%s: %s %s\n", conf->name, store_kind(store), store->description);
	if (store->capabilities)
		printf("%s: capabilities: %s\n", conf->name, store->capabilities);
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
			log_error("%s: no store '%s' (stores are [imap NAME] and [maildir NAME])",
				  cfg->path, name);
		else
			log_error("%s: no stores configured", cfg->path);
		return FERRY_USAGE;
	}
	return worst;
}
