/*
 * ssh-sftp: writing a file on a host. The file is created exclusively under
 * a temporary name with mode 0600, written, fsynced and closed; the caller
 * renames it over the target (OpenSSH's SFTP v3 rename refuses to replace,
 * and posix-rename@openssh.com needs libssh2 1.11), so an upload cut short
 * leaves at most a stray temporary file, never a partial target.
 */
#include <string.h>

#include "ssh-internal.h"

static int sftp_open(struct cd_ssh_session *s, struct cd_error *err)
{
	if (s->sftp)
		return 0;
	libssh2_session_set_timeout(s->session, 60000);
	s->sftp = libssh2_sftp_init(s->session);
	if (!s->sftp)
		return cd_error_set(err, CD_EREMOTE, "host %s: cannot start SFTP: %s", s->name,
			ssh_last_error(s));
	return 0;
}

static const char *sftp_error(struct cd_ssh_session *s)
{
	switch (libssh2_sftp_last_error(s->sftp)) {
	case LIBSSH2_FX_NO_SUCH_FILE: return "no such file or directory";
	case LIBSSH2_FX_PERMISSION_DENIED: return "permission denied";
	case LIBSSH2_FX_FILE_ALREADY_EXISTS: return "file exists";
	case LIBSSH2_FX_NO_SPACE_ON_FILESYSTEM: return "no space left";
	case LIBSSH2_FX_NO_SUCH_PATH: return "no such directory";
	default: return ssh_last_error(s);
	}
}

int cd_ssh_sftp_write(struct cd_ssh_session *s, const char *tmp_path, const void *data,
	size_t len, struct cd_error *err)
{
	int r = sftp_open(s, err);
	if (r < 0)
		return r;
	libssh2_session_set_timeout(s->session, 60000);
	LIBSSH2_SFTP_HANDLE *h = libssh2_sftp_open_ex(s->sftp, tmp_path, (unsigned)strlen(tmp_path),
		LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT | LIBSSH2_FXF_EXCL, 0600, LIBSSH2_SFTP_OPENFILE);
	if (!h) {
		r = cd_error_set(err, CD_EREMOTE, "host %s: cannot create %s: %s", s->name, tmp_path,
			sftp_error(s));
		goto done;
	}
	const char *p = data;
	size_t off = 0;
	while (off < len) {
		ssize_t n = libssh2_sftp_write(h, p + off, len - off);
		if (n <= 0) {
			r = cd_error_set(err, CD_EREMOTE, "host %s: writing %s failed: %s", s->name,
				tmp_path, sftp_error(s));
			break;
		}
		off += (size_t)n;
	}
	if (r == 0 && libssh2_sftp_fsync(h) < 0)
		r = cd_error_set(err, CD_EREMOTE, "host %s: fsync of %s failed: %s", s->name, tmp_path,
			sftp_error(s));
	if (libssh2_sftp_close(h) < 0 && r == 0)
		r = cd_error_set(err, CD_EREMOTE, "host %s: closing %s failed: %s", s->name, tmp_path,
			sftp_error(s));
done:
	libssh2_session_set_timeout(s->session, 0);
	return r;
}

int cd_ssh_sftp_exists(struct cd_ssh_session *s, const char *path, struct cd_error *err)
{
	int r = sftp_open(s, err);
	if (r < 0)
		return r;
	LIBSSH2_SFTP_ATTRIBUTES attrs;
	libssh2_session_set_timeout(s->session, 60000);
	r = libssh2_sftp_stat(s->sftp, path, &attrs);
	libssh2_session_set_timeout(s->session, 0);
	if (r == 0)
		return 1;
	unsigned long e = libssh2_sftp_last_error(s->sftp);
	if (e == LIBSSH2_FX_NO_SUCH_FILE || e == LIBSSH2_FX_NO_SUCH_PATH)
		return 0;
	return cd_error_set(err, CD_EREMOTE, "host %s: cannot stat %s: %s", s->name, path,
		sftp_error(s));
}
