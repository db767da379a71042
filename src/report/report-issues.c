/*
 * Issues and warnings, derived from what the run measured. An issue is
 * something wrong (a failed step, check, threshold, a security finding);
 * a warning is something to look at (a phase over budget, a step that
 * needed retries, downtime seen by the probe). Informational security
 * findings are neither. Numbered ISSUE-001, WARN-001.
 */
#include <stdio.h>
#include <string.h>

#include "report-internal.h"

struct issues {
	cJSON *issues, *warnings;
};

static void add(cJSON *list, const char *prefix, const char *severity, const char *category,
	const char *step, const char *fmt, ...) CD_PRINTF(6, 7);
static void add(cJSON *list, const char *prefix, const char *severity, const char *category,
	const char *step, const char *fmt, ...)
{
	char id[32];
	struct cd_buf msg = CD_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	cd_buf_vaddf(&msg, fmt, ap);
	va_end(ap);
	snprintf(id, sizeof(id), "%s-%03d", prefix, cJSON_GetArraySize(list) + 1);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", id);
	if (severity)
		cJSON_AddStringToObject(o, "severity", severity);
	cJSON_AddStringToObject(o, "category", category);
	if (step)
		cJSON_AddStringToObject(o, "step", step);
	else
		cJSON_AddNullToObject(o, "step");
	cJSON_AddStringToObject(o, "message", msg.buf);
	cJSON_AddItemToArray(list, o);
	cd_buf_release(&msg);
}

static const char *nz(const char *s)
{
	return s ? s : "";
}

static void step_issues(const cJSON *st, const cJSON *phase, void *data)
{
	struct issues *is = data;
	const char *name = cd_json_str(st, "name"), *kind = nz(cd_json_str(st, "kind"));
	const char *result = nz(cd_json_str(st, "result"));
	const cJSON *d = cJSON_GetObjectItem(st, "details");
	const cJSON *it;
	(void)phase;

	if (strcmp(result, "failed") == 0) {
		if (cJSON_IsTrue(cJSON_GetObjectItem(st, "continue_on_error")))
			add(is->warnings, "WARN", NULL, kind, name, "step '%s' failed and the run went on: %s",
				nz(name), nz(cd_json_str(st, "message")));
		else
			add(is->issues, "ISSUE", "critical", kind, name, "step '%s' failed: %s", nz(name),
				nz(cd_json_str(st, "message")));
	} else if (cd_json_num(st, "attempts", 1) > 1) {
		add(is->warnings, "WARN", NULL, kind, name, "step '%s' passed after %.0f attempts", nz(name),
			cd_json_num(st, "attempts", 1));
	}
	if (strcmp(kind, "smoke") == 0) {
		cJSON_ArrayForEach(it, cJSON_GetObjectItem(d, "checks"))
			if (strcmp(nz(cd_json_str(it, "result")), "passed") != 0)
				add(is->issues, "ISSUE", "high", "smoke", name, "smoke check '%s' (%s) failed: %s",
					nz(cd_json_str(it, "name")), nz(cd_json_str(it, "category")),
					nz(cd_json_str(it, "message")));
	} else if (strcmp(kind, "load") == 0) {
		cJSON_ArrayForEach(it, cJSON_GetObjectItem(d, "thresholds"))
			if (cJSON_IsFalse(cJSON_GetObjectItem(it, "passed")))
				add(is->issues, "ISSUE", "high", "performance", name,
					"load threshold %s: measured %g, limit %g", nz(cd_json_str(it, "name")),
					cd_json_num(it, "value", 0), cd_json_num(it, "limit", 0));
		const cJSON *b = cJSON_GetObjectItem(d, "baseline");
		cJSON_ArrayForEach(it, cJSON_GetObjectItem(b, "triggers"))
			if (cJSON_IsTrue(cJSON_GetObjectItem(it, "crossed")))
				add(is->issues, "ISSUE", "high", "performance", name,
					"rollback trigger %s crossed: %g against a limit of %g",
					nz(cd_json_str(it, "name")), cd_json_num(it, "value", 0),
					cd_json_num(it, "limit", 0));
	} else if (strcmp(kind, "security") == 0) {
		cJSON_ArrayForEach(it, cJSON_GetObjectItem(d, "findings"))
		{
			/* Informational findings say what is right; they stay in the findings list. */
			const char *sev = nz(cd_json_str(it, "severity"));
			if (strcmp(sev, "info") != 0)
				add(is->issues, "ISSUE", sev, "security", name, "%s: %s",
					nz(cd_json_str(it, "check")), nz(cd_json_str(it, "message")));
		}
	}
}

void cd_report_derive_issues(cJSON *report)
{
	struct issues is = { cJSON_CreateArray(), cJSON_CreateArray() };
	const cJSON *ph, *it;

	cd_report_each_step(report, step_issues, &is);
	cJSON_ArrayForEach(ph, cJSON_GetObjectItem(report, "phases"))
	{
		if (cd_json_has_num(ph, "budget_ms") && cd_json_has_num(ph, "duration_ms") &&
			cd_json_num(ph, "duration_ms", 0) > cd_json_num(ph, "budget_ms", 0)) {
			struct cd_buf a = CD_BUF_INIT, b = CD_BUF_INIT;
			cd_report_duration(&a, cd_json_num(ph, "duration_ms", 0));
			cd_report_duration(&b, cd_json_num(ph, "budget_ms", 0));
			add(is.warnings, "WARN", NULL, "timeline", NULL, "phase '%s' took %s, over its %s budget",
				nz(cd_json_str(ph, "name")), a.buf, b.buf);
			cd_buf_release(&a);
			cd_buf_release(&b);
		}
	}
	const cJSON *down = cJSON_GetObjectItem(report, "downtime");
	if (cJSON_IsObject(down) && cd_json_num(down, "failed", 0) > 0)
		add(is.warnings, "WARN", NULL, "availability", NULL,
			"the probe of %s failed %g of %g times (longest gap %g ms)",
			nz(cd_json_str(down, "url")), cd_json_num(down, "failed", 0),
			cd_json_num(down, "probes", 0), cd_json_num(down, "longest_gap_ms", 0));
	const cJSON *rb = cJSON_GetObjectItem(report, "rollback");
	cJSON_ArrayForEach(it, cJSON_GetObjectItem(rb, "actions"))
		if (cJSON_IsTrue(cJSON_GetObjectItem(rb, "performed")) &&
			!cJSON_IsTrue(cJSON_GetObjectItem(it, "undone")))
			add(is.issues, "ISSUE", "critical", "rollback", cd_json_str(it, "step"),
				"not undone, needs manual action: %s", nz(cd_json_str(it, "description")));
	cJSON_DeleteItemFromObject(report, "issues");
	cJSON_DeleteItemFromObject(report, "warnings");
	cJSON_AddItemToObject(report, "issues", is.issues);
	cJSON_AddItemToObject(report, "warnings", is.warnings);
}
