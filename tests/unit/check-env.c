/*
 * Unit tests for dotenv parsing (src/plan/plan-env.c, plan_env_parse and
 * plan_env_load): the accepted syntax gives exactly these keys and values,
 * and a malformed line is an error with its line and column that does not
 * stop the other lines from being read.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corpdeploy/plan-internal.h"

#define FILE_NAME "unit.env"

static struct cd_arena arena;
static struct cd_diags diags;

static void setup(void)
{
	arena = (struct cd_arena)CD_ARENA_INIT;
	diags = (struct cd_diags)CD_DIAGS_INIT;
}

static void teardown(void)
{
	cd_diags_release(&diags);
	cd_arena_release(&arena);
}

static const char *dump_diags(void)
{
	static char out[4096];
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < diags.n && o < sizeof(out); i++)
		o += (size_t)snprintf(out + o, sizeof(out) - o, "\n  %u:%u %s", diags.items[i].line,
			diags.items[i].col, diags.items[i].msg);
	return diags.n ? out : " (none)";
}

struct kv {
	const char *key, *value;
};

static void assert_kvs(const struct cd_kvs *got, const struct kv *want, size_t n)
{
	ck_assert_msg(got->n == n, "%zu keys, want %zu", got->n, n);
	for (size_t i = 0; i < n; i++) {
		ck_assert_str_eq(got->items[i].key, want[i].key);
		ck_assert_msg(strcmp(got->items[i].value, want[i].value) == 0,
			"%s: got '%s', want '%s'", want[i].key, got->items[i].value, want[i].value);
		ck_assert_ptr_null(got->items[i].node);
	}
}

#define MAX_KV 4

static const struct {
	const char *name;
	const char *text;
	struct kv want[MAX_KV];
	size_t n;
} ok_cases[] = {
	{ "plain", "KEY=v\n", { { "KEY", "v" } }, 1 },
	{ "no final newline", "KEY=v", { { "KEY", "v" } }, 1 },
	{ "export", "export KEY=v\n", { { "KEY", "v" } }, 1 },
	{ "key named export", "export=1\n", { { "export", "1" } }, 1 },
	{ "digits and underscores", "_A1_B2=x\n", { { "_A1_B2", "x" } }, 1 },
	{ "empty value", "A=\nB=\"\"\nC=''\n", { { "A", "" }, { "B", "" }, { "C", "" } }, 3 },
	{ "equals in value", "URL=a=b=c\n", { { "URL", "a=b=c" } }, 1 },
	{ "leading blanks", "  \tA=1\n", { { "A", "1" } }, 1 },
	{ "trailing blanks dropped", "A=1 \t\n", { { "A", "1" } }, 1 },
	{ "inner blanks kept", "A=a b  c\n", { { "A", "a b  c" } }, 1 },
	{ "single quotes are literal", "A='x $y \\n \\\" z'\n", { { "A", "x $y \\n \\\" z" } }, 1 },
	{ "double quote escapes", "A=\"q\\\"uote\\\\back\\nline\"\n",
		{ { "A", "q\"uote\\back\nline" } }, 1 },
	{ "double quotes keep blanks", "A=\"  padded  \"\n", { { "A", "  padded  " } }, 1 },
	{ "double quotes keep #", "A=\"a # not a comment\"\n", { { "A", "a # not a comment" } },
		1 },
	{ "single quotes keep #", "A='a # b'\n", { { "A", "a # b" } }, 1 },
	{ "comment after quotes", "A=\"x\" # comment\n", { { "A", "x" } }, 1 },
	{ "inline comment", "A=value # comment\nB=v\t# tab comment\n",
		{ { "A", "value" }, { "B", "v" } }, 2 },
	{ "# without blank is data", "A=val#ue\nB=#x\n", { { "A", "val#ue" }, { "B", "#x" } }, 2 },
	{ "CRLF", "A=1\r\nB=\"two\"\r\nC='3'\r\n", { { "A", "1" }, { "B", "two" }, { "C", "3" } },
		3 },
	{ "CRLF blank and comment lines", "\r\n# c\r\n  \r\nA=1\r\n", { { "A", "1" } }, 1 },
	{ "blank and comment lines", "\n\n# comment\n   # indented comment\n\t\nA=1\n\n",
		{ { "A", "1" } }, 1 },
	{ "later key overrides", "A=1\nB=2\nA=3\n", { { "A", "3" }, { "B", "2" } }, 2 },
	{ "UTF-8 value", "A=caf\xc3\xa9\n", { { "A", "caf\xc3\xa9" } }, 1 },
	{ "empty file", "", { { NULL, NULL } }, 0 },
};

START_TEST(test_env_parse_ok)
{
	struct cd_kvs kvs = { 99, NULL };
	int r = plan_env_parse(&arena, FILE_NAME, ok_cases[_i].text, strlen(ok_cases[_i].text),
		&diags, &kvs);

	ck_assert_msg(r == 0, "%s: returned %d:%s", ok_cases[_i].name, r, dump_diags());
	ck_assert_uint_eq(diags.n, 0);
	assert_kvs(&kvs, ok_cases[_i].want, ok_cases[_i].n);
}
END_TEST

struct want_diag {
	unsigned line, col;
	const char *msg;
};

static const struct {
	const char *name;
	const char *text;
	struct want_diag want;
	struct kv kept[MAX_KV]; /* the good lines, still read */
	size_t n;
} bad_cases[] = {
	{ "no equals", "A=1\nbogus line\nB=2\n", { 2, 1, "expected KEY=value" },
		{ { "A", "1" }, { "B", "2" } }, 2 },
	{ "blank before equals", "A = 1\n", { 1, 1, "expected KEY=value" }, { { NULL, NULL } }, 0 },
	{ "key starts with a digit", "# c\n\n1A=x\nB=y\n", { 3, 1, "expected KEY=value" },
		{ { "B", "y" } }, 1 },
	{ "indented bad key", "A=1\n   -x=1\n", { 2, 4, "expected KEY=value" }, { { "A", "1" } },
		1 },
	{ "bad key after export", "export 1A=x\n", { 1, 8, "expected KEY=value" },
		{ { NULL, NULL } }, 0 },
	{ "no key", "=x\n", { 1, 1, "expected KEY=value" }, { { NULL, NULL } }, 0 },
	{ "key only", "A=1\r\nKEY\r\n", { 2, 1, "expected KEY=value" }, { { "A", "1" } }, 1 },
	{ "dash in key", "MY-KEY=x\n", { 1, 1, "expected KEY=value" }, { { NULL, NULL } }, 0 },
};

START_TEST(test_env_parse_malformed)
{
	struct cd_kvs kvs = { 99, NULL };
	int r = plan_env_parse(&arena, FILE_NAME, bad_cases[_i].text, strlen(bad_cases[_i].text),
		&diags, &kvs);
	const struct want_diag *w = &bad_cases[_i].want;

	ck_assert_msg(r == CD_EPLAN, "%s: returned %d", bad_cases[_i].name, r);
	ck_assert_msg(diags.n == 1, "%s: %zu diagnostics:%s", bad_cases[_i].name, diags.n,
		dump_diags());
	ck_assert_int_eq(diags.items[0].severity, CD_SEV_ERROR);
	ck_assert_str_eq(diags.items[0].file, FILE_NAME);
	ck_assert_msg(diags.items[0].line == w->line && diags.items[0].col == w->col &&
			      strcmp(diags.items[0].msg, w->msg) == 0,
		"%s: got %u:%u '%s', want %u:%u '%s'", bad_cases[_i].name, diags.items[0].line,
		diags.items[0].col, diags.items[0].msg, w->line, w->col, w->msg);
	assert_kvs(&kvs, bad_cases[_i].kept, bad_cases[_i].n);
}
END_TEST

START_TEST(test_env_parse_every_bad_line_reported)
{
	static const char text[] = "A=1\n"
				   "bad one\n"
				   "B=2\n"
				   "bad two\n";
	struct cd_kvs kvs;

	ck_assert_int_eq(plan_env_parse(&arena, FILE_NAME, text, strlen(text), &diags, &kvs),
		CD_EPLAN);
	ck_assert_msg(diags.n == 2, "%zu diagnostics:%s", diags.n, dump_diags());
	ck_assert_uint_eq(diags.items[0].line, 2);
	ck_assert_uint_eq(diags.items[1].line, 4);
	ck_assert_uint_eq(kvs.n, 2);
}
END_TEST

/*
 * Regression (src/plan/plan-env.c, plan_env_parse): an unterminated quote is
 * reported with column 0 ("unknown"), though the opening quote's column is
 * known: 'A="abc' should point at line 2, column 3.
 */
START_TEST(test_env_parse_unterminated_quote)
{
	static const char text[] = "X=1\nA=\"abc\nB='def\n";
	struct cd_kvs kvs;

	ck_assert_int_eq(plan_env_parse(&arena, FILE_NAME, text, strlen(text), &diags, &kvs),
		CD_EPLAN);
	ck_assert_msg(diags.n == 2, "%zu diagnostics:%s", diags.n, dump_diags());
	/* The value itself is never echoed: it may be a secret. */
	ck_assert_str_eq(diags.items[0].msg, "unterminated quote in the value of 'A'");
	ck_assert_str_eq(diags.items[1].msg, "unterminated quote in the value of 'B'");
	ck_assert_uint_eq(kvs.n, 1);
	ck_assert_str_eq(kvs.items[0].key, "X");
	ck_assert_msg(diags.items[0].line == 2 && diags.items[0].col == 3, "got %u:%u, want 2:3",
		diags.items[0].line, diags.items[0].col);
	ck_assert_msg(diags.items[1].line == 3 && diags.items[1].col == 3, "got %u:%u, want 3:3",
		diags.items[1].line, diags.items[1].col);
}
END_TEST

START_TEST(test_env_parse_escaped_quote_does_not_close)
{
	static const char text[] = "A=\"abc\\\"\n";
	struct cd_kvs kvs;

	ck_assert_int_eq(plan_env_parse(&arena, FILE_NAME, text, strlen(text), &diags, &kvs),
		CD_EPLAN);
	ck_assert_uint_eq(diags.n, 1);
	ck_assert_str_eq(diags.items[0].msg, "unterminated quote in the value of 'A'");
	ck_assert_uint_eq(diags.items[0].line, 1);
}
END_TEST

START_TEST(test_env_parse_many_keys)
{
	struct cd_buf b = CD_BUF_INIT;
	for (int i = 0; i < 100; i++)
		cd_buf_addf(&b, "KEY_%d=value %d\n", i, i);
	struct cd_kvs kvs;

	ck_assert_int_eq(plan_env_parse(&arena, FILE_NAME, b.buf, b.len, &diags, &kvs), 0);
	ck_assert_uint_eq(kvs.n, 100);
	for (int i = 0; i < 100; i++) {
		char key[16], value[16];
		snprintf(key, sizeof(key), "KEY_%d", i);
		snprintf(value, sizeof(value), "value %d", i);
		ck_assert_str_eq(kvs.items[i].key, key);
		ck_assert_str_eq(kvs.items[i].value, value);
	}
	cd_buf_release(&b);
}
END_TEST

START_TEST(test_env_parse_not_nul_terminated)
{
	/* The length bounds the text: nothing after it is read. */
	static const char text[] = "A=1\nB=2XXXX";
	struct cd_kvs kvs;

	ck_assert_int_eq(plan_env_parse(&arena, FILE_NAME, text, 7, &diags, &kvs), 0);
	ck_assert_uint_eq(kvs.n, 2);
	ck_assert_str_eq(kvs.items[1].value, "2");
}
END_TEST

/*
 * Regression (src/plan/plan-env.c, plan_env_parse): when the arena runs out
 * while a key is copied (cd_arena_strndup returns NULL) and an earlier key
 * exists, the override loop calls strcmp(earlier_key, NULL) and crashes
 * (SIGSEGV) instead of returning CD_ETOOBIG. Any arena limit at which the
 * second key no longer fits shows it.
 */
START_TEST(test_env_parse_arena_limit)
{
	static const char text[] = "A=1\nB=2\nC=3\n";

	/* Every limit from "nothing fits" to "everything fits": never a crash. */
	for (size_t limit = 256; limit <= 1024; limit += 8) {
		struct cd_arena small = { NULL, 0, limit };
		struct cd_diags d = CD_DIAGS_INIT;
		struct cd_kvs kvs;
		int r = plan_env_parse(&small, FILE_NAME, text, strlen(text), &d, &kvs);
		ck_assert_msg(r == 0 || r == CD_ETOOBIG, "limit %zu: returned %d", limit, r);
		if (r == 0)
			ck_assert_uint_eq(kvs.n, 3);
		ck_assert_uint_eq(d.n, 0);
		cd_diags_release(&d);
		cd_arena_release(&small);
	}
}
END_TEST

START_TEST(test_env_load_fixture)
{
	const char *dir = getenv("CD_TEST_DATA");
	ck_assert_msg(dir != NULL, "CD_TEST_DATA is not set");
	char *path = cd_xasprintf("%s/basic.env", dir);
	struct cd_kvs kvs;

	ck_assert_msg(plan_env_load(&arena, path, &diags, &kvs) == 0, "load failed:%s",
		dump_diags());
	static const struct kv want[] = {
		{ "APP_PORT", "8080" },
		{ "DB_PASSWORD", "s3cr3t pass\"word" },
		{ "GREETING", "hello world" },
		{ "LITERAL", "${NOT_EXPANDED} \\n" },
		{ "MULTI", "line one\nline two" },
	};
	assert_kvs(&kvs, want, CD_ARRAY_SIZE(want));
	free(path);

	ck_assert_int_eq(plan_env_load(&arena, "/nonexistent/unit.env", &diags, &kvs),
		CD_ENOTFOUND);
	ck_assert_uint_eq(diags.n, 0);
}
END_TEST

static Suite *env_suite(void)
{
	Suite *s = suite_create("env");
	TCase *tc = tcase_create("parse");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_env_parse_ok, 0, CD_ARRAY_SIZE(ok_cases));
	tcase_add_loop_test(tc, test_env_parse_malformed, 0, CD_ARRAY_SIZE(bad_cases));
	tcase_add_test(tc, test_env_parse_every_bad_line_reported);
	tcase_add_test(tc, test_env_parse_escaped_quote_does_not_close);
	tcase_add_test(tc, test_env_parse_many_keys);
	tcase_add_test(tc, test_env_parse_not_nul_terminated);
	tcase_add_test(tc, test_env_load_fixture);
	suite_add_tcase(s, tc);

	/*
	 * Regression tests: each pins down a bug found and fixed in src/.
	 * CK_RUN_CASE=regressions runs them alone.
	 */
	tc = tcase_create("regressions");
	tcase_set_tags(tc, "regression");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_env_parse_unterminated_quote);
	tcase_add_test(tc, test_env_parse_arena_limit);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(env_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
