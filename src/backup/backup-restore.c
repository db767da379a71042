/*
 * Putting files back from a verified archive. Every file and symlink is
 * first staged beside its destination (same directory, so the rename that
 * follows is atomic), with its mode and owner; only when all of them are
 * staged are they renamed over the live ones. A failure while staging
 * removes what was staged and leaves the live files as they were.
 * Directories missing at their place are created; files that appeared in a
 * backed-up directory after the backup are left alone.
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

struct staged {
	char *tmp, *final;
};

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

/* Owner as recorded; not being root is no reason to fail a restore. */
static void set_owner(int fd, const char *path, const cJSON *m)
{
	int uid = jid(m, "uid"), gid = jid(m, "gid");
	if (uid < 0 || gid < 0)
		return;
	if (fd >= 0)
		(void)!fchown(fd, (uid_t)uid, (gid_t)gid);
	else
		(void)!lchown(path, (uid_t)uid, (gid_t)gid);
}

static int stage_file(struct archive *a, const cJSON *m, struct staged *s, unsigned char *block,
	struct cd_error *err)
{
	int fd = open(s->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return cd_error_set_errno(err, errno, "cannot stage %s", s->tmp);
	int r = 0;
	for (;;) {
		la_ssize_t n = archive_read_data(a, block, 65536);
		if (n < 0)
			r = cd_error_set(err, CD_EFAIL, "cannot read %s from the archive", s->final);
		if (n <= 0)
			break;
		for (la_ssize_t off = 0; off < n && r == 0;) {
			ssize_t w = write(fd, block + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				r = cd_error_set_errno(err, errno, "cannot write %s", s->tmp);
			else
				off += w;
		}
		if (r < 0)
			break;
	}
	if (r == 0) {
		set_owner(fd, s->tmp, m);
		if (fchmod(fd, jmode(m)) < 0 || fsync(fd) < 0)
			r = cd_error_set_errno(err, errno, "cannot finish %s", s->tmp);
	}
	close(fd);
	return r;
}

int cd_backup_restore_files(const char *path, size_t *ret_count, struct cd_error *err)
{
	cJSON *manifest = NULL;
	int r = cd_backup_verify(path, &manifest, err);
	if (r < 0)
		return r;
	const cJSON *m;
	size_t n_files = 0;
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(manifest, "entries"))
		n_files++;
	struct staged *st = cd_xcalloc(n_files + 1, sizeof(*st));
	size_t n_staged = 0;

	/* Directories first, in manifest order (parents before children). */
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(manifest, "entries")) {
		if (r < 0 || strcmp(jstr(m, "type"), "dir") != 0)
			continue;
		struct stat sb;
		if (lstat(jstr(m, "path"), &sb) == 0 && S_ISDIR(sb.st_mode))
			continue;
		if ((r = mkdir_parents(jstr(m, "path"), err)) == 0 &&
			mkdir(jstr(m, "path"), jmode(m)) < 0 && errno != EEXIST)
			r = cd_error_set_errno(err, errno, "cannot create %s", jstr(m, "path"));
	}

	struct archive *a = NULL;
	if (r == 0)
		r = backup_read_open(path, &a, err);
	unsigned char *block = cd_xmalloc(65536);
	struct archive_entry *e;
	while (r == 0 && archive_read_next_header(a, &e) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(e);
		m = backup_manifest_find(manifest, "entry", name);
		if (!m || strncmp(name, "files/", 6) != 0)
			continue;
		const char *type = jstr(m, "type");
		if (strcmp(type, "dir") == 0)
			continue;
		struct staged *s = &st[n_staged];
		s->final = cd_xstrdup(jstr(m, "path"));
		s->tmp = staging_name(s->final);
		unlink(s->tmp); /* a leftover of an earlier attempt */
		if ((r = mkdir_parents(s->final, err)) < 0) {
			free(s->final);
			free(s->tmp);
			break;
		}
		n_staged++;
		if (strcmp(type, "file") == 0) {
			r = stage_file(a, m, s, block, err);
		} else if (symlink(jstr(m, "target"), s->tmp) < 0) {
			r = cd_error_set_errno(err, errno, "cannot stage %s", s->tmp);
		} else {
			set_owner(-1, s->tmp, m);
		}
	}
	free(block);
	if (a)
		archive_read_free(a);

	/* All staged: now the renames, each atomic. */
	size_t done = 0;
	for (size_t i = 0; r == 0 && i < n_staged; i++, done++)
		if (rename(st[i].tmp, st[i].final) < 0)
			r = cd_error_set_errno(err, errno, "cannot put %s back", st[i].final);
	for (size_t i = done; i < n_staged; i++)
		unlink(st[i].tmp);
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(manifest, "entries")) {
		if (r < 0 || strcmp(jstr(m, "type"), "dir") != 0)
			continue;
		set_owner(-1, jstr(m, "path"), m);
		if (chmod(jstr(m, "path"), jmode(m)) < 0)
			r = cd_error_set_errno(err, errno, "cannot set the mode of %s", jstr(m, "path"));
	}
	for (size_t i = 0; i < n_staged; i++) {
		free(st[i].tmp);
		free(st[i].final);
	}
	free(st);
	cJSON_Delete(manifest);
	if (r == 0 && ret_count)
		*ret_count = done;
	return r;
}
