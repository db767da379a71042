/*
 * Reading a backup archive back: verification reads every entry, hashes it
 * and checks it against the manifest, which comes last (it is written after
 * the data it describes); an archive whose manifest, entries or compressed
 * bytes do not add up is refused as a whole. Reading a stream feeds its
 * parts in order to a sink and checks the sha256 of the whole at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cjson/cJSON.h>

#include "backup-internal.h"

#define READ_BLOCK (64 * 1024)
#define MANIFEST_MAX (64u << 20)

int backup_read_open(const char *path, struct archive **ret, struct cd_error *err)
{
	struct archive *a = archive_read_new();
	archive_read_support_filter_zstd(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, path, READ_BLOCK) != ARCHIVE_OK) {
		int r = cd_error_set(err, CD_EIO, "cannot open the backup archive %s: %s", path,
			archive_error_string(a) ? archive_error_string(a) : "unreadable");
		archive_read_free(a);
		return r;
	}
	*ret = a;
	return 0;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
	return v ? v : "";
}

static double jnum(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* Checks one seen entry {size, sha256} against what the manifest says. */
static int check_seen(const char *path, const cJSON *seen, const char *entry, double size,
	const char *sha, struct cd_error *err)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(seen, entry);
	if (!s)
		return cd_error_set(err, CD_EFAIL, "%s: entry %s is missing", path, entry);
	if (jnum(s, "size") != size || strcmp(jstr(s, "sha256"), sha) != 0)
		return cd_error_set(err, CD_EFAIL, "%s: checksum mismatch in %s", path, entry);
	return 0;
}

/* Is p an absolute path without "." or ".." components? */
static int path_is_clean(const char *p)
{
	if (p[0] != '/')
		return 0;
	for (const char *c = p; *c;) {
		while (*c == '/')
			c++;
		size_t n = strcspn(c, "/");
		if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return 0;
		c += n;
	}
	return 1;
}

static int check_manifest(const char *path, const cJSON *manifest, const cJSON *seen,
	struct cd_error *err)
{
	const cJSON *entries = cJSON_GetObjectItemCaseSensitive(manifest, "entries");
	if (!cJSON_IsArray(entries))
		return cd_error_set(err, CD_EFAIL, "%s: the manifest lists no entries", path);
	size_t expected = 0;
	const cJSON *m;
	cJSON_ArrayForEach(m, entries) {
		const char *type = jstr(m, "type");
		int r = 0;
		if (strcmp(type, "stream") == 0) {
			const cJSON *p;
			cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(m, "parts")) {
				if ((r = check_seen(path, seen, jstr(p, "entry"), jnum(p, "size"),
					     jstr(p, "sha256"), err)) < 0)
					return r;
				expected++;
			}
			continue;
		}
		char *want = cd_xasprintf("files%s", jstr(m, "path"));
		if (!path_is_clean(jstr(m, "path")) || strcmp(want, jstr(m, "entry")) != 0)
			r = cd_error_set(err, CD_EFAIL, "%s: the manifest names an unsafe path '%.200s'",
				path, jstr(m, "path"));
		free(want);
		if (r < 0)
			return r;
		if (strcmp(type, "file") == 0)
			r = check_seen(path, seen, jstr(m, "entry"), jnum(m, "size"), jstr(m, "sha256"),
				err);
		else if (strcmp(type, "dir") == 0 || strcmp(type, "symlink") == 0)
			r = cJSON_GetObjectItemCaseSensitive(seen, jstr(m, "entry"))
				? 0
				: cd_error_set(err, CD_EFAIL, "%s: entry %s is missing", path,
					  jstr(m, "entry"));
		else
			r = cd_error_set(err, CD_EFAIL, "%s: unknown entry type '%.40s' in the manifest",
				path, type);
		if (r < 0)
			return r;
		expected++;
	}
	if ((size_t)cJSON_GetArraySize(seen) != expected)
		return cd_error_set(err, CD_EFAIL, "%s: the archive holds entries its manifest does not list",
			path);
	return 0;
}

int cd_backup_verify(const char *path, cJSON **ret, struct cd_error *err)
{
	struct archive *a;
	int r = backup_read_open(path, &a, err);
	if (r < 0)
		return r;
	cJSON *seen = cJSON_CreateObject(), *manifest = NULL;
	struct cd_buf mtext = CD_BUF_INIT;
	cd_buf_init(&mtext, MANIFEST_MAX);
	unsigned char *block = cd_xmalloc(READ_BLOCK);
	struct archive_entry *e;
	int ar;
	while (r == 0 && (ar = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(e);
		if (!name || manifest) {
			r = cd_error_set(err, CD_EFAIL, "%s: entries follow the manifest", path);
			break;
		}
		int is_manifest = strcmp(name, CD_BACKUP_MANIFEST) == 0;
		if (!is_manifest && cJSON_GetObjectItemCaseSensitive(seen, name)) {
			r = cd_error_set(err, CD_EFAIL, "%s: entry %s appears twice", path, name);
			break;
		}
		char *entry_name = cd_xstrdup(name);
		/* Directories come back with a trailing slash. */
		for (size_t l = strlen(entry_name); l > 1 && entry_name[l - 1] == '/';)
			entry_name[--l] = 0;
		struct cd_sha256 sha;
		cd_sha256_init(&sha);
		uint64_t size = 0;
		for (;;) {
			la_ssize_t n = archive_read_data(a, block, READ_BLOCK);
			if (n < 0) {
				r = cd_error_set(err, CD_EFAIL, "%s: corrupt at %s: %s", path, entry_name,
					archive_error_string(a) ? archive_error_string(a) : "read error");
				break;
			}
			if (n == 0)
				break;
			cd_sha256_update(&sha, block, (size_t)n);
			size += (uint64_t)n;
			if (is_manifest && cd_buf_add(&mtext, block, (size_t)n) < 0) {
				r = cd_error_set(err, CD_ETOOBIG, "%s: the manifest is too large", path);
				break;
			}
		}
		if (r == 0 && is_manifest) {
			manifest = cJSON_ParseWithLength(mtext.buf, mtext.len);
			if (!cJSON_IsObject(manifest))
				r = cd_error_set(err, CD_EFAIL, "%s: the manifest is not valid JSON", path);
		} else if (r == 0) {
			char hex[65];
			cd_sha256_final_hex(&sha, hex);
			cJSON *s = cJSON_CreateObject();
			cJSON_AddNumberToObject(s, "size", (double)size);
			cJSON_AddStringToObject(s, "sha256", hex);
			cJSON_AddItemToObject(seen, entry_name, s);
		}
		cd_sha256_release(&sha); /* the manifest's and a failed entry's */
		free(entry_name);
	}
	if (r == 0 && ar != ARCHIVE_EOF)
		r = cd_error_set(err, CD_EFAIL, "%s: corrupt archive: %s", path,
			archive_error_string(a) ? archive_error_string(a) : "unreadable");
	if (r == 0 && !manifest)
		r = cd_error_set(err, CD_EFAIL, "%s: the archive has no manifest", path);
	if (r == 0)
		r = check_manifest(path, manifest, seen, err);
	free(block);
	cd_buf_release(&mtext);
	cJSON_Delete(seen);
	archive_read_free(a);
	if (r < 0 || !ret)
		cJSON_Delete(manifest);
	else
		*ret = manifest;
	return r;
}

int cd_backup_file_sha256(const char *path, char hex[65], uint64_t *ret_size, struct cd_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cd_error_set_errno(err, errno, "cannot read %s", path);
	struct cd_sha256 sha;
	cd_sha256_init(&sha);
	unsigned char *buf = cd_xmalloc(READ_BLOCK);
	uint64_t total = 0;
	int r = 0;
	for (;;) {
		ssize_t n = read(fd, buf, READ_BLOCK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = cd_error_set_errno(err, errno, "cannot read %s", path);
		if (n <= 0)
			break;
		cd_sha256_update(&sha, buf, (size_t)n);
		total += (uint64_t)n;
	}
	free(buf);
	close(fd);
	if (r == 0) {
		cd_sha256_final_hex(&sha, hex);
		if (ret_size)
			*ret_size = total;
	}
	cd_sha256_release(&sha);
	return r;
}

const cJSON *backup_manifest_find(const cJSON *manifest, const char *field, const char *value)
{
	const cJSON *m;
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(manifest, "entries"))
		if (strcmp(jstr(m, field), value) == 0)
			return m;
	return NULL;
}

/* Compares a part's hash with its manifest entry. */
static int part_check(const char *path, const cJSON *part, struct cd_sha256 *sha, uint64_t size,
	struct cd_error *err)
{
	char hex[65];
	cd_sha256_final_hex(sha, hex);
	if ((double)size != jnum(part, "size") || strcmp(hex, jstr(part, "sha256")) != 0)
		return cd_error_set(err, CD_EFAIL, "%s: checksum mismatch in %s", path,
			jstr(part, "entry"));
	return 0;
}

int cd_backup_read_stream(const char *path, const char *name, cd_backup_sink sink, void *opaque,
	struct cd_error *err)
{
	cJSON *manifest = NULL;
	int r = cd_backup_verify(path, &manifest, err);
	if (r < 0)
		return r;
	const cJSON *m = backup_manifest_find(manifest, "path", name);
	if (!m || strcmp(jstr(m, "type"), "stream") != 0) {
		r = cd_error_set(err, CD_ENOTFOUND, "%s holds no stream '%s'", path, name);
		cJSON_Delete(manifest);
		return r;
	}
	const cJSON *parts = cJSON_GetObjectItemCaseSensitive(m, "parts");
	int n_parts = cJSON_GetArraySize(parts), next = 0;
	struct archive *a = NULL;
	if ((r = backup_read_open(path, &a, err)) < 0) {
		cJSON_Delete(manifest);
		return r;
	}
	unsigned char *block = cd_xmalloc(READ_BLOCK);
	struct archive_entry *e;
	while (r == 0 && next < n_parts && archive_read_next_header(a, &e) == ARCHIVE_OK) {
		const cJSON *part = cJSON_GetArrayItem(parts, next);
		if (strcmp(archive_entry_pathname(e), jstr(part, "entry")) != 0)
			continue;
		next++;
		struct cd_sha256 sha;
		uint64_t size = 0;
		cd_sha256_init(&sha);
		for (;;) {
			la_ssize_t n = archive_read_data(a, block, READ_BLOCK);
			if (n < 0)
				r = cd_error_set(err, CD_EFAIL, "%s: corrupt at %s", path, jstr(part, "entry"));
			if (n <= 0)
				break;
			cd_sha256_update(&sha, block, (size_t)n);
			size += (uint64_t)n;
			if ((r = sink(opaque, block, (size_t)n, err)) < 0)
				break;
		}
		if (r == 0)
			r = part_check(path, part, &sha, size, err);
		cd_sha256_release(&sha);
	}
	if (r == 0 && next != n_parts)
		r = cd_error_set(err, CD_EFAIL, "%s: stream '%s' is incomplete", path, name);
	free(block);
	archive_read_free(a);
	cJSON_Delete(manifest);
	return r;
}

/* A stream read back on demand, for a restore command's stdin. */
struct cd_backup_stream_reader {
	char *path, *name;
	cJSON *manifest;
	struct archive *a;
	const cJSON *parts;
	int n_parts, next, in_part;
	struct cd_sha256 sha; /* of the part being read */
	uint64_t size;
};

long cd_backup_stream_read(void *opaque, void *buf, size_t len, struct cd_error *err)
{
	struct cd_backup_stream_reader *s = opaque;
	for (;;) {
		if (s->in_part) {
			la_ssize_t n = archive_read_data(s->a, buf, len);
			if (n < 0)
				return cd_error_set(err, CD_EFAIL, "%s: corrupt in stream '%s'", s->path,
					s->name);
			if (n > 0) {
				cd_sha256_update(&s->sha, buf, (size_t)n);
				s->size += (uint64_t)n;
				return (long)n;
			}
			s->in_part = 0;
			int r = part_check(s->path, cJSON_GetArrayItem(s->parts, s->next - 1), &s->sha,
				s->size, err);
			if (r < 0)
				return r;
		}
		if (s->next == s->n_parts)
			return 0;
		struct archive_entry *e;
		if (archive_read_next_header(s->a, &e) != ARCHIVE_OK)
			return cd_error_set(err, CD_EFAIL, "%s: stream '%s' is incomplete", s->path,
				s->name);
		if (strcmp(archive_entry_pathname(e),
			    jstr(cJSON_GetArrayItem(s->parts, s->next), "entry")) == 0) {
			s->next++;
			s->in_part = 1;
			s->size = 0;
			cd_sha256_init(&s->sha);
		}
	}
}

int cd_backup_stream_open(const char *path, const char *name, struct cd_backup_stream_reader **ret,
	struct cd_error *err)
{
	cJSON *manifest = NULL;
	int r = cd_backup_verify(path, &manifest, err);
	if (r < 0)
		return r;
	const cJSON *m = backup_manifest_find(manifest, "path", name);
	if (!m || strcmp(jstr(m, "type"), "stream") != 0) {
		r = cd_error_set(err, CD_ENOTFOUND, "%s holds no stream '%s'", path, name);
		cJSON_Delete(manifest);
		return r;
	}
	struct cd_backup_stream_reader *s = cd_xcalloc(1, sizeof(*s));
	s->path = cd_xstrdup(path);
	s->name = cd_xstrdup(name);
	s->manifest = manifest;
	s->parts = cJSON_GetObjectItemCaseSensitive(m, "parts");
	s->n_parts = cJSON_GetArraySize(s->parts);
	if ((r = backup_read_open(path, &s->a, err)) < 0) {
		cd_backup_stream_close(s);
		return r;
	}
	*ret = s;
	return 0;
}

void cd_backup_stream_close(struct cd_backup_stream_reader *s)
{
	if (!s)
		return;
	cd_sha256_release(&s->sha); /* of a part the command stopped reading */
	if (s->a)
		archive_read_free(s->a);
	cJSON_Delete(s->manifest);
	free(s->path);
	free(s->name);
	free(s);
}
