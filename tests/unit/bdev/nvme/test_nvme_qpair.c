/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * I/O queue pairs against the fake controller: data round trips, completion phase and ring
 * wrap, out-of-order completions, queue-full back-pressure, MDTS splits that outlive the
 * queue depth, bounce buffers, unmapped buffers, FLUSH / WRITE ZEROES / DSM, status
 * translation, timeouts (ABORT, then controller reset with resubmission on every queue pair),
 * a controller that leaves the bus, and a device handed back to the kernel.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "fake_nvme.h"

#define MEM_SIZE (8u << 20)
#define MAX_TIO 512

struct tio {
	struct vhd_bdev_io io;
	struct iovec iov[8];
	int status;
	int ncomplete;
};

static struct fake_nvme *f;
static struct nvme_ctrlr *c;
static struct nvme_ns ns;
static uint8_t *mem;   /* "guest memory", DMA-mapped */
static unsigned int g_completed;

static void
complete(struct vhd_bdev_io *io, int status)
{
	struct tio *t = VHD_CONTAINER_OF(io, struct tio, io);

	t->status = status;
	t->ncomplete++;
	g_completed++;
}

static void
start(void)
{
	fake_nvme_power_on(f);
	cr_assert_eq(nvme_ctrlr_init(c, "fake", f->bar, &f->env, &f->table), 0);
	cr_assert_eq(nvme_ctrlr_identify_ns(c, 1, &ns), 0);
}

static void
setup(void)
{
	f = fake_nvme_new();
	c = calloc(1, sizeof(*c));
	mem = aligned_alloc(4096, MEM_SIZE);
	memset(mem, 0, MEM_SIZE);
	fake_nvme_map(f, mem, MEM_SIZE);
	g_completed = 0;
	/* short timeouts for the timeout tests; the clock is manual anyway */
	c->io_timeout_us = 1000 * 1000;
	c->abort_timeout_us = 500 * 1000;
	c->scan_interval_us = 10 * 1000;
}

static void
teardown(void)
{
	free(mem);
	free(c);
	fake_nvme_free(f);
}

TestSuite(qpair, .init = setup, .fini = teardown);

static struct nvme_qpair *
mkqp(uint16_t depth)
{
	struct nvme_qpair *qp;

	cr_assert_eq(nvme_qpair_create(c, &ns, depth, complete, &qp), 0);
	return qp;
}

static void
rw(struct tio *t, enum vhd_io_type type, uint64_t off, void *buf, size_t len)
{
	memset(t, 0, sizeof(*t));
	t->io.type = type;
	t->io.offset = off;
	t->io.length = len;
	t->iov[0].iov_base = buf;
	t->iov[0].iov_len = len;
	t->io.iov = t->iov;
	t->io.iovcnt = 1;
	t->status = 1;
}

static void
other(struct tio *t, enum vhd_io_type type, uint64_t off, uint64_t len, uint32_t flags)
{
	memset(t, 0, sizeof(*t));
	t->io.type = type;
	t->io.offset = off;
	t->io.length = len;
	t->io.flags = flags;
	t->status = 1;
}

/* One poll round as the worker runs it, plus the controller doing its part. */
static void
round_trip(struct nvme_qpair *qp)
{
	nvme_qpair_flush(qp);
	fake_nvme_step(f);
	nvme_qpair_poll(qp);
}

static void
run_until(struct nvme_qpair *qp, unsigned int completed)
{
	for (int i = 0; i < 10000 && g_completed < completed; i++) {
		round_trip(qp);
	}
	cr_assert_eq(g_completed, completed);
}

static void
fill(uint8_t *p, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++) {
		p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
	}
}

static void
check_clean(void)
{
	cr_assert_eq(f->violations, 0, "driver broke a controller rule");
	cr_assert_eq(f->dma_errors, 0, "DMA to an address the driver never mapped");
}

Test(qpair, write_read_round_trip)
{
	struct nvme_qpair *qp;
	struct tio w, r;

	start();
	qp = mkqp(16);
	fill(mem, 8192, 1);
	rw(&w, VHD_IO_WRITE, 4096, mem, 8192);
	cr_assert_eq(nvme_qpair_submit(qp, &w.io), 0);
	/* nothing reaches the controller before the doorbell */
	fake_nvme_step(f);
	cr_assert_eq(f->io_ops[NVME_OPC_WRITE], 0);
	run_until(qp, 1);
	cr_assert_eq(w.status, 0);
	cr_assert_eq(memcmp(f->disk + 4096, mem, 8192), 0);
	rw(&r, VHD_IO_READ, 4096, mem + 65536, 8192);
	cr_assert_eq(nvme_qpair_submit(qp, &r.io), 0);
	run_until(qp, 2);
	cr_assert_eq(r.status, 0);
	cr_assert_eq(memcmp(mem + 65536, mem, 8192), 0);
	cr_assert_eq(f->prp_cmds, 2);
	cr_assert_eq(nvme_qpair_outstanding(qp), 0);
	nvme_qpair_destroy(qp);
	nvme_ctrlr_fini(c);
	check_clean();
}

Test(qpair, phase_wrap_and_back_pressure)
{
	static struct tio t[MAX_TIO];
	struct nvme_qpair *qp;
	unsigned int sent = 0, rounds = 0;

	start();
	qp = mkqp(8); /* 7 commands in flight at most */
	/* fill the queue: the 8th is refused with -EAGAIN */
	for (int i = 0; i < 7; i++) {
		rw(&t[i], VHD_IO_WRITE, (uint64_t)i * 512, mem + (size_t)i * 4096, 512);
		cr_assert_eq(nvme_qpair_submit(qp, &t[i].io), 0);
	}
	rw(&t[7], VHD_IO_WRITE, 0, mem, 512);
	cr_assert_eq(nvme_qpair_submit(qp, &t[7].io), -EAGAIN);
	cr_assert_eq(nvme_qpair_outstanding(qp), 7);
	run_until(qp, 7);
	/* then 300 more, kept as busy as possible: the CQ wraps ~40 times */
	sent = 7;
	while (sent < 307 && rounds++ < 100000) {
		while (sent < 307) {
			struct tio *x = &t[sent % MAX_TIO];

			rw(x, (sent & 1) ? VHD_IO_READ : VHD_IO_WRITE, (sent % 64) * 4096ull,
			   mem + (sent % 64) * 4096, 4096);
			if (nvme_qpair_submit(qp, &x->io) != 0) {
				break;
			}
			sent++;
		}
		round_trip(qp);
	}
	run_until(qp, 307);
	for (int i = 0; i < 307; i++) {
		cr_assert_eq(t[i].status, 0);
		cr_assert_eq(t[i].ncomplete, 1);
	}
	nvme_qpair_destroy(qp);
	nvme_ctrlr_fini(c);
	check_clean();
}

Test(qpair, out_of_order_completions)
{
	static struct tio t[6];
	struct nvme_qpair *qp;

	start();
	qp = mkqp(16);
	f->reverse_completion = true;
	for (int i = 0; i < 6; i++) {
		fill(mem + (size_t)i * 4096, 4096, (unsigned int)i + 10);
		rw(&t[i], VHD_IO_WRITE, (uint64_t)i * 4096, mem + (size_t)i * 4096, 4096);
		cr_assert_eq(nvme_qpair_submit(qp, &t[i].io), 0);
	}
	run_until(qp, 6);
	for (int i = 0; i < 6; i++) {
		cr_assert_eq(t[i].status, 0);
		cr_assert_eq(memcmp(f->disk + (size_t)i * 4096, mem + (size_t)i * 4096, 4096), 0);
	}
	nvme_qpair_destroy(qp);
	nvme_ctrlr_fini(c);
	check_clean();
}

Test(qpair, mdts_split_beyond_queue_depth)
{
	struct nvme_qpair *qp;
	struct tio w, r, x;

	start();
	qp = mkqp(4); /* 3 slots for 8 commands of 128 KiB */
	fill(mem, 1 << 20, 3);
	rw(&w, VHD_IO_WRITE, 1 << 20, mem, 1 << 20);
	cr_assert_eq(nvme_qpair_submit(qp, &w.io), 0);
	cr_assert_eq(nvme_qpair_outstanding(qp), 3);
	/* another I/O waits behind the split one instead of overtaking it */
	rw(&x, VHD_IO_READ, 0, mem + (3 << 20), 4096);
	cr_assert_eq(nvme_qpair_submit(qp, &x.io), -EAGAIN);
	run_until(qp, 1);
	cr_assert_eq(w.status, 0);
	cr_assert_eq(f->io_ops[NVME_OPC_WRITE], 8);
	cr_assert_eq(f->max_nlb, 256, "128 KiB commands of 512-byte blocks");
	cr_assert_eq(memcmp(f->disk + (1 << 20), mem, 1 << 20), 0);
	rw(&r, VHD_IO_READ, 1 << 20, mem + (2 << 20), 1 << 20);
	cr_assert_eq(nvme_qpair_submit(qp, &r.io), 0);
	run_until(qp, 2);
	cr_assert_eq(memcmp(mem + (2 << 20), mem, 1 << 20), 0);
	nvme_qpair_destroy(qp);
	nvme_ctrlr_fini(c);
	check_clean();
}

/* Guest-style scatter list with a block split at a byte-aligned, mid-page boundary. */
static void
odd_layout(struct tio *t, enum vhd_io_type type, uint8_t *base)
{
	memset(t, 0, sizeof(*t));
	t->io.type = type;
	t->io.offset = 8192;
	t->io.length = 3 * 4096;
	t->iov[0] = (struct iovec){base + 1, 1000};
	t->iov[1] = (struct iovec){base + 20001, 3096};
	t->iov[2] = (struct iovec){base + 40960, 8192};
	t->io.iov = t->iov;
	t->io.iovcnt = 3;
	t->status = 1;
}

static void
odd_round_trip(void)
{
	static uint8_t expect[3 * 4096];
	struct nvme_qpair *qp;
	struct tio w, r;

	start();
	qp = mkqp(16);
	fill(mem, 65536, 5);
	odd_layout(&w, VHD_IO_WRITE, mem);
	memcpy(expect, mem + 1, 1000);
	memcpy(expect + 1000, mem + 20001, 3096);
	memcpy(expect + 4096, mem + 40960, 8192);
	cr_assert_eq(nvme_qpair_submit(qp, &w.io), 0);
	run_until(qp, 1);
	cr_assert_eq(w.status, 0);
	cr_assert_eq(memcmp(f->disk + 8192, expect, sizeof(expect)), 0);
	odd_layout(&r, VHD_IO_READ, mem + (1 << 20));
	cr_assert_eq(nvme_qpair_submit(qp, &r.io), 0);
	run_until(qp, 2);
	cr_assert_eq(r.status, 0);
	cr_assert_eq(memcmp(mem + (1 << 20) + 1, expect, 1000), 0);
	cr_assert_eq(memcmp(mem + (1 << 20) + 20001, expect + 1000, 3096), 0);
	cr_assert_eq(memcmp(mem + (1 << 20) + 40960, expect + 4096, 8192), 0);
	nvme_qpair_destroy(qp);
	nvme_ctrlr_fini(c);
	check_clean();
}

Test(qpair, odd_buffers_with_sgl)
{
	odd_round_trip();
	cr_assert_eq(f->sgl_cmds, 2);
	cr_assert_eq(f->prp_cmds, 0);
}

Test(qpair, odd_buffers_bounced_without_sgl)
{
	f->sgls = NVME_SGLS_NONE;
	odd_round_trip();
	cr_assert_eq(f->sgl_cmds, 0);
}

Test(qpair, odd_buffers_dword_sgl)
{
	f->sgls = NVME_SGLS_DWORD_ALIGN;
	odd_round_trip();
}

Test(qpair, mid_page_boundary_without_sgl_uses_prp_pieces)
{
	struct nvme_qpair *qp;
	struct tio w;

	f->sgls = NVME_SGLS_NONE;
	start();
	qp = mkqp(16);
	fill(mem, 1 << 20, 9);
	memset(&w, 0, sizeof(w));
	w.io.type = VHD_IO_WRITE;
	w.io.offset = 0;
	w.io.length = 4096;
	w.iov[0] = (struct iovec){mem, 2048};
	w.iov[1] = (struct iovec){mem + 65536, 2048};
	w.io.iov = w.iov;
	w.io.iovcnt = 2;
	cr_assert_eq(nvme_qpair_submit(qp, &w.io), 0);
	run_until(qp, 1);
	cr_assert_eq(w.status, 0);
	cr_assert_eq(f->io_ops[NVME_OPC_WRITE], 2, "cut at the boundary, no bounce");
	cr_assert_eq(memcmp(f->disk, mem, 2048), 0);
	cr_assert_eq(memcmp(f->disk + 2048, mem + 65536, 2048), 0);
	nvme_qpair_destroy(qp);
	nvme_ctrlr_fini(c);
	check_clean();
}

Test(qpair, unmapped_buffer_fails_cleanly)
{
	uint8_t *stray = aligned_alloc(4096, 8192);
	struct nvme_qpair *qp;
	struct tio w;

	start();
	qp = mkqp(16);
	rw(&w, VHD_IO_WRITE, 0, stray, 4096);
	cr_assert_eq(nvme_qpair_submit(qp, &w.io), -EFAULT);
	/* half inside, half outside the mapping */
	rw(&w, VHD_IO_READ, 0, mem + MEM_SIZE - 2048, 4096);
	cr_assert_eq(nvme_qpair_submit(qp, &w.io), -EFAULT);
	round_trip(qp);
	cr_assert_eq(f->io_ops[NVME_OPC_WRITE] + f->io_ops[NVME_OPC_READ], 0);
	cr_assert_eq(nvme_qpair_outstanding(qp), 0);
	nvme_qpair_destroy(qp);
	nvme_ctrlr_fini(c);
	check_clean();
	free(stray);
}

Test(qpair, flush_write_zeroes_discard)
{
	struct nvme_qpair *qp;
	struct tio t;

	start();
	qp = mkqp(16);
	memset(f->disk, 0xaa, f->disk_size);
	other(&t, VHD_IO_FLUSH, 0, 0, 0);
	cr_assert_eq(nvme_qpair_submit(qp, &t.io), 0);
	run_until(qp, 1);
	cr_assert_eq(t.status, 0);
	cr_assert_eq(f->io_ops[NVME_OPC_FLUSH], 1);
	/* the whole disk (131072 blocks): two WRITE ZEROES of at most 65536 blocks */
	other(&t, VHD_IO_WRITE_ZEROES, 0, f->disk_size, VHD_IO_F_UNMAP);
	cr_assert_eq(nvme_qpair_submit(qp, &t.io), 0);
	run_until(qp, 2);
	cr_assert_eq(t.status, 0);
	cr_assert_eq(f->io_ops[NVME_OPC_WRITE_ZEROES], 2);
	cr_assert_eq(f->deac_cmds, 2);
	cr_assert_eq(f->disk[0], 0);
	cr_assert_eq(f->disk[f->disk_size - 1], 0);
	memset(f->disk, 0xaa, f->disk_size);
	other(&t, VHD_IO_DISCARD, 1 << 20, 1 << 20, 0);
	cr_assert_eq(nvme_qpair_submit(qp, &t.io), 0);
	run_until(qp, 3);
	cr_assert_eq(t.status, 0);
	cr_assert_eq(f->io_ops[NVME_OPC_DSM], 1);
	cr_assert_eq(f->disk[(1 << 20) - 1], 0xaa);
	cr_assert_eq(f->disk[1 << 20], 0);
	cr_assert_eq(f->disk[(2 << 20) - 1], 0);
	cr_assert_eq(f->disk[2 << 20], 0xaa);
	nvme_qpair_destroy(qp);
	nvme_ctrlr_fini(c);
	check_clean();
}

Test(qpair, write_zeroes_emulated_from_the_zero_page)
{
	struct nvme_qpair *qp;
	struct tio t;

	f->oncs = 0;
	start();
	qp = mkqp(16);
	memset(f->disk, 0xaa, f->disk_size);
	other(&t, VHD_IO_WRITE_ZEROES, 4096, 300 << 10, 0);
	cr_assert_eq(nvme_qpair_submit(qp, &t.io), 0);
	run_until(qp, 1);
	cr_assert_eq(t.status, 0);
	cr_assert_eq(f->io_ops[NVME_OPC_WRITE_ZEROES], 0);
	cr_assert_eq(f->io_ops[NVME_OPC_WRITE], 3, "MDTS-sized writes");
	cr_assert_eq(f->disk[4095], 0xaa);
	for (size_t i = 4096; i < 4096 + (300 << 10); i += 511) {
		cr_assert_eq(f->disk[i], 0);
	}
	cr_assert_eq(f->disk[4096 + (300 << 10)], 0xaa);
	/* no DSM without ONCS: refused up front */
	other(&t, VHD_IO_DISCARD, 0, 4096, 0);
	cr_assert_eq(nvme_qpair_submit(qp, &t.io), -EOPNOTSUPP);
	nvme_qpair_destroy(qp);
	nvme_ctrlr_fini(c);
	check_clean();
}

Test(qpair, status_translation)
{
	struct nvme_qpair *qp;
	struct tio t;

	start();
	qp = mkqp(16);
	f->inject_status = NVME_STATUS(NVME_SCT_MEDIA, NVME_SC_UNRECOVERED_READ);
	rw(&t, VHD_IO_READ, 0, mem, 4096);
	cr_assert_eq(nvme_qpair_submit(qp, &t.io), 0);
	run_until(qp, 1);
	cr_assert_eq(t.status, -EIO);
	f->inject_status = NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_LBA_OUT_OF_RANGE);
	rw(&t, VHD_IO_WRITE, 0, mem, 4096);
	cr_assert_eq(nvme_qpair_submit(qp, &t.io), 0);
	run_until(qp, 2);
	cr_assert_eq(t.status, -ERANGE);
	/* a split I/O whose middle command fails reports the error once, after all of them */
	f->inject_status = NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_NS_WRITE_PROTECTED);
	rw(&t, VHD_IO_WRITE, 0, mem, 512 << 10);
	cr_assert_eq(nvme_qpair_submit(qp, &t.io), 0);
	run_until(qp, 3);
	cr_assert_eq(t.status, -EROFS);
	cr_assert_eq(t.ncomplete, 1);
	nvme_qpair_destroy(qp);
	nvme_ctrlr_fini(c);
	check_clean();
}

/* Advance the manual clock in steps, running poll rounds. */
static void
advance(struct nvme_qpair *qp, uint64_t us)
{
	for (uint64_t t = 0; t < us; t += 5000) {
		f->now_us += 5000;
		round_trip(qp);
	}
}

Test(qpair, timeout_is_aborted)
{
	struct nvme_qpair *qp;
	struct tio t;

	start();
	qp = mkqp(16);
	f->hold_io = true;
	rw(&t, VHD_IO_READ, 0, mem, 4096);
	cr_assert_eq(nvme_qpair_submit(qp, &t.io), 0);
	advance(qp, 900 * 1000);
	cr_assert_eq(t.status, 1, "still waiting before the timeout");
	f->nadmin = 0;
	advance(qp, 200 * 1000);
	cr_assert_eq(f->admin_ops[0], NVME_ADM_ABORT);
	/* the fake aborted it: completion with "abort requested" -> -ETIMEDOUT */
	cr_assert_eq(t.status, -ETIMEDOUT);
	cr_assert_eq(c->ntimeouts, 1);
	cr_assert_eq(c->naborts, 1);
	cr_assert_eq(f->reset_requests, 0);
	nvme_qpair_destroy(qp);
	nvme_ctrlr_fini(c);
	check_clean();
}

Test(qpair, failed_abort_resets_and_other_queues_keep_their_io)
{
	struct nvme_qpair *qa, *qb;
	struct tio stuck, young, b1;

	start();
	qa = mkqp(16);
	qb = mkqp(16);
	f->hold_io = true;
	f->ignore_abort = true;
	rw(&stuck, VHD_IO_READ, 0, mem, 4096);
	cr_assert_eq(nvme_qpair_submit(qa, &stuck.io), 0);
	advance(qa, 1100 * 1000);       /* past io_timeout: ABORT sent, ignored */
	cr_assert_eq(stuck.status, 1);
	/* meanwhile younger I/O on this pair and on another lcore's pair */
	fill(mem + 8192, 4096, 21);
	fill(mem + 16384, 4096, 22);
	rw(&young, VHD_IO_WRITE, 8192, mem + 8192, 4096);
	cr_assert_eq(nvme_qpair_submit(qa, &young.io), 0);
	rw(&b1, VHD_IO_WRITE, 16384, mem + 16384, 4096);
	cr_assert_eq(nvme_qpair_submit(qb, &b1.io), 0);
	nvme_qpair_flush(qb);
	advance(qa, 600 * 1000);        /* past abort_timeout */
	cr_assert_eq(f->reset_requests, 1);
	cr_assert_eq(c->reset_requested, 1);
	/* the control thread's part */
	f->hold_io = false;
	f->ignore_abort = false;
	cr_assert_eq(nvme_ctrlr_reset(c), 0);
	cr_assert_eq(f->disables, 1);
	/* each pair notices the new epoch on its next poll, on its own thread */
	run_until(qa, 2);
	cr_assert_eq(stuck.status, -ETIMEDOUT);
	cr_assert_eq(young.status, 0, "resubmitted after the reset");
	for (int i = 0; i < 100 && b1.ncomplete == 0; i++) {
		round_trip(qb);
	}
	cr_assert_eq(b1.status, 0, "the other queue pair lost nothing");
	cr_assert_eq(memcmp(f->disk + 8192, mem + 8192, 4096), 0);
	cr_assert_eq(memcmp(f->disk + 16384, mem + 16384, 4096), 0);
	cr_assert(f->sq[nvme_qpair_id(qa)].valid && f->sq[nvme_qpair_id(qb)].valid,
		  "queues re-created");
	/* and they work as before */
	rw(&young, VHD_IO_READ, 16384, mem + 65536, 4096);
	cr_assert_eq(nvme_qpair_submit(qb, &young.io), 0);
	for (int i = 0; i < 100 && young.ncomplete == 0; i++) {
		round_trip(qb);
	}
	cr_assert_eq(young.status, 0);
	nvme_qpair_destroy(qa);
	nvme_qpair_destroy(qb);
	nvme_ctrlr_fini(c);
	check_clean();
}

Test(qpair, submit_during_reset_is_back_pressure)
{
	struct nvme_qpair *qp;
	struct tio t;

	start();
	qp = mkqp(16);
	__atomic_store_n(&c->state, NVME_CTRLR_RESETTING, __ATOMIC_SEQ_CST);
	rw(&t, VHD_IO_READ, 0, mem, 4096);
	cr_assert_eq(nvme_qpair_submit(qp, &t.io), -EAGAIN);
	__atomic_store_n(&c->state, NVME_CTRLR_READY, __ATOMIC_SEQ_CST);
	/* a reset happened while the pair was idle: it re-creates its queues on the next poll */
	cr_assert_eq(nvme_ctrlr_reset(c), 0);
	cr_assert_eq(nvme_qpair_submit(qp, &t.io), -EAGAIN);
	nvme_qpair_poll(qp);
	cr_assert_eq(nvme_qpair_submit(qp, &t.io), 0);
	run_until(qp, 1);
	cr_assert_eq(t.status, 0);
	nvme_qpair_destroy(qp);
	nvme_ctrlr_fini(c);
	check_clean();
}

Test(qpair, device_leaves_the_bus)
{
	struct nvme_qpair *qp;
	struct tio a, b;

	start();
	qp = mkqp(16);
	f->hold_io = true;
	rw(&a, VHD_IO_WRITE, 0, mem, 4096);
	cr_assert_eq(nvme_qpair_submit(qp, &a.io), 0);
	round_trip(qp);
	f->gone = true;                   /* every register reads all ones now */
	fake_nvme_step(f);
	advance(qp, 50 * 1000);           /* a timeout scan reads CSTS */
	cr_assert_eq(nvme_ctrlr_state(c), NVME_CTRLR_GONE);
	cr_assert_eq(a.status, -ENODEV);
	rw(&b, VHD_IO_READ, 0, mem, 4096);
	cr_assert_eq(nvme_qpair_submit(qp, &b.io), -ENODEV);
	nvme_qpair_destroy(qp);
	nvme_ctrlr_fini(c);
	cr_assert_eq(f->nallocs, 0);
	check_clean();
}

Test(qpair, device_handed_back)
{
	struct nvme_qpair *qp;
	struct tio a;

	start();
	qp = mkqp(16);
	f->hold_io = true;
	rw(&a, VHD_IO_WRITE, 0, mem, 4096);
	cr_assert_eq(nvme_qpair_submit(qp, &a.io), 0);
	round_trip(qp);
	/* the monitor thread's part: quiesce (controller disabled, DMA cut), then gone */
	nvme_ctrlr_quiesce(c);
	cr_assert(f->dma_stopped);
	cr_assert_eq(f->disables, 1);
	cr_assert_eq(a.status, 1, "nothing completes before DMA is known to be stopped");
	nvme_qpair_poll(qp);
	cr_assert_eq(a.status, 1);
	nvme_ctrlr_set_gone(c, "test");
	nvme_qpair_poll(qp);
	cr_assert_eq(a.status, -ENODEV);
	nvme_qpair_destroy(qp);
	nvme_ctrlr_fini(c);
	check_clean();
}

Test(qpair, fatal_status_asks_for_reset)
{
	struct nvme_qpair *qp;
	struct tio a;

	start();
	qp = mkqp(16);
	f->hold_io = true;
	rw(&a, VHD_IO_READ, 0, mem, 4096);
	cr_assert_eq(nvme_qpair_submit(qp, &a.io), 0);
	round_trip(qp);
	fake_set_reg32(f, NVME_REG_CSTS, fake_reg32(f, NVME_REG_CSTS) | NVME_CSTS_CFS);
	f->now_us += 20 * 1000;
	nvme_qpair_poll(qp);
	cr_assert_eq(f->reset_requests, 1);
	fake_set_reg32(f, NVME_REG_CSTS, fake_reg32(f, NVME_REG_CSTS) & ~NVME_CSTS_CFS);
	f->hold_io = false;
	cr_assert_eq(nvme_ctrlr_reset(c), 0);
	run_until(qp, 1);
	cr_assert_eq(a.status, 0, "resubmitted after the reset");
	nvme_qpair_destroy(qp);
	nvme_ctrlr_fini(c);
	check_clean();
}

Test(qpair, stray_completion_is_ignored)
{
	struct nvme_qpair *qp;
	struct tio a;
	volatile struct nvme_cpl *e;

	start();
	qp = mkqp(16);
	/* a completion for a command id that is not in flight */
	e = (volatile struct nvme_cpl *)qp->cq;
	e->cid = 9;
	e->status = 1;
	nvme_qpair_poll(qp);
	cr_assert_eq(g_completed, 0);
	/* keep the fake's view of the CQ in step with the entry it did not post */
	f->cq[nvme_qpair_id(qp)].tail = 1;
	rw(&a, VHD_IO_READ, 0, mem, 4096);
	cr_assert_eq(nvme_qpair_submit(qp, &a.io), 0);
	run_until(qp, 1);
	cr_assert_eq(a.status, 0);
	nvme_qpair_destroy(qp);
	nvme_ctrlr_fini(c);
	check_clean();
}
