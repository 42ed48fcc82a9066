#include "sync/child.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

/* The child being waited for, and the first stop signal the parent got. */
static volatile pid_t running;
static volatile sig_atomic_t stop_signal;

/* ferry's own pid may get the signal (kill PID, systemd), not only its
 * process group (Ctrl-C): the child is told either way. */
static void pass_on(int sig)
{
	if (!stop_signal)
		stop_signal = sig;
	if (running > 0)
		kill(running, sig);
}

int child_stop_signal(void)
{
	return stop_signal;
}

enum ferry_status child_stop_status(int sig)
{
	return sig == SIGTERM ? FERRY_TERMINATED : FERRY_INTERRUPTED;
}

/* Reads the child's error report; a short read means it sent none. */
static size_t read_report(int fd, struct ferry_error *report)
{
	size_t got = 0;

	while (got < sizeof(*report)) {
		ssize_t r = read(fd, (char *)report + got, sizeof(*report) - got);

		if (r > 0)
			got += (size_t)r;
		else if (r == 0 || errno != EINTR)
			break;
	}
	return got;
}

static int wait_child(pid_t pid, int fd, struct ferry_error *report, size_t *got, int *status,
		      struct ferry_error *err)
{
	*got = read_report(fd, report);
	close(fd);
	while (waitpid(pid, status, 0) < 0) {
		if (errno != EINTR)
			return ferry_error_set(err, FERRY_CAUSE_INCOMPLETE, "waitpid: %s",
					       strerror(errno));
	}
	return 0;
}

int child_run(child_fn fn, void *arg, struct ferry_error *err)
{
	struct ferry_error report = {0};
	struct sigaction sa = {.sa_handler = pass_on}, old_int, old_term;
	int fds[2], status, waited;
	size_t got;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) != 0)
		return ferry_error_set(err, FERRY_CAUSE_INCOMPLETE, "pipe: %s", strerror(errno));
	fflush(stdout);
	fflush(stderr);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
		return ferry_error_set(err, FERRY_CAUSE_INCOMPLETE, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		int r;

		/* fn sets its own handlers if it stops cleanly; else a signal ends it. */
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		close(fds[0]);
		r = fn(arg, &report);
		fflush(stdout);
		fflush(stderr);
#if defined(__SANITIZE_ADDRESS__)
		/* _exit() skips LeakSanitizer's check at exit: run it here. */
		__lsan_do_leak_check();
#endif
		if (r != 0) {
			/* A failure that named no cause keeps its text: the
			 * message cannot be formatted from itself. */
			if (report.cause == FERRY_CAUSE_NONE) {
				report.cause = FERRY_CAUSE_INCOMPLETE;
				report.status = ferry_cause_status(report.cause);
			}
			(void)!write(fds[1], &report, sizeof(report));
			_exit(report.status);
		}
		_exit(0);
	}
	close(fds[1]);
	running = pid;
	if (stop_signal) /* it came before running was set */
		kill(pid, stop_signal);
	waited = wait_child(pid, fds[0], &report, &got, &status, err);
	running = 0;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	if (waited != 0)
		return waited;
	if (WIFSIGNALED(status) && stop_signal && WTERMSIG(status) == stop_signal) {
		ferry_error_set(err, FERRY_CAUSE_INTERRUPTED, "interrupted (%s)",
				strsignal(stop_signal));
		err->status = child_stop_status(stop_signal);
		return -1;
	}
	if (WIFSIGNALED(status))
		return ferry_error_set(err, FERRY_CAUSE_INTERNAL, "crashed (signal %d: %s)",
				       WTERMSIG(status), strsignal(WTERMSIG(status)));
	if (WEXITSTATUS(status) == 0)
		return 0;
	if (got == sizeof(report)) {
		report.msg[sizeof(report.msg) - 1] = '\0';
		*err = report;
		return -1;
	}
	return ferry_error_set(err, FERRY_CAUSE_INCOMPLETE, "exited with status %d",
			       WEXITSTATUS(status));
}
