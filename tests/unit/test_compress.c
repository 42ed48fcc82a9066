/* The COMPRESS=DEFLATE layer (store/imap/compress.c) over a scripted
 * transport: what it writes must inflate to the text at once (a sync flush
 * per write), what the server deflated must come out whole even in tiny
 * reads with nothing more coming, and corrupt, ended or missing data must
 * give -1 (never 0, never a hang) with the reason. Also which hosts
 * compress = auto takes for loopback. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <zlib.h>

#include "store/imap/compress.h"

/* ---- a scripted transport ---- */

/* What the "server" sends (read in chunks of at most chunk bytes, then -1
 * as the transport's end of stream) and what ferry wrote (taken at most
 * 1000 bytes per call, to exercise partial writes). */
struct fake {
	unsigned char *in;
	size_t in_len, in_off, chunk;
	unsigned char *out;
	size_t out_len, out_cap;
	int reads_at_eof, closed, freed;
	unsigned long timeout_seen;
};

static struct fake fake;

static ssize_t fake_read(mailstream_low *s, void *buf, size_t len)
{
	size_t n = fake.in_len - fake.in_off;

	fake.timeout_seen = s->timeout;
	if (n == 0) {
		fake.reads_at_eof++;
		return -1;
	}
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
	if (len > 1000)
		len = 1000;
	if (fake.out_len + len > fake.out_cap) {
		fake.out_cap = (fake.out_len + len) * 2;
		fake.out = realloc(fake.out, fake.out_cap);
		ck_assert_ptr_nonnull(fake.out);
	}
	memcpy(fake.out + fake.out_len, buf, len);
	fake.out_len += len;
	return (ssize_t)len;
}

static int fake_close(mailstream_low *s)
{
	(void)s;
	fake.closed++;
	return 0;
}

static int fake_get_fd(mailstream_low *s)
{
	(void)s;
	return -1;
}

static void fake_free(mailstream_low *s)
{
	fake.freed++;
	free(s);
}

static mailstream_low_driver fake_driver = {
    .mailstream_read = fake_read,
    .mailstream_write = fake_write,
    .mailstream_close = fake_close,
    .mailstream_get_fd = fake_get_fd,
    .mailstream_free = fake_free,
};

/* A deflate layer on a fresh fake that will send in[0..len) in chunks. */
static mailstream_low *open_layer(const void *in, size_t len, size_t chunk)
{
	struct ferry_error err = {0};
	mailstream_low *inner, *z;

	free(fake.in);
	free(fake.out);
	memset(&fake, 0, sizeof(fake));
	fake.in = malloc(len + 1);
	ck_assert_ptr_nonnull(fake.in);
	memcpy(fake.in, in, len);
	fake.in_len = len;
	fake.chunk = chunk;
	inner = mailstream_low_new(NULL, &fake_driver);
	ck_assert_ptr_nonnull(inner);
	mailstream_low_set_timeout(inner, 7);
	z = compress_open(inner, &err);
	ck_assert_msg(z != NULL, "compress_open: %s", err.msg);
	ck_assert(compress_is_layer(z));
	ck_assert(!compress_is_layer(inner));
	ck_assert_ptr_eq(compress_inner(z), inner);
	return z;
}

static void close_layer(mailstream_low *z)
{
	ck_assert_int_eq(mailstream_low_close(z), 0);
	mailstream_low_free(z);
	ck_assert_int_eq(fake.closed, 1);
	ck_assert_int_eq(fake.freed, 1);
}

/* ---- zlib on the server's side ---- */

/* Raw deflate of text as a server would send it: sync-flushed, or ended
 * with a final block. The caller frees *out. */
static size_t server_deflate(const void *text, size_t len, int flush, unsigned char **out)
{
	z_stream zs = {0};
	size_t cap;
	int r;

	ck_assert_int_eq(deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
	cap = deflateBound(&zs, len) + 64;
	*out = malloc(cap);
	ck_assert_ptr_nonnull(*out);
	zs.next_in = (Bytef *)(uintptr_t)text;
	zs.avail_in = (uInt)len;
	zs.next_out = *out;
	zs.avail_out = (uInt)cap;
	r = deflate(&zs, flush);
	ck_assert_int_eq(r, flush == Z_FINISH ? Z_STREAM_END : Z_OK);
	ck_assert_uint_eq(zs.avail_in, 0);
	cap -= zs.avail_out;
	deflateEnd(&zs);
	return cap;
}

/* Inflates everything ferry wrote, as the server would; the result must be
 * complete without any further input. The caller frees it. */
static char *server_inflate(size_t *len)
{
	z_stream zs = {0};
	size_t cap = 1 << 20; /* more than any test writes */
	char *text = malloc(cap);
	int r;

	ck_assert_ptr_nonnull(text);
	ck_assert_int_eq(inflateInit2(&zs, -15), Z_OK);
	zs.next_in = fake.out;
	zs.avail_in = (uInt)fake.out_len;
	zs.next_out = (Bytef *)text;
	zs.avail_out = (uInt)cap;
	r = inflate(&zs, Z_SYNC_FLUSH);
	ck_assert_msg(r == Z_OK, "inflate: %d", r);
	ck_assert_uint_eq(zs.avail_in, 0);
	*len = cap - zs.avail_out;
	inflateEnd(&zs);
	return text;
}

/* Reads len bytes through the layer in reads of at most step bytes. */
static void read_exactly(mailstream_low *z, char *buf, size_t len, size_t step)
{
	size_t got = 0;

	while (got < len) {
		size_t want = len - got < step ? len - got : step;
		ssize_t r = mailstream_low_read(z, buf + got, want);

		ck_assert_msg(r > 0, "read returned %zd after %zu of %zu bytes (%s)", r, got, len,
			      compress_error(z));
		ck_assert_uint_le((size_t)r, want);
		got += (size_t)r;
	}
}

/* Compressible but not trivial: numbered lines of mail-like text. */
static char *mail_text(size_t len)
{
	char *t = malloc(len + 1);
	size_t o = 0;

	ck_assert_ptr_nonnull(t);
	for (unsigned i = 0; o < len; i++) {
		char line[96];
		int n =
		    snprintf(line, sizeof(line), "* %u FETCH (UID %u FLAGS (\\Seen)) line %08x\r\n",
			     i + 1, i * 7 + 3, i * 2654435761u);

		for (int k = 0; k < n && o < len; k++)
			t[o++] = line[k];
	}
	t[len] = '\0';
	return t;
}

/* ---- writing ---- */

START_TEST(test_each_command_reaches_the_server_whole_at_once)
{
	static const char *cmds[] = {"1 NOOP\r\n", "2 UID FETCH 1:* (FLAGS)\r\n", "3 LOGOUT\r\n"};
	mailstream_low *z = open_layer("", 0, 1);
	char expect[256] = "";

	for (size_t i = 0; i < 3; i++) {
		size_t len;
		char *text;

		ck_assert_int_eq(mailstream_low_write(z, cmds[i], strlen(cmds[i])),
				 (ssize_t)strlen(cmds[i]));
		/* Everything written so far inflates completely: nothing waits
		 * in the compressor for more. */
		strcat(expect, cmds[i]);
		text = server_inflate(&len);
		ck_assert_uint_eq(len, strlen(expect));
		ck_assert(memcmp(text, expect, len) == 0);
		free(text);
	}
	close_layer(z);
}
END_TEST

START_TEST(test_a_large_write_is_taken_in_bounded_chunks_and_arrives_intact)
{
	size_t len = 300000, done = 0, out_len;
	char *text = mail_text(len), *back;
	mailstream_low *z = open_layer("", 0, 1);

	while (done < len) {
		ssize_t w = mailstream_low_write(z, text + done, len - done);

		ck_assert_int_gt(w, 0);
		ck_assert_int_le(w, 65536);
		done += (size_t)w;
	}
	back = server_inflate(&out_len);
	ck_assert_uint_eq(out_len, len);
	ck_assert(memcmp(back, text, len) == 0);
	ck_assert_uint_lt(fake.out_len, len / 3); /* it did compress */
	free(back);
	free(text);
	close_layer(z);
}
END_TEST

/* ---- reading ---- */

/* Tiny reads leave inflated text inside zlib; the layer must hand it out
 * before it asks the transport, which here has nothing more (-1). */
START_TEST(test_server_text_comes_out_whole_in_tiny_reads)
{
	size_t len = 20000;
	char *text = mail_text(len), *got = malloc(len);
	unsigned char *wire;
	size_t wire_len = server_deflate(text, len, Z_SYNC_FLUSH, &wire);
	mailstream_low *z = open_layer(wire, wire_len, 5000);

	ck_assert_ptr_nonnull(got);
	read_exactly(z, got, len, 7);
	ck_assert(memcmp(got, text, len) == 0);
	ck_assert_int_eq(fake.reads_at_eof, 0);
	free(got);
	free(text);
	free(wire);
	close_layer(z);
}
END_TEST

START_TEST(test_pending_tells_whether_a_read_would_not_wait)
{
	static const char text[] = "* 4 EXISTS\r\n* 1 RECENT\r\n";
	unsigned char *wire;
	size_t wire_len = server_deflate(text, sizeof(text) - 1, Z_SYNC_FLUSH, &wire);
	mailstream_low *z = open_layer(wire, wire_len, 4096);
	char buf[64];

	ck_assert(!compress_pending(z));
	read_exactly(z, buf, 4, 4);
	ck_assert(compress_pending(z)); /* the rest is inflated or buffered */
	read_exactly(z, buf + 4, sizeof(text) - 1 - 4, sizeof(buf));
	ck_assert(memcmp(buf, text, sizeof(text) - 1) == 0);
	ck_assert(!compress_pending(z));
	free(wire);
	close_layer(z);
}
END_TEST

START_TEST(test_input_split_byte_by_byte_inflates_the_same)
{
	size_t len = 3000;
	char *text = mail_text(len), *got = malloc(len);
	unsigned char *wire;
	size_t wire_len = server_deflate(text, len, Z_SYNC_FLUSH, &wire);
	mailstream_low *z = open_layer(wire, wire_len, 1);

	ck_assert_ptr_nonnull(got);
	read_exactly(z, got, len, 65536);
	ck_assert(memcmp(got, text, len) == 0);
	free(got);
	free(text);
	free(wire);
	close_layer(z);
}
END_TEST

START_TEST(test_end_of_stream_is_minus_one_not_zero)
{
	static const char text[] = "* OK still here\r\n";
	unsigned char *wire;
	size_t wire_len = server_deflate(text, sizeof(text) - 1, Z_SYNC_FLUSH, &wire);
	mailstream_low *z = open_layer(wire, wire_len, 4096);
	char buf[64];

	read_exactly(z, buf, sizeof(text) - 1, sizeof(buf));
	ck_assert_int_eq(mailstream_low_read(z, buf, sizeof(buf)), -1);
	ck_assert_int_eq(mailstream_low_read(z, buf, sizeof(buf)), -1);
	/* The transport's end, not the layer's failure. */
	ck_assert_str_eq(compress_error(z), "");
	free(wire);
	close_layer(z);
}
END_TEST

START_TEST(test_data_that_is_not_deflate_is_an_error_with_its_reason)
{
	static const char garbage[] = "\xff\xfe\xfd this is not deflate at all \x00\x01\x02";
	mailstream_low *z = open_layer(garbage, sizeof(garbage) - 1, 4096);
	char buf[64];

	ck_assert_int_eq(mailstream_low_read(z, buf, sizeof(buf)), -1);
	ck_assert_ptr_nonnull(strstr(compress_error(z), "not valid deflate"));
	/* The layer stays failed: no second attempt on a broken stream. */
	ck_assert_int_eq(mailstream_low_read(z, buf, sizeof(buf)), -1);
	ck_assert_int_eq(mailstream_low_write(z, "1 NOOP\r\n", 8), -1);
	close_layer(z);
}
END_TEST

/* Once the session is up, libetpan would only say "connection lost": the
 * layer says why itself. */
START_TEST(test_reported_failures_are_logged_with_their_store)
{
	static const char garbage[] = "\xff not deflate";
	mailstream_low *z = open_layer(garbage, sizeof(garbage) - 1, 4096);
	char log[] = "/tmp/ferry-test-stderr-XXXXXX", buf[512] = "";
	int fd = mkstemp(log), saved;
	FILE *f;

	ck_assert_int_ge(fd, 0);
	compress_report_errors(z, "work");
	fflush(stderr);
	saved = dup(2);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_ge(dup2(fd, 2), 0);
	ck_assert_int_eq(mailstream_low_read(z, buf, sizeof(buf)), -1);
	ck_assert_int_eq(mailstream_low_read(z, buf, sizeof(buf)), -1);
	fflush(stderr);
	ck_assert_int_ge(dup2(saved, 2), 0);
	close(saved);
	f = fdopen(fd, "r");
	ck_assert_ptr_nonnull(f);
	rewind(f);
	ck_assert_uint_gt(fread(buf, 1, sizeof(buf) - 1, f), 0);
	fclose(f);
	unlink(log);
	ck_assert_str_eq(buf, "ferry: error: work: the server's compressed data is not valid "
			      "deflate (invalid block type)\n"); /* once */
	close_layer(z);
}
END_TEST

START_TEST(test_plain_text_after_the_ok_is_an_error)
{
	static const char plain[] = "* OK [ALERT] injected in clear text\r\n";
	mailstream_low *z = open_layer(plain, sizeof(plain) - 1, 4096);
	char buf[64];
	ssize_t r = 0;

	/* '*' happens to start a valid block: some garbage may come out
	 * first, but the data fails before the transport runs dry. */
	for (int i = 0; i < 100 && (r = mailstream_low_read(z, buf, sizeof(buf))) > 0; i++)
		;
	ck_assert_int_eq(r, -1);
	ck_assert_int_eq(fake.reads_at_eof, 0);
	ck_assert_str_ne(compress_error(z), "");
	close_layer(z);
}
END_TEST

START_TEST(test_a_final_block_delivers_its_text_then_is_an_error)
{
	static const char text[] = "* BYE going\r\n";
	unsigned char *wire;
	size_t wire_len = server_deflate(text, sizeof(text) - 1, Z_FINISH, &wire);
	mailstream_low *z = open_layer(wire, wire_len, 4096);
	char buf[64];

	read_exactly(z, buf, sizeof(text) - 1, sizeof(buf));
	ck_assert(memcmp(buf, text, sizeof(text) - 1) == 0);
	ck_assert_int_eq(mailstream_low_read(z, buf, sizeof(buf)), -1);
	ck_assert_ptr_nonnull(strstr(compress_error(z), "ended its compressed stream"));
	free(wire);
	close_layer(z);
}
END_TEST

START_TEST(test_a_timeout_set_on_the_layer_reaches_the_transport)
{
	unsigned char *wire;
	size_t wire_len = server_deflate("x", 1, Z_SYNC_FLUSH, &wire);
	mailstream_low *z = open_layer(wire, wire_len, 4096);
	char buf[8];

	ck_assert_uint_eq(mailstream_low_get_timeout(z), 7); /* taken from the transport */
	mailstream_low_set_timeout(z, 3);
	ck_assert_int_eq(mailstream_low_read(z, buf, sizeof(buf)), 1);
	ck_assert_uint_eq(fake.timeout_seen, 3);
	free(wire);
	close_layer(z);
}
END_TEST

START_TEST(test_stats_count_text_and_wire_bytes)
{
	size_t len = 50000;
	char *text = mail_text(len), *got = malloc(len);
	unsigned char *wire;
	size_t wire_len = server_deflate(text, len, Z_SYNC_FLUSH, &wire);
	mailstream_low *z = open_layer(wire, wire_len, 4096);
	struct compress_stats st;

	ck_assert_ptr_nonnull(got);
	ck_assert_int_eq(mailstream_low_write(z, "1 NOOP\r\n", 8), 8);
	read_exactly(z, got, len, 65536);
	compress_get_stats(z, &st);
	ck_assert_uint_eq(st.text_out, 8);
	ck_assert_uint_eq(st.wire_out, fake.out_len);
	ck_assert_uint_eq(st.text_in, len);
	ck_assert_uint_eq(st.wire_in, wire_len);
	free(got);
	free(text);
	free(wire);
	close_layer(z);
}
END_TEST

/* ---- which hosts compress = auto leaves alone ---- */

static const struct {
	const char *host;
	bool loopback;
} hosts[] = {
    {"127.0.0.1", true},
    {"127.255.0.9", true},
    {"::1", true},
    {"::ffff:127.0.0.1", true},
    {"localhost", true},
    {"LocalHost", true},
    {"localhost.", true},
    {"128.0.0.1", false},
    {"10.0.0.1", false},
    {"::2", false},
    {"::ffff:10.0.0.1", false},
    {"imap.example.com", false},
    {"localhost.example.com", false},
    {"127.0.0.1.example.com", false},
    {"", false},
};

START_TEST(test_loopback_hosts_are_recognised)
{
	ck_assert_msg(compress_host_is_loopback(hosts[_i].host) == hosts[_i].loopback, "%s",
		      hosts[_i].host);
}
END_TEST

START_TEST(test_loopback_addresses_are_recognised)
{
	struct sockaddr_in v4 = {.sin_family = AF_INET};
	struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};

	ck_assert(!compress_host_is_loopback(NULL));
	ck_assert_int_eq(inet_pton(AF_INET, "127.0.0.1", &v4.sin_addr), 1);
	ck_assert(compress_addr_is_loopback((struct sockaddr *)&v4, sizeof(v4)));
	ck_assert(!compress_addr_is_loopback((struct sockaddr *)&v4, 2)); /* too short */
	ck_assert_int_eq(inet_pton(AF_INET, "192.0.2.1", &v4.sin_addr), 1);
	ck_assert(!compress_addr_is_loopback((struct sockaddr *)&v4, sizeof(v4)));
	ck_assert_int_eq(inet_pton(AF_INET6, "::1", &v6.sin6_addr), 1);
	ck_assert(compress_addr_is_loopback((struct sockaddr *)&v6, sizeof(v6)));
	ck_assert_int_eq(inet_pton(AF_INET6, "::ffff:127.0.0.2", &v6.sin6_addr), 1);
	ck_assert(compress_addr_is_loopback((struct sockaddr *)&v6, sizeof(v6)));
	ck_assert_int_eq(inet_pton(AF_INET6, "2001:db8::1", &v6.sin6_addr), 1);
	ck_assert(!compress_addr_is_loopback((struct sockaddr *)&v6, sizeof(v6)));
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *compress_suite(void)
{
	Suite *s = suite_create("compress");
	TCase *tc = tcase_create("deflate layer");
	TCase *auto_tc = tcase_create("compress = auto");

	suite_add_tcase(s, tc);
	tcase_add_test(tc, test_each_command_reaches_the_server_whole_at_once);
	tcase_add_test(tc, test_a_large_write_is_taken_in_bounded_chunks_and_arrives_intact);
	tcase_add_test(tc, test_server_text_comes_out_whole_in_tiny_reads);
	tcase_add_test(tc, test_pending_tells_whether_a_read_would_not_wait);
	tcase_add_test(tc, test_input_split_byte_by_byte_inflates_the_same);
	tcase_add_test(tc, test_end_of_stream_is_minus_one_not_zero);
	tcase_add_test(tc, test_data_that_is_not_deflate_is_an_error_with_its_reason);
	tcase_add_test(tc, test_reported_failures_are_logged_with_their_store);
	tcase_add_test(tc, test_plain_text_after_the_ok_is_an_error);
	tcase_add_test(tc, test_a_final_block_delivers_its_text_then_is_an_error);
	tcase_add_test(tc, test_a_timeout_set_on_the_layer_reaches_the_transport);
	tcase_add_test(tc, test_stats_count_text_and_wire_bytes);
	suite_add_tcase(s, auto_tc);
	tcase_add_loop_test(auto_tc, test_loopback_hosts_are_recognised, 0, N(hosts));
	tcase_add_test(auto_tc, test_loopback_addresses_are_recognised);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(compress_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	free(fake.in);
	free(fake.out);
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
