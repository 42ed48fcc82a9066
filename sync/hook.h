/* The channel's `post_sync` command: run after a sync that changed something,
 * with what changed in its environment (notmuch new, mu index, a desktop
 * notification). */
#ifndef FERRY_SYNC_HOOK_H
#define FERRY_SYNC_HOOK_H

#include "sync/engine.h"

/* What one run changed: the summed report, and per side the folders that
 * received new messages, one name per line. */
struct hook_run {
	const char *channel;
	const char *command;
	const struct folder_report *sum;
	const char *arrived[2]; /* indexed by the side the mail arrived on */
	bool complete;		/* every folder synced (exit status 0) */
};

/* Whether the run changed anything a hook would care about. */
bool hook_worth_running(const struct folder_report *sum);

/* Runs the command by /bin/sh -c, stdin from /dev/null, stdout and stderr the
 * user's, and waits for it at most timeout_s seconds (then its process group
 * is killed). Returns 0 when it exited 0; -1 with err set otherwise: a
 * failing hook is reported by the caller and never fails the sync. */
int hook_run(const struct hook_run *run, int timeout_s, struct ferry_error *err);

#endif
