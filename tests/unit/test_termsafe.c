/* Text from outside shown on a terminal (store/base/termsafe.c): control
 * characters escaped, UTF-8 kept, columns by display width. */
#include <check.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include "store/base/termsafe.h"

static const struct {
	const char *what, *in, *out;
	size_t len; /* 0: strlen(in) */
} cases[] = {
    {"plain ASCII stays", "INBOX/Sent \\Seen", "INBOX/Sent \\Seen", 0},
    {"clear screen (ESC [ 2 J)", "a\x1b[2Jb", "a\\e[2Jb", 0},
    {"OSC window title ending in BEL", "\x1b]0;pwned\x07", "\\e]0;pwned\\x07", 0},
    {"OSC 52 clipboard ending in ST", "\x1b]52;c;eA==\x1b\\", "\\e]52;c;eA==\\e\\", 0},
    {"carriage return and line feed", "ok\rfake\n", "ok\\x0dfake\\x0a", 0},
    {"backspace, tab and DEL", "\b\t\x7f", "\\x08\\x09\\x7f", 0},
    {"a NUL inside the text", "a\0b", "a\\x00b", 3},
    {"UTF-8 kept: Entwürfe", "Entw\xc3\xbcrfe", "Entw\xc3\xbcrfe", 0},
    {"UTF-8 kept: 送信済み", "\xe9\x80\x81\xe4\xbf\xa1\xe6\xb8\x88\xe3\x81\xbf",
     "\xe9\x80\x81\xe4\xbf\xa1\xe6\xb8\x88\xe3\x81\xbf", 0},
    {"UTF-8 kept: four bytes", "\xf0\x9f\x93\xa7", "\xf0\x9f\x93\xa7", 0},
    {"UTF-8 kept: U+00A0, first after C1", "\xc2\xa0", "\xc2\xa0", 0},
    {"U+009B (CSI as UTF-8) escaped",
     "\xc2\x9b"
     "2J",
     "\\xc2\\x9b2J", 0},
    {"U+0080 escaped", "\xc2\x80", "\\xc2\\x80", 0},
    {"a raw C1 byte (CSI 0x9b) escaped",
     "\x9b"
     "2J",
     "\\x9b2J", 0},
    {"Latin-1, not UTF-8, escaped",
     "Entw\xfc"
     "rfe",
     "Entw\\xfcrfe", 0},
    {"an overlong form escaped", "\xc0\xaf", "\\xc0\\xaf", 0},
    {"a surrogate escaped", "\xed\xa0\x80", "\\xed\\xa0\\x80", 0},
    {"a sequence cut by the end escaped", "\xe9\x80", "\\xe9\\x80", 0},
};

START_TEST(escape_table)
{
	const char *in = cases[_i].in;
	size_t len = cases[_i].len ? cases[_i].len : strlen(in);
	char out[256], again[256];
	size_t n = termsafe_escape(in, len, out, sizeof(out));

	ck_assert_msg(strcmp(out, cases[_i].out) == 0, "%s: got \"%s\"", cases[_i].what, out);
	ck_assert_uint_eq(n, strlen(out));
	/* Escaped text is safe text: escaping it again changes nothing. */
	termsafe_escape(out, n, again, sizeof(again));
	ck_assert_str_eq(again, out);
}
END_TEST

START_TEST(escape_cuts_at_a_whole_escape)
{
	char out[6];

	/* "ab" + "\e" fits in 5 bytes and a NUL; the next "\x07" does not. */
	ck_assert_uint_eq(termsafe_escape("ab\x1b\x07", 4, out, sizeof(out)), 4);
	ck_assert_str_eq(out, "ab\\e");
	ck_assert_uint_eq(termsafe_escape("x", 1, out, 1), 0);
	ck_assert_str_eq(out, "");
}
END_TEST

static void utf8_locale(void)
{
	ck_assert_msg(setlocale(LC_CTYPE, "C.UTF-8") != NULL, "the C.UTF-8 locale is missing");
}

START_TEST(width_counts_columns)
{
	utf8_locale();
	ck_assert_uint_eq(termsafe_width("INBOX"), 5);
	ck_assert_uint_eq(termsafe_width("Entw\xc3\xbcrfe"), 8);
	ck_assert_uint_eq(termsafe_width("\xce\x95\xce\xbb\xce\xbb\xce\xb7\xce\xbd\xce\xb9\xce"
					 "\xba\xce\xac"),
			  8); /* Ελληνικά */
	/* 送信済み: four wide characters */
	ck_assert_uint_eq(termsafe_width("\xe9\x80\x81\xe4\xbf\xa1\xe6\xb8\x88\xe3\x81\xbf"), 8);
	/* e + COMBINING ACUTE ACCENT: one column */
	ck_assert_uint_eq(termsafe_width("e\xcc\x81"), 1);
}
END_TEST

START_TEST(width_outside_utf8_counts_characters)
{
	ck_assert_ptr_nonnull(setlocale(LC_CTYPE, "C"));
	ck_assert_uint_eq(termsafe_width("Entw\xc3\xbcrfe"), 8);
	ck_assert_uint_eq(termsafe_width("\xe9\x80\x81\xe4\xbf\xa1"), 2);
}
END_TEST

static void column_is(const char *s, size_t width, const char *want)
{
	char *got = termsafe_column(s, width);

	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got, want);
	free(got);
}

START_TEST(column_pads_by_display_width)
{
	utf8_locale();
	column_is("Entw\xc3\xbcrfe", 10, "Entw\xc3\xbcrfe  ");
	column_is("\xe9\x80\x81\xe4\xbf\xa1", 6, "\xe9\x80\x81\xe4\xbf\xa1  ");
	column_is("a\x1b[2J", 8, "a\\e[2J  ");
	column_is("much too long", 4, "much too long");
	column_is("\x1b", 0, "\\e");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("termsafe");
	TCase *tc = tcase_create("termsafe");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, escape_table, 0, (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_test(tc, escape_cuts_at_a_whole_escape);
	tcase_add_test(tc, width_counts_columns);
	tcase_add_test(tc, width_outside_utf8_counts_characters);
	tcase_add_test(tc, column_pads_by_display_width);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
