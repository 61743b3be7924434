/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe controller: bring-up, admin queue, IDENTIFY, reset and shutdown (see nvme_internal.h).
 *
 * Bring-up follows the base specification's initialisation order: wait for CSTS.RDY to match
 * CC.EN before changing CC.EN, disable, program AQA/ASQ/ACQ, enable with the queue entry sizes
 * and a 4 KiB memory page, wait for CSTS.RDY (CAP.TO bounds every such wait), IDENTIFY the
 * controller, then SET FEATURES Number of Queues before creating any I/O queue.
 *
 * The admin queue is small and synchronous: a caller holds admin_lock, submits, and polls the
 * admin CQ until its command id comes back. Only ABORT is sent without waiting (from an lcore
 * that must not block); its completion is reaped by whoever polls the admin queue next.
 */
#include <inttypes.h>
#include <stdio.h>

#define VHD_LOG_COMPONENT "nvme"
#include "nvme_internal.h"
#include "vhostd/log.h"

#define ADMIN_SLOTS (NVME_ADMIN_DEPTH - 1)  /* a full ring keeps one entry empty */
#define POLL_DELAY_US 20
#define SHUTDOWN_TIMEOUT_MS 5000

static uint64_t
now_us(const struct nvme_ctrlr *c)
{
	return c->env.ops->now_us(c->env.ctx);
}

static void
delay_us(const struct nvme_ctrlr *c, uint32_t us)
{
	c->env.ops->delay_us(c->env.ctx, us);
}

static uint64_t
reg_read64(const struct nvme_ctrlr *c, uint32_t off)
{
	uint64_t lo = nvme_reg_read32(c, off);
	uint64_t hi = nvme_reg_read32(c, off + 4);

	return lo | (hi << 32);
}

/* 64-bit registers as two dword writes, low first: every controller accepts that. */
static void
reg_write64(struct nvme_ctrlr *c, uint32_t off, uint64_t v)
{
	nvme_reg_write32(c, off, (uint32_t)v);
	nvme_reg_write32(c, off + 4, (uint32_t)(v >> 32));
}

static uint16_t
get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t
get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

static uint64_t
get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | ((uint64_t)get_le32(p + 4) << 32);
}

/* Copy a space-padded ASCII identify field into a C string, trimming the padding. */
static void
copy_ascii(char *dst, const uint8_t *src, size_t len)
{
	size_t n = len;

	while (n > 0 && (src[n - 1] == ' ' || src[n - 1] == '\0')) {
		n--;
	}
	for (size_t i = 0; i < n; i++) {
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? (char)src[i] : '?';
	}
	dst[n] = '\0';
}

/* Wait until (CSTS & mask) == want. \return 0, -ETIMEDOUT, -ENODEV (all ones). */
static int
wait_csts(const struct nvme_ctrlr *c, uint32_t mask, uint32_t want, uint32_t timeout_ms)
{
	uint64_t deadline = now_us(c) + (uint64_t)timeout_ms * 1000;

	for (;;) {
		uint32_t csts = nvme_reg_read32(c, NVME_REG_CSTS);

		if (csts == NVME_REG32_GONE) {
			return -ENODEV;
		}
		if ((csts & mask) == want) {
			return 0;
		}
		if (now_us(c) > deadline) {
			return -ETIMEDOUT;
		}
		delay_us(c, 100);
	}
}

static int
disable(struct nvme_ctrlr *c)
{
	uint32_t cc = nvme_reg_read32(c, NVME_REG_CC);
	uint32_t csts = nvme_reg_read32(c, NVME_REG_CSTS);
	int rc;

	if (cc == NVME_REG32_GONE && csts == NVME_REG32_GONE) {
		return -ENODEV;
	}
	if (!(cc & NVME_CC_EN)) {
		return wait_csts(c, NVME_CSTS_RDY, 0, c->ready_timeout_ms);
	}
	/* Changing EN while RDY does not match it yet is undefined: let enabling finish. */
	if (!(csts & NVME_CSTS_RDY) && !(csts & NVME_CSTS_CFS)) {
		rc = wait_csts(c, NVME_CSTS_RDY, NVME_CSTS_RDY, c->ready_timeout_ms);
		if (rc == -ENODEV) {
			return rc;
		}
	}
	nvme_reg_write32(c, NVME_REG_CC, cc & ~NVME_CC_EN);
	return wait_csts(c, NVME_CSTS_RDY, 0, c->ready_timeout_ms);
}

static void
admin_ring_init(struct nvme_ctrlr *c)
{
	memset(c->asq, 0, NVME_PAGE_SIZE);
	memset(c->acq, 0, NVME_PAGE_SIZE);
	c->asq_tail = 0;
	c->acq_head = 0;
	c->aphase = 1;
	memset(c->aslots, 0, sizeof(c->aslots));
	c->aborts_inflight = 0;
}

static int
enable(struct nvme_ctrlr *c)
{
	uint32_t cc = NVME_CC_EN | NVME_CC_CSS_NVM | NVME_CC_MPS(NVME_PAGE_SHIFT) |
		      NVME_CC_AMS_RR | NVME_CC_IOSQES(NVME_SQES_SHIFT) |
		      NVME_CC_IOCQES(NVME_CQES_SHIFT);
	int rc;

	nvme_reg_write32(c, NVME_REG_AQA, NVME_AQA(NVME_ADMIN_DEPTH, NVME_ADMIN_DEPTH));
	reg_write64(c, NVME_REG_ASQ, c->amem_iova);
	reg_write64(c, NVME_REG_ACQ, c->amem_iova + NVME_PAGE_SIZE);
	nvme_reg_write32(c, NVME_REG_CC, cc);
	rc = wait_csts(c, NVME_CSTS_RDY | NVME_CSTS_CFS, NVME_CSTS_RDY, c->ready_timeout_ms);
	if (rc == -ETIMEDOUT && (nvme_reg_read32(c, NVME_REG_CSTS) & NVME_CSTS_CFS)) {
		return -EIO;
	}
	return rc;
}

/* ---- admin queue (admin_lock held) ---- */

static int
admin_submit(struct nvme_ctrlr *c, struct nvme_cmd *cmd, uint8_t state)
{
	uint16_t cid;

	for (cid = 0; cid < ADMIN_SLOTS; cid++) {
		if (c->aslots[cid].state == NVME_ASLOT_FREE) {
			break;
		}
	}
	if (cid == ADMIN_SLOTS) {
		return -EAGAIN;
	}
	c->aslots[cid].state = state;
	cmd->cid = cid;
	c->asq[c->asq_tail] = *cmd;
	c->asq_tail = (uint16_t)((c->asq_tail + 1) % NVME_ADMIN_DEPTH);
	/* The entry must be in memory before the controller hears about it. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	nvme_reg_write32(c, nvme_sq_doorbell(0, c->db_stride), c->asq_tail);
	return cid;
}

static unsigned int
admin_reap(struct nvme_ctrlr *c)
{
	unsigned int n = 0;

	for (;;) {
		volatile struct nvme_cpl *e = &c->acq[c->acq_head];
		struct nvme_cpl cpl;
		struct nvme_admin_slot *slot;

		if (NVME_STATUS_PHASE(e->status) != c->aphase) {
			break;
		}
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		cpl.dw0 = e->dw0;
		cpl.cid = e->cid;
		cpl.status = e->status;
		if (++c->acq_head == NVME_ADMIN_DEPTH) {
			c->acq_head = 0;
			c->aphase ^= 1;
		}
		n++;
		if (cpl.cid >= ADMIN_SLOTS) {
			VHD_WARNLOG("%s: admin completion for unknown command id %u", c->name,
				    cpl.cid);
			continue;
		}
		slot = &c->aslots[cpl.cid];
		switch (slot->state) {
		case NVME_ASLOT_SYNC:
			slot->status = cpl.status & 0xfffe;
			slot->dw0 = cpl.dw0;
			slot->state = NVME_ASLOT_DONE;
			break;
		case NVME_ASLOT_ASYNC:
			/* ABORT: dw0 bit 0 set means the command was not aborted. Either way the
			 * timeout logic watches the command itself. */
			c->aborts_inflight--;
			slot->state = NVME_ASLOT_FREE;
			break;
		case NVME_ASLOT_ABANDONED:
			slot->state = NVME_ASLOT_FREE;
			break;
		default:
			VHD_WARNLOG("%s: unexpected admin completion for command id %u", c->name,
				    cpl.cid);
			break;
		}
	}
	if (n > 0) {
		nvme_reg_write32(c, nvme_cq_doorbell(0, c->db_stride), c->acq_head);
	}
	return n;
}

int
nvme_ctrlr_admin_sync(struct nvme_ctrlr *c, struct nvme_cmd *cmd, uint32_t *dw0,
		      uint64_t timeout_us)
{
	uint64_t deadline = now_us(c) + (timeout_us != 0 ? timeout_us : c->admin_timeout_us);
	struct nvme_admin_slot *slot;
	int cid, st = nvme_ctrlr_state(c);

	if (st == NVME_CTRLR_GONE) {
		return -ENODEV;
	}
	if (st == NVME_CTRLR_FAILED) {
		return -EIO;
	}
	while ((cid = admin_submit(c, cmd, NVME_ASLOT_SYNC)) < 0) {
		admin_reap(c);
		if (now_us(c) > deadline) {
			return -ETIMEDOUT;
		}
		delay_us(c, POLL_DELAY_US);
	}
	slot = &c->aslots[cid];
	for (;;) {
		admin_reap(c);
		if (slot->state == NVME_ASLOT_DONE) {
			uint16_t status = slot->status;

			slot->state = NVME_ASLOT_FREE;
			if (dw0 != NULL) {
				*dw0 = slot->dw0;
			}
			if (status != 0) {
				VHD_DEBUGLOG("%s: admin opcode 0x%02x failed: %s", c->name,
					     cmd->opc, nvme_status_str(status));
			}
			return nvme_status_to_errno(status);
		}
		if (nvme_reg_read32(c, NVME_REG_CSTS) == NVME_REG32_GONE) {
			slot->state = NVME_ASLOT_ABANDONED;
			return -ENODEV;
		}
		if (now_us(c) > deadline) {
			slot->state = NVME_ASLOT_ABANDONED;
			VHD_ERRLOG("%s: admin opcode 0x%02x timed out", c->name, cmd->opc);
			return -ETIMEDOUT;
		}
		delay_us(c, POLL_DELAY_US);
	}
}

void
nvme_ctrlr_admin_poll(struct nvme_ctrlr *c)
{
	if (pthread_mutex_trylock(&c->admin_lock) != 0) {
		return;
	}
	if (nvme_ctrlr_state(c) == NVME_CTRLR_READY) {
		admin_reap(c);
	}
	pthread_mutex_unlock(&c->admin_lock);
}

int
nvme_ctrlr_abort_async(struct nvme_ctrlr *c, uint16_t sqid, uint16_t cid)
{
	struct nvme_cmd cmd;
	int rc;

	if (pthread_mutex_trylock(&c->admin_lock) != 0) {
		return -EAGAIN;
	}
	/* Completed ABORTs give their slot and their share of the abort limit back. */
	if (nvme_ctrlr_state(c) == NVME_CTRLR_READY) {
		admin_reap(c);
	}
	if (nvme_ctrlr_state(c) != NVME_CTRLR_READY || c->aborts_inflight >= c->abort_limit) {
		pthread_mutex_unlock(&c->admin_lock);
		return -EBUSY;
	}
	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = NVME_ADM_ABORT;
	cmd.cdw10 = sqid | ((uint32_t)cid << 16);
	rc = admin_submit(c, &cmd, NVME_ASLOT_ASYNC);
	if (rc >= 0) {
		c->aborts_inflight++;
		__atomic_add_fetch(&c->naborts, 1, __ATOMIC_RELAXED);
		rc = 0;
	}
	pthread_mutex_unlock(&c->admin_lock);
	return rc;
}

/* ---- bring-up ---- */

static int
identify_ctrlr(struct nvme_ctrlr *c)
{
	const uint8_t *b = c->idbuf;
	struct nvme_cmd cmd;
	uint32_t mdts, sqes, cqes;
	int rc;

	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = NVME_ADM_IDENTIFY;
	cmd.dptr.prp.prp1 = c->idbuf_iova;
	cmd.cdw10 = NVME_CNS_CTRLR;
	rc = nvme_ctrlr_admin_sync(c, &cmd, NULL, 0);
	if (rc != 0) {
		VHD_ERRLOG("%s: IDENTIFY CONTROLLER failed: %s", c->name, strerror(-rc));
		return rc;
	}
	copy_ascii(c->sn, b + NVME_IDC_SN, 20);
	copy_ascii(c->mn, b + NVME_IDC_MN, 40);
	copy_ascii(c->fr, b + NVME_IDC_FR, 8);
	mdts = b[NVME_IDC_MDTS];
	c->max_xfer = NVME_MAX_XFER;
	if (mdts != 0 && mdts < 20 && (NVME_PAGE_SIZE << mdts) < NVME_MAX_XFER) {
		c->max_xfer = NVME_PAGE_SIZE << mdts;
	}
	sqes = b[NVME_IDC_SQES];
	cqes = b[NVME_IDC_CQES];
	if ((sqes != 0 && ((sqes & 0xf) > NVME_SQES_SHIFT || (sqes >> 4) < NVME_SQES_SHIFT)) ||
	    (cqes != 0 && ((cqes & 0xf) > NVME_CQES_SHIFT || (cqes >> 4) < NVME_CQES_SHIFT))) {
		VHD_ERRLOG("%s: queue entry sizes SQES 0x%02x CQES 0x%02x exclude 64/16 bytes",
			   c->name, sqes, cqes);
		return -ENOTSUP;
	}
	c->nn = get_le32(b + NVME_IDC_NN);
	c->oncs = get_le16(b + NVME_IDC_ONCS);
	c->vwc = (b[NVME_IDC_VWC] & 1) != 0;
	c->sgls = get_le32(b + NVME_IDC_SGLS) & 3;
	if (c->sgls != NVME_SGLS_ANY_ALIGN && c->sgls != NVME_SGLS_DWORD_ALIGN) {
		c->sgls = NVME_SGLS_NONE;
	}
	c->abort_limit = (uint32_t)b[NVME_IDC_ACL] + 1;
	return 0;
}

static int
set_num_queues(struct nvme_ctrlr *c, uint16_t want)
{
	struct nvme_cmd cmd;
	uint32_t dw0 = 0;
	uint16_t nsq, ncq;
	int rc;

	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = NVME_ADM_SET_FEATURES;
	cmd.cdw10 = NVME_FEAT_NUM_QUEUES;
	cmd.cdw11 = ((uint32_t)(want - 1) << 16) | (uint32_t)(want - 1);
	rc = nvme_ctrlr_admin_sync(c, &cmd, &dw0, 0);
	if (rc != 0) {
		VHD_ERRLOG("%s: SET FEATURES Number of Queues failed: %s", c->name, strerror(-rc));
		return rc;
	}
	nsq = (uint16_t)((dw0 & 0xffff) + 1);
	ncq = (uint16_t)((dw0 >> 16) + 1);
	c->nioq = VHD_MIN(VHD_MIN(nsq, ncq), want);
	return 0;
}

static void
free_dma(struct nvme_ctrlr *c)
{
	if (c->amem != NULL) {
		c->env.ops->dma_free(c->env.ctx, c->amem, 2 * NVME_PAGE_SIZE, c->amem_iova);
		c->amem = NULL;
	}
	if (c->idbuf != NULL) {
		c->env.ops->dma_free(c->env.ctx, c->idbuf, NVME_IDENTIFY_SIZE, c->idbuf_iova);
		c->idbuf = NULL;
	}
	if (c->zero_page != NULL) {
		c->env.ops->dma_free(c->env.ctx, c->zero_page, NVME_PAGE_SIZE, c->zero_iova);
		c->zero_page = NULL;
	}
}

int
nvme_ctrlr_init(struct nvme_ctrlr *c, const char *name, volatile void *regs,
		const struct nvme_env *env, struct nvme_dma_table *dma)
{
	int rc;

	snprintf(c->name, sizeof(c->name), "%s", name);
	c->regs = regs;
	c->env = *env;
	c->dma = dma;
	pthread_mutex_init(&c->admin_lock, NULL);
	TAILQ_INIT(&c->qpairs);
	c->io_timeout_us = c->io_timeout_us ? c->io_timeout_us : NVME_IO_TIMEOUT_MS * 1000ull;
	c->abort_timeout_us = c->abort_timeout_us ? c->abort_timeout_us :
						   NVME_ABORT_TIMEOUT_MS * 1000ull;
	c->admin_timeout_us = c->admin_timeout_us ? c->admin_timeout_us :
						   NVME_ADMIN_TIMEOUT_MS * 1000ull;
	c->scan_interval_us = c->scan_interval_us ? c->scan_interval_us :
						   NVME_SCAN_INTERVAL_MS * 1000ull;

	c->cap = reg_read64(c, NVME_REG_CAP);
	c->vs = nvme_reg_read32(c, NVME_REG_VS);
	if (c->cap == UINT64_MAX) {
		VHD_ERRLOG("%s: registers read all ones: the device is not responding", c->name);
		rc = -ENODEV;
		goto fail;
	}
	if (!(NVME_CAP_CSS(c->cap) & 1)) {
		VHD_ERRLOG("%s: the controller does not support the NVM command set", c->name);
		rc = -ENOTSUP;
		goto fail;
	}
	if (NVME_CAP_MPSMIN(c->cap) != 0) {
		VHD_ERRLOG("%s: the controller's smallest memory page is %u KiB; vhostd needs "
			   "4 KiB", c->name, 4u << NVME_CAP_MPSMIN(c->cap));
		rc = -ENOTSUP;
		goto fail;
	}
	c->db_stride = 4u << NVME_CAP_DSTRD(c->cap);
	c->mqes = NVME_CAP_MQES(c->cap) + 1;
	c->ready_timeout_ms = VHD_MAX(NVME_CAP_TO(c->cap), 1u) * 500;

	rc = c->env.ops->dma_alloc(c->env.ctx, 2 * NVME_PAGE_SIZE, &c->amem, &c->amem_iova);
	if (rc == 0) {
		rc = c->env.ops->dma_alloc(c->env.ctx, NVME_IDENTIFY_SIZE, &c->idbuf,
					   &c->idbuf_iova);
	}
	if (rc == 0) {
		rc = c->env.ops->dma_alloc(c->env.ctx, NVME_PAGE_SIZE, &c->zero_page,
					   &c->zero_iova);
	}
	if (rc != 0) {
		VHD_ERRLOG("%s: cannot allocate DMA memory for the admin queue: %s", c->name,
			   strerror(-rc));
		goto fail;
	}
	c->asq = c->amem;
	c->acq = (struct nvme_cpl *)((uint8_t *)c->amem + NVME_PAGE_SIZE);

	rc = disable(c);
	if (rc != 0) {
		VHD_ERRLOG("%s: cannot disable the controller: %s", c->name, strerror(-rc));
		goto fail;
	}
	admin_ring_init(c);
	rc = enable(c);
	if (rc != 0) {
		VHD_ERRLOG("%s: the controller did not become ready within %u ms: %s", c->name,
			   c->ready_timeout_ms, strerror(-rc));
		goto fail;
	}
	/* No interrupts are used: mask the pin/MSI ones (MSI-X is never enabled). */
	nvme_reg_write32(c, NVME_REG_INTMS, 0xffffffffu);
	c->state = NVME_CTRLR_READY;

	pthread_mutex_lock(&c->admin_lock);
	rc = identify_ctrlr(c);
	if (rc == 0) {
		rc = set_num_queues(c, NVME_MAX_IO_QUEUES);
	}
	pthread_mutex_unlock(&c->admin_lock);
	if (rc != 0) {
		goto fail_enabled;
	}
	VHD_NOTICELOG("%s: %s (serial %s, firmware %s), NVMe %u.%u, %u namespaces, %u I/O "
		      "queues, max transfer %u KiB, SGL %s, volatile cache %s", c->name, c->mn,
		      c->sn, c->fr, c->vs >> 16, (c->vs >> 8) & 0xff, c->nn, c->nioq,
		      c->max_xfer >> 10,
		      c->sgls == NVME_SGLS_NONE ? "no" :
		      c->sgls == NVME_SGLS_ANY_ALIGN ? "yes" : "dword-aligned",
		      c->vwc ? "yes" : "no");
	return 0;

fail_enabled:
	disable(c);
fail:
	free_dma(c);
	pthread_mutex_destroy(&c->admin_lock);
	return rc;
}

void
nvme_ctrlr_fini(struct nvme_ctrlr *c)
{
	int st = nvme_ctrlr_state(c);

	pthread_mutex_lock(&c->admin_lock);
	if (st == NVME_CTRLR_READY) {
		uint32_t cc = nvme_reg_read32(c, NVME_REG_CC);

		/* Normal shutdown: the controller writes back its volatile cache. */
		nvme_reg_write32(c, NVME_REG_CC, (cc & ~NVME_CC_SHN_MASK) | NVME_CC_SHN_NORMAL);
		if (wait_csts(c, 3u << 2, NVME_CSTS_SHST_COMPLETE << 2,
			      VHD_MAX(c->ready_timeout_ms, (uint32_t)SHUTDOWN_TIMEOUT_MS)) != 0) {
			VHD_WARNLOG("%s: shutdown did not complete", c->name);
		}
		disable(c);
	} else if (st == NVME_CTRLR_RESETTING) {
		disable(c);
	}
	pthread_mutex_unlock(&c->admin_lock);
	free_dma(c);
	pthread_mutex_destroy(&c->admin_lock);
}

int
nvme_ctrlr_identify_ns(struct nvme_ctrlr *c, uint32_t nsid, struct nvme_ns *ns)
{
	const uint8_t *b = c->idbuf;
	struct nvme_cmd cmd;
	uint32_t fmt, nlbaf, lbaf, ms, lbads;
	uint8_t flbas, nsfeat;
	int rc;

	if (nsid == 0 || nsid > c->nn) {
		VHD_ERRLOG("%s: namespace %u does not exist (the controller has %u)", c->name, nsid,
			   c->nn);
		return -ENOENT;
	}
	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = NVME_ADM_IDENTIFY;
	cmd.nsid = nsid;
	cmd.dptr.prp.prp1 = c->idbuf_iova;
	cmd.cdw10 = NVME_CNS_NS;
	pthread_mutex_lock(&c->admin_lock);
	rc = nvme_ctrlr_admin_sync(c, &cmd, NULL, 0);
	if (rc != 0) {
		pthread_mutex_unlock(&c->admin_lock);
		VHD_ERRLOG("%s: IDENTIFY NAMESPACE %u failed: %s", c->name, nsid, strerror(-rc));
		return rc;
	}
	memset(ns, 0, sizeof(*ns));
	ns->nsid = nsid;
	ns->nblocks = get_le64(b + NVME_IDNS_NSZE);
	nlbaf = b[NVME_IDNS_NLBAF];
	flbas = b[NVME_IDNS_FLBAS];
	fmt = (flbas & 0xfu) | (nlbaf >= 16 ? ((flbas >> 5) & 3u) << 4 : 0);
	lbaf = fmt <= nlbaf && fmt < 64 ? get_le32(b + NVME_IDNS_LBAF + 4 * fmt) : 0;
	nsfeat = b[NVME_IDNS_NSFEAT];
	ns->readonly = (b[NVME_IDNS_NSATTR] & 1) != 0;
	if (nsfeat & NVME_NSFEAT_OPTPERF) {
		uint32_t npwg = (uint32_t)get_le16(b + NVME_IDNS_NPWG) + 1;
		uint32_t nows = (uint32_t)get_le16(b + NVME_IDNS_NOWS) + 1;

		if (npwg > 1 && (npwg & (npwg - 1)) == 0) {
			ns->phys_block_exp = (uint32_t)__builtin_ctz(npwg);
		}
		ns->opt_io_blocks = nows > 1 ? nows : 0;
	}
	pthread_mutex_unlock(&c->admin_lock);

	if (ns->nblocks == 0) {
		VHD_ERRLOG("%s: namespace %u is not active (not attached to this controller)",
			   c->name, nsid);
		return -ENOENT;
	}
	ms = lbaf & 0xffff;
	lbads = (lbaf >> 16) & 0xff;
	if (fmt > nlbaf || lbads < 9 || lbads > 16) {
		VHD_ERRLOG("%s: namespace %u: LBA format %u (%u-byte blocks) is not usable; vhostd "
			   "serves 512..65536-byte blocks", c->name, nsid, fmt,
			   lbads < 32 ? 1u << lbads : 0);
		return -ENOTSUP;
	}
	if (ms != 0) {
		VHD_ERRLOG("%s: namespace %u is formatted with %u bytes of metadata per block; "
			   "reformat it without metadata (e.g. nvme format --lbaf=N)", c->name,
			   nsid, ms);
		return -ENOTSUP;
	}
	ns->lba_shift = lbads;
	ns->block_size = 1u << lbads;
	if (c->max_xfer < ns->block_size) {
		VHD_ERRLOG("%s: namespace %u: blocks of %u bytes exceed the controller's maximum "
			   "transfer of %u bytes", c->name, nsid, ns->block_size, c->max_xfer);
		return -ENOTSUP;
	}
	return 0;
}

/* ---- reset, removal ---- */

static void
wait_doorbells_idle(struct nvme_ctrlr *c)
{
	struct nvme_qpair *qp;

	TAILQ_FOREACH(qp, &c->qpairs, link) {
		nvme_qpair_wait_doorbell_idle(qp);
	}
}

void
nvme_ctrlr_set_gone(struct nvme_ctrlr *c, const char *why)
{
	int old = __atomic_exchange_n(&c->state, NVME_CTRLR_GONE, __ATOMIC_SEQ_CST);

	if (old != NVME_CTRLR_GONE) {
		__atomic_add_fetch(&c->epoch, 1, __ATOMIC_RELEASE);
		VHD_ERRLOG("%s: controller gone (%s); its I/O fails from now on", c->name, why);
	}
}

static void
fail_controller(struct nvme_ctrlr *c, const char *why)
{
	if (c->env.ops->stop_dma != NULL) {
		c->env.ops->stop_dma(c->env.ctx);
	}
	__atomic_store_n(&c->state, NVME_CTRLR_FAILED, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&c->epoch, 1, __ATOMIC_RELEASE);
	VHD_ERRLOG("%s: controller failed (%s); its I/O fails from now on", c->name, why);
}

int
nvme_ctrlr_reset(struct nvme_ctrlr *c)
{
	uint16_t old_nioq;
	int rc, st;

	pthread_mutex_lock(&c->admin_lock);
	st = nvme_ctrlr_state(c);
	__atomic_store_n(&c->reset_requested, 0, __ATOMIC_RELAXED);
	if (st == NVME_CTRLR_GONE || st == NVME_CTRLR_FAILED) {
		pthread_mutex_unlock(&c->admin_lock);
		return st == NVME_CTRLR_GONE ? -ENODEV : -EIO;
	}
	__atomic_add_fetch(&c->nresets, 1, __ATOMIC_RELAXED);
	VHD_WARNLOG("%s: resetting the controller (CSTS 0x%x)", c->name,
		    nvme_reg_read32(c, NVME_REG_CSTS));
	/* No lcore rings a doorbell from here on (see nvme_qpair_flush()). */
	__atomic_store_n(&c->state, NVME_CTRLR_RESETTING, __ATOMIC_SEQ_CST);
	wait_doorbells_idle(c);

	rc = disable(c);
	if (rc == -ENODEV) {
		nvme_ctrlr_set_gone(c, "registers read all ones during reset");
		pthread_mutex_unlock(&c->admin_lock);
		return rc;
	}
	if (rc != 0) {
		fail_controller(c, "it does not disable");
		pthread_mutex_unlock(&c->admin_lock);
		return rc;
	}
	/* Disabled: the controller no longer touches any queue or buffer. Admin commands in
	 * flight (ABORTs) are gone with it. */
	admin_ring_init(c);
	old_nioq = c->nioq;
	rc = enable(c);
	if (rc == 0) {
		rc = set_num_queues(c, NVME_MAX_IO_QUEUES);
	}
	if (rc == 0 && c->nioq < old_nioq) {
		VHD_WARNLOG("%s: the controller grants %u I/O queues after reset (was %u)", c->name,
			    c->nioq, old_nioq);
	}
	if (rc != 0) {
		if (nvme_reg_read32(c, NVME_REG_CSTS) == NVME_REG32_GONE) {
			nvme_ctrlr_set_gone(c, "registers read all ones during reset");
		} else {
			disable(c);
			fail_controller(c, "it did not come back after a reset");
		}
		pthread_mutex_unlock(&c->admin_lock);
		return rc;
	}
	__atomic_add_fetch(&c->epoch, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&c->state, NVME_CTRLR_READY, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&c->admin_lock);
	VHD_NOTICELOG("%s: reset done; queue pairs re-create their queues", c->name);
	return 0;
}

void
nvme_ctrlr_quiesce(struct nvme_ctrlr *c)
{
	pthread_mutex_lock(&c->admin_lock);
	if (nvme_ctrlr_state(c) == NVME_CTRLR_GONE) {
		pthread_mutex_unlock(&c->admin_lock);
		return;
	}
	__atomic_store_n(&c->state, NVME_CTRLR_RESETTING, __ATOMIC_SEQ_CST);
	wait_doorbells_idle(c);
	if (nvme_reg_read32(c, NVME_REG_CSTS) != NVME_REG32_GONE) {
		uint32_t cc = nvme_reg_read32(c, NVME_REG_CC);

		nvme_reg_write32(c, NVME_REG_CC, (cc & ~NVME_CC_SHN_MASK) | NVME_CC_SHN_NORMAL);
		wait_csts(c, 3u << 2, NVME_CSTS_SHST_COMPLETE << 2, 2000);
		disable(c);
	}
	if (c->env.ops->stop_dma != NULL) {
		c->env.ops->stop_dma(c->env.ctx);
	}
	pthread_mutex_unlock(&c->admin_lock);
}
