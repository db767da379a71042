/*
 * lint: validate plans without touching anything. Every error of every plan
 * is reported (file:line:col), then the exit code says whether all are clean.
 * Missing secrets and env files are warnings here: CI lints without them.
 */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdlib.h>

#include "cmd.h"
#include "corpdeploy/log.h"
#include "corpdeploy/plan.h"

static cJSON *diags_json(const struct cd_diags *d)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; a && i < d->n; i++) {
		const struct cd_diag *g = &d->items[i];
		cJSON *o = cJSON_CreateObject();
		if (!o)
			cd_oom();
		cJSON_AddStringToObject(o, "severity", g->severity == CD_SEV_ERROR ? "error" : "warning");
		if (g->file)
			cJSON_AddStringToObject(o, "file", g->file);
		cJSON_AddNumberToObject(o, "line", g->line);
		cJSON_AddNumberToObject(o, "column", g->col);
		cJSON_AddStringToObject(o, "message", g->msg);
		cJSON_AddItemToArray(a, o);
	}
	if (!a)
		cd_oom();
	return a;
}

static int cmd_lint_exec(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "strict", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int json = 0, strict = 0, c, bad = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; break;
		case 's': strict = 1; break;
		case 'h': cd_cmd_print_help(&cd_cmd_lint_entry); return CD_EXIT_OK;
		default: return cd_cmd_usage_error(&cd_cmd_lint_entry, "unknown option");
		}
	}
	if (optind >= argc)
		return cd_cmd_usage_error(&cd_cmd_lint_entry, "no plan given");

	cJSON *results = json ? cJSON_CreateArray() : NULL;
	for (int i = optind; i < argc; i++) {
		struct cd_diags diags = CD_DIAGS_INIT;
		struct cd_plan *plan = NULL;
		struct cd_plan_opts opts = { .flags = CD_PLAN_LOAD_OFFLINE };
		int r = cd_plan_load(argv[i], &opts, &diags, &plan);
		int ok = r == 0 && !(strict && diags.n);
		if (!ok)
			bad = 1;
		if (json) {
			cJSON *o = cJSON_CreateObject();
			if (!o)
				cd_oom();
			cJSON_AddStringToObject(o, "file", argv[i]);
			cJSON_AddBoolToObject(o, "ok", ok);
			if (plan) {
				cJSON_AddNumberToObject(o, "services", (double)plan->services.n);
				cJSON_AddNumberToObject(o, "phases", (double)plan->phases.n);
				cJSON_AddNumberToObject(o, "steps", (double)cd_plan_step_count(plan));
			}
			cJSON_AddItemToObject(o, "diagnostics", diags_json(&diags));
			cJSON_AddItemToArray(results, o);
		} else {
			cd_log_diags(&diags);
			if (plan)
				cd_log_info("%s: ok (%zu services, %zu phases, %zu steps%s)", argv[i],
					plan->services.n, plan->phases.n, cd_plan_step_count(plan),
					diags.n ? ", with warnings" : "");
			else if (r == 0 || diags.errors)
				cd_log_info("%s: %zu error%s", argv[i], diags.errors,
					diags.errors == 1 ? "" : "s");
		}
		cd_plan_free(plan);
		cd_diags_release(&diags);
	}
	if (json) {
		char *s = cJSON_Print(results);
		if (!s)
			cd_oom();
		cd_out("%s\n", s);
		free(s);
		cJSON_Delete(results);
	}
	return bad ? CD_EXIT_USAGE : CD_EXIT_OK;
}

const struct cd_cmd_entry cd_cmd_lint_entry = {
	.name = "lint",
	.usage = "[--json] [--strict] PLAN...",
	.summary = "Check plans for errors without touching anything.",
	.help = "options:\n"
		"  --json     print the results as one JSON array\n"
		"  --strict   fail on warnings too\n"
		"\nexit status: 0 every plan is valid, 2 one or more has errors\n",
	.exec = cmd_lint_exec,
};
