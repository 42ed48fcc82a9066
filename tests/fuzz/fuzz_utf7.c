/* The IMAP name codec (store/imap/utf7.c) on arbitrary names, both ways.
 *
 * Input: the first byte is the hierarchy delimiter (0: NIL); the rest is a
 * name, or "PREFIX\nNAME" with the personal namespace prefix first. The
 * IMAP store refuses a prefix that is not printable ASCII before it uses it
 * (learn_namespace), so such inputs test nothing and are skipped.
 *
 * Read as a server's name, an accepted name yields a canonical name that is
 * safe (nothing outside the Maildir root, DESIGN rule 3) and encodes back to
 * the server's spelling. Read as a canonical name, an accepted name yields a
 * printable ASCII server name that decodes back to it. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/imap/utf7.h"
#include "store/names.h"
#include "tests/fuzz/fuzz.h"

static bool printable_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

/* The same mailbox: exact, but a first level INBOX in any case. */
static bool same_mailbox(const char *a, const char *b, char delimiter)
{
	if (strncasecmp(a, "INBOX", 5) == 0 && strncasecmp(b, "INBOX", 5) == 0 &&
	    (a[5] == '\0' || a[5] == delimiter))
		return strcmp(a + 5, b + 5) == 0;
	return strcmp(a, b) == 0;
}

static bool status_ok(int status)
{
	return status == IMAP_NAME_OK || status == IMAP_NAME_INVALID || status == IMAP_NAME_OUTSIDE;
}

static void check_server_name(const char *server, char delimiter, const char *prefix)
{
	char *canonical = NULL, *back = NULL;
	const char *why = NULL;
	int status = imap_name_to_canonical(server, delimiter, prefix, &canonical);

	FUZZ_CHECK(status_ok(status), "status %d", status);
	FUZZ_CHECK((status == IMAP_NAME_OK) == (canonical != NULL), "status %d, out %p", status,
		   (void *)canonical);
	if (status != IMAP_NAME_OK)
		return;
	FUZZ_CHECK(folder_name_is_safe(canonical, &why), "\"%s\" -> unsafe \"%s\": %s", server,
		   canonical, why);
	status = canonical_to_imap_name(canonical, delimiter, prefix, &back);
	FUZZ_CHECK(status == IMAP_NAME_OK, "\"%s\" -> \"%s\" does not encode (%d)", server,
		   canonical, status);
	FUZZ_CHECK(same_mailbox(back, server, delimiter), "\"%s\" -> \"%s\" -> \"%s\"", server,
		   canonical, back);
	free(canonical);
	free(back);
}

/* What decoding an encoded name gives: the name, with a first level INBOX
 * (in any case) spelled INBOX. Malloc'd. */
static char *expected_canonical(const char *canonical)
{
	char *e = strdup(canonical);
	size_t first = strcspn(canonical, "/");

	if (e && first == 5 && strncasecmp(e, "INBOX", 5) == 0)
		memcpy(e, "INBOX", 5);
	return e;
}

static void check_canonical_name(const char *canonical, char delimiter, const char *prefix)
{
	char *server = NULL, *back = NULL, *expected;
	int status = canonical_to_imap_name(canonical, delimiter, prefix, &server);

	FUZZ_CHECK(status == IMAP_NAME_OK || status == IMAP_NAME_INVALID, "status %d", status);
	FUZZ_CHECK((status == IMAP_NAME_OK) == (server != NULL), "status %d", status);
	if (status != IMAP_NAME_OK)
		return;
	FUZZ_CHECK(folder_name_is_safe(canonical, NULL), "unsafe \"%s\" encoded", canonical);
	FUZZ_CHECK(*server && printable_ascii(server), "\"%s\" -> unprintable server name",
		   canonical);
	status = imap_name_to_canonical(server, delimiter, prefix, &back);
	FUZZ_CHECK(status == IMAP_NAME_OK, "\"%s\" -> \"%s\" does not decode (%d)", canonical,
		   server, status);
	expected = expected_canonical(canonical);
	if (expected)
		FUZZ_CHECK(strcmp(back, expected) == 0, "\"%s\" -> \"%s\" -> \"%s\"", canonical,
			   server, back);
	free(expected);
	free(server);
	free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s, *name, *newline;
	const char *prefix = "";
	char delimiter;

	if (size < 1)
		return 0;
	delimiter = (char)data[0];
	s = fuzz_string(data + 1, size - 1);
	if (!s)
		return 0;
	name = s;
	newline = strchr(s, '\n');
	if (newline) {
		*newline = '\0';
		prefix = s;
		name = newline + 1;
	}
	if (printable_ascii(prefix)) {
		check_server_name(name, delimiter, prefix);
		check_canonical_name(name, delimiter, prefix);
	}
	free(s);
	return 0;
}
