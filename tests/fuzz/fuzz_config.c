/* The configuration parser (sync/config.c) on arbitrary text.
 *
 * Whatever the text, config_load_string either fails with a message and an
 * empty config, or returns a config whose every promise holds: stores and
 * channels named as names may be, an IMAP store that can connect one way,
 * absolute paths, channels tied to two different existing stores with at
 * least one folder pattern and a state file of their own. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sync/config.h"
#include "tests/fuzz/fuzz.h"

/* The parser reads $HOME and $XDG_STATE_HOME (default state, ~) and any
 * $VAR in a path: fix them, so that an input means the same on every
 * machine. $MAILDIR lets seeds exercise expansion. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setenv("HOME", "/home/fuzz", 1);
	setenv("MAILDIR", "/var/mail/fuzz", 1);
	unsetenv("XDG_STATE_HOME");
	unsetenv("XDG_CONFIG_HOME");
	unsetenv("FERRY_CONFIG");
	return 0;
}

static bool is_empty(const struct config *cfg)
{
	static const struct config empty;

	return memcmp(cfg, &empty, sizeof(empty)) == 0;
}

/* What check_name in config.c allows: they become file names. */
static bool name_ok(const char *name)
{
	if (!name || !*name || name[0] == '-' || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (const char *s = name; *s; s++) {
		char c = *s;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* Values reach IMAP commands and /bin/sh: a tab, but no other control
 * character, may be in them. */
static bool value_ok(const char *s)
{
	if (!s)
		return true;
	if (!*s)
		return false;
	for (; *s; s++)
		if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
			return false;
	return true;
}

static bool path_ok(const char *s)
{
	return s && s[0] == '/' && value_ok(s);
}

static void check_imap(const struct store_conf *s)
{
	const struct imap_conf *c = &s->imap;

	FUZZ_CHECK(!c->host != !c->tunnel, "[imap %s]: host xor tunnel", s->name);
	FUZZ_CHECK(!(c->password && c->password_command), "[imap %s]: both secrets", s->name);
	FUZZ_CHECK(c->auth != AUTH_XOAUTH2 || c->password_command, "[imap %s]", s->name);
	FUZZ_CHECK(c->connections >= 1 && c->connections <= 32, "[imap %s]: %d", s->name,
		   c->connections);
	FUZZ_CHECK(c->timeout >= 1 && c->timeout <= 3600, "[imap %s]: %d", s->name, c->timeout);
	FUZZ_CHECK(value_ok(c->host) && value_ok(c->user) && value_ok(c->password) &&
		       value_ok(c->password_command) && value_ok(c->tunnel),
		   "[imap %s]: a value with a control character", s->name);
	FUZZ_CHECK(!c->ca_file || path_ok(c->ca_file), "[imap %s]: ca_file", s->name);
	if (c->tunnel) {
		FUZZ_CHECK(c->port == 0 && c->tls == TLS_NONE && !c->ca_file && !c->has_fingerprint,
			   "[imap %s]: tunnel with network settings", s->name);
		return;
	}
	FUZZ_CHECK(c->user, "[imap %s]: no user", s->name);
	FUZZ_CHECK(c->password || c->password_command, "[imap %s]: no secret", s->name);
	FUZZ_CHECK(c->port >= 1 && c->port <= 65535, "[imap %s]: port %d", s->name, c->port);
	FUZZ_CHECK(c->tls == TLS_IMPLICIT || c->tls == TLS_STARTTLS || c->tls == TLS_NONE,
		   "[imap %s]", s->name);
}

static void check_stores(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->nstores; i++) {
		const struct store_conf *s = &cfg->stores[i];

		FUZZ_CHECK(name_ok(s->name), "store %zu has a bad name", i);
		FUZZ_CHECK(config_find_store(cfg, s->name) == s, "store '%s' twice", s->name);
		FUZZ_CHECK(s->line > 0, "store '%s': line %d", s->name, s->line);
		if (s->kind == STORE_IMAP) {
			check_imap(s);
			continue;
		}
		if (s->kind == STORE_POP3) {
			FUZZ_CHECK(s->pop3.user && s->pop3.map, "[pop3 %s]", s->name);
			continue;
		}
		FUZZ_CHECK(s->kind == STORE_MAILDIR, "store '%s': kind %d", s->name, (int)s->kind);
		FUZZ_CHECK(path_ok(s->maildir.path), "[maildir %s]: path", s->name);
		FUZZ_CHECK(s->maildir.layout == LAYOUT_VERBATIM ||
			       s->maildir.layout == LAYOUT_MAILDIRPP,
			   "[maildir %s]", s->name);
	}
}

static bool is_store_of(const struct config *cfg, const struct store_conf *s)
{
	return s && s >= cfg->stores && s < cfg->stores + cfg->nstores;
}

static void check_channel(const struct config *cfg, size_t i)
{
	const struct channel_conf *ch = &cfg->channels[i];
	size_t includes = 0;

	FUZZ_CHECK(name_ok(ch->name), "channel %zu has a bad name", i);
	FUZZ_CHECK(config_find_channel(cfg, ch->name) == ch, "channel '%s' twice", ch->name);
	FUZZ_CHECK(is_store_of(cfg, ch->far) && is_store_of(cfg, ch->near) && ch->far != ch->near,
		   "[channel %s]: far and near", ch->name);
	FUZZ_CHECK(ch->nfolders > 0 && ch->folders, "[channel %s]: no pattern", ch->name);
	for (size_t j = 0; j < ch->nfolders; j++) {
		FUZZ_CHECK(ch->folders[j].glob && *ch->folders[j].glob,
			   "[channel %s]: empty pattern", ch->name);
		includes += !ch->folders[j].exclude;
	}
	FUZZ_CHECK(includes > 0, "[channel %s]: exclusions only", ch->name);
	FUZZ_CHECK(ch->sync == SYNC_BOTH || ch->sync == SYNC_PULL || ch->sync == SYNC_PUSH,
		   "[channel %s]", ch->name);
	FUZZ_CHECK((unsigned)ch->create <= SIDE_BOTH && (unsigned)ch->delete <= SIDE_BOTH &&
		       (unsigned)ch->remove <= SIDE_BOTH,
		   "[channel %s]: a side set out of range", ch->name);
	FUZZ_CHECK(!ch->max_delete_is_percent || ch->max_delete <= 100, "[channel %s]: %u%%",
		   ch->name, ch->max_delete);
	FUZZ_CHECK(path_ok(ch->state), "[channel %s]: state", ch->name);
	for (size_t j = 0; j < i; j++)
		FUZZ_CHECK(strcmp(cfg->channels[j].state, ch->state) != 0,
			   "[channel %s]: state shared with '%s'", ch->name, cfg->channels[j].name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_string(data, size);
	struct config cfg;
	struct ferry_error err = {0};

	if (!text)
		return 0;
	if (config_load_string("fuzz", text, &cfg, &err) < 0) {
		FUZZ_CHECK(is_empty(&cfg), "a failed load left a config behind");
		FUZZ_CHECK(err.status == FERRY_USAGE, "status %d", (int)err.status);
		FUZZ_CHECK(strncmp(err.msg, "fuzz:", 5) == 0, "message \"%s\"", err.msg);
	} else {
		FUZZ_CHECK(cfg.path && strcmp(cfg.path, "fuzz") == 0, "path");
		check_stores(&cfg);
		for (size_t i = 0; i < cfg.nchannels; i++)
			check_channel(&cfg, i);
		config_free(&cfg);
		FUZZ_CHECK(is_empty(&cfg), "config_free left something");
	}
	free(text);
	return 0;
}
