/*
 * A local process whose stdin and stdout are streams: a dump command's
 * output goes straight into an archive, a restore command's input comes
 * straight out of one. Same rules as cd_proc_run: posix_spawn, its own
 * process group, killed with everything it started at the deadline or when
 * the other end of the stream fails. Only stderr is kept, capped.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "corpdeploy/backup.h"

#define PROC_BLOCK (256 * 1024)
#define STDERR_MAX (64 * 1024)

int cd_backup_proc_stream(const char *const *argv, const char *const *env,
	cd_backup_source source, void *source_opaque, cd_backup_sink sink, void *sink_opaque,
	int64_t timeout_ms, struct cd_buf *errout, int *ret_status, struct cd_error *err)
{
	int status = 0, infd, ofd, efd;
	pid_t pid;
	cd_buf_init(errout, STDERR_MAX);
	int spawned = cd_proc_spawn(argv, env, &pid, &infd, &ofd, &efd, err);
	if (spawned < 0)
		return spawned;
	/* Bigger pipes: fewer wake-ups per MiB of dump (the default holds 64 KiB). */
	fcntl(ofd, F_SETPIPE_SZ, 1 << 20);
	if (source)
		fcntl(infd, F_SETPIPE_SZ, 1 << 20);
	/* A command that stops reading must give EPIPE here, not kill corpdeploy. */
	sigset_t pipe_set, old_mask;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
	if (!source) {
		close(infd);
		infd = -1;
	} else {
		fcntl(infd, F_SETFL, O_NONBLOCK);
	}
	unsigned char *block = cd_xmalloc(PROC_BLOCK);
	unsigned char *inbuf = source ? cd_xmalloc(PROC_BLOCK) : NULL;
	size_t in_len = 0, in_off = 0;
	int64_t deadline = cd_time_mono_ms() + (timeout_ms > 0 ? timeout_ms : 86400000);
	int r = 0, timed_out = 0;
	while (r == 0 && (ofd >= 0 || efd >= 0 || infd >= 0)) {
		if (infd >= 0 && in_off == in_len) {
			long n = source(source_opaque, inbuf, PROC_BLOCK, err);
			if (n < 0) {
				r = (int)n;
				break;
			}
			if (n == 0) {
				close(infd);
				infd = -1;
				continue;
			}
			in_len = (size_t)n, in_off = 0;
		}
		struct pollfd p[3];
		int n = 0, io = -1, ie = -1, ii = -1;
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
		if (io >= 0 && p[io].revents) {
			ssize_t k = read(ofd, block, PROC_BLOCK);
			if (k > 0 && sink)
				r = sink(sink_opaque, block, (size_t)k, err);
			else if (k == 0 || (k < 0 && errno != EINTR && errno != EAGAIN))
				close(ofd), ofd = -1;
		}
		if (ie >= 0 && p[ie].revents) {
			char chunk[4096];
			ssize_t k = read(efd, chunk, sizeof(chunk));
			if (k > 0)
				cd_buf_add(errout, chunk, (size_t)k); /* past the cap: dropped */
			else if (k == 0 || (errno != EINTR && errno != EAGAIN))
				close(efd), efd = -1;
		}
		if (ii >= 0 && p[ii].revents) {
			ssize_t w = write(infd, inbuf + in_off, in_len - in_off);
			if (w > 0)
				in_off += (size_t)w;
			else if (w < 0 && errno != EAGAIN && errno != EINTR) {
				/* The command stopped reading: its exit status says why. */
				close(infd);
				infd = -1;
			}
		}
	}
	if (timed_out || r < 0)
		kill(-pid, SIGKILL);
	if (infd >= 0)
		close(infd);
	if (ofd >= 0)
		close(ofd);
	if (efd >= 0)
		close(efd);
	free(block);
	free(inbuf);
	struct timespec zero = { 0, 0 };
	while (sigtimedwait(&pipe_set, NULL, &zero) > 0)
		;
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	kill(-pid, SIGKILL);
	if (timed_out) {
		char b[32];
		return cd_error_set(err, CD_EFAIL, "'%s' did not finish within %s and was killed", argv[0],
			cd_duration_format(timeout_ms, b, sizeof(b)));
	}
	if (r < 0)
		return r;
	*ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	return 0;
}
