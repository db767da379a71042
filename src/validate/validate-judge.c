/*
 * Judging measurements: load metrics from a histogram, thresholds, the
 * change against a baseline, the plan's rollback triggers, the security
 * score and the downtime bookkeeping. Pure functions, tested without clocks.
 */
#include <stddef.h>

#include "corpdeploy/steps.h"
#include "corpdeploy/validate.h"

const char *const cd_status_class_names[] = { "2xx", "3xx", "4xx", "5xx", "other", NULL };
const char *const cd_severity_level_names[] = { "critical", "high", "medium", "low", "info", NULL };
/* A critical finding alone fails most policies; ten low ones cost less than one high. */
const int cd_severity_cost[] = { 40, 20, 10, 2, 0 };

void cd_load_metrics_of(const struct cd_load_result *r, struct cd_load_metrics *ret)
{
	ret->p50_ms = cd_hist_value(&r->hist, 0.50) / 1000.0;
	ret->p90_ms = cd_hist_value(&r->hist, 0.90) / 1000.0;
	ret->p99_ms = cd_hist_value(&r->hist, 0.99) / 1000.0;
	ret->max_ms = r->hist.n ? (double)r->hist.max_us / 1000.0 : 0;
	ret->qps = r->qps;
	ret->error_rate = r->requests ? 100.0 * (double)r->errors / (double)r->requests : 0;
	ret->success_rate = 100.0 - ret->error_rate;
}

static size_t judge_max(struct cd_limit_result *out, size_t n, const char *name, double limit,
	double value)
{
	out[n] = (struct cd_limit_result){ name, limit, value, value <= limit };
	return n + 1;
}

size_t cd_thresholds_judge(const struct cd_thresholds *t, const struct cd_load_metrics *m,
	struct cd_limit_result *out)
{
	size_t n = 0;
	if (!t)
		return 0;
	if (t->p50_ms >= 0)
		n = judge_max(out, n, "p50_ms", (double)t->p50_ms, m->p50_ms);
	if (t->p90_ms >= 0)
		n = judge_max(out, n, "p90_ms", (double)t->p90_ms, m->p90_ms);
	if (t->p99_ms >= 0)
		n = judge_max(out, n, "p99_ms", (double)t->p99_ms, m->p99_ms);
	if (t->max_ms >= 0)
		n = judge_max(out, n, "max_ms", (double)t->max_ms, m->max_ms);
	if (t->min_qps >= 0) {
		out[n] = (struct cd_limit_result){ "min_qps", t->min_qps, m->qps, m->qps >= t->min_qps };
		n++;
	}
	if (t->max_error_rate >= 0)
		n = judge_max(out, n, "max_error_rate", t->max_error_rate, m->error_rate);
	return n;
}

double cd_change_pct(double base, double now)
{
	if (base == 0)
		return now == 0 ? 0 : 100;
	return (now - base) / base * 100.0;
}

size_t cd_triggers_judge(const struct cd_triggers *t, const struct cd_load_metrics *m,
	double base_p99_ms, struct cd_limit_result *out)
{
	size_t n = 0;
	if (!t)
		return 0;
	if (t->error_rate >= 0) {
		out[n] = (struct cd_limit_result){ "error_rate", t->error_rate, m->error_rate,
			m->error_rate <= t->error_rate };
		n++;
	}
	if (t->success_rate_below >= 0) {
		out[n] = (struct cd_limit_result){ "success_rate_below", t->success_rate_below,
			m->success_rate, m->success_rate >= t->success_rate_below };
		n++;
	}
	if (t->p99_regression >= 0 && base_p99_ms >= 0) {
		double change = cd_change_pct(base_p99_ms, m->p99_ms);
		out[n] = (struct cd_limit_result){ "p99_regression", t->p99_regression, change,
			change <= t->p99_regression };
		n++;
	}
	return n;
}

int cd_security_score(const int counts[CD_SEV_N])
{
	int score = 100;
	for (int s = 0; s < CD_SEV_N; s++)
		score -= counts[s] * cd_severity_cost[s];
	return score < 0 ? 0 : score;
}

void cd_downtime_init(struct cd_downtime *d)
{
	*d = (struct cd_downtime){ .first_good_new_ms = -1, .gap_start_ms = -1,
		.first_good_after_fail_ms = -1 };
}

void cd_downtime_record(struct cd_downtime *d, int64_t at_ms, int good, int names_release)
{
	d->probes++;
	if (!good) {
		d->failed++;
		if (d->gap_start_ms < 0)
			d->gap_start_ms = at_ms;
		return;
	}
	if (d->gap_start_ms >= 0) {
		int64_t gap = at_ms - d->gap_start_ms;
		if (gap > d->longest_gap_ms)
			d->longest_gap_ms = gap;
		d->gap_start_ms = -1;
		/* The last recovery is the one to the new release: keep overwriting. */
		d->first_good_after_fail_ms = at_ms;
	}
	if (names_release && !d->seen_release) {
		d->seen_release = 1;
		d->first_good_new_ms = at_ms;
	}
}

void cd_downtime_finish(struct cd_downtime *d, int64_t end_ms)
{
	if (d->gap_start_ms >= 0) {
		int64_t gap = end_ms - d->gap_start_ms;
		if (gap > d->longest_gap_ms)
			d->longest_gap_ms = gap;
		d->gap_start_ms = -1;
		d->first_good_after_fail_ms = -1; /* it never came back */
	}
	if (!d->seen_release)
		d->first_good_new_ms = d->first_good_after_fail_ms;
}
