/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Guest-physical to host-virtual translation over a vhost-user memory table. Guests have at
 * most 8 regions and usually 1-2, so a linear scan beats anything cleverer.
 */
#include "vhostd/virtq.h"

static const struct vhd_mem_region *
find_region(const struct vhd_mem *mem, uint64_t gpa)
{
	for (uint32_t i = 0; i < mem->nregions; i++) {
		const struct vhd_mem_region *r = &mem->regions[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size) {
			return r;
		}
	}
	return NULL;
}

int
vhd_mem_translate_slow(const struct vhd_mem *mem, uint64_t gpa, uint64_t len, struct iovec *iov,
		       unsigned int max_iov)
{
	const struct vhd_mem_region *r;
	unsigned int n = 0;

	if (gpa + len < gpa) {
		return -EFAULT;
	}
	/* Nearly every buffer lies in one region: one lookup and no loop. */
	r = find_region(mem, gpa);
	if (vhd_likely(r != NULL && len - 1 < r->size - (gpa - r->gpa) && max_iov > 0)) {
		iov[0].iov_base = (void *)(uintptr_t)(r->hva + (gpa - r->gpa));
		iov[0].iov_len = len;
		return 1;
	}
	while (len > 0) {
		uint64_t chunk;

		if (r == NULL) {
			return -EFAULT;
		}
		if (n == max_iov) {
			return -ENOBUFS;
		}
		chunk = VHD_MIN(len, r->size - (gpa - r->gpa));
		iov[n].iov_base = (void *)(uintptr_t)(r->hva + (gpa - r->gpa));
		iov[n].iov_len = chunk;
		n++;
		gpa += chunk;
		len -= chunk;
		if (len > 0) {
			r = find_region(mem, gpa);
		}
	}
	return (int)n;
}

void *
vhd_mem_contig(const struct vhd_mem *mem, uint64_t gpa, uint64_t len)
{
	const struct vhd_mem_region *r = find_region(mem, gpa);

	if (r == NULL || len > r->size - (gpa - r->gpa)) {
		return NULL;
	}
	return (void *)(uintptr_t)(r->hva + (gpa - r->gpa));
}

bool
vhd_mem_same_layout(const struct vhd_mem *a, const struct vhd_mem *b)
{
	if (a->nregions != b->nregions) {
		return false;
	}
	for (uint32_t i = 0; i < a->nregions; i++) {
		if (a->regions[i].gpa != b->regions[i].gpa ||
		    a->regions[i].size != b->regions[i].size ||
		    a->regions[i].uaddr != b->regions[i].uaddr) {
			return false;
		}
	}
	return true;
}
