/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include "vub_blk.h"


static int
blk_fail(struct vub_blk *d, int rc, const char *fmt, ...) VHD_PRINTF(3, 4);

static int
blk_fail(struct vub_blk *d, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->err, sizeof(d->err), fmt, ap);
	va_end(ap);
	return rc;
}

/* A control request failed: keep the connection's description. */
static int
conn_failed(struct vub_blk *d, int rc)
{
	return blk_fail(d, rc, "%s", vub_conn_error(&d->conn));
}

const char *
vub_blk_error(const struct vub_blk *d)
{
	return d->err;
}

static uint64_t
wanted_protocol(const struct vub_blk *d)
{
	uint64_t want = (1ull << VHOST_USER_PROTOCOL_F_MQ) |
			(1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) |
			(1ull << VHOST_USER_PROTOCOL_F_CONFIG) |
			(1ull << VHOST_USER_PROTOCOL_F_STATUS);

	if (d->opts.inflight) {
		want |= 1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD;
	}
	return want;
}

/* Config space bytes that the offered features make meaningful (end of the last field). */
static uint32_t
config_len_for(uint64_t f)
{
	static const struct {
		unsigned int bit;
		uint32_t end;
	} ends[] = {
		{ VIRTIO_BLK_F_SIZE_MAX, 12 },
		{ VIRTIO_BLK_F_SEG_MAX, 16 },
		{ VIRTIO_BLK_F_GEOMETRY, 20 },
		{ VIRTIO_BLK_F_BLK_SIZE, 24 },
		{ VIRTIO_BLK_F_TOPOLOGY, 32 },
		{ VIRTIO_BLK_F_CONFIG_WCE, 33 },
		{ VIRTIO_BLK_F_MQ, 36 },
		{ VIRTIO_BLK_F_DISCARD, 48 },
		{ VIRTIO_BLK_F_WRITE_ZEROES, 60 },
		{ VIRTIO_BLK_F_SECURE_ERASE, 72 },
	};
	uint32_t len = 8;

	for (size_t i = 0; i < VHD_ARRAY_SIZE(ends); i++) {
		if ((f & (1ull << ends[i].bit)) != 0) {
			len = VHD_MAX(len, ends[i].end);
		}
	}
	return len;
}

static int
read_config(struct vub_blk *d)
{
	uint32_t len = sizeof(d->cfg), fallback = config_len_for(d->dev_features);
	int rc;

	rc = vub_get_config(&d->conn, 0, &d->cfg, len);
	if (rc == -ENOMSG && fallback < len) {
		/*
		 * A back-end built against an older virtio_blk_config refuses the full struct;
		 * ask again for what its offered features cover (as QEMU sizes it).
		 */
		len = fallback;
		rc = vub_get_config(&d->conn, 0, &d->cfg, len);
	}
	if (rc != 0) {
		return conn_failed(d, rc);
	}
	d->has_config = true;
	d->cfg_len = len;
	if (d->cfg.capacity == 0) {
		return blk_fail(d, -EPROTO, "config space reports capacity 0");
	}
	if (d->cfg.capacity > UINT64_MAX / VIRTIO_BLK_SECTOR_SIZE) {
		return blk_fail(d, -EPROTO, "config space capacity %llu sectors overflows",
				(unsigned long long)d->cfg.capacity);
	}
	if (vub_blk_offers(d, VIRTIO_BLK_F_BLK_SIZE) &&
	    (d->cfg.blk_size < 512 || (d->cfg.blk_size & (d->cfg.blk_size - 1)) != 0)) {
		return blk_fail(d, -EPROTO, "config space blk_size %u is not a power of two "
				">= 512", d->cfg.blk_size);
	}
	/* seg_max/size_max of 0 (QEMU's export says size_max 0) read as "no limit". */
	if (vub_blk_offers(d, VIRTIO_BLK_F_MQ) && d->cfg.num_queues == 0) {
		return blk_fail(d, -EPROTO, "config space num_queues is 0 with VIRTIO_BLK_F_MQ");
	}
	return 0;
}

static int
handshake(struct vub_blk *d)
{
	struct vub_conn *c = &d->conn;
	uint64_t nq = 1;
	int rc;

	rc = vub_get_features(c, &d->dev_features);
	if (rc == 0) {
		rc = vub_set_owner(c);
	}
	if (rc != 0) {
		return conn_failed(d, rc);
	}
	if ((d->dev_features & (1ull << VIRTIO_F_VERSION_1)) == 0) {
		return blk_fail(d, -ENOTSUP, "back-end does not offer VIRTIO_F_VERSION_1 "
				"(features 0x%llx)", (unsigned long long)d->dev_features);
	}
	if ((d->dev_features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES)) != 0) {
		rc = vub_get_protocol_features(c, &d->proto_offered);
		if (rc == 0) {
			d->proto = d->proto_offered & wanted_protocol(d);
			rc = vub_set_protocol_features(c, d->proto);
		}
		if (rc != 0) {
			return conn_failed(d, rc);
		}
	}
	if ((d->proto & (1ull << VHOST_USER_PROTOCOL_F_MQ)) != 0) {
		rc = vub_get_queue_num(c, &nq);
		if (rc != 0) {
			return conn_failed(d, rc);
		}
		if (nq == 0 || nq > 0x100) {
			return blk_fail(d, -EPROTO, "GET_QUEUE_NUM answered %llu",
					(unsigned long long)nq);
		}
	}
	d->max_queues = (uint32_t)nq;
	if ((d->proto & (1ull << VHOST_USER_PROTOCOL_F_CONFIG)) != 0) {
		rc = read_config(d);
		if (rc != 0) {
			return rc;
		}
		if (vub_blk_offers(d, VIRTIO_BLK_F_MQ)) {
			d->max_queues = VHD_MIN(d->max_queues, d->cfg.num_queues);
		} else {
			d->max_queues = 1;
		}
	} else if (!vub_blk_offers(d, VIRTIO_BLK_F_MQ)) {
		d->max_queues = 1;
	}
	return 0;
}

int
vub_blk_connect(struct vub_blk *d, const struct vub_blk_opts *opts)
{
	int rc;

	memset(d, 0, sizeof(*d));
	d->opts = *opts;
	if (d->opts.timeout_ms <= 0) {
		d->opts.timeout_ms = 5000;
	}
	if (d->opts.gpa_base == 0) {
		d->opts.gpa_base = VUB_MEM_GPA_BASE_DEFAULT;
	}
	d->inflight_fd = -1;
	d->mem.fd = -1;
	rc = vub_conn_connect(&d->conn, opts->path, d->opts.timeout_ms);
	if (rc != 0) {
		return conn_failed(d, rc);
	}
	rc = handshake(d);
	if (rc != 0) {
		vub_blk_close(d);
	}
	return rc;
}

static int
setup_inflight(struct vub_blk *d)
{
	uint64_t size, off;
	void *va;
	int fd, rc;

	rc = vub_get_inflight_fd(&d->conn, d->nq, d->qsize, &fd, &size, &off);
	if (rc != 0) {
		return conn_failed(d, rc);
	}
	va = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)off);
	if (va == MAP_FAILED) {
		rc = -errno;
		close(fd);
		return blk_fail(d, rc, "mmap inflight region (%llu bytes at %llu): %s",
				(unsigned long long)size, (unsigned long long)off,
				strerror(-rc));
	}
	d->inflight_fd = fd;
	d->inflight_va = va;
	d->inflight_size = size;
	rc = vub_set_inflight_fd(&d->conn, fd, size, off, d->nq, d->qsize);
	return rc != 0 ? conn_failed(d, rc) : 0;
}

uint64_t
vub_queue_mem_bytes(uint16_t qsize)
{
	uint64_t a = VUB_RING_ALIGN - 1;

	return ((vub_vring_desc_bytes(qsize) + a) & ~a) +
	       ((vub_vring_avail_bytes(qsize) + a) & ~a) +
	       ((vub_vring_used_bytes(qsize) + a) & ~a);
}

int
vub_queue_alloc(struct vub_mem *m, struct vub_blk_queue *q, uint16_t qsize, bool event_idx)
{
	void *desc = vub_mem_alloc(m, vub_vring_desc_bytes(qsize), VUB_RING_ALIGN);
	void *avail = vub_mem_alloc(m, vub_vring_avail_bytes(qsize), VUB_RING_ALIGN);
	void *used = vub_mem_alloc(m, vub_vring_used_bytes(qsize), VUB_RING_ALIGN);
	int rc;

	if (desc == NULL || avail == NULL || used == NULL) {
		return -ENOMEM;
	}
	rc = vub_vring_init(&q->vr, qsize, desc, avail, used, event_idx);
	if (rc != 0) {
		return rc;
	}
	q->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	q->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return q->kick_fd < 0 || q->call_fd < 0 ? -errno : 0;
}

int
vub_queue_announce(struct vub_conn *c, const struct vub_blk_queue *q)
{
	const struct vub_vring *vr = &q->vr;
	int rc = vub_set_vring_num(c, q->index, vr->size);

	if (rc == 0) {
		rc = vub_set_vring_base(c, q->index, 0);
	}
	if (rc == 0) {
		rc = vub_set_vring_addr(c, q->index, vub_mem_uaddr(vr->desc),
					vub_mem_uaddr(vr->used), vub_mem_uaddr(vr->avail), 0, 0);
	}
	if (rc == 0) {
		rc = vub_set_vring_call(c, q->index, q->call_fd);
	}
	if (rc == 0) {
		rc = vub_set_vring_kick(c, q->index, q->kick_fd);
	}
	return rc;
}

static int
setup_queue(struct vub_blk *d, struct vub_blk_queue *q)
{
	int rc = vub_queue_alloc(&d->mem, q, d->qsize, vub_blk_has(d, VIRTIO_RING_F_EVENT_IDX));

	if (rc == -ENOMEM) {
		return blk_fail(d, rc, "shared region too small for ring %u", q->index);
	}
	if (rc != 0) {
		return blk_fail(d, rc, "ring %u: %s", q->index, strerror(-rc));
	}
	rc = vub_queue_announce(&d->conn, q);
	return rc != 0 ? conn_failed(d, rc) : 0;
}

static int
set_status(struct vub_blk *d, uint8_t status)
{
	int rc;

	if ((d->proto & (1ull << VHOST_USER_PROTOCOL_F_STATUS)) == 0) {
		return 0;
	}
	rc = vub_set_status(&d->conn, status);
	return rc != 0 ? conn_failed(d, rc) : 0;
}

int
vub_blk_start(struct vub_blk *d, uint16_t nq, uint16_t qsize, uint64_t extra_mem)
{
	const uint8_t st = VUB_STATUS_ACKNOWLEDGE | VUB_STATUS_DRIVER;
	struct vub_mem_region r;
	uint16_t i;
	int rc;

	if (nq == 0 || nq > d->max_queues) {
		return blk_fail(d, -EINVAL, "%u queues requested, the device supports %u", nq,
				d->max_queues);
	}
	if (qsize == 0 || (qsize & (qsize - 1)) != 0 || qsize > VHD_VRING_MAX_SIZE) {
		return blk_fail(d, -EINVAL, "queue size %u is not a power of two <= 32768",
				qsize);
	}
	d->nq = nq;
	d->qsize = qsize;
	d->features = VUB_BLK_FEATURES_DEFAULT | d->opts.features | (1ull << VIRTIO_F_VERSION_1);
	d->features |= 1ull << VHOST_USER_F_PROTOCOL_FEATURES;
	d->features &= d->dev_features;
	if (nq > 1 && !vub_blk_has(d, VIRTIO_BLK_F_MQ)) {
		return blk_fail(d, -ENOTSUP, "%u queues need VIRTIO_BLK_F_MQ", nq);
	}
	rc = vub_set_features(&d->conn, d->features);
	if (rc != 0) {
		return conn_failed(d, rc);
	}
	rc = set_status(d, st | VUB_STATUS_FEATURES_OK);
	if (rc != 0) {
		return rc;
	}
	if ((d->proto & (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD)) != 0) {
		rc = setup_inflight(d);
		if (rc != 0) {
			return rc;
		}
	}
	rc = vub_mem_create(&d->mem, vub_queue_mem_bytes(qsize) * nq + extra_mem + VUB_RING_ALIGN,
			    d->opts.backing, d->opts.hugetlbfs_dir, d->opts.gpa_base);
	if (rc != 0) {
		return blk_fail(d, rc, "cannot create %s shared memory: %s",
				d->opts.backing == VUB_MEM_MEMFD ? "memfd" : "hugetlb",
				strerror(-rc));
	}
	vub_mem_region_desc(&d->mem, &r);
	rc = vub_set_mem_table(&d->conn, &r, &d->mem.fd, 1);
	if (rc != 0) {
		return conn_failed(d, rc);
	}
	d->q = calloc(nq, sizeof(*d->q));
	if (d->q == NULL) {
		return blk_fail(d, -ENOMEM, "out of memory");
	}
	for (i = 0; i < nq; i++) {
		d->q[i].index = i;
		d->q[i].kick_fd = -1;
		d->q[i].call_fd = -1;
	}
	/* From here vub_blk_stop() has something to stop even if a later step fails. */
	d->started = true;
	for (i = 0; i < nq; i++) {
		rc = setup_queue(d, &d->q[i]);
		if (rc != 0) {
			return rc;
		}
	}
	if (vub_blk_has(d, VHOST_USER_F_PROTOCOL_FEATURES)) {
		for (i = 0; i < nq; i++) {
			rc = vub_set_vring_enable(&d->conn, i, true);
			if (rc != 0) {
				return conn_failed(d, rc);
			}
		}
	}
	return set_status(d, st | VUB_STATUS_FEATURES_OK | VUB_STATUS_DRIVER_OK);
}

int
vub_blk_stop(struct vub_blk *d)
{
	int rc, first = 0;
	uint32_t base;

	if (!d->started || d->conn.fd < 0) {
		return 0;
	}
	d->started = false;
	rc = set_status(d, 0);
	if (rc != 0) {
		return rc;
	}
	for (uint16_t i = 0; i < d->nq; i++) {
		struct vub_blk_queue *q = &d->q[i];

		if (q->kick_fd < 0) {
			break; /* never set up */
		}
		if (vub_blk_has(d, VHOST_USER_F_PROTOCOL_FEATURES)) {
			rc = vub_set_vring_enable(&d->conn, i, false);
			if (rc != 0) {
				return conn_failed(d, rc);
			}
		}
		rc = vub_get_vring_base(&d->conn, i, &base);
		if (rc != 0) {
			return conn_failed(d, rc);
		}
		if (vub_vring_in_flight(&q->vr) == 0 && base != q->vr.avail_pub && first == 0) {
			first = blk_fail(d, -EPROTO, "GET_VRING_BASE(%u) = %u, but the driver "
					 "published %u and every request completed", i, base,
					 q->vr.avail_pub);
		}
	}
	return first;
}

void
vub_blk_close(struct vub_blk *d)
{
	if (d->q != NULL) {
		for (uint16_t i = 0; i < d->nq; i++) {
			if (d->q[i].kick_fd >= 0) {
				close(d->q[i].kick_fd);
			}
			if (d->q[i].call_fd >= 0) {
				close(d->q[i].call_fd);
			}
			vub_vring_fini(&d->q[i].vr);
		}
		free(d->q);
		d->q = NULL;
	}
	vub_conn_close(&d->conn);
	if (d->inflight_va != NULL) {
		munmap(d->inflight_va, d->inflight_size);
		d->inflight_va = NULL;
	}
	if (d->inflight_fd >= 0) {
		close(d->inflight_fd);
		d->inflight_fd = -1;
	}
	vub_mem_destroy(&d->mem);
	d->started = false;
}
