/*
 * backup-ssh-files: `backup: files` on an SSH target, over SFTP (no shell
 * runs on the host). A backup lstats each path, lists directories sorted and
 * recurses, pulls each file's bytes from a pipelined SFTP reader straight
 * into the archive and records symlinks with their targets; owner names come
 * from the host's /etc/passwd and /etc/group. A restore gives
 * cd_backup_restore_files_to() the host's operations: files are written
 * exclusively beside their destination (owner, mode, fsync), then renamed
 * over it by posix-rename@openssh.com.
 */
#include <stdlib.h>
#include <string.h>

#include "corpdeploy/log.h"
#include "corpdeploy/ssh.h"
#include "corpdeploy/steps.h"
#include "backup-internal.h"

#define MAX_DEPTH 64
#define MAX_ID_FILE (16 * 1024 * 1024) /* of /etc/passwd and /etc/group */

/* ---- backing up ---- */

struct adder {
	struct cd_ssh_session *s;
	struct cd_backup_writer *w;
	struct cd_buf passwd, group; /* the host's, for owner names; empty when unreadable */
};

static long reader_pull(void *opaque, void *buf, size_t len, struct cd_error *err)
{
	return cd_ssh_sftp_reader_read(opaque, buf, len, err);
}

static char entry_type(enum cd_ssh_file_type t)
{
	switch (t) {
	case CD_SSH_FILE_REGULAR: return 'f';
	case CD_SSH_FILE_DIR: return 'd';
	case CD_SSH_FILE_SYMLINK: return 'l';
	default: return '?'; /* refused by cd_backup_add_entry(), naming the path */
	}
}

static int add_tree(struct adder *a, const char *path, const struct cd_ssh_file_attrs *st,
	int depth, struct cd_error *err)
{
	if (depth > MAX_DEPTH)
		return cd_error_set(err, CD_ETOOBIG, "cannot back up %s: directories nest too deep", path);
	char *owner = cd_ssh_owner_name(a->passwd.buf, st->uid);
	char *group = cd_ssh_owner_name(a->group.buf, st->gid);
	struct cd_backup_entry e = {
		.path = path, .type = entry_type(st->type), .mode = st->mode, .uid = st->uid,
		.gid = st->gid, .owner = owner, .group = group,
		.size = st->size > 0 ? (uint64_t)st->size : 0, .mtime = st->mtime,
	};
	char *target = NULL;
	struct cd_ssh_dir_entry *list = NULL;
	size_t n = 0;
	int r = 0;
	if (e.type == 'f') {
		struct cd_ssh_sftp_reader *rd;
		if ((r = cd_ssh_sftp_reader_open(a->s, path, &rd, err)) == 0) {
			r = cd_backup_add_entry(a->w, &e, reader_pull, rd, err);
			cd_ssh_sftp_reader_close(rd);
		}
	} else if (e.type == 'l') {
		if ((r = cd_ssh_sftp_readlink(a->s, path, &target, err)) == 0) {
			e.target = target;
			r = cd_backup_add_entry(a->w, &e, NULL, NULL, err);
		}
	} else {
		r = cd_backup_add_entry(a->w, &e, NULL, NULL, err);
		if (r == 0 && e.type == 'd')
			r = cd_ssh_sftp_list(a->s, path, &list, &n, err);
	}
	/* Sorted by the listing, so that two backups of the same tree are the same archive. */
	for (size_t i = 0; r == 0 && i < n; i++) {
		char *child = cd_xasprintf("%s%s%s", path, strcmp(path, "/") == 0 ? "" : "/",
			list[i].name);
		r = add_tree(a, child, &list[i].attrs, depth + 1, err);
		free(child);
	}
	cd_ssh_dir_entries_free(list, n);
	free(target);
	free(owner);
	free(group);
	return r;
}

/* The host's file at path into b for owner names; one that cannot be read leaves names out. */
static void read_id_file(struct cd_ssh_session *s, const char *path, struct cd_buf *b)
{
	struct cd_error e = CD_ERROR_INIT;
	if (cd_ssh_sftp_read(s, path, MAX_ID_FILE, b, &e) < 0) {
		cd_log_debug("%s; the backup records owners by number only", e.msg);
		cd_buf_reset(b);
	}
	cd_error_release(&e);
}

int backup_ssh_add_path(struct cd_run *run, const struct cd_step *step, const char *path,
	struct cd_backup_writer *w, struct cd_error *err)
{
	size_t l = strlen(path);
	if (path[0] != '/')
		return cd_error_set(err, CD_EUSAGE, "backup path '%s' is not absolute", path);
	if (strstr(path, "/../") || (l >= 3 && strcmp(path + l - 3, "/..") == 0))
		return cd_error_set(err, CD_EUSAGE, "backup path '%s' contains '..'", path);
	struct adder a = { .w = w, .passwd = CD_BUF_INIT, .group = CD_BUF_INIT };
	int r = cd_ssh_run_acquire(run, step->target, &a.s, err);
	if (r < 0)
		return r;
	char *p = cd_xstrdup(path);
	while (l > 1 && p[l - 1] == '/')
		p[--l] = '\0';
	read_id_file(a.s, "/etc/passwd", &a.passwd);
	read_id_file(a.s, "/etc/group", &a.group);
	struct cd_ssh_file_attrs st;
	r = cd_ssh_sftp_stat(a.s, p, &st, err);
	if (r == 0)
		r = cd_error_set(err, CD_ENOTFOUND, "cannot back up %s on %s: no such file or directory",
			p, cd_ssh_session_name(a.s));
	else if (r > 0)
		r = add_tree(&a, p, &st, 0, err);
	free(p);
	cd_buf_release(&a.passwd);
	cd_buf_release(&a.group);
	cd_ssh_run_release(run, a.s);
	return r;
}

/* ---- restoring ---- */

struct host_fs {
	struct cd_ssh_session *s;
	/*
	 * Whether the login may give files away: 1 yes, 0 no (not root, as a
	 * local restore it is then no reason to fail), -1 not known yet.
	 */
	int can_chown;
};

static int host_is_dir(void *ctx, const char *path, struct cd_error *err)
{
	struct host_fs *h = ctx;
	struct cd_ssh_file_attrs st;
	int r = cd_ssh_sftp_stat(h->s, path, &st, err);
	return r <= 0 ? r : st.type == CD_SSH_FILE_DIR;
}

static int host_mkdirs(void *ctx, const char *path, unsigned mode, struct cd_error *err)
{
	struct host_fs *h = ctx;
	char *p = cd_xstrdup(path);
	int r = 0;
	for (char *c = p + 1; r == 0; c++) {
		if (*c != '/' && *c != '\0')
			continue;
		char end = *c;
		*c = '\0';
		struct cd_ssh_file_attrs st;
		r = cd_ssh_sftp_stat(h->s, p, &st, err);
		if (r == 0)
			r = cd_ssh_sftp_mkdir(h->s, p, end ? 0755 : mode, err);
		else if (r > 0)
			r = st.type == CD_SSH_FILE_DIR ? 0 : cd_error_set(err, CD_EFAIL,
				"cannot create %s on %s: %s is not a directory", path,
				cd_ssh_session_name(h->s), p);
		*c = end;
		if (!end)
			break;
	}
	free(p);
	return r;
}

/* attrs with the entry's owner when the login may give it, else left as the login makes it. */
static struct cd_ssh_file_attrs entry_attrs(const struct host_fs *h, const struct cd_backup_entry *e)
{
	int owner = h->can_chown != 0 && (e->uid >= 0 || e->gid >= 0);
	return (struct cd_ssh_file_attrs){ .mode = e->mode, .uid = owner ? e->uid : -1,
		.gid = owner ? e->gid : -1 };
}

/*
 * Gives path e's owner, then (a chown clears set-id bits) its mode. A
 * refused chown tells that the login cannot give files away: later files
 * keep the login's owner.
 */
static int set_owner_and_mode(struct host_fs *h, const char *path, const struct cd_backup_entry *e,
	struct cd_error *err)
{
	struct cd_ssh_file_attrs a = entry_attrs(h, e);
	int r = cd_ssh_sftp_setstat(h->s, path, &a, err);
	if (r < 0 && (a.uid >= 0 || a.gid >= 0) && err && err->sys == CD_SSH_FX_PERMISSION_DENIED &&
		h->can_chown < 0) {
		cd_log_debug("%s; restored files keep the owner the login gives them", err->msg);
		h->can_chown = 0;
		a = entry_attrs(h, e);
		r = cd_ssh_sftp_setstat(h->s, path, &a, err);
	} else if (r == 0 && (a.uid >= 0 || a.gid >= 0)) {
		h->can_chown = 1;
	}
	return r;
}

static int host_stage_file(void *ctx, const char *tmp, const struct cd_backup_entry *e,
	cd_backup_source source, void *opaque, struct cd_error *err)
{
	struct host_fs *h = ctx;
	/* Until a chown is known to work, the owner comes after the write: the bytes cannot be pulled twice. */
	struct cd_ssh_file_attrs a = entry_attrs(h, e);
	if (h->can_chown < 0)
		a.uid = a.gid = -1;
	int r = cd_ssh_sftp_write_from(h->s, tmp, source, opaque, &a, err);
	if (r == 0 && h->can_chown < 0 && (e->uid >= 0 || e->gid >= 0))
		r = set_owner_and_mode(h, tmp, e, err);
	return r;
}

static int host_stage_symlink(void *ctx, const char *tmp, const struct cd_backup_entry *e,
	struct cd_error *err)
{
	struct host_fs *h = ctx;
	/* SFTP has no lchown (SETSTAT follows the link): a symlink gets the login's owner. */
	return cd_ssh_sftp_symlink(h->s, e->target, tmp, err);
}

static int host_commit(void *ctx, char *const *tmp, char *const *final, size_t n,
	size_t *ret_done, struct cd_error *err)
{
	struct host_fs *h = ctx;
	for (*ret_done = 0; *ret_done < n; ++*ret_done) {
		int r = cd_ssh_sftp_rename(h->s, tmp[*ret_done], final[*ret_done], err);
		if (r < 0)
			return r;
	}
	return 0;
}

static void host_discard(void *ctx, const char *tmp)
{
	struct host_fs *h = ctx;
	cd_ssh_sftp_remove(h->s, tmp, NULL);
}

static int host_dir_attrs(void *ctx, const struct cd_backup_entry *e, struct cd_error *err)
{
	return set_owner_and_mode(ctx, e->path, e, err);
}

int backup_ssh_restore_files(struct cd_run *run, const struct cd_step *step, const char *archive,
	size_t *ret_count, struct cd_error *err)
{
	struct host_fs h = { .can_chown = -1 };
	int r = cd_ssh_run_acquire(run, step->target, &h.s, err);
	if (r < 0)
		return r;
	const struct cd_backup_fs fs = {
		.ctx = &h,
		.is_dir = host_is_dir,
		.mkdirs = host_mkdirs,
		.stage_file = host_stage_file,
		.stage_symlink = host_stage_symlink,
		.commit = host_commit,
		.discard = host_discard,
		.dir_attrs = host_dir_attrs,
	};
	r = cd_backup_restore_files_to(archive, &fs, ret_count, err);
	cd_ssh_run_release(run, h.s);
	return r;
}
