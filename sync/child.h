/* Every network session runs in a child process of ferry, forked before any
 * connection is opened: a hostile server that crashes libetpan's parser takes
 * down that child only, and the parent reports it as that unit's error. */
#ifndef FERRY_CHILD_H
#define FERRY_CHILD_H

#include "store/error.h"

typedef int (*child_fn)(void *arg, struct ferry_error *err);

/* Runs fn(arg, err) in a child and waits for it. Returns 0 when fn returned 0;
 * otherwise -1 with err holding the child's error, or, when the child died of
 * a signal, "crashed (signal N: NAME)" with status crash_status. */
int child_run(child_fn fn, void *arg, struct ferry_error *err);

/* SIGINT or SIGTERM, once ferry's own process got one while a child ran (it
 * is passed on to the child, which stops after its current batch), else 0.
 * The caller then starts nothing more. A child that died of that signal is
 * reported as interrupted (exit 130 or 143), not as a crash. */
int child_stop_signal(void);

/* The exit status for a stop by sig: 130 for SIGINT, 143 for SIGTERM. */
enum ferry_status child_stop_status(int sig);

#endif
