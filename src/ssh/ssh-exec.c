/*
 * ssh-exec: one command on a host. The session runs non-blocking while the
 * command does, so stdout and stderr are drained as they come and neither
 * can fill up and stall the other; stdin (where secrets go, or a dump of
 * many GiB pulled from a source a chunk at a time) is fed in the same loop,
 * and stdout may go to a sink as it comes. The command is run as
 * `echo $$; exec CMD`: sshd makes the shell a session leader, so its pid
 * names the process group that a timeout, or a failing source or sink,
 * kills through a second channel (libssh2 1.10 cannot send signals);
 * timeout(1) on the host, where there is one, is the safety net.
 */
#include <limits.h>
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

/* The command's stdin: a string, or a source pulled a chunk at a time. */
struct feed {
	cd_ssh_source_fn source;
	void *opaque;
	const char *p; /* the part of the current chunk not written yet */
	size_t len;
	int end;    /* nothing more to come: EOF is next */
	int closed; /* EOF sent, or the command no longer takes stdin */
	char chunk[32768];
};

/*
 * Writes what the channel takes now. 1 when something moved, 0 when not, a
 * negative error when the source failed (err set by it).
 */
static int feed_step(struct feed *f, LIBSSH2_CHANNEL *ch, struct cd_error *err)
{
	int progress = 0;
	if (f->closed)
		return 0;
	if (!f->len && !f->end) {
		long n = f->source(f->opaque, f->chunk, sizeof(f->chunk), err);
		if (n < 0)
			return n >= INT_MIN ? (int)n : CD_EFAIL;
		if (n == 0)
			f->end = 1;
		f->p = f->chunk;
		f->len = (size_t)n < sizeof(f->chunk) ? (size_t)n : sizeof(f->chunk);
		progress = 1;
	}
	if (f->len) {
		/* After EAGAIN libssh2 wants the same bytes again: p and len stay until written. */
		ssize_t w = libssh2_channel_write(ch, f->p, f->len);
		if (w > 0) {
			f->p += w;
			f->len -= (size_t)w;
			progress = 1;
		} else if (w < 0 && w != LIBSSH2_ERROR_EAGAIN) {
			/* The channel is closing: the command did not want the rest. */
			f->len = 0;
			f->closed = 1;
			return progress;
		}
	}
	if (!f->len && f->end && libssh2_channel_send_eof(ch) != LIBSSH2_ERROR_EAGAIN) {
		f->closed = 1;
		progress = 1;
	}
	return progress;
}

/* The first line of stdout is the shell's pid, for a kill to name its group. */
struct pid_line {
	char text[32];
	size_t len;
	int done;
};

/* Takes the pid's bytes from the start of data; returns how many it took. */
static size_t pid_take(struct pid_line *pl, const char *data, size_t n)
{
	size_t off = 0;
	while (!pl->done && off < n) {
		if (data[off] == '\n')
			pl->done = 1;
		else if (pl->len < sizeof(pl->text) - 1)
			pl->text[pl->len++] = data[off];
		off++;
	}
	return off;
}

/*
 * Kills the command's process group: TERM, a moment to clean up, then
 * KILL. The command may not have told its pid yet (a slow start): its
 * stdout is read a little longer for it, the rest thrown away.
 */
static void kill_command(struct cd_ssh_session *s, LIBSSH2_CHANNEL *ch, struct pid_line *pl)
{
	char buf[4096];
	int64_t grace = cd_time_mono_ms() + 10000;
	while (!pl->done && cd_time_mono_ms() < grace && !libssh2_channel_eof(ch)) {
		ssize_t n = libssh2_channel_read(ch, buf, sizeof(buf));
		if (n > 0)
			pid_take(pl, buf, (size_t)n);
		else if (n == LIBSSH2_ERROR_EAGAIN)
			ssh_wait_socket(s, grace);
		else if (n < 0)
			break;
	}
	pl->text[pl->len] = '\0';
	long long group = atoll(pl->text);
	if (group <= 1)
		return;
	char *kill_cmd = cd_xasprintf(
		"kill -TERM -%lld 2>/dev/null; i=0; while kill -0 -%lld 2>/dev/null && "
		"[ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done; kill -KILL -%lld 2>/dev/null; true",
		group, group, group);
	run_quietly(s, kill_cmd, 10000);
	free(kill_cmd);
}

/* The stream a read-only string feeds from (stdin_data). */
static long no_source(void *opaque, void *buf, size_t len, struct cd_error *err)
{
	(void)opaque, (void)buf, (void)len, (void)err;
	return 0;
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
	/* Heap: a chunk of stdin is too big for a thread's stack in a fan-out. */
	struct feed *in = cd_xcalloc(1, sizeof(*in));
	if (o->stdin_source) {
		in->source = o->stdin_source;
		in->opaque = o->stdin_opaque;
	} else {
		in->source = no_source;
		in->p = o->stdin_data ? o->stdin_data : "";
		in->len = strlen(in->p);
		in->end = 1;
	}

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

	int timed_out = 0, must_kill = 0;
	struct pid_line pl = { .len = 0 };
	int64_t last_keepalive = t0;
	char buf[32768];
	for (;;) {
		int progress = feed_step(in, ch, err);
		if (progress < 0) {
			r = progress;
			must_kill = 1;
			break;
		}
		/*
		 * A turn takes a bounded amount of each stream, so a command that
		 * writes without pause still sees its stdin fed, its stderr read
		 * and its deadline kept.
		 */
		ssize_t n = LIBSSH2_ERROR_EAGAIN;
		for (int turn = 0; turn < 32 && (n = libssh2_channel_read(ch, buf, sizeof(buf))) > 0; turn++) {
			size_t off = pid_take(&pl, buf, (size_t)n);
			progress = 1;
			if (off == (size_t)n)
				continue;
			if (o->stdout_sink) {
				if ((r = o->stdout_sink(o->stdout_opaque, buf + off, (size_t)n - off, err)) < 0)
					break;
			} else {
				stream_add(&so, buf + off, (size_t)n - off);
			}
		}
		if (r < 0) {
			must_kill = 1;
			break;
		}
		ssize_t e = LIBSSH2_ERROR_EAGAIN;
		for (int turn = 0; turn < 32 && (e = libssh2_channel_read_stderr(ch, buf, sizeof(buf))) > 0; turn++) {
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
			timed_out = must_kill = 1;
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
	if (must_kill) {
		kill_command(s, ch, &pl);
		channel_free(s, ch);
		if (timed_out) {
			char took[32];
			r = cd_error_set(err, CD_EFAIL, "host %s: timed out after %s; the command was killed",
				s->name, cd_duration_format(cd_time_mono_ms() - t0, took, sizeof(took)));
		}
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
	free(in);
	cd_buf_release(&so.line);
	cd_buf_release(&se.line);
	cd_buf_release(&full);
	libssh2_session_set_blocking(s->session, 1);
	return r;
}
