/*
 * Unit tests for the redactor (src/core/core-redact.c) and the sinks that use
 * it (src/core/core-log.c): a registered secret is masked as itself, in
 * base64 (alone or inside a larger encoded text, at every alignment), URL-
 * and JSON-encoded and line by line; and nothing printed by cd_out or cd_log
 * shows it.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "corpdeploy/log.h"

static void teardown(void)
{
	cd_redact_clear();
}

/* Redacts text and compares with want; frees the copy. */
static void assert_redacted(const char *text, const char *want)
{
	char *got = cd_redact_dup(text);
	ck_assert_msg(strcmp(got, want) == 0, "redacting '%s': got '%s', want '%s'", text, got,
		want);
	free(got);
}

/* Standard base64 (RFC 4648), written here independently of the redactor's. */
static char *b64(const char *data, size_t len, int pad)
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *d = (const unsigned char *)data;
	struct cd_buf b = CD_BUF_INIT;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)d[i] << 16 | (i + 1 < len ? (unsigned)d[i + 1] << 8 : 0) |
			     (i + 2 < len ? d[i + 2] : 0);
		size_t chars = len - i >= 3 ? 4 : len - i + 1;
		for (size_t k = 0; k < 4; k++)
			if (k < chars)
				cd_buf_addch(&b, abc[(v >> (18 - 6 * k)) & 63]);
			else if (pad)
				cd_buf_addch(&b, '=');
	}
	return cd_buf_detach(&b);
}

START_TEST(test_redact_add_exact)
{
	cd_redact_add("hunter2-secret");
	ck_assert_uint_eq(cd_redact_count(), 1);
	assert_redacted("pw=hunter2-secret;", "pw=***;");
	assert_redacted("hunter2-secret", "***");
	assert_redacted("hunter2-secrethunter2-secret", "******");
	assert_redacted("a hunter2-secret b hunter2-secret c", "a *** b *** c");
	assert_redacted("hunter2-secre", "hunter2-secre"); /* a prefix is not the secret */
	assert_redacted("HUNTER2-SECRET", "HUNTER2-SECRET");
	assert_redacted("", "");
}
END_TEST

START_TEST(test_redact_add_ignores_empty)
{
	cd_redact_add("");
	cd_redact_add(NULL);
	ck_assert_uint_eq(cd_redact_count(), 0);
	assert_redacted("nothing to hide", "nothing to hide");
	cd_redact_add("same-value");
	cd_redact_add("same-value");
	ck_assert_uint_eq(cd_redact_count(), 2); /* counted per registration */
	assert_redacted("same-value", "***");
}
END_TEST

START_TEST(test_redact_add_short_secret)
{
	/* Shorter than CD_SECRET_MIN_LEN: still redacted (the plan gets a warning). */
	cd_redact_add("abc");
	assert_redacted("xabcx abc", "x***x ***");
}
END_TEST

START_TEST(test_redact_add_copies_value)
{
	char value[] = "copied-secret";
	cd_redact_add(value);
	memset(value, 'z', strlen(value));
	assert_redacted("copied-secret", "***");
}
END_TEST

/* Lengths 12, 13 and 14 give no padding, "==" and "=". */
static const char *const b64_secrets[] = { "s3cr3t-v4lue", "s3cr3t-v4lue1", "s3cr3t-v4lue12" };

START_TEST(test_redact_add_base64)
{
	const char *secret = b64_secrets[_i];
	cd_redact_add(secret);
	for (int pad = 0; pad <= 1; pad++) {
		char *enc = b64(secret, strlen(secret), pad);
		char *text = cd_xasprintf("Authorization: Basic %s\r\n", enc);
		assert_redacted(text, "Authorization: Basic ***\r\n");
		free(text);
		text = cd_xasprintf("token=%s&next=1", enc);
		assert_redacted(text, "token=***&next=1");
		free(text);
		free(enc);
	}
}
END_TEST

/*
 * The secret inside a larger base64 text ("user:" + secret + "@host"), at each
 * of the three byte alignments. Only the characters that depend on the
 * secret's bits alone can be known in advance: those are the ones masked.
 */
static const struct {
	const char *prefix;
	const char *secret;
} embedded[] = {
	{ "", "s3cr3t-v4lue" },	      /* offset 0 mod 3 */
	{ "usr", "s3cr3t-v4lue" },    /* 0 */
	{ "user", "s3cr3t-v4lue" },   /* 1 */
	{ "user:", "s3cr3t-v4lue" },  /* 2 */
	{ "", "s3cr3t-v4lue1" },      /* the same with a length that is not a multiple of 3 */
	{ "usr", "s3cr3t-v4lue1" },
	{ "user", "s3cr3t-v4lue1" },
	{ "user:", "s3cr3t-v4lue1" },
	{ "admin:", "p4ssw0rd!" },    /* 0, short */
	{ "x", "p4ssw0rd!x" },	      /* 1 */
};

START_TEST(test_redact_add_base64_embedded)
{
	const char *prefix = embedded[_i].prefix, *secret = embedded[_i].secret;
	size_t p = strlen(prefix), n = strlen(secret);
	char *plain = cd_xasprintf("%s%s@host", prefix, secret);
	char *enc = b64(plain, strlen(plain), 1);
	/* Characters [lo, hi) cover bits of the secret only. */
	size_t lo = (8 * p + 5) / 6, hi = 8 * (p + n) / 6;
	char *want = cd_xasprintf("Basic %.*s***%s", (int)lo, enc, enc + hi);
	char *text = cd_xasprintf("Basic %s", enc);

	cd_redact_add(secret);
	assert_redacted(text, want);
	free(plain);
	free(enc);
	free(want);
	free(text);
}
END_TEST

START_TEST(test_redact_add_urlencoded)
{
	cd_redact_add("p@ss word/+&x");
	assert_redacted("postgres://u:p%40ss%20word%2F%2B%26x@db/app", "postgres://u:***@db/app");
	assert_redacted("password=p%40ss+word%2F%2B%26x&user=u", "password=***&user=u");
	assert_redacted("postgres://u:p%40ss%20word%2f%2b%26x@db", "postgres://u:***@db");
	/* Unreserved characters stay as they are. */
	cd_redact_add("a-b_c.d~e f");
	assert_redacted("q=a-b_c.d~e%20f", "q=***");
}
END_TEST

START_TEST(test_redact_add_urlencoded_utf8)
{
	cd_redact_add("caf\xc3\xa9-secret");
	assert_redacted("k=caf%C3%A9-secret", "k=***");
	assert_redacted("k=caf%c3%a9-secret", "k=***");
}
END_TEST

/*
 * Regression (src/core/core-redact.c, redact_add_urlencoded): lowercase hex
 * digits are registered only for the %20 form, not for the form-encoded one
 * with '+' for a space, so "p%40ss+word%2f" (what some form encoders write)
 * shows the secret.
 */
START_TEST(test_redact_add_urlencoded_plus_lowercase)
{
	cd_redact_add("p@ss word/+&x");
	assert_redacted("password=p%40ss+word%2f%2b%26x&user=u", "password=***&user=u");
}
END_TEST

START_TEST(test_redact_add_json_escaped)
{
	static const char secret[] = "pa\"ss\\wo\nrd\t\x01!";
	cd_redact_add(secret);
	assert_redacted("{\"password\":\"pa\\\"ss\\\\wo\\nrd\\t\\u0001!\"}",
		"{\"password\":\"***\"}");
	/* The raw value too, as ever. */
	char *raw = cd_xasprintf("[%s]", secret);
	assert_redacted(raw, "[***]");
	free(raw);
}
END_TEST

START_TEST(test_redact_add_multiline)
{
	static const char key[] = "-----BEGIN KEY-----\n"
				  "line-one-abcdef\n"
				  "line-two-ghijkl\n"
				  "-----END KEY-----\n";
	cd_redact_add(key);
	assert_redacted(key, "***");
	assert_redacted("got: line-two-ghijkl", "got: ***");
	assert_redacted("line-one-abcdef\nline-two-ghijkl", "***\n***");
	assert_redacted("-----END KEY-----", "***");
	ck_assert_uint_eq(cd_redact_count(), 1);
}
END_TEST

START_TEST(test_redact_add_multiline_crlf)
{
	cd_redact_add("first-line\r\nsecond-line\r\nab");
	assert_redacted("x first-line y", "x *** y");
	assert_redacted("second-line\r\n", "***\r\n");
	/* A line shorter than CD_SECRET_MIN_LEN alone would mask unrelated text. */
	assert_redacted("ab", "ab");
}
END_TEST

START_TEST(test_redact_longest_match_wins)
{
	/* Registered short first, then long, and the other way round. */
	static const char *const orders[2][2] = {
		{ "abc123", "abc123def456" },
		{ "abc123def456", "abc123" },
	};
	for (int o = 0; o < 2; o++) {
		cd_redact_add(orders[o][0]);
		cd_redact_add(orders[o][1]);
		assert_redacted("x abc123def456 y", "x *** y");
		assert_redacted("x abc123 y", "x *** y");
		assert_redacted("abc123def45", "***def45");
		cd_redact_clear();
	}
}
END_TEST

START_TEST(test_redact_overlapping_occurrences)
{
	cd_redact_add("aaaaaa");
	assert_redacted("aaaaaaa", "***a");
	assert_redacted("aaaaaaaaaaaa", "******");
}
END_TEST

START_TEST(test_redact_append_appends)
{
	struct cd_buf b = CD_BUF_INIT;
	cd_buf_adds(&b, "prefix:");
	cd_redact_add("secret-token");
	cd_redact_append(&b, "a secret-token b", 16);
	ck_assert_str_eq(b.buf, "prefix:a *** b");
	/* The length bounds the text: a secret beyond it is not read. */
	cd_redact_append(&b, "|secret-token", 7);
	ck_assert_str_eq(b.buf, "prefix:a *** b|secret");
	cd_buf_release(&b);
}
END_TEST

START_TEST(test_redact_clear_forgets)
{
	cd_redact_add("forgotten-secret");
	ck_assert_uint_eq(cd_redact_count(), 1);
	cd_redact_clear();
	ck_assert_uint_eq(cd_redact_count(), 0);
	assert_redacted("forgotten-secret", "forgotten-secret");
	/* Usable again after a clear. */
	cd_redact_add("new-secret");
	assert_redacted("new-secret forgotten-secret", "*** forgotten-secret");
}
END_TEST

/* ---- the sinks ---- */

/* Runs fn with fd (1 or 2) going to a temporary file; returns what was written. */
static char *capture(int fd, void (*fn)(void))
{
	FILE *tmp = tmpfile();
	ck_assert_ptr_nonnull(tmp);
	fflush(stdout);
	fflush(stderr);
	int saved = dup(fd);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_ge(dup2(fileno(tmp), fd), 0);
	fn();
	fflush(stdout);
	fflush(stderr);
	ck_assert_int_ge(dup2(saved, fd), 0);
	close(saved);
	rewind(tmp);
	struct cd_buf b = CD_BUF_INIT;
	char chunk[512];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), tmp)) > 0)
		cd_buf_add(&b, chunk, n);
	fclose(tmp);
	return cd_buf_detach(&b);
}

#define SECRET "tr0ub4dor&3-horse"

static void emit_out(void)
{
	cd_out("url=https://u:%s@h/\n", SECRET);
	cd_out_write("raw " SECRET "\n", strlen("raw " SECRET "\n"));
	cd_out("%s%s\n", "tr0ub4dor", "&3-horse"); /* assembled by the format: still caught */
	cd_out("{\"p\":\"%s\"}\n", "tr0ub4dor&3-horse");
}

START_TEST(test_redact_cd_out)
{
	cd_redact_add(SECRET);
	char *out = capture(1, emit_out);
	ck_assert_str_eq(out, "url=https://u:***@h/\n"
			      "raw ***\n"
			      "***\n"
			      "{\"p\":\"***\"}\n");
	free(out);
}
END_TEST

static void emit_log(void)
{
	cd_log_error("login failed with %s", SECRET);
	cd_log_warn("retrying with %s", "tr0ub4dor%263-horse");
	cd_log_info("info %s", SECRET);
	cd_log(CD_LOG_INFO, "level %s", SECRET);
	cd_log_debug("debug %s (not shown at info level)", SECRET);
	struct cd_error err = CD_ERROR_INIT;
	cd_error_set(&err, CD_EREMOTE, "registry said: bad password '%s'", SECRET);
	cd_log_cd_error(&err);
	cd_error_release(&err);
}

START_TEST(test_redact_cd_log)
{
	cd_log_set_color(0);
	cd_log_set_level(CD_LOG_INFO);
	cd_redact_add(SECRET);
	char *err = capture(2, emit_log);
	ck_assert_str_eq(err, "corpdeploy: login failed with ***\n"
			      "corpdeploy: warning: retrying with ***\n"
			      "info ***\n"
			      "level ***\n"
			      "corpdeploy: registry said: bad password '***'\n");
	free(err);
}
END_TEST

static void emit_diags(void)
{
	struct cd_diags d = CD_DIAGS_INIT;
	cd_diag_add(&d, CD_SEV_ERROR, "plan.yaml", 3, 7, "value '%s' is wrong", SECRET);
	cd_diag_add(&d, CD_SEV_WARNING, "plan.yaml", 4, 1, "warned about %s", SECRET);
	cd_diag_add(&d, CD_SEV_WARNING, "plan.yaml", 0, 0, "whole file: %s", SECRET);
	cd_diag_add(&d, CD_SEV_ERROR, NULL, 0, 0, "no file: %s", SECRET);
	cd_log_diags(&d);
	cd_diags_release(&d);
}

/*
 * Regression (src/core/core-log.c, log_vemit via cd_log_diags): a positioned
 * diagnostic is printed without the "corpdeploy: " prefix, as
 * "plan.yaml:3:7: msg", where log.h, STYLE.md and corpdeploy-plan(5) all say
 * "corpdeploy: plan.yaml:3:7: [warning: ]msg". The redaction itself works.
 */
START_TEST(test_redact_cd_log_diags)
{
	cd_log_set_color(0);
	cd_log_set_level(CD_LOG_INFO);
	cd_redact_add(SECRET);
	char *err = capture(2, emit_diags);
	ck_assert_ptr_null(strstr(err, SECRET));
	ck_assert_str_eq(err, "plan.yaml:3:7: value '***' is wrong\n"
			      "plan.yaml:4:1: warning: warned about ***\n"
			      "plan.yaml: warning: whole file: ***\n"
			      "corpdeploy: no file: ***\n");
	free(err);
}
END_TEST

static Suite *redact_suite(void)
{
	Suite *s = suite_create("redact");
	TCase *tc;

	tc = tcase_create("forms");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_redact_add_exact);
	tcase_add_test(tc, test_redact_add_ignores_empty);
	tcase_add_test(tc, test_redact_add_short_secret);
	tcase_add_test(tc, test_redact_add_copies_value);
	tcase_add_loop_test(tc, test_redact_add_base64, 0, CD_ARRAY_SIZE(b64_secrets));
	tcase_add_loop_test(tc, test_redact_add_base64_embedded, 0, CD_ARRAY_SIZE(embedded));
	tcase_add_test(tc, test_redact_add_urlencoded);
	tcase_add_test(tc, test_redact_add_urlencoded_utf8);
	tcase_add_test(tc, test_redact_add_json_escaped);
	tcase_add_test(tc, test_redact_add_multiline);
	tcase_add_test(tc, test_redact_add_multiline_crlf);
	tcase_add_test(tc, test_redact_longest_match_wins);
	tcase_add_test(tc, test_redact_overlapping_occurrences);
	tcase_add_test(tc, test_redact_append_appends);
	tcase_add_test(tc, test_redact_clear_forgets);
	suite_add_tcase(s, tc);

	tc = tcase_create("sinks");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_redact_cd_out);
	tcase_add_test(tc, test_redact_cd_log);
	suite_add_tcase(s, tc);

	/*
	 * Regression tests: each pins down a bug found and fixed in src/.
	 * CK_RUN_CASE=regressions runs them alone.
	 */
	tc = tcase_create("regressions");
	tcase_set_tags(tc, "regression");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_redact_add_urlencoded_plus_lowercase);
	tcase_add_test(tc, test_redact_cd_log_diags);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(redact_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
