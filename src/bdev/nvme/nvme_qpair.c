/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * I/O queue pair: the data path (see nvme_internal.h).
 *
 * submit() turns a vhd_bdev_io into one or more commands (MDTS, PRP/SGL limits, NLB 65536,
 * bounce chunks), writes them into the SQ and returns; flush() rings the SQ doorbell once for
 * the whole poll round. poll() consumes completion entries while their phase bit matches the
 * pass over the ring we are on, rings the CQ head doorbell once, resumes split I/Os that ran
 * out of command slots, and every scan interval looks for commands past their deadline.
 *
 * Data pointers: PRPs when the request's segment layout obeys the PRP rules (the normal
 * case: Linux guests hand out page-aligned buffers); otherwise an SGL when the controller has
 * them; otherwise PRPs cut at the offending segment boundaries, and the blocks that straddle
 * such a boundary go through a bounce buffer (copied, never DMAed from where they are).
 * Buffers outside the DMA table are refused (-EFAULT) before anything is sent.
 *
 * Timeouts: a command past io_timeout gets an ABORT; still there abort_timeout later, the
 * controller is reset (by the control thread). After a reset every pair, on its own thread,
 * completes what the reset ended (timed-out commands with -ETIMEDOUT), re-creates its queues
 * and resubmits the other commands once. All-ones CSTS means the device left the bus: every
 * command then fails with -ENODEV, now and later.
 */
#include <inttypes.h>
#include <stdlib.h>

#define VHD_LOG_COMPONENT "nvme"
#include "nvme_internal.h"
#include "vhostd/iov.h"
#include "vhostd/log.h"

enum {
	MODE_PRP,   /* the whole request obeys the PRP rules */
	MODE_SGL,   /* SGLs, bounce only what the SGL alignment rules refuse */
	MODE_MIXED, /* PRPs where possible, bounce the rest */
};

/* Admin commands sent from an lcore (queue creation, deletion, re-creation after a reset)
 * give up sooner than the control path's: a wedged controller must not stall a worker. */
#define LCORE_ADMIN_TIMEOUT_US (3000 * 1000ull)
#define DSM_NLB_MAX 0xffffffffull

static struct nvme_io *
nio(struct vhd_bdev_io *io)
{
	return (struct nvme_io *)io->ctx;
}

static uint64_t
align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

uint16_t
nvme_qpair_id(const struct nvme_qpair *qp)
{
	return qp->qid;
}

unsigned int
nvme_qpair_outstanding(const struct nvme_qpair *qp)
{
	return (unsigned int)(qp->depth - 1 - qp->nfree);
}

/* ---- iovec copies for bounce buffers ---- */

/* ---- doorbells ---- */

/*
 * A doorbell write races with a reset on another thread: set db_busy, then look at the state
 * (seq_cst on both sides, a Dekker handshake). Either the reset sees db_busy and waits for the
 * write to finish, or we see the reset and skip the write.
 */
static bool
doorbell_begin(struct nvme_qpair *qp)
{
	struct nvme_ctrlr *c = qp->ctrlr;

	__atomic_store_n(&qp->db_busy, 1, __ATOMIC_SEQ_CST);
	if (vhd_likely(__atomic_load_n(&c->state, __ATOMIC_SEQ_CST) == NVME_CTRLR_READY &&
		       __atomic_load_n(&c->epoch, __ATOMIC_ACQUIRE) == qp->epoch)) {
		return true;
	}
	__atomic_store_n(&qp->db_busy, 0, __ATOMIC_RELEASE);
	return false;
}

static void
doorbell_end(struct nvme_qpair *qp)
{
	__atomic_store_n(&qp->db_busy, 0, __ATOMIC_RELEASE);
}

void
nvme_qpair_wait_doorbell_idle(struct nvme_qpair *qp)
{
	while (__atomic_load_n(&qp->db_busy, __ATOMIC_SEQ_CST) != 0) {
		__builtin_ia32_pause();
	}
}

void
nvme_qpair_flush(struct nvme_qpair *qp)
{
	if (qp->sq_tail == qp->sq_db_tail) {
		return;
	}
	if (doorbell_begin(qp)) {
		*qp->sq_db = qp->sq_tail;
		qp->sq_db_tail = qp->sq_tail;
		doorbell_end(qp);
	}
}

/* ---- slots ---- */

static struct nvme_slot *
slot_get(struct nvme_qpair *qp)
{
	return &qp->slots[qp->free_cids[qp->nfree - 1]];
}

static void
slot_push_sq(struct nvme_qpair *qp, struct nvme_slot *slot)
{
	qp->sq[qp->sq_tail] = slot->cmd;
	qp->sq_tail = (uint16_t)(qp->sq_tail + 1 == qp->depth ? 0 : qp->sq_tail + 1);
	slot->state = NVME_SLOT_ACTIVE;
	slot->deadline_us = qp->now_us + qp->ctrlr->io_timeout_us;
}

/* Commit the command built in the top free slot. */
static void
slot_commit(struct nvme_qpair *qp, struct vhd_bdev_io *io)
{
	uint16_t cid = qp->free_cids[--qp->nfree];
	struct nvme_slot *slot = &qp->slots[cid];

	slot->io = io;
	slot->retries = 0;
	slot->cmd.cid = cid;
	slot_push_sq(qp, slot);
	nio(io)->outstanding++;
	qp->ncmds++;
}

static void
bounce_put(struct nvme_qpair *qp, struct nvme_slot *slot)
{
	if (slot->bounce >= 0) {
		qp->bounce_free[qp->nbounce_free++] = (uint16_t)slot->bounce;
		slot->bounce = -1;
	}
}

/*
 * A command finished (err 0 or -errno). Completes the I/O when it was its last command and
 * nothing more is to be sent. \return 1 when an I/O completed.
 */
static int
slot_done(struct nvme_qpair *qp, struct nvme_slot *slot, int err)
{
	struct vhd_bdev_io *io = slot->io;
	struct nvme_io *x = nio(io);
	uint16_t cid = (uint16_t)(slot - qp->slots);

	if (slot->bounce >= 0 && err == 0 && io->type == VHD_IO_READ) {
		vhd_iov_from_buf(io->iov, (unsigned int)io->iovcnt, slot->io_off,
				 qp->bounce + (size_t)slot->bounce * NVME_BOUNCE_SIZE, slot->len);
	}
	bounce_put(qp, slot);
	slot->state = NVME_SLOT_FREE;
	slot->io = NULL;
	qp->free_cids[qp->nfree++] = cid;
	if (err != 0 && x->status == 0) {
		x->status = err;
	}
	x->outstanding--;
	if (x->outstanding == 0 && x->issued_all && !x->waiting) {
		qp->complete(io, x->status);
		return 1;
	}
	return 0;
}

/* ---- building commands ---- */

static void
cmd_init(struct nvme_qpair *qp, struct nvme_cmd *cmd, uint8_t opc)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->opc = opc;
	cmd->nsid = qp->ns.nsid;
}

static void
cmd_set_dptr(struct nvme_cmd *cmd, const struct nvme_dptr *dp)
{
	if (dp->sgl) {
		cmd->flags = NVME_CMD_PSDT_SGL;
		cmd->dptr.sgl1 = dp->sgl1;
	} else {
		cmd->flags = NVME_CMD_PSDT_PRP;
		cmd->dptr.prp.prp1 = dp->prp1;
		cmd->dptr.prp.prp2 = dp->prp2;
	}
}

static void
cmd_set_lba(struct nvme_cmd *cmd, uint64_t slba, uint32_t nlb)
{
	cmd->cdw10 = (uint32_t)slba;
	cmd->cdw11 = (uint32_t)(slba >> 32);
	cmd->cdw12 = nlb - 1;
}

/*
 * Build the next READ/WRITE command of io into `slot`. \return bytes it covers, -EAGAIN (no
 * bounce buffer free now) or -errno.
 */
static int64_t
build_rw(struct nvme_qpair *qp, struct vhd_bdev_io *io, struct nvme_slot *slot)
{
	struct nvme_ctrlr *c = qp->ctrlr;
	struct nvme_io *x = nio(io);
	struct nvme_sg_cursor cur = {io->iov, io->iovcnt, x->idx, x->off};
	uint64_t max = VHD_MIN((uint64_t)c->max_xfer, io->length - x->done);
	struct nvme_dptr dp;
	int64_t len = 0;

	slot->bounce = -1;
	if (x->mode == MODE_SGL) {
		len = nvme_build_sgl(&cur, c->dma, &qp->hint, max, qp->ns.block_size, c->sgls, &dp,
				     slot->list, slot->list_iova);
	} else {
		len = nvme_build_prp(&cur, c->dma, &qp->hint, max, qp->ns.block_size, &dp,
				     slot->list, slot->list_iova);
	}
	if (len < 0) {
		return len;
	}
	if (len == 0) {
		/* The next block cannot be described in place: copy it through a bounce
		 * buffer, together with whatever follows up to the buffer size. */
		uint8_t *buf;
		uint64_t biova;

		if (qp->nbounce_free == 0) {
			return -EAGAIN;
		}
		len = (int64_t)VHD_MIN(max, (uint64_t)NVME_BOUNCE_SIZE);
		slot->bounce = (int16_t)qp->bounce_free[--qp->nbounce_free];
		buf = qp->bounce + (size_t)slot->bounce * NVME_BOUNCE_SIZE;
		biova = qp->bounce_iova + (uint64_t)slot->bounce * NVME_BOUNCE_SIZE;
		if (io->type == VHD_IO_WRITE) {
			vhd_iov_to_buf(io->iov, (unsigned int)io->iovcnt, x->done, buf,
				       (size_t)len);
		}
		nvme_prp_contig(biova, (uint64_t)len, &dp, slot->list, slot->list_iova);
		nvme_sg_advance(&cur, (uint64_t)len);
		qp->nbounced++;
	}
	cmd_init(qp, &slot->cmd, io->type == VHD_IO_READ ? NVME_OPC_READ : NVME_OPC_WRITE);
	cmd_set_dptr(&slot->cmd, &dp);
	cmd_set_lba(&slot->cmd, (io->offset + x->done) >> qp->ns.lba_shift,
		    (uint32_t)((uint64_t)len >> qp->ns.lba_shift));
	if (io->type == VHD_IO_WRITE && (io->flags & VHD_IO_F_FUA)) {
		slot->cmd.cdw12 |= NVME_RW_FUA;
	}
	slot->io_off = x->done;
	slot->len = (uint32_t)len;
	x->idx = cur.idx;
	x->off = cur.off;
	return len;
}

/* WRITE ZEROES, or a WRITE whose every PRP entry is the zero page when the controller has no
 * WRITE ZEROES. */
static int64_t
build_write_zeroes(struct nvme_qpair *qp, struct vhd_bdev_io *io, struct nvme_slot *slot)
{
	struct nvme_ctrlr *c = qp->ctrlr;
	struct nvme_io *x = nio(io);
	uint64_t left = io->length - x->done;
	uint64_t len;

	slot->bounce = -1;
	if (c->oncs & NVME_ONCS_WRITE_ZEROES) {
		len = VHD_MIN(left, (uint64_t)NVME_MAX_NLB << qp->ns.lba_shift);
		cmd_init(qp, &slot->cmd, NVME_OPC_WRITE_ZEROES);
		cmd_set_lba(&slot->cmd, (io->offset + x->done) >> qp->ns.lba_shift,
			    (uint32_t)(len >> qp->ns.lba_shift));
		if (io->flags & VHD_IO_F_UNMAP) {
			slot->cmd.cdw12 |= NVME_WZ_DEAC;
		}
	} else {
		uint64_t *list = slot->list;
		uint64_t pages;
		struct nvme_dptr dp = {0};

		len = VHD_MIN(left, (uint64_t)VHD_MIN(c->max_xfer, NVME_PAGE_SIZE *
								     (NVME_PRP_LIST_ENTRIES + 1)));
		pages = (len + NVME_PAGE_SIZE - 1) / NVME_PAGE_SIZE;
		for (uint64_t i = 0; i + 1 < pages; i++) {
			list[i] = c->zero_iova;
		}
		dp.prp1 = c->zero_iova;
		dp.prp2 = pages == 1 ? 0 : pages == 2 ? c->zero_iova : slot->list_iova;
		cmd_init(qp, &slot->cmd, NVME_OPC_WRITE);
		cmd_set_dptr(&slot->cmd, &dp);
		cmd_set_lba(&slot->cmd, (io->offset + x->done) >> qp->ns.lba_shift,
			    (uint32_t)(len >> qp->ns.lba_shift));
	}
	if (io->flags & VHD_IO_F_FUA) {
		slot->cmd.cdw12 |= NVME_RW_FUA;
	}
	return (int64_t)len;
}

/* DATASET MANAGEMENT with the deallocate attribute: up to 256 ranges per command. */
static int64_t
build_dsm(struct nvme_qpair *qp, struct vhd_bdev_io *io, struct nvme_slot *slot)
{
	struct nvme_dsm_range *r = slot->list;
	struct nvme_io *x = nio(io);
	uint64_t lba = (io->offset + x->done) >> qp->ns.lba_shift;
	uint64_t left = (io->length - x->done) >> qp->ns.lba_shift;
	uint64_t covered = 0;
	uint32_t n = 0;

	slot->bounce = -1;
	while (left > 0 && n < NVME_DSM_MAX_RANGES) {
		uint64_t nlb = VHD_MIN(left, DSM_NLB_MAX);

		r[n].attributes = 0;
		r[n].nlb = (uint32_t)nlb;
		r[n].slba = lba;
		lba += nlb;
		left -= nlb;
		covered += nlb;
		n++;
	}
	cmd_init(qp, &slot->cmd, NVME_OPC_DSM);
	slot->cmd.dptr.prp.prp1 = slot->list_iova;
	slot->cmd.cdw10 = n - 1;
	slot->cmd.cdw11 = NVME_DSM_AD;
	return (int64_t)(covered << qp->ns.lba_shift);
}

/*
 * Send as many commands of io as slots (and bounce buffers) allow.
 * \return 0 when everything is sent (or the I/O failed and nothing more will be sent),
 *         -EAGAIN when it must wait for free slots.
 */
static int
issue(struct nvme_qpair *qp, struct vhd_bdev_io *io)
{
	struct nvme_io *x = nio(io);

	while (!x->issued_all) {
		struct nvme_slot *slot;
		int64_t len;

		if (x->status != 0) {
			x->issued_all = true;
			break;
		}
		if (qp->nfree == 0) {
			return -EAGAIN;
		}
		slot = slot_get(qp);
		switch (io->type) {
		case VHD_IO_READ:
		case VHD_IO_WRITE:
			len = build_rw(qp, io, slot);
			break;
		case VHD_IO_WRITE_ZEROES:
			len = build_write_zeroes(qp, io, slot);
			break;
		case VHD_IO_DISCARD:
			len = build_dsm(qp, io, slot);
			break;
		case VHD_IO_FLUSH:
			slot->bounce = -1;
			cmd_init(qp, &slot->cmd, NVME_OPC_FLUSH);
			len = (int64_t)io->length;
			break;
		default:
			len = -EOPNOTSUPP;
			break;
		}
		if (len == -EAGAIN) {
			return -EAGAIN;
		}
		if (len < 0) {
			x->status = (int)len;
			x->issued_all = true;
			break;
		}
		slot_commit(qp, io);
		x->done += (uint64_t)len;
		if (x->done >= io->length) {
			x->issued_all = true;
		}
	}
	return 0;
}

static void
wait_push(struct nvme_qpair *qp, struct vhd_bdev_io *io)
{
	nio(io)->next = NULL;
	nio(io)->waiting = true;
	if (qp->wait_tail != NULL) {
		nio(qp->wait_tail)->next = io;
	} else {
		qp->wait_head = io;
	}
	qp->wait_tail = io;
}

static int
resume_waiting(struct nvme_qpair *qp)
{
	int n = 0;

	while (qp->wait_head != NULL) {
		struct vhd_bdev_io *io = qp->wait_head;
		struct nvme_io *x = nio(io);

		if (issue(qp, io) == -EAGAIN) {
			break;
		}
		qp->wait_head = x->next;
		if (qp->wait_head == NULL) {
			qp->wait_tail = NULL;
		}
		x->waiting = false;
		if (x->outstanding == 0) {
			qp->complete(io, x->status);
			n++;
		}
	}
	return n;
}

static int
gate(const struct nvme_qpair *qp)
{
	const struct nvme_ctrlr *c = qp->ctrlr;
	int st = nvme_ctrlr_state(c);

	if (vhd_likely(st == NVME_CTRLR_READY &&
		       __atomic_load_n(&c->epoch, __ATOMIC_ACQUIRE) == qp->epoch && !qp->broken)) {
		return 0;
	}
	if (st == NVME_CTRLR_GONE) {
		return -ENODEV;
	}
	if (st == NVME_CTRLR_FAILED || qp->broken) {
		return -EIO;
	}
	return -EAGAIN; /* resetting, or our queues are not re-created yet (poll does it) */
}

int
nvme_qpair_submit(struct nvme_qpair *qp, struct vhd_bdev_io *io)
{
	struct nvme_ctrlr *c = qp->ctrlr;
	struct nvme_io *x = nio(io);
	int rc = gate(qp);

	if (vhd_unlikely(rc != 0)) {
		return rc;
	}
	if (qp->wait_head != NULL || qp->nfree == 0) {
		return -EAGAIN;
	}
	if (qp->nfree == qp->depth - 1) {
		/* Idle pairs are not polled, so the round's clock may be old: deadlines count
		 * from now. */
		qp->now_us = c->env.ops->now_us(c->env.ctx);
	}
	memset(x, 0, sizeof(*x));
	if (io->type != VHD_IO_FLUSH && io->length == 0) {
		return -EINVAL;
	}
	switch (io->type) {
	case VHD_IO_READ:
	case VHD_IO_WRITE: {
		bool prp_ok;

		if (io->type == VHD_IO_WRITE && qp->ns.readonly) {
			return -EROFS;
		}
		rc = nvme_sg_check(io->iov, io->iovcnt, c->dma, &qp->hint, &prp_ok);
		if (vhd_unlikely(rc != 0)) {
			if (!qp->warned_unmapped) {
				VHD_WARNLOG("%s q%u: I/O buffer outside DMA-mapped memory; "
					    "failing it (logged once per queue)", c->name, qp->qid);
				qp->warned_unmapped = true;
			}
			return rc;
		}
		x->mode = prp_ok ? MODE_PRP : c->sgls != NVME_SGLS_NONE ? MODE_SGL : MODE_MIXED;
		x->idx = 0;
		x->off = 0;
		break;
	}
	case VHD_IO_DISCARD:
		if (!(c->oncs & NVME_ONCS_DSM)) {
			return -EOPNOTSUPP;
		}
		/* fall through */
	case VHD_IO_WRITE_ZEROES:
		if (qp->ns.readonly) {
			return -EROFS;
		}
		break;
	case VHD_IO_FLUSH:
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (issue(qp, io) == -EAGAIN) {
		if (x->outstanding == 0) {
			return -EAGAIN; /* nothing sent: the framework parks and retries it */
		}
		wait_push(qp, io);
		return 0;
	}
	if (x->outstanding == 0) {
		/* Failed before anything was sent. */
		return x->status != 0 ? x->status : -EIO;
	}
	return 0;
}

/* ---- completions ---- */

static void
ring_cq(struct nvme_qpair *qp)
{
	if (doorbell_begin(qp)) {
		*qp->cq_db = qp->cq_head;
		doorbell_end(qp);
	}
}

static int
reap(struct nvme_qpair *qp)
{
	struct nvme_ctrlr *c = qp->ctrlr;
	int n = 0, reaped = 0;

	for (;;) {
		volatile struct nvme_cpl *e = &qp->cq[qp->cq_head];
		uint16_t status = e->status, cid;
		struct nvme_slot *slot;
		int err;

		if (NVME_STATUS_PHASE(status) != qp->phase) {
			break;
		}
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		cid = e->cid;
		if (++qp->cq_head == qp->depth) {
			qp->cq_head = 0;
			qp->phase ^= 1;
		}
		reaped++;
		slot = cid < qp->depth ? &qp->slots[cid] : NULL;
		if (vhd_unlikely(slot == NULL || slot->state == NVME_SLOT_FREE ||
				 slot->state == NVME_SLOT_REQUEUE)) {
			VHD_WARNLOG("%s q%u: completion for command id %u that is not in flight",
				    c->name, qp->qid, cid);
			continue;
		}
		err = nvme_status_to_errno(status & 0xfffe);
		if (vhd_unlikely(err != 0)) {
			if (slot->state == NVME_SLOT_ABORTING &&
			    NVME_STATUS_SCT(status) == NVME_SCT_GENERIC &&
			    NVME_STATUS_SC(status) == NVME_SC_ABORT_REQUESTED) {
				err = -ETIMEDOUT;
			} else {
				VHD_DEBUGLOG("%s q%u: opcode 0x%02x lba %" PRIu64 " failed: %s",
					     c->name, qp->qid, slot->cmd.opc,
					     (uint64_t)slot->cmd.cdw10 |
						     ((uint64_t)slot->cmd.cdw11 << 32),
					     nvme_status_str(status));
			}
		}
		n += slot_done(qp, slot, err);
	}
	if (reaped > 0) {
		ring_cq(qp);
	}
	return n;
}

/* Complete every command (and waiting I/O) with err: the controller cannot finish them. */
static int
fail_all(struct nvme_qpair *qp, int err)
{
	int n = 0;

	for (uint16_t cid = 0; cid < qp->depth; cid++) {
		if (qp->slots[cid].state != NVME_SLOT_FREE) {
			n += slot_done(qp, &qp->slots[cid], err);
		}
	}
	while (qp->wait_head != NULL) {
		struct vhd_bdev_io *io = qp->wait_head;
		struct nvme_io *x = nio(io);

		qp->wait_head = x->next;
		x->waiting = false;
		x->issued_all = true;
		if (x->status == 0) {
			x->status = err;
		}
		if (x->outstanding == 0) {
			qp->complete(io, x->status);
			n++;
		}
	}
	qp->wait_tail = NULL;
	return n;
}

static int
create_queues(struct nvme_qpair *qp, uint64_t timeout_us)
{
	struct nvme_ctrlr *c = qp->ctrlr;
	struct nvme_cmd cmd;
	int rc;

	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = NVME_ADM_CREATE_CQ;
	cmd.dptr.prp.prp1 = qp->cq_iova;
	cmd.cdw10 = ((uint32_t)(qp->depth - 1) << 16) | qp->qid;
	cmd.cdw11 = NVME_QUEUE_PC; /* polled: no interrupt */
	rc = nvme_ctrlr_admin_sync(c, &cmd, NULL, timeout_us);
	if (rc != 0) {
		VHD_ERRLOG("%s: cannot create I/O CQ %u: %s", c->name, qp->qid, strerror(-rc));
		return rc;
	}
	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = NVME_ADM_CREATE_SQ;
	cmd.dptr.prp.prp1 = qp->sq_iova;
	cmd.cdw10 = ((uint32_t)(qp->depth - 1) << 16) | qp->qid;
	cmd.cdw11 = ((uint32_t)qp->qid << 16) | NVME_QUEUE_PC;
	rc = nvme_ctrlr_admin_sync(c, &cmd, NULL, timeout_us);
	if (rc != 0) {
		VHD_ERRLOG("%s: cannot create I/O SQ %u: %s", c->name, qp->qid, strerror(-rc));
		memset(&cmd, 0, sizeof(cmd));
		cmd.opc = NVME_ADM_DELETE_CQ;
		cmd.cdw10 = qp->qid;
		nvme_ctrlr_admin_sync(c, &cmd, NULL, timeout_us);
	}
	return rc;
}

static void
rings_reset(struct nvme_qpair *qp)
{
	memset(qp->cq, 0, (size_t)qp->depth * sizeof(struct nvme_cpl));
	qp->sq_tail = 0;
	qp->sq_db_tail = 0;
	qp->cq_head = 0;
	qp->phase = 1;
}

/*
 * The controller was reset (new epoch): what it held is gone. Timed-out commands complete
 * with -ETIMEDOUT, others are resubmitted once on queues created anew.
 */
static int
recover(struct nvme_qpair *qp)
{
	struct nvme_ctrlr *c = qp->ctrlr;
	uint32_t epoch = __atomic_load_n(&c->epoch, __ATOMIC_ACQUIRE);
	unsigned int requeued = 0;
	int n = 0, rc;

	for (uint16_t cid = 0; cid < qp->depth; cid++) {
		struct nvme_slot *slot = &qp->slots[cid];

		if (slot->state == NVME_SLOT_FREE) {
			continue;
		}
		if (slot->state == NVME_SLOT_ABORTING || slot->deadline_us <= qp->now_us) {
			n += slot_done(qp, slot, -ETIMEDOUT);
		} else if (slot->retries > 0) {
			n += slot_done(qp, slot, -EIO);
		} else {
			slot->state = NVME_SLOT_REQUEUE;
			slot->retries++;
			requeued++;
		}
	}
	rings_reset(qp);
	pthread_mutex_lock(&c->admin_lock);
	if (nvme_ctrlr_state(c) != NVME_CTRLR_READY ||
	    __atomic_load_n(&c->epoch, __ATOMIC_ACQUIRE) != epoch) {
		/* Another reset began meanwhile: try again after it. */
		pthread_mutex_unlock(&c->admin_lock);
		return n;
	}
	if (qp->qid > c->nioq) {
		rc = -EBUSY;
	} else {
		rc = create_queues(qp, LCORE_ADMIN_TIMEOUT_US);
	}
	if (rc == 0) {
		qp->epoch = epoch;
	}
	pthread_mutex_unlock(&c->admin_lock);
	if (rc != 0) {
		VHD_ERRLOG("%s q%u: queues not re-created after the reset: %s; this queue pair "
			   "fails its I/O", c->name, qp->qid, strerror(-rc));
		qp->broken = true;
		return n + fail_all(qp, -EIO);
	}
	for (uint16_t cid = 0; cid < qp->depth; cid++) {
		struct nvme_slot *slot = &qp->slots[cid];

		if (slot->state == NVME_SLOT_REQUEUE) {
			slot_push_sq(qp, slot);
		}
	}
	qp->nrequeued += requeued;
	if (requeued > 0) {
		VHD_NOTICELOG("%s q%u: %u commands resubmitted after the reset", c->name, qp->qid,
			      requeued);
	}
	return n;
}

static void
request_reset(struct nvme_qpair *qp, const char *why)
{
	struct nvme_ctrlr *c = qp->ctrlr;

	if (__atomic_exchange_n(&c->reset_requested, 1, __ATOMIC_ACQ_REL) == 0) {
		VHD_ERRLOG("%s q%u: %s; asking for a controller reset", c->name, qp->qid, why);
		if (c->env.ops->request_reset != NULL) {
			c->env.ops->request_reset(c->env.ctx);
		}
	}
}

static void
scan_timeouts(struct nvme_qpair *qp)
{
	struct nvme_ctrlr *c = qp->ctrlr;
	unsigned int expired = 0, aborting = 0;
	bool need_reset = false;
	uint32_t csts;

	qp->next_scan_us = qp->now_us + c->scan_interval_us;
	if (nvme_qpair_outstanding(qp) == 0) {
		return;
	}
	csts = nvme_reg_read32(c, NVME_REG_CSTS);
	if (csts == NVME_REG32_GONE) {
		nvme_ctrlr_set_gone(c, "registers read all ones");
		return;
	}
	if (csts & NVME_CSTS_CFS) {
		request_reset(qp, "controller fatal status");
		return;
	}
	for (uint16_t cid = 0; cid < qp->depth; cid++) {
		struct nvme_slot *slot = &qp->slots[cid];

		if (slot->state == NVME_SLOT_ACTIVE && slot->deadline_us <= qp->now_us) {
			expired++;
			qp->ntimeouts++;
			__atomic_add_fetch(&c->ntimeouts, 1, __ATOMIC_RELAXED);
			/* If the ABORT cannot be sent now, the reset below covers it. */
			nvme_ctrlr_abort_async(c, qp->qid, cid);
			slot->state = NVME_SLOT_ABORTING;
			slot->deadline_us = qp->now_us + c->abort_timeout_us;
			aborting++;
		} else if (slot->state == NVME_SLOT_ABORTING) {
			aborting++;
			if (slot->deadline_us <= qp->now_us) {
				need_reset = true;
			}
		}
	}
	if (expired > 0) {
		VHD_WARNLOG("%s q%u: %u commands got no completion within %" PRIu64 " ms; "
			    "aborting them", c->name, qp->qid, expired, c->io_timeout_us / 1000);
	}
	if (aborting > 0 || __atomic_load_n(&c->aborts_inflight, __ATOMIC_RELAXED) > 0) {
		nvme_ctrlr_admin_poll(c);
	}
	if (need_reset) {
		request_reset(qp, "an aborted command is still not completed");
	}
}

int
nvme_qpair_poll(struct nvme_qpair *qp)
{
	struct nvme_ctrlr *c = qp->ctrlr;
	int st = nvme_ctrlr_state(c);
	int n;

	qp->now_us = c->env.ops->now_us(c->env.ctx);
	/* Entries the controller posted are valid whatever happened since. */
	n = reap(qp);
	if (vhd_unlikely(st != NVME_CTRLR_READY || qp->broken)) {
		if (st == NVME_CTRLR_GONE) {
			return n + fail_all(qp, -ENODEV);
		}
		if (st == NVME_CTRLR_FAILED || qp->broken) {
			return n + fail_all(qp, -EIO);
		}
		return n; /* resetting: wait */
	}
	if (vhd_unlikely(__atomic_load_n(&c->epoch, __ATOMIC_ACQUIRE) != qp->epoch)) {
		return n + recover(qp);
	}
	if (qp->wait_head != NULL) {
		n += resume_waiting(qp);
	}
	if (vhd_unlikely(qp->now_us >= qp->next_scan_us)) {
		scan_timeouts(qp);
	}
	return n;
}

/* ---- create / destroy ---- */

int
nvme_qpair_create(struct nvme_ctrlr *c, const struct nvme_ns *ns, uint16_t depth,
		  nvme_complete_fn complete, struct nvme_qpair **out)
{
	size_t sq_size, cq_size, lists_size, bounce_size;
	struct nvme_qpair *qp;
	uint8_t *mem;
	uint16_t qid;
	int rc;

	depth = (uint16_t)VHD_MIN((uint32_t)depth, c->mqes);
	if (depth < 2) {
		return -EINVAL;
	}
	switch (nvme_ctrlr_state(c)) {
	case NVME_CTRLR_GONE:
		return -ENODEV;
	case NVME_CTRLR_FAILED:
		return -EIO;
	default:
		break;
	}
	qp = calloc(1, sizeof(*qp));
	if (qp == NULL) {
		return -ENOMEM;
	}
	qp->slots = calloc(depth, sizeof(*qp->slots));
	qp->free_cids = calloc(depth, sizeof(*qp->free_cids));
	if (qp->slots == NULL || qp->free_cids == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	qp->ctrlr = c;
	qp->ns = *ns;
	qp->depth = depth;
	qp->complete = complete;

	sq_size = align_up((uint64_t)depth * sizeof(struct nvme_cmd), NVME_PAGE_SIZE);
	cq_size = align_up((uint64_t)depth * sizeof(struct nvme_cpl), NVME_PAGE_SIZE);
	lists_size = (size_t)depth * NVME_PAGE_SIZE;
	bounce_size = (size_t)NVME_BOUNCE_BUFS * NVME_BOUNCE_SIZE;
	qp->mem_size = sq_size + cq_size + lists_size + bounce_size;
	rc = c->env.ops->dma_alloc(c->env.ctx, qp->mem_size, &qp->mem, &qp->mem_iova);
	if (rc != 0) {
		qp->mem = NULL;
		goto fail;
	}
	mem = qp->mem;
	qp->sq = (struct nvme_cmd *)mem;
	qp->sq_iova = qp->mem_iova;
	qp->cq = (struct nvme_cpl *)(mem + sq_size);
	qp->cq_iova = qp->mem_iova + sq_size;
	for (uint16_t i = 0; i < depth; i++) {
		qp->slots[i].list = mem + sq_size + cq_size + (size_t)i * NVME_PAGE_SIZE;
		qp->slots[i].list_iova = qp->mem_iova + sq_size + cq_size +
					 (uint64_t)i * NVME_PAGE_SIZE;
		qp->slots[i].bounce = -1;
	}
	qp->bounce = mem + sq_size + cq_size + lists_size;
	qp->bounce_iova = qp->mem_iova + sq_size + cq_size + lists_size;
	for (uint16_t i = 0; i < NVME_BOUNCE_BUFS; i++) {
		qp->bounce_free[i] = (uint16_t)(NVME_BOUNCE_BUFS - 1 - i);
	}
	qp->nbounce_free = NVME_BOUNCE_BUFS;
	/* One entry of the SQ stays empty, so depth - 1 commands at most. */
	for (uint16_t i = 0; i < depth - 1; i++) {
		qp->free_cids[i] = (uint16_t)(depth - 2 - i);
	}
	qp->nfree = (uint16_t)(depth - 1);
	rings_reset(qp);

	pthread_mutex_lock(&c->admin_lock);
	if (nvme_ctrlr_state(c) != NVME_CTRLR_READY) {
		rc = nvme_ctrlr_state(c) == NVME_CTRLR_GONE ? -ENODEV : -EIO;
		pthread_mutex_unlock(&c->admin_lock);
		goto fail;
	}
	for (qid = 1; qid <= c->nioq && c->qid_used[qid]; qid++) {
	}
	if (qid > c->nioq) {
		pthread_mutex_unlock(&c->admin_lock);
		VHD_ERRLOG("%s: all %u I/O queues the controller granted are in use", c->name,
			   c->nioq);
		rc = -EBUSY;
		goto fail;
	}
	qp->qid = qid;
	rc = create_queues(qp, LCORE_ADMIN_TIMEOUT_US);
	if (rc == 0) {
		c->qid_used[qid] = 1;
		qp->epoch = __atomic_load_n(&c->epoch, __ATOMIC_ACQUIRE);
		TAILQ_INSERT_TAIL(&c->qpairs, qp, link);
	}
	pthread_mutex_unlock(&c->admin_lock);
	if (rc != 0) {
		goto fail;
	}
	qp->sq_db = (volatile uint32_t *)(c->regs + nvme_sq_doorbell(qid, c->db_stride));
	qp->cq_db = (volatile uint32_t *)(c->regs + nvme_cq_doorbell(qid, c->db_stride));
	qp->now_us = c->env.ops->now_us(c->env.ctx);
	qp->next_scan_us = qp->now_us + c->scan_interval_us;
	VHD_INFOLOG("%s: I/O queue pair %u (%u entries) for namespace %u", c->name, qid, depth,
		    ns->nsid);
	*out = qp;
	return 0;

fail:
	if (qp->mem != NULL) {
		c->env.ops->dma_free(c->env.ctx, qp->mem, qp->mem_size, qp->mem_iova);
	}
	free(qp->slots);
	free(qp->free_cids);
	free(qp);
	return rc;
}

void
nvme_qpair_destroy(struct nvme_qpair *qp)
{
	struct nvme_ctrlr *c = qp->ctrlr;
	struct nvme_cmd cmd;

	pthread_mutex_lock(&c->admin_lock);
	if (nvme_ctrlr_state(c) == NVME_CTRLR_READY && !qp->broken &&
	    __atomic_load_n(&c->epoch, __ATOMIC_ACQUIRE) == qp->epoch) {
		memset(&cmd, 0, sizeof(cmd));
		cmd.opc = NVME_ADM_DELETE_SQ;
		cmd.cdw10 = qp->qid;
		nvme_ctrlr_admin_sync(c, &cmd, NULL, LCORE_ADMIN_TIMEOUT_US);
		memset(&cmd, 0, sizeof(cmd));
		cmd.opc = NVME_ADM_DELETE_CQ;
		cmd.cdw10 = qp->qid;
		nvme_ctrlr_admin_sync(c, &cmd, NULL, LCORE_ADMIN_TIMEOUT_US);
	}
	c->qid_used[qp->qid] = 0;
	TAILQ_REMOVE(&c->qpairs, qp, link);
	pthread_mutex_unlock(&c->admin_lock);
	VHD_INFOLOG("%s: I/O queue pair %u closed (%" PRIu64 " commands, %" PRIu64 " bounced, %"
		    PRIu64 " timed out, %" PRIu64 " resubmitted after resets)", c->name, qp->qid,
		    qp->ncmds, qp->nbounced, qp->ntimeouts, qp->nrequeued);
	c->env.ops->dma_free(c->env.ctx, qp->mem, qp->mem_size, qp->mem_iova);
	free(qp->slots);
	free(qp->free_cids);
	free(qp);
}
