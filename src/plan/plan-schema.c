/*
 * The table-driven decoder: YAML nodes to typed structs, as struct cd_field
 * tables describe them. Policy: report every problem and keep going, so one
 * lint run shows all of a plan's errors; a bad value leaves its default.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corpdeploy/schema.h"

static const char *type_expectation(enum cd_ftype t)
{
	switch (t) {
	case CD_T_INT: return "a whole number";
	case CD_T_BOOL: return "true or false";
	case CD_T_DURATION: return "a duration like 500ms, 2s, 20m or 1h30m";
	case CD_T_SIZE: return "a size like 512MB, 10GiB or 4096";
	case CD_T_PERCENT: return "a percentage like 5% or 0.5%";
	case CD_T_NUMBER: return "a number";
	case CD_T_MODE: return "an octal file mode like \"0600\"";
	case CD_T_QUANTITY: return "a count like 2 or a share like 25%";
	default: return "a value";
	}
}

static int diag_at(struct cd_decoder *dec, enum cd_severity sev, const struct cd_node *node,
	const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));
static int diag_at(struct cd_decoder *dec, enum cd_severity sev, const struct cd_node *node,
	const char *fmt, va_list ap)
{
	if (dec->full)
		return CD_EPLAN;
	int r = cd_diag_vadd(dec->diags, sev, node ? node->file : NULL, node ? node->line : 0,
		node ? node->col : 0, fmt, ap);
	if (r == CD_ETOOBIG) {
		dec->full = 1;
		cd_diag_add(dec->diags, CD_SEV_WARNING, node ? node->file : NULL, 0, 0,
			"too many errors; stopping here");
	}
	return CD_EPLAN;
}

int cd_decode_error(struct cd_decoder *dec, const struct cd_node *node, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_at(dec, CD_SEV_ERROR, node, fmt, ap);
	va_end(ap);
	return CD_EPLAN;
}

int cd_decode_warning(struct cd_decoder *dec, const struct cd_node *node, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_at(dec, CD_SEV_WARNING, node, fmt, ap);
	va_end(ap);
	return 0;
}

const char *cd_decode_where(const struct cd_decoder *dec)
{
	return dec->path_len ? dec->path : dec->root_name ? dec->root_name : "the plan";
}

void cd_decode_push(struct cd_decoder *dec, const char *segment, size_t *saved)
{
	*saved = dec->path_len;
	int indexed = segment[0] == '[';
	int n = snprintf(dec->path + dec->path_len, sizeof(dec->path) - dec->path_len, "%s%s",
		dec->path_len && !indexed ? "." : "", segment);
	if (n > 0 && (size_t)n < sizeof(dec->path) - dec->path_len)
		dec->path_len += (size_t)n;
	else
		dec->path[dec->path_len] = '\0';
}

void cd_decode_pop(struct cd_decoder *dec, size_t saved)
{
	dec->path_len = saved;
	dec->path[saved] = '\0';
}

static const char *node_kind_name(const struct cd_node *n)
{
	if (cd_node_is_null(n))
		return "nothing";
	return n->kind == CD_NODE_MAP ? "a map" : n->kind == CD_NODE_SEQ ? "a list" : "a value";
}

static int want_scalar(struct cd_decoder *dec, const struct cd_node *node, const char *what)
{
	if (node->kind == CD_NODE_SCALAR && !cd_node_is_null(node))
		return 0;
	return cd_decode_error(dec, node, "%s: expected %s, got %s", cd_decode_where(dec), what,
		node_kind_name(node));
}

int cd_decode_string(struct cd_decoder *dec, const struct cd_node *node, const char **ret)
{
	char *msg;
	if (!dec->interp) {
		*ret = node->value;
		return 0;
	}
	if (cd_interp_expand(dec->interp, dec->arena, node->value, ret, &msg) < 0) {
		cd_decode_error(dec, node, "%s: %s", cd_decode_where(dec), msg);
		free(msg);
		return CD_EPLAN;
	}
	return 0;
}

static int valid_name(const char *s)
{
	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
		return 0;
	for (s++; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			    (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' || *s == '.'))
			return 0;
	return 1;
}

static size_t enum_count(const char *const *values)
{
	size_t n = 0;
	while (values[n])
		n++;
	return n;
}

static int decode_enum(struct cd_decoder *dec, const char *const *values, const struct cd_node *node,
	int *ret)
{
	if (want_scalar(dec, node, "a value") < 0)
		return CD_EPLAN;
	size_t n = enum_count(values);
	for (size_t i = 0; i < n; i++)
		if (strcmp(values[i], node->value) == 0) {
			*ret = (int)i;
			return 0;
		}
	struct cd_buf list = CD_BUF_INIT;
	for (size_t i = 0; i < n; i++)
		cd_buf_addf(&list, "%s%s", i ? ", " : "", values[i]);
	const char *hint = cd_suggest(node->value, values, n);
	if (hint)
		cd_decode_error(dec, node, "%s: unknown value '%s' (did you mean '%s'?)",
			cd_decode_where(dec), node->value, hint);
	else
		cd_decode_error(dec, node, "%s: unknown value '%s' (expected one of %s)",
			cd_decode_where(dec), node->value, list.buf);
	cd_buf_release(&list);
	return CD_EPLAN;
}

static void *arena_array(struct cd_decoder *dec, size_t n, size_t size)
{
	void *p = cd_arena_alloc(dec->arena, (n ? n : 1) * size);
	if (!p)
		cd_oom(); /* unreachable in practice: the node tree is already bounded */
	return p;
}

static int decode_strv(struct cd_decoder *dec, const struct cd_field *f, const struct cd_node *node,
	struct cd_strv *v, int interpolate)
{
	int r = 0;
	if (cd_node_is_null(node)) {
		memset(v, 0, sizeof(*v));
		return 0;
	}
	if (node->kind == CD_NODE_MAP)
		return cd_decode_error(dec, node, "%s: expected a list, got a map",
			cd_decode_where(dec));
	size_t n = node->kind == CD_NODE_SEQ ? node->n : 1;
	v->v = arena_array(dec, n + 1, sizeof(char *));
	v->nodes = arena_array(dec, n + 1, sizeof(struct cd_node *));
	v->n = 0;
	for (size_t i = 0; i < n; i++) {
		const struct cd_node *item = node->kind == CD_NODE_SEQ ? node->items[i] : node;
		char seg[32];
		size_t saved;
		snprintf(seg, sizeof(seg), "[%zu]", i + 1);
		if (node->kind == CD_NODE_SEQ)
			cd_decode_push(dec, seg, &saved);
		int rr = want_scalar(dec, item, "a value");
		if (rr == 0 && f && f->type == CD_T_ENUMV) {
			int idx;
			rr = decode_enum(dec, f->sub, item, &idx);
		}
		const char *s = item->value;
		if (rr == 0 && interpolate)
			rr = cd_decode_string(dec, item, &s);
		if (node->kind == CD_NODE_SEQ)
			cd_decode_pop(dec, saved);
		if (rr < 0) {
			r = rr;
			continue;
		}
		v->nodes[v->n] = item;
		v->v[v->n++] = s;
	}
	return r;
}

static int decode_map(struct cd_decoder *dec, const struct cd_node *node, struct cd_kvs *kvs,
	int interpolate)
{
	int r = 0;
	memset(kvs, 0, sizeof(*kvs));
	if (cd_node_is_null(node))
		return 0;
	if (node->kind == CD_NODE_SCALAR)
		return cd_decode_error(dec, node, "%s: expected a map of names to values, got a value",
			cd_decode_where(dec));
	size_t n = node->kind == CD_NODE_MAP ? node->n / 2 : node->n;
	kvs->items = arena_array(dec, n, sizeof(struct cd_kv));
	for (size_t i = 0; i < n; i++) {
		const struct cd_node *k, *v;
		const char *key, *value;
		size_t saved;
		if (node->kind == CD_NODE_MAP) {
			k = node->items[2 * i];
			v = node->items[2 * i + 1];
			key = k->value;
			cd_decode_push(dec, key, &saved);
			if (cd_node_is_null(v)) {
				value = "";
			} else if (want_scalar(dec, v, "a value") < 0) {
				cd_decode_pop(dec, saved);
				r = CD_EPLAN;
				continue;
			} else {
				value = v->value;
			}
		} else {
			/* The list form of compose files: ["KEY=value", ...]. */
			v = k = node->items[i];
			char seg[32];
			snprintf(seg, sizeof(seg), "[%zu]", i + 1);
			cd_decode_push(dec, seg, &saved);
			const char *eq;
			if (want_scalar(dec, v, "KEY=value") < 0 || !(eq = strchr(v->value, '=')) ||
				eq == v->value) {
				if (v->kind == CD_NODE_SCALAR)
					cd_decode_error(dec, v, "%s: expected KEY=value, got '%s'",
						cd_decode_where(dec), v->value);
				cd_decode_pop(dec, saved);
				r = CD_EPLAN;
				continue;
			}
			key = cd_arena_strndup(dec->arena, v->value, (size_t)(eq - v->value));
			value = eq + 1;
			if (!key)
				cd_oom();
		}
		struct cd_node tmp;
		if (interpolate && dec->interp) {
			tmp = *v;
			tmp.value = value;
			if (cd_decode_string(dec, &tmp, &value) < 0) {
				cd_decode_pop(dec, saved);
				r = CD_EPLAN;
				continue;
			}
		}
		cd_decode_pop(dec, saved);
		for (size_t j = 0; j < kvs->n; j++)
			if (strcmp(kvs->items[j].key, key) == 0) {
				r = cd_decode_error(dec, k, "%s: '%s' is set twice",
					cd_decode_where(dec), key);
				break;
			}
		kvs->items[kvs->n].key = key;
		kvs->items[kvs->n].value = value;
		kvs->items[kvs->n].node = v;
		kvs->n++;
	}
	return r;
}

static int decode_list(struct cd_decoder *dec, const struct cd_field *f, const struct cd_node *node,
	struct cd_list *list)
{
	const struct cd_schema *s = f->sub;
	int r = 0;

	memset(list, 0, sizeof(*list));
	if (cd_node_is_null(node))
		return 0;
	if (f->type == CD_T_LIST && node->kind != CD_NODE_SEQ)
		return cd_decode_error(dec, node, "%s: expected a list of %ss, got %s",
			cd_decode_where(dec), s->what, node_kind_name(node));
	if (f->type == CD_T_NAMED && node->kind != CD_NODE_MAP)
		return cd_decode_error(dec, node, "%s: expected a map of %s names to %ss, got %s",
			cd_decode_where(dec), s->what, s->what, node_kind_name(node));
	size_t n = f->type == CD_T_LIST ? node->n : node->n / 2;
	list->items = arena_array(dec, n, sizeof(void *));
	for (size_t i = 0; i < n && !dec->full; i++) {
		const struct cd_node *item = f->type == CD_T_LIST ? node->items[i] : node->items[2 * i + 1];
		const struct cd_node *key = f->type == CD_T_NAMED ? node->items[2 * i] : NULL;
		char seg[80];
		size_t saved;
		if (key)
			snprintf(seg, sizeof(seg), "%s", key->value);
		else
			snprintf(seg, sizeof(seg), "[%zu]", i + 1);
		cd_decode_push(dec, seg, &saved);
		void *obj = NULL;
		if (key && !valid_name(key->value)) {
			r = cd_decode_error(dec, key,
				"%s: invalid %s name '%s' (use letters, digits, '_', '-' and '.')",
				cd_decode_where(dec), s->what, key->value);
		} else if (cd_decode_new(dec, s, item, &obj) < 0) {
			r = CD_EPLAN;
		}
		if (obj) {
			if (key)
				((struct cd_obj *)obj)->name = key->value;
			list->items[list->n++] = obj;
		}
		cd_decode_pop(dec, saved);
	}
	return r;
}

int cd_decode_field(struct cd_decoder *dec, const struct cd_field *f, const struct cd_node *node,
	void *dst)
{
	const char *s;
	int r;

	switch (f->type) {
	case CD_T_STR:
		if (want_scalar(dec, node, "a value") < 0)
			return CD_EPLAN;
		if (f->flags & CD_FIELD_RAW) {
			*(const char **)dst = node->value;
			return 0;
		}
		return cd_decode_string(dec, node, (const char **)dst);
	case CD_T_NAME:
		if (want_scalar(dec, node, "a name") < 0)
			return CD_EPLAN;
		if (!valid_name(node->value))
			return cd_decode_error(dec, node,
				"%s: invalid name '%s' (use letters, digits, '_', '-' and '.')",
				cd_decode_where(dec), node->value);
		*(const char **)dst = node->value;
		return 0;
	case CD_T_ENUM:
		return decode_enum(dec, f->sub, node, (int *)dst);
	case CD_T_STRV:
	case CD_T_ENUMV:
		return decode_strv(dec, f, node, dst, f->type == CD_T_STRV && !(f->flags & CD_FIELD_RAW));
	case CD_T_CMD: {
		struct cd_cmd *cmd = dst;
		if (node->kind == CD_NODE_SCALAR && !cd_node_is_null(node)) {
			cmd->shell = 1;
			return decode_strv(dec, f, node, &cmd->argv, 1);
		}
		cmd->shell = 0;
		if (node->kind != CD_NODE_SEQ || node->n == 0)
			return cd_decode_error(dec, node,
				"%s: expected a command (a list of arguments or a shell string), got %s",
				cd_decode_where(dec), node->kind == CD_NODE_SEQ ? "an empty list" : node_kind_name(node));
		return decode_strv(dec, f, node, &cmd->argv, 1);
	}
	case CD_T_MAP:
		return decode_map(dec, node, dst, !(f->flags & CD_FIELD_RAW));
	case CD_T_STRUCT:
		return cd_decode_new(dec, f->sub, node, (void **)dst);
	case CD_T_LIST:
	case CD_T_NAMED:
		return decode_list(dec, f, node, dst);
	case CD_T_CUSTOM:
		return f->custom(dec, node, dst);
	default:
		break;
	}

	/* The scalar kinds with a syntax of their own. */
	if (want_scalar(dec, node, type_expectation(f->type)) < 0)
		return CD_EPLAN;
	if ((r = cd_decode_string(dec, node, &s)) < 0)
		return r;
	switch (f->type) {
	case CD_T_INT: {
		int64_t v;
		r = cd_parse_int(s, &v);
		if (r == 0 && (f->min || f->max) && (v < f->min || v > f->max)) {
			if (f->min == f->max)
				return cd_decode_error(dec, node, "%s: expected %lld, got %s",
					cd_decode_where(dec), (long long)f->min, s);
			return cd_decode_error(dec, node, "%s: %s is out of range (%lld to %lld)",
				cd_decode_where(dec), s, (long long)f->min, (long long)f->max);
		}
		if (r == 0)
			*(int64_t *)dst = v;
		break;
	}
	case CD_T_BOOL:
		r = cd_parse_bool(s, (int *)dst);
		break;
	case CD_T_DURATION: {
		int64_t v;
		r = cd_parse_duration(s, &v);
		if (r == 0 && (f->min || f->max) && (v < f->min || v > f->max)) {
			char lo[32], hi[32];
			return cd_decode_error(dec, node, "%s: %s is out of range (%s to %s)",
				cd_decode_where(dec), s, cd_duration_format(f->min, lo, sizeof(lo)),
				cd_duration_format(f->max, hi, sizeof(hi)));
		}
		if (r == 0)
			*(int64_t *)dst = v;
		break;
	}
	case CD_T_SIZE:
		r = cd_parse_size(s, (int64_t *)dst);
		break;
	case CD_T_PERCENT: {
		double v, lo = f->min || f->max ? (double)f->min : 0, hi = f->min || f->max ? (double)f->max : 100;
		r = cd_parse_percent(s, &v);
		if (r == 0 && (v < lo || v > hi))
			return cd_decode_error(dec, node, "%s: %s is out of range (%g%% to %g%%)",
				cd_decode_where(dec), s, lo, hi);
		if (r == 0)
			*(double *)dst = v;
		break;
	}
	case CD_T_NUMBER: {
		double v;
		r = cd_parse_number(s, &v);
		if (r == 0 && (f->min || f->max) && (v < (double)f->min || v > (double)f->max))
			return cd_decode_error(dec, node, "%s: %s is out of range (%lld to %lld)",
				cd_decode_where(dec), s, (long long)f->min, (long long)f->max);
		if (r == 0)
			*(double *)dst = v;
		break;
	}
	case CD_T_MODE: {
		char *end;
		long v = strtol(s, &end, 8);
		r = (*s && !*end && v >= 0 && v <= 07777) ? 0 : CD_EFAIL;
		if (r == 0)
			*(int64_t *)dst = v;
		break;
	}
	case CD_T_QUANTITY: {
		struct cd_quantity *q = dst;
		int64_t count;
		double pct;
		if (cd_parse_int(s, &count) == 0 && count >= 0) {
			q->count = count;
			q->pct = CD_UNSET;
			r = 0;
		} else if (cd_parse_percent(s, &pct) == 0) {
			q->count = CD_UNSET;
			q->pct = pct;
			r = 0;
		} else {
			r = CD_EFAIL;
		}
		break;
	}
	default:
		r = CD_EFAIL;
		break;
	}
	if (r < 0)
		return cd_decode_error(dec, node, "%s: expected %s, got '%s'", cd_decode_where(dec),
			type_expectation(f->type), s);
	return 0;
}

const struct cd_field *cd_schema_field(const struct cd_schema *s, const char *key)
{
	for (const struct cd_field *f = s->fields; f->key; f++)
		if (strcmp(f->key, key) == 0 && !(f->flags & CD_FIELD_OUTPUT))
			return f;
	return NULL;
}

void cd_schema_defaults(struct cd_decoder *dec, const struct cd_schema *s, void *obj)
{
	for (const struct cd_field *f = s->fields; f->key; f++) {
		void *dst = (char *)obj + f->offset;
		if (f->type == CD_T_CUSTOM && f->offset == 0)
			continue; /* a custom field over the whole struct sets its own parts */
		switch (f->type) {
		case CD_T_INT:
		case CD_T_DURATION:
		case CD_T_SIZE:
		case CD_T_MODE:
			*(int64_t *)dst = CD_UNSET;
			break;
		case CD_T_BOOL:
		case CD_T_ENUM:
			*(int *)dst = CD_UNSET;
			break;
		case CD_T_PERCENT:
		case CD_T_NUMBER:
			*(double *)dst = CD_UNSET;
			break;
		case CD_T_QUANTITY:
			((struct cd_quantity *)dst)->count = CD_UNSET;
			((struct cd_quantity *)dst)->pct = CD_UNSET;
			break;
		default:
			break; /* the arena zeroed it: NULL, empty */
		}
		if (f->def) {
			struct cd_node def = { .kind = CD_NODE_SCALAR, .plain = 1, .closed = 1,
				.value = f->def, .len = strlen(f->def) };
			const struct cd_interp *ip = dec->interp;
			dec->interp = NULL;
			cd_decode_field(dec, f, &def, dst);
			dec->interp = ip;
		}
	}
}

static const struct cd_field *find_field(const struct cd_schema *const *schemas, size_t n,
	const char *key, size_t *which)
{
	for (size_t i = 0; i < n; i++) {
		const struct cd_field *f = cd_schema_field(schemas[i], key);
		if (f) {
			*which = i;
			return f;
		}
	}
	return NULL;
}

static void unknown_key(struct cd_decoder *dec, const struct cd_schema *const *schemas, size_t n,
	const char *const *skip, const struct cd_node *key)
{
	const char *cands[128];
	size_t nc = 0;
	for (size_t i = 0; i < n; i++)
		for (const struct cd_field *f = schemas[i]->fields; f->key && nc < 128; f++)
			if (!(f->flags & CD_FIELD_OUTPUT))
				cands[nc++] = f->key;
	for (const char *const *k = skip; k && *k && nc < 128; k++)
		cands[nc++] = *k;
	const char *hint = cd_suggest(key->value, cands, nc);
	if (hint)
		cd_decode_error(dec, key, "unknown key '%s' in %s (did you mean '%s'?)", key->value,
			cd_decode_where(dec), hint);
	else
		cd_decode_error(dec, key, "unknown key '%s' in %s", key->value, cd_decode_where(dec));
}

static int in_list(const char *const *list, const char *s)
{
	for (; list && *list; list++)
		if (strcmp(*list, s) == 0)
			return 1;
	return 0;
}

int cd_decode_struct_multi(struct cd_decoder *dec, const struct cd_schema *const *schemas,
	void *const *objs, size_t n, const char *const *skip, const struct cd_node *node)
{
	size_t errors = dec->diags->errors;
	int early = dec->early;

	if (early != 2)
		for (size_t i = 0; i < n; i++) {
			cd_schema_defaults(dec, schemas[i], objs[i]);
			((struct cd_obj *)objs[i])->node = node;
		}
	if (node->kind != CD_NODE_MAP) {
		if (early == 2)
			return CD_EPLAN;
		return cd_decode_error(dec, node, "%s: expected a map of settings for a %s, got %s",
			cd_decode_where(dec), schemas[0]->what, node_kind_name(node));
	}
	/* Nested structs decode in one pass. */
	dec->early = 0;
	for (size_t i = 0; i < node->n && !dec->full; i += 2) {
		const struct cd_node *k = node->items[i], *v = node->items[i + 1];
		size_t which, saved;
		const struct cd_field *f = find_field(schemas, n, k->value, &which);
		if (!f) {
			if (early != 1 && !in_list(skip, k->value))
				unknown_key(dec, schemas, n, skip, k);
			continue;
		}
		int is_early = (f->flags & CD_FIELD_EARLY) != 0;
		if ((early == 1 && !is_early) || (early == 2 && is_early))
			continue;
		cd_decode_push(dec, k->value, &saved);
		cd_decode_field(dec, f, v, (char *)objs[which] + f->offset);
		cd_decode_pop(dec, saved);
	}
	dec->early = early;
	if (early == 1)
		return dec->diags->errors > errors ? CD_EPLAN : 0;
	for (size_t i = 0; i < n; i++)
		for (const struct cd_field *f = schemas[i]->fields; f->key; f++)
			if ((f->flags & CD_FIELD_REQUIRED) && !(f->flags & CD_FIELD_OUTPUT) &&
				!cd_node_get(node, f->key))
				cd_decode_error(dec, node, "%s: missing required key '%s'",
					cd_decode_where(dec), f->key);
	for (size_t i = 0; i < n; i++)
		if (schemas[i]->validate && dec->diags->errors == errors)
			schemas[i]->validate(dec, node, objs[i]);
	return dec->diags->errors > errors ? CD_EPLAN : 0;
}

int cd_decode_struct(struct cd_decoder *dec, const struct cd_schema *s, const struct cd_node *node,
	void *obj)
{
	if (s->decode) {
		if (dec->early != 2)
			((struct cd_obj *)obj)->node = node;
		return s->decode(dec, node, obj);
	}
	return cd_decode_struct_multi(dec, &s, &obj, 1, NULL, node);
}

int cd_decode_new(struct cd_decoder *dec, const struct cd_schema *s, const struct cd_node *node,
	void **ret)
{
	void *obj = cd_arena_alloc(dec->arena, s->size);
	if (!obj)
		cd_oom();
	int early = dec->early;
	dec->early = 0;
	int r = cd_decode_struct(dec, s, node, obj);
	dec->early = early;
	*ret = obj;
	return r;
}
