/*
 * The load generator's libcurl engine, for every URL (https, a proxy): the
 * worker's connections go through one libcurl multi handle driven with
 * curl_multi_socket_action and epoll (validate-watch.c), so a 2-core
 * machine is spent on requests, not on thread switches or system calls.
 * Each connection keeps its easy handle for the whole run.
 */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "validate-internal.h"
#include "validate-load-internal.h"

struct curl_worker {
	struct load_worker base;
	CURLM *multi;
	struct validate_watch watch;
	CURL **easy;       /* one per connection; easy[i]'s private is &started[i] */
	CURLU **urls;      /* each easy handle's copy of the parsed URL (libcurl may write to it) */
	uint64_t *started; /* when each connection's request was handed to libcurl */
	CURL **idle;       /* the easy handles not in the multi handle */
	int n_idle, in_flight;
};

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

static CURL *curl_load_easy_new(struct curl_worker *w, int i)
{
	const struct load_shared *sh = w->base.sh;
	const struct cd_load_spec *s = sh->spec;
	CURL *c = curl_easy_init();
	if (!c || !(w->urls[i] = curl_url_dup(sh->url)))
		cd_oom();
	curl_easy_setopt(c, CURLOPT_CURLU, w->urls[i]);
	curl_easy_setopt(c, CURLOPT_PRIVATE, (void *)&w->started[i]);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(c, CURLOPT_DNS_CACHE_TIMEOUT,
	        -1L); /* a reconnection does not look the name up again */
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)sh->timeout_ms);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (!sh->proxy_from_env) {
		curl_easy_setopt(c, CURLOPT_PROXY, "");
		curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	}
	if (s->method && strcmp(s->method, "GET") != 0) {
		if (strcmp(s->method, "HEAD") == 0)
			curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
		else
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, s->method);
	}
	if (s->body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, s->body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(s->body));
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, sh->headers);
	validate_watch_easy(&w->watch, c);
	return c;
}

/*
 * Hands libcurl as many requests as idle connections, the count, the end
 * and the rate allow. Returns when the rate lets the next one start, or
 * UINT64_MAX when nothing waits on the rate.
 */
static uint64_t curl_load_start_due(struct curl_worker *w, uint64_t now)
{
	while (w->n_idle > 0) {
		uint64_t due = UINT64_MAX;
		if (load_next_ticket(&w->base, now, &due) <= 0)
			return due;
		CURL *c = w->idle[--w->n_idle];
		uint64_t *slot;
		curl_easy_getinfo(c, CURLINFO_PRIVATE, (char **)&slot);
		*slot = now; /* libcurl sends it in the next curl_multi_socket_action */
		curl_multi_add_handle(w->multi, c);
		w->in_flight++;
	}
	return UINT64_MAX;
}

/* After every curl_multi_socket_action: the requests that ended free their connection. */
static void curl_load_collect(void *ud)
{
	struct curl_worker *w = ud;
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(w->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		CURL *c = msg->easy_handle;
		uint64_t *slot;
		long status = 0;
		curl_easy_getinfo(c, CURLINFO_PRIVATE, (char **)&slot);
		if (msg->data.result == CURLE_OK)
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		load_record(&w->base, status, *slot);
		curl_multi_remove_handle(w->multi, c); /* msg is gone after this */
		w->idle[w->n_idle++] = c;
		w->in_flight--;
	}
}

static int curl_load_worker_init(struct load_worker *base)
{
	struct curl_worker *w = (struct curl_worker *)base;
	int connections = base->connections;
	if (!(w->multi = curl_multi_init()))
		cd_oom();
	if (validate_watch_init(&w->watch, w->multi, curl_load_collect, w) < 0) {
		curl_multi_cleanup(w->multi);
		w->multi = NULL;
		return -1;
	}
	/* The cache holds every connection, also when few requests are in flight. */
	curl_multi_setopt(w->multi, CURLMOPT_MAXCONNECTS, (long)connections);
	w->easy = cd_xcalloc((size_t)connections, sizeof(*w->easy));
	w->urls = cd_xcalloc((size_t)connections, sizeof(*w->urls));
	w->started = cd_xcalloc((size_t)connections, sizeof(*w->started));
	w->idle = cd_xcalloc((size_t)connections, sizeof(*w->idle));
	for (int i = 0; i < connections; i++)
		w->idle[w->n_idle++] = w->easy[i] = curl_load_easy_new(w, i);
	return 0;
}

static void curl_load_worker_release(struct load_worker *base)
{
	struct curl_worker *w = (struct curl_worker *)base;
	if (!w->multi)
		return;
	for (int i = 0; i < base->connections; i++)
		curl_multi_remove_handle(w->multi, w->easy[i]); /* a no-op for an idle one */
	/* The multi handle first: closing its cached connections still calls the watch. */
	curl_multi_cleanup(w->multi);
	for (int i = 0; i < base->connections; i++) {
		curl_easy_cleanup(w->easy[i]);
		curl_url_cleanup(w->urls[i]);
	}
	validate_watch_release(&w->watch);
	free(w->easy);
	free(w->urls);
	free(w->started);
	free(w->idle);
	w->multi = NULL;
}

static void *curl_load_worker_main(void *arg)
{
	struct curl_worker *w = arg;
	while (!w->base.done || w->in_flight) {
		uint64_t now = validate_mono_us();
		uint64_t next_start = curl_load_start_due(w, now);
		if (validate_watch_timer_due(&w->watch, now)) {
			validate_watch_run_timer(&w->watch); /* sends what was just added */
			continue;
		}
		if (w->base.done && !w->in_flight)
			break;
		validate_watch_wait(&w->watch, now, next_start);
	}
	return NULL;
}

static int curl_load_prepare(struct load_shared *sh, struct cd_error *err)
{
	(void)sh;
	(void)err;
	return 0;
}

static void curl_load_finish(struct load_shared *sh)
{
	(void)sh;
}

const struct load_engine load_engine_curl = {
	.name = "libcurl",
	.worker_size = sizeof(struct curl_worker),
	.prepare = curl_load_prepare,
	.finish = curl_load_finish,
	.worker_init = curl_load_worker_init,
	.worker_main = curl_load_worker_main,
	.worker_release = curl_load_worker_release,
};
