/* backup: what the module's files share. */
#ifndef CD_BACKUP_INTERNAL_H
#define CD_BACKUP_INTERNAL_H

#include "corpdeploy/backup.h"

struct archive;

/* Opens path for reading (zstd, tar). *ret: archive_read_free(). */
int backup_read_open(const char *path, struct archive **ret, struct cd_error *err);
/* The manifest entry whose field equals value, or NULL. */
const struct cJSON *backup_manifest_find(const struct cJSON *manifest, const char *field,
	const char *value);



#include <stdint.h>

struct cJSON;
struct cd_cmd;
struct cd_docker;
struct cd_run;
struct cd_step;
struct cd_step_backup;

/* "K=V" strings of a backup step's env, NULL-terminated; backup_strv_free(). */
char **backup_env_strv(const struct cd_step_backup *b);
void backup_strv_free(char **v);
/* argv of a command (sh -c for a shell string), NULL-terminated; free() the array only. */
const char **backup_cmd_argv(const struct cd_cmd *c);
/* The end of a dump or restore command's stderr that its error (and the log) quote. */
#define BACKUP_STDERR_TAIL 400
/* CD_EREMOTE "WHAT command 'ARGV0' exited with STATUS: the tail of eout (its stderr)". */
int backup_command_failed(const char *what, const char *argv0, int status, const struct cd_buf *eout,
	struct cd_error *err);

/*
 * Where a backup step's data lives, and how each place is reached: this
 * machine (backup-place.c), the container of the step's service
 * (backup-container.c: exec and the engine's archive endpoint) or the
 * step's SSH target (backup-ssh.c: exec channels and SFTP). Each operation
 * returns 0 or a negative CD_E* with err set.
 */
struct backup_place {
	const char *name; /* "here", "container", "ssh": for messages */
	/*
	 * Runs the dump command argv (with env) there, its stdout into w's open
	 * stream; stderr's tail into eout; *ret_status its exit status.
	 */
	int (*dump)(struct cd_run *run, const struct cd_step *step, const char *const *argv,
		const char *const *env, int64_t timeout_ms, struct cd_backup_writer *w,
		struct cd_buf *eout, int *ret_status, struct cd_error *err);
	/* Runs the restore command argv there, its stdin pulled from the stream reader rd. */
	int (*restore_dump)(struct cd_run *run, const struct cd_step *step, const char *const *argv,
		const char *const *env, int64_t timeout_ms, struct cd_backup_stream_reader *rd,
		struct cd_buf *eout, int *ret_status, struct cd_error *err);
	/* Adds the file, symlink or directory tree at path (absolute there) to w. */
	int (*add_path)(struct cd_run *run, const struct cd_step *step, const char *path,
		struct cd_backup_writer *w, struct cd_error *err);
	/* cd_backup_restore_files_to() with the place's cd_backup_fs. */
	int (*restore_files)(struct cd_run *run, const struct cd_step *step, const char *archive,
		size_t *ret_count, struct cd_error *err);
};
extern const struct backup_place backup_place_here;
extern const struct backup_place backup_place_container;
extern const struct backup_place backup_place_ssh;
/* The engine of the step's service and the name of its container (*ret_name: free()). */
int backup_service_container(struct cd_run *run, const struct cd_step *step, struct cd_docker **ret,
	char **ret_name, struct cd_error *err);
/* 1 when the container of the step's service exists, 0 when it does not (yet). */
int backup_container_exists(struct cd_run *run, const struct cd_step *step, struct cd_error *err);
/* The SSH place's files, over SFTP (backup-ssh-files.c). */
int backup_ssh_add_path(struct cd_run *run, const struct cd_step *step, const char *path,
	struct cd_backup_writer *w, struct cd_error *err);
int backup_ssh_restore_files(struct cd_run *run, const struct cd_step *step, const char *archive,
	size_t *ret_count, struct cd_error *err);
/* The place of a backup step: its service's container, its SSH target, or here. */
const struct backup_place *backup_place_of(const struct cd_run *run, const struct cd_step *step);

/*
 * The command line running argv with env on an SSH host (every word quoted
 * for its shell, no value of env in it), and the header its stdin must
 * begin with: the variables, read and exported there before argv is exec'd
 * with the rest of stdin (backup-ssh-env.c says how). Without env, line is
 * argv alone and header empty. CD_EUSAGE for a name that is no variable's.
 */
int backup_ssh_command(const char *const *argv, const char *const *env, struct cd_buf *line,
	struct cd_buf *header, struct cd_error *err);

/*
 * Uploads a run's archive at path to the plan's S3 storage, reads its size
 * and checksum back, and keeps the newest keep runs' copies of that step
 * there. *ret: {"url":s,"verified":bool}.
 */
int backup_s3_upload_step(struct cd_run *run, const char *path,
	const char *sha256, uint64_t bytes, int64_t keep, struct cJSON **ret, struct cd_error *err);
#endif
