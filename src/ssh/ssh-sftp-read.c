/*
 * ssh-sftp-read: a host's file read in order with SFTP_IN_FLIGHT reads of
 * SFTP_CHUNK bytes in flight, so a large file streams at the link's speed
 * while memory stays bounded (the answers in flight and one chunk kept).
 * Reads ask for consecutive chunks; a shorter answer (the file's end, or a
 * server that reads less) makes the reads in flight meaningless: they are
 * drained and reading resumes where the short one ended. The window starts
 * small and doubles with each full answer, so that a small file costs a few
 * requests rather than a window's worth past its end.
 */
#include <stdlib.h>
#include <string.h>

#include "ssh-sftp-internal.h"

struct cd_ssh_sftp_reader {
	struct cd_ssh_session *s;
	char *path;
	char *handle;
	size_t hl;
	struct cd_buf req;
	struct sftp_answer a;
	uint64_t asked;	    /* offset of the next read to send */
	uint64_t oldest;    /* offset the oldest read in flight asked for */
	uint32_t oldest_id;
	size_t in_flight;
	size_t window;	    /* reads kept in flight: 2 doubling up to SFTP_IN_FLIGHT */
	int draining;	    /* the reads in flight are discarded (after a short one) */
	int eof_seen;	    /* a read in flight met the end */
	int eof;
	size_t pos;	    /* of the bytes taken from the last DATA answer (in a.rest) */
	const char *data;
	size_t data_len;
	int failed;	    /* < 0: the error every later read returns */
	int in_sync;	    /* every answer sent for was read */
};

int cd_ssh_sftp_reader_open(struct cd_ssh_session *s, const char *path,
	struct cd_ssh_sftp_reader **ret, struct cd_error *err)
{
	int r = sftp_begin(s, err);
	if (r < 0)
		return r;
	struct cd_ssh_sftp_reader *rd = cd_xcalloc(1, sizeof(*rd));
	rd->s = s;
	rd->path = cd_xstrdup(path);
	rd->req = (struct cd_buf)CD_BUF_INIT;
	rd->a = (struct sftp_answer){ .pkt = CD_BUF_INIT };
	r = sftp_open_handle(s, path, FXF_READ, -1, "read", &rd->req, &rd->a, &rd->in_sync,
		&rd->handle, &rd->hl, err);
	if (r < 0) {
		int in_sync = rd->in_sync;
		free(rd->path);
		cd_buf_release(&rd->req);
		cd_buf_release(&rd->a.pkt);
		free(rd);
		return sftp_end(s, r, in_sync);
	}
	rd->oldest_id = s->sftp->next_id;
	rd->window = 2;
	*ret = rd;
	return 0;
}

/* Sends reads until the window is in flight. */
static int send_reads(struct cd_ssh_sftp_reader *rd, struct cd_error *err)
{
	struct ssh_sftp *f = rd->s->sftp;
	if (rd->in_flight == 0)
		rd->oldest_id = f->next_id;
	cd_buf_reset(&rd->req);
	while (rd->in_flight < rd->window) {
		size_t start;
		sftp_request_begin(f, &rd->req, FXP_READ, &start);
		sftp_put_str(&rd->req, rd->handle, rd->hl);
		sftp_put_u64(&rd->req, rd->asked);
		sftp_put_u32(&rd->req, SFTP_CHUNK);
		sftp_request_end(&rd->req, start);
		rd->asked += SFTP_CHUNK;
		rd->in_flight++;
	}
	rd->in_sync = 0;
	return rd->req.len ? sftp_send(rd->s, &rd->req, err) : 0;
}

/* Reads the oldest answer in flight; DATA leaves its bytes in rd->data. */
static int next_answer(struct cd_ssh_sftp_reader *rd, struct cd_error *err)
{
	struct cd_ssh_session *s = rd->s;
	int r = sftp_recv_answer(s, rd->oldest_id, &rd->a, err);
	if (r < 0)
		return r;
	rd->oldest_id++;
	rd->in_flight--;
	rd->in_sync = rd->in_flight == 0;
	if (rd->draining) {
		if (rd->in_flight == 0) {
			rd->draining = 0;
			rd->eof = rd->eof_seen;
		}
		return 0;
	}
	uint64_t off = rd->oldest;
	rd->oldest += SFTP_CHUNK;
	if (rd->a.type == FXP_DATA) {
		size_t dl;
		const char *d = sftp_get_str(&rd->a.rest, &dl);
		if (rd->a.rest.bad || dl == 0 || dl > SFTP_CHUNK)
			return sftp_unexpected(s, err);
		rd->data = d;
		rd->data_len = dl;
		rd->pos = 0;
		if (dl == SFTP_CHUNK && rd->window < SFTP_IN_FLIGHT)
			rd->window *= 2;
		if (dl < SFTP_CHUNK) {
			/* The next bytes are at off + dl, which no read in flight asked for. */
			rd->asked = rd->oldest = off + dl;
			rd->draining = rd->in_flight > 0;
		}
		return 0;
	}
	if (rd->a.type == FXP_STATUS && rd->a.status == FX_EOF) {
		rd->eof_seen = 1;
		rd->draining = rd->in_flight > 0;
		rd->eof = !rd->draining;
		return 0;
	}
	return rd->a.type == FXP_STATUS ? sftp_status_error(s, &rd->a, "read", rd->path, err) :
		sftp_unexpected(s, err);
}

long cd_ssh_sftp_reader_read(struct cd_ssh_sftp_reader *rd, void *buf, size_t len,
	struct cd_error *err)
{
	if (rd->failed < 0)
		return cd_error_set(err, rd->failed, "host %s: reading %s failed before",
			rd->s->name, rd->path);
	while (rd->pos == rd->data_len) {
		if (rd->eof)
			return 0;
		int r = 0;
		if (!rd->draining && !rd->eof_seen)
			r = send_reads(rd, err);
		if (r == 0)
			r = next_answer(rd, err);
		if (r < 0) {
			rd->failed = r;
			return r;
		}
	}
	size_t n = rd->data_len - rd->pos < len ? rd->data_len - rd->pos : len;
	memcpy(buf, rd->data + rd->pos, n);
	rd->pos += n;
	return (long)n;
}

void cd_ssh_sftp_reader_close(struct cd_ssh_sftp_reader *rd)
{
	if (!rd)
		return;
	/* A reader closed early drains its reads so that the channel can serve the next operation. */
	while (rd->failed == 0 && rd->in_flight > 0)
		if (sftp_recv_answer(rd->s, rd->oldest_id++, &rd->a, NULL) < 0)
			rd->failed = CD_EREMOTE;
		else
			rd->in_flight--;
	int in_sync = rd->failed == 0 && rd->in_flight == 0 &&
		sftp_close_handle(rd->s, rd->handle, rd->hl, &rd->req, &rd->a);
	sftp_end(rd->s, in_sync ? 0 : CD_EREMOTE, in_sync);
	free(rd->handle);
	free(rd->path);
	cd_buf_release(&rd->req);
	cd_buf_release(&rd->a.pkt);
	free(rd);
}

int cd_ssh_sftp_read_to(struct cd_ssh_session *s, const char *path, cd_ssh_sink_fn sink,
	void *opaque, struct cd_error *err)
{
	struct cd_ssh_sftp_reader *rd;
	int r = cd_ssh_sftp_reader_open(s, path, &rd, err);
	if (r < 0)
		return r;
	char *buf = cd_xmalloc(SFTP_CHUNK);
	long n;
	while ((n = cd_ssh_sftp_reader_read(rd, buf, SFTP_CHUNK, err)) > 0)
		if ((r = sink(opaque, buf, (size_t)n, err)) < 0)
			break;
	if (n < 0)
		r = (int)n;
	free(buf);
	cd_ssh_sftp_reader_close(rd);
	return r;
}

struct capped_sink {
	struct cd_buf *out;
	size_t max;
	const char *host, *path;
};

static int capped_push(void *opaque, const void *data, size_t len, struct cd_error *err)
{
	struct capped_sink *c = opaque;
	if (c->out->len + len > c->max)
		return cd_error_set(err, CD_ETOOBIG, "host %s: %s is larger than %zu bytes", c->host,
			c->path, c->max);
	cd_buf_add(c->out, data, len);
	return 0;
}

int cd_ssh_sftp_read(struct cd_ssh_session *s, const char *path, size_t max, struct cd_buf *ret,
	struct cd_error *err)
{
	cd_buf_reset(ret);
	struct capped_sink c = { ret, max, s->name, path };
	return cd_ssh_sftp_read_to(s, path, capped_push, &c, err);
}
