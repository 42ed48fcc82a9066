/* JSON strings (sync/json.c): what `status --json` and `list --json` print
 * must parse, whatever bytes a folder name or a conflict's text holds. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "sync/json.h"

static const struct {
	const char *what, *in, *out;
} cases[] = {
    {"plain ASCII", "INBOX/Sent", "\"INBOX/Sent\""},
    {"empty", "", "\"\""},
    {"quote and backslash", "a\"b\\c", "\"a\\\"b\\\\c\""},
    {"slash kept", "a/b", "\"a/b\""},
    {"short escapes", "\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\""},
    {"other C0 as \\u", "\x01\x1b[2J", "\"\\u0001\\u001b[2J\""},
    {"DEL", "\x7f", "\"\\u007f\""},
    {"UTF-8 kept: Entwürfe", "Entw\xc3\xbcrfe", "\"Entw\xc3\xbcrfe\""},
    {"UTF-8 kept: 送信済み", "\xe9\x80\x81\xe4\xbf\xa1\xe6\xb8\x88\xe3\x81\xbf",
     "\"\xe9\x80\x81\xe4\xbf\xa1\xe6\xb8\x88\xe3\x81\xbf\""},
    {"UTF-8 kept: four bytes", "\xf0\x9f\x93\xa7", "\"\xf0\x9f\x93\xa7\""},
    {"C1 (U+009B) as \\u", "\xc2\x9b", "\"\\u009b\""},
    {"Latin-1 byte replaced",
     "Entw\xfc"
     "rfe",
     "\"Entw\\ufffdrfe\""},
    {"overlong form replaced", "\xc0\xaf", "\"\\ufffd\\ufffd\""},
    {"surrogate replaced", "\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""},
    {"beyond U+10FFFF replaced", "\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""},
    {"sequence cut by the end replaced", "a\xe9\x80", "\"a\\ufffd\\ufffd\""},
    {"continuation byte alone replaced", "\x80x", "\"\\ufffdx\""},
};

START_TEST(string_table)
{
	struct strbuf sb = {0};
	char *got;

	json_add_string(&sb, cases[_i].in);
	got = strbuf_take(&sb);
	ck_assert_ptr_nonnull(got);
	ck_assert_msg(strcmp(got, cases[_i].out) == 0, "%s: got %s, want %s", cases[_i].what, got,
		      cases[_i].out);
	free(got);
}
END_TEST

START_TEST(null_is_null)
{
	struct strbuf sb = {0};
	char *got;

	strbuf_adds(&sb, "[");
	json_add_string(&sb, NULL);
	strbuf_adds(&sb, "]");
	got = strbuf_take(&sb);
	ck_assert_str_eq(got, "[null]");
	free(got);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("json");
	TCase *tc = tcase_create("json");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, string_table, 0, (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_test(tc, null_is_null);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
