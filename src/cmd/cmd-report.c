/*
 * report: render a kept run again, from its report.json alone, in any
 * format: `report PLAN RUN-ID`, `report PLAN --last`, or `report --from
 * FILE` for a report copied elsewhere. Output goes to stdout or, with -o,
 * to a file written atomically with mode 0600.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd.h"
#include "corpdeploy/engine.h"
#include "corpdeploy/log.h"
#include "corpdeploy/plan.h"
#include "corpdeploy/report.h"

static int valid_run_id(const char *id)
{
	return id[0] && id[0] != '.' && !strchr(id, '/') && strlen(id) < 64;
}

/* The run whose report.json was written last; malloc'd, or NULL when none. */
static char *last_run(const char *runs_dir)
{
	DIR *d = opendir(runs_dir);
	struct dirent *e;
	char *best = NULL;
	struct timespec best_t = { 0, 0 };
	if (!d)
		return NULL;
	while ((e = readdir(d))) {
		struct stat st;
		if (!valid_run_id(e->d_name))
			continue;
		char *p = cd_xasprintf("%s/%s/report.json", runs_dir, e->d_name);
		if (stat(p, &st) == 0 &&
			(!best || st.st_mtim.tv_sec > best_t.tv_sec ||
				(st.st_mtim.tv_sec == best_t.tv_sec && st.st_mtim.tv_nsec > best_t.tv_nsec) ||
				(st.st_mtim.tv_sec == best_t.tv_sec && st.st_mtim.tv_nsec == best_t.tv_nsec &&
					strcmp(e->d_name, best) > 0))) {
			free(best);
			best = cd_xstrdup(e->d_name);
			best_t = st.st_mtim;
		}
		free(p);
	}
	closedir(d);
	return best;
}

static int read_text(const char *path, struct cd_buf *out)
{
	FILE *f = fopen(path, "rb");
	char chunk[65536];
	size_t n;
	if (!f)
		return -1;
	cd_buf_init(out, 4u << 20);
	int r = 0;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (cd_buf_add(out, chunk, n) < 0)
			r = -1;
	fclose(f);
	return r;
}

static int cmd_report_exec(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "last", no_argument, NULL, 'l' },
		{ "from", required_argument, NULL, 'F' },
		{ "template", required_argument, NULL, 't' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *output = NULL, *from = NULL, *template_path = NULL, *state_dir = NULL;
	int format = CD_REPORT_MARKDOWN, last = 0, c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "f:o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if ((format = cd_report_format_parse(optarg)) < 0)
				return cd_cmd_usage_error(&cd_cmd_report_entry,
					"unknown format '%s' (json, md, html or junit)", optarg);
			break;
		case 'o': output = optarg; break;
		case 'l': last = 1; break;
		case 'F': from = optarg; break;
		case 't': template_path = optarg; break;
		case 's': state_dir = optarg; break;
		case 'h': cd_cmd_print_help(&cd_cmd_report_entry); return CD_EXIT_OK;
		default: return cd_cmd_usage_error(&cd_cmd_report_entry, "unknown option");
		}
	}
	int args = argc - optind;
	if (from ? args != 0 : last ? args != 1 : args != 2)
		return cd_cmd_usage_error(&cd_cmd_report_entry,
			"expected PLAN RUN-ID, PLAN --last or --from REPORT.json");

	struct cd_plan *plan = NULL;
	char *json_path = NULL, *run_id = NULL;
	int code = CD_EXIT_OK;
	if (from) {
		json_path = cd_xstrdup(from);
	} else {
		if (!(plan = cd_cmd_load_plan_to_read(argv[optind])))
			return CD_EXIT_USAGE;
		if (state_dir)
			plan->state_dir = state_dir;
		char *state = cd_engine_state_dir(plan);
		char *runs = cd_xasprintf("%s/runs", state);
		free(state);
		if (last) {
			run_id = last_run(runs);
			if (!run_id) {
				cd_log_error("no kept run of plan '%s' has a report (looked in %s)", plan->name,
					runs);
				code = CD_EXIT_USAGE;
			}
		} else if (!valid_run_id(argv[optind + 1])) {
			cd_log_error("'%s' is not a run id", argv[optind + 1]);
			code = CD_EXIT_USAGE;
		} else {
			run_id = cd_xstrdup(argv[optind + 1]);
		}
		if (run_id)
			json_path = cd_xasprintf("%s/%s/report.json", runs, run_id);
		free(runs);
	}

	cJSON *report = NULL;
	struct cd_error err = CD_ERROR_INIT;
	struct cd_buf text = CD_BUF_INIT, tmpl = CD_BUF_INIT;
	const char *tmpl_text = NULL;
	if (code == CD_EXIT_OK && cd_report_read(json_path, &report, &err) < 0) {
		if (err.code == CD_ENOTFOUND && plan)
			cd_log_error("plan '%s' has no kept run '%s' with a report (no %s)", plan->name,
				run_id, json_path);
		else
			cd_log_cd_error(&err);
		code = CD_EXIT_USAGE;
	}
	if (code == CD_EXIT_OK && format == CD_REPORT_MARKDOWN) {
		char *tp = NULL;
		if (template_path)
			tp = cd_xstrdup(template_path);
		else if (plan && plan->report && plan->report->template)
			tp = plan->report->template[0] == '/'
				? cd_xstrdup(plan->report->template)
				: cd_xasprintf("%s/%s", plan->dir, plan->report->template);
		if (tp && read_text(tp, &tmpl) < 0) {
			cd_log_error("cannot read the template %s", tp);
			code = CD_EXIT_USAGE;
		}
		tmpl_text = tp ? tmpl.buf : NULL;
		free(tp);
	}
	if (code == CD_EXIT_OK &&
		cd_report_render(report, (enum cd_report_format)format, tmpl_text, &text, &err) < 0) {
		cd_log_cd_error(&err);
		code = CD_EXIT_USAGE;
	}
	if (code == CD_EXIT_OK) {
		if (!output || strcmp(output, "-") == 0) {
			cd_out_write(text.buf, text.len);
		} else if (cd_report_write_file(output, text.buf, text.len, &err) < 0) {
			cd_log_cd_error(&err);
			code = CD_EXIT_PRECHECK;
		}
	}
	cd_error_release(&err);
	cd_buf_release(&text);
	cd_buf_release(&tmpl);
	cJSON_Delete(report);
	free(json_path);
	free(run_id);
	cd_plan_free(plan);
	return code;
}

const struct cd_cmd_entry cd_cmd_report_entry = {
	.name = "report",
	.usage = "[--format json|md|html|junit] [-o FILE] [--state-dir DIR] (PLAN RUN-ID | PLAN --last | --from REPORT.json)",
	.summary = "Render the report of a kept run again, in any format.",
	.help = "options:\n"
		"  -f, --format FORMAT  json, md (the default), html or junit\n"
		"  -o, --output FILE    write to FILE (mode 0600) instead of stdout\n"
		"      --last           the plan's most recent run that has a report\n"
		"      --from FILE      render this report.json; no plan needed\n"
		"      --template FILE  Markdown template instead of the plan's or the built-in one\n"
		"      --state-dir DIR  where the plan's runs are kept\n"
		"\nRuns are kept in the plan's state directory, runs/RUN-ID/report.json;\n"
		"corpdeploy-report(5) describes the report and the template language.\n"
		"\nexit status: 0 rendered; 2 bad usage, unknown run or unreadable report;\n"
		"4 the output file could not be written\n",
	.exec = cmd_report_exec,
};
