/*
 * The smoke suite runner: every check of every category on a pool of
 * `concurrency` workers, taken in suite order. HTTP checks go through the
 * http module and its expectations; captures from JSON answers fill
 * ${capture.NAME} in later checks (which start only once every earlier check
 * has finished, and hold back the ones after them, so the suite reads top to
 * bottom whatever the concurrency); commands run on
 * this machine or in a service's container; container checks ask Docker
 * for running and healthy. Each check's result is kept for the report.
 */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "corpdeploy/docker.h"
#include "corpdeploy/engine.h"
#include "corpdeploy/http.h"
#include "corpdeploy/log.h"
#include "corpdeploy/steps.h"
#include "corpdeploy/validate.h"
#include "validate-internal.h"

#define SMOKE_OUTPUT_MAX (256 * 1024)

enum smoke_kind { SMOKE_HTTP, SMOKE_TCP, SMOKE_COMMAND, SMOKE_CONTAINER };
static const char *const smoke_kind_names[] = { "http", "tcp", "command", "container" };

struct smoke_item {
	const char *category;
	const struct cd_smoke_check *check;
	enum smoke_kind kind;
	int uses_capture;
	/* Results, written by the worker that ran it. */
	int done, passed;
	int64_t duration_ms;
	long status; /* http: the answer's status, 0 when none */
	char *message;
};

struct smoke_state {
	struct cd_run *run;
	const struct cd_smoke_suite *suite;
	int64_t deadline_ms;
	struct smoke_item *items;
	size_t n, next, n_done_prefix; /* checks 0..n_done_prefix-1 are all done */
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct cd_kvs captures; /* malloc'd keys and values */
};

static int uses_capture(const char *s)
{
	return s && strstr(s, "${capture.") != NULL;
}

static int check_uses_capture(const struct cd_smoke_check *k)
{
	int u = uses_capture(k->http) || uses_capture(k->body);
	for (size_t i = 0; i < k->headers.n; i++)
		u |= uses_capture(k->headers.items[i].value);
	for (size_t i = 0; i < k->command.argv.n; i++)
		u |= uses_capture(k->command.argv.v[i]);
	return u;
}

/* s with each ${capture.NAME} replaced; malloc'd. CD_ENOTFOUND names a capture never set. */
static int smoke_expand(struct smoke_state *st, const char *s, char **ret, struct cd_error *err)
{
	struct cd_buf b = CD_BUF_INIT;
	const char *p = s;
	int r = 0;
	cd_buf_adds(&b, "");
	while (r == 0 && p && *p) {
		const char *at = strstr(p, "${capture.");
		if (!at) {
			cd_buf_adds(&b, p);
			break;
		}
		const char *end = strchr(at, '}');
		if (!end) {
			cd_buf_adds(&b, p);
			break;
		}
		cd_buf_add(&b, p, (size_t)(at - p));
		const char *name = at + strlen("${capture.");
		size_t len = (size_t)(end - name);
		const char *value = NULL;
		pthread_mutex_lock(&st->lock);
		for (size_t i = 0; i < st->captures.n; i++)
			if (strlen(st->captures.items[i].key) == len &&
				strncmp(st->captures.items[i].key, name, len) == 0)
				value = st->captures.items[i].value;
		if (value)
			cd_buf_adds(&b, value);
		pthread_mutex_unlock(&st->lock);
		if (!value)
			r = cd_error_set(err, CD_ENOTFOUND,
				"capture '%.*s' is not set (the check that captures it failed or comes later)",
				(int)len, name);
		p = end + 1;
	}
	if (r == 0)
		*ret = cd_buf_detach(&b);
	cd_buf_release(&b);
	return r;
}

static void smoke_capture(struct smoke_state *st, const char *name, const char *value)
{
	/* Captured tokens are credentials: nothing may print them from now on. */
	cd_redact_add(value);
	pthread_mutex_lock(&st->lock);
	size_t i;
	for (i = 0; i < st->captures.n; i++)
		if (strcmp(st->captures.items[i].key, name) == 0)
			break;
	if (i == st->captures.n) {
		st->captures.items = cd_xreallocarray(st->captures.items, st->captures.n + 1,
			sizeof(*st->captures.items));
		memset(&st->captures.items[i], 0, sizeof(st->captures.items[i]));
		st->captures.items[i].key = cd_xstrdup(name);
		st->captures.n++;
	} else {
		free((char *)st->captures.items[i].value);
	}
	st->captures.items[i].value = cd_xstrdup(value);
	pthread_mutex_unlock(&st->lock);
}

static int64_t smoke_timeout(const struct smoke_state *st, const struct cd_smoke_check *k)
{
	int64_t t = k->timeout_ms > 0 ? k->timeout_ms : st->suite->timeout_ms;
	int64_t left = cd_run_left(st->deadline_ms);
	if (t <= 0 || t > left)
		t = left;
	return t > 0 ? t : 1;
}

static int smoke_http(struct smoke_state *st, struct smoke_item *it, struct cd_error *err)
{
	const struct cd_smoke_check *k = it->check;
	char *url = NULL, *body = NULL;
	struct cd_kvs headers = { 0 };
	int r;

	if ((r = smoke_expand(st, k->http, &url, err)) < 0)
		goto done;
	if (url[0] == '/') {
		const char *base = st->suite->base_url;
		size_t bl = strlen(base);
		char *full = cd_xasprintf("%.*s%s", (int)(bl && base[bl - 1] == '/' ? bl - 1 : bl), base, url);
		free(url);
		url = full;
	}
	if (k->body && (r = smoke_expand(st, k->body, &body, err)) < 0)
		goto done;
	headers.items = cd_xcalloc(k->headers.n + 1, sizeof(*headers.items));
	for (size_t i = 0; i < k->headers.n; i++) {
		char *v;
		if ((r = smoke_expand(st, k->headers.items[i].value, &v, err)) < 0)
			goto done;
		headers.items[i].key = k->headers.items[i].key;
		headers.items[i].value = v;
		headers.n++;
	}
	struct cd_http_request req = { .method = k->method, .url = url, .headers = &headers,
		.body = body, .timeout_ms = smoke_timeout(st, k) };
	struct cd_http_response resp;
	if ((r = cd_http_do(&req, &resp, err)) == 0) {
		it->status = resp.status;
		r = cd_http_expect(k->expect, &resp, err);
		for (size_t i = 0; r == 0 && i < k->capture.n; i++) {
			char *v = NULL;
			long count;
			int c = cd_json_path(resp.body.buf ? resp.body.buf : "", k->capture.items[i].value,
				&v, &count);
			if (c < 0)
				r = cd_error_set(err, CD_EFAIL, "cannot capture '%s': %s %s",
					k->capture.items[i].key, k->capture.items[i].value,
					c == CD_ENOTFOUND ? "is not in the answer" : "needs a JSON answer");
			else
				smoke_capture(st, k->capture.items[i].key, v);
			free(v);
		}
	}
	cd_http_response_release(&resp);
done:
	for (size_t i = 0; i < headers.n; i++)
		free((char *)headers.items[i].value);
	free(headers.items);
	free(url);
	free(body);
	return r;
}

/* The container of a service of the plan, and its engine. */
static int smoke_service(struct smoke_state *st, const char *service, struct cd_docker **ret_d,
	char **ret_name, struct cd_error *err)
{
	const struct cd_service *s = cd_plan_service(st->run->plan, service);
	if (!s)
		return cd_error_set(err, CD_ENOTFOUND, "no service '%s'", service);
	int r = cd_run_docker(st->run, s->target, ret_d, err);
	if (r == 0)
		*ret_name = cd_engine_container_name(st->run->plan, service);
	return r;
}

static int smoke_command(struct smoke_state *st, struct smoke_item *it, struct cd_error *err)
{
	const struct cd_smoke_check *k = it->check;
	size_t argc = k->command.argv.n;
	char **argv = cd_xcalloc(argc + 4, sizeof(*argv));
	size_t n = 0;
	int r = 0, status = -1;
	struct cd_buf out, errout;
	cd_buf_init(&out, SMOKE_OUTPUT_MAX);
	cd_buf_init(&errout, SMOKE_OUTPUT_MAX);

	if (k->command.shell) {
		argv[n++] = cd_xstrdup("/bin/sh");
		argv[n++] = cd_xstrdup("-c");
	}
	for (size_t i = 0; i < argc && r == 0; i++)
		if ((r = smoke_expand(st, k->command.argv.v[i], &argv[n], err)) == 0)
			n++;
	if (r < 0)
		goto done;
	if (k->in) {
		struct cd_docker *d;
		char *name = NULL;
		if ((r = smoke_service(st, k->in, &d, &name, err)) < 0)
			goto done;
		struct cd_docker_exec_result res;
		r = cd_docker_exec(d, name, (const char *const *)argv, NULL, smoke_timeout(st, k),
			SMOKE_OUTPUT_MAX, &res, err);
		if (r == 0) {
			status = res.exit_code;
			cd_buf_add(&out, res.out.buf ? res.out.buf : "", res.out.len);
			cd_buf_add(&errout, res.err.buf ? res.err.buf : "", res.err.len);
			cd_docker_exec_result_release(&res);
		} else {
			char *msg = cd_xasprintf("in container '%s': %s", name, err->msg);
			cd_error_set(err, r, "%s", msg);
			free(msg);
		}
		free(name);
		if (r < 0)
			goto done;
	} else {
		const struct cd_target *t = k->target ? cd_plan_target(st->run->plan, k->target) : NULL;
		if (t && t->kind == CD_TARGET_SSH) {
			r = cd_error_set(err, CD_EUSAGE,
				"target '%s': commands on SSH targets are not available to smoke checks yet",
				t->name);
			goto done;
		}
		if ((r = cd_proc_run((const char *const *)argv, NULL, NULL, smoke_timeout(st, k),
			     SMOKE_OUTPUT_MAX, &out, &errout, &status, err)) < 0)
			goto done;
	}
	int64_t want = k->expect && k->expect->exit >= 0 ? k->expect->exit : 0;
	const char *o = out.buf ? out.buf : "", *e = errout.buf ? errout.buf : "";
	if (status != want) {
		/* The tail of what it said is what tells why. */
		const char *said = e[0] ? e : o;
		size_t len = strlen(said);
		r = cd_error_set(err, CD_EFAIL, "expected exit %lld, got %d%s%.200s",
			(long long)want, status, len ? ": " : "", len > 200 ? said + len - 200 : said);
	} else if (k->expect && k->expect->output && !strstr(o, k->expect->output) &&
		   !strstr(e, k->expect->output)) {
		r = cd_error_set(err, CD_EFAIL, "expected the output to contain '%s', got '%.120s'",
			k->expect->output, o);
	}
done:
	for (size_t i = 0; i < n; i++)
		free(argv[i]);
	free(argv);
	cd_buf_release(&out);
	cd_buf_release(&errout);
	return r;
}

static int smoke_container(struct smoke_state *st, struct smoke_item *it, struct cd_error *err)
{
	struct cd_docker *d;
	char *name = NULL;
	int r = smoke_service(st, it->check->container, &d, &name, err);
	if (r < 0)
		return r;
	const struct cd_service *svc = cd_plan_service(st->run->plan, it->check->container);
	struct cd_docker_container c;
	if ((r = cd_docker_container_inspect(d, name, &c, err)) == 0) {
		if (!c.running)
			r = cd_error_set(err, CD_EFAIL, "container '%s' is %s", name,
				c.status ? c.status : "not running");
		else if (c.health && strcmp(c.health, "starting") == 0 && svc && svc->health &&
			svc->health->kind == CD_HEALTH_COMMAND)
			/* Docker has not run its first check yet: run the plan's check now. */
			r = cd_deploy_probe_command(d, svc, c.id, svc->health->interval_ms, err);
		else if (c.health && strcmp(c.health, "healthy") != 0)
			r = cd_error_set(err, CD_EFAIL, "container '%s' is %s", name, c.health);
		cd_docker_container_release(&c);
	}
	free(name);
	return r;
}

static void smoke_run_one(struct smoke_state *st, struct smoke_item *it)
{
	struct cd_error err = CD_ERROR_INIT;
	int64_t t0 = cd_time_mono_ms();
	int r;
	switch (it->kind) {
	case SMOKE_HTTP: r = smoke_http(st, it, &err); break;
	case SMOKE_TCP: r = cd_tcp_probe(it->check->tcp, smoke_timeout(st, it->check), &err); break;
	case SMOKE_COMMAND: r = smoke_command(st, it, &err); break;
	default: r = smoke_container(st, it, &err); break;
	}
	it->duration_ms = cd_time_mono_ms() - t0;
	it->passed = r == 0;
	if (r < 0)
		it->message = cd_redact_dup(err.msg ? err.msg : "failed");
	cd_error_release(&err);
}

static void *smoke_worker(void *arg)
{
	struct smoke_state *st = arg;
	pthread_mutex_lock(&st->lock);
	while (st->next < st->n) {
		size_t i = st->next;
		struct smoke_item *it = &st->items[i];
		/* A check reading captures is a barrier: nothing after it starts before it does. */
		if (it->uses_capture && st->n_done_prefix < i) {
			pthread_cond_wait(&st->changed, &st->lock);
			continue;
		}
		st->next++;
		pthread_mutex_unlock(&st->lock);
		smoke_run_one(st, it);
		pthread_mutex_lock(&st->lock);
		it->done = 1;
		while (st->n_done_prefix < st->n && st->items[st->n_done_prefix].done)
			st->n_done_prefix++;
		pthread_cond_broadcast(&st->changed);
	}
	pthread_mutex_unlock(&st->lock);
	return NULL;
}

static cJSON *smoke_details(const struct smoke_state *st, int *ret_passed)
{
	cJSON *d = cJSON_CreateObject(), *checks = cJSON_AddArrayToObject(d, "checks");
	int passed = 0;
	for (size_t i = 0; i < st->n; i++) {
		const struct smoke_item *it = &st->items[i];
		cJSON *c = cJSON_CreateObject();
		cJSON_AddStringToObject(c, "category", it->category);
		cJSON_AddStringToObject(c, "name", it->check->name);
		cJSON_AddStringToObject(c, "kind", smoke_kind_names[it->kind]);
		cJSON_AddStringToObject(c, "result", it->passed ? "passed" : "failed");
		cJSON_AddNumberToObject(c, "duration_ms", (double)it->duration_ms);
		if (it->kind == SMOKE_HTTP)
			cJSON_AddNumberToObject(c, "status", (double)it->status);
		if (!it->passed)
			cJSON_AddStringToObject(c, "message", it->message ? it->message : "failed");
		cJSON_AddItemToArray(checks, c);
		passed += it->passed;
	}
	cJSON_AddNumberToObject(d, "passed", passed);
	cJSON_AddNumberToObject(d, "failed", (double)st->n - passed);
	*ret_passed = passed;
	return d;
}

int cd_smoke_run(struct cd_run *run, const struct cd_smoke_suite *suite, int64_t deadline_ms,
	cJSON **ret_details, struct cd_error *err)
{
	struct smoke_state st = { .run = run, .suite = suite, .deadline_ms = deadline_ms };
	validate_curl_init();
	for (size_t c = 0; c < suite->categories.n; c++)
		st.n += CD_LIST_AT(&suite->categories, struct cd_smoke_category, c)->checks.n;
	st.items = cd_xcalloc(st.n + 1, sizeof(*st.items));
	size_t n = 0;
	for (size_t c = 0; c < suite->categories.n; c++) {
		const struct cd_smoke_category *cat = CD_LIST_AT(&suite->categories, struct cd_smoke_category, c);
		for (size_t j = 0; j < cat->checks.n; j++) {
			struct smoke_item *it = &st.items[n++];
			it->category = cat->name;
			it->check = CD_LIST_AT(&cat->checks, struct cd_smoke_check, j);
			it->kind = it->check->http ? SMOKE_HTTP
				   : it->check->tcp ? SMOKE_TCP
				   : it->check->container ? SMOKE_CONTAINER : SMOKE_COMMAND;
			it->uses_capture = check_uses_capture(it->check);
		}
	}
	pthread_mutex_init(&st.lock, NULL);
	pthread_cond_init(&st.changed, NULL);
	size_t nthreads = suite->concurrency > 0 ? (size_t)suite->concurrency : 1;
	if (nthreads > st.n)
		nthreads = st.n;
	pthread_t *threads = cd_xcalloc(nthreads + 1, sizeof(*threads));
	size_t started = 0;
	for (size_t i = 0; i < nthreads; i++)
		if (pthread_create(&threads[i], NULL, smoke_worker, &st) == 0)
			started++;
	if (!started)
		smoke_worker(&st);
	for (size_t i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	free(threads);

	int passed;
	*ret_details = smoke_details(&st, &passed);
	int r = 0;
	if ((size_t)passed < st.n) {
		const struct smoke_item *first = NULL;
		for (size_t i = 0; i < st.n && !first; i++)
			if (!st.items[i].passed)
				first = &st.items[i];
		r = cd_error_set(err, CD_EFAIL, "%zu of %zu smoke checks failed; first: %s / %s: %s",
			st.n - (size_t)passed, st.n, first->category, first->check->name, first->message);
	}
	for (size_t i = 0; i < st.n; i++)
		free(st.items[i].message);
	free(st.items);
	for (size_t i = 0; i < st.captures.n; i++) {
		free((char *)st.captures.items[i].key);
		free((char *)st.captures.items[i].value);
	}
	free(st.captures.items);
	pthread_cond_destroy(&st.changed);
	pthread_mutex_destroy(&st.lock);
	return r;
}
