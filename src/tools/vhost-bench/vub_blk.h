/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A vhost-user-blk front-end device: the part of QEMU's vhost-user-blk that talks to the
 * back-end, without a guest. vub_blk_connect() does the handshake up to reading the config
 * space; vub_blk_start() acks features, shares memory and starts the queues; the caller
 * then drives each queue's vub_vring (one thread per queue at a time) and kicks through
 * vub_blk_kick(); vub_blk_stop() stops the rings and checks the back-end's ring bases.
 *
 * Message order (same as QEMU 7.2 where it matters to back-ends):
 *   connect: GET_FEATURES, SET_OWNER, GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES,
 *            GET_QUEUE_NUM (PROTOCOL_F_MQ), GET_CONFIG (PROTOCOL_F_CONFIG; the full
 *            struct, again with the feature-implied size if the back-end refuses it)
 *   start:   SET_FEATURES, SET_STATUS(FEATURES_OK) (PROTOCOL_F_STATUS),
 *            GET/SET_INFLIGHT_FD (opt-in), SET_MEM_TABLE (one region),
 *            per queue SET_VRING_NUM/BASE/ADDR/CALL/KICK, then SET_VRING_ENABLE(1) each,
 *            SET_STATUS(DRIVER_OK)
 *   stop:    SET_STATUS(0), per queue SET_VRING_ENABLE(0), GET_VRING_BASE
 * REPLY_ACK is negotiated when offered and then every request without its own reply waits
 * for the back-end's acknowledgement.
 */
#ifndef VUB_BLK_H
#define VUB_BLK_H

#include <unistd.h>

#include "vub_client.h"
#include "vub_mem.h"
#include "vub_vring.h"

/* Device and transport features acked when the back-end offers them. */
#define VUB_BLK_FEATURES_DEFAULT                                                      \
	((1ull << VIRTIO_BLK_F_SIZE_MAX) | (1ull << VIRTIO_BLK_F_SEG_MAX) |           \
	 (1ull << VIRTIO_BLK_F_GEOMETRY) | (1ull << VIRTIO_BLK_F_RO) |                \
	 (1ull << VIRTIO_BLK_F_BLK_SIZE) | (1ull << VIRTIO_BLK_F_FLUSH) |             \
	 (1ull << VIRTIO_BLK_F_TOPOLOGY) | (1ull << VIRTIO_BLK_F_MQ) |                \
	 (1ull << VIRTIO_BLK_F_DISCARD) | (1ull << VIRTIO_BLK_F_WRITE_ZEROES) |       \
	 (1ull << VIRTIO_RING_F_INDIRECT_DESC))

struct vub_blk_opts {
	const char *path;        /* back-end socket */
	int timeout_ms;          /* each control step; 5000 if 0 */
	uint64_t features;       /* wanted virtio features (VERSION_1 is always required) */
	bool inflight;           /* negotiate INFLIGHT_SHMFD when offered, exchange the region */
	enum vub_mem_backing backing;
	const char *hugetlbfs_dir; /* for VUB_MEM_HUGETLBFS */
	uint64_t gpa_base;       /* 0: VUB_MEM_GPA_BASE_DEFAULT */
};

struct vub_blk_queue {
	uint16_t index;
	int kick_fd;   /* eventfd, non-blocking */
	int call_fd;   /* eventfd, non-blocking */
	struct vub_vring vr;
};

/* Each part of a ring (descriptors, avail, used) starts on its own page. */
#define VUB_RING_ALIGN 4096u

/* Shared memory the rings of one queue of qsize entries take. */
uint64_t vub_queue_mem_bytes(uint16_t qsize);

/*
 * Queue set-up shared by every front-end built on libvub (vub_blk here, vub-io for SCSI):
 * vub_queue_alloc() carves q's rings out of m, initialises the driver side and opens the
 * kick and call eventfds (0, -ENOMEM when m is too small, -EINVAL, or -errno);
 * vub_queue_announce() sends SET_VRING_NUM/BASE/ADDR/CALL/KICK for it (0 or the failing
 * message's vub_conn error). q->index must be set.
 */
int vub_queue_alloc(struct vub_mem *m, struct vub_blk_queue *q, uint16_t qsize, bool event_idx);
int vub_queue_announce(struct vub_conn *c, const struct vub_blk_queue *q);

struct vub_blk {
	struct vub_conn conn;
	struct vub_blk_opts opts;
	uint64_t dev_features;   /* offered by GET_FEATURES */
	uint64_t features;       /* acked by SET_FEATURES */
	uint64_t proto_offered;  /* offered by GET_PROTOCOL_FEATURES, 0 if none */
	uint64_t proto;          /* negotiated protocol features */
	uint32_t max_queues;     /* queues the device supports */
	bool has_config;
	struct virtio_blk_config cfg; /* zero unless has_config */
	uint32_t cfg_len;        /* bytes GET_CONFIG returned (full struct, or what the
				  * offered features cover when the back-end refused that) */
	struct vub_mem mem;
	uint16_t nq;
	uint16_t qsize;
	struct vub_blk_queue *q;
	int inflight_fd;
	void *inflight_va;
	uint64_t inflight_size;
	bool started;
	char err[320];
};

static inline bool
vub_blk_has(const struct vub_blk *d, unsigned int bit)
{
	return (d->features & (1ull << bit)) != 0;
}

static inline bool
vub_blk_offers(const struct vub_blk *d, unsigned int bit)
{
	return (d->dev_features & (1ull << bit)) != 0;
}

/* Device capacity in bytes (0 without config space). */
static inline uint64_t
vub_blk_capacity(const struct vub_blk *d)
{
	return d->cfg.capacity * VIRTIO_BLK_SECTOR_SIZE;
}

/* Connect and negotiate up to GET_CONFIG. On failure everything is released. */
int vub_blk_connect(struct vub_blk *d, const struct vub_blk_opts *opts);

/*
 * Ack features and start nq queues of qsize entries. The shared region holds the rings
 * plus extra_mem bytes the caller carves buffers from (vub_mem_alloc(&d->mem, ...)) before
 * submitting. \return 0 or -errno (vub_blk_error() says why).
 */
int vub_blk_start(struct vub_blk *d, uint16_t nq, uint16_t qsize, uint64_t extra_mem);

/*
 * Stop the queues (GET_VRING_BASE). Where a queue has nothing in flight the returned base
 * must equal the driver's published avail index, else -EPROTO.
 */
int vub_blk_stop(struct vub_blk *d);

/* Release everything (closing the socket). Safe after any failure. */
void vub_blk_close(struct vub_blk *d);

const char *vub_blk_error(const struct vub_blk *d);

/* Notify the back-end (one eventfd write). \return 0 or -errno. */
static inline int
vub_blk_kick(const struct vub_blk_queue *q)
{
	uint64_t one = 1;

	if (write(q->kick_fd, &one, sizeof(one)) != (ssize_t)sizeof(one)) {
		return errno == EAGAIN ? 0 : -errno; /* counter saturated: already pending */
	}
	return 0;
}

#endif /* VUB_BLK_H */
