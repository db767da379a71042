/*
 * The sockets of one load worker's multi handle, watched with epoll and
 * driven with curl_multi_socket_action. libcurl stops watching a kept-alive
 * connection when its response is in and watches it again for the next
 * request: the epoll registration is kept across that gap (two epoll_ctl
 * calls fewer per request) and dropped only if the idle socket wakes epoll
 * or when it is closed, which this module sees because it opens and closes
 * the sockets itself.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "corpdeploy/core.h"
#include "validate-internal.h"

struct validate_watch_sock {
	uint32_t registered;  /* the epoll events set for it; 0: not in the epoll set */
	unsigned char wanted; /* CURL_POLL_IN/OUT/INOUT libcurl wants now; 0: none */
	unsigned char ours;   /* opened by watch_open: its close passes through watch_close */
};

uint64_t validate_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static struct validate_watch_sock *watch_sock(struct validate_watch *w, curl_socket_t s)
{
	size_t fd = (size_t)s;
	if (fd >= w->n_socks) {
		size_t n = w->n_socks ? w->n_socks : 64;
		while (n <= fd)
			n *= 2;
		w->socks = cd_xreallocarray(w->socks, n, sizeof(*w->socks));
		memset(w->socks + w->n_socks, 0, (n - w->n_socks) * sizeof(*w->socks));
		w->n_socks = n;
	}
	return &w->socks[fd];
}

static void watch_unregister(
        struct validate_watch *w, curl_socket_t s, struct validate_watch_sock *ws)
{
	if (ws->registered)
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, s, NULL);
	ws->registered = 0;
}

static int watch_socket(CURL *easy, curl_socket_t s, int what, void *ud, void *socketp)
{
	struct validate_watch *w = ud;
	(void)easy;
	(void)socketp;
	struct validate_watch_sock *ws = watch_sock(w, s);
	if (what == CURL_POLL_REMOVE) {
		ws->wanted = 0;
		/* A socket of ours is kept in the set while idle; another one may be
		 * closed without this module knowing, so it leaves the set now. */
		if (!ws->ours)
			watch_unregister(w, s, ws);
		return 0;
	}
	ws->wanted = (unsigned char)what;
	uint32_t events =
	        (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
	if (events == ws->registered)
		return 0;
	struct epoll_event ev = {.events = events, .data.fd = s};
	if (epoll_ctl(w->epfd, ws->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s, &ev) < 0)
		return -1; /* libcurl fails the transfers of this multi handle */
	ws->registered = events;
	return 0;
}

static int watch_timer(CURLM *multi, long timeout_ms, void *ud)
{
	struct validate_watch *w = ud;
	(void)multi;
	/* 0 (run now) is the common case, after every added request: no clock read for it. */
	if (timeout_ms < 0)
		w->timer_us = -1;
	else if (timeout_ms == 0)
		w->timer_us = 0;
	else
		w->timer_us = (int64_t)(validate_mono_us() + (uint64_t)timeout_ms * 1000u);
	return 0;
}

static curl_socket_t watch_open(void *ud, curlsocktype purpose, struct curl_sockaddr *addr)
{
	struct validate_watch *w = ud;
	(void)purpose;
	int s = socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
	if (s < 0)
		return CURL_SOCKET_BAD;
	struct validate_watch_sock *ws = watch_sock(w, s);
	memset(ws, 0, sizeof(*ws));
	ws->ours = 1;
	return s;
}

static int watch_close(void *ud, curl_socket_t s)
{
	struct validate_watch *w = ud;
	/* close() takes the socket out of the epoll set: the next socket given
	 * this number starts unregistered. */
	memset(watch_sock(w, s), 0, sizeof(struct validate_watch_sock));
	return close(s);
}

int validate_watch_init(struct validate_watch *w, CURLM *multi, void (*after)(void *), void *ud)
{
	memset(w, 0, sizeof(*w));
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0)
		return -1;
	w->multi = multi;
	w->timer_us = -1;
	w->after = after;
	w->after_ud = ud;
	curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, watch_socket);
	curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, w);
	curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, watch_timer);
	curl_multi_setopt(multi, CURLMOPT_TIMERDATA, w);
	return 0;
}

void validate_watch_easy(struct validate_watch *w, CURL *easy)
{
	curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, watch_open);
	curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, w);
	curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, watch_close);
	curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, w);
}

void validate_watch_release(struct validate_watch *w)
{
	if (w->epfd >= 0)
		close(w->epfd);
	w->epfd = -1;
	free(w->socks);
	w->socks = NULL;
	w->n_socks = 0;
}

int validate_watch_timer_due(const struct validate_watch *w, uint64_t now_us)
{
	return w->timer_us >= 0 && (uint64_t)w->timer_us <= now_us;
}

void validate_watch_run_timer(struct validate_watch *w)
{
	int running;
	/* One-shot, as libcurl expects: it sets the next one from inside the call. */
	w->timer_us = -1;
	curl_multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	w->after(w->after_ud);
}

static void watch_event(struct validate_watch *w, const struct epoll_event *ev)
{
	curl_socket_t s = ev->data.fd;
	struct validate_watch_sock *ws = watch_sock(w, s);
	/* Idle in libcurl's cache and readable: most likely closed by the server. */
	if (!ws->wanted) {
		watch_unregister(w, s, ws);
		return;
	}
	int bits = 0, running;
	if (ev->events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		bits |= CURL_CSELECT_IN;
	if (ev->events & EPOLLOUT)
		bits |= CURL_CSELECT_OUT;
	if (ev->events & EPOLLERR)
		bits |= CURL_CSELECT_ERR;
	/* The exact bits matter: with none, libcurl polls the socket once more itself. */
	curl_multi_socket_action(w->multi, s, bits, &running);
	w->after(w->after_ud);
}

int validate_epoll_wait(int epfd, struct epoll_event *evs, int n, uint64_t now_us, uint64_t until_us)
{
	uint64_t until = until_us;
	/* A bound on every wait, so that nothing overlooked can stall the run. */
	if (until > now_us + 1000000u)
		until = now_us + 1000000u;
	uint64_t wait_us = until > now_us ? until - now_us : 0;
	/* In microseconds: at thousands of requests a second, the rate holds each back < 1 ms. */
	struct timespec ts = {(time_t)(wait_us / 1000000u), (long)(wait_us % 1000000u) * 1000};
	int got = epoll_pwait2(epfd, evs, n, &ts, NULL);
	if (got < 0 && errno == ENOSYS) /* a kernel before 5.11 */
		got = epoll_wait(epfd, evs, n, (int)((wait_us + 999) / 1000));
	return got;
}

void validate_watch_wait(struct validate_watch *w, uint64_t now_us, uint64_t until_us)
{
	struct epoll_event evs[64];
	uint64_t until = until_us;
	if (w->timer_us >= 0 && (uint64_t)w->timer_us < until)
		until = (uint64_t)w->timer_us;
	int n = validate_epoll_wait(w->epfd, evs, (int)CD_ARRAY_SIZE(evs), now_us, until);
	for (int i = 0; i < n; i++)
		watch_event(w, &evs[i]);
}
