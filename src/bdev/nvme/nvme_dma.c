/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * IOVA allocation and the host address -> IOVA table (see nvme_internal.h). Both are small
 * arrays: a process maps a few regions per connected VM plus a few per queue pair, so linear
 * scans beat anything cleverer. The table is read lock-free by the lcores (a sequence counter
 * tells them to retry), written on the control path.
 */
#include "nvme_internal.h"

#define IOVA_FLOOR (1ull << 20)

/* ---- IOVA space ---- */

int
nvme_iova_init(struct nvme_iova_space *s, const struct nvme_iova_range *valid,
	       unsigned int nvalid)
{
	memset(s, 0, sizeof(*s));
	for (unsigned int i = 0; i < nvalid; i++) {
		struct nvme_iova_range r = valid[i];
		unsigned int j;

		if (r.start < IOVA_FLOOR) {
			r.start = IOVA_FLOOR;
		}
		r.start = (r.start + NVME_PAGE_SIZE - 1) & ~(uint64_t)(NVME_PAGE_SIZE - 1);
		r.end &= ~(uint64_t)(NVME_PAGE_SIZE - 1);
		if (r.end <= r.start) {
			continue;
		}
		if (s->nvalid == NVME_IOVA_MAX_RANGES) {
			break;
		}
		/* insertion sort by start */
		for (j = s->nvalid; j > 0 && s->valid[j - 1].start > r.start; j--) {
			s->valid[j] = s->valid[j - 1];
		}
		s->valid[j] = r;
		s->nvalid++;
	}
	if (s->nvalid == 0) {
		return -EINVAL;
	}
	/* Prefer IOVAs above 4 GiB when the IOMMU allows: below sit the MSI window and the
	 * usual reserved regions. */
	s->cursor = s->valid[0].start;
	for (unsigned int i = 0; i < s->nvalid; i++) {
		if (s->valid[i].end > (1ull << 32)) {
			s->cursor = VHD_MAX(s->valid[i].start, 1ull << 32);
			break;
		}
	}
	return 0;
}

/* Lowest aligned address >= from inside a free gap of valid range v that fits size, or 0. */
static uint64_t
fit_in_range(const struct nvme_iova_space *s, const struct nvme_iova_range *v, uint64_t from,
	     uint64_t size, uint64_t align)
{
	uint64_t addr = VHD_MAX(from, v->start);

	addr = (addr + align - 1) & ~(align - 1);
	for (unsigned int i = 0; i < s->nused; i++) {
		const struct nvme_iova_range *u = &s->used[i];

		if (u->end <= addr) {
			continue;
		}
		if (addr + size <= u->start) {
			break;
		}
		/* overlaps: jump past it */
		addr = (u->end + align - 1) & ~(align - 1);
	}
	if (addr < v->start || addr + size > v->end || addr + size < addr) {
		return 0;
	}
	return addr;
}

int
nvme_iova_alloc(struct nvme_iova_space *s, uint64_t size, uint64_t align, uint64_t *iova)
{
	uint64_t addr = 0;
	unsigned int pos;

	if (size == 0 || (size & (NVME_PAGE_SIZE - 1)) != 0 || align < NVME_PAGE_SIZE ||
	    (align & (align - 1)) != 0) {
		return -EINVAL;
	}
	if (s->nused == NVME_IOVA_MAX_USED) {
		return -ENOSPC;
	}
	/* Next fit: from the cursor to the top, then from the bottom. */
	for (int pass = 0; pass < 2 && addr == 0; pass++) {
		uint64_t from = pass == 0 ? s->cursor : 0;

		for (unsigned int i = 0; i < s->nvalid && addr == 0; i++) {
			if (s->valid[i].end <= from) {
				continue;
			}
			addr = fit_in_range(s, &s->valid[i], from, size, align);
		}
	}
	if (addr == 0) {
		return -ENOMEM;
	}
	for (pos = s->nused; pos > 0 && s->used[pos - 1].start > addr; pos--) {
		s->used[pos] = s->used[pos - 1];
	}
	s->used[pos].start = addr;
	s->used[pos].end = addr + size;
	s->nused++;
	s->cursor = addr + size;
	*iova = addr;
	return 0;
}

void
nvme_iova_free(struct nvme_iova_space *s, uint64_t iova, uint64_t size)
{
	for (unsigned int i = 0; i < s->nused; i++) {
		if (s->used[i].start == iova && s->used[i].end == iova + size) {
			memmove(&s->used[i], &s->used[i + 1],
				(s->nused - i - 1) * sizeof(s->used[0]));
			s->nused--;
			return;
		}
	}
}

/* ---- host address -> IOVA table ---- */

int
nvme_dma_table_find(const struct nvme_dma_table *t, uint64_t vaddr, uint64_t len)
{
	for (uint32_t i = 0; i < t->nmaps; i++) {
		if (t->maps[i].vaddr == vaddr && t->maps[i].len == len) {
			return (int)i;
		}
	}
	return -1;
}

static void
write_begin(struct nvme_dma_table *t)
{
	__atomic_store_n(&t->seq, t->seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void
write_end(struct nvme_dma_table *t)
{
	__atomic_store_n(&t->seq, t->seq + 1, __ATOMIC_RELEASE);
}

int
nvme_dma_table_insert(struct nvme_dma_table *t, uint64_t vaddr, uint64_t len, uint64_t iova)
{
	struct nvme_dma_map *m;

	for (uint32_t i = 0; i < t->nmaps; i++) {
		const struct nvme_dma_map *o = &t->maps[i];

		if (vaddr < o->vaddr + o->len && o->vaddr < vaddr + len) {
			return -EEXIST;
		}
	}
	if (t->nmaps == NVME_DMA_MAX_MAPS) {
		return -ENOSPC;
	}
	write_begin(t);
	m = &t->maps[t->nmaps];
	__atomic_store_n(&m->vaddr, vaddr, __ATOMIC_RELAXED);
	__atomic_store_n(&m->len, len, __ATOMIC_RELAXED);
	__atomic_store_n(&m->iova, iova, __ATOMIC_RELAXED);
	m->refs = 1;
	__atomic_store_n(&t->nmaps, t->nmaps + 1, __ATOMIC_RELAXED);
	write_end(t);
	return 0;
}

void
nvme_dma_table_remove(struct nvme_dma_table *t, int idx)
{
	uint32_t last = t->nmaps - 1;
	struct nvme_dma_map *m = &t->maps[idx];

	write_begin(t);
	if ((uint32_t)idx != last) {
		__atomic_store_n(&m->vaddr, t->maps[last].vaddr, __ATOMIC_RELAXED);
		__atomic_store_n(&m->len, t->maps[last].len, __ATOMIC_RELAXED);
		__atomic_store_n(&m->iova, t->maps[last].iova, __ATOMIC_RELAXED);
		m->refs = t->maps[last].refs;
	}
	__atomic_store_n(&t->nmaps, last, __ATOMIC_RELAXED);
	write_end(t);
}

static bool
map_covers(const struct nvme_dma_map *m, uint64_t va, uint64_t len, uint64_t *iova)
{
	uint64_t base = __atomic_load_n(&m->vaddr, __ATOMIC_RELAXED);
	uint64_t size = __atomic_load_n(&m->len, __ATOMIC_RELAXED);

	if (va >= base && va - base <= size && len <= size - (va - base)) {
		*iova = __atomic_load_n(&m->iova, __ATOMIC_RELAXED) + (va - base);
		return true;
	}
	return false;
}

int
nvme_dma_translate(const struct nvme_dma_table *t, const void *vaddr, uint64_t len,
		   uint64_t *iova, uint32_t *hint)
{
	uint64_t va = (uint64_t)(uintptr_t)vaddr;

	for (;;) {
		uint32_t seq = __atomic_load_n(&t->seq, __ATOMIC_ACQUIRE);
		uint32_t n = __atomic_load_n(&t->nmaps, __ATOMIC_RELAXED);
		uint64_t out = 0;
		int rc = -EFAULT;

		if (vhd_unlikely(seq & 1)) {
			continue;
		}
		if (*hint < n && map_covers(&t->maps[*hint], va, len, &out)) {
			rc = 0;
		} else {
			for (uint32_t i = 0; i < n && i < NVME_DMA_MAX_MAPS; i++) {
				if (map_covers(&t->maps[i], va, len, &out)) {
					*hint = i;
					rc = 0;
					break;
				}
			}
		}
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (vhd_likely(__atomic_load_n(&t->seq, __ATOMIC_RELAXED) == seq)) {
			*iova = out;
			return rc;
		}
	}
}
