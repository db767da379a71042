/*
 * The exit codes of corpdeploy, the one place they are defined.
 * Documented in corpdeploy(1) and tested by tests/cli.
 */
#ifndef CORPDEPLOY_EXIT_H
#define CORPDEPLOY_EXIT_H

enum cd_exit {
	CD_EXIT_OK = 0,		     /* deployed, or the command did what was asked */
	CD_EXIT_ROLLED_BACK = 1,     /* failed and rolled back cleanly */
	CD_EXIT_USAGE = 2,	     /* usage error or invalid plan */
	CD_EXIT_LOCKED = 3,	     /* lock held, or an unfinished run needs attention */
	CD_EXIT_PRECHECK = 4,	     /* a pre-check or host trust failed; nothing changed */
	CD_EXIT_ROLLBACK_FAILED = 5, /* rollback failed: manual action needed */
	CD_EXIT_SIGINT = 130,	     /* interrupted by SIGINT, after a clean rollback */
	CD_EXIT_SIGTERM = 143,	     /* interrupted by SIGTERM, after a clean rollback */
};

#endif
