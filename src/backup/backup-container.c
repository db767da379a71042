/*
 * Backups inside a service's container, through its engine: a dump runs
 * by exec with its output streamed out of the engine's framed stream, and
 * a restore by exec with its stdin streamed in from the archive; files go
 * through the engine's archive endpoint (backup-container-files.c, and
 * backup-container-restore-files.c to put them back).
 */
#include <stdlib.h>

#include "corpdeploy/docker.h"
#include "corpdeploy/engine.h"
#include "corpdeploy/plan.h"
#include "corpdeploy/steps.h"
#include "backup-container-files.h"

static int dump_sink(void *opaque, const void *data, size_t len, struct cd_error *err)
{
	return cd_backup_stream_write(opaque, data, len, err);
}

int backup_service_container(struct cd_run *run, const struct cd_step *step, struct cd_docker **ret,
	char **ret_name, struct cd_error *err)
{
	const struct cd_step_backup *b = step->args;
	const struct cd_service *svc = cd_plan_service(run->plan, b->service);
	int r = cd_run_docker(run, svc ? svc->target : "local", ret, err);
	if (r == 0)
		*ret_name = cd_engine_container_name(run->plan, b->service);
	return r;
}

int backup_container_exists(struct cd_run *run, const struct cd_step *step, struct cd_error *err)
{
	struct cd_docker *d = NULL;
	char *container = NULL;
	int r = backup_service_container(run, step, &d, &container, err);
	if (r < 0)
		return r;
	struct cd_docker_container c;
	struct cd_error ierr = CD_ERROR_INIT;
	r = cd_docker_container_inspect(d, container, &c, &ierr);
	if (r == 0) {
		cd_docker_container_release(&c);
		r = 1;
	} else if (ierr.code == CD_ENOTFOUND) {
		r = 0;
	} else {
		r = cd_error_set(err, ierr.code, "%s", ierr.msg);
	}
	cd_error_release(&ierr);
	free(container);
	return r;
}

static int container_dump(struct cd_run *run, const struct cd_step *step, const char *const *argv,
	const char *const *env, int64_t timeout_ms, struct cd_backup_writer *w, struct cd_buf *eout,
	int *ret_status, struct cd_error *err)
{
	struct cd_docker *d = NULL;
	char *container = NULL;
	int r = backup_service_container(run, step, &d, &container, err);
	if (r < 0)
		return r;
	r = cd_docker_exec_stream(d, container, argv, env, timeout_ms, dump_sink, w, 0, eout,
		ret_status, err);
	free(container);
	return r;
}

static int container_restore_dump(struct cd_run *run, const struct cd_step *step,
	const char *const *argv, const char *const *env, int64_t timeout_ms,
	struct cd_backup_stream_reader *rd, struct cd_buf *eout, int *ret_status,
	struct cd_error *err)
{
	struct cd_docker *d = NULL;
	char *container = NULL;
	int r = backup_service_container(run, step, &d, &container, err);
	if (r < 0)
		return r;
	/* What the restore prints is of no use; its stderr's tail explains a failure. */
	r = cd_docker_exec_stdin(d, container, argv, env, timeout_ms, cd_backup_stream_read, rd,
		NULL, NULL, 0, eout, ret_status, err);
	free(container);
	return r;
}

const struct backup_place backup_place_container = {
	.name = "container",
	.dump = container_dump,
	.restore_dump = container_restore_dump,
	.add_path = backup_container_add_path,
	.restore_files = backup_container_restore_files,
};
