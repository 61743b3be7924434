/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * IOVA allocation and the host address -> IOVA table (src/bdev/nvme/nvme_dma.c): ranges and
 * holes respected, alignment, next fit (a freed range is not handed out again at once),
 * lookups with the hint, overlap refusal, and lock-free readers while a writer changes the
 * table.
 */
#include <criterion/criterion.h>
#include <pthread.h>

#include "nvme_internal.h"

Test(iova, ranges_alignment_next_fit)
{
	struct nvme_iova_range valid[2] = {{0, 0xfee00000ull}, {0xfef00000ull, 1ull << 39}};
	struct nvme_iova_space s;
	uint64_t a, b, c, d;

	cr_assert_eq(nvme_iova_init(&s, valid, 2), 0);
	/* above 4 GiB first */
	cr_assert_eq(nvme_iova_alloc(&s, 8192, 4096, &a), 0);
	cr_assert_eq(a, 1ull << 32);
	cr_assert_eq(nvme_iova_alloc(&s, 2 << 20, 2 << 20, &b), 0);
	cr_assert_eq(b % (2 << 20), 0);
	cr_assert_geq(b, a + 8192);
	/* freed, then the next allocation goes elsewhere (next fit) */
	nvme_iova_free(&s, a, 8192);
	cr_assert_eq(nvme_iova_alloc(&s, 8192, 4096, &c), 0);
	cr_assert_neq(c, a);
	cr_assert_gt(c, b);
	/* bad arguments */
	cr_assert_eq(nvme_iova_alloc(&s, 100, 4096, &d), -EINVAL);
	cr_assert_eq(nvme_iova_alloc(&s, 4096, 3, &d), -EINVAL);
	/* too big for any range */
	cr_assert_eq(nvme_iova_alloc(&s, 1ull << 40, 4096, &d), -ENOMEM);
}

Test(iova, wraps_and_skips_used_and_holes)
{
	struct nvme_iova_range valid[2] = {{0x200000, 0x210000}, {0x400000, 0x404000}};
	struct nvme_iova_space s;
	uint64_t v[8];

	cr_assert_eq(nvme_iova_init(&s, valid, 2), 0);
	cr_assert_eq(nvme_iova_alloc(&s, 0x8000, 4096, &v[0]), 0);
	cr_assert_eq(v[0], 0x200000);
	cr_assert_eq(nvme_iova_alloc(&s, 0x8000, 4096, &v[1]), 0);
	cr_assert_eq(v[1], 0x208000);
	/* the first range is full: the second one */
	cr_assert_eq(nvme_iova_alloc(&s, 0x4000, 4096, &v[2]), 0);
	cr_assert_eq(v[2], 0x400000);
	cr_assert_eq(nvme_iova_alloc(&s, 0x1000, 4096, &v[3]), -ENOMEM);
	/* free the first: the search wraps to the bottom */
	nvme_iova_free(&s, v[0], 0x8000);
	cr_assert_eq(nvme_iova_alloc(&s, 0x1000, 4096, &v[4]), 0);
	cr_assert_eq(v[4], 0x200000);
	/* nothing below 1 MiB is ever used */
	struct nvme_iova_range low = {0, 0x180000};
	cr_assert_eq(nvme_iova_init(&s, &low, 1), 0);
	cr_assert_eq(nvme_iova_alloc(&s, 0x1000, 4096, &v[5]), 0);
	cr_assert_eq(v[5], 0x100000);
}

Test(dma_table, insert_translate_remove)
{
	static struct nvme_dma_table t;
	uint64_t iova;
	uint32_t hint = 0;

	memset(&t, 0, sizeof(t));
	cr_assert_eq(nvme_dma_table_insert(&t, 0x10000, 0x10000, 0x900000), 0);
	cr_assert_eq(nvme_dma_table_insert(&t, 0x40000, 0x1000, 0xa00000), 0);
	cr_assert_eq(nvme_dma_table_insert(&t, 0x1f000, 0x2000, 0xb00000), -EEXIST);
	cr_assert_eq(nvme_dma_table_find(&t, 0x40000, 0x1000), 1);
	cr_assert_eq(nvme_dma_table_find(&t, 0x40000, 0x2000), -1);

	cr_assert_eq(nvme_dma_translate(&t, (void *)0x10010, 16, &iova, &hint), 0);
	cr_assert_eq(iova, 0x900010);
	cr_assert_eq(nvme_dma_translate(&t, (void *)0x40800, 0x800, &iova, &hint), 0);
	cr_assert_eq(iova, 0xa00800);
	cr_assert_eq(hint, 1);
	/* one byte past the end, spanning two ranges, before the first */
	cr_assert_eq(nvme_dma_translate(&t, (void *)0x40800, 0x801, &iova, &hint), -EFAULT);
	cr_assert_eq(nvme_dma_translate(&t, (void *)0x1ff00, 0x200, &iova, &hint), -EFAULT);
	cr_assert_eq(nvme_dma_translate(&t, (void *)0xff00, 0x10, &iova, &hint), -EFAULT);

	nvme_dma_table_remove(&t, 0);
	cr_assert_eq(nvme_dma_translate(&t, (void *)0x10010, 16, &iova, &hint), -EFAULT);
	cr_assert_eq(nvme_dma_translate(&t, (void *)0x40000, 16, &iova, &hint), 0);
	cr_assert_eq(iova, 0xa00000);
	cr_assert_eq(t.seq % 2, 0);
}

struct churn {
	struct nvme_dma_table *t;
	volatile bool stop;
};

/* Two ranges F and S keep moving between slots 0 and 1 (removal copies the last entry into
 * the hole, field by field). */
static void *
churn_main(void *arg)
{
	struct churn *c = arg;

	while (!c->stop) {
		nvme_dma_table_remove(c->t, nvme_dma_table_find(c->t, 0x100000, 0x1000));
		nvme_dma_table_insert(c->t, 0x100000, 0x1000, 0x40000000);
		nvme_dma_table_remove(c->t, nvme_dma_table_find(c->t, 0x800000, 0x2000));
		nvme_dma_table_insert(c->t, 0x800000, 0x2000, 0x50000000);
	}
	return NULL;
}

Test(dma_table, readers_never_see_a_torn_entry)
{
	static struct nvme_dma_table t;
	struct churn c = {&t, false};
	unsigned int hits = 0;
	pthread_t th;

	memset(&t, 0, sizeof(t));
	cr_assert_eq(nvme_dma_table_insert(&t, 0x100000, 0x1000, 0x40000000), 0);
	cr_assert_eq(nvme_dma_table_insert(&t, 0x800000, 0x2000, 0x50000000), 0);
	cr_assert_eq(pthread_create(&th, NULL, churn_main, &c), 0);
	for (int i = 0; i < 300000; i++) {
		uint32_t hint = (uint32_t)(i & 1);
		uint64_t iova = 0;

		/* Absent for a moment is fine; a wrong IOVA never is. */
		if (nvme_dma_translate(&t, (void *)0x100800, 0x100, &iova, &hint) == 0) {
			cr_assert_eq(iova, 0x40000800);
			hits++;
		}
		if (nvme_dma_translate(&t, (void *)0x801000, 0x1000, &iova, &hint) == 0) {
			cr_assert_eq(iova, 0x50001000);
			hits++;
		}
		/* never mapped: never found */
		cr_assert_eq(nvme_dma_translate(&t, (void *)0x101000, 0x10, &iova, &hint), -EFAULT);
	}
	c.stop = true;
	pthread_join(th, NULL);
	cr_assert_gt(hits, 0);
}
