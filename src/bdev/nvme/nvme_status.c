/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe completion status -> errno. The bdev layer reports errnos; the devices own the one
 * errno -> virtio-blk status and the one errno -> SCSI sense translation. The choices here aim
 * at what those translations make of them:
 *   -EOPNOTSUPP  unsupported command            blk UNSUPP, SCSI 05/20/00
 *   -EINVAL      invalid field                  SCSI 05/24/00
 *   -ERANGE      LBA out of range               SCSI 05/21/00
 *   -ENOSPC      capacity exceeded (thin)       SCSI 07/27/07
 *   -EROFS       write protected                SCSI 07/27/00
 *   -ENXIO       namespace not attached/valid   SCSI 05/25/00
 *   -EBUSY       not ready, format/sanitize in progress, transient: try again later (BUSY)
 *   -EIO         media and data transfer errors: medium error / hardware error
 * Everything else is -EIO too, except integrity checks (-EILSEQ), access denied (-EACCES),
 * reservation conflicts (-EBADE) and aborts (-ECANCELED).
 */
#include <stdio.h>

#include "nvme_internal.h"

int
nvme_status_to_errno(uint16_t status)
{
	uint32_t sct = NVME_STATUS_SCT(status);
	uint32_t sc = NVME_STATUS_SC(status);

	switch (sct) {
	case NVME_SCT_GENERIC:
		switch (sc) {
		case NVME_SC_SUCCESS:
			return 0;
		case NVME_SC_INVALID_OPCODE:
			return -EOPNOTSUPP;
		case NVME_SC_INVALID_FIELD:
		case NVME_SC_INVALID_SGL_SEG:
		case NVME_SC_INVALID_NUM_SGL:
		case NVME_SC_DATA_SGL_LEN:
		case NVME_SC_SGL_TYPE_INVALID:
		case NVME_SC_PRP_OFFSET_INVALID:
			return -EINVAL;
		case NVME_SC_INVALID_NS:
			return -ENXIO;
		case NVME_SC_ABORTED_POWER_LOSS:
		case NVME_SC_ABORT_REQUESTED:
		case NVME_SC_ABORTED_SQ_DELETION:
			return -ECANCELED;
		case NVME_SC_NS_WRITE_PROTECTED:
			return -EROFS;
		case NVME_SC_SANITIZE_IN_PROGRESS:
		case NVME_SC_CMD_INTERRUPTED:
		case NVME_SC_TRANSIENT_TRANSPORT:
		case NVME_SC_NS_NOT_READY:
		case NVME_SC_FORMAT_IN_PROGRESS:
			return -EBUSY;
		case NVME_SC_LBA_OUT_OF_RANGE:
			return -ERANGE;
		case NVME_SC_CAPACITY_EXCEEDED:
			return -ENOSPC;
		case NVME_SC_RESERVATION_CONFLICT:
			return -EBADE;
		default:
			return -EIO;
		}
	case NVME_SCT_CMD_SPECIFIC:
		switch (sc) {
		case NVME_SC_CONFLICTING_ATTRS:
		case NVME_SC_INVALID_PI:
			return -EINVAL;
		case NVME_SC_WRITE_TO_RO:
			return -EROFS;
		default:
			return -EIO;
		}
	case NVME_SCT_MEDIA:
		switch (sc) {
		case NVME_SC_GUARD_CHECK:
		case NVME_SC_APPTAG_CHECK:
		case NVME_SC_REFTAG_CHECK:
		case NVME_SC_COMPARE_FAILURE:
			return -EILSEQ;
		case NVME_SC_ACCESS_DENIED:
			return -EACCES;
		default:
			return -EIO;
		}
	default:
		return -EIO;
	}
}

const char *
nvme_status_str(uint16_t status)
{
	static __thread char buf[64];
	static const char *const sct_names[8] = {
		"generic", "command-specific", "media", "path", "sct4", "sct5", "sct6", "vendor",
	};
	const char *what = "";
	uint32_t sct = NVME_STATUS_SCT(status), sc = NVME_STATUS_SC(status);

	if (sct == NVME_SCT_GENERIC) {
		switch (sc) {
		case NVME_SC_SUCCESS: what = " success"; break;
		case NVME_SC_INVALID_OPCODE: what = " invalid opcode"; break;
		case NVME_SC_INVALID_FIELD: what = " invalid field"; break;
		case NVME_SC_DATA_XFER_ERROR: what = " data transfer error"; break;
		case NVME_SC_INTERNAL: what = " internal error"; break;
		case NVME_SC_ABORT_REQUESTED: what = " abort requested"; break;
		case NVME_SC_ABORTED_SQ_DELETION: what = " aborted: SQ deleted"; break;
		case NVME_SC_INVALID_NS: what = " invalid namespace"; break;
		case NVME_SC_LBA_OUT_OF_RANGE: what = " LBA out of range"; break;
		case NVME_SC_NS_NOT_READY: what = " namespace not ready"; break;
		default: break;
		}
	} else if (sct == NVME_SCT_MEDIA) {
		switch (sc) {
		case NVME_SC_WRITE_FAULT: what = " write fault"; break;
		case NVME_SC_UNRECOVERED_READ: what = " unrecovered read error"; break;
		default: break;
		}
	}
	snprintf(buf, sizeof(buf), "%s/0x%02x%s%s", sct_names[sct], sc, what,
		 NVME_STATUS_DNR(status) ? " (DNR)" : "");
	return buf;
}
