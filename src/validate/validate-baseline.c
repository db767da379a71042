/*
 * Baselines: the validation metrics of the last release that passed, kept
 * under <state dir>/baselines/ as latest.json and <release>.json. Only a
 * successful run writes them (cd_validate_save_baseline from `up`), so a
 * failed release never becomes the yardstick of the next one.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "corpdeploy/engine.h"
#include "corpdeploy/log.h"
#include "corpdeploy/steps.h"
#include "corpdeploy/validate.h"

#define BASELINE_MAX (4 * 1024 * 1024)

static char *baseline_dir(const struct cd_plan *plan)
{
	char *state = cd_engine_state_dir(plan);
	char *dir = cd_xasprintf("%s/baselines", state);
	free(state);
	return dir;
}

int cd_baseline_load(const struct cd_plan *plan, cJSON **ret, struct cd_error *err)
{
	char *dir = baseline_dir(plan);
	char *path = cd_xasprintf("%s/latest.json", dir);
	free(dir);
	*ret = NULL;
	FILE *f = fopen(path, "re");
	if (!f) {
		int r = errno == ENOENT ? 0 : cd_error_set_errno(err, errno, "cannot read baseline '%s'", path);
		free(path);
		return r;
	}
	struct cd_buf b;
	cd_buf_init(&b, BASELINE_MAX);
	char chunk[8192];
	size_t n;
	int r = 0;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (cd_buf_add(&b, chunk, n) < 0) {
			r = cd_error_set(err, CD_EIO, "baseline '%s' is larger than 4 MiB", path);
			break;
		}
	fclose(f);
	if (r == 0) {
		cJSON *doc = cJSON_Parse(b.buf ? b.buf : "");
		if (!doc || !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(doc, "metrics"))) {
			cJSON_Delete(doc);
			r = cd_error_set(err, CD_EIO, "baseline '%s' is not a baseline (JSON with metrics)",
				path);
		} else {
			*ret = doc;
		}
	}
	cd_buf_release(&b);
	free(path);
	return r;
}

void cd_baseline_free(cJSON *baseline)
{
	cJSON_Delete(baseline);
}

double cd_baseline_metric(const cJSON *baseline, const char *step, const char *metric)
{
	if (!baseline)
		return -1;
	char *key = cd_xasprintf("%s.%s", step, metric);
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(baseline, "metrics"), key);
	free(key);
	return cJSON_IsNumber(m) ? m->valuedouble : -1;
}

const char *cd_baseline_release(const cJSON *baseline)
{
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(baseline, "release");
	return cJSON_IsString(r) ? r->valuestring : "";
}

static void add_metric(cJSON *metrics, const char *step, const char *name, double v)
{
	char *key = cd_xasprintf("%s.%s", step, name);
	cJSON_AddNumberToObject(metrics, key, v);
	free(key);
}

static double number_of(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* The metrics a step's details hold, by kind; 1 when it had any. */
static int metrics_of_step(cJSON *metrics, const struct cd_step_result *res)
{
	const char *kind = res->step->kind->name, *name = res->step->name;
	const cJSON *d = res->details;
	if (!d || res->result != CD_RESULT_OK)
		return 0;
	if (strcmp(kind, "load") == 0) {
		static const char *const keys[] = { "p50_ms", "p90_ms", "p99_ms", "max_ms", "qps" };
		for (size_t i = 0; i < CD_ARRAY_SIZE(keys); i++)
			add_metric(metrics, name, keys[i], number_of(d, keys[i]));
		double requests = number_of(d, "requests");
		add_metric(metrics, name, "error_rate",
			requests > 0 ? 100.0 * number_of(d, "errors") / requests : 0);
		return 1;
	}
	if (strcmp(kind, "smoke") == 0) {
		double passed = number_of(d, "passed"), failed = number_of(d, "failed");
		add_metric(metrics, name, "success_rate",
			passed + failed > 0 ? 100.0 * passed / (passed + failed) : 0);
		return 1;
	}
	if (strcmp(kind, "security") == 0) {
		add_metric(metrics, name, "score", number_of(d, "score"));
		return 1;
	}
	return 0;
}

static int write_atomically(const char *path, const char *text, struct cd_error *err)
{
	char *tmp = cd_xasprintf("%s.tmp", path);
	int r = 0;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = cd_error_set_errno(err, errno, "cannot write '%s'", tmp);
		goto done;
	}
	size_t len = strlen(text), off = 0;
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			r = cd_error_set_errno(err, errno, "cannot write '%s'", tmp);
			break;
		}
		off += (size_t)w;
	}
	if (r == 0 && fsync(fd) < 0)
		r = cd_error_set_errno(err, errno, "cannot write '%s'", tmp);
	close(fd);
	if (r == 0 && rename(tmp, path) < 0)
		r = cd_error_set_errno(err, errno, "cannot rename '%s' to '%s'", tmp, path);
	if (r < 0)
		unlink(tmp);
done:
	free(tmp);
	return r;
}

int cd_validate_save_baseline(const struct cd_run *run, struct cd_error *err)
{
	const struct cd_plan *plan = run->plan;
	cJSON *doc = cJSON_CreateObject();
	cJSON *metrics = cJSON_CreateObject();
	int any = 0, r = 0;
	char *dir = NULL, *text = NULL;

	for (size_t i = 0; i < run->n_steps; i++)
		any |= metrics_of_step(metrics, &run->steps[i]);
	if (!any) {
		cJSON_Delete(metrics);
		goto done;
	}
	const char *release = plan->release ? plan->release : "unknown";
	cJSON_AddStringToObject(doc, "release", release);
	cJSON_AddStringToObject(doc, "stored_at", run->started_at);
	cJSON_AddStringToObject(doc, "run_id", run->run_id);
	cJSON_AddItemToObject(doc, "metrics", metrics);
	if (!(text = cJSON_Print(doc)))
		cd_oom();
	dir = baseline_dir(plan);
	if ((r = cd_engine_mkdirs(dir, 0700, err)) < 0)
		goto done;
	/* A release id is a git sha or the plan's literal: keep it a plain file name. */
	char *safe = cd_xstrdup(release);
	for (char *s = safe; *s; s++)
		if (*s == '/' || (s == safe && *s == '.'))
			*s = '_';
	char *path = cd_xasprintf("%s/%s.json", dir, safe);
	free(safe);
	r = write_atomically(path, text, err);
	free(path);
	if (r == 0) {
		path = cd_xasprintf("%s/latest.json", dir);
		r = write_atomically(path, text, err);
		free(path);
	}
done:
	if (text)
		cJSON_free(text);
	cJSON_Delete(doc);
	free(dir);
	return r;
}

void cd_validate_after_run(const struct cd_run *run, int succeeded)
{
	if (run->downtime) {
		const cJSON *d = run->downtime;
		char gap[32], first[32];
		double first_new = number_of(d, "first_good_new_ms");
		cd_log_info("downtime: %.0f probes of %s, %.0f failed, longest gap %s%s%s",
			number_of(d, "probes"), cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "url")),
			number_of(d, "failed"),
			cd_duration_format((int64_t)number_of(d, "longest_gap_ms"), gap, sizeof(gap)),
			first_new >= 0 ? "; the new release answered after " : "",
			first_new >= 0 ? cd_duration_format((int64_t)first_new, first, sizeof(first)) : "");
	}
	if (!succeeded)
		return;
	struct cd_error err = CD_ERROR_INIT;
	if (cd_validate_save_baseline(run, &err) < 0)
		cd_log_warn("%s: the baseline of this release was not stored", err.msg);
	cd_error_release(&err);
}
