/*
 * The run: phases in order, steps in order or as parallel groups, each step
 * with its timeout and retries, timed on the monotonic clock. On the first
 * failure no new step starts, and the undo records are taken back in
 * reverse, with the rollback's own time budget.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "corpdeploy/docker.h"
#include "corpdeploy/engine.h"
#include "corpdeploy/log.h"
#include "corpdeploy/steps.h"
#include "corpdeploy/validate.h"
#include "engine-internal.h"

const char *const cd_result_names[] = { "pending", "ok", "failed", "skipped", "unchanged", NULL };

static atomic_int run_signal;

void cd_run_interrupt(int signo)
{
	atomic_store(&run_signal, signo);
}

int cd_run_interrupted(void)
{
	return atomic_load(&run_signal);
}

int64_t cd_run_left(int64_t deadline_ms)
{
	int64_t left = deadline_ms - cd_time_mono_ms();
	return left > 0 ? left : 0;
}

int cd_run_sleep(struct cd_run *run, int64_t ms)
{
	(void)run;
	int64_t end = cd_time_mono_ms() + ms;
	while (!cd_run_interrupted()) {
		int64_t left = end - cd_time_mono_ms();
		if (left <= 0)
			return 0;
		if (left > 50)
			left = 50;
		struct timespec ts = { left / 1000, (left % 1000) * 1000000 };
		nanosleep(&ts, NULL);
	}
	return CD_EFAIL;
}

char *cd_engine_container_name(const struct cd_plan *plan, const char *service)
{
	return cd_xasprintf("%s-%s", plan->name, service);
}

struct cd_run *cd_run_new(const struct cd_plan *plan, const struct cd_run_opts *opts)
{
	struct cd_run *run = cd_xcalloc(1, sizeof(*run));
	time_t now = time(NULL);
	struct tm tm;

	run->plan = plan;
	if (opts)
		run->opts = *opts;
	if (!run->opts.progress)
		run->opts.progress = stderr;
	gmtime_r(&now, &tm);
	strftime(run->started_at, sizeof(run->started_at), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (run->opts.run_id)
		snprintf(run->run_id, sizeof(run->run_id), "%s", run->opts.run_id);
	else
		strftime(run->run_id, sizeof(run->run_id), "%Y%m%d-%H%M%S", &tm),
			snprintf(run->run_id + strlen(run->run_id),
				sizeof(run->run_id) - strlen(run->run_id), "-%d", (int)getpid());
	pthread_mutex_init(&run->lock, NULL);
	run->docker = cd_xcalloc(plan->targets.n + 1, sizeof(*run->docker));
	run->rollback_ms = -1;
	return run;
}

void cd_run_free(struct cd_run *run)
{
	if (!run)
		return;
	cd_prober_stop(run->prober, NULL, NULL);
	cJSON_Delete(run->downtime);
	for (size_t i = 0; i < run->n_steps; i++) {
		free(run->steps[i].message);
		cJSON_Delete(run->steps[i].details);
	}
	free(run->steps);
	free(run->phases);
	for (size_t i = 0; i < run->n_undo; i++) {
		free(run->undo[i].description);
		if (run->undo[i].free)
			run->undo[i].free(run->undo[i].data);
	}
	free(run->undo);
	for (size_t i = 0; i < run->n_finally; i++) {
		free(run->finally[i].description);
		if (run->finally[i].free)
			run->finally[i].free(run->finally[i].data);
	}
	free(run->finally);
	for (size_t i = 0; i < run->plan->targets.n; i++)
		cd_docker_free(run->docker[i]);
	free(run->docker);
	free(run->failure);
	if (run->timing)
		fclose(run->timing);
	pthread_mutex_destroy(&run->lock);
	free(run);
}

int cd_run_docker(struct cd_run *run, const char *target, struct cd_docker **ret,
	struct cd_error *err)
{
	const struct cd_plan *plan = run->plan;
	size_t i;
	for (i = 0; i < plan->targets.n; i++)
		if (strcmp(CD_LIST_AT(&plan->targets, struct cd_target, i)->name, target) == 0)
			break;
	if (i == plan->targets.n)
		return cd_error_set(err, CD_ENOTFOUND, "no target '%s'", target);
	const struct cd_target *t = CD_LIST_AT(&plan->targets, struct cd_target, i);
	pthread_mutex_lock(&run->lock);
	int r = 0;
	if (!run->docker[i]) {
		if (t->kind != CD_TARGET_DOCKER) {
			r = cd_error_set(err, CD_EUSAGE,
				"target '%s': only local Docker engines (unix://) can be deployed to yet",
				t->name);
		} else {
			struct cd_docker *d;
			r = cd_docker_open(t->docker, &d, err);
			if (r == 0 && (r = cd_docker_ping(d, err)) < 0)
				cd_docker_free(d);
			else if (r == 0)
				run->docker[i] = d;
		}
	}
	if (r == 0)
		*ret = run->docker[i];
	pthread_mutex_unlock(&run->lock);
	return r;
}

/* The downtime prober starts with the first change the run makes (only one caller sees it first). */
static void run_probe_start(struct cd_run *run)
{
	const struct cd_probe *p = run->plan->probe;
	if (p && p->url)
		run->prober = cd_prober_start(p->url, p->interval_ms, p->timeout_ms, (long)p->expect,
			run->plan->release);
}

void cd_run_push_undo(struct cd_run *run, const char *step,
	int (*fn)(struct cd_run *, void *, struct cd_error *), void (*free_fn)(void *), void *data,
	const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&run->lock);
	if (run->n_undo == run->alloc_undo) {
		run->alloc_undo = run->alloc_undo ? run->alloc_undo * 2 : 16;
		run->undo = cd_xreallocarray(run->undo, run->alloc_undo, sizeof(*run->undo));
	}
	struct cd_undo *u = &run->undo[run->n_undo++];
	memset(u, 0, sizeof(*u));
	va_start(ap, fmt);
	if (vasprintf(&u->description, fmt, ap) < 0)
		cd_oom();
	va_end(ap);
	u->step = step;
	u->fn = fn;
	u->free = free_fn;
	u->data = data;
	int first = !run->changed;
	run->changed = 1;
	pthread_mutex_unlock(&run->lock);
	if (first)
		run_probe_start(run);
}

void cd_run_push_finally(struct cd_run *run, int (*fn)(struct cd_run *, void *, struct cd_error *),
	void (*free_fn)(void *), void *data, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&run->lock);
	if (run->n_finally == run->alloc_finally) {
		run->alloc_finally = run->alloc_finally ? run->alloc_finally * 2 : 16;
		run->finally = cd_xreallocarray(run->finally, run->alloc_finally, sizeof(*run->finally));
	}
	struct cd_finally *f = &run->finally[run->n_finally++];
	va_start(ap, fmt);
	if (vasprintf(&f->description, fmt, ap) < 0)
		cd_oom();
	va_end(ap);
	f->fn = fn;
	f->free = free_fn;
	f->data = data;
	pthread_mutex_unlock(&run->lock);
}

void cd_run_mark_changed(struct cd_run *run)
{
	pthread_mutex_lock(&run->lock);
	int first = !run->changed;
	run->changed = 1;
	pthread_mutex_unlock(&run->lock);
	if (first)
		run_probe_start(run);
}

const char *cd_run_env(const struct cd_run *run, const char *name)
{
	const struct cd_plan *plan = run->plan;
	for (size_t i = 0; i < plan->vars.n; i++)
		if (strcmp(plan->vars.items[i].key, name) == 0)
			return plan->vars.items[i].value;
	for (size_t i = 0; i < plan->env_file_values.n; i++)
		if (strcmp(plan->env_file_values.items[i].key, name) == 0)
			return plan->env_file_values.items[i].value;
	return getenv(name);
}

/* Results move when the array grows: steps refer to theirs by index. */
static size_t result_new(struct cd_run *run, const struct cd_step *step, const char *phase)
{
	pthread_mutex_lock(&run->lock);
	if (run->n_steps == run->alloc_steps) {
		run->alloc_steps = run->alloc_steps ? run->alloc_steps * 2 : 32;
		run->steps = cd_xreallocarray(run->steps, run->alloc_steps, sizeof(*run->steps));
	}
	size_t idx = run->n_steps++;
	struct cd_step_result *r = &run->steps[idx];
	memset(r, 0, sizeof(*r));
	r->step = step;
	r->phase = phase;
	pthread_mutex_unlock(&run->lock);
	return idx;
}

static void set_failure(struct cd_run *run, const char *fmt, ...) CD_PRINTF(2, 3);
static void set_failure(struct cd_run *run, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&run->lock);
	run->failed = 1;
	if (!run->failure) {
		va_start(ap, fmt);
		if (vasprintf(&run->failure, fmt, ap) < 0)
			cd_oom();
		va_end(ap);
	}
	pthread_mutex_unlock(&run->lock);
}

static int run_step(struct cd_run *run, const struct cd_step *step, const char *phase);

struct group_task {
	struct cd_run *run;
	const struct cd_list *steps;
	const char *phase;
	size_t next;
	pthread_mutex_t lock;
	int failed;
};

static void *group_worker(void *arg)
{
	struct group_task *g = arg;
	for (;;) {
		pthread_mutex_lock(&g->lock);
		size_t i = g->next++;
		pthread_mutex_unlock(&g->lock);
		if (i >= g->steps->n)
			break;
		if (run_step(g->run, CD_LIST_AT(g->steps, struct cd_step, i), g->phase) < 0) {
			pthread_mutex_lock(&g->lock);
			g->failed = 1;
			pthread_mutex_unlock(&g->lock);
		}
	}
	return NULL;
}

/* A parallel group: its steps on at most max threads; failed if any failed. */
static int run_parallel(struct cd_run *run, const struct cd_step *step, const char *phase)
{
	const struct cd_step_parallel *p = step->args;
	struct group_task g = { .run = run, .steps = &p->steps, .phase = phase };
	size_t nthreads = p->max > 0 ? (size_t)p->max : p->steps.n;
	if (nthreads > p->steps.n)
		nthreads = p->steps.n;
	pthread_t *threads = cd_xcalloc(nthreads, sizeof(*threads));
	pthread_mutex_init(&g.lock, NULL);
	size_t started = 0;
	for (size_t i = 0; i < nthreads; i++)
		if (pthread_create(&threads[i], NULL, group_worker, &g) == 0)
			started++;
	if (started == 0)
		group_worker(&g);
	for (size_t i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	pthread_mutex_destroy(&g.lock);
	free(threads);
	return g.failed ? CD_EFAIL : 0;
}

static int run_step(struct cd_run *run, const struct cd_step *step, const char *phase)
{
	if (strcmp(step->kind->name, "parallel") == 0)
		return run_parallel(run, step, phase);

	size_t idx = result_new(run, step, phase);
	int64_t start = cd_time_mono_ms();
	struct cd_error err = CD_ERROR_INIT;
	int r = CD_EFAIL, attempt;
	int64_t delay = step->retry_delay_ms > 0 ? step->retry_delay_ms : 1000;
	struct cd_buf message = CD_BUF_INIT;
	cJSON *details = NULL;

	pthread_mutex_lock(&run->lock);
	run->steps[idx].start_ms = start - run->t0_ms;
	run->steps[idx].result = CD_RESULT_PENDING;
	int stop = run->failed;
	pthread_mutex_unlock(&run->lock);
	if (stop) {
		pthread_mutex_lock(&run->lock);
		run->steps[idx].result = CD_RESULT_SKIPPED;
		pthread_mutex_unlock(&run->lock);
		return 0;
	}
	engine_progress_step_start(run, step);
	for (attempt = 1; attempt <= step->retries + 1; attempt++) {
		struct cd_step_ctx ctx = { .run = run, .step = step, .attempt = attempt };
		/* Without a timeout of its own, a step may take what is left of a day. */
		ctx.deadline_ms = cd_time_mono_ms() + (step->timeout_ms > 0 ? step->timeout_ms : 86400000);
		cd_buf_init(&ctx.message, 4096);
		cd_error_release(&err);
		r = step->kind->apply(&ctx, &err);
		cd_buf_release(&message);
		message = ctx.message;
		cJSON_Delete(details);
		details = ctx.details; /* the last attempt's */
		if (r == 0 || cd_run_interrupted())
			break;
		if (attempt <= step->retries) {
			engine_progress_retry(run, step, attempt, &err, delay);
			if (cd_run_sleep(run, delay) < 0)
				break;
			delay *= 2;
		}
	}
	int64_t end = cd_time_mono_ms();
	pthread_mutex_lock(&run->lock);
	struct cd_step_result *res = &run->steps[idx];
	res->attempts = attempt > step->retries + 1 ? step->retries + 1 : attempt;
	res->duration_ms = end - start;
	if (r == 0) {
		res->result = CD_RESULT_OK;
		res->message = message.len ? cd_buf_detach(&message) : NULL;
	} else {
		res->result = CD_RESULT_FAILED;
		res->message = cd_xstrdup(err.msg ? err.msg : "failed");
	}
	res->details = details;
	pthread_mutex_unlock(&run->lock);
	engine_progress_step_done(run, idx);
	cd_buf_release(&message);
	if (r < 0 && step->continue_on_error == 1) {
		cd_error_release(&err);
		return 0;
	}
	if (r < 0)
		set_failure(run, "step '%s' failed: %s", step->name, err.msg ? err.msg : "failed");
	cd_error_release(&err);
	return r;
}

/* Undo every record not yet undone, newest first, within the rollback budget. */
static int run_rollback(struct cd_run *run)
{
	const struct cd_rollback *rb = run->plan->rollback;
	int64_t budget = rb && rb->budget_ms > 0 ? rb->budget_ms : 600000;
	int64_t start = cd_time_mono_ms(), deadline = start + budget;
	int failed = 0;

	engine_progress_rollback_start(run);
	for (size_t i = run->n_undo; i-- > 0;) {
		struct cd_undo *u = &run->undo[i];
		struct cd_error err = CD_ERROR_INIT;
		if (u->done)
			continue;
		if (cd_time_mono_ms() > deadline) {
			engine_progress_undo(run, u, -1, "the rollback budget ran out");
			failed = 1;
			continue;
		}
		int r = u->fn(run, u->data, &err);
		engine_progress_undo(run, u, r, err.msg);
		if (r == 0)
			u->done = 1;
		else
			failed = 1;
		cd_error_release(&err);
	}
	run->rollback_ms = cd_time_mono_ms() - start;
	return failed ? CD_EFAIL : 0;
}

static void run_finally(struct cd_run *run)
{
	for (size_t i = 0; i < run->n_finally; i++) {
		struct cd_error err = CD_ERROR_INIT;
		if (run->finally[i].fn(run, run->finally[i].data, &err) < 0)
			cd_log_warn("%s: %s (left in place)", run->finally[i].description, err.msg);
		cd_error_release(&err);
	}
}

enum cd_run_outcome cd_run_execute(struct cd_run *run)
{
	const struct cd_plan *plan = run->plan;

	run->t0_ms = cd_time_mono_ms();
	run->phases = cd_xcalloc(plan->phases.n + 1, sizeof(*run->phases));
	run->n_phases = plan->phases.n;
	engine_progress_begin(run);
	for (size_t i = 0; i < plan->phases.n && !run->failed; i++) {
		const struct cd_phase *p = CD_LIST_AT(&plan->phases, struct cd_phase, i);
		struct cd_phase_result *pr = &run->phases[i];
		pr->phase = p;
		pr->start_ms = cd_time_mono_ms() - run->t0_ms;
		run->current_phase = p->name;
		engine_progress_phase_start(run, i);
		for (size_t j = 0; j < p->steps.n && !run->failed; j++) {
			if (cd_run_interrupted()) {
				set_failure(run, "interrupted by signal %d", cd_run_interrupted());
				break;
			}
			run_step(run, CD_LIST_AT(&p->steps, struct cd_step, j), p->name);
		}
		pr->duration_ms = cd_time_mono_ms() - run->t0_ms - pr->start_ms;
		pr->result = run->failed ? CD_RESULT_FAILED : CD_RESULT_OK;
		engine_progress_phase_done(run, i);
	}
	for (size_t i = 0; i < run->n_phases; i++)
		if (!run->phases[i].phase) {
			run->phases[i].phase = CD_LIST_AT(&plan->phases, struct cd_phase, i);
			run->phases[i].result = CD_RESULT_SKIPPED;
		}

	if (run->prober) {
		int64_t gap;
		const struct cd_triggers *t = plan->rollback ? plan->rollback->triggers : NULL;
		cd_prober_stop(run->prober, &run->downtime, &gap);
		run->prober = NULL;
		if (t && t->downtime_over_ms >= 0 && gap > t->downtime_over_ms) {
			char a[32], b[32];
			set_failure(run, "measured downtime %s crossed the downtime_over trigger (%s)",
				cd_duration_format(gap, a, sizeof(a)),
				cd_duration_format(t->downtime_over_ms, b, sizeof(b)));
		}
	}

	enum cd_run_outcome outcome = CD_RUN_OK;
	if (!run->failed) {
		run_finally(run);
	} else if (!run->changed) {
		outcome = CD_RUN_PRECHECK_FAILED;
	} else if (!run->opts.rollback) {
		outcome = CD_RUN_FAILED_NOT_ROLLED_BACK;
	} else {
		outcome = run_rollback(run) == 0 ? CD_RUN_FAILED_ROLLED_BACK : CD_RUN_ROLLBACK_FAILED;
	}
	engine_progress_end(run, outcome);
	return outcome;
}
