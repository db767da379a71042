/*
 * http: one request with expectations. The expectation table here is also
 * the one of smoke checks.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "corpdeploy/engine.h"
#include "corpdeploy/http.h"
#include "corpdeploy/steps.h"

static const char *const http_methods[] = { "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE",
	"OPTIONS", NULL };

int cd_decode_http_method(struct cd_decoder *dec, const struct cd_node *node, void *dst)
{
	static const struct cd_field f = { .key = "method", .type = CD_T_ENUM, .sub = http_methods };
	int idx;
	if (cd_decode_field(dec, &f, node, &idx) < 0)
		return CD_EPLAN;
	*(const char **)dst = http_methods[idx];
	return 0;
}

static int expect_status(struct cd_decoder *dec, const struct cd_node *node, void *dst)
{
	struct cd_strv *v = dst;
	static const struct cd_field f = { .key = "status", .type = CD_T_STRV, .flags = CD_FIELD_RAW };
	if (cd_decode_field(dec, &f, node, v) < 0)
		return CD_EPLAN;
	for (size_t i = 0; i < v->n; i++) {
		int64_t code;
		if (cd_parse_int(v->v[i], &code) < 0 || code < 100 || code > 599)
			return cd_decode_error(dec, v->nodes[i],
				"%s: expected an HTTP status from 100 to 599, got '%s'",
				cd_decode_where(dec), v->v[i]);
	}
	return 0;
}

static const struct cd_field expect_fields[] = {
	{ .key = "status", .type = CD_T_CUSTOM, .offset = offsetof(struct cd_expect, status),
		.custom = expect_status, .json_as = CD_T_STRV },
	{ .key = "headers", .type = CD_T_MAP, .offset = offsetof(struct cd_expect, headers) },
	{ .key = "body_contains", .type = CD_T_STR,
		.offset = offsetof(struct cd_expect, body_contains) },
	{ .key = "json", .type = CD_T_MAP, .offset = offsetof(struct cd_expect, json) },
	{ .key = "json_count", .type = CD_T_MAP, .offset = offsetof(struct cd_expect, json_count) },
	{ .key = "max_latency", .type = CD_T_DURATION,
		.offset = offsetof(struct cd_expect, max_latency_ms) },
	{ .key = "exit", .type = CD_T_INT, .offset = offsetof(struct cd_expect, exit), .min = 0,
		.max = 255 },
	{ .key = "output", .type = CD_T_STR, .offset = offsetof(struct cd_expect, output) },
	{ 0 },
};

static int expect_validate(struct cd_decoder *dec, const struct cd_node *map, void *obj)
{
	const struct cd_expect *e = obj;
	int r = 0;
	(void)map;
	for (size_t i = 0; i < e->json.n + e->json_count.n; i++) {
		const struct cd_kv *kv = i < e->json.n ? &e->json.items[i]
						       : &e->json_count.items[i - e->json.n];
		if (kv->key[0] != '$')
			r = cd_decode_error(dec, kv->node,
				"%s: JSON path '%s' must start with '$' (like $.items)",
				cd_decode_where(dec), kv->key);
	}
	for (size_t i = 0; i < e->json_count.n; i++) {
		int64_t n;
		if (cd_parse_int(e->json_count.items[i].value, &n) < 0 || n < 0)
			r = cd_decode_error(dec, e->json_count.items[i].node,
				"%s: expected a count for '%s', got '%s'", cd_decode_where(dec),
				e->json_count.items[i].key, e->json_count.items[i].value);
	}
	return r;
}

const struct cd_schema cd_expect_schema = {
	.what = "expectation",
	.size = sizeof(struct cd_expect),
	.fields = expect_fields,
	.validate = expect_validate,
};

void cd_expect_describe(const struct cd_expect *e, struct cd_buf *out)
{
	if (!e)
		return;
	if (e->status.n) {
		cd_buf_adds(out, " expect ");
		cd_step_describe_strv(&e->status, "|", out);
	}
	for (size_t i = 0; i < e->json_count.n; i++)
		cd_buf_addf(out, ", %s has %s items", e->json_count.items[i].key,
			e->json_count.items[i].value);
	for (size_t i = 0; i < e->json.n; i++)
		cd_buf_addf(out, ", %s = %s", e->json.items[i].key, e->json.items[i].value);
	if (e->body_contains)
		cd_buf_addf(out, ", body contains '%s'", e->body_contains);
	if (e->max_latency_ms >= 0) {
		char b[32];
		cd_buf_addf(out, ", within %s", cd_duration_format(e->max_latency_ms, b, sizeof(b)));
	}
	if (e->exit >= 0)
		cd_buf_addf(out, " expect exit %lld", (long long)e->exit);
	if (e->output)
		cd_buf_addf(out, ", output '%s'", e->output);
}

static const struct cd_field http_fields[] = {
	{ .key = "method", .type = CD_T_CUSTOM, .offset = offsetof(struct cd_step_http, method),
		.custom = cd_decode_http_method, .json_as = CD_T_STR, .def = "GET" },
	{ .key = "headers", .type = CD_T_MAP, .offset = offsetof(struct cd_step_http, headers) },
	{ .key = "body", .type = CD_T_STR, .offset = offsetof(struct cd_step_http, body) },
	{ .key = "expect", .type = CD_T_STRUCT, .offset = offsetof(struct cd_step_http, expect),
		.sub = &cd_expect_schema },
	{ 0 },
};

static const struct cd_schema http_schema = {
	.what = "http",
	.size = sizeof(struct cd_step_http),
	.fields = http_fields,
};

static void http_describe(const struct cd_step *step, struct cd_buf *out)
{
	const struct cd_step_http *h = step->args;
	cd_buf_addf(out, "%s %s", h->method ? h->method : "GET", h->url);
	cd_expect_describe(h->expect, out);
}

static const char *http_name(struct cd_arena *arena, const struct cd_step *step)
{
	const struct cd_step_http *h = step->args;
	char *s = cd_xasprintf("http %s", h->url ? h->url : "");
	const char *name = cd_arena_strdup(arena, s);
	free(s);
	return name;
}

static int http_apply(struct cd_step_ctx *ctx, struct cd_error *err)
{
	const struct cd_step_http *h = ctx->step->args;
	struct cd_http_request req = { .method = h->method, .url = h->url, .headers = &h->headers,
		.body = h->body, .timeout_ms = cd_run_left(ctx->deadline_ms) };
	struct cd_http_response resp;
	char b[32];
	if (req.timeout_ms > 30000 && ctx->step->timeout_ms < 0)
		req.timeout_ms = 30000;
	int r = cd_http_do(&req, &resp, err);
	if (r == 0 && (r = cd_http_expect(h->expect, &resp, err)) < 0) {
		char *msg = cd_xasprintf("%s %s: %s", h->method, h->url, err->msg);
		cd_error_set(err, CD_EFAIL, "%s", msg);
		free(msg);
	}
	if (r == 0)
		cd_buf_addf(&ctx->message, "%ld in %s", resp.status,
			cd_duration_format(resp.latency_ms, b, sizeof(b)));
	cd_http_response_release(&resp);
	return r;
}

const struct cd_step_kind cd_step_kind_http = {
	.name = "http",
	.main = { .key = "http", .flags = CD_FIELD_REQUIRED, .type = CD_T_STR, .offset = offsetof(struct cd_step_http, url) },
	.schema = &http_schema,
	.describe = http_describe,
	.default_name = http_name,
	.apply = http_apply,
};
