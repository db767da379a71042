/*
 * Unit tests for string interpolation (src/plan/plan-interp.c): ${VAR},
 * ${VAR:-default} with nested defaults, the $${ escape, deferred namespaces
 * kept as written, and the exact message of every refusal.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "corpdeploy/core.h"
#include "corpdeploy/schema.h"

struct var {
	const char *name;
	const char *value;
};

static const struct var vars[] = {
	{ "A", "alpha" },
	{ "B", "beta" },
	{ "EMPTY", "" },
	{ "dotted.name", "dotted" },
	{ "with-dash", "dash" },
	{ "DOLLAR", "${A}" }, /* a value is not expanded again */
	{ "_U", "underscore" },
};

static const char *table_lookup(void *ctx, const char *name)
{
	const struct var *v = ctx;
	for (size_t i = 0; i < CD_ARRAY_SIZE(vars); i++)
		if (strcmp(v[i].name, name) == 0)
			return v[i].value;
	return NULL;
}

static const char *const deferred[] = { "previous.", "capture.", "steps.", NULL };

static const struct cd_interp interp = {
	.lookup = table_lookup,
	.ctx = (void *)vars,
	.deferred = deferred,
};

static struct cd_arena arena;

static void setup(void)
{
	arena = (struct cd_arena)CD_ARENA_INIT;
}

static void teardown(void)
{
	cd_arena_release(&arena);
}

/* Expands s; on success returns the text, on failure the message (with a marker). */
static int expand(const char *s, const char **ret, char **msg)
{
	*ret = "(unset)";
	*msg = (char *)"(unset)";
	return cd_interp_expand(&interp, &arena, s, ret, msg);
}

static const struct {
	const char *in;
	const char *want;
} ok_cases[] = {
	{ "plain text", "plain text" },
	{ "", "" },
	{ "${A}", "alpha" },
	{ "x${A}y", "xalphay" },
	{ "${A}${B}", "alphabeta" },
	{ "${A} and ${A}", "alpha and alpha" },
	{ "${_U}", "underscore" },
	{ "${dotted.name}", "dotted" },
	{ "${with-dash}", "dash" },
	{ "${DOLLAR}", "${A}" },
	/* Defaults. */
	{ "${UNSET:-default}", "default" },
	{ "${A:-default}", "alpha" },
	{ "${UNSET:-}", "" },
	{ "${EMPTY:-default}", "" },
		/* set but empty: corpdeploy-plan(5) says "if VAR is not set" */
	{ "${UNSET:-two words}", "two words" },
	{ "${UNSET:-a:-b}", "a:-b" },
	{ "${UNSET:-${B}}", "beta" },
	{ "${A:-${B}}", "alpha" },
	{ "${UNSET:-${ALSO_UNSET:-x}}", "x" },
	{ "${UNSET:-${B:-x}}", "beta" },
	{ "${UNSET:-pre ${A} post}", "pre alpha post" },
	{ "${A:-${NEVER_LOOKED_AT}}", "alpha" }, /* an unused default is not expanded */
	/* The escape and lone dollars. */
	{ "$${literal}", "${literal}" },
	{ "$${A}", "${A}" },
	{ "echo $${HOME} ${A}", "echo ${HOME} alpha" },
	{ "${UNSET:-$${x}}", "${x}" },
	{ "$", "$" },
	{ "$$", "$$" },
	{ "a$", "a$" },
	{ "$$$", "$$$" },
	{ "cost: $5", "cost: $5" },
	{ "$A", "$A" },
	{ "${A}}", "alpha}" },
	{ "}{", "}{" },
	/* Deferred namespaces: kept exactly as written, for the engine. */
	{ "${capture.token}", "${capture.token}" },
	{ "Bearer ${capture.token}!", "Bearer ${capture.token}!" },
	{ "${previous.migration}", "${previous.migration}" },
	{ "${steps.build.digest}", "${steps.build.digest}" },
	{ "${capture.token:-none}", "${capture.token:-none}" },
	{ "${A}/${capture.id}", "alpha/${capture.id}" },
};

START_TEST(test_interp_expand_ok)
{
	const char *got;
	char *msg;
	int r = expand(ok_cases[_i].in, &got, &msg);

	ck_assert_msg(r == 0, "'%s' failed: %s", ok_cases[_i].in, r == 0 ? "" : msg);
	ck_assert_ptr_null(msg);
	ck_assert_str_eq(got, ok_cases[_i].want);
}
END_TEST

#define NOT_SET(v)                                                                       \
	"variable '" v "' is not set (give it a value in vars, env_file or the environment, " \
	"or write ${" v ":-default})"
#define UNTERMINATED "unterminated '${' (write '$${' for a literal)"

static const struct {
	const char *in;
	const char *msg;
} bad_cases[] = {
	{ "${UNSET}", NOT_SET("UNSET") },
	{ "x ${A} ${MISSING} y", NOT_SET("MISSING") },
	{ "${UNSET:-${ALSO_UNSET}}", NOT_SET("ALSO_UNSET") },
	{ "${capture}", NOT_SET("capture") }, /* the namespace needs a name after the dot */
	{ "${capture.}", NOT_SET("capture.") },
	{ "${", UNTERMINATED },
	{ "${A", UNTERMINATED },
	{ "x ${A y", UNTERMINATED },
	{ "${UNSET:-${B}", UNTERMINATED },
	{ "${A} ${", UNTERMINATED },
	{ "${1A}", "invalid variable reference '${1A}'" },
	{ "${}", "invalid variable reference '${}'" },
	{ "${A B}", "invalid variable reference '${A B}'" },
	{ "${A:}", "invalid variable reference '${A:}'" },
	{ "${A:x}", "invalid variable reference '${A:x}'" },
	{ "${-A}", "invalid variable reference '${-A}'" },
	{ "${.A}", "invalid variable reference '${.A}'" },
	{ "${ A}", "invalid variable reference '${ A}'" },
	{ "${A }", "invalid variable reference '${A }'" },
	{ "${A$B}", "invalid variable reference '${A$B}'" },
	{ "${UNSET:-${1A}}", "invalid variable reference '${1A}'" },
};

START_TEST(test_interp_expand_rejects)
{
	const char *got;
	char *msg;
	int r = expand(bad_cases[_i].in, &got, &msg);

	ck_assert_msg(r == CD_EFAIL, "'%s' expanded to '%s'", bad_cases[_i].in,
		r == 0 ? got : "?");
	ck_assert_str_eq(got, "(unset)"); /* *ret is only written on success */
	ck_assert_str_eq(msg, bad_cases[_i].msg);
	free(msg);
}
END_TEST

/* Builds "${U:-${U:-...x...}}" with n defaults nested. */
static char *nested_defaults(int n)
{
	struct cd_buf b = CD_BUF_INIT;
	for (int i = 0; i < n; i++)
		cd_buf_adds(&b, "${UNSET:-");
	cd_buf_adds(&b, "x");
	for (int i = 0; i < n; i++)
		cd_buf_addch(&b, '}');
	return cd_buf_detach(&b);
}

START_TEST(test_interp_expand_nesting_limit)
{
	const char *got;
	char *msg;
	char *eight = nested_defaults(8), *nine = nested_defaults(9);

	ck_assert_int_eq(expand(eight, &got, &msg), 0);
	ck_assert_str_eq(got, "x");
	ck_assert_int_eq(expand(nine, &got, &msg), CD_EFAIL);
	ck_assert_str_eq(msg, "defaults nested too deeply");
	free(msg);
	free(eight);
	free(nine);
}
END_TEST

/* A lookup whose values are long, to reach the cap on an expanded value. */
static char *big; /* 64 KiB of 'v' */

static const char *big_lookup(void *ctx, const char *name)
{
	(void)ctx;
	return strcmp(name, "BIG") == 0 ? big : NULL;
}

START_TEST(test_interp_expand_too_long)
{
	const struct cd_interp ip = { .lookup = big_lookup };
	const size_t max = CD_YAML_MAX_SCALAR * 4;
	const char *got = NULL;
	char *msg = NULL;

	big = cd_xmalloc(CD_YAML_MAX_SCALAR + 1);
	memset(big, 'v', CD_YAML_MAX_SCALAR);
	big[CD_YAML_MAX_SCALAR] = '\0';

	/* Exactly at the cap is fine. */
	ck_assert_int_eq(cd_interp_expand(&ip, &arena, "${BIG}${BIG}${BIG}${BIG}", &got, &msg), 0);
	ck_assert_ptr_null(msg);
	ck_assert_uint_eq(strlen(got), max);

	/* One byte more is not, wherever the byte is. */
	static const char *const over[] = {
		"${BIG}${BIG}${BIG}${BIG}x",
		"x${BIG}${BIG}${BIG}${BIG}",
		"${BIG}${BIG}${BIG}${UNSET:-${BIG}x}",
		"${BIG}${BIG}${BIG}${BIG}${BIG}",
	};
	for (size_t i = 0; i < CD_ARRAY_SIZE(over); i++) {
		got = "(unset)";
		ck_assert_msg(cd_interp_expand(&ip, &arena, over[i], &got, &msg) == CD_EFAIL,
			"'%s' was accepted", over[i]);
		ck_assert_str_eq(got, "(unset)");
		ck_assert_str_eq(msg, "value is too long after interpolation");
		free(msg);
	}
	free(big);
}
END_TEST

START_TEST(test_interp_expand_no_lookup)
{
	/* No lookup function: every variable is unset, defaults still work. */
	const struct cd_interp ip = { 0 };
	const char *got;
	char *msg;

	ck_assert_int_eq(cd_interp_expand(&ip, &arena, "${A:-d} $${x}", &got, &msg), 0);
	ck_assert_str_eq(got, "d ${x}");
	ck_assert_int_eq(cd_interp_expand(&ip, &arena, "${A}", &got, &msg), CD_EFAIL);
	ck_assert_str_eq(msg, NOT_SET("A"));
	free(msg);
	/* No deferred namespaces: ${capture.x} is an ordinary, unset name. */
	ck_assert_int_eq(cd_interp_expand(&ip, &arena, "${capture.x}", &got, &msg), CD_EFAIL);
	ck_assert_str_eq(msg, NOT_SET("capture.x"));
	free(msg);
}
END_TEST

/*
 * Regression (src/plan/plan-interp.c, cd_interp_expand): when the arena is at
 * its limit, *ret is overwritten with NULL before CD_EFAIL is returned.
 * Outputs are written only on success (STYLE.md, Ownership).
 */
START_TEST(test_interp_expand_arena_limit)
{
	/* The result lives in the arena; an arena at its limit is a clean failure. */
	struct cd_arena small = { NULL, 0, 16 };
	const char *got = "(unset)";
	char *msg;

	ck_assert_int_eq(cd_interp_expand(&interp, &small, "${A} ${A} ${A} ${A} ${A}", &got, &msg),
		CD_EFAIL);
	ck_assert_str_eq(got, "(unset)");
	ck_assert_str_eq(msg, "plan needs too much memory");
	free(msg);
	cd_arena_release(&small);
}
END_TEST

static Suite *interp_suite(void)
{
	Suite *s = suite_create("interp");
	TCase *tc = tcase_create("expand");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_interp_expand_ok, 0, CD_ARRAY_SIZE(ok_cases));
	tcase_add_loop_test(tc, test_interp_expand_rejects, 0, CD_ARRAY_SIZE(bad_cases));
	tcase_add_test(tc, test_interp_expand_nesting_limit);
	tcase_add_test(tc, test_interp_expand_too_long);
	tcase_add_test(tc, test_interp_expand_no_lookup);
	suite_add_tcase(s, tc);

	/*
	 * Regression tests: each pins down a bug found and fixed in src/.
	 * CK_RUN_CASE=regressions runs them alone.
	 */
	tc = tcase_create("regressions");
	tcase_set_tags(tc, "regression");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_interp_expand_arena_limit);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(interp_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
