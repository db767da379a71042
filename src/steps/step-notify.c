/*
 * notify: post a JSON message (or Slack-compatible text) to a webhook.
 * A failing webhook is retried and reported, and never fails the deploy.
 */
#include <stddef.h>

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

const struct cd_step_kind cd_step_kind_notify = {
	.name = "notify",
	.main = { .key = "notify", .flags = CD_FIELD_REQUIRED, .type = CD_T_STR,
		.offset = offsetof(struct cd_step_notify, url) },
	.schema = &notify_schema,
	.describe = notify_describe,
};
