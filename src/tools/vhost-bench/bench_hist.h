/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Log-linear latency histogram: values below 2^BENCH_HIST_SUB_BITS are counted exactly,
 * above that every power-of-two range is split into 2^BENCH_HIST_SUB_BITS equal buckets,
 * so a reported percentile is within 1/64 (1.6 %) of the true value. Fixed size, no
 * allocation; recording is a few instructions. Not thread-safe: one per thread, merged at
 * the end.
 */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include "vhostd/common.h"

#define BENCH_HIST_SUB_BITS 6
#define BENCH_HIST_SUB (1u << BENCH_HIST_SUB_BITS)
#define BENCH_HIST_BUCKETS ((64 - BENCH_HIST_SUB_BITS + 1) * BENCH_HIST_SUB)

struct bench_hist {
	uint64_t count;
	uint64_t sum;
	uint64_t min;
	uint64_t max;
	uint64_t buckets[BENCH_HIST_BUCKETS];
};

static inline unsigned int
bench_hist_index(uint64_t v)
{
	unsigned int msb, shift;

	if (v < BENCH_HIST_SUB) {
		return (unsigned int)v;
	}
	msb = 63u - (unsigned int)__builtin_clzll(v);
	shift = msb - BENCH_HIST_SUB_BITS;
	return ((shift + 1) << BENCH_HIST_SUB_BITS) + (unsigned int)((v >> shift) - BENCH_HIST_SUB);
}

static inline void
bench_hist_add(struct bench_hist *h, uint64_t v)
{
	h->buckets[bench_hist_index(v)]++;
	h->count++;
	h->sum += v;
	if (v < h->min) {
		h->min = v;
	}
	if (v > h->max) {
		h->max = v;
	}
}

void bench_hist_reset(struct bench_hist *h);

/* dst += src */
void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src);

/* Smallest value a bucket holds, and how many consecutive values it holds. */
uint64_t bench_hist_bucket_low(unsigned int idx);
uint64_t bench_hist_bucket_width(unsigned int idx);

/*
 * Value at percentile p (0 < p <= 100): the bucket holding the ceil(p% * count)-th smallest
 * sample, reported as its midpoint clamped to [min, max]. 0 for an empty histogram.
 */
uint64_t bench_hist_percentile(const struct bench_hist *h, double p);

/* Mean (0 when empty). */
double bench_hist_mean(const struct bench_hist *h);

#endif /* BENCH_HIST_H */
