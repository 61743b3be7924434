/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Driver-side split ring on in-memory rings, with a minimal device model that pops heads
 * from the avail ring and pushes used entries, honestly or not.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "vub_vring.h"

struct dev {
	struct vub_vring vr;
	void *desc, *avail, *used;
	uint16_t last_avail; /* device side */
	uint16_t used_idx;
};

static size_t
page_round(size_t n)
{
	return (n + 4095) / 4096 * 4096;
}

static struct dev *
dev_new(uint16_t size, bool event_idx)
{
	struct dev *d = calloc(1, sizeof(*d));

	cr_assert_not_null(d);
	d->desc = aligned_alloc(4096, page_round(vub_vring_desc_bytes(size)));
	d->avail = aligned_alloc(4096, page_round(vub_vring_avail_bytes(size)));
	d->used = aligned_alloc(4096, page_round(vub_vring_used_bytes(size)));
	cr_assert(d->desc && d->avail && d->used);
	memset(d->desc, 0, vub_vring_desc_bytes(size));
	memset(d->avail, 0, vub_vring_avail_bytes(size));
	memset(d->used, 0, vub_vring_used_bytes(size));
	cr_assert_eq(vub_vring_init(&d->vr, size, d->desc, d->avail, d->used, event_idx), 0);
	return d;
}

static void
dev_free(struct dev *d)
{
	vub_vring_fini(&d->vr);
	free(d->desc);
	free(d->avail);
	free(d->used);
	free(d);
}

/* Device pops the next available head; -1 if none. */
static int
dev_pop(struct dev *d)
{
	struct vhd_vring_avail *a = d->avail;
	int head;

	if (a->idx == d->last_avail) {
		return -1;
	}
	head = a->ring[d->last_avail & (d->vr.size - 1)];
	d->last_avail++;
	return head;
}

static void
dev_push(struct dev *d, uint32_t id, uint32_t len)
{
	struct vhd_vring_used *u = d->used;

	u->ring[d->used_idx & (d->vr.size - 1)].id = id;
	u->ring[d->used_idx & (d->vr.size - 1)].len = len;
	d->used_idx++;
	__atomic_store_n(&u->idx, d->used_idx, __ATOMIC_RELEASE);
}

static const struct vub_buf g_req[3] = {
	{ 0x1000, 16, false },
	{ 0x2000, 4096, true },
	{ 0x3000, 1, true },
};

Test(vub_vring, init_rejects_bad_sizes)
{
	struct vub_vring vr;
	static uint8_t mem[3][8192] __attribute__((aligned(16)));

	cr_assert_eq(vub_vring_init(&vr, 0, mem[0], mem[1], mem[2], false), -EINVAL);
	cr_assert_eq(vub_vring_init(&vr, 6, mem[0], mem[1], mem[2], false), -EINVAL);
	cr_assert_eq(vub_vring_init(&vr, 8, mem[0] + 8, mem[1], mem[2], false), -EINVAL);
	cr_assert_eq(vub_vring_init(&vr, 8, mem[0], mem[1], mem[2], false), 0);
	vub_vring_fini(&vr);
}

Test(vub_vring, add_publish_reap)
{
	struct dev *d = dev_new(8, false);
	struct vhd_vring_desc *desc = d->desc;
	struct vhd_vring_avail *avail = d->avail;
	void *cookie;
	uint32_t len;
	int head, h2;

	head = vub_vring_add(&d->vr, g_req, 3, (void *)0x77);
	cr_assert_geq(head, 0);
	cr_assert_eq(d->vr.num_free, 5);
	/* Written but not visible yet. */
	cr_assert_eq(avail->idx, 0);
	cr_assert_eq(vub_vring_in_flight(&d->vr), 1);
	cr_assert_eq(desc[head].addr, 0x1000);
	cr_assert_eq(desc[head].len, 16);
	cr_assert_eq(desc[head].flags, VRING_DESC_F_NEXT);
	h2 = desc[head].next;
	cr_assert_eq(desc[h2].addr, 0x2000);
	cr_assert_eq(desc[h2].flags, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE);
	cr_assert_eq(desc[desc[h2].next].flags, VRING_DESC_F_WRITE);
	cr_assert_eq(desc[desc[h2].next].len, 1);

	cr_assert(vub_vring_publish(&d->vr), "no NO_NOTIFY: a kick is wanted");
	cr_assert_eq(avail->idx, 1);
	cr_assert_eq(avail->ring[0], head);
	cr_assert_not(vub_vring_publish(&d->vr), "nothing new: no kick");

	cr_assert_eq(vub_vring_get_used(&d->vr, &cookie, &len), 0);
	cr_assert_eq(dev_pop(d), head);
	dev_push(d, (uint32_t)head, 4097);
	cr_assert_eq(vub_vring_get_used(&d->vr, &cookie, &len), 1);
	cr_assert_eq(cookie, (void *)0x77);
	cr_assert_eq(len, 4097);
	cr_assert_eq(d->vr.num_free, 8);
	cr_assert_eq(vub_vring_in_flight(&d->vr), 0);
	dev_free(d);
}

Test(vub_vring, out_of_descriptors)
{
	struct dev *d = dev_new(4, false);

	cr_assert_geq(vub_vring_add(&d->vr, g_req, 3, NULL), 0);
	cr_assert_eq(vub_vring_add(&d->vr, g_req, 3, NULL), -ENOSPC);
	cr_assert_geq(vub_vring_add(&d->vr, g_req, 1, NULL), 0);
	cr_assert_eq(vub_vring_add(&d->vr, g_req, 1, NULL), -ENOSPC);
	cr_assert_eq(vub_vring_add(&d->vr, g_req, 0, NULL), -EINVAL);
	dev_free(d);
}

Test(vub_vring, no_notify_suppresses_kick)
{
	struct dev *d = dev_new(8, false);
	struct vhd_vring_used *used = d->used;

	used->flags = VRING_USED_F_NO_NOTIFY;
	vub_vring_add(&d->vr, g_req, 3, NULL);
	cr_assert_not(vub_vring_publish(&d->vr));
	used->flags = 0;
	vub_vring_add(&d->vr, g_req, 3, NULL);
	cr_assert(vub_vring_publish(&d->vr));
	dev_free(d);
}

Test(vub_vring, event_idx_avail_event)
{
	struct dev *d = dev_new(16, true);
	uint16_t *avail_event = d->vr.avail_event;

	/* The device wants a kick when avail idx moves past 2 (i.e. entry 2 is added). */
	*avail_event = 2;
	vub_vring_add(&d->vr, g_req, 1, NULL);
	vub_vring_add(&d->vr, g_req, 1, NULL);
	cr_assert_not(vub_vring_publish(&d->vr), "0 -> 2 does not cross event 2");
	vub_vring_add(&d->vr, g_req, 1, NULL);
	cr_assert(vub_vring_publish(&d->vr), "2 -> 3 crosses event 2");
	vub_vring_add(&d->vr, g_req, 1, NULL);
	cr_assert_not(vub_vring_publish(&d->vr), "3 -> 4: event stays 2");
	/* used flags are ignored with EVENT_IDX. */
	((struct vhd_vring_used *)d->used)->flags = VRING_USED_F_NO_NOTIFY;
	*avail_event = 4;
	vub_vring_add(&d->vr, g_req, 1, NULL);
	cr_assert(vub_vring_publish(&d->vr));
	dev_free(d);
}

Test(vub_vring, interrupt_control)
{
	struct dev *d = dev_new(8, false);
	struct vhd_vring_avail *avail = d->avail;
	int head;

	vub_vring_disable_cb(&d->vr);
	cr_assert_eq(avail->flags, VRING_AVAIL_F_NO_INTERRUPT);
	cr_assert_not(vub_vring_enable_cb(&d->vr));
	cr_assert_eq(avail->flags, 0);
	head = vub_vring_add(&d->vr, g_req, 3, NULL);
	vub_vring_publish(&d->vr);
	dev_pop(d);
	dev_push(d, (uint32_t)head, 1);
	cr_assert(vub_vring_enable_cb(&d->vr), "an entry is pending: do not sleep");
	dev_free(d);

	d = dev_new(8, true);
	vub_vring_disable_cb(&d->vr);
	cr_assert_eq(*d->vr.used_event, (uint16_t)0xffff, "just behind last_used");
	cr_assert_eq(((struct vhd_vring_avail *)d->avail)->flags, 0, "flags stay 0 with EVENT_IDX");
	cr_assert_not(vub_vring_enable_cb(&d->vr));
	cr_assert_eq(*d->vr.used_event, 0);
	dev_free(d);
}

/* 16-bit index wrap: many more requests than 65536, completed out of order. */
Test(vub_vring, index_wrap_out_of_order)
{
	struct dev *d = dev_new(8, true);
	uintptr_t seq = 1;

	for (unsigned int round = 0; round < 50000; round++) {
		int h[2];
		int p[2];
		void *cookie;
		uint32_t len;

		h[0] = vub_vring_add(&d->vr, g_req, 3, (void *)seq);
		h[1] = vub_vring_add(&d->vr, g_req, 2, (void *)(seq + 1));
		cr_assert(h[0] >= 0 && h[1] >= 0);
		vub_vring_publish(&d->vr);
		p[0] = dev_pop(d);
		p[1] = dev_pop(d);
		cr_assert_eq(p[0], h[0]);
		cr_assert_eq(p[1], h[1]);
		dev_push(d, (uint32_t)p[1], 7);
		dev_push(d, (uint32_t)p[0], 4097);
		cr_assert_eq(vub_vring_get_used(&d->vr, &cookie, &len), 1);
		cr_assert_eq((uintptr_t)cookie, seq + 1);
		cr_assert_eq(vub_vring_get_used(&d->vr, &cookie, &len), 1);
		cr_assert_eq((uintptr_t)cookie, seq);
		cr_assert_eq(len, 4097);
		cr_assert_eq(vub_vring_get_used(&d->vr, &cookie, &len), 0);
		seq += 2;
	}
	cr_assert_eq(((struct vhd_vring_avail *)d->avail)->idx, (uint16_t)100000);
	cr_assert_eq(d->vr.last_used, (uint16_t)100000);
	cr_assert_eq(d->vr.num_free, 8);
	cr_assert_not(d->vr.broken);
	dev_free(d);
}

Test(vub_vring, indirect)
{
	struct dev *d = dev_new(8, false);
	struct vhd_vring_desc table[3], *desc = d->desc;
	void *cookie;
	uint32_t len;
	int head;

	head = vub_vring_add_indirect(&d->vr, table, 0x9000, g_req, 3, (void *)5);
	cr_assert_geq(head, 0);
	cr_assert_eq(d->vr.num_free, 7);
	cr_assert_eq(desc[head].flags, VRING_DESC_F_INDIRECT);
	cr_assert_eq(desc[head].addr, 0x9000);
	cr_assert_eq(desc[head].len, 3 * sizeof(struct vhd_vring_desc));
	cr_assert_eq(table[0].flags, VRING_DESC_F_NEXT);
	cr_assert_eq(table[0].next, 1);
	cr_assert_eq(table[1].flags, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE);
	cr_assert_eq(table[2].flags, VRING_DESC_F_WRITE);
	vub_vring_publish(&d->vr);
	dev_pop(d);
	dev_push(d, (uint32_t)head, 4097);
	cr_assert_eq(vub_vring_get_used(&d->vr, &cookie, &len), 1);
	cr_assert_eq(cookie, (void *)5);
	cr_assert_eq(d->vr.num_free, 8);
	dev_free(d);
}

/* ---- A hostile device: every bad used entry is refused, the ring stays broken. ---- */

static struct dev *
dev_with_one_request(int *head)
{
	struct dev *d = dev_new(8, false);

	*head = vub_vring_add(&d->vr, g_req, 3, (void *)1);
	vub_vring_publish(&d->vr);
	dev_pop(d);
	return d;
}

static void
expect_broken(struct dev *d, const char *needle)
{
	void *cookie = NULL;
	uint32_t len;

	cr_assert_eq(vub_vring_get_used(&d->vr, &cookie, &len), -EPROTO);
	cr_assert(d->vr.broken);
	cr_assert_not_null(strstr(d->vr.err, needle), "'%s' lacks '%s'", d->vr.err, needle);
	cr_assert_eq(vub_vring_get_used(&d->vr, &cookie, &len), -EPROTO, "stays broken");
	cr_assert_eq(vub_vring_add(&d->vr, g_req, 1, NULL), -EPROTO);
	dev_free(d);
}

Test(vub_vring, bad_id_out_of_range)
{
	int head;
	struct dev *d = dev_with_one_request(&head);

	dev_push(d, 8, 1);
	expect_broken(d, ">= queue size");
}

Test(vub_vring, bad_id_not_a_head)
{
	int head;
	struct dev *d = dev_with_one_request(&head);

	/* The second descriptor of the chain is not a head. */
	dev_push(d, ((struct vhd_vring_desc *)d->desc)[head].next, 1);
	expect_broken(d, "not an in-flight chain head");
}

Test(vub_vring, bad_len)
{
	int head;
	struct dev *d = dev_with_one_request(&head);

	dev_push(d, (uint32_t)head, 4098); /* writable bytes are 4096 + 1 */
	expect_broken(d, "exceeds the 4097 writable bytes");
}

Test(vub_vring, double_completion)
{
	int head;
	struct dev *d = dev_with_one_request(&head);
	void *cookie;
	uint32_t len;

	/* Keep a second request in flight so the used idx itself is plausible. */
	vub_vring_add(&d->vr, g_req, 3, (void *)2);
	vub_vring_publish(&d->vr);
	dev_push(d, (uint32_t)head, 1);
	dev_push(d, (uint32_t)head, 1);
	cr_assert_eq(vub_vring_get_used(&d->vr, &cookie, &len), 1);
	expect_broken(d, "not an in-flight chain head");
}

Test(vub_vring, used_idx_ahead_of_in_flight)
{
	int head;
	struct dev *d = dev_with_one_request(&head);

	dev_push(d, (uint32_t)head, 1);
	dev_push(d, (uint32_t)head, 1);
	expect_broken(d, "only 1 requests are in flight");
}

Test(vub_vring, completion_of_unpublished_chain)
{
	struct dev *d = dev_new(8, false);
	int h1, h2;

	h1 = vub_vring_add(&d->vr, g_req, 3, (void *)1);
	vub_vring_publish(&d->vr);
	/* Added, not published: the device cannot know it. */
	h2 = vub_vring_add(&d->vr, g_req, 3, (void *)2);
	cr_assert(h1 >= 0 && h2 >= 0);
	dev_push(d, (uint32_t)h2, 1);
	expect_broken(d, "not an in-flight chain head");
}

/* ---- reserved chains ---- */

Test(vub_vring, reserved_chain_is_written_once_and_requeued)
{
	struct dev *d = dev_new(8, false);
	struct vhd_vring_desc *desc = d->desc;
	void *cookie;
	uint32_t len;
	int head;

	head = vub_vring_reserve(&d->vr, g_req, 3);
	cr_assert_geq(head, 0);
	cr_assert_eq(d->vr.num_free, 5);
	cr_assert_eq(vub_vring_in_flight(&d->vr), 0, "reserved is not in flight");
	cr_assert_eq(desc[head].addr, 0x1000);
	cr_assert_eq(desc[desc[head].next].flags, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE);
	for (unsigned int round = 0; round < 3; round++) {
		/* A device that scribbles on the table does not change what the driver checks. */
		desc[head].len = 999;
		cr_assert_eq(vub_vring_requeue(&d->vr, (uint16_t)head, (void *)0x55), 0);
		cr_assert_eq(vub_vring_requeue(&d->vr, (uint16_t)head, NULL), -EINVAL,
			     "a chain cannot be queued twice");
		vub_vring_publish(&d->vr);
		cr_assert_eq(desc[head].len, 999, "requeue rewrites no descriptor");
		cr_assert_eq(dev_pop(d), head);
		cr_assert_eq(vub_vring_requeue(&d->vr, (uint16_t)head, NULL), -EINVAL,
			     "in flight");
		dev_push(d, (uint32_t)head, 4097);
		cr_assert_eq(vub_vring_get_used(&d->vr, &cookie, &len), 1);
		cr_assert_eq(cookie, (void *)0x55);
		cr_assert_eq(len, 4097);
		cr_assert_eq(d->vr.num_free, 5, "a reserved chain never returns to the free list");
	}
	/* The other descriptors are still there for ordinary chains. */
	cr_assert_geq(vub_vring_add(&d->vr, g_req, 3, NULL), 0);
	cr_assert_eq(vub_vring_add(&d->vr, g_req, 3, NULL), -ENOSPC);
	cr_assert_eq(vub_vring_requeue(&d->vr, 7, NULL), -EINVAL, "not reserved");
	cr_assert_eq(vub_vring_requeue(&d->vr, 8, NULL), -EINVAL, "out of range");
	dev_free(d);
}

Test(vub_vring, rewrite_changes_direction_and_writable_bytes)
{
	struct dev *d = dev_new(8, false);
	struct vhd_vring_desc *desc = d->desc;
	struct vub_buf out[3] = { g_req[0], g_req[1], g_req[2] };
	void *cookie;
	uint32_t len;
	int head, data;

	out[1].writable = false;
	head = vub_vring_reserve(&d->vr, out, 3);
	cr_assert_geq(head, 0);
	data = desc[head].next;
	cr_assert_eq(desc[data].flags, VRING_DESC_F_NEXT);
	cr_assert_eq(vub_vring_rewrite(&d->vr, (uint16_t)head, g_req, 2), -EINVAL, "other n");
	cr_assert_eq(vub_vring_rewrite(&d->vr, 7, g_req, 3), -EINVAL, "not reserved");
	cr_assert_eq(vub_vring_rewrite(&d->vr, (uint16_t)head, g_req, 3), 0);
	cr_assert_eq(desc[head].next, data, "same descriptors");
	cr_assert_eq(desc[data].flags, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE);

	/* Now 4097 writable bytes: the read's used length is fine. */
	vub_vring_requeue(&d->vr, (uint16_t)head, NULL);
	vub_vring_publish(&d->vr);
	cr_assert_eq(vub_vring_rewrite(&d->vr, (uint16_t)head, out, 3), -EINVAL, "in flight");
	dev_pop(d);
	dev_push(d, (uint32_t)head, 4097);
	cr_assert_eq(vub_vring_get_used(&d->vr, &cookie, &len), 1);

	/* Back to a write: 1 writable byte, so 4097 is now a lie the driver catches. */
	cr_assert_eq(vub_vring_rewrite(&d->vr, (uint16_t)head, out, 3), 0);
	cr_assert_eq(desc[data].flags, VRING_DESC_F_NEXT);
	vub_vring_requeue(&d->vr, (uint16_t)head, NULL);
	vub_vring_publish(&d->vr);
	dev_pop(d);
	dev_push(d, (uint32_t)head, 4097);
	cr_assert_eq(vub_vring_get_used(&d->vr, &cookie, &len), -EPROTO);
	dev_free(d);
}

Test(vub_vring, reserved_indirect_chain)
{
	struct dev *d = dev_new(4, false);
	struct vhd_vring_desc *desc = d->desc;
	struct vhd_vring_desc table[3];
	struct vub_buf out[3] = { g_req[0], g_req[1], g_req[2] };
	void *cookie;
	uint32_t len;
	int head;

	memset(table, 0, sizeof(table));
	head = vub_vring_reserve_indirect(&d->vr, table, 0x9000, g_req, 3);
	cr_assert_geq(head, 0);
	cr_assert_eq(d->vr.num_free, 3);
	cr_assert_eq(desc[head].flags, VRING_DESC_F_INDIRECT);
	cr_assert_eq(desc[head].addr, 0x9000);
	cr_assert_eq(desc[head].len, 48);
	cr_assert_eq(table[1].flags, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE);
	out[1].writable = false;
	cr_assert_eq(vub_vring_rewrite(&d->vr, (uint16_t)head, out, 3), 0);
	cr_assert_eq(table[1].flags, VRING_DESC_F_NEXT, "the table is rewritten, not the ring");
	cr_assert_eq(desc[head].flags, VRING_DESC_F_INDIRECT);
	cr_assert_eq(vub_vring_requeue(&d->vr, (uint16_t)head, (void *)9), 0);
	vub_vring_publish(&d->vr);
	cr_assert_eq(dev_pop(d), head);
	dev_push(d, (uint32_t)head, 1);
	cr_assert_eq(vub_vring_get_used(&d->vr, &cookie, &len), 1);
	cr_assert_eq(cookie, (void *)9);
	cr_assert_eq(d->vr.num_free, 3);
	dev_free(d);
}
