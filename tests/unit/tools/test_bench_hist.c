/* SPDX-License-Identifier: BSD-3-Clause */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "bench_hist.h"

static struct bench_hist *
new_hist(void)
{
	struct bench_hist *h = malloc(sizeof(*h));

	cr_assert_not_null(h);
	bench_hist_reset(h);
	return h;
}

Test(bench_hist, empty)
{
	struct bench_hist *h = new_hist();

	cr_assert_eq(bench_hist_percentile(h, 50), 0);
	cr_assert_eq(bench_hist_percentile(h, 99.9), 0);
	cr_assert_float_eq(bench_hist_mean(h), 0.0, 1e-9);
	free(h);
}

Test(bench_hist, buckets_cover_every_value_once)
{
	/* Consecutive buckets tile the value range with no gap or overlap. */
	for (unsigned int i = 0; i + 1 < BENCH_HIST_BUCKETS; i++) {
		uint64_t lo = bench_hist_bucket_low(i), w = bench_hist_bucket_width(i);

		cr_assert_eq(lo + w, bench_hist_bucket_low(i + 1), "bucket %u", i);
		cr_assert_eq(bench_hist_index(lo), i);
		cr_assert_eq(bench_hist_index(lo + w - 1), i);
	}
	cr_assert_eq(bench_hist_index(UINT64_MAX), BENCH_HIST_BUCKETS - 1);
	cr_assert_eq(bench_hist_index(0), 0);
	cr_assert_eq(bench_hist_index(63), 63);
	cr_assert_eq(bench_hist_index(64), 64);
}

Test(bench_hist, small_values_are_exact)
{
	struct bench_hist *h = new_hist();

	for (uint64_t v = 1; v <= 50; v++) {
		bench_hist_add(h, v);
	}
	cr_assert_eq(h->count, 50);
	cr_assert_eq(h->min, 1);
	cr_assert_eq(h->max, 50);
	cr_assert_eq(bench_hist_percentile(h, 50), 25);
	cr_assert_eq(bench_hist_percentile(h, 99), 50);
	cr_assert_eq(bench_hist_percentile(h, 2), 1);
	cr_assert_eq(bench_hist_percentile(h, 100), 50);
	cr_assert_float_eq(bench_hist_mean(h), 25.5, 1e-9);
	free(h);
}

static void
near(uint64_t got, double want)
{
	cr_assert(got >= want * 0.984 && got <= want * 1.016, "got %llu, want ~%.0f",
		  (unsigned long long)got, want);
}

Test(bench_hist, percentiles_within_resolution)
{
	struct bench_hist *h = new_hist();

	/* 1..100000 ns, uniform: pX is X% of 100000. */
	for (uint64_t v = 1; v <= 100000; v++) {
		bench_hist_add(h, v);
	}
	near(bench_hist_percentile(h, 50), 50000);
	near(bench_hist_percentile(h, 99), 99000);
	near(bench_hist_percentile(h, 99.9), 99900);
	cr_assert_eq(bench_hist_percentile(h, 100), 100000);
	cr_assert_float_eq(bench_hist_mean(h), 50000.5, 1e-6);
	free(h);
}

Test(bench_hist, tail_outlier_and_clamping)
{
	struct bench_hist *h = new_hist();

	for (int i = 0; i < 999; i++) {
		bench_hist_add(h, 10000);
	}
	bench_hist_add(h, 5000000);
	near(bench_hist_percentile(h, 50), 10000);
	near(bench_hist_percentile(h, 99.9), 10000);
	/* The single outlier is the max; the p99.99 bucket midpoint is clamped to it. */
	cr_assert_eq(bench_hist_percentile(h, 99.99), 5000000);
	cr_assert_eq(h->max, 5000000);
	free(h);
}

Test(bench_hist, merge)
{
	struct bench_hist *a = new_hist(), *b = new_hist();

	bench_hist_add(a, 100);
	bench_hist_add(a, 300);
	bench_hist_add(b, 7);
	bench_hist_add(b, 1000000);
	bench_hist_merge(a, b);
	cr_assert_eq(a->count, 4);
	cr_assert_eq(a->min, 7);
	cr_assert_eq(a->max, 1000000);
	cr_assert_eq(a->sum, 100 + 300 + 7 + 1000000);
	bench_hist_reset(b);
	bench_hist_merge(a, b); /* empty: no change to min */
	cr_assert_eq(a->min, 7);
	free(a);
	free(b);
}
