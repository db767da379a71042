/*
 * log: the one way text leaves corpdeploy. Every message, error, data
 * document and report line passes through the redactor first, so a value
 * registered as secret (and its base64, URL-encoded and JSON-escaped forms)
 * can never be printed.
 */
#ifndef CORPDEPLOY_LOG_H
#define CORPDEPLOY_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "corpdeploy/core.h"

enum cd_log_level { CD_LOG_ERROR, CD_LOG_WARN, CD_LOG_INFO, CD_LOG_VERBOSE, CD_LOG_DEBUG };

#define CD_REDACTED "***"
/* Secrets shorter than this are still redacted, but the plan gets a warning. */
#define CD_SECRET_MIN_LEN 6

/*
 * Registers a secret value and its derived forms. The redactor keeps copies;
 * callers may free value. Empty values are ignored.
 */
void cd_redact_add(const char *value);
/* Replaces every registered form in text[0..len) and appends the result to out. */
void cd_redact_append(struct cd_buf *out, const char *text, size_t len);
/* Returns a malloc'd redacted copy of s, owned by the caller. */
char *cd_redact_dup(const char *s);
/* Forgets all secrets (tests, and the end of a run). */
void cd_redact_clear(void);
size_t cd_redact_count(void);

void cd_log_set_level(enum cd_log_level level);
enum cd_log_level cd_log_get_level(void);
/* Colour only where stderr is a terminal, NO_COLOR is unset and --no-color was not given. */
void cd_log_set_color(int enabled);
int cd_log_color(void);

void cd_log(enum cd_log_level level, const char *fmt, ...) CD_PRINTF(2, 3);
void cd_log_error(const char *fmt, ...) CD_PRINTF(1, 2);
void cd_log_warn(const char *fmt, ...) CD_PRINTF(1, 2);
void cd_log_info(const char *fmt, ...) CD_PRINTF(1, 2);
void cd_log_debug(const char *fmt, ...) CD_PRINTF(1, 2);
/* Prints err as "corpdeploy: <msg>". */
void cd_log_cd_error(const struct cd_error *err);
/*
 * Prints every diagnostic as "file:line:col: msg" or "file:line:col: warning: msg",
 * the form compilers use and editors jump to; without a position,
 * "corpdeploy: msg".
 */
void cd_log_diags(const struct cd_diags *d);

/* Data for stdout (plan listings, JSON): redacted, no prefix. */
void cd_out(const char *fmt, ...) CD_PRINTF(1, 2);
void cd_out_write(const char *text, size_t len);

#endif
