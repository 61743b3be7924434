/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vub-io: copy bytes between a file and a vhost-user-blk back-end, as a front-end (libvub,
 * no guest). For tests that need known data on a disk or off it, e.g. inside an e2e guest
 * where vhostd drives an NVMe drive and the host checks the drive's image afterwards.
 *
 *   vub-io [--layout aligned|odd] [--chunk SIZE] SOCKET write OFFSET LENGTH FILE
 *   vub-io [--layout aligned|odd] [--chunk SIZE] SOCKET read  OFFSET LENGTH FILE
 *
 * OFFSET and LENGTH are bytes, multiples of 512. write sends FILE's first LENGTH bytes and
 * then a FLUSH (when offered); read stores the data in FILE. --layout odd scatters each
 * request's data over descriptors at odd addresses with odd lengths (1000, 3096, 7, ...),
 * which no PRP list can describe: the back-end must use SGLs or bounce buffers.
 * Exit status: 0 success, 1 an I/O or protocol error, 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "vub_blk.h"

#define QSIZE 64
#define MAX_SEGS 32
#define DEFAULT_CHUNK (128u << 10)
#define IO_TIMEOUT_S 30

static const uint32_t g_odd_lens[] = {1000, 3096, 7, 4096, 517, 2, 8192, 2555};

struct req {
	struct virtio_blk_outhdr *hdr;
	uint8_t *status;
	uint8_t *area;            /* data area in shared memory */
	struct vub_buf bufs[MAX_SEGS + 2];
	uint8_t *seg_va[MAX_SEGS];
	unsigned int nseg;
};

static int
usage(const char *prog)
{
	fprintf(stderr, "usage: %s [--layout aligned|odd] [--chunk SIZE] SOCKET read|write "
			"OFFSET LENGTH FILE\n", prog);
	return 2;
}

static uint64_t
parse_u64(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 0);

	return *end == '\0' ? v : UINT64_MAX;
}

/* Lay out len bytes of data as descriptors; odd: scattered, misaligned pieces. */
static int
layout(struct vub_blk *d, struct req *r, uint32_t len, bool odd, bool writable)
{
	uint32_t pos = 0, size_max = d->cfg.size_max ? d->cfg.size_max : UINT32_MAX;
	uint32_t seg_max = d->cfg.seg_max ? VHD_MIN(d->cfg.seg_max, (uint32_t)MAX_SEGS) : MAX_SEGS;
	uint8_t *cursor = r->area + (odd ? 1 : 0);

	r->nseg = 0;
	while (pos < len) {
		uint32_t n = len - pos;

		if (r->nseg == seg_max) {
			return -E2BIG;
		}
		if (odd && r->nseg + 1 < seg_max) {
			n = VHD_MIN(n, g_odd_lens[r->nseg % VHD_ARRAY_SIZE(g_odd_lens)]);
		}
		n = VHD_MIN(n, size_max);
		r->seg_va[r->nseg] = cursor;
		r->bufs[1 + r->nseg].gpa = vub_mem_gpa(&d->mem, cursor);
		r->bufs[1 + r->nseg].len = n;
		r->bufs[1 + r->nseg].writable = writable;
		r->nseg++;
		pos += n;
		/* odd: leave a gap so neighbouring pieces are never contiguous */
		cursor += n + (odd ? 4096 + 13 : 0);
	}
	r->bufs[1 + r->nseg].gpa = vub_mem_gpa(&d->mem, r->status);
	r->bufs[1 + r->nseg].len = 1;
	r->bufs[1 + r->nseg].writable = true;
	return 0;
}

static int
run_one(struct vub_blk *d, struct req *r, unsigned int nbufs)
{
	struct vub_blk_queue *q = &d->q[0];
	time_t deadline = time(NULL) + IO_TIMEOUT_S;
	void *cookie;
	uint32_t len;
	int rc;

	*r->status = 0xff;
	rc = vub_vring_add(&q->vr, r->bufs, nbufs, r);
	if (rc < 0) {
		fprintf(stderr, "vub-io: cannot add a request: %s\n", strerror(-rc));
		return 1;
	}
	if (vub_vring_publish(&q->vr)) {
		vub_blk_kick(q);
	}
	while ((rc = vub_vring_get_used(&q->vr, &cookie, &len)) == 0) {
		if (time(NULL) > deadline) {
			fprintf(stderr, "vub-io: no completion within %d s\n", IO_TIMEOUT_S);
			return 1;
		}
		sched_yield();
	}
	if (rc < 0) {
		fprintf(stderr, "vub-io: bad used entry: %s\n", q->vr.err);
		return 1;
	}
	if (*r->status != VIRTIO_BLK_S_OK) {
		fprintf(stderr, "vub-io: request type %u sector %" PRIu64 " failed with status %u\n",
			r->hdr->type, (uint64_t)r->hdr->sector, *r->status);
		return 1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"layout", required_argument, NULL, 'l'},
		{"chunk", required_argument, NULL, 'c'},
		{NULL, 0, NULL, 0},
	};
	struct vub_blk_opts bo = {0};
	struct vub_blk d = {0};
	struct req r = {0};
	uint64_t off, len, chunk = DEFAULT_CHUNK;
	bool odd = false, write_op;
	uint8_t *buf;
	int opt, fd, rc = 1;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			if (strcmp(optarg, "odd") != 0 && strcmp(optarg, "aligned") != 0) {
				return usage(argv[0]);
			}
			odd = strcmp(optarg, "odd") == 0;
			break;
		case 'c':
			chunk = parse_u64(optarg);
			break;
		default:
			return usage(argv[0]);
		}
	}
	if (argc - optind != 5) {
		return usage(argv[0]);
	}
	write_op = strcmp(argv[optind + 1], "write") == 0;
	if (!write_op && strcmp(argv[optind + 1], "read") != 0) {
		return usage(argv[0]);
	}
	off = parse_u64(argv[optind + 2]);
	len = parse_u64(argv[optind + 3]);
	if (off == UINT64_MAX || len == UINT64_MAX || off % 512 || len % 512 || chunk == 0 ||
	    chunk % 512 || chunk > (1u << 20)) {
		return usage(argv[0]);
	}
	buf = malloc(len ? len : 1);
	if (buf == NULL) {
		return 1;
	}
	fd = open(argv[optind + 4], write_op ? O_RDONLY : O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || (write_op && read(fd, buf, len) != (ssize_t)len)) {
		fprintf(stderr, "vub-io: %s: cannot read %" PRIu64 " bytes\n", argv[optind + 4], len);
		return 1;
	}

	bo.path = argv[optind];
	bo.timeout_ms = 10000;
	if (vub_blk_connect(&d, &bo) != 0 ||
	    vub_blk_start(&d, 1, QSIZE, 2 * chunk + (MAX_SEGS + 2) * 8192ull + 65536) != 0) {
		fprintf(stderr, "vub-io: %s: %s\n", bo.path, vub_blk_error(&d));
		goto out;
	}
	r.hdr = vub_mem_alloc(&d.mem, sizeof(*r.hdr), 16);
	r.status = vub_mem_alloc(&d.mem, 1, 1);
	r.area = vub_mem_alloc(&d.mem, 2 * chunk + MAX_SEGS * 8192ull, 4096);
	if (r.hdr == NULL || r.status == NULL || r.area == NULL) {
		fprintf(stderr, "vub-io: shared memory exhausted\n");
		goto out;
	}
	r.bufs[0].gpa = vub_mem_gpa(&d.mem, r.hdr);
	r.bufs[0].len = sizeof(*r.hdr);
	r.bufs[0].writable = false;
	for (uint64_t done = 0; done < len;) {
		uint32_t n = (uint32_t)VHD_MIN(chunk, len - done);
		uint32_t copied = 0;

		r.hdr->type = write_op ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
		r.hdr->ioprio = 0;
		r.hdr->sector = (off + done) / 512;
		if (layout(&d, &r, n, odd, !write_op) != 0) {
			fprintf(stderr, "vub-io: too many segments for the device's seg_max\n");
			goto out;
		}
		if (write_op) {
			for (unsigned int i = 0; i < r.nseg; i++) {
				memcpy(r.seg_va[i], buf + done + copied, r.bufs[1 + i].len);
				copied += r.bufs[1 + i].len;
			}
		}
		if (run_one(&d, &r, r.nseg + 2) != 0) {
			goto out;
		}
		if (!write_op) {
			for (unsigned int i = 0; i < r.nseg; i++) {
				memcpy(buf + done + copied, r.seg_va[i], r.bufs[1 + i].len);
				copied += r.bufs[1 + i].len;
			}
		}
		done += n;
	}
	if (write_op && vub_blk_has(&d, VIRTIO_BLK_F_FLUSH)) {
		r.hdr->type = VIRTIO_BLK_T_FLUSH;
		r.hdr->sector = 0;
		r.bufs[1].gpa = vub_mem_gpa(&d.mem, r.status);
		r.bufs[1].len = 1;
		r.bufs[1].writable = true;
		if (run_one(&d, &r, 2) != 0) {
			goto out;
		}
	}
	if (!write_op && write(fd, buf, len) != (ssize_t)len) {
		fprintf(stderr, "vub-io: %s: short write\n", argv[optind + 4]);
		goto out;
	}
	rc = vub_blk_stop(&d) == 0 ? 0 : 1;
	if (rc != 0) {
		fprintf(stderr, "vub-io: stop: %s\n", vub_blk_error(&d));
	}
out:
	vub_blk_close(&d);
	close(fd);
	free(buf);
	return rc;
}
