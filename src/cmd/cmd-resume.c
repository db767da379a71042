/*
 * resume: carries an unfinished run (interrupted by a crash, a kill -9, or
 * stopped by --no-rollback) on from its first step not done, with the same
 * run id and journal, so that a failure later still undoes everything.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cmd.h"
#include "corpdeploy/engine.h"
#include "corpdeploy/history.h"
#include "corpdeploy/journal.h"
#include "corpdeploy/log.h"
#include "corpdeploy/plan.h"

static int cmd_resume_exec(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "state-dir", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *state_dir = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 's': state_dir = optarg; break;
		case 'h': cd_cmd_print_help(&cd_cmd_resume_entry); return CD_EXIT_OK;
		default: return cd_cmd_usage_error(&cd_cmd_resume_entry, "unknown option");
		}
	}
	if (optind != argc - 1)
		return cd_cmd_usage_error(&cd_cmd_resume_entry, "expected one plan");

	char lock_id[64];
	struct cd_cmd_session s;
	cd_cmd_new_run_id(lock_id);
	int code = cd_cmd_open_plan(argv[optind], state_dir, lock_id, &s);
	if (code != CD_EXIT_OK)
		return code;
	char *run_id = cd_history_unfinished(s.state);
	if (!run_id) {
		cd_log_info("plan '%s' has no unfinished run: nothing to resume", s.plan->name);
		cd_cmd_close_plan(&s);
		return CD_EXIT_OK;
	}
	char *dir = cd_cmd_run_dir(&s, run_id);
	char *path = cd_xasprintf("%s/journal", dir);
	struct cd_journal_state st;
	struct cd_error err = CD_ERROR_INIT;
	if (cd_journal_read(path, &st, &err) < 0) {
		cd_log_cd_error(&err);
		cd_log_error("run %s cannot be resumed; `corpdeploy rollback` may still undo it", run_id);
		code = CD_EXIT_PRECHECK;
		goto out;
	}
	if (st.torn_bytes)
		cd_log_warn("journal of run %s: its last record was cut short by the crash (%zu bytes "
			    "ignored)", run_id, st.torn_bytes);
	const char *release =
		cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(st.begin, "release"));
	if (st.rollback_started) {
		cd_log_error("run %s was being rolled back when it stopped: finish with `corpdeploy "
			     "rollback %s`", run_id, s.plan->path);
		code = CD_EXIT_LOCKED;
	} else if (!release || strcmp(release, s.plan->release) != 0) {
		cd_log_error("run %s deployed release %s, but the plan is now at release %s: roll it "
			     "back with `corpdeploy rollback %s`, then run up",
			run_id, release ? release : "?", s.plan->release, s.plan->path);
		code = CD_EXIT_PRECHECK;
	} else {
		cd_log_info("resuming run %s of release %s: %zu step%s done before", run_id, release,
			st.n_steps_done, st.n_steps_done == 1 ? "" : "s");
		code = cd_cmd_execute(&s, run_id, 1, &st);
	}
	cd_journal_state_release(&st);
out:
	cd_error_release(&err);
	free(path);
	free(dir);
	free(run_id);
	cd_cmd_close_plan(&s);
	return code;
}

const struct cd_cmd_entry cd_cmd_resume_entry = {
	.name = "resume",
	.usage = "[--state-dir DIR] PLAN",
	.summary = "Carry an interrupted run on from its first step not done.",
	.help = "options:\n" CD_CMD_STATE_DIR_HELP
		"\nThe run keeps its id and journal: if a later step fails, everything it\n"
		"changed, before and after the interruption, is rolled back.\n"
		"\nexit status: as up; 0 also when there is nothing to resume\n",
	.exec = cmd_resume_exec,
};
