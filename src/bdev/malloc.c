/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * RAM backend. The disk is one anonymous mapping: hugepages when the pool can hold it (fewer
 * TLB misses on large random I/O), ordinary pages otherwise. I/O is a memcpy done in submit and
 * completed at the next poll, like every other backend.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <sys/mman.h>

#define VHD_LOG_COMPONENT "malloc"
#include "vhostd/bdev.h"
#include "vhostd/log.h"

#define HUGEPAGE_SIZE (2ull << 20)

struct malloc_bdev {
	struct vhd_bdev base;
	uint8_t *data;
	size_t map_len;
	size_t page_size;
	bool hugepages;
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

/* Zero a range, giving whole pages back to the kernel (they read back as zeroes). */
static void
zero_range(struct malloc_bdev *m, uint64_t off, uint64_t len)
{
	uint64_t start = (off + m->page_size - 1) & ~(uint64_t)(m->page_size - 1);
	uint64_t end = (off + len) & ~(uint64_t)(m->page_size - 1);

	if (end > start && end - start >= m->page_size &&
	    madvise(m->data + start, end - start, MADV_DONTNEED) == 0) {
		memset(m->data + off, 0, start - off);
		memset(m->data + end, 0, off + len - end);
		return;
	}
	memset(m->data + off, 0, len);
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

	munmap(m->data, m->map_len);
	free(m);
}

static void *
map_disk(size_t len, size_t *map_len, bool *huge)
{
	size_t hlen = (len + HUGEPAGE_SIZE - 1) & ~(HUGEPAGE_SIZE - 1);
	void *p;

	/* Without MAP_NORESERVE the kernel reserves the hugepages now, so a short pool fails
	 * here instead of with SIGBUS on first touch. */
	p = mmap(NULL, hlen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB,
		 -1, 0);
	if (p != MAP_FAILED) {
		*map_len = hlen;
		*huge = true;
		return p;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		 -1, 0);
	if (p == MAP_FAILED) {
		return NULL;
	}
	*map_len = len;
	*huge = false;
	return p;
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
	m->data = map_disk(conf->size, &m->map_len, &m->hugepages);
	if (m->data == NULL) {
		free(m);
		return -ENOMEM;
	}
	m->page_size = m->hugepages ? HUGEPAGE_SIZE : 4096;
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
	VHD_INFOLOG("%s: %" PRIu64 " MiB of RAM (%s pages)", conf->name, conf->size >> 20,
		    m->hugepages ? "huge" : "4 KiB");
	*bdev = &m->base;
	return 0;
}

static int
malloc_resize(struct vhd_bdev *bdev, uint64_t new_size)
{
	struct malloc_bdev *m = to_malloc(bdev);

	if (new_size == 0 || new_size % bdev->block_size != 0) {
		return -EINVAL;
	}
	/* Growing would need a new mapping while I/O runs on the old one: shrink only. */
	if (new_size > m->map_len) {
		return -ENOSPC;
	}
	__atomic_store_n(&bdev->num_blocks, new_size / bdev->block_size, __ATOMIC_RELEASE);
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
