/*
 * The Docker client against a real engine: images made here (a busybox
 * rootfs imported, then built on), containers on the host network or
 * published on 127.0.0.1, and two local registries (open, and htpasswd).
 * Every object carries the labels corpdeploy.test=1 and this run's id, and
 * the fixture's teardown removes them; processes started here are stopped
 * by PID.
 */
#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "corpdeploy/core.h"
#include "corpdeploy/docker.h"

#define REGISTRY_BIN "/usr/bin/docker-registry"
#define REG_USER     "cdtest"
#define REG_PASSWORD "cdtest-secret-pw"

static struct cd_docker *dk;
static char run_id[32];      /* "cdt<pid>", in every name */
static char run_label[64];   /* "corpdeploy.test.run=<run_id>" */
static char tmp[256];        /* this run's temp dir */
static char base_image[128]; /* the imported busybox rootfs */
static char web_image[128];  /* built FROM base_image */
static char *web_id;
static int web_port; /* the port baked into web_image's CMD */
static const char *labels[] = {"corpdeploy.test=1", run_label, NULL};

struct registry {
	pid_t pid;
	int port;
};
static struct registry reg_open, reg_auth;

/* ---- helpers ---- */

static char *name_of(const char *what)
{
	return cd_xasprintf("%s-%s", run_id, what);
}

static int free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static int port_answers(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
	        .sin_port = htons((uint16_t)port),
	        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;

	if (fd >= 0)
		close(fd);
	return ok;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* GET http://127.0.0.1:port/path over a plain socket; the body, malloc'd, or NULL. */
static char *http_get(int port, const char *path)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
	        .sin_port = htons((uint16_t)port),
	        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct cd_buf b = CD_BUF_INIT;
	char req[256], buf[4096], *body;
	ssize_t n;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		close(fd);
		return NULL;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		cd_buf_add(&b, buf, (size_t)n);
	close(fd);
	if (strncmp(b.buf, "HTTP/1.", 7) != 0 || strncmp(b.buf + 9, "200", 3) != 0 ||
	        !(body = strstr(b.buf, "\r\n\r\n"))) {
		cd_buf_release(&b);
		return NULL;
	}
	body = cd_xstrdup(body + 4);
	cd_buf_release(&b);
	return body;
}

/* Runs argv to its end, output to log (appended); its exit status, or -1. */
static int run(const char *const *argv, const char *log)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open(log ? log : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0600);
		int in = open("/dev/null", O_RDONLY);
		dup2(in, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Starts argv in its own session, output to log; its PID. */
static pid_t spawn(const char *const *argv, const char *log)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		int in = open("/dev/null", O_RDONLY);
		setsid();
		dup2(in, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

static void stop_pid(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (int i = 0; i < 100; i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return;
		sleep_ms(50);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char *path = cd_xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");

	ck_assert_msg(f != NULL, "cannot write %s", path);
	fputs(text, f);
	fclose(f);
	free(path);
}

static char *make_dir(const char *name)
{
	char *path = cd_xasprintf("%s/%s", tmp, name);
	ck_assert_msg(mkdir(path, 0755) == 0 || errno == EEXIST, "cannot make %s", path);
	return path;
}

/* The rootfs tarball: bin/busybox (static) and bin/sh linked to it. */
static char *make_rootfs_tar(void)
{
	char *path = cd_xasprintf("%s/rootfs.tar", tmp);
	struct archive *a = archive_write_new();
	struct archive_entry *e;
	struct stat st;
	char buf[65536];
	ssize_t n;
	int fd;

	ck_assert_int_eq(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	ck_assert_int_eq(archive_write_open_filename(a, path), ARCHIVE_OK);

	const char *dirs[] = {"bin", "tmp", "www"};
	for (size_t i = 0; i < CD_ARRAY_SIZE(dirs); i++) {
		e = archive_entry_new();
		archive_entry_set_pathname(e, dirs[i]);
		archive_entry_set_filetype(e, AE_IFDIR);
		archive_entry_set_perm(e, strcmp(dirs[i], "tmp") == 0 ? 01777 : 0755);
		ck_assert_int_eq(archive_write_header(a, e), ARCHIVE_OK);
		archive_entry_free(e);
	}

	fd = open("/bin/busybox", O_RDONLY);
	ck_assert_msg(fd >= 0, "/bin/busybox is missing (apt-get install busybox-static)");
	ck_assert_int_eq(fstat(fd, &st), 0);
	e = archive_entry_new();
	archive_entry_set_pathname(e, "bin/busybox");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0755);
	archive_entry_set_size(e, st.st_size);
	ck_assert_int_eq(archive_write_header(a, e), ARCHIVE_OK);
	archive_entry_free(e);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		ck_assert_int_eq(archive_write_data(a, buf, (size_t)n), n);
	close(fd);

	e = archive_entry_new();
	archive_entry_set_pathname(e, "bin/sh");
	archive_entry_set_filetype(e, AE_IFLNK);
	archive_entry_set_perm(e, 0777);
	archive_entry_set_symlink(e, "busybox");
	ck_assert_int_eq(archive_write_header(a, e), ARCHIVE_OK);
	archive_entry_free(e);

	ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	return path;
}

static struct cd_docker_container_spec spec_of(const char *image)
{
	struct cd_docker_container_spec s = {0};
	s.image = image;
	s.labels = labels;
	s.init = 1;
	s.stop_timeout_ms = 1000;
	return s;
}

/* Creates and starts a container that sleeps; its id. */
static char *start_sleeper(const char *name, const char *network_mode)
{
	static const char *const cmd[] = {"/bin/busybox", "sleep", "600", NULL};
	struct cd_docker_container_spec s = spec_of(base_image);
	struct cd_error err = CD_ERROR_INIT;
	char *id = NULL;

	s.cmd = cmd;
	s.network_mode = network_mode;
	ck_assert_msg(cd_docker_container_create(dk, name, &s, &id, &err) == 0, "%s", err.msg);
	ck_assert_msg(cd_docker_container_start(dk, id, &err) == 0, "%s", err.msg);
	return id;
}

static void assert_gone(const char *id_or_name)
{
	struct cd_docker_container c;
	struct cd_error err = CD_ERROR_INIT;

	ck_assert_int_eq(cd_docker_container_inspect(dk, id_or_name, &c, &err), CD_ENOTFOUND);
	cd_error_release(&err);
}

/* ---- registries ---- */

static void start_registry(struct registry *reg, const char *name, int auth)
{
	char *dir = make_dir(name);
	char *data = cd_xasprintf("%s/data", dir);
	char *htpasswd = cd_xasprintf("%s/htpasswd", dir);
	char *config = cd_xasprintf("%s/config.yml", dir);
	char *log = cd_xasprintf("%s/registry.log", dir);
	struct cd_buf yaml = CD_BUF_INIT;

	reg->port = free_port();
	mkdir(data, 0700);
	cd_buf_addf(&yaml,
	        "version: 0.1\n"
	        "log:\n  level: warn\n"
	        "storage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\n"
	        "http:\n  addr: 127.0.0.1:%d\n  secret: %s-secret\n",
	        data, reg->port, run_id);
	if (auth) {
		const char *argv[] = {
		        "/usr/bin/htpasswd", "-Bbc", htpasswd, REG_USER, REG_PASSWORD, NULL};
		ck_assert_msg(
		        run(argv, log) == 0, "htpasswd failed (apt-get install apache2-utils)");
		cd_buf_addf(&yaml, "auth:\n  htpasswd:\n    realm: corpdeploy-test\n    path: %s\n",
		        htpasswd);
	}
	write_file(dir, "config.yml", yaml.buf);
	const char *argv[] = {REGISTRY_BIN, "serve", config, NULL};
	reg->pid = spawn(argv, log);
	for (int i = 0; i < 200 && !port_answers(reg->port); i++)
		sleep_ms(50);
	ck_assert_msg(port_answers(reg->port), "the registry did not start; see %s", log);
	cd_buf_release(&yaml);
	free(dir);
	free(data);
	free(htpasswd);
	free(config);
	free(log);
}

/* ---- fixture ---- */

static void remove_quietly_image(const char *ref)
{
	cd_docker_image_remove(dk, ref, 1, NULL);
}

static char *registry_ref(const struct registry *reg)
{
	return cd_xasprintf("127.0.0.1:%d/%s/busybox:1", reg->port, run_id);
}

static void setup(void)
{
	struct cd_error err = CD_ERROR_INIT;
	struct cd_docker_build b = {0};
	char *tar, *ctx;

	snprintf(run_id, sizeof(run_id), "cdt%ld", (long)getpid());
	snprintf(run_label, sizeof(run_label), "corpdeploy.test.run=%s", run_id);
	ck_assert_msg(cd_docker_open(NULL, &dk, &err) == 0, "%s", err.msg);
	ck_assert_msg(cd_docker_ping(dk, &err) == 0, "%s", err.msg);
	snprintf(tmp, sizeof(tmp), "/tmp/corpdeploy-docker-%s-XXXXXX", run_id);
	ck_assert(mkdtemp(tmp) != NULL);

	snprintf(base_image, sizeof(base_image), "corpdeploy-test/%s-base:1", run_id);
	tar = make_rootfs_tar();
	{
		char repo[128];
		snprintf(repo, sizeof(repo), "corpdeploy-test/%s-base", run_id);
		ck_assert_msg(cd_docker_image_import(dk, tar, repo, "1", 60000, &err) == 0, "%s",
		        err.msg);
	}
	free(tar);

	/* The web image: busybox httpd serving index.html on a port of the host. */
	web_port = free_port();
	ctx = make_dir("web");
	char *dockerfile = cd_xasprintf(
	        "FROM %s\n"
	        "ARG GREETING=none\n"
	        "COPY . /ctx/\n"
	        "COPY index.html /www/index.html\n"
	        "RUN echo \"$GREETING\" > /www/greeting.txt\n"
	        "CMD [\"/bin/busybox\",\"httpd\",\"-f\",\"-p\",\"127.0.0.1:%d\",\"-h\",\"/www\"]\n",
	        base_image, web_port);
	write_file(ctx, "Dockerfile", dockerfile);
	free(dockerfile);
	write_file(ctx, "index.html", "hello from corpdeploy\n");
	write_file(ctx, "secret.txt", "must not be sent\n");
	write_file(ctx, "notes.md", "excluded by *.md\n");
	write_file(ctx, "keep.md", "brought back by !keep.md\n");
	{
		/* 3 MiB and a bit: many chunks of the streamed tar, and an odd tail. */
		char *path = cd_xasprintf("%s/data.bin", ctx);
		FILE *f = fopen(path, "w");
		uint32_t x = 2463534242u;
		ck_assert_ptr_nonnull(f);
		for (size_t i = 0; i < (3u << 20) + 12345; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			fputc((int)(x & 0xff), f);
		}
		fclose(f);
		free(path);
	}
	free(make_dir("web/cache"));
	write_file(ctx, "cache/big.bin", "excluded with its directory\n");
	write_file(ctx, ".dockerignore",
	        "# comment\n"
	        "secret.txt\n"
	        "/cache/\n"
	        "*.md\n"
	        "!keep.md\n"
	        "Dockerfile\n");
	snprintf(web_image, sizeof(web_image), "corpdeploy-test/%s-web:1", run_id);
	b.context_dir = ctx;
	b.tag = web_image;
	b.buildargs = (const char *const[]){"GREETING=hello-arg", NULL};
	b.labels = labels;
	ck_assert_msg(cd_docker_image_build(dk, &b, 120000, &web_id, &err) == 0, "%s", err.msg);
	free(ctx);

	if (access(REGISTRY_BIN, X_OK) == 0) {
		start_registry(&reg_open, "registry-open", 0);
		start_registry(&reg_auth, "registry-auth", 1);
	}
}

static void teardown(void)
{
	struct cd_docker_container *list = NULL;
	size_t n = 0;
	const char *filter[] = {run_label, NULL};
	const char *suffixes[] = {"net1", "net2", "net3"};
	const char *volumes[] = {"vol1"};
	char *ref;

	if (cd_docker_container_list(dk, filter, &list, &n, NULL) == 0) {
		for (size_t i = 0; i < n; i++)
			cd_docker_container_remove(dk, list[i].id, 1, 1, NULL);
		cd_docker_container_list_free(list, n);
	}
	for (size_t i = 0; i < CD_ARRAY_SIZE(suffixes); i++) {
		char *name = name_of(suffixes[i]);
		cd_docker_network_remove(dk, name, NULL);
		free(name);
	}
	for (size_t i = 0; i < CD_ARRAY_SIZE(volumes); i++) {
		char *name = name_of(volumes[i]);
		cd_docker_volume_remove(dk, name, 1, NULL);
		free(name);
	}
	if (reg_open.pid) {
		ref = registry_ref(&reg_open);
		remove_quietly_image(ref);
		free(ref);
	}
	if (reg_auth.pid) {
		ref = registry_ref(&reg_auth);
		remove_quietly_image(ref);
		free(ref);
	}
	{
		char extra[3][160];
		snprintf(extra[0], sizeof(extra[0]), "corpdeploy-test/%s-tagged:2", run_id);
		snprintf(extra[1], sizeof(extra[1]), "corpdeploy-test/%s-failing:1", run_id);
		snprintf(extra[2], sizeof(extra[2]), "corpdeploy-test/%s-loaded:1", run_id);
		for (size_t i = 0; i < 3; i++)
			remove_quietly_image(extra[i]);
	}
	remove_quietly_image(web_image);
	remove_quietly_image(base_image);
	free(web_id);
	web_id = NULL;
	stop_pid(reg_open.pid);
	stop_pid(reg_auth.pid);
	reg_open.pid = reg_auth.pid = 0;
	cd_docker_free(dk);
	dk = NULL;
	if (*tmp) {
		const char *argv[] = {"/bin/rm", "-rf", tmp, NULL};
		run(argv, NULL);
	}
}

/* ---- engine ---- */

START_TEST(test_docker_ping_version)
{
	struct cd_docker_version v;
	struct cd_docker_stats before, after;
	struct cd_error err = CD_ERROR_INIT;

	cd_docker_get_stats(dk, &before);
	ck_assert_msg(cd_docker_ping(dk, &err) == 0, "%s", err.msg);
	ck_assert_msg(cd_docker_version(dk, &v, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(v.api_version, "1.41");
	ck_assert_ptr_nonnull(v.version);
	ck_assert_str_eq(v.os, "linux");
	ck_assert_ptr_nonnull(v.arch);
	cd_docker_version_release(&v);
	cd_docker_get_stats(dk, &after);
	ck_assert_uint_eq(after.calls - before.calls, 2);
	ck_assert_uint_eq(after.mutating - before.mutating, 0);
}
END_TEST

START_TEST(test_docker_open_unreachable)
{
	struct cd_docker *d = NULL;
	struct cd_docker_container c;
	struct cd_error err = CD_ERROR_INIT;

	ck_assert_int_eq(cd_docker_open("unix:///nonexistent.sock", &d, &err), 0);
	ck_assert_int_eq(cd_docker_ping(d, &err), CD_EREMOTE);
	ck_assert_str_eq(err.msg, "cannot reach the Docker engine at unix:///nonexistent.sock: "
	                          "No such file or directory (is dockerd running?)");
	ck_assert_int_eq(cd_docker_container_inspect(d, "web", &c, &err), CD_EREMOTE);
	ck_assert_str_eq(err.msg, "cannot inspect container 'web': cannot reach the Docker engine "
	                          "at unix:///nonexistent.sock: No such file or directory "
	                          "(is dockerd running?)");
	cd_docker_free(d);

	ck_assert_int_eq(cd_docker_open("tcp://127.0.0.1:2375", &d, &err), CD_EUSAGE);
	ck_assert_ptr_nonnull(strstr(err.msg, "'tcp://127.0.0.1:2375'"));
	cd_error_release(&err);
}
END_TEST

/* Many threads, one client: each call has its own handle and connection. */
static void *thread_calls(void *arg)
{
	struct cd_docker_image img;
	long failures = 0;

	(void)arg;
	for (int i = 0; i < 10; i++) {
		if (cd_docker_ping(dk, NULL) < 0)
			failures++;
		if (cd_docker_image_inspect(dk, base_image, &img, NULL) < 0)
			failures++;
		else
			cd_docker_image_release(&img);
	}
	return (void *)failures;
}

START_TEST(test_docker_threads)
{
	pthread_t t[8];
	struct cd_docker_stats before, after;

	cd_docker_get_stats(dk, &before);
	for (size_t i = 0; i < CD_ARRAY_SIZE(t); i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, thread_calls, NULL), 0);
	for (size_t i = 0; i < CD_ARRAY_SIZE(t); i++) {
		void *failures;
		ck_assert_int_eq(pthread_join(t[i], &failures), 0);
		ck_assert_int_eq((long)failures, 0);
	}
	cd_docker_get_stats(dk, &after);
	ck_assert_uint_eq(after.calls - before.calls, 8 * 10 * 2);
	ck_assert_uint_eq(after.mutating - before.mutating, 0);
}
END_TEST

/* ---- images ---- */

START_TEST(test_docker_image_import_inspect)
{
	struct cd_docker_image img;
	struct cd_error err = CD_ERROR_INIT;
	char *bad;

	ck_assert_msg(cd_docker_image_inspect(dk, base_image, &img, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(strncmp(img.id, "sha256:", 7), 0);
	ck_assert_uint_eq(img.n_repo_tags, 1);
	ck_assert_str_eq(img.repo_tags[0], base_image);
	ck_assert_int_gt(img.size, 100000);
	ck_assert_ptr_nonnull(img.created);
	cd_docker_image_release(&img);

	/* Not a tar: the engine refuses it with its own words. */
	write_file(tmp, "bad.tar", "this is not a tar file\n");
	bad = cd_xasprintf("%s/bad.tar", tmp);
	ck_assert_int_lt(
	        cd_docker_image_import(dk, bad, "corpdeploy-test/bad", "1", 30000, &err), 0);
	ck_assert_msg(strstr(err.msg, "cannot import '") && strstr(err.msg, "tar"), "%s", err.msg);
	free(bad);

	ck_assert_int_eq(cd_docker_image_import(
	                         dk, "/nonexistent.tar", "corpdeploy-test/bad", "1", 30000, &err),
	        CD_EIO);
	ck_assert_ptr_nonnull(strstr(err.msg, "cannot open '/nonexistent.tar'"));
	cd_error_release(&err);
}
END_TEST

START_TEST(test_docker_image_inspect_missing)
{
	struct cd_docker_image img;
	struct cd_error err = CD_ERROR_INIT;

	ck_assert_int_eq(cd_docker_image_inspect(dk, "corpdeploy-test/missing:nope", &img, &err),
	        CD_ENOTFOUND);
	ck_assert_str_eq(err.msg, "cannot inspect image 'corpdeploy-test/missing:nope': "
	                          "no such image: corpdeploy-test/missing:nope: "
	                          "No such image: corpdeploy-test/missing:nope");
	ck_assert_int_eq(
	        cd_docker_image_remove(dk, "corpdeploy-test/missing:nope", 0, &err), CD_ENOTFOUND);
	cd_error_release(&err);
}
END_TEST

START_TEST(test_docker_image_build)
{
	struct cd_docker_image img;
	struct cd_error err = CD_ERROR_INIT;

	/* Built by the fixture; the id it returned is the tag's. */
	ck_assert_int_eq(strncmp(web_id, "sha256:", 7), 0);
	ck_assert_msg(cd_docker_image_inspect(dk, web_image, &img, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(img.id, web_id);
	cd_docker_image_release(&img);
}
END_TEST

START_TEST(test_docker_image_build_context)
{
	static const char *const cat[] = {"/bin/busybox", "cat", "/www/greeting.txt", NULL};
	static const char *const ls[] = {"/bin/busybox", "ls", "-a", "/ctx", NULL};
	struct cd_docker_exec_result x;
	struct cd_error err = CD_ERROR_INIT;
	char *name = name_of("ctx"), *id;
	static const char *const sleep[] = {"/bin/busybox", "sleep", "600", NULL};
	struct cd_docker_container_spec s = spec_of(web_image);

	s.cmd = sleep;
	ck_assert_msg(cd_docker_container_create(dk, name, &s, &id, &err) == 0, "%s", err.msg);
	ck_assert_msg(cd_docker_container_start(dk, id, &err) == 0, "%s", err.msg);
	ck_assert_msg(cd_docker_exec(dk, id, cat, NULL, 10000, 4096, &x, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(x.exit_code, 0);
	ck_assert_str_eq(x.out.buf, "hello-arg\n");
	cd_docker_exec_result_release(&x);
	/*
	 * .dockerignore: secret.txt, cache/ and *.md stay out, !keep.md goes back in. The
	 * Dockerfile is sent though excluded (the build needs it) and the engine drops it.
	 */
	ck_assert_msg(cd_docker_exec(dk, id, ls, NULL, 10000, 4096, &x, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(x.exit_code, 0);
	ck_assert_str_eq(x.out.buf, ".\n..\n.dockerignore\ndata.bin\nindex.html\nkeep.md\n");
	cd_docker_exec_result_release(&x);
	/* The big file arrived whole: the same digest inside as here. */
	{
		static const char *const sum[] = {
		        "/bin/busybox", "sha256sum", "/ctx/data.bin", NULL};
		char *local = cd_xasprintf("%s/web/data.bin", tmp),
		     *log = cd_xasprintf("%s/sum", tmp);
		const char *argv[] = {"/bin/busybox", "sha256sum", local, NULL};
		char here[65] = "";
		FILE *f;
		ck_assert_int_eq(run(argv, log), 0);
		f = fopen(log, "r");
		ck_assert_ptr_nonnull(f);
		ck_assert_int_eq(fscanf(f, "%64s", here), 1);
		fclose(f);
		ck_assert_msg(cd_docker_exec(dk, id, sum, NULL, 10000, 4096, &x, &err) == 0, "%s",
		        err.msg);
		ck_assert_int_eq(x.exit_code, 0);
		ck_assert_int_eq(strncmp(x.out.buf, here, 64), 0);
		cd_docker_exec_result_release(&x);
		free(local);
		free(log);
	}
	ck_assert_msg(cd_docker_container_remove(dk, id, 1, 1, &err) == 0, "%s", err.msg);
	free(id);
	free(name);
}
END_TEST

START_TEST(test_docker_image_build_fail)
{
	struct cd_docker_build b = {0};
	struct cd_error err = CD_ERROR_INIT;
	char *ctx = make_dir("failing"), *dockerfile, tag[160], *id = NULL;

	dockerfile = cd_xasprintf("FROM %s\nRUN corpdeploy-no-such-command --now\n", base_image);
	write_file(ctx, "Dockerfile", dockerfile);
	free(dockerfile);
	snprintf(tag, sizeof(tag), "corpdeploy-test/%s-failing:1", run_id);
	b.context_dir = ctx;
	b.tag = tag;
	b.labels = labels;
	ck_assert_int_eq(cd_docker_image_build(dk, &b, 120000, &id, &err), CD_EREMOTE);
	ck_assert_ptr_null(id);
	ck_assert_msg(
	        strstr(err.msg, "cannot build image 'corpdeploy-test/") == err.msg, "%s", err.msg);
	ck_assert_msg(strstr(err.msg, "The command '/bin/sh -c corpdeploy-no-such-command --now' "
	                              "returned a non-zero code: 127"),
	        "%s", err.msg);
	ck_assert_msg(strstr(err.msg, "corpdeploy-no-such-command: not found"), "%s", err.msg);

	/* A Dockerfile that is not there fails before the engine is asked. */
	b.dockerfile = "Nope.dockerfile";
	ck_assert_int_eq(cd_docker_image_build(dk, &b, 120000, &id, &err), CD_ENOTFOUND);
	ck_assert_msg(
	        strstr(err.msg, "no Dockerfile 'Nope.dockerfile' in the context"), "%s", err.msg);

	/* A Dockerfile the engine cannot parse: refused before the build streams. */
	write_file(ctx, "Dockerfile", "FROM scratch\nNOSUCHINSTRUCTION x\n");
	b.dockerfile = NULL;
	ck_assert_int_lt(cd_docker_image_build(dk, &b, 120000, &id, &err), 0);
	ck_assert_msg(strstr(err.msg, "cannot build image 'corpdeploy-test/") == err.msg &&
	                      strstr(err.msg, "unknown instruction: NOSUCHINSTRUCTION"),
	        "%s", err.msg);
	cd_error_release(&err);
	free(ctx);
}
END_TEST

START_TEST(test_docker_image_tag_remove)
{
	static const char *const cmd[] = {"/bin/busybox", "true", NULL};
	struct cd_docker_image img;
	struct cd_error err = CD_ERROR_INIT;
	struct cd_docker_container_spec s;
	char repo[128], ref[160];
	char *name = name_of("user"), *id;

	snprintf(repo, sizeof(repo), "corpdeploy-test/%s-tagged", run_id);
	snprintf(ref, sizeof(ref), "%s:2", repo);
	ck_assert_msg(cd_docker_image_tag(dk, base_image, repo, "2", &err) == 0, "%s", err.msg);
	ck_assert_msg(cd_docker_image_inspect(dk, ref, &img, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(img.n_repo_tags, 2);
	cd_docker_image_release(&img);

	/* With a container on it, a tag can go while another remains, the last cannot. */
	s = spec_of(ref);
	s.cmd = cmd;
	ck_assert_msg(cd_docker_container_create(dk, name, &s, &id, &err) == 0, "%s", err.msg);
	ck_assert_msg(cd_docker_image_remove(dk, ref, 0, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(cd_docker_image_remove(dk, base_image, 0, &err), CD_EFAIL);
	ck_assert_msg(strstr(err.msg, "cannot remove image '") == err.msg &&
	                      strstr(err.msg, "conflict: unable to remove repository reference"),
	        "%s", err.msg);
	ck_assert_msg(cd_docker_image_inspect(dk, base_image, &img, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(img.n_repo_tags, 1);
	cd_docker_image_release(&img);

	ck_assert_msg(cd_docker_container_remove(dk, id, 1, 1, &err) == 0, "%s", err.msg);
	ck_assert_msg(cd_docker_image_tag(dk, base_image, repo, "2", &err) == 0, "%s", err.msg);
	ck_assert_msg(cd_docker_image_remove(dk, ref, 0, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(cd_docker_image_remove(dk, ref, 0, &err), CD_ENOTFOUND);
	ck_assert_msg(strstr(err.msg, "No such image"), "%s", err.msg);
	cd_error_release(&err);
	free(id);
	free(name);
}
END_TEST

START_TEST(test_docker_image_load)
{
	struct cd_docker_image img;
	struct cd_error err = CD_ERROR_INIT;
	char loaded[160], *path = cd_xasprintf("%s/saved.tar", tmp), *log;
	char repo[128];

	snprintf(repo, sizeof(repo), "corpdeploy-test/%s-loaded", run_id);
	snprintf(loaded, sizeof(loaded), "%s:1", repo);
	ck_assert_msg(cd_docker_image_tag(dk, base_image, repo, "1", &err) == 0, "%s", err.msg);
	log = cd_xasprintf("%s/docker-save.log", tmp);
	{
		const char *argv[] = {"/usr/bin/docker", "save", "-o", path, loaded, NULL};
		ck_assert_msg(run(argv, log) == 0, "docker save failed; see %s", log);
	}
	ck_assert_msg(cd_docker_image_remove(dk, loaded, 0, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(cd_docker_image_inspect(dk, loaded, &img, &err), CD_ENOTFOUND);
	ck_assert_msg(cd_docker_image_load(dk, path, 60000, &err) == 0, "%s", err.msg);
	ck_assert_msg(cd_docker_image_inspect(dk, loaded, &img, &err) == 0, "%s", err.msg);
	cd_docker_image_release(&img);

	/* A bad tar is refused inside an HTTP 200 reply. */
	free(path);
	path = cd_xasprintf("%s/bad-save.tar", tmp);
	write_file(tmp, "bad-save.tar", "not a tar at all\n");
	ck_assert_int_eq(cd_docker_image_load(dk, path, 60000, &err), CD_EREMOTE);
	ck_assert_msg(strstr(err.msg, "cannot load images from '") == err.msg, "%s", err.msg);
	cd_error_release(&err);
	free(path);
	free(log);
}
END_TEST

/* ---- containers ---- */

START_TEST(test_docker_container_lifecycle)
{
	static const char *const check[] = {
	        "CMD", "/bin/busybox", "wget", "-q", "-O", "/dev/null", NULL, NULL};
	const char *test[CD_ARRAY_SIZE(check)];
	struct cd_docker_health health = {0};
	struct cd_docker_container c;
	struct cd_error err = CD_ERROR_INIT;
	struct cd_docker_container_spec s = spec_of(web_image);
	char *name = name_of("web"), *name2 = name_of("web-renamed"), *id = NULL, *url, *body;
	int64_t t0 = cd_time_mono_ms(), t_started, t_healthy = 0;

	url = cd_xasprintf("http://127.0.0.1:%d/index.html", web_port);
	memcpy(test, check, sizeof(check));
	test[6] = url;
	health.test = test;
	health.interval_ms = 200;
	health.timeout_ms = 2000;
	health.retries = 3;
	s.health = &health;
	s.network_mode = "host";
	s.restart = "unless-stopped";
	s.env = (const char *const[]){"CD_TEST=1", NULL};

	ck_assert_msg(cd_docker_container_create(dk, name, &s, &id, &err) == 0, "%s", err.msg);
	ck_assert_msg(cd_docker_container_inspect(dk, name, &c, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(c.id, id);
	ck_assert_str_eq(c.name, name);
	ck_assert_str_eq(c.status, "created");
	ck_assert_int_eq(c.running, 0);
	ck_assert_str_eq(c.image, web_image);
	ck_assert_str_eq(c.image_id, web_id);
	ck_assert_str_eq(cd_docker_container_label(&c, "corpdeploy.test"), "1");
	ck_assert_str_eq(cd_docker_container_label(&c, "corpdeploy.test.run"), run_id);
	ck_assert_ptr_null(cd_docker_container_label(&c, "nope"));
	cd_docker_container_release(&c);

	ck_assert_msg(cd_docker_container_start(dk, id, &err) == 0, "%s", err.msg);
	t_started = cd_time_mono_ms();
	/* Already running: still success. */
	ck_assert_msg(cd_docker_container_start(dk, id, &err) == 0, "%s", err.msg);
	for (int i = 0; i < 300; i++) {
		ck_assert_msg(cd_docker_container_inspect(dk, id, &c, &err) == 0, "%s", err.msg);
		if (c.health && strcmp(c.health, "healthy") == 0) {
			t_healthy = cd_time_mono_ms();
			cd_docker_container_release(&c);
			break;
		}
		ck_assert_msg(!c.health || strcmp(c.health, "unhealthy") != 0, "unhealthy");
		cd_docker_container_release(&c);
		sleep_ms(100);
	}
	ck_assert_msg(t_healthy, "not healthy within 30s");
	fprintf(stderr, "figure: create+start %lldms, start->healthy %lldms\n",
	        (long long)(t_started - t0), (long long)(t_healthy - t_started));
	body = http_get(web_port, "/index.html");
	ck_assert_ptr_nonnull(body);
	ck_assert_str_eq(body, "hello from corpdeploy\n");
	free(body);

	ck_assert_msg(cd_docker_container_inspect(dk, id, &c, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(c.status, "running");
	ck_assert_int_eq(c.running, 1);
	ck_assert_str_eq(c.health, "healthy");
	ck_assert_str_ne(c.started_at, "0001-01-01T00:00:00Z");
	cd_docker_container_release(&c);

	ck_assert_msg(cd_docker_container_rename(dk, id, name2, &err) == 0, "%s", err.msg);
	assert_gone(name);
	ck_assert_msg(cd_docker_container_inspect(dk, name2, &c, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(c.name, name2);
	cd_docker_container_release(&c);

	/* Init (tini) passes SIGTERM to httpd: the stop is quick and the exit 143. */
	{
		int64_t t = cd_time_mono_ms();
		ck_assert_msg(cd_docker_container_stop(dk, id, 10000, &err) == 0, "%s", err.msg);
		ck_assert_int_lt(cd_time_mono_ms() - t, 5000);
	}
	ck_assert_msg(cd_docker_container_stop(dk, id, 10000, &err) == 0, "%s", err.msg);
	ck_assert_msg(cd_docker_container_inspect(dk, id, &c, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(c.status, "exited");
	ck_assert_int_eq(c.running, 0);
	ck_assert_int_eq(c.exit_code, 143);
	cd_docker_container_release(&c);
	ck_assert_int_eq(cd_docker_container_kill(dk, id, "SIGTERM", &err), CD_EFAIL);
	ck_assert_msg(strstr(err.msg, "is not running"), "%s", err.msg);

	ck_assert_msg(cd_docker_container_remove(dk, id, 0, 1, &err) == 0, "%s", err.msg);
	assert_gone(id);
	ck_assert_int_eq(cd_docker_container_remove(dk, id, 0, 1, &err), CD_ENOTFOUND);
	ck_assert_msg(strstr(err.msg, "No such container"), "%s", err.msg);
	cd_error_release(&err);
	free(url);
	free(id);
	free(name);
	free(name2);
}
END_TEST

START_TEST(test_docker_container_published_port)
{
	static const char *const cmd[] = {
	        "/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www", NULL};
	struct cd_docker_port port = {NULL, 0, 8080, NULL};
	struct cd_docker_container_spec s = spec_of(web_image);
	struct cd_docker_container c;
	struct cd_error err = CD_ERROR_INIT;
	char *name = name_of("published"), *id, *body = NULL;
	int host_port;

	s.cmd = cmd;
	s.network_mode = "bridge";
	s.ports = &port;
	s.n_ports = 1;
	ck_assert_msg(cd_docker_container_create(dk, name, &s, &id, &err) == 0, "%s", err.msg);
	ck_assert_msg(cd_docker_container_start(dk, id, &err) == 0, "%s", err.msg);
	ck_assert_msg(cd_docker_container_inspect(dk, id, &c, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(c.n_host_ports, 1);
	host_port = c.host_ports[0];
	ck_assert_int_gt(host_port, 0);
	cd_docker_container_release(&c);
	for (int i = 0; i < 100 && !body; i++) {
		body = http_get(host_port, "/index.html");
		if (!body)
			sleep_ms(100);
	}
	ck_assert_ptr_nonnull(body);
	ck_assert_str_eq(body, "hello from corpdeploy\n");
	free(body);

	/* The list sees the published port too. */
	{
		struct cd_docker_container *list;
		size_t n;
		const char *filter[] = {run_label, NULL};
		int seen = 0;
		ck_assert_msg(
		        cd_docker_container_list(dk, filter, &list, &n, &err) == 0, "%s", err.msg);
		for (size_t i = 0; i < n; i++)
			if (strcmp(list[i].id, id) == 0)
				seen = list[i].n_host_ports == 1 &&
				       list[i].host_ports[0] == host_port;
		ck_assert(seen);
		cd_docker_container_list_free(list, n);
	}
	ck_assert_msg(cd_docker_container_remove(dk, id, 1, 1, &err) == 0, "%s", err.msg);
	free(id);
	free(name);
}
END_TEST

START_TEST(test_docker_container_conflict)
{
	static const char *const cmd[] = {"/bin/busybox", "true", NULL};
	struct cd_docker_container_spec s = spec_of(base_image);
	struct cd_error err = CD_ERROR_INIT;
	char *name = name_of("dup"), *id, *id2 = NULL, *expect;

	s.cmd = cmd;
	ck_assert_msg(cd_docker_container_create(dk, name, &s, &id, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(cd_docker_container_create(dk, name, &s, &id2, &err), CD_EFAIL);
	ck_assert_ptr_null(id2);
	expect = cd_xasprintf("cannot create container '%s': Conflict. The container name \"/%s\" "
	                      "is already in use by container \"%s\".",
	        name, name, id);
	ck_assert_msg(strncmp(err.msg, expect, strlen(expect)) == 0, "%s", err.msg);
	free(expect);

	/* A missing image: create does not pull. */
	s.image = "corpdeploy-test/missing:nope";
	ck_assert_int_eq(cd_docker_container_create(dk, NULL, &s, &id2, &err), CD_ENOTFOUND);
	ck_assert_str_eq(err.msg, "cannot create a container of image "
	                          "'corpdeploy-test/missing:nope': No such image: "
	                          "corpdeploy-test/missing:nope");
	/* A bad restart policy never reaches the engine. */
	s.image = base_image;
	s.restart = "sometimes";
	ck_assert_int_eq(cd_docker_container_create(dk, NULL, &s, &id2, &err), CD_EUSAGE);
	ck_assert_msg(strstr(err.msg, "unknown restart policy 'sometimes'"), "%s", err.msg);
	ck_assert_msg(cd_docker_container_remove(dk, id, 1, 1, &err) == 0, "%s", err.msg);
	cd_error_release(&err);
	free(id);
	free(name);
}
END_TEST

START_TEST(test_docker_exec)
{
	static const char *const fail[] = {
	        "/bin/busybox", "sh", "-c", "echo out; echo err >&2; echo \"$CD_X\"; exit 3", NULL};
	static const char *const ok[] = {"/bin/busybox", "true", NULL};
	static const char *const slow[] = {"/bin/busybox", "sleep", "5", NULL};
	static const char *const missing[] = {"/nope", NULL};
	static const char *const big[] = {"/bin/busybox", "sh", "-c",
	        "i=0; while [ $i -lt 2000 ]; do echo 0123456789; i=$((i+1)); done", NULL};
	struct cd_docker_exec_result x;
	struct cd_error err = CD_ERROR_INIT;
	char *name = name_of("exec"), *id = start_sleeper(name, "none");
	int64_t t;

	ck_assert_msg(cd_docker_exec(dk, id, fail, (const char *const[]){"CD_X=from-env", NULL},
	                      10000, 4096, &x, &err) == 0,
	        "%s", err.msg);
	ck_assert_int_eq(x.exit_code, 3);
	ck_assert_str_eq(x.out.buf, "out\nfrom-env\n");
	ck_assert_str_eq(x.err.buf, "err\n");
	cd_docker_exec_result_release(&x);

	ck_assert_msg(cd_docker_exec(dk, id, ok, NULL, 10000, 4096, &x, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(x.exit_code, 0);
	ck_assert_str_eq(x.out.buf, "");
	ck_assert_str_eq(x.err.buf, "");
	cd_docker_exec_result_release(&x);

	/* Output past max is dropped, the head kept. */
	ck_assert_msg(cd_docker_exec(dk, id, big, NULL, 10000, 25, &x, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(x.exit_code, 0);
	ck_assert_str_eq(x.out.buf, "0123456789\n0123456789\n012");
	cd_docker_exec_result_release(&x);

	/* A missing binary: HTTP 200, the words in the stream, exit 126 or 127. */
	ck_assert_msg(
	        cd_docker_exec(dk, id, missing, NULL, 10000, 4096, &x, &err) == 0, "%s", err.msg);
	ck_assert_msg(x.exit_code == 126 || x.exit_code == 127, "%d", x.exit_code);
	ck_assert_msg(strstr(x.out.buf, "/nope") || strstr(x.err.buf, "/nope"), "%s|%s", x.out.buf,
	        x.err.buf);
	cd_docker_exec_result_release(&x);

	t = cd_time_mono_ms();
	ck_assert_int_eq(cd_docker_exec(dk, id, slow, NULL, 500, 4096, &x, &err), CD_EREMOTE);
	ck_assert_int_lt(cd_time_mono_ms() - t, 3000);
	ck_assert_msg(strstr(err.msg, "did not finish within 500ms"), "%s", err.msg);

	ck_assert_msg(cd_docker_container_remove(dk, id, 1, 1, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(cd_docker_exec(dk, id, ok, NULL, 10000, 4096, &x, &err), CD_ENOTFOUND);
	cd_error_release(&err);
	free(id);
	free(name);
}
END_TEST

/* What the streamed exec's sink saw: bytes, their hash, the largest piece, and when to fail. */
struct stream_seen {
	struct cd_sha256 sha;
	uint64_t bytes;
	size_t largest;
	uint64_t fail_after; /* 0: never */
};

static int stream_sink(void *opaque, const void *data, size_t len, struct cd_error *err)
{
	struct stream_seen *s = opaque;
	if (s->fail_after && s->bytes + len > s->fail_after)
		return cd_error_set(err, CD_EIO, "the test's sink is full");
	cd_sha256_update(&s->sha, data, len);
	s->bytes += len;
	if (len > s->largest)
		s->largest = len;
	return 0;
}

#define STREAM_MIB 64
/* The container's loop: one MiB of numbered rows, then a line on stderr, STREAM_MIB times. */
#define STREAM_ROW "row %d of the dump, text to fill it out\n"

/* The same bytes as the container writes, hashed here. */
static void stream_expected(char hex[65])
{
	struct cd_sha256 sha;
	char *mib = cd_xmalloc(1u << 20);
	cd_sha256_init(&sha);
	for (int i = 0; i < STREAM_MIB; i++) {
		char row[64];
		size_t rl = (size_t)snprintf(row, sizeof(row), STREAM_ROW, i);
		for (size_t off = 0; off < (1u << 20); off += rl)
			memcpy(mib + off, row, off + rl <= (1u << 20) ? rl : (1u << 20) - off);
		cd_sha256_update(&sha, mib, 1u << 20);
	}
	cd_sha256_final_hex(&sha, hex);
	free(mib);
}

START_TEST(test_docker_exec_stream)
{
	char script[512], want[65], got[65];
	snprintf(script, sizeof(script),
	        "i=0; while [ $i -lt %d ]; do "
	        "/bin/busybox yes \"row $i of the dump, text to fill it out\" | "
	        "/bin/busybox head -c 1048576; echo \"dumped $i MiB\" >&2; i=$((i+1)); done; "
	        "exit ${CD_EXIT:-0}",
	        STREAM_MIB);
	const char *const cmd[] = {"/bin/busybox", "sh", "-c", script, NULL};
	struct cd_error err = CD_ERROR_INIT;
	struct cd_buf etail;
	struct stream_seen seen = {0};
	char *name = name_of("exec-stream"), *id = start_sleeper(name, "none");
	int code = -1;

	stream_expected(want);
	cd_sha256_init(&seen.sha);
	ck_assert_msg(cd_docker_exec_stream(dk, id, cmd, (const char *const[]){"CD_EXIT=5", NULL},
	                      120000, stream_sink, &seen, 100, &etail, &code, &err) == 0,
	        "%s", err.msg);
	cd_sha256_final_hex(&seen.sha, got);
	ck_assert_int_eq(code, 5);
	ck_assert_uint_eq(seen.bytes, (uint64_t)STREAM_MIB << 20);
	ck_assert_str_eq(got, want);
	/* stderr: its last 100 bytes, ending with the last line; none of it in stdout. */
	ck_assert_uint_le(etail.len, 100);
	ck_assert_msg(etail.len >= 14 && strcmp(etail.buf + etail.len - 14, "dumped 63 MiB\n") == 0,
	        "%s", etail.buf);
	cd_buf_release(&etail);
	{
		struct rusage ru;
		getrusage(RUSAGE_SELF, &ru);
		printf("exec stream: %d MiB through, pieces up to %zu bytes, peak RSS of this test "
		       "%ld MiB\n",
		        STREAM_MIB, seen.largest, ru.ru_maxrss / 1024);
	}

	/* A sink that fails stops the call with its own error. */
	memset(&seen, 0, sizeof(seen));
	seen.fail_after = 3u << 20;
	cd_sha256_init(&seen.sha);
	ck_assert_int_eq(cd_docker_exec_stream(dk, id, cmd, NULL, 120000, stream_sink, &seen, 0,
	                         &etail, &code, &err),
	        CD_EIO);
	ck_assert_msg(strstr(err.msg, "the test's sink is full"), "%s", err.msg);
	ck_assert_uint_le(seen.bytes, 3u << 20);
	cd_sha256_release(&seen.sha);
	cd_buf_release(&etail);

	ck_assert_msg(cd_docker_container_remove(dk, id, 1, 1, &err) == 0, "%s", err.msg);
	cd_error_release(&err);
	free(id);
	free(name);
}
END_TEST

/* A command's stdin: n bytes of a xorshift sequence, hashed as they are given; fails at fail_at. */
struct stdin_feed {
	uint32_t x;
	uint64_t left, given, fail_at; /* fail_at 0: never */
	struct cd_sha256 sha;
};

static void feed_init(struct stdin_feed *f, uint64_t n)
{
	memset(f, 0, sizeof(*f));
	f->x = 2463534242u;
	f->left = n;
	cd_sha256_init(&f->sha);
}

static long feed_source(void *opaque, void *buf, size_t len, struct cd_error *err)
{
	struct stdin_feed *f = opaque;
	unsigned char *p = buf;

	if (f->fail_at && f->given >= f->fail_at)
		return cd_error_set(err, CD_EIO, "the test's dump cannot be read");
	if (len > f->left)
		len = (size_t)f->left;
	/* Odd sizes, so that pieces and frames never line up. */
	if (len > 40000)
		len = 40000 - (size_t)(f->given % 7);
	for (size_t i = 0; i < len; i++) {
		f->x ^= f->x << 13;
		f->x ^= f->x >> 17;
		f->x ^= f->x << 5;
		p[i] = (unsigned char)(f->x >> 7);
	}
	cd_sha256_update(&f->sha, buf, len);
	f->left -= len;
	f->given += len;
	return (long)len;
}

static int collect_sink(void *opaque, const void *data, size_t len, struct cd_error *err)
{
	(void)err;
	cd_buf_add(opaque, data, len);
	return 0;
}

#define STDIN_MIB 20

START_TEST(test_docker_exec_stdin)
{
	static const char *const store[] = {"/bin/busybox", "sh", "-c",
	        "/bin/busybox cat > /tmp/x && echo \"stored $(/bin/busybox wc -c < /tmp/x) "
	        "bytes\" >&2 && /bin/busybox sha256sum /tmp/x",
	        NULL};
	static const char *const fail[] = {"/bin/busybox", "sh", "-c",
	        "/bin/busybox cat > /dev/null; echo \"the restore went wrong: $CD_WHY\" >&2; exit "
	        "4",
	        NULL};
	static const char *const early[] = {
	        "/bin/busybox", "sh", "-c", "/bin/busybox head -c 10 > /dev/null", NULL};
	static const char *const none[] = {
	        "/bin/busybox", "sh", "-c", "/bin/busybox wc -c; echo no more >&2", NULL};
	struct cd_error err = CD_ERROR_INIT;
	struct cd_docker_stats before, after;
	struct cd_buf out = CD_BUF_INIT, etail;
	struct stdin_feed f;
	char *name = name_of("exec-stdin"), *id = start_sleeper(name, "none"), want[65];
	int code = -1;

	/* 20 MiB in, stored whole: the container's sha256 is ours. */
	feed_init(&f, (uint64_t)STDIN_MIB << 20);
	cd_docker_get_stats(dk, &before);
	ck_assert_msg(cd_docker_exec_stdin(dk, id, store, NULL, 120000, feed_source, &f,
	                      collect_sink, &out, 0, &etail, &code, &err) == 0,
	        "%s", err.msg);
	cd_docker_get_stats(dk, &after);
	cd_sha256_final_hex(&f.sha, want);
	ck_assert_int_eq(code, 0);
	ck_assert_uint_eq(f.left, 0);
	ck_assert_msg(strncmp(out.buf, want, 64) == 0 && strcmp(out.buf + 64, "  /tmp/x\n") == 0,
	        "container: %s, here: %s", out.buf, want);
	ck_assert_str_eq(etail.buf, "stored 20971520 bytes\n");
	/* Create, the upgraded start and at least one inspect; two of them change something. */
	ck_assert_uint_ge(after.calls - before.calls, 3);
	ck_assert_uint_eq(after.mutating - before.mutating, 2);
	cd_buf_release(&etail);
	cd_buf_reset(&out);

	/* A failing command: its exit code, and the tail of its stderr (max bytes of it). */
	feed_init(&f, 3u << 20);
	ck_assert_msg(
	        cd_docker_exec_stdin(dk, id, fail, (const char *const[]){"CD_WHY=from-env", NULL},
	                120000, feed_source, &f, NULL, NULL, 25, &etail, &code, &err) == 0,
	        "%s", err.msg);
	ck_assert_int_eq(code, 4);
	ck_assert_str_eq(etail.buf, "ore went wrong: from-env\n");
	cd_sha256_release(&f.sha);
	cd_buf_release(&etail);

	/* A command that reads 10 bytes of 20 MiB and exits: no hang, its exit code. */
	feed_init(&f, (uint64_t)STDIN_MIB << 20);
	ck_assert_msg(cd_docker_exec_stdin(dk, id, early, NULL, 120000, feed_source, &f,
	                      collect_sink, &out, 0, &etail, &code, &err) == 0,
	        "%s", err.msg);
	ck_assert_int_eq(code, 0);
	ck_assert_uint_gt(f.left, 0);
	ck_assert_str_eq(out.buf, "");
	cd_sha256_release(&f.sha);
	cd_buf_release(&etail);

	/* Empty stdin: EOF at once. */
	feed_init(&f, 0);
	ck_assert_msg(cd_docker_exec_stdin(dk, id, none, NULL, 60000, feed_source, &f, collect_sink,
	                      &out, 0, &etail, &code, &err) == 0,
	        "%s", err.msg);
	ck_assert_int_eq(code, 0);
	ck_assert_str_eq(out.buf, "0\n");
	ck_assert_str_eq(etail.buf, "no more\n");
	cd_sha256_release(&f.sha);
	cd_buf_release(&etail);
	cd_buf_reset(&out);

	/* A source that fails stops the call with its own error. */
	feed_init(&f, (uint64_t)STDIN_MIB << 20);
	f.fail_at = 1u << 20;
	ck_assert_int_eq(cd_docker_exec_stdin(dk, id, store, NULL, 120000, feed_source, &f,
	                         collect_sink, &out, 0, &etail, &code, &err),
	        CD_EIO);
	ck_assert_msg(strstr(err.msg, "cannot run '/bin/busybox' in container '") == err.msg &&
	                      strstr(err.msg, "': the test's dump cannot be read"),
	        "%s", err.msg);
	cd_sha256_release(&f.sha);
	cd_buf_release(&etail);

	/* A command that outlives the deadline: the call ends, saying so. */
	{
		static const char *const slow[] = {"/bin/busybox", "sleep", "30", NULL};
		feed_init(&f, 1u << 20);
		ck_assert_int_eq(cd_docker_exec_stdin(dk, id, slow, NULL, 1000, feed_source, &f,
		                         collect_sink, &out, 0, &etail, &code, &err),
		        CD_EREMOTE);
		ck_assert_msg(
		        strstr(err.msg, "'/bin/busybox' in container '") == err.msg &&
		                strstr(err.msg,
		                        "' did not finish within 1s (it may still run there)"),
		        "%s", err.msg);
		cd_sha256_release(&f.sha);
		cd_buf_release(&etail);
	}

	/* A container that is gone: the engine's 404 before anything is sent. */
	ck_assert_msg(cd_docker_container_remove(dk, id, 1, 1, &err) == 0, "%s", err.msg);
	feed_init(&f, 10);
	ck_assert_int_eq(cd_docker_exec_stdin(dk, id, store, NULL, 60000, feed_source, &f,
	                         collect_sink, &out, 0, &etail, &code, &err),
	        CD_ENOTFOUND);
	ck_assert_uint_eq(f.given, 0);
	cd_sha256_release(&f.sha);
	cd_buf_release(&etail);
	cd_buf_release(&out);
	cd_error_release(&err);
	free(id);
	free(name);
}
END_TEST

START_TEST(test_docker_logs_wait)
{
	static const char *const cmd[] = {"/bin/busybox", "sh", "-c",
	        "echo one; echo two >&2; sleep 0.2; echo three; exit 7", NULL};
	struct cd_docker_container_spec s = spec_of(base_image);
	struct cd_buf out = CD_BUF_INIT, errout = CD_BUF_INIT;
	struct cd_error err = CD_ERROR_INIT;
	char *name = name_of("logs"), *id;
	int code = -1;

	s.cmd = cmd;
	s.network_mode = "none";
	ck_assert_msg(cd_docker_container_create(dk, name, &s, &id, &err) == 0, "%s", err.msg);
	ck_assert_msg(cd_docker_container_start(dk, id, &err) == 0, "%s", err.msg);
	ck_assert_msg(cd_docker_container_wait(dk, id, 30000, &code, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(code, 7);

	ck_assert_msg(cd_docker_container_logs(dk, id, 100, 4096, &out, &errout, &err) == 0, "%s",
	        err.msg);
	ck_assert_str_eq(out.buf, "one\nthree\n");
	ck_assert_str_eq(errout.buf, "two\n");
	cd_buf_reset(&out);
	cd_buf_reset(&errout);
	/* tail counts lines of both streams; max keeps the last bytes. */
	ck_assert_msg(
	        cd_docker_container_logs(dk, id, 1, 4096, &out, &errout, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(out.buf, "three\n");
	ck_assert_str_eq(errout.buf, "");
	cd_buf_reset(&out);
	ck_assert_msg(
	        cd_docker_container_logs(dk, id, -1, 4, &out, NULL, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(out.buf, "ree\n");
	cd_buf_release(&out);
	cd_buf_release(&errout);
	ck_assert_msg(cd_docker_container_remove(dk, id, 0, 1, &err) == 0, "%s", err.msg);
	free(id);

	/* A wait that outlives its deadline fails with the deadline in the message. */
	id = start_sleeper(name, "none");
	ck_assert_int_eq(cd_docker_container_wait(dk, id, 300, &code, &err), CD_EREMOTE);
	ck_assert_msg(strstr(err.msg, "within 300ms"), "%s", err.msg);
	/* Without init, sh as PID 1 would ignore SIGTERM; with it the stop is quick. */
	ck_assert_msg(cd_docker_container_kill(dk, id, "SIGKILL", &err) == 0, "%s", err.msg);
	ck_assert_msg(cd_docker_container_wait(dk, id, 30000, &code, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(code, 137);
	ck_assert_msg(cd_docker_container_remove(dk, id, 0, 1, &err) == 0, "%s", err.msg);
	cd_error_release(&err);
	free(id);
	free(name);
}
END_TEST

START_TEST(test_docker_container_list)
{
	static const char *const cmd[] = {"/bin/busybox", "true", NULL};
	char role_a[80], role_b[80];
	const char *labels_a[] = {"corpdeploy.test=1", run_label, role_a, NULL};
	const char *labels_b[] = {"corpdeploy.test=1", run_label, role_b, NULL};
	const char *filter_a[] = {run_label, role_a, NULL};
	const char *filter_run[] = {run_label, "corpdeploy.test", NULL};
	const char *filter_none[] = {run_label, "corpdeploy.role=nobody", NULL};
	struct cd_docker_container_spec s = spec_of(base_image);
	struct cd_docker_container *list;
	struct cd_error err = CD_ERROR_INIT;
	char *na = name_of("list-a"), *nb = name_of("list-b"), *ia, *ib;
	size_t n, mine = 0;

	snprintf(role_a, sizeof(role_a), "corpdeploy.role=a-%s", run_id);
	snprintf(role_b, sizeof(role_b), "corpdeploy.role=b-%s", run_id);
	s.cmd = cmd;
	s.labels = labels_a;
	ck_assert_msg(cd_docker_container_create(dk, na, &s, &ia, &err) == 0, "%s", err.msg);
	s.labels = labels_b;
	ck_assert_msg(cd_docker_container_create(dk, nb, &s, &ib, &err) == 0, "%s", err.msg);

	ck_assert_msg(cd_docker_container_list(dk, filter_a, &list, &n, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(list[0].id, ia);
	ck_assert_str_eq(list[0].name, na);
	ck_assert_str_eq(list[0].status, "created");
	ck_assert_str_eq(list[0].image, base_image);
	ck_assert_str_eq(cd_docker_container_label(&list[0], "corpdeploy.role"), role_a + 16);
	cd_docker_container_list_free(list, n);

	ck_assert_msg(
	        cd_docker_container_list(dk, filter_run, &list, &n, &err) == 0, "%s", err.msg);
	for (size_t i = 0; i < n; i++)
		mine += strcmp(list[i].id, ia) == 0 || strcmp(list[i].id, ib) == 0;
	ck_assert_uint_eq(mine, 2);
	cd_docker_container_list_free(list, n);

	ck_assert_msg(
	        cd_docker_container_list(dk, filter_none, &list, &n, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(n, 0);
	cd_docker_container_list_free(list, n);

	ck_assert_msg(cd_docker_container_remove(dk, ia, 1, 1, &err) == 0, "%s", err.msg);
	ck_assert_msg(cd_docker_container_remove(dk, ib, 1, 1, &err) == 0, "%s", err.msg);
	free(ia);
	free(ib);
	free(na);
	free(nb);
}
END_TEST

/* ---- networks and volumes ---- */

START_TEST(test_docker_network)
{
	static const char *const httpd[] = {
	        "/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www", NULL};
	static const char *const sleep[] = {"/bin/busybox", "sleep", "600", NULL};
	struct cd_docker_stats before, after;
	struct cd_docker_exec_result x;
	struct cd_error err = CD_ERROR_INIT;
	struct cd_docker_container_spec s = spec_of(web_image);
	char *net1 = name_of("net1"), *net2 = name_of("net2"), *web = name_of("net-web"),
	     *client = name_of("net-client"), *web_id2, *client_id, *alias = name_of("alias"),
	     *alias2 = name_of("alias2");

	ck_assert_msg(cd_docker_network_ensure(dk, net1, labels, &err) == 0, "%s", err.msg);
	cd_docker_get_stats(dk, &before);
	ck_assert_msg(cd_docker_network_ensure(dk, net1, labels, &err) == 0, "%s", err.msg);
	cd_docker_get_stats(dk, &after);
	ck_assert_uint_eq(after.mutating - before.mutating, 0);
	ck_assert_msg(cd_docker_network_ensure(dk, net2, labels, &err) == 0, "%s", err.msg);

	/* The web container: on net1 with an alias there, and connected to net2 after create. */
	s.cmd = httpd;
	s.network_mode = net1;
	s.networks = (const char *const[]){net1, net2, NULL};
	s.aliases = (const char *const[]){alias, NULL};
	ck_assert_msg(cd_docker_container_create(dk, web, &s, &web_id2, &err) == 0, "%s", err.msg);
	ck_assert_msg(cd_docker_container_start(dk, web_id2, &err) == 0, "%s", err.msg);

	/* The client reaches it by alias on net2, where only the connect put it. */
	s = spec_of(base_image);
	s.cmd = sleep;
	s.network_mode = net2;
	ck_assert_msg(
	        cd_docker_container_create(dk, client, &s, &client_id, &err) == 0, "%s", err.msg);
	ck_assert_msg(cd_docker_container_start(dk, client_id, &err) == 0, "%s", err.msg);
	{
		/*
		 * Static glibc cannot resolve names without its NSS libraries, which the
		 * image lacks: busybox nslookup asks the engine's DNS itself.
		 */
		const char *lookup[] = {"/bin/busybox", "nslookup", alias, NULL};
		char ip[64] = "", *url;
		int ok = 0;
		for (int i = 0; i < 50 && !*ip; i++) {
			ck_assert_msg(cd_docker_exec(dk, client_id, lookup, NULL, 10000, 4096, &x,
			                      &err) == 0,
			        "%s", err.msg);
			for (char *line = strstr(x.out.buf, "Address:"); line;
			        line = strstr(line + 1, "Address:")) {
				char addr[64];
				if (sscanf(line, "Address: %63s", addr) == 1 &&
				        !strchr(addr, '#') && !strstr(addr, ":53") &&
				        strchr(addr, '.'))
					snprintf(ip, sizeof(ip), "%s", addr);
			}
			cd_docker_exec_result_release(&x);
			if (!*ip)
				sleep_ms(100);
		}
		ck_assert_msg(*ip, "%s does not resolve on %s", alias, net2);
		/* busybox wget of static glibc crashes on a bridge network; nc does not. */
		url = cd_xasprintf("printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | "
		                   "/bin/busybox nc %s 8080",
		        ip);
		const char *get[] = {"/bin/busybox", "sh", "-c", url, NULL};
		for (int i = 0; i < 50 && !ok; i++) {
			ck_assert_msg(cd_docker_exec(
			                      dk, client_id, get, NULL, 10000, 4096, &x, &err) == 0,
			        "%s", err.msg);
			ok = x.exit_code == 0 &&
			     strstr(x.out.buf, "\r\n\r\nhello from corpdeploy\n");
			cd_docker_exec_result_release(&x);
			if (!ok)
				sleep_ms(100);
		}
		ck_assert_msg(
		        ok, "the web container is not reachable as %s (%s) on %s", alias, ip, net2);
		free(url);
	}

	/* Connect with a second alias; connecting again is the engine's error. */
	ck_assert_msg(cd_docker_network_connect(
	                      dk, net1, client_id, (const char *const[]){alias2, NULL}, &err) == 0,
	        "%s", err.msg);
	ck_assert_int_lt(cd_docker_network_connect(dk, net1, client_id, NULL, &err), 0);
	ck_assert_msg(strstr(err.msg, "cannot connect container '") == err.msg, "%s", err.msg);
	ck_assert_int_eq(
	        cd_docker_network_connect(dk, "corpdeploy-test-no-such-net", client_id, NULL, &err),
	        CD_ENOTFOUND);

	/* A network in use cannot go; once empty it can, once. */
	ck_assert_int_lt(cd_docker_network_remove(dk, net2, &err), 0);
	ck_assert_msg(strstr(err.msg, "cannot remove network '") == err.msg, "%s", err.msg);
	ck_assert_msg(cd_docker_container_remove(dk, web_id2, 1, 1, &err) == 0, "%s", err.msg);
	ck_assert_msg(cd_docker_container_remove(dk, client_id, 1, 1, &err) == 0, "%s", err.msg);
	ck_assert_msg(cd_docker_network_remove(dk, net2, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(cd_docker_network_remove(dk, net2, &err), CD_ENOTFOUND);
	ck_assert_msg(cd_docker_network_remove(dk, net1, &err) == 0, "%s", err.msg);
	cd_error_release(&err);
	free(web_id2);
	free(client_id);
	free(net1);
	free(net2);
	free(web);
	free(client);
	free(alias);
	free(alias2);
}
END_TEST

START_TEST(test_docker_volume)
{
	static const char *const write_cmd[] = {
	        "/bin/busybox", "sh", "-c", "echo kept > /data/file", NULL};
	static const char *const read_cmd[] = {"/bin/busybox", "cat", "/data/file", NULL};
	struct cd_docker_stats before, after;
	struct cd_docker_container_spec s = spec_of(base_image);
	struct cd_error err = CD_ERROR_INIT;
	struct cd_buf out = CD_BUF_INIT;
	char *vol = name_of("vol1"), *name = name_of("vol-user"), *bind, *id;
	int code;

	ck_assert_msg(cd_docker_volume_ensure(dk, vol, labels, &err) == 0, "%s", err.msg);
	cd_docker_get_stats(dk, &before);
	ck_assert_msg(cd_docker_volume_ensure(dk, vol, labels, &err) == 0, "%s", err.msg);
	cd_docker_get_stats(dk, &after);
	ck_assert_uint_eq(after.mutating - before.mutating, 0);
	ck_assert_uint_eq(after.calls - before.calls, 1);

	bind = cd_xasprintf("%s:/data", vol);
	s.binds = (const char *const[]){bind, NULL};
	s.network_mode = "none";
	s.cmd = write_cmd;
	ck_assert_msg(cd_docker_container_create(dk, name, &s, &id, &err) == 0, "%s", err.msg);
	ck_assert_msg(cd_docker_container_start(dk, id, &err) == 0, "%s", err.msg);
	ck_assert_msg(cd_docker_container_wait(dk, id, 30000, &code, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(code, 0);
	ck_assert_int_lt(cd_docker_volume_remove(dk, vol, 0, &err), 0);
	ck_assert_msg(strstr(err.msg, "in use"), "%s", err.msg);
	ck_assert_msg(cd_docker_container_remove(dk, id, 0, 0, &err) == 0, "%s", err.msg);
	free(id);

	/* The data outlives the container that wrote it. */
	s.cmd = read_cmd;
	ck_assert_msg(cd_docker_container_create(dk, name, &s, &id, &err) == 0, "%s", err.msg);
	ck_assert_msg(cd_docker_container_start(dk, id, &err) == 0, "%s", err.msg);
	ck_assert_msg(cd_docker_container_wait(dk, id, 30000, &code, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(code, 0);
	ck_assert_msg(
	        cd_docker_container_logs(dk, id, -1, 1024, &out, NULL, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(out.buf, "kept\n");
	ck_assert_msg(cd_docker_container_remove(dk, id, 0, 0, &err) == 0, "%s", err.msg);

	ck_assert_msg(cd_docker_volume_remove(dk, vol, 0, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(cd_docker_volume_remove(dk, vol, 0, &err), CD_ENOTFOUND);
	cd_buf_release(&out);
	cd_error_release(&err);
	free(id);
	free(bind);
	free(vol);
	free(name);
}
END_TEST

/* ---- files in a container: the archive endpoint ---- */

#define ARCHIVE_BIG (5u << 20)

/* A deterministic byte stream (xorshift), so that both ends can hash it. */
static void fill_bytes(uint32_t *x, unsigned char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		*x ^= *x << 13;
		*x ^= *x >> 17;
		*x ^= *x << 5;
		buf[i] = (unsigned char)(*x & 0xff);
	}
}

static void tar_entry(struct archive *a, const char *name, unsigned type, unsigned perm,
        const char *symlink, const void *data, size_t size)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, perm);
	archive_entry_set_uid(e, 1234);
	archive_entry_set_gid(e, 1234);
	archive_entry_set_mtime(e, 1700000000, 0);
	if (symlink)
		archive_entry_set_symlink(e, symlink);
	if (type == AE_IFREG)
		archive_entry_set_size(e, (la_int64_t)size);
	ck_assert_int_eq(archive_write_header(a, e), ARCHIVE_OK);
	if (size)
		ck_assert_int_eq(archive_write_data(a, data, size), (la_ssize_t)size);
	archive_entry_free(e);
}

/* rt/ (0755), rt/big.bin (5 MiB, 0600), rt/run.sh (0755), rt/sub/ (0700), rt/link -> big.bin. */
static char *make_roundtrip_tar(char big_hex[65])
{
	char *path = cd_xasprintf("%s/roundtrip.tar", tmp);
	struct archive *a = archive_write_new();
	unsigned char *big = cd_xmalloc(ARCHIVE_BIG);
	uint32_t x = 88172645u;
	struct cd_sha256 sha;

	fill_bytes(&x, big, ARCHIVE_BIG);
	cd_sha256_init(&sha);
	cd_sha256_update(&sha, big, ARCHIVE_BIG);
	cd_sha256_final_hex(&sha, big_hex);
	ck_assert_int_eq(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	ck_assert_int_eq(archive_write_open_filename(a, path), ARCHIVE_OK);
	tar_entry(a, "rt", AE_IFDIR, 0755, NULL, NULL, 0);
	tar_entry(a, "rt/big.bin", AE_IFREG, 0600, NULL, big, ARCHIVE_BIG);
	tar_entry(a, "rt/run.sh", AE_IFREG, 0755, NULL, "#!/bin/sh\necho hi\n", 18);
	tar_entry(a, "rt/sub", AE_IFDIR, 0700, NULL, NULL, 0);
	tar_entry(a, "rt/link", AE_IFLNK, 0777, "big.bin", NULL, 0);
	ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	free(big);
	return path;
}

/* A source over an open file, in pieces of at most max bytes; fails after fail_after if set. */
struct file_source {
	int fd;
	size_t max;
	uint64_t sent, fail_after;
};

static ssize_t file_source_read(void *opaque, void *buf, size_t len, struct cd_error *err)
{
	struct file_source *s = opaque;
	ssize_t n;

	if (s->fail_after && s->sent >= s->fail_after)
		return cd_error_set(err, CD_EIO, "the test's source broke");
	if (s->max && len > s->max)
		len = s->max;
	n = read(s->fd, buf, len);
	if (n < 0)
		return cd_error_set_errno(err, errno, "cannot read the test's tar");
	s->sent += (uint64_t)n;
	return n;
}

static int put_file(const char *id, const char *dir, const char *tar, uint64_t fail_after,
        struct cd_error *err)
{
	struct file_source s = {.fd = open(tar, O_RDONLY), .max = 7000, .fail_after = fail_after};
	int rc;

	ck_assert_int_ge(s.fd, 0);
	rc = cd_docker_archive_put(dk, id, dir, 60000, file_source_read, &s, err);
	close(s.fd);
	return rc;
}

/* The output of sh -c script in the container, which must succeed; malloc'd. */
static char *exec_out(const char *id, const char *script)
{
	const char *const cmd[] = {"/bin/busybox", "sh", "-c", script, NULL};
	struct cd_docker_exec_result res;
	struct cd_error err = CD_ERROR_INIT;
	char *out;

	ck_assert_msg(cd_docker_exec(dk, id, cmd, NULL, 30000, 0, &res, &err) == 0, "%s", err.msg);
	ck_assert_msg(res.exit_code == 0, "%s: exit %d: %s", script, res.exit_code, res.err.buf);
	out = cd_xstrdup(res.out.buf ? res.out.buf : "");
	cd_docker_exec_result_release(&res);
	return out;
}

/* A sink that writes the tar to a file, noting the largest piece. */
struct file_sink {
	FILE *f;
	size_t largest;
};

static int file_sink_write(void *opaque, const void *data, size_t len, struct cd_error *err)
{
	struct file_sink *s = opaque;
	if (fwrite(data, 1, len, s->f) != len)
		return cd_error_set_errno(err, errno, "cannot write the test's copy");
	if (len > s->largest)
		s->largest = len;
	return 0;
}

START_TEST(test_docker_archive_roundtrip)
{
	struct cd_error err = CD_ERROR_INIT;
	struct cd_docker_path_stat st;
	char big_hex[65], *tar = make_roundtrip_tar(big_hex), *out;
	char *name = name_of("archive"), *id = start_sleeper(name, "none");
	char *copy = cd_xasprintf("%s/copy.tar", tmp);

	/* In: owners and modes as in the tar's headers, the symlink as a link. */
	ck_assert_msg(put_file(id, "/tmp", tar, 0, &err) == 0, "%s", err.msg);
	out = exec_out(id, "cd /tmp/rt && /bin/busybox stat -c '%n %a %u:%g %F' . big.bin run.sh "
	                   "sub link && /bin/busybox readlink link && "
	                   "/bin/busybox sha256sum big.bin");
	{
		char *want = cd_xasprintf(". 755 1234:1234 directory\n"
		                          "big.bin 600 1234:1234 regular file\n"
		                          "run.sh 755 1234:1234 regular file\n"
		                          "sub 700 1234:1234 directory\n"
		                          "link 777 1234:1234 symbolic link\n"
		                          "big.bin\n"
		                          "%s  big.bin\n",
		        big_hex);
		ck_assert_str_eq(out, want);
		free(want);
	}
	free(out);

	/* Stat: a directory, a symlink not followed, a missing path. */
	ck_assert_msg(cd_docker_path_stat(dk, id, "/tmp/rt", &st, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(st.name, "rt");
	ck_assert_uint_eq(st.mode, S_IFDIR | 0755);
	cd_docker_path_stat_release(&st);
	ck_assert_msg(cd_docker_path_stat(dk, id, "/tmp/rt/link", &st, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(st.mode & S_IFMT, S_IFLNK);
	ck_assert_str_eq(st.link_target, "/tmp/rt/big.bin");
	cd_docker_path_stat_release(&st);
	ck_assert_msg(cd_docker_path_stat(dk, id, "/tmp/rt/big.bin", &st, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(st.mode, S_IFREG | 0600);
	ck_assert_int_eq(st.size, ARCHIVE_BIG);
	cd_docker_path_stat_release(&st);
	/* Go's sticky bit is not st_mode's: /tmp of the base image is 01777. */
	ck_assert_msg(cd_docker_path_stat(dk, id, "/tmp", &st, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(st.mode, S_IFDIR | 01777);
	cd_docker_path_stat_release(&st);
	ck_assert_int_eq(cd_docker_path_stat(dk, id, "/tmp/rt/nothing", &st, &err), CD_ENOTFOUND);
	ck_assert_msg(strstr(err.msg, "cannot stat '/tmp/rt/nothing' in container '"), "%s",
	        err.msg);

	/* Out: streamed in pieces, the same entries back, named from the base name. */
	{
		struct file_sink s = {.f = fopen(copy, "w")};
		struct archive *a = archive_read_new();
		struct archive_entry *e;
		struct cd_buf seen = CD_BUF_INIT;
		char buf[65536], hex[65];

		ck_assert_ptr_nonnull(s.f);
		ck_assert_msg(cd_docker_archive_get(dk, id, "/tmp/rt", 60000, file_sink_write, &s,
		                      &st, &err) == 0,
		        "%s", err.msg);
		fclose(s.f);
		ck_assert_uint_eq(st.mode, S_IFDIR | 0755);
		cd_docker_path_stat_release(&st);
		ck_assert_uint_lt(s.largest, 1u << 20);
		archive_read_support_format_tar(a);
		ck_assert_int_eq(archive_read_open_filename(a, copy, 65536), ARCHIVE_OK);
		while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
			cd_buf_addf(&seen, "%s %o %lld:%lld %lld", archive_entry_pathname(e),
			        (unsigned)archive_entry_mode(e), (long long)archive_entry_uid(e),
			        (long long)archive_entry_gid(e), (long long)archive_entry_mtime(e));
			if (archive_entry_filetype(e) == AE_IFLNK)
				cd_buf_addf(&seen, " -> %s", archive_entry_symlink(e));
			if (strcmp(archive_entry_pathname(e), "rt/big.bin") == 0) {
				struct cd_sha256 sha;
				la_ssize_t n;
				cd_sha256_init(&sha);
				while ((n = archive_read_data(a, buf, sizeof(buf))) > 0)
					cd_sha256_update(&sha, buf, (size_t)n);
				ck_assert_int_eq(n, 0);
				cd_sha256_final_hex(&sha, hex);
				ck_assert_str_eq(hex, big_hex);
			}
			cd_buf_addch(&seen, '\n');
		}
		archive_read_free(a);
		ck_assert_msg(strstr(seen.buf, "rt/ 40755 1234:1234 1700000000\n") ||
		                      strstr(seen.buf, "rt 40755 1234:1234 1700000000\n"),
		        "%s", seen.buf);
		ck_assert_msg(strstr(seen.buf, "rt/big.bin 100600 1234:1234 1700000000\n"), "%s",
		        seen.buf);
		ck_assert_msg(strstr(seen.buf, "rt/run.sh 100755 1234:1234 1700000000\n"), "%s",
		        seen.buf);
		ck_assert_msg(strstr(seen.buf, "rt/link 120777 1234:1234 1700000000 -> big.bin\n"),
		        "%s", seen.buf);
		cd_buf_release(&seen);
	}

	/* The copy goes back in elsewhere byte for byte: the round trip. */
	out = exec_out(id, "/bin/busybox mkdir /tmp/again");
	free(out);
	ck_assert_msg(put_file(id, "/tmp/again", copy, 0, &err) == 0, "%s", err.msg);
	out = exec_out(id, "cd /tmp/again/rt && /bin/busybox stat -c '%n %a %u:%g' big.bin sub && "
	                   "/bin/busybox readlink link && /bin/busybox sha256sum big.bin");
	{
		char *want = cd_xasprintf(
		        "big.bin 600 1234:1234\nsub 700 1234:1234\nbig.bin\n%s  big.bin\n", big_hex);
		ck_assert_str_eq(out, want);
		free(want);
	}
	free(out);

	/* Errors: a missing target directory, a source that breaks, missing path out. */
	ck_assert_int_eq(put_file(id, "/tmp/no-such-dir", tar, 0, &err), CD_ENOTFOUND);
	ck_assert_msg(strstr(err.msg, "cannot copy files into '/tmp/no-such-dir' in container '"),
	        "%s", err.msg);
	ck_assert_int_lt(put_file(id, "/tmp/again", tar, 100000, &err), 0);
	ck_assert_msg(strstr(err.msg, "the test's source broke"), "%s", err.msg);
	{
		struct file_sink s = {.f = fopen(copy, "w")};
		ck_assert_int_eq(cd_docker_archive_get(dk, id, "/tmp/nothing", 60000,
		                         file_sink_write, &s, NULL, &err),
		        CD_ENOTFOUND);
		fclose(s.f);
		ck_assert_msg(strstr(err.msg, "cannot copy '/tmp/nothing' out of container '"), "%s",
		        err.msg);
	}

	ck_assert_msg(cd_docker_container_remove(dk, id, 1, 1, &err) == 0, "%s", err.msg);
	cd_error_release(&err);
	free(copy);
	free(tar);
	free(id);
	free(name);
}
END_TEST

/* Over an existing tree: files are replaced, a directory keeps its contents and takes the entry's attributes, a file never replaces a directory. */
START_TEST(test_docker_archive_overwrite)
{
	struct cd_error err = CD_ERROR_INIT;
	char *name = name_of("archive-over"), *id = start_sleeper(name, "none");
	char *tar = cd_xasprintf("%s/over.tar", tmp), *out;
	struct archive *a;

	out = exec_out(id, "cd /tmp && /bin/busybox mkdir -p d/keep f && echo old > d/file && "
	                   "echo kept > d/keep/k && /bin/busybox chmod 0700 d");
	free(out);
	a = archive_write_new();
	ck_assert_int_eq(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	ck_assert_int_eq(archive_write_open_filename(a, tar), ARCHIVE_OK);
	tar_entry(a, "d", AE_IFDIR, 0750, NULL, NULL, 0);
	tar_entry(a, "d/file", AE_IFREG, 0640, NULL, "new\n", 4);
	ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	ck_assert_msg(put_file(id, "/tmp", tar, 0, &err) == 0, "%s", err.msg);
	out = exec_out(id, "cd /tmp/d && /bin/busybox stat -c '%n %a %u:%g' . file && cat file "
	                   "keep/k");
	ck_assert_str_eq(out, ". 750 1234:1234\nfile 640 1234:1234\nnew\nkept\n");
	free(out);

	/* A file where a directory is: refused, the directory intact. */
	a = archive_write_new();
	ck_assert_int_eq(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	ck_assert_int_eq(archive_write_open_filename(a, tar), ARCHIVE_OK);
	tar_entry(a, "f", AE_IFREG, 0644, NULL, "x\n", 2);
	ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	ck_assert_int_lt(put_file(id, "/tmp", tar, 0, &err), 0);
	ck_assert_msg(strstr(err.msg, "cannot overwrite directory"), "%s", err.msg);
	out = exec_out(id, "/bin/busybox stat -c '%F' /tmp/f");
	ck_assert_str_eq(out, "directory\n");
	free(out);

	ck_assert_msg(cd_docker_container_remove(dk, id, 1, 1, &err) == 0, "%s", err.msg);
	cd_error_release(&err);
	free(tar);
	free(id);
	free(name);
}
END_TEST

/* ---- registries ---- */

static void push(const struct registry *reg, int login)
{
	char *ref = registry_ref(reg), *cfg = cd_xasprintf("%s/docker-config", tmp);
	char *log = cd_xasprintf("%s/docker-push.log", tmp), server[64];
	struct cd_error err = CD_ERROR_INIT;

	snprintf(server, sizeof(server), "127.0.0.1:%d", reg->port);
	{
		char repo[128];
		snprintf(repo, sizeof(repo), "127.0.0.1:%d/%s/busybox", reg->port, run_id);
		ck_assert_msg(
		        cd_docker_image_tag(dk, base_image, repo, "1", &err) == 0, "%s", err.msg);
	}
	if (login) {
		/* A config dir of the test's own: root's ~/.docker is not touched. */
		const char *argv[] = {"/usr/bin/docker", "--config", cfg, "login", "-u", REG_USER,
		        "-p", REG_PASSWORD, server, NULL};
		ck_assert_msg(run(argv, log) == 0, "docker login failed; see %s", log);
	}
	{
		const char *argv[] = {"/usr/bin/docker", "--config", cfg, "push", ref, NULL};
		ck_assert_msg(run(argv, log) == 0, "docker push failed; see %s", log);
	}
	ck_assert_msg(cd_docker_image_remove(dk, ref, 0, &err) == 0, "%s", err.msg);
	free(ref);
	free(cfg);
	free(log);
}

START_TEST(test_docker_image_pull)
{
	struct cd_docker_auth auth = {REG_USER, REG_PASSWORD, NULL};
	struct cd_docker_auth wrong = {REG_USER, "not-the-password", NULL};
	struct cd_docker_image img;
	struct cd_error err = CD_ERROR_INIT;
	char *ref, *missing;

	ck_assert_msg(access(REGISTRY_BIN, X_OK) == 0,
	        REGISTRY_BIN " is missing (apt-get install docker-registry)");

	/* An open registry, no credentials. */
	push(&reg_open, 0);
	ref = registry_ref(&reg_open);
	ck_assert_int_eq(cd_docker_image_inspect(dk, ref, &img, &err), CD_ENOTFOUND);
	ck_assert_msg(cd_docker_image_pull(dk, ref, NULL, 60000, &err) == 0, "%s", err.msg);
	ck_assert_msg(cd_docker_image_inspect(dk, ref, &img, &err) == 0, "%s", err.msg);
	cd_docker_image_release(&img);
	missing = cd_xasprintf("127.0.0.1:%d/%s/nothing:1", reg_open.port, run_id);
	ck_assert_int_lt(cd_docker_image_pull(dk, missing, NULL, 60000, &err), 0);
	ck_assert_msg(
	        strstr(err.msg, "cannot pull image '") == err.msg && strstr(err.msg, "not found"),
	        "%s", err.msg);
	free(missing);
	free(ref);

	/* A registry behind htpasswd: no credentials, wrong ones, then right ones. */
	push(&reg_auth, 1);
	ref = registry_ref(&reg_auth);
	ck_assert_int_lt(cd_docker_image_pull(dk, ref, NULL, 60000, &err), 0);
	ck_assert_msg(strstr(err.msg, "cannot pull image '") == err.msg, "%s", err.msg);
	ck_assert_msg(
	        strstr(err.msg, "no basic auth credentials (the registry 127.0.0.1:") &&
	                strstr(err.msg, " answered 401 Unauthorized; no credentials were given)"),
	        "%s", err.msg);
	ck_assert_int_lt(cd_docker_image_pull(dk, ref, &wrong, 60000, &err), 0);
	ck_assert_msg(strstr(err.msg, ": unauthorized: authentication required (the registry "
	                              "127.0.0.1:") &&
	                      strstr(err.msg, " answered 401 Unauthorized to user 'cdtest')"),
	        "%s", err.msg);
	ck_assert_int_eq(err.code, CD_EREMOTE);
	ck_assert_ptr_null(strstr(err.msg, "not-the-password"));
	ck_assert_int_eq(cd_docker_image_inspect(dk, ref, &img, &err), CD_ENOTFOUND);
	ck_assert_msg(cd_docker_image_pull(dk, ref, &auth, 60000, &err) == 0, "%s", err.msg);
	ck_assert_msg(cd_docker_image_inspect(dk, ref, &img, &err) == 0, "%s", err.msg);
	cd_docker_image_release(&img);
	cd_error_release(&err);
	free(ref);
}
END_TEST

static Suite *docker_suite(void)
{
	Suite *s = suite_create("docker");
	TCase *tc = tcase_create("engine");

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_docker_ping_version);
	tcase_add_test(tc, test_docker_open_unreachable);
	tcase_add_test(tc, test_docker_threads);
	tcase_add_test(tc, test_docker_image_import_inspect);
	tcase_add_test(tc, test_docker_image_inspect_missing);
	tcase_add_test(tc, test_docker_image_build);
	tcase_add_test(tc, test_docker_image_build_context);
	tcase_add_test(tc, test_docker_image_build_fail);
	tcase_add_test(tc, test_docker_image_tag_remove);
	tcase_add_test(tc, test_docker_image_load);
	tcase_add_test(tc, test_docker_container_lifecycle);
	tcase_add_test(tc, test_docker_container_published_port);
	tcase_add_test(tc, test_docker_container_conflict);
	tcase_add_test(tc, test_docker_exec);
	tcase_add_test(tc, test_docker_exec_stream);
	tcase_add_test(tc, test_docker_exec_stdin);
	tcase_add_test(tc, test_docker_logs_wait);
	tcase_add_test(tc, test_docker_container_list);
	tcase_add_test(tc, test_docker_network);
	tcase_add_test(tc, test_docker_volume);
	tcase_add_test(tc, test_docker_archive_roundtrip);
	tcase_add_test(tc, test_docker_archive_overwrite);
	tcase_add_test(tc, test_docker_image_pull);
	suite_add_tcase(s, tc);
	return s;
}

/* Runs engine-up.sh or engine-down.sh with the state directory, if meson named them. */
static int engine_script(const char *var)
{
	const char *script = getenv(var), *state = getenv("CD_DOCKER_TEST_STATE");

	if (!script || !*script)
		return 0;
	const char *argv[] = {"/bin/sh", script, state && *state ? state : "/tmp", NULL};
	pid_t pid = fork();
	int status;
	if (pid == 0) {
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (engine_script("CD_DOCKER_ENGINE_UP") < 0) {
		fprintf(stderr, "check-docker: no Docker engine (engine-up.sh failed)\n");
		return 1;
	}
	sr = srunner_create(docker_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (engine_script("CD_DOCKER_ENGINE_DOWN") < 0)
		failed++;
	return failed ? 1 : 0;
}
