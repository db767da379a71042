/*
 * Containers: create (with the published ports, health check and networks
 * of the spec), the life-cycle calls, inspect and list, wait and logs.
 * Ports publish on 127.0.0.1 unless the spec names another address.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docker-internal.h"

#define NS_PER_MS 1000000.0

static void add_item(cJSON *obj, const char *key, cJSON *item)
{
	if (!item || !cJSON_AddItemToObject(obj, key, item))
		cd_oom();
}

static void add_string(cJSON *obj, const char *key, const char *value)
{
	if (!cJSON_AddStringToObject(obj, key, value))
		cd_oom();
}

static void add_number(cJSON *obj, const char *key, double value)
{
	if (!cJSON_AddNumberToObject(obj, key, value))
		cd_oom();
}

static cJSON *new_object(void)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		cd_oom();
	return o;
}

/* "host", "bridge", "none", "default" and "container:x" are not user networks. */
static int user_network(const char *mode)
{
	return mode && *mode && strcmp(mode, "host") != 0 && strcmp(mode, "bridge") != 0 &&
	       strcmp(mode, "none") != 0 && strcmp(mode, "default") != 0 &&
	       strncmp(mode, "container:", 10) != 0;
}

static int add_ports(cJSON *config, cJSON *host, const struct cd_docker_container_spec *spec,
        struct cd_error *err)
{
	cJSON *exposed, *bindings;

	if (!spec->n_ports)
		return 0;
	exposed = new_object();
	bindings = new_object();
	add_item(config, "ExposedPorts", exposed);
	add_item(host, "PortBindings", bindings);
	for (size_t i = 0; i < spec->n_ports; i++) {
		const struct cd_docker_port *p = &spec->ports[i];
		const char *proto = p->proto && *p->proto ? p->proto : "tcp";
		char key[64], hostport[16];
		cJSON *list, *binding;

		if (p->container_port <= 0 || p->container_port > 65535 || p->host_port < 0 ||
		        p->host_port > 65535)
			return cd_error_set(err, CD_EUSAGE, "port %d:%d is out of range",
			        p->host_port, p->container_port);
		if (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0 &&
		        strcmp(proto, "sctp") != 0)
			return cd_error_set(err, CD_EUSAGE, "unknown protocol '%s' of port %d",
			        proto, p->container_port);
		snprintf(key, sizeof(key), "%d/%s", p->container_port, proto);
		/* PortBindings without ExposedPorts publish nothing (B4.1). */
		if (!cJSON_GetObjectItemCaseSensitive(exposed, key))
			add_item(exposed, key, cJSON_CreateObject());
		list = cJSON_GetObjectItemCaseSensitive(bindings, key);
		if (!list) {
			list = cJSON_CreateArray();
			add_item(bindings, key, list);
		}
		binding = new_object();
		add_string(binding, "HostIp", p->host_ip && *p->host_ip ? p->host_ip : "127.0.0.1");
		/* "" lets the engine pick a free port; inspect tells which. */
		if (p->host_port)
			snprintf(hostport, sizeof(hostport), "%d", p->host_port);
		else
			hostport[0] = '\0';
		add_string(binding, "HostPort", hostport);
		if (!cJSON_AddItemToArray(list, binding))
			cd_oom();
	}
	return 0;
}

static int add_restart(cJSON *host, const char *restart, struct cd_error *err)
{
	cJSON *policy;
	long retries = 0;
	char name[32];
	const char *colon;

	if (!restart || !*restart)
		return 0;
	colon = strchr(restart, ':');
	snprintf(name, sizeof(name), "%.*s", colon ? (int)(colon - restart) : (int)strlen(restart),
	        restart);
	if (strcmp(name, "no") != 0 && strcmp(name, "always") != 0 &&
	        strcmp(name, "unless-stopped") != 0 && strcmp(name, "on-failure") != 0)
		return cd_error_set(err, CD_EUSAGE,
		        "unknown restart policy '%s' (no, always, unless-stopped, on-failure[:N])",
		        restart);
	if (colon) {
		char *end;
		retries = strtol(colon + 1, &end, 10);
		if (strcmp(name, "on-failure") != 0 || *end || end == colon + 1 || retries < 0)
			return cd_error_set(err, CD_EUSAGE,
			        "restart policy '%s': only on-failure takes a count", restart);
	}
	policy = new_object();
	add_string(policy, "Name", name);
	add_number(policy, "MaximumRetryCount", (double)retries);
	add_item(host, "RestartPolicy", policy);
	return 0;
}

static cJSON *create_body(const struct cd_docker_container_spec *spec, struct cd_error *err)
{
	cJSON *config = new_object(), *host = new_object();

	add_string(config, "Image", spec->image);
	if (spec->cmd)
		add_item(config, "Cmd", docker_json_strings(spec->cmd));
	if (spec->entrypoint)
		add_item(config, "Entrypoint", docker_json_strings(spec->entrypoint));
	if (spec->env)
		add_item(config, "Env", docker_json_strings(spec->env));
	if (spec->labels)
		add_item(config, "Labels", docker_json_kv(spec->labels));
	if (spec->user)
		add_string(config, "User", spec->user);
	if (spec->workdir)
		add_string(config, "WorkingDir", spec->workdir);
	if (spec->stop_timeout_ms >= 0)
		add_number(config, "StopTimeout", (double)((spec->stop_timeout_ms + 999) / 1000));
	if (spec->health) {
		const struct cd_docker_health *h = spec->health;
		cJSON *check = new_object();
		add_item(check, "Test", docker_json_strings(h->test));
		/* Durations are nanoseconds; 0 means the engine's default. */
		add_number(check, "Interval", (double)h->interval_ms * NS_PER_MS);
		add_number(check, "Timeout", (double)h->timeout_ms * NS_PER_MS);
		add_number(check, "StartPeriod", (double)h->start_period_ms * NS_PER_MS);
		add_number(check, "Retries", h->retries);
		add_item(config, "Healthcheck", check);
	}
	add_item(config, "HostConfig", host);
	if (spec->binds)
		add_item(host, "Binds", docker_json_strings(spec->binds));
	if (spec->network_mode && *spec->network_mode)
		add_string(host, "NetworkMode", spec->network_mode);
	if (!cJSON_AddBoolToObject(host, "Init", spec->init ? 1 : 0))
		cd_oom();
	if (add_restart(host, spec->restart, err) < 0 || add_ports(config, host, spec, err) < 0) {
		cJSON_Delete(config);
		return NULL;
	}
	/* API 1.41 takes one network at create; the others are connected after. */
	if (user_network(spec->network_mode) && spec->aliases) {
		cJSON *net = new_object(), *endpoints = new_object(), *endpoint = new_object();
		add_item(endpoint, "Aliases", docker_json_strings(spec->aliases));
		add_item(endpoints, spec->network_mode, endpoint);
		add_item(net, "EndpointsConfig", endpoints);
		add_item(config, "NetworkingConfig", net);
	}
	return config;
}

cJSON *cd_docker_container_spec_json(const struct cd_docker_container_spec *spec,
	struct cd_error *err)
{
	cJSON *body = create_body(spec, err);
	if (!body)
		return NULL;
	cJSON *saved = new_object();
	add_item(saved, "create", body);
	if (spec->networks) {
		cJSON *nets = cJSON_CreateArray();
		for (const char *const *net = spec->networks; *net; net++)
			if (!spec->network_mode || strcmp(*net, spec->network_mode) != 0)
				cJSON_AddItemToArray(nets, cJSON_CreateString(*net));
		add_item(saved, "connect", nets);
	}
	if (spec->aliases)
		add_item(saved, "aliases", docker_json_strings(spec->aliases));
	return saved;
}

int cd_docker_container_create_json(struct cd_docker *d, const char *name, const cJSON *saved,
	char **ret_id, struct cd_error *err)
{
	struct cd_error inner = CD_ERROR_INIT;
	struct docker_req r;
	cJSON *json = NULL;
	char *id = NULL, *what;
	int rc;
	const cJSON *body = cJSON_GetObjectItemCaseSensitive(saved, "create");
	const char *image = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "Image"));

	what = name ? cd_xasprintf("cannot create container '%s'", name)
		    : cd_xasprintf("cannot create a container of image '%s'", image ? image : "?");
	if (!cJSON_IsObject(body)) {
		rc = cd_error_set(err, CD_EFAIL, "%s: no container specification", what);
		free(what);
		return rc;
	}
	docker_req_init(&r, "POST", "/containers/create");
	if (name)
		docker_req_query(&r, "name", name);
	docker_req_what(&r, "%s", what);
	docker_req_json(&r, body);
	rc = docker_do(d, &r, err);
	if (rc == 0)
		rc = docker_json_parse(&r, &json, err);
	if (rc == 0) {
		id = docker_json_strdup(json, "Id");
		if (!id)
			rc = docker_req_error(&r, err, CD_EREMOTE, "the engine's reply has no Id");
	}
	cJSON_Delete(json);
	docker_req_release(&r);

	/* API 1.41 takes one network at create; the others are connected after. */
	const cJSON *aliases_json = cJSON_GetObjectItemCaseSensitive(saved, "aliases");
	size_t n_aliases = (size_t)cJSON_GetArraySize(aliases_json);
	const char **aliases = cd_xcalloc(n_aliases + 1, sizeof(char *));
	size_t k = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, aliases_json)
		if (cJSON_IsString(e))
			aliases[k++] = e->valuestring;
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(saved, "connect")) {
		if (rc < 0 || !cJSON_IsString(e))
			continue;
		rc = cd_docker_network_connect(d, e->valuestring, id, n_aliases ? aliases : NULL, &inner);
		if (rc < 0) {
			rc = cd_error_set(err, inner.code, "%s: %s", what, inner.msg);
			cd_error_release(&inner);
		}
	}
	free(aliases);
	if (rc < 0 && id) {
		/* Half made is not made: do not leave a container that lacks its networks. */
		cd_docker_container_remove(d, id, 1, 1, NULL);
	}
	if (rc == 0 && ret_id)
		*ret_id = id;
	else
		free(id);
	free(what);
	return rc;
}

int cd_docker_container_create(struct cd_docker *d, const char *name,
	const struct cd_docker_container_spec *spec, char **ret_id, struct cd_error *err)
{
	struct cd_error inner = CD_ERROR_INIT;
	cJSON *saved = cd_docker_container_spec_json(spec, &inner);
	if (!saved) {
		int rc = name ? cd_error_set(err, inner.code, "cannot create container '%s': %s", name,
					inner.msg)
			      : cd_error_set(err, inner.code,
					"cannot create a container of image '%s': %s", spec->image,
					inner.msg);
		cd_error_release(&inner);
		return rc;
	}
	int rc = cd_docker_container_create_json(d, name, saved, ret_id, err);
	cJSON_Delete(saved);
	return rc;
}

static int simple(struct cd_docker *d, struct docker_req *r, struct cd_error *err)
{
	int rc = docker_do(d, r, err);
	docker_req_release(r);
	return rc;
}

int cd_docker_container_start(struct cd_docker *d, const char *id, struct cd_error *err)
{
	struct docker_req r;

	/* 304, already running, is success. */
	docker_req_init(&r, "POST", "/containers/%s/start", id);
	docker_req_what(&r, "cannot start container '%s'", id);
	return simple(d, &r, err);
}

int cd_docker_container_stop(
        struct cd_docker *d, const char *id, int64_t timeout_ms, struct cd_error *err)
{
	struct docker_req r;

	docker_req_init(&r, "POST", "/containers/%s/stop", id);
	docker_req_what(&r, "cannot stop container '%s'", id);
	if (timeout_ms >= 0) {
		int64_t t = (timeout_ms + 999) / 1000;
		docker_req_query_int(&r, "t", (long long)t);
		/* The engine waits t seconds, then kills and reaps: leave it room. */
		r.timeout_ms = t * 1000 + 15000;
	} else {
		r.timeout_ms = docker_timeout(d, 0) + 60000;
	}
	return simple(d, &r, err);
}

int cd_docker_container_kill(
        struct cd_docker *d, const char *id, const char *signal, struct cd_error *err)
{
	struct docker_req r;

	docker_req_init(&r, "POST", "/containers/%s/kill", id);
	if (signal && *signal)
		docker_req_query(&r, "signal", signal);
	docker_req_what(&r, "cannot kill container '%s'", id);
	return simple(d, &r, err);
}

int cd_docker_container_rename(
        struct cd_docker *d, const char *id, const char *new_name, struct cd_error *err)
{
	struct docker_req r;

	docker_req_init(&r, "POST", "/containers/%s/rename", id);
	docker_req_query(&r, "name", new_name);
	docker_req_what(&r, "cannot rename container '%s' to '%s'", id, new_name);
	return simple(d, &r, err);
}

int cd_docker_container_remove(
        struct cd_docker *d, const char *id, int force, int volumes, struct cd_error *err)
{
	struct docker_req r;

	docker_req_init(&r, "DELETE", "/containers/%s", id);
	docker_req_query(&r, "force", force ? "1" : "0");
	docker_req_query(&r, "v", volumes ? "1" : "0");
	docker_req_what(&r, "cannot remove container '%s'", id);
	return simple(d, &r, err);
}

/* ---- inspect and list ---- */

static void read_labels(struct cd_docker_container *c, const cJSON *labels)
{
	const cJSON *l;
	size_t n = 0;

	if (!cJSON_IsObject(labels))
		return;
	c->labels = cd_xcalloc((size_t)cJSON_GetArraySize(labels) + 1, sizeof(*c->labels));
	cJSON_ArrayForEach(l, labels)
	{
		if (!l->string)
			continue;
		c->labels[n].key = cd_xstrdup(l->string);
		c->labels[n].value = cd_xstrdup(cJSON_IsString(l) ? l->valuestring : "");
		n++;
	}
	c->n_labels = n;
}

static void add_host_port(struct cd_docker_container *c, int port)
{
	for (size_t i = 0; i < c->n_host_ports; i++)
		if (c->host_ports[i] == port)
			return; /* the same port on IPv4 and IPv6 */
	c->host_ports = cd_xreallocarray(c->host_ports, c->n_host_ports + 1, sizeof(int));
	c->host_ports[c->n_host_ports++] = port;
}

static char *strip_slash(const char *name)
{
	if (!name)
		return NULL;
	return cd_xstrdup(name[0] == '/' ? name + 1 : name);
}

static void read_inspect(struct cd_docker_container *c, const cJSON *json)
{
	const cJSON *state = cJSON_GetObjectItemCaseSensitive(json, "State");
	const cJSON *config = cJSON_GetObjectItemCaseSensitive(json, "Config");
	const cJSON *net = cJSON_GetObjectItemCaseSensitive(json, "NetworkSettings");
	const cJSON *ports = net ? cJSON_GetObjectItemCaseSensitive(net, "Ports") : NULL;
	const cJSON *health, *p, *b, *code;

	c->id = docker_json_strdup(json, "Id");
	c->name = strip_slash(docker_json_str(json, "Name"));
	c->image_id = docker_json_strdup(json, "Image");
	c->created = docker_json_strdup(json, "Created");
	if (config) {
		c->image = docker_json_strdup(config, "Image");
		read_labels(c, cJSON_GetObjectItemCaseSensitive(config, "Labels"));
	}
	if (state) {
		c->status = docker_json_strdup(state, "Status");
		c->running = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(state, "Running"));
		code = cJSON_GetObjectItemCaseSensitive(state, "ExitCode");
		c->exit_code = cJSON_IsNumber(code) ? code->valueint : 0;
		c->started_at = docker_json_strdup(state, "StartedAt");
		/* State.Health is absent when the container has no check (B3). */
		health = cJSON_GetObjectItemCaseSensitive(state, "Health");
		if (health) {
			const char *h = docker_json_str(health, "Status");
			if (h && strcmp(h, "none") != 0)
				c->health = cd_xstrdup(h);
		}
	}
	if (!cJSON_IsObject(ports))
		ports = NULL;
	cJSON_ArrayForEach(p, ports)
	{
		if (!cJSON_IsArray(p))
			continue;
		cJSON_ArrayForEach(b, p)
		{
			const char *hp = docker_json_str(b, "HostPort");
			if (hp && atoi(hp) > 0)
				add_host_port(c, atoi(hp));
		}
	}
}

int cd_docker_container_inspect(struct cd_docker *d, const char *id_or_name,
        struct cd_docker_container *ret, struct cd_error *err)
{
	struct docker_req r;
	cJSON *json = NULL;
	int rc;

	docker_req_init(&r, "GET", "/containers/%s/json", id_or_name);
	docker_req_what(&r, "cannot inspect container '%s'", id_or_name);
	rc = docker_do(d, &r, err);
	if (rc == 0)
		rc = docker_json_parse(&r, &json, err);
	if (rc == 0) {
		memset(ret, 0, sizeof(*ret));
		read_inspect(ret, json);
	}
	cJSON_Delete(json);
	docker_req_release(&r);
	return rc;
}

void cd_docker_container_release(struct cd_docker_container *c)
{
	free(c->id);
	free(c->name);
	free(c->image);
	free(c->image_id);
	free(c->status);
	free(c->health);
	free(c->started_at);
	free(c->created);
	for (size_t i = 0; i < c->n_labels; i++) {
		free(c->labels[i].key);
		free(c->labels[i].value);
	}
	free(c->labels);
	free(c->host_ports);
	memset(c, 0, sizeof(*c));
}

const char *cd_docker_container_label(const struct cd_docker_container *c, const char *key)
{
	for (size_t i = 0; i < c->n_labels; i++)
		if (strcmp(c->labels[i].key, key) == 0)
			return c->labels[i].value;
	return NULL;
}

/*
 * A list entry has less than inspect: the health and the exit code are read
 * from the Status text ("Up 3 minutes (healthy)", "Exited (3) 2 seconds ago").
 */
static void read_list_entry(struct cd_docker_container *c, const cJSON *json)
{
	const cJSON *names = cJSON_GetObjectItemCaseSensitive(json, "Names");
	const cJSON *ports = cJSON_GetObjectItemCaseSensitive(json, "Ports");
	const cJSON *created = cJSON_GetObjectItemCaseSensitive(json, "Created");
	const char *text = docker_json_str(json, "Status");
	const cJSON *p;

	c->id = docker_json_strdup(json, "Id");
	if (cJSON_IsArray(names) && cJSON_IsString(cJSON_GetArrayItem(names, 0)))
		c->name = strip_slash(cJSON_GetArrayItem(names, 0)->valuestring);
	c->image = docker_json_strdup(json, "Image");
	c->image_id = docker_json_strdup(json, "ImageID");
	c->status = docker_json_strdup(json, "State");
	c->running = c->status && strcmp(c->status, "running") == 0;
	if (cJSON_IsNumber(created))
		c->created = cd_xasprintf("%.0f", created->valuedouble);
	if (text) {
		if (strstr(text, "(healthy)"))
			c->health = cd_xstrdup("healthy");
		else if (strstr(text, "(unhealthy)"))
			c->health = cd_xstrdup("unhealthy");
		else if (strstr(text, "(health: starting)"))
			c->health = cd_xstrdup("starting");
		if (strncmp(text, "Exited (", 8) == 0)
			c->exit_code = atoi(text + 8);
	}
	read_labels(c, cJSON_GetObjectItemCaseSensitive(json, "Labels"));
	if (!cJSON_IsArray(ports))
		ports = NULL;
	cJSON_ArrayForEach(p, ports)
	{
		const cJSON *pub = cJSON_GetObjectItemCaseSensitive(p, "PublicPort");
		if (cJSON_IsNumber(pub) && pub->valueint > 0)
			add_host_port(c, pub->valueint);
	}
}

int cd_docker_container_list(struct cd_docker *d, const char *const *label_filters,
        struct cd_docker_container **ret, size_t *ret_n, struct cd_error *err)
{
	struct docker_req r;
	cJSON *json = NULL, *filters, *item;
	int rc;

	docker_req_init(&r, "GET", "/containers/json");
	docker_req_query(&r, "all", "1");
	if (label_filters && *label_filters) {
		char *text;
		filters = new_object();
		add_item(filters, "label", docker_json_strings(label_filters));
		text = docker_json_print(filters);
		docker_req_query(&r, "filters", text);
		free(text);
		cJSON_Delete(filters);
	}
	docker_req_what(&r, "cannot list containers");
	rc = docker_do(d, &r, err);
	if (rc == 0)
		rc = docker_json_parse(&r, &json, err);
	if (rc == 0 && !cJSON_IsArray(json))
		rc = docker_req_error(&r, err, CD_EREMOTE, "the engine's reply is not a list");
	if (rc == 0) {
		size_t n = 0;
		struct cd_docker_container *list =
		        cd_xcalloc((size_t)cJSON_GetArraySize(json) + 1, sizeof(*list));
		cJSON_ArrayForEach(item, json)
		{
			read_list_entry(&list[n++], item);
		}
		*ret = list;
		*ret_n = n;
	}
	cJSON_Delete(json);
	docker_req_release(&r);
	return rc;
}

void cd_docker_container_list_free(struct cd_docker_container *list, size_t n)
{
	if (!list)
		return;
	for (size_t i = 0; i < n; i++)
		cd_docker_container_release(&list[i]);
	free(list);
}

/* ---- wait and logs ---- */

int cd_docker_container_wait(struct cd_docker *d, const char *id, int64_t timeout_ms, int *ret_exit,
        struct cd_error *err)
{
	struct docker_req r;
	cJSON *json = NULL;
	const cJSON *code, *error;
	int rc;

	docker_req_init(&r, "POST", "/containers/%s/wait", id);
	docker_req_query(&r, "condition", "not-running");
	docker_req_what(&r, "cannot wait for container '%s'", id);
	r.timeout_ms = docker_timeout(d, timeout_ms);
	rc = docker_do(d, &r, err);
	if (rc == 0)
		rc = docker_json_parse(&r, &json, err);
	if (rc == 0) {
		error = cJSON_GetObjectItemCaseSensitive(json, "Error");
		code = cJSON_GetObjectItemCaseSensitive(json, "StatusCode");
		if (error && docker_json_str(error, "Message") &&
		        *docker_json_str(error, "Message"))
			rc = docker_req_error(
			        &r, err, CD_EREMOTE, docker_json_str(error, "Message"));
		else if (!cJSON_IsNumber(code))
			rc = docker_req_error(
			        &r, err, CD_EREMOTE, "the engine's reply has no StatusCode");
		else if (ret_exit)
			*ret_exit = code->valueint;
	}
	cJSON_Delete(json);
	docker_req_release(&r);
	return rc;
}

int cd_docker_container_logs(struct cd_docker *d, const char *id, int tail, size_t max,
        struct cd_buf *out, struct cd_buf *errout, struct cd_error *err)
{
	struct cd_buf o = CD_BUF_INIT, e = CD_BUF_INIT;
	struct docker_demux m = {.out = &o, .err = &e, .keep_tail = 1};
	struct docker_req r;
	int rc;

	/* 0, as for struct cd_buf, is no cap of the caller's: ours still holds. */
	m.max = max && max < DOCKER_BODY_MAX ? max : DOCKER_BODY_MAX;
	docker_req_init(&r, "GET", "/containers/%s/logs", id);
	docker_req_query(&r, "stdout", "1");
	docker_req_query(&r, "stderr", "1");
	if (tail >= 0)
		docker_req_query_int(&r, "tail", tail);
	else
		docker_req_query(&r, "tail", "all");
	docker_req_what(&r, "cannot read the logs of container '%s'", id);
	r.stream = docker_demux_feed;
	r.stream_ctx = &m;
	rc = docker_do(d, &r, err);
	if (rc == 0) {
		docker_demux_finish(&m);
		/* The caller's buffers may have their own caps: what does not fit is dropped. */
		if (out)
			cd_buf_add(out, o.buf, o.len);
		if (errout)
			cd_buf_add(errout, e.buf, e.len);
	}
	cd_buf_release(&o);
	cd_buf_release(&e);
	docker_req_release(&r);
	return rc;
}
