/*
 * ssh-exec: one command on a host. The session runs non-blocking while the
 * command does, so stdout and stderr are drained as they come and neither
 * can fill up and stall the other; stdin (where secrets go) is fed in the
 * same loop. The command is run as `echo $$; exec CMD`: sshd makes the
 * shell a session leader, so its pid names the process group that a
 * timeout kills through a second channel (libssh2 1.10 cannot send signals);
 * timeout(1) on the host, where there is one, is the safety net.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "corpdeploy/log.h"
#include "ssh-internal.h"

/* A stream's bytes: the kept part and the line being assembled for the log. */
struct stream {
	struct cd_buf *keep;
	size_t max;
	struct cd_buf line;
	const char *label;
	const char *name;
	int dropped;
};

static void stream_line_flush(struct stream *st)
{
	if (st->label && st->line.len)
		cd_log(CD_LOG_VERBOSE, "%s %s| %s", st->label, st->name, st->line.buf);
	cd_buf_reset(&st->line);
}

static void stream_add(struct stream *st, const char *p, size_t n)
{
	size_t room = st->keep->len < st->max ? st->max - st->keep->len : 0;
	cd_buf_add(st->keep, p, n < room ? n : room);
	if (n > room)
		st->dropped = 1;
	if (!st->label)
		return;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n')
			stream_line_flush(st);
		else if (st->line.len < 4096)
			cd_buf_addch(&st->line, p[i]);
	}
}

static int signal_number(const char *name)
{
	static const struct {
		const char *name;
		int sig;
	} sigs[] = { { "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "ILL", SIGILL },
		{ "ABRT", SIGABRT }, { "FPE", SIGFPE }, { "KILL", SIGKILL }, { "SEGV", SIGSEGV },
		{ "PIPE", SIGPIPE }, { "ALRM", SIGALRM }, { "TERM", SIGTERM }, { "USR1", SIGUSR1 },
		{ "USR2", SIGUSR2 }, { "BUS", SIGBUS } };
	for (size_t i = 0; i < CD_ARRAY_SIZE(sigs); i++)
		if (strcmp(sigs[i].name, name) == 0)
			return sigs[i].sig;
	return 0;
}

static LIBSSH2_CHANNEL *channel_open(struct cd_ssh_session *s, int64_t deadline)
{
	LIBSSH2_CHANNEL *ch;
	while (!(ch = libssh2_channel_open_session(s->session)) &&
		libssh2_session_last_errno(s->session) == LIBSSH2_ERROR_EAGAIN &&
		cd_time_mono_ms() < deadline)
		ssh_wait_socket(s, deadline);
	return ch;
}

static void channel_free(struct cd_ssh_session *s, LIBSSH2_CHANNEL *ch)
{
	int64_t deadline = cd_time_mono_ms() + 5000;
	while (libssh2_channel_close(ch) == LIBSSH2_ERROR_EAGAIN && cd_time_mono_ms() < deadline)
		ssh_wait_socket(s, deadline);
	while (libssh2_channel_free(ch) == LIBSSH2_ERROR_EAGAIN && cd_time_mono_ms() < deadline)
		ssh_wait_socket(s, deadline);
}

/* Runs a short command to its end, discarding its output (the killer). */
static void run_quietly(struct cd_ssh_session *s, const char *command, int64_t ms)
{
	int64_t deadline = cd_time_mono_ms() + ms;
	LIBSSH2_CHANNEL *ch = channel_open(s, deadline);
	if (!ch)
		return;
	int rc;
	while ((rc = libssh2_channel_exec(ch, command)) == LIBSSH2_ERROR_EAGAIN &&
		cd_time_mono_ms() < deadline)
		ssh_wait_socket(s, deadline);
	char buf[512];
	while (rc == 0 && cd_time_mono_ms() < deadline) {
		ssize_t n = libssh2_channel_read(ch, buf, sizeof(buf));
		ssize_t e = libssh2_channel_read_stderr(ch, buf, sizeof(buf));
		if (libssh2_channel_eof(ch))
			break;
		if (n == LIBSSH2_ERROR_EAGAIN && e == LIBSSH2_ERROR_EAGAIN)
			ssh_wait_socket(s, deadline);
		else if (n < 0 && n != LIBSSH2_ERROR_EAGAIN)
			break;
	}
	channel_free(s, ch);
}

int cd_ssh_exec(struct cd_ssh_session *s, const char *command, const struct cd_ssh_exec_opts *o,
	struct cd_buf *out, struct cd_buf *eout, int *ret_status, struct cd_error *err)
{
	int64_t t0 = cd_time_mono_ms();
	int64_t deadline = t0 + (o->timeout_ms > 0 ? o->timeout_ms : 3600000);
	struct cd_buf full = CD_BUF_INIT;
	cd_buf_adds(&full, "echo $$; ");
	if (o->timeout_ms > 0)
		/*
		 * The host enforces the deadline too (timeout(1) signals its whole
		 * group), should the command start too late for us to learn its pid.
		 */
		cd_buf_addf(&full, "if command -v timeout >/dev/null 2>&1; then exec timeout -k 5 %lld %s; fi; ",
			(long long)(o->timeout_ms + 999) / 1000 + 1, command);
	cd_buf_adds(&full, "exec ");
	cd_buf_adds(&full, command);
	*out = (struct cd_buf)CD_BUF_INIT;
	*eout = (struct cd_buf)CD_BUF_INIT;
	*ret_status = -1;
	struct stream so = { .keep = out, .max = o->max ? o->max : 256 * 1024, .label = o->label,
		.name = "" };
	struct stream se = { .keep = eout, .max = so.max, .label = o->label, .name = "! " };
	so.line = (struct cd_buf)CD_BUF_INIT;
	se.line = (struct cd_buf)CD_BUF_INIT;

	libssh2_session_set_blocking(s->session, 0);
	int r = 0, rc;
	LIBSSH2_CHANNEL *ch = channel_open(s, deadline);
	if (!ch) {
		r = cd_error_set(err, CD_EREMOTE, "host %s: cannot open a channel: %s", s->name,
			ssh_last_error(s));
		goto done;
	}
	while ((rc = libssh2_channel_exec(ch, full.buf)) == LIBSSH2_ERROR_EAGAIN &&
		cd_time_mono_ms() < deadline)
		ssh_wait_socket(s, deadline);
	if (rc) {
		r = cd_error_set(err, CD_EREMOTE, "host %s: cannot start the command: %s", s->name,
			rc == LIBSSH2_ERROR_EAGAIN ? "timed out" : ssh_last_error(s));
		channel_free(s, ch);
		goto done;
	}

	const char *in = o->stdin_data ? o->stdin_data : "";
	size_t in_len = strlen(in), in_off = 0;
	int eof_sent = 0, timed_out = 0;
	char pid[32] = "";
	size_t pid_len = 0;
	int pid_done = 0;
	int64_t last_keepalive = t0;
	char buf[32768];
	for (;;) {
		int progress = 0;
		if (in_off < in_len) {
			ssize_t w = libssh2_channel_write(ch, in + in_off, in_len - in_off);
			if (w > 0) {
				in_off += (size_t)w;
				progress = 1;
			} else if (w < 0 && w != LIBSSH2_ERROR_EAGAIN) {
				in_off = in_len; /* the command closed its stdin: it did not want it */
			}
		}
		if (in_off == in_len && !eof_sent) {
			rc = libssh2_channel_send_eof(ch);
			if (rc != LIBSSH2_ERROR_EAGAIN)
				eof_sent = 1;
		}
		ssize_t n;
		while ((n = libssh2_channel_read(ch, buf, sizeof(buf))) > 0) {
			size_t off = 0;
			/* The first line is the shell's pid, for a timeout to kill its group. */
			while (!pid_done && off < (size_t)n) {
				if (buf[off] == '\n')
					pid_done = 1;
				else if (pid_len < sizeof(pid) - 1)
					pid[pid_len++] = buf[off];
				off++;
			}
			stream_add(&so, buf + off, (size_t)n - off);
			progress = 1;
		}
		ssize_t e;
		while ((e = libssh2_channel_read_stderr(ch, buf, sizeof(buf))) > 0) {
			stream_add(&se, buf, (size_t)e);
			progress = 1;
		}
		if ((n < 0 && n != LIBSSH2_ERROR_EAGAIN) || (e < 0 && e != LIBSSH2_ERROR_EAGAIN)) {
			r = cd_error_set(err, CD_EREMOTE, "host %s: connection lost during the command: %s",
				s->name, ssh_last_error(s));
			break;
		}
		if (libssh2_channel_eof(ch))
			break;
		int64_t now = cd_time_mono_ms();
		if (now >= deadline) {
			timed_out = 1;
			break;
		}
		if (now - last_keepalive > 10000) {
			int next;
			libssh2_keepalive_send(s->session, &next);
			last_keepalive = now;
		}
		if (!progress)
			ssh_wait_socket(s, deadline);
	}
	stream_line_flush(&so);
	stream_line_flush(&se);
	if (timed_out) {
		char took[32];
		/* The command may not have told its pid yet (a slow start): wait a little for it. */
		int64_t grace = cd_time_mono_ms() + 10000;
		while (!pid_done && cd_time_mono_ms() < grace && !libssh2_channel_eof(ch)) {
			ssize_t n = libssh2_channel_read(ch, buf, sizeof(buf));
			for (ssize_t i = 0; !pid_done && n > 0 && i < n; i++) {
				if (buf[i] == '\n')
					pid_done = 1;
				else if (pid_len < sizeof(pid) - 1)
					pid[pid_len++] = buf[i];
			}
			if (n == LIBSSH2_ERROR_EAGAIN)
				ssh_wait_socket(s, grace);
			else if (n < 0)
				break;
		}
		long long group = atoll(pid);
		if (group > 1) {
			/* TERM, a moment to clean up, then KILL: the whole process group. */
			char *kill_cmd = cd_xasprintf(
				"kill -TERM -%lld 2>/dev/null; i=0; while kill -0 -%lld 2>/dev/null && "
				"[ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done; kill -KILL -%lld 2>/dev/null; true",
				group, group, group);
			run_quietly(s, kill_cmd, 10000);
			free(kill_cmd);
		}
		channel_free(s, ch);
		r = cd_error_set(err, CD_EFAIL, "host %s: timed out after %s; the command was killed",
			s->name, cd_duration_format(cd_time_mono_ms() - t0, took, sizeof(took)));
		goto done;
	}
	if (r == 0) {
		while ((rc = libssh2_channel_close(ch)) == LIBSSH2_ERROR_EAGAIN)
			ssh_wait_socket(s, deadline + 5000);
		while ((rc = libssh2_channel_wait_closed(ch)) == LIBSSH2_ERROR_EAGAIN)
			ssh_wait_socket(s, deadline + 5000);
		char *signame = NULL;
		size_t signame_len = 0;
		libssh2_channel_get_exit_signal(ch, &signame, &signame_len, NULL, NULL, NULL, NULL);
		if (signame && signame_len) {
			int sig = signal_number(signame);
			*ret_status = 128 + (sig ? sig : 0);
			cd_buf_addf(eout, "%skilled by signal %s", eout->len ? "\n" : "", signame);
		} else {
			*ret_status = libssh2_channel_get_exit_status(ch);
		}
		if (signame)
			libssh2_free(s->session, signame);
	}
	channel_free(s, ch);
done:
	if (so.dropped || se.dropped)
		cd_log_debug("host %s: output past %zu bytes was not kept", s->name, so.max);
	cd_buf_release(&so.line);
	cd_buf_release(&se.line);
	cd_buf_release(&full);
	libssh2_session_set_blocking(s->session, 1);
	return r;
}
