/*
 * The command table: one entry per CLI command, each defined beside its
 * code in cmd-<name>.c. To add a command: write cmd-<name>.c with its
 * entry, add the entry to cd_cmd_table in cmd.c and the file to meson.build.
 */
#ifndef CORPDEPLOY_CMD_H
#define CORPDEPLOY_CMD_H

#include <stddef.h>

#include "corpdeploy/core.h"
#include "corpdeploy/exit.h"


struct cd_cmd_entry {
	const char *name;
	const char *usage;   /* after "corpdeploy NAME " */
	const char *summary; /* one line for the command list */
	const char *help;    /* the options, as printed by --help */
	/* argv[0] is the command's name. Returns an exit code (enum cd_exit). */
	int (*exec)(int argc, char **argv);
};

/* The entries, one per cmd-<name>.c. */
extern const struct cd_cmd_entry cd_cmd_help_entry;
extern const struct cd_cmd_entry cd_cmd_lint_entry;
extern const struct cd_cmd_entry cd_cmd_lock_entry;
extern const struct cd_cmd_entry cd_cmd_plan_entry;
extern const struct cd_cmd_entry cd_cmd_status_entry;
extern const struct cd_cmd_entry cd_cmd_trust_entry;
extern const struct cd_cmd_entry cd_cmd_up_entry;
extern const struct cd_cmd_entry cd_cmd_version_entry;

extern const struct cd_cmd_entry *const cd_cmd_table[];
extern const size_t cd_cmd_table_count;

const struct cd_cmd_entry *cd_cmd_find(const char *name);
/* Prints "usage: corpdeploy NAME USAGE" and the help text to stdout. */
void cd_cmd_print_help(const struct cd_cmd_entry *e);
/* The list of commands and global options (help, and no command at all). */
void cd_cmd_print_overview(void);
/* Reports a usage error for e on stderr; returns CD_EXIT_USAGE. */
int cd_cmd_usage_error(const struct cd_cmd_entry *e, const char *fmt, ...) CD_PRINTF(2, 3);

#endif
