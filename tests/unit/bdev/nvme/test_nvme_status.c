/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe status -> errno (src/bdev/nvme/nvme_status.c), the input of the devices' single
 * translation points: virtio-blk (vhd_blk_status_from_errno) and SCSI sense.
 */
#include <criterion/criterion.h>

#include "nvme_internal.h"
#include "vhostd/dev.h"

struct row {
	uint32_t sct;
	uint32_t sc;
	int err;
};

static const struct row g_rows[] = {
	{NVME_SCT_GENERIC, NVME_SC_SUCCESS, 0},
	{NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE, -EOPNOTSUPP},
	{NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD, -EINVAL},
	{NVME_SCT_GENERIC, NVME_SC_PRP_OFFSET_INVALID, -EINVAL},
	{NVME_SCT_GENERIC, NVME_SC_DATA_SGL_LEN, -EINVAL},
	{NVME_SCT_GENERIC, NVME_SC_DATA_XFER_ERROR, -EIO},
	{NVME_SCT_GENERIC, NVME_SC_INTERNAL, -EIO},
	{NVME_SCT_GENERIC, NVME_SC_ABORT_REQUESTED, -ECANCELED},
	{NVME_SCT_GENERIC, NVME_SC_ABORTED_SQ_DELETION, -ECANCELED},
	{NVME_SCT_GENERIC, NVME_SC_INVALID_NS, -ENXIO},
	{NVME_SCT_GENERIC, NVME_SC_NS_WRITE_PROTECTED, -EROFS},
	{NVME_SCT_GENERIC, NVME_SC_NS_NOT_READY, -EBUSY},
	{NVME_SCT_GENERIC, NVME_SC_FORMAT_IN_PROGRESS, -EBUSY},
	{NVME_SCT_GENERIC, NVME_SC_SANITIZE_IN_PROGRESS, -EBUSY},
	{NVME_SCT_GENERIC, NVME_SC_TRANSIENT_TRANSPORT, -EBUSY},
	{NVME_SCT_GENERIC, NVME_SC_LBA_OUT_OF_RANGE, -ERANGE},
	{NVME_SCT_GENERIC, NVME_SC_CAPACITY_EXCEEDED, -ENOSPC},
	{NVME_SCT_GENERIC, NVME_SC_RESERVATION_CONFLICT, -EBADE},
	{NVME_SCT_GENERIC, 0x7f, -EIO},
	{NVME_SCT_CMD_SPECIFIC, NVME_SC_CONFLICTING_ATTRS, -EINVAL},
	{NVME_SCT_CMD_SPECIFIC, NVME_SC_WRITE_TO_RO, -EROFS},
	{NVME_SCT_CMD_SPECIFIC, NVME_SC_INVALID_QID, -EIO},
	{NVME_SCT_MEDIA, NVME_SC_WRITE_FAULT, -EIO},
	{NVME_SCT_MEDIA, NVME_SC_UNRECOVERED_READ, -EIO},
	{NVME_SCT_MEDIA, NVME_SC_GUARD_CHECK, -EILSEQ},
	{NVME_SCT_MEDIA, NVME_SC_REFTAG_CHECK, -EILSEQ},
	{NVME_SCT_MEDIA, NVME_SC_ACCESS_DENIED, -EACCES},
	{NVME_SCT_MEDIA, NVME_SC_UNWRITTEN_BLOCK, -EIO},
	{NVME_SCT_PATH, 0x00, -EIO},
	{NVME_SCT_VENDOR, 0x01, -EIO},
};

Test(nvme_status, table)
{
	for (size_t i = 0; i < VHD_ARRAY_SIZE(g_rows); i++) {
		uint16_t st = NVME_STATUS(g_rows[i].sct, g_rows[i].sc);

		cr_assert_eq(nvme_status_to_errno(st), g_rows[i].err, "sct %u sc 0x%02x",
			     g_rows[i].sct, g_rows[i].sc);
		/* DNR, More and CRD do not change the meaning */
		cr_assert_eq(nvme_status_to_errno(st | 0x8000 | 0x4000 | 0x1000), g_rows[i].err);
	}
}

Test(nvme_status, field_layout)
{
	/* a completion's dw3 upper half: bit 0 phase, 8:1 SC, 11:9 SCT, 15 DNR */
	uint16_t raw = (uint16_t)((1u << 15) | (2u << 9) | (0x81u << 1) | 1u);

	cr_assert_eq(NVME_STATUS_PHASE(raw), 1);
	cr_assert_eq(NVME_STATUS_SC(raw), 0x81);
	cr_assert_eq(NVME_STATUS_SCT(raw), 2);
	cr_assert_eq(NVME_STATUS_DNR(raw), 1);
	cr_assert_eq(nvme_status_to_errno(raw & 0xfffe), -EIO);
	cr_assert_str_eq(nvme_status_str(raw & 0xfffe), "media/0x81 unrecovered read error (DNR)");
}

Test(nvme_status, blk_translation)
{
	/* What a virtio-blk guest finally sees. */
	cr_assert_eq(vhd_blk_status_from_errno(nvme_status_to_errno(0)), VIRTIO_BLK_S_OK);
	cr_assert_eq(vhd_blk_status_from_errno(nvme_status_to_errno(
			     NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE))),
		     VIRTIO_BLK_S_UNSUPP);
	cr_assert_eq(vhd_blk_status_from_errno(nvme_status_to_errno(
			     NVME_STATUS(NVME_SCT_MEDIA, NVME_SC_UNRECOVERED_READ))),
		     VIRTIO_BLK_S_IOERR);
	cr_assert_eq(vhd_blk_status_from_errno(-ETIMEDOUT), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(vhd_blk_status_from_errno(-ENODEV), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(vhd_blk_status_from_errno(-EFAULT), VIRTIO_BLK_S_IOERR);
}
