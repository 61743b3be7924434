/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Backend framework: per-thread channels, submission with back-pressure (-EAGAIN parks the I/O
 * and it is retried, in order, after the next completions) and completion delivery.
 */
#include <stdlib.h>

#define VHD_LOG_COMPONENT "bdev"
#include "vhostd/bdev.h"
#include "vhostd/log.h"

/* Channels of the calling thread. A worker lcore has a handful; a list is fine. */
static __thread struct vhd_bdev_channel *t_channels;

int
vhd_bdev_create(const struct vhd_backend_conf *conf, struct vhd_bdev **bdev)
{
	switch (conf->type) {
	case VHD_BACKEND_AIO:
		return vhd_bdev_aio_create(conf, bdev);
	case VHD_BACKEND_MALLOC:
		return vhd_bdev_malloc_create(conf, bdev);
	case VHD_BACKEND_NULL:
		return vhd_bdev_null_create(conf, bdev);
	case VHD_BACKEND_NVME:
		return vhd_bdev_nvme_create(conf, bdev);
	}
	return -EINVAL;
}

int
vhd_bdev_dma_map(struct vhd_bdev *bdev, void *vaddr, uint64_t len)
{
	return bdev->ops->dma_map != NULL ? bdev->ops->dma_map(bdev, vaddr, len) : 0;
}

void
vhd_bdev_dma_unmap(struct vhd_bdev *bdev, void *vaddr, uint64_t len)
{
	if (bdev->ops->dma_unmap != NULL) {
		bdev->ops->dma_unmap(bdev, vaddr, len);
	}
}

void
vhd_bdev_destroy(struct vhd_bdev *bdev)
{
	bdev->ops->destroy(bdev);
}

struct vhd_bdev_channel *
vhd_bdev_channel_get(struct vhd_bdev *bdev)
{
	struct vhd_bdev_channel *ch;
	int rc;

	for (ch = t_channels; ch != NULL; ch = ch->next) {
		if (ch->bdev == bdev) {
			ch->refs++;
			return ch;
		}
	}
	rc = bdev->ops->channel_create(bdev, &ch);
	if (rc != 0) {
		VHD_ERRLOG("%s: cannot create an I/O channel: %s", bdev->name, strerror(-rc));
		return NULL;
	}
	ch->bdev = bdev;
	ch->refs = 1;
	ch->inflight = 0;
	ch->parked_head = NULL;
	ch->parked_tail = NULL;
	ch->deferred_head = NULL;
	ch->deferred_tail = NULL;
	ch->next = t_channels;
	t_channels = ch;
	__atomic_add_fetch(&bdev->nchannels, 1, __ATOMIC_RELEASE);
	return ch;
}

void
vhd_bdev_channel_put(struct vhd_bdev_channel *ch)
{
	struct vhd_bdev_channel **pp;
	struct vhd_bdev *bdev = ch->bdev;

	if (--ch->refs > 0) {
		return;
	}
	for (pp = &t_channels; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == ch) {
			*pp = ch->next;
			break;
		}
	}
	bdev->ops->channel_destroy(ch);
	__atomic_sub_fetch(&bdev->nchannels, 1, __ATOMIC_RELEASE);
}

static void
park(struct vhd_bdev_channel *ch, struct vhd_bdev_io *io)
{
	io->parked_next = NULL;
	if (ch->parked_tail != NULL) {
		ch->parked_tail->parked_next = io;
	} else {
		ch->parked_head = io;
	}
	ch->parked_tail = io;
}

int
vhd_bdev_submit(struct vhd_bdev_channel *ch, struct vhd_bdev_io *io)
{
	int rc;

	io->ch = ch;
	/* Keep submission order: nothing overtakes what is already parked. */
	if (ch->parked_head != NULL) {
		park(ch, io);
		ch->inflight++;
		return 0;
	}
	rc = ch->bdev->ops->submit(ch, io);
	if (vhd_likely(rc == 0)) {
		ch->inflight++;
		return 0;
	}
	if (rc == -EAGAIN) {
		park(ch, io);
		ch->inflight++;
		return 0;
	}
	return rc;
}

void
vhd_bdev_io_complete(struct vhd_bdev_io *io, int status)
{
	io->ch->inflight--;
	io->ch->reaped++;
	io->cb(io, status);
}

void
vhd_bdev_io_defer(struct vhd_bdev_io *io, int status)
{
	struct vhd_bdev_channel *ch = io->ch;

	io->status = status;
	io->parked_next = NULL;
	if (ch->deferred_tail != NULL) {
		ch->deferred_tail->parked_next = io;
	} else {
		ch->deferred_head = io;
	}
	ch->deferred_tail = io;
}

static int
deliver_deferred(struct vhd_bdev_channel *ch)
{
	struct vhd_bdev_io *io = ch->deferred_head;
	int n = 0;

	/* Detach first: callbacks may submit (and defer) new I/O on this channel. */
	ch->deferred_head = NULL;
	ch->deferred_tail = NULL;
	while (io != NULL) {
		struct vhd_bdev_io *next = io->parked_next;

		vhd_bdev_io_complete(io, io->status);
		io = next;
		n++;
	}
	return n;
}

static void
retry_parked(struct vhd_bdev_channel *ch)
{
	while (ch->parked_head != NULL) {
		struct vhd_bdev_io *io = ch->parked_head;
		/* Read the link first: a backend that finishes in submit reuses it to queue the
		 * completion (vhd_bdev_io_defer()). */
		struct vhd_bdev_io *next = io->parked_next;
		int rc = ch->bdev->ops->submit(ch, io);

		if (rc == -EAGAIN) {
			return;
		}
		ch->parked_head = next;
		if (next == NULL) {
			ch->parked_tail = NULL;
		}
		if (rc != 0) {
			/* Already counted as submitted, so it completes like any other I/O. */
			vhd_bdev_io_complete(io, rc);
		}
	}
}

int
vhd_bdev_poll_channels(void)
{
	int total = 0;

	for (struct vhd_bdev_channel *ch = t_channels; ch != NULL; ch = ch->next) {
		if (ch->inflight == 0) {
			continue;
		}
		if (ch->deferred_head != NULL) {
			total += deliver_deferred(ch);
		}
		total += ch->bdev->ops->poll(ch);
		if (ch->parked_head != NULL) {
			retry_parked(ch);
		}
	}
	return total;
}

void
vhd_bdev_flush_channels(void)
{
	for (struct vhd_bdev_channel *ch = t_channels; ch != NULL; ch = ch->next) {
		if (ch->bdev->ops->flush != NULL && ch->inflight > 0) {
			ch->bdev->ops->flush(ch);
		}
	}
}

bool
vhd_bdev_thread_busy(void)
{
	for (struct vhd_bdev_channel *ch = t_channels; ch != NULL; ch = ch->next) {
		if (ch->inflight > 0) {
			return true;
		}
	}
	return false;
}
