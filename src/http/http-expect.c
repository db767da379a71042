/*
 * Judging a response against a plan's expectations: status, headers, body,
 * JSON values and counts by path, latency. The first failed expectation is
 * the message, with what was expected and what came.
 */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corpdeploy/http.h"
#include "corpdeploy/steps.h"

static const cJSON *path_step(const cJSON *node, const char **p)
{
	const char *s = *p;
	if (*s == '.') {
		s++;
		const char *start = s;
		while (*s && *s != '.' && *s != '[')
			s++;
		if (s == start)
			return NULL;
		char *key = cd_xstrndup(start, (size_t)(s - start));
		const cJSON *next = cJSON_IsObject(node) ? cJSON_GetObjectItemCaseSensitive(node, key) : NULL;
		free(key);
		*p = s;
		return next;
	}
	if (*s == '[') {
		char *end;
		long idx = strtol(s + 1, &end, 10);
		if (end == s + 1 || *end != ']' || idx < 0)
			return NULL;
		*p = end + 1;
		return cJSON_IsArray(node) ? cJSON_GetArrayItem(node, (int)idx) : NULL;
	}
	return NULL;
}

int cd_json_path(const char *json, const char *path, char **ret, long *ret_count)
{
	if (path[0] != '$')
		return CD_EFAIL;
	cJSON *doc = cJSON_Parse(json);
	if (!doc)
		return CD_EFAIL;
	const cJSON *node = doc;
	const char *p = path + 1;
	while (node && *p)
		node = path_step(node, &p);
	if (!node) {
		cJSON_Delete(doc);
		return CD_ENOTFOUND;
	}
	*ret_count = cJSON_IsArray(node) || cJSON_IsObject(node) ? cJSON_GetArraySize(node) : -1;
	if (cJSON_IsString(node))
		*ret = cd_xstrdup(node->valuestring);
	else {
		char *s = cJSON_PrintUnformatted(node);
		if (!s)
			cd_oom();
		*ret = cd_xstrdup(s);
		cJSON_free(s);
	}
	cJSON_Delete(doc);
	return 0;
}

static int status_ok(const struct cd_expect *e, long status)
{
	if (!e || !e->status.n)
		return status >= 200 && status < 300;
	for (size_t i = 0; i < e->status.n; i++)
		if (atol(e->status.v[i]) == status)
			return 1;
	return 0;
}

int cd_http_expect(const struct cd_expect *e, const struct cd_http_response *resp,
	struct cd_error *err)
{
	if (!status_ok(e, resp->status)) {
		struct cd_buf want = CD_BUF_INIT;
		if (e && e->status.n)
			cd_step_describe_strv(&e->status, " or ", &want);
		else
			cd_buf_adds(&want, "2xx");
		int r = cd_error_set(err, CD_EFAIL, "expected status %s, got %ld", want.buf, resp->status);
		cd_buf_release(&want);
		return r;
	}
	if (!e)
		return 0;
	for (size_t i = 0; i < e->headers.n; i++) {
		char *v = cd_http_header(resp, e->headers.items[i].key);
		int ok = v && strstr(v, e->headers.items[i].value);
		int r = ok ? 0 : cd_error_set(err, CD_EFAIL, "expected header %s: %s, got %s%s%s",
			e->headers.items[i].key, e->headers.items[i].value, v ? "'" : "none", v ? v : "", v ? "'" : "");
		free(v);
		if (r)
			return r;
	}
	if (e->body_contains && !strstr(resp->body.buf, e->body_contains))
		return cd_error_set(err, CD_EFAIL, "expected the body to contain '%s'", e->body_contains);
	for (size_t i = 0; i < e->json.n + e->json_count.n; i++) {
		int counting = i >= e->json.n;
		const struct cd_kv *kv = counting ? &e->json_count.items[i - e->json.n] : &e->json.items[i];
		char *v = NULL;
		long count = -1;
		int r = cd_json_path(resp->body.buf, kv->key, &v, &count);
		if (r == CD_EFAIL)
			return cd_error_set(err, CD_EFAIL, "expected a JSON body for %s", kv->key);
		if (r == CD_ENOTFOUND)
			return cd_error_set(err, CD_EFAIL, "expected %s in the JSON body, found nothing",
				kv->key);
		if (counting && count != atol(kv->value)) {
			free(v);
			return cd_error_set(err, CD_EFAIL, "expected %s to hold %s items, found %ld",
				kv->key, kv->value, count);
		}
		if (!counting && strcmp(v, kv->value) != 0) {
			r = cd_error_set(err, CD_EFAIL, "expected %s = %s, got %.80s", kv->key, kv->value, v);
			free(v);
			return r;
		}
		free(v);
	}
	if (e->max_latency_ms >= 0 && resp->latency_ms > e->max_latency_ms) {
		char a[32], b[32];
		return cd_error_set(err, CD_EFAIL, "expected an answer within %s, took %s",
			cd_duration_format(e->max_latency_ms, a, sizeof(a)),
			cd_duration_format(resp->latency_ms, b, sizeof(b)));
	}
	return 0;
}
