/*
 * Where a backup step's data lives. A step with `service:` reaches into
 * that service's container, one with an SSH `target:` into that host, and
 * any other works on this machine. What follows the choice is the same
 * everywhere: a dump streams into the archive, a restore verifies first and
 * streams the dump into the restore command or stages files beside their
 * place and renames them over it.
 */
#include <stdlib.h>
#include <string.h>

#include "corpdeploy/engine.h"
#include "corpdeploy/plan.h"
#include "corpdeploy/steps.h"
#include "backup-internal.h"

/* ---- this machine ---- */

static int dump_sink(void *opaque, const void *data, size_t len, struct cd_error *err)
{
	return cd_backup_stream_write(opaque, data, len, err);
}

static int here_dump(struct cd_run *run, const struct cd_step *step, const char *const *argv,
	const char *const *env, int64_t timeout_ms, struct cd_backup_writer *w, struct cd_buf *eout,
	int *ret_status, struct cd_error *err)
{
	(void)run, (void)step;
	return cd_backup_proc_stream(argv, env, NULL, NULL, dump_sink, w, timeout_ms, eout,
		ret_status, err);
}

static int here_restore_dump(struct cd_run *run, const struct cd_step *step,
	const char *const *argv, const char *const *env, int64_t timeout_ms,
	struct cd_backup_stream_reader *rd, struct cd_buf *eout, int *ret_status,
	struct cd_error *err)
{
	(void)run, (void)step;
	return cd_backup_proc_stream(argv, env, cd_backup_stream_read, rd, NULL, NULL, timeout_ms,
		eout, ret_status, err);
}

static int here_add_path(struct cd_run *run, const struct cd_step *step, const char *path,
	struct cd_backup_writer *w, struct cd_error *err)
{
	(void)run, (void)step;
	return cd_backup_add_path(w, path, err);
}

static int here_restore_files(struct cd_run *run, const struct cd_step *step, const char *archive,
	size_t *ret_count, struct cd_error *err)
{
	(void)run, (void)step;
	return cd_backup_restore_files(archive, ret_count, err);
}

const struct backup_place backup_place_here = {
	.name = "here",
	.dump = here_dump,
	.restore_dump = here_restore_dump,
	.add_path = here_add_path,
	.restore_files = here_restore_files,
};

const struct backup_place *backup_place_of(const struct cd_run *run, const struct cd_step *step)
{
	const struct cd_step_backup *b = step->args;
	if (b->service)
		return &backup_place_container;
	const struct cd_target *t = step->target ? cd_plan_target(run->plan, step->target) : NULL;
	/* A group too: the SSH place refuses it ("not an SSH host") rather than work here. */
	if (t && (t->kind == CD_TARGET_SSH || t->kind == CD_TARGET_GROUP))
		return &backup_place_ssh;
	return &backup_place_here;
}

/* ---- putting back, wherever ---- */

static int put_back_dump(struct cd_run *run, const struct cd_step *step, const char *archive,
	int64_t timeout_ms, struct cd_error *err)
{
	const struct cd_step_backup *b = step->args;
	char *stream = cd_xasprintf("%s.dump", step->name);
	struct cd_backup_stream_reader *rd = NULL;
	int r = cd_backup_stream_open(archive, stream, &rd, err);
	free(stream);
	if (r < 0)
		return r;
	const char **argv = backup_cmd_argv(&b->restore);
	char **env = backup_env_strv(b);
	struct cd_buf eout = CD_BUF_INIT;
	int status = -1;
	r = backup_place_of(run, step)->restore_dump(run, step, argv, (const char *const *)env,
		timeout_ms, rd, &eout, &status, err);
	if (r == 0 && status != 0)
		r = backup_command_failed("restore", argv[0], status, &eout, err);
	cd_buf_release(&eout);
	cd_backup_stream_close(rd);
	free(argv);
	backup_strv_free(env);
	return r;
}

int cd_backup_put_back(struct cd_run *run, const struct cd_step *step, const char *archive,
	int64_t timeout_ms, size_t *ret_files, struct cd_error *err)
{
	const struct cd_step_backup *b = step->args;
	if (b->type != CD_BACKUP_FILES)
		return put_back_dump(run, step, archive, timeout_ms, err);
	size_t n = 0;
	int r = backup_place_of(run, step)->restore_files(run, step, archive, &n, err);
	if (r == 0 && ret_files)
		*ret_files = n;
	return r;
}
