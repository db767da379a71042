/*
 * engine: carrying out a plan. Phases run in order; steps in order, or a
 * parallel group on a bounded pool; each step with its timeout, retries
 * with backoff and monotonic timing. Every mutating action pushes a record
 * of how to undo it before it acts; on failure the records are undone in
 * reverse. Results are kept for the summary, the timing log and reports.
 */
#ifndef CORPDEPLOY_ENGINE_H
#define CORPDEPLOY_ENGINE_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "corpdeploy/core.h"
#include "corpdeploy/plan.h"

struct cJSON;
struct cd_docker;
struct cd_journal;
struct cd_journal_state;
struct cd_prober;
struct cd_run;
struct cd_ssh_pool;

enum cd_result { CD_RESULT_PENDING, CD_RESULT_OK, CD_RESULT_FAILED, CD_RESULT_SKIPPED,
	CD_RESULT_UNCHANGED };
extern const char *const cd_result_names[];

struct cd_step_result {
	const struct cd_step *step;
	const char *phase;
	enum cd_result result;
	int attempts;
	int64_t start_ms, duration_ms; /* start: since the run began */
	char *message;		       /* owned; why it failed, or what it did */
	struct cJSON *details;	       /* owned; what the step measured, for reports, or NULL */
};

struct cd_phase_result {
	const struct cd_phase *phase;
	enum cd_result result;
	int64_t start_ms, duration_ms;
};

/*
 * One change to take back, recorded (and journaled to disk) before the change
 * is made. The record is data, not code: its step kind's undo() takes it back
 * from the action name and data alone, so that another process can finish a
 * rollback from the journal after a crash.
 */
struct cd_undo {
	char *description; /* owned; "put back the previous container of 'web'" */
	char *step;	   /* owned; the step that pushed it */
	const struct cd_step_kind *kind;
	char *action;	   /* owned; the kind's own name for the change: "container.replace" */
	struct cJSON *data; /* owned; everything undo needs */
	long seq;	   /* its journal record */
	int done;	   /* undone already: undoing twice is harmless */
};

struct cd_run_opts {
	const char *run_id; /* NULL: generated from the time and the pid */
	int rollback;	    /* undo on failure: default 1 */
	FILE *progress;	    /* stderr normally */
	int tty;	    /* draw live lines on progress */
	const char *timing_log; /* path; NULL: none */
	const char *journal;	/* path of the run's write-ahead journal; NULL: none */
	/* Resuming an unfinished run: its journal, whose finished steps are skipped. */
	const struct cd_journal_state *resume;
};

enum cd_run_outcome {
	CD_RUN_OK,
	CD_RUN_FAILED_ROLLED_BACK,
	CD_RUN_FAILED_NOT_ROLLED_BACK, /* rollback disabled */
	CD_RUN_ROLLBACK_FAILED,
	CD_RUN_PRECHECK_FAILED, /* failed before anything changed */
};

struct cd_run {
	const struct cd_plan *plan;
	struct cd_run_opts opts;
	char run_id[64];
	int64_t t0_ms; /* monotonic start */
	char started_at[32]; /* ISO 8601, UTC */

	pthread_mutex_t lock; /* guards what steps running in parallel share below */
	struct cd_step_result *steps;
	size_t n_steps, alloc_steps;
	struct cd_phase_result *phases;
	size_t n_phases;
	struct cd_undo *undo;
	size_t n_undo, alloc_undo;
	int changed;	     /* some step mutated something */
	int failed;	     /* a step failed: stop starting new ones */
	char *failure;	     /* owned: the first failure, for the summary */
	int64_t rollback_ms; /* time spent undoing; -1 when none */

	struct cd_journal *journal; /* open while the run executes */
	char *manual_steps; /* owned: what a failed rollback left for people to do, a line each */
	struct cd_prober *prober;  /* the plan's downtime probe, from the first change to the end */
	struct cJSON *downtime;	   /* owned; what the prober measured (validate.h), or NULL */

	struct cd_docker **docker; /* per target, opened on first use */
	struct cd_ssh_pool *ssh;   /* SSH sessions, one per host, kept for the run */
	FILE *timing;
	const char *current_phase;
};

/* Creates a run of plan (which must outlive it). Free with cd_run_free(). */
struct cd_run *cd_run_new(const struct cd_plan *plan, const struct cd_run_opts *opts);
void cd_run_free(struct cd_run *run);
/* Carries out the plan; returns the outcome, with the details in run. */
enum cd_run_outcome cd_run_execute(struct cd_run *run);

/*
 * Finishes the rollback of an unfinished or failed run from its journal
 * (st, read by the caller): every change not undone yet is taken back. The
 * run must have been made with opts.journal set to that journal's path,
 * which gets the rollback's records. 0, or CD_EFAIL with run->manual_steps.
 */
int cd_run_rollback(struct cd_run *run, const struct cd_journal_state *st, struct cd_error *err);

/*
 * The parts of cd_run_execute() for commands that drive changes themselves
 * (rollback --to): begin (clock, journal), then steps' code making changes,
 * then either commit (the changes stay) or undo_all, then end.
 */
void cd_run_begin(struct cd_run *run);
void cd_run_commit(struct cd_run *run);
int cd_run_undo_all(struct cd_run *run, const char *why);
void cd_run_end(struct cd_run *run, enum cd_run_outcome outcome);

/*
 * State files (journals, the release history) hold no secret: hide returns
 * a copy of item with the values of the plan's secrets written as
 * "@@secret:NAME@@"; restore puts the values back, from the environment of
 * the process that reads the record.
 */
struct cJSON *cd_run_secrets_hide(const struct cd_run *run, const struct cJSON *item);
void cd_run_secrets_restore(const struct cd_run *run, struct cJSON *item);

/* For step kinds. */

/* The Docker client of a target; opened (and pinged) on first use. */
int cd_run_docker(struct cd_run *run, const char *target, struct cd_docker **ret,
	struct cd_error *err);
/*
 * Records how to take back the change the caller is about to make: appended
 * to the run's journal and flushed to disk before it returns. The run owns
 * data from now on. On error (the journal cannot be written) the caller must
 * not make the change.
 */
int cd_run_push_undo(struct cd_run *run, const struct cd_step *step, const char *action,
	struct cJSON *data, struct cd_error *err, const char *fmt, ...) CD_PRINTF(6, 7);
/* Notes that the run changed something (an unchanged run exits without touching anything). */
void cd_run_mark_changed(struct cd_run *run);
/* A progress line for the step in flight: "postgres healthy after 2.1s". */
void cd_run_note(struct cd_run *run, const char *fmt, ...) CD_PRINTF(2, 3);
/* Milliseconds left before deadline_ms (monotonic), at least 0. */
int64_t cd_run_left(int64_t deadline_ms);
/* Sleeps up to ms, returning early if the run was interrupted (then CD_EFAIL). */
int cd_run_sleep(struct cd_run *run, int64_t ms);
/* Looks up a value the way the plan does: vars, env_file, environment. */
const char *cd_run_env(const struct cd_run *run, const char *name);
/* Asks a running run to stop at the next step boundary (signal handlers). */
void cd_run_interrupt(int signo);
int cd_run_interrupted(void);
/* Interrupted, and not rolling back: waits and loops should end now. */
int cd_run_stopping(void);

/* Context handed to a step kind's apply. */
struct cd_step_ctx {
	struct cd_run *run;
	const struct cd_step *step;
	int64_t deadline_ms; /* monotonic; the step's timeout */
	int attempt;	     /* 1-based */
	struct cd_buf message; /* what it did, for the summary; one line */
	/*
	 * What the step measured (smoke results, latencies, findings, a backup's
	 * manifest), for reports: set by apply, owned by the engine from then on.
	 * Its shape is the kind's own and documented with the report schema.
	 */
	struct cJSON *details;
};

/* The plan's state directory: <plan dir>/<state_dir>/<plan name>. malloc'd. */
char *cd_engine_state_dir(const struct cd_plan *plan);
/* mkdir -p with mode for what it creates. */
int cd_engine_mkdirs(const char *path, unsigned mode, struct cd_error *err);

/*
 * The plan's deploy lock. Acquire fails at once with CD_ELOCKED, naming the
 * holder, when another run holds it; the kernel frees it when its holder
 * dies. *ret is released with cd_lock_release().
 */
struct cd_lock;
int cd_lock_acquire(const struct cd_plan *plan, const char *run_id, struct cd_lock **ret,
	struct cd_error *err);
void cd_lock_release(struct cd_lock *lock);
/* *ret_owner (malloc'd) describes the holder, or is NULL when nobody holds it. */
int cd_lock_status(const struct cd_plan *plan, char **ret_owner, struct cd_error *err);

/* Container naming, one rule everywhere: "<plan>-<service>". malloc'd. */
char *cd_engine_container_name(const struct cd_plan *plan, const char *service);

#endif
