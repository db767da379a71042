/*
 * check: a pre-condition that must hold before anything changes (disk
 * space, environment, file modes, engine version, free ports, a command).
 * Each type takes its own keys; a key of another type is an error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "corpdeploy/docker.h"
#include "corpdeploy/engine.h"
#include "corpdeploy/ssh.h"
#include "corpdeploy/steps.h"

const char *const cd_check_type_names[] = { "disk_free", "env", "file_mode", "docker_version",
	"port_free", "command", NULL };

static const struct cd_field check_fields[] = {
	{ .key = "path", .type = CD_T_STR, .offset = offsetof(struct cd_step_check, path) },
	{ .key = "min", .type = CD_T_STR, .offset = offsetof(struct cd_step_check, min) },
	{ .key = "require", .type = CD_T_STRV, .offset = offsetof(struct cd_step_check, require),
		.flags = CD_FIELD_RAW },
	{ .key = "mode", .type = CD_T_MODE, .offset = offsetof(struct cd_step_check, mode) },
	{ .key = "port", .type = CD_T_INT, .offset = offsetof(struct cd_step_check, port), .min = 1,
		.max = 65535 },
	{ .key = "host", .type = CD_T_STR, .offset = offsetof(struct cd_step_check, host),
		.def = "127.0.0.1" },
	{ .key = "command", .type = CD_T_CMD, .offset = offsetof(struct cd_step_check, command) },
	{ .key = "expect_exit", .type = CD_T_INT,
		.offset = offsetof(struct cd_step_check, expect_exit), .def = "0", .min = 0, .max = 255 },
	{ 0 },
};

/* Which keys each type needs and takes: "path min" = both required. */
static const struct {
	const char *required;
	const char *optional;
} check_keys[] = {
	[CD_CHECK_DISK_FREE] = { "path min", "" },
	[CD_CHECK_ENV] = { "require", "" },
	[CD_CHECK_FILE_MODE] = { "path mode", "" },
	[CD_CHECK_DOCKER_VERSION] = { "min", "" },
	[CD_CHECK_PORT_FREE] = { "port", "host" },
	[CD_CHECK_COMMAND] = { "command", "expect_exit" },
};

static int word_in(const char *words, const char *w)
{
	size_t n = strlen(w);
	for (const char *p = words; (p = strstr(p, w)); p += n)
		if ((p == words || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return 1;
	return 0;
}

static int is_version(const char *s)
{
	int digits = 0, dots = 0;
	for (; *s; s++) {
		if (*s >= '0' && *s <= '9')
			digits++;
		else if (*s == '.' && digits)
			dots++, digits = 0;
		else
			return 0;
	}
	return digits > 0 && dots <= 3;
}

static int check_validate(struct cd_decoder *dec, const struct cd_node *map, void *obj)
{
	struct cd_step_check *c = obj;
	const char *type = cd_check_type_names[c->type];
	int r = 0;

	if (c->type < 0)
		return 0; /* the kind value was wrong; already reported */
	for (const struct cd_field *f = check_fields; f->key; f++) {
		const struct cd_node *v = cd_node_get(map, f->key);
		int req = word_in(check_keys[c->type].required, f->key);
		int opt = word_in(check_keys[c->type].optional, f->key);
		if (v && !req && !opt) {
			for (size_t i = 0; i < map->n; i += 2)
				if (map->items[i + 1] == v)
					v = map->items[i];
			r = cd_decode_error(dec, v, "%s: key '%s' does not apply to check '%s'",
				cd_decode_where(dec), f->key, type);
		} else if (!v && req) {
			r = cd_decode_error(dec, map, "%s: check '%s' needs key '%s'",
				cd_decode_where(dec), type, f->key);
		}
	}
	if (r < 0)
		return r;
	const struct cd_node *min = cd_node_get(map, "min");
	if (c->type == CD_CHECK_DISK_FREE && cd_parse_size(c->min, &c->min_bytes) < 0)
		return cd_decode_error(dec, min, "%s.min: expected a size like 10GiB, got '%s'",
			cd_decode_where(dec), c->min);
	if (c->type == CD_CHECK_DOCKER_VERSION && !is_version(c->min))
		return cd_decode_error(dec, min, "%s.min: expected a version like 20.10, got '%s'",
			cd_decode_where(dec), c->min);
	return 0;
}

static const struct cd_schema check_schema = {
	.what = "check",
	.size = sizeof(struct cd_step_check),
	.fields = check_fields,
};

static void check_describe(const struct cd_step *step, struct cd_buf *out)
{
	const struct cd_step_check *c = step->args;
	char b[32];
	switch (c->type) {
	case CD_CHECK_DISK_FREE:
		cd_buf_addf(out, "check at least %s free on %s", cd_size_format((uint64_t)c->min_bytes, b, sizeof(b)), c->path);
		break;
	case CD_CHECK_ENV:
		cd_buf_adds(out, "check variables are set: ");
		cd_step_describe_strv(&c->require, ", ", out);
		break;
	case CD_CHECK_FILE_MODE:
		cd_buf_addf(out, "check %s is mode %04o or stricter", c->path, (unsigned)c->mode);
		break;
	case CD_CHECK_DOCKER_VERSION:
		cd_buf_addf(out, "check Docker Engine is %s or newer", c->min);
		break;
	case CD_CHECK_PORT_FREE:
		cd_buf_addf(out, "check port %s:%lld is free", c->host, (long long)c->port);
		break;
	case CD_CHECK_COMMAND:
		cd_buf_adds(out, "check command succeeds: ");
		cd_step_describe_cmd(&c->command, out);
		break;
	}
}

static const char *check_name(struct cd_arena *arena, const struct cd_step *step)
{
	const struct cd_step_check *c = step->args;
	return c->type >= 0 ? cd_arena_strdup(arena, cd_check_type_names[c->type]) : NULL;
}

/* Compares dotted versions numerically: "20.10.24+dfsg1" >= "20.10". */
static int version_at_least(const char *have, const char *want)
{
	while (*want) {
		long h = strtol(have, (char **)&have, 10), w = strtol(want, (char **)&want, 10);
		if (h != w)
			return h > w;
		if (*want == '.')
			want++;
		if (*have == '.')
			have++;
		else if (*want)
			return 0;
	}
	return 1;
}

static char *plan_path(const struct cd_plan *plan, const char *path)
{
	if (path[0] == '/' || strcmp(plan->dir, ".") == 0)
		return cd_xstrdup(path);
	return cd_xasprintf("%s/%s", plan->dir, path);
}

/* A command check on one SSH host: its exit code as expected, or the tail of its output. */
static int check_command_on_host(void *arg, const char *host, struct cd_buf *message,
	struct cd_error *err)
{
	struct cd_step_ctx *ctx = arg;
	const struct cd_step_check *c = ctx->step->args;
	const char *sh[] = { "/bin/sh", "-c", c->command.argv.v[0], NULL };
	struct cd_buf line = CD_BUF_INIT, out, eout;
	int status = -1;
	cd_ssh_quote_argv(&line, c->command.shell ? sh : c->command.argv.v);
	int r = cd_ssh_run_exec(ctx->run, host, line.buf, NULL, cd_run_left(ctx->deadline_ms),
		64 * 1024, &out, &eout, &status, err);
	if (r == 0 && status != c->expect_exit) {
		const char *tail = eout.len ? eout.buf : out.buf;
		size_t tl = strlen(tail);
		r = cd_error_set(err, CD_EFAIL, "exited with %d, expected %lld%s%.300s", status,
			(long long)c->expect_exit, tl ? ": " : "", tl > 300 ? tail + tl - 300 : tail);
	} else if (r == 0) {
		cd_buf_addf(message, "exit %d", status);
	}
	cd_buf_release(&line);
	cd_buf_release(&out);
	cd_buf_release(&eout);
	return r;
}

static int check_apply(struct cd_step_ctx *ctx, struct cd_error *err)
{
	const struct cd_step_check *c = ctx->step->args;
	const struct cd_plan *plan = ctx->run->plan;
	char b1[32], b2[32];
	int r = 0;

	switch (c->type) {
	case CD_CHECK_DISK_FREE: {
		struct statvfs vfs;
		if (statvfs(c->path, &vfs) < 0)
			return cd_error_set_errno(err, errno, "cannot measure free space on '%s'", c->path);
		uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
		if (avail < (uint64_t)c->min_bytes)
			return cd_error_set(err, CD_EFAIL, "only %s free on %s, %s needed",
				cd_size_format(avail, b1, sizeof(b1)), c->path,
				cd_size_format((uint64_t)c->min_bytes, b2, sizeof(b2)));
		cd_buf_addf(&ctx->message, "%s free", cd_size_format(avail, b1, sizeof(b1)));
		return 0;
	}
	case CD_CHECK_ENV: {
		struct cd_buf missing = CD_BUF_INIT;
		for (size_t i = 0; i < c->require.n; i++) {
			const char *v = cd_run_env(ctx->run, c->require.v[i]);
			if (!v || !*v)
				cd_buf_addf(&missing, "%s%s", missing.len ? ", " : "", c->require.v[i]);
		}
		if (missing.len)
			r = cd_error_set(err, CD_EFAIL, "not set: %s", missing.buf);
		cd_buf_release(&missing);
		return r;
	}
	case CD_CHECK_FILE_MODE: {
		struct stat st;
		char *path = plan_path(plan, c->path);
		if (stat(path, &st) < 0)
			r = cd_error_set_errno(err, errno, "cannot check the mode of '%s'", path);
		else if ((st.st_mode & 07777) & ~(unsigned)c->mode)
			r = cd_error_set(err, CD_EFAIL, "'%s' is mode %04o, at most %04o is allowed (chmod %04o %s)",
				path, (unsigned)(st.st_mode & 07777), (unsigned)c->mode,
				(unsigned)c->mode, path);
		free(path);
		return r;
	}
	case CD_CHECK_DOCKER_VERSION: {
		struct cd_docker *d;
		struct cd_docker_version v;
		const char *target = ctx->step->target ? ctx->step->target : "local";
		if ((r = cd_run_docker(ctx->run, target, &d, err)) < 0)
			return r;
		if ((r = cd_docker_version(d, &v, err)) < 0)
			return r;
		if (!version_at_least(v.version, c->min))
			r = cd_error_set(err, CD_EFAIL, "Docker Engine %s is older than %s", v.version, c->min);
		else
			cd_buf_addf(&ctx->message, "Docker Engine %s, API %s", v.version, v.api_version);
		cd_docker_version_release(&v);
		return r;
	}
	case CD_CHECK_PORT_FREE: {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)c->port) };
		if (inet_pton(AF_INET, c->host, &sa.sin_addr) != 1)
			return cd_error_set(err, CD_EUSAGE, "'%s' is not an IPv4 address", c->host);
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return cd_error_set_errno(err, errno, "cannot test port %lld", (long long)c->port);
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			r = cd_error_set(err, CD_EFAIL, "port %s:%lld is in use: %s", c->host,
				(long long)c->port, strerror(errno));
		close(fd);
		return r;
	}
	case CD_CHECK_COMMAND: {
		if (cd_ssh_is_remote(plan, ctx->step->target))
			return cd_ssh_fanout(ctx->run, ctx->step->target, check_command_on_host, ctx,
				&ctx->message, err);
		struct cd_buf out, eout;
		int status;
		const char *sh[] = { "/bin/sh", "-c", c->command.argv.v[0], NULL };
		const char *const *argv = c->command.shell ? sh : c->command.argv.v;
		r = cd_proc_run(argv, NULL, NULL, cd_run_left(ctx->deadline_ms), 64 * 1024, &out, &eout,
			&status, err);
		if (r == 0 && status != c->expect_exit) {
			const char *tail = eout.len ? eout.buf : out.buf;
			size_t tl = strlen(tail);
			r = cd_error_set(err, CD_EFAIL, "exited with %d, expected %lld%s%.300s", status,
				(long long)c->expect_exit, tl ? ": " : "", tl > 300 ? tail + tl - 300 : tail);
		}
		cd_buf_release(&out);
		cd_buf_release(&eout);
		return r;
	}
	}
	return cd_error_set(err, CD_EFAIL, "unknown check");
}

const struct cd_step_kind cd_step_kind_check = {
	.name = "check",
	.main = { .key = "check", .flags = CD_FIELD_REQUIRED, .type = CD_T_ENUM, .offset = offsetof(struct cd_step_check, type),
		.sub = cd_check_type_names },
	.schema = &check_schema,
	.validate = check_validate,
	.describe = check_describe,
	.default_name = check_name,
	.apply = check_apply,
};
