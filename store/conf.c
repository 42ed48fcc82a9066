/* What a store's configuration says, for the engine: no driver is
 * involved, so the configuration reader (and its fuzz target) can ask. */
#include <stdint.h>

#include "store/store.h"

const char *store_conf_place(const struct store_conf *conf)
{
	if (conf->kind == STORE_MAILDIR)
		return conf->maildir.path;
	if (conf->kind == STORE_POP3)
		return conf->pop3.host ? conf->pop3.host : "tunnel";
	return conf->imap.host ? conf->imap.host : "tunnel";
}

unsigned store_conf_connections(const struct store_conf *conf)
{
	/* A POP3 server locks the maildrop for one session at a time. */
	if (conf->kind == STORE_POP3)
		return 1;
	return conf->kind == STORE_IMAP && conf->imap.connections > 0
		   ? (unsigned)conf->imap.connections
		   : UINT32_MAX;
}

bool store_conf_local(const struct store_conf *conf)
{
	return conf->kind == STORE_MAILDIR;
}

char *const *store_conf_role_names(const struct store_conf *conf)
{
	return conf->kind == STORE_MAILDIR ? conf->maildir.roles : NULL;
}

bool store_conf_download_only(const struct store_conf *conf)
{
	return conf->kind == STORE_POP3;
}

int64_t store_conf_keep_seconds(const struct store_conf *conf)
{
	return conf->kind == STORE_POP3 ? conf->pop3.keep_seconds : -1;
}

bool store_needs_secret(const struct store_conf *conf)
{
	if (conf->kind == STORE_POP3)
		return conf->pop3.password || conf->pop3.password_command;
	return conf->kind == STORE_IMAP && (conf->imap.password || conf->imap.password_command);
}
