/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost-user transport on DPDK's rte_vhost: the only code that includes <rte_vhost.h>.
 *
 * A struct vhd_vhost is one listening socket (server mode) serving one device. It accepts one
 * front-end at a time, negotiates features, answers GET_CONFIG/SET_CONFIG/GET_QUEUE_NUM for the
 * device, and starts each queue on the device's worker when the front-end makes it ready; it
 * drains and stops queues before DPDK replies to GET_VRING_BASE, before the memory table
 * changes, and on disconnect. All callbacks run on DPDK's vhost-events thread; the public
 * functions here run on the control path (main thread, RPC thread).
 */
#ifndef VHOSTD_TRANSPORT_H
#define VHOSTD_TRANSPORT_H

#include "vhostd/dev.h"
#include "vhostd/worker.h"

struct vhd_vhost;

/*
 * Create the socket `path` (a stale socket file left by a crash is replaced; any other file
 * is not) and start listening for a front-end of dev, served on worker w.
 * \return 0, -EEXIST (path exists and is not a socket), -EADDRINUSE (another process listens
 *         on it), -errno.
 */
int vhd_vhost_create(const char *path, struct vhd_dev *dev, struct vhd_worker *w,
		     struct vhd_vhost **vh);

/*
 * Disconnect the front-end if any (in-flight I/O is drained and completed first), stop
 * listening and remove the socket file. The device is not freed.
 */
void vhd_vhost_destroy(struct vhd_vhost *vh);

/* true while a front-end is connected. */
bool vhd_vhost_connected(struct vhd_vhost *vh);

/*
 * Tell the front-end the config space changed (blk capacity): a vhost-user
 * CONFIG_CHANGE_MSG on the back-end channel. \return 0, -ENOTCONN, -ENOTSUP, -EIO.
 */
int vhd_vhost_config_changed(struct vhd_vhost *vh);

/*
 * The set of backends the device serves changed (a SCSI LUN was added or removed): DMA-map
 * the connected front-end's guest memory for backends that need it and now serve it, unmap
 * it for those that no longer do. Control path; call after adding a LUN and after removing
 * one (before its backend may be deleted).
 */
void vhd_vhost_dma_sync(struct vhd_vhost *vh);

/*
 * Statistics per vring, cumulative since the controller was created (queues that stopped,
 * on a disconnect or a guest reset, keep counting from where they were). Control path.
 * \return number of vrings written (at most max).
 */
unsigned int vhd_vhost_queue_stats(struct vhd_vhost *vh, struct vhd_io_stats *stats,
				   unsigned int max);

/* The same plus each queue's state (started, ring size, requests in flight). */
unsigned int vhd_vhost_queue_info(struct vhd_vhost *vh, struct vhd_queue_stats *qs,
				  unsigned int max);

/* Periodic housekeeping (about once a second, control thread): warns about front-ends that
 * started a device without sharing guest memory. */
void vhd_transport_tick(void);

/* Global setup/teardown of the rte_vhost glue (call after EAL init / before EAL cleanup). */
int vhd_transport_init(void);
void vhd_transport_fini(void);

#endif /* VHOSTD_TRANSPORT_H */
