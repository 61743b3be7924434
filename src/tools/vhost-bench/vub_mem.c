/* SPDX-License-Identifier: BSD-3-Clause */
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vub_mem.h"

#define HUGE_2M (2ull << 20)

static int
open_backing(enum vub_mem_backing backing, const char *dir, uint64_t *page_size)
{
	char path[4096];
	int fd, n;

	switch (backing) {
	case VUB_MEM_MEMFD:
		*page_size = (uint64_t)sysconf(_SC_PAGESIZE);
		fd = memfd_create("vhost-bench", MFD_CLOEXEC);
		break;
	case VUB_MEM_MEMFD_HUGETLB:
		*page_size = HUGE_2M;
		fd = memfd_create("vhost-bench", MFD_CLOEXEC | MFD_HUGETLB);
		break;
	case VUB_MEM_HUGETLBFS:
		*page_size = HUGE_2M;
		n = snprintf(path, sizeof(path), "%s/vhost-bench.XXXXXX", dir);
		if (n < 0 || (size_t)n >= sizeof(path)) {
			return -ENAMETOOLONG;
		}
		fd = mkostemp(path, O_CLOEXEC);
		if (fd >= 0) {
			unlink(path);
		}
		break;
	default:
		return -EINVAL;
	}
	return fd < 0 ? -errno : fd;
}

int
vub_mem_create(struct vub_mem *m, uint64_t size, enum vub_mem_backing backing,
	       const char *hugetlbfs_dir, uint64_t gpa_base)
{
	uint64_t page;
	void *va;
	int fd, rc;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	fd = open_backing(backing, hugetlbfs_dir, &page);
	if (fd < 0) {
		return fd;
	}
	size = (size + page - 1) & ~(page - 1);
	if (ftruncate(fd, (off_t)size) != 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	va = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (va == MAP_FAILED) {
		rc = -errno;
		close(fd);
		return rc;
	}
	/* A hugetlb mapping with too few reserved pages faults with SIGBUS later; touch now. */
	if (backing != VUB_MEM_MEMFD) {
		for (uint64_t off = 0; off < size; off += page) {
			((volatile uint8_t *)va)[off] = 0;
		}
	}
	m->fd = fd;
	m->va = va;
	m->size = size;
	m->gpa_base = gpa_base;
	m->page_size = page;
	return 0;
}

void
vub_mem_destroy(struct vub_mem *m)
{
	if (m->va != NULL) {
		munmap(m->va, m->size);
	}
	if (m->fd >= 0) {
		close(m->fd);
	}
	memset(m, 0, sizeof(*m));
	m->fd = -1;
}

void *
vub_mem_alloc(struct vub_mem *m, uint64_t len, uint64_t align)
{
	uint64_t start;

	if (align == 0 || (align & (align - 1)) != 0) {
		return NULL;
	}
	start = (m->used + align - 1) & ~(align - 1);
	if (start > m->size || len > m->size - start) {
		return NULL;
	}
	m->used = start + len;
	memset(m->va + start, 0, len);
	return m->va + start;
}

void
vub_mem_region_desc(const struct vub_mem *m, struct vub_mem_region *r)
{
	r->gpa = m->gpa_base;
	r->size = m->size;
	r->uaddr = vub_mem_uaddr(m->va);
	r->mmap_offset = 0;
}
