/*
 * The plan as JSON (plan --json), written from the same key tables that
 * decode it, so the document always has every key the plan format has.
 * Units go into key names: budget_ms, min_bytes, error_rate_pct.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corpdeploy/plan-internal.h"
#include "corpdeploy/steps.h"

static cJSON *checked(cJSON *j)
{
	if (!j)
		cd_oom();
	return j;
}

static cJSON *strv_json(const struct cd_strv *v)
{
	cJSON *a = checked(cJSON_CreateArray());
	for (size_t i = 0; i < v->n; i++)
		cJSON_AddItemToArray(a, checked(cJSON_CreateString(v->v[i])));
	return a;
}

static cJSON *kvs_json(const struct cd_kvs *kvs)
{
	cJSON *o = checked(cJSON_CreateObject());
	for (size_t i = 0; i < kvs->n; i++)
		cJSON_AddItemToObject(o, kvs->items[i].key, checked(cJSON_CreateString(kvs->items[i].value)));
	return o;
}

static cJSON *object_json(const struct cd_schema *s, const void *obj);

static void add_unit(cJSON *o, const struct cd_field *f, const char *suffix, double v)
{
	char key[96];
	snprintf(key, sizeof(key), "%s%s", f->key, suffix);
	cJSON_AddItemToObject(o, key, checked(cJSON_CreateNumber(v)));
}

static void field_json(cJSON *o, const struct cd_field *f, const void *obj)
{
	const void *p = (const char *)obj + f->offset;
	switch (f->type == CD_T_CUSTOM ? f->json_as : f->type) {
	case CD_T_NONE:
		break;
	case CD_T_STR:
	case CD_T_NAME:
		if (*(const char *const *)p)
			cJSON_AddItemToObject(o, f->key, checked(cJSON_CreateString(*(const char *const *)p)));
		break;
	case CD_T_INT:
		if (*(const int64_t *)p != CD_UNSET)
			cJSON_AddItemToObject(o, f->key, checked(cJSON_CreateNumber((double)*(const int64_t *)p)));
		break;
	case CD_T_MODE:
		if (*(const int64_t *)p != CD_UNSET) {
			char mode[8];
			snprintf(mode, sizeof(mode), "%04o", (unsigned)*(const int64_t *)p);
			cJSON_AddItemToObject(o, f->key, checked(cJSON_CreateString(mode)));
		}
		break;
	case CD_T_BOOL:
		if (*(const int *)p != CD_UNSET)
			cJSON_AddItemToObject(o, f->key, checked(cJSON_CreateBool(*(const int *)p)));
		break;
	case CD_T_DURATION:
		if (*(const int64_t *)p != CD_UNSET)
			add_unit(o, f, "_ms", (double)*(const int64_t *)p);
		break;
	case CD_T_SIZE:
		if (*(const int64_t *)p != CD_UNSET)
			add_unit(o, f, "_bytes", (double)*(const int64_t *)p);
		break;
	case CD_T_PERCENT:
		if (*(const double *)p != CD_UNSET)
			add_unit(o, f, "_pct", *(const double *)p);
		break;
	case CD_T_NUMBER:
		if (*(const double *)p != CD_UNSET)
			cJSON_AddItemToObject(o, f->key, checked(cJSON_CreateNumber(*(const double *)p)));
		break;
	case CD_T_ENUM:
		if (*(const int *)p >= 0)
			cJSON_AddItemToObject(o, f->key,
				checked(cJSON_CreateString(((const char *const *)f->sub)[*(const int *)p])));
		break;
	case CD_T_QUANTITY: {
		const struct cd_quantity *q = p;
		if (q->count != CD_UNSET)
			cJSON_AddItemToObject(o, f->key, checked(cJSON_CreateNumber((double)q->count)));
		else if (q->pct != CD_UNSET)
			add_unit(o, f, "_pct", q->pct);
		break;
	}
	case CD_T_STRV:
	case CD_T_ENUMV:
		if (((const struct cd_strv *)p)->n)
			cJSON_AddItemToObject(o, f->key, strv_json(p));
		break;
	case CD_T_CMD: {
		const struct cd_cmd *c = p;
		if (!c->argv.n)
			break;
		if (c->shell)
			cJSON_AddItemToObject(o, f->key, checked(cJSON_CreateString(c->argv.v[0])));
		else
			cJSON_AddItemToObject(o, f->key, strv_json(&c->argv));
		break;
	}
	case CD_T_MAP:
		if (((const struct cd_kvs *)p)->n)
			cJSON_AddItemToObject(o, f->key, kvs_json(p));
		break;
	case CD_T_STRUCT:
		if (*(void *const *)p)
			cJSON_AddItemToObject(o, f->key, object_json(f->sub, *(void *const *)p));
		break;
	case CD_T_LIST:
	case CD_T_NAMED: {
		const struct cd_list *l = p;
		cJSON *a = checked(cJSON_CreateArray());
		for (size_t i = 0; i < l->n; i++)
			cJSON_AddItemToArray(a, object_json(f->sub, l->items[i]));
		cJSON_AddItemToObject(o, f->key, a);
		break;
	}
	case CD_T_CUSTOM:
		break;
	}
}

static cJSON *step_json(const struct cd_step *step)
{
	cJSON *o = checked(cJSON_CreateObject());
	cJSON_AddItemToObject(o, "name", checked(cJSON_CreateString(step->name)));
	cJSON_AddItemToObject(o, "kind", checked(cJSON_CreateString(step->kind->name)));
	for (const struct cd_field *f = cd_step_common_schema.fields; f->key; f++)
		if (strcmp(f->key, "name") != 0)
			field_json(o, f, step);
	struct cd_field main = step->kind->main;
	if (main.type != CD_T_CUSTOM) {
		field_json(o, &main, step->args);
	}
	cJSON *args = object_json(step->kind->schema, step->args);
	cJSON *item;
	while ((item = args->child)) {
		cJSON_DetachItemViaPointer(args, item);
		if (!cJSON_HasObjectItem(o, item->string))
			cJSON_AddItemToObject(o, item->string, item);
		else
			cJSON_Delete(item);
	}
	cJSON_Delete(args);
	struct cd_buf d = CD_BUF_INIT;
	step->kind->describe(step, &d);
	cJSON_AddItemToObject(o, "description", checked(cJSON_CreateString(d.buf)));
	cd_buf_release(&d);
	return o;
}

static cJSON *object_json(const struct cd_schema *s, const void *obj)
{
	if (s == &cd_step_schema)
		return step_json(obj);
	cJSON *o = checked(cJSON_CreateObject());
	const struct cd_obj *head = obj;
	if (head->name && !cd_schema_field(s, "name"))
		cJSON_AddItemToObject(o, "name", checked(cJSON_CreateString(head->name)));
	for (const struct cd_field *f = s->fields; f->key; f++)
		field_json(o, f, obj);
	return o;
}

char *cd_plan_to_json(const struct cd_plan *plan)
{
	cJSON *o = object_json(&plan_schema, plan);
	cJSON_AddItemToObject(o, "release_id", checked(cJSON_CreateString(plan->release)));
	cJSON_AddItemToObject(o, "file", checked(cJSON_CreateString(plan->path)));
	cJSON_AddItemToObject(o, "step_count", checked(cJSON_CreateNumber((double)cd_plan_step_count(plan))));
	char *s = cJSON_Print(o);
	cJSON_Delete(o);
	if (!s)
		cd_oom();
	return s;
}
