/*
 * notify: post a JSON message (or Slack-compatible text) to a webhook.
 * Without `on`, it posts when the step runs; with `on: [success, failure,
 * rollback]` it posts at the end of the run when the outcome is one of
 * those, whether or not the run got as far as the step. A failing webhook
 * is retried and reported, and never fails the deploy.
 */
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "corpdeploy/engine.h"
#include "corpdeploy/report.h"
#include "corpdeploy/steps.h"

const char *const cd_notify_format_names[] = { "json", "slack", NULL };
const char *const cd_notify_event_names[] = { "success", "failure", "rollback", "start", NULL };

static const struct cd_field notify_fields[] = {
	{ .key = "message", .type = CD_T_STR, .offset = offsetof(struct cd_step_notify, message) },
	{ .key = "on", .type = CD_T_ENUMV, .offset = offsetof(struct cd_step_notify, on),
		.sub = cd_notify_event_names },
	{ .key = "format", .type = CD_T_ENUM, .offset = offsetof(struct cd_step_notify, format),
		.sub = cd_notify_format_names, .def = "json" },
	{ 0 },
};

static const struct cd_schema notify_schema = {
	.what = "notify",
	.size = sizeof(struct cd_step_notify),
	.fields = notify_fields,
};

static void notify_describe(const struct cd_step *step, struct cd_buf *out)
{
	const struct cd_step_notify *n = step->args;
	cd_buf_addf(out, "notify %s (%s)", n->url, cd_notify_format_names[n->format]);
}

/* Posts now unless the step waits for the end of the run. */
static int notify_now(const struct cd_step_notify *n)
{
	if (!n->on.n)
		return 1;
	for (size_t i = 0; i < n->on.n; i++)
		if (strcmp(n->on.v[i], "start") == 0)
			return 1;
	return 0;
}

static int notify_apply(struct cd_step_ctx *ctx, struct cd_error *err)
{
	const struct cd_step_notify *n = ctx->step->args;
	const struct cd_step *s = ctx->step;
	(void)err;
	if (!notify_now(n)) {
		cd_buf_adds(&ctx->message, "will post at the end of the run");
		return 0;
	}
	const struct cd_run *run = ctx->run;
	struct cd_buf msg = CD_BUF_INIT;
	cd_buf_addf(&msg, "%s%s%s %s: run %s in progress (phase %s)", n->message ? n->message : "",
		n->message ? "\n" : "", run->plan->name, run->plan->release ? run->plan->release : "",
		run->run_id, run->current_phase ? run->current_phase : "?");
	char *body = cd_notify_body(NULL, "start", msg.buf, strcmp(cd_notify_format_names[n->format],
								   "slack") == 0);
	cd_buf_release(&msg);

	int64_t left = cd_run_left(ctx->deadline_ms);
	struct cd_error post_err = CD_ERROR_INIT;
	int attempts = 0;
	/* The engine's retries would fail the step; the webhook's own retries do not. */
	int r = cd_notify_post(n->url, body, s->retries > 0 ? s->retries : 3,
		left > 0 && left < 5000 ? left : 5000, 1000, &attempts, &post_err);
	free(body);
	cJSON *details = cJSON_CreateObject();
	cJSON_AddBoolToObject(details, "delivered", r == 0);
	cJSON_AddNumberToObject(details, "attempts", attempts);
	if (r < 0) {
		cJSON_AddStringToObject(details, "error", post_err.msg);
		cd_buf_addf(&ctx->message, "not delivered (the deploy goes on): %s", post_err.msg);
	} else {
		cd_buf_addf(&ctx->message, "delivered after %d attempt%s", attempts,
			attempts == 1 ? "" : "s");
	}
	ctx->details = details;
	cd_error_release(&post_err);
	return 0;
}

const struct cd_step_kind cd_step_kind_notify = {
	.name = "notify",
	.main = { .key = "notify", .flags = CD_FIELD_REQUIRED, .type = CD_T_STR,
		.offset = offsetof(struct cd_step_notify, url) },
	.schema = &notify_schema,
	.describe = notify_describe,
	.apply = notify_apply,
};
