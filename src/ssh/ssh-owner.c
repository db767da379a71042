/*
 * ssh-owner: an owner "user[:group]" as the numbers SFTP sets. SFTP knows
 * only uid and gid, and no shell runs on the host to ask it, so names are
 * looked up in its /etc/passwd and /etc/group; a name that lives only in a
 * directory service (LDAP, sssd) must be given as a number.
 */
#include <stdlib.h>
#include <string.h>

#include "ssh-internal.h"

/* A decimal number, or -1. */
static int64_t numeric_id(const char *s)
{
	if (!*s || strlen(s) > 10)
		return -1;
	int64_t v = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v <= 0xfffffffe ? v : -1;
}

/*
 * Field `field` (0-based, ':'-separated) of the line of text whose first
 * field is name, as a number; -1 when there is no such line.
 */
static int64_t file_field(const char *text, const char *name, int field)
{
	size_t nl = strlen(name);
	for (const char *line = text; line && *line;) {
		const char *end = strchr(line, '\n');
		if (strncmp(line, name, nl) == 0 && line[nl] == ':') {
			const char *p = line;
			for (int i = 0; i < field && p; i++) {
				p = memchr(p, ':', (size_t)((end ? end : p + strlen(p)) - p));
				if (p)
					p++;
			}
			if (!p)
				return -1;
			char num[16];
			size_t k = 0;
			while (p[k] >= '0' && p[k] <= '9' && k < sizeof(num) - 1) {
				num[k] = p[k];
				k++;
			}
			num[k] = '\0';
			return numeric_id(num);
		}
		line = end ? end + 1 : NULL;
	}
	return -1;
}

char *cd_ssh_owner_name(const char *text, int64_t id)
{
	if (!text || id < 0)
		return NULL;
	for (const char *line = text; *line;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		const char *c1 = memchr(line, ':', len);
		const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line)) : NULL;
		if (c1 && c2 && c1 > line && line[0] != '#') {
			int64_t v = 0;
			const char *p = c2 + 1;
			for (; p < line + len && *p >= '0' && *p <= '9' && v <= 0xffffffff; p++)
				v = v * 10 + (*p - '0');
			if (p > c2 + 1 && p < line + len && *p == ':' && v == id)
				return cd_xstrndup(line, (size_t)(c1 - line));
		}
		if (!end)
			break;
		line = end + 1;
	}
	return NULL;
}

int cd_ssh_owner_lookup(const char *passwd, const char *group, const char *owner,
	int64_t *ret_uid, int64_t *ret_gid, struct cd_error *err)
{
	const char *colon = strchr(owner, ':');
	char *user = colon ? cd_xstrndup(owner, (size_t)(colon - owner)) : cd_xstrdup(owner);
	const char *grp = colon ? colon + 1 : NULL;
	int64_t uid = -1, gid = -1;
	int r = 0;
	if (*user) {
		uid = numeric_id(user);
		if (uid < 0)
			uid = file_field(passwd, user, 2);
		if (uid < 0)
			r = cd_error_set(err, CD_ENOTFOUND, "no user '%s' in /etc/passwd (give its uid)", user);
	}
	if (r == 0 && grp && *grp) {
		gid = numeric_id(grp);
		if (gid < 0)
			gid = file_field(group, grp, 2);
		if (gid < 0)
			r = cd_error_set(err, CD_ENOTFOUND, "no group '%s' in /etc/group (give its gid)", grp);
	} else if (r == 0 && grp && *user) {
		/* "user:" is the user's login group, as chown(1) has it. */
		gid = numeric_id(user) >= 0 ? -1 : file_field(passwd, user, 3);
		if (gid < 0)
			r = cd_error_set(err, CD_ENOTFOUND, "no login group for '%s' in /etc/passwd", user);
	}
	if (r == 0 && uid < 0 && gid < 0)
		r = cd_error_set(err, CD_EUSAGE, "owner '%s' names neither a user nor a group", owner);
	free(user);
	if (r == 0) {
		*ret_uid = uid;
		*ret_gid = gid;
	}
	return r;
}

int cd_ssh_sftp_owner(struct cd_ssh_session *s, const char *owner, int64_t *ret_uid,
	int64_t *ret_gid, struct cd_error *err)
{
	struct cd_buf passwd = CD_BUF_INIT, group = CD_BUF_INIT;
	const char *colon = strchr(owner, ':');
	char *user = colon ? cd_xstrndup(owner, (size_t)(colon - owner)) : cd_xstrdup(owner);
	const char *grp = colon ? colon + 1 : "";
	int r = 0;
	/* Only the files that names need are read. */
	if (*user && numeric_id(user) < 0)
		r = cd_ssh_sftp_read(s, "/etc/passwd", 16 * 1024 * 1024, &passwd, err);
	if (r == 0 && *grp && numeric_id(grp) < 0)
		r = cd_ssh_sftp_read(s, "/etc/group", 16 * 1024 * 1024, &group, err);
	free(user);
	if (r == 0) {
		struct cd_error e = CD_ERROR_INIT;
		r = cd_ssh_owner_lookup(passwd.buf, group.buf, owner, ret_uid, ret_gid, &e);
		if (r < 0)
			cd_error_set(err, r, "host %s: %s", s->name, e.msg);
		cd_error_release(&e);
	}
	cd_buf_release(&passwd);
	cd_buf_release(&group);
	return r;
}
