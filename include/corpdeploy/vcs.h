/*
 * vcs: what the plan's repository says about the release (libgit2).
 */
#ifndef CORPDEPLOY_VCS_H
#define CORPDEPLOY_VCS_H

#include "corpdeploy/core.h"

struct cd_vcs_info {
	char commit[41];     /* full hex id of HEAD */
	char short_id[16];   /* abbreviated, unique in the repository */
	int dirty;	     /* tracked files differ from HEAD (untracked files do not count) */
	char *branch;	     /* owned; NULL when HEAD is detached */
};

/*
 * Describes the repository that contains dir. Returns 0, CD_ENOTFOUND (not in
 * a repository, or no commit yet) or CD_EFAIL, with err set. Free with
 * cd_vcs_info_release().
 */
int cd_vcs_describe(const char *dir, struct cd_vcs_info *ret, struct cd_error *err);
void cd_vcs_info_release(struct cd_vcs_info *info);

/* The release id of `release: git`: the short id, with "-dirty" when modified. malloc'd. */
char *cd_vcs_release_id(const struct cd_vcs_info *info);

#endif
