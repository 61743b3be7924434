/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device emulation (virtio-blk, virtio-scsi) and the queue framework they share.
 *
 * A struct vhd_dev is one emulated device (one controller), created on the control path. A
 * struct vhd_queue is one started virtqueue of a connected guest: a ring (struct vhd_vq), a
 * task per ring entry (preallocated, indexed by head) and device per-queue state. Queues are
 * owned by the worker lcore of their controller; vhd_queue_poll() runs there every round.
 *
 * A request's life: vhd_queue_poll() pops heads, walks each chain into its task, and calls
 * ops->submit(task). The device parses, validates and starts backend I/O (or answers at once),
 * and eventually calls vhd_task_complete(), which puts the head on the used ring. The worker
 * notifies the guest once per queue per round (vhd_vq_notify()).
 */
#ifndef VHOSTD_DEV_H
#define VHOSTD_DEV_H

#include <sys/queue.h>

#include "vhostd/bdev.h"
#include "vhostd/common.h"
#include "vhostd/virtq.h"

/* iovecs per request: seg_max data segments + header + status + room for region splits. */
#define VHD_TASK_IOV_MAX 132
#define VHD_SEG_MAX (VHD_TASK_IOV_MAX - 4)

struct vhd_dev;
struct vhd_queue;

/* Per-request state; devices embed it first in their own task struct (ops->task_size). */
struct vhd_task {
	struct vhd_queue *q;
	struct vhd_chain chain;
	uint64_t start_tsc;
	struct iovec iov[VHD_TASK_IOV_MAX];
};

/* Latency buckets: [0] < 1 us, then powers of two up to [31] >= ~1 s (upper bounds 2^i us). */
#define VHD_LAT_BUCKETS 32

struct vhd_io_stats {
	uint64_t reads, writes, flushes, discards, write_zeroes, others;
	uint64_t read_bytes, write_bytes;
	uint64_t errors;
	uint64_t lat_sum_us;
	uint64_t lat_hist[VHD_LAT_BUCKETS];
	/* Per request type (the sums above cover every type). */
	uint64_t discard_bytes;
	uint64_t read_lat_us, write_lat_us, discard_lat_us;
};

/* Add every counter of src to dst. */
void vhd_io_stats_add(struct vhd_io_stats *dst, const struct vhd_io_stats *src);

/* One virtqueue's figures as the control plane reports them. */
struct vhd_queue_stats {
	uint16_t index;            /* vring index */
	bool started;              /* a front-end is using it now */
	uint16_t size;             /* ring entries (0 when not started) */
	uint16_t inflight;         /* requests popped and not completed */
	struct vhd_io_stats io;    /* cumulative since the controller was created */
};

struct vhd_dev_ops {
	const char *type;          /* "blk", "scsi" */
	size_t task_size;          /* Required. >= sizeof(struct vhd_task) */
	uint64_t protocol_features; /* vhost-user protocol features the device needs */
	/* Required. virtio feature bits to offer (device and ring bits, VERSION_1). */
	uint64_t (*features)(struct vhd_dev *dev);
	/* Required. Number of vrings for the configured request queues (blk n, scsi n + 2). */
	uint32_t (*num_vrings)(struct vhd_dev *dev);
	/* Optional. Fill `len` bytes of config space (zero past the device's struct).
	 * vhost-events thread. \return 0 or -errno. */
	int (*get_config)(struct vhd_dev *dev, uint8_t *buf, uint32_t len);
	/* Optional. The driver wrote config space. vhost-events thread. \return 0 or -errno. */
	int (*set_config)(struct vhd_dev *dev, const uint8_t *buf, uint32_t offset,
			  uint32_t len);
	/* Required. Worker lcore: a queue is starting (take backend channels ...). */
	int (*queue_start)(struct vhd_queue *q);
	/* Optional. Worker lcore: the queue starts draining (no new requests are popped);
	 * complete the requests the device holds on purpose (virtio-scsi event buffers), or the
	 * drain waits for them. */
	void (*queue_drain)(struct vhd_queue *q);
	/* Required. Worker lcore: the queue is drained and stopping (release them). */
	void (*queue_stop)(struct vhd_queue *q);
	/* Required. Worker lcore: handle one walked request; complete it exactly once with
	 * vhd_task_complete(), now or later. */
	void (*submit)(struct vhd_task *task);
	/* Required. Control path: free the device; no queue exists. */
	void (*destroy)(struct vhd_dev *dev);
	/*
	 * Optional. Control path: call fn for every backend the device serves (blk: its one
	 * backend; scsi: one per LUN), so the transport can DMA-map guest memory for backends
	 * that need it (vhd_bdev_needs_dma_map()). A device without it gets no mappings: I/O on
	 * such backends then fails with -EFAULT.
	 */
	void (*foreach_bdev)(struct vhd_dev *dev, void (*fn)(struct vhd_bdev *bdev, void *arg),
			     void *arg);
};

struct vhd_dev {
	char name[VHD_NAME_MAX + 1];
	const struct vhd_dev_ops *ops;
	uint16_t num_queues;       /* request queues the controller is configured for */
	/*
	 * References: the control plane's (taken by the constructor) and one per initialised
	 * queue. A queue abandoned by a timed-out drain outlives its controller on the worker;
	 * the device must outlive that queue. Atomic; the last put calls ops->destroy.
	 */
	uint32_t refs;
};

/* Drop a reference; the last one destroys the device (on whichever thread drops it). */
void vhd_dev_put(struct vhd_dev *dev);


struct vhd_queue {
	struct vhd_vq vq;
	struct vhd_dev *dev;
	uint16_t index;            /* vring index */
	uint64_t features;         /* negotiated virtio features */
	bool stopping;             /* draining: no new requests are popped */
	uint8_t *tasks;            /* vq.size tasks of dev->ops->task_size bytes */
	void *dev_ctx;             /* device per-queue state */
	struct vhd_io_stats stats; /* written by the owning worker only */
	TAILQ_ENTRY(vhd_queue) link; /* worker's list */
	char name[VHD_NAME_MAX + 16];
};

/*
 * May a completing request still write into guest memory (status byte, response)? Not once
 * its queue is broken: a corrupt ring, or a queue abandoned after a drain timed out, whose
 * guest memory may already be unmapped.
 */
static inline bool
vhd_task_may_write_guest(const struct vhd_task *task)
{
	return !task->q->vq.broken;
}

/*
 * Control path: prepare a queue (start the ring, allocate tasks). The queue is not polled
 * until a worker adds it. \return 0, -EINVAL (bad ring), -ENOMEM.
 */
int vhd_queue_init(struct vhd_queue *q, struct vhd_dev *dev, uint16_t index, uint64_t features,
		   const struct vhd_vq_setup *setup);

/* Control path: release what vhd_queue_init() allocated (queue drained and not polled). */
void vhd_queue_fini(struct vhd_queue *q);

/* Worker: pop and submit new requests (at most a batch). \return requests taken. */
int vhd_queue_poll(struct vhd_queue *q);

/* Worker: resubmit a head recorded in flight before a reconnect. \return 0 or -EIO. */
int vhd_queue_resubmit(struct vhd_queue *q, uint16_t head);

/* Requests popped and not completed yet. */
static inline uint16_t
vhd_queue_inflight(const struct vhd_queue *q)
{
	return q->vq.inflight_count;
}

static inline struct vhd_task *
vhd_queue_task(struct vhd_queue *q, uint16_t head)
{
	return (struct vhd_task *)(q->tasks + (size_t)head * q->dev->ops->task_size);
}

/* Device: finish a request, `used_len` bytes written into the guest's writable buffers. */
void vhd_task_complete(struct vhd_task *task, uint32_t used_len);

/* What a finished request was, for statistics. */
enum vhd_stat_op {
	VHD_STAT_READ,
	VHD_STAT_WRITE,
	VHD_STAT_FLUSH,
	VHD_STAT_DISCARD,
	VHD_STAT_WRITE_ZEROES,
	VHD_STAT_OTHER,
};

/* Statistics helper for devices: account a finished request. */
void vhd_stats_account(struct vhd_io_stats *st, enum vhd_stat_op op, uint64_t bytes,
		       bool error, uint64_t start_tsc);

/* Monotonic timestamp for latency accounting (TSC ticks) and its rate. */
uint64_t vhd_tsc(void);
uint64_t vhd_tsc_hz(void);

/* virtio-blk --------------------------------------------------------------------------- */

struct vhd_blk_conf {
	const char *name;
	struct vhd_bdev *bdev;
	uint16_t num_queues;
	bool readonly;
	const char *serial;        /* up to 20 bytes */
};

/* Control path. \return 0, -EINVAL, -ENOMEM. */
int vhd_blk_create(const struct vhd_blk_conf *conf, struct vhd_dev **dev);

/* The one errno -> VIRTIO_BLK_S_* translation. */
uint8_t vhd_blk_status_from_errno(int err);

/* The backend the blk device serves. */
struct vhd_bdev *vhd_blk_bdev(struct vhd_dev *dev);

#endif /* VHOSTD_DEV_H */
