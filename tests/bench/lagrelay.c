/* lagrelay: a TCP relay on 127.0.0.1 that delays every byte by a fixed time,
 * for the latency mode of tests/bench/run.sh. Built by run.sh; not part of the
 * ferry build.
 *
 *	lagrelay -d MS [-l PORT] [-q KIB] [-t SECONDS] TARGET_PORT
 *
 *	-d MS       round-trip delay added, in milliseconds (may be fractional):
 *	            each direction holds what it reads for MS/2 before writing it on
 *	            (so a command and its answer take MS longer, as over a link
 *	            with that RTT)
 *	-l PORT     listen on 127.0.0.1:PORT (default: an ephemeral port)
 *	-q KIB      at most this much held per direction and connection (default
 *	            4096): reading stops while it is full, like a TCP window; so
 *	            bulk throughput is at most KIB / (MS/2) per connection
 *	-t SECONDS  exit after this long whatever happens (default 3600)
 *
 * Connects each accepted client to 127.0.0.1:TARGET_PORT. TLS passes through
 * untouched (bytes are relayed), so a certificate for 127.0.0.1 still
 * verifies. Prints "port PORT" on stdout once listening (flushed). Bytes keep
 * their order; an end of stream is passed on after the same delay. Not
 * delayed: TCP's own handshake (connect() returns at once). Exits 0 at the
 * time limit or on SIGTERM/SIGINT, 1 on errors, 2 on usage errors. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4, ppoll */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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
#define READ_SIZE 65536

struct chunk {
	struct chunk *next;
	int64_t due; /* ns, CLOCK_MONOTONIC */
	size_t off, len;
	char data[];
};

/* One direction of one connection: from `in` to `out`. */
struct way {
	int in, out;
	struct chunk *head, *tail;
	size_t held;
	bool eof_read;	 /* `in` ended */
	int64_t eof_due; /* when to pass the end on */
	bool eof_sent;	 /* shutdown(out, SHUT_WR) done */
};

struct conn {
	bool used;
	int cfd, sfd;
	struct way up, down; /* client -> server, server -> client */
};

static struct conn conns[MAX_CONNS];
static int64_t delay_ns;
static size_t max_held = 4096 * 1024;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void way_free(struct way *w)
{
	while (w->head) {
		struct chunk *c = w->head;
		w->head = c->next;
		free(c);
	}
	w->tail = NULL;
	w->held = 0;
}

static void conn_close(struct conn *c)
{
	close(c->cfd);
	close(c->sfd);
	way_free(&c->up);
	way_free(&c->down);
	c->used = false;
}

static bool way_done(const struct way *w)
{
	return w->eof_sent;
}

/* Reads what `in` has (if there is room) into a chunk due after the delay.
 * Returns -1 on a hard error. */
static int way_read(struct way *w, int64_t now)
{
	char buf[READ_SIZE];
	ssize_t n;

	if (w->eof_read || w->held >= max_held)
		return 0;
	n = read(w->in, buf, sizeof(buf));
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (n == 0) {
		w->eof_read = true;
		w->eof_due = now + delay_ns;
		return 0;
	}
	struct chunk *c = malloc(sizeof(*c) + (size_t)n);
	if (!c)
		return -1;
	c->next = NULL;
	c->due = now + delay_ns;
	c->off = 0;
	c->len = (size_t)n;
	memcpy(c->data, buf, (size_t)n);
	if (w->tail)
		w->tail->next = c;
	else
		w->head = c;
	w->tail = c;
	w->held += (size_t)n;
	return 0;
}

/* Writes the chunks that are due. Returns -1 on a hard error. */
static int way_write(struct way *w, int64_t now)
{
	while (w->head && w->head->due <= now) {
		struct chunk *c = w->head;
		ssize_t n = write(w->out, c->data + c->off, c->len - c->off);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		c->off += (size_t)n;
		w->held -= (size_t)n;
		if (c->off < c->len)
			return 0;
		w->head = c->next;
		if (!w->head)
			w->tail = NULL;
		free(c);
	}
	if (!w->head && w->eof_read && !w->eof_sent && w->eof_due <= now) {
		shutdown(w->out, SHUT_WR);
		w->eof_sent = true;
	}
	return 0;
}

/* The earliest time this direction has something to do without new input. */
static int64_t way_next_due(const struct way *w)
{
	if (w->head)
		return w->head->due;
	if (w->eof_read && !w->eof_sent)
		return w->eof_due;
	return INT64_MAX;
}

static int connect_target(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	set_nonblock(fd);
	return fd;
}

static void usage(void)
{
	fprintf(stderr, "usage: lagrelay -d MS [-l PORT] [-q KIB] [-t SECONDS] TARGET_PORT\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int opt, listen_port = 0, target, lfd, one = 1;
	double ms = -1;
	long limit = 3600;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t salen = sizeof(sa);

	while ((opt = getopt(argc, argv, "d:l:q:t:")) != -1) {
		switch (opt) {
		case 'd':
			ms = atof(optarg);
			break;
		case 'l':
			listen_port = atoi(optarg);
			break;
		case 'q':
			max_held = (size_t)atol(optarg) * 1024;
			break;
		case 't':
			limit = atol(optarg);
			break;
		default:
			usage();
		}
	}
	if (optind + 1 != argc || ms < 0 || max_held == 0 || limit <= 0)
		usage();
	target = atoi(argv[optind]);
	if (target <= 0 || target > 65535)
		usage();
	delay_ns = (int64_t)(ms * 1e6 / 2);

	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return perror("socket"), 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)listen_port);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 16) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &salen) != 0)
		return perror("bind/listen"), 1;
	set_nonblock(lfd);
	printf("port %d\n", ntohs(sa.sin_port));
	fflush(stdout);

	const int64_t end = now_ns() + (int64_t)limit * 1000000000;
	while (!stop) {
		struct pollfd pfd[1 + 2 * MAX_CONNS];
		nfds_t n = 0;
		int64_t now = now_ns(), wake = end;

		if (now >= end)
			break;
		pfd[n] = (struct pollfd){.fd = lfd, .events = POLLIN};
		n++;
		for (int i = 0; i < MAX_CONNS; i++) {
			struct conn *c = &conns[i];
			if (!c->used)
				continue;
			short ce = 0, se = 0;
			/* Read when there is room; write when something is due. */
			if (!c->up.eof_read && c->up.held < max_held)
				ce |= POLLIN;
			if (!c->down.eof_read && c->down.held < max_held)
				se |= POLLIN;
			if (c->up.head && c->up.head->due <= now)
				se |= POLLOUT;
			if (c->down.head && c->down.head->due <= now)
				ce |= POLLOUT;
			int64_t d = way_next_due(&c->up), e = way_next_due(&c->down);
			if (d < wake)
				wake = d;
			if (e < wake)
				wake = e;
			pfd[n] = (struct pollfd){.fd = c->cfd, .events = ce};
			n++;
			pfd[n] = (struct pollfd){.fd = c->sfd, .events = se};
			n++;
		}
		int64_t wait = wake - now;
		if (wait < 0)
			wait = 0;
		struct timespec ts = {.tv_sec = wait / 1000000000, .tv_nsec = wait % 1000000000};
		int r = ppoll(pfd, n, &ts, NULL);
		if (r < 0 && errno != EINTR)
			return perror("ppoll"), 1;
		now = now_ns();

		if (r > 0 && (pfd[0].revents & POLLIN)) {
			int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (cfd >= 0) {
				int slot = -1;
				for (int i = 0; i < MAX_CONNS && slot < 0; i++)
					if (!conns[i].used)
						slot = i;
				int sfd = slot >= 0 ? connect_target(target) : -1;
				if (sfd < 0) {
					fprintf(stderr, "lagrelay: %s\n",
						slot < 0 ? "too many connections"
							 : "cannot reach the target");
					close(cfd);
				} else {
					struct conn *c = &conns[slot];
					setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one,
						   sizeof(one));
					*c = (struct conn){.used = true, .cfd = cfd, .sfd = sfd};
					c->up = (struct way){.in = cfd, .out = sfd};
					c->down = (struct way){.in = sfd, .out = cfd};
				}
			}
		}
		/* Every connection: read what came in, write what is due. Cheap
		 * enough for the few connections a sync opens. */
		for (int i = 0; i < MAX_CONNS; i++) {
			struct conn *c = &conns[i];
			if (!c->used)
				continue;
			if (way_read(&c->up, now) < 0 || way_read(&c->down, now) < 0 ||
			    way_write(&c->up, now) < 0 || way_write(&c->down, now) < 0 ||
			    (way_done(&c->up) && way_done(&c->down)))
				conn_close(c);
		}
	}
	for (int i = 0; i < MAX_CONNS; i++)
		if (conns[i].used)
			conn_close(&conns[i]);
	close(lfd);
	return 0;
}
