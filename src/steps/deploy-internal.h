/*
 * Between the deploy step and the deployment of one service.
 */
#ifndef CORPDEPLOY_DEPLOY_INTERNAL_H
#define CORPDEPLOY_DEPLOY_INTERNAL_H

#include "corpdeploy/engine.h"

struct cJSON;

/* Brings one service to this release (see deploy-service.c). */
int cd_deploy_service(struct cd_step_ctx *ctx, const struct cd_service *svc, struct cd_error *err);
/* The image reference a service runs: its image, or the tag its build gets. malloc'd. */
/* The deploy kind's undo and finish (struct cd_step_kind). */
int cd_deploy_undo(struct cd_run *run, const char *action, const struct cJSON *data,
	struct cd_error *err);
int cd_deploy_finish(struct cd_run *run, const char *action, const struct cJSON *data,
	struct cd_error *err);
char *cd_deploy_image_ref(const struct cd_plan *plan, const struct cd_service *svc);

#endif
