/*
 * Loading a plan: YAML, then the head (version, name, release, env file,
 * secrets, vars), then secrets registered with the redactor, then the body
 * decoded with interpolation, then the checks across objects (references,
 * dependency cycles, duplicate names and ports).
 */
#include <stdlib.h>
#include <string.h>

#include "corpdeploy/log.h"
#include "corpdeploy/plan-internal.h"
#include "corpdeploy/steps.h"
#include "corpdeploy/vcs.h"

static const char *const deferred_namespaces[] = { "previous.", "capture.", "steps.", NULL };

struct lookup_ctx {
	struct cd_plan *plan;
	const struct cd_plan_opts *opts;
	int vars_ready;	      /* vars may be used (not while expanding vars themselves) */
	struct cd_kvs missing; /* secrets with no value (offline): expand to ${NAME} */
};

static const char *kvs_get(const struct cd_kvs *kvs, const char *key)
{
	for (size_t i = 0; i < kvs->n; i++)
		if (strcmp(kvs->items[i].key, key) == 0)
			return kvs->items[i].value;
	return NULL;
}

static const char *env_lookup(const struct lookup_ctx *c, const char *name)
{
	const char *v = kvs_get(&c->plan->env_file_values, name);
	if (v)
		return v;
	v = c->opts && c->opts->getenv ? c->opts->getenv(name) : getenv(name);
	if (v)
		return v;
	return kvs_get(&c->missing, name);
}

static const char *plan_lookup(void *ctx, const char *name)
{
	struct lookup_ctx *c = ctx;
	if (strcmp(name, "release") == 0)
		return c->plan->release;
	if (strcmp(name, "name") == 0)
		return c->plan->name;
	if (c->vars_ready) {
		const char *v = kvs_get(&c->plan->vars, name);
		if (v)
			return v;
	}
	return env_lookup(c, name);
}

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return cd_xstrdup(".");
	if (slash == path)
		return cd_xstrdup("/");
	return cd_xstrndup(path, (size_t)(slash - path));
}

static char *join_path(const char *dir, const char *file)
{
	if (file[0] == '/' || strcmp(dir, ".") == 0)
		return cd_xstrdup(file);
	return cd_xasprintf("%s/%s", dir, file);
}

static int strv_has(const struct cd_strv *v, const char *s)
{
	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->v[i], s) == 0)
			return 1;
	return 0;
}

static void plan_load_env(struct cd_decoder *dec, struct cd_plan *plan, unsigned flags)
{
	if (!plan->env_file)
		return;
	char *path = join_path(plan->dir, plan->env_file);
	const struct cd_node *at = cd_node_get(plan->node, "env_file");
	int r = plan_env_load(&plan->arena, path, dec->diags, &plan->env_file_values);
	if (r == CD_ENOTFOUND || r == CD_EIO) {
		if (flags & CD_PLAN_LOAD_OFFLINE)
			cd_decode_warning(dec, at, "env_file '%s' cannot be read; its values are unset",
				path);
		else
			cd_decode_error(dec, at, "env_file '%s' cannot be read", path);
	}
	free(path);
}

static void plan_register_secrets(struct cd_decoder *dec, struct lookup_ctx *lc, unsigned flags)
{
	struct cd_plan *plan = lc->plan;
	lc->missing.items = cd_arena_alloc(&plan->arena,
		(plan->secrets.n + 1) * sizeof(*lc->missing.items));
	if (!lc->missing.items)
		cd_oom();
	for (size_t i = 0; i < plan->secrets.n; i++) {
		const char *name = plan->secrets.v[i];
		const struct cd_node *at = plan->secrets.nodes[i];
		for (size_t j = 0; j < i; j++)
			if (strcmp(plan->secrets.v[j], name) == 0)
				cd_decode_error(dec, at, "secrets: '%s' is listed twice", name);
		const char *value = env_lookup(lc, name);
		if (value && *value) {
			cd_redact_add(value);
			if (strlen(value) < CD_SECRET_MIN_LEN)
				cd_decode_warning(dec, at,
					"secret '%s' is shorter than %d characters: redacting it may hide "
					"unrelated text",
					name, CD_SECRET_MIN_LEN);
			continue;
		}
		if (!(flags & CD_PLAN_LOAD_OFFLINE))
			cd_decode_error(dec, at, "secret '%s' has no value (set it in %s or the environment)",
				name, plan->env_file ? plan->env_file : "an env_file");
		/* Either way it expands to ${NAME}: one message for one missing value. */
		struct cd_kv *kv = &lc->missing.items[lc->missing.n++];
		kv->key = name;
		char *ph = cd_xasprintf("${%s}", name);
		kv->value = cd_arena_strdup(&plan->arena, ph);
		free(ph);
	}
	if (lc->missing.n && (flags & CD_PLAN_LOAD_OFFLINE)) {
		/* One line for all of them: lint runs in CI, where secrets are absent by design. */
		struct cd_buf names = CD_BUF_INIT;
		for (size_t i = 0; i < lc->missing.n; i++)
			cd_buf_addf(&names, "%s%s", i ? ", " : "", lc->missing.items[i].key);
		cd_decode_warning(dec, cd_node_get(plan->node, "secrets"),
			"%zu secret%s without a value here, shown as ${NAME}: %s", lc->missing.n,
			lc->missing.n == 1 ? "" : "s", names.buf);
		cd_buf_release(&names);
	}
}

static void plan_expand_vars(struct cd_decoder *dec, struct cd_plan *plan)
{
	for (size_t i = 0; i < plan->vars.n; i++) {
		struct cd_kv *kv = &plan->vars.items[i];
		size_t saved;
		cd_decode_push(dec, "vars", &saved);
		struct cd_node tmp = *kv->node;
		tmp.value = kv->value;
		cd_decode_string(dec, &tmp, &kv->value);
		cd_decode_pop(dec, saved);
	}
}

static int valid_release(const char *s)
{
	size_t n = 0;
	if (!*s || *s == '.' || *s == '-')
		return 0;
	for (; *s; s++, n++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
			    *s == '_' || *s == '.' || *s == '-'))
			return 0;
	return n <= 128;
}

static void plan_resolve_release(struct cd_decoder *dec, struct cd_plan *plan)
{
	const struct cd_node *at = cd_node_get(plan->node, "release");
	if (!plan->release_spec)
		return;
	if (strcmp(plan->release_spec, "git") != 0) {
		if (!valid_release(plan->release_spec))
			cd_decode_error(dec, at,
				"release: '%s' is not a valid release id (letters, digits, '_', '.', '-'; "
				"at most 128; it becomes an image tag)",
				plan->release_spec);
		plan->release = plan->release_spec;
		return;
	}
	struct cd_vcs_info info;
	struct cd_error err = CD_ERROR_INIT;
	if (cd_vcs_describe(plan->dir, &info, &err) < 0) {
		cd_decode_error(dec, at ? at : plan->node,
			"release: git: %s (give a literal release like \"1.0.0\" instead)", err.msg);
		cd_error_release(&err);
		plan->release = "unknown";
		return;
	}
	char *id = cd_vcs_release_id(&info);
	plan->release = cd_arena_strdup(&plan->arena, id);
	free(id);
	cd_vcs_info_release(&info);
}

/* The implicit `local` target: the engine at DOCKER_HOST, or the local socket. */
static void plan_add_local_target(struct cd_plan *plan, const struct cd_plan_opts *opts)
{
	if (cd_plan_target(plan, "local"))
		return;
	struct cd_target *t = cd_arena_alloc(&plan->arena, sizeof(*t));
	void **items = cd_arena_alloc(&plan->arena, (plan->targets.n + 1) * sizeof(void *));
	if (!t || !items)
		cd_oom();
	const char *dh = opts && opts->getenv ? opts->getenv("DOCKER_HOST") : getenv("DOCKER_HOST");
	t->node = plan->node;
	t->name = "local";
	t->kind = CD_TARGET_DOCKER;
	t->docker = cd_arena_strdup(&plan->arena, dh && *dh ? dh : "unix:///var/run/docker.sock");
	t->port = t->parallel = CD_UNSET;
	t->connect_timeout_ms = 10000;
	t->serial.count = t->max_fail.count = CD_UNSET;
	t->serial.pct = t->max_fail.pct = CD_UNSET;
	if (plan->targets.n)
		memcpy(items, plan->targets.items, plan->targets.n * sizeof(void *));
	items[plan->targets.n++] = t;
	plan->targets.items = items;
}

static void check_secret_ref(struct cd_decoder *dec, const struct cd_plan *plan, const char *name,
	const struct cd_node *at, const char *key)
{
	if (name && !strv_has(&plan->secrets, name))
		cd_decode_error(dec, at, "%s.%s: '%s' is not declared in secrets", cd_decode_where(dec),
			key, name);
}

static void plan_check_targets(struct cd_decoder *dec, struct cd_plan *plan)
{
	for (size_t i = 0; i < plan->targets.n; i++) {
		struct cd_target *t = CD_LIST_AT(&plan->targets, struct cd_target, i);
		size_t saved;
		cd_decode_push(dec, "targets", &saved);
		size_t s2;
		cd_decode_push(dec, t->name, &s2);
		check_secret_ref(dec, plan, t->passphrase_secret, cd_node_get(t->node, "passphrase_secret"),
			"passphrase_secret");
		for (size_t h = 0; h < t->hosts.n; h++) {
			const struct cd_target *m = cd_plan_target(plan, t->hosts.v[h]);
			if (!m)
				cd_step_require_target(dec, plan, t->hosts.v[h], t->hosts.nodes[h]);
			else if (m->kind != CD_TARGET_SSH)
				cd_decode_error(dec, t->hosts.nodes[h],
					"%s.hosts: '%s' is not an ssh target", cd_decode_where(dec),
					m->name);
		}
		cd_decode_pop(dec, saved);
	}
}

enum { WHITE, GREY, BLACK };

/* Depth-first search for depends_on cycles; also numbers services in dependency order. */
static int visit_service(struct cd_decoder *dec, struct cd_plan *plan, struct cd_service *s,
	int *colour, struct cd_service **stack, size_t depth, size_t *order)
{
	size_t idx = 0;
	while (CD_LIST_AT(&plan->services, struct cd_service, idx) != s)
		idx++;
	if (colour[idx] == BLACK)
		return 0;
	if (colour[idx] == GREY) {
		struct cd_buf cycle = CD_BUF_INIT;
		size_t from = 0;
		while (stack[from] != s)
			from++;
		for (size_t i = from; i < depth; i++)
			cd_buf_addf(&cycle, "%s -> ", stack[i]->name);
		cd_buf_adds(&cycle, s->name);
		cd_decode_error(dec, cd_node_get(stack[depth - 1]->node, "depends_on"),
			"services: dependency cycle: %s", cycle.buf);
		cd_buf_release(&cycle);
		return CD_EPLAN;
	}
	colour[idx] = GREY;
	stack[depth] = s;
	int r = 0;
	for (size_t i = 0; i < s->depends_on.n && r == 0; i++) {
		struct cd_service *d = cd_plan_service(plan, s->depends_on.v[i]);
		if (d && d != s) /* depending on itself is reported on its own */
			r = visit_service(dec, plan, d, colour, stack, depth + 1, order);
	}
	colour[idx] = BLACK;
	s->order = (*order)++;
	return r;
}

static void plan_check_services(struct cd_decoder *dec, struct cd_plan *plan)
{
	size_t n = plan->services.n;
	for (size_t i = 0; i < n; i++) {
		struct cd_service *s = CD_LIST_AT(&plan->services, struct cd_service, i);
		size_t saved;
		cd_decode_push(dec, "services", &saved);
		size_t s2;
		cd_decode_push(dec, s->name, &s2);
		const struct cd_target *t = s->target ? cd_plan_target(plan, s->target) : NULL;
		if (s->target && !t)
			cd_step_require_target(dec, plan, s->target, cd_node_get(s->node, "target"));
		else if (t && t->kind != CD_TARGET_DOCKER && !(t->kind == CD_TARGET_SSH && t->docker))
			cd_decode_error(dec, cd_node_get(s->node, "target"),
				"%s.target: '%s' has no Docker engine (give it docker: ssh)",
				cd_decode_where(dec), t->name);
		for (size_t j = 0; j < s->depends_on.n; j++) {
			if (strcmp(s->depends_on.v[j], s->name) == 0)
				cd_decode_error(dec, s->depends_on.nodes[j],
					"%s.depends_on: a service cannot depend on itself",
					cd_decode_where(dec));
			else
				cd_step_require_service(dec, plan, s->depends_on.v[j],
					s->depends_on.nodes[j], "depends_on");
		}
		if (s->proxy) {
			if (strcmp(s->proxy, s->name) == 0)
				cd_decode_error(dec, cd_node_get(s->node, "proxy"),
					"%s.proxy: a service cannot be its own proxy", cd_decode_where(dec));
			else
				cd_step_require_service(dec, plan, s->proxy, cd_node_get(s->node, "proxy"),
					"proxy");
		}
		if (s->registry_auth)
			check_secret_ref(dec, plan, s->registry_auth->password_secret,
				cd_node_get(s->registry_auth->node, "password_secret"),
				"registry_auth.password_secret");
		/* Two services publishing the same address on one target collide at run time. */
		for (size_t p = 0; s->ports && p < s->ports_raw.n; p++)
			for (size_t k = 0; k < i; k++) {
				struct cd_service *o = CD_LIST_AT(&plan->services, struct cd_service, k);
				if (!o->ports || !o->target || !s->target || strcmp(o->target, s->target) != 0)
					continue;
				for (size_t q = 0; q < o->ports_raw.n; q++)
					/* A port that did not parse has no proto and was reported already. */
					if (o->ports[q].proto && s->ports[p].proto &&
						o->ports[q].host_port == s->ports[p].host_port &&
						strcmp(o->ports[q].proto, s->ports[p].proto) == 0 &&
						(!o->ports[q].host_ip || !s->ports[p].host_ip ||
							strcmp(o->ports[q].host_ip, s->ports[p].host_ip) == 0))
						cd_decode_error(dec, s->ports_raw.nodes[p],
							"%s.ports: port %d is also published by service '%s'",
							cd_decode_where(dec), s->ports[p].host_port, o->name);
			}
		cd_decode_pop(dec, saved);
	}
	int *colour = cd_xcalloc(n + 1, sizeof(int));
	struct cd_service **stack = cd_xcalloc(n + 1, sizeof(*stack));
	size_t order = 0;
	for (size_t i = 0; i < n; i++)
		if (visit_service(dec, plan, CD_LIST_AT(&plan->services, struct cd_service, i), colour,
			    stack, 0, &order) < 0)
			break;
	free(colour);
	free(stack);
}

/* Every step in plan order, parallel groups' members included. */
static void collect_steps(const struct cd_list *steps, struct cd_step ***all, size_t *n, size_t *alloc)
{
	for (size_t i = 0; i < steps->n; i++) {
		struct cd_step *s = CD_LIST_AT(steps, struct cd_step, i);
		if (*n == *alloc) {
			*alloc = *alloc ? *alloc * 2 : 32;
			*all = cd_xreallocarray(*all, *alloc, sizeof(**all));
		}
		(*all)[(*n)++] = s;
		if (s->kind && strcmp(s->kind->name, "parallel") == 0)
			collect_steps(&((struct cd_step_parallel *)s->args)->steps, all, n, alloc);
	}
}

static void plan_check_phases(struct cd_decoder *dec, struct cd_plan *plan)
{
	struct cd_step **all = NULL;
	size_t n = 0, alloc = 0;

	const struct cd_node *phases = cd_node_get(plan->node, "phases");
	if (!plan->phases.n && phases && (phases->kind == CD_NODE_SEQ || cd_node_is_null(phases)))
		cd_decode_error(dec, cd_node_get(plan->node, "phases"),
			"phases: a plan needs at least one phase");

	for (size_t i = 0; i < plan->phases.n; i++) {
		struct cd_phase *p = CD_LIST_AT(&plan->phases, struct cd_phase, i);
		for (size_t j = 0; p->name && j < i; j++) {
			struct cd_phase *q = CD_LIST_AT(&plan->phases, struct cd_phase, j);
			if (q->name && strcmp(p->name, q->name) == 0)
				cd_decode_error(dec, cd_node_get(p->node, "name"),
					"phases: phase name '%s' is used twice (first at line %u)", p->name,
					q->node->line);
		}
		collect_steps(&p->steps, &all, &n, &alloc);
	}
	/* Explicit names must be unique; derived ones get a suffix instead. */
	for (size_t i = 0; i < n; i++) {
		struct cd_step *s = all[i];
		if (!s->name)
			continue;
		int explicit_name = cd_node_get(s->node, "name") != NULL;
		unsigned dup = 1;
		for (size_t j = 0; j < i; j++) {
			if (!all[j]->name || strcmp(all[j]->name, s->name) != 0)
				continue;
			if (explicit_name) {
				cd_decode_error(dec, cd_node_get(s->node, "name"),
					"step name '%s' is used twice (first at line %u)", s->name,
					all[j]->node->line);
				break;
			}
			dup++;
		}
		while (!explicit_name && dup > 1) {
			char *name = cd_xasprintf("%s-%u", s->name, dup);
			size_t j;
			for (j = 0; j < n; j++)
				if (all[j]->name && strcmp(all[j]->name, name) == 0)
					break;
			if (j == n) {
				s->name = cd_arena_strdup(&plan->arena, name);
				dup = 0;
			} else {
				dup++;
			}
			free(name);
		}
	}
	for (size_t i = 0; i < plan->phases.n; i++) {
		struct cd_phase *p = CD_LIST_AT(&plan->phases, struct cd_phase, i);
		size_t saved;
		cd_decode_push(dec, "phases", &saved);
		size_t s2;
		cd_decode_push(dec, p->name ? p->name : "?", &s2);
		for (size_t j = 0; j < p->steps.n; j++)
			cd_step_resolve(dec, plan, CD_LIST_AT(&p->steps, struct cd_step, j));
		cd_decode_pop(dec, saved);
	}
	free(all);
}

static struct cd_plan *plan_new(const char *path)
{
	struct cd_plan *plan = cd_xcalloc(1, sizeof(*plan));
	plan->arena.limit = CD_PLAN_MAX_MEMORY;
	plan->path = cd_arena_strdup(&plan->arena, path);
	char *dir = dir_of(path);
	plan->dir = cd_arena_strdup(&plan->arena, dir);
	free(dir);
	return plan;
}

/* Orders diagnostics from start on by file (in order of first mention), line and column. */
static void sort_diags(struct cd_diags *d, size_t start)
{
	/* Insertion sort: stable, and plans have few diagnostics. */
	for (size_t i = start + 1; i < d->n; i++) {
		struct cd_diag g = d->items[i];
		size_t j = i;
		while (j > start) {
			const struct cd_diag *p = &d->items[j - 1];
			int same_file = (p->file && g.file && strcmp(p->file, g.file) == 0) || p->file == g.file;
			/* No line: about the whole file, or "too many errors"; it goes last. */
			unsigned pl = p->line ? p->line : ~0u, gl = g.line ? g.line : ~0u;
			if (!same_file || pl < gl || (pl == gl && p->col <= g.col))
				break;
			d->items[j] = *p;
			j--;
		}
		d->items[j] = g;
	}
}

/* Everything after the YAML: decoding in two passes, then the checks across objects. */
static int plan_build(struct cd_plan *plan, struct cd_node *root, const struct cd_plan_opts *opts,
	struct cd_diags *diags)
{
	unsigned flags = opts ? opts->flags : 0;
	size_t errors = diags->errors, first_diag = diags->n;
	struct lookup_ctx lc = { .plan = plan, .opts = opts };
	struct cd_interp interp = { .lookup = plan_lookup, .ctx = &lc,
		.deferred = deferred_namespaces };
	struct cd_decoder dec = { .arena = &plan->arena, .diags = diags, .user = plan };

	if (root->kind != CD_NODE_MAP)
		return cd_decode_error(&dec, root,
			"a plan is a map of settings (corpdeploy, name, phases, ...)");
	dec.early = 1;
	cd_decode_struct(&dec, &plan_schema, root, plan);
	plan_load_env(&dec, plan, flags);
	plan_register_secrets(&dec, &lc, flags);
	plan_resolve_release(&dec, plan);
	/* vars see the env file and environment, not each other: no order to get wrong. */
	dec.interp = &interp;
	plan_expand_vars(&dec, plan);
	lc.vars_ready = 1;
	dec.early = 2;
	cd_decode_struct(&dec, &plan_schema, root, plan);
	dec.early = 0;
	plan_add_local_target(plan, opts);
	plan_check_targets(&dec, plan);
	plan_check_services(&dec, plan);
	plan_check_phases(&dec, plan);
	sort_diags(diags, first_diag);
	return diags->errors > errors ? CD_EPLAN : 0;
}

int cd_plan_load(const char *path, const struct cd_plan_opts *opts, struct cd_diags *diags,
	struct cd_plan **ret)
{
	struct cd_plan *plan = plan_new(path);
	struct cd_node *root;

	int r = cd_yaml_load(&plan->arena, path, diags, &root);
	if (r == 0)
		r = plan_build(plan, root, opts, diags);
	if (r < 0) {
		cd_plan_free(plan);
		return r == CD_EIO ? CD_EIO : CD_EPLAN;
	}
	*ret = plan;
	return 0;
}

int cd_plan_load_buffer(const char *path, const char *data, size_t len,
	const struct cd_plan_opts *opts, struct cd_diags *diags, struct cd_plan **ret)
{
	struct cd_plan *plan = plan_new(path);
	struct cd_node *root;

	int r = cd_yaml_parse(&plan->arena, plan->path, data, len, diags, &root);
	if (r == 0)
		r = plan_build(plan, root, opts, diags);
	if (r < 0) {
		cd_plan_free(plan);
		return CD_EPLAN;
	}
	*ret = plan;
	return 0;
}

void cd_plan_free(struct cd_plan *plan)
{
	if (!plan)
		return;
	cd_arena_release(&plan->arena);
	free(plan);
}

struct cd_service *cd_plan_service(const struct cd_plan *plan, const char *name)
{
	for (size_t i = 0; name && i < plan->services.n; i++) {
		struct cd_service *s = CD_LIST_AT(&plan->services, struct cd_service, i);
		if (s->name && strcmp(s->name, name) == 0)
			return s;
	}
	return NULL;
}

struct cd_target *cd_plan_target(const struct cd_plan *plan, const char *name)
{
	for (size_t i = 0; name && i < plan->targets.n; i++) {
		struct cd_target *t = CD_LIST_AT(&plan->targets, struct cd_target, i);
		if (t->name && strcmp(t->name, name) == 0)
			return t;
	}
	return NULL;
}

static struct cd_step *find_step(const struct cd_list *steps, const char *name)
{
	for (size_t i = 0; i < steps->n; i++) {
		struct cd_step *s = CD_LIST_AT(steps, struct cd_step, i);
		if (s->name && strcmp(s->name, name) == 0)
			return s;
		if (s->kind && strcmp(s->kind->name, "parallel") == 0 && s->args) {
			struct cd_step *f = find_step(&((struct cd_step_parallel *)s->args)->steps, name);
			if (f)
				return f;
		}
	}
	return NULL;
}

struct cd_step *cd_plan_step(const struct cd_plan *plan, const char *name)
{
	for (size_t i = 0; name && i < plan->phases.n; i++) {
		struct cd_step *s = find_step(&CD_LIST_AT(&plan->phases, struct cd_phase, i)->steps, name);
		if (s)
			return s;
	}
	return NULL;
}

static size_t count_steps(const struct cd_list *steps)
{
	size_t n = 0;
	for (size_t i = 0; i < steps->n; i++) {
		struct cd_step *s = CD_LIST_AT(steps, struct cd_step, i);
		n++;
		if (s->kind && strcmp(s->kind->name, "parallel") == 0)
			n += count_steps(&((struct cd_step_parallel *)s->args)->steps);
	}
	return n;
}

size_t cd_plan_step_count(const struct cd_plan *plan)
{
	size_t n = 0;
	for (size_t i = 0; i < plan->phases.n; i++)
		n += count_steps(&CD_LIST_AT(&plan->phases, struct cd_phase, i)->steps);
	return n;
}
