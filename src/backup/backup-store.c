/*
 * Where a plan's backups live: one archive per backup step in the directory
 * of the run that took it, <state dir>/runs/<run id>/backup-<step>.tar.zst.
 * Retention counts a step's archives across runs, newest first by the time
 * they were written, and removes those past `keep`.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "corpdeploy/backup.h"
#include "corpdeploy/engine.h"

char *cd_backup_run_dir(const struct cd_plan *plan, const char *run_id)
{
	char *base = cd_engine_state_dir(plan);
	char *dir = cd_xasprintf("%s/runs/%s", base, run_id);
	free(base);
	return dir;
}

char *cd_backup_archive_path(const struct cd_plan *plan, const char *run_id, const char *step)
{
	char *dir = cd_backup_run_dir(plan, run_id);
	char *path = cd_xasprintf("%s/backup-%s.tar.zst", dir, step);
	free(dir);
	return path;
}

struct found {
	char *path;
	struct timespec mtime;
};

static int newest_first(const void *a, const void *b)
{
	const struct found *x = a, *y = b;
	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? 1 : -1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec < y->mtime.tv_nsec ? 1 : -1;
	return strcmp(y->path, x->path);
}

int cd_backup_prune(const struct cd_plan *plan, const char *step, int64_t keep,
	size_t *ret_removed, struct cd_error *err)
{
	char *base = cd_engine_state_dir(plan);
	char *runs = cd_xasprintf("%s/runs", base);
	free(base);
	if (ret_removed)
		*ret_removed = 0;
	DIR *d = opendir(runs);
	if (!d) {
		int e = errno;
		free(runs);
		return e == ENOENT ? 0 : cd_error_set_errno(err, e, "cannot list runs");
	}
	struct found *f = NULL;
	size_t n = 0, alloc = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char *p = cd_xasprintf("%s/%s/backup-%s.tar.zst", runs, de->d_name, step);
		struct stat st;
		if (stat(p, &st) < 0) {
			free(p);
			continue;
		}
		if (n == alloc)
			f = cd_xreallocarray(f, alloc = alloc ? alloc * 2 : 16, sizeof(*f));
		f[n++] = (struct found){ p, st.st_mtim };
	}
	closedir(d);
	free(runs);
	if (n)
		qsort(f, n, sizeof(*f), newest_first);
	int r = 0;
	for (size_t i = 0; i < n; i++) {
		if ((int64_t)i >= keep) {
			if (unlink(f[i].path) < 0 && errno != ENOENT && r == 0)
				r = cd_error_set_errno(err, errno, "cannot remove the old backup %s",
					f[i].path);
			else if (ret_removed)
				(*ret_removed)++;
		}
		free(f[i].path);
	}
	free(f);
	return r;
}
