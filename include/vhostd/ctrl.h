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

struct vhd_vhost;

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
	/* Valid during the callback only: */
	const struct vhd_ctrlr_conf *conf; /* as created */
	bool from_config;                  /* created from the config file (or adopted by it) */
	struct vhd_vhost *vh;              /* for vhd_vhost_queue_info() (vhostd/transport.h) */
};

/* Call fn for every controller, under the control lock. */
void vhd_ctrl_foreach_ctrlr(void (*fn)(const struct vhd_ctrlr_info *info, void *arg), void *arg);

/* Call fn for the controller `name`, under the control lock. \return 0 or -ENOENT. */
int vhd_ctrl_visit_ctrlr(const char *name,
			 void (*fn)(const struct vhd_ctrlr_info *info, void *arg), void *arg);

/* Valid during the callback only. */
struct vhd_bdev_info {
	const struct vhd_backend_conf *conf; /* as created; malloc/null size follows resizes */
	const struct vhd_bdev *bdev;         /* geometry and capabilities */
	bool from_config;
	unsigned int nusers;                 /* controllers (LUNs) using it */
	const char *user;                    /* the first of them, NULL when unused */
};

/* Call fn for every backend (or only `name` when not NULL), under the control lock.
 * \return 0, or -ENOENT when name is given and does not exist. */
int vhd_ctrl_foreach_bdev(const char *name,
			  void (*fn)(const struct vhd_bdev_info *info, void *arg), void *arg);

/* Runtime control: the RPC server and configuration reload ---------------------------- */

/* The polling cores (`cores` of the configuration in effect). */
void vhd_ctrl_get_cores(struct vhd_cpumask *cores);

/* Fill a controller conf with the defaults the config loader uses (cpumask = cores,
 * num_queues 1, serial = name cut to 20 characters). */
void vhd_ctrl_ctrlr_conf_init(struct vhd_ctrlr_conf *conf, const char *name,
			      enum vhd_ctrlr_type type);

struct vhd_resize_result {
	uint64_t old_bytes;
	uint64_t new_bytes;
	unsigned int users;          /* controllers using the backend */
	unsigned int notified;       /* connected front-ends told that the capacity changed */
	unsigned int notify_failed;  /* connected front-ends the notification did not reach */
};

/*
 * Change a backend's size: malloc/null to new_size bytes; aio: new_size must be 0 and the
 * size of the file or block device is read again (after it grew or shrank). When the size
 * changed, every connected blk front-end gets a config-change notification and re-reads the
 * capacity (guests see the new size without a reboot).
 * \return 0, -ENOENT, -EINVAL (not a multiple of the block size; aio: a size was given, or
 *         the file is smaller than a block), -ENOSPC (malloc: beyond its growth room),
 *         -ENOTSUP (type cannot be resized), -errno.
 */
int vhd_ctrl_bdev_resize(const char *name, uint64_t new_size, struct vhd_resize_result *res,
			 char *err, size_t err_len);

/* Called when a reload changes log_level; \return true when applied (false: the command
 * line fixed it). Set by main, which owns the log sinks. */
void vhd_ctrl_set_log_level_hook(bool (*fn)(enum vhd_log_level level));

enum vhd_reload_kind {
	VHD_RELOAD_BACKEND,
	VHD_RELOAD_CONTROLLER,
	VHD_RELOAD_SETTING,
};

enum vhd_reload_action {
	VHD_RELOAD_UNCHANGED,  /* same in the file and running: not touched */
	VHD_RELOAD_CREATED,    /* new in the file */
	VHD_RELOAD_DELETED,    /* gone from the file, and idle */
	VHD_RELOAD_REPLACED,   /* changed in the file, and idle: deleted and created again */
	VHD_RELOAD_RESIZED,    /* malloc/null: only the size changed; resized in place */
	VHD_RELOAD_APPLIED,    /* a setting applied at once (log_level) */
	VHD_RELOAD_KEPT,       /* changed or gone, but in use: left as it was (refused) */
	VHD_RELOAD_RESTART,    /* a setting that only takes effect when vhostd restarts */
	VHD_RELOAD_FAILED,     /* creating, deleting or resizing it failed */
};

struct vhd_reload_item {
	enum vhd_reload_kind kind;
	enum vhd_reload_action action;
	char name[VHD_NAME_MAX + 1];   /* object or setting name */
	char message[VHD_ERR_MAX];     /* what happened and why, for people */
};

struct vhd_reload_report {
	struct vhd_reload_item *items;
	unsigned int nitems;
	unsigned int nrefused;   /* KEPT + FAILED items */
	char *diag;              /* the file's problems when it was refused (one per line) */
};

/*
 * Re-read the configuration file the daemon started with (SIGHUP, vhostd_reload) and apply
 * only the difference:
 *  - backends and controllers new in the file are created;
 *  - those gone from the file are deleted if idle (a controller without a front-end, a
 *    backend no controller uses) and KEPT otherwise;
 *  - changed ones are replaced if idle, KEPT otherwise; a malloc/null backend whose only
 *    change is its size is resized in place (online, with the guest notified); a backend
 *    change replaces its idle controllers too;
 *  - unchanged ones are not touched: connected guests notice nothing;
 *  - objects created over RPC are left alone unless the file names them.
 * Settings: log_level is applied; others are reported as needing a restart.
 * \return 0 (rep lists every object and setting considered), -EINVAL (the file has problems:
 *         rep->diag; nothing was changed), -errno (cannot read it; rep->diag), -ENOMEM.
 */
int vhd_ctrl_reload(struct vhd_reload_report *rep);

void vhd_reload_report_free(struct vhd_reload_report *rep);

const char *vhd_reload_action_name(enum vhd_reload_action action);
const char *vhd_reload_kind_name(enum vhd_reload_kind kind);

#endif /* VHOSTD_CTRL_H */
