/*
 * http: single requests with expectations, TCP probes, JSON paths (libcurl,
 * cJSON). Used by health checks, http steps and smoke suites.
 */
#ifndef CORPDEPLOY_HTTP_H
#define CORPDEPLOY_HTTP_H

#include <stdint.h>

#include "corpdeploy/core.h"
#include "corpdeploy/schema.h"

struct cd_expect;

struct cd_http_request {
	const char *method; /* NULL: GET */
	const char *url;
	const struct cd_kvs *headers; /* may be NULL */
	const char *body;	      /* may be NULL */
	int64_t timeout_ms;
	size_t max_body; /* 0: 8 MiB */
};

struct cd_http_response {
	long status;
	struct cd_buf headers; /* the raw header block of the last response */
	struct cd_buf body;
	int64_t latency_ms;
};

/* Makes the request. A transport failure is CD_EREMOTE naming the URL. Release resp after. */
int cd_http_do(const struct cd_http_request *req, struct cd_http_response *resp,
	struct cd_error *err);
void cd_http_response_release(struct cd_http_response *resp);
/* The value of a response header (case-insensitive name), malloc'd, or NULL. */
char *cd_http_header(const struct cd_http_response *resp, const char *name);

/*
 * Checks resp against e (status default 200 when e has none). Returns 0, or
 * CD_EFAIL with err saying the first expectation that did not hold.
 */
int cd_http_expect(const struct cd_expect *e, const struct cd_http_response *resp,
	struct cd_error *err);

/* Connects to "host:port" within timeout_ms. 0 or CD_EREMOTE. */
int cd_tcp_probe(const char *hostport, int64_t timeout_ms, struct cd_error *err);

/*
 * Evaluates a JSON path ($, .name, [index]) on a JSON text. On success *ret
 * (malloc'd) is the value as text (strings unquoted), and *ret_count the
 * length of an array or object (-1 for scalars). CD_ENOTFOUND if absent,
 * CD_EFAIL if the text is not JSON or the path is malformed.
 */
int cd_json_path(const char *json, const char *path, char **ret, long *ret_count);

#endif
