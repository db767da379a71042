/*
 * Runs a command in a container of a plan target's Docker engine with this
 * program's stdin as its stdin, its stdout to ours: for ssh.sh, to send a
 * dump through a remote engine over SSH (dial-stdio) and compare hashes.
 *
 *   docker-exec-stdin KNOWN_HOSTS PLAN TARGET CONTAINER CMD [ARG...]
 *
 * Prints "exit N" and the stderr tail of the command on stderr; exits 0 when
 * the command ran (whatever its exit code), 1 when the call failed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "corpdeploy/core.h"
#include "corpdeploy/docker.h"
#include "corpdeploy/engine.h"
#include "corpdeploy/plan.h"
#include "corpdeploy/ssh.h"

static long read_stdin(void *opaque, void *buf, size_t len, struct cd_error *err)
{
	(void)opaque;
	for (;;) {
		ssize_t n = read(0, buf, len);
		if (n >= 0)
			return (long)n;
		if (errno != EINTR)
			return cd_error_set_errno(err, errno, "cannot read stdin");
	}
}

static int write_stdout(void *opaque, const void *data, size_t len, struct cd_error *err)
{
	(void)opaque;
	if (fwrite(data, 1, len, stdout) != len)
		return cd_error_set(err, CD_EIO, "cannot write stdout");
	return 0;
}

int main(int argc, char **argv)
{
	struct cd_diags diags = {0};
	struct cd_error err = CD_ERROR_INIT;
	struct cd_run_opts opts = {.rollback = 1, .progress = stderr};
	struct cd_plan *plan = NULL;
	struct cd_run *run = NULL;
	struct cd_docker *dk;
	struct cd_buf etail = CD_BUF_INIT;
	int code = -1, rc;

	if (argc < 6) {
		fprintf(stderr, "usage: %s KNOWN_HOSTS PLAN TARGET CONTAINER CMD [ARG...]\n",
		        argv[0]);
		return 2;
	}
	cd_ssh_set_known_hosts(argv[1]);
	if (cd_plan_load(argv[2], NULL, &diags, &plan) < 0) {
		for (size_t i = 0; i < diags.n; i++)
			fprintf(stderr, "%s\n", diags.items[i].msg);
		cd_diags_release(&diags);
		return 1;
	}
	run = cd_run_new(plan, &opts);
	rc = cd_run_docker(run, argv[3], &dk, &err);
	if (rc == 0)
		rc = cd_docker_exec_stdin(dk, argv[4], (const char *const *)argv + 5, NULL, 300000,
		        read_stdin, NULL, write_stdout, NULL, 0, &etail, &code, &err);
	fflush(stdout);
	if (rc == 0)
		fprintf(stderr, "exit %d\n%s", code, etail.buf);
	else
		fprintf(stderr, "failed: %s\n", err.msg);
	cd_buf_release(&etail);
	cd_error_release(&err);
	cd_run_free(run);
	cd_plan_free(plan);
	cd_diags_release(&diags);
	return rc == 0 ? 0 : 1;
}
