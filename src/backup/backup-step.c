/*
 * The backup and restore step kinds' work. A backup writes one archive per
 * step into its run's directory: files archived from where they are, or a
 * database dump streamed from the dump command's stdout into the archive as
 * it comes. It changes nothing it would have to undo; retention removes the
 * step's oldest archives past `keep` once the new one is safely written.
 * A restore step verifies this run's archive of the backup it names, then
 * puts the files back or feeds the dump to the backup's restore command.
 *
 * Where: the machine corpdeploy runs on, the service's container or the
 * step's SSH target (backup-place.c chooses).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "corpdeploy/backup.h"
#include "corpdeploy/docker.h"
#include "corpdeploy/engine.h"
#include "corpdeploy/log.h"
#include "corpdeploy/steps.h"
#include "backup-internal.h"

char **backup_env_strv(const struct cd_step_backup *b)
{
	char **env = cd_xcalloc(b->env.n + 1, sizeof(char *));
	for (size_t i = 0; i < b->env.n; i++)
		env[i] = cd_xasprintf("%s=%s", b->env.items[i].key, b->env.items[i].value);
	return env;
}

void backup_strv_free(char **v)
{
	for (char **e = v; e && *e; e++)
		free(*e);
	free(v);
}

const char **backup_cmd_argv(const struct cd_cmd *c)
{
	const char **argv = cd_xcalloc(c->shell ? 4 : c->argv.n + 1, sizeof(char *));
	if (c->shell) {
		argv[0] = "/bin/sh", argv[1] = "-c", argv[2] = c->argv.v[0];
		return argv;
	}
	for (size_t i = 0; i < c->argv.n; i++)
		argv[i] = c->argv.v[i];
	return argv;
}

int backup_command_failed(const char *what, const char *argv0, int status, const struct cd_buf *eout,
	struct cd_error *err)
{
	size_t tl = eout->len;
	return cd_error_set(err, CD_EREMOTE, "%s command '%s' exited with %d%s%.*s", what, argv0,
		status, tl ? ": " : "", BACKUP_STDERR_TAIL,
		tl > BACKUP_STDERR_TAIL ? eout->buf + tl - BACKUP_STDERR_TAIL : eout->buf);
}

static int backup_database(struct cd_step_ctx *ctx, struct cd_backup_writer *w,
	struct cd_error *err)
{
	const struct cd_step_backup *b = ctx->step->args;
	char *stream = cd_xasprintf("%s.dump", ctx->step->name);
	int r = cd_backup_stream_begin(w, stream, err);
	if (r < 0) {
		free(stream);
		return r;
	}
	const char **argv = backup_cmd_argv(&b->dump);
	char **env = backup_env_strv(b);
	struct cd_buf eout = CD_BUF_INIT;
	int status = -1;
	r = backup_place_of(ctx->run, ctx->step)->dump(ctx->run, ctx->step, argv,
		(const char *const *)env, cd_run_left(ctx->deadline_ms), w, &eout, &status, err);
	if (eout.len)
		cd_log_debug("step '%s': the dump command's stderr ends with: %.*s", ctx->step->name,
			BACKUP_STDERR_TAIL, eout.len > BACKUP_STDERR_TAIL ?
			eout.buf + eout.len - BACKUP_STDERR_TAIL : eout.buf);
	if (r == 0 && status != 0)
		r = backup_command_failed("dump", argv[0], status, &eout, err);
	cd_buf_release(&eout);
	if (r == 0)
		r = cd_backup_stream_end(w, err);
	if (r == 0) {
		cJSON *db = cJSON_CreateObject();
		cJSON_AddStringToObject(db, "step", ctx->step->name);
		cJSON_AddStringToObject(db, "stream", stream);
		cJSON *restore = cJSON_AddArrayToObject(db, "restore");
		const char **rargv = backup_cmd_argv(&b->restore);
		for (const char **a = rargv; *a; a++)
			cJSON_AddItemToArray(restore, cJSON_CreateString(*a));
		free(rargv);
		cd_backup_manifest_set(w, "database", db);
	}
	free(argv);
	backup_strv_free(env);
	free(stream);
	return r;
}

int cd_backup_step_apply(struct cd_step_ctx *ctx, struct cd_error *err)
{
	const struct cd_step_backup *b = ctx->step->args;
	struct cd_run *run = ctx->run;
	const struct backup_place *place = backup_place_of(run, ctx->step);
	int r = 0;
	/*
	 * A first deployment backs up before the service's container was ever
	 * made: there is nothing to keep then, and no reason to stop.
	 */
	if (place == &backup_place_container &&
		(r = backup_container_exists(run, ctx->step, err)) <= 0) {
		if (r < 0)
			return r;
		cd_buf_addf(&ctx->message, "nothing to back up: service '%s' has no container yet",
			b->service);
		cd_run_note(run, "step '%s': service '%s' has no container yet (a first deployment): "
			"%s", ctx->step->name, b->service,
			b->type == CD_BACKUP_DATABASE ? "no dump taken" : "no files taken");
		return 0;
	}
	if (b->upload == 1 && !run->plan->backup_storage)
		return cd_error_set(err, CD_EUSAGE,
			"step '%s': 'upload: true' needs the plan's backup_storage", ctx->step->name);
	char *dir = cd_backup_run_dir(run->plan, run->run_id);
	char *path = cd_backup_archive_path(run->plan, run->run_id, ctx->step->name);
	struct cd_backup_writer *w = NULL;
	struct cd_backup_summary sum;
	uint64_t dump_bytes = 0;
	if ((r = cd_engine_mkdirs(dir, 0700, err)) == 0)
		r = cd_backup_writer_open(path, run->plan->release, run->run_id, &w, err);
	if (r == 0) {
		cd_backup_manifest_set(w, "plan", cJSON_CreateString(run->plan->name));
		cd_backup_manifest_set(w, "step", cJSON_CreateString(ctx->step->name));
		cd_backup_manifest_set(w, "kind",
			cJSON_CreateString(b->type == CD_BACKUP_FILES ? "files" : "database"));
	}
	for (size_t i = 0; r == 0 && b->type == CD_BACKUP_FILES && i < b->paths.n; i++) {
		const char *p = b->paths.v[i];
		if (p[0] != '/' && place != &backup_place_here) {
			r = cd_error_set(err, CD_EUSAGE,
				"step '%s': path '%s' must be absolute: it is not on this machine",
				ctx->step->name, p);
			break;
		}
		/* Relative paths on this machine are the plan's. */
		char *abs = p[0] == '/' ? cd_xstrdup(p) : cd_xasprintf("%s/%s", run->plan->dir, p);
		if (abs[0] != '/') {
			char *cwd = realpath(".", NULL);
			char *full = cd_xasprintf("%s/%s", cwd ? cwd : "", abs);
			free(cwd);
			free(abs);
			abs = full;
		}
		r = place->add_path(run, ctx->step, abs, w, err);
		free(abs);
	}
	if (r == 0 && b->type == CD_BACKUP_DATABASE)
		r = backup_database(ctx, w, err);
	if (r < 0) {
		cd_backup_writer_abort(w);
		goto done;
	}
	if ((r = cd_backup_writer_close(w, &sum, err)) < 0)
		goto done;
	dump_bytes = sum.stream_bytes;

	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "archive", path);
	cJSON_AddNumberToObject(d, "bytes", (double)sum.bytes);
	cJSON_AddStringToObject(d, "sha256", sum.sha256);
	cJSON_AddNumberToObject(d, "entries", (double)sum.entries);
	if (b->type == CD_BACKUP_DATABASE) {
		cJSON *db = cJSON_AddObjectToObject(d, "database");
		const char *where = b->service ? b->service : ctx->step->target ? ctx->step->target : "local";
		cJSON_AddStringToObject(db, "service", where);
		cJSON_AddNumberToObject(db, "bytes", (double)dump_bytes);
		struct cd_buf rc = CD_BUF_INIT;
		cd_step_describe_cmd(&b->restore, &rc);
		cJSON_AddStringToObject(db, "restore_command", rc.buf);
		cd_buf_release(&rc);
	} else {
		cJSON_AddNullToObject(d, "database");
	}
	ctx->details = d;

	char size[32];
	cd_buf_addf(&ctx->message, "%s, %zu entries, sha256 %.12s", cd_size_format(sum.bytes, size,
		sizeof(size)), sum.entries, sum.sha256);
	if (b->upload == 1) {
		cJSON *up = NULL;
		if ((r = backup_s3_upload_step(run, path, sum.sha256, sum.bytes, b->keep,
			     &up, err)) < 0)
			goto done;
		cJSON_AddItemToObject(d, "upload", up);
		cd_buf_adds(&ctx->message, ", uploaded and verified");
	} else {
		cJSON_AddNullToObject(d, "upload");
	}
	size_t removed = 0;
	struct cd_error perr = CD_ERROR_INIT;
	if (cd_backup_prune(run->plan, ctx->step->name, b->keep, &removed, &perr) < 0)
		cd_log_warn("%s", perr.msg);
	cd_error_release(&perr);
	if (removed)
		cd_buf_addf(&ctx->message, ", %zu old removed", removed);
done:
	free(dir);
	free(path);
	return r;
}

int cd_backup_restore_step_apply(struct cd_step_ctx *ctx, struct cd_error *err)
{
	const struct cd_step_restore *rs = ctx->step->args;
	struct cd_run *run = ctx->run;
	const struct cd_step *bstep = cd_plan_step(run->plan, rs->backup);
	const struct cd_step_backup *b = bstep->args;
	char *path = cd_backup_archive_path(run->plan, run->run_id, bstep->name);
	struct stat st;
	int r;
	if (stat(path, &st) < 0) {
		r = cd_error_set(err, CD_ENOTFOUND,
			"step '%s' took no backup in this run (no %s): it must come before this step",
			bstep->name, path);
		free(path);
		return r;
	}
	/* Restoring changes things: a failure after it still needs a rollback decision. */
	cd_run_mark_changed(run);
	size_t n = 0;
	r = cd_backup_put_back(run, bstep, path, cd_run_left(ctx->deadline_ms), &n, err);
	if (r == 0 && b->type == CD_BACKUP_FILES)
		cd_buf_addf(&ctx->message, "%zu files put back from %s", n, bstep->name);
	else if (r == 0)
		cd_buf_addf(&ctx->message, "database restored from %s", bstep->name);
	if (r == 0) {
		cJSON *d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "archive", path);
		cJSON_AddStringToObject(d, "backup", bstep->name);
		ctx->details = d;
	}
	free(path);
	return r;
}
