/*
 * Notifications: a short message about a run posted to webhooks, as JSON
 * with a Slack-compatible "text" field. Delivery is tried again with a
 * doubling delay; a webhook that keeps failing is a warning, never a
 * failed deploy. Bodies are redacted and URLs never printed unredacted
 * (a webhook URL is a credential).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "corpdeploy/http.h"
#include "corpdeploy/log.h"
#include "corpdeploy/plan.h"
#include "corpdeploy/report.h"
#include "corpdeploy/steps.h"
#include "report-internal.h"

#define NOTIFY_MAX_DELAY_MS 30000

/* The notify kind's names (step-notify.c), shared with the plan's notify: list. */
extern const char *const cd_notify_format_names[];

const char *cd_notify_event(const cJSON *report)
{
	const char *outcome = cd_json_str(cJSON_GetObjectItem(report, "run"), "outcome");
	if (outcome && strcmp(outcome, "succeeded") == 0)
		return "success";
	if (outcome && strcmp(outcome, "rolled-back") == 0)
		return "rollback";
	return "failure";
}

static void run_text(const cJSON *report, const char *message, struct cd_buf *text)
{
	const cJSON *run = cJSON_GetObjectItem(report, "run");
	const char *plan = cd_json_str(cJSON_GetObjectItem(report, "plan"), "name");
	const char *rel = cd_json_str(cJSON_GetObjectItem(report, "release"), "id");
	const char *outcome = cd_json_str(run, "outcome");
	const char *event = cd_notify_event(report);
	struct cd_buf took = CD_BUF_INIT;
	cd_report_duration(&took, cd_json_num(run, "duration_ms", 0));
	if (message && *message)
		cd_buf_addf(text, "%s\n", message);
	if (strcmp(event, "success") == 0)
		cd_buf_addf(text, "✅ %s %s deployed in %s", plan ? plan : "plan", rel ? rel : "",
			took.buf);
	else if (strcmp(event, "rollback") == 0)
		cd_buf_addf(text, "⚠️ %s %s failed and was rolled back after %s", plan ? plan : "plan",
			rel ? rel : "", took.buf);
	else
		cd_buf_addf(text, "❌ %s %s %s after %s", plan ? plan : "plan", rel ? rel : "",
			outcome && strcmp(outcome, "rollback-failed") == 0
				? "failed and its ROLLBACK FAILED: manual action needed"
				: "failed",
			took.buf);
	if (cd_json_str(run, "failure"))
		cd_buf_addf(text, ": %s", cd_json_str(run, "failure"));
	int issues = cJSON_GetArraySize(cJSON_GetObjectItem(report, "issues"));
	int warnings = cJSON_GetArraySize(cJSON_GetObjectItem(report, "warnings"));
	cd_buf_addf(text, " (run %s by %s on %s; %d issues, %d warnings)",
		cd_json_str(run, "id") ? cd_json_str(run, "id") : "?",
		cd_json_str(run, "user") ? cd_json_str(run, "user") : "?",
		cd_json_str(run, "host") ? cd_json_str(run, "host") : "?", issues, warnings);
	cd_buf_release(&took);
}

char *cd_notify_body(const cJSON *report, const char *event, const char *message, int slack)
{
	struct cd_buf text = CD_BUF_INIT;
	const cJSON *run = cJSON_GetObjectItem(report, "run");
	if (report)
		run_text(report, message, &text);
	else
		cd_buf_adds(&text, message ? message : "");
	cJSON *body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "text", text.buf);
	if (!slack) {
		cJSON_AddStringToObject(body, "event", event);
		if (message)
			cJSON_AddStringToObject(body, "message", message);
		else
			cJSON_AddNullToObject(body, "message");
		if (report) {
			const cJSON *copy[] = {
				cJSON_GetObjectItem(cJSON_GetObjectItem(report, "plan"), "name"),
				cJSON_GetObjectItem(cJSON_GetObjectItem(report, "release"), "id"),
				cJSON_GetObjectItem(run, "id"),
				cJSON_GetObjectItem(run, "outcome"),
				cJSON_GetObjectItem(run, "exit_code"),
				cJSON_GetObjectItem(run, "duration_ms"),
				cJSON_GetObjectItem(run, "failure"),
			};
			static const char *const names[] = { "plan", "release", "run_id", "outcome",
				"exit_code", "duration_ms", "failure" };
			for (size_t i = 0; i < CD_ARRAY_SIZE(names); i++)
				cJSON_AddItemToObject(body, names[i],
					copy[i] ? cJSON_Duplicate(copy[i], 1) : cJSON_CreateNull());
			cJSON_AddNumberToObject(body, "issues",
				cJSON_GetArraySize(cJSON_GetObjectItem(report, "issues")));
			cJSON_AddNumberToObject(body, "warnings",
				cJSON_GetArraySize(cJSON_GetObjectItem(report, "warnings")));
		}
	}
	char *printed = cJSON_PrintUnformatted(body);
	if (!printed)
		cd_oom();
	char *safe = cd_redact_dup(printed);
	cJSON_free(printed);
	cJSON_Delete(body);
	cd_buf_release(&text);
	return safe;
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0)
		;
}

int cd_notify_post(const char *url, const char *body, int64_t retries, int64_t timeout_ms,
	int64_t first_delay_ms, int *ret_attempts, struct cd_error *err)
{
	struct cd_kv header = { "Content-Type", "application/json", NULL };
	struct cd_kvs headers = { 1, &header };
	struct cd_http_request req = { .method = "POST", .url = url, .headers = &headers,
		.body = body, .timeout_ms = timeout_ms > 0 ? timeout_ms : 5000, .max_body = 65536 };
	int64_t delay = first_delay_ms > 0 ? first_delay_ms : 1000;
	struct cd_buf last = CD_BUF_INIT;
	int attempt = 0;
	for (;;) {
		struct cd_http_response resp;
		struct cd_error e = CD_ERROR_INIT;
		attempt++;
		cd_buf_reset(&last);
		if (cd_http_do(&req, &resp, &e) == 0) {
			if (resp.status >= 200 && resp.status < 300) {
				cd_http_response_release(&resp);
				break;
			}
			cd_buf_addf(&last, "answered %ld", resp.status);
			if (resp.body.len)
				cd_buf_addf(&last, ": %.200s", resp.body.buf);
		} else {
			cd_buf_adds(&last, e.msg ? e.msg : "failed");
		}
		cd_http_response_release(&resp);
		cd_error_release(&e);
		if (attempt > retries || cd_run_interrupted())
			break;
		sleep_ms(delay);
		delay = delay * 2 > NOTIFY_MAX_DELAY_MS ? NOTIFY_MAX_DELAY_MS : delay * 2;
	}
	if (ret_attempts)
		*ret_attempts = attempt;
	int r = 0;
	if (last.len) {
		char *safe_url = cd_redact_dup(url);
		char *safe_why = cd_redact_dup(last.buf);
		r = cd_error_set(err, CD_EREMOTE, "webhook %s failed after %d attempt%s: %s", safe_url,
			attempt, attempt == 1 ? "" : "s", safe_why);
		free(safe_url);
		free(safe_why);
	}
	cd_buf_release(&last);
	return r;
}

static int is_slack(int format)
{
	return strcmp(cd_notify_format_names[format], "slack") == 0;
}

static int wants(const struct cd_strv *on, const char *event)
{
	if (!on->n)
		return strcmp(event, "start") != 0; /* no list: every end of run */
	for (size_t i = 0; i < on->n; i++)
		if (strcmp(on->v[i], event) == 0 ||
			(strcmp(event, "rollback") == 0 && strcmp(on->v[i], "failure") == 0))
			return 1;
	return 0;
}

static int deliver(const char *url, const cJSON *report, const char *event, const char *message,
	int slack, int64_t retries, int64_t timeout_ms, const char *who, cd_notify_note_fn note)
{
	char *body = cd_notify_body(report, event, message, slack);
	struct cd_error err = CD_ERROR_INIT;
	int attempts = 0;
	int r = cd_notify_post(url, body, retries, timeout_ms, 1000, &attempts, &err);
	struct cd_buf line = CD_BUF_INIT;
	if (r < 0)
		cd_buf_addf(&line, "%s: %s (the deploy's outcome stands)", who, err.msg);
	else
		cd_buf_addf(&line, "%s: %s notification delivered (%d attempt%s)", who, event, attempts,
			attempts == 1 ? "" : "s");
	if (note)
		note(r < 0, line.buf);
	cd_buf_release(&line);
	cd_error_release(&err);
	free(body);
	return r < 0;
}

static int notify_steps(const struct cd_list *steps, const cJSON *report, const char *event,
	cd_notify_note_fn note)
{
	int failed = 0;
	for (size_t i = 0; i < steps->n; i++) {
		const struct cd_step *s = CD_LIST_AT(steps, struct cd_step, i);
		if (strcmp(s->kind->name, "parallel") == 0) {
			failed += notify_steps(&((const struct cd_step_parallel *)s->args)->steps, report,
				event, note);
			continue;
		}
		if (strcmp(s->kind->name, "notify") != 0)
			continue;
		const struct cd_step_notify *n = s->args;
		if (!n->on.n || !wants(&n->on, event))
			continue; /* without `on`, the step posted when it ran */
		char *who = cd_xasprintf("notify step '%s'", s->name);
		failed += deliver(n->url, report, event, n->message, is_slack(n->format),
			s->retries > 0 ? s->retries : 3, s->timeout_ms > 0 ? s->timeout_ms : 5000, who, note);
		free(who);
	}
	return failed;
}

int cd_notify_run_end(const struct cd_plan *plan, const cJSON *report, cd_notify_note_fn note)
{
	const char *event = cd_notify_event(report);
	int failed = 0;
	for (size_t i = 0; i < plan->notify.n; i++) {
		const struct cd_webhook *w = CD_LIST_AT(&plan->notify, struct cd_webhook, i);
		if (!wants(&w->on, event))
			continue;
		char *who = cd_xasprintf("notify[%zu]", i);
		failed += deliver(w->url, report, event, NULL, is_slack(w->format), w->retries,
			w->timeout_ms, who, note);
		free(who);
	}
	for (size_t i = 0; i < plan->phases.n; i++)
		failed += notify_steps(&CD_LIST_AT(&plan->phases, struct cd_phase, i)->steps, report,
			event, note);
	return failed;
}
