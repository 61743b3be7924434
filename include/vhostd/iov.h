/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copies between a flat buffer and an iovec array: the virtqueue layer, the devices and the
 * backends that bounce data (nvme) share them. Pure C.
 */
#ifndef VHOSTD_IOV_H
#define VHOSTD_IOV_H

#include <sys/uio.h>

#include "vhostd/common.h"

/* Copy up to len bytes out of / into a (possibly partial) iovec array, skipping `skip` bytes.
 * Stops at the first NULL iov_base. \return bytes copied. */
size_t vhd_iov_to_buf(const struct iovec *iov, unsigned int niov, size_t skip, void *buf,
		      size_t len);
size_t vhd_iov_from_buf(const struct iovec *iov, unsigned int niov, size_t skip,
			const void *buf, size_t len);

#endif /* VHOSTD_IOV_H */
