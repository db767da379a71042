/*
 * parallel: run the listed steps at the same time on a bounded pool. One
 * level only: a parallel group inside a parallel group is refused.
 */
#include <stddef.h>
#include <string.h>

#include "corpdeploy/steps.h"

static const struct cd_field parallel_fields[] = {
	{ .key = "max", .type = CD_T_INT, .offset = offsetof(struct cd_step_parallel, max), .min = 1,
		.max = 256 },
	{ 0 },
};

static const struct cd_schema parallel_schema = {
	.what = "parallel",
	.size = sizeof(struct cd_step_parallel),
	.fields = parallel_fields,
};

static int parallel_validate(struct cd_decoder *dec, const struct cd_node *map, void *args)
{
	const struct cd_step_parallel *p = args;
	if (p->steps.n < 2)
		return cd_decode_error(dec, cd_node_get(map, "parallel"),
			"%s: a parallel group needs at least two steps", cd_decode_where(dec));
	for (size_t i = 0; i < p->steps.n; i++) {
		const struct cd_step *s = CD_LIST_AT(&p->steps, struct cd_step, i);
		if (s->kind && strcmp(s->kind->name, "parallel") == 0)
			return cd_decode_error(dec, s->kind_node,
				"%s: parallel groups cannot be nested", cd_decode_where(dec));
	}
	return 0;
}

static int parallel_resolve(struct cd_decoder *dec, const struct cd_plan *plan, struct cd_step *step)
{
	const struct cd_step_parallel *p = step->args;
	int r = 0;
	for (size_t i = 0; i < p->steps.n; i++)
		if (cd_step_resolve(dec, plan, CD_LIST_AT(&p->steps, struct cd_step, i)) < 0)
			r = CD_EPLAN;
	return r;
}

static void parallel_describe(const struct cd_step *step, struct cd_buf *out)
{
	const struct cd_step_parallel *p = step->args;
	cd_buf_addf(out, "in parallel (%zu steps", p->steps.n);
	if (p->max > 0)
		cd_buf_addf(out, ", at most %lld at a time", (long long)p->max);
	cd_buf_adds(out, ")");
}

const struct cd_step_kind cd_step_kind_parallel = {
	.name = "parallel",
	.main = { .key = "parallel", .flags = CD_FIELD_REQUIRED, .type = CD_T_LIST,
		.offset = offsetof(struct cd_step_parallel, steps), .sub = &cd_step_schema },
	.schema = &parallel_schema,
	.validate = parallel_validate,
	.resolve = parallel_resolve,
	.describe = parallel_describe,
};
