/*
 * HTML: one self-contained file. Inline CSS (with print rules), inline SVG
 * for the Gantt timeline of phases and steps and for the latency
 * histogram, tables for the rest; no script, no font, no request of any
 * kind (a Content-Security-Policy of default-src 'none' says so to the
 * browser). Every value is escaped for HTML.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report-internal.h"

static void esc(struct cd_buf *out, const char *text)
{
	for (const char *p = text ? text : ""; *p; p++) {
		switch (*p) {
		case '&': cd_buf_adds(out, "&amp;"); break;
		case '<': cd_buf_adds(out, "&lt;"); break;
		case '>': cd_buf_adds(out, "&gt;"); break;
		case '"': cd_buf_adds(out, "&quot;"); break;
		case '\'': cd_buf_adds(out, "&#39;"); break;
		default: cd_buf_addch(out, *p); break;
		}
	}
}

/*
 * The view's icons are emoji, which Markdown viewers draw; browsers without
 * an emoji font would show boxes, so HTML draws plain symbols in colour.
 */
static void icon(struct cd_buf *out, const char *emoji)
{
	static const struct {
		const char *emoji, *cls, *glyph;
	} map[] = {
		{ "✅", "ok", "✓" }, { "❌", "fail", "✗" }, { "⚠️", "warn", "⚠" },
		{ "⏭️", "skip", "–" }, { "ℹ️", "info", "i" },
	};
	for (size_t i = 0; emoji && i < CD_ARRAY_SIZE(map); i++)
		if (strcmp(emoji, map[i].emoji) == 0) {
			cd_buf_addf(out, "<span class=\"ic %s\">%s</span>", map[i].cls, map[i].glyph);
			return;
		}
	esc(out, emoji);
}

/* A value for a cell: text as is, numbers as people write them, absent as "not measured". */
static void cell_value(struct cd_buf *out, const cJSON *v)
{
	if (cJSON_IsString(v)) {
		esc(out, v->valuestring);
	} else if (cJSON_IsNumber(v)) {
		double d = v->valuedouble;
		if (d == floor(d) && fabs(d) < 1e15)
			cd_buf_addf(out, "%.0f", d);
		else
			cd_buf_addf(out, "%.2f", d);
	} else if (cJSON_IsBool(v)) {
		cd_buf_adds(out, cJSON_IsTrue(v) ? "yes" : "no");
	} else {
		cd_buf_adds(out, "<span class=\"nm\">not measured</span>");
	}
}

static void td(struct cd_buf *out, const cJSON *obj, const char *key)
{
	cd_buf_adds(out, "<td>");
	cell_value(out, cJSON_GetObjectItem(obj, key));
	cd_buf_adds(out, "</td>");
}

/* A cell where null means "does not apply" (a check with no HTTP status, a run-wide warning). */
static void td_opt(struct cd_buf *out, const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItem(obj, key);
	if (!v || cJSON_IsNull(v)) {
		cd_buf_adds(out, "<td class=\"nm\">–</td>");
		return;
	}
	td(out, obj, key);
}

/* A cell of free text (messages, image names), allowed to wrap. */
static void td_wrap(struct cd_buf *out, const cJSON *obj, const char *key)
{
	cd_buf_adds(out, "<td class=\"msg\">");
	cell_value(out, cJSON_GetObjectItem(obj, key));
	cd_buf_adds(out, "</td>");
}

static void td_severity(struct cd_buf *out, const cJSON *obj, const char *key)
{
	cd_buf_adds(out, "<td class=\"sev-");
	esc(out, cd_json_str(obj, key));
	cd_buf_adds(out, "\">");
	esc(out, cd_json_str(obj, key));
	cd_buf_adds(out, "</td>");
}

/*
 * The cells of obj's keys, in order: "key" as it is, "~key" wrapped text,
 * "?key" a dash when null, "!key" a severity. NULL ends the list.
 */
static void tds(struct cd_buf *out, const cJSON *obj, const char *const *keys)
{
	for (; *keys; keys++) {
		switch ((*keys)[0]) {
		case '~': td_wrap(out, obj, *keys + 1); break;
		case '?': td_opt(out, obj, *keys + 1); break;
		case '!': td_severity(out, obj, *keys + 1); break;
		default: td(out, obj, *keys); break;
		}
	}
}

/* A whole row of tds(); cls is its class, or NULL. */
static void tr_cells(struct cd_buf *out, const char *cls, const cJSON *obj, const char *const *keys)
{
	if (cls)
		cd_buf_addf(out, "<tr class=\"%s\">", cls);
	else
		cd_buf_adds(out, "<tr>");
	tds(out, obj, keys);
	cd_buf_adds(out, "</tr>\n");
}

static void th_row(struct cd_buf *out, const char *const *heads)
{
	cd_buf_adds(out, "<table><thead><tr>");
	for (; *heads; heads++)
		cd_buf_addf(out, "<th>%s</th>", *heads);
	cd_buf_adds(out, "</tr></thead><tbody>\n");
}

static const char *result_class(const char *result)
{
	if (!result)
		return "skip";
	if (!strcmp(result, "ok") || !strcmp(result, "passed") || !strcmp(result, "unchanged"))
		return "ok";
	if (!strcmp(result, "failed"))
		return "fail";
	return "skip";
}

static const char css[] =
	":root{--ok:#1a7f37;--fail:#cf222e;--warn:#9a6700;--skip:#8c959f;--ink:#1f2328;"
	"--mute:#59636e;--line:#d1d9e0;--bg:#f6f8fa}\n"
	"*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',"
	"Helvetica,Arial,sans-serif;color:var(--ink);margin:0 auto;max-width:1100px;padding:24px}\n"
	"h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;border-bottom:1px solid var(--line);"
	"padding-bottom:4px;margin-top:28px}h3{font-size:15px;margin:18px 0 6px}\n"
	".badge{display:inline-block;padding:2px 10px;border-radius:12px;color:#fff;"
	"font-weight:600;font-size:13px;vertical-align:middle}\n"
	".badge.ok{background:var(--ok)}.badge.fail{background:var(--fail)}"
	".badge.warn{background:var(--warn)}\n"
	".meta{display:grid;grid-template-columns:repeat(4,auto);gap:2px 18px;color:var(--mute);"
	"margin:8px 0 0;font-size:13px}.meta b{color:var(--ink);font-weight:600}\n"
	"table{border-collapse:collapse;width:100%;margin:6px 0 10px;font-size:13px}"
	"th,td{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}"
	"th{background:var(--bg)}td{white-space:nowrap}td.msg{white-space:normal;"
	"overflow-wrap:anywhere}td.num{text-align:right}\n"
	".ic{display:inline-block;width:1.2em;text-align:center;font-weight:700}.ic.ok{color:var(--ok)}"
	".ic.fail{color:var(--fail)}.ic.warn{color:var(--warn)}.ic.skip,.ic.info{color:var(--mute)}\n"
	"tr.ok td:first-child{border-left:4px solid var(--ok)}"
	"tr.fail td:first-child{border-left:4px solid var(--fail)}"
	"tr.skip td:first-child{border-left:4px solid var(--skip)}"
	"tr.fail{background:#ffebe9}\n"
	".nm{color:var(--skip);font-style:italic}code{font-size:12px;word-break:break-all}\n"
	"ul.hl{list-style:none;padding:0}ul.hl li{padding:3px 0}\n"
	".sev-critical,.sev-high{color:var(--fail);font-weight:600}.sev-medium,.sev-low{color:"
	"var(--warn);font-weight:600}.sev-info{color:var(--mute)}\n"
	"svg{max-width:100%;height:auto;font:11px system-ui,sans-serif}"
	"svg .lbl{fill:var(--ink)}svg .axis{fill:var(--mute)}\n"
	"footer{margin-top:30px;color:var(--mute);font-size:12px}\n"
	"@media print{body{max-width:none;padding:0;font-size:11px}h2{break-after:avoid}"
	"table,svg,section{break-inside:avoid}a{color:inherit;text-decoration:none}"
	"tr.fail{background:none}}\n";

/* A tick step for an axis of span ms: 1, 2 or 5 times a power of ten, about 8 ticks. */
static double tick_step(double span)
{
	double raw = span / 8, p = pow(10, floor(log10(raw > 1 ? raw : 1)));
	double steps[] = { 1, 2, 5, 10 };
	for (size_t i = 0; i < 4; i++)
		if (raw <= steps[i] * p)
			return steps[i] * p;
	return 10 * p;
}

static void gantt_label(struct cd_buf *out, const char *name, int indent)
{
	char b[40];
	size_t n = strlen(name ? name : "");
	snprintf(b, sizeof(b), "%.*s%s", n > 30 ? 28 : (int)n, name ? name : "", n > 30 ? "…" : "");
	(void)indent;
	esc(out, b);
}

static void gantt(struct cd_buf *out, const cJSON *report)
{
	const cJSON *ph, *st;
	double span = cd_json_num(cJSON_GetObjectItem(report, "run"), "duration_ms", 0);
	int rows = 0;
	cJSON_ArrayForEach(ph, cJSON_GetObjectItem(report, "phases"))
	{
		rows++;
		span = fmax(span, cd_json_num(ph, "start_ms", 0) + cd_json_num(ph, "duration_ms", 0));
		cJSON_ArrayForEach(st, cJSON_GetObjectItem(ph, "steps")) rows++;
	}
	/* The scale is the run's own time; budgets longer than that are cut at the edge. */
	/* The rollback follows the last phase: one more row, when there was one. */
	const cJSON *rb = cJSON_GetObjectItem(report, "rollback");
	double phases_end = 0, rb_ms = cd_json_num(rb, "duration_ms", -1);
	cJSON_ArrayForEach(ph, cJSON_GetObjectItem(report, "phases"))
		phases_end = fmax(phases_end, cd_json_num(ph, "start_ms", 0) + cd_json_num(ph, "duration_ms", 0));
	int has_rollback = cJSON_IsTrue(cJSON_GetObjectItem(rb, "performed")) && rb_ms >= 0;
	if (has_rollback) {
		rows++;
		span = fmax(span, phases_end + rb_ms);
	}
	if (span <= 0)
		span = 1;
	span *= 1.04;
	const double label_w = 230, chart_w = 820, row_h = 20, top = 24;
	double height = top + rows * row_h + 10;
	cd_buf_addf(out, "<svg role=\"img\" aria-label=\"timeline of phases and steps\" "
			 "xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\">\n",
		label_w + chart_w + 20, height, label_w + chart_w + 20);
	double step = tick_step(span);
	for (double t = 0; t <= span + 1e-9; t += step) {
		double x = label_w + t / span * chart_w;
		struct cd_buf lbl = CD_BUF_INIT;
		cd_report_duration(&lbl, t);
		cd_buf_addf(out, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#d1d9e0\"/>"
				 "<text class=\"axis\" x=\"%.1f\" y=\"14\" text-anchor=\"middle\">%s</text>\n",
			x, top - 4, x, height - 6, x, lbl.buf);
		cd_buf_release(&lbl);
	}
	int row = 0;
	cJSON_ArrayForEach(ph, cJSON_GetObjectItem(report, "phases"))
	{
		double y = top + row++ * row_h;
		const char *cls = result_class(cd_json_str(ph, "result"));
		cd_buf_addf(out, "<text class=\"lbl\" x=\"4\" y=\"%.1f\" font-weight=\"600\">", y + 14);
		gantt_label(out, cd_json_str(ph, "name"), 0);
		cd_buf_adds(out, "</text>\n");
		double x0 = label_w + cd_json_num(ph, "start_ms", 0) / span * chart_w;
		if (cd_json_has_num(ph, "budget_ms")) {
			double budget = cd_json_num(ph, "budget_ms", 0);
			double bw = fmin(budget / span * chart_w, label_w + chart_w - x0);
			struct cd_buf b = CD_BUF_INIT;
			cd_report_duration(&b, budget);
			cd_buf_addf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.0f\" fill=\"none\" "
					 "stroke=\"#8c959f\" stroke-dasharray=\"4 3\"><title>budget %s</title></rect>\n",
				x0, y + 2, fmax(1, bw), row_h - 4, b.buf);
			/* The label only where the box has room for it beside the bar. */
			if (bw - cd_json_num(ph, "duration_ms", 0) / span * chart_w > 100)
				cd_buf_addf(out, "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">"
						 "budget %s%s</text>\n",
					x0 + bw - 4, y + 14, b.buf, budget / span * chart_w > bw ? " →" : "");
			cd_buf_release(&b);
		}
		if (cd_json_has_num(ph, "duration_ms")) {
			struct cd_buf d = CD_BUF_INIT;
			cd_report_duration(&d, cd_json_num(ph, "duration_ms", 0));
			cd_buf_addf(out, "<rect class=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.0f\" "
					 "rx=\"2\" fill=\"%s\"><title>",
				cls, x0, y + 3, fmax(1.5, cd_json_num(ph, "duration_ms", 0) / span * chart_w),
				row_h - 6, !strcmp(cls, "ok") ? "#2da44e" : !strcmp(cls, "fail") ? "#cf222e" : "#8c959f");
			esc(out, cd_json_str(ph, "name"));
			cd_buf_addf(out, ": %s</title></rect>\n", d.buf);
			cd_buf_release(&d);
		}
		cJSON_ArrayForEach(st, cJSON_GetObjectItem(ph, "steps"))
		{
			double sy = top + row++ * row_h;
			const char *scls = result_class(cd_json_str(st, "result"));
			cd_buf_addf(out, "<text class=\"lbl\" x=\"16\" y=\"%.1f\">", sy + 14);
			gantt_label(out, cd_json_str(st, "name"), 1);
			cd_buf_adds(out, "</text>\n");
			if (!cd_json_has_num(st, "duration_ms"))
				continue; /* never ran: a label without a bar */
			struct cd_buf d = CD_BUF_INIT;
			cd_report_duration(&d, cd_json_num(st, "duration_ms", 0));
			cd_buf_addf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.0f\" rx=\"2\" "
					 "fill=\"%s\"><title>",
				label_w + cd_json_num(st, "start_ms", 0) / span * chart_w, sy + 5,
				fmax(1.5, cd_json_num(st, "duration_ms", 0) / span * chart_w), row_h - 10,
				!strcmp(scls, "ok") ? "#6fdd8b" : !strcmp(scls, "fail") ? "#ff8182" : "#afb8c1");
			esc(out, cd_json_str(st, "name"));
			cd_buf_addf(out, ": %s</title></rect>\n", d.buf);
			cd_buf_release(&d);
		}
	}
	if (has_rollback) {
		double y = top + row * row_h;
		struct cd_buf d = CD_BUF_INIT;
		cd_report_duration(&d, rb_ms);
		cd_buf_addf(out, "<text class=\"lbl\" x=\"4\" y=\"%.1f\" font-weight=\"600\">rollback</text>\n"
				 "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.0f\" rx=\"2\" "
				 "fill=\"#bf8700\"><title>rollback: %s</title></rect>\n",
			y + 14, label_w + phases_end / span * chart_w, y + 3, fmax(1.5, rb_ms / span * chart_w),
			row_h - 6, d.buf);
		cd_buf_release(&d);
	}
	cd_buf_addf(out, "</svg>\n<p class=\"nm\">Bars: actual time (green ok, red failed)%s; "
			 "dashed boxes: phase budgets (→ when longer than the run).</p>\n",
		has_rollback ? ", amber the rollback" : "");
}

static void histogram(struct cd_buf *out, const cJSON *load)
{
	const cJSON *h = cJSON_GetObjectItem(load, "histogram"), *b;
	int n = cJSON_GetArraySize(h);
	if (n == 0) {
		cd_buf_adds(out, "<p class=\"nm\">Latency histogram: not measured.</p>\n");
		return;
	}
	double maxc = 0;
	cJSON_ArrayForEach(b, h) maxc = fmax(maxc, cd_json_num(b, "count", 0));
	const double w = 720, hgt = 180, left = 40, bottom = 36;
	double bw = (w - left) / n;
	cd_buf_addf(out, "<svg role=\"img\" aria-label=\"latency histogram\" "
			 "xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\">\n",
		w, hgt + bottom, w);
	cd_buf_addf(out, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#59636e\"/>\n",
		left, hgt, w, hgt);
	int i = 0;
	cJSON_ArrayForEach(b, h)
	{
		double c = cd_json_num(b, "count", 0);
		double bh = maxc > 0 ? c / maxc * (hgt - 20) : 0;
		double x = left + i * bw;
		cd_buf_addf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#0969da\">"
				 "<title>≤ %g ms: %.0f requests</title></rect>\n",
			x + 2, hgt - bh, fmax(1, bw - 4), bh, cd_json_num(b, "le_ms", 0), c);
		cd_buf_addf(out, "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.0f</text>\n",
			x + bw / 2, hgt - bh - 4, c);
		cd_buf_addf(out, "<text class=\"axis\" x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">≤%g</text>\n",
			x + bw / 2, hgt + 14, cd_json_num(b, "le_ms", 0));
		i++;
	}
	cd_buf_addf(out, "<text class=\"axis\" x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">latency (ms), "
			 "requests per bucket</text>\n</svg>\n",
		left + (w - left) / 2, hgt + 32);
}

static void section_services(struct cd_buf *out, const cJSON *view)
{
	const cJSON *layer, *sv;
	static const char *const heads[] = { "#", "Service", "Image before", "Image after", "Result",
		"Health", "Healthy after", "Container", NULL };
	cd_buf_adds(out, "<section><h2>Services</h2>\n");
	cJSON_ArrayForEach(layer, cJSON_GetObjectItem(view, "service_layers"))
	{
		cd_buf_adds(out, "<h3>");
		esc(out, cd_json_str(layer, "name"));
		cd_buf_addf(out, " (%.0f)</h3>\n", cd_json_num(layer, "count", 0));
		th_row(out, heads);
		int i = 0;
		cJSON_ArrayForEach(sv, cJSON_GetObjectItem(layer, "services"))
		{
			const char *health = cd_json_str(sv, "health");
			const char *cls = !cd_json_str(sv, "result") ? "skip"
					  : health && (!strcmp(health, "healthy") || !strcmp(health, "running") ||
							      !strcmp(health, "none"))
						  ? "ok"
						  : "fail";
			cd_buf_addf(out, "<tr class=\"%s\"><td class=\"num\">%d</td><td><b>", cls, ++i);
			esc(out, cd_json_str(sv, "name"));
			cd_buf_adds(out, "</b></td>");
			static const char *const cells[] = { "~image_before", "~image_after", "result",
				"health", "healthy_after_text", "~container", NULL };
			tds(out, sv, cells);
			cd_buf_adds(out, "</tr>\n");
		}
		cd_buf_adds(out, "</tbody></table>\n");
	}
	cd_buf_adds(out, "</section>\n");
}

static void section_performance(struct cd_buf *out, const cJSON *view)
{
	const cJSON *l, *it;
	cd_buf_adds(out, "<section><h2>Performance</h2>\n");
	if (!cJSON_GetArraySize(cJSON_GetObjectItem(view, "loads")))
		cd_buf_adds(out, "<p class=\"nm\">No load test in this run: not measured.</p>\n");
	cJSON_ArrayForEach(l, cJSON_GetObjectItem(view, "loads"))
	{
		static const char *const heads[] = { "URL", "Concurrency", "Requests", "Errors", "Req/s",
			"p50", "p90", "p99", "max", NULL };
		cd_buf_adds(out, "<h3>Load test ");
		esc(out, cd_json_str(l, "step"));
		cd_buf_adds(out, "</h3>\n");
		th_row(out, heads);
		static const char *const keys[] = { "url", "concurrency", "requests", "errors", "qps_text",
			"p50_text", "p90_text", "p99_text", "max_text", NULL };
		tr_cells(out, NULL, l, keys);
		cd_buf_adds(out, "</tbody></table>\n");
		histogram(out, l);
		if (cJSON_GetArraySize(cJSON_GetObjectItem(l, "thresholds"))) {
			static const char *const th[] = { "Threshold", "Limit", "Measured", "Status", NULL };
			th_row(out, th);
			cJSON_ArrayForEach(it, cJSON_GetObjectItem(l, "thresholds"))
			{
				int ok = cJSON_IsTrue(cJSON_GetObjectItem(it, "passed"));
				static const char *const cells[] = { "name", "limit", "value", NULL };
				cd_buf_addf(out, "<tr class=\"%s\">", ok ? "ok" : "fail");
				tds(out, it, cells);
				cd_buf_addf(out, "<td>%s</td></tr>\n", ok ? "passed" : "FAILED");
			}
			cd_buf_adds(out, "</tbody></table>\n");
		}
		const cJSON *b = cJSON_GetObjectItem(l, "baseline");
		if (!cJSON_IsObject(b)) {
			cd_buf_adds(out, "<p class=\"nm\">No baseline to compare with: not measured.</p>\n");
			continue;
		}
		cd_buf_adds(out, "<h3>Against the baseline of release ");
		esc(out, cd_json_str(b, "release"));
		cd_buf_adds(out, "</h3>\n");
		static const char *const bh[] = { "Metric", "Baseline", "Now", "Change %", "Verdict", NULL };
		th_row(out, bh);
		cJSON_ArrayForEach(it, cJSON_GetObjectItem(b, "metrics"))
		{
			static const char *const cells[] = { "name", "baseline", "now", "change_pct",
				"verdict", NULL };
			const char *verdict = cd_json_str(it, "verdict");
			tr_cells(out, verdict && strstr(verdict, "worse") ? "fail" : "ok", it, cells);
		}
		cd_buf_adds(out, "</tbody></table>\n");
		cJSON_ArrayForEach(it, cJSON_GetObjectItem(b, "triggers"))
		{
			int crossed = cJSON_IsTrue(cJSON_GetObjectItem(it, "crossed"));
			cd_buf_adds(out, "<p>");
			icon(out, crossed ? "❌" : "✅");
			cd_buf_adds(out, " rollback trigger <b>");
			esc(out, cd_json_str(it, "name"));
			cd_buf_addf(out, "</b>: %g (limit %g)%s</p>\n", cd_json_num(it, "value", 0),
				cd_json_num(it, "limit", 0), crossed ? ": crossed" : "");
		}
	}
	cd_buf_adds(out, "</section>\n");
}

static void section_smoke(struct cd_buf *out, const cJSON *view)
{
	const cJSON *cat, *ck;
	const cJSON *t = cJSON_GetObjectItem(view, "totals");
	cd_buf_adds(out, "<section><h2>Smoke tests</h2>\n");
	if (!cJSON_GetArraySize(cJSON_GetObjectItem(view, "smoke"))) {
		cd_buf_adds(out, "<p class=\"nm\">No smoke tests in this run: not measured.</p></section>\n");
		return;
	}
	cd_buf_addf(out, "<p><b>%.0f of %.0f</b> checks passed in %.0f categories.</p>\n",
		cd_json_num(t, "smoke_passed", 0), cd_json_num(t, "smoke_total", 0),
		cd_json_num(t, "smoke_categories", 0));
	static const char *const heads[] = { "Category", "Check", "Kind", "Time", "Status", "Result",
		NULL };
	th_row(out, heads);
	cJSON_ArrayForEach(cat, cJSON_GetObjectItem(view, "smoke"))
	{
		cJSON_ArrayForEach(ck, cJSON_GetObjectItem(cat, "checks"))
		{
			cd_buf_addf(out, "<tr class=\"%s\"><td>",
				result_class(cd_json_str(ck, "result")));
			esc(out, cd_json_str(cat, "name"));
			cd_buf_addf(out, " (%.0f/%.0f)</td>", cd_json_num(cat, "passed", 0),
				cd_json_num(cat, "total", 0));
			static const char *const cells[] = { "name", "kind", "duration_text", "?status", NULL };
			tds(out, ck, cells);
			cd_buf_adds(out, "<td class=\"msg\">");
			esc(out, cd_json_str(ck, "result"));
			if (!cJSON_IsTrue(cJSON_GetObjectItem(ck, "passed")) && cd_json_str(ck, "message")) {
				cd_buf_adds(out, ": ");
				esc(out, cd_json_str(ck, "message"));
			}
			cd_buf_adds(out, "</td></tr>\n");
		}
	}
	cd_buf_adds(out, "</tbody></table></section>\n");
}

static void section_security(struct cd_buf *out, const cJSON *view)
{
	const cJSON *s, *it;
	cd_buf_adds(out, "<section><h2>Security</h2>\n");
	if (!cJSON_GetArraySize(cJSON_GetObjectItem(view, "security")))
		cd_buf_adds(out, "<p class=\"nm\">No security checks in this run: not measured.</p>\n");
	cJSON_ArrayForEach(s, cJSON_GetObjectItem(view, "security"))
	{
		cd_buf_addf(out, "<p>Score <b>%g/%g</b> (", cd_json_num(s, "score", 0),
			cd_json_num(s, "max_score", 0));
		int first = 1;
		cJSON_ArrayForEach(it, cJSON_GetObjectItem(s, "counts"))
		{
			cd_buf_addf(out, "%s%.0f ", first ? "" : ", ", cd_json_num(it, "count", 0));
			esc(out, cd_json_str(it, "severity"));
			first = 0;
		}
		cd_buf_adds(out, ")</p>\n");
		static const char *const heads[] = { "Severity", "Check", "Finding", NULL };
		if (!cJSON_GetArraySize(cJSON_GetObjectItem(s, "findings")))
			continue;
		th_row(out, heads);
		cJSON_ArrayForEach(it, cJSON_GetObjectItem(s, "findings"))
		{
			static const char *const cells[] = { "!severity", "check", "~message", NULL };
			tr_cells(out, NULL, it, cells);
		}
		cd_buf_adds(out, "</tbody></table>\n");
	}
	cd_buf_adds(out, "</section>\n");
}

static void section_rollback(struct cd_buf *out, const cJSON *view)
{
	const cJSON *rv = cJSON_GetObjectItem(view, "rollback_view");
	const cJSON *rb = cJSON_GetObjectItem(view, "rollback"), *it;
	cd_buf_adds(out, "<section><h2>Backups, migrations and rollback</h2>\n");
	static const char *const bh[] = { "Backup", "Archive", "Size", "Entries", "SHA-256",
		"Database", "Upload", NULL };
	if (cJSON_GetArraySize(cJSON_GetObjectItem(view, "backups"))) {
		th_row(out, bh);
		cJSON_ArrayForEach(it, cJSON_GetObjectItem(view, "backups"))
		{
			cd_buf_adds(out, "<tr class=\"ok\">");
			static const char *const cells[] = { "step", "~archive", "size_text", "entries", NULL };
			tds(out, it, cells);
			/* The first 16 digits identify it to a reader; the whole sum is in the title. */
			cd_buf_adds(out, "<td><code title=\"");
			esc(out, cd_json_str(it, "sha256"));
			cd_buf_addf(out, "\">%.16s…</code></td><td class=\"msg\">",
				cd_json_str(it, "sha256") ? cd_json_str(it, "sha256") : "");
			const cJSON *db = cJSON_GetObjectItem(it, "database");
			if (cJSON_IsObject(db)) {
				esc(out, cd_json_str(db, "service"));
				cd_buf_adds(out, ", ");
				esc(out, cd_json_str(db, "size_text"));
				cd_buf_adds(out, "<br>restore: <code>");
				esc(out, cd_json_str(db, "restore_command"));
				cd_buf_adds(out, "</code>");
			} else {
				cd_buf_adds(out, "<span class=\"nm\">none</span>");
			}
			cd_buf_adds(out, "</td><td class=\"msg\">");
			const cJSON *up = cJSON_GetObjectItem(it, "upload");
			if (cJSON_IsObject(up)) {
				esc(out, cd_json_str(up, "url"));
				cd_buf_adds(out, cJSON_IsTrue(cJSON_GetObjectItem(up, "verified")) ? " (verified)"
												 : " (not verified)");
			} else {
				cd_buf_adds(out, "<span class=\"nm\">not uploaded</span>");
			}
			cd_buf_adds(out, "</td></tr>\n");
		}
		cd_buf_adds(out, "</tbody></table>\n");
	} else {
		cd_buf_adds(out, "<p class=\"nm\">No backup in this run: not measured.</p>\n");
	}
	static const char *const mh[] = { "Migration", "Version before", "Version after", "Exit",
		"Rollback by", "Took", NULL };
	if (cJSON_GetArraySize(cJSON_GetObjectItem(view, "migrations"))) {
		th_row(out, mh);
		cJSON_ArrayForEach(it, cJSON_GetObjectItem(view, "migrations"))
		{
			static const char *const cells[] = { "step", "version_before", "version_after",
				"exit", "rollback", "duration_text", NULL };
			tr_cells(out, result_class(cd_json_str(it, "result")), it, cells);
		}
		cd_buf_adds(out, "</tbody></table>\n");
	} else {
		cd_buf_adds(out, "<p class=\"nm\">No migration in this run: not measured.</p>\n");
	}
	cd_buf_adds(out, "<p><b>Rollback:</b> ");
	icon(out, cd_json_str(rv, "icon"));
	cd_buf_adds(out, " ");
	esc(out, cd_json_str(rv, "text"));
	if (cd_json_str(rb, "trigger")) {
		cd_buf_adds(out, "<br><b>Trigger:</b> ");
		esc(out, cd_json_str(rb, "trigger"));
	}
	if (cd_json_str(rv, "duration_text")) {
		cd_buf_adds(out, "<br><b>Rollback took:</b> ");
		esc(out, cd_json_str(rv, "duration_text"));
	}
	cd_buf_adds(out, "<br><b>Triggers:</b> ");
	int first = 1;
	cJSON_ArrayForEach(it, cJSON_GetObjectItem(rv, "triggers"))
	{
		cd_buf_adds(out, first ? "" : "; ");
		esc(out, cd_json_str(it, "text"));
		first = 0;
	}
	cd_buf_adds(out, "</p>\n");
	if (cJSON_IsTrue(cJSON_GetObjectItem(rb, "performed"))) {
		static const char *const ah[] = { "Undo action", "Step", "Undone", NULL };
		th_row(out, ah);
		cJSON_ArrayForEach(it, cJSON_GetObjectItem(rb, "actions"))
		{
			int undone = cJSON_IsTrue(cJSON_GetObjectItem(it, "undone"));
			cd_buf_addf(out, "<tr class=\"%s\">", undone ? "ok" : "fail");
			td_wrap(out, it, "description");
			td(out, it, "step");
			cd_buf_addf(out, "<td>%s</td></tr>\n", undone ? "yes" : "NO: manual action needed");
		}
		cd_buf_adds(out, "</tbody></table>\n");
	}
	cd_buf_adds(out, "</section>\n");
}

static void section_issues(struct cd_buf *out, const cJSON *view)
{
	const cJSON *it;
	cd_buf_adds(out, "<section><h2>Issues and warnings</h2>\n");
	static const char *const ih[] = { "Id", "Severity", "Category", "Step", "Issue", NULL };
	if (cJSON_GetArraySize(cJSON_GetObjectItem(view, "issues"))) {
		th_row(out, ih);
		cJSON_ArrayForEach(it, cJSON_GetObjectItem(view, "issues"))
		{
			static const char *const cells[] = { "id", "!severity", "category", "?step",
				"~message", NULL };
			tr_cells(out, NULL, it, cells);
		}
		cd_buf_adds(out, "</tbody></table>\n");
	} else {
		cd_buf_adds(out, "<p>No issues.</p>\n");
	}
	static const char *const wh[] = { "Id", "Category", "Step", "Warning", NULL };
	if (cJSON_GetArraySize(cJSON_GetObjectItem(view, "warnings"))) {
		th_row(out, wh);
		cJSON_ArrayForEach(it, cJSON_GetObjectItem(view, "warnings"))
		{
			static const char *const cells[] = { "id", "category", "?step", "~message", NULL };
			tr_cells(out, NULL, it, cells);
		}
		cd_buf_adds(out, "</tbody></table>\n");
	} else {
		cd_buf_adds(out, "<p>No warnings.</p>\n");
	}
	cd_buf_adds(out, "</section>\n");
}

static void meta(struct cd_buf *out, const char *label, const char *value)
{
	cd_buf_addf(out, "<div>%s <b>", label);
	if (value)
		esc(out, value);
	else
		cd_buf_adds(out, "<span class=\"nm\">not measured</span>");
	cd_buf_adds(out, "</b></div>");
}

void cd_report_render_html(const cJSON *report, struct cd_buf *out)
{
	cJSON *view = cd_report_view(report);
	const cJSON *run = cJSON_GetObjectItem(view, "run"), *plan = cJSON_GetObjectItem(view, "plan");
	const cJSON *rel = cJSON_GetObjectItem(view, "release"), *it, *ph, *st;
	const char *outcome = cd_json_str(run, "outcome");
	const char *badge = outcome && !strcmp(outcome, "succeeded")     ? "ok"
			    : outcome && !strcmp(outcome, "rolled-back") ? "warn"
									 : "fail";

	cd_buf_adds(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
			 "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
			 "style-src 'unsafe-inline'\">\n"
			 "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
	esc(out, cd_json_str(plan, "name"));
	cd_buf_adds(out, " ");
	esc(out, cd_json_str(rel, "id"));
	cd_buf_adds(out, ": deployment report</title>\n<style>\n");
	cd_buf_adds(out, css);
	cd_buf_adds(out, "</style></head><body>\n<header><h1>");
	esc(out, cd_json_str(plan, "name"));
	cd_buf_adds(out, " ");
	esc(out, cd_json_str(rel, "id"));
	cd_buf_addf(out, " <span class=\"badge %s\">", badge);
	esc(out, cd_json_str(view, "status_text"));
	cd_buf_addf(out, "</span></h1>\n<div class=\"meta\">");
	meta(out, "Run", cd_json_str(run, "id"));
	meta(out, "Started", cd_json_str(run, "started_at"));
	meta(out, "Finished", cd_json_str(run, "finished_at"));
	meta(out, "Took", cd_json_str(view, "run_duration_text"));
	meta(out, "Commit", cd_json_str(view, "commit_text"));
	meta(out, "By", cd_json_str(run, "user"));
	meta(out, "On", cd_json_str(run, "host"));
	char code[16];
	snprintf(code, sizeof(code), "%.0f", cd_json_num(run, "exit_code", -1));
	meta(out, "Exit code", code);
	cd_buf_adds(out, "</div></header>\n");
	if (cd_json_str(run, "failure")) {
		cd_buf_adds(out, "<p class=\"sev-critical\">Failure: ");
		esc(out, cd_json_str(run, "failure"));
		cd_buf_adds(out, "</p>\n");
	}

	cd_buf_adds(out, "<section><h2>Summary</h2><ul class=\"hl\">\n");
	cJSON_ArrayForEach(it, cJSON_GetObjectItem(view, "highlights"))
	{
		cd_buf_adds(out, "<li>");
		icon(out, cd_json_str(it, "icon"));
		cd_buf_adds(out, " ");
		esc(out, cd_json_str(it, "text"));
		cd_buf_adds(out, "</li>\n");
	}
	cd_buf_adds(out, "</ul></section>\n<section><h2>Timeline</h2>\n");
	gantt(out, report);
	static const char *const heads[] = { "Phase / step", "Kind", "Host", "Start", "Target",
		"Actual", "Attempts", "Status", NULL };
	th_row(out, heads);
	const cJSON *tl = cJSON_GetObjectItem(view, "timeline");
	cJSON_ArrayForEach(ph, tl)
	{
		cd_buf_addf(out, "<tr class=\"%s\"><td><b>", result_class(cd_json_str(ph, "result")));
		esc(out, cd_json_str(ph, "name"));
		cd_buf_adds(out, "</b></td><td></td><td></td><td></td>");
		td(out, ph, "budget_text");
		td(out, ph, "actual_text");
		cd_buf_adds(out, "<td></td><td>");
		esc(out, cd_json_str(ph, "status_text"));
		cd_buf_adds(out, "</td></tr>\n");
		cJSON_ArrayForEach(st, cJSON_GetObjectItem(ph, "steps"))
		{
			cd_buf_addf(out, "<tr class=\"%s\"><td>&nbsp;&nbsp;",
				result_class(cd_json_str(st, "result")));
			esc(out, cd_json_str(st, "name"));
			cd_buf_adds(out, "</td>");
			td(out, st, "kind");
			td(out, st, "host");
			td(out, st, "start_text");
			cd_buf_adds(out, "<td></td>");
			td(out, st, "actual_text");
			td(out, st, "attempts");
			cd_buf_adds(out, "<td class=\"msg\">");
			esc(out, cd_json_str(st, "result"));
			if (cd_json_str(st, "message")) {
				cd_buf_adds(out, ": ");
				esc(out, cd_json_str(st, "message"));
			}
			cd_buf_adds(out, "</td></tr>\n");
		}
	}
	const cJSON *tt = cJSON_GetObjectItem(view, "timeline_total");
	cd_buf_adds(out, "<tr><td><b>Total</b></td><td></td><td></td><td></td>");
	td(out, tt, "budget_text");
	td(out, tt, "actual_text");
	cd_buf_adds(out, "<td></td>");
	td(out, tt, "status_text");
	cd_buf_adds(out, "</tr></tbody></table>\n<p><b>Downtime:</b> ");
	esc(out, cd_json_str(cJSON_GetObjectItem(view, "downtime_view"), "text"));
	cd_buf_adds(out, "</p></section>\n");

	section_services(out, view);
	section_performance(out, view);
	section_smoke(out, view);
	section_security(out, view);
	section_rollback(out, view);
	section_issues(out, view);
	cd_buf_adds(out, "<footer>Generated by ");
	esc(out, cd_json_str(view, "generator"));
	cd_buf_addf(out, " from report schema %.0f.</footer>\n</body></html>\n",
		cd_json_num(view, "schema_version", 0));
	cJSON_Delete(view);
}
