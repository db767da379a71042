/*
 * backup: archive files (local, on a host, or inside a service's container)
 * or dump a database before the release changes anything it can't undo.
 */
#include <stddef.h>

#include "corpdeploy/backup.h"
#include "corpdeploy/steps.h"

static const char *const backup_types[] = { "files", "database", NULL };

static const struct cd_field backup_fields[] = {
	{ .key = "paths", .type = CD_T_STRV, .offset = offsetof(struct cd_step_backup, paths) },
	{ .key = "service", .type = CD_T_NAME, .offset = offsetof(struct cd_step_backup, service) },
	{ .key = "dump", .type = CD_T_CMD, .offset = offsetof(struct cd_step_backup, dump) },
	{ .key = "restore", .type = CD_T_CMD, .offset = offsetof(struct cd_step_backup, restore) },
	{ .key = "upload", .type = CD_T_BOOL, .offset = offsetof(struct cd_step_backup, upload),
		.def = "false" },
	{ .key = "keep", .type = CD_T_INT, .offset = offsetof(struct cd_step_backup, keep),
		.def = "5", .min = 1, .max = 1000 },
	{ .key = "env", .type = CD_T_MAP, .offset = offsetof(struct cd_step_backup, env) },
	{ 0 },
};

static const struct cd_schema backup_schema = {
	.what = "backup",
	.size = sizeof(struct cd_step_backup),
	.fields = backup_fields,
};

static int backup_validate(struct cd_decoder *dec, const struct cd_node *map, void *args)
{
	struct cd_step_backup *b = args;
	if (b->type == CD_BACKUP_FILES) {
		if (!b->paths.n)
			return cd_decode_error(dec, map, "%s: a files backup needs 'paths'",
				cd_decode_where(dec));
		if (cd_node_get(map, "dump") || cd_node_get(map, "restore"))
			return cd_decode_error(dec, map,
				"%s: 'dump' and 'restore' belong to a database backup",
				cd_decode_where(dec));
	}
	if (b->type == CD_BACKUP_DATABASE) {
		if (!b->dump.argv.n || !b->restore.argv.n)
			return cd_decode_error(dec, map,
				"%s: a database backup needs both 'dump' and 'restore' commands",
				cd_decode_where(dec));
		if (b->paths.n)
			return cd_decode_error(dec, cd_node_get(map, "paths"),
				"%s: 'paths' belongs to a files backup", cd_decode_where(dec));
	}
	return 0;
}

static int backup_resolve(struct cd_decoder *dec, const struct cd_plan *plan, struct cd_step *step)
{
	const struct cd_step_backup *b = step->args;
	int rc = cd_step_require_service(dec, plan, b->service, cd_node_get(step->node, "service"),
		"service");
	/* A warning, so that plans written before backup_storage still load; `up` refuses the step. */
	if (b->upload == 1 && !plan->backup_storage)
		cd_decode_warning(dec, cd_node_get(step->node, "upload"),
			"%s: 'upload: true' needs the plan's backup_storage; the step will fail without it",
			cd_decode_where(dec));
	return rc;
}

static void backup_describe(const struct cd_step *step, struct cd_buf *out)
{
	const struct cd_step_backup *b = step->args;
	if (b->type == CD_BACKUP_FILES) {
		cd_buf_adds(out, "back up files ");
		cd_step_describe_strv(&b->paths, ", ", out);
	} else {
		cd_buf_adds(out, "dump database with ");
		cd_step_describe_cmd(&b->dump, out);
	}
	if (b->service)
		cd_buf_addf(out, " in %s", b->service);
	if (b->upload == 1)
		cd_buf_adds(out, ", upload off-site");
}

static const char *backup_name(struct cd_arena *arena, const struct cd_step *step)
{
	const struct cd_step_backup *b = step->args;
	if (b->type < 0)
		return NULL;
	return cd_arena_strdup(arena, b->type == CD_BACKUP_FILES ? "backup-files" : "backup-database");
}

const struct cd_step_kind cd_step_kind_backup = {
	.name = "backup",
	.main = { .key = "backup", .flags = CD_FIELD_REQUIRED, .type = CD_T_ENUM, .offset = offsetof(struct cd_step_backup, type),
		.sub = backup_types },
	.schema = &backup_schema,
	.validate = backup_validate,
	.resolve = backup_resolve,
	.describe = backup_describe,
	.default_name = backup_name,
	.apply = cd_backup_step_apply,
};
