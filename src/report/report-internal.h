/*
 * Shared by the report module's files; not part of the interface.
 */
#ifndef CORPDEPLOY_REPORT_INTERNAL_H
#define CORPDEPLOY_REPORT_INTERNAL_H

#include <cjson/cJSON.h>

#include "corpdeploy/core.h"

/* Adds "issues" and "warnings" to a report from what its steps measured. */
void cd_report_derive_issues(cJSON *report);

/*
 * The view of a report for renderers: the report itself plus what is
 * derived for reading (totals, smoke checks by category, the load test,
 * texts such as "12m 3s" and "37% under budget"). Owned by the caller.
 */
cJSON *cd_report_view(const cJSON *report);

/* Accessors that tolerate anything (a report read back may be hand-edited). */
const char *cd_json_str(const cJSON *obj, const char *key);
double cd_json_num(const cJSON *obj, const char *key, double dflt);
int cd_json_has_num(const cJSON *obj, const char *key);
/* Steps of every phase, in order: calls fn(step, phase, data). */
void cd_report_each_step(const cJSON *report,
	void (*fn)(const cJSON *step, const cJSON *phase, void *data), void *data);

/* "850 ms", "12.4 s", "12m 3s", "1h 5m". */
void cd_report_duration(struct cd_buf *out, double ms);

int cd_report_render_markdown(const cJSON *report, const char *template_text, struct cd_buf *out,
	struct cd_error *err);
void cd_report_render_html(const cJSON *report, struct cd_buf *out);
void cd_report_render_junit(const cJSON *report, struct cd_buf *out);

#endif
