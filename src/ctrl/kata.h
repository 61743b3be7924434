/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Kata Containers vhost-user-store layout. With `kata: {store: DIR}` a blk controller NAME
 * listens on DIR/block/sockets/NAME, and a block device node DIR/block/devices/NAME (major
 * 241, the number Kata reserves for vhost-user-blk) tells the Kata runtime the disk exists.
 * The minor is derived from the name, so it stays the same across restarts, and moves to the
 * next free number only when two names collide. Control path only.
 */
#ifndef VHOSTD_KATA_H
#define VHOSTD_KATA_H

#include <stddef.h>

#define VHD_KATA_BLK_MAJOR 241

/* Where the socket of controller `name` goes. \return 0 or -ENAMETOOLONG. */
int vhd_kata_socket_path(const char *store, const char *name, char *path, size_t len);

/*
 * Create the directories (if missing) and the device node for `name` (replacing a stale node
 * of ours with the same name). \return 0 or -errno; *minor receives the minor used.
 */
int vhd_kata_node_create(const char *store, const char *name, unsigned int *minor);

/* Remove the device node of `name` (no error if it is already gone). */
void vhd_kata_node_remove(const char *store, const char *name);

/* The minor vhd_kata_node_create() tries first for `name`. */
unsigned int vhd_kata_preferred_minor(const char *name);

#endif /* VHOSTD_KATA_H */
