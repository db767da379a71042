/*
 * steps: the table of step kinds. Each kind is one file src/steps/step-<kind>.c
 * holding its argument struct, its key table and its entry in cd_step_kinds[].
 * Adding a kind = one file + one table row + one meson line.
 */
#ifndef CORPDEPLOY_STEPS_H
#define CORPDEPLOY_STEPS_H

#include "corpdeploy/core.h"
#include "corpdeploy/plan.h"
#include "corpdeploy/schema.h"

struct cJSON;
struct cd_expect;
struct cd_run;
struct cd_step_ctx;

struct cd_step_kind {
	const char *name;
	/* The kind key's value (`deploy: [api, nginx]`), decoded into args. */
	struct cd_field main;
	/* The kind's sibling keys and the struct they fill (args). */
	const struct cd_schema *schema;
	/* Combinations the key table cannot express, checked once the step decoded cleanly. */
	int (*validate)(struct cd_decoder *dec, const struct cd_node *map, void *args);
	/* Cross-references, checked once the whole plan is decoded. 0 or CD_EPLAN. */
	int (*resolve)(struct cd_decoder *dec, const struct cd_plan *plan, struct cd_step *step);
	/* One line for `plan`: "deploy postgres, redis (parallel 2)". */
	void (*describe)(const struct cd_step *step, struct cd_buf *out);
	/* A default step name, from the main argument. Allocated in the arena. */
	const char *(*default_name)(struct cd_arena *arena, const struct cd_step *step);
	/*
	 * Carries the step out before ctx->deadline_ms, pushing an undo record
	 * (cd_run_push_undo) before each change it makes. 0 or a negative CD_E*
	 * with err set. NULL: `up` cannot run this kind yet and refuses the plan.
	 */
	int (*apply)(struct cd_step_ctx *ctx, struct cd_error *err);
	/*
	 * Takes back one change apply recorded with cd_run_push_undo(), from its
	 * action and data alone (possibly in another process, after a crash, so
	 * nothing else of the run is known). Must be idempotent: undoing what is
	 * undone already, or what never happened, succeeds.
	 */
	int (*undo)(struct cd_run *run, const char *action, const struct cJSON *data,
		struct cd_error *err);
	/*
	 * The run succeeded and the change stays: drops what only undo needed
	 * (the superseded container, a kept copy of a file). NULL: nothing to drop.
	 */
	int (*finish)(struct cd_run *run, const char *action, const struct cJSON *data,
		struct cd_error *err);
};

extern const struct cd_step_kind *const cd_step_kinds[];
extern const size_t cd_step_kinds_count;

const struct cd_step_kind *cd_step_kind_find(const char *name);

/* Decodes one step map (common keys + exactly one kind key) into a struct cd_step. */
extern const struct cd_schema cd_step_schema;

/* The common keys every step takes, for describe and JSON. */
extern const struct cd_schema cd_step_common_schema;

/* Checks a step's references (its target, its kind's own): 0 or CD_EPLAN. */
int cd_step_resolve(struct cd_decoder *dec, const struct cd_plan *plan, struct cd_step *step);

/* The expectations of http steps and smoke checks. */
extern const struct cd_schema cd_expect_schema;
void cd_expect_describe(const struct cd_expect *e, struct cd_buf *out);

/* A field decoder for HTTP methods (GET, POST, ...); stores the name. */
int cd_decode_http_method(struct cd_decoder *dec, const struct cd_node *node, void *dst);

/* Shared helpers for kinds. */
void cd_step_describe_cmd(const struct cd_cmd *cmd, struct cd_buf *out);
void cd_step_describe_strv(const struct cd_strv *v, const char *sep, struct cd_buf *out);
/* Reports an error unless name is a service of plan. */
int cd_step_require_service(struct cd_decoder *dec, const struct cd_plan *plan, const char *name,
	const struct cd_node *at, const char *what);
int cd_step_require_target(struct cd_decoder *dec, const struct cd_plan *plan, const char *name,
	const struct cd_node *at);

/*
 * Runs a service's command health check in its container once (exec), with
 * a probe timeout of interval_ms within 5-30 s: 0 when it exits 0. Docker
 * runs the same check only every steady_interval, and says "starting" until
 * its first; this is how to know before.
 */
struct cd_docker;
int cd_deploy_probe_command(struct cd_docker *d, const struct cd_service *svc, const char *id,
	int64_t interval_ms, struct cd_error *err);

/* Step args of the kinds other parts of corpdeploy read. */
enum cd_check_type {
	CD_CHECK_DISK_FREE,
	CD_CHECK_ENV,
	CD_CHECK_FILE_MODE,
	CD_CHECK_DOCKER_VERSION,
	CD_CHECK_PORT_FREE,
	CD_CHECK_COMMAND,
};

struct cd_step_check {
	CD_OBJ_HEAD;
	int type;
	const char *path;
	const char *min;	/* as written; its meaning depends on type */
	int64_t min_bytes;	/* disk_free */
	struct cd_strv require; /* env */
	int64_t mode;		/* file_mode: the most permissive mode allowed */
	int64_t port;
	const char *host;
	struct cd_cmd command;
	int64_t expect_exit;
};

enum cd_backup_type { CD_BACKUP_FILES, CD_BACKUP_DATABASE };

struct cd_step_backup {
	CD_OBJ_HEAD;
	int type;
	struct cd_strv paths;
	const char *service;
	struct cd_cmd dump;
	struct cd_cmd restore;
	int upload;
	int64_t keep;
	struct cd_kvs env; /* for dump and restore: PGPASSWORD: ${DB_PASSWORD} */
};

struct cd_step_restore {
	CD_OBJ_HEAD;
	const char *backup; /* the name of a backup step */
};

struct cd_step_deploy {
	CD_OBJ_HEAD;
	struct cd_strv services;
	int64_t parallel;
	int strategy;
};

struct cd_migration {
	CD_OBJ_HEAD;
	struct cd_cmd version_query;
};

struct cd_step_run {
	CD_OBJ_HEAD;
	struct cd_cmd command;
	const char *in;	   /* exec in this running service */
	const char *image; /* one-off container from this service's image */
	struct cd_cmd undo;
	int64_t expect_exit;
	struct cd_kvs env;
	struct cd_migration *migration;
	const char *stdin_secret;
};

struct cd_step_copy {
	CD_OBJ_HEAD;
	const char *src;
	const char *dest;
	int template;
	int64_t mode;
	const char *owner;
};

struct cd_expect {
	CD_OBJ_HEAD;
	struct cd_strv status; /* one or more codes, as text */
	struct cd_kvs headers;
	const char *body_contains;
	struct cd_kvs json;	  /* JSON path -> expected value */
	struct cd_kvs json_count; /* JSON path -> array length */
	int64_t max_latency_ms;
	int64_t exit;
	const char *output;
};

struct cd_step_http {
	CD_OBJ_HEAD;
	const char *url;
	const char *method;
	struct cd_kvs headers;
	const char *body;
	struct cd_expect *expect;
};

struct cd_smoke_check {
	CD_OBJ_HEAD;
	const char *http;
	const char *tcp;
	struct cd_cmd command;
	const char *container;
	const char *method;
	struct cd_kvs headers;
	const char *body;
	struct cd_expect *expect;
	struct cd_kvs capture;
	const char *target;
	const char *in;
	int64_t timeout_ms;
};

struct cd_smoke_category {
	CD_OBJ_HEAD;
	struct cd_list checks; /* struct cd_smoke_check */
};

struct cd_smoke_suite {
	CD_OBJ_HEAD;
	const char *base_url;
	int64_t concurrency;
	int64_t timeout_ms;
	struct cd_list categories; /* struct cd_smoke_category */
};

struct cd_step_smoke {
	CD_OBJ_HEAD;
	const char *file; /* NULL when inline */
	struct cd_smoke_suite *suite;
};

struct cd_thresholds {
	CD_OBJ_HEAD;
	int64_t p50_ms, p90_ms, p99_ms, max_ms;
	double min_qps;
	double max_error_rate;
};

struct cd_step_load {
	CD_OBJ_HEAD;
	const char *url;
	const char *method;
	struct cd_kvs headers;
	const char *body;
	int64_t concurrency;
	int64_t requests;
	int64_t duration_ms;
	double rate;
	struct cd_thresholds *thresholds;
};

struct cd_tls_check {
	CD_OBJ_HEAD;
	const char *host;
	int64_t port;
	int64_t min_days;
	int verify;
	const char *ca; /* a CA bundle to verify against, relative to the plan; NULL: the system's */
};

struct cd_file_mode {
	CD_OBJ_HEAD;
	const char *path;
	int64_t mode;
};

struct cd_step_security {
	CD_OBJ_HEAD;
	const char *url;
	struct cd_strv header_presets;
	struct cd_kvs header_values;
	int64_t hsts_min_age;
	struct cd_tls_check *tls;
	struct cd_strv closed_ports;
	struct cd_list file_modes; /* struct cd_file_mode */
	int scan_all_logs;
	struct cd_strv scan_logs;
	double min_score;
};

struct cd_step_wait {
	CD_OBJ_HEAD;
	const char *what;
	int64_t duration_ms; /* a plain pause; CD_UNSET when waiting for url */
	const char *url;     /* tcp://host:port or http(s)://... */
};

struct cd_step_notify {
	CD_OBJ_HEAD;
	const char *url;
	const char *message;
	struct cd_strv on;
	int format;
};

struct cd_step_parallel {
	CD_OBJ_HEAD;
	struct cd_list steps; /* struct cd_step */
	int64_t max;
};

extern const char *const cd_check_type_names[];

#endif
