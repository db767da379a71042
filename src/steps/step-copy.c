/*
 * copy: a file, or a template rendered with the plan's variables, to a
 * target (an SSH host, each host of a group, or this machine); written
 * under a temporary name (O_EXCL, 0600) and fsynced, given its mode and
 * owner, then renamed over the old file in one step, so a reader never sees
 * a partial file and an interrupted copy leaves the old one intact. The old
 * file is kept beside it (a hard link) until the run succeeds, for undo.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "corpdeploy/engine.h"
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

/* Runs a shell script where the file lives: on the SSH host, or here. */
static int copy_sh(struct cd_run *run, const char *host, const char *script, struct cd_error *err)
{
	struct cd_buf out = CD_BUF_INIT, eout = CD_BUF_INIT;
	int status = -1, r;
	if (host) {
		struct cd_buf line = CD_BUF_INIT;
		const char *argv[] = { "/bin/sh", "-c", script, NULL };
		cd_ssh_quote_argv(&line, argv);
		r = cd_ssh_run_exec(run, host, line.buf, NULL, 120000, 16384, &out, &eout, &status, err);
		cd_buf_release(&line);
	} else {
		const char *argv[] = { "/bin/sh", "-c", script, NULL };
		r = cd_proc_run(argv, NULL, NULL, 120000, 16384, &out, &eout, &status, err);
	}
	if (r == 0 && status != 0)
		r = cd_error_set(err, CD_EFAIL, "%s%s%.300s", host ? host : "local",
			host ? ": " : ": ", eout.len ? eout.buf : "failed");
	cd_buf_release(&out);
	cd_buf_release(&eout);
	return r;
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

static int copy_write_local(const char *tmp, const struct cd_buf *content, struct cd_error *err)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return cd_error_set_errno(err, errno, "cannot create %s", tmp);
	size_t off = 0;
	int r = 0;
	while (off < content->len && r == 0) {
		ssize_t n = write(fd, content->buf + off, content->len - off);
		if (n < 0)
			r = cd_error_set_errno(err, errno, "cannot write %s", tmp);
		else
			off += (size_t)n;
	}
	if (r == 0 && fsync(fd) < 0)
		r = cd_error_set_errno(err, errno, "cannot fsync %s", tmp);
	close(fd);
	return r;
}

static int copy_on_host(void *arg, const char *host, struct cd_buf *message, struct cd_error *err)
{
	struct copy_job *j = arg;
	struct cd_run *run = j->ctx->run;
	const char *dest = j->c->dest;
	char *tmp = side_name(dest, "tmp", run->run_id, host);
	char *prev = side_name(dest, "prev", run->run_id, host);
	struct cd_buf q = CD_BUF_INIT;
	int existed, r;
	if (host) {
		struct cd_ssh_session *s;
		if ((r = cd_ssh_run_acquire(run, host, &s, err)) < 0)
			goto done;
		existed = cd_ssh_sftp_exists(s, dest, err);
		cd_ssh_run_release(run, s);
	} else {
		existed = access(dest, F_OK) == 0;
	}
	if ((r = existed) < 0)
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
	if (host) {
		struct cd_ssh_session *s;
		if ((r = cd_ssh_run_acquire(run, host, &s, err)) < 0)
			goto done;
		r = cd_ssh_sftp_write(s, tmp, j->content->buf, j->content->len, err);
		cd_ssh_run_release(run, s);
	} else {
		r = copy_write_local(tmp, j->content, err);
	}
	if (r < 0)
		goto done;
	/* Mode and owner on the new file, the old one kept by a hard link, then one atomic rename. */
	cd_buf_addf(&q, "chmod %04o ", (unsigned)j->c->mode);
	cd_ssh_quote(&q, tmp);
	if (j->c->owner) {
		cd_buf_adds(&q, " && chown -- ");
		cd_ssh_quote(&q, j->c->owner);
		cd_buf_addch(&q, ' ');
		cd_ssh_quote(&q, tmp);
	}
	if (existed) {
		cd_buf_adds(&q, " && { ln -f -- ");
		cd_ssh_quote(&q, dest);
		cd_buf_addch(&q, ' ');
		cd_ssh_quote(&q, prev);
		cd_buf_adds(&q, " || cp -p -- ");
		cd_ssh_quote(&q, dest);
		cd_buf_addch(&q, ' ');
		cd_ssh_quote(&q, prev);
		cd_buf_adds(&q, "; }");
	}
	cd_buf_adds(&q, " && mv -f -- ");
	cd_ssh_quote(&q, tmp);
	cd_buf_addch(&q, ' ');
	cd_ssh_quote(&q, dest);
	if ((r = copy_sh(run, host, q.buf, err)) == 0) {
		char size[32];
		cd_buf_addf(message, "%s %s", cd_size_format(j->content->len, size, sizeof(size)),
			existed ? "replaced" : "created");
	}
done:
	cd_buf_release(&q);
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
	if (!dest || !tmp || !prev) {
		r = cd_error_set(err, CD_EFAIL, "the undo record of a copy step is incomplete");
	} else {
		struct cd_buf q = CD_BUF_INIT;
		cd_buf_adds(&q, "rm -f -- ");
		cd_ssh_quote(&q, tmp);
		cd_buf_adds(&q, "; if [ -e ");
		cd_ssh_quote(&q, prev);
		cd_buf_adds(&q, " ]; then mv -f -- ");
		cd_ssh_quote(&q, prev);
		cd_buf_addch(&q, ' ');
		cd_ssh_quote(&q, dest);
		if (!existed) {
			cd_buf_adds(&q, "; else rm -f -- ");
			cd_ssh_quote(&q, dest);
		}
		cd_buf_adds(&q, "; fi");
		r = copy_sh(run, host, q.buf, err);
		cd_buf_release(&q);
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
	int r = 0;
	if (prev) {
		struct cd_buf q = CD_BUF_INIT;
		cd_buf_adds(&q, "rm -f -- ");
		cd_ssh_quote(&q, prev);
		r = copy_sh(run, host, q.buf, err);
		cd_buf_release(&q);
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
