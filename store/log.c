#include "store/log.h"

#include <stdarg.h>
#include <stdio.h>

#include "store/base/termsafe.h"

static enum log_level level = LOG_NORMAL;
static void (*before)(void);

void log_set_before(void (*fn)(void))
{
	before = fn;
}

void log_set_level(enum log_level l)
{
	level = l;
}

enum log_level log_get_level(void)
{
	return level;
}

static void emit(FILE *f, const char *prefix, const char *fmt, va_list ap)
{
	/* One fprintf per line keeps lines whole when child processes share a stream. */
	char line[4096], safe[TERMSAFE_ROOM(sizeof(line))];
	int n = vsnprintf(line, sizeof(line), fmt, ap);

	if (n < 0)
		return;
	/* Every message may quote the outside (a server's text, a folder name):
	 * escaped here, where all of them pass, so that none reaches the
	 * terminal raw. */
	termsafe_escape(line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1, safe,
			sizeof(safe));
	if (before)
		before();
	fprintf(f, "%s%s\n", prefix, safe);
	if (f == stdout)
		fflush(f); /* keep the order with stderr, and nothing lost if killed */
}

void log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(stderr, "ferry: error: ", fmt, ap);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	va_list ap;

	if (level < LOG_NORMAL)
		return;
	va_start(ap, fmt);
	emit(stderr, "ferry: warning: ", fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	if (level < LOG_NORMAL)
		return;
	va_start(ap, fmt);
	emit(stdout, "", fmt, ap);
	va_end(ap);
}

void log_trace(const char *fmt, ...)
{
	va_list ap;

	if (level < LOG_VERBOSE)
		return;
	va_start(ap, fmt);
	emit(stderr, "", fmt, ap);
	va_end(ap);
}
