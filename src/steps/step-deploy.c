/*
 * deploy: bring services to this release, a group at a time, each in
 * depends_on order and waited healthy before the group is done.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include <cjson/cJSON.h>

#include "corpdeploy/engine.h"
#include "corpdeploy/steps.h"
#include "deploy-internal.h"

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
		const struct cd_service *svc = cd_plan_service(plan, d->services.v[i]);
		if (svc && d->strategy == CD_STRATEGY_BLUE_GREEN && !svc->proxy)
			r = cd_decode_error(dec, cd_node_get(step->node, "strategy"),
				"%s: the blue-green strategy needs a proxy, and service '%s' has none",
				cd_decode_where(dec), svc->name);
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

/*
 * The services of a step go out in dependency order: one starts when the
 * services it depends on within this step are healthy. Up to `parallel` at
 * once. After a failure no new one starts; those in flight finish.
 */
struct deploy_sched {
	struct cd_step_ctx *ctx;
	const struct cd_service **svc;
	size_t n;
	int *state; /* 0 waiting, 1 running, 2 done, 3 failed */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int failed;
	struct cd_error err;
};

static int deps_done(struct deploy_sched *s, size_t i)
{
	for (size_t k = 0; k < s->svc[i]->depends_on.n; k++)
		for (size_t j = 0; j < s->n; j++)
			if (strcmp(s->svc[j]->name, s->svc[i]->depends_on.v[k]) == 0 && s->state[j] != 2)
				return 0;
	return 1;
}

static void *deploy_worker(void *arg)
{
	struct deploy_sched *s = arg;
	pthread_mutex_lock(&s->lock);
	for (;;) {
		size_t pick = s->n, waiting = 0;
		for (size_t i = 0; i < s->n && !s->failed; i++) {
			if (s->state[i] != 0)
				continue;
			waiting++;
			if (deps_done(s, i)) {
				pick = i;
				break;
			}
		}
		if (s->failed || (pick == s->n && waiting == 0))
			break;
		if (pick == s->n) {
			pthread_cond_wait(&s->cond, &s->lock);
			continue;
		}
		s->state[pick] = 1;
		pthread_mutex_unlock(&s->lock);

		struct cd_step_ctx sub = *s->ctx;
		struct cd_error err = CD_ERROR_INIT;
		cd_buf_init(&sub.message, 1024);
		sub.details = NULL;
		int r = cd_deploy_service(&sub, s->svc[pick], &err);

		pthread_mutex_lock(&s->lock);
		if (sub.details)
			cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(s->ctx->details, "services"),
				sub.details);
		s->state[pick] = r == 0 ? 2 : 3;
		if (sub.message.len)
			cd_buf_addf(&s->ctx->message, "%s%s", s->ctx->message.len ? ", " : "", sub.message.buf);
		if (r < 0 && !s->failed) {
			s->failed = 1;
			s->err = err;
			memset(&err, 0, sizeof(err));
		}
		cd_error_release(&err);
		cd_buf_release(&sub.message);
		pthread_cond_broadcast(&s->cond);
	}
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static int deploy_apply(struct cd_step_ctx *ctx, struct cd_error *err)
{
	const struct cd_step_deploy *dep = ctx->step->args;
	const struct cd_plan *plan = ctx->run->plan;
	struct deploy_sched s = { .ctx = ctx, .n = dep->services.n };
	ctx->details = cJSON_CreateObject();
	cJSON_AddItemToObject(ctx->details, "services", cJSON_CreateArray());
	s.svc = cd_xcalloc(s.n, sizeof(*s.svc));
	s.state = cd_xcalloc(s.n, sizeof(int));
	for (size_t i = 0; i < s.n; i++)
		s.svc[i] = cd_plan_service(plan, dep->services.v[i]);
	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.cond, NULL);
	size_t nthreads = dep->parallel > 0 && (size_t)dep->parallel < s.n ? (size_t)dep->parallel : s.n;
	pthread_t *threads = cd_xcalloc(nthreads, sizeof(*threads));
	size_t started = 0;
	for (size_t i = 0; i < nthreads; i++)
		if (pthread_create(&threads[i], NULL, deploy_worker, &s) == 0)
			started++;
	if (!started)
		deploy_worker(&s);
	for (size_t i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	int r = 0;
	if (s.failed) {
		r = cd_error_set(err, s.err.code ? s.err.code : CD_EFAIL, "%s",
			s.err.msg ? s.err.msg : "a service failed");
		cd_error_release(&s.err);
	}
	pthread_cond_destroy(&s.cond);
	pthread_mutex_destroy(&s.lock);
	free(threads);
	free(s.svc);
	free(s.state);
	return r;
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
	.apply = deploy_apply,
	.undo = cd_deploy_undo,
	.finish = cd_deploy_finish,
};
