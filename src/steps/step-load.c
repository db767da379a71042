/*
 * load: a bounded load test against one URL, with thresholds on latency
 * percentiles, throughput and errors that fail the step (and so the run).
 */
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdlib.h>

#include "corpdeploy/engine.h"
#include "corpdeploy/log.h"
#include "corpdeploy/steps.h"
#include "corpdeploy/validate.h"

static const struct cd_field threshold_fields[] = {
	{ .key = "p50", .type = CD_T_DURATION, .offset = offsetof(struct cd_thresholds, p50_ms) },
	{ .key = "p90", .type = CD_T_DURATION, .offset = offsetof(struct cd_thresholds, p90_ms) },
	{ .key = "p99", .type = CD_T_DURATION, .offset = offsetof(struct cd_thresholds, p99_ms) },
	{ .key = "max", .type = CD_T_DURATION, .offset = offsetof(struct cd_thresholds, max_ms) },
	{ .key = "min_qps", .type = CD_T_NUMBER, .offset = offsetof(struct cd_thresholds, min_qps),
		.min = 0, .max = 10000000 },
	{ .key = "max_error_rate", .type = CD_T_PERCENT,
		.offset = offsetof(struct cd_thresholds, max_error_rate) },
	{ 0 },
};

static const struct cd_schema threshold_schema = {
	.what = "thresholds",
	.size = sizeof(struct cd_thresholds),
	.fields = threshold_fields,
};

static const struct cd_field load_fields[] = {
	{ .key = "method", .type = CD_T_CUSTOM, .offset = offsetof(struct cd_step_load, method),
		.custom = cd_decode_http_method, .json_as = CD_T_STR, .def = "GET" },
	{ .key = "headers", .type = CD_T_MAP, .offset = offsetof(struct cd_step_load, headers) },
	{ .key = "body", .type = CD_T_STR, .offset = offsetof(struct cd_step_load, body) },
	{ .key = "concurrency", .type = CD_T_INT, .offset = offsetof(struct cd_step_load, concurrency),
		.def = "10", .min = 1, .max = 1024 },
	{ .key = "requests", .type = CD_T_INT, .offset = offsetof(struct cd_step_load, requests),
		.min = 1, .max = 100000000 },
	{ .key = "duration", .type = CD_T_DURATION,
		.offset = offsetof(struct cd_step_load, duration_ms), .min = 1, .max = 3600000 },
	{ .key = "rate", .type = CD_T_NUMBER, .offset = offsetof(struct cd_step_load, rate), .min = 0,
		.max = 10000000 },
	{ .key = "thresholds", .type = CD_T_STRUCT, .offset = offsetof(struct cd_step_load, thresholds),
		.sub = &threshold_schema },
	{ 0 },
};

static const struct cd_schema load_schema = {
	.what = "load",
	.size = sizeof(struct cd_step_load),
	.fields = load_fields,
};

static int load_validate(struct cd_decoder *dec, const struct cd_node *map, void *args)
{
	const struct cd_step_load *l = args;
	if (l->requests < 0 && l->duration_ms < 0)
		return cd_decode_error(dec, map,
			"%s: a load test needs 'requests' or 'duration' (it must end by itself)",
			cd_decode_where(dec));
	return 0;
}

static void load_describe(const struct cd_step *step, struct cd_buf *out)
{
	const struct cd_step_load *l = step->args;
	char b[32];
	cd_buf_addf(out, "load %s %s with %lld clients", l->method, l->url, (long long)l->concurrency);
	if (l->requests >= 0)
		cd_buf_addf(out, ", %lld requests", (long long)l->requests);
	if (l->duration_ms >= 0)
		cd_buf_addf(out, ", for %s", cd_duration_format(l->duration_ms, b, sizeof(b)));
	if (l->rate >= 0)
		cd_buf_addf(out, " at %g/s", l->rate);
	const struct cd_thresholds *t = l->thresholds;
	if (!t)
		return;
	cd_buf_adds(out, "; pass if");
	const char *sep = " ";
	const struct {
		const char *name;
		int64_t v;
	} lat[] = { { "p50", t->p50_ms }, { "p90", t->p90_ms }, { "p99", t->p99_ms }, { "max", t->max_ms } };
	for (size_t i = 0; i < CD_ARRAY_SIZE(lat); i++)
		if (lat[i].v >= 0) {
			cd_buf_addf(out, "%s%s <= %s", sep, lat[i].name,
				cd_duration_format(lat[i].v, b, sizeof(b)));
			sep = ", ";
		}
	if (t->min_qps >= 0) {
		cd_buf_addf(out, "%sqps >= %g", sep, t->min_qps);
		sep = ", ";
	}
	if (t->max_error_rate >= 0)
		cd_buf_addf(out, "%serrors <= %g%%", sep, t->max_error_rate);
}

static cJSON *limits_json(const struct cd_limit_result *l, size_t n, const char *ok_key, int ok_is)
{
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", l[i].name);
		cJSON_AddNumberToObject(o, "limit", l[i].limit);
		cJSON_AddNumberToObject(o, "value", l[i].value);
		cJSON_AddBoolToObject(o, ok_key, l[i].passed == ok_is);
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

static cJSON *load_json(const struct cd_step_load *l, const struct cd_load_result *res,
	const struct cd_load_metrics *m)
{
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "url", l->url);
	cJSON_AddStringToObject(d, "engine", res->engine);
	cJSON_AddNumberToObject(d, "concurrency", (double)l->concurrency);
	cJSON_AddNumberToObject(d, "requests", (double)res->requests);
	cJSON_AddNumberToObject(d, "errors", (double)res->errors);
	cJSON_AddNumberToObject(d, "duration_ms", (double)res->duration_ms);
	cJSON_AddNumberToObject(d, "qps", m->qps);
	cJSON_AddNumberToObject(d, "p50_ms", m->p50_ms);
	cJSON_AddNumberToObject(d, "p90_ms", m->p90_ms);
	cJSON_AddNumberToObject(d, "p99_ms", m->p99_ms);
	cJSON_AddNumberToObject(d, "max_ms", m->max_ms);
	cJSON *classes = cJSON_AddObjectToObject(d, "status_classes");
	for (int k = 0; k < CD_CLASS_N; k++)
		cJSON_AddNumberToObject(classes, cd_status_class_names[k], (double)res->classes[k]);
	cJSON *hist = cJSON_AddArrayToObject(d, "histogram");
	for (size_t i = 0; i < CD_HIST_BUCKETS; i++) {
		if (!res->hist.counts[i])
			continue;
		cJSON *b = cJSON_CreateObject();
		cJSON_AddNumberToObject(b, "le_ms", (double)cd_hist_bucket_high(i) / 1000.0);
		cJSON_AddNumberToObject(b, "count", (double)res->hist.counts[i]);
		cJSON_AddItemToArray(hist, b);
	}
	return d;
}

/*
 * Against the last release that passed: Baseline | Now | Change for each
 * figure, logged and kept in the details; then the plan's triggers.
 * Returns the first trigger crossed, or NULL.
 */
static const char *load_baseline(struct cd_step_ctx *ctx, const struct cd_load_metrics *m,
	cJSON *details, struct cd_limit_result *trig, size_t *ret_ntrig)
{
	const struct cd_plan *plan = ctx->run->plan;
	const struct cd_triggers *t = plan->rollback ? plan->rollback->triggers : NULL;
	const char *step = ctx->step->name;
	struct cd_error err = CD_ERROR_INIT;
	cJSON *base = NULL;
	*ret_ntrig = 0;
	if (cd_baseline_load(plan, &base, &err) < 0)
		cd_log_warn("%s (compared with nothing)", err.msg);
	cd_error_release(&err);
	if (!base && !t)
		return NULL;
	cJSON *b = cJSON_AddObjectToObject(details, "baseline");
	cJSON_AddStringToObject(b, "release", base ? cd_baseline_release(base) : "");
	cJSON *rows = cJSON_AddArrayToObject(b, "metrics");
	const struct {
		const char *name;
		double now;
	} figures[] = { { "p50_ms", m->p50_ms }, { "p90_ms", m->p90_ms }, { "p99_ms", m->p99_ms },
		{ "max_ms", m->max_ms }, { "qps", m->qps }, { "error_rate", m->error_rate } };
	if (base)
		cd_log_info("%s against release %s:\n  %-12s %12s %12s %9s", step,
			cd_baseline_release(base), "metric", "baseline", "now", "change");
	for (size_t i = 0; base && i < CD_ARRAY_SIZE(figures); i++) {
		double was = cd_baseline_metric(base, step, figures[i].name);
		if (was < 0)
			continue;
		double change = cd_change_pct(was, figures[i].now);
		cJSON *row = cJSON_CreateObject();
		cJSON_AddStringToObject(row, "name", figures[i].name);
		cJSON_AddNumberToObject(row, "baseline", was);
		cJSON_AddNumberToObject(row, "now", figures[i].now);
		cJSON_AddNumberToObject(row, "change_pct", change);
		cJSON_AddItemToArray(rows, row);
		cd_log_info("  %-12s %12.2f %12.2f %+8.1f%%", figures[i].name, was, figures[i].now, change);
	}
	size_t n = cd_triggers_judge(t, m, base ? cd_baseline_metric(base, step, "p99_ms") : -1, trig);
	cJSON_AddItemToObject(b, "triggers", limits_json(trig, n, "crossed", 0));
	cd_baseline_free(base);
	*ret_ntrig = n;
	for (size_t i = 0; i < n; i++)
		if (!trig[i].passed)
			return trig[i].name;
	return NULL;
}

static int load_apply(struct cd_step_ctx *ctx, struct cd_error *err)
{
	const struct cd_step_load *l = ctx->step->args;
	struct cd_load_spec spec = { .url = l->url, .method = l->method, .headers = &l->headers,
		.body = l->body, .concurrency = l->concurrency, .requests = l->requests,
		.duration_ms = l->duration_ms, .rate = l->rate, .deadline_ms = ctx->deadline_ms };
	struct cd_load_result *res = cd_xmalloc(sizeof(*res)); /* the histogram is ~15 KiB */
	struct cd_load_metrics m;
	int r = cd_load_run(&spec, res, err);
	if (r < 0) {
		free(res);
		return r;
	}
	cd_load_metrics_of(res, &m);
	cJSON *d = load_json(l, res, &m);
	ctx->details = d;
	struct cd_limit_result th[8], trig[4];
	size_t nth = cd_thresholds_judge(l->thresholds, &m, th), ntrig;
	cJSON_AddItemToObject(d, "thresholds", limits_json(th, nth, "passed", 1));
	const char *crossed = load_baseline(ctx, &m, d, trig, &ntrig);
	cd_buf_addf(&ctx->message, "%lld requests, %.1f/s, p50 %.1fms, p99 %.1fms, %.1f%% errors",
		(long long)res->requests, m.qps, m.p50_ms, m.p99_ms, m.error_rate);
	for (size_t i = 0; i < nth && r == 0; i++)
		if (!th[i].passed)
			r = cd_error_set(err, CD_EFAIL, "load %s: threshold %s crossed: %.2f against a limit of %.2f",
				l->url, th[i].name, th[i].value, th[i].limit);
	for (size_t i = 0; i < ntrig && r == 0 && crossed; i++)
		if (!trig[i].passed)
			r = cd_error_set(err, CD_EFAIL, "load %s: rollback trigger %s crossed: %.2f against %.2f",
				l->url, trig[i].name, trig[i].value, trig[i].limit);
	free(res);
	return r;
}

const struct cd_step_kind cd_step_kind_load = {
	.name = "load",
	.main = { .key = "load", .flags = CD_FIELD_REQUIRED, .type = CD_T_STR, .offset = offsetof(struct cd_step_load, url) },
	.schema = &load_schema,
	.validate = load_validate,
	.describe = load_describe,
	.apply = load_apply,
};
