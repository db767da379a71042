/*
 * The release id from the plan's git repository: HEAD's abbreviated id, and
 * "-dirty" when tracked files differ from it. The only user of libgit2.
 */
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corpdeploy/vcs.h"

static int git_fail(struct cd_error *err, enum cd_errcode code, const char *what)
{
	const git_error *e = git_error_last();
	return cd_error_set(err, code, "%s: %s", what, e && e->message ? e->message : "unknown error");
}

int cd_vcs_describe(const char *dir, struct cd_vcs_info *ret, struct cd_error *err)
{
	git_repository *repo = NULL;
	git_reference *head = NULL;
	git_object *commit = NULL;
	git_status_list *status = NULL;
	git_buf abbrev = { 0 };
	int r = 0;

	memset(ret, 0, sizeof(*ret));
	git_libgit2_init();
	if (git_repository_open_ext(&repo, dir, 0, NULL) < 0) {
		r = cd_error_set(err, CD_ENOTFOUND, "'%s' is not inside a git repository", dir);
		goto done;
	}
	if (git_repository_head_unborn(repo) == 1) {
		r = cd_error_set(err, CD_ENOTFOUND, "the repository of '%s' has no commit yet", dir);
		goto done;
	}
	if (git_repository_head(&head, repo) < 0) {
		r = git_fail(err, CD_EFAIL, "cannot read HEAD");
		goto done;
	}
	if (git_reference_peel(&commit, head, GIT_OBJECT_COMMIT) < 0) {
		r = git_fail(err, CD_EFAIL, "HEAD is not a commit");
		goto done;
	}
	git_oid_tostr(ret->commit, sizeof(ret->commit), git_object_id(commit));
	if (git_object_short_id(&abbrev, commit) < 0) {
		r = git_fail(err, CD_EFAIL, "cannot abbreviate HEAD");
		goto done;
	}
	snprintf(ret->short_id, sizeof(ret->short_id), "%s", abbrev.ptr);
	if (git_reference_is_branch(head))
		ret->branch = cd_xstrdup(git_reference_shorthand(head));

	git_status_options opts = GIT_STATUS_OPTIONS_INIT;
	opts.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
	opts.flags = GIT_STATUS_OPT_EXCLUDE_SUBMODULES;
	if (git_status_list_new(&status, repo, &opts) < 0) {
		r = git_fail(err, CD_EFAIL, "cannot read the working tree's status");
		goto done;
	}
	ret->dirty = git_status_list_entrycount(status) > 0;
done:
	if (r < 0)
		cd_vcs_info_release(ret);
	git_status_list_free(status);
	git_buf_dispose(&abbrev);
	git_object_free(commit);
	git_reference_free(head);
	git_repository_free(repo);
	git_libgit2_shutdown();
	return r;
}

void cd_vcs_info_release(struct cd_vcs_info *info)
{
	free(info->branch);
	info->branch = NULL;
}

char *cd_vcs_release_id(const struct cd_vcs_info *info)
{
	return cd_xasprintf("%s%s", info->short_id, info->dirty ? "-dirty" : "");
}
