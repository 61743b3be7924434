/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio-scsi controller (VIRTIO 1.2 §5.6): targets and logical units on bdevs, with the SCSI
 * command set of a direct-access block device emulated in src/dev/scsi/ (see docs/scsi.md).
 *
 * Vrings: 0 control (task management, asynchronous notification), 1 event, 2.. request
 * queues. Every queue of a controller runs on one worker lcore, which therefore owns the
 * LUN table, the unit attentions and the event queue; the control path changes them only
 * through conf->exec, which runs a function on that worker and waits for it.
 *
 * Addressing: lun[0] = 1, lun[1] = target (0..255), lun[2..3] = LUN (0..16383) in the
 * peripheral (lun[2] = 0, Windows) or flat (lun[2] = 0x40 | LUN >> 8, Linux) method. A missing
 * target is answered with VIRTIO_SCSI_S_BAD_TARGET; a missing LUN on a present target behaves
 * like SCSI says (INQUIRY peripheral qualifier 3, CHECK CONDITION 05/25/00 for the rest).
 */
#ifndef VHOSTD_SCSI_H
#define VHOSTD_SCSI_H

#include "vhostd/dev.h"

/* Longest time vhd_scsi_remove_lun() waits for a removed LUN's backend I/O (by default). */
#define VHD_SCSI_REMOVE_TIMEOUT_MS 10000

/* Run fn(arg) on the thread that owns the device's queues and return its result. */
typedef int (*vhd_scsi_exec_fn)(void *owner, int (*fn)(void *arg), void *arg);

struct vhd_scsi_lun_def {
	uint32_t target;             /* 0..255 */
	uint32_t lun;                /* 0..16383 */
	struct vhd_bdev *bdev;       /* must outlive the LUN */
	bool readonly;               /* also implied by bdev->readonly */
};

struct vhd_scsi_conf {
	const char *name;            /* controller name: log lines, serial numbers, WWNs */
	uint16_t num_queues;         /* request queues, 1..VHD_SCSI_MAX_QUEUES */
	const struct vhd_scsi_lun_def *luns;
	unsigned int nluns;
	vhd_scsi_exec_fn exec;       /* Required. */
	void *exec_owner;            /* passed to exec (the controller's worker) */
	uint32_t remove_timeout_ms;  /* vhd_scsi_remove_lun()'s wait; 0: the default */
};

/* 256 vrings (DPDK's limit) minus control and event queue. */
#define VHD_SCSI_MAX_QUEUES 254

/*
 * Control path. Create a controller with the LUNs of conf (targets are implied by them).
 * Identifiers of a LUN (see docs/scsi.md): serial "<name>-t<target>-l<lun>", an NAA locally
 * assigned WWN hashed from the serial, vendor "VHOSTD", product "Virtual disk".
 * \return 0, -EINVAL (bad conf, duplicate LUN, name too long), -ENOMEM.
 */
int vhd_scsi_create(const struct vhd_scsi_conf *conf, struct vhd_dev **dev);

/* true when dev was created by vhd_scsi_create(). */
bool vhd_dev_is_scsi(const struct vhd_dev *dev);

/*
 * Control path (never a worker). Add a LUN at runtime. A guest that negotiated
 * VIRTIO_SCSI_F_HOTPLUG gets a TRANSPORT_RESET/RESCAN event (EVENTS_MISSED is set on the next
 * event when it had posted no event buffer); the other LUNs of the target report the unit
 * attention REPORTED LUNS DATA HAS CHANGED (06/3F/0E).
 * \return 0, -EINVAL (target/lun out of range, bdev NULL), -EEXIST, -ENOMEM (including: no
 *         I/O channel for the bdev on the worker).
 */
int vhd_scsi_add_lun(struct vhd_dev *dev, uint32_t target, uint32_t lun, struct vhd_bdev *bdev,
		     bool readonly);

/*
 * Control path. Remove a LUN: new commands to it fail at once (05/25/00, or BAD_TARGET when
 * it was the target's last LUN), the guest gets TRANSPORT_RESET/REMOVED (with HOTPLUG) and the
 * target's other LUNs 06/3F/0E. Commands already started complete normally; this waits for
 * them, so on 0 the bdev is no longer used by the LUN.
 * \return 0, -ENOENT, -ETIMEDOUT (backend I/O still running after conf->remove_timeout_ms:
 *         the LUN is gone for the guest; its commands complete when their I/O does, but the
 *         device keeps using the bdev until it is destroyed).
 */
int vhd_scsi_remove_lun(struct vhd_dev *dev, uint32_t target, uint32_t lun);

/*
 * Control path. The LUN's bdev changed size (call after the bdev's resize): the LUN reports
 * 06/2A/09 CAPACITY DATA HAS CHANGED once, and a guest that negotiated VIRTIO_SCSI_F_CHANGE
 * gets a PARAM_CHANGE event (reason 0x2A/0x09), upon which Linux re-reads the capacity.
 * \return 0, -ENOENT.
 */
int vhd_scsi_lun_resized(struct vhd_dev *dev, uint32_t target, uint32_t lun);

/*
 * Control path. The statistics of a LUN's commands since it was added, and the commands it
 * runs now. The table is read without the worker: the caller must serialise this with
 * vhd_scsi_add_lun()/vhd_scsi_remove_lun() (the control lock does). Counters are read racily,
 * each whole, as queue statistics are.
 * \return 0, -ENOENT.
 */
int vhd_scsi_lun_stats(struct vhd_dev *dev, uint32_t target, uint32_t lun, struct vhd_io_stats *io,
		       uint64_t *inflight);

/* Failure of an operation, for the errors whose sense data depends on what failed (-EIO). */
enum vhd_scsi_op_class {
	VHD_SCSI_OP_OTHER,
	VHD_SCSI_OP_READ,
	VHD_SCSI_OP_WRITE,          /* writes, write same, cache flushes */
};

struct vhd_scsi_sense {
	uint8_t status;             /* SAM status: GOOD 0x00, CHECK CONDITION 0x02, BUSY 0x08 */
	uint8_t key, asc, ascq;     /* meaningful with CHECK CONDITION */
};

/*
 * The one errno -> SCSI status/sense translation of the SCSI emulation:
 *   0 GOOD;  -ENOSYS 05/20/00 invalid operation code;  -EOPNOTSUPP 05/20/00 (the backend cannot
 *   do it);  -EINVAL 05/24/00 invalid field in CDB;  -ERANGE 05/21/00 LBA out of range;
 *   -EBADMSG 05/26/00 invalid field in parameter list;  -EMSGSIZE 05/1A/00 parameter list
 *   length error;  -ENXIO 05/25/00 logical unit not supported;  -EPERM 05/39/00 saving
 *   parameters not supported;  -EROFS 07/27/00 write protected;  -ENOSPC 07/27/07 space
 *   allocation failed;  -EIO 03/11/00 (read) or 03/0C/00 (write) medium error;  -EAGAIN,
 *   -EBUSY status BUSY;  anything else 04/44/00 internal target failure.
 */
void vhd_scsi_sense_from_errno(int err, enum vhd_scsi_op_class op, struct vhd_scsi_sense *out);

#endif /* VHOSTD_SCSI_H */
