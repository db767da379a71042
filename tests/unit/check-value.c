/*
 * Unit tests for the value syntaxes of plans (src/plan/plan-value.c) and
 * their human forms (src/core/core-time.c): every accepted spelling gives
 * the exact value, every rejected one leaves the output untouched, and what
 * the formatters print parses back to the same value.
 */
#include <check.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>

#include "corpdeploy/core.h"
#include "corpdeploy/schema.h"

/* Written into outputs before a call that must fail, so a stray write shows. */
#define SENTINEL_I64 INT64_C(-424242)
#define SENTINEL_INT (-4242)
#define SENTINEL_DBL (-4242.5)

#define KiB INT64_C(1024)
#define MiB (KiB * 1024)
#define GiB (MiB * 1024)
#define TiB (GiB * 1024)
#define PiB (TiB * 1024)

struct i64_case {
	const char *in;
	int64_t want;
};

/* ---- cd_parse_duration ---- */

static const struct i64_case duration_ok[] = {
	{ "500ms", 500 },
	{ "2s", 2000 },
	{ "20m", 20 * 60000 },
	{ "1h30m", 90 * 60000 },
	{ "1.5s", 1500 },
	{ "0", 0 },
	{ "0s", 0 },
	{ "0ms", 0 },
	{ "1h", 3600000 },
	{ "1m30s", 90000 },
	{ "1s500ms", 1500 },
	{ "1h1m1s1ms", 3661001 },
	{ "0.5m", 30000 },
	{ "48h", 48 * 3600000LL },
};

START_TEST(test_value_parse_duration_accepts)
{
	const struct i64_case *c = &duration_ok[_i];
	int64_t ms = SENTINEL_I64;

	ck_assert_msg(cd_parse_duration(c->in, &ms) == 0, "'%s' was rejected", c->in);
	ck_assert_msg(ms == c->want, "'%s': got %" PRId64 ", want %" PRId64, c->in, ms, c->want);
}
END_TEST

static const char *const duration_bad[] = {
	"10",				/* a bare number is ambiguous: seconds or minutes? */
	"2x",				/* unknown unit */
	"30m1h",			/* units must go from large to small */
	"",				/* nothing */
	" 5s",				/* leading blank */
	"5s ",				/* trailing blank */
	"-1s",				/* negative */
	"5 s",				/* blank between number and unit */
	"1s1s",				/* a unit twice */
	"500ms2s",			/* small before large */
	"1h30",				/* trailing bare number */
	"ms",				/* unit without a number */
	".5s",				/* fraction without a whole part */
	"1.s",				/* dot without a fraction */
	"1S",				/* units are lowercase */
	"00",				/* only "0" itself is the bare exception */
	"+5s",				/* sign */
	"99999999999999999999h",	/* absurdly long: would overflow */
};

START_TEST(test_value_parse_duration_rejects)
{
	const char *in = duration_bad[_i];
	int64_t ms = SENTINEL_I64;

	ck_assert_msg(cd_parse_duration(in, &ms) == CD_EFAIL, "'%s' was accepted as %" PRId64, in,
		ms);
	ck_assert_msg(ms == SENTINEL_I64, "'%s': output written on failure", in);
}
END_TEST

/* ---- cd_parse_size ---- */

static const struct i64_case size_ok[] = {
	{ "512", 512 },
	{ "0", 0 },
	{ "100B", 100 },
	{ "10KB", 10000 },
	{ "5MB", 5000000 },
	{ "2GB", 2000000000 },
	{ "1TB", INT64_C(1000000000000) },
	{ "10KiB", 10 * KiB },
	{ "10GiB", 10 * GiB },
	{ "1.5MiB", 3 * MiB / 2 },
	{ "1TiB", TiB },
	{ "0.5KB", 500 },
};

START_TEST(test_value_parse_size_accepts)
{
	const struct i64_case *c = &size_ok[_i];
	int64_t bytes = SENTINEL_I64;

	ck_assert_msg(cd_parse_size(c->in, &bytes) == 0, "'%s' was rejected", c->in);
	ck_assert_msg(bytes == c->want, "'%s': got %" PRId64 ", want %" PRId64, c->in, bytes,
		c->want);
}
END_TEST

static const char *const size_bad[] = {
	"10 GB",		/* blank before the unit */
	"1.5",			/* a fraction of a byte, no unit */
	"GiB",			/* unit without a number */
	"",			/* nothing */
	" 5",			/* leading blank */
	"5 ",			/* trailing blank */
	"-1",			/* negative */
	"10gb",			/* units are case-sensitive */
	"10XB",			/* unknown unit */
	"1.5.5MiB",		/* two dots */
	"10GiB ",		/* trailing blank after the unit */
	"99999999999TB",	/* past int64 */
};

START_TEST(test_value_parse_size_rejects)
{
	const char *in = size_bad[_i];
	int64_t bytes = SENTINEL_I64;

	ck_assert_msg(cd_parse_size(in, &bytes) == CD_EFAIL, "'%s' was accepted as %" PRId64, in,
		bytes);
	ck_assert_msg(bytes == SENTINEL_I64, "'%s': output written on failure", in);
}
END_TEST

/*
 * Regression (src/plan/plan-value.c, cd_parse_size): "1.5" is refused as a
 * fraction of a byte, but the same value with the byte unit, "1.5B", is
 * accepted and rounded to 2. A fraction of a byte should be refused whether
 * or not the unit B is written.
 */
START_TEST(test_value_parse_size_rejects_fractional_bytes_with_unit)
{
	int64_t bytes = SENTINEL_I64;

	ck_assert_msg(cd_parse_size("1.5B", &bytes) == CD_EFAIL,
		"'1.5B' was accepted as %" PRId64 " (a fraction of a byte)", bytes);
	ck_assert(bytes == SENTINEL_I64);
}
END_TEST

/* ---- cd_parse_percent ---- */

struct dbl_case {
	const char *in;
	double want;
};

static const struct dbl_case percent_ok[] = {
	{ "5%", 5.0 },
	{ "0.5%", 0.5 },
	{ "0%", 0.0 },
	{ "100%", 100.0 },
	{ "12.25%", 12.25 },
	{ "150%", 150.0 }, /* the range is the schema's business, not the parser's */
};

START_TEST(test_value_parse_percent_accepts)
{
	const struct dbl_case *c = &percent_ok[_i];
	double pct = SENTINEL_DBL;

	ck_assert_msg(cd_parse_percent(c->in, &pct) == 0, "'%s' was rejected", c->in);
	ck_assert_double_eq_tol(pct, c->want, 1e-9);
}
END_TEST

static const char *const percent_bad[] = {
	"5", "%", "5 %", "-5%", "", "5%%", " 5%", "5% ", "5.%", ".5%", "five%", "5pct",
};

START_TEST(test_value_parse_percent_rejects)
{
	const char *in = percent_bad[_i];
	double pct = SENTINEL_DBL;

	ck_assert_msg(cd_parse_percent(in, &pct) == CD_EFAIL, "'%s' was accepted as %g", in, pct);
	ck_assert_msg(pct == SENTINEL_DBL, "'%s': output written on failure", in);
}
END_TEST

/* ---- cd_parse_int ---- */

static const struct i64_case int_ok[] = {
	{ "0", 0 },
	{ "42", 42 },
	{ "-7", -7 },
	{ "007", 7 }, /* decimal, not octal */
	{ "9223372036854775807", INT64_MAX },
	{ "-9223372036854775808", INT64_MIN },
};

START_TEST(test_value_parse_int_accepts)
{
	const struct i64_case *c = &int_ok[_i];
	int64_t v = SENTINEL_I64;

	ck_assert_msg(cd_parse_int(c->in, &v) == 0, "'%s' was rejected", c->in);
	ck_assert_msg(v == c->want, "'%s': got %" PRId64 ", want %" PRId64, c->in, v, c->want);
}
END_TEST

static const char *const int_bad[] = {
	"", " 1", "1 ", "\t1", "1\n", "1.0", "0x10", "1e3", "abc", "-", "12abc",
	"9223372036854775808", "-9223372036854775809", "99999999999999999999",
};

START_TEST(test_value_parse_int_rejects)
{
	const char *in = int_bad[_i];
	int64_t v = SENTINEL_I64;

	ck_assert_msg(cd_parse_int(in, &v) == CD_EFAIL, "'%s' was accepted as %" PRId64, in, v);
	ck_assert_msg(v == SENTINEL_I64, "'%s': output written on failure", in);
}
END_TEST

/* ---- cd_parse_number ---- */

static const struct dbl_case number_ok[] = {
	{ "1.5", 1.5 }, { "-2", -2.0 }, { "0", 0.0 }, { ".5", 0.5 }, { "1e3", 1000.0 },
};

START_TEST(test_value_parse_number_accepts)
{
	const struct dbl_case *c = &number_ok[_i];
	double v = SENTINEL_DBL;

	ck_assert_msg(cd_parse_number(c->in, &v) == 0, "'%s' was rejected", c->in);
	ck_assert_double_eq_tol(v, c->want, 1e-9);
}
END_TEST

static const char *const number_bad[] = {
	"", "abc", "nan", "inf", "-inf", "infinity", "1e999", " 1", "1 ", "1.5x",
};

START_TEST(test_value_parse_number_rejects)
{
	const char *in = number_bad[_i];
	double v = SENTINEL_DBL;

	ck_assert_msg(cd_parse_number(in, &v) == CD_EFAIL, "'%s' was accepted as %g", in, v);
	ck_assert_msg(v == SENTINEL_DBL, "'%s': output written on failure", in);
}
END_TEST

/* ---- cd_parse_bool ---- */

static const struct {
	const char *in;
	int want;
} bool_ok[] = {
	{ "yes", 1 }, { "no", 0 }, { "on", 1 }, { "off", 0 }, { "true", 1 }, { "false", 0 },
	{ "YES", 1 }, { "No", 0 }, { "ON", 1 }, { "oFf", 0 }, { "True", 1 }, { "FALSE", 0 },
};

START_TEST(test_value_parse_bool_accepts)
{
	int v = SENTINEL_INT;

	ck_assert_msg(cd_parse_bool(bool_ok[_i].in, &v) == 0, "'%s' was rejected", bool_ok[_i].in);
	ck_assert_int_eq(v, bool_ok[_i].want);
}
END_TEST

static const char *const bool_bad[] = {
	"1", "0", "y", "n", "", "yess", " true", "true ", "enable", "t", "nope",
};

START_TEST(test_value_parse_bool_rejects)
{
	const char *in = bool_bad[_i];
	int v = SENTINEL_INT;

	ck_assert_msg(cd_parse_bool(in, &v) == CD_EFAIL, "'%s' was accepted as %d", in, v);
	ck_assert_msg(v == SENTINEL_INT, "'%s': output written on failure", in);
}
END_TEST

/* ---- cd_duration_format ---- */

static const struct {
	int64_t ms;
	const char *want;
} duration_fmt[] = {
	{ 0, "0ms" },
	{ 850, "850ms" },
	{ 999, "999ms" },
	{ 1000, "1s" },
	{ 1500, "1.5s" },
	{ 2000, "2s" },
	{ 9900, "9.9s" },
	{ 10000, "10s" },
	{ 10500, "10s" }, /* tenths only below ten seconds */
	{ 59000, "59s" },
	{ 60000, "1m" },
	{ 90000, "1m30s" },
	{ 1200000, "20m" },
	{ 3600000, "1h" },
	{ 3900000, "1h5m" },
	{ 5400000, "1h30m" },
	{ 86400000, "24h" },
	{ -1, "-" },
};

START_TEST(test_value_duration_format_prints)
{
	char buf[32];

	ck_assert_str_eq(cd_duration_format(duration_fmt[_i].ms, buf, sizeof(buf)),
		duration_fmt[_i].want);
}
END_TEST

/* What the formatter prints for these parses back to the very same value. */
static const int64_t duration_exact[] = {
	0, 1, 500, 850, 999, 1000, 1500, 2000, 9900, 59000, 60000, 90000, 1200000, 3540000,
	3600000, 3900000, 5400000, 86400000, 48 * 3600000LL,
};

START_TEST(test_value_duration_format_round_trips_value)
{
	char buf[32];
	int64_t ms = SENTINEL_I64;
	const char *s = cd_duration_format(duration_exact[_i], buf, sizeof(buf));

	ck_assert_msg(cd_parse_duration(s, &ms) == 0,
		"%" PRId64 " printed as '%s', which does not parse", duration_exact[_i], s);
	ck_assert_msg(ms == duration_exact[_i], "%" PRId64 " -> '%s' -> %" PRId64,
		duration_exact[_i], s, ms);
}
END_TEST

/* A canonical spelling survives parse then format unchanged. */
static const char *const duration_canonical[] = {
	"500ms", "2s", "20m", "1h30m", "1.5s", "1m30s", "1h", "0ms", "9.9s",
};

START_TEST(test_value_duration_format_round_trips_text)
{
	char buf[32];
	int64_t ms = SENTINEL_I64;

	ck_assert_int_eq(cd_parse_duration(duration_canonical[_i], &ms), 0);
	ck_assert_str_eq(cd_duration_format(ms, buf, sizeof(buf)), duration_canonical[_i]);
}
END_TEST

/* ---- cd_size_format ---- */

static const struct {
	uint64_t bytes;
	const char *want;
} size_fmt[] = {
	{ 0, "0B" },
	{ 512, "512B" },
	{ 1023, "1023B" },
	{ 1024, "1KiB" },
	{ 1536, "1.5KiB" },
	{ 10240, "10KiB" },
	{ 3 * MiB / 2, "1.5MiB" },
	{ 10 * GiB, "10GiB" },
	{ 3 * GiB / 2, "1.5GiB" },
	{ TiB, "1TiB" },
};

START_TEST(test_value_size_format_prints)
{
	char buf[32];

	ck_assert_str_eq(cd_size_format(size_fmt[_i].bytes, buf, sizeof(buf)), size_fmt[_i].want);
}
END_TEST

static const int64_t size_exact[] = {
	0, 1, 512, 1023, 1024, 1536, 10 * KiB, 3 * MiB / 2, 10 * GiB, 3 * GiB / 2, TiB, 4 * TiB,
};

START_TEST(test_value_size_format_round_trips_value)
{
	char buf[32];
	int64_t bytes = SENTINEL_I64;
	const char *s = cd_size_format((uint64_t)size_exact[_i], buf, sizeof(buf));

	ck_assert_msg(cd_parse_size(s, &bytes) == 0,
		"%" PRId64 " printed as '%s', which does not parse", size_exact[_i], s);
	ck_assert_msg(bytes == size_exact[_i], "%" PRId64 " -> '%s' -> %" PRId64, size_exact[_i], s,
		bytes);
}
END_TEST

/*
 * Regression (src/core/core-time.c cd_size_format vs src/plan/plan-value.c
 * cd_parse_size): sizes from 1 PiB up print with the unit "PiB", which
 * cd_parse_size does not know, so the printed form of 1 PiB cannot be read
 * back. Either the parser learns PiB or the formatter stops at TiB.
 */
START_TEST(test_value_size_format_round_trips_pib)
{
	char buf[32];
	int64_t bytes = SENTINEL_I64;
	const char *s = cd_size_format((uint64_t)PiB, buf, sizeof(buf));

	ck_assert_msg(cd_parse_size(s, &bytes) == 0, "1 PiB printed as '%s', which does not parse",
		s);
	ck_assert(bytes == PiB);
}
END_TEST

static const char *const size_canonical[] = {
	"0B", "512B", "1KiB", "10KiB", "1.5MiB", "10GiB", "1TiB",
};

START_TEST(test_value_size_format_round_trips_text)
{
	char buf[32];
	int64_t bytes = SENTINEL_I64;

	ck_assert_int_eq(cd_parse_size(size_canonical[_i], &bytes), 0);
	ck_assert_str_eq(cd_size_format((uint64_t)bytes, buf, sizeof(buf)), size_canonical[_i]);
}
END_TEST

static Suite *value_suite(void)
{
	Suite *s = suite_create("value");
	TCase *tc;

	tc = tcase_create("duration");
	tcase_add_loop_test(tc, test_value_parse_duration_accepts, 0, CD_ARRAY_SIZE(duration_ok));
	tcase_add_loop_test(tc, test_value_parse_duration_rejects, 0, CD_ARRAY_SIZE(duration_bad));
	suite_add_tcase(s, tc);

	tc = tcase_create("size");
	tcase_add_loop_test(tc, test_value_parse_size_accepts, 0, CD_ARRAY_SIZE(size_ok));
	tcase_add_loop_test(tc, test_value_parse_size_rejects, 0, CD_ARRAY_SIZE(size_bad));
	suite_add_tcase(s, tc);

	tc = tcase_create("percent");
	tcase_add_loop_test(tc, test_value_parse_percent_accepts, 0, CD_ARRAY_SIZE(percent_ok));
	tcase_add_loop_test(tc, test_value_parse_percent_rejects, 0, CD_ARRAY_SIZE(percent_bad));
	suite_add_tcase(s, tc);

	tc = tcase_create("int");
	tcase_add_loop_test(tc, test_value_parse_int_accepts, 0, CD_ARRAY_SIZE(int_ok));
	tcase_add_loop_test(tc, test_value_parse_int_rejects, 0, CD_ARRAY_SIZE(int_bad));
	suite_add_tcase(s, tc);

	tc = tcase_create("number");
	tcase_add_loop_test(tc, test_value_parse_number_accepts, 0, CD_ARRAY_SIZE(number_ok));
	tcase_add_loop_test(tc, test_value_parse_number_rejects, 0, CD_ARRAY_SIZE(number_bad));
	suite_add_tcase(s, tc);

	tc = tcase_create("bool");
	tcase_add_loop_test(tc, test_value_parse_bool_accepts, 0, CD_ARRAY_SIZE(bool_ok));
	tcase_add_loop_test(tc, test_value_parse_bool_rejects, 0, CD_ARRAY_SIZE(bool_bad));
	suite_add_tcase(s, tc);

	tc = tcase_create("format");
	tcase_add_loop_test(tc, test_value_duration_format_prints, 0, CD_ARRAY_SIZE(duration_fmt));
	tcase_add_loop_test(tc, test_value_duration_format_round_trips_value, 0,
		CD_ARRAY_SIZE(duration_exact));
	tcase_add_loop_test(tc, test_value_duration_format_round_trips_text, 0,
		CD_ARRAY_SIZE(duration_canonical));
	tcase_add_loop_test(tc, test_value_size_format_prints, 0, CD_ARRAY_SIZE(size_fmt));
	tcase_add_loop_test(tc, test_value_size_format_round_trips_value, 0,
		CD_ARRAY_SIZE(size_exact));
	tcase_add_loop_test(tc, test_value_size_format_round_trips_text, 0,
		CD_ARRAY_SIZE(size_canonical));
	suite_add_tcase(s, tc);

	/*
	 * Regression tests: each pins down a bug found and fixed in src/.
	 * CK_RUN_CASE=regressions runs them alone.
	 */
	tc = tcase_create("regressions");
	tcase_set_tags(tc, "regression");
	tcase_add_test(tc, test_value_parse_size_rejects_fractional_bytes_with_unit);
	tcase_add_test(tc, test_value_size_format_round_trips_pib);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(value_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
