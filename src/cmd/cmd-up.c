/*
 * up: deploy the plan, phase by phase, and roll back on failure. Writes a
 * timing log for the run in the plan's state directory. The exit code says
 * what happened (corpdeploy(1)): 0 deployed, 1 failed and rolled back,
 * 4 failed before changing anything, 5 rollback failed, 130/143 interrupted.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "corpdeploy/engine.h"
#include "corpdeploy/ssh.h"
#include "corpdeploy/log.h"
#include "corpdeploy/plan.h"
#include "corpdeploy/steps.h"

static void on_signal(int signo)
{
	if (cd_run_interrupted())
		_exit(128 + signo); /* the second signal: stop at once */
	cd_run_interrupt(signo);
}

/* What `up` cannot run yet is refused before anything starts. */
/* The step kinds that can act on SSH hosts and host groups. */
static int ssh_step_kind(const char *kind)
{
	return strcmp(kind, "run") == 0 || strcmp(kind, "check") == 0 || strcmp(kind, "copy") == 0;
}

static int preflight_steps(const struct cd_plan *plan, const struct cd_list *steps)
{
	int bad = 0;
	for (size_t i = 0; i < steps->n; i++) {
		const struct cd_step *s = CD_LIST_AT(steps, struct cd_step, i);
		if (strcmp(s->kind->name, "parallel") == 0) {
			bad |= preflight_steps(plan, &((const struct cd_step_parallel *)s->args)->steps);
			continue;
		}
		const struct cd_target *t = s->target ? cd_plan_target(plan, s->target) : NULL;
		if (!s->kind->apply) {
			cd_log_error("%s:%u:%u: step '%s': '%s' steps cannot be run by this version of up",
				s->node->file, s->kind_node->line, s->kind_node->col, s->name, s->kind->name);
			bad = 1;
		} else if (t && t->kind != CD_TARGET_LOCAL && t->kind != CD_TARGET_DOCKER &&
			   !(cd_ssh_is_remote(plan, s->target) && ssh_step_kind(s->kind->name))) {
			cd_log_error("%s:%u:%u: step '%s': %s targets cannot be reached by this version of up",
				s->node->file, s->node->line, s->node->col, s->name,
				cd_target_kind_names[t->kind]);
			bad = 1;
		}
	}
	return bad;
}

static int preflight(const struct cd_plan *plan)
{
	int bad = 0;
	for (size_t i = 0; i < plan->phases.n; i++)
		bad |= preflight_steps(plan, &CD_LIST_AT(&plan->phases, struct cd_phase, i)->steps);
	for (size_t i = 0; i < plan->services.n; i++) {
		const struct cd_service *s = CD_LIST_AT(&plan->services, struct cd_service, i);
		const struct cd_target *t = cd_plan_target(plan, s->target);
		int remote_engine = t && t->docker &&
			((t->kind == CD_TARGET_SSH && strcmp(t->docker, "ssh") == 0) ||
				(t->kind == CD_TARGET_DOCKER && strncmp(t->docker, "ssh://", 6) == 0));
		if (!t || (!remote_engine && (t->kind != CD_TARGET_DOCKER ||
						     strncmp(t->docker, "unix://", 7) != 0))) {
			cd_log_error("%s:%u:%u: service '%s': its target has no Docker engine this version "
				     "can reach (unix:// or docker: ssh)",
				s->node->file, s->node->line, s->node->col, s->name);
			bad = 1;
		}
		if (s->strategy != CD_STRATEGY_RECREATE) {
			cd_log_error("%s:%u:%u: service '%s': the %s strategy is not available yet; use recreate",
				s->node->file, s->node->line, s->node->col, s->name,
				cd_strategy_names[s->strategy]);
			bad = 1;
		}
	}
	return bad;
}

static int cmd_up_exec(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "no-rollback", no_argument, NULL, 'n' },
		{ "accept-new", no_argument, NULL, 'A' },
		{ "known-hosts", required_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int rollback = 1, c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': rollback = 0; break;
		case 'A': cd_ssh_set_accept_new(1); break;
		case 'K': cd_ssh_set_known_hosts(optarg); break;
		case 'h': cd_cmd_print_help(&cd_cmd_up_entry); return CD_EXIT_OK;
		default: return cd_cmd_usage_error(&cd_cmd_up_entry, "unknown option");
		}
	}
	if (optind != argc - 1)
		return cd_cmd_usage_error(&cd_cmd_up_entry, "expected one plan");

	struct cd_diags diags = CD_DIAGS_INIT;
	struct cd_plan *plan = NULL;
	int r = cd_plan_load(argv[optind], NULL, &diags, &plan);
	cd_log_diags(&diags);
	cd_diags_release(&diags);
	if (r < 0)
		return CD_EXIT_USAGE;
	if (preflight(plan)) {
		cd_plan_free(plan);
		return CD_EXIT_USAGE;
	}

	struct cd_run_opts opts = { .rollback = rollback, .progress = stderr,
		.tty = isatty(STDERR_FILENO) && cd_log_color() };
	struct cd_run *run = cd_run_new(plan, &opts);
	struct cd_error err = CD_ERROR_INIT;
	struct cd_lock *lock = NULL;
	/* One run of a plan at a time; a second one is refused at once. */
	if (cd_lock_acquire(plan, run->run_id, &lock, &err) < 0) {
		cd_log_cd_error(&err);
		int code = err.code == CD_ELOCKED ? CD_EXIT_LOCKED : CD_EXIT_PRECHECK;
		cd_error_release(&err);
		cd_run_free(run);
		cd_plan_free(plan);
		return code;
	}
	char *base = cd_engine_state_dir(plan);
	char *state = cd_xasprintf("%s/runs/%s", base, run->run_id);
	char *timing = cd_xasprintf("%s/timing.log", state);
	free(base);
	if (cd_engine_mkdirs(state, 0700, &err) == 0)
		run->opts.timing_log = timing;
	else
		cd_log_warn("%s: no timing log for this run", err.msg);
	cd_error_release(&err);

	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	/* Every SSH host is connected and its key checked before the first step changes anything. */
	if (cd_ssh_run_connect_all(run, &err) < 0) {
		cd_log_cd_error(&err);
		cd_error_release(&err);
		cd_run_free(run);
		cd_lock_release(lock);
		free(timing);
		free(state);
		cd_plan_free(plan);
		return CD_EXIT_PRECHECK;
	}

	enum cd_run_outcome outcome = cd_run_execute(run);
	int code;
	switch (outcome) {
	case CD_RUN_OK: code = CD_EXIT_OK; break;
	case CD_RUN_PRECHECK_FAILED: code = CD_EXIT_PRECHECK; break;
	case CD_RUN_ROLLBACK_FAILED: code = CD_EXIT_ROLLBACK_FAILED; break;
	default: code = CD_EXIT_ROLLED_BACK; break;
	}
	if (cd_run_interrupted() && code != CD_EXIT_ROLLBACK_FAILED)
		code = cd_run_interrupted() == SIGTERM ? CD_EXIT_SIGTERM : CD_EXIT_SIGINT;
	if (run->opts.timing_log)
		cd_log_info("timing log: %s", run->opts.timing_log);
	cd_run_free(run);
	cd_lock_release(lock);
	free(timing);
	free(state);
	cd_plan_free(plan);
	return code;
}

const struct cd_cmd_entry cd_cmd_up_entry = {
	.name = "up",
	.usage = "[--no-rollback] [--accept-new] [--known-hosts FILE] PLAN",
	.summary = "Deploy the plan, phase by phase, rolling back on failure.",
	.help = "options:\n"
		"  --no-rollback   leave things as they are when a step fails\n"
		"  --accept-new    record the key of an SSH host never seen before (unknown keys\n"
		"                  are refused otherwise; changed keys always are)\n"
		"  --known-hosts FILE  also trust the host keys in FILE, and record new ones there\n"
		"\nexit status: 0 deployed; 1 failed and rolled back; 2 invalid plan; 4 failed\n"
		"before changing anything; 5 rollback failed (manual steps printed); 130/143\n"
		"interrupted and rolled back\n",
	.exec = cmd_up_exec,
};
