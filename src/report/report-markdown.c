/*
 * Markdown: the report's view through a template (the built-in one unless
 * the plan names its own). Values are escaped for Markdown tables and
 * lines: a value can neither break a table, start a new line nor inject
 * HTML into a renderer that allows it.
 */
#include <string.h>

#include "corpdeploy/report.h"
#include "report-internal.h"

static void markdown_escape(struct cd_buf *out, const char *text)
{
	for (const char *p = text; *p; p++) {
		switch (*p) {
		case '|': cd_buf_adds(out, "\\|"); break;
		case '\n':
		case '\r': cd_buf_addch(out, ' '); break;
		case '<': cd_buf_adds(out, "&lt;"); break;
		case '>': cd_buf_adds(out, "&gt;"); break;
		default: cd_buf_addch(out, *p); break;
		}
	}
}

int cd_report_render_markdown(const cJSON *report, const char *template_text, struct cd_buf *out,
	struct cd_error *err)
{
	cJSON *view = cd_report_view(report);
	int r = cd_template_render(template_text ? template_text : cd_report_default_template, view,
		markdown_escape, out, err);
	cJSON_Delete(view);
	return r;
}
