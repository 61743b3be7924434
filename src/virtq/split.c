/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device side of the split virtqueue (VIRTIO 1.2 §2.7). See vhostd/virtq.h for the contract and
 * the two error classes. Guest memory is read through volatile accesses into private copies so
 * a guest rewriting a descriptor while we look at it cannot make us see two different values.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define VHD_LOG_COMPONENT "virtq"
#include "vhostd/log.h"
#include "vhostd/virtq.h"

/* Indirect tables need not be 16-byte aligned, so read descriptors through a packed view. */
struct VHD_PACKED desc_view {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

static inline void
read_desc(const void *p, struct vhd_vring_desc *d)
{
	const volatile struct desc_view *v = p;

	d->addr = v->addr;
	d->len = v->len;
	d->flags = v->flags;
	d->next = v->next;
}

/* Read one entry of an indirect table that is not contiguous in the host (it spans memory
 * regions). The walk checked the whole table is guest memory when it entered it. */
static void
read_desc_gpa(const struct vhd_mem *mem, uint64_t gpa, struct vhd_vring_desc *d)
{
	uint8_t raw[sizeof(struct desc_view)];
	struct iovec iov[sizeof(raw)];
	int n = vhd_mem_translate(mem, gpa, sizeof(raw), iov, VHD_ARRAY_SIZE(iov));

	memset(raw, 0, sizeof(raw));
	if (n > 0) {
		vhd_iov_to_buf(iov, (unsigned int)n, 0, raw, sizeof(raw));
	}
	read_desc(raw, d);
}

static inline uint16_t
load_u16(const uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

void
vhd_vq_set_broken(struct vhd_vq *vq, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	if (vq->broken) {
		return;
	}
	vq->broken = true;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	VHD_ERRLOG("%s: broken by the guest: %s; queue stopped until the driver resets it",
		   vq->name != NULL ? vq->name : "virtqueue", why);
}

int
vhd_vq_start(struct vhd_vq *vq, const struct vhd_vq_setup *s)
{
	uint64_t max_counter = 0;

	if (s->size == 0 || (s->size & (s->size - 1)) != 0 || s->size > VHD_VRING_MAX_SIZE) {
		return -EINVAL;
	}
	if (s->desc == NULL || s->avail == NULL || s->used == NULL || s->mem == NULL) {
		return -EINVAL;
	}
	/* 2.7: descriptor table 16, avail ring 2, used ring 4 bytes aligned. */
	if (((uintptr_t)s->desc & 15) != 0 || ((uintptr_t)s->avail & 1) != 0 ||
	    ((uintptr_t)s->used & 3) != 0) {
		return -EINVAL;
	}
	if (s->inflight != NULL && s->inflight->desc_num < s->size) {
		return -EINVAL;
	}

	memset(vq, 0, sizeof(*vq));
	vq->busy = calloc(s->size, 1);
	if (vq->busy == NULL) {
		return -ENOMEM;
	}
	vq->desc = s->desc;
	vq->avail = s->avail;
	vq->used = s->used;
	vq->size = s->size;
	vq->last_avail_idx = s->last_avail_idx;
	vq->used_idx = s->last_used_idx;
	vq->event_idx = s->event_idx;
	vq->indirect = s->indirect;
	vq->callfd = s->callfd;
	vq->mem = s->mem;
	vq->inflight = s->inflight;
	vq->name = s->name;

	/* We poll: tell a driver without EVENT_IDX that it need not kick us. */
	if (!vq->event_idx) {
		__atomic_store_n(&vq->used->flags, VRING_USED_F_NO_NOTIFY, __ATOMIC_RELEASE);
	}
	if (vq->inflight != NULL) {
		for (uint16_t i = 0; i < vq->size; i++) {
			if (vq->inflight->desc[i].inflight) {
				max_counter = VHD_MAX(max_counter, vq->inflight->desc[i].counter);
			}
		}
		vq->inflight_counter = max_counter;
	}
	return 0;
}

void
vhd_vq_stop(struct vhd_vq *vq)
{
	free(vq->busy);
	vq->busy = NULL;
}

static inline void
mark_taken(struct vhd_vq *vq, uint16_t head)
{
	vq->busy[head] = 1;
	vq->inflight_count++;
	if (vq->inflight != NULL) {
		vq->inflight->desc[head].counter = ++vq->inflight_counter;
		__atomic_store_n(&vq->inflight->desc[head].inflight, 1, __ATOMIC_RELEASE);
	}
}

int
vhd_vq_pop(struct vhd_vq *vq, uint16_t *heads, unsigned int max)
{
	uint16_t avail_idx, n;
	unsigned int i;

	if (vhd_unlikely(vq->broken)) {
		return -EIO;
	}
	avail_idx = load_u16(&vq->avail->idx);
	n = (uint16_t)(avail_idx - vq->last_avail_idx);
	if (n == 0) {
		return 0;
	}
	if (vhd_unlikely(n > vq->size)) {
		vhd_vq_set_broken(vq, "avail index moved from %u to %u, more than the %u entries",
				  vq->last_avail_idx, avail_idx, vq->size);
		return -EIO;
	}
	n = (uint16_t)VHD_MIN(n, max);
	for (i = 0; i < n; i++) {
		uint16_t slot = vq->last_avail_idx & (uint16_t)(vq->size - 1);
		uint16_t head = ((const volatile uint16_t *)vq->avail->ring)[slot];

		if (vhd_unlikely(head >= vq->size)) {
			vhd_vq_set_broken(vq, "avail ring slot %u holds head %u, queue size is %u",
					  slot, head, vq->size);
			break;
		}
		if (vhd_unlikely(vq->busy[head])) {
			vhd_vq_set_broken(vq, "head %u made available again while in flight", head);
			break;
		}
		mark_taken(vq, head);
		vq->last_avail_idx++;
		heads[i] = head;
	}
	/* Heads taken before a corruption was found are handed out; the walk refuses them. */
	return i > 0 ? (int)i : (vq->broken ? -EIO : 0);
}

int
vhd_vq_take(struct vhd_vq *vq, uint16_t head)
{
	if (vq->broken) {
		return -EIO;
	}
	if (head >= vq->size || vq->busy[head]) {
		vhd_vq_set_broken(vq, "inflight record names head %u, which is %s", head,
				  head >= vq->size ? "out of range" : "already in flight");
		return -EIO;
	}
	mark_taken(vq, head);
	return 0;
}

int
vhd_vq_walk(struct vhd_vq *vq, uint16_t head, struct vhd_chain *chain, struct iovec *iov,
	    unsigned int max_iov)
{
	const uint8_t *table = (const uint8_t *)vq->desc; /* NULL: read at table_gpa */
	uint64_t table_gpa = 0;
	uint32_t table_size = vq->size;
	uint32_t budget = vq->size;
	uint32_t idx = head;
	bool in_indirect = false;
	bool writable_seen = false;
	bool iov_full = false;
	uint64_t last_w_addr = 0;
	uint32_t last_w_len = 0;
	uint8_t *last_w_host = NULL; /* its last byte, when its translation is in iov[] */

	memset(chain, 0, sizeof(*chain));
	chain->head = head;
	if (vhd_unlikely(vq->broken)) {
		return -EIO;
	}

	for (;;) {
		struct vhd_vring_desc d;
		bool writable;
		int n;

		if (vhd_unlikely(budget == 0)) {
			vhd_vq_set_broken(vq, "head %u: descriptor chain loops or is longer "
					  "than %u", head, in_indirect ? table_size : vq->size);
			return -EIO;
		}
		budget--;
		if (vhd_likely(table != NULL)) {
			read_desc(table + (size_t)idx * sizeof(struct vhd_vring_desc), &d);
		} else {
			read_desc_gpa(vq->mem, table_gpa + (uint64_t)idx * sizeof(d), &d);
		}

		if (d.flags & VRING_DESC_F_INDIRECT) {
			struct iovec tiov[VHD_MEM_MAX_REGIONS];

			if (in_indirect) {
				vhd_vq_set_broken(vq, "head %u: nested indirect descriptor", head);
				return -EIO;
			}
			if (!vq->indirect) {
				vhd_vq_set_broken(vq, "head %u: indirect descriptor, feature not "
						      "negotiated", head);
				return -EIO;
			}
			if (d.flags & VRING_DESC_F_NEXT) {
				vhd_vq_set_broken(vq, "head %u: indirect descriptor with NEXT set",
						  head);
				return -EIO;
			}
			if (d.len == 0 || d.len % sizeof(struct vhd_vring_desc) != 0 ||
			    d.len / sizeof(struct vhd_vring_desc) > VHD_VRING_MAX_SIZE) {
				vhd_vq_set_broken(vq, "head %u: indirect table of %u bytes", head,
						  d.len);
				return -EIO;
			}
			table = vhd_mem_contig(vq->mem, d.addr, d.len);
			if (vhd_unlikely(table == NULL) &&
			    vhd_mem_translate(vq->mem, d.addr, d.len, tiov,
					      VHD_ARRAY_SIZE(tiov)) < 0) {
				vhd_vq_set_broken(vq, "head %u: indirect table at 0x%" PRIx64
						      "+%u is not in guest memory", head, d.addr,
						  d.len);
				return -EIO;
			}
			/* A table spanning regions is legal: read it entry by entry. */
			table_gpa = d.addr;
			table_size = d.len / (uint32_t)sizeof(struct vhd_vring_desc);
			budget = table_size;
			idx = 0;
			in_indirect = true;
			continue;
		}

		writable = (d.flags & VRING_DESC_F_WRITE) != 0;
		if (writable) {
			writable_seen = true;
		} else if (writable_seen) {
			vhd_vq_set_broken(vq, "head %u: device-readable buffer after a "
					  "writable one", head);
			return -EIO;
		}

		if (d.len > 0) {
			if (writable) {
				chain->writable_len += d.len;
				last_w_addr = d.addr;
				last_w_len = d.len;
			} else {
				chain->readable_len += d.len;
			}
			n = -ENOBUFS;
			if (!iov_full) {
				n = vhd_mem_translate(vq->mem, d.addr, d.len, &iov[chain->niov],
						      max_iov - chain->niov);
				if (n == -EFAULT) {
					if (chain->niov < max_iov) {
						iov[chain->niov].iov_base = NULL;
						iov[chain->niov].iov_len = d.len;
						chain->niov++;
						n = 0;
					} else {
						n = -ENOBUFS;
					}
					if (chain->error == 0) {
						chain->error = -EFAULT;
					}
				}
				if (n == -ENOBUFS) {
					iov_full = true;
					if (chain->error == 0) {
						chain->error = -ENOBUFS;
					}
				} else {
					chain->niov = (uint16_t)(chain->niov + n);
				}
				if (!writable) {
					chain->nreadable = chain->niov;
				}
			}
			/* The status byte's address comes free from a buffer translated whole. */
			if (writable) {
				last_w_host = NULL;
				if (n > 0) {
					const struct iovec *e = &iov[chain->niov - 1];

					last_w_host = (uint8_t *)e->iov_base + e->iov_len - 1;
				}
			}
		}

		if (!(d.flags & VRING_DESC_F_NEXT)) {
			break;
		}
		if (vhd_unlikely(d.next >= table_size)) {
			vhd_vq_set_broken(vq, "head %u: next index %u beyond the %s of %u entries",
					  head, d.next, in_indirect ? "indirect table" : "ring",
					  table_size);
			return -EIO;
		}
		idx = d.next;
	}

	/* A buffer whose end wraps past 2^64 has no last byte (its "last byte" would be guest
	 * memory the driver never offered). */
	if (vhd_likely(last_w_host != NULL)) {
		chain->last_writable = last_w_host;
	} else if (last_w_len > 0 && last_w_addr + last_w_len - 1 >= last_w_addr) {
		chain->last_writable = vhd_mem_contig(vq->mem, last_w_addr + last_w_len - 1, 1);
	}
	return 0;
}

void
vhd_vq_push(struct vhd_vq *vq, uint16_t head, uint32_t len)
{
	struct vhd_vring_used_elem *elem;

	vq->busy[head] = 0;
	vq->inflight_count--;
	if (vhd_unlikely(vq->broken)) {
		return;
	}
	elem = &vq->used->ring[vq->used_idx & (uint16_t)(vq->size - 1)];
	elem->id = head;
	elem->len = len;
	/*
	 * Order matters for recovery after a crash (vhost-user "Inflight I/O tracking"): used
	 * entry, then the record of which head is being completed, then used->idx, then clear.
	 * A crash before used->idx moves leaves the head in flight (resubmitted); a crash after
	 * it is repaired from last_inflight_io because inflight->used_idx lags used->idx.
	 */
	vq->used_idx++;
	if (vq->inflight != NULL) {
		__atomic_store_n(&vq->inflight->last_inflight_io, head, __ATOMIC_RELEASE);
		__atomic_store_n(&vq->used->idx, vq->used_idx, __ATOMIC_RELEASE);
		__atomic_store_n(&vq->inflight->desc[head].inflight, 0, __ATOMIC_RELEASE);
		__atomic_store_n(&vq->inflight->used_idx, vq->used_idx, __ATOMIC_RELEASE);
	}
	vq->need_notify = true;
}

static void
signal_guest(struct vhd_vq *vq)
{
	static const uint64_t one = 1;

	if (vq->callfd >= 0) {
		/* An eventfd write only fails if the counter would overflow, which the
		 * front-end's reads prevent; nothing useful to do about it here. */
		if (write(vq->callfd, &one, sizeof(one)) == (ssize_t)sizeof(one)) {
			vq->notifications++;
		}
	}
}

void
vhd_vq_notify(struct vhd_vq *vq)
{
	bool notify;

	if (!vq->need_notify) {
		return;
	}
	vq->need_notify = false;
	if (vq->inflight == NULL) {
		/* Release: the used entries before the index that shows them. */
		__atomic_store_n(&vq->used->idx, vq->used_idx, __ATOMIC_RELEASE);
	}
	if (vq->broken) {
		return;
	}
	/* The used->idx store must be visible before we read the driver's suppression state,
	 * or we could miss a wakeup it asked for in between (2.7.10). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->event_idx) {
		uint16_t event = load_u16(&vq->avail->ring[vq->size]);
		uint16_t old = vq->signalled_used;
		bool valid = vq->signalled_used_valid;

		vq->signalled_used = vq->used_idx;
		vq->signalled_used_valid = true;
		notify = !valid || vhd_vring_need_event(event, vq->used_idx, old);
	} else {
		notify = !(load_u16(&vq->avail->flags) & VRING_AVAIL_F_NO_INTERRUPT);
	}
	if (notify) {
		signal_guest(vq);
	}
}

void
vhd_vq_notify_force(struct vhd_vq *vq)
{
	if (vq->need_notify && vq->inflight == NULL) {
		__atomic_store_n(&vq->used->idx, vq->used_idx, __ATOMIC_RELEASE);
	}
	vq->need_notify = false;
	if (vq->broken) {
		return;
	}
	vq->signalled_used = vq->used_idx;
	vq->signalled_used_valid = true;
	signal_guest(vq);
}
