/*
 * Running a local command with a deadline. The child leads its own process
 * group, so a timeout ends it and everything it started; no child outlives
 * the call. Secrets go in through stdin, never through argv.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "corpdeploy/core.h"

extern char **environ;

static void pipe_read(int *fd, struct cd_buf *b)
{
	char chunk[8192];
	ssize_t n = read(*fd, chunk, sizeof(chunk));
	if (n > 0) {
		if (b)
			cd_buf_add(b, chunk, (size_t)n); /* past the cap: dropped */
		return;
	}
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	close(*fd);
	*fd = -1;
}

int cd_proc_spawn(const char *const *argv, const char *const *env, pid_t *ret_pid, int *ret_in,
	int *ret_out, int *ret_err, struct cd_error *err)
{
	int in[2], o[2], e[2];
	size_t nenv = 0, nextra = 0;

	while (environ[nenv])
		nenv++;
	while (env && env[nextra])
		nextra++;
	char **envp = cd_xcalloc(nenv + nextra + 1, sizeof(char *));
	size_t k = 0;
	for (size_t i = 0; i < nextra; i++)
		envp[k++] = (char *)env[i];
	for (size_t i = 0; i < nenv; i++) {
		/* An extra entry overrides the inherited one of the same name. */
		size_t nl = strcspn(environ[i], "=");
		size_t j;
		for (j = 0; j < nextra; j++)
			if (strncmp(env[j], environ[i], nl) == 0 && env[j][nl] == '=')
				break;
		if (j == nextra)
			envp[k++] = environ[i];
	}
	if (pipe2(in, O_CLOEXEC) < 0) {
		free(envp);
		return cd_error_set_errno(err, errno, "cannot run '%s'", argv[0]);
	}
	if (pipe2(o, O_CLOEXEC) < 0) {
		close(in[0]), close(in[1]);
		free(envp);
		return cd_error_set_errno(err, errno, "cannot run '%s'", argv[0]);
	}
	if (pipe2(e, O_CLOEXEC) < 0) {
		close(in[0]), close(in[1]), close(o[0]), close(o[1]);
		free(envp);
		return cd_error_set_errno(err, errno, "cannot run '%s'", argv[0]);
	}
	/* posix_spawn, not fork: safe with other threads running, and exec failures come back. */
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, o[1], 1);
	posix_spawn_file_actions_adddup2(&fa, e[1], 2);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setpgroup(&attr, 0);
	/* corpdeploy ignores SIGPIPE and catches SIGINT/SIGTERM; the child gets the defaults. */
	sigset_t def;
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGINT);
	sigaddset(&def, SIGTERM);
	posix_spawnattr_setsigdefault(&attr, &def);
	sigset_t none;
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
		POSIX_SPAWN_SETSIGMASK);
	int se = posix_spawnp(ret_pid, argv[0], &fa, &attr, (char *const *)argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	free(envp);
	close(in[0]);
	close(o[1]);
	close(e[1]);
	if (se != 0) {
		close(in[1]), close(o[0]), close(e[0]);
		return cd_error_set_errno(err, se, "cannot run '%s'", argv[0]);
	}
	*ret_in = in[1];
	*ret_out = o[0];
	*ret_err = e[0];
	return 0;
}

int cd_proc_run(const char *const *argv, const char *const *env, const char *stdin_data,
	int64_t timeout_ms, size_t max, struct cd_buf *out, struct cd_buf *errout, int *ret_status,
	struct cd_error *err)
{
	int status = 0, infd, ofd, efd;
	pid_t pid;

	if (out)
		cd_buf_init(out, max);
	if (errout)
		cd_buf_init(errout, max);
	int r = cd_proc_spawn(argv, env, &pid, &infd, &ofd, &efd, err);
	if (r < 0)
		return r;
	size_t in_len = stdin_data ? strlen(stdin_data) : 0, in_off = 0;
	if (!in_len) {
		close(infd);
		infd = -1;
	} else {
		fcntl(infd, F_SETFL, O_NONBLOCK);
	}
	int64_t deadline = cd_time_mono_ms() + (timeout_ms > 0 ? timeout_ms : 86400000);
	int timed_out = 0;
	while (ofd >= 0 || efd >= 0) {
		struct pollfd p[3];
		int n = 0, io = -1, ii = -1, ie = -1;
		if (ofd >= 0)
			io = n, p[n++] = (struct pollfd){ .fd = ofd, .events = POLLIN };
		if (efd >= 0)
			ie = n, p[n++] = (struct pollfd){ .fd = efd, .events = POLLIN };
		if (infd >= 0)
			ii = n, p[n++] = (struct pollfd){ .fd = infd, .events = POLLOUT };
		int64_t left = deadline - cd_time_mono_ms();
		if (left <= 0) {
			timed_out = 1;
			break;
		}
		if (poll(p, (nfds_t)n, (int)(left > 1000 ? 1000 : left)) < 0 && errno != EINTR)
			break;
		if (io >= 0 && p[io].revents)
			pipe_read(&ofd, out);
		if (ie >= 0 && p[ie].revents)
			pipe_read(&efd, errout);
		if (ii >= 0 && p[ii].revents) {
			ssize_t w = write(infd, stdin_data + in_off, in_len - in_off);
			if (w > 0)
				in_off += (size_t)w;
			if (w < 0 && errno != EAGAIN && errno != EINTR)
				in_off = in_len;
			if (in_off >= in_len) {
				close(infd);
				infd = -1;
			}
		}
	}
	if (timed_out)
		kill(-pid, SIGKILL);
	if (infd >= 0)
		close(infd);
	if (ofd >= 0)
		close(ofd);
	if (efd >= 0)
		close(efd);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	/* Whatever the leader left behind in its group goes too. */
	kill(-pid, SIGKILL);
	if (timed_out) {
		char b[32];
		return cd_error_set(err, CD_EFAIL, "'%s' did not finish within %s and was killed", argv[0],
			cd_duration_format(timeout_ms, b, sizeof(b)));
	}
	*ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	return 0;
}
