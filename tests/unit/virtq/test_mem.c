/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Guest memory translation (src/virtq/mem.c): region lookup, spanning, holes, overflow, iovec
 * limits, single-region lookups, layout comparison.
 */
#include <criterion/criterion.h>

#include "fake_guest.h"

#define RS FG_REGION_SIZE

static struct fake_guest g;

static void
fini(void)
{
	fg_fini(&g);
}

TestSuite(mem, .fini = fini);

static uint8_t *
hva(uint64_t gpa)
{
	return fg_hva(&g, gpa);
}

Test(mem, regions_are_not_contiguous_in_the_host)
{
	fg_init(&g, 3);
	cr_assert_eq(g.mem.nregions, 3);
	for (unsigned int i = 0; i + 1 < 3; i++) {
		cr_assert_neq(g.mem.regions[i].hva + RS, g.mem.regions[i + 1].hva);
		cr_assert_eq(g.mem.regions[i].gpa + RS, g.mem.regions[i + 1].gpa);
	}
}

Test(mem, translate_inside_one_region)
{
	struct iovec iov[4];

	fg_init(&g, 3);
	cr_assert_eq(vhd_mem_translate(&g.mem, 0x1234, 100, iov, 4), 1);
	cr_assert_eq(iov[0].iov_base, hva(0x1234));
	cr_assert_eq(iov[0].iov_len, 100);
	/* Up to the last byte of a region, and the whole region. */
	cr_assert_eq(vhd_mem_translate(&g.mem, RS - 8, 8, iov, 4), 1);
	cr_assert_eq(iov[0].iov_base, hva(RS - 8));
	cr_assert_eq(vhd_mem_translate(&g.mem, RS, RS, iov, 4), 1);
	cr_assert_eq(iov[0].iov_base, hva(RS));
	cr_assert_eq(iov[0].iov_len, RS);
}

Test(mem, translate_len_zero)
{
	struct iovec iov[1] = {{(void *)0x1, 7}};

	fg_init(&g, 1);
	cr_assert_eq(vhd_mem_translate(&g.mem, 0x100, 0, iov, 1), 0);
	cr_assert_eq(vhd_mem_translate(&g.mem, 0x100, 0, iov, 0), 0);
	/* Nothing is translated, so nothing is outside memory either. */
	cr_assert_eq(vhd_mem_translate(&g.mem, 50 * RS, 0, iov, 1), 0);
	cr_assert_eq(iov[0].iov_base, (void *)0x1);
	cr_assert_eq(iov[0].iov_len, 7);
}

Test(mem, translate_spans_regions)
{
	struct iovec iov[4];

	fg_init(&g, 3);
	cr_assert_eq(vhd_mem_translate(&g.mem, RS - 10, 30, iov, 4), 2);
	cr_assert_eq(iov[0].iov_base, hva(RS - 10));
	cr_assert_eq(iov[0].iov_len, 10);
	cr_assert_eq(iov[1].iov_base, hva(RS));
	cr_assert_eq(iov[1].iov_len, 20);
	/* All three regions. */
	cr_assert_eq(vhd_mem_translate(&g.mem, RS - 1, RS + 2, iov, 4), 3);
	cr_assert_eq(iov[0].iov_len, 1);
	cr_assert_eq(iov[1].iov_base, hva(RS));
	cr_assert_eq(iov[1].iov_len, RS);
	cr_assert_eq(iov[2].iov_base, hva(2 * RS));
	cr_assert_eq(iov[2].iov_len, 1);
	/* The whole guest. */
	cr_assert_eq(vhd_mem_translate(&g.mem, 0, 3 * RS, iov, 3), 3);
}

Test(mem, translate_outside)
{
	struct iovec iov[4];

	fg_init(&g, 2);
	cr_assert_eq(vhd_mem_translate(&g.mem, 2 * RS, 1, iov, 4), -EFAULT);
	cr_assert_eq(vhd_mem_translate(&g.mem, 2 * RS - 1, 2, iov, 4), -EFAULT);
	cr_assert_eq(vhd_mem_translate(&g.mem, 0x7fffffffffff0000ull, 16, iov, 4), -EFAULT);
	/* gpa + len overflows, even though gpa itself is mapped. */
	cr_assert_eq(vhd_mem_translate(&g.mem, 0x100, UINT64_MAX, iov, 4), -EFAULT);
	cr_assert_eq(vhd_mem_translate(&g.mem, UINT64_MAX, 2, iov, 4), -EFAULT);
	cr_assert_eq(vhd_mem_translate(&g.mem, UINT64_MAX, 1, iov, 4), -EFAULT);
}

Test(mem, translate_hole_between_regions)
{
	const uint64_t gpa[] = {0, 2 * RS};
	const uint64_t size[] = {RS, RS};
	struct iovec iov[4];

	fg_init_regions(&g, 2, gpa, size);
	cr_assert_eq(vhd_mem_translate(&g.mem, RS - 4, 8, iov, 4), -EFAULT);
	cr_assert_eq(vhd_mem_translate(&g.mem, RS, 1, iov, 4), -EFAULT);
	cr_assert_eq(vhd_mem_translate(&g.mem, 2 * RS - 1, 2, iov, 4), -EFAULT);
	cr_assert_eq(vhd_mem_translate(&g.mem, 2 * RS, 2, iov, 4), 1);
	cr_assert_eq(iov[0].iov_base, hva(2 * RS));
}

Test(mem, translate_iov_limit)
{
	struct iovec iov[3];

	fg_init(&g, 3);
	cr_assert_eq(vhd_mem_translate(&g.mem, 0, 8, iov, 0), -ENOBUFS);
	cr_assert_eq(vhd_mem_translate(&g.mem, RS - 4, 8, iov, 1), -ENOBUFS);
	cr_assert_eq(vhd_mem_translate(&g.mem, RS - 4, RS + 8, iov, 2), -ENOBUFS);
	cr_assert_eq(vhd_mem_translate(&g.mem, RS - 4, 8, iov, 2), 2);
	/* A fault found before the limit is reached wins. */
	cr_assert_eq(vhd_mem_translate(&g.mem, 3 * RS, 8, iov, 0), -EFAULT);
}

Test(mem, contig)
{
	fg_init(&g, 2);
	cr_assert_eq(vhd_mem_contig(&g.mem, 0, RS), hva(0));
	cr_assert_eq(vhd_mem_contig(&g.mem, RS + 5, 16), hva(RS + 5));
	cr_assert_eq(vhd_mem_contig(&g.mem, RS - 1, 1), hva(RS - 1));
	cr_assert_eq(vhd_mem_contig(&g.mem, 0x10, 0), hva(0x10));
	/* Spanning two regions, beyond the end, outside, huge lengths. */
	cr_assert_null(vhd_mem_contig(&g.mem, RS - 1, 2));
	cr_assert_null(vhd_mem_contig(&g.mem, 0, RS + 1));
	cr_assert_null(vhd_mem_contig(&g.mem, 2 * RS, 0));
	cr_assert_null(vhd_mem_contig(&g.mem, 2 * RS - 1, 2));
	cr_assert_null(vhd_mem_contig(&g.mem, 0x100, UINT64_MAX));
	cr_assert_null(vhd_mem_contig(&g.mem, UINT64_MAX, 1));
}

Test(mem, empty_table)
{
	struct vhd_mem mem = {0};
	struct iovec iov[1];

	cr_assert_eq(vhd_mem_translate(&mem, 0, 1, iov, 1), -EFAULT);
	cr_assert_null(vhd_mem_contig(&mem, 0, 1));
	/* fg_fini in .fini needs something to unmap. */
	fg_init(&g, 1);
}

Test(mem, same_layout)
{
	struct vhd_mem a, b;

	fg_init(&g, 3);
	a = g.mem;
	b = g.mem;
	cr_assert(vhd_mem_same_layout(&a, &b));
	/* vhostd mapped the same table again at other host addresses: same layout. */
	b.regions[1].hva += 0x100000;
	cr_assert(vhd_mem_same_layout(&a, &b));
	b = g.mem;
	b.regions[2].uaddr += 4096;
	cr_assert_not(vhd_mem_same_layout(&a, &b));
	b = g.mem;
	b.regions[0].gpa += 4096;
	cr_assert_not(vhd_mem_same_layout(&a, &b));
	b = g.mem;
	b.regions[0].size -= 4096;
	cr_assert_not(vhd_mem_same_layout(&a, &b));
	b = g.mem;
	b.nregions = 2;
	cr_assert_not(vhd_mem_same_layout(&a, &b));
	a.nregions = 0;
	b.nregions = 0;
	cr_assert(vhd_mem_same_layout(&a, &b));
}
