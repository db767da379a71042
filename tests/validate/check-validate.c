/*
 * Unit tests for the validation module's pure logic: the latency
 * histogram's buckets and its documented error bound on known inputs,
 * percentiles, thresholds, the change against a baseline, the rollback
 * triggers, the security score and the downtime bookkeeping. No clocks,
 * no network: every input is given.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "corpdeploy/plan.h"
#include "corpdeploy/steps.h"
#include "corpdeploy/validate.h"

static struct cd_hist *hist_new(void)
{
	struct cd_hist *h = malloc(sizeof(*h));
	ck_assert_ptr_nonnull(h);
	cd_hist_init(h);
	return h;
}

static const uint64_t bucket_samples[] = { 0, 1, 31, 32, 33, 63, 64, 65, 127, 128, 1000, 12345,
	999999, 1000000, 123456789, (1ull << 40) + 7, UINT64_MAX / 3, UINT64_MAX - 1, UINT64_MAX };

START_TEST(test_validate_hist_bucket_bounds)
{
	uint64_t v = bucket_samples[_i];
	size_t b = cd_hist_bucket(v);
	ck_assert_uint_lt(b, CD_HIST_BUCKETS);
	uint64_t low = cd_hist_bucket_low(b), high = cd_hist_bucket_high(b);
	ck_assert_uint_le(low, v);
	if (high != UINT64_MAX)
		ck_assert_uint_lt(v, high);
	/* The width that bounds the error: at most low / 32, or exact below 32. */
	if (v < CD_HIST_SUB)
		ck_assert_uint_eq(high - low, 1);
	else
		ck_assert_uint_le((high - low) * CD_HIST_SUB, low + (high == UINT64_MAX));
	/* Neighbouring buckets meet without a gap. */
	if (b + 1 < CD_HIST_BUCKETS)
		ck_assert_uint_eq(cd_hist_bucket_low(b + 1), high);
}
END_TEST

START_TEST(test_validate_hist_small_values_exact)
{
	struct cd_hist *h = hist_new();
	for (uint64_t v = 1; v <= 10; v++)
		cd_hist_add(h, v);
	ck_assert_double_eq(cd_hist_value(h, 0.5), 5);
	ck_assert_double_eq(cd_hist_value(h, 0.9), 9);
	ck_assert_double_eq(cd_hist_value(h, 0.91), 10);
	ck_assert_double_eq(cd_hist_value(h, 1.0), 10);
	ck_assert_double_eq(cd_hist_value(h, 0.01), 1);
	ck_assert_uint_eq(h->n, 10);
	ck_assert_uint_eq(h->min_us, 1);
	ck_assert_uint_eq(h->max_us, 10);
	free(h);
}
END_TEST

/* The bound is reached, not exceeded: 64 lies at the bottom of [64, 66), reported as 65. */
START_TEST(test_validate_hist_bound_is_tight)
{
	struct cd_hist *h = hist_new();
	cd_hist_add(h, 64);
	cd_hist_add(h, 64);
	cd_hist_add(h, 70);
	double p50 = cd_hist_value(h, 0.5);
	ck_assert_double_eq(p50, 65);
	ck_assert_double_eq_tol(fabs(p50 - 64) / 64, CD_HIST_MAX_REL_ERROR, 1e-12);
	free(h);
}
END_TEST

/* One sample: every percentile is that sample, exactly (clamped to min and max). */
START_TEST(test_validate_hist_single_sample)
{
	struct cd_hist *h = hist_new();
	cd_hist_add(h, 1000);
	ck_assert_double_eq(cd_hist_value(h, 0.5), 1000);
	ck_assert_double_eq(cd_hist_value(h, 0.99), 1000);
	ck_assert_double_eq(cd_hist_value(h, 1), 1000);
	free(h);
	h = hist_new();
	ck_assert_double_eq(cd_hist_value(h, 0.99), 0);
	free(h);
}
END_TEST

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/*
 * 50000 latencies spread log-uniformly from 1 µs to 100 s by a fixed LCG:
 * every reported quantile lies within CD_HIST_MAX_REL_ERROR of the sample of
 * the same rank in the sorted input.
 */
START_TEST(test_validate_hist_error_bound_known_inputs)
{
	enum { N = 50000 };
	uint64_t *v = malloc(N * sizeof(*v));
	struct cd_hist *h = hist_new();
	uint64_t x = 42;
	for (size_t i = 0; i < N; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		double u = (double)(x >> 11) / (double)(1ull << 53);
		v[i] = (uint64_t)pow(10.0, u * 8.0); /* 1 .. 10^8 µs */
		cd_hist_add(h, v[i]);
	}
	qsort(v, N, sizeof(*v), cmp_u64);
	static const double qs[] = { 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 0.9999 };
	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		size_t rank = (size_t)ceil(qs[i] * N);
		double truth = (double)v[rank - 1];
		double got = cd_hist_value(h, qs[i]);
		ck_assert_msg(fabs(got - truth) <= truth * CD_HIST_MAX_REL_ERROR,
			"q=%g: reported %.1f, true %.1f (relative error %.5f > %.5f)", qs[i], got, truth,
			fabs(got - truth) / truth, CD_HIST_MAX_REL_ERROR);
	}
	ck_assert_double_eq(cd_hist_value(h, 1), (double)v[N - 1]);
	free(v);
	free(h);
}
END_TEST

START_TEST(test_validate_hist_merge)
{
	struct cd_hist *a = hist_new(), *b = hist_new(), *all = hist_new();
	for (uint64_t i = 1; i <= 1000; i++) {
		cd_hist_add(i % 3 ? a : b, i * 37);
		cd_hist_add(all, i * 37);
	}
	cd_hist_merge(a, b);
	ck_assert_uint_eq(a->n, all->n);
	ck_assert_uint_eq(a->min_us, all->min_us);
	ck_assert_uint_eq(a->max_us, all->max_us);
	ck_assert_int_eq(memcmp(a->counts, all->counts, sizeof(a->counts)), 0);
	ck_assert_double_eq(cd_hist_value(a, 0.99), cd_hist_value(all, 0.99));
	free(a);
	free(b);
	free(all);
}
END_TEST

START_TEST(test_validate_load_metrics_of)
{
	struct cd_load_result *r = calloc(1, sizeof(*r));
	cd_hist_init(&r->hist);
	for (uint64_t i = 1; i <= 200; i++)
		cd_hist_add(&r->hist, i * 1000); /* 1 ms .. 200 ms */
	r->requests = 200;
	r->errors = 10;
	r->qps = 40;
	struct cd_load_metrics m;
	cd_load_metrics_of(r, &m);
	ck_assert_double_eq_tol(m.p50_ms, 100, 100 * CD_HIST_MAX_REL_ERROR);
	ck_assert_double_eq_tol(m.p99_ms, 198, 198 * CD_HIST_MAX_REL_ERROR);
	ck_assert_double_eq(m.max_ms, 200);
	ck_assert_double_eq(m.error_rate, 5);
	ck_assert_double_eq(m.success_rate, 95);
	ck_assert_double_eq(m.qps, 40);
	free(r);
}
END_TEST

START_TEST(test_validate_thresholds_judge)
{
	struct cd_thresholds t = { .p50_ms = CD_UNSET, .p90_ms = CD_UNSET, .p99_ms = 100,
		.max_ms = CD_UNSET, .min_qps = 20, .max_error_rate = 1 };
	struct cd_load_metrics m = { .p50_ms = 5, .p90_ms = 50, .p99_ms = 120, .max_ms = 300,
		.qps = 20, .error_rate = 1, .success_rate = 99 };
	struct cd_limit_result out[8];
	size_t n = cd_thresholds_judge(&t, &m, out);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(out[0].name, "p99_ms");
	ck_assert_double_eq(out[0].limit, 100);
	ck_assert_double_eq(out[0].value, 120);
	ck_assert_int_eq(out[0].passed, 0);
	ck_assert_str_eq(out[1].name, "min_qps");
	ck_assert_int_eq(out[1].passed, 1); /* exactly the minimum passes */
	ck_assert_str_eq(out[2].name, "max_error_rate");
	ck_assert_int_eq(out[2].passed, 1); /* exactly the maximum passes */
	m.error_rate = 1.01;
	m.qps = 19.9;
	n = cd_thresholds_judge(&t, &m, out);
	ck_assert_int_eq(out[1].passed, 0);
	ck_assert_int_eq(out[2].passed, 0);
	ck_assert_uint_eq(cd_thresholds_judge(NULL, &m, out), 0);
}
END_TEST

START_TEST(test_validate_change_pct)
{
	ck_assert_double_eq(cd_change_pct(100, 150), 50);
	ck_assert_double_eq(cd_change_pct(200, 100), -50);
	ck_assert_double_eq(cd_change_pct(8.42, 8.42), 0);
	ck_assert_double_eq(cd_change_pct(0, 0), 0);
	ck_assert_double_eq(cd_change_pct(0, 3), 100);
}
END_TEST

START_TEST(test_validate_triggers_judge)
{
	struct cd_triggers t = { .error_rate = 5, .p99_regression = 50, .success_rate_below = 95,
		.downtime_over_ms = 0 };
	struct cd_load_metrics m = { .p99_ms = 15, .error_rate = 4, .success_rate = 96 };
	struct cd_limit_result out[4];
	/* Without a baseline p99_regression has nothing to compare with. */
	size_t n = cd_triggers_judge(&t, &m, -1, out);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(out[0].name, "error_rate");
	ck_assert_int_eq(out[0].passed, 1);
	ck_assert_str_eq(out[1].name, "success_rate_below");
	ck_assert_int_eq(out[1].passed, 1);
	/* 10 ms -> 15 ms is +50%: at the limit, not over it. */
	n = cd_triggers_judge(&t, &m, 10, out);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(out[2].name, "p99_regression");
	ck_assert_double_eq(out[2].value, 50);
	ck_assert_int_eq(out[2].passed, 1);
	m.p99_ms = 16;
	m.error_rate = 6;
	m.success_rate = 94;
	n = cd_triggers_judge(&t, &m, 10, out);
	ck_assert_int_eq(out[0].passed, 0);
	ck_assert_int_eq(out[1].passed, 0);
	ck_assert_double_eq_tol(out[2].value, 60, 1e-9);
	ck_assert_int_eq(out[2].passed, 0);
	/* Unset triggers are not judged. */
	struct cd_triggers none = { .error_rate = CD_UNSET, .p99_regression = CD_UNSET,
		.success_rate_below = CD_UNSET, .downtime_over_ms = CD_UNSET };
	ck_assert_uint_eq(cd_triggers_judge(&none, &m, 10, out), 0);
}
END_TEST

START_TEST(test_validate_security_score)
{
	int none[CD_SEV_N] = { 0 };
	int some[CD_SEV_N] = { 0, 1, 3, 1, 4 };
	int many[CD_SEV_N] = { 3, 0, 0, 0, 0 };
	ck_assert_int_eq(cd_security_score(none), 100);
	ck_assert_int_eq(cd_security_score(some), 100 - 20 - 30 - 2);
	ck_assert_int_eq(cd_security_score(many), 0);
	ck_assert_str_eq(cd_severity_level_names[CD_SEV_CRITICAL], "critical");
	ck_assert_str_eq(cd_severity_level_names[CD_SEV_INFO], "info");
}
END_TEST

START_TEST(test_validate_downtime_gap_and_recovery)
{
	struct cd_downtime d;
	cd_downtime_init(&d);
	cd_downtime_record(&d, 0, 1, 0);
	cd_downtime_record(&d, 50, 1, 0);
	cd_downtime_record(&d, 100, 0, 0);
	cd_downtime_record(&d, 150, 0, 0);
	cd_downtime_record(&d, 200, 1, 0);
	cd_downtime_record(&d, 250, 0, 0);
	cd_downtime_record(&d, 300, 1, 0);
	cd_downtime_finish(&d, 320);
	ck_assert_int_eq(d.probes, 7);
	ck_assert_int_eq(d.failed, 3);
	ck_assert_int_eq(d.longest_gap_ms, 100);
	/* The release never named itself: the first good answer after the last failure. */
	ck_assert_int_eq(d.first_good_new_ms, 300);
}
END_TEST

START_TEST(test_validate_downtime_release_named)
{
	struct cd_downtime d;
	cd_downtime_init(&d);
	cd_downtime_record(&d, 0, 1, 0);
	cd_downtime_record(&d, 10, 1, 1); /* a zero-downtime switch: the new release answers */
	cd_downtime_record(&d, 20, 1, 1);
	cd_downtime_finish(&d, 25);
	ck_assert_int_eq(d.failed, 0);
	ck_assert_int_eq(d.longest_gap_ms, 0);
	ck_assert_int_eq(d.first_good_new_ms, 10);
}
END_TEST

START_TEST(test_validate_downtime_never_recovers)
{
	struct cd_downtime d;
	cd_downtime_init(&d);
	cd_downtime_record(&d, 0, 1, 0);
	cd_downtime_record(&d, 100, 0, 0);
	cd_downtime_record(&d, 200, 0, 0);
	cd_downtime_finish(&d, 260);
	ck_assert_int_eq(d.longest_gap_ms, 160);
	ck_assert_int_eq(d.first_good_new_ms, -1);
}
END_TEST

static Suite *validate_suite(void)
{
	Suite *s = suite_create("validate");
	TCase *tc = tcase_create("validate");
	tcase_add_loop_test(tc, test_validate_hist_bucket_bounds, 0,
		(int)(sizeof(bucket_samples) / sizeof(bucket_samples[0])));
	tcase_add_test(tc, test_validate_hist_small_values_exact);
	tcase_add_test(tc, test_validate_hist_bound_is_tight);
	tcase_add_test(tc, test_validate_hist_single_sample);
	tcase_add_test(tc, test_validate_hist_error_bound_known_inputs);
	tcase_add_test(tc, test_validate_hist_merge);
	tcase_add_test(tc, test_validate_load_metrics_of);
	tcase_add_test(tc, test_validate_thresholds_judge);
	tcase_add_test(tc, test_validate_change_pct);
	tcase_add_test(tc, test_validate_triggers_judge);
	tcase_add_test(tc, test_validate_security_score);
	tcase_add_test(tc, test_validate_downtime_gap_and_recovery);
	tcase_add_test(tc, test_validate_downtime_release_named);
	tcase_add_test(tc, test_validate_downtime_never_recovers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(validate_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
