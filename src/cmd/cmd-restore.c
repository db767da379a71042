/*
 * restore: puts back what a run's backups hold. Every archive of the run
 * (or of the one step asked for) is verified first; when any of them fails
 * verification nothing at all is restored. Then files are put back
 * atomically and dumps are fed to their backup step's restore command.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cmd.h"
#include "corpdeploy/backup.h"
#include "corpdeploy/engine.h"
#include "corpdeploy/log.h"
#include "corpdeploy/plan.h"
#include "corpdeploy/steps.h"

#define RESTORE_TIMEOUT_MS (6 * 3600 * 1000)

struct chosen {
	const struct cd_step *step;
	char *archive;
};

static int restore_one(struct cd_run *run, const struct chosen *c, struct cd_error *err)
{
	const struct cd_step_backup *b = c->step->args;
	size_t n = 0;
	int r = cd_backup_put_back(run, c->step, c->archive, RESTORE_TIMEOUT_MS, &n, err);
	if (r == 0 && b->type == CD_BACKUP_FILES)
		cd_out("%s: %zu files put back\n", c->step->name, n);
	else if (r == 0)
		cd_out("%s: database restored\n", c->step->name);
	return r;
}

static int cmd_restore_exec(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "run", required_argument, NULL, 'r' },
		{ "step", required_argument, NULL, 's' },
		{ "verify-only", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	const char *run_id = NULL, *only = NULL;
	int verify_only = 0, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'h': cd_cmd_print_help(&cd_cmd_restore_entry); return CD_EXIT_OK;
		case 'r': run_id = optarg; break;
		case 's': only = optarg; break;
		case 'v': verify_only = 1; break;
		default: return cd_cmd_usage_error(&cd_cmd_restore_entry, "unknown option");
		}
	}
	if (optind != argc - 1)
		return cd_cmd_usage_error(&cd_cmd_restore_entry, "expected one PLAN");
	if (!run_id || !*run_id || strchr(run_id, '/') || run_id[0] == '.')
		return cd_cmd_usage_error(&cd_cmd_restore_entry, "--run RUN-ID is required");

	struct cd_plan *plan = cd_cmd_load_plan(argv[optind], 0);
	if (!plan)
		return CD_EXIT_USAGE;

	struct chosen *ch = cd_xcalloc(cd_plan_step_count(plan) + 1, sizeof(*ch));
	size_t n = 0;
	for (size_t p = 0; p < plan->phases.n; p++) {
		const struct cd_phase *ph = plan->phases.items[p];
		for (size_t s = 0; s < ph->steps.n; s++) {
			const struct cd_step *st = ph->steps.items[s];
			if (strcmp(st->kind->name, "backup") != 0 || (only && strcmp(only, st->name) != 0))
				continue;
			char *path = cd_backup_archive_path(plan, run_id, st->name);
			if (access(path, F_OK) != 0 && !only) {
				free(path);
				continue;
			}
			ch[n].step = st;
			ch[n++].archive = path;
		}
	}
	int code = CD_EXIT_OK;
	struct cd_error err = CD_ERROR_INIT;
	struct cd_lock *lock = NULL;
	if (!n) {
		cd_log_error("run %s has no backup%s%s of plan '%s'", run_id, only ? " of step " : "",
			only ? only : "", plan->name);
		code = CD_EXIT_USAGE;
		goto done;
	}
	/* A restore changes what a deployment would: one at a time with runs. */
	if (!verify_only && cd_lock_acquire(plan, "restore", &lock, &err) < 0) {
		cd_log_cd_error(&err);
		code = err.code == CD_ELOCKED ? CD_EXIT_LOCKED : CD_EXIT_PRECHECK;
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		cJSON *m = NULL;
		if (cd_backup_verify(ch[i].archive, &m, &err) < 0) {
			cd_log_error("%s: %s; nothing was restored", ch[i].step->name, err.msg);
			code = CD_EXIT_PRECHECK;
			goto done;
		}
		cd_out("%s: verified %d entries of release %s\n", ch[i].step->name,
			cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(m, "entries")),
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "release")));
		cJSON_Delete(m);
	}
	/* A run of its own for the engines and SSH sessions the restores reach. */
	struct cd_run *run = verify_only ? NULL : cd_run_new(plan, NULL);
	for (size_t i = 0; !verify_only && i < n; i++) {
		cd_error_release(&err);
		if (restore_one(run, &ch[i], &err) < 0) {
			cd_log_error("%s: %s", ch[i].step->name, err.msg);
			code = CD_EXIT_ROLLED_BACK;
			break;
		}
	}
	if (run)
		cd_run_free(run);
done:
	cd_error_release(&err);
	if (lock)
		cd_lock_release(lock);
	for (size_t i = 0; i < n; i++)
		free(ch[i].archive);
	free(ch);
	cd_plan_free(plan);
	return code;
}

const struct cd_cmd_entry cd_cmd_restore_entry = {
	.name = "restore",
	.usage = "PLAN --run RUN-ID [--step NAME] [--verify-only]",
	.summary = "Verify a run's backups, then put them back.",
	.help = "options:\n"
		"  --run RUN-ID    the run whose backups to restore (see 'corpdeploy backups')\n"
		"  --step NAME     only this backup step's archive\n"
		"  --verify-only   check every checksum and stop\n"
		"\nEvery archive is verified before anything is touched. Files are staged beside\n"
		"their place and renamed over it; dumps go to the backup step's restore command.\n"
		"\nexit status: 0 restored (or verified); 1 a restore failed; 2 usage, invalid\n"
		"plan or no such backup; 3 another run holds the lock; 4 verification failed,\n"
		"nothing was touched\n",
	.exec = cmd_restore_exec,
};
