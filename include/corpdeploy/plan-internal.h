/*
 * Internals of the plan loader shared between its files and its tests.
 */
#ifndef CORPDEPLOY_PLAN_INTERNAL_H
#define CORPDEPLOY_PLAN_INTERNAL_H

#include "corpdeploy/plan.h"

/* Parses dotenv text. Values land in arena. 0, CD_EPLAN (diags) or CD_ETOOBIG. */
int plan_env_parse(struct cd_arena *arena, const char *file, const char *data, size_t len,
	struct cd_diags *diags, struct cd_kvs *ret);
/* Reads and parses a dotenv file: 0, CD_ENOTFOUND, CD_EIO or as above. */
int plan_env_load(struct cd_arena *arena, const char *path, struct cd_diags *diags,
	struct cd_kvs *ret);

/* Parses "[ip:]host_port:container_port[/proto]". 0 or CD_EFAIL with *ret_msg (static). */
int plan_port_parse(struct cd_arena *arena, const char *s, struct cd_port *ret, const char **ret_msg);

/* The key tables of plan-model.c. */
extern const struct cd_schema plan_schema;
extern const struct cd_schema plan_target_schema;
extern const struct cd_schema plan_service_schema;
extern const struct cd_schema plan_phase_schema;
extern const struct cd_schema plan_rollback_schema;
extern const struct cd_schema plan_report_schema;
extern const struct cd_schema plan_webhook_schema;
extern const struct cd_schema plan_probe_schema;
extern const struct cd_schema plan_backup_storage_schema;

#endif
