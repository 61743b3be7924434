/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio-blk device (src/dev/blk.c) through the queue framework (src/dev/queue.c) on a fake
 * guest, with the RAM backend (data checked) and a recording backend (what reaches the
 * backend: types, flags, ranges). Requests are laid out in every way the spec allows.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "fake_guest.h"
#include "vhostd/dev.h"

#define RS FG_REGION_SIZE
#define OUTSIDE 0x40000000ull

/* Descriptor length modifiers for run(). */
#define SPAN 0x80000000u  /* straddles a region boundary (half in each) */
#define FAULT 0x40000000u /* lies outside guest memory */
#define LEN(c) ((c) & 0x0fffffffu)

#define F(bit) (1ull << (bit))
#define FEATURES (F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_INDIRECT_DESC) | \
		  F(VIRTIO_BLK_F_FLUSH) | F(VIRTIO_BLK_F_CONFIG_WCE))

static struct fake_guest g;
static struct fake_ring r;
static struct vhd_bdev *bdev;
static struct vhd_dev *dev;
static struct vhd_queue q;
static bool q_started;

static void
init(void)
{
	log_capture_start();
	fg_init(&g, 3);
}

static void
fini(void)
{
	if (q_started) {
		dev->ops->queue_stop(&q);
		vhd_queue_fini(&q);
	}
	if (dev != NULL) {
		dev->ops->destroy(dev);
	}
	if (bdev != NULL) {
		vhd_bdev_destroy(bdev);
	}
	fg_fini(&g);
}

TestSuite(blk, .init = init, .fini = fini);

static struct vhd_bdev *
ram(uint64_t size, uint32_t bs, bool readonly)
{
	struct vhd_backend_conf conf = {.name = "ram0", .type = VHD_BACKEND_MALLOC,
					.size = size, .block_size = bs, .readonly = readonly};
	struct vhd_bdev *b;

	cr_assert_eq(vhd_bdev_create(&conf, &b), 0);
	return b;
}

static void
start_dev(struct vhd_bdev *b, bool readonly, const char *serial, uint64_t features)
{
	struct vhd_blk_conf conf = {.name = "vhost.0", .bdev = b, .num_queues = 2,
				    .readonly = readonly, .serial = serial};
	struct vhd_vq_setup s;

	bdev = b;
	cr_assert_eq(vhd_blk_create(&conf, &dev), 0);
	fr_init(&r, &g, 128);
	fr_setup(&r, &s, false, true, -1);
	cr_assert_eq(vhd_queue_init(&q, dev, 0, features, &s), 0);
	cr_assert_eq(dev->ops->queue_start(&q), 0);
	q_started = true;
}

/* The default device: 1 MiB of RAM, 512-byte blocks. */
static void
start_ram(void)
{
	start_dev(ram(1 << 20, 512, false), false, "serial-0", FEATURES);
}

/* ---- running requests ---- */

struct result {
	bool done;
	uint32_t used_len;
	uint8_t status;
};

static void
drain(void)
{
	for (unsigned int i = 0; i < 1000 && vhd_queue_inflight(&q) > 0; i++) {
		vhd_bdev_flush_channels();
		vhd_bdev_poll_channels();
	}
	vhd_vq_notify(&q.vq); /* as the worker does once per round: publish used->idx */
	cr_assert_eq(vhd_queue_inflight(&q), 0, "request never completed");
}

static unsigned int
cuts(const uint32_t *c)
{
	unsigned int n = 0;

	while (c != NULL && c[n] != 0) {
		n++;
	}
	return n;
}

static uint64_t
place(uint32_t c, unsigned int *span_region)
{
	if (c & FAULT) {
		return OUTSIDE;
	}
	if (c & SPAN) {
		return fg_alloc_span(&g, (*span_region)++, LEN(c) / 2, LEN(c));
	}
	return fg_alloc(&g, LEN(c), 1);
}

/*
 * Run one request. The readable bytes rd are cut into descriptors of the lengths in rd_cuts
 * (0-terminated, may be NULL), then come writable descriptors of the lengths in wr_cuts. The
 * writable buffers start filled with 0xee and are copied into wr (if not NULL) afterwards.
 */
static struct result
run(const void *rd, const uint32_t *rd_cuts, void *wr, const uint32_t *wr_cuts, bool indirect)
{
	unsigned int nr = cuts(rd_cuts), nw = cuts(wr_cuts), n = nr + nw, span_region = 0;
	uint64_t mark = g.cursor, off = 0;
	struct fr_buf *b = calloc(n, sizeof(*b));
	struct result res = {0};
	uint16_t used = r.used->idx;

	cr_assert(n > 0 && b != NULL);
	for (unsigned int i = 0; i < n; i++) {
		uint32_t c = i < nr ? rd_cuts[i] : wr_cuts[i - nr];

		b[i].len = LEN(c);
		b[i].write = i >= nr;
		b[i].gpa = place(c, &span_region);
		if (c & FAULT) {
			off += b[i].len;
			continue;
		}
		if (!b[i].write) {
			fg_write(&g, b[i].gpa, (const uint8_t *)rd + off, b[i].len);
			off += b[i].len;
		} else {
			fg_fill(&g, b[i].gpa, 0xee, b[i].len);
		}
	}
	if (indirect) {
		uint64_t table = fr_indirect_table(&g, b, n);

		fr_set_desc(&r, 0, table, n * 16, VRING_DESC_F_INDIRECT, 0);
	} else {
		fr_chain(&r, 0, b, n);
	}
	fr_push_avail(&r, 0);
	cr_assert_eq(vhd_queue_poll(&q), 1);
	drain();
	if (r.used->idx != used) {
		struct vhd_vring_used_elem e = fr_used_elem(&r, used);

		cr_assert_eq((uint16_t)(r.used->idx - used), 1);
		cr_assert_eq(e.id, 0);
		res.done = true;
		res.used_len = e.len;
	}
	off = 0;
	for (unsigned int i = nr; i < n; i++) {
		if (wr != NULL) {
			if (wr_cuts[i - nr] & FAULT) {
				memset((uint8_t *)wr + off, 0xee, b[i].len);
			} else {
				fg_read(&g, b[i].gpa, (uint8_t *)wr + off, b[i].len);
			}
		}
		off += b[i].len;
		if (i == n - 1 && !(wr_cuts[i - nr] & FAULT)) {
			fg_read(&g, b[i].gpa + b[i].len - 1, &res.status, 1);
		}
	}
	free(b);
	g.cursor = mark;
	return res;
}

static void
assert_status(struct result res, uint8_t status, uint32_t used_len)
{
	cr_assert(res.done, "request not returned to the guest");
	cr_assert_eq(res.status, status, "status %u, expected %u", res.status, status);
	cr_assert_eq(res.used_len, used_len, "used len %u, expected %u", res.used_len, used_len);
}

static void
put_hdr(void *p, uint32_t type, uint64_t sector)
{
	struct virtio_blk_outhdr h = {.type = type, .ioprio = 0x12345678, .sector = sector};

	memcpy(p, &h, sizeof(h));
}

static struct result
blk_write(uint64_t sector, const void *data, uint32_t len)
{
	uint8_t *rd = malloc(16 + len);
	uint32_t rc[] = {16, len, 0};
	uint32_t wc[] = {1, 0};
	struct result res;

	put_hdr(rd, VIRTIO_BLK_T_OUT, sector);
	memcpy(rd + 16, data, len);
	res = run(rd, rc, NULL, wc, false);
	free(rd);
	return res;
}

static struct result
blk_read(uint64_t sector, void *data, uint32_t len)
{
	uint8_t rd[16];
	uint32_t rc[] = {16, 0};
	uint32_t wc[] = {len, 1, 0};
	uint8_t *wr = malloc(len + 1);
	struct result res;

	put_hdr(rd, VIRTIO_BLK_T_IN, sector);
	res = run(rd, rc, wr, len > 0 ? wc : &wc[1], false);
	memcpy(data, wr, len);
	free(wr);
	return res;
}

static void
pattern(uint8_t *p, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++) {
		p[i] = (uint8_t)((i * 31 + seed * 7) ^ (i >> 8));
	}
}

static void
assert_disk(uint64_t sector, const uint8_t *want, uint32_t len)
{
	uint8_t *got = malloc(len);

	assert_status(blk_read(sector, got, len), VIRTIO_BLK_S_OK, len + 1);
	for (uint32_t i = 0; i < len; i++) {
		cr_assert_eq(got[i], want[i], "sector %llu byte %u: %#x, expected %#x",
			     (unsigned long long)sector, i, got[i], want[i]);
	}
	free(got);
}

static void
assert_bytes(const uint8_t *p, uint8_t byte, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		cr_assert_eq(p[i], byte, "byte %zu is %#x, expected %#x", i, p[i], byte);
	}
}

/* ---- features and config ---- */

#define BASE_FEATURES (F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_INDIRECT_DESC) | \
		       F(VIRTIO_RING_F_EVENT_IDX) | F(VIRTIO_BLK_F_SIZE_MAX) | \
		       F(VIRTIO_BLK_F_SEG_MAX) | F(VIRTIO_BLK_F_BLK_SIZE) | \
		       F(VIRTIO_BLK_F_TOPOLOGY) | F(VIRTIO_BLK_F_FLUSH) | \
		       F(VIRTIO_BLK_F_CONFIG_WCE) | F(VIRTIO_BLK_F_MQ))

static uint64_t
features_of(struct vhd_bdev *b, bool readonly)
{
	struct vhd_blk_conf conf = {.name = "f", .bdev = b, .num_queues = 1,
				    .readonly = readonly};
	struct vhd_dev *d;
	uint64_t f;

	cr_assert_eq(vhd_blk_create(&conf, &d), 0);
	f = d->ops->features(d);
	d->ops->destroy(d);
	return f;
}

Test(blk, features)
{
	struct vhd_backend_conf nconf = {.name = "n", .type = VHD_BACKEND_NULL, .size = 1 << 20};
	struct vhd_bdev *rw = ram(1 << 20, 512, false), *ro = ram(1 << 20, 512, true), *nul;

	cr_assert_eq(vhd_bdev_create(&nconf, &nul), 0);
	cr_assert_eq(features_of(rw, false),
		     BASE_FEATURES | F(VIRTIO_BLK_F_DISCARD) | F(VIRTIO_BLK_F_WRITE_ZEROES));
	cr_assert_eq(features_of(rw, true), BASE_FEATURES | F(VIRTIO_BLK_F_RO));
	cr_assert_eq(features_of(ro, false), BASE_FEATURES | F(VIRTIO_BLK_F_RO));
	cr_assert_eq(features_of(nul, false), BASE_FEATURES);
	vhd_bdev_destroy(rw);
	vhd_bdev_destroy(ro);
	vhd_bdev_destroy(nul);
}

Test(blk, create_checks_and_ops)
{
	struct vhd_blk_conf conf = {.name = "vhost.0", .num_queues = 1};
	char longname[VHD_NAME_MAX + 2];

	cr_assert_eq(vhd_blk_create(&conf, &dev), -EINVAL);
	bdev = ram(1 << 20, 512, false);
	conf.bdev = bdev;
	conf.num_queues = 0;
	cr_assert_eq(vhd_blk_create(&conf, &dev), -EINVAL);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	conf.name = longname;
	conf.num_queues = 3;
	cr_assert_eq(vhd_blk_create(&conf, &dev), -EINVAL);
	conf.name = "vhost.0";
	cr_assert_eq(vhd_blk_create(&conf, &dev), 0);
	cr_assert_str_eq(dev->ops->type, "blk");
	cr_assert_str_eq(dev->name, "vhost.0");
	cr_assert_eq(dev->ops->num_vrings(dev), 3);
	cr_assert_eq(dev->ops->protocol_features, F(VHOST_USER_PROTOCOL_F_CONFIG));
	cr_assert_eq(vhd_blk_bdev(dev), bdev);
	cr_assert_geq(dev->ops->task_size, sizeof(struct vhd_task));
}

Test(blk, status_from_errno)
{
	cr_assert_eq(vhd_blk_status_from_errno(0), VIRTIO_BLK_S_OK);
	cr_assert_eq(vhd_blk_status_from_errno(-EOPNOTSUPP), VIRTIO_BLK_S_UNSUPP);
	cr_assert_eq(vhd_blk_status_from_errno(-EIO), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(vhd_blk_status_from_errno(-ERANGE), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(vhd_blk_status_from_errno(-EROFS), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(vhd_blk_status_from_errno(-ENOSPC), VIRTIO_BLK_S_IOERR);
}

Test(blk, config_space)
{
	uint8_t buf[256];
	struct virtio_blk_config c;

	start_dev(ram(4 << 20, 4096, false), false, NULL, FEATURES);
	memset(buf, 0xaa, sizeof(buf));
	cr_assert_eq(dev->ops->get_config(dev, buf, sizeof(buf)), 0);
	memcpy(&c, buf, sizeof(c));
	cr_assert_eq(c.capacity, 8192);
	cr_assert_eq(c.size_max, 1u << 20);
	cr_assert_eq(c.seg_max, VHD_SEG_MAX);
	cr_assert_eq(c.seg_max, 128);
	cr_assert_eq(c.geometry.cylinders, 0);
	cr_assert_eq(c.blk_size, 4096);
	cr_assert_eq(c.physical_block_exp, 0);
	cr_assert_eq(c.alignment_offset, 0);
	cr_assert_eq(c.min_io_size, 1);
	cr_assert_eq(c.opt_io_size, 0);
	cr_assert_eq(c.wce, 0, "RAM has no volatile cache: write-through");
	cr_assert_eq(c.unused0, 0);
	cr_assert_eq(c.num_queues, 2);
	cr_assert_eq(c.max_discard_sectors, 1u << 22);
	cr_assert_eq(c.max_discard_seg, 16);
	cr_assert_eq(c.discard_sector_alignment, 8);
	cr_assert_eq(c.max_write_zeroes_sectors, 1u << 22);
	cr_assert_eq(c.max_write_zeroes_seg, 16);
	cr_assert_eq(c.write_zeroes_may_unmap, 1);
	cr_assert_arr_eq(c.unused1, ((uint8_t[3]){0, 0, 0}), 3);
	cr_assert_eq(c.max_secure_erase_sectors, 0);
	/* QEMU asks for more than the struct: the rest is zero. */
	assert_bytes(buf + sizeof(c), 0, sizeof(buf) - sizeof(c));
	/* A shorter read gets a prefix and touches nothing after it. */
	memset(buf, 0xaa, sizeof(buf));
	cr_assert_eq(dev->ops->get_config(dev, buf, 20), 0);
	cr_assert_eq(memcmp(buf, &c, 20), 0);
	assert_bytes(buf + 20, 0xaa, sizeof(buf) - 20);
	/* Resize shows in capacity. */
	cr_assert_eq(bdev->ops->resize(bdev, 2 << 20), 0);
	cr_assert_eq(dev->ops->get_config(dev, buf, sizeof(buf)), 0);
	memcpy(&c, buf, sizeof(c));
	cr_assert_eq(c.capacity, 4096);
}

/* ---- read and write ---- */

Test(blk, read_write_round_trip)
{
	uint8_t w[4096], rd[4096];

	start_ram();
	pattern(w, sizeof(w), 1);
	assert_status(blk_write(10, w, sizeof(w)), VIRTIO_BLK_S_OK, 1);
	memset(rd, 0, sizeof(rd));
	assert_status(blk_read(10, rd, sizeof(rd)), VIRTIO_BLK_S_OK, 4097);
	cr_assert_arr_eq(rd, w, sizeof(w));
	/* Neighbours untouched (RAM starts zeroed). */
	assert_status(blk_read(9, rd, 512), VIRTIO_BLK_S_OK, 513);
	assert_bytes(rd, 0, 512);
	assert_status(blk_read(18, rd, 512), VIRTIO_BLK_S_OK, 513);
	assert_bytes(rd, 0, 512);
	/* The last sector. */
	assert_status(blk_write(2047, w, 512), VIRTIO_BLK_S_OK, 1);
	assert_disk(2047, w, 512);
	cr_assert_eq(q.stats.writes, 2);
	cr_assert_eq(q.stats.write_bytes, 4096 + 512);
	cr_assert_eq(q.stats.reads, 4);
	cr_assert_eq(q.stats.read_bytes, 4096 + 512 * 3);
	cr_assert_eq(q.stats.errors, 0);
}

Test(blk, zero_length_read_and_write)
{
	uint8_t hdr[16];
	uint32_t rc[] = {16, 0}, wc[] = {1, 0};

	start_ram();
	put_hdr(hdr, VIRTIO_BLK_T_IN, 5);
	assert_status(run(hdr, rc, NULL, wc, false), VIRTIO_BLK_S_OK, 1);
	put_hdr(hdr, VIRTIO_BLK_T_OUT, 5);
	assert_status(run(hdr, rc, NULL, wc, false), VIRTIO_BLK_S_OK, 1);
}

/* OUT: readable = header + 1024 bytes; IN: writable = 1024 bytes + status. */
static const uint32_t out_layouts[][10] = {
	{16, 1024},
	{7, 9, 1024},
	{16 + 1024},                /* header merged with data */
	{7, 9 + 100, 924},
	{3, 3, 3, 3, 4, 512, 1, 511},
	{16, 1024 | SPAN},
	{16 | SPAN, 1024 | SPAN},   /* header split across regions */
	{(16 + 1024) | SPAN},
	{1, 15 + 1024},
};

static const uint32_t in_layouts[][10] = {
	{1024, 1},
	{1025},                     /* status merged with read data */
	{512, 513},
	{100, 924, 1},
	{1, 1, 1022, 1},
	{1024 | SPAN, 1},
	{1025 | SPAN},              /* status in another region than most data */
	{512, 512, 1 | 0},
};

static const uint32_t in_hdr_layouts[][4] = {
	{16},
	{7, 9},
	{1, 1, 14},
	{16 | SPAN},
};

Test(blk, any_layout)
{
	uint8_t data[1024], rd[16 + 1024], got[1025];
	unsigned int seed = 0;

	start_ram();
	for (unsigned int ind = 0; ind < 2; ind++) {
		for (unsigned int o = 0; o < VHD_ARRAY_SIZE(out_layouts); o++) {
			for (unsigned int i = 0; i < VHD_ARRAY_SIZE(in_layouts); i++) {
				const uint32_t *h = in_hdr_layouts[(o + i) % 4];
				uint64_t sector = 4 * (seed % 64);
				uint32_t wc_status[] = {1, 0};
				struct result res;

				/* SPAN twice in one request needs two region boundaries. */
				if ((h[0] & SPAN) && (in_layouts[i][0] & SPAN)) {
					h = in_hdr_layouts[0];
				}
				pattern(data, sizeof(data), ++seed);
				put_hdr(rd, VIRTIO_BLK_T_OUT, sector);
				memcpy(rd + 16, data, sizeof(data));
				res = run(rd, out_layouts[o], NULL, wc_status, ind);
				cr_assert_eq(res.status, VIRTIO_BLK_S_OK, "out %u in %u ind %u", o,
					     i, ind);
				assert_status(res, VIRTIO_BLK_S_OK, 1);
				put_hdr(rd, VIRTIO_BLK_T_IN, sector);
				res = run(rd, h, got, in_layouts[i], ind);
				cr_assert(res.done);
				cr_assert_eq(res.status, VIRTIO_BLK_S_OK, "out %u in %u ind %u", o,
					     i, ind);
				cr_assert_eq(res.used_len, 1025);
				cr_assert_arr_eq(got, data, sizeof(data), "out %u in %u ind %u", o,
						 i, ind);
				cr_assert_eq(got[1024], VIRTIO_BLK_S_OK);
			}
		}
	}
	cr_assert_eq(g_log.errors, 0);
}

Test(blk, read_only_device_refuses_writes)
{
	uint8_t w[1024], z[1024];
	struct vhd_bdev *b = ram(1 << 20, 512, false);
	struct vhd_blk_conf conf = {.name = "rw", .bdev = b, .num_queues = 1};
	struct vhd_dev *rw;

	/* Put data on the disk through a writable device first. */
	cr_assert_eq(vhd_blk_create(&conf, &rw), 0);
	pattern(w, sizeof(w), 3);
	start_dev(b, false, NULL, FEATURES);
	assert_status(blk_write(100, w, sizeof(w)), VIRTIO_BLK_S_OK, 1);
	dev->ops->queue_stop(&q);
	vhd_queue_fini(&q);
	dev->ops->destroy(dev);
	q_started = false;
	rw->ops->destroy(rw);

	start_dev(b, true, NULL, FEATURES);
	memset(z, 0x11, sizeof(z));
	assert_status(blk_write(100, z, sizeof(z)), VIRTIO_BLK_S_IOERR, 1);
	assert_status(blk_write(0, z, 512), VIRTIO_BLK_S_IOERR, 1);
	assert_disk(100, w, sizeof(w));
	cr_assert_eq(q.stats.errors, 2);
}

Test(blk, out_of_range)
{
	uint8_t buf[1024];
	const uint64_t bad[] = {
		2048, 2049, UINT64_MAX, UINT64_MAX / 512, UINT64_MAX / 512 + 1, 1ull << 55,
		(1ull << 55) + 1,
	};

	start_ram();
	assert_status(blk_read(2047, buf, 512), VIRTIO_BLK_S_OK, 513);
	assert_status(blk_read(2047, buf, 1024), VIRTIO_BLK_S_IOERR, 1);
	assert_status(blk_write(2047, buf, 1024), VIRTIO_BLK_S_IOERR, 1);
	for (unsigned int i = 0; i < VHD_ARRAY_SIZE(bad); i++) {
		memset(buf, 0xee, sizeof(buf));
		assert_status(blk_read(bad[i], buf, 512), VIRTIO_BLK_S_IOERR, 1);
		assert_bytes(buf, 0xee, 512);
		assert_status(blk_write(bad[i], buf, 512), VIRTIO_BLK_S_IOERR, 1);
	}
	/* Sector 2^55 is byte 2^64 = 0 after wrapping: sector 0 must still be empty. */
	assert_status(blk_read(0, buf, 512), VIRTIO_BLK_S_OK, 513);
	assert_bytes(buf, 0, 512);
}

Test(blk, length_not_a_multiple_of_512)
{
	uint8_t buf[1024];
	uint8_t hdr[16];
	uint32_t rc[] = {16, 0}, wc[] = {100, 1, 0};

	start_ram();
	memset(buf, 0xab, sizeof(buf));
	assert_status(blk_write(0, buf, 513), VIRTIO_BLK_S_IOERR, 1);
	assert_status(blk_write(0, buf, 100), VIRTIO_BLK_S_IOERR, 1);
	put_hdr(hdr, VIRTIO_BLK_T_IN, 0);
	assert_status(run(hdr, rc, buf, wc, false), VIRTIO_BLK_S_IOERR, 1);
	assert_bytes(buf, 0xee, 100);
	assert_status(blk_read(0, buf, 512), VIRTIO_BLK_S_OK, 513);
	assert_bytes(buf, 0, 512);
}

Test(blk, unaligned_to_block_size)
{
	uint8_t buf[8192];

	start_dev(ram(1 << 20, 4096, false), false, NULL, FEATURES);
	pattern(buf, sizeof(buf), 5);
	assert_status(blk_write(1, buf, 4096), VIRTIO_BLK_S_IOERR, 1);
	assert_status(blk_write(8, buf, 512), VIRTIO_BLK_S_IOERR, 1);
	assert_status(blk_write(8, buf, 4096 + 512), VIRTIO_BLK_S_IOERR, 1);
	assert_status(blk_read(4, buf, 4096), VIRTIO_BLK_S_IOERR, 1);
	assert_status(blk_write(8, buf, 8192), VIRTIO_BLK_S_OK, 1);
	assert_disk(8, buf, 8192);
}

/* ---- other request types ---- */

static struct result
get_id(uint32_t buflen, uint8_t *out)
{
	uint8_t hdr[16];
	uint32_t rc[] = {16, 0}, wc[] = {buflen, 1, 0};

	put_hdr(hdr, VIRTIO_BLK_T_GET_ID, 0);
	return run(hdr, rc, out, buflen > 0 ? wc : &wc[1], false);
}

Test(blk, get_id_short_serial)
{
	uint8_t out[65];

	start_dev(ram(1 << 20, 512, false), false, "abc", FEATURES);
	assert_status(get_id(20, out), VIRTIO_BLK_S_OK, 21);
	cr_assert_arr_eq(out, "abc", 3);
	assert_bytes(out + 3, 0, 17);
	/* A longer buffer gets 20 bytes; the rest is not touched. */
	assert_status(get_id(64, out), VIRTIO_BLK_S_OK, 21);
	cr_assert_arr_eq(out, "abc", 3);
	assert_bytes(out + 3, 0, 17);
	assert_bytes(out + 20, 0xee, 44);
	/* A shorter one gets what fits. */
	assert_status(get_id(2, out), VIRTIO_BLK_S_OK, 3);
	cr_assert_arr_eq(out, "ab", 2);
	/* Only the status byte. */
	assert_status(get_id(0, out), VIRTIO_BLK_S_OK, 1);
}

Test(blk, get_id_serial_of_20_and_more)
{
	const char *s20 = "ABCDEFGHIJKLMNOPQRST";
	uint8_t out[32];
	uint8_t hdr[16];
	uint32_t rc[] = {16, 0}, wc[] = {21, 0};

	start_dev(ram(1 << 20, 512, false), false, "ABCDEFGHIJKLMNOPQRSTUVWXY", FEATURES);
	assert_status(get_id(20, out), VIRTIO_BLK_S_OK, 21);
	cr_assert_arr_eq(out, s20, 20);
	/* Status merged with the id buffer. */
	put_hdr(hdr, VIRTIO_BLK_T_GET_ID, 0);
	assert_status(run(hdr, rc, out, wc, false), VIRTIO_BLK_S_OK, 21);
	cr_assert_arr_eq(out, s20, 20);
	cr_assert_eq(out[20], VIRTIO_BLK_S_OK);
}

Test(blk, get_id_exactly_20_and_default)
{
	uint8_t out[21];
	struct vhd_blk_conf conf = {.name = "vhost.7", .num_queues = 1};
	struct vhd_dev *d;

	start_dev(ram(1 << 20, 512, false), false, "ABCDEFGHIJKLMNOPQRST", FEATURES);
	assert_status(get_id(20, out), VIRTIO_BLK_S_OK, 21);
	cr_assert_arr_eq(out, "ABCDEFGHIJKLMNOPQRST", 20);
	/* Without a serial the controller name is used. */
	conf.bdev = bdev;
	cr_assert_eq(vhd_blk_create(&conf, &d), 0);
	q.dev = d;
	assert_status(get_id(20, out), VIRTIO_BLK_S_OK, 21);
	cr_assert_arr_eq(out, "vhost.7", 7);
	assert_bytes(out + 7, 0, 13);
	q.dev = dev;
	d->ops->destroy(d);
}

Test(blk, get_id_into_a_faulting_buffer)
{
	uint8_t hdr[16];
	uint32_t rc[] = {16, 0}, wc[] = {20 | FAULT, 1, 0};

	start_ram();
	put_hdr(hdr, VIRTIO_BLK_T_GET_ID, 0);
	assert_status(run(hdr, rc, NULL, wc, false), VIRTIO_BLK_S_IOERR, 1);
}

Test(blk, flush)
{
	uint8_t rd[16 + 512];
	uint32_t rc[] = {16, 0}, rc_data[] = {16, 512, 0}, wc[] = {1, 0};

	start_ram();
	put_hdr(rd, VIRTIO_BLK_T_FLUSH, 0);
	assert_status(run(rd, rc, NULL, wc, false), VIRTIO_BLK_S_OK, 1);
	put_hdr(rd, VIRTIO_BLK_T_FLUSH_OUT, 0);
	assert_status(run(rd, rc, NULL, wc, false), VIRTIO_BLK_S_OK, 1);
	/* Data on a flush is ignored. */
	put_hdr(rd, VIRTIO_BLK_T_FLUSH, 0);
	assert_status(run(rd, rc_data, NULL, wc, false), VIRTIO_BLK_S_OK, 1);
	cr_assert_eq(q.stats.flushes, 3);
}

Test(blk, unknown_and_unoffered_types)
{
	const uint32_t types[] = {2, 3, 6, 7, 9, VIRTIO_BLK_T_GET_LIFETIME,
				  VIRTIO_BLK_T_SECURE_ERASE, 15, 16, 99, 0x7fffffff};
	uint8_t rd[16 + 512];
	uint32_t rc[] = {16, 0}, wc[] = {512, 1, 0};

	start_ram();
	for (unsigned int i = 0; i < VHD_ARRAY_SIZE(types); i++) {
		put_hdr(rd, types[i], 0);
		assert_status(run(rd, rc, NULL, wc, false), VIRTIO_BLK_S_UNSUPP, 1);
	}
	cr_assert_eq(q.stats.others, VHD_ARRAY_SIZE(types));
}

Test(blk, legacy_barrier_bit_ignored)
{
	uint8_t w[512], rd[16], got[513];
	uint32_t rc[] = {16, 0}, wc[] = {512, 1, 0};

	start_ram();
	pattern(w, sizeof(w), 9);
	assert_status(blk_write(3, w, sizeof(w)), VIRTIO_BLK_S_OK, 1);
	put_hdr(rd, VIRTIO_BLK_T_IN | VIRTIO_BLK_T_BARRIER, 3);
	assert_status(run(rd, rc, got, wc, false), VIRTIO_BLK_S_OK, 513);
	cr_assert_arr_eq(got, w, 512);
}

/* ---- discard and write zeroes ---- */

static struct result
dwz(uint32_t type, const struct virtio_blk_discard_write_zeroes *segs, unsigned int nseg,
    uint32_t payload_len)
{
	uint8_t *rd = malloc(16 + payload_len + 1);
	uint32_t rc[] = {16, payload_len, 0};
	uint32_t wc[] = {1, 0};
	struct result res;

	put_hdr(rd, type, 0);
	memcpy(rd + 16, segs, VHD_MIN(payload_len, nseg * 16u));
	res = run(rd, payload_len > 0 ? rc : (uint32_t[]){16, 0}, NULL, wc, false);
	free(rd);
	return res;
}

#define SEG(s, n, f) ((struct virtio_blk_discard_write_zeroes){(s), (n), (f)})

static uint8_t disk_model[64 * 512];

static void
fill_disk(unsigned int seed)
{
	pattern(disk_model, sizeof(disk_model), seed);
	for (unsigned int i = 0; i < sizeof(disk_model); i++) {
		disk_model[i] |= 1;
	}
	assert_status(blk_write(0, disk_model, sizeof(disk_model)), VIRTIO_BLK_S_OK, 1);
}

static void
zero_model(uint64_t sector, uint32_t n)
{
	memset(disk_model + sector * 512, 0, n * 512ull);
}

Test(blk, write_zeroes_and_discard)
{
	struct virtio_blk_discard_write_zeroes s[3] = {
		SEG(2, 3, 0), SEG(10, 1, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP), SEG(20, 4, 0),
	};

	start_ram();
	fill_disk(1);
	assert_status(dwz(VIRTIO_BLK_T_WRITE_ZEROES, s, 3, 48), VIRTIO_BLK_S_OK, 1);
	zero_model(2, 3);
	zero_model(10, 1);
	zero_model(20, 4);
	assert_disk(0, disk_model, sizeof(disk_model));
	s[0] = SEG(30, 2, 0);
	s[1] = SEG(40, 0, 0); /* empty segments are skipped */
	s[2] = SEG(41, 8, 0);
	assert_status(dwz(VIRTIO_BLK_T_DISCARD, s, 3, 48), VIRTIO_BLK_S_OK, 1);
	zero_model(30, 2);
	zero_model(41, 8);
	assert_disk(0, disk_model, sizeof(disk_model));
	cr_assert_eq(q.stats.write_zeroes, 1);
	cr_assert_eq(q.stats.discards, 1);
}

Test(blk, discard_segments_in_any_layout)
{
	const uint32_t layouts[][6] = {
		{16 + 32},        /* header and both segments in one descriptor */
		{16, 7, 9, 16},   /* a segment split in two */
		{20, 28},         /* header merged with part of a segment */
		{16, 32 | SPAN},  /* segments across a region boundary */
		{16, 16, 16},
	};
	struct virtio_blk_discard_write_zeroes s[2];
	uint8_t rd[16 + 32];
	uint32_t wc[] = {1, 0};

	start_ram();
	for (unsigned int i = 0; i < VHD_ARRAY_SIZE(layouts); i++) {
		fill_disk(30 + i);
		s[0] = SEG(3 + i, 2, 0);
		s[1] = SEG(40 + i, 3, 0);
		put_hdr(rd, i % 2 ? VIRTIO_BLK_T_DISCARD : VIRTIO_BLK_T_WRITE_ZEROES, 0);
		memcpy(rd + 16, s, sizeof(s));
		assert_status(run(rd, layouts[i], NULL, wc, i == 4), VIRTIO_BLK_S_OK, 1);
		zero_model(3 + i, 2);
		zero_model(40 + i, 3);
		assert_disk(0, disk_model, sizeof(disk_model));
	}
}

Test(blk, discard_write_zeroes_bad_requests_change_nothing)
{
	struct virtio_blk_discard_write_zeroes s[17];
	const uint32_t types[] = {VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_WRITE_ZEROES};

	start_ram();
	fill_disk(2);
	for (unsigned int t = 0; t < 2; t++) {
		uint32_t type = types[t];

		for (unsigned int i = 0; i < 17; i++) {
			s[i] = SEG(i, 1, 0);
		}
		/* Unknown flags. */
		s[1].flags = 2;
		assert_status(dwz(type, s, 2, 32), VIRTIO_BLK_S_UNSUPP, 1);
		s[1].flags = 0x80000000u;
		assert_status(dwz(type, s, 2, 32), VIRTIO_BLK_S_UNSUPP, 1);
		s[1].flags = 0;
		/* Too many segments. */
		assert_status(dwz(type, s, 17, 17 * 16), VIRTIO_BLK_S_UNSUPP, 1);
		/* Segment too large, out of range, overflowing, unaligned payload. */
		s[1] = SEG(0, (1u << 22) + 1, 0);
		assert_status(dwz(type, s, 2, 32), VIRTIO_BLK_S_IOERR, 1);
		s[1] = SEG(2047, 2, 0);
		assert_status(dwz(type, s, 2, 32), VIRTIO_BLK_S_IOERR, 1);
		s[1] = SEG(2048, 1, 0);
		assert_status(dwz(type, s, 2, 32), VIRTIO_BLK_S_IOERR, 1);
		s[1] = SEG(UINT64_MAX / 512 + 1, 1, 0);
		assert_status(dwz(type, s, 2, 32), VIRTIO_BLK_S_IOERR, 1);
		s[1] = SEG(1ull << 55, 1, 0);
		assert_status(dwz(type, s, 2, 32), VIRTIO_BLK_S_IOERR, 1);
		s[1] = SEG(5, 1, 0);
		assert_status(dwz(type, s, 2, 24), VIRTIO_BLK_S_IOERR, 1);
		assert_status(dwz(type, s, 2, 31), VIRTIO_BLK_S_IOERR, 1);
		assert_status(dwz(type, s, 0, 0), VIRTIO_BLK_S_IOERR, 1);
	}
	/* The spec's MUST: unmap on a discard is unsupported. */
	s[0] = SEG(0, 1, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	assert_status(dwz(VIRTIO_BLK_T_DISCARD, s, 1, 16), VIRTIO_BLK_S_UNSUPP, 1);
	/* 16 segments is the limit we advertise. */
	for (unsigned int i = 0; i < 16; i++) {
		s[i] = SEG(2 * i, 1, 0);
	}
	assert_disk(0, disk_model, sizeof(disk_model));
	assert_status(dwz(VIRTIO_BLK_T_WRITE_ZEROES, s, 16, 256), VIRTIO_BLK_S_OK, 1);
	for (unsigned int i = 0; i < 16; i++) {
		zero_model(2 * i, 1);
	}
	assert_disk(0, disk_model, sizeof(disk_model));
}

Test(blk, discard_write_zeroes_unaligned_to_block_size)
{
	struct virtio_blk_discard_write_zeroes s = SEG(1, 8, 0);

	start_dev(ram(1 << 20, 4096, false), false, NULL, FEATURES);
	assert_status(dwz(VIRTIO_BLK_T_DISCARD, &s, 1, 16), VIRTIO_BLK_S_IOERR, 1);
	s = SEG(8, 4, 0);
	assert_status(dwz(VIRTIO_BLK_T_WRITE_ZEROES, &s, 1, 16), VIRTIO_BLK_S_IOERR, 1);
	s = SEG(8, 8, 0);
	assert_status(dwz(VIRTIO_BLK_T_WRITE_ZEROES, &s, 1, 16), VIRTIO_BLK_S_OK, 1);
}

Test(blk, discard_write_zeroes_unsupported_or_read_only)
{
	struct vhd_backend_conf nconf = {.name = "n", .type = VHD_BACKEND_NULL, .size = 1 << 20};
	struct virtio_blk_discard_write_zeroes s = SEG(0, 1, 0);
	struct vhd_bdev *nul;

	cr_assert_eq(vhd_bdev_create(&nconf, &nul), 0);
	start_dev(nul, false, NULL, FEATURES);
	assert_status(dwz(VIRTIO_BLK_T_DISCARD, &s, 1, 16), VIRTIO_BLK_S_UNSUPP, 1);
	assert_status(dwz(VIRTIO_BLK_T_WRITE_ZEROES, &s, 1, 16), VIRTIO_BLK_S_UNSUPP, 1);
}

Test(blk, discard_on_read_only_device)
{
	struct virtio_blk_discard_write_zeroes s = SEG(0, 1, 0);

	start_dev(ram(1 << 20, 512, false), true, NULL, FEATURES);
	assert_status(dwz(VIRTIO_BLK_T_DISCARD, &s, 1, 16), VIRTIO_BLK_S_IOERR, 1);
	assert_status(dwz(VIRTIO_BLK_T_WRITE_ZEROES, &s, 1, 16), VIRTIO_BLK_S_IOERR, 1);
}

/* ---- malformed requests ---- */

Test(blk, short_header)
{
	uint8_t rd[16];
	uint32_t rc15[] = {15, 0}, rc78[] = {7, 8, 0}, wc[] = {512, 1, 0}, wc_all[] = {529, 0};
	uint8_t out[529];

	start_ram();
	put_hdr(rd, VIRTIO_BLK_T_IN, 0);
	assert_status(run(rd, rc15, out, wc, false), VIRTIO_BLK_S_IOERR, 1);
	assert_bytes(out, 0xee, 512);
	assert_status(run(rd, rc78, NULL, wc, false), VIRTIO_BLK_S_IOERR, 1);
	/* Everything writable: the header is not readable at all. */
	assert_status(run(NULL, NULL, out, wc_all, false), VIRTIO_BLK_S_IOERR, 1);
	assert_bytes(out, 0xee, 528);
	cr_assert_not(q.vq.broken);
}

Test(blk, header_outside_guest_memory)
{
	uint8_t rd[16];
	uint32_t rc[] = {16 | FAULT, 0}, wc[] = {1, 0};

	start_ram();
	put_hdr(rd, VIRTIO_BLK_T_OUT, 0);
	assert_status(run(rd, rc, NULL, wc, false), VIRTIO_BLK_S_IOERR, 1);
}

Test(blk, no_writable_status_byte_breaks_the_queue)
{
	uint8_t rd[16 + 512];
	uint32_t rc[] = {16, 512, 0};
	struct result res;

	start_ram();
	put_hdr(rd, VIRTIO_BLK_T_OUT, 0);
	res = run(rd, rc, NULL, NULL, false);
	cr_assert_not(res.done);
	cr_assert(q.vq.broken);
	cr_assert_eq(g_log.errors, 1);
	cr_assert_eq(r.used->idx, 0);
	cr_assert_eq(vhd_queue_inflight(&q), 0);
	fr_push_avail(&r, 0);
	cr_assert_eq(vhd_queue_poll(&q), 0);
}

Test(blk, status_byte_outside_guest_memory_breaks_the_queue)
{
	uint8_t rd[16];
	uint32_t rc[] = {16, 0}, wc[] = {512, 1 | FAULT, 0};
	struct result res;

	start_ram();
	put_hdr(rd, VIRTIO_BLK_T_IN, 0);
	res = run(rd, rc, NULL, wc, false);
	cr_assert_not(res.done);
	cr_assert(q.vq.broken);
	cr_assert_eq(g_log.errors, 1);
}

Test(blk, faulting_data_buffer)
{
	uint8_t rd[16 + 1024], out[1025], w[1024];
	uint32_t wc[] = {512 | FAULT, 512, 1, 0}, wc2[] = {512, 512 | FAULT, 1, 0};
	uint32_t rc_in[] = {16, 0}, rc_out[] = {16, 512, 512 | FAULT, 0}, wc_out[] = {1, 0};

	start_ram();
	pattern(w, sizeof(w), 4);
	assert_status(blk_write(0, w, sizeof(w)), VIRTIO_BLK_S_OK, 1);
	put_hdr(rd, VIRTIO_BLK_T_IN, 0);
	assert_status(run(rd, rc_in, out, wc, false), VIRTIO_BLK_S_IOERR, 1);
	assert_bytes(out + 512, 0xee, 512);
	assert_status(run(rd, rc_in, out, wc2, false), VIRTIO_BLK_S_IOERR, 1);
	assert_bytes(out, 0xee, 512);
	/* A write with an unreachable part writes nothing. */
	put_hdr(rd, VIRTIO_BLK_T_OUT, 0);
	memset(rd + 16, 0x33, 1024);
	assert_status(run(rd, rc_out, NULL, wc_out, false), VIRTIO_BLK_S_IOERR, 1);
	assert_disk(0, w, sizeof(w));
}

Test(blk, more_segments_than_iovecs)
{
	enum { NSEG = VHD_SEG_MAX, TOO_MANY = VHD_TASK_IOV_MAX };
	uint32_t rc[TOO_MANY + 2], wc[] = {1, 0};
	uint8_t *rd = malloc(16 + TOO_MANY * 512), *w = malloc(NSEG * 512);

	start_ram();
	/* seg_max data segments: fine. */
	rc[0] = 16;
	for (unsigned int i = 0; i < NSEG; i++) {
		rc[1 + i] = 512;
	}
	rc[1 + NSEG] = 0;
	pattern(rd + 16, NSEG * 512, 6);
	memcpy(w, rd + 16, NSEG * 512);
	put_hdr(rd, VIRTIO_BLK_T_OUT, 0);
	assert_status(run(rd, rc, NULL, wc, true), VIRTIO_BLK_S_OK, 1);
	assert_disk(0, w, NSEG * 512);
	/* More than the task's iovecs: refused, nothing written. */
	for (unsigned int i = 0; i < TOO_MANY; i++) {
		rc[1 + i] = 512;
	}
	rc[1 + TOO_MANY] = 0;
	memset(rd + 16, 0x44, TOO_MANY * 512);
	assert_status(run(rd, rc, NULL, wc, true), VIRTIO_BLK_S_IOERR, 1);
	assert_disk(0, w, NSEG * 512);
	free(rd);
	free(w);
}

Test(blk, broken_chain_is_released)
{
	start_ram();
	fr_set_desc(&r, 0, fg_alloc(&g, 16, 8), 16, VRING_DESC_F_NEXT, 0);
	fr_push_avail(&r, 0);
	cr_assert_eq(vhd_queue_poll(&q), 1);
	cr_assert(q.vq.broken);
	cr_assert_eq(vhd_queue_inflight(&q), 0);
	cr_assert_eq(r.used->idx, 0);
}

Test(blk, several_requests_in_one_poll)
{
	uint8_t w[3][512];

	start_ram();
	for (uint16_t i = 0; i < 3; i++) {
		uint64_t h = fg_alloc(&g, 16, 8), d = fg_alloc(&g, 512, 8), s = fg_alloc(&g, 1, 1);
		struct fr_buf b[] = {{h, 16, false}, {d, 512, false}, {s, 1, true}};
		uint8_t hdr[16];

		pattern(w[i], 512, i + 20);
		put_hdr(hdr, VIRTIO_BLK_T_OUT, 100 + i);
		fg_write(&g, h, hdr, 16);
		fg_write(&g, d, w[i], 512);
		fg_fill(&g, s, 0xee, 1);
		fr_chain(&r, (uint16_t)(10 * i + 5), b, 3);
		fr_add_avail(&r, (uint16_t)(10 * i + 5));
	}
	fr_publish(&r);
	cr_assert_eq(vhd_queue_poll(&q), 3);
	cr_assert_eq(vhd_queue_inflight(&q), 3);
	drain();
	cr_assert_eq(r.used->idx, 3);
	for (uint16_t i = 0; i < 3; i++) {
		cr_assert_eq(fr_used_elem(&r, i).id, 10 * i + 5);
		cr_assert_eq(fr_used_elem(&r, i).len, 1);
	}
	r.used_seen = 3;
	for (uint16_t i = 0; i < 3; i++) {
		assert_disk(100 + i, w[i], 512);
	}
}

Test(blk, stopping_queue_takes_nothing_and_resubmit)
{
	uint64_t h = 0, d, s;
	uint8_t hdr[16], out[512];

	start_ram();
	q.stopping = true;
	fr_set_desc(&r, 0, fg_alloc(&g, 1, 1), 1, VRING_DESC_F_WRITE, 0);
	fr_push_avail(&r, 0);
	cr_assert_eq(vhd_queue_poll(&q), 0);
	cr_assert_eq(q.vq.last_avail_idx, 0);
	q.stopping = false;
	cr_assert_eq(vhd_queue_poll(&q), 1);
	drain();
	r.used_seen = r.used->idx;
	/* Resubmission of a head recorded in flight (no avail entry). */
	h = fg_alloc(&g, 16, 8);
	d = fg_alloc(&g, 512, 8);
	s = fg_alloc(&g, 1, 1);
	put_hdr(hdr, VIRTIO_BLK_T_IN, 0);
	fg_write(&g, h, hdr, 16);
	fr_chain(&r, 7, (struct fr_buf[]){{h, 16, false}, {d, 512, true}, {s, 1, true}}, 3);
	cr_assert_eq(vhd_queue_resubmit(&q, 7), 0);
	drain();
	cr_assert_eq(fr_used_elem(&r, 1).id, 7);
	cr_assert_eq(fr_used_elem(&r, 1).len, 513);
	fg_read(&g, d, out, sizeof(out));
	assert_bytes(out, 0, sizeof(out));
	cr_assert_eq(vhd_queue_resubmit(&q, 200), -EIO);
}

/* ---- what reaches the backend ---- */

#define MAXREC 32

struct rec_bdev {
	struct vhd_bdev base;
	unsigned int n;
	struct {
		enum vhd_io_type type;
		uint32_t flags;
		uint64_t offset;
		uint64_t length;
	} io[MAXREC];
};

static struct rec_bdev *
to_rec(struct vhd_bdev *b)
{
	return VHD_CONTAINER_OF(b, struct rec_bdev, base);
}

static int
rec_channel_create(struct vhd_bdev *b, struct vhd_bdev_channel **ch)
{
	*ch = calloc(1, sizeof(**ch));
	return *ch != NULL ? 0 : -ENOMEM;
}

static void
rec_channel_destroy(struct vhd_bdev_channel *ch)
{
	free(ch);
}

static int
rec_submit(struct vhd_bdev_channel *ch, struct vhd_bdev_io *io)
{
	struct rec_bdev *rb = to_rec(ch->bdev);

	cr_assert_lt(rb->n, MAXREC);
	rb->io[rb->n].type = io->type;
	rb->io[rb->n].flags = io->flags;
	rb->io[rb->n].offset = io->offset;
	rb->io[rb->n].length = io->length;
	rb->n++;
	vhd_bdev_io_defer(io, 0);
	return 0;
}

static int
rec_poll(struct vhd_bdev_channel *ch)
{
	return 0;
}

static void
rec_destroy(struct vhd_bdev *b)
{
	free(to_rec(b));
}

static const struct vhd_bdev_ops g_rec_ops = {
	.channel_create = rec_channel_create,
	.channel_destroy = rec_channel_destroy,
	.submit = rec_submit,
	.poll = rec_poll,
	.destroy = rec_destroy,
};

static struct rec_bdev *
rec(bool volatile_cache)
{
	struct rec_bdev *rb = calloc(1, sizeof(*rb));

	cr_assert_not_null(rb);
	vhd_strlcpy(rb->base.name, "rec", sizeof(rb->base.name));
	rb->base.ops = &g_rec_ops;
	rb->base.block_size = 512;
	rb->base.num_blocks = 2048;
	rb->base.has_discard = true;
	rb->base.has_write_zeroes = true;
	rb->base.volatile_cache = volatile_cache;
	rb->base.has_fua = true;
	return rb;
}

static uint8_t
get_wce(void)
{
	struct virtio_blk_config c;

	cr_assert_eq(dev->ops->get_config(dev, (uint8_t *)&c, sizeof(c)), 0);
	return c.wce;
}

static void
set_wce(uint32_t offset, uint32_t len, uint8_t wce)
{
	uint8_t buf[sizeof(struct virtio_blk_config)];

	/* Bytes other than writeback are non-zero: writing them must not turn it on. */
	memset(buf, 0x5a, sizeof(buf));
	if (offset <= offsetof(struct virtio_blk_config, wce) &&
	    offset + len > offsetof(struct virtio_blk_config, wce)) {
		buf[offsetof(struct virtio_blk_config, wce) - offset] = wce;
	}
	cr_assert_eq(dev->ops->set_config(dev, buf, offset, len), 0);
}

/* The flags of the I/O one 512-byte write at sector 0 makes. */
static uint32_t
write_flags(void)
{
	struct rec_bdev *rb = to_rec(bdev);
	uint8_t w[512] = {0};

	assert_status(blk_write(0, w, sizeof(w)), VIRTIO_BLK_S_OK, 1);
	cr_assert_eq(rb->io[rb->n - 1].type, VHD_IO_WRITE);
	return rb->io[rb->n - 1].flags;
}

Test(blk, writeback_switch_with_config_wce)
{
	uint8_t buf[512];
	struct rec_bdev *rb = rec(true);

	start_dev(&rb->base, false, NULL, FEATURES);
	cr_assert_eq(get_wce(), 1, "a volatile cache starts in write-back");
	cr_assert_eq(write_flags(), 0);
	set_wce(32, 1, 0);
	cr_assert_eq(get_wce(), 0);
	cr_assert_eq(write_flags(), VHD_IO_F_FUA);
	/* Reads never carry FUA. */
	assert_status(blk_read(0, buf, sizeof(buf)), VIRTIO_BLK_S_OK, 513);
	cr_assert_eq(rb->io[rb->n - 1].type, VHD_IO_READ);
	cr_assert_eq(rb->io[rb->n - 1].flags, 0);
	/* Any non-zero byte is write-back; a write of the whole struct works too. */
	set_wce(0, sizeof(struct virtio_blk_config), 7);
	cr_assert_eq(get_wce(), 1);
	cr_assert_eq(write_flags(), 0);
	set_wce(30, 4, 0);
	cr_assert_eq(get_wce(), 0);
	/* Writes that do not cover the byte change nothing. */
	set_wce(33, 1, 1);
	set_wce(0, 32, 1);
	cr_assert_eq(get_wce(), 0);
	cr_assert_eq(write_flags(), VHD_IO_F_FUA);
}

Test(blk, write_through_without_flush_negotiated)
{
	struct rec_bdev *rb = rec(true);

	start_dev(&rb->base, false, NULL, F(VIRTIO_F_VERSION_1));
	cr_assert_eq(write_flags(), VHD_IO_F_FUA);
	set_wce(32, 1, 1);
	cr_assert_eq(write_flags(), VHD_IO_F_FUA);
}

Test(blk, write_through_with_config_wce_but_no_flush)
{
	struct rec_bdev *rb = rec(true);

	/* VIRTIO 1.2 5.2.5: "If VIRTIO_BLK_F_CONFIG_WCE is negotiated but VIRTIO_BLK_F_FLUSH
	 * is not, the device MUST initialize writeback to 0": the driver could never flush. */
	start_dev(&rb->base, false, NULL, F(VIRTIO_F_VERSION_1) | F(VIRTIO_BLK_F_CONFIG_WCE));
	cr_assert_eq(write_flags(), VHD_IO_F_FUA);
	set_wce(32, 1, 1);
	cr_assert_eq(write_flags(), VHD_IO_F_FUA);
}

Test(blk, write_back_with_flush_but_no_config_wce)
{
	struct rec_bdev *rb = rec(true);

	start_dev(&rb->base, false, NULL, F(VIRTIO_F_VERSION_1) | F(VIRTIO_BLK_F_FLUSH));
	set_wce(32, 1, 0); /* not negotiated: meaningless */
	cr_assert_eq(write_flags(), 0);
}

Test(blk, no_fua_without_a_volatile_cache)
{
	struct rec_bdev *rb = rec(false);
	uint8_t hdr[16];
	uint32_t rc[] = {16, 0}, wc[] = {1, 0};

	start_dev(&rb->base, false, NULL, F(VIRTIO_F_VERSION_1));
	cr_assert_eq(get_wce(), 0);
	cr_assert_eq(write_flags(), 0);
	/* A flush on a cache-less backend completes without backend I/O. */
	put_hdr(hdr, VIRTIO_BLK_T_FLUSH, 0);
	assert_status(run(hdr, rc, NULL, wc, false), VIRTIO_BLK_S_OK, 1);
	cr_assert_eq(rb->n, 1);
}

Test(blk, flush_and_segments_reach_the_backend)
{
	struct rec_bdev *rb = rec(true);
	struct virtio_blk_discard_write_zeroes s[3] = {
		SEG(8, 2, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP), SEG(100, 0, 0), SEG(1, 1, 0),
	};
	uint8_t hdr[16];
	uint32_t rc[] = {16, 0}, wc[] = {1, 0};

	start_dev(&rb->base, false, NULL, FEATURES);
	put_hdr(hdr, VIRTIO_BLK_T_FLUSH, 0);
	assert_status(run(hdr, rc, NULL, wc, false), VIRTIO_BLK_S_OK, 1);
	cr_assert_eq(rb->n, 1);
	cr_assert_eq(rb->io[0].type, VHD_IO_FLUSH);
	cr_assert_eq(rb->io[0].flags, 0);
	assert_status(dwz(VIRTIO_BLK_T_WRITE_ZEROES, s, 3, 48), VIRTIO_BLK_S_OK, 1);
	cr_assert_eq(rb->n, 3);
	cr_assert_eq(rb->io[1].type, VHD_IO_WRITE_ZEROES);
	cr_assert_eq(rb->io[1].flags, VHD_IO_F_UNMAP);
	cr_assert_eq(rb->io[1].offset, 8 * 512);
	cr_assert_eq(rb->io[1].length, 2 * 512);
	cr_assert_eq(rb->io[2].type, VHD_IO_WRITE_ZEROES);
	cr_assert_eq(rb->io[2].flags, 0);
	cr_assert_eq(rb->io[2].offset, 512);
	cr_assert_eq(rb->io[2].length, 512);
	s[0].flags = 0;
	assert_status(dwz(VIRTIO_BLK_T_DISCARD, s, 1, 16), VIRTIO_BLK_S_OK, 1);
	cr_assert_eq(rb->n, 4);
	cr_assert_eq(rb->io[3].type, VHD_IO_DISCARD);
	cr_assert_eq(rb->io[3].flags, 0);
}

/* An OUT whose data sits in device-writable buffers would be completed as a zero-length
 * write: the guest would believe data was written that never was. */
Test(blk, write_with_data_in_writable_buffers)
{
	uint8_t before[4096], after[4096], rd[16];
	uint32_t rc[] = {16, 0};
	uint32_t wc[] = {4096, 1, 0};
	struct result res;

	start_ram();
	pattern(before, sizeof(before), 7);
	assert_status(blk_write(8, before, sizeof(before)), VIRTIO_BLK_S_OK, 1);
	put_hdr(rd, VIRTIO_BLK_T_OUT, 8);
	res = run(rd, rc, NULL, wc, false);
	assert_status(res, VIRTIO_BLK_S_IOERR, 1);
	assert_status(blk_read(8, after, sizeof(after)), VIRTIO_BLK_S_OK, 4097);
	cr_assert_arr_eq(after, before, sizeof(before));
}

/*
 * A drain that times out abandons the queue (marks it broken) and the controller drops its
 * device reference while backend I/O is still out. The late completion must neither write
 * the status byte (guest memory may be gone) nor touch a freed device; the device is freed
 * by the queue's last reference. (Run under ASan to see use-after-free.)
 */
Test(blk, late_completion_on_abandoned_queue)
{
	struct fr_buf b[3];
	uint8_t hdr[16], st = 0xee;

	start_ram();
	put_hdr(hdr, VIRTIO_BLK_T_IN, 0);
	b[0] = (struct fr_buf){.gpa = fg_alloc(&g, 16, 1), .len = 16};
	b[1] = (struct fr_buf){.gpa = fg_alloc(&g, 4096, 1), .len = 4096, .write = true};
	b[2] = (struct fr_buf){.gpa = fg_alloc(&g, 1, 1), .len = 1, .write = true};
	fg_write(&g, b[0].gpa, hdr, sizeof(hdr));
	fg_write(&g, b[2].gpa, &st, 1);
	fr_chain(&r, 0, b, 3);
	fr_push_avail(&r, 0);
	cr_assert_eq(vhd_queue_poll(&q), 1);
	cr_assert_eq(vhd_queue_inflight(&q), 1, "the read completes only at the next poll");

	q.vq.broken = true;      /* what the worker does when it abandons a queue */
	cr_assert_eq(dev->refs, 2);
	vhd_dev_put(dev);        /* the controller is deleted meanwhile */
	cr_assert_eq(dev->refs, 1, "the queue keeps the device alive");

	drain();
	fg_read(&g, b[2].gpa, &st, 1);
	cr_assert_eq(st, 0xee, "status byte written on an abandoned queue");
	cr_assert_eq(r.used->idx, 0, "used ring written on an abandoned queue");

	dev->ops->queue_stop(&q);
	vhd_queue_fini(&q);      /* last reference: frees the device */
	q_started = false;
	dev = NULL;
}

/* Latency accounting converts TSC ticks to microseconds without dividing per request; the
 * conversion must stay right for short requests and must not overflow for very long ones. */
Test(stats, latency_in_microseconds)
{
	uint64_t hz = vhd_tsc_hz();
	struct vhd_io_stats st = {0};

	cr_assert_geq(hz, 1000000);
	vhd_stats_account(&st, VHD_STAT_READ, 4096, false, vhd_tsc() - hz / 1000);
	cr_assert(st.read_lat_us >= 999 && st.read_lat_us <= 1010, "1 ms read took %llu us",
		  (unsigned long long)st.read_lat_us);
	cr_assert_eq(st.lat_hist[10], 1, "1000 us lands in the 512-1023 us bucket");
	cr_assert_eq(st.reads, 1);
	cr_assert_eq(st.read_bytes, 4096);

	/* Three hours in ticks: a 64-bit product of ticks and the factor would overflow. The
	 * fixed-point factor is good to about 1 ppm. */
	vhd_stats_account(&st, VHD_STAT_WRITE, 0, true, vhd_tsc() - hz * 3 * 3600);
	cr_assert(st.write_lat_us >= 3ull * 3600 * 1000000 - 100000 &&
		  st.write_lat_us <= 3ull * 3600 * 1000000 + 100000, "3 h write took %llu us",
		  (unsigned long long)st.write_lat_us);
	cr_assert_eq(st.errors, 1);
	cr_assert_eq(st.lat_hist[VHD_LAT_BUCKETS - 1], 1, "the last bucket holds it");
}
