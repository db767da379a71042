/*
 * Unit tests of the pure parts of src/ssh: known_hosts matching (plain,
 * hashed, [host]:port, @revoked, the algorithms recorded per host),
 * fingerprints, ssh_config lookup, shell quoting and fan-out arithmetic.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <libssh2.h>

#include "corpdeploy/ssh.h"

#define K1 "AAAAC3NzaC1lZDI1NTE5AAAAINuVv8ljSVq+1U9asS7t79RnyoFyt/tYJa0R1n50o3MR"
#define K2 "AAAAC3NzaC1lZDI1NTE5AAAAIFRqHQpaIUCFogzs7BMt+8snkNuhgLsl9jkCRN3+JqST"
/* "[db.example]:2222 ssh-ed25519 K1", hashed by ssh-keygen -H. */
#define K1_HASHED \
	"|1|/vz0igmRhTYtDTf7b00e34/iu0A=|VEn01u+MZ9xyrhqz2okSQpJ/v1E= ssh-ed25519 " K1

static size_t b64_decode(const char *s, unsigned char *out)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned acc = 0;
	int bits = 0;
	size_t n = 0;
	for (; *s && *s != '='; s++) {
		acc = acc << 6 | (unsigned)(strchr(tbl, *s) - tbl);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	return n;
}

static enum cd_ssh_known_result check_key(struct cd_ssh_known_hosts *kh, const char *host, int port,
	const char *b64)
{
	unsigned char key[256];
	size_t len = b64_decode(b64, key);
	return cd_ssh_known_hosts_check(kh, host, port, key, len, LIBSSH2_HOSTKEY_TYPE_ED25519);
}

START_TEST(test_known_plain_and_port)
{
	struct cd_ssh_known_hosts *kh = cd_ssh_known_hosts_new();
	size_t skipped = 9;
	cd_ssh_known_hosts_add_text(kh,
		"# comment\n\nweb1 ssh-ed25519 " K1 "\n[web2]:2200 ssh-ed25519 " K2 " c\n", &skipped);
	ck_assert_uint_eq(skipped, 0);
	ck_assert_int_eq(check_key(kh, "web1", 22, K1), CD_SSH_KNOWN_MATCH);
	ck_assert_int_eq(check_key(kh, "web1", 22, K2), CD_SSH_KNOWN_MISMATCH);
	ck_assert_int_eq(check_key(kh, "web2", 2200, K2), CD_SSH_KNOWN_MATCH);
	ck_assert_int_eq(check_key(kh, "web2", 2200, K1), CD_SSH_KNOWN_MISMATCH);
	ck_assert_int_eq(check_key(kh, "web3", 22, K1), CD_SSH_KNOWN_NOTFOUND);
	cd_ssh_known_hosts_free(kh);
}
END_TEST

START_TEST(test_known_hashed)
{
	struct cd_ssh_known_hosts *kh = cd_ssh_known_hosts_new();
	cd_ssh_known_hosts_add_text(kh, K1_HASHED "\n", NULL);
	ck_assert_int_eq(check_key(kh, "db.example", 2222, K1), CD_SSH_KNOWN_MATCH);
	ck_assert_int_eq(check_key(kh, "db.example", 2222, K2), CD_SSH_KNOWN_MISMATCH);
	ck_assert_int_eq(check_key(kh, "db.other", 2222, K1), CD_SSH_KNOWN_NOTFOUND);
	cd_ssh_known_hosts_free(kh);
}
END_TEST

START_TEST(test_known_revoked_and_bad_lines)
{
	struct cd_ssh_known_hosts *kh = cd_ssh_known_hosts_new();
	size_t skipped = 0;
	/* A line libssh2 cannot read does not hide the lines after it. */
	cd_ssh_known_hosts_add_text(kh,
		"garbage\n@cert-authority *.example ssh-ed25519 " K2 "\n@revoked * ssh-ed25519 " K2
		"\nweb1 ssh-ed25519 " K2 "\nweb9 ssh-ed25519 " K1 "\n",
		&skipped);
	ck_assert_uint_eq(skipped, 2);
	ck_assert_int_eq(check_key(kh, "web1", 22, K2), CD_SSH_KNOWN_REVOKED);
	ck_assert_int_eq(check_key(kh, "web9", 22, K1), CD_SSH_KNOWN_MATCH);
	cd_ssh_known_hosts_free(kh);
}
END_TEST

START_TEST(test_known_algorithms)
{
	struct cd_ssh_known_hosts *kh = cd_ssh_known_hosts_new();
	char algs[256];
	cd_ssh_known_hosts_add_text(kh,
		K1_HASHED "\nweb1 ecdsa-sha2-nistp256 "
		"AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CUNa7ILWfwn3ivTCbWBpWGyyjkKwI7z7s/Vf8="
		"\nweb1 ssh-ed25519 " K2 "\n",
		NULL);
	cd_ssh_known_hosts_algorithms(kh, "web1", 22, algs, sizeof(algs));
	ck_assert_str_eq(algs, "ssh-ed25519,ecdsa-sha2-nistp256");
	cd_ssh_known_hosts_algorithms(kh, "db.example", 2222, algs, sizeof(algs));
	ck_assert_str_eq(algs, "ssh-ed25519");
	cd_ssh_known_hosts_algorithms(kh, "nowhere", 22, algs, sizeof(algs));
	ck_assert_str_eq(algs, "");
	cd_ssh_known_hosts_free(kh);
}
END_TEST

/* Owners as SFTP sets them: numbers kept, names from passwd and group text. */
static const struct {
	const char *owner;
	int r;
	int64_t uid, gid;
} owner_cases[] = {
	{ "www", 0, 33, -1 },
	{ "www:adm", 0, 33, 4 },
	{ "www:", 0, 33, 34 },
	{ ":adm", 0, -1, 4 },
	{ "1000:50", 0, 1000, 50 },
	{ "w", CD_ENOTFOUND, 0, 0 },
	{ "www:nogroup", CD_ENOTFOUND, 0, 0 },
	{ ":", CD_EUSAGE, 0, 0 },
};

START_TEST(test_ssh_owner_lookup)
{
	const char *passwd = "root:x:0:0:root:/root:/bin/bash\nwww:x:33:34:www:/var/www:/bin/sh\n";
	const char *group = "root:x:0:\nadm:x:4:syslog\nwww-data:x:34:\n";
	int64_t uid = 7, gid = 7;
	struct cd_error err = CD_ERROR_INIT;
	int r = cd_ssh_owner_lookup(passwd, group, owner_cases[_i].owner, &uid, &gid, &err);
	ck_assert_int_eq(r, owner_cases[_i].r);
	if (r == 0) {
		ck_assert_int_eq(uid, owner_cases[_i].uid);
		ck_assert_int_eq(gid, owner_cases[_i].gid);
	} else {
		ck_assert_ptr_nonnull(err.msg);
	}
	cd_error_release(&err);
}
END_TEST

START_TEST(test_ssh_owner_name)
{
	const char *passwd = "#x:x:5:5\nroot:x:0:0:root:/root:/bin/bash\nwww:x:33:34::/:/bin/sh\n"
			     "w2:x:33:1::/:\nbad:x:7\nlast:x:1000:1000::/:";
	char *n = cd_ssh_owner_name(passwd, 0);
	ck_assert_str_eq(n, "root");
	free(n);
	n = cd_ssh_owner_name(passwd, 33); /* the first of two */
	ck_assert_str_eq(n, "www");
	free(n);
	n = cd_ssh_owner_name(passwd, 1000);
	ck_assert_str_eq(n, "last");
	free(n);
	ck_assert_ptr_null(cd_ssh_owner_name(passwd, 5));
	ck_assert_ptr_null(cd_ssh_owner_name(passwd, 7));
	ck_assert_ptr_null(cd_ssh_owner_name(passwd, 3));
	ck_assert_ptr_null(cd_ssh_owner_name(passwd, -1));
	ck_assert_ptr_null(cd_ssh_owner_name(NULL, 0));
	n = cd_ssh_owner_name("adm:x:4:syslog\nwww-data:x:34:\n", 34);
	ck_assert_str_eq(n, "www-data");
	free(n);
}
END_TEST

/* A hashed line as OpenSSH's HashKnownHosts writes it (the value checked with Python's hmac), read back. */
START_TEST(test_known_line_hashed)
{
	unsigned char key[256], salt[20];
	size_t len = b64_decode(K1, key);
	for (int i = 0; i < 20; i++)
		salt[i] = (unsigned char)(i + 1);
	char *line = cd_ssh_known_hosts_line("db1", 2222, key, len, LIBSSH2_HOSTKEY_TYPE_ED25519, salt);
	ck_assert_str_eq(line, "|1|AQIDBAUGBwgJCgsMDQ4PEBESExQ=|CVbUUe4aws/zpZAv30kPWMFtFO8= ssh-ed25519 " K1 "\n");
	struct cd_ssh_known_hosts *kh = cd_ssh_known_hosts_new();
	cd_ssh_known_hosts_add_text(kh, line, NULL);
	ck_assert_int_eq(check_key(kh, "db1", 2222, K1), CD_SSH_KNOWN_MATCH);
	ck_assert_int_eq(check_key(kh, "db1", 2223, K1), CD_SSH_KNOWN_NOTFOUND);
	cd_ssh_known_hosts_free(kh);
	free(line);
}
END_TEST

START_TEST(test_known_line_and_fingerprint)
{
	unsigned char key[256];
	size_t len = b64_decode(K1, key);
	char fp[64];
	cd_ssh_fingerprint(key, len, fp, sizeof(fp));
	ck_assert_str_eq(fp, "SHA256:MQ+f2tBJBpgikwGqc5Wsc7WkgrU6nWZ9Q6E1BCotL4E");
	/* Not "db": libssh2 1.10 reads a two-letter host name as a hashed entry. */
	char *line = cd_ssh_known_hosts_line("db1", 2222, key, len, LIBSSH2_HOSTKEY_TYPE_ED25519, NULL);
	ck_assert_str_eq(line, "[db1]:2222 ssh-ed25519 " K1 "\n");
	free(line);
	line = cd_ssh_known_hosts_line("db1", 22, key, len, LIBSSH2_HOSTKEY_TYPE_ED25519, NULL);
	ck_assert_str_eq(line, "db1 ssh-ed25519 " K1 "\n");
	/* What it writes, it reads back. */
	struct cd_ssh_known_hosts *kh = cd_ssh_known_hosts_new();
	cd_ssh_known_hosts_add_text(kh, line, NULL);
	ck_assert_int_eq(check_key(kh, "db1", 22, K1), CD_SSH_KNOWN_MATCH);
	cd_ssh_known_hosts_free(kh);
	free(line);
}
END_TEST

START_TEST(test_config_lookup)
{
	const char *text = "User everyone\n"
			   "Host web* !web3\n"
			   "  HostName 10.0.0.%h\n"
			   "  Port 2200\n"
			   "Host *\n"
			   "  User fallback\n"
			   "  IdentityFile ~/.ssh/deploy_ed25519\n"
			   "  Port 22\n"
			   "Host db\n"
			   "  HostName=\"db.internal\"\n";
	struct cd_ssh_config c;
	cd_ssh_config_lookup(text, "web1", "/home/u", &c);
	ck_assert_str_eq(c.hostname, "10.0.0.%h");
	ck_assert_int_eq(c.port, 2200);
	ck_assert_str_eq(c.user, "everyone"); /* the first value obtained wins */
	ck_assert_str_eq(c.identity_file, "/home/u/.ssh/deploy_ed25519");
	cd_ssh_config_release(&c);
	cd_ssh_config_lookup(text, "web3", "/home/u", &c);
	ck_assert_ptr_null(c.hostname);
	ck_assert_int_eq(c.port, 22);
	cd_ssh_config_release(&c);
	cd_ssh_config_lookup(text, "db", "/home/u", &c);
	ck_assert_str_eq(c.hostname, "db.internal"); /* Host * set no HostName before it */
	ck_assert_str_eq(c.user, "everyone");
	cd_ssh_config_release(&c);
	cd_ssh_config_lookup("Host db\n HostName %h\n", "db", NULL, &c);
	ck_assert_str_eq(c.hostname, "db");
	cd_ssh_config_release(&c);
	cd_ssh_config_lookup(NULL, "x", NULL, &c);
	ck_assert_ptr_null(c.user);
	cd_ssh_config_release(&c);
}
END_TEST

START_TEST(test_host_patterns)
{
	ck_assert(cd_ssh_host_matches("*", "a"));
	ck_assert(cd_ssh_host_matches("a b,c", "c"));
	ck_assert(cd_ssh_host_matches("app?", "app1"));
	ck_assert(!cd_ssh_host_matches("app?", "app10"));
	ck_assert(!cd_ssh_host_matches("* !app1", "app1"));
	ck_assert(!cd_ssh_host_matches("!app1", "app2"));
	ck_assert(cd_ssh_host_matches("WEB", "web"));
}
END_TEST

START_TEST(test_quote)
{
	struct cd_buf b = CD_BUF_INIT;
	const char *argv[] = { "echo", "a b", "it's", "$(touch x); `y`", "l1\nl2", "", NULL };
	cd_ssh_quote_argv(&b, argv);
	ck_assert_str_eq(b.buf, "'echo' 'a b' 'it'\\''s' '$(touch x); `y`' 'l1\nl2' ''");
	cd_buf_release(&b);
}
END_TEST

START_TEST(test_batches)
{
	/* serial: a count, a share rounded down (at least 1), or everything. */
	ck_assert_uint_eq(cd_ssh_batch_size(5, 1, -1), 1);
	ck_assert_uint_eq(cd_ssh_batch_size(5, 10, -1), 5);
	ck_assert_uint_eq(cd_ssh_batch_size(10, -1, 25), 2);
	ck_assert_uint_eq(cd_ssh_batch_size(4, -1, 25), 1);
	ck_assert_uint_eq(cd_ssh_batch_size(3, -1, 10), 1);
	ck_assert_uint_eq(cd_ssh_batch_size(50, -1, 100), 50);
	ck_assert_uint_eq(cd_ssh_batch_size(7, -1, -1), 7);
	ck_assert_uint_eq(cd_ssh_batch_size(7, 0, -1), 1);
	/* max_fail: failures tolerated. */
	ck_assert_uint_eq(cd_ssh_fail_budget(50, -1, 10), 5);
	ck_assert_uint_eq(cd_ssh_fail_budget(5, -1, 20), 1);
	ck_assert_uint_eq(cd_ssh_fail_budget(5, -1, 10), 0);
	ck_assert_uint_eq(cd_ssh_fail_budget(5, 2, -1), 2);
	ck_assert_uint_eq(cd_ssh_fail_budget(5, -1, 0), 0);
	ck_assert_uint_eq(cd_ssh_fail_budget(5, -1, -1), (size_t)-1);
}
END_TEST

int main(void)
{
	libssh2_init(0);
	Suite *s = suite_create("ssh");
	TCase *tc = tcase_create("pure");
	tcase_add_test(tc, test_known_plain_and_port);
	tcase_add_test(tc, test_known_hashed);
	tcase_add_test(tc, test_known_revoked_and_bad_lines);
	tcase_add_test(tc, test_known_algorithms);
	tcase_add_test(tc, test_known_line_and_fingerprint);
	tcase_add_test(tc, test_known_line_hashed);
	tcase_add_loop_test(tc, test_ssh_owner_lookup, 0, CD_ARRAY_SIZE(owner_cases));
	tcase_add_test(tc, test_ssh_owner_name);
	tcase_add_test(tc, test_config_lookup);
	tcase_add_test(tc, test_host_patterns);
	tcase_add_test(tc, test_quote);
	tcase_add_test(tc, test_batches);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	libssh2_exit();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
