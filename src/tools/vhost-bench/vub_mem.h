/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The front-end's "guest memory": one shared region (memfd, memfd hugetlb or a hugetlbfs
 * file) mapped in this process and handed to the back-end with SET_MEM_TABLE. Guest
 * physical addresses are defined as gpa_base + offset in the region; the region's user
 * address (what SET_VRING_ADDR uses) is its address in this process. Rings and data buffers
 * are carved out with a bump allocator; nothing is ever freed before vub_mem_destroy().
 */
#ifndef VUB_MEM_H
#define VUB_MEM_H

#include "vhostd/common.h"

#include "vub_proto.h"

/* Default GPA of the region start: non-zero so a back-end confusing GPAs with offsets fails. */
#define VUB_MEM_GPA_BASE_DEFAULT 0x40000000ull

enum vub_mem_backing {
	VUB_MEM_MEMFD = 0,      /* anonymous memfd, 4 KiB pages */
	VUB_MEM_MEMFD_HUGETLB,  /* memfd with MFD_HUGETLB (default huge page size) */
	VUB_MEM_HUGETLBFS,      /* an unlinked file in a hugetlbfs mount (hugetlbfs_dir) */
};

struct vub_mem {
	int fd;
	uint8_t *va;
	uint64_t size;       /* mapped bytes (rounded to the page size) */
	uint64_t gpa_base;
	uint64_t used;       /* bump allocator cursor */
	uint64_t page_size;
};

/*
 * Create and map (populated, shared) a region of at least size bytes.
 * \return 0, or -errno (e.g. -ENOMEM when no huge pages are reserved).
 */
int vub_mem_create(struct vub_mem *m, uint64_t size, enum vub_mem_backing backing,
		   const char *hugetlbfs_dir, uint64_t gpa_base);

/* Unmap and close; safe on a zeroed or already destroyed struct. */
void vub_mem_destroy(struct vub_mem *m);

/*
 * Carve len bytes aligned to align (power of two) out of the region; zeroed.
 * \return the address, or NULL when the region is exhausted.
 */
void *vub_mem_alloc(struct vub_mem *m, uint64_t len, uint64_t align);

/* Guest physical address of a pointer inside the region. */
static inline uint64_t
vub_mem_gpa(const struct vub_mem *m, const void *p)
{
	return m->gpa_base + (uint64_t)((const uint8_t *)p - m->va);
}

/* Front-end user address (for SET_VRING_ADDR) of a pointer inside the region. */
static inline uint64_t
vub_mem_uaddr(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

/* Describe the region for SET_MEM_TABLE. */
void vub_mem_region_desc(const struct vub_mem *m, struct vub_mem_region *r);

#endif /* VUB_MEM_H */
