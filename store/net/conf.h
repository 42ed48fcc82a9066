/* What the shared transport (store/net/tls.c) needs of a store's section:
 * where to connect and how to trust it. The IMAP and POP3 drivers each fill
 * one from their own configuration when they connect. */
#ifndef FERRY_NET_CONF_H
#define FERRY_NET_CONF_H

#include <stdbool.h>

enum tls_mode { TLS_IMPLICIT, TLS_STARTTLS, TLS_NONE };

struct net_conf {
	const char *host;
	int port;
	enum tls_mode tls;
	const char *ca_file; /* NULL: the system's trust store */
	bool has_fingerprint;
	const unsigned char *fingerprint; /* 32 bytes: SHA-256 of the certificate */
	int timeout;			  /* seconds, for every read and write */
};

#endif
