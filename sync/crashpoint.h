/* Test-only crash hooks: FERRY_CRASH_AT=<action>:<n>[:after] kills the run
 * before (or after) the n-th batch or message of an action, so that tests
 * can prove a kill at any point converges. No-ops unless built with
 * FERRY_TEST_HOOKS. */
#ifndef FERRY_CRASHPOINT_H
#define FERRY_CRASHPOINT_H

#include <stdbool.h>
#include <stddef.h>

/* Kills this process here if FERRY_CRASH_AT names this action's count. */
void crashpoint(const char *action, bool after);
/* The channel this process syncs, for FERRY_CRASH_CHANNEL. */
void crashpoint_scope(const char *channel);
/* In a parallel worker: the crash hook kills the channel's process too, as
 * a real kill of the run would. */
void crashpoint_scope_worker(void);

/* How many messages finish.c plans at once where it may cut a plan:
 * FERRY_PLAN_WINDOW when set (tests use a few), else window. */
size_t crashpoint_plan_window(size_t window);

#endif
