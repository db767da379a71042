/*
 * plan: a dry run. Loads and validates the plan, then prints phase by phase
 * what `up` would do — steps, services, targets, budgets — touching nothing.
 * --json prints the whole typed plan as one document.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "corpdeploy/log.h"
#include "corpdeploy/plan.h"
#include "corpdeploy/steps.h"


static size_t smoke_checks(const struct cd_step *s, size_t *categories)
{
	size_t n = 0;
	if (strcmp(s->kind->name, "smoke") == 0) {
		const struct cd_smoke_suite *suite = ((const struct cd_step_smoke *)s->args)->suite;
		for (size_t i = 0; suite && i < suite->categories.n; i++) {
			n += CD_LIST_AT(&suite->categories, struct cd_smoke_category, i)->checks.n;
			(*categories)++;
		}
	} else if (strcmp(s->kind->name, "parallel") == 0) {
		const struct cd_list *l = &((const struct cd_step_parallel *)s->args)->steps;
		for (size_t i = 0; i < l->n; i++)
			n += smoke_checks(CD_LIST_AT(l, struct cd_step, i), categories);
	}
	return n;
}

static void print_target(const struct cd_target *t)
{
	cd_out("  %-14s %-6s ", t->name, cd_target_kind_names[t->kind]);
	switch (t->kind) {
	case CD_TARGET_DOCKER:
		cd_out("%s", t->docker);
		break;
	case CD_TARGET_SSH:
		cd_out("%s%s%s:%lld%s", t->user ? t->user : "", t->user ? "@" : "", t->host,
			(long long)t->port, t->docker ? " (with its Docker engine)" : "");
		break;
	case CD_TARGET_LOCAL:
		cd_out("this machine");
		break;
	case CD_TARGET_GROUP:
		cd_out("hosts ");
		for (size_t i = 0; i < t->hosts.n; i++)
			cd_out("%s%s", i ? ", " : "", t->hosts.v[i]);
		break;
	}
	cd_out("\n");
}

static void print_service(const struct cd_service *s)
{
	char b[32];
	cd_out("    %-18s %s", s->name, s->image ? s->image : "");
	if (s->build)
		cd_out("build %s", s->build->context);
	if (s->target && strcmp(s->target, "local") != 0)
		cd_out("  on %s", s->target);
	cd_out("\n");
	struct cd_buf line = CD_BUF_INIT;
	for (size_t i = 0; i < s->ports_raw.n; i++)
		cd_buf_addf(&line, "%s%s", i ? ", " : "ports ", s->ports_raw.v[i]);
	if (s->depends_on.n) {
		cd_buf_addf(&line, "%sneeds ", line.len ? "; " : "");
		cd_step_describe_strv(&s->depends_on, ", ", &line);
	}
	if (s->health) {
		cd_buf_addf(&line, "%shealth %s ", line.len ? "; " : "",
			cd_health_kind_names[s->health->kind]);
		switch (s->health->kind) {
		case CD_HEALTH_HTTP: cd_buf_adds(&line, s->health->http); break;
		case CD_HEALTH_TCP: cd_buf_adds(&line, s->health->tcp); break;
		case CD_HEALTH_COMMAND: cd_step_describe_cmd(&s->health->command, &line); break;
		default: cd_buf_adds(&line, "(image HEALTHCHECK)"); break;
		}
		cd_buf_addf(&line, " within %s",
			cd_duration_format(s->health->timeout_ms, b, sizeof(b)));
	}
	if (s->strategy != CD_STRATEGY_RECREATE)
		cd_buf_addf(&line, "%sstrategy %s%s%s", line.len ? "; " : "",
			cd_strategy_names[s->strategy], s->proxy ? " via " : "", s->proxy ? s->proxy : "");
	if (line.len)
		cd_out("      %s\n", line.buf);
	cd_buf_release(&line);
}

static void print_smoke(const struct cd_step_smoke *sm, const char *indent)
{
	const struct cd_smoke_suite *suite = sm->suite;
	for (size_t i = 0; suite && i < suite->categories.n; i++) {
		const struct cd_smoke_category *c =
			CD_LIST_AT(&suite->categories, struct cd_smoke_category, i);
		cd_out("%s%s (%zu)\n", indent, c->name, c->checks.n);
		for (size_t j = 0; j < c->checks.n; j++) {
			const struct cd_smoke_check *k = CD_LIST_AT(&c->checks, struct cd_smoke_check, j);
			struct cd_buf d = CD_BUF_INIT;
			if (k->http)
				cd_buf_addf(&d, "%s %s", k->method ? k->method : "GET", k->http);
			else if (k->tcp)
				cd_buf_addf(&d, "tcp %s", k->tcp);
			else if (k->container)
				cd_buf_addf(&d, "container %s is healthy", k->container);
			else
				cd_step_describe_cmd(&k->command, &d);
			cd_expect_describe(k->expect, &d);
			cd_out("%s  - %s: %s\n", indent, k->name, d.buf);
			cd_buf_release(&d);
		}
	}
}

static void print_steps(const struct cd_list *steps, const char *indent)
{
	for (size_t i = 0; i < steps->n; i++) {
		const struct cd_step *s = CD_LIST_AT(steps, struct cd_step, i);
		struct cd_buf d = CD_BUF_INIT;
		char b[32];
		s->kind->describe(s, &d);
		cd_out("%s%zu. %-22s %s", indent, i + 1, s->name, d.buf);
		if (s->timeout_ms >= 0)
			cd_out(" [timeout %s]", cd_duration_format(s->timeout_ms, b, sizeof(b)));
		if (s->retries > 0)
			cd_out(" [retries %lld]", (long long)s->retries);
		if (s->target && strcmp(s->kind->name, "copy") != 0)
			cd_out(" [on %s]", s->target);
		cd_out("\n");
		cd_buf_release(&d);
		char deeper[64];
		snprintf(deeper, sizeof(deeper), "%s      ", indent);
		if (strcmp(s->kind->name, "parallel") == 0)
			print_steps(&((const struct cd_step_parallel *)s->args)->steps, deeper);
		else if (strcmp(s->kind->name, "smoke") == 0)
			print_smoke(s->args, deeper);
	}
}

static void print_plan(const struct cd_plan *plan)
{
	char b[32];
	size_t nsmoke = 0, ncat = 0;
	int64_t total_budget = 0;

	for (size_t i = 0; i < plan->phases.n; i++) {
		const struct cd_phase *p = CD_LIST_AT(&plan->phases, struct cd_phase, i);
		for (size_t j = 0; j < p->steps.n; j++)
			nsmoke += smoke_checks(CD_LIST_AT(&p->steps, struct cd_step, j), &ncat);
		if (p->budget_ms > 0)
			total_budget += p->budget_ms;
	}
	cd_out("plan %s, release %s (%s)\n", plan->name, plan->release,
		plan->path);
	if (plan->description)
		cd_out("%s\n", plan->description);
	cd_out("%zu services, %zu phases, %zu steps, %zu smoke checks in %zu categories, %zu targets\n",
		plan->services.n, plan->phases.n, cd_plan_step_count(plan), nsmoke, ncat,
		plan->targets.n);

	cd_out("\ntargets\n");
	for (size_t i = 0; i < plan->targets.n; i++)
		print_target(CD_LIST_AT(&plan->targets, struct cd_target, i));

	cd_out("\nservices (%zu)\n", plan->services.n);
	/* Grouped by layer, in the order layers first appear. */
	for (size_t i = 0; i < plan->services.n; i++) {
		const struct cd_service *s = CD_LIST_AT(&plan->services, struct cd_service, i);
		size_t j;
		for (j = 0; j < i; j++) {
			const struct cd_service *o = CD_LIST_AT(&plan->services, struct cd_service, j);
			if ((o->layer == NULL) == (s->layer == NULL) &&
				(!s->layer || strcmp(o->layer, s->layer) == 0))
				break;
		}
		if (j < i)
			continue;
		size_t count = 0;
		for (size_t k = i; k < plan->services.n; k++) {
			const struct cd_service *o = CD_LIST_AT(&plan->services, struct cd_service, k);
			if ((o->layer == NULL) == (s->layer == NULL) &&
				(!s->layer || strcmp(o->layer, s->layer) == 0))
				count++;
		}
		cd_out("  %s (%zu)\n", s->layer ? s->layer : "services", count);
		for (size_t k = i; k < plan->services.n; k++) {
			const struct cd_service *o = CD_LIST_AT(&plan->services, struct cd_service, k);
			if ((o->layer == NULL) == (s->layer == NULL) &&
				(!s->layer || strcmp(o->layer, s->layer) == 0))
				print_service(o);
		}
	}

	cd_out("\nphases\n");
	for (size_t i = 0; i < plan->phases.n; i++) {
		const struct cd_phase *p = CD_LIST_AT(&plan->phases, struct cd_phase, i);
		cd_out("%zu. %s", i + 1, p->name);
		if (p->budget_ms >= 0)
			cd_out("  (budget %s)", cd_duration_format(p->budget_ms, b, sizeof(b)));
		cd_out("\n");
		print_steps(&p->steps, "   ");
	}
	if (total_budget)
		cd_out("\ntotal budget %s\n", cd_duration_format(total_budget, b, sizeof(b)));

	const struct cd_rollback *rb = plan->rollback;
	if (rb) {
		cd_out("rollback: %s, budget %s, keeps %lld releases", rb->automatic ? "automatic" : "manual",
			cd_duration_format(rb->budget_ms, b, sizeof(b)), (long long)rb->keep_releases);
		const struct cd_triggers *t = rb->triggers;
		if (t) {
			cd_out("; triggers:");
			if (t->error_rate >= 0)
				cd_out(" error rate > %g%%", t->error_rate);
			if (t->p99_regression >= 0)
				cd_out(" p99 regression > %g%%", t->p99_regression);
			if (t->success_rate_below >= 0)
				cd_out(" success rate < %g%%", t->success_rate_below);
			if (t->downtime_over_ms >= 0)
				cd_out(" downtime > %s", cd_duration_format(t->downtime_over_ms, b, sizeof(b)));
		}
		cd_out("\n");
	}
	if (plan->report) {
		cd_out("reports: ");
		for (size_t i = 0; i < plan->report->formats.n; i++)
			cd_out("%s%s", i ? ", " : "", plan->report->formats.v[i]);
		cd_out(" in %s\n", plan->report->dir);
	}
}

static int cmd_plan_exec(int argc, char **argv)
{
	int json = 0;
	int done = cd_cmd_simple_options(&cd_cmd_plan_entry, argc, argv, &json);
	if (done >= 0)
		return done;
	if (optind != argc - 1)
		return cd_cmd_usage_error(&cd_cmd_plan_entry, "expected one plan");

	struct cd_plan *plan = cd_cmd_load_plan(argv[optind], CD_PLAN_LOAD_OFFLINE);
	if (!plan)
		return CD_EXIT_USAGE;
	if (json) {
		char *s = cd_plan_to_json(plan);
		cd_out("%s\n", s);
		free(s);
	} else {
		print_plan(plan);
	}
	cd_plan_free(plan);
	return CD_EXIT_OK;
}

const struct cd_cmd_entry cd_cmd_plan_entry = {
	.name = "plan",
	.usage = "[--json] PLAN",
	.summary = "Show, phase by phase, what 'up' would do, without touching anything.",
	.help = "options:\n"
		"  --json   print the validated plan as one JSON document\n"
		"\nexit status: 0 the plan is valid and was shown, 2 it has errors\n",
	.exec = cmd_plan_exec,
};
