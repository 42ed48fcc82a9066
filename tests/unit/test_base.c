/* Shared basics: growing arrays and strings (store/base/grow.c) and the
 * error vocabulary (store/error.c): the exit code and the reconnect decision
 * come from the cause. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/base/grow.h"
#include "store/error.h"

START_TEST(grow_array_keeps_elements_and_doubles)
{
	int *v = NULL, *nv;
	size_t cap = 0;

	for (int i = 0; i < 1000; i++) {
		size_t before = cap;

		nv = grow_array(v, &cap, (size_t)i + 1, sizeof(*nv));
		ck_assert_ptr_nonnull(nv);
		v = nv;
		ck_assert_uint_ge(cap, (size_t)i + 1);
		if (before >= (size_t)i + 1)
			ck_assert_uint_eq(cap, before); /* room left: unchanged */
		v[i] = i;
	}
	ck_assert_uint_le(cap, 2048);
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(v[i], i);
	free(v);
}
END_TEST

START_TEST(grow_array_refuses_overflow)
{
	char *v = malloc(16);
	size_t cap = 16;

	ck_assert_ptr_nonnull(v);
	ck_assert_ptr_null(grow_array(v, &cap, SIZE_MAX / 4, 8));
	ck_assert_uint_eq(cap, 16); /* v untouched, still ours */
	free(v);
}
END_TEST

START_TEST(strbuf_appends_and_formats)
{
	struct strbuf sb = {0};
	char *s, big[1000];

	strbuf_adds(&sb, "a");
	strbuf_add(&sb, "bcX", 2);
	strbuf_addf(&sb, "-%d-%s", 42, "z");
	ck_assert_str_eq(sb.s, "abc-42-z");
	ck_assert_uint_eq(sb.len, 8);
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	strbuf_addf(&sb, "%s!", big); /* longer than the small buffer */
	ck_assert_uint_eq(sb.len, 8 + 999 + 1);
	ck_assert_int_eq(sb.s[sb.len - 1], '!');
	ck_assert_int_eq(sb.s[8], 'q');
	s = strbuf_take(&sb);
	ck_assert_ptr_null(sb.s);
	ck_assert_uint_eq(strlen(s), 1008);
	free(s);
	s = strbuf_take(&sb);
	ck_assert_str_eq(s, "");
	free(s);
}
END_TEST

START_TEST(cause_decides_exit_status)
{
	static const struct {
		enum ferry_cause cause;
		enum ferry_status status;
	} table[] = {
	    {FERRY_CAUSE_CONFIG, FERRY_USAGE},	   {FERRY_CAUSE_NETWORK, FERRY_CONNECT},
	    {FERRY_CAUSE_TLS, FERRY_CONNECT},	   {FERRY_CAUSE_AUTH, FERRY_CONNECT},
	    {FERRY_CAUSE_LOCKED, FERRY_LOCKED},	   {FERRY_CAUSE_INTERRUPTED, FERRY_INTERRUPTED},
	    {FERRY_CAUSE_PROTOCOL, FERRY_PARTIAL}, {FERRY_CAUSE_REFUSED, FERRY_PARTIAL},
	    {FERRY_CAUSE_LOCAL_IO, FERRY_PARTIAL}, {FERRY_CAUSE_INCOMPLETE, FERRY_PARTIAL},
	    {FERRY_CAUSE_GUARD, FERRY_PARTIAL},	   {FERRY_CAUSE_INTERNAL, FERRY_PARTIAL},
	};
	struct ferry_error err;

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		ck_assert_int_eq(ferry_error_set(&err, table[i].cause, "x %d", 1), -1);
		ck_assert_int_eq(err.cause, table[i].cause);
		ck_assert_int_eq(err.status, table[i].status);
		ck_assert_str_eq(err.msg, "x 1");
	}
	ferry_error_clear(&err);
	ck_assert_int_eq(err.status, FERRY_OK);
	ck_assert_int_eq(err.cause, FERRY_CAUSE_NONE);
}
END_TEST

START_TEST(only_the_network_is_retried)
{
	struct ferry_error err;

	ferry_error_set(&err, FERRY_CAUSE_NETWORK, "connection reset");
	ck_assert(ferry_error_retryable(&err));
	/* whatever the text says: the cause decides */
	ferry_error_set(&err, FERRY_CAUSE_TLS, "cannot connect: login refused? no: certificate");
	ck_assert(!ferry_error_retryable(&err));
	ferry_error_set(&err, FERRY_CAUSE_AUTH, "connection lost");
	ck_assert(!ferry_error_retryable(&err));
	ferry_error_set(&err, FERRY_CAUSE_PROTOCOL, "garbage");
	ck_assert(!ferry_error_retryable(&err));
}
END_TEST

START_TEST(a_store_that_cannot_be_opened_is_exit_3)
{
	struct ferry_error err;

	ferry_error_set(&err, FERRY_CAUSE_PROTOCOL, "no IMAP greeting");
	ferry_error_opening(&err);
	ck_assert_int_eq(err.status, FERRY_CONNECT);
	ferry_error_set(&err, FERRY_CAUSE_INTERNAL, "out of memory");
	ferry_error_opening(&err);
	ck_assert_int_eq(err.status, FERRY_CONNECT);
	ferry_error_set(&err, FERRY_CAUSE_LOCAL_IO, "cannot read the Maildir");
	ferry_error_opening(&err);
	ck_assert_int_eq(err.status, FERRY_PARTIAL);
	ferry_error_set(&err, FERRY_CAUSE_CONFIG, "bad path");
	ferry_error_opening(&err);
	ck_assert_int_eq(err.status, FERRY_USAGE);
	ck_assert_int_eq(err.cause, FERRY_CAUSE_CONFIG);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("base");
	TCase *tc = tcase_create("base");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, grow_array_keeps_elements_and_doubles);
	tcase_add_test(tc, grow_array_refuses_overflow);
	tcase_add_test(tc, strbuf_appends_and_formats);
	tcase_add_test(tc, cause_decides_exit_status);
	tcase_add_test(tc, only_the_network_is_retried);
	tcase_add_test(tc, a_store_that_cannot_be_opened_is_exit_3);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
