/*
 * The command line and stdin header that give a dump or restore command on
 * an SSH host its environment (backup-ssh-env.c), run here by /bin/sh as
 * the host's shell would run them: every value arrives byte for byte
 * (quotes, $(...), backslashes, newlines, printf's own escapes), none is
 * on the command line, and the command gets the rest of stdin untouched.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "backup-internal.h"

static const char *const values[] = {
	"plain-Secret-1",
	"",
	"with space, 'single' and \"double\" quotes",
	"$(touch /nonexistent/pwned) `id` ${HOME} $0 $@",
	"back\\slash and \\n not a newline",
	"multi\nline\n",
	"ends in newlines\n\n",
	"\\c stops printf %b",
	"-n",
	"x=y=z",
	"%s%b%% \\0101 \\x41",
	"trailing backslash\\",
	"  leading and trailing blanks  ",
};

/* Runs line with /bin/sh, stdin the header then rest; returns the command's stdout. */
static char *run_line(const char *line, const struct cd_buf *header, const char *rest)
{
	struct cd_buf in = CD_BUF_INIT, out, eout;
	cd_buf_add(&in, header->buf ? header->buf : "", header->len);
	cd_buf_adds(&in, rest);
	const char *argv[] = { "/bin/sh", "-c", line, NULL };
	struct cd_error err = CD_ERROR_INIT;
	int status = -1;
	int r = cd_proc_run(argv, NULL, in.buf, 60000, 1 << 20, &out, &eout, &status, &err);
	ck_assert_msg(r == 0, "sh: %s", err.msg ? err.msg : "?");
	ck_assert_msg(status == 0, "sh exited %d: %s", status, eout.buf ? eout.buf : "");
	cd_buf_release(&in);
	cd_buf_release(&eout);
	return cd_buf_detach(&out);
}

START_TEST(test_value_round_trip)
{
	const char *value = values[_i];
	char *kv = cd_xasprintf("CD_TEST_SECRET=%s", value);
	const char *env[] = { "FIRST=1", kv, "LAST=z", NULL };
	/* The command prints the variable between markers, then the rest of its stdin. */
	const char *argv[] = { "sh", "-c",
		"printf '<%s>' \"$CD_TEST_SECRET\" \"$FIRST\" \"$LAST\"; cat", NULL };
	struct cd_buf line = CD_BUF_INIT, header = CD_BUF_INIT;
	struct cd_error err = CD_ERROR_INIT;
	ck_assert_int_eq(backup_ssh_command(argv, env, &line, &header, &err), 0);
	if (strlen(value) >= 3)
		ck_assert_msg(strstr(line.buf, value) == NULL, "the value is on the command line: %s",
			line.buf);
	const char *rest = "PGDMP\n\\n rest of stdin\nCD_TEST_SECRET=not-this\n\n";
	char *got = run_line(line.buf, &header, rest);
	char *want = cd_xasprintf("<%s><1><z>%s", value, rest);
	ck_assert_str_eq(got, want);
	free(got);
	free(want);
	free(kv);
	cd_buf_release(&line);
	cd_buf_release(&header);
}
END_TEST

START_TEST(test_no_env)
{
	const char *argv[] = { "sh", "-c", "echo \"[$1]\"; cat", "sh", "it's $HOME", NULL };
	struct cd_buf line = CD_BUF_INIT, header = CD_BUF_INIT;
	struct cd_error err = CD_ERROR_INIT;
	ck_assert_int_eq(backup_ssh_command(argv, NULL, &line, &header, &err), 0);
	ck_assert_uint_eq(header.len, 0);
	char *got = run_line(line.buf, &header, "stdin\n");
	ck_assert_str_eq(got, "[it's $HOME]\nstdin\n");
	free(got);
	cd_buf_release(&line);
	cd_buf_release(&header);
}
END_TEST

START_TEST(test_bad_name)
{
	const char *argv[] = { "true", NULL };
	const char *env[] = { "BAD NAME=secret-value", NULL };
	struct cd_buf line = CD_BUF_INIT, header = CD_BUF_INIT;
	struct cd_error err = CD_ERROR_INIT;
	ck_assert_int_eq(backup_ssh_command(argv, env, &line, &header, &err), CD_EUSAGE);
	ck_assert_ptr_nonnull(strstr(err.msg, "'BAD NAME'"));
	ck_assert_ptr_null(strstr(err.msg, "secret-value"));
	cd_error_release(&err);
	cd_buf_release(&line);
	cd_buf_release(&header);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("backup-ssh-env");
	TCase *tc = tcase_create("env");
	tcase_add_loop_test(tc, test_value_round_trip, 0, CD_ARRAY_SIZE(values));
	tcase_add_test(tc, test_no_env);
	tcase_add_test(tc, test_bad_name);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
