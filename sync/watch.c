/* `ferry watch`. The parent only waits and decides; every store is opened
 * in a child (the parent never touches libetpan):
 *
 *   watchers  one per folder in `watch` on each server side (IDLE on a
 *             connection of its own), one per local store (inotify on the
 *             whole tree), each writing a record to its pipe when its side
 *             may have changed, naming the folder where it can; a watcher
 *             that fails is started again after a backoff of 1 s doubling
 *             up to 5 min, with jitter;
 *   syncs     channel_sync_folders of the folders the watchers named since
 *             the last sync (the whole channel when one could not say, and
 *             for the first sync, the interval, a reconnect, a resume and a
 *             reload), in a child of its own process group, so that a
 *             signal reaches its channel process only through the parent.
 *
 * A local change is synced 1 s after the last event; a server change
 * 0.2 s after the first. Each channel is also synced every `interval`,
 * measured on CLOCK_BOOTTIME, and at once when that clock jumped ahead of
 * CLOCK_MONOTONIC (a resume from suspend: a CLOCK_REALTIME timer that the
 * kernel cancels when the clock jumps wakes the parent to look). Nothing
 * else wakes the parent. */
#include "sync/watch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/log.h"
#include "store/store.h"
#include "sync/channel.h"
#include "sync/connect.h"
#include "sync/names.h"
#include "sync/side.h"

#define DEBOUNCE_MS 1000
/* A server change waits this long for the rest of its news: a move there
 * is reported as two folders, a line apart, and synced as a move when
 * both are in one sync. */
#define GATHER_MS	 200
#define DEBOUNCE_MAX_MS	 10000		  /* a stream of local events waits at most this */
#define IDLE_REFRESH_MS	 (25 * 60 * 1000) /* RFC 2177: re-issue before 29 min */
#define BACKOFF_MAX_MS	 (5 * 60 * 1000)
#define DEFAULT_INTERVAL 900
#define RETIRE_MS	 2000 /* a watcher told to stop is killed after this */
#define SUSPEND_JUMP_MS	 5000 /* BOOTTIME ahead of MONOTONIC by more: a resume */
#define MAX_WATCHERS	 256
#define STEADY_MS	 60000 /* a watcher up this long had no trouble */
#define UP_WAIT_MS	 2000  /* a sync waits this long for a local watcher to watch */
#define NAME_MAX_BYTES	 1024  /* a longer folder name is reported as "somewhere" */
#define SCOPE_MAX	 256   /* more folders changed: the whole channel */

struct watcher {
	size_t ch; /* index into the channels */
	enum side side;
	const char *folder; /* NULL: the whole store */
	pid_t pid;	    /* 0: not running */
	int fd;		    /* its records: 'u' up, 'c' a folder changed, 'a' somewhere */
	int stop;	    /* closing it tells the watcher to stop */
	bool up;	    /* it said 'u' since it was started */
	unsigned fails;	    /* in a row, for the backoff */
	long start_at;	    /* when to start it again (monotonic ms) */
	long started;	    /* when it was last started */
};

struct wchan {
	const struct channel_conf *conf;
	pid_t sync;	/* 0: no sync running */
	long due;	/* when to sync (monotonic ms), 0: not due */
	long next_full; /* when the interval is up (boottime ms) */
	long first;	/* the first change the due sync is for */
	unsigned fails; /* syncs failed in a row, for the backoff */
	bool again;	/* a change came while its sync ran */
	/* What the due sync is for: these folders, or all of them. */
	char **scope;
	size_t nscope;
	bool all;
};

struct retired {
	pid_t pid;
	long kill_at;
};

struct watch {
	const char *config_path;
	struct config cfg;
	char **names;
	size_t nnames;
	struct wchan *ch;
	size_t nch;
	struct watcher w[MAX_WATCHERS];
	size_t nw;
	struct retired old[MAX_WATCHERS];
	size_t nold;
	int sigfd;
	int timerfd; /* CLOCK_BOOTTIME, at the next interval: it fires on a resume past it */
	/* CLOCK_REALTIME, a year ahead, cancelled by the kernel when the clock
	 * jumps, which a resume from suspend makes it do: a resume before the
	 * interval is up wakes the parent too (-1: none, the interval only). */
	int resumefd;
	sigset_t orig_mask;
	long last_jump; /* BOOTTIME - MONOTONIC, ms */
};

static long clock_ms(clockid_t id)
{
	struct timespec t;

	clock_gettime(id, &t);
	return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static long now_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

#ifdef FERRY_TEST_HOOKS
/* A suspend the tests can cause: FERRY_TEST_BOOTTIME_FILE names a file
 * holding milliseconds added to CLOCK_BOOTTIME, read at each look at the
 * clock. Writing a larger number into it and waking watch (SIGCHLD does
 * nothing else) looks to it like a resume. */
static long boot_offset(void)
{
	const char *path = getenv("FERRY_TEST_BOOTTIME_FILE");
	long ms = 0;
	FILE *f;

	if (!path || !(f = fopen(path, "r")))
		return 0;
	if (fscanf(f, "%ld", &ms) != 1)
		ms = 0;
	fclose(f);
	return ms;
}
#else
static long boot_offset(void)
{
	return 0;
}
#endif

static long boot_ms(void)
{
	return clock_ms(CLOCK_BOOTTIME) + boot_offset();
}

/* 1 s doubling up to 5 min, then between half and all of it. */
static long backoff_ms(unsigned fails)
{
	long base = 1000;

	for (unsigned i = 1; i < fails && base < BACKOFF_MAX_MS; i++)
		base *= 2;
	if (base > BACKOFF_MAX_MS)
		base = BACKOFF_MAX_MS;
	return base / 2 + random() % (base / 2 + 1);
}

/* What a forked child must not keep: the parent's signal handling and the
 * other children's pipes (a watcher sees its stop only when every copy of
 * the write end is closed). */
static void child_setup(struct watch *wt, int keep_a, int keep_b)
{
	close(wt->sigfd);
	close(wt->timerfd);
	if (wt->resumefd >= 0)
		close(wt->resumefd);
	for (size_t i = 0; i < wt->nw; i++) {
		if (wt->w[i].fd >= 0 && wt->w[i].fd != keep_a && wt->w[i].fd != keep_b)
			close(wt->w[i].fd);
		if (wt->w[i].stop >= 0 && wt->w[i].stop != keep_a && wt->w[i].stop != keep_b)
			close(wt->w[i].stop);
	}
	signal(SIGHUP, SIG_IGN);
	sigprocmask(SIG_SETMASK, &wt->orig_mask, NULL);
	unsetenv("NOTIFY_SOCKET"); /* the service is this process, not a hook */
}

/* Type=notify without libsystemd: one datagram to $NOTIFY_SOCKET (a path,
 * or an abstract name after '@'). Nothing to tell when it is not set. */
static void sd_notify_send(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len = path ? strlen(path) : 0;
	int fd;

	if (len < 2 || len >= sizeof(sa.sun_path) || (path[0] != '/' && path[0] != '@'))
		return;
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (const struct sockaddr *)&sa,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
		log_trace("watch: NOTIFY_SOCKET %s: %s", path, strerror(errno));
	close(fd);
}

/* ---- watchers ---- */

/* One record on a watcher's pipe: its kind, the name's length (2 bytes,
 * little-endian), the name. One write of at most PIPE_BUF bytes, so a
 * record is never split nor mixed with another. */
static void report(int fd, char kind, const char *name)
{
	char rec[3 + NAME_MAX_BYTES];
	size_t len = name ? strlen(name) : 0;

	if (len > NAME_MAX_BYTES) {
		kind = 'a';
		len = 0;
	}
	rec[0] = kind;
	rec[1] = (char)(len & 0xff);
	rec[2] = (char)(len >> 8);
	if (len)
		memcpy(rec + 3, name, len);
	while (write(fd, rec, 3 + len) < 0 && errno == EINTR)
		;
}

struct watcher_out {
	int fd;
	bool told; /* something reported since the wait began */
};

/* store_wait's report: the folder that changed, or NULL for somewhere. */
static void report_change(void *ctx, const char *folder)
{
	struct watcher_out *out = ctx;

	report(out->fd, folder ? 'c' : 'a', folder);
	out->told = true;
}

static bool stopped(int stop)
{
	struct pollfd p = {.fd = stop, .events = POLLIN};

	return poll(&p, 1, 0) > 0;
}

/* The watcher's process: its store opened (password_command run for this
 * login), then waits until told to stop or the connection breaks. It says
 * 'u' only once it watches (a first wait that returns at once sets the
 * watches up: inotify; SELECT, NOTIFY and IDLE): what changed before is a
 * sync's to find. */
static void watcher_main(const struct store_conf *conf, const char *folder, int out, int stop)
{
	struct ferry_error err = {0};
	struct watcher_out rec = {out, false};
	struct store *s = NULL;
	int r = 0;

	if (connect_store(conf, &s, &err) != 0) {
		log_error("watch: %s", err.msg);
		_exit(err.status ? err.status : FERRY_CONNECT);
	}
	r = store_wait(s, folder, 0, stop, report_change, &rec, &err);
	if (r == 1 && !rec.told)
		report(out, 'a', NULL); /* a change it could not place */
	if (r >= 0)
		report(out, 'u', NULL);
	while (r >= 0) {
		rec.told = false;
		r = store_wait(s, folder, IDLE_REFRESH_MS, stop, report_change, &rec, &err);
		if (r < 0)
			break;
		if (r == 1 && !rec.told)
			report(out, 'a', NULL); /* a change it could not place */
		if (r != 1 && stopped(stop))
			break;
	}
	if (r < 0)
		log_error("watch: %s%s%s: %s", conf->name, folder ? ":" : "", folder ? folder : "",
			  err.msg);
	store_close(s);
	_exit(r < 0 ? (err.status ? err.status : FERRY_CONNECT) : 0);
}

static int start_watcher(struct watch *wt, struct watcher *w)
{
	const struct channel_conf *ch = wt->ch[w->ch].conf;
	const struct store_conf *conf = w->side == FAR ? ch->far : ch->near;
	int out[2], stop[2];
	pid_t pid;

	if (pipe2(out, O_CLOEXEC) != 0)
		return -1;
	if (pipe2(stop, O_CLOEXEC) != 0) {
		close(out[0]);
		close(out[1]);
		return -1;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		close(out[0]);
		close(out[1]);
		close(stop[0]);
		close(stop[1]);
		return -1;
	}
	if (pid == 0) {
		close(out[0]);
		close(stop[1]);
		child_setup(wt, out[1], stop[0]);
		watcher_main(conf, w->folder, out[1], stop[0]);
	}
	close(out[1]);
	close(stop[0]);
	w->pid = pid;
	w->up = false;
	w->started = now_ms();
	w->fd = out[0];
	w->stop = stop[1];
	return 0;
}

/* Tells a watcher to stop (its wait returns at once: DONE, LOGOUT); one
 * still connecting is killed after RETIRE_MS. */
static void retire(struct watch *wt, struct watcher *w)
{
	if (w->fd >= 0)
		close(w->fd);
	if (w->stop >= 0)
		close(w->stop);
	w->fd = w->stop = -1;
	if (w->pid > 0 && wt->nold < MAX_WATCHERS)
		wt->old[wt->nold++] = (struct retired){w->pid, now_ms() + RETIRE_MS};
	else if (w->pid > 0)
		kill(w->pid, SIGKILL);
	w->pid = 0;
}

static void add_watcher(struct watch *wt, size_t ch, enum side side, const char *folder)
{
	if (wt->nw == MAX_WATCHERS) {
		log_warn("watch: more than %d folders watched: %s not watched (its interval "
			 "syncs it)",
			 MAX_WATCHERS, folder ? folder : wt->ch[ch].conf->name);
		return;
	}
	wt->w[wt->nw++] = (struct watcher){
	    .ch = ch, .side = side, .folder = folder, .fd = -1, .stop = -1, .start_at = now_ms()};
}

/* A local store is watched whole on one handle; a server folder by folder,
 * the folders of `watch` (INBOX), as many as `connections` allows. */
static void plan_watchers(struct watch *wt)
{
	static const char *const inbox = "INBOX";

	for (size_t c = 0; c < wt->nch; c++) {
		const struct channel_conf *ch = wt->ch[c].conf;

		for (enum side side = FAR; side <= NEAR; side++) {
			const struct store_conf *conf = side == FAR ? ch->far : ch->near;
			size_t n = ch->nwatch ? ch->nwatch : 1;
			unsigned max = store_conf_connections(conf);

			if (store_conf_local(conf)) {
				add_watcher(wt, c, side, NULL);
				continue;
			}
			if (n > max)
				log_warn("%s: %zu folders in `watch` but %u connection(s) to %s: "
					 "the first %u watched",
					 ch->name, n, max, conf->name, max);
			for (size_t i = 0; i < n && i < max; i++)
				add_watcher(wt, c, side, ch->nwatch ? ch->watch[i] : inbox);
		}
	}
}

/* ---- syncs ---- */

static void scope_clear(struct wchan *c)
{
	for (size_t i = 0; i < c->nscope; i++)
		free(c->scope[i]);
	free(c->scope);
	c->scope = NULL;
	c->nscope = 0;
}

/* The next sync is of the whole channel. */
static void scope_all(struct wchan *c)
{
	scope_clear(c);
	c->all = true;
}

/* Adds a folder that changed to the next sync's; false when the channel
 * does not sync it (its `folders` leave it out): nothing to do. */
static bool scope_add(struct wchan *c, const char *name)
{
	char **v;

	if (!names_selected(c->conf, name))
		return false;
	if (c->all)
		return true;
	for (size_t i = 0; i < c->nscope; i++)
		if (strcmp(c->scope[i], name) == 0)
			return true;
	if (c->nscope == SCOPE_MAX || !(v = realloc(c->scope, (c->nscope + 1) * sizeof(*v)))) {
		scope_all(c);
		return true;
	}
	c->scope = v;
	if (!(c->scope[c->nscope] = strdup(name)))
		scope_all(c);
	else
		c->nscope++;
	return true;
}

static void trace_scope(const struct wchan *c)
{
	char list[512];
	size_t o = 0;

	if (c->all) {
		log_trace("watch: %s: syncing every folder", c->conf->name);
		return;
	}
	list[0] = '\0';
	for (size_t i = 0; i < c->nscope && o < sizeof(list); i++) {
		int k = snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "", c->scope[i]);

		o += k > 0 ? (size_t)k : 0;
	}
	log_trace("watch: %s: syncing %zu folder(s): %s", c->conf->name, c->nscope, list);
}

static void start_sync(struct watch *wt, struct wchan *c)
{
	struct sync_opts opts = {.quiet_unchanged = true};
	pid_t pid;

	if (c->next_full && c->next_full <= clock_ms(CLOCK_BOOTTIME))
		scope_all(c); /* the interval is up */
	if (!c->all && !c->nscope) {
		c->due = 0; /* nothing this channel syncs changed */
		return;
	}
	trace_scope(c);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		log_error("%s: fork: %s", c->conf->name, strerror(errno));
		c->due = now_ms() + backoff_ms(++c->fails);
		return;
	}
	if (pid == 0) {
		child_setup(wt, -1, -1);
		/* Its own group: the parent passes SIGTERM and SIGINT on to the
		 * channel's process, which ends its batch first. */
		setpgid(0, 0);
		_exit(channel_sync_folders(c->conf, c->all ? NULL : (const char *const *)c->scope,
					   c->all ? 0 : c->nscope, &opts));
	}
	setpgid(pid, pid);
	scope_clear(c);
	c->all = false;
	c->sync = pid;
	c->due = 0;
	c->again = false;
	c->next_full =
	    boot_ms() + 1000L * (c->conf->interval ? c->conf->interval : DEFAULT_INTERVAL);
}

static void sync_ended(struct wchan *c, int status)
{
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);

	c->sync = 0;
	if (code == 0 || code == FERRY_INTERRUPTED) {
		c->fails = 0;
		if (c->again)
			c->due = now_ms();
		return;
	}
	/* channel_sync said why; try again after a backoff (a server down),
	 * of everything: what that sync did is not known here. */
	scope_all(c);
	c->due = now_ms() + backoff_ms(++c->fails);
}

/* ---- the loop ---- */

static void watcher_ended(struct watcher *w)
{
	close(w->fd);
	close(w->stop);
	w->fd = w->stop = -1;
	w->pid = 0;
	/* One that connects and then fails at once (a `watch` folder that
	 * does not exist) backs off too; one that watched a while starts over. */
	w->fails = now_ms() - w->started > STEADY_MS ? 1 : w->fails + 1;
	w->start_at = now_ms() + backoff_ms(w->fails);
}

static void reap(struct watch *wt)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (size_t i = 0; i < wt->nch; i++)
			if (wt->ch[i].sync == pid)
				sync_ended(&wt->ch[i], status);
		for (size_t i = 0; i < wt->nw; i++)
			if (wt->w[i].pid == pid)
				watcher_ended(&wt->w[i]);
		for (size_t i = 0; i < wt->nold; i++)
			if (wt->old[i].pid == pid)
				wt->old[i--] = wt->old[--wt->nold];
	}
}

static void mark(struct wchan *c, long delay)
{
	long now = now_ms(), at = now + delay;

	if (c->sync) {
		c->again = true;
		return;
	}
	if (!c->due)
		c->first = now;
	/* A local event moves the debounced sync on, but a stream of them
	 * (a big import) waits at most DEBOUNCE_MAX_MS. */
	if (delay >= DEBOUNCE_MS && at > c->first + DEBOUNCE_MAX_MS)
		at = c->first + DEBOUNCE_MAX_MS;
	if (!c->due || delay >= DEBOUNCE_MS || at < c->due)
		c->due = at;
}

/* Reads one whole record of report()'s into *kind and name; -1 when the
 * pipe ended (or holds no record). */
static int read_record(int fd, char *kind, char name[NAME_MAX_BYTES + 1])
{
	unsigned char head[3];
	size_t len, got = 0;
	ssize_t n;

	while ((n = read(fd, head, sizeof(head))) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof(head))
		return -1;
	len = head[1] | (size_t)head[2] << 8;
	if (len > NAME_MAX_BYTES)
		return -1;
	while (got < len) {
		n = read(fd, name + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	name[len] = '\0';
	*kind = (char)head[0];
	return 0;
}

static bool readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

static void read_watcher(struct watch *wt, struct watcher *w)
{
	struct wchan *c = &wt->ch[w->ch];
	long delay = store_conf_local(w->side == FAR ? c->conf->far : c->conf->near) ? DEBOUNCE_MS
										     : GATHER_MS;

	/* A burst of records is taken in one go, a few at a time. */
	for (int i = 0; i < 64 && (i == 0 || readable(w->fd)); i++) {
		char kind, name[NAME_MAX_BYTES + 1];

		if (read_record(w->fd, &kind, name) != 0) {
			/* It is ending: poll no more on its pipe until it is reaped. */
			close(w->fd);
			w->fd = -1;
			return;
		}
		if (kind == 'u') {
			w->up = true;
			/* Back after a loss: what changed meanwhile was not seen.
			 * And a watcher watches from now on: a sync that began
			 * before may have missed what changed in between, unless
			 * one is still to begin. */
			if (w->fails > 0 || c->sync || !c->due) {
				scope_all(c);
				mark(c, 0);
			}
		} else if (kind == 'a') {
			scope_all(c);
			mark(c, delay);
		} else if (kind == 'c' && scope_add(c, name)) {
			mark(c, delay);
		}
	}
}

/* Selects the channels to watch from cfg; -1 when a name is not there. */
static int pick_channels(struct watch *wt, struct config *cfg, struct wchan **out, size_t *n)
{
	size_t k = wt->nnames ? wt->nnames : cfg->nchannels;
	struct wchan *v = calloc(k ? k : 1, sizeof(*v));

	if (!v)
		return -1;
	for (size_t i = 0; i < k; i++) {
		v[i].conf = wt->nnames ? config_find_channel(cfg, wt->names[i]) : &cfg->channels[i];
		if (!v[i].conf) {
			log_error("%s: no channel '%s'", cfg->path, wt->names[i]);
			free(v);
			return -1;
		}
		v[i].due = now_ms(); /* a first full sync */
		v[i].all = true;
	}
	*out = v;
	*n = k;
	return 0;
}

/* SIGHUP: the new configuration replaces the old only when it loads and
 * still has the channels named; the watchers start again on it and every
 * channel is synced. Called with no sync running. */
static void reload(struct watch *wt)
{
	struct ferry_error err = {0};
	struct config cfg = {0};
	struct wchan *v;
	size_t n;

	if (config_load(wt->config_path, &cfg, &err) != 0) {
		log_error("watch: keeping the configuration in use: %s", err.msg);
		return;
	}
	if (pick_channels(wt, &cfg, &v, &n) != 0) {
		log_error("watch: keeping the configuration in use");
		config_free(&cfg);
		return;
	}
	for (size_t i = 0; i < wt->nw; i++)
		retire(wt, &wt->w[i]);
	wt->nw = 0;
	for (size_t i = 0; i < wt->nch; i++)
		scope_clear(&wt->ch[i]);
	free(wt->ch);
	config_free(&wt->cfg);
	wt->cfg = cfg;
	wt->ch = v;
	wt->nch = n;
	plan_watchers(wt);
	log_info("watch: configuration read again from %s", wt->config_path);
}

/* Until when channel ch's syncs wait for its local watchers to watch (at
 * most UP_WAIT_MS from their start), so that a sync's scan comes after the
 * watch began and nothing falls in between; 0: no wait. */
static long held_until(const struct watch *wt, size_t ch)
{
	const struct channel_conf *conf = wt->ch[ch].conf;
	long until = 0;

	for (size_t i = 0; i < wt->nw; i++) {
		const struct watcher *w = &wt->w[i];

		if (w->ch == ch && w->pid && !w->up &&
		    store_conf_local(w->side == FAR ? conf->far : conf->near) &&
		    w->started + UP_WAIT_MS > until)
			until = w->started + UP_WAIT_MS;
	}
	return until;
}

static bool syncing(const struct watch *wt)
{
	for (size_t i = 0; i < wt->nch; i++)
		if (wt->ch[i].sync)
			return true;
	return false;
}

/* The interval's timer: at the earliest next full sync, on CLOCK_BOOTTIME,
 * so that it fires at once on a resume from a suspend that went past it. */
static void arm_interval(const struct watch *wt, bool stopping)
{
	struct itimerspec its = {0};
	long at = LONG_MAX;

	for (size_t i = 0; i < wt->nch && !stopping; i++)
		if (!wt->ch[i].sync && wt->ch[i].next_full && wt->ch[i].next_full < at)
			at = wt->ch[i].next_full;
	if (at != LONG_MAX) {
		/* The timer runs on the true clock. 0 disarms: a deadline
		 * already past is 1 ms. */
		at -= boot_offset();
		at = at > 0 ? at : 1;
		its.it_value.tv_sec = at / 1000;
		its.it_value.tv_nsec = (at % 1000) * 1000000L;
	}
	if (timerfd_settime(wt->timerfd, TFD_TIMER_ABSTIME, &its, NULL) != 0)
		log_warn("watch: timerfd: %s", strerror(errno));
}

/* The next time anything is due, as a poll timeout (-1: none). */
static int next_timeout(const struct watch *wt, bool stopping)
{
	long now = now_ms(), t = LONG_MAX;

#define SOONER(in) ((t) = (in) < (t) ? (in) : (t))
	for (size_t i = 0; i < wt->nold; i++)
		SOONER(wt->old[i].kill_at - now);
	if (!stopping) {
		for (size_t i = 0; i < wt->nch; i++) {
			long hold = held_until(wt, i);

			if (wt->ch[i].sync)
				continue;
			if (hold > now)
				SOONER(hold - now); /* or sooner, when the watcher says 'u' */
			else if (wt->ch[i].due)
				SOONER(wt->ch[i].due - now);
		}
		for (size_t i = 0; i < wt->nw; i++)
			if (!wt->w[i].pid)
				SOONER(wt->w[i].start_at - now);
	}
#undef SOONER
	if (t == LONG_MAX)
		return -1;
	return t < 0 ? 0 : t > 24L * 3600 * 1000 ? 24 * 3600 * 1000 : (int)t;
}

static void due_work(struct watch *wt)
{
	long now = now_ms(), boot = boot_ms();
	long jump = boot - now;

	if (jump - wt->last_jump > SUSPEND_JUMP_MS) {
		log_info("watch: resumed from suspend: syncing");
		for (size_t i = 0; i < wt->nch; i++) {
			scope_all(&wt->ch[i]);
			mark(&wt->ch[i], 0);
		}
		/* Their connections died with the suspend, unseen: a peer that
		 * went away sends nothing. Open them again now. */
		for (size_t i = 0; i < wt->nw; i++) {
			const struct channel_conf *ch = wt->ch[wt->w[i].ch].conf;

			if (wt->w[i].pid &&
			    !store_conf_local(wt->w[i].side == FAR ? ch->far : ch->near)) {
				retire(wt, &wt->w[i]);
				wt->w[i].start_at = now;
			}
		}
	}
	wt->last_jump = jump;
	for (size_t i = 0; i < wt->nw; i++)
		if (!wt->w[i].pid && wt->w[i].start_at <= now &&
		    start_watcher(wt, &wt->w[i]) != 0) {
			log_error("watch: cannot start a watcher: %s", strerror(errno));
			wt->w[i].start_at = now + backoff_ms(++wt->w[i].fails);
		}
	for (size_t i = 0; i < wt->nch; i++) {
		struct wchan *c = &wt->ch[i];

		if (!c->sync && held_until(wt, i) <= now &&
		    ((c->due && c->due <= now) || (c->next_full && c->next_full <= boot)))
			start_sync(wt, c);
	}
}

/* Arms (again) the timer a clock jump cancels: a resume, or the wall clock
 * set. What the jump means is due_work's to tell (BOOTTIME against
 * MONOTONIC); a wall clock set alone changes nothing. */
static void arm_resume(struct watch *wt)
{
	struct itimerspec its = {.it_value = {.tv_sec = time(NULL) + 365L * 86400}};

	if (wt->resumefd >= 0 &&
	    timerfd_settime(wt->resumefd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its,
			    NULL) != 0) {
		log_warn("watch: timerfd: %s; a resume from suspend is seen at the interval",
			 strerror(errno));
		close(wt->resumefd);
		wt->resumefd = -1;
	}
}

static int loop(struct watch *wt)
{
	int stop_sig = 0;
	bool hup = false;

	for (;;) {
		struct pollfd p[3 + MAX_WATCHERS];
		size_t np = 1;
		int r;

		if (hup && !syncing(wt)) {
			hup = false;
			sd_notify_send("RELOADING=1");
			reload(wt);
			sd_notify_send("READY=1");
		}
		for (size_t i = 0; i < wt->nold; i++)
			if (wt->old[i].kill_at <= now_ms())
				kill(wt->old[i].pid, SIGKILL);
		if (!stop_sig)
			due_work(wt);
		if (stop_sig && !syncing(wt)) {
			for (size_t i = 0; i < wt->nw; i++)
				retire(wt, &wt->w[i]);
			wt->nw = 0;
			if (wt->nold == 0)
				return 128 + stop_sig;
		}
		arm_interval(wt, stop_sig != 0);
		p[0] = (struct pollfd){.fd = wt->sigfd, .events = POLLIN};
		p[np++] = (struct pollfd){.fd = wt->timerfd, .events = POLLIN};
		p[np++] = (struct pollfd){.fd = wt->resumefd, .events = POLLIN};
		for (size_t i = 0; i < wt->nw; i++)
			p[np++] = (struct pollfd){.fd = wt->w[i].fd, .events = POLLIN};
		r = poll(p, np, next_timeout(wt, stop_sig != 0));
		if (r < 0 && errno != EINTR) {
			log_error("watch: poll: %s", strerror(errno));
			return FERRY_PARTIAL;
		}
		if (r <= 0)
			continue;
		if (p[0].revents) {
			struct signalfd_siginfo si;

			while (read(wt->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				int sig = (int)si.ssi_signo;

				if (sig == SIGCHLD)
					continue;
				if (sig == SIGHUP) {
					hup = true;
					continue;
				}
				/* SIGTERM, SIGINT: the running syncs end their batch. */
				if (!stop_sig)
					sd_notify_send("STOPPING=1");
				stop_sig = stop_sig ? stop_sig : sig;
				for (size_t i = 0; i < wt->nch; i++)
					if (wt->ch[i].sync)
						kill(-wt->ch[i].sync, sig);
			}
			reap(wt);
		}
		if (p[1].revents) {
			uint64_t expired;

			(void)!read(wt->timerfd, &expired, sizeof(expired));
		}
		if (p[2].revents) {
			uint64_t expired;

			/* ECANCELED: the clock jumped; the next due_work looks. */
			(void)!read(wt->resumefd, &expired, sizeof(expired));
			arm_resume(wt);
		}
		for (size_t i = 0; i < wt->nw && i + 3 < np; i++)
			if (wt->w[i].fd >= 0 && p[i + 3].fd == wt->w[i].fd && p[i + 3].revents)
				read_watcher(wt, &wt->w[i]);
	}
}

int watch_run(const char *config_path, struct config *cfg, char **names, size_t n)
{
	struct watch wt = {.config_path = config_path, .cfg = *cfg, .names = names, .nnames = n};
	sigset_t mask;
	int status;

	memset(cfg, 0, sizeof(*cfg));
	if (n == 0 && wt.cfg.nchannels == 0)
		log_error("%s: no channels configured", wt.cfg.path);
	if ((n == 0 && wt.cfg.nchannels == 0) ||
	    pick_channels(&wt, &wt.cfg, &wt.ch, &wt.nch) != 0) {
		config_free(&wt.cfg);
		return FERRY_USAGE;
	}
	srandom((unsigned)getpid() ^ (unsigned)now_ms());
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, &wt.orig_mask);
	wt.sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	wt.timerfd = timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	if (wt.sigfd < 0 || wt.timerfd < 0) {
		log_error("watch: signalfd, timerfd: %s", strerror(errno));
		if (wt.sigfd >= 0)
			close(wt.sigfd);
		if (wt.timerfd >= 0)
			close(wt.timerfd);
		free(wt.ch);
		config_free(&wt.cfg);
		return FERRY_PARTIAL;
	}
	wt.resumefd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	if (wt.resumefd < 0)
		log_warn("watch: timerfd: %s; a resume from suspend is seen at the interval",
			 strerror(errno));
	arm_resume(&wt);
	wt.last_jump = boot_ms() - now_ms();
	plan_watchers(&wt);
	/* Ready once watching begins: a first sync of a big account may take
	 * longer than a service manager waits for a start. */
	sd_notify_send("READY=1");
	status = loop(&wt);
	close(wt.sigfd);
	close(wt.timerfd);
	if (wt.resumefd >= 0)
		close(wt.resumefd);
	for (size_t i = 0; i < wt.nch; i++)
		scope_clear(&wt.ch[i]);
	free(wt.ch);
	config_free(&wt.cfg);
	return status;
}
