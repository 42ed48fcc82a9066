#include "store/log.h"

#include <stdarg.h>
#include <stdio.h>

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
	char line[4096];

	vsnprintf(line, sizeof(line), fmt, ap);
	if (before)
		before();
	fprintf(f, "%s%s\n", prefix, line);
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
