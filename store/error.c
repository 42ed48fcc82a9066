#include "store/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum ferry_status ferry_cause_status(enum ferry_cause cause)
{
	switch (cause) {
	case FERRY_CAUSE_NONE:
		return FERRY_OK;
	case FERRY_CAUSE_CONFIG:
		return FERRY_USAGE;
	case FERRY_CAUSE_NETWORK:
	case FERRY_CAUSE_TLS:
	case FERRY_CAUSE_AUTH:
		return FERRY_CONNECT;
	case FERRY_CAUSE_LOCKED:
		return FERRY_LOCKED;
	case FERRY_CAUSE_INTERRUPTED:
		return FERRY_INTERRUPTED;
	case FERRY_CAUSE_INTERNAL:
	case FERRY_CAUSE_PROTOCOL:
	case FERRY_CAUSE_REFUSED:
	case FERRY_CAUSE_LOCAL_IO:
	case FERRY_CAUSE_INCOMPLETE:
	case FERRY_CAUSE_GUARD:
		break;
	}
	return FERRY_PARTIAL;
}

int ferry_error_set(struct ferry_error *err, enum ferry_cause cause, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	err->cause = cause;
	err->status = ferry_cause_status(cause);
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

void ferry_error_prefix(struct ferry_error *err, const char *fmt, ...)
{
	char prefix[512];
	size_t plen, mlen, room;
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	/* A prefix is a name (folder, store): a hostile 2 MB one must not push
	 * the reason out of the message. */
	if (strlen(prefix) > 200)
		memcpy(prefix + 197, "...", 4);
	plen = strlen(prefix) + 2; /* "prefix: " */
	room = sizeof(err->msg) - 1 - plen;
	mlen = strnlen(err->msg, sizeof(err->msg) - 1);
	if (mlen > room)
		mlen = room; /* the end of a long message gives way to the prefix */
	memmove(err->msg + plen, err->msg, mlen);
	memcpy(err->msg, prefix, plen - 2);
	memcpy(err->msg + plen - 2, ": ", 2);
	err->msg[plen + mlen] = '\0';
}

void ferry_error_clear(struct ferry_error *err)
{
	if (!err)
		return;
	err->cause = FERRY_CAUSE_NONE;
	err->status = FERRY_OK;
	err->msg[0] = '\0';
}

void ferry_error_opening(struct ferry_error *err)
{
	if (!err)
		return;
	switch (err->cause) {
	case FERRY_CAUSE_CONFIG:
	case FERRY_CAUSE_LOCKED:
	case FERRY_CAUSE_INTERRUPTED:
	case FERRY_CAUSE_LOCAL_IO:
		return;
	default:
		err->status = FERRY_CONNECT;
	}
}

bool ferry_error_retryable(const struct ferry_error *err)
{
	return err && err->cause == FERRY_CAUSE_NETWORK;
}

static int severity(enum ferry_status s)
{
	switch (s) {
	case FERRY_USAGE:
		return 5;
	case FERRY_CONNECT:
		return 4;
	case FERRY_LOCKED:
		return 3;
	case FERRY_INTERRUPTED:
	case FERRY_TERMINATED:
		return 2;
	case FERRY_PARTIAL:
		return 1;
	case FERRY_OK:
		break;
	}
	return 0;
}

enum ferry_status ferry_status_worst(enum ferry_status a, enum ferry_status b)
{
	return severity(a) >= severity(b) ? a : b;
}
