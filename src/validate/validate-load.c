/*
 * The load generator: a few threads, each driving its share of the
 * connections through one engine (validate-load-internal.h), so a 2-core
 * machine is spent on requests, not on thread switches or system calls.
 * Requests are numbered from one shared counter: the count bound and the
 * optional rate (request k starts no earlier than k / rate seconds after
 * the start) hold across threads. Latency is taken as a client sees it,
 * from handing the request over just before it is sent to reading its end
 * (as wrk does), kept in a histogram per thread and merged at the end.
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
#include "validate-load-internal.h"

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


int load_next_ticket(struct load_worker *w, uint64_t now, uint64_t *due)
{
	if (w->done)
		return -1;
	if (w->pending_ticket < 0)
		w->pending_ticket = atomic_fetch_add(&w->sh->next_ticket, 1);
	int may = load_may_start(w->sh, w->pending_ticket, now, due);
	if (may < 0) {
		w->done = 1;
		*due = UINT64_MAX;
	} else if (may > 0) {
		w->pending_ticket = -1;
	}
	return may;
}

void load_record(struct load_worker *w, long status, uint64_t started_us)
{
	struct cd_load_result *res = &w->res;
	uint64_t now = validate_mono_us();
	uint64_t us = now > started_us ? now - started_us : 0;
	res->requests++;
	int cls = status < 200 || status > 599 ? CD_CLASS_OTHER : (int)(status / 100) - 2;
	res->classes[cls]++;
	if (cls == CD_CLASS_OTHER || status >= 400)
		res->errors++;
	cd_hist_add(&res->hist, us);
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

/* Worker i of an engine's array of workers. */
static struct load_worker *load_worker_at(const struct load_engine *e, char *workers, int i)
{
	return (struct load_worker *)(void *)(workers + (size_t)i * e->worker_size);
}

/* Runs the workers, one thread each (on this one if no thread can be had), and merges their results. */
static void load_workers_run(const struct load_engine *e, char *workers, int n, struct cd_load_result *ret)
{
	pthread_t *threads = cd_xcalloc((size_t)n, sizeof(*threads));
	int started = 0;
	while (started < n && pthread_create(&threads[started], NULL, e->worker_main,
	                              load_worker_at(e, workers, started)) == 0)
		started++;
	if (!started)
		e->worker_main(load_worker_at(e, workers, 0));
	for (int i = 0; i < (started ? started : 1); i++) {
		struct load_worker *w = load_worker_at(e, workers, i);
		if (started)
			pthread_join(threads[i], NULL);
		ret->requests += w->res.requests;
		ret->errors += w->res.errors;
		for (int k = 0; k < CD_CLASS_N; k++)
			ret->classes[k] += w->res.classes[k];
		cd_hist_merge(&ret->hist, &w->res.hist);
	}
	free(threads);
}

/* The own client where it can serve: plain http, no proxy. */
static const struct load_engine *load_engine_for(const struct load_shared *sh)
{
	char *scheme = NULL;
	int plain = curl_url_get(sh->url, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	            strcasecmp(scheme, "http") == 0;
	curl_free(scheme);
	return plain && !sh->proxy_from_env ? &load_engine_raw : &load_engine_curl;
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
	sh.timeout_ms = spec->timeout_ms > 0 ? spec->timeout_ms : 10000;
	const struct load_engine *e = load_engine_for(&sh);
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
	char *workers = cd_xcalloc((size_t)threads, e->worker_size);
	int r = e->prepare(&sh, err), prepared = r == 0, inited = 0;
	for (int i = 0; i < threads && r == 0; i++, inited++) {
		struct load_worker *w = load_worker_at(e, workers, i);
		w->sh = &sh;
		w->connections = (int)(conc / threads + (i < conc % threads));
		w->pending_ticket = -1;
		cd_hist_init(&w->res.hist);
		if (e->worker_init(w) < 0)
			r = cd_error_set(err, CD_EIO, "load: epoll_create1: %s", strerror(errno));
	}
	if (r == 0) {
		sh.t0_us = validate_mono_us();
		sh.end_us = spec->deadline_ms > 0 ? (uint64_t)spec->deadline_ms * 1000u : UINT64_MAX;
		if (spec->duration_ms >= 0 && sh.t0_us + (uint64_t)spec->duration_ms * 1000u < sh.end_us)
			sh.end_us = sh.t0_us + (uint64_t)spec->duration_ms * 1000u;
		atomic_init(&sh.next_ticket, 0);
		memset(ret, 0, sizeof(*ret));
		cd_hist_init(&ret->hist);
		ret->engine = e->name;
		load_workers_run(e, workers, threads, ret);
		uint64_t elapsed_us = validate_mono_us() - sh.t0_us;
		ret->duration_ms = (int64_t)(elapsed_us / 1000u);
		ret->qps = elapsed_us > 0 ? (double)ret->requests * 1e6 / (double)elapsed_us : 0;
	}
	for (int i = 0; i < inited; i++)
		e->worker_release(load_worker_at(e, workers, i));
	if (prepared)
		e->finish(&sh);
	free(workers);
	curl_slist_free_all(sh.headers);
	curl_url_cleanup(sh.url);
	return r;
}
