/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Userspace NVMe driver core: controller bring-up and reset, admin queue, I/O queue pairs,
 * PRP/SGL building, status translation, and the tables that turn host addresses into I/O
 * virtual addresses (IOVAs). No VFIO and no DPDK in here: the core reaches the hardware only
 * through a register pointer (BAR0) and struct nvme_env, so unit tests run it against a fake
 * controller in plain memory. nvme_vfio.c provides the real environment, nvme_bdev.c the
 * vhd_bdev glue.
 *
 * Assumptions, stated once:
 *  - x86-64: DMA is cache-coherent, stores to write-back memory become visible to the device
 *    in program order, and MMIO (uncached) stores are not reordered with earlier stores. So a
 *    compiler barrier orders "write the SQ entry" before "ring the doorbell", and reading a
 *    completion entry after seeing its phase bit needs only a compiler barrier too.
 *  - The host page size and the NVMe memory page size are both 4 KiB (CC.MPS = 0); a
 *    controller whose CAP.MPSMIN is above 4 KiB is refused.
 *  - The IOMMU translates every device access, so I/O buffers need IOVA-contiguity only, never
 *    physical contiguity. IOVAs are allocated by vhostd (not IOVA = VA): VT-d units and QEMU's
 *    vIOMMU commonly have a 39-bit input address width, below where Linux puts mmap()s.
 *
 * Threads: a controller is shared; its admin queue is behind admin_lock. An I/O queue pair
 * belongs to the thread that created it (a worker lcore) and is touched by no one else, except
 * that a reset (nvme_ctrlr_reset(), on a control thread) reads its doorbell-busy flag and list
 * link under admin_lock.
 */
#ifndef VHOSTD_NVME_INTERNAL_H
#define VHOSTD_NVME_INTERNAL_H

#include <pthread.h>
#include <sys/queue.h>

#include "nvme_spec.h"
#include "vhostd/bdev.h"

#define NVME_PAGE_SHIFT 12
#define NVME_PAGE_SIZE (1u << NVME_PAGE_SHIFT)
#define NVME_PRP_LIST_ENTRIES (NVME_PAGE_SIZE / 8)   /* one list page, never chained */
#define NVME_SGL_LIST_ENTRIES (NVME_PAGE_SIZE / 16)
#define NVME_MAX_XFER (2u << 20)                    /* bytes per command, before MDTS */

#define NVME_ADMIN_DEPTH 32
#define NVME_IO_DEPTH 256            /* entries per I/O queue (255 commands in flight) */
#define NVME_MAX_IO_QUEUES 64        /* asked for with SET FEATURES Number of Queues */
#define NVME_BOUNCE_BUFS 8           /* per queue pair */
#define NVME_BOUNCE_SIZE (128u << 10)

/* Defaults; tests shorten them (struct nvme_ctrlr fields). */
#define NVME_IO_TIMEOUT_MS 3000      /* a command older than this is aborted */
#define NVME_ABORT_TIMEOUT_MS 1000   /* ... and the controller reset if that did not end it */
#define NVME_ADMIN_TIMEOUT_MS 10000
#define NVME_SCAN_INTERVAL_MS 100    /* how often a busy queue pair looks for timeouts */

/* ---- Environment: how the core reaches memory, time and the outside world ---- */

struct nvme_env_ops {
	/* DMA-able memory: page-aligned, zeroed, IOVA-contiguous. \return 0 or -errno. */
	int (*dma_alloc)(void *ctx, size_t size, void **vaddr, uint64_t *iova);
	void (*dma_free)(void *ctx, void *vaddr, size_t size, uint64_t iova);
	/* Monotonic microseconds. Called once per poll round, never per request. */
	uint64_t (*now_us)(void *ctx);
	/* Wait about `us` (control path and recovery paths only). */
	void (*delay_us)(void *ctx, uint32_t us);
	/* Optional. Ask the control thread to run nvme_ctrlr_reset() soon. Any thread. */
	void (*request_reset)(void *ctx);
	/* Optional. Cut the device off the bus (clear PCI bus mastering): after this it can no
	 * longer read or write memory. Called before a controller is declared failed. */
	void (*stop_dma)(void *ctx);
};

struct nvme_env {
	const struct nvme_env_ops *ops;
	void *ctx;
};

/* ---- IOVA allocation and the host address -> IOVA table ---- */

#define NVME_IOVA_MAX_RANGES 8
#define NVME_IOVA_MAX_USED 512

struct nvme_iova_range {
	uint64_t start;
	uint64_t end; /* exclusive */
};

/*
 * First fit from a moving cursor ("next fit") over the IOMMU's usable ranges, so a range just
 * freed is not handed out again at once: a late DMA of an abandoned command then hits an
 * unmapped IOVA (an IOMMU fault) rather than someone else's buffer. Caller serialises.
 */
struct nvme_iova_space {
	struct nvme_iova_range valid[NVME_IOVA_MAX_RANGES]; /* sorted */
	unsigned int nvalid;
	struct nvme_iova_range used[NVME_IOVA_MAX_USED];    /* sorted */
	unsigned int nused;
	uint64_t cursor;
};

/* Start with the given usable ranges (IOVA 0 .. 1 MiB is never used). \return 0, -EINVAL. */
int nvme_iova_init(struct nvme_iova_space *s, const struct nvme_iova_range *valid,
		   unsigned int nvalid);
/* \return 0, -ENOMEM (no gap), -ENOSPC (too many ranges). align: power of two. */
int nvme_iova_alloc(struct nvme_iova_space *s, uint64_t size, uint64_t align, uint64_t *iova);
void nvme_iova_free(struct nvme_iova_space *s, uint64_t iova, uint64_t size);

/*
 * Guest memory (and other external memory) mapped for DMA: [vaddr, vaddr + len) is reachable
 * by the device at [iova, iova + len). Writers (control path, serialised by the caller) bump
 * `seq` to odd, change the table, bump it to even; lock-free readers (lcores) retry when they
 * saw it odd or changed. An entry is referenced by every bdev that mapped that exact range.
 */
#define NVME_DMA_MAX_MAPS 256

struct nvme_dma_map {
	uint64_t vaddr;
	uint64_t len;
	uint64_t iova;
	uint32_t refs;
};

struct nvme_dma_table {
	uint32_t seq;
	uint32_t nmaps;
	struct nvme_dma_map maps[NVME_DMA_MAX_MAPS];
};

/* Writer side. find: index of the exact range or -1. */
int nvme_dma_table_find(const struct nvme_dma_table *t, uint64_t vaddr, uint64_t len);
/* \return 0, -EEXIST (overlaps a different range), -ENOSPC. */
int nvme_dma_table_insert(struct nvme_dma_table *t, uint64_t vaddr, uint64_t len, uint64_t iova);
void nvme_dma_table_remove(struct nvme_dma_table *t, int idx);

/*
 * Reader side (any thread, no lock): the IOVA of [vaddr, vaddr + len) when it lies inside one
 * mapped range. *hint caches the index of the last hit (start with 0).
 * \return 0, or -EFAULT when some byte of the range is not mapped.
 */
int nvme_dma_translate(const struct nvme_dma_table *t, const void *vaddr, uint64_t len,
		       uint64_t *iova, uint32_t *hint);

/* ---- PRP and SGL building ---- */

/* Position inside an I/O's iovec array. */
struct nvme_sg_cursor {
	const struct iovec *iov;
	int iovcnt;
	int idx;
	size_t off;
};

/* Data pointer of one command, as built. */
struct nvme_dptr {
	bool sgl;
	uint64_t prp1, prp2;          /* PRP */
	struct nvme_sgl_desc sgl1;    /* SGL */
};

/*
 * Describe as much as possible of the data at the cursor with PRPs: at most max_bytes, a
 * multiple of block_size, one PRP list page. PRP rules: the first entry may start anywhere
 * dword-aligned; every other entry is a whole page, so a segment boundary inside a command
 * must fall on page boundaries on both sides. `list` (NVME_PRP_LIST_ENTRIES entries, at
 * list_iova) receives the list when more than two entries are needed.
 * \return bytes described (cursor advanced), 0 when not even one block can be described this
 *         way (cursor unchanged), or -EFAULT when a buffer is not DMA-mapped.
 */
int64_t nvme_build_prp(struct nvme_sg_cursor *cur, const struct nvme_dma_table *t,
		       uint32_t *hint, uint64_t max_bytes, uint32_t block_size,
		       struct nvme_dptr *dp, uint64_t *list, uint64_t list_iova);

/*
 * Same with an SGL: one data block descriptor per segment piece, at most one list page of
 * descriptors. sgls: NVME_SGLS_ANY_ALIGN or NVME_SGLS_DWORD_ALIGN (every descriptor's address
 * and length must then be multiples of 4). \return as nvme_build_prp().
 */
int64_t nvme_build_sgl(struct nvme_sg_cursor *cur, const struct nvme_dma_table *t,
		       uint32_t *hint, uint64_t max_bytes, uint32_t block_size, uint32_t sgls,
		       struct nvme_dptr *dp, struct nvme_sgl_desc *list, uint64_t list_iova);

/* Move the cursor n bytes forward (to the next non-empty segment). */
void nvme_sg_advance(struct nvme_sg_cursor *cur, uint64_t n);

/* PRP entries for one contiguous IOVA range (bounce buffers, the zero page). */
void nvme_prp_contig(uint64_t iova, uint64_t len, struct nvme_dptr *dp, uint64_t *list,
		     uint64_t list_iova);

/*
 * Whole-request checks done once per READ/WRITE: every segment DMA-mapped (-EFAULT otherwise)
 * and whether the segment layout obeys the PRP rules (so every command can use PRPs).
 */
int nvme_sg_check(const struct iovec *iov, int iovcnt, const struct nvme_dma_table *t,
		  uint32_t *hint, bool *prp_ok);

/* ---- Status ---- */

/* NVMe status field (CQE dw3 bits 31:17, i.e. cpl.status >> 1 << 1: phase bit ignored) to
 * 0 or -errno, for the bdev layer's translation points (virtio-blk status, SCSI sense). */
int nvme_status_to_errno(uint16_t status);
/* "generic/0x81 unrecovered read error" style text for logs. */
const char *nvme_status_str(uint16_t status);

/* ---- Controller ---- */

enum nvme_ctrlr_state {
	NVME_CTRLR_READY = 0,
	NVME_CTRLR_RESETTING,  /* queues must not be rung; completions may still be reaped */
	NVME_CTRLR_FAILED,     /* reset failed; DMA stopped; everything fails with -EIO */
	NVME_CTRLR_GONE,       /* device removed (or handed back); everything fails -ENODEV */
};

struct nvme_ns {
	uint32_t nsid;
	uint32_t block_size;
	uint32_t lba_shift;
	uint64_t nblocks;
	bool readonly;
	uint32_t phys_block_exp;
	uint32_t opt_io_blocks;
};

enum nvme_admin_slot_state {
	NVME_ASLOT_FREE = 0,
	NVME_ASLOT_SYNC,       /* a caller is waiting */
	NVME_ASLOT_DONE,
	NVME_ASLOT_ASYNC,      /* fire and forget (ABORT) */
	NVME_ASLOT_ABANDONED,  /* its waiter timed out; freed when it completes */
};

struct nvme_admin_slot {
	uint8_t state;
	uint16_t status;
	uint32_t dw0;
};

struct nvme_qpair;

struct nvme_ctrlr {
	char name[32];                 /* PCI address, for log lines */
	volatile uint8_t *regs;        /* BAR0 */
	struct nvme_env env;
	struct nvme_dma_table *dma;    /* guest memory mapped for DMA (shared by the domain) */

	/* From CAP / VS. */
	uint64_t cap;
	uint32_t vs;
	uint32_t db_stride;            /* bytes between doorbells */
	uint32_t mqes;                 /* entries per queue, 1-based */
	uint32_t ready_timeout_ms;     /* CAP.TO */

	/* From IDENTIFY CONTROLLER. */
	char sn[21];
	char mn[41];
	char fr[9];
	uint32_t max_xfer;             /* bytes per command: MDTS, capped at NVME_MAX_XFER */
	uint32_t nn;
	uint16_t oncs;
	bool vwc;
	uint32_t sgls;                 /* NVME_SGLS_* */
	uint32_t abort_limit;          /* ABORTs in flight at once */

	/* I/O queue ids 1..nioq; qid_used[qid] under admin_lock. */
	uint16_t nioq;
	uint8_t qid_used[NVME_MAX_IO_QUEUES + 1];

	/* Timeouts, microseconds. */
	uint64_t io_timeout_us;
	uint64_t abort_timeout_us;
	uint64_t admin_timeout_us;
	uint64_t scan_interval_us;

	/* Admin queue and the shared IDENTIFY buffer: under admin_lock. */
	pthread_mutex_t admin_lock;
	void *amem;                    /* SQ page + CQ page */
	uint64_t amem_iova;
	struct nvme_cmd *asq;
	struct nvme_cpl *acq;
	uint16_t asq_tail;
	uint16_t acq_head;
	uint8_t aphase;
	struct nvme_admin_slot aslots[NVME_ADMIN_DEPTH];
	unsigned int aborts_inflight;
	void *idbuf;
	uint64_t idbuf_iova;
	void *zero_page;               /* 4 KiB of zeroes: WRITE ZEROES emulation */
	uint64_t zero_iova;
	TAILQ_HEAD(, nvme_qpair) qpairs;

	/* State; written under admin_lock except the jump to GONE, read anywhere. */
	int state;                     /* enum nvme_ctrlr_state */
	uint32_t epoch;                /* bumped after every reset: queues must be re-created */
	int reset_requested;

	/* Statistics (atomic). */
	uint64_t ntimeouts;
	uint64_t naborts;
	uint64_t nresets;
};

/*
 * Bring the controller up: disable it if enabled, set up the admin queue, enable, IDENTIFY
 * CONTROLLER, ask for I/O queues. regs must stay mapped until nvme_ctrlr_fini().
 * \return 0, -ENODEV (registers read all ones), -ETIMEDOUT (CSTS.RDY), -ENOTSUP (no NVM
 *         command set, page size, entry sizes), -EIO (a command failed), -ENOMEM.
 */
int nvme_ctrlr_init(struct nvme_ctrlr *c, const char *name, volatile void *regs,
		    const struct nvme_env *env, struct nvme_dma_table *dma);

/* Shut the controller down (normal shutdown notification, then disable) and free what init
 * allocated. Every queue pair must be destroyed first. */
void nvme_ctrlr_fini(struct nvme_ctrlr *c);

/* IDENTIFY NAMESPACE. \return 0, -ENOENT (nsid beyond NN or inactive), -ENOTSUP (metadata or
 * an LBA size vhostd cannot serve), -EIO/-ETIMEDOUT/-ENODEV. */
int nvme_ctrlr_identify_ns(struct nvme_ctrlr *c, uint32_t nsid, struct nvme_ns *ns);

/* Run one admin command and wait for it (admin_lock must be held) at most timeout_us
 * (0: admin_timeout_us). cmd->cid is assigned.
 * \return 0, -errno from the status, -ETIMEDOUT, -ENODEV. */
int nvme_ctrlr_admin_sync(struct nvme_ctrlr *c, struct nvme_cmd *cmd, uint32_t *dw0,
			  uint64_t timeout_us);

/* Send ABORT for (sqid, cid) without waiting. Never blocks: \return 0, -EAGAIN (admin queue
 * busy right now), -EBUSY (abort limit reached or the controller is not ready). */
int nvme_ctrlr_abort_async(struct nvme_ctrlr *c, uint16_t sqid, uint16_t cid);

/* Reap admin completions if nobody else is (trylock). */
void nvme_ctrlr_admin_poll(struct nvme_ctrlr *c);

/*
 * Control thread: reset the controller (disable, re-enable, admin queue, queue count) and bump
 * the epoch so every queue pair re-creates its queues on its own thread, completing what the
 * reset ended. On failure the controller is FAILED (or GONE) with DMA stopped.
 * \return 0 or -errno.
 */
int nvme_ctrlr_reset(struct nvme_ctrlr *c);

/* Control thread: the device is being taken away (VFIO asks for it back): stop the queues,
 * disable the controller and cut DMA; the caller then releases the device and calls
 * nvme_ctrlr_set_gone(). */
void nvme_ctrlr_quiesce(struct nvme_ctrlr *c);

/* Any thread: declare the controller gone (for good). Only call once DMA cannot happen any
 * more (device removed, disabled, or bus mastering off). */
void nvme_ctrlr_set_gone(struct nvme_ctrlr *c, const char *why);

static inline int
nvme_ctrlr_state(const struct nvme_ctrlr *c)
{
	return __atomic_load_n(&c->state, __ATOMIC_ACQUIRE);
}

static inline uint32_t
nvme_reg_read32(const struct nvme_ctrlr *c, uint32_t off)
{
	return *(volatile const uint32_t *)(c->regs + off);
}

static inline void
nvme_reg_write32(struct nvme_ctrlr *c, uint32_t off, uint32_t v)
{
	*(volatile uint32_t *)(c->regs + off) = v;
}

/* ---- I/O queue pairs ---- */

typedef void (*nvme_complete_fn)(struct vhd_bdev_io *io, int status);

enum nvme_slot_state {
	NVME_SLOT_FREE = 0,
	NVME_SLOT_ACTIVE,      /* in the controller */
	NVME_SLOT_ABORTING,    /* timed out, ABORT sent (or could not be) */
	NVME_SLOT_REQUEUE,     /* lost in a reset; resubmitted once the queues exist again */
};

/* One command in flight; the slot index is the command id. */
struct nvme_slot {
	struct vhd_bdev_io *io;
	uint64_t deadline_us;
	uint64_t io_off;       /* where this command's data starts in the I/O */
	uint32_t len;          /* data bytes */
	uint8_t state;
	uint8_t retries;
	int16_t bounce;        /* bounce buffer index, or -1 */
	void *list;            /* this slot's page: PRP list, SGL list or DSM ranges */
	uint64_t list_iova;
	struct nvme_cmd cmd;   /* kept for resubmission after a reset */
};

/* Per-I/O state, in vhd_bdev_io.ctx. */
struct nvme_io {
	struct vhd_bdev_io *next;  /* waiting list (split I/O that ran out of slots) */
	uint64_t done;             /* bytes of the I/O handed to commands so far */
	int idx;                   /* data cursor */
	size_t off;
	uint32_t outstanding;      /* commands in the controller */
	int status;                /* first error */
	uint8_t mode;              /* how data pointers are built (enum in nvme_qpair.c) */
	bool issued_all;
	bool waiting;
};
_Static_assert(sizeof(struct nvme_io) <= VHD_BDEV_IO_CTX_SIZE, "nvme_io too large");

struct nvme_qpair {
	struct nvme_ctrlr *ctrlr;
	struct nvme_ns ns;
	uint16_t qid;
	uint16_t depth;
	nvme_complete_fn complete;

	/* DMA memory: SQ | CQ | one page per slot | bounce buffers */
	void *mem;
	size_t mem_size;
	uint64_t mem_iova;
	struct nvme_cmd *sq;
	uint64_t sq_iova;
	struct nvme_cpl *cq;
	uint64_t cq_iova;
	uint8_t *bounce;
	uint64_t bounce_iova;
	volatile uint32_t *sq_db;
	volatile uint32_t *cq_db;
	uint16_t sq_tail;
	uint16_t sq_db_tail;       /* last value written to the SQ doorbell */
	uint16_t cq_head;
	uint8_t phase;

	struct nvme_slot *slots;   /* [depth] */
	uint16_t *free_cids;       /* stack */
	uint16_t nfree;
	uint16_t bounce_free[NVME_BOUNCE_BUFS];
	uint16_t nbounce_free;
	struct vhd_bdev_io *wait_head;
	struct vhd_bdev_io *wait_tail;

	uint32_t hint;             /* DMA table lookup cache */
	uint32_t epoch;            /* controller epoch the queues were created in */
	int db_busy;               /* ringing a doorbell (reset waits for 0) */
	bool broken;               /* queues could not be re-created after a reset */
	bool warned_unmapped;
	uint64_t now_us;           /* time of the current poll round */
	uint64_t next_scan_us;
	TAILQ_ENTRY(nvme_qpair) link;

	/* Statistics. */
	uint64_t ncmds;
	uint64_t nbounced;
	uint64_t ntimeouts;
	uint64_t nrequeued;
};

/* Reset side: wait until the pair's owner is not inside a doorbell write. */
void nvme_qpair_wait_doorbell_idle(struct nvme_qpair *qp);

/*
 * Create an I/O SQ/CQ pair of `depth` entries for namespace ns on the calling thread (which
 * then owns it). complete() is called from nvme_qpair_poll() for every finished I/O.
 * \return 0, -EBUSY (no queue id left), -ENODEV/-EIO (controller down), -ENOMEM, -errno.
 */
int nvme_qpair_create(struct nvme_ctrlr *c, const struct nvme_ns *ns, uint16_t depth,
		      nvme_complete_fn complete, struct nvme_qpair **qp);

/* Delete the queues and free the pair. Nothing may be in flight. Owner thread. */
void nvme_qpair_destroy(struct nvme_qpair *qp);

/*
 * Start an I/O (vhd_bdev_ops.submit semantics): 0 (complete() runs later), -EAGAIN (no free
 * command slot, or the controller is resetting: try again after a poll), -EFAULT (a buffer is
 * not DMA-mapped), -ENODEV/-EIO (controller gone or failed), -EOPNOTSUPP, -EROFS.
 * Large I/Os become several commands; what does not fit now is sent from later polls.
 */
int nvme_qpair_submit(struct nvme_qpair *qp, struct vhd_bdev_io *io);

/* Ring the SQ doorbell once for everything submitted since the last call. */
void nvme_qpair_flush(struct nvme_qpair *qp);

/* Reap completions, continue split I/Os, look for timeouts, follow resets. \return I/Os
 * completed. */
int nvme_qpair_poll(struct nvme_qpair *qp);

/* Commands the controller holds for this pair. */
unsigned int nvme_qpair_outstanding(const struct nvme_qpair *qp);

uint16_t nvme_qpair_id(const struct nvme_qpair *qp);

#endif /* VHOSTD_NVME_INTERNAL_H */
