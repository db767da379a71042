/*
 * run: a one-off command in a running service (in:), in a new container of a
 * service's image (image:), or on a target; with the command that undoes it.
 * A run marked as a migration records the schema version before and after.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "corpdeploy/steps.h"

static const struct cd_field migration_fields[] = {
	{ .key = "version_query", .type = CD_T_CMD,
		.offset = offsetof(struct cd_migration, version_query), .flags = CD_FIELD_REQUIRED },
	{ 0 },
};

static const struct cd_schema migration_schema = {
	.what = "migration",
	.size = sizeof(struct cd_migration),
	.fields = migration_fields,
};

static const struct cd_field run_fields[] = {
	{ .key = "in", .type = CD_T_NAME, .offset = offsetof(struct cd_step_run, in) },
	{ .key = "image", .type = CD_T_NAME, .offset = offsetof(struct cd_step_run, image) },
	{ .key = "undo", .type = CD_T_CMD, .offset = offsetof(struct cd_step_run, undo) },
	{ .key = "expect_exit", .type = CD_T_INT, .offset = offsetof(struct cd_step_run, expect_exit),
		.def = "0", .min = 0, .max = 255 },
	{ .key = "env", .type = CD_T_MAP, .offset = offsetof(struct cd_step_run, env) },
	{ .key = "migration", .type = CD_T_STRUCT, .offset = offsetof(struct cd_step_run, migration),
		.sub = &migration_schema },
	{ .key = "stdin_secret", .type = CD_T_STR, .offset = offsetof(struct cd_step_run, stdin_secret),
		.flags = CD_FIELD_RAW },
	{ 0 },
};

static const struct cd_schema run_schema = {
	.what = "run",
	.size = sizeof(struct cd_step_run),
	.fields = run_fields,
};

static int run_validate(struct cd_decoder *dec, const struct cd_node *map, void *args)
{
	const struct cd_step_run *r = args;
	int places = (r->in != NULL) + (r->image != NULL) + (cd_node_get(map, "target") != NULL);
	if (places > 1)
		return cd_decode_error(dec, map,
			"%s: a run step takes one of 'in', 'image' and 'target', not several",
			cd_decode_where(dec));
	return 0;
}

static int run_resolve(struct cd_decoder *dec, const struct cd_plan *plan, struct cd_step *step)
{
	const struct cd_step_run *r = step->args;
	int rc = cd_step_require_service(dec, plan, r->in, cd_node_get(step->node, "in"), "in");
	if (cd_step_require_service(dec, plan, r->image, cd_node_get(step->node, "image"), "image") < 0)
		rc = CD_EPLAN;
	if (r->stdin_secret) {
		size_t i;
		for (i = 0; i < plan->secrets.n; i++)
			if (strcmp(plan->secrets.v[i], r->stdin_secret) == 0)
				break;
		if (i == plan->secrets.n)
			rc = cd_decode_error(dec, cd_node_get(step->node, "stdin_secret"),
				"%s: stdin_secret '%s' is not declared in secrets", cd_decode_where(dec),
				r->stdin_secret);
	}
	return rc;
}

static void run_describe(const struct cd_step *step, struct cd_buf *out)
{
	const struct cd_step_run *r = step->args;
	cd_buf_adds(out, r->migration ? "migrate: " : "run ");
	cd_step_describe_cmd(&r->command, out);
	if (r->in)
		cd_buf_addf(out, " in %s", r->in);
	else if (r->image)
		cd_buf_addf(out, " in a new %s container", r->image);
	else if (step->target)
		cd_buf_addf(out, " on %s", step->target);
	else
		cd_buf_adds(out, " locally");
	if (r->undo.argv.n) {
		cd_buf_adds(out, "; undo: ");
		cd_step_describe_cmd(&r->undo, out);
	}
}

static const char *run_name(struct cd_arena *arena, const struct cd_step *step)
{
	const struct cd_step_run *r = step->args;
	if (!r->command.argv.n)
		return NULL;
	/* The program's name, without its directory: "alembic", "pg_dump". */
	const char *prog = r->command.argv.v[0];
	if (!r->command.shell) {
		const char *slash = strrchr(prog, '/');
		if (slash && slash[1])
			prog = slash + 1;
	} else {
		return cd_arena_strdup(arena, r->migration ? "migrate" : "run");
	}
	char *s = cd_xasprintf("%s-%s", r->migration ? "migrate" : "run", prog);
	const char *name = cd_arena_strdup(arena, s);
	free(s);
	return name;
}

const struct cd_step_kind cd_step_kind_run = {
	.name = "run",
	.main = { .key = "run", .flags = CD_FIELD_REQUIRED, .type = CD_T_CMD, .offset = offsetof(struct cd_step_run, command) },
	.schema = &run_schema,
	.validate = run_validate,
	.resolve = run_resolve,
	.describe = run_describe,
	.default_name = run_name,
};
