/*
 * run: a one-off command in a running service (in:), in a new container of a
 * service's image (image:), or on a target; with the command that undoes it.
 * A run marked as a migration records the schema version before and after.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "corpdeploy/backup.h"
#include "corpdeploy/docker.h"
#include "corpdeploy/engine.h"
#include "corpdeploy/ssh.h"
#include "corpdeploy/steps.h"
#include "deploy-internal.h"

static const struct cd_field migration_fields[] = {
	{ .key = "version_query", .type = CD_T_CMD,
		.offset = offsetof(struct cd_migration, version_query), .flags = CD_FIELD_REQUIRED },
	{ 0 },
};

static const struct cd_schema migration_schema = {
	.what = "migration",
	.size = sizeof(struct cd_migration),
	.fields = migration_fields,
};

static const struct cd_field run_fields[] = {
	{ .key = "in", .type = CD_T_NAME, .offset = offsetof(struct cd_step_run, in) },
	{ .key = "image", .type = CD_T_NAME, .offset = offsetof(struct cd_step_run, image) },
	{ .key = "undo", .type = CD_T_CMD, .offset = offsetof(struct cd_step_run, undo) },
	{ .key = "expect_exit", .type = CD_T_INT, .offset = offsetof(struct cd_step_run, expect_exit),
		.def = "0", .min = 0, .max = 255 },
	{ .key = "env", .type = CD_T_MAP, .offset = offsetof(struct cd_step_run, env) },
	{ .key = "migration", .type = CD_T_STRUCT, .offset = offsetof(struct cd_step_run, migration),
		.sub = &migration_schema },
	{ .key = "stdin_secret", .type = CD_T_STR, .offset = offsetof(struct cd_step_run, stdin_secret),
		.flags = CD_FIELD_RAW },
	{ 0 },
};

static const struct cd_schema run_schema = {
	.what = "run",
	.size = sizeof(struct cd_step_run),
	.fields = run_fields,
};

static int run_validate(struct cd_decoder *dec, const struct cd_node *map, void *args)
{
	const struct cd_step_run *r = args;
	int places = (r->in != NULL) + (r->image != NULL) + (cd_node_get(map, "target") != NULL);
	if (places > 1)
		return cd_decode_error(dec, map,
			"%s: a run step takes one of 'in', 'image' and 'target', not several",
			cd_decode_where(dec));
	return 0;
}

static int run_resolve(struct cd_decoder *dec, const struct cd_plan *plan, struct cd_step *step)
{
	const struct cd_step_run *r = step->args;
	int rc = cd_step_require_service(dec, plan, r->in, cd_node_get(step->node, "in"), "in");
	if (cd_step_require_service(dec, plan, r->image, cd_node_get(step->node, "image"), "image") < 0)
		rc = CD_EPLAN;
	if (r->stdin_secret) {
		size_t i;
		for (i = 0; i < plan->secrets.n; i++)
			if (strcmp(plan->secrets.v[i], r->stdin_secret) == 0)
				break;
		if (i == plan->secrets.n)
			rc = cd_decode_error(dec, cd_node_get(step->node, "stdin_secret"),
				"%s: stdin_secret '%s' is not declared in secrets", cd_decode_where(dec),
				r->stdin_secret);
	}
	return rc;
}

static void run_describe(const struct cd_step *step, struct cd_buf *out)
{
	const struct cd_step_run *r = step->args;
	cd_buf_adds(out, r->migration ? "migrate: " : "run ");
	cd_step_describe_cmd(&r->command, out);
	if (r->in)
		cd_buf_addf(out, " in %s", r->in);
	else if (r->image)
		cd_buf_addf(out, " in a new %s container", r->image);
	else if (step->target)
		cd_buf_addf(out, " on %s", step->target);
	else
		cd_buf_adds(out, " locally");
	if (r->undo.argv.n) {
		cd_buf_adds(out, "; undo: ");
		cd_step_describe_cmd(&r->undo, out);
	}
}

static const char *run_name(struct cd_arena *arena, const struct cd_step *step)
{
	const struct cd_step_run *r = step->args;
	if (!r->command.argv.n)
		return NULL;
	/* The program's name, without its directory: "alembic", "pg_dump". */
	const char *prog = r->command.argv.v[0];
	if (!r->command.shell) {
		const char *slash = strrchr(prog, '/');
		if (slash && slash[1])
			prog = slash + 1;
	} else {
		return cd_arena_strdup(arena, r->migration ? "migrate" : "run");
	}
	char *s = cd_xasprintf("%s-%s", r->migration ? "migrate" : "run", prog);
	const char *name = cd_arena_strdup(arena, s);
	free(s);
	return name;
}

#define RUN_OUTPUT_MAX (256 * 1024)

/* Where and how a run step's command (or its undo) executes. */
struct run_place {
	char *in;	/* exec in this container */
	char *image;	/* a one-off container of this image */
	char *target;	/* "local" docker target for the image's container */
	char *one_off;	/* name of the one-off container */
	char **networks; /* its networks, the first as its network mode; NULL: host */
	char *ssh;	/* an SSH host target: the command runs there */
	char **env;	/* "K=V", NULL-terminated */
	char *stdin_data;
};

static const char *const *cmd_argv(const struct cd_cmd *c, const char *sh[4])
{
	if (!c->shell)
		return c->argv.v;
	sh[0] = "/bin/sh", sh[1] = "-c", sh[2] = c->argv.v[0], sh[3] = NULL;
	return sh;
}

/* The plan's networks a one-off container joins; "bridge", "host" and "none" are Docker's own. */
static int ensure_networks(struct cd_run *run, struct cd_docker *d, char *const *networks,
	struct cd_error *err)
{
	char *label = cd_xasprintf("corpdeploy.plan=%s", run->plan->name);
	const char *labels[] = { label, NULL };
	int r = 0;
	for (char *const *n = networks; *n && r == 0; n++)
		if (strcmp(*n, "bridge") != 0 && strcmp(*n, "host") != 0 && strcmp(*n, "none") != 0)
			r = cd_docker_network_ensure(d, *n, labels, err);
	free(label);
	return r;
}

static int run_in_place(struct cd_run *run, const struct run_place *p, const char *const *argv,
	int64_t timeout_ms, int *ret_status, struct cd_buf *out, struct cd_buf *eout,
	struct cd_error *err)
{
	struct cd_docker *d;
	int r;
	if (p->ssh) {
		/* Every word quoted for the remote shell; the environment through env(1), secrets on stdin. */
		struct cd_buf line = CD_BUF_INIT;
		if (p->env && p->env[0]) {
			cd_buf_adds(&line, "env ");
			cd_ssh_quote_argv(&line, (const char *const *)p->env);
			cd_buf_addch(&line, ' ');
		}
		cd_ssh_quote_argv(&line, argv);
		r = cd_ssh_run_exec(run, p->ssh, line.buf, p->stdin_data, timeout_ms, RUN_OUTPUT_MAX,
			out, eout, ret_status, err);
		cd_buf_release(&line);
		return r;
	}
	if (!p->in && !p->image)
		return cd_proc_run(argv, (const char *const *)p->env, p->stdin_data, timeout_ms,
			RUN_OUTPUT_MAX, out, eout, ret_status, err);
	if ((r = cd_run_docker(run, p->target, &d, err)) < 0)
		return r;
	if (p->in) {
		struct cd_docker_exec_result res;
		r = cd_docker_exec(d, p->in, argv, (const char *const *)p->env, timeout_ms, RUN_OUTPUT_MAX,
			&res, err);
		if (r == 0) {
			*ret_status = res.exit_code;
			*out = res.out;
			*eout = res.err;
		}
		return r;
	}
	/*
	 * A one-off container: created, run to its end, its output kept, removed.
	 * It joins its service's networks, so a migration reaches the database by
	 * the name the service would use; without any, it shares this machine's.
	 */
	/* Labelled apart from the services' containers: `status` and cleanups pass it by. */
	char *label = cd_xasprintf("corpdeploy.one-off=%s", run->plan->name);
	const char *labels[] = { label, NULL };
	struct cd_docker_container_spec spec = { .image = p->image, .cmd = argv,
		.env = (const char *const *)p->env, .network_mode = "host", .stop_timeout_ms = -1,
		.labels = labels };
	if (p->networks && p->networks[0]) {
		spec.network_mode = p->networks[0];
		spec.networks = p->networks[1] ? (const char *const *)p->networks + 1 : NULL;
		if ((r = ensure_networks(run, d, p->networks, err)) < 0) {
			free(label);
			return r;
		}
	}
	char *id = NULL;
	cd_docker_container_remove(d, p->one_off, 1, 0, NULL);
	r = cd_docker_container_create(d, p->one_off, &spec, &id, err);
	free(label);
	if (r < 0)
		return r;
	if ((r = cd_docker_container_start(d, id, err)) == 0 &&
		(r = cd_docker_container_wait(d, id, timeout_ms, ret_status, err)) == 0)
		r = cd_docker_container_logs(d, id, 200, RUN_OUTPUT_MAX, out, eout, err);
	cd_docker_container_remove(d, id, 1, 0, NULL);
	free(id);
	return r;
}

static void strv_free(char **v)
{
	for (char **e = v; e && *e; e++)
		free(*e);
	free(v);
}

static void run_place_free(void *p)
{
	struct run_place *pl = p;
	if (!pl)
		return;
	free(pl->in);
	free(pl->image);
	free(pl->target);
	free(pl->one_off);
	strv_free(pl->networks);
	free(pl->ssh);
	for (char **e = pl->env; e && *e; e++)
		free(*e);
	free(pl->env);
	free(pl->stdin_data);
	free(pl);
}

/* The networks of svc's one-off containers, as run_place.networks; NULL: host. */
static char **one_off_networks(const struct cd_plan *plan, const struct cd_service *svc)
{
	static const char *const modes[] = { "bridge", "host", "none" };
	if (!svc || (svc->network_mode < 0 && svc->networks.n == 0))
		return NULL;
	if (svc->network_mode >= 0) {
		char **v = cd_xcalloc(2, sizeof(char *));
		v[0] = cd_xstrdup(modes[svc->network_mode]);
		return v;
	}
	char **v = cd_xcalloc(svc->networks.n + 1, sizeof(char *));
	for (size_t i = 0; i < svc->networks.n; i++)
		v[i] = cd_deploy_scoped(plan, svc->networks.v[i]);
	return v;
}

static struct run_place *run_place_new(struct cd_step_ctx *ctx)
{
	const struct cd_step_run *r = ctx->step->args;
	const struct cd_plan *plan = ctx->run->plan;
	struct run_place *p = cd_xcalloc(1, sizeof(*p));
	const char *svc_name = r->in ? r->in : r->image;
	const struct cd_service *svc = svc_name ? cd_plan_service(plan, svc_name) : NULL;
	p->target = cd_xstrdup(svc ? svc->target : "local");
	if (!svc && cd_ssh_is_remote(plan, ctx->step->target))
		p->ssh = cd_xstrdup(ctx->step->target);
	if (r->in)
		p->in = cd_engine_container_name(plan, r->in);
	if (r->image) {
		p->image = cd_deploy_image_ref(plan, svc);
		p->networks = one_off_networks(plan, svc);
		p->one_off = cd_xasprintf("%s-%s-run-%s", plan->name, ctx->step->name, ctx->run->run_id);
		for (char *c = p->one_off; *c; c++)
			if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
				    *c == '-' || *c == '_' || *c == '.'))
				*c = '-';
	}
	/* A one-off container gets its service's environment, then the step's. */
	size_t n = (r->image && svc ? svc->env.n : 0) + r->env.n;
	p->env = cd_xcalloc(n + 1, sizeof(char *));
	size_t k = 0;
	for (size_t i = 0; r->image && svc && i < svc->env.n; i++)
		p->env[k++] = cd_xasprintf("%s=%s", svc->env.items[i].key, svc->env.items[i].value);
	for (size_t i = 0; i < r->env.n; i++)
		p->env[k++] = cd_xasprintf("%s=%s", r->env.items[i].key, r->env.items[i].value);
	if (r->stdin_secret) {
		const char *v = cd_run_env(ctx->run, r->stdin_secret);
		p->stdin_data = cd_xstrdup(v ? v : "");
	}
	return p;
}

/*
 * Undo of "command": the step's undo command, where the step ran, from the
 * journal: {argv, in, image, target, one_off, env, timeout_ms}.
 */
static cJSON *strv_json(char *const *v)
{
	cJSON *a = cJSON_CreateArray();
	for (; v && *v; v++)
		cJSON_AddItemToArray(a, cJSON_CreateString(*v));
	return a;
}

static char **json_strv(const cJSON *a)
{
	char **v = cd_xcalloc((size_t)cJSON_GetArraySize(a) + 1, sizeof(char *));
	size_t n = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, a)
		if (cJSON_IsString(e))
			v[n++] = cd_xstrdup(e->valuestring);
	return v;
}

static char *json_dup(const cJSON *o, const char *k)
{
	const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
	return v ? cd_xstrdup(v) : NULL;
}

static cJSON *undo_record(const struct run_place *p, const struct cd_cmd *undo, int64_t timeout_ms)
{
	const char *sh[4];
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "argv", strv_json((char *const *)cmd_argv(undo, sh)));
	if (p->in)
		cJSON_AddStringToObject(o, "in", p->in);
	if (p->image)
		cJSON_AddStringToObject(o, "image", p->image);
	cJSON_AddStringToObject(o, "target", p->target);
	if (p->one_off)
		cJSON_AddStringToObject(o, "one_off", p->one_off);
	if (p->networks)
		cJSON_AddItemToObject(o, "networks", strv_json(p->networks));
	if (p->ssh)
		cJSON_AddStringToObject(o, "ssh", p->ssh);
	cJSON_AddItemToObject(o, "env", strv_json(p->env));
	cJSON_AddNumberToObject(o, "timeout_ms", (double)timeout_ms);
	return o;
}

static int run_undo_down(struct cd_run *run, const cJSON *down, struct cd_error *err);

static int run_undo(struct cd_run *run, const char *action, const cJSON *data, struct cd_error *err)
{
	if (strcmp(action, "migration") == 0)
		return cd_migration_undo(run, data, run_undo_down, err);
	if (strcmp(action, "command") != 0)
		return cd_error_set(err, CD_EFAIL, "cannot undo '%s' of a run step", action);
	struct run_place *place = cd_xcalloc(1, sizeof(*place));
	place->in = json_dup(data, "in");
	place->image = json_dup(data, "image");
	place->target = json_dup(data, "target");
	place->one_off = json_dup(data, "one_off");
	if (cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(data, "networks")))
		place->networks = json_strv(cJSON_GetObjectItemCaseSensitive(data, "networks"));
	place->ssh = json_dup(data, "ssh");
	place->env = json_strv(cJSON_GetObjectItemCaseSensitive(data, "env"));
	char **argv = json_strv(cJSON_GetObjectItemCaseSensitive(data, "argv"));
	int64_t timeout_ms =
		(int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(data, "timeout_ms"));
	struct cd_buf out = CD_BUF_INIT, eout = CD_BUF_INIT;
	int status = -1, r;
	if (!argv[0] || !place->target)
		r = cd_error_set(err, CD_EFAIL, "the undo record of a run step has no command");
	else
		r = run_in_place(run, place, (const char *const *)argv,
			timeout_ms > 0 ? timeout_ms : 600000, &status, &out, &eout, err);
	if (r == 0 && status != 0)
		r = cd_error_set(err, CD_EFAIL, "undo command exited with %d: %.300s", status,
			eout.len ? eout.buf : out.buf ? out.buf : "");
	cd_buf_release(&out);
	cd_buf_release(&eout);
	strv_free(argv);
	run_place_free(place);
	return r;
}

static int run_undo_down(struct cd_run *run, const cJSON *down, struct cd_error *err)
{
	return run_undo(run, "command", down, err);
}

/* A migration's schema version (see cd_migration_version), queried where the step runs. */
static int migration_version(struct cd_step_ctx *ctx, const struct run_place *place, char **ret,
	struct cd_error *err)
{
	const struct cd_step_run *r = ctx->step->args;
	const char *sh[4];
	struct cd_buf out = CD_BUF_INIT, eout = CD_BUF_INIT;
	int status = -1;
	int rc = run_in_place(ctx->run, place, cmd_argv(&r->migration->version_query, sh),
		cd_run_left(ctx->deadline_ms), &status, &out, &eout, err);
	if (rc == 0 && status != 0)
		rc = cd_error_set(err, CD_EFAIL, "the migration's version_query exited with %d: %.300s",
			status, eout.len ? eout.buf : out.buf);
	if (rc == 0)
		*ret = cd_migration_version(out.buf);
	cd_buf_release(&out);
	cd_buf_release(&eout);
	return rc;
}

/*
 * A migration pushes one record with both ways back (its down command and
 * this run's dump), and keeps the versions before and after in its details.
 */
static int migration_begin(struct cd_step_ctx *ctx, const struct run_place *place, char **ret_before,
	struct cd_error *err)
{
	const struct cd_step_run *r = ctx->step->args;
	int rc = migration_version(ctx, place, ret_before, err);
	if (rc < 0)
		return rc;
	cJSON *down = r->undo.argv.n ? undo_record(place, &r->undo,
		ctx->step->timeout_ms > 0 ? ctx->step->timeout_ms : 600000) : NULL;
	return cd_run_push_undo(ctx->run, ctx->step, "migration",
		cd_migration_undo_data(ctx, *ret_before, down), err,
		"take migration '%s' back to version %s", ctx->step->name,
		**ret_before ? *ret_before : "(none)");
}

static int run_once(struct cd_step_ctx *ctx, const struct run_place *place,
	struct cd_buf *message, struct cd_error *err)
{
	const struct cd_step_run *r = ctx->step->args;
	const char *sh[4];
	struct cd_buf out = CD_BUF_INIT, eout = CD_BUF_INIT;
	int status = -1, rc;
	char *version_before = NULL;

	if (r->migration) {
		if ((rc = migration_begin(ctx, place, &version_before, err)) < 0) {
			free(version_before);
			return rc;
		}
	} else if (r->undo.argv.n) {
		struct cd_buf d = CD_BUF_INIT;
		cd_step_describe_cmd(&r->undo, &d);
		rc = cd_run_push_undo(ctx->run, ctx->step, "command",
			undo_record(place, &r->undo,
				ctx->step->timeout_ms > 0 ? ctx->step->timeout_ms : 600000),
			err, "run %s%s%s", d.buf, place->ssh ? " on " : "", place->ssh ? place->ssh : "");
		cd_buf_release(&d);
		if (rc < 0)
			return rc;
	} else {
		/* A command may change anything: without an undo, a failure later is still a change. */
		cd_run_mark_changed(ctx->run);
	}
	rc = run_in_place(ctx->run, place, cmd_argv(&r->command, sh), cd_run_left(ctx->deadline_ms),
		&status, &out, &eout, err);
	if (rc == 0 && status != r->expect_exit) {
		const char *tail = eout.len ? eout.buf : out.buf;
		size_t tl = strlen(tail);
		rc = cd_error_set(err, CD_EFAIL, "exited with %d, expected %lld%s%.400s", status,
			(long long)r->expect_exit, tl ? ": " : "", tl > 400 ? tail + tl - 400 : tail);
	} else if (rc == 0) {
		size_t ol = out.len;
		while (ol && (out.buf[ol - 1] == '\n' || out.buf[ol - 1] == '\r'))
			ol--;
		const char *last = out.buf;
		for (size_t i = 0; i < ol; i++)
			if (out.buf[i] == '\n')
				last = out.buf + i + 1;
		if (ol)
			cd_buf_addf(message, "exit %d: %.*s", status, (int)(out.buf + ol - last), last);
		else
			cd_buf_addf(message, "exit %d", status);
	}
	if (r->migration && rc == 0) {
		char *after = NULL;
		if ((rc = migration_version(ctx, place, &after, err)) == 0) {
			ctx->details = cd_migration_details(status, version_before, after);
			cd_buf_addf(message, " (version %s -> %s)",
				*version_before ? version_before : "(none)", after);
		}
		free(after);
	} else if (r->migration && status >= 0) {
		/* Failed half way: the report still shows where it started. */
		ctx->details = cd_migration_details(status, version_before, "");
	}
	free(version_before);
	cd_buf_release(&out);
	cd_buf_release(&eout);
	return rc;
}

/* One host of a group: the same place, on that host. */
struct run_fanout {
	struct cd_step_ctx *ctx;
	const struct run_place *place;
};

static int run_on_host(void *arg, const char *host, struct cd_buf *message, struct cd_error *err)
{
	struct run_fanout *f = arg;
	struct run_place on_host = *f->place;
	on_host.ssh = (char *)host;
	return run_once(f->ctx, &on_host, message, err);
}

static int run_apply(struct cd_step_ctx *ctx, struct cd_error *err)
{
	struct run_place *place = run_place_new(ctx);
	int rc;
	if (place->ssh) {
		struct run_fanout f = { ctx, place };
		rc = cd_ssh_fanout(ctx->run, place->ssh, run_on_host, &f, &ctx->message, err);
	} else {
		rc = run_once(ctx, place, &ctx->message, err);
	}
	run_place_free(place);
	return rc;
}

const struct cd_step_kind cd_step_kind_run = {
	.name = "run",
	.main = { .key = "run", .flags = CD_FIELD_REQUIRED, .type = CD_T_CMD, .offset = offsetof(struct cd_step_run, command) },
	.schema = &run_schema,
	.validate = run_validate,
	.resolve = run_resolve,
	.describe = run_describe,
	.default_name = run_name,
	.apply = run_apply,
	.undo = run_undo,
};
