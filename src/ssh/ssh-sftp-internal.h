/*
 * ssh-sftp-internal: the SFTP v3 channel and packets (ssh-sftp-channel.c)
 * that the files of SFTP operations share.
 */
#ifndef CORPDEPLOY_SSH_SFTP_INTERNAL_H
#define CORPDEPLOY_SSH_SFTP_INTERNAL_H

#include "ssh-internal.h"

enum {
	FXP_INIT = 1, FXP_VERSION = 2, FXP_OPEN = 3, FXP_CLOSE = 4, FXP_READ = 5, FXP_WRITE = 6,
	FXP_LSTAT = 7, FXP_FSTAT = 8, FXP_SETSTAT = 9, FXP_FSETSTAT = 10, FXP_OPENDIR = 11,
	FXP_READDIR = 12, FXP_REMOVE = 13, FXP_MKDIR = 14, FXP_STAT = 17, FXP_READLINK = 19, FXP_SYMLINK = 20,
	FXP_STATUS = 101, FXP_HANDLE = 102, FXP_DATA = 103, FXP_NAME = 104, FXP_ATTRS = 105,
	FXP_EXTENDED = 200,
};
enum { FX_OK = 0, FX_EOF = 1, FX_NO_SUCH_FILE = 2, FX_PERMISSION_DENIED = 3, FX_OP_UNSUPPORTED = 8 };
enum { FXF_READ = 0x01, FXF_WRITE = 0x02, FXF_CREAT = 0x08, FXF_EXCL = 0x20 };
enum { ATTR_SIZE = 0x01, ATTR_UIDGID = 0x02, ATTR_PERMISSIONS = 0x04, ATTR_ACMODTIME = 0x08 };
#define ATTR_EXTENDED 0x80000000u

#define SFTP_CHUNK (64 * 1024)	     /* bytes per read or write request; OpenSSH takes up to 256 KiB messages */
#define SFTP_IN_FLIGHT 32	     /* requests sent before their answers are read */
#define SFTP_MAX_PACKET (512 * 1024) /* the largest answer accepted */
#define SFTP_TIMEOUT_MS 60000

struct ssh_sftp {
	LIBSSH2_CHANNEL *ch;
	uint32_t next_id;
	struct cd_buf in; /* bytes received and not yet taken as a whole packet */
	int has_fsync, has_hardlink, has_posix_rename;
};

/* ---- building requests ---- */

void sftp_put_u32(struct cd_buf *b, uint32_t v);
void sftp_put_u64(struct cd_buf *b, uint64_t v);
void sftp_put_str(struct cd_buf *b, const void *p, size_t n);
void sftp_put_cstr(struct cd_buf *b, const char *s);
/* Starts a request of type with a new id (returned) at the end of b; sftp_request_end() sets its length. */
uint32_t sftp_request_begin(struct ssh_sftp *f, struct cd_buf *b, int type, size_t *ret_start);
void sftp_request_end(struct cd_buf *b, size_t start);

/* ---- reading answers ---- */

struct sftp_reader {
	const unsigned char *p;
	size_t n;
	int bad; /* set once a field ran past the end */
};
uint32_t sftp_get_u32(struct sftp_reader *r);
const char *sftp_get_str(struct sftp_reader *r, size_t *ret_len);
/* Reads attributes: permission bits, file type, owner, size, mtime. */
void sftp_get_attrs(struct sftp_reader *r, struct cd_ssh_file_attrs *a);

/* An answer: its type, the STATUS code (FX_OK for HANDLE, DATA, NAME and ATTRS), what follows. */
struct sftp_answer {
	struct cd_buf pkt;
	int type;
	uint32_t status;
	struct sftp_reader rest; /* after the id (and a STATUS's code) */
};

/* ---- the exchange ---- */

int sftp_send(struct cd_ssh_session *s, const struct cd_buf *b, struct cd_error *err);
/* The next answer, which must be for request id. */
int sftp_recv_answer(struct cd_ssh_session *s, uint32_t id, struct sftp_answer *a,
	struct cd_error *err);
/* The error of a failed STATUS answer: "host X: cannot WHAT PATH: the server's words". */
int sftp_status_error(struct cd_ssh_session *s, struct sftp_answer *a, const char *what,
	const char *path, struct cd_error *err);
/* "host X: SFTP: unexpected answer". */
int sftp_unexpected(struct cd_ssh_session *s, struct cd_error *err);
/* Starts an operation: blocking calls get a deadline, the channel is started if need be. */
int sftp_begin(struct cd_ssh_session *s, struct cd_error *err);
/*
 * Ends an operation, returning r. An exchange cut short (in_sync 0) leaves
 * answers unread: the channel is dropped and the next operation starts a
 * new one.
 */
int sftp_end(struct cd_ssh_session *s, int r, int in_sync);
/*
 * Reads the answer to a request once it came (the exchange is in sync): returns
 * what the operation returns (>= 0), or < 0 with err set.
 */
typedef int (*sftp_answer_fn)(struct cd_ssh_session *s, struct sftp_answer *a, void *ctx,
	struct cd_error *err);
/* Sends req (request id), hands its answer to on_answer and ends the operation with what that returns. */
int sftp_exchange(struct cd_ssh_session *s, struct cd_buf *req, uint32_t id, sftp_answer_fn on_answer,
	void *ctx, struct cd_error *err);
/* A whole operation of one request of type naming path alone (LSTAT, STAT, READLINK). */
int sftp_path_request(struct cd_ssh_session *s, int type, const char *path, sftp_answer_fn on_answer,
	void *ctx, struct cd_error *err);
/* Sends req (request id) and expects a STATUS; FX_NO_SUCH_FILE is success when missing_ok. Ends the operation. */
int sftp_simple_request(struct cd_ssh_session *s, struct cd_buf *req, uint32_t id,
	const char *what, const char *path, int missing_ok, struct cd_error *err);

/*
 * SSH_FXP_OPEN (or OPENDIR when pflags is 0) of path with pflags, and with
 * mode when it is >= 0 (for a new file). *in_sync is set once the server
 * answered; on success *ret_handle (malloc'd) and *ret_len are the handle.
 * what names the operation in errors. req and a are the caller's buffers.
 */
int sftp_open_handle(struct cd_ssh_session *s, const char *path, uint32_t pflags, int mode,
	const char *what, struct cd_buf *req, struct sftp_answer *a, int *in_sync, char **ret_handle,
	size_t *ret_len, struct cd_error *err);
/* Closes a handle, ignoring the answer's status; 1 when the exchange completed (in sync). */
int sftp_close_handle(struct cd_ssh_session *s, const char *handle, size_t hl, struct cd_buf *req,
	struct sftp_answer *a);

#endif
