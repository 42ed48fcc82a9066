/* The crash-test hooks (sync/crashpoint.h). */
#include "sync/crashpoint.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef FERRY_TEST_HOOKS
static const char *crash_channel;

void crashpoint_scope(const char *channel)
{
	crash_channel = channel;
}

static pid_t crash_also; /* the channel's process, seen from a worker */

void crashpoint_scope_worker(void)
{
	crash_also = getppid();
}

/* FERRY_CRASH_AT=<action>:<n>[:after] kills this process before (or after)
 * the n-th batch or message of that action; FERRY_CRASH_CHANNEL limits it to
 * one channel. */
void crashpoint(const char *action, bool after)
{
	static long count[2]; /* before, after: batches settle after several befores */
	const char *spec = getenv("FERRY_CRASH_AT");
	const char *only = getenv("FERRY_CRASH_CHANNEL");
	size_t len = strlen(action);
	char *end;
	long n;

	if (!spec || strncmp(spec, action, len) != 0 || spec[len] != ':')
		return;
	if (only && crash_channel && strcmp(only, crash_channel) != 0)
		return;
	n = strtol(spec + len + 1, &end, 10);
	if (after == (strcmp(end, ":after") == 0) && ++count[after] == n) {
		fflush(NULL);
		if (crash_also)
			kill(crash_also, SIGKILL);
		kill(getpid(), SIGKILL);
	}
}

size_t crashpoint_plan_window(size_t window)
{
	const char *v = getenv("FERRY_PLAN_WINDOW");
	long n = v ? strtol(v, NULL, 10) : 0;

	return n > 0 ? (size_t)n : window;
}
#else
size_t crashpoint_plan_window(size_t window)
{
	return window;
}

void crashpoint_scope(const char *channel)
{
	(void)channel;
}

void crashpoint(const char *action, bool after)
{
	(void)action;
	(void)after;
}

void crashpoint_scope_worker(void)
{
}
#endif
