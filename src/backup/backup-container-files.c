/*
 * Files inside a service's container, through the engine's archive
 * endpoint: backing up. The tar the engine streams out of GET is read with
 * libarchive as it comes: the request runs in a thread that writes into a
 * socketpair, libarchive pulls from the other end, so memory stays bounded
 * whatever the size of the files. Putting them back is
 * backup-container-restore-files.c.
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


/* A whole tree comes in one GET: without a step timeout, allow it an hour. */
#define ARCHIVE_TIMEOUT_MS (3600 * 1000)

int64_t backup_container_files_timeout(const struct cd_step *step)
{
	return step->timeout_ms > 0 ? step->timeout_ms : ARCHIVE_TIMEOUT_MS;
}

int backup_send_all(int fd, const void *data, size_t len, int *peer_gone, struct cd_error *err)
{
	const char *p = data;
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (errno == EPIPE || errno == ECONNRESET)
				*peer_gone = 1;
			return cd_error_set_errno(err, errno, "cannot pass the archive on");
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* ---- backing up: GET in a thread, libarchive reading the other end ---- */

struct get_job {
	struct cd_docker *d;
	const char *container, *path;
	int64_t timeout_ms;
	int fd; /* the thread's end; closed by it */
	int peer_gone;
	int rc;
	struct cd_error err;
};

static int get_sink(void *opaque, const void *data, size_t len, struct cd_error *err)
{
	struct get_job *g = opaque;
	return backup_send_all(g->fd, data, len, &g->peer_gone, err);
}

static void *get_main(void *opaque)
{
	struct get_job *g = opaque;
	g->rc = cd_docker_archive_get(g->d, g->container, g->path, g->timeout_ms, get_sink, g, NULL,
		&g->err);
	close(g->fd); /* the reader sees the end of the tar */
	return NULL;
}

/* The bytes of the current entry of the engine's tar. */
static long tar_source(void *opaque, void *buf, size_t len, struct cd_error *err)
{
	la_ssize_t n = archive_read_data(opaque, buf, len);
	if (n < 0)
		return cd_error_set(err, CD_EREMOTE, "cannot read the engine's archive: %s",
			archive_error_string(opaque) ? archive_error_string(opaque) : "corrupt");
	return (long)n;
}

/*
 * The path in the container of a tar entry: the engine names entries from
 * base ("app", "app/x", with or without a trailing '/'), which sits in
 * parent. NULL when the name is not one of base's or climbs out with "..".
 */
static char *entry_path(const char *parent, const char *base, const char *name)
{
	size_t bl = strlen(base), nl;
	while (name[0] == '.' && name[1] == '/')
		name += 2;
	nl = strlen(name);
	while (nl > 1 && name[nl - 1] == '/')
		nl--;
	if (nl < bl || strncmp(name, base, bl) != 0 || (nl > bl && name[bl] != '/'))
		return NULL;
	for (const char *c = name; c < name + nl;) {
		const char *end = memchr(c, '/', (size_t)(name + nl - c));
		size_t cl = end ? (size_t)(end - c) : (size_t)(name + nl - c);
		if (cl == 2 && c[0] == '.' && c[1] == '.')
			return NULL;
		c += cl + 1;
	}
	return cd_xasprintf("%s/%.*s", strcmp(parent, "/") == 0 ? "" : parent, (int)nl, name);
}

static int add_tree(struct cd_docker *d, const char *container, const char *path,
	int64_t timeout_ms, struct cd_backup_writer *w, struct cd_error *err);

/* A "." or ".." component, which the engine would read as "the contents of". */
static int has_dot_component(const char *path)
{
	for (const char *c = path; *c;) {
		size_t l = strcspn(c, "/");
		if ((l == 1 && c[0] == '.') || (l == 2 && c[0] == '.' && c[1] == '.'))
			return 1;
		c += l;
		c += *c == '/';
	}
	return 0;
}

/* Adds the current entry of a (named path, in the container). */
static int add_one(struct cd_docker *d, const char *container, struct archive *a,
	struct archive_entry *ae, const char *path, int64_t timeout_ms,
	struct cd_backup_writer *w, struct cd_error *err)
{
	unsigned ft = archive_entry_filetype(ae);
	const char *hardlink = archive_entry_hardlink(ae);
	/* A second name of a file already sent: the engine sends no bytes; fetch it alone. */
	if (hardlink)
		return add_tree(d, container, path, timeout_ms, w, err);
	struct cd_backup_entry e = {
		.path = path,
		.type = ft == AE_IFREG ? 'f' : ft == AE_IFDIR ? 'd' : ft == AE_IFLNK ? 'l' : '?',
		.mode = (unsigned)archive_entry_perm(ae) & 07777,
		.uid = archive_entry_uid(ae),
		.gid = archive_entry_gid(ae),
		.owner = archive_entry_uname(ae),
		.group = archive_entry_gname(ae),
		.size = ft == AE_IFREG && archive_entry_size(ae) > 0 ?
			(uint64_t)archive_entry_size(ae) : 0,
		.mtime = (int64_t)archive_entry_mtime(ae),
		.target = archive_entry_symlink(ae),
	};
	return cd_backup_add_entry(w, &e, e.type == 'f' ? tar_source : NULL, a, err);
}

static int add_tree(struct cd_docker *d, const char *container, const char *path,
	int64_t timeout_ms, struct cd_backup_writer *w, struct cd_error *err)
{
	char *clean = cd_xstrdup(path);
	size_t cl = strlen(clean);
	while (cl > 1 && clean[cl - 1] == '/')
		clean[--cl] = 0;
	char *slash = strrchr(clean, '/');
	if (clean[0] != '/' || cl < 2 || !slash || has_dot_component(clean)) {
		int r = cd_error_set(err, CD_EUSAGE,
			"cannot back up '%s' in container '%s': the path must be absolute, not /, and "
			"without . or .. in it", path, container);
		free(clean);
		return r;
	}
	char *base = cd_xstrdup(slash + 1);
	char *parent = slash == clean ? cd_xstrdup("/") : cd_xstrndup(clean, (size_t)(slash - clean));

	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		int r = cd_error_set_errno(err, errno, "cannot make a socket pair");
		free(clean), free(base), free(parent);
		return r;
	}
	struct get_job g = {.d = d, .container = container, .path = clean,
		.timeout_ms = timeout_ms, .fd = sv[1], .err = CD_ERROR_INIT};
	pthread_t th;
	int r = pthread_create(&th, NULL, get_main, &g);
	if (r != 0) {
		close(sv[0]), close(sv[1]);
		free(clean), free(base), free(parent);
		return cd_error_set_errno(err, r, "cannot start a thread");
	}

	struct archive *a = archive_read_new();
	struct archive_entry *ae;
	int own_failure = 0; /* the reader failed by itself, not because the stream did */
	size_t entries = 0;
	archive_read_support_format_tar(a);
	if (archive_read_open_fd(a, sv[0], PIPE_BLOCK) != ARCHIVE_OK)
		r = cd_error_set(err, CD_EREMOTE, "cannot read the engine's archive of '%s': %s",
			clean, archive_error_string(a) ? archive_error_string(a) : "unreadable");
	while (r == 0) {
		int h = archive_read_next_header(a, &ae);
		if (h == ARCHIVE_EOF)
			break;
		if (h != ARCHIVE_OK && h != ARCHIVE_WARN) {
			r = cd_error_set(err, CD_EREMOTE,
				"cannot read the engine's archive of '%s': %s", clean,
				archive_error_string(a) ? archive_error_string(a) : "corrupt");
			break;
		}
		char *at = entry_path(parent, base, archive_entry_pathname(ae));
		if (!at) {
			r = cd_error_set(err, CD_EREMOTE,
				"the engine's archive of '%s' holds '%s', which is not under it",
				clean, archive_entry_pathname(ae));
			own_failure = 1;
			break;
		}
		r = add_one(d, container, a, ae, at, timeout_ms, w, err);
		own_failure = r < 0;
		free(at);
		entries++;
	}
	if (r == 0 && entries == 0)
		r = cd_error_set(err, CD_EREMOTE, "the engine's archive of '%s' is empty", clean);
	/* Done reading: take what is left (the tar's padding) so that the GET ends cleanly. */
	if (r == 0) {
		char drain[4096];
		while (read(sv[0], drain, sizeof(drain)) > 0)
			;
	}
	archive_read_free(a);
	close(sv[0]);
	pthread_join(th, NULL);
	/* The request's own error explains a stream that ended early; the reader's, the rest. */
	if (g.rc < 0 && !g.peer_gone && !own_failure) {
		cd_error_release(err);
		r = cd_error_set(err, g.err.code, "%s", g.err.msg);
	}
	cd_error_release(&g.err);
	free(clean), free(base), free(parent);
	return r;
}

int backup_container_add_path(struct cd_run *run, const struct cd_step *step, const char *path,
	struct cd_backup_writer *w, struct cd_error *err)
{
	struct cd_docker *d = NULL;
	char *container = NULL;
	int r = backup_service_container(run, step, &d, &container, err);
	if (r == 0)
		r = add_tree(d, container, path, backup_container_files_timeout(step), w, err);
	free(container);
	return r;
}

