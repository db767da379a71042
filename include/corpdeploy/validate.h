/*
 * validate: what decides whether a release stays. Smoke suites, the load
 * generator and its latency histogram, the security policy, baselines of
 * past releases with the plan's rollback triggers, and the downtime prober
 * that runs beside a deploy. Uses core, http, docker and the engine's run.
 */
#ifndef CORPDEPLOY_VALIDATE_H
#define CORPDEPLOY_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "corpdeploy/core.h"
#include "corpdeploy/plan.h"

struct cJSON;
struct cd_run;
struct cd_smoke_suite;
struct cd_step_security;
struct cd_thresholds;
struct cd_triggers;

/*
 * ---- latency histogram ----
 *
 * Log-linear buckets over microseconds: values below 2^CD_HIST_SUB_BITS are
 * counted exactly; above, each power of two is split into 2^CD_HIST_SUB_BITS
 * equal buckets. A bucket [low, high) then has (high - low) <= low / 32, and
 * a percentile reported as its bucket's midpoint is within 1/64 (1.5625%) of
 * the true sample, relative (cd_hist_value). The smallest and largest
 * samples are kept exactly and clamp what is reported.
 */
#define CD_HIST_SUB_BITS 5
#define CD_HIST_SUB (1u << CD_HIST_SUB_BITS)
#define CD_HIST_BUCKETS (CD_HIST_SUB + (64 - CD_HIST_SUB_BITS) * CD_HIST_SUB)
/* The bound above, as a fraction: |reported - true| <= CD_HIST_MAX_REL_ERROR * true. */
#define CD_HIST_MAX_REL_ERROR (1.0 / (2.0 * CD_HIST_SUB))

struct cd_hist {
	uint64_t counts[CD_HIST_BUCKETS];
	uint64_t n;
	uint64_t min_us, max_us;
	double sum_us;
};

void cd_hist_init(struct cd_hist *h);
void cd_hist_add(struct cd_hist *h, uint64_t us);
void cd_hist_merge(struct cd_hist *into, const struct cd_hist *from);
/* The bucket of a value, and the bounds [low, high) of a bucket. */
size_t cd_hist_bucket(uint64_t us);
uint64_t cd_hist_bucket_low(size_t bucket);
uint64_t cd_hist_bucket_high(size_t bucket);
/*
 * The q-quantile (0 < q <= 1) in microseconds: the sample of rank
 * ceil(q * n), as its bucket's midpoint clamped to [min, max]. 0 when empty.
 */
double cd_hist_value(const struct cd_hist *h, double q);

/* ---- load generator ---- */

struct cd_load_spec {
	const char *url;
	const char *method; /* NULL: GET */
	const struct cd_kvs *headers;
	const char *body;
	int64_t concurrency;	 /* connections in flight */
	int64_t requests;	 /* < 0: bounded by duration only */
	int64_t duration_ms;	 /* < 0: bounded by requests only */
	double rate;		 /* requests per second over all connections; <= 0: as fast as answered */
	int64_t timeout_ms;	 /* per request; <= 0: 10s */
	int64_t deadline_ms;	 /* monotonic; no request starts after it */
	int threads;		 /* <= 0: one per CPU, at most concurrency */
};

enum { CD_CLASS_2XX, CD_CLASS_3XX, CD_CLASS_4XX, CD_CLASS_5XX, CD_CLASS_OTHER, CD_CLASS_N };
extern const char *const cd_status_class_names[]; /* "2xx" ... "other" */

struct cd_load_result {
	int64_t requests; /* finished, with an answer or not */
	int64_t errors;	  /* no answer (class "other") or a status of 400 or more */
	int64_t duration_ms;
	double qps;
	int64_t classes[CD_CLASS_N];
	struct cd_hist hist; /* latencies of every finished request */
	const char *engine;  /* static: "http/1.1 own client" or "libcurl" */
};

/* Runs the load test. Fails only when it cannot start (bad URL, no memory). */
int cd_load_run(const struct cd_load_spec *spec, struct cd_load_result *ret, struct cd_error *err);

/* The figures thresholds, baselines and triggers are judged on. */
struct cd_load_metrics {
	double p50_ms, p90_ms, p99_ms, max_ms;
	double qps;
	double error_rate;   /* percent of requests */
	double success_rate; /* 100 - error_rate */
};
void cd_load_metrics_of(const struct cd_load_result *r, struct cd_load_metrics *ret);

/* One judged limit: a threshold or a trigger. */
struct cd_limit_result {
	const char *name;
	double limit, value;
	int passed;
};
/* Thresholds of t that are set, judged on m, into out (room for 8). Returns how many. */
size_t cd_thresholds_judge(const struct cd_thresholds *t, const struct cd_load_metrics *m,
	struct cd_limit_result *out);

/* ---- baselines ---- */

/* One metric of a past release beside now; change_pct is relative to the baseline. */
struct cd_baseline_row {
	const char *name;
	double baseline, now, change_pct;
};
/*
 * Percentage change from base to now. A zero baseline gives 0 when now is 0
 * too and 100 otherwise (the change exists but has no finite ratio).
 */
double cd_change_pct(double base, double now);
/*
 * The plan's triggers that a load test can cross, judged on m and, for
 * p99_regression, on the baseline's p99 (base_p99_ms < 0: no baseline, that
 * trigger is not judged). Into out (room for 4); returns how many.
 * error_rate crosses above its limit, success_rate_below below it,
 * p99_regression when p99 rose by more than its limit in percent.
 */
size_t cd_triggers_judge(const struct cd_triggers *t, const struct cd_load_metrics *m,
	double base_p99_ms, struct cd_limit_result *out);

/*
 * The metrics of the last release that passed, from
 * <state dir>/baselines/latest.json: a JSON object {"release", "stored_at",
 * "metrics": {"<step>.<metric>": number}}. *ret is NULL (and 0 returned)
 * when there is none yet. Free with cJSON_Delete via cd_baseline_free.
 */
int cd_baseline_load(const struct cd_plan *plan, struct cJSON **ret, struct cd_error *err);
void cd_baseline_free(struct cJSON *baseline);
/* A metric of a loaded baseline, or -1 when absent. */
double cd_baseline_metric(const struct cJSON *baseline, const char *step, const char *metric);
/* The baseline's release name (borrowed), or "". */
const char *cd_baseline_release(const struct cJSON *baseline);
/*
 * Stores the validation metrics of a successful run (its load, smoke and
 * security steps' details) as the plan's baseline: baselines/<release>.json
 * and baselines/latest.json, written atomically. A run without such steps
 * stores nothing.
 */
int cd_validate_save_baseline(const struct cd_run *run, struct cd_error *err);
/*
 * What `up` does when a run ends: logs the measured downtime, and when the
 * run succeeded stores its baseline (a failure to store is a warning).
 */
void cd_validate_after_run(const struct cd_run *run, int succeeded);

/* ---- smoke suites ---- */

/*
 * Runs the suite's checks on `concurrency` workers, in the suite's order.
 * A check that uses ${capture.NAME} starts only once every check before it
 * has finished, and no later check starts before it: captures are set
 * before they are read, whatever the concurrency. Captured values are
 * registered with the redactor (tokens are secrets). *ret_details is the
 * smoke details object (see the report schema); returns 0 when every check
 * passed, else CD_EFAIL with err naming the first failed check in suite order.
 */
int cd_smoke_run(struct cd_run *run, const struct cd_smoke_suite *suite, int64_t deadline_ms,
	struct cJSON **ret_details, struct cd_error *err);

/* ---- security policy ---- */

enum cd_severity_level { CD_SEV_CRITICAL, CD_SEV_HIGH, CD_SEV_MEDIUM, CD_SEV_LOW, CD_SEV_INFO,
	CD_SEV_N };
extern const char *const cd_severity_level_names[];
/* What each severity takes off the score of 100. */
extern const int cd_severity_cost[];
/* The score left after the findings' costs, at least 0. */
int cd_security_score(const int counts[CD_SEV_N]);

/*
 * Checks the policy; *ret_details is the security details object. Returns
 * 0 when it passes: with min_score set, a score of at least min_score * 10
 * and no critical finding; without it, no critical or high finding.
 * Otherwise CD_EFAIL naming the worst finding.
 */
int cd_security_run(struct cd_run *run, const struct cd_step_security *policy,
	int64_t deadline_ms, struct cJSON **ret_details, struct cd_error *err);

/* ---- downtime prober ---- */

/*
 * A thread that requests url every interval_ms from start to stop, and
 * counts a probe good when it answers expect_status within timeout_ms.
 * The new release's first good answer is the first good answer whose
 * headers or body contain the release id; when no answer ever names it,
 * the first good answer after the last failed probe (-1 when none failed).
 */
struct cd_prober;
struct cd_prober *cd_prober_start(const char *url, int64_t interval_ms, int64_t timeout_ms,
	long expect_status, const char *release);
/*
 * Stops and frees the prober. *ret_details (may be NULL) receives the
 * downtime object: url, interval_ms, probes, failed, longest_gap_ms,
 * first_good_new_ms. *ret_longest_gap_ms (may be NULL) the longest time
 * without a good answer.
 */
void cd_prober_stop(struct cd_prober *p, struct cJSON **ret_details, int64_t *ret_longest_gap_ms);

/* The pure bookkeeping behind the prober, for tests. Times in ms since start. */
struct cd_downtime {
	int64_t probes, failed;
	int64_t longest_gap_ms;
	int64_t first_good_new_ms;
	int64_t gap_start_ms; /* < 0 when the last probe was good */
	int64_t first_good_after_fail_ms;
	int seen_release;
};
void cd_downtime_init(struct cd_downtime *d);
void cd_downtime_record(struct cd_downtime *d, int64_t at_ms, int good, int names_release);
/* Closes an open gap at end_ms; call once at the end. */
void cd_downtime_finish(struct cd_downtime *d, int64_t end_ms);

#endif
