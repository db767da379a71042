/*
 * version: the program's version and the versions of the libraries it was
 * built with, which matter when a bug report arrives.
 */
#include <archive.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <git2.h>
#include <libssh2.h>
#include <yaml.h>

#include "cmd.h"
#include "config.h"
#include "corpdeploy/log.h"

static int cmd_version_exec(int argc, char **argv)
{
	int major, minor, rev;
	(void)argv;
	if (argc > 1)
		return cd_cmd_usage_error(&cd_cmd_version_entry, "takes no arguments");
	git_libgit2_version(&major, &minor, &rev);
	cd_out("corpdeploy %s\n", CD_VERSION);
	cd_out("plan format %d; Docker Engine API %s\n", 1, CD_DOCKER_API_VERSION);
	cd_out("libyaml %s, libcurl %s, libssh2 %s, cJSON %s, %s, libgit2 %d.%d.%d\n",
		yaml_get_version_string(), curl_version_info(CURLVERSION_NOW)->version,
		libssh2_version(0), cJSON_Version(), archive_version_string(), major, minor, rev);
	return CD_EXIT_OK;
}

const struct cd_cmd_entry cd_cmd_version_entry = {
	.name = "version",
	.usage = "",
	.summary = "Print the version of corpdeploy and of its libraries.",
	.exec = cmd_version_exec,
};
