/* The error vocabulary shared by the stores and the engine.
 *
 * Functions return 0 on success or -1 on failure and fill a struct ferry_error
 * whose message names what failed and where. The command layer turns the
 * status into the process exit code (see ferry(1), EXIT STATUS). */
#ifndef FERRY_ERROR_H
#define FERRY_ERROR_H

/* Exit codes, documented in DESIGN.md and ferry(1). */
enum ferry_status {
	FERRY_OK = 0,
	FERRY_PARTIAL = 1, /* some folders or messages failed, the rest synced */
	FERRY_USAGE = 2,   /* usage or configuration error */
	FERRY_CONNECT = 3, /* cannot connect, TLS failure, login refused */
	FERRY_LOCKED = 4,  /* the channel is locked by another run */
	FERRY_INTERRUPTED = 130,
};

struct ferry_error {
	enum ferry_status status;
	char msg[1024];
};

/* Sets status and a printf-style message; returns -1 so callers can write
 * `return ferry_error_set(err, ...)`. err may be NULL. */
int ferry_error_set(struct ferry_error *err, enum ferry_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the existing message with "prefix: " (e.g. a folder name). */
void ferry_error_prefix(struct ferry_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void ferry_error_clear(struct ferry_error *err);

/* Of two exit statuses of a run, the one to report: 2 > 3 > 4 > 1 > 0. */
enum ferry_status ferry_status_worst(enum ferry_status a, enum ferry_status b);

#endif
