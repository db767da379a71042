/*
 * dotenv files: KEY=value lines, '#' comments, optional `export `, single
 * quotes kept literal, double quotes with \n \" \\ escapes. A malformed line
 * is an error with its line number; values are never echoed in messages.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corpdeploy/plan-internal.h"

static int env_key_char(char c, int first)
{
	return isalpha((unsigned char)c) || c == '_' || (!first && isdigit((unsigned char)c));
}

int plan_env_parse(struct cd_arena *arena, const char *file, const char *data, size_t len,
	struct cd_diags *diags, struct cd_kvs *ret)
{
	size_t lineno = 0, cap = 16;
	const char *p = data, *end = data + len;
	int r = 0;

	ret->n = 0;
	ret->items = cd_arena_alloc(arena, cap * sizeof(struct cd_kv));
	if (!ret->items)
		return CD_ETOOBIG;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		const char *s = p, *line = p;
		lineno++;
		p = nl ? nl + 1 : end;
		while (s < eol && (*s == ' ' || *s == '\t'))
			s++;
		if (s == eol || *s == '#' || (eol - s == 1 && *s == '\r'))
			continue;
		if ((size_t)(eol - s) > 7 && strncmp(s, "export ", 7) == 0)
			s += 7;
		const char *k = s;
		while (s < eol && env_key_char(*s, s == k))
			s++;
		if (s == k || s >= eol || *s != '=') {
			r = cd_diag_add(diags, CD_SEV_ERROR, file, (unsigned)lineno, (unsigned)(k - line + 1),
				"expected KEY=value");
			continue;
		}
		char *key = cd_arena_strndup(arena, k, (size_t)(s - k));
		if (!key)
			return CD_ETOOBIG;
		s++;
		struct cd_buf v = CD_BUF_INIT;
		const char *ve = eol;
		if (ve > s && ve[-1] == '\r')
			ve--;
		if (s < ve && (*s == '"' || *s == '\'')) {
			const char *quote = s;
			char q = *s++;
			int closed = 0;
			while (s < ve) {
				if (*s == q) {
					closed = 1;
					s++;
					break;
				}
				if (q == '"' && *s == '\\' && s + 1 < ve) {
					s++;
					cd_buf_addch(&v, *s == 'n' ? '\n' : *s);
				} else {
					cd_buf_addch(&v, *s);
				}
				s++;
			}
			if (!closed) {
				cd_buf_release(&v);
				r = cd_diag_add(diags, CD_SEV_ERROR, file, (unsigned)lineno,
					(unsigned)(quote - line + 1), "unterminated quote in the value of '%s'",
					key);
				continue;
			}
		} else {
			/* Unquoted: up to an inline comment, trailing blanks dropped. */
			const char *c = s;
			while (c < ve && !(*c == '#' && c > s && (c[-1] == ' ' || c[-1] == '\t')))
				c++;
			while (c > s && (c[-1] == ' ' || c[-1] == '\t'))
				c--;
			cd_buf_add(&v, s, (size_t)(c - s));
		}
		if (ret->n == cap) {
			struct cd_kv *items = cd_arena_alloc(arena, cap * 2 * sizeof(*items));
			if (!items) {
				cd_buf_release(&v);
				return CD_ETOOBIG;
			}
			memcpy(items, ret->items, cap * sizeof(*items));
			ret->items = items;
			cap *= 2;
		}
		/* A later line overrides an earlier one, as in a shell. */
		size_t i;
		for (i = 0; i < ret->n; i++)
			if (strcmp(ret->items[i].key, key) == 0)
				break;
		ret->items[i].key = key;
		ret->items[i].value = cd_arena_strndup(arena, v.buf, v.len);
		ret->items[i].node = NULL;
		if (i == ret->n)
			ret->n++;
		cd_buf_release(&v);
		if (!ret->items[i].value)
			return CD_ETOOBIG;
	}
	return r < 0 ? CD_EPLAN : 0;
}

int plan_env_load(struct cd_arena *arena, const char *path, struct cd_diags *diags,
	struct cd_kvs *ret)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? CD_ENOTFOUND : CD_EIO;
	struct cd_buf b = CD_BUF_INIT;
	cd_buf_init(&b, CD_YAML_MAX_FILE);
	char chunk[4096];
	size_t n;
	int r = 0;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (cd_buf_add(&b, chunk, n) < 0) {
			r = cd_diag_add(diags, CD_SEV_ERROR, path, 0, 0, "env file is larger than %d KiB",
				CD_YAML_MAX_FILE / 1024);
			break;
		}
	fclose(f);
	if (r == 0)
		r = plan_env_parse(arena, path, b.buf, b.len, diags, ret);
	cd_buf_release(&b);
	return r;
}
