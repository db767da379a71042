/*
 * JUnit XML for CI, in the common Ant/Jenkins form (tests/report/junit.xsd):
 * one <testsuite> per phase, a <testcase> per step and per smoke check,
 * <failure> with the message when it failed, <skipped/> when it never ran.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "report-internal.h"

/* XML 1.0 text: the five specials escaped, control characters it forbids dropped. */
static void xml_escape(struct cd_buf *out, const char *text)
{
	for (const unsigned char *p = (const unsigned char *)(text ? text : ""); *p; p++) {
		switch (*p) {
		case '&': cd_buf_adds(out, "&amp;"); break;
		case '<': cd_buf_adds(out, "&lt;"); break;
		case '>': cd_buf_adds(out, "&gt;"); break;
		case '"': cd_buf_adds(out, "&quot;"); break;
		case '\'': cd_buf_adds(out, "&apos;"); break;
		default:
			if (*p >= 0x20 || *p == '\t' || *p == '\n' || *p == '\r')
				cd_buf_addch(out, (char)*p);
			break;
		}
	}
}

static void attr(struct cd_buf *out, const char *name, const char *value)
{
	cd_buf_addf(out, " %s=\"", name);
	xml_escape(out, value);
	cd_buf_addch(out, '"');
}

static void attr_seconds(struct cd_buf *out, const char *name, double ms)
{
	cd_buf_addf(out, " %s=\"%.3f\"", name, ms > 0 ? ms / 1000 : 0);
}

/* The run's start plus offset, as the schema's timestamp (no zone: UTC by convention). */
static void timestamp(struct cd_buf *out, const char *started_at, double offset_ms)
{
	struct tm tm = { 0 };
	if (!started_at || !strptime(started_at, "%Y-%m-%dT%H:%M:%S", &tm))
		return;
	time_t t = timegm(&tm) + (time_t)(offset_ms / 1000);
	char b[32];
	gmtime_r(&t, &tm);
	strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%S", &tm);
	attr(out, "timestamp", b);
}

struct counts {
	int tests, failures, skipped;
};

static void count_phase(const cJSON *ph, struct counts *c)
{
	const cJSON *st, *ck;
	cJSON_ArrayForEach(st, cJSON_GetObjectItem(ph, "steps"))
	{
		const char *result = cd_json_str(st, "result");
		c->tests++;
		c->failures += result && strcmp(result, "failed") == 0;
		c->skipped += result && (strcmp(result, "skipped") == 0 || strcmp(result, "pending") == 0);
		const char *kind = cd_json_str(st, "kind");
		if (kind && strcmp(kind, "smoke") == 0)
			cJSON_ArrayForEach(ck, cJSON_GetObjectItem(cJSON_GetObjectItem(st, "details"), "checks"))
			{
				c->tests++;
				const char *r = cd_json_str(ck, "result");
				c->failures += !r || strcmp(r, "passed") != 0;
			}
	}
}

static void testcase_open(struct cd_buf *out, const char *name, const char *classname, double ms)
{
	cd_buf_adds(out, "    <testcase");
	attr(out, "name", name);
	attr(out, "classname", classname);
	attr_seconds(out, "time", ms);
	cd_buf_adds(out, ">\n");
}

static void failure(struct cd_buf *out, const char *type, const char *message)
{
	cd_buf_adds(out, "      <failure");
	attr(out, "message", message ? message : "failed");
	attr(out, "type", type);
	cd_buf_adds(out, ">");
	xml_escape(out, message ? message : "failed");
	cd_buf_adds(out, "</failure>\n");
}

static void write_step(struct cd_buf *out, const cJSON *st, const char *classname)
{
	const char *result = cd_json_str(st, "result"), *msg = cd_json_str(st, "message");
	const char *kind = cd_json_str(st, "kind");
	testcase_open(out, cd_json_str(st, "name"), classname, cd_json_num(st, "duration_ms", 0));
	if (result && strcmp(result, "failed") == 0)
		failure(out, kind ? kind : "step", msg);
	else if (result && (strcmp(result, "skipped") == 0 || strcmp(result, "pending") == 0))
		cd_buf_adds(out, "      <skipped message=\"not run: an earlier step failed\"/>\n");
	cd_buf_adds(out, "      <system-out>");
	struct cd_buf text = CD_BUF_INIT;
	cd_buf_addf(&text, "%s on %s, %g attempt(s): %s", kind ? kind : "step",
		cd_json_str(st, "host") ? cd_json_str(st, "host") : "local",
		cd_json_num(st, "attempts", 0), msg ? msg : result ? result : "");
	xml_escape(out, text.buf);
	cd_buf_release(&text);
	cd_buf_adds(out, "</system-out>\n    </testcase>\n");

	if (!kind || strcmp(kind, "smoke") != 0)
		return;
	const cJSON *ck;
	struct cd_buf cls = CD_BUF_INIT;
	cd_buf_addf(&cls, "%s.%s", classname, cd_json_str(st, "name") ? cd_json_str(st, "name") : "smoke");
	cJSON_ArrayForEach(ck, cJSON_GetObjectItem(cJSON_GetObjectItem(st, "details"), "checks"))
	{
		struct cd_buf name = CD_BUF_INIT;
		const char *cat = cd_json_str(ck, "category");
		cd_buf_addf(&name, "%s%s%s", cat ? cat : "", cat ? ": " : "",
			cd_json_str(ck, "name") ? cd_json_str(ck, "name") : "check");
		testcase_open(out, name.buf, cls.buf, cd_json_num(ck, "duration_ms", 0));
		const char *r = cd_json_str(ck, "result");
		if (!r || strcmp(r, "passed") != 0)
			failure(out, cd_json_str(ck, "kind") ? cd_json_str(ck, "kind") : "check",
				cd_json_str(ck, "message"));
		cd_buf_adds(out, "    </testcase>\n");
		cd_buf_release(&name);
	}
	cd_buf_release(&cls);
}

void cd_report_render_junit(const cJSON *report, struct cd_buf *out)
{
	const cJSON *run = cJSON_GetObjectItem(report, "run");
	const cJSON *plan = cJSON_GetObjectItem(report, "plan");
	const cJSON *rel = cJSON_GetObjectItem(report, "release");
	const char *plan_name = cd_json_str(plan, "name") ? cd_json_str(plan, "name") : "plan";
	struct counts total = { 0 };
	const cJSON *ph, *st;
	cJSON_ArrayForEach(ph, cJSON_GetObjectItem(report, "phases")) count_phase(ph, &total);

	cd_buf_adds(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites");
	struct cd_buf name = CD_BUF_INIT;
	cd_buf_addf(&name, "%s %s", plan_name, cd_json_str(rel, "id") ? cd_json_str(rel, "id") : "");
	attr(out, "name", name.buf);
	cd_buf_release(&name);
	cd_buf_addf(out, " tests=\"%d\" failures=\"%d\" errors=\"0\" skipped=\"%d\"", total.tests,
		total.failures, total.skipped);
	attr_seconds(out, "time", cd_json_num(run, "duration_ms", 0));
	cd_buf_adds(out, ">\n");
	int id = 0;
	cJSON_ArrayForEach(ph, cJSON_GetObjectItem(report, "phases"))
	{
		struct counts c = { 0 };
		count_phase(ph, &c);
		const char *phase = cd_json_str(ph, "name") ? cd_json_str(ph, "name") : "phase";
		cd_buf_adds(out, "  <testsuite");
		attr(out, "name", phase);
		cd_buf_addf(out, " tests=\"%d\" failures=\"%d\" errors=\"0\" skipped=\"%d\"", c.tests,
			c.failures, c.skipped);
		attr_seconds(out, "time", cd_json_num(ph, "duration_ms", 0));
		timestamp(out, cd_json_str(run, "started_at"), cd_json_num(ph, "start_ms", 0));
		attr(out, "hostname", cd_json_str(run, "host") ? cd_json_str(run, "host") : "localhost");
		cd_buf_addf(out, " id=\"%d\"", id++);
		attr(out, "package", plan_name);
		cd_buf_adds(out, ">\n    <properties>\n");
		static const char *const props[][3] = {
			{ "release", "release", "id" }, { "commit", "release", "commit" },
			{ "run", "run", "id" }, { "outcome", "run", "outcome" },
			{ "phase.result", NULL, "result" },
		};
		for (size_t i = 0; i < CD_ARRAY_SIZE(props); i++) {
			const cJSON *from = props[i][1] ? cJSON_GetObjectItem(report, props[i][1]) : ph;
			const char *v = cd_json_str(from, props[i][2]);
			if (!v)
				continue;
			cd_buf_adds(out, "      <property");
			attr(out, "name", props[i][0]);
			attr(out, "value", v);
			cd_buf_adds(out, "/>\n");
		}
		if (cd_json_has_num(ph, "budget_ms"))
			cd_buf_addf(out, "      <property name=\"budget\" value=\"%.3f\"/>\n",
				cd_json_num(ph, "budget_ms", 0) / 1000);
		cd_buf_adds(out, "    </properties>\n");
		struct cd_buf cls = CD_BUF_INIT;
		cd_buf_addf(&cls, "%s.%s", plan_name, phase);
		cJSON_ArrayForEach(st, cJSON_GetObjectItem(ph, "steps")) write_step(out, st, cls.buf);
		cd_buf_release(&cls);
		cd_buf_adds(out, "  </testsuite>\n");
	}
	cd_buf_adds(out, "</testsuites>\n");
}
