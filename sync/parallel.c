#include "sync/parallel.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#include "store/fdio.h"
#include "store/log.h"
#include "sync/connect.h"
#include "sync/crashpoint.h"
#include "sync/finish.h"
#include "sync/progress.h"

/* Below this many messages to copy, the extra logins cost more than they
 * save: the folders are finished one by one on the channel's connections. */
#define PARALLEL_MIN_COPIES 200

/* What a worker sends back: per folder, or counts for the progress line. */
struct result {
	bool is_progress;
	struct progress_event ev; /* is_progress */
	size_t index;
	int ok;
	struct folder_report rep;
};

static void send_progress(int fd, const struct progress_event *ev)
{
	struct result res = {.is_progress = true, .ev = *ev};

	(void)!fd_write_all(fd, &res, sizeof(res)); /* a lost count only makes the line lag */
}

/* Messages of a folder without a pair on either side: what it will copy,
 * about (some pair by identity instead). */
static size_t work_of(const struct folder_work *w)
{
	size_t paired[2] = {0, 0}, unpaired = 0;

	for (size_t i = 0; i < w->npairs; i++)
		for (enum side side = FAR; side <= NEAR; side++)
			paired[side] += side_uid(&w->pairs[i], side) != 0;
	for (enum side side = FAR; side <= NEAR; side++)
		if (w->list[side].n > paired[side])
			unpaired += w->list[side].n - paired[side];
	return unpaired;
}

unsigned parallel_workers(const struct engine *e, const struct folder_work *works,
			  const size_t *todo, size_t n)
{
	unsigned cap = store_conf_connections(engine_conf(e, FAR)),
		 near = store_conf_connections(engine_conf(e, NEAR));
	size_t total = 0, busy = 0;

	if (near < cap)
		cap = near;
	if (cap == UINT32_MAX || e->opts->dry_run) /* two Maildirs: the disk is the limit */
		return 1;
	for (size_t k = 0; k < n; k++) {
		size_t w = work_of(&works[todo[k]]);

		total += w;
		busy += w > 0;
	}
	if (total < PARALLEL_MIN_COPIES || busy < 2)
		return 1;
	return busy < cap ? (unsigned)busy : cap;
}

static void worker_exit(int code)
{
	fflush(stdout);
	fflush(stderr);
#if defined(__SANITIZE_ADDRESS__)
	/* _exit() skips LeakSanitizer's check at exit: run it here. */
	__lsan_do_leak_check();
#endif
	_exit(code);
}

/* One worker: its own connections and state handle (the parent's are
 * inherited but never touched here), its folders in the order given. */
static void worker(struct engine *parent, struct folder_work *works, const size_t *mine,
		   size_t nmine, int fd)
{
	struct engine e = *parent;
	struct ferry_error err = {0};

	e.store[FAR] = e.store[NEAR] = NULL;
	e.state = NULL;
	progress_send_to(fd, send_progress);
	if (state_open(e.ch->state, &e.state, &err) != 0 ||
	    connect_both(e.ch, e.store, &err) != 0) {
		log_error("%s", err.msg);
		state_close(e.state);
		worker_exit(1); /* the parent fails the folders not reported */
	}
	for (enum side side = FAR; side <= NEAR; side++) { /* pairs by role or map */
		e.store[side]->aliases = parent->store[side]->aliases;
		e.store[side]->naliases = parent->store[side]->naliases;
	}
	for (size_t k = 0; k < nmine && !engine_interrupted; k++) {
		struct folder_work *w = &works[mine[k]];
		struct result res = {.index = mine[k]};

		ferry_error_clear(&err);
		res.ok = finish_folder(&e, w, &err) == 0;
		if (!res.ok)
			log_error("%s", err.msg);
		res.rep = w->rep;
		progress_flush(); /* its counts before its result */
		if (fd_write_all(fd, &res, sizeof(res)) != 0)
			break;
		/* A broken connection fails this folder; the next ones get a new
		 * one, as the channel's run would. */
		if (connect_broken(e.store) && connect_again(e.store, &e.reconnects, &err) != 0) {
			log_error("%s", err.msg);
			break; /* the rest are reported failed by the parent */
		}
	}
	connect_close_both(e.store);
	state_close(e.state);
	worker_exit(0);
}

static const size_t *sort_load; /* qsort has no context argument */

static int cmp_by_load(const void *a, const void *b)
{
	size_t x = sort_load[*(const size_t *)a], y = sort_load[*(const size_t *)b];

	return (x < y) - (x > y); /* largest first */
}

/* One whole result from a worker. */
static void take_result(const struct result *res, struct folder_work *works, const size_t *todo,
			size_t n, bool *reported, bool *failed)
{
	if (res->is_progress) {
		progress_receive(&res->ev);
		return;
	}
	progress_folder_done();
	for (size_t k = 0; k < n; k++)
		if (todo[k] == res->index && !reported[k]) {
			reported[k] = true;
			works[res->index].rep = res->rep;
			failed[res->index] = !res->ok;
		}
}

/* Reads every worker's pipe until each is closed. */
static int read_results(int *fds, const pid_t *pids, size_t nwork, struct folder_work *works,
			const size_t *todo, size_t n, bool *reported, bool *failed)
{
	struct pollfd *pfd = calloc(nwork + 1, sizeof(*pfd));
	struct result *res = calloc(nwork + 1, sizeof(*res));
	size_t *got = calloc(nwork + 1, sizeof(*got)), open = nwork;
	bool told = false;
	int r = 0;

	if (!pfd || !res || !got) {
		r = -1;
		goto out;
	}
	for (size_t w = 0; w < nwork; w++)
		pfd[w] = (struct pollfd){.fd = fds[w], .events = POLLIN};
	/* Each worker ends by its own timeouts, or dies with this process. */
	while (open > 0) {
		/* A stop signal sent to ferry reaches this process only: the
		 * workers stop after their current batch too. */
		if (engine_interrupted && !told) {
			for (size_t w = 0; w < nwork; w++)
				kill(pids[w], SIGTERM);
			told = true;
		}
		if (poll(pfd, nwork, -1) < 0) {
			if (errno == EINTR)
				continue;
			r = -1;
			break;
		}
		for (size_t w = 0; w < nwork; w++) {
			ssize_t rd;

			if (pfd[w].fd < 0 || !pfd[w].revents)
				continue;
			rd = read(fds[w], (char *)&res[w] + got[w], sizeof(res[w]) - got[w]);
			if (rd < 0 && errno == EINTR)
				continue;
			if (rd <= 0) {
				pfd[w].fd = -1;
				open--;
				continue;
			}
			got[w] += (size_t)rd;
			if (got[w] < sizeof(res[w]))
				continue;
			got[w] = 0;
			take_result(&res[w], works, todo, n, reported, failed);
		}
	}
out:
	for (size_t w = 0; w < nwork; w++)
		close(fds[w]);
	free(pfd);
	free(res);
	free(got);
	return r;
}

int parallel_finish(struct engine *e, struct folder_work *works, const size_t *todo, size_t n,
		    unsigned workers, bool *failed, struct ferry_error *err)
{
	size_t *order = calloc(n + 1, sizeof(*order)), *load = NULL, *owner = NULL;
	size_t *wload = calloc(workers + 1, sizeof(*wload)), nwork = 0;
	pid_t *pids = calloc(workers + 1, sizeof(*pids));
	int *fds = calloc(workers + 1, sizeof(*fds));
	bool *reported = NULL;
	int r = 0;

	load = calloc(n + 1, sizeof(*load));
	owner = calloc(n + 1, sizeof(*owner));
	reported = calloc(n + 1, sizeof(*reported));
	if (!order || !load || !owner || !wload || !pids || !fds || !reported) {
		r = ferry_error_set(err, FERRY_CAUSE_INTERNAL, "out of memory");
		goto out;
	}
	/* Largest first, each to the least loaded worker (LPT). */
	for (size_t k = 0; k < n; k++) {
		order[k] = k;
		load[k] = work_of(&works[todo[k]]) + 1;
	}
	sort_load = load;
	qsort(order, n, sizeof(*order), cmp_by_load);
	for (size_t k = 0; k < n; k++) {
		size_t best = 0;

		for (size_t w = 1; w < workers; w++)
			if (wload[w] < wload[best])
				best = w;
		owner[order[k]] = best;
		wload[best] += load[order[k]];
	}
	fflush(stdout);
	fflush(stderr);
	for (unsigned w = 0; w < workers; w++) {
		size_t *mine = calloc(n + 1, sizeof(*mine)), nmine = 0;
		int p[2];

		if (!mine || pipe2(p, O_CLOEXEC) != 0) {
			free(mine);
			break;
		}
		for (size_t k = 0; k < n; k++)
			if (owner[order[k]] == w)
				mine[nmine++] = todo[order[k]];
		pids[w] = fork();
		if (pids[w] == 0) {
			close(p[0]);
			for (unsigned o = 0; o < w; o++)
				close(fds[o]);
			/* A worker never outlives its channel's run. */
			if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() == 1)
				_exit(1);
			crashpoint_scope_worker();
			/* Others' listings are not this worker's to hold. */
			for (size_t k = 0; k < n; k++)
				if (owner[order[k]] != w)
					engine_folder_free(&works[todo[order[k]]]);
			worker(e, works, mine, nmine, p[1]);
		}
		free(mine);
		close(p[1]);
		if (pids[w] < 0) {
			close(p[0]);
			break;
		}
		fds[w] = p[0];
		nwork++;
	}
	if (nwork == 0) {
		r = ferry_error_set(err, FERRY_CAUSE_INCOMPLETE, "fork: %s", strerror(errno));
		goto out;
	}
	log_trace("finishing %zu folders on %zu connections", n, nwork);
	/* The workers have the folders now (those of a worker that did not
	 * start fail this run): the listings need not wait here meanwhile. */
	for (size_t k = 0; k < n; k++)
		engine_folder_free(&works[todo[k]]);
	/* Folders of workers that could not be started stay unreported: they
	 * fail this run, below. All pipes are read as data comes, so that no
	 * worker waits on a full pipe for the one before it to finish. */
	if (read_results(fds, pids, nwork, works, todo, n, reported, failed) != 0)
		r = ferry_error_set(err, FERRY_CAUSE_INTERNAL, "poll: %s", strerror(errno));
	for (size_t w = 0; w < nwork; w++) {
		int status;

		while (waitpid(pids[w], &status, 0) < 0 && errno == EINTR)
			;
		if (WIFSIGNALED(status))
			log_error("a connection's worker crashed (signal %d: %s); its folders are "
				  "finished next run",
				  WTERMSIG(status), strsignal(WTERMSIG(status)));
	}
	for (size_t k = 0; k < n; k++)
		if (!reported[k])
			failed[todo[k]] = true;
out:
	free(order);
	free(load);
	free(owner);
	free(wload);
	free(pids);
	free(fds);
	free(reported);
	return r;
}
