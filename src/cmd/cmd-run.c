/*
 * What up, resume and rollback share: opening a plan with its state
 * directory and lock, and carrying out a journaled run of it, from the
 * unfinished-run marker to the release history and the exit code.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "corpdeploy/engine.h"
#include "corpdeploy/history.h"
#include "corpdeploy/journal.h"
#include "corpdeploy/log.h"
#include "corpdeploy/report.h"
#include "corpdeploy/ssh.h"
#include "corpdeploy/validate.h"

static void on_signal(int signo)
{
	if (cd_run_interrupted())
		_exit(128 + signo); /* the second signal: stop at once; the journal has it all */
	cd_run_interrupt(signo);
}

void cd_cmd_catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

void cd_cmd_new_run_id(char id[64])
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	size_t n = strftime(id, 64, "%Y%m%d-%H%M%S", &tm);
	snprintf(id + n, 64 - n, "-%d", (int)getpid());
}

int cd_cmd_open_plan(const char *path, const char *state_dir, const char *run_id,
	struct cd_cmd_session *s)
{
	struct cd_error err = CD_ERROR_INIT;
	memset(s, 0, sizeof(*s));
	if (!(s->plan = cd_cmd_load_plan(path, 0)))
		return CD_EXIT_USAGE;
	if (state_dir)
		s->plan->state_dir = state_dir;
	s->state = cd_engine_state_dir(s->plan);
	if (cd_engine_mkdirs(s->state, 0700, &err) < 0 ||
		cd_lock_acquire(s->plan, run_id, &s->lock, &err) < 0) {
		/* One run of a plan at a time; a second one is refused at once. */
		cd_log_cd_error(&err);
		int code = err.code == CD_ELOCKED ? CD_EXIT_LOCKED : CD_EXIT_PRECHECK;
		cd_error_release(&err);
		cd_cmd_close_plan(s);
		return code;
	}
	return CD_EXIT_OK;
}

void cd_cmd_close_plan(struct cd_cmd_session *s)
{
	if (s->lock)
		cd_lock_release(s->lock);
	free(s->state);
	cd_plan_free(s->plan);
	memset(s, 0, sizeof(*s));
}

char *cd_cmd_run_dir(const struct cd_cmd_session *s, const char *run_id)
{
	return cd_xasprintf("%s/runs/%s", s->state, run_id);
}

void cd_cmd_report_manual_steps(const struct cd_run *run, const char *run_dir)
{
	if (!run->manual_steps)
		return;
	cd_log_error("the rollback could not undo everything; by hand:");
	const char *p = run->manual_steps;
	while (*p) {
		size_t n = strcspn(p, "\n");
		/* An indented line goes on the entry above it (the engine writes them so). */
		if (p[0] == ' ')
			cd_log_error("  %.*s", (int)n, p);
		else
			cd_log_error("  - %.*s", (int)n, p);
		p += n + (p[n] == '\n');
	}
	char *path = cd_xasprintf("%s/manual-steps.txt", run_dir);
	char *text = cd_redact_dup(run->manual_steps);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (f) {
		fputs(text, f);
		fclose(f);
		cd_log_error("(kept in %s)", path);
	} else if (fd >= 0) {
		close(fd);
	}
	free(text);
	free(path);
}

int cd_cmd_execute(struct cd_cmd_session *s, const char *run_id, int rollback,
	const struct cd_journal_state *resume)
{
	struct cd_error err = CD_ERROR_INIT;
	char *run_dir = cd_cmd_run_dir(s, run_id);
	char *timing = cd_xasprintf("%s/timing.log", run_dir);
	char *journal = cd_xasprintf("%s/journal", run_dir);
	struct cd_run_opts opts = { .run_id = run_id, .rollback = rollback, .progress = stderr,
		.tty = isatty(STDERR_FILENO) && cd_log_color(), .resume = resume };
	int code;

	if (cd_engine_mkdirs(run_dir, 0700, &err) < 0 ||
		(!resume && cd_history_set_unfinished(s->state, run_id, &err) < 0)) {
		/* Without a journal a crash could not be undone: do not start. */
		cd_log_cd_error(&err);
		cd_error_release(&err);
		code = CD_EXIT_PRECHECK;
		goto out;
	}
	opts.timing_log = timing;
	opts.journal = journal;
	struct cd_run *run = cd_run_new(s->plan, &opts);
	cd_cmd_catch_signals();
	/* Every SSH host is connected and its key checked before the first step changes anything. */
	if (cd_ssh_run_connect_all(run, &err) < 0) {
		cd_log_cd_error(&err);
		cd_error_release(&err);
		if (!resume)
			cd_history_clear_unfinished(s->state);
		cd_run_free(run);
		code = CD_EXIT_PRECHECK;
		goto out;
	}
	enum cd_run_outcome outcome = cd_run_execute(run);
	cd_validate_after_run(run, outcome == CD_RUN_OK);
	switch (outcome) {
	case CD_RUN_OK: code = CD_EXIT_OK; break;
	case CD_RUN_PRECHECK_FAILED: code = CD_EXIT_PRECHECK; break;
	case CD_RUN_ROLLBACK_FAILED: code = CD_EXIT_ROLLBACK_FAILED; break;
	default: code = CD_EXIT_ROLLED_BACK; break;
	}
	if (cd_run_interrupted() && code != CD_EXIT_ROLLBACK_FAILED)
		code = cd_run_interrupted() == SIGTERM ? CD_EXIT_SIGTERM : CD_EXIT_SIGINT;
	if (outcome == CD_RUN_OK && cd_history_record(run, s->state, &err) < 0) {
		cd_log_warn("the release history was not updated: %s", err.msg);
		cd_error_release(&err);
	}
	if (outcome == CD_RUN_ROLLBACK_FAILED)
		cd_cmd_report_manual_steps(run, run_dir);
	/* What a plain `rollback` would do now: nothing after a rollback, undo after a deploy. */
	if (outcome == CD_RUN_OK)
		cd_cmd_mark_rolled_back(s, NULL);
	else if (outcome == CD_RUN_FAILED_ROLLED_BACK)
		cd_cmd_mark_rolled_back(s, run_id);
	/* A run that ended, one way or another, is finished; a failed rollback is not. */
	if (outcome != CD_RUN_ROLLBACK_FAILED && outcome != CD_RUN_FAILED_NOT_ROLLED_BACK)
		cd_history_clear_unfinished(s->state);
	else
		cd_log_info("run %s is unfinished: `corpdeploy rollback %s` undoes what is left",
			run_id, s->plan->path);
	cd_log_info("timing log: %s", timing);
	struct cd_report_input report_in = { .outcome = outcome, .exit_code = code,
		.interrupted = cd_run_interrupted(), .downtime = run->downtime };
	cd_cmd_up_report(run, &report_in, run_dir);
	cd_run_free(run);
out:
	free(journal);
	free(timing);
	free(run_dir);
	return code;
}

int cd_cmd_refuse_unfinished(const struct cd_cmd_session *s)
{
	char *id = cd_history_unfinished(s->state);
	if (!id)
		return 0;
	cd_log_error("run %s of plan '%s' is unfinished (it was interrupted or its rollback failed)",
		id, s->plan->name);
	cd_log_error("  `corpdeploy rollback %s` takes its changes back; `corpdeploy resume %s` "
		     "carries it on from its first step not done",
		s->plan->path, s->plan->path);
	free(id);
	return CD_EXIT_LOCKED;
}

void cd_cmd_mark_rolled_back(const struct cd_cmd_session *s, const char *run_id)
{
	char *path = cd_xasprintf("%s/rolled-back", s->state);
	if (run_id) {
		FILE *f = fopen(path, "w");
		if (f) {
			fprintf(f, "%s\n", run_id);
			fclose(f);
		}
	} else {
		unlink(path);
	}
	free(path);
}

char *cd_cmd_rolled_back(const struct cd_cmd_session *s)
{
	char *path = cd_xasprintf("%s/rolled-back", s->state);
	char line[128] = "";
	FILE *f = fopen(path, "r");
	free(path);
	if (!f)
		return NULL;
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	return cd_xstrdup(line[0] ? line : "an earlier run");
}
