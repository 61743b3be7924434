/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Split virtqueue (src/virtq/split.c) against a hostile driver: pop, chain walking (direct,
 * indirect, faults, spans, iovec limits), the used ring, guest notifications on a real eventfd,
 * and the inflight region, including a simulated crash between every two stores of a push.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fake_guest.h"

#define RS FG_REGION_SIZE
#define OUTSIDE 0x40000000ull /* not in guest memory */

static struct fake_guest g;
static struct fake_ring r;
static struct vhd_vq vq;
static bool started;
static struct vhd_inflight_split *infl;
static size_t infl_len;
static int efd = -1;
static struct vhd_chain ch;
static struct iovec iov[64];

static void
init(void)
{
	log_capture_start();
	fg_init(&g, 3);
}

static void
fini(void)
{
	if (started) {
		vhd_vq_stop(&vq);
	}
	if (infl != NULL) {
		munmap(infl, infl_len);
	}
	if (efd >= 0) {
		close(efd);
	}
	fg_fini(&g);
}

TestSuite(split, .init = init, .fini = fini);

static void
start_vq(bool event_idx, bool indirect)
{
	struct vhd_vq_setup s;

	fr_setup(&r, &s, event_idx, indirect, efd);
	s.inflight = infl;
	cr_assert_eq(vhd_vq_start(&vq, &s), 0);
	started = true;
}

/* A ring of `size` entries and a started queue on it (INDIRECT negotiated, no EVENT_IDX). */
static void
start(uint16_t size)
{
	fr_init(&r, &g, size);
	start_vq(false, true);
}

/* Start again from where the driver's avail index is (after the queue broke). */
static void
restart(void)
{
	vhd_vq_stop(&vq);
	started = false;
	r.used_seen = r.used->idx;
	start_vq(vq.event_idx, vq.indirect);
	cr_assert_not(vq.broken);
}

static uint64_t
buf(uint64_t len)
{
	return fg_alloc(&g, len, 8);
}

static uint8_t *
hva(uint64_t gpa)
{
	return fg_hva(&g, gpa);
}

/* Make head available, pop it, and walk it. \return the walk's rc. */
static int
pop_walk(uint16_t head, unsigned int max_iov)
{
	uint16_t got;

	fr_push_avail(&r, head);
	cr_assert_eq(vhd_vq_pop(&vq, &got, 1), 1);
	cr_assert_eq(got, head);
	return vhd_vq_walk(&vq, head, &ch, iov, max_iov);
}

/* The walk broke the queue: one error logged, head still releasable, nothing written. */
static void
assert_broke(uint16_t head, int rc)
{
	uint16_t used = r.used->idx;

	cr_assert_eq(rc, -EIO);
	cr_assert(vq.broken);
	cr_assert_eq(g_log.errors, 1, "errors %u, last '%s'", g_log.errors, g_log.last_error);
	vhd_vq_push(&vq, head, 0);
	cr_assert_eq(r.used->idx, used);
	cr_assert_eq(vq.inflight_count, 0);
	g_log.errors = 0;
}

static void
assert_iov(unsigned int i, uint64_t gpa, size_t len)
{
	cr_assert_eq(iov[i].iov_base, hva(gpa), "iov[%u]", i);
	cr_assert_eq(iov[i].iov_len, len, "iov[%u] len %zu", i, iov[i].iov_len);
}

/* ---- start ---- */

Test(split, start_validates_setup)
{
	struct vhd_vq_setup s;
	const uint16_t bad_sizes[] = {0, 3, 6, 100, 65535};

	fr_init(&r, &g, 8);
	for (unsigned int i = 0; i < VHD_ARRAY_SIZE(bad_sizes); i++) {
		fr_setup(&r, &s, false, false, -1);
		s.size = bad_sizes[i];
		cr_assert_eq(vhd_vq_start(&vq, &s), -EINVAL, "size %u", bad_sizes[i]);
	}
	fr_setup(&r, &s, false, false, -1);
	s.desc = (struct vhd_vring_desc *)((uint8_t *)r.desc + 8);
	cr_assert_eq(vhd_vq_start(&vq, &s), -EINVAL);
	fr_setup(&r, &s, false, false, -1);
	s.avail = (struct vhd_vring_avail *)((uint8_t *)r.avail + 1);
	cr_assert_eq(vhd_vq_start(&vq, &s), -EINVAL);
	fr_setup(&r, &s, false, false, -1);
	s.used = (struct vhd_vring_used *)((uint8_t *)r.used + 2);
	cr_assert_eq(vhd_vq_start(&vq, &s), -EINVAL);
	fr_setup(&r, &s, false, false, -1);
	s.mem = NULL;
	cr_assert_eq(vhd_vq_start(&vq, &s), -EINVAL);
	fr_setup(&r, &s, false, false, -1);
	s.size = 1;
	cr_assert_eq(vhd_vq_start(&vq, &s), 0);
	vhd_vq_stop(&vq);
	cr_assert_null(vq.busy);
}

Test(split, start_largest_ring)
{
	uint16_t head;

	fr_init(&r, &g, 32768);
	start_vq(false, false);
	fr_set_desc(&r, 32767, buf(1), 1, VRING_DESC_F_WRITE, 0);
	fr_push_avail(&r, 32767);
	cr_assert_eq(vhd_vq_pop(&vq, &head, 1), 1);
	cr_assert_eq(head, 32767);
	cr_assert_eq(vhd_vq_walk(&vq, head, &ch, iov, 4), 0);
	cr_assert_eq(ch.writable_len, 1);
}

Test(split, used_flags_at_start)
{
	fr_init(&r, &g, 8);
	start_vq(false, true);
	/* We poll: without EVENT_IDX the driver is told not to kick. */
	cr_assert_eq(r.used->flags, VRING_USED_F_NO_NOTIFY);
	vhd_vq_stop(&vq);
	r.used->flags = 0;
	start_vq(true, true);
	cr_assert_eq(r.used->flags, 0);
}

/* ---- pop ---- */

Test(split, pop_empty)
{
	uint16_t heads[8];

	start(8);
	cr_assert_eq(vhd_vq_pop(&vq, heads, 8), 0);
	cr_assert_eq(vq.last_avail_idx, 0);
	cr_assert_eq(vq.inflight_count, 0);
	cr_assert_not(vq.broken);
	/* Added but not published yet: still empty. */
	fr_add_avail(&r, 1);
	cr_assert_eq(vhd_vq_pop(&vq, heads, 8), 0);
	fr_publish(&r);
	cr_assert_eq(vhd_vq_pop(&vq, heads, 0), 0);
	cr_assert_eq(vhd_vq_pop(&vq, heads, 8), 1);
	cr_assert_eq(heads[0], 1);
	cr_assert_eq(g_log.errors, 0);
}

Test(split, pop_batch_limit)
{
	const uint16_t want[] = {5, 3, 7, 0, 1};
	uint16_t heads[8] = {0};

	start(8);
	for (unsigned int i = 0; i < VHD_ARRAY_SIZE(want); i++) {
		fr_add_avail(&r, want[i]);
	}
	fr_publish(&r);
	cr_assert_eq(vhd_vq_pop(&vq, heads, 2), 2);
	cr_assert_arr_eq(heads, want, 2 * sizeof(uint16_t));
	cr_assert_eq(vq.last_avail_idx, 2);
	cr_assert_eq(vhd_vq_pop(&vq, heads, 8), 3);
	cr_assert_arr_eq(heads, &want[2], 3 * sizeof(uint16_t));
	cr_assert_eq(vhd_vq_pop(&vq, heads, 8), 0);
	cr_assert_eq(vq.last_avail_idx, 5);
	cr_assert_eq(vq.inflight_count, 5);
	for (uint16_t i = 0; i < 8; i++) {
		cr_assert_eq(vq.busy[i], i == 2 || i == 4 || i == 6 ? 0 : 1, "busy[%u]", i);
	}
}

Test(split, pop_full_ring_then_reuse)
{
	uint16_t heads[8];

	start(8);
	for (uint16_t i = 0; i < 8; i++) {
		fr_add_avail(&r, (uint16_t)(7 - i));
	}
	fr_publish(&r);
	/* A jump of exactly the queue size is legal. */
	cr_assert_eq(vhd_vq_pop(&vq, heads, 8), 8);
	cr_assert_eq(heads[0], 7);
	cr_assert_eq(heads[7], 0);
	vhd_vq_push(&vq, 4, 0);
	fr_push_avail(&r, 4);
	cr_assert_eq(vhd_vq_pop(&vq, heads, 8), 1);
	cr_assert_eq(heads[0], 4);
	cr_assert_not(vq.broken);
}

Test(split, pop_avail_index_wraps)
{
	uint16_t heads[8];

	fr_init(&r, &g, 8);
	fr_start_at(&r, 65533);
	start_vq(false, true);
	for (uint16_t i = 0; i < 6; i++) {
		fr_add_avail(&r, i);
	}
	fr_publish(&r);
	cr_assert_eq(r.avail->idx, 3);
	cr_assert_eq(vhd_vq_pop(&vq, heads, 8), 6);
	for (uint16_t i = 0; i < 6; i++) {
		cr_assert_eq(heads[i], i);
	}
	cr_assert_eq(vq.last_avail_idx, 3);
	cr_assert_eq(vhd_vq_pop(&vq, heads, 8), 0);
	cr_assert_not(vq.broken);
}

Test(split, pop_avail_index_jump)
{
	uint16_t heads[8];

	start(8);
	r.avail->idx = 9;
	cr_assert_eq(vhd_vq_pop(&vq, heads, 8), -EIO);
	cr_assert(vq.broken);
	cr_assert_eq(vq.inflight_count, 0);
	cr_assert_eq(vq.last_avail_idx, 0);
	cr_assert_eq(vhd_vq_pop(&vq, heads, 8), -EIO);
	cr_assert_eq(g_log.errors, 1, "one error line per breakage, got %u", g_log.errors);
}

Test(split, pop_avail_index_jump_across_wrap_and_backwards)
{
	uint16_t heads[8];

	fr_init(&r, &g, 8);
	fr_start_at(&r, 65530);
	start_vq(false, true);
	r.avail->idx = (uint16_t)(65530 + 9);
	cr_assert_eq(vhd_vq_pop(&vq, heads, 8), -EIO);
	cr_assert(vq.broken);
	/* The driver moving its index backwards is a jump of almost 2^16. */
	r.avail->idx = 65530;
	restart();
	r.avail->idx = 65529;
	cr_assert_eq(vhd_vq_pop(&vq, heads, 8), -EIO);
	cr_assert(vq.broken);
	cr_assert_eq(g_log.errors, 2);
}

Test(split, pop_head_out_of_range)
{
	uint16_t heads[8];

	start(8);
	fr_push_avail(&r, 8);
	cr_assert_eq(vhd_vq_pop(&vq, heads, 8), -EIO);
	cr_assert(vq.broken);
	cr_assert_eq(vq.inflight_count, 0);
	cr_assert_eq(g_log.errors, 1);
	restart();
	fr_push_avail(&r, 0xffff);
	cr_assert_eq(vhd_vq_pop(&vq, heads, 8), -EIO);
	cr_assert(vq.broken);
}

Test(split, pop_hands_out_heads_taken_before_corruption)
{
	uint16_t heads[8] = {0};
	struct vhd_vring_used_elem poison;

	start(8);
	memset(r.used->ring, 0xab, 8 * sizeof(r.used->ring[0]));
	poison = r.used->ring[0];
	fr_add_avail(&r, 1);
	fr_add_avail(&r, 2);
	fr_add_avail(&r, 8);
	fr_add_avail(&r, 3);
	fr_publish(&r);
	cr_assert_eq(vhd_vq_pop(&vq, heads, 8), 2);
	cr_assert_eq(heads[0], 1);
	cr_assert_eq(heads[1], 2);
	cr_assert(vq.broken);
	cr_assert_eq(vq.last_avail_idx, 2);
	cr_assert_eq(vq.inflight_count, 2);
	cr_assert_eq(vhd_vq_pop(&vq, heads, 8), -EIO);
	/* The walk refuses them; giving them back writes nothing. */
	cr_assert_eq(vhd_vq_walk(&vq, 1, &ch, iov, 8), -EIO);
	cr_assert_eq(ch.head, 1);
	cr_assert_eq(ch.niov, 0);
	vhd_vq_push(&vq, 1, 0);
	vhd_vq_push(&vq, 2, 0);
	cr_assert_eq(vq.inflight_count, 0);
	cr_assert_eq(r.used->idx, 0);
	cr_assert_eq(memcmp(&r.used->ring[0], &poison, sizeof(poison)), 0);
	cr_assert_eq(g_log.errors, 1);
}

Test(split, pop_duplicate_head_in_flight)
{
	uint16_t heads[8];

	start(8);
	fr_push_avail(&r, 3);
	cr_assert_eq(vhd_vq_pop(&vq, heads, 8), 1);
	/* Completed and made available again: fine. */
	vhd_vq_push(&vq, 3, 0);
	fr_push_avail(&r, 3);
	cr_assert_eq(vhd_vq_pop(&vq, heads, 8), 1);
	cr_assert_not(vq.broken);
	/* Made available again while still in flight: broken. */
	fr_push_avail(&r, 3);
	cr_assert_eq(vhd_vq_pop(&vq, heads, 8), -EIO);
	cr_assert(vq.broken);
	cr_assert_eq(vq.inflight_count, 1);
	cr_assert_eq(g_log.errors, 1);
}

Test(split, pop_duplicate_head_in_one_batch)
{
	uint16_t heads[8];

	start(8);
	fr_add_avail(&r, 4);
	fr_add_avail(&r, 4);
	fr_publish(&r);
	cr_assert_eq(vhd_vq_pop(&vq, heads, 8), 1);
	cr_assert_eq(heads[0], 4);
	cr_assert(vq.broken);
	cr_assert_eq(vhd_vq_pop(&vq, heads, 8), -EIO);
}

/* ---- walk: direct chains ---- */

Test(split, walk_direct_chains)
{
	start(8);
	for (unsigned int n = 1; n <= 8; n++) {
		struct fr_buf b[8];
		unsigned int nr = n / 2;
		uint64_t rlen = 0, wlen = 0;
		uint16_t head = (uint16_t)((3 * n) & 7); /* chains wrap around the table */

		for (unsigned int i = 0; i < n; i++) {
			b[i].len = 100 + i;
			b[i].gpa = buf(b[i].len);
			b[i].write = i >= nr;
			if (b[i].write) {
				wlen += b[i].len;
			} else {
				rlen += b[i].len;
			}
		}
		fr_chain(&r, head, b, n);
		cr_assert_eq(pop_walk(head, 64), 0);
		cr_assert_eq(ch.head, head);
		cr_assert_eq(ch.error, 0);
		cr_assert_eq(ch.niov, n);
		cr_assert_eq(ch.nreadable, nr);
		cr_assert_eq(ch.readable_len, rlen);
		cr_assert_eq(ch.writable_len, wlen);
		for (unsigned int i = 0; i < n; i++) {
			assert_iov(i, b[i].gpa, b[i].len);
		}
		cr_assert_eq(ch.last_writable, wlen == 0 ? NULL :
				 hva(b[n - 1].gpa + b[n - 1].len - 1));
		vhd_vq_push(&vq, head, 0);
	}
	cr_assert_not(vq.broken);
}

Test(split, walk_only_readable_has_no_last_writable)
{
	struct fr_buf b[] = {{buf(16), 16, false}, {buf(512), 512, false}};

	start(8);
	fr_chain(&r, 0, b, 2);
	cr_assert_eq(pop_walk(0, 8), 0);
	cr_assert_null(ch.last_writable);
	cr_assert_eq(ch.writable_len, 0);
	cr_assert_eq(ch.nreadable, 2);
}

Test(split, walk_zero_length_descriptors_skipped)
{
	uint64_t h = buf(16), w = buf(300);
	struct fr_buf b[] = {
		{h, 16, false}, {OUTSIDE, 0, false}, {OUTSIDE, 0, true}, {w, 300, true},
		{OUTSIDE, 0, true},
	};

	start(8);
	fr_chain(&r, 0, b, 5);
	cr_assert_eq(pop_walk(0, 8), 0);
	cr_assert_eq(ch.error, 0);
	cr_assert_eq(ch.niov, 2);
	cr_assert_eq(ch.nreadable, 1);
	cr_assert_eq(ch.readable_len, 16);
	cr_assert_eq(ch.writable_len, 300);
	assert_iov(0, h, 16);
	assert_iov(1, w, 300);
	/* A trailing empty writable descriptor does not move the status byte. */
	cr_assert_eq(ch.last_writable, hva(w + 299));
}

Test(split, walk_zero_length_descriptors_count_toward_loops)
{
	start(8);
	fr_set_desc(&r, 0, OUTSIDE, 0, VRING_DESC_F_NEXT, 1);
	fr_set_desc(&r, 1, OUTSIDE, 0, VRING_DESC_F_NEXT, 0);
	assert_broke(0, pop_walk(0, 8));
}

Test(split, walk_loops)
{
	uint64_t a = buf(16);

	start(8);
	fr_set_desc(&r, 0, a, 16, VRING_DESC_F_NEXT, 1);
	fr_set_desc(&r, 1, a, 16, VRING_DESC_F_NEXT, 0);
	assert_broke(0, pop_walk(0, 64));
	restart();
	fr_set_desc(&r, 3, a, 16, VRING_DESC_F_NEXT, 3);
	assert_broke(3, pop_walk(3, 64));
	restart();
	/* A loop that starts after a few good descriptors. */
	fr_set_desc(&r, 4, a, 16, VRING_DESC_F_NEXT, 5);
	fr_set_desc(&r, 5, a, 16, VRING_DESC_F_NEXT, 6);
	fr_set_desc(&r, 6, a, 16, VRING_DESC_F_NEXT, 5);
	assert_broke(4, pop_walk(4, 64));
}

Test(split, walk_chain_as_long_as_the_ring)
{
	struct fr_buf b[8];

	start(8);
	for (unsigned int i = 0; i < 8; i++) {
		b[i] = (struct fr_buf){buf(4), 4, i == 7};
	}
	fr_chain(&r, 2, b, 8);
	cr_assert_eq(pop_walk(2, 64), 0);
	cr_assert_eq(ch.niov, 8);
	cr_assert_eq(ch.readable_len, 28);
	/* One more (the last points back at the head): longer than the ring. */
	vhd_vq_push(&vq, 2, 0);
	r.desc[1].flags |= VRING_DESC_F_NEXT;
	r.desc[1].next = 2;
	r.desc[1].flags &= (uint16_t)~VRING_DESC_F_WRITE;
	assert_broke(2, pop_walk(2, 64));
}

Test(split, walk_next_out_of_range)
{
	uint64_t a = buf(16);

	start(8);
	fr_set_desc(&r, 0, a, 16, VRING_DESC_F_NEXT, 8);
	assert_broke(0, pop_walk(0, 8));
	restart();
	fr_set_desc(&r, 1, a, 16, VRING_DESC_F_NEXT, 0xffff);
	assert_broke(1, pop_walk(1, 8));
	restart();
	/* next is only looked at with NEXT set. */
	fr_set_desc(&r, 2, a, 16, VRING_DESC_F_WRITE, 0xffff);
	cr_assert_eq(pop_walk(2, 8), 0);
}

Test(split, walk_readable_after_writable)
{
	struct fr_buf b[] = {{buf(16), 16, false}, {buf(16), 16, true}, {buf(16), 16, false}};

	start(8);
	fr_chain(&r, 0, b, 3);
	assert_broke(0, pop_walk(0, 8));
	restart();
	/* Even an empty readable descriptor after a writable one. */
	b[2].len = 0;
	fr_chain(&r, 4, b, 3);
	assert_broke(4, pop_walk(4, 8));
}

Test(split, walk_on_broken_queue)
{
	uint16_t head;

	start(8);
	fr_set_desc(&r, 0, buf(1), 1, VRING_DESC_F_WRITE, 0);
	fr_push_avail(&r, 0);
	cr_assert_eq(vhd_vq_pop(&vq, &head, 1), 1);
	vhd_vq_set_broken(&vq, "test %d", 1);
	vhd_vq_set_broken(&vq, "test %d", 2);
	cr_assert_eq(g_log.errors, 1);
	cr_assert_eq(vhd_vq_walk(&vq, 0, &ch, iov, 8), -EIO);
	vhd_vq_push(&vq, 0, 1);
	cr_assert_eq(r.used->idx, 0);
}

/* ---- walk: buffers ---- */

Test(split, walk_buffer_outside_memory)
{
	uint64_t h = buf(16), w = buf(1);
	struct fr_buf b[] = {{h, 16, false}, {OUTSIDE, 512, false}, {w, 1, true}};

	start(8);
	memset(iov, 0x5a, sizeof(iov));
	fr_chain(&r, 0, b, 3);
	cr_assert_eq(pop_walk(0, 8), 0);
	cr_assert_not(vq.broken);
	cr_assert_eq(ch.error, -EFAULT);
	cr_assert_eq(ch.niov, 3);
	cr_assert_eq(ch.nreadable, 2);
	cr_assert_eq(ch.readable_len, 528);
	cr_assert_eq(ch.writable_len, 1);
	assert_iov(0, h, 16);
	cr_assert_null(iov[1].iov_base);
	cr_assert_eq(iov[1].iov_len, 512);
	assert_iov(2, w, 1);
	cr_assert_eq(ch.last_writable, hva(w));
	cr_assert_eq(g_log.errors, 0);
}

Test(split, walk_buffer_partly_outside_memory)
{
	uint64_t h = buf(16);
	/* The last 100 bytes of the guest and 100 beyond. */
	struct fr_buf b[] = {{h, 16, false}, {3 * RS - 100, 200, true}};

	start(8);
	fr_chain(&r, 0, b, 2);
	cr_assert_eq(pop_walk(0, 8), 0);
	cr_assert_eq(ch.error, -EFAULT);
	cr_assert_eq(ch.niov, 2);
	cr_assert_null(iov[1].iov_base);
	cr_assert_eq(iov[1].iov_len, 200);
	cr_assert_null(ch.last_writable);
}

Test(split, walk_status_reachable_although_buffer_is_not)
{
	/* Starts in a hole, ends in guest memory: the status byte is still writable. */
	const uint64_t gpa[] = {0, 2 * RS};
	const uint64_t size[] = {RS, RS};
	struct fr_buf b[2];

	fg_fini(&g);
	fg_init_regions(&g, 2, gpa, size);
	start(8);
	b[0] = (struct fr_buf){buf(16), 16, false};
	b[1] = (struct fr_buf){2 * RS - 10, 20, true};
	fr_chain(&r, 0, b, 2);
	cr_assert_eq(pop_walk(0, 8), 0);
	cr_assert_eq(ch.error, -EFAULT);
	cr_assert_null(iov[1].iov_base);
	cr_assert_eq(ch.last_writable, hva(2 * RS + 9));
}

Test(split, walk_gpa_plus_len_overflows)
{
	uint64_t h = buf(16);
	struct fr_buf b[] = {{h, 16, false}, {0xfffffffffffffff0ull, 0x20, true}};

	start(8);
	fr_chain(&r, 0, b, 2);
	cr_assert_eq(pop_walk(0, 8), 0);
	cr_assert_eq(ch.error, -EFAULT);
	cr_assert_eq(ch.writable_len, 0x20);
	cr_assert_null(iov[1].iov_base);
	/* The "last byte" wraps to gpa 0xf, which is guest memory the driver never offered. */
	cr_assert_null(ch.last_writable);
	vhd_vq_push(&vq, 0, 0);
	b[0] = (struct fr_buf){UINT64_MAX, 2, false};
	b[1] = (struct fr_buf){buf(1), 1, true};
	fr_chain(&r, 2, b, 2);
	cr_assert_eq(pop_walk(2, 8), 0);
	cr_assert_eq(ch.error, -EFAULT);
	cr_assert_eq(ch.readable_len, 2);
	cr_assert_eq(ch.last_writable, hva(b[1].gpa));
}

Test(split, walk_buffers_spanning_regions)
{
	uint64_t a, w;
	struct fr_buf b[2];

	start(8);
	a = fg_alloc_span(&g, 0, 10, 30);
	w = fg_alloc_span(&g, 1, 1, 2);
	b[0] = (struct fr_buf){a, 30, false};
	b[1] = (struct fr_buf){w, 2, true};
	fr_chain(&r, 0, b, 2);
	cr_assert_eq(pop_walk(0, 8), 0);
	cr_assert_eq(ch.error, 0);
	cr_assert_eq(ch.niov, 4);
	cr_assert_eq(ch.nreadable, 2);
	assert_iov(0, a, 10);
	assert_iov(1, RS, 20);
	assert_iov(2, w, 1);
	assert_iov(3, 2 * RS, 1);
	cr_assert_eq(ch.last_writable, hva(2 * RS));
}

Test(split, walk_more_segments_than_iovecs)
{
	uint64_t w1 = buf(1);
	struct fr_buf b[] = {
		{buf(16), 16, false}, {buf(512), 512, false}, {buf(512), 512, false},
		{buf(512), 512, true}, {w1, 1, true},
	};

	start(8);
	fr_chain(&r, 0, b, 5);
	cr_assert_eq(pop_walk(0, 3), 0);
	cr_assert_not(vq.broken);
	cr_assert_eq(ch.error, -ENOBUFS);
	cr_assert_eq(ch.niov, 3);
	cr_assert_eq(ch.nreadable, 3);
	cr_assert_eq(ch.readable_len, 1040);
	cr_assert_eq(ch.writable_len, 513);
	cr_assert_eq(ch.last_writable, hva(w1));
	for (unsigned int i = 0; i < 3; i++) {
		assert_iov(i, b[i].gpa, b[i].len);
	}
	/* Exactly enough iovecs is not an error. */
	vhd_vq_push(&vq, 0, 0);
	fr_chain(&r, 0, b, 5);
	cr_assert_eq(pop_walk(0, 5), 0);
	cr_assert_eq(ch.error, 0);
	cr_assert_eq(ch.niov, 5);
}

Test(split, walk_span_does_not_fit)
{
	struct fr_buf b[3];

	start(8);
	b[0] = (struct fr_buf){buf(16), 16, false};
	b[1] = (struct fr_buf){fg_alloc_span(&g, 0, 8, 16), 16, false};
	b[2] = (struct fr_buf){buf(1), 1, true};
	fr_chain(&r, 0, b, 3);
	cr_assert_eq(pop_walk(0, 2), 0);
	cr_assert_eq(ch.error, -ENOBUFS);
	cr_assert_eq(ch.niov, 1);
	cr_assert_eq(ch.nreadable, 1);
	cr_assert_eq(ch.readable_len, 32);
	cr_assert_eq(ch.last_writable, hva(b[2].gpa));
}

Test(split, walk_first_error_wins)
{
	struct fr_buf b[] = {
		{buf(16), 16, false}, {OUTSIDE, 16, false}, {buf(16), 16, false},
		{buf(16), 16, false}, {buf(1), 1, true},
	};

	start(8);
	fr_chain(&r, 0, b, 5);
	cr_assert_eq(pop_walk(0, 3), 0);
	cr_assert_eq(ch.error, -EFAULT);
	cr_assert_eq(ch.readable_len, 64);
	cr_assert_eq(ch.last_writable, hva(b[4].gpa));
	vhd_vq_push(&vq, 0, 0);
	/* Out of iovecs first, then a fault that would not fit anyway. */
	b[1].gpa = buf(16);
	b[3].gpa = OUTSIDE;
	fr_chain(&r, 0, b, 5);
	cr_assert_eq(pop_walk(0, 2), 0);
	cr_assert_eq(ch.error, -ENOBUFS);
	cr_assert_eq(ch.niov, 2);
}

Test(split, walk_fault_when_iovecs_are_full)
{
	struct fr_buf b[] = {{buf(16), 16, false}, {OUTSIDE, 16, true}};

	start(8);
	fr_chain(&r, 0, b, 2);
	cr_assert_eq(pop_walk(0, 1), 0);
	cr_assert_eq(ch.error, -EFAULT);
	cr_assert_eq(ch.niov, 1);
	cr_assert_eq(ch.writable_len, 16);
	cr_assert_null(ch.last_writable);
}

Test(split, walk_status_merged_with_data)
{
	uint64_t w = buf(513);
	struct fr_buf b[] = {{buf(16), 16, false}, {w, 513, true}};

	start(8);
	fr_chain(&r, 0, b, 2);
	cr_assert_eq(pop_walk(0, 8), 0);
	cr_assert_eq(ch.last_writable, hva(w + 512));
}

/* ---- walk: indirect ---- */

Test(split, indirect_alone)
{
	struct fr_buf t[] = {{buf(16), 16, false}, {buf(512), 512, true}, {buf(1), 1, true}};
	uint64_t table = fr_indirect_table(&g, t, 3);

	start(8);
	fr_set_desc(&r, 5, table, 48, VRING_DESC_F_INDIRECT, 0);
	cr_assert_eq(pop_walk(5, 8), 0);
	cr_assert_eq(ch.error, 0);
	cr_assert_eq(ch.niov, 3);
	cr_assert_eq(ch.nreadable, 1);
	cr_assert_eq(ch.readable_len, 16);
	cr_assert_eq(ch.writable_len, 513);
	for (unsigned int i = 0; i < 3; i++) {
		assert_iov(i, t[i].gpa, t[i].len);
	}
	cr_assert_eq(ch.last_writable, hva(t[2].gpa));
}

Test(split, indirect_after_direct_descriptors)
{
	uint64_t h = buf(7), h2 = buf(9);
	struct fr_buf t[] = {{buf(512), 512, true}, {buf(1), 1, true}};
	uint64_t table = fr_indirect_table(&g, t, 2);

	start(8);
	fr_set_desc(&r, 6, h, 7, VRING_DESC_F_NEXT, 7);
	fr_set_desc(&r, 7, h2, 9, VRING_DESC_F_NEXT, 0);
	fr_set_desc(&r, 0, table, 32, VRING_DESC_F_INDIRECT, 0);
	cr_assert_eq(pop_walk(6, 8), 0);
	cr_assert_eq(ch.niov, 4);
	cr_assert_eq(ch.nreadable, 2);
	cr_assert_eq(ch.readable_len, 16);
	cr_assert_eq(ch.writable_len, 513);
	assert_iov(0, h, 7);
	assert_iov(1, h2, 9);
	assert_iov(2, t[0].gpa, 512);
	cr_assert_eq(ch.last_writable, hva(t[1].gpa));
}

Test(split, indirect_write_flag_on_pointer_ignored)
{
	struct fr_buf t[] = {{buf(16), 16, false}, {buf(1), 1, true}};
	uint64_t table = fr_indirect_table(&g, t, 2);

	start(8);
	fr_set_desc(&r, 0, table, 32, VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE, 0);
	cr_assert_eq(pop_walk(0, 8), 0);
	cr_assert_eq(ch.nreadable, 1);
	cr_assert_eq(ch.readable_len, 16);
	cr_assert_not(vq.broken);
}

Test(split, indirect_readable_after_writable_direct)
{
	struct fr_buf t[] = {{buf(16), 16, false}};
	uint64_t table = fr_indirect_table(&g, t, 1);

	start(8);
	fr_set_desc(&r, 0, buf(1), 1, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	fr_set_desc(&r, 1, table, 16, VRING_DESC_F_INDIRECT, 0);
	assert_broke(0, pop_walk(0, 8));
}

Test(split, indirect_nested)
{
	struct fr_buf inner[] = {{buf(1), 1, true}};
	uint64_t inner_table = fr_indirect_table(&g, inner, 1);
	struct fr_buf t[] = {{buf(16), 16, false}, {inner_table, 16, false}};
	uint64_t table = fr_indirect_table(&g, t, 2);

	fr_table_entry(&g, table, 1)->flags = VRING_DESC_F_INDIRECT;
	start(8);
	fr_set_desc(&r, 0, table, 32, VRING_DESC_F_INDIRECT, 0);
	assert_broke(0, pop_walk(0, 8));
}

Test(split, indirect_without_feature)
{
	struct fr_buf t[] = {{buf(16), 16, false}, {buf(1), 1, true}};
	uint64_t table = fr_indirect_table(&g, t, 2);

	fr_init(&r, &g, 8);
	start_vq(false, false);
	fr_set_desc(&r, 0, table, 32, VRING_DESC_F_INDIRECT, 0);
	assert_broke(0, pop_walk(0, 8));
}

Test(split, indirect_with_next)
{
	struct fr_buf t[] = {{buf(16), 16, false}, {buf(1), 1, true}};
	uint64_t table = fr_indirect_table(&g, t, 2);

	start(8);
	fr_set_desc(&r, 0, table, 32, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	fr_set_desc(&r, 1, buf(1), 1, VRING_DESC_F_WRITE, 0);
	assert_broke(0, pop_walk(0, 8));
}

Test(split, indirect_bad_table_length_or_place)
{
	struct fr_buf t[] = {{buf(16), 16, false}, {buf(1), 1, true}};
	uint64_t table = fr_indirect_table(&g, t, 2);
	const uint32_t bad_len[] = {0, 24, 17, 8, (VHD_VRING_MAX_SIZE + 1) * 16};

	start(8);
	for (unsigned int i = 0; i < VHD_ARRAY_SIZE(bad_len); i++) {
		fr_set_desc(&r, 0, table, bad_len[i], VRING_DESC_F_INDIRECT, 0);
		assert_broke(0, pop_walk(0, 8));
		restart();
	}
	fr_set_desc(&r, 0, OUTSIDE, 32, VRING_DESC_F_INDIRECT, 0);
	assert_broke(0, pop_walk(0, 8));
	restart();
	/* Starts in the last 16 bytes of guest memory. */
	fr_set_desc(&r, 0, 3 * RS - 16, 32, VRING_DESC_F_INDIRECT, 0);
	assert_broke(0, pop_walk(0, 8));
	restart();
	fr_set_desc(&r, 0, 0xfffffffffffffff0ull, 32, VRING_DESC_F_INDIRECT, 0);
	assert_broke(0, pop_walk(0, 8));
}

Test(split, indirect_table_spanning_regions)
{
	struct fr_buf t[] = {{buf(16), 16, false}, {buf(512), 512, true}, {buf(1), 1, true}};
	/* 48 bytes, the second entry split 8 + 8 across the boundary: no alignment is promised
	 * for where a region ends relative to the table. */
	uint64_t table = fg_alloc_span(&g, 0, 24, 48);

	fg_write(&g, table, fr_table_entry(&g, fr_indirect_table(&g, t, 3), 0), 48);
	start(8);
	fr_set_desc(&r, 0, table, 48, VRING_DESC_F_INDIRECT, 0);
	cr_assert_eq(pop_walk(0, 8), 0);
	cr_assert_not(vq.broken);
	cr_assert_eq(ch.niov, 3);
	cr_assert_eq(ch.readable_len, 16);
	cr_assert_eq(ch.writable_len, 513);
	for (unsigned int i = 0; i < 3; i++) {
		assert_iov(i, t[i].gpa, t[i].len);
	}
	cr_assert_eq(ch.last_writable, hva(t[2].gpa));
}

Test(split, indirect_loop_and_next_out_of_table)
{
	struct fr_buf t[] = {{buf(16), 16, false}, {buf(1), 1, true}};
	uint64_t table = fr_indirect_table(&g, t, 2);

	start(8);
	/* The last entry chains back to the first. */
	fr_table_entry(&g, table, 1)->flags |= VRING_DESC_F_NEXT;
	fr_table_entry(&g, table, 1)->next = 0;
	fr_table_entry(&g, table, 1)->flags &= (uint16_t)~VRING_DESC_F_WRITE;
	fr_set_desc(&r, 0, table, 32, VRING_DESC_F_INDIRECT, 0);
	assert_broke(0, pop_walk(0, 8));
	restart();
	/* next == table size: inside the ring's range, outside the table. */
	fr_table_entry(&g, table, 1)->next = 2;
	assert_broke(0, pop_walk(0, 8));
}

Test(split, indirect_table_larger_than_ring)
{
	struct fr_buf t[40];
	uint64_t table;

	for (unsigned int i = 0; i < 40; i++) {
		t[i] = (struct fr_buf){buf(8), 8, i >= 20};
	}
	table = fr_indirect_table(&g, t, 40);
	start(8);
	/* 7 direct descriptors then a 40-entry table on an 8-entry ring. */
	for (uint16_t i = 0; i < 7; i++) {
		fr_set_desc(&r, i, buf(2), 2, VRING_DESC_F_NEXT, (uint16_t)(i + 1));
	}
	fr_set_desc(&r, 7, table, 40 * 16, VRING_DESC_F_INDIRECT, 0);
	cr_assert_eq(pop_walk(0, 64), 0);
	cr_assert_eq(ch.niov, 47);
	cr_assert_eq(ch.nreadable, 27);
	cr_assert_eq(ch.readable_len, 14 + 160);
	cr_assert_eq(ch.writable_len, 160);
}

/* ---- push and the used ring ---- */

Test(split, push_writes_used_elements)
{
	uint16_t heads[3];

	start(8);
	fr_add_avail(&r, 2);
	fr_add_avail(&r, 5);
	fr_add_avail(&r, 7);
	fr_publish(&r);
	cr_assert_eq(vhd_vq_pop(&vq, heads, 3), 3);
	/* Out of order. Without an inflight region used->idx moves once per round, at notify. */
	vhd_vq_push(&vq, 5, 100);
	cr_assert_eq(fr_used_idx(&r), 0);
	cr_assert_eq(vq.inflight_count, 2);
	cr_assert_eq(vq.busy[5], 0);
	vhd_vq_push(&vq, 2, 0);
	vhd_vq_push(&vq, 7, UINT32_MAX);
	cr_assert_eq(fr_used_idx(&r), 0);
	cr_assert(vq.need_notify);
	vhd_vq_notify(&vq);
	cr_assert_eq(fr_used_idx(&r), 3);
	cr_assert_eq(vq.used_idx, 3);
	cr_assert_eq(fr_used_elem(&r, 0).id, 5);
	cr_assert_eq(fr_used_elem(&r, 0).len, 100);
	cr_assert_eq(fr_used_elem(&r, 1).id, 2);
	cr_assert_eq(fr_used_elem(&r, 1).len, 0);
	cr_assert_eq(fr_used_elem(&r, 2).id, 7);
	cr_assert_eq(fr_used_elem(&r, 2).len, UINT32_MAX);
	cr_assert_eq(vq.inflight_count, 0);
	cr_assert_not(vq.need_notify);
}

Test(split, entries_pushed_before_the_queue_broke_are_published)
{
	uint16_t heads[2];

	start(8);
	fr_add_avail(&r, 3);
	fr_add_avail(&r, 4);
	fr_publish(&r);
	cr_assert_eq(vhd_vq_pop(&vq, heads, 2), 2);
	vhd_vq_push(&vq, 3, 9);
	vhd_vq_set_broken(&vq, "test");
	vhd_vq_push(&vq, 4, 9);
	vhd_vq_notify(&vq);
	cr_assert_eq(fr_used_idx(&r), 1, "the completion made before the break is returned");
	cr_assert_eq(fr_used_elem(&r, 0).id, 3);
}

Test(split, used_index_wraps)
{
	uint16_t heads[4];

	fr_init(&r, &g, 8);
	fr_start_at(&r, 65534);
	start_vq(false, true);
	for (uint16_t i = 0; i < 4; i++) {
		fr_add_avail(&r, i);
	}
	fr_publish(&r);
	cr_assert_eq(vhd_vq_pop(&vq, heads, 4), 4);
	for (uint16_t i = 0; i < 4; i++) {
		vhd_vq_push(&vq, heads[i], 10u + i);
	}
	vhd_vq_notify(&vq);
	cr_assert_eq(fr_used_idx(&r), 2);
	for (uint16_t i = 0; i < 4; i++) {
		uint16_t idx = (uint16_t)(65534 + i);

		cr_assert_eq(r.used->ring[idx & 7].id, i);
		cr_assert_eq(r.used->ring[idx & 7].len, 10u + i);
	}
	cr_assert_eq(r.used->ring[6].id, 0);
	cr_assert_eq(r.used->ring[1].id, 3);
}

Test(split, push_on_broken_queue_writes_nothing)
{
	uint16_t heads[2];
	uint8_t before[8 * sizeof(struct vhd_vring_used_elem)];

	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	cr_assert_geq(efd, 0);
	start(8);
	memset(r.used->ring, 0xab, sizeof(before));
	memcpy(before, r.used->ring, sizeof(before));
	fr_add_avail(&r, 1);
	fr_add_avail(&r, 6);
	fr_publish(&r);
	cr_assert_eq(vhd_vq_pop(&vq, heads, 2), 2);
	vhd_vq_set_broken(&vq, "test");
	vhd_vq_push(&vq, 6, 1);
	vhd_vq_push(&vq, 1, 1);
	cr_assert_eq(r.used->idx, 0);
	cr_assert_eq(vq.used_idx, 0);
	cr_assert_eq(memcmp(before, r.used->ring, sizeof(before)), 0);
	cr_assert_eq(vq.inflight_count, 0);
	cr_assert_eq(vq.busy[1] + vq.busy[6], 0);
	vhd_vq_notify(&vq);
	vhd_vq_notify_force(&vq);
	cr_assert_eq(vq.notifications, 0);
}

/* ---- notifications ---- */

static uint64_t
efd_read(void)
{
	uint64_t v = 0;

	if (read(efd, &v, sizeof(v)) != (ssize_t)sizeof(v)) {
		cr_assert_eq(errno, EAGAIN);
		return 0;
	}
	return v;
}

/* The driver makes n one-descriptor requests available; we take them and complete them. */
static void
complete(unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		uint16_t head = (uint16_t)(r.avail_idx & (r.size - 1));
		uint16_t got;

		fr_set_desc(&r, head, buf(1), 1, VRING_DESC_F_WRITE, 0);
		fr_push_avail(&r, head);
		cr_assert_eq(vhd_vq_pop(&vq, &got, 1), 1);
		vhd_vq_push(&vq, got, 1);
	}
}

static void
start_notify(uint16_t start_idx, bool event_idx)
{
	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	cr_assert_geq(efd, 0);
	fr_init(&r, &g, 8);
	fr_start_at(&r, start_idx);
	start_vq(event_idx, true);
}

Test(split, notify_event_idx)
{
	start_notify(0, true);
	vhd_vq_notify(&vq);
	cr_assert_eq(efd_read(), 0, "nothing pushed, nothing to signal");
	/* The first notification after a start is unconditional (no reference point yet). */
	*fr_used_event(&r) = 100;
	complete(1);
	vhd_vq_notify(&vq);
	cr_assert_eq(efd_read(), 1);
	cr_assert_eq(vq.notifications, 1);
	/* used_event = 1: "tell me once used->idx passes 1". */
	*fr_used_event(&r) = 1;
	complete(1);
	vhd_vq_notify(&vq);
	cr_assert_eq(efd_read(), 1);
	*fr_used_event(&r) = 5;
	complete(1); /* used 3 */
	vhd_vq_notify(&vq);
	cr_assert_eq(efd_read(), 0);
	complete(2); /* used 5: event 5 not passed yet */
	vhd_vq_notify(&vq);
	cr_assert_eq(efd_read(), 0);
	complete(1); /* used 6 */
	vhd_vq_notify(&vq);
	cr_assert_eq(efd_read(), 1);
	/* Several pushes crossing the event: one write. */
	*fr_used_event(&r) = 6;
	complete(3);
	vhd_vq_notify(&vq);
	cr_assert_eq(efd_read(), 1);
	vhd_vq_notify(&vq);
	cr_assert_eq(efd_read(), 0);
	/* An event already behind us. */
	*fr_used_event(&r) = 2;
	complete(1);
	vhd_vq_notify(&vq);
	cr_assert_eq(efd_read(), 0);
	cr_assert_eq(vq.notifications, 4);
	/* EVENT_IDX ignores the NO_INTERRUPT flag. */
	r.avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	*fr_used_event(&r) = vq.used_idx;
	complete(1);
	vhd_vq_notify(&vq);
	cr_assert_eq(efd_read(), 1);
}

Test(split, notify_event_idx_wraps)
{
	start_notify(65533, true);
	vhd_vq_notify_force(&vq);
	cr_assert_eq(efd_read(), 1);
	*fr_used_event(&r) = 0;
	complete(2); /* used 65535 */
	vhd_vq_notify(&vq);
	cr_assert_eq(efd_read(), 0);
	complete(2); /* used 1: passed 0 */
	vhd_vq_notify(&vq);
	cr_assert_eq(efd_read(), 1);
	*fr_used_event(&r) = 65535;
	complete(4); /* used 5: 65535 is behind */
	vhd_vq_notify(&vq);
	cr_assert_eq(efd_read(), 0);
	*fr_used_event(&r) = 5;
	complete(1);
	vhd_vq_notify(&vq);
	cr_assert_eq(efd_read(), 1);
}

Test(split, notify_without_event_idx)
{
	start_notify(0, false);
	*fr_used_event(&r) = 1000; /* meaningless without EVENT_IDX */
	r.avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	complete(1);
	vhd_vq_notify(&vq);
	cr_assert_eq(efd_read(), 0);
	cr_assert_not(vq.need_notify);
	r.avail->flags = 0;
	vhd_vq_notify(&vq);
	cr_assert_eq(efd_read(), 0, "nothing new since the suppressed round");
	complete(3);
	vhd_vq_notify(&vq);
	cr_assert_eq(efd_read(), 1);
	vhd_vq_notify(&vq);
	cr_assert_eq(efd_read(), 0);
	cr_assert_eq(vq.notifications, 1);
}

Test(split, notify_force)
{
	start_notify(0, true);
	vhd_vq_notify_force(&vq);
	cr_assert_eq(efd_read(), 1);
	r.avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	*fr_used_event(&r) = 77;
	vhd_vq_notify_force(&vq);
	cr_assert_eq(efd_read(), 1);
	/* A forced signal sets the reference point: used_event 77 is far ahead. */
	complete(1);
	vhd_vq_notify(&vq);
	cr_assert_eq(efd_read(), 0);
	cr_assert_eq(vq.notifications, 2);
}

Test(split, notify_without_callfd)
{
	start(8);
	complete(1);
	vhd_vq_notify(&vq);
	vhd_vq_notify_force(&vq);
	cr_assert_eq(vq.notifications, 0);
}

/* ---- inflight region ---- */

static void
alloc_inflight(uint16_t desc_num)
{
	infl_len = sizeof(*infl) + (size_t)desc_num * sizeof(infl->desc[0]);
	infl_len = (infl_len + 4095) & ~(size_t)4095;
	infl = mmap(NULL, infl_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(infl, MAP_FAILED);
	infl->version = 1;
	infl->desc_num = desc_num;
}

Test(split, inflight_start_checks_desc_num)
{
	struct vhd_vq_setup s;

	alloc_inflight(4);
	fr_init(&r, &g, 8);
	fr_setup(&r, &s, false, false, -1);
	s.inflight = infl;
	cr_assert_eq(vhd_vq_start(&vq, &s), -EINVAL);
	infl->desc_num = 16;
	cr_assert_eq(vhd_vq_start(&vq, &s), 0);
	vhd_vq_stop(&vq);
}

Test(split, inflight_pop_and_push)
{
	uint16_t heads[3];

	alloc_inflight(8);
	start(8);
	fr_add_avail(&r, 4);
	fr_add_avail(&r, 1);
	fr_add_avail(&r, 6);
	fr_publish(&r);
	cr_assert_eq(vhd_vq_pop(&vq, heads, 3), 3);
	for (uint16_t i = 0; i < 8; i++) {
		uint8_t want = i == 4 || i == 1 || i == 6;

		cr_assert_eq(infl->desc[i].inflight, want, "desc[%u]", i);
	}
	cr_assert_eq(infl->desc[4].counter, 1);
	cr_assert_eq(infl->desc[1].counter, 2);
	cr_assert_eq(infl->desc[6].counter, 3);
	vhd_vq_push(&vq, 1, 0);
	cr_assert_eq(infl->desc[1].inflight, 0);
	cr_assert_eq(infl->last_inflight_io, 1);
	cr_assert_eq(infl->used_idx, 1);
	cr_assert_eq(infl->used_idx, r.used->idx);
	cr_assert_eq(infl->desc[4].inflight, 1);
	vhd_vq_push(&vq, 6, 0);
	cr_assert_eq(infl->last_inflight_io, 6);
	cr_assert_eq(infl->used_idx, 2);
	fr_push_avail(&r, 1);
	cr_assert_eq(vhd_vq_pop(&vq, heads, 3), 1);
	cr_assert_eq(infl->desc[1].counter, 4);
}

Test(split, inflight_start_picks_up_max_counter)
{
	uint16_t head;

	alloc_inflight(8);
	infl->desc[3] = (struct vhd_inflight_desc){.inflight = 1, .counter = 41};
	infl->desc[5] = (struct vhd_inflight_desc){.inflight = 0, .counter = 99};
	infl->desc[6] = (struct vhd_inflight_desc){.inflight = 1, .counter = 17};
	start(8);
	fr_push_avail(&r, 0);
	cr_assert_eq(vhd_vq_pop(&vq, &head, 1), 1);
	cr_assert_eq(infl->desc[0].counter, 42);
}

/* The rule a restarted back-end applies to the region (vhost-user "Inflight I/O tracking"). */
static void
recover(const struct vhd_inflight_split *in, uint16_t used_idx, uint8_t *set, uint16_t n)
{
	for (uint16_t i = 0; i < n; i++) {
		set[i] = in->desc[i].inflight;
	}
	if (in->used_idx != used_idx) {
		set[in->last_inflight_io] = 0;
	}
}

Test(split, inflight_take_resubmits_after_reconnect)
{
	uint16_t heads[4], head;
	uint8_t set[8];

	alloc_inflight(8);
	start(8);
	for (uint16_t i = 0; i < 4; i++) {
		fr_add_avail(&r, (uint16_t)(i * 2));
	}
	fr_publish(&r);
	cr_assert_eq(vhd_vq_pop(&vq, heads, 4), 4);
	vhd_vq_push(&vq, 2, 0);
	/* vhostd goes away with 0, 4 and 6 in flight; a new instance starts on the same ring. */
	vhd_vq_stop(&vq);
	started = false;
	recover(infl, r.used->idx, set, 8);
	cr_assert_arr_eq(set, ((uint8_t[]){1, 0, 0, 0, 1, 0, 1, 0}), 8);
	r.used_seen = r.used->idx;
	start_vq(false, true);
	cr_assert_eq(vq.last_avail_idx, 4);
	cr_assert_eq(vhd_vq_take(&vq, 6), 0);
	cr_assert_eq(vhd_vq_take(&vq, 0), 0);
	cr_assert_eq(vhd_vq_take(&vq, 4), 0);
	cr_assert_eq(vq.inflight_count, 3);
	cr_assert_eq(infl->desc[6].counter, 5);
	cr_assert_eq(infl->desc[4].counter, 7);
	cr_assert_eq(infl->desc[4].inflight, 1);
	/* New requests come from the avail ring after what was already counted. */
	fr_push_avail(&r, 1);
	cr_assert_eq(vhd_vq_pop(&vq, &head, 1), 1);
	cr_assert_eq(head, 1);
	fr_set_desc(&r, 4, buf(1), 1, VRING_DESC_F_WRITE, 0);
	cr_assert_eq(vhd_vq_walk(&vq, 4, &ch, iov, 8), 0);
	vhd_vq_push(&vq, 4, 1);
	cr_assert_eq(infl->desc[4].inflight, 0);
	cr_assert_eq(fr_used_elem(&r, 1).id, 4);
	cr_assert_not(vq.broken);
	/* A head named twice, or out of range, breaks the queue. */
	cr_assert_eq(vhd_vq_take(&vq, 6), -EIO);
	cr_assert(vq.broken);
	cr_assert_eq(vhd_vq_take(&vq, 3), -EIO);
	cr_assert_eq(g_log.errors, 1);
	restart();
	cr_assert_eq(vhd_vq_take(&vq, 8), -EIO);
	cr_assert(vq.broken);
}

Test(split, take_without_inflight_region)
{
	start(8);
	cr_assert_eq(vhd_vq_take(&vq, 7), 0);
	cr_assert_eq(vq.busy[7], 1);
	fr_push_avail(&r, 7);
	cr_assert_eq(vhd_vq_pop(&vq, (uint16_t[1]){0}, 1), -EIO);
}

#if defined(__x86_64__)
/*
 * Crash simulation: the used ring's page and the inflight region are made read-only, so every
 * store vhd_vq_push() makes to them faults. The SIGSEGV handler snapshots both (the state a
 * crash right before that store would leave), lets the store through with the trap flag set,
 * and the SIGTRAP handler write-protects them again. So we see the state between every two
 * stores, in the order the code really makes them.
 */
struct snap {
	uint16_t used_idx;
	uint16_t infl_used_idx;
	uint16_t last_io;
	uint8_t inflight[8];
	struct vhd_vring_used_elem elem[8];
};

static struct snap snaps[64];
static unsigned int nsnaps;
static uint8_t *prot_addr[2];
static size_t prot_len[2];

static void
snapshot(void)
{
	struct snap *s = &snaps[nsnaps < 64 ? nsnaps++ : 63];

	s->used_idx = r.used->idx;
	s->infl_used_idx = infl->used_idx;
	s->last_io = infl->last_inflight_io;
	for (unsigned int i = 0; i < 8; i++) {
		s->inflight[i] = infl->desc[i].inflight;
		s->elem[i] = r.used->ring[i];
	}
}

static void
protect(int prot)
{
	for (unsigned int i = 0; i < 2; i++) {
		mprotect(prot_addr[i], prot_len[i], prot);
	}
}

static void
on_segv(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	uint8_t *a = si->si_addr;
	bool ours = false;

	for (unsigned int i = 0; i < 2; i++) {
		ours |= a >= prot_addr[i] && a < prot_addr[i] + prot_len[i];
	}
	if (!ours) {
		signal(SIGSEGV, SIG_DFL);
		return;
	}
	snapshot();
	protect(PROT_READ | PROT_WRITE);
	uc->uc_mcontext.gregs[REG_EFL] |= 0x100;
}

static void
on_trap(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;

	uc->uc_mcontext.gregs[REG_EFL] &= ~0x100ll;
	protect(PROT_READ);
}

static void
install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_flags = SA_SIGINFO;
	sa.sa_sigaction = on_segv;
	cr_assert_eq(sigaction(SIGSEGV, &sa, NULL), 0);
	sa.sa_sigaction = on_trap;
	cr_assert_eq(sigaction(SIGTRAP, &sa, NULL), 0);
	prot_addr[0] = (uint8_t *)((uintptr_t)r.used & ~(uintptr_t)4095);
	prot_len[0] = ((uintptr_t)&r.used->ring[8] + 2 - (uintptr_t)prot_addr[0] + 4095) &
		      ~(size_t)4095;
	prot_addr[1] = (uint8_t *)infl;
	prot_len[1] = infl_len;
}

Test(split, inflight_crash_between_every_push_step)
{
	const uint16_t popped[] = {3, 0, 5, 6};
	const uint16_t order[] = {5, 3, 6, 0};
	uint8_t pending[8] = {0};
	uint16_t heads[4];

	alloc_inflight(8);
	start(8);
	for (unsigned int i = 0; i < 4; i++) {
		fr_add_avail(&r, popped[i]);
		pending[popped[i]] = 1;
	}
	fr_publish(&r);
	cr_assert_eq(vhd_vq_pop(&vq, heads, 4), 4);
	install();
	for (unsigned int k = 0; k < 4; k++) {
		uint16_t head = order[k];
		uint16_t before = r.used->idx;
		bool seen[6] = {false};

		nsnaps = 0;
		protect(PROT_READ);
		vhd_vq_push(&vq, head, 512u + k);
		protect(PROT_READ | PROT_WRITE);
		snapshot();
		cr_assert_geq(nsnaps, 5, "push %u: only %u stores seen", k, nsnaps);
		for (unsigned int i = 0; i < nsnaps; i++) {
			const struct snap *s = &snaps[i];
			struct vhd_inflight_split *in =
				malloc(sizeof(*in) + 8 * sizeof(in->desc[0]));
			uint8_t set[8], want[8];
			/* The five steps, in the order the vhost-user spec needs them. */
			bool step[5] = {
				s->elem[before & 7].id == head &&
					s->elem[before & 7].len == 512u + k,
				s->last_io == head,
				s->used_idx == (uint16_t)(before + 1),
				s->inflight[head] == 0,
				s->infl_used_idx == (uint16_t)(before + 1),
			};
			unsigned int done = 0;

			while (done < 5 && step[done]) {
				done++;
			}
			for (unsigned int j = done; j < 5; j++) {
				cr_assert_not(step[j], "push %u snap %u: step %u before step %u", k,
					      i, j, done);
			}
			seen[done] = true;
			/* What a restarted back-end would resubmit: exactly what the guest has
			 * not seen completed. */
			cr_assert_not_null(in);
			in->used_idx = s->infl_used_idx;
			in->last_inflight_io = s->last_io;
			for (unsigned int j = 0; j < 8; j++) {
				in->desc[j].inflight = s->inflight[j];
			}
			recover(in, s->used_idx, set, 8);
			memcpy(want, pending, sizeof(want));
			if (s->used_idx != before) {
				want[head] = 0;
			}
			cr_assert_arr_eq(set, want, 8, "push %u snap %u (after step %u)", k, i,
					 done);
			free(in);
		}
		for (unsigned int j = 0; j < 6; j++) {
			cr_assert(seen[j], "push %u: no crash point after exactly %u steps", k, j);
		}
		pending[head] = 0;
	}
	signal(SIGSEGV, SIG_DFL);
	signal(SIGTRAP, SIG_DFL);
}
#endif
