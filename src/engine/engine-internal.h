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
void engine_progress_rollback_start(struct cd_run *run);
void engine_progress_undo(struct cd_run *run, const struct cd_undo *u, int r, const char *msg);
void engine_progress_end(struct cd_run *run, enum cd_run_outcome outcome);

#endif
