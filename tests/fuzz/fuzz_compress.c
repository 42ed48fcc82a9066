/* The COMPRESS=DEFLATE layer (store/imap/compress.c) on whatever a server
 * sends, over a scripted transport.
 *
 * Input: byte 0 picks the size of ferry's reads (1 to 64, or 4096), byte 1
 * the size of the chunks the transport hands over (1 to 256); the rest is
 * what the server sends after its OK to COMPRESS.
 *
 * Read: every read returns -1 or 1 to the size asked for (never 0: that
 * makes libetpan 1.9.4 spin); a read right after compress_pending() said
 * yes does not touch the transport, and one after it said no and returned
 * text did; the reading ends, and when it ends before the transport ran
 * dry, the layer says why. Round trip: the same bytes written through one
 * layer and read through another come out identical, then end of stream. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "store/imap/compress.h"
#include "tests/fuzz/fuzz.h"

/* Deflate turns at most ~1032 times less into more: bounded anyway. */
#define MAX_TEXT (1u << 20)

struct transport {
	const uint8_t *in;
	size_t in_len, in_off, chunk;
	size_t reads, reads_at_eof;
	uint8_t *out;
	size_t out_len, out_cap;
	bool failed_alloc;
};

static struct transport t;

static ssize_t t_read(mailstream_low *s, void *buf, size_t len)
{
	size_t n = t.in_len - t.in_off;

	(void)s;
	t.reads++;
	if (n == 0) {
		t.reads_at_eof++;
		return -1;
	}
	if (n > len)
		n = len;
	if (n > t.chunk)
		n = t.chunk;
	memcpy(buf, t.in + t.in_off, n);
	t.in_off += n;
	return (ssize_t)n;
}

static ssize_t t_write(mailstream_low *s, const void *buf, size_t len)
{
	(void)s;
	if (len > t.chunk)
		len = t.chunk;
	if (t.out_len + len > t.out_cap) {
		size_t cap = (t.out_len + len) * 2;
		uint8_t *p = realloc(t.out, cap);

		if (!p) {
			t.failed_alloc = true;
			return -1;
		}
		t.out = p;
		t.out_cap = cap;
	}
	memcpy(t.out + t.out_len, buf, len);
	t.out_len += len;
	return (ssize_t)len;
}

static int t_close(mailstream_low *s)
{
	(void)s;
	return 0;
}

static int t_get_fd(mailstream_low *s)
{
	(void)s;
	return -1;
}

static void t_free(mailstream_low *s)
{
	free(s);
}

static mailstream_low_driver t_driver = {
    .mailstream_read = t_read,
    .mailstream_write = t_write,
    .mailstream_close = t_close,
    .mailstream_get_fd = t_get_fd,
    .mailstream_free = t_free,
};

static mailstream_low *layer(const uint8_t *in, size_t len)
{
	struct ferry_error err = {0};
	mailstream_low *inner = mailstream_low_new(NULL, &t_driver), *z;

	t.in = in;
	t.in_len = len;
	t.in_off = t.reads = t.reads_at_eof = 0;
	if (!inner)
		return NULL;
	z = compress_open(inner, &err);
	if (!z)
		mailstream_low_free(inner);
	return z;
}

static void drop(mailstream_low *z)
{
	mailstream_low_close(z);
	mailstream_low_free(z);
}

/* Reads until -1, checking every result; the text read goes to text (NULL:
 * nowhere). Returns the bytes read. */
static size_t read_all(mailstream_low *z, size_t step, uint8_t *text, size_t cap)
{
	static uint8_t sink[4096];
	size_t total = 0;

	for (;;) {
		bool pending = compress_pending(z);
		size_t reads = t.reads;
		uint8_t *buf = text ? text + total : sink;
		size_t want = step;
		ssize_t r;

		if (text && want > cap - total)
			want = cap - total;
		if (want == 0)
			return total;
		r = mailstream_low_read(z, buf, want);
		FUZZ_CHECK(r == -1 || (r > 0 && (size_t)r <= want), "read of %zu returned %zd",
			   want, r);
		if (pending)
			FUZZ_CHECK(t.reads == reads,
				   "pending, yet the read waited on the transport");
		else if (r > 0)
			FUZZ_CHECK(t.reads > reads,
				   "not pending, yet text came without the transport");
		if (r < 0)
			return total;
		total += (size_t)r;
		if (total >= MAX_TEXT)
			return total;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mailstream_low *z;
	size_t step, got;
	uint8_t *back;

	if (size < 2)
		return 0;
	step = data[0] >= 250 ? 4096 : 1 + data[0] % 64;
	t.chunk = 1 + data[1];
	data += 2;
	size -= 2;

	/* What a server sends. */
	z = layer(data, size);
	if (!z)
		return 0;
	got = read_all(z, step, NULL, 0);
	if (got < MAX_TEXT && t.in_off < t.in_len)
		FUZZ_CHECK(compress_error(z)[0] != '\0',
			   "stopped at %zu of %zu input bytes without a reason", t.in_off,
			   t.in_len);
	if (!compress_error(z)[0] && got < MAX_TEXT)
		FUZZ_CHECK(t.reads_at_eof > 0, "stopped without an error or the end of stream");
	drop(z);

	/* The same bytes as text, written through one layer, read through another. */
	t.out_len = 0;
	t.failed_alloc = false;
	z = layer(NULL, 0);
	if (!z)
		return 0;
	for (size_t done = 0; done < size;) {
		ssize_t w = mailstream_low_write(z, data + done, size - done);

		if (w < 0 && t.failed_alloc) {
			drop(z);
			return 0;
		}
		FUZZ_CHECK(w > 0, "write returned %zd", w);
		done += (size_t)w;
	}
	drop(z);
	back = malloc(size + 1);
	z = back ? layer(t.out, t.out_len) : NULL;
	if (!z) {
		free(back);
		return 0;
	}
	got = read_all(z, step, back, size + 1);
	FUZZ_CHECK(got == size, "wrote %zu bytes, read back %zu", size, got);
	FUZZ_CHECK(memcmp(back, data, size) == 0, "the text read back differs");
	FUZZ_CHECK(compress_error(z)[0] == '\0', "own output refused: %s", compress_error(z));
	drop(z);
	free(back);
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}
