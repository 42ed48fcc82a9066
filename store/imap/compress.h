/* COMPRESS=DEFLATE (RFC 4978): a second mailstream_low driver stacked on
 * ferry's transport (tls.c), raw deflate out and raw inflate in.
 *
 * libetpan's own mailimap_compress() cannot be used: Debian's libetpan is
 * built without zlib, so it sends COMPRESS, the server starts deflating and
 * the session dies (libetpan.md, summary point 6). This layer keeps the
 * transport's contract: reads return >0 or -1 (timeout, error and end of
 * stream alike, never 0), timeouts are the transport's, and the -v trace
 * shows the IMAP text rather than deflate bytes. */
#ifndef FERRY_IMAP_COMPRESS_H
#define FERRY_IMAP_COMPRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <libetpan/libetpan.h>

#include "store/error.h"

/* Stacks a deflate layer on inner. On success the new low stream owns
 * inner: closing it closes inner, freeing it frees inner. On failure
 * (out of memory, zlib refused to start) returns NULL with err set
 * (FERRY_CONNECT) and inner is still the caller's. */
mailstream_low *compress_open(mailstream_low *inner, struct ferry_error *err);

/* Whether low is a deflate layer made by compress_open. */
bool compress_is_layer(const mailstream_low *low);

/* The stream a deflate layer wraps. */
mailstream_low *compress_inner(mailstream_low *low);

/* Whether a read would return data without waiting on the socket: compressed
 * input not yet inflated, or inflated output that did not fit the last
 * read. IDLE must check this (and the transport's own buffer below, see
 * net_pending) before it polls the fd. */
bool compress_pending(mailstream_low *low);

/* Why the layer itself failed (corrupt or ended deflate data, a zlib
 * error), or "" when it did not; a failure of the transport below is not
 * the layer's and leaves this empty. Valid until the stream is freed. */
const char *compress_error(mailstream_low *low);

/* From now on the layer's own failures are also logged as errors,
 * prefixed with who (e.g. the store's name): libetpan reports them only as
 * a lost connection. */
void compress_report_errors(mailstream_low *low, const char *who);

/* Bytes through the layer so far: IMAP text in each direction, and what it
 * took on the wire (what the transport below carried). */
struct compress_stats {
	uint64_t text_out, wire_out;
	uint64_t text_in, wire_in;
};
void compress_get_stats(mailstream_low *low, struct compress_stats *out);

/* compress = auto leaves loopback connections uncompressed: deflate costs
 * CPU on both sides and saves nothing there. host is loopback when it is
 * "localhost" or an address literal in 127.0.0.0/8 or ::1 (also as
 * ::ffff:127.x.y.z); an address is loopback by the same rules. */
bool compress_host_is_loopback(const char *host);
bool compress_addr_is_loopback(const struct sockaddr *sa, socklen_t len);

#endif
