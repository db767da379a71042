/*
 * ssh-config: the few ~/.ssh/config keywords corpdeploy honours where the
 * plan does not say (HostName, User, Port, IdentityFile), looked up the way
 * ssh(1) does: Host blocks in order, patterns with * ? and !negation, the
 * first value obtained for each keyword wins. Match blocks are skipped.
 */
#include <ctype.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "corpdeploy/ssh.h"

int cd_ssh_host_matches(const char *patterns, const char *host)
{
	int matched = 0;
	const char *p = patterns;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		const char *end = p;
		while (*end && *end != ' ' && *end != '\t' && *end != ',')
			end++;
		if (end == p)
			break;
		int negate = *p == '!';
		char *pat = cd_xstrndup(p + negate, (size_t)(end - p - negate));
		int m = fnmatch(pat, host, FNM_CASEFOLD) == 0;
		free(pat);
		if (m && negate)
			return 0; /* a negated match excludes the host whatever else matches */
		if (m)
			matched = 1;
		p = end;
	}
	return matched;
}

/* Splits "Keyword value", "Keyword=value", "Keyword = "value"" into its two parts. */
static int config_split(char *line, char **ret_key, char **ret_value)
{
	char *s = line;
	while (isspace((unsigned char)*s))
		s++;
	if (!*s || *s == '#')
		return 0;
	char *key = s;
	while (*s && !isspace((unsigned char)*s) && *s != '=')
		s++;
	char *key_end = s;
	while (isspace((unsigned char)*s))
		s++;
	if (*s == '=')
		s++;
	while (isspace((unsigned char)*s))
		s++;
	*key_end = '\0';
	char *value = s, *end = s + strlen(s);
	while (end > value && isspace((unsigned char)end[-1]))
		*--end = '\0';
	if (*value == '"' && end > value + 1 && end[-1] == '"') {
		value++;
		end[-1] = '\0';
	}
	*ret_key = key;
	*ret_value = value;
	return 1;
}

static char *expand_home(const char *path, const char *home)
{
	if (path[0] == '~' && path[1] == '/' && home)
		return cd_xasprintf("%s/%s", home, path + 2);
	return cd_xstrdup(path);
}

void cd_ssh_config_lookup(const char *text, const char *host, const char *home,
	struct cd_ssh_config *ret)
{
	memset(ret, 0, sizeof(*ret));
	char *copy = cd_xstrdup(text ? text : "");
	int active = 1; /* lines before the first Host apply to every host */
	char *save = NULL;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *key, *value;
		size_t len = strlen(line);
		if (len && line[len - 1] == '\r')
			line[len - 1] = '\0';
		if (!config_split(line, &key, &value))
			continue;
		if (strcasecmp(key, "Host") == 0) {
			active = cd_ssh_host_matches(value, host);
			continue;
		}
		if (strcasecmp(key, "Match") == 0) {
			active = 0;
			continue;
		}
		if (!active || !*value)
			continue;
		if (strcasecmp(key, "HostName") == 0 && !ret->hostname) {
			/* %h stands for the name given on the command line. */
			if (strcmp(value, "%h") == 0)
				ret->hostname = cd_xstrdup(host);
			else
				ret->hostname = cd_xstrdup(value);
		} else if (strcasecmp(key, "User") == 0 && !ret->user) {
			ret->user = cd_xstrdup(value);
		} else if (strcasecmp(key, "Port") == 0 && !ret->port) {
			char *end;
			long p = strtol(value, &end, 10);
			if (!*end && p > 0 && p < 65536)
				ret->port = (int)p;
		} else if (strcasecmp(key, "IdentityFile") == 0 && !ret->identity_file) {
			ret->identity_file = expand_home(value, home);
		}
	}
	free(copy);
}

void cd_ssh_config_release(struct cd_ssh_config *c)
{
	free(c->hostname);
	free(c->user);
	free(c->identity_file);
	memset(c, 0, sizeof(*c));
}
