/*
 * The view of a report: what a reader wants beside the raw numbers, derived
 * from the report document alone (so a kept report renders the same years
 * later). Totals, the timeline against budgets, services by layer, smoke
 * checks by category, the load test against its baseline, findings by
 * severity, backups and the rollback decision, each with texts ready to
 * print. A number that was not measured stays absent; templates say so.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "corpdeploy/core.h"
#include "report-internal.h"

#define ICON_OK "✅"
#define ICON_FAIL "❌"
#define ICON_WARN "⚠️"
#define ICON_SKIP "⏭️"

static const char *nz(const char *s)
{
	return s ? s : "";
}

static int eq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static void add_text(cJSON *o, const char *key, const struct cd_buf *b)
{
	cJSON_AddStringToObject(o, key, b->buf);
}

static void add_duration(cJSON *o, const char *key, double ms)
{
	struct cd_buf b = CD_BUF_INIT;
	cd_report_duration(&b, ms);
	add_text(o, key, &b);
	cd_buf_release(&b);
}

static void add_fmt(cJSON *o, const char *key, const char *fmt, ...) CD_PRINTF(3, 4);
static void add_fmt(cJSON *o, const char *key, const char *fmt, ...)
{
	struct cd_buf b = CD_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	cd_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	add_text(o, key, &b);
	cd_buf_release(&b);
}

static void add_size(cJSON *o, const char *key, double bytes)
{
	char b[32];
	add_fmt(o, key, "%s", cd_size_format(bytes > 0 ? (uint64_t)bytes : 0, b, sizeof(b)));
}

/* A value in milliseconds with the precision latencies need: 2.4 ms, 28 ms, 1.2 s. */
static void add_latency(cJSON *o, const char *key, const cJSON *from, const char *from_key)
{
	if (!cd_json_has_num(from, from_key))
		return;
	double ms = cd_json_num(from, from_key, 0);
	if (ms < 10)
		add_fmt(o, key, "%.2f ms", ms);
	else if (ms < 1000)
		add_fmt(o, key, "%.1f ms", ms);
	else
		add_fmt(o, key, "%.2f s", ms / 1000);
}

static const char *result_icon(const char *result)
{
	if (eq(result, "ok") || eq(result, "passed") || eq(result, "unchanged"))
		return ICON_OK;
	if (eq(result, "failed"))
		return ICON_FAIL;
	if (eq(result, "skipped") || eq(result, "pending"))
		return ICON_SKIP;
	return ICON_WARN;
}

static void copy_item(cJSON *to, const char *key, const cJSON *from, const char *from_key)
{
	const cJSON *v = cJSON_GetObjectItem(from, from_key);
	if (v)
		cJSON_AddItemToObject(to, key, cJSON_Duplicate(v, 1));
}

/* The budget comparison: "20% under budget", "2m 3s over budget", "no budget". */
static void budget_status(cJSON *o, double actual, const cJSON *phase_or_plan, const char *result)
{
	int has_budget = cd_json_has_num(phase_or_plan, "budget_ms");
	double budget = cd_json_num(phase_or_plan, "budget_ms", 0);
	if (has_budget)
		add_duration(o, "budget_text", budget);
	else
		cJSON_AddStringToObject(o, "budget_text", "none");
	if (eq(result, "skipped") || eq(result, "pending")) {
		cJSON_AddStringToObject(o, "status_icon", ICON_SKIP);
		cJSON_AddStringToObject(o, "status_text", "not run");
		return;
	}
	if (eq(result, "failed")) {
		cJSON_AddStringToObject(o, "status_icon", ICON_FAIL);
		cJSON_AddStringToObject(o, "status_text", "failed");
		return;
	}
	if (!has_budget || budget <= 0) {
		cJSON_AddStringToObject(o, "status_icon", ICON_OK);
		cJSON_AddStringToObject(o, "status_text", "done (no budget)");
		return;
	}
	double pct = (budget - actual) * 100.0 / budget;
	if (actual > budget) {
		struct cd_buf b = CD_BUF_INIT;
		cd_report_duration(&b, actual - budget);
		cJSON_AddStringToObject(o, "status_icon", ICON_WARN);
		add_fmt(o, "status_text", "%s over budget", b.buf);
		cd_buf_release(&b);
	} else {
		cJSON_AddStringToObject(o, "status_icon", ICON_OK);
		if (pct < 1)
			cJSON_AddStringToObject(o, "status_text", "on budget");
		else
			add_fmt(o, "status_text", "%.0f%% under budget", floor(pct));
	}
	cJSON_AddNumberToObject(o, "under_budget_pct", round(pct));
}

struct collect {
	cJSON *view;
	cJSON *smoke_categories; /* object: category -> view entry */
	cJSON *smoke_steps, *loads, *security, *backups, *migrations;
	int steps, steps_ok, steps_failed, steps_not_run, steps_retried;
};

static cJSON *smoke_category(struct collect *c, const char *name)
{
	cJSON *cat = cJSON_GetObjectItemCaseSensitive(c->smoke_categories, name);
	if (!cat) {
		cat = cJSON_AddObjectToObject(c->smoke_categories, name);
		cJSON_AddStringToObject(cat, "name", name);
		cJSON_AddNumberToObject(cat, "passed", 0);
		cJSON_AddNumberToObject(cat, "total", 0);
		cJSON_AddArrayToObject(cat, "checks");
	}
	return cat;
}

static void bump(cJSON *o, const char *key)
{
	cJSON *v = cJSON_GetObjectItem(o, key);
	cJSON_SetNumberValue(v, v->valuedouble + 1);
}

static void view_smoke(struct collect *c, const cJSON *st, const cJSON *d)
{
	const cJSON *ck;
	cJSON *s = cJSON_CreateObject();
	copy_item(s, "step", st, "name");
	cJSON_AddItemToArray(c->smoke_steps, s);
	cJSON_ArrayForEach(ck, cJSON_GetObjectItem(d, "checks"))
	{
		const char *category = cd_json_str(ck, "category");
		cJSON *cat = smoke_category(c, category && *category ? category : "checks");
		cJSON *v = cJSON_CreateObject();
		copy_item(v, "name", ck, "name");
		copy_item(v, "kind", ck, "kind");
		copy_item(v, "result", ck, "result");
		copy_item(v, "status", ck, "status");
		copy_item(v, "message", ck, "message");
		cJSON_AddStringToObject(v, "icon", result_icon(cd_json_str(ck, "result")));
		add_latency(v, "duration_text", ck, "duration_ms");
		int passed = eq(cd_json_str(ck, "result"), "passed");
		cJSON_AddBoolToObject(v, "passed", passed);
		cJSON_AddItemToArray(cJSON_GetObjectItem(cat, "checks"), v);
		bump(cat, "total");
		if (passed)
			bump(cat, "passed");
	}
}

static void view_load(struct collect *c, const cJSON *st, const cJSON *d)
{
	cJSON *l = cJSON_CreateObject();
	const cJSON *it;
	copy_item(l, "step", st, "name");
	static const char *const copied[] = { "url", "concurrency", "requests", "errors", "qps" };
	for (size_t i = 0; i < CD_ARRAY_SIZE(copied); i++)
		copy_item(l, copied[i], d, copied[i]);
	add_duration(l, "duration_text", cd_json_num(d, "duration_ms", 0));
	add_latency(l, "p50_text", d, "p50_ms");
	add_latency(l, "p90_text", d, "p90_ms");
	add_latency(l, "p99_text", d, "p99_ms");
	add_latency(l, "max_text", d, "max_ms");
	if (cd_json_has_num(d, "qps"))
		add_fmt(l, "qps_text", "%.1f", cd_json_num(d, "qps", 0));
	double req = cd_json_num(d, "requests", 0), errors = cd_json_num(d, "errors", 0);
	if (req > 0) {
		add_fmt(l, "error_rate_text", "%.2f%%", errors * 100 / req);
		add_fmt(l, "success_rate_text", "%.2f%%", (req - errors) * 100 / req);
	}
	copy_item(l, "status_classes", d, "status_classes");
	cJSON *th = cJSON_AddArrayToObject(l, "thresholds");
	cJSON_ArrayForEach(it, cJSON_GetObjectItem(d, "thresholds"))
	{
		cJSON *t = cJSON_Duplicate(it, 1);
		cJSON_AddStringToObject(t, "icon",
			cJSON_IsTrue(cJSON_GetObjectItem(it, "passed")) ? ICON_OK : ICON_FAIL);
		cJSON_AddItemToArray(th, t);
	}
	const cJSON *b = cJSON_GetObjectItem(d, "baseline");
	if (cJSON_IsObject(b)) {
		cJSON *vb = cJSON_AddObjectToObject(l, "baseline");
		copy_item(vb, "release", b, "release");
		cJSON *ms = cJSON_AddArrayToObject(vb, "metrics");
		cJSON_ArrayForEach(it, cJSON_GetObjectItem(b, "metrics"))
		{
			cJSON *m = cJSON_Duplicate(it, 1);
			const char *name = nz(cd_json_str(it, "name"));
			/* Throughput and success are better higher; latencies and errors lower. */
			int higher_better = strstr(name, "qps") || strstr(name, "throughput") ||
					    strstr(name, "success") || strstr(name, "hit");
			double pct = cd_json_num(it, "change_pct", NAN);
			if (isnan(pct)) {
				cJSON_AddStringToObject(m, "verdict", "not compared");
				cJSON_AddStringToObject(m, "icon", ICON_WARN);
			} else if (fabs(pct) < 1) {
				cJSON_AddStringToObject(m, "verdict", "unchanged");
				cJSON_AddStringToObject(m, "icon", ICON_OK);
			} else {
				int better = higher_better ? pct > 0 : pct < 0;
				add_fmt(m, "verdict", "%.0f%% %s", fabs(pct), better ? "better" : "worse");
				cJSON_AddStringToObject(m, "icon", better ? ICON_OK : ICON_WARN);
			}
			cJSON_AddItemToArray(ms, m);
		}
		cJSON *tr = cJSON_AddArrayToObject(vb, "triggers");
		cJSON_ArrayForEach(it, cJSON_GetObjectItem(b, "triggers"))
		{
			cJSON *t = cJSON_Duplicate(it, 1);
			cJSON_AddStringToObject(t, "icon",
				cJSON_IsTrue(cJSON_GetObjectItem(it, "crossed")) ? ICON_FAIL : ICON_OK);
			cJSON_AddItemToArray(tr, t);
		}
	}
	/* The histogram as bars: the widest bucket is 100. */
	const cJSON *h = cJSON_GetObjectItem(d, "histogram");
	double maxc = 0;
	cJSON_ArrayForEach(it, h) maxc = fmax(maxc, cd_json_num(it, "count", 0));
	cJSON *hv = cJSON_AddArrayToObject(l, "histogram");
	cJSON_ArrayForEach(it, h)
	{
		cJSON *b2 = cJSON_Duplicate(it, 1);
		cJSON_AddNumberToObject(b2, "pct_of_max",
			maxc > 0 ? round(cd_json_num(it, "count", 0) * 100 / maxc) : 0);
		cJSON_AddItemToArray(hv, b2);
	}
	cJSON_AddItemToArray(c->loads, l);
}

static void view_security(struct collect *c, const cJSON *st, const cJSON *d)
{
	static const char *const severities[] = { "critical", "high", "medium", "low", "info" };
	cJSON *s = cJSON_CreateObject();
	const cJSON *it;
	copy_item(s, "step", st, "name");
	copy_item(s, "score", d, "score");
	copy_item(s, "max_score", d, "max_score");
	cJSON *counts = cJSON_AddArrayToObject(s, "counts");
	for (size_t i = 0; i < CD_ARRAY_SIZE(severities); i++) {
		int n = 0;
		cJSON_ArrayForEach(it, cJSON_GetObjectItem(d, "findings"))
			n += eq(cd_json_str(it, "severity"), severities[i]);
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "severity", severities[i]);
		cJSON_AddNumberToObject(o, "count", n);
		cJSON_AddItemToArray(counts, o);
	}
	cJSON *f = cJSON_AddArrayToObject(s, "findings");
	cJSON_ArrayForEach(it, cJSON_GetObjectItem(d, "findings"))
	{
		cJSON *o = cJSON_Duplicate(it, 1);
		const char *sev = cd_json_str(it, "severity");
		cJSON_AddStringToObject(o, "icon",
			eq(sev, "critical") || eq(sev, "high") ? ICON_FAIL
			: eq(sev, "info")		       ? "ℹ️"
							       : ICON_WARN);
		cJSON_AddItemToArray(f, o);
	}
	cJSON_AddItemToArray(c->security, s);
}

static void view_backup(struct collect *c, const cJSON *st, const cJSON *d)
{
	cJSON *b = cJSON_Duplicate(d, 1);
	copy_item(b, "step", st, "name");
	if (cd_json_has_num(d, "bytes"))
		add_size(b, "size_text", cd_json_num(d, "bytes", 0));
	cJSON *db = cJSON_GetObjectItem(b, "database");
	if (cJSON_IsObject(db) && cd_json_has_num(db, "bytes"))
		add_size(db, "size_text", cd_json_num(db, "bytes", 0));
	cJSON_AddItemToArray(c->backups, b);
}

static void view_migration(struct collect *c, const cJSON *st, const cJSON *d)
{
	const cJSON *m = cJSON_GetObjectItem(d, "migration");
	if (!cJSON_IsObject(m))
		return;
	cJSON *o = cJSON_Duplicate(m, 1);
	copy_item(o, "step", st, "name");
	copy_item(o, "exit", d, "exit");
	copy_item(o, "result", st, "result");
	cJSON_AddStringToObject(o, "icon", result_icon(cd_json_str(st, "result")));
	add_duration(o, "duration_text", cd_json_num(st, "duration_ms", 0));
	cJSON_AddBoolToObject(o, "changed",
		!eq(cd_json_str(m, "version_before"), cd_json_str(m, "version_after")));
	cJSON_AddItemToArray(c->migrations, o);
}

static void view_step(const cJSON *st, const cJSON *phase, void *data)
{
	struct collect *c = data;
	const char *kind = nz(cd_json_str(st, "kind"));
	const cJSON *d = cJSON_GetObjectItem(st, "details");
	(void)phase;
	const char *result = cd_json_str(st, "result");
	int ok = eq(result, "ok") || eq(result, "unchanged");
	c->steps++;
	c->steps_ok += ok;
	c->steps_failed += eq(result, "failed");
	c->steps_not_run += eq(result, "skipped") || eq(result, "pending");
	c->steps_retried += ok && cd_json_num(st, "attempts", 1) > 1;
	if (!cJSON_IsObject(d))
		return;
	if (strcmp(kind, "smoke") == 0)
		view_smoke(c, st, d);
	else if (strcmp(kind, "load") == 0)
		view_load(c, st, d);
	else if (strcmp(kind, "security") == 0)
		view_security(c, st, d);
	else if (strcmp(kind, "backup") == 0)
		view_backup(c, st, d);
	else if (strcmp(kind, "run") == 0)
		view_migration(c, st, d);
}

static void view_timeline(cJSON *view, const cJSON *report)
{
	cJSON *tl = cJSON_AddArrayToObject(view, "timeline");
	const cJSON *ph, *st;
	cJSON_ArrayForEach(ph, cJSON_GetObjectItem(report, "phases"))
	{
		cJSON *p = cJSON_CreateObject();
		const char *result = cd_json_str(ph, "result");
		copy_item(p, "name", ph, "name");
		copy_item(p, "result", ph, "result");
		if (cd_json_has_num(ph, "duration_ms"))
			add_duration(p, "actual_text", cd_json_num(ph, "duration_ms", 0));
		else
			cJSON_AddStringToObject(p, "actual_text", "not run");
		budget_status(p, cd_json_num(ph, "duration_ms", 0), ph, result);
		cJSON *steps = cJSON_AddArrayToObject(p, "steps");
		cJSON_ArrayForEach(st, cJSON_GetObjectItem(ph, "steps"))
		{
			cJSON *s = cJSON_CreateObject();
			copy_item(s, "name", st, "name");
			copy_item(s, "phase", ph, "name");
			copy_item(s, "kind", st, "kind");
			copy_item(s, "result", st, "result");
			copy_item(s, "attempts", st, "attempts");
			copy_item(s, "host", st, "host");
			copy_item(s, "message", st, "message");
			cJSON_AddStringToObject(s, "icon", result_icon(cd_json_str(st, "result")));
			if (cd_json_has_num(st, "duration_ms")) {
				add_duration(s, "actual_text", cd_json_num(st, "duration_ms", 0));
				add_duration(s, "start_text", cd_json_num(st, "start_ms", 0));
			} else {
				cJSON_AddStringToObject(s, "actual_text", "not run");
				cJSON_AddStringToObject(s, "start_text", "not run");
			}
			cJSON_AddItemToArray(steps, s);
		}
		cJSON_AddItemToArray(tl, p);
	}
	const cJSON *run = cJSON_GetObjectItem(report, "run");
	cJSON *total = cJSON_AddObjectToObject(view, "timeline_total");
	double actual = cd_json_num(run, "duration_ms", 0);
	add_duration(total, "actual_text", actual);
	const char *outcome = cd_json_str(run, "outcome");
	budget_status(total, actual, cJSON_GetObjectItem(report, "plan"),
		eq(outcome, "succeeded") ? "ok" : "failed");
}

/* Image ids as `docker images` shows them: the first 12 hex digits; the JSON keeps them whole. */
static void short_image_id(cJSON *o, const char *key)
{
	const char *id = cd_json_str(o, key);
	if (!id || strncmp(id, "sha256:", 7) != 0 || strlen(id) <= 7 + 12)
		return;
	char shortened[7 + 12 + 1];
	memcpy(shortened, id, sizeof(shortened) - 1);
	shortened[sizeof(shortened) - 1] = '\0';
	cJSON_ReplaceItemInObject(o, key, cJSON_CreateString(shortened));
}

static void view_services(cJSON *view, const cJSON *report, int *measured, int *healthy,
	int *changed)
{
	cJSON *layers = cJSON_AddArrayToObject(view, "service_layers");
	const cJSON *sv;
	cJSON_ArrayForEach(sv, cJSON_GetObjectItem(report, "services"))
	{
		const char *layer = cd_json_str(sv, "layer");
		if (!layer)
			layer = "services";
		cJSON *l = NULL, *it;
		cJSON_ArrayForEach(it, layers) if (eq(cd_json_str(it, "name"), layer)) l = it;
		if (!l) {
			l = cJSON_CreateObject();
			cJSON_AddStringToObject(l, "name", layer);
			cJSON_AddNumberToObject(l, "count", 0);
			cJSON_AddArrayToObject(l, "services");
			cJSON_AddItemToArray(layers, l);
		}
		bump(l, "count");
		cJSON *s = cJSON_Duplicate(sv, 1);
		const char *health = cd_json_str(sv, "health");
		const char *result = cd_json_str(sv, "result");
		int deployed = result != NULL;
		*measured += deployed;
		int ok = deployed && (eq(health, "healthy") || eq(health, "running") || eq(health, "none"));
		*healthy += ok;
		*changed += eq(result, "created") || eq(result, "replaced");
		cJSON_AddStringToObject(s, "icon", !deployed ? ICON_SKIP : ok ? ICON_OK : ICON_FAIL);
		if (cd_json_has_num(sv, "healthy_after_ms"))
			add_duration(s, "healthy_after_text", cd_json_num(sv, "healthy_after_ms", 0));
		if (!cJSON_IsString(cJSON_GetObjectItem(sv, "image_before"))) {
			cJSON_DeleteItemFromObject(s, "image_before");
			cJSON_AddStringToObject(s, "image_before", deployed ? "none (new)" : "not measured");
		}
		short_image_id(s, "image_before");
		short_image_id(s, "image_after");
		cJSON_AddItemToArray(cJSON_GetObjectItem(l, "services"), s);
	}
}

static void add_highlight(cJSON *list, const char *icon, const char *fmt, ...) CD_PRINTF(3, 4);
static void add_highlight(cJSON *list, const char *icon, const char *fmt, ...)
{
	struct cd_buf b = CD_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	cd_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "icon", icon);
	cJSON_AddStringToObject(o, "text", b.buf);
	cJSON_AddItemToArray(list, o);
	cd_buf_release(&b);
}

static void view_rollback(cJSON *view, const cJSON *report)
{
	const cJSON *rb = cJSON_GetObjectItem(report, "rollback");
	cJSON *o = cJSON_AddObjectToObject(view, "rollback_view");
	const char *status = nz(cd_json_str(rb, "status"));
	static const struct {
		const char *status, *icon, *text;
	} texts[] = {
		{ "not-needed", ICON_OK, "Not required: the deployment succeeded" },
		{ "completed", ICON_WARN, "Rolled back: every change of this run was undone" },
		{ "failed", ICON_FAIL, "Rollback FAILED: manual action needed (see issues)" },
		{ "disabled", ICON_FAIL, "Not rolled back: rollback was disabled for this run" },
		{ "nothing-to-undo", ICON_OK, "Nothing to undo: the run stopped before changing anything" },
	};
	cJSON_AddStringToObject(o, "icon", ICON_WARN);
	cJSON_AddStringToObject(o, "text", status);
	for (size_t i = 0; i < CD_ARRAY_SIZE(texts); i++)
		if (strcmp(status, texts[i].status) == 0) {
			cJSON_SetValuestring(cJSON_GetObjectItem(o, "icon"), texts[i].icon);
			cJSON_DeleteItemFromObject(o, "text");
			cJSON_AddStringToObject(o, "text", texts[i].text);
		}
	if (cd_json_has_num(rb, "duration_ms"))
		add_duration(o, "duration_text", cd_json_num(rb, "duration_ms", 0));
	if (cd_json_has_num(rb, "budget_ms"))
		add_duration(o, "budget_text", cd_json_num(rb, "budget_ms", 0));
	int ready = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, cJSON_GetObjectItem(rb, "actions")) ready++;
	cJSON_AddNumberToObject(o, "undo_records", ready);
	cJSON *tr = cJSON_AddArrayToObject(o, "triggers");
	const cJSON *t = cJSON_GetObjectItem(rb, "triggers");
	static const struct {
		const char *key, *before, *after;
	} trig[] = {
		{ "error_rate_pct", "error rate above ", "%" },
		{ "p99_regression_pct", "p99 latency more than ", "% worse than the previous release" },
		{ "success_rate_below_pct", "checks passing below ", "%" },
	};
	for (size_t i = 0; i < CD_ARRAY_SIZE(trig); i++)
		if (cd_json_has_num(t, trig[i].key)) {
			cJSON *x = cJSON_CreateObject();
			add_fmt(x, "text", "%s%g%s", trig[i].before, cd_json_num(t, trig[i].key, 0),
				trig[i].after);
			cJSON_AddItemToArray(tr, x);
		}
	if (cd_json_has_num(t, "downtime_over_ms")) {
		struct cd_buf b = CD_BUF_INIT;
		cd_report_duration(&b, cd_json_num(t, "downtime_over_ms", 0));
		cJSON *x = cJSON_CreateObject();
		add_fmt(x, "text", "downtime longer than %s", b.buf);
		cJSON_AddItemToArray(tr, x);
		cd_buf_release(&b);
	}
	cJSON *first = cJSON_CreateObject();
	cJSON_AddStringToObject(first, "text", "any step failing");
	cJSON_InsertItemInArray(tr, 0, first);
}

static void view_downtime(cJSON *view, const cJSON *report)
{
	const cJSON *d = cJSON_GetObjectItem(report, "downtime");
	cJSON *o = cJSON_AddObjectToObject(view, "downtime_view");
	if (!cJSON_IsObject(d)) {
		cJSON_AddStringToObject(o, "text", "not measured (no probe in the plan)");
		return;
	}
	struct cd_buf gap = CD_BUF_INIT, first = CD_BUF_INIT;
	cd_report_duration(&gap, cd_json_num(d, "longest_gap_ms", 0));
	if (cd_json_has_num(d, "first_good_new_ms"))
		cd_report_duration(&first, cd_json_num(d, "first_good_new_ms", 0));
	add_fmt(o, "text", "%s longest gap (%g of %g probes of %s failed)%s%s%s", gap.buf,
		cd_json_num(d, "failed", 0), cd_json_num(d, "probes", 0), nz(cd_json_str(d, "url")),
		first.len ? "; new release first answered after " : "", first.buf, "");
	cJSON_AddBoolToObject(o, "measured", 1);
	cd_buf_release(&gap);
	cd_buf_release(&first);
}

static void view_issues(cJSON *view)
{
	cJSON *it;
	cJSON_ArrayForEach(it, cJSON_GetObjectItem(view, "issues"))
	{
		const char *sev = cd_json_str(it, "severity");
		cJSON_AddStringToObject(it, "icon",
			eq(sev, "critical") || eq(sev, "high") ? ICON_FAIL : ICON_WARN);
	}
}

cJSON *cd_report_view(const cJSON *report)
{
	cJSON *view = cJSON_Duplicate(report, 1);
	const cJSON *run = cJSON_GetObjectItem(report, "run");
	const char *outcome = nz(cd_json_str(run, "outcome"));
	struct collect c = { .view = view };
	c.smoke_categories = cJSON_CreateObject();
	c.smoke_steps = cJSON_AddArrayToObject(view, "smoke_steps");
	c.loads = cJSON_AddArrayToObject(view, "loads");
	c.security = cJSON_AddArrayToObject(view, "security");
	c.backups = cJSON_AddArrayToObject(view, "backups");
	c.migrations = cJSON_AddArrayToObject(view, "migrations");
	cd_report_each_step(report, view_step, &c);

	static const struct {
		const char *outcome, *icon, *text;
	} status[] = {
		{ "succeeded", ICON_OK, "SUCCEEDED" },
		{ "rolled-back", ICON_WARN, "FAILED, ROLLED BACK" },
		{ "failed", ICON_FAIL, "FAILED, NOT ROLLED BACK" },
		{ "rollback-failed", ICON_FAIL, "FAILED, ROLLBACK FAILED" },
		{ "precheck-failed", ICON_FAIL, "FAILED BEFORE CHANGING ANYTHING" },
	};
	cJSON_AddStringToObject(view, "status_icon", ICON_WARN);
	cJSON_AddStringToObject(view, "status_text", outcome);
	for (size_t i = 0; i < CD_ARRAY_SIZE(status); i++)
		if (strcmp(outcome, status[i].outcome) == 0) {
			cJSON_SetValuestring(cJSON_GetObjectItem(view, "status_icon"), status[i].icon);
			cJSON_DeleteItemFromObject(view, "status_text");
			cJSON_AddStringToObject(view, "status_text", status[i].text);
		}
	cJSON_AddBoolToObject(view, "succeeded", strcmp(outcome, "succeeded") == 0);
	add_duration(view, "run_duration_text", cd_json_num(run, "duration_ms", 0));
	const cJSON *rel = cJSON_GetObjectItem(report, "release");
	if (cJSON_IsString(cJSON_GetObjectItem(rel, "commit")))
		add_fmt(view, "commit_text", "%.12s%s", cd_json_str(rel, "commit"),
			cJSON_IsTrue(cJSON_GetObjectItem(rel, "dirty")) ? " (uncommitted changes)" : "");

	view_timeline(view, report);
	int measured = 0, healthy = 0, changed = 0;
	view_services(view, report, &measured, &healthy, &changed);

	/* Smoke categories in the order they were first seen. */
	cJSON *cats = cJSON_AddArrayToObject(view, "smoke");
	int smoke_passed = 0, smoke_total = 0;
	cJSON *cat;
	while ((cat = c.smoke_categories->child)) {
		cJSON_DetachItemViaPointer(c.smoke_categories, cat);
		int p = (int)cd_json_num(cat, "passed", 0), t = (int)cd_json_num(cat, "total", 0);
		smoke_passed += p;
		smoke_total += t;
		cJSON_AddStringToObject(cat, "icon", p == t ? ICON_OK : ICON_FAIL);
		cJSON_AddItemToArray(cats, cat);
	}
	cJSON_Delete(c.smoke_categories);
	view_rollback(view, report);
	view_downtime(view, report);
	view_issues(view);

	cJSON *t = cJSON_AddObjectToObject(view, "totals");
	int phases = cJSON_GetArraySize(cJSON_GetObjectItem(report, "phases"));
	int services = cJSON_GetArraySize(cJSON_GetObjectItem(report, "services"));
	int issues = cJSON_GetArraySize(cJSON_GetObjectItem(report, "issues"));
	int warnings = cJSON_GetArraySize(cJSON_GetObjectItem(report, "warnings"));
	cJSON_AddNumberToObject(t, "phases", phases);
	cJSON_AddNumberToObject(t, "steps", c.steps);
	cJSON_AddNumberToObject(t, "steps_ok", c.steps_ok);
	cJSON_AddNumberToObject(t, "steps_failed", c.steps_failed);
	cJSON_AddNumberToObject(t, "steps_not_run", c.steps_not_run);
	cJSON_AddNumberToObject(t, "services", services);
	cJSON_AddNumberToObject(t, "services_measured", measured);
	cJSON_AddNumberToObject(t, "services_healthy", healthy);
	cJSON_AddNumberToObject(t, "services_changed", changed);
	cJSON_AddNumberToObject(t, "smoke_passed", smoke_passed);
	cJSON_AddNumberToObject(t, "smoke_total", smoke_total);
	cJSON_AddNumberToObject(t, "smoke_categories", cJSON_GetArraySize(cats));
	cJSON_AddNumberToObject(t, "issues", issues);
	cJSON_AddNumberToObject(t, "warnings", warnings);

	/* The executive summary: one line per thing a release manager asks first. */
	cJSON *hl = cJSON_AddArrayToObject(view, "highlights");
	const cJSON *tt = cJSON_GetObjectItem(view, "timeline_total");
	if (cd_json_has_num(cJSON_GetObjectItem(report, "plan"), "budget_ms"))
		add_highlight(hl, nz(cd_json_str(tt, "status_icon")), "Took %s against a budget of %s (%s)",
			nz(cd_json_str(tt, "actual_text")), nz(cd_json_str(tt, "budget_text")),
			nz(cd_json_str(tt, "status_text")));
	else
		add_highlight(hl, ICON_OK, "Took %s (no phase has a budget)",
			nz(cd_json_str(tt, "actual_text")));
	struct cd_buf extra = CD_BUF_INIT;
	if (c.steps_failed)
		cd_buf_addf(&extra, ", %d failed", c.steps_failed);
	if (c.steps_not_run)
		cd_buf_addf(&extra, ", %d not run", c.steps_not_run);
	if (c.steps_retried)
		cd_buf_addf(&extra, ", %d after retries", c.steps_retried);
	add_highlight(hl, c.steps_failed ? ICON_FAIL : ICON_OK, "%d of %d steps succeeded%s",
		c.steps_ok, c.steps, extra.buf);
	cd_buf_release(&extra);
	if (services && !measured)
		add_highlight(hl, ICON_WARN,
			"%d services in the plan: not measured (no deploy step reported on them)",
			services);
	else if (services)
		add_highlight(hl, healthy == services ? ICON_OK : ICON_WARN,
			"%d services in the plan: %d deployed, %d healthy after the run, %d created or "
			"replaced",
			services, measured, healthy, changed);
	if (smoke_total)
		add_highlight(hl, smoke_passed == smoke_total ? ICON_OK : ICON_FAIL,
			"Smoke tests: %d of %d checks passed (%.0f%%) in %d categories", smoke_passed,
			smoke_total, smoke_passed * 100.0 / smoke_total, cJSON_GetArraySize(cats));
	else
		add_highlight(hl, ICON_WARN, "Smoke tests: not measured");
	const cJSON *load = cJSON_GetArrayItem(c.loads, 0);
	if (load)
		add_highlight(hl, ICON_OK, "Load test: %s req/s, p99 %s, %s errors over %g requests",
			nz(cd_json_str(load, "qps_text")), nz(cd_json_str(load, "p99_text")),
			nz(cd_json_str(load, "error_rate_text")), cd_json_num(load, "requests", 0));
	else
		add_highlight(hl, ICON_WARN, "Load test: not measured");
	const cJSON *sec = cJSON_GetArrayItem(c.security, 0);
	if (sec) {
		int serious = 0;
		const cJSON *f;
		cJSON_ArrayForEach(f, cJSON_GetObjectItem(sec, "findings"))
			serious += eq(cd_json_str(f, "severity"), "critical") ||
				   eq(cd_json_str(f, "severity"), "high");
		int n = cJSON_GetArraySize(cJSON_GetObjectItem(sec, "findings"));
		add_highlight(hl, serious ? ICON_FAIL : ICON_OK,
			"Security: score %g/%g, %d finding%s (%d critical or high)",
			cd_json_num(sec, "score", 0), cd_json_num(sec, "max_score", 0), n, n == 1 ? "" : "s",
			serious);
	} else {
		add_highlight(hl, ICON_WARN, "Security: not measured");
	}
	const cJSON *dv = cJSON_GetObjectItem(view, "downtime_view");
	add_highlight(hl, cJSON_IsTrue(cJSON_GetObjectItem(dv, "measured")) ? ICON_OK : ICON_WARN,
		"Downtime: %s", nz(cd_json_str(dv, "text")));
	const cJSON *rv = cJSON_GetObjectItem(view, "rollback_view");
	add_highlight(hl, nz(cd_json_str(rv, "icon")), "Rollback: %s", nz(cd_json_str(rv, "text")));
	if (issues || warnings)
		add_highlight(hl, issues ? ICON_WARN : ICON_OK, "Issues: %d, warnings: %d (listed below)",
			issues, warnings);
	return view;
}
