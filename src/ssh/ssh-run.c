/*
 * ssh-run: a run's SSH sessions and its fan-out over host groups. Each host
 * gets one session for the whole run, connected on first use (or all at
 * once before the first step, so an untrusted host stops the run before
 * anything changed) and lent to one thread at a time. A group step runs
 * its hosts in batches (serial), at most `parallel` at once, and stops
 * starting batches when more hosts failed than max_fail allows; every
 * host that changed something pushed its own undo record, so a rollback
 * takes back all of them.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "corpdeploy/engine.h"
#include "corpdeploy/log.h"
#include "corpdeploy/steps.h"
#include "ssh-internal.h"

struct pool_entry {
	char *target;
	struct cd_ssh_session *session;
	pthread_mutex_t use; /* held by the thread the session is lent to */
};

struct cd_ssh_pool {
	pthread_mutex_t lock;
	struct pool_entry **entries;
	size_t n;
	struct cd_ssh_known_hosts *known_hosts; /* read at the first connection, shared by all */
};

static struct cd_ssh_pool *run_pool(struct cd_run *run)
{
	pthread_mutex_lock(&run->lock);
	if (!run->ssh) {
		run->ssh = cd_xcalloc(1, sizeof(*run->ssh));
		pthread_mutex_init(&run->ssh->lock, NULL);
	}
	struct cd_ssh_pool *p = run->ssh;
	pthread_mutex_unlock(&run->lock);
	return p;
}

void cd_ssh_pool_free(struct cd_ssh_pool *pool)
{
	if (!pool)
		return;
	for (size_t i = 0; i < pool->n; i++) {
		cd_ssh_close(pool->entries[i]->session);
		pthread_mutex_destroy(&pool->entries[i]->use);
		free(pool->entries[i]->target);
		free(pool->entries[i]);
	}
	free(pool->entries);
	cd_ssh_known_hosts_free(pool->known_hosts);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
}

static struct pool_entry *pool_entry(struct cd_ssh_pool *pool, const char *target)
{
	pthread_mutex_lock(&pool->lock);
	struct pool_entry *e = NULL;
	for (size_t i = 0; i < pool->n && !e; i++)
		if (strcmp(pool->entries[i]->target, target) == 0)
			e = pool->entries[i];
	if (!e) {
		e = cd_xcalloc(1, sizeof(*e));
		e->target = cd_xstrdup(target);
		pthread_mutex_init(&e->use, NULL);
		pool->entries = cd_xreallocarray(pool->entries, pool->n + 1, sizeof(*pool->entries));
		pool->entries[pool->n++] = e;
	}
	pthread_mutex_unlock(&pool->lock);
	return e;
}

static struct cd_ssh_known_hosts *pool_known_hosts(struct cd_ssh_pool *pool, struct cd_error *err)
{
	pthread_mutex_lock(&pool->lock);
	if (!pool->known_hosts)
		pool->known_hosts = ssh_load_known_hosts(err);
	struct cd_ssh_known_hosts *kh = pool->known_hosts;
	pthread_mutex_unlock(&pool->lock);
	return kh;
}

int cd_ssh_run_acquire(struct cd_run *run, const char *target, struct cd_ssh_session **ret,
	struct cd_error *err)
{
	const struct cd_target *t = cd_plan_target(run->plan, target);
	if (!t || t->kind != CD_TARGET_SSH)
		return cd_error_set(err, CD_EUSAGE, "target '%s' is not an SSH host", target);
	struct cd_ssh_pool *pool = run_pool(run);
	struct pool_entry *e = pool_entry(pool, target);
	pthread_mutex_lock(&e->use);
	if (!e->session) {
		struct cd_ssh_known_hosts *kh = pool_known_hosts(pool, err);
		if (!kh) {
			pthread_mutex_unlock(&e->use);
			return CD_EIO;
		}
		struct cd_ssh_dest d;
		const char *pass = t->passphrase_secret ? cd_run_env(run, t->passphrase_secret) : NULL;
		int r = cd_ssh_dest_from_target(t, pass, &d, err);
		if (r == 0)
			r = ssh_connect_known(&d, kh, &e->session, err);
		cd_ssh_dest_release(&d);
		if (r < 0) {
			pthread_mutex_unlock(&e->use);
			return r;
		}
	}
	*ret = e->session;
	return 0;
}

void cd_ssh_run_release(struct cd_run *run, struct cd_ssh_session *s)
{
	struct cd_ssh_pool *pool = run_pool(run);
	pthread_mutex_lock(&pool->lock);
	for (size_t i = 0; i < pool->n; i++)
		if (pool->entries[i]->session == s) {
			pthread_mutex_unlock(&pool->entries[i]->use);
			break;
		}
	pthread_mutex_unlock(&pool->lock);
}

int cd_ssh_run_exec(struct cd_run *run, const char *target, const char *command,
	const char *stdin_data, int64_t timeout_ms, size_t max, struct cd_buf *out,
	struct cd_buf *eout, int *ret_status, struct cd_error *err)
{
	struct cd_ssh_session *s;
	*out = (struct cd_buf)CD_BUF_INIT;
	*eout = (struct cd_buf)CD_BUF_INIT;
	int r = cd_ssh_run_acquire(run, target, &s, err);
	if (r < 0)
		return r;
	struct cd_ssh_exec_opts o = { .stdin_data = stdin_data, .timeout_ms = timeout_ms,
		.max = max, .label = target };
	r = cd_ssh_exec(s, command, &o, out, eout, ret_status, err);
	cd_ssh_run_release(run, s);
	return r;
}

int cd_ssh_is_remote(const struct cd_plan *plan, const char *target)
{
	const struct cd_target *t = target ? cd_plan_target(plan, target) : NULL;
	return t && (t->kind == CD_TARGET_SSH || t->kind == CD_TARGET_GROUP);
}

/* ---- connecting everything up front ---- */

struct host_list {
	const char **names;
	size_t n;
};

static void hosts_add(struct host_list *l, const struct cd_plan *plan, const char *target)
{
	const struct cd_target *t = target ? cd_plan_target(plan, target) : NULL;
	if (!t)
		return;
	if (t->kind == CD_TARGET_GROUP) {
		for (size_t i = 0; i < t->hosts.n; i++)
			hosts_add(l, plan, t->hosts.v[i]);
		return;
	}
	if (t->kind != CD_TARGET_SSH)
		return;
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->names[i], t->name) == 0)
			return;
	l->names = cd_xreallocarray(l->names, l->n + 1, sizeof(*l->names));
	l->names[l->n++] = t->name;
}

static void hosts_of_steps(struct host_list *l, const struct cd_plan *plan, const struct cd_list *steps)
{
	for (size_t i = 0; i < steps->n; i++) {
		const struct cd_step *s = CD_LIST_AT(steps, struct cd_step, i);
		if (strcmp(s->kind->name, "parallel") == 0)
			hosts_of_steps(l, plan, &((const struct cd_step_parallel *)s->args)->steps);
		hosts_add(l, plan, s->target);
	}
}

struct connect_job {
	struct cd_run *run;
	const char *target;
	struct cd_error err;
	int r;
};

static void *connect_thread(void *arg)
{
	struct connect_job *j = arg;
	struct cd_ssh_session *s;
	j->r = cd_ssh_run_acquire(j->run, j->target, &s, &j->err);
	if (j->r == 0)
		cd_ssh_run_release(j->run, s);
	return NULL;
}

/* Runs jobs[0..n) at most `cap` at a time. */
static void run_threads(void *(*fn)(void *), void *jobs, size_t size, size_t n, size_t cap)
{
	pthread_t *tids = cd_xcalloc(cap ? cap : 1, sizeof(*tids));
	for (size_t start = 0; start < n; start += cap) {
		size_t end = start + cap < n ? start + cap : n, k = 0;
		int *started = cd_xcalloc(end - start, sizeof(int));
		for (size_t i = start; i < end; i++, k++) {
			void *job = (char *)jobs + i * size;
			if (pthread_create(&tids[k], NULL, fn, job) == 0)
				started[k] = 1;
			else
				fn(job);
		}
		for (k = 0; k < end - start; k++)
			if (started[k])
				pthread_join(tids[k], NULL);
		free(started);
	}
	free(tids);
}

int cd_ssh_run_connect_all(struct cd_run *run, struct cd_error *err)
{
	const struct cd_plan *plan = run->plan;
	struct host_list l = { 0 };
	for (size_t i = 0; i < plan->phases.n; i++)
		hosts_of_steps(&l, plan, &CD_LIST_AT(&plan->phases, struct cd_phase, i)->steps);
	for (size_t i = 0; i < plan->services.n; i++)
		hosts_add(&l, plan, CD_LIST_AT(&plan->services, struct cd_service, i)->target);
	if (!l.n)
		return 0;
	struct connect_job *jobs = cd_xcalloc(l.n, sizeof(*jobs));
	for (size_t i = 0; i < l.n; i++)
		jobs[i] = (struct connect_job){ .run = run, .target = l.names[i] };
	run_threads(connect_thread, jobs, sizeof(*jobs), l.n, 64);
	struct cd_buf msg = CD_BUF_INIT;
	int r = 0, hostkey = 0;
	for (size_t i = 0; i < l.n; i++) {
		if (jobs[i].r == 0)
			continue;
		if (jobs[i].err.sys == CD_SSH_EHOSTKEY)
			hostkey = 1;
		cd_buf_addf(&msg, "%s%s", msg.len ? "\n" : "", jobs[i].err.msg ? jobs[i].err.msg : "failed");
		r = CD_EFAIL;
	}
	if (r < 0) {
		cd_error_set(err, CD_EFAIL, "%s", msg.buf);
		if (err && hostkey)
			err->sys = CD_SSH_EHOSTKEY;
	}
	for (size_t i = 0; i < l.n; i++)
		cd_error_release(&jobs[i].err);
	cd_buf_release(&msg);
	free(jobs);
	free(l.names);
	return r;
}

/* ---- fan-out ---- */

struct host_job {
	cd_ssh_host_fn fn;
	void *ctx;
	const char *target;
	struct cd_buf message;
	struct cd_error err;
	int r;
	int64_t ms;
};

static void *host_thread(void *arg)
{
	struct host_job *j = arg;
	int64_t t0 = cd_time_mono_ms();
	j->r = j->fn(j->ctx, j->target, &j->message, &j->err);
	j->ms = cd_time_mono_ms() - t0;
	return NULL;
}

int cd_ssh_fanout(struct cd_run *run, const char *target, cd_ssh_host_fn fn, void *ctx,
	struct cd_buf *summary, struct cd_error *err)
{
	const struct cd_target *t = cd_plan_target(run->plan, target);
	if (!t)
		return cd_error_set(err, CD_ENOTFOUND, "no target '%s'", target);
	if (t->kind != CD_TARGET_GROUP)
		return fn(ctx, target, summary, err);

	size_t n = t->hosts.n;
	int rolling = t->serial.count >= 0 || t->serial.pct >= 0;
	size_t batch = rolling ? cd_ssh_batch_size(n, t->serial.count, t->serial.pct) : n;
	/* Without max_fail a rolling group stops after the first batch with a failure. */
	size_t budget = t->max_fail.count >= 0 || t->max_fail.pct >= 0 ?
		cd_ssh_fail_budget(n, t->max_fail.count, t->max_fail.pct) : 0;
	size_t cap = t->parallel > 0 ? (size_t)t->parallel : 256;
	struct host_job *jobs = cd_xcalloc(n, sizeof(*jobs));
	size_t done = 0, failed = 0;
	for (size_t i = 0; i < n; i++)
		jobs[i] = (struct host_job){ .fn = fn, .ctx = ctx, .target = t->hosts.v[i],
			.message = CD_BUF_INIT, .err = CD_ERROR_INIT };
	for (size_t start = 0; start < n; start += batch) {
		size_t end = start + batch < n ? start + batch : n;
		run_threads(host_thread, jobs + start, sizeof(*jobs), end - start, cap);
		for (size_t i = start; i < end; i++) {
			char took[32];
			cd_duration_format(jobs[i].ms, took, sizeof(took));
			if (jobs[i].r == 0) {
				cd_run_note(run, "%s: ok (%s)%s%s", jobs[i].target, took,
					jobs[i].message.len ? " " : "", jobs[i].message.buf);
			} else {
				failed++;
				cd_run_note(run, "%s: FAILED (%s): %s", jobs[i].target, took,
					jobs[i].err.msg ? jobs[i].err.msg : "failed");
			}
		}
		done = end;
		if (cd_run_interrupted() || (failed && failed > budget))
			break;
		if (rolling && end < n)
			cd_run_note(run, "batch %zu of %zu done", end / batch + (end % batch != 0),
				(n + batch - 1) / batch);
	}
	int r = 0;
	struct cd_buf fails = CD_BUF_INIT;
	for (size_t i = 0; i < done; i++)
		if (jobs[i].r != 0)
			cd_buf_addf(&fails, "%s%s: %s", fails.len ? "; " : "", jobs[i].target,
				jobs[i].err.msg ? jobs[i].err.msg : "failed");
	if (failed > budget || (failed && done < n)) {
		r = cd_error_set(err, CD_EFAIL, "%zu of %zu hosts failed%s (%zu not started): %s",
			failed, n, budget ? " (over max_fail)" : "", n - done, fails.buf);
	} else if (failed) {
		cd_buf_addf(summary, "%zu of %zu hosts ok, %zu failed within max_fail: %s", n - failed,
			n, failed, fails.buf);
	} else {
		cd_buf_addf(summary, "%zu hosts ok", n);
	}
	for (size_t i = 0; i < n; i++) {
		cd_buf_release(&jobs[i].message);
		cd_error_release(&jobs[i].err);
	}
	cd_buf_release(&fails);
	free(jobs);
	return r;
}
