/*
 * ssh-sftp-channel: the SFTP v3 channel of a host's session and its
 * packets, for the operations in ssh-sftp*.c. libssh2 1.10's own SFTP sends
 * rename flags only to v5 servers (OpenSSH's v3 rename refuses to replace)
 * and knows neither posix-rename@openssh.com nor hardlink@openssh.com, which
 * an atomic replace that keeps the old file needs, so the protocol is spoken
 * here. A failure in mid-exchange drops the channel; the next operation
 * opens a new one.
 */
#include <stdlib.h>
#include <string.h>

#include "ssh-sftp-internal.h"

/* ---- packets ---- */

void sftp_put_u32(struct cd_buf *b, uint32_t v)
{
	unsigned char q[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
		(unsigned char)(v >> 8), (unsigned char)v };
	cd_buf_add(b, q, 4);
}

void sftp_put_u64(struct cd_buf *b, uint64_t v)
{
	sftp_put_u32(b, (uint32_t)(v >> 32));
	sftp_put_u32(b, (uint32_t)v);
}

void sftp_put_str(struct cd_buf *b, const void *p, size_t n)
{
	sftp_put_u32(b, (uint32_t)n);
	cd_buf_add(b, p, n);
}

void sftp_put_cstr(struct cd_buf *b, const char *s)
{
	sftp_put_str(b, s, strlen(s));
}

uint32_t sftp_request_begin(struct ssh_sftp *f, struct cd_buf *b, int type, size_t *ret_start)
{
	*ret_start = b->len;
	sftp_put_u32(b, 0);
	cd_buf_addch(b, (char)type);
	uint32_t id = f->next_id++;
	sftp_put_u32(b, id);
	return id;
}

void sftp_request_end(struct cd_buf *b, size_t start)
{
	uint32_t n = (uint32_t)(b->len - start - 4);
	unsigned char *p = (unsigned char *)b->buf + start;
	p[0] = (unsigned char)(n >> 24);
	p[1] = (unsigned char)(n >> 16);
	p[2] = (unsigned char)(n >> 8);
	p[3] = (unsigned char)n;
}

uint32_t sftp_get_u32(struct sftp_reader *r)
{
	if (r->n < 4) {
		r->bad = 1;
		return 0;
	}
	uint32_t v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
	r->p += 4;
	r->n -= 4;
	return v;
}

const char *sftp_get_str(struct sftp_reader *r, size_t *ret_len)
{
	size_t n = sftp_get_u32(r);
	if (r->bad || n > r->n) {
		r->bad = 1;
		*ret_len = 0;
		return "";
	}
	const char *s = (const char *)r->p;
	r->p += n;
	r->n -= n;
	*ret_len = n;
	return s;
}

/* The type bits of SFTP v3 permissions are those of POSIX st_mode. */
static enum cd_ssh_file_type file_type(uint32_t perm)
{
	switch (perm & 0170000) {
	case 0100000: return CD_SSH_FILE_REGULAR;
	case 0040000: return CD_SSH_FILE_DIR;
	case 0120000: return CD_SSH_FILE_SYMLINK;
	default: return CD_SSH_FILE_OTHER;
	}
}

void sftp_get_attrs(struct sftp_reader *r, struct cd_ssh_file_attrs *a)
{
	uint32_t flags = sftp_get_u32(r);
	*a = (struct cd_ssh_file_attrs){ .uid = -1, .gid = -1, .type = CD_SSH_FILE_OTHER };
	if (flags & ATTR_SIZE) {
		uint64_t hi = sftp_get_u32(r);
		a->size = (int64_t)(hi << 32 | sftp_get_u32(r));
	}
	if (flags & ATTR_UIDGID) {
		a->uid = sftp_get_u32(r);
		a->gid = sftp_get_u32(r);
	}
	if (flags & ATTR_PERMISSIONS) {
		uint32_t perm = sftp_get_u32(r);
		a->mode = perm & 07777;
		a->type = file_type(perm);
	}
	if (flags & ATTR_ACMODTIME) {
		sftp_get_u32(r); /* atime */
		a->mtime = sftp_get_u32(r);
	}
	if (flags & ATTR_EXTENDED) {
		/* Skipped, but read: a listing's next entry follows them. */
		uint32_t n = sftp_get_u32(r);
		for (uint32_t i = 0; i < n && !r->bad; i++) {
			size_t l;
			sftp_get_str(r, &l);
			sftp_get_str(r, &l);
		}
	}
}

/* ---- the channel ---- */

static int sftp_fail(struct cd_ssh_session *s, struct cd_error *err, const char *what)
{
	return cd_error_set(err, CD_EREMOTE, "host %s: SFTP %s: %s", s->name, what, ssh_last_error(s));
}

int sftp_send(struct cd_ssh_session *s, const struct cd_buf *b, struct cd_error *err)
{
	size_t off = 0;
	while (off < b->len) {
		ssize_t n = libssh2_channel_write(s->sftp->ch, b->buf + off, b->len - off);
		if (n < 0)
			return sftp_fail(s, err, "send failed");
		off += (size_t)n;
	}
	return 0;
}

/* The next answer into pkt (type, id, payload); the packet's length is stripped. */
static int recv_packet(struct cd_ssh_session *s, struct cd_buf *pkt, struct cd_error *err)
{
	struct ssh_sftp *f = s->sftp;
	for (;;) {
		if (f->in.len >= 4) {
			const unsigned char *p = (const unsigned char *)f->in.buf;
			size_t n = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
			if (n < 5 || n > SFTP_MAX_PACKET)
				return cd_error_set(err, CD_EREMOTE, "host %s: SFTP answer of %zu bytes: "
								  "not an SFTP server", s->name, n);
			if (f->in.len >= 4 + n) {
				cd_buf_reset(pkt);
				cd_buf_add(pkt, f->in.buf + 4, n);
				memmove(f->in.buf, f->in.buf + 4 + n, f->in.len - 4 - n);
				f->in.len -= 4 + n;
				f->in.buf[f->in.len] = '\0';
				return 0;
			}
		}
		char chunk[32768];
		ssize_t got = libssh2_channel_read(f->ch, chunk, sizeof(chunk));
		if (got < 0)
			return sftp_fail(s, err, "receive failed");
		if (got == 0)
			return cd_error_set(err, CD_EREMOTE, "host %s: the SFTP server closed the channel",
				s->name);
		cd_buf_add(&f->in, chunk, (size_t)got);
	}
}

void ssh_sftp_free(struct cd_ssh_session *s)
{
	struct ssh_sftp *f = s->sftp;
	if (!f)
		return;
	if (f->ch) {
		libssh2_channel_close(f->ch);
		libssh2_channel_free(f->ch);
	}
	cd_buf_release(&f->in);
	free(f);
	s->sftp = NULL;
}

/* The SFTP channel, started on first use: the sftp subsystem, INIT and the server's extensions. */
static int sftp_start(struct cd_ssh_session *s, struct cd_error *err)
{
	if (s->sftp)
		return 0;
	struct ssh_sftp *f = cd_xcalloc(1, sizeof(*f));
	f->in = (struct cd_buf)CD_BUF_INIT;
	f->next_id = 1;
	s->sftp = f;
	f->ch = libssh2_channel_open_session(s->session);
	if (!f->ch) {
		int r = sftp_fail(s, err, "cannot open a channel");
		ssh_sftp_free(s);
		return r;
	}
	if (libssh2_channel_subsystem(f->ch, "sftp") != 0) {
		int r = sftp_fail(s, err, "the host has no sftp subsystem");
		ssh_sftp_free(s);
		return r;
	}
	struct cd_buf b = CD_BUF_INIT, pkt = CD_BUF_INIT;
	sftp_put_u32(&b, 5);
	cd_buf_addch(&b, FXP_INIT);
	sftp_put_u32(&b, 3);
	int r = sftp_send(s, &b, err);
	if (r == 0)
		r = recv_packet(s, &pkt, err);
	if (r == 0 && (unsigned char)pkt.buf[0] != FXP_VERSION)
		r = cd_error_set(err, CD_EREMOTE, "host %s: SFTP: no version answer", s->name);
	if (r == 0) {
		struct sftp_reader rd = { (const unsigned char *)pkt.buf + 1, pkt.len - 1, 0 };
		sftp_get_u32(&rd);
		while (rd.n && !rd.bad) {
			size_t nl, dl;
			const char *name = sftp_get_str(&rd, &nl);
			sftp_get_str(&rd, &dl);
#define EXT_IS(lit) (nl == sizeof(lit) - 1 && memcmp(name, lit, nl) == 0)
			if (EXT_IS("fsync@openssh.com"))
				f->has_fsync = 1;
			else if (EXT_IS("hardlink@openssh.com"))
				f->has_hardlink = 1;
			else if (EXT_IS("posix-rename@openssh.com"))
				f->has_posix_rename = 1;
#undef EXT_IS
		}
	}
	cd_buf_release(&b);
	cd_buf_release(&pkt);
	if (r < 0)
		ssh_sftp_free(s);
	return r;
}

/* ---- answers ---- */

static const char *status_text(uint32_t code)
{
	switch (code) {
	case FX_EOF: return "end of file";
	case FX_NO_SUCH_FILE: return "no such file or directory";
	case FX_PERMISSION_DENIED: return "permission denied";
	case FX_OP_UNSUPPORTED: return "not supported by the server";
	default: return "failure";
	}
}

int sftp_recv_answer(struct cd_ssh_session *s, uint32_t id, struct sftp_answer *a, struct cd_error *err)
{
	int r = recv_packet(s, &a->pkt, err);
	if (r < 0)
		return r;
	a->type = (unsigned char)a->pkt.buf[0];
	a->rest = (struct sftp_reader){ (const unsigned char *)a->pkt.buf + 1, a->pkt.len - 1, 0 };
	if (sftp_get_u32(&a->rest) != id)
		return cd_error_set(err, CD_EREMOTE, "host %s: SFTP answers out of order", s->name);
	a->status = a->type == FXP_STATUS ? sftp_get_u32(&a->rest) : FX_OK;
	return 0;
}

int sftp_status_error(struct cd_ssh_session *s, struct sftp_answer *a, const char *what,
	const char *path, struct cd_error *err)
{
	size_t ml = 0;
	const char *m = sftp_get_str(&a->rest, &ml);
	if (a->rest.bad || !ml) {
		m = status_text(a->status);
		ml = strlen(m);
	}
	int r = cd_error_set(err, CD_EREMOTE, "host %s: cannot %s %s: %.*s", s->name, what, path,
		(int)ml, m);
	if (err)
		err->sys = (int)a->status;
	return r;
}

int sftp_begin(struct cd_ssh_session *s, struct cd_error *err)
{
	libssh2_session_set_timeout(s->session, SFTP_TIMEOUT_MS);
	int r = sftp_start(s, err);
	if (r < 0)
		libssh2_session_set_timeout(s->session, 0);
	return r;
}

int sftp_end(struct cd_ssh_session *s, int r, int in_sync)
{
	if (!in_sync)
		ssh_sftp_free(s);
	libssh2_session_set_timeout(s->session, 0);
	return r;
}

int sftp_unexpected(struct cd_ssh_session *s, struct cd_error *err)
{
	return cd_error_set(err, CD_EREMOTE, "host %s: SFTP: unexpected answer", s->name);
}

int sftp_exchange(struct cd_ssh_session *s, struct cd_buf *req, uint32_t id, sftp_answer_fn on_answer,
	void *ctx, struct cd_error *err)
{
	struct sftp_answer a = { .pkt = CD_BUF_INIT };
	int r = sftp_send(s, req, err), in_sync = 0;
	if (r == 0)
		r = sftp_recv_answer(s, id, &a, err);
	if (r == 0) {
		in_sync = 1;
		r = on_answer(s, &a, ctx, err);
	}
	cd_buf_release(&a.pkt);
	return sftp_end(s, r, in_sync);
}

int sftp_path_request(struct cd_ssh_session *s, int type, const char *path, sftp_answer_fn on_answer,
	void *ctx, struct cd_error *err)
{
	int r = sftp_begin(s, err);
	if (r < 0)
		return r;
	struct cd_buf req = CD_BUF_INIT;
	size_t start;
	uint32_t id = sftp_request_begin(s->sftp, &req, type, &start);
	sftp_put_cstr(&req, path);
	sftp_request_end(&req, start);
	r = sftp_exchange(s, &req, id, on_answer, ctx, err);
	cd_buf_release(&req);
	return r;
}

struct status_check {
	const char *what, *path;
	int missing_ok;
};

static int check_status(struct cd_ssh_session *s, struct sftp_answer *a, void *ctx,
	struct cd_error *err)
{
	const struct status_check *c = ctx;
	if (a->status == FX_NO_SUCH_FILE && c->missing_ok)
		return 0;
	if (a->type != FXP_STATUS)
		return sftp_unexpected(s, err);
	if (a->status != FX_OK)
		return sftp_status_error(s, a, c->what, c->path, err);
	return 0;
}

int sftp_simple_request(struct cd_ssh_session *s, struct cd_buf *req, uint32_t id,
	const char *what, const char *path, int missing_ok, struct cd_error *err)
{
	struct status_check c = { .what = what, .path = path, .missing_ok = missing_ok };
	return sftp_exchange(s, req, id, check_status, &c, err);
}

int sftp_open_handle(struct cd_ssh_session *s, const char *path, uint32_t pflags, int mode,
	const char *what, struct cd_buf *req, struct sftp_answer *a, int *in_sync, char **ret_handle,
	size_t *ret_len, struct cd_error *err)
{
	size_t start;
	int r;
	cd_buf_reset(req);
	uint32_t id = sftp_request_begin(s->sftp, req, pflags ? FXP_OPEN : FXP_OPENDIR, &start);
	sftp_put_cstr(req, path);
	if (pflags) {
		sftp_put_u32(req, pflags);
		sftp_put_u32(req, mode >= 0 ? ATTR_PERMISSIONS : 0);
		if (mode >= 0)
			sftp_put_u32(req, (uint32_t)mode);
	}
	sftp_request_end(req, start);
	if ((r = sftp_send(s, req, err)) < 0 || (r = sftp_recv_answer(s, id, a, err)) < 0)
		return r;
	*in_sync = 1;
	if (a->type != FXP_HANDLE)
		return a->type == FXP_STATUS ? sftp_status_error(s, a, what, path, err) :
			sftp_unexpected(s, err);
	const char *hp = sftp_get_str(&a->rest, ret_len);
	*ret_handle = cd_xstrndup(hp, *ret_len);
	return 0;
}


int sftp_close_handle(struct cd_ssh_session *s, const char *handle, size_t hl, struct cd_buf *req,
	struct sftp_answer *a)
{
	size_t start;
	cd_buf_reset(req);
	uint32_t id = sftp_request_begin(s->sftp, req, FXP_CLOSE, &start);
	sftp_put_str(req, handle, hl);
	sftp_request_end(req, start);
	return sftp_send(s, req, NULL) == 0 && sftp_recv_answer(s, id, a, NULL) == 0;
}
