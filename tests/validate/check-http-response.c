/*
 * Unit tests for the load generator's HTTP/1.x response framing
 * (src/validate/validate-http-response.c). Every example is fed as the
 * client feeds it, the unused rest of one read kept in front of the next,
 * split once at every byte boundary and also one byte at a time: where the
 * bytes break must never change where the response ends, its status or
 * whether its connection may be kept.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/validate/validate-http-response.h"

struct example {
	const char *name;
	const char *text; /* the response, and maybe bytes of the next one after it */
	size_t end;       /* where the response ends: bytes the parser must use; 0: all of text */
	int head;         /* the request was HEAD */
	int eof;          /* the server closes the connection after text */
	enum http_response_state state;
	int status, keep_alive;
};

static const struct example examples[] = {
	{ "content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: t\r\n\r\nhello", 0, 0, 0,
		HTTP_RESPONSE_DONE, 200, 1 },
	{ "content-length, next response after it",
		"HTTP/1.1 404 Not Found\r\ncontent-length:  3 \r\n\r\nabcHTTP/1.1 200 OK\r\n", 50, 0, 0,
		HTTP_RESPONSE_DONE, 404, 1 },
	{ "empty body", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, 0, 0, HTTP_RESPONSE_DONE, 200, 1 },
	{ "bare LF line ends", "HTTP/1.1 500 Oops\nContent-Length: 2\n\nok", 0, 0, 0, HTTP_RESPONSE_DONE, 500, 1 },
	{ "no reason phrase", "HTTP/1.1 302\r\nLocation: /x\r\nContent-Length: 1\r\n\r\nx", 0, 0, 0,
		HTTP_RESPONSE_DONE, 302, 1 },
	{ "chunked with extensions and trailers",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		"5;name=value\r\nhello\r\n7 ; a=\"b;c\"\r\n, world\r\nA\r\n0123456789\r\n"
		"0;last\r\nX-Trailer: one\r\nX-Other: two\r\n\r\n",
		0, 0, 0, HTTP_RESPONSE_DONE, 200, 1 },
	{ "chunked, no trailers, length ignored",
		"HTTP/1.1 201 Created\r\nContent-Length: 99\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
		"3\r\nabc\r\n0\r\n\r\n",
		0, 0, 0, HTTP_RESPONSE_DONE, 201, 1 },
	{ "HEAD has no body", "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", 0, 1, 0, HTTP_RESPONSE_DONE,
		200, 1 },
	{ "HEAD of a chunked answer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 1, 0,
		HTTP_RESPONSE_DONE, 200, 1 },
	{ "204", "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n", 0, 0, 0, HTTP_RESPONSE_DONE, 204, 1 },
	{ "304", "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", 0, 0, 0, HTTP_RESPONSE_DONE, 304, 1 },
	{ "100-continue skipped",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		0, 0, 0, HTTP_RESPONSE_DONE, 200, 1 },
	{ "101 was never asked for", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", 0, 0, 0,
		HTTP_RESPONSE_BAD, 0, 0 },
	{ "Connection: close", "HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 2\r\n\r\nok", 0, 0, 0,
		HTTP_RESPONSE_DONE, 200, 0 },
	{ "Connection tokens", "HTTP/1.1 200 OK\r\nConnection: upgrade, close\r\nContent-Length: 0\r\n\r\n",
		0, 0, 0, HTTP_RESPONSE_DONE, 200, 0 },
	{ "body until close", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end\n", 0, 0, 1,
		HTTP_RESPONSE_DONE, 200, 0 },
	{ "HTTP/1.0 without keep-alive", "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc", 0, 0, 0,
		HTTP_RESPONSE_DONE, 200, 0 },
	{ "HTTP/1.0 with keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nabc",
		0, 0, 0, HTTP_RESPONSE_DONE, 200, 1 },
	{ "HTTP/1.0 body until close", "HTTP/1.0 200 OK\r\n\r\nall of it", 0, 0, 1, HTTP_RESPONSE_DONE, 200, 0 },
	{ "closed before the body ends", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", 0, 0, 1,
		HTTP_RESPONSE_BAD, 200, 0 },
	{ "closed inside a chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", 0, 0, 1,
		HTTP_RESPONSE_BAD, 200, 0 },
	{ "closed before any answer", "", 0, 0, 1, HTTP_RESPONSE_BAD, 0, 0 },
	{ "malformed status line", "HTTP/1.1 2x0 OK\r\n\r\n", 0, 0, 0, HTTP_RESPONSE_BAD, 0, 0 },
	{ "not HTTP at all", "SSH-2.0-OpenSSH_9.6\r\n", 0, 0, 0, HTTP_RESPONSE_BAD, 0, 0 },
	{ "HTTP/2 status line", "HTTP/2 200\r\n\r\n", 0, 0, 0, HTTP_RESPONSE_BAD, 0, 0 },
	{ "header without a colon", "HTTP/1.1 200 OK\r\nbroken header\r\n\r\n", 0, 0, 0, HTTP_RESPONSE_BAD, 200,
		0 },
	{ "bad content-length", "HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n", 0, 0, 0, HTTP_RESPONSE_BAD,
		200, 0 },
	{ "two content-lengths that differ", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
		0, 0, 0, HTTP_RESPONSE_BAD, 200, 0 },
	{ "bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0, 0, 0,
		HTTP_RESPONSE_BAD, 200, 0 },
	{ "no CRLF after a chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n0\r\n\r\n",
		0, 0, 0, HTTP_RESPONSE_BAD, 200, 0 },
};

/* A response whose headers are too large: one line too long, or too many lines. */
static char *oversized(int one_line)
{
	size_t n = one_line ? HTTP_RESPONSE_LINE_MAX + 100 : HTTP_RESPONSE_HEAD_MAX + 4096;
	char *s = malloc(n + 64);
	ck_assert_ptr_nonnull(s);
	strcpy(s, "HTTP/1.1 200 OK\r\n");
	size_t len = strlen(s);
	while (len < n) {
		/* "X-Pad: aaa...\r\n", as long as the whole or 64 bytes */
		size_t line = one_line ? n - len : 64;
		memcpy(s + len, "X-Pad: ", 7);
		memset(s + len + 7, 'a', line - 9);
		memcpy(s + len + line - 2, "\r\n", 2);
		len += line;
	}
	strcpy(s + len, "Content-Length: 0\r\n\r\n");
	return s;
}

/*
 * Feeds text in the pieces that begin at cuts[0..n) as the client does:
 * what the parser leaves is kept before the next piece. Returns the bytes
 * used in all.
 */
static size_t feed_pieces(struct http_response *r, const char *text, size_t len, const size_t *cuts,
	size_t n, int eof)
{
	char *buf = malloc(len + 1);
	ck_assert_ptr_nonnull(buf);
	size_t have = 0, total = 0;
	for (size_t i = 0; i < n && r->state != HTTP_RESPONSE_DONE && r->state != HTTP_RESPONSE_BAD; i++) {
		size_t to = i + 1 < n ? cuts[i + 1] : len;
		memcpy(buf + have, text + cuts[i], to - cuts[i]);
		have += to - cuts[i];
		size_t used = http_response_feed(r, buf, have);
		ck_assert_uint_le(used, have);
		memmove(buf, buf + used, have - used);
		have -= used;
		total += used;
	}
	if (eof && r->state != HTTP_RESPONSE_DONE && r->state != HTTP_RESPONSE_BAD)
		http_response_eof(r);
	free(buf);
	return total;
}

static void check_outcome(const struct example *ex, const struct http_response *r, size_t used,
	size_t len, const char *how)
{
	ck_assert_msg(r->state == ex->state, "%s (%s): state %d, expected %d", ex->name, how, r->state,
		ex->state);
	if (ex->state != HTTP_RESPONSE_DONE)
		return;
	size_t end = ex->end ? ex->end : len;
	ck_assert_msg(used == end, "%s (%s): used %zu bytes, expected %zu", ex->name, how, used, end);
	ck_assert_msg(r->status == ex->status, "%s (%s): status %d", ex->name, how, r->status);
	ck_assert_msg(r->keep_alive == ex->keep_alive, "%s (%s): keep_alive %d", ex->name, how,
		r->keep_alive);
}

/* Split in two at every byte boundary, and fed one byte at a time. */
static void check_every_split(const struct example *ex, const char *text)
{
	size_t len = strlen(text);
	struct http_response r;
	for (size_t cut = 0; cut <= len; cut++) {
		size_t cuts[2] = { 0, cut };
		http_response_start(&r, ex->head);
		size_t used = feed_pieces(&r, text, len, cuts, 2, ex->eof);
		char how[64];
		snprintf(how, sizeof(how), "split at %zu", cut);
		check_outcome(ex, &r, used, len, how);
	}
	size_t *bytes = malloc((len + 1) * sizeof(*bytes));
	ck_assert_ptr_nonnull(bytes);
	for (size_t i = 0; i <= len; i++)
		bytes[i] = i;
	http_response_start(&r, ex->head);
	size_t used = feed_pieces(&r, text, len, bytes, len + 1, ex->eof);
	check_outcome(ex, &r, used, len, "byte by byte");
	free(bytes);
}

START_TEST(test_http_response_examples)
{
	check_every_split(&examples[_i], examples[_i].text);
}
END_TEST

START_TEST(test_http_response_oversized_headers)
{
	const struct example ex = { _i ? "a header line too long" : "too many header lines", NULL, 0, 0, 0,
		HTTP_RESPONSE_BAD, 0, 0 };
	char *text = oversized(_i);
	check_every_split(&ex, text);
	free(text);
}
END_TEST

START_TEST(test_http_response_large_headers_within_limits)
{
	/* Just below both limits: still an answer. */
	const struct example ex = { "large headers", NULL, 0, 0, 0, HTTP_RESPONSE_DONE, 200, 1 };
	char line[HTTP_RESPONSE_LINE_MAX + 1];
	memcpy(line, "X-Big: ", 7);
	memset(line + 7, 'b', HTTP_RESPONSE_LINE_MAX - 9);
	strcpy(line + HTTP_RESPONSE_LINE_MAX - 2, "\r\n");
	size_t n = 17 + 4 * HTTP_RESPONSE_LINE_MAX + 21;
	ck_assert_uint_lt(n, HTTP_RESPONSE_HEAD_MAX);
	char *text = malloc(n + 1);
	ck_assert_ptr_nonnull(text);
	strcpy(text, "HTTP/1.1 200 OK\r\n");
	for (int i = 0; i < 4; i++)
		strcat(text, line);
	strcat(text, "Content-Length: 0\r\n\r\n");
	ck_assert_uint_eq(strlen(text), n);
	check_every_split(&ex, text);
	free(text);
}
END_TEST

START_TEST(test_http_response_reused_for_the_next)
{
	/* Two answers on one connection: start() makes the parser ready for the second. */
	const char *two = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 503 No\r\nContent-Length: 0\r\n\r\n";
	struct http_response r;
	http_response_start(&r, 0);
	size_t used = http_response_feed(&r, two, strlen(two));
	ck_assert_int_eq(r.state, HTTP_RESPONSE_DONE);
	ck_assert_uint_eq(used, 39);
	http_response_start(&r, 0);
	ck_assert_uint_eq(http_response_feed(&r, two + used, strlen(two) - used), strlen(two) - used);
	ck_assert_int_eq(r.state, HTTP_RESPONSE_DONE);
	ck_assert_int_eq(r.status, 503);
}
END_TEST

static Suite *http_response_suite(void)
{
	Suite *s = suite_create("http-response");
	TCase *tc = tcase_create("http-response");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_http_response_examples, 0, (int)(sizeof(examples) / sizeof(examples[0])));
	tcase_add_loop_test(tc, test_http_response_oversized_headers, 0, 2);
	tcase_add_test(tc, test_http_response_large_headers_within_limits);
	tcase_add_test(tc, test_http_response_reused_for_the_next);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(http_response_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
