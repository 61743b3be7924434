/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fake guest and backends for the virtio-scsi device tests (see scsi_harness.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include <criterion/criterion.h>

#include "scsi_harness.h"

struct sh g_sh;
void (*sh_exec_hook)(void);

static int
sh_exec(void *owner, int (*fn)(void *arg), void *arg)
{
	if (sh_exec_hook != NULL) {
		sh_exec_hook();
	}
	vhd_bdev_poll_channels();
	return fn(arg);
}

uint64_t
sh_default_features(void)
{
	return (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_INDIRECT_DESC) |
	       (1ull << VIRTIO_SCSI_F_HOTPLUG) | (1ull << VIRTIO_SCSI_F_CHANGE);
}

void *
sh_alloc(size_t len)
{
	size_t off = (g_sh.brk + 15) & ~(size_t)15;
	void *p;

	cr_assert(off + len <= SH_MEM_SIZE, "guest memory exhausted");
	g_sh.brk = off + len;
	p = g_sh.mem + off;
	memset(p, 0, len);
	return p;
}

uint64_t
sh_gpa(const void *p)
{
	return (uint64_t)((const uint8_t *)p - g_sh.mem);
}

void
sh_queue_start(int qi)
{
	struct sh_ring *r = &g_sh.ring[qi];
	struct vhd_vq_setup s;
	char name[16];

	memset(r, 0, sizeof(*r));
	r->desc = sh_alloc(SH_QSIZE * sizeof(struct vhd_vring_desc));
	r->avail = sh_alloc(sizeof(*r->avail) + (SH_QSIZE + 1) * sizeof(uint16_t));
	r->used = sh_alloc(sizeof(*r->used) + SH_QSIZE * sizeof(struct vhd_vring_used_elem) +
			   sizeof(uint16_t));
	memset(&s, 0, sizeof(s));
	s.desc = r->desc;
	s.avail = r->avail;
	s.used = r->used;
	s.size = SH_QSIZE;
	s.indirect = (g_sh.features & (1ull << VIRTIO_RING_F_INDIRECT_DESC)) != 0;
	s.callfd = -1;
	s.mem = &g_sh.vmem;
	snprintf(name, sizeof(name), "q%d", qi);
	s.name = name;
	cr_assert_eq(vhd_queue_init(&g_sh.q[qi], g_sh.dev, (uint16_t)qi, g_sh.features, &s), 0);
	cr_assert_eq(g_sh.dev->ops->queue_start(&g_sh.q[qi]), 0);
	g_sh.started[qi] = true;
}

void
sh_queue_stop(int qi)
{
	struct vhd_queue *q = &g_sh.q[qi];

	if (!g_sh.started[qi]) {
		return;
	}
	q->stopping = true;
	if (g_sh.dev->ops->queue_drain != NULL) {
		g_sh.dev->ops->queue_drain(q);
	}
	for (int i = 0; i < 1000 && vhd_queue_inflight(q) > 0; i++) {
		vhd_bdev_poll_channels();
	}
	sh_run();
	cr_assert_eq(vhd_queue_inflight(q), 0, "queue %d did not drain", qi);
	g_sh.dev->ops->queue_stop(q);
	vhd_queue_fini(q);
	g_sh.started[qi] = false;
}

void
sh_setup(const struct vhd_scsi_lun_def *luns, unsigned int n, uint64_t features)
{
	struct vhd_scsi_conf conf = {
		.name = "scsi0",
		.num_queues = SH_NREQ,
		.luns = luns,
		.nluns = n,
		.exec = sh_exec,
		.remove_timeout_ms = SH_REMOVE_TIMEOUT_MS,
	};

	memset(&g_sh, 0, sizeof(g_sh));
	g_sh.mem = aligned_alloc(4096, SH_MEM_SIZE);
	cr_assert_not_null(g_sh.mem);
	g_sh.vmem.nregions = 1;
	g_sh.vmem.regions[0].gpa = 0;
	g_sh.vmem.regions[0].size = SH_MEM_SIZE;
	g_sh.vmem.regions[0].hva = (uint64_t)(uintptr_t)g_sh.mem;
	g_sh.vmem.regions[0].uaddr = 0x7f0000000000ull;
	g_sh.brk = 4096; /* keep gpa 0 unused */
	g_sh.features = features;
	cr_assert_eq(vhd_scsi_create(&conf, &g_sh.dev), 0);
	for (int i = 0; i < SH_NQ; i++) {
		sh_queue_start(i);
	}
}

void
sh_teardown(void)
{
	if (g_sh.dev == NULL) {
		return;
	}
	for (int i = 0; i < SH_NQ; i++) {
		sh_queue_stop(i);
	}
	g_sh.dev->ops->destroy(g_sh.dev);
	free(g_sh.mem);
	memset(&g_sh, 0, sizeof(g_sh));
	sh_exec_hook = NULL;
}

static void
set_desc(struct vhd_vring_desc *d, const struct sh_seg *s)
{
	d->addr = s->p != NULL ? sh_gpa(s->p) : s->gpa;
	d->len = s->len;
	d->flags = s->w ? VRING_DESC_F_WRITE : 0;
}

uint16_t
sh_post(int qi, const struct sh_seg *segs, unsigned int n, bool indirect)
{
	struct sh_ring *r = &g_sh.ring[qi];
	uint16_t head = r->next_desc % SH_QSIZE;

	cr_assert(g_sh.started[qi]);
	if (indirect) {
		struct vhd_vring_desc *t = sh_alloc(n * sizeof(*t));

		for (unsigned int i = 0; i < n; i++) {
			set_desc(&t[i], &segs[i]);
			if (i + 1 < n) {
				t[i].flags |= VRING_DESC_F_NEXT;
				t[i].next = (uint16_t)(i + 1);
			}
		}
		r->desc[head].addr = sh_gpa(t);
		r->desc[head].len = n * (uint32_t)sizeof(*t);
		r->desc[head].flags = VRING_DESC_F_INDIRECT;
		r->next_desc++;
	} else {
		for (unsigned int i = 0; i < n; i++) {
			uint16_t idx = (uint16_t)((head + i) % SH_QSIZE);

			set_desc(&r->desc[idx], &segs[i]);
			if (i + 1 < n) {
				r->desc[idx].flags |= VRING_DESC_F_NEXT;
				r->desc[idx].next = (uint16_t)((idx + 1) % SH_QSIZE);
			}
		}
		r->next_desc = (uint16_t)(r->next_desc + n);
	}
	r->done[head] = false;
	r->avail->ring[r->avail_idx % SH_QSIZE] = head;
	__atomic_store_n(&r->avail->idx, ++r->avail_idx, __ATOMIC_RELEASE);
	return head;
}

static void
collect(int qi)
{
	struct sh_ring *r = &g_sh.ring[qi];
	uint16_t idx = __atomic_load_n(&r->used->idx, __ATOMIC_ACQUIRE);

	while (r->used_seen != idx) {
		struct vhd_vring_used_elem *e = &r->used->ring[r->used_seen % SH_QSIZE];

		cr_assert_lt(e->id, SH_QSIZE);
		cr_assert(!r->done[e->id], "head %u of queue %d completed twice", e->id, qi);
		r->done[e->id] = true;
		r->done_len[e->id] = e->len;
		r->used_seen++;
	}
}

void
sh_publish(void)
{
	for (int i = 0; i < SH_NQ; i++) {
		if (g_sh.started[i]) {
			vhd_vq_notify(&g_sh.q[i].vq);
		}
	}
}

void
sh_run(void)
{
	int idle = 0;

	while (idle < 3) {
		int work = vhd_bdev_poll_channels();

		for (int i = 0; i < SH_NQ; i++) {
			if (g_sh.started[i]) {
				work += vhd_queue_poll(&g_sh.q[i]);
			}
		}
		sh_publish();
		idle = work > 0 ? 0 : idle + 1;
	}
	for (int i = 0; i < SH_NQ; i++) {
		if (g_sh.started[i]) {
			collect(i);
		}
	}
}

bool
sh_done(int qi, uint16_t head, uint32_t *len)
{
	struct sh_ring *r = &g_sh.ring[qi];

	collect(qi);
	if (len != NULL) {
		*len = r->done_len[head];
	}
	return r->done[head];
}

/* ---- commands ---- */

void
sh_lun(uint8_t *f, uint32_t target, uint32_t lun, bool windows)
{
	memset(f, 0, 8);
	f[0] = 1;
	f[1] = (uint8_t)target;
	f[2] = (uint8_t)((windows ? 0 : 0x40) | (lun >> 8));
	f[3] = (uint8_t)lun;
}

struct sh_io
sh_submit_q(int rq, const uint8_t *lun, uint64_t tag, const uint8_t *cdb, size_t cdb_len,
	    const void *out, size_t out_len, size_t in_len)
{
	struct virtio_scsi_cmd_req *req = sh_alloc(sizeof(*req));
	struct sh_io io;
	struct sh_seg segs[4];
	unsigned int n = 0;

	memset(&io, 0, sizeof(io));
	memcpy(req->lun, lun, 8);
	req->tag = tag;
	memcpy(req->cdb, cdb, cdb_len);
	segs[n++] = (struct sh_seg){req, sizeof(*req), false, 0};
	if (out_len > 0) {
		void *o = sh_alloc(out_len);

		memcpy(o, out, out_len);
		segs[n++] = (struct sh_seg){o, (uint32_t)out_len, false, 0};
	}
	io.resp = sh_alloc(sizeof(*io.resp));
	memset(io.resp, 0xee, sizeof(*io.resp));
	segs[n++] = (struct sh_seg){io.resp, sizeof(*io.resp), true, 0};
	if (in_len > 0) {
		io.in = sh_alloc(in_len);
		io.in_len = in_len;
		segs[n++] = (struct sh_seg){io.in, (uint32_t)in_len, true, 0};
	}
	io.qi = 2 + rq % SH_NREQ;
	io.head = sh_post(io.qi, segs, n, false);
	return io;
}

struct sh_io
sh_submit(uint32_t target, uint32_t lun, const uint8_t *cdb, size_t cdb_len, const void *out,
	  size_t out_len, size_t in_len)
{
	uint8_t f[8];

	sh_lun(f, target, lun, false);
	return sh_submit_q(0, f, 0x1234, cdb, cdb_len, out, out_len, in_len);
}

bool
sh_result(const struct sh_io *io, struct sh_res *r)
{
	memset(r, 0, sizeof(*r));
	r->done = sh_done(io->qi, io->head, &r->used_len);
	if (r->done && io->resp != NULL) {
		r->resp = *io->resp;
	}
	r->in = io->in;
	return r->done;
}

struct sh_res
sh_cmd(uint32_t target, uint32_t lun, const uint8_t *cdb, size_t cdb_len, const void *out,
       size_t out_len, size_t in_len)
{
	struct sh_io io = sh_submit(target, lun, cdb, cdb_len, out, out_len, in_len);
	struct sh_res r;

	sh_run();
	cr_assert(sh_result(&io, &r), "command %02x did not complete", cdb[0]);
	return r;
}

const char *
sh_outcome(const struct sh_res *r)
{
	static char buf[32];

	if (r->resp.response != VIRTIO_SCSI_S_OK) {
		snprintf(buf, sizeof(buf), "resp=%u", r->resp.response);
	} else if (r->resp.status == 0) {
		snprintf(buf, sizeof(buf), "GOOD");
	} else if (r->resp.status == 2 && r->resp.sense_len >= 14) {
		snprintf(buf, sizeof(buf), "%02X/%02X/%02X", r->resp.sense[2] & 0xf,
			 r->resp.sense[12], r->resp.sense[13]);
	} else {
		snprintf(buf, sizeof(buf), "status=%u", r->resp.status);
	}
	return buf;
}

struct sh_io
sh_tmf(uint32_t subtype, uint32_t target, uint32_t lun, uint64_t tag)
{
	struct virtio_scsi_ctrl_tmf_req *req = sh_alloc(sizeof(*req));
	struct sh_seg segs[2];
	struct sh_io io;

	memset(&io, 0, sizeof(io));
	req->type = VIRTIO_SCSI_T_TMF;
	req->subtype = subtype;
	sh_lun(req->lun, target, lun, false);
	req->tag = tag;
	io.tmf_resp = sh_alloc(1);
	*io.tmf_resp = 0xee;
	segs[0] = (struct sh_seg){req, sizeof(*req), false, 0};
	segs[1] = (struct sh_seg){io.tmf_resp, 1, true, 0};
	io.qi = 0;
	io.head = sh_post(0, segs, 2, false);
	return io;
}

struct sh_io
sh_event_buf(void)
{
	struct sh_seg seg;
	struct sh_io io;

	memset(&io, 0, sizeof(io));
	io.event = sh_alloc(sizeof(*io.event));
	memset(io.event, 0xee, sizeof(*io.event));
	seg = (struct sh_seg){io.event, sizeof(*io.event), true, 0};
	io.qi = 1;
	io.head = sh_post(1, &seg, 1, false);
	return io;
}

/* ---- backends ---- */

struct vhd_bdev *
sh_malloc_bdev(const char *name, uint64_t size, uint32_t block_size)
{
	struct vhd_backend_conf c;
	struct vhd_bdev *b;

	memset(&c, 0, sizeof(c));
	vhd_strlcpy(c.name, name, sizeof(c.name));
	c.type = VHD_BACKEND_MALLOC;
	c.size = size;
	c.block_size = block_size;
	cr_assert_eq(vhd_bdev_malloc_create(&c, &b), 0);
	return b;
}

static struct hold_bdev *
to_hold(struct vhd_bdev *b)
{
	return VHD_CONTAINER_OF(b, struct hold_bdev, base);
}

static int
hold_channel_create(struct vhd_bdev *bdev, struct vhd_bdev_channel **ch)
{
	*ch = calloc(1, sizeof(**ch));
	return *ch != NULL ? 0 : -ENOMEM;
}

static void
hold_channel_destroy(struct vhd_bdev_channel *ch)
{
	free(ch);
}

static int
perform(struct hold_bdev *h, struct vhd_bdev_io *io)
{
	uint64_t off = io->offset;

	if (h->fail_count > 0) {
		h->fail_count--;
		return h->fail_status;
	}
	cr_assert_leq(io->offset + io->length,
		      h->base.num_blocks * (uint64_t)h->base.block_size);
	switch (io->type) {
	case VHD_IO_READ:
	case VHD_IO_WRITE: {
		uint64_t total = 0;

		for (int i = 0; i < io->iovcnt; i++) {
			if (io->type == VHD_IO_READ) {
				memcpy(io->iov[i].iov_base, h->data + off, io->iov[i].iov_len);
			} else {
				memcpy(h->data + off, io->iov[i].iov_base, io->iov[i].iov_len);
			}
			off += io->iov[i].iov_len;
			total += io->iov[i].iov_len;
		}
		cr_assert_eq(total, io->length, "iovecs do not add up to the I/O length");
		break;
	}
	case VHD_IO_DISCARD:
	case VHD_IO_WRITE_ZEROES:
		memset(h->data + io->offset, 0, io->length);
		break;
	case VHD_IO_FLUSH:
		break;
	}
	return 0;
}

static int
hold_submit(struct vhd_bdev_channel *ch, struct vhd_bdev_io *io)
{
	struct hold_bdev *h = to_hold(ch->bdev);

	h->count[io->type]++;
	h->last_flags[io->type] = io->flags;
	if (h->hold) {
		cr_assert_lt(h->nheld, 256);
		h->held[h->nheld++] = io;
		return 0;
	}
	io->status = perform(h, io);
	cr_assert_lt(h->nready, 256);
	h->ready[h->nready++] = io;
	return 0;
}

static int
hold_poll(struct vhd_bdev_channel *ch)
{
	struct hold_bdev *h = to_hold(ch->bdev);
	unsigned int n = h->nready;
	struct vhd_bdev_io *ready[256];

	/* Callbacks may submit more: deliver a snapshot. */
	memcpy(ready, h->ready, n * sizeof(ready[0]));
	h->nready = 0;
	for (unsigned int i = 0; i < n; i++) {
		vhd_bdev_io_complete(ready[i], ready[i]->status);
	}
	return (int)n;
}

void
hold_release(struct hold_bdev *h)
{
	for (unsigned int i = 0; i < h->nheld; i++) {
		h->held[i]->status = perform(h, h->held[i]);
		h->ready[h->nready++] = h->held[i];
	}
	h->nheld = 0;
}

static void
hold_destroy(struct vhd_bdev *b)
{
	struct hold_bdev *h = to_hold(b);

	free(h->data);
	free(h);
}

static const struct vhd_bdev_ops g_hold_ops = {
	.channel_create = hold_channel_create,
	.channel_destroy = hold_channel_destroy,
	.submit = hold_submit,
	.poll = hold_poll,
	.destroy = hold_destroy,
};

struct hold_bdev *
hold_bdev_create(const char *name, uint64_t size, uint32_t block_size, bool volatile_cache)
{
	struct hold_bdev *h = calloc(1, sizeof(*h));

	cr_assert_not_null(h);
	h->data = calloc(1, size);
	cr_assert_not_null(h->data);
	vhd_strlcpy(h->base.name, name, sizeof(h->base.name));
	h->base.type = VHD_BACKEND_NULL;
	h->base.ops = &g_hold_ops;
	h->base.block_size = block_size;
	h->base.num_blocks = size / block_size;
	h->base.has_discard = true;
	h->base.has_write_zeroes = true;
	h->base.volatile_cache = volatile_cache;
	h->base.has_fua = true;
	return h;
}
