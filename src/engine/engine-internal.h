/*
 * Between the run and its progress display.
 */
#ifndef CORPDEPLOY_ENGINE_INTERNAL_H
#define CORPDEPLOY_ENGINE_INTERNAL_H

#include "corpdeploy/engine.h"

void engine_progress_begin(struct cd_run *run);
void engine_progress_phase_start(struct cd_run *run, size_t phase);
void engine_progress_phase_done(struct cd_run *run, size_t phase);
void engine_progress_step_start(struct cd_run *run, const struct cd_step *step);
void engine_progress_step_done(struct cd_run *run, size_t result);
void engine_progress_retry(struct cd_run *run, const struct cd_step *step, int attempt,
	const struct cd_error *err, int64_t delay_ms);
void engine_progress_rollback_start(struct cd_run *run, size_t pending);
void engine_progress_undo(struct cd_run *run, const struct cd_undo *u, int r, const char *msg);
void engine_progress_end(struct cd_run *run, enum cd_run_outcome outcome);


/* engine-undo.c */
void engine_undo_free_all(struct cd_run *run);
int engine_undo_load(struct cd_run *run, const struct cd_journal_state *st, struct cd_error *err);
/* Appends a record {type, k1: v1, k2: v2} to the run's journal, if it has one. */
void engine_journal_note(struct cd_run *run, const char *type, int sync, const char *k1,
	const char *v1, const char *k2, const char *v2);
/* Undoes every record not done yet; 0 or CD_EFAIL (run->manual_steps says what is left). */
int engine_rollback(struct cd_run *run, const char *why);

/* engine-run.c: a rollback in progress is not cut short by a first signal. */
void engine_set_undoing(int on);
/* engine-run.c: the downtime prober starts with the run's first change. */
void engine_probe_start(struct cd_run *run);

/* engine-fault.c: test builds stop the run where CORPDEPLOY_FAULT says. */
void engine_fault_point(const char *phase, const char *step, const char *when);

#endif
