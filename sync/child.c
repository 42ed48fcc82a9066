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

int child_run(child_fn fn, void *arg, struct ferry_error *err)
{
	struct ferry_error report = {0};
	int fds[2], status;
	size_t got;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) != 0)
		return ferry_error_set(err, FERRY_CAUSE_INCOMPLETE, "pipe: %s", strerror(errno));
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return ferry_error_set(err, FERRY_CAUSE_INCOMPLETE, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		int r;

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
	got = read_report(fds[0], &report);
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return ferry_error_set(err, FERRY_CAUSE_INCOMPLETE, "waitpid: %s",
					       strerror(errno));
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
