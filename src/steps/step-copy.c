/*
 * copy: a file, or a template rendered with the plan's variables, to a
 * target; written under a temporary name and renamed over the old one.
 */
#include <stddef.h>
#include <stdlib.h>

#include "corpdeploy/steps.h"

static const struct cd_field copy_fields[] = {
	{ .key = "dest", .type = CD_T_STR, .offset = offsetof(struct cd_step_copy, dest),
		.flags = CD_FIELD_REQUIRED },
	{ .key = "template", .type = CD_T_BOOL, .offset = offsetof(struct cd_step_copy, template),
		.def = "false" },
	{ .key = "mode", .type = CD_T_MODE, .offset = offsetof(struct cd_step_copy, mode),
		.def = "0644" },
	{ .key = "owner", .type = CD_T_STR, .offset = offsetof(struct cd_step_copy, owner) },
	{ 0 },
};

static const struct cd_schema copy_schema = {
	.what = "copy",
	.size = sizeof(struct cd_step_copy),
	.fields = copy_fields,
};

static void copy_describe(const struct cd_step *step, struct cd_buf *out)
{
	const struct cd_step_copy *c = step->args;
	cd_buf_addf(out, "%s %s to %s%s%s (mode %04o)", c->template == 1 ? "render" : "copy",
		c->src, step->target ? step->target : "", step->target ? ":" : "", c->dest,
		(unsigned)c->mode);
}

static const char *copy_name(struct cd_arena *arena, const struct cd_step *step)
{
	const struct cd_step_copy *c = step->args;
	char *s = cd_xasprintf("copy-%s", c->dest ? c->dest : "file");
	const char *name = cd_arena_strdup(arena, s);
	free(s);
	return name;
}

const struct cd_step_kind cd_step_kind_copy = {
	.name = "copy",
	.main = { .key = "copy", .flags = CD_FIELD_REQUIRED, .type = CD_T_STR, .offset = offsetof(struct cd_step_copy, src) },
	.schema = &copy_schema,
	.describe = copy_describe,
	.default_name = copy_name,
};
