/*
 * Undo records and the rollback: records are journaled before the change
 * they undo is made; a rollback takes them back newest step first, the
 * records of one step concurrently (the services of one deploy step are
 * independent of each other), within the rollback's own time budget. A
 * later process rebuilds the records from the journal to finish a rollback
 * a crash interrupted.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "corpdeploy/engine.h"
#include "corpdeploy/journal.h"
#include "corpdeploy/log.h"
#include "corpdeploy/steps.h"
#include "engine-internal.h"

/* Concurrent undos of one step. */
#define UNDO_WORKERS 8

static struct cd_undo *undo_new(struct cd_run *run)
{
	if (run->n_undo == run->alloc_undo) {
		run->alloc_undo = run->alloc_undo ? run->alloc_undo * 2 : 16;
		run->undo = cd_xreallocarray(run->undo, run->alloc_undo, sizeof(*run->undo));
	}
	struct cd_undo *u = &run->undo[run->n_undo++];
	memset(u, 0, sizeof(*u));
	return u;
}

void engine_undo_free_all(struct cd_run *run)
{
	for (size_t i = 0; i < run->n_undo; i++) {
		free(run->undo[i].description);
		free(run->undo[i].step);
		free(run->undo[i].action);
		cJSON_Delete(run->undo[i].data);
	}
	free(run->undo);
	run->undo = NULL;
	run->n_undo = run->alloc_undo = 0;
}

int cd_run_push_undo(struct cd_run *run, const struct cd_step *step, const char *action,
	cJSON *data, struct cd_error *err, const char *fmt, ...)
{
	char *description;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&description, fmt, ap) < 0)
		cd_oom();
	va_end(ap);

	pthread_mutex_lock(&run->lock);
	long seq = 0;
	if (run->journal) {
		cJSON *rec = cJSON_CreateObject();
		cJSON_AddStringToObject(rec, "type", CD_JR_UNDO);
		cJSON_AddStringToObject(rec, "step", step->name);
		cJSON_AddStringToObject(rec, "kind", step->kind->name);
		cJSON_AddStringToObject(rec, "action", action);
		cJSON_AddStringToObject(rec, "description", description);
		cJSON_AddItemToObject(rec, "data", cd_run_secrets_hide(run, data));
		seq = cd_journal_append(run->journal, rec, 1, err);
		cJSON_Delete(rec);
		if (seq < 0) {
			pthread_mutex_unlock(&run->lock);
			free(description);
			cJSON_Delete(data);
			return (int)seq;
		}
	}
	struct cd_undo *u = undo_new(run);
	u->description = description;
	u->step = cd_xstrdup(step->name);
	u->kind = step->kind;
	u->action = cd_xstrdup(action);
	u->data = data;
	u->seq = seq;
	int first = !run->changed;
	run->changed = 1;
	pthread_mutex_unlock(&run->lock);
	if (first)
		engine_probe_start(run);
	return 0;
}

int engine_undo_load(struct cd_run *run, const struct cd_journal_state *st, struct cd_error *err)
{
	for (size_t i = 0; i < st->n_undo; i++) {
		const cJSON *rec = st->undo[i];
		const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "kind"));
		const struct cd_step_kind *k = cd_step_kind_find(kind);
		if (!k || !k->undo)
			return cd_error_set(err, CD_EFAIL,
				"the journal holds a change of a '%s' step, which this version cannot undo",
				kind);
		const char *desc =
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "description"));
		struct cd_undo *u = undo_new(run);
		u->description = cd_xstrdup(desc ? desc : "a change");
		u->step = cd_xstrdup(
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "step")));
		u->kind = k;
		u->action = cd_xstrdup(
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "action")));
		const cJSON *data = cJSON_GetObjectItemCaseSensitive(rec, "data");
		u->data = data ? cJSON_Duplicate(data, 1) : cJSON_CreateObject();
		cd_run_secrets_restore(run, u->data);
		u->seq = (long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(rec, "seq"));
		u->done = st->undone[i];
	}
	if (st->n_undo)
		run->changed = 1;
	return 0;
}

void engine_journal_note(struct cd_run *run, const char *type, int sync, const char *k1,
	const char *v1, const char *k2, const char *v2)
{
	if (!run->journal)
		return;
	struct cd_error err = CD_ERROR_INIT;
	cJSON *rec = cJSON_CreateObject();
	cJSON_AddStringToObject(rec, "type", type);
	if (k1)
		cJSON_AddStringToObject(rec, k1, v1 ? v1 : "");
	if (k2)
		cJSON_AddStringToObject(rec, k2, v2 ? v2 : "");
	pthread_mutex_lock(&run->lock);
	if (cd_journal_append(run->journal, rec, sync, &err) < 0)
		cd_log_warn("%s", err.msg);
	pthread_mutex_unlock(&run->lock);
	cJSON_Delete(rec);
	cd_error_release(&err);
}

struct undo_batch {
	struct cd_run *run;
	size_t *idx; /* records to undo, in any order */
	size_t n, next;
	int64_t deadline;
	pthread_mutex_t lock;
	int failed;
};

static void undo_one(struct undo_batch *b, struct cd_undo *u)
{
	struct cd_run *run = b->run;
	struct cd_error err = CD_ERROR_INIT;
	int r;
	engine_fault_point("rollback", u->step, "before");
	if (cd_time_mono_ms() > b->deadline)
		r = cd_error_set(&err, CD_EFAIL, "the rollback budget ran out");
	else
		r = u->kind->undo(run, u->action, u->data, &err);
	/* A crash here leaves the change undone but not journaled as undone: the worst window. */
	if (r == 0)
		engine_fault_point("rollback", u->step, "after");
	if (r == 0)
		u->done = 1;
	else {
		pthread_mutex_lock(&b->lock);
		b->failed = 1;
		pthread_mutex_unlock(&b->lock);
		pthread_mutex_lock(&run->lock);
		struct cd_buf m = CD_BUF_INIT;
		cd_buf_adds(&m, run->manual_steps ? run->manual_steps : "");
		/* The entry's first line is its own: a newline inside a quoted command shows as \n. */
		for (const char *c = u->description; *c; c++)
			if (*c == '\n')
				cd_buf_adds(&m, "\\n");
			else
				cd_buf_addch(&m, *c);
		cd_buf_adds(&m, ": ");
		/* One entry per undo: the further lines of a long error (a tool's DETAIL, HINT...) indented. */
		const char *msg = err.msg ? err.msg : "failed";
		for (int first = 1; *msg; first = 0) {
			size_t n = strcspn(msg, "\n");
			if (n > 0 && strspn(msg, " \t\r") < n)
				cd_buf_addf(&m, "%s%.*s\n", first ? "" : "    ", (int)n, msg);
			else if (first)
				cd_buf_adds(&m, "failed\n");
			msg += n + (msg[n] == '\n');
		}
		free(run->manual_steps);
		run->manual_steps = cd_buf_detach(&m);
		pthread_mutex_unlock(&run->lock);
	}
	if (run->journal && u->seq > 0) {
		cJSON *rec = cJSON_CreateObject();
		cJSON_AddStringToObject(rec, "type", CD_JR_UNDONE);
		cJSON_AddNumberToObject(rec, "undo", (double)u->seq);
		cJSON_AddBoolToObject(rec, "ok", r == 0);
		if (r < 0)
			cJSON_AddStringToObject(rec, "message", err.msg ? err.msg : "failed");
		struct cd_error jerr = CD_ERROR_INIT;
		pthread_mutex_lock(&run->lock);
		if (cd_journal_append(run->journal, rec, 1, &jerr) < 0)
			cd_log_warn("%s", jerr.msg);
		pthread_mutex_unlock(&run->lock);
		cd_error_release(&jerr);
		cJSON_Delete(rec);
	}
	engine_progress_undo(run, u, r, err.msg);
	cd_error_release(&err);
}

static void *undo_worker(void *arg)
{
	struct undo_batch *b = arg;
	for (;;) {
		pthread_mutex_lock(&b->lock);
		size_t i = b->next < b->n ? b->idx[b->next++] : (size_t)-1;
		pthread_mutex_unlock(&b->lock);
		if (i == (size_t)-1)
			return NULL;
		undo_one(b, &b->run->undo[i]);
	}
}

/* Undoes the records idx[0..n) concurrently. */
static int undo_batch(struct cd_run *run, size_t *idx, size_t n, int64_t deadline)
{
	struct undo_batch b = { .run = run, .idx = idx, .n = n, .deadline = deadline };
	pthread_mutex_init(&b.lock, NULL);
	size_t workers = n < UNDO_WORKERS ? n : UNDO_WORKERS, started = 0;
	pthread_t threads[UNDO_WORKERS];
	for (size_t i = 1; i < workers; i++)
		if (pthread_create(&threads[started], NULL, undo_worker, &b) == 0)
			started++;
	undo_worker(&b);
	for (size_t i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	pthread_mutex_destroy(&b.lock);
	return b.failed ? CD_EFAIL : 0;
}

int engine_rollback(struct cd_run *run, const char *why)
{
	const struct cd_rollback *rb = run->plan->rollback;
	int64_t budget = rb && rb->budget_ms > 0 ? rb->budget_ms : 600000;
	int64_t start = cd_time_mono_ms(), deadline = start + budget;
	int failed = 0;
	size_t pending = 0;
	for (size_t i = 0; i < run->n_undo; i++)
		pending += !run->undo[i].done;

	engine_set_undoing(1);
	engine_journal_note(run, CD_JR_ROLLBACK, 1, "why", why, NULL, NULL);
	engine_progress_rollback_start(run, pending);
	size_t *idx = cd_xcalloc(run->n_undo + 1, sizeof(*idx));
	/* Newest step first; the records of one step together. */
	for (size_t end = run->n_undo; end > 0;) {
		const char *step = run->undo[end - 1].step;
		size_t begin = end, n = 0;
		while (begin > 0 && strcmp(run->undo[begin - 1].step, step) == 0)
			begin--;
		for (size_t i = end; i-- > begin;)
			if (!run->undo[i].done)
				idx[n++] = i;
		if (n && undo_batch(run, idx, n, deadline) < 0)
			failed = 1;
		end = begin;
	}
	free(idx);
	engine_set_undoing(0);
	run->rollback_ms = cd_time_mono_ms() - start;
	cJSON *rec = NULL;
	if (run->journal) {
		struct cd_error err = CD_ERROR_INIT;
		rec = cJSON_CreateObject();
		cJSON_AddStringToObject(rec, "type", CD_JR_ROLLBACK_END);
		cJSON_AddBoolToObject(rec, "ok", !failed);
		cJSON_AddNumberToObject(rec, "duration_ms", (double)run->rollback_ms);
		if (cd_journal_append(run->journal, rec, 1, &err) < 0)
			cd_log_warn("%s", err.msg);
		cd_error_release(&err);
		cJSON_Delete(rec);
	}
	return failed ? CD_EFAIL : 0;
}
