/* The message identity (DESIGN rule 6), version 2: the header lines other
 * synchronisers add to what they store (mbsync's X-TUID, offlineimap's
 * X-OfflineIMAP), continuation lines included, count neither in the hash nor
 * in the size, whatever the line endings and wherever the feeds split. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "store/identity.h"

struct result {
	struct msg_id id;
	uint64_t size;
	uint64_t dropped;
};

/* The identity of text fed in pieces of at most step bytes (0: whole). */
static struct result identity_split(const char *text, size_t len, size_t step)
{
	struct ident id;
	struct result r;

	ck_assert_int_eq(ident_init(&id), 0);
	for (size_t at = 0; at < len;) {
		size_t n = step && step < len - at ? step : len - at;

		ck_assert_int_eq(ident_feed(&id, text + at, n), 0);
		at += n;
	}
	r.dropped = ident_dropped(&id);
	ck_assert_int_eq(ident_final(&id, &r.id, &r.size), 0);
	return r;
}

static struct result identity_of(const char *text)
{
	return identity_split(text, strlen(text), 0);
}

/* The same identity as plain, fed whole, and split in two at every offset. */
static void assert_same_as(const char *text, const char *plain)
{
	struct result want = identity_of(plain);
	size_t len = strlen(text);

	for (size_t cut = 0; cut <= len; cut++) {
		struct ident id;
		struct result got;

		ck_assert_int_eq(ident_init(&id), 0);
		ck_assert_int_eq(ident_feed(&id, text, cut), 0);
		ck_assert_int_eq(ident_feed(&id, text + cut, len - cut), 0);
		ck_assert_int_eq(ident_final(&id, &got.id, &got.size), 0);
		ck_assert_msg(memcmp(got.id.hash, want.id.hash, sizeof(want.id.hash)) == 0,
			      "hash differs, split at %zu of:\n%s", cut, text);
		ck_assert_msg(memcmp(got.id.munged, want.id.munged, sizeof(want.id.munged)) == 0,
			      "munged hash differs, split at %zu", cut);
		ck_assert_msg(got.size == want.size, "size %ju, want %ju, split at %zu",
			      (uintmax_t)got.size, (uintmax_t)want.size, cut);
	}
	for (size_t step = 1; step < 5; step++) {
		struct result got = identity_split(text, len, step);

		ck_assert_mem_eq(got.id.hash, want.id.hash, sizeof(want.id.hash));
		ck_assert_uint_eq(got.size, want.size);
	}
}

static const char PLAIN_CRLF[] = "From: a@example.org\r\n"
				 "Subject: hello\r\n"
				 "Message-ID: <1@example.org>\r\n"
				 "\r\n"
				 "body\r\n";
static const char PLAIN_LF[] = "From: a@example.org\n"
			       "Subject: hello\n"
			       "Message-ID: <1@example.org>\n"
			       "\n"
			       "body\n";

static const struct {
	const char *text, *plain;
	uint64_t dropped; /* CRLF bytes left out */
} cases[] = {
    /* mbsync's X-TUID first, in the middle, last */
    {"X-TUID: abcdefghijkl\r\nFrom: a@example.org\r\nSubject: hello\r\n"
     "Message-ID: <1@example.org>\r\n\r\nbody\r\n",
     PLAIN_CRLF, 22},
    {"From: a@example.org\r\nSubject: hello\r\nX-TUID: abcdefghijkl\r\n"
     "Message-ID: <1@example.org>\r\n\r\nbody\r\n",
     PLAIN_CRLF, 22},
    {"From: a@example.org\r\nSubject: hello\r\nMessage-ID: <1@example.org>\r\n"
     "X-TUID: abcdefghijkl\r\n\r\nbody\r\n",
     PLAIN_CRLF, 22},
    /* bare LF files (as mbsync stores them), counted as CRLF */
    {"From: a@example.org\nX-TUID: abcdefghijkl\nSubject: hello\n"
     "Message-ID: <1@example.org>\n\nbody\n",
     PLAIN_LF, 22},
    {"X-TUID: abcdefghijkl\nFrom: a@example.org\nSubject: hello\n"
     "Message-ID: <1@example.org>\n\nbody\n",
     PLAIN_CRLF, 22},
    /* the case of the field name does not matter */
    {"From: a@example.org\r\nx-tuid: abcdefghijkl\r\nSubject: hello\r\n"
     "Message-ID: <1@example.org>\r\n\r\nbody\r\n",
     PLAIN_CRLF, 22},
    /* offlineimap's header, folded over two lines, and X-TUID too */
    {"From: a@example.org\r\nX-OfflineIMAP: 1234567890-\r\n 52736\r\nSubject: hello\r\n"
     "X-TUID: abcdefghijkl\r\nMessage-ID: <1@example.org>\r\n\r\nbody\r\n",
     PLAIN_CRLF, 28 + 8 + 22},
    {"From: a@example.org\nX-OFFLINEIMAP: 1234567890-\n\t52736\nSubject: hello\n"
     "Message-ID: <1@example.org>\n\nbody\n",
     PLAIN_LF, 28 + 8},
    /* the last header line, right before the empty line */
    {"From: a@example.org\nSubject: hello\nMessage-ID: <1@example.org>\n"
     "X-OfflineIMAP: 1-2\n\nbody\n",
     PLAIN_LF, 20},
};

START_TEST(test_added_lines_count_not)
{
	struct result with = identity_of(cases[_i].text), plain = identity_of(cases[_i].plain);

	ck_assert_uint_eq(with.dropped, cases[_i].dropped);
	ck_assert_uint_eq(plain.dropped, 0);
	assert_same_as(cases[_i].text, cases[_i].plain);
}
END_TEST

/* Only a field of that very name goes: a longer name, the name in a body or
 * in a continuation of another field, and the name after the header stay. */
static const struct {
	const char *text;
} kept[] = {
    {"From: a@example.org\r\nX-TUIDS: abc\r\n\r\nbody\r\n"},
    {"From: a@example.org\r\nX-TUI: abc\r\n\r\nbody\r\n"},
    {"From: a@example.org\r\nX-OfflineIMAPx: abc\r\n\r\nbody\r\n"},
    {"From: a@example.org\r\nSubject: hi\r\n X-TUID: abc\r\n\r\nbody\r\n"},
    {"From: a@example.org\r\n\r\nX-TUID: abc\r\nbody\r\n"},
    {"From: a@example.org\r\nX-TUID\r\n\r\nbody\r\n"},
};

START_TEST(test_other_lines_count)
{
	struct result r = identity_of(kept[_i].text);
	unsigned char whole[32];
	const char *text = kept[_i].text, *end = strstr(text, "\r\n\r\n") + 4;
	unsigned n = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	/* version 1: SHA-256 of the header block as it is */
	ck_assert_ptr_nonnull(md);
	ck_assert_int_eq(EVP_DigestInit_ex(md, EVP_sha256(), NULL), 1);
	ck_assert_int_eq(EVP_DigestUpdate(md, text, (size_t)(end - text)), 1);
	ck_assert_int_eq(EVP_DigestFinal_ex(md, whole, &n), 1);
	EVP_MD_CTX_free(md);
	ck_assert_mem_eq(r.id.hash, whole, sizeof(whole));
	ck_assert_uint_eq(r.size, strlen(text));
	ck_assert_uint_eq(r.dropped, 0);
}
END_TEST

/* A message without such a line has the identity version 1 gave it, so that
 * identities recorded before stay good (rule 6). */
START_TEST(test_plain_message_keeps_its_v1_identity)
{
	unsigned char want[32];
	unsigned n = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	struct result r = identity_of(PLAIN_LF);
	const char *hdr = "From: a@example.org\r\nSubject: hello\r\n"
			  "Message-ID: <1@example.org>\r\n\r\n";

	ck_assert_ptr_nonnull(md);
	ck_assert_int_eq(EVP_DigestInit_ex(md, EVP_sha256(), NULL), 1);
	ck_assert_int_eq(EVP_DigestUpdate(md, hdr, strlen(hdr)), 1);
	ck_assert_int_eq(EVP_DigestFinal_ex(md, want, &n), 1);
	EVP_MD_CTX_free(md);
	ck_assert_mem_eq(r.id.hash, want, sizeof(want));
	ck_assert_uint_eq(r.size, strlen(PLAIN_CRLF));
	ck_assert_int_eq(IDENT_VERSION, 2);
}
END_TEST

/* Cyrus's munged copy (8-bit header bytes as 'X') of a message with an
 * X-TUID line pairs with the local file without it. */
START_TEST(test_munged_hash_leaves_the_lines_out_too)
{
	static const char local[] = "Subject: Gr\xc3\xbc\xc3\x9f"
				    "e\nFrom: a@b\n\nK\xc3\xb6ln\n";
	static const char server[] = "Subject: GrXXXXe\r\nX-TUID: abcdefghijkl\r\nFrom: a@b\r\n"
				     "\r\nK\xc3\xb6ln\r\n";
	struct result a = identity_of(local), b = identity_of(server);

	ck_assert_mem_ne(a.id.hash, b.id.hash, sizeof(a.id.hash));
	ck_assert_mem_eq(a.id.munged, b.id.munged, sizeof(a.id.munged));
	ck_assert_uint_eq(a.size, b.size);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("identity");
	TCase *tc = tcase_create("v2");

	tcase_add_loop_test(tc, test_added_lines_count_not, 0, sizeof(cases) / sizeof(cases[0]));
	tcase_add_loop_test(tc, test_other_lines_count, 0, sizeof(kept) / sizeof(kept[0]));
	tcase_add_test(tc, test_plain_message_keeps_its_v1_identity);
	tcase_add_test(tc, test_munged_hash_leaves_the_lines_out_too);
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
