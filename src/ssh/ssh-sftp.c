/*
 * ssh-sftp: files on a host over SFTP v3 with OpenSSH's extensions, spoken
 * here over a channel of the host's session. libssh2 1.10's own SFTP sends
 * rename flags only to v5 servers (OpenSSH's v3 rename refuses to replace)
 * and knows neither posix-rename@openssh.com nor hardlink@openssh.com, which
 * an atomic replace that keeps the old file needs. Requests that do not
 * depend on each other's answers go out together (an upload's writes,
 * owner, mode, fsync and close), so a file costs a few round trips.
 */
#include <stdlib.h>
#include <string.h>

#include "corpdeploy/log.h"
#include "ssh-internal.h"

enum {
	FXP_INIT = 1, FXP_VERSION = 2, FXP_OPEN = 3, FXP_CLOSE = 4, FXP_READ = 5, FXP_WRITE = 6,
	FXP_LSTAT = 7, FXP_FSTAT = 8, FXP_FSETSTAT = 10, FXP_REMOVE = 13, FXP_STATUS = 101,
	FXP_HANDLE = 102, FXP_DATA = 103, FXP_ATTRS = 105, FXP_EXTENDED = 200,
};
enum { FX_OK = 0, FX_EOF = 1, FX_NO_SUCH_FILE = 2, FX_PERMISSION_DENIED = 3, FX_OP_UNSUPPORTED = 8 };
enum { FXF_READ = 0x01, FXF_WRITE = 0x02, FXF_CREAT = 0x08, FXF_EXCL = 0x20 };
enum { ATTR_SIZE = 0x01, ATTR_UIDGID = 0x02, ATTR_PERMISSIONS = 0x04, ATTR_ACMODTIME = 0x08 };

#define SFTP_CHUNK (64 * 1024)	     /* bytes per write request; OpenSSH takes up to 256 KiB messages */
#define SFTP_IN_FLIGHT 32	     /* requests sent before their answers are read */
#define SFTP_MAX_PACKET (512 * 1024) /* the largest answer accepted */
#define SFTP_TIMEOUT_MS 60000

struct ssh_sftp {
	LIBSSH2_CHANNEL *ch;
	uint32_t next_id;
	struct cd_buf in; /* bytes received and not yet taken as a whole packet */
	int has_fsync, has_hardlink, has_posix_rename;
};

/* ---- packets ---- */

static void put_u32(struct cd_buf *b, uint32_t v)
{
	unsigned char q[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
		(unsigned char)(v >> 8), (unsigned char)v };
	cd_buf_add(b, q, 4);
}

static void put_u64(struct cd_buf *b, uint64_t v)
{
	put_u32(b, (uint32_t)(v >> 32));
	put_u32(b, (uint32_t)v);
}

static void put_str(struct cd_buf *b, const void *p, size_t n)
{
	put_u32(b, (uint32_t)n);
	cd_buf_add(b, p, n);
}

static void put_cstr(struct cd_buf *b, const char *s)
{
	put_str(b, s, strlen(s));
}

/* Starts a request of type with a new id (returned) at the end of b; request_end() sets its length. */
static uint32_t request_begin(struct ssh_sftp *f, struct cd_buf *b, int type, size_t *ret_start)
{
	*ret_start = b->len;
	put_u32(b, 0);
	cd_buf_addch(b, (char)type);
	uint32_t id = f->next_id++;
	put_u32(b, id);
	return id;
}

static void request_end(struct cd_buf *b, size_t start)
{
	uint32_t n = (uint32_t)(b->len - start - 4);
	unsigned char *p = (unsigned char *)b->buf + start;
	p[0] = (unsigned char)(n >> 24);
	p[1] = (unsigned char)(n >> 16);
	p[2] = (unsigned char)(n >> 8);
	p[3] = (unsigned char)n;
}

struct reader {
	const unsigned char *p;
	size_t n;
	int bad;
};

static uint32_t get_u32(struct reader *r)
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

static const char *get_str(struct reader *r, size_t *ret_len)
{
	size_t n = get_u32(r);
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

/* Reads attributes, keeping the fields a copy needs. */
static void get_attrs(struct reader *r, struct cd_ssh_file_attrs *a)
{
	uint32_t flags = get_u32(r);
	*a = (struct cd_ssh_file_attrs){ .uid = -1, .gid = -1 };
	if (flags & ATTR_SIZE) {
		uint64_t hi = get_u32(r);
		a->size = (int64_t)(hi << 32 | get_u32(r));
	}
	if (flags & ATTR_UIDGID) {
		a->uid = get_u32(r);
		a->gid = get_u32(r);
	}
	if (flags & ATTR_PERMISSIONS)
		a->mode = get_u32(r) & 07777;
}

/* ---- the channel ---- */

static int sftp_fail(struct cd_ssh_session *s, struct cd_error *err, const char *what)
{
	return cd_error_set(err, CD_EREMOTE, "host %s: SFTP %s: %s", s->name, what, ssh_last_error(s));
}

static int send_all(struct cd_ssh_session *s, const struct cd_buf *b, struct cd_error *err)
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
	put_u32(&b, 5);
	cd_buf_addch(&b, FXP_INIT);
	put_u32(&b, 3);
	int r = send_all(s, &b, err);
	if (r == 0)
		r = recv_packet(s, &pkt, err);
	if (r == 0 && (unsigned char)pkt.buf[0] != FXP_VERSION)
		r = cd_error_set(err, CD_EREMOTE, "host %s: SFTP: no version answer", s->name);
	if (r == 0) {
		struct reader rd = { (const unsigned char *)pkt.buf + 1, pkt.len - 1, 0 };
		get_u32(&rd);
		while (rd.n && !rd.bad) {
			size_t nl, dl;
			const char *name = get_str(&rd, &nl);
			get_str(&rd, &dl);
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

/* An answer: its type, the STATUS code (FX_OK for HANDLE, DATA and ATTRS), what follows. */
struct answer {
	struct cd_buf pkt;
	int type;
	uint32_t status;
	struct reader rest; /* after the id */
};

/* The next answer, which must be for request id. */
static int recv_answer(struct cd_ssh_session *s, uint32_t id, struct answer *a, struct cd_error *err)
{
	int r = recv_packet(s, &a->pkt, err);
	if (r < 0)
		return r;
	a->type = (unsigned char)a->pkt.buf[0];
	a->rest = (struct reader){ (const unsigned char *)a->pkt.buf + 1, a->pkt.len - 1, 0 };
	if (get_u32(&a->rest) != id)
		return cd_error_set(err, CD_EREMOTE, "host %s: SFTP answers out of order", s->name);
	a->status = a->type == FXP_STATUS ? get_u32(&a->rest) : FX_OK;
	return 0;
}

/* The error of a failed STATUS answer: "host X: cannot WHAT PATH: the server's words". */
static int status_error(struct cd_ssh_session *s, struct answer *a, const char *what,
	const char *path, struct cd_error *err)
{
	size_t ml = 0;
	const char *m = get_str(&a->rest, &ml);
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

/* Starts an operation: blocking calls get a deadline, the channel is started if need be. */
static int sftp_begin(struct cd_ssh_session *s, struct cd_error *err)
{
	libssh2_session_set_timeout(s->session, SFTP_TIMEOUT_MS);
	int r = sftp_start(s, err);
	if (r < 0)
		libssh2_session_set_timeout(s->session, 0);
	return r;
}

/*
 * Ends an operation. A failure in mid-exchange leaves answers unread: the
 * channel is dropped and the next operation starts a new one.
 */
static int sftp_end(struct cd_ssh_session *s, int r, int in_sync)
{
	if (r < 0 && !in_sync)
		ssh_sftp_free(s);
	libssh2_session_set_timeout(s->session, 0);
	return r;
}

static int simple_request(struct cd_ssh_session *s, struct cd_buf *req, uint32_t id,
	const char *what, const char *path, int missing_ok, struct cd_error *err)
{
	struct answer a = { .pkt = CD_BUF_INIT };
	int r = send_all(s, req, err), in_sync = 0;
	if (r == 0)
		r = recv_answer(s, id, &a, err);
	if (r == 0) {
		in_sync = 1;
		if (a.status == FX_NO_SUCH_FILE && missing_ok)
			r = 0;
		else if (a.type != FXP_STATUS)
			r = cd_error_set(err, CD_EREMOTE, "host %s: SFTP: unexpected answer", s->name);
		else if (a.status != FX_OK)
			r = status_error(s, &a, what, path, err);
	}
	cd_buf_release(&a.pkt);
	return sftp_end(s, r, in_sync);
}

/* ---- operations ---- */

int cd_ssh_sftp_stat(struct cd_ssh_session *s, const char *path, struct cd_ssh_file_attrs *ret,
	struct cd_error *err)
{
	int r = sftp_begin(s, err);
	if (r < 0)
		return r;
	struct cd_buf req = CD_BUF_INIT;
	struct answer a = { .pkt = CD_BUF_INIT };
	size_t start;
	uint32_t id = request_begin(s->sftp, &req, FXP_LSTAT, &start);
	put_cstr(&req, path);
	request_end(&req, start);
	int in_sync = 0;
	if ((r = send_all(s, &req, err)) == 0 && (r = recv_answer(s, id, &a, err)) == 0) {
		in_sync = 1;
		if (a.type == FXP_ATTRS) {
			struct cd_ssh_file_attrs attrs;
			get_attrs(&a.rest, &attrs);
			if (ret)
				*ret = attrs;
			r = 1;
		} else if (a.status != FX_NO_SUCH_FILE) {
			r = status_error(s, &a, "stat", path, err);
		}
	}
	cd_buf_release(&a.pkt);
	cd_buf_release(&req);
	return sftp_end(s, r, in_sync);
}

/*
 * SSH_FXP_OPEN of path with pflags, and with mode when it is >= 0 (for a new
 * file). *in_sync is set once the server answered; on success *ret_handle
 * (malloc'd) and *ret_len are the open file's handle. what names the
 * operation in errors. req and a are the caller's buffers, reused.
 */
static int open_handle(struct cd_ssh_session *s, const char *path, uint32_t pflags, int mode,
	const char *what, struct cd_buf *req, struct answer *a, int *in_sync, char **ret_handle,
	size_t *ret_len, struct cd_error *err)
{
	size_t start;
	int r;
	uint32_t id = request_begin(s->sftp, req, FXP_OPEN, &start);
	put_cstr(req, path);
	put_u32(req, pflags);
	put_u32(req, mode >= 0 ? ATTR_PERMISSIONS : 0);
	if (mode >= 0)
		put_u32(req, (uint32_t)mode);
	request_end(req, start);
	if ((r = send_all(s, req, err)) < 0 || (r = recv_answer(s, id, a, err)) < 0)
		return r;
	*in_sync = 1;
	if (a->type != FXP_HANDLE)
		return a->type == FXP_STATUS ? status_error(s, a, what, path, err) :
			cd_error_set(err, CD_EREMOTE, "host %s: SFTP: unexpected answer", s->name);
	const char *hp = get_str(&a->rest, ret_len);
	*ret_handle = cd_xstrndup(hp, *ret_len);
	return 0;
}

int cd_ssh_sftp_write(struct cd_ssh_session *s, const char *path, const void *data, size_t len,
	const struct cd_ssh_file_attrs *attrs, struct cd_error *err)
{
	int r = sftp_begin(s, err);
	if (r < 0)
		return r;
	struct ssh_sftp *f = s->sftp;
	struct cd_buf req = CD_BUF_INIT;
	struct answer a = { .pkt = CD_BUF_INIT };
	int in_sync = 0;
	size_t start;
	uint32_t id;
	size_t hl;
	char *handle;
	if ((r = open_handle(s, path, FXF_WRITE | FXF_CREAT | FXF_EXCL, 0600, "create", &req, &a,
		     &in_sync, &handle, &hl, err)) < 0)
		goto done;

	/* The group is kept when only the user changes: SFTP sets both at once. */
	int64_t gid = attrs->gid;
	if (attrs->uid >= 0 && gid < 0) {
		cd_buf_reset(&req);
		id = request_begin(f, &req, FXP_FSTAT, &start);
		put_str(&req, handle, hl);
		request_end(&req, start);
		/* On any failure the handle stays open: the channel is dropped, which closes it. */
		in_sync = 0;
		if ((r = send_all(s, &req, err)) == 0 && (r = recv_answer(s, id, &a, err)) == 0) {
			struct cd_ssh_file_attrs now;
			if (a.type == FXP_ATTRS) {
				get_attrs(&a.rest, &now);
				gid = now.gid;
			} else {
				r = status_error(s, &a, "stat", path, err);
			}
		}
		if (r < 0) {
			free(handle);
			goto done;
		}
	}

	/*
	 * Writes, then owner (before the mode: a chown clears set-id bits),
	 * mode, fsync and close, with at most SFTP_IN_FLIGHT answers pending.
	 */
	enum tail_op { OP_CHOWN, OP_CHMOD, OP_FSYNC, OP_CLOSE };
	static const char *const tail_what[] = { "set the owner of", "set the mode of", "fsync", "close" };
	enum tail_op tail[4];
	size_t ntail = 0;
	if (attrs->uid >= 0 || gid >= 0)
		tail[ntail++] = OP_CHOWN;
	tail[ntail++] = OP_CHMOD;
	if (f->has_fsync)
		tail[ntail++] = OP_FSYNC;
	tail[ntail++] = OP_CLOSE;
	size_t chunks = (len + SFTP_CHUNK - 1) / SFTP_CHUNK, total = chunks + ntail;
	uint32_t first = f->next_id;
	const char *failed_what = NULL;
	size_t sent = 0, answered = 0;
	in_sync = 0;
	while (answered < total && r == 0) {
		cd_buf_reset(&req);
		while (sent < total && sent - answered < SFTP_IN_FLIGHT) {
			if (sent < chunks) {
				size_t off = sent * SFTP_CHUNK, n = len - off < SFTP_CHUNK ? len - off : SFTP_CHUNK;
				request_begin(f, &req, FXP_WRITE, &start);
				put_str(&req, handle, hl);
				put_u64(&req, off);
				put_str(&req, (const char *)data + off, n);
			} else {
				enum tail_op op = tail[sent - chunks];
				request_begin(f, &req, op == OP_FSYNC ? FXP_EXTENDED :
						op == OP_CLOSE ? FXP_CLOSE : FXP_FSETSTAT, &start);
				if (op == OP_FSYNC)
					put_cstr(&req, "fsync@openssh.com");
				put_str(&req, handle, hl);
				if (op == OP_CHOWN) {
					put_u32(&req, ATTR_UIDGID);
					put_u32(&req, (uint32_t)attrs->uid);
					put_u32(&req, (uint32_t)gid);
				} else if (op == OP_CHMOD) {
					put_u32(&req, ATTR_PERMISSIONS);
					put_u32(&req, attrs->mode & 07777);
				}
			}
			request_end(&req, start);
			sent++;
		}
		if ((r = send_all(s, &req, err)) < 0)
			break;
		/* Read half the window's answers before sending more: fewer, larger sends. */
		size_t until = sent == total ? total : answered + SFTP_IN_FLIGHT / 2;
		while (answered < until && r == 0) {
			if ((r = recv_answer(s, first + (uint32_t)answered, &a, err)) < 0)
				break;
			if (a.status != FX_OK && !failed_what) {
				failed_what = answered < chunks ? "write" : tail_what[tail[answered - chunks]];
				status_error(s, &a, failed_what, path, err);
			}
			answered++;
		}
	}
	if (r == 0 && failed_what)
		r = err ? err->code : CD_EREMOTE;
	if (r == 0 && !f->has_fsync)
		cd_log_debug("host %s: its SFTP server cannot fsync; %s is written but maybe not on disk",
			s->name, path);
	in_sync = answered == total;
	free(handle);
done:
	cd_buf_release(&a.pkt);
	cd_buf_release(&req);
	return sftp_end(s, r, in_sync);
}

int cd_ssh_sftp_read(struct cd_ssh_session *s, const char *path, size_t max, struct cd_buf *ret,
	struct cd_error *err)
{
	int r = sftp_begin(s, err);
	if (r < 0)
		return r;
	struct ssh_sftp *f = s->sftp;
	struct cd_buf req = CD_BUF_INIT;
	struct answer a = { .pkt = CD_BUF_INIT };
	int in_sync = 0;
	size_t start;
	uint32_t id;
	size_t hl;
	char *handle;
	if ((r = open_handle(s, path, FXF_READ, -1, "read", &req, &a, &in_sync, &handle, &hl, err)) < 0)
		goto done;
	cd_buf_reset(ret);
	int eof = 0;
	while (r == 0 && !eof) {
		cd_buf_reset(&req);
		id = request_begin(f, &req, FXP_READ, &start);
		put_str(&req, handle, hl);
		put_u64(&req, ret->len);
		put_u32(&req, SFTP_CHUNK);
		request_end(&req, start);
		in_sync = 0;
		if ((r = send_all(s, &req, err)) < 0 || (r = recv_answer(s, id, &a, err)) < 0)
			break;
		in_sync = 1;
		if (a.type == FXP_DATA) {
			size_t dl;
			const char *d = get_str(&a.rest, &dl);
			if (ret->len + dl > max)
				r = cd_error_set(err, CD_ETOOBIG, "host %s: %s is larger than %zu bytes",
					s->name, path, max);
			else
				cd_buf_add(ret, d, dl);
		} else if (a.status == FX_EOF) {
			eof = 1;
		} else {
			r = status_error(s, &a, "read", path, err);
		}
	}
	if (in_sync) {
		cd_buf_reset(&req);
		id = request_begin(f, &req, FXP_CLOSE, &start);
		put_str(&req, handle, hl);
		request_end(&req, start);
		in_sync = 0;
		if (send_all(s, &req, NULL) == 0 && recv_answer(s, id, &a, NULL) == 0)
			in_sync = 1;
	}
	free(handle);
done:
	cd_buf_release(&a.pkt);
	cd_buf_release(&req);
	return sftp_end(s, r, in_sync);
}

/* An extension request on two paths (hardlink, posix-rename), after sftp_begin(). */
static int two_paths(struct cd_ssh_session *s, const char *ext, const char *what, const char *from,
	const char *to, struct cd_error *err)
{
	struct cd_buf req = CD_BUF_INIT;
	size_t start;
	uint32_t id = request_begin(s->sftp, &req, FXP_EXTENDED, &start);
	put_cstr(&req, ext);
	put_cstr(&req, from);
	put_cstr(&req, to);
	request_end(&req, start);
	int r = simple_request(s, &req, id, what, from, 0, err);
	cd_buf_release(&req);
	return r;
}

/*
 * hardlink@openssh.com (replace 0) or posix-rename@openssh.com (replace 1) of
 * from to to, refused when the server, once the SFTP channel is up, lacks it.
 */
static int link_or_rename(struct cd_ssh_session *s, int replace, const char *from, const char *to,
	struct cd_error *err)
{
	int r = sftp_begin(s, err);
	if (r < 0)
		return r;
	const char *ext = replace ? "posix-rename@openssh.com" : "hardlink@openssh.com";
	if (!(replace ? s->sftp->has_posix_rename : s->sftp->has_hardlink))
		return sftp_end(s, cd_error_set(err, CD_EREMOTE, "host %s: its SFTP server cannot %s (no %s)",
			s->name, replace ? "replace a file in one step" : "make hard links", ext), 1);
	return two_paths(s, ext, replace ? "rename" : "link", from, to, err);
}

int cd_ssh_sftp_link(struct cd_ssh_session *s, const char *from, const char *to,
	struct cd_error *err)
{
	return link_or_rename(s, 0, from, to, err);
}

int cd_ssh_sftp_rename(struct cd_ssh_session *s, const char *from, const char *to,
	struct cd_error *err)
{
	return link_or_rename(s, 1, from, to, err);
}

int cd_ssh_sftp_remove(struct cd_ssh_session *s, const char *path, struct cd_error *err)
{
	int r = sftp_begin(s, err);
	if (r < 0)
		return r;
	struct cd_buf req = CD_BUF_INIT;
	size_t start;
	uint32_t id = request_begin(s->sftp, &req, FXP_REMOVE, &start);
	put_cstr(&req, path);
	request_end(&req, start);
	r = simple_request(s, &req, id, "remove", path, 1, err);
	cd_buf_release(&req);
	return r;
}
