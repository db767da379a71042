/*
 * Between the deploy step and the deployment of one service.
 */
#ifndef CORPDEPLOY_DEPLOY_INTERNAL_H
#define CORPDEPLOY_DEPLOY_INTERNAL_H

#include "corpdeploy/engine.h"

struct cJSON;

/* Brings one service to this release (see deploy-service.c). */
struct cd_docker;

/* What a service's container must become. */
struct cd_deploy_want {
	const struct cd_service *svc;
	const char *name;	 /* the container's name */
	const struct cJSON *spec; /* cd_docker_container_spec_json() */
	const char *fingerprint; /* its corpdeploy.config label */
	const char *image_id, *image_ref, *release;
	/* Called once a change is certain, before anything changes (networks, volumes). */
	int (*prepare)(struct cd_step_ctx *ctx, struct cd_docker *d,
		const struct cd_deploy_want *want, struct cd_error *err);
	void *arg;
};

/*
 * Makes the service's container what want says, unless it is so already:
 * the old one stopped and parked under another name (journaled for undo),
 * the new one created, started and waited for until healthy.
 */
int cd_deploy_replace(struct cd_step_ctx *ctx, struct cd_docker *d, const struct cd_service *svc,
	const struct cd_deploy_want *want, struct cd_error *err);
int cd_deploy_service(struct cd_step_ctx *ctx, const struct cd_service *svc, struct cd_error *err);
/* The image reference a service runs: its image, or the tag its build gets. malloc'd. */
/* The deploy kind's undo and finish (struct cd_step_kind). */
int cd_deploy_undo(struct cd_run *run, const char *action, const struct cJSON *data,
	struct cd_error *err);
int cd_deploy_finish(struct cd_run *run, const char *action, const struct cJSON *data,
	struct cd_error *err);
char *cd_deploy_image_ref(const struct cd_plan *plan, const struct cd_service *svc);
/* A plan's network or volume as the engine names it: "<plan>_<name>", as compose does. malloc'd. */
char *cd_deploy_scoped(const struct cd_plan *plan, const char *name);

#endif
