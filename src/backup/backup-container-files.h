/* backup: files inside a service's container (backup-container-files.c). */
#ifndef CD_BACKUP_CONTAINER_FILES_H
#define CD_BACKUP_CONTAINER_FILES_H

#include "backup-internal.h"

/* backup_place_container's add_path: the tree at path, streamed out of the engine. */
int backup_container_add_path(struct cd_run *run, const struct cd_step *step, const char *path,
	struct cd_backup_writer *w, struct cd_error *err);
/* backup_place_container's restore_files: staged by PUT, renamed by one exec of sh and mv. */
int backup_container_restore_files(struct cd_run *run, const struct cd_step *step,
	const char *archive, size_t *ret_count, struct cd_error *err);

#endif
