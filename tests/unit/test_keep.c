/* `keep` of a download-only far store (sync/keep.c): which pairs are due for
 * deletion from the far store, by their age, their status and whether the
 * far message is still listed. */
#include <check.h>
#include <stdlib.h>

#include "sync/keep.h"

#define NOW 1000000000
#define DAY 86400

/* Far messages uid 1..n, listed (sorted by uid). */
static struct msg far_msgs[8];
static const struct msg_list far_list = {.v = far_msgs, .n = 5, .cap = 8};

static void setup(void)
{
	for (uint32_t i = 0; i < 8; i++)
		far_msgs[i] = (struct msg){.uid = i + 1};
}

START_TEST(test_keep_forever_deletes_nothing)
{
	struct pair p[] = {{.far_uid = 1, .near_uid = 1, .made = 0}};
	uint32_t out[1];

	ck_assert_uint_eq(keep_due(p, 1, &far_list, -1, NOW, out), 0);
}
END_TEST

START_TEST(test_keep_zero_deletes_every_downloaded_pair)
{
	struct pair p[] = {
	    {.far_uid = 3, .near_uid = 7, .made = NOW},
	    {.far_uid = 1, .near_uid = 5, .made = NOW - 10},
	    {.far_uid = 2, .near_uid = 6, .made = 0},
	};
	uint32_t out[3];

	ck_assert_uint_eq(keep_due(p, 3, &far_list, 0, NOW, out), 3);
	ck_assert_uint_eq(out[0], 1); /* sorted by uid */
	ck_assert_uint_eq(out[1], 2);
	ck_assert_uint_eq(out[2], 3);
}
END_TEST

START_TEST(test_keep_days_waits_for_the_pairs_age)
{
	struct pair p[] = {
	    {.far_uid = 1, .near_uid = 1, .made = NOW - 2 * DAY - 1}, /* over */
	    {.far_uid = 2, .near_uid = 2, .made = NOW - 2 * DAY},     /* just due */
	    {.far_uid = 3, .near_uid = 3, .made = NOW - 2 * DAY + 1}, /* a second short */
	    {.far_uid = 4, .near_uid = 4, .made = NOW},
	};
	uint32_t out[4];

	ck_assert_uint_eq(keep_due(p, 4, &far_list, 2 * DAY, NOW, out), 2);
	ck_assert_uint_eq(out[0], 1);
	ck_assert_uint_eq(out[1], 2);
}
END_TEST

START_TEST(test_a_locally_deleted_message_is_still_deleted_when_due)
{
	/* The local copy is gone (kept by policy): the server copy goes when
	 * due, and is never downloaded again. */
	struct pair p[] = {{.far_uid = 2, .near_uid = 0, .status = PAIR_KEPT, .made = NOW - DAY}};
	uint32_t out[1];

	ck_assert_uint_eq(keep_due(p, 1, &far_list, 0, NOW, out), 1);
	ck_assert_uint_eq(out[0], 2);
	ck_assert_uint_eq(keep_due(p, 1, &far_list, 2 * DAY, NOW, out), 0);
}
END_TEST

START_TEST(test_never_a_message_not_downloaded_or_not_listed)
{
	struct pair p[] = {
	    /* larger than max_size: never downloaded, never deleted */
	    {.far_uid = 1, .near_uid = 0, .status = PAIR_SKIPPED_SIZE, .made = 0},
	    /* gone from the server already (another client) */
	    {.far_uid = 6, .near_uid = 6, .status = PAIR_KEPT, .made = 0},
	    /* a local message with no far side */
	    {.far_uid = 0, .near_uid = 9, .made = 0},
	};
	uint32_t out[3];

	ck_assert_uint_eq(keep_due(p, 3, &far_list, 0, NOW, out), 0);
}
END_TEST

START_TEST(test_waiting_counts_the_far_messages_downloaded)
{
	struct pair p[] = {
	    {.far_uid = 1, .near_uid = 1, .made = NOW - DAY},
	    {.far_uid = 2, .near_uid = 0, .status = PAIR_KEPT, .made = NOW - 2 * DAY},
	    {.far_uid = 3, .near_uid = 0, .status = PAIR_SKIPPED_SIZE, .made = NOW - 9 * DAY},
	    {.far_uid = 0, .near_uid = 4, .made = NOW - 9 * DAY},
	};
	int64_t first;

	ck_assert_uint_eq(keep_waiting(p, 4, &first), 2);
	ck_assert_int_eq(first, NOW - 2 * DAY);
	ck_assert_uint_eq(keep_waiting(p, 0, &first), 0);
	ck_assert_int_eq(first, 0);
}
END_TEST

static Suite *keep_suite(void)
{
	Suite *s = suite_create("keep");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_keep_forever_deletes_nothing);
	tcase_add_test(tc, test_keep_zero_deletes_every_downloaded_pair);
	tcase_add_test(tc, test_keep_days_waits_for_the_pairs_age);
	tcase_add_test(tc, test_a_locally_deleted_message_is_still_deleted_when_due);
	tcase_add_test(tc, test_never_a_message_not_downloaded_or_not_listed);
	tcase_add_test(tc, test_waiting_counts_the_far_messages_downloaded);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(keep_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
