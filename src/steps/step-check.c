/*
 * check: a pre-condition that must hold before anything changes (disk
 * space, environment, file modes, engine version, free ports, a command).
 * Each type takes its own keys; a key of another type is an error.
 */
#include <stddef.h>
#include <string.h>

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

const struct cd_step_kind cd_step_kind_check = {
	.name = "check",
	.main = { .key = "check", .flags = CD_FIELD_REQUIRED, .type = CD_T_ENUM, .offset = offsetof(struct cd_step_check, type),
		.sub = cd_check_type_names },
	.schema = &check_schema,
	.validate = check_validate,
	.describe = check_describe,
	.default_name = check_name,
};
