/*
 * Files inside a service's container, through the engine's archive
 * endpoint: putting them back. Each file is staged as a tar of one entry
 * PUT beside its destination (the engine sets mode, owner and time from the
 * header), then all of them are renamed with one exec of sh and mv: the
 * engine has no rename.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "corpdeploy/docker.h"
#include "corpdeploy/engine.h"
#include "corpdeploy/plan.h"
#include "corpdeploy/steps.h"
#include "backup-container-files.h"

/* Pairs of paths renamed by one exec, well within the engine's and the kernel's argv limits. */
#define COMMIT_BATCH 256

/* ---- restoring: tars of one entry PUT beside the destination, renames by exec ---- */

struct container_fs {
	struct cd_docker *d;
	char *container;
	int64_t timeout_ms;
};

/* parent and base name of an absolute path (*ret_parent, *ret_base: free()). */
static void split_path(const char *path, char **ret_parent, char **ret_base)
{
	const char *slash = strrchr(path, '/');
	*ret_parent = slash == path ? cd_xstrdup("/") : cd_xstrndup(path, (size_t)(slash - path));
	*ret_base = cd_xstrdup(slash + 1);
}

/* A tar header for name; the owner is root when the backup did not know it. */
static struct archive_entry *tar_header(const char *name, unsigned type,
	const struct cd_backup_entry *e, unsigned mode)
{
	struct archive_entry *ae = archive_entry_new();
	archive_entry_set_pathname(ae, name);
	archive_entry_set_filetype(ae, type);
	archive_entry_set_perm(ae, mode & 07777);
	archive_entry_set_uid(ae, e && e->uid >= 0 ? e->uid : 0);
	archive_entry_set_gid(ae, e && e->gid >= 0 ? e->gid : 0);
	if (e && e->mtime > 0)
		archive_entry_set_mtime(ae, (time_t)e->mtime, 0);
	if (e && type == AE_IFLNK)
		archive_entry_set_symlink(ae, e->target ? e->target : "");
	if (e && type == AE_IFREG)
		archive_entry_set_size(ae, (la_int64_t)e->size);
	return ae;
}

/* A tar being written to fd, or into a buffer when fd < 0. */
struct tar_out {
	int fd;
	struct cd_buf *buf;
	int peer_gone;
	struct cd_error err;
};

static la_ssize_t tar_out_write(struct archive *a, void *opaque, const void *data, size_t len)
{
	struct tar_out *o = opaque;
	if (o->fd < 0) {
		cd_buf_add(o->buf, data, len);
		return (la_ssize_t)len;
	}
	if (backup_send_all(o->fd, data, len, &o->peer_gone, &o->err) < 0) {
		archive_set_error(a, EPIPE, "%s", o->err.msg);
		return -1;
	}
	return (la_ssize_t)len;
}

static struct archive *tar_open(struct tar_out *o)
{
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	archive_write_open2(a, o, NULL, tar_out_write, NULL, NULL);
	return a;
}

/* A tar held whole (a few headers), sent from memory. */
struct mem_source {
	const char *data;
	size_t len, off;
};

static ssize_t mem_read(void *opaque, void *buf, size_t len, struct cd_error *err)
{
	(void)err;
	struct mem_source *m = opaque;
	if (len > m->len - m->off)
		len = m->len - m->off;
	memcpy(buf, m->data + m->off, len);
	m->off += len;
	return (ssize_t)len;
}

static int put_memory(struct container_fs *c, const char *dir, const struct cd_buf *tar,
	struct cd_error *err)
{
	struct mem_source m = {tar->buf, tar->len, 0};
	return cd_docker_archive_put(c->d, c->container, dir, c->timeout_ms, mem_read, &m, err);
}

/* PUTs the entries ae[0..n) (no file data) into dir; frees them. */
static int put_headers(struct container_fs *c, const char *dir, struct archive_entry **ae,
	size_t n, struct cd_error *err)
{
	struct cd_buf buf = CD_BUF_INIT;
	struct tar_out o = {.fd = -1, .buf = &buf, .err = CD_ERROR_INIT};
	struct archive *a = tar_open(&o);
	int r = 0;
	for (size_t i = 0; i < n; i++) {
		if (r == 0 && archive_write_header(a, ae[i]) != ARCHIVE_OK)
			r = cd_error_set(err, CD_EFAIL, "cannot make a tar for '%s': %s", dir,
				archive_error_string(a));
		archive_entry_free(ae[i]);
	}
	if (r == 0 && archive_write_close(a) != ARCHIVE_OK)
		r = cd_error_set(err, CD_EFAIL, "cannot make a tar for '%s': %s", dir,
			archive_error_string(a));
	archive_write_free(a);
	if (r == 0)
		r = put_memory(c, dir, &buf, err);
	cd_buf_release(&buf);
	cd_error_release(&o.err);
	return r;
}

static int cfs_is_dir(void *ctx, const char *path, struct cd_error *err)
{
	struct container_fs *c = ctx;
	struct cd_docker_path_stat st;
	struct cd_error e = CD_ERROR_INIT;
	int r = cd_docker_path_stat(c->d, c->container, path, &st, &e);
	if (r == CD_ENOTFOUND) {
		cd_error_release(&e);
		return 0;
	}
	if (r < 0) {
		r = cd_error_set(err, e.code, "%s", e.msg);
		cd_error_release(&e);
		return r;
	}
	r = S_ISDIR(st.mode) ? 1 : 0;
	/* A symlink to a directory is one, as mkdir -p sees it; "/." makes the engine follow it. */
	if (S_ISLNK(st.mode)) {
		char *through = cd_xasprintf("%s/.", path);
		struct cd_docker_path_stat to;
		if (cd_docker_path_stat(c->d, c->container, through, &to, NULL) == 0) {
			r = S_ISDIR(to.mode) ? 1 : 0;
			cd_docker_path_stat_release(&to);
		}
		free(through);
	}
	cd_docker_path_stat_release(&st);
	return r;
}

/*
 * The deepest existing ancestor is found by stat; the missing directories
 * below it go in as one tar of directory entries (0755 and root's, path
 * itself with mode), as mkdir -p would make them.
 */
static int cfs_mkdirs(void *ctx, const char *path, unsigned mode, struct cd_error *err)
{
	struct container_fs *c = ctx;
	char *top = cd_xstrdup(path);
	int r;
	for (;;) {
		char *slash = strrchr(top, '/');
		if (slash == top) {
			top[1] = 0;
			r = 0;
			break;
		}
		*slash = 0;
		if ((r = cfs_is_dir(c, top, err)) != 0)
			break;
	}
	if (r < 0) {
		free(top);
		return r;
	}
	/* Entries named relative to top: "a", "a/b", ..., the last one path. */
	const char *rel = path + strlen(top) + (strcmp(top, "/") == 0 ? 0 : 1);
	size_t n = 1;
	for (const char *s = rel; *s; s++)
		n += *s == '/';
	struct archive_entry **ae = cd_xcalloc(n, sizeof(*ae));
	size_t i = 0;
	for (const char *s = rel;; s++) {
		if (*s && *s != '/')
			continue;
		char *name = cd_xstrndup(rel, (size_t)(s - rel));
		ae[i++] = tar_header(name, AE_IFDIR, NULL, *s ? 0755 : mode);
		free(name);
		if (!*s)
			break;
	}
	r = put_headers(c, top, ae, i, err);
	free(ae);
	free(top);
	return r;
}

/* stage_file: a PUT in a thread reading the tar that this thread writes into a socketpair. */
struct put_job {
	struct container_fs *c;
	const char *dir;
	int fd; /* the thread's end; closed by it */
	atomic_int aborted;
	int rc;
	struct cd_error err;
};

static ssize_t put_source(void *opaque, void *buf, size_t len, struct cd_error *err)
{
	struct put_job *p = opaque;
	for (;;) {
		ssize_t n = recv(p->fd, buf, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cd_error_set_errno(err, errno, "cannot read the tar to send");
		/* An end because the writer gave up is no end of the tar: the engine must not keep half. */
		if (n == 0 && atomic_load(&p->aborted))
			return cd_error_set(err, CD_EFAIL, "the file to send could not be read");
		return n;
	}
}

static void *put_main(void *opaque)
{
	struct put_job *p = opaque;
	p->rc = cd_docker_archive_put(p->c->d, p->c->container, p->dir, p->c->timeout_ms, put_source,
		p, &p->err);
	close(p->fd);
	return NULL;
}

static int cfs_stage_file(void *ctx, const char *tmp, const struct cd_backup_entry *e,
	cd_backup_source source, void *opaque, struct cd_error *err)
{
	struct container_fs *c = ctx;
	char *dir, *base;
	int sv[2];
	split_path(tmp, &dir, &base);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		free(dir), free(base);
		return cd_error_set_errno(err, errno, "cannot make a socket pair");
	}
	struct put_job p = {.c = c, .dir = dir, .fd = sv[1], .err = CD_ERROR_INIT};
	atomic_init(&p.aborted, 0);
	pthread_t th;
	int r = pthread_create(&th, NULL, put_main, &p);
	if (r != 0) {
		close(sv[0]), close(sv[1]);
		free(dir), free(base);
		return cd_error_set_errno(err, r, "cannot start a thread");
	}

	struct tar_out o = {.fd = sv[0], .err = CD_ERROR_INIT};
	struct archive *a = tar_open(&o);
	struct archive_entry *ae = tar_header(base, AE_IFREG, e, e->mode);
	int own_failure = 0;
	r = 0;
	if (archive_write_header(a, ae) != ARCHIVE_OK)
		r = cd_error_set(err, CD_EREMOTE, "cannot stage %s: %s", tmp, archive_error_string(a));
	archive_entry_free(ae);
	char *block = cd_xmalloc(PIPE_BLOCK);
	for (uint64_t left = e->size; r == 0 && left > 0;) {
		long n = source(opaque, block, left < PIPE_BLOCK ? (size_t)left : PIPE_BLOCK, err);
		if (n <= 0) {
			own_failure = 1;
			r = n < 0 ? (int)n : cd_error_set(err, CD_EFAIL,
				"cannot stage %s: the archive holds fewer bytes than its header says", tmp);
		} else if (archive_write_data(a, block, (size_t)n) != n) {
			r = cd_error_set(err, CD_EREMOTE, "cannot stage %s: %s", tmp,
				archive_error_string(a));
		} else {
			left -= (uint64_t)n;
		}
	}
	free(block);
	if (r == 0 && archive_write_close(a) != ARCHIVE_OK)
		r = cd_error_set(err, CD_EREMOTE, "cannot stage %s: %s", tmp, archive_error_string(a));
	archive_write_free(a);
	if (r < 0)
		atomic_store(&p.aborted, 1);
	close(sv[0]);
	pthread_join(th, NULL);
	if (p.rc < 0 && (r == 0 || (!own_failure && o.peer_gone))) {
		cd_error_release(err);
		r = cd_error_set(err, p.err.code, "%s", p.err.msg);
	}
	cd_error_release(&p.err);
	cd_error_release(&o.err);
	free(dir), free(base);
	return r;
}

static int cfs_stage_symlink(void *ctx, const char *tmp, const struct cd_backup_entry *e,
	struct cd_error *err)
{
	struct container_fs *c = ctx;
	char *dir, *base;
	split_path(tmp, &dir, &base);
	struct archive_entry *ae = tar_header(base, AE_IFLNK, e, 0777);
	int r = put_headers(c, dir, &ae, 1, err);
	free(dir), free(base);
	return r;
}

/*
 * The renames, by exec: sh's "$@" takes the paths (never pasted into the
 * script). mv moves into a directory rather than over it: a destination
 * that is a directory is refused, and one that is a symlink (perhaps to a
 * directory) is replaced with -T, which an mv without it refuses. The
 * script says how many it did.
 */
static const char COMMIT_SCRIPT[] =
	"command -v mv >/dev/null 2>&1 || { echo 'no mv' >&2; exit 127; }\n"
	"n=0\n"
	"while [ \"$#\" -gt 1 ]; do\n"
	"  if [ -L \"$2\" ]; then\n"
	"    mv -fT \"$1\" \"$2\" || { echo \"done $n\"; exit 1; }\n"
	"  elif [ -d \"$2\" ]; then\n"
	"    echo \"done $n\"; echo \"$2 is a directory\" >&2; exit 1\n"
	"  else\n"
	"    mv -f \"$1\" \"$2\" || { echo \"done $n\"; exit 1; }\n"
	"  fi\n"
	"  n=$((n+1)); shift 2\n"
	"done\n"
	"echo \"done $n\"\n";

static int commit_batch(struct container_fs *c, char *const *tmp, char *const *final, size_t n,
	size_t *ret_done, struct cd_error *err)
{
	const char **argv = cd_xcalloc(4 + 2 * n + 1, sizeof(char *));
	size_t k = 0;
	argv[k++] = "/bin/sh", argv[k++] = "-c", argv[k++] = COMMIT_SCRIPT, argv[k++] = "sh";
	for (size_t i = 0; i < n; i++)
		argv[k++] = tmp[i], argv[k++] = final[i];
	struct cd_docker_exec_result res;
	int r = cd_docker_exec(c->d, c->container, argv, NULL, c->timeout_ms, 0, &res, err);
	free(argv);
	*ret_done = 0;
	if (r < 0)
		return r;
	const char *done = res.out.buf ? strstr(res.out.buf, "done ") : NULL;
	if (done)
		*ret_done = (size_t)strtoul(done + 5, NULL, 10);
	if (*ret_done > n)
		*ret_done = n;
	const char *why = res.err.len ? res.err.buf : res.out.len ? res.out.buf : "";
	size_t wl = strcspn(why, "\r\n");
	if (res.exit_code == 126 || res.exit_code == 127) {
		/* No sh: the engine's words are in the output; no mv: the script's. */
		int no_sh = !done;
		r = cd_error_set(err, CD_EFAIL,
			"cannot put files back in container '%s': it has no %s (the renames that "
			"finish a restore run with /bin/sh and mv)%s%.*s",
			c->container, no_sh ? "/bin/sh" : "mv", wl ? ": " : "", (int)wl, why);
	} else if (res.exit_code != 0) {
		r = cd_error_set(err, CD_EFAIL, "cannot put %s back in container '%s'%s%.*s",
			*ret_done < n ? final[*ret_done] : "files", c->container, wl ? ": " : "",
			(int)wl, why);
	}
	cd_docker_exec_result_release(&res);
	return r;
}

static int cfs_commit(void *ctx, char *const *tmp, char *const *final, size_t n,
	size_t *ret_done, struct cd_error *err)
{
	int r = 0;
	*ret_done = 0;
	while (r == 0 && *ret_done < n) {
		size_t batch = n - *ret_done < COMMIT_BATCH ? n - *ret_done : COMMIT_BATCH, done = 0;
		r = commit_batch(ctx, tmp + *ret_done, final + *ret_done, batch, &done, err);
		*ret_done += done;
	}
	return r;
}

/* Quiet: a stat first, as nearly always there is nothing to remove. */
static void cfs_discard(void *ctx, const char *tmp)
{
	struct container_fs *c = ctx;
	struct cd_docker_path_stat st;
	if (cd_docker_path_stat(c->d, c->container, tmp, &st, NULL) < 0)
		return;
	cd_docker_path_stat_release(&st);
	const char *argv[] = {"/bin/sh", "-c", "rm -f \"$1\"", "sh", tmp, NULL};
	struct cd_docker_exec_result res;
	if (cd_docker_exec(c->d, c->container, argv, NULL, c->timeout_ms, 4096, &res, NULL) == 0)
		cd_docker_exec_result_release(&res);
}

/*
 * Before anything is staged: the renames and the cleanup need sh, mv and
 * rm there, and a running container. Missing, they are named now, while
 * nothing has changed yet.
 */
static int cfs_preflight(struct container_fs *c, struct cd_error *err)
{
	static const char script[] = "for t in mv rm; do command -v $t >/dev/null 2>&1 || "
				     "{ echo $t; exit 3; }; done";
	const char *argv[] = {"/bin/sh", "-c", script, NULL};
	struct cd_docker_exec_result res;
	int r = cd_docker_exec(c->d, c->container, argv, NULL, c->timeout_ms, 4096, &res, err);
	if (r < 0)
		return r;
	const char *out = res.out.buf ? res.out.buf : "";
	size_t ol = strcspn(out, "\r\n");
	if (res.exit_code == 3)
		r = cd_error_set(err, CD_EFAIL,
			"cannot put files back in container '%s': it has no %.*s (a restore there renames "
			"and cleans up with /bin/sh, mv and rm); nothing was restored",
			c->container, (int)ol, out);
	else if (res.exit_code != 0)
		r = cd_error_set(err, CD_EFAIL,
			"cannot put files back in container '%s': it has no /bin/sh (a restore there "
			"renames and cleans up with /bin/sh, mv and rm)%s%.*s; nothing was restored",
			c->container, ol ? ": " : "", (int)ol, out);
	cd_docker_exec_result_release(&res);
	return r;
}

/* A tar of the directory entry alone: the engine keeps the contents and takes mode, owner, time. */
static int cfs_dir_attrs(void *ctx, const struct cd_backup_entry *e, struct cd_error *err)
{
	struct container_fs *c = ctx;
	if (strcmp(e->path, "/") == 0)
		return 0;
	char *dir, *base;
	split_path(e->path, &dir, &base);
	struct archive_entry *ae = tar_header(base, AE_IFDIR, e, e->mode);
	int r = put_headers(c, dir, &ae, 1, err);
	free(dir), free(base);
	return r;
}

int backup_container_restore_files(struct cd_run *run, const struct cd_step *step,
	const char *archive, size_t *ret_count, struct cd_error *err)
{
	struct container_fs c = {.timeout_ms = backup_container_files_timeout(step)};
	int r = backup_service_container(run, step, &c.d, &c.container, err);
	if (r == 0)
		r = cfs_preflight(&c, err);
	if (r == 0) {
		const struct cd_backup_fs fs = {
			.ctx = &c,
			.is_dir = cfs_is_dir,
			.mkdirs = cfs_mkdirs,
			.stage_file = cfs_stage_file,
			.stage_symlink = cfs_stage_symlink,
			.commit = cfs_commit,
			.discard = cfs_discard,
			.dir_attrs = cfs_dir_attrs,
		};
		r = cd_backup_restore_files_to(archive, &fs, ret_count, err);
	}
	free(c.container);
	return r;
}
