#include "sync/progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "store/base/grow.h"
#include "store/log.h"

/* Redraws and worker messages, per second at most. */
#define DRAW_NS (1000000000L / 4)
#define SEND_NS (1000000000L / 10)

struct folder_total {
	int64_t folder_id;
	uint64_t msgs, bytes;
	bool planned;
};

static struct {
	bool on;    /* this process draws */
	bool tty;   /* stderr is the terminal the line is on (also in workers) */
	bool shown; /* the line is on the terminal now */
	const char *name;
	size_t nfolders, folders_done;
	struct folder_total *v;
	size_t n, cap;
	uint64_t done_msgs, done_bytes;
	struct timespec start, last;
	/* a worker's */
	int fd;
	void (*send)(int fd, const struct progress_event *ev);
	uint64_t unsent_msgs, unsent_bytes;
} P = {.fd = -1};

static int64_t since_ns(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)(now.tv_sec - t->tv_sec) * 1000000000L + (now.tv_nsec - t->tv_nsec);
}

void progress_start(const char *name, size_t nfolders)
{
	P.tty = isatty(STDERR_FILENO) && log_get_level() >= LOG_NORMAL;
	P.on = P.tty;
	P.name = name;
	P.nfolders = nfolders;
	P.folders_done = 0;
	P.done_msgs = P.done_bytes = 0;
	P.n = 0;
	clock_gettime(CLOCK_MONOTONIC, &P.start);
	P.last = (struct timespec){0};
	if (P.tty)
		log_set_before(progress_clear);
}

static struct folder_total *entry(int64_t folder_id)
{
	struct folder_total *nv;

	for (size_t i = 0; i < P.n; i++)
		if (P.v[i].folder_id == folder_id)
			return &P.v[i];
	nv = grow_array(P.v, &P.cap, P.n + 1, sizeof(*nv));
	if (!nv)
		return NULL; /* the line then undercounts; nothing else suffers */
	P.v = nv;
	P.v[P.n] = (struct folder_total){.folder_id = folder_id};
	return &P.v[P.n++];
}

/* "1,204" */
static void thousands(char *buf, size_t len, uint64_t n)
{
	char digits[24];
	int nd = snprintf(digits, sizeof(digits), "%llu", (unsigned long long)n);
	size_t o = 0;

	for (int i = 0; i < nd && o + 2 < len; i++) {
		if (i > 0 && (nd - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o] = '\0';
}

static void eta(char *buf, size_t len, double seconds)
{
	long s = (long)(seconds + 0.5);

	if (s >= 3600)
		snprintf(buf, len, ", ETA %ldh%02ldm", s / 3600, s / 60 % 60);
	else if (s >= 60)
		snprintf(buf, len, ", ETA %ldm%02lds", s / 60, s % 60);
	else
		snprintf(buf, len, ", ETA %lds", s);
}

static void draw(bool force)
{
	uint64_t msgs = 0, bytes = 0;
	double elapsed = (double)since_ns(&P.start) / 1e9, rate;
	char line[256], done[32], total[32], tail[48] = "";
	struct winsize ws;
	size_t width = 80, len;

	if (!P.on || (!force && P.last.tv_sec && since_ns(&P.last) < DRAW_NS))
		return;
	clock_gettime(CLOCK_MONOTONIC, &P.last);
	for (size_t i = 0; i < P.n; i++) {
		msgs += P.v[i].msgs;
		bytes += P.v[i].bytes;
	}
	if (msgs < P.done_msgs)
		msgs = P.done_msgs;
	if (bytes < P.done_bytes)
		bytes = P.done_bytes;
	thousands(done, sizeof(done), P.done_msgs);
	thousands(total, sizeof(total), msgs);
	rate = elapsed > 0.5 ? (double)P.done_bytes / elapsed : 0;
	if (rate > 0 && bytes > P.done_bytes)
		eta(tail, sizeof(tail), (double)(bytes - P.done_bytes) / rate);
	snprintf(line, sizeof(line), "%s: folder %zu/%zu, %s/%s msgs, %.0f/%.0f MB, %.1f MB/s%s",
		 P.name, P.folders_done, P.nfolders, done, total, (double)P.done_bytes / 1048576,
		 (double)bytes / 1048576, rate / 1048576, tail);
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1)
		width = ws.ws_col;
	len = strlen(line);
	if (len >= width) /* a wrapped line could not be taken back with \r */
		line[width - 1] = '\0';
	fprintf(stderr, "\r\033[K%s", line);
	fflush(stderr);
	P.shown = true;
}

void progress_estimate(int64_t folder_id, uint64_t msgs, uint64_t bytes)
{
	struct folder_total *t;

	if (!P.on || !(t = entry(folder_id)) || t->planned)
		return;
	t->msgs = msgs;
	t->bytes = bytes;
}

static void send_event(enum progress_kind kind, int64_t folder_id, uint64_t msgs, uint64_t bytes)
{
	struct progress_event ev = {
	    .kind = kind, .folder_id = folder_id, .msgs = msgs, .bytes = bytes};

	P.send(P.fd, &ev);
}

static void flush_copied(void)
{
	if (P.unsent_msgs || P.unsent_bytes)
		send_event(PROGRESS_COPIED, 0, P.unsent_msgs, P.unsent_bytes);
	P.unsent_msgs = P.unsent_bytes = 0;
	clock_gettime(CLOCK_MONOTONIC, &P.last);
}

void progress_planned(int64_t folder_id, uint64_t msgs, uint64_t bytes)
{
	struct progress_event ev = {PROGRESS_PLANNED, folder_id, msgs, bytes};

	if (P.fd >= 0) {
		flush_copied();
		send_event(PROGRESS_PLANNED, folder_id, msgs, bytes);
		return;
	}
	progress_receive(&ev);
}

void progress_copied(uint64_t bytes)
{
	struct progress_event ev = {PROGRESS_COPIED, 0, 1, bytes};

	if (P.fd >= 0) {
		P.unsent_msgs++;
		P.unsent_bytes += bytes;
		if (since_ns(&P.last) >= SEND_NS)
			flush_copied();
		return;
	}
	progress_receive(&ev);
}

void progress_receive(const struct progress_event *ev)
{
	struct folder_total *t;

	if (!P.on)
		return;
	if (ev->kind == PROGRESS_COPIED) {
		P.done_msgs += ev->msgs;
		P.done_bytes += ev->bytes;
	} else if ((t = entry(ev->folder_id))) {
		if (!t->planned)
			t->msgs = t->bytes = 0;
		t->planned = true;
		t->msgs += ev->msgs;
		t->bytes += ev->bytes;
	}
	draw(false);
}

void progress_folder_done(void)
{
	if (!P.on)
		return;
	P.folders_done++;
	draw(false);
}

void progress_flush(void)
{
	if (P.fd >= 0)
		flush_copied();
}

void progress_send_to(int fd, void (*send)(int fd, const struct progress_event *ev))
{
	/* The parent draws; a worker only takes the line off before it logs. */
	P.fd = P.on ? fd : -1;
	P.send = send;
	P.on = false;
	P.unsent_msgs = P.unsent_bytes = 0;
	clock_gettime(CLOCK_MONOTONIC, &P.last);
}

void progress_clear(void)
{
	/* A worker clears its parent's line too: it shares the terminal. */
	if (P.tty && (P.shown || !P.on)) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
	P.shown = false;
}

void progress_end(void)
{
	if (P.tty)
		progress_clear();
	log_set_before(NULL);
	free(P.v);
	P.v = NULL;
	P.n = P.cap = 0;
	P.on = P.tty = false;
}
