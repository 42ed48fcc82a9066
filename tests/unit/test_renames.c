/* sync/renames.c: which folders were renamed (DESIGN.md rule 11). Each row
 * is a channel: the folders the state synced, those listed now, and the
 * renames expected ("from>to" on a side, "=" for both, "^" for a child). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync/renames.h"

#define MAX 6

struct row {
	const char *what;
	struct rename_known known[MAX]; /* name NULL ends */
	struct rename_seen seen[MAX];
	/* "far:Work>Projects/Work", "both:A>B", "far^:Work/A>Projects/Work/A" */
	const char *want[MAX];
};

#define F(n, a, b)                                                                                 \
	{                                                                                          \
		.name = n, .on = {true, true}, .uidvalidity = { a, b }                             \
	}
#define FAR_ONLY(n, a)                                                                             \
	{                                                                                          \
		.name = n, .on = {true, false}, .uidvalidity = { a, 0 }                            \
	}
#define NEAR_ONLY(n, b)                                                                            \
	{                                                                                          \
		.name = n, .on = {false, true}, .uidvalidity = { 0, b }                            \
	}
#define K(n, a, b)                                                                                 \
	{                                                                                          \
		.name = n, .uidvalidity = { a, b }                                                 \
	}

static const struct row rows[] = {
    {"nothing vanished: no rename", {K("A", 1, 2)}, {F("A", 1, 2)}, {NULL}},
    {"renamed on the server: renamed locally",
     {K("INBOX", 9, 8), K("Work", 1, 2)},
     {F("INBOX", 9, 8), NEAR_ONLY("Work", 2), FAR_ONLY("Projects", 1)},
     {"far:Work>Projects"}},
    {"renamed locally: renamed on the server",
     {K("Work", 1, 2)},
     {FAR_ONLY("Work", 1), NEAR_ONLY("Old/Work", 2)},
     {"near:Work>Old/Work"}},
    {"children move with the parent",
     {K("Work", 1, 2), K("Work/A", 3, 4)},
     {NEAR_ONLY("Work", 2), NEAR_ONLY("Work/A", 4), FAR_ONLY("P/Work", 1), FAR_ONLY("P/Work/A", 3)},
     {"far:Work>P/Work", "far^:Work/A>P/Work/A"}},
    {"a child that stayed behind: no rename of the parent",
     {K("Work", 1, 2), K("Work/A", 3, 4)},
     {NEAR_ONLY("Work", 2), F("Work/A", 3, 4), FAR_ONLY("P/Work", 1)},
     {NULL}},
    {"a child renamed elsewhere: only the child's rename",
     {K("Work", 1, 2), K("Work/A", 3, 4)},
     {NEAR_ONLY("Work", 2), NEAR_ONLY("Work/A", 4), FAR_ONLY("P/Work", 1), FAR_ONLY("Z", 3)},
     {"far:Work/A>Z"}},
    {"a child new since the last sync on the other side: no guess",
     {K("Work", 1, 2)},
     {NEAR_ONLY("Work", 2), NEAR_ONLY("Work/New", 7), FAR_ONLY("P/Work", 1)},
     {NULL}},
    {"two candidates with the same UIDVALIDITY: no guess",
     {K("Work", 1, 2)},
     {NEAR_ONLY("Work", 2), FAR_ONLY("X", 1), FAR_ONLY("Y", 1)},
     {NULL}},
    /* Cyrus gives folders made in the same second one UIDVALIDITY: one
     * still where it was takes no part. */
    {"UIDVALIDITY shared with a folder still there: renamed",
     {K("Work", 1, 2), K("Other", 1, 5)},
     {NEAR_ONLY("Work", 2), F("Other", 1, 5), FAR_ONLY("X", 1)},
     {"far:Work>X"}},
    {"the same with INBOX, and a child (Cyrus, a first sync's folders)",
     {K("INBOX", 7, 8), K("Team", 7, 2), K("Team/Sub", 9, 3)},
     {F("INBOX", 7, 8), NEAR_ONLY("Team", 2), NEAR_ONLY("Team/Sub", 3), FAR_ONLY("Crew", 7),
      FAR_ONLY("Crew/Sub", 9)},
     {"far:Team>Crew", "far^:Team/Sub>Crew/Sub"}},
    {"a parent and its child of one UIDVALIDITY, both gone: no guess",
     {K("INBOX", 7, 8), K("Team", 7, 2), K("Team/Sub", 7, 3)},
     {F("INBOX", 7, 8), NEAR_ONLY("Team", 2), NEAR_ONLY("Team/Sub", 3), FAR_ONLY("Crew", 7),
      FAR_ONLY("Crew/Sub", 7)},
     {NULL}},
    {"two vanished with the UIDVALIDITY of the new one: no guess",
     {K("Work", 1, 2), K("Old", 1, 5)},
     {NEAR_ONLY("Work", 2), NEAR_ONLY("Old", 5), FAR_ONLY("X", 1)},
     {NULL}},
    {"another UIDVALIDITY: a new folder, not a rename",
     {K("Work", 1, 2)},
     {NEAR_ONLY("Work", 2), FAR_ONLY("X", 11)},
     {NULL}},
    {"the new name exists on the other side too: no rename",
     {K("Work", 1, 2)},
     {NEAR_ONLY("Work", 2), F("X", 1, 6)},
     {NULL}},
    {"the new name is known to the state: no rename",
     {K("Work", 1, 2), K("X", 3, 4)},
     {NEAR_ONLY("Work", 2), FAR_ONLY("X", 1)},
     {NULL}},
    {"renamed on both sides (a run killed after the rename): the state follows",
     {K("Work", 1, 2), K("Work/A", 3, 4)},
     {F("P/Work", 1, 2), F("P/Work/A", 3, 4)},
     {"both:Work>P/Work", "both:Work/A>P/Work/A"}},
    {"renamed differently on each side: no guess",
     {K("Work", 1, 2)},
     {FAR_ONLY("X", 1), NEAR_ONLY("Y", 2)},
     {NULL}},
    {"INBOX is never renamed",
     {K("INBOX", 1, 2)},
     {NEAR_ONLY("INBOX", 2), FAR_ONLY("Old", 1)},
     {NULL}},
    {"nothing becomes INBOX",
     {K("Work", 1, 2)},
     {NEAR_ONLY("Work", 2), FAR_ONLY("INBOX", 1)},
     {NULL}},
    {"UIDVALIDITY never known: no rename",
     {K("Work", 0, 2)},
     {NEAR_ONLY("Work", 2), FAR_ONLY("X", 0)},
     {NULL}},
};

static size_t count(const void *v, size_t size, size_t max)
{
	size_t n = 0;

	while (n < max && *(const char *const *)((const char *)v + n * size))
		n++;
	return n;
}

static void format(const struct rename *r, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s:%s>%s",
		 r->both		? "both"
		 : r->renamed_on == FAR ? "far"
					: "near",
		 r->child ? "^" : "", r->from, r->to);
}

START_TEST(test_table)
{
	const struct row *row = &rows[_i];
	size_t nknown = count(row->known, sizeof(row->known[0]), MAX);
	size_t nseen = count(row->seen, sizeof(row->seen[0]), MAX);
	size_t nwant = count(row->want, sizeof(row->want[0]), MAX);
	struct rename *v = NULL;
	size_t n = 0;

	ck_assert_int_eq(renames_match(row->known, nknown, row->seen, nseen, &v, &n), 0);
	ck_assert_msg(n == nwant, "%s: %zu renames, want %zu", row->what, n, nwant);
	for (size_t i = 0; i < n; i++) {
		char got[128];

		format(&v[i], got, sizeof(got));
		ck_assert_msg(strcmp(got, row->want[i]) == 0, "%s: rename %zu is %s, want %s",
			      row->what, i, got, row->want[i]);
	}
	free(v);
}
END_TEST

START_TEST(test_below_needs_a_whole_level)
{
	ck_assert(renames_below("Work/A", "Work"));
	ck_assert(!renames_below("Workshop", "Work"));
	ck_assert(!renames_below("Work", "Work"));
}
END_TEST

static Suite *renames_suite(void)
{
	Suite *s = suite_create("renames");
	TCase *t = tcase_create("match");

	tcase_add_loop_test(t, test_table, 0, (int)(sizeof(rows) / sizeof(rows[0])));
	tcase_add_test(t, test_below_needs_a_whole_level);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(renames_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
