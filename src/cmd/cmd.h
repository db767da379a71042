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
extern const struct cd_cmd_entry cd_cmd_backup_entry;
extern const struct cd_cmd_entry cd_cmd_backups_entry;
extern const struct cd_cmd_entry cd_cmd_help_entry;
extern const struct cd_cmd_entry cd_cmd_history_entry;
extern const struct cd_cmd_entry cd_cmd_lint_entry;
extern const struct cd_cmd_entry cd_cmd_lock_entry;
extern const struct cd_cmd_entry cd_cmd_plan_entry;
extern const struct cd_cmd_entry cd_cmd_report_entry;
extern const struct cd_cmd_entry cd_cmd_restore_entry;
extern const struct cd_cmd_entry cd_cmd_resume_entry;
extern const struct cd_cmd_entry cd_cmd_rollback_entry;
extern const struct cd_cmd_entry cd_cmd_status_entry;
extern const struct cd_cmd_entry cd_cmd_trust_entry;
extern const struct cd_cmd_entry cd_cmd_up_entry;
extern const struct cd_cmd_entry cd_cmd_validate_entry;
extern const struct cd_cmd_entry cd_cmd_version_entry;

extern const struct cd_cmd_entry *const cd_cmd_table[];
extern const size_t cd_cmd_table_count;

const struct cd_cmd_entry *cd_cmd_find(const char *name);
/* up's reports and notifications at the end of a run (up-report.c). */
struct cd_run;
struct cd_report_input;
void cd_cmd_up_report(const struct cd_run *run, const struct cd_report_input *in,
	const char *run_dir);
/* Prints "usage: corpdeploy NAME USAGE" and the help text to stdout. */
void cd_cmd_print_help(const struct cd_cmd_entry *e);
/* The list of commands and global options (help, and no command at all). */
void cd_cmd_print_overview(void);
/* Reports a usage error for e on stderr; returns CD_EXIT_USAGE. */
int cd_cmd_usage_error(const struct cd_cmd_entry *e, const char *fmt, ...) CD_PRINTF(2, 3);

/*
 * Option parsing of a command whose only options are --help and, when json
 * is not NULL, --json (which sets *json): -1 to go on (arguments from
 * optind), else the exit code to return (help printed, or a usage error
 * reported).
 */
int cd_cmd_simple_options(const struct cd_cmd_entry *e, int argc, char **argv, int *json);

struct cd_plan;
/*
 * Loads the plan at path (flags: CD_PLAN_LOAD_*), printing its diagnostics;
 * NULL when it is invalid (exit with CD_EXIT_USAGE). Free with cd_plan_free().
 */
struct cd_plan *cd_cmd_load_plan(const char *path, unsigned flags);
/*
 * For commands that only read what runs left behind (history, report): the
 * plan without its secrets' values, its warnings kept quiet; errors printed.
 */
struct cd_plan *cd_cmd_load_plan_to_read(const char *path);

/* cmd-run.c: what up, resume and rollback share. */
struct cd_plan;
struct cd_lock;
struct cd_journal_state;

/* A plan opened for a run: loaded, its state directory made, its lock held. */
struct cd_cmd_session {
	struct cd_plan *plan;
	char *state; /* the plan's state directory */
	struct cd_lock *lock;
};

/* The long option every command that runs a plan takes. */
#define CD_CMD_STATE_DIR_HELP "  --state-dir DIR where the plan's journal, history and lock live\n"

void cd_cmd_new_run_id(char id[64]);
/* Returns an exit code: 0, or 2 (plan invalid), 3 (locked), 4. */
int cd_cmd_open_plan(const char *path, const char *state_dir, const char *run_id,
	struct cd_cmd_session *s);
void cd_cmd_close_plan(struct cd_cmd_session *s);
/* <state>/runs/<run_id>, malloc'd. */
char *cd_cmd_run_dir(const struct cd_cmd_session *s, const char *run_id);
/* Exit 3 with what to do when a run of the plan is unfinished; else 0. */
int cd_cmd_refuse_unfinished(const struct cd_cmd_session *s);
/* Carries out a journaled run (or resumes one); returns its exit code. */
int cd_cmd_execute(struct cd_cmd_session *s, const char *run_id, int rollback,
	const struct cd_journal_state *resume);
void cd_cmd_catch_signals(void);
struct cd_run;
/* Prints what a failed rollback left for people to do and keeps it in run_dir. */
void cd_cmd_report_manual_steps(const struct cd_run *run, const char *run_dir);
/*
 * Whether the last thing done to the plan was a rollback (then a plain
 * `rollback` has nothing left to undo): marked with the run that rolled
 * back (run_id), cleared by a successful deploy (NULL).
 */
void cd_cmd_mark_rolled_back(const struct cd_cmd_session *s, const char *run_id);
char *cd_cmd_rolled_back(const struct cd_cmd_session *s); /* malloc'd run id or NULL */

#endif
