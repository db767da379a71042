/*
 * Off-site copies on S3-compatible storage, signed with libcurl's AWS
 * SigV4, path-style (endpoint/bucket/key) so that any S3 implementation
 * answers. An upload streams the archive from disk and is then read back
 * whole through sha256: a copy counts as verified only when the bytes the
 * storage returns are the ones written. Keys: <prefix>/<run id>/<archive>.
 * The keys come from the plan's secrets; they reach libcurl only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "corpdeploy/backup.h"
#include "corpdeploy/engine.h"
#include "backup-internal.h"

#define S3_TIMEOUT_S 3600
#define S3_LIST_MAX (8u << 20)
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

int cd_backup_s3_open(const struct cd_plan *plan, const char *access_key, const char *secret_key,
	struct cd_backup_s3 *ret, struct cd_error *err)
{
	const struct cd_backup_storage *s = plan->backup_storage;
	if (!s)
		return cd_error_set(err, CD_EUSAGE, "the plan has no backup_storage");
	if (!access_key || !*access_key || !secret_key || !*secret_key)
		return cd_error_set(err, CD_EUSAGE,
			"backup_storage: the secrets '%s' and '%s' must be set", s->access_key_secret,
			s->secret_key_secret);
	memset(ret, 0, sizeof(*ret));
	size_t el = strlen(s->endpoint);
	while (el && s->endpoint[el - 1] == '/')
		el--;
	ret->base = cd_xasprintf("%.*s/%s", (int)el, s->endpoint, s->bucket);
	ret->prefix = cd_xstrdup(s->prefix && *s->prefix ? s->prefix : plan->name);
	ret->sigv4 = cd_xasprintf("aws:amz:%s:s3", s->region ? s->region : "us-east-1");
	ret->access_key = cd_xstrdup(access_key);
	ret->secret_key = cd_xstrdup(secret_key);
	return 0;
}

void cd_backup_s3_close(struct cd_backup_s3 *s3)
{
	free(s3->base);
	free(s3->prefix);
	free(s3->sigv4);
	free(s3->access_key);
	free(s3->secret_key);
	memset(s3, 0, sizeof(*s3));
}

char *cd_backup_s3_key(const struct cd_backup_s3 *s3, const char *run_id, const char *file)
{
	return cd_xasprintf("%s/%s/%s", s3->prefix, run_id, file);
}

/* Keys hold [A-Za-z0-9._/-] only (run ids, step names): nothing to escape but refuse others. */
static int key_ok(const char *key)
{
	for (const char *c = key; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
			    *c == '.' || *c == '_' || *c == '-' || *c == '/'))
			return 0;
	return *key != 0;
}

struct s3_body {
	struct cd_buf *text;	/* collect the reply here, or */
	struct cd_sha256 *sha;	/* hash it */
	uint64_t bytes;
};

static size_t on_body(char *data, size_t size, size_t n, void *opaque)
{
	struct s3_body *b = opaque;
	size_t len = size * n;
	if (b->text && cd_buf_add(b->text, data, len) < 0)
		return 0;
	if (b->sha)
		cd_sha256_update(b->sha, data, len);
	b->bytes += len;
	return len;
}

/*
 * One request: method on url (query appended), uploading fd (size bytes,
 * payload sha256 given) when fd >= 0. *ret_status: the HTTP status.
 */
static int s3_do(const struct cd_backup_s3 *s3, const char *method, const char *url, int fd,
	uint64_t size, const char *payload_sha, struct s3_body *body, long *ret_status,
	struct cd_error *err)
{
	CURL *c = curl_easy_init();
	if (!c)
		cd_oom();
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *h = NULL;
	char *hdr = cd_xasprintf("x-amz-content-sha256: %s", payload_sha ? payload_sha : EMPTY_SHA256);
	h = curl_slist_append(h, hdr);
	free(hdr);
	FILE *in = NULL;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_AWS_SIGV4, s3->sigv4);
	curl_easy_setopt(c, CURLOPT_USERNAME, s3->access_key);
	curl_easy_setopt(c, CURLOPT_PASSWORD, s3->secret_key);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)S3_TIMEOUT_S);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
	if (fd >= 0) {
		in = fdopen(dup(fd), "rb");
		if (!in) {
			int e = errno;
			curl_slist_free_all(h);
			curl_easy_cleanup(c);
			return cd_error_set_errno(err, e, "cannot read the archive to upload");
		}
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READDATA, in);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
	} else if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	}
	CURLcode cc = curl_easy_perform(c);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (in)
		fclose(in);
	if (cc != CURLE_OK)
		return cd_error_set(err, CD_EREMOTE, "%s %s: %s", method, url,
			errbuf[0] ? errbuf : curl_easy_strerror(cc));
	*ret_status = status;
	return 0;
}

static int status_error(const char *method, const char *url, long status, const struct cd_buf *text,
	struct cd_error *err)
{
	const char *code = text && text->buf ? strstr(text->buf, "<Code>") : NULL;
	int cl = code ? (int)strcspn(code + 6, "<") : 0;
	return cd_error_set(err, CD_EREMOTE, "%s %s: HTTP %ld%s%.*s", method, url, status,
		code ? " " : "", cl, code ? code + 6 : "");
}

int cd_backup_s3_put(const struct cd_backup_s3 *s3, const char *key, const char *path,
	const char *sha256, uint64_t bytes, struct cd_error *err)
{
	if (!key_ok(key))
		return cd_error_set(err, CD_EUSAGE, "'%s' cannot be an object key", key);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cd_error_set_errno(err, errno, "cannot read %s", path);
	char *url = cd_xasprintf("%s/%s", s3->base, key);
	struct cd_buf text = CD_BUF_INIT;
	cd_buf_init(&text, 65536);
	struct s3_body body = { .text = &text };
	long status = 0;
	int r = s3_do(s3, "PUT", url, fd, bytes, sha256, &body, &status, err);
	close(fd);
	if (r == 0 && (status < 200 || status > 299))
		r = status_error("PUT", url, status, &text, err);
	cd_buf_release(&text);
	free(url);
	return r;
}

int cd_backup_s3_verify(const struct cd_backup_s3 *s3, const char *key, const char *sha256,
	uint64_t bytes, struct cd_error *err)
{
	char *url = cd_xasprintf("%s/%s", s3->base, key);
	struct cd_sha256 sha;
	cd_sha256_init(&sha);
	struct s3_body body = { .sha = &sha };
	long status = 0;
	int r = s3_do(s3, "GET", url, -1, 0, NULL, &body, &status, err);
	if (r == 0 && status != 200)
		r = status_error("GET", url, status, NULL, err);
	char hex[65];
	cd_sha256_final_hex(&sha, hex);
	if (r == 0 && body.bytes != bytes)
		r = cd_error_set(err, CD_EREMOTE, "%s: read back %llu bytes, wrote %llu", url,
			(unsigned long long)body.bytes, (unsigned long long)bytes);
	else if (r == 0 && strcmp(hex, sha256) != 0)
		r = cd_error_set(err, CD_EREMOTE, "%s: read back a different checksum", url);
	free(url);
	return r;
}

int cd_backup_s3_delete(const struct cd_backup_s3 *s3, const char *key, struct cd_error *err)
{
	char *url = cd_xasprintf("%s/%s", s3->base, key);
	struct s3_body body = { 0 };
	long status = 0;
	int r = s3_do(s3, "DELETE", url, -1, 0, NULL, &body, &status, err);
	if (r == 0 && status != 204 && status != 200 && status != 404)
		r = status_error("DELETE", url, status, NULL, err);
	free(url);
	return r;
}

/* The text between <tag> and </tag> starting at p, or NULL; *next after it. */
static char *xml_take(const char *p, const char *tag, const char **next)
{
	char open_tag[64], close_tag[64];
	snprintf(open_tag, sizeof(open_tag), "<%s>", tag);
	snprintf(close_tag, sizeof(close_tag), "</%s>", tag);
	const char *a = strstr(p, open_tag);
	if (!a)
		return NULL;
	a += strlen(open_tag);
	const char *b = strstr(a, close_tag);
	if (!b)
		return NULL;
	if (next)
		*next = b + strlen(close_tag);
	return cd_xstrndup(a, (size_t)(b - a));
}

int cd_backup_s3_list(const struct cd_backup_s3 *s3, struct cd_backup_object **ret, size_t *ret_n,
	struct cd_error *err)
{
	struct cd_backup_object *v = NULL;
	size_t n = 0, alloc = 0;
	char *token = NULL;
	int r = 0;
	*ret = NULL;
	*ret_n = 0;
	/* Pages of up to 1000 keys; a bound on pages keeps a misbehaving server from looping us. */
	for (int page = 0; page < 1000 && r == 0; page++) {
		char *url = cd_xasprintf("%s?list-type=2&prefix=%s/%s%s", s3->base, s3->prefix,
			token ? "&continuation-token=" : "", token ? token : "");
		struct cd_buf text = CD_BUF_INIT;
		cd_buf_init(&text, S3_LIST_MAX);
		struct s3_body body = { .text = &text };
		long status = 0;
		r = s3_do(s3, "GET", url, -1, 0, NULL, &body, &status, err);
		if (r == 0 && status != 200)
			r = status_error("GET", url, status, &text, err);
		free(url);
		free(token);
		token = NULL;
		const char *p = text.buf;
		char *item;
		while (r == 0 && (item = xml_take(p, "Contents", &p))) {
			if (n == alloc)
				v = cd_xreallocarray(v, alloc = alloc ? alloc * 2 : 16, sizeof(*v));
			char *size = xml_take(item, "Size", NULL);
			v[n].key = xml_take(item, "Key", NULL);
			v[n].modified = xml_take(item, "LastModified", NULL);
			v[n].size = size ? strtoull(size, NULL, 10) : 0;
			free(size);
			free(item);
			if (!v[n].key) {
				free(v[n].modified);
				continue;
			}
			if (!v[n].modified)
				v[n].modified = cd_xstrdup("");
			n++;
		}
		char *truncated = r == 0 ? xml_take(text.buf, "IsTruncated", NULL) : NULL;
		if (truncated && strcmp(truncated, "true") == 0)
			token = xml_take(text.buf, "NextContinuationToken", NULL);
		free(truncated);
		cd_buf_release(&text);
		if (!token)
			break;
		/* Tokens are opaque: escape what a query cannot hold. */
		CURL *c = curl_easy_init();
		char *esc = c ? curl_easy_escape(c, token, 0) : NULL;
		free(token);
		token = esc ? cd_xstrdup(esc) : NULL;
		curl_free(esc);
		if (c)
			curl_easy_cleanup(c);
		if (!token)
			break;
	}
	free(token);
	if (r < 0) {
		cd_backup_objects_free(v, n);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

void cd_backup_objects_free(struct cd_backup_object *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].key);
		free(v[i].modified);
	}
	free(v);
}

static int newest_first(const void *a, const void *b)
{
	const struct cd_backup_object *x = a, *y = b;
	int c = strcmp(y->modified, x->modified);
	return c ? c : strcmp(y->key, x->key);
}

int cd_backup_s3_prune(const struct cd_backup_s3 *s3, const char *file, int64_t keep,
	size_t *ret_removed, struct cd_error *err)
{
	struct cd_backup_object *v;
	size_t n, kept = 0, removed = 0;
	int r = cd_backup_s3_list(s3, &v, &n, err);
	if (r < 0)
		return r;
	if (n)
		qsort(v, n, sizeof(*v), newest_first);
	for (size_t i = 0; i < n && r == 0; i++) {
		const char *slash = strrchr(v[i].key, '/');
		if (!slash || strcmp(slash + 1, file) != 0)
			continue;
		if ((int64_t)kept++ < keep)
			continue;
		if ((r = cd_backup_s3_delete(s3, v[i].key, err)) == 0)
			removed++;
	}
	cd_backup_objects_free(v, n);
	if (ret_removed)
		*ret_removed = removed;
	return r;
}

int backup_s3_upload_step(struct cd_run *run, const char *path,
	const char *sha256, uint64_t bytes, int64_t keep, cJSON **ret, struct cd_error *err)
{
	const struct cd_backup_storage *st = run->plan->backup_storage;
	struct cd_backup_s3 s3;
	int r = cd_backup_s3_open(run->plan, st ? cd_run_env(run, st->access_key_secret) : NULL,
		st ? cd_run_env(run, st->secret_key_secret) : NULL, &s3, err);
	if (r < 0)
		return r;
	const char *file = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	char *key = cd_backup_s3_key(&s3, run->run_id, file);
	char *url = cd_xasprintf("%s/%s", s3.base, key);
	if ((r = cd_backup_s3_put(&s3, key, path, sha256, bytes, err)) == 0)
		r = cd_backup_s3_verify(&s3, key, sha256, bytes, err);
	size_t removed = 0;
	if (r == 0)
		r = cd_backup_s3_prune(&s3, file, keep, &removed, err);
	if (r == 0) {
		cJSON *u = cJSON_CreateObject();
		cJSON_AddStringToObject(u, "url", url);
		cJSON_AddBoolToObject(u, "verified", 1);
		*ret = u;
		cd_run_note(run, "uploaded %s and read it back%s", url,
			removed ? ", older copies removed" : "");
	}
	free(url);
	free(key);
	cd_backup_s3_close(&s3);
	return r;
}
