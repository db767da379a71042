/*
 * backup-ssh-env: how a dump or restore command on an SSH host gets its
 * environment (PGPASSWORD and the like, often secrets) without it ever
 * being on a command line, where the host's process list and sshd's logs
 * would show it.
 *
 * sshd's AcceptEnv usually refuses an exec channel's variables, and the
 * command's stdin is the dump being restored, so the variables come first
 * on stdin: one line each, "NAME=value", then an empty line. The command
 * line (no secret in it) is
 *
 *   sh -c SCRIPT sh ARGV...
 *
 * where SCRIPT reads those lines with the shell's own `read` (a builtin
 * that takes stdin one byte at a time, so not a byte more than the header),
 * exports each variable and execs ARGV with the rest of stdin. A value
 * with a backslash or a newline is sent with those two escaped (\\ and \n)
 * and decoded by the builtin printf %b; any other value goes as it is,
 * through no command at all. Nothing is eval'd: a value is only ever data.
 */
#include <string.h>

#include "corpdeploy/ssh.h"
#include "backup-internal.h"

/* The remote side: read NAME=value lines up to an empty one, export, exec. */
static const char env_script[] =
	"while IFS= read -r cd_kv && [ -n \"$cd_kv\" ]; do "
	"cd_v=${cd_kv#*=}; "
	"case $cd_v in *\\\\*) cd_v=$(printf \"%bx\" \"$cd_v\"); cd_v=${cd_v%x};; esac; "
	"export \"${cd_kv%%=*}=$cd_v\"; "
	"done; unset cd_kv cd_v; exec \"$@\"";

static int env_name_ok(const char *s, size_t n)
{
	if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
			    (s[i] >= '0' && s[i] <= '9')))
			return 0;
	return 1;
}

int backup_ssh_command(const char *const *argv, const char *const *env, struct cd_buf *line,
	struct cd_buf *header, struct cd_error *err)
{
	cd_buf_reset(line);
	cd_buf_reset(header);
	if (!env || !env[0]) {
		cd_ssh_quote_argv(line, argv);
		return 0;
	}
	for (const char *const *e = env; *e; e++) {
		const char *eq = strchr(*e, '=');
		/* The name alone in the message: the value may be a secret. */
		if (!eq || !env_name_ok(*e, (size_t)(eq - *e)))
			return cd_error_set(err, CD_EUSAGE, "environment variable '%.*s' is not a valid name",
				eq ? (int)(eq - *e) : 64, *e);
		cd_buf_add(header, *e, (size_t)(eq - *e) + 1);
		for (const char *v = eq + 1; *v; v++) {
			if (*v == '\\')
				cd_buf_adds(header, "\\\\");
			else if (*v == '\n')
				cd_buf_adds(header, "\\n");
			else
				cd_buf_addch(header, *v);
		}
		cd_buf_addch(header, '\n');
	}
	cd_buf_addch(header, '\n');
	const char *pre[] = { "sh", "-c", env_script, "sh", NULL };
	cd_ssh_quote_argv(line, pre);
	cd_buf_addch(line, ' ');
	cd_ssh_quote_argv(line, argv);
	return 0;
}
