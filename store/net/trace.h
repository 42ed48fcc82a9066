/* The -v protocol trace of an IMAP or POP3 session. It runs in whichever low
 * stream sits on top (the transport, or the deflate layer once IMAP's
 * COMPRESS is on), so the trace always shows the protocol text, never TLS
 * records or deflate bytes. */
#ifndef FERRY_NET_TRACE_H
#define FERRY_NET_TRACE_H

#include <stddef.h>

#include <libetpan/libetpan.h>

/* Traces len bytes that went out (dir 'C') or came in ('S') on s, when -v is
 * on. Sent bytes are redacted while libetpan has cleared s->privacy (it does
 * while it sends a password), and LOGIN/AUTHENTICATE lines are cut after the
 * command word in case a path does not. */
void net_trace(mailstream_low *s, char dir, const void *buf, size_t len);

#endif
