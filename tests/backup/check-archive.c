/*
 * Unit tests for backup archives (src/backup/backup-write.c, backup-read.c,
 * backup-restore.c, backup-proc.c): what is written reads back with its
 * manifest; a stream of several parts comes back byte for byte; any
 * corruption (a flipped byte, a truncated file, an entry the manifest does
 * not list) makes verification fail; a refused restore touches nothing; a
 * restore puts contents, modes and symlinks back. And the version a
 * migration's version_query reports (backup-migration.c).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cjson/cJSON.h>

#include "corpdeploy/backup.h"

static char tmpdir[256];

static void setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cd-check-archive-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
	char *cmd = cd_xasprintf("rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
}

static char *tpath(const char *rel)
{
	return cd_xasprintf("%s/%s", tmpdir, rel);
}

static void write_file(const char *path, const char *text, unsigned mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	chmod(path, mode);
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	struct cd_buf b = CD_BUF_INIT;
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		cd_buf_add(&b, chunk, n);
	fclose(f);
	return cd_buf_detach(&b);
}

/* A tree: data/a.txt (0640), data/sub/b.txt (0600), data/link -> a.txt. */
static char *make_tree(void)
{
	char *data = tpath("data"), *sub = tpath("data/sub"), *a = tpath("data/a.txt"),
	     *b = tpath("data/sub/b.txt"), *l = tpath("data/link");
	ck_assert_int_eq(mkdir(data, 0750), 0);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	write_file(a, "alpha\n", 0640);
	write_file(b, "bravo bravo\n", 0600);
	ck_assert_int_eq(symlink("a.txt", l), 0);
	free(sub), free(a), free(b), free(l);
	return data;
}

static char *write_archive(const char *tree, size_t stream_bytes)
{
	char *path = tpath("backup.tar.zst");
	struct cd_backup_writer *w;
	struct cd_error err = CD_ERROR_INIT;
	ck_assert_int_eq(cd_backup_writer_open(path, "rel-1", "run-1", &w, &err), 0);
	if (tree)
		ck_assert_msg(cd_backup_add_path(w, tree, &err) == 0, "%s", err.msg);
	if (stream_bytes) {
		ck_assert_int_eq(cd_backup_stream_begin(w, "db.dump", &err), 0);
		unsigned char chunk[7919];
		size_t done = 0;
		while (done < stream_bytes) {
			size_t n = stream_bytes - done < sizeof(chunk) ? stream_bytes - done : sizeof(chunk);
			for (size_t i = 0; i < n; i++)
				chunk[i] = (unsigned char)((done + i) * 31 + ((done + i) >> 11));
			ck_assert_int_eq(cd_backup_stream_write(w, chunk, n, &err), 0);
			done += n;
		}
		ck_assert_int_eq(cd_backup_stream_end(w, &err), 0);
	}
	struct cd_backup_summary sum;
	ck_assert_msg(cd_backup_writer_close(w, &sum, &err) == 0, "%s", err.msg);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	ck_assert_uint_eq(sum.bytes, (uint64_t)st.st_size);
	char hex[65];
	uint64_t size;
	ck_assert_int_eq(cd_backup_file_sha256(path, hex, &size, &err), 0);
	ck_assert_str_eq(hex, sum.sha256);
	ck_assert_uint_eq(sum.stream_bytes, stream_bytes);
	return path;
}

/* The stream name of archive piped into argv: 0 when it read it and exited 0. */
static int restore_stream(const char *archive, const char *name, const char *const *argv,
	const char *const *env, int64_t timeout_ms, struct cd_error *err)
{
	struct cd_backup_stream_reader *rd = NULL;
	int r = cd_backup_stream_open(archive, name, &rd, err);
	if (r < 0)
		return r;
	struct cd_buf eout = CD_BUF_INIT;
	int status = -1;
	r = cd_backup_proc_stream(argv, env, cd_backup_stream_read, rd, NULL, NULL, timeout_ms,
		&eout, &status, err);
	if (r == 0 && status != 0)
		r = cd_error_set(err, CD_EREMOTE, "'%s' exited with %d", argv[0], status);
	cd_buf_release(&eout);
	cd_backup_stream_close(rd);
	return r;
}

START_TEST(test_manifest_lists_every_entry)
{
	char *tree = make_tree();
	char *archive = write_archive(tree, 0);
	struct cd_error err = CD_ERROR_INIT;
	cJSON *m = NULL;
	ck_assert_msg(cd_backup_verify(archive, &m, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(cJSON_GetObjectItem(m, "release")->valuestring, "rel-1");
	ck_assert_str_eq(cJSON_GetObjectItem(m, "run_id")->valuestring, "run-1");
	cJSON *entries = cJSON_GetObjectItem(m, "entries");
	ck_assert_int_eq(cJSON_GetArraySize(entries), 5); /* data, a.txt, link, sub, sub/b.txt */
	int files = 0;
	cJSON *e;
	cJSON_ArrayForEach(e, entries) {
		const char *type = cJSON_GetObjectItem(e, "type")->valuestring;
		const char *p = cJSON_GetObjectItem(e, "path")->valuestring;
		ck_assert_int_eq(p[0], '/');
		if (strcmp(type, "file") == 0) {
			files++;
			ck_assert_int_eq(strlen(cJSON_GetObjectItem(e, "sha256")->valuestring), 64);
			ck_assert_ptr_nonnull(cJSON_GetObjectItem(e, "owner"));
		}
		if (strstr(p, "/a.txt")) {
			ck_assert_str_eq(cJSON_GetObjectItem(e, "mode")->valuestring, "0640");
			ck_assert_int_eq(cJSON_GetObjectItem(e, "size")->valueint, 6);
			/* sha256("alpha\n") */
			ck_assert_str_eq(cJSON_GetObjectItem(e, "sha256")->valuestring,
				"b6a98d9ce9a2d9149288fa3df42d377c3e42737afdcdaf714e33c0a100b51060");
		}
		if (strstr(p, "/link"))
			ck_assert_str_eq(cJSON_GetObjectItem(e, "target")->valuestring, "a.txt");
	}
	ck_assert_int_eq(files, 2);
	cJSON_Delete(m);
	free(tree);
	free(archive);
}
END_TEST

START_TEST(test_stream_round_trip_in_parts)
{
	/* Two and a half parts: the reader must stitch them back in order. */
	size_t n = CD_BACKUP_PART_MAX * 2 + CD_BACKUP_PART_MAX / 2;
	char *archive = write_archive(NULL, n);
	struct cd_error err = CD_ERROR_INIT;
	cJSON *m = NULL;
	ck_assert_msg(cd_backup_verify(archive, &m, &err) == 0, "%s", err.msg);
	cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItem(m, "entries"), 0);
	ck_assert_str_eq(cJSON_GetObjectItem(e, "type")->valuestring, "stream");
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(e, "parts")), 3);
	cJSON_Delete(m);

	/* Through a real process: cat copies the stream, cmp-like check by sha256sum. */
	char *out = tpath("restored.bin");
	char *cmd = cd_xasprintf("cat > '%s'", out);
	const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
	ck_assert_msg(restore_stream(archive, "db.dump", argv, NULL, 60000, &err) == 0,
		"%s", err.msg);
	struct stat st;
	ck_assert_int_eq(stat(out, &st), 0);
	ck_assert_uint_eq((uint64_t)st.st_size, n);
	FILE *f = fopen(out, "rb");
	unsigned char chunk[8192];
	size_t off = 0, k;
	size_t bad = 0;
	/* One assertion at the end: Check records every assertion it passes. */
	while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		for (size_t i = 0; i < k; i++)
			bad += chunk[i] != (unsigned char)((off + i) * 31 + ((off + i) >> 11));
		off += k;
	}
	ck_assert_uint_eq(bad, 0);
	fclose(f);
	ck_assert_uint_eq(off, n);
	free(cmd);
	free(out);
	free(archive);
}
END_TEST

START_TEST(test_empty_stream)
{
	char *archive = tpath("empty.tar.zst");
	struct cd_backup_writer *w;
	struct cd_error err = CD_ERROR_INIT;
	ck_assert_int_eq(cd_backup_writer_open(archive, "r", "x", &w, &err), 0);
	ck_assert_int_eq(cd_backup_stream_begin(w, "db.dump", &err), 0);
	ck_assert_int_eq(cd_backup_stream_end(w, &err), 0);
	ck_assert_int_eq(cd_backup_writer_close(w, NULL, &err), 0);
	ck_assert_int_eq(cd_backup_verify(archive, NULL, &err), 0);
	free(archive);
}
END_TEST

/* Flips one byte in the middle of the file. */
static void corrupt(const char *path, double where)
{
	int fd = open(path, O_RDWR);
	struct stat st;
	fstat(fd, &st);
	off_t off = (off_t)((double)st.st_size * where);
	unsigned char c;
	ck_assert_int_eq(pread(fd, &c, 1, off), 1);
	c ^= 0x5a;
	ck_assert_int_eq(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

START_TEST(test_corrupted_archive_is_refused_and_nothing_touched)
{
	char *tree = make_tree();
	char *archive = write_archive(tree, 100000);
	/* Change the live files after the backup: a refused restore must leave these. */
	char *a = tpath("data/a.txt");
	write_file(a, "changed\n", 0644);
	corrupt(archive, 0.5);
	struct cd_error err = CD_ERROR_INIT;
	ck_assert_int_lt(cd_backup_verify(archive, NULL, &err), 0);
	cd_error_release(&err);
	ck_assert_int_lt(cd_backup_restore_files(archive, NULL, &err), 0);
	ck_assert_ptr_nonnull(err.msg);
	cd_error_release(&err);
	char *text = read_file(a);
	ck_assert_str_eq(text, "changed\n");
	free(text);
	/* No staging file left beside it. */
	char *cmd = cd_xasprintf("ls -a '%s/data' | grep -q cd-restore", tmpdir);
	ck_assert_int_ne(system(cmd), 0);
	free(cmd);
	free(a);
	free(tree);
	free(archive);
}
END_TEST

/*
 * Any damaged byte is refused, wherever it falls: in a part (its sha256),
 * in a tar header or the manifest, which no entry hash covers (zstd's
 * content checksum over the whole archive).
 */
START_TEST(test_damage_anywhere_is_refused)
{
	char *tree = make_tree();
	char *archive = write_archive(tree, 100000);
	struct stat st;
	ck_assert_int_eq(stat(archive, &st), 0);
	struct cd_error err = CD_ERROR_INIT;
	for (int tenth = 1; tenth <= 9; tenth++) {
		corrupt(archive, tenth / 10.0);
		ck_assert_msg(cd_backup_verify(archive, NULL, &err) < 0, "damage at %d/10 passed",
			tenth);
		cd_error_release(&err);
		corrupt(archive, tenth / 10.0); /* the same flip again puts it back */
		ck_assert_msg(cd_backup_verify(archive, NULL, &err) == 0, "%s", err.msg);
	}
	free(tree);
	free(archive);
}
END_TEST

START_TEST(test_truncated_archive_is_refused)
{
	char *archive = write_archive(NULL, 300000);
	struct stat st;
	ck_assert_int_eq(stat(archive, &st), 0);
	ck_assert_int_eq(truncate(archive, st.st_size * 2 / 3), 0);
	struct cd_error err = CD_ERROR_INIT;
	ck_assert_int_lt(cd_backup_verify(archive, NULL, &err), 0);
	cd_error_release(&err);
	free(archive);
}
END_TEST

/* An archive whose entry does not match its manifest (same format, forged content). */
START_TEST(test_forged_entry_is_refused)
{
	char *tree = make_tree();
	char *archive = write_archive(tree, 0);
	struct cd_error err = CD_ERROR_INIT;
	cJSON *m = NULL;
	ck_assert_int_eq(cd_backup_verify(archive, &m, &err), 0);
	/* Rewrite it with a.txt's content changed but the same manifest. */
	char *forged = tpath("forged.tar.zst");
	struct archive *in = archive_read_new(), *out = archive_write_new();
	archive_read_support_filter_zstd(in);
	archive_read_support_format_tar(in);
	ck_assert_int_eq(archive_read_open_filename(in, archive, 65536), ARCHIVE_OK);
	archive_write_set_format_pax_restricted(out);
	archive_write_add_filter_zstd(out);
	ck_assert_int_eq(archive_write_open_filename(out, forged), ARCHIVE_OK);
	struct archive_entry *e;
	char buf[65536];
	while (archive_read_next_header(in, &e) == ARCHIVE_OK) {
		la_ssize_t n = archive_read_data(in, buf, sizeof(buf));
		if (strstr(archive_entry_pathname(e), "a.txt"))
			buf[0] = 'A';
		archive_write_header(out, e);
		if (n > 0)
			archive_write_data(out, buf, (size_t)n);
	}
	archive_read_free(in);
	archive_write_free(out);
	ck_assert_int_lt(cd_backup_verify(forged, NULL, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "checksum mismatch"));
	cd_error_release(&err);
	cJSON_Delete(m);
	free(forged);
	free(tree);
	free(archive);
}
END_TEST

START_TEST(test_restore_puts_files_back)
{
	char *tree = make_tree();
	char *archive = write_archive(tree, 0);
	char *a = tpath("data/a.txt"), *b = tpath("data/sub/b.txt"), *l = tpath("data/link");
	write_file(a, "overwritten\n", 0666);
	ck_assert_int_eq(unlink(b), 0);
	ck_assert_int_eq(unlink(l), 0);
	ck_assert_int_eq(symlink("elsewhere", l), 0);
	struct cd_error err = CD_ERROR_INIT;
	size_t n = 0;
	ck_assert_msg(cd_backup_restore_files(archive, &n, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(n, 3);
	char *text = read_file(a);
	ck_assert_str_eq(text, "alpha\n");
	free(text);
	text = read_file(b);
	ck_assert_str_eq(text, "bravo bravo\n");
	free(text);
	struct stat st;
	ck_assert_int_eq(stat(a, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0640);
	ck_assert_int_eq(stat(b, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	char target[64] = "";
	ck_assert_int_eq(readlink(l, target, sizeof(target) - 1), 5);
	ck_assert_str_eq(target, "a.txt");
	free(a), free(b), free(l);
	free(tree);
	free(archive);
}
END_TEST

START_TEST(test_relative_and_dotdot_paths_refused)
{
	char *archive = tpath("x.tar.zst");
	struct cd_backup_writer *w;
	struct cd_error err = CD_ERROR_INIT;
	ck_assert_int_eq(cd_backup_writer_open(archive, "r", "x", &w, &err), 0);
	ck_assert_int_eq(cd_backup_add_path(w, "relative/path", &err), CD_EUSAGE);
	cd_error_release(&err);
	ck_assert_int_eq(cd_backup_add_path(w, "/tmp/../etc", &err), CD_EUSAGE);
	cd_error_release(&err);
	ck_assert_int_eq(cd_backup_add_path(w, "/nonexistent-cd-path", &err), CD_EIO);
	cd_error_release(&err);
	cd_backup_writer_abort(w);
	/* An aborted archive leaves nothing behind. */
	char *tmp = tpath("x.tar.zst.tmp");
	ck_assert_int_ne(access(tmp, F_OK), 0);
	ck_assert_int_ne(access(archive, F_OK), 0);
	free(tmp);
	free(archive);
}
END_TEST

static int count_sink(void *opaque, const void *data, size_t len, struct cd_error *err)
{
	(void)data, (void)err;
	*(size_t *)opaque += len;
	return 0;
}

START_TEST(test_proc_stream_status_and_stderr)
{
	const char *argv[] = { "/bin/sh", "-c", "head -c 1000000 /dev/zero; echo oops >&2; exit 3",
		NULL };
	size_t got = 0;
	struct cd_buf eout;
	int status = -1;
	struct cd_error err = CD_ERROR_INIT;
	ck_assert_int_eq(cd_backup_proc_stream(argv, NULL, NULL, NULL, count_sink, &got, 30000,
				 &eout, &status, &err),
		0);
	ck_assert_uint_eq(got, 1000000);
	ck_assert_int_eq(status, 3);
	ck_assert_str_eq(eout.buf, "oops\n");
	cd_buf_release(&eout);

	/* A command that does not read its stdin: EPIPE, not a dead test process. */
	const char *quit[] = { "/bin/true", NULL };
	char *archive = write_archive(NULL, CD_BACKUP_PART_MAX + 10);
	ck_assert_int_eq(restore_stream(archive, "db.dump", quit, NULL, 30000, &err), 0);
	const char *missing[] = { "/nonexistent/cd-command", NULL };
	ck_assert_int_lt(restore_stream(archive, "db.dump", missing, NULL, 30000, &err),
		0);
	cd_error_release(&err);
	free(archive);
}
END_TEST

/* What version_query printed, and the version recorded for ${previous.migration}. */
static const struct {
	const char *output, *version;
} migration_versions[] = {
	{ "002\n", "002" },
	{ "INFO  [alembic] Context impl PostgresqlImpl.\nae1027a6acf (head)\n", "ae1027a6acf" },
	{ "  0001_initial \r\n\n", "0001_initial" },
	{ "one\ntwo three\n   \n", "two" },
	{ "", "" },
	{ "\n \n", "" },
};

START_TEST(test_migration_version_first_word_of_last_line)
{
	char *v = cd_migration_version(migration_versions[_i].output);
	ck_assert_str_eq(v, migration_versions[_i].version);
	free(v);
}
END_TEST

/* The down command's ${previous.migration}, with and without a default. */
static const struct {
	const char *arg, *before, *want;
} previous_cases[] = {
	{ "${previous.migration}", "0001", "0001" },
	{ "${previous.migration}", "", "" },
	{ "${previous.migration:-base}", "", "base" },
	{ "${previous.migration:-base}", "0001", "0001" },
	{ "--to=${previous.migration:-base}!", "", "--to=base!" },
	{ "${previous.migrations}", "0001", "${previous.migrations}" },
	{ "${previous.migration", "0001", "${previous.migration" },
	{ "a${previous.migration}b${previous.migration:-x}c", "7", "a7b7c" },
};

START_TEST(test_migration_previous_version_filled)
{
	cJSON *rec = cJSON_CreateObject();
	cJSON *argv = cJSON_AddArrayToObject(rec, "argv");
	cJSON_AddItemToArray(argv, cJSON_CreateString("alembic"));
	cJSON_AddItemToArray(argv, cJSON_CreateString(previous_cases[_i].arg));
	cd_migration_resolve_previous(rec, previous_cases[_i].before);
	ck_assert_str_eq(cJSON_GetArrayItem(argv, 0)->valuestring, "alembic");
	ck_assert_str_eq(cJSON_GetArrayItem(argv, 1)->valuestring, previous_cases[_i].want);
	cJSON_Delete(rec);
}
END_TEST

static Suite *archive_suite(void)
{
	Suite *s = suite_create("backup-archive");
	TCase *tc = tcase_create("archive");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_manifest_lists_every_entry);
	tcase_add_test(tc, test_stream_round_trip_in_parts);
	tcase_add_test(tc, test_empty_stream);
	tcase_add_test(tc, test_corrupted_archive_is_refused_and_nothing_touched);
	tcase_add_test(tc, test_damage_anywhere_is_refused);
	tcase_add_test(tc, test_truncated_archive_is_refused);
	tcase_add_test(tc, test_forged_entry_is_refused);
	tcase_add_test(tc, test_restore_puts_files_back);
	tcase_add_test(tc, test_relative_and_dotdot_paths_refused);
	tcase_add_test(tc, test_proc_stream_status_and_stderr);
	tcase_add_loop_test(tc, test_migration_version_first_word_of_last_line, 0,
		(int)(sizeof(migration_versions) / sizeof(migration_versions[0])));
	tcase_add_loop_test(tc, test_migration_previous_version_filled, 0,
		(int)(sizeof(previous_cases) / sizeof(previous_cases[0])));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(archive_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
