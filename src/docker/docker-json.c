/*
 * cJSON helpers of the Docker client: request bodies from the NULL-terminated
 * string arrays of docker.h, and tolerant reads of the engine's replies (a
 * missing or mistyped member reads as NULL, never as a crash).
 */
#include <stdlib.h>
#include <string.h>

#include "docker-internal.h"

cJSON *docker_json_strings(const char *const *v)
{
	cJSON *a = cJSON_CreateArray();

	if (!a)
		cd_oom();
	for (; v && *v; v++) {
		cJSON *s = cJSON_CreateString(*v);
		if (!s || !cJSON_AddItemToArray(a, s))
			cd_oom();
	}
	return a;
}

cJSON *docker_json_kv(const char *const *v)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		cd_oom();
	for (; v && *v; v++) {
		const char *eq = strchr(*v, '=');
		char *key = eq ? cd_xstrndup(*v, (size_t)(eq - *v)) : cd_xstrdup(*v);
		cJSON *s = cJSON_CreateString(eq ? eq + 1 : "");
		if (!s)
			cd_oom();
		/* The last of a repeated key wins, as with docker --label. */
		cJSON_DeleteItemFromObjectCaseSensitive(o, key);
		if (!cJSON_AddItemToObject(o, key, s))
			cd_oom();
		free(key);
	}
	return o;
}

char *docker_json_print(const cJSON *json)
{
	char *s = cJSON_PrintUnformatted(json);
	char *copy;

	if (!s)
		cd_oom();
	/* cJSON allocates with its own hooks: hand back plain malloc'd text. */
	copy = cd_xstrdup(s);
	cJSON_free(s);
	return copy;
}

const char *docker_json_str(const cJSON *obj, const char *name)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
	return cJSON_IsString(item) ? item->valuestring : NULL;
}

char *docker_json_strdup(const cJSON *obj, const char *name)
{
	const char *s = docker_json_str(obj, name);
	return s ? cd_xstrdup(s) : NULL;
}

int docker_json_parse(const struct docker_req *r, cJSON **ret, struct cd_error *err)
{
	cJSON *json = cJSON_ParseWithLength(r->body.buf, r->body.len);

	if (!json)
		return docker_req_error(r, err, CD_EREMOTE, "the engine's reply is not JSON");
	*ret = json;
	return 0;
}
