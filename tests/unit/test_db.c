/* The SQLite helper (store/base/db.c): creation 0600, one migration runner
 * whose version is the number of steps, transactions, and errors that name
 * the file. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/base/db.h"

static char dir[64];
static char path[128];

static void setup(void)
{
	strcpy(dir, "/tmp/ferry-test-db-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/test.db", dir);
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static const char *const two_steps[] = {
    "CREATE TABLE t (x INTEGER);",
    "ALTER TABLE t ADD COLUMN y TEXT;",
};
static const char *const three_steps[] = {
    "CREATE TABLE t (x INTEGER);",
    "ALTER TABLE t ADD COLUMN y TEXT;",
    "CREATE INDEX t_x ON t(x);",
};
static const char *const broken_third[] = {
    "CREATE TABLE t (x INTEGER);",
    "ALTER TABLE t ADD COLUMN y TEXT;",
    "CREATE INDEX t_x ON t(x); CREATE TABLE t (again);",
};

static struct db_kind kind(const char *const *steps, size_t n)
{
	return (struct db_kind){
	    .noun = "test", .recover = "throw it away", .migrations = steps, .nmigrations = n};
}

static int64_t query(struct db *db, const char *sql)
{
	struct ferry_error err = {0};
	int64_t v = -1;

	ck_assert_msg(db_int(db, sql, &v, &err) == 0, "%s", err.msg);
	return v;
}

START_TEST(fresh_file_gets_every_step_and_is_private)
{
	struct db_kind k = kind(three_steps, 3);
	struct ferry_error err = {0};
	struct db *db;
	struct stat sb;

	ck_assert_msg(db_open(path, &k, DB_WRITE, &db, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(query(db, "PRAGMA user_version"), 3);
	ck_assert_int_eq(query(db, "SELECT count(*) FROM sqlite_master WHERE name = 't_x'"), 1);
	ck_assert_str_eq(db_path(db), path);
	db_close(db);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);
}
END_TEST

START_TEST(older_file_gets_the_steps_it_lacks)
{
	struct db_kind k2 = kind(two_steps, 2), k3 = kind(three_steps, 3);
	struct ferry_error err = {0};
	struct db *db;

	ck_assert_msg(db_open(path, &k2, DB_WRITE, &db, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(query(db, "PRAGMA user_version"), 2);
	db_close(db);
	ck_assert_msg(db_open(path, &k3, DB_WRITE, &db, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(query(db, "PRAGMA user_version"), 3);
	ck_assert_int_eq(query(db, "SELECT count(*) FROM sqlite_master WHERE name = 't_x'"), 1);
	db_close(db);
}
END_TEST

START_TEST(failed_step_leaves_the_version_it_was_at)
{
	struct db_kind k2 = kind(two_steps, 2), bad = kind(broken_third, 3);
	struct ferry_error err = {0};
	struct db *db;

	ck_assert_msg(db_open(path, &k2, DB_WRITE, &db, &err) == 0, "%s", err.msg);
	db_close(db);
	ck_assert_int_eq(db_open(path, &bad, DB_WRITE, &db, &err), -1);
	ck_assert_ptr_null(db);
	ck_assert_int_eq(err.cause, FERRY_CAUSE_LOCAL_IO);
	ck_assert_ptr_nonnull(strstr(err.msg, path));
	ck_assert_msg(db_open(path, &k2, DB_WRITE, &db, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(query(db, "PRAGMA user_version"), 2);
	/* the step's first statement was rolled back with it */
	ck_assert_int_eq(query(db, "SELECT count(*) FROM sqlite_master WHERE name = 't_x'"), 0);
	db_close(db);
}
END_TEST

START_TEST(newer_file_is_refused)
{
	struct db_kind k3 = kind(three_steps, 3), k2 = kind(two_steps, 2);
	struct ferry_error err = {0};
	struct db *db;

	ck_assert_msg(db_open(path, &k3, DB_WRITE, &db, &err) == 0, "%s", err.msg);
	db_close(db);
	ck_assert_int_eq(db_open(path, &k2, DB_WRITE, &db, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "test "));
	ck_assert_ptr_nonnull(strstr(err.msg, "newer than this ferry"));
}
END_TEST

START_TEST(damaged_file_is_named_with_the_way_out)
{
	struct db_kind k = kind(two_steps, 2);
	struct ferry_error err = {0};
	struct db *db;
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	for (int i = 0; i < 4096; i++)
		fputc('x', f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(db_open(path, &k, DB_WRITE, &db, &err), -1);
	ck_assert_int_eq(err.cause, FERRY_CAUSE_LOCAL_IO);
	ck_assert_ptr_nonnull(strstr(err.msg, path));
	ck_assert_ptr_nonnull(strstr(err.msg, "is damaged"));
	ck_assert_ptr_nonnull(strstr(err.msg, "throw it away"));
}
END_TEST

static int refuse(struct db *db, struct ferry_error *err)
{
	return ferry_error_set(err, FERRY_CAUSE_LOCAL_IO, "%s: not ours", db_path(db));
}

START_TEST(foreign_file_is_refused_before_any_write)
{
	struct db_kind k = kind(two_steps, 2);
	struct ferry_error err = {0};
	struct db *db;

	k.check_ours = refuse;
	ck_assert_int_eq(db_open(path, &k, DB_WRITE, &db, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "not ours"));
	k.check_ours = NULL;
	ck_assert_msg(db_open(path, &k, DB_WRITE, &db, &err) == 0, "%s", err.msg);
	db_close(db);
}
END_TEST

START_TEST(rollback_undoes_the_transaction)
{
	struct db_kind k = kind(two_steps, 2);
	struct ferry_error err = {0};
	struct db *db;

	ck_assert_msg(db_open(path, &k, DB_WRITE, &db, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(db_begin(db, &err), 0);
	ck_assert_int_eq(db_exec(db, "INSERT INTO t VALUES (1, 'a')", "insert", &err), 0);
	db_rollback(db);
	ck_assert_int_eq(query(db, "SELECT count(*) FROM t"), 0);
	ck_assert_int_eq(db_begin(db, &err), 0);
	ck_assert_int_eq(db_exec(db, "INSERT INTO t VALUES (2, 'b')", "insert", &err), 0);
	ck_assert_int_eq(db_commit(db, &err), 0);
	ck_assert_int_eq(query(db, "SELECT count(*) FROM t"), 1);
	/* an error names the file and what was being done */
	ck_assert_int_eq(db_exec(db, "INSERT INTO nowhere VALUES (1)", "adding a row", &err), -1);
	ck_assert_int_eq(err.cause, FERRY_CAUSE_LOCAL_IO);
	ck_assert_ptr_nonnull(strstr(err.msg, path));
	ck_assert_ptr_nonnull(strstr(err.msg, "adding a row"));
	db_close(db);
}
END_TEST

START_TEST(step_row_tells_one_row_from_none)
{
	struct db_kind k = kind(two_steps, 2);
	struct ferry_error err = {0};
	sqlite3_stmt *st;
	struct db *db;

	ck_assert_msg(db_open(path, &k, DB_WRITE, &db, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(db_exec(db, "INSERT INTO t VALUES (7, 'a')", "insert", &err), 0);
	ck_assert_int_eq(db_prepare(db, "SELECT y FROM t WHERE x = ?", true, &st, &err), 0);
	sqlite3_bind_int(st, 1, 7);
	ck_assert_int_eq(db_step_row(db, st, "read", &err), 1);
	ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "a");
	sqlite3_reset(st);
	sqlite3_bind_int(st, 1, 8);
	ck_assert_int_eq(db_step_row(db, st, "read", &err), 0);
	sqlite3_finalize(st);
	db_close(db);
}
END_TEST

static int read_x(sqlite3_stmt *st, void *elem)
{
	*(int *)elem = sqlite3_column_int(st, 0);
	return 0;
}

START_TEST(rows_fill_a_growing_array)
{
	struct db_kind k = kind(two_steps, 2);
	struct ferry_error err = {0};
	sqlite3_stmt *st;
	struct db *db;
	int *v = NULL;
	size_t n = 0, cap = 0;

	ck_assert_msg(db_open(path, &k, DB_WRITE, &db, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(db_exec(db,
				 "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c"
				 " WHERE i < 1000) INSERT INTO t (x) SELECT i FROM c",
				 "insert", &err),
			 0);
	ck_assert_int_eq(db_prepare(db, "SELECT x FROM t ORDER BY x", false, &st, &err), 0);
	ck_assert_msg(db_rows(db, st, &v, &n, &cap, sizeof(*v), read_x, "list", &err) == 0, "%s",
		      err.msg);
	ck_assert_uint_eq(n, 1000);
	ck_assert_uint_ge(cap, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(v[i], (int)i + 1);
	/* appends after what the array holds */
	ck_assert_int_eq(db_rows(db, st, &v, &n, &cap, sizeof(*v), read_x, "list", &err), 0);
	ck_assert_uint_eq(n, 2000);
	ck_assert_int_eq(v[1000], 1);
	sqlite3_finalize(st);
	free(v);
	db_close(db);
}
END_TEST

START_TEST(read_only_open_leaves_nothing_beside_the_file)
{
	struct db_kind k = kind(two_steps, 2), k3 = kind(three_steps, 3);
	struct ferry_error err = {0};
	char wal[160];
	struct db *db;

	ck_assert_int_eq(db_open(path, &k, DB_READ, &db, &err), -1); /* no file */
	ck_assert_msg(db_open(path, &k, DB_WRITE, &db, &err) == 0, "%s", err.msg);
	db_close(db);
	ck_assert_msg(db_open(path, &k, DB_READ, &db, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(query(db, "SELECT count(*) FROM t"), 0);
	db_close(db);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	ck_assert_int_ne(access(wal, F_OK), 0);
	snprintf(wal, sizeof(wal), "%s-shm", path);
	ck_assert_int_ne(access(wal, F_OK), 0);
	/* a reader wants the current version: the next writer migrates */
	ck_assert_int_eq(db_open(path, &k3, DB_READ, &db, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "run `ferry sync`"));
}
END_TEST

/* The file as bytes, to compare before and after; malloc'd. */
static char *slurp(const char *file, long *len)
{
	FILE *f = fopen(file, "rb");
	char *buf;

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	*len = ftell(f);
	rewind(f);
	buf = malloc((size_t)*len + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(fread(buf, 1, (size_t)*len, f), (size_t)*len);
	fclose(f);
	return buf;
}

START_TEST(scratch_copy_writes_in_memory_only)
{
	struct db_kind k = kind(two_steps, 2), k3 = kind(three_steps, 3);
	struct ferry_error err = {0};
	char other[160], *before, *after;
	long nbefore, nafter;
	struct db *db;

	/* no file: an empty copy with the schema, and still no file */
	ck_assert_msg(db_open(path, &k, DB_SCRATCH, &db, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(query(db, "PRAGMA user_version"), 2);
	db_close(db);
	ck_assert_int_ne(access(path, F_OK), 0);

	ck_assert_msg(db_open(path, &k, DB_WRITE, &db, &err) == 0, "%s", err.msg);
	ck_assert_msg(db_exec(db, "INSERT INTO t (x) VALUES (1)", "insert", &err) == 0, "%s",
		      err.msg);
	db_close(db);
	before = slurp(path, &nbefore);

	/* an older file is migrated in the copy; writes land there only */
	ck_assert_msg(db_open(path, &k3, DB_SCRATCH, &db, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(query(db, "SELECT count(*) FROM t"), 1);
	ck_assert_int_eq(query(db, "PRAGMA user_version"), 3);
	ck_assert_msg(db_begin(db, &err) == 0, "%s", err.msg);
	ck_assert_msg(db_exec(db, "INSERT INTO t (x) VALUES (2)", "insert", &err) == 0, "%s",
		      err.msg);
	ck_assert_msg(db_commit(db, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(query(db, "SELECT count(*) FROM t"), 2);
	db_close(db);

	after = slurp(path, &nafter);
	ck_assert_int_eq(nafter, nbefore);
	ck_assert_int_eq(memcmp(before, after, (size_t)nbefore), 0);
	snprintf(other, sizeof(other), "%s-wal", path);
	ck_assert_int_ne(access(other, F_OK), 0);
	snprintf(other, sizeof(other), "%s-shm", path);
	ck_assert_int_ne(access(other, F_OK), 0);
	free(before);
	free(after);
}
END_TEST

/* A run killed mid-write leaves a -wal: the copy holds what it committed,
 * and neither file is written. */
START_TEST(scratch_copy_reads_through_a_wal_left_behind)
{
	struct db_kind k = kind(two_steps, 2);
	struct ferry_error err = {0};
	char wal[160], *before, *after;
	long nbefore, nafter;
	struct db *writer, *db;

	ck_assert_msg(db_open(path, &k, DB_WRITE, &writer, &err) == 0, "%s", err.msg);
	ck_assert_msg(db_exec(writer, "INSERT INTO t (x) VALUES (7)", "insert", &err) == 0, "%s",
		      err.msg);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	ck_assert_int_eq(access(wal, F_OK), 0);
	before = slurp(wal, &nbefore);
	ck_assert_msg(db_open(path, &k, DB_SCRATCH, &db, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(query(db, "SELECT count(*) FROM t WHERE x = 7"), 1);
	db_close(db);
	after = slurp(wal, &nafter);
	ck_assert_int_eq(nafter, nbefore);
	ck_assert_int_eq(memcmp(before, after, (size_t)nbefore), 0);
	free(before);
	free(after);
	db_close(writer);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("db");
	TCase *tc = tcase_create("db");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, fresh_file_gets_every_step_and_is_private);
	tcase_add_test(tc, older_file_gets_the_steps_it_lacks);
	tcase_add_test(tc, failed_step_leaves_the_version_it_was_at);
	tcase_add_test(tc, newer_file_is_refused);
	tcase_add_test(tc, damaged_file_is_named_with_the_way_out);
	tcase_add_test(tc, foreign_file_is_refused_before_any_write);
	tcase_add_test(tc, rollback_undoes_the_transaction);
	tcase_add_test(tc, step_row_tells_one_row_from_none);
	tcase_add_test(tc, rows_fill_a_growing_array);
	tcase_add_test(tc, read_only_open_leaves_nothing_beside_the_file);
	tcase_add_test(tc, scratch_copy_writes_in_memory_only);
	tcase_add_test(tc, scratch_copy_reads_through_a_wal_left_behind);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
