/*
 * ssh-sftp-path: directories, symlinks and attributes of a host's paths
 * over SFTP: mkdir, symlink, readlink and setstat.
 */
#include <stdlib.h>
#include <string.h>

#include "ssh-sftp-internal.h"

/*
 * A request of type (MKDIR, SETSTAT) naming path with one kind of attribute
 * (ATTR_PERMISSIONS: v1; ATTR_UIDGID: v1 and v2), answered by a STATUS.
 */
static int path_attr_request(struct cd_ssh_session *s, int type, const char *path, uint32_t flag,
	uint32_t v1, uint32_t v2, const char *what, struct cd_error *err)
{
	int r = sftp_begin(s, err);
	if (r < 0)
		return r;
	struct cd_buf req = CD_BUF_INIT;
	size_t start;
	uint32_t id = sftp_request_begin(s->sftp, &req, type, &start);
	sftp_put_cstr(&req, path);
	sftp_put_u32(&req, flag);
	sftp_put_u32(&req, v1);
	if (flag == ATTR_UIDGID)
		sftp_put_u32(&req, v2);
	sftp_request_end(&req, start);
	r = sftp_simple_request(s, &req, id, what, path, 0, err);
	cd_buf_release(&req);
	return r;
}

int cd_ssh_sftp_mkdir(struct cd_ssh_session *s, const char *path, unsigned mode,
	struct cd_error *err)
{
	return path_attr_request(s, FXP_MKDIR, path, ATTR_PERMISSIONS, mode & 07777, 0,
		"make directory", err);
}

int cd_ssh_sftp_symlink(struct cd_ssh_session *s, const char *target, const char *linkpath,
	struct cd_error *err)
{
	int r = sftp_begin(s, err);
	if (r < 0)
		return r;
	struct cd_buf req = CD_BUF_INIT;
	size_t start;
	uint32_t id = sftp_request_begin(s->sftp, &req, FXP_SYMLINK, &start);
	/*
	 * The draft names linkpath first; OpenSSH's server has always taken
	 * the target first, and every client follows OpenSSH.
	 */
	sftp_put_cstr(&req, target);
	sftp_put_cstr(&req, linkpath);
	sftp_request_end(&req, start);
	r = sftp_simple_request(s, &req, id, "make the symlink", linkpath, 0, err);
	cd_buf_release(&req);
	return r;
}

struct readlink_result {
	const char *path;
	char **ret;
};

static int take_target(struct cd_ssh_session *s, struct sftp_answer *a, void *ctx,
	struct cd_error *err)
{
	struct readlink_result *res = ctx;
	if (a->type != FXP_NAME)
		return a->type == FXP_STATUS ? sftp_status_error(s, a, "read the symlink", res->path, err) :
			sftp_unexpected(s, err);
	size_t tl;
	uint32_t count = sftp_get_u32(&a->rest);
	const char *t = sftp_get_str(&a->rest, &tl);
	if (count != 1 || a->rest.bad || !tl || memchr(t, '\0', tl))
		return sftp_unexpected(s, err);
	*res->ret = cd_xstrndup(t, tl);
	return 0;
}

int cd_ssh_sftp_readlink(struct cd_ssh_session *s, const char *path, char **ret,
	struct cd_error *err)
{
	struct readlink_result res = { .path = path, .ret = ret };
	return sftp_path_request(s, FXP_READLINK, path, take_target, &res, err);
}

struct owner_ids {
	const char *path;
	int64_t *uid, *gid;
};

static int take_ids(struct cd_ssh_session *s, struct sftp_answer *a, void *ctx,
	struct cd_error *err)
{
	struct owner_ids *ids = ctx;
	if (a->type != FXP_ATTRS)
		return sftp_status_error(s, a, "stat", ids->path, err);
	struct cd_ssh_file_attrs now;
	sftp_get_attrs(&a->rest, &now);
	if (*ids->uid < 0)
		*ids->uid = now.uid;
	if (*ids->gid < 0)
		*ids->gid = now.gid;
	return 0;
}

/* stat (following a symlink, as SETSTAT does) for the half of an owner not given. */
static int followed_ids(struct cd_ssh_session *s, const char *path, int64_t *uid, int64_t *gid,
	struct cd_error *err)
{
	struct owner_ids ids = { .path = path, .uid = uid, .gid = gid };
	return sftp_path_request(s, FXP_STAT, path, take_ids, &ids, err);
}

int cd_ssh_sftp_setstat(struct cd_ssh_session *s, const char *path,
	const struct cd_ssh_file_attrs *attrs, struct cd_error *err)
{
	int64_t uid = attrs->uid, gid = attrs->gid;
	int r = 0;
	if ((uid >= 0) != (gid >= 0))
		r = followed_ids(s, path, &uid, &gid, err);
	if (r == 0 && uid >= 0 && gid >= 0)
		r = path_attr_request(s, FXP_SETSTAT, path, ATTR_UIDGID, (uint32_t)uid, (uint32_t)gid,
			"set the owner of", err);
	if (r == 0)
		r = path_attr_request(s, FXP_SETSTAT, path, ATTR_PERMISSIONS, attrs->mode & 07777, 0,
			"set the mode of", err);
	return r;
}
