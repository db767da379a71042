/*
 * Between the deploy step and the deployment of one service.
 */
#ifndef CORPDEPLOY_DEPLOY_INTERNAL_H
#define CORPDEPLOY_DEPLOY_INTERNAL_H

#include "corpdeploy/engine.h"

/* Brings one service to this release (see deploy-service.c). */
int cd_deploy_service(struct cd_step_ctx *ctx, const struct cd_service *svc, struct cd_error *err);
/* The image reference a service runs: its image, or the tag its build gets. malloc'd. */
char *cd_deploy_image_ref(const struct cd_plan *plan, const struct cd_service *svc);

#endif
