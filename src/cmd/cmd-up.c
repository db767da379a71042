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

/* The step kinds that can act on SSH hosts and host groups. */
static int ssh_step_kind(const char *kind)
{
	return strcmp(kind, "run") == 0 || strcmp(kind, "check") == 0 || strcmp(kind, "copy") == 0;
}

/* The step kinds that act on one SSH host, never a group: a backup's data lives on one. */
static int ssh_host_step_kind(const char *kind)
{
	return strcmp(kind, "backup") == 0;
}

/* What `up` cannot run yet is refused before anything starts. */
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
			   !(cd_ssh_is_remote(plan, s->target) && ssh_step_kind(s->kind->name)) &&
			   !(t->kind == CD_TARGET_SSH && ssh_host_step_kind(s->kind->name))) {
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
		{ "state-dir", required_argument, NULL, 's' },
		{ "accept-new", no_argument, NULL, 'A' },
		{ "known-hosts", required_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int rollback = 1, c;
	const char *state_dir = NULL;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': rollback = 0; break;
		case 's': state_dir = optarg; break;
		case 'A': cd_ssh_set_accept_new(1); break;
		case 'K': cd_ssh_set_known_hosts(optarg); break;
		case 'h': cd_cmd_print_help(&cd_cmd_up_entry); return CD_EXIT_OK;
		default: return cd_cmd_usage_error(&cd_cmd_up_entry, "unknown option");
		}
	}
	if (optind != argc - 1)
		return cd_cmd_usage_error(&cd_cmd_up_entry, "expected one plan");

	char run_id[64];
	struct cd_cmd_session s;
	cd_cmd_new_run_id(run_id);
	int code = cd_cmd_open_plan(argv[optind], state_dir, run_id, &s);
	if (code != CD_EXIT_OK)
		return code;
	if (preflight(s.plan))
		code = CD_EXIT_USAGE;
	else if ((code = cd_cmd_refuse_unfinished(&s)) == CD_EXIT_OK)
		code = cd_cmd_execute(&s, run_id, rollback, NULL);
	cd_cmd_close_plan(&s);
	return code;
}

const struct cd_cmd_entry cd_cmd_up_entry = {
	.name = "up",
	.usage = "[--no-rollback] [--accept-new] [--known-hosts FILE] [--state-dir DIR] PLAN",
	.summary = "Deploy the plan, phase by phase, rolling back on failure.",
	.help = "options:\n"
		"  --no-rollback   leave things as they are when a step fails (the run stays\n"
		"                  unfinished: `rollback` or `resume` takes it on)\n"
		"  --accept-new    record the key of an SSH host never seen before (unknown keys\n"
		"                  are refused otherwise; changed keys always are)\n"
		"  --known-hosts FILE  also trust the host keys in FILE, and record new ones there\n"
		CD_CMD_STATE_DIR_HELP
		"\nexit status: 0 deployed; 1 failed and rolled back; 2 invalid plan; 3 locked by\n"
		"another run, or a run is unfinished; 4 failed before changing anything;\n"
		"5 rollback failed (manual steps printed); 130/143 interrupted and rolled back\n",
	.exec = cmd_up_exec,
};
