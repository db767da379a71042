/*
 * bench-plan: how long loading a plan takes, in process, and how much memory
 * a command needs. Built and run by bench/plan-parse.sh; prints figures only.
 *
 *   bench-plan time PLAN [ITERATIONS]   wall time per load, three ways:
 *       full      cd_plan_load(PLAN): reads the file and its smoke suites and,
 *                 with `release: git` (or no release), opens the git repository
 *       no-git    cd_plan_load_buffer() of the same text with the release line
 *                 replaced by a literal: the parse, decode and checks, smoke
 *                 suites still read from disk, no libgit2
 *       yaml      cd_yaml_parse() of the text alone (no decoding)
 *   bench-plan rss COMMAND [ARGS...]    runs COMMAND (output discarded), prints its
 *                 peak RSS in KiB (wait4's ru_maxrss) and its exit status
 *
 * Times come from CLOCK_MONOTONIC around each call; cd_plan_free() is outside
 * the measured interval. Plans are loaded offline (as lint does).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "corpdeploy/core.h"
#include "corpdeploy/log.h"
#include "corpdeploy/plan.h"
#include "corpdeploy/schema.h"

#define WARMUP 5

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[0..n). */
static double percentile(const double *v, size_t n, double p)
{
	size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

static void report(const char *what, double *v, size_t n)
{
	double sum = 0;
	qsort(v, n, sizeof(*v), cmp_double);
	for (size_t i = 0; i < n; i++)
		sum += v[i];
	printf("%-8s n=%zu  median %.3f ms  p90 %.3f ms  min %.3f ms  max %.3f ms  mean %.3f ms\n",
		what, n, percentile(v, n, 50), percentile(v, n, 90), v[0], v[n - 1], sum / (double)n);
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "bench-plan: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	struct cd_buf b = CD_BUF_INIT;
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		cd_buf_add(&b, chunk, n);
	fclose(f);
	*len = b.len;
	return cd_buf_detach(&b);
}

/* The text with a top-level `release: ...` line replaced (or added) by a literal. */
static char *without_git(const char *text, size_t len, size_t *ret_len)
{
	struct cd_buf b = CD_BUF_INIT;
	const char *p = text, *end = text + len;
	int replaced = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl + 1 : end;
		if (!replaced && strncmp(p, "release:", 8) == 0) {
			cd_buf_adds(&b, "release: \"bench\"\n");
			replaced = 1;
		} else {
			cd_buf_add(&b, p, (size_t)(eol - p));
		}
		p = eol;
	}
	if (!replaced)
		cd_buf_adds(&b, "release: \"bench\"\n");
	*ret_len = b.len;
	return cd_buf_detach(&b);
}

static const char *no_env(const char *name)
{
	(void)name;
	return NULL;
}

enum mode { FULL, NO_GIT, YAML };

static double one(enum mode m, const char *path, const char *text, size_t len)
{
	struct cd_plan_opts opts = { .flags = CD_PLAN_LOAD_OFFLINE, .getenv = no_env };
	struct cd_diags diags = CD_DIAGS_INIT;
	struct cd_plan *plan = NULL;
	struct cd_arena arena = CD_ARENA_INIT;
	struct cd_node *root;
	double t0 = 0, t1 = 0;
	int r;

	switch (m) {
	case FULL:
		t0 = now_ms();
		r = cd_plan_load(path, &opts, &diags, &plan);
		t1 = now_ms();
		break;
	case NO_GIT:
		t0 = now_ms();
		r = cd_plan_load_buffer(path, text, len, &opts, &diags, &plan);
		t1 = now_ms();
		break;
	case YAML:
		arena.limit = CD_PLAN_MAX_MEMORY;
		t0 = now_ms();
		r = cd_yaml_parse(&arena, path, text, len, &diags, &root);
		t1 = now_ms();
		cd_arena_release(&arena);
		break;
	default:
		abort();
	}
	if (r < 0) {
		static int told;
		if (!told++) {
			fprintf(stderr, "bench-plan: %s does not load (%zu errors); timing the failure:\n",
				path, diags.errors);
			for (size_t i = 0; i < diags.n && i < 5; i++)
				fprintf(stderr, "  %s:%u:%u: %s\n", diags.items[i].file ? diags.items[i].file : "",
					diags.items[i].line, diags.items[i].col, diags.items[i].msg);
		}
	}
	if (plan)
		cd_plan_free(plan);
	cd_diags_release(&diags);
	cd_redact_clear();
	return t1 - t0;
}

static int cmd_time(const char *path, size_t iterations)
{
	size_t len, nlen;
	char *text = read_file(path, &len);
	char *nogit = without_git(text, len, &nlen);
	double *v = cd_xcalloc(iterations, sizeof(*v));
	static const struct { enum mode m; const char *name; } modes[] = {
		{ FULL, "full" }, { NO_GIT, "no-git" }, { YAML, "yaml" },
	};

	printf("plan %s (%zu bytes), %zu iterations after %d warm-up\n", path, len, iterations, WARMUP);
	for (size_t k = 0; k < CD_ARRAY_SIZE(modes); k++) {
		const char *t = modes[k].m == YAML ? text : nogit;
		size_t tl = modes[k].m == YAML ? len : nlen;
		for (int i = 0; i < WARMUP; i++)
			one(modes[k].m, path, t, tl);
		for (size_t i = 0; i < iterations; i++)
			v[i] = one(modes[k].m, path, t, tl);
		report(modes[k].name, v, iterations);
	}
	/* What the loaded plan itself holds: its arena (nodes, strings, decoded objects). */
	struct cd_plan_opts opts = { .flags = CD_PLAN_LOAD_OFFLINE, .getenv = no_env };
	struct cd_diags diags = CD_DIAGS_INIT;
	struct cd_plan *plan = NULL;
	if (cd_plan_load_buffer(path, nogit, nlen, &opts, &diags, &plan) == 0) {
		printf("arena    %zu KiB in use by the loaded plan (no-git)\n", plan->arena.used / 1024);
		cd_plan_free(plan);
	}
	cd_diags_release(&diags);
	cd_redact_clear();
	free(v);
	free(nogit);
	free(text);
	return 0;
}

static int cmd_rss(char **argv)
{
	pid_t pid = fork();
	if (pid < 0) {
		perror("bench-plan: fork");
		return 1;
	}
	if (pid == 0) {
		/* The command's own output is not part of the figures. */
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0) {
			dup2(devnull, STDOUT_FILENO);
			dup2(devnull, STDERR_FILENO);
			close(devnull);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	int status;
	struct rusage ru;
	if (wait4(pid, &status, 0, &ru) < 0) {
		perror("bench-plan: wait4");
		return 1;
	}
	printf("maxrss_kib %ld exit %d\n", ru.ru_maxrss,
		WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "time") == 0) {
		long n = argc >= 4 ? strtol(argv[3], NULL, 10) : 200;
		return cmd_time(argv[2], n > 0 ? (size_t)n : 200);
	}
	if (argc >= 3 && strcmp(argv[1], "rss") == 0)
		return cmd_rss(argv + 2);
	fprintf(stderr, "usage: bench-plan time PLAN [ITERATIONS]\n"
			"       bench-plan rss COMMAND [ARGS...]\n");
	return 2;
}
