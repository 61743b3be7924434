/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The SCSI command set (src/dev/scsi/scsi_cmd.c, scsi_sense.c) through the virtio-scsi
 * device: every supported command with good and bad CDBs, allocation lengths shorter than the
 * data, residuals, and the errno -> sense mapping.
 *
 * LUNs: 0:0 a 4 MiB hold bdev with 512-byte blocks and a volatile cache (I/O flags are
 * checked); 0:1 a 1 MiB RAM bdev with 4 KiB blocks; 0:300 a RAM bdev (flat addressing);
 * 2:0 read-only on a hold bdev.
 */
#include <criterion/criterion.h>

#include "scsi_harness.h"
#include "../../../src/dev/scsi/scsi_internal.h"

#define CDB(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})

static struct hold_bdev *g_h0, *g_h2;
static struct vhd_bdev *g_m1, *g_m300;

static void
setup(void)
{
	g_h0 = hold_bdev_create("h0", 4u << 20, 512, true);
	g_h2 = hold_bdev_create("h2", 1u << 20, 512, true);
	g_m1 = sh_malloc_bdev("m1", 1u << 20, 4096);
	g_m300 = sh_malloc_bdev("m300", 1u << 20, 512);
	struct vhd_scsi_lun_def luns[] = {
		{0, 0, &g_h0->base, false},
		{0, 1, g_m1, false},
		{0, 300, g_m300, false},
		{2, 0, &g_h2->base, true},
	};
	sh_setup(luns, VHD_ARRAY_SIZE(luns), sh_default_features());
}

static void
teardown(void)
{
	sh_teardown();
	vhd_bdev_destroy(&g_h0->base);
	vhd_bdev_destroy(&g_h2->base);
	vhd_bdev_destroy(g_m1);
	vhd_bdev_destroy(g_m300);
}

TestSuite(scsi_cmd, .init = setup, .fini = teardown);

static void
expect(const struct sh_res *r, const char *want)
{
	cr_assert_str_eq(sh_outcome(r), want);
}

/* ---- sense mapping ---- */

Test(scsi_cmd, errno_to_sense_table)
{
	static const struct {
		int err;
		enum vhd_scsi_op_class op;
		uint8_t status, key, asc, ascq;
	} t[] = {
		{0, VHD_SCSI_OP_OTHER, 0x00, 0, 0, 0},
		{-ENOSYS, VHD_SCSI_OP_OTHER, 0x02, 5, 0x20, 0},
		{-EOPNOTSUPP, VHD_SCSI_OP_WRITE, 0x02, 5, 0x20, 0},
		{-EINVAL, VHD_SCSI_OP_OTHER, 0x02, 5, 0x24, 0},
		{-ERANGE, VHD_SCSI_OP_READ, 0x02, 5, 0x21, 0},
		{-EBADMSG, VHD_SCSI_OP_OTHER, 0x02, 5, 0x26, 0},
		{-EMSGSIZE, VHD_SCSI_OP_OTHER, 0x02, 5, 0x1a, 0},
		{-ENXIO, VHD_SCSI_OP_OTHER, 0x02, 5, 0x25, 0},
		{-EPERM, VHD_SCSI_OP_OTHER, 0x02, 5, 0x39, 0},
		{-EROFS, VHD_SCSI_OP_WRITE, 0x02, 7, 0x27, 0},
		{-ENOSPC, VHD_SCSI_OP_WRITE, 0x02, 7, 0x27, 7},
		{-EIO, VHD_SCSI_OP_READ, 0x02, 3, 0x11, 0},
		{-EIO, VHD_SCSI_OP_WRITE, 0x02, 3, 0x0c, 0},
		{-EIO, VHD_SCSI_OP_OTHER, 0x02, 4, 0x44, 0},
		{-EBUSY, VHD_SCSI_OP_OTHER, 0x08, 0, 0, 0},
		{-ENOMEM, VHD_SCSI_OP_READ, 0x02, 4, 0x44, 0},
	};

	for (size_t i = 0; i < VHD_ARRAY_SIZE(t); i++) {
		struct vhd_scsi_sense s;

		vhd_scsi_sense_from_errno(t[i].err, t[i].op, &s);
		cr_expect_eq(s.status, t[i].status, "errno %d", t[i].err);
		if (s.status == 0x02) {
			cr_expect_eq(s.key, t[i].key, "errno %d", t[i].err);
			cr_expect_eq(s.asc, t[i].asc, "errno %d", t[i].err);
			cr_expect_eq(s.ascq, t[i].ascq, "errno %d", t[i].err);
		}
	}
}

Test(scsi_cmd, sense_is_fixed_format_18_bytes)
{
	struct sh_res r = sh_cmd(0, 0, CDB(0xff, 0, 0, 0, 0, 0), NULL, 0, 0);

	cr_assert_eq(r.resp.status, 0x02);
	cr_assert_eq(r.resp.sense_len, 18);
	cr_assert_eq(r.resp.sense[0], 0x70);
	cr_assert_eq(r.resp.sense[7], 10);
	cr_assert_eq(r.resp.sense[2], 0x05);
	cr_assert_eq(r.resp.sense[12], 0x20);
	cr_assert_eq(r.used_len, sizeof(struct virtio_scsi_cmd_resp));
}

/* ---- dispatch ---- */

Test(scsi_cmd, unknown_opcode_and_service_action_and_naca)
{
	struct sh_res r = sh_cmd(0, 0, CDB(0x02, 0, 0, 0, 0, 0), NULL, 0, 0);

	expect(&r, "05/20/00");
	r = sh_cmd(0, 0, CDB(0x4c, 0, 0, 0, 0, 0, 0, 0, 0, 0), NULL, 0, 0); /* LOG SELECT */
	expect(&r, "05/20/00");
	/* SERVICE ACTION IN(16) / GET LBA STATUS: opcode known, service action not. */
	r = sh_cmd(0, 0, CDB(0x9e, 0x12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0), NULL, 0,
		   4096);
	expect(&r, "05/24/00");
	/* NACA in the control byte. */
	r = sh_cmd(0, 0, CDB(0x00, 0, 0, 0, 0, 0x04), NULL, 0, 0);
	expect(&r, "05/24/00");
	r = sh_cmd(0, 0, CDB(0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0x04), NULL, 0, 512);
	expect(&r, "05/24/00");
}

Test(scsi_cmd, tur_start_stop_prevent_allow)
{
	struct sh_res r = sh_cmd(0, 0, CDB(0x00, 0, 0, 0, 0, 0), NULL, 0, 0);

	expect(&r, "GOOD");
	cr_assert_eq(r.resp.resid, 0);
	r = sh_cmd(0, 0, CDB(0x1b, 0x01, 0, 0, 0x01, 0), NULL, 0, 0);
	expect(&r, "GOOD");
	r = sh_cmd(0, 0, CDB(0x1e, 0, 0, 0, 0x01, 0), NULL, 0, 0);
	expect(&r, "GOOD");
}

/* ---- INQUIRY ---- */

Test(scsi_cmd, inquiry_standard)
{
	struct sh_res r = sh_cmd(0, 0, CDB(0x12, 0, 0, 0, 255, 0), NULL, 0, 255);

	expect(&r, "GOOD");
	cr_assert_eq(r.in[0], 0x00);
	cr_assert_eq(r.in[2], 0x06);
	cr_assert_eq(r.in[3] & 0x0f, 2);
	cr_assert_eq(r.in[4], 96 - 5);
	cr_assert(r.in[7] & 0x02, "CMDQUE");
	cr_assert_eq(memcmp(r.in + 8, "VHOSTD  ", 8), 0);
	cr_assert_eq(memcmp(r.in + 16, "Virtual disk    ", 16), 0);
	cr_assert_eq(memcmp(r.in + 32, "0.1 ", 4), 0);
	/* 96 bytes for a 255-byte allocation: exact residual and used length. */
	cr_assert_eq(r.resp.resid, 255 - 96);
	cr_assert_eq(r.used_len, 108 + 96);
}

Test(scsi_cmd, inquiry_short_allocation_truncates)
{
	struct sh_res r = sh_cmd(0, 0, CDB(0x12, 0, 0, 0, 36, 0), NULL, 0, 36);

	expect(&r, "GOOD");
	cr_assert_eq(r.resp.resid, 0);
	cr_assert_eq(r.used_len, 108 + 36);
	cr_assert_eq(r.in[4], 91);
	/* Allocation 5, buffer 64: 5 bytes, residual 59. */
	r = sh_cmd(0, 0, CDB(0x12, 0, 0, 0, 5, 0), NULL, 0, 64);
	expect(&r, "GOOD");
	cr_assert_eq(r.resp.resid, 59);
	cr_assert_eq(r.used_len, 108 + 5);
	/* Allocation 0: no data, GOOD. */
	r = sh_cmd(0, 0, CDB(0x12, 0, 0, 0, 0, 0), NULL, 0, 0);
	expect(&r, "GOOD");
	/* Allocation larger than the buffer and more data than fits: OVERRUN. */
	r = sh_cmd(0, 0, CDB(0x12, 0, 0, 0, 255, 0), NULL, 0, 20);
	cr_assert_eq(r.resp.response, VIRTIO_SCSI_S_OVERRUN);
	cr_assert_eq(r.resp.resid, 20);
}

Test(scsi_cmd, inquiry_bad_fields)
{
	/* Page code without EVPD, CMDDT, unknown VPD page. */
	struct sh_res r = sh_cmd(0, 0, CDB(0x12, 0, 0x80, 0, 255, 0), NULL, 0, 255);

	expect(&r, "05/24/00");
	cr_assert_eq(r.resp.resid, 255);
	r = sh_cmd(0, 0, CDB(0x12, 0x02, 0, 0, 255, 0), NULL, 0, 255);
	expect(&r, "05/24/00");
	r = sh_cmd(0, 0, CDB(0x12, 0x01, 0x89, 0, 255, 0), NULL, 0, 255);
	expect(&r, "05/24/00");
	r = sh_cmd(0, 0, CDB(0x12, 0x01, 0xb7, 0, 255, 0), NULL, 0, 255);
	expect(&r, "05/24/00");
}

Test(scsi_cmd, vpd_supported_pages_and_serial)
{
	struct sh_res r = sh_cmd(0, 1, CDB(0x12, 1, 0x00, 0, 255, 0), NULL, 0, 255);
	static const uint8_t pages[] = {0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2};

	expect(&r, "GOOD");
	cr_assert_eq(r.in[1], 0x00);
	cr_assert_eq(r.in[3], sizeof(pages));
	cr_assert_eq(memcmp(r.in + 4, pages, sizeof(pages)), 0);
	cr_assert_eq(r.resp.resid, 255 - 4 - sizeof(pages));

	r = sh_cmd(0, 1, CDB(0x12, 1, 0x80, 0, 255, 0), NULL, 0, 255);
	expect(&r, "GOOD");
	cr_assert_eq(r.in[1], 0x80);
	cr_assert_eq(r.in[3], strlen("scsi0-t0-l1"));
	cr_assert_eq(memcmp(r.in + 4, "scsi0-t0-l1", 11), 0);
}

Test(scsi_cmd, vpd_device_identification)
{
	struct sh_res r = sh_cmd(0, 0, CDB(0x12, 1, 0x83, 0, 255, 0), NULL, 0, 255);
	struct sh_res r1 = sh_cmd(0, 1, CDB(0x12, 1, 0x83, 0, 255, 0), NULL, 0, 255);
	uint8_t *d = r.in + 4;
	size_t len;

	expect(&r, "GOOD");
	len = (size_t)r.in[2] << 8 | r.in[3];
	cr_assert_eq(r.resp.resid, 255 - 4 - len);
	/* T10 vendor ID, ASCII, LU association. */
	cr_assert_eq(d[0] & 0x0f, 2);
	cr_assert_eq(d[1] & 0x3f, 0x01);
	cr_assert_eq(memcmp(d + 4, "VHOSTD  scsi0-t0-l0", d[3]), 0);
	d += 4 + d[3];
	/* NAA locally assigned, 8 bytes, top nibble 3. */
	cr_assert_eq(d[1] & 0x3f, 0x03);
	cr_assert_eq(d[3], 8);
	cr_assert_eq(d[4] >> 4, 3);
	/* The WWN differs between LUNs and is stable. */
	cr_assert_neq(memcmp(d + 4, r1.in + 4 + 4 + r1.in[4 + 3] + 4, 8), 0);
	r1 = sh_cmd(0, 0, CDB(0x12, 1, 0x83, 0, 255, 0), NULL, 0, 255);
	cr_assert_eq(memcmp(r.in, r1.in, 4 + len), 0);
	d += 12;
	/* Relative target port 1. */
	cr_assert_eq(d[1], 0x14);
	cr_assert_eq(d[7], 1);
}

Test(scsi_cmd, vpd_block_limits_characteristics_provisioning)
{
	struct sh_res r = sh_cmd(0, 1, CDB(0x12, 1, 0xb0, 0, 255, 0), NULL, 0, 255);

	expect(&r, "GOOD");
	cr_assert_eq(scsi_be16(r.in + 2), 0x3c);
	cr_assert_eq(r.in[4] & 1, 1, "WSNZ");
	cr_assert_eq(scsi_be32(r.in + 8), (32u << 20) / 4096, "max transfer length");
	cr_assert_eq(scsi_be32(r.in + 20), (1u << 30) / 4096, "max unmap LBA count");
	cr_assert_eq(scsi_be32(r.in + 24), 16, "max unmap descriptors");
	cr_assert_eq(scsi_be64(r.in + 36), (1u << 30) / 4096, "max write same length");

	r = sh_cmd(0, 1, CDB(0x12, 1, 0xb1, 0, 255, 0), NULL, 0, 255);
	expect(&r, "GOOD");
	cr_assert_eq(scsi_be16(r.in + 4), 1, "non-rotating");

	r = sh_cmd(0, 1, CDB(0x12, 1, 0xb2, 0, 255, 0), NULL, 0, 255);
	expect(&r, "GOOD");
	cr_assert_eq(r.in[5] & 0xe0, 0xe0, "LBPU LBPWS LBPWS10");
	cr_assert(r.in[5] & 0x04, "LBPRZ");
	cr_assert_eq(r.in[6] & 7, 2, "thin");

	/* A read-only LU does not advertise unmapping. */
	r = sh_cmd(2, 0, CDB(0x12, 1, 0xb2, 0, 255, 0), NULL, 0, 255);
	expect(&r, "GOOD");
	cr_assert_eq(r.in[5], 0);
	r = sh_cmd(2, 0, CDB(0x12, 1, 0xb0, 0, 255, 0), NULL, 0, 255);
	cr_assert_eq(scsi_be32(r.in + 20), 0);
	cr_assert_eq(scsi_be64(r.in + 36), 0);
}

/* ---- READ CAPACITY ---- */

Test(scsi_cmd, read_capacity_10)
{
	struct sh_res r = sh_cmd(0, 1, CDB(0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0), NULL, 0, 8);

	expect(&r, "GOOD");
	cr_assert_eq(scsi_be32(r.in), 255);
	cr_assert_eq(scsi_be32(r.in + 4), 4096);
	cr_assert_eq(r.used_len, 108 + 8);
	/* PMI 0 with an LBA is invalid; PMI 1 is accepted. */
	r = sh_cmd(0, 1, CDB(0x25, 0, 0, 0, 0, 1, 0, 0, 0, 0), NULL, 0, 8);
	expect(&r, "05/24/00");
	r = sh_cmd(0, 1, CDB(0x25, 0, 0, 0, 0, 1, 0, 0, 1, 0), NULL, 0, 8);
	expect(&r, "GOOD");
	/* Buffer too small for the 8 bytes. */
	r = sh_cmd(0, 1, CDB(0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0), NULL, 0, 4);
	cr_assert_eq(r.resp.response, VIRTIO_SCSI_S_OVERRUN);
}

Test(scsi_cmd, read_capacity_16)
{
	struct sh_res r = sh_cmd(0, 0, CDB(0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0),
				 NULL, 0, 32);

	expect(&r, "GOOD");
	cr_assert_eq(scsi_be64(r.in), (4u << 20) / 512 - 1);
	cr_assert_eq(scsi_be32(r.in + 8), 512);
	cr_assert_eq(r.in[14] & 0xc0, 0xc0, "LBPME LBPRZ");
	/* Allocation 12 of 32. */
	r = sh_cmd(0, 0, CDB(0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 0, 0), NULL, 0, 32);
	expect(&r, "GOOD");
	cr_assert_eq(r.resp.resid, 20);
	/* Read-only LU: no provisioning. */
	r = sh_cmd(2, 0, CDB(0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0), NULL, 0, 32);
	cr_assert_eq(r.in[14], 0);
}

/* ---- READ / WRITE ---- */

static void
fill(uint8_t *p, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++) {
		p[i] = (uint8_t)(i * 7 + seed);
	}
}

Test(scsi_cmd, write_read_all_sizes)
{
	uint8_t buf[4096];
	struct sh_res r;

	fill(buf, sizeof(buf), 1);
	r = sh_cmd(0, 0, CDB(0x0a, 0, 0, 8, 1, 0), buf, 512, 0); /* WRITE(6) LBA 8 */
	expect(&r, "GOOD");
	cr_assert_eq(r.resp.resid, 0);
	cr_assert_eq(memcmp(g_h0->data + 8 * 512, buf, 512), 0);
	fill(buf, sizeof(buf), 2);
	r = sh_cmd(0, 0, CDB(0x2a, 0, 0, 0, 0, 16, 0, 0, 2, 0), buf, 1024, 0); /* WRITE(10) */
	expect(&r, "GOOD");
	cr_assert_eq(memcmp(g_h0->data + 16 * 512, buf, 1024), 0);
	fill(buf, sizeof(buf), 3);
	r = sh_cmd(0, 0, CDB(0xaa, 0, 0, 0, 0, 32, 0, 0, 0, 4, 0, 0), buf, 2048, 0);
	expect(&r, "GOOD");
	cr_assert_eq(memcmp(g_h0->data + 32 * 512, buf, 2048), 0);
	fill(buf, sizeof(buf), 4);
	r = sh_cmd(0, 0, CDB(0x8a, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0, 0, 8, 0, 0), buf, 4096, 0);
	expect(&r, "GOOD");
	cr_assert_eq(memcmp(g_h0->data + 64 * 512, buf, 4096), 0);

	r = sh_cmd(0, 0, CDB(0x08, 0, 0, 64, 8, 0), NULL, 0, 4096); /* READ(6) */
	expect(&r, "GOOD");
	cr_assert_eq(memcmp(r.in, buf, 4096), 0);
	cr_assert_eq(r.used_len, 108 + 4096);
	r = sh_cmd(0, 0, CDB(0x28, 0, 0, 0, 0, 64, 0, 0, 8, 0), NULL, 0, 4096);
	cr_assert_eq(memcmp(r.in, buf, 4096), 0);
	r = sh_cmd(0, 0, CDB(0xa8, 0, 0, 0, 0, 64, 0, 0, 0, 8, 0, 0), NULL, 0, 4096);
	cr_assert_eq(memcmp(r.in, buf, 4096), 0);
	r = sh_cmd(0, 0, CDB(0x88, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0, 0, 8, 0, 0), NULL, 0, 4096);
	cr_assert_eq(memcmp(r.in, buf, 4096), 0);
	cr_assert_eq(g_h0->count[VHD_IO_READ], 4);
	cr_assert_eq(g_h0->count[VHD_IO_WRITE], 4);
}

Test(scsi_cmd, read_6_zero_length_means_256_blocks)
{
	struct sh_res r = sh_cmd(0, 0, CDB(0x08, 0, 0, 0, 0, 0), NULL, 0, 256 * 512);

	expect(&r, "GOOD");
	cr_assert_eq(r.used_len, 108 + 256 * 512);
}

Test(scsi_cmd, read_into_larger_buffer_reports_residual)
{
	struct sh_res r = sh_cmd(0, 1, CDB(0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0), NULL, 0, 3 * 4096);

	expect(&r, "GOOD");
	cr_assert_eq(r.resp.resid, 2 * 4096);
	cr_assert_eq(r.used_len, 108 + 4096);
}

Test(scsi_cmd, zero_length_transfers_are_good)
{
	struct sh_res r = sh_cmd(0, 0, CDB(0x28, 0, 0, 0, 0, 5, 0, 0, 0, 0), NULL, 0, 0);

	expect(&r, "GOOD");
	r = sh_cmd(0, 0, CDB(0x2a, 0, 0, 0, 0x20, 0, 0, 0, 0, 0), NULL, 0, 0); /* LBA = end */
	expect(&r, "GOOD");
	cr_assert_eq(g_h0->count[VHD_IO_READ] + g_h0->count[VHD_IO_WRITE], 0);
}

Test(scsi_cmd, lba_out_of_range)
{
	/* 8192 blocks: LBA 8191 + 1 ok, 8191 + 2 and 8192 + 1 out of range. */
	struct sh_res r = sh_cmd(0, 0, CDB(0x28, 0, 0, 0, 0x1f, 0xff, 0, 0, 1, 0), NULL, 0, 512);

	expect(&r, "GOOD");
	r = sh_cmd(0, 0, CDB(0x28, 0, 0, 0, 0x1f, 0xff, 0, 0, 2, 0), NULL, 0, 1024);
	expect(&r, "05/21/00");
	cr_assert_eq(r.resp.resid, 1024);
	cr_assert_eq(r.used_len, 108);
	r = sh_cmd(0, 0, CDB(0x28, 0, 0, 0, 0x20, 0x00, 0, 0, 1, 0), NULL, 0, 512);
	expect(&r, "05/21/00");
	/* 64-bit overflow of LBA + length. */
	r = sh_cmd(0, 0, CDB(0x88, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2, 0,
			     0), NULL, 0, 1024);
	expect(&r, "05/21/00");
	r = sh_cmd(0, 0, CDB(0x2a, 0, 0, 0, 0x20, 0x00, 0, 0, 1, 0), (uint8_t[512]){0}, 512, 0);
	expect(&r, "05/21/00");
	cr_assert_eq(g_h0->count[VHD_IO_WRITE], 0);
}

Test(scsi_cmd, protect_fields_and_transfer_limit)
{
	struct sh_res r = sh_cmd(0, 0, CDB(0x28, 0x20, 0, 0, 0, 0, 0, 0, 1, 0), NULL, 0, 512);

	expect(&r, "05/24/00"); /* RDPROTECT */
	r = sh_cmd(0, 0, CDB(0x2a, 0x40, 0, 0, 0, 0, 0, 0, 1, 0), (uint8_t[512]){0}, 512, 0);
	expect(&r, "05/24/00"); /* WRPROTECT */
	/* More than MAXIMUM TRANSFER LENGTH (32 MiB = 65536 blocks) on a LU large enough. */
	g_h0->base.num_blocks = 1u << 20;
	r = sh_cmd(0, 0, CDB(0x2f, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0), NULL, 0, 0);
	expect(&r, "GOOD");
	r = sh_cmd(0, 0, CDB(0x8f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0), NULL, 0, 0);
	expect(&r, "05/24/00");
	r = sh_cmd(0, 0, CDB(0x88, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0), NULL, 0, 512);
	expect(&r, "05/24/00");
	cr_assert_eq(g_h0->count[VHD_IO_READ], 0);
}

Test(scsi_cmd, buffers_smaller_than_the_transfer_overrun)
{
	/* READ of 2 blocks into 512 bytes; WRITE of 2 blocks from 512 bytes; READ with data-out
	 * buffers only (wrong direction). None reaches the backend. */
	struct sh_res r = sh_cmd(0, 0, CDB(0x28, 0, 0, 0, 0, 0, 0, 0, 2, 0), NULL, 0, 512);

	cr_assert_eq(r.resp.response, VIRTIO_SCSI_S_OVERRUN);
	cr_assert_eq(r.resp.resid, 512);
	cr_assert_eq(r.used_len, 108);
	r = sh_cmd(0, 0, CDB(0x2a, 0, 0, 0, 0, 0, 0, 0, 2, 0), (uint8_t[512]){0}, 512, 0);
	cr_assert_eq(r.resp.response, VIRTIO_SCSI_S_OVERRUN);
	r = sh_cmd(0, 0, CDB(0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0), (uint8_t[512]){0}, 512, 0);
	cr_assert_eq(r.resp.response, VIRTIO_SCSI_S_OVERRUN);
	r = sh_cmd(0, 0, CDB(0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0), NULL, 0, 512);
	cr_assert_eq(r.resp.response, VIRTIO_SCSI_S_OVERRUN);
	cr_assert_eq(g_h0->count[VHD_IO_READ] + g_h0->count[VHD_IO_WRITE], 0);
}

Test(scsi_cmd, write_to_read_only_lun_is_write_protected)
{
	uint8_t buf[512];
	struct sh_res r;

	memset(buf, 0xab, sizeof(buf));
	r = sh_cmd(2, 0, CDB(0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0), buf, 512, 0);
	expect(&r, "07/27/00");
	r = sh_cmd(2, 0, CDB(0x0a, 0, 0, 0, 1, 0), buf, 512, 0);
	expect(&r, "07/27/00");
	r = sh_cmd(2, 0, CDB(0x41, 0, 0, 0, 0, 0, 0, 0, 1, 0), buf, 512, 0);
	expect(&r, "07/27/00");
	r = sh_cmd(2, 0, CDB(0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0), (uint8_t[24]){0, 22, 0, 16}, 24, 0);
	expect(&r, "07/27/00");
	cr_assert_eq(g_h2->count[VHD_IO_WRITE] + g_h2->count[VHD_IO_DISCARD] +
			     g_h2->count[VHD_IO_WRITE_ZEROES], 0);
	/* Reads work. */
	r = sh_cmd(2, 0, CDB(0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0), NULL, 0, 512);
	expect(&r, "GOOD");
}

Test(scsi_cmd, fua_and_write_cache)
{
	uint8_t buf[512] = {1};
	struct sh_res r;

	/* Write-back cache (default for a volatile cache): plain writes, FUA on request. */
	r = sh_cmd(0, 0, CDB(0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0), buf, 512, 0);
	expect(&r, "GOOD");
	cr_assert_eq(g_h0->last_flags[VHD_IO_WRITE], 0);
	r = sh_cmd(0, 0, CDB(0x2a, 0x08, 0, 0, 0, 0, 0, 0, 1, 0), buf, 512, 0);
	expect(&r, "GOOD");
	cr_assert_eq(g_h0->last_flags[VHD_IO_WRITE], VHD_IO_F_FUA);
	r = sh_cmd(0, 0, CDB(0x8a, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0), buf, 512, 0);
	cr_assert_eq(g_h0->last_flags[VHD_IO_WRITE], VHD_IO_F_FUA);
}

Test(scsi_cmd, fua_without_backend_fua_flushes_after_the_write)
{
	uint8_t buf[512] = {1};
	struct sh_res r;

	g_h0->base.has_fua = false;
	r = sh_cmd(0, 0, CDB(0x2a, 0x08, 0, 0, 0, 0, 0, 0, 1, 0), buf, 512, 0);
	expect(&r, "GOOD");
	cr_assert_eq(g_h0->last_flags[VHD_IO_WRITE], 0);
	cr_assert_eq(g_h0->count[VHD_IO_FLUSH], 1);
}

Test(scsi_cmd, backend_errors_become_sense)
{
	uint8_t buf[512] = {0};
	struct sh_res r;

	g_h0->fail_status = -EIO;
	g_h0->fail_count = 1;
	r = sh_cmd(0, 0, CDB(0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0), NULL, 0, 512);
	expect(&r, "03/11/00");
	cr_assert_eq(r.resp.resid, 512);
	cr_assert_eq(r.used_len, 108);
	g_h0->fail_count = 1;
	r = sh_cmd(0, 0, CDB(0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0), buf, 512, 0);
	expect(&r, "03/0C/00");
	g_h0->fail_status = -ENOSPC;
	g_h0->fail_count = 1;
	r = sh_cmd(0, 0, CDB(0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0), buf, 512, 0);
	expect(&r, "07/27/07");
	g_h0->fail_status = -ENOMEM;
	g_h0->fail_count = 1;
	r = sh_cmd(0, 0, CDB(0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0), NULL, 0, 0);
	expect(&r, "04/44/00");
}

/* ---- VERIFY / SYNCHRONIZE CACHE ---- */

Test(scsi_cmd, verify)
{
	struct sh_res r = sh_cmd(0, 0, CDB(0x2f, 0, 0, 0, 0, 0, 0, 0, 8, 0), NULL, 0, 0);

	expect(&r, "GOOD");
	r = sh_cmd(0, 0, CDB(0x8f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0, 0, 0), NULL, 0, 0);
	expect(&r, "GOOD");
	r = sh_cmd(0, 0, CDB(0x8f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 1, 0, 0), NULL, 0, 0);
	expect(&r, "05/21/00");
	r = sh_cmd(0, 0, CDB(0x2f, 0x02, 0, 0, 0, 0, 0, 0, 1, 0), (uint8_t[512]){0}, 512, 0);
	expect(&r, "05/24/00"); /* BYTCHK */
	r = sh_cmd(0, 0, CDB(0x2f, 0x20, 0, 0, 0, 0, 0, 0, 1, 0), NULL, 0, 0);
	expect(&r, "05/24/00"); /* VRPROTECT */
	cr_assert_eq(g_h0->count[VHD_IO_READ], 0);
}

Test(scsi_cmd, synchronize_cache)
{
	struct sh_res r = sh_cmd(0, 0, CDB(0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0), NULL, 0, 0);

	expect(&r, "GOOD");
	cr_assert_eq(g_h0->count[VHD_IO_FLUSH], 1);
	r = sh_cmd(0, 0, CDB(0x91, 0x02, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0x10, 0, 0), NULL, 0,
		   0);
	expect(&r, "GOOD");
	cr_assert_eq(g_h0->count[VHD_IO_FLUSH], 2);
	r = sh_cmd(0, 0, CDB(0x35, 0, 0, 0, 0x20, 0, 0, 0, 1, 0), NULL, 0, 0);
	expect(&r, "05/21/00");
	/* A RAM LU has no volatile cache: nothing to flush. */
	r = sh_cmd(0, 1, CDB(0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0), NULL, 0, 0);
	expect(&r, "GOOD");
}

/* ---- WRITE SAME / UNMAP ---- */

Test(scsi_cmd, write_same_pattern_replicates_the_block)
{
	uint8_t blk[512];
	struct sh_res r;

	fill(blk, sizeof(blk), 9);
	/* 40 blocks from LBA 100: more than one pass over the pattern iovecs. */
	r = sh_cmd(0, 0, CDB(0x41, 0, 0, 0, 0, 100, 0, 0, 40, 0), blk, 512, 0);
	expect(&r, "GOOD");
	for (int i = 0; i < 40; i++) {
		cr_assert_eq(memcmp(g_h0->data + (100 + i) * 512, blk, 512), 0, "block %d", i);
	}
	cr_assert_eq(g_h0->data[99 * 512 + 511], 0);
	cr_assert_eq(g_h0->data[140 * 512], 0);
	cr_assert_eq(g_h0->count[VHD_IO_WRITE_ZEROES], 0);
	cr_assert_eq(g_h0->count[VHD_IO_WRITE], 3);
}

Test(scsi_cmd, write_same_zeroes_and_unmap)
{
	uint8_t zero[512] = {0};
	struct sh_res r;

	memset(g_h0->data, 0x5a, 1u << 20);
	r = sh_cmd(0, 0, CDB(0x41, 0, 0, 0, 0, 10, 0, 0, 10, 0), zero, 512, 0);
	expect(&r, "GOOD");
	cr_assert_eq(g_h0->count[VHD_IO_WRITE_ZEROES], 1);
	cr_assert_eq(g_h0->last_flags[VHD_IO_WRITE_ZEROES], 0);
	cr_assert_eq(g_h0->data[10 * 512], 0);
	cr_assert_eq(g_h0->data[20 * 512 - 1], 0);
	cr_assert_eq(g_h0->data[20 * 512], 0x5a);
	/* WRITE SAME(16) with UNMAP and NDOB: no data-out at all. */
	r = sh_cmd(0, 0, CDB(0x93, 0x09, 0, 0, 0, 0, 0, 0, 0, 30, 0, 0, 0, 4, 0, 0), NULL, 0, 0);
	expect(&r, "GOOD");
	cr_assert_eq(g_h0->last_flags[VHD_IO_WRITE_ZEROES], VHD_IO_F_UNMAP);
	cr_assert_eq(g_h0->data[33 * 512 + 100], 0);
	/* UNMAP with non-zero data must write the data (unmapped blocks read as zeroes). */
	uint8_t ones[512];

	memset(ones, 1, sizeof(ones));
	r = sh_cmd(0, 0, CDB(0x41, 0x08, 0, 0, 0, 50, 0, 0, 2, 0), ones, 512, 0);
	expect(&r, "GOOD");
	cr_assert_eq(g_h0->data[51 * 512 + 7], 1);
}

Test(scsi_cmd, write_same_without_backend_write_zeroes)
{
	struct sh_res r;

	g_h0->base.has_write_zeroes = false;
	memset(g_h0->data, 0x5a, 1u << 20);
	r = sh_cmd(0, 0, CDB(0x93, 0x01, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 20, 0, 0), NULL, 0, 0);
	expect(&r, "GOOD");
	cr_assert_eq(g_h0->count[VHD_IO_WRITE_ZEROES], 0);
	cr_assert_eq(g_h0->count[VHD_IO_WRITE], 2);
	for (int i = 8 * 512; i < 28 * 512; i++) {
		cr_assert_eq(g_h0->data[i], 0, "byte %d", i);
	}
	cr_assert_eq(g_h0->data[28 * 512], 0x5a);
}

Test(scsi_cmd, write_same_bad_cdbs)
{
	uint8_t blk[512] = {0};
	struct sh_res r;

	r = sh_cmd(0, 0, CDB(0x41, 0, 0, 0, 0, 0, 0, 0, 0, 0), blk, 512, 0);
	expect(&r, "05/24/00"); /* zero blocks, WSNZ */
	r = sh_cmd(0, 0, CDB(0x41, 0x10, 0, 0, 0, 0, 0, 0, 1, 0), blk, 512, 0);
	expect(&r, "05/24/00"); /* ANCHOR */
	r = sh_cmd(0, 0, CDB(0x41, 0, 0, 0, 0x1f, 0xff, 0, 0, 2, 0), blk, 512, 0);
	expect(&r, "05/21/00");
	r = sh_cmd(0, 0, CDB(0x93, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0, 1, 0, 0), blk, 512, 0);
	expect(&r, "05/24/00"); /* more than MAXIMUM WRITE SAME LENGTH */
	r = sh_cmd(0, 0, CDB(0x41, 0, 0, 0, 0, 0, 0, 0, 1, 0), blk, 100, 0);
	cr_assert_eq(r.resp.response, VIRTIO_SCSI_S_OVERRUN); /* less than a block of data */
	cr_assert_eq(g_h0->count[VHD_IO_WRITE] + g_h0->count[VHD_IO_WRITE_ZEROES], 0);
}

static void
unmap_list(uint8_t *p, unsigned int n, const uint64_t *lba, const uint32_t *cnt)
{
	memset(p, 0, 8 + 16 * n);
	scsi_put_be16(p, (uint16_t)(6 + 16 * n));
	scsi_put_be16(p + 2, (uint16_t)(16 * n));
	for (unsigned int i = 0; i < n; i++) {
		scsi_put_be64(p + 8 + 16 * i, lba[i]);
		scsi_put_be32(p + 8 + 16 * i + 8, cnt[i]);
	}
}

Test(scsi_cmd, unmap_discards_every_descriptor)
{
	uint8_t p[8 + 16 * 3];
	struct sh_res r;

	memset(g_h0->data, 0x5a, 4u << 20);
	unmap_list(p, 3, (uint64_t[]){8, 100, 200}, (uint32_t[]){8, 0, 16});
	r = sh_cmd(0, 0, CDB(0x42, 0, 0, 0, 0, 0, 0, 0, sizeof(p), 0), p, sizeof(p), 0);
	expect(&r, "GOOD");
	cr_assert_eq(g_h0->count[VHD_IO_DISCARD], 2);
	cr_assert_eq(g_h0->data[8 * 512], 0);
	cr_assert_eq(g_h0->data[16 * 512 - 1], 0);
	cr_assert_eq(g_h0->data[16 * 512], 0x5a);
	cr_assert_eq(g_h0->data[200 * 512 + 3], 0);
	cr_assert_eq(g_h0->data[100 * 512], 0x5a);
	/* Parameter list length 0: nothing to do. */
	r = sh_cmd(0, 0, CDB(0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0), NULL, 0, 0);
	expect(&r, "GOOD");
}

Test(scsi_cmd, unmap_bad_parameter_lists)
{
	uint8_t p[8 + 16 * 17];
	struct sh_res r;

	unmap_list(p, 1, (uint64_t[]){0}, (uint32_t[]){1});
	r = sh_cmd(0, 0, CDB(0x42, 0, 0, 0, 0, 0, 0, 0, 4, 0), p, 4, 0);
	expect(&r, "05/1A/00"); /* shorter than the header */
	unmap_list(p, 1, (uint64_t[]){8191}, (uint32_t[]){2});
	r = sh_cmd(0, 0, CDB(0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0), p, 24, 0);
	expect(&r, "05/21/00");
	uint64_t lbas[17] = {0};
	uint32_t cnts[17] = {0};

	unmap_list(p, 17, lbas, cnts);
	r = sh_cmd(0, 0, CDB(0x42, 0, 0, 0, 0, 0, 0, 1, 0x18, 0), p, sizeof(p), 0);
	expect(&r, "05/26/00"); /* more descriptors than advertised */
	unmap_list(p, 1, (uint64_t[]){0}, (uint32_t[]){1});
	r = sh_cmd(0, 0, CDB(0x42, 0x01, 0, 0, 0, 0, 0, 0, 24, 0), p, 24, 0);
	expect(&r, "05/24/00"); /* ANCHOR */
	r = sh_cmd(0, 0, CDB(0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0), p, 16, 0);
	cr_assert_eq(r.resp.response, VIRTIO_SCSI_S_OVERRUN);
	cr_assert_eq(g_h0->count[VHD_IO_DISCARD], 0);
}

Test(scsi_cmd, unmap_without_backend_discard_is_an_invalid_opcode)
{
	uint8_t p[24];
	struct sh_res r;

	g_h0->base.has_discard = false;
	unmap_list(p, 1, (uint64_t[]){0}, (uint32_t[]){1});
	r = sh_cmd(0, 0, CDB(0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0), p, 24, 0);
	expect(&r, "05/20/00");
}

/* ---- MODE SENSE / MODE SELECT ---- */

Test(scsi_cmd, mode_sense_6_all_pages)
{
	struct sh_res r = sh_cmd(0, 0, CDB(0x1a, 0, 0x3f, 0, 255, 0), NULL, 0, 255);

	expect(&r, "GOOD");
	cr_assert_eq(r.in[0], 4 + 8 + 20 + 12 - 1);
	cr_assert_eq(r.in[2], 0x10, "DPOFUA, not WP");
	cr_assert_eq(r.in[3], 8);
	cr_assert_eq(scsi_be32(r.in + 4), 8192);
	cr_assert_eq(scsi_be32(r.in + 8) & 0xffffff, 512);
	cr_assert_eq(r.in[12], 0x08);
	cr_assert_eq(r.in[13], 0x12);
	cr_assert_eq(r.in[14] & 0x04, 0x04, "WCE: volatile cache");
	cr_assert_eq(r.in[32], 0x0a);
	cr_assert_eq(r.resp.resid, 255 - 44);
	/* Linux asks for the header only (allocation 4) to read WP. */
	r = sh_cmd(2, 0, CDB(0x1a, 0, 0x3f, 0, 4, 0), NULL, 0, 4);
	expect(&r, "GOOD");
	cr_assert_eq(r.in[2] & 0x80, 0x80, "WP on a read-only LU");
	cr_assert_eq(r.resp.resid, 0);
}

Test(scsi_cmd, mode_sense_10_pages_and_page_controls)
{
	/* Caching page, DBD, MODE SENSE(10). */
	struct sh_res r = sh_cmd(0, 1, CDB(0x5a, 0x08, 0x08, 0, 0, 0, 0, 0, 255, 0), NULL, 0, 255);

	expect(&r, "GOOD");
	cr_assert_eq(scsi_be16(r.in), 8 + 20 - 2);
	cr_assert_eq(scsi_be16(r.in + 6), 0);
	cr_assert_eq(r.in[8], 0x08);
	cr_assert_eq(r.in[10] & 0x04, 0, "RAM LU: no write cache");
	/* Changeable values: only WCE. */
	r = sh_cmd(0, 1, CDB(0x5a, 0x08, 0x48, 0, 0, 0, 0, 0, 255, 0), NULL, 0, 255);
	expect(&r, "GOOD");
	cr_assert_eq(r.in[10], 0x04);
	/* Control page; long LBA block descriptor. */
	r = sh_cmd(0, 1, CDB(0x5a, 0x10, 0x0a, 0, 0, 0, 0, 0, 255, 0), NULL, 0, 255);
	expect(&r, "GOOD");
	cr_assert_eq(r.in[4] & 1, 1, "LONGLBA");
	cr_assert_eq(scsi_be16(r.in + 6), 16);
	cr_assert_eq(scsi_be64(r.in + 8), 256);
	cr_assert_eq(scsi_be32(r.in + 20), 4096);
	cr_assert_eq(r.in[24], 0x0a);
	cr_assert_eq(r.in[26] & 0x04, 0, "D_SENSE off");
	/* Saved values are not supported; unknown pages and subpages are invalid. */
	r = sh_cmd(0, 1, CDB(0x5a, 0, 0xc8, 0, 0, 0, 0, 0, 255, 0), NULL, 0, 255);
	expect(&r, "05/39/00");
	r = sh_cmd(0, 1, CDB(0x1a, 0, 0x1c, 0, 255, 0), NULL, 0, 255);
	expect(&r, "05/24/00");
	r = sh_cmd(0, 1, CDB(0x1a, 0, 0x0a, 0x05, 255, 0), NULL, 0, 255);
	expect(&r, "05/24/00");
	r = sh_cmd(0, 1, CDB(0x1a, 0, 0x3f, 0xff, 255, 0), NULL, 0, 255);
	expect(&r, "GOOD");
}

/* The caching page as MODE SENSE returns it, with WCE set as asked. */
static size_t
select_caching(uint8_t *p, bool ten, bool wce)
{
	size_t hdr = ten ? 8 : 4;
	struct sh_res r = sh_cmd(0, 0, CDB(0x1a, 0x08, 0x08, 0, 255, 0), NULL, 0, 255);

	memset(p, 0, hdr);
	memcpy(p + hdr, r.in + 4, 20);
	p[hdr + 2] = (uint8_t)((p[hdr + 2] & ~0x04) | (wce ? 0x04 : 0));
	return hdr + 20;
}

Test(scsi_cmd, mode_select_changes_wce_and_write_through_uses_fua)
{
	uint8_t p[64], buf[512] = {0};
	struct sh_res r;
	size_t len = select_caching(p, false, false);

	r = sh_cmd(0, 0, CDB(0x15, 0x10, 0, 0, (uint8_t)len, 0), p, len, 0);
	expect(&r, "GOOD");
	r = sh_cmd(0, 0, CDB(0x1a, 0x08, 0x08, 0, 255, 0), NULL, 0, 255);
	cr_assert_eq(r.in[4 + 2] & 0x04, 0, "WCE now off");
	/* Write-through: every write is FUA, WRITE SAME ends with a flush. */
	r = sh_cmd(0, 0, CDB(0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0), buf, 512, 0);
	cr_assert_eq(g_h0->last_flags[VHD_IO_WRITE], VHD_IO_F_FUA);
	r = sh_cmd(0, 0, CDB(0x41, 0, 0, 0, 0, 0, 0, 0, 4, 0), buf, 512, 0);
	expect(&r, "GOOD");
	cr_assert_eq(g_h0->count[VHD_IO_FLUSH], 1);
	/* And back with MODE SELECT(10). */
	len = select_caching(p, true, true);
	r = sh_cmd(0, 0, CDB(0x55, 0x10, 0, 0, 0, 0, 0, 0, (uint8_t)len, 0), p, len, 0);
	expect(&r, "GOOD");
	r = sh_cmd(0, 0, CDB(0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0), buf, 512, 0);
	cr_assert_eq(g_h0->last_flags[VHD_IO_WRITE], 0);
}

Test(scsi_cmd, mode_select_rejects_what_cannot_change)
{
	uint8_t p[64];
	struct sh_res r;
	size_t len = select_caching(p, false, false);

	/* RCD is not changeable. */
	p[4 + 2] |= 0x01;
	r = sh_cmd(0, 0, CDB(0x15, 0x10, 0, 0, (uint8_t)len, 0), p, len, 0);
	expect(&r, "05/26/00");
	/* Nothing applied: WCE still on. */
	r = sh_cmd(0, 0, CDB(0x1a, 0x08, 0x08, 0, 255, 0), NULL, 0, 255);
	cr_assert_eq(r.in[4 + 2] & 0x04, 0x04);
	/* SP (save) and PF 0. */
	len = select_caching(p, false, false);
	r = sh_cmd(0, 0, CDB(0x15, 0x11, 0, 0, (uint8_t)len, 0), p, len, 0);
	expect(&r, "05/24/00");
	r = sh_cmd(0, 0, CDB(0x15, 0x00, 0, 0, (uint8_t)len, 0), p, len, 0);
	expect(&r, "05/24/00");
	/* Unknown page, wrong page length, truncated list, bad block descriptor. */
	p[4] = 0x1c;
	r = sh_cmd(0, 0, CDB(0x15, 0x10, 0, 0, (uint8_t)len, 0), p, len, 0);
	expect(&r, "05/26/00");
	len = select_caching(p, false, false);
	r = sh_cmd(0, 0, CDB(0x15, 0x10, 0, 0, (uint8_t)(len - 1), 0), p, len - 1, 0);
	expect(&r, "05/1A/00");
	r = sh_cmd(0, 0, CDB(0x15, 0x10, 0, 0, 2, 0), p, 2, 0);
	expect(&r, "05/1A/00");
	uint8_t bd[4 + 8 + 20];

	memset(bd, 0, sizeof(bd));
	bd[3] = 8;
	scsi_put_be32(bd + 4 + 4, 4096); /* block length change */
	memcpy(bd + 12, p + 4, 20);
	r = sh_cmd(0, 0, CDB(0x15, 0x10, 0, 0, sizeof(bd), 0), bd, sizeof(bd), 0);
	expect(&r, "05/26/00");
	scsi_put_be32(bd + 4 + 4, 512);
	r = sh_cmd(0, 0, CDB(0x15, 0x10, 0, 0, sizeof(bd), 0), bd, sizeof(bd), 0);
	expect(&r, "GOOD");
	/* Parameter list longer than the data-out buffers. */
	r = sh_cmd(0, 0, CDB(0x15, 0x10, 0, 0, 24, 0), p, 12, 0);
	cr_assert_eq(r.resp.response, VIRTIO_SCSI_S_OVERRUN);
}

/* ---- REPORT LUNS ---- */

Test(scsi_cmd, report_luns)
{
	struct sh_res r = sh_cmd(0, 0, CDB(0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0), NULL, 0, 256);

	expect(&r, "GOOD");
	cr_assert_eq(scsi_be32(r.in), 3 * 8);
	cr_assert_eq(scsi_be64(r.in + 8), 0);
	cr_assert_eq(scsi_be64(r.in + 16), 0x0001000000000000ull);
	cr_assert_eq(scsi_be64(r.in + 24), 0x412c000000000000ull, "LUN 300, flat space");
	cr_assert_eq(r.resp.resid, 256 - 32);
	/* Allocation 16: header plus the first LUN; the list length still says 24. */
	r = sh_cmd(0, 0, CDB(0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0), NULL, 0, 16);
	expect(&r, "GOOD");
	cr_assert_eq(scsi_be32(r.in), 24);
	cr_assert_eq(r.resp.resid, 0);
	/* Allocation below 16 and unknown SELECT REPORT are invalid. */
	r = sh_cmd(0, 0, CDB(0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0), NULL, 0, 8);
	expect(&r, "05/24/00");
	r = sh_cmd(0, 0, CDB(0xa0, 0, 0x10, 0, 0, 0, 0, 0, 1, 0, 0, 0), NULL, 0, 256);
	expect(&r, "05/24/00");
	/* Well-known LUs only, and everything. */
	r = sh_cmd(0, 0, CDB(0xa0, 0, 0x01, 0, 0, 0, 0, 0, 1, 0, 0, 0), NULL, 0, 256);
	cr_assert_eq(scsi_be32(r.in), 8);
	cr_assert_eq(scsi_be64(r.in + 8), 0xc101000000000000ull);
	r = sh_cmd(0, 0, CDB(0xa0, 0, 0x02, 0, 0, 0, 0, 0, 1, 0, 0, 0), NULL, 0, 256);
	cr_assert_eq(scsi_be32(r.in), 32);
	/* Another target: its own LUNs. */
	r = sh_cmd(2, 0, CDB(0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0), NULL, 0, 256);
	cr_assert_eq(scsi_be32(r.in), 8);
}

/* ---- REQUEST SENSE ---- */

Test(scsi_cmd, request_sense)
{
	struct sh_res r = sh_cmd(0, 0, CDB(0x03, 0, 0, 0, 252, 0), NULL, 0, 252);

	expect(&r, "GOOD");
	cr_assert_eq(r.in[0], 0x70);
	cr_assert_eq(r.in[2], 0);
	cr_assert_eq(r.in[12], 0);
	cr_assert_eq(r.resp.resid, 252 - 18);
	/* Descriptor format is not supported. */
	r = sh_cmd(0, 0, CDB(0x03, 1, 0, 0, 252, 0), NULL, 0, 252);
	expect(&r, "05/24/00");
	/* Allocation 8: 8 bytes. */
	r = sh_cmd(0, 0, CDB(0x03, 0, 0, 0, 8, 0), NULL, 0, 8);
	expect(&r, "GOOD");
	cr_assert_eq(r.used_len, 108 + 8);
}

/* ---- REPORT SUPPORTED OPERATION CODES ---- */

Test(scsi_cmd, report_opcodes_all)
{
	struct sh_res r = sh_cmd(0, 0, CDB(0xa3, 0x0c, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0), NULL, 0,
				 1024);
	uint32_t len;
	bool seen_ws16 = false, seen_rc16 = false;

	expect(&r, "GOOD");
	len = scsi_be32(r.in);
	cr_assert_eq(len % 8, 0);
	cr_assert_eq(len / 8, 28);
	for (uint32_t o = 4; o < 4 + len; o += 8) {
		if (r.in[o] == 0x93) {
			seen_ws16 = true;
			cr_assert_eq(scsi_be16(r.in + o + 6), 16);
		}
		if (r.in[o] == 0x9e) {
			seen_rc16 = true;
			cr_assert_eq(scsi_be16(r.in + o + 2), 0x10);
			cr_assert_eq(r.in[o + 5] & 1, 1, "SERVACTV");
		}
	}
	cr_assert(seen_ws16 && seen_rc16);
	/* With command timeouts descriptors: 20 bytes per command. */
	r = sh_cmd(0, 0, CDB(0xa3, 0x0c, 0x80, 0, 0, 0, 0, 0, 4, 0, 0, 0), NULL, 0, 1024);
	cr_assert_eq(scsi_be32(r.in), 28 * 20);
	cr_assert_eq(scsi_be16(r.in + 4 + 8), 10);
}

Test(scsi_cmd, report_opcodes_one)
{
	/* Option 1, WRITE SAME(16): supported, 16-byte usage data. */
	struct sh_res r = sh_cmd(0, 0, CDB(0xa3, 0x0c, 0x01, 0x93, 0, 0, 0, 0, 0, 64, 0, 0), NULL,
				 0, 64);

	expect(&r, "GOOD");
	cr_assert_eq(r.in[1] & 7, 3);
	cr_assert_eq(scsi_be16(r.in + 2), 16);
	cr_assert_eq(r.in[4], 0x93);
	cr_assert_eq(r.resp.resid, 64 - 20);
	/* Unsupported opcode: SUPPORT 1. */
	r = sh_cmd(0, 0, CDB(0xa3, 0x0c, 0x01, 0x89, 0, 0, 0, 0, 0, 64, 0, 0), NULL, 0, 64);
	expect(&r, "GOOD");
	cr_assert_eq(r.in[1] & 7, 1);
	/* Option 1 on an opcode with service actions, option 2 on one without: invalid. */
	r = sh_cmd(0, 0, CDB(0xa3, 0x0c, 0x01, 0x9e, 0, 0, 0, 0, 0, 64, 0, 0), NULL, 0, 64);
	expect(&r, "05/24/00");
	r = sh_cmd(0, 0, CDB(0xa3, 0x0c, 0x02, 0x28, 0, 0, 0, 0, 0, 64, 0, 0), NULL, 0, 64);
	expect(&r, "05/24/00");
	/* Option 2: READ CAPACITY(16) supported, GET LBA STATUS not. */
	r = sh_cmd(0, 0, CDB(0xa3, 0x0c, 0x02, 0x9e, 0, 0x10, 0, 0, 0, 64, 0, 0), NULL, 0, 64);
	cr_assert_eq(r.in[1] & 7, 3);
	r = sh_cmd(0, 0, CDB(0xa3, 0x0c, 0x02, 0x9e, 0, 0x12, 0, 0, 0, 64, 0, 0), NULL, 0, 64);
	cr_assert_eq(r.in[1] & 7, 1);
	/* Option 3 works either way; options 4+ are invalid. */
	r = sh_cmd(0, 0, CDB(0xa3, 0x0c, 0x03, 0x2a, 0, 0, 0, 0, 0, 64, 0, 0), NULL, 0, 64);
	cr_assert_eq(r.in[1] & 7, 3);
	r = sh_cmd(0, 0, CDB(0xa3, 0x0c, 0x04, 0x2a, 0, 0, 0, 0, 0, 64, 0, 0), NULL, 0, 64);
	expect(&r, "05/24/00");
	/* With a timeouts descriptor (CTDP). */
	r = sh_cmd(0, 0, CDB(0xa3, 0x0c, 0x81, 0x00, 0, 0, 0, 0, 0, 64, 0, 0), NULL, 0, 64);
	cr_assert_eq(r.in[1], 0x83);
	cr_assert_eq(r.used_len, 108 + 4 + 6 + 12);
}

/* ---- unit attentions ---- */

Test(scsi_cmd, unit_attention_reported_once_and_exempt_commands)
{
	struct sh_res r;

	cr_assert_eq(vhd_scsi_lun_resized(g_sh.dev, 0, 1), 0);
	/* INQUIRY and REPORT LUNS do not see it. */
	r = sh_cmd(0, 1, CDB(0x12, 0, 0, 0, 36, 0), NULL, 0, 36);
	expect(&r, "GOOD");
	r = sh_cmd(0, 1, CDB(0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0), NULL, 0, 256);
	expect(&r, "GOOD");
	/* The next other command gets it, and only once. */
	r = sh_cmd(0, 1, CDB(0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0), NULL, 0, 4096);
	expect(&r, "06/2A/09");
	r = sh_cmd(0, 1, CDB(0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0), NULL, 0, 4096);
	expect(&r, "GOOD");
	/* REQUEST SENSE returns and clears it. */
	cr_assert_eq(vhd_scsi_lun_resized(g_sh.dev, 0, 1), 0);
	r = sh_cmd(0, 1, CDB(0x03, 0, 0, 0, 18, 0), NULL, 0, 18);
	expect(&r, "GOOD");
	cr_assert_eq(r.in[2], 0x06);
	cr_assert_eq(r.in[12], 0x2a);
	cr_assert_eq(r.in[13], 0x09);
	r = sh_cmd(0, 1, CDB(0x00, 0, 0, 0, 0, 0), NULL, 0, 0);
	expect(&r, "GOOD");
	/* Other LUNs are not affected. */
	cr_assert_eq(vhd_scsi_lun_resized(g_sh.dev, 0, 1), 0);
	r = sh_cmd(0, 0, CDB(0x00, 0, 0, 0, 0, 0), NULL, 0, 0);
	expect(&r, "GOOD");
}

Test(scsi_cmd, capacity_change_is_visible)
{
	struct sh_res r;

	g_h0->base.num_blocks = 4096;
	cr_assert_eq(vhd_scsi_lun_resized(g_sh.dev, 0, 0), 0);
	r = sh_cmd(0, 0, CDB(0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0), NULL, 0, 8);
	expect(&r, "06/2A/09");
	r = sh_cmd(0, 0, CDB(0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0), NULL, 0, 8);
	expect(&r, "GOOD");
	cr_assert_eq(scsi_be32(r.in), 4095);
	r = sh_cmd(0, 0, CDB(0x28, 0, 0, 0, 0x10, 0, 0, 0, 1, 0), NULL, 0, 512);
	expect(&r, "05/21/00");
}
