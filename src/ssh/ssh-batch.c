/*
 * ssh-batch: the arithmetic of rolling fan-out. serial: 25% of 10 hosts is
 * batches of 2 (rounded down, at least 1, as Ansible does); max_fail: 10% of
 * 50 hosts tolerates 5 failures, and the roll-out stops at the 6th.
 */
#include <math.h>

#include "corpdeploy/ssh.h"

size_t cd_ssh_batch_size(size_t n, int64_t count, double pct)
{
	size_t b;
	if (count >= 0)
		b = (size_t)count;
	else if (pct >= 0)
		b = (size_t)floor((double)n * pct / 100.0 + 1e-9);
	else
		b = n;
	if (b > n)
		b = n;
	return b ? b : 1;
}

size_t cd_ssh_fail_budget(size_t n, int64_t count, double pct)
{
	if (count >= 0)
		return (size_t)count;
	if (pct >= 0)
		return (size_t)floor((double)n * pct / 100.0 + 1e-9);
	return (size_t)-1;
}
