/*
 * The end of every `up` run, however it ended: the report written into
 * the run's directory (and the plan's report.dir), then the notifications.
 * Neither can change the run's outcome or exit code; their failures are
 * warnings.
 */
#include <cjson/cJSON.h>
#include <stdlib.h>

#include "cmd.h"
#include "corpdeploy/engine.h"
#include "corpdeploy/log.h"
#include "corpdeploy/report.h"

static void print_note(int warn, const char *line)
{
	if (warn)
		cd_log_warn("%s", line);
	else
		cd_log_info("%s", line);
}

void cd_cmd_up_report(const struct cd_run *run, const struct cd_report_input *in,
	const char *run_dir)
{
	struct cd_error err = CD_ERROR_INIT;
	char *json_path = NULL;
	cJSON *report = cd_report_build(run, in);
	if (cd_report_write(run->plan, report, run_dir, &json_path, &err) < 0)
		cd_log_warn("%s", err.msg);
	if (json_path)
		cd_log_info("report: %s (render again with: corpdeploy report %s %s --format html)",
			json_path, run->plan->path, run->run_id);
	cd_error_release(&err);
	cd_notify_run_end(run->plan, report, print_note);
	free(json_path);
	cJSON_Delete(report);
}
