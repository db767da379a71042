/*
 * Small pieces every renderer shares: format names, tolerant JSON
 * accessors (a report read back may be old or hand-edited, so nothing is
 * assumed about it), walking steps, and durations for people.
 */
#include <math.h>
#include <string.h>

#include "corpdeploy/report.h"
#include "report-internal.h"

const char *const cd_report_format_names[] = { "json", "markdown", "html", "junit", NULL };

const char *cd_report_file_name(enum cd_report_format format)
{
	static const char *const names[] = { "report.json", "report.md", "report.html",
		"junit.xml" };
	return names[format];
}

int cd_report_format_parse(const char *name)
{
	static const struct {
		const char *name;
		enum cd_report_format format;
	} aliases[] = {
		{ "json", CD_REPORT_JSON }, { "md", CD_REPORT_MARKDOWN },
		{ "markdown", CD_REPORT_MARKDOWN }, { "html", CD_REPORT_HTML },
		{ "junit", CD_REPORT_JUNIT }, { "xml", CD_REPORT_JUNIT },
	};
	for (size_t i = 0; name && i < CD_ARRAY_SIZE(aliases); i++)
		if (strcmp(name, aliases[i].name) == 0)
			return (int)aliases[i].format;
	return -1;
}

const char *cd_json_str(const cJSON *obj, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(obj, key));
}

double cd_json_num(const cJSON *obj, const char *key, double dflt)
{
	const cJSON *v = cJSON_GetObjectItem(obj, key);
	return cJSON_IsNumber(v) && isfinite(v->valuedouble) ? v->valuedouble : dflt;
}

int cd_json_has_num(const cJSON *obj, const char *key)
{
	return cJSON_IsNumber(cJSON_GetObjectItem(obj, key));
}

void cd_report_each_step(const cJSON *report,
	void (*fn)(const cJSON *step, const cJSON *phase, void *data), void *data)
{
	const cJSON *ph, *st;
	cJSON_ArrayForEach(ph, cJSON_GetObjectItem(report, "phases"))
		cJSON_ArrayForEach(st, cJSON_GetObjectItem(ph, "steps")) fn(st, ph, data);
}

void cd_report_duration(struct cd_buf *out, double ms)
{
	if (ms < 0 || !isfinite(ms))
		ms = 0;
	if (ms < 1000) {
		cd_buf_addf(out, "%.0f ms", ms);
	} else if (ms < 60000) {
		cd_buf_addf(out, "%.1f s", ms / 1000);
	} else if (ms < 3600000) {
		long s = lround(ms / 1000);
		cd_buf_addf(out, "%ldm %lds", s / 60, s % 60);
	} else {
		long m = lround(ms / 60000);
		cd_buf_addf(out, "%ldh %ldm", m / 60, m % 60);
	}
}
