/*
 * What the load generator's two engines share (validate-load.c): the run's
 * numbered requests, their count, rate and end; the recording of one
 * finished request; the threads. An engine is the transport: libcurl
 * (validate-load-curl.c) for every URL, or corpdeploy's own HTTP/1.1 client
 * (validate-load-raw.c) for plain http:// without a proxy, at a fraction of
 * libcurl's cost per request.
 */
#ifndef CORPDEPLOY_VALIDATE_LOAD_INTERNAL_H
#define CORPDEPLOY_VALIDATE_LOAD_INTERNAL_H

#include <curl/curl.h>
#include <stdatomic.h>
#include <stdint.h>

#include "corpdeploy/validate.h"

struct load_shared {
	const struct cd_load_spec *spec;
	struct curl_slist *headers; /* the plan's, and the User-Agent unless the plan sets one */
	int proxy_from_env;         /* a proxy variable is set: libcurl's own rules apply */
	CURLU *url;                 /* parsed once */
	int64_t timeout_ms;         /* per request, > 0 */
	atomic_llong next_ticket;
	uint64_t t0_us, end_us; /* monotonic; end: no request starts at or after it */
	void *engine;           /* the engine's own shared state */
};

/* What every worker has, first in each engine's worker. */
struct load_worker {
	struct load_shared *sh;
	int connections;
	struct cd_load_result res;
	long long pending_ticket; /* taken from the counter but not started yet; -1: none */
	int done;                 /* no request starts any more */
};

/*
 * May a worker start a request at now? 1: yes (its ticket is used up);
 * 0: not before *due (the rate); -1: never again (w->done is set).
 */
int load_next_ticket(struct load_worker *w, uint64_t now, uint64_t *due);

/* A finished request: status 0 when no answer came (class "other"). */
void load_record(struct load_worker *w, long status, uint64_t started_us);

struct load_engine {
	const char *name; /* as the step's details say it */
	size_t worker_size;
	/* Once per run, before the workers. < 0 with err set: the run cannot start. */
	int (*prepare)(struct load_shared *sh, struct cd_error *err);
	void (*finish)(struct load_shared *sh);
	/* < 0 with errno set when the worker cannot be had. */
	int (*worker_init)(struct load_worker *w);
	void *(*worker_main)(void *w);
	void (*worker_release)(struct load_worker *w); /* also after a failed worker_init */
};

extern const struct load_engine load_engine_curl, load_engine_raw;

#endif
