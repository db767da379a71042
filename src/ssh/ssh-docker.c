/*
 * ssh-docker: a remote Docker engine through `docker system dial-stdio`
 * (libssh2 1.10 cannot forward to a remote unix socket). Each connection
 * libcurl asks for is a socketpair: libcurl gets one end, and a pump thread
 * joins the other end to an exec channel running dial-stdio. The pump
 * thread owns a session of its own for the target (a libssh2 session
 * belongs to one thread), runs it non-blocking and serves every channel of
 * that engine in one poll loop; half-closes pass through both ways (an
 * exec's stdin ends with one). Once the far end takes no more input, what
 * is sent is dropped while what comes back is still delivered.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "corpdeploy/docker.h"
#include "corpdeploy/engine.h"
#include "corpdeploy/log.h"
#include "corpdeploy/plan.h"
#include "ssh-internal.h"

#define PUMP_BUF 65536

struct pump_conn {
	int fd;
	LIBSSH2_CHANNEL *ch;
	int started; /* exec requested */
	char to_ch[PUMP_BUF], to_fd[PUMP_BUF];
	size_t to_ch_off, to_ch_len, to_fd_off, to_fd_len;
	int fd_eof, ch_eof, eof_sent, fd_shut, dead;
	int input_gone; /* the far end takes no more input: what libcurl sends is dropped */
	struct pump_conn *next;
};

struct pump {
	struct cd_ssh_session *session;
	pthread_t thread;
	pthread_mutex_t lock;
	int ctl[2];		   /* wakes the thread: new connections, or stop */
	struct pump_conn *pending; /* handed over by open(), guarded by lock */
	int stop;
	char *description;
};

static void conn_free(struct pump *p, struct pump_conn *c)
{
	if (c->ch) {
		libssh2_channel_close(c->ch);
		libssh2_channel_free(c->ch);
	}
	(void)p;
	close(c->fd);
	free(c);
}

/* Moves bytes one step for c; returns 1 when something moved. */
static int conn_step(struct pump *p, struct pump_conn *c)
{
	LIBSSH2_SESSION *s = p->session->session;
	int moved = 0;
	if (!c->ch) {
		c->ch = libssh2_channel_open_session(s);
		if (!c->ch) {
			if (libssh2_session_last_errno(s) != LIBSSH2_ERROR_EAGAIN)
				c->dead = 1;
			return 0;
		}
	}
	if (!c->started) {
		int rc = libssh2_channel_exec(c->ch, "docker system dial-stdio");
		if (rc == LIBSSH2_ERROR_EAGAIN)
			return 0;
		if (rc) {
			c->dead = 1;
			return 0;
		}
		c->started = 1;
		moved = 1;
	}
	/* libcurl -> engine */
	if (c->to_ch_off == c->to_ch_len && !c->fd_eof) {
		ssize_t n = read(c->fd, c->to_ch, sizeof(c->to_ch));
		if (n > 0) {
			c->to_ch_off = 0;
			c->to_ch_len = (size_t)n;
			moved = 1;
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			c->fd_eof = 1;
		}
	}
	if (c->input_gone)
		c->to_ch_off = c->to_ch_len;
	while (c->to_ch_off < c->to_ch_len) {
		ssize_t w = libssh2_channel_write(c->ch, c->to_ch + c->to_ch_off,
			c->to_ch_len - c->to_ch_off);
		if (w == LIBSSH2_ERROR_EAGAIN)
			break;
		if (w < 0) {
			/*
			 * No more input there (a process that exited before reading its
			 * stdin): what comes back must still reach libcurl, so the
			 * connection lives on, dropping what is sent.
			 */
			c->input_gone = 1;
			c->to_ch_off = c->to_ch_len;
			break;
		}
		c->to_ch_off += (size_t)w;
		moved = 1;
	}
	if (c->fd_eof && c->to_ch_off == c->to_ch_len && !c->eof_sent &&
		libssh2_channel_send_eof(c->ch) != LIBSSH2_ERROR_EAGAIN)
		c->eof_sent = 1;
	/* engine -> libcurl */
	for (;;) {
		if (c->to_fd_off == c->to_fd_len) {
			ssize_t n = libssh2_channel_read(c->ch, c->to_fd, sizeof(c->to_fd));
			if (n == LIBSSH2_ERROR_EAGAIN)
				break;
			if (n < 0) {
				c->dead = 1;
				break;
			}
			if (n == 0) {
				if (libssh2_channel_eof(c->ch))
					c->ch_eof = 1;
				break;
			}
			c->to_fd_off = 0;
			c->to_fd_len = (size_t)n;
		}
		/* A library must not rely on its program ignoring SIGPIPE. */
		ssize_t w = send(c->fd, c->to_fd + c->to_fd_off, c->to_fd_len - c->to_fd_off,
			MSG_NOSIGNAL);
		if (w < 0) {
			if (errno != EAGAIN && errno != EINTR)
				c->dead = 1; /* libcurl closed its end */
			break;
		}
		c->to_fd_off += (size_t)w;
		moved = 1;
	}
	/* dial-stdio's stderr is not part of the stream; drop it. */
	char sink[1024];
	while (libssh2_channel_read_stderr(c->ch, sink, sizeof(sink)) > 0)
		;
	if (c->ch_eof && c->to_fd_off == c->to_fd_len && !c->fd_shut) {
		shutdown(c->fd, SHUT_WR);
		c->fd_shut = 1;
		/*
		 * dial-stdio ends once the engine has closed the stream: what is
		 * still sent has nowhere to go. It is read and dropped until
		 * libcurl's end closes, rather than left to stall on a window
		 * that no one will open again.
		 */
		c->input_gone = 1;
	}
	if (c->ch_eof && c->fd_eof && c->fd_shut)
		c->dead = 1;
	return moved;
}

static void *pump_thread(void *arg)
{
	struct pump *p = arg;
	struct pump_conn *conns = NULL;
	libssh2_session_set_blocking(p->session->session, 0);
	for (;;) {
		pthread_mutex_lock(&p->lock);
		int stop = p->stop;
		while (p->pending) {
			struct pump_conn *c = p->pending;
			p->pending = c->next;
			c->next = conns;
			conns = c;
		}
		pthread_mutex_unlock(&p->lock);
		if (stop)
			break;
		int moved = 0;
		for (struct pump_conn **cp = &conns; *cp;) {
			struct pump_conn *c = *cp;
			moved |= conn_step(p, c);
			if (c->dead) {
				*cp = c->next;
				conn_free(p, c);
			} else {
				cp = &c->next;
			}
		}
		if (moved)
			continue;
		/* Wait for the SSH socket, a libcurl end or the control pipe. */
		size_t n = 2;
		for (struct pump_conn *c = conns; c; c = c->next)
			n++;
		struct pollfd *pf = cd_xcalloc(n, sizeof(*pf));
		pf[0] = (struct pollfd){ .fd = p->ctl[0], .events = POLLIN };
		pf[1] = (struct pollfd){ .fd = p->session->fd, .events = POLLIN };
		if (libssh2_session_block_directions(p->session->session) & LIBSSH2_SESSION_BLOCK_OUTBOUND)
			pf[1].events |= POLLOUT;
		size_t k = 2;
		for (struct pump_conn *c = conns; c; c = c->next, k++) {
			pf[k].fd = c->fd;
			if (c->to_ch_off == c->to_ch_len && !c->fd_eof)
				pf[k].events |= POLLIN;
			if (c->to_fd_off < c->to_fd_len)
				pf[k].events |= POLLOUT;
		}
		poll(pf, n, 200);
		if (pf[0].revents & POLLIN) {
			char drain[64];
			while (read(p->ctl[0], drain, sizeof(drain)) > 0)
				;
		}
		free(pf);
	}
	while (conns) {
		struct pump_conn *c = conns;
		conns = c->next;
		conn_free(p, c);
	}
	return NULL;
}

static int pump_open(void *ctx, struct cd_error *err)
{
	struct pump *p = ctx;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return cd_error_set_errno(err, errno, "%s: cannot make a socket pair", p->description);
	fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK);
	struct pump_conn *c = cd_xcalloc(1, sizeof(*c));
	c->fd = sv[1];
	pthread_mutex_lock(&p->lock);
	c->next = p->pending;
	p->pending = c;
	pthread_mutex_unlock(&p->lock);
	if (write(p->ctl[1], "c", 1) < 0 && errno != EAGAIN)
		cd_log_debug("%s: cannot wake the pump: %s", p->description, strerror(errno));
	return sv[0];
}

static void pump_free(void *ctx)
{
	struct pump *p = ctx;
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = 1;
	pthread_mutex_unlock(&p->lock);
	if (write(p->ctl[1], "q", 1) < 0)
		cd_log_debug("%s: cannot stop the pump: %s", p->description, strerror(errno));
	pthread_join(p->thread, NULL);
	while (p->pending) {
		struct pump_conn *c = p->pending;
		p->pending = c->next;
		close(c->fd);
		free(c);
	}
	cd_ssh_close(p->session);
	close(p->ctl[0]);
	close(p->ctl[1]);
	pthread_mutex_destroy(&p->lock);
	free(p->description);
	free(p);
}

/* An ssh://[user@]host[:port] Docker address as an SSH target of its own. */
static void target_from_url(const struct cd_target *t, struct cd_target *ret, char *buf, size_t size)
{
	*ret = *t;
	ret->kind = CD_TARGET_SSH;
	snprintf(buf, size, "%s", t->docker + 6);
	char *slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	ret->ssh = buf;
	char *at = strchr(buf, '@');
	char *host = at ? at + 1 : buf;
	if (at)
		*at = '\0';
	ret->user = at ? buf : NULL;
	char *colon = strrchr(host, ':');
	ret->port = 22;
	if (colon && !strchr(colon, ']')) {
		*colon = '\0';
		ret->port = atoi(colon + 1);
	}
	ret->host = host;
	ret->connect_timeout_ms = 10000;
}

int cd_ssh_docker_transport(struct cd_run *run, const char *target,
	struct cd_docker_transport *ret, struct cd_error *err)
{
	const struct cd_target *t = cd_plan_target(run->plan, target);
	if (!t)
		return cd_error_set(err, CD_ENOTFOUND, "no target '%s'", target);
	struct cd_target from_url;
	char url_buf[512];
	if (t->kind == CD_TARGET_DOCKER && t->docker && strncmp(t->docker, "ssh://", 6) == 0) {
		target_from_url(t, &from_url, url_buf, sizeof(url_buf));
		t = &from_url;
	}
	struct cd_ssh_dest d;
	const char *pass = t->passphrase_secret ? cd_run_env(run, t->passphrase_secret) : NULL;
	int r = cd_ssh_dest_from_target(t, pass, &d, err);
	struct cd_ssh_session *s = NULL;
	if (r == 0)
		r = cd_ssh_connect(&d, &s, err);
	cd_ssh_dest_release(&d);
	if (r < 0)
		return r;
	struct pump *p = cd_xcalloc(1, sizeof(*p));
	p->session = s;
	p->description = cd_xasprintf("ssh docker engine of %s", cd_ssh_session_name(s));
	pthread_mutex_init(&p->lock, NULL);
	if (pipe2(p->ctl, O_CLOEXEC | O_NONBLOCK) < 0 ||
		pthread_create(&p->thread, NULL, pump_thread, p) != 0) {
		r = cd_error_set_errno(err, errno, "%s: cannot start", p->description);
		cd_ssh_close(s);
		pthread_mutex_destroy(&p->lock);
		free(p->description);
		free(p);
		return r;
	}
	*ret = (struct cd_docker_transport){ .open = pump_open, .free = pump_free, .ctx = p,
		.description = p->description };
	return 0;
}
