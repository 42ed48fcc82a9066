/* The IMAP command queue (store/imap/queue.c): answers are read oldest
 * first, each by its own handler, only as far as asked; a broken session
 * gives up the rest through their lost handlers. The handlers here read
 * nothing from a network: the order is the point. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "store/imap/queue.h"

struct trace {
	char read[128], lost[128]; /* one letter per call, in order */
	int fail_at;		   /* tag whose read breaks the session; 0: none */
};

static void note(char *s, char c)
{
	size_t n = strlen(s);

	s[n] = c;
	s[n + 1] = '\0';
}

static int read_letter(struct imap_store *st, int tag, void *ctx, size_t arg,
		       struct ferry_error *err)
{
	struct trace *t = ctx;

	note(t->read, (char)('a' + arg));
	if (tag == t->fail_at) {
		st->broken = true;
		snprintf(st->broken_why, sizeof(st->broken_why), "cut");
		return ferry_error_set(err, FERRY_CAUSE_NETWORK, "tag %d: cut", tag);
	}
	return 0;
}

static void lost_letter(struct imap_store *st, void *ctx, size_t arg, const struct ferry_error *why)
{
	struct trace *t = ctx;

	(void)st;
	ck_assert_str_eq(why->msg, "tag 2: cut");
	note(t->lost, (char)('a' + arg));
}

static const struct imap_handler letter = {.read = read_letter, .lost = lost_letter};
static const struct imap_handler other = {.read = read_letter, .lost = lost_letter};

/* Queues tags 1..n, the handler of tag i named by letter i-1. */
static void queue_n(struct imap_store *st, struct trace *t, int n, const struct imap_handler *h)
{
	for (int i = 1; i <= n; i++) {
		ck_assert_int_eq(imap_queue_reserve(st, NULL), 0);
		imap_queue_push(st, i, h, t, (size_t)i - 1);
	}
}

START_TEST(answers_are_read_in_order_and_only_as_far_as_asked)
{
	struct imap_store st = {0};
	struct trace t = {0};

	queue_n(&st, &t, 5, &letter);
	ck_assert_uint_eq(imap_queue_unread(&st), 5);
	ck_assert_int_eq(imap_queue_settle_through(&st, 3, NULL), 0);
	ck_assert_str_eq(t.read, "abc");
	ck_assert_uint_eq(imap_queue_unread(&st), 2);
	/* Already answered: nothing more is read. */
	ck_assert_int_eq(imap_queue_settle_through(&st, 2, NULL), 0);
	ck_assert_str_eq(t.read, "abc");
	ck_assert_int_eq(imap_usable(&st, NULL), 0);
	ck_assert_str_eq(t.read, "abcde");
	ck_assert_uint_eq(imap_queue_unread(&st), 0);
	imap_queue_free(&st);
}
END_TEST

START_TEST(settling_others_leaves_the_kept_kind_in_flight)
{
	struct imap_store st = {0};
	struct trace t = {0};

	queue_n(&st, &t, 2, &other);
	for (int i = 3; i <= 4; i++) {
		ck_assert_int_eq(imap_queue_reserve(&st, NULL), 0);
		imap_queue_push(&st, i, &letter, &t, (size_t)i - 1);
	}
	ck_assert_int_eq(imap_queue_settle_others(&st, &letter, NULL), 0);
	ck_assert_str_eq(t.read, "ab");
	ck_assert_uint_eq(imap_queue_unread(&st), 2);
	ck_assert_int_eq(imap_queue_settle_others(&st, &letter, NULL), 0);
	ck_assert_str_eq(t.read, "ab");
	ck_assert_int_eq(imap_queue_settle(&st, NULL), 0);
	ck_assert_str_eq(t.read, "abcd");
	imap_queue_free(&st);
}
END_TEST

START_TEST(a_broken_session_loses_every_answer_after_it)
{
	struct imap_store st = {0};
	struct trace t = {.fail_at = 2};
	struct ferry_error err = {0};

	queue_n(&st, &t, 4, &letter);
	ck_assert_int_eq(imap_queue_settle(&st, &err), -1);
	ck_assert_str_eq(err.msg, "tag 2: cut");
	ck_assert_str_eq(t.read, "ab");
	ck_assert_str_eq(t.lost, "cd");
	ck_assert_uint_eq(imap_queue_unread(&st), 0);
	ck_assert_int_eq(imap_usable(&st, &err), -1);
	ck_assert_int_eq(err.cause, FERRY_CAUSE_PROTOCOL);
	imap_queue_free(&st);
}
END_TEST

START_TEST(a_window_of_commands_reuses_its_room)
{
	struct imap_store st = {0};
	struct trace t = {0};

	/* 64 in flight, one read per push, as the APPEND window does. */
	for (int i = 1; i <= 1000; i++) {
		ck_assert_int_eq(imap_queue_reserve(&st, NULL), 0);
		imap_queue_push(&st, i, &other, &t, 0);
		if (imap_queue_unread(&st) > 64) {
			ck_assert_int_eq(imap_queue_read_one(&st, NULL), 0);
			t.read[0] = '\0';
		}
	}
	ck_assert_uint_eq(imap_queue_unread(&st), 64);
	ck_assert_int_eq(imap_queue_settle_through(&st, 1000, NULL), 0);
	ck_assert_uint_eq(imap_queue_unread(&st), 0);
	imap_queue_free(&st);
}
END_TEST

static Suite *queue_suite(void)
{
	Suite *s = suite_create("imap_queue");
	TCase *tc = tcase_create("queue");

	tcase_add_test(tc, answers_are_read_in_order_and_only_as_far_as_asked);
	tcase_add_test(tc, settling_others_leaves_the_kept_kind_in_flight);
	tcase_add_test(tc, a_broken_session_loses_every_answer_after_it);
	tcase_add_test(tc, a_window_of_commands_reuses_its_room);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(queue_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
