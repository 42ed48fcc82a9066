/* Opening and reopening stores (sync/connect.h). */
#include "sync/connect.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/log.h"
#include "sync/engine.h"

int connect_open(const struct store_conf *conf, struct store **out, struct ferry_error *err)
{
	char *secret = NULL;
	int r;

	if (store_needs_secret(conf) && !(secret = config_password(conf, err)))
		return -1;
	r = store_open(conf, secret, out, err);
	if (secret) {
		explicit_bzero(secret, strlen(secret));
		free(secret);
	}
	if (r != 0)
		ferry_error_opening(err);
	return r;
}

int connect_store(const struct store_conf *conf, struct store **out, struct ferry_error *err)
{
	if (connect_open(conf, out, err) != 0) {
		ferry_error_prefix(err, "%s", conf->name);
		return -1;
	}
	return 0;
}

int connect_both(const struct channel_conf *ch, struct store *store[2], struct ferry_error *err)
{
	store[FAR] = store[NEAR] = NULL;
	if (connect_store(ch->far, &store[FAR], err) != 0 ||
	    connect_store(ch->near, &store[NEAR], err) != 0) {
		connect_close_both(store);
		return -1;
	}
	return 0;
}

void connect_close_both(struct store *store[2])
{
	store_close(store[NEAR]);
	store_close(store[FAR]);
	store[FAR] = store[NEAR] = NULL;
}

bool connect_broken(struct store *const store[2])
{
	return store[FAR]->broken || store[NEAR]->broken;
}

int connect_again(struct store *store[2], unsigned *attempts, struct ferry_error *err)
{
	static const unsigned delays[] = {1, 4, 16};

	for (int side = FAR; side <= NEAR; side++) {
		struct store **s = &store[side];
		const struct store_conf *conf;
		const struct store_alias *aliases;
		size_t naliases;
		bool read_only;

		if (!*s || !(*s)->broken)
			continue;
		conf = (*s)->conf;
		read_only = (*s)->read_only;
		aliases = (*s)->aliases;
		naliases = (*s)->naliases;
		if ((*s)->hostile)
			return ferry_error_set(
			    err, FERRY_CAUSE_PROTOCOL,
			    "%s: not reconnecting: the server broke the protocol "
			    "(see above)",
			    conf->name);
		store_close(*s);
		*s = NULL;
		for (;;) {
			if (*attempts >= sizeof(delays) / sizeof(delays[0]) || engine_interrupted)
				return ferry_error_set(
				    err, FERRY_CAUSE_NETWORK,
				    "%s: connection lost; no reconnect left this run", conf->name);
			sleep(delays[(*attempts)++]);
			log_info("%s: connection lost; reconnecting", conf->name);
			if (connect_store(conf, s, err) == 0) {
				if (read_only)
					store_set_read_only(*s);
				(*s)->aliases = aliases;
				(*s)->naliases = naliases;
				break;
			}
			if (!ferry_error_retryable(err))
				return -1;
			log_warn("%s", err->msg);
		}
	}
	return 0;
}
