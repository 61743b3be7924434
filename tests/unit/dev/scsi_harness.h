/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A fake guest for the virtio-scsi device tests: guest memory is one malloc'd block (guest
 * physical address = offset in it), the device's control, event and request queues are split
 * rings in that memory, and the test thread plays both the driver and the worker lcore
 * (sh_run() polls the queues and the backends until nothing moves). No EAL.
 *
 * Backends: real RAM bdevs (vhd_bdev_malloc_create()) or a "hold" bdev that can keep I/O in
 * flight until the test releases it, fail I/O with a given errno, and counts what it saw.
 */
#ifndef SCSI_HARNESS_H
#define SCSI_HARNESS_H

#include "vhostd/scsi.h"

#define SH_QSIZE 64
#define SH_NREQ 2                 /* request queues: vrings 2 and 3 */
#define SH_NQ (2 + SH_NREQ)
#define SH_MEM_SIZE (8u << 20)
#define SH_REMOVE_TIMEOUT_MS 300  /* vhd_scsi_remove_lun()'s wait for held backend I/O */

struct sh_ring {
	struct vhd_vring_desc *desc;
	struct vhd_vring_avail *avail;
	struct vhd_vring_used *used;
	uint16_t avail_idx;
	uint16_t used_seen;
	uint16_t next_desc;
	bool done[SH_QSIZE];
	uint32_t done_len[SH_QSIZE];
};

struct sh {
	uint8_t *mem;
	size_t brk;
	struct vhd_mem vmem;
	struct vhd_dev *dev;
	uint64_t features;
	struct vhd_queue q[SH_NQ];
	struct sh_ring ring[SH_NQ];
	bool started[SH_NQ];
};

extern struct sh g_sh;

/* Called by the device's exec (the "worker call") before the function runs. */
extern void (*sh_exec_hook)(void);

/* Default negotiated features: VERSION_1, INDIRECT_DESC, HOTPLUG, CHANGE. */
uint64_t sh_default_features(void);

/* Create the device with these LUNs and start all its queues with `features`. */
void sh_setup(const struct vhd_scsi_lun_def *luns, unsigned int n, uint64_t features);
/* Stop the queues (draining them through the device's ops) and destroy the device. */
void sh_teardown(void);
/* Start or stop one queue as the worker would (queue_drain before queue_stop). */
void sh_queue_start(int qi);
void sh_queue_stop(int qi);

/* Zeroed guest memory, 16-byte aligned, and its guest physical address. */
void *sh_alloc(size_t len);
uint64_t sh_gpa(const void *p);

struct sh_seg {
	void *p;                      /* in guest memory, or NULL with gpa set */
	uint32_t len;
	bool w;
	uint64_t gpa;                 /* used when p is NULL (addresses outside guest memory) */
};

/* Post a chain on queue qi; \return its head. With indirect, the chain is one indirect table. */
uint16_t sh_post(int qi, const struct sh_seg *segs, unsigned int n, bool indirect);

/* Poll every started queue and the backends until idle. */
void sh_run(void);
/* Publish used->idx of every started queue, as the worker does once per round. */
void sh_publish(void);

/* Has head completed on queue qi (collected by sh_run)? *len gets the used length. */
bool sh_done(int qi, uint16_t head, uint32_t *len);

/* ---- commands ---- */

/* A virtio-scsi LUN field: Linux form (0x40 flat bit) or Windows form (lun[2] = 0). */
void sh_lun(uint8_t *f, uint32_t target, uint32_t lun, bool windows);

struct sh_io {
	int qi;
	uint16_t head;
	struct virtio_scsi_cmd_resp *resp;
	uint8_t *in;                  /* data-in buffer (guest memory) */
	size_t in_len;
	uint8_t *tmf_resp;            /* control requests */
	struct virtio_scsi_event *event;
};

struct sh_res {
	bool done;
	uint32_t used_len;
	struct virtio_scsi_cmd_resp resp;
	uint8_t *in;
};

/* Post one command on request queue 2 + (n % SH_NREQ): [req][data-out] [resp][data-in]. */
struct sh_io sh_submit_q(int rq, const uint8_t *lun, uint64_t tag, const uint8_t *cdb,
			 size_t cdb_len, const void *out, size_t out_len, size_t in_len);
struct sh_io sh_submit(uint32_t target, uint32_t lun, const uint8_t *cdb, size_t cdb_len,
		       const void *out, size_t out_len, size_t in_len);
/* Collect an I/O's result (without running). */
bool sh_result(const struct sh_io *io, struct sh_res *r);
/* Submit, run, collect. Fails the test if the command does not complete. */
struct sh_res sh_cmd(uint32_t target, uint32_t lun, const uint8_t *cdb, size_t cdb_len,
		     const void *out, size_t out_len, size_t in_len);

/* "GOOD", "KK/AA/QQ" for CHECK CONDITION, or "resp=N" when response is not OK. */
const char *sh_outcome(const struct sh_res *r);

/* Control requests. */
struct sh_io sh_tmf(uint32_t subtype, uint32_t target, uint32_t lun, uint64_t tag);
struct sh_io sh_event_buf(void);

/* ---- backends ---- */

struct vhd_bdev *sh_malloc_bdev(const char *name, uint64_t size, uint32_t block_size);

struct hold_bdev {
	struct vhd_bdev base;
	uint8_t *data;
	bool hold;                    /* keep I/O until hold_release() */
	int fail_status;              /* complete I/O with this status while fail_count > 0 */
	unsigned int fail_count;
	struct vhd_bdev_io *held[256];
	unsigned int nheld;
	struct vhd_bdev_io *ready[256];
	unsigned int nready;
	unsigned int count[5];        /* I/Os seen per enum vhd_io_type */
	uint32_t last_flags[5];
};

struct hold_bdev *hold_bdev_create(const char *name, uint64_t size, uint32_t block_size,
				   bool volatile_cache);
void hold_release(struct hold_bdev *h);

#endif /* SCSI_HARNESS_H */
