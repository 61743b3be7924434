/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Driver side of a split virtqueue (VIRTIO 1.2 2.7): add descriptor chains, publish them in
 * the avail ring with notification suppression (VRING_USED_F_NO_NOTIFY or EVENT_IDX
 * avail_event), reap and validate used entries, and control device interrupts
 * (VRING_AVAIL_F_NO_INTERRUPT or EVENT_IDX used_event).
 *
 * The rings live in memory shared with an untrusted device. Everything the driver needs to
 * stay consistent (free list, chain bookkeeping, what was published) is kept privately;
 * shared memory is only written, except used->idx, used entries, used->flags and
 * avail_event, which are read once and validated. A bad used entry makes the ring "broken":
 * every later call fails with -EPROTO and vr->err says why.
 *
 * Pure C, no system calls, no allocation after vub_vring_init(). One thread per ring.
 */
#ifndef VUB_VRING_H
#define VUB_VRING_H

#include "vhostd/virtio_spec.h"

/* One buffer of a chain: guest physical address, length, device-writable or not. */
struct vub_buf {
	uint64_t gpa;
	uint32_t len;
	bool writable;
};

enum vub_slot_state {
	VUB_SLOT_FREE = 0,
	VUB_SLOT_ADDED,     /* in the avail ring, avail->idx not yet moved past it */
	VUB_SLOT_PUBLISHED, /* visible to the device, awaiting its used entry */
};

/* Private bookkeeping per chain head. */
struct vub_vring_slot {
	void *cookie;
	uint32_t wlen;  /* device-writable bytes in the chain: the most a used len may say */
	uint16_t ndesc; /* ring descriptors the chain occupies (1 for an indirect chain) */
	uint16_t last;  /* last ring descriptor of the chain */
	uint16_t nbufs; /* reserved chains: buffers it was written with */
	uint8_t state;
	bool reserved;  /* owned by the caller between requests: see vub_vring_reserve() */
	struct vhd_vring_desc *table; /* reserved indirect chains: the caller's table */
};

struct vub_vring {
	uint16_t size;
	uint16_t mask;
	uint16_t num_free;   /* free ring descriptors */
	uint16_t free_head;
	uint16_t avail_idx;  /* next avail slot (shadow of avail->idx incl. unpublished) */
	uint16_t avail_pub;  /* value last stored in avail->idx */
	uint16_t last_used;  /* next used entry to reap */
	uint16_t outstanding; /* published chains without a used entry yet */
	bool event_idx;
	bool broken;
	struct vhd_vring_desc *desc;
	struct vhd_vring_avail *avail;
	struct vhd_vring_used *used;
	uint16_t *used_event;  /* driver -> device, after avail->ring[size] */
	uint16_t *avail_event; /* device -> driver, after used->ring[size] */
	uint16_t *next;        /* private free-list links */
	uint16_t *avail_copy;  /* private copy of the heads written to avail->ring */
	struct vub_vring_slot *slots;
	char err[192];
};

/* Bytes each part needs for a ring of size entries (with room for the EVENT_IDX fields). */
size_t vub_vring_desc_bytes(uint16_t size);
size_t vub_vring_avail_bytes(uint16_t size);
size_t vub_vring_used_bytes(uint16_t size);

/*
 * Set up the driver state over zeroed ring memory (desc 16-byte, avail 2-byte, used 4-byte
 * aligned). size must be a power of two, 1..32768. Allocates the private arrays.
 * \return 0, -EINVAL or -ENOMEM.
 */
int vub_vring_init(struct vub_vring *vr, uint16_t size, void *desc, void *avail, void *used,
		   bool event_idx);
void vub_vring_fini(struct vub_vring *vr);

/*
 * Write a chain of n direct descriptors and queue its head in the avail ring (not yet
 * visible: see vub_vring_publish()). cookie comes back from vub_vring_get_used().
 * \return the head index, -ENOSPC (not enough free descriptors), -EINVAL or -EPROTO (broken).
 */
int vub_vring_add(struct vub_vring *vr, const struct vub_buf *bufs, unsigned int n,
		  void *cookie);

/*
 * Same with an indirect table: bufs are written to table (n entries, caller-owned memory
 * inside guest memory at table_gpa) and one ring descriptor points at it.
 */
int vub_vring_add_indirect(struct vub_vring *vr, struct vhd_vring_desc *table, uint64_t table_gpa,
			   const struct vub_buf *bufs, unsigned int n, void *cookie);

/*
 * Reserved chains, for a driver that sends the same buffers again and again: the chain is
 * written once and stays out of the free list, so each request only puts its head in the
 * avail ring. No descriptor is rewritten per request, which spares the device a cache miss
 * on the table line the driver would otherwise have just written.
 *
 * vub_vring_reserve() writes a chain of n direct descriptors (or, with a table, one ring
 * descriptor pointing at n table entries) and returns its head, -ENOSPC, -EINVAL or -EPROTO.
 * vub_vring_rewrite() writes new buffers (same n) into a reserved chain that is not in
 * flight, e.g. to turn the data buffers device-writable for a read. vub_vring_requeue()
 * queues a reserved chain that is not in flight, like vub_vring_add(); it returns 0 or
 * -EINVAL (not reserved, or in flight) / -EPROTO (broken). A reserved chain comes back from
 * vub_vring_get_used() like any other and can be requeued at once.
 */
int vub_vring_reserve(struct vub_vring *vr, const struct vub_buf *bufs, unsigned int n);
int vub_vring_reserve_indirect(struct vub_vring *vr, struct vhd_vring_desc *table,
			       uint64_t table_gpa, const struct vub_buf *bufs, unsigned int n);
int vub_vring_rewrite(struct vub_vring *vr, uint16_t head, const struct vub_buf *bufs,
		      unsigned int n);
int vub_vring_requeue(struct vub_vring *vr, uint16_t head, void *cookie);

/*
 * Make every added chain visible (one avail->idx store) and say whether the device wants a
 * kick, honouring VRING_USED_F_NO_NOTIFY or, with EVENT_IDX, avail_event.
 */
bool vub_vring_publish(struct vub_vring *vr);

/*
 * Reap one used entry. \return 1 with *cookie and *len (bytes the device wrote) set, 0 when
 * none is pending, -EPROTO when the device wrote something invalid (id out of range or not
 * in flight, len above the chain's writable bytes, used->idx ahead of what is in flight).
 */
int vub_vring_get_used(struct vub_vring *vr, void **cookie, uint32_t *len);

/* Ask the device not to interrupt (poll mode, or while processing in interrupt mode). */
void vub_vring_disable_cb(struct vub_vring *vr);

/*
 * Ask for an interrupt at the next used entry. \return true if entries are already pending
 * (reap them instead of sleeping, or they may never be signalled).
 */
bool vub_vring_enable_cb(struct vub_vring *vr);

/* Chains added (published or not) and not reaped yet. */
static inline unsigned int
vub_vring_in_flight(const struct vub_vring *vr)
{
	return (uint16_t)(vr->avail_idx - vr->avail_pub) + vr->outstanding;
}

#endif /* VUB_VRING_H */
