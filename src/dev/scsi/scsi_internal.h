/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shared between the three parts of the virtio-scsi device:
 *  - scsi.c        virtio framing, LUN addressing, task management, events, hot-plug;
 *  - scsi_cmd.c    the SCSI command set of one logical unit on a bdev;
 *  - scsi_sense.c  status and sense data (the errno -> sense translation, unit attentions).
 * Everything here is owned by the worker lcore that runs the controller's queues.
 */
#ifndef VHOSTD_SCSI_INTERNAL_H
#define VHOSTD_SCSI_INTERNAL_H

#include <sys/queue.h>

#include "vhostd/scsi.h"

/* SAM status codes. */
#define SCSI_STATUS_GOOD 0x00
#define SCSI_STATUS_CHECK_CONDITION 0x02
#define SCSI_STATUS_BUSY 0x08

/* Sense keys. */
#define SCSI_KEY_NO_SENSE 0x0
#define SCSI_KEY_MEDIUM_ERROR 0x3
#define SCSI_KEY_HARDWARE_ERROR 0x4
#define SCSI_KEY_ILLEGAL_REQUEST 0x5
#define SCSI_KEY_UNIT_ATTENTION 0x6
#define SCSI_KEY_DATA_PROTECT 0x7

/* Fixed-format sense data (SPC-4 4.5.3): what we always return. */
#define SCSI_SENSE_LEN 18

/* Pending unit attentions of a LU, reported lowest bit first, one per command. */
#define SCSI_UA_RESET (1u << 0)        /* 29/00 power on, reset or bus device reset */
#define SCSI_UA_NEXUS_LOSS (1u << 1)   /* 29/07 I_T nexus loss occurred */
#define SCSI_UA_CAPACITY (1u << 2)     /* 2A/09 capacity data has changed */
#define SCSI_UA_LUNS_CHANGED (1u << 3) /* 3F/0E reported LUNs data has changed */

/* LUNs of a target live in pages of 256 pointers, allocated when a LUN needs one. */
#define SCSI_LUN_PAGE_SIZE 256u
#define SCSI_LUN_PAGES (VHD_SCSI_MAX_LUNS / SCSI_LUN_PAGE_SIZE)

/* Serial number: "<controller>-t<target>-l<lun>". */
#define SCSI_SERIAL_MAX (VHD_NAME_MAX + 16)

/* UNMAP block descriptors accepted per command (advertised in VPD page B0). */
#define SCSI_UNMAP_MAX_DESC 16u
/* iovecs a WRITE SAME with a data pattern repeats per backend write. */
#define SCSI_WS_IOV 16u

struct scsi_cmd;

/* A logical unit. */
struct scsi_lu {
	struct vhd_bdev *bdev;
	struct vhd_bdev_channel *ch; /* the worker's channel while queues run, else NULL */
	const char *ctrlr;           /* controller name, for log lines */
	uint32_t target;
	uint32_t lun;
	bool readonly;
	bool wce;                    /* caching mode page WCE; the guest may change it */
	bool removed;                /* no longer addressable; draining its commands */
	uint32_t ua;                 /* pending unit attentions (SCSI_UA_*) */
	uint32_t inflight;           /* commands started and not completed */
	TAILQ_HEAD(, scsi_cmd) cmds; /* the same commands, oldest first (task management) */
	uint64_t naa;                /* NAA locally assigned designator (WWN) */
	char serial[SCSI_SERIAL_MAX + 1];
	struct vhd_io_stats stats;   /* its commands since it was added (vhd_scsi_lun_stats) */
	TAILQ_ENTRY(scsi_lu) link;   /* device's list of removed LUs still draining */
};

struct scsi_target {
	uint32_t id;
	unsigned int nluns;
	struct scsi_lu **pages[SCSI_LUN_PAGES];
};

static inline struct scsi_lu *
scsi_target_lu(const struct scsi_target *t, uint32_t lun)
{
	struct scsi_lu **page;

	if (lun >= VHD_SCSI_MAX_LUNS) {
		return NULL;
	}
	page = t->pages[lun / SCSI_LUN_PAGE_SIZE];
	return page != NULL ? page[lun % SCSI_LUN_PAGE_SIZE] : NULL;
}

/* Data direction of a command's buffers (virtio-scsi carries one direction without INOUT). */
enum scsi_dir {
	SCSI_DIR_NONE,
	SCSI_DIR_TO_DEV,             /* data-out: the guest's readable buffers */
	SCSI_DIR_FROM_DEV,           /* data-in: the guest's writable buffers */
};

/* One SCSI command, embedded in the device's per-request task. */
struct scsi_cmd {
	/* Set by the device before vhd_scsi_cmd_exec(). */
	struct scsi_target *target;  /* the addressed target (present) */
	struct scsi_lu *lu;          /* NULL when no LU answers at the address */
	bool wlun;                   /* addressed to the REPORT LUNS well-known LU */
	uint8_t cdb[VIRTIO_SCSI_CDB_SIZE];
	struct iovec *iov;           /* data buffers, all in guest memory */
	unsigned int iovcnt;
	uint64_t data_len;           /* bytes in iov[] */
	enum scsi_dir dir;           /* SCSI_DIR_NONE when data_len is 0 */
	void (*done)(struct scsi_cmd *cmd);
	/* Results, valid in done(). */
	uint8_t response;            /* VIRTIO_SCSI_S_OK, or _OVERRUN: buffers too small */
	uint8_t status;              /* SAM status */
	uint8_t sense_len;
	uint8_t sense[SCSI_SENSE_LEN];
	uint64_t xfer;               /* data bytes moved to or from the guest */
	enum vhd_stat_op op;         /* for statistics */
	/* Set by task management while the command runs: VIRTIO_SCSI_S_ABORTED or _RESET. */
	uint8_t abort_response;
	/* Device bookkeeping. */
	uint64_t tag;
	uint64_t seq;                /* device-wide arrival order */
	/* The queue's broken flag: once set (corrupt ring, or abandoned by a drain that timed
	 * out) no further step may touch guest memory. */
	const bool *queue_broken;
	bool linked;                 /* on lu->cmds */
	TAILQ_ENTRY(scsi_cmd) lu_link;
	/* Private to scsi_cmd.c: the state of multi-step commands. */
	struct vhd_bdev_io io;
	int (*step)(struct scsi_cmd *cmd);
	uint64_t lba;                /* next block to work on */
	uint64_t nblocks;            /* blocks left */
	bool flush_after;            /* write-through without backend FUA */
	uint8_t ndesc;
	uint8_t desc_idx;
	struct {
		uint64_t lba;
		uint32_t nblocks;
	} desc[SCSI_UNMAP_MAX_DESC];
	struct iovec pattern[SCSI_WS_IOV];
	unsigned int pattern_cnt;
	unsigned int pattern_blocks; /* blocks one pass over pattern[] writes */
};

/*
 * Execute cmd on its LU (or answer for the missing LU / well-known LU). cmd->done() runs
 * exactly once, either before this returns or later from a backend completion on the same
 * thread. Between backend steps an abort_response set by task management ends the command.
 */
void vhd_scsi_cmd_exec(struct scsi_cmd *cmd);

/* Initialise a LU's SCSI state (identifiers, mode pages). */
void vhd_scsi_lu_init(struct scsi_lu *lu, const char *ctrlr, uint32_t target, uint32_t lun,
		      struct vhd_bdev *bdev, bool readonly);

/* Set cmd's status and sense from an errno (vhd_scsi_sense_from_errno()). */
void vhd_scsi_cmd_set_errno(struct scsi_cmd *cmd, int err, enum vhd_scsi_op_class op);

/* CHECK CONDITION with fixed-format sense key/asc/ascq. */
void vhd_scsi_cmd_set_sense(struct scsi_cmd *cmd, uint8_t key, uint8_t asc, uint8_t ascq);

/* Build SCSI_SENSE_LEN bytes of fixed-format sense data. */
void vhd_scsi_sense_build(uint8_t *buf, uint8_t key, uint8_t asc, uint8_t ascq);

/* Take the highest-priority pending unit attention of lu. \return false when none. */
bool vhd_scsi_ua_take(struct scsi_lu *lu, uint8_t *asc, uint8_t *ascq);

/* Big-endian field access for CDBs and parameter data. */
static inline uint16_t
scsi_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t
scsi_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t
scsi_be64(const uint8_t *p)
{
	return (uint64_t)scsi_be32(p) << 32 | scsi_be32(p + 4);
}

static inline void
scsi_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void
scsi_put_be32(uint8_t *p, uint32_t v)
{
	scsi_put_be16(p, (uint16_t)(v >> 16));
	scsi_put_be16(p + 2, (uint16_t)v);
}

static inline void
scsi_put_be64(uint8_t *p, uint64_t v)
{
	scsi_put_be32(p, (uint32_t)(v >> 32));
	scsi_put_be32(p + 4, (uint32_t)v);
}

#endif /* VHOSTD_SCSI_INTERNAL_H */
