/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * VFIO access to one PCI function for the NVMe backend: the sysfs checks that turn a wrong
 * setup into a clear message, the IOMMU group and its container (shared by every function of
 * one group), BAR0 mapped into vhostd, bus mastering, the "please release the device" request
 * of the kernel, and DMA memory: allocations of our own and external memory (guest RAM), both
 * mapped at IOVAs from the container's allocator.
 *
 * Raw VFIO ioctls, not DPDK's rte_vfio: the bdev layer stays free of DPDK (unit tests and the
 * devices link it without EAL), each NVMe group gets its own container rather than EAL's
 * default one (which would DMA-map all of DPDK's memory for the device too), and the number
 * of mappings is bounded by the kernel (vfio_iommu_type1 dma_entry_limit, 65535) instead of
 * rte_vfio's VFIO_MAX_USER_MEM_MAPS (256).
 *
 * Threads: open/close on the control path; dma_* from any thread (a per-container mutex);
 * the DMA table is read lock-free by the data path.
 */
#ifndef VHOSTD_NVME_VFIO_H
#define VHOSTD_NVME_VFIO_H

#include "nvme_internal.h"

struct vhd_vfio_dev;

/*
 * Check that `bdf` ("0000:01:00.0") is an NVMe controller bound to vfio-pci in a viable IOMMU
 * group, open it, map BAR0 and enable memory decoding and bus mastering. Every refusal is
 * logged with what to do about it.
 * \return 0, -ENODEV (no such device, no IOMMU), -ENXIO (not bound to vfio-pci), -ENOTSUP (not
 *         NVMe, BAR0 not mappable), -EBUSY (group in use), -EACCES, -EPERM (group not viable),
 *         -errno.
 */
int vhd_vfio_open(const char *bdf, struct vhd_vfio_dev **dev);

/* Release the device (if still held), its BAR mapping and, with the last user, the group and
 * container. Remaining external mappings of the container are removed. */
void vhd_vfio_close(struct vhd_vfio_dev *dev);

/* BAR0 as mapped (stays valid until close, see vhd_vfio_release()). */
volatile void *vhd_vfio_bar0(const struct vhd_vfio_dev *dev, size_t *size);

/* An eventfd the kernel signals when it wants the device back (unbind, removal), or -1. */
int vhd_vfio_req_fd(const struct vhd_vfio_dev *dev);

/* Clear PCI bus mastering: the device can no longer access memory. */
void vhd_vfio_stop_dma(struct vhd_vfio_dev *dev);

/*
 * Give the device back to the kernel while others may still touch BAR0: the mapping is
 * replaced (atomically) by anonymous memory reading all ones, as a removed device reads, and
 * the device fd is closed so the kernel's unbind can finish.
 */
void vhd_vfio_release(struct vhd_vfio_dev *dev);

/* DMA memory of our own (queues, lists, bounce buffers): page-aligned, zeroed. */
int vhd_vfio_dma_alloc(struct vhd_vfio_dev *dev, size_t size, void **vaddr, uint64_t *iova);
void vhd_vfio_dma_free(struct vhd_vfio_dev *dev, void *vaddr, size_t size, uint64_t iova);

/*
 * Map external memory [vaddr, vaddr + len) (widened to whole pages) for DMA; mapping the same
 * range again only counts a reference. \return 0, -ENOMEM (pinning failed: RLIMIT_MEMLOCK?),
 * -ENOSPC (table or kernel mapping limit), -EEXIST (overlaps another range), -errno.
 */
int vhd_vfio_dma_map(struct vhd_vfio_dev *dev, uint64_t vaddr, uint64_t len);
/* Drop one reference; the last one unmaps. \return 0 or -ENOENT (not mapped). */
int vhd_vfio_dma_unmap(struct vhd_vfio_dev *dev, uint64_t vaddr, uint64_t len);

/* The container's host address -> IOVA table (for struct nvme_ctrlr). */
struct nvme_dma_table *vhd_vfio_dma_table(struct vhd_vfio_dev *dev);

#endif /* VHOSTD_NVME_VFIO_H */
