/*
 * Migrations tied to the release. A run step marked as a migration records
 * the schema version before it runs and pushes one undo record that knows
 * both ways back: the step's down command, and this run's database dump
 * (the last `backup: database` step before the migration in the plan).
 * Rollback tries the down command first, since it keeps data written since
 * the dump; when it fails or there is none, the dump is restored. Which of
 * the two happened goes into the step's details and the progress output.
 *
 * The undo data holds names and paths only, never environment values: the
 * restore command's env (a database password) is looked up in the plan
 * when the undo runs, so the journal on disk holds no secret of ours.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "corpdeploy/backup.h"
#include "corpdeploy/engine.h"
#include "corpdeploy/steps.h"
#include "backup-internal.h"

#define RESTORE_TIMEOUT_MS (3600 * 1000)

/* The last database backup step before `until` in the plan's order, or NULL. */
static const struct cd_step *dump_before(const struct cd_plan *plan, const struct cd_step *until)
{
	const struct cd_step *found = NULL;
	for (size_t p = 0; p < plan->phases.n; p++) {
		const struct cd_phase *ph = plan->phases.items[p];
		for (size_t s = 0; s < ph->steps.n; s++) {
			const struct cd_step *st = ph->steps.items[s];
			if (st == until)
				return found;
			if (strcmp(st->kind->name, "backup") == 0 &&
				((const struct cd_step_backup *)st->args)->type == CD_BACKUP_DATABASE)
				found = st;
		}
	}
	return found;
}

/* A first migration has no version before it: its query printed nothing. */
void cd_migration_resolve_previous(cJSON *down_record, const char *version_before)
{
	static const char var[] = "${previous.migration";
	cJSON *a;
	cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(down_record, "argv")) {
		if (!cJSON_IsString(a) || !strstr(a->valuestring, var))
			continue;
		struct cd_buf b = CD_BUF_INIT;
		const char *p = a->valuestring, *hit;
		while ((hit = strstr(p, var))) {
			const char *after = hit + sizeof(var) - 1, *close = strchr(after, '}');
			if (!close || (after != close && strncmp(after, ":-", 2) != 0)) {
				/* Another name that merely begins the same way: kept as written. */
				cd_buf_add(&b, p, (size_t)(after - p));
				p = after;
				continue;
			}
			cd_buf_add(&b, p, (size_t)(hit - p));
			if (*version_before || after == close)
				cd_buf_adds(&b, version_before);
			else
				cd_buf_add(&b, after + 2, (size_t)(close - after - 2));
			p = close + 1;
		}
		cd_buf_adds(&b, p);
		cJSON_SetValuestring(a, b.buf);
		cd_buf_release(&b);
	}
}

cJSON *cd_migration_undo_data(struct cd_step_ctx *ctx, const char *version_before,
	cJSON *down_record)
{
	if (down_record)
		cd_migration_resolve_previous(down_record, version_before ? version_before : "");
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "step", ctx->step->name);
	cJSON_AddStringToObject(d, "version_before", version_before ? version_before : "");
	if (down_record)
		cJSON_AddItemToObject(d, "down", down_record);
	else
		cJSON_AddNullToObject(d, "down");
	const struct cd_step *b = dump_before(ctx->run->plan, ctx->step);
	if (b) {
		char *path = cd_backup_archive_path(ctx->run->plan, ctx->run->run_id, b->name);
		cJSON_AddStringToObject(d, "backup_step", b->name);
		cJSON_AddStringToObject(d, "archive", path);
		free(path);
	} else {
		cJSON_AddNullToObject(d, "backup_step");
		cJSON_AddNullToObject(d, "archive");
	}
	return d;
}

cJSON *cd_migration_details(int exit_code, const char *version_before, const char *version_after)
{
	cJSON *d = cJSON_CreateObject();
	cJSON_AddNumberToObject(d, "exit", exit_code);
	cJSON *m = cJSON_AddObjectToObject(d, "migration");
	cJSON_AddStringToObject(m, "version_before", version_before ? version_before : "");
	cJSON_AddStringToObject(m, "version_after", version_after ? version_after : "");
	cJSON_AddStringToObject(m, "rollback", "none");
	return d;
}

/*
 * The version is what the down command gets back as ${previous.migration},
 * so only the identifier counts: `alembic current` prints "ae1027a6acf
 * (head)", and `alembic downgrade "ae1027a6acf (head)"` is refused.
 */
char *cd_migration_version(const char *output)
{
	const char *end = output + strlen(output);
	while (end > output && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	const char *start = end;
	while (start > output && start[-1] != '\n')
		start--;
	while (start < end && (*start == ' ' || *start == '\t'))
		start++;
	size_t len = strcspn(start, " \t\r\n");
	return cd_xstrndup(start, len < (size_t)(end - start) ? len : (size_t)(end - start));
}

/* Writes how the migration was taken back into its step's details, for the report. */
static void record_rollback(struct cd_run *run, const char *step, const char *how)
{
	pthread_mutex_lock(&run->lock);
	for (size_t i = 0; i < run->n_steps; i++) {
		if (!run->steps[i].step || strcmp(run->steps[i].step->name, step) != 0)
			continue;
		cJSON *m = cJSON_GetObjectItemCaseSensitive(run->steps[i].details, "migration");
		if (m)
			cJSON_ReplaceItemInObjectCaseSensitive(m, "rollback", cJSON_CreateString(how));
	}
	pthread_mutex_unlock(&run->lock);
}

static int restore_dump(struct cd_run *run, const char *backup_step, const char *archive,
	struct cd_error *err)
{
	const struct cd_step *b = cd_plan_step(run->plan, backup_step);
	if (!b || strcmp(b->kind->name, "backup") != 0 ||
		((const struct cd_step_backup *)b->args)->type != CD_BACKUP_DATABASE)
		return cd_error_set(err, CD_EFAIL,
			"the plan no longer has the database backup step '%s' to restore from",
			backup_step);
	struct stat st;
	if (stat(archive, &st) < 0)
		return cd_error_set(err, CD_ENOTFOUND,
			"no dump to restore from: %s is missing (did '%s' run?)", archive, backup_step);
	return cd_backup_put_back(run, b, archive, RESTORE_TIMEOUT_MS, NULL, err);
}

int cd_migration_undo(struct cd_run *run, const cJSON *data, cd_migration_down_fn run_down,
	struct cd_error *err)
{
	const char *step = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(data, "step"));
	const char *before =
		cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(data, "version_before"));
	const cJSON *down = cJSON_GetObjectItemCaseSensitive(data, "down");
	const char *bstep = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(data, "backup_step"));
	const char *archive = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(data, "archive"));
	if (!step)
		return cd_error_set(err, CD_EFAIL, "the undo record of a migration names no step");
	struct cd_error derr = CD_ERROR_INIT;
	int r;
	if (cJSON_IsObject(down)) {
		if ((r = run_down(run, down, &derr)) == 0) {
			record_rollback(run, step, "down");
			cd_run_note(run, "migration '%s' taken back to version %s by its down command",
				step, before && *before ? before : "(none)");
			return 0;
		}
	} else {
		cd_error_set(&derr, CD_EFAIL, "it has no down command");
	}
	if (!bstep || !archive) {
		r = cd_error_set(err, CD_EFAIL,
			"migration '%s' cannot be taken back: %s, and no database backup step ran "
			"before it",
			step, derr.msg);
		cd_error_release(&derr);
		return r;
	}
	cd_run_note(run, "migration '%s': %s; restoring the database from this run's dump", step,
		derr.msg);
	struct cd_error rerr = CD_ERROR_INIT;
	if ((r = restore_dump(run, bstep, archive, &rerr)) == 0) {
		record_rollback(run, step, "restore");
		cd_run_note(run, "migration '%s' taken back by restoring the dump of '%s' (version %s)",
			step, bstep, before && *before ? before : "(none)");
	} else {
		r = cd_error_set(err, r, "migration '%s' cannot be taken back: %s; restoring the dump "
					 "of '%s' failed too: %s",
			step, derr.msg, bstep, rerr.msg);
	}
	cd_error_release(&derr);
	cd_error_release(&rerr);
	return r;
}
