#include "sync/hook.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/base/grow.h"

extern char **environ;

bool hook_worth_running(const struct folder_report *sum)
{
	for (enum side s = FAR; s <= NEAR; s++)
		if (sum->added[s] || sum->flags[s] || sum->deleted[s] || sum->moved[s])
			return true;
	return false;
}

/* Whether environ's entry e sets one of the nours variables in own. */
static bool is_ours(const char *e, const char *own, size_t nours)
{
	const char *eq = strchr(e, '=');
	size_t len = eq ? (size_t)(eq - e) + 1 : strlen(e);

	for (; nours > 0; nours--, own += strlen(own) + 1)
		if (strncmp(e, own, len) == 0)
			return true;
	return false;
}

/* environ with ours in place of any of the same name a caller set (a stale
 * FERRY_NEW_NEAR must not be taken for this run's). The strings live in
 * *own; free both after the spawn. */
static char **hook_env(const struct hook_run *run, struct strbuf *own)
{
	static const char *const side_name[2] = {[FAR] = "FAR", [NEAR] = "NEAR"};
	const struct folder_report *r = run->sum;
	size_t n = 0, k = 0, nours = 0;
	char **env;

	strbuf_addf(own, "FERRY_CHANNEL=%s%c", run->channel, 0);
	strbuf_addf(own, "FERRY_STATUS=%d%c", run->complete ? 0 : 1, 0);
	nours = 2;
	for (enum side s = FAR; s <= NEAR; s++) {
		strbuf_addf(own, "FERRY_NEW_%s=%zu%c", side_name[s], r->added[s], 0);
		strbuf_addf(own, "FERRY_FLAGGED_%s=%zu%c", side_name[s], r->flags[s], 0);
		strbuf_addf(own, "FERRY_DELETED_%s=%zu%c", side_name[s], r->deleted[s], 0);
		strbuf_addf(own, "FERRY_MOVED_%s=%zu%c", side_name[s], r->moved[s], 0);
		strbuf_addf(own, "FERRY_NEW_MAIL_FOLDERS_%s=%s%c", side_name[s],
			    run->arrived[s] ? run->arrived[s] : "", 0);
		nours += 5;
	}
	if (own->oom)
		return NULL;
	while (environ[n])
		n++;
	env = calloc(n + nours + 1, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!is_ours(environ[i], own->s, nours))
			env[k++] = environ[i];
	for (char *p = own->s; nours > 0; nours--, p += strlen(p) + 1)
		env[k++] = p;
	return env;
}

/* Its own process group, so a timeout stops whatever it started; default
 * signals and an empty mask, whatever ferry set for itself. */
static int spawn_hook(const char *command, char **env, pid_t *pid)
{
	char *argv[] = {"sh", "-c", (char *)command, NULL};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dfl;
	int rc;

	sigemptyset(&none);
	sigfillset(&dfl);
	if ((rc = posix_spawn_file_actions_init(&fa)) != 0)
		return rc;
	if ((rc = posix_spawnattr_init(&attr)) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return rc;
	}
	if ((rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)) == 0 &&
	    (rc = posix_spawnattr_setsigmask(&attr, &none)) == 0 &&
	    (rc = posix_spawnattr_setsigdefault(&attr, &dfl)) == 0 &&
	    (rc = posix_spawnattr_setpgroup(&attr, 0)) == 0 &&
	    (rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
						      POSIX_SPAWN_SETPGROUP)) == 0)
		rc = posix_spawn(pid, "/bin/sh", &fa, &attr, argv, env);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return rc;
}

/* Waits for pid at most timeout_s seconds. Returns 0 with *status set, 1 on
 * timeout, -1 on error. */
static int wait_bounded(pid_t pid, int timeout_s, int *status)
{
	int fd = pidfd_open(pid, 0), r = -1;
	struct timespec end, now;

	if (fd < 0)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += timeout_s;
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		long ms;

		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (end.tv_sec - now.tv_sec) * 1000 + (end.tv_nsec - now.tv_nsec) / 1000000;
		if (ms <= 0) {
			r = 1;
			break;
		}
		int n = poll(&pfd, 1, ms > 60000 ? 60000 : (int)ms);

		if (n < 0 && errno != EINTR)
			break;
		if (n > 0) {
			r = waitpid(pid, status, 0) == pid ? 0 : -1;
			break;
		}
	}
	close(fd);
	return r;
}

int hook_run(const struct hook_run *run, int timeout_s, struct ferry_error *err)
{
	struct strbuf own = {0};
	char **env = hook_env(run, &own);
	pid_t pid;
	int rc, status = 0, waited;

	if (!env) {
		strbuf_free(&own);
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "post_sync: out of memory");
	}
	rc = spawn_hook(run->command, env, &pid);
	free(env);
	strbuf_free(&own);
	if (rc != 0)
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO,
				       "post_sync: cannot start /bin/sh: %s", strerror(rc));
	waited = wait_bounded(pid, timeout_s, &status);
	if (waited == 1 || waited < 0) {
		/* Stop it and whatever it started, then reap it. */
		kill(-pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (waited == 1)
			return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO,
					       "post_sync: still running after %d s; stopped",
					       timeout_s);
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "post_sync: waiting for it: %s",
				       strerror(errno));
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO,
				       "post_sync: exited with status %d", WEXITSTATUS(status));
	return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "post_sync: killed by signal %d",
			       WTERMSIG(status));
}
