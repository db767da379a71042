/*
 * Backups on an SSH target: dumps and restores by exec channel, files by
 * SFTP (backup-ssh-files.c). A dump's stdout streams into the archive and a restore's stdin is
 * pulled from the archive a chunk at a time, so memory stays bounded
 * whatever the size of the dump; the commands' environment reaches them
 * on stdin, never on a command line (backup-ssh-env.c).
 */
#include <string.h>

#include "corpdeploy/engine.h"
#include "corpdeploy/ssh.h"
#include "corpdeploy/steps.h"
#include "backup-internal.h"

/* stderr kept for the error message; the rest goes to the log only. */
#define SSH_STDERR_KEEP (64 * 1024)

static int dump_sink(void *opaque, const void *data, size_t len, struct cd_error *err)
{
	return cd_backup_stream_write(opaque, data, len, err);
}

/* A restore command's stdin: the environment's header, then the dump. */
struct restore_feed {
	const struct cd_buf *header;
	size_t off;
	struct cd_backup_stream_reader *rd;
};

static long restore_source(void *opaque, void *buf, size_t len, struct cd_error *err)
{
	struct restore_feed *f = opaque;
	if (f->off < f->header->len) {
		size_t n = f->header->len - f->off < len ? f->header->len - f->off : len;
		memcpy(buf, f->header->buf + f->off, n);
		f->off += n;
		return (long)n;
	}
	return cd_backup_stream_read(f->rd, buf, len, err);
}

/*
 * Runs argv with env on the step's host: stdin from rd (after the
 * environment) or the environment alone, stdout to w when set.
 */
static int ssh_command(struct cd_run *run, const struct cd_step *step, const char *const *argv,
	const char *const *env, int64_t timeout_ms, struct cd_backup_writer *w,
	struct cd_backup_stream_reader *rd, struct cd_buf *eout, int *ret_status,
	struct cd_error *err)
{
	struct cd_buf line = CD_BUF_INIT, header = CD_BUF_INIT;
	struct cd_ssh_session *s = NULL;
	int r = backup_ssh_command(argv, env, &line, &header, err);
	if (r < 0 || (r = cd_ssh_run_acquire(run, step->target, &s, err)) < 0)
		goto done;
	struct restore_feed feed = { .header = &header, .rd = rd };
	struct cd_ssh_exec_opts o = { .stdin_data = header.len ? header.buf : "",
		.timeout_ms = timeout_ms > 0 ? timeout_ms : 86400000, .max = SSH_STDERR_KEEP,
		.label = step->target };
	if (rd) {
		o.stdin_source = restore_source;
		o.stdin_opaque = &feed;
	}
	if (w) {
		o.stdout_sink = dump_sink;
		o.stdout_opaque = w;
	}
	struct cd_buf out, errout;
	r = cd_ssh_exec(s, line.buf, &o, &out, &errout, ret_status, err);
	cd_ssh_run_release(run, s);
	if (errout.len)
		cd_buf_add(eout, errout.buf, errout.len);
	cd_buf_release(&out);
	cd_buf_release(&errout);
done:
	/* The header holds the environment's values: secrets, often. */
	if (header.buf)
		explicit_bzero(header.buf, header.len);
	cd_buf_release(&header);
	cd_buf_release(&line);
	return r;
}

static int ssh_dump(struct cd_run *run, const struct cd_step *step, const char *const *argv,
	const char *const *env, int64_t timeout_ms, struct cd_backup_writer *w, struct cd_buf *eout,
	int *ret_status, struct cd_error *err)
{
	return ssh_command(run, step, argv, env, timeout_ms, w, NULL, eout, ret_status, err);
}

static int ssh_restore_dump(struct cd_run *run, const struct cd_step *step,
	const char *const *argv, const char *const *env, int64_t timeout_ms,
	struct cd_backup_stream_reader *rd, struct cd_buf *eout, int *ret_status,
	struct cd_error *err)
{
	return ssh_command(run, step, argv, env, timeout_ms, NULL, rd, eout, ret_status, err);
}

const struct backup_place backup_place_ssh = {
	.name = "ssh",
	.dump = ssh_dump,
	.restore_dump = ssh_restore_dump,
	.add_path = backup_ssh_add_path,
	.restore_files = backup_ssh_restore_files,
};
