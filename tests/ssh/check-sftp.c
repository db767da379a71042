/*
 * The SFTP operations of src/ssh against a real OpenSSH server on
 * 127.0.0.1 (started by sftp.sh, which sets SFTP_TEST_PORT, SFTP_TEST_KEY,
 * SFTP_TEST_HOSTKEY and SFTP_TEST_DIR). The server runs on this machine, so
 * what an operation did is checked with the local file system.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "corpdeploy/ssh.h"

#define BIG_SIZE (20 * 1024 * 1024 + 777) /* not a multiple of a read: the last one is short */

static struct cd_ssh_session *sess;
static char dir[512];

static void connect_host(void)
{
	const char *port = getenv("SFTP_TEST_PORT"), *key = getenv("SFTP_TEST_KEY");
	const char *hostkey = getenv("SFTP_TEST_HOSTKEY"), *d = getenv("SFTP_TEST_DIR");
	ck_assert_msg(port && key && hostkey && d, "run by sftp.sh");
	struct cd_ssh_dest dest = {
		.name = "sftp-test", .host = "127.0.0.1", .address = "127.0.0.1", .user = "root",
		.port = atoi(port), .identity = (char *)key, .host_key = (char *)hostkey,
		.connect_timeout_ms = 10000,
	};
	struct cd_error err = CD_ERROR_INIT;
	ck_assert_msg(cd_ssh_connect(&dest, &sess, &err) == 0, "connect: %s", err.msg);
	cd_error_release(&err);
	snprintf(dir, sizeof(dir), "%s/t%d", d, (int)getpid());
	ck_assert_int_eq(mkdir(dir, 0755), 0);
}

static void disconnect_host(void)
{
	cd_ssh_close(sess);
	sess = NULL;
}

static char *path_of(const char *name)
{
	static char p[4][1024];
	static int k;
	k = (k + 1) % 4;
	snprintf(p[k], sizeof(p[k]), "%s/%s", dir, name);
	return p[k];
}

static void put_local(const char *name, const char *text, mode_t mode)
{
	FILE *f = fopen(path_of(name), "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	chmod(path_of(name), mode);
}

/* A stream of pseudo-random bytes (xorshift), the same for the same seed. */
struct gen {
	uint64_t x;
	size_t left;
	struct cd_sha256 sum;
	long fail_at; /* >= 0: fail once that many bytes are given */
	size_t given;
};

static long gen_pull(void *opaque, void *buf, size_t len, struct cd_error *err)
{
	struct gen *g = opaque;
	if (g->fail_at >= 0 && g->given >= (size_t)g->fail_at)
		return cd_error_set(err, CD_EIO, "the source failed");
	/* Odd sizes, so that the writer has to gather a chunk from several pulls. */
	size_t n = len < 10007 ? len : 10007;
	if (n > g->left)
		n = g->left;
	unsigned char *p = buf;
	for (size_t i = 0; i < n; i++) {
		g->x ^= g->x << 13;
		g->x ^= g->x >> 7;
		g->x ^= g->x << 17;
		p[i] = (unsigned char)g->x;
	}
	cd_sha256_update(&g->sum, buf, n);
	g->left -= n;
	g->given += n;
	return (long)n;
}

static int sum_push(void *opaque, const void *data, size_t len, struct cd_error *err)
{
	(void)err;
	cd_sha256_update(opaque, data, len);
	return 0;
}

static void local_sha256(const char *path, char hex[65])
{
	FILE *f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	struct cd_sha256 c;
	cd_sha256_init(&c);
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		cd_sha256_update(&c, buf, n);
	fclose(f);
	cd_sha256_final_hex(&c, hex);
}

START_TEST(test_stat_types_and_mtime)
{
	struct cd_error err = CD_ERROR_INIT;
	put_local("f", "hello\n", 0640);
	ck_assert_int_eq(mkdir(path_of("d"), 0750), 0);
	ck_assert_int_eq(symlink("f", path_of("l")), 0);
	struct stat st;
	ck_assert_int_eq(stat(path_of("f"), &st), 0);

	struct cd_ssh_file_attrs a;
	ck_assert_int_eq(cd_ssh_sftp_stat(sess, path_of("f"), &a, &err), 1);
	ck_assert_int_eq(a.type, CD_SSH_FILE_REGULAR);
	ck_assert_uint_eq(a.mode, 0640);
	ck_assert_int_eq(a.size, 6);
	ck_assert_int_eq(a.mtime, st.st_mtime);
	ck_assert_int_eq(a.uid, st.st_uid);
	ck_assert_int_eq(cd_ssh_sftp_stat(sess, path_of("d"), &a, &err), 1);
	ck_assert_int_eq(a.type, CD_SSH_FILE_DIR);
	ck_assert_uint_eq(a.mode, 0750);
	/* lstat: the link itself, not the file it names. */
	ck_assert_int_eq(cd_ssh_sftp_stat(sess, path_of("l"), &a, &err), 1);
	ck_assert_int_eq(a.type, CD_SSH_FILE_SYMLINK);
	ck_assert_int_eq(cd_ssh_sftp_stat(sess, path_of("missing"), &a, &err), 0);

	char *target = NULL;
	ck_assert_int_eq(cd_ssh_sftp_readlink(sess, path_of("l"), &target, &err), 0);
	ck_assert_str_eq(target, "f");
	free(target);
	ck_assert_int_lt(cd_ssh_sftp_readlink(sess, path_of("f"), &target, &err), 0);
	cd_error_release(&err);
}
END_TEST

START_TEST(test_list_sorted_with_attrs)
{
	struct cd_error err = CD_ERROR_INIT;
	ck_assert_int_eq(mkdir(path_of("tree"), 0755), 0);
	put_local("tree/zfile", "z", 0600);
	put_local("tree/afile", "abc", 0644);
	ck_assert_int_eq(mkdir(path_of("tree/msub"), 0700), 0);
	put_local("tree/msub/inner", "inside", 0644);
	ck_assert_int_eq(symlink("../afile", path_of("tree/blink")), 0);

	struct cd_ssh_dir_entry *e = NULL;
	size_t n = 0;
	ck_assert_msg(cd_ssh_sftp_list(sess, path_of("tree"), &e, &n, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(n, 4);
	ck_assert_str_eq(e[0].name, "afile");
	ck_assert_int_eq(e[0].attrs.type, CD_SSH_FILE_REGULAR);
	ck_assert_int_eq(e[0].attrs.size, 3);
	ck_assert_uint_eq(e[0].attrs.mode, 0644);
	ck_assert_str_eq(e[1].name, "blink");
	ck_assert_int_eq(e[1].attrs.type, CD_SSH_FILE_SYMLINK);
	ck_assert_str_eq(e[2].name, "msub");
	ck_assert_int_eq(e[2].attrs.type, CD_SSH_FILE_DIR);
	ck_assert_uint_eq(e[2].attrs.mode, 0700);
	ck_assert_str_eq(e[3].name, "zfile");
	ck_assert_uint_eq(e[3].attrs.mode, 0600);
	cd_ssh_dir_entries_free(e, n);

	ck_assert_int_lt(cd_ssh_sftp_list(sess, path_of("nothere"), &e, &n, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "nothere"));
	/* Many entries: more than one READDIR answer. */
	ck_assert_int_eq(mkdir(path_of("many"), 0755), 0);
	for (int i = 0; i < 300; i++) {
		char name[32];
		snprintf(name, sizeof(name), "many/f%03d", 299 - i);
		put_local(name, "x", 0644);
	}
	ck_assert_int_eq(cd_ssh_sftp_list(sess, path_of("many"), &e, &n, &err), 0);
	ck_assert_uint_eq(n, 300);
	for (size_t i = 0; i < n; i++) {
		char name[32];
		snprintf(name, sizeof(name), "f%03zu", i);
		ck_assert_str_eq(e[i].name, name);
	}
	cd_ssh_dir_entries_free(e, n);
	cd_error_release(&err);
}
END_TEST

START_TEST(test_mkdir_symlink_setstat)
{
	struct cd_error err = CD_ERROR_INIT;
	struct stat st;
	ck_assert_int_eq(cd_ssh_sftp_mkdir(sess, path_of("newdir"), 0700, &err), 0);
	ck_assert_int_eq(lstat(path_of("newdir"), &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_int_lt(cd_ssh_sftp_mkdir(sess, path_of("newdir"), 0700, &err), 0);
	ck_assert_int_lt(cd_ssh_sftp_mkdir(sess, path_of("no/parent"), 0700, &err), 0);

	/* The target first, as OpenSSH takes it: swapped, this would make "../x" a link to newdir/l. */
	ck_assert_int_eq(cd_ssh_sftp_symlink(sess, "../x", path_of("newdir/l"), &err), 0);
	char buf[64] = { 0 };
	ck_assert_int_eq(readlink(path_of("newdir/l"), buf, sizeof(buf) - 1), 4);
	ck_assert_str_eq(buf, "../x");
	ck_assert_int_lt(cd_ssh_sftp_symlink(sess, "y", path_of("newdir/l"), &err), 0);

	struct cd_ssh_file_attrs a = { .mode = 02751, .uid = -1, .gid = -1 };
	ck_assert_int_eq(cd_ssh_sftp_setstat(sess, path_of("newdir"), &a, &err), 0);
	ck_assert_int_eq(lstat(path_of("newdir"), &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 02751);
	if (geteuid() == 0) {
		/* Only the user given: the group stays. */
		a = (struct cd_ssh_file_attrs){ .mode = 0755, .uid = 1, .gid = -1 };
		ck_assert_int_eq(cd_ssh_sftp_setstat(sess, path_of("newdir"), &a, &err), 0);
		ck_assert_int_eq(lstat(path_of("newdir"), &st), 0);
		ck_assert_int_eq(st.st_uid, 1);
		ck_assert_int_eq(st.st_gid, 0);
		ck_assert_uint_eq(st.st_mode & 07777, 0755);
		a = (struct cd_ssh_file_attrs){ .mode = 0700, .uid = 2, .gid = 3 };
		ck_assert_int_eq(cd_ssh_sftp_setstat(sess, path_of("newdir"), &a, &err), 0);
		ck_assert_int_eq(lstat(path_of("newdir"), &st), 0);
		ck_assert_int_eq(st.st_uid, 2);
		ck_assert_int_eq(st.st_gid, 3);
	}
	ck_assert_int_lt(cd_ssh_sftp_setstat(sess, path_of("gone"), &a, &err), 0);
	cd_error_release(&err);
}
END_TEST

START_TEST(test_stream_20mib)
{
	struct cd_error err = CD_ERROR_INIT;
	struct gen g = { .x = 88172645463325252ull, .left = BIG_SIZE, .fail_at = -1 };
	cd_sha256_init(&g.sum);
	struct cd_ssh_file_attrs a = { .mode = 0640, .uid = -1, .gid = -1 };
	ck_assert_msg(cd_ssh_sftp_write_from(sess, path_of("big"), gen_pull, &g, &a, &err) == 0, "%s",
		err.msg);
	char want[65], got[65];
	cd_sha256_final_hex(&g.sum, want);
	local_sha256(path_of("big"), got);
	ck_assert_str_eq(got, want);
	struct stat st;
	ck_assert_int_eq(stat(path_of("big"), &st), 0);
	ck_assert_int_eq(st.st_size, BIG_SIZE);
	ck_assert_uint_eq(st.st_mode & 07777, 0640);

	/* Pushed to a sink. */
	struct cd_sha256 c;
	cd_sha256_init(&c);
	ck_assert_int_eq(cd_ssh_sftp_read_to(sess, path_of("big"), sum_push, &c, &err), 0);
	cd_sha256_final_hex(&c, got);
	ck_assert_str_eq(got, want);

	/* Pulled in small odd pieces. */
	struct cd_ssh_sftp_reader *rd;
	ck_assert_int_eq(cd_ssh_sftp_reader_open(sess, path_of("big"), &rd, &err), 0);
	cd_sha256_init(&c);
	char buf[4099];
	long n;
	size_t total = 0;
	while ((n = cd_ssh_sftp_reader_read(rd, buf, sizeof(buf), &err)) > 0) {
		cd_sha256_update(&c, buf, (size_t)n);
		total += (size_t)n;
	}
	ck_assert_int_eq(n, 0);
	ck_assert_uint_eq(total, BIG_SIZE);
	ck_assert_int_eq(cd_ssh_sftp_reader_read(rd, buf, sizeof(buf), &err), 0);
	cd_ssh_sftp_reader_close(rd);
	cd_sha256_final_hex(&c, got);
	ck_assert_str_eq(got, want);
	cd_error_release(&err);
}
END_TEST

START_TEST(test_stream_edges)
{
	struct cd_error err = CD_ERROR_INIT;
	struct cd_ssh_file_attrs a = { .mode = 0600, .uid = -1, .gid = -1 };
	/* An empty file. */
	struct gen g = { .x = 1, .left = 0, .fail_at = -1 };
	cd_sha256_init(&g.sum);
	ck_assert_int_eq(cd_ssh_sftp_write_from(sess, path_of("empty"), gen_pull, &g, &a, &err), 0);
	cd_sha256_release(&g.sum);
	struct cd_buf b = CD_BUF_INIT;
	ck_assert_int_eq(cd_ssh_sftp_read(sess, path_of("empty"), 10, &b, &err), 0);
	ck_assert_uint_eq(b.len, 0);
	/* Exclusive: an existing file is refused, and the channel serves the next operation. */
	ck_assert_int_lt(cd_ssh_sftp_write_from(sess, path_of("empty"), gen_pull, &g, &a, &err), 0);
	ck_assert_int_eq(cd_ssh_sftp_stat(sess, path_of("empty"), NULL, &err), 1);

	/* A source that fails mid-way: its error, and the session goes on. */
	g = (struct gen){ .x = 7, .left = 3 * 1024 * 1024, .fail_at = 1024 * 1024 };
	cd_sha256_init(&g.sum);
	ck_assert_int_lt(cd_ssh_sftp_write_from(sess, path_of("cut"), gen_pull, &g, &a, &err), 0);
	cd_sha256_release(&g.sum);
	ck_assert_str_eq(err.msg, "the source failed");
	ck_assert_int_eq(cd_ssh_sftp_stat(sess, path_of("cut"), NULL, &err), 1);

	/* A reader closed early; then a capped whole read refuses a larger file. */
	g = (struct gen){ .x = 9, .left = 1024 * 1024 + 3, .fail_at = -1 };
	cd_sha256_init(&g.sum);
	ck_assert_int_eq(cd_ssh_sftp_write_from(sess, path_of("mid"), gen_pull, &g, &a, &err), 0);
	cd_sha256_release(&g.sum);
	struct cd_ssh_sftp_reader *rd;
	ck_assert_int_eq(cd_ssh_sftp_reader_open(sess, path_of("mid"), &rd, &err), 0);
	char buf[1000];
	ck_assert_int_eq(cd_ssh_sftp_reader_read(rd, buf, sizeof(buf), &err), sizeof(buf));
	cd_ssh_sftp_reader_close(rd);
	ck_assert_int_eq(cd_ssh_sftp_read(sess, path_of("mid"), 1024 * 1024 + 3, &b, &err), 0);
	ck_assert_uint_eq(b.len, 1024 * 1024 + 3);
	ck_assert_int_eq(cd_ssh_sftp_read(sess, path_of("mid"), 1024 * 1024, &b, &err), CD_ETOOBIG);
	ck_assert_int_lt(cd_ssh_sftp_reader_open(sess, path_of("nothere"), &rd, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "cannot read"));
	ck_assert_ptr_nonnull(strstr(err.msg, "nothere"));
	ck_assert_int_eq(cd_ssh_sftp_stat(sess, path_of("mid"), NULL, &err), 1);
	cd_buf_release(&b);
	cd_error_release(&err);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sftp");
	TCase *tc = tcase_create("loopback");
	tcase_add_checked_fixture(tc, connect_host, disconnect_host);
	tcase_add_test(tc, test_stat_types_and_mtime);
	tcase_add_test(tc, test_list_sorted_with_attrs);
	tcase_add_test(tc, test_mkdir_symlink_setstat);
	tcase_add_test(tc, test_stream_20mib);
	tcase_add_test(tc, test_stream_edges);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
