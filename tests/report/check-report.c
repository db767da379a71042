/*
 * Unit tests of the report module: the template language, the report model
 * built from a hand-made run (every section, absent details as null, every
 * string redacted), issues derived as the fixture records them, notification
 * bodies, and atomic 0600 writes.
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "corpdeploy/engine.h"
#include "corpdeploy/log.h"
#include "corpdeploy/plan.h"
#include "corpdeploy/report.h"
#include "corpdeploy/steps.h"
#include "report-internal.h"

#define SENTINEL "s3ntinel-Tok3n-91x"

static void teardown(void)
{
	cd_redact_clear();
}

/* Renders tmpl over the JSON text data; returns the output (malloc'd) or NULL on error. */
static char *render(const char *tmpl, const char *data, struct cd_error *err)
{
	cJSON *doc = cJSON_Parse(data);
	ck_assert_ptr_nonnull(doc);
	struct cd_buf out = CD_BUF_INIT;
	int r = cd_template_render(tmpl, doc, NULL, &out, err);
	cJSON_Delete(doc);
	if (r < 0) {
		cd_buf_release(&out);
		return NULL;
	}
	return cd_buf_detach(&out);
}

static const struct {
	const char *tmpl, *data, *want;
} template_cases[] = {
	{ "a {{x}} b", "{\"x\":\"y\"}", "a y b" },
	{ "{{a.b.c}}", "{\"a\":{\"b\":{\"c\":12}}}", "12" },
	{ "{{n}}|{{f}}|{{t}}", "{\"n\":2.5,\"f\":0.126,\"t\":true}", "2.5|0.13|yes" },
	{ "{{missing}} {{nul}}", "{\"nul\":null}", "not measured not measured" },
	{ "{{#l}}[{{@index}}:{{.}}]{{/l}}", "{\"l\":[\"a\",\"b\"]}", "[1:a][2:b]" },
	{ "{{#o}}{{k}}{{/o}}", "{\"o\":{\"k\":\"v\"}}", "v" },
	{ "{{#e}}x{{/e}}{{^e}}none{{/e}}", "{\"e\":[]}", "none" },
	{ "{{#z}}x{{/z}}{{^z}}zero{{/z}}", "{\"z\":0}", "zero" },
	{ "{{#l}}{{name}}/{{top}} {{/l}}", "{\"top\":\"T\",\"l\":[{\"name\":\"a\"}]}", "a/T " },
	{ "{{l.1}}", "{\"l\":[\"a\",\"b\"]}", "b" },
	/* A section tag alone on its line takes the line; a value tag does not. */
	{ "a\n{{#l}}\n- {{.}}\n{{/l}}\nb\n", "{\"l\":[1,2]}", "a\n- 1\n- 2\nb\n" },
	{ "x\n  {{! note }}  \ny", "{}", "x\ny" },
	{ "{{v}}\n", "{\"v\":\"1\"}", "1\n" },
};

START_TEST(test_template_render_cases)
{
	struct cd_error err = CD_ERROR_INIT;
	char *got = render(template_cases[_i].tmpl, template_cases[_i].data, &err);
	ck_assert_msg(got, "template %d failed: %s", _i, err.msg);
	ck_assert_msg(strcmp(got, template_cases[_i].want) == 0, "template %d: got '%s', want '%s'",
		_i, got, template_cases[_i].want);
	free(got);
}
END_TEST

static const struct {
	const char *tmpl, *msg;
} template_errors[] = {
	{ "a\n{{#x}}\nb", "template line 2: {{#x}} is never closed" },
	{ "{{#x}}{{/y}}", "template line 1: {{/y}} closes {{#x}} of line 1" },
	{ "\n\n{{/y}}", "template line 3: {{/y}} closes nothing" },
	{ "a {{x", "template line 1: '{{' without '}}'" },
	{ "{{ }}", "template line 1: a tag without a name" },
};

START_TEST(test_template_render_errors)
{
	struct cd_error err = CD_ERROR_INIT;
	char *got = render(template_errors[_i].tmpl, "{}", &err);
	ck_assert_ptr_null(got);
	ck_assert_str_eq(err.msg, template_errors[_i].msg);
	cd_error_release(&err);
}
END_TEST

static const char plan_text[] =
	"corpdeploy: 1\n"
	"name: shop\n"
	"release: \"2.0.0\"\n"
	"secrets: [API_TOKEN]\n"
	"targets:\n"
	"  local: { docker: unix:///var/run/docker.sock }\n"
	"services:\n"
	"  api: { image: \"shop/api:2.0.0\", layer: application }\n"
	"  db: { image: postgres:16, layer: infrastructure }\n"
	"phases:\n"
	"  - name: deploy\n"
	"    budget: 1m\n"
	"    steps:\n"
	"      - deploy: [db, api]\n"
	"  - name: validation\n"
	"    budget: 10s\n"
	"    steps:\n"
	"      - name: smoke\n"
	"        http: \"http://127.0.0.1:1/?token=${API_TOKEN}\"\n"
	"      - name: later\n"
	"        wait: 1s\n"
	"rollback:\n"
	"  triggers: { error_rate: 5%, downtime_over: 30s }\n";

static const char *fake_getenv(const char *name)
{
	return strcmp(name, "API_TOKEN") == 0 ? SENTINEL : NULL;
}

static void step_result(struct cd_run *run, const char *name, const char *phase,
	enum cd_result result, int64_t start, int64_t dur, const char *msg, const char *details)
{
	struct cd_step_result *r = &run->steps[run->n_steps++];
	r->step = cd_plan_step(run->plan, name);
	ck_assert_msg(r->step, "no step %s", name);
	r->phase = phase;
	r->result = result;
	r->attempts = 1;
	r->start_ms = start;
	r->duration_ms = dur;
	r->message = msg ? cd_xstrdup(msg) : NULL;
	r->details = details ? cJSON_Parse(details) : NULL;
}

/* A failed, rolled-back run of plan_text, as the engine would leave it. */
static struct cd_run *hand_made_run(struct cd_plan **ret_plan)
{
	struct cd_diags diags = CD_DIAGS_INIT;
	struct cd_plan_opts opts = { .getenv = fake_getenv };
	struct cd_plan *plan = NULL;
	int r = cd_plan_load_buffer("/tmp/shop.yaml", plan_text, strlen(plan_text), &opts, &diags,
		&plan);
	ck_assert_msg(r == 0, "plan: %s", diags.n ? diags.items[0].msg : "?");
	cd_diags_release(&diags);
	struct cd_run_opts ro = { .run_id = "20261128-101500-7", .rollback = 1 };
	struct cd_run *run = cd_run_new(plan, &ro);
	run->t0_ms = cd_time_mono_ms() - 5000;
	run->steps = cd_xcalloc(8, sizeof(*run->steps));
	run->alloc_steps = 8;
	run->phases = cd_xcalloc(2, sizeof(*run->phases));
	run->n_phases = 2;
	run->phases[0] = (struct cd_phase_result){ CD_LIST_AT(&plan->phases, struct cd_phase, 0),
		CD_RESULT_OK, 0, 2500 };
	run->phases[1] = (struct cd_phase_result){ CD_LIST_AT(&plan->phases, struct cd_phase, 1),
		CD_RESULT_FAILED, 2500, 12000 };
	step_result(run, "deploy-db-api", "deploy", CD_RESULT_OK, 0, 2500, "2 services",
		"{\"services\":[{\"name\":\"api\",\"container\":\"shop-api\",\"image_before\":\"shop/"
		"api:1.9.0\",\"image_after\":\"shop/api:2.0.0\",\"result\":\"replaced\",\"health\":"
		"\"healthy\",\"healthy_after_ms\":900}]}");
	step_result(run, "smoke", "validation", CD_RESULT_FAILED, 2500, 12000,
		"GET http://127.0.0.1:1/?token=" SENTINEL ": connection refused", NULL);
	run->failure = cd_xstrdup("step 'smoke' failed: token " SENTINEL " refused");
	run->rollback_ms = 1234;
	static struct cd_step deploy_step = { .name = "deploy-db-api" };
	deploy_step.kind = cd_step_kind_find("deploy");
	ck_assert_int_eq(cd_run_push_undo(run, &deploy_step, "container.replace", cJSON_CreateObject(),
				 NULL, "put back container '%s'", "shop-api"),
		0);
	run->undo[0].done = 1;
	*ret_plan = plan;
	return run;
}

START_TEST(test_report_build_hand_made_run)
{
	struct cd_plan *plan;
	struct cd_run *run = hand_made_run(&plan);
	const char *dt = "{\"url\":\"http://127.0.0.1/health\",\"interval_ms\":200,\"probes\":50,"
			 "\"failed\":3,\"longest_gap_ms\":600,\"first_good_new_ms\":900}";
	cJSON *downtime = cJSON_Parse(dt);
	struct cd_report_input in = { .outcome = CD_RUN_FAILED_ROLLED_BACK, .exit_code = 1,
		.downtime = downtime };
	cJSON *rep = cd_report_build(run, &in);

	ck_assert_str_eq(cd_json_str(rep, "schema"), "corpdeploy-report");
	ck_assert_int_eq((int)cd_json_num(rep, "schema_version", 0), CD_REPORT_SCHEMA_VERSION);
	const cJSON *r = cJSON_GetObjectItem(rep, "run");
	ck_assert_str_eq(cd_json_str(r, "id"), "20261128-101500-7");
	ck_assert_str_eq(cd_json_str(r, "outcome"), "rolled-back");
	ck_assert_int_eq((int)cd_json_num(r, "exit_code", -1), 1);
	ck_assert_ptr_nonnull(cd_json_str(r, "user"));
	ck_assert_ptr_nonnull(cd_json_str(r, "started_at"));
	ck_assert_str_eq(cd_json_str(r, "failure"), "step 'smoke' failed: token *** refused");
	ck_assert_str_eq(cd_json_str(cJSON_GetObjectItem(rep, "release"), "id"), "2.0.0");
	ck_assert_str_eq(cd_json_str(cJSON_GetObjectItem(rep, "release"), "source"), "literal");
	ck_assert_int_eq((int)cd_json_num(cJSON_GetObjectItem(rep, "plan"), "budget_ms", 0), 70000);

	const cJSON *phases = cJSON_GetObjectItem(rep, "phases");
	ck_assert_int_eq(cJSON_GetArraySize(phases), 2);
	const cJSON *p1 = cJSON_GetArrayItem(phases, 1);
	ck_assert_str_eq(cd_json_str(p1, "result"), "failed");
	ck_assert_int_eq((int)cd_json_num(p1, "budget_ms", 0), 10000);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(p1, "steps")), 2);
	const cJSON *smoke = cJSON_GetArrayItem(cJSON_GetObjectItem(p1, "steps"), 0);
	/* The step the run never reached is there, skipped, without times. */
	const cJSON *later = cJSON_GetArrayItem(cJSON_GetObjectItem(p1, "steps"), 1);
	ck_assert_str_eq(cd_json_str(later, "name"), "later");
	ck_assert_str_eq(cd_json_str(later, "result"), "skipped");
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(later, "start_ms")));
	ck_assert_str_eq(cd_json_str(smoke, "kind"), "http");
	ck_assert_str_eq(cd_json_str(smoke, "message"),
		"GET http://127.0.0.1:1/?token=***: connection refused");
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(smoke, "details")));
	ck_assert_str_eq(cd_json_str(smoke, "host"), "local");

	/* Services: measured where a deploy step said so, null where nothing did. */
	const cJSON *svcs = cJSON_GetObjectItem(rep, "services");
	ck_assert_int_eq(cJSON_GetArraySize(svcs), 2);
	const cJSON *api = NULL, *db = NULL, *it;
	cJSON_ArrayForEach(it, svcs)
	{
		if (strcmp(cd_json_str(it, "name"), "api") == 0)
			api = it;
		else
			db = it;
	}
	ck_assert_str_eq(cd_json_str(api, "image_before"), "shop/api:1.9.0");
	ck_assert_str_eq(cd_json_str(api, "result"), "replaced");
	ck_assert_str_eq(cd_json_str(api, "step"), "deploy-db-api");
	ck_assert_str_eq(cd_json_str(api, "layer"), "application");
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(db, "result")));
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(db, "healthy_after_ms")));

	const cJSON *rb = cJSON_GetObjectItem(rep, "rollback");
	ck_assert_str_eq(cd_json_str(rb, "status"), "completed");
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(rb, "performed")));
	ck_assert_int_eq((int)cd_json_num(rb, "duration_ms", 0), 1234);
	ck_assert_str_eq(cd_json_str(rb, "trigger"), "step 'smoke' failed: token *** refused");
	const cJSON *a0 = cJSON_GetArrayItem(cJSON_GetObjectItem(rb, "actions"), 0);
	ck_assert_str_eq(cd_json_str(a0, "description"), "put back container 'shop-api'");
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(a0, "undone")));
	const cJSON *trig = cJSON_GetObjectItem(rb, "triggers");
	ck_assert_int_eq((int)cd_json_num(trig, "error_rate_pct", 0), 5);
	ck_assert_int_eq((int)cd_json_num(trig, "downtime_over_ms", 0), 30000);
	ck_assert_int_eq((int)cd_json_num(cJSON_GetObjectItem(rep, "downtime"), "failed", 0), 3);

	/* The failed step is an issue; the probe's failures and the slow phase are warnings. */
	const cJSON *issues = cJSON_GetObjectItem(rep, "issues");
	ck_assert_int_eq(cJSON_GetArraySize(issues), 1);
	ck_assert_str_eq(cd_json_str(cJSON_GetArrayItem(issues, 0), "severity"), "critical");
	ck_assert_str_eq(cd_json_str(cJSON_GetArrayItem(issues, 0), "id"), "ISSUE-001");
	const cJSON *warnings = cJSON_GetObjectItem(rep, "warnings");
	ck_assert_int_eq(cJSON_GetArraySize(warnings), 2);
	ck_assert_str_eq(cd_json_str(cJSON_GetArrayItem(warnings, 0), "message"),
		"phase 'validation' took 12.0 s, over its 10.0 s budget");
	ck_assert_str_eq(cd_json_str(cJSON_GetArrayItem(warnings, 1), "category"), "availability");

	/* Every format rendered from it is free of the secret. */
	for (int f = CD_REPORT_JSON; f <= CD_REPORT_JUNIT; f++) {
		struct cd_buf out = CD_BUF_INIT;
		struct cd_error err = CD_ERROR_INIT;
		ck_assert_int_eq(cd_report_render(rep, (enum cd_report_format)f, NULL, &out, &err), 0);
		ck_assert_msg(!strstr(out.buf, SENTINEL), "format %d shows the secret", f);
		ck_assert_msg(out.len > 500, "format %d is too short", f);
		cd_buf_release(&out);
	}
	char *body = cd_notify_body(rep, "rollback", NULL, 0);
	ck_assert(!strstr(body, SENTINEL));
	cJSON *b = cJSON_Parse(body);
	ck_assert_str_eq(cd_json_str(b, "event"), "rollback");
	ck_assert_str_eq(cd_json_str(b, "outcome"), "rolled-back");
	ck_assert_ptr_nonnull(strstr(cd_json_str(b, "text"), "failed and was rolled back"));
	cJSON_Delete(b);
	free(body);
	body = cd_notify_body(rep, "rollback", "deploy of shop", 1);
	b = cJSON_Parse(body);
	ck_assert_int_eq(cJSON_GetArraySize(b), 1); /* Slack: {"text"} alone */
	ck_assert_ptr_nonnull(strstr(cd_json_str(b, "text"), "deploy of shop\n"));
	cJSON_Delete(b);
	free(body);
	ck_assert_str_eq(cd_notify_event(rep), "rollback");

	cJSON_Delete(rep);
	cJSON_Delete(downtime);
	cd_run_free(run);
	cd_plan_free(plan);
}
END_TEST

START_TEST(test_report_build_success_not_measured)
{
	struct cd_plan *plan;
	struct cd_run *run = hand_made_run(&plan);
	run->steps[1].result = CD_RESULT_OK;
	free(run->failure);
	run->failure = NULL;
	run->rollback_ms = -1;
	run->phases[1].result = CD_RESULT_OK;
	run->phases[1].duration_ms = 3000;
	struct cd_report_input in = { .outcome = CD_RUN_OK, .exit_code = 0 };
	cJSON *rep = cd_report_build(run, &in);
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(rep, "downtime")));
	const cJSON *rb = cJSON_GetObjectItem(rep, "rollback");
	ck_assert_str_eq(cd_json_str(rb, "status"), "not-needed");
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(rb, "duration_ms")));
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(rb, "trigger")));
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(rep, "issues")), 0);
	struct cd_buf md = CD_BUF_INIT;
	struct cd_error err = CD_ERROR_INIT;
	ck_assert_int_eq(cd_report_render(rep, CD_REPORT_MARKDOWN, NULL, &md, &err), 0);
	ck_assert_ptr_nonnull(strstr(md.buf, "**SUCCEEDED**"));
	ck_assert_ptr_nonnull(strstr(md.buf, "No smoke tests in this deployment (not measured)."));
	ck_assert_ptr_nonnull(strstr(md.buf, "No load test in this deployment (not measured)."));
	ck_assert_ptr_nonnull(strstr(md.buf, "**Downtime:** not measured (no probe in the plan)"));
	ck_assert_ptr_nonnull(strstr(md.buf, "| **db** | not measured | not measured |"));
	cd_buf_release(&md);
	cJSON_Delete(rep);
	cd_run_free(run);
	cd_plan_free(plan);
}
END_TEST

/* The fixture's issues and warnings are exactly what the builder derives from it. */
START_TEST(test_report_derive_issues_fixture)
{
	const char *dir = getenv("CD_REPORT_FIXTURES");
	ck_assert_ptr_nonnull(dir);
	char *path = cd_xasprintf("%s/reference-run.json", dir);
	cJSON *rep = NULL;
	struct cd_error err = CD_ERROR_INIT;
	ck_assert_msg(cd_report_read(path, &rep, &err) == 0, "%s", err.msg);
	cJSON *derived = cJSON_Duplicate(rep, 1);
	cd_report_derive_issues(derived);
	ck_assert(cJSON_Compare(cJSON_GetObjectItem(rep, "issues"),
		cJSON_GetObjectItem(derived, "issues"), 1));
	ck_assert(cJSON_Compare(cJSON_GetObjectItem(rep, "warnings"),
		cJSON_GetObjectItem(derived, "warnings"), 1));
	cJSON_Delete(derived);
	cJSON_Delete(rep);
	free(path);
}
END_TEST

START_TEST(test_report_write_file_atomic_private)
{
	char dir[] = "/tmp/check-report.XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char *path = cd_xasprintf("%s/r.json", dir);
	struct cd_error err = CD_ERROR_INIT;
	cd_redact_add(SENTINEL);
	umask(022);
	ck_assert_int_eq(cd_report_write_file(path, "one " SENTINEL, 4 + strlen(SENTINEL), &err), 0);
	ck_assert_int_eq(cd_report_write_file(path, "two " SENTINEL, 4 + strlen(SENTINEL), &err), 0);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	char buf[64] = "";
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
	fclose(f);
	ck_assert_str_eq(buf, "two ***");
	unlink(path);
	ck_assert_int_eq(rmdir(dir), 0); /* no temporary file left behind */
	/* A directory that does not exist is an error naming the file. */
	ck_assert_int_eq(cd_report_write_file("/nonexistent/x/r.json", "x", 1, &err), CD_EIO);
	ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/x/r.json"));
	cd_error_release(&err);
	free(path);
}
END_TEST

START_TEST(test_report_format_parse)
{
	ck_assert_int_eq(cd_report_format_parse("md"), CD_REPORT_MARKDOWN);
	ck_assert_int_eq(cd_report_format_parse("markdown"), CD_REPORT_MARKDOWN);
	ck_assert_int_eq(cd_report_format_parse("junit"), CD_REPORT_JUNIT);
	ck_assert_int_eq(cd_report_format_parse("pdf"), -1);
	ck_assert_str_eq(cd_report_file_name(CD_REPORT_HTML), "report.html");
}
END_TEST

static Suite *report_suite(void)
{
	Suite *s = suite_create("report");
	TCase *tc = tcase_create("report");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_loop_test(tc, test_template_render_cases, 0, (int)CD_ARRAY_SIZE(template_cases));
	tcase_add_loop_test(tc, test_template_render_errors, 0, (int)CD_ARRAY_SIZE(template_errors));
	tcase_add_test(tc, test_report_build_hand_made_run);
	tcase_add_test(tc, test_report_build_success_not_measured);
	tcase_add_test(tc, test_report_derive_issues_fixture);
	tcase_add_test(tc, test_report_write_file_atomic_private);
	tcase_add_test(tc, test_report_format_parse);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(report_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
