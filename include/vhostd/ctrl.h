/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Control plane: the one place that creates and deletes backends and controllers. The config
 * loader (at start and on reload) and the JSON-RPC server call these same functions, so
 * anything one can do the other can.
 *
 * Every function runs on a control thread, serialised by one mutex, and returns 0 or -errno
 * with a message for the user in `err` (naming the object or parameter at fault). Nothing is
 * logged here: the caller reports the message (log line, RPC error reply).
 */
#ifndef VHOSTD_CTRL_H
#define VHOSTD_CTRL_H

#include "vhostd/bdev.h"
#include "vhostd/config.h"
#include "vhostd/dev.h"

#define VHD_ERR_MAX 256

/* Daemon-wide settings the control plane needs (socket_dir, kata store ...). */
int vhd_ctrl_init(const struct vhd_config *cfg);

/* Backends ------------------------------------------------------------------------------ */

/* \return 0, -EEXIST (name taken), -EINVAL, -ENOENT, -EBUSY (file locked by another user) ... */
int vhd_ctrl_bdev_create(const struct vhd_backend_conf *conf, char *err, size_t err_len);

/* \return 0, -ENOENT, -EBUSY (used by a controller, named in err). */
int vhd_ctrl_bdev_delete(const char *name, char *err, size_t err_len);

/* Controllers --------------------------------------------------------------------------- */

/* \return 0, -EEXIST, -ENOENT (backend), -EBUSY (backend already written by another user),
 *         -EINVAL (cpumask has no polling core ...), -errno from the socket. */
int vhd_ctrl_ctrlr_create(const struct vhd_ctrlr_conf *conf, char *err, size_t err_len);

/* \return 0, -ENOENT, -EBUSY (a front-end is connected and force is false). */
int vhd_ctrl_ctrlr_delete(const char *name, bool force, char *err, size_t err_len);

/*
 * Add a LUN to a running scsi controller (the guest is told when it negotiated hot-plug; see
 * vhd_scsi_add_lun()). The backend rules are those of the config: one writer per backend.
 * \return 0, -ENOENT (controller or backend), -EINVAL (not scsi, target/LUN out of range),
 *         -EEXIST (LUN exists), -EBUSY (backend already written), -ENOMEM.
 */
int vhd_ctrl_scsi_add_lun(const char *ctrlr, uint32_t target, const struct vhd_lun_conf *lun,
			  char *err, size_t err_len);

/*
 * Remove a LUN of a running scsi controller; waits for its in-flight commands (see
 * vhd_scsi_remove_lun()), then the backend is free for other uses.
 * \return 0, -ENOENT, -EINVAL (not scsi), -ETIMEDOUT (removed for the guest, but the backend
 *         stays in use until the controller is deleted).
 */
int vhd_ctrl_scsi_remove_lun(const char *ctrlr, uint32_t target, uint32_t lun, char *err,
			     size_t err_len);

/* Create every backend and controller of a config, in order; on failure, undo. */
int vhd_ctrl_apply_config(const struct vhd_config *cfg, char *err, size_t err_len);

/* Delete every controller (draining in-flight I/O) then every backend. */
void vhd_ctrl_shutdown(void);

/* Introspection ------------------------------------------------------------------------- */

struct vhd_ctrlr_info {
	char name[VHD_NAME_MAX + 1];
	enum vhd_ctrlr_type type;
	char socket[PATH_MAX];
	unsigned int cpu;
	uint16_t num_queues;
	bool connected;
	char backend[VHD_NAME_MAX + 1]; /* blk */
};

/* Call fn for every controller, under the control lock. */
void vhd_ctrl_foreach_ctrlr(void (*fn)(const struct vhd_ctrlr_info *info, void *arg), void *arg);

#endif /* VHOSTD_CTRL_H */
