/*
 * The downtime prober: one thread asking the public endpoint every
 * interval while a deploy changes things. A probe is good when it answers
 * the expected status in time. What it measures (failed probes, the
 * longest time without a good answer, when the new release first answered)
 * is bookkept by cd_downtime_* in validate-judge.c.
 */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "corpdeploy/http.h"
#include "corpdeploy/validate.h"
#include "validate-internal.h"

struct cd_prober {
	char *url;
	char *release;
	int64_t interval_ms, timeout_ms;
	long expect;
	int64_t t0_ms;
	atomic_int stop;
	pthread_t thread;
	int started;
	struct cd_downtime dt;
};

static void prober_sleep_until(struct cd_prober *p, int64_t at_ms)
{
	while (!atomic_load(&p->stop)) {
		int64_t left = at_ms - cd_time_mono_ms();
		if (left <= 0)
			return;
		if (left > 20)
			left = 20; /* stop is seen within 20 ms */
		struct timespec ts = { 0, left * 1000000 };
		nanosleep(&ts, NULL);
	}
}

static void *prober_main(void *arg)
{
	struct cd_prober *p = arg;
	int64_t next = p->t0_ms;
	while (!atomic_load(&p->stop)) {
		int64_t at = cd_time_mono_ms();
		struct cd_http_request req = { .url = p->url, .timeout_ms = p->timeout_ms,
			.max_body = 64 * 1024 };
		struct cd_http_response resp;
		struct cd_error err = CD_ERROR_INIT;
		int good = cd_http_do(&req, &resp, &err) == 0 && resp.status == p->expect;
		int names = good && p->release && p->release[0] &&
			    ((resp.headers.buf && strstr(resp.headers.buf, p->release)) ||
				    (resp.body.buf && strstr(resp.body.buf, p->release)));
		cd_http_response_release(&resp);
		cd_error_release(&err);
		cd_downtime_record(&p->dt, at - p->t0_ms, good, names);
		next += p->interval_ms;
		if (next < cd_time_mono_ms())
			next = cd_time_mono_ms(); /* a slow probe does not cause a burst after it */
		prober_sleep_until(p, next);
	}
	return NULL;
}

struct cd_prober *cd_prober_start(const char *url, int64_t interval_ms, int64_t timeout_ms,
	long expect_status, const char *release)
{
	validate_curl_init();
	struct cd_prober *p = cd_xcalloc(1, sizeof(*p));
	p->url = cd_xstrdup(url);
	p->release = release ? cd_xstrdup(release) : NULL;
	p->interval_ms = interval_ms > 0 ? interval_ms : 500;
	p->timeout_ms = timeout_ms > 0 ? timeout_ms : p->interval_ms;
	p->expect = expect_status > 0 ? expect_status : 200;
	cd_downtime_init(&p->dt);
	atomic_init(&p->stop, 0);
	p->t0_ms = cd_time_mono_ms();
	p->started = pthread_create(&p->thread, NULL, prober_main, p) == 0;
	return p;
}

void cd_prober_stop(struct cd_prober *p, cJSON **ret_details, int64_t *ret_longest_gap_ms)
{
	if (!p)
		return;
	atomic_store(&p->stop, 1);
	if (p->started)
		pthread_join(p->thread, NULL);
	cd_downtime_finish(&p->dt, cd_time_mono_ms() - p->t0_ms);
	if (ret_details) {
		cJSON *d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "url", p->url);
		cJSON_AddNumberToObject(d, "interval_ms", (double)p->interval_ms);
		cJSON_AddNumberToObject(d, "probes", (double)p->dt.probes);
		cJSON_AddNumberToObject(d, "failed", (double)p->dt.failed);
		cJSON_AddNumberToObject(d, "longest_gap_ms", (double)p->dt.longest_gap_ms);
		cJSON_AddNumberToObject(d, "first_good_new_ms", (double)p->dt.first_good_new_ms);
		*ret_details = d;
	}
	if (ret_longest_gap_ms)
		*ret_longest_gap_ms = p->dt.longest_gap_ms;
	free(p->url);
	free(p->release);
	free(p);
}
