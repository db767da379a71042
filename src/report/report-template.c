/*
 * The report template language, a small subset of Mustache: {{a.b}}
 * inserts a value, {{#a}}..{{/a}} is a section (a list repeats it, an
 * object enters it, any other true value renders it once), {{^a}}..{{/a}}
 * renders when the value is missing, null, false, 0, "" or [], {{! x }} is
 * a comment and {{@index}} is the 1-based position in the innermost list.
 * A section or comment tag alone on its line takes the line with it. The
 * language cannot run code, read files or loop without a list to loop
 * over, so a template can be trusted as far as the report it renders.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corpdeploy/report.h"
#include "report-internal.h"

#define TEMPLATE_MAX_DEPTH 32
#define TEMPLATE_MAX_TOKENS 100000
#define TEMPLATE_MAX_OUTPUT (64u << 20)

enum tok_type { TOK_TEXT, TOK_VAR, TOK_SECTION, TOK_INVERTED, TOK_CLOSE };

struct tok {
	enum tok_type type;
	const char *s; /* text, or the tag's name */
	size_t len;
	unsigned line;
	size_t end; /* sections: the index of their closing tag */
};

struct tokens {
	struct tok *v;
	size_t n, alloc;
};

static unsigned line_of(const char *text, const char *at)
{
	unsigned line = 1;
	for (const char *p = text; p < at; p++)
		line += *p == '\n';
	return line;
}

static void push(struct tokens *t, enum tok_type type, const char *s, size_t len, unsigned line)
{
	if (t->n == t->alloc) {
		t->alloc = t->alloc ? 2 * t->alloc : 64;
		t->v = cd_xreallocarray(t->v, t->alloc, sizeof(*t->v));
	}
	t->v[t->n++] = (struct tok){ type, s, len, line, 0 };
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static int tokenize(const char *text, struct tokens *t, struct cd_error *err)
{
	size_t stack[TEMPLATE_MAX_DEPTH];
	size_t depth = 0;
	const char *p = text;

	for (;;) {
		const char *open = strstr(p, "{{");
		if (!open) {
			if (*p)
				push(t, TOK_TEXT, p, strlen(p), 0);
			break;
		}
		if (t->n >= TEMPLATE_MAX_TOKENS)
			return cd_error_set(err, CD_ETOOBIG, "template: more than %d tags",
				TEMPLATE_MAX_TOKENS);
		const char *close = strstr(open + 2, "}}");
		unsigned line = line_of(text, open);
		if (!close)
			return cd_error_set(err, CD_EFAIL, "template line %u: '{{' without '}}'", line);
		const char *name = open + 2, *name_end = close;
		char sigil = *name;
		enum tok_type type = TOK_VAR;
		switch (sigil) {
		case '#': type = TOK_SECTION; name++; break;
		case '^': type = TOK_INVERTED; name++; break;
		case '/': type = TOK_CLOSE; name++; break;
		case '!': break;
		default: sigil = 0; break;
		}
		while (name < name_end && is_blank(*name))
			name++;
		while (name_end > name && is_blank(name_end[-1]))
			name_end--;
		if (sigil != '!' && name == name_end)
			return cd_error_set(err, CD_EFAIL, "template line %u: a tag without a name", line);

		/* A tag other than a value, alone on its line, takes the whole line. */
		const char *text_end = open, *next = close + 2;
		if (type != TOK_VAR || sigil == '!') {
			const char *ls = open, *le = next;
			while (ls > text && is_blank(ls[-1]))
				ls--;
			while (is_blank(*le))
				le++;
			if ((ls == text || ls[-1] == '\n') && (*le == '\n' || *le == 0)) {
				text_end = ls;
				next = *le ? le + 1 : le;
			}
		}
		if (text_end > p)
			push(t, TOK_TEXT, p, (size_t)(text_end - p), 0);
		p = next;
		if (sigil == '!')
			continue;
		push(t, type, name, (size_t)(name_end - name), line);
		if (type == TOK_SECTION || type == TOK_INVERTED) {
			if (depth == TEMPLATE_MAX_DEPTH)
				return cd_error_set(err, CD_ETOOBIG,
					"template line %u: sections nested deeper than %d", line,
					TEMPLATE_MAX_DEPTH);
			stack[depth++] = t->n - 1;
		} else if (type == TOK_CLOSE) {
			struct tok *c = &t->v[t->n - 1];
			if (!depth)
				return cd_error_set(err, CD_EFAIL, "template line %u: {{/%.*s}} closes nothing",
					line, (int)c->len, c->s);
			struct tok *o = &t->v[stack[--depth]];
			if (o->len != c->len || memcmp(o->s, c->s, c->len) != 0)
				return cd_error_set(err, CD_EFAIL,
					"template line %u: {{/%.*s}} closes {{#%.*s}} of line %u", line,
					(int)c->len, c->s, (int)o->len, o->s, o->line);
			o->end = t->n - 1;
		}
	}
	if (depth) {
		const struct tok *o = &t->v[stack[depth - 1]];
		return cd_error_set(err, CD_EFAIL, "template line %u: {{#%.*s}} is never closed", o->line,
			(int)o->len, o->s);
	}
	return 0;
}

struct frame {
	const cJSON *value;
	int index; /* 1-based position in the list being repeated; 0 outside lists */
};

struct render {
	const struct tokens *t;
	struct frame stack[2 * TEMPLATE_MAX_DEPTH + 1];
	size_t depth;
	void (*escape)(struct cd_buf *, const char *);
	struct cd_buf *out;
};

/* Follows a dotted path; the first name is looked for from the innermost context outwards. */
static const cJSON *lookup(const struct render *r, const char *name, size_t len)
{
	if (len == 1 && name[0] == '.')
		return r->stack[r->depth - 1].value;
	size_t first = 0;
	while (first < len && name[first] != '.')
		first++;
	char key[256];
	const cJSON *v = NULL;
	if (first >= sizeof(key))
		return NULL;
	memcpy(key, name, first);
	key[first] = 0;
	for (size_t i = r->depth; i-- > 0 && !v;)
		if (cJSON_IsObject(r->stack[i].value))
			v = cJSON_GetObjectItemCaseSensitive(r->stack[i].value, key);
	size_t pos = first;
	while (v && pos < len) {
		size_t start = ++pos;
		while (pos < len && name[pos] != '.')
			pos++;
		if (pos - start >= sizeof(key))
			return NULL;
		memcpy(key, name + start, pos - start);
		key[pos - start] = 0;
		if (cJSON_IsArray(v) && key[0] >= '0' && key[0] <= '9' && strlen(key) < 7)
			v = cJSON_GetArrayItem(v, atoi(key)); /* list.0: the first element */
		else
			v = cJSON_GetObjectItemCaseSensitive(v, key);
	}
	return v;
}

static int truthy(const cJSON *v)
{
	if (!v || cJSON_IsNull(v) || cJSON_IsFalse(v))
		return 0;
	if (cJSON_IsNumber(v))
		return v->valuedouble != 0;
	if (cJSON_IsString(v))
		return v->valuestring && *v->valuestring;
	if (cJSON_IsArray(v))
		return cJSON_GetArraySize(v) > 0;
	return 1;
}

/* Numbers as people write them: 12, 2.4, 0.25 (at most two decimals). */
static void format_number(struct cd_buf *out, double d)
{
	char b[64];
	if (!isfinite(d)) {
		cd_buf_adds(out, "not measured");
		return;
	}
	if (d == floor(d) && fabs(d) < 1e15) {
		cd_buf_addf(out, "%.0f", d);
		return;
	}
	snprintf(b, sizeof(b), "%.2f", d);
	size_t n = strlen(b);
	while (n > 0 && b[n - 1] == '0')
		b[--n] = 0;
	if (n > 0 && b[n - 1] == '.')
		b[--n] = 0;
	cd_buf_adds(out, b);
}

static void insert(struct render *r, const struct tok *tk)
{
	struct cd_buf text = CD_BUF_INIT;
	if (tk->len == 6 && memcmp(tk->s, "@index", 6) == 0) {
		for (size_t i = r->depth; i-- > 0;)
			if (r->stack[i].index) {
				cd_buf_addf(&text, "%d", r->stack[i].index);
				break;
			}
	} else {
		const cJSON *v = lookup(r, tk->s, tk->len);
		if (!v || cJSON_IsNull(v))
			cd_buf_adds(&text, "not measured");
		else if (cJSON_IsString(v))
			cd_buf_adds(&text, v->valuestring);
		else if (cJSON_IsNumber(v))
			format_number(&text, v->valuedouble);
		else if (cJSON_IsBool(v))
			cd_buf_adds(&text, cJSON_IsTrue(v) ? "yes" : "no");
	}
	if (r->escape)
		r->escape(r->out, text.buf);
	else
		cd_buf_adds(r->out, text.buf);
	cd_buf_release(&text);
}

static int render_range(struct render *r, size_t from, size_t to, struct cd_error *err);

static int render_section(struct render *r, size_t i, struct cd_error *err)
{
	const struct tok *tk = &r->t->v[i];
	const cJSON *v = lookup(r, tk->s, tk->len);
	if (tk->type == TOK_INVERTED)
		return truthy(v) ? 0 : render_range(r, i + 1, tk->end, err);
	if (!truthy(v))
		return 0;
	if (r->depth + 1 >= CD_ARRAY_SIZE(r->stack))
		return cd_error_set(err, CD_ETOOBIG, "template line %u: nested too deep", tk->line);
	if (cJSON_IsArray(v)) {
		const cJSON *item;
		int index = 0;
		cJSON_ArrayForEach(item, v)
		{
			r->stack[r->depth++] = (struct frame){ item, ++index };
			int rc = render_range(r, i + 1, tk->end, err);
			r->depth--;
			if (rc < 0)
				return rc;
		}
		return 0;
	}
	if (cJSON_IsObject(v)) {
		r->stack[r->depth++] = (struct frame){ v, 0 };
		int rc = render_range(r, i + 1, tk->end, err);
		r->depth--;
		return rc;
	}
	return render_range(r, i + 1, tk->end, err);
}

static int render_range(struct render *r, size_t from, size_t to, struct cd_error *err)
{
	for (size_t i = from; i < to; i++) {
		const struct tok *tk = &r->t->v[i];
		if (r->out->len > TEMPLATE_MAX_OUTPUT)
			return cd_error_set(err, CD_ETOOBIG, "template: output larger than %u MiB",
				TEMPLATE_MAX_OUTPUT >> 20);
		switch (tk->type) {
		case TOK_TEXT: cd_buf_add(r->out, tk->s, tk->len); break;
		case TOK_VAR: insert(r, tk); break;
		case TOK_SECTION:
		case TOK_INVERTED: {
			int rc = render_section(r, i, err);
			if (rc < 0)
				return rc;
			i = tk->end;
			break;
		}
		case TOK_CLOSE: break;
		}
	}
	return 0;
}

int cd_template_render(const char *template_text, const cJSON *data,
	void (*escape)(struct cd_buf *out, const char *text), struct cd_buf *out,
	struct cd_error *err)
{
	struct tokens t = { 0 };
	int rc = tokenize(template_text, &t, err);
	if (rc == 0) {
		struct render r = { .t = &t, .escape = escape, .out = out };
		r.stack[r.depth++] = (struct frame){ data, 0 };
		rc = render_range(&r, 0, t.n, err);
	}
	free(t.v);
	return rc;
}
