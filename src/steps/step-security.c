/*
 * security: the release's security policy as checks with severities:
 * required response headers, TLS certificate, ports that must stay closed,
 * file modes, and a scan of the services' logs for secret values.
 */
#include <stddef.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "corpdeploy/engine.h"
#include "corpdeploy/steps.h"
#include "corpdeploy/validate.h"

static const char *const header_presets[] = { "hsts", "x-frame-options", "x-content-type-options",
	"csp", "referrer-policy", NULL };

/* headers: [hsts, csp] (presets) or { Header-Name: expected value }. */
static int security_headers(struct cd_decoder *dec, const struct cd_node *node, void *dst)
{
	struct cd_step_security *s = dst;
	if (node->kind == CD_NODE_MAP) {
		static const struct cd_field f = { .key = "headers", .type = CD_T_MAP };
		return cd_decode_field(dec, &f, node, &s->header_values);
	}
	static const struct cd_field f = { .key = "headers", .type = CD_T_ENUMV, .sub = header_presets };
	return cd_decode_field(dec, &f, node, &s->header_presets);
}

/* scan_logs: true (every service) or [api, nginx]. */
static int security_scan_logs(struct cd_decoder *dec, const struct cd_node *node, void *dst)
{
	struct cd_step_security *s = dst;
	if (node->kind == CD_NODE_SCALAR && cd_parse_bool(node->value, &s->scan_all_logs) == 0)
		return 0;
	static const struct cd_field f = { .key = "scan_logs", .type = CD_T_STRV, .flags = CD_FIELD_RAW };
	s->scan_all_logs = 0;
	return cd_decode_field(dec, &f, node, &s->scan_logs);
}

static const struct cd_field tls_fields[] = {
	{ .key = "host", .type = CD_T_STR, .offset = offsetof(struct cd_tls_check, host),
		.flags = CD_FIELD_REQUIRED },
	{ .key = "port", .type = CD_T_INT, .offset = offsetof(struct cd_tls_check, port), .def = "443",
		.min = 1, .max = 65535 },
	{ .key = "min_days", .type = CD_T_INT, .offset = offsetof(struct cd_tls_check, min_days),
		.def = "14", .min = 0, .max = 3650 },
	{ .key = "verify", .type = CD_T_BOOL, .offset = offsetof(struct cd_tls_check, verify),
		.def = "true" },
	{ .key = "ca", .type = CD_T_STR, .offset = offsetof(struct cd_tls_check, ca) },
	{ 0 },
};

static const struct cd_schema tls_schema = {
	.what = "tls check",
	.size = sizeof(struct cd_tls_check),
	.fields = tls_fields,
};

static const struct cd_field file_mode_fields[] = {
	{ .key = "path", .type = CD_T_STR, .offset = offsetof(struct cd_file_mode, path),
		.flags = CD_FIELD_REQUIRED },
	{ .key = "mode", .type = CD_T_MODE, .offset = offsetof(struct cd_file_mode, mode),
		.flags = CD_FIELD_REQUIRED },
	{ 0 },
};

static const struct cd_schema file_mode_schema = {
	.what = "file mode",
	.size = sizeof(struct cd_file_mode),
	.fields = file_mode_fields,
};

static const struct cd_field security_fields[] = {
	{ .key = "headers", .type = CD_T_CUSTOM, .offset = 0, .custom = security_headers },
	{ .key = "hsts_min_age", .type = CD_T_INT,
		.offset = offsetof(struct cd_step_security, hsts_min_age), .def = "31536000", .min = 0,
		.max = 1000000000 },
	{ .key = "tls", .type = CD_T_STRUCT, .offset = offsetof(struct cd_step_security, tls),
		.sub = &tls_schema },
	{ .key = "closed_ports", .type = CD_T_STRV,
		.offset = offsetof(struct cd_step_security, closed_ports) },
	{ .key = "file_modes", .type = CD_T_LIST,
		.offset = offsetof(struct cd_step_security, file_modes), .sub = &file_mode_schema },
	{ .key = "scan_logs", .type = CD_T_CUSTOM, .offset = 0, .custom = security_scan_logs },
	{ .key = "header_presets", .type = CD_T_STRV,
		.offset = offsetof(struct cd_step_security, header_presets), .flags = CD_FIELD_OUTPUT },
	{ .key = "header_values", .type = CD_T_MAP,
		.offset = offsetof(struct cd_step_security, header_values), .flags = CD_FIELD_OUTPUT },
	{ .key = "scan_logs_services", .type = CD_T_STRV,
		.offset = offsetof(struct cd_step_security, scan_logs), .flags = CD_FIELD_OUTPUT },
	{ .key = "scan_all_logs", .type = CD_T_BOOL,
		.offset = offsetof(struct cd_step_security, scan_all_logs), .flags = CD_FIELD_OUTPUT },
	{ .key = "min_score", .type = CD_T_NUMBER,
		.offset = offsetof(struct cd_step_security, min_score), .min = 0, .max = 10 },
	{ 0 },
};

static const struct cd_schema security_schema = {
	.what = "security",
	.size = sizeof(struct cd_step_security),
	.fields = security_fields,
};

static int security_validate(struct cd_decoder *dec, const struct cd_node *map, void *args)
{
	const struct cd_step_security *s = args;
	int r = 0;
	for (size_t i = 0; i < s->closed_ports.n; i++) {
		const char *p = strrchr(s->closed_ports.v[i], ':');
		int64_t port;
		if (!p || p == s->closed_ports.v[i] || cd_parse_int(p + 1, &port) < 0 || port < 1 ||
			port > 65535)
			r = cd_decode_error(dec, s->closed_ports.nodes[i],
				"%s: expected host:port like 127.0.0.1:5432, got '%s'",
				cd_decode_where(dec), s->closed_ports.v[i]);
	}
	if ((s->header_presets.n || s->header_values.n) && !s->url)
		r = cd_decode_error(dec, map, "%s: header checks need the URL to request",
			cd_decode_where(dec));
	return r;
}

static int security_resolve(struct cd_decoder *dec, const struct cd_plan *plan, struct cd_step *step)
{
	const struct cd_step_security *s = step->args;
	int r = 0;
	for (size_t i = 0; i < s->scan_logs.n; i++)
		if (cd_step_require_service(dec, plan, s->scan_logs.v[i], s->scan_logs.nodes[i],
			    "scan_logs") < 0)
			r = CD_EPLAN;
	return r;
}

static void security_describe(const struct cd_step *step, struct cd_buf *out)
{
	const struct cd_step_security *s = step->args;
	const char *sep = "";
	cd_buf_adds(out, "security policy:");
	if (s->header_presets.n || s->header_values.n) {
		cd_buf_addf(out, " headers of %s (", s->url);
		cd_step_describe_strv(&s->header_presets, ", ", out);
		for (size_t i = 0; i < s->header_values.n; i++)
			cd_buf_addf(out, "%s%s", i || s->header_presets.n ? ", " : "",
				s->header_values.items[i].key);
		cd_buf_adds(out, ")");
		sep = ";";
	}
	if (s->tls) {
		cd_buf_addf(out, "%s TLS of %s:%lld", sep, s->tls->host, (long long)s->tls->port);
		sep = ";";
	}
	if (s->closed_ports.n) {
		cd_buf_addf(out, "%s closed ", sep);
		cd_step_describe_strv(&s->closed_ports, ", ", out);
		sep = ";";
	}
	for (size_t i = 0; i < s->file_modes.n; i++) {
		const struct cd_file_mode *m = CD_LIST_AT(&s->file_modes, struct cd_file_mode, i);
		cd_buf_addf(out, "%s %s mode %04o", sep, m->path, (unsigned)m->mode);
		sep = ";";
	}
	if (s->scan_all_logs == 1)
		cd_buf_addf(out, "%s no secret in any service's logs", sep);
	else if (s->scan_logs.n) {
		cd_buf_addf(out, "%s no secret in the logs of ", sep);
		cd_step_describe_strv(&s->scan_logs, ", ", out);
	}
}

static int security_apply(struct cd_step_ctx *ctx, struct cd_error *err)
{
	cJSON *d = NULL;
	int r = cd_security_run(ctx->run, ctx->step->args, ctx->deadline_ms, &d, err);
	ctx->details = d;
	const cJSON *findings = cJSON_GetObjectItemCaseSensitive(d, "findings");
	int n = cJSON_GetArraySize(findings);
	cd_buf_addf(&ctx->message, "score %d/100, %d finding%s",
		(int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(d, "score")), n,
		n == 1 ? "" : "s");
	return r;
}

const struct cd_step_kind cd_step_kind_security = {
	.name = "security",
	.main = { .key = "security", .type = CD_T_STR, .offset = offsetof(struct cd_step_security, url) },
	.schema = &security_schema,
	.validate = security_validate,
	.resolve = security_resolve,
	.describe = security_describe,
	.apply = security_apply,
};
