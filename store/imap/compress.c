#include "store/imap/compress.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

#include "store/net/trace.h"
#include "store/log.h"

/* Compressed bytes read from the transport at a time, and written at a time. */
#define WIRE_BUFFER 16384
/* Text deflated per write call: bounds the work of one call, and each call
 * ends with a sync flush, which costs a few bytes. */
#define TEXT_CHUNK 65536
/* RFC 4978 section 3: raw deflate (no zlib header), 32 KiB window. */
#define RAW_DEFLATE_BITS (-15)
/* Dovecot's own default for imap_zlib_compress_level, a fair trade-off. */
#define DEFLATE_LEVEL 6

struct zlayer {
	mailstream_low *inner;	  /* owned */
	z_stream zin;		  /* inflate: server -> ferry */
	z_stream zout;		  /* deflate: ferry -> server */
	bool in_ready, out_ready; /* which of the two Init calls succeeded */
	/* The last inflate filled its buffer: zlib may hold more output. */
	bool out_full;
	bool ended;  /* the server sent a final block */
	bool failed; /* the layer's own failure: every later call fails too */
	bool report; /* log the layer's failures (compress_report_errors) */
	char who[64];
	char why[192];
	struct compress_stats stats;
	unsigned char wire_in[WIRE_BUFFER];
	unsigned char wire_out[WIRE_BUFFER];
	/* Text compress_pending inflated to find out whether there is any;
	 * the next reads hand it out first. */
	unsigned char ahead[4096];
	size_t ahead_off, ahead_len;
};

static mailstream_low_driver compress_driver;

__attribute__((format(printf, 2, 3))) static ssize_t fail(struct zlayer *z, const char *fmt, ...)
{
	va_list ap;

	if (z->failed)
		return -1;
	z->failed = true;
	va_start(ap, fmt);
	vsnprintf(z->why, sizeof(z->why), fmt, ap);
	va_end(ap);
	if (z->report)
		log_error("%s: %s", z->who, z->why);
	return -1;
}

/* The low stream's own timeout, if libetpan or ferry set one on the top of
 * the stack, goes to the transport that enforces it. */
static void pass_timeout(mailstream_low *s, struct zlayer *z)
{
	if (s->timeout)
		z->inner->timeout = s->timeout;
}

static ssize_t inflate_error(struct zlayer *z, int r)
{
	switch (r) {
	case Z_DATA_ERROR:
		return fail(z, "the server's compressed data is not valid deflate (%s)",
			    z->zin.msg ? z->zin.msg : "corrupt data");
	case Z_NEED_DICT:
		return fail(z, "the server's compressed data asks for a preset dictionary, "
			       "which COMPRESS=DEFLATE does not use");
	case Z_MEM_ERROR:
		return fail(z, "out of memory while decompressing");
	default:
		return fail(z, "decompressing failed (zlib error %d)", r);
	}
}

/* One inflate call into out, with what input is buffered. Returns the
 * bytes produced (0: more input needed), or -1 for the layer's failure. */
static ssize_t inflate_into(struct zlayer *z, void *out, size_t len)
{
	uInt room = len > UINT_MAX ? UINT_MAX : (uInt)len;
	uInt in_before = z->zin.avail_in;
	int r;

	z->zin.next_out = out;
	z->zin.avail_out = room;
	r = inflate(&z->zin, Z_SYNC_FLUSH);
	if (r != Z_OK && r != Z_BUF_ERROR && r != Z_STREAM_END)
		return inflate_error(z, r);
	z->out_full = z->zin.avail_out == 0;
	if (r == Z_STREAM_END)
		z->ended = true;
	if (z->zin.avail_out != room)
		return (ssize_t)(room - z->zin.avail_out);
	/* RFC 4978 has no end to the compressed stream: a final block means
	 * the server stopped talking deflate. */
	if (z->ended)
		return fail(z, "the server ended its compressed stream (not allowed by RFC 4978)");
	/* Input left and room to spare, yet nothing consumed: zlib is stuck,
	 * and trying again would loop for ever. */
	if (z->zin.avail_in > 0 && z->zin.avail_in == in_before)
		return fail(z, "decompressing made no progress (zlib error %d)", r);
	return 0;
}

static ssize_t deliver(mailstream_low *s, struct zlayer *z, const void *buf, size_t n)
{
	z->stats.text_in += n;
	net_trace(s, 'S', buf, n);
	return (ssize_t)n;
}

/* Returns >0 bytes of IMAP text, or -1: for a failure of the layer, and for
 * the transport's timeout, error or end of stream (its -1 is passed on). */
static ssize_t compress_read(mailstream_low *s, void *buf, size_t len)
{
	struct zlayer *z = s->data;

	if (z->failed || len == 0)
		return -1;
	if (z->ahead_off < z->ahead_len) {
		size_t n = z->ahead_len - z->ahead_off;

		if (n > len)
			n = len;
		memcpy(buf, z->ahead + z->ahead_off, n);
		z->ahead_off += n;
		return deliver(s, z, buf, n);
	}
	for (;;) {
		ssize_t got;

		/* Inflate first even without new input: output that did not fit
		 * the last buffer must come out before the socket is waited on,
		 * or a complete response sits in zlib until the timeout. */
		got = inflate_into(z, buf, len);
		if (got < 0)
			return -1;
		if (got > 0)
			return deliver(s, z, buf, (size_t)got);
		if (z->zin.avail_in > 0)
			continue; /* only a block header or a flush marker was consumed */
		pass_timeout(s, z);
		got = mailstream_low_read(z->inner, z->wire_in, sizeof(z->wire_in));
		if (got <= 0)
			return -1; /* the transport's timeout, error or end of stream */
		z->stats.wire_in += (uint64_t)got;
		z->zin.next_in = z->wire_in;
		z->zin.avail_in = (uInt)got;
	}
}

static int send_all(struct zlayer *z, const unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = mailstream_low_write(z->inner, p, n);

		/* The transport never takes 0 bytes of a write it can do: 0
		 * taken as progress would loop for ever. */
		if (w <= 0)
			return -1;
		z->stats.wire_out += (uint64_t)w;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Deflates up to TEXT_CHUNK bytes and sends them with a sync flush, so the
 * server can read every command as soon as it is written. Returns the bytes
 * taken, or -1. */
static ssize_t compress_write(mailstream_low *s, const void *buf, size_t len)
{
	struct zlayer *z = s->data;
	size_t take = len > TEXT_CHUNK ? TEXT_CHUNK : len;

	if (z->failed)
		return -1;
	if (take == 0)
		return 0;
	pass_timeout(s, z);
	z->zout.next_in = (Bytef *)(uintptr_t)buf; /* zlib's API is not const */
	z->zout.avail_in = (uInt)take;
	do {
		int r;

		z->zout.next_out = z->wire_out;
		z->zout.avail_out = sizeof(z->wire_out);
		r = deflate(&z->zout, Z_SYNC_FLUSH);
		/* Z_BUF_ERROR: nothing left to flush after a full buffer. */
		if (r != Z_OK && r != Z_BUF_ERROR)
			return fail(z, "compressing failed (zlib error %d)", r);
		/* The deflate state has moved on: bytes not sent now can never
		 * be sent, so a failed write ends the stream. */
		if (send_all(z, z->wire_out, sizeof(z->wire_out) - z->zout.avail_out) != 0) {
			z->failed = true;
			return -1;
		}
	} while (z->zout.avail_out == 0);
	if (z->zout.avail_in != 0)
		return fail(z, "compressing left %u bytes behind", z->zout.avail_in);
	z->stats.text_out += take;
	net_trace(s, 'C', buf, take);
	return (ssize_t)take;
}

static int compress_close(mailstream_low *s)
{
	struct zlayer *z = s->data;

	log_trace("compress: sent %llu bytes as %llu, received %llu bytes as %llu",
		  (unsigned long long)z->stats.text_out, (unsigned long long)z->stats.wire_out,
		  (unsigned long long)z->stats.text_in, (unsigned long long)z->stats.wire_in);
	return mailstream_low_close(z->inner);
}

static int compress_get_fd(mailstream_low *s)
{
	return mailstream_low_get_fd(((struct zlayer *)s->data)->inner);
}

static void zlayer_free(struct zlayer *z)
{
	if (z->in_ready)
		(void)inflateEnd(&z->zin); /* only Z_STREAM_ERROR, for a bad state */
	if (z->out_ready)
		(void)deflateEnd(&z->zout); /* Z_DATA_ERROR just says data was pending */
	free(z);
}

/* As the transport's free: the fd is closed by close, not here. */
static void compress_free(mailstream_low *s)
{
	struct zlayer *z = s->data;

	if (z) {
		mailstream_low_free(z->inner);
		zlayer_free(z);
	}
	free(s);
}

static mailstream_low_driver compress_driver = {
    .mailstream_read = compress_read,
    .mailstream_write = compress_write,
    .mailstream_close = compress_close,
    .mailstream_get_fd = compress_get_fd,
    .mailstream_free = compress_free,
};

mailstream_low *compress_open(mailstream_low *inner, struct ferry_error *err)
{
	struct zlayer *z = calloc(1, sizeof(*z));
	mailstream_low *low;
	int r;

	if (!z) {
		ferry_error_set(err, FERRY_CAUSE_INTERNAL, "COMPRESS: out of memory");
		return NULL;
	}
	/* zalloc, zfree, opaque, next_in and avail_in are zero: zlib's
	 * allocator, and no input yet. */
	r = inflateInit2(&z->zin, RAW_DEFLATE_BITS);
	if (r != Z_OK) {
		ferry_error_set(err, FERRY_CAUSE_INTERNAL,
				"COMPRESS: cannot start zlib's inflate: %s",
				z->zin.msg ? z->zin.msg : zError(r));
		zlayer_free(z);
		return NULL;
	}
	z->in_ready = true;
	r = deflateInit2(&z->zout, DEFLATE_LEVEL, Z_DEFLATED, RAW_DEFLATE_BITS, 8,
			 Z_DEFAULT_STRATEGY);
	if (r != Z_OK) {
		ferry_error_set(err, FERRY_CAUSE_INTERNAL,
				"COMPRESS: cannot start zlib's deflate: %s",
				z->zout.msg ? z->zout.msg : zError(r));
		zlayer_free(z);
		return NULL;
	}
	z->out_ready = true;
	z->inner = inner;
	low = mailstream_low_new(z, &compress_driver);
	if (!low) {
		ferry_error_set(err, FERRY_CAUSE_INTERNAL, "COMPRESS: out of memory");
		zlayer_free(z);
		return NULL;
	}
	mailstream_low_set_timeout(low, mailstream_low_get_timeout(inner));
	return low;
}

bool compress_is_layer(const mailstream_low *low)
{
	return low && low->driver == &compress_driver;
}

mailstream_low *compress_inner(mailstream_low *low)
{
	return ((struct zlayer *)low->data)->inner;
}

/* Buffered input may be only a sync-flush marker, and a full buffer may
 * have been all there was: only inflating tells, so this inflates into
 * the look-ahead buffer, without ever reading from the transport. A failed
 * layer counts as pending: a read returns at once, with the error. */
bool compress_pending(mailstream_low *low)
{
	struct zlayer *z = low->data;

	if (z->failed || z->ahead_off < z->ahead_len)
		return true;
	z->ahead_off = z->ahead_len = 0;
	while (z->zin.avail_in > 0 || z->out_full) {
		ssize_t got = inflate_into(z, z->ahead, sizeof(z->ahead));

		if (got != 0) {
			z->ahead_len = got > 0 ? (size_t)got : 0;
			return true;
		}
	}
	return false;
}

const char *compress_error(mailstream_low *low)
{
	return ((struct zlayer *)low->data)->why;
}

void compress_report_errors(mailstream_low *low, const char *who)
{
	struct zlayer *z = low->data;

	snprintf(z->who, sizeof(z->who), "%s", who);
	z->report = true;
}

void compress_get_stats(mailstream_low *low, struct compress_stats *out)
{
	*out = ((struct zlayer *)low->data)->stats;
}

static bool ipv4_is_loopback(const unsigned char a[4])
{
	return a[0] == 127;
}

/* ::1, or ::ffff:127.x.y.z (an IPv4 address on an IPv6 socket). */
static bool ipv6_is_loopback(const struct in6_addr *a)
{
	return IN6_IS_ADDR_LOOPBACK(a) ||
	       (IN6_IS_ADDR_V4MAPPED(a) && ipv4_is_loopback(&a->s6_addr[12]));
}

bool compress_host_is_loopback(const char *host)
{
	unsigned char v4[4];
	struct in6_addr v6;

	if (!host)
		return false;
	if (strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0)
		return true;
	if (inet_pton(AF_INET, host, v4) == 1)
		return ipv4_is_loopback(v4);
	if (inet_pton(AF_INET6, host, &v6) == 1)
		return ipv6_is_loopback(&v6);
	return false;
}

bool compress_addr_is_loopback(const struct sockaddr *sa, socklen_t len)
{
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;

		return ipv4_is_loopback((const unsigned char *)&in->sin_addr.s_addr);
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6))
		return ipv6_is_loopback(
		    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr);
	return false;
}
