/*
 * Interpolation of plan strings: ${VAR}, ${VAR:-default}, $${literal}.
 * A default may itself hold ${...}. Names in a deferred namespace
 * (${capture.token}) are kept as written for the engine to fill at run time.
 */
#include <stdlib.h>
#include <string.h>

#include "corpdeploy/schema.h"

#define INTERP_MAX_DEPTH 8

static int valid_name_char(char c, int first)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
	       (!first && ((c >= '0' && c <= '9') || c == '.' || c == '-'));
}

static int is_deferred(const struct cd_interp *ip, const char *name, size_t len)
{
	for (const char *const *d = ip->deferred; d && *d; d++) {
		size_t dl = strlen(*d);
		if (len > dl && strncmp(name, *d, dl) == 0)
			return 1;
	}
	return 0;
}

/* Finds the '}' closing the ${ at s (s points after "${"), honouring nesting. */
static const char *find_close(const char *s)
{
	int depth = 1;
	for (; *s; s++) {
		if (s[0] == '$' && s[1] == '{') {
			depth++;
			s++;
		} else if (*s == '}' && --depth == 0) {
			return s;
		}
	}
	return NULL;
}

/* Appends to out, failing once out reaches its maximum. */
static int put(struct cd_buf *out, const char *s, size_t len, char **ret_msg)
{
	if (cd_buf_add(out, s, len) == 0)
		return 0;
	free(*ret_msg);
	*ret_msg = cd_xstrdup("value is too long after interpolation");
	return CD_EFAIL;
}

static int expand(const struct cd_interp *ip, const char *s, size_t len, struct cd_buf *out,
	char **ret_msg, int depth)
{
	const char *end = s + len;

	if (depth > INTERP_MAX_DEPTH) {
		*ret_msg = cd_xstrdup("defaults nested too deeply");
		return CD_EFAIL;
	}
	while (s < end) {
		const char *dollar = memchr(s, '$', (size_t)(end - s));
		if (!dollar) {
			return put(out, s, (size_t)(end - s), ret_msg);
		}
		if (put(out, s, (size_t)(dollar - s), ret_msg) < 0)
			return CD_EFAIL;
		s = dollar;
		if (s + 2 < end && s[1] == '$' && s[2] == '{') {
			/* $${x} is the literal text ${x}. */
			if (put(out, "$", 1, ret_msg) < 0)
				return CD_EFAIL;
			s += 2;
			continue;
		}
		if (s + 1 >= end || s[1] != '{') {
			if (put(out, "$", 1, ret_msg) < 0)
				return CD_EFAIL;
			s++;
			continue;
		}
		const char *name = s + 2;
		const char *close = find_close(name);
		if (!close || close > end) {
			*ret_msg = cd_xstrdup("unterminated '${' (write '$${' for a literal)");
			return CD_EFAIL;
		}
		size_t nlen = 0;
		while (name + nlen < close && valid_name_char(name[nlen], nlen == 0))
			nlen++;
		const char *rest = name + nlen;
		if (nlen == 0 || (rest < close && !(rest[0] == ':' && rest + 1 < close && rest[1] == '-'))) {
			*ret_msg = cd_xasprintf("invalid variable reference '${%.*s}'",
				(int)(close - name), name);
			return CD_EFAIL;
		}
		if (is_deferred(ip, name, nlen)) {
			if (put(out, s, (size_t)(close + 1 - s), ret_msg) < 0)
				return CD_EFAIL;
			s = close + 1;
			continue;
		}
		char *key = cd_xstrndup(name, nlen);
		const char *value = ip->lookup ? ip->lookup(ip->ctx, key) : NULL;
		if (value) {
			if (put(out, value, strlen(value), ret_msg) < 0) {
				free(key);
				return CD_EFAIL;
			}
		} else if (rest < close) {
			/* ${VAR:-default}: the default, expanded in turn. */
			int r = expand(ip, rest + 2, (size_t)(close - rest - 2), out, ret_msg,
				depth + 1);
			if (r < 0) {
				free(key);
				return r;
			}
		} else {
			*ret_msg = cd_xasprintf("variable '%s' is not set (give it a value in vars, "
						"env_file or the environment, or write ${%s:-default})",
				key, key);
			free(key);
			return CD_EFAIL;
		}
		free(key);
		s = close + 1;
	}
	return 0;
}

int cd_interp_expand(const struct cd_interp *ip, struct cd_arena *arena, const char *s,
	const char **ret, char **ret_msg)
{
	struct cd_buf out = CD_BUF_INIT;

	*ret_msg = NULL;
	if (!strchr(s, '$')) {
		*ret = s;
		return 0;
	}
	cd_buf_init(&out, CD_YAML_MAX_SCALAR * 4);
	int r = expand(ip, s, strlen(s), &out, ret_msg, 0);
	if (r == 0) {
		const char *copy = cd_arena_strndup(arena, out.buf, out.len);
		if (copy) {
			*ret = copy;
		} else {
			*ret_msg = cd_xstrdup("plan needs too much memory");
			r = CD_EFAIL;
		}
	}
	cd_buf_release(&out);
	return r;
}
