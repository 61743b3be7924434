/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Linux AIO backend (src/bdev/aio.c) on a temporary file under /var/tmp (tmpfs has no
 * O_DIRECT): direct and buffered paths, flush, FUA, discard and write zeroes through the
 * offload thread, resize, exclusive opening, read-only files, back-pressure.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "aio_internal.h"
#include "vhostd/bdev.h"

#define FILE_SIZE (1u << 20)

static char g_path[64];
static struct vhd_bdev *bdev;

static void
init(void)
{
	int fd;

	snprintf(g_path, sizeof(g_path), "/var/tmp/vhd-aio-test-XXXXXX");
	fd = mkstemp(g_path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, FILE_SIZE), 0);
	close(fd);
}

static void
fini(void)
{
	if (bdev != NULL) {
		vhd_bdev_destroy(bdev);
	}
	unlink(g_path);
}

TestSuite(aio, .init = init, .fini = fini, .timeout = 60);

static int
open_rc(uint32_t bs, bool readonly, struct vhd_bdev **out)
{
	struct vhd_backend_conf conf = {.name = "disk0", .type = VHD_BACKEND_AIO,
					.block_size = bs, .readonly = readonly};

	vhd_strlcpy(conf.path, g_path, sizeof(conf.path));
	return vhd_bdev_create(&conf, out);
}

static struct vhd_bdev *
open_file(uint32_t bs, bool readonly)
{
	cr_assert_eq(open_rc(bs, readonly, &bdev), 0);
	return bdev;
}

/* ---- running I/O ---- */

#define MAXIO 1024

static unsigned int ncompleted;
static int statuses[MAXIO];
static struct vhd_bdev_io ios[MAXIO];

static void
io_cb(struct vhd_bdev_io *io, int status)
{
	unsigned int i = (unsigned int)(io - ios);

	cr_assert_lt(i, MAXIO);
	statuses[i] = status;
	ncompleted++;
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Flush and poll until `want` completions have arrived (5 s at most). */
static void
wait_for(unsigned int want)
{
	uint64_t deadline = now_ms() + 5000;

	while (ncompleted < want && now_ms() < deadline) {
		vhd_bdev_flush_channels();
		if (vhd_bdev_poll_channels() == 0) {
			usleep(100);
		}
	}
	cr_assert_eq(ncompleted, want, "%u of %u I/Os completed", ncompleted, want);
}

static void
prep(unsigned int i, enum vhd_io_type type, uint64_t off, uint64_t len, struct iovec *iov,
     int iovcnt, uint32_t flags)
{
	memset(&ios[i], 0, sizeof(ios[i]));
	ios[i].type = type;
	ios[i].flags = flags;
	ios[i].offset = off;
	ios[i].length = len;
	ios[i].iov = iov;
	ios[i].iovcnt = iovcnt;
	ios[i].cb = io_cb;
}

static int
run_io(enum vhd_io_type type, uint64_t off, uint64_t len, struct iovec *iov, int iovcnt,
       uint32_t flags)
{
	struct vhd_bdev_channel *ch = vhd_bdev_channel_get(bdev);

	cr_assert_not_null(ch);
	ncompleted = 0;
	prep(0, type, off, len, iov, iovcnt, flags);
	cr_assert_eq(vhd_bdev_submit(ch, &ios[0]), 0);
	wait_for(1);
	vhd_bdev_channel_put(ch);
	return statuses[0];
}

static int
rw(enum vhd_io_type type, uint64_t off, void *buf, uint64_t len, uint32_t flags)
{
	struct iovec iov = {buf, len};

	return run_io(type, off, len, &iov, 1, flags);
}

static void *
aligned(size_t len)
{
	void *p = NULL;

	cr_assert_eq(posix_memalign(&p, 4096, len), 0);
	return p;
}

static void
pattern(uint8_t *p, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++) {
		p[i] = (uint8_t)(((i * 29 + seed * 11) ^ (i >> 9)) | 1);
	}
}

/* What the file holds, read behind the backend's back. */
static void
file_read(uint64_t off, void *buf, size_t len)
{
	int fd = open(g_path, O_RDONLY);

	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static void
file_write(uint64_t off, const void *buf, size_t len)
{
	int fd = open(g_path, O_WRONLY);

	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
	cr_assert_eq(fsync(fd), 0);
	close(fd);
}

static void
assert_file(uint64_t off, const uint8_t *want, size_t len)
{
	uint8_t *got = malloc(len);

	file_read(off, got, len);
	for (size_t i = 0; i < len; i++) {
		cr_assert_eq(got[i], want[i], "file byte %llu: %#x, expected %#x",
			     (unsigned long long)(off + i), got[i], want[i]);
	}
	free(got);
}

/* ---- tests ---- */

Test(aio, create_and_geometry)
{
	struct vhd_bdev *b = open_file(0, false);

	cr_assert_eq(b->type, VHD_BACKEND_AIO);
	cr_assert_str_eq(b->name, "disk0");
	cr_assert_geq(b->block_size, 512);
	cr_assert_eq(vhd_bdev_num_blocks(b), FILE_SIZE / b->block_size);
	cr_assert(b->has_discard);
	cr_assert(b->has_write_zeroes);
	cr_assert(b->volatile_cache);
	cr_assert(b->has_fua);
	cr_assert_not(b->readonly);
	vhd_bdev_destroy(b);
	bdev = open_file(4096, false);
	cr_assert_eq(bdev->block_size, 4096);
	cr_assert_eq(vhd_bdev_num_blocks(bdev), FILE_SIZE / 4096);
}

Test(aio, create_refusals)
{
	struct vhd_backend_conf conf = {.name = "x", .type = VHD_BACKEND_AIO};
	struct vhd_bdev *b = NULL;
	int fd;

	cr_assert_eq(open_rc(1000, false, &b), -EINVAL);
	cr_assert_eq(open_rc(256, false, &b), -EINVAL);
	cr_assert_eq(open_rc(131072, false, &b), -EINVAL);
	vhd_strlcpy(conf.path, "/var/tmp/vhd-aio-test-does-not-exist", sizeof(conf.path));
	cr_assert_eq(vhd_bdev_create(&conf, &b), -ENOENT);
	vhd_strlcpy(conf.path, "/var/tmp", sizeof(conf.path));
	cr_assert_eq(vhd_bdev_create(&conf, &b), -EISDIR);
	/* Smaller than one block. */
	fd = open(g_path, O_WRONLY);
	cr_assert_eq(ftruncate(fd, 4000), 0);
	close(fd);
	cr_assert_eq(open_rc(4096, false, &b), -EINVAL);
	cr_assert_eq(open_rc(512, false, &bdev), 0);
	cr_assert_eq(vhd_bdev_num_blocks(bdev), 7);
}

Test(aio, aligned_read_write)
{
	uint8_t *w = aligned(8192), *r = aligned(8192);
	struct iovec iov[3];

	open_file(512, false);
	pattern(w, 8192, 1);
	cr_assert_eq(rw(VHD_IO_WRITE, 4096, w, 8192, 0), 0);
	memset(r, 0, 8192);
	cr_assert_eq(rw(VHD_IO_READ, 4096, r, 8192, 0), 0);
	cr_assert_arr_eq(r, w, 8192);
	assert_file(4096, w, 8192);
	/* Scattered, 512-byte multiples. */
	memset(r, 0, 8192);
	iov[0] = (struct iovec){r, 512};
	iov[1] = (struct iovec){r + 4096, 4096};
	iov[2] = (struct iovec){r + 1024, 512};
	cr_assert_eq(run_io(VHD_IO_READ, 4096, 5120, iov, 3, 0), 0);
	cr_assert_arr_eq(r, w, 512);
	cr_assert_arr_eq(r + 4096, w + 512, 4096);
	cr_assert_arr_eq(r + 1024, w + 4608, 512);
	free(w);
	free(r);
}

Test(aio, unaligned_buffers)
{
	uint8_t *wb = malloc(8192 + 1), *rb = malloc(8192 + 1), *ref = aligned(8192);
	uint8_t *w = wb + 1, *r = rb + 1;

	open_file(512, false);
	pattern(w, 8192, 2);
	cr_assert_eq(rw(VHD_IO_WRITE, 512, w, 8192, 0), 0);
	assert_file(512, w, 8192);
	memset(r, 0, 8192);
	cr_assert_eq(rw(VHD_IO_READ, 512, r, 8192, 0), 0);
	cr_assert_arr_eq(r, w, 8192);
	/* Direct write, buffered read of the same range, and the other way round. */
	pattern(ref, 8192, 3);
	cr_assert_eq(rw(VHD_IO_WRITE, 512, ref, 8192, 0), 0);
	cr_assert_eq(rw(VHD_IO_READ, 512, r, 8192, 0), 0);
	cr_assert_arr_eq(r, ref, 8192);
	pattern(w, 8192, 4);
	cr_assert_eq(rw(VHD_IO_WRITE, 512, w, 8192, 0), 0);
	cr_assert_eq(rw(VHD_IO_READ, 512, ref, 8192, 0), 0);
	cr_assert_arr_eq(ref, w, 8192);
	/* Odd-length segments (a 512-byte total made of 100 + 412). */
	{
		struct iovec iov[] = {{r, 100}, {r + 100, 412}};

		memset(r, 0, 512);
		cr_assert_eq(run_io(VHD_IO_READ, 512, 512, iov, 2, 0), 0);
		cr_assert_arr_eq(r, w, 512);
	}
	free(wb);
	free(rb);
	free(ref);
}

Test(aio, flush_and_fua)
{
	uint8_t *w = aligned(4096);

	open_file(512, false);
	cr_assert_eq(rw(VHD_IO_FLUSH, 0, NULL, 0, 0), 0);
	pattern(w, 4096, 5);
	cr_assert_eq(rw(VHD_IO_WRITE, 0, w, 4096, VHD_IO_F_FUA), 0);
	assert_file(0, w, 4096);
	cr_assert_eq(rw(VHD_IO_WRITE, 8192, w + 1, 512, VHD_IO_F_FUA), 0);
	assert_file(8192, w + 1, 512);
	cr_assert_eq(rw(VHD_IO_FLUSH, 0, NULL, 0, 0), 0);
	free(w);
}

Test(aio, discard_and_write_zeroes_read_back_zeroes)
{
	static uint8_t model[64 << 10], got[64 << 10];
	const struct {
		enum vhd_io_type type;
		uint32_t flags;
		uint64_t off, len;
	} cases[] = {
		{VHD_IO_WRITE_ZEROES, 0, 512, 1024},
		{VHD_IO_WRITE_ZEROES, VHD_IO_F_UNMAP, 4096, 8192},
		{VHD_IO_WRITE_ZEROES, VHD_IO_F_UNMAP, 3584, 1024},
		{VHD_IO_DISCARD, 0, 16384, 4096 + 512},
		{VHD_IO_DISCARD, 0, 1536, 512},
		{VHD_IO_WRITE_ZEROES, 0, 0, 64 << 10},
	};
	uint8_t *buf = aligned(sizeof(model));

	open_file(512, false);
	for (unsigned int i = 0; i < VHD_ARRAY_SIZE(cases); i++) {
		pattern(model, sizeof(model), 10 + i);
		memcpy(buf, model, sizeof(model));
		cr_assert_eq(rw(VHD_IO_WRITE, 0, buf, sizeof(model), 0), 0);
		cr_assert_eq(run_io(cases[i].type, cases[i].off, cases[i].len, NULL, 0,
				    cases[i].flags), 0, "case %u", i);
		memset(model + cases[i].off, 0, cases[i].len);
		cr_assert_eq(rw(VHD_IO_READ, 0, buf, sizeof(model), 0), 0);
		for (size_t j = 0; j < sizeof(model); j++) {
			cr_assert_eq(buf[j], model[j], "case %u byte %zu", i, j);
		}
		file_read(0, got, sizeof(got));
		cr_assert_arr_eq(got, model, sizeof(model), "case %u: file", i);
	}
	free(buf);
}

Test(aio, many_offloaded_requests_between_polls)
{
	struct vhd_bdev_channel *ch;
	const unsigned int first = 256, more = 64;

	open_file(512, false);
	ch = vhd_bdev_channel_get(bdev);
	/* Fill the offload thread's queue, let it finish everything without being polled, then
	 * give it more: its completions must not be dropped. */
	for (unsigned int i = 0; i < first; i++) {
		prep(i, VHD_IO_WRITE_ZEROES, 512ull * i, 512, NULL, 0, 0);
		cr_assert_eq(vhd_bdev_submit(ch, &ios[i]), 0);
	}
	usleep(300 * 1000);
	for (unsigned int i = first; i < first + more; i++) {
		prep(i, VHD_IO_WRITE_ZEROES, 512ull * (i % 2048), 512, NULL, 0, 0);
		cr_assert_eq(vhd_bdev_submit(ch, &ios[i]), 0);
	}
	usleep(300 * 1000);
	wait_for(first + more);
	for (unsigned int i = 0; i < first + more; i++) {
		cr_assert_eq(statuses[i], 0, "I/O %u", i);
	}
	cr_assert_not(vhd_bdev_thread_busy());
	vhd_bdev_channel_put(ch);
}

Test(aio, more_reads_than_the_queue_depth)
{
	struct vhd_bdev_channel *ch;
	uint8_t *buf = aligned(MAXIO * 512ull), *w = aligned(FILE_SIZE);

	open_file(512, false);
	pattern(w, FILE_SIZE, 7);
	cr_assert_eq(rw(VHD_IO_WRITE, 0, w, FILE_SIZE, 0), 0);
	ch = vhd_bdev_channel_get(bdev);
	ncompleted = 0;
	{
		static struct iovec iov[MAXIO];

		for (unsigned int i = 0; i < MAXIO; i++) {
			iov[i] = (struct iovec){buf + 512ull * i, 512};
			prep(i, VHD_IO_READ, 512ull * (MAXIO - 1 - i), 512, &iov[i], 1, 0);
			cr_assert_eq(vhd_bdev_submit(ch, &ios[i]), 0);
		}
	}
	wait_for(MAXIO);
	for (unsigned int i = 0; i < MAXIO; i++) {
		cr_assert_eq(statuses[i], 0);
		cr_assert_arr_eq(buf + 512ull * i, w + 512ull * (MAXIO - 1 - i), 512, "I/O %u", i);
	}
	vhd_bdev_channel_put(ch);
	free(buf);
	free(w);
}

Test(aio, resize)
{
	int fd;

	open_file(4096, false);
	cr_assert_eq(bdev->ops->resize(bdev, 8192), -ENOTSUP);
	fd = open(g_path, O_WRONLY);
	cr_assert_eq(ftruncate(fd, 2 * FILE_SIZE + 1000), 0);
	cr_assert_eq(bdev->ops->resize(bdev, 0), 0);
	cr_assert_eq(vhd_bdev_num_blocks(bdev), 2 * FILE_SIZE / 4096);
	cr_assert_eq(ftruncate(fd, 1000), 0);
	cr_assert_eq(bdev->ops->resize(bdev, 0), -EINVAL);
	cr_assert_eq(vhd_bdev_num_blocks(bdev), 2 * FILE_SIZE / 4096);
	cr_assert_eq(ftruncate(fd, 3 * 4096), 0);
	cr_assert_eq(bdev->ops->resize(bdev, 0), 0);
	cr_assert_eq(vhd_bdev_num_blocks(bdev), 3);
	close(fd);
}

Test(aio, short_transfer_is_an_error)
{
	uint8_t *buf = aligned(4096);
	int fd;

	open_file(512, false);
	/* The file shrinks under us: a read past its new end comes back short. */
	fd = open(g_path, O_WRONLY);
	cr_assert_eq(ftruncate(fd, 4096 + 512), 0);
	close(fd);
	cr_assert_eq(rw(VHD_IO_READ, 4096, buf, 4096, 0), -EIO);
	cr_assert_eq(rw(VHD_IO_READ, 4096, buf, 512, 0), 0);
	free(buf);
}

Test(aio, one_writer_per_file)
{
	struct vhd_bdev *b2 = NULL, *b3 = NULL;

	open_file(512, false);
	cr_assert_eq(open_rc(512, false, &b2), -EBUSY);
	cr_assert_eq(open_rc(512, true, &b2), -EBUSY);
	vhd_bdev_destroy(bdev);
	bdev = NULL;
	cr_assert_eq(open_rc(512, true, &bdev), 0);
	cr_assert_eq(open_rc(512, true, &b2), 0, "readers share");
	cr_assert_eq(open_rc(512, false, &b3), -EBUSY);
	vhd_bdev_destroy(b2);
}

Test(aio, read_only_file)
{
	uint8_t *w = aligned(4096), *r = aligned(4096);

	pattern(w, 4096, 8);
	file_write(0, w, 4096);
	open_file(512, true);
	cr_assert(bdev->readonly);
	cr_assert_not(bdev->has_discard);
	cr_assert_not(bdev->has_write_zeroes);
	cr_assert_eq(rw(VHD_IO_READ, 0, r, 4096, 0), 0);
	cr_assert_arr_eq(r, w, 4096);
	/* The device refuses writes first; if one got here, it fails without writing. */
	memset(r, 0x11, 4096);
	cr_assert_lt(rw(VHD_IO_WRITE, 0, r, 4096, 0), 0);
	assert_file(0, w, 4096);
	free(w);
	free(r);
}

/* Decides O_DIRECT vs the buffered descriptor; Linux wants every segment length aligned to
 * the logical block size, not just to the (often smaller) memory alignment. */
Test(aio, dio_alignment_rules)
{
	static uint8_t buf[16384] __attribute__((aligned(4096)));
	struct iovec iov[2];
	struct vhd_bdev_io io = {.type = VHD_IO_READ, .iov = iov, .iovcnt = 2};

	/* 4-byte memory alignment, 512-byte blocks (typical NVMe). */
	iov[0] = (struct iovec){buf, 512};
	iov[1] = (struct iovec){buf + 1024, 3584};
	io.offset = 4096;
	io.length = 4096;
	cr_assert(vhd_aio_dio_aligned(4, 512, &io));
	/* A segment of 516 bytes is 4-byte aligned but not a whole block: not for O_DIRECT. */
	iov[0].iov_len = 516;
	iov[1].iov_len = 3580;
	cr_assert(!vhd_aio_dio_aligned(4, 512, &io));
	/* Buffer address off the memory alignment. */
	iov[0] = (struct iovec){buf + 2, 512};
	iov[1] = (struct iovec){buf + 1024, 3584};
	cr_assert(!vhd_aio_dio_aligned(4, 512, &io));
	/* Offset off the block size. */
	iov[0].iov_base = buf;
	io.offset = 4096 + 512;
	cr_assert(vhd_aio_dio_aligned(4, 512, &io));
	cr_assert(!vhd_aio_dio_aligned(4, 4096, &io));
}
