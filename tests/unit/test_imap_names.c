/* How the IMAP store names folders and reads a BAD, without a server:
 * a folder is named as LIST spelled it (store/imap/namespace.c), below a
 * listed parent as the parent is spelled, else built from the namespace;
 * the configured prefix wins over NAMESPACE's; a tagged BAD to the command
 * just sent is told from an answer under another tag (session.c). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "store/imap/namespace.h"

struct fixture {
	struct imap_store st;
	struct store_conf conf;
};

static void fixture_init(struct fixture *f, const char *ns_prefix, char delimiter)
{
	memset(f, 0, sizeof(*f));
	f->conf.kind = STORE_IMAP;
	f->conf.name = "far";
	f->st.base.conf = &f->conf;
	f->st.ns_prefix = strdup(ns_prefix);
	f->st.ns_delimiter = delimiter;
	f->st.ns_known = true;
	ck_assert_ptr_nonnull(f->st.ns_prefix);
}

static void fixture_free(struct fixture *f)
{
	imap_spellings_clear(&f->st);
	free(f->st.ns_prefix);
}

/* A LIST answer: names[i] (NULL-ended) with delimiters[i]. */
static clist *listing(const char *const *names, const char *delimiters)
{
	clist *list = clist_new();

	ck_assert_ptr_nonnull(list);
	for (size_t i = 0; names[i]; i++) {
		struct mailimap_mailbox_list *mb =
		    mailimap_mailbox_list_new(NULL, delimiters[i], strdup(names[i]));

		ck_assert_ptr_nonnull(mb);
		ck_assert_int_eq(clist_append(list, mb), 0);
	}
	return list;
}

static void take(struct fixture *f, const char *const *names, const char *delimiters)
{
	struct ferry_error err = {0};
	clist *list = listing(names, delimiters);

	ck_assert_int_eq(imap_take_spellings(&f->st, list, &err), 0);
	mailimap_list_result_free(list);
}

static void expect_name(struct fixture *f, const char *canonical, const char *server)
{
	struct ferry_error err = {0};
	char *out = NULL;

	ck_assert_msg(imap_map_name(&f->st, canonical, "test", &out, &err) == 0, "%s: %s",
		      canonical, err.msg);
	ck_assert_str_eq(out, server);
	free(out);
}

START_TEST(test_a_listed_folder_is_named_as_listed)
{
	static const char *const names[] = {"INBOX", "Inbox/Sub2", "INBOX/Other.Sub", NULL};
	struct fixture f;

	fixture_init(&f, "INBOX/", '/');
	take(&f, names, (const char[]){'/', '/', '.'});
	expect_name(&f, "INBOX", "INBOX");
	expect_name(&f, "Sub2", "Inbox/Sub2");
	expect_name(&f, "Other/Sub", "INBOX/Other.Sub");
	fixture_free(&f);
}
END_TEST

START_TEST(test_a_new_child_is_named_below_its_listed_parent)
{
	static const char *const names[] = {"Inbox/Sub2", "INBOX/Other.Sub", NULL};
	struct fixture f;

	fixture_init(&f, "INBOX/", '/');
	take(&f, names, (const char[]){'/', '.'});
	expect_name(&f, "Sub2/New", "Inbox/Sub2/New");
	expect_name(&f, "Other/Sub/Deep/er", "INBOX/Other.Sub.Deep.er");
	/* Nothing listed above it: built from the namespace. */
	expect_name(&f, "Fresh/Child", "INBOX/Fresh/Child");
	fixture_free(&f);
}
END_TEST

START_TEST(test_a_child_below_the_inbox_is_not_spelled_from_it)
{
	static const char *const names[] = {"inbox", NULL};
	struct fixture f;

	fixture_init(&f, "", '/');
	take(&f, names, (const char[]){'/'});
	expect_name(&f, "INBOX", "INBOX");
	expect_name(&f, "INBOX/Sub", "INBOX/Sub");
	fixture_free(&f);
}
END_TEST

START_TEST(test_of_two_spellings_of_one_folder_the_first_listed_wins)
{
	static const char *const names[] = {"Inbox/Dup", "INBOX/Dup", NULL};
	struct fixture f;

	fixture_init(&f, "INBOX/", '/');
	take(&f, names, (const char[]){'/', '/'});
	expect_name(&f, "Dup", "Inbox/Dup");
	fixture_free(&f);
}
END_TEST

START_TEST(test_names_outside_the_namespace_are_not_taken)
{
	static const char *const names[] = {"Elsewhere/Sub2", NULL};
	struct fixture f;

	fixture_init(&f, "INBOX.", '.');
	take(&f, names, (const char[]){'/'});
	ck_assert_uint_eq(f.st.nspell, 0);
	expect_name(&f, "Elsewhere/Sub2", "INBOX.Elsewhere.Sub2");
	fixture_free(&f);
}
END_TEST

START_TEST(test_the_configured_prefix_wins_over_namespace)
{
	static const char *const names[] = {"INBOX", "INBOX.Work", "Work", NULL};
	struct ferry_error err = {0};
	struct fixture f;

	fixture_init(&f, "", 0);
	f.st.ns_known = false;
	f.conf.imap.prefix = "INBOX.";
	ck_assert_int_eq(imap_settle_namespace(&f.st, '.', true, &err), 0);
	ck_assert_str_eq(f.st.ns_prefix, "INBOX.");
	ck_assert_int_eq(f.st.ns_delimiter, '.');
	take(&f, names, (const char[]){'.', '.', '.'});
	ck_assert_uint_eq(f.st.nspell, 2); /* INBOX and Work; "Work" is outside */
	expect_name(&f, "Work", "INBOX.Work");
	expect_name(&f, "Local", "INBOX.Local");
	expect_name(&f, "INBOX", "INBOX");
	fixture_free(&f);
}
END_TEST

START_TEST(test_without_a_configured_prefix_namespace_stands)
{
	struct ferry_error err = {0};
	struct fixture f;

	fixture_init(&f, "INBOX.", 0);
	f.st.ns_known = false;
	ck_assert_int_eq(imap_settle_namespace(&f.st, '.', true, &err), 0);
	ck_assert_str_eq(f.st.ns_prefix, "INBOX.");
	fixture_free(&f);
}
END_TEST

/* imap_result with the stream buffer holding what libetpan just parsed. */
static int result_of(int tag, const char *response, int r)
{
	struct imap_store st = {0};
	int got;

	st.imap = mailimap_new(0, NULL);
	ck_assert_ptr_nonnull(st.imap);
	st.imap->imap_tag = tag;
	ck_assert_ptr_nonnull(mmap_string_assign(st.imap->imap_stream_buffer, response));
	got = imap_result(&st, r);
	mailimap_free(st.imap);
	return got;
}

START_TEST(test_a_bad_to_the_command_sent_is_that_commands_error)
{
	ck_assert_int_eq(result_of(7, "7 BAD weird mailbox name\r\n", MAILIMAP_ERROR_PROTOCOL),
			 IMAP_ERROR_BAD);
	ck_assert_int_eq(result_of(7, "* 3 EXISTS\r\n* OK [UIDVALIDITY 1] x\r\n7 bad\r\n",
				   MAILIMAP_ERROR_PROTOCOL),
			 IMAP_ERROR_BAD);
	ck_assert(!imap_error_is_fatal(IMAP_ERROR_BAD));
	ck_assert_int_eq(imap_cause(IMAP_ERROR_BAD), FERRY_CAUSE_REFUSED);
}
END_TEST

START_TEST(test_an_answer_under_another_tag_breaks_the_session)
{
	ck_assert_int_eq(result_of(7, "6 BAD weird\r\n", MAILIMAP_ERROR_PROTOCOL), IMAP_ERROR_TAG);
	ck_assert_int_eq(result_of(7, "17 BAD weird\r\n", MAILIMAP_ERROR_PROTOCOL), IMAP_ERROR_TAG);
	ck_assert_int_eq(result_of(7, "6 OK done\r\n", MAILIMAP_ERROR_PROTOCOL), IMAP_ERROR_TAG);
	ck_assert_int_eq(result_of(7, "7 BADLY\r\n", MAILIMAP_ERROR_PROTOCOL), IMAP_ERROR_TAG);
	ck_assert_int_eq(result_of(7, "", MAILIMAP_ERROR_PROTOCOL), IMAP_ERROR_TAG);
	ck_assert(imap_error_is_fatal(IMAP_ERROR_TAG));
}
END_TEST

START_TEST(test_other_results_pass_unchanged)
{
	ck_assert_int_eq(result_of(7, "7 BAD x\r\n", MAILIMAP_ERROR_STREAM), MAILIMAP_ERROR_STREAM);
	ck_assert_int_eq(result_of(7, "7 NO x\r\n", MAILIMAP_ERROR_SELECT), MAILIMAP_ERROR_SELECT);
	ck_assert_int_eq(result_of(7, "7 OK x\r\n", MAILIMAP_NO_ERROR), MAILIMAP_NO_ERROR);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("imap_names");
	TCase *tc = tcase_create("names");

	tcase_add_test(tc, test_a_listed_folder_is_named_as_listed);
	tcase_add_test(tc, test_a_new_child_is_named_below_its_listed_parent);
	tcase_add_test(tc, test_a_child_below_the_inbox_is_not_spelled_from_it);
	tcase_add_test(tc, test_of_two_spellings_of_one_folder_the_first_listed_wins);
	tcase_add_test(tc, test_names_outside_the_namespace_are_not_taken);
	tcase_add_test(tc, test_the_configured_prefix_wins_over_namespace);
	tcase_add_test(tc, test_without_a_configured_prefix_namespace_stands);
	suite_add_tcase(s, tc);
	tc = tcase_create("bad");
	tcase_add_test(tc, test_a_bad_to_the_command_sent_is_that_commands_error);
	tcase_add_test(tc, test_an_answer_under_another_tag_breaks_the_session);
	tcase_add_test(tc, test_other_results_pass_unchanged);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
