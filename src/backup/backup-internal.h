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
struct cd_run;
struct cd_step;
struct cd_step_backup;

/* "K=V" strings of a backup step's env, NULL-terminated; backup_strv_free(). */
char **backup_env_strv(const struct cd_step_backup *b);
void backup_strv_free(char **v);
/* argv of a command (sh -c for a shell string), NULL-terminated; free() the array only. */
const char **backup_cmd_argv(const struct cd_cmd *c);
/* 0, or CD_EFAIL naming a place (a container to restore into, an SSH host) not reached yet. */
int backup_check_place(const struct cd_run *run, const struct cd_step *step, const char *service,
	int restoring, struct cd_error *err);

/*
 * Uploads a run's archive at path to the plan's S3 storage, reads its size
 * and checksum back, and keeps the newest keep runs' copies of that step
 * there. *ret: {"url":s,"verified":bool}.
 */
int backup_s3_upload_step(struct cd_run *run, const char *path,
	const char *sha256, uint64_t bytes, int64_t keep, struct cJSON **ret, struct cd_error *err);
#endif
