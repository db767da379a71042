/* backup: files inside a service's container, backed up and put back (two files). */
#ifndef CD_BACKUP_CONTAINER_FILES_H
#define CD_BACKUP_CONTAINER_FILES_H

#include "backup-internal.h"

/* The blocks a tar passes through a socketpair in. */
#define PIPE_BLOCK 65536

/* backup_place_container's add_path: the tree at path, streamed out of the engine. */
int backup_container_add_path(struct cd_run *run, const struct cd_step *step, const char *path,
	struct cd_backup_writer *w, struct cd_error *err);
/* The time one archive request may take: the step's timeout, else an hour. */
int64_t backup_container_files_timeout(const struct cd_step *step);
/* Sends all of data on a socket; SIGPIPE never, EPIPE noted in *peer_gone. */
int backup_send_all(int fd, const void *data, size_t len, int *peer_gone, struct cd_error *err);
/* backup_place_container's restore_files: staged by PUT, renamed by one exec of sh and mv. */
int backup_container_restore_files(struct cd_run *run, const struct cd_step *step,
	const char *archive, size_t *ret_count, struct cd_error *err);

#endif
