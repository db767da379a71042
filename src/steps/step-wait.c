/*
 * wait: a pause (`wait: 10s`), or waiting until a TCP port accepts or a URL
 * answers 2xx (`wait: tcp://127.0.0.1:5432`), bounded by the step's timeout.
 */
#include <stddef.h>
#include <string.h>

#include "corpdeploy/engine.h"
#include "corpdeploy/http.h"
#include "corpdeploy/steps.h"

static const struct cd_field wait_fields[] = {
	{ .key = "duration", .type = CD_T_DURATION, .offset = offsetof(struct cd_step_wait, duration_ms),
		.flags = CD_FIELD_OUTPUT },
	{ .key = "url", .type = CD_T_STR, .offset = offsetof(struct cd_step_wait, url),
		.flags = CD_FIELD_OUTPUT },
	{ 0 },
};

static const struct cd_schema wait_schema = {
	.what = "wait",
	.size = sizeof(struct cd_step_wait),
	.fields = wait_fields,
};

static int wait_main(struct cd_decoder *dec, const struct cd_node *node, void *dst)
{
	struct cd_step_wait *w = dst;
	const char *s;
	w->duration_ms = CD_UNSET;
	if (node->kind != CD_NODE_SCALAR || cd_node_is_null(node))
		return cd_decode_error(dec, node, "%s: expected a duration or a tcp:// or http:// URL",
			cd_decode_where(dec));
	if (cd_decode_string(dec, node, &s) < 0)
		return CD_EPLAN;
	w->what = s;
	if (cd_parse_duration(s, &w->duration_ms) == 0)
		return 0;
	if (strncmp(s, "tcp://", 6) == 0 || strncmp(s, "http://", 7) == 0 ||
		strncmp(s, "https://", 8) == 0) {
		w->url = s;
		return 0;
	}
	return cd_decode_error(dec, node,
		"%s: expected a duration like 10s or a URL like tcp://127.0.0.1:5432, got '%s'",
		cd_decode_where(dec), s);
}

static int wait_validate(struct cd_decoder *dec, const struct cd_node *map, void *args)
{
	const struct cd_step_wait *w = args;
	if (w->url && !cd_node_get(map, "timeout"))
		return cd_decode_error(dec, map, "%s: waiting for %s needs a 'timeout'",
			cd_decode_where(dec), w->url);
	return 0;
}

static void wait_describe(const struct cd_step *step, struct cd_buf *out)
{
	const struct cd_step_wait *w = step->args;
	char b[32];
	if (w->url)
		cd_buf_addf(out, "wait until %s answers (at most %s)", w->url,
			cd_duration_format(step->timeout_ms, b, sizeof(b)));
	else
		cd_buf_addf(out, "wait %s", cd_duration_format(w->duration_ms, b, sizeof(b)));
}

static int wait_apply(struct cd_step_ctx *ctx, struct cd_error *err)
{
	const struct cd_step_wait *w = ctx->step->args;
	if (!w->url) {
		if (cd_run_sleep(ctx->run, w->duration_ms) < 0)
			return cd_error_set(err, CD_EFAIL, "interrupted");
		return 0;
	}
	struct cd_error last = CD_ERROR_INIT;
	int64_t start = cd_time_mono_ms();
	char b[32];
	/* Poll every 200ms: quick enough to notice, slow enough to not hammer. */
	while (cd_run_left(ctx->deadline_ms) > 0 && !cd_run_interrupted()) {
		int r;
		cd_error_release(&last);
		if (strncmp(w->url, "tcp://", 6) == 0) {
			r = cd_tcp_probe(w->url + 6, 1000, &last);
		} else {
			struct cd_http_request req = { .url = w->url, .timeout_ms = 2000 };
			struct cd_http_response resp;
			r = cd_http_do(&req, &resp, &last);
			if (r == 0)
				r = cd_http_expect(NULL, &resp, &last);
			cd_http_response_release(&resp);
		}
		if (r == 0) {
			cd_buf_addf(&ctx->message, "answered after %s",
				cd_duration_format(cd_time_mono_ms() - start, b, sizeof(b)));
			return 0;
		}
		cd_run_sleep(ctx->run, 200);
	}
	int r = cd_error_set(err, CD_EFAIL, "%s did not answer within %s: %s", w->url,
		cd_duration_format(cd_time_mono_ms() - start, b, sizeof(b)), last.msg ? last.msg : "interrupted");
	cd_error_release(&last);
	return r;
}

const struct cd_step_kind cd_step_kind_wait = {
	.name = "wait",
	.main = { .key = "wait", .flags = CD_FIELD_REQUIRED, .type = CD_T_CUSTOM, .offset = 0,
		.custom = wait_main },
	.schema = &wait_schema,
	.validate = wait_validate,
	.describe = wait_describe,
	.apply = wait_apply,
};
