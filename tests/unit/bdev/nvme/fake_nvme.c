/* SPDX-License-Identifier: BSD-3-Clause */
/* A fake NVMe controller in plain memory (see fake_nvme.h). */
#include <stdio.h>
#include <stdlib.h>

#include "fake_nvme.h"

#define PAGE NVME_PAGE_SIZE
#define MAX_SEGS 2048

struct seg {
	uint8_t *va;
	uint64_t len;
};

struct post {
	uint16_t sqid;
	uint16_t cid;
	uint16_t status;
	uint32_t dw0;
};

static void
violation(struct fake_nvme *f, const char *what, uint64_t v)
{
	f->violations++;
	fprintf(stderr, "fake_nvme: driver broke a rule: %s (0x%llx)\n", what,
		(unsigned long long)v);
}

uint32_t
fake_reg32(const struct fake_nvme *f, uint32_t off)
{
	return *(volatile uint32_t *)(f->bar + off);
}

void
fake_set_reg32(struct fake_nvme *f, uint32_t off, uint32_t v)
{
	*(volatile uint32_t *)(f->bar + off) = v;
}

static uint64_t
reg64(const struct fake_nvme *f, uint32_t off)
{
	return fake_reg32(f, off) | ((uint64_t)fake_reg32(f, off + 4) << 32);
}

/* ---- memory ---- */

static void *
xlate(struct fake_nvme *f, uint64_t iova, uint64_t len)
{
	for (unsigned int i = 0; i < f->nallocs; i++) {
		if (iova >= f->allocs[i].iova && len <= f->allocs[i].size &&
		    iova - f->allocs[i].iova <= f->allocs[i].size - len) {
			return (uint8_t *)f->allocs[i].va + (iova - f->allocs[i].iova);
		}
	}
	for (uint32_t i = 0; i < f->table.nmaps; i++) {
		const struct nvme_dma_map *m = &f->table.maps[i];

		if (iova >= m->iova && len <= m->len && iova - m->iova <= m->len - len) {
			return (uint8_t *)(uintptr_t)m->vaddr + (iova - m->iova);
		}
	}
	f->dma_errors++;
	fprintf(stderr, "fake_nvme: DMA to unknown IOVA 0x%llx (+%llu)\n",
		(unsigned long long)iova, (unsigned long long)len);
	return NULL;
}

static int
env_alloc(void *ctx, size_t size, void **va, uint64_t *iova)
{
	struct fake_nvme *f = ctx;
	size_t sz = (size + PAGE - 1) & ~((size_t)PAGE - 1);
	void *p;

	if (f->nallocs == FAKE_MAX_ALLOCS) {
		return -ENOMEM;
	}
	p = aligned_alloc(PAGE, sz);
	if (p == NULL) {
		return -ENOMEM;
	}
	memset(p, 0, sz);
	f->allocs[f->nallocs].va = p;
	f->allocs[f->nallocs].iova = f->next_iova;
	f->allocs[f->nallocs].size = sz;
	f->nallocs++;
	*va = p;
	*iova = f->next_iova;
	f->next_iova += sz + PAGE; /* a hole between allocations catches overruns */
	return 0;
}

static void
env_free(void *ctx, void *va, size_t size, uint64_t iova)
{
	struct fake_nvme *f = ctx;

	for (unsigned int i = 0; i < f->nallocs; i++) {
		if (f->allocs[i].va == va) {
			if (f->allocs[i].iova != iova) {
				violation(f, "dma_free with a wrong IOVA", iova);
			}
			free(va);
			f->allocs[i] = f->allocs[--f->nallocs];
			return;
		}
	}
	violation(f, "dma_free of unknown memory", (uint64_t)(uintptr_t)va);
}

static uint64_t
env_now(void *ctx)
{
	return ((struct fake_nvme *)ctx)->now_us;
}

static void
env_delay(void *ctx, uint32_t us)
{
	struct fake_nvme *f = ctx;

	f->now_us += us;
	if (f->auto_step) {
		fake_nvme_step(f);
	}
}

static void
env_request_reset(void *ctx)
{
	((struct fake_nvme *)ctx)->reset_requests++;
}

static void
env_stop_dma(void *ctx)
{
	((struct fake_nvme *)ctx)->dma_stopped = true;
}

static const struct nvme_env_ops g_fake_env_ops = {
	.dma_alloc = env_alloc,
	.dma_free = env_free,
	.now_us = env_now,
	.delay_us = env_delay,
	.request_reset = env_request_reset,
	.stop_dma = env_stop_dma,
};

void
fake_nvme_map(struct fake_nvme *f, void *va, size_t len)
{
	uint64_t iova = f->next_iova;

	f->next_iova += (len + 2 * PAGE) & ~((uint64_t)PAGE - 1);
	/* Keep the IOVA's page offset equal to the host address's, like the real mapping. */
	iova += (uint64_t)(uintptr_t)va & (PAGE - 1);
	if (nvme_dma_table_insert(&f->table, (uint64_t)(uintptr_t)va, len, iova) != 0) {
		violation(f, "test mapping overlaps", (uint64_t)(uintptr_t)va);
	}
}

struct fake_nvme *
fake_nvme_new(void)
{
	struct fake_nvme *f = calloc(1, sizeof(*f));

	f->bar = aligned_alloc(PAGE, FAKE_BAR_SIZE);
	memset(f->bar, 0, FAKE_BAR_SIZE);
	f->env.ops = &g_fake_env_ops;
	f->env.ctx = f;
	f->auto_step = true;
	f->next_iova = FAKE_IOVA_BASE;
	/* MQES 1023, CQR, TO 2 s, DSTRD 0, CSS NVM, MPSMIN 0, MPSMAX 4 */
	f->cap = 1023ull | (1ull << 16) | (4ull << 24) | (1ull << 37) | (4ull << 52);
	f->nn = 1;
	f->oncs = NVME_ONCS_DSM | NVME_ONCS_WRITE_ZEROES;
	f->vwc = 1;
	f->sgls = NVME_SGLS_ANY_ALIGN;
	f->mdts = 5;
	f->acl = 3;
	f->lba_shift = 9;
	f->disk_size = 64u << 20;
	f->nsze = f->disk_size >> f->lba_shift;
	f->queues_granted = 8;
	f->inject_opc = -1;
	f->disk = calloc(1, f->disk_size);
	return f;
}

void
fake_nvme_power_on(struct fake_nvme *f)
{
	fake_set_reg32(f, NVME_REG_CAP, (uint32_t)f->cap);
	fake_set_reg32(f, NVME_REG_CAP + 4, (uint32_t)(f->cap >> 32));
	fake_set_reg32(f, NVME_REG_VS, 0x00010400);
	if (f->start_enabled) {
		fake_set_reg32(f, NVME_REG_CC, NVME_CC_EN);
		fake_set_reg32(f, NVME_REG_CSTS, NVME_CSTS_RDY);
		f->enabled = true;
	}
}

void
fake_nvme_free(struct fake_nvme *f)
{
	while (f->nallocs > 0) {
		free(f->allocs[--f->nallocs].va);
	}
	free(f->disk);
	free(f->bar);
	free(f);
}

/* ---- completions ---- */

static void
post(struct fake_nvme *f, const struct post *p)
{
	struct fake_queue *sq = &f->sq[p->sqid];
	uint16_t cqid = p->sqid == 0 ? 0 : sq->cqid;
	struct fake_queue *cq = &f->cq[cqid];
	volatile struct nvme_cpl *e;

	if (!cq->valid) {
		return;
	}
	cq->head = (uint16_t)fake_reg32(f, nvme_cq_doorbell(cqid, 4));
	if ((uint16_t)((cq->tail + 1) % cq->size) == cq->head) {
		violation(f, "completion queue full (host does not consume or ring)", cqid);
		return;
	}
	e = xlate(f, cq->iova + (uint64_t)cq->tail * sizeof(struct nvme_cpl),
		  sizeof(struct nvme_cpl));
	if (e == NULL) {
		return;
	}
	e->dw0 = p->dw0;
	e->dw1 = 0;
	e->sqhd = sq->head;
	e->sqid = p->sqid;
	e->cid = p->cid;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	e->status = (uint16_t)(p->status | cq->phase);
	if (++cq->tail == cq->size) {
		cq->tail = 0;
		cq->phase ^= 1;
	}
}

/* ---- data pointers ---- */

static int
add_seg(struct fake_nvme *f, struct seg *segs, unsigned int *n, uint64_t iova, uint64_t len)
{
	uint8_t *va = xlate(f, iova, len);

	if (va == NULL || *n == MAX_SEGS) {
		return -1;
	}
	segs[*n].va = va;
	segs[*n].len = len;
	(*n)++;
	return 0;
}

static int
prp_segs(struct fake_nvme *f, const struct nvme_cmd *cmd, uint64_t bytes, struct seg *segs,
	 unsigned int *n)
{
	uint64_t prp1 = cmd->dptr.prp.prp1, prp2 = cmd->dptr.prp.prp2;
	uint64_t first = bytes < PAGE - (prp1 & (PAGE - 1)) ? bytes : PAGE - (prp1 & (PAGE - 1));
	uint64_t rem = bytes - first;

	if (prp1 & 3) {
		violation(f, "PRP1 not dword aligned", prp1);
		return -1;
	}
	if (add_seg(f, segs, n, prp1, first) != 0) {
		return -1;
	}
	if (rem == 0) {
		return 0;
	}
	if (rem <= PAGE) {
		if (prp2 & (PAGE - 1)) {
			violation(f, "PRP2 entry not page aligned", prp2);
			return -1;
		}
		return add_seg(f, segs, n, prp2, rem);
	}
	uint64_t nent = (rem + PAGE - 1) / PAGE;
	uint64_t room = (PAGE - (prp2 & (PAGE - 1))) / 8;
	uint64_t *list;

	if (prp2 & 7) {
		violation(f, "PRP list pointer not qword aligned", prp2);
		return -1;
	}
	if (nent > room) {
		violation(f, "PRP list would need chaining", nent);
		return -1;
	}
	list = xlate(f, prp2, nent * 8);
	if (list == NULL) {
		return -1;
	}
	for (uint64_t i = 0; i < nent; i++) {
		uint64_t len = rem < PAGE ? rem : PAGE;

		if (list[i] & (PAGE - 1)) {
			violation(f, "PRP list entry not page aligned", list[i]);
			return -1;
		}
		if (add_seg(f, segs, n, list[i], len) != 0) {
			return -1;
		}
		rem -= len;
	}
	return 0;
}

static int
sgl_desc_seg(struct fake_nvme *f, const struct nvme_sgl_desc *d, struct seg *segs,
	     unsigned int *n)
{
	if (d->id != NVME_SGL_DATA_BLOCK) {
		violation(f, "SGL descriptor type in list", d->id);
		return -1;
	}
	if (f->sgls == NVME_SGLS_DWORD_ALIGN && ((d->addr | d->len) & 3)) {
		violation(f, "SGL data block not dword aligned", d->addr);
		return -1;
	}
	return add_seg(f, segs, n, d->addr, d->len);
}

static int
sgl_segs(struct fake_nvme *f, const struct nvme_cmd *cmd, uint64_t bytes, struct seg *segs,
	 unsigned int *n)
{
	const struct nvme_sgl_desc *d = &cmd->dptr.sgl1;
	uint64_t total = 0;

	if (f->sgls == NVME_SGLS_NONE) {
		violation(f, "SGL used but not supported", 0);
		return -1;
	}
	if (d->id == NVME_SGL_DATA_BLOCK) {
		if (sgl_desc_seg(f, d, segs, n) != 0) {
			return -1;
		}
	} else if (d->id == NVME_SGL_LAST_SEGMENT) {
		const struct nvme_sgl_desc *list;

		if (d->len % 16 != 0 || d->len == 0) {
			violation(f, "SGL segment length", d->len);
			return -1;
		}
		list = xlate(f, d->addr, d->len);
		if (list == NULL) {
			return -1;
		}
		for (uint32_t i = 0; i < d->len / 16; i++) {
			if (sgl_desc_seg(f, &list[i], segs, n) != 0) {
				return -1;
			}
		}
	} else {
		violation(f, "SGL1 descriptor type", d->id);
		return -1;
	}
	for (unsigned int i = 0; i < *n; i++) {
		total += segs[i].len;
	}
	if (total != bytes) {
		violation(f, "SGL length differs from NLB", total);
		return -1;
	}
	return 0;
}

/* ---- commands ---- */

static void
put_le32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void
put_le64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static uint16_t
admin_cmd(struct fake_nvme *f, const struct nvme_cmd *cmd, uint32_t *dw0)
{
	uint16_t qid = (uint16_t)(cmd->cdw10 & 0xffff);
	uint16_t qsize = (uint16_t)((cmd->cdw10 >> 16) + 1);
	uint8_t *buf;

	if (f->nadmin < sizeof(f->admin_ops)) {
		f->admin_ops[f->nadmin++] = cmd->opc;
	}
	switch (cmd->opc) {
	case NVME_ADM_IDENTIFY:
		buf = xlate(f, cmd->dptr.prp.prp1, NVME_IDENTIFY_SIZE);
		if (buf == NULL) {
			return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_DATA_XFER_ERROR);
		}
		memset(buf, 0, NVME_IDENTIFY_SIZE);
		if ((cmd->cdw10 & 0xff) == NVME_CNS_CTRLR) {
			memcpy(buf + NVME_IDC_SN, "FAKE0001            ", 20);
			memcpy(buf + NVME_IDC_MN, "vhostd fake controller                  ", 40);
			memcpy(buf + NVME_IDC_FR, "1.0     ", 8);
			buf[NVME_IDC_MDTS] = f->mdts;
			buf[NVME_IDC_ACL] = f->acl;
			buf[NVME_IDC_SQES] = 0x66;
			buf[NVME_IDC_CQES] = 0x44;
			put_le32(buf + NVME_IDC_NN, f->nn);
			buf[NVME_IDC_ONCS] = (uint8_t)f->oncs;
			buf[NVME_IDC_ONCS + 1] = (uint8_t)(f->oncs >> 8);
			buf[NVME_IDC_VWC] = f->vwc;
			put_le32(buf + NVME_IDC_SGLS, f->sgls);
			return 0;
		}
		if ((cmd->cdw10 & 0xff) == NVME_CNS_NS) {
			if (cmd->nsid == 0 || cmd->nsid > f->nn) {
				return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_NS);
			}
			if (cmd->nsid == 2 && f->ns2_inactive) {
				return 0; /* all zeroes */
			}
			put_le64(buf + NVME_IDNS_NSZE, f->nsze);
			put_le64(buf + NVME_IDNS_NCAP, f->nsze);
			buf[NVME_IDNS_NLBAF] = 1;
			buf[NVME_IDNS_FLBAS] = 1;
			put_le32(buf + NVME_IDNS_LBAF, 9u << 16);
			put_le32(buf + NVME_IDNS_LBAF + 4, (f->lba_shift << 16) | f->ms);
			return 0;
		}
		return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
	case NVME_ADM_SET_FEATURES:
		if ((cmd->cdw10 & 0xff) == NVME_FEAT_NUM_QUEUES) {
			uint32_t g = f->queues_granted - 1u;

			*dw0 = (g << 16) | g;
			return 0;
		}
		return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
	case NVME_ADM_CREATE_CQ:
		if (qid == 0 || qid > f->queues_granted || f->cq[qid].valid) {
			return NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_INVALID_QID);
		}
		if (!(cmd->cdw11 & NVME_QUEUE_PC) || (cmd->cdw11 & NVME_CQ_IEN)) {
			violation(f, "I/O CQ not contiguous or with interrupts", cmd->cdw11);
		}
		f->cq[qid] = (struct fake_queue){true, cmd->dptr.prp.prp1, qsize, 0, 0, 1, 0, true};
		fake_set_reg32(f, nvme_cq_doorbell(qid, 4), 0);
		return 0;
	case NVME_ADM_CREATE_SQ:
		if (qid == 0 || qid > f->queues_granted || f->sq[qid].valid) {
			return NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_INVALID_QID);
		}
		if (!f->cq[cmd->cdw11 >> 16].valid) {
			return NVME_STATUS(NVME_SCT_CMD_SPECIFIC, 0x00); /* CQ invalid */
		}
		f->sq[qid] = (struct fake_queue){true, cmd->dptr.prp.prp1, qsize, 0, 0, 0,
						 (uint16_t)(cmd->cdw11 >> 16), true};
		fake_set_reg32(f, nvme_sq_doorbell(qid, 4), 0);
		return 0;
	case NVME_ADM_DELETE_SQ:
		if (qid == 0 || !f->sq[qid].valid) {
			return NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_INVALID_QID);
		}
		f->sq[qid].valid = false;
		return 0;
	case NVME_ADM_DELETE_CQ:
		if (qid == 0 || !f->cq[qid].valid) {
			return NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_INVALID_QID);
		}
		f->cq[qid].valid = false;
		return 0;
	case NVME_ADM_ABORT: {
		uint16_t sqid = (uint16_t)(cmd->cdw10 & 0xffff);
		uint16_t cid = (uint16_t)(cmd->cdw10 >> 16);

		*dw0 = 1; /* not aborted */
		if (f->ignore_abort) {
			return 0;
		}
		for (unsigned int i = 0; i < f->nheld; i++) {
			if (f->held[i].sqid == sqid && f->held[i].cid == cid) {
				struct post p = {sqid, cid, 0, 0};

				p.status = NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_ABORT_REQUESTED);

				f->held[i] = f->held[--f->nheld];
				post(f, &p);
				*dw0 = 0;
				break;
			}
		}
		return 0;
	}
	default:
		return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE);
	}
}

static uint16_t
io_cmd(struct fake_nvme *f, const struct nvme_cmd *cmd)
{
	uint64_t slba = cmd->cdw10 | ((uint64_t)cmd->cdw11 << 32);
	uint64_t nlb = (cmd->cdw12 & 0xffff) + 1ull;
	uint64_t bytes = nlb << f->lba_shift;
	static struct seg segs[MAX_SEGS];
	unsigned int n = 0;
	uint8_t *disk;

	f->io_ops[cmd->opc]++;
	if (f->inject_status != 0 && (f->inject_opc < 0 || f->inject_opc == cmd->opc)) {
		uint16_t st = f->inject_status;

		f->inject_status = 0;
		return st;
	}
	if (cmd->nsid != 1) {
		return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_NS);
	}
	switch (cmd->opc) {
	case NVME_OPC_FLUSH:
		return 0;
	case NVME_OPC_READ:
	case NVME_OPC_WRITE:
		if (slba + nlb > f->nsze) {
			return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_LBA_OUT_OF_RANGE);
		}
		if (f->mdts != 0 && bytes > ((uint64_t)PAGE << f->mdts)) {
			violation(f, "transfer above MDTS", bytes);
			return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
		}
		if (nlb > f->max_nlb) {
			f->max_nlb = (unsigned int)nlb;
		}
		if (cmd->cdw12 & NVME_RW_FUA) {
			f->fua_cmds++;
		}
		if ((cmd->flags >> 6) == 1) {
			f->sgl_cmds++;
			if (sgl_segs(f, cmd, bytes, segs, &n) != 0) {
				return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_DATA_XFER_ERROR);
			}
		} else {
			f->prp_cmds++;
			if (prp_segs(f, cmd, bytes, segs, &n) != 0) {
				return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_DATA_XFER_ERROR);
			}
		}
		disk = f->disk + (slba << f->lba_shift);
		for (unsigned int i = 0; i < n; i++) {
			if (cmd->opc == NVME_OPC_READ) {
				memcpy(segs[i].va, disk, segs[i].len);
			} else {
				memcpy(disk, segs[i].va, segs[i].len);
			}
			disk += segs[i].len;
		}
		return 0;
	case NVME_OPC_WRITE_ZEROES:
		if (!(f->oncs & NVME_ONCS_WRITE_ZEROES)) {
			return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE);
		}
		if (slba + nlb > f->nsze) {
			return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_LBA_OUT_OF_RANGE);
		}
		if (cmd->cdw12 & NVME_WZ_DEAC) {
			f->deac_cmds++;
		}
		memset(f->disk + (slba << f->lba_shift), 0, bytes);
		return 0;
	case NVME_OPC_DSM: {
		uint32_t nr = (cmd->cdw10 & 0xff) + 1;
		struct nvme_dsm_range *r = xlate(f, cmd->dptr.prp.prp1, nr * sizeof(*r));

		if (!(f->oncs & NVME_ONCS_DSM)) {
			return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE);
		}
		if (r == NULL) {
			return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_DATA_XFER_ERROR);
		}
		if (!(cmd->cdw11 & NVME_DSM_AD)) {
			violation(f, "DSM without deallocate", cmd->cdw11);
		}
		for (uint32_t i = 0; i < nr; i++) {
			if (r[i].slba + r[i].nlb > f->nsze) {
				return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_LBA_OUT_OF_RANGE);
			}
			memset(f->disk + (r[i].slba << f->lba_shift), 0,
			       (uint64_t)r[i].nlb << f->lba_shift);
		}
		return 0;
	}
	default:
		return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE);
	}
}

/* ---- the controller ---- */

static void
reset_queues(struct fake_nvme *f)
{
	memset(f->sq, 0, sizeof(f->sq));
	memset(f->cq, 0, sizeof(f->cq));
	f->nheld = 0;
	/* A controller reset clears the doorbells too. */
	memset(f->bar + NVME_REG_DBS, 0, FAKE_BAR_SIZE - NVME_REG_DBS);
}

static void
handle_cc(struct fake_nvme *f)
{
	uint32_t cc = fake_reg32(f, NVME_REG_CC);
	uint32_t csts = fake_reg32(f, NVME_REG_CSTS);

	if (!(cc & NVME_CC_EN) && f->enabled) {
		f->enabled = false;
		f->disables++;
		reset_queues(f);
		csts &= ~NVME_CSTS_RDY;
	}
	if ((cc & NVME_CC_EN) && !f->enabled && !f->ready_never) {
		uint32_t aqa = fake_reg32(f, NVME_REG_AQA);

		f->enabled = true;
		f->cc_at_enable = cc;
		reset_queues(f);
		f->sq[0] = (struct fake_queue){true, reg64(f, NVME_REG_ASQ), 0, 0, 0, 0, 0, true};
		f->sq[0].size = (uint16_t)((aqa & 0xfff) + 1);
		f->cq[0] = (struct fake_queue){true, reg64(f, NVME_REG_ACQ), 0, 0, 0, 1, 0, true};
		f->cq[0].size = (uint16_t)(((aqa >> 16) & 0xfff) + 1);
		csts |= NVME_CSTS_RDY;
	}
	csts &= ~(3u << 2);
	if ((cc & NVME_CC_SHN_MASK) && f->enabled) {
		csts |= NVME_CSTS_SHST_COMPLETE << 2;
	}
	fake_set_reg32(f, NVME_REG_CSTS, csts);
}

void
fake_nvme_step(struct fake_nvme *f)
{
	static struct post posts[4096];
	unsigned int nposts = 0;

	if (f->gone) {
		memset(f->bar, 0xff, FAKE_BAR_SIZE);
		return;
	}
	handle_cc(f);
	if (!f->enabled) {
		return;
	}
	for (uint16_t q = 0; q < FAKE_MAX_QUEUES; q++) {
		struct fake_queue *sq = &f->sq[q];
		uint32_t tail;

		if (!sq->valid) {
			continue;
		}
		tail = fake_reg32(f, nvme_sq_doorbell(q, 4));
		if (tail >= sq->size) {
			violation(f, "SQ tail doorbell beyond the queue", tail);
			continue;
		}
		while (sq->head != tail && sq->valid) {
			struct nvme_cmd *cmd = xlate(f, sq->iova + (uint64_t)sq->head * 64, 64);
			struct post p = {q, 0, 0, 0};

			sq->head = (uint16_t)((sq->head + 1) % sq->size);
			if (cmd == NULL) {
				continue;
			}
			p.cid = cmd->cid;
			if (q == 0) {
				p.status = admin_cmd(f, cmd, &p.dw0);
				post(f, &p);
				continue;
			}
			if (f->hold_io) {
				if (f->nheld < FAKE_MAX_HELD) {
					f->held[f->nheld].sqid = q;
					f->held[f->nheld].cid = cmd->cid;
					f->nheld++;
				}
				f->io_ops[cmd->opc]++;
				continue;
			}
			p.status = io_cmd(f, cmd);
			posts[nposts++] = p;
		}
	}
	for (unsigned int i = 0; i < nposts; i++) {
		post(f, &posts[f->reverse_completion ? nposts - 1 - i : i]);
	}
}

void
fake_nvme_release_held(struct fake_nvme *f)
{
	f->hold_io = false;
	for (unsigned int i = 0; i < f->nheld; i++) {
		struct post p = {f->held[i].sqid, f->held[i].cid, 0, 0};

		post(f, &p);
	}
	f->nheld = 0;
}
