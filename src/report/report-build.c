/*
 * The report model: one JSON document built from a finished run and its
 * plan (schema: corpdeploy-report(5)). Policy: every string is redacted as
 * it enters the document, a value nobody measured is null (never a guess),
 * and issues and warnings are derived here, once, for every renderer.
 */
#include <cjson/cJSON.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "corpdeploy/engine.h"
#include "corpdeploy/log.h"
#include "corpdeploy/plan.h"
#include "corpdeploy/report.h"
#include "corpdeploy/steps.h"
#include "corpdeploy/vcs.h"
#include "report-internal.h"

static cJSON *redacted_string(const char *s)
{
	if (!s)
		return cJSON_CreateNull();
	char *r = cd_redact_dup(s);
	cJSON *j = cJSON_CreateString(r);
	free(r);
	return j;
}

static void add_str(cJSON *obj, const char *key, const char *value)
{
	cJSON_AddItemToObject(obj, key, redacted_string(value));
}

/* A duration or count the plan may leave unset: null, not -1. */
static void add_ms(cJSON *obj, const char *key, int64_t ms)
{
	if (ms < 0)
		cJSON_AddNullToObject(obj, key);
	else
		cJSON_AddNumberToObject(obj, key, (double)ms);
}

/* Details come from step kinds: every string in them is redacted on the copy. */
static void redact_tree(cJSON *node)
{
	for (cJSON *c = node; c; c = c->next) {
		if (cJSON_IsString(c) && c->valuestring) {
			char *r = cd_redact_dup(c->valuestring);
			if (strcmp(r, c->valuestring) != 0)
				cJSON_SetValuestring(c, r);
			free(r);
		}
		if (c->child)
			redact_tree(c->child);
	}
}

static const char *const outcome_names[] = {
	[CD_RUN_OK] = "succeeded",
	[CD_RUN_FAILED_ROLLED_BACK] = "rolled-back",
	[CD_RUN_FAILED_NOT_ROLLED_BACK] = "failed",
	[CD_RUN_ROLLBACK_FAILED] = "rollback-failed",
	[CD_RUN_PRECHECK_FAILED] = "precheck-failed",
};

static void add_identity(cJSON *run_obj)
{
	char host[256] = "";
	const char *user = getenv("SUDO_USER");
	if (!user || !*user) {
		struct passwd *pw = getpwuid(geteuid());
		user = pw ? pw->pw_name : getenv("USER");
	}
	add_str(run_obj, "user", user);
	if (gethostname(host, sizeof(host) - 1) < 0)
		host[0] = 0;
	add_str(run_obj, "host", host[0] ? host : NULL);
}

static cJSON *build_release(const struct cd_plan *plan)
{
	cJSON *rel = cJSON_CreateObject();
	add_str(rel, "id", plan->release);
	int from_git = plan->release_spec && strcmp(plan->release_spec, "git") == 0;
	cJSON_AddStringToObject(rel, "source", from_git ? "git" : "literal");
	struct cd_vcs_info vcs;
	struct cd_error err = CD_ERROR_INIT;
	if (plan->dir && cd_vcs_describe(plan->dir, &vcs, &err) == 0) {
		cJSON_AddStringToObject(rel, "commit", vcs.commit);
		cJSON_AddStringToObject(rel, "short_commit", vcs.short_id);
		cJSON_AddBoolToObject(rel, "dirty", vcs.dirty);
		add_str(rel, "branch", vcs.branch);
		cd_vcs_info_release(&vcs);
	} else {
		cJSON_AddNullToObject(rel, "commit");
		cJSON_AddNullToObject(rel, "short_commit");
		cJSON_AddNullToObject(rel, "dirty");
		cJSON_AddNullToObject(rel, "branch");
	}
	cd_error_release(&err);
	return rel;
}

/* The host a step acted on: its target's engine or SSH address, "local" otherwise. */
static const char *step_host(const struct cd_plan *plan, const struct cd_target *t)
{
	(void)plan;
	if (!t)
		return "local";
	if (t->kind == CD_TARGET_SSH && t->host)
		return t->host;
	if (t->kind == CD_TARGET_DOCKER && t->docker)
		return t->docker;
	return "local";
}

static cJSON *build_step(const struct cd_plan *plan, const struct cd_step_result *res)
{
	const struct cd_step *s = res->step;
	cJSON *o = cJSON_CreateObject();
	add_str(o, "name", s->name);
	cJSON_AddStringToObject(o, "kind", s->kind->name);
	struct cd_buf desc = CD_BUF_INIT;
	if (s->kind->describe)
		s->kind->describe(s, &desc);
	add_str(o, "description", desc.len ? desc.buf : NULL);
	cd_buf_release(&desc);
	const struct cd_target *t = s->target ? cd_plan_target(plan, s->target) : NULL;
	add_str(o, "target", s->target);
	add_str(o, "host", step_host(plan, t));
	cJSON_AddNumberToObject(o, "start_ms", (double)res->start_ms);
	cJSON_AddNumberToObject(o, "duration_ms", (double)res->duration_ms);
	add_ms(o, "timeout_ms", s->timeout_ms);
	cJSON_AddStringToObject(o, "result", cd_result_names[res->result]);
	cJSON_AddNumberToObject(o, "attempts", res->attempts);
	cJSON_AddNumberToObject(o, "retries", s->retries > 0 ? (double)s->retries : 0);
	cJSON_AddBoolToObject(o, "continue_on_error", s->continue_on_error > 0);
	add_str(o, "message", res->message && *res->message ? res->message : NULL);
	if (res->details) {
		cJSON *d = cJSON_Duplicate(res->details, 1);
		redact_tree(d);
		cJSON_AddItemToObject(o, "details", d);
	} else {
		cJSON_AddNullToObject(o, "details");
	}
	return o;
}

/* Steps the run never reached are listed too, as skipped, with no times. */
static void add_not_run(const struct cd_run *run, const struct cd_list *list, cJSON *steps)
{
	for (size_t i = 0; i < list->n; i++) {
		const struct cd_step *s = CD_LIST_AT(list, struct cd_step, i);
		if (strcmp(s->kind->name, "parallel") == 0) {
			add_not_run(run, &((const struct cd_step_parallel *)s->args)->steps, steps);
			continue;
		}
		int seen = 0;
		for (size_t k = 0; k < run->n_steps && !seen; k++)
			seen = run->steps[k].step == s;
		if (seen)
			continue;
		struct cd_step_result res = { .step = s, .result = CD_RESULT_SKIPPED };
		cJSON *o = build_step(run->plan, &res);
		cJSON_ReplaceItemInObject(o, "start_ms", cJSON_CreateNull());
		cJSON_ReplaceItemInObject(o, "duration_ms", cJSON_CreateNull());
		cJSON_ReplaceItemInObject(o, "attempts", cJSON_CreateNumber(0));
		cJSON_AddItemToArray(steps, o);
	}
}

static cJSON *build_phases(const struct cd_run *run)
{
	const struct cd_plan *plan = run->plan;
	cJSON *phases = cJSON_CreateArray();
	for (size_t i = 0; i < run->n_phases; i++) {
		const struct cd_phase_result *pr = &run->phases[i];
		const struct cd_phase *p = pr->phase ? pr->phase
						     : CD_LIST_AT(&plan->phases, struct cd_phase, i);
		cJSON *o = cJSON_CreateObject();
		add_str(o, "name", p->name);
		add_ms(o, "budget_ms", p->budget_ms > 0 ? p->budget_ms : -1);
		int ran = pr->result != CD_RESULT_SKIPPED && pr->result != CD_RESULT_PENDING;
		add_ms(o, "start_ms", ran ? pr->start_ms : -1);
		add_ms(o, "duration_ms", ran ? pr->duration_ms : -1);
		cJSON_AddStringToObject(o, "result", cd_result_names[pr->result]);
		cJSON *steps = cJSON_AddArrayToObject(o, "steps");
		for (size_t k = 0; k < run->n_steps; k++)
			if (run->steps[k].phase && p->name && strcmp(run->steps[k].phase, p->name) == 0)
				cJSON_AddItemToArray(steps, build_step(plan, &run->steps[k]));
		add_not_run(run, &p->steps, steps);
		cJSON_AddItemToArray(phases, o);
	}
	return phases;
}

/* The deploy details' services, each beside what the plan says about it. */
static cJSON *build_services(const struct cd_plan *plan, const cJSON *phases)
{
	cJSON *services = cJSON_CreateArray();
	for (size_t i = 0; i < plan->services.n; i++) {
		const struct cd_service *svc = CD_LIST_AT(&plan->services, struct cd_service, i);
		cJSON *o = cJSON_CreateObject();
		add_str(o, "name", svc->name);
		add_str(o, "layer", svc->layer);
		add_str(o, "image", svc->image ? svc->image : (svc->build ? "(built)" : NULL));
		add_str(o, "target", svc->target);
		cJSON_AddStringToObject(o, "strategy", cd_strategy_names[svc->strategy]);
		const cJSON *measured = NULL, *by = NULL;
		const cJSON *ph, *st, *sv;
		cJSON_ArrayForEach(ph, phases)
			cJSON_ArrayForEach(st, cJSON_GetObjectItem(ph, "steps"))
			{
				const cJSON *d = cJSON_GetObjectItem(st, "details");
				if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(st, "kind")), "deploy") != 0)
					continue;
				cJSON_ArrayForEach(sv, cJSON_GetObjectItem(d, "services"))
				{
					const char *n = cJSON_GetStringValue(cJSON_GetObjectItem(sv, "name"));
					if (n && svc->name && strcmp(n, svc->name) == 0) {
						measured = sv;
						by = st;
					}
				}
			}
		static const char *const copied[] = { "container", "image_before", "image_after",
			"result", "health", "health_check", "healthy_after_ms" };
		for (size_t k = 0; k < CD_ARRAY_SIZE(copied); k++) {
			const cJSON *v = measured ? cJSON_GetObjectItem(measured, copied[k]) : NULL;
			cJSON_AddItemToObject(o, copied[k], v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull());
		}
		cJSON_AddItemToObject(o, "step",
			by ? cJSON_Duplicate(cJSON_GetObjectItem(by, "name"), 1) : cJSON_CreateNull());
		cJSON_AddItemToArray(services, o);
	}
	return services;
}

static cJSON *build_rollback(const struct cd_run *run, const struct cd_report_input *in)
{
	const struct cd_rollback *rb = run->plan->rollback;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "enabled", run->opts.rollback);
	cJSON_AddBoolToObject(o, "automatic", rb ? rb->automatic != 0 : 1);
	add_ms(o, "budget_ms", rb && rb->budget_ms > 0 ? rb->budget_ms : 600000);
	int performed = run->rollback_ms >= 0;
	cJSON_AddBoolToObject(o, "performed", performed);
	const char *status = "not-needed";
	switch (in->outcome) {
	case CD_RUN_OK: break;
	case CD_RUN_FAILED_ROLLED_BACK: status = "completed"; break;
	case CD_RUN_ROLLBACK_FAILED: status = "failed"; break;
	case CD_RUN_FAILED_NOT_ROLLED_BACK: status = "disabled"; break;
	case CD_RUN_PRECHECK_FAILED: status = "nothing-to-undo"; break;
	}
	cJSON_AddStringToObject(o, "status", status);
	add_str(o, "trigger", in->outcome == CD_RUN_OK ? NULL : run->failure);
	add_ms(o, "duration_ms", run->rollback_ms);
	cJSON *actions = cJSON_AddArrayToObject(o, "actions");
	for (size_t i = run->n_undo; i-- > 0;) {
		const struct cd_undo *u = &run->undo[i];
		cJSON *a = cJSON_CreateObject();
		add_str(a, "description", u->description);
		add_str(a, "step", u->step);
		cJSON_AddBoolToObject(a, "undone", u->done);
		cJSON_AddItemToArray(actions, a);
	}
	cJSON *trig = cJSON_AddObjectToObject(o, "triggers");
	const struct cd_triggers *t = rb ? rb->triggers : NULL;
	if (t && t->error_rate > 0)
		cJSON_AddNumberToObject(trig, "error_rate_pct", t->error_rate);
	if (t && t->p99_regression > 0)
		cJSON_AddNumberToObject(trig, "p99_regression_pct", t->p99_regression);
	if (t && t->success_rate_below > 0)
		cJSON_AddNumberToObject(trig, "success_rate_below_pct", t->success_rate_below);
	if (t && t->downtime_over_ms > 0)
		cJSON_AddNumberToObject(trig, "downtime_over_ms", (double)t->downtime_over_ms);
	return o;
}

cJSON *cd_report_build(const struct cd_run *run, const struct cd_report_input *in)
{
	const struct cd_plan *plan = run->plan;
	cJSON *rep = cJSON_CreateObject();
	cJSON_AddStringToObject(rep, "schema", "corpdeploy-report");
	cJSON_AddNumberToObject(rep, "schema_version", CD_REPORT_SCHEMA_VERSION);
	cJSON_AddStringToObject(rep, "generator", "corpdeploy " CD_VERSION);

	cJSON *r = cJSON_AddObjectToObject(rep, "run");
	add_str(r, "id", run->run_id);
	add_str(r, "started_at", run->started_at[0] ? run->started_at : NULL);
	char end[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(end, sizeof(end), "%Y-%m-%dT%H:%M:%SZ", &tm);
	cJSON_AddStringToObject(r, "finished_at", end);
	cJSON_AddNumberToObject(r, "duration_ms",
		run->t0_ms > 0 ? (double)(cd_time_mono_ms() - run->t0_ms) : 0);
	add_identity(r);
	cJSON_AddStringToObject(r, "outcome", outcome_names[in->outcome]);
	cJSON_AddNumberToObject(r, "exit_code", in->exit_code);
	if (in->interrupted)
		cJSON_AddNumberToObject(r, "interrupted_by_signal", in->interrupted);
	else
		cJSON_AddNullToObject(r, "interrupted_by_signal");
	add_str(r, "failure", run->failure);

	cJSON *p = cJSON_AddObjectToObject(rep, "plan");
	add_str(p, "name", plan->name);
	add_str(p, "description", plan->description);
	add_str(p, "file", plan->path);
	int64_t budget = 0;
	for (size_t i = 0; i < plan->phases.n; i++) {
		const struct cd_phase *ph = CD_LIST_AT(&plan->phases, struct cd_phase, i);
		if (ph->budget_ms > 0)
			budget += ph->budget_ms;
	}
	add_ms(p, "budget_ms", budget > 0 ? budget : -1);
	cJSON_AddItemToObject(rep, "release", build_release(plan));

	cJSON *phases = build_phases(run);
	cJSON_AddItemToObject(rep, "phases", phases);
	cJSON_AddItemToObject(rep, "services", build_services(plan, phases));
	if (in->downtime) {
		cJSON *d = cJSON_Duplicate(in->downtime, 1);
		redact_tree(d);
		cJSON_AddItemToObject(rep, "downtime", d);
	} else {
		cJSON_AddNullToObject(rep, "downtime");
	}
	cJSON_AddItemToObject(rep, "rollback", build_rollback(run, in));
	cd_report_derive_issues(rep);
	return rep;
}
