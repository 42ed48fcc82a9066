/* The live progress line of a long run: on a terminal only, on stderr, at
 * most 4 redraws a second; the per-folder lines on stdout stay as they are.
 *
 *   work: folder 3/12, 1,204/5,310 msgs, 88/402 MB, 4.1 MB/s, ETA 1m16s
 *
 * The channel's process draws it. Totals start as an estimate per folder
 * (its unpaired messages) and become exact as each folder is planned.
 * Parallel workers send their counts to it over their pipe
 * (progress_event, through sync/parallel.c). */
#ifndef FERRY_SYNC_PROGRESS_H
#define FERRY_SYNC_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum progress_kind { PROGRESS_PLANNED, PROGRESS_COPIED };

/* What a worker sends for its parent to count. */
struct progress_event {
	enum progress_kind kind;
	int64_t folder_id;
	uint64_t msgs, bytes;
};

/* Starts a line for channel `name` when stderr is a terminal and the log
 * level is normal or verbose; otherwise every call below does nothing. */
void progress_start(const char *name, size_t nfolders);

/* About how much folder_id will copy, before it is planned. */
void progress_estimate(int64_t folder_id, uint64_t msgs, uint64_t bytes);

/* The plan of folder_id copies msgs (bytes) in one direction: the first
 * call for a folder replaces its estimate, the next one adds. */
void progress_planned(int64_t folder_id, uint64_t msgs, uint64_t bytes);

/* One message copied. */
void progress_copied(uint64_t bytes);

void progress_folder_done(void);

/* In a parallel worker: events go to fd (the worker's pipe to the channel's
 * process) instead of being drawn; sent at most 10 times a second. */
void progress_send_to(int fd, void (*send)(int fd, const struct progress_event *ev));

/* In a worker: sends what is pending now. */
void progress_flush(void);

/* In the channel's process: an event a worker sent. */
void progress_receive(const struct progress_event *ev);

/* Takes the line off the terminal (before a log line is printed; at the
 * end). */
void progress_clear(void);

/* Ends the line and frees what it held. */
void progress_end(void);

#endif
