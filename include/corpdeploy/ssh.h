/*
 * ssh: remote hosts over SSH (libssh2 1.10). Sessions with a deadline and
 * keepalives, host keys checked strictly against known_hosts (or a key
 * pinned in the plan) before anything is sent, key and agent
 * authentication, commands with their output streamed and their exit
 * status or signal checked, atomic SFTP uploads, remote Docker engines
 * through `docker system dial-stdio`, and fan-out over host groups.
 *
 * A session belongs to one thread at a time; the run's pool (cd_ssh_run_*)
 * hands each host's session to one user at a time and keeps it for the run.
 * No libssh2 type appears here.
 */
#ifndef CORPDEPLOY_SSH_H
#define CORPDEPLOY_SSH_H

#include <stddef.h>
#include <stdint.h>

#include "corpdeploy/core.h"

struct cd_run;
struct cd_plan;
struct cd_target;
struct cd_docker_transport;
struct cd_ssh_pool;

/* ---- process-wide settings (command-line options) ---- */

/*
 * A known_hosts file read after ~/.ssh/known_hosts; trust and --accept-new
 * record new keys there (NULL: ~/.ssh/known_hosts). The string must outlive
 * its use.
 */
void cd_ssh_set_known_hosts(const char *path);
/* Record the key of a host never seen before instead of refusing it (`up --accept-new`). */
void cd_ssh_set_accept_new(int on);

/* ---- shell quoting (pure) ---- */

/* Appends s to out quoted for a POSIX shell: every byte arrives as data. */
void cd_ssh_quote(struct cd_buf *out, const char *s);
/* Appends argv quoted and joined by spaces. */
void cd_ssh_quote_argv(struct cd_buf *out, const char *const *argv);

/* ---- ~/.ssh/config (pure) ---- */

struct cd_ssh_config {
	char *hostname; /* each malloc'd or NULL when the file does not say */
	char *user;
	char *identity_file; /* "~/" expanded with home */
	int port;	     /* 0: not given */
};
/*
 * Looks host up in the text of an ssh_config file the way ssh does: Host
 * patterns with * ? and !negation, the first value obtained for each key
 * wins. home expands "~/" in IdentityFile. Release ret with
 * cd_ssh_config_release().
 */
void cd_ssh_config_lookup(const char *text, const char *host, const char *home,
	struct cd_ssh_config *ret);
void cd_ssh_config_release(struct cd_ssh_config *c);
/* 1 when host matches a Host line's pattern list ("web* !web3"). */
int cd_ssh_host_matches(const char *patterns, const char *host);

/* ---- known_hosts ---- */

enum cd_ssh_known_result {
	CD_SSH_KNOWN_MATCH,
	CD_SSH_KNOWN_NOTFOUND, /* never seen: no line for the host and this key type */
	CD_SSH_KNOWN_MISMATCH, /* a different key is recorded: refused, always */
	CD_SSH_KNOWN_REVOKED,  /* the key is listed under @revoked */
};

/* Host key types, as libssh2 numbers them (LIBSSH2_HOSTKEY_TYPE_*). */
struct cd_ssh_known_hosts;
/* An empty set; free with cd_ssh_known_hosts_free(). */
struct cd_ssh_known_hosts *cd_ssh_known_hosts_new(void);
void cd_ssh_known_hosts_free(struct cd_ssh_known_hosts *kh);
/*
 * Adds the lines of a known_hosts file's text (plain, hashed |1|, [host]:port,
 * @revoked; @cert-authority lines and lines it cannot read are skipped and
 * counted in *ret_skipped, which may be NULL).
 */
void cd_ssh_known_hosts_add_text(struct cd_ssh_known_hosts *kh, const char *text, size_t *ret_skipped);
/* Reads a file; a missing file is empty. 0 or CD_EIO. */
int cd_ssh_known_hosts_add_file(struct cd_ssh_known_hosts *kh, const char *path,
	struct cd_error *err);
/* Checks key (raw blob of key_type) for host:port. */
enum cd_ssh_known_result cd_ssh_known_hosts_check(struct cd_ssh_known_hosts *kh, const char *host,
	int port, const void *key, size_t key_len, int key_type);
/*
 * The host-key algorithms known_hosts holds for host:port, best first, as
 * a libssh2 method preference ("ssh-ed25519,ecdsa-sha2-nistp256"), into
 * buf; empty when the host is unknown.
 */
void cd_ssh_known_hosts_algorithms(struct cd_ssh_known_hosts *kh, const char *host, int port,
	char *buf, size_t size);
/*
 * The known_hosts line recording key for host:port ("[host]:port" unless
 * 22), malloc'd. With salt (20 random bytes) the name is hashed, as
 * OpenSSH's HashKnownHosts writes it: |1|salt|HMAC-SHA1(salt, name).
 */
char *cd_ssh_known_hosts_line(const char *host, int port, const void *key, size_t key_len,
	int key_type, const unsigned char *salt);
/* "SHA256:<base64 without padding>" of a raw key, as OpenSSH prints it, into buf (>= 64). */
void cd_ssh_fingerprint(const void *key, size_t key_len, char *buf, size_t size);
/* "ssh-ed25519" for a key type. */
const char *cd_ssh_key_type_name(int key_type);

/* ---- sessions ---- */

/* Where and as whom to connect: a target resolved with ~/.ssh/config. */
struct cd_ssh_dest {
	char *name;	    /* the target's name, for messages */
	char *host;	    /* as known_hosts knows it (the plan's host) */
	char *address;	    /* what to connect to (HostName, else host) */
	char *user;
	int port;
	char *identity;	    /* a private key file, or NULL: the agent, then ~/.ssh/id_ed25519, id_ecdsa */
	char *passphrase;   /* the key's passphrase (a secret's value), or NULL */
	char *host_key;	    /* pinned "SHA256:..." or NULL */
	int64_t connect_timeout_ms;
};
/*
 * Resolves an SSH target of plan with ~/.ssh/config ($HOME); passphrase is
 * the value of its passphrase_secret (or NULL). Release with
 * cd_ssh_dest_release().
 */
int cd_ssh_dest_from_target(const struct cd_target *t, const char *passphrase,
	struct cd_ssh_dest *ret, struct cd_error *err);
void cd_ssh_dest_release(struct cd_ssh_dest *d);

struct cd_ssh_session;
/*
 * Connects before the deadline, checks the host key (strict: unknown,
 * changed and revoked keys are refused before authenticating, with
 * CD_EFAIL and err->sys set to CD_SSH_EHOSTKEY) and authenticates. *ret is
 * closed with cd_ssh_close().
 */
#define CD_SSH_EHOSTKEY 4242
int cd_ssh_connect(const struct cd_ssh_dest *dest, struct cd_ssh_session **ret,
	struct cd_error *err);
void cd_ssh_close(struct cd_ssh_session *s);
/* The host key's fingerprint, "SHA256:...". */
const char *cd_ssh_session_fingerprint(const struct cd_ssh_session *s);
const char *cd_ssh_session_name(const struct cd_ssh_session *s);

/*
 * Fetches host:port's key (no authentication) and appends it to the
 * known_hosts file trust records into (see cd_ssh_set_known_hosts) unless a
 * key for it is there already. *ret_fp (malloc'd) is its fingerprint,
 * *ret_added 1 when it was written. A changed key is refused (CD_EFAIL).
 */
int cd_ssh_trust(const struct cd_ssh_dest *dest, char **ret_fp, int *ret_added,
	struct cd_error *err);

/* ---- commands ---- */

/*
 * Where a command's stdin comes from, chunk by chunk: the bytes put in buf
 * (at most len), 0 at the end, or a negative error with err set.
 */
typedef long (*cd_ssh_source_fn)(void *opaque, void *buf, size_t len, struct cd_error *err);
/* Where a command's stdout goes, chunk by chunk: 0, or a negative error with err set. */
typedef int (*cd_ssh_sink_fn)(void *opaque, const void *data, size_t len, struct cd_error *err);

struct cd_ssh_exec_opts {
	const char *stdin_data; /* written to the command's stdin, then EOF; never on its command line */
	/*
	 * Or stdin pulled from a source as the command takes it (stdin_data is
	 * then ignored), so no more than a chunk is held however long it is.
	 */
	cd_ssh_source_fn stdin_source;
	void *stdin_opaque;
	/* stdout handed to a sink as it comes, instead of kept in out and logged. */
	cd_ssh_sink_fn stdout_sink;
	void *stdout_opaque;
	int64_t timeout_ms;	/* the remote process group is killed when it passes */
	size_t max;		/* bytes of each stream kept in out/eout; the rest streams to the log only */
	const char *label;	/* prefix of streamed lines; NULL: no streaming */
};
/*
 * Runs command (one shell command line, already quoted) on the host.
 * *ret_status is its exit code, or 128+signal. Returns 0 when it ran to its
 * end, CD_EFAIL on timeout (the process group was killed), CD_EREMOTE when
 * the connection failed. A source or sink error also kills the process
 * group and is returned as it is. A command that exits before taking all
 * of its stdin is no error: its exit status decides.
 */
int cd_ssh_exec(struct cd_ssh_session *s, const char *command, const struct cd_ssh_exec_opts *o,
	struct cd_buf *out, struct cd_buf *eout, int *ret_status, struct cd_error *err);

/* ---- files (SFTP with OpenSSH's extensions; no remote shell) ---- */

/* err->sys of an operation the server refused: its SFTP status code, e.g. this one. */
#define CD_SSH_FX_PERMISSION_DENIED 3

enum cd_ssh_file_type { CD_SSH_FILE_OTHER, CD_SSH_FILE_REGULAR, CD_SSH_FILE_DIR, CD_SSH_FILE_SYMLINK };
struct cd_ssh_file_attrs {
	unsigned mode;	/* permission bits (07777) */
	int64_t uid;	/* -1: unknown, or leave as it is */
	int64_t gid;
	int64_t size;
	int64_t mtime;	/* seconds since the epoch; 0 when the server did not say */
	enum cd_ssh_file_type type; /* of what stat found (OTHER when the server did not say) */
};
/*
 * lstat: 1 and *ret (may be NULL) when path exists on the host, 0 when it
 * does not, or a negative error.
 */
int cd_ssh_sftp_stat(struct cd_ssh_session *s, const char *path, struct cd_ssh_file_attrs *ret,
	struct cd_error *err);

/* Pulls a file's bytes: up to len into buf, 0 at the end, < 0 an error (err set). */
typedef long (*cd_ssh_source_fn)(void *opaque, void *buf, size_t len, struct cd_error *err);
/* Takes a file's bytes; < 0 stops the transfer with that error (err set). */
typedef int (*cd_ssh_sink_fn)(void *opaque, const void *data, size_t len, struct cd_error *err);

/*
 * Creates path exclusively (mode 0600 meanwhile), writes data, gives it
 * attrs' owner (uid, gid; -1 leaves one as it is) and mode, fsyncs and
 * closes it. On failure a partial file may be left under path.
 */
int cd_ssh_sftp_write(struct cd_ssh_session *s, const char *path, const void *data, size_t len,
	const struct cd_ssh_file_attrs *attrs, struct cd_error *err);
/*
 * The same with the bytes pulled from source until it returns 0, with
 * several writes in flight and memory bounded by them.
 */
int cd_ssh_sftp_write_from(struct cd_ssh_session *s, const char *path, cd_ssh_source_fn source,
	void *opaque, const struct cd_ssh_file_attrs *attrs, struct cd_error *err);
/* Reads the whole file into ret (reset first), failing with CD_ETOOBIG past max bytes. */
int cd_ssh_sftp_read(struct cd_ssh_session *s, const char *path, size_t max, struct cd_buf *ret,
	struct cd_error *err);
/*
 * A file read in order with several reads in flight (memory bounded by
 * them): open, read until it returns 0, close. No other SFTP operation may
 * use the session while a reader is open.
 */
struct cd_ssh_sftp_reader;
int cd_ssh_sftp_reader_open(struct cd_ssh_session *s, const char *path,
	struct cd_ssh_sftp_reader **ret, struct cd_error *err);
/* Up to len bytes into buf: their count, 0 at the end of the file, or < 0 (err set). */
long cd_ssh_sftp_reader_read(struct cd_ssh_sftp_reader *rd, void *buf, size_t len,
	struct cd_error *err);
/* Closes the file (after an error too); NULL is a no-op. */
void cd_ssh_sftp_reader_close(struct cd_ssh_sftp_reader *rd);
/* The whole file pushed to sink, chunk by chunk. */
int cd_ssh_sftp_read_to(struct cd_ssh_session *s, const char *path, cd_ssh_sink_fn sink,
	void *opaque, struct cd_error *err);

/* A directory's entry: its name (no '/') and lstat attributes. */
struct cd_ssh_dir_entry {
	char *name;
	struct cd_ssh_file_attrs attrs;
};
/*
 * The entries of directory path but "." and "..", sorted by name (bytewise)
 * so that what is built from them is reproducible. Free with
 * cd_ssh_dir_entries_free().
 */
int cd_ssh_sftp_list(struct cd_ssh_session *s, const char *path, struct cd_ssh_dir_entry **ret,
	size_t *ret_n, struct cd_error *err);
void cd_ssh_dir_entries_free(struct cd_ssh_dir_entry *entries, size_t n);
/* The target of symlink path, malloc'd into *ret. */
int cd_ssh_sftp_readlink(struct cd_ssh_session *s, const char *path, char **ret,
	struct cd_error *err);
/* Makes directory path with mode (before the umask of the server); its parent must exist. */
int cd_ssh_sftp_mkdir(struct cd_ssh_session *s, const char *path, unsigned mode,
	struct cd_error *err);
/* Makes a symlink at linkpath pointing to target; linkpath must not exist. */
int cd_ssh_sftp_symlink(struct cd_ssh_session *s, const char *target, const char *linkpath,
	struct cd_error *err);
/*
 * Gives path (following a symlink) attrs' owner (uid, gid; -1 leaves one as
 * it is) and then mode (a chown clears set-id bits).
 */
int cd_ssh_sftp_setstat(struct cd_ssh_session *s, const char *path,
	const struct cd_ssh_file_attrs *attrs, struct cd_error *err);
/* A hard link to from named to (hardlink@openssh.com); to must not exist. */
int cd_ssh_sftp_link(struct cd_ssh_session *s, const char *from, const char *to,
	struct cd_error *err);
/* Renames from over to in one step, replacing it (posix-rename@openssh.com). */
int cd_ssh_sftp_rename(struct cd_ssh_session *s, const char *from, const char *to,
	struct cd_error *err);
/* Removes a file; one that is not there is no error. */
int cd_ssh_sftp_remove(struct cd_ssh_session *s, const char *path, struct cd_error *err);
/*
 * The uid and gid of an owner "user[:group]" on the host: numbers as they
 * are, names from its /etc/passwd and /etc/group (read over SFTP). -1 for a
 * part that is not given; "user:" means the user's login group.
 */
int cd_ssh_sftp_owner(struct cd_ssh_session *s, const char *owner, int64_t *ret_uid,
	int64_t *ret_gid, struct cd_error *err);
/*
 * The same from the text of a passwd and a group file (pure). A name not
 * found fails with CD_ENOTFOUND naming it.
 */
int cd_ssh_owner_lookup(const char *passwd, const char *group, const char *owner,
	int64_t *ret_uid, int64_t *ret_gid, struct cd_error *err);
/*
 * The name of the first line of a passwd or group file's text whose id
 * (third field) is id, malloc'd; NULL when there is none (pure).
 */
char *cd_ssh_owner_name(const char *text, int64_t id);

/* ---- fan-out arithmetic (pure) ---- */

/* Hosts per batch for serial (count, or pct of n when count < 0; both < 0: all). At least 1. */
size_t cd_ssh_batch_size(size_t n, int64_t count, double pct);
/* Failures allowed before the roll-out stops (count, or floor(pct of n)); both < 0: unlimited. */
size_t cd_ssh_fail_budget(size_t n, int64_t count, double pct);

/* ---- a run's sessions ---- */

/*
 * The session of SSH target `target` for this run: connected on first use,
 * then kept; the caller has it alone until cd_ssh_run_release().
 */
int cd_ssh_run_acquire(struct cd_run *run, const char *target, struct cd_ssh_session **ret,
	struct cd_error *err);
void cd_ssh_run_release(struct cd_run *run, struct cd_ssh_session *s);
/* Frees the run's pool (cd_run_free). */
void cd_ssh_pool_free(struct cd_ssh_pool *pool);
/*
 * Connects every SSH target the plan's steps and services reach, all at
 * once, so an untrusted host stops the run before anything changes.
 */
int cd_ssh_run_connect_all(struct cd_run *run, struct cd_error *err);
/*
 * Runs one command line on an SSH target of the run (secrets only in
 * stdin_data), streaming its output to the log prefixed by the host.
 */
int cd_ssh_run_exec(struct cd_run *run, const char *target, const char *command,
	const char *stdin_data, int64_t timeout_ms, size_t max, struct cd_buf *out,
	struct cd_buf *eout, int *ret_status, struct cd_error *err);

/*
 * Fan-out over a target: a single SSH host calls fn once; a group calls it
 * for each member in batches (serial), at most `parallel` at a time, and
 * stops starting batches once more hosts failed than max_fail allows. A
 * line per host goes to the log; summary gets "5 hosts ok" or the failures.
 * Returns 0 when every host succeeded, else CD_EFAIL naming the failed hosts.
 */
typedef int (*cd_ssh_host_fn)(void *ctx, const char *host_target, struct cd_buf *message,
	struct cd_error *err);
int cd_ssh_fanout(struct cd_run *run, const char *target, cd_ssh_host_fn fn, void *ctx,
	struct cd_buf *summary, struct cd_error *err);
/* 1 when target names an SSH host or a group of them. */
int cd_ssh_is_remote(const struct cd_plan *plan, const char *target);

/* A Docker transport over `docker system dial-stdio` on an SSH target. */
int cd_ssh_docker_transport(struct cd_run *run, const char *target,
	struct cd_docker_transport *ret, struct cd_error *err);

#endif
