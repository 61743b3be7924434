/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Null backend: every I/O succeeds at the next poll without touching data (reads leave the
 * guest's buffer as it was). It measures the cost of everything but storage.
 */
#include <stdlib.h>

#include "vhostd/bdev.h"

static const struct vhd_bdev_ops g_null_ops;

static int
null_channel_create(struct vhd_bdev *bdev, struct vhd_bdev_channel **ch)
{
	*ch = calloc(1, sizeof(**ch));
	return *ch != NULL ? 0 : -ENOMEM;
}

static void
null_channel_destroy(struct vhd_bdev_channel *ch)
{
	free(ch);
}

static int
null_submit(struct vhd_bdev_channel *ch, struct vhd_bdev_io *io)
{
	vhd_bdev_io_defer(io, 0);
	return 0;
}

static int
null_poll(struct vhd_bdev_channel *ch)
{
	return 0;
}

static void
null_destroy(struct vhd_bdev *bdev)
{
	free(bdev);
}

static int
null_resize(struct vhd_bdev *bdev, uint64_t new_size)
{
	if (new_size == 0 || new_size % bdev->block_size != 0) {
		return -EINVAL;
	}
	__atomic_store_n(&bdev->num_blocks, new_size / bdev->block_size, __ATOMIC_RELEASE);
	return 0;
}

int
vhd_bdev_null_create(const struct vhd_backend_conf *conf, struct vhd_bdev **bdev)
{
	uint32_t bs = conf->block_size != 0 ? conf->block_size : 512;
	struct vhd_bdev *b;

	if (!vhd_bdev_block_size_valid(bs) || conf->size == 0 || conf->size % bs != 0) {
		return -EINVAL;
	}
	b = calloc(1, sizeof(*b));
	if (b == NULL) {
		return -ENOMEM;
	}
	vhd_strlcpy(b->name, conf->name, sizeof(b->name));
	b->type = VHD_BACKEND_NULL;
	b->ops = &g_null_ops;
	b->block_size = bs;
	b->num_blocks = conf->size / bs;
	b->readonly = conf->readonly;
	/* No data is kept, so zeroes could not be read back: offer neither. */
	b->has_discard = false;
	b->has_write_zeroes = false;
	b->has_fua = true;
	*bdev = b;
	return 0;
}

static const struct vhd_bdev_ops g_null_ops = {
	.channel_create = null_channel_create,
	.channel_destroy = null_channel_destroy,
	.submit = null_submit,
	.poll = null_poll,
	.destroy = null_destroy,
	.resize = null_resize,
};
