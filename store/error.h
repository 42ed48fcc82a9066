/* The error vocabulary shared by the stores and the engine.
 *
 * Functions return 0 on success or -1 on failure and fill a struct ferry_error
 * with a cause (what kind of thing went wrong) and a message naming what
 * failed and where. Decisions (reconnect or stop, the exit code) are taken on
 * the cause, never on the text: the message is for people. */
#ifndef FERRY_ERROR_H
#define FERRY_ERROR_H

#include <stdbool.h>

/* Exit codes, documented in DESIGN.md and ferry(1). */
enum ferry_status {
	FERRY_OK = 0,
	FERRY_PARTIAL = 1,	 /* some folders or messages failed, the rest synced */
	FERRY_USAGE = 2,	 /* usage or configuration error */
	FERRY_CONNECT = 3,	 /* cannot connect, TLS failure, login refused */
	FERRY_LOCKED = 4,	 /* the channel is locked by another run */
	FERRY_INTERRUPTED = 130, /* SIGINT: 128 + 2, as a shell reports it */
	FERRY_TERMINATED = 143,	 /* SIGTERM: 128 + 15 */
};

/* What went wrong, as the engine needs to know it. */
enum ferry_cause {
	FERRY_CAUSE_NONE = 0,
	FERRY_CAUSE_INTERNAL,	 /* out of memory, an impossible state */
	FERRY_CAUSE_CONFIG,	 /* the configuration or the command line */
	FERRY_CAUSE_NETWORK,	 /* cannot connect, connection lost or timed out */
	FERRY_CAUSE_TLS,	 /* handshake, certificate, host name, pin */
	FERRY_CAUSE_AUTH,	 /* credentials refused or not to be had */
	FERRY_CAUSE_PROTOCOL,	 /* the server's answer breaks the protocol */
	FERRY_CAUSE_REFUSED,	 /* the server answered NO or BAD to one command */
	FERRY_CAUSE_LOCAL_IO,	 /* the disk: Maildir, index, state database */
	FERRY_CAUSE_LOCKED,	 /* another run holds the channel */
	FERRY_CAUSE_INTERRUPTED, /* a signal asked the run to stop */
	FERRY_CAUSE_INCOMPLETE,	 /* some folders or messages failed, the rest synced */
	FERRY_CAUSE_GUARD,	 /* a safety guard held changes back (rule 11) */
};

struct ferry_error {
	enum ferry_cause cause;
	enum ferry_status status; /* the exit code: ferry_cause_status(cause) */
	char msg[1024];
};

/* Sets the cause, the status it implies and a printf-style message; returns
 * -1 so callers can write `return ferry_error_set(err, ...)`. err may be
 * NULL. */
int ferry_error_set(struct ferry_error *err, enum ferry_cause cause, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The exit code a failure of this cause gives (ferry(1), EXIT STATUS). */
enum ferry_status ferry_cause_status(enum ferry_cause cause);

/* A store that could not be opened is "cannot connect" (exit 3), whatever
 * broke on the way, unless the cause is the configuration, the lock or a
 * signal, or the store is local (a disk error stays exit 1). */
void ferry_error_opening(struct ferry_error *err);

/* Whether opening the store again may help: only a network failure is
 * retried; TLS and authentication failures never are (DESIGN: reconnect). */
bool ferry_error_retryable(const struct ferry_error *err);

/* Prefixes the existing message with "prefix: " (e.g. a folder name). */
void ferry_error_prefix(struct ferry_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void ferry_error_clear(struct ferry_error *err);

/* Of two exit statuses of a run, the one to report: 2 > 3 > 4 > 1 > 0. */
enum ferry_status ferry_status_worst(enum ferry_status a, enum ferry_status b);

#endif
