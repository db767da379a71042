/*
 * restore: put back what a backup step of this plan took, after verifying it.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "corpdeploy/backup.h"
#include "corpdeploy/steps.h"

static const struct cd_field restore_fields[] = { { 0 } };

static const struct cd_schema restore_schema = {
	.what = "restore",
	.size = sizeof(struct cd_step_restore),
	.fields = restore_fields,
};

static int restore_resolve(struct cd_decoder *dec, const struct cd_plan *plan, struct cd_step *step)
{
	const struct cd_step_restore *r = step->args;
	const struct cd_step *b = cd_plan_step(plan, r->backup);
	if (!b)
		return cd_decode_error(dec, cd_node_get(step->node, "restore"),
			"%s: no step named '%s' to restore from", cd_decode_where(dec), r->backup);
	if (strcmp(b->kind->name, "backup") != 0)
		return cd_decode_error(dec, cd_node_get(step->node, "restore"),
			"%s: step '%s' is a %s step, not a backup", cd_decode_where(dec), r->backup,
			b->kind->name);
	return 0;
}

static void restore_describe(const struct cd_step *step, struct cd_buf *out)
{
	const struct cd_step_restore *r = step->args;
	cd_buf_addf(out, "restore what '%s' backed up", r->backup);
}

static const char *restore_name(struct cd_arena *arena, const struct cd_step *step)
{
	const struct cd_step_restore *r = step->args;
	char *s = cd_xasprintf("restore-%s", r->backup);
	const char *name = cd_arena_strdup(arena, s);
	free(s);
	return name;
}

const struct cd_step_kind cd_step_kind_restore = {
	.name = "restore",
	.main = { .key = "restore", .type = CD_T_STR,
		.offset = offsetof(struct cd_step_restore, backup), .flags = CD_FIELD_REQUIRED | CD_FIELD_RAW },
	.schema = &restore_schema,
	.resolve = restore_resolve,
	.describe = restore_describe,
	.default_name = restore_name,
	.apply = cd_backup_restore_step_apply,
};
