/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Linux AIO backend on a file or block device.
 *
 * - Reads, writes and flushes go through one io_context per channel: submit only prepares the
 *   iocb (stored in io->ctx), flush() hands the round's batch to the kernel with one
 *   io_submit(), and poll() reaps completions straight from the kernel's completion ring in
 *   user space (no io_getevents syscall while the ring format is the one we know).
 * - O_DIRECT is used for every request the file's DIO alignment allows. A request the guest
 *   built with unaligned buffers goes through a second, buffered descriptor instead of
 *   failing; the kernel keeps direct and buffered I/O on one file coherent.
 * - FLUSH is IOCB_CMD_FDSYNC (asynchronous since Linux 4.18), write-through writes carry
 *   RWF_DSYNC. Discard and write-zeroes are fallocate() calls, which can take long, so a
 *   helper thread per channel runs them; it talks to the lcore through two lock-free rings.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <libaio.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define VHD_LOG_COMPONENT "aio"
#include "aio_internal.h"
#include "vhostd/bdev.h"
#include "vhostd/log.h"
#include "vhostd/spsc.h"
#include "vhostd/thread.h"

#define AIO_QUEUE_DEPTH 512u
#define AIO_REAP_BATCH 64
#define OFFLOAD_RING_SIZE 256u
#define ZERO_BUF_SIZE (1u << 20)

/* The kernel's completion ring, mapped at the io_context_t address (fs/aio.c). */
struct aio_ring {
	unsigned int id;
	unsigned int nr;
	unsigned int head;
	unsigned int tail;
	unsigned int magic;
	unsigned int compat_features;
	unsigned int incompat_features;
	unsigned int header_length;
	struct io_event io_events[];
};
#define AIO_RING_MAGIC 0xa10a10a1u

struct aio_bdev {
	struct vhd_bdev base;
	char path[PATH_MAX];
	int fd;            /* O_DIRECT */
	int fd_buffered;   /* for requests that break the DIO alignment rules */
	bool is_blockdev;
	uint32_t mem_align;  /* DIO buffer alignment */
	uint32_t off_align;  /* DIO offset/length alignment */
};

struct aio_channel {
	struct vhd_bdev_channel base;
	io_context_t ctx;
	bool user_reap;
	unsigned int in_kernel;   /* submitted with io_submit, not reaped */
	unsigned int npending;    /* prepared, waiting for flush() */
	struct iocb *pending[AIO_QUEUE_DEPTH];
	/* fallocate offload */
	struct vhd_spsc *off_sub;
	struct vhd_spsc *off_cpl;
	unsigned int off_inflight;
	int off_efd;
	bool off_stop;
	pthread_t off_thread;
	void *zero_buf;
};

struct aio_io_ctx {
	struct iocb iocb;
};
_Static_assert(sizeof(struct aio_io_ctx) <= VHD_BDEV_IO_CTX_SIZE, "aio ctx too large");

static const struct vhd_bdev_ops g_aio_ops;

static struct aio_bdev *
to_aio(struct vhd_bdev *bdev)
{
	return VHD_CONTAINER_OF(bdev, struct aio_bdev, base);
}

static struct aio_channel *
to_aio_ch(struct vhd_bdev_channel *ch)
{
	return VHD_CONTAINER_OF(ch, struct aio_channel, base);
}

/* ---- fallocate offload thread ---- */

static int
zero_by_writing(struct aio_bdev *a, struct aio_channel *c, uint64_t off, uint64_t len)
{
	while (len > 0) {
		size_t n = (size_t)VHD_MIN(len, (uint64_t)ZERO_BUF_SIZE);
		ssize_t w = pwrite(a->fd_buffered, c->zero_buf, n, (off_t)off);

		if (w < 0) {
			return -errno;
		}
		off += (uint64_t)w;
		len -= (uint64_t)w;
	}
	return 0;
}

static int
run_offloaded(struct aio_bdev *a, struct aio_channel *c, struct vhd_bdev_io *io)
{
	int mode;

	if (io->type == VHD_IO_DISCARD) {
		if (a->is_blockdev) {
			uint64_t range[2] = {io->offset, io->length};

			return ioctl(a->fd, BLKDISCARD, range) == 0 ? 0 : -errno;
		}
		mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	} else if ((io->flags & VHD_IO_F_UNMAP) && !a->is_blockdev) {
		/* A hole reads back as zeroes and frees the space: what "may unmap" allows. */
		mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	} else {
		mode = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
	}
	if (fallocate(a->fd, mode, (off_t)io->offset, (off_t)io->length) == 0) {
		return 0;
	}
	if (errno != EOPNOTSUPP && errno != EINVAL) {
		return -errno;
	}
	/* The filesystem cannot do it: write zeroes (discard too, so reads stay zero). */
	return zero_by_writing(a, c, io->offset, io->length);
}

static void *
offload_main(void *arg)
{
	struct aio_channel *c = arg;
	struct aio_bdev *a = to_aio(c->base.bdev);

	for (;;) {
		struct vhd_bdev_io *io;
		uint64_t v;

		while ((io = vhd_spsc_pop(c->off_sub)) != NULL) {
			io->status = run_offloaded(a, c, io);
			/* Cannot fail: aio_submit() keeps at most OFFLOAD_RING_SIZE offloaded
			 * requests between submission and reaping. */
			vhd_spsc_push(c->off_cpl, io);
		}
		if (__atomic_load_n(&c->off_stop, __ATOMIC_ACQUIRE)) {
			return NULL;
		}
		if (read(c->off_efd, &v, sizeof(v)) < 0 && errno != EINTR) {
			return NULL;
		}
	}
}

/* ---- channel ---- */

static void
channel_free(struct aio_channel *c)
{
	if (c->off_efd >= 0) {
		close(c->off_efd);
	}
	vhd_spsc_free(c->off_sub);
	vhd_spsc_free(c->off_cpl);
	free(c->zero_buf);
	free(c);
}

static int
aio_channel_create(struct vhd_bdev *bdev, struct vhd_bdev_channel **out)
{
	struct aio_channel *c = calloc(1, sizeof(*c));
	struct aio_ring *ring;
	char name[16];
	int rc;

	if (c == NULL) {
		return -ENOMEM;
	}
	c->off_efd = -1;
	rc = io_setup(AIO_QUEUE_DEPTH, &c->ctx);
	if (rc < 0) {
		free(c);
		return rc;
	}
	ring = (struct aio_ring *)c->ctx;
	c->user_reap = ring->magic == AIO_RING_MAGIC && ring->incompat_features == 0;

	c->off_sub = vhd_spsc_create(OFFLOAD_RING_SIZE);
	c->off_cpl = vhd_spsc_create(OFFLOAD_RING_SIZE);
	c->zero_buf = calloc(1, ZERO_BUF_SIZE);
	c->off_efd = eventfd(0, EFD_CLOEXEC);
	if (c->off_sub == NULL || c->off_cpl == NULL || c->zero_buf == NULL || c->off_efd < 0) {
		io_destroy(c->ctx);
		channel_free(c);
		return -ENOMEM;
	}
	c->base.bdev = bdev;
	snprintf(name, sizeof(name), "aio-%.11s", bdev->name);
	rc = vhd_thread_create(&c->off_thread, name, offload_main, c);
	if (rc != 0) {
		io_destroy(c->ctx);
		channel_free(c);
		return rc;
	}
	*out = &c->base;
	return 0;
}

static void
aio_channel_destroy(struct vhd_bdev_channel *ch)
{
	struct aio_channel *c = to_aio_ch(ch);
	uint64_t one = 1;

	__atomic_store_n(&c->off_stop, true, __ATOMIC_RELEASE);
	if (write(c->off_efd, &one, sizeof(one)) < 0) {
		VHD_WARNLOG("%s: cannot wake the offload thread: %s", ch->bdev->name,
			    strerror(errno));
	}
	pthread_join(c->off_thread, NULL);
	io_destroy(c->ctx);
	channel_free(c);
}

bool
vhd_aio_dio_aligned(uint32_t mem_align, uint32_t off_align, const struct vhd_bdev_io *io)
{
	if (((io->offset | io->length) & (off_align - 1)) != 0) {
		return false;
	}
	for (int i = 0; i < io->iovcnt; i++) {
		if (((uintptr_t)io->iov[i].iov_base & (mem_align - 1)) != 0 ||
		    (io->iov[i].iov_len & (off_align - 1)) != 0) {
			return false;
		}
	}
	return true;
}

static int
aio_submit(struct vhd_bdev_channel *ch, struct vhd_bdev_io *io)
{
	struct aio_channel *c = to_aio_ch(ch);
	struct aio_bdev *a = to_aio(ch->bdev);
	struct iocb *iocb = &((struct aio_io_ctx *)io->ctx)->iocb;
	uint64_t one = 1;
	int fd;

	switch (io->type) {
	case VHD_IO_READ:
	case VHD_IO_WRITE:
		if (c->in_kernel + c->npending >= AIO_QUEUE_DEPTH) {
			return -EAGAIN;
		}
		fd = vhd_likely(vhd_aio_dio_aligned(a->mem_align, a->off_align, io)) ? a->fd :
									    a->fd_buffered;
		if (io->type == VHD_IO_READ) {
			io_prep_preadv(iocb, fd, io->iov, io->iovcnt, (long long)io->offset);
		} else {
			io_prep_pwritev(iocb, fd, io->iov, io->iovcnt, (long long)io->offset);
			if (io->flags & VHD_IO_F_FUA) {
				iocb->aio_rw_flags = RWF_DSYNC;
			}
		}
		break;
	case VHD_IO_FLUSH:
		if (c->in_kernel + c->npending >= AIO_QUEUE_DEPTH) {
			return -EAGAIN;
		}
		io_prep_fdsync(iocb, a->fd);
		break;
	case VHD_IO_DISCARD:
	case VHD_IO_WRITE_ZEROES:
		/* Bound what is offloaded and not reaped yet by the completion ring's size, so
		 * the helper thread always has room to hand a completion back. */
		if (c->off_inflight >= OFFLOAD_RING_SIZE || !vhd_spsc_push(c->off_sub, io)) {
			return -EAGAIN;
		}
		c->off_inflight++;
		if (write(c->off_efd, &one, sizeof(one)) < 0) {
			VHD_WARNLOG("%s: cannot wake the offload thread: %s", a->base.name,
				    strerror(errno));
		}
		return 0;
	default:
		return -EOPNOTSUPP;
	}
	iocb->data = io;
	c->pending[c->npending++] = iocb;
	return 0;
}

static void
aio_flush(struct vhd_bdev_channel *ch)
{
	struct aio_channel *c = to_aio_ch(ch);
	unsigned int done = 0;

	while (done < c->npending) {
		int rc = io_submit(c->ctx, (long)(c->npending - done), &c->pending[done]);

		if (rc > 0) {
			done += (unsigned int)rc;
			c->in_kernel += (unsigned int)rc;
			continue;
		}
		if (rc == -EAGAIN || rc == 0) {
			break;
		}
		/* The first iocb was refused (bad fd, EINVAL ...): fail it, go on with the rest. */
		vhd_bdev_io_defer(c->pending[done]->data, rc);
		done++;
	}
	if (done > 0 && done < c->npending) {
		memmove(c->pending, &c->pending[done],
			(c->npending - done) * sizeof(c->pending[0]));
	}
	c->npending -= done;
}

static int
io_event_status(const struct io_event *ev)
{
	const struct vhd_bdev_io *io = ev->data;
	long res = (long)ev->res;

	if (res < 0) {
		return (int)res;
	}
	if (io->type == VHD_IO_FLUSH) {
		return 0;
	}
	/* A short transfer only happens past the end of a file that shrank under us. */
	return (uint64_t)res == io->length ? 0 : -EIO;
}

static int
reap_kernel(struct aio_channel *c)
{
	struct io_event events[AIO_REAP_BATCH];
	int n = 0;

	if (c->in_kernel == 0) {
		return 0;
	}
	if (vhd_likely(c->user_reap)) {
		struct aio_ring *ring = (struct aio_ring *)c->ctx;
		unsigned int head = ring->head;
		unsigned int tail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);

		while (head != tail && n < AIO_REAP_BATCH) {
			events[n++] = ring->io_events[head];
			head = head + 1 == ring->nr ? 0 : head + 1;
		}
		/* Give the slots back before callbacks submit more. */
		__atomic_store_n(&ring->head, head, __ATOMIC_RELEASE);
	} else {
		struct timespec zero = {0, 0};

		n = io_getevents(c->ctx, 0, AIO_REAP_BATCH, events, &zero);
		if (n < 0) {
			return 0;
		}
	}
	c->in_kernel -= (unsigned int)n;
	for (int i = 0; i < n; i++) {
		vhd_bdev_io_complete(events[i].data, io_event_status(&events[i]));
	}
	return n;
}

static int
aio_poll(struct vhd_bdev_channel *ch)
{
	struct aio_channel *c = to_aio_ch(ch);
	int n = reap_kernel(c);

	if (c->off_inflight > 0) {
		struct vhd_bdev_io *io;

		while ((io = vhd_spsc_pop(c->off_cpl)) != NULL) {
			c->off_inflight--;
			vhd_bdev_io_complete(io, io->status);
			n++;
		}
	}
	return n;
}

/* ---- bdev ---- */

static void
aio_destroy(struct vhd_bdev *bdev)
{
	struct aio_bdev *a = to_aio(bdev);

	close(a->fd);
	close(a->fd_buffered);
	free(a);
}

static int
read_size(struct aio_bdev *a, uint64_t *size)
{
	struct stat st;

	if (fstat(a->fd, &st) != 0) {
		return -errno;
	}
	if (a->is_blockdev) {
		return ioctl(a->fd, BLKGETSIZE64, size) == 0 ? 0 : -errno;
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

static int
aio_resize(struct vhd_bdev *bdev, uint64_t new_size)
{
	struct aio_bdev *a = to_aio(bdev);
	uint64_t size;
	int rc;

	if (new_size != 0) {
		return -ENOTSUP;
	}
	rc = read_size(a, &size);
	if (rc != 0) {
		return rc;
	}
	if (size < bdev->block_size) {
		return -EINVAL;
	}
	__atomic_store_n(&bdev->num_blocks, size / bdev->block_size, __ATOMIC_RELEASE);
	return 0;
}

static void
probe_alignment(struct aio_bdev *a, uint32_t *logical, uint32_t *physical)
{
	*logical = 512;
	*physical = 512;
	if (a->is_blockdev) {
		int lbs = 512;
		unsigned int pbs = 512;

		if (ioctl(a->fd, BLKSSZGET, &lbs) == 0 && lbs > 0) {
			*logical = (uint32_t)lbs;
		}
		if (ioctl(a->fd, BLKPBSZGET, &pbs) == 0 && pbs > 0) {
			*physical = pbs;
		}
		a->mem_align = *logical;
		a->off_align = *logical;
		return;
	}
#ifdef STATX_DIOALIGN
	struct statx stx;

	if (statx(a->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align > 0) {
		a->mem_align = stx.stx_dio_mem_align;
		a->off_align = stx.stx_dio_offset_align;
		*logical = VHD_MAX(512u, a->off_align);
		return;
	}
#endif
	a->mem_align = 512;
	a->off_align = 512;
}

static int
open_files(struct aio_bdev *a, bool readonly)
{
	int flags = (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	struct stat st;

	a->fd = open(a->path, flags | O_DIRECT);
	if (a->fd < 0) {
		return -errno;
	}
	if (fstat(a->fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))) {
		close(a->fd);
		return -EINVAL;
	}
	a->is_blockdev = S_ISBLK(st.st_mode);
	/* One writer per file: a second vhostd (or a second backend) on it would corrupt it. */
	if (flock(a->fd, (readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
		int rc = errno == EWOULDBLOCK ? -EBUSY : -errno;

		close(a->fd);
		return rc;
	}
	a->fd_buffered = open(a->path, flags);
	if (a->fd_buffered < 0) {
		int rc = -errno;

		close(a->fd);
		return rc;
	}
	return 0;
}

int
vhd_bdev_aio_create(const struct vhd_backend_conf *conf, struct vhd_bdev **bdev)
{
	struct aio_bdev *a = calloc(1, sizeof(*a));
	uint32_t logical, physical;
	uint64_t size;
	int rc;

	if (a == NULL) {
		return -ENOMEM;
	}
	if (vhd_strlcpy(a->path, conf->path, sizeof(a->path)) != 0) {
		free(a);
		return -ENAMETOOLONG;
	}
	rc = open_files(a, conf->readonly);
	if (rc != 0) {
		free(a);
		return rc;
	}
	probe_alignment(a, &logical, &physical);
	a->base.block_size = conf->block_size != 0 ? conf->block_size : logical;
	rc = read_size(a, &size);
	if (rc == 0 && (!vhd_bdev_block_size_valid(a->base.block_size) ||
			size < a->base.block_size)) {
		rc = -EINVAL;
	}
	if (rc != 0) {
		aio_destroy(&a->base);
		return rc;
	}
	vhd_strlcpy(a->base.name, conf->name, sizeof(a->base.name));
	a->base.type = VHD_BACKEND_AIO;
	a->base.ops = &g_aio_ops;
	a->base.num_blocks = size / a->base.block_size;
	if (physical > a->base.block_size) {
		a->base.phys_block_exp = (uint32_t)__builtin_ctz(physical / a->base.block_size);
	}
	a->base.readonly = conf->readonly;
	a->base.has_discard = !conf->readonly;
	a->base.has_write_zeroes = !conf->readonly;
	a->base.volatile_cache = true;
	a->base.has_fua = true;
	VHD_INFOLOG("%s: %s, %" PRIu64 " blocks of %u bytes%s", conf->name, a->path,
		    a->base.num_blocks, a->base.block_size, conf->readonly ? ", read-only" : "");
	*bdev = &a->base;
	return 0;
}

static const struct vhd_bdev_ops g_aio_ops = {
	.channel_create = aio_channel_create,
	.channel_destroy = aio_channel_destroy,
	.submit = aio_submit,
	.flush = aio_flush,
	.poll = aio_poll,
	.destroy = aio_destroy,
	.resize = aio_resize,
};
