/*
 * load: a bounded load test against one URL, with thresholds on latency
 * percentiles, throughput and errors that fail the step (and so the run).
 */
#include <stddef.h>
#include <stdlib.h>

#include "corpdeploy/steps.h"

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

const struct cd_step_kind cd_step_kind_load = {
	.name = "load",
	.main = { .key = "load", .flags = CD_FIELD_REQUIRED, .type = CD_T_STR, .offset = offsetof(struct cd_step_load, url) },
	.schema = &load_schema,
	.validate = load_validate,
	.describe = load_describe,
};
