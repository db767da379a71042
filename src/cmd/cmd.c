/*
 * The sorted table of commands and what every command shares: finding one
 * by name, printing its help, and reporting a usage error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "corpdeploy/log.h"
#include "corpdeploy/plan.h"

const struct cd_cmd_entry *const cd_cmd_table[] = {
	&cd_cmd_backup_entry,
	&cd_cmd_backups_entry,
	&cd_cmd_help_entry,
	&cd_cmd_history_entry,
	&cd_cmd_lint_entry,
	&cd_cmd_lock_entry,
	&cd_cmd_plan_entry,
	&cd_cmd_report_entry,
	&cd_cmd_restore_entry,
	&cd_cmd_resume_entry,
	&cd_cmd_rollback_entry,
	&cd_cmd_status_entry,
	&cd_cmd_trust_entry,
	&cd_cmd_up_entry,
	&cd_cmd_validate_entry,
	&cd_cmd_version_entry,
};
const size_t cd_cmd_table_count = CD_ARRAY_SIZE(cd_cmd_table);

const struct cd_cmd_entry *cd_cmd_find(const char *name)
{
	for (size_t i = 0; i < cd_cmd_table_count; i++)
		if (strcmp(cd_cmd_table[i]->name, name) == 0)
			return cd_cmd_table[i];
	return NULL;
}

void cd_cmd_print_help(const struct cd_cmd_entry *e)
{
	cd_out("usage: corpdeploy %s %s\n\n%s\n", e->name, e->usage, e->summary);
	if (e->help)
		cd_out("\n%s", e->help);
}

int cd_cmd_usage_error(const struct cd_cmd_entry *e, const char *fmt, ...)
{
	struct cd_buf b = CD_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	cd_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	cd_log_error("%s: %s", e->name, b.buf);
	cd_log_error("usage: corpdeploy %s %s (see 'corpdeploy %s --help')", e->name, e->usage,
		e->name);
	cd_buf_release(&b);
	return CD_EXIT_USAGE;
}

struct cd_plan *cd_cmd_load_plan(const char *path, unsigned flags)
{
	struct cd_diags diags = CD_DIAGS_INIT;
	struct cd_plan_opts opts = { .flags = flags };
	struct cd_plan *plan = NULL;
	int r = cd_plan_load(path, &opts, &diags, &plan);
	cd_log_diags(&diags);
	cd_diags_release(&diags);
	return r < 0 ? NULL : plan;
}

struct cd_plan *cd_cmd_load_plan_to_read(const char *path)
{
	struct cd_diags diags = CD_DIAGS_INIT;
	struct cd_plan_opts opts = { .flags = CD_PLAN_LOAD_OFFLINE };
	struct cd_plan *plan = NULL;
	int r = cd_plan_load(path, &opts, &diags, &plan);
	if (r < 0)
		cd_log_diags(&diags);
	cd_diags_release(&diags);
	return r < 0 ? NULL : plan;
}

int cd_cmd_simple_options(const struct cd_cmd_entry *e, int argc, char **argv, int *json)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	if (json)
		*json = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (c == 'h') {
			cd_cmd_print_help(e);
			return CD_EXIT_OK;
		}
		if (c == 'j' && json) {
			*json = 1;
			continue;
		}
		return cd_cmd_usage_error(e, "unknown option");
	}
	return -1;
}
