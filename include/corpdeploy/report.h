/*
 * report: what a run did, as one JSON document (the report model, schema in
 * corpdeploy-report(5) and templates/report.schema.json), and the renderers
 * that turn that document alone into Markdown, HTML and JUnit XML, so any
 * kept run can be rendered again later. Every string taken from the plan,
 * a step or an error passes through the redactor while the model is built.
 */
#ifndef CORPDEPLOY_REPORT_H
#define CORPDEPLOY_REPORT_H

#include <stdint.h>

#include "corpdeploy/core.h"
#include "corpdeploy/engine.h"

struct cJSON;

#define CD_REPORT_SCHEMA_VERSION 1

enum cd_report_format { CD_REPORT_JSON, CD_REPORT_MARKDOWN, CD_REPORT_HTML, CD_REPORT_JUNIT };
/* "json", "markdown", "html", "junit"; NULL-terminated. */
extern const char *const cd_report_format_names[];
/* The file name a format is written under in a run directory: "report.md" ... */
const char *cd_report_file_name(enum cd_report_format format);
/* Parses "json", "md"/"markdown", "html", "junit"/"xml"; -1 when unknown. */
int cd_report_format_parse(const char *name);

/* What the run alone does not hold: how it ended, and what was measured beside it. */
struct cd_report_input {
	enum cd_run_outcome outcome;
	int exit_code;
	int interrupted;		 /* the signal number, or 0 */
	const struct cJSON *downtime;	 /* the probe's measurement, or NULL: not measured */
};

/*
 * Builds the report model of run. Every string is redacted. The end time is
 * now. Returns a new document owned by the caller (cJSON_Delete).
 */
struct cJSON *cd_report_build(const struct cd_run *run, const struct cd_report_input *in);

/*
 * Renders a report document (built above, or read back from report.json)
 * into out. template_text is the Markdown template, NULL for the built-in
 * one. Returns 0, or CD_EFAIL with err naming the template's line on a
 * template error.
 */
int cd_report_render(const struct cJSON *report, enum cd_report_format format,
	const char *template_text, struct cd_buf *out, struct cd_error *err);

/* The built-in Markdown template (templates/summary.md.tmpl). */
extern const char cd_report_default_template[];

/*
 * The template language (corpdeploy-report(5)): {{name.path}} inserts a
 * value, {{#path}}...{{/path}} repeats for each element of a list or
 * enters an object or renders once when the value is true, {{^path}}...
 * {{/path}} renders when it is missing, false, null, 0 or empty, and
 * {{! comment }} is dropped. escape is applied to every inserted value.
 */
int cd_template_render(const char *template_text, const struct cJSON *data,
	void (*escape)(struct cd_buf *out, const char *text), struct cd_buf *out,
	struct cd_error *err);

/*
 * Writes text to path atomically (a temporary file beside it, fsync,
 * rename, fsync of the directory) with mode 0600, redacting it on the way.
 */
int cd_report_write_file(const char *path, const char *text, size_t len, struct cd_error *err);

/*
 * Writes report.json and the plan's report formats into dir (created 0700),
 * and the same files into the plan's report.dir when it has one. template
 * is read from the plan's report.template when set. *ret_json_path (may be
 * NULL) receives the path of report.json, malloc'd. Failures are listed in
 * err; what could be written is written.
 */
int cd_report_write(const struct cd_plan *plan, const struct cJSON *report, const char *dir,
	char **ret_json_path, struct cd_error *err);

/*
 * The report files of one run that exist now, as {"json": [paths], "markdown":
 * [...], ...}: those in run_dir, then the copies in the plan's report.dir.
 * Formats with no file are left out. Owned by the caller (cJSON_Delete).
 */
struct cJSON *cd_report_files(const struct cd_plan *plan, const char *run_dir, const char *run_id);

/* Reads a report.json back. *ret is owned by the caller (cJSON_Delete). */
int cd_report_read(const char *path, struct cJSON **ret, struct cd_error *err);

/*
 * Notifications. The message of a run as a webhook body: Slack's {"text"}
 * for the slack format, the same text beside the run's essentials for json.
 * malloc'd, redacted.
 */
char *cd_notify_body(const struct cJSON *report, const char *event, const char *message,
	int slack);
/*
 * Posts body to url, tried 1 + retries times with a doubling delay between
 * tries (1s, 2s, 4s ... at most 30s), each try within timeout_ms. Returns 0 once
 * a 2xx answer came, or CD_EREMOTE with err (url redacted) after the last try.
 * *ret_attempts is the number of tries made.
 */
int cd_notify_post(const char *url, const char *body, int64_t retries, int64_t timeout_ms,
	int64_t first_delay_ms, int *ret_attempts, struct cd_error *err);
/*
 * Sends the end-of-run notifications: the plan's notify: webhooks and the
 * notify steps with an `on:` list, each when the run's event (success,
 * failure or rollback, from report's outcome) is one it asks for; a rolled
 * back run also counts as a failure. note (may be NULL) is told each
 * delivery's result, warn set when it failed; a failed delivery never
 * changes the outcome. Returns the number of deliveries that failed.
 */
typedef void (*cd_notify_note_fn)(int warn, const char *line);
int cd_notify_run_end(const struct cd_plan *plan, const struct cJSON *report, cd_notify_note_fn note);
/* The event of a finished run: "success", "rollback" or "failure". */
const char *cd_notify_event(const struct cJSON *report);

#endif
