/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The "nvme" backend: one vhd_bdev per NVMe namespace, driven from the polling lcores with the
 * userspace driver in this directory (see nvme_internal.h for the driver's assumptions).
 *
 * - Controllers are shared: backends on namespaces of one PCI function share one struct
 *   nvme_dev (VFIO device, controller, admin queue), counted by reference.
 * - Each lcore that serves a backend gets its own I/O SQ/CQ pair, created in channel_create()
 *   on that lcore. Submission writes SQ entries; flush() rings the doorbell once per round;
 *   poll() reaps the CQ by phase bit. No lock, allocation or system call per request.
 * - Guest memory reaches the device through dma_map()/dma_unmap(), called by the transport for
 *   the backends of a device when the front-end's memory table is read and before it goes
 *   away. Each backend remembers what it mapped, so a repeated or unmatched call is harmless;
 *   the VFIO container counts references per range, so two backends of one controller serving
 *   one VM share one IOMMU mapping.
 * - A monitor thread per controller (on the control CPUs) runs controller resets asked for by
 *   the lcores' timeout logic, and hands the device back when the kernel asks for it (unbind,
 *   hot removal): the controller is quiesced, bus mastering is cut, BAR0 is replaced by memory
 *   reading all ones, and all I/O fails with -ENODEV from then on while vhostd keeps running.
 */
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define VHD_LOG_COMPONENT "nvme"
#include "nvme_internal.h"
#include "nvme_vfio.h"
#include "vhostd/log.h"
#include "vhostd/thread.h"

#define BDEV_MAX_MAPS 64

struct nvme_bdev;

struct nvme_dev {
	char bdf[16];
	struct vhd_vfio_dev *vfio;
	struct nvme_ctrlr ctrlr;
	unsigned int refs;                  /* under g_lock */
	TAILQ_HEAD(, nvme_bdev) bdevs;      /* under g_lock */
	pthread_t monitor;
	int wake_efd;
	bool stop;
	TAILQ_ENTRY(nvme_dev) link;
};

struct nvme_bdev {
	struct vhd_bdev base;
	struct nvme_dev *dev;
	struct nvme_ns ns;
	pthread_mutex_t maps_lock;
	struct {
		uint64_t vaddr;
		uint64_t len;
	} maps[BDEV_MAX_MAPS];
	unsigned int nmaps;
	TAILQ_ENTRY(nvme_bdev) link;
};

struct nvme_channel {
	struct vhd_bdev_channel base;
	struct nvme_qpair *qp;    /* NULL: the controller was gone when the channel was made */
	int dead_rc;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static TAILQ_HEAD(, nvme_dev) g_devs = TAILQ_HEAD_INITIALIZER(g_devs);

static const struct vhd_bdev_ops g_nvme_ops;

static struct nvme_bdev *
to_nb(struct vhd_bdev *bdev)
{
	return VHD_CONTAINER_OF(bdev, struct nvme_bdev, base);
}

static struct nvme_channel *
to_nch(struct vhd_bdev_channel *ch)
{
	return VHD_CONTAINER_OF(ch, struct nvme_channel, base);
}

/* ---- environment of the driver core ---- */

static int
env_dma_alloc(void *ctx, size_t size, void **vaddr, uint64_t *iova)
{
	struct nvme_dev *d = ctx;

	return vhd_vfio_dma_alloc(d->vfio, size, vaddr, iova);
}

static void
env_dma_free(void *ctx, void *vaddr, size_t size, uint64_t iova)
{
	struct nvme_dev *d = ctx;

	vhd_vfio_dma_free(d->vfio, vaddr, size, iova);
}

static uint64_t
env_now_us(void *ctx)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void
env_delay_us(void *ctx, uint32_t us)
{
	struct timespec ts = {us / 1000000u, (long)(us % 1000000u) * 1000};

	nanosleep(&ts, NULL);
}

static void
env_request_reset(void *ctx)
{
	struct nvme_dev *d = ctx;
	uint64_t one = 1;

	if (write(d->wake_efd, &one, sizeof(one)) < 0) {
		VHD_ERRLOG("%s: cannot wake the monitor thread: %s", d->bdf, strerror(errno));
	}
}

static void
env_stop_dma(void *ctx)
{
	struct nvme_dev *d = ctx;

	vhd_vfio_stop_dma(d->vfio);
}

static const struct nvme_env_ops g_env_ops = {
	.dma_alloc = env_dma_alloc,
	.dma_free = env_dma_free,
	.now_us = env_now_us,
	.delay_us = env_delay_us,
	.request_reset = env_request_reset,
	.stop_dma = env_stop_dma,
};

/* ---- monitor thread ---- */

static void
drain_eventfd(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) == sizeof(v)) {
	}
}

static void *
monitor_main(void *arg)
{
	struct nvme_dev *d = arg;
	struct nvme_ctrlr *c = &d->ctrlr;
	struct pollfd fds[2] = {
		{.fd = d->wake_efd, .events = POLLIN},
		{.fd = vhd_vfio_req_fd(d->vfio), .events = POLLIN},
	};

	while (!__atomic_load_n(&d->stop, __ATOMIC_ACQUIRE)) {
		if (poll(fds, 2, 1000) < 0 && errno != EINTR) {
			break;
		}
		if (fds[0].revents & POLLIN) {
			drain_eventfd(fds[0].fd);
		}
		if (fds[1].fd >= 0 && (fds[1].revents & POLLIN)) {
			drain_eventfd(fds[1].fd);
			VHD_WARNLOG("%s: the kernel asks for the device back (unbind or removal); "
				    "its I/O fails from now on", d->bdf);
			nvme_ctrlr_quiesce(c);
			vhd_vfio_release(d->vfio);
			nvme_ctrlr_set_gone(c, "handed back to the kernel");
			fds[1].fd = -1;
		}
		if (__atomic_load_n(&c->reset_requested, __ATOMIC_ACQUIRE) &&
		    nvme_ctrlr_state(c) == NVME_CTRLR_READY) {
			nvme_ctrlr_reset(c);
		}
	}
	return NULL;
}

/* ---- controllers ---- */

static void
dev_free(struct nvme_dev *d)
{
	if (d->wake_efd >= 0) {
		close(d->wake_efd);
	}
	if (d->vfio != NULL) {
		vhd_vfio_close(d->vfio);
	}
	free(d);
}

/* g_lock held. */
static int
dev_get(const char *bdf, struct nvme_dev **out)
{
	struct nvme_env env = {&g_env_ops, NULL};
	struct nvme_dev *d;
	char tname[16];
	size_t bar_size;
	int rc;

	TAILQ_FOREACH(d, &g_devs, link) {
		if (strcmp(d->bdf, bdf) == 0) {
			d->refs++;
			*out = d;
			return 0;
		}
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		return -ENOMEM;
	}
	vhd_strlcpy(d->bdf, bdf, sizeof(d->bdf));
	TAILQ_INIT(&d->bdevs);
	d->wake_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->wake_efd < 0) {
		rc = -errno;
		free(d);
		return rc;
	}
	rc = vhd_vfio_open(bdf, &d->vfio);
	if (rc != 0) {
		dev_free(d);
		return rc;
	}
	env.ctx = d;
	rc = nvme_ctrlr_init(&d->ctrlr, bdf, vhd_vfio_bar0(d->vfio, &bar_size), &env,
			     vhd_vfio_dma_table(d->vfio));
	if (rc != 0) {
		dev_free(d);
		return rc;
	}
	/* "nvme-01:00.0": the domain is almost always 0000. */
	snprintf(tname, sizeof(tname), "nvme-%.10s", strlen(bdf) > 5 ? bdf + 5 : bdf);
	rc = vhd_thread_create(&d->monitor, tname, monitor_main, d);
	if (rc != 0) {
		nvme_ctrlr_fini(&d->ctrlr);
		dev_free(d);
		return rc;
	}
	d->refs = 1;
	TAILQ_INSERT_TAIL(&g_devs, d, link);
	*out = d;
	return 0;
}

static void
dev_put(struct nvme_dev *d)
{
	uint64_t one = 1;

	pthread_mutex_lock(&g_lock);
	if (--d->refs > 0) {
		pthread_mutex_unlock(&g_lock);
		return;
	}
	TAILQ_REMOVE(&g_devs, d, link);
	pthread_mutex_unlock(&g_lock);
	__atomic_store_n(&d->stop, true, __ATOMIC_RELEASE);
	if (write(d->wake_efd, &one, sizeof(one)) < 0) {
		VHD_WARNLOG("%s: cannot wake the monitor thread: %s", d->bdf, strerror(errno));
	}
	pthread_join(d->monitor, NULL);
	VHD_INFOLOG("%s: closing (%" PRIu64 " timeouts, %" PRIu64 " aborts, %" PRIu64 " resets)",
		    d->bdf, d->ctrlr.ntimeouts, d->ctrlr.naborts, d->ctrlr.nresets);
	nvme_ctrlr_fini(&d->ctrlr);
	dev_free(d);
}

/* ---- channels ---- */

static int
nvme_channel_create(struct vhd_bdev *bdev, struct vhd_bdev_channel **out)
{
	struct nvme_bdev *nb = to_nb(bdev);
	struct nvme_channel *c = calloc(1, sizeof(*c));
	int rc;

	if (c == NULL) {
		return -ENOMEM;
	}
	rc = nvme_qpair_create(&nb->dev->ctrlr, &nb->ns, NVME_IO_DEPTH, vhd_bdev_io_complete,
			       &c->qp);
	if (rc != 0 && nvme_ctrlr_state(&nb->dev->ctrlr) >= NVME_CTRLR_FAILED) {
		rc = nvme_ctrlr_state(&nb->dev->ctrlr) == NVME_CTRLR_GONE ? -ENODEV : -EIO;
	}
	if (rc == -ENODEV || rc == -EIO) {
		/* The controller is gone or failed: a channel that fails every I/O at once
		 * beats a queue the guest waits on forever. */
		VHD_WARNLOG("%s: controller %s is %s; I/O on this channel fails", bdev->name,
			    nb->dev->bdf, rc == -ENODEV ? "gone" : "failed");
		c->qp = NULL;
		c->dead_rc = rc;
	} else if (rc != 0) {
		free(c);
		return rc;
	}
	*out = &c->base;
	return 0;
}

static void
nvme_channel_destroy(struct vhd_bdev_channel *ch)
{
	struct nvme_channel *c = to_nch(ch);

	if (c->qp != NULL) {
		nvme_qpair_destroy(c->qp);
	}
	free(c);
}

static int
nvme_submit(struct vhd_bdev_channel *ch, struct vhd_bdev_io *io)
{
	struct nvme_channel *c = to_nch(ch);

	if (vhd_unlikely(c->qp == NULL)) {
		return c->dead_rc;
	}
	return nvme_qpair_submit(c->qp, io);
}

static void
nvme_flush(struct vhd_bdev_channel *ch)
{
	struct nvme_channel *c = to_nch(ch);

	if (c->qp != NULL) {
		nvme_qpair_flush(c->qp);
	}
}

static int
nvme_poll(struct vhd_bdev_channel *ch)
{
	struct nvme_channel *c = to_nch(ch);

	return c->qp != NULL ? nvme_qpair_poll(c->qp) : 0;
}

/* ---- DMA mapping of external memory ---- */

static int
nvme_dma_map(struct vhd_bdev *bdev, void *vaddr, uint64_t len)
{
	struct nvme_bdev *nb = to_nb(bdev);
	uint64_t va = (uint64_t)(uintptr_t)vaddr;
	int rc = 0;

	/* A controller that is gone or failed does no DMA: nothing to map (its I/O fails). */
	if (nvme_ctrlr_state(&nb->dev->ctrlr) >= NVME_CTRLR_FAILED) {
		return 0;
	}
	pthread_mutex_lock(&nb->maps_lock);
	for (unsigned int i = 0; i < nb->nmaps; i++) {
		if (nb->maps[i].vaddr == va && nb->maps[i].len == len) {
			pthread_mutex_unlock(&nb->maps_lock);
			return 0;
		}
	}
	if (nb->nmaps == BDEV_MAX_MAPS) {
		rc = -ENOSPC;
	} else {
		rc = vhd_vfio_dma_map(nb->dev->vfio, va, len);
	}
	if (rc == 0) {
		nb->maps[nb->nmaps].vaddr = va;
		nb->maps[nb->nmaps].len = len;
		nb->nmaps++;
	}
	pthread_mutex_unlock(&nb->maps_lock);
	return rc;
}

static void
nvme_dma_unmap(struct vhd_bdev *bdev, void *vaddr, uint64_t len)
{
	struct nvme_bdev *nb = to_nb(bdev);
	uint64_t va = (uint64_t)(uintptr_t)vaddr;

	pthread_mutex_lock(&nb->maps_lock);
	for (unsigned int i = 0; i < nb->nmaps; i++) {
		if (nb->maps[i].vaddr == va && nb->maps[i].len == len) {
			vhd_vfio_dma_unmap(nb->dev->vfio, va, len);
			nb->maps[i] = nb->maps[--nb->nmaps];
			break;
		}
	}
	pthread_mutex_unlock(&nb->maps_lock);
}

/* ---- bdev ---- */

static void
nvme_destroy(struct vhd_bdev *bdev)
{
	struct nvme_bdev *nb = to_nb(bdev);
	struct nvme_dev *d = nb->dev;

	while (nb->nmaps > 0) {
		nvme_dma_unmap(bdev, (void *)(uintptr_t)nb->maps[0].vaddr, nb->maps[0].len);
	}
	pthread_mutex_lock(&g_lock);
	TAILQ_REMOVE(&d->bdevs, nb, link);
	pthread_mutex_unlock(&g_lock);
	dev_put(d);
	pthread_mutex_destroy(&nb->maps_lock);
	free(nb);
}

int
vhd_bdev_nvme_create(const struct vhd_backend_conf *conf, struct vhd_bdev **bdev)
{
	struct nvme_bdev *nb, *other;
	struct nvme_ctrlr *c;
	struct nvme_dev *d;
	int rc;

	if (conf->pci[0] == '\0' || conf->nsid == 0) {
		return -EINVAL;
	}
	nb = calloc(1, sizeof(*nb));
	if (nb == NULL) {
		return -ENOMEM;
	}
	pthread_mutex_lock(&g_lock);
	rc = dev_get(conf->pci, &d);
	if (rc != 0) {
		pthread_mutex_unlock(&g_lock);
		free(nb);
		return rc;
	}
	TAILQ_FOREACH(other, &d->bdevs, link) {
		if (other->ns.nsid == conf->nsid) {
			VHD_ERRLOG("%s: namespace %u of %s is already served by backend %s",
				   conf->name, conf->nsid, conf->pci, other->base.name);
			pthread_mutex_unlock(&g_lock);
			dev_put(d);
			free(nb);
			return -EBUSY;
		}
	}
	nb->dev = d;
	TAILQ_INSERT_TAIL(&d->bdevs, nb, link);
	pthread_mutex_unlock(&g_lock);
	pthread_mutex_init(&nb->maps_lock, NULL);
	c = &d->ctrlr;

	rc = nvme_ctrlr_identify_ns(c, conf->nsid, &nb->ns);
	if (rc == 0 && conf->block_size != 0 && conf->block_size != nb->ns.block_size) {
		VHD_ERRLOG("%s: block_size %u, but namespace %u of %s is formatted with %u-byte "
			   "blocks (leave block_size out)", conf->name, conf->block_size,
			   conf->nsid, conf->pci, nb->ns.block_size);
		rc = -EINVAL;
	}
	if (rc != 0) {
		nvme_destroy(&nb->base);
		return rc;
	}
	vhd_strlcpy(nb->base.name, conf->name, sizeof(nb->base.name));
	nb->base.type = VHD_BACKEND_NVME;
	nb->base.ops = &g_nvme_ops;
	nb->base.block_size = nb->ns.block_size;
	nb->base.num_blocks = nb->ns.nblocks;
	nb->base.phys_block_exp = nb->ns.phys_block_exp;
	nb->base.opt_io_blocks = nb->ns.opt_io_blocks;
	nb->base.readonly = nb->ns.readonly;
	nb->base.has_discard = !nb->ns.readonly && (c->oncs & NVME_ONCS_DSM) != 0;
	/* Native WRITE ZEROES when the controller has it, else writes from a zero page. */
	nb->base.has_write_zeroes = !nb->ns.readonly;
	nb->base.volatile_cache = c->vwc;
	nb->base.has_fua = true;
	VHD_NOTICELOG("%s: %s namespace %u, %" PRIu64 " blocks of %u bytes%s%s%s%s", conf->name,
		      conf->pci, conf->nsid, nb->ns.nblocks, nb->ns.block_size,
		      nb->base.has_discard ? ", discard" : "",
		      (c->oncs & NVME_ONCS_WRITE_ZEROES) ? ", write zeroes" : "",
		      c->vwc ? ", volatile write cache" : "", nb->ns.readonly ? ", read-only" : "");
	*bdev = &nb->base;
	return 0;
}

const char *
vhd_bdev_nvme_strerror(int err)
{
	switch (err) {
	case -ENXIO:
		return "the controller is not bound to vfio-pci (scripts/setup.sh PCI_ALLOWED=...)";
	case -ENODEV:
		return "no such PCI device, no IOMMU for it, or it does not respond";
	case -EPERM:
		return "its IOMMU group is not viable (other devices in it have drivers)";
	case -EBUSY:
		return "its VFIO group, an I/O queue or the namespace is already in use";
	case -EACCES:
		return "permission denied on /dev/vfio (root, or VFIO_OWNER in scripts/setup.sh)";
	case -ENOENT:
		return "no such active namespace";
	case -ENOTSUP:
		return "the device or the namespace format is not supported";
	case -EINVAL:
		return "invalid PCI address, namespace or block size";
	case -ETIMEDOUT:
		return "the controller did not become ready";
	default:
		return strerror(-err);
	}
}

static const struct vhd_bdev_ops g_nvme_ops = {
	.channel_create = nvme_channel_create,
	.channel_destroy = nvme_channel_destroy,
	.submit = nvme_submit,
	.flush = nvme_flush,
	.poll = nvme_poll,
	.destroy = nvme_destroy,
	.dma_map = nvme_dma_map,
	.dma_unmap = nvme_dma_unmap,
};
