/*
 * The deploy lock of a plan: an flock(2) on <state>/lock, which the kernel
 * releases when the holder dies however it dies, so no lock can go stale;
 * and, in the same file, who holds it (pid, user, host, start, run id), so
 * that a refused run can say whom it waits for.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "corpdeploy/engine.h"

struct cd_lock {
	int fd;
	char *path;
};

char *cd_engine_state_dir(const struct cd_plan *plan)
{
	if (plan->state_dir[0] == '/' || strcmp(plan->dir, ".") == 0)
		return cd_xasprintf("%s/%s", plan->state_dir, plan->name);
	return cd_xasprintf("%s/%s/%s", plan->dir, plan->state_dir, plan->name);
}

int cd_engine_mkdirs(const char *path, unsigned mode, struct cd_error *err)
{
	char *p = cd_xstrdup(path);
	int r = 0;
	for (char *s = p + 1; r == 0; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, (mode_t)mode) < 0 && errno != EEXIST)
			r = cd_error_set_errno(err, errno, "cannot create '%s'", p);
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	return r;
}

static char *read_owner(int fd)
{
	char buf[1024];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return cd_xstrdup("an unknown process");
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return cd_xstrdup(buf);
}

int cd_lock_acquire(const struct cd_plan *plan, const char *run_id, struct cd_lock **ret,
	struct cd_error *err)
{
	char *dir = cd_engine_state_dir(plan);
	int r = cd_engine_mkdirs(dir, 0700, err);
	if (r < 0) {
		free(dir);
		return r;
	}
	char *path = cd_xasprintf("%s/lock", dir);
	free(dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = cd_error_set_errno(err, errno, "cannot open the lock '%s'", path);
		free(path);
		return r;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		char *owner = e == EWOULDBLOCK ? read_owner(fd) : NULL;
		if (owner)
			r = cd_error_set(err, CD_ELOCKED,
				"plan '%s' is locked by %s (lock file %s); wait for that run to end",
				plan->name, owner, path);
		else
			r = cd_error_set_errno(err, e, "cannot lock '%s'", path);
		free(owner);
		close(fd);
		free(path);
		return r;
	}
	char host[256] = "?", stamp[32];
	struct passwd *pw = getpwuid(geteuid());
	time_t now = time(NULL);
	struct tm tm;
	gethostname(host, sizeof(host) - 1);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	char *owner = cd_xasprintf("pid %d, user %s, host %s, since %s, run %s\n", (int)getpid(),
		pw ? pw->pw_name : "?", host, stamp, run_id);
	/* Should the note fail, the lock still holds; only the message to others is poorer. */
	if (ftruncate(fd, 0) == 0 && pwrite(fd, owner, strlen(owner), 0) > 0)
		fsync(fd);
	free(owner);
	struct cd_lock *l = cd_xcalloc(1, sizeof(*l));
	l->fd = fd;
	l->path = path;
	*ret = l;
	return 0;
}

void cd_lock_release(struct cd_lock *l)
{
	if (!l)
		return;
	/* The note goes first; the kernel lock, released by close, is what counts. */
	int r = ftruncate(l->fd, 0);
	(void)r;
	close(l->fd);
	free(l->path);
	free(l);
}

int cd_lock_status(const struct cd_plan *plan, char **ret_owner, struct cd_error *err)
{
	char *dir = cd_engine_state_dir(plan);
	char *path = cd_xasprintf("%s/lock", dir);
	free(dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	*ret_owner = NULL;
	if (fd < 0) {
		int e = errno;
		free(path);
		return e == ENOENT ? 0 : cd_error_set_errno(err, e, "cannot read the lock");
	}
	if (flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK)
		*ret_owner = read_owner(fd);
	close(fd);
	free(path);
	return 0;
}
