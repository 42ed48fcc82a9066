/* IMAP mailbox names <-> canonical folder names (store/imap/utf7.c):
 * modified UTF-7 per level, delimiters, the namespace prefix, INBOX, and
 * every name that must never reach the server or the file system. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/imap/utf7.h"

/* A server name and the canonical name it decodes to. */
struct decoding {
	const char *server;
	char delimiter;
	const char *prefix;
	const char *canonical;
};

static const struct decoding decodings[] = {
    {"Entw&APw-rfe", '/', "", "Entwürfe"},
    {"&ZeVnLA-", '/', "", "日本"},
    {"A&-B", '/', "", "A&B"},
    {"&-", '/', "", "&"},
    {"&2D3eAQ-", '/', "", "😁"},
    {"Work/Entw&APw-rfe", '/', "", "Work/Entwürfe"},
    {"Work.Entw&APw-rfe", '.', "", "Work/Entwürfe"},
    {"Work.Sub.Deeper", '.', "", "Work/Sub/Deeper"},
    {"a b \"quoted\" \\back", '/', "", "a b \"quoted\" \\back"},
    {"INBOX.Work.Sub", '.', "INBOX.", "Work/Sub"},
    {"INBOX.Entw&APw-rfe", '.', "INBOX.", "Entwürfe"},
    {"inbox.Sent", '.', "INBOX.", "Sent"},
    {"INBOX", '.', "INBOX.", "INBOX"},
    {"INBOX", '/', "", "INBOX"},
    {"inbox", '/', "", "INBOX"},
    {"InBox", '.', "INBOX.", "INBOX"},
    {"Inbox/Sub", '/', "", "INBOX/Sub"},
    {"INBOXES", '/', "", "INBOXES"},
    {"Flat", 0, "", "Flat"},
};

START_TEST(test_server_names_decode_per_level)
{
	const struct decoding *d = &decodings[_i];
	char *out = NULL;
	int r = imap_name_to_canonical(d->server, d->delimiter, d->prefix, &out);

	ck_assert_msg(r == IMAP_NAME_OK, "\"%s\" ('%c', \"%s\"): status %d", d->server,
		      d->delimiter, d->prefix, r);
	ck_assert_str_eq(out, d->canonical);
	free(out);
}
END_TEST

/* A canonical name and its server spelling. */
static const struct decoding encodings[] = {
    {"Entw&APw-rfe", '/', "", "Entwürfe"},
    {"&ZeVnLA-", '/', "", "日本"},
    {"A&-B", '/', "", "A&B"},
    {"&2D3eAA-", '/', "", "😀"},
    {"Work/Entw&APw-rfe", '/', "", "Work/Entwürfe"},
    {"Work.Entw&APw-rfe", '.', "", "Work/Entwürfe"},
    {"INBOX.Work.Entw&APw-rfe", '.', "INBOX.", "Work/Entwürfe"},
    {"INBOX", '.', "INBOX.", "INBOX"},
    {"INBOX", '/', "", "inbox"},
    {"INBOX/Sub", '/', "", "INBOX/Sub"},
    {"INBOX/Sub", '/', "", "Inbox/Sub"},
    {"a.b", '.', "", "a/b"},
    {"Flat", 0, "", "Flat"},
    {"~tilde %pct *star", '/', "", "~tilde %pct *star"},
};

START_TEST(test_canonical_names_encode_per_level)
{
	const struct decoding *e = &encodings[_i];
	char *out = NULL;
	int r = canonical_to_imap_name(e->canonical, e->delimiter, e->prefix, &out);

	ck_assert_msg(r == IMAP_NAME_OK, "\"%s\" ('%c', \"%s\"): status %d", e->canonical,
		      e->delimiter, e->prefix, r);
	ck_assert_str_eq(out, e->server);
	for (const char *p = out; *p; p++)
		ck_assert_msg(*p >= 0x20 && *p < 0x7f, "non-ASCII byte on the wire in \"%s\"", out);
	free(out);
}
END_TEST

/* Canonical names that survive encode + decode unchanged. */
static const struct decoding round_trips[] = {
    {NULL, '/', "", "Entwürfe"},	{NULL, '.', "", "Entwürfe"},
    {NULL, '.', "INBOX.", "Entwürfe"},	{NULL, '/', "", "日本/東京/Entwürfe"},
    {NULL, '.', "INBOX.", "日本/東京"}, {NULL, '/', "", "A&B/&/&&-"},
    {NULL, '.', "", "A&B/C&-D"},	{NULL, '/', "", "Ölf/ß/€uro/😀 smile"},
    {NULL, '/', "", "INBOX"},		{NULL, '.', "INBOX.", "INBOX"},
    {NULL, '/', "", "INBOX/Entwürfe"},	{NULL, '/', "", "Spaces in name/and \"quotes\""},
    {NULL, 0, "", "Flat Entwürfe"},
};

START_TEST(test_names_round_trip)
{
	const struct decoding *t = &round_trips[_i];
	char *server = NULL, *back = NULL;

	ck_assert_int_eq(canonical_to_imap_name(t->canonical, t->delimiter, t->prefix, &server),
			 IMAP_NAME_OK);
	ck_assert_msg(imap_name_to_canonical(server, t->delimiter, t->prefix, &back) ==
			  IMAP_NAME_OK,
		      "\"%s\" encoded as \"%s\" does not decode", t->canonical, server);
	ck_assert_str_eq(back, t->canonical);
	free(server);
	free(back);
}
END_TEST

/* Server names that must be refused: unsafe, ambiguous, or not valid
 * modified UTF-7. */
static const struct decoding refused_server[] = {
    {"evil\r\nX1 CAPABILITY", '/', "", NULL},
    {"evil\nname", '/', "", NULL},
    {"evil\rname", '/', "", NULL},
    {"tab\tname", '/', "", NULL},
    {"del\x7fname", '/', "", NULL},
    {"Entw\xc3\xbcrfe", '/', "", NULL}, /* raw UTF-8 is not mUTF-7 */
    {"&", '/', "", NULL},		/* unterminated shift */
    {"a&Zm", '/', "", NULL},		/* truncated base64: glibc drops it silently */
    {"&ZeVnLA", '/', "", NULL},		/* no closing '-' */
    {"&AGE-", '/', "", NULL},		/* "a" encoded: not canonical */
    {"&AAo-", '/', "", NULL},		/* decodes to LF */
    {"&AAA-", '/', "", NULL},		/* decodes to NUL */
    {"&AIU-", '/', "", NULL},		/* decodes to U+0085, a C1 control */
    {"&2D0-", '/', "", NULL},		/* lone surrogate */
    {"&AC8-", '.', "", NULL},		/* decodes to '/' */
    {"a/b", '.', "", NULL},		/* a level holding '/' */
    {"a//b", '/', "", NULL},		/* empty level */
    {"a/", '/', "", NULL},
    {"/a", '/', "", NULL},
    {"", '/', "", NULL},
    {"..", '/', "", NULL},
    {"a/../b", '/', "", NULL},
    {".", '.', "", NULL}, /* two empty levels */
    {"x/./y", '/', "", NULL},
    {"INBOX.INBOX", '.', "INBOX.", NULL}, /* would clash with the inbox */
    {"INBOX.inbox.Sub", '.', "INBOX.", NULL},
};

START_TEST(test_unsafe_server_names_are_refused)
{
	const struct decoding *d = &refused_server[_i];
	char *out = (char *)"untouched";
	int r = imap_name_to_canonical(d->server, d->delimiter, d->prefix, &out);

	ck_assert_msg(r == IMAP_NAME_INVALID, "server name #%d accepted as \"%s\" (status %d)", _i,
		      r == IMAP_NAME_OK ? out : "", r);
	ck_assert_ptr_null(out);
}
END_TEST

static const struct decoding outside[] = {
    {"Other Users.bob", '.', "INBOX.", NULL},
    {"shared.x", '.', "INBOX.", NULL},
    {"INBOX.", '.', "INBOX.", NULL}, /* the namespace itself */
    {"INBOXES.x", '.', "INBOX.", NULL},
};

START_TEST(test_names_outside_the_personal_namespace_are_told_apart)
{
	const struct decoding *d = &outside[_i];
	char *out = NULL;

	ck_assert_int_eq(imap_name_to_canonical(d->server, d->delimiter, d->prefix, &out),
			 IMAP_NAME_OUTSIDE);
	ck_assert_ptr_null(out);
}
END_TEST

/* Canonical names that must never be sent. */
static const struct decoding refused_canonical[] = {
    {NULL, '/', "", "evil\r\nX1 CAPABILITY"},
    {NULL, '/', "", "evil\nname"},
    {NULL, '/', "", "nul\x01name"},
    {NULL, '/', "", "del\x7f"},
    {NULL, '/', "", "\xff\xfe"}, /* invalid UTF-8 */
    {NULL, '/', "", "\xc3"},	 /* truncated UTF-8 */
    {NULL, '/', "", ""},
    {NULL, '/', "", "/abs"},
    {NULL, '/', "", "a//b"},
    {NULL, '/', "", "a/"},
    {NULL, '/', "", "../escape"},
    {NULL, '/', "", "a/./b"},
    {NULL, '.', "", "a.b"},		/* holds the delimiter */
    {NULL, 0, "", "a/b"},		/* hierarchy on a flat server */
    {NULL, '.', "INBOX.", "INBOX/Sub"}, /* INBOX.INBOX.Sub would not decode back */
};

START_TEST(test_unsafe_canonical_names_are_refused)
{
	const struct decoding *e = &refused_canonical[_i];
	char *out = (char *)"untouched";
	int r = canonical_to_imap_name(e->canonical, e->delimiter, e->prefix, &out);

	ck_assert_msg(r == IMAP_NAME_INVALID, "canonical name #%d accepted as \"%s\" (status %d)",
		      _i, r == IMAP_NAME_OK ? out : "", r);
	ck_assert_ptr_null(out);
}
END_TEST

START_TEST(test_null_prefix_means_no_prefix)
{
	char *out = NULL;

	ck_assert_int_eq(canonical_to_imap_name("Work/Sub", '/', NULL, &out), IMAP_NAME_OK);
	ck_assert_str_eq(out, "Work/Sub");
	free(out);
	ck_assert_int_eq(imap_name_to_canonical("Work/Sub", '/', NULL, &out), IMAP_NAME_OK);
	ck_assert_str_eq(out, "Work/Sub");
	free(out);
}
END_TEST

START_TEST(test_long_non_ascii_names_convert_whole)
{
	char canonical[4096] = "", *server = NULL, *back = NULL;

	/* 600 two-byte characters in one level: the buffers must grow. */
	for (int i = 0; i < 600; i++)
		strcat(canonical, i % 7 ? "ü" : "&");
	ck_assert_int_eq(canonical_to_imap_name(canonical, '/', "", &server), IMAP_NAME_OK);
	ck_assert_int_eq(imap_name_to_canonical(server, '/', "", &back), IMAP_NAME_OK);
	ck_assert_str_eq(back, canonical);
	free(server);
	free(back);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *utf7_suite(void)
{
	Suite *s = suite_create("utf7");
	TCase *tc = tcase_create("names");

	suite_add_tcase(s, tc);
	tcase_add_loop_test(tc, test_server_names_decode_per_level, 0, N(decodings));
	tcase_add_loop_test(tc, test_canonical_names_encode_per_level, 0, N(encodings));
	tcase_add_loop_test(tc, test_names_round_trip, 0, N(round_trips));
	tcase_add_loop_test(tc, test_unsafe_server_names_are_refused, 0, N(refused_server));
	tcase_add_loop_test(tc, test_names_outside_the_personal_namespace_are_told_apart, 0,
			    N(outside));
	tcase_add_loop_test(tc, test_unsafe_canonical_names_are_refused, 0, N(refused_canonical));
	tcase_add_test(tc, test_null_prefix_means_no_prefix);
	tcase_add_test(tc, test_long_non_ascii_names_convert_whole);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(utf7_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
