/*
 * The client and its transport: one libcurl easy handle per request, over a
 * socket that the transport opens (a unix socket here, an SSH-bridged
 * socketpair elsewhere), every request with a deadline. Engine errors
 * become "<what>: <the engine's words>".
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "corpdeploy/log.h"
#include "docker-internal.h"

/* ---- the unix socket transport ---- */

struct unix_transport {
	char *path;
	char *description;
};

static int unix_open(void *ctx, struct cd_error *err)
{
	struct unix_transport *u = ctx;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, e;

	memcpy(sa.sun_path, u->path, strlen(u->path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cd_error_set_errno(
		        err, errno, "cannot make a socket for %s", u->description);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	e = errno;
	close(fd);
	return cd_error_set(err, CD_EREMOTE, "cannot reach the Docker engine at %s: %s%s",
	        u->description, strerror(e),
	        e == EACCES                        ? " (is this user in the docker group?)"
	        : e == ENOENT || e == ECONNREFUSED ? " (is dockerd running?)"
	                                           : "");
}

static void unix_free(void *ctx)
{
	struct unix_transport *u = ctx;
	if (!u)
		return;
	free(u->path);
	free(u->description);
	free(u);
}

/* ---- the client ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_code;
/*
 * libcurl 7.88.x (Debian 12's) connect()s a socket even when the sockopt
 * callback says CURL_SOCKOPT_ALREADY_CONNECTED (curl issue 10626, fixed in
 * 8.0.0), which fails with EISCONN or EINVAL. There it is handed a UDP
 * socket to "connect" instead, and the transport's socket takes over that
 * descriptor with dup3() in the prereq callback, before the first byte.
 */
static int curl_connects_anyway;

static void curl_init(void)
{
	const curl_version_info_data *v;

	curl_init_code = curl_global_init(CURL_GLOBAL_DEFAULT);
	v = curl_version_info(CURLVERSION_NOW);
	curl_connects_anyway = v->version_num >= 0x075800 && v->version_num < 0x080000;
}

int cd_docker_open(const char *host, struct cd_docker **ret, struct cd_error *err)
{
	struct cd_docker_transport t = {0};
	struct unix_transport *u;
	const char *path;

	if (!host || !*host)
		host = getenv("DOCKER_HOST");
	if (!host || !*host)
		host = DOCKER_DEFAULT_HOST;
	if (strncmp(host, "unix://", 7) != 0)
		return cd_error_set(err, CD_EUSAGE,
		        "cannot use the Docker host '%s': only unix:// sockets are supported "
		        "(remote engines go through ssh, never plain tcp)",
		        host);
	path = host + 7;
	if (!*path)
		return cd_error_set(
		        err, CD_EUSAGE, "cannot use the Docker host '%s': no socket path", host);
	if (strlen(path) >= sizeof(((struct sockaddr_un *)NULL)->sun_path))
		return cd_error_set(err, CD_EUSAGE,
		        "cannot use the Docker host '%s': the socket path is too long", host);
	u = cd_xcalloc(1, sizeof(*u));
	u->path = cd_xstrdup(path);
	u->description = cd_xstrdup(host);
	t.open = unix_open;
	t.free = unix_free;
	t.ctx = u;
	t.description = u->description;
	return cd_docker_open_transport(&t, ret, err);
}

int cd_docker_open_transport(
        struct cd_docker_transport *t, struct cd_docker **ret, struct cd_error *err)
{
	struct cd_docker *d;

	if (!t || !t->open) {
		if (t && t->free)
			t->free(t->ctx);
		return cd_error_set(err, CD_EUSAGE, "cannot use a Docker transport without open()");
	}
	pthread_once(&curl_once, curl_init);
	if (curl_init_code != CURLE_OK) {
		if (t->free)
			t->free(t->ctx);
		return cd_error_set(err, CD_EFAIL, "cannot initialise libcurl: %s",
		        curl_easy_strerror(curl_init_code));
	}
	d = cd_xcalloc(1, sizeof(*d));
	d->transport = *t;
	d->description = cd_xstrdup(t->description ? t->description : "the Docker engine");
	d->transport.description = d->description;
	atomic_init(&d->timeout_ms, DOCKER_DEFAULT_TIMEOUT_MS);
	atomic_init(&d->calls, 0);
	atomic_init(&d->mutating, 0);
	*ret = d;
	return 0;
}

void cd_docker_free(struct cd_docker *d)
{
	if (!d)
		return;
	if (d->transport.free)
		d->transport.free(d->transport.ctx);
	free(d->description);
	free(d);
}

void cd_docker_set_timeout(struct cd_docker *d, int64_t ms)
{
	atomic_store(&d->timeout_ms, ms > 0 ? ms : DOCKER_DEFAULT_TIMEOUT_MS);
}

void cd_docker_get_stats(const struct cd_docker *d, struct cd_docker_stats *ret)
{
	ret->calls = atomic_load(&d->calls);
	ret->mutating = atomic_load(&d->mutating);
}

int64_t docker_timeout(const struct cd_docker *d, int64_t timeout_ms)
{
	return timeout_ms > 0 ? timeout_ms : atomic_load(&d->timeout_ms);
}

int64_t docker_remaining(int64_t deadline)
{
	int64_t left = deadline - cd_time_mono_ms();
	return left > 0 ? left : 1;
}

/* ---- requests ---- */

static void add_escaped(struct cd_buf *b, const char *s, const char *keep)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		        strchr("-._~", c) || (c && strchr(keep, c))) {
			cd_buf_addch(b, (char)c);
		} else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			cd_buf_add(b, e, 3);
		}
	}
}

void docker_req_init(struct docker_req *r, const char *method, const char *path, ...)
{
	va_list ap;

	memset(r, 0, sizeof(*r));
	r->method = method;
	r->read_size = -1;
	cd_buf_init(&r->path, 0);
	cd_buf_init(&r->body, DOCKER_BODY_MAX);
	va_start(ap, path);
	for (const char *p = path; *p; p++) {
		if (p[0] == '%' && p[1] == 's') {
			add_escaped(&r->path, va_arg(ap, const char *), "/:@");
			p++;
		} else if (p[0] == '%' && p[1] == '%') {
			cd_buf_addch(&r->path, '%');
			p++;
		} else {
			cd_buf_addch(&r->path, *p);
		}
	}
	va_end(ap);
}

void docker_req_query(struct docker_req *r, const char *key, const char *value)
{
	cd_buf_addch(&r->path, strchr(r->path.buf, '?') ? '&' : '?');
	add_escaped(&r->path, key, "");
	cd_buf_addch(&r->path, '=');
	add_escaped(&r->path, value, "");
}

void docker_req_query_int(struct docker_req *r, const char *key, long long value)
{
	char num[32];
	snprintf(num, sizeof(num), "%lld", value);
	docker_req_query(r, key, num);
}

void docker_req_what(struct docker_req *r, const char *fmt, ...)
{
	va_list ap;
	free(r->what);
	va_start(ap, fmt);
	if (vasprintf(&r->what, fmt, ap) < 0)
		cd_oom();
	va_end(ap);
}

void docker_req_json(struct docker_req *r, const cJSON *json)
{
	char *s = docker_json_print(json);
	free(r->send);
	r->send = s;
	r->send_len = strlen(s);
	r->content_type = "application/json";
}

void docker_req_release(struct docker_req *r)
{
	cd_buf_release(&r->path);
	cd_buf_release(&r->body);
	free(r->what);
	r->what = NULL;
	free(r->send);
	r->send = NULL;
	free(r->header);
	r->header = NULL;
	cd_error_release(&r->cb_err);
}

/* ---- libcurl callbacks ---- */

struct call {
	struct cd_docker *d;
	struct docker_req *r;
	CURL *curl;
	int transport_failed;
	int too_big;
	int aborted;
	int real_fd; /* the transport's socket, until it takes over fake_fd */
	int fake_fd;
};

static curl_socket_t on_open_socket(void *ctx, curlsocktype purpose, struct curl_sockaddr *addr)
{
	struct call *c = ctx;
	int fd, fake;

	(void)purpose;
	(void)addr;
	fd = c->d->transport.open(c->d->transport.ctx, &c->r->cb_err);
	if (fd < 0) {
		c->transport_failed = 1;
		if (!c->r->cb_err.msg)
			cd_error_set(&c->r->cb_err, CD_EREMOTE,
			        "cannot reach the Docker engine at %s", c->d->description);
		return CURL_SOCKET_BAD;
	}
	if (!curl_connects_anyway)
		return fd;
	/* libcurl sets O_NONBLOCK on the descriptor it was given: the real one needs it too. */
	fake = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fake < 0 || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		cd_error_set_errno(
		        &c->r->cb_err, errno, "cannot make a socket for %s", c->d->description);
		c->transport_failed = 1;
		close(fd);
		if (fake >= 0)
			close(fake);
		return CURL_SOCKET_BAD;
	}
	if (c->real_fd >= 0)
		close(c->real_fd);
	c->real_fd = fd;
	c->fake_fd = fake;
	return fake;
}

static int on_sockopt(void *ctx, curl_socket_t fd, curlsocktype purpose)
{
	(void)ctx;
	(void)fd;
	(void)purpose;
	/* With the UDP stand-in, libcurl's connect() must happen: it is harmless there. */
	return curl_connects_anyway ? CURL_SOCKOPT_OK : CURL_SOCKOPT_ALREADY_CONNECTED;
}

static int on_prereq(void *ctx, char *ip, char *local_ip, int port, int local_port)
{
	struct call *c = ctx;

	(void)ip;
	(void)local_ip;
	(void)port;
	(void)local_port;
	if (c->real_fd < 0)
		return CURL_PREREQFUNC_OK;
	if (dup3(c->real_fd, c->fake_fd, O_CLOEXEC) < 0) {
		cd_error_set_errno(
		        &c->r->cb_err, errno, "cannot use the socket to %s", c->d->description);
		c->transport_failed = 1;
		return CURL_PREREQFUNC_ABORT;
	}
	close(c->real_fd);
	c->real_fd = -1;
	return CURL_PREREQFUNC_OK;
}

static size_t on_write(char *data, size_t size, size_t n, void *ctx)
{
	struct call *c = ctx;
	struct docker_req *r = c->r;
	size_t len = size * n;

	if (!r->status) {
		long status = 0;
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
		r->status = status;
	}
	if (r->stream && r->status >= 200 && r->status < 300) {
		if (r->stream(r, data, len) < 0) {
			c->aborted = 1;
			return 0;
		}
		return len;
	}
	if (cd_buf_add(&r->body, data, len) < 0) {
		c->too_big = 1;
		return 0;
	}
	return len;
}

/* Keeps r->want_header; a status line (an interim 1xx reply, then the final one) starts afresh. */
static size_t on_header(char *data, size_t size, size_t n, void *ctx)
{
	struct call *c = ctx;
	struct docker_req *r = c->r;
	size_t len = size * n, name = strlen(r->want_header);

	if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		free(r->header);
		r->header = NULL;
	} else if (len > name && data[name] == ':' && strncasecmp(data, r->want_header, name) == 0) {
		const char *v = data + name + 1, *end = data + len;
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
			end--;
		free(r->header);
		r->header = cd_xstrndup(v, (size_t)(end - v));
	}
	return len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *ctx)
{
	struct call *c = ctx;
	ssize_t got = c->r->read(c->r, buf, size * n);

	if (got < 0) {
		c->aborted = 1;
		return CURL_READFUNC_ABORT;
	}
	return (size_t)got;
}

static struct curl_slist *slist_add(struct curl_slist *list, const char *s)
{
	struct curl_slist *l = curl_slist_append(list, s);
	if (!l)
		cd_oom();
	return l;
}

/* The options of one request; the lists it allocates go to *headers and *resolve. */
static void call_setup(struct call *c, int64_t timeout, char *errbuf, struct curl_slist **headers,
        struct curl_slist **resolve)
{
	struct docker_req *r = c->r;
	CURL *h = c->curl;
	struct cd_buf url = CD_BUF_INIT;

	cd_buf_addf(&url, "http://docker/v%s%s", CD_DOCKER_API, r->path.buf);
	curl_easy_setopt(h, CURLOPT_URL, url.buf);
	cd_buf_release(&url);
	/* The transport supplies the socket: no name lookup, no proxy, no reuse. */
	*resolve = slist_add(NULL, "docker:80:127.0.0.1");
	curl_easy_setopt(h, CURLOPT_RESOLVE, *resolve);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, c);
	curl_easy_setopt(h, CURLOPT_SOCKOPTFUNCTION, on_sockopt);
	curl_easy_setopt(h, CURLOPT_SOCKOPTDATA, c);
	curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, on_prereq);
	curl_easy_setopt(h, CURLOPT_PREREQDATA, c);
	/* Not TCP (a unix socket, or the UDP stand-in): nothing for TCP_NODELAY to tune. */
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
	        (long)(timeout < DOCKER_CONNECT_TIMEOUT_MS ? timeout : DOCKER_CONNECT_TIMEOUT_MS));
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "corpdeploy/" CD_VERSION);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
	if (strcmp(r->method, "HEAD") == 0)
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	if (r->want_header) {
		curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
	}

	if (r->read) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, c);
		if (r->read_size >= 0)
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->read_size);
		else
			*headers = slist_add(*headers, "Transfer-Encoding: chunked");
		/* dockerd answers 100-continue at once: waiting for it only costs a round trip. */
		*headers = slist_add(*headers, "Expect:");
	} else if (r->send) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->send_len);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->send);
	} else if (strcmp(r->method, "POST") == 0 || strcmp(r->method, "PUT") == 0) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
	}
	if (r->content_type) {
		char *line = cd_xasprintf("Content-Type: %s", r->content_type);
		*headers = slist_add(*headers, line);
		free(line);
	}
	if (r->registry_auth) {
		/* Holds a password: never logged, and libcurl is never verbose. */
		char *line = cd_xasprintf("X-Registry-Auth: %s", r->registry_auth);
		*headers = slist_add(*headers, line);
		explicit_bzero(line, strlen(line));
		free(line);
	}
	if (*headers)
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, *headers);
}

/* The error of a transfer that did not complete. */
static int call_error(const struct call *c, CURLcode rc, const char *errbuf, int64_t timeout,
        struct cd_error *err)
{
	const struct docker_req *r = c->r;
	const char *what = r->what ? r->what : "cannot talk to the Docker engine";
	char text[32];

	if (c->transport_failed || (c->aborted && r->cb_err.code)) {
		enum cd_errcode code = r->cb_err.code ? r->cb_err.code : CD_EREMOTE;
		if (!r->what)
			return cd_error_set(err, code, "%s", r->cb_err.msg);
		return cd_error_set(err, code, "%s: %s", what, r->cb_err.msg);
	}
	if (c->too_big)
		return cd_error_set(err, CD_ETOOBIG, "%s: the engine's reply is larger than %s",
		        what, cd_size_format(r->body.max, text, sizeof(text)));
	if (rc == CURLE_OPERATION_TIMEDOUT)
		return cd_error_set(err, CD_EREMOTE,
		        "%s: no answer from the Docker engine at %s within %s", what,
		        c->d->description, cd_duration_format(timeout, text, sizeof(text)));
	return cd_error_set(err, CD_EREMOTE, "%s: %s: %s", what, c->d->description,
	        *errbuf ? errbuf : curl_easy_strerror(rc));
}

int docker_call(struct cd_docker *d, struct docker_req *r, struct cd_error *err)
{
	struct call c = {.d = d, .r = r, .real_fd = -1, .fake_fd = -1};
	struct curl_slist *headers = NULL, *resolve = NULL;
	char errbuf[CURL_ERROR_SIZE] = "", dur[32];
	int64_t timeout = docker_timeout(d, r->timeout_ms);
	int64_t start = cd_time_mono_ms();
	const char *q = strchr(r->path.buf, '?');
	CURLcode rc;

	atomic_fetch_add(&d->calls, 1);
	if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0)
		atomic_fetch_add(&d->mutating, 1);
	r->status = 0;
	free(r->header);
	r->header = NULL;
	cd_buf_reset(&r->body);
	cd_error_release(&r->cb_err);

	c.curl = curl_easy_init();
	if (!c.curl)
		cd_oom();
	call_setup(&c, timeout, errbuf, &headers, &resolve);
	rc = curl_easy_perform(c.curl);
	if (!r->status) {
		long status = 0;
		curl_easy_getinfo(c.curl, CURLINFO_RESPONSE_CODE, &status);
		r->status = status;
	}
	curl_easy_cleanup(c.curl);
	curl_slist_free_all(headers);
	curl_slist_free_all(resolve);
	if (c.real_fd >= 0)
		close(c.real_fd);

	/* The path only: queries may carry build arguments. */
	cd_log_debug("docker: %s %.*s: %ld in %s", r->method,
	        (int)(q ? (size_t)(q - r->path.buf) : r->path.len), r->path.buf, r->status,
	        cd_duration_format(cd_time_mono_ms() - start, dur, sizeof(dur)));
	if (rc == CURLE_OK)
		return 0;
	return call_error(&c, rc, errbuf, timeout, err);
}

int docker_do(struct cd_docker *d, struct docker_req *r, struct cd_error *err)
{
	int ret = docker_call(d, r, err);
	if (ret < 0)
		return ret;
	if ((r->status >= 200 && r->status < 300) || r->status == 304)
		return 0;
	return docker_fail(r, err);
}

/* The text of a reply as one line: newlines become spaces, the ends trimmed. */
char *docker_one_line(const char *s, size_t len)
{
	struct cd_buf b = CD_BUF_INIT;

	while (len && (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t'))
		s++, len--;
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\n' || s[len - 1] == '\r' ||
	                      s[len - 1] == '\t'))
		len--;
	if (len > 2000)
		len = 2000;
	for (size_t i = 0; i < len; i++)
		cd_buf_addch(&b, s[i] == '\n' || s[i] == '\r' ? ' ' : s[i]);
	return cd_buf_detach(&b);
}

char *docker_reply_message(const char *body, size_t len)
{
	cJSON *json = cJSON_ParseWithLength(body, len);
	char *msg = NULL;

	if (json) {
		const char *m = docker_json_str(json, "message");
		if (!m)
			m = docker_json_str(json, "error");
		if (m)
			msg = docker_one_line(m, strlen(m));
		cJSON_Delete(json);
	}
	if (!msg)
		msg = docker_one_line(body, len);
	return msg;
}

int docker_req_error(
        const struct docker_req *r, struct cd_error *err, enum cd_errcode code, const char *msg)
{
	if (r->what)
		return cd_error_set(err, code, "%s: %s", r->what, msg);
	return cd_error_set(err, code, "the Docker engine answered: %s", msg);
}

int docker_fail(const struct docker_req *r, struct cd_error *err)
{
	enum cd_errcode code;
	char *msg = docker_reply_message(r->body.buf, r->body.len);
	int ret;

	if (r->status == 404)
		code = CD_ENOTFOUND;
	else if (r->status >= 400 && r->status < 500)
		code = CD_EFAIL;
	else
		code = CD_EREMOTE;
	if (!*msg) {
		free(msg);
		msg = cd_xasprintf("HTTP %ld", r->status);
	}
	ret = docker_req_error(r, err, code, msg);
	free(msg);
	return ret;
}

/* ---- uploads from a file ---- */

static ssize_t read_fd(struct docker_req *r, char *buf, size_t len)
{
	int fd = *(int *)r->read_ctx;
	for (;;) {
		ssize_t n = read(fd, buf, len);
		if (n >= 0)
			return n;
		if (errno != EINTR) {
			cd_error_set_errno(&r->cb_err, errno, "cannot read the file to upload");
			return -1;
		}
	}
}

void docker_req_upload_fd(struct docker_req *r, int *fd, int64_t size)
{
	r->read = read_fd;
	r->read_ctx = fd;
	r->read_size = size;
	r->content_type = "application/x-tar";
}

/* ---- JSON lines ---- */

void docker_jsonl_init(struct docker_jsonl *j)
{
	memset(j, 0, sizeof(*j));
	cd_buf_init(&j->line, DOCKER_LINE_MAX);
}

void docker_jsonl_release(struct docker_jsonl *j)
{
	cd_buf_release(&j->line);
	free(j->error);
	j->error = NULL;
}

static int jsonl_line(struct docker_req *r, struct docker_jsonl *j, const char *s, size_t len)
{
	cJSON *obj;
	const cJSON *detail;
	const char *msg = NULL;
	int ret = 0;

	while (len && (*s == ' ' || *s == '\r' || *s == '\t'))
		s++, len--;
	if (!len)
		return 0;
	obj = cJSON_ParseWithLength(s, len);
	if (!obj) {
		/* Not JSON: an engine that speaks otherwise; its text is the error. */
		if (!j->error)
			j->error = docker_one_line(s, len);
		return 0;
	}
	detail = cJSON_GetObjectItemCaseSensitive(obj, "errorDetail");
	if (detail)
		msg = docker_json_str(detail, "message");
	if (!msg)
		msg = docker_json_str(obj, "error");
	if (msg && !j->error)
		j->error = docker_one_line(msg, strlen(msg));
	if (j->on_object)
		ret = j->on_object(r, obj, j->ctx);
	cJSON_Delete(obj);
	return ret;
}

int docker_jsonl_feed(struct docker_req *r, const char *data, size_t len)
{
	struct docker_jsonl *j = r->stream_ctx;

	while (len) {
		const char *nl = memchr(data, '\n', len);
		size_t n = nl ? (size_t)(nl - data) : len;
		int ret;

		if (j->line.len == 0 && nl) {
			ret = jsonl_line(r, j, data, n);
		} else {
			if (cd_buf_add(&j->line, data, n) < 0) {
				char size[32];
				cd_error_set(&r->cb_err, CD_ETOOBIG,
				        "a line of the engine's progress is longer than %s",
				        cd_size_format(j->line.max, size, sizeof(size)));
				return -1;
			}
			ret = 0;
			if (nl) {
				ret = jsonl_line(r, j, j->line.buf, j->line.len);
				cd_buf_reset(&j->line);
			}
		}
		if (ret < 0)
			return ret;
		if (!nl)
			break;
		data += n + 1;
		len -= n + 1;
	}
	return 0;
}

int docker_jsonl_finish(struct docker_req *r)
{
	struct docker_jsonl *j = r->stream_ctx;
	int ret = 0;

	if (j->line.len) {
		ret = jsonl_line(r, j, j->line.buf, j->line.len);
		cd_buf_reset(&j->line);
	}
	return ret;
}

/* ---- stream frames ---- */

static void demux_add(struct docker_demux *m, struct cd_buf *b, const char *data, size_t len)
{
	if (!b)
		return;
	if (m->keep_tail) {
		/* Hold up to twice max, then keep the last max: amortised linear. */
		if (len >= m->max) {
			cd_buf_reset(b);
			cd_buf_add(b, data + len - m->max, m->max);
			return;
		}
		if (b->len + len > 2 * m->max) {
			size_t keep = m->max - len;
			memmove(b->buf, b->buf + b->len - keep, keep);
			b->len = keep;
			b->buf[keep] = '\0';
		}
		cd_buf_add(b, data, len);
		return;
	}
	if (b->len >= m->max)
		return;
	if (len > m->max - b->len)
		len = m->max - b->len;
	cd_buf_add(b, data, len);
}

int docker_demux_feed(struct docker_req *r, const char *data, size_t len)
{
	struct docker_demux *m = r->stream_ctx;

	while (len) {
		if (m->left == 0) {
			size_t n = sizeof(m->hdr) - m->hdr_len;
			if (n > len)
				n = len;
			memcpy(m->hdr + m->hdr_len, data, n);
			m->hdr_len += n;
			data += n;
			len -= n;
			if (m->hdr_len < sizeof(m->hdr))
				break;
			m->type = m->hdr[0];
			m->left = (uint32_t)m->hdr[4] << 24 | (uint32_t)m->hdr[5] << 16 |
			          (uint32_t)m->hdr[6] << 8 | (uint32_t)m->hdr[7];
			m->hdr_len = 0;
			if (m->type > 2 || m->hdr[1] || m->hdr[2] || m->hdr[3]) {
				cd_error_set(&r->cb_err, CD_EREMOTE,
				        "the engine's output is not framed as expected "
				        "(a container with a TTY?)");
				return -1;
			}
			continue;
		}
		size_t n = len < m->left ? len : m->left;
		if (m->type != 2 && m->on_out) {
			if (m->on_out(m->on_out_ctx, data, n, &r->cb_err) < 0) {
				if (!r->cb_err.code)
					cd_error_set(&r->cb_err, CD_EFAIL, "the output's reader failed");
				return -1;
			}
		} else {
			demux_add(m, m->type == 2 ? m->err : m->out, data, n);
		}
		m->left -= (uint32_t)n;
		data += n;
		len -= n;
	}
	return 0;
}

void docker_demux_finish(struct docker_demux *m)
{
	struct cd_buf *bufs[] = {m->out, m->err};

	if (!m->keep_tail)
		return;
	for (size_t i = 0; i < CD_ARRAY_SIZE(bufs); i++) {
		struct cd_buf *b = bufs[i];
		if (b && b->len > m->max) {
			memmove(b->buf, b->buf + b->len - m->max, m->max);
			b->len = m->max;
			b->buf[b->len] = '\0';
		}
	}
}

/* ---- base64url ---- */

char *docker_base64url(const char *data, size_t len)
{
	static const char tab[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const unsigned char *p = (const unsigned char *)data;
	char *out = cd_xmalloc((len + 2) / 3 * 4 + 1), *o = out;

	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		*o++ = tab[v >> 18 & 63];
		*o++ = tab[v >> 12 & 63];
		*o++ = i + 1 < len ? tab[v >> 6 & 63] : '=';
		*o++ = i + 2 < len ? tab[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

/* ---- engine ---- */

int cd_docker_ping(struct cd_docker *d, struct cd_error *err)
{
	struct docker_req r;
	int ret;

	docker_req_init(&r, "GET", "/_ping");
	ret = docker_do(d, &r, err);
	docker_req_release(&r);
	return ret;
}

int cd_docker_version(struct cd_docker *d, struct cd_docker_version *ret, struct cd_error *err)
{
	struct docker_req r;
	cJSON *json = NULL;
	int rc;

	docker_req_init(&r, "GET", "/version");
	docker_req_what(&r, "cannot read the version of the Docker engine at %s", d->description);
	rc = docker_do(d, &r, err);
	if (rc == 0)
		rc = docker_json_parse(&r, &json, err);
	if (rc == 0) {
		memset(ret, 0, sizeof(*ret));
		ret->version = docker_json_strdup(json, "Version");
		ret->api_version = docker_json_strdup(json, "ApiVersion");
		ret->os = docker_json_strdup(json, "Os");
		ret->arch = docker_json_strdup(json, "Arch");
	}
	cJSON_Delete(json);
	docker_req_release(&r);
	return rc;
}

void cd_docker_version_release(struct cd_docker_version *v)
{
	free(v->version);
	free(v->api_version);
	free(v->os);
	free(v->arch);
	memset(v, 0, sizeof(*v));
}
