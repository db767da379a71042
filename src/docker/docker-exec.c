/*
 * Exec: create, start attached (the reply is the process's framed output
 * until it exits), then inspect for the exit code, polling while the engine
 * still reports it running. One deadline covers the three calls. The output
 * is either captured (capped) or, for a streamed exec, demultiplexed frame
 * by frame and handed on as it arrives, so that a dump of any size passes
 * through bounded memory. An exec with stdin starts over an upgraded
 * connection (docker-hijack.c), its stdin pulled from a source meanwhile.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "docker-internal.h"

#define EXEC_STDERR_MAX (64u * 1024)

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0)
		;
}

/* Creates the exec; *ret_exec_id (malloc'd) names it. */
static int exec_create(struct cd_docker *d, const char *id, const char *const *cmd,
        const char *const *env, int attach_stdin, int64_t deadline, char **ret_exec_id,
        struct cd_error *err)
{
	const char *what = cmd && cmd[0] ? cmd[0] : "";
	struct docker_req r;
	cJSON *body, *json = NULL;
	int rc;

	body = cJSON_CreateObject();
	if (!body || !cJSON_AddBoolToObject(body, "AttachStdin", attach_stdin) ||
	        !cJSON_AddBoolToObject(body, "AttachStdout", 1) ||
	        !cJSON_AddBoolToObject(body, "AttachStderr", 1) ||
	        !cJSON_AddBoolToObject(body, "Tty", 0) ||
	        !cJSON_AddItemToObject(body, "Cmd", docker_json_strings(cmd)))
		cd_oom();
	if (env && !cJSON_AddItemToObject(body, "Env", docker_json_strings(env)))
		cd_oom();
	docker_req_init(&r, "POST", "/containers/%s/exec", id);
	docker_req_what(&r, "cannot run '%s' in container '%s'", what, id);
	docker_req_json(&r, body);
	cJSON_Delete(body);
	r.timeout_ms = docker_remaining(deadline);
	rc = docker_do(d, &r, err);
	if (rc == 0)
		rc = docker_json_parse(&r, &json, err);
	if (rc == 0 && !(*ret_exec_id = docker_json_strdup(json, "Id")))
		rc = docker_req_error(&r, err, CD_EREMOTE, "the engine's reply has no Id");
	cJSON_Delete(json);
	docker_req_release(&r);
	return rc;
}

/* Waits for the engine to record the exit of the exec whose output has ended. */
static int exec_exit_code(struct cd_docker *d, const char *id, const char *exec_id,
        const char *what, int64_t deadline, int *ret_exit, struct cd_error *err)
{
	struct docker_req r;
	cJSON *json = NULL;
	int rc;

	for (;;) {
		const cJSON *running, *code;

		docker_req_init(&r, "GET", "/exec/%s/json", exec_id);
		docker_req_what(
		        &r, "cannot read the exit code of '%s' in container '%s'", what, id);
		r.timeout_ms = docker_remaining(deadline);
		rc = docker_do(d, &r, err);
		if (rc == 0)
			rc = docker_json_parse(&r, &json, err);
		if (rc < 0) {
			docker_req_release(&r);
			return rc;
		}
		running = cJSON_GetObjectItemCaseSensitive(json, "Running");
		code = cJSON_GetObjectItemCaseSensitive(json, "ExitCode");
		if (!cJSON_IsTrue(running) && cJSON_IsNumber(code)) {
			*ret_exit = code->valueint;
			cJSON_Delete(json);
			docker_req_release(&r);
			return 0;
		}
		cJSON_Delete(json);
		json = NULL;
		/* The stream can end a moment before the engine records the exit. */
		if (cd_time_mono_ms() + 50 >= deadline) {
			rc = docker_req_error(
			        &r, err, CD_EREMOTE, "the process did not exit in time");
			docker_req_release(&r);
			return rc;
		}
		docker_req_release(&r);
		sleep_ms(50);
	}
}

/*
 * Creates, starts (output into m) and inspects an exec; *ret_exit its exit
 * code. With a source, its stdin is attached and pulled from it, over an
 * upgraded connection; else libcurl reads the output.
 */
static int exec_run(struct cd_docker *d, const char *id, const char *const *cmd,
        const char *const *env, int64_t timeout_ms, cd_docker_source source, void *opaque,
        struct docker_demux *m, int *ret_exit, struct cd_error *err)
{
	int64_t timeout = docker_timeout(d, timeout_ms);
	int64_t deadline = cd_time_mono_ms() + timeout;
	const char *what = cmd && cmd[0] ? cmd[0] : "";
	struct docker_req r;
	cJSON *body;
	char *exec_id = NULL, dur[32];
	int rc;

	rc = exec_create(d, id, cmd, env, source != NULL, deadline, &exec_id, err);
	if (rc < 0)
		return rc;

	/* Start attached: the reply is the output, and it ends when the process does. */
	body = cJSON_CreateObject();
	if (!body || !cJSON_AddBoolToObject(body, "Detach", 0) ||
	        !cJSON_AddBoolToObject(body, "Tty", 0))
		cd_oom();
	docker_req_init(&r, "POST", "/exec/%s/start", exec_id);
	docker_req_what(&r, "cannot run '%s' in container '%s'", what, id);
	docker_req_json(&r, body);
	cJSON_Delete(body);
	r.stream = docker_demux_feed;
	r.stream_ctx = m;
	r.timeout_ms = docker_remaining(deadline);
	if (source)
		rc = docker_hijack(d, &r, source, opaque, deadline, err);
	else
		rc = docker_do(d, &r, err);
	docker_req_release(&r);
	if (rc < 0) {
		if (cd_time_mono_ms() >= deadline && err)
			cd_error_set(err, CD_EREMOTE,
			        "'%s' in container '%s' did not finish within %s (it may still run "
			        "there)",
			        what, id, cd_duration_format(timeout, dur, sizeof(dur)));
	} else {
		rc = exec_exit_code(d, id, exec_id, what, deadline, ret_exit, err);
	}
	free(exec_id);
	return rc;
}

int cd_docker_exec(struct cd_docker *d, const char *id, const char *const *cmd,
        const char *const *env, int64_t timeout_ms, size_t max, struct cd_docker_exec_result *ret,
        struct cd_error *err)
{
	struct docker_demux m = {0};

	if (!max || max > DOCKER_BODY_MAX)
		max = DOCKER_BODY_MAX;
	memset(ret, 0, sizeof(*ret));
	cd_buf_init(&ret->out, max);
	cd_buf_init(&ret->err, max);
	ret->exit_code = -1;
	m.out = &ret->out;
	m.err = &ret->err;
	m.max = max;
	int rc = exec_run(d, id, cmd, env, timeout_ms, NULL, NULL, &m, &ret->exit_code, err);
	if (rc < 0)
		cd_docker_exec_result_release(ret);
	return rc;
}

int cd_docker_exec_stream(struct cd_docker *d, const char *id, const char *const *cmd,
        const char *const *env, int64_t timeout_ms, cd_docker_sink sink, void *opaque, size_t max,
        struct cd_buf *errtail, int *ret_exit, struct cd_error *err)
{
	/* stderr's tail is what explains a failed dump; its head is often a banner. */
	struct docker_demux m = {
	        .err = errtail, .keep_tail = 1, .on_out = sink, .on_out_ctx = opaque};
	int code = -1;

	m.max = max ? max : EXEC_STDERR_MAX;
	cd_buf_init(errtail, 0);
	int rc = exec_run(d, id, cmd, env, timeout_ms, NULL, NULL, &m, &code, err);
	docker_demux_finish(&m);
	if (rc == 0)
		*ret_exit = code;
	return rc;
}

int cd_docker_exec_stdin(struct cd_docker *d, const char *id, const char *const *cmd,
        const char *const *env, int64_t timeout_ms, cd_docker_source source, void *source_opaque,
        cd_docker_sink sink, void *sink_opaque, size_t max, struct cd_buf *errtail, int *ret_exit,
        struct cd_error *err)
{
	/* Without a sink, stdout has nowhere to go: out stays NULL and it is dropped. */
	struct docker_demux m = {
	        .err = errtail, .keep_tail = 1, .on_out = sink, .on_out_ctx = sink_opaque};
	int code = -1;

	m.max = max ? max : EXEC_STDERR_MAX;
	cd_buf_init(errtail, 0);
	int rc = exec_run(d, id, cmd, env, timeout_ms, source, source_opaque, &m, &code, err);
	docker_demux_finish(&m);
	if (rc == 0)
		*ret_exit = code;
	return rc;
}

void cd_docker_exec_result_release(struct cd_docker_exec_result *r)
{
	cd_buf_release(&r->out);
	cd_buf_release(&r->err);
}
