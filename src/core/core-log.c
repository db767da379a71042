/*
 * The logger: levels, colour, and the stdout data sink. Every byte is
 * redacted before it is written; nothing in corpdeploy calls printf on its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corpdeploy/log.h"

static enum cd_log_level log_level = CD_LOG_INFO;
static int log_colour;

void cd_log_set_level(enum cd_log_level level)
{
	log_level = level;
}

enum cd_log_level cd_log_get_level(void)
{
	return log_level;
}

void cd_log_set_color(int enabled)
{
	log_colour = enabled;
}

int cd_log_color(void)
{
	return log_colour;
}

/*
 * Redacts, then makes control characters visible (\x1b): text from a plan
 * must not move the cursor, retitle the terminal or clear the screen.
 * Newlines and tabs stay. Appends to out.
 */
static void clean_append(struct cd_buf *out, const char *text, size_t len)
{
	struct cd_buf r = CD_BUF_INIT;
	cd_redact_append(&r, text, len);
	for (size_t i = 0; i < r.len; i++) {
		unsigned char c = (unsigned char)r.buf[i];
		if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
			cd_buf_addf(out, "\\x%02x", c);
		else
			cd_buf_addch(out, (char)c);
	}
	cd_buf_release(&r);
}

static void log_vemit(enum cd_log_level level, const char *pos, const char *fmt, va_list ap)
	CD_PRINTF(3, 0);
static void log_vemit(enum cd_log_level level, const char *pos, const char *fmt, va_list ap)
{
	struct cd_buf msg = CD_BUF_INIT, line = CD_BUF_INIT;
	const char *label = NULL, *colour = NULL;

	if (level > log_level)
		return;
	if (level == CD_LOG_ERROR) {
		label = pos ? NULL : "corpdeploy: ";
		colour = "\033[1;31m";
	} else if (level == CD_LOG_WARN) {
		label = pos ? "warning: " : "corpdeploy: warning: ";
		colour = "\033[1;33m";
	}
	if (pos) {
		clean_append(&line, pos, strlen(pos));
		cd_buf_adds(&line, ": ");
	}
	if (label) {
		if (log_colour && colour)
			cd_buf_addf(&line, "%s%s\033[0m", colour, label);
		else
			cd_buf_adds(&line, label);
	}
	cd_buf_vaddf(&msg, fmt, ap);
	clean_append(&line, msg.buf, msg.len);
	cd_buf_addch(&line, '\n');
	fflush(stdout);
	fwrite(line.buf, 1, line.len, stderr);
	cd_buf_release(&msg);
	cd_buf_release(&line);
}

void cd_log(enum cd_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vemit(level, NULL, fmt, ap);
	va_end(ap);
}

#define LOG_FN(name, level)                          \
	void name(const char *fmt, ...)              \
	{                                            \
		va_list ap;                          \
		va_start(ap, fmt);                   \
		log_vemit(level, NULL, fmt, ap);     \
		va_end(ap);                          \
	}
LOG_FN(cd_log_error, CD_LOG_ERROR)
LOG_FN(cd_log_warn, CD_LOG_WARN)
LOG_FN(cd_log_info, CD_LOG_INFO)
LOG_FN(cd_log_debug, CD_LOG_DEBUG)

static void log_at(enum cd_log_level level, const char *pos, const char *fmt, ...)
	CD_PRINTF(3, 4);
static void log_at(enum cd_log_level level, const char *pos, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vemit(level, pos, fmt, ap);
	va_end(ap);
}

void cd_log_cd_error(const struct cd_error *err)
{
	cd_log_error("%s", err && err->msg ? err->msg : "unknown error");
}

void cd_log_diags(const struct cd_diags *d)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct cd_diag *g = &d->items[i];
		enum cd_log_level level = g->severity == CD_SEV_ERROR ? CD_LOG_ERROR : CD_LOG_WARN;
		if (!g->file) {
			cd_log(level, "%s", g->msg);
			continue;
		}
		char pos[4096];
		if (g->line)
			snprintf(pos, sizeof(pos), "%s:%u:%u", g->file, g->line, g->col);
		else
			snprintf(pos, sizeof(pos), "%s", g->file);
		log_at(level, pos, "%s", g->msg);
	}
}

void cd_out_write(const char *text, size_t len)
{
	struct cd_buf b = CD_BUF_INIT;
	clean_append(&b, text, len);
	fwrite(b.buf, 1, b.len, stdout);
	cd_buf_release(&b);
}

void cd_out(const char *fmt, ...)
{
	struct cd_buf b = CD_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	cd_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	cd_out_write(b.buf, b.len);
	cd_buf_release(&b);
}
