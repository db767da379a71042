/*
 * corpdeploy's entry point: global options, then the command from the
 * table, whose return value is the exit code.
 */
#include <curl/curl.h>
#include <libssh2.h>
#include <locale.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "config.h"
#include "corpdeploy/log.h"
#include "corpdeploy/ssh.h"

static int unknown_command(const char *name)
{
	const char *names[64];
	size_t n = 0;
	for (size_t i = 0; i < cd_cmd_table_count && n < 64; i++)
		names[n++] = cd_cmd_table[i]->name;
	const char *hint = cd_suggest(name, names, n);
	if (hint)
		cd_log_error("unknown command '%s' (did you mean '%s'?)", name, hint);
	else
		cd_log_error("unknown command '%s' (see 'corpdeploy help')", name);
	return CD_EXIT_USAGE;
}

int main(int argc, char **argv)
{
	int verbosity = 0, colour = 1, i;

	setlocale(LC_ALL, "");
	/* Once, before any thread: libcurl's global set-up is not thread-safe. */
	/*
	 * A peer that closes its end (an engine connection, a socket pair bridged
	 * to SSH, a child's pipe) is an error to report, not a reason to die.
	 */
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	libssh2_init(0); /* likewise for libssh2 (its crypto back-end) */
	if (getenv("NO_COLOR") && *getenv("NO_COLOR"))
		colour = 0;
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			cd_cmd_print_overview();
			return CD_EXIT_OK;
		} else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
			cd_out("corpdeploy %s\n", CD_VERSION);
			return CD_EXIT_OK;
		} else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
			verbosity = -1;
		} else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
			verbosity++;
		} else if (strcmp(a, "-vv") == 0) {
			verbosity += 2;
		} else if (strcmp(a, "--no-color") == 0 || strcmp(a, "--no-colour") == 0) {
			colour = 0;
		} else if (strcmp(a, "--known-hosts") == 0) {
			/* For every command: a rollback at night must trust what up trusted. */
			if (i + 1 >= argc) {
				cd_log_error("--known-hosts needs a FILE");
				return CD_EXIT_USAGE;
			}
			cd_ssh_set_known_hosts(argv[++i]);
		} else if (strcmp(a, "--") == 0) {
			i++;
			break;
		} else {
			cd_log_error("unknown option '%s' (see 'corpdeploy --help')", a);
			return CD_EXIT_USAGE;
		}
	}
	cd_log_set_level(verbosity < 0 ? CD_LOG_WARN
		: verbosity == 0 ? CD_LOG_INFO
		: verbosity == 1 ? CD_LOG_VERBOSE
				 : CD_LOG_DEBUG);
	if (verbosity < 0)
		cd_log_set_level(CD_LOG_ERROR);
	cd_log_set_color(colour && isatty(STDERR_FILENO));
	if (i >= argc) {
		cd_log_error("no command given (see 'corpdeploy help')");
		return CD_EXIT_USAGE;
	}
	const struct cd_cmd_entry *e = cd_cmd_find(argv[i]);
	if (!e)
		return unknown_command(argv[i]);
	int r = e->exec(argc - i, argv + i);
	cd_redact_clear();
	return r;
}
