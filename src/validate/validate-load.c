/*
 * The load generator: a few threads, each driving its share of the
 * connections through one libcurl multi handle with curl_multi_socket_action
 * and epoll (validate-watch.c), so a 2-core machine is spent on requests,
 * not on thread switches or system calls. Each connection keeps its easy
 * handle for the whole run. Requests are numbered from one shared counter:
 * the count bound and the optional rate (request k starts no earlier than
 * k / rate seconds after the start) hold across threads. Latency is taken
 * as a client sees it, from handing the request to libcurl just before it
 * is sent to reading its end (as wrk does), kept in a histogram per thread
 * and merged at the end.
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "corpdeploy/validate.h"
#include "validate-internal.h"

struct load_shared {
	const struct cd_load_spec *spec;
	struct curl_slist *headers; /* the plan's, and the User-Agent unless the plan sets one */
	int proxy_from_env;         /* a proxy variable is set: libcurl's own rules apply */
	CURLU *url;                 /* parsed once: every request would parse it again */
	atomic_llong next_ticket;
	uint64_t t0_us, end_us; /* monotonic; end: no request starts at or after it */
};

/* One thread's share: its connections, each with its own easy handle, kept for the whole run. */
struct load_worker {
	struct load_shared *sh;
	int connections;
	struct cd_load_result res;
	pthread_t thread;
	CURLM *multi;
	struct validate_watch watch;
	CURL **easy;       /* one per connection; easy[i]'s private is &started[i] */
	CURLU **urls;      /* each easy handle's copy of the parsed URL (libcurl may write to it) */
	uint64_t *started; /* when each connection's request was handed to libcurl */
	CURL **idle;       /* the easy handles not in the multi handle */
	int n_idle, in_flight;
	long long pending_ticket; /* taken from the counter but not started yet; -1: none */
	int done;                 /* no request starts any more */
};

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

static CURL *load_easy_new(struct load_worker *w, int i)
{
	const struct load_shared *sh = w->sh;
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
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(s->timeout_ms > 0 ? s->timeout_ms : 10000));
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

/* May request number `ticket` start at now? 1 yes, 0 not yet (*due set), -1 never. */
static int load_may_start(
        const struct load_shared *sh, long long ticket, uint64_t now, uint64_t *due)
{
	const struct cd_load_spec *s = sh->spec;
	if (s->requests >= 0 && ticket >= s->requests)
		return -1;
	if (now >= sh->end_us)
		return -1;
	if (s->rate > 0) {
		*due = sh->t0_us + (uint64_t)((double)ticket * 1e6 / s->rate);
		if (*due >= sh->end_us)
			return -1;
		if (*due > now)
			return 0;
	}
	return 1;
}

/*
 * Hands libcurl as many requests as idle connections, the count, the end
 * and the rate allow. Returns when the rate lets the next one start, or
 * UINT64_MAX when nothing waits on the rate.
 */
static uint64_t load_start_due(struct load_worker *w, uint64_t now)
{
	while (!w->done && w->n_idle > 0) {
		uint64_t due = 0;
		if (w->pending_ticket < 0)
			w->pending_ticket = atomic_fetch_add(&w->sh->next_ticket, 1);
		int may = load_may_start(w->sh, w->pending_ticket, now, &due);
		if (may < 0)
			w->done = 1;
		if (may <= 0)
			return may < 0 ? UINT64_MAX : due;
		w->pending_ticket = -1;
		CURL *c = w->idle[--w->n_idle];
		uint64_t *slot;
		curl_easy_getinfo(c, CURLINFO_PRIVATE, (char **)&slot);
		*slot = now; /* libcurl sends it in the next curl_multi_socket_action */
		curl_multi_add_handle(w->multi, c);
		w->in_flight++;
	}
	return UINT64_MAX;
}

static void load_record(struct cd_load_result *res, CURL *c, CURLcode cc, uint64_t started_us)
{
	long status = 0;
	uint64_t now = validate_mono_us();
	uint64_t us = now > started_us ? now - started_us : 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	res->requests++;
	int cls = cc != CURLE_OK || status < 200 || status > 599 ? CD_CLASS_OTHER
	                                                         : (int)(status / 100) - 2;
	res->classes[cls]++;
	if (cls == CD_CLASS_OTHER || status >= 400)
		res->errors++;
	cd_hist_add(&res->hist, us);
}

/* After every curl_multi_socket_action: the requests that ended free their connection. */
static void load_collect(void *ud)
{
	struct load_worker *w = ud;
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(w->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		CURL *c = msg->easy_handle;
		uint64_t *slot;
		curl_easy_getinfo(c, CURLINFO_PRIVATE, (char **)&slot);
		load_record(&w->res, c, msg->data.result, *slot);
		curl_multi_remove_handle(w->multi, c); /* msg is gone after this */
		w->idle[w->n_idle++] = c;
		w->in_flight--;
	}
}

/* Everything a worker needs, made before its thread starts. -1 (errno set) without epoll. */
static int load_worker_init(struct load_worker *w, struct load_shared *sh, int connections)
{
	w->sh = sh;
	w->connections = connections;
	w->pending_ticket = -1;
	cd_hist_init(&w->res.hist);
	if (!(w->multi = curl_multi_init()))
		cd_oom();
	if (validate_watch_init(&w->watch, w->multi, load_collect, w) < 0) {
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
		w->idle[w->n_idle++] = w->easy[i] = load_easy_new(w, i);
	return 0;
}

static void load_worker_release(struct load_worker *w)
{
	if (!w->multi)
		return;
	for (int i = 0; i < w->connections; i++)
		curl_multi_remove_handle(w->multi, w->easy[i]); /* a no-op for an idle one */
	/* The multi handle first: closing its cached connections still calls the watch. */
	curl_multi_cleanup(w->multi);
	for (int i = 0; i < w->connections; i++) {
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

static void *load_worker_main(void *arg)
{
	struct load_worker *w = arg;
	while (!w->done || w->in_flight) {
		uint64_t now = validate_mono_us();
		uint64_t next_start = load_start_due(w, now);
		if (validate_watch_timer_due(&w->watch, now)) {
			validate_watch_run_timer(&w->watch); /* sends what was just added */
			continue;
		}
		if (w->done && !w->in_flight)
			break;
		validate_watch_wait(&w->watch, now, next_start);
	}
	return NULL;
}

/*
 * libcurl reads five proxy variables again for every request (3 to 5% of a
 * request's instructions): when none of those it would read is set, there
 * is no proxy, and the easy handles say so once.
 */
static int load_env_names_proxy(const char *url)
{
	static const char *const http[] = {"http_proxy", "all_proxy", "ALL_PROXY"};
	static const char *const https[] = {"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"};
	int tls = strncasecmp(url, "https:", 6) == 0;
	const char *const *names = tls ? https : http;
	size_t n = tls ? CD_ARRAY_SIZE(https) : CD_ARRAY_SIZE(http);
	for (size_t i = 0; i < n; i++) {
		const char *v = getenv(names[i]);
		if (v && *v)
			return 1;
	}
	return 0;
}

/*
 * The plan's headers, and corpdeploy's User-Agent unless the plan gives
 * one: in this list libcurl copies it into each request as it is, where
 * CURLOPT_USERAGENT would format a header anew each time.
 */
static struct curl_slist *load_headers(const struct cd_kvs *kvs)
{
	struct curl_slist *list = NULL;
	int has_agent = 0;
	for (size_t i = 0; kvs && i < kvs->n; i++) {
		char *h = cd_xasprintf("%s: %s", kvs->items[i].key, kvs->items[i].value);
		struct curl_slist *n = curl_slist_append(list, h);
		free(h);
		if (!n)
			cd_oom();
		list = n;
		has_agent |= strcasecmp(kvs->items[i].key, "User-Agent") == 0;
	}
	if (!has_agent) {
		struct curl_slist *n = curl_slist_append(list, "User-Agent: corpdeploy-load");
		if (!n)
			cd_oom();
		list = n;
	}
	return list;
}

int cd_load_run(const struct cd_load_spec *spec, struct cd_load_result *ret, struct cd_error *err)
{
	if (!spec->url || strncmp(spec->url, "http", 4) != 0)
		return cd_error_set(err, CD_EUSAGE, "load: expected an http(s) URL, got '%s'",
		        spec->url ? spec->url : "");
	if (spec->requests < 0 && spec->duration_ms < 0)
		return cd_error_set(err, CD_EUSAGE, "load: needs requests or a duration");
	validate_curl_init();
	struct load_shared sh = {.spec = spec, .url = curl_url()};
	if (!sh.url)
		cd_oom();
	CURLUcode uc = curl_url_set(sh.url, CURLUPART_URL, spec->url, 0);
	if (uc != CURLUE_OK) {
		curl_url_cleanup(sh.url);
		return cd_error_set(err, CD_EUSAGE, "load: cannot use URL '%s': %s", spec->url,
		        curl_url_strerror(uc));
	}
	sh.headers = load_headers(spec->headers);
	sh.proxy_from_env = load_env_names_proxy(spec->url);
	int64_t conc = spec->concurrency > 0 ? spec->concurrency : 1;
	int threads = spec->threads;
	if (threads <= 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		threads = cpus > 0 ? (int)cpus : 1;
	}
	if (threads > conc)
		threads = (int)conc;
	if (threads > 64)
		threads = 64;
	struct load_worker *w = cd_xcalloc((size_t)threads, sizeof(*w));
	int r = 0;
	for (int i = 0; i < threads && r == 0; i++)
		if (load_worker_init(&w[i], &sh, (int)(conc / threads + (i < conc % threads))) < 0)
			r = cd_error_set(err, CD_EIO, "load: epoll_create1: %s", strerror(errno));
	if (r < 0) {
		for (int i = 0; i < threads; i++)
			load_worker_release(&w[i]);
		free(w);
		curl_slist_free_all(sh.headers);
		curl_url_cleanup(sh.url);
		return r;
	}
	sh.t0_us = validate_mono_us();
	sh.end_us = spec->deadline_ms > 0 ? (uint64_t)spec->deadline_ms * 1000u : UINT64_MAX;
	if (spec->duration_ms >= 0 && sh.t0_us + (uint64_t)spec->duration_ms * 1000u < sh.end_us)
		sh.end_us = sh.t0_us + (uint64_t)spec->duration_ms * 1000u;
	atomic_init(&sh.next_ticket, 0);
	int started = 0;
	for (int i = 0; i < threads; i++) {
		if (pthread_create(&w[i].thread, NULL, load_worker_main, &w[i]) == 0)
			started++;
		else
			break;
	}
	if (!started) { /* no thread to be had: the work is done on this one */
		load_worker_main(&w[0]);
	}
	memset(ret, 0, sizeof(*ret));
	cd_hist_init(&ret->hist);
	for (int i = 0; i < (started ? started : 1); i++) {
		if (started)
			pthread_join(w[i].thread, NULL);
		ret->requests += w[i].res.requests;
		ret->errors += w[i].res.errors;
		for (int k = 0; k < CD_CLASS_N; k++)
			ret->classes[k] += w[i].res.classes[k];
		cd_hist_merge(&ret->hist, &w[i].res.hist);
	}
	uint64_t elapsed_us = validate_mono_us() - sh.t0_us;
	ret->duration_ms = (int64_t)(elapsed_us / 1000u);
	ret->qps = elapsed_us > 0 ? (double)ret->requests * 1e6 / (double)elapsed_us : 0;
	for (int i = 0; i < threads; i++)
		load_worker_release(&w[i]);
	free(w);
	curl_slist_free_all(sh.headers);
	curl_url_cleanup(sh.url);
	return 0;
}
