/* store/pop3/map.c: the UIDL -> uid map of a POP3 store. uids increase in
 * the order keys are first seen and are never given again, keys gone from
 * the server are dropped, the uidvalidity is made once per file, and a key
 * given twice is the server's error. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/log.h"
#include "store/pop3/map.h"

static char dir[64], path[128];
static struct db *db;
static struct ferry_error err;

static void setup(void)
{
	log_set_level(LOG_QUIET);
	snprintf(dir, sizeof(dir), "/tmp/ferry-pop3map-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	/* A directory that does not exist yet: the map makes it. */
	snprintf(path, sizeof(path), "%s/state/ferry/pop3-isp.sqlite", dir);
	db = NULL;
}

static void teardown(void)
{
	char cmd[256];

	db_close(db);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Assigns keys (space-separated) and returns the uids as "u1 u2 ...". */
static const char *assign(const char *keys, struct folder_state *fs)
{
	static char out[256];
	struct pop3_msg msgs[16] = {{0}};
	char copy[256], *save = NULL;
	size_t n = 0, used = 0;

	snprintf(copy, sizeof(copy), "%s", keys);
	for (char *k = strtok_r(copy, " ", &save); k; k = strtok_r(NULL, " ", &save))
		msgs[n++].key = k;
	ck_assert_msg(pop3_map_assign(db, msgs, n, fs, &err) == 0, "assign: %s", err.msg);
	out[0] = '\0';
	for (size_t i = 0; i < n; i++)
		used += (size_t)snprintf(out + used, sizeof(out) - used, "%s%u", i ? " " : "",
					 msgs[i].uid);
	return out;
}

START_TEST(test_uids_follow_first_sight_and_are_never_reused)
{
	struct folder_state fs = {0};
	struct stat st;
	uint32_t validity;

	ck_assert_int_eq(pop3_map_open(path, false, &db, &err), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_str_eq(assign("a b c", &fs), "1 2 3");
	ck_assert_uint_ne(fs.uidvalidity, 0);
	ck_assert_uint_eq(fs.uidnext, 4);
	validity = fs.uidvalidity;
	/* b left the server, d came: b's uid is not given again. */
	ck_assert_str_eq(assign("a c d", &fs), "1 3 4");
	ck_assert_uint_eq(fs.uidnext, 5);
	/* b coming back is a new message to the map. */
	ck_assert_str_eq(assign("a b c d", &fs), "1 5 3 4");
	ck_assert_uint_eq(fs.uidvalidity, validity);
	db_close(db);
	db = NULL;
	ck_assert_int_eq(pop3_map_open(path, false, &db, &err), 0);
	ck_assert_str_eq(assign("d a", &fs), "4 1");
	ck_assert_uint_eq(fs.uidvalidity, validity);
	ck_assert_uint_eq(fs.uidnext, 6);
}
END_TEST

START_TEST(test_a_new_map_has_a_new_uidvalidity)
{
	struct folder_state fs1 = {0}, fs2 = {0};

	ck_assert_int_eq(pop3_map_open(path, false, &db, &err), 0);
	assign("a", &fs1);
	db_close(db);
	db = NULL;
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(pop3_map_open(path, false, &db, &err), 0);
	assign("a", &fs2);
	ck_assert_uint_ne(fs2.uidvalidity, 0);
	/* Random in 32 bits: equal once in four billion. */
	ck_assert_uint_ne(fs1.uidvalidity, fs2.uidvalidity);
}
END_TEST

START_TEST(test_a_key_given_twice_is_a_protocol_error)
{
	struct pop3_msg msgs[2] = {{.key = "same"}, {.key = "same"}};
	struct folder_state fs = {0};

	ck_assert_int_eq(pop3_map_open(path, false, &db, &err), 0);
	ck_assert_int_eq(pop3_map_assign(db, msgs, 2, &fs, &err), -1);
	ck_assert_int_eq(err.cause, FERRY_CAUSE_PROTOCOL);
	ck_assert_msg(strstr(err.msg, "\"same\""), "%s", err.msg);
	/* Nothing of it was kept. */
	ck_assert_str_eq(assign("same", &fs), "1");
}
END_TEST

START_TEST(test_a_scratch_map_writes_nothing)
{
	struct folder_state fs = {0};

	ck_assert_int_eq(pop3_map_open(path, true, &db, &err), 0);
	ck_assert_str_eq(assign("a b", &fs), "1 2");
	db_close(db);
	db = NULL;
	ck_assert_int_ne(access(path, F_OK), 0);
}
END_TEST

START_TEST(test_another_programs_database_is_refused)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd),
		 "mkdir -p \"$(dirname '%s')\" && sqlite3 '%s' 'CREATE TABLE x(y)'", path, path);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(pop3_map_open(path, false, &db, &err), -1);
	ck_assert_int_eq(err.cause, FERRY_CAUSE_LOCAL_IO);
	ck_assert_msg(strstr(err.msg, "not a ferry POP3 map"), "%s", err.msg);
}
END_TEST

static Suite *map_suite(void)
{
	Suite *s = suite_create("pop3_map");
	TCase *tc = tcase_create("map");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_uids_follow_first_sight_and_are_never_reused);
	tcase_add_test(tc, test_a_new_map_has_a_new_uidvalidity);
	tcase_add_test(tc, test_a_key_given_twice_is_a_protocol_error);
	tcase_add_test(tc, test_a_scratch_map_writes_nothing);
	tcase_add_test(tc, test_another_programs_database_is_refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(map_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
