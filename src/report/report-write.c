/*
 * Writing reports: each format rendered from the one JSON document, each
 * file written whole or not at all (temporary file, fsync, rename, fsync of
 * the directory), mode 0600 because a report names hosts, images and
 * commands. The text is redacted once more on its way to the disk.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "corpdeploy/log.h"
#include "corpdeploy/plan.h"
#include "corpdeploy/report.h"
#include "report-internal.h"

#define REPORT_MAX_READ (64u << 20)

int cd_report_render(const cJSON *report, enum cd_report_format format, const char *template_text,
	struct cd_buf *out, struct cd_error *err)
{
	switch (format) {
	case CD_REPORT_JSON: {
		char *text = cJSON_Print(report);
		if (!text)
			cd_oom();
		cd_buf_adds(out, text);
		cd_buf_addch(out, '\n');
		cJSON_free(text);
		return 0;
	}
	case CD_REPORT_MARKDOWN: return cd_report_render_markdown(report, template_text, out, err);
	case CD_REPORT_HTML: cd_report_render_html(report, out); return 0;
	case CD_REPORT_JUNIT: cd_report_render_junit(report, out); return 0;
	}
	return cd_error_set(err, CD_EFAIL, "unknown report format %d", (int)format);
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int cd_report_write_file(const char *path, const char *text, size_t len, struct cd_error *err)
{
	struct cd_buf safe = CD_BUF_INIT;
	cd_redact_append(&safe, text, len);
	char *tmp = cd_xasprintf("%s.tmp.%d", path, (int)getpid());
	int r = 0;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		r = cd_error_set_errno(err, errno, "cannot create %s", tmp);
		goto done;
	}
	if (fchmod(fd, 0600) < 0 || write_all(fd, safe.buf, safe.len) < 0 || fsync(fd) < 0) {
		r = cd_error_set_errno(err, errno, "cannot write %s", tmp);
		close(fd);
		unlink(tmp);
		goto done;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		r = cd_error_set_errno(err, errno, "cannot write %s", path);
		unlink(tmp);
		goto done;
	}
	/* The rename itself survives a crash only once the directory is synced. */
	char *dir_copy = cd_xstrdup(path);
	int dfd = open(dirname(dir_copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	free(dir_copy);
done:
	free(tmp);
	cd_buf_release(&safe);
	return r;
}

static int read_file(const char *path, size_t max, struct cd_buf *out, struct cd_error *err)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return errno == ENOENT ? cd_error_set(err, CD_ENOTFOUND, "%s: no such file", path)
				       : cd_error_set_errno(err, errno, "cannot open %s", path);
	char chunk[65536];
	size_t n;
	int r = 0;
	cd_buf_init(out, max);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (cd_buf_add(out, chunk, n) < 0) {
			r = cd_error_set(err, CD_ETOOBIG, "%s: larger than %zu MiB", path, max >> 20);
			break;
		}
	if (!r && ferror(f))
		r = cd_error_set_errno(err, errno, "cannot read %s", path);
	fclose(f);
	return r;
}

int cd_report_read(const char *path, cJSON **ret, struct cd_error *err)
{
	struct cd_buf text = CD_BUF_INIT;
	int r = read_file(path, REPORT_MAX_READ, &text, err);
	if (r < 0) {
		cd_buf_release(&text);
		return r;
	}
	cJSON *doc = cJSON_ParseWithLength(text.buf, text.len);
	cd_buf_release(&text);
	if (!cJSON_IsObject(doc) || !cJSON_IsObject(cJSON_GetObjectItem(doc, "run"))) {
		cJSON_Delete(doc);
		return cd_error_set(err, CD_EFAIL, "%s: not a corpdeploy report (JSON object with \"run\")",
			path);
	}
	double version = cd_json_num(doc, "schema_version", 0);
	if (version > CD_REPORT_SCHEMA_VERSION) {
		cJSON_Delete(doc);
		return cd_error_set(err, CD_EFAIL,
			"%s: report schema %.0f is newer than this corpdeploy reads (%d)", path, version,
			CD_REPORT_SCHEMA_VERSION);
	}
	*ret = doc;
	return 0;
}

static char *plan_path(const struct cd_plan *plan, const char *rel)
{
	if (rel[0] == '/' || !plan->dir)
		return cd_xstrdup(rel);
	return cd_xasprintf("%s/%s", plan->dir, rel);
}

/*
 * Where a format of a run is written: report.md in the run's directory; in the
 * plan's shared report.dir, which keeps every run, RUN-ID-report.md.
 */
static char *report_path(const char *dir, int shared, const char *run_id,
	enum cd_report_format f)
{
	if (!shared)
		return cd_xasprintf("%s/%s", dir, cd_report_file_name(f));
	if (!run_id || !*run_id || strchr(run_id, '/') || run_id[0] == '.')
		run_id = "run";
	return cd_xasprintf("%s/%s-%s", dir, run_id, cd_report_file_name(f));
}

cJSON *cd_report_files(const struct cd_plan *plan, const char *run_dir, const char *run_id)
{
	char *shared = plan->report && plan->report->dir && plan->report->dir[0]
		? plan_path(plan, plan->report->dir)
		: NULL;
	cJSON *files = cJSON_CreateObject();
	for (int f = CD_REPORT_JSON; f <= CD_REPORT_JUNIT; f++) {
		cJSON *paths = NULL;
		for (int d = 0; d < 2; d++) {
			if (d == 1 && !shared)
				break;
			char *path = report_path(d ? shared : run_dir, d, run_id, f);
			if (access(path, R_OK) == 0) {
				if (!paths)
					paths = cJSON_AddArrayToObject(files, cd_report_format_names[f]);
				cJSON_AddItemToArray(paths, cJSON_CreateString(path));
			}
			free(path);
		}
	}
	free(shared);
	return files;
}

/* The formats to write: report.json always, then what the plan asks for. */
static unsigned wanted_formats(const struct cd_plan *plan)
{
	unsigned set = 1u << CD_REPORT_JSON;
	if (!plan->report)
		return set | 1u << CD_REPORT_MARKDOWN;
	for (size_t i = 0; i < plan->report->formats.n; i++) {
		int f = cd_report_format_parse(plan->report->formats.v[i]);
		if (f >= 0)
			set |= 1u << f;
	}
	return set;
}

static void add_error(struct cd_buf *msgs, const struct cd_error *e)
{
	cd_buf_addf(msgs, "%s%s", msgs->len ? "; " : "", e->msg ? e->msg : "failed");
}

int cd_report_write(const struct cd_plan *plan, const cJSON *report, const char *dir,
	char **ret_json_path, struct cd_error *err)
{
	struct cd_buf problems = CD_BUF_INIT, template_text = CD_BUF_INIT;
	struct cd_error e = CD_ERROR_INIT;
	const char *dirs[2] = { dir, NULL };
	char *extra = NULL;
	int have_template = 0;

	if (plan->report && plan->report->dir && plan->report->dir[0])
		dirs[1] = extra = plan_path(plan, plan->report->dir);
	if (plan->report && plan->report->template) {
		char *tp = plan_path(plan, plan->report->template);
		if (read_file(tp, 4u << 20, &template_text, &e) == 0)
			have_template = 1;
		else
			add_error(&problems, &e);
		cd_error_release(&e);
		free(tp);
	}
	unsigned formats = wanted_formats(plan);
	for (int f = CD_REPORT_JSON; f <= CD_REPORT_JUNIT; f++) {
		if (!(formats & 1u << f))
			continue;
		struct cd_buf text = CD_BUF_INIT;
		if (cd_report_render(report, (enum cd_report_format)f,
			    have_template ? template_text.buf : NULL, &text, &e) < 0) {
			add_error(&problems, &e);
			cd_error_release(&e);
			cd_buf_release(&text);
			continue;
		}
		for (size_t d = 0; d < CD_ARRAY_SIZE(dirs); d++) {
			if (!dirs[d])
				continue;
			if (cd_engine_mkdirs(dirs[d], 0700, &e) < 0) {
				add_error(&problems, &e);
				cd_error_release(&e);
				continue;
			}
			char *path = report_path(dirs[d], d == 1,
				cd_json_str(cJSON_GetObjectItem(report, "run"), "id"), f);
			if (cd_report_write_file(path, text.buf, text.len, &e) < 0) {
				add_error(&problems, &e);
				cd_error_release(&e);
			} else if (d == 0 && f == CD_REPORT_JSON && ret_json_path) {
				*ret_json_path = cd_xstrdup(path);
			}
			free(path);
		}
		cd_buf_release(&text);
	}
	free(extra);
	cd_buf_release(&template_text);
	int r = 0;
	if (problems.len)
		r = cd_error_set(err, CD_EIO, "reports: %s", problems.buf);
	cd_buf_release(&problems);
	return r;
}
