/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Bounded single-producer single-consumer ring of pointers, lock-free. Used between a worker
 * lcore and a helper thread (e.g. the aio backend's fallocate offload), where one side must
 * never block or take a lock.
 */
#ifndef VHOSTD_SPSC_H
#define VHOSTD_SPSC_H

#include <stdlib.h>

#include "vhostd/common.h"

struct vhd_spsc {
	uint32_t mask;
	_Alignas(64) uint32_t head; /* next slot to read; written by the consumer */
	_Alignas(64) uint32_t tail; /* next slot to write; written by the producer */
	_Alignas(64) void *slots[];
};

/* \param size a power of two. \return NULL on allocation failure. */
static inline struct vhd_spsc *
vhd_spsc_create(uint32_t size)
{
	struct vhd_spsc *r = aligned_alloc(64, (sizeof(*r) + size * sizeof(void *) + 63) & ~63ul);

	if (r != NULL) {
		memset(r, 0, sizeof(*r));
		r->mask = size - 1;
	}
	return r;
}

static inline void
vhd_spsc_free(struct vhd_spsc *r)
{
	free(r);
}

/* Producer side. \return false when full. */
static inline bool
vhd_spsc_push(struct vhd_spsc *r, void *p)
{
	uint32_t tail = r->tail;

	if (tail - __atomic_load_n(&r->head, __ATOMIC_ACQUIRE) > r->mask) {
		return false;
	}
	r->slots[tail & r->mask] = p;
	__atomic_store_n(&r->tail, tail + 1, __ATOMIC_RELEASE);
	return true;
}

/* Consumer side. \return NULL when empty. */
static inline void *
vhd_spsc_pop(struct vhd_spsc *r)
{
	uint32_t head = r->head;
	void *p;

	if (head == __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE)) {
		return NULL;
	}
	p = r->slots[head & r->mask];
	__atomic_store_n(&r->head, head + 1, __ATOMIC_RELEASE);
	return p;
}

#endif /* VHOSTD_SPSC_H */
