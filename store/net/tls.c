#include "store/net/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "store/net/trace.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* The driver's private data, one per low stream. */
struct net {
	int fd;	 /* read side; also the write side except for tunnels */
	int wfd; /* write side */
	SSL_CTX *ctx;
	SSL *ssl;
	pid_t tunnel_pid; /* 0 unless this is a tunnel */
	int timeout;	  /* seconds, used when the low stream has none */
	bool trace;	  /* -v trace here (false under the deflate layer) */
};

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Waits until fd is ready for events; 1 ready, 0 timed out, -1 error.
 * Restarts after signals without extending the deadline. */
static int wait_fd(int fd, short events, int timeout_s)
{
	long deadline = now_ms() + timeout_s * 1000L;

	for (;;) {
		struct pollfd p = {.fd = fd, .events = events};
		long left = deadline - now_ms();
		int r;

		if (left <= 0)
			return 0;
		r = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r > 0)
			return 1;
		if (r == 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

static int stream_timeout(mailstream_low *s)
{
	struct net *n = s->data;

	return s->timeout ? (int)s->timeout : n->timeout;
}

/* The -v trace of what passes through this stream, unless a layer above
 * (the deflate layer) traces the IMAP text instead. */
static ssize_t traced(mailstream_low *s, char dir, const void *buf, ssize_t r)
{
	struct net *n = s->data;

	if (r > 0 && n->trace)
		net_trace(s, dir, buf, (size_t)r);
	return r;
}

/* Returns >0 bytes read, or -1 for error, timeout and end of stream alike. */
static ssize_t net_read(mailstream_low *s, void *buf, size_t len)
{
	struct net *n = s->data;
	int chunk = len > INT_MAX ? INT_MAX : (int)len;

	for (;;) {
		short events = POLLIN;

		if (n->ssl) {
			int r;

			ERR_clear_error();
			r = SSL_read(n->ssl, buf, chunk);
			if (r > 0)
				return traced(s, 'S', buf, r);
			switch (SSL_get_error(n->ssl, r)) {
			case SSL_ERROR_WANT_READ:
				break;
			case SSL_ERROR_WANT_WRITE:
				events = POLLOUT;
				break;
			default:
				return -1;
			}
		} else {
			ssize_t r = read(n->fd, buf, len);

			if (r > 0)
				return traced(s, 'S', buf, r);
			if (r == 0)
				return -1;
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -1;
		}
		if (wait_fd(n->fd, events, stream_timeout(s)) <= 0)
			return -1;
	}
}

static ssize_t net_write(mailstream_low *s, const void *buf, size_t len)
{
	struct net *n = s->data;
	int chunk = len > INT_MAX ? INT_MAX : (int)len;

	for (;;) {
		short events = POLLOUT;

		if (n->ssl) {
			int r;

			ERR_clear_error();
			r = SSL_write(n->ssl, buf, chunk);
			if (r > 0)
				return traced(s, 'C', buf, r);
			switch (SSL_get_error(n->ssl, r)) {
			case SSL_ERROR_WANT_READ:
				events = POLLIN;
				break;
			case SSL_ERROR_WANT_WRITE:
				break;
			default:
				return -1;
			}
		} else {
			ssize_t r = n->tunnel_pid ? write(n->wfd, buf, len)
						  : send(n->fd, buf, len, MSG_NOSIGNAL);

			if (r >= 0)
				return traced(s, 'C', buf, r);
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -1;
		}
		if (wait_fd(events == POLLOUT && !n->ssl ? n->wfd : n->fd, events,
			    stream_timeout(s)) <= 0)
			return -1;
	}
}

/* Reaps the tunnel command, bounded: it normally exits at EOF on its stdin. */
static void reap_tunnel(pid_t pid)
{
	static const int signals[] = {0, SIGTERM, SIGKILL};

	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
		if (signals[i])
			kill(pid, signals[i]);
		for (int tries = 0; tries < 40; tries++) {
			pid_t r = waitpid(pid, NULL, WNOHANG);

			if (r == pid || (r < 0 && errno != EINTR))
				return;
			nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
		}
	}
}

static int net_close(mailstream_low *s)
{
	struct net *n = s->data;

	if (n->ssl)
		SSL_shutdown(n->ssl); /* one non-blocking try: a dead peer must not stall us */
	if (n->wfd >= 0 && n->wfd != n->fd)
		close(n->wfd);
	if (n->fd >= 0)
		close(n->fd);
	n->fd = n->wfd = -1;
	if (n->tunnel_pid > 0)
		reap_tunnel(n->tunnel_pid);
	n->tunnel_pid = 0;
	return 0;
}

static int net_get_fd(mailstream_low *s)
{
	return ((struct net *)s->data)->fd;
}

/* Frees without closing the fd: STARTTLS hands the fd to a new stream. */
static void net_free(mailstream_low *s)
{
	struct net *n = s->data;

	if (n) {
		SSL_free(n->ssl);
		SSL_CTX_free(n->ctx);
		free(n);
	}
	free(s);
}

static mailstream_low_driver net_driver = {
    .mailstream_read = net_read,
    .mailstream_write = net_write,
    .mailstream_close = net_close,
    .mailstream_get_fd = net_get_fd,
    .mailstream_free = net_free,
};

static mailstream_low *wrap(int fd, int wfd, SSL_CTX *ctx, SSL *ssl, pid_t pid, int timeout,
			    struct ferry_error *err)
{
	struct net *n = calloc(1, sizeof(*n));
	mailstream_low *low;

	if (!n) {
		ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		return NULL;
	}
	*n = (struct net){.fd = fd,
			  .wfd = wfd,
			  .ctx = ctx,
			  .ssl = ssl,
			  .tunnel_pid = pid,
			  .timeout = timeout,
			  .trace = true};
	low = mailstream_low_new(n, &net_driver);
	if (!low) {
		free(n);
		ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		return NULL;
	}
	mailstream_low_set_timeout(low, timeout);
	return low;
}

static int tcp_connect(const char *host, int port, int timeout, struct ferry_error *err)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res, *ai;
	char service[16];
	int r, fd = -1, last_errno = 0;

	snprintf(service, sizeof(service), "%d", port);
	r = getaddrinfo(host, service, &hints, &res);
	if (r != 0) {
		ferry_error_set(err, FERRY_CAUSE_NETWORK, "cannot connect to %s:%d: %s", host, port,
				gai_strerror(r));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		int soerr = 0, one = 1;
		socklen_t l = sizeof(soerr);

		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			last_errno = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			r = wait_fd(fd, POLLOUT, timeout);
			if (r > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &l) == 0 &&
			    soerr == 0) {
				(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				break;
			}
			last_errno = r == 0 ? ETIMEDOUT : (soerr ? soerr : errno);
		} else {
			last_errno = errno;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		ferry_error_set(err, FERRY_CAUSE_NETWORK, "cannot connect to %s:%d: %s", host, port,
				strerror(last_errno ? last_errno : EHOSTUNREACH));
	return fd;
}

static void hex_fingerprint(const unsigned char *md, char *out, size_t outlen)
{
	size_t o = 0;

	for (int i = 0; i < 32 && o + 4 <= outlen; i++)
		o += (size_t)snprintf(out + o, outlen - o, "%s%02X", i ? ":" : "", md[i]);
}

/* SHA-256 of the peer certificate (DER), as `openssl x509 -fingerprint -sha256`. */
static int peer_fingerprint(SSL *ssl, unsigned char md[32])
{
	X509 *cert = SSL_get1_peer_certificate(ssl);
	unsigned int len = 0;
	int ok;

	if (!cert)
		return -1;
	ok = X509_digest(cert, EVP_sha256(), md, &len) == 1 && len == 32;
	X509_free(cert);
	return ok ? 0 : -1;
}

/* The certificate the server sent, as the verify callback saw it. OpenSSL
 * records the peer certificate in the session only once it has verified, so
 * after a failed verification SSL_get1_peer_certificate() has nothing, and
 * the fingerprint the user needs to pin it would be lost. */
struct seen_cert {
	unsigned char md[32];
	bool have;
};

/* Verify callback: notes the SHA-256 of the server's own certificate (the
 * one being verified, whichever chain link is at hand) and changes nothing
 * of the verdict. The SSL's app data points to a struct seen_cert during the
 * handshake only, NULL after it (a renegotiation verifies again). */
static int see_cert(int preverify_ok, X509_STORE_CTX *store)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct seen_cert *seen = ssl ? SSL_get_app_data(ssl) : NULL;
	X509 *cert = X509_STORE_CTX_get0_cert(store);
	unsigned int len = 0;

	if (seen && !seen->have && cert && X509_digest(cert, EVP_sha256(), seen->md, &len) == 1 &&
	    len == 32)
		seen->have = true;
	return preverify_ok;
}

static bool is_ip_literal(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static void openssl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();

	if (e)
		ERR_error_string_n(e, buf, len);
	else
		snprintf(buf, len, "%s", errno ? strerror(errno) : "connection closed");
	ERR_clear_error();
}

/* The fingerprint is printed as the config key `fingerprint` reads it, so
 * that pinning a self-signed server is one copy and paste. */
static void verify_failure(SSL *ssl, const struct net_conf *c, const struct seen_cert *seen,
			   struct ferry_error *err)
{
	long v = SSL_get_verify_result(ssl);
	char fp[100];

	if (!seen->have) {
		ferry_error_set(
		    err, FERRY_CAUSE_TLS,
		    "TLS: the certificate of %s is not trusted: %s (and its fingerprint "
		    "could not be read)",
		    c->host, X509_verify_cert_error_string(v));
		return;
	}
	hex_fingerprint(seen->md, fp, sizeof(fp));
	if (v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH)
		ferry_error_set(err, FERRY_CAUSE_TLS,
				"TLS: the certificate of %s is not valid for that name "
				"(certificate sha256:%s)",
				c->host, fp);
	else
		ferry_error_set(err, FERRY_CAUSE_TLS,
				"TLS: the certificate of %s is not trusted: %s; set ca_file, or "
				"pin this certificate with: fingerprint = sha256:%s",
				c->host, X509_verify_cert_error_string(v), fp);
}

/* Handshake on fd, verifying as the config says; returns the SSL or NULL. */
static SSL *tls_handshake(int fd, const struct net_conf *c, SSL_CTX **ctxp, struct ferry_error *err)
{
	bool pin_only = c->has_fingerprint && !c->ca_file;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = NULL;
	struct seen_cert seen = {.have = false};
	char why[256];

	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION))
		goto openssl_fail;
	if (pin_only) {
		/* The pin names the exact certificate: no chain or name to check. */
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, see_cert);
		if (c->ca_file) {
			if (SSL_CTX_load_verify_locations(ctx, c->ca_file, NULL) != 1) {
				openssl_reason(why, sizeof(why));
				ferry_error_set(err, FERRY_CAUSE_TLS, "ca_file %s: cannot load: %s",
						c->ca_file, why);
				goto fail;
			}
		} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
			goto openssl_fail;
		}
	}
	ssl = SSL_new(ctx);
	if (!ssl || SSL_set_fd(ssl, fd) != 1 || SSL_set_app_data(ssl, &seen) != 1)
		goto openssl_fail;
	/* SNI is for names only (RFC 6066); SSL_set1_host checks IP SANs too. */
	if (!is_ip_literal(c->host) && SSL_set_tlsext_host_name(ssl, c->host) != 1)
		goto openssl_fail;
	if (!pin_only && SSL_set1_host(ssl, c->host) != 1)
		goto openssl_fail;

	for (;;) {
		int r, w;

		ERR_clear_error();
		errno = 0;
		r = SSL_connect(ssl);
		if (r == 1)
			break;
		switch (SSL_get_error(ssl, r)) {
		case SSL_ERROR_WANT_READ:
			w = wait_fd(fd, POLLIN, c->timeout);
			break;
		case SSL_ERROR_WANT_WRITE:
			w = wait_fd(fd, POLLOUT, c->timeout);
			break;
		default:
			if (SSL_get_verify_result(ssl) != X509_V_OK) {
				verify_failure(ssl, c, &seen, err);
			} else {
				openssl_reason(why, sizeof(why));
				ferry_error_set(err, FERRY_CAUSE_TLS,
						"TLS handshake with %s:%d failed: %s", c->host,
						c->port, why);
			}
			goto fail;
		}
		if (w <= 0) {
			ferry_error_set(err, FERRY_CAUSE_TLS, "TLS handshake with %s:%d timed out",
					c->host, c->port);
			goto fail;
		}
	}
	/* seen lives on this stack: a later renegotiation must not write to it. */
	if (SSL_set_app_data(ssl, NULL) != 1)
		goto openssl_fail;

	if (c->has_fingerprint) {
		unsigned char md[32];
		char got[100] = "unknown", want[100];
		bool have = peer_fingerprint(ssl, md) == 0;

		if (!have || memcmp(md, c->fingerprint, 32) != 0) {
			if (have)
				hex_fingerprint(md, got, sizeof(got));
			hex_fingerprint(c->fingerprint, want, sizeof(want));
			ferry_error_set(err, FERRY_CAUSE_TLS,
					"TLS: the certificate of %s (sha256:%s) does not match the "
					"pinned fingerprint sha256:%s",
					c->host, got, want);
			goto fail;
		}
	}
	*ctxp = ctx;
	return ssl;

openssl_fail:
	openssl_reason(why, sizeof(why));
	ferry_error_set(err, FERRY_CAUSE_TLS, "TLS setup for %s failed: %s", c->host, why);
fail:
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	return NULL;
}

mailstream_low *net_connect(const struct net_conf *c, struct ferry_error *err)
{
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	mailstream_low *low;
	int fd = tcp_connect(c->host, c->port, c->timeout, err);

	if (fd < 0)
		return NULL;
	if (c->tls == TLS_IMPLICIT) {
		ssl = tls_handshake(fd, c, &ctx, err);
		if (!ssl) {
			close(fd);
			return NULL;
		}
	}
	low = wrap(fd, fd, ctx, ssl, 0, c->timeout, err);
	if (!low) {
		SSL_free(ssl);
		SSL_CTX_free(ctx);
		close(fd);
	}
	return low;
}

mailstream_low *net_starttls(mailstream_low *plain, const struct net_conf *c,
			     struct ferry_error *err)
{
	SSL_CTX *ctx = NULL;
	int fd = mailstream_low_get_fd(plain);
	SSL *ssl = tls_handshake(fd, c, &ctx, err);
	mailstream_low *low;

	if (!ssl)
		return NULL;
	low = wrap(fd, fd, ctx, ssl, 0, c->timeout, err);
	if (!low) {
		SSL_free(ssl);
		SSL_CTX_free(ctx);
	}
	return low;
}

/* Two pipes, not a socket pair: Dovecot's imap refuses a socket on its
 * stdout ("must not be started from inetd"). */
mailstream_low *net_tunnel(const char *command, int timeout, struct ferry_error *err)
{
	int in[2], out[2]; /* in: child's stdin; out: child's stdout */
	mailstream_low *low;
	pid_t pid;

	if (pipe2(in, O_CLOEXEC) != 0) {
		ferry_error_set(err, FERRY_CAUSE_NETWORK, "tunnel: pipe: %s", strerror(errno));
		return NULL;
	}
	if (pipe2(out, O_CLOEXEC) != 0) {
		ferry_error_set(err, FERRY_CAUSE_NETWORK, "tunnel: pipe: %s", strerror(errno));
		close(in[0]);
		close(in[1]);
		return NULL;
	}
	pid = fork();
	if (pid < 0) {
		ferry_error_set(err, FERRY_CAUSE_NETWORK, "tunnel: fork: %s", strerror(errno));
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		return NULL;
	}
	if (pid == 0) {
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		execl("/bin/sh", "sh", "-c", command, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	if (fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK) != 0 ||
	    fcntl(in[1], F_SETFL, fcntl(in[1], F_GETFL) | O_NONBLOCK) != 0) {
		ferry_error_set(err, FERRY_CAUSE_NETWORK, "tunnel: fcntl: %s", strerror(errno));
		goto fail;
	}
	low = wrap(out[0], in[1], NULL, NULL, pid, timeout, err);
	if (low)
		return low;
fail:
	close(out[0]);
	close(in[1]);
	reap_tunnel(pid);
	return NULL;
}

const char *net_describe(mailstream_low *low)
{
	static char desc[128];
	struct net *n = low->data;

	if (n->tunnel_pid)
		return "tunnel";
	if (!n->ssl)
		return "plain";
	snprintf(desc, sizeof(desc), "%s %s", SSL_get_version(n->ssl),
		 SSL_CIPHER_get_name(SSL_get_current_cipher(n->ssl)));
	return desc;
}

int net_pending(mailstream_low *low)
{
	struct net *n = low->data;

	return n->ssl ? SSL_pending(n->ssl) : 0;
}

void net_set_trace(mailstream_low *low, bool on)
{
	((struct net *)low->data)->trace = on;
}
