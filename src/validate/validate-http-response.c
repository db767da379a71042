/*
 * The framing of an HTTP/1.x response (RFC 9112): status line, headers,
 * then a body by Content-Length, by chunks (their extensions and the
 * trailers read and dropped) or until the connection closes; none for HEAD,
 * 204 and 304; 1xx answers skipped. Lines may end in CRLF or a bare LF.
 */
#include <string.h>
#include <strings.h>

#include "validate-http-response.h"

void http_response_start(struct http_response *r, int head)
{
	memset(r, 0, sizeof(*r));
	r->state = HTTP_RESPONSE_STATUS;
	r->no_body = head;
}

static size_t bad(struct http_response *r)
{
	r->state = HTTP_RESPONSE_BAD;
	return 0;
}

/* Optional whitespace around a header's value is not part of it. */
static void trim(const char **s, const char **end)
{
	while (*s < *end && (**s == ' ' || **s == '\t'))
		(*s)++;
	while (*end > *s && ((*end)[-1] == ' ' || (*end)[-1] == '\t'))
		(*end)--;
}

static int is_token(const char *s, const char *end, const char *word)
{
	size_t n = strlen(word);
	return (size_t)(end - s) == n && strncasecmp(s, word, n) == 0;
}

/* Decimal digits only, at most 18 of them: anything else is no length. */
static int parse_length(const char *s, const char *end, uint64_t *ret)
{
	if (s == end || end - s > 18)
		return -1;
	uint64_t v = 0;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*ret = v;
	return 0;
}

/* "HTTP/1.x SSS reason": the reason may be empty, even without its space. */
static int parse_status(struct http_response *r, const char *s, const char *end)
{
	if (end - s < 12 || memcmp(s, "HTTP/1.", 7) != 0 || s[7] < '0' || s[7] > '9' || s[8] != ' ')
		return -1;
	for (int i = 9; i < 12; i++)
		if (s[i] < '0' || s[i] > '9')
			return -1;
	if (end - s > 12 && s[12] != ' ')
		return -1;
	r->minor = s[7] - '0';
	r->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
	if (r->status < 100)
		return -1;
	r->chunked = r->has_length = r->conn_close = r->conn_keep_alive = 0;
	return 0;
}

/* One header line: only the framing headers matter. */
static int parse_header(struct http_response *r, const char *s, const char *end)
{
	if (*s == ' ' || *s == '\t') /* an obsolete folded continuation: of no framing header here */
		return 0;
	const char *colon = memchr(s, ':', (size_t)(end - s));
	if (!colon || colon == s)
		return -1;
	const char *v = colon + 1, *vend = end;
	trim(&v, &vend);
	if (is_token(s, colon, "Content-Length")) {
		uint64_t n;
		if (parse_length(v, vend, &n) < 0 || (r->has_length && n != r->remaining))
			return -1;
		r->has_length = 1;
		r->remaining = n;
	} else if (is_token(s, colon, "Transfer-Encoding")) {
		/* Chunked only when it is the last coding; otherwise the body runs until close. */
		const char *last = vend;
		while (last > v && last[-1] != ',')
			last--;
		const char *lend = vend;
		trim(&last, &lend);
		r->chunked = is_token(last, lend, "chunked");
		if (!r->chunked)
			r->has_length = 0, r->conn_close = 1;
	} else if (is_token(s, colon, "Connection")) {
		while (v < vend) {
			const char *t = v, *tend = memchr(v, ',', (size_t)(vend - v));
			if (!tend)
				tend = vend;
			v = tend < vend ? tend + 1 : vend;
			trim(&t, &tend);
			r->conn_close |= is_token(t, tend, "close");
			r->conn_keep_alive |= is_token(t, tend, "keep-alive");
		}
	}
	return 0;
}

/* After the empty line that ends the headers: how the body is framed. */
static void headers_end(struct http_response *r)
{
	if (r->status < 200) {
		/* 100 Continue, 103 Early Hints...: the final answer follows; 101 was never asked for. */
		r->state = r->status == 101 ? HTTP_RESPONSE_BAD : HTTP_RESPONSE_STATUS;
		return;
	}
	r->keep_alive = !r->conn_close && (r->minor >= 1 || r->conn_keep_alive);
	if (r->no_body || r->status == 204 || r->status == 304)
		r->state = HTTP_RESPONSE_DONE;
	else if (r->chunked)
		r->state = HTTP_RESPONSE_CHUNK_SIZE;
	else if (r->has_length)
		r->state = r->remaining ? HTTP_RESPONSE_BODY : HTTP_RESPONSE_DONE;
	else {
		r->state = HTTP_RESPONSE_UNTIL_CLOSE;
		r->keep_alive = 0;
	}
}

/* Hexadecimal digits, then optional whitespace and extensions (";name=value", dropped). */
static int parse_chunk_size(struct http_response *r, const char *s, const char *end)
{
	uint64_t v = 0;
	const char *p = s;
	for (; p < end; p++) {
		int d = *p >= '0' && *p <= '9' ? *p - '0'
		      : (*p | 0x20) >= 'a' && (*p | 0x20) <= 'f' ? (*p | 0x20) - 'a' + 10
		                                                 : -1;
		if (d < 0)
			break;
		if (v >> 56)
			return -1;
		v = v * 16 + (uint64_t)d;
	}
	if (p == s)
		return -1;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p < end && *p != ';')
		return -1;
	r->remaining = v;
	r->state = v ? HTTP_RESPONSE_CHUNK_DATA : HTTP_RESPONSE_TRAILERS;
	return 0;
}

/* One whole line of the head, a chunk's framing or the trailers. -1: malformed. */
static int feed_line(struct http_response *r, const char *s, const char *end)
{
	switch (r->state) {
	case HTTP_RESPONSE_STATUS:
		if (parse_status(r, s, end) < 0)
			return -1;
		r->state = HTTP_RESPONSE_HEADERS;
		return 0;
	case HTTP_RESPONSE_HEADERS:
		if (s == end)
			headers_end(r);
		else if (parse_header(r, s, end) < 0)
			return -1;
		return 0;
	case HTTP_RESPONSE_CHUNK_SIZE:
		return parse_chunk_size(r, s, end);
	case HTTP_RESPONSE_CHUNK_END:
		if (s != end)
			return -1;
		r->state = HTTP_RESPONSE_CHUNK_SIZE;
		return 0;
	case HTTP_RESPONSE_TRAILERS:
		if (s == end)
			r->state = HTTP_RESPONSE_DONE;
		return 0;
	default:
		return -1;
	}
}

static int reads_lines(enum http_response_state s)
{
	return s == HTTP_RESPONSE_STATUS || s == HTTP_RESPONSE_HEADERS || s == HTTP_RESPONSE_CHUNK_SIZE ||
	       s == HTTP_RESPONSE_CHUNK_END || s == HTTP_RESPONSE_TRAILERS;
}

size_t http_response_feed(struct http_response *r, const char *data, size_t len)
{
	size_t used = 0;
	while (used < len && r->state != HTTP_RESPONSE_DONE && r->state != HTTP_RESPONSE_BAD) {
		const char *p = data + used;
		size_t left = len - used;
		if (reads_lines(r->state)) {
			const char *nl = memchr(p, '\n', left);
			size_t n = nl ? (size_t)(nl - p) + 1 : left;
			int head = r->state != HTTP_RESPONSE_CHUNK_SIZE && r->state != HTTP_RESPONSE_CHUNK_END;
			if (n > HTTP_RESPONSE_LINE_MAX || (head && r->head_bytes + n > HTTP_RESPONSE_HEAD_MAX))
				return used + bad(r);
			if (!nl)
				break; /* the rest of the line is still to come */
			if (head)
				r->head_bytes += n;
			const char *end = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
			if (feed_line(r, p, end) < 0)
				return used + bad(r);
			used += n;
		} else if (r->state == HTTP_RESPONSE_UNTIL_CLOSE) {
			used = len;
		} else { /* BODY or CHUNK_DATA */
			size_t n = left < r->remaining ? left : (size_t)r->remaining;
			r->remaining -= n;
			used += n;
			if (!r->remaining)
				r->state = r->state == HTTP_RESPONSE_BODY ? HTTP_RESPONSE_DONE : HTTP_RESPONSE_CHUNK_END;
		}
	}
	return used;
}

void http_response_eof(struct http_response *r)
{
	r->state = r->state == HTTP_RESPONSE_UNTIL_CLOSE || r->state == HTTP_RESPONSE_DONE
	                   ? HTTP_RESPONSE_DONE
	                   : HTTP_RESPONSE_BAD;
}
