/*
 * smoke: a suite of checks in categories (HTTP, TCP, commands, container
 * health), inline in the plan or in a YAML file of its own, relative to the
 * plan. Errors in that file name that file.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "corpdeploy/engine.h"
#include "corpdeploy/log.h"
#include "corpdeploy/steps.h"
#include "corpdeploy/validate.h"

static const struct cd_field smoke_check_fields[] = {
	{ .key = "name", .type = CD_T_STR, .offset = offsetof(struct cd_smoke_check, name),
		.flags = CD_FIELD_REQUIRED },
	{ .key = "http", .type = CD_T_STR, .offset = offsetof(struct cd_smoke_check, http) },
	{ .key = "tcp", .type = CD_T_STR, .offset = offsetof(struct cd_smoke_check, tcp) },
	{ .key = "command", .type = CD_T_CMD, .offset = offsetof(struct cd_smoke_check, command) },
	{ .key = "container", .type = CD_T_NAME,
		.offset = offsetof(struct cd_smoke_check, container) },
	{ .key = "method", .type = CD_T_CUSTOM, .offset = offsetof(struct cd_smoke_check, method),
		.custom = cd_decode_http_method, .json_as = CD_T_STR },
	{ .key = "headers", .type = CD_T_MAP, .offset = offsetof(struct cd_smoke_check, headers) },
	{ .key = "body", .type = CD_T_STR, .offset = offsetof(struct cd_smoke_check, body) },
	{ .key = "expect", .type = CD_T_STRUCT, .offset = offsetof(struct cd_smoke_check, expect),
		.sub = &cd_expect_schema },
	{ .key = "capture", .type = CD_T_MAP, .offset = offsetof(struct cd_smoke_check, capture),
		.flags = CD_FIELD_RAW },
	{ .key = "target", .type = CD_T_NAME, .offset = offsetof(struct cd_smoke_check, target) },
	{ .key = "in", .type = CD_T_NAME, .offset = offsetof(struct cd_smoke_check, in) },
	{ .key = "timeout", .type = CD_T_DURATION,
		.offset = offsetof(struct cd_smoke_check, timeout_ms) },
	{ 0 },
};

static int smoke_check_validate(struct cd_decoder *dec, const struct cd_node *map, void *obj)
{
	struct cd_smoke_check *c = obj;
	int kinds = (c->http != NULL) + (c->tcp != NULL) + (c->command.argv.n > 0) +
		    (c->container != NULL);
	if (kinds != 1)
		return cd_decode_error(dec, map,
			"%s: a smoke check has exactly one of http, tcp, command and container",
			cd_decode_where(dec));
	if (!c->http && (c->method || c->headers.n || c->body || c->capture.n))
		return cd_decode_error(dec, map,
			"%s: method, headers, body and capture belong to http checks",
			cd_decode_where(dec));
	if (!c->command.argv.n && (c->target || c->in))
		return cd_decode_error(dec, map, "%s: target and in belong to command checks",
			cd_decode_where(dec));
	if (c->target && c->in)
		return cd_decode_error(dec, map, "%s: a command runs on a target or in a service, not both",
			cd_decode_where(dec));
	for (size_t i = 0; i < c->capture.n; i++)
		if (c->capture.items[i].value[0] != '$')
			return cd_decode_error(dec, c->capture.items[i].node,
				"%s: JSON path '%s' must start with '$'", cd_decode_where(dec),
				c->capture.items[i].value);
	return 0;
}

static const struct cd_schema smoke_check_schema = {
	.what = "check",
	.size = sizeof(struct cd_smoke_check),
	.fields = smoke_check_fields,
	.validate = smoke_check_validate,
};

static const struct cd_field smoke_category_fields[] = {
	{ .key = "name", .type = CD_T_STR, .offset = offsetof(struct cd_smoke_category, name),
		.flags = CD_FIELD_REQUIRED | CD_FIELD_RAW },
	{ .key = "checks", .type = CD_T_LIST, .offset = offsetof(struct cd_smoke_category, checks),
		.flags = CD_FIELD_REQUIRED, .sub = &smoke_check_schema },
	{ 0 },
};

static int unique_names(struct cd_decoder *dec, const struct cd_list *list, const char *what)
{
	int r = 0;
	for (size_t i = 0; i < list->n; i++) {
		const struct cd_obj *a = list->items[i];
		for (size_t j = 0; a->name && j < i; j++) {
			const struct cd_obj *b = list->items[j];
			if (b->name && strcmp(a->name, b->name) == 0) {
				r = cd_decode_error(dec, a->node,
					"%s: %s name '%s' is used twice (first at line %u)",
					cd_decode_where(dec), what, a->name, b->node->line);
				break;
			}
		}
	}
	return r;
}

static int smoke_category_validate(struct cd_decoder *dec, const struct cd_node *map, void *obj)
{
	struct cd_smoke_category *c = obj;
	if (!c->checks.n)
		return cd_decode_error(dec, map, "%s: category '%s' has no checks",
			cd_decode_where(dec), c->name);
	return unique_names(dec, &c->checks, "check");
}

static const struct cd_schema smoke_category_schema = {
	.what = "category",
	.size = sizeof(struct cd_smoke_category),
	.fields = smoke_category_fields,
	.validate = smoke_category_validate,
};

static const struct cd_field smoke_suite_fields[] = {
	{ .key = "base_url", .type = CD_T_STR, .offset = offsetof(struct cd_smoke_suite, base_url) },
	{ .key = "concurrency", .type = CD_T_INT,
		.offset = offsetof(struct cd_smoke_suite, concurrency), .def = "8", .min = 1,
		.max = 256 },
	{ .key = "timeout", .type = CD_T_DURATION,
		.offset = offsetof(struct cd_smoke_suite, timeout_ms), .def = "5s" },
	{ .key = "categories", .type = CD_T_LIST,
		.offset = offsetof(struct cd_smoke_suite, categories), .flags = CD_FIELD_REQUIRED,
		.sub = &smoke_category_schema },
	{ 0 },
};

static int smoke_suite_validate(struct cd_decoder *dec, const struct cd_node *map, void *obj)
{
	struct cd_smoke_suite *s = obj;
	if (!s->categories.n)
		return cd_decode_error(dec, map, "%s: smoke suite has no categories",
			cd_decode_where(dec));
	int r = unique_names(dec, &s->categories, "category");
	for (size_t i = 0; i < s->categories.n; i++) {
		struct cd_smoke_category *c = CD_LIST_AT(&s->categories, struct cd_smoke_category, i);
		for (size_t j = 0; j < c->checks.n; j++) {
			struct cd_smoke_check *k = CD_LIST_AT(&c->checks, struct cd_smoke_check, j);
			if (k->http && k->http[0] == '/' && !s->base_url)
				r = cd_decode_error(dec, cd_node_get(k->node, "http"),
					"%s: check '%s' has a relative URL but the suite has no base_url",
					cd_decode_where(dec), k->name);
		}
	}
	return r;
}

static const struct cd_schema smoke_suite_schema = {
	.what = "smoke suite",
	.size = sizeof(struct cd_smoke_suite),
	.fields = smoke_suite_fields,
	.validate = smoke_suite_validate,
};

/* `smoke: file.yaml` loads the suite from that file; `smoke: {...}` is inline. */
static int smoke_main(struct cd_decoder *dec, const struct cd_node *node, void *dst)
{
	struct cd_step_smoke *smoke = dst; /* the main field's offset is 0: the whole args */
	const struct cd_plan *plan = dec->user;

	if (node->kind == CD_NODE_MAP)
		return cd_decode_new(dec, &smoke_suite_schema, node, (void **)&smoke->suite);
	if (node->kind != CD_NODE_SCALAR || cd_node_is_null(node))
		return cd_decode_error(dec, node,
			"%s: expected a smoke suite file name or an inline suite", cd_decode_where(dec));
	const char *file;
	if (cd_decode_string(dec, node, &file) < 0)
		return CD_EPLAN;
	smoke->file = file;
	char *path = file[0] == '/' || !plan || !plan->dir || strcmp(plan->dir, ".") == 0
			     ? cd_xstrdup(file)
			     : cd_xasprintf("%s/%s", plan->dir, file);
	struct cd_node *root;
	size_t errors = dec->diags->errors;
	if (cd_yaml_load(dec->arena, path, dec->diags, &root) < 0) {
		if (dec->diags->errors > errors && dec->diags->items[dec->diags->n - 1].line == 0) {
			/* The file itself is missing: point at the plan line that names it. */
			struct cd_diag *g = &dec->diags->items[dec->diags->n - 1];
			char *msg = cd_xasprintf("%s: smoke suite '%s' %s", cd_decode_where(dec), path, g->msg);
			free(g->msg);
			free(g->file);
			g->msg = msg;
			g->file = cd_xstrdup(node->file);
			g->line = node->line;
			g->col = node->col;
		}
		free(path);
		return CD_EPLAN;
	}
	free(path);
	size_t saved = dec->path_len;
	char where[sizeof(dec->path)];
	memcpy(where, dec->path, sizeof(where));
	cd_decode_pop(dec, 0); /* paths in the suite file start at its top */
	const char *root_name = dec->root_name;
	dec->root_name = "the smoke suite";
	int r = cd_decode_new(dec, &smoke_suite_schema, root, (void **)&smoke->suite);
	dec->root_name = root_name;
	memcpy(dec->path, where, sizeof(where));
	dec->path_len = saved;
	return r;
}

static const struct cd_field smoke_fields[] = {
	{ .key = "file", .type = CD_T_STR, .offset = offsetof(struct cd_step_smoke, file),
		.flags = CD_FIELD_OUTPUT },
	{ .key = "suite", .type = CD_T_STRUCT, .offset = offsetof(struct cd_step_smoke, suite),
		.flags = CD_FIELD_OUTPUT, .sub = &smoke_suite_schema },
	{ 0 },
};

static const struct cd_schema smoke_schema = {
	.what = "smoke",
	.size = sizeof(struct cd_step_smoke),
	.fields = smoke_fields,
};

static int smoke_resolve(struct cd_decoder *dec, const struct cd_plan *plan, struct cd_step *step)
{
	const struct cd_step_smoke *s = step->args;
	int r = 0;
	if (!s->suite)
		return 0;
	for (size_t i = 0; i < s->suite->categories.n; i++) {
		struct cd_smoke_category *c = CD_LIST_AT(&s->suite->categories, struct cd_smoke_category, i);
		for (size_t j = 0; j < c->checks.n; j++) {
			struct cd_smoke_check *k = CD_LIST_AT(&c->checks, struct cd_smoke_check, j);
			if (cd_step_require_service(dec, plan, k->container,
				    cd_node_get(k->node, "container"), "container") < 0 ||
				cd_step_require_service(dec, plan, k->in, cd_node_get(k->node, "in"), "in") < 0 ||
				cd_step_require_target(dec, plan, k->target, cd_node_get(k->node, "target")) < 0)
				r = CD_EPLAN;
		}
	}
	return r;
}

static size_t smoke_count(const struct cd_smoke_suite *s)
{
	size_t n = 0;
	for (size_t i = 0; s && i < s->categories.n; i++)
		n += CD_LIST_AT(&s->categories, struct cd_smoke_category, i)->checks.n;
	return n;
}

static void smoke_describe(const struct cd_step *step, struct cd_buf *out)
{
	const struct cd_step_smoke *s = step->args;
	size_t ncat = s->suite ? s->suite->categories.n : 0;
	cd_buf_addf(out, "smoke suite %s: %zu checks in %zu categories", s->file ? s->file : "(inline)",
		smoke_count(s->suite), ncat);
}

/* Every check runs; the step fails when one did, naming the first in suite order. */
static int smoke_apply(struct cd_step_ctx *ctx, struct cd_error *err)
{
	const struct cd_step_smoke *s = ctx->step->args;
	cJSON *d = NULL;
	int r = cd_smoke_run(ctx->run, s->suite, ctx->deadline_ms, &d, err);
	ctx->details = d;
	const cJSON *checks = cJSON_GetObjectItemCaseSensitive(d, "checks"), *c;
	int passed = 0, total = 0;
	cJSON_ArrayForEach(c, checks) {
		const char *result = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "result"));
		total++;
		if (result && strcmp(result, "passed") == 0) {
			passed++;
			continue;
		}
		cd_log_warn("smoke check failed: %s / %s: %s",
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "category")),
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "name")),
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "message")));
	}
	cd_buf_addf(&ctx->message, "%d/%d checks passed in %zu categories", passed, total,
		s->suite->categories.n);
	return r;
}

const struct cd_step_kind cd_step_kind_smoke = {
	.name = "smoke",
	.main = { .key = "smoke", .flags = CD_FIELD_REQUIRED, .type = CD_T_CUSTOM, .offset = 0,
		.custom = smoke_main },
	.schema = &smoke_schema,
	.resolve = smoke_resolve,
	.describe = smoke_describe,
	.apply = smoke_apply,
};
