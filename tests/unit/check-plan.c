/*
 * Unit tests for loading plans (src/plan/plan.c, plan-model.c, plan-schema.c
 * and the step kinds): a valid plan decodes to the expected typed values with
 * defaults applied; every invalid one reports exactly its problems, each
 * with message, line and column, all of them in one run.
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corpdeploy/log.h"
#include "corpdeploy/plan.h"
#include "corpdeploy/steps.h"

#define PLAN_FILE "unit.yaml"

/* Three lines every inline plan starts with; bodies begin on line 4. */
#define HEAD                  \
	"corpdeploy: 1\n"     \
	"name: demo\n"        \
	"release: \"1.0.0\"\n"

/* ---- the environment the loader sees ---- */

/* "NAME=value" strings, NULL-terminated; the loader never sees the real environment. */
static const char *const *fake_env;

static const char *fake_getenv(const char *name)
{
	size_t n = strlen(name);
	for (const char *const *e = fake_env; e && *e; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

static struct cd_diags diags;
static struct cd_plan *plan;

static void setup(void)
{
	fake_env = NULL;
	diags = (struct cd_diags)CD_DIAGS_INIT;
	plan = NULL;
}

static void teardown(void)
{
	cd_plan_free(plan);
	cd_diags_release(&diags);
	cd_redact_clear();
}

static int load_flags(const char *text, unsigned flags)
{
	struct cd_plan_opts opts = { .flags = flags, .getenv = fake_getenv };
	return cd_plan_load_buffer(PLAN_FILE, text, strlen(text), &opts, &diags, &plan);
}

static int load(const char *text)
{
	return load_flags(text, 0);
}

static const char *dump_diags(void)
{
	static char out[8192];
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < diags.n && o < sizeof(out); i++)
		o += (size_t)snprintf(out + o, sizeof(out) - o, "\n  %s %u:%u %s",
			diags.items[i].severity == CD_SEV_ERROR ? "error" : "warning",
			diags.items[i].line, diags.items[i].col, diags.items[i].msg);
	return diags.n ? out : " (none)";
}

struct want_diag {
	enum cd_severity sev;
	unsigned line, col;
	const char *msg;
};

#define E(line, col, msg) { CD_SEV_ERROR, line, col, msg }
#define W(line, col, msg) { CD_SEV_WARNING, line, col, msg }

/* Asserts that exactly these diagnostics were reported, in this order. */
static void assert_diags(const char *file, const struct want_diag *want, size_t n)
{
	ck_assert_msg(diags.n == n, "%zu diagnostics, want %zu:%s", diags.n, n, dump_diags());
	for (size_t i = 0; i < n; i++) {
		const struct cd_diag *g = &diags.items[i];
		ck_assert_msg(g->severity == want[i].sev && g->line == want[i].line &&
				      g->col == want[i].col && strcmp(g->msg, want[i].msg) == 0,
			"diagnostic %zu: got %s %u:%u '%s'\n  want %s %u:%u '%s'%s", i,
			g->severity == CD_SEV_ERROR ? "error" : "warning", g->line, g->col, g->msg,
			want[i].sev == CD_SEV_ERROR ? "error" : "warning", want[i].line,
				want[i].col,
			want[i].msg, dump_diags());
		ck_assert_msg(g->file && strcmp(g->file, file) == 0, "diagnostic %zu: file '%s'", i,
			g->file ? g->file : "(null)");
	}
}

/* ---- a valid plan ---- */

static const char minimal[] = HEAD
	"services:\n"					/* 4 */
	"  web:\n"					/* 5 */
	"    image: nginx:1.25\n"			/* 6 */
	"    ports: [\"127.0.0.1:8080:80\"]\n"		/* 7 */
	"    health:\n"					/* 8 */
	"      http: http://127.0.0.1:8080/health\n"	/* 9 */
	"      timeout: 90s\n"				/* 10 */
	"phases:\n"					/* 11 */
	"  - name: deploy\n"				/* 12 */
	"    budget: 5m\n"				/* 13 */
	"    steps:\n"					/* 14 */
	"      - deploy: [web]\n"			/* 15 */
	"        timeout: 2m\n"				/* 16 */
	"      - wait: 500ms\n";			/* 17 */

START_TEST(test_plan_load_buffer_minimal)
{
	ck_assert_msg(load(minimal) == 0, "load failed:%s", dump_diags());
	ck_assert_uint_eq(diags.n, 0);

	ck_assert_int_eq(plan->version, 1);
	ck_assert_str_eq(plan->name, "demo");
	ck_assert_str_eq(plan->release_spec, "1.0.0");
	ck_assert_str_eq(plan->release, "1.0.0");
	ck_assert_str_eq(plan->path, PLAN_FILE);
	ck_assert_str_eq(plan->dir, ".");
	ck_assert_str_eq(plan->state_dir, ".corpdeploy");
	ck_assert_ptr_null(plan->description);
	ck_assert_ptr_null(plan->env_file);
	ck_assert_uint_eq(plan->secrets.n, 0);
	ck_assert_ptr_null(plan->rollback);
	ck_assert_ptr_null(plan->report);
	ck_assert_ptr_null(plan->probe);
	ck_assert_uint_eq(plan->notify.n, 0);

	/* The implicit 'local' target: the local engine. */
	ck_assert_uint_eq(plan->targets.n, 1);
	const struct cd_target *t = cd_plan_target(plan, "local");
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(t->kind, CD_TARGET_DOCKER);
	ck_assert_str_eq(t->docker, "unix:///var/run/docker.sock");
	ck_assert_int_eq(t->connect_timeout_ms, 10000);

	ck_assert_uint_eq(plan->services.n, 1);
	const struct cd_service *s = cd_plan_service(plan, "web");
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s->name, "web");
	ck_assert_uint_eq(s->node->line, 6);
	ck_assert_uint_eq(s->node->col, 5);
	ck_assert_str_eq(s->target, "local");
	ck_assert_str_eq(s->image, "nginx:1.25");
	ck_assert_ptr_null(s->build);
	ck_assert_int_eq(s->pull, CD_PULL_MISSING);
	ck_assert_str_eq(s->restart, "unless-stopped");
	ck_assert_int_eq(s->stop_timeout_ms, 10000);
	ck_assert_int_eq(s->strategy, CD_STRATEGY_RECREATE);
	ck_assert_int_eq(s->init, 0);
	ck_assert_int_eq(s->drain_ms, CD_UNSET);
	ck_assert_uint_eq(s->ports_raw.n, 1);
	ck_assert_str_eq(s->ports[0].host_ip, "127.0.0.1");
	ck_assert_int_eq(s->ports[0].host_port, 8080);
	ck_assert_int_eq(s->ports[0].container_port, 80);
	ck_assert_str_eq(s->ports[0].proto, "tcp");
	ck_assert_ptr_nonnull(s->health);
	ck_assert_int_eq(s->health->kind, CD_HEALTH_HTTP);
	ck_assert_str_eq(s->health->http, "http://127.0.0.1:8080/health");
	ck_assert_int_eq(s->health->expect, 200);
	ck_assert_int_eq(s->health->interval_ms, 1000);
	ck_assert_int_eq(s->health->timeout_ms, 90000);
	ck_assert_int_eq(s->health->retries, 3);
	ck_assert_int_eq(s->health->start_period_ms, 0);

	ck_assert_uint_eq(plan->phases.n, 1);
	const struct cd_phase *p = CD_LIST_AT(&plan->phases, struct cd_phase, 0);
	ck_assert_str_eq(p->name, "deploy");
	ck_assert_int_eq(p->budget_ms, 5 * 60000);
	ck_assert_uint_eq(p->steps.n, 2);
	ck_assert_uint_eq(cd_plan_step_count(plan), 2);

	const struct cd_step *st = CD_LIST_AT(&p->steps, struct cd_step, 0);
	ck_assert_ptr_eq(st, cd_plan_step(plan, "deploy-web"));
	ck_assert_str_eq(st->kind->name, "deploy");
	ck_assert_int_eq(st->ok, 1);
	ck_assert_uint_eq(st->node->line, 15);
	ck_assert_uint_eq(st->node->col, 9);
	ck_assert_uint_eq(st->kind_node->line, 15);
	ck_assert_int_eq(st->timeout_ms, 120000);
	ck_assert_int_eq(st->retries, 0);
	ck_assert_int_eq(st->retry_delay_ms, 1000);
	ck_assert_int_eq(st->continue_on_error, 0);
	ck_assert_ptr_null(st->target);
	const struct cd_step_deploy *d = st->args;
	ck_assert_uint_eq(d->services.n, 1);
	ck_assert_str_eq(d->services.v[0], "web");
	ck_assert_int_eq(d->parallel, CD_UNSET);

	const struct cd_step *w = CD_LIST_AT(&p->steps, struct cd_step, 1);
	ck_assert_str_eq(w->name, "wait");
	ck_assert_str_eq(w->kind->name, "wait");
	ck_assert_int_eq(((const struct cd_step_wait *)w->args)->duration_ms, 500);
	ck_assert_int_eq(w->timeout_ms, CD_UNSET);

	ck_assert_ptr_null(cd_plan_service(plan, "nope"));
	ck_assert_ptr_null(cd_plan_target(plan, "nope"));
	ck_assert_ptr_null(cd_plan_step(plan, "nope"));
}
END_TEST

START_TEST(test_plan_load_buffer_docker_host)
{
	static const char *const env[] = { "DOCKER_HOST=unix:///run/user/1000/docker.sock", NULL };
	fake_env = env;

	ck_assert_msg(load(minimal) == 0, "load failed:%s", dump_diags());
	ck_assert_str_eq(cd_plan_target(plan, "local")->docker,
		"unix:///run/user/1000/docker.sock");
}
END_TEST

START_TEST(test_plan_load_buffer_own_local_target)
{
	static const char text[] = HEAD
		"targets:\n"
		"  local: { docker: \"unix:///srv/docker.sock\" }\n"
		"  edge: { ssh: \"deploy@edge.example.com:2222\", docker: ssh }\n"
		"services:\n"
		"  web: { image: nginx, target: edge }\n"
		"phases:\n"
		"  - name: deploy\n"
		"    steps:\n"
		"      - deploy: [web]\n";

	ck_assert_msg(load(text) == 0, "load failed:%s", dump_diags());
	/* A plan's own 'local' is kept, not doubled. */
	ck_assert_uint_eq(plan->targets.n, 2);
	ck_assert_str_eq(cd_plan_target(plan, "local")->docker, "unix:///srv/docker.sock");
	const struct cd_target *t = cd_plan_target(plan, "edge");
	ck_assert_int_eq(t->kind, CD_TARGET_SSH);
	ck_assert_str_eq(t->user, "deploy");
	ck_assert_str_eq(t->host, "edge.example.com");
	ck_assert_int_eq(t->port, 2222);
	ck_assert_str_eq(cd_plan_service(plan, "web")->target, "edge");
}
END_TEST

START_TEST(test_plan_load_buffer_interpolation)
{
	static const char *const env[] = { "TAG=1.25-alpine", "HOME_DIR=/home/ops", NULL };
	static const char text[] = HEAD
		"vars:\n"
		"  TAG: \"from-vars\"\n"	   /* vars win over the environment */
		"  DIR: \"${HOME_DIR}/app\"\n" /* vars see the environment */
		"services:\n"
		"  web:\n"
		"    image: \"nginx:${TAG}\"\n"
		"    env:\n"
		"      RELEASE: \"${release}\"\n"
		"      NAME: \"${name}\"\n"
		"      DIR: \"${DIR}\"\n"
		"      OPT: \"${UNSET:-fallback}\"\n"
		"      LIT: \"$${NOT_ME}\"\n"
		"phases:\n"
		"  - name: deploy\n"
		"    steps:\n"
		"      - deploy: [web]\n"
		"      - run: [sh, -c, \"echo ${capture.token}\"]\n";
	fake_env = env;

	ck_assert_msg(load(text) == 0, "load failed:%s", dump_diags());
	const struct cd_service *s = cd_plan_service(plan, "web");
	ck_assert_str_eq(s->image, "nginx:from-vars");
	static const char *const want[][2] = {
		{ "RELEASE", "1.0.0" }, { "NAME", "demo" }, { "DIR", "/home/ops/app" },
		{ "OPT", "fallback" }, { "LIT", "${NOT_ME}" },
	};
	ck_assert_uint_eq(s->env.n, CD_ARRAY_SIZE(want));
	for (size_t i = 0; i < CD_ARRAY_SIZE(want); i++) {
		ck_assert_str_eq(s->env.items[i].key, want[i][0]);
		ck_assert_str_eq(s->env.items[i].value, want[i][1]);
	}
	const struct cd_step_run *r = cd_plan_step(plan, "run-sh")->args;
	ck_assert_str_eq(r->command.argv.v[2], "echo ${capture.token}");
}
END_TEST

START_TEST(test_plan_load_buffer_backup_with_restore_key)
{
	/* restore is a step kind too, but here it is a key of the backup step. */
	static const char text[] = HEAD
		"phases:\n"
		"  - name: backup\n"
		"    steps:\n"
		"      - backup: database\n"
		"        dump: [pg_dump, -Fc, app]\n"
		"        restore: [pg_restore, -d, app]\n"
		"        keep: 3\n";

	ck_assert_msg(load(text) == 0, "load failed:%s", dump_diags());
	ck_assert_uint_eq(diags.n, 0);
	const struct cd_step *st = cd_plan_step(plan, "backup-database");
	ck_assert_ptr_nonnull(st);
	ck_assert_str_eq(st->kind->name, "backup");
	const struct cd_step_backup *b = st->args;
	ck_assert_int_eq(b->type, CD_BACKUP_DATABASE);
	ck_assert_uint_eq(b->dump.argv.n, 3);
	ck_assert_str_eq(b->dump.argv.v[0], "pg_dump");
	ck_assert_int_eq(b->restore.shell, 0);
	ck_assert_uint_eq(b->restore.argv.n, 3);
	ck_assert_str_eq(b->restore.argv.v[2], "app");
	ck_assert_int_eq(b->keep, 3);
	ck_assert_int_eq(b->upload, 0);
}
END_TEST

START_TEST(test_plan_load_buffer_deploy_with_parallel_key)
{
	/* parallel is a step kind too, but here it is a key of the deploy step. */
	static const char text[] = HEAD
		"services:\n"
		"  web: { image: nginx }\n"
		"  api: { image: nginx }\n"
		"phases:\n"
		"  - name: deploy\n"
		"    steps:\n"
		"      - deploy: [web, api]\n"
		"        parallel: 2\n"
		"        strategy: rolling\n";

	ck_assert_msg(load(text) == 0, "load failed:%s", dump_diags());
	const struct cd_step *st = cd_plan_step(plan, "deploy-web-api");
	ck_assert_ptr_nonnull(st);
	ck_assert_str_eq(st->kind->name, "deploy");
	const struct cd_step_deploy *d = st->args;
	ck_assert_uint_eq(d->services.n, 2);
	ck_assert_int_eq(d->parallel, 2);
	ck_assert_int_eq(d->strategy, CD_STRATEGY_ROLLING);
}
END_TEST

START_TEST(test_plan_load_buffer_parallel_group)
{
	static const char text[] = HEAD
		"phases:\n"
		"  - name: checks\n"
		"    steps:\n"
		"      - parallel:\n"
		"          - check: port_free\n"
		"            port: 8080\n"
		"          - check: env\n"
		"            require: [HOME]\n"
		"        max: 2\n";

	ck_assert_msg(load(text) == 0, "load failed:%s", dump_diags());
	ck_assert_uint_eq(cd_plan_step_count(plan), 3);
	const struct cd_step *c = cd_plan_step(plan, "port_free");
	ck_assert_ptr_nonnull(c);
	const struct cd_step_check *pc = c->args;
	ck_assert_int_eq(pc->type, CD_CHECK_PORT_FREE);
	ck_assert_int_eq(pc->port, 8080);
	ck_assert_str_eq(pc->host, "127.0.0.1");
	ck_assert_ptr_nonnull(cd_plan_step(plan, "env"));
}
END_TEST

/*
 * Regression (src/plan/plan.c, plan_check_phases): derived names are made
 * unique by counting earlier steps with the same name, but the count skips
 * steps already renamed, so a third "wait" becomes "wait-2" again: two steps
 * named wait-2, and no wait-3.
 */
START_TEST(test_plan_load_buffer_derived_names_get_suffix)
{
	static const char text[] = HEAD
		"phases:\n"
		"  - name: waits\n"
		"    steps:\n"
		"      - wait: 1s\n"
		"      - wait: 2s\n"
		"      - wait: 3s\n";

	ck_assert_msg(load(text) == 0, "load failed:%s", dump_diags());
	const struct cd_phase *p = CD_LIST_AT(&plan->phases, struct cd_phase, 0);
	static const char *const want[] = { "wait", "wait-2", "wait-3" };
	for (size_t i = 0; i < CD_ARRAY_SIZE(want); i++)
		ck_assert_str_eq(CD_LIST_AT(&p->steps, struct cd_step, i)->name, want[i]);
}
END_TEST

/* ---- invalid plans: one or two problems each, exactly reported ---- */

#define MAX_WANT 4

static const struct {
	const char *name;
	const char *text;
	struct want_diag want[MAX_WANT];
	size_t n;
} errors[] = {
	{ "unknown service key",
		HEAD "services:\n"
		     "  web:\n"
		     "    imgae: nginx\n" /* 6 */
		     "phases:\n"
		     "  - name: deploy\n"
		     "    steps:\n"
		     "      - deploy: [web]\n",
		{ E(6, 5, "unknown key 'imgae' in services.web (did you mean 'image'?)") }, 1 },
	{ "unknown top-level key",
		HEAD "servics: {}\n" /* 4 */
		     "phases:\n"
		     "  - name: x\n"
		     "    steps:\n"
		     "      - wait: 1s\n",
		{ E(4, 1, "unknown key 'servics' in the plan (did you mean 'services'?)") }, 1 },
	{ "unknown step key",
		HEAD "phases:\n"
		     "  - name: x\n"
		     "    steps:\n"
		     "      - wait: 1s\n"
		     "        retires: 2\n", /* 8 */
		{ E(8, 9,
			"unknown key 'retires' in phases[1].steps[1] (did you mean 'retries'?)") },
		1 },
	{ "unknown key without a close match",
		HEAD "services:\n"
		     "  web:\n"
		     "    image: nginx\n"
		     "    colour: blue\n" /* 7 */
		     "phases:\n"
		     "  - name: x\n"
		     "    steps:\n"
		     "      - deploy: [web]\n",
		{ E(7, 5, "unknown key 'colour' in services.web") }, 1 },
	{ "wrong type: integer",
		HEAD "phases:\n"
		     "  - name: x\n"
		     "    steps:\n"
		     "      - wait: 1s\n"
		     "        retries: many\n", /* 8 */
		{ E(8, 18,
			"phases[1].steps[1].retries: expected a whole number, got 'many'") }, 1 },
	{ "wrong type: duration",
		HEAD "phases:\n"
		     "  - name: x\n"
		     "    steps:\n"
		     "      - wait: 1s\n"
		     "        timeout: 5\n", /* 8 */
		{ E(8, 18,
			"phases[1].steps[1].timeout: expected a duration like 500ms, 2s, 20m or "
			"1h30m, got '5'") },
		1 },
	{ "wrong type: boolean",
		HEAD "phases:\n"
		     "  - name: x\n"
		     "    steps:\n"
		     "      - wait: 1s\n"
		     "        continue_on_error: maybe\n", /* 8 */
		{ E(8, 28,
			"phases[1].steps[1].continue_on_error: expected true or false, got "
			"'maybe'") },
		1 },
	{ "wrong type: list for a map",
		HEAD "services: [web]\n" /* 4 */
		     "phases:\n"
		     "  - name: x\n"
		     "    steps:\n"
		     "      - wait: 1s\n",
		{ E(4, 11,
			"services: expected a map of service names to services, got a list") }, 1 },
	{ "wrong type: value for a list",
		HEAD "phases: 5\n", /* 4 */
		{ E(4, 9, "phases: expected a list of phases, got a value") }, 1 },
	{ "out of range",
		HEAD "phases:\n"
		     "  - name: x\n"
		     "    steps:\n"
		     "      - wait: 1s\n"
		     "        retries: -1\n", /* 8 */
		{ E(8, 18, "phases[1].steps[1].retries: -1 is out of range (0 to 100)") }, 1 },
	{ "unknown enum value",
		HEAD "phases:\n"
		     "  - name: x\n"
		     "    steps:\n"
		     "      - check: disk\n" /* 7 */
		     "        path: /\n",
		{ E(7, 16,
			"phases[1].steps[1].check: unknown value 'disk' (expected one of "
			"disk_free, env, file_mode, docker_version, port_free, command)") },
		1 },
	{ "missing required phase name",
		HEAD "phases:\n"
		     "  - steps:\n" /* 5 */
		     "      - wait: 1s\n",
		{ E(5, 5, "phases[1]: missing required key 'name'") }, 1 },
	{ "missing required nested key",
		HEAD "secrets: [REG_PW]\n"
		     "services:\n"
		     "  web:\n"
		     "    image: nginx\n"
		     "    registry_auth:\n"
		     "      password_secret: REG_PW\n" /* 9 */
		     "phases:\n"
		     "  - name: x\n"
		     "    steps:\n"
		     "      - deploy: [web]\n",
		{ E(9, 7, "services.web.registry_auth: missing required key 'username'") }, 1 },
	{ "missing required version",
		"name: demo\n"
		"release: \"1.0.0\"\n"
		"phases:\n"
		"  - name: x\n"
		"    steps:\n"
		"      - wait: 1s\n",
		{ E(1, 1, "the plan: missing required key 'corpdeploy'") }, 1 },
	{ "unknown service in a step",
		HEAD "services:\n"
		     "  web: { image: nginx }\n"
		     "phases:\n"
		     "  - name: deploy\n"
		     "    steps:\n"
		     "      - deploy: [webb]\n", /* 9 */
		{ E(9, 18,
			"phases.deploy.deploy-webb: service 'webb' is not a service of this plan "
			"(did you mean 'web'?)") },
		1 },
	{ "unknown service in depends_on",
		HEAD "services:\n"
		     "  web:\n"
		     "    image: nginx\n"
		     "    depends_on: [postgres]\n" /* 7 */
		     "phases:\n"
		     "  - name: deploy\n"
		     "    steps:\n"
		     "      - deploy: [web]\n",
		{ E(7, 18,
			"services.web: depends_on 'postgres' is not a service of this plan") }, 1 },
	{ "unknown target of a service",
		HEAD "services:\n"
		     "  web:\n"
		     "    image: nginx\n"
		     "    target: lokal\n" /* 7 */
		     "phases:\n"
		     "  - name: deploy\n"
		     "    steps:\n"
		     "      - deploy: [web]\n",
		{ E(7, 13,
			"services.web: target 'lokal' is not defined (did you mean "
			"'local'?)") }, 1 },
	{ "undeclared secret name",
		HEAD "phases:\n"
		     "  - name: x\n"
		     "    steps:\n"
		     "      - run: [psql]\n"
		     "        stdin_secret: DB_PW\n", /* 8 */
		{ E(8, 23,
			"phases.x.run-psql: stdin_secret 'DB_PW' is not declared in "
			"secrets") }, 1 },
	{ "restore from an unknown step",
		HEAD "phases:\n"
		     "  - name: x\n"
		     "    steps:\n"
		     "      - restore: nothing\n", /* 7 */
		{ E(7, 18,
			"phases.x.restore-nothing: no step named 'nothing' to restore from") }, 1 },
	{ "dependency cycle",
		HEAD "services:\n"
		     "  a:\n"
		     "    image: nginx\n"
		     "    depends_on: [b]\n"
		     "  b:\n"
		     "    image: nginx\n"
		     "    depends_on: [a]\n" /* 10: the edge that closes the cycle */
		     "phases:\n"
		     "  - name: deploy\n"
		     "    steps:\n"
		     "      - deploy: [a, b]\n",
		{ E(10, 17, "services: dependency cycle: a -> b -> a") }, 1 },
	{ "dependency cycle not through the first service",
		HEAD "services:\n"
		     "  a: { image: x, depends_on: [b] }\n"
		     "  b: { image: x, depends_on: [c] }\n"
		     "  c: { image: x, depends_on: [b] }\n" /* 7 */
		     "phases:\n"
		     "  - name: deploy\n"
		     "    steps:\n"
		     "      - deploy: [a]\n",
		{ E(7, 30, "services: dependency cycle: b -> c -> b") }, 1 },
	{ "duplicate phase name",
		HEAD "phases:\n"
		     "  - name: x\n" /* 5 */
		     "    steps:\n"
		     "      - wait: 1s\n"
		     "  - name: x\n" /* 8 */
		     "    steps:\n"
		     "      - wait: 2s\n",
		{ E(8, 11, "phases: phase name 'x' is used twice (first at line 5)") }, 1 },
	{ "phase without steps",
		HEAD "phases:\n"
		     "  - name: empty\n" /* 5 */
		     "    steps: []\n",
		{ E(5, 5, "phases[1]: phase 'empty' has no steps") }, 1 },
	{ "check key of another type",
		HEAD "phases:\n"
		     "  - name: pre\n"
		     "    steps:\n"
		     "      - check: disk_free\n"
		     "        path: /\n"
		     "        min: 1GiB\n"
		     "        port: 80\n", /* 10 */
		{ E(10, 9,
			"phases[1].steps[1]: key 'port' does not apply to check "
			"'disk_free'") }, 1 },
	{ "check missing its key",
		HEAD "phases:\n"
		     "  - name: pre\n"
		     "    steps:\n"
		     "      - check: disk_free\n" /* 7 */
		     "        path: /\n",
		{ E(7, 9, "phases[1].steps[1]: check 'disk_free' needs key 'min'") }, 1 },
	{ "check value of the wrong syntax",
		HEAD "phases:\n"
		     "  - name: pre\n"
		     "    steps:\n"
		     "      - check: disk_free\n"
		     "        path: /\n"
		     "        min: 10 GB\n", /* 9 */
		{ E(9, 14,
			"phases[1].steps[1].min: expected a size like 10GiB, got '10 GB'") }, 1 },
	{ "files backup with database keys",
		HEAD "phases:\n"
		     "  - name: b\n"
		     "    steps:\n"
		     "      - backup: files\n" /* 7 */
		     "        paths: [/srv]\n"
		     "        restore: [tar, x]\n",
		{ E(7, 9, "phases[1].steps[1]: 'dump' and 'restore' belong to a database backup") },
		1 },
	{ "interpolation of an unset variable",
		HEAD "services:\n"
		     "  web:\n"
		     "    image: \"nginx:${TAG}\"\n" /* 6 */
		     "phases:\n"
		     "  - name: deploy\n"
		     "    steps:\n"
		     "      - deploy: [web]\n",
		{ E(6, 12,
			"services.web.image: variable 'TAG' is not set (give it a value in vars, "
			"env_file or the environment, or write ${TAG:-default})") },
		1 },
	{ "invalid release",
		"corpdeploy: 1\n"
		"name: demo\n"
		"release: \"1.0 beta\"\n" /* 3 */
		"phases:\n"
		"  - name: x\n"
		"    steps:\n"
		"      - wait: 1s\n",
		{ E(3, 10,
			"release: '1.0 beta' is not a valid release id (letters, digits, '_', '.', "
			"'-'; at most 128; it becomes an image tag)") },
		1 },
	{ "short secret",
		HEAD "secrets: [PIN]\n" /* 4 */
		     "phases:\n"
		     "  - name: x\n"
		     "    steps:\n"
		     "      - wait: 1s\n",
		{ W(4, 11,
			"secret 'PIN' is shorter than 6 characters: redacting it may hide "
			"unrelated text") },
		1 },
};

START_TEST(test_plan_load_buffer_errors)
{
	static const char *const env[] = { "PIN=1234", "REG_PW=registry-password", NULL };
	fake_env = env;
	int r = load(errors[_i].text);
	int has_error = 0;

	for (size_t i = 0; i < errors[_i].n; i++)
		has_error |= errors[_i].want[i].sev == CD_SEV_ERROR;
	ck_assert_msg(r == (has_error ? CD_EPLAN : 0), "%s: returned %d:%s", errors[_i].name, r,
		dump_diags());
	if (has_error)
		ck_assert_ptr_null(plan);
	assert_diags(PLAN_FILE, errors[_i].want, errors[_i].n);
}
END_TEST

/*
 * Regressions (src/steps/steps.c step_decode + cd_step_resolve, and
 * src/plan/plan-schema.c cd_decode_push): a step whose kind cannot be found
 * (a misspelt kind, two kinds, a step that is not a map) keeps name == NULL;
 * plan_check_phases then calls cd_step_resolve, whose cd_decode_push(dec,
 * NULL) dereferences NULL: SIGSEGV instead of the diagnostic. `corpdeploy
 * lint` crashes on a misspelt step kind.
 */
static const struct {
	const char *name;
	const char *text;
	struct want_diag want;
} kind_errors[] = {
	{ "misspelt step kind",
		HEAD "services:\n"
		     "  web: { image: nginx }\n"
		     "phases:\n"
		     "  - name: deploy\n"
		     "    steps:\n"
		     "      - deplyo: [web]\n", /* 9 */
		E(9, 9, "unknown key 'deplyo' in phases[1].steps[1] (did you mean 'deploy'?)") },
	{ "two step kinds",
		HEAD "services:\n"
		     "  web: { image: nginx }\n"
		     "phases:\n"
		     "  - name: deploy\n"
		     "    steps:\n"
		     "      - run: echo hi\n"
		     "        deploy: [web]\n", /* 10 */
		E(10, 9,
			"phases[1].steps[1]: a step has one kind, but this one has 'run' and "
			"'deploy'") },
	{ "step is not a map",
		HEAD "phases:\n"
		     "  - name: deploy\n"
		     "    steps:\n"
		     "      - deploy\n", /* 7 */
		E(7, 9,
			"phases[1].steps[1]: expected a step (a map with one of check, deploy, "
			"run, ...), got a value") },
	{ "step without a kind",
		HEAD "phases:\n"
		     "  - name: deploy\n"
		     "    steps:\n"
		     "      - timeout: 1s\n", /* 7 */
		E(7, 9,
			"phases[1].steps[1]: step has no kind (expected one of backup, check, "
			"copy, deploy, http, load, notify, parallel, restore, run, security, "
			"smoke, wait)") },
};

START_TEST(test_plan_load_buffer_step_kind_errors)
{
	ck_assert_int_eq(load(kind_errors[_i].text), CD_EPLAN);
	ck_assert_ptr_null(plan);
	assert_diags(PLAN_FILE, &kind_errors[_i].want, 1);
}
END_TEST

/*
 * Regression (src/steps/steps.c, step_common_fields): the common key "name"
 * has no .offset, so it is decoded into offset 0 of struct cd_step, which is
 * `node`: step->node then points at the name's text. Consequences: a
 * duplicate explicit step name is not detected (the second is silently
 * renamed "go-2"), and errors found later about a named step lose their
 * position (0:0, no file). The two tests below show each.
 */
START_TEST(test_plan_load_buffer_duplicate_step_name)
{
	static const char text[] = HEAD
		"phases:\n"
		"  - name: deploy\n"
		"    steps:\n"
		"      - wait: 1s\n" /* 7 */
		"        name: go\n"
		"      - wait: 2s\n"
		"        name: go\n"; /* 10 */
	static const struct want_diag want[] = {
		E(10, 15, "step name 'go' is used twice (first at line 7)"),
	};

	ck_assert_int_eq(load(text), CD_EPLAN);
	assert_diags(PLAN_FILE, want, CD_ARRAY_SIZE(want));
}
END_TEST

START_TEST(test_plan_load_buffer_named_step_error_position)
{
	static const char text[] = HEAD
		"services:\n"
		"  web: { image: nginx }\n"
		"phases:\n"
		"  - name: deploy\n"
		"    steps:\n"
		"      - deploy: [web]\n"
		"        name: go\n"
		"        target: nowhere\n"; /* 11 */
	static const struct want_diag want[] = {
		E(11, 17, "phases.deploy.go: target 'nowhere' is not defined"),
	};

	ck_assert_int_eq(load(text), CD_EPLAN);
	assert_diags(PLAN_FILE, want, CD_ARRAY_SIZE(want));
}
END_TEST

START_TEST(test_plan_load_buffer_named_step_keeps_node)
{
	static const char text[] = HEAD
		"phases:\n"
		"  - name: x\n"
		"    steps:\n"
		"      - wait: 1s\n" /* 7 */
		"        name: pause\n";

	ck_assert_msg(load(text) == 0, "load failed:%s", dump_diags());
	const struct cd_step *st = cd_plan_step(plan, "pause");
	ck_assert_ptr_nonnull(st);
	/* Checked first: if node holds the name's text, reading it as a node is garbage. */
	ck_assert_ptr_ne((const void *)st->node, (const void *)st->name);
	ck_assert_int_eq(st->node->kind, CD_NODE_MAP);
	ck_assert_uint_eq(st->node->line, 7);
	ck_assert_uint_eq(st->node->col, 9);
}
END_TEST

/*
 * Regression (src/plan/plan-schema.c cd_decode_field, CD_T_INT): the range
 * is checked only when min < max, so `corpdeploy:` (min = max = 1) accepts
 * any integer: a version 2 or 0 plan loads without a word.
 */
static const char *const bad_versions[] = { "0", "2", "-1" };

START_TEST(test_plan_load_buffer_version)
{
	char *text = cd_xasprintf("corpdeploy: %s\n"
				  "name: demo\n"
				  "release: \"1.0.0\"\n"
				  "phases:\n"
				  "  - name: x\n"
				  "    steps:\n"
				  "      - wait: 1s\n",
		bad_versions[_i]);
	char *msg = cd_xasprintf("corpdeploy: expected 1, got %s", bad_versions[_i]);
	const struct want_diag want[] = { E(1, 13, msg) };

	ck_assert_int_eq(load(text), CD_EPLAN);
	assert_diags(PLAN_FILE, want, 1);
	free(text);
	free(msg);
}
END_TEST

/* ---- all errors in one run ---- */

START_TEST(test_plan_load_buffer_all_errors_reported)
{
	static const char text[] = HEAD
		"services:\n"				/* 4 */
		"  web:\n"				/* 5 */
		"    image: nginx\n"			/* 6 */
		"    imgae: x\n"			/* 7: unknown key */
		"  db:\n"				/* 8 */
		"    image: postgres\n"			/* 9 */
		"    stop_timeout: 10\n"		/* 10: not a duration */
		"phases:\n"				/* 11 */
		"  - name: deploy\n"			/* 12 */
		"    steps:\n"				/* 13 */
		"      - deploy: [web]\n"		/* 14 */
		"        retries: -1\n"			/* 15: out of range */
		"      - wait: soon\n";			/* 16: not a duration or URL */
	static const struct want_diag want[] = {
		E(7, 5, "unknown key 'imgae' in services.web (did you mean 'image'?)"),
		E(10, 19,
			"services.db.stop_timeout: expected a duration like 500ms, 2s, 20m or "
			"1h30m, got '10'"),
		E(15, 18, "phases[1].steps[1].retries: -1 is out of range (0 to 100)"),
		E(16, 15,
			"phases[1].steps[2].wait: expected a duration like 10s or a URL like "
			"tcp://127.0.0.1:5432, got 'soon'"),
	};

	ck_assert_int_eq(load(text), CD_EPLAN);
	ck_assert_ptr_null(plan);
	ck_assert_uint_eq(diags.errors, 4);
	assert_diags(PLAN_FILE, want, CD_ARRAY_SIZE(want));
}
END_TEST

/*
 * Regression (src/plan/plan.c, cd_plan_load/plan_build): diagnostics come out
 * in the order the passes find them (decoding first, then references and
 * cycles), not in document order: here 10, 15, 7, 14. The four must be
 * reported in document order (a stable sort by line and column at the end
 * of loading would do).
 */
START_TEST(test_plan_load_buffer_all_errors_in_document_order)
{
	static const char text[] = HEAD
		"services:\n"				/* 4 */
		"  web:\n"				/* 5 */
		"    image: nginx\n"			/* 6 */
		"    depends_on: [dbb]\n"		/* 7: unknown service (a reference) */
		"  db:\n"				/* 8 */
		"    image: postgres\n"			/* 9 */
		"    stop_timeout: 10\n"		/* 10: not a duration (decoding) */
		"phases:\n"				/* 11 */
		"  - name: deploy\n"			/* 12 */
		"    steps:\n"				/* 13 */
		"      - deploy: [webb]\n"		/* 14: unknown service (a reference) */
		"      - wait: soon\n";			/* 15: not a duration or URL (decoding) */
	static const struct want_diag want[] = {
		E(7, 18,
			"services.web: depends_on 'dbb' is not a service of this plan (did you "
			"mean 'db'?)"),
		E(10, 19,
			"services.db.stop_timeout: expected a duration like 500ms, 2s, 20m or "
			"1h30m, got '10'"),
		E(14, 18,
			"phases.deploy.deploy-webb: service 'webb' is not a service of this plan "
			"(did you mean 'web'?)"),
		E(15, 15,
			"phases[1].steps[2].wait: expected a duration like 10s or a URL like "
			"tcp://127.0.0.1:5432, got 'soon'"),
	};

	ck_assert_int_eq(load(text), CD_EPLAN);
	ck_assert_uint_eq(diags.errors, 4);
	assert_diags(PLAN_FILE, want, CD_ARRAY_SIZE(want));
}
END_TEST

START_TEST(test_plan_load_buffer_error_limit)
{
	/* 250 bad services: 200 errors, then one warning, then silence. */
	struct cd_buf b = CD_BUF_INIT;
	cd_buf_adds(&b, HEAD "services:\n");
	for (int i = 0; i < 250; i++)
		cd_buf_addf(&b, "  s%d: { imgae: x }\n", i);
	cd_buf_adds(&b, "phases:\n  - name: x\n    steps:\n      - wait: 1s\n");

	ck_assert_int_eq(load(b.buf), CD_EPLAN);
	ck_assert_uint_eq(diags.errors, 200);
	ck_assert_uint_eq(diags.n, 201);
	ck_assert_int_eq(diags.items[200].severity, CD_SEV_WARNING);
	ck_assert_str_eq(diags.items[200].msg, "too many errors; stopping here");
	ck_assert_uint_eq(diags.items[199].line, 204);
	cd_buf_release(&b);
}
END_TEST

/* ---- secrets: offline and online ---- */

static const char with_secret[] = HEAD
	"secrets: [DB_PASSWORD]\n"			/* 4 */
	"phases:\n"
	"  - name: migrate\n"
	"    steps:\n"
	"      - run: [psql]\n"
	"        stdin_secret: DB_PASSWORD\n";

START_TEST(test_plan_load_buffer_secret_missing_is_error)
{
	static const struct want_diag want[] = {
		E(4, 11,
			"secret 'DB_PASSWORD' has no value (set it in an env_file or the "
			"environment)"),
	};

	ck_assert_int_eq(load(with_secret), CD_EPLAN);
	ck_assert_ptr_null(plan);
	assert_diags(PLAN_FILE, want, CD_ARRAY_SIZE(want));
}
END_TEST

START_TEST(test_plan_load_buffer_secret_missing_offline_is_warning)
{
	static const char text[] = HEAD
		"secrets: [DB_PASSWORD, API_TOKEN]\n"	/* 4 */
		"services:\n"
		"  web:\n"
		"    image: nginx\n"
		"    env: { PW: \"${DB_PASSWORD}\" }\n"
		"phases:\n"
		"  - name: deploy\n"
		"    steps:\n"
		"      - deploy: [web]\n";
	static const struct want_diag want[] = {
		W(4, 10,
			"2 secrets without a value here, shown as ${NAME}: DB_PASSWORD, API_TOKEN"),
	};

	ck_assert_msg(load_flags(text, CD_PLAN_LOAD_OFFLINE) == 0, "load failed:%s", dump_diags());
	assert_diags(PLAN_FILE, want, CD_ARRAY_SIZE(want));
	ck_assert_uint_eq(diags.errors, 0);
	/* Shown as written, so lint and plan output stay readable. */
	ck_assert_str_eq(cd_plan_service(plan, "web")->env.items[0].value, "${DB_PASSWORD}");
	ck_assert_uint_eq(cd_redact_count(), 0);
}
END_TEST

START_TEST(test_plan_load_buffer_secret_registered)
{
	static const char *const env[] = { "DB_PASSWORD=correct horse battery", NULL };
	fake_env = env;

	ck_assert_msg(load(with_secret) == 0, "load failed:%s", dump_diags());
	ck_assert_uint_eq(diags.n, 0);
	ck_assert_uint_eq(cd_redact_count(), 1);
	char *red = cd_redact_dup("pw=correct horse battery; url=correct%20horse%20battery");
	ck_assert_str_eq(red, "pw=***; url=***");
	free(red);
}
END_TEST

/* ---- env_file, through fixtures ---- */

static char *fixture(const char *name)
{
	const char *dir = getenv("CD_TEST_DATA");
	ck_assert_msg(dir != NULL, "CD_TEST_DATA is not set");
	return cd_xasprintf("%s/%s", dir, name);
}

START_TEST(test_plan_load_env_file)
{
	static const char *const env[] = { "PG_VERSION=15", "OPS_USER=root", NULL };
	struct cd_plan_opts opts = { .getenv = fake_getenv };
	char *path = fixture("env-plan.yaml");
	fake_env = env;

	ck_assert_msg(cd_plan_load(path, &opts, &diags, &plan) == 0, "load "
		"failed:%s", dump_diags());
	ck_assert_uint_eq(diags.n, 0);
	ck_assert_str_eq(plan->path, path);
	ck_assert_str_eq(plan->env_file, "env-plan.env");
	ck_assert_uint_eq(plan->env_file_values.n, 3);

	const struct cd_service *s = cd_plan_service(plan, "db");
	/* The env file wins over the process environment. */
	ck_assert_str_eq(s->image, "postgres:16");
	static const char *const want[][2] = {
		{ "POSTGRES_PASSWORD", "pa ss#word-123" },
		{ "GREETING", "hello ops" },
		{ "RELEASE", "2.0.0" },
	};
	ck_assert_uint_eq(s->env.n, CD_ARRAY_SIZE(want));
	for (size_t i = 0; i < CD_ARRAY_SIZE(want); i++) {
		ck_assert_str_eq(s->env.items[i].key, want[i][0]);
		ck_assert_str_eq(s->env.items[i].value, want[i][1]);
	}
	/* The secret came from the env file and is registered. */
	ck_assert_uint_eq(cd_redact_count(), 1);
	char *red = cd_redact_dup("password: pa ss#word-123");
	ck_assert_str_eq(red, "password: ***");
	free(red);
	free(path);
}
END_TEST

START_TEST(test_plan_load_env_file_missing)
{
	static const char text[] = HEAD
		"env_file: missing.env\n" /* 4 */
		"phases:\n"
		"  - name: x\n"
		"    steps:\n"
		"      - wait: 1s\n";
	char *plan_path = fixture("inline.yaml");
	char *env_path = fixture("missing.env");
	char *err = cd_xasprintf("env_file '%s' cannot be read", env_path);
	char *warn = cd_xasprintf("env_file '%s' cannot be read; its values are unset", env_path);
	struct cd_plan_opts opts = { .getenv = fake_getenv };

	ck_assert_int_eq(cd_plan_load_buffer(plan_path, text, strlen(text), &opts, &diags, &plan),
		CD_EPLAN);
	const struct want_diag want_err[] = { E(4, 11, err) };
	assert_diags(plan_path, want_err, 1);

	cd_diags_release(&diags);
	opts.flags = CD_PLAN_LOAD_OFFLINE;
	ck_assert_msg(cd_plan_load_buffer(plan_path, text, strlen(text), &opts, &diags, &plan) == 0,
		"offline load failed:%s", dump_diags());
	const struct want_diag want_warn[] = { W(4, 11, warn) };
	assert_diags(plan_path, want_warn, 1);
	free(plan_path);
	free(env_path);
	free(err);
	free(warn);
}
END_TEST

START_TEST(test_plan_load_env_file_malformed)
{
	static const char text[] = HEAD
		"env_file: bad.env\n"
		"phases:\n"
		"  - name: x\n"
		"    steps:\n"
		"      - wait: 1s\n";
	char *plan_path = fixture("inline.yaml");
	char *env_path = fixture("bad.env");
	struct cd_plan_opts opts = { .getenv = fake_getenv };

	ck_assert_int_eq(cd_plan_load_buffer(plan_path, text, strlen(text), &opts, &diags, &plan),
		CD_EPLAN);
	/* The position is in the env file, named as the plan resolved it. */
	const struct want_diag want[] = { E(3, 1, "expected KEY=value") };
	assert_diags(env_path, want, 1);
	free(plan_path);
	free(env_path);
}
END_TEST

START_TEST(test_plan_load_missing_file)
{
	ck_assert_int_eq(cd_plan_load("/nonexistent/plan.yaml", NULL, &diags, &plan), CD_EIO);
	ck_assert_ptr_null(plan);
	const struct want_diag want[] = { E(0, 0, "cannot open: No such file or directory") };
	assert_diags("/nonexistent/plan.yaml", want, 1);
}
END_TEST

/* ---- plan --json ---- */

START_TEST(test_plan_to_json)
{
	ck_assert_msg(load(minimal) == 0, "load failed:%s", dump_diags());
	char *text = cd_plan_to_json(plan);
	cJSON *j = cJSON_Parse(text);
	ck_assert_msg(j != NULL, "not JSON:\n%s", text);

	ck_assert_str_eq(cJSON_GetObjectItem(j, "release_id")->valuestring, "1.0.0");
	ck_assert_str_eq(cJSON_GetObjectItem(j, "name")->valuestring, "demo");
	ck_assert_str_eq(cJSON_GetObjectItem(j, "file")->valuestring, PLAN_FILE);
	ck_assert_int_eq(cJSON_GetObjectItem(j, "corpdeploy")->valueint, 1);
	ck_assert_int_eq(cJSON_GetObjectItem(j, "step_count")->valueint, 2);

	const cJSON *services = cJSON_GetObjectItem(j, "services");
	ck_assert(cJSON_IsArray(services));
	ck_assert_int_eq(cJSON_GetArraySize(services), 1);
	const cJSON *web = cJSON_GetArrayItem(services, 0);
	ck_assert_str_eq(cJSON_GetObjectItem(web, "name")->valuestring, "web");
	ck_assert_str_eq(cJSON_GetObjectItem(web, "image")->valuestring, "nginx:1.25");
	ck_assert_int_eq(cJSON_GetObjectItem(web, "stop_timeout_ms")->valueint, 10000);
	const cJSON *health = cJSON_GetObjectItem(web, "health");
	ck_assert_int_eq(cJSON_GetObjectItem(health, "timeout_ms")->valueint, 90000);

	const cJSON *phases = cJSON_GetObjectItem(j, "phases");
	ck_assert(cJSON_IsArray(phases));
	ck_assert_int_eq(cJSON_GetArraySize(phases), 1);
	const cJSON *phase = cJSON_GetArrayItem(phases, 0);
	ck_assert_str_eq(cJSON_GetObjectItem(phase, "name")->valuestring, "deploy");
	ck_assert_int_eq(cJSON_GetObjectItem(phase, "budget_ms")->valueint, 300000);
	const cJSON *steps = cJSON_GetObjectItem(phase, "steps");
	ck_assert_int_eq(cJSON_GetArraySize(steps), 2);
	const cJSON *st = cJSON_GetArrayItem(steps, 0);
	ck_assert_str_eq(cJSON_GetObjectItem(st, "name")->valuestring, "deploy-web");
	ck_assert_str_eq(cJSON_GetObjectItem(st, "kind")->valuestring, "deploy");
	ck_assert_str_eq(cJSON_GetObjectItem(st, "description")->valuestring, "deploy web");
	ck_assert_int_eq(cJSON_GetObjectItem(st, "timeout_ms")->valueint, 120000);
	ck_assert_int_eq(cJSON_GetObjectItem(st, "retries")->valueint, 0);
	ck_assert_int_eq(cJSON_GetObjectItem(st, "retry_delay_ms")->valueint, 1000);
	const cJSON *deploy = cJSON_GetObjectItem(st, "deploy");
	ck_assert_int_eq(cJSON_GetArraySize(deploy), 1);
	ck_assert_str_eq(cJSON_GetArrayItem(deploy, 0)->valuestring, "web");

	const cJSON *targets = cJSON_GetObjectItem(j, "targets");
	ck_assert_int_eq(cJSON_GetArraySize(targets), 1);
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(targets, 0), "name")->valuestring,
		"local");
	cJSON_Delete(j);
	free(text);
}
END_TEST

static Suite *plan_suite(void)
{
	Suite *s = suite_create("plan");
	TCase *tc;

	tc = tcase_create("valid");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_plan_load_buffer_minimal);
	tcase_add_test(tc, test_plan_load_buffer_docker_host);
	tcase_add_test(tc, test_plan_load_buffer_own_local_target);
	tcase_add_test(tc, test_plan_load_buffer_interpolation);
	tcase_add_test(tc, test_plan_load_buffer_backup_with_restore_key);
	tcase_add_test(tc, test_plan_load_buffer_deploy_with_parallel_key);
	tcase_add_test(tc, test_plan_load_buffer_parallel_group);
	tcase_add_test(tc, test_plan_to_json);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_plan_load_buffer_errors, 0, CD_ARRAY_SIZE(errors));
	tcase_add_test(tc, test_plan_load_buffer_all_errors_reported);
	tcase_add_test(tc, test_plan_load_buffer_error_limit);
	suite_add_tcase(s, tc);

	tc = tcase_create("secrets");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_plan_load_buffer_secret_missing_is_error);
	tcase_add_test(tc, test_plan_load_buffer_secret_missing_offline_is_warning);
	tcase_add_test(tc, test_plan_load_buffer_secret_registered);
	tcase_add_test(tc, test_plan_load_env_file);
	tcase_add_test(tc, test_plan_load_env_file_missing);
	tcase_add_test(tc, test_plan_load_env_file_malformed);
	tcase_add_test(tc, test_plan_load_missing_file);
	suite_add_tcase(s, tc);

	/*
	 * Regression tests: each pins down a bug found and fixed in src/.
	 * CK_RUN_CASE=regressions runs them alone.
	 */
	tc = tcase_create("regressions");
	tcase_set_tags(tc, "regression");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_plan_load_buffer_derived_names_get_suffix);
	tcase_add_loop_test(tc, test_plan_load_buffer_step_kind_errors, 0,
		CD_ARRAY_SIZE(kind_errors));
	tcase_add_test(tc, test_plan_load_buffer_duplicate_step_name);
	tcase_add_test(tc, test_plan_load_buffer_named_step_error_position);
	tcase_add_test(tc, test_plan_load_buffer_named_step_keeps_node);
	tcase_add_loop_test(tc, test_plan_load_buffer_version, 0, CD_ARRAY_SIZE(bad_versions));
	tcase_add_test(tc, test_plan_load_buffer_all_errors_in_document_order);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(plan_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
