/*
 * history: what a plan's state directory remembers between runs. The
 * releases that were deployed (the last N, with each service's container
 * specification and image id, so that any of them can be created again),
 * the runs (their journals), and the run a crash left unfinished.
 *
 *   <state>/releases.json    kept releases, oldest first (0600)
 *   <state>/unfinished       the id of a run that has not ended (0600)
 *   <state>/runs/<run-id>/   journal, timing.log, reports (0700)
 */
#ifndef CORPDEPLOY_HISTORY_H
#define CORPDEPLOY_HISTORY_H

#include "corpdeploy/core.h"

struct cJSON;
struct cd_run;
struct cd_docker;

#define CD_HISTORY_KEEP_DEFAULT 5

/* The kept releases: a JSON array (empty when there is none). *ret is the caller's. */
int cd_history_load(const char *state_dir, struct cJSON **ret, struct cd_error *err);
/* Writes the releases atomically (temp file, fsync, rename), mode 0600. */
int cd_history_save(const char *state_dir, const struct cJSON *releases, struct cd_error *err);
/* The newest kept entry of release, or NULL. */
const struct cJSON *cd_history_find(const struct cJSON *releases, const char *release);

/*
 * After a successful run: records the run's release with every service's
 * container (replaced ones from the run's undo records, unchanged ones from
 * the release before), keeps the newest keep releases, and tags the images
 * of kept releases corpdeploy-keep/<plan>-<service>:<release> so that an
 * image prune cannot take a rollback target away. An unchanged release
 * changes nothing.
 */
int cd_history_record(struct cd_run *run, const char *state_dir, struct cd_error *err);

/* The unfinished-run marker: set before a run journals anything, cleared when it ends. */
int cd_history_set_unfinished(const char *state_dir, const char *run_id, struct cd_error *err);
void cd_history_clear_unfinished(const char *state_dir);
/* The id of the unfinished run (malloc'd) or NULL. */
char *cd_history_unfinished(const char *state_dir);

#endif
