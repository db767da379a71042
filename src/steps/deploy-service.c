/*
 * Deploying one service with the recreate strategy: get the image, and
 * unless the running container already has this image and configuration,
 * stop and rename the old one (kept until the run succeeds), create and
 * start the new one, and wait until it is healthy. Each change pushes its
 * undo first; the old container is removed only when the whole run is done.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "corpdeploy/docker.h"
#include "corpdeploy/engine.h"
#include "corpdeploy/http.h"
#include "corpdeploy/log.h"
#include "corpdeploy/steps.h"
#include "deploy-internal.h"

/* A NULL-terminated array of strings, growing; the strings are owned. */
struct strlist {
	char **v;
	size_t n, alloc;
};

static void strlist_add(struct strlist *l, char *s)
{
	if (l->n + 1 >= l->alloc) {
		l->alloc = l->alloc ? l->alloc * 2 : 8;
		l->v = cd_xreallocarray(l->v, l->alloc, sizeof(char *));
	}
	l->v[l->n++] = s;
	l->v[l->n] = NULL;
}

static void strlist_free(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

static const char *const *strlist_get(struct strlist *l)
{
	if (!l->v)
		strlist_add(l, NULL), l->n = 0;
	return (const char *const *)l->v;
}

char *cd_deploy_image_ref(const struct cd_plan *plan, const struct cd_service *svc)
{
	if (svc->image)
		return cd_xstrdup(svc->image);
	return cd_xasprintf("corpdeploy/%s-%s:%s", plan->name, svc->name, plan->release);
}

char *cd_deploy_scoped(const struct cd_plan *plan, const char *name)
{
	return cd_xasprintf("%s_%s", plan->name, name);
}

static int is_named_volume(const char *source)
{
	return source[0] != '/' && source[0] != '.' && source[0] != '~';
}

/* Everything that decides what the container is, for the change fingerprint. */
struct desired {
	char *name;
	char *image_ref;
	char *image_id;
	struct strlist env, labels, binds, networks, aliases, cmd, entrypoint, health_test;
	struct cd_docker_port *ports;
	struct cd_docker_health health;
	struct cd_docker_container_spec spec;
	char fingerprint[65];
};

static void desired_free(struct desired *d)
{
	free(d->name);
	free(d->image_ref);
	free(d->image_id);
	strlist_free(&d->env);
	strlist_free(&d->labels);
	strlist_free(&d->binds);
	strlist_free(&d->networks);
	strlist_free(&d->aliases);
	strlist_free(&d->cmd);
	strlist_free(&d->entrypoint);
	strlist_free(&d->health_test);
	free(d->ports);
}

static void hash_str(struct cd_sha256 *h, const char *s)
{
	cd_sha256_update(h, s ? s : "", s ? strlen(s) + 1 : 1);
}

static void hash_list(struct cd_sha256 *h, const char *tag, struct strlist *l)
{
	hash_str(h, tag);
	for (size_t i = 0; i < l->n; i++)
		hash_str(h, l->v[i]);
}

static int get_image(struct cd_step_ctx *ctx, struct cd_docker *d, const struct cd_service *svc,
	struct desired *want, struct cd_error *err)
{
	const struct cd_plan *plan = ctx->run->plan;
	struct cd_docker_image img;
	int r;

	if (svc->build) {
		char *context = svc->build->context[0] == '/' || strcmp(plan->dir, ".") == 0
					? cd_xstrdup(svc->build->context)
					: cd_xasprintf("%s/%s", plan->dir, svc->build->context);
		struct strlist args = { 0 }, labels = { 0 };
		for (size_t i = 0; i < svc->build->args.n; i++)
			strlist_add(&args, cd_xasprintf("%s=%s", svc->build->args.items[i].key,
						   svc->build->args.items[i].value));
		/* Build args count as context: the same files with other args are another image. */
		char digest[65], full[65];
		if ((r = cd_docker_context_digest(context, svc->build->dockerfile, digest, err)) < 0) {
			strlist_free(&args);
			free(context);
			return r;
		}
		struct cd_sha256 h;
		cd_sha256_init(&h);
		cd_sha256_update(&h, digest, sizeof(digest));
		for (size_t i = 0; i < args.n; i++)
			cd_sha256_update(&h, args.v[i], strlen(args.v[i]) + 1);
		cd_sha256_final_hex(&h, full);
		if (cd_docker_image_inspect(d, want->image_ref, &img, NULL) == 0) {
			int same = img.context_digest && strcmp(img.context_digest, full) == 0;
			if (same)
				want->image_id = cd_xstrdup(img.id);
			cd_docker_image_release(&img);
			if (same) {
				strlist_free(&args);
				free(context);
				return 0;
			}
		}
		strlist_add(&labels, cd_xasprintf("corpdeploy.plan=%s", plan->name));
		strlist_add(&labels, cd_xasprintf("corpdeploy.release=%s", plan->release));
		strlist_add(&labels, cd_xasprintf("corpdeploy.context=%s", full));
		struct cd_docker_build b = { .context_dir = context, .dockerfile = svc->build->dockerfile,
			.tag = want->image_ref, .buildargs = strlist_get(&args),
			.labels = strlist_get(&labels) };
		cd_run_note(ctx->run, "%s: building %s from %s", svc->name, want->image_ref, context);
		r = cd_docker_image_build(d, &b, cd_run_left(ctx->deadline_ms), &want->image_id, err);
		if (r < 0) {
			char *m = cd_xasprintf("service '%s': %s", svc->name, err->msg);
			cd_error_set(err, r, "%s", m);
			free(m);
		}
		strlist_free(&args);
		strlist_free(&labels);
		free(context);
		return r;
	}
	r = cd_docker_image_inspect(d, want->image_ref, &img, err);
	if (r == CD_ENOTFOUND || (r == 0 && svc->pull == CD_PULL_ALWAYS)) {
		if (r == 0)
			cd_docker_image_release(&img);
		if (svc->pull == CD_PULL_NEVER)
			return cd_error_set(err, CD_ENOTFOUND,
				"service '%s': image '%s' is not on the engine and pull is 'never'",
				svc->name, want->image_ref);
		struct cd_docker_auth auth = { 0 };
		if (svc->registry_auth) {
			auth.username = svc->registry_auth->username;
			auth.password = cd_run_env(ctx->run, svc->registry_auth->password_secret);
		}
		cd_run_note(ctx->run, "%s: pulling %s", svc->name, want->image_ref);
		cd_error_release(err);
		r = cd_docker_image_pull(d, want->image_ref, svc->registry_auth ? &auth : NULL,
			cd_run_left(ctx->deadline_ms), err);
		if (r < 0) {
			char *m = cd_xasprintf("service '%s': %s", svc->name, err->msg);
			cd_error_set(err, r, "%s", m);
			free(m);
			return r;
		}
		r = cd_docker_image_inspect(d, want->image_ref, &img, err);
	}
	if (r < 0)
		return r;
	want->image_id = cd_xstrdup(img.id);
	cd_docker_image_release(&img);
	return 0;
}

static void build_spec(struct cd_step_ctx *ctx, const struct cd_service *svc, struct desired *w)
{
	const struct cd_plan *plan = ctx->run->plan;
	struct cd_docker_container_spec *s = &w->spec;
	struct cd_sha256 h;

	memset(s, 0, sizeof(*s));
	s->image = w->image_id;
	for (size_t i = 0; i < svc->env.n; i++)
		strlist_add(&w->env, cd_xasprintf("%s=%s", svc->env.items[i].key, svc->env.items[i].value));
	for (size_t i = 0; i < svc->command.argv.n; i++)
		strlist_add(&w->cmd, cd_xstrdup(svc->command.argv.v[i]));
	if (svc->command.shell) {
		strlist_free(&w->cmd);
		memset(&w->cmd, 0, sizeof(w->cmd));
		strlist_add(&w->cmd, cd_xstrdup("/bin/sh"));
		strlist_add(&w->cmd, cd_xstrdup("-c"));
		strlist_add(&w->cmd, cd_xstrdup(svc->command.argv.v[0]));
	}
	for (size_t i = 0; i < svc->entrypoint.n; i++)
		strlist_add(&w->entrypoint, cd_xstrdup(svc->entrypoint.v[i]));
	for (size_t i = 0; i < svc->volumes.n; i++) {
		const char *v = svc->volumes.v[i], *colon = strchr(v, ':');
		char *src = cd_xstrndup(v, (size_t)(colon - v));
		char *full;
		if (is_named_volume(src)) {
			char *name = cd_deploy_scoped(plan, src);
			full = cd_xasprintf("%s%s", name, colon);
			free(name);
		} else {
			char path[PATH_MAX];
			char *rel = src[0] == '/' ? cd_xstrdup(src) : cd_xasprintf("%s/%s", plan->dir, src);
			full = cd_xasprintf("%s%s", realpath(rel, path) ? path : rel, colon);
			free(rel);
		}
		free(src);
		strlist_add(&w->binds, full);
	}
	for (size_t i = 0; i < svc->networks.n; i++)
		strlist_add(&w->networks, cd_deploy_scoped(plan, svc->networks.v[i]));
	strlist_add(&w->aliases, cd_xstrdup(svc->name));
	w->ports = cd_xcalloc(svc->ports_raw.n + 1, sizeof(*w->ports));
	for (size_t i = 0; i < svc->ports_raw.n; i++) {
		w->ports[i].host_ip = svc->ports[i].host_ip;
		w->ports[i].host_port = svc->ports[i].host_port;
		w->ports[i].container_port = svc->ports[i].container_port;
		w->ports[i].proto = svc->ports[i].proto;
	}
	s->cmd = w->cmd.n ? strlist_get(&w->cmd) : NULL;
	s->entrypoint = w->entrypoint.n ? strlist_get(&w->entrypoint) : NULL;
	s->env = strlist_get(&w->env);
	s->ports = w->ports;
	s->n_ports = svc->ports_raw.n;
	s->binds = strlist_get(&w->binds);
	static const char *const network_modes[] = { "bridge", "host", "none" };
	s->network_mode = svc->network_mode >= 0 ? network_modes[svc->network_mode]
			  : w->networks.n	  ? w->networks.v[0]
						  : NULL;
	s->networks = w->networks.n > 1 ? (const char *const *)w->networks.v + 1 : NULL;
	s->aliases = strlist_get(&w->aliases);
	s->restart = svc->restart;
	s->init = svc->init == 1;
	s->user = svc->user;
	s->workdir = svc->workdir;
	s->stop_timeout_ms = svc->stop_timeout_ms;
	if (svc->health && svc->health->kind == CD_HEALTH_COMMAND) {
		/* Docker runs command checks itself, so `docker ps` and status show health. */
		const struct cd_cmd *c = &svc->health->command;
		strlist_add(&w->health_test, cd_xstrdup(c->shell ? "CMD-SHELL" : "CMD"));
		for (size_t i = 0; i < c->argv.n; i++)
			strlist_add(&w->health_test, cd_xstrdup(c->argv.v[i]));
		w->health.test = strlist_get(&w->health_test);
		/* corpdeploy probes while it deploys; Docker takes over at the steady pace. */
		w->health.interval_ms = svc->health->steady_interval_ms;
		/* Each probe may take a while on a busy host; only the overall timeout is ours. */
		w->health.timeout_ms = svc->health->timeout_ms < 10000 ? svc->health->timeout_ms : 10000;
		w->health.start_period_ms = svc->health->start_period_ms;
		w->health.retries = (int)svc->health->retries;
		s->health = &w->health;
	}

	/* The fingerprint covers what makes the container; the labels carry it. */
	cd_sha256_init(&h);
	hash_str(&h, w->image_id);
	hash_list(&h, "cmd", &w->cmd);
	hash_list(&h, "entrypoint", &w->entrypoint);
	hash_list(&h, "env", &w->env);
	hash_list(&h, "binds", &w->binds);
	hash_list(&h, "networks", &w->networks);
	hash_list(&h, "health", &w->health_test);
	for (size_t i = 0; i < svc->ports_raw.n; i++)
		hash_str(&h, svc->ports_raw.v[i]);
	hash_str(&h, s->network_mode);
	hash_str(&h, s->restart);
	hash_str(&h, s->user);
	hash_str(&h, s->workdir);
	hash_str(&h, s->init ? "init" : "");
	for (size_t i = 0; i < svc->labels.n; i++) {
		hash_str(&h, svc->labels.items[i].key);
		hash_str(&h, svc->labels.items[i].value);
	}
	cd_sha256_final_hex(&h, w->fingerprint);

	for (size_t i = 0; i < svc->labels.n; i++)
		strlist_add(&w->labels, cd_xasprintf("%s=%s", svc->labels.items[i].key,
					   svc->labels.items[i].value));
	strlist_add(&w->labels, cd_xasprintf("corpdeploy.plan=%s", plan->name));
	strlist_add(&w->labels, cd_xasprintf("corpdeploy.release=%s", plan->release));
	strlist_add(&w->labels, cd_xasprintf("corpdeploy.service=%s", svc->name));
	strlist_add(&w->labels, cd_xasprintf("corpdeploy.config=%s", w->fingerprint));
	strlist_add(&w->labels, cd_xasprintf("corpdeploy.run=%s", ctx->run->run_id));
	strlist_add(&w->labels, cd_xasprintf("corpdeploy.image=%s", w->image_ref));
	s->labels = strlist_get(&w->labels);
}

int cd_deploy_probe_command(struct cd_docker *d, const struct cd_service *svc, const char *id,
	int64_t interval, struct cd_error *err)
{
	const struct cd_cmd *c = &svc->health->command;
	const char *sh[4] = { "/bin/sh", "-c", c->shell ? c->argv.v[0] : NULL, NULL };
	const char *const *argv = c->shell ? sh : c->argv.v;
	struct cd_docker_exec_result res;
	/*
	 * A probe may take its interval, and at least 5 s: an exec is three engine
	 * calls, each a new connection (over SSH, a new dial-stdio process), and a
	 * loaded machine is slow to start one.
	 */
	int64_t t = interval < 5000 ? 5000 : interval > 30000 ? 30000 : interval;
	int r = cd_docker_exec(d, id, argv, NULL, t, 4096, &res, err);
	if (r < 0)
		return r;
	if (res.exit_code != 0) {
		const char *tail = res.err.len ? res.err.buf : res.out.buf ? res.out.buf : "";
		r = cd_error_set(err, CD_EFAIL, "the health command exited with %d%s%.200s",
			res.exit_code, *tail ? ": " : "", tail);
	}
	cd_docker_exec_result_release(&res);
	return r;
}

/* Waits until the new container is healthy as the plan defines it, or says why not. */
static int wait_healthy(struct cd_step_ctx *ctx, struct cd_docker *d, const struct cd_service *svc,
	const char *id, struct cd_error *err)
{
	const struct cd_health *h = svc->health;
	int64_t start = cd_time_mono_ms();
	int64_t deadline = h ? start + h->timeout_ms : start + 30000;
	int64_t interval = h ? h->interval_ms : 250;
	struct cd_error last = CD_ERROR_INIT;
	int running_since_ok = 0;

	if (deadline > ctx->deadline_ms)
		deadline = ctx->deadline_ms;
	for (;;) {
		struct cd_docker_container c;
		int r = cd_docker_container_inspect(d, id, &c, err);
		if (r < 0)
			goto fail;
		if (!c.running && strcmp(c.status, "created") != 0) {
			struct cd_buf out = CD_BUF_INIT, eout = CD_BUF_INIT;
			cd_docker_container_logs(d, id, 5, 2048, &out, &eout, NULL);
			const char *tail = eout.len ? eout.buf : out.buf;
			r = cd_error_set(err, CD_EFAIL, "service '%s': the container exited with code %d%s%.400s",
				svc->name, c.exit_code, *tail ? "; last output: " : "", tail);
			cd_buf_release(&out);
			cd_buf_release(&eout);
			cd_docker_container_release(&c);
			goto fail;
		}
		int ok = 0;
		cd_error_release(&last);
		if (!h) {
			/* No check: running without a restart for a moment is the best we know. */
			ok = c.running && running_since_ok++ >= 2;
		} else if (c.running && h->kind == CD_HEALTH_COMMAND) {
			ok = cd_deploy_probe_command(d, svc, id, interval, &last) == 0;
		} else if (h->kind == CD_HEALTH_DOCKER || h->kind == CD_HEALTH_COMMAND) {
			ok = c.health && strcmp(c.health, "healthy") == 0;
			if (!c.health)
				cd_error_set(&last, CD_EFAIL, "the image has no HEALTHCHECK");
			else if (!ok)
				cd_error_set(&last, CD_EFAIL, "docker reports it %s", c.health);
		} else if (c.running && h->kind == CD_HEALTH_TCP) {
			ok = cd_tcp_probe(h->tcp, interval < 1000 ? 1000 : interval, &last) == 0;
		} else if (c.running && h->kind == CD_HEALTH_HTTP) {
			struct cd_http_request req = { .url = h->http, .timeout_ms = 2000 };
			struct cd_http_response resp;
			if (cd_http_do(&req, &resp, &last) == 0) {
				ok = resp.status == h->expect;
				if (!ok)
					cd_error_set(&last, CD_EFAIL, "%s answered %ld, expected %lld", h->http,
						resp.status, (long long)h->expect);
			}
			cd_http_response_release(&resp);
		}
		cd_docker_container_release(&c);
		if (ok) {
			char b[32];
			cd_run_note(ctx->run, "%s healthy after %s", svc->name,
				cd_duration_format(cd_time_mono_ms() - start, b, sizeof(b)));
			cd_error_release(&last);
			return 0;
		}
		if (cd_time_mono_ms() + interval > deadline || cd_run_stopping())
			break;
		cd_run_sleep(ctx->run, interval);
	}
	{
		char b[32];
		cd_error_set(err, CD_EFAIL, "service '%s' did not become healthy within %s%s%s", svc->name,
			cd_duration_format(cd_time_mono_ms() - start, b, sizeof(b)), last.msg ? ": " : "",
			last.msg ? last.msg : "");
	}
fail:
	cd_error_release(&last);
	return CD_EFAIL;
}

/*
 * Undo of "container.replace" {target, name, old_id, old_running}: whatever
 * holds the service's name now goes unless it is the previous container,
 * which gets its name back and is started again if it was running. Works
 * from any point of the replacement, and again after it worked.
 */
static const char *jstr(const cJSON *o, const char *k)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

int cd_deploy_undo(struct cd_run *run, const char *action, const cJSON *data, struct cd_error *err)
{
	const char *target = jstr(data, "target"), *name = jstr(data, "name");
	const char *old_id = jstr(data, "old_id");
	int old_running = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(data, "old_running"));
	struct cd_docker *d;
	struct cd_docker_container c;
	if (strcmp(action, "container.replace") != 0 || !target || !name)
		return cd_error_set(err, CD_EFAIL, "cannot undo '%s' of a deploy step", action);
	int r = cd_run_docker(run, target, &d, err);
	if (r < 0)
		return r;
	if ((r = cd_docker_container_inspect(d, name, &c, err)) == 0) {
		int ours = !old_id || strcmp(c.id, old_id) != 0;
		char *id = cd_xstrdup(c.id);
		cd_docker_container_release(&c);
		if (ours && (r = cd_docker_container_remove(d, id, 1, 0, err)) < 0 && r != CD_ENOTFOUND) {
			free(id);
			return r;
		}
		free(id);
	} else if (r != CD_ENOTFOUND) {
		return r;
	}
	cd_error_release(err);
	if (!old_id)
		return 0;
	if (cd_docker_container_inspect(d, old_id, &c, err) < 0)
		return cd_error_set(err, CD_EFAIL,
			"the previous container of '%s' (%.12s) is gone: %s; redeploy the previous "
			"release with `corpdeploy rollback --to`",
			name, old_id, err->msg);
	int renamed = strcmp(c.name, name) == 0;
	int running = c.running;
	cd_docker_container_release(&c);
	if (!renamed && (r = cd_docker_container_rename(d, old_id, name, err)) < 0)
		return r;
	if (!old_running)
		return 0;
	if (!running && (r = cd_docker_container_start(d, old_id, err)) < 0)
		return r;
	/*
	 * Put back is not done until it serves again. HTTP and TCP checks are the
	 * plan's; a command check may be the very one that failed the new release,
	 * so the previous container is only required to stay running.
	 */
	const struct cd_service *svc = cd_plan_service(run->plan,
		cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(data, "service")));
	if (!svc)
		return 0;
	struct cd_service restored = *svc;
	if (svc->health && svc->health->kind != CD_HEALTH_HTTP && svc->health->kind != CD_HEALTH_TCP)
		restored.health = NULL;
	struct cd_step_ctx ctx = { .run = run, .deadline_ms = cd_time_mono_ms() + 120000 };
	cd_buf_init(&ctx.message, 256);
	r = wait_healthy(&ctx, d, &restored, old_id, err);
	cd_buf_release(&ctx.message);
	return r;
}

/*
 * The replacement stays: the parked previous container goes, and so do
 * containers parked by runs whose journal is lost (a deleted state
 * directory), found by their labels and their "<name>-old-" names.
 */
int cd_deploy_finish(struct cd_run *run, const char *action, const cJSON *data, struct cd_error *err)
{
	const char *target = jstr(data, "target"), *old_id = jstr(data, "old_id");
	const char *name = jstr(data, "name"), *service = jstr(data, "service");
	struct cd_docker *d;
	if (strcmp(action, "container.replace") != 0 || !target || !name || !service)
		return 0;
	int r = cd_run_docker(run, target, &d, err);
	if (r == 0 && old_id && (r = cd_docker_container_remove(d, old_id, 1, 0, err)) == CD_ENOTFOUND)
		r = 0;
	if (r < 0)
		return r;
	char *plan_label = cd_xasprintf("corpdeploy.plan=%s", run->plan->name);
	char *svc_label = cd_xasprintf("corpdeploy.service=%s", service);
	char *parked = cd_xasprintf("%s-old-", name);
	const char *filters[] = { plan_label, svc_label, NULL };
	struct cd_docker_container *list = NULL;
	size_t n = 0;
	if (cd_docker_container_list(d, filters, &list, &n, NULL) == 0)
		for (size_t i = 0; i < n; i++)
			if (list[i].name && strncmp(list[i].name, parked, strlen(parked)) == 0 &&
				(!old_id || strcmp(list[i].id, old_id) != 0)) {
				cd_log_info("removing %s, left by an earlier run", list[i].name);
				cd_docker_container_remove(d, list[i].id, 1, 0, NULL);
			}
	cd_docker_container_list_free(list, n);
	free(parked);
	free(svc_label);
	free(plan_label);
	return 0;
}

static int ensure_networks_volumes(struct cd_step_ctx *ctx, struct cd_docker *d,
	const struct cd_service *svc, struct desired *w, struct cd_error *err)
{
	const struct cd_plan *plan = ctx->run->plan;
	char *label = cd_xasprintf("corpdeploy.plan=%s", plan->name);
	const char *labels[] = { label, NULL };
	int r = 0;
	for (size_t i = 0; i < w->networks.n && r == 0; i++)
		r = cd_docker_network_ensure(d, w->networks.v[i], labels, err);
	for (size_t i = 0; i < svc->volumes.n && r == 0; i++) {
		const char *v = svc->volumes.v[i], *colon = strchr(v, ':');
		char *src = cd_xstrndup(v, (size_t)(colon - v));
		if (is_named_volume(src)) {
			char *name = cd_deploy_scoped(plan, src);
			r = cd_docker_volume_ensure(d, name, labels, err);
			free(name);
		}
		free(src);
	}
	free(label);
	return r;
}

/*
 * The service's entry in the deploy step's details, for reports. "health" is
 * the state the run left it in: "healthy" once its check passed in this run
 * (or Docker's own check says so), "running" otherwise; the deploy fails
 * before a new container that never became healthy gets here.
 */
static cJSON *service_details(const struct cd_service *svc, const struct cd_deploy_want *w,
	const struct cd_docker_container *old, const char *new_id, const char *result,
	const char *health, int64_t healthy_after_ms)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", svc->name);
	cJSON_AddStringToObject(o, "container", w->name);
	cJSON_AddStringToObject(o, "container_id", new_id);
	if (old && old->image_id)
		cJSON_AddStringToObject(o, "image_before", old->image_id);
	else
		cJSON_AddNullToObject(o, "image_before");
	cJSON_AddStringToObject(o, "image_after", w->image_id);
	cJSON_AddStringToObject(o, "image", w->image_ref);
	if (w->release)
		cJSON_AddStringToObject(o, "release", w->release);
	cJSON_AddStringToObject(o, "result", result);
	cJSON_AddStringToObject(o, "health", health);
	cJSON_AddStringToObject(o, "health_check",
		svc->health ? cd_health_kind_names[svc->health->kind] : "none");
	if (healthy_after_ms >= 0)
		cJSON_AddNumberToObject(o, "healthy_after_ms", (double)healthy_after_ms);
	return o;
}

int cd_deploy_replace(struct cd_step_ctx *ctx, struct cd_docker *d, const struct cd_service *svc,
	const struct cd_deploy_want *want, struct cd_error *err)
{
	struct cd_run *run = ctx->run;
	struct cd_docker_container old;
	int have_old = 0, r;
	char *new_id = NULL;

	r = cd_docker_container_inspect(d, want->name, &old, err);
	if (r == 0) {
		have_old = 1;
		const char *fp = cd_docker_container_label(&old, "corpdeploy.config");
		if (old.running && fp && strcmp(fp, want->fingerprint) == 0 &&
			(!old.health || strcmp(old.health, "unhealthy") != 0)) {
			/* Same image and configuration, running: nothing to do. */
			cd_buf_addf(&ctx->message, "%s%s unchanged", ctx->message.len ? ", " : "", svc->name);
			ctx->details = service_details(svc, want, &old, old.id, "unchanged",
				old.health && strcmp(old.health, "healthy") == 0 ? "healthy" : "running", -1);
			r = 0;
			goto done;
		}
	} else if (r != CD_ENOTFOUND) {
		goto done;
	}
	cd_error_release(err);
	if (want->prepare && (r = want->prepare(ctx, d, want, err)) < 0)
		goto done;

	char *old_name = have_old ? cd_xasprintf("%s-old-%s", want->name, run->run_id) : NULL;
	cJSON *undo = cJSON_CreateObject();
	cJSON_AddStringToObject(undo, "target", svc->target);
	cJSON_AddStringToObject(undo, "service", svc->name);
	cJSON_AddStringToObject(undo, "name", want->name);
	if (have_old) {
		cJSON_AddStringToObject(undo, "old_id", old.id);
		cJSON_AddBoolToObject(undo, "old_running", old.running);
		cJSON_AddStringToObject(undo, "old_name", old_name);
		cJSON_AddStringToObject(undo, "old_image", old.image_id ? old.image_id : "");
	}
	/* What the release history keeps of the new container, to create it again one day. */
	cJSON_AddStringToObject(undo, "image_id", want->image_id);
	cJSON_AddStringToObject(undo, "image_ref", want->image_ref);
	cJSON_AddStringToObject(undo, "fingerprint", want->fingerprint);
	cJSON_AddItemToObject(undo, "spec", cJSON_Duplicate(want->spec, 1));
	r = cd_run_push_undo(run, ctx->step, "container.replace", undo, err,
		have_old ? "put back the previous container of '%s'" : "remove the new container of '%s'",
		svc->name);
	if (r == 0 && have_old) {
		if (old.running)
			r = cd_docker_container_stop(d, old.id, svc->stop_timeout_ms, err);
		if (r == 0)
			r = cd_docker_container_rename(d, old.id, old_name, err);
	}
	free(old_name);
	if (r < 0)
		goto done;
	if ((r = cd_docker_container_create_json(d, want->name, want->spec, &new_id, err)) < 0)
		goto done;
	if ((r = cd_docker_container_start(d, new_id, err)) < 0)
		goto done;
	int64_t started = cd_time_mono_ms();
	if ((r = wait_healthy(ctx, d, svc, new_id, err)) < 0)
		goto done;
	cd_buf_addf(&ctx->message, "%s%s %s", ctx->message.len ? ", " : "", svc->name,
		have_old ? "replaced" : "created");
	ctx->details = service_details(svc, want, have_old ? &old : NULL, new_id,
		have_old ? "replaced" : "created", svc->health ? "healthy" : "running",
		cd_time_mono_ms() - started);
done:
	if (have_old)
		cd_docker_container_release(&old);
	free(new_id);
	return r;
}

static int prepare_service(struct cd_step_ctx *ctx, struct cd_docker *d,
	const struct cd_deploy_want *want, struct cd_error *err)
{
	return ensure_networks_volumes(ctx, d, want->svc, want->arg, err);
}

int cd_deploy_service(struct cd_step_ctx *ctx, const struct cd_service *svc, struct cd_error *err)
{
	struct cd_run *run = ctx->run;
	const struct cd_plan *plan = run->plan;
	struct cd_docker *d;
	struct desired want = { 0 };
	int r;

	if ((r = cd_run_docker(run, svc->target, &d, err)) < 0)
		return r;
	want.name = cd_engine_container_name(plan, svc->name);
	want.image_ref = cd_deploy_image_ref(plan, svc);
	if ((r = get_image(ctx, d, svc, &want, err)) < 0)
		goto done;
	build_spec(ctx, svc, &want);
	cJSON *spec = cd_docker_container_spec_json(&want.spec, err);
	if (!spec) {
		r = CD_EFAIL;
		goto done;
	}
	struct cd_deploy_want w = { .svc = svc, .name = want.name, .spec = spec,
		.fingerprint = want.fingerprint, .image_id = want.image_id, .image_ref = want.image_ref,
		.release = plan->release, .prepare = prepare_service, .arg = &want };
	r = cd_deploy_replace(ctx, d, svc, &w, err);
	cJSON_Delete(spec);
done:
	desired_free(&want);
	return r;
}
