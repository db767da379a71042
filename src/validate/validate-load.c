/*
 * The load generator: a few threads, each driving its share of the
 * connections through one libcurl multi handle, so a 2-core machine is not
 * spent on thread switches. Requests are numbered from one shared counter:
 * the count bound and the optional rate (request k starts no earlier than
 * k / rate seconds after the start) hold across threads. Latency is taken
 * as a client sees it, from handing the request to libcurl to reading its
 * end (as wrk does), kept in a histogram per thread and merged at the end.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "corpdeploy/validate.h"
#include "validate-internal.h"

struct load_shared {
	const struct cd_load_spec *spec;
	struct curl_slist *headers;
	CURLU *url; /* parsed once: every request would parse it again */
	atomic_llong next_ticket;
	int64_t t0_ms, end_ms; /* end: monotonic time no request starts after */
};

struct load_worker {
	struct load_shared *sh;
	int connections;
	struct cd_load_result res;
	pthread_t thread;
};

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

/* u: this connection's own copy of the parsed URL (libcurl may write to it). */
static CURL *load_easy_new(const struct load_shared *sh, CURLU *u)
{
	const struct cd_load_spec *s = sh->spec;
	CURL *c = curl_easy_init();
	if (!c)
		cd_oom();
	curl_easy_setopt(c, CURLOPT_CURLU, u);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(s->timeout_ms > 0 ? s->timeout_ms : 10000));
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "corpdeploy-load");
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
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
	if (sh->headers)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, sh->headers);
	return c;
}

/* May request number `ticket` start now? 1 yes, 0 not yet (*wait_ms set), -1 never. */
static int load_may_start(const struct load_shared *sh, long long ticket, int64_t now,
	int64_t *wait_ms)
{
	const struct cd_load_spec *s = sh->spec;
	if (s->requests >= 0 && ticket >= s->requests)
		return -1;
	if (now >= sh->end_ms)
		return -1;
	if (s->rate > 0) {
		int64_t due = sh->t0_ms + (int64_t)((double)ticket * 1000.0 / s->rate);
		if (due > now) {
			*wait_ms = due - now;
			return 0;
		}
	}
	return 1;
}

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void load_record(struct cd_load_result *res, CURL *c, CURLcode cc, uint64_t started_us)
{
	long status = 0;
	uint64_t now = mono_us();
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

static void *load_worker_main(void *arg)
{
	struct load_worker *w = arg;
	struct load_shared *sh = w->sh;
	CURLM *m = curl_multi_init();
	CURL **idle = cd_xcalloc((size_t)w->connections, sizeof(*idle));
	/* When each connection's request started; the easy handle's private points at its slot. */
	uint64_t *started = cd_xcalloc((size_t)w->connections, sizeof(*started));
	CURLU **urls = cd_xcalloc((size_t)w->connections, sizeof(*urls));
	int n_idle = 0, running = 0, in_flight = 0;
	long long pending_ticket = -1; /* taken from the counter but not started yet */
	int done = 0;

	if (!m)
		cd_oom();
	for (int i = 0; i < w->connections; i++) {
		if (!(urls[i] = curl_url_dup(sh->url)))
			cd_oom();
		idle[n_idle] = load_easy_new(sh, urls[i]);
		curl_easy_setopt(idle[n_idle], CURLOPT_PRIVATE, (void *)&started[i]);
		n_idle++;
	}
	while (!done || in_flight) {
		int64_t wait_ms = -1; /* set when the rate holds the next request back */
		while (!done && n_idle > 0) {
			if (pending_ticket < 0)
				pending_ticket = atomic_fetch_add(&sh->next_ticket, 1);
			int may = load_may_start(sh, pending_ticket, cd_time_mono_ms(), &wait_ms);
			if (may < 0) {
				done = 1;
				break;
			}
			if (may == 0)
				break;
			pending_ticket = -1;
			CURL *c = idle[--n_idle];
			uint64_t *slot;
			curl_easy_getinfo(c, CURLINFO_PRIVATE, (char **)&slot);
			*slot = mono_us();
			curl_multi_add_handle(m, c);
			in_flight++;
		}
		if (!in_flight && done)
			break;
		curl_multi_perform(m, &running);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(m, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			CURL *c = msg->easy_handle;
			uint64_t *slot;
			curl_easy_getinfo(c, CURLINFO_PRIVATE, (char **)&slot);
			load_record(&w->res, c, msg->data.result, *slot);
			curl_multi_remove_handle(m, c);
			idle[n_idle++] = c;
			in_flight--;
		}
		if (in_flight && running) {
			int64_t poll_ms = wait_ms >= 0 && wait_ms < 100 ? wait_ms : 100;
			curl_multi_poll(m, NULL, 0, (int)(poll_ms > 0 ? poll_ms : 1), NULL);
		} else if (!done && !in_flight && wait_ms > 0) {
			struct timespec ts = { wait_ms / 1000, (wait_ms % 1000) * 1000000 };
			nanosleep(&ts, NULL);
		}
	}
	for (int i = 0; i < n_idle; i++)
		curl_easy_cleanup(idle[i]);
	for (int i = 0; i < w->connections; i++)
		curl_url_cleanup(urls[i]);
	free(urls);
	free(idle);
	free(started);
	curl_multi_cleanup(m);
	return NULL;
}

int cd_load_run(const struct cd_load_spec *spec, struct cd_load_result *ret, struct cd_error *err)
{
	if (!spec->url || strncmp(spec->url, "http", 4) != 0)
		return cd_error_set(err, CD_EUSAGE, "load: expected an http(s) URL, got '%s'",
			spec->url ? spec->url : "");
	if (spec->requests < 0 && spec->duration_ms < 0)
		return cd_error_set(err, CD_EUSAGE, "load: needs requests or a duration");
	validate_curl_init();
	struct load_shared sh = { .spec = spec, .url = curl_url() };
	if (!sh.url)
		cd_oom();
	CURLUcode uc = curl_url_set(sh.url, CURLUPART_URL, spec->url, 0);
	if (uc != CURLUE_OK) {
		curl_url_cleanup(sh.url);
		return cd_error_set(err, CD_EUSAGE, "load: cannot use URL '%s': %s", spec->url,
			curl_url_strerror(uc));
	}
	for (size_t i = 0; spec->headers && i < spec->headers->n; i++) {
		char *h = cd_xasprintf("%s: %s", spec->headers->items[i].key, spec->headers->items[i].value);
		struct curl_slist *n = curl_slist_append(sh.headers, h);
		free(h);
		if (!n)
			cd_oom();
		sh.headers = n;
	}
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
	sh.t0_ms = cd_time_mono_ms();
	sh.end_ms = spec->deadline_ms > 0 ? spec->deadline_ms : INT64_MAX;
	if (spec->duration_ms >= 0 && sh.t0_ms + spec->duration_ms < sh.end_ms)
		sh.end_ms = sh.t0_ms + spec->duration_ms;
	atomic_init(&sh.next_ticket, 0);
	int started = 0;
	for (int i = 0; i < threads; i++) {
		w[i].sh = &sh;
		w[i].connections = (int)(conc / threads + (i < conc % threads));
		cd_hist_init(&w[i].res.hist);
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
	ret->duration_ms = cd_time_mono_ms() - sh.t0_ms;
	ret->qps = ret->duration_ms > 0 ? (double)ret->requests * 1000.0 / (double)ret->duration_ms : 0;
	free(w);
	curl_slist_free_all(sh.headers);
	curl_url_cleanup(sh.url);
	return 0;
}
