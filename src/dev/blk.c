/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio-blk device (VIRTIO 1.2 §5.2) on a bdev.
 *
 * Any descriptor layout is accepted: the 16-byte header may be split or merged with data, the
 * status byte is the last writable byte of the chain. The header and discard/write-zeroes
 * segments are copied out of guest memory once before they are looked at. Every outcome is
 * an errno until vhd_blk_status_from_errno() turns it into the status byte.
 */
#include <stdlib.h>

#define VHD_LOG_COMPONENT "blk"
#include "vhostd/dev.h"
#include "vhostd/log.h"

#define BLK_SIZE_MAX (1u << 20)             /* bytes per data segment */
#define BLK_DWZ_MAX_SEG 16                  /* discard / write-zeroes segments per request */
#define BLK_DWZ_MAX_SECTORS (1u << 22)      /* 2 GiB per segment */

struct blk_dev {
	struct vhd_dev base;
	struct vhd_bdev *bdev;
	bool readonly;
	uint8_t writeback;                  /* config "writeback"; the driver may change it */
	char serial[VIRTIO_BLK_ID_BYTES];   /* NUL-padded, not NUL-terminated when 20 long */
};

struct blk_task {
	struct vhd_task base;
	struct vhd_bdev_io io;
	uint8_t *status;
	uint32_t used_len;
	enum vhd_stat_op op;
	uint8_t nseg;
	uint8_t seg;
	struct virtio_blk_discard_write_zeroes segs[BLK_DWZ_MAX_SEG];
};

static const struct vhd_dev_ops g_blk_ops;

static struct blk_dev *
to_blk(struct vhd_dev *dev)
{
	return VHD_CONTAINER_OF(dev, struct blk_dev, base);
}

static struct blk_task *
to_blk_task(struct vhd_task *t)
{
	return VHD_CONTAINER_OF(t, struct blk_task, base);
}

uint8_t
vhd_blk_status_from_errno(int err)
{
	switch (err) {
	case 0:
		return VIRTIO_BLK_S_OK;
	case -EOPNOTSUPP:
		return VIRTIO_BLK_S_UNSUPP;
	default:
		return VIRTIO_BLK_S_IOERR;
	}
}

struct vhd_bdev *
vhd_blk_bdev(struct vhd_dev *dev)
{
	return to_blk(dev)->bdev;
}

static void
finish(struct blk_task *bt, int err)
{
	struct vhd_task *t = &bt->base;

	if (vhd_likely(vhd_task_may_write_guest(t))) {
		*bt->status = vhd_blk_status_from_errno(err);
	}
	vhd_stats_account(&t->q->stats, bt->op, err == 0 ? bt->io.length : 0, err != 0,
			  t->start_tsc);
	vhd_task_complete(t, bt->used_len);
}

/* Drop `n` bytes from the front of an iovec array (in place). */
static void
trim_head(struct iovec **iov, unsigned int *cnt, size_t n)
{
	while (*cnt > 0 && n > 0) {
		if ((*iov)->iov_len > n) {
			(*iov)->iov_base = (uint8_t *)(*iov)->iov_base + n;
			(*iov)->iov_len -= n;
			return;
		}
		n -= (*iov)->iov_len;
		(*iov)++;
		(*cnt)--;
	}
}

/* Drop `n` bytes from the end of an iovec array (in place). */
static void
trim_tail(struct iovec *iov, unsigned int *cnt, size_t n)
{
	while (*cnt > 0 && n > 0) {
		struct iovec *last = &iov[*cnt - 1];

		if (last->iov_len > n) {
			last->iov_len -= n;
			return;
		}
		n -= last->iov_len;
		(*cnt)--;
	}
}

static bool
writethrough(const struct blk_dev *b, uint64_t features)
{
	if (!b->bdev->volatile_cache) {
		return false;
	}
	/*
	 * VIRTIO 1.2 §5.2.5/§5.2.6: a driver that cannot flush gets stable writes: without FLUSH
	 * (with or without CONFIG_WCE, whose writeback then MUST start at 0) every write is
	 * write-through. With FLUSH, CONFIG_WCE lets the driver choose; without it, write-back.
	 */
	if (!(features & (1ull << VIRTIO_BLK_F_FLUSH))) {
		return true;
	}
	if (features & (1ull << VIRTIO_BLK_F_CONFIG_WCE)) {
		return __atomic_load_n(&b->writeback, __ATOMIC_RELAXED) == 0;
	}
	return false;
}

/* Range check in bytes, overflow-safe. */
static int
check_range(const struct vhd_bdev *bdev, uint64_t sector, uint64_t len)
{
	uint64_t cap = vhd_bdev_num_blocks(bdev) * bdev->block_size;
	uint64_t off;

	if (sector > UINT64_MAX / VIRTIO_BLK_SECTOR_SIZE) {
		return -ERANGE;
	}
	off = sector * VIRTIO_BLK_SECTOR_SIZE;
	if ((off | len) & (bdev->block_size - 1)) {
		return -EINVAL;
	}
	if (off > cap || len > cap - off) {
		return -ERANGE;
	}
	return 0;
}

static void io_done(struct vhd_bdev_io *io, int status);

static void
submit_io(struct blk_task *bt)
{
	struct vhd_bdev_channel *ch = bt->base.q->dev_ctx;
	int rc;

	bt->io.cb = io_done;
	rc = vhd_bdev_submit(ch, &bt->io);
	if (rc != 0) {
		finish(bt, rc);
	}
}

/* Start the next non-empty discard / write-zeroes segment, or finish. */
static void
next_segment(struct blk_task *bt)
{
	while (bt->seg < bt->nseg && bt->segs[bt->seg].num_sectors == 0) {
		bt->seg++;
	}
	if (bt->seg == bt->nseg) {
		bt->io.length = 0;
		finish(bt, 0);
		return;
	}
	bt->io.offset = bt->segs[bt->seg].sector * VIRTIO_BLK_SECTOR_SIZE;
	bt->io.length = (uint64_t)bt->segs[bt->seg].num_sectors * VIRTIO_BLK_SECTOR_SIZE;
	bt->io.flags = (bt->segs[bt->seg].flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) ?
			       VHD_IO_F_UNMAP : 0;
	bt->seg++;
	submit_io(bt);
}

static void
io_done(struct vhd_bdev_io *io, int status)
{
	struct blk_task *bt = VHD_CONTAINER_OF(io, struct blk_task, io);

	if (status == 0 && bt->nseg > 0) {
		next_segment(bt);
		return;
	}
	finish(bt, status);
}

static int
start_rw(struct blk_task *bt, const struct virtio_blk_outhdr *hdr, bool write)
{
	struct vhd_task *t = &bt->base;
	struct blk_dev *b = to_blk(t->q->dev);
	struct vhd_chain *c = &t->chain;
	struct iovec *iov;
	unsigned int cnt;
	uint64_t len;
	int rc;

	if (write) {
		iov = t->iov;
		cnt = c->nreadable;
		trim_head(&iov, &cnt, sizeof(*hdr));
		len = c->readable_len - sizeof(*hdr);
		bt->op = VHD_STAT_WRITE;
	} else {
		iov = &t->iov[c->nreadable];
		cnt = c->niov - c->nreadable;
		trim_tail(iov, &cnt, 1);
		len = c->writable_len - 1;
		bt->op = VHD_STAT_READ;
	}
	if (c->error != 0 || len % VIRTIO_BLK_SECTOR_SIZE != 0) {
		return -EIO;
	}
	/* Data in the wrong direction (an OUT with writable data buffers) would otherwise be
	 * completed as a zero-length write the guest believes happened. */
	if (write && c->writable_len > 1) {
		return -EIO;
	}
	if (write && b->readonly) {
		return -EROFS;
	}
	rc = check_range(b->bdev, hdr->sector, len);
	if (rc != 0) {
		return rc;
	}
	if (len == 0) {
		finish(bt, 0);
		return 0;
	}
	bt->io.type = write ? VHD_IO_WRITE : VHD_IO_READ;
	bt->io.flags = write && writethrough(b, t->q->features) ? VHD_IO_F_FUA : 0;
	bt->io.offset = hdr->sector * VIRTIO_BLK_SECTOR_SIZE;
	bt->io.length = len;
	bt->io.iov = iov;
	bt->io.iovcnt = (int)cnt;
	if (!write) {
		bt->used_len = (uint32_t)len + 1;
	}
	submit_io(bt);
	return 0;
}

static int
start_dwz(struct blk_task *bt, bool discard)
{
	struct vhd_task *t = &bt->base;
	struct blk_dev *b = to_blk(t->q->dev);
	struct vhd_chain *c = &t->chain;
	uint64_t payload = c->readable_len - sizeof(struct virtio_blk_outhdr);
	uint32_t allowed_flags = discard ? 0 : VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
	size_t bytes;

	bt->op = discard ? VHD_STAT_DISCARD : VHD_STAT_WRITE_ZEROES;
	if (discard ? !b->bdev->has_discard : !b->bdev->has_write_zeroes) {
		return -EOPNOTSUPP;
	}
	if (b->readonly) {
		return -EROFS;
	}
	if (payload == 0 || payload % sizeof(bt->segs[0]) != 0 || c->error != 0) {
		return -EIO;
	}
	if (payload / sizeof(bt->segs[0]) > BLK_DWZ_MAX_SEG) {
		return -EOPNOTSUPP;
	}
	bt->nseg = (uint8_t)(payload / sizeof(bt->segs[0]));
	bytes = vhd_iov_to_buf(t->iov, c->nreadable, sizeof(struct virtio_blk_outhdr), bt->segs,
			       (size_t)payload);
	if (bytes != payload) {
		return -EIO;
	}
	/* Validate every segment before touching any, so a bad request changes nothing. */
	for (unsigned int i = 0; i < bt->nseg; i++) {
		const struct virtio_blk_discard_write_zeroes *s = &bt->segs[i];
		int rc;

		if (s->flags & ~allowed_flags) {
			return -EOPNOTSUPP;
		}
		if (s->num_sectors > BLK_DWZ_MAX_SECTORS) {
			return -EIO;
		}
		rc = check_range(b->bdev, s->sector, (uint64_t)s->num_sectors *
							     VIRTIO_BLK_SECTOR_SIZE);
		if (rc != 0) {
			return rc;
		}
	}
	bt->io.type = discard ? VHD_IO_DISCARD : VHD_IO_WRITE_ZEROES;
	bt->io.iov = NULL;
	bt->io.iovcnt = 0;
	bt->seg = 0;
	next_segment(bt);
	return 0;
}

static int
get_id(struct blk_task *bt)
{
	struct vhd_task *t = &bt->base;
	struct blk_dev *b = to_blk(t->q->dev);
	struct vhd_chain *c = &t->chain;
	struct iovec *iov = &t->iov[c->nreadable];
	unsigned int cnt = c->niov - c->nreadable;
	size_t n;

	if (c->error != 0) {
		return -EIO;
	}
	trim_tail(iov, &cnt, 1);
	n = vhd_iov_from_buf(iov, cnt, 0, b->serial,
			     (size_t)VHD_MIN(c->writable_len - 1, (uint64_t)VIRTIO_BLK_ID_BYTES));
	bt->used_len = (uint32_t)n + 1;
	finish(bt, 0);
	return 0;
}

static void
blk_submit(struct vhd_task *t)
{
	struct blk_task *bt = to_blk_task(t);
	struct blk_dev *b = to_blk(t->q->dev);
	struct vhd_chain *c = &t->chain;
	struct virtio_blk_outhdr hdr;
	int rc;

	bt->status = c->last_writable;
	if (bt->status == NULL) {
		vhd_vq_set_broken(&t->q->vq, "head %u: no writable status byte in guest memory",
				  c->head);
		vhd_task_complete(t, 0);
		return;
	}
	bt->used_len = 1;
	bt->op = VHD_STAT_OTHER;
	bt->nseg = 0;
	bt->io.length = 0;
	if (vhd_unlikely(c->error == -ENOBUFS)) {
		finish(bt, -EIO);
		return;
	}
	/* One private copy of the header, whatever the guest does to it meanwhile. */
	if (vhd_likely(c->nreadable > 0 && t->iov[0].iov_len >= sizeof(hdr) &&
		       t->iov[0].iov_base != NULL)) {
		memcpy(&hdr, t->iov[0].iov_base, sizeof(hdr));
	} else if (vhd_iov_to_buf(t->iov, c->nreadable, 0, &hdr, sizeof(hdr)) != sizeof(hdr)) {
		finish(bt, -EIO);
		return;
	}
	switch (hdr.type & ~VIRTIO_BLK_T_BARRIER) {
	case VIRTIO_BLK_T_IN:
		rc = start_rw(bt, &hdr, false);
		break;
	case VIRTIO_BLK_T_OUT:
		rc = start_rw(bt, &hdr, true);
		break;
	case VIRTIO_BLK_T_FLUSH:
	case VIRTIO_BLK_T_FLUSH_OUT:
		bt->op = VHD_STAT_FLUSH;
		if (!b->bdev->volatile_cache) {
			finish(bt, 0);
			rc = 0;
			break;
		}
		bt->io.type = VHD_IO_FLUSH;
		bt->io.flags = 0;
		bt->io.offset = 0;
		bt->io.iov = NULL;
		bt->io.iovcnt = 0;
		submit_io(bt);
		rc = 0;
		break;
	case VIRTIO_BLK_T_GET_ID:
		rc = get_id(bt);
		break;
	case VIRTIO_BLK_T_DISCARD:
		rc = start_dwz(bt, true);
		break;
	case VIRTIO_BLK_T_WRITE_ZEROES:
		rc = start_dwz(bt, false);
		break;
	default:
		rc = -EOPNOTSUPP;
		break;
	}
	if (rc != 0) {
		finish(bt, rc);
	}
}

static uint64_t
blk_features(struct vhd_dev *dev)
{
	struct blk_dev *b = to_blk(dev);
	uint64_t f = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_INDIRECT_DESC) |
		     (1ull << VIRTIO_RING_F_EVENT_IDX) | (1ull << VIRTIO_BLK_F_SIZE_MAX) |
		     (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) |
		     (1ull << VIRTIO_BLK_F_TOPOLOGY) | (1ull << VIRTIO_BLK_F_FLUSH) |
		     (1ull << VIRTIO_BLK_F_CONFIG_WCE) | (1ull << VIRTIO_BLK_F_MQ);

	if (b->readonly) {
		f |= 1ull << VIRTIO_BLK_F_RO;
	} else {
		if (b->bdev->has_discard) {
			f |= 1ull << VIRTIO_BLK_F_DISCARD;
		}
		if (b->bdev->has_write_zeroes) {
			f |= 1ull << VIRTIO_BLK_F_WRITE_ZEROES;
		}
	}
	return f;
}

static uint32_t
blk_num_vrings(struct vhd_dev *dev)
{
	return dev->num_queues;
}

static int
blk_get_config(struct vhd_dev *dev, uint8_t *buf, uint32_t len)
{
	struct blk_dev *b = to_blk(dev);
	struct vhd_bdev *bdev = b->bdev;
	struct virtio_blk_config cfg;
	uint32_t sectors_per_block = bdev->block_size / VIRTIO_BLK_SECTOR_SIZE;
	uint32_t max_dwz = BLK_DWZ_MAX_SECTORS - BLK_DWZ_MAX_SECTORS % sectors_per_block;

	memset(&cfg, 0, sizeof(cfg));
	cfg.capacity = vhd_bdev_num_blocks(bdev) * sectors_per_block;
	cfg.size_max = BLK_SIZE_MAX;
	cfg.seg_max = VHD_SEG_MAX;
	cfg.blk_size = bdev->block_size;
	cfg.physical_block_exp = (uint8_t)bdev->phys_block_exp;
	cfg.min_io_size = 1;
	cfg.opt_io_size = bdev->opt_io_blocks;
	cfg.wce = __atomic_load_n(&b->writeback, __ATOMIC_RELAXED);
	cfg.num_queues = dev->num_queues;
	cfg.max_discard_sectors = max_dwz;
	cfg.max_discard_seg = BLK_DWZ_MAX_SEG;
	cfg.discard_sector_alignment = sectors_per_block;
	cfg.max_write_zeroes_sectors = max_dwz;
	cfg.max_write_zeroes_seg = BLK_DWZ_MAX_SEG;
	cfg.write_zeroes_may_unmap = 1;

	memset(buf, 0, len);
	memcpy(buf, &cfg, VHD_MIN(len, (uint32_t)sizeof(cfg)));
	return 0;
}

static int
blk_set_config(struct vhd_dev *dev, const uint8_t *buf, uint32_t offset, uint32_t len)
{
	struct blk_dev *b = to_blk(dev);

	/* Only "writeback" is writable (§5.2.4); the rest is silently read-only. */
	if (offset <= offsetof(struct virtio_blk_config, wce) &&
	    offset + len > offsetof(struct virtio_blk_config, wce)) {
		uint8_t wce = buf[offsetof(struct virtio_blk_config, wce) - offset] ? 1 : 0;

		__atomic_store_n(&b->writeback, wce, __ATOMIC_RELAXED);
		VHD_NOTICELOG("%s: guest switched the write cache to %s", dev->name,
			      wce ? "write-back" : "write-through");
	}
	return 0;
}

static int
blk_queue_start(struct vhd_queue *q)
{
	q->dev_ctx = vhd_bdev_channel_get(to_blk(q->dev)->bdev);
	return q->dev_ctx != NULL ? 0 : -ENOMEM;
}

static void
blk_queue_stop(struct vhd_queue *q)
{
	vhd_bdev_channel_put(q->dev_ctx);
	q->dev_ctx = NULL;
}

static void
blk_destroy(struct vhd_dev *dev)
{
	free(to_blk(dev));
}

static void
blk_foreach_bdev(struct vhd_dev *dev, void (*fn)(struct vhd_bdev *bdev, void *arg), void *arg)
{
	fn(to_blk(dev)->bdev, arg);
}

static const struct vhd_dev_ops g_blk_ops = {
	.type = "blk",
	.task_size = sizeof(struct blk_task),
	.protocol_features = 1ull << VHOST_USER_PROTOCOL_F_CONFIG,
	.features = blk_features,
	.num_vrings = blk_num_vrings,
	.get_config = blk_get_config,
	.set_config = blk_set_config,
	.queue_start = blk_queue_start,
	.queue_stop = blk_queue_stop,
	.submit = blk_submit,
	.destroy = blk_destroy,
	.foreach_bdev = blk_foreach_bdev,
};

int
vhd_blk_create(const struct vhd_blk_conf *conf, struct vhd_dev **dev)
{
	struct blk_dev *b;

	if (conf->bdev == NULL || conf->num_queues == 0 || strlen(conf->name) > VHD_NAME_MAX) {
		return -EINVAL;
	}
	b = calloc(1, sizeof(*b));
	if (b == NULL) {
		return -ENOMEM;
	}
	vhd_strlcpy(b->base.name, conf->name, sizeof(b->base.name));
	b->base.ops = &g_blk_ops;
	b->base.refs = 1;
	b->base.num_queues = conf->num_queues;
	b->bdev = conf->bdev;
	b->readonly = conf->readonly || conf->bdev->readonly;
	b->writeback = conf->bdev->volatile_cache ? 1 : 0;
	/* GET_ID: NUL-padded, no terminator when exactly 20 bytes (§5.2.6). */
	const char *serial = conf->serial != NULL ? conf->serial : conf->name;

	memcpy(b->serial, serial, VHD_MIN(strlen(serial), sizeof(b->serial)));
	*dev = &b->base;
	return 0;
}
