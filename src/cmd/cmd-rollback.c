/*
 * rollback: first finishes the undo of an unfinished run from its journal;
 * then, unless that was all there was to do, returns the services to the
 * previous successful release (or --to RELEASE), creating their containers
 * again from the specifications the release history kept. The switch is
 * itself a journaled run: if a container of the target release cannot be
 * made healthy, the release that ran before the rollback is put back.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../steps/deploy-internal.h"
#include "cmd.h"
#include "corpdeploy/docker.h"
#include "corpdeploy/engine.h"
#include "corpdeploy/history.h"
#include "corpdeploy/journal.h"
#include "corpdeploy/log.h"
#include "corpdeploy/plan.h"
#include "corpdeploy/steps.h"

/* Takes back what the unfinished run changed. Returns an exit code. */
static int finish_unfinished(struct cd_cmd_session *s, const char *run_id)
{
	char *dir = cd_cmd_run_dir(s, run_id);
	char *path = cd_xasprintf("%s/journal", dir);
	struct cd_journal_state st;
	struct cd_error err = CD_ERROR_INIT;
	int code;
	if (cd_journal_read(path, &st, &err) < 0) {
		cd_log_cd_error(&err);
		cd_error_release(&err);
		free(path);
		free(dir);
		return CD_EXIT_ROLLBACK_FAILED;
	}
	if (st.torn_bytes)
		cd_log_warn("journal of run %s: its last record was cut short by the crash (%zu bytes "
			    "ignored)", run_id, st.torn_bytes);
	size_t pending = 0;
	for (size_t i = 0; i < st.n_undo; i++)
		pending += !st.undone[i];
	cd_log_info("run %s is unfinished: undoing %zu change%s from its journal", run_id, pending,
		pending == 1 ? "" : "s");
	struct cd_run_opts opts = { .run_id = run_id, .journal = path, .progress = stderr };
	struct cd_run *run = cd_run_new(s->plan, &opts);
	cd_cmd_catch_signals();
	if (cd_run_rollback(run, &st, &err) == 0) {
		cd_history_clear_unfinished(s->state);
		cd_cmd_mark_rolled_back(s, run_id);
		cd_log_info("run %s rolled back: what ran before it runs again", run_id);
		code = CD_EXIT_OK;
	} else {
		cd_log_cd_error(&err);
		cd_cmd_report_manual_steps(run, dir);
		code = CD_EXIT_ROLLBACK_FAILED;
	}
	cd_error_release(&err);
	cd_run_free(run);
	cd_journal_state_release(&st);
	free(path);
	free(dir);
	return code;
}

/* The step the switch's changes are journaled under (its undo is the deploy kind's). */
static struct cd_step rollback_step = { .name = "rollback" };

static int switch_services(struct cd_run *run, const cJSON *entry, struct cd_error *err)
{
	const struct cd_plan *plan = run->plan;
	const cJSON *svc;
	int r = 0;
	/* The history keeps secrets as references; the containers get their values. */
	cJSON *live = cJSON_Duplicate(entry, 1);
	cd_run_secrets_restore(run, live);
	cJSON_ArrayForEach(svc, cJSON_GetObjectItemCaseSensitive(live, "services")) {
		const struct cd_service *ps = cd_plan_service(plan, svc->string);
		if (!ps) {
			cd_log_warn("service '%s' of the release is not in the plan any more: left alone",
				svc->string);
			continue;
		}
		const char *target = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(svc, "target"));
		struct cd_docker *d;
		if ((r = cd_run_docker(run, target ? target : ps->target, &d, err)) < 0)
			break;
		struct cd_step_ctx ctx = { .run = run, .step = &rollback_step,
			.deadline_ms = cd_time_mono_ms() + 600000, .attempt = 1 };
		cd_buf_init(&ctx.message, 256);
		char *name = cd_engine_container_name(plan, svc->string);
		struct cd_deploy_want want = { .svc = ps, .name = name,
			.spec = cJSON_GetObjectItemCaseSensitive(svc, "spec"),
			.fingerprint = cJSON_GetStringValue(
				cJSON_GetObjectItemCaseSensitive(svc, "fingerprint")),
			.image_id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(svc, "image_id")),
			.image_ref = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(svc, "image_ref")),
			.release = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(entry, "release")) };
		if (!want.spec || !want.fingerprint || !want.image_id || !want.image_ref)
			r = cd_error_set(err, CD_EFAIL, "the history of service '%s' is incomplete",
				svc->string);
		else
			r = cd_deploy_replace(&ctx, d, ps, &want, err);
		if (r == 0)
			cd_log_info("  %s: %s", svc->string, ctx.message.buf ? ctx.message.buf : "done");
		cJSON_Delete(ctx.details);
		cd_buf_release(&ctx.message);
		free(name);
		if (r < 0)
			break;
	}
	cJSON_Delete(live);
	return r;
}

/* Makes the services what release entry says. Returns an exit code. */
static int to_release(struct cd_cmd_session *s, cJSON *releases, const cJSON *entry,
	const char *run_id)
{
	const char *release = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(entry, "release"));
	char *dir = cd_cmd_run_dir(s, run_id);
	char *journal = cd_xasprintf("%s/journal", dir);
	struct cd_error err = CD_ERROR_INIT;
	int code;
	rollback_step.kind = cd_step_kind_find("deploy");
	if (cd_engine_mkdirs(dir, 0700, &err) < 0 ||
		cd_history_set_unfinished(s->state, run_id, &err) < 0) {
		cd_log_cd_error(&err);
		cd_error_release(&err);
		free(journal);
		free(dir);
		return CD_EXIT_PRECHECK;
	}
	cd_log_info("rolling %s back to release %s (deployed %s)", s->plan->name, release,
		cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(entry, "deployed_at")));
	struct cd_run_opts opts = { .run_id = run_id, .journal = journal, .progress = stderr };
	struct cd_run *run = cd_run_new(s->plan, &opts);
	cd_cmd_catch_signals();
	cd_run_begin(run);
	int r = switch_services(run, entry, &err);
	if (r == 0) {
		cd_run_commit(run);
		/* The release runs again: it becomes the newest of the history. */
		for (int i = cJSON_GetArraySize(releases) - 1; i >= 0; i--)
			if (cJSON_GetArrayItem(releases, i) == entry) {
				cJSON *moved = cJSON_DetachItemFromArray(releases, i);
				cJSON_ReplaceItemInObjectCaseSensitive(moved, "run_id",
					cJSON_CreateString(run_id));
				cJSON_AddItemToArray(releases, moved);
				break;
			}
		if (cd_history_save(s->state, releases, &err) < 0) {
			cd_log_warn("the release history was not updated: %s", err.msg);
			cd_error_release(&err);
		}
		cd_run_end(run, CD_RUN_OK);
		cd_history_clear_unfinished(s->state);
		cd_cmd_mark_rolled_back(s, run_id);
		cd_log_info("release %s runs again (in %lld ms)", release,
			(long long)(cd_time_mono_ms() - run->t0_ms));
		code = CD_EXIT_OK;
	} else {
		cd_log_error("cannot return to release %s: %s", release, err.msg);
		cd_error_release(&err);
		int undone = cd_run_undo_all(run, "the rollback to an earlier release failed") == 0;
		cd_run_end(run, undone ? CD_RUN_FAILED_ROLLED_BACK : CD_RUN_ROLLBACK_FAILED);
		if (undone) {
			cd_history_clear_unfinished(s->state);
			cd_log_error("the release that ran before the rollback was put back");
			cd_log_error("by hand: make the images of release %s available again (rebuild "
				     "or pull them), then run `corpdeploy rollback --to %s %s`",
				release, release, s->plan->path);
		} else {
			cd_cmd_report_manual_steps(run, dir);
		}
		code = CD_EXIT_ROLLBACK_FAILED;
	}
	cd_run_free(run);
	free(journal);
	free(dir);
	return code;
}

static int cmd_rollback_exec(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *state_dir = NULL, *to = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 't': to = optarg; break;
		case 's': state_dir = optarg; break;
		case 'h': cd_cmd_print_help(&cd_cmd_rollback_entry); return CD_EXIT_OK;
		default: return cd_cmd_usage_error(&cd_cmd_rollback_entry, "unknown option");
		}
	}
	if (optind != argc - 1)
		return cd_cmd_usage_error(&cd_cmd_rollback_entry, "expected one plan");

	char run_id[64];
	struct cd_cmd_session s;
	cd_cmd_new_run_id(run_id);
	int code = cd_cmd_open_plan(argv[optind], state_dir, run_id, &s);
	if (code != CD_EXIT_OK)
		return code;
	char *unfinished = cd_history_unfinished(s.state);
	if (unfinished) {
		code = finish_unfinished(&s, unfinished);
		free(unfinished);
		/* Undoing the interrupted run returned to what ran before it: done, unless asked for more. */
		if (code != CD_EXIT_OK || !to) {
			cd_cmd_close_plan(&s);
			return code;
		}
	}

	cJSON *releases = NULL;
	struct cd_error err = CD_ERROR_INIT;
	if (cd_history_load(s.state, &releases, &err) < 0) {
		cd_log_cd_error(&err);
		cd_error_release(&err);
		cd_cmd_close_plan(&s);
		return CD_EXIT_PRECHECK;
	}
	int n = cJSON_GetArraySize(releases);
	const cJSON *entry = NULL;
	char *done_by = NULL;
	if (to) {
		entry = cd_history_find(releases, to);
		if (!entry) {
			struct cd_buf kept = CD_BUF_INIT;
			const cJSON *e;
			cJSON_ArrayForEach(e, releases)
				cd_buf_addf(&kept, "%s%s", kept.len ? ", " : "",
					cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "release")));
			cd_log_error("release '%s' is not kept for plan '%s' (kept: %s)", to, s.plan->name,
				kept.len ? kept.buf : "none");
			cd_buf_release(&kept);
			code = CD_EXIT_PRECHECK;
		}
	} else if ((done_by = cd_cmd_rolled_back(&s))) {
		const cJSON *cur = n ? cJSON_GetArrayItem(releases, n - 1) : NULL;
		cd_log_info("the last deploy of plan '%s' was rolled back already (run %s)%s%s: nothing "
			    "to do; `rollback --to RELEASE` goes further back",
			s.plan->name, done_by, cur ? "; release running: " : "",
			cur ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cur, "release")) : "");
		free(done_by);
		code = CD_EXIT_OK;
	} else if (n < 2) {
		cd_log_error("plan '%s' has no earlier release kept to roll back to", s.plan->name);
		code = CD_EXIT_PRECHECK;
	} else {
		entry = cJSON_GetArrayItem(releases, n - 2);
	}
	if (entry)
		code = to_release(&s, releases, entry, run_id);
	cJSON_Delete(releases);
	cd_cmd_close_plan(&s);
	return code;
}

const struct cd_cmd_entry cd_cmd_rollback_entry = {
	.name = "rollback",
	.usage = "[--to RELEASE] [--state-dir DIR] PLAN",
	.summary = "Undo an unfinished run, or return to the previous (or a kept) release.",
	.help = "options:\n"
		"  --to RELEASE    return to this kept release (see `corpdeploy history`)\n"
		CD_CMD_STATE_DIR_HELP
		"\nWith an unfinished run (a crash, kill -9, --no-rollback, a failed rollback),\n"
		"its changes are undone from its journal first; that alone is the rollback\n"
		"unless --to is given. Running rollback twice is harmless.\n"
		"\nexit status: 0 done; 2 invalid plan; 3 locked by another run; 4 nothing to\n"
		"roll back to; 5 rollback failed (manual steps printed)\n",
	.exec = cmd_rollback_exec,
};
