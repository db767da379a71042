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

/* Writing. */
struct cd_backup_writer;

/*
 * Creates the archive at path (mode 0600; written to path.tmp and renamed
 * by close). release and run_id go into the manifest.
 */
int cd_backup_writer_open(const char *path, const char *release, const char *run_id,
	struct cd_backup_writer **ret, struct cd_error *err);
/* Adds a file, symlink or directory (recursively) at its absolute path. */
int cd_backup_add_path(struct cd_backup_writer *w, const char *path, struct cd_error *err);
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

/* Where a stream goes when read back: a callback taking each chunk in order. */
typedef int (*cd_backup_sink)(void *opaque, const void *data, size_t len, struct cd_error *err);
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
typedef long (*cd_backup_source)(void *opaque, void *buf, size_t len, struct cd_error *err);
int cd_backup_proc_stream(const char *const *argv, const char *const *env,
	cd_backup_source source, void *source_opaque, cd_backup_sink sink, void *sink_opaque,
	int64_t timeout_ms, struct cd_buf *errout, int *ret_status, struct cd_error *err);

/*
 * Restores the database dump stored as stream name in the archive by
 * piping it into argv (with env). Verifies the archive first.
 */
int cd_backup_restore_stream_cmd(const char *path, const char *name, const char *const *argv,
	const char *const *env, int64_t timeout_ms, struct cd_error *err);

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
