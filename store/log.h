/* Messages to the user: information on stdout, errors, warnings and the
 * trace on stderr. -q keeps errors only; -v adds the
 * protocol trace. Secrets never reach these functions unredacted: the IMAP
 * trace redacts LOGIN/AUTHENTICATE arguments before calling log_trace(). */
#ifndef FERRY_LOG_H
#define FERRY_LOG_H

enum log_level { LOG_QUIET = 0, LOG_NORMAL = 1, LOG_VERBOSE = 2 };

void log_set_level(enum log_level level);

/* A function run before each line is printed (the progress line takes
 * itself off the terminal); NULL for none. */
void log_set_before(void (*fn)(void));
enum log_level log_get_level(void);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
