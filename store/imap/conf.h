/* How an IMAP store is configured: an [imap NAME] section, as the IMAP
 * driver reads it. The engine never does: it passes the struct store_conf
 * that holds it to store_open. */
#ifndef FERRY_IMAP_CONF_H
#define FERRY_IMAP_CONF_H

#include <stdbool.h>

#include "store/net/conf.h"

enum auth_mech { AUTH_AUTO, AUTH_PLAIN, AUTH_LOGIN, AUTH_XOAUTH2, AUTH_OAUTHBEARER };
enum compress_mode { COMPRESS_AUTO, COMPRESS_YES, COMPRESS_NO };

/* An [imap NAME] section. Strings are owned by the
 * configuration that holds it (sync/config.c fills it). */
struct imap_conf {
	char *host; /* NULL when tunnel is set */
	int port;   /* 993 implicit, 143 starttls/none unless given */
	enum tls_mode tls;
	char *user;
	char *password;		/* literal password, or NULL */
	char *password_command; /* run by /bin/sh -c; first line of stdout */
	enum auth_mech auth;
	char *ca_file;	      /* NULL: the system's trust store */
	bool has_fingerprint; /* pin: SHA-256 of the certificate (DER) */
	unsigned char fingerprint[32];
	char *tunnel; /* command speaking IMAP (PREAUTH) on stdin/stdout */
	int connections;
	int timeout; /* seconds, for every read and write */
	/* COMPRESS=DEFLATE: auto is on except to loopback and through tunnels */
	enum compress_mode compress;
	/* The server's spelling of the folder prefix ("INBOX."), for a server
	 * without NAMESPACE; it wins over NAMESPACE's. NULL: the server's. */
	char *prefix;
};

#endif
