/*
 * copy: a file, or a template rendered with the plan's variables, to a
 * target (an SSH host, each host of a group, or this machine); written
 * under a temporary name (O_EXCL, 0600) and fsynced, given its mode and
 * owner, then renamed over the old file in one step, so a reader never sees
 * a partial file and an interrupted copy leaves the old one intact. The old
 * file is kept beside it (a hard link, else a copy) until the run succeeds,
 * for undo. On SSH hosts every step of it is an SFTP request.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "corpdeploy/engine.h"
#include "corpdeploy/log.h"
#include "corpdeploy/schema.h"
#include "corpdeploy/ssh.h"
#include "corpdeploy/steps.h"

static const struct cd_field copy_fields[] = {
	{ .key = "dest", .type = CD_T_STR, .offset = offsetof(struct cd_step_copy, dest),
		.flags = CD_FIELD_REQUIRED },
	{ .key = "template", .type = CD_T_BOOL, .offset = offsetof(struct cd_step_copy, template),
		.def = "false" },
	{ .key = "mode", .type = CD_T_MODE, .offset = offsetof(struct cd_step_copy, mode),
		.def = "0644" },
	{ .key = "owner", .type = CD_T_STR, .offset = offsetof(struct cd_step_copy, owner) },
	{ 0 },
};

static const struct cd_schema copy_schema = {
	.what = "copy",
	.size = sizeof(struct cd_step_copy),
	.fields = copy_fields,
};

static void copy_describe(const struct cd_step *step, struct cd_buf *out)
{
	const struct cd_step_copy *c = step->args;
	cd_buf_addf(out, "%s %s to %s%s%s (mode %04o)", c->template == 1 ? "render" : "copy",
		c->src, step->target ? step->target : "", step->target ? ":" : "", c->dest,
		(unsigned)c->mode);
}

static const char *copy_name(struct cd_arena *arena, const struct cd_step *step)
{
	const struct cd_step_copy *c = step->args;
	char *s = cd_xasprintf("copy-%s", c->dest ? c->dest : "file");
	const char *name = cd_arena_strdup(arena, s);
	free(s);
	return name;
}

/* ---- carrying it out ---- */

#define COPY_MAX (64 * 1024 * 1024)

static const char *copy_lookup(void *ctx, const char *name)
{
	struct cd_run *run = ctx;
	if (strcmp(name, "release") == 0 && run->plan->release)
		return run->plan->release;
	return cd_run_env(run, name);
}

/* The file's bytes, rendered when it is a template. Files are relative to the plan (or its templates/). */
static int copy_content(struct cd_run *run, const struct cd_step_copy *c, struct cd_buf *ret,
	struct cd_error *err)
{
	const char *dir = run->plan->dir ? run->plan->dir : ".";
	char *path = c->src[0] == '/' ? cd_xstrdup(c->src) : cd_xasprintf("%s/%s", dir, c->src);
	if (c->template == 1 && access(path, R_OK) != 0 && c->src[0] != '/') {
		free(path);
		path = cd_xasprintf("%s/templates/%s", dir, c->src);
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int r = cd_error_set_errno(err, errno, "cannot read %s", path);
		free(path);
		return r;
	}
	struct cd_buf raw = CD_BUF_INIT;
	cd_buf_init(&raw, COPY_MAX);
	char chunk[65536];
	ssize_t n;
	int r = 0;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if (cd_buf_add(&raw, chunk, (size_t)n) < 0) {
			r = cd_error_set(err, CD_ETOOBIG, "%s is larger than 64 MiB", path);
			break;
		}
	if (n < 0 && r == 0)
		r = cd_error_set_errno(err, errno, "cannot read %s", path);
	close(fd);
	if (r == 0 && c->template == 1) {
		struct cd_interp ip = { .lookup = copy_lookup, .ctx = run };
		struct cd_arena arena = CD_ARENA_INIT;
		const char *out;
		char *msg = NULL;
		if (memchr(raw.buf, '\0', raw.len))
			r = cd_error_set(err, CD_EFAIL, "template %s is not text", path);
		else if (cd_interp_expand(&ip, &arena, raw.buf, &out, &msg) < 0)
			r = cd_error_set(err, CD_EFAIL, "template %s: %s", path, msg ? msg : "cannot render");
		else
			cd_buf_adds(ret, out);
		free(msg);
		cd_arena_release(&arena);
	} else if (r == 0) {
		cd_buf_add(ret, raw.buf, raw.len);
	}
	cd_buf_release(&raw);
	free(path);
	return r;
}

/*
 * Where the file lives: an SSH host, through its session's SFTP (no remote
 * shell: a login shell's rc files cost more than the copy), or this machine.
 */
struct place {
	struct cd_run *run;
	const char *host; /* NULL: here */
	struct cd_ssh_session *s;
};

static int place_open(struct place *p, struct cd_run *run, const char *host, struct cd_error *err)
{
	*p = (struct place){ .run = run, .host = host };
	return host ? cd_ssh_run_acquire(run, host, &p->s, err) : 0;
}

static void place_close(struct place *p)
{
	if (p->s)
		cd_ssh_run_release(p->run, p->s);
	p->s = NULL;
}

static int place_stat(struct place *p, const char *path, struct cd_ssh_file_attrs *ret,
	struct cd_error *err)
{
	if (p->s)
		return cd_ssh_sftp_stat(p->s, path, ret, err);
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : cd_error_set_errno(err, errno, "cannot stat %s", path);
	*ret = (struct cd_ssh_file_attrs){ .mode = st.st_mode & 07777, .uid = st.st_uid,
		.gid = st.st_gid, .size = st.st_size };
	return 1;
}

static int local_write(const char *path, const void *data, size_t len,
	const struct cd_ssh_file_attrs *a, struct cd_error *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return cd_error_set_errno(err, errno, "cannot create %s", path);
	size_t off = 0;
	int r = 0;
	while (off < len && r == 0) {
		ssize_t n = write(fd, (const char *)data + off, len - off);
		if (n < 0)
			r = cd_error_set_errno(err, errno, "cannot write %s", path);
		else
			off += (size_t)n;
	}
	/* Owner before mode: a chown clears set-id bits. */
	if (r == 0 && (a->uid >= 0 || a->gid >= 0) &&
		fchown(fd, a->uid >= 0 ? (uid_t)a->uid : (uid_t)-1, a->gid >= 0 ? (gid_t)a->gid : (gid_t)-1) < 0)
		r = cd_error_set_errno(err, errno, "cannot set the owner of %s", path);
	if (r == 0 && fchmod(fd, (mode_t)(a->mode & 07777)) < 0)
		r = cd_error_set_errno(err, errno, "cannot set the mode of %s", path);
	if (r == 0 && fsync(fd) < 0)
		r = cd_error_set_errno(err, errno, "cannot fsync %s", path);
	close(fd);
	return r;
}

static int place_write(struct place *p, const char *path, const void *data, size_t len,
	const struct cd_ssh_file_attrs *a, struct cd_error *err)
{
	if (p->s)
		return cd_ssh_sftp_write(p->s, path, data, len, a, err);
	return local_write(path, data, len, a, err);
}

static int place_read(struct place *p, const char *path, struct cd_buf *ret, struct cd_error *err)
{
	if (p->s)
		return cd_ssh_sftp_read(p->s, path, COPY_MAX, ret, err);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cd_error_set_errno(err, errno, "cannot read %s", path);
	cd_buf_reset(ret);
	char chunk[65536];
	ssize_t n;
	int r = 0;
	while (r == 0 && (n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0)
			r = cd_error_set_errno(err, errno, "cannot read %s", path);
		else if (ret->len + (size_t)n > COPY_MAX)
			r = cd_error_set(err, CD_ETOOBIG, "%s is larger than 64 MiB", path);
		else
			cd_buf_add(ret, chunk, (size_t)n);
	}
	close(fd);
	return r;
}

static int place_link(struct place *p, const char *from, const char *to, struct cd_error *err)
{
	if (p->s)
		return cd_ssh_sftp_link(p->s, from, to, err);
	if (link(from, to) < 0)
		return cd_error_set_errno(err, errno, "cannot link %s to %s", from, to);
	return 0;
}

static int place_rename(struct place *p, const char *from, const char *to, struct cd_error *err)
{
	if (p->s)
		return cd_ssh_sftp_rename(p->s, from, to, err);
	if (rename(from, to) < 0)
		return cd_error_set_errno(err, errno, "cannot rename %s to %s", from, to);
	return 0;
}

static int place_remove(struct place *p, const char *path, struct cd_error *err)
{
	if (p->s)
		return cd_ssh_sftp_remove(p->s, path, err);
	if (unlink(path) < 0 && errno != ENOENT)
		return cd_error_set_errno(err, errno, "cannot remove %s", path);
	return 0;
}

/* Names are looked up in the passwd and group files of the machine that holds the file. */
static int place_owner(struct place *p, const char *owner, int64_t *uid, int64_t *gid,
	struct cd_error *err)
{
	if (p->s)
		return cd_ssh_sftp_owner(p->s, owner, uid, gid, err);
	struct cd_buf passwd = CD_BUF_INIT, group = CD_BUF_INIT;
	int r = place_read(p, "/etc/passwd", &passwd, err);
	if (r == 0)
		r = place_read(p, "/etc/group", &group, err);
	if (r == 0)
		r = cd_ssh_owner_lookup(passwd.buf, group.buf, owner, uid, gid, err);
	cd_buf_release(&passwd);
	cd_buf_release(&group);
	return r;
}

/*
 * Keeps the file at dest under prev: a hard link, or where the host cannot
 * make one (no support, protected hard links), a copy with its mode and
 * owner. A prev left by an earlier attempt of this run is the older file: kept.
 */
static int keep_previous(struct place *p, const char *dest, const char *prev, struct cd_error *err)
{
	struct cd_error link_err = CD_ERROR_INIT;
	int r = place_link(p, dest, prev, &link_err);
	if (r < 0 && (r = place_stat(p, prev, NULL, err)) == 0) {
		struct cd_ssh_file_attrs a;
		struct cd_buf old = CD_BUF_INIT;
		cd_log_debug("%s; copying it instead", link_err.msg);
		if ((r = place_stat(p, dest, &a, err)) == 0)
			r = cd_error_set(err, CD_EFAIL, "%s vanished while it was replaced", dest);
		if (r > 0 && (r = place_read(p, dest, &old, err)) == 0)
			r = place_write(p, prev, old.buf, old.len, &a, err);
		cd_buf_release(&old);
	}
	cd_error_release(&link_err);
	return r < 0 ? r : 0;
}

/*
 * The names beside dest: ".name.corpdeploy-tmp-RUN-HOST" and "...-prev-RUN-HOST"
 * (the host too: several targets may share one file system).
 */
static char *side_name(const char *dest, const char *what, const char *run_id, const char *host)
{
	const char *slash = strrchr(dest, '/');
	int dir_len = slash ? (int)(slash - dest + 1) : 0;
	char *name = cd_xasprintf("%.*s.%s.corpdeploy-%s-%s-%s", dir_len, dest,
		slash ? slash + 1 : dest, what, run_id, host ? host : "local");
	for (char *c = name + dir_len; *c; c++)
		if (*c == '/')
			*c = '_';
	return name;
}

struct copy_job {
	struct cd_step_ctx *ctx;
	const struct cd_step_copy *c;
	const struct cd_buf *content;
};

static int copy_on_host(void *arg, const char *host, struct cd_buf *message, struct cd_error *err)
{
	struct copy_job *j = arg;
	struct cd_run *run = j->ctx->run;
	const char *dest = j->c->dest;
	char *tmp = side_name(dest, "tmp", run->run_id, host);
	char *prev = side_name(dest, "prev", run->run_id, host);
	struct cd_ssh_file_attrs attrs = { .mode = (unsigned)j->c->mode, .uid = -1, .gid = -1 };
	struct place p;
	int existed, r;
	if ((r = place_open(&p, run, host, err)) < 0)
		goto done;
	if (j->c->owner && (r = place_owner(&p, j->c->owner, &attrs.uid, &attrs.gid, err)) < 0)
		goto done;
	if ((r = existed = place_stat(&p, dest, NULL, err)) < 0)
		goto done;
	cJSON *data = cJSON_CreateObject();
	if (host)
		cJSON_AddStringToObject(data, "ssh", host);
	cJSON_AddStringToObject(data, "dest", dest);
	cJSON_AddStringToObject(data, "tmp", tmp);
	cJSON_AddStringToObject(data, "prev", prev);
	cJSON_AddBoolToObject(data, "existed", existed);
	if ((r = cd_run_push_undo(run, j->ctx->step, "file.replace", data, err,
		     "put back %s%s%s", host ? host : "", host ? ":" : "", dest)) < 0)
		goto done;
	/* The new file whole under tmp, the old one kept under prev, then one atomic rename. */
	if ((r = place_write(&p, tmp, j->content->buf, j->content->len, &attrs, err)) < 0)
		goto done;
	if (existed && (r = keep_previous(&p, dest, prev, err)) < 0)
		goto done;
	if ((r = place_rename(&p, tmp, dest, err)) == 0) {
		char size[32];
		cd_buf_addf(message, "%s %s", cd_size_format(j->content->len, size, sizeof(size)),
			existed ? "replaced" : "created");
	}
done:
	place_close(&p);
	free(tmp);
	free(prev);
	return r < 0 ? r : 0;
}

static int copy_apply(struct cd_step_ctx *ctx, struct cd_error *err)
{
	const struct cd_step_copy *c = ctx->step->args;
	struct cd_buf content = CD_BUF_INIT;
	int r = copy_content(ctx->run, c, &content, err);
	if (r == 0) {
		struct copy_job j = { ctx, c, &content };
		if (cd_ssh_is_remote(ctx->run->plan, ctx->step->target))
			r = cd_ssh_fanout(ctx->run, ctx->step->target, copy_on_host, &j, &ctx->message, err);
		else
			r = copy_on_host(&j, NULL, &ctx->message, err);
	}
	/* The rendered text may hold secrets: clear it before it is freed. */
	if (content.len)
		memset(content.buf, 0, content.len);
	cd_buf_release(&content);
	return r;
}

static char *json_str(const cJSON *o, const char *k)
{
	const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
	return v ? cd_xstrdup(v) : NULL;
}

/*
 * Undo of "file.replace" {ssh, dest, tmp, prev, existed}: the kept previous
 * file goes back, or a file that did not exist is removed. Idempotent.
 */
static int copy_undo(struct cd_run *run, const char *action, const cJSON *data, struct cd_error *err)
{
	if (strcmp(action, "file.replace") != 0)
		return cd_error_set(err, CD_EFAIL, "cannot undo '%s' of a copy step", action);
	char *host = json_str(data, "ssh"), *dest = json_str(data, "dest");
	char *tmp = json_str(data, "tmp"), *prev = json_str(data, "prev");
	int existed = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(data, "existed"));
	int r;
	struct place p = { 0 };
	if (!dest || !tmp || !prev) {
		r = cd_error_set(err, CD_EFAIL, "the undo record of a copy step is incomplete");
	} else if ((r = place_open(&p, run, host, err)) == 0) {
		if ((r = place_remove(&p, tmp, err)) == 0 && (r = place_stat(&p, prev, NULL, err)) > 0)
			r = place_rename(&p, prev, dest, err);
		else if (r == 0 && !existed)
			r = place_remove(&p, dest, err);
		place_close(&p);
	}
	free(host);
	free(dest);
	free(tmp);
	free(prev);
	return r;
}

/* The run succeeded: the kept previous file is no longer needed. */
static int copy_finish(struct cd_run *run, const char *action, const cJSON *data, struct cd_error *err)
{
	(void)action;
	char *host = json_str(data, "ssh"), *prev = json_str(data, "prev");
	struct place p;
	int r = 0;
	if (prev && (r = place_open(&p, run, host, err)) == 0) {
		r = place_remove(&p, prev, err);
		place_close(&p);
	}
	free(host);
	free(prev);
	return r;
}

const struct cd_step_kind cd_step_kind_copy = {
	.name = "copy",
	.main = { .key = "copy", .flags = CD_FIELD_REQUIRED, .type = CD_T_STR, .offset = offsetof(struct cd_step_copy, src) },
	.schema = &copy_schema,
	.describe = copy_describe,
	.default_name = copy_name,
	.apply = copy_apply,
	.undo = copy_undo,
	.finish = copy_finish,
};
