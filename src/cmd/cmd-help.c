/*
 * help: the list of commands, or one command's help.
 */
#include <string.h>

#include "cmd.h"
#include "corpdeploy/core.h"
#include "corpdeploy/log.h"

void cd_cmd_print_overview(void)
{
	cd_out("usage: corpdeploy [-q|-v] [--no-color] [--known-hosts FILE] COMMAND [OPTIONS] [ARGS]\n\n"
	       "Deploy a YAML plan to Docker engines and SSH hosts, phase by phase,\n"
	       "rolling back on failure.\n\ncommands:\n");
	for (size_t i = 0; i < cd_cmd_table_count; i++)
		cd_out("  %-10s %s\n", cd_cmd_table[i]->name, cd_cmd_table[i]->summary);
	cd_out("\nglobal options:\n"
	       "  -h, --help       show this help, or a command's with COMMAND --help\n"
	       "  -V, --version    print the version\n"
	       "  -q, --quiet      print errors only\n"
	       "  -v, --verbose    print more (twice: debug)\n"
	       "      --no-color   no colour (also when NO_COLOR is set)\n"
	       "      --known-hosts FILE\n"
	       "                   trust the SSH host keys in FILE too (after ~/.ssh/known_hosts),\n"
	       "                   for every command: rollback, resume, backup, restore...\n"
	       "\nSee corpdeploy(1) and corpdeploy-plan(5).\n");
}

static int cmd_help_exec(int argc, char **argv)
{
	if (argc < 2) {
		cd_cmd_print_overview();
		return CD_EXIT_OK;
	}
	if (argc > 2)
		return cd_cmd_usage_error(&cd_cmd_help_entry, "takes at most one command name");
	const struct cd_cmd_entry *e = cd_cmd_find(argv[1]);
	if (!e) {
		cd_log_error("help: unknown command '%s'", argv[1]);
		return CD_EXIT_USAGE;
	}
	cd_cmd_print_help(e);
	return CD_EXIT_OK;
}

const struct cd_cmd_entry cd_cmd_help_entry = {
	.name = "help",
	.usage = "[COMMAND]",
	.summary = "Show the list of commands, or the help of one.",
	.exec = cmd_help_exec,
};
