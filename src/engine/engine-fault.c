/*
 * Fault injection for the crash tests, compiled in only with
 * -Dfault_injection=true: CORPDEPLOY_FAULT=<phase>:<step>:<action>[:<when>]
 * stops the run at that step, before it starts or after it ends (the
 * default), the way a crash or a hang would: action kill9 (SIGKILL to
 * itself), exit (exit 99 without cleaning up) or hang (wait for a signal).
 * Phase "rollback" names the undo of a step's changes instead: before it
 * runs, or after it succeeded but before the journal says so.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "corpdeploy/engine.h"
#include "engine-internal.h"

void engine_fault_point(const char *phase, const char *step, const char *when)
{
#if CD_FAULT_INJECTION
	const char *spec = getenv("CORPDEPLOY_FAULT");
	if (!spec || !*spec)
		return;
	char buf[512];
	snprintf(buf, sizeof(buf), "%s", spec);
	char *save = NULL;
	const char *f_phase = strtok_r(buf, ":", &save);
	const char *f_step = strtok_r(NULL, ":", &save);
	const char *f_action = strtok_r(NULL, ":", &save);
	const char *f_when = strtok_r(NULL, ":", &save);
	if (!f_phase || !f_step || !f_action)
		return;
	if (!f_when)
		f_when = "after";
	if (strcmp(f_phase, phase) != 0 || strcmp(f_step, step) != 0 || strcmp(f_when, when) != 0)
		return;
	if (strcmp(f_action, "kill9") == 0)
		kill(getpid(), SIGKILL);
	else if (strcmp(f_action, "exit") == 0)
		_exit(99);
	else if (strcmp(f_action, "hang") == 0)
		/* Until a signal: the run then goes on to stop at the next step boundary. */
		while (!cd_run_interrupted())
			pause();
#else
	(void)phase, (void)step, (void)when;
#endif
}
