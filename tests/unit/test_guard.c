/* The guard (store/imap/guard.c) over a scripted transport: a well-formed
 * session comes out byte for byte whatever the read sizes, literals (even
 * ones holding CRLF and "{5}") are not taken for lines, and each cap gives
 * -1 with its reason; untagged lines before the greeting are dropped, and a
 * late PREAUTH is passed on as "* OK" and reported. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/imap/guard.h"
#include "store/log.h"

/* ---- a scripted transport ---- */

/* What the "server" sends: in chunks of at most chunk bytes, then -1 as
 * the end of stream. A generator makes large inputs without holding them. */
struct fake {
	const char *in;
	size_t in_len, in_off, chunk;
	/* Or: prefix, then fill bytes up to total, then suffix. */
	size_t fill_total;
	char fill;
};

static struct fake fake;

static ssize_t fake_read(mailstream_low *s, void *buf, size_t len)
{
	size_t n = fake.in_len - fake.in_off;

	(void)s;
	if (fake.fill_total && fake.in_off >= fake.in_len) {
		n = fake.fill_total;
		if (n > len)
			n = len;
		if (n > fake.chunk)
			n = fake.chunk;
		memset(buf, fake.fill, n);
		fake.fill_total -= n;
		return (ssize_t)n;
	}
	if (n == 0)
		return -1;
	if (n > len)
		n = len;
	if (n > fake.chunk)
		n = fake.chunk;
	memcpy(buf, fake.in + fake.in_off, n);
	fake.in_off += n;
	return (ssize_t)n;
}

static ssize_t fake_write(mailstream_low *s, const void *buf, size_t len)
{
	(void)s;
	(void)buf;
	return (ssize_t)len;
}

static int fake_close(mailstream_low *s)
{
	(void)s;
	return 0;
}

static int fake_get_fd(mailstream_low *s)
{
	(void)s;
	return -1;
}

static void fake_free(mailstream_low *s)
{
	free(s);
}

static mailstream_low_driver fake_driver = {
    .mailstream_read = fake_read,
    .mailstream_write = fake_write,
    .mailstream_close = fake_close,
    .mailstream_get_fd = fake_get_fd,
    .mailstream_free = fake_free,
};

static mailstream_low *open_guard(const char *in, size_t chunk)
{
	struct ferry_error err = {0};
	mailstream_low *g;

	memset(&fake, 0, sizeof(fake));
	fake.in = in;
	fake.in_len = strlen(in);
	fake.chunk = chunk;
	g = guard_open(mailstream_low_new(NULL, &fake_driver), &err);
	ck_assert_ptr_nonnull(g);
	return g;
}

static void close_guard(mailstream_low *g)
{
	mailstream_low_close(g);
	mailstream_low_free(g);
}

/* Everything the guard passes on until its -1, read bufsize bytes at a
 * time; the caller frees it. */
static char *read_all(mailstream_low *g, size_t bufsize, size_t *len)
{
	char *out = NULL, buf[65536];
	size_t n = 0;
	ssize_t r;

	while ((r = mailstream_low_read(g, buf, bufsize)) > 0) {
		out = realloc(out, n + (size_t)r + 1);
		ck_assert_ptr_nonnull(out);
		memcpy(out + n, buf, (size_t)r);
		n += (size_t)r;
	}
	ck_assert_int_eq(r, -1);
	if (!out)
		out = calloc(1, 1);
	ck_assert_ptr_nonnull(out);
	out[n] = '\0';
	*len = n;
	return out;
}

static const char session[] =
    "* OK [CAPABILITY IMAP4rev1] ready\r\n"
    "1 OK done\r\n"
    "* LIST (\\HasNoChildren) \"/\" {11}\r\nwith\r\n{5}\r\n\r\n"
    "* 1 FETCH (UID 7 BODY[] {24}\r\n{99999999999}\r\n* PREAUTH  FLAGS (\\Seen))\r\n"
    "* PREAUTH late, but after the first answer: passed on\r\n"
    "2 OK [ALERT] fine\r\n";

static const size_t chunks[] = {1, 2, 3, 7, 64, 65536};
static const size_t bufs[] = {5, 6, 11, 4096};

START_TEST(test_a_session_comes_out_unchanged_in_any_pieces)
{
	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++)
		for (size_t b = 0; b < sizeof(bufs) / sizeof(bufs[0]); b++) {
			mailstream_low *g = open_guard(session, chunks[c]);
			size_t len;
			char *out = read_all(g, bufs[b], &len);

			ck_assert_str_eq(guard_error(g), "");
			ck_assert_uint_eq(len, sizeof(session) - 1);
			ck_assert_str_eq(out, session);
			ck_assert(!guard_late_preauth(g));
			free(out);
			close_guard(g);
		}
}
END_TEST

START_TEST(test_a_late_preauth_is_passed_on_as_ok_and_reported)
{
	static const char in[] = "* OK [ALERT] Filesystem notification initialization error\r\n"
				 "* PREAUTH [CAPABILITY IMAP4rev1] ready\r\n"
				 "1 OK CAPABILITY done\r\n";
	static const char want[] = "* OK [ALERT] Filesystem notification initialization error\r\n"
				   "* OK [CAPABILITY IMAP4rev1] ready\r\n"
				   "1 OK CAPABILITY done\r\n";

	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		mailstream_low *g = open_guard(in, chunks[c]);
		size_t len;
		char *out = read_all(g, 4096, &len);

		ck_assert_str_eq(out, want);
		ck_assert(guard_late_preauth(g));
		ck_assert(!guard_awaiting_first_answer(g));
		free(out);
		close_guard(g);
	}
}
END_TEST

START_TEST(test_untagged_no_before_the_greeting_is_dropped)
{
	static const char in[] = "* NO [ALERT] index rebuilt\r\n* NO busy\r\n* OK hello\r\n";

	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		mailstream_low *g = open_guard(in, chunks[c]);
		size_t len;
		char *out = read_all(g, 4096, &len);

		ck_assert_str_eq(out, "* OK hello\r\n");
		ck_assert(guard_awaiting_first_answer(g));
		free(out);
		close_guard(g);
	}
}
END_TEST

START_TEST(test_a_line_over_the_cap_fails_with_its_reason)
{
	mailstream_low *g = open_guard("* OK ", 65536);
	size_t len;
	char *out;

	fake.fill = 'x';
	fake.fill_total = (size_t)GUARD_LINE_MAX + 10;
	out = read_all(g, 65536, &len);
	ck_assert_uint_le(len, GUARD_LINE_MAX);
	ck_assert_str_eq(guard_error(g), "the server sent a response line over 2 MB");
	ck_assert_int_eq(mailstream_low_read(g, out, 1), -1); /* and stays failed */
	free(out);
	close_guard(g);
}
END_TEST

START_TEST(test_literals_are_held_to_what_the_command_may_receive)
{
	static const char big_name[] = "* OK hi\r\n1 OK x\r\n* LIST () \"/\" {8388609}\r\n";
	static const char body[] = "* OK hi\r\n1 OK x\r\n* 1 FETCH (UID 1 BODY[] {2000}\r\n";
	static const char body_over[] =
	    "* OK hi\r\n1 OK x\r\n* 1 FETCH (UID 1 BODY[]<0> {2001}\r\n";
	mailstream_low *g;
	size_t len;
	char *out;

	g = open_guard(big_name, 65536);
	free(read_all(g, 4096, &len));
	ck_assert_str_eq(guard_error(g), "the server announced a literal of 8388609 bytes, over "
					 "the 8388608 bytes this command may receive");
	close_guard(g);

	/* A body section within what the fetch expects: only the end of
	 * stream stops it. */
	g = open_guard(body, 1);
	guard_expect_sections(g, 2000);
	out = read_all(g, 4096, &len);
	ck_assert_str_eq(guard_error(g), "");
	free(out);
	close_guard(g);

	g = open_guard(body_over, 3);
	guard_expect_sections(g, 2000);
	free(read_all(g, 4096, &len));
	ck_assert_str_eq(guard_error(g), "the server announced a literal of 2001 bytes, over the "
					 "2000 bytes this command may receive");
	close_guard(g);
}
END_TEST

/* count untagged EXISTS lines, then a tagged line, then count more. */
static char *flood(size_t count, bool tagged_between)
{
	static const char line[] = "* 3 EXISTS\r\n";
	size_t n = sizeof(line) - 1, total = 32 + (count * 2) * n;
	char *s = malloc(total), *p = s;

	ck_assert_ptr_nonnull(s);
	p += sprintf(p, "* OK hi\r\n");
	for (size_t i = 0; i < count; i++)
		p += sprintf(p, "%s", line);
	if (tagged_between)
		p += sprintf(p, "1 OK x\r\n");
	for (size_t i = 0; i < count; i++)
		p += sprintf(p, "%s", line);
	return s;
}

START_TEST(test_untagged_responses_are_counted_up_to_the_tagged_answer)
{
	char *in = flood(GUARD_UNTAGGED_MAX / 2 + 10, true);
	mailstream_low *g = open_guard(in, 65536);
	size_t len;

	free(read_all(g, 65536, &len));
	ck_assert_str_eq(guard_error(g), "");
	close_guard(g);
	free(in);

	in = flood(GUARD_UNTAGGED_MAX / 2 + 10, false);
	g = open_guard(in, 65536);
	free(read_all(g, 65536, &len));
	ck_assert_str_eq(guard_error(g), "the server sent over 100000 untagged responses to one "
					 "command");
	close_guard(g);

	/* A command that expects more says so. */
	g = open_guard(in, 65536);
	guard_expect_untagged(g, GUARD_UNTAGGED_MAX * 2);
	free(read_all(g, 65536, &len));
	ck_assert_str_eq(guard_error(g), "");
	close_guard(g);
	free(in);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("guard");
	TCase *tc = tcase_create("guard layer");
	SRunner *sr;
	int failed;

	log_set_level(LOG_QUIET); /* the alerts shown on the way */
	suite_add_tcase(s, tc);
	tcase_add_test(tc, test_a_session_comes_out_unchanged_in_any_pieces);
	tcase_add_test(tc, test_a_late_preauth_is_passed_on_as_ok_and_reported);
	tcase_add_test(tc, test_untagged_no_before_the_greeting_is_dropped);
	tcase_add_test(tc, test_a_line_over_the_cap_fails_with_its_reason);
	tcase_add_test(tc, test_literals_are_held_to_what_the_command_may_receive);
	tcase_add_test(tc, test_untagged_responses_are_counted_up_to_the_tagged_answer);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
