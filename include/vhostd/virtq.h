/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device side of a split virtqueue, in plain C (no DPDK) so it can be unit-tested and fuzzed
 * on synthetic rings.
 *
 * Everything in guest memory is hostile: indexes, descriptors, lengths and addresses are read
 * once into private copies, bounds-checked, and translated only through struct vhd_mem.
 * Errors come in two classes:
 *  - ring corruption that leaves no sane way to return the request (avail index jump, head
 *    out of range or already in flight, descriptor loop, bad next index, nested or malformed
 *    indirect table, readable after writable): the queue is marked broken, one error line is
 *    logged, and it is never touched again until it is restarted;
 *  - a request whose structure is sound but whose buffers are not (outside guest memory, more
 *    segments than the iovec array holds): vhd_vq_walk() returns 0 with chain->error set, so
 *    the device can fail just that request with the right status.
 *
 * Threading: a struct vhd_vq is owned by one worker lcore while it is started. Nothing here
 * takes a lock or allocates after vhd_vq_start().
 */
#ifndef VHOSTD_VIRTQ_H
#define VHOSTD_VIRTQ_H

#include "vhostd/common.h"
#include "vhostd/iov.h"
#include "vhostd/virtio_spec.h"

/* vhost-user (DPDK 22.11) accepts at most 8 regions in SET_MEM_TABLE. */
#define VHD_MEM_MAX_REGIONS 8

struct vhd_mem_region {
	uint64_t gpa;   /* guest physical address of the first byte */
	uint64_t size;  /* bytes */
	uint64_t hva;   /* where that first byte is mapped in vhostd */
	uint64_t uaddr; /* the front-end's own address for it (identifies the table) */
};

/* A guest memory table; immutable while any queue that points at it is started. */
struct vhd_mem {
	uint32_t nregions;
	struct vhd_mem_region regions[VHD_MEM_MAX_REGIONS];
};

/*
 * Translate [gpa, gpa + len) into host iovecs, one per region the range touches.
 * \return the number of iovecs used (0 when len is 0), -EFAULT when any byte is outside guest
 *         memory or gpa + len overflows, -ENOBUFS when more than max_iov would be needed.
 */
int vhd_mem_translate_slow(const struct vhd_mem *mem, uint64_t gpa, uint64_t len,
			   struct iovec *iov, unsigned int max_iov);

static inline int
vhd_mem_translate(const struct vhd_mem *mem, uint64_t gpa, uint64_t len, struct iovec *iov,
		  unsigned int max_iov)
{
	const struct vhd_mem_region *r = &mem->regions[0];
	uint64_t off = gpa - r->gpa;

	/* Inline for the buffer of a request that lies in the first region: nearly all of them
	 * (QEMU's low RAM, or all of it). Everything else, len 0 included, goes the long way. */
	if (vhd_likely(mem->nregions > 0 && max_iov > 0 && len > 0 && off < r->size &&
		       len <= r->size - off)) {
		iov[0].iov_base = (void *)(uintptr_t)(r->hva + off);
		iov[0].iov_len = len;
		return 1;
	}
	return vhd_mem_translate_slow(mem, gpa, len, iov, max_iov);
}

/* Host address of [gpa, gpa + len) when it lies inside one region, else NULL. */
void *vhd_mem_contig(const struct vhd_mem *mem, uint64_t gpa, uint64_t len);

/* true when both tables describe the same guest layout (same gpa/size/uaddr per region). */
bool vhd_mem_same_layout(const struct vhd_mem *a, const struct vhd_mem *b);

/*
 * Shared inflight-tracking region of one split queue, as defined by the vhost-user spec
 * ("Inflight I/O tracking") and allocated by the front-end (VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD).
 * It outlives vhostd: after a crash the next instance finds what was in flight here.
 */
struct vhd_inflight_desc {
	uint8_t inflight;
	uint8_t padding[5];
	uint16_t next;
	uint64_t counter;
};

struct vhd_inflight_split {
	uint64_t features;
	uint16_t version;
	uint16_t desc_num;
	uint16_t last_inflight_io;
	uint16_t used_idx;
	struct vhd_inflight_desc desc[];
};

/* What a started queue needs; filled by the transport from rte_vhost. */
struct vhd_vq_setup {
	struct vhd_vring_desc *desc;
	struct vhd_vring_avail *avail;
	struct vhd_vring_used *used;
	uint16_t size;               /* power of two, 1..32768 */
	uint16_t last_avail_idx;     /* from the vring base */
	uint16_t last_used_idx;
	bool event_idx;              /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool indirect;               /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	int callfd;                  /* eventfd to signal the guest, or -1 */
	const struct vhd_mem *mem;
	struct vhd_inflight_split *inflight; /* NULL when the front-end did not set one up */
	const char *name;            /* "vhost.0 q1", for log lines */
};

struct vhd_vq {
	/* Ring in guest memory (host addresses). */
	struct vhd_vring_desc *desc;
	struct vhd_vring_avail *avail;
	struct vhd_vring_used *used;
	uint16_t size;
	uint16_t last_avail_idx;     /* next avail slot to consume */
	uint16_t used_idx;           /* what we last published in used->idx */
	uint16_t signalled_used;     /* used_idx at the last guest notification */
	bool signalled_used_valid;
	bool event_idx;
	bool indirect;
	bool broken;                 /* corrupt ring: never touched again until restarted */
	bool need_notify;            /* used entries published since the last notification */
	int callfd;
	uint16_t inflight_count;     /* popped, not yet pushed */
	const struct vhd_mem *mem;
	struct vhd_inflight_split *inflight;
	uint64_t inflight_counter;
	uint8_t *busy;               /* [size]: 1 while that head is popped and not pushed */
	const char *name;
	uint64_t notifications;      /* eventfd writes, for statistics */
};

/* A walked descriptor chain. Device-readable iovecs come first, then device-writable ones. */
struct vhd_chain {
	uint16_t head;
	uint16_t niov;               /* iovecs filled */
	uint16_t nreadable;          /* iov[0..nreadable) are device-readable */
	uint64_t readable_len;       /* total bytes, including any not in iov[] */
	uint64_t writable_len;
	/*
	 * 0, or -EFAULT: a buffer lies (partly) outside guest memory; its iovec has iov_base NULL
	 * and must not be touched. -ENOBUFS: the chain has more segments than iov[] holds; the
	 * walk continued so the lengths and last_writable are still right.
	 */
	int error;
	uint8_t *last_writable;      /* host address of the chain's last writable byte, or NULL */
};

/*
 * Start using a ring. Validates the setup (size, ring alignment) and allocates the busy map.
 * Called on the control path, not per request.
 * \return 0, -EINVAL for a bad setup, -ENOMEM.
 */
int vhd_vq_start(struct vhd_vq *vq, const struct vhd_vq_setup *setup);

/* Release what vhd_vq_start() allocated. The ring itself is not touched. */
void vhd_vq_stop(struct vhd_vq *vq);

/*
 * Take up to max new heads from the avail ring, marking each in flight (and recording it in
 * the inflight region when there is one).
 * \return the number of heads taken (0 when none), or -EIO when the ring is broken
 *         (the queue is then marked broken and one error is logged).
 */
int vhd_vq_pop(struct vhd_vq *vq, uint16_t *heads, unsigned int max);

/*
 * Take a specific head without reading the avail ring: used to resubmit requests the inflight
 * region recorded before a reconnect (their avail slots are already counted in last_avail_idx).
 * \return 0, or -EIO (head out of range or already in flight; queue marked broken).
 */
int vhd_vq_take(struct vhd_vq *vq, uint16_t head);

/*
 * Walk the chain starting at a head returned by vhd_vq_pop()/vhd_vq_take() into iov[].
 * \return 0 (see chain->error for per-request problems) or -EIO when the queue is broken. The
 *         head must still be given back with vhd_vq_push(): on a broken queue that only
 *         releases our bookkeeping and writes nothing to the ring.
 */
int vhd_vq_walk(struct vhd_vq *vq, uint16_t head, struct vhd_chain *chain, struct iovec *iov,
		unsigned int max_iov);

/*
 * Return a head to the guest with `len` bytes written. With an inflight region, used->idx is
 * published at once (its record can repair only one completion in between); without one, the
 * guest sees the entry at the next vhd_vq_notify(), so a round of completions moves the line
 * holding used->idx between the cores once instead of once per request. Never notifies: call
 * vhd_vq_notify() once per poll round.
 */
void vhd_vq_push(struct vhd_vq *vq, uint16_t head, uint32_t len);

/*
 * Publish used->idx for the entries pushed since the last call, then signal the guest if it
 * asked for it (EVENT_IDX used_event, or VRING_AVAIL_F_NO_INTERRUPT). One eventfd write at
 * most. Entries pushed before the queue broke are still published.
 */
void vhd_vq_notify(struct vhd_vq *vq);

/* Signal unconditionally (after a (re)start, so a guest waiting on a lost interrupt wakes). */
void vhd_vq_notify_force(struct vhd_vq *vq);

/* Mark the queue broken and log why, once. */
void vhd_vq_set_broken(struct vhd_vq *vq, const char *fmt, ...) VHD_PRINTF(2, 3);

#endif /* VHOSTD_VIRTQ_H */
