/* The Maildir store's pure parsers (store/maildir/filename.c, path.c) on
 * arbitrary bytes, read four ways: as a file name from cur/ or new/, as a
 * canonical folder name, as a folder directory, and as a host name in a
 * delivery name.
 *
 * File names: a parsed name builds back to a name that parses to the same
 * thing, keeps its unique part, and building is idempotent.
 * Folders (DESIGN rule 3): a name folder_name_is_safe accepts maps, in both
 * layouts, to a relative path with no "..", "." or empty component and no
 * leading '/', which nothing else could be taken for, and decodes back to
 * the name. A directory decodes to a name which, when safe, round-trips. */
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "store/maildir/filename.h"
#include "store/maildir/path.h"
#include "store/names.h"
#include "store/store.h"
#include "tests/fuzz/fuzz.h"

/* Room for any path a name of the input's size could become: every byte
 * escaped as %XX, plus "INBOX" (a decoded root) and the maildir++ dot. */
#define PATH_ROOM(len) (3 * (len) + 64)

static bool same_name(const struct maildir_name *a, const struct maildir_name *b)
{
	return a->uniq_len == b->uniq_len && a->has_info == b->has_info && a->flags == b->flags &&
	       strcmp(a->other, b->other) == 0;
}

static void check_file_name(const char *name)
{
	struct maildir_name parsed, again;
	const char *why = NULL;
	char built[NAME_MAX + 1], rebuilt[NAME_MAX + 1];
	size_t len = strlen(name);
	int n;

	if (maildir_name_parse(name, &parsed, &why) < 0) {
		FUZZ_CHECK(why && *why, "refused without a reason");
		return;
	}
	FUZZ_CHECK(parsed.uniq_len > 0 && parsed.uniq_len <= len, "uniq_len %zu of %zu",
		   parsed.uniq_len, len);
	FUZZ_CHECK((parsed.flags & ~MF_ALL) == 0, "flags %#x", parsed.flags);
	FUZZ_CHECK(parsed.has_info || (parsed.uniq_len == len && !parsed.flags && !*parsed.other),
		   "letters without info");
	n = maildir_name_build(name, parsed.uniq_len, parsed.has_info, parsed.flags, parsed.other,
			       built, sizeof(built));
	/* Letters are only ever deduplicated: the rebuilt name is no longer. */
	if (len <= NAME_MAX)
		FUZZ_CHECK(n >= 0 && (size_t)n <= len, "build gave %d for a name of %zu", n, len);
	if (n < 0)
		return;
	FUZZ_CHECK(strlen(built) == (size_t)n, "length %d, string %zu", n, strlen(built));
	FUZZ_CHECK(memcmp(built, name, parsed.uniq_len) == 0, "unique part changed");
	FUZZ_CHECK(maildir_name_parse(built, &again, &why) == 0, "\"%s\" does not parse: %s", built,
		   why);
	FUZZ_CHECK(same_name(&parsed, &again), "\"%s\" parses differently", built);
	n = maildir_name_build(built, again.uniq_len, again.has_info, again.flags, again.other,
			       rebuilt, sizeof(rebuilt));
	FUZZ_CHECK(n >= 0 && strcmp(built, rebuilt) == 0, "build is not idempotent: \"%s\"", built);
}

/* maildir_name_unique escapes what would split the name or start info. */
static void check_unique(const char *host)
{
	char buf[NAME_MAX + 1];
	int n = maildir_name_unique(buf, sizeof(buf), 1700000000, 123456, 4242, 7, host);

	if (n < 0)
		return;
	FUZZ_CHECK(strlen(buf) == (size_t)n, "length");
	FUZZ_CHECK(!strchr(buf, '/') && !strchr(buf, ':'), "\"%s\" has a '/' or ':'", buf);
}

static bool is_maildir_subdir(const char *s, size_t n)
{
	return n == 3 && (!memcmp(s, "cur", 3) || !memcmp(s, "new", 3) || !memcmp(s, "tmp", 3));
}

/* A verbatim path: components that cannot leave the root, hide, or be
 * taken for a Maildir's own cur/ new/ tmp/ or ferry's .ferry. */
static void check_verbatim_path(const char *name, const char *path)
{
	const char *p = path;

	FUZZ_CHECK(*path && path[0] != '/', "\"%s\" -> \"%s\"", name, path);
	for (;;) {
		size_t n = strcspn(p, "/");

		FUZZ_CHECK(n > 0 && n <= NAME_MAX, "\"%s\" -> \"%s\": component length %zu", name,
			   path, n);
		FUZZ_CHECK(p[0] != '.', "\"%s\" -> \"%s\": a component starts with '.'", name,
			   path);
		FUZZ_CHECK(!is_maildir_subdir(p, n), "\"%s\" -> \"%s\": cur, new or tmp", name,
			   path);
		if (!p[n])
			break;
		p += n + 1;
	}
}

/* A maildir++ path: the root itself (INBOX) or one entry ".a.b" of it. */
static void check_maildirpp_path(const char *name, const char *path)
{
	if (!*path) {
		FUZZ_CHECK(folder_name_is_inbox(name), "\"%s\" -> the root", name);
		return;
	}
	FUZZ_CHECK(path[0] == '.' && path[1] && !strchr(path, '/') && !strstr(path, "..") &&
		       path[strlen(path) - 1] != '.' && strlen(path) <= NAME_MAX,
		   "\"%s\" -> \"%s\"", name, path);
	FUZZ_CHECK(strcmp(path, ".ferry") != 0, "\"%s\" -> the index directory", name);
}

static void check_folder_name(const char *name, enum maildir_layout layout, char *path, char *back,
			      size_t room)
{
	int n = maildir_path_from_name(name, layout, path, room);
	int m;

	/* Only a too long component may refuse a safe name. */
	if (n < 0)
		return;
	FUZZ_CHECK(strlen(path) == (size_t)n, "length %d, string %zu", n, strlen(path));
	if (layout == LAYOUT_VERBATIM)
		check_verbatim_path(name, path);
	else
		check_maildirpp_path(name, path);
	m = maildir_path_to_name(path, layout, back, room);
	FUZZ_CHECK(m >= 0, "\"%s\" -> \"%s\" does not decode", name, path);
	FUZZ_CHECK(strcmp(back, folder_name_is_inbox(name) ? "INBOX" : name) == 0,
		   "\"%s\" -> \"%s\" -> \"%s\" (layout %d)", name, path, back, (int)layout);
}

static size_t count_char(const char *s, char c)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == c;
	return n;
}

/* A directory other programs made: decoding is lenient, but never splits
 * or joins levels (%2F stays literal), and whatever it yields that is safe
 * must survive its own round trip. */
static void check_directory(const char *dir, enum maildir_layout layout, char *name, char *path,
			    char *back, size_t room)
{
	int n = maildir_path_to_name(dir, layout, name, room);

	if (n < 0)
		return;
	FUZZ_CHECK(strlen(name) == (size_t)n, "length %d, string %zu", n, strlen(name));
	if (layout == LAYOUT_VERBATIM)
		FUZZ_CHECK(count_char(name, '/') == count_char(dir, '/'), "\"%s\" -> \"%s\"", dir,
			   name);
	else if (*dir && !strchr(dir, '/')) /* an entry of the root: no '/' */
		FUZZ_CHECK(count_char(name, '/') == count_char(dir + 1, '.'), "\"%s\" -> \"%s\"",
			   dir, name);
	if (folder_name_is_safe(name, NULL))
		check_folder_name(name, layout, path, back, room);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_string(data, size);
	size_t room = PATH_ROOM(size);
	char *path = malloc(room), *back = malloc(room), *name = malloc(room);

	if (s && path && back && name) {
		check_file_name(s);
		check_unique(s);
		for (int layout = LAYOUT_VERBATIM; layout <= LAYOUT_MAILDIRPP; layout++) {
			if (folder_name_is_safe(s, NULL))
				check_folder_name(s, (enum maildir_layout)layout, path, back, room);
			check_directory(s, (enum maildir_layout)layout, name, path, back, room);
		}
	}
	free(s);
	free(path);
	free(back);
	free(name);
	return 0;
}
