/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtq-cost: the cost of the device-side ring path per request (pop, walk, push, notify
 * check), with and without the vhost-user inflight region, on a synthetic 128-entry ring
 * in plain memory. It isolates what inflight tracking adds to the data path.
 *
 * Usage: virtq-cost [ITERATIONS] [plain|inflight|both]
 * Prints ns per request (TSC-timed). Under `valgrind --tool=callgrind` the instruction
 * counts per request are exact and repeatable (tests/bench/virtq-cost.sh does that).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vhostd/virtq.h"

#define QSIZE 128
#define BATCH 32

struct ring {
	_Alignas(4096) struct vhd_vring_desc desc[QSIZE];
	_Alignas(4096) uint16_t avail[3 + QSIZE];
	_Alignas(4096) uint8_t used[4 + 8 * QSIZE + 2];
	_Alignas(4096) uint8_t data[QSIZE][4096];
	uint8_t hdr[QSIZE][16];
	uint8_t status[QSIZE];
	uint8_t inflight[sizeof(struct vhd_inflight_split) +
			 QSIZE * sizeof(struct vhd_inflight_desc)];
};

static struct ring g_ring __attribute__((aligned(4096)));

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Guest memory is one region mapping gpa == hva. */
static void
setup(struct vhd_vq *vq, struct vhd_mem *mem, bool inflight)
{
	struct vhd_vq_setup s = {0};
	struct ring *r = &g_ring;

	memset(r, 0, sizeof(*r));
	mem->nregions = 1;
	mem->regions[0] = (struct vhd_mem_region){.gpa = (uintptr_t)r, .size = sizeof(*r),
						  .hva = (uintptr_t)r, .uaddr = (uintptr_t)r};
	/* Chains: header (R) -> 4 KiB data (W) -> status (W), three descriptors each; 42 of
	 * them fit the ring, each head reused once its request completes. */
	for (uint16_t i = 0; i + 2 < QSIZE; i += 3) {
		r->desc[i] = (struct vhd_vring_desc){(uintptr_t)r->hdr[i], 16, VRING_DESC_F_NEXT,
						     (uint16_t)(i + 1)};
		r->desc[i + 1] = (struct vhd_vring_desc){(uintptr_t)r->data[i], 4096,
							 VRING_DESC_F_NEXT | VRING_DESC_F_WRITE,
							 (uint16_t)(i + 2)};
		r->desc[i + 2] = (struct vhd_vring_desc){(uintptr_t)&r->status[i], 1,
							 VRING_DESC_F_WRITE, 0};
	}
	((struct vhd_inflight_split *)r->inflight)->desc_num = QSIZE;
	s.desc = r->desc;
	s.avail = (struct vhd_vring_avail *)r->avail;
	s.used = (struct vhd_vring_used *)r->used;
	s.size = QSIZE;
	s.event_idx = true;
	s.callfd = -1;
	s.mem = mem;
	s.inflight = inflight ? (struct vhd_inflight_split *)r->inflight : NULL;
	s.name = "bench";
	if (vhd_vq_start(vq, &s) != 0) {
		fprintf(stderr, "vhd_vq_start failed\n");
		exit(1);
	}
}

static double
run(unsigned long iterations, bool inflight)
{
	struct vhd_mem mem;
	struct vhd_vq vq;
	struct vhd_vring_avail *avail;
	struct iovec iov[8];
	struct vhd_chain chain;
	uint16_t heads[BATCH];
	unsigned long done = 0;
	uint64_t t0;

	setup(&vq, &mem, inflight);
	avail = vq.avail;
	t0 = now_ns();
	while (done < iterations) {
		/* Driver side: make a batch of the 42 chains available. */
		for (unsigned int i = 0; i < BATCH; i++) {
			avail->ring[(uint16_t)(avail->idx + i) % QSIZE] = (uint16_t)((i % 42) * 3);
		}
		__atomic_store_n(&avail->idx, (uint16_t)(avail->idx + BATCH), __ATOMIC_RELEASE);
		/* Device side: what a worker round does per request. */
		int n = vhd_vq_pop(&vq, heads, BATCH);

		for (int i = 0; i < n; i++) {
			if (vhd_vq_walk(&vq, heads[i], &chain, iov, 8) != 0) {
				fprintf(stderr, "walk failed\n");
				exit(1);
			}
			*chain.last_writable = 0;
			vhd_vq_push(&vq, heads[i], 4097);
		}
		vhd_vq_notify(&vq);
		done += (unsigned long)n;
	}
	vhd_vq_stop(&vq);
	return (double)(now_ns() - t0) / (double)done;
}

int
main(int argc, char **argv)
{
	unsigned long iterations = argc > 1 ? strtoul(argv[1], NULL, 10) : 20000000ul;
	const char *mode = argc > 2 ? argv[2] : "both";

	if (strcmp(mode, "plain") == 0 || strcmp(mode, "both") == 0) {
		printf("plain    %.1f ns/request\n", run(iterations, false));
	}
	if (strcmp(mode, "inflight") == 0 || strcmp(mode, "both") == 0) {
		printf("inflight %.1f ns/request\n", run(iterations, true));
	}
	return 0;
}
