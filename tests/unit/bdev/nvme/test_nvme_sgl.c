/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * PRP and SGL building (src/bdev/nvme/nvme_sgl.c): alignment, page crossing, segment
 * boundaries, many segments, MDTS and PRP-list-size splits, blocks straddling a boundary that
 * neither can describe, unmapped memory. Host buffers sit in a table at an IOVA that differs
 * from their address by a fixed offset, so every expected value is "host address + DELTA".
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "nvme_internal.h"

#define BUF_SIZE (16u << 20)
#define DELTA 0x7000000000ull
#define LIST_IOVA 0x9000000000ull

static uint8_t *g_buf;
static struct nvme_dma_table g_t;
static uint64_t g_list[NVME_PRP_LIST_ENTRIES];
static struct nvme_sgl_desc g_sgl[NVME_SGL_LIST_ENTRIES];
static uint32_t g_hint;

static void
setup(void)
{
	g_buf = aligned_alloc(NVME_PAGE_SIZE, BUF_SIZE);
	cr_assert_not_null(g_buf);
	memset(&g_t, 0, sizeof(g_t));
	cr_assert_eq(nvme_dma_table_insert(&g_t, (uint64_t)(uintptr_t)g_buf, BUF_SIZE,
					   (uint64_t)(uintptr_t)g_buf + DELTA), 0);
	g_hint = 0;
}

static void
teardown(void)
{
	free(g_buf);
}

static uint64_t
iova(const void *p)
{
	return (uint64_t)(uintptr_t)p + DELTA;
}

static int64_t
prp(struct nvme_sg_cursor *cur, uint64_t max, uint32_t bs, struct nvme_dptr *dp)
{
	memset(g_list, 0, sizeof(g_list));
	return nvme_build_prp(cur, &g_t, &g_hint, max, bs, dp, g_list, LIST_IOVA);
}

static int64_t
sgl(struct nvme_sg_cursor *cur, uint64_t max, uint32_t bs, uint32_t mode, struct nvme_dptr *dp)
{
	memset(g_sgl, 0, sizeof(g_sgl));
	return nvme_build_sgl(cur, &g_t, &g_hint, max, bs, mode, dp, g_sgl, LIST_IOVA);
}

TestSuite(prp, .init = setup, .fini = teardown);
TestSuite(sgl, .init = setup, .fini = teardown);
TestSuite(sgcheck, .init = setup, .fini = teardown);

Test(prp, one_page)
{
	struct iovec iov = {g_buf, 4096};
	struct nvme_sg_cursor cur = {&iov, 1, 0, 0};
	struct nvme_dptr dp;

	cr_assert_eq(prp(&cur, 1 << 20, 512, &dp), 4096);
	cr_assert_not(dp.sgl);
	cr_assert_eq(dp.prp1, iova(g_buf));
	cr_assert_eq(dp.prp2, 0);
	cr_assert_eq(cur.idx, 1);
}

Test(prp, two_pages_direct_prp2)
{
	struct iovec iov = {g_buf, 8192};
	struct nvme_sg_cursor cur = {&iov, 1, 0, 0};
	struct nvme_dptr dp;

	cr_assert_eq(prp(&cur, 1 << 20, 512, &dp), 8192);
	cr_assert_eq(dp.prp1, iova(g_buf));
	cr_assert_eq(dp.prp2, iova(g_buf + 4096));
}

Test(prp, list_for_more_pages)
{
	struct iovec iov = {g_buf, 16384};
	struct nvme_sg_cursor cur = {&iov, 1, 0, 0};
	struct nvme_dptr dp;

	cr_assert_eq(prp(&cur, 1 << 20, 512, &dp), 16384);
	cr_assert_eq(dp.prp1, iova(g_buf));
	cr_assert_eq(dp.prp2, LIST_IOVA);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(g_list[i], iova(g_buf + 4096 * (i + 1)));
	}
	cr_assert_eq(g_list[3], 0);
}

Test(prp, offset_start_crosses_a_page)
{
	/* 4 KiB starting 512 bytes into a page touches two pages. */
	struct iovec iov = {g_buf + 512, 4096};
	struct nvme_sg_cursor cur = {&iov, 1, 0, 0};
	struct nvme_dptr dp;

	cr_assert_eq(prp(&cur, 1 << 20, 512, &dp), 4096);
	cr_assert_eq(dp.prp1, iova(g_buf + 512));
	cr_assert_eq(dp.prp2, iova(g_buf + 4096));
}

Test(prp, segments_joined_on_page_boundaries)
{
	/* first ends on a page boundary, second starts on one, elsewhere in memory */
	struct iovec iov[2] = {{g_buf + 3072, 1024}, {g_buf + 65536, 8192}};
	struct nvme_sg_cursor cur = {iov, 2, 0, 0};
	struct nvme_dptr dp;

	cr_assert_eq(prp(&cur, 1 << 20, 512, &dp), 9216);
	cr_assert_eq(dp.prp1, iova(g_buf + 3072));
	cr_assert_eq(dp.prp2, LIST_IOVA);
	cr_assert_eq(g_list[0], iova(g_buf + 65536));
	cr_assert_eq(g_list[1], iova(g_buf + 65536 + 4096));
	cr_assert_eq(cur.idx, 2);
}

Test(prp, mid_page_boundary_cuts_the_command)
{
	/* the first segment ends mid-page: the command stops there (a block boundary) */
	struct iovec iov[2] = {{g_buf, 2048}, {g_buf + 65536, 2048}};
	struct nvme_sg_cursor cur = {iov, 2, 0, 0};
	struct nvme_dptr dp;

	cr_assert_eq(prp(&cur, 1 << 20, 512, &dp), 2048);
	cr_assert_eq(dp.prp2, 0);
	cr_assert_eq(cur.idx, 1);
	cr_assert_eq(cur.off, 0);
	cr_assert_eq(prp(&cur, 1 << 20, 512, &dp), 2048);
	cr_assert_eq(dp.prp1, iova(g_buf + 65536));
	cr_assert_eq(cur.idx, 2);
}

Test(prp, straddling_block_cannot_be_described)
{
	/* 4 KiB blocks; the block is split across a mid-page boundary: PRP gives up */
	struct iovec iov[2] = {{g_buf, 2048}, {g_buf + 65536, 2048}};
	struct nvme_sg_cursor cur = {iov, 2, 0, 0};
	struct nvme_dptr dp;

	cr_assert_eq(prp(&cur, 1 << 20, 4096, &dp), 0);
	cr_assert_eq(cur.idx, 0);
	cr_assert_eq(cur.off, 0);
}

Test(prp, cut_inside_a_segment_to_whole_blocks)
{
	/* 1536 + tail; the boundary after 1536+... is mid page: 1536 is 3 blocks of 512 but
	 * with 1024-byte blocks only 1024 bytes fit, and the cursor stops inside segment 0 */
	struct iovec iov[2] = {{g_buf, 1536}, {g_buf + 65536, 512}};
	struct nvme_sg_cursor cur = {iov, 2, 0, 0};
	struct nvme_dptr dp;

	cr_assert_eq(prp(&cur, 1 << 20, 1024, &dp), 1024);
	cr_assert_eq(cur.idx, 0);
	cr_assert_eq(cur.off, 1024);
	/* the rest (512 + 512) straddles the boundary again */
	cr_assert_eq(prp(&cur, 1 << 20, 1024, &dp), 0);
}

Test(prp, byte_aligned_start_is_refused)
{
	struct iovec iov = {g_buf + 1, 512};
	struct nvme_sg_cursor cur = {&iov, 1, 0, 0};
	struct nvme_dptr dp;

	cr_assert_eq(prp(&cur, 1 << 20, 512, &dp), 0);
}

Test(prp, mdts_split)
{
	struct iovec iov = {g_buf, 1 << 20};
	struct nvme_sg_cursor cur = {&iov, 1, 0, 0};
	struct nvme_dptr dp;

	for (int i = 0; i < 8; i++) {
		cr_assert_eq(prp(&cur, 128 << 10, 512, &dp), 128 << 10);
		cr_assert_eq(dp.prp1, iova(g_buf + (size_t)i * (128 << 10)));
		cr_assert_eq(dp.prp2, LIST_IOVA);
		cr_assert_eq(g_list[30], iova(g_buf + (size_t)i * (128 << 10) + 31 * 4096));
		cr_assert_eq(g_list[31], 0);
	}
	cr_assert_eq(cur.idx, 1);
}

Test(prp, many_segments)
{
	struct iovec iov[128];
	struct nvme_sg_cursor cur = {iov, 128, 0, 0};
	struct nvme_dptr dp;
	uint64_t total = 0;
	int cmds = 0;

	/* 128 scattered pages: any PRP command may take them all (page-aligned everywhere) */
	for (int i = 0; i < 128; i++) {
		iov[i].iov_base = g_buf + (size_t)(127 - i) * 8192;
		iov[i].iov_len = 4096;
	}
	while (cur.idx < cur.iovcnt) {
		int64_t n = prp(&cur, 128 << 10, 512, &dp);

		cr_assert_eq(n, 128 << 10);
		cr_assert_eq(dp.prp1, iova(iov[cmds * 32].iov_base));
		for (int j = 0; j < 31; j++) {
			cr_assert_eq(g_list[j], iova(iov[cmds * 32 + j + 1].iov_base));
		}
		total += (uint64_t)n;
		cmds++;
	}
	cr_assert_eq(cmds, 4);
	cr_assert_eq(total, 512 << 10);
}

Test(prp, list_page_limit)
{
	/* With no MDTS, one list page (512 entries) is the limit: 513 pages. */
	struct iovec iov = {g_buf, 4 << 20};
	struct nvme_sg_cursor cur = {&iov, 1, 0, 0};
	struct nvme_dptr dp;

	cr_assert_eq(prp(&cur, 8 << 20, 512, &dp), 513 * 4096);
	cr_assert_eq(g_list[511], iova(g_buf + 512 * 4096));
	/* an offset start: the first page is partial, still 513 pages */
	iov.iov_base = g_buf + 2048;
	cur = (struct nvme_sg_cursor){&iov, 1, 0, 0};
	cr_assert_eq(prp(&cur, 8 << 20, 512, &dp), 2048 + 512 * 4096);
}

Test(prp, zero_length_segments_skipped)
{
	struct iovec iov[3] = {{g_buf, 0}, {g_buf, 4096}, {g_buf + 8192, 0}};
	struct nvme_sg_cursor cur = {iov, 3, 0, 0};
	struct nvme_dptr dp;

	cr_assert_eq(prp(&cur, 1 << 20, 512, &dp), 4096);
	cr_assert_eq(dp.prp1, iova(g_buf));
	cr_assert_eq(cur.idx, 3);
}

Test(prp, unmapped_is_efault)
{
	uint8_t *other = aligned_alloc(4096, 8192);
	struct iovec iov = {other, 4096};
	struct nvme_sg_cursor cur = {&iov, 1, 0, 0};
	struct nvme_dptr dp;

	cr_assert_eq(prp(&cur, 1 << 20, 512, &dp), -EFAULT);
	/* straddling the end of the mapped range */
	iov.iov_base = g_buf + BUF_SIZE - 2048;
	iov.iov_len = 4096;
	cr_assert_eq(prp(&cur, 1 << 20, 512, &dp), -EFAULT);
	free(other);
}

Test(prp, contiguous_helper)
{
	struct nvme_dptr dp;

	nvme_prp_contig(0x100000, 4096, &dp, g_list, LIST_IOVA);
	cr_assert_eq(dp.prp2, 0);
	nvme_prp_contig(0x100000, 8192, &dp, g_list, LIST_IOVA);
	cr_assert_eq(dp.prp2, 0x101000);
	nvme_prp_contig(0x100000, 128 << 10, &dp, g_list, LIST_IOVA);
	cr_assert_eq(dp.prp2, LIST_IOVA);
	cr_assert_eq(g_list[30], 0x100000 + 31 * 4096);
}

Test(sgl, single_descriptor_inline)
{
	struct iovec iov = {g_buf + 3, 4096};
	struct nvme_sg_cursor cur = {&iov, 1, 0, 0};
	struct nvme_dptr dp;

	cr_assert_eq(sgl(&cur, 1 << 20, 512, NVME_SGLS_ANY_ALIGN, &dp), 4096);
	cr_assert(dp.sgl);
	cr_assert_eq(dp.sgl1.id, NVME_SGL_DATA_BLOCK);
	cr_assert_eq(dp.sgl1.addr, iova(g_buf + 3));
	cr_assert_eq(dp.sgl1.len, 4096);
}

Test(sgl, list_for_odd_segments)
{
	/* 1000 + 3096 = one 4 KiB block straddling a byte-aligned boundary */
	struct iovec iov[3] = {{g_buf + 1, 1000}, {g_buf + 20001, 3096}, {g_buf + 90000, 4096}};
	struct nvme_sg_cursor cur = {iov, 3, 0, 0};
	struct nvme_dptr dp;

	cr_assert_eq(sgl(&cur, 1 << 20, 4096, NVME_SGLS_ANY_ALIGN, &dp), 8192);
	cr_assert_eq(dp.sgl1.id, NVME_SGL_LAST_SEGMENT);
	cr_assert_eq(dp.sgl1.addr, LIST_IOVA);
	cr_assert_eq(dp.sgl1.len, 3 * 16);
	cr_assert_eq(g_sgl[0].addr, iova(g_buf + 1));
	cr_assert_eq(g_sgl[0].len, 1000);
	cr_assert_eq(g_sgl[1].len, 3096);
	cr_assert_eq(g_sgl[2].addr, iova(g_buf + 90000));
	cr_assert_eq(g_sgl[2].id, NVME_SGL_DATA_BLOCK);
}

Test(sgl, mdts_cut_inside_a_segment)
{
	struct iovec iov[2] = {{g_buf + 7, 100 * 1024}, {g_buf + (1 << 20), 60 * 1024}};
	struct nvme_sg_cursor cur = {iov, 2, 0, 0};
	struct nvme_dptr dp;

	cr_assert_eq(sgl(&cur, 128 << 10, 512, NVME_SGLS_ANY_ALIGN, &dp), 128 << 10);
	cr_assert_eq(g_sgl[1].len, 28 * 1024);
	cr_assert_eq(cur.idx, 1);
	cr_assert_eq(cur.off, 28 * 1024);
	cr_assert_eq(sgl(&cur, 128 << 10, 512, NVME_SGLS_ANY_ALIGN, &dp), 32 << 10);
	cr_assert_eq(dp.sgl1.id, NVME_SGL_DATA_BLOCK);
	cr_assert_eq(dp.sgl1.addr, iova(g_buf + (1 << 20) + 28 * 1024));
}

Test(sgl, dword_mode)
{
	struct iovec odd = {g_buf + 2, 512};
	struct iovec iov[2] = {{g_buf, 1001}, {g_buf + 8192, 23}};
	struct nvme_sg_cursor cur = {&odd, 1, 0, 0};
	struct nvme_dptr dp;

	cr_assert_eq(sgl(&cur, 1 << 20, 512, NVME_SGLS_DWORD_ALIGN, &dp), 0);
	/* 1001 bytes: 512 fit (dword-sized after the cut), the remaining 489 + 23 do not */
	cur = (struct nvme_sg_cursor){iov, 2, 0, 0};
	cr_assert_eq(sgl(&cur, 1 << 20, 512, NVME_SGLS_DWORD_ALIGN, &dp), 512);
	cr_assert_eq(dp.sgl1.len, 512);
	cr_assert_eq(cur.off, 512);
	cr_assert_eq(sgl(&cur, 1 << 20, 512, NVME_SGLS_DWORD_ALIGN, &dp), 0);
}

Test(sgl, descriptor_limit)
{
	static struct iovec iov[300];
	struct nvme_sg_cursor cur = {iov, 300, 0, 0};
	struct nvme_dptr dp;

	for (int i = 0; i < 300; i++) {
		iov[i].iov_base = g_buf + (size_t)i * 1024 + 1;
		iov[i].iov_len = 512;
	}
	cr_assert_eq(sgl(&cur, 1 << 20, 512, NVME_SGLS_ANY_ALIGN, &dp),
		     NVME_SGL_LIST_ENTRIES * 512);
	cr_assert_eq(dp.sgl1.len, NVME_SGL_LIST_ENTRIES * 16);
	cr_assert_eq(cur.idx, NVME_SGL_LIST_ENTRIES);
}

Test(sgcheck, layouts)
{
	struct iovec ok[3] = {{g_buf + 512, 3584}, {g_buf + 65536, 8192}, {g_buf + 131072, 100}};
	struct iovec bad_end[2] = {{g_buf, 2048}, {g_buf + 65536, 2048}};
	struct iovec bad_start[2] = {{g_buf, 4096}, {g_buf + 65536 + 512, 2048}};
	struct iovec odd[1] = {{g_buf + 2, 512}};
	bool prp_ok;

	cr_assert_eq(nvme_sg_check(ok, 3, &g_t, &g_hint, &prp_ok), 0);
	cr_assert(prp_ok);
	cr_assert_eq(nvme_sg_check(bad_end, 2, &g_t, &g_hint, &prp_ok), 0);
	cr_assert_not(prp_ok);
	cr_assert_eq(nvme_sg_check(bad_start, 2, &g_t, &g_hint, &prp_ok), 0);
	cr_assert_not(prp_ok);
	cr_assert_eq(nvme_sg_check(odd, 1, &g_t, &g_hint, &prp_ok), 0);
	cr_assert_not(prp_ok);
	odd[0].iov_base = (void *)0x1000;
	cr_assert_eq(nvme_sg_check(odd, 1, &g_t, &g_hint, &prp_ok), -EFAULT);
}
