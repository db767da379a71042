/*
 * The security policy: response headers (presets with their rules, or
 * exact values), the TLS certificate (chain, host name, days to expiry),
 * ports that must not answer, file modes, and the services' logs scanned
 * for any registered secret value. Each problem is a finding with a
 * severity; the score is 100 less the findings' costs.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "corpdeploy/docker.h"
#include "corpdeploy/engine.h"
#include "corpdeploy/http.h"
#include "corpdeploy/log.h"
#include "corpdeploy/steps.h"
#include "corpdeploy/validate.h"
#include "validate-internal.h"

struct findings {
	cJSON *list;
	int counts[CD_SEV_N];
	int worst;	  /* severity of the worst finding so far; CD_SEV_N: none */
	char *worst_text; /* its check and message */
};

static void finding(struct findings *f, int sev, const char *check, const char *fmt, ...)
	CD_PRINTF(4, 5);
static void finding(struct findings *f, int sev, const char *check, const char *fmt, ...)
{
	va_list ap;
	char *raw;
	va_start(ap, fmt);
	if (vasprintf(&raw, fmt, ap) < 0)
		cd_oom();
	va_end(ap);
	char *msg = cd_redact_dup(raw);
	free(raw);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "severity", cd_severity_level_names[sev]);
	cJSON_AddStringToObject(o, "check", check);
	cJSON_AddStringToObject(o, "message", msg);
	cJSON_AddItemToArray(f->list, o);
	f->counts[sev]++;
	if (sev < f->worst) {
		f->worst = sev;
		free(f->worst_text);
		f->worst_text = cd_xasprintf("%s: %s", check, msg);
	}
	free(msg);
}

/* max-age of a Strict-Transport-Security value, or -1. */
static long long hsts_max_age(const char *v)
{
	const char *p = strcasestr(v, "max-age=");
	if (!p)
		return -1;
	p += strlen("max-age=");
	if (*p == '"')
		p++;
	char *end;
	long long age = strtoll(p, &end, 10);
	return end == p ? -1 : age;
}

static void check_preset(struct findings *f, const struct cd_http_response *resp, const char *preset,
	int64_t hsts_min)
{
	if (strcmp(preset, "hsts") == 0) {
		char *v = cd_http_header(resp, "Strict-Transport-Security");
		long long age = v ? hsts_max_age(v) : -1;
		if (!v)
			finding(f, CD_SEV_HIGH, "header hsts", "no Strict-Transport-Security header");
		else if (age < hsts_min)
			finding(f, CD_SEV_MEDIUM, "header hsts",
				"Strict-Transport-Security max-age is %lld, expected at least %lld", age,
				(long long)hsts_min);
		free(v);
	} else if (strcmp(preset, "x-frame-options") == 0) {
		char *v = cd_http_header(resp, "X-Frame-Options");
		if (!v || (strcasecmp(v, "DENY") != 0 && strcasecmp(v, "SAMEORIGIN") != 0))
			finding(f, CD_SEV_MEDIUM, "header x-frame-options",
				"X-Frame-Options is %s%s%s, expected DENY or SAMEORIGIN", v ? "'" : "missing",
				v ? v : "", v ? "'" : "");
		free(v);
	} else if (strcmp(preset, "x-content-type-options") == 0) {
		char *v = cd_http_header(resp, "X-Content-Type-Options");
		if (!v || strcasecmp(v, "nosniff") != 0)
			finding(f, CD_SEV_MEDIUM, "header x-content-type-options",
				"X-Content-Type-Options is %s%s%s, expected nosniff", v ? "'" : "missing",
				v ? v : "", v ? "'" : "");
		free(v);
	} else if (strcmp(preset, "csp") == 0) {
		char *v = cd_http_header(resp, "Content-Security-Policy");
		if (!v || !v[0])
			finding(f, CD_SEV_MEDIUM, "header csp", "no Content-Security-Policy header");
		else if (strstr(v, "'unsafe-inline'") && strstr(v, "script-src"))
			finding(f, CD_SEV_LOW, "header csp",
				"Content-Security-Policy allows inline scripts ('unsafe-inline')");
		free(v);
	} else if (strcmp(preset, "referrer-policy") == 0) {
		char *v = cd_http_header(resp, "Referrer-Policy");
		if (!v)
			finding(f, CD_SEV_LOW, "header referrer-policy", "no Referrer-Policy header");
		else if (strcasecmp(v, "unsafe-url") == 0)
			finding(f, CD_SEV_LOW, "header referrer-policy",
				"Referrer-Policy 'unsafe-url' sends full URLs to other sites");
		free(v);
	}
}

static void check_headers(struct findings *f, const struct cd_step_security *p, int64_t deadline_ms)
{
	struct cd_http_request req = { .url = p->url, .timeout_ms = cd_run_left(deadline_ms) };
	struct cd_http_response resp;
	struct cd_error err = CD_ERROR_INIT;
	if (req.timeout_ms > 10000)
		req.timeout_ms = 10000;
	if (cd_http_do(&req, &resp, &err) < 0) {
		finding(f, CD_SEV_HIGH, "headers", "%s", err.msg);
	} else {
		for (size_t i = 0; i < p->header_presets.n; i++)
			check_preset(f, &resp, p->header_presets.v[i], p->hsts_min_age);
		for (size_t i = 0; i < p->header_values.n; i++) {
			const struct cd_kv *kv = &p->header_values.items[i];
			char *v = cd_http_header(&resp, kv->key);
			if (!v || strcmp(v, kv->value) != 0) {
				char *check = cd_xasprintf("header %s", kv->key);
				finding(f, CD_SEV_MEDIUM, check, "%s is %s%s%s, expected '%s'", kv->key,
					v ? "'" : "missing", v ? v : "", v ? "'" : "", kv->value);
				free(check);
			}
			free(v);
		}
	}
	cd_http_response_release(&resp);
	cd_error_release(&err);
}

static size_t tls_discard(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

/* One TLS handshake (and request) with the given verification. */
static CURLcode tls_try(const struct cd_tls_check *t, const char *ca, int peer, int host,
	int64_t timeout_ms, char errbuf[CURL_ERROR_SIZE], time_t *ret_expiry)
{
	CURL *c = curl_easy_init();
	if (!c)
		cd_oom();
	char *url = cd_xasprintf("https://%s:%lld/", t->host, (long long)t->port);
	errbuf[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 1));
	curl_easy_setopt(c, CURLOPT_CONNECT_ONLY, 1L); /* the handshake is the whole check */
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, tls_discard);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, (long)peer);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, host ? 2L : 0L);
	if (ca)
		curl_easy_setopt(c, CURLOPT_CAINFO, ca);
	if (ret_expiry)
		curl_easy_setopt(c, CURLOPT_CERTINFO, 1L);
	CURLcode cc = curl_easy_perform(c);
	if (cc == CURLE_OK && ret_expiry) {
		struct curl_certinfo *ci = NULL;
		*ret_expiry = 0;
		if (curl_easy_getinfo(c, CURLINFO_CERTINFO, &ci) == CURLE_OK && ci && ci->num_of_certs > 0)
			for (struct curl_slist *s = ci->certinfo[0]; s; s = s->next) {
				if (strncmp(s->data, "Expire date:", 12) != 0)
					continue;
				struct tm tm = { 0 };
				const char *v = s->data + 12;
				while (*v == ' ')
					v++;
				/* OpenSSL prints "Nov 28 14:00:00 2027 GMT"; other backends ISO dates. */
				if (strptime(v, "%b %d %H:%M:%S %Y", &tm) ||
					strptime(v, "%Y-%m-%d %H:%M:%S", &tm))
					*ret_expiry = timegm(&tm);
			}
	}
	if (errbuf[0] == '\0' && cc != CURLE_OK)
		snprintf(errbuf, CURL_ERROR_SIZE, "%s", curl_easy_strerror(cc));
	curl_easy_cleanup(c);
	free(url);
	return cc;
}

static void check_tls(struct findings *f, const struct cd_plan *plan, const struct cd_tls_check *t,
	int64_t deadline_ms)
{
	char errbuf[CURL_ERROR_SIZE];
	time_t expiry = 0;
	int64_t timeout = cd_run_left(deadline_ms);
	char *ca = NULL;
	if (timeout > 10000)
		timeout = 10000;
	if (t->ca)
		ca = t->ca[0] == '/' || !plan->dir ? cd_xstrdup(t->ca)
						   : cd_xasprintf("%s/%s", plan->dir, t->ca);
	/* First without judging, to read the certificate whatever is wrong with it. */
	if (tls_try(t, ca, 0, 0, timeout, errbuf, &expiry) != CURLE_OK) {
		finding(f, CD_SEV_HIGH, "tls", "no TLS handshake with %s:%lld: %s", t->host,
			(long long)t->port, errbuf);
		goto done;
	}
	if (expiry) {
		double days = difftime(expiry, time(NULL)) / 86400.0;
		if (days < 0)
			finding(f, CD_SEV_CRITICAL, "tls expiry", "the certificate of %s expired %.0f days ago",
				t->host, -days);
		else if (days < (double)t->min_days)
			finding(f, CD_SEV_MEDIUM, "tls expiry",
				"the certificate of %s expires in %.0f days, fewer than %lld", t->host, days,
				(long long)t->min_days);
	} else {
		finding(f, CD_SEV_INFO, "tls expiry", "the certificate's expiry date was not readable");
	}
	if (t->verify != 1)
		goto done;
	if (tls_try(t, ca, 0, 1, timeout, errbuf, NULL) != CURLE_OK)
		finding(f, CD_SEV_HIGH, "tls hostname", "the certificate does not name %s: %s", t->host,
			errbuf);
	if (tls_try(t, ca, 1, 0, timeout, errbuf, NULL) != CURLE_OK)
		finding(f, CD_SEV_CRITICAL, "tls chain", "the certificate chain of %s is not trusted: %s",
			t->host, errbuf);
done:
	free(ca);
}

static void check_logs(struct findings *f, struct cd_run *run, const char *service)
{
	const struct cd_service *s = cd_plan_service(run->plan, service);
	struct cd_error err = CD_ERROR_INIT;
	struct cd_docker *d;
	char *name = cd_engine_container_name(run->plan, service);
	char *check = cd_xasprintf("logs %s", service);
	struct cd_buf out, errout;
	cd_buf_init(&out, 0);
	cd_buf_init(&errout, 0);
	if (!s || cd_run_docker(run, s->target, &d, &err) < 0 ||
		cd_docker_container_logs(d, name, -1, 0, &out, &errout, &err) < 0) {
		finding(f, CD_SEV_MEDIUM, check, "cannot read the logs of '%s': %s", name,
			err.msg ? err.msg : "no such service");
	} else {
		/* The redactor knows every secret value: a log it changes holds one. */
		int leaked = 0;
		struct cd_buf *bufs[] = { &out, &errout };
		for (size_t i = 0; i < 2 && !leaked; i++) {
			char *red = cd_redact_dup(bufs[i]->buf);
			leaked = strcmp(red, bufs[i]->buf) != 0;
			free(red);
		}
		if (leaked)
			finding(f, CD_SEV_CRITICAL, check, "a secret value appears in the logs of '%s'", name);
	}
	cd_buf_release(&out);
	cd_buf_release(&errout);
	cd_error_release(&err);
	free(check);
	free(name);
}

int cd_security_run(struct cd_run *run, const struct cd_step_security *p, int64_t deadline_ms,
	cJSON **ret_details, struct cd_error *err)
{
	struct findings f = { .list = cJSON_CreateArray(), .worst = CD_SEV_N };
	const struct cd_plan *plan = run->plan;

	validate_curl_init();
	if (p->header_presets.n || p->header_values.n)
		check_headers(&f, p, deadline_ms);
	if (p->tls)
		check_tls(&f, plan, p->tls, deadline_ms);
	for (size_t i = 0; i < p->closed_ports.n; i++) {
		struct cd_error e = CD_ERROR_INIT;
		if (cd_tcp_probe(p->closed_ports.v[i], 1000, &e) == 0)
			finding(&f, CD_SEV_HIGH, "closed port", "%s accepts connections; it must not be reachable",
				p->closed_ports.v[i]);
		cd_error_release(&e);
	}
	for (size_t i = 0; i < p->file_modes.n; i++) {
		const struct cd_file_mode *m = CD_LIST_AT(&p->file_modes, struct cd_file_mode, i);
		char *path = m->path[0] == '/' || !plan->dir ? cd_xstrdup(m->path)
							     : cd_xasprintf("%s/%s", plan->dir, m->path);
		struct stat st;
		if (stat(path, &st) < 0)
			finding(&f, CD_SEV_MEDIUM, "file mode", "%s: %s", m->path, strerror(errno));
		else if ((st.st_mode & 07777 & ~(mode_t)m->mode) != 0)
			finding(&f, CD_SEV_HIGH, "file mode", "%s has mode %04o, wider than %04o", m->path,
				(unsigned)(st.st_mode & 07777), (unsigned)m->mode);
		free(path);
	}
	if (p->scan_all_logs == 1) {
		for (size_t i = 0; i < plan->services.n; i++)
			check_logs(&f, run, CD_LIST_AT(&plan->services, struct cd_service, i)->name);
	} else {
		for (size_t i = 0; i < p->scan_logs.n; i++)
			check_logs(&f, run, p->scan_logs.v[i]);
	}

	int score = cd_security_score(f.counts);
	cJSON *d = cJSON_CreateObject();
	cJSON_AddNumberToObject(d, "score", score);
	cJSON_AddNumberToObject(d, "max_score", 100);
	cJSON_AddItemToObject(d, "findings", f.list);
	*ret_details = d;

	int r = 0;
	if (p->min_score >= 0) {
		if (f.counts[CD_SEV_CRITICAL] || score < p->min_score * 10)
			r = cd_error_set(err, CD_EFAIL, "security score %d/100 (needs %g/10); worst: %s",
				score, p->min_score, f.worst_text ? f.worst_text : "none");
	} else if (f.counts[CD_SEV_CRITICAL] || f.counts[CD_SEV_HIGH]) {
		r = cd_error_set(err, CD_EFAIL, "security score %d/100 with %d critical and %d high findings; worst: %s",
			score, f.counts[CD_SEV_CRITICAL], f.counts[CD_SEV_HIGH], f.worst_text);
	}
	free(f.worst_text);
	return r;
}
