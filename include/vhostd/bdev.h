/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Block backends ("bdevs"): the boundary between device emulation (virtio-blk, SCSI) and
 * storage (Linux AIO, NVMe, RAM, null).
 *
 * Objects and threads
 *  - struct vhd_bdev is created and destroyed on the control path (config loader / RPC) by a
 *    type-specific constructor (vhd_bdev_aio_create() ...). Its geometry fields are read by
 *    any thread; resize updates them atomically.
 *  - struct vhd_bdev_channel is the per-thread I/O context (io_context, NVMe queue pair ...).
 *    vhd_bdev_channel_get() returns the calling thread's channel for a bdev, creating it on
 *    first use; each thread polls only its own channels. No locks: a channel is touched only
 *    by the thread that created it.
 *  - struct vhd_bdev_io is owned by its submitter (preallocated with the request), never
 *    allocated per request. The backend keeps its state in io->ctx.
 *
 * Completion: a backend never completes inside submit; completions are delivered from
 * vhd_bdev_poll_channels() on the submitting thread, through io->cb.
 */
#ifndef VHOSTD_BDEV_H
#define VHOSTD_BDEV_H

#include "vhostd/common.h"
#include "vhostd/config.h"

enum vhd_io_type {
	VHD_IO_READ,
	VHD_IO_WRITE,
	VHD_IO_FLUSH,        /* make every completed write stable */
	VHD_IO_DISCARD,      /* deallocate; later reads return zeroes on files and RAM, maybe
					 not on block devices (BLKDISCARD) */
	VHD_IO_WRITE_ZEROES, /* later reads MUST return zeroes */
};

/* io->flags */
#define VHD_IO_F_FUA (1u << 0)   /* write: stable on completion (write-through) */
#define VHD_IO_F_UNMAP (1u << 1) /* write zeroes: the backend may deallocate */

/* Room for a backend's per-I/O state (an iocb, an NVMe command id ...). */
#define VHD_BDEV_IO_CTX_SIZE 128

struct vhd_bdev_io;
struct vhd_bdev_channel;

/* status: 0 or -errno (-EIO, -ENOSPC, -EOPNOTSUPP ...). */
typedef void (*vhd_bdev_io_cb)(struct vhd_bdev_io *io, int status);

struct vhd_bdev_io {
	/* Set by the submitter. */
	enum vhd_io_type type;
	uint32_t flags;
	uint64_t offset;         /* bytes; a multiple of the block size */
	uint64_t length;         /* bytes; a multiple of the block size */
	struct iovec *iov;       /* READ/WRITE: exactly `length` bytes of buffers */
	int iovcnt;
	vhd_bdev_io_cb cb;
	/* Framework. */
	struct vhd_bdev_channel *ch;
	struct vhd_bdev_io *parked_next; /* parked or deferred list link */
	int status;                      /* for deferred completion */
	/* Backend. */
	uint8_t ctx[VHD_BDEV_IO_CTX_SIZE] __attribute__((aligned(16)));
};

struct vhd_bdev {
	char name[VHD_NAME_MAX + 1];
	enum vhd_backend_type type;
	const struct vhd_bdev_ops *ops;
	uint32_t block_size;        /* logical block size, power of two, 512..65536 */
	uint64_t num_blocks;        /* read with __atomic_load_n: resize may change it */
	uint32_t phys_block_exp;    /* physical block = block_size << phys_block_exp */
	uint32_t opt_io_blocks;     /* optimal I/O size in blocks, 0 = none */
	bool readonly;
	bool has_discard;
	bool has_write_zeroes;
	bool volatile_cache;        /* completed writes are not stable until FLUSH */
	bool has_fua;               /* can do a single stable write (else FLUSH after write) */
	uint32_t max_discard_blocks;      /* 0 = unlimited */
	uint32_t max_write_zeroes_blocks; /* 0 = unlimited */
	uint32_t refs;              /* users (controllers, LUNs); control path only */
	unsigned int nchannels;     /* live channels; control path only waits for 0 */
};

struct vhd_bdev_channel {
	struct vhd_bdev *bdev;
	unsigned int refs;
	unsigned int inflight;        /* submitted to the backend, not completed */
	struct vhd_bdev_io *parked_head; /* -EAGAIN: retried in order after completions */
	struct vhd_bdev_io *parked_tail;
	struct vhd_bdev_io *deferred_head; /* completions queued by vhd_bdev_io_defer() */
	struct vhd_bdev_io *deferred_tail;
	struct vhd_bdev_channel *next; /* this thread's channel list */
	uint64_t reaped;              /* statistics */
};

struct vhd_bdev_ops {
	/* Required. Create the calling thread's channel (embedding struct vhd_bdev_channel
	 * first). Called on the thread that will use it. \return 0 or -errno. */
	int (*channel_create)(struct vhd_bdev *bdev, struct vhd_bdev_channel **ch);
	/* Required. Destroy a channel with nothing in flight, on its thread. */
	void (*channel_destroy)(struct vhd_bdev_channel *ch);
	/*
	 * Required. Start an I/O; the range is already checked against the bdev's geometry.
	 * \return 0 (io->cb runs later from poll), -EAGAIN when the backend queue is full (the
	 *         framework parks the I/O and retries it after completions), or another -errno
	 *         when the I/O cannot be started (io->cb is then not called).
	 */
	int (*submit)(struct vhd_bdev_channel *ch, struct vhd_bdev_io *io);
	/* Optional. Push I/Os batched by submit to the device; called once per poll round. */
	void (*flush)(struct vhd_bdev_channel *ch);
	/* Required. Reap completions with vhd_bdev_io_complete(). \return how many. */
	int (*poll)(struct vhd_bdev_channel *ch);
	/* Required. Release the backend; no channel exists any more. Control path. */
	void (*destroy)(struct vhd_bdev *bdev);
	/*
	 * Optional. Change the size (malloc/null: to new_size bytes; aio: new_size 0 means
	 * re-read the file or device size). Control path; I/O may be running. A malloc disk
	 * grows in place up to 16 times its initial size (at least 16 GiB); the new part reads
	 * as zeroes.
	 * \return 0, -EINVAL (not a multiple of the block size), -ENOTSUP, -ENOSPC (malloc:
	 *         beyond its growth room), -errno.
	 */
	int (*resize)(struct vhd_bdev *bdev, uint64_t new_size);
	/*
	 * Optional, for backends whose device DMAs straight into I/O buffers (nvme). Make
	 * [vaddr, vaddr + len) of this process (guest RAM a front-end shared) reachable by the
	 * device. Control path (the transport, when it reads a front-end's memory table); I/O on
	 * other memory may be running. Mapping a range this bdev already mapped is a no-op.
	 * \return 0 or -errno; I/O whose buffers are not mapped fails with -EFAULT, it is never
	 *         DMAed to a wrong address.
	 */
	int (*dma_map)(struct vhd_bdev *bdev, void *vaddr, uint64_t len);
	/*
	 * Optional (required with dma_map). Undo dma_map() of exactly that range; a range this
	 * bdev did not map is ignored. The caller guarantees that no I/O of this bdev uses the
	 * range any more (the queues that could were drained) and that the memory is still
	 * mapped in the process. Control path.
	 */
	void (*dma_unmap)(struct vhd_bdev *bdev, void *vaddr, uint64_t len);
};

/* Backends ---------------------------------------------------------------------------- */

/* A logical block size every layer can use: a power of two in 512..65536. */
static inline bool
vhd_bdev_block_size_valid(uint32_t bs)
{
	return bs >= 512 && bs <= 65536 && (bs & (bs - 1)) == 0;
}

/* Each constructor validates the conf and returns a bdev with refs == 0.
 * \return 0, -EINVAL (bad conf), -ENOENT/-EACCES/... from the host, -ENOMEM. */
int vhd_bdev_malloc_create(const struct vhd_backend_conf *conf, struct vhd_bdev **bdev);
int vhd_bdev_null_create(const struct vhd_backend_conf *conf, struct vhd_bdev **bdev);
int vhd_bdev_aio_create(const struct vhd_backend_conf *conf, struct vhd_bdev **bdev);
/* nvme: conf->pci bound to vfio-pci, conf->nsid; block_size 0 or the namespace's. Also
 * -ENXIO (not bound to vfio-pci), -EPERM (IOMMU group not viable), -EBUSY (group or namespace
 * in use), -ENOTSUP (not NVMe, metadata formats); the reason is logged. */
int vhd_bdev_nvme_create(const struct vhd_backend_conf *conf, struct vhd_bdev **bdev);
/* What an error of vhd_bdev_nvme_create() means, in a few words (the log has the details). */
const char *vhd_bdev_nvme_strerror(int err);

/* Create any type from a conf (dispatches on conf->type). */
int vhd_bdev_create(const struct vhd_backend_conf *conf, struct vhd_bdev **bdev);

/* Destroy a bdev with no users and no channels (control path). */
void vhd_bdev_destroy(struct vhd_bdev *bdev);

static inline uint64_t
vhd_bdev_num_blocks(const struct vhd_bdev *bdev)
{
	return __atomic_load_n(&bdev->num_blocks, __ATOMIC_RELAXED);
}

/* true when the backend's device DMAs into I/O buffers, which must then be dma_map()ed. */
static inline bool
vhd_bdev_needs_dma_map(const struct vhd_bdev *bdev)
{
	return bdev->ops->dma_map != NULL;
}

/* Control path: ops->dma_map / ops->dma_unmap when the backend has them (else 0 / nothing). */
int vhd_bdev_dma_map(struct vhd_bdev *bdev, void *vaddr, uint64_t len);
void vhd_bdev_dma_unmap(struct vhd_bdev *bdev, void *vaddr, uint64_t len);

/* Framework (data path) ---------------------------------------------------------------- */

/*
 * The calling thread's channel for bdev, created on first use; pair with
 * vhd_bdev_channel_put(). \return NULL on failure (creation error logged by the backend).
 */
struct vhd_bdev_channel *vhd_bdev_channel_get(struct vhd_bdev *bdev);
void vhd_bdev_channel_put(struct vhd_bdev_channel *ch);

/*
 * Submit on the calling thread's channel. A full backend queue parks the I/O (still counted
 * as submitted). \return 0 (io->cb will run) or -errno (io->cb will not run).
 */
int vhd_bdev_submit(struct vhd_bdev_channel *ch, struct vhd_bdev_io *io);

/* For backends: deliver a completion (from poll only). */
void vhd_bdev_io_complete(struct vhd_bdev_io *io, int status);

/*
 * For backends that finish an I/O inside submit (RAM, null, an immediate error): queue the
 * completion; the framework delivers it at the next poll of this channel.
 */
void vhd_bdev_io_defer(struct vhd_bdev_io *io, int status);

/* Reap every channel of the calling thread and retry parked I/O. \return completions. */
int vhd_bdev_poll_channels(void);

/* Let every channel of the calling thread push what submit batched. */
void vhd_bdev_flush_channels(void);

/* true when the calling thread has channels with I/O in flight. */
bool vhd_bdev_thread_busy(void);

#endif /* VHOSTD_BDEV_H */
