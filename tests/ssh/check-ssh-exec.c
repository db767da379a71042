/*
 * cd_ssh_exec with stdin pulled from a source and stdout pushed to a sink,
 * against a real sshd on 127.0.0.1 (exec-stream.sh starts it): 20 MiB
 * through cat both ways, a command that stops reading early, a source and
 * a sink that fail half-way (the remote command must die), stderr at
 * volume while stdin is being written, and a deadline while stdin waits.
 *
 * The host is this machine, so the remote commands leave their pid and
 * marker files in CD_SSH_TEST_DIR where the tests look at them.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "corpdeploy/ssh.h"

#define MIB (1024 * 1024)

static struct cd_ssh_session *connect_test_host(void)
{
	const char *port = getenv("CD_SSH_TEST_PORT");
	ck_assert_ptr_nonnull(port);
	cd_ssh_set_known_hosts(getenv("CD_SSH_TEST_KNOWN_HOSTS"));
	struct cd_ssh_dest d = { .name = "test", .host = "127.0.0.1", .address = "127.0.0.1",
		.user = "root", .port = atoi(port), .identity = getenv("CD_SSH_TEST_KEY"),
		.connect_timeout_ms = 30000 };
	struct cd_ssh_session *s = NULL;
	struct cd_error err = CD_ERROR_INIT;
	int r = cd_ssh_connect(&d, &s, &err);
	ck_assert_msg(r == 0, "connect: %s", err.msg ? err.msg : "?");
	return s;
}

/* A test's own file in the shared directory, malloc'd. */
static char *test_path(const char *name)
{
	return cd_xasprintf("%s/%s.%d", getenv("CD_SSH_TEST_DIR"), name, (int)getpid());
}

/* Bytes of a fixed pseudo-random sequence (xorshift), hashed as they go out. */
struct gen {
	uint64_t state;
	uint64_t left;	    /* UINT64_MAX: never ends */
	uint64_t given;
	uint64_t fail_after; /* 0: never fails */
	struct cd_sha256 sha;
};

static long gen_source(void *opaque, void *buf, size_t len, struct cd_error *err)
{
	struct gen *g = opaque;
	if (g->fail_after && g->given >= g->fail_after)
		return cd_error_set(err, CD_EIO, "the test source fails after %llu bytes",
			(unsigned long long)g->given);
	/* Odd sizes, so chunks and SSH packets never line up. */
	size_t n = len > 7777 ? 7777 : len;
	if (g->left != UINT64_MAX && n > g->left)
		n = (size_t)g->left;
	unsigned char *p = buf;
	for (size_t i = 0; i < n; i++) {
		g->state ^= g->state << 13;
		g->state ^= g->state >> 7;
		g->state ^= g->state << 17;
		p[i] = (unsigned char)g->state;
	}
	cd_sha256_update(&g->sha, buf, n);
	if (g->left != UINT64_MAX)
		g->left -= n;
	g->given += n;
	return (long)n;
}

/* What the command wrote to stdout: hashed, counted, its start kept. */
struct take {
	struct cd_sha256 sha;
	uint64_t bytes;
	char head[64];
	uint64_t fail_after; /* 0: never fails */
};

static int take_sink(void *opaque, const void *data, size_t len, struct cd_error *err)
{
	struct take *t = opaque;
	if (t->fail_after && t->bytes >= t->fail_after)
		return cd_error_set(err, CD_EIO, "the test sink fails after %llu bytes",
			(unsigned long long)t->bytes);
	for (size_t i = 0; i < len && t->bytes + i < sizeof(t->head) - 1; i++)
		t->head[t->bytes + i] = ((const char *)data)[i];
	cd_sha256_update(&t->sha, data, len);
	t->bytes += len;
	return 0;
}

/* The sink took the very bytes the source gave (their hashes end here). */
static void assert_same_bytes(struct gen *g, struct take *t)
{
	char sent[65], got[65];
	cd_sha256_final_hex(&g->sha, sent);
	cd_sha256_final_hex(&t->sha, got);
	ck_assert_str_eq(sent, got);
}

static char *read_small_file(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	char buf[256];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strdup(buf);
}

/*
 * 1 once the process the pid file names has ended (gone, or a zombie not
 * reaped yet). The commands that write pid files end in any case, killed
 * or not, so this returns; what they left behind says which it was.
 */
static void wait_ended(const char *pid_file)
{
	char *pid = read_small_file(pid_file);
	ck_assert_msg(pid != NULL, "the remote command never wrote %s", pid_file);
	char *stat = cd_xasprintf("/proc/%d/stat", atoi(pid));
	for (;;) {
		char *st = read_small_file(stat);
		const char *paren = st ? strrchr(st, ')') : NULL;
		int ended = !st || (paren && paren[1] == ' ' && paren[2] == 'Z');
		free(st);
		if (ended)
			break;
		usleep(50000);
	}
	free(stat);
	free(pid);
}

START_TEST(test_cat_both_ways)
{
	struct cd_ssh_session *s = connect_test_host();
	struct gen g = { .state = 0x9e3779b97f4a7c15u, .left = 20 * MIB };
	struct take t = { .bytes = 0 };
	cd_sha256_init(&g.sha);
	cd_sha256_init(&t.sha);
	struct cd_ssh_exec_opts o = { .stdin_source = gen_source, .stdin_opaque = &g,
		.stdout_sink = take_sink, .stdout_opaque = &t, .timeout_ms = 600000, .label = "test" };
	struct cd_buf out, eout;
	struct cd_error err = CD_ERROR_INIT;
	int status;
	int r = cd_ssh_exec(s, "cat", &o, &out, &eout, &status, &err);
	ck_assert_msg(r == 0, "exec: %s", err.msg ? err.msg : "?");
	ck_assert_int_eq(status, 0);
	ck_assert_uint_eq(g.given, 20 * MIB);
	ck_assert_uint_eq(t.bytes, 20 * MIB);
	ck_assert_uint_eq(out.len, 0); /* stdout went to the sink, not to out */
	assert_same_bytes(&g, &t);
	cd_buf_release(&out);
	cd_buf_release(&eout);
	cd_ssh_close(s);
}
END_TEST

/* The session stays usable: a second command after a streamed one. */
START_TEST(test_session_reused_after_stream)
{
	struct cd_ssh_session *s = connect_test_host();
	struct gen g = { .state = 7, .left = 3 * MIB };
	cd_sha256_init(&g.sha);
	struct cd_ssh_exec_opts o = { .stdin_source = gen_source, .stdin_opaque = &g,
		.timeout_ms = 600000 };
	struct cd_buf out, eout;
	struct cd_error err = CD_ERROR_INIT;
	int status;
	ck_assert_int_eq(cd_ssh_exec(s, "sha256sum", &o, &out, &eout, &status, &err), 0);
	ck_assert_int_eq(status, 0);
	char sent[65];
	cd_sha256_final_hex(&g.sha, sent);
	ck_assert_msg(strncmp(out.buf, sent, 64) == 0, "remote %s, sent %s", out.buf, sent);
	cd_buf_release(&out);
	cd_buf_release(&eout);
	struct cd_ssh_exec_opts o2 = { .stdin_data = "hello\n", .timeout_ms = 60000 };
	ck_assert_int_eq(cd_ssh_exec(s, "tr a-z A-Z", &o2, &out, &eout, &status, &err), 0);
	ck_assert_str_eq(out.buf, "HELLO\n");
	cd_buf_release(&out);
	cd_buf_release(&eout);
	cd_ssh_close(s);
}
END_TEST

/* A command that stops reading: no hang on an endless stdin, and its exit code decides. */
static const struct {
	const char *command;
	int status;
} early_cases[] = {
	{ "head -c 10", 0 },
	{ "sh -c 'head -c 10; exit 3'", 3 },
	{ "sh -c 'head -c 10; kill -TERM $$'", 128 + SIGTERM },
};

START_TEST(test_stops_reading_early)
{
	struct cd_ssh_session *s = connect_test_host();
	struct gen g = { .state = 42, .left = UINT64_MAX };
	struct take t = { .bytes = 0 };
	cd_sha256_init(&g.sha);
	cd_sha256_init(&t.sha);
	struct cd_ssh_exec_opts o = { .stdin_source = gen_source, .stdin_opaque = &g,
		.stdout_sink = take_sink, .stdout_opaque = &t, .timeout_ms = 600000 };
	struct cd_buf out, eout;
	struct cd_error err = CD_ERROR_INIT;
	int status;
	int r = cd_ssh_exec(s, early_cases[_i].command, &o, &out, &eout, &status, &err);
	ck_assert_msg(r == 0, "exec: %s", err.msg ? err.msg : "?");
	ck_assert_int_eq(status, early_cases[_i].status);
	ck_assert_uint_eq(t.bytes, 10);
	/* The first 10 bytes of the sequence came back. */
	struct gen again = { .state = 42, .left = 10 };
	cd_sha256_init(&again.sha);
	unsigned char first[10];
	ck_assert_int_eq(gen_source(&again, first, sizeof(first), &err), 10);
	ck_assert_int_eq(memcmp(first, t.head, 10), 0);
	cd_sha256_release(&again.sha);
	cd_sha256_release(&g.sha);
	cd_sha256_release(&t.sha);
	cd_buf_release(&out);
	cd_buf_release(&eout);
	cd_ssh_close(s);
}
END_TEST

/*
 * Runs `sh -c 'echo $$ >PID; BODY; echo survived >MARKER'` with o, which
 * must fail with code and an error saying words; the remote command must
 * have been killed: had it not been, closing the channel would let it go
 * on to write the marker. name: the start of the two files' names.
 */
static void exec_until_killed(struct cd_ssh_session *s, const char *name, const char *body,
	const struct cd_ssh_exec_opts *o, int code, const char *words)
{
	char *pid_name = cd_xasprintf("%s-pid", name), *marker_name = cd_xasprintf("%s-survived", name);
	char *pid_file = test_path(pid_name), *marker = test_path(marker_name);
	struct cd_buf cmd = CD_BUF_INIT;
	cd_buf_addf(&cmd, "sh -c 'echo $$ >%s; %s; echo survived >%s'", pid_file, body, marker);
	struct cd_buf out, eout;
	struct cd_error err = CD_ERROR_INIT;
	int status;
	int r = cd_ssh_exec(s, cmd.buf, o, &out, &eout, &status, &err);
	ck_assert_int_eq(r, code);
	ck_assert_ptr_nonnull(strstr(err.msg, words));
	wait_ended(pid_file);
	ck_assert_msg(access(marker, F_OK) != 0, "the remote command was not killed");
	cd_buf_release(&out);
	cd_buf_release(&eout);
	cd_buf_release(&cmd);
	cd_error_release(&err);
	unlink(pid_file);
	free(pid_file);
	free(marker);
	free(pid_name);
	free(marker_name);
}

/* A source failing half-way: the call fails with its error and the remote command is killed. */
START_TEST(test_source_error_kills)
{
	struct cd_ssh_session *s = connect_test_host();
	struct gen g = { .state = 5, .left = UINT64_MAX, .fail_after = 2 * MIB };
	cd_sha256_init(&g.sha);
	struct cd_ssh_exec_opts o = { .stdin_source = gen_source, .stdin_opaque = &g,
		.timeout_ms = 600000 };
	exec_until_killed(s, "src", "cat >/dev/null", &o, CD_EIO, "the test source fails");
	ck_assert_uint_ge(g.given, 2 * MIB);
	/* The session is still good for the next command. */
	struct cd_ssh_exec_opts o2 = { .timeout_ms = 60000 };
	struct cd_buf out, eout;
	struct cd_error err = CD_ERROR_INIT;
	int status;
	ck_assert_int_eq(cd_ssh_exec(s, "echo next", &o2, &out, &eout, &status, &err), 0);
	ck_assert_str_eq(out.buf, "next\n");
	cd_sha256_release(&g.sha);
	cd_buf_release(&out);
	cd_buf_release(&eout);
	cd_ssh_close(s);
}
END_TEST

/* The same for a sink failing half-way through a large stdout. */
START_TEST(test_sink_error_kills)
{
	struct cd_ssh_session *s = connect_test_host();
	struct take t = { .fail_after = 2 * MIB };
	cd_sha256_init(&t.sha);
	struct cd_ssh_exec_opts o = { .stdout_sink = take_sink, .stdout_opaque = &t,
		.timeout_ms = 600000 };
	/* trap '' PIPE: a closed stdout alone would not stop it. */
	exec_until_killed(s, "sink", "trap \"\" PIPE; head -c 100000000 /dev/zero", &o, CD_EIO,
		"the test sink fails");
	ck_assert_uint_lt(t.bytes, 100000000);
	cd_sha256_release(&t.sha);
	cd_ssh_close(s);
}
END_TEST

/*
 * 3 MB of stderr (more than an SSH window) and stdout while 20 MiB of stdin
 * is being written: were stdin written alone, both sides would wait for
 * each other for ever.
 */
START_TEST(test_stderr_while_writing)
{
	struct cd_ssh_session *s = connect_test_host();
	struct gen g = { .state = 99, .left = 20 * MIB };
	struct take t = { .bytes = 0 };
	cd_sha256_init(&g.sha);
	cd_sha256_init(&t.sha);
	struct cd_ssh_exec_opts o = { .stdin_source = gen_source, .stdin_opaque = &g,
		.stdout_sink = take_sink, .stdout_opaque = &t, .timeout_ms = 600000,
		.max = 4 * MIB };
	struct cd_buf out, eout;
	struct cd_error err = CD_ERROR_INIT;
	int status;
	int r = cd_ssh_exec(s,
		"sh -c 'head -c 3000000 /dev/zero | tr \"\\0\" e >&2; cat; "
		"head -c 1000 /dev/zero | tr \"\\0\" f >&2'",
		&o, &out, &eout, &status, &err);
	ck_assert_msg(r == 0, "exec: %s", err.msg ? err.msg : "?");
	ck_assert_int_eq(status, 0);
	ck_assert_uint_eq(eout.len, 3001000);
	ck_assert_int_eq(eout.buf[0], 'e');
	ck_assert_int_eq(eout.buf[2999999], 'e');
	ck_assert_int_eq(eout.buf[3000000], 'f');
	assert_same_bytes(&g, &t);
	cd_buf_release(&out);
	cd_buf_release(&eout);
	cd_ssh_close(s);
}
END_TEST

/* A deadline while stdin waits on a command that never reads it: it is killed. */
START_TEST(test_deadline_with_source)
{
	struct cd_ssh_session *s = connect_test_host();
	struct gen g = { .state = 3, .left = UINT64_MAX };
	cd_sha256_init(&g.sha);
	struct cd_ssh_exec_opts o = { .stdin_source = gen_source, .stdin_opaque = &g,
		.timeout_ms = 1500 };
	exec_until_killed(s, "late", "sleep 300", &o, CD_EFAIL, "timed out");
	cd_sha256_release(&g.sha);
	cd_ssh_close(s);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("ssh-exec");
	TCase *tc = tcase_create("stream");
	tcase_add_test(tc, test_cat_both_ways);
	tcase_add_test(tc, test_session_reused_after_stream);
	tcase_add_loop_test(tc, test_stops_reading_early, 0, CD_ARRAY_SIZE(early_cases));
	tcase_add_test(tc, test_source_error_kills);
	tcase_add_test(tc, test_sink_error_kills);
	tcase_add_test(tc, test_stderr_while_writing);
	tcase_add_test(tc, test_deadline_with_source);
	suite_add_tcase(su, tc);
	SRunner *sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
