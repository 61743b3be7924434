/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SCSI status and sense data. The SCSI emulation reports every failure as an errno; this file
 * is the only place that knows which status, sense key and additional sense code each one
 * becomes (the table is in vhostd/scsi.h). Sense data is always fixed format (70h): Windows
 * expects it, and we never let the guest enable descriptor format (D_SENSE is not changeable).
 */
#include "scsi_internal.h"

void
vhd_scsi_sense_from_errno(int err, enum vhd_scsi_op_class op, struct vhd_scsi_sense *out)
{
	uint8_t key = SCSI_KEY_ILLEGAL_REQUEST, asc = 0, ascq = 0;

	out->status = SCSI_STATUS_CHECK_CONDITION;
	switch (err) {
	case 0:
		out->status = SCSI_STATUS_GOOD;
		key = SCSI_KEY_NO_SENSE;
		break;
	case -ENOSYS:
	case -EOPNOTSUPP:
		asc = 0x20;
		break;
	case -EINVAL:
		asc = 0x24;
		break;
	case -ERANGE:
		asc = 0x21;
		break;
	case -EBADMSG:
		asc = 0x26;
		break;
	case -EMSGSIZE:
		asc = 0x1a;
		break;
	case -ENXIO:
		asc = 0x25;
		break;
	case -EPERM:
		asc = 0x39;
		break;
	case -EROFS:
		key = SCSI_KEY_DATA_PROTECT;
		asc = 0x27;
		break;
	case -ENOSPC:
		/* Thin backing file out of space: SBC's "space allocation failed write protect". */
		key = SCSI_KEY_DATA_PROTECT;
		asc = 0x27;
		ascq = 0x07;
		break;
	case -EIO:
		if (op == VHD_SCSI_OP_READ) {
			key = SCSI_KEY_MEDIUM_ERROR;
			asc = 0x11; /* unrecovered read error */
		} else if (op == VHD_SCSI_OP_WRITE) {
			key = SCSI_KEY_MEDIUM_ERROR;
			asc = 0x0c; /* write error */
		} else {
			key = SCSI_KEY_HARDWARE_ERROR;
			asc = 0x44;
		}
		break;
	case -EAGAIN:
	case -EBUSY:
		out->status = SCSI_STATUS_BUSY;
		key = SCSI_KEY_NO_SENSE;
		break;
	default:
		/* Not ABORTED COMMAND (0B/00/00): Linux retries that forever-ish. */
		key = SCSI_KEY_HARDWARE_ERROR;
		asc = 0x44; /* internal target failure */
		break;
	}
	out->key = key;
	out->asc = asc;
	out->ascq = ascq;
}

void
vhd_scsi_sense_build(uint8_t *buf, uint8_t key, uint8_t asc, uint8_t ascq)
{
	memset(buf, 0, SCSI_SENSE_LEN);
	buf[0] = 0x70;                     /* current error, fixed format, no INFORMATION */
	buf[2] = key & 0x0f;
	buf[7] = SCSI_SENSE_LEN - 8;       /* additional sense length */
	buf[12] = asc;
	buf[13] = ascq;
}

void
vhd_scsi_cmd_set_sense(struct scsi_cmd *cmd, uint8_t key, uint8_t asc, uint8_t ascq)
{
	cmd->status = SCSI_STATUS_CHECK_CONDITION;
	vhd_scsi_sense_build(cmd->sense, key, asc, ascq);
	cmd->sense_len = SCSI_SENSE_LEN;
}

void
vhd_scsi_cmd_set_errno(struct scsi_cmd *cmd, int err, enum vhd_scsi_op_class op)
{
	struct vhd_scsi_sense s;

	vhd_scsi_sense_from_errno(err, op, &s);
	if (s.status == SCSI_STATUS_CHECK_CONDITION) {
		vhd_scsi_cmd_set_sense(cmd, s.key, s.asc, s.ascq);
	} else {
		cmd->status = s.status;
		cmd->sense_len = 0;
	}
}

bool
vhd_scsi_ua_take(struct scsi_lu *lu, uint8_t *asc, uint8_t *ascq)
{
	static const struct {
		uint32_t bit;
		uint8_t asc, ascq;
	} order[] = {
		{SCSI_UA_RESET, 0x29, 0x00},
		{SCSI_UA_NEXUS_LOSS, 0x29, 0x07},
		{SCSI_UA_CAPACITY, 0x2a, 0x09},
		{SCSI_UA_LUNS_CHANGED, 0x3f, 0x0e},
	};

	for (size_t i = 0; i < VHD_ARRAY_SIZE(order); i++) {
		if (lu->ua & order[i].bit) {
			lu->ua &= ~order[i].bit;
			*asc = order[i].asc;
			*ascq = order[i].ascq;
			return true;
		}
	}
	return false;
}
