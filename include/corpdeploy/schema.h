/*
 * schema: the YAML node tree with positions, and the table-driven decoder
 * that turns it into typed structs. The plan, its step kinds and smoke
 * suites describe their keys as tables of struct cd_field; one decoder
 * checks types, ranges, unknown keys (with a hint) and required keys, and
 * reports every problem with file:line:col, never stopping at the first.
 */
#ifndef CORPDEPLOY_SCHEMA_H
#define CORPDEPLOY_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include "corpdeploy/core.h"

/* Limits on what a plan file may make corpdeploy parse and hold. */
#define CD_YAML_MAX_FILE   (1024 * 1024)
#define CD_YAML_MAX_DEPTH  64
#define CD_YAML_MAX_SCALAR (64 * 1024)
#define CD_YAML_MAX_NODES  100000
#define CD_PLAN_MAX_MEMORY (64 * 1024 * 1024)

enum cd_node_kind { CD_NODE_SCALAR, CD_NODE_MAP, CD_NODE_SEQ };

/*
 * A YAML node. Aliases share nodes, so the tree is a DAG whose expanded size
 * (weight) is bounded. Everything lives in the arena of the plan.
 */
struct cd_node {
	enum cd_node_kind kind;
	unsigned char plain;  /* an unquoted scalar: may mean null or a bool */
	unsigned char closed; /* the node's end was seen (aliases to open nodes are loops) */
	const char *file;     /* as the user named it */
	unsigned line, col;   /* 1-based */
	const char *value;    /* scalar text, NUL-terminated, no NUL inside */
	size_t len;
	struct cd_node **items; /* SEQ: the items; MAP: key, value, key, value... */
	size_t n;		/* number of items (MAP: twice the number of pairs) */
	size_t alloc;
	size_t weight; /* nodes in the expanded subtree */
};

/*
 * Parses one YAML document from data into a node tree allocated in arena.
 * file is the name used in messages. Problems go to diags. Returns 0 and
 * sets *ret, or CD_EPLAN (invalid YAML, limits) with diags filled.
 */
int cd_yaml_parse(struct cd_arena *arena, const char *file, const char *data, size_t len,
	struct cd_diags *diags, struct cd_node **ret);
/* Reads path (at most CD_YAML_MAX_FILE bytes) and parses it as above. */
int cd_yaml_load(struct cd_arena *arena, const char *path, struct cd_diags *diags,
	struct cd_node **ret);

int cd_node_is_null(const struct cd_node *n);
/* The value node for key in a MAP node, or NULL. */
const struct cd_node *cd_node_get(const struct cd_node *map, const char *key);

/* Value parsers shared by the schema and by step validators. 0 or CD_EFAIL. */
int cd_parse_duration(const char *s, int64_t *ret_ms);
int cd_parse_size(const char *s, int64_t *ret_bytes);
int cd_parse_percent(const char *s, double *ret_pct);
int cd_parse_int(const char *s, int64_t *ret);
int cd_parse_number(const char *s, double *ret);
int cd_parse_bool(const char *s, int *ret);

/* Typed containers the decoder fills. Positions stay reachable through nodes. */
struct cd_strv {
	size_t n;
	const char **v;
	const struct cd_node **nodes;
};

struct cd_kv {
	const char *key;
	const char *value;
	const struct cd_node *node; /* the value's node */
};

struct cd_kvs {
	size_t n;
	struct cd_kv *items;
};

struct cd_list {
	size_t n;
	void **items;
};
#define CD_LIST_AT(list, type, i) ((type *)(list)->items[i])

/* A command: a list of arguments, or one string run by /bin/sh -c. */
struct cd_cmd {
	struct cd_strv argv;
	int shell;
};

/* A count or a share: `serial: 2` or `serial: 25%`. */
struct cd_quantity {
	int64_t count; /* -1 when unset or a share */
	double pct;    /* -1 when unset or a count */
};

/* Every decoded struct begins with this, so messages can point at it. */
#define CD_OBJ_HEAD                 \
	const struct cd_node *node; \
	const char *name

struct cd_obj {
	CD_OBJ_HEAD;
};

#define CD_UNSET (-1)

enum cd_ftype {
	CD_T_NONE,
	CD_T_STR,      /* char *; interpolated */
	CD_T_NAME,     /* char *; a name: [A-Za-z0-9][A-Za-z0-9_.-]*, not interpolated */
	CD_T_INT,      /* int64_t; range [min, max] when min < max */
	CD_T_BOOL,     /* int; CD_UNSET, 0 or 1 */
	CD_T_DURATION, /* int64_t milliseconds */
	CD_T_SIZE,     /* int64_t bytes */
	CD_T_PERCENT,  /* double, 5% -> 5.0 */
	CD_T_NUMBER,   /* double */
	CD_T_MODE,     /* int64_t, octal "0600" */
	CD_T_ENUM,     /* int, index into sub (const char *const [], NULL-terminated) */
	CD_T_QUANTITY, /* struct cd_quantity */
	CD_T_STRV,     /* struct cd_strv; a single scalar is a list of one */
	CD_T_ENUMV,    /* struct cd_strv whose items must be in sub */
	CD_T_CMD,      /* struct cd_cmd */
	CD_T_MAP,      /* struct cd_kvs, string to string */
	CD_T_STRUCT,   /* void *, pointing at a new struct of schema sub */
	CD_T_LIST,     /* struct cd_list of structs of schema sub */
	CD_T_NAMED,    /* struct cd_list of structs of schema sub, from a map name -> struct */
	CD_T_CUSTOM,   /* decoded by custom() */
};

enum {
	CD_FIELD_REQUIRED = 1 << 0,
	CD_FIELD_RAW = 1 << 1,	  /* a string kept as written: no interpolation */
	CD_FIELD_EARLY = 1 << 2,  /* decoded before interpolation is ready (plan head) */
	CD_FIELD_OUTPUT = 1 << 3, /* not a plan key: only written by plan --json */
};

struct cd_decoder;
struct cd_schema;

struct cd_field {
	const char *key;
	enum cd_ftype type;
	size_t offset;
	unsigned flags;
	const void *sub;
	const char *def; /* default, in plan syntax */
	int64_t min, max;
	int (*custom)(struct cd_decoder *dec, const struct cd_node *node, void *dst);
	enum cd_ftype json_as; /* for CD_T_CUSTOM: how plan --json writes the stored value; 0: not */
};

struct cd_schema {
	const char *what; /* "service", "step": used in messages */
	size_t size;
	const struct cd_field *fields; /* ends with a NULL key */
	/* Checks the combinations the table cannot say. 0 or CD_EPLAN. */
	int (*validate)(struct cd_decoder *dec, const struct cd_node *map, void *obj);
	/* Replaces the generic map decoding entirely (steps). */
	int (*decode)(struct cd_decoder *dec, const struct cd_node *node, void *obj);
};

/* String interpolation: ${VAR}, ${VAR:-default}, $${literal}. */
struct cd_interp {
	/* Returns the value of name, or NULL when it has none. */
	const char *(*lookup)(void *ctx, const char *name);
	void *ctx;
	/* Names with one of these prefixes are left for run time, as written. */
	const char *const *deferred;
};

/*
 * Expands s. On success *ret is allocated in arena. On an undefined
 * variable or bad syntax, returns CD_EFAIL with a message in *ret_msg
 * (malloc'd, owned by the caller).
 */
int cd_interp_expand(const struct cd_interp *ip, struct cd_arena *arena, const char *s,
	const char **ret, char **ret_msg);

struct cd_decoder {
	struct cd_arena *arena;
	struct cd_diags *diags;
	const struct cd_interp *interp; /* NULL until the plan head is decoded */
	int early;			/* decoding CD_FIELD_EARLY fields only */
	int full;			/* too many errors: stop reporting */
	char path[512];			/* where we are: "services.api.health" */
	size_t path_len;
	void *user; /* the plan being built */
	const char *root_name; /* what the top is called in messages; NULL: "the plan" */
};

/* Reports an error at node, naming the current path. Returns CD_EPLAN. */
int cd_decode_error(struct cd_decoder *dec, const struct cd_node *node, const char *fmt, ...)
	CD_PRINTF(3, 4);
int cd_decode_warning(struct cd_decoder *dec, const struct cd_node *node, const char *fmt, ...)
	CD_PRINTF(3, 4);
/* The current path, for messages ("services.api"), or "the plan" at the top. */
const char *cd_decode_where(const struct cd_decoder *dec);
void cd_decode_push(struct cd_decoder *dec, const char *segment, size_t *saved);
void cd_decode_pop(struct cd_decoder *dec, size_t saved);

/* Decodes a MAP node into obj (of schema s): defaults, fields, required, validate. */
int cd_decode_struct(struct cd_decoder *dec, const struct cd_schema *s, const struct cd_node *node,
	void *obj);
/*
 * Decodes a MAP node whose keys are shared by several schemas (a step's common
 * keys and its kind's keys). skip lists further keys the caller handles.
 */
int cd_decode_struct_multi(struct cd_decoder *dec, const struct cd_schema *const *schemas,
	void *const *objs, size_t n, const char *const *skip, const struct cd_node *node);
/* Allocates and decodes one object of schema s. */
int cd_decode_new(struct cd_decoder *dec, const struct cd_schema *s, const struct cd_node *node,
	void **ret);
/* Decodes one field's value (node) into dst, as the field table says. */
int cd_decode_field(struct cd_decoder *dec, const struct cd_field *f, const struct cd_node *node,
	void *dst);
/* Interpolates a scalar node's text. */
int cd_decode_string(struct cd_decoder *dec, const struct cd_node *node, const char **ret);

/* Sets every field of obj to its default or unset value. */
void cd_schema_defaults(struct cd_decoder *dec, const struct cd_schema *s, void *obj);
const struct cd_field *cd_schema_field(const struct cd_schema *s, const char *key);

/* Appends one JSON object for obj (of schema s) to out. */
void cd_schema_to_json(const struct cd_schema *s, const void *obj, struct cd_buf *out);

#endif
