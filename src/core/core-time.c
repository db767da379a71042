/*
 * Monotonic time for measuring phases and steps, and the human forms of
 * durations and sizes used in every listing and report.
 */
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "corpdeploy/core.h"

int64_t cd_time_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *cd_duration_format(int64_t ms, char *buf, size_t size)
{
	if (ms < 0) {
		snprintf(buf, size, "-");
		return buf;
	}
	if (ms < 1000) {
		snprintf(buf, size, "%" PRId64 "ms", ms);
		return buf;
	}
	int64_t s = ms / 1000, rem_ms = ms % 1000;
	int64_t h = s / 3600, m = (s % 3600) / 60, sec = s % 60;
	if (h)
		snprintf(buf, size, m ? "%" PRId64 "h%" PRId64 "m" : "%" PRId64 "h", h, m);
	else if (m)
		snprintf(buf, size, sec ? "%" PRId64 "m%" PRId64 "s" : "%" PRId64 "m", m, sec);
	else if (rem_ms && s < 10)
		snprintf(buf, size, "%" PRId64 ".%" PRId64 "s", s, rem_ms / 100);
	else
		snprintf(buf, size, "%" PRId64 "s", s);
	return buf;
}

const char *cd_size_format(uint64_t bytes, char *buf, size_t size)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	size_t u = 0;
	uint64_t whole = bytes;

	while (whole >= 1024 && u + 1 < CD_ARRAY_SIZE(units)) {
		whole /= 1024;
		u++;
	}
	if (u == 0 || bytes % ((uint64_t)1 << (10 * u)) == 0) {
		snprintf(buf, size, "%" PRIu64 "%s", whole, units[u]);
	} else {
		double v = (double)bytes / (double)((uint64_t)1 << (10 * u));
		snprintf(buf, size, "%.1f%s", v, units[u]);
	}
	return buf;
}
