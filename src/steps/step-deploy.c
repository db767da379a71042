/*
 * deploy: bring services to this release, a group at a time, each in
 * depends_on order and waited healthy before the group is done.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "corpdeploy/steps.h"

static const struct cd_field deploy_fields[] = {
	{ .key = "parallel", .type = CD_T_INT, .offset = offsetof(struct cd_step_deploy, parallel),
		.min = 1, .max = 256 },
	{ .key = "strategy", .type = CD_T_ENUM, .offset = offsetof(struct cd_step_deploy, strategy),
		.sub = cd_strategy_names },
	{ 0 },
};

static const struct cd_schema deploy_schema = {
	.what = "deploy",
	.size = sizeof(struct cd_step_deploy),
	.fields = deploy_fields,
};

static int deploy_validate(struct cd_decoder *dec, const struct cd_node *map, void *args)
{
	const struct cd_step_deploy *d = args;
	if (!d->services.n)
		return cd_decode_error(dec, cd_node_get(map, "deploy"),
			"%s: deploy needs at least one service", cd_decode_where(dec));
	return 0;
}

static int deploy_resolve(struct cd_decoder *dec, const struct cd_plan *plan, struct cd_step *step)
{
	const struct cd_step_deploy *d = step->args;
	int r = 0;
	for (size_t i = 0; i < d->services.n; i++) {
		if (cd_step_require_service(dec, plan, d->services.v[i], d->services.nodes[i],
			    "service") < 0)
			r = CD_EPLAN;
		for (size_t j = 0; j < i; j++)
			if (strcmp(d->services.v[i], d->services.v[j]) == 0)
				r = cd_decode_error(dec, d->services.nodes[i],
					"%s: service '%s' is listed twice", cd_decode_where(dec),
					d->services.v[i]);
	}
	return r;
}

static void deploy_describe(const struct cd_step *step, struct cd_buf *out)
{
	const struct cd_step_deploy *d = step->args;
	cd_buf_adds(out, "deploy ");
	cd_step_describe_strv(&d->services, ", ", out);
	if (d->services.n > 1) {
		if (d->parallel > 0)
			cd_buf_addf(out, " (at most %lld at a time)", (long long)d->parallel);
		else
			cd_buf_adds(out, " (in parallel, in dependency order)");
	}
	if (d->strategy >= 0)
		cd_buf_addf(out, ", strategy %s", cd_strategy_names[d->strategy]);
}

static const char *deploy_name(struct cd_arena *arena, const struct cd_step *step)
{
	const struct cd_step_deploy *d = step->args;
	struct cd_buf b = CD_BUF_INIT;
	cd_buf_adds(&b, "deploy-");
	cd_step_describe_strv(&d->services, "-", &b);
	const char *name = cd_arena_strdup(arena, b.buf);
	cd_buf_release(&b);
	return name;
}

const struct cd_step_kind cd_step_kind_deploy = {
	.name = "deploy",
	.main = { .key = "deploy", .type = CD_T_STRV, .offset = offsetof(struct cd_step_deploy, services),
		.flags = CD_FIELD_REQUIRED | CD_FIELD_RAW },
	.schema = &deploy_schema,
	.validate = deploy_validate,
	.resolve = deploy_resolve,
	.describe = deploy_describe,
	.default_name = deploy_name,
};
