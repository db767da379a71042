/*
 * plan: the typed model of a deployment plan, loaded from YAML, validated
 * and interpolated. Every object keeps the node it came from, so any later
 * message can name file:line:col. The whole plan lives in one arena: free
 * it with cd_plan_free(), nothing inside is freed on its own.
 */
#ifndef CORPDEPLOY_PLAN_H
#define CORPDEPLOY_PLAN_H

#include "corpdeploy/core.h"
#include "corpdeploy/schema.h"

#define CD_PLAN_VERSION 1

struct cd_step_kind;

enum cd_target_kind { CD_TARGET_DOCKER, CD_TARGET_SSH, CD_TARGET_LOCAL, CD_TARGET_GROUP };

struct cd_target {
	CD_OBJ_HEAD;
	enum cd_target_kind kind;
	const char *docker; /* unix:///path, ssh://..., or "ssh" on an ssh target */
	const char *ssh;    /* [user@]host[:port] as written */
	const char *user;   /* parsed from ssh, or given */
	const char *host;
	int64_t port;
	const char *identity;
	const char *passphrase_secret;
	const char *host_key; /* pinned "SHA256:..." */
	int64_t connect_timeout_ms;
	int local;
	struct cd_strv hosts; /* a group's members */
	int64_t parallel;
	struct cd_quantity serial;
	struct cd_quantity max_fail;
};

enum cd_health_kind { CD_HEALTH_NONE, CD_HEALTH_DOCKER, CD_HEALTH_HTTP, CD_HEALTH_TCP, CD_HEALTH_COMMAND };

struct cd_health {
	CD_OBJ_HEAD;
	enum cd_health_kind kind;
	const char *http;
	int64_t expect;
	const char *tcp;
	struct cd_cmd command;
	int docker;
	int64_t interval_ms;
	int64_t timeout_ms;
	int64_t retries;
	int64_t start_period_ms;
	int64_t steady_interval_ms; /* command checks: how often Docker runs them once deployed */
};

struct cd_build {
	CD_OBJ_HEAD;
	const char *context;
	const char *dockerfile;
	struct cd_kvs args;
};

struct cd_registry_auth {
	CD_OBJ_HEAD;
	const char *username;
	const char *password_secret;
};

enum cd_strategy { CD_STRATEGY_RECREATE, CD_STRATEGY_ROLLING, CD_STRATEGY_BLUE_GREEN };
enum cd_pull { CD_PULL_MISSING, CD_PULL_ALWAYS, CD_PULL_NEVER };

struct cd_port {
	const char *host_ip;
	int host_port;
	int container_port;
	const char *proto; /* "tcp" or "udp" */
};

struct cd_service {
	CD_OBJ_HEAD;
	const char *target;
	const char *image;
	struct cd_build *build;
	int pull;
	struct cd_registry_auth *registry_auth;
	struct cd_cmd command;
	struct cd_strv entrypoint;
	struct cd_kvs env;
	struct cd_strv ports_raw;
	struct cd_port *ports; /* parsed from ports_raw, same count */
	struct cd_strv volumes;
	struct cd_strv networks;
	int network_mode;
	struct cd_kvs labels;
	struct cd_strv depends_on;
	const char *restart;
	int64_t stop_timeout_ms;
	const char *user;
	const char *workdir;
	int init;
	struct cd_health *health;
	int strategy;
	const char *proxy;
	int64_t drain_ms;
	const char *layer;
	size_t order; /* position in a dependency order of all services */
};

struct cd_step {
	CD_OBJ_HEAD;
	const struct cd_step_kind *kind;
	void *args; /* the kind's own struct */
	const struct cd_node *kind_node;
	int64_t timeout_ms;
	int64_t retries;
	int64_t retry_delay_ms;
	const char *target;
	int continue_on_error;
	int ok; /* decoded without error: references may be checked */
};

struct cd_phase {
	CD_OBJ_HEAD;
	int64_t budget_ms;
	struct cd_list steps; /* struct cd_step */
};

struct cd_triggers {
	CD_OBJ_HEAD;
	double error_rate;
	double p99_regression;
	double success_rate_below;
	int64_t downtime_over_ms;
};

struct cd_rollback {
	CD_OBJ_HEAD;
	int automatic;
	int64_t budget_ms;
	int64_t keep_releases;
	struct cd_triggers *triggers;
};

struct cd_report_cfg {
	CD_OBJ_HEAD;
	const char *dir;
	struct cd_strv formats;
	const char *template;
};

/* S3-compatible storage for off-site copies of backups (backup_storage:). */
struct cd_backup_storage {
	CD_OBJ_HEAD;
	const char *endpoint; /* http(s)://host[:port], path-style requests */
	const char *bucket;
	const char *prefix;   /* key prefix; default: the plan's name */
	const char *region;
	const char *access_key_secret; /* names of secrets holding the keys */
	const char *secret_key_secret;
};

struct cd_webhook {
	CD_OBJ_HEAD;
	const char *url;
	struct cd_strv on;
	int format;
	int64_t retries;
	int64_t timeout_ms;
};

struct cd_probe {
	CD_OBJ_HEAD;
	const char *url;
	int64_t interval_ms;
	int64_t timeout_ms;
	int64_t expect;
};

struct cd_plan {
	CD_OBJ_HEAD; /* name: the plan's name */
	int64_t version;
	const char *description;
	const char *release_spec; /* "git" or a literal */
	const char *release;	  /* the resolved release id */
	const char *env_file;
	struct cd_strv secrets;
	struct cd_kvs vars;
	const char *state_dir;
	struct cd_list targets;	 /* struct cd_target */
	struct cd_list services; /* struct cd_service */
	struct cd_list phases;	 /* struct cd_phase */
	struct cd_rollback *rollback;
	struct cd_report_cfg *report;
	struct cd_list notify; /* struct cd_webhook */
	struct cd_probe *probe;
	struct cd_backup_storage *backup_storage;

	const char *path;     /* the plan file as given */
	const char *dir;      /* its directory */
	struct cd_arena arena;
	struct cd_kvs env_file_values; /* from env_file; values of secrets included */
};

enum {
	CD_PLAN_LOAD_OFFLINE = 1 << 0, /* lint/plan: missing secrets and env_file are warnings */
};

struct cd_plan_opts {
	unsigned flags;
	/* Overrides the environment for lookups (tests); NULL: the process environment. */
	const char *(*getenv)(const char *name);
};

/*
 * Loads, validates and interpolates the plan at path. Secret values are
 * registered with the redactor before anything can print them. Diagnostics
 * (errors and warnings) go to diags. On success *ret belongs to the caller
 * (cd_plan_free). Returns 0, CD_EPLAN (diags has the errors) or CD_EIO.
 */
int cd_plan_load(const char *path, const struct cd_plan_opts *opts, struct cd_diags *diags,
	struct cd_plan **ret);
/*
 * The same from text in memory; path names it in messages and anchors
 * relative files (env_file, smoke suites). For tests and the fuzzer.
 */
int cd_plan_load_buffer(const char *path, const char *data, size_t len,
	const struct cd_plan_opts *opts, struct cd_diags *diags, struct cd_plan **ret);
void cd_plan_free(struct cd_plan *plan);

/* Lookups by name; NULL when absent. */
struct cd_service *cd_plan_service(const struct cd_plan *plan, const char *name);
struct cd_target *cd_plan_target(const struct cd_plan *plan, const char *name);
struct cd_step *cd_plan_step(const struct cd_plan *plan, const char *name);

/* Counts of what plan prints in its summary. */
size_t cd_plan_step_count(const struct cd_plan *plan);

/* The plan as one JSON document (plan --json). malloc'd, owned by the caller. */
char *cd_plan_to_json(const struct cd_plan *plan);

extern const char *const cd_strategy_names[];
extern const char *const cd_health_kind_names[];
extern const char *const cd_target_kind_names[];

#endif
