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
#include "corpdeploy/ssh.h"
#include "corpdeploy/engine.h"
#include "corpdeploy/journal.h"
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

/* While a rollback runs, a first signal must not cut its waits short. */
static atomic_int run_undoing;

void engine_set_undoing(int on)
{
	atomic_store(&run_undoing, on);
}

int cd_run_stopping(void)
{
	return atomic_load(&run_signal) && !atomic_load(&run_undoing);
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
	while (!cd_run_stopping()) {
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
	engine_undo_free_all(run);
	free(run->manual_steps);
	cd_journal_close(run->journal);
	for (size_t i = 0; i < run->plan->targets.n; i++)
		cd_docker_free(run->docker[i]);
	free(run->docker);
	cd_ssh_pool_free(run->ssh);
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
		int over_ssh = t->docker && ((t->kind == CD_TARGET_SSH && strcmp(t->docker, "ssh") == 0) ||
			(t->kind == CD_TARGET_DOCKER && strncmp(t->docker, "ssh://", 6) == 0));
		if (t->kind != CD_TARGET_DOCKER && !over_ssh) {
			r = cd_error_set(err, CD_EUSAGE,
				"target '%s' has no Docker engine (give it docker: ssh)", t->name);
		} else {
			struct cd_docker *d;
			struct cd_docker_transport tr;
			/* A remote engine: `docker system dial-stdio` over SSH, the same client. */
			if (over_ssh)
				r = cd_ssh_docker_transport(run, t->name, &tr, err) < 0 ? CD_EREMOTE :
					cd_docker_open_transport(&tr, &d, err);
			else
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
void engine_probe_start(struct cd_run *run)
{
	const struct cd_probe *p = run->plan->probe;
	if (p && p->url)
		run->prober = cd_prober_start(p->url, p->interval_ms, p->timeout_ms, (long)p->expect,
			run->plan->release);
}

void cd_run_mark_changed(struct cd_run *run)
{
	pthread_mutex_lock(&run->lock);
	int first = !run->changed;
	run->changed = 1;
	pthread_mutex_unlock(&run->lock);
	if (first)
		engine_probe_start(run);
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
	if (run->opts.resume && cd_journal_step_done(run->opts.resume, step->name)) {
		pthread_mutex_lock(&run->lock);
		run->steps[idx].result = CD_RESULT_OK;
		run->steps[idx].message = cd_xstrdup("done before the interruption");
		pthread_mutex_unlock(&run->lock);
		engine_progress_step_done(run, idx);
		return 0;
	}
	engine_progress_step_start(run, step);
	engine_journal_note(run, CD_JR_STEP, 0, "step", step->name, "phase", phase);
	engine_fault_point(phase, step->name, "before");
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
	engine_journal_note(run, CD_JR_STEP_END, 0, "step", step->name, "result",
		r == 0 ? "ok" : "failed");
	engine_progress_step_done(run, idx);
	cd_buf_release(&message);
	if (r == 0)
		engine_fault_point(phase, step->name, "after");
	if (r < 0 && step->continue_on_error == 1) {
		cd_error_release(&err);
		return 0;
	}
	if (r < 0)
		set_failure(run, "step '%s' failed: %s", step->name, err.msg ? err.msg : "failed");
	cd_error_release(&err);
	return r;
}

void cd_run_commit(struct cd_run *run)
{
	for (size_t i = 0; i < run->n_undo; i++) {
		struct cd_undo *u = &run->undo[i];
		struct cd_error err = CD_ERROR_INIT;
		if (u->kind->finish && u->kind->finish(run, u->action, u->data, &err) < 0)
			cd_log_warn("%s: %s (left in place)", u->description, err.msg);
		cd_error_release(&err);
	}
}

static const char *const outcome_names[] = { "ok", "rolled-back", "failed", "rollback-failed",
	"precheck-failed" };

void cd_run_begin(struct cd_run *run)
{
	run->t0_ms = cd_time_mono_ms();
	if (!run->opts.journal || run->journal)
		return;
	const struct cd_plan *plan = run->plan;
	struct cd_error err = CD_ERROR_INIT;
	long last = run->opts.resume ? run->opts.resume->last_seq : 0;
	if (cd_journal_open(run->opts.journal, last, &run->journal, &err) < 0) {
		cd_log_warn("%s: this run has no journal", err.msg);
		cd_error_release(&err);
		return;
	}
	if (run->opts.resume) {
		engine_journal_note(run, "resume", 1, "run_id", run->run_id, NULL, NULL);
		return;
	}
	char pid[24], host[256] = "";
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	gethostname(host, sizeof(host) - 1);
	cJSON *rec = cJSON_CreateObject();
	cJSON_AddStringToObject(rec, "type", CD_JR_BEGIN);
	cJSON_AddNumberToObject(rec, "version", CD_JOURNAL_VERSION);
	cJSON_AddStringToObject(rec, "run_id", run->run_id);
	cJSON_AddStringToObject(rec, "plan", plan->name);
	cJSON_AddStringToObject(rec, "plan_file", plan->path);
	cJSON_AddStringToObject(rec, "release", plan->release);
	cJSON_AddStringToObject(rec, "started_at", run->started_at);
	cJSON_AddStringToObject(rec, "pid", pid);
	cJSON_AddStringToObject(rec, "host", host);
	cJSON_AddStringToObject(rec, "user", getenv("USER") ? getenv("USER") : "");
	if (cd_journal_append(run->journal, rec, 1, &err) < 0) {
		cd_log_warn("%s: this run has no journal", err.msg);
		cd_journal_close(run->journal);
		run->journal = NULL;
	}
	cJSON_Delete(rec);
	cd_error_release(&err);
}

void cd_run_end(struct cd_run *run, enum cd_run_outcome outcome)
{
	/* Without rollback the run stays unfinished: `rollback` or `resume` takes it on. */
	if (outcome != CD_RUN_FAILED_NOT_ROLLED_BACK) {
		char ms[32];
		snprintf(ms, sizeof(ms), "%lld", (long long)(cd_time_mono_ms() - run->t0_ms));
		engine_journal_note(run, CD_JR_END, 1, "outcome", outcome_names[outcome], "duration_ms",
			ms);
	}
	/* Runs of the plan's phases end with their summary line; others say their own. */
	if (run->phases)
		engine_progress_end(run, outcome);
}

int cd_run_undo_all(struct cd_run *run, const char *why)
{
	return engine_rollback(run, why);
}

int cd_run_rollback(struct cd_run *run, const struct cd_journal_state *st, struct cd_error *err)
{
	if (engine_undo_load(run, st, err) < 0)
		return CD_EFAIL;
	run->t0_ms = cd_time_mono_ms();
	if (run->opts.journal && !run->journal &&
		cd_journal_open(run->opts.journal, st->last_seq, &run->journal, err) < 0)
		return CD_EFAIL;
	int r = engine_rollback(run, "rollback of an unfinished run");
	char ms[32];
	snprintf(ms, sizeof(ms), "%lld", (long long)run->rollback_ms);
	engine_journal_note(run, CD_JR_END, 1, "outcome",
		outcome_names[r == 0 ? CD_RUN_FAILED_ROLLED_BACK : CD_RUN_ROLLBACK_FAILED], "duration_ms",
		ms);
	if (r < 0)
		return cd_error_set(err, CD_EFAIL, "some changes could not be undone");
	return 0;
}

enum cd_run_outcome cd_run_execute(struct cd_run *run)
{
	const struct cd_plan *plan = run->plan;

	cd_run_begin(run);
	run->phases = cd_xcalloc(plan->phases.n + 1, sizeof(*run->phases));
	run->n_phases = plan->phases.n;
	if (run->opts.resume) {
		struct cd_error err = CD_ERROR_INIT;
		if (engine_undo_load(run, run->opts.resume, &err) < 0) {
			set_failure(run, "%s", err.msg);
			cd_error_release(&err);
		}
	}
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
		cd_run_commit(run);
	} else if (!run->changed) {
		outcome = CD_RUN_PRECHECK_FAILED;
	} else if (!run->opts.rollback) {
		outcome = CD_RUN_FAILED_NOT_ROLLED_BACK;
	} else {
		outcome = engine_rollback(run, run->failure) == 0 ? CD_RUN_FAILED_ROLLED_BACK
								  : CD_RUN_ROLLBACK_FAILED;
	}
	cd_run_end(run, outcome);
	return outcome;
}
