/* A tiny TCP relay for ferry's integration tests: it sits between ferry and
 * Dovecot on 127.0.0.1 and can cut or stall a connection once the server has
 * sent a given number of bytes. TLS passes through untouched (it relays
 * bytes), so the certificate still verifies for 127.0.0.1.
 *
 *	relay [-l PORT] [-n BYTES [-s] [-c CONNS]] [-r PORT] [-m CONNS] [-t SECONDS]
 *	      TARGET_PORT
 *
 *	-l PORT     listen on 127.0.0.1:PORT (default: an ephemeral port)
 *	-n BYTES    per connection: once the server has sent BYTES bytes (they are
 *	            forwarded), close both sides of that connection
 *	-s          with -n: stall instead (stop forwarding either way, keep both
 *	            sockets open until the client goes away)
 *	-c CONNS    with -n: cut or stall only the first CONNS connections; later
 *	            ones pass untouched (a client that reconnects gets through)
 *	-r PORT     with -c: later connections go to 127.0.0.1:PORT instead (a
 *	            reconnect reaches another server, e.g. one with a certificate
 *	            the client does not trust)
 *	-m CONNS    accept at most CONNS connections, then stop listening (later
 *	            connections are refused); default no limit
 *	-t SECONDS  exit after this long whatever happens (default 120), so the
 *	            relay never lingers
 *
 * Prints on stdout, each line flushed: "port PORT" once listening, then per
 * connection when it ends "conn N: server->client X client->server Y (how)",
 * where how is "closed", "cut" or "stalled". Exits 0 at the timeout, 1 on
 * errors, 2 on usage errors. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4 */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 64
#define BUF_SIZE  16384

struct pipe_buf {
	char data[BUF_SIZE];
	size_t off, len;
};

struct conn {
	bool used;
	unsigned id;
	int cfd, sfd;
	struct pipe_buf c2s, s2c;
	uint64_t c2s_bytes, s2c_bytes;
	bool client_eof, server_eof;
	uint64_t limit;	    /* -n for this connection; 0: none (see -c) */
	bool limit_reached; /* the server has sent -n bytes */
	bool stalled;
};

static struct conn conns[MAX_CONNS];
static uint64_t limit;	      /* -n; 0: none */
static bool stall_mode;	      /* -s */
static unsigned cut_conns;    /* -c; 0: every connection */
static unsigned max_conns;    /* -m; 0: no limit */
static uint64_t later_target; /* -r; 0: the same target */
static unsigned accepted;

static void usage(void)
{
	fprintf(stderr, "usage: relay [-l PORT] [-n BYTES [-s] [-c CONNS]] [-r PORT] [-m CONNS] "
			"[-t SECONDS] TARGET_PORT\n");
}

static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int connect_target(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || set_nonblock(fd) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void finish(struct conn *c, const char *how)
{
	printf("conn %u: server->client %llu client->server %llu (%s)\n", c->id,
	       (unsigned long long)c->s2c_bytes, (unsigned long long)c->c2s_bytes, how);
	fflush(stdout);
	close(c->cfd);
	close(c->sfd);
	c->used = false;
}

static void accept_one(int lfd, int target)
{
	struct conn *c = NULL;
	int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	int sfd;

	if (cfd < 0)
		return;
	for (size_t i = 0; i < MAX_CONNS && !c; i++)
		if (!conns[i].used)
			c = &conns[i];
	if (later_target && cut_conns && accepted + 1 > cut_conns)
		target = (int)later_target;
	sfd = c ? connect_target(target) : -1;
	if (sfd < 0) {
		fprintf(stderr, "relay: %s\n",
			c ? "cannot connect to the target" : "too many connections");
		close(cfd);
		return;
	}
	memset(c, 0, sizeof(*c));
	c->used = true;
	c->id = ++accepted;
	c->limit = cut_conns && c->id > cut_conns ? 0 : limit;
	c->cfd = cfd;
	c->sfd = sfd;
}

/* Reads what fd has into b; at most `room` bytes. Returns false at EOF or error. */
static bool fill(int fd, struct pipe_buf *b, size_t room)
{
	ssize_t n;

	if (room > BUF_SIZE)
		room = BUF_SIZE;
	n = read(fd, b->data, room);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR;
	if (n == 0)
		return false;
	b->off = 0;
	b->len = (size_t)n;
	return true;
}

/* Writes what b holds to fd. Returns false on error. */
static bool drain(int fd, struct pipe_buf *b)
{
	ssize_t n = write(fd, b->data + b->off, b->len - b->off);

	if (n < 0)
		return errno == EAGAIN || errno == EINTR;
	b->off += (size_t)n;
	if (b->off == b->len)
		b->off = b->len = 0;
	return true;
}

/* One connection's events. Returns false when it ended (finish() called). */
static bool step(struct conn *c, short crev, short srev)
{
	char scratch[BUF_SIZE];

	if (c->stalled) {
		/* Nothing is forwarded any more; only notice the client leaving. */
		if (crev & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(c->cfd, scratch, sizeof(scratch));

			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
				finish(c, "stalled");
				return false;
			}
		}
		return true;
	}
	if ((crev & POLLOUT) && !drain(c->cfd, &c->s2c)) {
		finish(c, "closed");
		return false;
	}
	if ((srev & POLLOUT) && !drain(c->sfd, &c->c2s)) {
		finish(c, "closed");
		return false;
	}
	if ((crev & (POLLIN | POLLHUP | POLLERR)) && c->c2s.len == 0 && !c->client_eof) {
		if (!fill(c->cfd, &c->c2s, BUF_SIZE))
			c->client_eof = true;
		c->c2s_bytes += c->c2s.len;
	}
	if ((srev & (POLLIN | POLLHUP | POLLERR)) && c->s2c.len == 0 && !c->server_eof &&
	    !c->limit_reached) {
		size_t room = BUF_SIZE;

		if (c->limit && c->limit - c->s2c_bytes < room)
			room = (size_t)(c->limit - c->s2c_bytes);
		if (!fill(c->sfd, &c->s2c, room))
			c->server_eof = true;
		c->s2c_bytes += c->s2c.len;
		if (c->limit && c->s2c_bytes >= c->limit)
			c->limit_reached = true;
	}
	/* Once what was read has been passed on: */
	if (c->limit_reached && c->s2c.len == 0) {
		if (!stall_mode) {
			finish(c, "cut");
			return false;
		}
		c->stalled = true;
		return true;
	}
	if ((c->client_eof && c->c2s.len == 0) || (c->server_eof && c->s2c.len == 0)) {
		/* Pass on what the other side still had buffered, best effort. */
		if (c->s2c.len)
			drain(c->cfd, &c->s2c);
		if (c->c2s.len)
			drain(c->sfd, &c->c2s);
		finish(c, "closed");
		return false;
	}
	return true;
}

static void events_for(const struct conn *c, short *cev, short *sev)
{
	*cev = *sev = 0;
	if (c->stalled) {
		*cev = POLLIN;
		return;
	}
	if (c->s2c.len)
		*cev |= POLLOUT;
	else if (!c->server_eof && !c->limit_reached)
		*sev |= POLLIN;
	if (c->c2s.len)
		*sev |= POLLOUT;
	else if (!c->client_eof)
		*cev |= POLLIN;
}

static int listen_on(int port, int *bound)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	socklen_t len = sizeof(a);
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -1;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 16) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
		close(fd);
		return -1;
	}
	*bound = ntohs(a.sin_port);
	return fd;
}

int main(int argc, char **argv)
{
	struct pollfd pfd[1 + 2 * MAX_CONNS];
	struct conn *pc[1 + 2 * MAX_CONNS];
	uint64_t v, listen_port = 0, target, seconds = 120;
	long deadline;
	int opt, lfd, port;

	signal(SIGPIPE, SIG_IGN);
	while ((opt = getopt(argc, argv, "l:n:sc:r:m:t:")) != -1) {
		switch (opt) {
		case 'l':
			if (!parse_u64(optarg, 65535, &listen_port)) {
				usage();
				return 2;
			}
			break;
		case 'n':
			if (!parse_u64(optarg, UINT64_MAX, &limit)) {
				usage();
				return 2;
			}
			break;
		case 's':
			stall_mode = true;
			break;
		case 'c':
			if (!parse_u64(optarg, MAX_CONNS * 1000, &v) || v == 0) {
				usage();
				return 2;
			}
			cut_conns = (unsigned)v;
			break;
		case 'r':
			if (!parse_u64(optarg, 65535, &later_target) || later_target == 0) {
				usage();
				return 2;
			}
			break;
		case 'm':
			if (!parse_u64(optarg, MAX_CONNS * 1000, &v)) {
				usage();
				return 2;
			}
			max_conns = (unsigned)v;
			break;
		case 't':
			if (!parse_u64(optarg, 86400, &seconds) || seconds == 0) {
				usage();
				return 2;
			}
			break;
		default:
			usage();
			return 2;
		}
	}
	if (optind != argc - 1 || !parse_u64(argv[optind], 65535, &target) || target == 0) {
		usage();
		return 2;
	}
	lfd = listen_on((int)listen_port, &port);
	if (lfd < 0) {
		fprintf(stderr, "relay: cannot listen on 127.0.0.1:%llu: %s\n",
			(unsigned long long)listen_port, strerror(errno));
		return 1;
	}
	printf("port %d\n", port);
	fflush(stdout);
	deadline = now_ms() + (long)seconds * 1000;

	for (;;) {
		long left = deadline - now_ms();
		nfds_t n = 0;
		int r;

		if (left <= 0)
			break;
		if (lfd >= 0 && max_conns && accepted >= max_conns) {
			close(lfd); /* further connections are refused */
			lfd = -1;
		}
		if (lfd >= 0) {
			pfd[n] = (struct pollfd){.fd = lfd, .events = POLLIN};
			pc[n++] = NULL;
		}
		for (size_t i = 0; i < MAX_CONNS; i++) {
			short cev, sev;

			if (!conns[i].used)
				continue;
			events_for(&conns[i], &cev, &sev);
			/* No events wanted: a negative fd, so a hang-up there cannot spin. */
			pfd[n] = (struct pollfd){.fd = cev ? conns[i].cfd : -1, .events = cev};
			pc[n++] = &conns[i];
			pfd[n] = (struct pollfd){.fd = sev ? conns[i].sfd : -1, .events = sev};
			pc[n++] = &conns[i];
		}
		r = poll(pfd, n, left > 1000 ? 1000 : (int)left);
		if (r < 0 && errno != EINTR) {
			perror("relay: poll");
			return 1;
		}
		if (r <= 0)
			continue;
		for (nfds_t i = 0; i < n; i++) {
			if (!pc[i]) {
				if (pfd[i].revents & POLLIN)
					accept_one(lfd, (int)target);
				continue;
			}
			/* A connection owns two consecutive entries: client, server. */
			if (pc[i]->used && (pfd[i].revents || pfd[i + 1].revents))
				step(pc[i], pfd[i].revents, pfd[i + 1].revents);
			i++;
		}
	}
	for (size_t i = 0; i < MAX_CONNS; i++)
		if (conns[i].used)
			finish(&conns[i], "ended by the relay's timeout");
	if (lfd >= 0)
		close(lfd);
	return 0;
}
