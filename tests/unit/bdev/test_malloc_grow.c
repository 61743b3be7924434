/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The RAM backend grows in place: data survives, the new part reads as zeroes, a shrink gives
 * pages back (a later growth reads zeroes there), the growth room is 16 times the initial
 * size (at least 16 GiB). With free hugepages, the hugepage part and the ordinary-page part
 * that may follow it both keep their data.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "vhostd/bdev.h"

static void
done(struct vhd_bdev_io *io, int status)
{
	*(int *)io->ctx = status;
}

/* One read or write through the framework, on this thread's channel. */
static int
rw(struct vhd_bdev *b, enum vhd_io_type type, uint64_t off, void *buf, uint64_t len)
{
	struct vhd_bdev_channel *ch = vhd_bdev_channel_get(b);
	struct iovec iov = {.iov_base = buf, .iov_len = len};
	struct vhd_bdev_io io = {
		.type = type, .offset = off, .length = len, .iov = &iov, .iovcnt = 1, .cb = done,
	};
	int *status = (int *)io.ctx;

	cr_assert_not_null(ch);
	*status = 1;
	cr_assert_eq(vhd_bdev_submit(ch, &io), 0);
	while (*status == 1) {
		vhd_bdev_poll_channels();
	}
	vhd_bdev_channel_put(ch);
	return *status;
}

static struct vhd_bdev *
create(uint64_t size)
{
	struct vhd_backend_conf conf = {
		.name = "m", .type = VHD_BACKEND_MALLOC, .size = size, .block_size = 512,
	};
	struct vhd_bdev *b = NULL;

	cr_assert_eq(vhd_bdev_create(&conf, &b), 0);
	return b;
}

static void
expect_bytes(struct vhd_bdev *b, uint64_t off, uint64_t len, uint8_t val)
{
	uint8_t *buf = malloc(len);

	cr_assert_eq(rw(b, VHD_IO_READ, off, buf, len), 0);
	for (uint64_t i = 0; i < len; i++) {
		cr_assert_eq(buf[i], val, "byte %" PRIu64 " is %u, want %u", off + i, buf[i], val);
	}
	free(buf);
}

static void
write_bytes(struct vhd_bdev *b, uint64_t off, uint64_t len, uint8_t val)
{
	uint8_t *buf = malloc(len);

	memset(buf, val, len);
	cr_assert_eq(rw(b, VHD_IO_WRITE, off, buf, len), 0);
	free(buf);
}

#define MiB (1ull << 20)

Test(malloc_grow, data_survives_and_new_space_is_zero)
{
	struct vhd_bdev *b = create(MiB);

	write_bytes(b, 0, MiB, 0xa5);
	cr_assert_eq(b->ops->resize(b, 3 * MiB), 0);
	cr_assert_eq(vhd_bdev_num_blocks(b), 3 * MiB / 512);
	expect_bytes(b, 0, MiB, 0xa5);
	expect_bytes(b, MiB, 2 * MiB, 0);
	write_bytes(b, 2 * MiB, MiB, 0x5a);
	expect_bytes(b, 2 * MiB, MiB, 0x5a);
	/* Shrink gives the cut-off part back; growing again shows zeroes there. */
	cr_assert_eq(b->ops->resize(b, MiB + 4096), 0);
	cr_assert_eq(b->ops->resize(b, 3 * MiB), 0);
	expect_bytes(b, 0, MiB, 0xa5);
	expect_bytes(b, MiB + 4096, 2 * MiB - 4096, 0);
	vhd_bdev_destroy(b);
}

Test(malloc_grow, growth_room)
{
	struct vhd_bdev *b = create(MiB);
	struct vhd_bdev *big = create(2ull << 30);
	uint64_t last = (16ull << 30) - 512;

	/* 16 GiB at least, reserved not allocated: touching the last block costs one page. */
	cr_assert_eq(b->ops->resize(b, 16ull << 30), 0);
	write_bytes(b, last, 512, 0x77);
	expect_bytes(b, last, 512, 0x77);
	expect_bytes(b, 0, 4096, 0);
	cr_assert_eq(b->ops->resize(b, (16ull << 30) + 512), -ENOSPC);
	cr_assert_eq(vhd_bdev_num_blocks(b), (16ull << 30) / 512);
	/* 16 times the initial size when that is more. */
	cr_assert_eq(big->ops->resize(big, 32ull << 30), 0);
	cr_assert_eq(big->ops->resize(big, (32ull << 30) + (2ull << 20)), -ENOSPC);
	vhd_bdev_destroy(b);
	vhd_bdev_destroy(big);
}

/* Hugepages neither in use nor reserved (a private mapping reserves them when it is made). */
static uint64_t
free_hugepages(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	uint64_t free_pages = 0, rsvd = 0;
	char line[256];

	if (f == NULL) {
		return 0;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		sscanf(line, "HugePages_Free: %" SCNu64, &free_pages);
		sscanf(line, "HugePages_Rsvd: %" SCNu64, &rsvd);
	}
	fclose(f);
	return free_pages - rsvd;
}

/* Runs only where hugepages are free (scripts/setup.sh reserves them). */
Test(malloc_grow, hugepages_then_ordinary_pages)
{
	uint64_t before = free_hugepages();
	struct vhd_bdev *b;

	if (before < 2) {
		cr_skip_test("no free hugepages");
	}
	b = create(2 * MiB);
	cr_assert_lt(free_hugepages(), before, "the first 2 MiB are not on hugepages");
	write_bytes(b, 0, 2 * MiB, 0x11);
	/* More than the pool holds: the rest comes from ordinary pages. */
	cr_assert_eq(b->ops->resize(b, (before + 4) * 2 * MiB), 0);
	expect_bytes(b, 0, 2 * MiB, 0x11);
	write_bytes(b, (before + 3) * 2 * MiB, 2 * MiB, 0x22);
	expect_bytes(b, (before + 3) * 2 * MiB, 2 * MiB, 0x22);
	expect_bytes(b, 2 * MiB, 2 * MiB, 0);
	/* Zeroing across the boundary of the two kinds of pages. */
	cr_assert_eq(b->ops->resize(b, MiB), 0);
	cr_assert_eq(b->ops->resize(b, (before + 4) * 2 * MiB), 0);
	expect_bytes(b, 0, MiB, 0x11);
	expect_bytes(b, MiB, (before + 3) * 2 * MiB, 0);
	vhd_bdev_destroy(b);
	cr_assert_eq(free_hugepages(), before, "hugepages not given back");
}
