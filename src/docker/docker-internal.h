/*
 * docker-internal: what the files of src/docker/ share. One request is one
 * libcurl easy handle on one fresh connection from the transport, so a
 * struct cd_docker holds no mutable state but its atomic counters and
 * timeout, and may be used from several threads at once.
 */
#ifndef CORPDEPLOY_DOCKER_INTERNAL_H
#define CORPDEPLOY_DOCKER_INTERNAL_H

#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <sys/types.h>

#include "corpdeploy/docker.h"

#define DOCKER_DEFAULT_HOST       "unix:///var/run/docker.sock"
#define DOCKER_DEFAULT_TIMEOUT_MS 30000
/* The most a reply that is held whole (inspect, list) may weigh. */
#define DOCKER_BODY_MAX (16u << 20)
/* The most one line of a JSON stream (pull, build, load) may weigh. */
#define DOCKER_LINE_MAX           (1u << 20)
#define DOCKER_CONNECT_TIMEOUT_MS 5000

struct cd_docker {
	struct cd_docker_transport transport; /* a copy; transport.ctx is ours */
	char *description;
	_Atomic int64_t timeout_ms;
	atomic_ulong calls;
	atomic_ulong mutating;
};

struct docker_req;
/* Gets each piece of a 2xx reply as it arrives; < 0 (with r->cb_err set) aborts. */
typedef int (*docker_stream_fn)(struct docker_req *r, const char *data, size_t len);
/* Fills buf with up to len bytes of the request body; 0 at its end, < 0 (cb_err set) aborts. */
typedef ssize_t (*docker_read_fn)(struct docker_req *r, char *buf, size_t len);

/*
 * One HTTP exchange with the engine. Initialise with docker_req_init(),
 * fill in what the call needs, run it with docker_do() or docker_call(),
 * then docker_req_release().
 */
struct docker_req {
	const char *method;
	struct cd_buf path; /* "/containers/x/json?all=1", after /v1.41 */
	char *what;         /* "cannot create container 'web'", the prefix of errors */
	const char *content_type;
	char *send; /* an in-memory body (JSON), freed with the request */
	size_t send_len;
	docker_read_fn read; /* or a streamed body */
	int64_t read_size;   /* its size, or -1: sent chunked */
	void *read_ctx;
	docker_stream_fn stream; /* 2xx replies go here instead of into body */
	void *stream_ctx;
	const char *registry_auth; /* X-Registry-Auth value, never logged */
	int64_t timeout_ms;        /* 0: the client's */
	const char *want_header;   /* a reply header to keep ("X-Docker-Container-Path-Stat") */

	long status;            /* the HTTP status, 0 before an answer */
	char *header;           /* the value of want_header in the final reply, or NULL */
	struct cd_buf body;     /* the reply, unless streamed; capped at DOCKER_BODY_MAX */
	struct cd_error cb_err; /* set by read and stream callbacks, and by the transport */
};

/*
 * Starts a request. In path, each "%s" takes a const char * that is
 * percent-escaped as a path segment ('/' and ':' kept, for image names);
 * "%%" is a '%'. No other conversion is known.
 */
void docker_req_init(struct docker_req *r, const char *method, const char *path, ...);
/* Appends ?key=value or &key=value, value percent-escaped. */
void docker_req_query(struct docker_req *r, const char *key, const char *value);
void docker_req_query_int(struct docker_req *r, const char *key, long long value);
void docker_req_what(struct docker_req *r, const char *fmt, ...) CD_PRINTF(2, 3);
/* Sends json (cJSON_PrintUnformatted'd into the request, owned by it). */
void docker_req_json(struct docker_req *r, const cJSON *json);
void docker_req_release(struct docker_req *r);

/*
 * Runs r. 0 when the engine answered at all (r->status says how); < 0 with
 * err set when it could not be reached, timed out, sent too much, or a
 * callback failed.
 */
int docker_call(struct cd_docker *d, struct docker_req *r, struct cd_error *err);
/* docker_call(), then a status other than 2xx and 304 becomes an error (docker_fail). */
int docker_do(struct cd_docker *d, struct docker_req *r, struct cd_error *err);
/*
 * The error of a reply: "<what>: <the engine's message>", CD_ENOTFOUND for
 * 404, CD_EFAIL for other 4xx (a conflict, a bad parameter), CD_EREMOTE else.
 */
int docker_fail(const struct docker_req *r, struct cd_error *err);
/* The engine's message in a reply body ({"message":...}), malloc'd, one line. */
char *docker_reply_message(const char *body, size_t len);
/* s[0..len) as one line: newlines become spaces, ends trimmed, at most 2000 bytes. */
char *docker_one_line(const char *s, size_t len);
/* Sets err to "<what>: <msg>" with code. */
int docker_req_error(
        const struct docker_req *r, struct cd_error *err, enum cd_errcode code, const char *msg);

/* The remaining ms to deadline (a cd_time_mono_ms() value), at least 1. */
int64_t docker_remaining(int64_t deadline);
int64_t docker_timeout(const struct cd_docker *d, int64_t timeout_ms);

/* ---- JSON lines: pull, build, import and load stream them ---- */

struct docker_jsonl {
	struct cd_buf line;
	/* Called for each object; < 0 (with r->cb_err set) aborts. May be NULL. */
	int (*on_object)(struct docker_req *r, const cJSON *obj, void *ctx);
	void *ctx;
	char *error; /* the first {"error":...} or errorDetail of the stream */
};
void docker_jsonl_init(struct docker_jsonl *j);
void docker_jsonl_release(struct docker_jsonl *j);
/* Use as r->stream with r->stream_ctx = the struct docker_jsonl. */
int docker_jsonl_feed(struct docker_req *r, const char *data, size_t len);
/* Parses a last line without a newline; call after a successful docker_call(). */
int docker_jsonl_finish(struct docker_req *r);

/* ---- the 8-byte frames of logs, attach and exec without a TTY ---- */

struct docker_demux {
	unsigned char hdr[8];
	size_t hdr_len;
	uint32_t left; /* payload bytes still due in this frame */
	int type;
	struct cd_buf *out, *err;
	size_t max;    /* per stream */
	int keep_tail; /* keep the last max bytes (logs), else the first (exec) */
	/* When set, stdout goes here piece by piece instead of into out (a streamed exec). */
	cd_docker_sink on_out;
	void *on_out_ctx;
};
/* Use as r->stream with r->stream_ctx = the struct docker_demux. */
int docker_demux_feed(struct docker_req *r, const char *data, size_t len);
/* With keep_tail, cuts each buffer to its last max bytes. */
void docker_demux_finish(struct docker_demux *m);

/* ---- an upgraded connection: an exec with its stdin attached ---- */

/* What the head of an HTTP reply says. */
struct docker_head {
	long status;
	int raw_stream;         /* Content-Type: a raw or multiplexed stream */
	int chunked;            /* Transfer-Encoding: chunked */
	int64_t content_length; /* -1: not given */
};
/*
 * Parses the head of a reply at the start of buf[0..len): the head's length
 * (through its blank line) when it is whole, 0 when more is needed, -1 when
 * it is not HTTP.
 */
long docker_head_parse(const char *buf, size_t len, struct docker_head *ret);
/*
 * Sends r (a POST with its JSON body) on a connection of the transport's
 * own, asking the engine to upgrade it to a raw stream, then at once sends
 * what source gives (the write side half-closed at its end) and hands what
 * comes back to r->stream, until the engine closes the stream or deadline
 * (monotonic ms) passes. An engine that stops reading ends the sending
 * quietly. Errors as docker_do(): a reply other than the upgrade is
 * docker_fail() of it.
 */
int docker_hijack(struct cd_docker *d, struct docker_req *r, cd_docker_source source,
        void *opaque, int64_t deadline, struct cd_error *err);

/* ---- bodies ---- */

/* Streams the open file fd (size bytes) as the body; the caller closes fd. */
void docker_req_upload_fd(struct docker_req *r, int *fd, int64_t size);

/* ---- JSON helpers ---- */

cJSON *docker_json_strings(const char *const *v);
/* {"KEY":"value",...} of "KEY=value" strings ("KEY" alone: ""). */
cJSON *docker_json_kv(const char *const *v);
char *docker_json_print(const cJSON *json);
/* A malloc'd copy of the string member name of obj, or NULL. */
char *docker_json_strdup(const cJSON *obj, const char *name);
const char *docker_json_str(const cJSON *obj, const char *name);
/* Parses r->body as JSON; CD_EREMOTE naming r->what when it is not. */
int docker_json_parse(const struct docker_req *r, cJSON **ret, struct cd_error *err);

/* ---- the build context ---- */

struct docker_context;
/*
 * Walks dir and decides which files go into the context (.dockerignore,
 * basic patterns with fnmatch, '!' exceptions; dockerfile and .dockerignore
 * always go). The tar itself is made as it is read.
 */
int docker_context_new(
        const char *dir, const char *dockerfile, struct docker_context **ret, struct cd_error *err);
/* A docker_read_fn with r->read_ctx = the struct docker_context. */
ssize_t docker_context_read(struct docker_req *r, char *buf, size_t len);
size_t docker_context_count(const struct docker_context *c);
void docker_context_free(struct docker_context *c);

/* The base64url (with padding, as the engine decodes it) of data, malloc'd. */
char *docker_base64url(const char *data, size_t len);

#endif
