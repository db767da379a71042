/*
 * The load generator's own HTTP/1.1 client, for plain http:// without a
 * proxy. libcurl spends some 60,000 instructions on a request (a third of
 * them writing its text anew each time); here the request's bytes are
 * written once per run and sent with one send(), and the answer is framed
 * by validate-http-response.c without being kept, which brings the cost of a
 * request near that of wrk. Each worker has its own epoll set and its
 * connections: non-blocking sockets with TCP_NODELAY to the one address
 * resolved before the run, kept alive between requests and opened again
 * when the server closes them or a request fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "validate-http-response.h"
#include "validate-internal.h"
#include "validate-load-internal.h"

/* Holds any line the parser must see whole (HTTP_RESPONSE_LINE_MAX), with room to spare. */
#define RAW_BUF_SIZE (2 * HTTP_RESPONSE_LINE_MAX)

struct raw_shared {
	char *request; /* the whole request, body included */
	size_t request_len;
	int head; /* the method is HEAD: no answer has a body */
	struct sockaddr_storage addr;
	socklen_t addrlen; /* 0: the name did not resolve; every request fails */
	int first_fd;      /* the connection that found the address, for the first worker; -1: none */
};

enum raw_state { RAW_IDLE, RAW_CONNECTING, RAW_SENDING, RAW_READING };

struct raw_conn {
	int fd; /* -1: closed */
	enum raw_state state;
	uint32_t events; /* registered with epoll; 0: not registered */
	int reused;      /* carried an answer before: the server may have closed it meanwhile */
	int retried;     /* this request was sent again on a new connection once */
	int answered;    /* bytes of this request's answer arrived */
	size_t sent;
	uint64_t started, deadline;
	struct http_response resp;
	size_t len; /* of buf, not yet used by the parser */
	char buf[RAW_BUF_SIZE];
};

struct raw_worker {
	struct load_worker base;
	int epfd;
	struct raw_conn *conns;
	int *idle; /* indices into conns */
	int n_idle, in_flight;
	uint64_t next_sweep, sweep_us; /* timeouts are looked for every sweep_us */
};

static const struct raw_shared *raw_sh(const struct raw_worker *w)
{
	return w->base.sh->engine;
}

static void raw_close(struct raw_conn *c)
{
	if (c->fd >= 0)
		close(c->fd); /* also leaves the epoll set */
	c->fd = -1;
	c->events = 0;
	c->reused = 0;
}

/* Registers the events wanted on the connection's socket, if they changed. */
static int raw_watch(struct raw_worker *w, struct raw_conn *c, uint32_t events)
{
	if (events == c->events)
		return 0;
	struct epoll_event ev = {.events = events, .data.u32 = (uint32_t)(c - w->conns)};
	if (epoll_ctl(w->epfd, c->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev) < 0)
		return -1;
	c->events = events;
	return 0;
}

/* The connection is free for the next ticket. */
static void raw_release(struct raw_worker *w, struct raw_conn *c)
{
	c->state = RAW_IDLE;
	w->idle[w->n_idle++] = (int)(c - w->conns);
	w->in_flight--;
}

static void raw_transmit(struct raw_worker *w, struct raw_conn *c);

/*
 * The request got no answer. A kept-alive connection the server closed just
 * before the request reached it is no failure of the server: the request
 * goes once more on a new connection, as libcurl does.
 */
static void raw_fail(struct raw_worker *w, struct raw_conn *c)
{
	int again = c->reused && !c->answered && !c->retried;
	raw_close(c);
	if (again) {
		c->retried = 1;
		raw_transmit(w, c);
		return;
	}
	load_record(&w->base, 0, c->started);
	raw_release(w, c);
}

/*
 * The answer is in. Bytes after it were never asked for, and an answer
 * before the whole request was sent leaves the rest unsent: either way the
 * connection is of no further use.
 */
static void raw_done(struct raw_worker *w, struct raw_conn *c, size_t extra)
{
	load_record(&w->base, c->resp.status, c->started);
	if (!c->resp.keep_alive || extra || c->sent < raw_sh(w)->request_len)
		raw_close(c);
	else
		c->reused = 1;
	raw_release(w, c);
}

static void raw_send(struct raw_worker *w, struct raw_conn *c)
{
	const struct raw_shared *rs = raw_sh(w);
	while (c->sent < rs->request_len) {
		ssize_t n = send(c->fd, rs->request + c->sent, rs->request_len - c->sent, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (raw_watch(w, c, EPOLLIN | EPOLLOUT) < 0)
				raw_fail(w, c);
			return;
		}
		if (n < 0) {
			raw_fail(w, c);
			return;
		}
		c->sent += (size_t)n;
	}
	c->state = RAW_READING;
	if (raw_watch(w, c, EPOLLIN) < 0)
		raw_fail(w, c);
}

/* A non-blocking socket with TCP_NODELAY: requests go out as they are sent. */
static int raw_socket(int family)
{
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* A socket to the address: 0 connected, 1 connecting, -1 failed. */
static int raw_open(struct raw_worker *w, struct raw_conn *c)
{
	const struct raw_shared *rs = raw_sh(w);
	if (!rs->addrlen)
		return -1;
	if ((c->fd = raw_socket(rs->addr.ss_family)) < 0)
		return -1;
	int r = connect(c->fd, (const struct sockaddr *)&rs->addr, rs->addrlen);
	if (r < 0 && errno != EINPROGRESS)
		return -1;
	if (raw_watch(w, c, r < 0 ? EPOLLIN | EPOLLOUT : EPOLLIN) < 0)
		return -1;
	return r < 0;
}

/* Sends the request, on a new connection if there is none. */
static void raw_transmit(struct raw_worker *w, struct raw_conn *c)
{
	http_response_start(&c->resp, raw_sh(w)->head);
	c->len = 0;
	c->sent = 0;
	c->answered = 0;
	if (c->fd < 0) {
		int r = raw_open(w, c);
		if (r < 0) {
			raw_fail(w, c);
			return;
		}
		if (r > 0) {
			c->state = RAW_CONNECTING;
			return;
		}
	}
	c->state = RAW_SENDING;
	raw_send(w, c);
}

/* The socket is writable (or failed) while connecting. */
static void raw_connected(struct raw_worker *w, struct raw_conn *c)
{
	int e = 0;
	socklen_t len = sizeof(e);
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0 || e) {
		raw_fail(w, c);
		return;
	}
	c->state = RAW_SENDING;
	raw_send(w, c);
}

static void raw_readable(struct raw_worker *w, struct raw_conn *c)
{
	if (c->state == RAW_IDLE) { /* a kept-alive connection the server closed */
		raw_close(c);
		return;
	}
	ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			raw_fail(w, c);
		return;
	}
	if (n == 0) {
		http_response_eof(&c->resp);
		if (c->resp.state == HTTP_RESPONSE_DONE)
			raw_done(w, c, 0);
		else
			raw_fail(w, c);
		return;
	}
	c->answered = 1;
	c->len += (size_t)n;
	size_t used = http_response_feed(&c->resp, c->buf, c->len);
	if (c->resp.state == HTTP_RESPONSE_BAD) {
		c->retried = 1; /* an answer, if a broken one: the request is not sent again */
		raw_fail(w, c);
		return;
	}
	c->len -= used;
	if (c->resp.state == HTTP_RESPONSE_DONE)
		raw_done(w, c, c->len);
	else if (c->len)
		memmove(c->buf, c->buf + used, c->len);
}

static void raw_event(struct raw_worker *w, const struct epoll_event *ev)
{
	struct raw_conn *c = &w->conns[ev->data.u32];
	if (c->state == RAW_CONNECTING)
		raw_connected(w, c);
	else if (c->state == RAW_SENDING && (ev->events & EPOLLOUT))
		raw_send(w, c);
	else if (ev->events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		raw_readable(w, c);
}

/* Requests still unanswered at their deadline fail, and are not sent again. */
static void raw_sweep(struct raw_worker *w, uint64_t now)
{
	for (int i = 0; i < w->base.connections; i++) {
		struct raw_conn *c = &w->conns[i];
		if (c->state != RAW_IDLE && c->deadline <= now) {
			c->retried = 1;
			raw_fail(w, c);
		}
	}
}

/*
 * Starts as many requests as there are idle connections and the count, the
 * end and the rate allow; a connection that fails at once waits for the next
 * round, when the clock has moved on. Returns when the rate lets the next
 * one start, or UINT64_MAX.
 */
static uint64_t raw_start_due(struct raw_worker *w, uint64_t now)
{
	for (int n = w->n_idle; n > 0; n--) {
		uint64_t due = UINT64_MAX;
		if (load_next_ticket(&w->base, now, &due) <= 0)
			return due;
		struct raw_conn *c = &w->conns[w->idle[--w->n_idle]];
		w->in_flight++;
		c->started = now;
		c->deadline = now + (uint64_t)w->base.sh->timeout_ms * 1000u;
		c->retried = 0;
		raw_transmit(w, c);
	}
	return UINT64_MAX;
}

static void *raw_worker_main(void *arg)
{
	struct raw_worker *w = arg;
	struct epoll_event evs[64];
	while (!w->base.done || w->in_flight) {
		uint64_t now = validate_mono_us();
		uint64_t until = raw_start_due(w, now);
		if (now >= w->next_sweep) {
			raw_sweep(w, now);
			w->next_sweep = now + w->sweep_us;
		}
		if (w->base.done && !w->in_flight)
			break;
		if (w->in_flight && w->next_sweep < until)
			until = w->next_sweep;
		int n = validate_epoll_wait(w->epfd, evs, (int)CD_ARRAY_SIZE(evs), now, until);
		for (int i = 0; i < n; i++)
			raw_event(w, &evs[i]);
	}
	return NULL;
}

static int raw_worker_init(struct load_worker *base)
{
	struct raw_worker *w = (struct raw_worker *)base;
	int n = base->connections;
	w->conns = cd_xcalloc((size_t)n, sizeof(*w->conns));
	w->idle = cd_xcalloc((size_t)n, sizeof(*w->idle));
	for (int i = 0; i < n; i++) {
		w->conns[i].fd = -1;
		w->idle[w->n_idle++] = i;
	}
	/* A tenth of the timeout late at most, and no busier than every 100 ms. */
	w->sweep_us = (uint64_t)base->sh->timeout_ms * 100u;
	if (w->sweep_us > 100000u)
		w->sweep_us = 100000u;
	if (w->sweep_us < 1000u)
		w->sweep_us = 1000u;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0)
		return -1;
	/* The connection that found the address is the first worker's first: no server sees one wasted. */
	struct raw_shared *rs = base->sh->engine;
	if (rs->first_fd >= 0) {
		w->conns[0].fd = rs->first_fd;
		w->conns[0].reused = 1; /* opened a while ago: the server may have closed it since */
		rs->first_fd = -1;
		if (raw_watch(w, &w->conns[0], EPOLLIN) < 0)
			raw_close(&w->conns[0]);
	}
	return 0;
}

static void raw_worker_release(struct load_worker *base)
{
	struct raw_worker *w = (struct raw_worker *)base;
	for (int i = 0; w->conns && i < base->connections; i++)
		raw_close(&w->conns[i]);
	if (w->epfd >= 0)
		close(w->epfd);
	free(w->conns);
	free(w->idle);
	w->conns = NULL;
	w->idle = NULL;
	w->epfd = -1;
}

/* A connection to ai opened within the timeout, or -1. The run's connections then go there. */
static int raw_reachable(const struct addrinfo *ai, int64_t timeout_ms)
{
	int fd = raw_socket(ai->ai_family);
	if (fd < 0)
		return -1;
	int ok = connect(fd, ai->ai_addr, ai->ai_addrlen) == 0;
	if (!ok && errno == EINPROGRESS) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		int e = 0;
		socklen_t len = sizeof(e);
		ok = poll(&p, 1, (int)timeout_ms) == 1 &&
		     getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) == 0 && e == 0;
	}
	if (!ok) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The first address of the URL's host that accepts a connection, else its first address. */
static void raw_resolve(struct raw_shared *rs, const char *host, const char *port, int64_t timeout_ms)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *list = NULL;
	if (getaddrinfo(host, port, &hints, &list) != 0)
		return;
	const struct addrinfo *pick = list;
	for (const struct addrinfo *ai = list; ai; ai = ai->ai_next)
		if ((rs->first_fd = raw_reachable(ai, timeout_ms)) >= 0) {
			pick = ai;
			break;
		}
	if (pick && pick->ai_addrlen <= sizeof(rs->addr)) {
		memcpy(&rs->addr, pick->ai_addr, pick->ai_addrlen);
		rs->addrlen = pick->ai_addrlen;
	}
	freeaddrinfo(list);
}

/* Does the plan's list set this header itself? */
static int raw_has_header(const struct curl_slist *h, const char *name)
{
	size_t n = strlen(name);
	for (; h; h = h->next)
		if (strncasecmp(h->data, name, n) == 0 && h->data[n] == ':')
			return 1;
	return 0;
}

/*
 * The request as libcurl would write it for the same step: request line,
 * Host, the plan's headers with the User-Agent, Accept: * / * and, with a
 * body, its Content-Type and Content-Length unless the plan sets them.
 */
static void raw_request(struct raw_shared *rs, const struct load_shared *sh, const char *host,
        const char *port, const char *path, const char *query)
{
	const struct cd_load_spec *s = sh->spec;
	const char *method = s->method ? s->method : s->body ? "POST" : "GET";
	struct cd_buf b = CD_BUF_INIT;
	cd_buf_addf(&b, "%s %s%s%s HTTP/1.1\r\n", method, path, query ? "?" : "", query ? query : "");
	if (!raw_has_header(sh->headers, "Host"))
		cd_buf_addf(&b, "Host: %s%s%s\r\n", host, strcmp(port, "80") ? ":" : "",
		        strcmp(port, "80") ? port : "");
	if (!raw_has_header(sh->headers, "Accept"))
		cd_buf_adds(&b, "Accept: */*\r\n");
	for (const struct curl_slist *h = sh->headers; h; h = h->next)
		cd_buf_addf(&b, "%s\r\n", h->data);
	if (s->body) {
		if (!raw_has_header(sh->headers, "Content-Type"))
			cd_buf_adds(&b, "Content-Type: application/x-www-form-urlencoded\r\n");
		cd_buf_addf(&b, "Content-Length: %zu\r\n", strlen(s->body));
	}
	cd_buf_adds(&b, "\r\n");
	if (s->body)
		cd_buf_adds(&b, s->body);
	rs->request_len = b.len;
	rs->request = cd_buf_detach(&b);
	rs->head = strcmp(method, "HEAD") == 0;
}

static int raw_prepare(struct load_shared *sh, struct cd_error *err)
{
	char *host = NULL, *port = NULL, *path = NULL, *query = NULL;
	if (curl_url_get(sh->url, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	        curl_url_get(sh->url, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
	        curl_url_get(sh->url, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
		curl_free(host);
		curl_free(port);
		return cd_error_set(err, CD_EUSAGE, "load: no host in URL '%s'", sh->spec->url);
	}
	if (curl_url_get(sh->url, CURLUPART_QUERY, &query, 0) != CURLUE_OK)
		query = NULL;
	struct raw_shared *rs = cd_xcalloc(1, sizeof(*rs));
	rs->first_fd = -1;
	raw_request(rs, sh, host, port, path, query);
	/* getaddrinfo wants an IPv6 address without the URL's brackets. */
	size_t hl = strlen(host);
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		raw_resolve(rs, host + 1, port, sh->timeout_ms);
	} else {
		raw_resolve(rs, host, port, sh->timeout_ms);
	}
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_free(query);
	sh->engine = rs;
	return 0;
}

static void raw_finish(struct load_shared *sh)
{
	struct raw_shared *rs = sh->engine;
	if (rs->first_fd >= 0)
		close(rs->first_fd);
	free(rs->request);
	free(rs);
	sh->engine = NULL;
}

const struct load_engine load_engine_raw = {
	.name = "http/1.1 own client",
	.worker_size = sizeof(struct raw_worker),
	.prepare = raw_prepare,
	.finish = raw_finish,
	.worker_init = raw_worker_init,
	.worker_main = raw_worker_main,
	.worker_release = raw_worker_release,
};
