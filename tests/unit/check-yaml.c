/*
 * Unit tests for the YAML reader (src/plan/plan-yaml.c): 1-based positions of
 * nodes, merge keys, and every refusal of hostile or malformed input with
 * its message, line and column.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "corpdeploy/core.h"
#include "corpdeploy/schema.h"

#define FILE_NAME "unit.yaml"

static struct cd_arena arena;
static struct cd_diags diags;

static void setup(void)
{
	arena = (struct cd_arena)CD_ARENA_INIT;
	diags = (struct cd_diags)CD_DIAGS_INIT;
}

static void teardown(void)
{
	cd_diags_release(&diags);
	cd_arena_release(&arena);
}

static int parse(const char *text, size_t len, struct cd_node **root)
{
	*root = NULL;
	return cd_yaml_parse(&arena, FILE_NAME, text, len, &diags, root);
}

static int parse_str(const char *text, struct cd_node **root)
{
	return parse(text, strlen(text), root);
}

/* All diagnostics, one per line, for failure messages. */
static const char *dump_diags(void)
{
	static char out[4096];
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < diags.n && o < sizeof(out); i++)
		o += (size_t)snprintf(out + o, sizeof(out) - o, "\n  %u:%u %s", diags.items[i].line,
			diags.items[i].col, diags.items[i].msg);
	return diags.n ? out : " (none)";
}

struct want_diag {
	unsigned line, col;
	const char *msg;
};

/* Asserts that exactly these errors were reported, in this order. */
static void assert_errors(const struct want_diag *want, size_t n)
{
	ck_assert_msg(diags.n == n, "%zu diagnostics, want %zu:%s", diags.n, n, dump_diags());
	ck_assert_uint_eq(diags.errors, n);
	for (size_t i = 0; i < n; i++) {
		const struct cd_diag *g = &diags.items[i];
		ck_assert_int_eq(g->severity, CD_SEV_ERROR);
		ck_assert_str_eq(g->file, FILE_NAME);
		ck_assert_msg(g->line == want[i].line && g->col == want[i].col &&
				      strcmp(g->msg, want[i].msg) == 0,
			"diagnostic %zu: got %u:%u '%s', want %u:%u '%s'", i, g->line, g->col,
			g->msg, want[i].line, want[i].col, want[i].msg);
	}
}

static void assert_one_error(unsigned line, unsigned col, const char *msg)
{
	struct want_diag w = { line, col, msg };
	assert_errors(&w, 1);
}

/* ---- positions ---- */

static void assert_node(const struct cd_node *n, enum cd_node_kind kind, unsigned line,
	unsigned col, const char *what)
{
	ck_assert_msg(n != NULL, "%s: no node", what);
	ck_assert_msg(n->kind == kind && n->line == line && n->col == col,
		"%s: kind %d at %u:%u, want kind %d at %u:%u", what, n->kind, n->line, n->col, kind,
		line, col);
	ck_assert_str_eq(n->file, FILE_NAME);
	ck_assert_int_eq(n->closed, 1);
}

static void assert_scalar(const struct cd_node *n, const char *value, int plain, unsigned line,
	unsigned col)
{
	assert_node(n, CD_NODE_SCALAR, line, col, value);
	ck_assert_str_eq(n->value, value);
	ck_assert_uint_eq(n->len, strlen(value));
	ck_assert_int_eq(n->plain, plain);
}

START_TEST(test_yaml_parse_positions)
{
	static const char doc[] =
		"name: demo\n"			 /* 1 */
		"list:\n"			 /* 2 */
		"  - one\n"			 /* 3 */
		"  - \"two\"\n"			 /* 4 */
		"map: {a: 1, b: [x, 'y']}\n"	 /* 5 */
		"block: |\n"			 /* 6 */
		"  text\n"			 /* 7 */
		"nested:\n"			 /* 8 */
		"    deep:\n"			 /* 9 */
		"        - k: v\n"		 /* 10 */
		"caf\xc3\xa9: cr\xc3\xa8me\n"	 /* 11: columns count characters */
		"empty:\n";			 /* 12 */
	struct cd_node *root;

	ck_assert_msg(parse_str(doc, &root) == 0, "parse failed:%s", dump_diags());
	ck_assert_uint_eq(diags.n, 0);
	assert_node(root, CD_NODE_MAP, 1, 1, "root");
	ck_assert_uint_eq(root->n, 14);

	assert_scalar(root->items[0], "name", 1, 1, 1);
	assert_scalar(root->items[1], "demo", 1, 1, 7);

	const struct cd_node *list = cd_node_get(root, "list");
	assert_node(list, CD_NODE_SEQ, 3, 3, "list");
	ck_assert_uint_eq(list->n, 2);
	assert_scalar(list->items[0], "one", 1, 3, 5);
	assert_scalar(list->items[1], "two", 0, 4, 5);

	const struct cd_node *map = cd_node_get(root, "map");
	assert_node(map, CD_NODE_MAP, 5, 6, "map");
	assert_scalar(map->items[0], "a", 1, 5, 7);
	assert_scalar(cd_node_get(map, "a"), "1", 1, 5, 10);
	const struct cd_node *b = cd_node_get(map, "b");
	assert_node(b, CD_NODE_SEQ, 5, 16, "map.b");
	assert_scalar(b->items[0], "x", 1, 5, 17);
	assert_scalar(b->items[1], "y", 0, 5, 20);

	assert_scalar(cd_node_get(root, "block"), "text\n", 0, 6, 8);

	const struct cd_node *deep = cd_node_get(cd_node_get(root, "nested"), "deep");
	assert_node(cd_node_get(root, "nested"), CD_NODE_MAP, 9, 5, "nested");
	assert_node(deep, CD_NODE_SEQ, 10, 9, "nested.deep");
	assert_node(deep->items[0], CD_NODE_MAP, 10, 11, "nested.deep[0]");
	assert_scalar(cd_node_get(deep->items[0], "k"), "v", 1, 10, 14);

	assert_scalar(root->items[10], "caf\xc3\xa9", 1, 11, 1);
	assert_scalar(cd_node_get(root, "caf\xc3\xa9"), "cr\xc3\xa8me", 1, 11, 7);

	const struct cd_node *empty = cd_node_get(root, "empty");
	assert_scalar(empty, "", 1, 12, 7);
	ck_assert(cd_node_is_null(empty));
	ck_assert_ptr_null(cd_node_get(root, "absent"));
	ck_assert_ptr_null(cd_node_get(list, "one")); /* not a map */
}
END_TEST

START_TEST(test_yaml_parse_weight_counts_aliases)
{
	static const char doc[] = "a: &a [1, 2, 3]\n"
				  "b: [*a, *a]\n";
	struct cd_node *root;

	ck_assert_int_eq(parse_str(doc, &root), 0);
	const struct cd_node *a = cd_node_get(root, "a"), *b = cd_node_get(root, "b");
	ck_assert_uint_eq(a->weight, 4);
	ck_assert_uint_eq(b->weight, 9);
	ck_assert_uint_eq(root->weight, 1 + 2 + 4 + 9);
	/* An alias shares the anchored node. */
	ck_assert_ptr_eq(b->items[0], a);
	ck_assert_ptr_eq(b->items[1], a);
}
END_TEST

static const struct {
	const char *text;
	const char *want; /* the null reading */
	int is_null;
} nulls[] = {
	{ "k: ~\n", "~", 1 },
	{ "k: null\n", "null", 1 },
	{ "k: Null\n", "Null", 1 },
	{ "k: NULL\n", "NULL", 1 },
	{ "k:\n", "", 1 },
	{ "k: \"\"\n", "", 0 },
	{ "k: 'null'\n", "null", 0 },
	{ "k: nil\n", "nil", 0 },
};

START_TEST(test_yaml_node_is_null)
{
	struct cd_node *root;

	ck_assert_int_eq(parse_str(nulls[_i].text, &root), 0);
	const struct cd_node *v = cd_node_get(root, "k");
	ck_assert_str_eq(v->value, nulls[_i].want);
	ck_assert_int_eq(cd_node_is_null(v), nulls[_i].is_null);
	ck_assert_int_eq(cd_node_is_null(NULL), 1);
	ck_assert_int_eq(cd_node_is_null(root), 0);
}
END_TEST

/* ---- duplicate keys ---- */

static const struct {
	const char *text;
	struct want_diag want[2];
	size_t n;
} duplicates[] = {
	{ "a: 1\nb: 2\na: 3\n", { { 3, 1, "duplicate key 'a' (first at line 1, column 1)" } }, 1 },
	{ "top:\n  x: 1\n  x: 2\n",
		{ { 3, 3, "duplicate key 'x' (first at line 2, column 3)" } }, 1 },
	{ "{a: 1, a: 2}\n", { { 1, 8, "duplicate key 'a' (first at line 1, column 2)" } }, 1 },
	{ "a: 1\n\"a\": 2\n", { { 2, 1, "duplicate key 'a' (first at line 1, column 1)" } }, 1 },
	{ "a: 1\na: 2\na: 3\n",
		{ { 2, 1, "duplicate key 'a' (first at line 1, column 1)" },
			{ 3, 1, "duplicate key 'a' (first at line 1, column 1)" } },
		2 },
	{ "l:\n  - k: 1\n    k: 2\n",
		{ { 3, 5, "duplicate key 'k' (first at line 2, column 5)" } }, 1 },
};

START_TEST(test_yaml_parse_duplicate_key)
{
	struct cd_node *root;

	ck_assert_int_eq(parse_str(duplicates[_i].text, &root), CD_EPLAN);
	ck_assert_ptr_null(root);
	assert_errors(duplicates[_i].want, duplicates[_i].n);
}
END_TEST

/* ---- merge keys ---- */

START_TEST(test_yaml_parse_merge_one_base)
{
	static const char doc[] = "base: &base\n"
				  "  image: nginx\n"
				  "  restart: always\n"
				  "web:\n"
				  "  <<: *base\n"
				  "  restart: \"no\"\n";
	struct cd_node *root;

	ck_assert_msg(parse_str(doc, &root) == 0, "parse failed:%s", dump_diags());
	const struct cd_node *web = cd_node_get(root, "web");
	ck_assert_uint_eq(web->n, 4);
	ck_assert_ptr_null(cd_node_get(web, "<<"));
	/* The map's own keys come first and win; the base fills in the rest. */
	assert_scalar(web->items[0], "restart", 1, 6, 3);
	assert_scalar(web->items[1], "no", 0, 6, 12);
	assert_scalar(web->items[2], "image", 1, 2, 3);
	assert_scalar(web->items[3], "nginx", 1, 2, 10);
	/* The base itself is untouched. */
	ck_assert_str_eq(cd_node_get(cd_node_get(root, "base"), "restart")->value, "always");
}
END_TEST

START_TEST(test_yaml_parse_merge_list_of_bases)
{
	static const char doc[] = "a: &a {x: 1, y: 1}\n"
				  "b: &b {y: 2, z: 2}\n"
				  "m:\n"
				  "  <<: [*a, *b]\n"
				  "  w: 0\n";
	struct cd_node *root;

	ck_assert_msg(parse_str(doc, &root) == 0, "parse failed:%s", dump_diags());
	const struct cd_node *m = cd_node_get(root, "m");
	ck_assert_uint_eq(m->n, 8);
	static const char *const order[] = { "w", "0", "x", "1", "y", "1", "z", "2" };
	for (size_t i = 0; i < CD_ARRAY_SIZE(order); i++)
		ck_assert_str_eq(m->items[i]->value, order[i]);
	/* An earlier base wins over a later one: y comes from a (line 1). */
	ck_assert_uint_eq(cd_node_get(m, "y")->line, 1);
}
END_TEST

START_TEST(test_yaml_parse_merge_own_key_not_duplicate)
{
	/* A key both set and merged is an override, not a duplicate. */
	static const char doc[] = "b: &b {x: 1}\n"
				  "m: {<<: *b, x: 2}\n";
	struct cd_node *root;

	ck_assert_msg(parse_str(doc, &root) == 0, "parse failed:%s", dump_diags());
	ck_assert_uint_eq(diags.n, 0);
	ck_assert_str_eq(cd_node_get(cd_node_get(root, "m"), "x")->value, "2");
	ck_assert_uint_eq(cd_node_get(root, "m")->n, 2);
}
END_TEST

START_TEST(test_yaml_parse_merge_quoted_key_is_plain_key)
{
	/* Only a plain << merges; a quoted one is an ordinary key. */
	static const char doc[] = "b: &b {x: 1}\n"
				  "m: {\"<<\": *b}\n";
	struct cd_node *root;

	ck_assert_msg(parse_str(doc, &root) == 0, "parse failed:%s", dump_diags());
	const struct cd_node *m = cd_node_get(root, "m");
	ck_assert_uint_eq(m->n, 2);
	ck_assert_ptr_nonnull(cd_node_get(m, "<<"));
	ck_assert_ptr_null(cd_node_get(m, "x"));
}
END_TEST

START_TEST(test_yaml_parse_merge_list_item_not_map)
{
	static const char doc[] = "a: &a {x: 1}\n"
				  "m:\n"
				  "  <<: [*a, 5]\n";
	struct cd_node *root;

	ck_assert_int_eq(parse_str(doc, &root), CD_EPLAN);
	assert_one_error(3, 12, "the value of '<<' must be a map or a list of maps");
}
END_TEST

/*
 * Regression (src/plan/plan-yaml.c, map_finish): when the value of '<<' is an
 * alias to a scalar, the error points at the anchored scalar (line 1, column
 * 4), a line with no '<<' on it. It should point into the merging map: the
 * '<<' key at line 3, column 3.
 */
START_TEST(test_yaml_parse_merge_alias_to_scalar)
{
	static const char doc[] = "s: &s hello\n"
				  "m:\n"
				  "  <<: *s\n";
	struct cd_node *root;

	ck_assert_int_eq(parse_str(doc, &root), CD_EPLAN);
	assert_one_error(3, 3, "the value of '<<' must be a map or a list of maps");
}
END_TEST

/* ---- refusals: limits and malformed input ---- */

/*
 * A "billion laughs": each level holds ten aliases of the one before, so the
 * tree a decoder would walk grows tenfold per line.
 */
static char *alias_bomb(int levels)
{
	struct cd_buf b = CD_BUF_INIT;
	cd_buf_adds(&b, "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
	for (int i = 1; i < levels; i++) {
		cd_buf_addf(&b, "l%d: &l%d [", i, i);
		for (int k = 0; k < 10; k++)
			cd_buf_addf(&b, "%s*l%d", k ? ", " : "", i - 1);
		cd_buf_adds(&b, "]\n");
	}
	return cd_buf_detach(&b);
}

START_TEST(test_yaml_parse_alias_bomb)
{
	struct cd_node *root;
	char *ok = alias_bomb(4); /* 11111 nodes at the last level: fine */
	char *bomb = alias_bomb(9);

	ck_assert_msg(parse_str(ok, &root) == 0, "parse failed:%s", dump_diags());
	ck_assert_uint_eq(cd_node_get(root, "l3")->weight, 11111);
	cd_diags_release(&diags);
	/*
	 * Levels l0..l3 and their keys weigh 4 + 11 + 111 + 1111 + 11111 = 12348;
	 * with the key l4, each *l3 adds 11111, and the 8th one on line 5 crosses
	 * 100000. "l4: &l4 [" is 9 characters and each "*l3, " 5 more: column 45.
	 */
	ck_assert_int_eq(parse_str(bomb, &root), CD_EPLAN);
	ck_assert_ptr_null(root);
	assert_one_error(5, 45, "plan expands to more than 100000 nodes (alias bomb?)");
	free(ok);
	free(bomb);
}
END_TEST

START_TEST(test_yaml_parse_alias_bomb_in_merge)
{
	/* Merging a big map again and again counts every merged alias. */
	struct cd_buf b = CD_BUF_INIT;
	cd_buf_adds(&b, "big: &big\n");
	for (int i = 0; i < 5000; i++)
		cd_buf_addf(&b, "  k%d: v\n", i);
	cd_buf_adds(&b, "m: [");
	for (int i = 0; i < 10; i++)
		cd_buf_addf(&b, "%s{<<: *big}", i ? ", " : "");
	cd_buf_adds(&b, "]\n");
	struct cd_node *root;

	/*
	 * big weighs 10001; with the keys big and m the total is 10003, and each
	 * {<<: *big} adds 10003 more: the alias in the 9th crosses 100000. Items
	 * are 12 characters apart, the first alias at column 10.
	 */
	ck_assert_int_eq(parse(b.buf, b.len, &root), CD_EPLAN);
	assert_one_error(5002, 10 + 8 * 12, "plan expands to more than 100000 nodes (alias bomb?)");
	cd_buf_release(&b);
}
END_TEST

static char *nested_seqs(int depth)
{
	struct cd_buf b = CD_BUF_INIT;
	for (int i = 0; i < depth; i++)
		cd_buf_addch(&b, '[');
	for (int i = 0; i < depth; i++)
		cd_buf_addch(&b, ']');
	cd_buf_addch(&b, '\n');
	return cd_buf_detach(&b);
}

START_TEST(test_yaml_parse_depth_limit)
{
	struct cd_node *root;
	char *ok = nested_seqs(CD_YAML_MAX_DEPTH), *deep = nested_seqs(CD_YAML_MAX_DEPTH + 1);

	ck_assert_msg(parse_str(ok, &root) == 0, "64 levels refused:%s", dump_diags());
	ck_assert_int_eq(parse_str(deep, &root), CD_EPLAN);
	ck_assert_ptr_null(root);
	assert_one_error(1, 65, "plan is nested deeper than 64 levels");
	free(ok);
	free(deep);
}
END_TEST

START_TEST(test_yaml_parse_depth_limit_block)
{
	/* The same with block maps, each level indented by one more space. */
	struct cd_buf b = CD_BUF_INIT;
	for (int i = 0; i < CD_YAML_MAX_DEPTH + 1; i++)
		cd_buf_addf(&b, "%*sk:\n", i, "");
	cd_buf_addf(&b, "%*sk: v\n", CD_YAML_MAX_DEPTH + 1, "");
	struct cd_node *root;

	ck_assert_int_eq(parse(b.buf, b.len, &root), CD_EPLAN);
	/* The 65th map starts at its first key: line 65, column 65. */
	assert_one_error(65, 65, "plan is nested deeper than 64 levels");
	cd_buf_release(&b);
}
END_TEST

static char *long_scalar(size_t n, int quoted)
{
	struct cd_buf b = CD_BUF_INIT;
	cd_buf_adds(&b, quoted ? "a: 1\nk: \"" : "a: 1\nk: ");
	for (size_t i = 0; i < n; i++)
		cd_buf_addch(&b, 'x');
	cd_buf_adds(&b, quoted ? "\"\n" : "\n");
	return cd_buf_detach(&b);
}

START_TEST(test_yaml_parse_scalar_limit)
{
	struct cd_node *root;
	for (int quoted = 0; quoted <= 1; quoted++) {
		char *ok = long_scalar(CD_YAML_MAX_SCALAR, quoted);
		char *big = long_scalar(CD_YAML_MAX_SCALAR + 1, quoted);

		ck_assert_msg(parse_str(ok, &root) == 0, "64 KiB refused:%s", dump_diags());
		ck_assert_uint_eq(cd_node_get(root, "k")->len, CD_YAML_MAX_SCALAR);
		ck_assert_int_eq(parse_str(big, &root), CD_EPLAN);
		assert_one_error(2, 4, "value is longer than 64 KiB");
		cd_diags_release(&diags);
		free(ok);
		free(big);
	}
}
END_TEST

START_TEST(test_yaml_parse_file_limit)
{
	size_t len = CD_YAML_MAX_FILE + 1;
	char *text = cd_xmalloc(len);
	struct cd_node *root;

	memset(text, '#', len);
	ck_assert_int_eq(parse(text, len, &root), CD_EPLAN);
	/* A whole-file problem has no line: 0:0 means "the file". */
	assert_one_error(0, 0, "plan is larger than 1024 KiB");
	free(text);
}
END_TEST

static const struct {
	const char *name;
	const char *text;
	size_t len; /* 0: strlen */
	struct want_diag want;
} refusals[] = {
	{ "invalid UTF-8 byte", "a: b\nc: \xff\n", 0,
		{ 2, 4, "invalid YAML: invalid leading UTF-8 octet (byte 0xFF)" } },
	{ "invalid UTF-8 after multi-byte characters", "name: caf\xc3\xa9 \xfe\n", 0,
		{ 1, 12, "invalid YAML: invalid leading UTF-8 octet (byte 0xFE)" } },
	{ "invalid UTF-8 in a later line", "a: 1\nb: 2\nc: [x, \"y\xf8\"]\n", 0,
		{ 3, 10, "invalid YAML: invalid leading UTF-8 octet (byte 0xF8)" } },
	{ "NUL escape in double quotes", "a: \"x\\0y\"\n", 0,
		{ 1, 4, "value contains a NUL character" } },
	{ "NUL escape as \\x00", "a: 1\nb: [\"\\x00\"]\n", 0,
		{ 2, 5, "value contains a NUL character" } },
	{ "raw NUL byte", "a: x\0y\n", 7,
		{ 1, 5, "invalid YAML: control characters are not allowed (byte 0x00)" } },
	{ "two documents", "a: 1\n---\nb: 2\n", 0,
		{ 2, 1, "a plan is one YAML document; found a second one" } },
	{ "two explicit documents", "---\na: 1\n...\n---\nb: 2\n", 0,
		{ 4, 1, "a plan is one YAML document; found a second one" } },
	{ "empty file", "", 0, { 0, 0, "plan is empty" } },
	{ "only a comment", "# nothing here\n", 0, { 0, 0, "plan is empty" } },
	{ "empty document", "---\n", 0, { 0, 0, "plan is empty" } },
	{ "null document", "~\n", 0, { 0, 0, "plan is empty" } },
	{ "recursive alias in a list", "a: &a [1, *a]\n", 0,
		{ 1, 11, "alias '*a' refers to itself" } },
	{ "recursive alias in a map", "a: &a\n  b: *a\n", 0,
		{ 2, 6, "alias '*a' refers to itself" } },
	{ "alias to an enclosing node", "a: &a\n  b:\n    c: [*a]\n", 0,
		{ 3, 9, "alias '*a' refers to itself" } },
	{ "unknown alias", "a: 1\nb: *nope\n", 0, { 2, 4, "unknown alias '*nope'" } },
	{ "map as key", "? [a]\n: 1\n", 0, { 1, 3, "a map key must be a plain value" } },
	{ "syntax error", "a: [1, 2\n", 0,
		{ 2, 1,
			"invalid YAML: did not find expected ',' or ']' while parsing a flow "
			"sequence" } },
	{ "tab indentation", "a:\n\tb: 1\n", 0,
		{ 2, 1,
			"invalid YAML: found character that cannot start any token while scanning "
			"for the next token" } },
};

START_TEST(test_yaml_parse_rejects)
{
	struct cd_node *root;
	size_t len = refusals[_i].len ? refusals[_i].len : strlen(refusals[_i].text);

	ck_assert_msg(parse(refusals[_i].text, len, &root) == CD_EPLAN, "%s: accepted",
		refusals[_i].name);
	ck_assert_ptr_null(root);
	assert_errors(&refusals[_i].want, 1);
}
END_TEST

/* ---- cd_yaml_load ---- */

START_TEST(test_yaml_load_file)
{
	char path[] = "/tmp/check-yaml-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	FILE *f = fdopen(fd, "w");
	fputs("a: 1\nb: [x]\n", f);
	fclose(f);
	struct cd_node *root = NULL;

	ck_assert_int_eq(cd_yaml_load(&arena, path, &diags, &root), 0);
	ck_assert_uint_eq(diags.n, 0);
	ck_assert_str_eq(root->file, path);
	ck_assert_uint_eq(cd_node_get(root, "b")->line, 2);
	unlink(path);

	root = NULL;
	ck_assert_int_eq(cd_yaml_load(&arena, path, &diags, &root), CD_EIO);
	ck_assert_ptr_null(root);
	ck_assert_uint_eq(diags.n, 1);
	ck_assert_str_eq(diags.items[0].file, path);
	ck_assert_uint_eq(diags.items[0].line, 0);
	ck_assert_uint_eq(diags.items[0].col, 0);
	ck_assert_str_eq(diags.items[0].msg, "cannot open: No such file or directory");
}
END_TEST

START_TEST(test_yaml_load_directory)
{
	struct cd_node *root = NULL;

	ck_assert_int_eq(cd_yaml_load(&arena, "/", &diags, &root), CD_EIO);
	ck_assert_uint_eq(diags.n, 1);
	ck_assert_str_eq(diags.items[0].msg, "cannot read: it is a directory");
	ck_assert_uint_eq(diags.items[0].line, 0);
}
END_TEST

static Suite *yaml_suite(void)
{
	Suite *s = suite_create("yaml");
	TCase *tc;

	tc = tcase_create("positions");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_yaml_parse_positions);
	tcase_add_test(tc, test_yaml_parse_weight_counts_aliases);
	tcase_add_loop_test(tc, test_yaml_node_is_null, 0, CD_ARRAY_SIZE(nulls));
	suite_add_tcase(s, tc);

	tc = tcase_create("keys");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_yaml_parse_duplicate_key, 0, CD_ARRAY_SIZE(duplicates));
	tcase_add_test(tc, test_yaml_parse_merge_one_base);
	tcase_add_test(tc, test_yaml_parse_merge_list_of_bases);
	tcase_add_test(tc, test_yaml_parse_merge_own_key_not_duplicate);
	tcase_add_test(tc, test_yaml_parse_merge_quoted_key_is_plain_key);
	tcase_add_test(tc, test_yaml_parse_merge_list_item_not_map);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_yaml_parse_alias_bomb);
	tcase_add_test(tc, test_yaml_parse_alias_bomb_in_merge);
	tcase_add_test(tc, test_yaml_parse_depth_limit);
	tcase_add_test(tc, test_yaml_parse_depth_limit_block);
	tcase_add_test(tc, test_yaml_parse_scalar_limit);
	tcase_add_test(tc, test_yaml_parse_file_limit);
	tcase_add_loop_test(tc, test_yaml_parse_rejects, 0, CD_ARRAY_SIZE(refusals));
	suite_add_tcase(s, tc);

	tc = tcase_create("load");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_yaml_load_file);
	tcase_add_test(tc, test_yaml_load_directory);
	suite_add_tcase(s, tc);

	/*
	 * Regression tests: each pins down a bug found and fixed in src/.
	 * CK_RUN_CASE=regressions runs them alone.
	 */
	tc = tcase_create("regressions");
	tcase_set_tags(tc, "regression");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_yaml_parse_merge_alias_to_scalar);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(yaml_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
