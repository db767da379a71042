/*
 * The release history and the unfinished-run marker of a plan's state
 * directory (include/corpdeploy/history.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "corpdeploy/docker.h"
#include "corpdeploy/engine.h"
#include "corpdeploy/history.h"
#include "corpdeploy/log.h"
#include "corpdeploy/steps.h"

#define HISTORY_MAX (16L * 1024 * 1024)

static int read_file(const char *path, struct cd_buf *out, struct cd_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? CD_ENOTFOUND : cd_error_set_errno(err, errno, "cannot open '%s'", path);
	char chunk[65536];
	ssize_t n;
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || out->len > (size_t)HISTORY_MAX) {
			int e = n < 0 ? errno : EFBIG;
			close(fd);
			return cd_error_set_errno(err, e, "cannot read '%s'", path);
		}
		cd_buf_add(out, chunk, (size_t)n);
	}
	close(fd);
	return 0;
}

/* Writes data to path through a temporary file, so that a crash leaves the old or the new. */
static int write_atomic(const char *path, const char *data, size_t len, struct cd_error *err)
{
	char *tmp = cd_xasprintf("%s.tmp.%d", path, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), r = 0;
	if (fd < 0) {
		r = cd_error_set_errno(err, errno, "cannot write '%s'", tmp);
		free(tmp);
		return r;
	}
	size_t off = 0;
	while (off < len && r == 0) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0 && errno != EINTR)
			r = cd_error_set_errno(err, errno, "cannot write '%s'", tmp);
		else if (w > 0)
			off += (size_t)w;
	}
	if (r == 0 && fsync(fd) < 0)
		r = cd_error_set_errno(err, errno, "cannot flush '%s'", tmp);
	close(fd);
	if (r == 0 && rename(tmp, path) < 0)
		r = cd_error_set_errno(err, errno, "cannot rename '%s' to '%s'", tmp, path);
	if (r < 0)
		unlink(tmp);
	free(tmp);
	return r;
}

int cd_history_load(const char *state_dir, cJSON **ret, struct cd_error *err)
{
	char *path = cd_xasprintf("%s/releases.json", state_dir);
	struct cd_buf b = CD_BUF_INIT;
	int r = read_file(path, &b, err);
	*ret = NULL;
	if (r == CD_ENOTFOUND) {
		*ret = cJSON_CreateArray();
		r = 0;
	} else if (r == 0) {
		*ret = cJSON_ParseWithLength(b.buf ? b.buf : "", b.len);
		if (!cJSON_IsArray(*ret)) {
			cJSON_Delete(*ret);
			*ret = NULL;
			r = cd_error_set(err, CD_EFAIL, "'%s' is damaged: not a JSON array of releases",
				path);
		}
	}
	cd_buf_release(&b);
	free(path);
	return r;
}

int cd_history_save(const char *state_dir, const cJSON *releases, struct cd_error *err)
{
	char *path = cd_xasprintf("%s/releases.json", state_dir);
	char *text = cJSON_Print(releases);
	if (!text)
		cd_oom();
	int r = write_atomic(path, text, strlen(text), err);
	cJSON_free(text);
	free(path);
	return r;
}

const cJSON *cd_history_find(const cJSON *releases, const char *release)
{
	const cJSON *found = NULL, *e;
	cJSON_ArrayForEach(e, releases) {
		const char *r = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "release"));
		if (r && strcmp(r, release) == 0)
			found = e;
	}
	return found;
}

static char *keep_repo(const char *plan, const char *service)
{
	return cd_xasprintf("corpdeploy-keep/%s-%s", plan, service);
}

/* Tags (add) or untags the images of one release entry. */
static void tag_release(struct cd_run *run, const cJSON *entry, int add)
{
	const char *release = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(entry, "release"));
	const cJSON *svc;
	cJSON_ArrayForEach(svc, cJSON_GetObjectItemCaseSensitive(entry, "services")) {
		const char *image = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(svc, "image_id"));
		const char *target = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(svc, "target"));
		struct cd_docker *d;
		struct cd_error err = CD_ERROR_INIT;
		if (!image || !target || !release || cd_run_docker(run, target, &d, &err) < 0) {
			cd_error_release(&err);
			continue;
		}
		char *repo = keep_repo(run->plan->name, svc->string);
		if (add) {
			if (cd_docker_image_tag(d, image, repo, release, &err) < 0)
				cd_log_warn("release %s of '%s' is not protected from image pruning: %s",
					release, svc->string, err.msg);
		} else {
			char *ref = cd_xasprintf("%s:%s", repo, release);
			cd_docker_image_remove(d, ref, 0, NULL);
			free(ref);
		}
		cd_error_release(&err);
		free(repo);
	}
}

static cJSON *service_entry(const cJSON *undo_data)
{
	static const char *const keys[] = { "target", "name", "image_id", "image_ref", "fingerprint",
		"spec" };
	cJSON *o = cJSON_CreateObject();
	for (size_t i = 0; i < CD_ARRAY_SIZE(keys); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(undo_data, keys[i]);
		if (v)
			cJSON_AddItemToObject(o, keys[i], cJSON_Duplicate(v, 1));
	}
	return o;
}

int cd_history_record(struct cd_run *run, const char *state_dir, struct cd_error *err)
{
	const struct cd_plan *plan = run->plan;
	cJSON *releases;
	int r = cd_history_load(state_dir, &releases, err);
	if (r < 0)
		return r;
	int n = cJSON_GetArraySize(releases);
	const cJSON *last = n ? cJSON_GetArrayItem(releases, n - 1) : NULL;
	cJSON *services = cJSON_CreateObject();
	int replaced = 0;
	for (size_t i = 0; i < run->n_undo; i++) {
		const struct cd_undo *u = &run->undo[i];
		if (strcmp(u->kind->name, "deploy") != 0 || strcmp(u->action, "container.replace") != 0)
			continue;
		const char *svc = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(u->data, "service"));
		if (!svc)
			continue;
		cJSON_DeleteItemFromObjectCaseSensitive(services, svc);
		cJSON *hidden = cd_run_secrets_hide(run, u->data);
		cJSON_AddItemToObject(services, svc, service_entry(hidden));
		cJSON_Delete(hidden);
		replaced++;
	}
	const char *last_release =
		last ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(last, "release")) : NULL;
	if (!replaced && last_release && strcmp(last_release, plan->release) == 0) {
		/* The release that runs already: nothing new to remember. */
		cJSON_Delete(services);
		cJSON_Delete(releases);
		return 0;
	}
	/* Services this run left as they were run what the release before ran. */
	const cJSON *prev, *prev_services = cJSON_GetObjectItemCaseSensitive(last, "services");
	cJSON_ArrayForEach(prev, prev_services)
		if (!cJSON_GetObjectItemCaseSensitive(services, prev->string) &&
			cd_plan_service(plan, prev->string))
			cJSON_AddItemToObject(services, prev->string, cJSON_Duplicate(prev, 1));

	time_t now = time(NULL);
	struct tm tm;
	char at[32];
	gmtime_r(&now, &tm);
	strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
	cJSON *entry = cJSON_CreateObject();
	cJSON_AddStringToObject(entry, "release", plan->release);
	cJSON_AddStringToObject(entry, "run_id", run->run_id);
	cJSON_AddStringToObject(entry, "started_at", run->started_at);
	cJSON_AddStringToObject(entry, "deployed_at", at);
	cJSON_AddNumberToObject(entry, "duration_ms", (double)(cd_time_mono_ms() - run->t0_ms));
	cJSON_AddItemToObject(entry, "services", services);
	/* The same release deployed again replaces its entry. */
	for (int i = n - 1; i >= 0; i--) {
		const char *rel = cJSON_GetStringValue(
			cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(releases, i), "release"));
		if (rel && strcmp(rel, plan->release) == 0)
			cJSON_DeleteItemFromArray(releases, i);
	}
	cJSON_AddItemToArray(releases, entry);
	tag_release(run, entry, 1);

	int64_t keep = plan->rollback && plan->rollback->keep_releases > 0
			       ? plan->rollback->keep_releases
			       : CD_HISTORY_KEEP_DEFAULT;
	while (cJSON_GetArraySize(releases) > keep) {
		cJSON *old = cJSON_DetachItemFromArray(releases, 0);
		const char *rel = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(old, "release"));
		cd_log_info("release %s is no longer kept for rollback", rel ? rel : "?");
		tag_release(run, old, 0);
		cJSON_Delete(old);
	}
	r = cd_history_save(state_dir, releases, err);
	cJSON_Delete(releases);
	return r;
}

int cd_history_set_unfinished(const char *state_dir, const char *run_id, struct cd_error *err)
{
	char *path = cd_xasprintf("%s/unfinished", state_dir);
	char *line = cd_xasprintf("%s\n", run_id);
	int r = write_atomic(path, line, strlen(line), err);
	free(line);
	free(path);
	return r;
}

void cd_history_clear_unfinished(const char *state_dir)
{
	char *path = cd_xasprintf("%s/unfinished", state_dir);
	unlink(path);
	free(path);
}

char *cd_history_unfinished(const char *state_dir)
{
	char *path = cd_xasprintf("%s/unfinished", state_dir);
	struct cd_buf b = CD_BUF_INIT;
	char *id = NULL;
	if (read_file(path, &b, NULL) == 0 && b.len) {
		b.buf[strcspn(b.buf, "\n")] = '\0';
		if (*b.buf)
			id = cd_xstrdup(b.buf);
	}
	cd_buf_release(&b);
	free(path);
	return id;
}
