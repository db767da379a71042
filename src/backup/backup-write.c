/*
 * Writing a backup archive in one pass: libarchive's pax writer makes the
 * tar, which we compress with libzstd ourselves (level 3 and one worker
 * thread, as zstd(1) by default, and a content checksum so that any damaged
 * byte of the file fails the read) and hash as it goes to the file, so that
 * the archive's sha256 and size are known the moment it is closed, without
 * reading it back. A stream is cut into parts held in one fixed buffer, so
 * memory stays bounded whatever the size of the dump.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cjson/cJSON.h>
#include <zstd.h>

#include "corpdeploy/backup.h"

/* What zstd hands back per call; its own recommendation is 128 KiB. */
#define ZSTD_OUT_SIZE (256 * 1024)
/*
 * zstd's jobs for its worker: the default (8 MiB at level 3) would hold
 * about 40 MiB in flight; 2 MiB keeps the two cores as busy.
 */
#define ZSTD_JOB_SIZE (2 * 1024 * 1024)

struct cd_backup_writer {
	struct archive *a;
	ZSTD_CCtx *zc;
	unsigned char *zout; /* ZSTD_OUT_SIZE bytes */
	const char *zstd_error;
	int fd;
	char *path, *tmp;
	struct cd_sha256 file_sha; /* of the archive's bytes */
	uint64_t file_bytes;
	int write_errno;
	cJSON *manifest, *entries;

	/* The stream being written, if any. */
	char *stream_name;
	unsigned char *part; /* CD_BACKUP_PART_MAX bytes */
	size_t part_len;
	unsigned part_no;
	uint64_t stream_size;
	cJSON *stream_parts;
	uint64_t stream_total; /* every stream's bytes, for the summary */
};

/* Every byte of the archive file passes here once. */
static int file_write(struct cd_backup_writer *w, const void *buf, size_t len)
{
	const char *p = buf;
	size_t left = len;
	while (left) {
		ssize_t n = write(w->fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			w->write_errno = errno;
			return -1;
		}
		p += n;
		left -= (size_t)n;
	}
	cd_sha256_update(&w->file_sha, buf, len);
	w->file_bytes += len;
	return 0;
}

/* Compresses len bytes of tar (ZSTD_e_end: and ends the frame), writing what comes out. */
static int zstd_feed(struct cd_backup_writer *w, const void *buf, size_t len,
	ZSTD_EndDirective mode)
{
	ZSTD_inBuffer in = { buf, len, 0 };
	for (;;) {
		ZSTD_outBuffer out = { w->zout, ZSTD_OUT_SIZE, 0 };
		size_t left = ZSTD_compressStream2(w->zc, &out, &in, mode);
		if (ZSTD_isError(left)) {
			w->zstd_error = ZSTD_getErrorName(left);
			return -1;
		}
		if (out.pos && file_write(w, w->zout, out.pos) < 0)
			return -1;
		if (in.pos == in.size && (mode == ZSTD_e_end ? left == 0 : out.pos < out.size))
			return 0;
	}
}

static la_ssize_t writer_write(struct archive *a, void *opaque, const void *buf, size_t len)
{
	struct cd_backup_writer *w = opaque;
	if (zstd_feed(w, buf, len, ZSTD_e_continue) < 0) {
		archive_set_error(a, w->write_errno ? w->write_errno : EIO, "cannot write the archive");
		return -1;
	}
	return (la_ssize_t)len;
}

static int archive_fail(struct cd_backup_writer *w, struct cd_error *err, const char *what)
{
	if (w->write_errno)
		return cd_error_set_errno(err, w->write_errno, "%s: %s", w->path, what);
	if (w->zstd_error)
		return cd_error_set(err, CD_EIO, "%s: %s: zstd: %s", w->path, what, w->zstd_error);
	return cd_error_set(err, CD_EIO, "%s: %s: %s", w->path, what,
		archive_error_string(w->a) ? archive_error_string(w->a) : "libarchive failed");
}

int cd_backup_writer_open(const char *path, const char *release, const char *run_id,
	struct cd_backup_writer **ret, struct cd_error *err)
{
	struct cd_backup_writer *w = cd_xcalloc(1, sizeof(*w));
	w->path = cd_xstrdup(path);
	w->tmp = cd_xasprintf("%s.tmp", path);
	w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (w->fd < 0) {
		int e = errno;
		free(w->path);
		free(w->tmp);
		free(w);
		return cd_error_set_errno(err, e, "cannot create the backup archive %s.tmp", path);
	}
	cd_sha256_init(&w->file_sha);
	w->manifest = cJSON_CreateObject();
	cJSON_AddStringToObject(w->manifest, "format", "corpdeploy-backup/1");
	cJSON_AddStringToObject(w->manifest, "release", release ? release : "");
	cJSON_AddStringToObject(w->manifest, "run_id", run_id ? run_id : "");
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	cJSON_AddStringToObject(w->manifest, "created", when);
	w->entries = cJSON_AddArrayToObject(w->manifest, "entries");

	/*
	 * Level 3 and one worker thread, as zstd(1) by default (-T1): compression
	 * runs beside the thread that reads the dump and hashes it. A libzstd
	 * without threads compresses in this one: not an error.
	 */
	w->zc = ZSTD_createCCtx();
	w->zout = cd_xmalloc(ZSTD_OUT_SIZE);
	if (!w->zc)
		cd_oom();
	size_t zr = ZSTD_CCtx_setParameter(w->zc, ZSTD_c_compressionLevel, 3);
	if (!ZSTD_isError(zr))
		zr = ZSTD_CCtx_setParameter(w->zc, ZSTD_c_checksumFlag, 1);
	if (!ZSTD_isError(zr) && !ZSTD_isError(ZSTD_CCtx_setParameter(w->zc, ZSTD_c_nbWorkers, 1)))
		ZSTD_CCtx_setParameter(w->zc, ZSTD_c_jobSize, ZSTD_JOB_SIZE);
	if (ZSTD_isError(zr)) {
		int r = cd_error_set(err, CD_EIO, "%s: cannot set up zstd: %s", path,
			ZSTD_getErrorName(zr));
		cd_backup_writer_abort(w);
		return r;
	}
	w->a = archive_write_new();
	if (archive_write_set_format_pax_restricted(w->a) != ARCHIVE_OK ||
		archive_write_add_filter_none(w->a) != ARCHIVE_OK ||
		archive_write_set_bytes_per_block(w->a, 1024 * 1024) != ARCHIVE_OK ||
		/* No padding past the tar's end: zstd gets only what the tar holds. */
		archive_write_set_bytes_in_last_block(w->a, 1) != ARCHIVE_OK ||
		archive_write_open2(w->a, w, NULL, writer_write, NULL, NULL) != ARCHIVE_OK) {
		int r = archive_fail(w, err, "cannot start the archive");
		cd_backup_writer_abort(w);
		return r;
	}
	*ret = w;
	return 0;
}

static cJSON *manifest_entry(const struct cd_backup_entry *e, const char *entry)
{
	static const char *const types[] = { ['f'] = "file", ['d'] = "dir", ['l'] = "symlink" };
	cJSON *m = cJSON_CreateObject();
	char mode[8];
	snprintf(mode, sizeof(mode), "%04o", e->mode & 07777);
	cJSON_AddStringToObject(m, "path", e->path);
	cJSON_AddStringToObject(m, "entry", entry);
	cJSON_AddStringToObject(m, "type", types[(unsigned char)e->type]);
	cJSON_AddNumberToObject(m, "size", e->type == 'f' ? (double)e->size : 0);
	cJSON_AddStringToObject(m, "mode", mode);
	cJSON_AddNumberToObject(m, "uid", (double)e->uid);
	cJSON_AddNumberToObject(m, "gid", (double)e->gid);
	cJSON_AddStringToObject(m, "owner", e->owner ? e->owner : "");
	cJSON_AddStringToObject(m, "group", e->group ? e->group : "");
	if (e->type == 'l')
		cJSON_AddStringToObject(m, "target", e->target ? e->target : "");
	return m;
}

int cd_backup_add_entry(struct cd_backup_writer *w, const struct cd_backup_entry *e,
	cd_backup_source source, void *opaque, struct cd_error *err)
{
	if (!e->path || e->path[0] != '/')
		return cd_error_set(err, CD_EUSAGE, "backup path '%s' is not absolute",
			e->path ? e->path : "");
	if (e->type != 'f' && e->type != 'd' && e->type != 'l')
		return cd_error_set(err, CD_EIO,
			"cannot back up %s: only files, directories and symlinks are archived", e->path);
	if (w->stream_name)
		return cd_error_set(err, CD_EFAIL, "a stream is being written");
	char *name = cd_xasprintf("files%s", e->path);
	struct archive_entry *ae = archive_entry_new();
	archive_entry_set_pathname(ae, name);
	archive_entry_set_filetype(ae, e->type == 'f' ? AE_IFREG : e->type == 'd' ? AE_IFDIR :
		AE_IFLNK);
	archive_entry_set_perm(ae, e->mode & 07777);
	archive_entry_set_size(ae, e->type == 'f' ? (la_int64_t)e->size : 0);
	archive_entry_set_mtime(ae, (time_t)e->mtime, 0);
	if (e->uid >= 0)
		archive_entry_set_uid(ae, e->uid);
	if (e->gid >= 0)
		archive_entry_set_gid(ae, e->gid);
	if (e->owner && *e->owner)
		archive_entry_set_uname(ae, e->owner);
	if (e->group && *e->group)
		archive_entry_set_gname(ae, e->group);
	if (e->type == 'l')
		archive_entry_set_symlink(ae, e->target ? e->target : "");
	int r = 0;
	if (archive_write_header(w->a, ae) != ARCHIVE_OK)
		r = archive_fail(w, err, "cannot add an entry");
	archive_entry_free(ae);
	struct cd_sha256 sha;
	cd_sha256_init(&sha);
	char buf[65536];
	uint64_t total = 0;
	/* The size is in the header already: ask for no more, and fewer is an error. */
	while (r == 0 && e->type == 'f' && total < e->size) {
		uint64_t want = e->size - total < sizeof(buf) ? e->size - total : sizeof(buf);
		long n = source(opaque, buf, (size_t)want, err);
		if (n < 0) {
			r = (int)n;
		} else if (n == 0) {
			r = cd_error_set(err, CD_EIO, "cannot back up %s: it shrank while being read",
				e->path);
		} else {
			if (archive_write_data(w->a, buf, (size_t)n) < 0)
				r = archive_fail(w, err, "cannot write an entry");
			cd_sha256_update(&sha, buf, (size_t)n);
			total += (uint64_t)n;
		}
	}
	if (r == 0) {
		cJSON *m = manifest_entry(e, name);
		if (e->type == 'f') {
			char hex[65];
			cd_sha256_final_hex(&sha, hex);
			cJSON_AddStringToObject(m, "sha256", hex);
		}
		cJSON_AddItemToArray(w->entries, m);
	}
	cd_sha256_release(&sha);
	free(name);
	return r;
}

/* ---- this machine's files ---- */

struct fd_source {
	int fd;
	const char *path;
};

static long fd_read(void *opaque, void *buf, size_t len, struct cd_error *err)
{
	struct fd_source *f = opaque;
	for (;;) {
		ssize_t n = read(f->fd, buf, len);
		if (n >= 0)
			return (long)n;
		if (errno != EINTR)
			return cd_error_set_errno(err, errno, "cannot read %s", f->path);
	}
}

static void entry_from_stat(struct cd_backup_entry *e, const char *path, const struct stat *st)
{
	struct passwd *pw = getpwuid(st->st_uid);
	struct group *gr = getgrgid(st->st_gid);
	*e = (struct cd_backup_entry){
		.path = path,
		.type = S_ISREG(st->st_mode) ? 'f' : S_ISDIR(st->st_mode) ? 'd' :
			S_ISLNK(st->st_mode) ? 'l' : '?',
		.mode = st->st_mode & 07777,
		.uid = st->st_uid,
		.gid = st->st_gid,
		.owner = pw ? pw->pw_name : NULL,
		.group = gr ? gr->gr_name : NULL,
		.size = S_ISREG(st->st_mode) ? (uint64_t)st->st_size : 0,
		.mtime = st->st_mtime,
	};
}

static int add_regular(struct cd_backup_writer *w, const char *path, const struct stat *st0,
	struct cd_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	if (fd < 0)
		return cd_error_set_errno(err, errno, "cannot back up %s", path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_ino != st0->st_ino) {
		close(fd);
		return cd_error_set(err, CD_EIO, "cannot back up %s: it changed while being read", path);
	}
	struct cd_backup_entry e;
	struct fd_source src = { fd, path };
	entry_from_stat(&e, path, &st);
	int r = cd_backup_add_entry(w, &e, fd_read, &src, err);
	close(fd);
	return r;
}

static int add_tree(struct cd_backup_writer *w, const char *path, int depth, struct cd_error *err)
{
	struct stat st;
	if (depth > 64)
		return cd_error_set(err, CD_ETOOBIG, "cannot back up %s: directories nest too deep", path);
	if (lstat(path, &st) < 0)
		return cd_error_set_errno(err, errno, "cannot back up %s", path);
	if (S_ISREG(st.st_mode))
		return add_regular(w, path, &st, err);
	struct cd_backup_entry e;
	entry_from_stat(&e, path, &st);
	if (S_ISLNK(st.st_mode)) {
		char target[4096];
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		if (n < 0)
			return cd_error_set_errno(err, errno, "cannot back up %s", path);
		target[n] = 0;
		e.target = target;
		return cd_backup_add_entry(w, &e, NULL, NULL, err);
	}
	if (!S_ISDIR(st.st_mode))
		return cd_backup_add_entry(w, &e, NULL, NULL, err); /* refused, by name */
	int r = cd_backup_add_entry(w, &e, NULL, NULL, err);
	/* Sorted, so that two backups of the same tree are the same archive. */
	struct dirent **list = NULL;
	int n = r == 0 ? scandir(path, &list, NULL, alphasort) : 0;
	if (n < 0)
		r = cd_error_set_errno(err, errno, "cannot list %s", path);
	for (int i = 0; i < n; i++) {
		const char *c = list[i]->d_name;
		if (r == 0 && strcmp(c, ".") != 0 && strcmp(c, "..") != 0) {
			char *child = cd_xasprintf("%s%s%s", path,
				path[strlen(path) - 1] == '/' ? "" : "/", c);
			r = add_tree(w, child, depth + 1, err);
			free(child);
		}
		free(list[i]);
	}
	free(list);
	return r;
}

int cd_backup_add_path(struct cd_backup_writer *w, const char *path, struct cd_error *err)
{
	if (path[0] != '/')
		return cd_error_set(err, CD_EUSAGE, "backup path '%s' is not absolute", path);
	if (strstr(path, "/../") || (strlen(path) >= 3 && strcmp(path + strlen(path) - 3, "/..") == 0))
		return cd_error_set(err, CD_EUSAGE, "backup path '%s' contains '..'", path);
	char *p = cd_xstrdup(path);
	size_t l = strlen(p);
	while (l > 1 && p[l - 1] == '/')
		p[--l] = 0;
	int r = add_tree(w, p, 0, err);
	free(p);
	return r;
}

int cd_backup_stream_begin(struct cd_backup_writer *w, const char *name, struct cd_error *err)
{
	if (w->stream_name)
		return cd_error_set(err, CD_EFAIL, "a stream is being written already");
	if (!name[0] || strchr(name, '/') || strcmp(name, CD_BACKUP_MANIFEST) == 0)
		return cd_error_set(err, CD_EUSAGE, "'%s' cannot name a stream", name);
	w->stream_name = cd_xstrdup(name);
	if (!w->part)
		w->part = cd_xmalloc(CD_BACKUP_PART_MAX);
	w->part_len = 0;
	w->part_no = 0;
	w->stream_size = 0;
	w->stream_parts = cJSON_CreateArray();
	return 0;
}

static int flush_part(struct cd_backup_writer *w, struct cd_error *err)
{
	char *name = cd_xasprintf("%s.part%06u", w->stream_name, w->part_no++);
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0600);
	archive_entry_set_size(e, (la_int64_t)w->part_len);
	archive_entry_set_mtime(e, time(NULL), 0);
	int r = 0;
	if (archive_write_header(w->a, e) != ARCHIVE_OK ||
		(w->part_len && archive_write_data(w->a, w->part, w->part_len) < 0))
		r = archive_fail(w, err, "cannot write a stream");
	archive_entry_free(e);
	if (r == 0) {
		struct cd_sha256 sha;
		char hex[65];
		cd_sha256_init(&sha);
		cd_sha256_update(&sha, w->part, w->part_len);
		cd_sha256_final_hex(&sha, hex);
		cJSON *p = cJSON_CreateObject();
		cJSON_AddStringToObject(p, "entry", name);
		cJSON_AddNumberToObject(p, "size", (double)w->part_len);
		cJSON_AddStringToObject(p, "sha256", hex);
		cJSON_AddItemToArray(w->stream_parts, p);
	}
	free(name);
	w->part_len = 0;
	return r;
}

int cd_backup_stream_write(struct cd_backup_writer *w, const void *data, size_t len,
	struct cd_error *err)
{
	const unsigned char *p = data;
	if (!w->stream_name)
		return cd_error_set(err, CD_EFAIL, "no stream is being written");
	/* Hashed once, part by part as they are flushed: a dump's bytes are costly to go over twice. */
	w->stream_size += len;
	while (len) {
		size_t room = CD_BACKUP_PART_MAX - w->part_len;
		size_t n = len < room ? len : room;
		memcpy(w->part + w->part_len, p, n);
		w->part_len += n;
		p += n;
		len -= n;
		if (w->part_len == CD_BACKUP_PART_MAX) {
			int r = flush_part(w, err);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int cd_backup_stream_end(struct cd_backup_writer *w, struct cd_error *err)
{
	if (!w->stream_name)
		return cd_error_set(err, CD_EFAIL, "no stream is being written");
	int r = 0;
	if (w->part_len || w->part_no == 0)
		r = flush_part(w, err);
	if (r == 0) {
		cJSON *m = cJSON_CreateObject();
		cJSON_AddStringToObject(m, "path", w->stream_name);
		cJSON_AddStringToObject(m, "type", "stream");
		cJSON_AddNumberToObject(m, "size", (double)w->stream_size);
		cJSON_AddItemToObject(m, "parts", w->stream_parts);
		w->stream_parts = NULL;
		cJSON_AddItemToArray(w->entries, m);
		w->stream_total += w->stream_size;
	}
	cJSON_Delete(w->stream_parts);
	w->stream_parts = NULL;
	free(w->stream_name);
	w->stream_name = NULL;
	return r;
}

void cd_backup_manifest_set(struct cd_backup_writer *w, const char *key, cJSON *value)
{
	cJSON_DeleteItemFromObjectCaseSensitive(w->manifest, key);
	cJSON_AddItemToObject(w->manifest, key, value);
}

static void writer_free(struct cd_backup_writer *w)
{
	if (w->a)
		archive_write_free(w->a);
	if (w->fd >= 0)
		close(w->fd);
	cd_sha256_release(&w->file_sha);
	ZSTD_freeCCtx(w->zc);
	free(w->zout);
	cJSON_Delete(w->manifest);
	cJSON_Delete(w->stream_parts);
	free(w->stream_name);
	free(w->part);
	free(w->path);
	free(w->tmp);
	free(w);
}

void cd_backup_writer_abort(struct cd_backup_writer *w)
{
	if (!w)
		return;
	if (w->a) {
		/* Freeing closes, writing a trailer into a file that goes anyway. */
		archive_write_free(w->a);
		w->a = NULL;
	}
	unlink(w->tmp);
	writer_free(w);
}

int cd_backup_writer_close(struct cd_backup_writer *w, struct cd_backup_summary *ret,
	struct cd_error *err)
{
	int r = 0;
	if (w->stream_name)
		r = cd_error_set(err, CD_EFAIL, "%s: a stream was left unfinished", w->path);
	char *text = r == 0 ? cJSON_PrintUnformatted(w->manifest) : NULL;
	if (r == 0) {
		size_t len = strlen(text);
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, CD_BACKUP_MANIFEST);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0600);
		archive_entry_set_size(e, (la_int64_t)len);
		archive_entry_set_mtime(e, time(NULL), 0);
		if (archive_write_header(w->a, e) != ARCHIVE_OK ||
			archive_write_data(w->a, text, len) < 0)
			r = archive_fail(w, err, "cannot write the manifest");
		archive_entry_free(e);
	}
	free(text);
	if (r == 0 && (archive_write_close(w->a) != ARCHIVE_OK ||
			    zstd_feed(w, NULL, 0, ZSTD_e_end) < 0))
		r = archive_fail(w, err, "cannot finish the archive");
	if (r == 0 && fsync(w->fd) < 0)
		r = cd_error_set_errno(err, errno, "cannot sync %s", w->tmp);
	if (r == 0 && rename(w->tmp, w->path) < 0)
		r = cd_error_set_errno(err, errno, "cannot rename %s into place", w->tmp);
	if (r < 0) {
		cd_backup_writer_abort(w);
		return r;
	}
	if (ret) {
		memset(ret, 0, sizeof(*ret));
		ret->bytes = w->file_bytes;
		cd_sha256_final_hex(&w->file_sha, ret->sha256);
		ret->entries = (size_t)cJSON_GetArraySize(w->entries);
		ret->stream_bytes = w->stream_total;
	}
	writer_free(w);
	return 0;
}
