/*
 * ssh-quote: plan values on a remote shell's command line. Everything is
 * single-quoted ('it'\''s'), so `;`, `$(...)`, quotes, globs and newlines
 * reach the program as data, never as shell syntax.
 */
#include <string.h>

#include "corpdeploy/ssh.h"

void cd_ssh_quote(struct cd_buf *out, const char *s)
{
	cd_buf_addch(out, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			cd_buf_adds(out, "'\\''");
		else
			cd_buf_addch(out, *s);
	}
	cd_buf_addch(out, '\'');
}

void cd_ssh_quote_argv(struct cd_buf *out, const char *const *argv)
{
	for (size_t i = 0; argv && argv[i]; i++) {
		if (i)
			cd_buf_addch(out, ' ');
		cd_ssh_quote(out, argv[i]);
	}
}
