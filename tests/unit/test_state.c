/* The state database's schema (sync/state.c): a fresh state carries every
 * migration, and an older one gets the steps it lacks when opened. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "sync/state.h"

/* The schema's steps so far; a new migration raises it. */
#define STATE_VERSION 9

static char dir[] = "/tmp/ferry-test-state-XXXXXX";
static char path[sizeof(dir) + 32];

static void setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(strcpy(dir, "/tmp/ferry-test-state-XXXXXX")));
	snprintf(path, sizeof(path), "%s/state.db", dir);
}

static void teardown(void)
{
	char cmd[sizeof(dir) + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void db_exec(const char *sql)
{
	sqlite3 *db;
	char *msg = NULL;

	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK, "%s", msg);
	ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
}

static int64_t db_int(const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v;

	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
	return v;
}

static void open_and_close(void)
{
	struct ferry_error err = {0};
	struct state *st = NULL;

	ck_assert_msg(state_open(path, &st, &err) == 0, "%s", err.msg);
	state_close(st);
}

static void assert_every_migration(void)
{
	ck_assert_int_eq(db_int("PRAGMA user_version"), STATE_VERSION);
	/* v3: loading a folder's pairs must not scan every folder's. */
	ck_assert_int_eq(db_int("SELECT count(*) FROM sqlite_master"
				" WHERE type = 'index' AND name = 'pairs_folder'"),
			 1);
	/* v4: the identity version of each pair's ids (rule 6). */
	ck_assert_int_eq(db_int("SELECT count(*) FROM pragma_table_info('pairs')"
				" WHERE name = 'id_version'"),
			 1);
	/* v6: what max_delete held back, for `ferry status`. */
	ck_assert_int_eq(db_int("SELECT count(*) FROM sqlite_master"
				" WHERE type = 'table' AND name = 'held'"),
			 1);
	/* v7: folders paired by role under different names. */
	ck_assert_int_eq(db_int("SELECT count(*) FROM sqlite_master"
				" WHERE type = 'table' AND name = 'role_pairs'"),
			 1);
	/* schema_pair_made: when each pair was made (keep). */
	ck_assert_int_eq(db_int("SELECT count(*) FROM pragma_table_info('pairs')"
				" WHERE name = 'made'"),
			 1);
	/* schema_placeholders: a pair's near copy may be a placeholder. */
	ck_assert_int_eq(db_int("SELECT count(*) FROM pragma_table_info('pairs')"
				" WHERE name = 'placeholder'"),
			 1);
	/* v2: the clean mark that lets rule 4 skip a folder. */
	ck_assert_int_eq(db_int("SELECT count(*) FROM pragma_table_info('folders')"
				" WHERE name = 'clean'"),
			 1);
}

START_TEST(fresh_state_carries_every_migration)
{
	open_and_close();
	assert_every_migration();
}
END_TEST

START_TEST(state_at_version_2_gets_the_pairs_folder_index)
{
	open_and_close();
	db_exec("DROP INDEX IF EXISTS pairs_folder; ALTER TABLE pairs DROP COLUMN id_version; "
		"ALTER TABLE pairs DROP COLUMN made; ALTER TABLE pairs DROP COLUMN placeholder; "
		"PRAGMA user_version = 2");
	open_and_close();
	assert_every_migration();
}
END_TEST

/* A state from before v5: its pairs and their ids stay, recorded as of
 * identity version 1; pairs written now are of the current version. */
START_TEST(state_at_version_3_keeps_its_pairs_as_identity_version_1)
{
	struct ferry_error err = {0};
	struct state *st = NULL;
	struct pair *pairs = NULL, p = {.far_uid = 8, .near_uid = 9, .size = 100};
	size_t n = 0;

	open_and_close();
	db_exec("ALTER TABLE pairs DROP COLUMN id_version; ALTER TABLE pairs DROP COLUMN made; "
		"ALTER TABLE pairs DROP COLUMN placeholder;"
		"INSERT INTO folders(id, name) VALUES (1, 'INBOX');"
		"INSERT INTO pairs(folder_id, far_uid, near_uid, status, base_flags, size, far_id,"
		" near_id) VALUES (1, 5, 6, 0, 0, 42, zeroblob(32), zeroblob(32));"
		"PRAGMA user_version = 3");
	ck_assert_msg(state_open(path, &st, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(state_load_pairs(st, 1, &pairs, &n, &err), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert(pairs[0].far_id.known && pairs[0].near_id.known);
	ck_assert_uint_eq(pairs[0].size, 42);
	state_pairs_free(pairs, n);
	ck_assert_int_eq(state_begin(st, &err), 0);
	ck_assert_int_eq(state_put_pair(st, 1, &p, &err), 0);
	ck_assert_int_eq(state_commit(st, &err), 0);
	state_close(st);
	assert_every_migration();
	ck_assert_int_eq(db_int("SELECT id_version FROM pairs WHERE far_uid = 5"), 1);
	ck_assert_int_eq(db_int("SELECT id_version FROM pairs WHERE far_uid = 8"), 2);
}
END_TEST

/* schema_pair_made: pairs from before count as made long ago (0); a new
 * pair gets the time it was made, and keeps it when written again (a new
 * status: kept, moved). */
START_TEST(a_pair_keeps_the_time_it_was_made)
{
	struct ferry_error err = {0};
	struct state *st = NULL;
	struct pair p = {.far_uid = 8, .near_uid = 9, .size = 100};
	struct pair *pairs = NULL;
	size_t n = 0;
	int64_t before = (int64_t)time(NULL);

	open_and_close();
	db_exec("ALTER TABLE pairs DROP COLUMN made; ALTER TABLE pairs DROP COLUMN placeholder;"
		"INSERT INTO folders(id, name) VALUES (1, 'INBOX');"
		"INSERT INTO pairs(folder_id, far_uid, near_uid, status, base_flags, size)"
		" VALUES (1, 5, 6, 0, 0, 42);"
		"PRAGMA user_version = 7");
	ck_assert_msg(state_open(path, &st, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(state_begin(st, &err), 0);
	ck_assert_int_eq(state_put_pair(st, 1, &p, &err), 0);
	ck_assert_int_eq(state_commit(st, &err), 0);
	state_close(st);
	ck_assert_int_eq(db_int("SELECT made FROM pairs WHERE far_uid = 5"), 0);
	ck_assert_int_ge(db_int("SELECT made FROM pairs WHERE far_uid = 8"), before);
	db_exec("UPDATE pairs SET made = 1234 WHERE far_uid = 8");
	ck_assert_msg(state_open(path, &st, &err) == 0, "%s", err.msg);
	p.near_uid = 0;
	p.status = PAIR_KEPT;
	ck_assert_int_eq(state_begin(st, &err), 0);
	ck_assert_int_eq(state_put_pair(st, 1, &p, &err), 0);
	ck_assert_int_eq(state_commit(st, &err), 0);
	ck_assert_int_eq(state_load_pairs(st, 1, &pairs, &n, &err), 0);
	ck_assert_uint_eq(n, 2);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(pairs[i].made, pairs[i].far_uid == 8 ? 1234 : 0);
	state_pairs_free(pairs, n);
	state_close(st);
}
END_TEST

/* A pair whose near copy is a placeholder says so when read back. */
START_TEST(placeholder_mark_of_a_pair_is_kept)
{
	struct ferry_error err = {0};
	struct state *st = NULL;
	struct pair p = {.far_uid = 3, .near_uid = 4, .size = 20000000, .placeholder = true}, got;
	bool found = false;

	ck_assert_msg(state_open(path, &st, &err) == 0, "%s", err.msg);
	db_exec("INSERT INTO folders(id, name) VALUES (1, 'INBOX')");
	ck_assert_int_eq(state_put_pair(st, 1, &p, &err), 0);
	ck_assert_int_eq(state_get_pair(st, 1, 3, 0, &got, &found, &err), 0);
	ck_assert(found && got.placeholder);
	free(got.base_keywords);
	p.placeholder = false;
	ck_assert_int_eq(state_put_pair(st, 1, &p, &err), 0);
	ck_assert_int_eq(state_get_pair(st, 1, 0, 4, &got, &found, &err), 0);
	ck_assert(found && !got.placeholder);
	free(got.base_keywords);
	state_close(st);
}
END_TEST

START_TEST(newer_state_is_refused)
{
	struct ferry_error err = {0};
	struct state *st = NULL;

	open_and_close();
	db_exec("PRAGMA user_version = 99");
	ck_assert_int_eq(state_open(path, &st, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, path));
	ck_assert_int_eq(err.cause, FERRY_CAUSE_LOCAL_IO);
}
END_TEST

START_TEST(readonly_open_wants_the_current_version)
{
	struct ferry_error err = {0};
	struct state *st = NULL;

	ck_assert_int_eq(state_open_readonly(path, &st, &err), 1); /* no file yet */
	open_and_close();
	ck_assert_msg(state_open_readonly(path, &st, &err) == 0, "%s", err.msg);
	state_close(st);
	db_exec("PRAGMA user_version = 2");
	ck_assert_int_eq(state_open_readonly(path, &st, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "run `ferry sync`"));
}
END_TEST

START_TEST(state_file_is_private)
{
	char cmd[sizeof(path) + 32];

	open_and_close();
	snprintf(cmd, sizeof(cmd), "test \"$(stat -c %%a %s)\" = 600", path);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(foreign_database_is_refused)
{
	struct ferry_error err = {0};
	struct state *st = NULL;

	db_exec("CREATE TABLE t (x)");
	ck_assert_int_eq(state_open(path, &st, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "is not ferry's"));
	ck_assert_int_eq(db_int("PRAGMA user_version"), 0); /* left alone */
}
END_TEST

/* A run records what max_delete held back; the next run that plans the
 * folder replaces it, and `ferry status` lists what is left. */
START_TEST(held_deletions_are_replaced_and_removals_cleared)
{
	struct ferry_error err = {0};
	struct state_held *v = NULL;
	struct state *st = NULL;
	size_t n = 0;

	ck_assert_msg(state_open(path, &st, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(state_set_held(st, "Work", FAR, HELD_DELETIONS, 11, &err), 0);
	ck_assert_int_eq(state_set_held(st, "Work", FAR, HELD_DELETIONS, 12, &err), 0);
	ck_assert_int_eq(state_set_held(st, "Work", NEAR, HELD_DELETIONS, 0, &err), 0);
	ck_assert_int_eq(state_set_held(st, "Old", NEAR, HELD_REMOVAL, 3, &err), 0);
	ck_assert_int_eq(state_set_held(st, "Empty", FAR, HELD_REMOVAL, 0, &err), 0);
	ck_assert_msg(state_list_held(st, &v, &n, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(v[0].folder, "Empty"); /* an empty folder's removal is held too */
	ck_assert_uint_eq(v[0].count, 0);
	state_held_free(v, n);
	ck_assert_int_eq(state_set_held(st, "Empty", FAR, HELD_DELETIONS, 0, &err), 0);
	ck_assert_int_eq(state_clear_held_removals(st, &err), 0);
	ck_assert_int_eq(state_set_held(st, "Old", NEAR, HELD_REMOVAL, 3, &err), 0);
	ck_assert_msg(state_list_held(st, &v, &n, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(v[0].folder, "Old");
	ck_assert_int_eq(v[0].kind, HELD_REMOVAL);
	ck_assert_int_eq(v[0].side, NEAR);
	ck_assert_uint_eq(v[0].count, 3);
	ck_assert_str_eq(v[1].folder, "Work");
	ck_assert_int_eq(v[1].kind, HELD_DELETIONS);
	ck_assert_int_eq(v[1].side, FAR);
	ck_assert_uint_eq(v[1].count, 12);
	ck_assert_int_ne(v[1].at, 0);
	state_held_free(v, n);

	ck_assert_int_eq(state_clear_held_removals(st, &err), 0);
	ck_assert_int_eq(state_set_held(st, "Work", FAR, HELD_DELETIONS, 0, &err), 0);
	ck_assert_msg(state_list_held(st, &v, &n, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(n, 0);
	state_held_free(v, n);
	state_close(st);
}
END_TEST

START_TEST(a_renamed_folder_keeps_its_row_and_pairs)
{
	struct ferry_error err = {0};
	struct state_folder work = {0}, stale = {0}, got = {0};
	struct pair p = {.far_uid = 7, .near_uid = 9, .size = 100};
	struct state *st = NULL;
	bool synced = false;
	size_t far = 0, near = 0;

	ck_assert_msg(state_open(path, &st, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(state_get_folder(st, "Work", &work, &err), 0);
	work.far_uidvalidity = 11;
	work.last_sync = 1;
	ck_assert_int_eq(state_put_folder(st, &work, &err), 0);
	ck_assert_int_eq(state_put_pair(st, work.id, &p, &err), 0);
	ck_assert_int_eq(state_add_conflict(st, "Work", "kept", &err), 0);
	/* A row of the new name from a sync that never finished goes. */
	ck_assert_int_eq(state_get_folder(st, "Old/Work", &stale, &err), 0);
	ck_assert_int_eq(state_put_pair(st, stale.id, &p, &err), 0);

	ck_assert_msg(state_rename_folder(st, "Work", "Old/Work", &err) == 0, "%s", err.msg);
	ck_assert_int_eq(state_folder_synced(st, "Work", &synced, &err), 0);
	ck_assert(!synced);
	ck_assert_int_eq(state_get_folder(st, "Old/Work", &got, &err), 0);
	ck_assert_int_eq(got.id, work.id);
	ck_assert_uint_eq(got.far_uidvalidity, 11);
	ck_assert_int_eq(state_count_pairs(st, got.id, &far, &near, &err), 0);
	ck_assert_uint_eq(far, 1);
	ck_assert_int_eq(state_count_pairs(st, stale.id, &far, &near, &err), 0);
	ck_assert_uint_eq(far, 0);
	ck_assert_int_eq(db_int("SELECT count(*) FROM conflicts WHERE folder = 'Old/Work'"), 1);
	free(work.name);
	free(stale.name);
	free(got.name);
	state_close(st);
}
END_TEST

static Suite *state_suite(void)
{
	Suite *s = suite_create("state");
	TCase *tc = tcase_create("schema");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, fresh_state_carries_every_migration);
	tcase_add_test(tc, state_at_version_2_gets_the_pairs_folder_index);
	tcase_add_test(tc, state_at_version_3_keeps_its_pairs_as_identity_version_1);
	tcase_add_test(tc, placeholder_mark_of_a_pair_is_kept);
	tcase_add_test(tc, newer_state_is_refused);
	tcase_add_test(tc, readonly_open_wants_the_current_version);
	tcase_add_test(tc, state_file_is_private);
	tcase_add_test(tc, foreign_database_is_refused);
	tcase_add_test(tc, held_deletions_are_replaced_and_removals_cleared);
	tcase_add_test(tc, a_renamed_folder_keeps_its_row_and_pairs);
	tcase_add_test(tc, a_pair_keeps_the_time_it_was_made);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(state_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
