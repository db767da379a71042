/*
 * The table of step kinds, and the decoding every step shares: exactly one
 * kind key, the common keys, and the kind's own keys as siblings.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "corpdeploy/log.h"
#include "corpdeploy/steps.h"

extern const struct cd_step_kind cd_step_kind_backup;
extern const struct cd_step_kind cd_step_kind_check;
extern const struct cd_step_kind cd_step_kind_copy;
extern const struct cd_step_kind cd_step_kind_deploy;
extern const struct cd_step_kind cd_step_kind_http;
extern const struct cd_step_kind cd_step_kind_load;
extern const struct cd_step_kind cd_step_kind_notify;
extern const struct cd_step_kind cd_step_kind_parallel;
extern const struct cd_step_kind cd_step_kind_restore;
extern const struct cd_step_kind cd_step_kind_run;
extern const struct cd_step_kind cd_step_kind_security;
extern const struct cd_step_kind cd_step_kind_smoke;
extern const struct cd_step_kind cd_step_kind_wait;

const struct cd_step_kind *const cd_step_kinds[] = {
	&cd_step_kind_backup,
	&cd_step_kind_check,
	&cd_step_kind_copy,
	&cd_step_kind_deploy,
	&cd_step_kind_http,
	&cd_step_kind_load,
	&cd_step_kind_notify,
	&cd_step_kind_parallel,
	&cd_step_kind_restore,
	&cd_step_kind_run,
	&cd_step_kind_security,
	&cd_step_kind_smoke,
	&cd_step_kind_wait,
};
const size_t cd_step_kinds_count = CD_ARRAY_SIZE(cd_step_kinds);

const struct cd_step_kind *cd_step_kind_find(const char *name)
{
	for (size_t i = 0; i < cd_step_kinds_count; i++)
		if (strcmp(cd_step_kinds[i]->name, name) == 0)
			return cd_step_kinds[i];
	return NULL;
}

static const struct cd_field step_common_fields[] = {
	{ .key = "name", .type = CD_T_STR, .offset = offsetof(struct cd_step, name) },
	{ .key = "timeout", .type = CD_T_DURATION, .offset = offsetof(struct cd_step, timeout_ms),
		.min = 1, .max = 7 * 86400000LL },
	{ .key = "retries", .type = CD_T_INT, .offset = offsetof(struct cd_step, retries),
		.def = "0", .min = 0, .max = 100 },
	{ .key = "retry_delay", .type = CD_T_DURATION,
		.offset = offsetof(struct cd_step, retry_delay_ms), .def = "1s" },
	{ .key = "target", .type = CD_T_NAME, .offset = offsetof(struct cd_step, target) },
	{ .key = "continue_on_error", .type = CD_T_BOOL,
		.offset = offsetof(struct cd_step, continue_on_error), .def = "false" },
	{ 0 },
};

const struct cd_schema cd_step_common_schema = {
	.what = "step",
	.size = sizeof(struct cd_step),
	.fields = step_common_fields,
};

/* The kind names, for "did you mean" on a step with no kind. */
static const char **kind_names(void)
{
	static const char *names[32];
	for (size_t i = 0; i < cd_step_kinds_count && i < 31; i++)
		names[i] = cd_step_kinds[i]->name;
	return names;
}

static int step_decode(struct cd_decoder *dec, const struct cd_node *node, void *obj)
{
	struct cd_step *step = obj;
	const struct cd_node *kind_key = NULL;

	if (node->kind != CD_NODE_MAP)
		return cd_decode_error(dec, node,
			"%s: expected a step (a map with one of check, deploy, run, ...), got %s",
			cd_decode_where(dec), node->kind == CD_NODE_SEQ ? "a list" : "a value");
	/*
	 * The kind key is the one kind name whose schema takes every other kind
	 * name present as its own key: `backup: database` with `restore: [...]`.
	 */
	for (size_t i = 0; i < node->n; i += 2) {
		const struct cd_node *k = node->items[i];
		const struct cd_step_kind *cand = cd_step_kind_find(k->value);
		if (!cand)
			continue;
		int takes_others = 1;
		for (size_t j = 0; j < node->n; j += 2)
			if (j != i && cd_step_kind_find(node->items[j]->value) &&
				!cd_schema_field(cand->schema, node->items[j]->value))
				takes_others = 0;
		if (!takes_others)
			continue;
		if (kind_key)
			return cd_decode_error(dec, k,
				"%s: a step has one kind, but this one has '%s' and '%s'",
				cd_decode_where(dec), kind_key->value, k->value);
		kind_key = k;
	}
	if (!kind_key) {
		const struct cd_node *first = NULL;
		for (size_t i = 0; i < node->n; i += 2) {
			if (!cd_step_kind_find(node->items[i]->value))
				continue;
			if (first)
				return cd_decode_error(dec, node->items[i],
					"%s: a step has one kind, but this one has '%s' and '%s'",
					cd_decode_where(dec), first->value, node->items[i]->value);
			first = node->items[i];
		}
	}
	if (!kind_key) {
		/* A misspelt kind shows as an unknown key; name the closest kind. */
		for (size_t i = 0; i < node->n; i += 2) {
			const char *hint = cd_suggest(node->items[i]->value, kind_names(),
				cd_step_kinds_count);
			if (hint && !cd_schema_field(&cd_step_common_schema, node->items[i]->value))
				return cd_decode_error(dec, node->items[i],
					"unknown key '%s' in %s (did you mean '%s'?)",
					node->items[i]->value, cd_decode_where(dec), hint);
		}
		struct cd_buf kinds = CD_BUF_INIT;
		for (size_t i = 0; i < cd_step_kinds_count; i++)
			cd_buf_addf(&kinds, "%s%s", i ? ", " : "", cd_step_kinds[i]->name);
		cd_decode_error(dec, node, "%s: step has no kind (expected one of %s)",
			cd_decode_where(dec), kinds.buf);
		cd_buf_release(&kinds);
		return CD_EPLAN;
	}

	const struct cd_step_kind *kind = cd_step_kind_find(kind_key->value);
	step->kind = kind;
	step->kind_node = kind_key;
	step->args = cd_arena_alloc(dec->arena, kind->schema->size);
	if (!step->args)
		cd_oom();

	const struct cd_schema *schemas[] = { &cd_step_common_schema, kind->schema };
	void *objs[] = { step, step->args };
	const char *skip[] = { kind->name, NULL };
	size_t errors = dec->diags->errors;
	cd_decode_struct_multi(dec, schemas, objs, 2, skip, node);

	/* The kind key's own value, decoded after the siblings it may depend on. */
	size_t saved;
	cd_decode_push(dec, kind->name, &saved);
	const struct cd_node *value = cd_node_get(node, kind->name);
	if (!cd_node_is_null(value) || (kind->main.flags & CD_FIELD_REQUIRED))
		cd_decode_field(dec, &kind->main, value, (char *)step->args + kind->main.offset);
	cd_decode_pop(dec, saved);
	if (kind->validate && dec->diags->errors == errors)
		kind->validate(dec, node, step->args);
	const struct cd_node *name_node = cd_node_get(node, "name");
	if (name_node && name_node->kind == CD_NODE_SCALAR)
		step->name = name_node->value;
	else if (kind->default_name && dec->diags->errors == errors)
		step->name = kind->default_name(dec->arena, step);
	if (!step->name)
		step->name = kind->name;
	step->ok = dec->diags->errors == errors;
	return step->ok ? 0 : CD_EPLAN;
}

const struct cd_schema cd_step_schema = {
	.what = "step",
	.size = sizeof(struct cd_step),
	.fields = step_common_fields,
	.decode = step_decode,
};

void cd_step_describe_strv(const struct cd_strv *v, const char *sep, struct cd_buf *out)
{
	for (size_t i = 0; i < v->n; i++)
		cd_buf_addf(out, "%s%s", i ? sep : "", v->v[i]);
}

void cd_step_describe_cmd(const struct cd_cmd *cmd, struct cd_buf *out)
{
	if (cmd->shell) {
		struct cd_cmd sh = { .argv = { .n = 3, .v = (const char *[]){ "sh", "-c",
					cmd->argv.n ? cmd->argv.v[0] : "" } } };
		cd_step_describe_cmd(&sh, out);
		return;
	}
	for (size_t i = 0; i < cmd->argv.n; i++) {
		/* Redacted before quoting: quoting would split a secret the redactor knows whole. */
		char *redacted = cd_redact_dup(cmd->argv.v[i]);
		const char *a = redacted;
		if (i)
			cd_buf_addch(out, ' ');
		if (*a && !strpbrk(a, " \t\n\"'$\\;&|<>()*?`#~{}[]!")) {
			cd_buf_adds(out, a);
			free(redacted);
			continue;
		}
		/* Shell quoting a reader can paste: 'it'\''s'. */
		cd_buf_addch(out, '\'');
		for (; *a; a++) {
			if (*a == '\'')
				cd_buf_adds(out, "'\\''");
			else
				cd_buf_addch(out, *a);
		}
		cd_buf_addch(out, '\'');
		free(redacted);
	}
}

/* The closest name in a list of named objects, for "did you mean". */
static const char *closest_name(const struct cd_list *list, const char *name)
{
	const char *cands[256];
	size_t n = 0;
	for (size_t i = 0; i < list->n && n < 256; i++)
		cands[n++] = CD_LIST_AT(list, struct cd_obj, i)->name;
	return cd_suggest(name, cands, n);
}

int cd_step_require_service(struct cd_decoder *dec, const struct cd_plan *plan, const char *name,
	const struct cd_node *at, const char *what)
{
	if (!name || cd_plan_service(plan, name))
		return 0;
	const char *hint = closest_name(&plan->services, name);
	if (hint)
		return cd_decode_error(dec, at, "%s: %s '%s' is not a service of this plan (did you mean '%s'?)",
			cd_decode_where(dec), what, name, hint);
	return cd_decode_error(dec, at, "%s: %s '%s' is not a service of this plan",
		cd_decode_where(dec), what, name);
}

int cd_step_require_target(struct cd_decoder *dec, const struct cd_plan *plan, const char *name,
	const struct cd_node *at)
{
	if (!name || cd_plan_target(plan, name))
		return 0;
	const char *hint = closest_name(&plan->targets, name);
	if (hint)
		return cd_decode_error(dec, at, "%s: target '%s' is not defined (did you mean '%s'?)",
			cd_decode_where(dec), name, hint);
	return cd_decode_error(dec, at, "%s: target '%s' is not defined", cd_decode_where(dec),
		name);
}

int cd_step_resolve(struct cd_decoder *dec, const struct cd_plan *plan, struct cd_step *step)
{
	size_t errors = dec->diags->errors;
	size_t saved;
	if (!step->kind)
		return 0; /* the step itself was wrong; already reported */
	cd_decode_push(dec, step->name ? step->name : "step", &saved);
	if (step->target)
		cd_step_require_target(dec, plan, step->target, cd_node_get(step->node, "target"));
	if (step->ok && step->kind->resolve)
		step->kind->resolve(dec, plan, step);
	cd_decode_pop(dec, saved);
	return dec->diags->errors > errors ? CD_EPLAN : 0;
}
