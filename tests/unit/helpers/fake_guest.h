/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Test doubles for the guest side of a vhost-user device, for unit tests without EAL.
 *
 * struct fake_guest is a guest memory of 1..3 regions. Regions are separate host mappings in
 * reverse order with a PROT_NONE page after each one, so a buffer that spans two regions that
 * are adjacent in guest-physical space is never contiguous in the host, and running past a
 * region faults instead of reading a neighbour.
 *
 * struct fake_ring is the driver side of a split virtqueue living in that memory: it writes
 * arbitrary descriptors, chains, indirect tables and avail entries, and reads the used ring.
 * Every helper asserts (Criterion) on misuse, so a test never silently builds a wrong ring.
 */
#ifndef VHOSTD_TEST_FAKE_GUEST_H
#define VHOSTD_TEST_FAKE_GUEST_H

#include "vhostd/log.h"
#include "vhostd/virtq.h"

#define FG_MAX_REGIONS 3
#define FG_REGION_SIZE (1ull << 20)

struct fake_guest {
	struct vhd_mem mem;
	uint8_t *map;       /* one reservation holding every region and its guard page */
	size_t map_len;
	uint64_t cursor;    /* bump allocator, guest-physical */
};

/* n regions of FG_REGION_SIZE bytes, adjacent in guest-physical space from gpa 0. */
void fg_init(struct fake_guest *g, unsigned int n);

/* Regions at arbitrary guest-physical addresses (ascending, not overlapping). */
void fg_init_regions(struct fake_guest *g, unsigned int n, const uint64_t *gpa,
		     const uint64_t *size);

void fg_fini(struct fake_guest *g);

/* Host address of a guest byte; asserts it is in guest memory. */
void *fg_hva(const struct fake_guest *g, uint64_t gpa);

/* Allocate len bytes (zeroed) at the next multiple of align inside one region. */
uint64_t fg_alloc(struct fake_guest *g, uint64_t len, uint64_t align);

/* Allocate len bytes of which the first `before` lie at the end of region r and the rest at
 * the start of region r + 1 (which must follow it directly in guest-physical space). */
uint64_t fg_alloc_span(struct fake_guest *g, unsigned int r, uint64_t before, uint64_t len);

/* Copy to / from guest memory, across region boundaries. */
void fg_write(const struct fake_guest *g, uint64_t gpa, const void *buf, uint64_t len);
void fg_read(const struct fake_guest *g, uint64_t gpa, void *buf, uint64_t len);
void fg_fill(const struct fake_guest *g, uint64_t gpa, uint8_t byte, uint64_t len);

struct fake_ring {
	struct fake_guest *g;
	uint16_t size;
	uint64_t desc_gpa;
	uint64_t avail_gpa;
	uint64_t used_gpa;
	struct vhd_vring_desc *desc;
	struct vhd_vring_avail *avail;
	struct vhd_vring_used *used;
	uint16_t avail_idx;  /* the driver's next avail index */
	uint16_t used_seen;  /* used entries the driver has consumed */
};

/* Allocate a ring of `size` entries in region 0; indexes start at 0. */
void fr_init(struct fake_ring *r, struct fake_guest *g, uint16_t size);

/* Start both indexes at `idx` (as after a long-running guest): avail->idx = used->idx = idx. */
void fr_start_at(struct fake_ring *r, uint16_t idx);

/* vhd_vq_setup for this ring, starting where the ring's indexes are. */
void fr_setup(const struct fake_ring *r, struct vhd_vq_setup *s, bool event_idx,
	      bool indirect, int callfd);

void fr_set_desc(struct fake_ring *r, uint16_t idx, uint64_t addr, uint32_t len,
		 uint16_t flags, uint16_t next);

/* Put head in the next avail slot and publish avail->idx. */
void fr_push_avail(struct fake_ring *r, uint16_t head);

/* Put head in the next avail slot without publishing. */
void fr_add_avail(struct fake_ring *r, uint16_t head);

/* Publish avail->idx = the driver's shadow index. */
void fr_publish(struct fake_ring *r);

uint16_t *fr_used_event(const struct fake_ring *r);
uint16_t *fr_avail_event(const struct fake_ring *r);

uint16_t fr_used_idx(const struct fake_ring *r);
struct vhd_vring_used_elem fr_used_elem(const struct fake_ring *r, uint16_t used_idx);

/* One buffer of a chain. */
struct fr_buf {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

/*
 * Write a direct chain at descriptors first, first + 1, ... (mod size) and return first.
 * Flags: NEXT on all but the last, WRITE from buf->write.
 */
uint16_t fr_chain(struct fake_ring *r, uint16_t first, const struct fr_buf *b, unsigned int n);

/* Write an indirect table of n descriptors (entry i chains to i + 1) in guest memory.
 * \return its guest-physical address. */
uint64_t fr_indirect_table(struct fake_guest *g, const struct fr_buf *b, unsigned int n);

/* Pointer to entry i of an indirect table written by fr_indirect_table (to corrupt it). */
struct vhd_vring_desc *fr_table_entry(struct fake_guest *g, uint64_t table, unsigned int i);

/* ---- log capture ---- */

/* Count log lines per level; the last error line is kept. */
struct log_capture {
	unsigned int errors;
	unsigned int warnings;
	unsigned int others;
	char last_error[512];
};

extern struct log_capture g_log;

/* Reset the counters and route vhd_log into them (stderr still gets a copy). */
void log_capture_start(void);

#endif /* VHOSTD_TEST_FAKE_GUEST_H */
