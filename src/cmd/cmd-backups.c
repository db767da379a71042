/*
 * backups: what backups a plan has and where: each run's archives on this
 * machine (under the state directory) and, when the plan has
 * backup_storage, the copies there. Newest first, with size and age.
 */
#include <getopt.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cmd.h"
#include "corpdeploy/backup.h"
#include "corpdeploy/engine.h"
#include "corpdeploy/log.h"
#include "corpdeploy/plan.h"

struct row {
	char *run, *file;
	uint64_t size;
	time_t when;
	int local, remote;
};

struct rows {
	struct row *v;
	size_t n, alloc;
};

static struct row *row_get(struct rows *rs, const char *run, const char *file)
{
	for (size_t i = 0; i < rs->n; i++)
		if (strcmp(rs->v[i].run, run) == 0 && strcmp(rs->v[i].file, file) == 0)
			return &rs->v[i];
	if (rs->n == rs->alloc)
		rs->v = cd_xreallocarray(rs->v, rs->alloc = rs->alloc ? rs->alloc * 2 : 16, sizeof(*rs->v));
	struct row *r = &rs->v[rs->n++];
	memset(r, 0, sizeof(*r));
	r->run = cd_xstrdup(run);
	r->file = cd_xstrdup(file);
	return r;
}

static int is_archive(const char *name)
{
	size_t l = strlen(name);
	return strncmp(name, "backup-", 7) == 0 && l > 15 && strcmp(name + l - 8, ".tar.zst") == 0;
}

static void scan_local(const struct cd_plan *plan, struct rows *rs)
{
	char *base = cd_engine_state_dir(plan);
	char *runs = cd_xasprintf("%s/runs", base);
	free(base);
	DIR *d = opendir(runs);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char *dir = cd_xasprintf("%s/%s", runs, de->d_name);
		DIR *rd = opendir(dir);
		struct dirent *fe;
		while (rd && (fe = readdir(rd))) {
			if (!is_archive(fe->d_name))
				continue;
			char *p = cd_xasprintf("%s/%s", dir, fe->d_name);
			struct stat st;
			if (stat(p, &st) == 0) {
				struct row *r = row_get(rs, de->d_name, fe->d_name);
				r->local = 1;
				r->size = (uint64_t)st.st_size;
				r->when = st.st_mtime;
			}
			free(p);
		}
		if (rd)
			closedir(rd);
		free(dir);
	}
	if (d)
		closedir(d);
	free(runs);
}

static int scan_remote(const struct cd_plan *plan, struct rows *rs, struct cd_error *err)
{
	struct cd_run *run = cd_run_new(plan, NULL);
	struct cd_backup_s3 s3;
	const struct cd_backup_storage *st = plan->backup_storage;
	int r = cd_backup_s3_open(plan, cd_run_env(run, st->access_key_secret),
		cd_run_env(run, st->secret_key_secret), &s3, err);
	cd_run_free(run);
	if (r < 0)
		return r;
	struct cd_backup_object *v;
	size_t n;
	if ((r = cd_backup_s3_list(&s3, &v, &n, err)) == 0) {
		size_t pl = strlen(s3.prefix);
		for (size_t i = 0; i < n; i++) {
			/* <prefix>/<run>/<file> */
			const char *k = v[i].key;
			if (strncmp(k, s3.prefix, pl) != 0 || k[pl] != '/')
				continue;
			const char *run_id = k + pl + 1, *slash = strchr(run_id, '/');
			if (!slash || !is_archive(slash + 1))
				continue;
			char *rid = cd_xstrndup(run_id, (size_t)(slash - run_id));
			struct row *row = row_get(rs, rid, slash + 1);
			free(rid);
			row->remote = 1;
			if (!row->local) {
				struct tm tm = { 0 };
				row->size = v[i].size;
				if (strptime(v[i].modified, "%Y-%m-%dT%H:%M:%S", &tm))
					row->when = timegm(&tm);
			}
		}
		cd_backup_objects_free(v, n);
	}
	cd_backup_s3_close(&s3);
	return r;
}

static int newest_first(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	if (x->when != y->when)
		return x->when < y->when ? 1 : -1;
	return strcmp(y->run, x->run);
}

static int cmd_backups_exec(int argc, char **argv)
{
	int done = cd_cmd_simple_options(&cd_cmd_backups_entry, argc, argv, NULL);
	if (done >= 0)
		return done;
	if (optind != argc - 1)
		return cd_cmd_usage_error(&cd_cmd_backups_entry, "expected one PLAN");
	struct cd_plan *plan = cd_cmd_load_plan(argv[optind], 0);
	if (!plan)
		return CD_EXIT_USAGE;

	struct rows rs = { 0 };
	int code = CD_EXIT_OK;
	scan_local(plan, &rs);
	if (plan->backup_storage) {
		struct cd_error err = CD_ERROR_INIT;
		if (scan_remote(plan, &rs, &err) < 0) {
			cd_log_warn("off-site copies not listed: %s", err.msg);
			code = CD_EXIT_PRECHECK;
		}
		cd_error_release(&err);
	}
	if (rs.n)
		qsort(rs.v, rs.n, sizeof(*rs.v), newest_first);
	cd_out("%-28s %-32s %10s %8s  %s\n", "RUN", "STEP", "SIZE", "AGE", "WHERE");
	time_t now = time(NULL);
	for (size_t i = 0; i < rs.n; i++) {
		struct row *row = &rs.v[i];
		char size[32], age[32];
		size_t fl = strlen(row->file);
		cd_out("%-28s %-32.*s %10s %8s  %s\n", row->run, (int)(fl - 15), row->file + 7,
			cd_size_format(row->size, size, sizeof(size)),
			cd_duration_format((int64_t)(now > row->when ? now - row->when : 0) * 1000, age,
				sizeof(age)),
			row->local && row->remote ? "local, s3" : row->local ? "local" : "s3");
		free(row->run);
		free(row->file);
	}
	if (!rs.n)
		cd_out("no backups of plan '%s'\n", plan->name);
	free(rs.v);
	cd_plan_free(plan);
	return code;
}

const struct cd_cmd_entry cd_cmd_backups_entry = {
	.name = "backups",
	.usage = "PLAN",
	.summary = "List the plan's backups: run, step, size, age and where they are.",
	.help = "Lists the archives under the plan's state directory and, when the plan has\n"
		"backup_storage, the copies there (its secrets must be set).\n"
		"\nexit status: 0 listed; 2 invalid plan; 4 the off-site storage could not be\n"
		"listed (the local ones are)\n",
	.exec = cmd_backups_exec,
};
