/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * RAM backend. The disk lives in one range of address space reserved at creation
 * (PROT_NONE, MAP_NORESERVE: no memory, no commit charge) large enough for the disk to grow in
 * place: the base address never moves, so I/O running on a worker while the control path
 * resizes stays valid. The first part is mapped with hugepages when the pool can hold it
 * (fewer TLB misses on large random I/O), the rest, and any growth the pool cannot hold, with
 * ordinary pages. I/O is a memcpy done in submit and completed at the next poll, like every
 * other backend.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <sys/mman.h>

#define VHD_LOG_COMPONENT "malloc"
#include "vhostd/bdev.h"
#include "vhostd/log.h"

#define HUGEPAGE_SIZE (2ull << 20)
#define SMALL_PAGE_SIZE 4096ull
/* Growth room: 16 times the initial size, at least 16 GiB, at most 16 TiB (unless larger). */
#define GROW_FACTOR 16ull
#define GROW_MIN (16ull << 30)
#define GROW_MAX (16ull << 40)

struct malloc_bdev {
	struct vhd_bdev base;
	uint8_t *data;      /* start of the reservation, hugepage-aligned */
	size_t reserved;    /* bytes of address space reserved at data */
	size_t mapped;      /* [0, mapped) is readable and writable */
	size_t huge_end;    /* [0, huge_end) is backed by hugepages */
};

static const struct vhd_bdev_ops g_malloc_ops;

static struct malloc_bdev *
to_malloc(struct vhd_bdev *bdev)
{
	return VHD_CONTAINER_OF(bdev, struct malloc_bdev, base);
}

static int
malloc_channel_create(struct vhd_bdev *bdev, struct vhd_bdev_channel **ch)
{
	*ch = calloc(1, sizeof(**ch));
	return *ch != NULL ? 0 : -ENOMEM;
}

static void
malloc_channel_destroy(struct vhd_bdev_channel *ch)
{
	free(ch);
}

/* Zero a range, giving whole pages of page_size back to the kernel (they read as zeroes). */
static void
zero_pages(struct malloc_bdev *m, uint64_t off, uint64_t len, uint64_t page_size)
{
	uint64_t start = (off + page_size - 1) & ~(page_size - 1);
	uint64_t end = (off + len) & ~(page_size - 1);

	if (end > start && end - start >= page_size &&
	    madvise(m->data + start, end - start, MADV_DONTNEED) == 0) {
		memset(m->data + off, 0, start - off);
		memset(m->data + end, 0, off + len - end);
		return;
	}
	memset(m->data + off, 0, len);
}

static void
zero_range(struct malloc_bdev *m, uint64_t off, uint64_t len)
{
	if (off < m->huge_end && off + len > m->huge_end) {
		uint64_t first = m->huge_end - off;

		zero_pages(m, off, first, HUGEPAGE_SIZE);
		zero_pages(m, m->huge_end, len - first, SMALL_PAGE_SIZE);
		return;
	}
	zero_pages(m, off, len, off < m->huge_end ? HUGEPAGE_SIZE : SMALL_PAGE_SIZE);
}

static int
malloc_submit(struct vhd_bdev_channel *ch, struct vhd_bdev_io *io)
{
	struct malloc_bdev *m = to_malloc(ch->bdev);
	uint64_t off = io->offset;

	switch (io->type) {
	case VHD_IO_READ:
		for (int i = 0; i < io->iovcnt; i++) {
			memcpy(io->iov[i].iov_base, m->data + off, io->iov[i].iov_len);
			off += io->iov[i].iov_len;
		}
		break;
	case VHD_IO_WRITE:
		for (int i = 0; i < io->iovcnt; i++) {
			memcpy(m->data + off, io->iov[i].iov_base, io->iov[i].iov_len);
			off += io->iov[i].iov_len;
		}
		break;
	case VHD_IO_FLUSH:
		break;
	case VHD_IO_DISCARD:
	case VHD_IO_WRITE_ZEROES:
		zero_range(m, io->offset, io->length);
		break;
	}
	vhd_bdev_io_defer(io, 0);
	return 0;
}

static int
malloc_poll(struct vhd_bdev_channel *ch)
{
	return 0;
}

static void
malloc_destroy(struct vhd_bdev *bdev)
{
	struct malloc_bdev *m = to_malloc(bdev);

	munmap(m->data, m->reserved);
	free(m);
}

static size_t
round_up(size_t v, size_t align)
{
	return (v + align - 1) & ~(align - 1);
}

/* Reserve address space for a disk of `size` bytes and its growth. \return 0 or -ENOMEM. */
static int
reserve(struct malloc_bdev *m, uint64_t size)
{
	uint64_t want = VHD_MAX(VHD_MIN(size * GROW_FACTOR, GROW_MAX), GROW_MIN);
	size_t len, extra;
	uint8_t *p, *aligned;

	want = round_up(VHD_MAX(want, size), HUGEPAGE_SIZE);
	len = want + HUGEPAGE_SIZE;
	p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		return -ENOMEM;
	}
	/* Hugepage mappings need a 2 MiB aligned address: trim the reservation to one. */
	aligned = (uint8_t *)round_up((uintptr_t)p, HUGEPAGE_SIZE);
	if (aligned > p) {
		munmap(p, (size_t)(aligned - p));
	}
	extra = (size_t)(p + len - (aligned + want));
	if (extra > 0) {
		munmap(aligned + want, extra);
	}
	m->data = aligned;
	m->reserved = want;
	return 0;
}

/*
 * Put hugepages at [off, off + len) of the reservation (PROT_NONE, ours). MAP_FIXED is not
 * used: a MAP_HUGETLB|MAP_FIXED mmap that fails for lack of hugepages has already unmapped the
 * target (measured on Linux 6.x), leaving a hole another thread's mmap may take. Instead the
 * range is unmapped and both attempts use MAP_FIXED_NOREPLACE, which never replaces anyone's
 * mapping. \return 0, or -ENOMEM (no hugepages; the range is ours again, or, if another
 * mapping took the hole meanwhile, the reservation now ends at off).
 */
static int
map_huge_at(struct malloc_bdev *m, size_t off, size_t len)
{
	uint8_t *at = m->data + off;
	void *p;

	if (munmap(at, len) != 0) {
		return -ENOMEM;
	}
	p = mmap(at, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == at) {
		return 0;
	}
	if (p != MAP_FAILED) {
		munmap(p, len); /* a kernel that took the flag as a hint */
	}
	p = mmap(at, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
		 MAP_FIXED_NOREPLACE, -1, 0);
	if (p == at) {
		return -ENOMEM;
	}
	if (p != MAP_FAILED) {
		munmap(p, len);
	}
	/* The hole is someone else's now: what lies past it cannot be reached any more. */
	if (m->reserved > off + len) {
		munmap(at + len, m->reserved - off - len);
	}
	m->reserved = off;
	return -ENOMEM;
}

/*
 * Make [0, len) usable. Hugepages continue as long as every mapped byte so far is on
 * hugepages and the pool has room (the kernel reserves them when they are mapped, so a short
 * pool fails here rather than with SIGBUS on first touch); after that, ordinary pages.
 * Control path only. \return 0, -ENOSPC (beyond the reservation), -ENOMEM.
 */
static int
map_to(struct malloc_bdev *m, uint64_t len)
{
	size_t want;

	if (len > m->reserved) {
		return -ENOSPC;
	}
	if (m->huge_end == m->mapped) {
		want = round_up(len, HUGEPAGE_SIZE);
		if (want <= m->mapped) {
			return 0;
		}
		if (want <= m->reserved && map_huge_at(m, m->mapped, want - m->mapped) == 0) {
			m->mapped = want;
			m->huge_end = want;
			return 0;
		}
		if (len > m->reserved) {
			return -ENOMEM;
		}
	}
	want = round_up(len, SMALL_PAGE_SIZE);
	if (want <= m->mapped) {
		return 0;
	}
	if (mprotect(m->data + m->mapped, want - m->mapped, PROT_READ | PROT_WRITE) != 0) {
		return -ENOMEM;
	}
	m->mapped = want;
	return 0;
}

int
vhd_bdev_malloc_create(const struct vhd_backend_conf *conf, struct vhd_bdev **bdev)
{
	uint32_t bs = conf->block_size != 0 ? conf->block_size : 512;
	struct malloc_bdev *m;

	if (!vhd_bdev_block_size_valid(bs) || conf->size == 0 || conf->size % bs != 0) {
		return -EINVAL;
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		return -ENOMEM;
	}
	if (reserve(m, conf->size) != 0) {
		free(m);
		return -ENOMEM;
	}
	if (map_to(m, conf->size) != 0) {
		munmap(m->data, m->reserved);
		free(m);
		return -ENOMEM;
	}
	vhd_strlcpy(m->base.name, conf->name, sizeof(m->base.name));
	m->base.type = VHD_BACKEND_MALLOC;
	m->base.ops = &g_malloc_ops;
	m->base.block_size = bs;
	m->base.num_blocks = conf->size / bs;
	m->base.readonly = conf->readonly;
	m->base.has_discard = true;
	m->base.has_write_zeroes = true;
	m->base.volatile_cache = false;
	m->base.has_fua = true;
	VHD_INFOLOG("%s: %" PRIu64 " MiB of RAM (%s pages), can grow to %zu MiB", conf->name,
		    conf->size >> 20, m->huge_end > 0 ? "huge" : "4 KiB", m->reserved >> 20);
	*bdev = &m->base;
	return 0;
}

static int
malloc_resize(struct vhd_bdev *bdev, uint64_t new_size)
{
	struct malloc_bdev *m = to_malloc(bdev);
	uint64_t old_size = vhd_bdev_num_blocks(bdev) * bdev->block_size;
	int rc;

	if (new_size == 0 || new_size % bdev->block_size != 0) {
		return -EINVAL;
	}
	if (new_size > old_size) {
		/* Map first, publish the size after: no request can reach unmapped pages. The
		 * grown part reads as zeroes (fresh pages, or pages dropped by a shrink). */
		rc = map_to(m, new_size);
		if (rc != 0) {
			return rc;
		}
		__atomic_store_n(&bdev->num_blocks, new_size / bdev->block_size, __ATOMIC_RELEASE);
		return 0;
	}
	/* Shrink: refuse new requests past the end, then give the cut-off pages back. A request
	 * that passed its range check just before may still copy there; it stays in mapped
	 * memory and a later growth reads zeroes or that data, never another disk's. */
	__atomic_store_n(&bdev->num_blocks, new_size / bdev->block_size, __ATOMIC_RELEASE);
	zero_range(m, new_size, old_size - new_size);
	return 0;
}

static const struct vhd_bdev_ops g_malloc_ops = {
	.channel_create = malloc_channel_create,
	.channel_destroy = malloc_channel_destroy,
	.submit = malloc_submit,
	.poll = malloc_poll,
	.destroy = malloc_destroy,
	.resize = malloc_resize,
};
