/*
 * Allocation wrappers that abort on out-of-memory, so callers never test
 * for NULL. The message goes straight to stderr: the logger may allocate.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "corpdeploy/core.h"

_Noreturn void cd_oom(void)
{
	static const char msg[] = "corpdeploy: out of memory\n";
	ssize_t r = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)r;
	abort();
}

void *cd_xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);
	if (!p)
		cd_oom();
	return p;
}

void *cd_xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
	if (!p)
		cd_oom();
	return p;
}

void *cd_xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size ? size : 1);
	if (!p)
		cd_oom();
	return p;
}

void *cd_xreallocarray(void *ptr, size_t nmemb, size_t size)
{
	if (size && nmemb > SIZE_MAX / size)
		cd_oom();
	return cd_xrealloc(ptr, nmemb * size);
}

char *cd_xstrdup(const char *s)
{
	return cd_xstrndup(s, strlen(s));
}

char *cd_xstrndup(const char *s, size_t n)
{
	char *p = cd_xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *cd_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		cd_oom();
	va_end(ap);
	return s;
}
