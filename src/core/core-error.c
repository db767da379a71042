/*
 * Errors and positioned diagnostics. Messages follow one rule: lowercase,
 * no full stop, what failed first, the subject in single quotes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corpdeploy/core.h"

static int error_vset(struct cd_error *err, enum cd_errcode code, int sys, const char *fmt,
	va_list ap) CD_PRINTF(4, 0);
static int error_vset(struct cd_error *err, enum cd_errcode code, int sys, const char *fmt,
	va_list ap)
{
	if (!err)
		return code;
	/* Formatted before the old message goes: it may be one of the arguments. */
	char *msg;
	if (vasprintf(&msg, fmt, ap) < 0)
		cd_oom();
	free(err->msg);
	err->msg = msg;
	err->code = code;
	err->sys = sys;
	return code;
}

int cd_error_set(struct cd_error *err, enum cd_errcode code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = error_vset(err, code, 0, fmt, ap);
	va_end(ap);
	return r;
}

int cd_error_set_errno(struct cd_error *err, int errnum, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = error_vset(err, CD_EIO, errnum, fmt, ap);
	va_end(ap);
	if (err) {
		char *full = cd_xasprintf("%s: %s", err->msg, strerror(errnum));
		free(err->msg);
		err->msg = full;
	}
	return r;
}

void cd_error_release(struct cd_error *err)
{
	if (!err)
		return;
	free(err->msg);
	err->msg = NULL;
	err->code = CD_OK;
	err->sys = 0;
}

int cd_diag_vadd(struct cd_diags *d, enum cd_severity sev, const char *file, unsigned line,
	unsigned col, const char *fmt, va_list ap)
{
	size_t max = d->max_errors ? d->max_errors : 200;

	if (sev == CD_SEV_ERROR && d->errors >= max)
		return CD_ETOOBIG;
	if (d->n == d->alloc) {
		d->alloc = d->alloc ? d->alloc * 2 : 16;
		d->items = cd_xreallocarray(d->items, d->alloc, sizeof(*d->items));
	}
	struct cd_diag *g = &d->items[d->n++];
	g->severity = sev;
	g->file = file ? cd_xstrdup(file) : NULL;
	g->line = line;
	g->col = col;
	if (vasprintf(&g->msg, fmt, ap) < 0)
		cd_oom();
	if (sev == CD_SEV_ERROR)
		d->errors++;
	return sev == CD_SEV_ERROR && d->errors >= max ? CD_ETOOBIG : CD_EPLAN;
}

int cd_diag_add(struct cd_diags *d, enum cd_severity sev, const char *file, unsigned line,
	unsigned col, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = cd_diag_vadd(d, sev, file, line, col, fmt, ap);
	va_end(ap);
	return r;
}

void cd_diags_release(struct cd_diags *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->items[i].file);
		free(d->items[i].msg);
	}
	free(d->items);
	d->items = NULL;
	d->n = d->alloc = d->errors = 0;
}
