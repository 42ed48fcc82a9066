/* How a POP3 store is configured: a [pop3 NAME] section, as the POP3 driver
 * reads it. The engine reads only keep_seconds (store_conf_keep_seconds). */
#ifndef FERRY_POP3_CONF_H
#define FERRY_POP3_CONF_H

#include <stdbool.h>
#include <stdint.h>

#include "store/net/conf.h"

/* auto: SASL PLAIN when CAPA lists it, else USER/PASS; APOP only asked for. */
enum pop3_auth { POP3_AUTH_AUTO, POP3_AUTH_USER, POP3_AUTH_APOP, POP3_AUTH_PLAIN };

/* A [pop3 NAME] section. Strings are owned by the configuration that holds
 * it (sync/config.c fills it). */
struct pop3_conf {
	char *host; /* NULL when tunnel is set */
	int port;   /* 995 implicit, 110 starttls/no unless given */
	enum tls_mode tls;
	char *user;
	char *password;		/* literal password, or NULL */
	char *password_command; /* run by /bin/sh -c; first line of stdout */
	enum pop3_auth auth;
	char *ca_file; /* NULL: the system's trust store */
	bool has_fingerprint;
	unsigned char fingerprint[32];
	char *tunnel; /* command speaking POP3 on stdin/stdout */
	int timeout;  /* seconds, for every read and write */
	/* -1: keep on the server for ever (keep = yes); 0: delete once
	 * delivered (no); N: delete N seconds after delivery (14d). */
	int64_t keep_seconds;
	/* The UIDL -> uid map (not a key): $XDG_STATE_HOME/ferry/pop3-NAME.sqlite,
	 * else ~/.local/state/ferry/pop3-NAME.sqlite. */
	char *map;
};

#endif
