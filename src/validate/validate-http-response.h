/*
 * An HTTP/1.x response read as it arrives, for the load generator's own
 * client (validate-load-raw.c): only what it takes to find where a response
 * ends and whether its connection may carry the next request. Headers other
 * than the framing ones are skipped, the body is counted, never kept.
 */
#ifndef CORPDEPLOY_VALIDATE_HTTP_RESPONSE_H
#define CORPDEPLOY_VALIDATE_HTTP_RESPONSE_H

#include <stddef.h>
#include <stdint.h>

/* The longest status line, header line or chunk-size line, and all header lines together. */
#define HTTP_RESPONSE_LINE_MAX 8192
#define HTTP_RESPONSE_HEAD_MAX 65536

enum http_response_state {
	HTTP_RESPONSE_STATUS,	   /* reading the status line */
	HTTP_RESPONSE_HEADERS,	   /* reading header lines */
	HTTP_RESPONSE_BODY,	   /* Content-Length bytes remain */
	HTTP_RESPONSE_CHUNK_SIZE,  /* a chunk-size line, with its extensions */
	HTTP_RESPONSE_CHUNK_DATA,  /* the chunk's bytes */
	HTTP_RESPONSE_CHUNK_END,   /* the CRLF after a chunk's bytes */
	HTTP_RESPONSE_TRAILERS,	   /* trailer lines after the last chunk */
	HTTP_RESPONSE_UNTIL_CLOSE, /* neither length nor chunked: the body ends with the connection */
	HTTP_RESPONSE_DONE,
	HTTP_RESPONSE_BAD, /* malformed or too large: the connection is of no further use */
};

struct http_response {
	enum http_response_state state;
	int no_body;	/* the request was HEAD: no response to it has a body */
	int status;	/* of the final response (1xx answers are skipped) */
	int keep_alive; /* the connection may carry another request once DONE */
	int minor;	/* HTTP/1.minor */
	int chunked;
	int has_length;
	int conn_close, conn_keep_alive; /* the Connection header's tokens */
	uint64_t remaining; /* body or chunk bytes still to come */
	size_t head_bytes;  /* of the status line and headers read so far */
};

/* Ready for the response to a request; head: the request's method was HEAD. */
void http_response_start(struct http_response *r, int head);

/*
 * Reads what it can of data[0..len): returns how many bytes it used. A line
 * is used only when whole, so the caller keeps the rest and calls again with
 * it and what arrives next. Stops at the end of the response (state DONE;
 * what follows is not used) or at an error (state BAD).
 */
size_t http_response_feed(struct http_response *r, const char *data, size_t len);

/* The connection was closed by the peer: ends a body read until close (DONE), else BAD. */
void http_response_eof(struct http_response *r);

#endif
