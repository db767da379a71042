/*
 * backup: the plan's backup steps alone, in plan order, as `up` would run
 * them (same archives, same retention, same upload), without deploying.
 * Each archive lands in a run of its own; the run id is printed for
 * `restore --run`.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cmd.h"
#include "corpdeploy/backup.h"
#include "corpdeploy/engine.h"
#include "corpdeploy/log.h"
#include "corpdeploy/plan.h"
#include "corpdeploy/steps.h"

static int backup_one(struct cd_run *run, const struct cd_step *step)
{
	struct cd_step_ctx ctx = { .run = run, .step = step, .attempt = 1 };
	ctx.deadline_ms = cd_time_mono_ms() + (step->timeout_ms > 0 ? step->timeout_ms : 86400000);
	cd_buf_init(&ctx.message, 4096);
	struct cd_error err = CD_ERROR_INIT;
	int r = cd_backup_step_apply(&ctx, &err);
	if (r < 0)
		cd_log_error("backup '%s' failed: %s", step->name, err.msg);
	else
		cd_out("%s: %s\n", step->name, ctx.message.buf);
	const char *archive =
		cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ctx.details, "archive"));
	if (r == 0 && archive) /* none when there was nothing to back up */
		cd_out("  %s\n", archive);
	cd_error_release(&err);
	cd_buf_release(&ctx.message);
	cJSON_Delete(ctx.details);
	return r;
}

static int cmd_backup_exec(int argc, char **argv)
{
	int done = cd_cmd_simple_options(&cd_cmd_backup_entry, argc, argv, NULL);
	if (done >= 0)
		return done;
	if (optind != argc - 1)
		return cd_cmd_usage_error(&cd_cmd_backup_entry, "expected one PLAN");

	struct cd_plan *plan = cd_cmd_load_plan(argv[optind], 0);
	if (!plan)
		return CD_EXIT_USAGE;

	struct cd_run *run = cd_run_new(plan, NULL);
	struct cd_error err = CD_ERROR_INIT;
	struct cd_lock *lock = NULL;
	if (cd_lock_acquire(plan, run->run_id, &lock, &err) < 0) {
		cd_log_cd_error(&err);
		int code = err.code == CD_ELOCKED ? CD_EXIT_LOCKED : CD_EXIT_PRECHECK;
		cd_error_release(&err);
		cd_run_free(run);
		cd_plan_free(plan);
		return code;
	}
	size_t n = 0, failed = 0;
	for (size_t p = 0; p < plan->phases.n; p++) {
		const struct cd_phase *ph = plan->phases.items[p];
		for (size_t s = 0; s < ph->steps.n; s++) {
			const struct cd_step *st = ph->steps.items[s];
			if (strcmp(st->kind->name, "backup") != 0)
				continue;
			n++;
			if (backup_one(run, st) < 0)
				failed++;
		}
	}
	int code = CD_EXIT_OK;
	if (!n) {
		cd_log_error("%s: the plan has no backup step", plan->path);
		code = CD_EXIT_USAGE;
	} else if (failed) {
		code = CD_EXIT_ROLLED_BACK;
	} else {
		cd_out("run %s\n", run->run_id);
	}
	cd_lock_release(lock);
	cd_run_free(run);
	cd_plan_free(plan);
	return code;
}

const struct cd_cmd_entry cd_cmd_backup_entry = {
	.name = "backup",
	.usage = "PLAN",
	.summary = "Run the plan's backup steps alone.",
	.help = "Archives what the plan's backup steps name (files, database dumps) into a new\n"
		"run's directory, uploads them when the step says so, and applies retention.\n"
		"Prints each archive and the run id to give to 'restore --run'.\n"
		"\nexit status: 0 all backups taken; 1 a backup failed; 2 invalid plan or no\n"
		"backup step; 3 another run holds the plan's lock\n",
	.exec = cmd_backup_exec,
};
