/* sync/placeholder.c: what a far message over max_size becomes near (its
 * header block, a note, the X-Ferry-Placeholder field), read back; and
 * store/identity.c's end of a header block, which reading headers alone
 * stops at. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "store/identity.h"
#include "sync/placeholder.h"

static const char head_crlf[] = "Return-Path: <bob@example.org>\r\n"
				"From: Bob <bob@example.org>\r\n"
				"Subject: The report\r\n"
				"MIME-Version: 1.0\r\n"
				"Content-Type: multipart/mixed;\r\n"
				"\tboundary=\"xyz\"\r\n"
				"X-Kept: folded\r\n"
				" on two lines\r\n"
				"Content-Transfer-Encoding: 7bit\r\n"
				"Message-ID: <r@example.org>\r\n"
				"\r\n";

static struct msg_id some_id(void)
{
	struct msg_id id = {.known = true};

	for (size_t i = 0; i < sizeof(id.hash); i++)
		id.hash[i] = (unsigned char)(i * 7 + 1);
	return id;
}

static char *build(const char *head, size_t len, const char *folder, bool flagged)
{
	struct msg_id id = some_id();
	struct placeholder_of of = {.channel = "work",
				    .folder = folder,
				    .uid = 42,
				    .size = 20971600,
				    .id = &id,
				    .flagged = flagged};
	struct strbuf out = {0};

	placeholder_build(head, len, &of, &out);
	ck_assert(!out.oom);
	return strbuf_take(&out);
}

/* The header block of text: up to its first empty line. */
static size_t header_len(const char *text)
{
	const char *end = strstr(text, "\n\n");

	ck_assert_ptr_nonnull(end);
	return (size_t)(end - text) + 2;
}

START_TEST(test_placeholder_keeps_the_header_without_the_body_mime_fields)
{
	char *p = build(head_crlf, sizeof(head_crlf) - 1, "INBOX", false);
	size_t hl = header_len(p);
	char *head = strndup(p, hl);

	ck_assert_ptr_nonnull(strstr(head, "Return-Path: <bob@example.org>\nFrom: Bob"));
	ck_assert_ptr_nonnull(strstr(head, "Subject: The report\n"));
	ck_assert_ptr_nonnull(strstr(head, "X-Kept: folded\n on two lines\n"));
	ck_assert_ptr_nonnull(strstr(head, "Message-ID: <r@example.org>\n"));
	ck_assert_ptr_null(strstr(head, "multipart"));
	ck_assert_ptr_null(strstr(head, "boundary"));
	ck_assert_ptr_null(strstr(head, "7bit"));
	ck_assert_ptr_null(strchr(head, '\r'));
	ck_assert_ptr_nonnull(strstr(head, "MIME-Version: 1.0\n"
					   "Content-Type: text/plain; charset=utf-8\n"
					   "Content-Transfer-Encoding: 8bit\n"));
	ck_assert_ptr_nonnull(strstr(head, "X-Ferry-Placeholder: size=20971600; uid=42; id=2:"
					   "01080f161d"));
	/* One MIME-Version, one Content-Type: the note's. */
	ck_assert_ptr_eq(strstr(head, "MIME-Version"), strstr(head, "MIME-Version: 1.0\nContent"));
	ck_assert_ptr_null(strstr(strstr(head, "Content-Type") + 1, "Content-Type"));
	free(head);
	free(p);
}
END_TEST

START_TEST(test_placeholder_note_says_the_size_and_the_command)
{
	char *p = build(head_crlf, sizeof(head_crlf) - 1, "INBOX", false);
	const char *body = p + header_len(p);

	ck_assert_ptr_nonnull(strstr(body, "20.0 MB (20971600 bytes)"));
	ck_assert_ptr_nonnull(strstr(body, "    ferry fetch work:INBOX 42\n"));
	ck_assert_ptr_null(strstr(body, "flag it"));
	free(p);
	p = build(head_crlf, sizeof(head_crlf) - 1, "Archive/2026 Q4", true);
	body = p + header_len(p);
	ck_assert_ptr_nonnull(strstr(body, "ferry fetch 'work:Archive/2026 Q4' 42\n"));
	ck_assert_ptr_nonnull(strstr(body, "or flag it (\\Flagged"));
	free(p);
}
END_TEST

START_TEST(test_placeholder_of_a_header_without_its_empty_line_or_final_newline)
{
	static const char head[] = "Subject: cut\nX-Last: no newline";
	char *p = build(head, sizeof(head) - 1, "INBOX", false);

	ck_assert_ptr_nonnull(strstr(p, "Subject: cut\nX-Last: no newline\nMIME-Version: 1.0\n"));
	free(p);
}
END_TEST

START_TEST(test_placeholder_reads_back_the_original_identity)
{
	char *p = build(head_crlf, sizeof(head_crlf) - 1, "INBOX", false);
	struct msg_id want = some_id(), id;
	uint64_t size;

	ck_assert_int_eq(placeholder_parse(p, strlen(p), &id, &size), 1);
	ck_assert(id.known);
	ck_assert_mem_eq(id.hash, want.hash, sizeof(want.hash));
	ck_assert_uint_eq(size, 20971600);
	free(p);
}
END_TEST

START_TEST(test_a_message_without_the_field_is_no_placeholder)
{
	struct msg_id id;
	uint64_t size = 1;

	ck_assert_int_eq(placeholder_parse(head_crlf, sizeof(head_crlf) - 1, &id, &size), 0);
	ck_assert(!id.known);
	/* The field in the body is not the header's. */
	static const char body[] = "Subject: x\n\nX-Ferry-Placeholder: size=1; id=2:00\n";
	ck_assert_int_eq(placeholder_parse(body, sizeof(body) - 1, &id, &size), 0);
}
END_TEST

START_TEST(test_a_damaged_field_is_still_a_placeholder_without_identity)
{
	static const char head[] = "Subject: x\nx-ferry-placeholder: size=12; id=2:zz\n\n";
	struct msg_id id;
	uint64_t size;

	ck_assert_int_eq(placeholder_parse(head, sizeof(head) - 1, &id, &size), 1);
	ck_assert(!id.known);
}
END_TEST

START_TEST(test_header_end_is_found_across_chunks_and_line_endings)
{
	struct header_end h = {0};

	ck_assert_uint_eq(header_end_feed(&h, "A: b\r\n\r", 7), 7);
	ck_assert(!h.ended);
	ck_assert_uint_eq(header_end_feed(&h, "\nbody\n", 6), 1);
	ck_assert(h.ended);
	ck_assert_uint_eq(header_end_feed(&h, "more", 4), 0);
	h = (struct header_end){0};
	ck_assert_uint_eq(header_end_feed(&h, "A: b\nC: d\n\nbody", 15), 11);
	h = (struct header_end){0};
	ck_assert_uint_eq(header_end_feed(&h, "\nbody", 5), 1); /* no header at all */
	h = (struct header_end){0};
	ck_assert_uint_eq(header_end_feed(&h, "A: b\n", 5), 5);
	ck_assert(!h.ended);
}
END_TEST

static Suite *placeholder_suite(void)
{
	Suite *s = suite_create("placeholder");
	TCase *tc = tcase_create("placeholder");

	tcase_add_test(tc, test_placeholder_keeps_the_header_without_the_body_mime_fields);
	tcase_add_test(tc, test_placeholder_note_says_the_size_and_the_command);
	tcase_add_test(tc, test_placeholder_of_a_header_without_its_empty_line_or_final_newline);
	tcase_add_test(tc, test_placeholder_reads_back_the_original_identity);
	tcase_add_test(tc, test_a_message_without_the_field_is_no_placeholder);
	tcase_add_test(tc, test_a_damaged_field_is_still_a_placeholder_without_identity);
	tcase_add_test(tc, test_header_end_is_found_across_chunks_and_line_endings);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(placeholder_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
