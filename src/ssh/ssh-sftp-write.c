/*
 * ssh-sftp-write: a new file on a host, created exclusively, its bytes
 * pulled from a source. Requests that do not depend on each other's answers
 * go out together (the writes, owner, mode, fsync and close) with at most
 * SFTP_IN_FLIGHT answers pending, so a file costs a few round trips and
 * memory stays bounded whatever its size.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "corpdeploy/log.h"
#include "ssh-sftp-internal.h"

/* The group the file has, for a chown that gives only a user: SFTP sets both at once. */
static int current_gid(struct cd_ssh_session *s, const char *path, const char *handle, size_t hl,
	struct cd_buf *req, struct sftp_answer *a, int64_t *ret_gid, struct cd_error *err)
{
	size_t start;
	cd_buf_reset(req);
	uint32_t id = sftp_request_begin(s->sftp, req, FXP_FSTAT, &start);
	sftp_put_str(req, handle, hl);
	sftp_request_end(req, start);
	int r;
	if ((r = sftp_send(s, req, err)) < 0 || (r = sftp_recv_answer(s, id, a, err)) < 0)
		return r;
	if (a->type != FXP_ATTRS)
		return sftp_status_error(s, a, "stat", path, err);
	struct cd_ssh_file_attrs now;
	sftp_get_attrs(&a->rest, &now);
	*ret_gid = now.gid;
	return 0;
}

/* Up to SFTP_CHUNK bytes from source into chunk (a short count only at its end); *ret_done at the end. */
static long fill_chunk(cd_ssh_source_fn source, void *opaque, char *chunk, int *ret_done,
	struct cd_error *err)
{
	size_t n = 0;
	while (n < SFTP_CHUNK) {
		long got = source(opaque, chunk + n, SFTP_CHUNK - n, err);
		if (got < 0)
			return got;
		if (got == 0) {
			*ret_done = 1;
			break;
		}
		n += (size_t)got;
	}
	return (long)n;
}

enum tail_op { OP_CHOWN, OP_CHMOD, OP_FSYNC, OP_CLOSE };

static void put_tail(struct ssh_sftp *f, struct cd_buf *req, enum tail_op op, const char *handle,
	size_t hl, const struct cd_ssh_file_attrs *attrs, int64_t gid)
{
	size_t start;
	sftp_request_begin(f, req, op == OP_FSYNC ? FXP_EXTENDED : op == OP_CLOSE ? FXP_CLOSE :
		FXP_FSETSTAT, &start);
	if (op == OP_FSYNC)
		sftp_put_cstr(req, "fsync@openssh.com");
	sftp_put_str(req, handle, hl);
	if (op == OP_CHOWN) {
		sftp_put_u32(req, ATTR_UIDGID);
		sftp_put_u32(req, (uint32_t)attrs->uid);
		sftp_put_u32(req, (uint32_t)gid);
	} else if (op == OP_CHMOD) {
		sftp_put_u32(req, ATTR_PERMISSIONS);
		sftp_put_u32(req, attrs->mode & 07777);
	}
	sftp_request_end(req, start);
}

int cd_ssh_sftp_write_from(struct cd_ssh_session *s, const char *path, cd_ssh_source_fn source,
	void *opaque, const struct cd_ssh_file_attrs *attrs, struct cd_error *err)
{
	int r = sftp_begin(s, err);
	if (r < 0)
		return r;
	struct ssh_sftp *f = s->sftp;
	struct cd_buf req = CD_BUF_INIT;
	struct sftp_answer a = { .pkt = CD_BUF_INIT };
	int in_sync = 0;
	size_t hl;
	char *handle = NULL, *chunk = NULL;
	if ((r = sftp_open_handle(s, path, FXF_WRITE | FXF_CREAT | FXF_EXCL, 0600, "create", &req, &a,
		     &in_sync, &handle, &hl, err)) < 0)
		goto done;
	/* From here on a failure leaves the handle open: the channel is dropped, which closes it. */
	in_sync = 0;
	int64_t gid = attrs->gid;
	if (attrs->uid >= 0 && gid < 0 &&
		(r = current_gid(s, path, handle, hl, &req, &a, &gid, err)) < 0)
		goto done;

	/* Writes, then owner (before the mode: a chown clears set-id bits), mode, fsync, close. */
	static const char *const tail_what[] = { "set the owner of", "set the mode of", "fsync", "close" };
	enum tail_op tail[4];
	size_t ntail = 0;
	if (attrs->uid >= 0 || gid >= 0)
		tail[ntail++] = OP_CHOWN;
	tail[ntail++] = OP_CHMOD;
	if (f->has_fsync)
		tail[ntail++] = OP_FSYNC;
	tail[ntail++] = OP_CLOSE;
	chunk = cd_xmalloc(SFTP_CHUNK);
	uint32_t first = f->next_id;
	uint64_t off = 0;
	size_t chunks = 0, sent = 0, answered = 0;
	int source_done = 0;
	/* total is unknown (SIZE_MAX) until the source ends. */
#define TOTAL() (source_done ? chunks + ntail : SIZE_MAX)
	while (r == 0 && answered < TOTAL()) {
		size_t start;
		cd_buf_reset(&req);
		while (r == 0 && sent < TOTAL() && sent - answered < SFTP_IN_FLIGHT) {
			if (source_done) {
				put_tail(f, &req, tail[sent - chunks], handle, hl, attrs, gid);
				sent++;
				continue;
			}
			long n = fill_chunk(source, opaque, chunk, &source_done, err);
			if (n < 0) {
				r = (int)n;
			} else if (n > 0) {
				sftp_request_begin(f, &req, FXP_WRITE, &start);
				sftp_put_str(&req, handle, hl);
				sftp_put_u64(&req, off);
				sftp_put_str(&req, chunk, (size_t)n);
				sftp_request_end(&req, start);
				off += (uint64_t)n;
				chunks++;
				sent++;
			}
		}
		if (r < 0 || (req.len && (r = sftp_send(s, &req, err)) < 0))
			break;
		/* Half the window's answers are read before sending more: fewer, larger sends. */
		size_t until = sent == TOTAL() ? sent : answered + SFTP_IN_FLIGHT / 2;
		if (until > sent)
			until = sent;
		while (answered < until && r == 0) {
			if ((r = sftp_recv_answer(s, first + (uint32_t)answered, &a, err)) < 0)
				break;
			if (a.status != FX_OK)
				r = sftp_status_error(s, &a, answered < chunks ? "write" :
					tail_what[tail[answered - chunks]], path, err);
			answered++;
		}
	}
	in_sync = source_done && answered == TOTAL();
#undef TOTAL
	if (r == 0 && !f->has_fsync)
		cd_log_debug("host %s: its SFTP server cannot fsync; %s is written but maybe not on disk",
			s->name, path);
done:
	free(chunk);
	free(handle);
	cd_buf_release(&a.pkt);
	cd_buf_release(&req);
	return sftp_end(s, r, in_sync);
}

struct memory_source {
	const char *data;
	size_t len, off;
};

static long memory_pull(void *opaque, void *buf, size_t len, struct cd_error *err)
{
	(void)err;
	struct memory_source *m = opaque;
	size_t n = m->len - m->off < len ? m->len - m->off : len;
	if (n == 0)
		return 0;
	memcpy(buf, m->data + m->off, n);
	m->off += n;
	return (long)n;
}

int cd_ssh_sftp_write(struct cd_ssh_session *s, const char *path, const void *data, size_t len,
	const struct cd_ssh_file_attrs *attrs, struct cd_error *err)
{
	struct memory_source m = { data, len, 0 };
	return cd_ssh_sftp_write_from(s, path, memory_pull, &m, attrs, err);
}
