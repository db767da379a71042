/*
 * The build context: the files of a directory less those .dockerignore
 * excludes, as a tar (pax restricted, uncompressed, owned by root) made by
 * libarchive while libcurl reads it, so memory holds one chunk, not the tar.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "docker-internal.h"

#define CONTEXT_CHUNK     (64u << 10)
#define CONTEXT_MAX_FILES 200000
#define DOCKERIGNORE_MAX  (1u << 20)

struct ignore_rule {
	char *pattern;
	int negate;
	int deep; /* had "**": '*' may cross '/' */
};

struct context_file {
	char *path; /* relative, '/'-separated */
	mode_t type;
};

struct docker_context {
	char *dir;
	struct context_file *files;
	size_t n_files, alloc_files;

	/* The tar in the making. */
	struct archive *tar;
	size_t next;           /* the next entry of files to write */
	int fd;                /* the file whose data is being written, or -1 */
	int64_t fd_left;       /* bytes of it still due */
	int closed;            /* the archive's end is written */
	struct cd_buf pending; /* tar bytes made but not yet read */
	size_t pending_off;
	char *chunk;
};

/* ---- .dockerignore ---- */

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t' || *s == '\r')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		*--end = '\0';
	return s;
}

/* A pattern as the engine cleans it: no "./" or leading '/', no trailing '/'. */
static char *clean_pattern(const char *p)
{
	char *s;
	size_t len;

	for (;;) {
		if (p[0] == '/')
			p++;
		else if (p[0] == '.' && p[1] == '/')
			p += 2;
		else
			break;
	}
	s = cd_xstrdup(p);
	len = strlen(s);
	while (len > 1 && s[len - 1] == '/')
		s[--len] = '\0';
	return s;
}

static int read_ignore(
        const char *dir, struct ignore_rule **ret, size_t *ret_n, struct cd_error *err)
{
	char *path = cd_xasprintf("%s/.dockerignore", dir);
	struct cd_buf text = CD_BUF_INIT;
	struct ignore_rule *rules = NULL;
	size_t n = 0;
	char buf[8192];
	ssize_t got;
	int fd, rc = 0;

	*ret = NULL;
	*ret_n = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			rc = cd_error_set_errno(err, errno, "cannot read '%s'", path);
		free(path);
		return rc;
	}
	text.max = DOCKERIGNORE_MAX;
	while ((got = read(fd, buf, sizeof(buf))) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = cd_error_set_errno(err, errno, "cannot read '%s'", path);
			break;
		}
		if (cd_buf_add(&text, buf, (size_t)got) < 0) {
			rc = cd_error_set(err, CD_ETOOBIG, "'%s' is larger than 1MiB", path);
			break;
		}
	}
	close(fd);
	if (rc == 0) {
		char *save = NULL;
		for (char *line = strtok_r(text.buf, "\n", &save); line;
		        line = strtok_r(NULL, "\n", &save)) {
			char *s = trim(line);
			int negate = 0;
			if (!*s || *s == '#')
				continue;
			if (*s == '!') {
				negate = 1;
				s = trim(s + 1);
			}
			if (!*s)
				continue;
			rules = cd_xreallocarray(rules, n + 1, sizeof(*rules));
			rules[n].pattern = clean_pattern(s);
			rules[n].negate = negate;
			rules[n].deep = strstr(rules[n].pattern, "**") != NULL;
			n++;
		}
		*ret = rules;
		*ret_n = n;
	}
	cd_buf_release(&text);
	free(path);
	return rc;
}

static int rule_matches(const struct ignore_rule *rule, const char *path)
{
	char *prefix;
	int match = 0;

	if (rule->deep)
		return fnmatch(rule->pattern, path, 0) == 0;
	if (fnmatch(rule->pattern, path, FNM_PATHNAME) == 0)
		return 1;
	/* A pattern that names a directory excludes what is inside it too. */
	prefix = cd_xstrdup(path);
	for (char *slash = strrchr(prefix, '/'); slash && !match; slash = strrchr(prefix, '/')) {
		*slash = '\0';
		match = fnmatch(rule->pattern, prefix, FNM_PATHNAME) == 0;
	}
	free(prefix);
	return match;
}

/* The last rule that matches decides, as in the engine's PatternMatcher. */
static int ignored(const struct ignore_rule *rules, size_t n, const char *path)
{
	int out = 0;

	for (size_t i = 0; i < n; i++)
		if (rule_matches(&rules[i], path))
			out = !rules[i].negate;
	return out;
}

/* ---- the walk ---- */

struct walk {
	struct docker_context *c;
	const struct ignore_rule *rules;
	size_t n_rules;
	int any_negate;
	const char *dockerfile;
};

static int add_file(struct docker_context *c, const char *path, mode_t type, struct cd_error *err)
{
	if (c->n_files >= CONTEXT_MAX_FILES)
		return cd_error_set(err, CD_ETOOBIG, "the context '%s' has more than %d files",
		        c->dir, CONTEXT_MAX_FILES);
	if (c->n_files == c->alloc_files) {
		c->alloc_files = c->alloc_files ? c->alloc_files * 2 : 64;
		c->files = cd_xreallocarray(c->files, c->alloc_files, sizeof(*c->files));
	}
	c->files[c->n_files].path = cd_xstrdup(path);
	c->files[c->n_files].type = type;
	c->n_files++;
	return 0;
}

static int walk_dir(struct walk *w, const char *rel, struct cd_error *err)
{
	char *full = *rel ? cd_xasprintf("%s/%s", w->c->dir, rel) : cd_xstrdup(w->c->dir);
	struct dirent **names = NULL;
	int n, rc = 0;

	n = scandir(full, &names, NULL, alphasort);
	if (n < 0) {
		rc = cd_error_set_errno(err, errno, "cannot list '%s'", full);
		free(full);
		return rc;
	}
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		char *path, *abs;
		struct stat st;
		int skip;

		if (rc < 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		path = *rel ? cd_xasprintf("%s/%s", rel, name) : cd_xstrdup(name);
		abs = cd_xasprintf("%s/%s", full, name);
		if (lstat(abs, &st) < 0) {
			rc = cd_error_set_errno(err, errno, "cannot read '%s'", abs);
		} else {
			/* The Dockerfile and .dockerignore always go: the engine needs them. */
			skip = strcmp(path, w->dockerfile) != 0 &&
			       strcmp(path, ".dockerignore") != 0 &&
			       ignored(w->rules, w->n_rules, path);
			if (S_ISDIR(st.st_mode)) {
				if (!skip)
					rc = add_file(w->c, path, S_IFDIR, err);
				/* An exception ("!dir/keep") may bring back part of an excluded
				 * tree. */
				if (rc == 0 && (!skip || w->any_negate))
					rc = walk_dir(w, path, err);
			} else if (!skip && (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode))) {
				rc = add_file(w->c, path, st.st_mode & S_IFMT, err);
			}
			/* Sockets, fifos and devices have no place in a build context. */
		}
		free(path);
		free(abs);
	}
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(full);
	return rc;
}

/* ---- the tar ---- */

static la_ssize_t tar_write(struct archive *a, void *ctx, const void *data, size_t len)
{
	struct docker_context *c = ctx;

	(void)a;
	cd_buf_add(&c->pending, data, len);
	return (la_ssize_t)len;
}

int docker_context_new(
        const char *dir, const char *dockerfile, struct docker_context **ret, struct cd_error *err)
{
	struct docker_context *c;
	struct ignore_rule *rules = NULL;
	struct walk w = {0};
	struct stat st;
	char *df;
	size_t n_rules = 0;
	int rc;

	if (stat(dir, &st) < 0)
		return cd_error_set_errno(err, errno, "cannot read the context '%s'", dir);
	if (!S_ISDIR(st.st_mode))
		return cd_error_set(err, CD_EIO, "the context '%s' is not a directory", dir);
	while (dockerfile[0] == '.' && dockerfile[1] == '/')
		dockerfile += 2;
	if (dockerfile[0] == '/' || strncmp(dockerfile, "../", 3) == 0 ||
	        strstr(dockerfile, "/../"))
		return cd_error_set(err, CD_EUSAGE,
		        "the Dockerfile '%s' is not inside the context '%s'", dockerfile, dir);
	df = cd_xasprintf("%s/%s", dir, dockerfile);
	rc = stat(df, &st);
	free(df);
	if (rc < 0)
		return cd_error_set(err, CD_ENOTFOUND, "no Dockerfile '%s' in the context '%s'",
		        dockerfile, dir);

	rc = read_ignore(dir, &rules, &n_rules, err);
	if (rc < 0)
		return rc;
	c = cd_xcalloc(1, sizeof(*c));
	c->dir = cd_xstrdup(dir);
	c->fd = -1;
	cd_buf_init(&c->pending, 0);
	w.c = c;
	w.rules = rules;
	w.n_rules = n_rules;
	w.dockerfile = dockerfile;
	for (size_t i = 0; i < n_rules; i++)
		w.any_negate |= rules[i].negate;
	rc = walk_dir(&w, "", err);
	for (size_t i = 0; i < n_rules; i++)
		free(rules[i].pattern);
	free(rules);
	if (rc < 0) {
		docker_context_free(c);
		return rc;
	}

	c->chunk = cd_xmalloc(CONTEXT_CHUNK);
	c->tar = archive_write_new();
	if (!c->tar)
		cd_oom();
	if (archive_write_set_format_pax_restricted(c->tar) != ARCHIVE_OK ||
	        archive_write_add_filter_none(c->tar) != ARCHIVE_OK ||
	        archive_write_set_bytes_per_block(c->tar, 10240) != ARCHIVE_OK ||
	        archive_write_set_bytes_in_last_block(c->tar, 1) != ARCHIVE_OK ||
	        archive_write_open2(c->tar, c, NULL, tar_write, NULL, NULL) != ARCHIVE_OK) {
		rc = cd_error_set(err, CD_EFAIL, "cannot start the tar of '%s': %s", dir,
		        archive_error_string(c->tar));
		docker_context_free(c);
		return rc;
	}
	*ret = c;
	return 0;
}

size_t docker_context_count(const struct docker_context *c)
{
	return c->n_files;
}

static int tar_fail(struct docker_req *r, struct docker_context *c, const char *what)
{
	return cd_error_set(&r->cb_err, CD_EIO, "cannot tar '%s' of the context '%s': %s", what,
	        c->dir, archive_error_string(c->tar));
}

/* Writes the header of the next entry (opening a regular file for its data). */
static int next_entry(struct docker_req *r, struct docker_context *c)
{
	const struct context_file *f = &c->files[c->next++];
	char *abs = cd_xasprintf("%s/%s", c->dir, f->path);
	struct archive_entry *e = archive_entry_new();
	struct stat st;
	int rc = 0;

	if (!e)
		cd_oom();
	if (f->type == S_IFREG) {
		c->fd = open(abs, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (c->fd < 0 || fstat(c->fd, &st) < 0) {
			rc = cd_error_set_errno(&r->cb_err, errno, "cannot read '%s'", abs);
			goto done;
		}
		archive_entry_set_size(e, st.st_size);
		c->fd_left = st.st_size;
	} else {
		if (lstat(abs, &st) < 0) {
			rc = cd_error_set_errno(&r->cb_err, errno, "cannot read '%s'", abs);
			goto done;
		}
		archive_entry_set_size(e, 0);
	}
	archive_entry_set_pathname(e, f->path);
	archive_entry_set_filetype(e, f->type == S_IFDIR   ? AE_IFDIR
	                              : f->type == S_IFLNK ? AE_IFLNK
	                                                   : AE_IFREG);
	archive_entry_set_perm(e, st.st_mode & 07777);
	archive_entry_set_mtime(e, st.st_mtime, 0);
	/* As the docker CLI sends it: everything belongs to root in the image. */
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	if (f->type == S_IFLNK) {
		char target[4096];
		ssize_t n = readlink(abs, target, sizeof(target) - 1);
		if (n < 0) {
			rc = cd_error_set_errno(
			        &r->cb_err, errno, "cannot read the link '%s'", abs);
			goto done;
		}
		target[n] = '\0';
		archive_entry_set_symlink(e, target);
	}
	if (archive_write_header(c->tar, e) != ARCHIVE_OK)
		rc = tar_fail(r, c, f->path);
done:
	if (rc < 0 && c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	archive_entry_free(e);
	free(abs);
	return rc;
}

/* Makes more tar: the next chunk of the current file, the next header, or the end. */
static int produce(struct docker_req *r, struct docker_context *c)
{
	if (c->fd >= 0) {
		size_t want = c->fd_left < CONTEXT_CHUNK ? (size_t)c->fd_left : CONTEXT_CHUNK;
		ssize_t got = want ? read(c->fd, c->chunk, want) : 0;
		if (got < 0 && errno == EINTR)
			return 0;
		if (got < 0)
			return cd_error_set_errno(&r->cb_err, errno, "cannot read '%s/%s'", c->dir,
			        c->files[c->next - 1].path);
		if (got > 0) {
			if (archive_write_data(c->tar, c->chunk, (size_t)got) < 0)
				return tar_fail(r, c, c->files[c->next - 1].path);
			c->fd_left -= got;
			return 0;
		}
		/* The end of the file (or it shrank: libarchive pads the entry with zeros). */
		close(c->fd);
		c->fd = -1;
		if (archive_write_finish_entry(c->tar) != ARCHIVE_OK)
			return tar_fail(r, c, c->files[c->next - 1].path);
		return 0;
	}
	if (c->next < c->n_files)
		return next_entry(r, c);
	if (archive_write_close(c->tar) != ARCHIVE_OK)
		return tar_fail(r, c, ".");
	c->closed = 1;
	return 0;
}

ssize_t docker_context_read(struct docker_req *r, char *buf, size_t len)
{
	struct docker_context *c = r->read_ctx;
	size_t n;

	while (c->pending_off == c->pending.len) {
		cd_buf_reset(&c->pending);
		c->pending_off = 0;
		if (c->closed)
			return 0;
		if (produce(r, c) < 0)
			return -1;
	}
	n = c->pending.len - c->pending_off;
	if (n > len)
		n = len;
	memcpy(buf, c->pending.buf + c->pending_off, n);
	c->pending_off += n;
	return (ssize_t)n;
}

void docker_context_free(struct docker_context *c)
{
	if (!c)
		return;
	if (c->tar)
		archive_write_free(c->tar);
	if (c->fd >= 0)
		close(c->fd);
	for (size_t i = 0; i < c->n_files; i++)
		free(c->files[i].path);
	free(c->files);
	cd_buf_release(&c->pending);
	free(c->chunk);
	free(c->dir);
	free(c);
}

int cd_docker_context_digest(const char *dir, const char *dockerfile, char hex[65],
	struct cd_error *err)
{
	struct docker_context *c;
	int rc = docker_context_new(dir, dockerfile, &c, err);
	if (rc < 0)
		return rc;
	/* What a build sees: each file's path, type, mode and bytes, in the context's order. */
	struct cd_sha256 h;
	cd_sha256_init(&h);
	cd_sha256_update(&h, dockerfile ? dockerfile : "Dockerfile",
		strlen(dockerfile ? dockerfile : "Dockerfile") + 1);
	for (size_t i = 0; i < c->n_files && rc == 0; i++) {
		const struct context_file *f = &c->files[i];
		char *abs = cd_xasprintf("%s/%s", c->dir, f->path);
		struct stat st;
		if (lstat(abs, &st) < 0) {
			rc = cd_error_set_errno(err, errno, "cannot read '%s'", abs);
			free(abs);
			break;
		}
		char meta[64];
		int ml = snprintf(meta, sizeof(meta), "%o", (unsigned)st.st_mode);
		cd_sha256_update(&h, f->path, strlen(f->path) + 1);
		cd_sha256_update(&h, meta, (size_t)ml + 1);
		if (S_ISREG(st.st_mode)) {
			int fd = open(abs, O_RDONLY | O_CLOEXEC);
			char buf[65536];
			ssize_t n;
			if (fd < 0)
				rc = cd_error_set_errno(err, errno, "cannot read '%s'", abs);
			while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0)
				cd_sha256_update(&h, buf, (size_t)n);
			if (fd >= 0)
				close(fd);
		} else if (S_ISLNK(st.st_mode)) {
			char target[4096];
			ssize_t n = readlink(abs, target, sizeof(target));
			if (n > 0)
				cd_sha256_update(&h, target, (size_t)n);
		}
		free(abs);
	}
	cd_sha256_final_hex(&h, hex);
	docker_context_free(c);
	return rc;
}
