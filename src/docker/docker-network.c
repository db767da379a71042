/*
 * Networks and volumes. Ensure looks before it creates, so a run that finds
 * everything in place makes no mutating call; a create that loses a race
 * with another creator still succeeds.
 */
#include <stdlib.h>
#include <string.h>

#include "docker-internal.h"

/* 1 if a network of exactly that name exists (the name filter matches substrings). */
static int network_exists(struct cd_docker *d, const char *name, struct cd_error *err)
{
	struct docker_req r;
	cJSON *filters, *list, *json = NULL, *item;
	char *text;
	int rc, found = 0;

	filters = cJSON_CreateObject();
	list = docker_json_strings((const char *const[]){name, NULL});
	if (!filters || !cJSON_AddItemToObject(filters, "name", list))
		cd_oom();
	text = docker_json_print(filters);
	cJSON_Delete(filters);
	docker_req_init(&r, "GET", "/networks");
	docker_req_query(&r, "filters", text);
	free(text);
	docker_req_what(&r, "cannot look for network '%s'", name);
	rc = docker_do(d, &r, err);
	if (rc == 0)
		rc = docker_json_parse(&r, &json, err);
	if (rc < 0 || !cJSON_IsArray(json))
		item = NULL;
	else
		item = json->child;
	for (; item; item = item->next) {
		const char *n = docker_json_str(item, "Name");
		if (n && strcmp(n, name) == 0)
			found = 1;
	}
	cJSON_Delete(json);
	docker_req_release(&r);
	return rc < 0 ? rc : found;
}

int cd_docker_network_ensure(
        struct cd_docker *d, const char *name, const char *const *labels, struct cd_error *err)
{
	struct docker_req r;
	cJSON *body;
	int rc;

	rc = network_exists(d, name, err);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	body = cJSON_CreateObject();
	if (!body || !cJSON_AddStringToObject(body, "Name", name) ||
	        /* Without it 20.10 makes a second network of the same name (B3). */
	        !cJSON_AddBoolToObject(body, "CheckDuplicate", 1) ||
	        !cJSON_AddStringToObject(body, "Driver", "bridge") ||
	        !cJSON_AddItemToObject(body, "Labels", docker_json_kv(labels)))
		cd_oom();
	docker_req_init(&r, "POST", "/networks/create");
	docker_req_what(&r, "cannot create network '%s'", name);
	docker_req_json(&r, body);
	cJSON_Delete(body);
	rc = docker_call(d, &r, err);
	/* 409: another creator was first, and the network is there. */
	if (rc == 0 && !(r.status >= 200 && r.status < 300) && r.status != 409)
		rc = docker_fail(&r, err);
	docker_req_release(&r);
	return rc;
}

int cd_docker_network_connect(struct cd_docker *d, const char *network, const char *container,
        const char *const *aliases, struct cd_error *err)
{
	struct docker_req r;
	cJSON *body, *endpoint;
	int rc;

	body = cJSON_CreateObject();
	endpoint = cJSON_CreateObject();
	if (!body || !endpoint || !cJSON_AddStringToObject(body, "Container", container) ||
	        (aliases && !cJSON_AddItemToObject(
	                            endpoint, "Aliases", docker_json_strings(aliases))) ||
	        !cJSON_AddItemToObject(body, "EndpointConfig", endpoint))
		cd_oom();
	docker_req_init(&r, "POST", "/networks/%s/connect", network);
	docker_req_what(&r, "cannot connect container '%s' to network '%s'", container, network);
	docker_req_json(&r, body);
	cJSON_Delete(body);
	rc = docker_do(d, &r, err);
	docker_req_release(&r);
	return rc;
}

int cd_docker_network_remove(struct cd_docker *d, const char *name, struct cd_error *err)
{
	struct docker_req r;
	int rc;

	docker_req_init(&r, "DELETE", "/networks/%s", name);
	docker_req_what(&r, "cannot remove network '%s'", name);
	rc = docker_do(d, &r, err);
	docker_req_release(&r);
	return rc;
}

int cd_docker_volume_ensure(
        struct cd_docker *d, const char *name, const char *const *labels, struct cd_error *err)
{
	struct docker_req r;
	cJSON *body;
	int rc;

	docker_req_init(&r, "GET", "/volumes/%s", name);
	docker_req_what(&r, "cannot look for volume '%s'", name);
	rc = docker_call(d, &r, err);
	if (rc == 0 && r.status != 200 && r.status != 404)
		rc = docker_fail(&r, err);
	if (rc < 0 || r.status == 200) {
		docker_req_release(&r);
		return rc;
	}
	docker_req_release(&r);

	body = cJSON_CreateObject();
	if (!body || !cJSON_AddStringToObject(body, "Name", name) ||
	        !cJSON_AddStringToObject(body, "Driver", "local") ||
	        !cJSON_AddItemToObject(body, "Labels", docker_json_kv(labels)))
		cd_oom();
	docker_req_init(&r, "POST", "/volumes/create");
	docker_req_what(&r, "cannot create volume '%s'", name);
	docker_req_json(&r, body);
	cJSON_Delete(body);
	/* Creating an existing local volume again is a success (201) too. */
	rc = docker_do(d, &r, err);
	docker_req_release(&r);
	return rc;
}

int cd_docker_volume_remove(struct cd_docker *d, const char *name, int force, struct cd_error *err)
{
	struct docker_req r;
	int rc;

	docker_req_init(&r, "DELETE", "/volumes/%s", name);
	docker_req_query(&r, "force", force ? "1" : "0");
	docker_req_what(&r, "cannot remove volume '%s'", name);
	rc = docker_do(d, &r, err);
	docker_req_release(&r);
	return rc;
}
