/*
 * Files in a container through the engine's archive endpoint: HEAD stats a
 * path, GET streams its tar out, PUT streams a tar in to be extracted. The
 * stat comes as a header, X-Docker-Container-Path-Stat: base64 of JSON
 * whose mode is a Go os.FileMode, not a st_mode.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "docker-internal.h"

#define PATH_STAT_HEADER "X-Docker-Container-Path-Stat"

/* Go's os.FileMode bits (io/fs), as the engine encodes them. */
#define GO_MODE_DIR        (1u << 31)
#define GO_MODE_SYMLINK    (1u << 27)
#define GO_MODE_DEVICE     (1u << 26)
#define GO_MODE_NAMED_PIPE (1u << 25)
#define GO_MODE_SOCKET     (1u << 24)
#define GO_MODE_SETUID     (1u << 23)
#define GO_MODE_SETGID     (1u << 22)
#define GO_MODE_CHAR_DEV   (1u << 21)
#define GO_MODE_STICKY     (1u << 20)

static unsigned mode_from_go(double value)
{
	unsigned go = value >= 0 && value < 4294967296.0 ? (unsigned)value : 0;
	unsigned mode = go & 0777;

	if (go & GO_MODE_DIR)
		mode |= S_IFDIR;
	else if (go & GO_MODE_SYMLINK)
		mode |= S_IFLNK;
	else if (go & GO_MODE_DEVICE)
		mode |= go & GO_MODE_CHAR_DEV ? S_IFCHR : S_IFBLK;
	else if (go & GO_MODE_NAMED_PIPE)
		mode |= S_IFIFO;
	else if (go & GO_MODE_SOCKET)
		mode |= S_IFSOCK;
	else
		mode |= S_IFREG;
	if (go & GO_MODE_SETUID)
		mode |= S_ISUID;
	if (go & GO_MODE_SETGID)
		mode |= S_ISGID;
	if (go & GO_MODE_STICKY)
		mode |= S_ISVTX;
	return mode;
}

/* Standard base64 (the engine's encoding; the URL alphabet accepted too), padding optional. */
static int base64_decode(const char *s, struct cd_buf *out)
{
	uint32_t acc = 0;
	int bits = 0;

	for (; *s && *s != '='; s++) {
		int v;
		if (*s >= 'A' && *s <= 'Z')
			v = *s - 'A';
		else if (*s >= 'a' && *s <= 'z')
			v = *s - 'a' + 26;
		else if (*s >= '0' && *s <= '9')
			v = *s - '0' + 52;
		else if (*s == '+' || *s == '-')
			v = 62;
		else if (*s == '/' || *s == '_')
			v = 63;
		else
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			cd_buf_addch(out, (char)(acc >> bits & 0xff));
		}
	}
	return 0;
}

/* Parses the stat header of r into *ret. */
static int parse_stat(const struct docker_req *r, struct cd_docker_path_stat *ret,
        struct cd_error *err)
{
	struct cd_buf json_text = CD_BUF_INIT;
	cJSON *json = NULL;
	const cJSON *size, *mode;
	const char *link;

	memset(ret, 0, sizeof(*ret));
	if (!r->header)
		return docker_req_error(
		        r, err, CD_EREMOTE, "the engine's reply has no " PATH_STAT_HEADER " header");
	if (base64_decode(r->header, &json_text) == 0)
		json = cJSON_ParseWithLength(json_text.buf ? json_text.buf : "", json_text.len);
	cd_buf_release(&json_text);
	if (!cJSON_IsObject(json)) {
		cJSON_Delete(json);
		return docker_req_error(
		        r, err, CD_EREMOTE, "the engine's " PATH_STAT_HEADER " header is not readable");
	}
	size = cJSON_GetObjectItemCaseSensitive(json, "size");
	mode = cJSON_GetObjectItemCaseSensitive(json, "mode");
	link = docker_json_str(json, "linkTarget");
	ret->name = cd_xstrdup(docker_json_str(json, "name") ? docker_json_str(json, "name") : "");
	ret->size = cJSON_IsNumber(size) ? (int64_t)size->valuedouble : 0;
	ret->mode = cJSON_IsNumber(mode) ? mode_from_go(mode->valuedouble) : 0;
	ret->mtime = docker_json_strdup(json, "mtime");
	if (!ret->mtime)
		ret->mtime = cd_xstrdup("");
	ret->link_target = cd_xstrdup(link ? link : "");
	cJSON_Delete(json);
	return 0;
}

void cd_docker_path_stat_release(struct cd_docker_path_stat *st)
{
	free(st->name);
	free(st->mtime);
	free(st->link_target);
	memset(st, 0, sizeof(*st));
}

int cd_docker_path_stat(struct cd_docker *d, const char *id, const char *path,
        struct cd_docker_path_stat *ret, struct cd_error *err)
{
	struct docker_req r;
	int rc;

	memset(ret, 0, sizeof(*ret));
	docker_req_init(&r, "HEAD", "/containers/%s/archive", id);
	docker_req_query(&r, "path", path);
	docker_req_what(&r, "cannot stat '%s' in container '%s'", path, id);
	r.want_header = PATH_STAT_HEADER;
	rc = docker_call(d, &r, err);
	/* A HEAD reply has no body to quote: 404 is said here. */
	if (rc == 0 && r.status == 404)
		rc = docker_req_error(&r, err, CD_ENOTFOUND,
		        "no such file or directory (or no such container)");
	else if (rc == 0 && (r.status < 200 || r.status >= 300))
		rc = docker_fail(&r, err);
	if (rc == 0)
		rc = parse_stat(&r, ret, err);
	docker_req_release(&r);
	return rc;
}

/* ---- GET: a tar streamed out ---- */

struct get_ctx {
	cd_docker_sink sink;
	void *opaque;
};

static int get_feed(struct docker_req *r, const char *data, size_t len)
{
	struct get_ctx *g = r->stream_ctx;

	if (g->sink(g->opaque, data, len, &r->cb_err) < 0) {
		if (!r->cb_err.code)
			cd_error_set(&r->cb_err, CD_EFAIL, "the archive's reader failed");
		return -1;
	}
	return 0;
}

int cd_docker_archive_get(struct cd_docker *d, const char *id, const char *path,
        int64_t timeout_ms, cd_docker_sink sink, void *opaque, struct cd_docker_path_stat *ret_stat,
        struct cd_error *err)
{
	struct get_ctx g = {sink, opaque};
	struct docker_req r;
	int rc;

	if (ret_stat)
		memset(ret_stat, 0, sizeof(*ret_stat));
	docker_req_init(&r, "GET", "/containers/%s/archive", id);
	docker_req_query(&r, "path", path);
	docker_req_what(&r, "cannot copy '%s' out of container '%s'", path, id);
	r.want_header = PATH_STAT_HEADER;
	r.stream = get_feed;
	r.stream_ctx = &g;
	r.timeout_ms = timeout_ms;
	rc = docker_do(d, &r, err);
	if (rc == 0 && ret_stat)
		rc = parse_stat(&r, ret_stat, err);
	docker_req_release(&r);
	return rc;
}

/* ---- PUT: a tar streamed in ---- */

struct put_ctx {
	cd_docker_source source;
	void *opaque;
};

static ssize_t put_read(struct docker_req *r, char *buf, size_t len)
{
	struct put_ctx *p = r->read_ctx;
	ssize_t n = p->source(p->opaque, buf, len, &r->cb_err);

	if (n < 0 && !r->cb_err.code)
		cd_error_set(&r->cb_err, CD_EFAIL, "the archive's writer failed");
	return n;
}

int cd_docker_archive_put(struct cd_docker *d, const char *id, const char *dir,
        int64_t timeout_ms, cd_docker_source source, void *opaque, struct cd_error *err)
{
	struct put_ctx p = {source, opaque};
	struct docker_req r;
	int rc;

	docker_req_init(&r, "PUT", "/containers/%s/archive", id);
	docker_req_query(&r, "path", dir);
	/* A file never takes a directory's place, nor the reverse. */
	docker_req_query(&r, "noOverwriteDirNonDir", "1");
	docker_req_what(&r, "cannot copy files into '%s' in container '%s'", dir, id);
	r.read = put_read;
	r.read_ctx = &p;
	r.read_size = -1;
	r.content_type = "application/x-tar";
	r.timeout_ms = timeout_ms;
	rc = docker_do(d, &r, err);
	docker_req_release(&r);
	return rc;
}
