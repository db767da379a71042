/*
 * YAML text to a node tree with positions: the only user of libyaml.
 * Policy on hostile input: files over 1 MiB, nesting over 64, scalars over
 * 64 KiB, NUL bytes, more than one document, recursive aliases and alias
 * expansions over 100000 nodes are refused with a positioned error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "corpdeploy/schema.h"

struct anchor {
	const char *name;
	struct cd_node *node;
	struct anchor *next;
};

struct builder {
	struct cd_arena *arena;
	struct cd_diags *diags;
	const char *file;
	const char *data;
	size_t len;
	struct cd_node *stack[CD_YAML_MAX_DEPTH + 1];
	size_t depth;
	struct anchor *anchors;
	struct cd_node *root;
	size_t weight; /* expanded nodes so far */
	int documents;
};

static int yaml_error(struct builder *b, unsigned line, unsigned col, const char *fmt, ...)
	CD_PRINTF(4, 5);
static int yaml_error(struct builder *b, unsigned line, unsigned col, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cd_diag_vadd(b->diags, CD_SEV_ERROR, b->file, line, col, fmt, ap);
	va_end(ap);
	return CD_EPLAN;
}

/* libyaml marks count from 0; this is the one place they become 1-based. */
static int mark_error(struct builder *b, yaml_mark_t m, const char *fmt, ...) CD_PRINTF(3, 4);
static int mark_error(struct builder *b, yaml_mark_t m, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cd_diag_vadd(b->diags, CD_SEV_ERROR, b->file, (unsigned)m.line + 1, (unsigned)m.column + 1,
		fmt, ap);
	va_end(ap);
	return CD_EPLAN;
}

static int oom_error(struct builder *b, yaml_mark_t m)
{
	return mark_error(b, m, "plan needs more than %d MiB of memory to load",
		CD_PLAN_MAX_MEMORY >> 20);
}

/* Line and column of a byte offset, for errors libyaml reports by offset only. */
static void offset_position(const struct builder *b, size_t offset, unsigned *line, unsigned *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < offset && i < b->len; i++) {
		if (b->data[i] == '\n') {
			(*line)++;
			*col = 1;
		} else if (((unsigned char)b->data[i] & 0xC0) != 0x80) {
			(*col)++;
		}
	}
}

static int parser_error(struct builder *b, const yaml_parser_t *p)
{
	unsigned line, col;

	if (p->error == YAML_MEMORY_ERROR)
		cd_oom();
	if (p->error == YAML_READER_ERROR) {
		offset_position(b, p->problem_offset, &line, &col);
		if (p->problem_value != -1)
			return yaml_error(b, line, col, "invalid YAML: %s (byte 0x%02X)",
				p->problem, (unsigned)p->problem_value & 0xFF);
		return yaml_error(b, line, col, "invalid YAML: %s", p->problem);
	}
	line = (unsigned)p->problem_mark.line + 1;
	col = (unsigned)p->problem_mark.column + 1;
	if (p->context)
		return yaml_error(b, line, col, "invalid YAML: %s %s", p->problem, p->context);
	return yaml_error(b, line, col, "invalid YAML: %s", p->problem ? p->problem : "error");
}

static struct cd_node *node_new(struct builder *b, enum cd_node_kind kind, yaml_mark_t m)
{
	struct cd_node *n = cd_arena_alloc(b->arena, sizeof(*n));
	if (!n)
		return NULL;
	n->kind = kind;
	n->file = b->file;
	n->line = (unsigned)m.line + 1;
	n->col = (unsigned)m.column + 1;
	n->weight = 1;
	return n;
}

static int node_append(struct builder *b, struct cd_node *parent, struct cd_node *child)
{
	if (parent->n == parent->alloc) {
		size_t alloc = parent->alloc ? parent->alloc * 2 : 4;
		struct cd_node **items = cd_arena_alloc(b->arena, alloc * sizeof(*items));
		if (!items)
			return CD_ETOOBIG;
		if (parent->n)
			memcpy(items, parent->items, parent->n * sizeof(*items));
		parent->items = items;
		parent->alloc = alloc;
	}
	parent->items[parent->n++] = child;
	return 0;
}

static int anchor_add(struct builder *b, const yaml_char_t *name, struct cd_node *node)
{
	struct anchor *a = cd_arena_alloc(b->arena, sizeof(*a));
	if (!a)
		return CD_ETOOBIG;
	a->name = cd_arena_strdup(b->arena, (const char *)name);
	if (!a->name)
		return CD_ETOOBIG;
	a->node = node;
	/* A later anchor of the same name shadows the earlier one, as in YAML. */
	a->next = b->anchors;
	b->anchors = a;
	return 0;
}

static struct cd_node *anchor_find(struct builder *b, const yaml_char_t *name)
{
	for (struct anchor *a = b->anchors; a; a = a->next)
		if (strcmp(a->name, (const char *)name) == 0)
			return a->node;
	return NULL;
}

static int is_merge_key(const struct cd_node *k)
{
	return k->kind == CD_NODE_SCALAR && k->plain && strcmp(k->value, "<<") == 0;
}

static int map_has_key(const struct cd_node *map, const struct cd_node *key, size_t upto)
{
	for (size_t i = 0; i < upto; i += 2)
		if (map->items[i]->kind == CD_NODE_SCALAR && map->items[i]->len == key->len &&
			memcmp(map->items[i]->value, key->value, key->len) == 0)
			return 1;
	return 0;
}

/*
 * Applies `<<: *base` (or a list of bases): keys of the base maps that the
 * map does not set itself are added. Duplicate keys are reported here too.
 */
static int map_finish(struct builder *b, struct cd_node *map)
{
	size_t merges = 0;
	int r = 0;

	for (size_t i = 0; i < map->n; i += 2) {
		struct cd_node *k = map->items[i];
		if (is_merge_key(k)) {
			merges++;
			continue;
		}
		if (k->kind != CD_NODE_SCALAR) {
			r = yaml_error(b, k->line, k->col, "a map key must be a plain value");
			continue;
		}
		for (size_t j = 0; j < i; j += 2) {
			struct cd_node *o = map->items[j];
			if (o->kind == CD_NODE_SCALAR && o->len == k->len &&
				memcmp(o->value, k->value, k->len) == 0) {
				r = yaml_error(b, k->line, k->col,
					"duplicate key '%s' (first at line %u, column %u)", k->value,
					o->line, o->col);
				break;
			}
		}
	}
	if (!merges || r)
		return r;

	struct cd_node *old = cd_arena_alloc(b->arena, sizeof(*old));
	if (!old)
		return CD_ETOOBIG;
	*old = *map;
	map->items = NULL;
	map->n = map->alloc = 0;
	for (size_t i = 0; i < old->n; i += 2)
		if (!is_merge_key(old->items[i]) &&
			(node_append(b, map, old->items[i]) < 0 ||
				node_append(b, map, old->items[i + 1]) < 0))
			return CD_ETOOBIG;
	for (size_t i = 0; i < old->n; i += 2) {
		if (!is_merge_key(old->items[i]))
			continue;
		struct cd_node *v = old->items[i + 1], *merge_key = old->items[i];
		size_t nbases = v->kind == CD_NODE_SEQ ? v->n : 1;
		for (size_t s = 0; s < nbases; s++) {
			struct cd_node *base = v->kind == CD_NODE_SEQ ? v->items[s] : v;
			if (base->kind != CD_NODE_MAP)
				return yaml_error(b, v->kind == CD_NODE_SEQ ? base->line : merge_key->line,
					v->kind == CD_NODE_SEQ ? base->col : merge_key->col,
					"the value of '<<' must be a map or a list of maps");
			for (size_t j = 0; j < base->n; j += 2) {
				if (map_has_key(map, base->items[j], map->n))
					continue;
				if (node_append(b, map, base->items[j]) < 0 ||
					node_append(b, map, base->items[j + 1]) < 0)
					return CD_ETOOBIG;
			}
		}
	}
	return 0;
}

/*
 * Hangs a finished node under its parent (or makes it the root). added is
 * what it adds to the expanded total: its whole weight for a scalar or an
 * alias, 1 for a closed collection whose children were counted already.
 */
static int builder_add(struct builder *b, struct cd_node *node, size_t added, yaml_mark_t m)
{
	if (b->weight > CD_YAML_MAX_NODES - added)
		return mark_error(b, m, "plan expands to more than %d nodes (alias bomb?)",
			CD_YAML_MAX_NODES);
	b->weight += added;
	if (b->depth == 0) {
		b->root = node;
		return 0;
	}
	struct cd_node *parent = b->stack[b->depth - 1];
	parent->weight += node->weight;
	if (node_append(b, parent, node) < 0)
		return oom_error(b, m);
	return 0;
}

static int handle_event(struct builder *b, yaml_event_t *ev)
{
	struct cd_node *node;
	const yaml_char_t *anchor = NULL;

	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++b->documents > 1)
			return mark_error(b, ev->start_mark,
				"a plan is one YAML document; found a second one");
		return 0;
	case YAML_SCALAR_EVENT:
		if (ev->data.scalar.length > CD_YAML_MAX_SCALAR)
			return mark_error(b, ev->start_mark, "value is longer than %d KiB",
				CD_YAML_MAX_SCALAR / 1024);
		if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length))
			return mark_error(b, ev->start_mark, "value contains a NUL character");
		node = node_new(b, CD_NODE_SCALAR, ev->start_mark);
		if (!node)
			return oom_error(b, ev->start_mark);
		node->value = cd_arena_strndup(b->arena, (const char *)ev->data.scalar.value,
			ev->data.scalar.length);
		if (!node->value)
			return oom_error(b, ev->start_mark);
		node->len = ev->data.scalar.length;
		node->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		node->closed = 1;
		anchor = ev->data.scalar.anchor;
		break;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		if (b->depth >= CD_YAML_MAX_DEPTH)
			return mark_error(b, ev->start_mark, "plan is nested deeper than %d levels",
				CD_YAML_MAX_DEPTH);
		node = node_new(b, ev->type == YAML_MAPPING_START_EVENT ? CD_NODE_MAP : CD_NODE_SEQ,
			ev->start_mark);
		if (!node)
			return oom_error(b, ev->start_mark);
		anchor = ev->type == YAML_MAPPING_START_EVENT ? ev->data.mapping_start.anchor
							      : ev->data.sequence_start.anchor;
		if (anchor && anchor_add(b, anchor, node) < 0)
			return oom_error(b, ev->start_mark);
		b->stack[b->depth++] = node;
		return 0;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT: {
		node = b->stack[--b->depth];
		node->closed = 1;
		int r = node->kind == CD_NODE_MAP ? map_finish(b, node) : 0;
		if (r == CD_ETOOBIG)
			return oom_error(b, ev->start_mark);
		if (r < 0)
			return r;
		return builder_add(b, node, 1, ev->start_mark);
	}
	case YAML_ALIAS_EVENT:
		node = anchor_find(b, ev->data.alias.anchor);
		if (!node)
			return mark_error(b, ev->start_mark, "unknown alias '*%s'",
				(const char *)ev->data.alias.anchor);
		if (!node->closed)
			return mark_error(b, ev->start_mark, "alias '*%s' refers to itself",
				(const char *)ev->data.alias.anchor);
		return builder_add(b, node, node->weight, ev->start_mark);
	default:
		return 0;
	}

	/* A scalar. */
	if (anchor && anchor_add(b, anchor, node) < 0)
		return oom_error(b, ev->start_mark);
	return builder_add(b, node, node->weight, ev->start_mark);
}

int cd_yaml_parse(struct cd_arena *arena, const char *file, const char *data, size_t len,
	struct cd_diags *diags, struct cd_node **ret)
{
	struct builder b = { .arena = arena, .diags = diags, .file = file, .data = data, .len = len };
	yaml_parser_t parser;
	yaml_event_t ev;
	int r = 0, done = 0;

	if (len > CD_YAML_MAX_FILE)
		return yaml_error(&b, 0, 0, "plan is larger than %d KiB", CD_YAML_MAX_FILE / 1024);
	if (!yaml_parser_initialize(&parser))
		cd_oom();
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	/* A plan is UTF-8; libyaml would otherwise guess UTF-16 from a BOM. */
	yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
	while (!done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			r = parser_error(&b, &parser);
			break;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		r = handle_event(&b, &ev);
		yaml_event_delete(&ev);
		if (r < 0)
			break;
	}
	yaml_parser_delete(&parser);
	if (r < 0)
		return CD_EPLAN;
	if (!b.root || cd_node_is_null(b.root))
		return yaml_error(&b, 0, 0, "plan is empty");
	*ret = b.root;
	return 0;
}

int cd_yaml_load(struct cd_arena *arena, const char *path, struct cd_diags *diags,
	struct cd_node **ret)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		cd_diag_add(diags, CD_SEV_ERROR, path, 0, 0, "cannot open: %s", strerror(errno));
		return CD_EIO;
	}
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		cd_diag_add(diags, CD_SEV_ERROR, path, 0, 0, "cannot read: %s", strerror(e));
		return CD_EIO;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		cd_diag_add(diags, CD_SEV_ERROR, path, 0, 0, "cannot read: %s",
			S_ISDIR(st.st_mode) ? "it is a directory" : "it is not a regular file");
		return CD_EIO;
	}
	if (st.st_size > CD_YAML_MAX_FILE) {
		close(fd);
		cd_diag_add(diags, CD_SEV_ERROR, path, 0, 0, "plan is larger than %d KiB",
			CD_YAML_MAX_FILE / 1024);
		return CD_EPLAN;
	}
	/* Read one byte more than the cap, in case the file grew since fstat. */
	size_t cap = CD_YAML_MAX_FILE + 1, len = 0;
	char *data = cd_xmalloc(cap);
	for (;;) {
		ssize_t n = read(fd, data + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			free(data);
			close(fd);
			cd_diag_add(diags, CD_SEV_ERROR, path, 0, 0, "cannot read: %s", strerror(e));
			return CD_EIO;
		}
		if (n == 0 || (len += (size_t)n) == cap)
			break;
	}
	close(fd);
	const char *file = cd_arena_strdup(arena, path);
	int r = file ? cd_yaml_parse(arena, file, data, len, diags, ret) : CD_ETOOBIG;
	free(data);
	return r;
}

int cd_node_is_null(const struct cd_node *n)
{
	if (!n)
		return 1;
	if (n->kind != CD_NODE_SCALAR || !n->plain)
		return 0;
	return n->len == 0 || strcmp(n->value, "~") == 0 || strcmp(n->value, "null") == 0 ||
	       strcmp(n->value, "Null") == 0 || strcmp(n->value, "NULL") == 0;
}

const struct cd_node *cd_node_get(const struct cd_node *map, const char *key)
{
	if (!map || map->kind != CD_NODE_MAP)
		return NULL;
	for (size_t i = 0; i < map->n; i += 2)
		if (map->items[i]->kind == CD_NODE_SCALAR && strcmp(map->items[i]->value, key) == 0)
			return map->items[i + 1];
	return NULL;
}
