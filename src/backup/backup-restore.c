/*
 * Putting files back from a verified archive. Every file and symlink is
 * first staged beside its destination (same directory, so the rename that
 * follows is atomic), with its mode and owner; only when all of them are
 * staged are they renamed over the live ones. A failure while staging
 * removes what was staged and leaves the live files as they were.
 * Directories missing at their place are created; files that appeared in a
 * backed-up directory after the backup are left alone. The algorithm is the
 * same wherever the files go; a place gives its operations (struct
 * cd_backup_fs), this machine's are here.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cjson/cJSON.h>

#include "backup-internal.h"

static const char *jstr(const cJSON *o, const char *k)
{
	const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
	return v ? v : "";
}

static unsigned jmode(const cJSON *o)
{
	return (unsigned)strtoul(jstr(o, "mode"), NULL, 8) & 07777;
}

static int jid(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? v->valueint : -1;
}

static char *staging_name(const char *final)
{
	char *d = cd_xstrdup(final), *b = cd_xstrdup(final);
	char *s = cd_xasprintf("%s/.%s.cd-restore-%ld", dirname(d), basename(b), (long)getpid());
	free(d);
	free(b);
	return s;
}

static int mkdir_parents(const char *path, struct cd_error *err)
{
	char *p = cd_xstrdup(path);
	for (char *c = p + 1; *c; c++) {
		if (*c != '/')
			continue;
		*c = 0;
		if (mkdir(p, 0755) < 0 && errno != EEXIST) {
			int r = cd_error_set_errno(err, errno, "cannot create %s", p);
			free(p);
			return r;
		}
		*c = '/';
	}
	free(p);
	return 0;
}

/* A manifest entry as the place's operations take it; strings point into m. */
static void entry_of(const cJSON *m, struct cd_backup_entry *e)
{
	const char *type = jstr(m, "type");
	const cJSON *size = cJSON_GetObjectItemCaseSensitive(m, "size");
	*e = (struct cd_backup_entry){
		.path = jstr(m, "path"),
		.type = strcmp(type, "dir") == 0 ? 'd' : strcmp(type, "symlink") == 0 ? 'l' : 'f',
		.mode = jmode(m),
		.uid = jid(m, "uid"),
		.gid = jid(m, "gid"),
		.owner = jstr(m, "owner"),
		.group = jstr(m, "group"),
		.size = cJSON_IsNumber(size) && size->valuedouble > 0 ? (uint64_t)size->valuedouble : 0,
		.target = jstr(m, "target"),
	};
}

/* The bytes of the archive's current entry, for stage_file. */
static long archive_source(void *opaque, void *buf, size_t len, struct cd_error *err)
{
	la_ssize_t n = archive_read_data(opaque, buf, len);
	if (n < 0)
		return cd_error_set(err, CD_EFAIL, "cannot read a file from the archive: %s",
			archive_error_string(opaque) ? archive_error_string(opaque) : "corrupt");
	return (long)n;
}

int cd_backup_restore_files_to(const char *path, const struct cd_backup_fs *fs,
	size_t *ret_count, struct cd_error *err)
{
	cJSON *manifest = NULL;
	int r = cd_backup_verify(path, &manifest, err);
	if (r < 0)
		return r;
	const cJSON *m;
	size_t n_files = 0;
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(manifest, "entries"))
		n_files++;
	char **tmp = cd_xcalloc(n_files + 1, sizeof(char *));
	char **final = cd_xcalloc(n_files + 1, sizeof(char *));
	size_t n_staged = 0;
	struct cd_backup_entry e;

	/* Directories first, in manifest order (parents before children). */
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(manifest, "entries")) {
		if (r < 0 || strcmp(jstr(m, "type"), "dir") != 0)
			continue;
		entry_of(m, &e);
		if ((r = fs->is_dir(fs->ctx, e.path, err)) > 0) {
			r = 0;
			continue;
		}
		if (r == 0)
			r = fs->mkdirs(fs->ctx, e.path, e.mode, err);
	}

	struct archive *a = NULL;
	if (r == 0)
		r = backup_read_open(path, &a, err);
	struct archive_entry *ae;
	while (r == 0 && archive_read_next_header(a, &ae) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(ae);
		m = backup_manifest_find(manifest, "entry", name);
		if (!m || strncmp(name, "files/", 6) != 0 || strcmp(jstr(m, "type"), "dir") == 0)
			continue;
		entry_of(m, &e);
		char *parent = cd_xstrdup(e.path);
		char *slash = strrchr(parent, '/');
		slash[slash == parent ? 1 : 0] = 0;
		if ((r = fs->is_dir(fs->ctx, parent, err)) == 0)
			r = fs->mkdirs(fs->ctx, parent, 0755, err);
		free(parent);
		if (r < 0)
			break;
		r = 0;
		final[n_staged] = cd_xstrdup(e.path);
		tmp[n_staged] = staging_name(e.path);
		fs->discard(fs->ctx, tmp[n_staged]); /* a leftover of an earlier attempt */
		n_staged++;
		if (e.type == 'f')
			r = fs->stage_file(fs->ctx, tmp[n_staged - 1], &e, archive_source, a, err);
		else
			r = fs->stage_symlink(fs->ctx, tmp[n_staged - 1], &e, err);
	}
	if (a)
		archive_read_free(a);

	/* All staged: now the renames, each atomic. */
	size_t done = 0;
	if (r == 0)
		r = fs->commit(fs->ctx, tmp, final, n_staged, &done, err);
	for (size_t i = done; i < n_staged; i++)
		fs->discard(fs->ctx, tmp[i]);
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(manifest, "entries")) {
		if (r < 0 || strcmp(jstr(m, "type"), "dir") != 0)
			continue;
		entry_of(m, &e);
		r = fs->dir_attrs(fs->ctx, &e, err);
	}
	for (size_t i = 0; i < n_staged; i++) {
		free(tmp[i]);
		free(final[i]);
	}
	free(tmp);
	free(final);
	cJSON_Delete(manifest);
	if (r == 0 && ret_count)
		*ret_count = done;
	return r;
}

/* ---- this machine's filesystem ---- */

/* Owner as recorded; not being root is no reason to fail a restore. */
static void set_owner(int fd, const char *path, const struct cd_backup_entry *e)
{
	if (e->uid < 0 || e->gid < 0)
		return;
	if (fd >= 0)
		(void)!fchown(fd, (uid_t)e->uid, (gid_t)e->gid);
	else
		(void)!lchown(path, (uid_t)e->uid, (gid_t)e->gid);
}

static int local_is_dir(void *ctx, const char *path, struct cd_error *err)
{
	(void)ctx, (void)err;
	struct stat sb;
	return lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int local_mkdirs(void *ctx, const char *path, unsigned mode, struct cd_error *err)
{
	(void)ctx;
	int r = mkdir_parents(path, err);
	if (r == 0 && mkdir(path, mode) < 0 && errno != EEXIST)
		r = cd_error_set_errno(err, errno, "cannot create %s", path);
	return r;
}

static int local_stage_file(void *ctx, const char *tmp, const struct cd_backup_entry *e,
	cd_backup_source source, void *opaque, struct cd_error *err)
{
	(void)ctx;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return cd_error_set_errno(err, errno, "cannot stage %s", tmp);
	int r = 0;
	char block[65536];
	for (;;) {
		long n = source(opaque, block, sizeof(block), err);
		if (n < 0)
			r = (int)n;
		if (n <= 0)
			break;
		for (long off = 0; off < n && r == 0;) {
			ssize_t w = write(fd, block + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				r = cd_error_set_errno(err, errno, "cannot write %s", tmp);
			else
				off += w;
		}
		if (r < 0)
			break;
	}
	if (r == 0) {
		set_owner(fd, tmp, e);
		if (fchmod(fd, e->mode) < 0 || fsync(fd) < 0)
			r = cd_error_set_errno(err, errno, "cannot finish %s", tmp);
	}
	close(fd);
	return r;
}

static int local_stage_symlink(void *ctx, const char *tmp, const struct cd_backup_entry *e,
	struct cd_error *err)
{
	(void)ctx;
	if (symlink(e->target, tmp) < 0)
		return cd_error_set_errno(err, errno, "cannot stage %s", tmp);
	set_owner(-1, tmp, e);
	return 0;
}

static int local_commit(void *ctx, char *const *tmp, char *const *final, size_t n,
	size_t *ret_done, struct cd_error *err)
{
	(void)ctx;
	for (*ret_done = 0; *ret_done < n; ++*ret_done)
		if (rename(tmp[*ret_done], final[*ret_done]) < 0)
			return cd_error_set_errno(err, errno, "cannot put %s back", final[*ret_done]);
	return 0;
}

static void local_discard(void *ctx, const char *tmp)
{
	(void)ctx;
	unlink(tmp);
}

static int local_dir_attrs(void *ctx, const struct cd_backup_entry *e, struct cd_error *err)
{
	(void)ctx;
	set_owner(-1, e->path, e);
	if (chmod(e->path, e->mode) < 0)
		return cd_error_set_errno(err, errno, "cannot set the mode of %s", e->path);
	return 0;
}

int cd_backup_restore_files(const char *path, size_t *ret_count, struct cd_error *err)
{
	static const struct cd_backup_fs local = {
		.is_dir = local_is_dir,
		.mkdirs = local_mkdirs,
		.stage_file = local_stage_file,
		.stage_symlink = local_stage_symlink,
		.commit = local_commit,
		.discard = local_discard,
		.dir_attrs = local_dir_attrs,
	};
	return cd_backup_restore_files_to(path, &local, ret_count, err);
}
