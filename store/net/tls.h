/* The transport under libetpan: ferry's own mailstream_low driver over a TCP
 * socket, OpenSSL on that socket, or a tunnel command's stdin/stdout. The
 * IMAP driver reads it through libetpan, the POP3 driver directly.
 *
 * Owning the transport is how ferry verifies certificates (libetpan's GnuTLS
 * path does not), enforces timeouts (mailimap_set_timeout() does nothing for
 * custom drivers) and returns -1 at end of stream (0 makes libetpan 1.9.4
 * spin forever inside a literal). */
#ifndef FERRY_NET_TLS_H
#define FERRY_NET_TLS_H

#include <stdbool.h>

#include <libetpan/libetpan.h>

#include "store/error.h"
#include "store/net/conf.h"

/* Connects to conf->host:conf->port within conf->timeout. With TLS_IMPLICIT
 * the handshake and verification happen here; with TLS_STARTTLS or TLS_NONE
 * the stream is plain. Returns a new low stream (free it through the
 * mailstream that takes it, or mailstream_low_close + mailstream_low_free),
 * or NULL with err set (status FERRY_CONNECT). */
mailstream_low *net_connect(const struct net_conf *conf, struct ferry_error *err);

/* Starts `/bin/sh -c command` with its stdin and stdout on a socket pair. */
mailstream_low *net_tunnel(const char *command, int timeout, struct ferry_error *err);

/* STARTTLS (IMAP) or STLS (POP3): runs the handshake on the socket of the plain stream and returns
 * a new TLS low stream on the same fd. The caller swaps it in and frees the
 * plain one with mailstream_low_free (which does not close the fd). */
mailstream_low *net_starttls(mailstream_low *plain, const struct net_conf *conf,
			     struct ferry_error *err);

/* "TLSv1.3 TLS_AES_256_GCM_SHA384", "plain" or "tunnel"; static storage. */
const char *net_describe(mailstream_low *low);

/* Whether buffered TLS data is waiting that poll() on the fd would not see. */
int net_pending(mailstream_low *low);

/* Turns this stream's -v trace off while a layer above it (the deflate
 * layer) traces the readable IMAP text instead, or back on. */
void net_set_trace(mailstream_low *low, bool on);

#endif
