/*
 * Backups on an SSH target: dumps and restores by exec channel, files by
 * SFTP.
 */
#include "corpdeploy/engine.h"
#include "corpdeploy/steps.h"
#include "backup-internal.h"

static int ssh_refuse(const struct cd_step *step, struct cd_error *err)
{
	return cd_error_set(err, CD_EFAIL, "step '%s': backups on SSH target '%s' are not supported yet",
		step->name, step->target);
}

static int ssh_dump(struct cd_run *run, const struct cd_step *step, const char *const *argv,
	const char *const *env, int64_t timeout_ms, struct cd_backup_writer *w, struct cd_buf *eout,
	int *ret_status, struct cd_error *err)
{
	(void)run, (void)argv, (void)env, (void)timeout_ms, (void)w, (void)eout, (void)ret_status;
	return ssh_refuse(step, err);
}

static int ssh_restore_dump(struct cd_run *run, const struct cd_step *step,
	const char *const *argv, const char *const *env, int64_t timeout_ms,
	struct cd_backup_stream_reader *rd, struct cd_buf *eout, int *ret_status,
	struct cd_error *err)
{
	(void)run, (void)argv, (void)env, (void)timeout_ms, (void)rd, (void)eout, (void)ret_status;
	return ssh_refuse(step, err);
}

const struct backup_place backup_place_ssh = {
	.name = "ssh",
	.dump = ssh_dump,
	.restore_dump = ssh_restore_dump,
	.add_path = backup_ssh_add_path,
	.restore_files = backup_ssh_restore_files,
};
