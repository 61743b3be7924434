/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "vub_vring.h"

#define LOAD16(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define LOAD32(p) __atomic_load_n((p), __ATOMIC_RELAXED)

size_t
vub_vring_desc_bytes(uint16_t size)
{
	return sizeof(struct vhd_vring_desc) * size;
}

size_t
vub_vring_avail_bytes(uint16_t size)
{
	/* flags, idx, ring[size], used_event */
	return sizeof(uint16_t) * (3 + (size_t)size);
}

size_t
vub_vring_used_bytes(uint16_t size)
{
	/* flags, idx, ring[size], avail_event */
	return sizeof(uint16_t) * 3 + sizeof(struct vhd_vring_used_elem) * (size_t)size;
}

int
vub_vring_init(struct vub_vring *vr, uint16_t size, void *desc, void *avail, void *used,
	       bool event_idx)
{
	memset(vr, 0, sizeof(*vr));
	if (size == 0 || (size & (size - 1)) != 0 || size > VHD_VRING_MAX_SIZE) {
		return -EINVAL;
	}
	if (((uintptr_t)desc & 15) != 0 || ((uintptr_t)avail & 1) != 0 ||
	    ((uintptr_t)used & 3) != 0) {
		return -EINVAL;
	}
	vr->next = calloc(size, sizeof(*vr->next));
	vr->avail_copy = calloc(size, sizeof(*vr->avail_copy));
	vr->slots = calloc(size, sizeof(*vr->slots));
	if (vr->next == NULL || vr->avail_copy == NULL || vr->slots == NULL) {
		vub_vring_fini(vr);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < size; i++) {
		vr->next[i] = (uint16_t)(i + 1);
	}
	vr->size = size;
	vr->mask = (uint16_t)(size - 1);
	vr->num_free = size;
	vr->desc = desc;
	vr->avail = avail;
	vr->used = used;
	vr->used_event = &vr->avail->ring[size];
	vr->avail_event = (uint16_t *)&vr->used->ring[size];
	vr->event_idx = event_idx;
	return 0;
}

void
vub_vring_fini(struct vub_vring *vr)
{
	free(vr->next);
	free(vr->avail_copy);
	free(vr->slots);
	vr->next = NULL;
	vr->avail_copy = NULL;
	vr->slots = NULL;
}

/* Fill n descriptors from bufs following links[]; returns writable bytes or -EINVAL. */
static int64_t
fill_chain(struct vhd_vring_desc *d, uint16_t first, const uint16_t *links, bool table,
	   const struct vub_buf *bufs, unsigned int n, uint16_t *last)
{
	uint64_t wlen = 0;
	uint16_t idx = first;

	for (unsigned int i = 0; i < n; i++) {
		uint16_t nxt = table ? (uint16_t)(i + 1) : links[idx];

		d[idx].addr = bufs[i].gpa;
		d[idx].len = bufs[i].len;
		d[idx].flags = (uint16_t)((bufs[i].writable ? VRING_DESC_F_WRITE : 0) |
					  (i + 1 < n ? VRING_DESC_F_NEXT : 0));
		d[idx].next = i + 1 < n ? nxt : 0;
		if (bufs[i].writable) {
			wlen += bufs[i].len;
		}
		*last = idx;
		idx = nxt;
	}
	if (wlen > UINT32_MAX) {
		return -EINVAL;
	}
	return (int64_t)wlen;
}

static void
queue_head(struct vub_vring *vr, uint16_t head, uint16_t ndesc, uint16_t last, uint32_t wlen,
	   void *cookie)
{
	struct vub_vring_slot *s = &vr->slots[head];
	uint16_t pos = vr->avail_idx & vr->mask;

	s->cookie = cookie;
	s->wlen = wlen;
	s->ndesc = ndesc;
	s->last = last;
	s->state = VUB_SLOT_ADDED;
	vr->avail_copy[pos] = head;
	vr->avail->ring[pos] = head;
	vr->avail_idx++;
}

/* Take n free descriptors for a direct chain and write it. \return head or -errno. */
static int
take_chain(struct vub_vring *vr, const struct vub_buf *bufs, unsigned int n, uint16_t *last,
	   uint32_t *wlen)
{
	uint16_t head = vr->free_head;
	int64_t w;

	if (vr->broken) {
		return -EPROTO;
	}
	if (n == 0 || n > vr->size) {
		return -EINVAL;
	}
	if (n > vr->num_free) {
		return -ENOSPC;
	}
	w = fill_chain(vr->desc, head, vr->next, false, bufs, n, last);
	if (w < 0) {
		return (int)w;
	}
	vr->free_head = vr->next[*last];
	vr->num_free = (uint16_t)(vr->num_free - n);
	*wlen = (uint32_t)w;
	return head;
}

/* Take one free descriptor and point it at a table of n entries. \return head or -errno. */
static int
take_indirect(struct vub_vring *vr, struct vhd_vring_desc *table, uint64_t table_gpa,
	      const struct vub_buf *bufs, unsigned int n, uint32_t *wlen)
{
	uint16_t head = vr->free_head, last = 0;
	struct vhd_vring_desc *d;
	int64_t w;

	if (vr->broken) {
		return -EPROTO;
	}
	if (n == 0 || n > VHD_VRING_MAX_SIZE) {
		return -EINVAL;
	}
	if (vr->num_free == 0) {
		return -ENOSPC;
	}
	w = fill_chain(table, 0, NULL, true, bufs, n, &last);
	if (w < 0) {
		return (int)w;
	}
	d = &vr->desc[head];
	d->addr = table_gpa;
	d->len = (uint32_t)(n * sizeof(struct vhd_vring_desc));
	d->flags = VRING_DESC_F_INDIRECT;
	d->next = 0;
	vr->free_head = vr->next[head];
	vr->num_free--;
	*wlen = (uint32_t)w;
	return head;
}

int
vub_vring_add(struct vub_vring *vr, const struct vub_buf *bufs, unsigned int n, void *cookie)
{
	uint16_t last = 0;
	uint32_t wlen = 0;
	int head = take_chain(vr, bufs, n, &last, &wlen);

	if (head >= 0) {
		queue_head(vr, (uint16_t)head, (uint16_t)n, last, wlen, cookie);
	}
	return head;
}

int
vub_vring_add_indirect(struct vub_vring *vr, struct vhd_vring_desc *table, uint64_t table_gpa,
		       const struct vub_buf *bufs, unsigned int n, void *cookie)
{
	uint32_t wlen = 0;
	int head = take_indirect(vr, table, table_gpa, bufs, n, &wlen);

	if (head >= 0) {
		queue_head(vr, (uint16_t)head, 1, (uint16_t)head, wlen, cookie);
	}
	return head;
}

static void
mark_reserved(struct vub_vring *vr, uint16_t head, uint16_t ndesc, uint16_t last,
	      unsigned int nbufs, uint32_t wlen, struct vhd_vring_desc *table)
{
	struct vub_vring_slot *s = &vr->slots[head];

	s->ndesc = ndesc;
	s->last = last;
	s->nbufs = (uint16_t)nbufs;
	s->wlen = wlen;
	s->table = table;
	s->reserved = true;
}

int
vub_vring_reserve(struct vub_vring *vr, const struct vub_buf *bufs, unsigned int n)
{
	uint16_t last = 0;
	uint32_t wlen = 0;
	int head = take_chain(vr, bufs, n, &last, &wlen);

	if (head >= 0) {
		mark_reserved(vr, (uint16_t)head, (uint16_t)n, last, n, wlen, NULL);
	}
	return head;
}

int
vub_vring_reserve_indirect(struct vub_vring *vr, struct vhd_vring_desc *table,
			   uint64_t table_gpa, const struct vub_buf *bufs, unsigned int n)
{
	uint32_t wlen = 0;
	int head = take_indirect(vr, table, table_gpa, bufs, n, &wlen);

	if (head >= 0) {
		mark_reserved(vr, (uint16_t)head, 1, (uint16_t)head, n, wlen, table);
	}
	return head;
}

int
vub_vring_rewrite(struct vub_vring *vr, uint16_t head, const struct vub_buf *bufs,
		  unsigned int n)
{
	struct vub_vring_slot *s;
	uint16_t last = 0;
	int64_t w;

	if (vr->broken) {
		return -EPROTO;
	}
	if (head >= vr->size) {
		return -EINVAL;
	}
	s = &vr->slots[head];
	if (!s->reserved || s->state != VUB_SLOT_FREE || n != s->nbufs) {
		return -EINVAL;
	}
	/* The private links still chain the reserved descriptors: they left the free list. */
	if (s->table != NULL) {
		w = fill_chain(s->table, 0, NULL, true, bufs, n, &last);
	} else {
		w = fill_chain(vr->desc, head, vr->next, false, bufs, n, &last);
	}
	if (w < 0) {
		return (int)w;
	}
	s->wlen = (uint32_t)w;
	return 0;
}

int
vub_vring_requeue(struct vub_vring *vr, uint16_t head, void *cookie)
{
	struct vub_vring_slot *s;

	if (vr->broken) {
		return -EPROTO;
	}
	if (head >= vr->size) {
		return -EINVAL;
	}
	s = &vr->slots[head];
	if (!s->reserved || s->state != VUB_SLOT_FREE) {
		return -EINVAL;
	}
	queue_head(vr, head, s->ndesc, s->last, s->wlen, cookie);
	return 0;
}

bool
vub_vring_publish(struct vub_vring *vr)
{
	uint16_t old = vr->avail_pub, new_idx = vr->avail_idx;

	if (old == new_idx || vr->broken) {
		return false;
	}
	for (uint16_t i = old; i != new_idx; i++) {
		vr->slots[vr->avail_copy[i & vr->mask]].state = VUB_SLOT_PUBLISHED;
	}
	vr->outstanding = (uint16_t)(vr->outstanding + (uint16_t)(new_idx - old));
	/* Ring entries before the index (release), the index before reading suppression. */
	__atomic_store_n(&vr->avail->idx, new_idx, __ATOMIC_RELEASE);
	vr->avail_pub = new_idx;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vr->event_idx) {
		return vhd_vring_need_event(LOAD16(vr->avail_event), new_idx, old);
	}
	return (LOAD16(&vr->used->flags) & VRING_USED_F_NO_NOTIFY) == 0;
}

static int
vring_fail(struct vub_vring *vr, const char *fmt, ...) VHD_PRINTF(2, 3);

static int
vring_fail(struct vub_vring *vr, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(vr->err, sizeof(vr->err), fmt, ap);
	va_end(ap);
	vr->broken = true;
	return -EPROTO;
}

int
vub_vring_get_used(struct vub_vring *vr, void **cookie, uint32_t *len)
{
	struct vhd_vring_used_elem *e;
	struct vub_vring_slot *s;
	uint16_t uidx, pending;
	uint32_t id, ulen;

	if (vr->broken) {
		return -EPROTO;
	}
	uidx = __atomic_load_n(&vr->used->idx, __ATOMIC_ACQUIRE);
	if (uidx == vr->last_used) {
		return 0;
	}
	pending = (uint16_t)(uidx - vr->last_used);
	if (pending > vr->outstanding) {
		return vring_fail(vr, "used->idx %u is %u entries past the last reaped %u, "
				  "but only %u requests are in flight", uidx, pending,
				  vr->last_used, vr->outstanding);
	}
	e = &vr->used->ring[vr->last_used & vr->mask];
	id = LOAD32(&e->id);
	ulen = LOAD32(&e->len);
	if (id >= vr->size) {
		return vring_fail(vr, "used entry %u: id %u >= queue size %u", vr->last_used,
				  id, vr->size);
	}
	s = &vr->slots[id];
	if (s->state != VUB_SLOT_PUBLISHED) {
		return vring_fail(vr, "used entry %u: id %u is not an in-flight chain head",
				  vr->last_used, id);
	}
	if (ulen > s->wlen) {
		return vring_fail(vr, "used entry %u: id %u len %u exceeds the %u writable bytes "
				  "of the chain", vr->last_used, id, ulen, s->wlen);
	}
	*cookie = s->cookie;
	*len = ulen;
	s->state = VUB_SLOT_FREE;
	s->cookie = NULL;
	if (!s->reserved) {
		vr->next[s->last] = vr->free_head;
		vr->free_head = (uint16_t)id;
		vr->num_free = (uint16_t)(vr->num_free + s->ndesc);
	}
	vr->outstanding--;
	vr->last_used++;
	return 1;
}

void
vub_vring_disable_cb(struct vub_vring *vr)
{
	if (vr->event_idx) {
		/* An event index just behind us is only crossed again after 64 Ki entries. */
		__atomic_store_n(vr->used_event, (uint16_t)(vr->last_used - 1), __ATOMIC_RELAXED);
	} else {
		__atomic_store_n(&vr->avail->flags, VRING_AVAIL_F_NO_INTERRUPT, __ATOMIC_RELAXED);
	}
}

bool
vub_vring_enable_cb(struct vub_vring *vr)
{
	if (vr->event_idx) {
		__atomic_store_n(vr->used_event, vr->last_used, __ATOMIC_RELAXED);
	} else {
		__atomic_store_n(&vr->avail->flags, 0, __ATOMIC_RELAXED);
	}
	/* The device may have pushed before it saw the store: look once more. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return __atomic_load_n(&vr->used->idx, __ATOMIC_ACQUIRE) != vr->last_used;
}
