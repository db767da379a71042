/*
 * trust: record the host keys of a plan's SSH hosts in known_hosts, after
 * showing their fingerprints. Only unknown keys are added: a host whose key
 * changed is refused here as everywhere else, and its old line must be
 * removed by hand once the change is understood.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "corpdeploy/log.h"
#include "corpdeploy/plan.h"
#include "corpdeploy/ssh.h"

static int trust_one(const struct cd_target *t)
{
	struct cd_error err = CD_ERROR_INIT;
	struct cd_ssh_dest d = { 0 };
	char *fp = NULL;
	int added = 0, code = CD_EXIT_OK;
	/* No passphrase is needed: trust never authenticates. */
	if (cd_ssh_dest_from_target(t, NULL, &d, &err) < 0 || cd_ssh_trust(&d, &fp, &added, &err) < 0) {
		cd_log_cd_error(&err);
		code = CD_EXIT_PRECHECK;
	} else {
		cd_out("%s: %s %s\n", t->name, fp, added ? "recorded" : "already known");
	}
	cd_ssh_dest_release(&d);
	free(fp);
	cd_error_release(&err);
	return code;
}

static int trust_target(const struct cd_plan *plan, const struct cd_target *t)
{
	if (t->kind == CD_TARGET_SSH)
		return trust_one(t);
	int code = CD_EXIT_OK;
	for (size_t i = 0; t->kind == CD_TARGET_GROUP && i < t->hosts.n; i++) {
		const struct cd_target *m = cd_plan_target(plan, t->hosts.v[i]);
		if (m && m->kind == CD_TARGET_SSH && trust_one(m) != CD_EXIT_OK)
			code = CD_EXIT_PRECHECK;
	}
	return code;
}

static int cmd_trust_exec(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "known-hosts", required_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'K': cd_ssh_set_known_hosts(optarg); break;
		case 'h': cd_cmd_print_help(&cd_cmd_trust_entry); return CD_EXIT_OK;
		default: return cd_cmd_usage_error(&cd_cmd_trust_entry, "unknown option");
		}
	}
	if (optind >= argc)
		return cd_cmd_usage_error(&cd_cmd_trust_entry, "expected a plan");

	struct cd_plan *plan = cd_cmd_load_plan(argv[optind], CD_PLAN_LOAD_OFFLINE);
	if (!plan)
		return CD_EXIT_USAGE;

	int code = CD_EXIT_OK, any = 0;
	if (optind + 1 < argc) {
		for (int i = optind + 1; i < argc; i++) {
			const struct cd_target *t = cd_plan_target(plan, argv[i]);
			if (!t || (t->kind != CD_TARGET_SSH && t->kind != CD_TARGET_GROUP)) {
				cd_log_error("%s: no SSH host or host group '%s' in the plan", plan->path,
					argv[i]);
				code = CD_EXIT_USAGE;
				continue;
			}
			if (trust_target(plan, t) != CD_EXIT_OK && code == CD_EXIT_OK)
				code = CD_EXIT_PRECHECK;
		}
	} else {
		for (size_t i = 0; i < plan->targets.n; i++) {
			const struct cd_target *t = CD_LIST_AT(&plan->targets, struct cd_target, i);
			if (t->kind != CD_TARGET_SSH)
				continue;
			any = 1;
			if (trust_one(t) != CD_EXIT_OK)
				code = CD_EXIT_PRECHECK;
		}
		if (!any)
			cd_log_warn("%s: the plan has no SSH hosts", plan->path);
	}
	cd_plan_free(plan);
	return code;
}

const struct cd_cmd_entry cd_cmd_trust_entry = {
	.name = "trust",
	.usage = "[--known-hosts FILE] PLAN [HOST...]",
	.summary = "Record the host keys of the plan's SSH hosts in known_hosts.",
	.help = "Connects to each host (every SSH host of the plan, or those named, groups\n"
		"expanded), prints its key's SHA256 fingerprint and records the key when it is not\n"
		"known yet. Nothing is authenticated or run. A host whose key changed is refused.\n"
		"options:\n"
		"  --known-hosts FILE  record in FILE instead of ~/.ssh/known_hosts\n"
		"\nexit status: 0 recorded or already known; 2 invalid plan or host; 4 a host could\n"
		"not be reached or its key changed\n",
	.exec = cmd_trust_exec,
};
