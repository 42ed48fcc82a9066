/* The pure parts of the Maildir store: file names (unique part, info
 * letters, delivery names), folder names <-> directories in both layouts
 * with their escapes, and which folder names are safe at all. */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/maildir/filename.h"
#include "store/maildir/path.h"
#include "store/names.h"
#include "store/store.h"

/* ---- file names ---- */

static struct maildir_name parse_ok(const char *name)
{
	struct maildir_name p;
	const char *why = NULL;

	ck_assert_msg(maildir_name_parse(name, &p, &why) == 0, "%s: %s", name, why);
	return p;
}

static const struct {
	char letter;
	unsigned bit;
} letters[] = {
    {'D', MF_DRAFT},	{'F', MF_FLAGGED}, {'P', MF_FORWARDED},
    {'R', MF_ANSWERED}, {'S', MF_SEEN},	   {'T', MF_DELETED},
};

START_TEST(test_every_flag_letter_is_parsed)
{
	char name[64];
	struct maildir_name p;

	snprintf(name, sizeof(name), "1600000000.M1P2.host:2,%c", letters[_i].letter);
	p = parse_ok(name);
	ck_assert_uint_eq(p.flags, letters[_i].bit);
	ck_assert_str_eq(p.other, "");
	ck_assert(p.has_info);
	ck_assert_uint_eq(p.uniq_len, strlen("1600000000.M1P2.host"));
}
END_TEST

START_TEST(test_every_flag_letter_is_built)
{
	char buf[64];

	ck_assert_int_gt(maildir_name_build("u", 1, true, letters[_i].bit, "", buf, sizeof(buf)),
			 0);
	ck_assert_int_eq(buf[4], letters[_i].letter);
	ck_assert_int_eq(buf[5], '\0');
	ck_assert(strncmp(buf, "u:2,", 4) == 0);
}
END_TEST

START_TEST(test_all_flags_parse_and_build_sorted)
{
	struct maildir_name p = parse_ok("u:2,TSRPFD");
	char buf[64];

	ck_assert_uint_eq(p.flags, MF_ALL);
	ck_assert_int_eq(maildir_name_build("u", 1, true, MF_ALL, "", buf, sizeof(buf)), 10);
	ck_assert_str_eq(buf, "u:2,DFPRST");
}
END_TEST

START_TEST(test_unknown_letters_are_kept_sorted_without_duplicates)
{
	struct maildir_name p = parse_ok("u:2,bSaSb");
	char buf[64];

	ck_assert_uint_eq(p.flags, MF_SEEN);
	ck_assert_str_eq(p.other, "ab");
	ck_assert_int_gt(
	    maildir_name_build("u", 1, true, MF_SEEN | MF_FLAGGED, p.other, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "u:2,FSab");
}
END_TEST

START_TEST(test_name_without_suffix_is_all_unique_part)
{
	struct maildir_name p = parse_ok("1600000000.M1P2Q3.host");
	char buf[64];

	ck_assert(!p.has_info);
	ck_assert_uint_eq(p.flags, 0);
	ck_assert_uint_eq(p.uniq_len, strlen("1600000000.M1P2Q3.host"));
	ck_assert_int_eq(maildir_name_build("abc", 3, false, MF_SEEN, "x", buf, sizeof(buf)), 3);
	ck_assert_str_eq(buf, "abc");
}
END_TEST

START_TEST(test_empty_suffix_has_info_and_no_flags)
{
	struct maildir_name p = parse_ok("u:2,");
	char buf[64];

	ck_assert(p.has_info);
	ck_assert_uint_eq(p.flags, 0);
	ck_assert_uint_eq(p.uniq_len, 1);
	ck_assert_int_eq(maildir_name_build("u", 1, true, 0, "", buf, sizeof(buf)), 4);
	ck_assert_str_eq(buf, "u:2,");
}
END_TEST

START_TEST(test_dovecot_size_fields_belong_to_the_unique_part)
{
	struct maildir_name p = parse_ok("1.M2P3.host,S=100,W=102:2,Sa");

	ck_assert_uint_eq(p.uniq_len, strlen("1.M2P3.host,S=100,W=102"));
	ck_assert_uint_eq(p.flags, MF_SEEN);
	ck_assert_str_eq(p.other, "a");
}
END_TEST

START_TEST(test_other_info_versions_are_part_of_the_name)
{
	struct maildir_name p = parse_ok("u:1,S");

	ck_assert(!p.has_info);
	ck_assert_uint_eq(p.uniq_len, 5);
	ck_assert_uint_eq(p.flags, 0);
}
END_TEST

static const char *const malformed[] = {
    "", ".hidden", ".", "..", "a\nb", "a\rb", "tab\there", "del\x7f", ":2,S", "\x01",
};

START_TEST(test_malformed_names_are_refused_with_a_reason)
{
	struct maildir_name p;
	const char *why = NULL;

	ck_assert_int_eq(maildir_name_parse(malformed[_i], &p, &why), -1);
	ck_assert_ptr_nonnull(why);
}
END_TEST

START_TEST(test_build_refuses_names_longer_than_name_max)
{
	char uniq[NAME_MAX + 1], buf[2 * NAME_MAX];

	memset(uniq, 'u', NAME_MAX - 3);
	uniq[NAME_MAX - 3] = '\0';
	ck_assert_int_eq(maildir_name_build(uniq, strlen(uniq), true, 0, "", buf, sizeof(buf)),
			 NAME_MAX + 1 - 1);
	ck_assert_int_eq(
	    maildir_name_build(uniq, strlen(uniq), true, MF_SEEN, "", buf, sizeof(buf)), -1);
	ck_assert_int_eq(maildir_name_build("abc", 3, true, MF_SEEN, "", buf, 5), -1);
}
END_TEST

START_TEST(test_parse_of_built_name_round_trips)
{
	for (unsigned flags = 0; flags <= MF_ALL; flags++) {
		char buf[64];
		struct maildir_name p;

		ck_assert_int_gt(
		    maildir_name_build("1.M2.h", 6, true, flags, "zq", buf, sizeof(buf)), 0);
		p = parse_ok(buf);
		ck_assert_uint_eq(p.flags, flags);
		ck_assert_str_eq(p.other, "qz");
		ck_assert_uint_eq(p.uniq_len, 6);
	}
}
END_TEST

START_TEST(test_unique_name_has_every_part_and_escapes_the_host)
{
	char buf[256];

	ck_assert_int_gt(
	    maildir_name_unique(buf, sizeof(buf), 1600000000, 123456, 42, 7, "mail.example.org"),
	    0);
	ck_assert_str_eq(buf, "1600000000.M123456P42Q7.mail.example.org");
	ck_assert_int_gt(maildir_name_unique(buf, sizeof(buf), 1, 2, 3, 4, "a/b:c"), 0);
	ck_assert_str_eq(buf, "1.M2P3Q4.a\\057b\\072c");
	ck_assert_ptr_null(strchr(buf, ':'));
	ck_assert_ptr_null(strchr(buf, '/'));
	ck_assert_int_eq(maildir_name_unique(buf, 12, 1600000000, 1, 2, 3, "host"), -1);
}
END_TEST

/* ---- folder names <-> directories ---- */

static const struct {
	const char *name;
	const char *verbatim;
	const char *maildirpp;
} paths[] = {
    {"INBOX", "INBOX", ""},
    {"Work/Projects", "Work/Projects", ".Work.Projects"},
    {"Entwürfe", "Entwürfe", ".Entwürfe"},
    {"INBOX/Sub", "INBOX/Sub", ".INBOX.Sub"},
    {"a/cur", "a/%63ur", ".a.cur"},
    {"new", "%6Eew", ".new"},
    {"x/tmp/y", "x/%74mp/y", ".x.tmp.y"},
    {"cur/new/tmp", "%63ur/%6Eew/%74mp", ".cur.new.tmp"},
    {".ferry", "%2Eferry", ".%2Eferry"},
    {"ferry", "ferry", ".%66erry"},
    {"ferry/x", "ferry/x", ".ferry.x"},
    {".hidden/x", "%2Ehidden/x", ".%2Ehidden.x"},
    {"a/.b", "a/%2Eb", ".a.%2Eb"},
    {"v1.2", "v1.2", ".v1%2E2"},
    {"...", "%2E..", ".%2E%2E%2E"},
    {"100%", "100%25", ".100%25"},
    {"%2E", "%252E", ".%252E"},
    {"curly", "curly", ".curly"},
    {"Cur", "Cur", ".Cur"},
};

START_TEST(test_name_maps_to_verbatim_directory)
{
	char buf[PATH_MAX];

	ck_assert_int_ge(maildir_path_from_name(paths[_i].name, LAYOUT_VERBATIM, buf, sizeof(buf)),
			 0);
	ck_assert_str_eq(buf, paths[_i].verbatim);
}
END_TEST

START_TEST(test_name_maps_to_maildirpp_directory)
{
	char buf[PATH_MAX];

	ck_assert_int_ge(maildir_path_from_name(paths[_i].name, LAYOUT_MAILDIRPP, buf, sizeof(buf)),
			 0);
	ck_assert_str_eq(buf, paths[_i].maildirpp);
}
END_TEST

START_TEST(test_directory_maps_back_to_name_in_both_layouts)
{
	char buf[PATH_MAX];

	ck_assert_int_ge(
	    maildir_path_to_name(paths[_i].verbatim, LAYOUT_VERBATIM, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, paths[_i].name);
	ck_assert_int_ge(
	    maildir_path_to_name(paths[_i].maildirpp, LAYOUT_MAILDIRPP, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, paths[_i].name);
}
END_TEST

START_TEST(test_inbox_in_any_case_is_inbox)
{
	char buf[PATH_MAX];

	ck_assert_int_ge(maildir_path_from_name("inbox", LAYOUT_VERBATIM, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "INBOX");
	ck_assert_int_ge(maildir_path_from_name("InBox", LAYOUT_MAILDIRPP, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "");
	ck_assert_int_ge(maildir_path_to_name("inbox", LAYOUT_VERBATIM, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "INBOX");
	ck_assert_int_ge(maildir_path_to_name(".Inbox", LAYOUT_MAILDIRPP, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "INBOX");
	ck_assert(folder_name_is_inbox("iNbOx"));
	ck_assert(!folder_name_is_inbox("INBOX/Sub"));
}
END_TEST

/* The layouts of mbsync (SubFolders Legacy: Path/top/.sub/.subsub) and of
 * offlineimap (sep = .: one directory per folder under the root, INBOX a
 * directory of that name), both ways. */
static const struct {
	const char *name;
	const char *legacy;
	const char *offlineimap;
} tool_paths[] = {
    {"INBOX", "INBOX", "INBOX"},
    {"Work", "Work", "Work"},
    {"Work/Projects", "Work/.Projects", "Work.Projects"},
    {"a/b/c", "a/.b/.c", "a.b.c"},
    {"INBOX/Sub", "INBOX/.Sub", "INBOX.Sub"},
    {"Entwürfe", "Entwürfe", "Entwürfe"},
    {"v1.2", "v1.2", "v1%2E2"},
    {"a/v1.2", "a/.v1.2", "a.v1%2E2"},
    {"a/.b", "a/.%2Eb", "a.%2Eb"},
    {".hidden", "%2Ehidden", "%2Ehidden"},
    {"cur", "%63ur", "%63ur"},
    {"a/cur", "a/.cur", "a.cur"},
    {"100%", "100%25", "100%25"},
    {"Sent Items", "Sent Items", "Sent Items"},
};

START_TEST(test_name_maps_to_the_tools_directories)
{
	char buf[PATH_MAX];

	ck_assert_int_ge(
	    maildir_path_from_name(tool_paths[_i].name, LAYOUT_LEGACY, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, tool_paths[_i].legacy);
	ck_assert_int_ge(
	    maildir_path_from_name(tool_paths[_i].name, LAYOUT_OFFLINEIMAP, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, tool_paths[_i].offlineimap);
}
END_TEST

START_TEST(test_the_tools_directories_map_back_to_names)
{
	char buf[PATH_MAX];

	ck_assert_int_ge(
	    maildir_path_to_name(tool_paths[_i].legacy, LAYOUT_LEGACY, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, tool_paths[_i].name);
	ck_assert_int_ge(
	    maildir_path_to_name(tool_paths[_i].offlineimap, LAYOUT_OFFLINEIMAP, buf, sizeof(buf)),
	    0);
	ck_assert_str_eq(buf, tool_paths[_i].name);
}
END_TEST

/* What the tools never write is no folder of their layout. */
START_TEST(test_other_directories_are_no_folders_of_the_tools_layouts)
{
	char buf[PATH_MAX];

	ck_assert_int_eq(maildir_path_to_name("Work/Projects", LAYOUT_LEGACY, buf, sizeof(buf)),
			 -1);
	ck_assert_int_eq(maildir_path_to_name("", LAYOUT_LEGACY, buf, sizeof(buf)), -1);
	ck_assert_int_eq(
	    maildir_path_to_name("Work/Projects", LAYOUT_OFFLINEIMAP, buf, sizeof(buf)), -1);
	ck_assert_int_eq(maildir_path_to_name(".Work", LAYOUT_OFFLINEIMAP, buf, sizeof(buf)), -1);
	ck_assert_int_eq(maildir_path_to_name("", LAYOUT_OFFLINEIMAP, buf, sizeof(buf)), -1);
	ck_assert_int_ge(maildir_path_to_name("inbox", LAYOUT_OFFLINEIMAP, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "INBOX");
	ck_assert_int_ge(maildir_path_from_name("inbox", LAYOUT_LEGACY, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "INBOX");
}
END_TEST

/* Names that stress the escapes: every one must come back unchanged and
 * land in one directory component per level (verbatim) or one entry
 * (maildir++) that is neither hidden in verbatim nor the index. */
static const char *const round_trip[] = {
    "%",     "%%",    "%25",   "%2F",	"a%zz",	   "..a",      "a..b",	"a.",
    ".a",    "cur",   "new",   "tmp",	".ferry",  "ferry",    "Ferry", "a/.ferry",
    "ü.ö/ß", "x/y/z", "INBOX", "a b/c", "a:b/c;d", "tab-free", "-",	"~",
};

START_TEST(test_safe_names_round_trip_in_both_layouts)
{
	for (int layout = LAYOUT_VERBATIM; layout <= LAYOUT_OFFLINEIMAP; layout++) {
		char dir[PATH_MAX], back[PATH_MAX];

		ck_assert(folder_name_is_safe(round_trip[_i], NULL));
		ck_assert_int_ge(maildir_path_from_name(round_trip[_i], layout, dir, sizeof(dir)),
				 0);
		ck_assert_int_ge(maildir_path_to_name(dir, layout, back, sizeof(back)), 0);
		ck_assert_str_eq(back, round_trip[_i]);
		if (layout == LAYOUT_LEGACY || layout == LAYOUT_OFFLINEIMAP) {
			/* no level hidden but by the layout's own dot, none the index */
			ck_assert_int_ne(dir[0], '.');
			ck_assert_ptr_null(strstr(dir, "/.."));
			if (layout == LAYOUT_OFFLINEIMAP)
				ck_assert_ptr_null(strchr(dir, '/'));
		} else if (layout == LAYOUT_VERBATIM) {
			/* No component hidden, none a Maildir subdirectory. */
			for (char *p = dir; p; p = strchr(p, '/') ? strchr(p, '/') + 1 : NULL) {
				ck_assert_int_ne(*p, '.');
				ck_assert(strncmp(p, "cur", 3) || (p[3] && p[3] != '/'));
				ck_assert(strncmp(p, "new", 3) || (p[3] && p[3] != '/'));
				ck_assert(strncmp(p, "tmp", 3) || (p[3] && p[3] != '/'));
			}
		} else {
			ck_assert_ptr_null(strchr(dir, '/'));
			ck_assert_str_ne(dir, ".ferry");
			ck_assert(!*dir || dir[0] == '.'); /* "" is the root: INBOX */
		}
	}
}
END_TEST

START_TEST(test_decoding_is_lenient)
{
	static const struct {
		const char *dir;
		const char *name;
	} cases[] = {
	    {"a%zz", "a%zz"},	  {"a%2", "a%2"},   {"%", "%"},	  {"%2F", "%2F"},
	    {"%00x", "%00x"},	  {"%66oo", "foo"}, {"%2e", "."}, {"%41%42", "AB"},
	    {"x/%2e%2E", "x/.."}, {"%c3%bc", "ü"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[PATH_MAX];

		ck_assert_int_ge(
		    maildir_path_to_name(cases[i].dir, LAYOUT_VERBATIM, buf, sizeof(buf)), 0);
		ck_assert_str_eq(buf, cases[i].name);
	}
}
END_TEST

START_TEST(test_decoded_unsafe_names_are_caught_by_the_safety_check)
{
	char buf[PATH_MAX];

	ck_assert_int_ge(maildir_path_to_name("x/%2e%2E", LAYOUT_VERBATIM, buf, sizeof(buf)), 0);
	ck_assert(!folder_name_is_safe(buf, NULL));
	ck_assert_int_ge(maildir_path_to_name("..a", LAYOUT_MAILDIRPP, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/a");
	ck_assert(!folder_name_is_safe(buf, NULL));
	ck_assert_int_ge(maildir_path_to_name(".a..b", LAYOUT_MAILDIRPP, buf, sizeof(buf)), 0);
	ck_assert(!folder_name_is_safe(buf, NULL));
	ck_assert_int_ge(maildir_path_to_name(".a.", LAYOUT_MAILDIRPP, buf, sizeof(buf)), 0);
	ck_assert(!folder_name_is_safe(buf, NULL));
	ck_assert_int_ge(maildir_path_to_name(".%0A", LAYOUT_MAILDIRPP, buf, sizeof(buf)), 0);
	ck_assert(!folder_name_is_safe(buf, NULL));
	/* C1 controls as UTF-8 (U+009B is CSI), refused as the IMAP side does. */
	ck_assert(!folder_name_is_safe("c1\xc2\x9b"
				       "2J",
				       NULL));
	ck_assert(!folder_name_is_safe("nel\xc2\x85", NULL));
	ck_assert(folder_name_is_safe("nbsp\xc2\xa0", NULL));
}
END_TEST

START_TEST(test_maildirpp_entry_without_dot_is_no_folder)
{
	char buf[PATH_MAX];

	ck_assert_int_eq(maildir_path_to_name("Work", LAYOUT_MAILDIRPP, buf, sizeof(buf)), -1);
	ck_assert_int_ge(maildir_path_to_name("", LAYOUT_MAILDIRPP, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "INBOX");
}
END_TEST

START_TEST(test_too_long_components_are_refused)
{
	char name[600], buf[PATH_MAX];

	memset(name, 'a', 255);
	name[255] = '\0';
	ck_assert_int_ge(maildir_path_from_name(name, LAYOUT_VERBATIM, buf, sizeof(buf)), 0);
	/* maildir++ adds the leading dot: 256 bytes for one entry. */
	ck_assert_int_eq(maildir_path_from_name(name, LAYOUT_MAILDIRPP, buf, sizeof(buf)), -1);
	/* An escape triples a byte. */
	memset(name, '.', 100);
	name[100] = '\0';
	ck_assert_int_eq(maildir_path_from_name(name, LAYOUT_MAILDIRPP, buf, sizeof(buf)), -1);
	/* Each verbatim level is its own component. */
	memset(name, 'a', 200);
	name[200] = '/';
	memset(name + 201, 'b', 200);
	name[401] = '\0';
	ck_assert_int_ge(maildir_path_from_name(name, LAYOUT_VERBATIM, buf, sizeof(buf)), 0);
	ck_assert_int_eq(maildir_path_from_name(name, LAYOUT_MAILDIRPP, buf, sizeof(buf)), -1);
	ck_assert_int_eq(maildir_path_from_name("abc", LAYOUT_VERBATIM, buf, 3), -1);
}
END_TEST

/* ---- folder_name_is_safe ---- */

static const struct {
	const char *name;
	bool safe;
} safety[] = {
    {"INBOX", true},
    {"Work/Projects", true},
    {"Entwürfe", true},
    {"日本語/メール", true},
    {"emoji \xf0\x9f\x93\xa7", true},
    {"...", true},
    {"..a", true},
    {"a.", true},
    {".hidden", true},
    {"", false},
    {".", false},
    {"..", false},
    {"../escape", false},
    {"a/../../b", false},
    {"a/..", false},
    {"a/./b", false},
    {"/abs", false},
    {"a//b", false},
    {"a/", false},
    {"/", false},
    {"a\nb", false},
    {"a\rb", false},
    {"a\r\n", false},
    {"tab\t", false},
    {"nul\x01", false},
    {"del\x7f", false},
    {"\xff", false},
    {"\xc3", false},		 /* truncated sequence */
    {"\xc0\xaf", false},	 /* overlong '/' */
    {"\xe0\x80\xaf", false},	 /* overlong '/' */
    {"\xed\xa0\x80", false},	 /* UTF-16 surrogate */
    {"\xf4\x90\x80\x80", false}, /* above U+10FFFF */
    {"\x80", false},		 /* lone continuation byte */
    {"caf\xe9", false},		 /* Latin-1 */
};

START_TEST(test_folder_name_safety)
{
	const char *why = NULL;
	bool safe = folder_name_is_safe(safety[_i].name, &why);

	ck_assert_msg(safe == safety[_i].safe, "case %d: got %d", _i, safe);
	if (!safe)
		ck_assert_ptr_nonnull(why);
}
END_TEST

START_TEST(test_null_name_is_unsafe)
{
	ck_assert(!folder_name_is_safe(NULL, NULL));
}
END_TEST

START_TEST(test_printable_name_replaces_what_could_forge_a_line)
{
	char buf[64];

	ck_assert_str_eq(folder_name_printable("a\nb\r\"c\xff", buf, sizeof(buf)), "a?b??c?");
	ck_assert_str_eq(folder_name_printable("Entwürfe", buf, sizeof(buf)), "Entwürfe");
	ck_assert_str_eq(folder_name_printable("abcdef", buf, 4), "abc");
	ck_assert_str_eq(folder_name_printable("ab\xc3\xbc", buf, 4), "ab");
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *names_suite(void)
{
	Suite *s = suite_create("maildir_names");
	TCase *tc = tcase_create("filename");

	tcase_add_loop_test(tc, test_every_flag_letter_is_parsed, 0, N(letters));
	tcase_add_loop_test(tc, test_every_flag_letter_is_built, 0, N(letters));
	tcase_add_test(tc, test_all_flags_parse_and_build_sorted);
	tcase_add_test(tc, test_unknown_letters_are_kept_sorted_without_duplicates);
	tcase_add_test(tc, test_name_without_suffix_is_all_unique_part);
	tcase_add_test(tc, test_empty_suffix_has_info_and_no_flags);
	tcase_add_test(tc, test_dovecot_size_fields_belong_to_the_unique_part);
	tcase_add_test(tc, test_other_info_versions_are_part_of_the_name);
	tcase_add_loop_test(tc, test_malformed_names_are_refused_with_a_reason, 0, N(malformed));
	tcase_add_test(tc, test_build_refuses_names_longer_than_name_max);
	tcase_add_test(tc, test_parse_of_built_name_round_trips);
	tcase_add_test(tc, test_unique_name_has_every_part_and_escapes_the_host);
	suite_add_tcase(s, tc);

	tc = tcase_create("path");
	tcase_add_loop_test(tc, test_name_maps_to_verbatim_directory, 0, N(paths));
	tcase_add_loop_test(tc, test_name_maps_to_maildirpp_directory, 0, N(paths));
	tcase_add_loop_test(tc, test_directory_maps_back_to_name_in_both_layouts, 0, N(paths));
	tcase_add_test(tc, test_inbox_in_any_case_is_inbox);
	tcase_add_loop_test(tc, test_name_maps_to_the_tools_directories, 0, N(tool_paths));
	tcase_add_loop_test(tc, test_the_tools_directories_map_back_to_names, 0, N(tool_paths));
	tcase_add_test(tc, test_other_directories_are_no_folders_of_the_tools_layouts);
	tcase_add_loop_test(tc, test_safe_names_round_trip_in_both_layouts, 0, N(round_trip));
	tcase_add_test(tc, test_decoding_is_lenient);
	tcase_add_test(tc, test_decoded_unsafe_names_are_caught_by_the_safety_check);
	tcase_add_test(tc, test_maildirpp_entry_without_dot_is_no_folder);
	tcase_add_test(tc, test_too_long_components_are_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("safety");
	tcase_add_loop_test(tc, test_folder_name_safety, 0, N(safety));
	tcase_add_test(tc, test_null_name_is_unsafe);
	tcase_add_test(tc, test_printable_name_replaces_what_could_forge_a_line);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(names_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
