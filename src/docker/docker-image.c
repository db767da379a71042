/*
 * Images: inspect, tag and remove, and the streaming calls (pull, build,
 * import, load) whose progress is parsed line by line as it arrives. Those
 * report failures inside HTTP 200 bodies too, so every line is checked.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "docker-internal.h"

int cd_docker_image_inspect(
        struct cd_docker *d, const char *ref, struct cd_docker_image *ret, struct cd_error *err)
{
	struct docker_req r;
	cJSON *json = NULL;
	const cJSON *tags, *size;
	int rc;

	docker_req_init(&r, "GET", "/images/%s/json", ref);
	docker_req_what(&r, "cannot inspect image '%s'", ref);
	rc = docker_do(d, &r, err);
	if (rc == 0)
		rc = docker_json_parse(&r, &json, err);
	if (rc == 0) {
		memset(ret, 0, sizeof(*ret));
		ret->id = docker_json_strdup(json, "Id");
		ret->created = docker_json_strdup(json, "Created");
		size = cJSON_GetObjectItemCaseSensitive(json, "Size");
		ret->size = cJSON_IsNumber(size) ? (int64_t)size->valuedouble : 0;
		const cJSON *labels = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(json, "Config"), "Labels");
		const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(labels, "corpdeploy.context");
		if (cJSON_IsString(ctx))
			ret->context_digest = cd_xstrdup(ctx->valuestring);
		tags = cJSON_GetObjectItemCaseSensitive(json, "RepoTags");
		if (cJSON_IsArray(tags)) {
			const cJSON *t;
			ret->repo_tags = cd_xcalloc(
			        (size_t)cJSON_GetArraySize(tags) + 1, sizeof(*ret->repo_tags));
			cJSON_ArrayForEach(t, tags)
			{
				if (cJSON_IsString(t))
					ret->repo_tags[ret->n_repo_tags++] =
					        cd_xstrdup(t->valuestring);
			}
		}
	}
	cJSON_Delete(json);
	docker_req_release(&r);
	return rc;
}

void cd_docker_image_release(struct cd_docker_image *img)
{
	free(img->id);
	free(img->created);
	free(img->context_digest);
	for (size_t i = 0; i < img->n_repo_tags; i++)
		free(img->repo_tags[i]);
	free(img->repo_tags);
	memset(img, 0, sizeof(*img));
}

/*
 * Runs a streaming request whose reply is JSON lines: an error line in a
 * 200 reply fails it with the engine's words.
 */
static int run_jsonl(
        struct cd_docker *d, struct docker_req *r, struct docker_jsonl *j, struct cd_error *err)
{
	int rc;

	r->stream = docker_jsonl_feed;
	r->stream_ctx = j;
	rc = docker_do(d, r, err);
	if (rc == 0 && docker_jsonl_finish(r) < 0)
		rc = docker_req_error(r, err, r->cb_err.code, r->cb_err.msg);
	if (rc == 0 && j->error)
		rc = docker_req_error(r, err, CD_EREMOTE, j->error);
	return rc;
}

/* ---- pull ---- */

/* Splits ref into name and tag (or digest); "latest" when it has neither. */
static void split_ref(const char *ref, char **name, char **tag)
{
	const char *at = strchr(ref, '@');
	const char *slash = strrchr(ref, '/');
	const char *colon = strrchr(ref, ':');

	if (at) {
		*name = cd_xstrndup(ref, (size_t)(at - ref));
		*tag = cd_xstrdup(at + 1);
	} else if (colon && (!slash || colon > slash)) {
		*name = cd_xstrndup(ref, (size_t)(colon - ref));
		*tag = cd_xstrdup(colon + 1);
	} else {
		*name = cd_xstrdup(ref);
		*tag = cd_xstrdup("latest");
	}
}

/* The registry of a reference, as the engine derives it (docker/distribution reference). */
static char *ref_registry(const char *ref)
{
	const char *slash = strchr(ref, '/');

	if (slash && (memchr(ref, '.', (size_t)(slash - ref)) ||
	                     memchr(ref, ':', (size_t)(slash - ref)) ||
	                     ((size_t)(slash - ref) == 9 && strncmp(ref, "localhost", 9) == 0)))
		return cd_xstrndup(ref, (size_t)(slash - ref));
	return cd_xstrdup("https://index.docker.io/v1/");
}

static char *registry_auth(const char *ref, const struct cd_docker_auth *auth)
{
	cJSON *json = cJSON_CreateObject();
	char *server = auth->server ? cd_xstrdup(auth->server) : ref_registry(ref);
	char *text, *enc;

	if (!json)
		cd_oom();
	if (!cJSON_AddStringToObject(json, "username", auth->username ? auth->username : "") ||
	        !cJSON_AddStringToObject(json, "password", auth->password ? auth->password : "") ||
	        !cJSON_AddStringToObject(json, "serveraddress", server))
		cd_oom();
	text = docker_json_print(json);
	enc = docker_base64url(text, strlen(text));
	/* The text holds the password: wipe it before it goes back to the heap. */
	explicit_bzero(text, strlen(text));
	free(text);
	cJSON_Delete(json);
	free(server);
	return enc;
}

int cd_docker_image_pull(struct cd_docker *d, const char *ref, const struct cd_docker_auth *auth,
        int64_t timeout_ms, struct cd_error *err)
{
	struct docker_req r;
	struct docker_jsonl j;
	char *name, *tag, *enc = NULL;
	int rc;

	split_ref(ref, &name, &tag);
	docker_req_init(&r, "POST", "/images/create");
	docker_req_query(&r, "fromImage", name);
	docker_req_query(&r, "tag", tag);
	docker_req_what(&r, "cannot pull image '%s'", ref);
	r.timeout_ms = docker_timeout(d, timeout_ms);
	if (auth) {
		enc = registry_auth(ref, auth);
		r.registry_auth = enc;
	}
	docker_jsonl_init(&j);
	rc = run_jsonl(d, &r, &j, err);
	if (rc < 0 && err && err->msg &&
	        (strstr(err->msg, "unauthorized") ||
	                strstr(err->msg, "no basic auth credentials"))) {
		/* The engine passes on the registry's words, not its status: say which and who. */
		char *server = auth && auth->server ? cd_xstrdup(auth->server) : ref_registry(ref);
		char *msg = auth && auth->username
		                    ? cd_xasprintf("%s (the registry %s answered 401 Unauthorized "
		                                   "to user '%s')",
		                              err->msg, server, auth->username)
		                    : cd_xasprintf("%s (the registry %s answered 401 Unauthorized; "
		                                   "no credentials "
		                                   "were given)",
		                              err->msg, server);
		cd_error_set(err, rc, "%s", msg);
		free(msg);
		free(server);
	}
	docker_jsonl_release(&j);
	docker_req_release(&r);
	if (enc) {
		explicit_bzero(enc, strlen(enc));
		free(enc);
	}
	free(name);
	free(tag);
	return rc;
}

/* ---- build ---- */

/* A line of build output without the colour codes the builder wraps stderr in. */
static char *strip_ansi(const char *s, size_t len)
{
	struct cd_buf b = CD_BUF_INIT;
	char *line;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\033' && i + 1 < len && s[i + 1] == '[') {
			i += 2;
			while (i < len && !(s[i] >= '@' && s[i] <= '~'))
				i++;
			continue;
		}
		cd_buf_addch(&b, s[i]);
	}
	line = docker_one_line(b.buf, b.len);
	cd_buf_release(&b);
	return line;
}

struct build_state {
	char *id;
	char *last; /* the last line a build step printed */
};

static int build_object(struct docker_req *r, const cJSON *obj, void *ctx)
{
	struct build_state *b = ctx;
	const cJSON *aux = cJSON_GetObjectItemCaseSensitive(obj, "aux");
	const char *s = aux ? docker_json_str(aux, "ID") : NULL;
	const char *text = docker_json_str(obj, "stream");

	(void)r;
	if (s) {
		free(b->id);
		b->id = cd_xstrdup(s);
	}
	while (text && *text) {
		/* The builder's own lines ("Step 2/3 :", " ---> 3f1c") say nothing of a failure. */
		const char *nl = strchr(text, '\n');
		size_t len = nl ? (size_t)(nl - text) : strlen(text);
		char *line = strip_ansi(text, len);
		if (*line && strncmp(line, "--->", 4) != 0 && strncmp(line, "Step ", 5) != 0 &&
		        strncmp(line, "Removing intermediate container", 31) != 0) {
			free(b->last);
			b->last = line;
		} else {
			free(line);
		}
		text = nl ? nl + 1 : NULL;
	}
	return 0;
}

static void query_kv(struct docker_req *r, const char *key, const char *const *v)
{
	cJSON *json = docker_json_kv(v);
	char *text = docker_json_print(json);

	docker_req_query(r, key, text);
	free(text);
	cJSON_Delete(json);
}

int cd_docker_image_build(struct cd_docker *d, const struct cd_docker_build *b, int64_t timeout_ms,
        char **ret_id, struct cd_error *err)
{
	const char *dockerfile = b->dockerfile ? b->dockerfile : "Dockerfile";
	const char *name = b->tag ? b->tag : b->context_dir;
	struct docker_context *ctx = NULL;
	struct cd_error inner = CD_ERROR_INIT;
	struct docker_req r;
	struct docker_jsonl j;
	struct build_state state = {NULL, NULL};
	int rc;

	rc = docker_context_new(b->context_dir, dockerfile, &ctx, &inner);
	if (rc < 0) {
		rc = cd_error_set(err, rc, "cannot build image '%s': %s", name, inner.msg);
		cd_error_release(&inner);
		return rc;
	}
	docker_req_init(&r, "POST", "/build");
	if (b->tag)
		docker_req_query(&r, "t", b->tag);
	docker_req_query(&r, "dockerfile", dockerfile);
	if (b->buildargs)
		query_kv(&r, "buildargs", b->buildargs);
	if (b->labels)
		query_kv(&r, "labels", b->labels);
	docker_req_query(&r, "rm", "1");
	docker_req_query(&r, "forcerm", "1");
	docker_req_what(&r, "cannot build image '%s'", name);
	r.timeout_ms = docker_timeout(d, timeout_ms);
	r.read = docker_context_read;
	r.read_ctx = ctx;
	r.read_size = -1;
	r.content_type = "application/x-tar";

	docker_jsonl_init(&j);
	j.on_object = build_object;
	j.ctx = &state;
	rc = run_jsonl(d, &r, &j, err);
	if (rc < 0 && err && j.error && state.last && !strstr(j.error, state.last)) {
		/* The step's own last words say why its command failed ("sh: nope: not found"). */
		char *msg = cd_xasprintf("%s (last output: %s)", err->msg, state.last);
		cd_error_set(err, rc, "%s", msg);
		free(msg);
	}
	if (rc == 0 && !state.id)
		rc = docker_req_error(&r, err, CD_EREMOTE,
		        "the engine finished without naming the image it built");
	if (rc == 0 && ret_id)
		*ret_id = state.id;
	else
		free(state.id);
	free(state.last);
	docker_jsonl_release(&j);
	docker_req_release(&r);
	docker_context_free(ctx);
	return rc;
}

/* ---- load and import: a tar file as the body ---- */

static int open_tar(
        const char *what, const char *path, int *fd, int64_t *size, struct cd_error *err)
{
	struct stat st;

	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return cd_error_set_errno(err, errno, "%s: cannot open '%s'", what, path);
	if (fstat(*fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		int e = errno;
		close(*fd);
		*fd = -1;
		if (e && !S_ISREG(st.st_mode))
			e = 0;
		return e ? cd_error_set_errno(err, e, "%s: cannot read '%s'", what, path)
		         : cd_error_set(err, CD_EIO, "%s: '%s' is not a file", what, path);
	}
	*size = st.st_size;
	return 0;
}

/* Streams the tar file at tar_path as the body of r and reads the JSON lines that answer. */
static int upload_tar(struct cd_docker *d, struct docker_req *r, const char *tar_path,
	int64_t timeout_ms, struct cd_error *err)
{
	struct docker_jsonl j;
	int64_t size = 0;
	int fd = -1;
	int rc = open_tar(r->what, tar_path, &fd, &size, err);
	if (rc < 0)
		return rc;
	docker_req_upload_fd(r, &fd, size);
	r->timeout_ms = docker_timeout(d, timeout_ms);
	docker_jsonl_init(&j);
	rc = run_jsonl(d, r, &j, err);
	docker_jsonl_release(&j);
	close(fd);
	return rc;
}

int cd_docker_image_load(
        struct cd_docker *d, const char *tar_path, int64_t timeout_ms, struct cd_error *err)
{
	struct docker_req r;
	int rc;

	docker_req_init(&r, "POST", "/images/load");
	docker_req_query(&r, "quiet", "1");
	docker_req_what(&r, "cannot load images from '%s'", tar_path);
	rc = upload_tar(d, &r, tar_path, timeout_ms, err);
	docker_req_release(&r);
	return rc;
}

int cd_docker_image_import(struct cd_docker *d, const char *tar_path, const char *repo,
        const char *tag, int64_t timeout_ms, struct cd_error *err)
{
	struct docker_req r;
	int rc;

	docker_req_init(&r, "POST", "/images/create");
	docker_req_query(&r, "fromSrc", "-");
	docker_req_query(&r, "repo", repo);
	docker_req_query(&r, "tag", tag && *tag ? tag : "latest");
	docker_req_what(&r, "cannot import '%s' as image '%s:%s'", tar_path, repo,
	        tag && *tag ? tag : "latest");
	rc = upload_tar(d, &r, tar_path, timeout_ms, err);
	docker_req_release(&r);
	return rc;
}

/* ---- tag and remove ---- */

int cd_docker_image_tag(struct cd_docker *d, const char *ref, const char *repo, const char *tag,
        struct cd_error *err)
{
	struct docker_req r;
	int rc;

	docker_req_init(&r, "POST", "/images/%s/tag", ref);
	docker_req_query(&r, "repo", repo);
	docker_req_query(&r, "tag", tag && *tag ? tag : "latest");
	docker_req_what(
	        &r, "cannot tag image '%s' as '%s:%s'", ref, repo, tag && *tag ? tag : "latest");
	rc = docker_do(d, &r, err);
	docker_req_release(&r);
	return rc;
}

int cd_docker_image_remove(struct cd_docker *d, const char *ref, int force, struct cd_error *err)
{
	struct docker_req r;
	int rc;

	docker_req_init(&r, "DELETE", "/images/%s", ref);
	docker_req_query(&r, "force", force ? "1" : "0");
	docker_req_what(&r, "cannot remove image '%s'", ref);
	rc = docker_do(d, &r, err);
	docker_req_release(&r);
	return rc;
}
