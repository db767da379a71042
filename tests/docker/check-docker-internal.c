/*
 * The parts of the Docker client that need no engine: stream framing and
 * JSON lines fed in every chunking, base64url, path and query escaping,
 * reply messages, the upgraded connection of an exec with stdin (against a
 * stand-in engine on a socketpair), and the build context's tar and
 * .dockerignore.
 */
#include <archive.h>
#include <archive_entry.h>
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "docker-internal.h"

static const size_t chunkings[] = {1, 2, 3, 7, 8, 9, 4096, 1 << 20};

static void feed(struct docker_req *r, docker_stream_fn fn, const char *data, size_t len,
        size_t chunk, int expect)
{
	int ret = 0;
	for (size_t off = 0; off < len && ret == 0; off += chunk)
		ret = fn(r, data + off, len - off < chunk ? len - off : chunk);
	ck_assert_int_eq(ret, expect);
}

static void add_frame(struct cd_buf *b, int type, const char *data, size_t len)
{
	unsigned char h[8] = {(unsigned char)type, 0, 0, 0, (unsigned char)(len >> 24),
	        (unsigned char)(len >> 16), (unsigned char)(len >> 8), (unsigned char)len};
	cd_buf_add(b, h, sizeof(h));
	cd_buf_add(b, data, len);
}

START_TEST(test_docker_demux_chunked)
{
	struct cd_buf stream = CD_BUF_INIT, big = CD_BUF_INIT, want_out = CD_BUF_INIT;
	size_t chunk = chunkings[_i];

	for (int i = 0; i < 7000; i++)
		cd_buf_addf(&big, "line %05d\n", i);
	add_frame(&stream, 1, "out\n", 4);
	add_frame(&stream, 2, "err\n", 4);
	add_frame(&stream, 1, "", 0);
	add_frame(&stream, 1, big.buf, big.len);
	add_frame(&stream, 0, "in\n", 3); /* stdin echoes go with stdout */
	cd_buf_adds(&want_out, "out\n");
	cd_buf_add(&want_out, big.buf, big.len);
	cd_buf_adds(&want_out, "in\n");

	for (int tail = 0; tail < 2; tail++) {
		struct cd_buf out = CD_BUF_INIT, err = CD_BUF_INIT;
		struct docker_demux m = {
		        .out = &out, .err = &err, .max = tail ? 10 : 1 << 20, .keep_tail = tail};
		struct docker_req r;

		docker_req_init(&r, "GET", "/x");
		r.stream_ctx = &m;
		feed(&r, docker_demux_feed, stream.buf, stream.len, chunk, 0);
		docker_demux_finish(&m);
		if (tail) {
			ck_assert_str_eq(out.buf, " 06999\nin\n");
			ck_assert_uint_eq(out.len, 10);
		} else {
			ck_assert_uint_eq(out.len, want_out.len);
			ck_assert_int_eq(memcmp(out.buf, want_out.buf, out.len), 0);
		}
		ck_assert_str_eq(err.buf, "err\n");
		cd_buf_release(&out);
		cd_buf_release(&err);
		docker_req_release(&r);
	}
	cd_buf_release(&stream);
	cd_buf_release(&big);
	cd_buf_release(&want_out);
}
END_TEST

/* A streamed exec's sink: collects stdout uncapped, fails once it holds fail_at bytes. */
struct sink_seen {
	struct cd_buf got;
	size_t fail_at; /* 0: never */
};

static int sink_collect(void *opaque, const void *data, size_t len, struct cd_error *err)
{
	struct sink_seen *s = opaque;
	ck_assert_uint_gt(len, 0);
	if (s->fail_at && s->got.len + len >= s->fail_at)
		return cd_error_set(err, CD_EIO, "disk full");
	cd_buf_add(&s->got, data, len);
	return 0;
}

/* stdout to the sink in order whatever the chunking, stderr beside it; the sink's failure stops it. */
START_TEST(test_docker_demux_sink_chunked)
{
	struct cd_buf stream = CD_BUF_INIT, want = CD_BUF_INIT;
	size_t chunk = chunkings[_i];

	for (int i = 0; i < 3000; i++) {
		char line[32];
		int n = snprintf(line, sizeof(line), "row %05d\n", i);
		add_frame(&stream, 1, line, (size_t)n);
		cd_buf_add(&want, line, (size_t)n);
		if (i % 500 == 0)
			add_frame(&stream, 2, "progress\n", 9);
	}
	for (int fail = 0; fail < 2; fail++) {
		struct sink_seen seen = {.got = CD_BUF_INIT, .fail_at = fail ? 20000 : 0};
		struct cd_buf err = CD_BUF_INIT;
		struct docker_demux m = {
		        .err = &err, .max = 18, .keep_tail = 1, .on_out = sink_collect, .on_out_ctx = &seen};
		struct docker_req r;

		docker_req_init(&r, "GET", "/x");
		r.stream_ctx = &m;
		feed(&r, docker_demux_feed, stream.buf, stream.len, chunk, fail ? -1 : 0);
		docker_demux_finish(&m);
		if (fail) {
			ck_assert_int_eq(r.cb_err.code, CD_EIO);
			ck_assert_str_eq(r.cb_err.msg, "disk full");
			ck_assert_uint_lt(seen.got.len, 20000);
		} else {
			ck_assert_uint_eq(seen.got.len, want.len);
			ck_assert_int_eq(memcmp(seen.got.buf, want.buf, want.len), 0);
			ck_assert_str_eq(err.buf, "progress\nprogress\n");
		}
		cd_buf_release(&seen.got);
		cd_buf_release(&err);
		docker_req_release(&r);
	}
	cd_buf_release(&stream);
	cd_buf_release(&want);
}
END_TEST

START_TEST(test_docker_demux_cap_and_garbage)
{
	struct cd_buf stream = CD_BUF_INIT, out = CD_BUF_INIT;
	struct docker_demux m = {.out = &out, .err = NULL, .max = 5};
	struct docker_req r;

	add_frame(&stream, 1, "0123", 4);
	add_frame(&stream, 2, "dropped: no buffer", 18);
	add_frame(&stream, 1, "456789", 6);
	docker_req_init(&r, "GET", "/x");
	r.stream_ctx = &m;
	feed(&r, docker_demux_feed, stream.buf, stream.len, 3, 0);
	ck_assert_str_eq(out.buf, "01234");

	/* A TTY's raw output is not framed: said so, not misread. */
	feed(&r, docker_demux_feed, "hello world\n", 12, 12, -1);
	ck_assert_int_eq(r.cb_err.code, CD_EREMOTE);
	ck_assert_ptr_nonnull(strstr(r.cb_err.msg, "not framed"));
	docker_req_release(&r);
	cd_buf_release(&stream);
	cd_buf_release(&out);
}
END_TEST

struct seen {
	int objects;
	char ids[256];
};

static int on_object(struct docker_req *r, const cJSON *obj, void *ctx)
{
	struct seen *s = ctx;
	const cJSON *aux = cJSON_GetObjectItemCaseSensitive(obj, "aux");

	(void)r;
	s->objects++;
	if (aux && docker_json_str(aux, "ID"))
		strncat(s->ids, docker_json_str(aux, "ID"), sizeof(s->ids) - strlen(s->ids) - 1);
	return 0;
}

START_TEST(test_docker_jsonl_chunked)
{
	static const char text[] = "{\"status\":\"Pulling fs layer\",\"id\":\"1\"}\r\n"
	                           "\n"
	                           "{\"stream\":\"Step 1/2 : FROM x\\n\"}\n"
	                           "{\"errorDetail\":{\"message\":\"boom\\nin detail\"},"
	                           "\"error\":\"boom\"}\n"
	                           "{\"error\":\"second\"}\n"
	                           "{\"aux\":{\"ID\":\"sha256:abc\"}}";
	struct docker_jsonl j;
	struct docker_req r;
	struct seen s = {0};

	docker_jsonl_init(&j);
	j.on_object = on_object;
	j.ctx = &s;
	docker_req_init(&r, "POST", "/build");
	r.stream_ctx = &j;
	feed(&r, docker_jsonl_feed, text, strlen(text), chunkings[_i], 0);
	ck_assert_int_eq(docker_jsonl_finish(&r), 0);
	ck_assert_int_eq(s.objects, 5);
	ck_assert_str_eq(s.ids, "sha256:abc");
	/* The first error wins, errorDetail before error, on one line. */
	ck_assert_str_eq(j.error, "boom in detail");
	docker_jsonl_release(&j);
	docker_req_release(&r);
}
END_TEST

START_TEST(test_docker_jsonl_limits)
{
	struct docker_jsonl j;
	struct docker_req r;
	char *line = cd_xmalloc(DOCKER_LINE_MAX + 2);

	docker_jsonl_init(&j);
	docker_req_init(&r, "POST", "/images/load");
	r.stream_ctx = &j;
	memset(line, 'x', DOCKER_LINE_MAX + 1);
	line[DOCKER_LINE_MAX + 1] = '\n';
	feed(&r, docker_jsonl_feed, line, DOCKER_LINE_MAX + 2, 65536, -1);
	ck_assert_int_eq(r.cb_err.code, CD_ETOOBIG);
	free(line);
	docker_jsonl_release(&j);
	docker_req_release(&r);

	/* A line that is not JSON is the engine's words: kept as the error. */
	docker_jsonl_init(&j);
	docker_req_init(&r, "POST", "/images/load");
	r.stream_ctx = &j;
	feed(&r, docker_jsonl_feed, "  plain text answer \n", 21, 4, 0);
	ck_assert_str_eq(j.error, "plain text answer");
	docker_jsonl_release(&j);
	docker_req_release(&r);
}
END_TEST

START_TEST(test_docker_base64url)
{
	static const struct {
		const char *in;
		size_t len;
		const char *out;
	} cases[] = {
	        {"", 0, ""},
	        {"f", 1, "Zg=="},
	        {"fo", 2, "Zm8="},
	        {"foo", 3, "Zm9v"},
	        {"foob", 4, "Zm9vYg=="},
	        {"\xfb\xff", 2, "-_8="},
	        {"{\"username\":\"u\"}", 16, "eyJ1c2VybmFtZSI6InUifQ=="},
	};

	for (size_t i = 0; i < CD_ARRAY_SIZE(cases); i++) {
		char *s = docker_base64url(cases[i].in, cases[i].len);
		ck_assert_str_eq(s, cases[i].out);
		free(s);
	}
}
END_TEST

START_TEST(test_docker_req_escaping)
{
	struct docker_req r;

	docker_req_init(&r, "GET", "/images/%s/json%%", "127.0.0.1:5000/a b?c#d@sha256:1");
	docker_req_query(&r, "filters", "{\"label\":[\"a=b c&d\"]}");
	docker_req_query_int(&r, "t", -3);
	ck_assert_str_eq(r.path.buf, "/images/127.0.0.1:5000/a%20b%3Fc%23d@sha256:1/json%"
	                             "?filters=%7B%22label%22%3A%5B%22a%3Db%20c%26d%22%5D%7D&t=-3");
	docker_req_release(&r);
}
END_TEST

START_TEST(test_docker_reply_message)
{
	char *m;

	m = docker_reply_message("{\"message\":\"No such container: x\\nmore\"}\n", 40);
	ck_assert_str_eq(m, "No such container: x more");
	free(m);
	m = docker_reply_message("  page not found\r\n", 18);
	ck_assert_str_eq(m, "page not found");
	free(m);
	m = docker_reply_message("", 0);
	ck_assert_str_eq(m, "");
	free(m);
}
END_TEST

/* ---- the upgraded connection of an exec with stdin ---- */

START_TEST(test_docker_head_parse)
{
	static const char up[] = "HTTP/1.1 101 UPGRADED\r\n"
	                         "Content-Type: application/vnd.docker.raw-stream\r\n"
	                         "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n\x01\0\0\0";
	static const char old[] =
	        "HTTP/1.1 200 OK\r\n"
	        "content-type:  application/vnd.docker.multiplexed-stream \r\n\r\n";
	static const char refused[] = "HTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\n"
	                              "Content-Length: 42\r\n\r\n{\"message\":";
	static const char chunked[] =
	        "HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n";
	struct docker_head h;

	ck_assert_int_eq(docker_head_parse(up, sizeof(up) - 1, &h), sizeof(up) - 1 - 4);
	ck_assert_int_eq(h.status, 101);
	ck_assert_int_eq(h.raw_stream, 1);
	ck_assert_int_eq(h.content_length, -1);
	/* Every prefix of a head is "more needed". */
	for (size_t n = 0; n < sizeof(up) - 1 - 4; n++)
		ck_assert_int_eq(docker_head_parse(up, n, &h), 0);
	ck_assert_int_eq(docker_head_parse(old, sizeof(old) - 1, &h), sizeof(old) - 1);
	ck_assert_int_eq(h.status, 200);
	ck_assert_int_eq(h.raw_stream, 1);
	ck_assert_int_gt(docker_head_parse(refused, sizeof(refused) - 1, &h), 0);
	ck_assert_int_eq(h.status, 409);
	ck_assert_int_eq(h.raw_stream, 0);
	ck_assert_int_eq(h.content_length, 42);
	ck_assert_int_eq(docker_head_parse(chunked, sizeof(chunked) - 1, &h), sizeof(chunked) - 1);
	ck_assert_int_eq(h.status, 500);
	ck_assert_int_eq(h.chunked, 1);
	ck_assert_int_eq(docker_head_parse("SSH-2.0-OpenSSH\r\n", 17, &h), -1);
	ck_assert_int_eq(docker_head_parse("HTTP/1.1 2x0 OK\r\n\r\n", 19, &h), -1);
	ck_assert_int_eq(docker_head_parse("HTTP/1.1 200\r\n\r\n", 16, &h), 16);
	ck_assert_int_eq(
	        docker_head_parse("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", 39, &h), -1);
}
END_TEST

/*
 * A stand-in engine on the other end of a socketpair: it reads the request,
 * answers as the case says, and for an upgrade echoes what stdin brought as
 * stdout frames (or stops reading early), so the exchange is seen from both
 * sides.
 */
enum fake_case {
	FAKE_ECHO,     /* 101 with a frame in the same packet; stdin back as frames */
	FAKE_EARLY,    /* 101; reads 10 bytes of stdin, says so on stderr, closes */
	FAKE_REFUSED,  /* 409 with the engine's JSON message */
	FAKE_CHUNKED,  /* 500 with a chunked body */
	FAKE_NOT_HTTP, /* something else answers */
	FAKE_SILENT,   /* closes without a word */
};

struct fake_engine {
	enum fake_case what;
	int fd;
	pthread_t thread;
	struct cd_buf request; /* the head and body it received */
	uint64_t stdin_bytes;
	int saw_eof; /* the write side was half-closed while it could still answer */
};

static void fake_write(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

static void fake_frame(int fd, int type, const void *data, size_t len)
{
	struct cd_buf b = CD_BUF_INIT;
	add_frame(&b, type, data, len);
	fake_write(fd, b.buf, b.len);
	cd_buf_release(&b);
}

static void *fake_engine_run(void *arg)
{
	struct fake_engine *f = arg;
	char buf[65536];
	const char *end;
	ssize_t n;

	/* The request: a head and a Content-Length body. */
	while (!(end = strstr(f->request.buf, "\r\n\r\n")) ||
	        f->request.len < (size_t)(end - f->request.buf) + 4 + 28) {
		n = recv(f->fd, buf, sizeof(buf), 0);
		if (n <= 0)
			break;
		cd_buf_add(&f->request, buf, (size_t)n);
	}
	switch (f->what) {
	case FAKE_ECHO: {
		static const char head[] = "HTTP/1.1 101 UPGRADED\r\n"
		                           "Content-Type: application/vnd.docker.raw-stream\r\n"
		                           "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n";
		struct cd_buf first = CD_BUF_INIT;
		cd_buf_adds(&first, head);
		add_frame(&first, 1, "hello ", 6);
		fake_write(f->fd, first.buf, first.len);
		cd_buf_release(&first);
		while ((n = recv(f->fd, buf, sizeof(buf), 0)) > 0) {
			f->stdin_bytes += (uint64_t)n;
			fake_frame(f->fd, 1, buf, (size_t)n);
		}
		f->saw_eof = n == 0;
		fake_frame(f->fd, 2, "eof seen\n", 9);
		break;
	}
	case FAKE_EARLY: {
		static const char head[] = "HTTP/1.1 101 UPGRADED\r\n\r\n";
		fake_write(f->fd, head, sizeof(head) - 1);
		while (f->stdin_bytes < 10 && (n = recv(f->fd, buf, 10, 0)) > 0)
			f->stdin_bytes += (uint64_t)n;
		fake_frame(f->fd, 2, "read 10\n", 8);
		break;
	}
	case FAKE_REFUSED: {
		static const char reply[] =
		        "HTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\n"
		        "Content-Length: 43\r\n\r\n{\"message\":\"Container web is not "
		        "running\"}\n";
		fake_write(f->fd, reply, sizeof(reply) - 1);
		/* Kept open, as a keep-alive engine would: the length says where it ends. */
		n = recv(f->fd, buf, sizeof(buf), 0);
		break;
	}
	case FAKE_CHUNKED: {
		static const char reply[] =
		        "HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n"
		        "c\r\n{\"message\":\"\r\nf\r\ndisk is full\"}\n\r\n0\r\n\r\n";
		fake_write(f->fd, reply, sizeof(reply) - 1);
		n = recv(f->fd, buf, sizeof(buf), 0);
		break;
	}
	case FAKE_NOT_HTTP:
		fake_write(f->fd, "SSH-2.0-OpenSSH_9.2\r\n", 21);
		break;
	case FAKE_SILENT:
		break;
	}
	close(f->fd);
	return NULL;
}

static int fake_open(void *ctx, struct cd_error *err)
{
	struct fake_engine *f = ctx;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return cd_error_set_errno(err, errno, "socketpair");
	f->fd = sv[1];
	ck_assert_int_eq(pthread_create(&f->thread, NULL, fake_engine_run, f), 0);
	return sv[0];
}

struct stdin_gen {
	uint64_t left;
	struct cd_buf sent;
};

static long gen_source(void *opaque, void *buf, size_t len, struct cd_error *err)
{
	struct stdin_gen *g = opaque;
	char *p = buf;

	(void)err;
	if (len > g->left)
		len = (size_t)g->left;
	for (size_t i = 0; i < len; i++)
		p[i] = (char)('a' + (g->sent.len + i) % 23);
	cd_buf_add(&g->sent, p, len);
	g->left -= len;
	return (long)len;
}

struct hijack_case {
	enum fake_case what;
	int rc;
	const char *out, *err, *msg; /* out NULL: the stdin sent, after "hello " */
};

static const struct hijack_case hijack_cases[] = {
        {FAKE_ECHO, 0, NULL, "eof seen\n", NULL},
        {FAKE_EARLY, 0, "", "read 10\n", NULL},
        {FAKE_REFUSED, CD_EFAIL, "", "",
                "cannot run 'x' in container 'web': Container web is not running"},
        {FAKE_CHUNKED, CD_EREMOTE, "", "", "cannot run 'x' in container 'web': disk is full"},
        {FAKE_NOT_HTTP, CD_EREMOTE, "", "",
                "cannot run 'x' in container 'web': the engine's answer is not HTTP"},
        {FAKE_SILENT, CD_EREMOTE, "", "",
                "cannot run 'x' in container 'web': the Docker engine at fake closed the "
                "connection without answering"},
};

START_TEST(test_docker_hijack_cases)
{
	const struct hijack_case *c = &hijack_cases[_i];
	struct fake_engine f = {.what = c->what, .request = CD_BUF_INIT};
	struct cd_docker_transport t = {.open = fake_open, .ctx = &f, .description = "fake"};
	struct stdin_gen g = {.left = 3u << 20, .sent = CD_BUF_INIT};
	struct cd_buf out = CD_BUF_INIT, eout = CD_BUF_INIT;
	struct docker_demux m = {.out = &out, .err = &eout, .max = 8u << 20};
	struct cd_error err = CD_ERROR_INIT;
	struct cd_docker_stats stats;
	struct cd_docker *d;
	struct docker_req r;
	int rc;

	ck_assert_int_eq(cd_docker_open_transport(&t, &d, &err), 0);
	docker_req_init(&r, "POST", "/exec/%s/start", "abc");
	docker_req_what(&r, "cannot run '%s' in container '%s'", "x", "web");
	r.send = cd_xstrdup("{\"Detach\":false,\"Tty\":false}");
	r.send_len = strlen(r.send);
	r.content_type = "application/json";
	r.stream = docker_demux_feed;
	r.stream_ctx = &m;
	rc = docker_hijack(d, &r, gen_source, &g, cd_time_mono_ms() + 60000, &err);
	ck_assert_int_eq(pthread_join(f.thread, NULL), 0);
	ck_assert_msg(rc == c->rc, "%d %s", rc, err.msg);
	if (c->msg)
		ck_assert_str_eq(err.msg, c->msg);
	ck_assert_msg(strncmp(f.request.buf,
	                      "POST /v1.41/exec/abc/start HTTP/1.1\r\nHost: docker\r\n", 51) == 0,
	        "%s", f.request.buf);
	ck_assert_ptr_nonnull(strstr(f.request.buf, "\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"));
	ck_assert_ptr_nonnull(strstr(
	        f.request.buf, "\r\nContent-Type: application/json\r\nContent-Length: 28\r\n"));
	ck_assert_ptr_nonnull(strstr(f.request.buf, "\r\n\r\n{\"Detach\":false,\"Tty\":false}"));
	if (c->out) {
		ck_assert_str_eq(out.buf, c->out);
	} else {
		/* Everything sent came back, and the engine saw EOF before it answered last. */
		ck_assert_int_eq(f.saw_eof, 1);
		ck_assert_uint_eq(f.stdin_bytes, 3u << 20);
		ck_assert_uint_eq(out.len, 6 + g.sent.len);
		ck_assert_int_eq(memcmp(out.buf, "hello ", 6), 0);
		ck_assert_int_eq(memcmp(out.buf + 6, g.sent.buf, g.sent.len), 0);
	}
	ck_assert_str_eq(eout.buf, c->err);
	if (c->what == FAKE_EARLY)
		ck_assert_uint_lt(g.sent.len, 3u << 20);
	cd_docker_get_stats(d, &stats);
	ck_assert_uint_eq(stats.calls, 1);
	ck_assert_uint_eq(stats.mutating, 1);
	docker_req_release(&r);
	cd_docker_free(d);
	cd_buf_release(&f.request);
	cd_buf_release(&g.sent);
	cd_buf_release(&out);
	cd_buf_release(&eout);
	cd_error_release(&err);
}
END_TEST

/* ---- the build context ---- */

static char ctx_dir[128];

static void put(const char *rel, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", ctx_dir, rel);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static void put_dir(const char *rel)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", ctx_dir, rel);
	ck_assert_int_eq(mkdir(path, 0755), 0);
}

/* Reads the whole context through docker_context_read in len-byte reads. */
static void read_context(struct docker_context *c, size_t len, struct cd_buf *tar)
{
	struct docker_req r;
	char *buf = cd_xmalloc(len);
	ssize_t n;

	docker_req_init(&r, "POST", "/build");
	r.read_ctx = c;
	while ((n = docker_context_read(&r, buf, len)) > 0)
		cd_buf_add(tar, buf, (size_t)n);
	ck_assert_int_eq(n, 0);
	docker_req_release(&r);
	free(buf);
}

/* "path type size;" for each entry of the tar. */
static void list_tar(const struct cd_buf *tar, struct cd_buf *out)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;

	archive_read_support_format_tar(a);
	ck_assert_int_eq(archive_read_open_memory(a, tar->buf, tar->len), ARCHIVE_OK);
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		char type = archive_entry_filetype(e) == AE_IFDIR   ? 'd'
		            : archive_entry_filetype(e) == AE_IFLNK ? 'l'
		                                                    : 'f';
		cd_buf_addf(out, "%s %c %lld", archive_entry_pathname(e), type,
		        (long long)archive_entry_size(e));
		if (type == 'l')
			cd_buf_addf(out, " ->%s", archive_entry_symlink(e));
		ck_assert_int_eq(archive_entry_uid(e), 0);
		cd_buf_adds(out, ";");
	}
	archive_read_free(a);
}

/* The context tree, made once for the loop of chunkings and removed after it. */
static void context_setup(void)
{
	snprintf(ctx_dir, sizeof(ctx_dir), "/tmp/corpdeploy-ctx-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(ctx_dir));
	put("Dockerfile", "FROM scratch\n");
	put("app.c", "int main;\n");
	put("notes.md", "x");
	put("README.md", "kept");
	put_dir("build");
	put("build/out.o", "o");
	put_dir("src");
	put("src/a.tmp", "t");
	put("src/b.c", "b");
	put_dir("src/deep");
	put("src/deep/c.tmp", "t");
	put_dir("logs");
	put("logs/keep.log", "k");
	put("logs/drop.log", "d");
	{
		char link[512];
		snprintf(link, sizeof(link), "%s/link", ctx_dir);
		ck_assert_int_eq(symlink("app.c", link), 0);
	}
	put(".dockerignore", "# build output\n"
	                     "  build/  \n"
	                     "*.md\n"
	                     "!README.md\n"
	                     "src/*.tmp\n"
	                     "**/c.tmp\n"
	                     "./logs\n"
	                     "!logs/keep.log\n"
	                     "\n"
	                     "Dockerfile\n"
	                     ".dockerignore\n");
}

static void context_teardown(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", ctx_dir);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_docker_context_dockerignore)
{
	struct docker_context *c;
	struct cd_error err = CD_ERROR_INIT;
	struct cd_buf tar = CD_BUF_INIT, list = CD_BUF_INIT;

	ck_assert_msg(docker_context_new(ctx_dir, "Dockerfile", &c, &err) == 0, "%s", err.msg);
	read_context(c, chunkings[_i], &tar);
	docker_context_free(c);
	list_tar(&tar, &list);
	ck_assert_str_eq(list.buf, ".dockerignore f 109;"
	                           "Dockerfile f 13;"
	                           "README.md f 4;"
	                           "app.c f 10;"
	                           "link l 0 ->app.c;"
	                           "logs/keep.log f 1;"
	                           "src/ d 0;"
	                           "src/b.c f 1;"
	                           "src/deep/ d 0;");
	cd_buf_release(&tar);
	cd_buf_release(&list);

	/* No Dockerfile of that name, or one outside the context. */
	ck_assert_int_eq(docker_context_new(ctx_dir, "Other", &c, &err), CD_ENOTFOUND);
	ck_assert_msg(strstr(err.msg, "no Dockerfile 'Other' in the context"), "%s", err.msg);
	ck_assert_int_eq(docker_context_new(ctx_dir, "../Dockerfile", &c, &err), CD_EUSAGE);
	ck_assert_int_eq(
	        docker_context_new("/nonexistent-context", "Dockerfile", &c, &err), CD_EIO);
	cd_error_release(&err);
}
END_TEST

static Suite *docker_internal_suite(void)
{
	Suite *s = suite_create("docker-internal");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_docker_demux_chunked, 0, CD_ARRAY_SIZE(chunkings));
	tcase_add_loop_test(tc, test_docker_demux_sink_chunked, 0, CD_ARRAY_SIZE(chunkings));
	tcase_add_test(tc, test_docker_demux_cap_and_garbage);
	tcase_add_loop_test(tc, test_docker_jsonl_chunked, 0, CD_ARRAY_SIZE(chunkings));
	tcase_add_test(tc, test_docker_jsonl_limits);
	tcase_add_test(tc, test_docker_base64url);
	tcase_add_test(tc, test_docker_req_escaping);
	tcase_add_test(tc, test_docker_reply_message);
	tcase_add_test(tc, test_docker_head_parse);
	tcase_add_loop_test(tc, test_docker_hijack_cases, 0, CD_ARRAY_SIZE(hijack_cases));
	suite_add_tcase(s, tc);
	tc = tcase_create("context");
	tcase_add_unchecked_fixture(tc, context_setup, context_teardown);
	tcase_add_loop_test(tc, test_docker_context_dockerignore, 0, 4);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(docker_internal_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
