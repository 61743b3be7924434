/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhd-hostile-guest: a vhost-user-blk front-end that behaves like a malicious guest driver.
 * It connects to a back-end socket, starts one 16-entry queue, writes one hostile request
 * straight into the ring (bypassing the well-behaved driver logic of libvub) and reports
 * what came back:
 *
 *   completed status=S len=L     the request was returned on the used ring
 *   no-completion                nothing came back within the wait (queue stopped)
 *
 * Usage: vhd-hostile-guest SOCKET CASE [WAIT_MS]; `vhd-hostile-guest --list` lists CASEs.
 * The special case `config-256` instead asks for the whole 256-byte config space at once (as
 * SPDK's virtio-user initiator does) and prints "config capacity=C tail_zero=0|1".
 * Exit status 0 when the exchange ran (whatever the outcome), 1 on a setup failure.
 * Used by tests/system/022-vhostd-hostile-guest.sh, which checks outcomes and vhostd's log.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vub_blk.h"

#define QSIZE 16
#define OUTSIDE_GPA 0x7fff00000000ull /* far beyond the single region libvub shares */

struct ctx {
	struct vub_blk dev;
	struct vub_blk_queue *q;
	struct vhd_vring_desc *desc;
	uint8_t *hdr;      /* 16-byte request header, readable */
	uint8_t *data;     /* 4 KiB data buffer */
	uint8_t *status;   /* status byte */
	struct vhd_vring_desc *table;  /* room for an indirect table of 64 entries */
	uint64_t hdr_gpa, data_gpa, status_gpa, table_gpa;
};

static void
set_desc(struct vhd_vring_desc *d, uint16_t i, uint64_t gpa, uint32_t len, uint16_t flags,
	 uint16_t next)
{
	d[i].addr = gpa;
	d[i].len = len;
	d[i].flags = flags;
	d[i].next = next;
}

static void
set_hdr(struct ctx *c, uint32_t type, uint64_t sector)
{
	struct virtio_blk_outhdr h = {.type = type, .sector = sector};

	memcpy(c->hdr, &h, sizeof(h));
}

/* A well-formed read of 4 KiB at sector 0 in descriptors 0..2. */
static void
good_read(struct ctx *c)
{
	set_hdr(c, VIRTIO_BLK_T_IN, 0);
	set_desc(c->desc, 0, c->hdr_gpa, 16, VRING_DESC_F_NEXT, 1);
	set_desc(c->desc, 1, c->data_gpa, 4096, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	set_desc(c->desc, 2, c->status_gpa, 1, VRING_DESC_F_WRITE, 0);
}

static void
publish(struct ctx *c, const uint16_t *heads, unsigned int n, uint16_t idx_bump)
{
	struct vhd_vring_avail *avail = c->q->vr.avail;
	uint16_t idx = avail->idx;

	for (unsigned int i = 0; i < n; i++) {
		avail->ring[(uint16_t)(idx + i) % QSIZE] = heads[i];
	}
	__atomic_store_n(&avail->idx, (uint16_t)(idx + idx_bump), __ATOMIC_RELEASE);
	vub_blk_kick(c->q);
}

static void
publish_one(struct ctx *c, uint16_t head)
{
	publish(c, &head, 1, 1);
}

/* ---- cases ---- */

static void
case_good_read(struct ctx *c)
{
	good_read(c);
	publish_one(c, 0);
}

static void
case_descriptor_loop(struct ctx *c)
{
	good_read(c);
	/* data -> status -> data -> ...: all writable, so only the loop bound can stop it */
	c->desc[2].flags |= VRING_DESC_F_NEXT;
	c->desc[2].next = 1;
	publish_one(c, 0);
}

static void
case_head_out_of_range(struct ctx *c)
{
	good_read(c);
	publish_one(c, QSIZE + 3);
}

static void
case_avail_index_jump(struct ctx *c)
{
	uint16_t heads[1] = {0};

	good_read(c);
	publish(c, heads, 1, QSIZE + 5);
}

static void
case_duplicate_head(struct ctx *c)
{
	uint16_t heads[2] = {0, 0};

	good_read(c);
	publish(c, heads, 2, 2);
}

static void
case_next_out_of_range(struct ctx *c)
{
	good_read(c);
	c->desc[1].next = 200;
	publish_one(c, 0);
}

static void
case_readable_after_writable(struct ctx *c)
{
	good_read(c);
	/* header, status (writable), then a readable data buffer */
	set_desc(c->desc, 1, c->status_gpa, 1, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	set_desc(c->desc, 2, c->data_gpa, 4096, 0, 0);
	publish_one(c, 0);
}

static void
case_nested_indirect(struct ctx *c)
{
	set_hdr(c, VIRTIO_BLK_T_IN, 0);
	set_desc(c->table, 0, c->hdr_gpa, 16, VRING_DESC_F_NEXT, 1);
	set_desc(c->table, 1, c->table_gpa, 32, VRING_DESC_F_INDIRECT, 0);
	set_desc(c->desc, 0, c->table_gpa, 2 * 16, VRING_DESC_F_INDIRECT, 0);
	publish_one(c, 0);
}

static void
case_indirect_loop(struct ctx *c)
{
	set_hdr(c, VIRTIO_BLK_T_IN, 0);
	for (uint16_t i = 0; i < 64; i++) {
		set_desc(c->table, i, c->hdr_gpa, 16, VRING_DESC_F_NEXT, (uint16_t)((i + 1) % 64));
	}
	set_desc(c->desc, 0, c->table_gpa, 64 * 16, VRING_DESC_F_INDIRECT, 0);
	publish_one(c, 0);
}

static void
case_indirect_bad_length(struct ctx *c)
{
	set_desc(c->desc, 0, c->table_gpa, 20, VRING_DESC_F_INDIRECT, 0);
	publish_one(c, 0);
}

static void
case_data_outside_memory(struct ctx *c)
{
	good_read(c);
	c->desc[1].addr = OUTSIDE_GPA;
	publish_one(c, 0);
}

static void
case_data_overflowing_address(struct ctx *c)
{
	good_read(c);
	c->desc[1].addr = UINT64_MAX - 100;
	publish_one(c, 0);
}

static void
case_status_outside_memory(struct ctx *c)
{
	good_read(c);
	c->desc[2].addr = OUTSIDE_GPA;
	publish_one(c, 0);
}

static void
case_short_header(struct ctx *c)
{
	good_read(c);
	c->desc[0].len = 8;
	publish_one(c, 0);
}

static void
case_unknown_type(struct ctx *c)
{
	good_read(c);
	set_hdr(c, 0x77, 0);
	publish_one(c, 0);
}

static void
case_sector_past_end(struct ctx *c)
{
	good_read(c);
	set_hdr(c, VIRTIO_BLK_T_IN, UINT64_MAX / 2);
	publish_one(c, 0);
}

static void
case_huge_length(struct ctx *c)
{
	good_read(c);
	c->desc[1].len = 0xfffff000u;
	publish_one(c, 0);
}

static const struct {
	const char *name;
	void (*fn)(struct ctx *c);
} g_cases[] = {
	{"config-256", NULL},
	{"good-read", case_good_read},
	{"descriptor-loop", case_descriptor_loop},
	{"head-out-of-range", case_head_out_of_range},
	{"avail-index-jump", case_avail_index_jump},
	{"duplicate-head", case_duplicate_head},
	{"next-out-of-range", case_next_out_of_range},
	{"readable-after-writable", case_readable_after_writable},
	{"nested-indirect", case_nested_indirect},
	{"indirect-loop", case_indirect_loop},
	{"indirect-bad-length", case_indirect_bad_length},
	{"data-outside-memory", case_data_outside_memory},
	{"data-overflowing-address", case_data_overflowing_address},
	{"status-outside-memory", case_status_outside_memory},
	{"short-header", case_short_header},
	{"unknown-type", case_unknown_type},
	{"sector-past-end", case_sector_past_end},
	{"huge-length", case_huge_length},
};

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int
main(int argc, char **argv)
{
	struct vub_blk_opts opts = {0};
	struct ctx c;
	long wait_ms = 1500;
	uint16_t used_before;
	uint64_t deadline;
	int idx = -1, rc;

	if (argc == 2 && strcmp(argv[1], "--list") == 0) {
		for (size_t i = 0; i < VHD_ARRAY_SIZE(g_cases); i++) {
			puts(g_cases[i].name);
		}
		return 0;
	}
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: %s SOCKET CASE [WAIT_MS] | --list\n", argv[0]);
		return 1;
	}
	for (size_t i = 0; i < VHD_ARRAY_SIZE(g_cases); i++) {
		if (strcmp(argv[2], g_cases[i].name) == 0) {
			idx = (int)i;
		}
	}
	if (idx < 0) {
		fprintf(stderr, "unknown case '%s' (see --list)\n", argv[2]);
		return 1;
	}
	if (argc == 4) {
		char *end;

		wait_ms = strtol(argv[3], &end, 10);
		if (*end != '\0' || wait_ms < 0) {
			fprintf(stderr, "bad WAIT_MS '%s'\n", argv[3]);
			return 1;
		}
	}

	memset(&c, 0, sizeof(c));
	opts.path = argv[1];
	opts.features = VUB_BLK_FEATURES_DEFAULT;
	opts.backing = VUB_MEM_MEMFD;
	rc = vub_blk_connect(&c.dev, &opts);
	if (rc == 0 && idx == 0) {
		uint8_t space[256];
		struct virtio_blk_config cfg;
		bool tail_zero = true;

		rc = vub_get_config(&c.dev.conn, 0, space, sizeof(space));
		if (rc != 0) {
			printf("config-256 refused: %s\n", vub_blk_error(&c.dev));
			vub_blk_close(&c.dev);
			return 0;
		}
		memcpy(&cfg, space, sizeof(cfg));
		for (size_t i = sizeof(cfg); i < sizeof(space); i++) {
			tail_zero &= space[i] == 0;
		}
		printf("config capacity=%llu tail_zero=%d\n", (unsigned long long)cfg.capacity,
		       tail_zero);
		vub_blk_close(&c.dev);
		return 0;
	}
	if (rc == 0) {
		rc = vub_blk_start(&c.dev, 1, QSIZE, 64 * 1024);
	}
	if (rc != 0) {
		fprintf(stderr, "setup: %s\n", vub_blk_error(&c.dev));
		vub_blk_close(&c.dev);
		return 1;
	}
	c.q = &c.dev.q[0];
	c.desc = c.q->vr.desc;
	c.hdr = vub_mem_alloc(&c.dev.mem, 16, 16);
	c.data = vub_mem_alloc(&c.dev.mem, 4096, 4096);
	c.status = vub_mem_alloc(&c.dev.mem, 1, 1);
	c.table = vub_mem_alloc(&c.dev.mem, 64 * sizeof(struct vhd_vring_desc), 16);
	if (c.hdr == NULL || c.data == NULL || c.status == NULL || c.table == NULL) {
		fprintf(stderr, "setup: out of shared memory\n");
		vub_blk_close(&c.dev);
		return 1;
	}
	c.hdr_gpa = vub_mem_gpa(&c.dev.mem, c.hdr);
	c.data_gpa = vub_mem_gpa(&c.dev.mem, c.data);
	c.status_gpa = vub_mem_gpa(&c.dev.mem, c.status);
	c.table_gpa = vub_mem_gpa(&c.dev.mem, c.table);
	*c.status = 0xee;

	used_before = __atomic_load_n(&c.q->vr.used->idx, __ATOMIC_ACQUIRE);
	g_cases[idx].fn(&c);
	deadline = now_ms() + (uint64_t)wait_ms;
	while (__atomic_load_n(&c.q->vr.used->idx, __ATOMIC_ACQUIRE) == used_before &&
	       now_ms() < deadline) {
		struct timespec pause = {0, 1000000};

		nanosleep(&pause, NULL);
	}
	if (__atomic_load_n(&c.q->vr.used->idx, __ATOMIC_ACQUIRE) != used_before) {
		struct vhd_vring_used_elem e = c.q->vr.used->ring[used_before % QSIZE];

		printf("completed status=%u len=%u id=%u\n", *c.status, e.len, e.id);
	} else {
		printf("no-completion\n");
	}
	fflush(stdout);
	/* Just hang up, as a guest that is killed would: the back-end must clean up. */
	vub_blk_close(&c.dev);
	return 0;
}
