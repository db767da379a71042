/*
 * history: the plan's kept releases (what `rollback --to` can return to) and
 * its runs, newest first, with time, duration and result, read from the
 * release history and the runs' journals. Needs no lock: it only reads.
 */
#include <dirent.h>
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
#include "corpdeploy/report.h"

static const char *jstr(const cJSON *o, const char *k)
{
	const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
	return v ? v : "";
}

static int by_name_desc(const void *a, const void *b)
{
	return strcmp(*(char *const *)b, *(char *const *)a);
}

/* One run, from its journal: {run_id, release, started_at, duration_ms, result, ...}. */
static cJSON *run_entry(const struct cd_plan *plan, const char *runs_dir, const char *id,
	const char *unfinished)
{
	char *path = cd_xasprintf("%s/%s/journal", runs_dir, id);
	struct cd_journal_state st;
	struct cd_error err = CD_ERROR_INIT;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "run_id", id);
	if (cd_journal_read(path, &st, &err) < 0) {
		cJSON_AddStringToObject(o, "result", "unreadable");
		cJSON_AddStringToObject(o, "error", err.msg);
		cd_error_release(&err);
		free(path);
		return o;
	}
	cJSON_AddStringToObject(o, "release", jstr(st.begin, "release"));
	cJSON_AddStringToObject(o, "started_at", jstr(st.begin, "started_at"));
	cJSON_AddStringToObject(o, "user", jstr(st.begin, "user"));
	cJSON_AddStringToObject(o, "host", jstr(st.begin, "host"));
	const char *result = st.outcome;
	if (!result)
		result = unfinished && strcmp(unfinished, id) == 0 ? "unfinished" : "interrupted";
	cJSON_AddStringToObject(o, "result", result);
	/* The duration is the end record's. */
	int n = cJSON_GetArraySize(st.records);
	const cJSON *last = n ? cJSON_GetArrayItem(st.records, n - 1) : NULL;
	const char *ms = jstr(last, "duration_ms");
	if (st.outcome && *ms)
		cJSON_AddNumberToObject(o, "duration_ms", atof(ms));
	cJSON_AddNumberToObject(o, "changes", (double)st.n_undo);
	char *dir = cd_xasprintf("%s/%s", runs_dir, id);
	cJSON_AddStringToObject(o, "dir", dir);
	cJSON_AddItemToObject(o, "reports", cd_report_files(plan, dir, id));
	free(dir);
	cd_journal_state_release(&st);
	free(path);
	return o;
}

static cJSON *list_runs(const struct cd_plan *plan, const char *state, int limit)
{
	char *runs_dir = cd_xasprintf("%s/runs", state);
	char *unfinished = cd_history_unfinished(state);
	cJSON *runs = cJSON_CreateArray();
	DIR *dir = opendir(runs_dir);
	char **ids = NULL;
	size_t n = 0;
	struct dirent *de;
	while (dir && (de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		ids = cd_xreallocarray(ids, n + 1, sizeof(*ids));
		ids[n++] = cd_xstrdup(de->d_name);
	}
	if (dir)
		closedir(dir);
	/* Run ids begin with their UTC start time: by name is by time. */
	qsort(ids, n, sizeof(*ids), by_name_desc);
	for (size_t i = 0; i < n; i++) {
		if ((int)i < limit)
			cJSON_AddItemToArray(runs, run_entry(plan, runs_dir, ids[i], unfinished));
		free(ids[i]);
	}
	free(ids);
	free(unfinished);
	free(runs_dir);
	return runs;
}

/*
 * Where to read about a run: its report for people (Markdown, else HTML, else
 * JSON) and the other formats beside it, or the run's directory when it
 * wrote none (a run that was interrupted).
 */
static void print_reports(const cJSON *run)
{
	static const char *const for_people[] = { "markdown", "html", "json", "junit" };
	const cJSON *reports = cJSON_GetObjectItemCaseSensitive(run, "reports");
	const char *main_path = NULL, *main_format = NULL;
	struct cd_buf others = CD_BUF_INIT;
	for (size_t i = 0; i < CD_ARRAY_SIZE(for_people); i++) {
		const char *path = cJSON_GetStringValue(
			cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(reports, for_people[i]), 0));
		if (!path)
			continue;
		if (!main_path) {
			main_path = path;
			main_format = for_people[i];
		} else {
			cd_buf_addf(&others, "%s%s", others.len ? ", " : "", for_people[i]);
		}
	}
	if (main_path)
		cd_out("      %s report: %s%s%s%s\n", main_format, main_path,
			others.len ? "  (also " : "", others.len ? others.buf : "", others.len ? " beside it)" : "");
	else
		cd_out("      no report; run directory: %s\n", jstr(run, "dir"));
	cd_buf_release(&others);
}

static void print_text(const cJSON *releases, const cJSON *runs)
{
	const cJSON *e;
	int n = cJSON_GetArraySize(releases), i = 0;
	cd_out("releases kept for rollback (newest first):\n");
	if (!n)
		cd_out("  none yet\n");
	for (i = n - 1; i >= 0; i--) {
		e = cJSON_GetArrayItem(releases, i);
		cd_out("  %-20s deployed %s by run %s, %d service%s%s\n", jstr(e, "release"),
			jstr(e, "deployed_at"), jstr(e, "run_id"),
			cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(e, "services")),
			cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(e, "services")) == 1 ? "" : "s",
			i == n - 1 ? "  (current)" : "");
	}
	cd_out("\nruns (newest first):\n");
	if (!cJSON_GetArraySize(runs))
		cd_out("  none yet\n");
	cJSON_ArrayForEach(e, runs) {
		char d[32] = "-";
		const cJSON *ms = cJSON_GetObjectItemCaseSensitive(e, "duration_ms");
		if (cJSON_IsNumber(ms))
			cd_duration_format((int64_t)ms->valuedouble, d, sizeof(d));
		cd_out("  %-24s %-20s %-20s %8s  %s\n", jstr(e, "run_id"), jstr(e, "started_at"),
			jstr(e, "release"), d, jstr(e, "result"));
		print_reports(e);
	}
}

static int cmd_history_exec(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "limit", required_argument, NULL, 'n' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *state_dir = NULL;
	int json = 0, limit = 20, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "hn:", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; break;
		case 'n':
			limit = atoi(optarg);
			if (limit <= 0)
				return cd_cmd_usage_error(&cd_cmd_history_entry,
					"--limit takes a positive number, not '%s'", optarg);
			break;
		case 's': state_dir = optarg; break;
		case 'h': cd_cmd_print_help(&cd_cmd_history_entry); return CD_EXIT_OK;
		default: return cd_cmd_usage_error(&cd_cmd_history_entry, "unknown option");
		}
	}
	if (optind != argc - 1)
		return cd_cmd_usage_error(&cd_cmd_history_entry, "expected one plan");

	struct cd_plan *plan = cd_cmd_load_plan_to_read(argv[optind]);
	if (!plan)
		return CD_EXIT_USAGE;
	if (state_dir)
		plan->state_dir = state_dir;
	char *state = cd_engine_state_dir(plan);
	cJSON *releases = NULL;
	struct cd_error err = CD_ERROR_INIT;
	int code = CD_EXIT_OK;
	if (cd_history_load(state, &releases, &err) < 0) {
		cd_log_cd_error(&err);
		cd_error_release(&err);
		code = CD_EXIT_PRECHECK;
	} else {
		cJSON *runs = list_runs(plan, state, limit);
		if (json) {
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "plan", plan->name);
			cJSON_AddStringToObject(o, "state_dir", state);
			/* Releases without their container specifications: those hold env values. */
			cJSON *rels = cJSON_CreateArray();
			const cJSON *e;
			cJSON_ArrayForEach(e, releases) {
				cJSON *x = cJSON_CreateObject();
				cJSON_AddStringToObject(x, "release", jstr(e, "release"));
				cJSON_AddStringToObject(x, "run_id", jstr(e, "run_id"));
				cJSON_AddStringToObject(x, "deployed_at", jstr(e, "deployed_at"));
				cJSON *svcs = cJSON_CreateObject();
				const cJSON *svc;
				cJSON_ArrayForEach(svc, cJSON_GetObjectItemCaseSensitive(e, "services"))
					cJSON_AddStringToObject(svcs, svc->string, jstr(svc, "image_id"));
				cJSON_AddItemToObject(x, "images", svcs);
				cJSON_AddItemToArray(rels, x);
			}
			cJSON_AddItemToObject(o, "releases", rels);
			cJSON_AddItemToObject(o, "runs", runs);
			char *text = cJSON_Print(o);
			cd_out("%s\n", text);
			cJSON_free(text);
			cJSON_Delete(o);
		} else {
			print_text(releases, runs);
			cJSON_Delete(runs);
		}
	}
	cJSON_Delete(releases);
	free(state);
	cd_plan_free(plan);
	return code;
}

const struct cd_cmd_entry cd_cmd_history_entry = {
	.name = "history",
	.usage = "[--json] [--limit N] [--state-dir DIR] PLAN",
	.summary = "List the releases kept for rollback and the plan's runs.",
	.help = "options:\n"
		"  --json          print JSON\n"
		"  -n, --limit N   the newest N runs (default 20)\n" CD_CMD_STATE_DIR_HELP,
	.exec = cmd_history_exec,
};
