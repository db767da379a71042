/*
 * lock: who holds a plan's deploy lock. The lock is an flock the kernel
 * frees when its holder dies, so it cannot go stale; `release` only clears
 * the note a dead holder left, and refuses while a run is alive.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "corpdeploy/engine.h"
#include "corpdeploy/log.h"
#include "corpdeploy/plan.h"

static int cmd_lock_exec(int argc, char **argv)
{
	int done = cd_cmd_simple_options(&cd_cmd_lock_entry, argc, argv, NULL);
	if (done >= 0)
		return done;
	if (optind != argc - 2 || (strcmp(argv[optind], "status") != 0 &&
					  strcmp(argv[optind], "release") != 0))
		return cd_cmd_usage_error(&cd_cmd_lock_entry, "expected 'status PLAN' or 'release PLAN'");
	int release = strcmp(argv[optind], "release") == 0;

	struct cd_diags diags = CD_DIAGS_INIT;
	struct cd_plan *plan = NULL;
	struct cd_plan_opts opts = { .flags = CD_PLAN_LOAD_OFFLINE };
	int r = cd_plan_load(argv[optind + 1], &opts, &diags, &plan);
	if (r < 0)
		cd_log_diags(&diags);
	cd_diags_release(&diags);
	if (r < 0)
		return CD_EXIT_USAGE;

	struct cd_error err = CD_ERROR_INIT;
	struct cd_lock *lock = NULL;
	char *owner = NULL;
	int code = CD_EXIT_OK;
	if (!release) {
		if (cd_lock_status(plan, &owner, &err) < 0) {
			cd_log_cd_error(&err);
			code = CD_EXIT_PRECHECK;
		} else if (owner) {
			cd_out("locked by %s\n", owner);
			code = CD_EXIT_LOCKED;
		} else {
			cd_out("not locked\n");
		}
	} else if (cd_lock_acquire(plan, "lock-release", &lock, &err) < 0) {
		/* Held by a live run: that is not ours to break. */
		cd_log_cd_error(&err);
		code = err.code == CD_ELOCKED ? CD_EXIT_LOCKED : CD_EXIT_PRECHECK;
	} else {
		cd_lock_release(lock);
		cd_out("not locked\n");
	}
	free(owner);
	cd_error_release(&err);
	cd_plan_free(plan);
	return code;
}

const struct cd_cmd_entry cd_cmd_lock_entry = {
	.name = "lock",
	.usage = "status|release PLAN",
	.summary = "Show who holds the plan's deploy lock.",
	.help = "The lock is freed by the kernel when the run holding it ends, however it ends\n"
		"(even kill -9), so it never goes stale. 'release' clears the note a dead run\n"
		"left and refuses while a run is alive.\n"
		"\nexit status: 0 not locked, 3 locked (the holder is printed)\n",
	.exec = cmd_lock_exec,
};
