/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Controller bring-up, IDENTIFY, queue count, shutdown, and their failure modes, against the
 * fake controller (tests/unit/bdev/nvme/fake_nvme.c).
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "fake_nvme.h"

static struct fake_nvme *f;
static struct nvme_ctrlr *c;

static void
setup(void)
{
	f = fake_nvme_new();
	c = calloc(1, sizeof(*c));
}

static void
teardown(void)
{
	free(c);
	fake_nvme_free(f);
}

static int
init(void)
{
	fake_nvme_power_on(f);
	return nvme_ctrlr_init(c, "fake", f->bar, &f->env, &f->table);
}

TestSuite(ctrlr, .init = setup, .fini = teardown);

Test(ctrlr, bring_up_sequence)
{
	uint32_t cc;

	cr_assert_eq(init(), 0);
	/* The controller saw AQA/ASQ/ACQ before EN and a CC with our entry and page sizes. */
	cc = f->cc_at_enable;
	cr_assert(cc & NVME_CC_EN);
	cr_assert_eq((cc >> 16) & 0xf, 6, "IOSQES");
	cr_assert_eq((cc >> 20) & 0xf, 4, "IOCQES");
	cr_assert_eq((cc >> 7) & 0xf, 0, "MPS 4 KiB");
	cr_assert_eq((cc >> 4) & 0x7, 0, "NVM command set");
	cr_assert_eq(fake_reg32(f, NVME_REG_AQA), ((NVME_ADMIN_DEPTH - 1u) << 16) |
							  (NVME_ADMIN_DEPTH - 1u));
	cr_assert_eq(fake_reg32(f, NVME_REG_INTMS), 0xffffffffu);
	/* Admin commands, in order: IDENTIFY CONTROLLER, SET FEATURES Number of Queues. */
	cr_assert_eq(f->nadmin, 2);
	cr_assert_eq(f->admin_ops[0], NVME_ADM_IDENTIFY);
	cr_assert_eq(f->admin_ops[1], NVME_ADM_SET_FEATURES);
	/* What IDENTIFY said. */
	cr_assert_str_eq(c->sn, "FAKE0001");
	cr_assert_str_eq(c->mn, "vhostd fake controller");
	cr_assert_str_eq(c->fr, "1.0");
	cr_assert_eq(c->max_xfer, 128u << 10, "MDTS 5 with 4 KiB pages");
	cr_assert_eq(c->nn, 1);
	cr_assert_eq(c->oncs, NVME_ONCS_DSM | NVME_ONCS_WRITE_ZEROES);
	cr_assert(c->vwc);
	cr_assert_eq(c->sgls, NVME_SGLS_ANY_ALIGN);
	cr_assert_eq(c->abort_limit, 4);
	cr_assert_eq(c->nioq, 8);
	cr_assert_eq(c->db_stride, 4);
	cr_assert_eq(c->mqes, 1024);
	cr_assert_eq(c->ready_timeout_ms, 2000);
	cr_assert_eq(nvme_ctrlr_state(c), NVME_CTRLR_READY);
	cr_assert_eq(f->violations, 0);
	cr_assert_eq(f->dma_errors, 0);

	nvme_ctrlr_fini(c);
	cr_assert(fake_reg32(f, NVME_REG_CC) & NVME_CC_SHN_NORMAL, "shutdown notification");
	cr_assert_not(fake_reg32(f, NVME_REG_CC) & NVME_CC_EN);
	cr_assert_eq(f->disables, 1);
	cr_assert_eq(f->nallocs, 0, "every DMA allocation freed");
}

Test(ctrlr, enabled_controller_is_disabled_first)
{
	f->start_enabled = true;
	cr_assert_eq(init(), 0);
	cr_assert_eq(f->disables, 1);
	nvme_ctrlr_fini(c);
}

Test(ctrlr, no_mdts_means_two_mib_commands)
{
	f->mdts = 0;
	f->sgls = NVME_SGLS_NONE;
	cr_assert_eq(init(), 0);
	cr_assert_eq(c->max_xfer, NVME_MAX_XFER);
	cr_assert_eq(c->sgls, NVME_SGLS_NONE);
	nvme_ctrlr_fini(c);
}

Test(ctrlr, never_ready_times_out_after_cap_to)
{
	f->ready_never = true;
	cr_assert_eq(init(), -ETIMEDOUT);
	cr_assert_geq(f->now_us, 2000 * 1000);
	cr_assert_lt(f->now_us, 2500 * 1000);
	cr_assert_eq(f->nallocs, 0);
}

Test(ctrlr, all_ones_is_no_device)
{
	memset(f->bar, 0xff, FAKE_BAR_SIZE);
	cr_assert_eq(nvme_ctrlr_init(c, "fake", f->bar, &f->env, &f->table), -ENODEV);
}

Test(ctrlr, refuses_big_pages_and_other_command_sets)
{
	f->cap |= 1ull << 48; /* MPSMIN 8 KiB */
	cr_assert_eq(init(), -ENOTSUP);
	memset(c, 0, sizeof(*c));
	f->cap &= ~(0xfull << 48);
	f->cap &= ~(0xffull << 37);
	f->cap |= 1ull << 44; /* admin-only controller */
	cr_assert_eq(init(), -ENOTSUP);
}

Test(ctrlr, fewer_queues_granted)
{
	struct nvme_ns ns;
	struct nvme_qpair *qp[3];

	f->queues_granted = 2;
	cr_assert_eq(init(), 0);
	cr_assert_eq(c->nioq, 2);
	cr_assert_eq(nvme_ctrlr_identify_ns(c, 1, &ns), 0);
	cr_assert_eq(nvme_qpair_create(c, &ns, 16, NULL, &qp[0]), 0);
	cr_assert_eq(nvme_qpair_create(c, &ns, 16, NULL, &qp[1]), 0);
	cr_assert_eq(nvme_qpair_id(qp[0]), 1);
	cr_assert_eq(nvme_qpair_id(qp[1]), 2);
	cr_assert_eq(nvme_qpair_create(c, &ns, 16, NULL, &qp[2]), -EBUSY);
	/* destroy deletes SQ before CQ; the id is free again */
	f->nadmin = 0;
	nvme_qpair_destroy(qp[0]);
	cr_assert_eq(f->nadmin, 2);
	cr_assert_eq(f->admin_ops[0], NVME_ADM_DELETE_SQ);
	cr_assert_eq(f->admin_ops[1], NVME_ADM_DELETE_CQ);
	cr_assert_not(f->sq[1].valid);
	cr_assert_not(f->cq[1].valid);
	cr_assert_eq(nvme_qpair_create(c, &ns, 16, NULL, &qp[2]), 0);
	cr_assert_eq(nvme_qpair_id(qp[2]), 1);
	cr_assert_eq(f->cq[1].size, 16);
	nvme_qpair_destroy(qp[1]);
	nvme_qpair_destroy(qp[2]);
	nvme_ctrlr_fini(c);
	cr_assert_eq(f->nallocs, 0);
	cr_assert_eq(f->violations, 0);
}

Test(ctrlr, identify_namespaces)
{
	struct nvme_ns ns;

	f->nn = 2;
	f->ns2_inactive = true;
	cr_assert_eq(init(), 0);
	cr_assert_eq(nvme_ctrlr_identify_ns(c, 1, &ns), 0);
	cr_assert_eq(ns.nsid, 1);
	cr_assert_eq(ns.block_size, 512);
	cr_assert_eq(ns.lba_shift, 9);
	cr_assert_eq(ns.nblocks, (64u << 20) / 512);
	cr_assert_not(ns.readonly);
	cr_assert_eq(nvme_ctrlr_identify_ns(c, 2, &ns), -ENOENT, "inactive");
	cr_assert_eq(nvme_ctrlr_identify_ns(c, 3, &ns), -ENOENT, "beyond NN");
	cr_assert_eq(nvme_ctrlr_identify_ns(c, 0, &ns), -ENOENT);
	nvme_ctrlr_fini(c);
}

Test(ctrlr, identify_formats)
{
	struct nvme_ns ns;

	f->lba_shift = 12;
	f->nsze = f->disk_size >> 12;
	cr_assert_eq(init(), 0);
	cr_assert_eq(nvme_ctrlr_identify_ns(c, 1, &ns), 0);
	cr_assert_eq(ns.block_size, 4096);
	f->ms = 8;
	cr_assert_eq(nvme_ctrlr_identify_ns(c, 1, &ns), -ENOTSUP, "metadata");
	f->ms = 0;
	f->lba_shift = 17;
	cr_assert_eq(nvme_ctrlr_identify_ns(c, 1, &ns), -ENOTSUP, "128 KiB blocks");
	nvme_ctrlr_fini(c);
}

Test(ctrlr, admin_timeout)
{
	struct nvme_cmd cmd;
	uint64_t t0;

	cr_assert_eq(init(), 0);
	c->admin_timeout_us = 50 * 1000;
	f->auto_step = false;      /* the controller stops answering */
	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = NVME_ADM_GET_FEATURES;
	t0 = f->now_us;
	pthread_mutex_lock(&c->admin_lock);
	cr_assert_eq(nvme_ctrlr_admin_sync(c, &cmd, NULL, 0), -ETIMEDOUT);
	pthread_mutex_unlock(&c->admin_lock);
	cr_assert_geq(f->now_us - t0, 50 * 1000);
	/* Its late completion is swallowed; the next command works. */
	f->auto_step = true;
	fake_nvme_step(f);
	cr_assert_eq(nvme_ctrlr_reset(c), 0);
	nvme_ctrlr_fini(c);
}

Test(ctrlr, admin_error_status)
{
	struct nvme_cmd cmd;

	cr_assert_eq(init(), 0);
	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = 0x7f; /* not an admin opcode the fake knows */
	pthread_mutex_lock(&c->admin_lock);
	cr_assert_eq(nvme_ctrlr_admin_sync(c, &cmd, NULL, 0), -EOPNOTSUPP);
	pthread_mutex_unlock(&c->admin_lock);
	nvme_ctrlr_fini(c);
}

Test(ctrlr, reset_and_failed_reset)
{
	cr_assert_eq(init(), 0);
	f->nadmin = 0;
	cr_assert_eq(nvme_ctrlr_reset(c), 0);
	cr_assert_eq(f->disables, 1);
	cr_assert_eq(c->epoch, 1);
	cr_assert_eq(f->admin_ops[0], NVME_ADM_SET_FEATURES, "queue count asked again");
	cr_assert_eq(nvme_ctrlr_state(c), NVME_CTRLR_READY);
	/* the controller does not come back: FAILED, bus mastering cut */
	f->ready_never = true;
	cr_assert_eq(nvme_ctrlr_reset(c), -ETIMEDOUT);
	cr_assert_eq(nvme_ctrlr_state(c), NVME_CTRLR_FAILED);
	cr_assert(f->dma_stopped);
	cr_assert_eq(nvme_ctrlr_reset(c), -EIO);
	nvme_ctrlr_fini(c);
	cr_assert_eq(f->nallocs, 0);
}
