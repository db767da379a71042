/*
 * status: what runs now for a plan, read from the engines' labels: each
 * service's container, image, release, health and uptime.
 */
#include <getopt.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "corpdeploy/docker.h"
#include "corpdeploy/log.h"
#include "corpdeploy/plan.h"

/* Seconds since an engine time stamp like 2026-11-28T11:44:26.011308526Z; -1 if unknown. */
static long long age_seconds(const char *stamp)
{
	struct tm tm = { 0 };
	if (!stamp || !strptime(stamp, "%Y-%m-%dT%H:%M:%S", &tm) || tm.tm_year < 100)
		return -1;
	time_t t = timegm(&tm);
	return (long long)(time(NULL) - t);
}

static int cmd_status_exec(int argc, char **argv)
{
	int json = 0, code = CD_EXIT_OK;
	int done = cd_cmd_simple_options(&cd_cmd_status_entry, argc, argv, &json);
	if (done >= 0)
		return done;
	if (optind != argc - 1)
		return cd_cmd_usage_error(&cd_cmd_status_entry, "expected one plan");

	struct cd_diags diags = CD_DIAGS_INIT;
	struct cd_plan *plan = NULL;
	struct cd_plan_opts opts = { .flags = CD_PLAN_LOAD_OFFLINE };
	int r = cd_plan_load(argv[optind], &opts, &diags, &plan);
	for (size_t i = 0; i < diags.n; i++)
		if (diags.items[i].severity == CD_SEV_ERROR) {
			cd_log_diags(&diags);
			break;
		}
	cd_diags_release(&diags);
	if (r < 0)
		return CD_EXIT_USAGE;

	cJSON *arr = json ? cJSON_CreateArray() : NULL;
	/* Rows first, then columns as wide as their widest cell. */
	enum { NCOL = 7 };
	char **rows = NULL;
	size_t nrows = 0;
	size_t width[NCOL] = { 0 };
	static const char *const heads[NCOL] = { "SERVICE", "CONTAINER", "IMAGE", "RELEASE", "STATE",
		"HEALTH", "UP" };
	rows = cd_xreallocarray(rows, NCOL, sizeof(char *));
	for (size_t k = 0; k < NCOL; k++)
		rows[k] = cd_xstrdup(heads[k]);
	nrows = 1;
	char *label = cd_xasprintf("corpdeploy.plan=%s", plan->name);
	const char *filters[] = { label, NULL };
	for (size_t t = 0; t < plan->targets.n; t++) {
		const struct cd_target *tg = CD_LIST_AT(&plan->targets, struct cd_target, t);
		struct cd_error err = CD_ERROR_INIT;
		struct cd_docker *d = NULL;
		struct cd_docker_container *list = NULL;
		size_t n = 0;
		if (tg->kind != CD_TARGET_DOCKER)
			continue;
		if (cd_docker_open(tg->docker, &d, &err) < 0 ||
			cd_docker_container_list(d, filters, &list, &n, &err) < 0) {
			cd_log_error("target '%s': %s", tg->name, err.msg);
			code = CD_EXIT_PRECHECK;
		}
		for (size_t i = 0; i < n; i++) {
			/* The list lacks start times and health: ask for each container. */
			struct cd_docker_container full;
			int have_full = cd_docker_container_inspect(d, list[i].id, &full, NULL) == 0;
			const struct cd_docker_container *k = have_full ? &full : &list[i];
			const char *svc = cd_docker_container_label(k, "corpdeploy.service");
			const char *rel = cd_docker_container_label(k, "corpdeploy.release");
			const char *img = cd_docker_container_label(k, "corpdeploy.image");
			long long up = k->running ? age_seconds(k->started_at) : -1;
			char ub[32] = "-";
			if (up >= 0)
				cd_duration_format(up * 1000, ub, sizeof(ub));
			if (json) {
				cJSON *o = cJSON_CreateObject();
				if (!o)
					cd_oom();
				cJSON_AddStringToObject(o, "service", svc ? svc : "");
				cJSON_AddStringToObject(o, "container", k->name);
				cJSON_AddStringToObject(o, "id", k->id);
				cJSON_AddStringToObject(o, "image", img ? img : k->image);
				cJSON_AddStringToObject(o, "image_id", k->image_id ? k->image_id : "");
				cJSON_AddStringToObject(o, "release", rel ? rel : "");
				cJSON_AddStringToObject(o, "state", k->status);
				if (k->health)
					cJSON_AddStringToObject(o, "health", k->health);
				cJSON_AddNumberToObject(o, "uptime_s", (double)up);
				cJSON_AddStringToObject(o, "target", tg->name);
				cJSON_AddItemToArray(arr, o);
			} else {
				const char *cells[NCOL] = { svc ? svc : "?", k->name, img ? img : k->image,
					rel ? rel : "?", k->status, k->health ? k->health : "-", ub };
				rows = cd_xreallocarray(rows, (nrows + 1) * NCOL, sizeof(char *));
				for (size_t j = 0; j < NCOL; j++)
					rows[nrows * NCOL + j] = cd_xstrdup(cells[j]);
				nrows++;
			}
			if (have_full)
				cd_docker_container_release(&full);
		}
		cd_docker_container_list_free(list, n);
		cd_docker_free(d);
		cd_error_release(&err);
	}
	for (size_t i = 0; i < nrows * NCOL; i++)
		if (strlen(rows[i]) > width[i % NCOL])
			width[i % NCOL] = strlen(rows[i]);
	for (size_t i = 0; !json && i < nrows; i++)
		for (size_t j = 0; j < NCOL; j++)
			cd_out("%-*s%s", j + 1 < NCOL ? (int)width[j] : 0, rows[i * NCOL + j],
				j + 1 < NCOL ? "  " : "\n");
	for (size_t i = 0; i < nrows * NCOL; i++)
		free(rows[i]);
	free(rows);
	if (json) {
		char *s = cJSON_Print(arr);
		if (!s)
			cd_oom();
		cd_out("%s\n", s);
		free(s);
		cJSON_Delete(arr);
	}
	free(label);
	cd_plan_free(plan);
	return code;
}

const struct cd_cmd_entry cd_cmd_status_entry = {
	.name = "status",
	.usage = "[--json] PLAN",
	.summary = "List the plan's containers that exist now, with release and health.",
	.help = "options:\n"
		"  --json   print one JSON array\n",
	.exec = cmd_status_exec,
};
