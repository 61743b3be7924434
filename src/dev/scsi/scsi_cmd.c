/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The SCSI command set of a direct-access logical unit on a bdev (SPC-4 / SBC-3 subset; the
 * list, limits and identifiers are in docs/scsi.md).
 *
 * One table describes every supported command: the dispatcher and REPORT SUPPORTED OPERATION
 * CODES both read it, so they cannot disagree. A handler validates the CDB and either answers
 * at once (emulated data is built in a stack buffer and copied to the guest's data-in buffers)
 * or starts backend I/O; commands that need several backend operations (write + flush without
 * backend FUA, WRITE SAME in chunks, UNMAP descriptors) continue from the completion callback
 * through cmd->step. Failures are errnos until vhd_scsi_cmd_set_errno() turns them into status
 * and sense. Guest data is copied once (parameter lists) or only moved by the backend: a
 * guest that rewrites its buffers meanwhile can only corrupt its own data.
 */
#include <stdio.h>

#define VHD_LOG_COMPONENT "scsi"
#include "vhostd/log.h"
#include "scsi_internal.h"

/* Largest READ/WRITE/VERIFY transfer (VPD B0 MAXIMUM TRANSFER LENGTH): QEMU's default
 * max_sectors is 0xffff, Linux never sends more than that. */
#define SCSI_MAX_XFER_BYTES (32u << 20)
/* Largest WRITE SAME and UNMAP (VPD B0), and the chunk a write-zeroes step covers. */
#define SCSI_MAX_WS_BYTES (1ull << 30)

#define STD_INQUIRY_LEN 96
#define CONTROL_NACA 0x04

/* The command returned without finishing: backend I/O runs, the callback finishes it. */
#define PENDING 1

enum {
	OP_TEST_UNIT_READY = 0x00,
	OP_REQUEST_SENSE = 0x03,
	OP_READ_6 = 0x08,
	OP_WRITE_6 = 0x0a,
	OP_INQUIRY = 0x12,
	OP_MODE_SELECT_6 = 0x15,
	OP_MODE_SENSE_6 = 0x1a,
	OP_START_STOP_UNIT = 0x1b,
	OP_PREVENT_ALLOW = 0x1e,
	OP_READ_CAPACITY_10 = 0x25,
	OP_READ_10 = 0x28,
	OP_WRITE_10 = 0x2a,
	OP_VERIFY_10 = 0x2f,
	OP_SYNC_CACHE_10 = 0x35,
	OP_WRITE_SAME_10 = 0x41,
	OP_UNMAP = 0x42,
	OP_MODE_SELECT_10 = 0x55,
	OP_MODE_SENSE_10 = 0x5a,
	OP_READ_16 = 0x88,
	OP_WRITE_16 = 0x8a,
	OP_VERIFY_16 = 0x8f,
	OP_SYNC_CACHE_16 = 0x91,
	OP_WRITE_SAME_16 = 0x93,
	OP_SERVICE_ACTION_IN_16 = 0x9e,
	OP_REPORT_LUNS = 0xa0,
	OP_MAINTENANCE_IN = 0xa3,
	OP_READ_12 = 0xa8,
	OP_WRITE_12 = 0xaa,
};

#define SAI_READ_CAPACITY_16 0x10
#define MI_REPORT_OPCODES 0x0c

/* Pages of an all-zero block: the data of WRITE SAME with NDOB on a backend that cannot
 * write zeroes. Backends only read it. */
static uint8_t g_zero_block[65536] __attribute__((aligned(4096)));

static int cmd_tur(struct scsi_cmd *cmd);
static int cmd_request_sense(struct scsi_cmd *cmd);
static int cmd_rw(struct scsi_cmd *cmd);
static int cmd_inquiry(struct scsi_cmd *cmd);
static int cmd_mode_select(struct scsi_cmd *cmd);
static int cmd_mode_sense(struct scsi_cmd *cmd);
static int cmd_read_capacity_10(struct scsi_cmd *cmd);
static int cmd_read_capacity_16(struct scsi_cmd *cmd);
static int cmd_verify(struct scsi_cmd *cmd);
static int cmd_sync_cache(struct scsi_cmd *cmd);
static int cmd_write_same(struct scsi_cmd *cmd);
static int cmd_unmap(struct scsi_cmd *cmd);
static int cmd_report_luns(struct scsi_cmd *cmd);
static int cmd_report_opcodes(struct scsi_cmd *cmd);

#define F_UA_EXEMPT (1u << 0) /* runs although a unit attention is pending (SPC-4 5.14) */

struct op_desc {
	uint8_t opcode;
	bool has_sa;
	uint8_t sa;
	uint8_t flags;
	uint8_t cdb_len;
	int (*fn)(struct scsi_cmd *cmd);
	/* REPORT SUPPORTED OPERATION CODES "CDB usage data": the CDB bits we look at. */
	uint8_t usage[16];
};

/* Sorted by opcode and service action, the order REPORT SUPPORTED OPERATION CODES lists. */
static const struct op_desc g_ops[] = {
	{OP_TEST_UNIT_READY, false, 0, 0, 6, cmd_tur, {0x00, 0, 0, 0, 0, 0x04}},
	{OP_REQUEST_SENSE, false, 0, F_UA_EXEMPT, 6, cmd_request_sense,
	 {0x03, 0x01, 0, 0, 0xff, 0x04}},
	{OP_READ_6, false, 0, 0, 6, cmd_rw, {0x08, 0x1f, 0xff, 0xff, 0xff, 0x04}},
	{OP_WRITE_6, false, 0, 0, 6, cmd_rw, {0x0a, 0x1f, 0xff, 0xff, 0xff, 0x04}},
	{OP_INQUIRY, false, 0, F_UA_EXEMPT, 6, cmd_inquiry, {0x12, 0x03, 0xff, 0xff, 0xff, 0x04}},
	{OP_MODE_SELECT_6, false, 0, 0, 6, cmd_mode_select, {0x15, 0x11, 0, 0, 0xff, 0x04}},
	{OP_MODE_SENSE_6, false, 0, 0, 6, cmd_mode_sense, {0x1a, 0x08, 0xff, 0xff, 0xff, 0x04}},
	{OP_START_STOP_UNIT, false, 0, 0, 6, cmd_tur, {0x1b, 0x01, 0, 0x0f, 0xf7, 0x04}},
	{OP_PREVENT_ALLOW, false, 0, 0, 6, cmd_tur, {0x1e, 0, 0, 0, 0x03, 0x04}},
	{OP_READ_CAPACITY_10, false, 0, 0, 10, cmd_read_capacity_10,
	 {0x25, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0x01, 0x04}},
	{OP_READ_10, false, 0, 0, 10, cmd_rw,
	 {0x28, 0xf8, 0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0x04}},
	{OP_WRITE_10, false, 0, 0, 10, cmd_rw,
	 {0x2a, 0xf8, 0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0x04}},
	{OP_VERIFY_10, false, 0, 0, 10, cmd_verify,
	 {0x2f, 0xe6, 0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0x04}},
	{OP_SYNC_CACHE_10, false, 0, 0, 10, cmd_sync_cache,
	 {0x35, 0, 0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0x04}},
	{OP_WRITE_SAME_10, false, 0, 0, 10, cmd_write_same,
	 {0x41, 0xf8, 0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0x04}},
	{OP_UNMAP, false, 0, 0, 10, cmd_unmap, {0x42, 0x01, 0, 0, 0, 0, 0, 0xff, 0xff, 0x04}},
	{OP_MODE_SELECT_10, false, 0, 0, 10, cmd_mode_select,
	 {0x55, 0x11, 0, 0, 0, 0, 0, 0xff, 0xff, 0x04}},
	{OP_MODE_SENSE_10, false, 0, 0, 10, cmd_mode_sense,
	 {0x5a, 0x18, 0xff, 0xff, 0, 0, 0, 0xff, 0xff, 0x04}},
	{OP_READ_16, false, 0, 0, 16, cmd_rw,
	 {0x88, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0,
	  0x04}},
	{OP_WRITE_16, false, 0, 0, 16, cmd_rw,
	 {0x8a, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0,
	  0x04}},
	{OP_VERIFY_16, false, 0, 0, 16, cmd_verify,
	 {0x8f, 0xe6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0,
	  0x04}},
	{OP_SYNC_CACHE_16, false, 0, 0, 16, cmd_sync_cache,
	 {0x91, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0,
	  0x04}},
	{OP_WRITE_SAME_16, false, 0, 0, 16, cmd_write_same,
	 {0x93, 0xf9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0,
	  0x04}},
	{OP_SERVICE_ACTION_IN_16, true, SAI_READ_CAPACITY_16, 0, 16, cmd_read_capacity_16,
	 {0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0x04}},
	{OP_REPORT_LUNS, false, 0, F_UA_EXEMPT, 12, cmd_report_luns,
	 {0xa0, 0, 0xff, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0x04}},
	{OP_MAINTENANCE_IN, true, MI_REPORT_OPCODES, 0, 12, cmd_report_opcodes,
	 {0xa3, 0x0c, 0x87, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0x04}},
	{OP_READ_12, false, 0, 0, 12, cmd_rw,
	 {0xa8, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0x04}},
	{OP_WRITE_12, false, 0, 0, 12, cmd_rw,
	 {0xaa, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0x04}},
};

/* Opcodes whose CDB carries a service action (of those we implement). */
static bool
opcode_has_sa(uint8_t opcode)
{
	return opcode == OP_SERVICE_ACTION_IN_16 || opcode == OP_MAINTENANCE_IN;
}

static uint8_t
cdb_sa(const uint8_t *cdb)
{
	return cdb[1] & 0x1f;
}

static const struct op_desc *
find_op(uint8_t opcode, bool match_sa, uint16_t sa)
{
	for (size_t i = 0; i < VHD_ARRAY_SIZE(g_ops); i++) {
		const struct op_desc *d = &g_ops[i];

		if (d->opcode == opcode && (!match_sa || !d->has_sa || d->sa == sa)) {
			return d;
		}
	}
	return NULL;
}

/* ---- helpers ---- */

static enum vhd_scsi_op_class
op_class(enum vhd_stat_op op)
{
	switch (op) {
	case VHD_STAT_READ:
		return VHD_SCSI_OP_READ;
	case VHD_STAT_WRITE:
	case VHD_STAT_FLUSH:
	case VHD_STAT_WRITE_ZEROES:
		return VHD_SCSI_OP_WRITE;
	default:
		return VHD_SCSI_OP_OTHER;
	}
}

static void
finish(struct scsi_cmd *cmd, int err)
{
	if (err != 0) {
		cmd->xfer = 0;
		vhd_scsi_cmd_set_errno(cmd, err, op_class(cmd->op));
	}
	cmd->done(cmd);
}

/* Does the command have `len` bytes of buffers in direction dir? If not it is an OVERRUN. */
static bool
have_data(struct scsi_cmd *cmd, enum scsi_dir dir, uint64_t len)
{
	uint64_t room = cmd->dir == dir ? cmd->data_len : 0;

	if (len > room) {
		cmd->response = VIRTIO_SCSI_S_OVERRUN;
		return false;
	}
	return true;
}

/*
 * Data-in of an emulated command: the first min(len, alloc) bytes of buf (SPC-4 4.2.5.6: a
 * short allocation length truncates, it is not an error). \return 0 (finish the command).
 */
static int
send_data(struct scsi_cmd *cmd, const void *buf, size_t len, uint64_t alloc)
{
	size_t n = (size_t)VHD_MIN((uint64_t)len, alloc);

	if (have_data(cmd, SCSI_DIR_FROM_DEV, n)) {
		cmd->xfer = vhd_iov_from_buf(cmd->iov, cmd->iovcnt, 0, buf, n);
	}
	return 0;
}

/* Keep exactly the first len bytes of an iovec array (the caller checked there are that many). */
static void
iov_keep(struct iovec *iov, unsigned int *cnt, uint64_t len)
{
	unsigned int i;

	for (i = 0; i < *cnt && len > 0; i++) {
		if (iov[i].iov_len >= len) {
			iov[i].iov_len = (size_t)len;
			len = 0;
		} else {
			len -= iov[i].iov_len;
		}
	}
	*cnt = i;
}

static bool
iov_is_zero(const struct iovec *iov, unsigned int cnt, uint64_t len)
{
	for (unsigned int i = 0; i < cnt && len > 0; i++) {
		const uint8_t *p = iov[i].iov_base;
		size_t n = (size_t)VHD_MIN((uint64_t)iov[i].iov_len, len);

		for (size_t j = 0; j < n; j++) {
			if (p[j] != 0) {
				return false;
			}
		}
		len -= n;
	}
	return true;
}

static uint64_t
lu_blocks(const struct scsi_lu *lu)
{
	return vhd_bdev_num_blocks(lu->bdev);
}

/* Overflow-safe: do [lba, lba + n) lie inside the LU? */
static bool
range_ok(const struct scsi_lu *lu, uint64_t lba, uint64_t n)
{
	uint64_t num = lu_blocks(lu);

	return lba <= num && n <= num - lba;
}

static bool
lu_provisioning(const struct scsi_lu *lu)
{
	return lu->bdev->has_discard && !lu->readonly;
}

static uint32_t
max_xfer_blocks(const struct scsi_lu *lu)
{
	return SCSI_MAX_XFER_BYTES / lu->bdev->block_size;
}

static uint64_t
max_ws_blocks(const struct scsi_lu *lu)
{
	return SCSI_MAX_WS_BYTES / lu->bdev->block_size;
}

/* Writes must be stable on completion: the guest turned the write cache off. */
static bool
write_through(const struct scsi_lu *lu)
{
	return !lu->wce && lu->bdev->volatile_cache;
}

/* ---- backend I/O ---- */

static void
io_done(struct vhd_bdev_io *io, int status)
{
	struct scsi_cmd *cmd = VHD_CONTAINER_OF(io, struct scsi_cmd, io);

	/* An aborted command stops between steps; the device reports ABORTED/RESET. A queue
	 * that broke meanwhile may have lost its guest memory: no step reads it again. */
	if (status == 0 && cmd->step != NULL && cmd->queue_broken != NULL && *cmd->queue_broken) {
		status = -EIO;
	} else if (status == 0 && cmd->step != NULL && cmd->abort_response == 0) {
		int rc = cmd->step(cmd);

		if (rc == PENDING) {
			return;
		}
		status = rc;
	}
	finish(cmd, status);
}

/* \return PENDING, or -errno when the I/O could not be started. */
static int
submit(struct scsi_cmd *cmd, enum vhd_io_type type, uint32_t flags, uint64_t lba,
       uint64_t nblocks, struct iovec *iov, unsigned int iovcnt)
{
	uint32_t bs = cmd->lu->bdev->block_size;
	int rc;

	cmd->io.type = type;
	cmd->io.flags = flags;
	cmd->io.offset = lba * bs;
	cmd->io.length = nblocks * bs;
	cmd->io.iov = iov;
	cmd->io.iovcnt = (int)iovcnt;
	cmd->io.cb = io_done;
	rc = vhd_bdev_submit(cmd->lu->ch, &cmd->io);
	return rc == 0 ? PENDING : rc;
}

static int
flush_step(struct scsi_cmd *cmd)
{
	cmd->step = NULL;
	return submit(cmd, VHD_IO_FLUSH, 0, 0, 0, NULL, 0);
}

/* A write, stable on completion when write-through is required. */
static uint32_t
write_flags(struct scsi_cmd *cmd, bool fua)
{
	struct scsi_lu *lu = cmd->lu;

	if (!(fua || write_through(lu)) || !lu->bdev->volatile_cache) {
		return 0;
	}
	if (lu->bdev->has_fua) {
		return VHD_IO_F_FUA;
	}
	cmd->flush_after = true;
	return 0;
}

/* ---- commands without data ---- */

static int
cmd_tur(struct scsi_cmd *cmd)
{
	return 0;
}

/* ---- READ / WRITE ---- */

static int
cmd_rw(struct scsi_cmd *cmd)
{
	const uint8_t *c = cmd->cdb;
	struct scsi_lu *lu = cmd->lu;
	uint64_t lba, bytes;
	uint32_t n;
	uint8_t protect = 0;
	bool fua = false;
	bool write;
	uint32_t flags;

	switch (c[0]) {
	case OP_READ_6:
	case OP_WRITE_6:
		lba = (uint32_t)(c[1] & 0x1f) << 16 | scsi_be16(c + 2);
		n = c[4] != 0 ? c[4] : 256; /* SBC-3 5.xx: 0 means 256 blocks here */
		break;
	case OP_READ_10:
	case OP_WRITE_10:
		lba = scsi_be32(c + 2);
		n = scsi_be16(c + 7);
		break;
	case OP_READ_12:
	case OP_WRITE_12:
		lba = scsi_be32(c + 2);
		n = scsi_be32(c + 6);
		break;
	default:
		lba = scsi_be64(c + 2);
		n = scsi_be32(c + 10);
		break;
	}
	if (c[0] != OP_READ_6 && c[0] != OP_WRITE_6) {
		protect = c[1] >> 5;
		fua = (c[1] & 0x08) != 0;
	}
	write = c[0] == OP_WRITE_6 || c[0] == OP_WRITE_10 || c[0] == OP_WRITE_12 ||
		c[0] == OP_WRITE_16;
	cmd->op = write ? VHD_STAT_WRITE : VHD_STAT_READ;

	/* No protection information on our LUs: RDPROTECT/WRPROTECT must be 0. */
	if (protect != 0) {
		return -EINVAL;
	}
	if (write && lu->readonly) {
		return -EROFS;
	}
	if (!range_ok(lu, lba, n)) {
		return -ERANGE;
	}
	if (n > max_xfer_blocks(lu)) {
		return -EINVAL;
	}
	bytes = (uint64_t)n * lu->bdev->block_size;
	if (!have_data(cmd, write ? SCSI_DIR_TO_DEV : SCSI_DIR_FROM_DEV, bytes) || n == 0) {
		return 0;
	}
	iov_keep(cmd->iov, &cmd->iovcnt, bytes);
	cmd->xfer = bytes;
	if (!write) {
		return submit(cmd, VHD_IO_READ, 0, lba, n, cmd->iov, cmd->iovcnt);
	}
	flags = write_flags(cmd, fua);
	if (cmd->flush_after) {
		cmd->step = flush_step;
	}
	return submit(cmd, VHD_IO_WRITE, flags, lba, n, cmd->iov, cmd->iovcnt);
}

/* ---- VERIFY / SYNCHRONIZE CACHE ---- */

static int
cmd_verify(struct scsi_cmd *cmd)
{
	const uint8_t *c = cmd->cdb;
	bool v16 = c[0] == OP_VERIFY_16;
	uint64_t lba = v16 ? scsi_be64(c + 2) : scsi_be32(c + 2);
	uint32_t n = v16 ? scsi_be32(c + 10) : scsi_be16(c + 7);

	/* VRPROTECT needs protection information; BYTCHK (compare with data-out) is not
	 * implemented: a medium we can read is "verified". */
	if ((c[1] >> 5) != 0 || (c[1] & 0x06) != 0) {
		return -EINVAL;
	}
	if (!range_ok(cmd->lu, lba, n)) {
		return -ERANGE;
	}
	if (n > max_xfer_blocks(cmd->lu)) {
		return -EINVAL;
	}
	return 0;
}

static int
cmd_sync_cache(struct scsi_cmd *cmd)
{
	const uint8_t *c = cmd->cdb;
	struct scsi_lu *lu = cmd->lu;
	bool s16 = c[0] == OP_SYNC_CACHE_16;
	uint64_t lba = s16 ? scsi_be64(c + 2) : scsi_be32(c + 2);
	uint32_t n = s16 ? scsi_be32(c + 10) : scsi_be16(c + 7);

	/* n == 0: from lba to the end. IMMED may be ignored (we report after the flush). */
	if (!range_ok(lu, lba, n)) {
		return -ERANGE;
	}
	cmd->op = VHD_STAT_FLUSH;
	if (!lu->bdev->volatile_cache || lu->readonly) {
		return 0;
	}
	return submit(cmd, VHD_IO_FLUSH, 0, 0, 0, NULL, 0);
}

/* ---- WRITE SAME / UNMAP ---- */

/* After the last chunk: the flush write-through still owes, then done. */
static int
chunks_done(struct scsi_cmd *cmd)
{
	if (cmd->flush_after) {
		cmd->flush_after = false;
		return submit(cmd, VHD_IO_FLUSH, 0, 0, 0, NULL, 0);
	}
	return 0;
}

static int
ws_zeroes_step(struct scsi_cmd *cmd)
{
	struct vhd_bdev *bdev = cmd->lu->bdev;
	uint64_t limit = bdev->max_write_zeroes_blocks != 0 ? bdev->max_write_zeroes_blocks :
							     max_ws_blocks(cmd->lu);
	uint64_t n = VHD_MIN(cmd->nblocks, limit);
	uint64_t lba = cmd->lba;

	if (cmd->nblocks == 0) {
		return chunks_done(cmd);
	}
	cmd->lba += n;
	cmd->nblocks -= n;
	return submit(cmd, VHD_IO_WRITE_ZEROES, cmd->io.flags & VHD_IO_F_UNMAP, lba, n, NULL, 0);
}

static int
ws_pattern_step(struct scsi_cmd *cmd)
{
	unsigned int per_block = cmd->pattern_cnt / cmd->pattern_blocks;
	uint64_t n = VHD_MIN(cmd->nblocks, (uint64_t)cmd->pattern_blocks);
	uint64_t lba = cmd->lba;
	struct iovec *pat = cmd->pattern_cnt <= SCSI_WS_IOV ? cmd->pattern : cmd->iov;

	if (cmd->nblocks == 0) {
		return chunks_done(cmd);
	}
	cmd->lba += n;
	cmd->nblocks -= n;
	return submit(cmd, VHD_IO_WRITE, cmd->io.flags & VHD_IO_F_FUA, lba, n, pat,
		      (unsigned int)n * per_block);
}

/* Describe one block of pattern data (k iovecs) repeated as often as pattern[] allows. */
static void
set_pattern(struct scsi_cmd *cmd, struct iovec *block, unsigned int k)
{
	unsigned int reps;

	if (k > SCSI_WS_IOV) {
		/* A block in more pieces than pattern[] holds: write it once per I/O, in place. */
		cmd->pattern_cnt = k;
		cmd->pattern_blocks = 1;
		return;
	}
	reps = SCSI_WS_IOV / k;
	for (unsigned int r = 0; r < reps; r++) {
		memcpy(&cmd->pattern[r * k], block, k * sizeof(*block));
	}
	cmd->pattern_cnt = reps * k;
	cmd->pattern_blocks = reps;
}

static int
cmd_write_same(struct scsi_cmd *cmd)
{
	const uint8_t *c = cmd->cdb;
	struct scsi_lu *lu = cmd->lu;
	struct vhd_bdev *bdev = lu->bdev;
	bool ws16 = c[0] == OP_WRITE_SAME_16;
	uint64_t lba = ws16 ? scsi_be64(c + 2) : scsi_be32(c + 2);
	uint32_t n = ws16 ? scsi_be32(c + 10) : scsi_be16(c + 7);
	bool unmap = (c[1] & 0x08) != 0;
	bool ndob = ws16 && (c[1] & 0x01) != 0;
	bool zero;

	/* WRPROTECT needs PI; ANCHOR is not supported (ANC_SUP 0 in VPD B2). */
	if ((c[1] >> 5) != 0 || (c[1] & 0x10) != 0) {
		return -EINVAL;
	}
	if (lu->readonly) {
		return -EROFS;
	}
	/* WSNZ is set in VPD B0: zero blocks is an error, not "to the end of the medium". */
	if (n == 0 || n > max_ws_blocks(lu)) {
		return -EINVAL;
	}
	if (!range_ok(lu, lba, n)) {
		return -ERANGE;
	}
	if (!ndob && !have_data(cmd, SCSI_DIR_TO_DEV, bdev->block_size)) {
		return 0;
	}
	if (!ndob) {
		iov_keep(cmd->iov, &cmd->iovcnt, bdev->block_size);
	}
	zero = ndob || iov_is_zero(cmd->iov, cmd->iovcnt, bdev->block_size);
	cmd->op = zero ? VHD_STAT_WRITE_ZEROES : VHD_STAT_WRITE;
	cmd->lba = lba;
	cmd->nblocks = n;
	cmd->io.flags = write_flags(cmd, false);
	/* Unmapped blocks read back as zeroes (LBPRZ), so UNMAP may only deallocate when the
	 * data is zeroes; otherwise the pattern is written (SBC-3 5.42). */
	if (zero && bdev->has_write_zeroes) {
		cmd->io.flags = unmap ? VHD_IO_F_UNMAP : 0;
		cmd->flush_after = write_through(lu);
		cmd->step = ws_zeroes_step;
		return ws_zeroes_step(cmd);
	}
	if (zero) {
		struct iovec z = {g_zero_block, bdev->block_size};

		set_pattern(cmd, &z, 1);
	} else {
		set_pattern(cmd, cmd->iov, cmd->iovcnt);
	}
	cmd->step = ws_pattern_step;
	return ws_pattern_step(cmd);
}

static int
unmap_step(struct scsi_cmd *cmd)
{
	uint64_t limit = cmd->lu->bdev->max_discard_blocks != 0 ?
				 cmd->lu->bdev->max_discard_blocks :
				 max_ws_blocks(cmd->lu);

	while (cmd->nblocks == 0 && cmd->desc_idx < cmd->ndesc) {
		cmd->lba = cmd->desc[cmd->desc_idx].lba;
		cmd->nblocks = cmd->desc[cmd->desc_idx].nblocks;
		cmd->desc_idx++;
	}
	if (cmd->nblocks == 0) {
		return 0;
	}
	uint64_t n = VHD_MIN(cmd->nblocks, limit);
	uint64_t lba = cmd->lba;

	cmd->lba += n;
	cmd->nblocks -= n;
	return submit(cmd, VHD_IO_DISCARD, 0, lba, n, NULL, 0);
}

static int
cmd_unmap(struct scsi_cmd *cmd)
{
	const uint8_t *c = cmd->cdb;
	struct scsi_lu *lu = cmd->lu;
	uint8_t buf[8 + 16 * SCSI_UNMAP_MAX_DESC];
	uint32_t len = scsi_be16(c + 7);
	uint32_t desc_bytes, ndesc;
	uint64_t total = 0;

	if (!lu->bdev->has_discard) {
		return -ENOSYS; /* LBPU is 0 in VPD B2 */
	}
	if ((c[1] & 0x01) != 0) {
		return -EINVAL; /* ANCHOR */
	}
	if (lu->readonly) {
		return -EROFS;
	}
	if (len == 0) {
		return 0;
	}
	if (len < 8) {
		return -EMSGSIZE;
	}
	if (!have_data(cmd, SCSI_DIR_TO_DEV, len)) {
		return 0;
	}
	vhd_iov_to_buf(cmd->iov, cmd->iovcnt, 0, buf, VHD_MIN((size_t)len, sizeof(buf)));
	/* Descriptors are what both the block descriptor data length and the list hold. */
	desc_bytes = VHD_MIN((uint32_t)scsi_be16(buf + 2), len - 8);
	ndesc = desc_bytes / 16;
	if (ndesc > SCSI_UNMAP_MAX_DESC) {
		return -EBADMSG;
	}
	cmd->op = VHD_STAT_DISCARD;
	for (uint32_t i = 0; i < ndesc; i++) {
		const uint8_t *d = buf + 8 + 16 * i;
		uint64_t lba = scsi_be64(d);
		uint32_t n = scsi_be32(d + 8);

		if (!range_ok(lu, lba, n)) {
			return -ERANGE;
		}
		total += n;
		cmd->desc[i].lba = lba;
		cmd->desc[i].nblocks = n;
	}
	if (total > max_ws_blocks(lu)) {
		return -EBADMSG; /* more than MAXIMUM UNMAP LBA COUNT */
	}
	cmd->ndesc = (uint8_t)ndesc;
	cmd->desc_idx = 0;
	cmd->nblocks = 0;
	cmd->step = unmap_step;
	return unmap_step(cmd);
}

/* ---- READ CAPACITY ---- */

static int
cmd_read_capacity_10(struct scsi_cmd *cmd)
{
	const uint8_t *c = cmd->cdb;
	uint64_t num = lu_blocks(cmd->lu);
	uint8_t b[8];

	/* PMI 0 with a non-zero LBA is an invalid field (SBC-3 5.16). */
	if ((c[8] & 0x01) == 0 && scsi_be32(c + 2) != 0) {
		return -EINVAL;
	}
	/* Over 2^32 blocks: FFFFFFFFh sends the initiator to READ CAPACITY (16). */
	scsi_put_be32(b, num > 0xffffffffull ? 0xffffffffu : (uint32_t)(num - (num != 0)));
	scsi_put_be32(b + 4, cmd->lu->bdev->block_size);
	return send_data(cmd, b, sizeof(b), sizeof(b));
}

static int
cmd_read_capacity_16(struct scsi_cmd *cmd)
{
	struct scsi_lu *lu = cmd->lu;
	uint64_t num = lu_blocks(lu);
	uint8_t b[32];

	memset(b, 0, sizeof(b));
	scsi_put_be64(b, num - (num != 0));
	scsi_put_be32(b + 8, lu->bdev->block_size);
	b[13] = (uint8_t)(lu->bdev->phys_block_exp & 0x0f);
	if (lu_provisioning(lu)) {
		b[14] = 0x80 | 0x40; /* LBPME, LBPRZ: unmapped blocks read as zeroes */
	}
	return send_data(cmd, b, sizeof(b), scsi_be32(cmd->cdb + 10));
}

/* ---- INQUIRY ---- */

static uint8_t
peripheral(const struct scsi_cmd *cmd)
{
	if (cmd->wlun) {
		return 0x1e; /* well known logical unit */
	}
	/* Qualifier 3, type 1Fh: no LU can be here (SPC-4 6.4.2). */
	return cmd->lu != NULL ? 0x00 : 0x7f;
}

/* "0.1" from VHD_VERSION "0.1.0": major.minor, space padded to 4 bytes. */
static void
product_revision(uint8_t *out)
{
	const char *v = VHD_VERSION;
	int dots = 0;

	memset(out, ' ', 4);
	for (int i = 0; i < 4 && v[i] != '\0'; i++) {
		if (v[i] == '.' && ++dots == 2) {
			break;
		}
		out[i] = (uint8_t)v[i];
	}
}

static size_t
std_inquiry(const struct scsi_cmd *cmd, uint8_t *b)
{
	memset(b, 0, STD_INQUIRY_LEN);
	b[0] = peripheral(cmd);
	b[2] = 0x06;                 /* SPC-4 */
	b[3] = 0x12;                 /* HISUP, response data format 2 */
	b[4] = STD_INQUIRY_LEN - 5;
	b[7] = 0x02;                 /* CMDQUE: Linux queues more than one command only then */
	memcpy(b + 8, "VHOSTD  ", 8);
	memcpy(b + 16, "Virtual disk    ", 16);
	product_revision(b + 32);
	scsi_put_be16(b + 58, 0x00a0); /* SAM-5 */
	scsi_put_be16(b + 60, 0x0460); /* SPC-4 */
	scsi_put_be16(b + 62, 0x04c0); /* SBC-3 */
	return STD_INQUIRY_LEN;
}

static size_t
vpd_designators(const struct scsi_lu *lu, uint8_t *b)
{
	size_t slen = strlen(lu->serial);
	size_t o = 0;

	/* T10 vendor ID based: vendor identification, then the serial number (ASCII). */
	b[o++] = 0x02;
	b[o++] = 0x01;
	b[o++] = 0;
	b[o++] = (uint8_t)(8 + slen);
	memcpy(b + o, "VHOSTD  ", 8);
	memcpy(b + o + 8, lu->serial, slen);
	o += 8 + slen;
	/* NAA locally assigned (the WWN Linux shows as naa.3...). */
	b[o++] = 0x01;
	b[o++] = 0x03;
	b[o++] = 0;
	b[o++] = 8;
	scsi_put_be64(b + o, lu->naa);
	o += 8;
	/* Relative target port 1 (association: target port). */
	b[o++] = 0x01;
	b[o++] = 0x14;
	b[o++] = 0;
	b[o++] = 4;
	scsi_put_be32(b + o, 1);
	o += 4;
	return o;
}

/* \return the page length, or -EINVAL for a page we do not have. */
static int
vpd_page(const struct scsi_cmd *cmd, uint8_t page, uint8_t *b)
{
	static const uint8_t pages[] = {0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2};
	const struct scsi_lu *lu = cmd->lu;
	size_t len;

	memset(b, 0, 256);
	b[0] = peripheral(cmd);
	b[1] = page;
	if (lu == NULL) {
		/* Nothing to describe at this address but the list of pages itself. */
		if (page != 0x00) {
			return -EINVAL;
		}
		b[3] = 1;
		return 5;
	}
	switch (page) {
	case 0x00:
		memcpy(b + 4, pages, sizeof(pages));
		len = sizeof(pages);
		break;
	case 0x80:
		len = strlen(lu->serial);
		memcpy(b + 4, lu->serial, len);
		break;
	case 0x83:
		len = vpd_designators(lu, b + 4);
		break;
	case 0xb0: {
		uint32_t bs = lu->bdev->block_size;
		uint64_t opt = (uint64_t)lu->bdev->opt_io_blocks * bs;

		len = 0x3c;
		b[4] = 0x01; /* WSNZ */
		scsi_put_be16(b + 6, (uint16_t)(1u << lu->bdev->phys_block_exp));
		scsi_put_be32(b + 8, max_xfer_blocks(lu));
		/* Linux warns about an optimal size below a page; report none then. */
		if (opt >= 4096 && opt <= SCSI_MAX_XFER_BYTES) {
			scsi_put_be32(b + 12, lu->bdev->opt_io_blocks);
		}
		if (lu_provisioning(lu)) {
			scsi_put_be32(b + 20, (uint32_t)max_ws_blocks(lu));
			scsi_put_be32(b + 24, SCSI_UNMAP_MAX_DESC);
			scsi_put_be32(b + 28, 1u << lu->bdev->phys_block_exp);
		}
		if (!lu->readonly) {
			scsi_put_be64(b + 36, max_ws_blocks(lu));
		}
		break;
	}
	case 0xb1:
		len = 0x3c;
		scsi_put_be16(b + 4, 0x0001); /* medium rotation rate: non-rotating */
		break;
	case 0xb2:
		len = 4;
		if (lu_provisioning(lu)) {
			b[5] = 0x80 | 0x40 | 0x20 | 0x04; /* LBPU, LBPWS, LBPWS10, LBPRZ */
			b[6] = 0x02;                      /* thin provisioned */
		}
		break;
	default:
		return -EINVAL;
	}
	scsi_put_be16(b + 2, (uint16_t)len);
	return (int)len + 4;
}

static int
cmd_inquiry(struct scsi_cmd *cmd)
{
	const uint8_t *c = cmd->cdb;
	uint8_t b[256];
	int len;

	/* CMDDT (obsolete) is not supported; a page code needs EVPD. */
	if ((c[1] & 0x02) != 0 || ((c[1] & 0x01) == 0 && c[2] != 0)) {
		return -EINVAL;
	}
	if ((c[1] & 0x01) == 0) {
		len = (int)std_inquiry(cmd, b);
	} else {
		len = vpd_page(cmd, c[2], b);
		if (len < 0) {
			return len;
		}
	}
	return send_data(cmd, b, (size_t)len, scsi_be16(c + 3));
}

/* ---- REQUEST SENSE ---- */

static int
cmd_request_sense(struct scsi_cmd *cmd)
{
	uint8_t b[SCSI_SENSE_LEN];
	uint8_t asc, ascq;

	if ((cmd->cdb[1] & 0x01) != 0) {
		return -EINVAL; /* descriptor format is not supported */
	}
	if (cmd->lu == NULL && !cmd->wlun) {
		/* SPC-4 6.29: GOOD status, sense data LOGICAL UNIT NOT SUPPORTED. */
		vhd_scsi_sense_build(b, SCSI_KEY_ILLEGAL_REQUEST, 0x25, 0x00);
	} else if (cmd->lu != NULL && vhd_scsi_ua_take(cmd->lu, &asc, &ascq)) {
		vhd_scsi_sense_build(b, SCSI_KEY_UNIT_ATTENTION, asc, ascq);
	} else {
		vhd_scsi_sense_build(b, SCSI_KEY_NO_SENSE, 0, 0);
	}
	return send_data(cmd, b, sizeof(b), cmd->cdb[4]);
}

/* ---- MODE SENSE / MODE SELECT ---- */

enum { PC_CURRENT, PC_CHANGEABLE, PC_DEFAULT, PC_SAVED };

#define CACHING_PAGE_LEN 20
#define CONTROL_PAGE_LEN 12

static size_t
caching_page(const struct scsi_lu *lu, int pc, uint8_t *b)
{
	bool wce = pc == PC_CURRENT ? lu->wce : pc == PC_CHANGEABLE ? true :
								  lu->bdev->volatile_cache;

	memset(b, 0, CACHING_PAGE_LEN);
	b[0] = 0x08;
	b[1] = CACHING_PAGE_LEN - 2;
	b[2] = wce ? 0x04 : 0;
	return CACHING_PAGE_LEN;
}

static size_t
control_page(int pc, uint8_t *b)
{
	memset(b, 0, CONTROL_PAGE_LEN);
	b[0] = 0x0a;
	b[1] = CONTROL_PAGE_LEN - 2;
	if (pc != PC_CHANGEABLE) {
		b[2] = 0x02;             /* GLTSD: no log parameters are saved */
		b[3] = 0x10;             /* queue algorithm modifier 1: unrestricted reordering */
		scsi_put_be16(b + 8, 0xffff); /* busy timeout: unlimited */
	}
	return CONTROL_PAGE_LEN;
}

static int
cmd_mode_sense(struct scsi_cmd *cmd)
{
	const uint8_t *c = cmd->cdb;
	struct scsi_lu *lu = cmd->lu;
	bool ten = c[0] == OP_MODE_SENSE_10;
	bool dbd = (c[1] & 0x08) != 0;
	bool llba = ten && (c[1] & 0x10) != 0;
	int pc = c[2] >> 6;
	uint8_t page = c[2] & 0x3f;
	uint8_t sub = c[3];
	uint64_t num = lu_blocks(lu);
	size_t hdr = ten ? 8 : 4;
	size_t o = hdr, bdlen = 0;
	uint8_t b[128];

	if (pc == PC_SAVED) {
		return -EPERM;
	}
	if (sub != 0 && sub != 0xff) {
		return -EINVAL;
	}
	if (page != 0x08 && page != 0x0a && page != 0x3f) {
		return -EINVAL;
	}
	memset(b, 0, sizeof(b));
	if (!dbd) {
		bdlen = llba ? 16 : 8;
		if (llba) {
			scsi_put_be64(b + o, num);
			scsi_put_be32(b + o + 12, lu->bdev->block_size);
		} else {
			scsi_put_be32(b + o, num > 0xffffffffull ? 0xffffffffu : (uint32_t)num);
			scsi_put_be32(b + o + 4, lu->bdev->block_size & 0xffffff);
		}
		o += bdlen;
	}
	if (page == 0x08 || page == 0x3f) {
		o += caching_page(lu, pc, b + o);
	}
	if (page == 0x0a || page == 0x3f) {
		o += control_page(pc, b + o);
	}
	/* Device-specific parameter: WP for a read-only LU, DPOFUA (FUA is honoured). */
	if (ten) {
		scsi_put_be16(b, (uint16_t)(o - 2));
		b[3] = (lu->readonly ? 0x80 : 0) | 0x10;
		b[4] = llba && !dbd ? 0x01 : 0;
		scsi_put_be16(b + 6, (uint16_t)bdlen);
	} else {
		b[0] = (uint8_t)(o - 1);
		b[2] = (lu->readonly ? 0x80 : 0) | 0x10;
		b[3] = (uint8_t)bdlen;
	}
	return send_data(cmd, b, o, ten ? scsi_be16(c + 7) : c[4]);
}

/* Check one page of a MODE SELECT list; *wce receives the caching page's WCE. */
static int
select_page(const struct scsi_lu *lu, const uint8_t *p, size_t len, bool *wce)
{
	uint8_t cur[CACHING_PAGE_LEN];
	size_t clen;

	if (p[0] & 0x40) {
		return -EBADMSG; /* subpage format: we have none */
	}
	switch (p[0] & 0x3f) {
	case 0x08:
		clen = caching_page(lu, PC_CURRENT, cur);
		break;
	case 0x0a:
		clen = control_page(PC_CURRENT, cur);
		break;
	default:
		return -EBADMSG;
	}
	if (len != clen || p[1] != cur[1]) {
		return -EBADMSG;
	}
	/* Only WCE is changeable; every other field must keep its current value (SPC-4 6.11). */
	for (size_t i = 2; i < clen; i++) {
		uint8_t mask = (cur[0] == 0x08 && i == 2) ? (uint8_t)~0x04 : 0xff;

		if ((p[i] & mask) != (cur[i] & mask)) {
			return -EBADMSG;
		}
	}
	if (cur[0] == 0x08) {
		*wce = (p[2] & 0x04) != 0;
	}
	return 0;
}

static int
cmd_mode_select(struct scsi_cmd *cmd)
{
	const uint8_t *c = cmd->cdb;
	struct scsi_lu *lu = cmd->lu;
	bool ten = c[0] == OP_MODE_SELECT_10;
	uint32_t len = ten ? scsi_be16(c + 7) : c[4];
	size_t hdr = ten ? 8 : 4;
	size_t bdlen, o;
	bool wce = lu->wce;
	uint8_t b[256];

	/* SP: nothing can be saved. PF 0 (vendor page format) is not ours. */
	if ((c[1] & 0x01) != 0 || ((c[1] & 0x10) == 0 && len > 0)) {
		return -EINVAL;
	}
	if (len == 0) {
		return 0;
	}
	if (len > sizeof(b) || len < hdr) {
		return -EMSGSIZE;
	}
	if (!have_data(cmd, SCSI_DIR_TO_DEV, len)) {
		return 0;
	}
	vhd_iov_to_buf(cmd->iov, cmd->iovcnt, 0, b, len);
	bdlen = ten ? scsi_be16(b + 6) : b[3];
	if (hdr + bdlen > len) {
		return -EMSGSIZE;
	}
	/* Block descriptors may restate the block length; they cannot change it. */
	for (o = hdr; o < hdr + bdlen;) {
		size_t dlen = ten && (b[4] & 0x01) ? 16 : 8;
		uint32_t blen;

		if (o + dlen > hdr + bdlen) {
			return -EMSGSIZE;
		}
		blen = dlen == 16 ? scsi_be32(b + o + 12) : scsi_be32(b + o + 4) & 0xffffff;
		if (blen != 0 && blen != lu->bdev->block_size) {
			return -EBADMSG;
		}
		o += dlen;
	}
	/* Validate every page before applying any, so a bad list changes nothing. */
	while (o < len) {
		size_t plen;
		int rc;

		if (len - o < 2) {
			return -EMSGSIZE;
		}
		plen = (size_t)b[o + 1] + 2;
		if (o + plen > len) {
			return -EMSGSIZE;
		}
		rc = select_page(lu, b + o, plen, &wce);
		if (rc != 0) {
			return rc;
		}
		o += plen;
	}
	if (wce != lu->wce) {
		lu->wce = wce;
		VHD_INFOLOG("%s: LUN %u:%u: guest switched the write cache to %s", lu->ctrlr,
			    lu->target, lu->lun, wce ? "write-back" : "write-through");
	}
	return 0;
}

/* ---- REPORT LUNS ---- */

static void
lun_entry(uint8_t *e, uint32_t lun)
{
	memset(e, 0, 8);
	if (lun < 256) {
		e[1] = (uint8_t)lun;              /* peripheral device addressing */
	} else {
		e[0] = (uint8_t)(0x40 | lun >> 8); /* flat space addressing */
		e[1] = (uint8_t)lun;
	}
}

static int
cmd_report_luns(struct scsi_cmd *cmd)
{
	const uint8_t *c = cmd->cdb;
	struct scsi_target *t = cmd->target;
	uint32_t alloc = scsi_be32(c + 6);
	uint8_t select = c[2];
	bool normal = select == 0x00 || select == 0x02;
	bool wlun = select == 0x01 || select == 0x02;
	uint64_t total, n, o = 0;
	uint8_t b[512];
	size_t fill;

	if (select > 0x02) {
		return -EINVAL;
	}
	if (alloc < 16) {
		return -EINVAL; /* SPC-4 6.33 */
	}
	total = 8 + 8ull * ((normal ? t->nluns : 0) + (wlun ? 1 : 0));
	n = VHD_MIN(total, (uint64_t)alloc);
	if (!have_data(cmd, SCSI_DIR_FROM_DEV, n)) {
		return 0;
	}
	/* Entries go out through a small buffer: a target may have 16384 LUNs. */
	memset(b, 0, 8);
	scsi_put_be32(b, (uint32_t)(total - 8));
	fill = 8;
	for (uint32_t lun = 0; normal && lun < VHD_SCSI_MAX_LUNS; lun++) {
		struct scsi_lu *lu = scsi_target_lu(t, lun);

		if (lu == NULL) {
			if (t->pages[lun / SCSI_LUN_PAGE_SIZE] == NULL) {
				lun |= SCSI_LUN_PAGE_SIZE - 1; /* skip an empty page */
			}
			continue;
		}
		/* This report is what a 3F/0E unit attention asks the initiator to read. */
		lu->ua &= ~SCSI_UA_LUNS_CHANGED;
		if (fill == sizeof(b)) {
			o += vhd_iov_from_buf(cmd->iov, cmd->iovcnt, (size_t)o, b,
					      (size_t)VHD_MIN((uint64_t)fill, n - o));
			fill = 0;
		}
		lun_entry(b + fill, lun);
		fill += 8;
	}
	if (wlun) {
		if (fill == sizeof(b)) {
			o += vhd_iov_from_buf(cmd->iov, cmd->iovcnt, (size_t)o, b,
					      (size_t)VHD_MIN((uint64_t)fill, n - o));
			fill = 0;
		}
		memset(b + fill, 0, 8);
		b[fill] = 0xc1;     /* well known LU addressing: REPORT LUNS W-LUN */
		b[fill + 1] = 0x01;
		fill += 8;
	}
	if (o < n) {
		o += vhd_iov_from_buf(cmd->iov, cmd->iovcnt, (size_t)o, b,
				      (size_t)VHD_MIN((uint64_t)fill, n - o));
	}
	cmd->xfer = o;
	return 0;
}

/* ---- REPORT SUPPORTED OPERATION CODES ---- */

static size_t
timeouts_desc(uint8_t *b)
{
	memset(b, 0, 12);
	scsi_put_be16(b, 0x0a); /* no timeouts to recommend */
	return 12;
}

static int
cmd_report_opcodes(struct scsi_cmd *cmd)
{
	const uint8_t *c = cmd->cdb;
	bool rctd = (c[2] & 0x80) != 0;
	uint8_t opt = c[2] & 0x07;
	uint8_t req_op = c[3];
	uint16_t req_sa = scsi_be16(c + 4);
	const struct op_desc *d = NULL;
	uint8_t b[4 + VHD_ARRAY_SIZE(g_ops) * 20];
	size_t o = 0;

	switch (opt) {
	case 0:
		o = 4;
		for (size_t i = 0; i < VHD_ARRAY_SIZE(g_ops); i++) {
			d = &g_ops[i];
			memset(b + o, 0, 8);
			b[o] = d->opcode;
			scsi_put_be16(b + o + 2, d->has_sa ? d->sa : 0);
			b[o + 5] = (rctd ? 0x02 : 0) | (d->has_sa ? 0x01 : 0);
			scsi_put_be16(b + o + 6, d->cdb_len);
			o += 8;
			if (rctd) {
				o += timeouts_desc(b + o);
			}
		}
		memset(b, 0, 4);
		scsi_put_be32(b, (uint32_t)(o - 4));
		break;
	case 1:
	case 2:
	case 3:
		/* 1: by opcode, which must have no service actions; 2: by opcode and service
		 * action, which it must have; 3: either, as the opcode calls for. */
		if ((opt == 1 && opcode_has_sa(req_op)) || (opt == 2 && !opcode_has_sa(req_op))) {
			return -EINVAL;
		}
		d = find_op(req_op, true, req_sa);
		memset(b, 0, 4);
		if (d == NULL) {
			b[1] = 0x01; /* not supported */
			o = 4;
			break;
		}
		b[1] = (rctd ? 0x80 : 0) | 0x03; /* supported, conforming to the standard */
		scsi_put_be16(b + 2, d->cdb_len);
		memcpy(b + 4, d->usage, d->cdb_len);
		o = 4 + d->cdb_len;
		if (rctd) {
			o += timeouts_desc(b + o);
		}
		break;
	default:
		return -EINVAL;
	}
	return send_data(cmd, b, o, scsi_be32(c + 6));
}

/* ---- dispatch ---- */

/* Commands a well-known LU or an empty LUN address answers (SPC-4 8.2, 4.6.x). */
static bool
no_lu_command(uint8_t opcode, bool wlun)
{
	return opcode == OP_INQUIRY || opcode == OP_REPORT_LUNS || opcode == OP_REQUEST_SENSE ||
	       (wlun && opcode == OP_TEST_UNIT_READY);
}

void
vhd_scsi_cmd_exec(struct scsi_cmd *cmd)
{
	const struct op_desc *d;
	uint8_t opcode = cmd->cdb[0];
	uint8_t asc, ascq;
	int rc;

	cmd->response = VIRTIO_SCSI_S_OK;
	cmd->status = SCSI_STATUS_GOOD;
	cmd->sense_len = 0;
	cmd->xfer = 0;
	cmd->op = VHD_STAT_OTHER;
	cmd->step = NULL;
	cmd->flush_after = false;

	if (cmd->lu == NULL && !no_lu_command(opcode, cmd->wlun)) {
		finish(cmd, cmd->wlun ? -ENOSYS : -ENXIO);
		return;
	}
	/* A pending unit attention ends any command but the three SPC-4 5.14 exempts. */
	if (cmd->lu != NULL && cmd->lu->ua != 0 && opcode != OP_INQUIRY &&
	    opcode != OP_REPORT_LUNS && opcode != OP_REQUEST_SENSE &&
	    vhd_scsi_ua_take(cmd->lu, &asc, &ascq)) {
		vhd_scsi_cmd_set_sense(cmd, SCSI_KEY_UNIT_ATTENTION, asc, ascq);
		cmd->done(cmd);
		return;
	}
	d = find_op(opcode, false, 0);
	if (d == NULL) {
		rc = -ENOSYS;
	} else if (d->has_sa && find_op(opcode, true, cdb_sa(cmd->cdb)) == NULL) {
		rc = -EINVAL; /* an operation code we have, a service action we do not */
	} else if (cmd->cdb[d->cdb_len - 1] & CONTROL_NACA) {
		rc = -EINVAL; /* NormACA is not supported */
	} else {
		if (d->has_sa) {
			d = find_op(opcode, true, cdb_sa(cmd->cdb));
		}
		rc = d->fn(cmd);
	}
	if (rc != PENDING) {
		finish(cmd, rc);
	}
}

static uint64_t
fnv1a64(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s != '\0'; s++) {
		h ^= (uint8_t)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

void
vhd_scsi_lu_init(struct scsi_lu *lu, const char *ctrlr, uint32_t target, uint32_t lun,
		 struct vhd_bdev *bdev, bool readonly)
{
	memset(lu, 0, sizeof(*lu));
	lu->bdev = bdev;
	lu->ctrlr = ctrlr;
	lu->target = target;
	lu->lun = lun;
	lu->readonly = readonly || bdev->readonly;
	lu->wce = bdev->volatile_cache;
	TAILQ_INIT(&lu->cmds);
	snprintf(lu->serial, sizeof(lu->serial), "%s-t%u-l%u", ctrlr, target, lun);
	/* NAA 3 (locally assigned): 60 bits that only depend on the serial, so stable. */
	lu->naa = 3ull << 60 | (fnv1a64(lu->serial) & ((1ull << 60) - 1));
}
