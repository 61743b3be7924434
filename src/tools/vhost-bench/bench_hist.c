/* SPDX-License-Identifier: BSD-3-Clause */
#include "bench_hist.h"

void
bench_hist_reset(struct bench_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

void
bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src)
{
	if (src->count == 0) {
		return;
	}
	for (unsigned int i = 0; i < BENCH_HIST_BUCKETS; i++) {
		dst->buckets[i] += src->buckets[i];
	}
	dst->count += src->count;
	dst->sum += src->sum;
	dst->min = VHD_MIN(dst->min, src->min);
	dst->max = VHD_MAX(dst->max, src->max);
}

uint64_t
bench_hist_bucket_low(unsigned int idx)
{
	unsigned int group = idx >> BENCH_HIST_SUB_BITS, sub = idx & (BENCH_HIST_SUB - 1);

	if (group == 0) {
		return idx;
	}
	return ((uint64_t)BENCH_HIST_SUB + sub) << (group - 1);
}

uint64_t
bench_hist_bucket_width(unsigned int idx)
{
	unsigned int group = idx >> BENCH_HIST_SUB_BITS;

	return group == 0 ? 1 : 1ull << (group - 1);
}

uint64_t
bench_hist_percentile(const struct bench_hist *h, double p)
{
	uint64_t rank, seen = 0, v;
	double x;

	if (h->count == 0) {
		return 0;
	}
	if (p <= 0) {
		return h->min;
	}
	if (p >= 100) {
		return h->max;
	}
	/* ceil(), forgiving the rounding error of p / 100 (99.9% of 1000 is 999, not 1000). */
	x = p / 100.0 * (double)h->count;
	rank = (uint64_t)x;
	if ((double)rank < x * (1.0 - 1e-12)) {
		rank++;
	}
	rank = VHD_MAX(rank, 1);
	for (unsigned int i = 0; i < BENCH_HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank) {
			v = bench_hist_bucket_low(i) + (bench_hist_bucket_width(i) - 1) / 2;
			return VHD_MIN(VHD_MAX(v, h->min), h->max);
		}
	}
	return h->max;
}

double
bench_hist_mean(const struct bench_hist *h)
{
	return h->count == 0 ? 0.0 : (double)h->sum / (double)h->count;
}
