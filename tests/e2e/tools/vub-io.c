/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vub-io: copy bytes between a file and a vhost-user-blk or vhost-user-scsi back-end, as a
 * front-end (libvub, no guest). For tests that need known data on a disk or off it, e.g.
 * inside an e2e guest where vhostd drives an NVMe drive and the host checks the drive's image
 * afterwards.
 *
 *   vub-io [OPTIONS] SOCKET write OFFSET LENGTH FILE
 *   vub-io [OPTIONS] SOCKET read  OFFSET LENGTH FILE
 *
 *   --layout aligned|odd  odd: scatter each request's data over descriptors at odd addresses
 *                         with odd lengths (1000, 3096, 7, ...), which no PRP list can
 *                         describe: the back-end must use SGLs or bounce buffers
 *   --chunk SIZE          bytes per request (default 128 KiB, at most 1 MiB)
 *   --scsi                the socket is vhost-user-scsi: READ(16)/WRITE(16) to target 0 LUN 0
 *   --queues N            scsi: request queues to use, requests go round-robin (default 1)
 *
 * OFFSET and LENGTH are bytes, multiples of the block size (512 for blk). write sends FILE's
 * first LENGTH bytes, then FLUSH / SYNCHRONIZE CACHE; read stores the data in FILE.
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
#define MAX_REQ_QUEUES 4
#define DEFAULT_CHUNK (128u << 10)
#define IO_TIMEOUT_S 30

/* SCSI bits used here (SPC/SBC). */
#define SCSI_READ_16 0x88
#define SCSI_WRITE_16 0x8a
#define SCSI_SYNC_CACHE_10 0x35
#define SCSI_SERVICE_ACTION_IN_16 0x9e
#define SCSI_SAI_READ_CAPACITY_16 0x10
#define SCSI_GOOD 0x00
#define SCSI_CHECK_CONDITION 0x02
#define SCSI_KEY_UNIT_ATTENTION 0x6

static const uint32_t g_odd_lens[] = {1000, 3096, 7, 4096, 517, 2, 8192, 2555};

struct fe {
	bool scsi;
	/* blk */
	struct vub_blk blk;
	/* scsi: queue 0 control, 1 event, 2.. requests */
	struct vub_conn conn;
	struct vub_mem mem;
	struct vub_blk_queue q[2 + MAX_REQ_QUEUES];
	uint16_t nvq;
	uint16_t next;
	uint32_t block_size;
	uint64_t features;
};

struct req {
	void *hdr;                /* virtio_blk_outhdr or virtio_scsi_cmd_req */
	void *tail;               /* status byte or virtio_scsi_cmd_resp */
	uint8_t *area;            /* data area in shared memory */
	struct vub_buf bufs[MAX_SEGS + 2];
	struct vub_buf data[MAX_SEGS];
	uint8_t *seg_va[MAX_SEGS];
	unsigned int nseg;
};

static int
usage(const char *prog)
{
	fprintf(stderr, "usage: %s [--layout aligned|odd] [--chunk SIZE] [--scsi] [--queues N] "
			"SOCKET read|write OFFSET LENGTH FILE\n", prog);
	return 2;
}

static uint64_t
parse_u64(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 0);

	return *end == '\0' ? v : UINT64_MAX;
}

static struct vub_mem *
fe_mem(struct fe *f)
{
	return f->scsi ? &f->mem : &f->blk.mem;
}

/* ---- vhost-user-scsi set-up (libvub's device code is blk-only) ---- */

static int
scsi_queue(struct fe *f, struct vub_blk_queue *q)
{
	int rc = vub_queue_alloc(&f->mem, q, QSIZE, false);

	return rc != 0 ? rc : vub_queue_announce(&f->conn, q);
}

static int
scsi_start(struct fe *f, const char *path, uint16_t nreq, uint64_t extra_mem)
{
	struct vub_mem_region r;
	uint64_t feat = 0, proto = 0, nq = 1;
	int rc;

	f->conn.fd = -1;
	f->mem.fd = -1;
	rc = vub_conn_connect(&f->conn, path, 10000);
	if (rc == 0) {
		rc = vub_get_features(&f->conn, &feat);
	}
	if (rc == 0) {
		rc = vub_set_owner(&f->conn);
	}
	if (rc == 0 && (feat & (1ull << VHOST_USER_F_PROTOCOL_FEATURES))) {
		rc = vub_get_protocol_features(&f->conn, &proto);
		if (rc == 0) {
			proto &= (1ull << VHOST_USER_PROTOCOL_F_MQ) |
				 (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK);
			rc = vub_set_protocol_features(&f->conn, proto);
		}
		if (rc == 0 && (proto & (1ull << VHOST_USER_PROTOCOL_F_MQ))) {
			rc = vub_get_queue_num(&f->conn, &nq);
		}
	}
	if (rc != 0) {
		fprintf(stderr, "vub-io: %s: %s\n", path, vub_conn_error(&f->conn));
		return rc;
	}
	if (nreq > nq) {
		fprintf(stderr, "vub-io: %s serves %" PRIu64 " request queues\n", path, nq);
		return -EINVAL;
	}
	f->features = feat & ((1ull << VIRTIO_F_VERSION_1) |
			      (1ull << VHOST_USER_F_PROTOCOL_FEATURES));
	rc = vub_set_features(&f->conn, f->features);
	if (rc == 0) {
		f->nvq = (uint16_t)(2 + nreq);
		uint64_t bytes = vub_queue_mem_bytes(QSIZE) * f->nvq + extra_mem +
				 VUB_RING_ALIGN;

		rc = vub_mem_create(&f->mem, bytes, VUB_MEM_MEMFD, NULL,
				    VUB_MEM_GPA_BASE_DEFAULT);
	}
	if (rc == 0) {
		vub_mem_region_desc(&f->mem, &r);
		rc = vub_set_mem_table(&f->conn, &r, &f->mem.fd, 1);
	}
	for (uint16_t i = 0; rc == 0 && i < f->nvq; i++) {
		f->q[i].index = i;
		rc = scsi_queue(f, &f->q[i]);
	}
	for (uint16_t i = 0; rc == 0 && i < f->nvq; i++) {
		if (f->features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES)) {
			rc = vub_set_vring_enable(&f->conn, i, true);
		}
	}
	if (rc != 0) {
		fprintf(stderr, "vub-io: %s: start: %s\n", path, vub_conn_error(&f->conn));
	}
	return rc;
}

static void
scsi_close(struct fe *f)
{
	for (uint16_t i = 0; i < f->nvq; i++) {
		uint32_t base;

		if (f->conn.fd >= 0 && (f->features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES))) {
			vub_set_vring_enable(&f->conn, i, false);
		}
		if (f->conn.fd >= 0) {
			vub_get_vring_base(&f->conn, i, &base);
		}
		if (f->q[i].kick_fd > 0) {
			close(f->q[i].kick_fd);
		}
		if (f->q[i].call_fd > 0) {
			close(f->q[i].call_fd);
		}
		vub_vring_fini(&f->q[i].vr);
	}
	vub_conn_close(&f->conn);
	vub_mem_destroy(&f->mem);
}

/* ---- requests ---- */

/* Lay out len bytes of data as descriptors; odd: scattered, misaligned pieces. */
static int
layout(struct fe *f, struct req *r, uint32_t len, bool odd, bool writable)
{
	uint32_t size_max = !f->scsi && f->blk.cfg.size_max ? f->blk.cfg.size_max : UINT32_MAX;
	uint32_t seg_max = !f->scsi && f->blk.cfg.seg_max ?
				   VHD_MIN(f->blk.cfg.seg_max, (uint32_t)MAX_SEGS) :
				   MAX_SEGS;
	uint8_t *cursor = r->area + (odd ? 1 : 0);
	uint32_t pos = 0;

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
		r->data[r->nseg].gpa = vub_mem_gpa(fe_mem(f), cursor);
		r->data[r->nseg].len = n;
		r->data[r->nseg].writable = writable;
		r->nseg++;
		pos += n;
		/* odd: leave a gap so neighbouring pieces are never contiguous */
		cursor += n + (odd ? 4096 + 13 : 0);
	}
	return 0;
}

/* Assemble the chain: blk [hdr][data][status]; scsi [req][data-out][resp] or
 * [req][resp][data-in]. \return descriptors used. */
static unsigned int
chain(struct fe *f, struct req *r, bool data_in)
{
	struct vub_mem *m = fe_mem(f);
	unsigned int n = 0;
	struct vub_buf head = {vub_mem_gpa(m, r->hdr), 0, false};
	struct vub_buf tail = {vub_mem_gpa(m, r->tail), 0, true};

	head.len = f->scsi ? (uint32_t)sizeof(struct virtio_scsi_cmd_req) :
			     (uint32_t)sizeof(struct virtio_blk_outhdr);
	tail.len = f->scsi ? (uint32_t)sizeof(struct virtio_scsi_cmd_resp) : 1;
	r->bufs[n++] = head;
	if (f->scsi && data_in) {
		r->bufs[n++] = tail;
	}
	for (unsigned int i = 0; i < r->nseg; i++) {
		r->bufs[n++] = r->data[i];
	}
	if (!(f->scsi && data_in)) {
		r->bufs[n++] = tail;
	}
	return n;
}

static struct vub_blk_queue *
pick_queue(struct fe *f)
{
	if (!f->scsi) {
		return &f->blk.q[0];
	}
	return &f->q[2 + f->next++ % (f->nvq - 2)];
}

/* Send one chain and wait for it. \return 0, or 1 on any failure (explained on stderr). */
static int
run_chain(struct fe *f, struct req *r, unsigned int nbufs)
{
	struct vub_blk_queue *q = pick_queue(f);
	time_t deadline = time(NULL) + IO_TIMEOUT_S;
	void *cookie;
	uint32_t len;
	int rc;

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
	return 0;
}

/* SCSI command with up to one retry per unit attention. \return 0 or 1. */
static int
scsi_cmd(struct fe *f, struct req *r, const uint8_t *cdb, unsigned int cdb_len, bool data_in)
{
	struct virtio_scsi_cmd_req *req = r->hdr;
	struct virtio_scsi_cmd_resp *resp = r->tail;

	for (int attempt = 0; attempt < 4; attempt++) {
		memset(req, 0, sizeof(*req));
		req->lun[0] = 1;      /* target 0, LUN 0 (flat space) */
		req->lun[2] = 0x40;
		req->tag = (uint64_t)attempt + 1;
		memcpy(req->cdb, cdb, cdb_len);
		memset(resp, 0xff, sizeof(*resp));
		if (run_chain(f, r, chain(f, r, data_in)) != 0) {
			return 1;
		}
		if (resp->response == VIRTIO_SCSI_S_OK && resp->status == SCSI_GOOD) {
			return 0;
		}
		if (resp->response == VIRTIO_SCSI_S_OK && resp->status == SCSI_CHECK_CONDITION &&
		    resp->sense_len >= 14 && (resp->sense[2] & 0xf) == SCSI_KEY_UNIT_ATTENTION) {
			continue;
		}
		fprintf(stderr, "vub-io: SCSI opcode 0x%02x failed: response %u status 0x%02x "
				"sense %x/%02x/%02x\n", cdb[0], resp->response, resp->status,
			resp->sense_len >= 14 ? resp->sense[2] & 0xf : 0,
			resp->sense_len >= 14 ? resp->sense[12] : 0,
			resp->sense_len >= 14 ? resp->sense[13] : 0);
		return 1;
	}
	fprintf(stderr, "vub-io: SCSI opcode 0x%02x: unit attention does not clear\n", cdb[0]);
	return 1;
}

static void
put_be(uint8_t *p, uint64_t v, unsigned int bytes)
{
	for (unsigned int i = 0; i < bytes; i++) {
		p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
	}
}

static int
scsi_block_size(struct fe *f, struct req *r)
{
	uint8_t cdb[16] = {SCSI_SERVICE_ACTION_IN_16, SCSI_SAI_READ_CAPACITY_16};
	const uint8_t *d = r->area;

	put_be(cdb + 10, 32, 4);
	r->nseg = 1;
	r->data[0] = (struct vub_buf){vub_mem_gpa(&f->mem, r->area), 32, true};
	if (scsi_cmd(f, r, cdb, sizeof(cdb), true) != 0) {
		return 1;
	}
	f->block_size = (uint32_t)d[8] << 24 | (uint32_t)d[9] << 16 | (uint32_t)d[10] << 8 | d[11];
	if (f->block_size < 512 || (f->block_size & (f->block_size - 1)) != 0) {
		fprintf(stderr, "vub-io: READ CAPACITY says blocks of %u bytes\n", f->block_size);
		return 1;
	}
	return 0;
}

/* One data transfer of n bytes at byte offset off. */
static int
transfer(struct fe *f, struct req *r, bool write_op, uint64_t off, uint32_t n)
{
	if (f->scsi) {
		uint8_t cdb[16] = {write_op ? SCSI_WRITE_16 : SCSI_READ_16};

		put_be(cdb + 2, off / f->block_size, 8);
		put_be(cdb + 10, n / f->block_size, 4);
		return scsi_cmd(f, r, cdb, sizeof(cdb), !write_op);
	}
	struct virtio_blk_outhdr *hdr = r->hdr;
	uint8_t *status = r->tail;

	hdr->type = write_op ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
	hdr->ioprio = 0;
	hdr->sector = off / 512;
	*status = 0xff;
	if (run_chain(f, r, chain(f, r, !write_op)) != 0) {
		return 1;
	}
	if (*status != VIRTIO_BLK_S_OK) {
		fprintf(stderr, "vub-io: request type %u sector %" PRIu64 " failed with status "
				"%u\n", hdr->type, (uint64_t)hdr->sector, *status);
		return 1;
	}
	return 0;
}

static int
flush(struct fe *f, struct req *r)
{
	r->nseg = 0;
	if (f->scsi) {
		uint8_t cdb[10] = {SCSI_SYNC_CACHE_10};

		return scsi_cmd(f, r, cdb, sizeof(cdb), false);
	}
	if (!vub_blk_has(&f->blk, VIRTIO_BLK_F_FLUSH)) {
		return 0;
	}
	struct virtio_blk_outhdr *hdr = r->hdr;

	hdr->type = VIRTIO_BLK_T_FLUSH;
	hdr->sector = 0;
	*(uint8_t *)r->tail = 0xff;
	if (run_chain(f, r, chain(f, r, false)) != 0 || *(uint8_t *)r->tail != VIRTIO_BLK_S_OK) {
		fprintf(stderr, "vub-io: flush failed\n");
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
		{"scsi", no_argument, NULL, 's'},
		{"queues", required_argument, NULL, 'q'},
		{NULL, 0, NULL, 0},
	};
	static struct fe f;
	struct vub_blk_opts bo = {0};
	struct req r = {0};
	uint64_t off, len, chunk = DEFAULT_CHUNK, nreq = 1, extra;
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
		case 's':
			f.scsi = true;
			break;
		case 'q':
			nreq = parse_u64(optarg);
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
	    chunk % 512 || chunk > (1u << 20) || nreq == 0 || nreq > MAX_REQ_QUEUES) {
		return usage(argv[0]);
	}
	buf = malloc(len ? len : 1);
	if (buf == NULL) {
		return 1;
	}
	fd = open(argv[optind + 4], write_op ? O_RDONLY : O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || (write_op && read(fd, buf, len) != (ssize_t)len)) {
		fprintf(stderr, "vub-io: %s: cannot read %" PRIu64 " bytes\n", argv[optind + 4],
			len);
		return 1;
	}

	extra = 2 * chunk + (MAX_SEGS + 2) * 8192ull + 65536;
	if (f.scsi) {
		if (scsi_start(&f, argv[optind], (uint16_t)nreq, extra) != 0) {
			goto out;
		}
	} else {
		bo.path = argv[optind];
		bo.timeout_ms = 10000;
		if (vub_blk_connect(&f.blk, &bo) != 0 ||
		    vub_blk_start(&f.blk, 1, QSIZE, extra) != 0) {
			fprintf(stderr, "vub-io: %s: %s\n", bo.path, vub_blk_error(&f.blk));
			goto out;
		}
	}
	r.hdr = vub_mem_alloc(fe_mem(&f), sizeof(struct virtio_scsi_cmd_req), 16);
	r.tail = vub_mem_alloc(fe_mem(&f), sizeof(struct virtio_scsi_cmd_resp), 16);
	r.area = vub_mem_alloc(fe_mem(&f), 2 * chunk + MAX_SEGS * 8192ull, 4096);
	if (r.hdr == NULL || r.tail == NULL || r.area == NULL) {
		fprintf(stderr, "vub-io: shared memory exhausted\n");
		goto out;
	}
	if (f.scsi && scsi_block_size(&f, &r) != 0) {
		goto out;
	}
	if (f.scsi && (off % f.block_size || len % f.block_size || chunk % f.block_size)) {
		fprintf(stderr, "vub-io: offset, length and chunk must be multiples of %u\n",
			f.block_size);
		goto out;
	}
	for (uint64_t done = 0; done < len;) {
		uint32_t n = (uint32_t)VHD_MIN(chunk, len - done);
		uint32_t copied = 0;

		if (layout(&f, &r, n, odd, !write_op) != 0) {
			fprintf(stderr, "vub-io: too many segments for the device's seg_max\n");
			goto out;
		}
		if (write_op) {
			for (unsigned int i = 0; i < r.nseg; i++) {
				memcpy(r.seg_va[i], buf + done + copied, r.data[i].len);
				copied += r.data[i].len;
			}
		}
		if (transfer(&f, &r, write_op, off + done, n) != 0) {
			goto out;
		}
		if (!write_op) {
			for (unsigned int i = 0; i < r.nseg; i++) {
				memcpy(buf + done + copied, r.seg_va[i], r.data[i].len);
				copied += r.data[i].len;
			}
		}
		done += n;
	}
	if (write_op && flush(&f, &r) != 0) {
		goto out;
	}
	if (!write_op && write(fd, buf, len) != (ssize_t)len) {
		fprintf(stderr, "vub-io: %s: short write\n", argv[optind + 4]);
		goto out;
	}
	rc = 0;
	if (!f.scsi && vub_blk_stop(&f.blk) != 0) {
		fprintf(stderr, "vub-io: stop: %s\n", vub_blk_error(&f.blk));
		rc = 1;
	}
out:
	if (f.scsi) {
		scsi_close(&f);
	} else {
		vub_blk_close(&f.blk);
	}
	close(fd);
	free(buf);
	return rc;
}
