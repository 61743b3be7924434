/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Backend framework (src/bdev/bdev.c) with a scriptable test backend: back-pressure (-EAGAIN
 * parks, retried in order), completion only from poll, channel refcounting per thread, busy
 * tracking. Then the RAM and null backends: constructor checks, data, zeroing edges, resize.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>

#include "vhostd/bdev.h"

/* ---- a scriptable backend ---- */

#define MAXIO 64

struct test_bdev {
	struct vhd_bdev base;
	unsigned int cap;     /* I/Os held at once (0: no limit) */
	bool full;            /* refuse everything with -EAGAIN */
	bool defer;           /* finish inside submit with vhd_bdev_io_defer() */
	int fail_rc;          /* submit returns this when non-zero */
	int status;           /* completion status from poll */
	struct vhd_bdev_io *held[MAXIO];
	unsigned int nheld;
	struct vhd_bdev_io *accepted[MAXIO]; /* every accepted submission, in order */
	unsigned int naccepted;
	unsigned int created, destroyed, polls, flushes;
};

static struct test_bdev tb;

static int
tb_channel_create(struct vhd_bdev *bdev, struct vhd_bdev_channel **ch)
{
	*ch = calloc(1, sizeof(**ch));
	cr_assert_not_null(*ch);
	__atomic_add_fetch(&tb.created, 1, __ATOMIC_RELAXED);
	return 0;
}

static void
tb_channel_destroy(struct vhd_bdev_channel *ch)
{
	cr_assert_eq(ch->inflight, 0);
	__atomic_add_fetch(&tb.destroyed, 1, __ATOMIC_RELAXED);
	free(ch);
}

static int
tb_submit(struct vhd_bdev_channel *ch, struct vhd_bdev_io *io)
{
	if (tb.fail_rc != 0) {
		return tb.fail_rc;
	}
	if (tb.full || (tb.cap != 0 && tb.nheld >= tb.cap)) {
		return -EAGAIN;
	}
	cr_assert_lt(tb.naccepted, MAXIO);
	tb.accepted[tb.naccepted++] = io;
	if (tb.defer) {
		vhd_bdev_io_defer(io, tb.status);
	} else {
		tb.held[tb.nheld++] = io;
	}
	return 0;
}

static void
tb_flush(struct vhd_bdev_channel *ch)
{
	tb.flushes++;
}

static int
tb_poll(struct vhd_bdev_channel *ch)
{
	unsigned int n = tb.nheld;
	struct vhd_bdev_io *done[MAXIO];

	tb.polls++;
	memcpy(done, tb.held, n * sizeof(done[0]));
	tb.nheld = 0;
	for (unsigned int i = 0; i < n; i++) {
		vhd_bdev_io_complete(done[i], tb.status);
	}
	return (int)n;
}

static void
tb_destroy(struct vhd_bdev *bdev)
{
}

static const struct vhd_bdev_ops g_tb_ops = {
	.channel_create = tb_channel_create,
	.channel_destroy = tb_channel_destroy,
	.submit = tb_submit,
	.flush = tb_flush,
	.poll = tb_poll,
	.destroy = tb_destroy,
};

/* ---- completions ---- */

static bool g_in_submit;
static struct vhd_bdev_io ios[MAXIO];
static struct vhd_bdev_io *completed[MAXIO];
static int completed_status[MAXIO];
static unsigned int ncompleted;

static void
io_cb(struct vhd_bdev_io *io, int status)
{
	cr_assert_not(g_in_submit, "completion delivered inside submit");
	cr_assert_lt(ncompleted, MAXIO);
	completed_status[ncompleted] = status;
	completed[ncompleted++] = io;
}

static int
submit(struct vhd_bdev_channel *ch, unsigned int i)
{
	int rc;

	ios[i].type = VHD_IO_WRITE;
	ios[i].offset = 512ull * i;
	ios[i].length = 512;
	ios[i].cb = io_cb;
	g_in_submit = true;
	rc = vhd_bdev_submit(ch, &ios[i]);
	g_in_submit = false;
	return rc;
}

static struct vhd_bdev_channel *
setup_tb(void)
{
	struct vhd_bdev_channel *ch;

	memset(&tb, 0, sizeof(tb));
	vhd_strlcpy(tb.base.name, "tb", sizeof(tb.base.name));
	tb.base.ops = &g_tb_ops;
	tb.base.block_size = 512;
	tb.base.num_blocks = 1024;
	ch = vhd_bdev_channel_get(&tb.base);
	cr_assert_not_null(ch);
	return ch;
}

static void
assert_completed_in_order(unsigned int from, unsigned int to)
{
	cr_assert_eq(ncompleted, to, "completed %u, expected %u", ncompleted, to);
	for (unsigned int i = from; i < to; i++) {
		cr_assert_eq(completed[i], &ios[i], "completion %u out of order", i);
	}
}

Test(bdev, completions_only_from_poll)
{
	struct vhd_bdev_channel *ch = setup_tb();

	cr_assert_not(vhd_bdev_thread_busy());
	for (unsigned int i = 0; i < 3; i++) {
		cr_assert_eq(submit(ch, i), 0);
	}
	cr_assert_eq(ncompleted, 0);
	cr_assert_eq(ch->inflight, 3);
	cr_assert(vhd_bdev_thread_busy());
	cr_assert_eq(ios[0].ch, ch);
	cr_assert_eq(vhd_bdev_poll_channels(), 3);
	assert_completed_in_order(0, 3);
	cr_assert_eq(ch->inflight, 0);
	cr_assert_eq(ch->reaped, 3);
	cr_assert_not(vhd_bdev_thread_busy());
	/* Idle channels are not polled. */
	cr_assert_eq(vhd_bdev_poll_channels(), 0);
	cr_assert_eq(tb.polls, 1);
	vhd_bdev_channel_put(ch);
}

Test(bdev, deferred_completions_only_from_poll)
{
	struct vhd_bdev_channel *ch = setup_tb();

	tb.defer = true;
	tb.status = -EIO;
	cr_assert_eq(submit(ch, 0), 0);
	cr_assert_eq(submit(ch, 1), 0);
	cr_assert_eq(ncompleted, 0);
	cr_assert_eq(vhd_bdev_poll_channels(), 2);
	assert_completed_in_order(0, 2);
	cr_assert_eq(completed_status[0], -EIO);
	cr_assert_eq(completed_status[1], -EIO);
	cr_assert_not(vhd_bdev_thread_busy());
	vhd_bdev_channel_put(ch);
}

Test(bdev, full_backend_parks_and_retries_in_order)
{
	struct vhd_bdev_channel *ch = setup_tb();

	tb.cap = 2;
	for (unsigned int i = 0; i < 5; i++) {
		cr_assert_eq(submit(ch, i), 0, "a parked I/O counts as submitted");
	}
	cr_assert_eq(tb.naccepted, 2);
	cr_assert_eq(ch->inflight, 5);
	cr_assert_eq(ch->parked_head, &ios[2]);
	cr_assert_eq(ch->parked_tail, &ios[4]);
	cr_assert_eq(vhd_bdev_poll_channels(), 2);
	assert_completed_in_order(0, 2);
	cr_assert_eq(tb.naccepted, 4);
	cr_assert_eq(ch->parked_head, &ios[4]);
	cr_assert_eq(vhd_bdev_poll_channels(), 2);
	cr_assert_eq(tb.naccepted, 5);
	cr_assert_null(ch->parked_head);
	cr_assert_null(ch->parked_tail);
	cr_assert_eq(vhd_bdev_poll_channels(), 1);
	assert_completed_in_order(0, 5);
	for (unsigned int i = 0; i < 5; i++) {
		cr_assert_eq(tb.accepted[i], &ios[i]);
	}
	cr_assert_eq(ch->inflight, 0);
	vhd_bdev_channel_put(ch);
}

Test(bdev, nothing_overtakes_parked_io)
{
	struct vhd_bdev_channel *ch = setup_tb();

	tb.full = true;
	cr_assert_eq(submit(ch, 0), 0);
	tb.full = false;
	/* The backend has room now, but 0 is waiting. */
	cr_assert_eq(submit(ch, 1), 0);
	cr_assert_eq(tb.naccepted, 0);
	cr_assert_eq(vhd_bdev_poll_channels(), 0);
	cr_assert_eq(tb.naccepted, 2);
	cr_assert_eq(tb.accepted[0], &ios[0]);
	cr_assert_eq(tb.accepted[1], &ios[1]);
	cr_assert_eq(vhd_bdev_poll_channels(), 2);
	assert_completed_in_order(0, 2);
	vhd_bdev_channel_put(ch);
}

Test(bdev, parked_io_retried_on_a_backend_that_finishes_in_submit)
{
	struct vhd_bdev_channel *ch = setup_tb();

	tb.defer = true;
	tb.full = true;
	for (unsigned int i = 0; i < 4; i++) {
		cr_assert_eq(submit(ch, i), 0);
	}
	tb.full = false;
	for (unsigned int round = 0; round < 4 && ncompleted < 4; round++) {
		vhd_bdev_poll_channels();
	}
	cr_assert_eq(tb.naccepted, 4, "parked I/Os lost: only %u reached the backend",
		     tb.naccepted);
	assert_completed_in_order(0, 4);
	cr_assert_eq(ch->inflight, 0);
	cr_assert_null(ch->parked_head);
	vhd_bdev_channel_put(ch);
}

Test(bdev, submit_error_is_not_completed)
{
	struct vhd_bdev_channel *ch = setup_tb();

	tb.fail_rc = -EINVAL;
	cr_assert_eq(submit(ch, 0), -EINVAL);
	cr_assert_eq(ch->inflight, 0);
	cr_assert_not(vhd_bdev_thread_busy());
	vhd_bdev_poll_channels();
	cr_assert_eq(ncompleted, 0);
	vhd_bdev_channel_put(ch);
}

Test(bdev, parked_io_failing_on_retry_completes_with_the_error)
{
	struct vhd_bdev_channel *ch = setup_tb();

	tb.full = true;
	cr_assert_eq(submit(ch, 0), 0);
	cr_assert_eq(submit(ch, 1), 0);
	tb.full = false;
	tb.fail_rc = -ENOSPC;
	vhd_bdev_poll_channels();
	assert_completed_in_order(0, 2);
	cr_assert_eq(completed_status[0], -ENOSPC);
	cr_assert_eq(completed_status[1], -ENOSPC);
	cr_assert_eq(ch->inflight, 0);
	cr_assert_null(ch->parked_head);
	vhd_bdev_channel_put(ch);
}

static struct vhd_bdev_channel *g_chain_ch;

static void
chain_cb(struct vhd_bdev_io *io, int status)
{
	io_cb(io, status);
	if (io == &ios[0]) {
		/* A completion that starts the next I/O (as discard segments do). */
		ios[1].cb = io_cb;
		cr_assert_eq(vhd_bdev_submit(g_chain_ch, &ios[1]), 0);
	}
}

Test(bdev, completion_callback_can_submit)
{
	g_chain_ch = setup_tb();
	tb.defer = true;
	ios[0].cb = chain_cb;
	cr_assert_eq(vhd_bdev_submit(g_chain_ch, &ios[0]), 0);
	for (unsigned int round = 0; round < 3 && ncompleted < 2; round++) {
		vhd_bdev_poll_channels();
	}
	assert_completed_in_order(0, 2);
	cr_assert_eq(g_chain_ch->inflight, 0);
	vhd_bdev_channel_put(g_chain_ch);
}

Test(bdev, flush_channels_only_with_io_in_flight)
{
	struct vhd_bdev_channel *ch = setup_tb();

	vhd_bdev_flush_channels();
	cr_assert_eq(tb.flushes, 0);
	cr_assert_eq(submit(ch, 0), 0);
	vhd_bdev_flush_channels();
	cr_assert_eq(tb.flushes, 1);
	vhd_bdev_poll_channels();
	vhd_bdev_channel_put(ch);
}

Test(bdev, channel_refcount)
{
	struct vhd_bdev_channel *ch = setup_tb(), *ch2;

	cr_assert_eq(ch->refs, 1);
	cr_assert_eq(ch->bdev, &tb.base);
	cr_assert_eq(tb.base.nchannels, 1);
	ch2 = vhd_bdev_channel_get(&tb.base);
	cr_assert_eq(ch2, ch);
	cr_assert_eq(ch->refs, 2);
	cr_assert_eq(tb.created, 1);
	vhd_bdev_channel_put(ch);
	cr_assert_eq(tb.destroyed, 0);
	cr_assert_eq(ch->refs, 1);
	vhd_bdev_channel_put(ch);
	cr_assert_eq(tb.destroyed, 1);
	cr_assert_eq(tb.base.nchannels, 0);
	/* The thread's list forgot it: the next get makes a new one. */
	cr_assert_not(vhd_bdev_thread_busy());
	ch = vhd_bdev_channel_get(&tb.base);
	cr_assert_eq(tb.created, 2);
	cr_assert_eq(ch->refs, 1);
	cr_assert_eq(ch->inflight, 0);
	vhd_bdev_channel_put(ch);
}

static struct vhd_bdev_channel *g_main_ch;

static void *
other_thread(void *arg)
{
	struct vhd_bdev_channel *ch;

	/* The main thread has I/O in flight; this thread has none. */
	cr_assert_not(vhd_bdev_thread_busy());
	ch = vhd_bdev_channel_get(&tb.base);
	cr_assert_not_null(ch);
	cr_assert_neq(ch, g_main_ch);
	cr_assert_eq(ch->refs, 1);
	cr_assert_eq(__atomic_load_n(&tb.base.nchannels, __ATOMIC_ACQUIRE), 2);
	cr_assert_eq(vhd_bdev_poll_channels(), 0);
	vhd_bdev_channel_put(ch);
	return NULL;
}

Test(bdev, channel_per_thread)
{
	pthread_t t;

	g_main_ch = setup_tb();
	cr_assert_eq(submit(g_main_ch, 0), 0);
	cr_assert_eq(pthread_create(&t, NULL, other_thread, NULL), 0);
	cr_assert_eq(pthread_join(t, NULL), 0);
	cr_assert_eq(tb.created, 2);
	cr_assert_eq(tb.destroyed, 1);
	cr_assert_eq(tb.base.nchannels, 1);
	cr_assert_eq(ncompleted, 0, "the other thread must not reap our I/O");
	cr_assert_eq(vhd_bdev_poll_channels(), 1);
	vhd_bdev_channel_put(g_main_ch);
	cr_assert_eq(tb.base.nchannels, 0);
}

Test(bdev, thread_busy_with_several_channels)
{
	struct test_bdev other;
	struct vhd_bdev_channel *ch = setup_tb(), *ch2;

	other = tb;
	vhd_strlcpy(other.base.name, "other", sizeof(other.base.name));
	other.base.nchannels = 0;
	ch2 = vhd_bdev_channel_get(&other.base);
	cr_assert_neq(ch, ch2);
	cr_assert_not(vhd_bdev_thread_busy());
	cr_assert_eq(submit(ch, 0), 0);
	cr_assert(vhd_bdev_thread_busy());
	vhd_bdev_poll_channels();
	cr_assert_not(vhd_bdev_thread_busy());
	vhd_bdev_channel_put(ch2);
	vhd_bdev_channel_put(ch);
}

Test(bdev, create_dispatch)
{
	struct vhd_backend_conf conf = {.name = "x", .size = 1 << 20};
	struct vhd_bdev *b = NULL;

	/* nvme: no PCI address is a bad conf; a PCI address with no device behind it is
	 * refused by the sysfs checks before VFIO is touched. */
	conf.type = VHD_BACKEND_NVME;
	conf.nsid = 1;
	cr_assert_eq(vhd_bdev_create(&conf, &b), -EINVAL);
	vhd_strlcpy(conf.pci, "ffff:ff:1f.7", sizeof(conf.pci));
	cr_assert_eq(vhd_bdev_create(&conf, &b), -ENODEV);
	conf.type = (enum vhd_backend_type)99;
	cr_assert_eq(vhd_bdev_create(&conf, &b), -EINVAL);
	conf.type = VHD_BACKEND_NULL;
	cr_assert_eq(vhd_bdev_create(&conf, &b), 0);
	cr_assert_eq(b->type, VHD_BACKEND_NULL);
	vhd_bdev_destroy(b);
	conf.type = VHD_BACKEND_MALLOC;
	cr_assert_eq(vhd_bdev_create(&conf, &b), 0);
	cr_assert_eq(b->type, VHD_BACKEND_MALLOC);
	vhd_bdev_destroy(b);
}

/* ---- malloc and null ---- */

static struct vhd_bdev *
create(enum vhd_backend_type type, uint64_t size, uint32_t bs)
{
	struct vhd_backend_conf conf = {.name = "ram0", .type = type, .size = size,
					.block_size = bs};
	struct vhd_bdev *b = NULL;

	cr_assert_eq(vhd_bdev_create(&conf, &b), 0);
	return b;
}

static int
create_rc(enum vhd_backend_type type, uint64_t size, uint32_t bs)
{
	struct vhd_backend_conf conf = {.name = "ram0", .type = type, .size = size,
					.block_size = bs};
	struct vhd_bdev *b = NULL;
	int rc = vhd_bdev_create(&conf, &b);

	if (rc == 0) {
		vhd_bdev_destroy(b);
	}
	return rc;
}

Test(ram, constructors_validate)
{
	const enum vhd_backend_type types[] = {VHD_BACKEND_MALLOC, VHD_BACKEND_NULL};

	for (unsigned int i = 0; i < 2; i++) {
		enum vhd_backend_type t = types[i];

		cr_assert_eq(create_rc(t, 0, 512), -EINVAL);
		cr_assert_eq(create_rc(t, 1000, 512), -EINVAL);
		cr_assert_eq(create_rc(t, 8192, 4096), 0);
		cr_assert_eq(create_rc(t, 6144, 4096), -EINVAL);
		/* Block sizes: a power of two in 512..65536 (the sizes are multiples of them). */
		cr_assert_eq(create_rc(t, 1000 * 1024, 1000), -EINVAL, "type %d bs 1000", t);
		cr_assert_eq(create_rc(t, 1 << 20, 256), -EINVAL, "type %d bs 256", t);
		cr_assert_eq(create_rc(t, 1 << 20, 131072), -EINVAL, "type %d bs 128K", t);
		cr_assert_eq(create_rc(t, 1 << 20, 65536), 0);
		cr_assert_eq(create_rc(t, 1 << 20, 512), 0);
	}
}

Test(ram, geometry)
{
	struct vhd_bdev *m = create(VHD_BACKEND_MALLOC, 1 << 20, 0);
	struct vhd_bdev *n = create(VHD_BACKEND_NULL, 1 << 20, 4096);

	cr_assert_str_eq(m->name, "ram0");
	cr_assert_eq(m->block_size, 512);
	cr_assert_eq(vhd_bdev_num_blocks(m), 2048);
	cr_assert(m->has_discard);
	cr_assert(m->has_write_zeroes);
	cr_assert_not(m->volatile_cache);
	cr_assert_not(m->readonly);
	cr_assert_eq(n->block_size, 4096);
	cr_assert_eq(vhd_bdev_num_blocks(n), 256);
	cr_assert_not(n->has_discard);
	cr_assert_not(n->has_write_zeroes);
	cr_assert_not(n->volatile_cache);
	vhd_bdev_destroy(m);
	vhd_bdev_destroy(n);
}

/* Run one I/O on the calling thread's channel to completion. */
static int
run_io(struct vhd_bdev *b, enum vhd_io_type type, uint64_t off, uint64_t len,
       struct iovec *iov, int iovcnt)
{
	struct vhd_bdev_channel *ch = vhd_bdev_channel_get(b);
	struct vhd_bdev_io io = {.type = type, .offset = off, .length = len, .iov = iov,
				 .iovcnt = iovcnt, .cb = io_cb};
	unsigned int before = ncompleted;
	int rc;

	cr_assert_not_null(ch);
	g_in_submit = true;
	rc = vhd_bdev_submit(ch, &io);
	g_in_submit = false;
	cr_assert_eq(rc, 0);
	for (unsigned int i = 0; i < 1000 && ncompleted == before; i++) {
		vhd_bdev_flush_channels();
		vhd_bdev_poll_channels();
	}
	cr_assert_eq(ncompleted, before + 1);
	cr_assert_eq(completed[before], &io);
	vhd_bdev_channel_put(ch);
	ncompleted = before;
	return completed_status[before];
}

static int
rw(struct vhd_bdev *b, enum vhd_io_type type, uint64_t off, void *buf, uint64_t len)
{
	struct iovec iov = {buf, len};

	return run_io(b, type, off, len, &iov, 1);
}

Test(ram, read_write_scattered)
{
	struct vhd_bdev *b = create(VHD_BACKEND_MALLOC, 1 << 20, 512);
	uint8_t w[3 * 512], rd[3 * 512];
	struct iovec wiov[] = {{w, 100}, {w + 100, 1000}, {w + 1100, 436}};
	struct iovec riov[] = {{rd, 1024}, {rd + 1024, 512}};

	for (unsigned int i = 0; i < sizeof(w); i++) {
		w[i] = (uint8_t)(i * 7 + 3);
	}
	memset(rd, 0xee, sizeof(rd));
	cr_assert_eq(run_io(b, VHD_IO_WRITE, 5 * 512, sizeof(w), wiov, 3), 0);
	cr_assert_eq(run_io(b, VHD_IO_READ, 5 * 512, sizeof(rd), riov, 2), 0);
	cr_assert_arr_eq(rd, w, sizeof(w));
	/* The last block of the disk, and untouched blocks read zeroes. */
	cr_assert_eq(rw(b, VHD_IO_WRITE, (1 << 20) - 512, w, 512), 0);
	cr_assert_eq(rw(b, VHD_IO_READ, (1 << 20) - 512, rd, 512), 0);
	cr_assert_arr_eq(rd, w, 512);
	cr_assert_eq(rw(b, VHD_IO_READ, 4 * 512, rd, 512), 0);
	for (unsigned int i = 0; i < 512; i++) {
		cr_assert_eq(rd[i], 0);
	}
	cr_assert_eq(rw(b, VHD_IO_FLUSH, 0, NULL, 0), 0);
	vhd_bdev_destroy(b);
}

#define DISK (256u << 10)

static uint8_t model[DISK], disk[DISK];

static void
fill(struct vhd_bdev *b, uint8_t seed)
{
	for (unsigned int i = 0; i < DISK; i++) {
		model[i] = (uint8_t)(i * 13 + seed) | 1;
	}
	cr_assert_eq(rw(b, VHD_IO_WRITE, 0, model, DISK), 0);
}

Test(ram, zeroing_edges)
{
	struct vhd_bdev *b = create(VHD_BACKEND_MALLOC, DISK, 512);
	const struct {
		uint64_t off, len;
	} cases[] = {
		{512, 512},                  /* inside one page */
		{4096, 4096},                /* exactly one page */
		{0, 3 * 4096},               /* whole pages from the start */
		{512, 8192 + 1024},          /* partial head, whole page, partial tail */
		{3584, 1024},                /* straddles a page boundary, no whole page */
		{4096 - 512, 4096 + 1024},   /* partial, whole, partial */
		{DISK - 4096 - 512, 4096 + 512}, /* up to the end of the disk */
		{DISK - 512, 512},
		{0, DISK},
	};

	for (unsigned int i = 0; i < VHD_ARRAY_SIZE(cases); i++) {
		enum vhd_io_type t = i % 2 ? VHD_IO_DISCARD : VHD_IO_WRITE_ZEROES;

		fill(b, (uint8_t)i);
		cr_assert_eq(run_io(b, t, cases[i].off, cases[i].len, NULL, 0), 0);
		memset(model + cases[i].off, 0, cases[i].len);
		cr_assert_eq(rw(b, VHD_IO_READ, 0, disk, DISK), 0);
		for (unsigned int j = 0; j < DISK; j++) {
			cr_assert_eq(disk[j], model[j],
				     "case %u (%llu+%llu): byte %u is %u, not %u", i,
				     (unsigned long long)cases[i].off,
				     (unsigned long long)cases[i].len, j, disk[j], model[j]);
		}
		/* Zeroed pages are usable again. */
		cr_assert_eq(rw(b, VHD_IO_WRITE, cases[i].off, model + 512, 512), 0);
		cr_assert_eq(rw(b, VHD_IO_READ, cases[i].off, disk, 512), 0);
		cr_assert_arr_eq(disk, model + 512, 512);
	}
	vhd_bdev_destroy(b);
}

Test(ram, resize)
{
	struct vhd_bdev *b = create(VHD_BACKEND_MALLOC, 1 << 20, 4096);
	struct vhd_bdev *n = create(VHD_BACKEND_NULL, 1 << 20, 4096);

	cr_assert_eq(b->ops->resize(b, 1 << 19), 0);
	cr_assert_eq(vhd_bdev_num_blocks(b), 128);
	cr_assert_eq(b->ops->resize(b, 1 << 20), 0);
	cr_assert_eq(vhd_bdev_num_blocks(b), 256);
	cr_assert_eq(b->ops->resize(b, 64ull << 30), -ENOSPC);
	cr_assert_eq(b->ops->resize(b, 0), -EINVAL);
	cr_assert_eq(b->ops->resize(b, 6144), -EINVAL);
	cr_assert_eq(vhd_bdev_num_blocks(b), 256);
	/* null keeps no data, so it can grow. */
	cr_assert_eq(n->ops->resize(n, 1ull << 40), 0);
	cr_assert_eq(vhd_bdev_num_blocks(n), (1ull << 40) / 4096);
	cr_assert_eq(n->ops->resize(n, 0), -EINVAL);
	cr_assert_eq(n->ops->resize(n, 512), -EINVAL);
	vhd_bdev_destroy(b);
	vhd_bdev_destroy(n);
}

Test(ram, null_does_not_touch_data)
{
	struct vhd_bdev *n = create(VHD_BACKEND_NULL, 1 << 20, 512);
	uint8_t buf[1024];

	memset(buf, 0x77, sizeof(buf));
	cr_assert_eq(rw(n, VHD_IO_WRITE, 0, buf, sizeof(buf)), 0);
	memset(buf, 0x66, sizeof(buf));
	cr_assert_eq(rw(n, VHD_IO_READ, 0, buf, sizeof(buf)), 0);
	for (unsigned int i = 0; i < sizeof(buf); i++) {
		cr_assert_eq(buf[i], 0x66);
	}
	cr_assert_eq(rw(n, VHD_IO_FLUSH, 0, NULL, 0), 0);
	vhd_bdev_destroy(n);
}
