/* Shared inside src/validate only. */
#ifndef CORPDEPLOY_VALIDATE_INTERNAL_H
#define CORPDEPLOY_VALIDATE_INTERNAL_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>

/* libcurl's global setup, once per process, before any thread uses it. */
void validate_curl_init(void);

/* CLOCK_MONOTONIC in microseconds (a vDSO call, no system call). */
uint64_t validate_mono_us(void);

/*
 * A multi handle driven through epoll (validate-watch.c). One per thread;
 * after(ud) runs after every curl_multi_socket_action, to collect what ended.
 */
struct validate_watch_sock;
struct validate_watch {
	int epfd;
	CURLM *multi;     /* borrowed */
	int64_t timer_us; /* when libcurl wants its timeout run (monotonic µs); -1: never */
	struct validate_watch_sock *socks; /* indexed by socket number */
	size_t n_socks;
	void (*after)(void *ud);
	void *after_ud;
};

/* Sets the multi handle's socket and timer callbacks. -1 (errno set) when epoll cannot be had. */
int validate_watch_init(struct validate_watch *w, CURLM *multi, void (*after)(void *), void *ud);
/* Every easy handle added to the multi handle opens and closes its sockets through w. */
void validate_watch_easy(struct validate_watch *w, CURL *easy);
/* Closes the epoll descriptor; the multi handle is the caller's. */
void validate_watch_release(struct validate_watch *w);
/* Is libcurl's timeout due at now_us? Then validate_watch_run_timer runs it. */
int validate_watch_timer_due(const struct validate_watch *w, uint64_t now_us);
void validate_watch_run_timer(struct validate_watch *w);
/*
 * Waits for socket activity until until_us at the latest (sooner if
 * libcurl's timeout comes first) and hands what happened to libcurl.
 */
void validate_watch_wait(struct validate_watch *w, uint64_t now_us, uint64_t until_us);

/*
 * epoll_wait until until_us at the latest (monotonic µs; at most a second
 * from now_us), to the microsecond where the kernel allows.
 */
int validate_epoll_wait(int epfd, struct epoll_event *evs, int n, uint64_t now_us, uint64_t until_us);

#endif
