/*
 * The latency histogram: log-linear buckets with a fixed relative error,
 * constant memory whatever the sample count, merged across load workers.
 * The bound is documented in validate.h and tested in check-validate.c.
 */
#include <math.h>
#include <string.h>

#include "corpdeploy/validate.h"

void cd_hist_init(struct cd_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min_us = UINT64_MAX;
}

size_t cd_hist_bucket(uint64_t us)
{
	if (us < CD_HIST_SUB)
		return (size_t)us;
	unsigned e = 63u - (unsigned)__builtin_clzll(us); /* us >= 2^SUB_BITS, so e >= SUB_BITS */
	unsigned shift = e - CD_HIST_SUB_BITS;
	size_t sub = (size_t)((us >> shift) & (CD_HIST_SUB - 1));
	return CD_HIST_SUB + (size_t)shift * CD_HIST_SUB + sub;
}

uint64_t cd_hist_bucket_low(size_t bucket)
{
	if (bucket < CD_HIST_SUB)
		return bucket;
	size_t shift = (bucket - CD_HIST_SUB) / CD_HIST_SUB;
	uint64_t sub = (bucket - CD_HIST_SUB) % CD_HIST_SUB;
	return (CD_HIST_SUB + sub) << shift;
}

uint64_t cd_hist_bucket_high(size_t bucket)
{
	if (bucket < CD_HIST_SUB)
		return bucket + 1;
	size_t shift = (bucket - CD_HIST_SUB) / CD_HIST_SUB;
	uint64_t low = cd_hist_bucket_low(bucket);
	uint64_t high = low + ((uint64_t)1 << shift);
	return high < low ? UINT64_MAX : high; /* the last bucket ends at the top of the range */
}

void cd_hist_add(struct cd_hist *h, uint64_t us)
{
	h->counts[cd_hist_bucket(us)]++;
	h->n++;
	h->sum_us += (double)us;
	if (us < h->min_us)
		h->min_us = us;
	if (us > h->max_us)
		h->max_us = us;
}

void cd_hist_merge(struct cd_hist *into, const struct cd_hist *from)
{
	if (!from->n)
		return;
	for (size_t i = 0; i < CD_HIST_BUCKETS; i++)
		into->counts[i] += from->counts[i];
	into->n += from->n;
	into->sum_us += from->sum_us;
	if (from->min_us < into->min_us)
		into->min_us = from->min_us;
	if (from->max_us > into->max_us)
		into->max_us = from->max_us;
}

double cd_hist_value(const struct cd_hist *h, double q)
{
	if (!h->n)
		return 0;
	if (q >= 1)
		return (double)h->max_us;
	uint64_t rank = (uint64_t)ceil(q * (double)h->n);
	if (rank < 1)
		rank = 1;
	uint64_t seen = 0;
	for (size_t i = 0; i < CD_HIST_BUCKETS; i++) {
		seen += h->counts[i];
		if (seen < rank)
			continue;
		if (cd_hist_bucket_high(i) - cd_hist_bucket_low(i) == 1)
			return (double)cd_hist_bucket_low(i); /* one value wide: exact */
		/* The midpoint halves the worst error of either bound. */
		double mid = ((double)cd_hist_bucket_low(i) + (double)cd_hist_bucket_high(i)) / 2;
		if (mid < (double)h->min_us)
			mid = (double)h->min_us;
		if (mid > (double)h->max_us)
			mid = (double)h->max_us;
		return mid;
	}
	return (double)h->max_us;
}
