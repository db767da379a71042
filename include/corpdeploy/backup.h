/*
 * backup: a run's backup archives and what puts them back.
 *
 * An archive is a zstd-compressed pax tar (libarchive), written in one pass
 * and never held in memory: files under "files/<absolute path>", streams
 * (database dumps) as numbered parts "<name>.part000000" of at most
 * CD_BACKUP_PART_MAX bytes each, and last a MANIFEST.json naming every entry
 * with its size, mode, owner and sha256, the release and the run. The
 * archive's own sha256 is computed from the bytes as they are written.
 *
 * Restoring verifies every checksum first, reading the whole archive, and
 * touches nothing unless all of them match. Files are then staged next to
 * their destination and renamed over it, so each file is either the old or
 * the restored one; a stream is fed to a restore command's stdin.
 */
#ifndef CORPDEPLOY_BACKUP_H
#define CORPDEPLOY_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#include "corpdeploy/core.h"

struct cJSON;
struct cd_plan;
struct cd_run;
struct cd_step;
struct cd_step_ctx;

#define CD_BACKUP_PART_MAX (4u << 20)
#define CD_BACKUP_MANIFEST "MANIFEST.json"

/*
 * Data passed along in chunks. A sink takes each chunk in order (< 0 with
 * err set stops); a source fills buf with up to len bytes and returns how
 * many, 0 at its end, or a negative CD_E* with err set.
 */
typedef int (*cd_backup_sink)(void *opaque, const void *data, size_t len, struct cd_error *err);
typedef long (*cd_backup_source)(void *opaque, void *buf, size_t len, struct cd_error *err);

/*
 * One entry of a backup as it is at its place (this machine, a container,
 * an SSH host): what cd_backup_add_entry() records and what a restore puts
 * back (cd_backup_fs).
 */
struct cd_backup_entry {
	const char *path;	   /* absolute, at its place */
	char type;		   /* 'f' file, 'd' directory, 'l' symlink */
	unsigned mode;		   /* the 07777 bits */
	int64_t uid, gid;	   /* -1: unknown */
	const char *owner, *group; /* names, or NULL */
	uint64_t size;		   /* of a file */
	int64_t mtime;		   /* seconds since the epoch */
	const char *target;	   /* of a symlink */
};

/* Writing. */
struct cd_backup_writer;

/*
 * Creates the archive at path (mode 0600; written to path.tmp and renamed
 * by close). release and run_id go into the manifest.
 */
int cd_backup_writer_open(const char *path, const char *release, const char *run_id,
	struct cd_backup_writer **ret, struct cd_error *err);
/* Adds a file, symlink or directory (recursively) at its absolute path on this machine. */
int cd_backup_add_path(struct cd_backup_writer *w, const char *path, struct cd_error *err);
/*
 * Adds one entry from elsewhere. A file's bytes are pulled from source,
 * which must give exactly e->size of them (more or fewer is an error);
 * source is not called for directories and symlinks.
 */
int cd_backup_add_entry(struct cd_backup_writer *w, const struct cd_backup_entry *e,
	cd_backup_source source, void *opaque, struct cd_error *err);
/* A stream of unknown length: begin, write any number of times, end. */
int cd_backup_stream_begin(struct cd_backup_writer *w, const char *name, struct cd_error *err);
int cd_backup_stream_write(struct cd_backup_writer *w, const void *data, size_t len,
	struct cd_error *err);
int cd_backup_stream_end(struct cd_backup_writer *w, struct cd_error *err);
/* Adds a key to the manifest's top level (the writer takes value). */
void cd_backup_manifest_set(struct cd_backup_writer *w, const char *key, struct cJSON *value);

struct cd_backup_summary {
	uint64_t bytes;	    /* of the archive file */
	char sha256[65];    /* of the archive file */
	size_t entries;	    /* in the manifest */
	uint64_t stream_bytes; /* of the streams, uncompressed */
};
/* Writes the manifest, syncs and renames into place. Frees w in any case. */
int cd_backup_writer_close(struct cd_backup_writer *w, struct cd_backup_summary *ret,
	struct cd_error *err);
/* Drops an unfinished archive (its temporary file). NULL is fine. */
void cd_backup_writer_abort(struct cd_backup_writer *w);

/* Reading. */

/*
 * Reads the whole archive, checks every entry against its manifest and
 * returns the manifest (*ret, owned by the caller, cJSON_Delete) when all
 * of them match. CD_EFAIL names the first entry that does not.
 */
int cd_backup_verify(const char *path, struct cJSON **ret, struct cd_error *err);
/* sha256 of a file, 64 hex digits. */
int cd_backup_file_sha256(const char *path, char hex[65], uint64_t *ret_size, struct cd_error *err);

/*
 * Verifies, then restores every file and directory of the archive to its
 * path: staged beside the destination, then renamed over it. Nothing is
 * touched when verification fails. *ret_count: files restored (may be NULL).
 */
int cd_backup_restore_files(const char *path, size_t *ret_count, struct cd_error *err);

/*
 * Where restored files are written: the operations cd_backup_restore_files_to()
 * needs of a place. Each returns 0 or a negative CD_E* with err set.
 */
struct cd_backup_fs {
	void *ctx;
	/* 1 when path is a directory there, 0 when it is not or does not exist. */
	int (*is_dir)(void *ctx, const char *path, struct cd_error *err);
	/* Creates the directory path with mode, and its missing parents (0755). */
	int (*mkdirs)(void *ctx, const char *path, unsigned mode, struct cd_error *err);
	/*
	 * Creates the file tmp (it must not exist) with e's mode and owner,
	 * writes e->size bytes pulled from source, and syncs it.
	 */
	int (*stage_file)(void *ctx, const char *tmp, const struct cd_backup_entry *e,
		cd_backup_source source, void *opaque, struct cd_error *err);
	/* Creates the symlink tmp to e->target with e's owner. */
	int (*stage_symlink)(void *ctx, const char *tmp, const struct cd_backup_entry *e,
		struct cd_error *err);
	/* Renames tmp[i] over final[i], each in one step, in order; *ret_done: how many were. */
	int (*commit)(void *ctx, char *const *tmp, char *const *final, size_t n, size_t *ret_done,
		struct cd_error *err);
	/* Removes what was staged at tmp, quietly (a cleanup). */
	void (*discard)(void *ctx, const char *tmp);
	/* Gives the existing directory e->path e's mode and owner. */
	int (*dir_attrs)(void *ctx, const struct cd_backup_entry *e, struct cd_error *err);
};
/*
 * cd_backup_restore_files() at any place: verifies, creates missing
 * directories, stages every file and symlink beside its destination
 * (".NAME.cd-restore-PID"), and only when all are staged commits them; a
 * failure before that discards what was staged. Directory modes last.
 */
int cd_backup_restore_files_to(const char *path, const struct cd_backup_fs *fs,
	size_t *ret_count, struct cd_error *err);

/*
 * A stream read back on demand: verifies the archive, then opens its
 * stream name. cd_backup_stream_read is a cd_backup_source (opaque: the
 * reader); the sha256 of each part is checked as it ends. Close in any case.
 */
struct cd_backup_stream_reader;
int cd_backup_stream_open(const char *path, const char *name, struct cd_backup_stream_reader **ret,
	struct cd_error *err);
long cd_backup_stream_read(void *reader, void *buf, size_t len, struct cd_error *err);
void cd_backup_stream_close(struct cd_backup_stream_reader *r);

/* Feeds the stream called name to sink, checking its sha256 at the end (verify first anyway). */
int cd_backup_read_stream(const char *path, const char *name, cd_backup_sink sink, void *opaque,
	struct cd_error *err);

/*
 * Local processes with streamed stdio. Runs argv with extra env; when
 * source is set, stdin is fed from it (it returns bytes written to buf, 0 at
 * the end, or a negative CD_E*); when sink is set, stdout goes to it. stderr
 * is kept in errout (capped at 64 KiB). Returns 0 when it ran, with its
 * exit status in *ret_status; a failing source or sink ends the child.
 */
int cd_backup_proc_stream(const char *const *argv, const char *const *env,
	cd_backup_source source, void *source_opaque, cd_backup_sink sink, void *sink_opaque,
	int64_t timeout_ms, struct cd_buf *errout, int *ret_status, struct cd_error *err);

/* Runs and the files of a plan's backups. */

/* <state dir>/runs/<run_id>, malloc'd. */
char *cd_backup_run_dir(const struct cd_plan *plan, const char *run_id);
/* The archive a backup step writes in a run: <run dir>/backup-<step>.tar.zst, malloc'd. */
char *cd_backup_archive_path(const struct cd_plan *plan, const char *run_id, const char *step);
/*
 * Keeps the newest keep archives of step among the plan's runs and removes
 * the others. *ret_removed: how many went (may be NULL).
 */
int cd_backup_prune(const struct cd_plan *plan, const char *step, int64_t keep,
	size_t *ret_removed, struct cd_error *err);

/*
 * Off-site storage (the plan's backup_storage), S3 with SigV4. Keys of a
 * run's archives: <prefix>/<run id>/<archive file name>.
 */
struct cd_backup_s3 {
	char *base; /* endpoint/bucket */
	char *prefix;
	char *sigv4;
	char *access_key, *secret_key;
};
struct cd_backup_object {
	char *key;
	char *modified; /* ISO 8601 as the storage says */
	uint64_t size;
};
/* Fails with CD_EUSAGE when the plan has no storage or a key is missing. */
int cd_backup_s3_open(const struct cd_plan *plan, const char *access_key, const char *secret_key,
	struct cd_backup_s3 *ret, struct cd_error *err);
void cd_backup_s3_close(struct cd_backup_s3 *s3);
char *cd_backup_s3_key(const struct cd_backup_s3 *s3, const char *run_id, const char *file);
int cd_backup_s3_put(const struct cd_backup_s3 *s3, const char *key, const char *path,
	const char *sha256, uint64_t bytes, struct cd_error *err);
/* Reads the object back whole: 0 when its size and sha256 are the ones given. */
int cd_backup_s3_verify(const struct cd_backup_s3 *s3, const char *key, const char *sha256,
	uint64_t bytes, struct cd_error *err);
int cd_backup_s3_delete(const struct cd_backup_s3 *s3, const char *key, struct cd_error *err);
/* Every object under the prefix. *ret: cd_backup_objects_free(). */
int cd_backup_s3_list(const struct cd_backup_s3 *s3, struct cd_backup_object **ret, size_t *ret_n,
	struct cd_error *err);
void cd_backup_objects_free(struct cd_backup_object *v, size_t n);
/* Keeps the newest keep objects named file (one per run) and deletes the rest. */
int cd_backup_s3_prune(const struct cd_backup_s3 *s3, const char *file, int64_t keep,
	size_t *ret_removed, struct cd_error *err);

/*
 * Puts back what archive holds for the backup step: its files where they
 * came from (this machine, the service's container or the step's SSH
 * target; *ret_files how many, may be NULL), or its dump through the step's
 * restore command run in the same place. Verifies first; nothing is touched
 * when that fails.
 */
int cd_backup_put_back(struct cd_run *run, const struct cd_step *step, const char *archive,
	int64_t timeout_ms, size_t *ret_files, struct cd_error *err);

/* Step kinds: backup and restore (step-backup.c, step-restore.c use these). */
int cd_backup_step_apply(struct cd_step_ctx *ctx, struct cd_error *err);
int cd_backup_restore_step_apply(struct cd_step_ctx *ctx, struct cd_error *err);

/*
 * Migrations (run steps with `migration:`). The undo data of a migration:
 * the version before, the down command's record (as the run step kind
 * writes it, or NULL) and where this run's database dump is. Owned by the
 * caller until pushed.
 */
struct cJSON *cd_migration_undo_data(struct cd_step_ctx *ctx, const char *version_before,
	struct cJSON *down_record);
/*
 * Takes a migration back: runs down (through run_down, the run kind's
 * command undo) when the data has one; when it fails or there is none,
 * restores the database from the run's dump. Records which one in the
 * step's details ("rollback": "down" or "restore") and as a progress note.
 */
typedef int (*cd_migration_down_fn)(struct cd_run *run, const struct cJSON *down,
	struct cd_error *err);
int cd_migration_undo(struct cd_run *run, const struct cJSON *data, cd_migration_down_fn run_down,
	struct cd_error *err);
/* The details of a migration run step: {"exit":n,"migration":{...,"rollback":"none"}}. */
struct cJSON *cd_migration_details(int exit_code, const char *version_before,
	const char *version_after);
/* The first word of the last non-empty line of a command's output; malloc'd. */
char *cd_migration_version(const char *output);
/*
 * Fills ${previous.migration} (and ${previous.migration:-default}, whose
 * default stands in when version_before is empty) in the strings of the
 * down command's "argv" array, in place.
 */
void cd_migration_resolve_previous(struct cJSON *down_record, const char *version_before);

#endif
