/*
 * One HTTP request with a deadline, its status, headers, body and latency;
 * and the TCP probe of health checks. Bodies are capped: a check reads what
 * it needs to judge, never an unbounded stream.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "corpdeploy/http.h"

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
	struct cd_buf *b = ud;
	return cd_buf_add(b, p, size * n) == 0 ? size * n : 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct cd_buf *b = ud;
	/* A new status line starts the block again (redirects, 100 Continue). */
	if (size * n > 5 && strncmp(p, "HTTP/", 5) == 0)
		cd_buf_reset(b);
	return cd_buf_add(b, p, size * n) == 0 ? size * n : 0;
}

int cd_http_do(const struct cd_http_request *req, struct cd_http_response *resp,
	struct cd_error *err)
{
	CURL *c;
	struct curl_slist *hdrs = NULL;
	int r = 0;

	memset(resp, 0, sizeof(*resp));
	cd_buf_init(&resp->headers, 256 * 1024);
	cd_buf_init(&resp->body, req->max_body ? req->max_body : 8 * 1024 * 1024);
	if (!(c = curl_easy_init()))
		cd_oom();
	curl_easy_setopt(c, CURLOPT_URL, req->url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(req->timeout_ms > 0 ? req->timeout_ms : 10000));
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp->body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &resp->headers);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "corpdeploy");
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (req->method && strcmp(req->method, "GET") != 0) {
		if (strcmp(req->method, "HEAD") == 0)
			curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
		else
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
	}
	if (req->body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(req->body));
	}
	for (size_t i = 0; req->headers && i < req->headers->n; i++) {
		char *h = cd_xasprintf("%s: %s", req->headers->items[i].key, req->headers->items[i].value);
		struct curl_slist *n = curl_slist_append(hdrs, h);
		free(h);
		if (!n)
			cd_oom();
		hdrs = n;
	}
	if (hdrs)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	int64_t t0 = cd_time_mono_ms();
	CURLcode cc = curl_easy_perform(c);
	resp->latency_ms = cd_time_mono_ms() - t0;
	if (cc == CURLE_WRITE_ERROR && resp->body.len)
		cc = CURLE_OK; /* the cap was reached: judge what we have */
	if (cc != CURLE_OK) {
		r = cd_error_set(err, CD_EREMOTE, "%s %s: %s", req->method ? req->method : "GET", req->url,
			curl_easy_strerror(cc));
	} else {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	return r;
}

void cd_http_response_release(struct cd_http_response *resp)
{
	cd_buf_release(&resp->headers);
	cd_buf_release(&resp->body);
}

char *cd_http_header(const struct cd_http_response *resp, const char *name)
{
	size_t nlen = strlen(name);
	const char *p = resp->headers.buf;
	while (p && *p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		if (len > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
			const char *v = p + nlen + 1;
			const char *e = p + len;
			while (v < e && (*v == ' ' || *v == '\t'))
				v++;
			while (e > v && (e[-1] == '\r' || e[-1] == ' '))
				e--;
			return cd_xstrndup(v, (size_t)(e - v));
		}
		p = eol ? eol + 1 : NULL;
	}
	return NULL;
}

int cd_tcp_probe(const char *hostport, int64_t timeout_ms, struct cd_error *err)
{
	const char *colon = strrchr(hostport, ':');
	if (!colon || colon == hostport)
		return cd_error_set(err, CD_EUSAGE, "expected host:port, got '%s'", hostport);
	char *host = hostport[0] == '[' ? cd_xstrndup(hostport + 1, (size_t)(colon - hostport - 2))
					: cd_xstrndup(hostport, (size_t)(colon - hostport));
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	int g = getaddrinfo(host, colon + 1, &hints, &ai);
	free(host);
	if (g != 0)
		return cd_error_set(err, CD_EREMOTE, "cannot resolve '%s': %s", hostport, gai_strerror(g));
	int r = CD_EREMOTE, fd = -1, e = ECONNREFUSED;
	for (struct addrinfo *a = ai; a && r != 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
			r = 0;
		} else if (errno == EINPROGRESS) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			if (poll(&pfd, 1, (int)(timeout_ms > 0 ? timeout_ms : 1000)) == 1) {
				socklen_t len = sizeof(e);
				getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len);
				if (e == 0)
					r = 0;
			} else {
				e = ETIMEDOUT;
			}
		} else {
			e = errno;
		}
		close(fd);
	}
	freeaddrinfo(ai);
	if (r != 0)
		return cd_error_set(err, CD_EREMOTE, "cannot connect to %s: %s", hostport, strerror(e));
	return 0;
}
