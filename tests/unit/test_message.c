/* store/message.c: the listing record (issue 17 item 9: a million-message
 * folder listed in 40 MB) and who owns a listed message's identity. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "store/message.h"

START_TEST(test_a_listed_message_takes_at_most_40_bytes)
{
	ck_assert_uint_le(sizeof(struct msg), 40);
}
END_TEST

static struct msg_id some_id(unsigned char b)
{
	struct msg_id id = {.known = true, .munged_known = true};

	memset(id.hash, b, sizeof(id.hash));
	memset(id.munged, b + 1, sizeof(id.munged));
	return id;
}

START_TEST(test_an_identity_round_trips_and_unknown_is_none)
{
	struct msg m = {.uid = 1};
	struct msg_id want = some_id(7), got = msg_get_id(&m);

	ck_assert(!got.known && !msg_id_known(&m));
	ck_assert_int_eq(msg_set_id(&m, &want), 0);
	got = msg_get_id(&m);
	ck_assert(got.known && got.munged_known);
	ck_assert_mem_eq(got.hash, want.hash, sizeof(want.hash));
	ck_assert_mem_eq(got.munged, want.munged, sizeof(want.munged));
	want.munged_known = false; /* as the Maildir index knows it */
	ck_assert_int_eq(msg_set_id(&m, &want), 0);
	ck_assert(!msg_get_id(&m).munged_known);
	ck_assert_int_eq(msg_set_id(&m, &(struct msg_id){0}), 0);
	ck_assert(!msg_id_known(&m) && !m.ident && !m.munged_known);
}
END_TEST

START_TEST(test_a_pushed_message_owns_a_copy_of_its_identity)
{
	struct msg_list l = {0};
	struct msg m = {.uid = 3, .keywords = "a"};
	struct msg_id id = some_id(9);

	ck_assert_int_eq(msg_set_id(&m, &id), 0);
	ck_assert_int_eq(msg_list_push(&l, &m), 0);
	ck_assert_ptr_ne(l.v[0].ident, m.ident);
	ck_assert_mem_eq(l.v[0].ident->hash, id.hash, sizeof(id.hash));
	ck_assert(l.v[0].munged_known);
	free(m.ident); /* the list's copy stays */
	ck_assert_mem_eq(msg_get_id(&l.v[0]).hash, id.hash, sizeof(id.hash));
	msg_list_free(&l);
	ck_assert_ptr_null(l.v);
}
END_TEST

START_TEST(test_taking_an_identity_moves_it)
{
	struct msg to = {.uid = 1}, from = {.uid = 1};
	struct msg_id old = some_id(1), id = some_id(2);

	ck_assert_int_eq(msg_set_id(&to, &old), 0);
	ck_assert_int_eq(msg_set_id(&from, &id), 0);
	msg_take_id(&to, &from);
	ck_assert_ptr_null(from.ident);
	ck_assert(!from.munged_known);
	ck_assert_mem_eq(to.ident->hash, id.hash, sizeof(id.hash));
	msg_take_id(&to, &to); /* the same identity: kept */
	ck_assert_ptr_nonnull(to.ident);
	free(to.ident);
}
END_TEST

static Suite *message_suite(void)
{
	Suite *s = suite_create("message");
	TCase *tc = tcase_create("record");

	tcase_add_test(tc, test_a_listed_message_takes_at_most_40_bytes);
	tcase_add_test(tc, test_an_identity_round_trips_and_unknown_is_none);
	tcase_add_test(tc, test_a_pushed_message_owns_a_copy_of_its_identity);
	tcase_add_test(tc, test_taking_an_identity_moves_it);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(message_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
