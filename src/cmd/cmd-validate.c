/*
 * validate: the plan's validation steps (smoke, load, security, http),
 * wherever they sit in its phases, run alone against what runs now. Nothing
 * is changed, no lock is taken and no baseline is stored; the load steps
 * still compare with the last stored baseline and judge the triggers.
 */
#include <getopt.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "corpdeploy/engine.h"
#include "corpdeploy/log.h"
#include "corpdeploy/plan.h"
#include "corpdeploy/steps.h"

static int is_validation(const struct cd_step *s)
{
	static const char *const kinds[] = { "smoke", "load", "security", "http" };
	for (size_t i = 0; i < CD_ARRAY_SIZE(kinds); i++)
		if (strcmp(s->kind->name, kinds[i]) == 0)
			return 1;
	return 0;
}

static const char *str_of(const cJSON *o, const char *key)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
	return s ? s : "";
}

static double num_of(const cJSON *o, const char *key)
{
	return cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static void print_limits(const cJSON *arr, const char *what, const char *ok_key, int ok_is)
{
	const cJSON *l;
	cJSON_ArrayForEach(l, arr) {
		int ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(l, ok_key)) == ok_is;
		cd_out("    %-4s %s %s: %.2f (limit %.2f)\n", ok ? "ok" : "FAIL", what, str_of(l, "name"),
			num_of(l, "value"), num_of(l, "limit"));
	}
}

static void print_details(const struct cd_step *step, const cJSON *d)
{
	const char *kind = step->kind->name;
	const cJSON *c;
	if (!d)
		return;
	if (strcmp(kind, "smoke") == 0) {
		cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(d, "checks")) {
			int passed = strcmp(str_of(c, "result"), "passed") == 0;
			char b[32];
			cd_out("    %-4s %s / %s (%s)%s%s\n", passed ? "ok" : "FAIL", str_of(c, "category"),
				str_of(c, "name"), cd_duration_format((int64_t)num_of(c, "duration_ms"), b, sizeof(b)),
				passed ? "" : ": ", passed ? "" : str_of(c, "message"));
		}
	} else if (strcmp(kind, "load") == 0) {
		cd_out("    %.0f requests in %.0fms: %.1f/s; p50 %.2fms p90 %.2fms p99 %.2fms max %.2fms; "
		       "%.0f errors\n",
			num_of(d, "requests"), num_of(d, "duration_ms"), num_of(d, "qps"), num_of(d, "p50_ms"),
			num_of(d, "p90_ms"), num_of(d, "p99_ms"), num_of(d, "max_ms"), num_of(d, "errors"));
		print_limits(cJSON_GetObjectItemCaseSensitive(d, "thresholds"), "threshold", "passed", 1);
		const cJSON *b = cJSON_GetObjectItemCaseSensitive(d, "baseline");
		if (b) {
			if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(b, "metrics")))
				cd_out("    %-12s %12s %12s %9s   (baseline: release %s)\n", "metric", "baseline",
					"now", "change", str_of(b, "release"));
			cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(b, "metrics"))
				cd_out("    %-12s %12.2f %12.2f %+8.1f%%\n", str_of(c, "name"), num_of(c, "baseline"),
					num_of(c, "now"), num_of(c, "change_pct"));
			print_limits(cJSON_GetObjectItemCaseSensitive(b, "triggers"), "trigger", "crossed", 0);
		}
	} else if (strcmp(kind, "security") == 0) {
		cd_out("    score %.0f/%.0f\n", num_of(d, "score"), num_of(d, "max_score"));
		cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(d, "findings"))
			cd_out("    %-8s %s: %s\n", str_of(c, "severity"), str_of(c, "check"), str_of(c, "message"));
	}
}

/* Runs one step as the engine would (timeout, retries); prints its outcome. 1 when it failed. */
static int validate_step(struct cd_run *run, const struct cd_step *step, cJSON *json)
{
	struct cd_error err = CD_ERROR_INIT;
	struct cd_step_ctx ctx = { 0 };
	int r = CD_EFAIL;
	for (int attempt = 1; attempt <= step->retries + 1; attempt++) {
		cJSON_Delete(ctx.details);
		cd_buf_release(&ctx.message);
		ctx = (struct cd_step_ctx){ .run = run, .step = step, .attempt = attempt };
		ctx.deadline_ms = cd_time_mono_ms() + (step->timeout_ms > 0 ? step->timeout_ms : 600000);
		cd_buf_init(&ctx.message, 4096);
		cd_error_release(&err);
		if ((r = step->kind->apply(&ctx, &err)) == 0)
			break;
	}
	if (json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "step", step->name);
		cJSON_AddStringToObject(o, "kind", step->kind->name);
		cJSON_AddStringToObject(o, "result", r == 0 ? "ok" : "failed");
		if (r < 0)
			cJSON_AddStringToObject(o, "message", err.msg ? err.msg : "failed");
		if (ctx.details)
			cJSON_AddItemToObject(o, "details", ctx.details);
		ctx.details = NULL;
		cJSON_AddItemToArray(json, o);
	} else {
		cd_out("%-4s %s: %s\n", r == 0 ? "ok" : "FAIL", step->name,
			r == 0 ? ctx.message.buf : err.msg ? err.msg : "failed");
		print_details(step, ctx.details);
	}
	cJSON_Delete(ctx.details);
	cd_buf_release(&ctx.message);
	cd_error_release(&err);
	return r < 0;
}

static void validate_steps(struct cd_run *run, const struct cd_list *steps, cJSON *json, int *ran,
	int *failed)
{
	for (size_t i = 0; i < steps->n; i++) {
		const struct cd_step *s = CD_LIST_AT(steps, struct cd_step, i);
		if (strcmp(s->kind->name, "parallel") == 0)
			validate_steps(run, &((const struct cd_step_parallel *)s->args)->steps, json, ran, failed);
		else if (is_validation(s) && !cd_run_interrupted()) {
			(*ran)++;
			*failed += validate_step(run, s, json);
		}
	}
}

static int cmd_validate_exec(int argc, char **argv)
{
	int json = 0;
	int done = cd_cmd_simple_options(&cd_cmd_validate_entry, argc, argv, &json);
	if (done >= 0)
		return done;
	if (optind != argc - 1)
		return cd_cmd_usage_error(&cd_cmd_validate_entry, "expected one plan");

	struct cd_plan *plan = cd_cmd_load_plan(argv[optind], 0);
	if (!plan)
		return CD_EXIT_USAGE;

	struct cd_run_opts opts = { .rollback = 0 };
	struct cd_run *run = cd_run_new(plan, &opts);
	cJSON *arr = json ? cJSON_CreateArray() : NULL;
	int ran = 0, failed = 0;
	for (size_t i = 0; i < plan->phases.n; i++)
		validate_steps(run, &CD_LIST_AT(&plan->phases, struct cd_phase, i)->steps, arr, &ran, &failed);
	if (json) {
		char *text = cJSON_Print(arr);
		if (!text)
			cd_oom();
		cd_out("%s\n", text);
		cJSON_free(text);
		cJSON_Delete(arr);
	}
	int code = CD_EXIT_OK;
	if (!ran) {
		cd_log_error("%s: the plan has no validation steps (smoke, load, security, http)",
			plan->path);
		code = CD_EXIT_USAGE;
	} else if (failed) {
		cd_log_error("validation failed: %d of %d steps", failed, ran);
		code = CD_EXIT_ROLLED_BACK; /* 1: the plain "failed" status; nothing was changed */
	} else if (!json) {
		cd_log_info("validation passed: %d steps", ran);
	}
	cd_run_free(run);
	cd_plan_free(plan);
	return code;
}

const struct cd_cmd_entry cd_cmd_validate_entry = {
	.name = "validate",
	.usage = "[--json] PLAN",
	.summary = "Run the plan's validation steps against what runs now.",
	.help = "Runs every smoke, load, security and http step of the plan, in plan order,\n"
		"without deploying anything; load steps compare with the last stored baseline.\n"
		"options:\n"
		"  --json   print each step's result and measurements as JSON\n"
		"\nexit status: 0 every check passed; 1 a check, threshold or trigger failed;\n"
		"2 invalid plan or no validation steps\n",
	.exec = cmd_validate_exec,
};
