/* store/flags.c: the flag table and keyword sets (DESIGN.md rule 9:
 * keywords compare case-insensitively). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "store/flags.h"
#include "store/store.h"

/* ---- the flag table ---- */

START_TEST(test_every_system_flag_maps_both_ways)
{
	static const struct {
		const char *imap;
		char letter;
		unsigned bit;
	} want[] = {
	    {"\\Draft", 'D', MF_DRAFT},	       {"\\Flagged", 'F', MF_FLAGGED},
	    {"$Forwarded", 'P', MF_FORWARDED}, {"\\Answered", 'R', MF_ANSWERED},
	    {"\\Seen", 'S', MF_SEEN},	       {"\\Deleted", 'T', MF_DELETED},
	};

	ck_assert_uint_eq(flag_table_len, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < flag_table_len; i++) {
		ck_assert_uint_eq(flag_from_imap(want[i].imap), want[i].bit);
		ck_assert_uint_eq(flag_from_letter(want[i].letter), want[i].bit);
		ck_assert_str_eq(flag_table[i].imap, want[i].imap);
		ck_assert_int_eq(flag_table[i].letter, want[i].letter);
	}
}
END_TEST

START_TEST(test_flag_table_is_in_maildir_letter_order_and_covers_all_bits)
{
	unsigned all = 0;

	for (size_t i = 0; i < flag_table_len; i++) {
		if (i)
			ck_assert_int_lt(flag_table[i - 1].letter, flag_table[i].letter);
		ck_assert_uint_eq(all & flag_table[i].bit, 0);
		all |= flag_table[i].bit;
	}
	ck_assert_uint_eq(all, MF_ALL);
}
END_TEST

START_TEST(test_imap_flag_names_are_case_insensitive)
{
	ck_assert_uint_eq(flag_from_imap("\\SEEN"), MF_SEEN);
	ck_assert_uint_eq(flag_from_imap("\\seen"), MF_SEEN);
	ck_assert_uint_eq(flag_from_imap("$forwarded"), MF_FORWARDED);
	ck_assert_uint_eq(flag_from_imap("\\dElEtEd"), MF_DELETED);
}
END_TEST

START_TEST(test_other_imap_flags_are_keywords)
{
	static const char *const keywords[] = {
	    "$Junk", "NonJunk", "\\Recent", "Seen", "\\Seen2", "", "\\", "$Forwarded2",
	};

	for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
		ck_assert_msg(flag_from_imap(keywords[i]) == 0, "%s", keywords[i]);
}
END_TEST

START_TEST(test_unmanaged_maildir_letters_map_to_nothing)
{
	/* Lowercase letters are Dovecot keywords, others are not ferry's. */
	static const char others[] = "dfprstabcxyzABCEGQUZ0,:";

	for (size_t i = 0; others[i]; i++)
		ck_assert_msg(flag_from_letter(others[i]) == 0, "'%c'", others[i]);
	ck_assert_uint_eq(flag_from_letter('\0'), 0);
}
END_TEST

/* ---- kw_valid ---- */

START_TEST(test_keyword_atoms_are_valid)
{
	static const char *const ok[] = {"$Junk",   "NonJunk", "a",	  "$label1",
					 "x-y_z.w", "~!@#&+=", "[bracket"};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		ck_assert_msg(kw_valid(ok[i], strlen(ok[i])), "%s", ok[i]);
}
END_TEST

START_TEST(test_keyword_with_special_or_control_characters_is_invalid)
{
	static const char *const bad[] = {
	    "",	     "\\Seen", "a b",	      "a(", "a)",  "{5}", "50%",  "a*",
	    "say\"", "a]",     "back\\slash", "\t", "a\r", "a\n", "\x7f", "caf\xc3\xa9",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(!kw_valid(bad[i], strlen(bad[i])), "'%s'", bad[i]);
}
END_TEST

START_TEST(test_keyword_validity_reads_only_len_bytes)
{
	ck_assert(kw_valid("abc def", 3));
	ck_assert(!kw_valid("abc def", 4));
	ck_assert(!kw_valid("abc", 0));
}
END_TEST

/* ---- keyword sets ---- */

/* A set operation's result, compared as text: sets are normalised (sorted
 * case-insensitively, no duplicates), so the text is deterministic except
 * for which spelling of a case-duplicate survives. */
static void assert_set(char *got, const char *want)
{
	if (!want)
		ck_assert_msg(got == NULL, "got '%s', want the empty set (NULL)", got ? got : "");
	else
		ck_assert_msg(got && strcmp(got, want) == 0, "got '%s', want '%s'",
			      got ? got : "(null)", want);
	free(got);
}

START_TEST(test_normalize_sorts_case_insensitively_and_drops_duplicates)
{
	bool oom = false;
	char *one;

	assert_set(kw_normalize("b A c", &oom), "A b c");
	assert_set(kw_normalize("  c   b  a ", &oom), "a b c");
	assert_set(kw_normalize("ab a", &oom), "a ab");
	assert_set(kw_normalize("a a a", &oom), "a");
	one = kw_normalize("Foo foo FOO", &oom);
	ck_assert(one && strlen(one) == 3 && kw_equal(one, "foo"));
	free(one);
	ck_assert(!oom);
}
END_TEST

START_TEST(test_empty_sets_are_null)
{
	bool oom = false;

	assert_set(kw_normalize(NULL, &oom), NULL);
	assert_set(kw_normalize("", &oom), NULL);
	assert_set(kw_normalize("   ", &oom), NULL);
	assert_set(kw_union(NULL, NULL, &oom), NULL);
	assert_set(kw_minus("a b", "B A", &oom), NULL);
	assert_set(kw_intersect("a", "b", &oom), NULL);
	assert_set(kw_intersect(NULL, "b", &oom), NULL);
	ck_assert(!oom);
}
END_TEST

START_TEST(test_union_keeps_each_keyword_once_whatever_its_case)
{
	bool oom = false;
	char *u = kw_union("$Junk b", "$junk a", &oom);

	ck_assert(kw_equal(u, "a b $Junk"));
	ck_assert_uint_eq(strlen(u), strlen("$Junk a b"));
	free(u);
	assert_set(kw_union(NULL, "b a", &oom), "a b");
	assert_set(kw_union("b a", NULL, &oom), "a b");
	assert_set(kw_union("a", "a", &oom), "a");
	ck_assert(!oom);
}
END_TEST

START_TEST(test_minus_and_intersect_compare_case_insensitively)
{
	bool oom = false;

	assert_set(kw_minus("a B c", "b", &oom), "a c");
	assert_set(kw_minus("a b", NULL, &oom), "a b");
	assert_set(kw_minus(NULL, "a", &oom), NULL);
	assert_set(kw_minus("ab abc", "a", &oom), "ab abc");
	assert_set(kw_intersect("a B c", "b C d", &oom), "B c");
	assert_set(kw_intersect("ab", "abc", &oom), NULL);
	ck_assert(!oom);
}
END_TEST

START_TEST(test_set_equality_ignores_case_order_and_spacing)
{
	ck_assert(kw_equal(NULL, NULL));
	ck_assert(kw_equal(NULL, ""));
	ck_assert(kw_equal("  ", NULL));
	ck_assert(kw_equal("A b", "B  a"));
	ck_assert(kw_equal("a a", "a"));
	ck_assert(!kw_equal("a", NULL));
	ck_assert(!kw_equal("a", "ab"));
	ck_assert(!kw_equal("a b", "a"));
}
END_TEST

START_TEST(test_contains_matches_whole_keywords_only)
{
	ck_assert(kw_contains("$Junk NonJunk", "$junk", 5));
	ck_assert(kw_contains("$Junk NonJunk", "nonjunk", 7));
	ck_assert(!kw_contains("abc", "ab", 2));
	ck_assert(!kw_contains("ab", "abc", 3));
	ck_assert(kw_contains("ab", "abc", 2)); /* kwlen bytes of kw only */
	ck_assert(!kw_contains(NULL, "a", 1));
	ck_assert(!kw_contains("a", "", 0));
}
END_TEST

START_TEST(test_empty_means_no_keyword)
{
	ck_assert(kw_empty(NULL));
	ck_assert(kw_empty(""));
	ck_assert(kw_empty("   "));
	ck_assert(!kw_empty(" a"));
}
END_TEST

START_TEST(test_results_are_owned_copies)
{
	bool oom = false;
	char in[] = "b a";
	char *n = kw_normalize(in, &oom);

	in[0] = 'z';
	ck_assert_str_eq(n, "a b");
	free(n);
	/* oom may be NULL. */
	assert_set(kw_union("x", "y", NULL), "x y");
}
END_TEST

static Suite *flags_suite(void)
{
	Suite *s = suite_create("flags");
	TCase *table = tcase_create("table"), *valid = tcase_create("kw_valid");
	TCase *sets = tcase_create("keyword sets");

	tcase_add_test(table, test_every_system_flag_maps_both_ways);
	tcase_add_test(table, test_flag_table_is_in_maildir_letter_order_and_covers_all_bits);
	tcase_add_test(table, test_imap_flag_names_are_case_insensitive);
	tcase_add_test(table, test_other_imap_flags_are_keywords);
	tcase_add_test(table, test_unmanaged_maildir_letters_map_to_nothing);
	tcase_add_test(valid, test_keyword_atoms_are_valid);
	tcase_add_test(valid, test_keyword_with_special_or_control_characters_is_invalid);
	tcase_add_test(valid, test_keyword_validity_reads_only_len_bytes);
	tcase_add_test(sets, test_normalize_sorts_case_insensitively_and_drops_duplicates);
	tcase_add_test(sets, test_empty_sets_are_null);
	tcase_add_test(sets, test_union_keeps_each_keyword_once_whatever_its_case);
	tcase_add_test(sets, test_minus_and_intersect_compare_case_insensitively);
	tcase_add_test(sets, test_set_equality_ignores_case_order_and_spacing);
	tcase_add_test(sets, test_contains_matches_whole_keywords_only);
	tcase_add_test(sets, test_empty_means_no_keyword);
	tcase_add_test(sets, test_results_are_owned_copies);
	suite_add_tcase(s, table);
	suite_add_tcase(s, valid);
	suite_add_tcase(s, sets);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(flags_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
