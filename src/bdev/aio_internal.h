/* SPDX-License-Identifier: BSD-3-Clause */
/* Pieces of the aio backend exposed for unit tests. */
#ifndef VHOSTD_AIO_INTERNAL_H
#define VHOSTD_AIO_INTERNAL_H

#include "vhostd/bdev.h"

/*
 * Can `io` go through the O_DIRECT descriptor? Linux requires each buffer address to be a
 * multiple of the DIO memory alignment, and the file offset, the total length and *each
 * segment's length* to be multiples of the DIO offset alignment (the logical block size).
 */
bool vhd_aio_dio_aligned(uint32_t mem_align, uint32_t off_align, const struct vhd_bdev_io *io);

#endif /* VHOSTD_AIO_INTERNAL_H */
