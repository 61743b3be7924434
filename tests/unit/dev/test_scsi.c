/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The virtio-scsi device (src/dev/scsi/scsi.c) on a fake guest: LUN addressing, hostile
 * framing, task management (with backend I/O held in flight), the event queue, runtime LUN
 * changes, and garbage requests.
 *
 * LUNs: 0:0 and 0:1 on hold bdevs (I/O can be kept in flight), 3:0 on a RAM bdev.
 */
#include <stdlib.h>

#include <criterion/criterion.h>

#include "scsi_harness.h"
#include "../../../src/dev/scsi/scsi_internal.h"

#define CDB(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})

static struct hold_bdev *g_h0, *g_h1;
static struct vhd_bdev *g_m3, *g_spare;

static void
make_bdevs(void)
{
	g_h0 = hold_bdev_create("h0", 1u << 20, 512, false);
	g_h1 = hold_bdev_create("h1", 1u << 20, 512, false);
	g_m3 = sh_malloc_bdev("m3", 1u << 20, 512);
	g_spare = sh_malloc_bdev("spare", 1u << 20, 4096);
}

static void
setup_features(uint64_t features)
{
	make_bdevs();
	struct vhd_scsi_lun_def luns[] = {
		{0, 0, &g_h0->base, false},
		{0, 1, &g_h1->base, false},
		{3, 0, g_m3, false},
	};
	sh_setup(luns, VHD_ARRAY_SIZE(luns), features);
}

static void
setup(void)
{
	setup_features(sh_default_features());
}

static void
setup_no_hotplug(void)
{
	setup_features(sh_default_features() & ~(1ull << VIRTIO_SCSI_F_HOTPLUG) &
		       ~(1ull << VIRTIO_SCSI_F_CHANGE));
}

static void
teardown(void)
{
	g_h0->hold = false;
	g_h1->hold = false;
	hold_release(g_h0);
	hold_release(g_h1);
	sh_teardown();
	vhd_bdev_destroy(&g_h0->base);
	vhd_bdev_destroy(&g_h1->base);
	vhd_bdev_destroy(g_m3);
	vhd_bdev_destroy(g_spare);
}

TestSuite(scsi, .init = setup, .fini = teardown);

static const uint8_t INQ[] = {0x12, 0, 0, 0, 96, 0};
static const uint8_t TUR[] = {0x00, 0, 0, 0, 0, 0};
static const uint8_t READ1[] = {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0};

static void
expect(const struct sh_res *r, const char *want)
{
	cr_assert_str_eq(sh_outcome(r), want);
}

/* Submit with a raw LUN field, run, collect. */
static struct sh_res
cmd_at(const uint8_t *lun, const uint8_t *cdb, size_t cdb_len, size_t in_len)
{
	struct sh_io io = sh_submit_q(0, lun, 1, cdb, cdb_len, NULL, 0, in_len);
	struct sh_res r;

	sh_run();
	cr_assert(sh_result(&io, &r));
	return r;
}

/* ---- addressing ---- */

Test(scsi, lun_linux_and_windows_forms)
{
	uint8_t f[8];
	struct sh_res r;

	sh_lun(f, 0, 1, false);
	cr_assert_eq(f[2], 0x40);
	r = cmd_at(f, INQ, sizeof(INQ), 96);
	expect(&r, "GOOD");
	cr_assert_eq(r.in[0], 0x00);
	sh_lun(f, 0, 1, true);
	r = cmd_at(f, INQ, sizeof(INQ), 96);
	expect(&r, "GOOD");
	cr_assert_eq(r.in[0], 0x00);
	r = cmd_at(f, CDB(0x12, 1, 0x80, 0, 64, 0), 64);
	cr_assert_eq(memcmp(r.in + 4, "scsi0-t0-l1", 11), 0);
}

Test(scsi, absent_target_is_bad_target)
{
	uint8_t f[8];
	struct sh_res r;

	sh_lun(f, 1, 0, false);
	r = cmd_at(f, INQ, sizeof(INQ), 96);
	cr_assert_eq(r.resp.response, VIRTIO_SCSI_S_BAD_TARGET);
	cr_assert_eq(r.resp.resid, 96);
	cr_assert_eq(r.used_len, 108);
	sh_lun(f, 255, 0, false);
	r = cmd_at(f, TUR, sizeof(TUR), 0);
	cr_assert_eq(r.resp.response, VIRTIO_SCSI_S_BAD_TARGET);
	/* lun[0] must be 1. */
	sh_lun(f, 0, 0, false);
	f[0] = 2;
	r = cmd_at(f, TUR, sizeof(TUR), 0);
	cr_assert_eq(r.resp.response, VIRTIO_SCSI_S_BAD_TARGET);
}

Test(scsi, absent_lun_on_present_target)
{
	uint8_t f[8];
	struct sh_res r;

	sh_lun(f, 0, 2, false);
	r = cmd_at(f, INQ, sizeof(INQ), 96);
	expect(&r, "GOOD");
	cr_assert_eq(r.in[0], 0x7f);
	r = cmd_at(f, TUR, sizeof(TUR), 0);
	expect(&r, "05/25/00");
	r = cmd_at(f, READ1, sizeof(READ1), 512);
	expect(&r, "05/25/00");
	r = cmd_at(f, CDB(0xff, 0, 0, 0, 0, 0), 0);
	expect(&r, "05/25/00");
	/* REQUEST SENSE: GOOD, with LOGICAL UNIT NOT SUPPORTED as data. */
	r = cmd_at(f, CDB(0x03, 0, 0, 0, 18, 0), 18);
	expect(&r, "GOOD");
	cr_assert_eq(r.in[2], 0x05);
	cr_assert_eq(r.in[12], 0x25);
	/* REPORT LUNS answers for the target. */
	r = cmd_at(f, CDB(0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0), 64);
	expect(&r, "GOOD");
	cr_assert_eq(scsi_be32(r.in), 16);
	/* VPD: only the list of pages. */
	r = cmd_at(f, CDB(0x12, 1, 0, 0, 64, 0), 64);
	expect(&r, "GOOD");
	cr_assert_eq(r.in[0], 0x7f);
	cr_assert_eq(r.in[3], 1);
	r = cmd_at(f, CDB(0x12, 1, 0x80, 0, 64, 0), 64);
	expect(&r, "05/24/00");
}

Test(scsi, luns_we_cannot_have_are_absent)
{
	uint8_t f[8];
	struct sh_res r;

	/* Second level, logical unit / extended methods, peripheral with a bus number. */
	sh_lun(f, 0, 0, false);
	f[4] = 1;
	r = cmd_at(f, INQ, sizeof(INQ), 96);
	cr_assert_eq(r.in[0], 0x7f);
	sh_lun(f, 0, 0, false);
	f[2] = 0x80;
	r = cmd_at(f, INQ, sizeof(INQ), 96);
	cr_assert_eq(r.in[0], 0x7f);
	sh_lun(f, 0, 0, true);
	f[2] = 0x01;
	r = cmd_at(f, TUR, sizeof(TUR), 0);
	expect(&r, "05/25/00");
	/* LUN 16383 (highest flat) is addressable, just absent. */
	sh_lun(f, 0, 16383, false);
	cr_assert_eq(f[2], 0x7f);
	r = cmd_at(f, TUR, sizeof(TUR), 0);
	expect(&r, "05/25/00");
}

Test(scsi, report_luns_well_known_lu)
{
	uint8_t f[8] = {1, 0, 0xc1, 0x01, 0, 0, 0, 0};
	struct sh_res r;

	r = cmd_at(f, CDB(0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0), 64);
	expect(&r, "GOOD");
	cr_assert_eq(scsi_be32(r.in), 16);
	r = cmd_at(f, INQ, sizeof(INQ), 96);
	cr_assert_eq(r.in[0], 0x1e);
	r = cmd_at(f, TUR, sizeof(TUR), 0);
	expect(&r, "GOOD");
	r = cmd_at(f, READ1, sizeof(READ1), 512);
	expect(&r, "05/20/00");
}

/* ---- framing ---- */

static struct virtio_scsi_cmd_req *
make_req(uint32_t target, uint32_t lun, const uint8_t *cdb, size_t cdb_len)
{
	struct virtio_scsi_cmd_req *req = sh_alloc(sizeof(*req) + 4096);

	sh_lun(req->lun, target, lun, false);
	req->tag = 42;
	memcpy(req->cdb, cdb, cdb_len);
	return req;
}

Test(scsi, any_layout_merged_header_and_data)
{
	/* [req + data-out] in one descriptor, [resp + data-in] in one descriptor. */
	struct virtio_scsi_cmd_req *req = make_req(0, 0, CDB(0x2a, 0, 0, 0, 0, 4, 0, 0, 2, 0));
	uint8_t *rd = sh_alloc(108 + 1024);
	struct sh_seg segs[2];
	uint16_t head;
	uint32_t len;

	for (int i = 0; i < 1024; i++) {
		((uint8_t *)req)[51 + i] = (uint8_t)(i * 3);
	}
	segs[0] = (struct sh_seg){req, 51 + 1024, false, 0};
	segs[1] = (struct sh_seg){rd, 108, true, 0};
	head = sh_post(2, segs, 2, false);
	sh_run();
	cr_assert(sh_done(2, head, &len));
	cr_assert_eq(((struct virtio_scsi_cmd_resp *)rd)->response, 0);
	cr_assert_eq(((struct virtio_scsi_cmd_resp *)rd)->status, 0);
	cr_assert_eq(memcmp(g_h0->data + 4 * 512, (uint8_t *)req + 51, 1024), 0);

	req = make_req(0, 0, CDB(0x28, 0, 0, 0, 0, 4, 0, 0, 2, 0));
	memset(rd, 0xee, 108 + 1024);
	segs[0] = (struct sh_seg){req, 51, false, 0};
	segs[1] = (struct sh_seg){rd, 108 + 1024, true, 0};
	head = sh_post(2, segs, 2, false);
	sh_run();
	cr_assert(sh_done(2, head, &len));
	cr_assert_eq(len, 108 + 1024);
	cr_assert_eq(((struct virtio_scsi_cmd_resp *)rd)->response, 0);
	cr_assert_eq(((struct virtio_scsi_cmd_resp *)rd)->resid, 0);
	cr_assert_eq(memcmp(rd + 108, g_h0->data + 4 * 512, 1024), 0);
}

Test(scsi, any_layout_split_header_and_response_indirect)
{
	/* The header in 3 pieces, the response in 3 pieces, data-in in 2; indirect table. */
	struct virtio_scsi_cmd_req *req = make_req(0, 0, CDB(0x28, 0, 0, 0, 0, 1, 0, 0, 2, 0));
	uint8_t *resp = sh_alloc(108);
	uint8_t *d1 = sh_alloc(100), *d2 = sh_alloc(1024 - 100);
	struct sh_seg segs[] = {
		{req, 8, false, 0},
		{(uint8_t *)req + 8, 20, false, 0},
		{(uint8_t *)req + 28, 23, false, 0},
		{resp, 4, true, 0},
		{resp + 4, 100, true, 0},
		{resp + 104, 4, true, 0},
		{d1, 100, true, 0},
		{d2, 1024 - 100, true, 0},
	};
	uint16_t head;
	uint32_t len;

	memset(g_h0->data + 512, 0x77, 1024);
	g_h0->data[512 + 100] = 0x11;
	head = sh_post(3, segs, VHD_ARRAY_SIZE(segs), true);
	sh_run();
	cr_assert(sh_done(3, head, &len));
	cr_assert_eq(len, 108 + 1024);
	cr_assert_eq(((struct virtio_scsi_cmd_resp *)resp)->status, 0);
	cr_assert_eq(d1[99], 0x77);
	cr_assert_eq(d2[0], 0x11);
	cr_assert_eq(d2[923], 0x77);
}

Test(scsi, short_request_header_fails)
{
	struct virtio_scsi_cmd_req *req = make_req(0, 0, TUR, sizeof(TUR));
	struct virtio_scsi_cmd_resp *resp = sh_alloc(sizeof(*resp));
	struct sh_seg segs[2] = {{req, 40, false, 0}, {resp, 108, true, 0}};
	uint16_t head = sh_post(2, segs, 2, false);
	uint32_t len;

	sh_run();
	cr_assert(sh_done(2, head, &len));
	cr_assert_eq(len, 108);
	cr_assert_eq(resp->response, VIRTIO_SCSI_S_FAILURE);
	cr_assert(!g_sh.q[2].vq.broken);
}

Test(scsi, short_response_breaks_the_queue_only)
{
	struct virtio_scsi_cmd_req *req = make_req(0, 0, TUR, sizeof(TUR));
	uint8_t *resp = sh_alloc(108);
	struct sh_seg segs[2] = {{req, 51, false, 0}, {resp, 100, true, 0}};
	struct sh_res r;

	sh_post(2, segs, 2, false);
	sh_run();
	cr_assert(g_sh.q[2].vq.broken);
	cr_assert_eq(resp[0], 0, "nothing written");
	/* A chain with no writable buffer at all, on the other request queue. */
	segs[1] = (struct sh_seg){req, 10, false, 0};
	sh_post(3, segs, 2, false);
	sh_run();
	cr_assert(g_sh.q[3].vq.broken);
	/* The controller itself still works on a fresh queue. */
	sh_queue_stop(2);
	sh_queue_start(2);
	r = sh_cmd(0, 0, TUR, sizeof(TUR), NULL, 0, 0);
	expect(&r, "GOOD");
}

Test(scsi, data_in_both_directions_fails)
{
	struct sh_res r = sh_cmd(0, 0, READ1, sizeof(READ1), (uint8_t[512]){0}, 512, 512);

	cr_assert_eq(r.resp.response, VIRTIO_SCSI_S_FAILURE);
	cr_assert_eq(r.resp.resid, 1024);
	cr_assert_eq(r.used_len, 108);
	cr_assert_eq(g_h0->count[VHD_IO_READ], 0);
}

Test(scsi, buffers_outside_guest_memory)
{
	struct virtio_scsi_cmd_req *req = make_req(0, 0, READ1, sizeof(READ1));
	struct virtio_scsi_cmd_resp *resp = sh_alloc(sizeof(*resp));
	struct sh_seg segs[3] = {
		{req, 51, false, 0},
		{resp, 108, true, 0},
		{NULL, 512, true, SH_MEM_SIZE - 256}, /* straddles the end of guest memory */
	};
	uint16_t head = sh_post(2, segs, 3, false);
	uint32_t len;

	sh_run();
	cr_assert(sh_done(2, head, &len));
	cr_assert_eq(resp->response, VIRTIO_SCSI_S_FAILURE);
	cr_assert_eq(g_h0->count[VHD_IO_READ], 0);
	/* A header outside guest memory: FAILURE too. */
	segs[0] = (struct sh_seg){NULL, 51, false, 1ull << 40};
	head = sh_post(2, segs, 2, false);
	sh_run();
	cr_assert(sh_done(2, head, &len));
	cr_assert_eq(resp->response, VIRTIO_SCSI_S_FAILURE);
	/* The response outside guest memory: nothing can be answered, the queue breaks. */
	segs[0] = (struct sh_seg){req, 51, false, 0};
	segs[1] = (struct sh_seg){NULL, 108, true, 1ull << 40};
	sh_post(2, segs, 2, false);
	sh_run();
	cr_assert(g_sh.q[2].vq.broken);
}

Test(scsi, more_segments_than_iovecs_fail_without_breaking_the_queue)
{
	/* 140 x 512-byte data segments (an indirect table): more than a task's iov[] holds. For
	 * a WRITE the response comes after them, outside iov[]. */
	enum { NSEG = 140 };
	struct sh_seg segs[NSEG + 2];
	struct virtio_scsi_cmd_req *req;
	struct virtio_scsi_cmd_resp *resp = sh_alloc(sizeof(*resp));
	uint16_t head;
	uint32_t len;
	struct sh_res r;

	req = make_req(0, 0, CDB(0x2a, 0, 0, 0, 0, 0, 0, 0, NSEG, 0));
	segs[0] = (struct sh_seg){req, 51, false, 0};
	for (int i = 0; i < NSEG; i++) {
		segs[1 + i] = (struct sh_seg){sh_alloc(512), 512, false, 0};
	}
	segs[NSEG + 1] = (struct sh_seg){resp, 108, true, 0};
	head = sh_post(2, segs, NSEG + 2, true);
	sh_run();
	cr_assert(sh_done(2, head, &len));
	cr_assert_eq(len, 108);
	cr_assert_eq(resp->response, VIRTIO_SCSI_S_FAILURE);
	cr_assert_eq(resp->resid, NSEG * 512);
	/* A READ: response first, data-in after. */
	req = make_req(0, 0, CDB(0x28, 0, 0, 0, 0, 0, 0, 0, NSEG, 0));
	segs[0] = (struct sh_seg){req, 51, false, 0};
	segs[1] = (struct sh_seg){resp, 108, true, 0};
	for (int i = 0; i < NSEG; i++) {
		segs[2 + i] = (struct sh_seg){sh_alloc(512), 512, true, 0};
	}
	memset(resp, 0xee, sizeof(*resp));
	head = sh_post(2, segs, NSEG + 2, true);
	sh_run();
	cr_assert(sh_done(2, head, &len));
	cr_assert_eq(resp->response, VIRTIO_SCSI_S_FAILURE);
	cr_assert(!g_sh.q[2].vq.broken);
	cr_assert_eq(g_h0->count[VHD_IO_READ] + g_h0->count[VHD_IO_WRITE], 0);
	r = sh_cmd(0, 0, TUR, sizeof(TUR), NULL, 0, 0);
	expect(&r, "GOOD");
}

/* ---- task management ---- */

static uint8_t
tmf_response(const struct sh_io *io)
{
	uint32_t len;

	cr_assert(sh_done(0, io->head, &len), "TMF not complete");
	cr_assert_eq(len, 1);
	return *io->tmf_resp;
}

static struct sh_io
submit_tagged(uint32_t target, uint32_t lun, uint64_t tag, const uint8_t *cdb, size_t cdb_len,
	      size_t in_len)
{
	uint8_t f[8];

	sh_lun(f, target, lun, false);
	return sh_submit_q((int)tag, f, tag, cdb, cdb_len, NULL, 0, in_len);
}

static bool
io_done(const struct sh_io *io)
{
	return sh_done(io->qi, io->head, NULL);
}

Test(scsi, abort_task_waits_for_the_running_command)
{
	struct sh_io cmd, other, tmf;
	struct sh_res r;

	g_h0->hold = true;
	cmd = submit_tagged(0, 0, 77, READ1, sizeof(READ1), 512);
	other = submit_tagged(0, 0, 78, READ1, sizeof(READ1), 512);
	sh_run();
	cr_assert(!io_done(&cmd));
	cr_assert_eq(g_h0->nheld, 2, "both reads are in the backend");
	tmf = sh_tmf(VIRTIO_SCSI_T_TMF_ABORT_TASK, 0, 0, 77);
	sh_run();
	/* The backend still has the read: neither the command nor the TMF may complete. */
	cr_assert(!io_done(&cmd));
	cr_assert(!sh_done(0, tmf.head, NULL));
	hold_release(g_h0);
	vhd_bdev_poll_channels();
	sh_publish();
	/* One completion round: the command is on its used ring, then the TMF. */
	cr_assert(io_done(&cmd));
	cr_assert_eq(tmf_response(&tmf), VIRTIO_SCSI_S_FUNCTION_COMPLETE);
	sh_result(&cmd, &r);
	cr_assert_eq(r.resp.response, VIRTIO_SCSI_S_ABORTED);
	sh_result(&other, &r);
	expect(&r, "GOOD");
}

Test(scsi, abort_task_of_an_unknown_tag_completes_at_once)
{
	struct sh_io tmf = sh_tmf(VIRTIO_SCSI_T_TMF_ABORT_TASK, 0, 0, 1234);

	sh_run();
	cr_assert_eq(tmf_response(&tmf), VIRTIO_SCSI_S_FUNCTION_COMPLETE);
}

Test(scsi, abort_stops_a_multi_step_command)
{
	uint8_t blk[512];
	struct sh_io cmd, tmf;
	uint8_t f[8];
	struct sh_res r;

	memset(blk, 0x42, sizeof(blk));
	g_h0->hold = true;
	sh_lun(f, 0, 0, false);
	/* WRITE SAME of 40 blocks with a pattern: three backend writes. */
	cmd = sh_submit_q(0, f, 9, CDB(0x41, 0, 0, 0, 0, 0, 0, 0, 40, 0), blk, 512, 0);
	sh_run();
	tmf = sh_tmf(VIRTIO_SCSI_T_TMF_ABORT_TASK, 0, 0, 9);
	sh_run();
	hold_release(g_h0);
	sh_run();
	cr_assert(sh_result(&cmd, &r));
	cr_assert_eq(r.resp.response, VIRTIO_SCSI_S_ABORTED);
	cr_assert_eq(tmf_response(&tmf), VIRTIO_SCSI_S_FUNCTION_COMPLETE);
	cr_assert_eq(g_h0->count[VHD_IO_WRITE], 1, "no step after the abort");
}

Test(scsi, abort_task_set_and_clear_task_set)
{
	uint32_t subtypes[] = {VIRTIO_SCSI_T_TMF_ABORT_TASK_SET, VIRTIO_SCSI_T_TMF_CLEAR_TASK_SET};

	for (size_t s = 0; s < 2; s++) {
		struct sh_io a, b, c, late, tmf;
		struct sh_res r;

		g_h0->hold = true;
		g_h1->hold = true;
		a = submit_tagged(0, 0, 1, READ1, sizeof(READ1), 512);
		b = submit_tagged(0, 0, 2, READ1, sizeof(READ1), 512);
		c = submit_tagged(0, 1, 3, READ1, sizeof(READ1), 512);
		sh_run();
		tmf = sh_tmf(subtypes[s], 0, 0, 0);
		sh_run();
		/* Arrived after the TMF: not part of the task set it cleared. */
		late = submit_tagged(0, 0, 4, READ1, sizeof(READ1), 512);
		sh_run();
		cr_assert(!sh_done(0, tmf.head, NULL));
		hold_release(g_h0);
		hold_release(g_h1);
		sh_run();
		cr_assert_eq(tmf_response(&tmf), VIRTIO_SCSI_S_FUNCTION_COMPLETE);
		sh_result(&a, &r);
		cr_assert_eq(r.resp.response, VIRTIO_SCSI_S_ABORTED);
		sh_result(&b, &r);
		cr_assert_eq(r.resp.response, VIRTIO_SCSI_S_ABORTED);
		sh_result(&c, &r);
		expect(&r, "GOOD");
		sh_result(&late, &r);
		expect(&r, "GOOD");
	}
}

Test(scsi, lun_reset_resets_running_commands_and_raises_unit_attention)
{
	struct sh_io a, b, c, tmf;
	struct sh_res r;

	g_h0->hold = true;
	g_h1->hold = true;
	a = submit_tagged(0, 0, 1, READ1, sizeof(READ1), 512);
	b = submit_tagged(0, 0, 2, READ1, sizeof(READ1), 512);
	c = submit_tagged(0, 1, 3, READ1, sizeof(READ1), 512);
	sh_run();
	tmf = sh_tmf(VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET, 0, 0, 0);
	sh_run();
	cr_assert(!sh_done(0, tmf.head, NULL));
	hold_release(g_h0);
	sh_run();
	cr_assert_eq(tmf_response(&tmf), VIRTIO_SCSI_S_FUNCTION_COMPLETE);
	sh_result(&a, &r);
	cr_assert_eq(r.resp.response, VIRTIO_SCSI_S_RESET);
	sh_result(&b, &r);
	cr_assert_eq(r.resp.response, VIRTIO_SCSI_S_RESET);
	cr_assert(!io_done(&c), "other LU untouched");
	hold_release(g_h1);
	sh_run();
	sh_result(&c, &r);
	expect(&r, "GOOD");
	g_h0->hold = false;
	r = sh_cmd(0, 0, READ1, sizeof(READ1), NULL, 0, 512);
	expect(&r, "06/29/00");
	r = sh_cmd(0, 0, READ1, sizeof(READ1), NULL, 0, 512);
	expect(&r, "GOOD");
	r = sh_cmd(0, 1, TUR, sizeof(TUR), NULL, 0, 0);
	expect(&r, "GOOD");
}

Test(scsi, lun_reset_with_nothing_running)
{
	struct sh_io tmf = sh_tmf(VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET, 3, 0, 0);
	struct sh_res r;

	sh_run();
	cr_assert_eq(tmf_response(&tmf), VIRTIO_SCSI_S_FUNCTION_COMPLETE);
	r = sh_cmd(3, 0, TUR, sizeof(TUR), NULL, 0, 0);
	expect(&r, "06/29/00");
}

Test(scsi, i_t_nexus_reset_covers_the_whole_target)
{
	struct sh_io a, c, tmf;
	struct sh_res r;

	g_h0->hold = true;
	g_h1->hold = true;
	a = submit_tagged(0, 0, 1, READ1, sizeof(READ1), 512);
	c = submit_tagged(0, 1, 3, READ1, sizeof(READ1), 512);
	sh_run();
	/* Addressed to a LUN that does not exist: only the target counts. */
	tmf = sh_tmf(VIRTIO_SCSI_T_TMF_I_T_NEXUS_RESET, 0, 9, 0);
	sh_run();
	hold_release(g_h0);
	sh_run();
	cr_assert(!sh_done(0, tmf.head, NULL), "still waiting for 0:1");
	hold_release(g_h1);
	sh_run();
	cr_assert_eq(tmf_response(&tmf), VIRTIO_SCSI_S_FUNCTION_COMPLETE);
	sh_result(&a, &r);
	cr_assert_eq(r.resp.response, VIRTIO_SCSI_S_RESET);
	sh_result(&c, &r);
	cr_assert_eq(r.resp.response, VIRTIO_SCSI_S_RESET);
	g_h0->hold = g_h1->hold = false;
	r = sh_cmd(0, 0, TUR, sizeof(TUR), NULL, 0, 0);
	expect(&r, "06/29/07");
	r = sh_cmd(0, 1, TUR, sizeof(TUR), NULL, 0, 0);
	expect(&r, "06/29/07");
	r = sh_cmd(3, 0, TUR, sizeof(TUR), NULL, 0, 0);
	expect(&r, "GOOD");
}

Test(scsi, query_task_and_query_task_set)
{
	struct sh_io cmd, q1, q2, q3, q4;

	g_h0->hold = true;
	cmd = submit_tagged(0, 0, 5, READ1, sizeof(READ1), 512);
	sh_run();
	q1 = sh_tmf(VIRTIO_SCSI_T_TMF_QUERY_TASK, 0, 0, 5);
	q2 = sh_tmf(VIRTIO_SCSI_T_TMF_QUERY_TASK, 0, 0, 6);
	q3 = sh_tmf(VIRTIO_SCSI_T_TMF_QUERY_TASK_SET, 0, 0, 0);
	q4 = sh_tmf(VIRTIO_SCSI_T_TMF_QUERY_TASK_SET, 0, 1, 0);
	sh_run();
	cr_assert_eq(tmf_response(&q1), VIRTIO_SCSI_S_FUNCTION_SUCCEEDED);
	cr_assert_eq(tmf_response(&q2), VIRTIO_SCSI_S_FUNCTION_COMPLETE);
	cr_assert_eq(tmf_response(&q3), VIRTIO_SCSI_S_FUNCTION_SUCCEEDED);
	cr_assert_eq(tmf_response(&q4), VIRTIO_SCSI_S_FUNCTION_COMPLETE);
	cr_assert(!io_done(&cmd), "queries change nothing");
	hold_release(g_h0);
	sh_run();
	cr_assert(io_done(&cmd));
}

Test(scsi, tmf_response_codes)
{
	struct sh_io aca = sh_tmf(VIRTIO_SCSI_T_TMF_CLEAR_ACA, 0, 0, 0);
	struct sh_io bad = sh_tmf(42, 0, 0, 0);
	struct sh_io nt = sh_tmf(VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET, 7, 0, 0);
	struct sh_io nl = sh_tmf(VIRTIO_SCSI_T_TMF_ABORT_TASK, 0, 9, 1);
	struct sh_io nl2 = sh_tmf(VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET, 3, 1, 0);

	sh_run();
	cr_assert_eq(tmf_response(&aca), VIRTIO_SCSI_S_FUNCTION_REJECTED);
	cr_assert_eq(tmf_response(&bad), VIRTIO_SCSI_S_FUNCTION_REJECTED);
	cr_assert_eq(tmf_response(&nt), VIRTIO_SCSI_S_BAD_TARGET);
	cr_assert_eq(tmf_response(&nl), VIRTIO_SCSI_S_INCORRECT_LUN);
	cr_assert_eq(tmf_response(&nl2), VIRTIO_SCSI_S_INCORRECT_LUN);
}

Test(scsi, control_queue_an_and_malformed_requests)
{
	struct virtio_scsi_ctrl_an_req *an = sh_alloc(sizeof(*an));
	struct virtio_scsi_ctrl_an_resp *ar = sh_alloc(sizeof(*ar));
	uint32_t *junk = sh_alloc(24);
	uint8_t *b = sh_alloc(8);
	struct sh_seg segs[2];
	uint16_t h1, h2, h3, h4;
	uint32_t len;

	an->type = VIRTIO_SCSI_T_AN_SUBSCRIBE;
	sh_lun(an->lun, 0, 0, false);
	an->event_requested = 0xffffffff;
	ar->event_actual = 0xeeeeeeee;
	segs[0] = (struct sh_seg){an, sizeof(*an), false, 0};
	segs[1] = (struct sh_seg){ar, sizeof(*ar), true, 0};
	h1 = sh_post(0, segs, 2, false);
	sh_run();
	cr_assert(sh_done(0, h1, &len));
	cr_assert_eq(len, 5);
	cr_assert_eq(ar->event_actual, 0);
	cr_assert_eq(ar->response, VIRTIO_SCSI_S_OK);
	/* Short AN request. */
	segs[0].len = 8;
	h2 = sh_post(0, segs, 2, false);
	/* Unknown type. */
	junk[0] = 7;
	segs[0] = (struct sh_seg){junk, 24, false, 0};
	segs[1] = (struct sh_seg){b, 1, true, 0};
	h3 = sh_post(0, segs, 2, false);
	sh_run();
	cr_assert(sh_done(0, h2, NULL));
	cr_assert_eq(ar->response, VIRTIO_SCSI_S_FAILURE);
	cr_assert(sh_done(0, h3, &len));
	cr_assert_eq(b[0], VIRTIO_SCSI_S_FAILURE);
	/* A TMF request of 20 bytes. */
	junk[0] = VIRTIO_SCSI_T_TMF;
	segs[0].len = 20;
	b[0] = 0xee;
	h4 = sh_post(0, segs, 2, false);
	sh_run();
	cr_assert(sh_done(0, h4, &len));
	cr_assert_eq(b[0], VIRTIO_SCSI_S_FAILURE);
	/* A TMF with no response byte breaks the control queue. */
	segs[0].len = 24;
	sh_post(0, segs, 1, false);
	sh_run();
	cr_assert(g_sh.q[0].vq.broken);
}

/* ---- events and runtime LUN changes ---- */

static const struct virtio_scsi_event *
event_of(const struct sh_io *io)
{
	uint32_t len;

	cr_assert(sh_done(1, io->head, &len), "event buffer not used");
	cr_assert_eq(len, 16);
	return io->event;
}

Test(scsi, hot_add_sends_rescan_and_lun_changed_attention)
{
	struct sh_io e1 = sh_event_buf(), e2 = sh_event_buf();
	const struct virtio_scsi_event *ev;
	struct sh_res r;

	sh_run();
	cr_assert(!sh_done(1, e1.head, NULL), "buffers are held until an event");
	cr_assert_eq(vhd_scsi_add_lun(g_sh.dev, 0, 7, g_spare, false), 0);
	sh_run();
	ev = event_of(&e1);
	cr_assert_eq(ev->event, VIRTIO_SCSI_T_TRANSPORT_RESET);
	cr_assert_eq(ev->reason, VIRTIO_SCSI_EVT_RESET_RESCAN);
	cr_assert_eq(memcmp(ev->lun, ((uint8_t[8]){1, 0, 0, 7, 0, 0, 0, 0}), 8), 0);
	cr_assert(!sh_done(1, e2.head, NULL));
	/* The new LUN works (it got a channel on the running worker). */
	r = sh_cmd(0, 7, CDB(0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0), NULL, 0, 4096);
	expect(&r, "GOOD");
	/* The target's other LUNs report the change once; REPORT LUNS clears it. */
	r = sh_cmd(0, 0, TUR, sizeof(TUR), NULL, 0, 0);
	expect(&r, "06/3F/0E");
	r = sh_cmd(0, 0, TUR, sizeof(TUR), NULL, 0, 0);
	expect(&r, "GOOD");
	r = sh_cmd(0, 0, CDB(0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0), NULL, 0, 64);
	cr_assert_eq(scsi_be32(r.in), 24);
	r = sh_cmd(0, 1, TUR, sizeof(TUR), NULL, 0, 0);
	expect(&r, "GOOD");
	r = sh_cmd(3, 0, TUR, sizeof(TUR), NULL, 0, 0);
	expect(&r, "GOOD");
	/* Errors. */
	cr_assert_eq(vhd_scsi_add_lun(g_sh.dev, 0, 7, g_spare, false), -EEXIST);
	cr_assert_eq(vhd_scsi_add_lun(g_sh.dev, 256, 0, g_spare, false), -EINVAL);
	cr_assert_eq(vhd_scsi_add_lun(g_sh.dev, 0, 16384, g_spare, false), -EINVAL);
	cr_assert_eq(vhd_scsi_add_lun(g_sh.dev, 0, 8, NULL, false), -EINVAL);
}

Test(scsi, hot_add_to_a_new_target_and_high_lun_encoding)
{
	struct sh_io e1 = sh_event_buf();
	struct sh_res r;

	sh_run(); /* the device takes the buffer */
	cr_assert_eq(vhd_scsi_add_lun(g_sh.dev, 5, 300, g_spare, true), 0);
	sh_run();
	cr_assert_eq(memcmp(event_of(&e1)->lun, ((uint8_t[8]){1, 5, 0x41, 0x2c, 0, 0, 0, 0}), 8),
		     0);
	r = sh_cmd(5, 300, CDB(0x12, 0, 0, 0, 36, 0), NULL, 0, 36);
	expect(&r, "GOOD");
	r = sh_cmd(5, 300, CDB(0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0), (uint8_t[4096]){0}, 4096, 0);
	expect(&r, "07/27/00");
	r = sh_cmd(5, 0, TUR, sizeof(TUR), NULL, 0, 0);
	expect(&r, "05/25/00");
}

static int g_exec_calls;

/* The "worker" lets the held backend I/O finish only after a few worker calls. */
static void
release_on_third_call(void)
{
	if (++g_exec_calls == 3) {
		hold_release(g_h1);
	}
}

Test(scsi, hot_remove_sends_removed_and_waits_for_running_io)
{
	struct sh_io e1 = sh_event_buf();
	struct sh_io cmd;
	struct sh_res r;

	g_h1->hold = true;
	cmd = submit_tagged(0, 1, 1, READ1, sizeof(READ1), 512);
	sh_run();
	g_exec_calls = 0;
	sh_exec_hook = release_on_third_call;
	cr_assert_eq(vhd_scsi_remove_lun(g_sh.dev, 0, 1), 0);
	cr_assert_geq(g_exec_calls, 3, "remove returned before the I/O finished");
	sh_run();
	cr_assert(sh_result(&cmd, &r));
	expect(&r, "GOOD");
	cr_assert_eq(event_of(&e1)->reason, VIRTIO_SCSI_EVT_RESET_REMOVED);
	cr_assert_eq(memcmp(e1.event->lun, ((uint8_t[8]){1, 0, 0, 1, 0, 0, 0, 0}), 8), 0);
	r = sh_cmd(0, 1, TUR, sizeof(TUR), NULL, 0, 0);
	expect(&r, "05/25/00");
	r = sh_cmd(0, 0, TUR, sizeof(TUR), NULL, 0, 0);
	expect(&r, "06/3F/0E");
	cr_assert_eq(vhd_scsi_remove_lun(g_sh.dev, 0, 1), -ENOENT);
	/* Removing a target's last LUN removes the target. */
	cr_assert_eq(vhd_scsi_remove_lun(g_sh.dev, 3, 0), 0);
	r = sh_cmd(3, 0, TUR, sizeof(TUR), NULL, 0, 0);
	cr_assert_eq(r.resp.response, VIRTIO_SCSI_S_BAD_TARGET);
	/* And it can come back. */
	cr_assert_eq(vhd_scsi_add_lun(g_sh.dev, 3, 0, g_m3, false), 0);
	r = sh_cmd(3, 0, TUR, sizeof(TUR), NULL, 0, 0);
	expect(&r, "GOOD");
}

Test(scsi, hot_remove_times_out_on_io_that_does_not_finish)
{
	struct sh_io cmd;
	struct sh_res r;

	g_h1->hold = true;
	cmd = submit_tagged(0, 1, 1, READ1, sizeof(READ1), 512);
	sh_run();
	/* The I/O outlives the wait: gone for the guest, the command still running. */
	cr_assert_eq(vhd_scsi_remove_lun(g_sh.dev, 0, 1), -ETIMEDOUT);
	cr_assert(!sh_result(&cmd, &r));
	r = sh_cmd(0, 1, TUR, sizeof(TUR), NULL, 0, 0);
	expect(&r, "05/25/00");
	cr_assert_eq(vhd_scsi_remove_lun(g_sh.dev, 0, 1), -ENOENT);
	/* The address can be used again while the old LU drains. */
	cr_assert_eq(vhd_scsi_add_lun(g_sh.dev, 0, 1, g_spare, false), 0);
	r = sh_cmd(0, 1, TUR, sizeof(TUR), NULL, 0, 0);
	expect(&r, "GOOD");
	/* When the backend finally answers, the old command completes normally. */
	hold_release(g_h1);
	sh_run();
	cr_assert(sh_result(&cmd, &r), "the command of the removed LUN never completed");
	expect(&r, "GOOD");
}

Test(scsi, lun_stats_count_each_lu_and_follow_it)
{
	struct vhd_io_stats io;
	uint64_t inflight;
	struct sh_io cmd;
	struct sh_res r;

	r = sh_cmd(3, 0, READ1, sizeof(READ1), NULL, 0, 512);
	expect(&r, "GOOD");
	r = sh_cmd(3, 0, CDB(0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0), (uint8_t[512]){0}, 512, 0);
	expect(&r, "GOOD");
	r = sh_cmd(3, 0, CDB(0x28, 0, 0xff, 0, 0, 0, 0, 0, 1, 0), NULL, 0, 512);
	expect(&r, "05/21/00");
	r = sh_cmd(3, 5, TUR, sizeof(TUR), NULL, 0, 0);   /* no LU: counted nowhere */
	cr_assert_eq(vhd_scsi_lun_stats(g_sh.dev, 3, 0, &io, &inflight), 0);
	cr_assert_eq(io.reads, 2);
	cr_assert_eq(io.read_bytes, 512);
	cr_assert_eq(io.writes, 1);
	cr_assert_eq(io.write_bytes, 512);
	cr_assert_eq(io.errors, 1);
	cr_assert_eq(inflight, 0);
	/* A command held in the backend is in flight on its LU only. */
	g_h1->hold = true;
	cmd = submit_tagged(0, 1, 1, READ1, sizeof(READ1), 512);
	sh_run();
	cr_assert_eq(vhd_scsi_lun_stats(g_sh.dev, 0, 1, &io, &inflight), 0);
	cr_assert_eq(inflight, 1);
	cr_assert_eq(vhd_scsi_lun_stats(g_sh.dev, 0, 0, &io, &inflight), 0);
	cr_assert_eq(inflight, 0);
	cr_assert_eq(io.reads + io.writes + io.others, 0);
	hold_release(g_h1);
	sh_run();
	cr_assert(sh_result(&cmd, &r));
	cr_assert_eq(vhd_scsi_lun_stats(g_sh.dev, 0, 1, &io, &inflight), 0);
	cr_assert_eq(io.reads, 1);
	cr_assert_eq(inflight, 0);
	/* Gone with the LU; a LU added again starts from zero. */
	cr_assert_eq(vhd_scsi_lun_stats(g_sh.dev, 3, 5, &io, &inflight), -ENOENT);
	cr_assert_eq(vhd_scsi_lun_stats(g_sh.dev, 9, 0, &io, &inflight), -ENOENT);
	cr_assert_eq(vhd_scsi_remove_lun(g_sh.dev, 3, 0), 0);
	cr_assert_eq(vhd_scsi_lun_stats(g_sh.dev, 3, 0, &io, &inflight), -ENOENT);
	cr_assert_eq(vhd_scsi_add_lun(g_sh.dev, 3, 0, g_m3, false), 0);
	cr_assert_eq(vhd_scsi_lun_stats(g_sh.dev, 3, 0, &io, &inflight), 0);
	cr_assert_eq(io.reads + io.writes, 0);
}

Test(scsi, events_missed_without_buffers)
{
	struct sh_io e1, e2;
	const struct virtio_scsi_event *ev;

	/* No buffer: both events are dropped and remembered. */
	cr_assert_eq(vhd_scsi_add_lun(g_sh.dev, 0, 7, g_spare, false), 0);
	cr_assert_eq(vhd_scsi_remove_lun(g_sh.dev, 0, 7), 0);
	e1 = sh_event_buf();
	sh_run();
	ev = event_of(&e1);
	cr_assert_eq(ev->event, VIRTIO_SCSI_T_NO_EVENT | VIRTIO_SCSI_T_EVENTS_MISSED);
	/* The flag is reported once. */
	e2 = sh_event_buf();
	sh_run();
	cr_assert(!sh_done(1, e2.head, NULL));
	cr_assert_eq(vhd_scsi_lun_resized(g_sh.dev, 0, 0), 0);
	sh_run();
	cr_assert_eq(event_of(&e2)->event, VIRTIO_SCSI_T_PARAM_CHANGE);
}

Test(scsi, resize_sends_param_change)
{
	struct sh_io e1 = sh_event_buf();
	const struct virtio_scsi_event *ev;

	sh_run();
	cr_assert_eq(vhd_scsi_lun_resized(g_sh.dev, 3, 0), 0);
	sh_run();
	ev = event_of(&e1);
	cr_assert_eq(ev->event, VIRTIO_SCSI_T_PARAM_CHANGE);
	cr_assert_eq(ev->reason, 0x2a | 0x09 << 8);
	cr_assert_eq(ev->lun[1], 3);
	cr_assert_eq(vhd_scsi_lun_resized(g_sh.dev, 3, 1), -ENOENT);
	cr_assert_eq(vhd_scsi_lun_resized(g_sh.dev, 9, 0), -ENOENT);
}

Test(scsi, stopping_the_event_queue_returns_its_buffers)
{
	struct sh_io e1 = sh_event_buf(), e2 = sh_event_buf();

	sh_run();
	sh_queue_stop(1);
	cr_assert_eq(event_of(&e1)->event, VIRTIO_SCSI_T_NO_EVENT);
	cr_assert_eq(event_of(&e2)->event, VIRTIO_SCSI_T_NO_EVENT);
	/* Events while no event queue runs are not queued anywhere. */
	cr_assert_eq(vhd_scsi_lun_resized(g_sh.dev, 3, 0), 0);
	sh_queue_start(1);
	e1 = sh_event_buf();
	sh_run();
	cr_assert(!sh_done(1, e1.head, NULL));
}

Test(scsi, short_event_buffers_are_returned_unused)
{
	uint8_t *b = sh_alloc(8);
	struct sh_seg seg = {b, 8, true, 0};
	uint16_t head = sh_post(1, &seg, 1, false);
	uint32_t len = 99;

	sh_run();
	cr_assert(sh_done(1, head, &len));
	cr_assert_eq(len, 0);
}

TestSuite(scsi_nohotplug, .init = setup_no_hotplug, .fini = teardown);

Test(scsi_nohotplug, no_events_but_unit_attentions)
{
	struct sh_io e1 = sh_event_buf();
	struct sh_res r;

	sh_run();
	cr_assert_eq(vhd_scsi_add_lun(g_sh.dev, 0, 7, g_spare, false), 0);
	cr_assert_eq(vhd_scsi_lun_resized(g_sh.dev, 0, 1), 0);
	sh_run();
	cr_assert(!sh_done(1, e1.head, NULL));
	r = sh_cmd(0, 0, TUR, sizeof(TUR), NULL, 0, 0);
	expect(&r, "06/3F/0E");
	r = sh_cmd(0, 1, TUR, sizeof(TUR), NULL, 0, 0);
	expect(&r, "06/2A/09");
	r = sh_cmd(0, 1, TUR, sizeof(TUR), NULL, 0, 0);
	expect(&r, "06/3F/0E");
}

/* ---- creation ---- */

static int
direct_exec(void *owner, int (*fn)(void *arg), void *arg)
{
	return fn(arg);
}

Test(scsi, create_rejects_bad_configurations)
{
	struct vhd_scsi_lun_def dup[] = {{0, 1, g_m3, false}, {0, 1, g_spare, false}};
	struct vhd_scsi_lun_def range[] = {{256, 0, g_m3, false}};
	struct vhd_scsi_conf c = {.name = "x", .num_queues = 1, .luns = dup, .nluns = 2,
				  .exec = direct_exec};
	struct vhd_dev *dev;

	cr_assert_eq(vhd_scsi_create(&c, &dev), -EINVAL);
	c.luns = range;
	c.nluns = 1;
	cr_assert_eq(vhd_scsi_create(&c, &dev), -EINVAL);
	c.nluns = 0;
	c.num_queues = 0;
	cr_assert_eq(vhd_scsi_create(&c, &dev), -EINVAL);
	c.num_queues = 4;
	c.exec = NULL;
	cr_assert_eq(vhd_scsi_create(&c, &dev), -EINVAL);
	c.exec = direct_exec;
	cr_assert_eq(vhd_scsi_create(&c, &dev), 0);
	cr_assert(vhd_dev_is_scsi(dev));
	cr_assert_eq(dev->ops->num_vrings(dev), 6);
	cr_assert(dev->ops->features(dev) & (1ull << VIRTIO_SCSI_F_CHANGE));
	cr_assert(dev->ops->features(dev) & (1ull << VIRTIO_SCSI_F_HOTPLUG));
	cr_assert(dev->ops->features(dev) & (1ull << VIRTIO_F_VERSION_1));
	cr_assert_eq(dev->ops->features(dev) & (1ull << VIRTIO_SCSI_F_INOUT), 0);
	dev->ops->destroy(dev);
}

/* ---- garbage ---- */

Test(scsi, random_requests_always_complete)
{
	static const uint8_t ops[] = {0x00, 0x03, 0x08, 0x0a, 0x12, 0x15, 0x1a, 0x1b, 0x1e,
				      0x25, 0x28, 0x2a, 0x2f, 0x35, 0x41, 0x42, 0x55, 0x5a,
				      0x88, 0x8a, 0x8f, 0x91, 0x93, 0x9e, 0xa0, 0xa3, 0xa8, 0xaa};
	unsigned int seed = 12345;
	size_t brk = g_sh.brk;

	for (int i = 0; i < 3000; i++) {
		uint8_t cdb[32], lun[8], out[600];
		size_t out_len = 0, in_len = 0;
		struct sh_res r;
		struct sh_io io;

		for (size_t j = 0; j < sizeof(cdb); j++) {
			cdb[j] = (uint8_t)rand_r(&seed);
		}
		for (size_t j = 0; j < sizeof(out); j++) {
			out[j] = (uint8_t)rand_r(&seed);
		}
		if (rand_r(&seed) % 4 != 0) {
			cdb[0] = ops[rand_r(&seed) % sizeof(ops)];
		}
		/* Small lengths and LBAs now and then, so some commands get far. */
		if (rand_r(&seed) % 2 == 0) {
			memset(cdb + 2, 0, 8);
			cdb[rand_r(&seed) % 2 ? 8 : 13] = (uint8_t)(rand_r(&seed) % 4);
		}
		if (rand_r(&seed) % 3 == 0) {
			out_len = rand_r(&seed) % sizeof(out);
		} else {
			in_len = rand_r(&seed) % 8192;
		}
		sh_lun(lun, rand_r(&seed) % 5 == 0 ? 3 : 0, rand_r(&seed) % 3,
		       rand_r(&seed) % 2);
		io = sh_submit_q(i, lun, (uint64_t)i, cdb, sizeof(cdb), out, out_len, in_len);
		sh_run();
		cr_assert(sh_result(&io, &r), "request %d (opcode %02x) did not complete", i,
			  cdb[0]);
		cr_assert_leq(r.resp.response, VIRTIO_SCSI_S_INCORRECT_LUN);
		cr_assert_leq(r.resp.sense_len, 96);
		cr_assert_leq(r.used_len, 108 + in_len);
		/* Bytes moved plus residual is what the guest offered. */
		if (out_len == 0) {
			cr_assert_eq(r.resp.resid + (r.used_len - 108), in_len, "request %d", i);
		} else {
			cr_assert_eq(r.used_len, 108);
			cr_assert_leq(r.resp.resid, out_len, "request %d", i);
		}
		g_sh.brk = brk; /* nothing is in flight: reuse guest memory */
	}
	cr_assert(!g_sh.q[2].vq.broken && !g_sh.q[3].vq.broken);
}
