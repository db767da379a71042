/*
 * The key tables of a plan: top level, targets, services, health checks,
 * phases, rollback, report, notifications and the downtime probe, with the
 * checks of each object on its own. Checks across objects are in plan.c.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "corpdeploy/plan-internal.h"
#include "corpdeploy/steps.h"

const char *const cd_strategy_names[] = { "recreate", "rolling", "blue-green", NULL };
const char *const cd_health_kind_names[] = { "none", "docker", "http", "tcp", "command", NULL };
const char *const cd_target_kind_names[] = { "docker", "ssh", "local", "group", NULL };
static const char *const pull_names[] = { "missing", "always", "never", NULL };
static const char *const network_mode_names[] = { "bridge", "host", "none", NULL };
static const char *const report_formats[] = { "json", "markdown", "html", "junit", NULL };
extern const char *const cd_notify_format_names[];
extern const char *const cd_notify_event_names[];

/* ---- targets ---- */

static int parse_host_port(const char *s, int64_t *port)
{
	return cd_parse_int(s, port) == 0 && *port >= 1 && *port <= 65535 ? 0 : CD_EFAIL;
}

static int target_validate(struct cd_decoder *dec, const struct cd_node *map, void *obj)
{
	struct cd_target *t = obj;
	int kinds = (t->ssh != NULL) + (t->local == 1) + (t->hosts.n > 0) +
		    (t->docker != NULL && t->ssh == NULL);

	if (kinds != 1)
		return cd_decode_error(dec, map,
			"%s: a target has exactly one of docker, ssh, local and hosts",
			cd_decode_where(dec));
	if (t->hosts.n)
		t->kind = CD_TARGET_GROUP;
	else if (t->ssh)
		t->kind = CD_TARGET_SSH;
	else if (t->local == 1)
		t->kind = CD_TARGET_LOCAL;
	else
		t->kind = CD_TARGET_DOCKER;

	if (t->kind == CD_TARGET_SSH) {
		/* [user@]host[:port]; an IPv6 address goes in brackets: [::1]:22. */
		const char *s = t->ssh, *at = strchr(s, '@'), *host = at ? at + 1 : s;
		const char *host_end, *port = NULL;
		int bad = (at && at == s) || strchr(host, '@') != NULL;
		if (host[0] == '[') {
			const char *close = strchr(host, ']');
			bad |= !close || close == host + 1 || (close[1] && close[1] != ':');
			host_end = close ? close : host;
			port = close && close[1] == ':' ? close + 2 : NULL;
			host++;
		} else {
			const char *colon = strchr(host, ':');
			bad |= colon && strchr(colon + 1, ':') != NULL; /* IPv6 needs brackets */
			host_end = colon ? colon : host + strlen(host);
			port = colon ? colon + 1 : NULL;
		}
		if (bad || host_end <= host)
			return cd_decode_error(dec, cd_node_get(map, "ssh"),
				"%s.ssh: expected [user@]host[:port], got '%s'", cd_decode_where(dec), s);
		if (at && !t->user)
			t->user = cd_arena_strndup(dec->arena, s, (size_t)(at - s));
		t->host = cd_arena_strndup(dec->arena, host, (size_t)(host_end - host));
		if (port) {
			int64_t p;
			if (parse_host_port(port, &p) < 0)
				return cd_decode_error(dec, cd_node_get(map, "ssh"),
					"%s.ssh: invalid port '%s'", cd_decode_where(dec), port);
			if (t->port < 0)
				t->port = p;
		}
		if (t->port < 0)
			t->port = 22;
		if (t->docker && strcmp(t->docker, "ssh") != 0)
			return cd_decode_error(dec, cd_node_get(map, "docker"),
				"%s.docker: on an ssh target, docker can only be 'ssh' (the host's engine "
				"through the same connection)",
				cd_decode_where(dec));
	} else if (t->kind == CD_TARGET_DOCKER) {
		if (strncmp(t->docker, "unix://", 7) != 0 && strncmp(t->docker, "ssh://", 6) != 0)
			return cd_decode_error(dec, cd_node_get(map, "docker"),
				"%s.docker: expected unix:///path/to/docker.sock or ssh://user@host, got '%s'",
				cd_decode_where(dec), t->docker);
	}
	if (t->kind != CD_TARGET_SSH && (t->identity || t->host_key || t->passphrase_secret))
		return cd_decode_error(dec, map,
			"%s: identity, host_key and passphrase_secret belong to ssh targets",
			cd_decode_where(dec));
	if (t->kind != CD_TARGET_GROUP &&
		(t->parallel >= 0 || t->serial.count >= 0 || t->serial.pct >= 0 ||
			t->max_fail.count >= 0 || t->max_fail.pct >= 0))
		return cd_decode_error(dec, map, "%s: parallel, serial and max_fail belong to host groups",
			cd_decode_where(dec));
	if (t->host_key && strncmp(t->host_key, "SHA256:", 7) != 0)
		return cd_decode_error(dec, cd_node_get(map, "host_key"),
			"%s.host_key: expected a SHA256 fingerprint like SHA256:abc..., got '%s'",
			cd_decode_where(dec), t->host_key);
	return 0;
}

static const struct cd_field target_fields[] = {
	{ .key = "docker", .type = CD_T_STR, .offset = offsetof(struct cd_target, docker) },
	{ .key = "ssh", .type = CD_T_STR, .offset = offsetof(struct cd_target, ssh) },
	{ .key = "local", .type = CD_T_BOOL, .offset = offsetof(struct cd_target, local) },
	{ .key = "hosts", .type = CD_T_STRV, .offset = offsetof(struct cd_target, hosts),
		.flags = CD_FIELD_RAW },
	{ .key = "user", .type = CD_T_STR, .offset = offsetof(struct cd_target, user) },
	{ .key = "port", .type = CD_T_INT, .offset = offsetof(struct cd_target, port), .min = 1,
		.max = 65535 },
	{ .key = "identity", .type = CD_T_STR, .offset = offsetof(struct cd_target, identity) },
	{ .key = "passphrase_secret", .type = CD_T_STR,
		.offset = offsetof(struct cd_target, passphrase_secret), .flags = CD_FIELD_RAW },
	{ .key = "host_key", .type = CD_T_STR, .offset = offsetof(struct cd_target, host_key) },
	{ .key = "connect_timeout", .type = CD_T_DURATION,
		.offset = offsetof(struct cd_target, connect_timeout_ms), .def = "10s", .min = 1,
		.max = 600000 },
	{ .key = "parallel", .type = CD_T_INT, .offset = offsetof(struct cd_target, parallel),
		.min = 1, .max = 1024 },
	{ .key = "serial", .type = CD_T_QUANTITY, .offset = offsetof(struct cd_target, serial) },
	{ .key = "max_fail", .type = CD_T_QUANTITY, .offset = offsetof(struct cd_target, max_fail) },
	{ 0 },
};

const struct cd_schema plan_target_schema = {
	.what = "target",
	.size = sizeof(struct cd_target),
	.fields = target_fields,
	.validate = target_validate,
};

/* ---- services ---- */

static int health_validate(struct cd_decoder *dec, const struct cd_node *map, void *obj)
{
	struct cd_health *h = obj;
	int kinds = (h->http != NULL) + (h->tcp != NULL) + (h->command.argv.n > 0) + (h->docker == 1);
	if (kinds != 1)
		return cd_decode_error(dec, map,
			"%s: a health check has exactly one of http, tcp, command and docker",
			cd_decode_where(dec));
	h->kind = h->http ? CD_HEALTH_HTTP
		: h->tcp ? CD_HEALTH_TCP
		: h->command.argv.n ? CD_HEALTH_COMMAND
				    : CD_HEALTH_DOCKER;
	if (!h->http && cd_node_get(map, "expect"))
		return cd_decode_error(dec, cd_node_get(map, "expect"),
			"%s: 'expect' belongs to http health checks", cd_decode_where(dec));
	if (h->http && strncmp(h->http, "http://", 7) != 0 && strncmp(h->http, "https://", 8) != 0)
		return cd_decode_error(dec, cd_node_get(map, "http"),
			"%s.http: expected an http:// or https:// URL, got '%s'", cd_decode_where(dec),
			h->http);
	if (h->interval_ms > h->timeout_ms)
		return cd_decode_error(dec, map, "%s: interval is longer than timeout",
			cd_decode_where(dec));
	return 0;
}

static const struct cd_field health_fields[] = {
	{ .key = "http", .type = CD_T_STR, .offset = offsetof(struct cd_health, http) },
	{ .key = "expect", .type = CD_T_INT, .offset = offsetof(struct cd_health, expect),
		.def = "200", .min = 100, .max = 599 },
	{ .key = "tcp", .type = CD_T_STR, .offset = offsetof(struct cd_health, tcp) },
	{ .key = "command", .type = CD_T_CMD, .offset = offsetof(struct cd_health, command) },
	{ .key = "docker", .type = CD_T_BOOL, .offset = offsetof(struct cd_health, docker) },
	{ .key = "interval", .type = CD_T_DURATION, .offset = offsetof(struct cd_health, interval_ms),
		.def = "1s", .min = 10, .max = 3600000 },
	{ .key = "timeout", .type = CD_T_DURATION, .offset = offsetof(struct cd_health, timeout_ms),
		.def = "60s", .min = 10, .max = 86400000 },
	{ .key = "retries", .type = CD_T_INT, .offset = offsetof(struct cd_health, retries),
		.def = "3", .min = 0, .max = 1000 },
	{ .key = "start_period", .type = CD_T_DURATION,
		.offset = offsetof(struct cd_health, start_period_ms), .def = "0" },
	{ .key = "steady_interval", .type = CD_T_DURATION,
		.offset = offsetof(struct cd_health, steady_interval_ms), .def = "30s", .min = 1000,
		.max = 86400000 },
	{ 0 },
};

static const struct cd_schema health_schema = {
	.what = "health check",
	.size = sizeof(struct cd_health),
	.fields = health_fields,
	.validate = health_validate,
};

static const struct cd_field build_fields[] = {
	{ .key = "context", .type = CD_T_STR, .offset = offsetof(struct cd_build, context),
		.flags = CD_FIELD_REQUIRED },
	{ .key = "dockerfile", .type = CD_T_STR, .offset = offsetof(struct cd_build, dockerfile),
		.def = "Dockerfile" },
	{ .key = "args", .type = CD_T_MAP, .offset = offsetof(struct cd_build, args) },
	{ 0 },
};

static const struct cd_schema build_schema = {
	.what = "build",
	.size = sizeof(struct cd_build),
	.fields = build_fields,
};

/* build: docker/api, or build: { context: docker/api, dockerfile: ..., args: ... }. */
static int decode_build(struct cd_decoder *dec, const struct cd_node *node, void *dst)
{
	struct cd_build **ret = dst;
	if (node->kind != CD_NODE_SCALAR)
		return cd_decode_new(dec, &build_schema, node, (void **)ret);
	struct cd_build *b = cd_arena_alloc(dec->arena, sizeof(*b));
	if (!b)
		cd_oom();
	cd_schema_defaults(dec, &build_schema, b);
	b->node = node;
	*ret = b;
	static const struct cd_field ctx = { .key = "build", .type = CD_T_STR };
	return cd_decode_field(dec, &ctx, node, &b->context);
}

static const struct cd_field registry_auth_fields[] = {
	{ .key = "username", .type = CD_T_STR, .offset = offsetof(struct cd_registry_auth, username),
		.flags = CD_FIELD_REQUIRED },
	{ .key = "password_secret", .type = CD_T_STR,
		.offset = offsetof(struct cd_registry_auth, password_secret),
		.flags = CD_FIELD_REQUIRED | CD_FIELD_RAW },
	{ 0 },
};

static const struct cd_schema registry_auth_schema = {
	.what = "registry_auth",
	.size = sizeof(struct cd_registry_auth),
	.fields = registry_auth_fields,
};

int plan_port_parse(struct cd_arena *arena, const char *s, struct cd_port *ret, const char **ret_msg)
{
	/* Split off "/proto", then up to three ':'-separated fields from the right. */
	const char *slash = strchr(s, '/');
	size_t len = slash ? (size_t)(slash - s) : strlen(s);
	const char *proto = slash ? slash + 1 : "tcp";
	const char *parts[3];
	size_t plen[3], n = 0;
	const char *p = s, *end = s + len;

	if (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0) {
		*ret_msg = "protocol must be tcp or udp";
		return CD_EFAIL;
	}
	if (*p == '[') { /* [::1]:8080:80 */
		const char *close = memchr(p, ']', len);
		if (!close) {
			*ret_msg = "unclosed '[' in address";
			return CD_EFAIL;
		}
		parts[n] = p + 1;
		plen[n++] = (size_t)(close - p - 1);
		p = close + 1;
		if (p >= end || *p != ':') {
			*ret_msg = "expected ':' after the address";
			return CD_EFAIL;
		}
		p++;
	}
	while (p <= end && n < 3) {
		const char *c = memchr(p, ':', (size_t)(end - p));
		const char *e = c ? c : end;
		parts[n] = p;
		plen[n++] = (size_t)(e - p);
		p = e + 1;
		if (!c)
			break;
	}
	if (p <= end && n == 3 && p - 1 != end) {
		*ret_msg = "too many ':' (expected [ip:]host_port:container_port)";
		return CD_EFAIL;
	}
	if (n < 2) {
		*ret_msg = "expected [ip:]host_port:container_port (a bare port would publish on every "
			   "interface)";
		return CD_EFAIL;
	}
	int64_t hp, cp;
	char tmp[16];
	size_t hi = n - 2, ci = n - 1;
	if (plen[hi] >= sizeof(tmp) || plen[ci] >= sizeof(tmp)) {
		*ret_msg = "port is not a number";
		return CD_EFAIL;
	}
	memcpy(tmp, parts[hi], plen[hi]);
	tmp[plen[hi]] = '\0';
	if (parse_host_port(tmp, &hp) < 0) {
		*ret_msg = "host port must be from 1 to 65535";
		return CD_EFAIL;
	}
	memcpy(tmp, parts[ci], plen[ci]);
	tmp[plen[ci]] = '\0';
	if (parse_host_port(tmp, &cp) < 0) {
		*ret_msg = "container port must be from 1 to 65535";
		return CD_EFAIL;
	}
	ret->host_ip = n == 3 ? cd_arena_strndup(arena, parts[0], plen[0]) : NULL;
	if (n == 3 && (!ret->host_ip || !*ret->host_ip)) {
		*ret_msg = "empty address";
		return CD_EFAIL;
	}
	ret->host_port = (int)hp;
	ret->container_port = (int)cp;
	ret->proto = proto;
	return 0;
}

static int valid_restart(const char *s)
{
	static const char *const fixed[] = { "no", "always", "unless-stopped", "on-failure" };
	for (size_t i = 0; i < CD_ARRAY_SIZE(fixed); i++)
		if (strcmp(s, fixed[i]) == 0)
			return 1;
	int64_t n;
	return strncmp(s, "on-failure:", 11) == 0 && cd_parse_int(s + 11, &n) == 0 && n >= 1 &&
	       n <= 1000;
}

static int service_validate(struct cd_decoder *dec, const struct cd_node *map, void *obj)
{
	struct cd_service *s = obj;
	int r = 0;

	if ((s->image != NULL) == (s->build != NULL))
		r = cd_decode_error(dec, map, "%s: a service needs exactly one of 'image' and 'build'",
			cd_decode_where(dec));
	s->ports = cd_arena_alloc(dec->arena, (s->ports_raw.n + 1) * sizeof(*s->ports));
	if (!s->ports)
		cd_oom();
	for (size_t i = 0; i < s->ports_raw.n; i++) {
		const char *msg;
		if (plan_port_parse(dec->arena, s->ports_raw.v[i], &s->ports[i], &msg) < 0)
			r = cd_decode_error(dec, s->ports_raw.nodes[i], "%s.ports: '%s': %s",
				cd_decode_where(dec), s->ports_raw.v[i], msg);
	}
	if (s->restart && !valid_restart(s->restart))
		r = cd_decode_error(dec, cd_node_get(map, "restart"),
			"%s.restart: expected no, always, unless-stopped, on-failure or on-failure:N, got '%s'",
			cd_decode_where(dec), s->restart);
	if (s->strategy == CD_STRATEGY_BLUE_GREEN && !s->proxy)
		r = cd_decode_error(dec, cd_node_get(map, "strategy"),
			"%s: the blue-green strategy needs 'proxy' (the service that switches traffic)",
			cd_decode_where(dec));
	if (s->strategy != CD_STRATEGY_BLUE_GREEN && (s->proxy || s->drain_ms >= 0))
		r = cd_decode_error(dec, cd_node_get(map, s->proxy ? "proxy" : "drain"),
			"%s: 'proxy' and 'drain' belong to the blue-green strategy", cd_decode_where(dec));
	if (s->network_mode == 1 && (s->ports_raw.n || s->networks.n))
		r = cd_decode_error(dec, cd_node_get(map, "network_mode"),
			"%s: a service on the host network has no 'ports' or 'networks'",
			cd_decode_where(dec));
	for (size_t i = 0; i < s->volumes.n; i++) {
		const char *v = s->volumes.v[i], *c = strchr(v, ':');
		if (!c || c == v || c[1] != '/')
			r = cd_decode_error(dec, s->volumes.nodes[i],
				"%s.volumes: expected source:/container/path[:ro], got '%s'",
				cd_decode_where(dec), v);
	}
	return r;
}

static const struct cd_field service_fields[] = {
	{ .key = "target", .type = CD_T_NAME, .offset = offsetof(struct cd_service, target),
		.def = "local" },
	{ .key = "image", .type = CD_T_STR, .offset = offsetof(struct cd_service, image) },
	{ .key = "build", .type = CD_T_CUSTOM, .offset = offsetof(struct cd_service, build),
		.custom = decode_build, .json_as = CD_T_STRUCT, .sub = &build_schema },
	{ .key = "pull", .type = CD_T_ENUM, .offset = offsetof(struct cd_service, pull),
		.sub = pull_names, .def = "missing" },
	{ .key = "registry_auth", .type = CD_T_STRUCT,
		.offset = offsetof(struct cd_service, registry_auth), .sub = &registry_auth_schema },
	{ .key = "command", .type = CD_T_CMD, .offset = offsetof(struct cd_service, command) },
	{ .key = "entrypoint", .type = CD_T_STRV, .offset = offsetof(struct cd_service, entrypoint) },
	{ .key = "env", .type = CD_T_MAP, .offset = offsetof(struct cd_service, env) },
	{ .key = "ports", .type = CD_T_STRV, .offset = offsetof(struct cd_service, ports_raw) },
	{ .key = "volumes", .type = CD_T_STRV, .offset = offsetof(struct cd_service, volumes) },
	{ .key = "networks", .type = CD_T_STRV, .offset = offsetof(struct cd_service, networks),
		.flags = CD_FIELD_RAW },
	{ .key = "network_mode", .type = CD_T_ENUM, .offset = offsetof(struct cd_service, network_mode),
		.sub = network_mode_names },
	{ .key = "labels", .type = CD_T_MAP, .offset = offsetof(struct cd_service, labels) },
	{ .key = "depends_on", .type = CD_T_STRV, .offset = offsetof(struct cd_service, depends_on),
		.flags = CD_FIELD_RAW },
	{ .key = "restart", .type = CD_T_STR, .offset = offsetof(struct cd_service, restart),
		.def = "unless-stopped" },
	{ .key = "stop_timeout", .type = CD_T_DURATION,
		.offset = offsetof(struct cd_service, stop_timeout_ms), .def = "10s", .min = 0,
		.max = 3600000 },
	{ .key = "user", .type = CD_T_STR, .offset = offsetof(struct cd_service, user) },
	{ .key = "workdir", .type = CD_T_STR, .offset = offsetof(struct cd_service, workdir) },
	{ .key = "init", .type = CD_T_BOOL, .offset = offsetof(struct cd_service, init),
		.def = "false" },
	{ .key = "health", .type = CD_T_STRUCT, .offset = offsetof(struct cd_service, health),
		.sub = &health_schema },
	{ .key = "strategy", .type = CD_T_ENUM, .offset = offsetof(struct cd_service, strategy),
		.sub = cd_strategy_names, .def = "recreate" },
	{ .key = "proxy", .type = CD_T_NAME, .offset = offsetof(struct cd_service, proxy) },
	{ .key = "drain", .type = CD_T_DURATION, .offset = offsetof(struct cd_service, drain_ms) },
	{ .key = "layer", .type = CD_T_STR, .offset = offsetof(struct cd_service, layer),
		.flags = CD_FIELD_RAW },
	{ 0 },
};

const struct cd_schema plan_service_schema = {
	.what = "service",
	.size = sizeof(struct cd_service),
	.fields = service_fields,
	.validate = service_validate,
};

/* ---- phases, rollback, report, notify, probe ---- */

static int phase_validate(struct cd_decoder *dec, const struct cd_node *map, void *obj)
{
	const struct cd_phase *p = obj;
	if (!p->steps.n)
		return cd_decode_error(dec, map, "%s: phase '%s' has no steps", cd_decode_where(dec),
			p->name);
	return 0;
}

static const struct cd_field phase_fields[] = {
	{ .key = "name", .type = CD_T_NAME, .offset = offsetof(struct cd_phase, name),
		.flags = CD_FIELD_REQUIRED },
	{ .key = "budget", .type = CD_T_DURATION, .offset = offsetof(struct cd_phase, budget_ms),
		.min = 1, .max = 7 * 86400000LL },
	{ .key = "steps", .type = CD_T_LIST, .offset = offsetof(struct cd_phase, steps),
		.flags = CD_FIELD_REQUIRED, .sub = &cd_step_schema },
	{ 0 },
};

const struct cd_schema plan_phase_schema = {
	.what = "phase",
	.size = sizeof(struct cd_phase),
	.fields = phase_fields,
	.validate = phase_validate,
};

static const struct cd_field trigger_fields[] = {
	{ .key = "error_rate", .type = CD_T_PERCENT, .offset = offsetof(struct cd_triggers, error_rate) },
	{ .key = "p99_regression", .type = CD_T_PERCENT,
		.offset = offsetof(struct cd_triggers, p99_regression), .min = 0, .max = 100000 },
	{ .key = "success_rate_below", .type = CD_T_PERCENT,
		.offset = offsetof(struct cd_triggers, success_rate_below) },
	{ .key = "downtime_over", .type = CD_T_DURATION,
		.offset = offsetof(struct cd_triggers, downtime_over_ms) },
	{ 0 },
};

static const struct cd_schema trigger_schema = {
	.what = "triggers",
	.size = sizeof(struct cd_triggers),
	.fields = trigger_fields,
};

static const struct cd_field rollback_fields[] = {
	{ .key = "automatic", .type = CD_T_BOOL, .offset = offsetof(struct cd_rollback, automatic),
		.def = "true" },
	{ .key = "budget", .type = CD_T_DURATION, .offset = offsetof(struct cd_rollback, budget_ms),
		.def = "10m", .min = 1000, .max = 86400000 },
	{ .key = "keep_releases", .type = CD_T_INT,
		.offset = offsetof(struct cd_rollback, keep_releases), .def = "5", .min = 1, .max = 100 },
	{ .key = "triggers", .type = CD_T_STRUCT, .offset = offsetof(struct cd_rollback, triggers),
		.sub = &trigger_schema },
	{ 0 },
};

const struct cd_schema plan_rollback_schema = {
	.what = "rollback",
	.size = sizeof(struct cd_rollback),
	.fields = rollback_fields,
};

static int report_validate(struct cd_decoder *dec, const struct cd_node *map, void *obj)
{
	struct cd_report_cfg *r = obj;
	(void)dec;
	(void)map;
	if (!r->formats.n) {
		static const char *def[] = { "json", "markdown" };
		r->formats.v = def;
		r->formats.n = CD_ARRAY_SIZE(def);
	}
	return 0;
}

static const struct cd_field report_fields[] = {
	{ .key = "dir", .type = CD_T_STR, .offset = offsetof(struct cd_report_cfg, dir),
		.def = "reports" },
	{ .key = "formats", .type = CD_T_ENUMV, .offset = offsetof(struct cd_report_cfg, formats),
		.sub = report_formats },
	{ .key = "template", .type = CD_T_STR, .offset = offsetof(struct cd_report_cfg, template) },
	{ 0 },
};

const struct cd_schema plan_report_schema = {
	.what = "report",
	.size = sizeof(struct cd_report_cfg),
	.fields = report_fields,
	.validate = report_validate,
};

static const struct cd_field backup_storage_fields[] = {
	{ .key = "endpoint", .type = CD_T_STR, .offset = offsetof(struct cd_backup_storage, endpoint),
		.flags = CD_FIELD_REQUIRED },
	{ .key = "bucket", .type = CD_T_STR, .offset = offsetof(struct cd_backup_storage, bucket),
		.flags = CD_FIELD_REQUIRED },
	{ .key = "prefix", .type = CD_T_STR, .offset = offsetof(struct cd_backup_storage, prefix) },
	{ .key = "region", .type = CD_T_STR, .offset = offsetof(struct cd_backup_storage, region),
		.def = "us-east-1" },
	{ .key = "access_key_secret", .type = CD_T_STR,
		.offset = offsetof(struct cd_backup_storage, access_key_secret),
		.flags = CD_FIELD_REQUIRED | CD_FIELD_RAW },
	{ .key = "secret_key_secret", .type = CD_T_STR,
		.offset = offsetof(struct cd_backup_storage, secret_key_secret),
		.flags = CD_FIELD_REQUIRED | CD_FIELD_RAW },
	{ 0 },
};

const struct cd_schema plan_backup_storage_schema = {
	.what = "backup_storage",
	.size = sizeof(struct cd_backup_storage),
	.fields = backup_storage_fields,
};

static const struct cd_field webhook_fields[] = {
	{ .key = "url", .type = CD_T_STR, .offset = offsetof(struct cd_webhook, url),
		.flags = CD_FIELD_REQUIRED },
	{ .key = "on", .type = CD_T_ENUMV, .offset = offsetof(struct cd_webhook, on),
		.sub = cd_notify_event_names },
	{ .key = "format", .type = CD_T_ENUM, .offset = offsetof(struct cd_webhook, format),
		.sub = cd_notify_format_names, .def = "json" },
	{ .key = "retries", .type = CD_T_INT, .offset = offsetof(struct cd_webhook, retries),
		.def = "3", .min = 0, .max = 20 },
	{ .key = "timeout", .type = CD_T_DURATION, .offset = offsetof(struct cd_webhook, timeout_ms),
		.def = "5s", .min = 1, .max = 600000 },
	{ 0 },
};

const struct cd_schema plan_webhook_schema = {
	.what = "webhook",
	.size = sizeof(struct cd_webhook),
	.fields = webhook_fields,
};

static const struct cd_field probe_fields[] = {
	{ .key = "url", .type = CD_T_STR, .offset = offsetof(struct cd_probe, url),
		.flags = CD_FIELD_REQUIRED },
	{ .key = "interval", .type = CD_T_DURATION, .offset = offsetof(struct cd_probe, interval_ms),
		.def = "200ms", .min = 10, .max = 60000 },
	{ .key = "timeout", .type = CD_T_DURATION, .offset = offsetof(struct cd_probe, timeout_ms),
		.def = "1s", .min = 10, .max = 60000 },
	{ .key = "expect", .type = CD_T_INT, .offset = offsetof(struct cd_probe, expect), .def = "200",
		.min = 100, .max = 599 },
	{ 0 },
};

const struct cd_schema plan_probe_schema = {
	.what = "probe",
	.size = sizeof(struct cd_probe),
	.fields = probe_fields,
};

/* ---- the top level ---- */

static int decode_vars(struct cd_decoder *dec, const struct cd_node *node, void *dst)
{
	/* Kept as written here; plan.c expands them once the env file is read. */
	static const struct cd_field f = { .key = "vars", .type = CD_T_MAP, .flags = CD_FIELD_RAW };
	return cd_decode_field(dec, &f, node, dst);
}

static const struct cd_field plan_fields[] = {
	{ .key = "corpdeploy", .type = CD_T_INT, .offset = offsetof(struct cd_plan, version),
		.flags = CD_FIELD_REQUIRED | CD_FIELD_EARLY, .min = CD_PLAN_VERSION,
		.max = CD_PLAN_VERSION },
	{ .key = "name", .type = CD_T_NAME, .offset = offsetof(struct cd_plan, name),
		.flags = CD_FIELD_REQUIRED | CD_FIELD_EARLY },
	{ .key = "description", .type = CD_T_STR, .offset = offsetof(struct cd_plan, description),
		.flags = CD_FIELD_RAW | CD_FIELD_EARLY },
	{ .key = "release", .type = CD_T_STR, .offset = offsetof(struct cd_plan, release_spec),
		.flags = CD_FIELD_RAW | CD_FIELD_EARLY, .def = "git" },
	{ .key = "env_file", .type = CD_T_STR, .offset = offsetof(struct cd_plan, env_file),
		.flags = CD_FIELD_RAW | CD_FIELD_EARLY },
	{ .key = "secrets", .type = CD_T_STRV, .offset = offsetof(struct cd_plan, secrets),
		.flags = CD_FIELD_RAW | CD_FIELD_EARLY },
	{ .key = "vars", .type = CD_T_CUSTOM, .offset = offsetof(struct cd_plan, vars),
		.flags = CD_FIELD_EARLY, .custom = decode_vars, .json_as = CD_T_MAP },
	{ .key = "state_dir", .type = CD_T_STR, .offset = offsetof(struct cd_plan, state_dir),
		.def = ".corpdeploy" },
	{ .key = "targets", .type = CD_T_NAMED, .offset = offsetof(struct cd_plan, targets),
		.sub = &plan_target_schema },
	{ .key = "services", .type = CD_T_NAMED, .offset = offsetof(struct cd_plan, services),
		.sub = &plan_service_schema },
	{ .key = "phases", .type = CD_T_LIST, .offset = offsetof(struct cd_plan, phases),
		.flags = CD_FIELD_REQUIRED, .sub = &plan_phase_schema },
	{ .key = "rollback", .type = CD_T_STRUCT, .offset = offsetof(struct cd_plan, rollback),
		.sub = &plan_rollback_schema },
	{ .key = "report", .type = CD_T_STRUCT, .offset = offsetof(struct cd_plan, report),
		.sub = &plan_report_schema },
	{ .key = "notify", .type = CD_T_LIST, .offset = offsetof(struct cd_plan, notify),
		.sub = &plan_webhook_schema },
	{ .key = "probe", .type = CD_T_STRUCT, .offset = offsetof(struct cd_plan, probe),
		.sub = &plan_probe_schema },
	{ .key = "backup_storage", .type = CD_T_STRUCT, .offset = offsetof(struct cd_plan, backup_storage),
		.sub = &plan_backup_storage_schema },
	{ 0 },
};

const struct cd_schema plan_schema = {
	.what = "plan",
	.size = sizeof(struct cd_plan),
	.fields = plan_fields,
};
