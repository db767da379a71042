/*
 * Parsers for the value syntaxes of plans: durations (500ms, 1h30m), sizes
 * (10GiB, 5MB), percentages (0.5%), integers, numbers and booleans. Strict:
 * a bare number is not a duration, "10 GB" is not a size.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "corpdeploy/schema.h"

int cd_parse_int(const char *s, int64_t *ret)
{
	char *end;
	if (!*s || isspace((unsigned char)*s))
		return CD_EFAIL;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end)
		return CD_EFAIL;
	*ret = v;
	return 0;
}

int cd_parse_number(const char *s, double *ret)
{
	char *end;
	if (!*s || isspace((unsigned char)*s) || !(isdigit((unsigned char)*s) || *s == '-' ||
		    *s == '+' || *s == '.'))
		return CD_EFAIL;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || !isfinite(v))
		return CD_EFAIL;
	*ret = v;
	return 0;
}

int cd_parse_bool(const char *s, int *ret)
{
	static const char *const yes[] = { "true", "yes", "on" };
	static const char *const no[] = { "false", "no", "off" };
	for (size_t i = 0; i < CD_ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*ret = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*ret = 0;
			return 0;
		}
	}
	return CD_EFAIL;
}

/* Reads an unsigned decimal with an optional fraction; returns chars used, 0 if none. */
static size_t read_decimal(const char *s, double *ret)
{
	size_t i = 0;
	double v = 0;
	while (isdigit((unsigned char)s[i]))
		v = v * 10 + (s[i++] - '0');
	if (i == 0)
		return 0;
	if (s[i] == '.' && isdigit((unsigned char)s[i + 1])) {
		double scale = 0.1;
		i++;
		while (isdigit((unsigned char)s[i])) {
			v += (s[i++] - '0') * scale;
			scale /= 10;
		}
	}
	*ret = v;
	return i;
}

int cd_parse_duration(const char *s, int64_t *ret_ms)
{
	static const struct {
		const char *unit;
		double ms;
	} units[] = { { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
		{ "d", 86400000 } };
	double total = 0;
	int last_unit = -1;

	if (strcmp(s, "0") == 0) {
		*ret_ms = 0;
		return 0;
	}
	if (!*s)
		return CD_EFAIL;
	while (*s) {
		double v;
		size_t n = read_decimal(s, &v);
		if (!n)
			return CD_EFAIL;
		s += n;
		int u = -1;
		/* "ms" before "m": try the longest unit first. */
		if (strncmp(s, "ms", 2) == 0)
			u = 0;
		else
			for (size_t i = 1; i < CD_ARRAY_SIZE(units); i++)
				if (*s == units[i].unit[0])
					u = (int)i;
		if (u < 0)
			return CD_EFAIL;
		/* Units go from large to small, each once: 1h30m, not 30m1h. */
		if (last_unit >= 0 && u >= last_unit)
			return CD_EFAIL;
		last_unit = u;
		s += strlen(units[u].unit);
		total += v * units[u].ms;
		if (total > 365.0 * 86400000)
			return CD_EFAIL;
	}
	*ret_ms = (int64_t)llround(total);
	return 0;
}

int cd_parse_size(const char *s, int64_t *ret_bytes)
{
	static const struct {
		const char *unit;
		double mult;
	} units[] = {
		{ "", 1 }, { "B", 1 }, { "KB", 1e3 }, { "MB", 1e6 }, { "GB", 1e9 }, { "TB", 1e12 },
		{ "KiB", 1024.0 }, { "MiB", 1048576.0 }, { "GiB", 1073741824.0 },
		{ "TiB", 1099511627776.0 }, { "K", 1024.0 }, { "M", 1048576.0 },
		{ "G", 1073741824.0 }, { "T", 1099511627776.0 }, { "PB", 1e15 },
		{ "PiB", 1125899906842624.0 }, { "P", 1125899906842624.0 },
	};
	double v;
	size_t n = read_decimal(s, &v);
	if (!n)
		return CD_EFAIL;
	for (size_t i = 0; i < CD_ARRAY_SIZE(units); i++) {
		if (strcmp(s + n, units[i].unit) == 0) {
			double bytes = v * units[i].mult;
			/* A fraction of a byte is not a size: "1.5" and "1.5B" are refused. */
			if (bytes > 9.0e18 || (units[i].mult == 1 && strchr(s, '.')))
				return CD_EFAIL;
			*ret_bytes = (int64_t)llround(bytes);
			return 0;
		}
	}
	return CD_EFAIL;
}

int cd_parse_percent(const char *s, double *ret_pct)
{
	double v;
	size_t n = read_decimal(s, &v);
	if (!n || strcmp(s + n, "%") != 0)
		return CD_EFAIL;
	*ret_pct = v;
	return 0;
}
