/*
 * ssh-sftp: a host's paths over SFTP (ssh-sftp-channel.c): lstat, hard
 * link, atomic rename and remove. Reading and writing files are in
 * ssh-sftp-read.c and ssh-sftp-write.c, directories and links in
 * ssh-sftp-dir.c and ssh-sftp-path.c.
 */
#include <stdlib.h>
#include <string.h>

#include "ssh-sftp-internal.h"

/* ---- operations ---- */

struct stat_result {
	const char *path;
	struct cd_ssh_file_attrs *ret;
};

static int take_stat(struct cd_ssh_session *s, struct sftp_answer *a, void *ctx,
	struct cd_error *err)
{
	struct stat_result *res = ctx;
	if (a->type == FXP_ATTRS) {
		struct cd_ssh_file_attrs attrs;
		sftp_get_attrs(&a->rest, &attrs);
		if (res->ret)
			*res->ret = attrs;
		return 1;
	}
	if (a->status != FX_NO_SUCH_FILE)
		return sftp_status_error(s, a, "stat", res->path, err);
	return 0;
}

int cd_ssh_sftp_stat(struct cd_ssh_session *s, const char *path, struct cd_ssh_file_attrs *ret,
	struct cd_error *err)
{
	struct stat_result res = { .path = path, .ret = ret };
	return sftp_path_request(s, FXP_LSTAT, path, take_stat, &res, err);
}

/* An extension request on two paths (hardlink, posix-rename), after sftp_begin(). */
static int two_paths(struct cd_ssh_session *s, const char *ext, const char *what, const char *from,
	const char *to, struct cd_error *err)
{
	struct cd_buf req = CD_BUF_INIT;
	size_t start;
	uint32_t id = sftp_request_begin(s->sftp, &req, FXP_EXTENDED, &start);
	sftp_put_cstr(&req, ext);
	sftp_put_cstr(&req, from);
	sftp_put_cstr(&req, to);
	sftp_request_end(&req, start);
	int r = sftp_simple_request(s, &req, id, what, from, 0, err);
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
	uint32_t id = sftp_request_begin(s->sftp, &req, FXP_REMOVE, &start);
	sftp_put_cstr(&req, path);
	sftp_request_end(&req, start);
	r = sftp_simple_request(s, &req, id, "remove", path, 1, err);
	cd_buf_release(&req);
	return r;
}
