/*
 * Secrets in state files: journals and the release history hold what undo
 * and rollback need, including env values; the values of the plan's
 * secrets are written as "@@secret:NAME@@" instead and put back from the
 * environment when the record is used, so no state file holds a secret.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "corpdeploy/engine.h"

#define MARK_OPEN "@@secret:"
#define MARK_CLOSE "@@"

/* s with every occurrence of from replaced by to; NULL when from does not occur. */
static char *replace_all(const char *s, const char *from, const char *to)
{
	size_t fl = strlen(from);
	if (!fl || !strstr(s, from))
		return NULL;
	struct cd_buf b = CD_BUF_INIT;
	const char *p = s, *hit;
	while ((hit = strstr(p, from))) {
		cd_buf_add(&b, p, (size_t)(hit - p));
		cd_buf_adds(&b, to);
		p = hit + fl;
	}
	cd_buf_adds(&b, p);
	return cd_buf_detach(&b);
}

static void walk(const struct cd_run *run, cJSON *item, int hide)
{
	const struct cd_plan *plan = run->plan;
	for (cJSON *c = item; c; c = c->next) {
		if (c->child)
			walk(run, c->child, hide);
		if (!cJSON_IsString(c) || !c->valuestring)
			continue;
		for (size_t i = 0; i < plan->secrets.n; i++) {
			const char *name = plan->secrets.v[i], *value = cd_run_env(run, name);
			char *mark = cd_xasprintf(MARK_OPEN "%s" MARK_CLOSE, name);
			char *next = NULL;
			if (hide && value && *value)
				next = replace_all(c->valuestring, value, mark);
			else if (!hide)
				next = replace_all(c->valuestring, mark, value ? value : "");
			free(mark);
			if (next) {
				cJSON_free(c->valuestring);
				c->valuestring = cJSON_malloc(strlen(next) + 1);
				if (!c->valuestring)
					cd_oom();
				strcpy(c->valuestring, next);
				free(next);
			}
		}
	}
}

cJSON *cd_run_secrets_hide(const struct cd_run *run, const cJSON *item)
{
	cJSON *copy = cJSON_Duplicate(item, 1);
	if (!copy)
		cd_oom();
	walk(run, copy, 1);
	return copy;
}

void cd_run_secrets_restore(const struct cd_run *run, cJSON *item)
{
	walk(run, item, 0);
}
