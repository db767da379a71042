/*
 * An upgraded ("hijacked") connection: the start of an exec whose stdin is
 * attached. libcurl cannot send a body while it reads the reply, so this one
 * exchange is written by hand over a connection of the client's transport:
 * the request asks to upgrade to a raw stream (101, or 200 with a raw-stream
 * type from older engines), then stdin goes out while the framed output
 * comes back, and the write side is half-closed at stdin's end so that the
 * process sees EOF.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "corpdeploy/log.h"
#include "docker-internal.h"

/* A reply's head, and the body of a refusal, are small: more is not an engine. */
#define HIJACK_HEAD_MAX (64u * 1024)
#define HIJACK_IO       65536

/* ---- the head of a reply ---- */

static const char *find_blank_line(const char *buf, size_t len)
{
	for (size_t i = 0; i + 3 < len; i++)
		if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' &&
		        buf[i + 3] == '\n')
			return buf + i;
	return NULL;
}

static int starts_with_ci(const char *s, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);
	return len >= n && strncasecmp(s, prefix, n) == 0;
}

/* 1 when the header line [s, end) is "name: value" for this name; *value its trimmed value. */
static int header_is(
        const char *s, const char *end, const char *name, const char **value, size_t *value_len)
{
	size_t n = strlen(name);

	if ((size_t)(end - s) <= n || strncasecmp(s, name, n) != 0 || s[n] != ':')
		return 0;
	s += n + 1;
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*value = s;
	*value_len = (size_t)(end - s);
	return 1;
}

long docker_head_parse(const char *buf, size_t len, struct docker_head *ret)
{
	const char *blank = find_blank_line(buf, len), *line, *eol, *value;
	size_t value_len;
	char num[24];

	memset(ret, 0, sizeof(*ret));
	ret->content_length = -1;
	if (len >= 5 && strncmp(buf, "HTTP/", 5) != 0)
		return -1;
	if (!blank)
		return len >= HIJACK_HEAD_MAX ? -1 : 0;
	/* "HTTP/1.1 101 UPGRADED" */
	eol = memchr(buf, '\r', (size_t)(blank - buf) + 1);
	line = memchr(buf, ' ', (size_t)(eol - buf));
	if (!line || eol - line < 4 || line[1] < '1' || line[1] > '5' || line[2] < '0' ||
	        line[2] > '9' || line[3] < '0' || line[3] > '9' ||
	        (eol - line > 4 && line[4] != ' '))
		return -1;
	ret->status = (line[1] - '0') * 100 + (line[2] - '0') * 10 + (line[3] - '0');
	for (line = eol + 2; line < blank + 2; line = eol + 2) {
		eol = memchr(line, '\r', (size_t)(blank + 2 - line));
		if (header_is(line, eol, "Content-Type", &value, &value_len))
			ret->raw_stream = starts_with_ci(value, value_len,
			                          "application/vnd.docker.raw-stream") ||
			                  starts_with_ci(value, value_len,
			                          "application/vnd.docker.multiplexed-stream");
		else if (header_is(line, eol, "Transfer-Encoding", &value, &value_len))
			ret->chunked = value_len == 7 && strncasecmp(value, "chunked", 7) == 0;
		else if (header_is(line, eol, "Content-Length", &value, &value_len)) {
			char *end;
			if (value_len == 0 || value_len >= sizeof(num))
				return -1;
			memcpy(num, value, value_len);
			num[value_len] = '\0';
			ret->content_length = strtoll(num, &end, 10);
			if (*end || ret->content_length < 0)
				return -1;
		}
	}
	return (long)(blank - buf) + 4;
}

/* The body of a chunked reply, as far as it goes. */
static void dechunk(const char *s, size_t len, struct cd_buf *out)
{
	while (len) {
		char *end;
		unsigned long n = strtoul(s, &end, 16);
		const char *data = memchr(s, '\n', len);

		if (end == s || !data || n == 0)
			return;
		data++;
		len -= (size_t)(data - s);
		if (n > len)
			n = len;
		cd_buf_add(out, data, n);
		s = data + n;
		len -= n;
		while (len && (*s == '\r' || *s == '\n'))
			s++, len--;
	}
}

/* ---- the connection ---- */

struct hijack {
	struct cd_docker *d;
	struct docker_req *r;
	int fd;
	int64_t deadline, timeout;
	struct cd_buf in; /* what has come back and is not handled yet */
	char *out;        /* stdin on its way: out[out_off..out_len) */
	size_t out_off, out_len;
	int out_done; /* stdin ended, or the engine stopped reading: the write side is shut */
};

static int fail_timeout(const struct hijack *h, struct cd_error *err)
{
	char dur[32];
	return cd_error_set(err, CD_EREMOTE, "%s: no answer from the Docker engine at %s within %s",
	        h->r->what, h->d->description, cd_duration_format(h->timeout, dur, sizeof(dur)));
}

static int fail_errno(const struct hijack *h, int e, const char *doing, struct cd_error *err)
{
	return cd_error_set(err, CD_EREMOTE, "%s: cannot %s the Docker engine at %s: %s",
	        h->r->what, doing, h->d->description, strerror(e));
}

/* The error a callback (the source, or the output's sink) left in r->cb_err. */
static int fail_callback(const struct hijack *h, const char *fallback, struct cd_error *err)
{
	const struct cd_error *e = &h->r->cb_err;
	return cd_error_set(err, e->code ? e->code : CD_EFAIL, "%s: %s", h->r->what,
	        e->msg ? e->msg : fallback);
}

/* Waits for events on the connection until the deadline: its revents, 0 when it passed. */
static int wait_for(const struct hijack *h, short events, struct cd_error *err)
{
	for (;;) {
		struct pollfd p = {.fd = h->fd, .events = events};
		int64_t left = h->deadline - cd_time_mono_ms();
		int rc;

		if (left <= 0)
			return fail_timeout(h, err);
		rc = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (rc > 0)
			return p.revents;
		if (rc < 0 && errno != EINTR)
			return fail_errno(h, errno, "wait for", err);
	}
}

static int send_request(struct hijack *h, struct cd_error *err)
{
	struct docker_req *r = h->r;
	struct cd_buf req = CD_BUF_INIT;
	size_t off = 0;
	int ret = 0;

	cd_buf_addf(&req,
	        "%s /v%s%s HTTP/1.1\r\n"
	        "Host: docker\r\n"
	        "User-Agent: corpdeploy/%s\r\n"
	        "Content-Type: %s\r\n"
	        "Content-Length: %zu\r\n"
	        "Connection: Upgrade\r\n"
	        "Upgrade: tcp\r\n"
	        "\r\n",
	        r->method, CD_DOCKER_API, r->path.buf, CD_VERSION,
	        r->content_type ? r->content_type : "application/json", r->send_len);
	cd_buf_add(&req, r->send, r->send_len);
	while (off < req.len) {
		ssize_t n = send(h->fd, req.buf + off, req.len - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			ret = fail_errno(h, errno, "send a request to", err);
			break;
		}
		if ((ret = wait_for(h, POLLOUT, err)) < 0)
			break;
		ret = 0;
	}
	cd_buf_release(&req);
	return ret;
}

/* Reads more of the reply into h->in: 1, 0 at its end (or once h->in is full), or < 0. */
static int read_more(struct hijack *h, struct cd_error *err)
{
	char buf[4096];

	for (;;) {
		size_t room = HIJACK_HEAD_MAX - h->in.len;
		ssize_t n;
		int rc;

		if (!room)
			return 0;
		n = recv(h->fd, buf, room < sizeof(buf) ? room : sizeof(buf), 0);
		if (n > 0) {
			cd_buf_add(&h->in, buf, (size_t)n);
			return 1;
		}
		if (n == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return fail_errno(h, errno, "read from", err);
		if ((rc = wait_for(h, POLLIN, err)) < 0)
			return rc;
	}
}

/* A reply that is no upgrade: its body read, as far as it says, then the engine's error. */
static int refused(
        struct hijack *h, const struct docker_head *head, size_t head_len, struct cd_error *err)
{
	struct docker_req *r = h->r;
	int rc = 1;

	while (rc > 0) {
		size_t have = h->in.len - head_len;
		if (head->content_length >= 0 && have >= (uint64_t)head->content_length)
			break;
		if (head->chunked && have >= 5 &&
		        memcmp(h->in.buf + h->in.len - 5, "0\r\n\r\n", 5) == 0)
			break;
		if ((rc = read_more(h, err)) < 0)
			return rc;
	}
	r->status = head->status;
	cd_buf_reset(&r->body);
	if (head->chunked)
		dechunk(h->in.buf + head_len, h->in.len - head_len, &r->body);
	else
		cd_buf_add(&r->body, h->in.buf + head_len,
		        head->content_length >= 0 &&
		                        (uint64_t)head->content_length < h->in.len - head_len
		                ? (size_t)head->content_length
		                : h->in.len - head_len);
	if (head->status >= 200 && head->status < 300)
		return docker_req_error(r, err, CD_EREMOTE,
		        "the engine answered without switching to a raw stream");
	return docker_fail(r, err);
}

/* Reads the head of the reply; 0 once the stream has begun (what followed the head handed on). */
static int read_head(struct hijack *h, struct cd_error *err)
{
	struct docker_head head;
	long head_len;
	int rc;

	for (;;) {
		head_len = docker_head_parse(h->in.buf, h->in.len, &head);
		if (head_len < 0)
			return docker_req_error(
			        h->r, err, CD_EREMOTE, "the engine's answer is not HTTP");
		if (head_len > 0)
			break;
		if ((rc = read_more(h, err)) < 0)
			return rc;
		if (rc == 0)
			return cd_error_set(err, CD_EREMOTE,
			        "%s: the Docker engine at %s closed the connection without "
			        "answering",
			        h->r->what, h->d->description);
	}
	if (head.status != 101 && !(head.status == 200 && head.raw_stream))
		return refused(h, &head, (size_t)head_len, err);
	h->r->status = head.status;
	/* The stream's first bytes may have come with the head. */
	if (h->in.len > (size_t)head_len &&
	        h->r->stream(h->r, h->in.buf + head_len, h->in.len - (size_t)head_len) < 0)
		return fail_callback(h, "the output's reader failed", err);
	return 0;
}

/* No more stdin: the write side is half-closed, which the process reads as EOF. */
static void end_stdin(struct hijack *h)
{
	h->out_done = 1;
	h->out_off = h->out_len = 0;
	if (shutdown(h->fd, SHUT_WR) < 0 && errno != ENOTCONN)
		cd_log_debug("docker: cannot half-close the stream to %s: %s", h->d->description,
		        strerror(errno));
}

/* stdin out, output in, until the engine ends the stream. */
static int pump(struct hijack *h, cd_docker_source source, void *opaque, struct cd_error *err)
{
	struct docker_req *r = h->r;
	char buf[HIJACK_IO];

	for (;;) {
		int revents;

		if (!h->out_done && h->out_off == h->out_len) {
			long n = source(opaque, h->out, HIJACK_IO, &r->cb_err);
			if (n < 0)
				return fail_callback(h, "the input's source failed", err);
			if (n == 0) {
				end_stdin(h);
			} else {
				h->out_off = 0;
				h->out_len = (size_t)n < HIJACK_IO ? (size_t)n : HIJACK_IO;
			}
		}
		revents = wait_for(h, POLLIN | (h->out_done ? 0 : POLLOUT), err);
		if (revents < 0)
			return revents;
		if (revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = recv(h->fd, buf, sizeof(buf), 0);
			if (n > 0 && r->stream(r, buf, (size_t)n) < 0)
				return fail_callback(h, "the output's reader failed", err);
			/* The engine ends the stream when the process has exited. */
			if (n == 0 || (n < 0 && errno == ECONNRESET))
				return 0;
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				return fail_errno(h, errno, "read from", err);
		}
		if (!h->out_done && (revents & (POLLOUT | POLLERR))) {
			ssize_t n = send(
			        h->fd, h->out + h->out_off, h->out_len - h->out_off, MSG_NOSIGNAL);
			if (n > 0)
				h->out_off += (size_t)n;
			else if (errno == EPIPE || errno == ECONNRESET)
				/* The process is gone without reading it all: its exit code tells.
				 */
				end_stdin(h);
			else if (errno != EAGAIN && errno != EINTR)
				return fail_errno(h, errno, "write to", err);
		}
	}
}

int docker_hijack(struct cd_docker *d, struct docker_req *r, cd_docker_source source, void *opaque,
        int64_t deadline, struct cd_error *err)
{
	struct hijack h = {.d = d, .r = r, .deadline = deadline};
	int64_t start = cd_time_mono_ms();
	char dur[32];
	int rc, flags;

	atomic_fetch_add(&d->calls, 1);
	atomic_fetch_add(&d->mutating, 1);
	r->status = 0;
	cd_error_release(&r->cb_err);
	if (!r->what)
		docker_req_what(r, "cannot talk to the Docker engine");
	h.timeout = deadline - start;
	h.fd = d->transport.open(d->transport.ctx, &r->cb_err);
	if (h.fd < 0) {
		if (!r->cb_err.msg)
			return cd_error_set(err, CD_EREMOTE,
			        "%s: cannot reach the Docker engine at %s", r->what,
			        d->description);
		return fail_callback(&h, "", err);
	}
	flags = fcntl(h.fd, F_GETFL);
	if (flags < 0 || fcntl(h.fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		rc = fail_errno(&h, errno, "use the connection to", err);
		close(h.fd);
		return rc;
	}
	cd_buf_init(&h.in, HIJACK_HEAD_MAX);
	h.out = cd_xmalloc(HIJACK_IO);
	rc = send_request(&h, err);
	if (rc == 0)
		rc = read_head(&h, err);
	cd_buf_release(&h.in);
	if (rc == 0)
		rc = pump(&h, source, opaque, err);
	free(h.out);
	close(h.fd);
	cd_log_debug("docker: %s %s (upgraded): %ld in %s", r->method, r->path.buf, r->status,
	        cd_duration_format(cd_time_mono_ms() - start, dur, sizeof(dur)));
	return rc;
}
