/*
 * docker: a client of the Docker Engine API, version 1.41 in every path,
 * over libcurl. The connection is a pluggable transport: a local unix
 * socket here, an SSH channel to `docker system dial-stdio` elsewhere.
 * Every call has a deadline; errors name the object and quote the engine.
 * Results are plain C structs owned by the caller; no libcurl or cJSON type
 * appears here.
 *
 * Error codes: CD_ENOTFOUND when the engine answers 404; CD_EFAIL for its
 * other 4xx (a conflict such as a name in use, a bad parameter); CD_EREMOTE
 * for 5xx, for errors inside a 200 stream (build, pull, load), for an engine
 * that cannot be reached and for a deadline passed; CD_EUSAGE for a spec
 * refused before the engine is asked; CD_EIO for a local file. A timeout_ms
 * of 0 or less is the client's timeout (cd_docker_set_timeout()).
 *
 * One struct cd_docker may be used from several threads at once: each call
 * has its own connection, and the client holds no other mutable state.
 */
#ifndef CORPDEPLOY_DOCKER_H
#define CORPDEPLOY_DOCKER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "corpdeploy/core.h"

#define CD_DOCKER_API "1.41"

struct cJSON;
struct cd_docker;

/*
 * A transport makes one connected byte stream to the engine per call
 * (libcurl may ask for several). open() returns a connected socket fd that
 * libcurl then owns and closes, or a negative CD_E* with err set. open() is
 * called from every thread that uses the client, so it must be thread-safe.
 * The fd may be moved to another descriptor number (dup3) before use.
 */
struct cd_docker_transport {
	int (*open)(void *ctx, struct cd_error *err);
	void (*free)(void *ctx);
	void *ctx;
	const char *description; /* "unix:///var/run/docker.sock", for messages */
};

/*
 * Connects to host: "unix:///path" (or NULL: DOCKER_HOST, then the default
 * socket). Does not talk to the engine yet. *ret is freed with
 * cd_docker_free(). Returns 0 or CD_EUSAGE for a host it cannot use.
 */
int cd_docker_open(const char *host, struct cd_docker **ret, struct cd_error *err);
/*
 * The same over a transport of the caller's. *t is copied (the struct may
 * live on the caller's stack); t->ctx belongs to the client from this call
 * on, even when it fails, and is released with t->free(t->ctx).
 */
int cd_docker_open_transport(struct cd_docker_transport *t, struct cd_docker **ret,
	struct cd_error *err);
void cd_docker_free(struct cd_docker *d);

/* The deadline of each call that does not take its own (default 30 s). */
void cd_docker_set_timeout(struct cd_docker *d, int64_t ms);
/* Counts of calls made, for tests that assert an idempotent run changes nothing. */
struct cd_docker_stats {
	unsigned long calls;
	unsigned long mutating; /* POST, PUT and DELETE */
};
void cd_docker_get_stats(const struct cd_docker *d, struct cd_docker_stats *ret);

/* ---- engine ---- */

struct cd_docker_version {
	char *version;	   /* "20.10.24+dfsg1" */
	char *api_version; /* "1.41" */
	char *os, *arch;
};

/*
 * Pings the engine. When it is not reachable, returns CD_EREMOTE with a
 * message that says so and how to start it.
 */
int cd_docker_ping(struct cd_docker *d, struct cd_error *err);
int cd_docker_version(struct cd_docker *d, struct cd_docker_version *ret, struct cd_error *err);
void cd_docker_version_release(struct cd_docker_version *v);

/* ---- images ---- */

struct cd_docker_image {
	char *id; /* "sha256:..." */
	char **repo_tags;
	size_t n_repo_tags;
	int64_t size;
	char *created;
	char *context_digest; /* label corpdeploy.context of images corpdeploy built, or NULL */
};

/* CD_ENOTFOUND when the engine has no such image. */
int cd_docker_image_inspect(struct cd_docker *d, const char *ref, struct cd_docker_image *ret,
	struct cd_error *err);
void cd_docker_image_release(struct cd_docker_image *img);

/* Registry credentials; password is a secret (registered with the redactor by the caller). */
struct cd_docker_auth {
	const char *username;
	const char *password;
	const char *server; /* NULL: derived from the image reference */
};

/* Pulls ref ("host:port/name:tag"); progress is consumed as it streams. */
int cd_docker_image_pull(struct cd_docker *d, const char *ref, const struct cd_docker_auth *auth,
	int64_t timeout_ms, struct cd_error *err);

struct cd_docker_build {
	const char *context_dir;
	const char *dockerfile; /* relative to context_dir; NULL: "Dockerfile" */
	const char *tag;	/* "name:tag" */
	const char *const *buildargs; /* "KEY=value" strings, NULL-terminated; may be NULL */
	const char *const *labels;    /* "KEY=value", NULL-terminated; may be NULL */
};

/*
 * Builds an image from a directory: the context is tarred with libarchive
 * (honouring .dockerignore), streamed to POST /build, the output parsed as
 * it comes. On success *ret_id (malloc'd) is the new image id.
 */
int cd_docker_image_build(struct cd_docker *d, const struct cd_docker_build *b, int64_t timeout_ms,
	char **ret_id, struct cd_error *err);
/*
 * The digest of a build context as a build would see it (.dockerignore
 * applied): paths, modes and contents, not times. Images corpdeploy builds
 * carry it as the label corpdeploy.context, so that an unchanged context
 * needs no build.
 */
int cd_docker_context_digest(const char *dir, const char *dockerfile, char hex[65],
	struct cd_error *err);
/* Loads images from a tar file (as docker save writes it). */
int cd_docker_image_load(struct cd_docker *d, const char *tar_path, int64_t timeout_ms,
	struct cd_error *err);
/* Imports a root filesystem tarball as repo:tag (POST /images/create?fromSrc=-). */
int cd_docker_image_import(struct cd_docker *d, const char *tar_path, const char *repo,
	const char *tag, int64_t timeout_ms, struct cd_error *err);
int cd_docker_image_tag(struct cd_docker *d, const char *ref, const char *repo, const char *tag,
	struct cd_error *err);
/* CD_ENOTFOUND when absent; removing an image in use fails unless force. */
int cd_docker_image_remove(struct cd_docker *d, const char *ref, int force, struct cd_error *err);

/* ---- containers ---- */

struct cd_docker_port {
	const char *host_ip; /* NULL: 127.0.0.1 — never every interface by default */
	int host_port;
	int container_port;
	const char *proto; /* "tcp" or "udp"; NULL: tcp */
};

struct cd_docker_health {
	const char *const *test; /* e.g. {"CMD", "pg_isready", NULL} or {"CMD-SHELL", "...", NULL} */
	int64_t interval_ms, timeout_ms, start_period_ms;
	int retries;
};

struct cd_docker_container_spec {
	const char *image;
	const char *const *cmd;	       /* NULL-terminated; NULL: the image's */
	const char *const *entrypoint; /* NULL-terminated; NULL: the image's */
	const char *const *env;	       /* "KEY=value", NULL-terminated */
	const char *const *labels;     /* "KEY=value", NULL-terminated */
	const struct cd_docker_port *ports;
	size_t n_ports;
	const char *const *binds; /* "volume:/path[:ro]" or "/host:/path", NULL-terminated */
	const char *network_mode; /* "host", "bridge", "none" or a network name; NULL: default */
	const char *const *networks; /* further networks to connect, NULL-terminated */
	const char *const *aliases;  /* network aliases in those networks, NULL-terminated */
	const char *restart;	     /* "no", "always", "unless-stopped", "on-failure[:N]" */
	int init;
	const struct cd_docker_health *health; /* NULL: the image's HEALTHCHECK */
	const char *user;
	const char *workdir;
	int64_t stop_timeout_ms; /* < 0: engine default */
};

/* Creates a container; *ret_id (malloc'd) is its id. A name in use is CD_EFAIL naming it. */
int cd_docker_container_create(struct cd_docker *d, const char *name,
	const struct cd_docker_container_spec *spec, char **ret_id, struct cd_error *err);
/*
 * A container's specification as data, to be kept (release history) and
 * created again later with cd_docker_container_create_json(): {"create":
 * the create body, "connect": further networks, "aliases": [...]}. NULL
 * with err set when the spec is invalid.
 */
struct cJSON *cd_docker_container_spec_json(const struct cd_docker_container_spec *spec,
	struct cd_error *err);
int cd_docker_container_create_json(struct cd_docker *d, const char *name,
	const struct cJSON *saved, char **ret_id, struct cd_error *err);
int cd_docker_container_start(struct cd_docker *d, const char *id, struct cd_error *err);
/* Stops, waiting up to timeout_ms before the engine kills it. Already stopped is success. */
int cd_docker_container_stop(struct cd_docker *d, const char *id, int64_t timeout_ms,
	struct cd_error *err);
int cd_docker_container_kill(struct cd_docker *d, const char *id, const char *signal,
	struct cd_error *err);
int cd_docker_container_rename(struct cd_docker *d, const char *id, const char *new_name,
	struct cd_error *err);
/* CD_ENOTFOUND when it does not exist. */
int cd_docker_container_remove(struct cd_docker *d, const char *id, int force, int volumes,
	struct cd_error *err);

struct cd_docker_kv {
	char *key, *value;
};

struct cd_docker_container {
	char *id;
	char *name;	/* without the leading '/' */
	char *image;	/* the reference it was created from */
	char *image_id; /* "sha256:..." */
	char *status;	/* created, running, paused, restarting, removing, exited, dead */
	int running;
	int exit_code;
	char *health; /* "healthy", "unhealthy", "starting", or NULL when it has no check */
	char *started_at;
	char *created;
	struct cd_docker_kv *labels;
	size_t n_labels;
	int *host_ports; /* published host ports */
	size_t n_host_ports;
};

/* CD_ENOTFOUND when absent. */
int cd_docker_container_inspect(struct cd_docker *d, const char *id_or_name,
	struct cd_docker_container *ret, struct cd_error *err);
void cd_docker_container_release(struct cd_docker_container *c);
/* The value of a label of c, or NULL. */
const char *cd_docker_container_label(const struct cd_docker_container *c, const char *key);

/* All containers (running or not) with every given label ("key=value" or "key"). */
int cd_docker_container_list(struct cd_docker *d, const char *const *label_filters,
	struct cd_docker_container **ret, size_t *ret_n, struct cd_error *err);
void cd_docker_container_list_free(struct cd_docker_container *list, size_t n);

/* Waits until the container stops; *ret_exit is its exit code. */
int cd_docker_container_wait(struct cd_docker *d, const char *id, int64_t timeout_ms,
	int *ret_exit, struct cd_error *err);
/*
 * The last tail lines (< 0: all) of its logs, stdout and stderr
 * demultiplexed and appended to out and errout (either may be NULL), each
 * cut to its last max bytes (0: 16 MiB). The container must have no TTY.
 */
int cd_docker_container_logs(struct cd_docker *d, const char *id, int tail, size_t max,
	struct cd_buf *out, struct cd_buf *errout, struct cd_error *err);

/*
 * Runs cmd in a running container; output captured (the first max bytes of
 * each, 0: 16 MiB). Returns 0 whatever the exit code; a missing binary is
 * exit code 126 or 127 with the engine's words in the output. When timeout_ms
 * passes it fails with CD_EREMOTE, and the process may still run there.
 * On failure *ret holds nothing to release.
 */
struct cd_docker_exec_result {
	int exit_code;
	struct cd_buf out, err;
};
int cd_docker_exec(struct cd_docker *d, const char *id, const char *const *cmd,
	const char *const *env, int64_t timeout_ms, size_t max, struct cd_docker_exec_result *ret,
	struct cd_error *err);
void cd_docker_exec_result_release(struct cd_docker_exec_result *r);
/*
 * Takes a piece of a streamed command's output; < 0 with err set stops the
 * stream, and that error is what the call returns.
 */
typedef int (*cd_docker_sink)(void *opaque, const void *data, size_t len, struct cd_error *err);
/*
 * Runs cmd in a running container, its stdout handed to sink as it comes
 * (memory stays bounded whatever it writes), the last max bytes of its
 * stderr (0: 64 KiB) in errtail, which the caller releases. *ret_exit is
 * the exit code. When sink fails or timeout_ms passes, the call fails and
 * the process may still run there.
 */
int cd_docker_exec_stream(struct cd_docker *d, const char *id, const char *const *cmd,
	const char *const *env, int64_t timeout_ms, cd_docker_sink sink, void *opaque, size_t max,
	struct cd_buf *errtail, int *ret_exit, struct cd_error *err);
/*
 * Gives the next piece of a command's stdin: copies up to len bytes into
 * buf and returns how many, 0 at its end, or < 0 with err set, which stops
 * the command's stream and is what the call returns.
 */
typedef long (*cd_docker_source)(void *opaque, void *buf, size_t len, struct cd_error *err);
/*
 * As cd_docker_exec_stream(), with the command's stdin pulled from source
 * until it ends, when the process sees EOF (sink may be NULL: stdout is
 * dropped). A process that exits before reading all of it is no error: its
 * exit code tells how it went. The exchange is an upgraded connection of
 * the client's transport (local socket or SSH), not libcurl's, so that
 * stdin can be sent while the output is read.
 */
int cd_docker_exec_stdin(struct cd_docker *d, const char *id, const char *const *cmd,
	const char *const *env, int64_t timeout_ms, cd_docker_source source, void *source_opaque,
	cd_docker_sink sink, void *sink_opaque, size_t max, struct cd_buf *errtail, int *ret_exit,
	struct cd_error *err);

/* ---- files in a container: the archive endpoint ---- */

/* What the engine says of a path in a container (X-Docker-Container-Path-Stat). */
struct cd_docker_path_stat {
	char *name;	   /* its base name */
	int64_t size;
	unsigned mode;	   /* st_mode bits (S_IFDIR | 0755...), from the engine's Go FileMode */
	char *mtime;	   /* RFC 3339, as the engine wrote it */
	char *link_target; /* what a symlink points to; "" otherwise */
};
/*
 * Stats path (absolute) in a container, running or not. A symlink as the
 * last component is not followed. CD_ENOTFOUND when the path (or the
 * container) does not exist.
 */
int cd_docker_path_stat(struct cd_docker *d, const char *id, const char *path,
	struct cd_docker_path_stat *ret, struct cd_error *err);
void cd_docker_path_stat_release(struct cd_docker_path_stat *st);

/*
 * The tar of path (absolute) in a container, handed to sink piece by piece
 * as it comes (never held whole). Its entries are named from path's base
 * name ("/srv/app" gives "app", "app/x", ...), with the owner, mode and
 * time of each file; a symlink as the last component is archived as the
 * link. ret_stat (may be NULL) gets the path's stat. CD_ENOTFOUND when the
 * path or the container does not exist.
 */
int cd_docker_archive_get(struct cd_docker *d, const char *id, const char *path,
	int64_t timeout_ms, cd_docker_sink sink, void *opaque, struct cd_docker_path_stat *ret_stat,
	struct cd_error *err);
/* Fills buf with up to len bytes; 0 at the end, < 0 with err set to stop. */
typedef ssize_t (*cd_docker_source)(void *opaque, void *buf, size_t len, struct cd_error *err);
/*
 * Extracts a tar (uncompressed, or gzip, bzip2, xz), read from source as it
 * is sent, into dir (absolute, an existing directory) in a container. The
 * owner of each entry is the uid/gid of its header (copyUIDGID is not
 * asked for, which would make everything the container user's); modes and
 * times are those of the headers. An existing file or symlink is replaced;
 * an existing directory keeps its contents and takes the entry's mode,
 * owner and time; a directory is never replaced by a file nor the reverse
 * (the engine's error, "cannot overwrite directory ..."). CD_ENOTFOUND when
 * dir or the container does not exist.
 */
int cd_docker_archive_put(struct cd_docker *d, const char *id, const char *dir,
	int64_t timeout_ms, cd_docker_source source, void *opaque, struct cd_error *err);

/* ---- networks and volumes ---- */

/* Creates a bridge network unless one of that name exists (CheckDuplicate); 0 either way. */
int cd_docker_network_ensure(struct cd_docker *d, const char *name, const char *const *labels,
	struct cd_error *err);
int cd_docker_network_connect(struct cd_docker *d, const char *network, const char *container,
	const char *const *aliases, struct cd_error *err);
int cd_docker_network_remove(struct cd_docker *d, const char *name, struct cd_error *err);
/* Creates a named volume unless it exists; 0 either way. */
int cd_docker_volume_ensure(struct cd_docker *d, const char *name, const char *const *labels,
	struct cd_error *err);
int cd_docker_volume_remove(struct cd_docker *d, const char *name, int force, struct cd_error *err);

#endif
